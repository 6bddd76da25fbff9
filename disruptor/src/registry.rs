//! Who is attached to a ring, whether they are alive, and what dead ones left behind (the
//! typed layer over `protocol::ownership`).
//!
//! From the registry any process can:
//! - list the participants and tell live owners from dead ones ([`Disruptor::participants`]);
//! - evict dead consumers so producers stop waiting for them
//!   ([`Disruptor::evict_dead_consumers`]);
//! - find the claimed-but-unpublished range that blocks the cursor after a producer died
//!   ([`Disruptor::orphaned_claim`]), which a live producer then rewrites and commits, or
//!   commits as abandoned ([`crate::ClaimBatch::commit_abandoned`]); consumers can ask a batch
//!   which of its messages were abandoned ([`crate::Batch::abandoned`]).

use std::ops::Range;

use crate::protocol::ownership;
use crate::{Disruptor, Participant, Slot};

impl<T: Slot> Disruptor<T> {
    /// Every consumer index and every producer that has an owner, with its state
    /// (alive, dead, or gone), sequence and pending claim.
    pub fn participants(&self) -> Vec<Participant> {
        ownership::participants(self.core())
    }

    /// Releases every consumer whose owner died without detaching, so producers stop waiting
    /// for it (it is ignored from then on, like [`Consumer::release`](crate::Consumer::release)).
    /// Returns the evicted indices. A consumer that detached cleanly is not evicted: its next
    /// owner resumes from its sequence.
    pub fn evict_dead_consumers(&self) -> Vec<usize> {
        let evicted = ownership::evict_dead_consumers(self.core());
        #[cfg(feature = "tracing")]
        for &index in &evicted {
            event!(
                WARN,
                ring = self.name(),
                consumer = index,
                by = "evict_dead_consumers",
                "evicted a dead consumer"
            );
        }
        evicted
    }

    /// The claimed-but-unpublished range that blocks the cursor and that no live producer is
    /// going to commit (its producer died, or left it pending), if there is one. Recover it with
    /// [`Producer::recover_orphaned`](crate::Producer::recover_orphaned).
    pub fn orphaned_claim(&self) -> Option<Range<u64>> {
        ownership::orphaned_claim(self.core())
    }
}
