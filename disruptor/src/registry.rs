//! Who is attached to a ring, whether they are alive, and what dead ones left behind.
//!
//! Every consumer index and every producer handle records its owner's process token (PID plus
//! start time, see `liveness`) in the segment. From that, any process can:
//! - list the participants and tell live owners from dead ones ([`Disruptor::participants`]);
//! - evict dead consumers so producers stop waiting for them
//!   ([`Disruptor::evict_dead_consumers`]);
//! - find the claimed-but-unpublished range that blocks the cursor after a producer died
//!   ([`Disruptor::orphaned_claim`]), which a live producer then rewrites and commits, or
//!   commits as abandoned ([`crate::ClaimBatch::commit_abandoned`]); consumers can ask a batch
//!   which of its messages were abandoned ([`crate::Batch::abandoned`]).

use std::ops::Range;
use std::sync::atomic::Ordering;

use crate::liveness::{self, Liveness};
use crate::shm::{AbandonedLog, ProducerMode, Segment, ABANDONED_ENTRIES, MAX_PRODUCERS};
use crate::{Disruptor, Slot};

/// What became of a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParticipantState {
    /// Its process is running.
    Alive,
    /// Its process died without detaching (killed, crashed) or its PID was reused.
    Dead,
    /// Nobody owns it now (detached cleanly, or never attached).
    Gone,
}

impl std::fmt::Display for ParticipantState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParticipantState::Alive => "alive",
            ParticipantState::Dead => "dead",
            ParticipantState::Gone => "gone",
        })
    }
}

/// A consumer index or producer registry entry, as recorded in the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Participant {
    /// A consumer index.
    Consumer {
        /// The index.
        index: usize,
        /// Its owner's PID, if an owner is recorded.
        pid: Option<u32>,
        /// Alive, dead or gone.
        state: ParticipantState,
        /// Its committed sequence (`u64::MAX` once released).
        sequence: u64,
        /// Whether it was released (producers ignore it).
        released: bool,
    },
    /// A producer registry entry that has (or had) an owner.
    Producer {
        /// The registry entry.
        entry: usize,
        /// Its owner's PID.
        pid: u32,
        /// Alive or dead.
        state: ParticipantState,
        /// Its in-flight claim, if it has one that is not yet published.
        pending: Option<Range<u64>>,
    },
}

fn state_of(token: u64) -> ParticipantState {
    if token == 0 {
        ParticipantState::Gone
    } else if liveness::check(token) == Liveness::Alive {
        ParticipantState::Alive
    } else {
        ParticipantState::Dead
    }
}

/// The participants of any segment (typed or not).
pub(crate) fn participants(segment: &Segment) -> Vec<Participant> {
    let cursor = segment.control().cursor.value.load(Ordering::Acquire);
    let next = segment.control().next.value.load(Ordering::Acquire);
    let mut out = Vec::new();
    for index in 0..segment.geometry().consumer_count {
        let token = segment.consumer_entry(index).owner.load(Ordering::Acquire);
        let sequence = segment.consumer_sequence(index).load(Ordering::Acquire);
        out.push(Participant::Consumer {
            index,
            pid: (token != 0).then(|| liveness::pid_of(token)),
            state: state_of(token),
            sequence,
            released: sequence == u64::MAX,
        });
    }
    for entry in 0..MAX_PRODUCERS {
        let e = segment.producer_entry(entry);
        let token = e.owner.load(Ordering::Acquire);
        if token == 0 {
            continue;
        }
        let (start, end) =
            (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
        let pending = if segment.mode() == ProducerMode::Single {
            // No per-claim record: the single producer's claim in flight is [cursor, next).
            (cursor < next).then_some(cursor..next)
        } else {
            (start < end && end > cursor).then_some(start.max(cursor)..end)
        };
        out.push(Participant::Producer {
            entry,
            pid: liveness::pid_of(token),
            state: state_of(token),
            pending,
        });
    }
    out
}

/// The range at the cursor that was claimed but that no live producer is about to commit: the
/// claim of a dead producer (or one given up with `leave_pending`). `None` when the cursor is not
/// blocked by such a range.
pub(crate) fn orphaned_claim(segment: &Segment) -> Option<Range<u64>> {
    let control = segment.control();
    let cursor = control.cursor.value.load(Ordering::Acquire);
    // Acquire pairs with the Release CAS of a multi-producer claim in
    // `Producer::try_claim_range_slow`: the registry records of every claim below `next` are
    // visible to the loads below. (Single-producer mode keeps no per-claim records.)
    let next = control.next.value.load(Ordering::Acquire);
    if cursor >= next {
        return None;
    }
    if segment.mode() == ProducerMode::Single {
        // The single producer's claim in flight is [cursor, next): orphaned once it is dead.
        let token = segment.producer_entry(0).owner.load(Ordering::Acquire);
        let alive = token != 0 && liveness::check(token) == Liveness::Alive;
        return (!alive).then_some(cursor..next);
    }
    let entries = MAX_PRODUCERS;
    // The live claims in [cursor, next): the orphaned range runs from the cursor to the first.
    let mut orphan_end = next;
    for i in 0..entries {
        let e = segment.producer_entry(i);
        let token = e.owner.load(Ordering::Acquire);
        if token == 0 || liveness::check(token) != Liveness::Alive {
            continue;
        }
        let (start, end) =
            (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
        if start < end && end > cursor {
            if start <= cursor {
                return None; // A live producer owns the range at the cursor.
            }
            orphan_end = orphan_end.min(start);
        }
    }
    // Sequences after the cursor that live producers already committed (multi-producer commits
    // do not wait for earlier claims) are not orphaned: the orphan ends at the first of them.
    let flags = segment.flags();
    if !flags.is_null() {
        let capacity = segment.geometry().capacity;
        let mut seq = cursor;
        while seq < orphan_end && seq < cursor.saturating_add(capacity) {
            // SAFETY: `seq % capacity < capacity`, and a multi-producer segment holds `capacity`
            // flags at `flags` (validated geometry).
            let flag = unsafe { &*flags.add((seq % capacity) as usize) };
            // Acquire pairs with the committer's Release store of the flag.
            if flag.load(Ordering::Acquire) == seq.wrapping_add(1) {
                break;
            }
            seq += 1;
        }
        orphan_end = seq;
    }
    (cursor < orphan_end).then_some(cursor..orphan_end)
}

/// Marks every dead-owned consumer as released. Returns the indices evicted.
pub(crate) fn evict_dead_consumers(segment: &Segment) -> Vec<usize> {
    let mut evicted = Vec::new();
    for index in 0..segment.geometry().consumer_count {
        let owner = &segment.consumer_entry(index).owner;
        let token = owner.load(Ordering::Acquire);
        if token == 0 || liveness::check(token) == Liveness::Alive {
            continue;
        }
        // Take the index from the dead owner first, so that a restarting owner racing with us
        // either gets it before (and we skip it) or finds it released after.
        if owner
            .compare_exchange(token, liveness::own_token(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Release: pairs with the Acquire loads of consumer sequences by producers.
            segment.consumer_sequence(index).store(u64::MAX, Ordering::Release);
            owner.store(0, Ordering::Release);
            evicted.push(index);
        }
    }
    if !evicted.is_empty() {
        crate::wait::notify(&segment.control().room_wake);
    }
    evicted
}

/// Records `range` as abandoned (published without valid contents).
pub(crate) fn record_abandoned(log: &AbandonedLog, range: Range<u64>) {
    let slot = log.count.fetch_add(1, Ordering::AcqRel) as usize % ABANDONED_ENTRIES;
    // Relaxed stores, then the cursor's Release store publishes them together with the slots.
    log.entries[slot][0].store(range.start, Ordering::Relaxed);
    log.entries[slot][1].store(range.end, Ordering::Relaxed);
}

/// The parts of `range` recorded as abandoned (among the last [`ABANDONED_ENTRIES`] records).
pub(crate) fn abandoned_within(log: &AbandonedLog, range: Range<u64>) -> Vec<Range<u64>> {
    let recorded = (log.count.load(Ordering::Acquire) as usize).min(ABANDONED_ENTRIES);
    let mut out: Vec<Range<u64>> = log.entries[..recorded]
        .iter()
        .map(|e| {
            e[0].load(Ordering::Relaxed).max(range.start)
                ..e[1].load(Ordering::Relaxed).min(range.end)
        })
        .filter(|r| r.start < r.end)
        .collect();
    out.sort_by_key(|r| r.start);
    out.dedup();
    out
}

impl<T: Slot> Disruptor<T> {
    /// Every consumer index and every producer that has an owner, with its state
    /// (alive, dead, or gone), sequence and pending claim.
    pub fn participants(&self) -> Vec<Participant> {
        participants(self.segment())
    }

    /// Releases every consumer whose owner died without detaching, so producers stop waiting
    /// for it (it is ignored from then on, like [`Consumer::release`](crate::Consumer::release)).
    /// Returns the evicted indices. A consumer that detached cleanly is not evicted: its next
    /// owner resumes from its sequence.
    pub fn evict_dead_consumers(&self) -> Vec<usize> {
        evict_dead_consumers(self.segment())
    }

    /// The claimed-but-unpublished range that blocks the cursor and that no live producer is
    /// going to commit (its producer died, or left it pending), if there is one. Recover it with
    /// [`Producer::recover_orphaned`](crate::Producer::recover_orphaned).
    pub fn orphaned_claim(&self) -> Option<Range<u64>> {
        orphaned_claim(self.segment())
    }
}
