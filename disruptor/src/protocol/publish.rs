//! Producers' commits: publishing a claimed range.
//!
//! - A single producer's claim at the cursor is published with one Release store of the cursor.
//! - A multi-producer commit never waits for earlier claims: it marks each slot committed (a
//!   flag holding `sequence + 1`, one plain Release store each) and wakes sleepers. Consumers
//!   read the run of committed flags after their own sequence (`Ring::published_from`), as
//!   in LMAX's availability buffer and the `disruptor` crate; the cursor word is a lower bound
//!   that the consumers move (`ConsumerState::commit_to`). A producer killed between its flag
//!   stores and its wake-up leaves nothing invisible: a sleeping waiter re-checks the flags at
//!   least every `MAX_SLEEP`.

use std::ops::Range;
use std::time::Instant;

use super::claim::ProducerState;
use super::ownership;
use super::policy::Policy;
use super::sync::Ordering;
use super::wait::{WaitStrategy, Waiter};
use super::Core;

impl ProducerState {
    /// Single-producer mode, a range that starts at the cursor (below `direct_below`):
    /// publishes it up to `end`.
    #[inline(always)]
    pub(crate) fn publish_next(&self, end: u64) {
        // SYNC POINT. Release: pairs with the Acquire load of the cursor in
        // `Core::visible_bound` (and `Ring::load_cursor`): our slot writes happen-before the
        // consumer reads them. (Single producer: nobody else moves the cursor, so it is still
        // the range's start.) A local copy of the ring: the compiler need not reload its
        // pointers after each store.
        let ring = self.ring;
        ring.cursor().store(end, Ordering::Release);
        ring.notify_data();
    }

    /// Publishes `[start, end)` once every earlier sequence is published. `wait` is `None` to
    /// never wait, `Some(None)` to wait as long as it takes, `Some(Some(deadline))` to wait
    /// until `deadline`; a wait follows `strategy` and `policy`. Returns whether the range was
    /// published.
    #[inline(always)]
    pub(crate) fn publish(
        &mut self,
        core: &Core,
        range: Range<u64>,
        wait: Option<Option<Instant>>,
        strategy: WaitStrategy,
        policy: &mut Policy,
    ) -> bool {
        if range.start < self.direct_below {
            self.publish_next(range.end);
            return true;
        }
        self.publish_general(core, range, wait, strategy, policy)
    }

    /// `publish` of a range that does not start below `direct_below`: multi-producer commits,
    /// and a single producer's ranges behind ones left pending (or recovered ones).
    #[inline(always)]
    pub(crate) fn publish_general(
        &mut self,
        core: &Core,
        range: Range<u64>,
        wait: Option<Option<Instant>>,
        strategy: WaitStrategy,
        policy: &mut Policy,
    ) -> bool {
        if !self.ring.single && wait == Some(None) {
            // Multi-producer `commit`: never waits for earlier claims.
            self.commit_multi(range.start, range.end);
            return true;
        }
        self.publish_slow(core, range, wait, strategy, policy)
    }

    /// Multi-producer commit: marks each slot of the range committed (its flag holds
    /// `sequence + 1`), and wakes the consumers that sleep. Nothing else: no RMW, and no line
    /// that the other producers write. Consumers find the committed run after their sequence
    /// by reading the flags (`Ring::published_from`), so the range becomes visible once every
    /// earlier claim is committed, without this commit waiting for them (the `disruptor`
    /// crate's and LMAX's availability buffer). The cursor word is moved by the consumers
    /// instead (see `ConsumerState::commit_to`). The caller holds the range, so it is not
    /// published yet, and its flags are not those of a later lap.
    #[inline]
    fn commit_multi(&self, start: u64, end: u64) {
        let ring = self.ring;
        for seq in start..end.min(start.saturating_add(ring.capacity)) {
            // SYNC POINT. Release: pairs with the Acquire load of the flag in
            // `Ring::published_from` (and in `ownership::committed`): our slot
            // writes happen-before whoever reads the flag reads the slot.
            ring.flag(seq).store(seq + 1, Ordering::Release);
        }
        // The flag stores are this notification's condition (see `wait::notify`).
        ring.notify_data();
    }

    /// The general path of `publish`: reads the cursor, and waits for earlier claims.
    #[inline(never)]
    fn publish_slow(
        &mut self,
        core: &Core,
        range: Range<u64>,
        wait: Option<Option<Instant>>,
        strategy: WaitStrategy,
        policy: &mut Policy,
    ) -> bool {
        let (start, end) = (range.start, range.end);
        let ring = self.ring;
        let cursor = ring.cursor();
        let mut waiter: Option<Waiter> = None;
        let mut last_check = None;
        loop {
            // The published bound (Acquire loads: of the cursor, paired with the Release store
            // below by the producer of the previous range, and in a multi-producer ring of the
            // flags after it, paired with their Release stores in `commit_multi`), so the slot
            // writes of every earlier range happen-before ours are published.
            let current = ring.load_cursor();
            if current >= start && !ring.single {
                // Every earlier claim is visible: commit (marks the flags).
                self.commit_multi(start, end);
                return true;
            }
            if current == start {
                // SYNC POINT. Release: pairs with the Acquire load of the cursor in
                // `Core::visible_bound`: our slot writes happen-before the consumer reads.
                cursor.store(end, Ordering::Release);
                break;
            }
            if current > start {
                // A part of this range was published already; publish the rest. AcqRel: as
                // the store above (Release), and Acquire as the load above.
                if current < end {
                    cursor.fetch_max(end, Ordering::AcqRel);
                }
                break;
            }
            let Some(deadline) = wait else { return false };
            policy.apply(core, self, &mut last_check);
            let waiter =
                waiter.get_or_insert_with(|| Waiter::new(strategy, deadline, ring.fence_fallback));
            if !waiter.wait(ring.data_wake(), || ring.load_cursor() >= start) {
                return false;
            }
        }
        if ring.single {
            self.update_direct_below();
        }
        ring.notify_data();
        true
    }

    /// Zero-fills `range` (its slots hold `slot_size` bytes each, and every type that may be a
    /// slot is valid all-zero), records it as abandoned and publishes it (see `publish`).
    /// The caller holds the range (claimed, recovered or taken over as an orphan).
    pub(crate) fn publish_zeroed(
        &mut self,
        core: &Core,
        range: Range<u64>,
        wait: Option<Option<Instant>>,
        strategy: WaitStrategy,
        policy: &mut Policy,
    ) {
        let (index, first, wrapped) = self.ring.halves(range.start, range.end - range.start);
        let slots = self.ring.slot_bytes();
        // `Ring::halves` keeps both parts inside the slot region of `capacity` slots of
        // `slot_size` bytes, without overlap; the caller holds these slots, so no one else
        // writes or reads them until they are published.
        // SAFETY: in bounds and held by the caller (see above).
        unsafe {
            slots.add(index * core.slot_size).write_bytes(0, first * core.slot_size);
            slots.write_bytes(0, wrapped * core.slot_size);
        }
        ownership::record_abandoned(core.ring.abandoned_log(), range.clone());
        self.publish(core, range, wait, strategy, policy);
    }

    /// The slow path of a blocking claim: waits for room per the strategy and the policy.
    #[cold]
    #[inline(never)]
    pub(crate) fn wait_for_room(
        &mut self,
        core: &Core,
        n: u64,
        exact: bool,
        deadline: Option<Instant>,
        strategy: WaitStrategy,
        policy: &mut Policy,
    ) -> Result<Range<u64>, crate::ClaimError> {
        let mut waiter: Option<Waiter> = None;
        let mut last_check = None;
        loop {
            match self.try_claim(core, n, exact) {
                Err(crate::ClaimError::Full) => {}
                other => return other,
            }
            policy.apply(core, self, &mut last_check);
            let fence_fallback = self.ring.fence_fallback;
            let waiter =
                waiter.get_or_insert_with(|| Waiter::new(strategy, deadline, fence_fallback));
            let needed = if exact { n } else { 1 };
            if !waiter.wait(self.ring.room_wake(), || ProducerState::room_for(core, needed)) {
                return Err(crate::ClaimError::Timeout);
            }
        }
    }
}
