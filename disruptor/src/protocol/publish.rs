//! Producers' commits: publishing a claimed range by moving the cursor over it.
//!
//! - A single producer's claim at the cursor is published with one Release store of the cursor.
//! - A multi-producer commit never waits for earlier claims: when the cursor is at its range it
//!   moves it over the range with one CAS; otherwise it marks each slot committed (a flag
//!   holding `sequence + 1`) and whichever committer completes a run of commits advances the
//!   cursor over it ([`advance_cursor`], LMAX's availability buffer).
//! - Waiters help: a producer killed between publishing its own range and advancing over later
//!   committed ranges leaves them invisible, so every waiter calls [`help_advance`], which also
//!   wakes the sleepers when it moves the cursor.

use std::ops::Range;
use std::time::Instant;

use super::claim::ProducerState;
use super::ownership;
use super::policy::Policy;
use super::sync::{fence, Ordering};
use super::wait::{WaitStrategy, Waiter};
use super::{Core, Ring};

/// Multi-producer commit, step 2: moves the cursor over every committed (flagged) sequence
/// that follows it. Whichever committer completes a run of commits advances the cursor over
/// it, so no commit waits for an earlier producer. Returns whether this call moved it.
pub(crate) fn advance_cursor(ring: &Ring) -> bool {
    let mut moved = false;
    let cursor = ring.cursor();
    // SeqCst (with the SeqCst fence after marking in `commit_multi`, or the SeqCst CAS of its
    // fast path, which moved the cursor over the range without marks): of two committers of
    // adjacent ranges, either the later one's marks are visible to the earlier one's scan
    // below, or the earlier one's CAS is visible to the later one's load here; so one of them
    // always advances over both (the store-load pattern needs SeqCst).
    let mut current = cursor.load(Ordering::SeqCst);
    loop {
        let limit = current.saturating_add(ring.capacity);
        let mut end = current;
        // SeqCst: see above. It also acquires the committer's slot writes (its flag store is
        // Release), which our Release CAS then passes on to consumers.
        while end < limit && ring.flag(end).load(Ordering::SeqCst) == end.wrapping_add(1) {
            end += 1;
        }
        if end == current {
            return moved;
        }
        // SYNC POINT. Release (in SeqCst): pairs with the consumers' Acquire load of the cursor.
        match cursor.compare_exchange(current, end, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {
                current = end;
                moved = true;
            }
            Err(actual) => current = actual,
        }
    }
}

/// Multi-producer rings: moves the cursor over committed ranges that nobody advanced over.
/// A producer killed between publishing its own range and scanning the flags of later ones
/// (`commit_multi`) leaves them committed but invisible until the next commit; waiters call
/// this with their round count (`Waiter::rounds`), so that such a ring cannot stall (a full
/// ring would wait forever). It acts every 64 rounds (it reads the cursor and a flag), and does
/// nothing in single-producer rings. When it moves the cursor it wakes the consumers (and
/// committing producers) sleeping on the data line, as a commit would.
#[cold]
pub(crate) fn help_advance(ring: &Ring, rounds: u32) {
    if rounds % 64 == 0 && ring.has_flags() && advance_cursor(ring) {
        ring.notify_data();
    }
}

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

    /// Multi-producer commit: marks each slot committed, then advances the cursor over every
    /// committed run that follows it (ours, and those of later producers that committed first).
    /// The range becomes visible once every earlier claim is committed, without waiting here.
    #[inline]
    fn commit_multi(&self, start: u64, end: u64) {
        let ring = self.ring;
        // Fast path, when every earlier claim is published (the usual case: claims are mostly
        // committed in the order they were made): move the cursor over our range directly,
        // with no flags and no fence: one locked instruction instead of two. Stale flags never
        // match (a flag holds its sequence + 1), and a range below the cursor needs none.
        // SYNC POINT. SeqCst (so Release): pairs with the consumers' Acquire load of the
        // cursor (our slot writes happen-before their reads), and, as a SeqCst RMW before our
        // scan of later flags in `advance_cursor`, stands in for the fence below (see there).
        match ring.cursor().compare_exchange(start, end, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => {
                advance_cursor(&ring);
                ring.notify_data();
                return;
            }
            // Already published: marking it would write stale flags over those of a later lap.
            Err(current) if current >= end => return,
            Err(_) => {}
        }
        for seq in start..end.min(start.saturating_add(ring.capacity)) {
            // Release: pairs with the SeqCst (so Acquire) load of the flag in `advance_cursor`:
            // our slot writes happen-before whoever advances the cursor over them, and so
            // before the consumers that acquire the cursor.
            ring.flag(seq).store(seq + 1, Ordering::Release);
        }
        // Orders the flag stores before the cursor load in `advance_cursor` (see there).
        fence(Ordering::SeqCst);
        advance_cursor(&ring);
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
            // Acquire pairs with the Release store below by the producer of the previous range,
            // so its slot writes happen-before ours are published (and a consumer that
            // acquires our cursor value sees both).
            let current = cursor.load(Ordering::Acquire);
            if current >= start && !ring.single {
                // Every earlier claim is visible: commit (marks and advances the cursor).
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
            help_advance(&ring, waiter.rounds());
            if !waiter.wait(ring.data_wake(), || cursor.load(Ordering::Acquire) >= start) {
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
            // The room may be held by consumers that wait for a stalled cursor.
            help_advance(&self.ring, waiter.rounds());
            let needed = if exact { n } else { 1 };
            if !waiter.wait(self.ring.room_wake(), || ProducerState::room_for(core, needed)) {
                return Err(crate::ClaimError::Timeout);
            }
        }
    }
}
