//! Consumers: what one consumer index may read, and its commits.
//!
//! A consumer sees `[its sequence, bound)`, where the bound is what the producers published
//! (the cursor of a single-producer ring; in a multi-producer ring the run of committed flags
//! after the consumer's sequence) or, for a pipeline stage, the slowest live stage it follows
//! (`Core::visible_bound`). Its commit is one Release store of its sequence, which is what
//! producers (and the stages that follow it) wait for; in a multi-producer ring a consumer that
//! follows no stage first moves the cursor word up to it (a RMW only when it lags). Its release
//! stores `RELEASED` there and bumps the gating epoch.

use std::time::Instant;

use super::gating::RELEASED;
use super::layout::ConsumerEntry;
use super::ownership::{self, AttachConsumer};
use super::sync::{AtomicU64, Ordering};
use super::wait::{WaitStrategy, Waiter};
use super::{Core, Ring};
use crate::error::AttachError;
use crate::liveness;

/// What one consumer handle knows (see the module docs).
#[derive(Debug)]
pub(crate) struct ConsumerState {
    /// The ring's shared words (a copy).
    pub(crate) ring: Ring,
    pub(crate) index: usize,
    /// The committed sequence (the shared one mirrors it).
    pub(crate) sequence: u64,
    token: u64,
    /// Other stages follow this one: commits wake the data line.
    has_followers: bool,
    /// This consumer follows other stages (its bound is not just the cursor).
    has_dependencies: bool,
    /// A multi-producer ring's consumer that follows no stage: it reads the commit flags.
    reads_flags: bool,
    /// This consumer's sequence in the ring.
    own_sequence: *const AtomicU64,
    /// This consumer's registry record (for its commit counter).
    entry: *const ConsumerEntry,
}

// SAFETY: the raw pointers address atomics in the memory that the handle's `Arc` keeps alive;
// everything else is `Send`.
unsafe impl Send for ConsumerState {}
// SAFETY: as above; shared access only reads plain fields and atomics.
unsafe impl Sync for ConsumerState {}

impl ConsumerState {
    /// Takes consumer `index` (in range) for a new handle.
    pub(crate) fn attach(core: &Core, index: usize) -> Result<ConsumerState, AttachError> {
        let token = liveness::own_token();
        let sequence = ownership::attach_consumer(core, index, token).map_err(|e| match e {
            AttachConsumer::InUse(pid) => AttachError::ConsumerInUse { index, pid },
            AttachConsumer::Released => AttachError::ConsumerReleased { index },
        })?;
        let ring = core.ring;
        Ok(ConsumerState {
            ring,
            index,
            sequence,
            token,
            has_followers: core.graph.has_followers(index),
            has_dependencies: !core.graph.dependencies(index).is_empty(),
            reads_flags: ring.has_flags() && core.graph.dependencies(index).is_empty(),
            own_sequence: ring.consumer_sequence(index),
            entry: ring.consumer_entry(index),
        })
    }

    /// Number of messages readable now, at most the capacity (whatever a corrupt peer wrote).
    #[inline(always)]
    pub(crate) fn available(&self, core: &Core) -> u64 {
        let bound = if self.reads_flags {
            // Every sequence below ours is published: the run of commits after it.
            self.ring.published_from(self.sequence)
        } else if self.has_dependencies {
            core.visible_bound(self.index)
        } else {
            // SYNC POINT: `load_cursor` is Acquire, pairing with the Release stores and CASes
            // of the cursor: slot writes below it happen-before our reads.
            self.ring.load_cursor_word()
        };
        bound.saturating_sub(self.sequence).min(self.ring.capacity)
    }

    /// The slow path of a blocking consume: waits per the strategy until something is visible;
    /// `None` once `deadline` passes.
    #[cold]
    #[inline(never)]
    pub(crate) fn wait_for_data(
        &self,
        core: &Core,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Option<u64> {
        self.wait_for_more_than(core, strategy, deadline, 0)
    }

    /// Waits per the strategy until more than `least` messages are readable (without
    /// consuming any); `None` once `deadline` passes.
    #[cold]
    #[inline(never)]
    pub(crate) fn wait_for_more_than(
        &self,
        core: &Core,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
        least: u64,
    ) -> Option<u64> {
        let mut waiter = Waiter::new(strategy, deadline, self.ring.fence_fallback);
        loop {
            if !waiter.wait(self.ring.data_wake(), || self.available(core) > least) {
                return None;
            }
            let available = self.available(core);
            if available > least {
                return Some(available);
            }
        }
    }

    /// Commits every message below `end`.
    #[inline(always)]
    pub(crate) fn commit_to(&mut self, end: u64) {
        self.sequence = end;
        // SAFETY: `own_sequence` and `entry` point into the memory that the handle keeps alive.
        let (own_sequence, entry) = unsafe { (&*self.own_sequence, &*self.entry) };
        // Every consumer of a multi-producer ring (a stage's is a no-op while the stages it
        // follows keep the cursor word ahead of it; it reads the flags once they are released).
        if self.ring.has_flags() {
            self.advance_cursor_word(end);
        }
        // SYNC POINT. Release: pairs with the Acquire loads of consumer sequences when
        // producers refresh their bound (and by the stages that depend on us): our reads of the
        // slots below `end` happen-before a producer overwrites them.
        own_sequence.store(end, Ordering::Release);
        // Only this owner writes its counter (for the inspector's rates): no RMW needed.
        entry
            .commits
            .store(entry.commits.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        // Wake who may wait for this commit: producers (they gate on us if we are a last stage,
        // or if every stage after us was released) and the stages that follow us (their visible
        // bound is our sequence).
        self.ring.notify_room();
        if self.has_followers {
            self.ring.notify_data();
        }
    }

    /// Multi-producer rings: moves the cursor word up to `end` (published: this consumer read
    /// its flags) before our sequence says `end`, so that the cursor word is never below a
    /// consumer's sequence, and the flags of the lap after it are never overwritten (see
    /// `Ring::load_cursor_word`). With one such consumer the line stays in its cache; with
    /// several, the first to pass a point moves it and the others only read it.
    #[inline(always)]
    fn advance_cursor_word(&self, end: u64) {
        let cursor = self.ring.cursor();
        // Relaxed: only a filter; the RMW below decides.
        if cursor.load(Ordering::Relaxed) < end {
            // SYNC POINT. Release: pairs with the Acquire loads of the cursor word
            // (`Ring::load_cursor_word`): the slot writes we acquired through the flags
            // (`Ring::published_from`) happen-before whoever acquires the new value reads the
            // slots; and, being before the Release store of our sequence, it happens-before
            // whatever a producer does after acquiring our sequence (such as rewriting the flags
            // of the next lap).
            cursor.fetch_max(end, Ordering::Release);
        }
    }

    /// The seed's `release(true)`: producers stop waiting for this consumer, and a stage that
    /// followed it follows the stages it followed.
    pub(crate) fn release(&self, core: &Core) {
        // Release: pairs with the Acquire loads of consumer sequences by producers (through the
        // gating epoch bumped next) and by the stages that follow.
        self.ring.consumer_sequence(self.index).store(RELEASED, Ordering::Release);
        ownership::gating_changed(core);
    }

    /// The handle is dropped: its index is let go (a later owner resumes from its sequence).
    pub(crate) fn detach(&self, core: &Core) {
        ownership::detach_consumer(core, self.index, self.token);
    }
}
