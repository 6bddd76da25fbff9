//! Producers: claim slots, write them in place, commit them in sequence order.

use std::fmt;
use std::ops::{Deref, DerefMut, Range};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::asynch::{poll_with, slowest_gating, Line};
use crate::error::{AttachError, ClaimError};
use crate::ring::{token_alive, Hot, Shared};
use crate::shm::{ProducerEntry, ProducerMode, MAX_PRODUCERS};
use crate::wait::Waiter;
use crate::{liveness, registry};
use crate::{Disruptor, Slot, WaitStrategy};

/// A handle that claims and commits slots.
///
/// Claims are granted in sequence order and become visible to consumers in the same order. In
/// multi-producer mode [`ClaimBatch::commit`] never waits for earlier claims (the range becomes
/// visible once they are committed); [`ClaimBatch::try_commit`] hands the claim back instead
/// while they are pending. A producer never claims a slot that a consumer producers wait for has
/// not yet consumed.
pub struct Producer<T: Slot> {
    ring: Disruptor<T>,
    /// This handle's registry entry.
    entry: usize,
    /// Single-producer mode: claims may end at most here (0 in multi-producer mode, which makes
    /// every claim take the general path). The slowest gating consumer's sequence + capacity as
    /// last read, and never above the claim sequence + capacity as of that read.
    /// (The single producer keeps no private copy of the claim sequence: the shared one, which
    /// it alone writes, is the copy. One store per claim instead of two.)
    bound: u64,
    /// Multi-producer mode: the slowest gating consumer's sequence + capacity as last read.
    shared_bound: u64,
    single: bool,
    /// A commit of a range starting below this publishes it at once, with no load of the
    /// cursor (which consumers keep reading) and no store here; anything else takes the general
    /// path, which reads the cursor.
    /// - Single-producer mode, no claim left pending: `u64::MAX`. Every claim before the live
    ///   one is then published, so the live one starts at the cursor.
    /// - Single-producer mode, some claim left pending ([`ClaimBatch::leave_pending`]): the
    ///   cursor or less, which no later claim starts below.
    /// - Multi-producer mode: 0.
    direct_below: u64,
    hot: Hot,
    wait: WaitStrategy,
    policy: DeadPeerPolicy,
}

/// What a producer blocked by a dead peer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeadPeerPolicy {
    /// Keep waiting: a dead consumer may be restarted and resume from its sequence, and a dead
    /// producer's claim may be recovered by someone ([`Producer::recover_orphaned`]).
    #[default]
    Wait,
    /// After being blocked for `after`, evict the dead consumers it waits for (they are marked
    /// released) and commit a dead producer's claim that blocks its commit as abandoned
    /// ([`ClaimBatch::commit_abandoned`]); then carry on.
    Recover {
        /// How long to wait before acting.
        after: Duration,
    },
}

impl<T: Slot> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("ring", &self.ring.name())
            .field("entry", &self.entry)
            .field("wait", &self.wait)
            .finish()
    }
}

impl<T: Slot> Producer<T> {
    pub(crate) fn attach(ring: Disruptor<T>) -> Result<Producer<T>, AttachError> {
        let segment = ring.segment();
        let token = liveness::own_token();
        let single = segment.mode() == ProducerMode::Single;
        let control = segment.control();
        let entry = if single {
            // Entry 0 is the single producer's lock.
            let owner = &segment.producer_entry(0).owner;
            let current = owner.load(Ordering::Acquire);
            let taken = current == 0
                && owner.compare_exchange(0, token, Ordering::AcqRel, Ordering::Acquire).is_ok();
            if !taken {
                if current == 0 || current == token || token_alive(current) {
                    let holder = owner.load(Ordering::Acquire);
                    return Err(AttachError::ProducerInUse { pid: liveness::pid_of(holder) });
                }
                // The previous single producer is dead: take over. Its unpublished claim (the
                // range [cursor, next)) is discarded: `next` is rolled back to the cursor.
                owner
                    .compare_exchange(current, token, Ordering::AcqRel, Ordering::Acquire)
                    .map_err(|holder| AttachError::ProducerInUse {
                        pid: liveness::pid_of(holder),
                    })?;
                let cursor = control.cursor.value.load(Ordering::Acquire);
                control.next.value.store(cursor, Ordering::Release);
            }
            0
        } else {
            let cursor = control.cursor.value.load(Ordering::Acquire);
            (0..MAX_PRODUCERS)
                .find(|&i| {
                    let e = segment.producer_entry(i);
                    let current = e.owner.load(Ordering::Acquire);
                    let reusable =
                        current == 0 || (!token_alive(current) && !holds_pending_claim(e, cursor));
                    reusable
                        && e.owner
                            .compare_exchange(current, token, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                })
                .ok_or(AttachError::TooManyProducers { max: MAX_PRODUCERS })?
        };
        let e = segment.producer_entry(entry);
        let next = control.next.value.load(Ordering::Acquire);
        e.claim_start.store(next, Ordering::Relaxed);
        e.claim_end.store(next, Ordering::Relaxed);
        let (wait, hot) = (ring.wait, ring.shared.hot);
        // A previous single producer may have left claims pending: [cursor, next) is then not
        // empty, and commits take the general path until it is published.
        let cursor = control.cursor.value.load(Ordering::Acquire);
        let direct_below = match single {
            true if next == cursor => u64::MAX,
            true => cursor,
            false => 0,
        };
        Ok(Producer {
            ring,
            entry,
            bound: 0,
            shared_bound: 0,
            single,
            direct_below,
            hot,
            wait,
            policy: DeadPeerPolicy::Wait,
        })
    }

    /// The ring this producer writes to.
    pub fn ring(&self) -> &Disruptor<T> {
        &self.ring
    }

    /// Sets how blocking calls wait (for room, and for earlier claims at commit).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.wait = strategy;
    }

    /// The wait strategy of blocking calls.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.wait
    }

    /// Sets what a blocked call does about dead consumers and dead producers.
    pub fn set_dead_peer_policy(&mut self, policy: DeadPeerPolicy) {
        self.policy = policy;
    }

    /// When the policy says so and `blocked_since` is long enough ago, fixes what dead peers
    /// left behind; returns the next time to check.
    #[cold]
    fn apply_policy(&mut self, check_at: &mut Option<Instant>, started: Instant) {
        let DeadPeerPolicy::Recover { after } = self.policy else { return };
        let now = Instant::now();
        let due = *check_at.get_or_insert(started + after);
        if now < due {
            return;
        }
        *check_at = Some(now + after);
        let segment = self.ring.segment();
        registry::evict_dead_consumers(segment);
        if let Some(range) = registry::orphaned_claim(segment) {
            self.publish_abandoned(range);
        }
    }

    /// Zero-fills `range`, records it as abandoned and publishes it (its predecessors must be
    /// published: the range starts at the cursor).
    /// (The range's claimer is dead or gave it up, so no one else writes or reads these slots;
    /// this handle's own claim in flight, if it is waiting to commit one, keeps its record.)
    fn publish_abandoned(&mut self, range: Range<u64>) {
        let (start, end) = (range.start, range.end);
        // Another producer's policy may have found the same orphan and published it since:
        // then its slots may hold newer messages already. (Not arbitrated: see the README's
        // failure model. This only narrows the window to the zero-filling.)
        // Acquire: as any cursor load; only compared here.
        if self.hot.cursor().load(Ordering::Acquire) != start {
            return;
        }
        let mut orphan = ClaimBatch { producer: self, start, end, recovered: true, done: true };
        orphan.commit_zeroed(None);
    }

    /// Recovers the claimed-but-unpublished range that blocks the cursor and that no live producer
    /// will commit (see [`Disruptor::orphaned_claim`]): typically the claim of a producer that was
    /// killed between claim and commit. Rewrite it and [`commit`](ClaimBatch::commit) it, or
    /// [`commit_abandoned`](ClaimBatch::commit_abandoned) it. Dropping it leaves it pending.
    ///
    /// Two producers calling this at once get the same range: recover from one process at a
    /// time (the second commit publishes nothing, but its writes land in the slots).
    pub fn recover_orphaned(&mut self) -> Option<ClaimBatch<'_, T>> {
        let range = registry::orphaned_claim(self.ring.segment())?;
        Some(self.batch(range, true))
    }

    fn entry(&self) -> &ProducerEntry {
        self.ring.segment().producer_entry(self.entry)
    }

    /// Re-reads the gating consumers' sequences and returns the end a claim may reach.
    /// `u64::MAX` sequences are released consumers.
    fn refresh_bound(shared: &Shared) -> Result<u64, ClaimError> {
        let mut slowest = u64::MAX;
        for &c in shared.gating.iter() {
            // Acquire pairs with the Release store of the consumer's sequence in
            // `Batch::commit`: its reads of the slots below it happen-before we overwrite them.
            slowest = slowest.min(shared.segment.consumer_sequence(c).load(Ordering::Acquire));
        }
        if slowest == u64::MAX {
            return Err(ClaimError::NoConsumers);
        }
        Ok(slowest.saturating_add(shared.capacity))
    }

    /// Claims `[start, start + n)` (exact) or up to `n` slots (`!exact`), without waiting.
    #[inline(always)]
    fn try_claim_range(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        // Fast path: a single producer with room under its cached bound (always 0 in
        // multi-producer mode). `end > start` rules out n == 0 and overflow, and `n <= capacity`
        // a claim longer than the ring should the claim sequence be corrupt (n == 1, the
        // common case, needs no test).
        let next = self.hot.next();
        // Relaxed: only this producer writes the claim sequence in single-producer mode (it is
        // for inspection and recovery, and orders nothing: the cursor's Release store publishes).
        let start = next.load(Ordering::Relaxed);
        let end = start.wrapping_add(n);
        if end <= self.bound && end > start && (n == 1 || n <= self.hot.capacity) {
            // Relaxed: as above.
            next.store(end, Ordering::Relaxed);
            return Ok(start..end);
        }
        crate::cold_path();
        self.try_claim_range_slow(n, exact)
    }

    #[inline(never)]
    fn try_claim_range_slow(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        let shared = &*self.ring.shared;
        let capacity = shared.capacity;
        if n == 0 {
            return Err(ClaimError::Empty);
        }
        if exact && n > capacity {
            return Err(ClaimError::TooMany { requested: n as usize, capacity: capacity as usize });
        }
        let n = n.min(capacity);
        let control = shared.segment.control();
        let entry = shared.segment.producer_entry(self.entry);
        loop {
            // Relaxed: the multi-producer CAS below checks it; a single producer wrote it last.
            let start = control.next.value.load(Ordering::Relaxed);
            let mut end = start.saturating_add(n);
            let cached = if self.single { self.bound } else { self.shared_bound };
            if end > cached {
                let bound = Self::refresh_bound(shared)?;
                if self.single {
                    // Clamped: see the field (a sane segment has slowest <= claim sequence).
                    self.bound = bound.min(start.saturating_add(capacity));
                } else {
                    self.shared_bound = bound;
                }
                if end > bound {
                    if exact || bound <= start {
                        return Err(ClaimError::Full);
                    }
                    end = bound;
                }
            }
            if self.single {
                // The only producer: its claim in flight is always [cursor, next), so the
                // registry needs no per-claim record. The shared `next` is for inspection and
                // recovery (Relaxed: it orders nothing).
                control.next.value.store(end, Ordering::Relaxed);
                return Ok(start..end);
            }
            // Record the claim before taking it, so that a process killed right after the CAS
            // below leaves its range in the registry (crash recovery reads it).
            entry.claim_start.store(start, Ordering::Relaxed);
            entry.claim_end.store(end, Ordering::Relaxed);
            // Release on success: orders the registry stores above before the claim itself.
            if control
                .next
                .value
                .compare_exchange_weak(start, end, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(start..end);
            }
        }
    }

    #[inline(always)]
    fn claim_range(
        &mut self,
        n: u64,
        exact: bool,
        deadline: Option<Instant>,
    ) -> Result<Range<u64>, ClaimError> {
        match self.try_claim_range(n, exact) {
            Err(ClaimError::Full) => self.wait_for_room(n, exact, deadline),
            other => other,
        }
    }

    /// The slow path of a blocking claim: wait for room per the strategy and the policy.
    #[cold]
    #[inline(never)]
    fn wait_for_room(
        &mut self,
        n: u64,
        exact: bool,
        deadline: Option<Instant>,
    ) -> Result<Range<u64>, ClaimError> {
        let mut waiter: Option<Waiter> = None;
        let started = Instant::now();
        let mut check_at = None;
        loop {
            match self.try_claim_range(n, exact) {
                Err(ClaimError::Full) => {}
                other => return other,
            }
            if self.policy != DeadPeerPolicy::Wait {
                self.apply_policy(&mut check_at, started);
            }
            let waiter = waiter.get_or_insert_with(|| Waiter::new(self.wait, deadline));
            // The room may be held by consumers that wait for a stalled cursor.
            self.hot.help_advance(waiter.rounds());
            let shared = &*self.ring.shared;
            let ready = room_for(if exact { n } else { 1 });
            if !waiter.wait(&shared.segment.control().room_wake, || ready(shared)) {
                return Err(ClaimError::Timeout);
            }
        }
    }

    /// Claims `n` slots (or up to `n`), completing when there is room.
    async fn claim_range_async(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        let shared = Arc::clone(&self.ring.shared);
        std::future::poll_fn(|cx| {
            let ready = room_for(if exact { n } else { 1 });
            poll_with(
                &shared,
                Line::Room,
                cx,
                || match self.try_claim_range(n, exact) {
                    Err(ClaimError::Full) => None,
                    other => Some(other),
                },
                ready,
            )
        })
        .await
    }

    /// Claims one slot, as a future that completes when there is room (the seed's
    /// `produceClaim` promise). Works with any executor without busy-polling it.
    pub async fn claim_async(&mut self) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.claim_range_async(1, true).await?;
        Ok(Claim(self.batch(range, false)))
    }

    /// Claims exactly `n` slots, as a future.
    pub async fn claim_many_async(&mut self, n: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range_async(n as u64, true).await?;
        Ok(self.batch(range, false))
    }

    /// Claims between 1 and `max` slots, as a future that completes when at least one is free.
    pub async fn claim_available_async(
        &mut self,
        max: usize,
    ) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range_async(max as u64, false).await?;
        Ok(self.batch(range, false))
    }

    fn batch(&mut self, range: Range<u64>, recovered: bool) -> ClaimBatch<'_, T> {
        ClaimBatch { producer: self, start: range.start, end: range.end, recovered, done: false }
    }

    /// Claims one slot, waiting for room per the wait strategy.
    #[inline]
    pub fn claim(&mut self) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.claim_range(1, true, None)?;
        Ok(Claim(self.batch(range, false)))
    }

    /// Claims one slot if one is free now ([`ClaimError::Full`] otherwise).
    #[inline]
    pub fn try_claim(&mut self) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.try_claim_range(1, true)?;
        Ok(Claim(self.batch(range, false)))
    }

    /// Claims one slot, waiting at most `timeout` for room.
    pub fn claim_timeout(&mut self, timeout: Duration) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.claim_range(1, true, Some(Instant::now() + timeout))?;
        Ok(Claim(self.batch(range, false)))
    }

    /// Claims exactly `n` consecutive slots (`n <= capacity`), waiting for room.
    pub fn claim_many(&mut self, n: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(n as u64, true, None)?;
        Ok(self.batch(range, false))
    }

    /// Claims exactly `n` slots if they are free now.
    pub fn try_claim_many(&mut self, n: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.try_claim_range(n as u64, true)?;
        Ok(self.batch(range, false))
    }

    /// Claims exactly `n` slots, waiting at most `timeout`.
    pub fn claim_many_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(n as u64, true, Some(Instant::now() + timeout))?;
        Ok(self.batch(range, false))
    }

    /// Claims between 1 and `max` slots: as many as are free, waiting until at least one is.
    pub fn claim_available(&mut self, max: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(max as u64, false, None)?;
        Ok(self.batch(range, false))
    }

    /// Claims between 1 and `max` slots if any is free now.
    pub fn try_claim_available(&mut self, max: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.try_claim_range(max as u64, false)?;
        Ok(self.batch(range, false))
    }

    /// Claims between 1 and `max` slots, waiting at most `timeout` for one to be free.
    pub fn claim_available_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(max as u64, false, Some(Instant::now() + timeout))?;
        Ok(self.batch(range, false))
    }

    /// The seed's `produceRecover`: the slots of `range` if they are claimed and not yet
    /// committed (`cursor <= range.start < range.end <= claim sequence`), writable and then
    /// committable. `None` for a range that is not entirely pending.
    ///
    /// Use it for claims left pending with [`ClaimBatch::leave_pending`], or by a producer that
    /// died before committing. Whoever claimed the range may still write it: recover only
    /// ranges whose claimer has given them up.
    pub fn recover(&mut self, range: Range<u64>) -> Option<ClaimBatch<'_, T>> {
        let control = self.ring.segment().control();
        let cursor = control.cursor.value.load(Ordering::Acquire);
        let next = control.next.value.load(Ordering::Acquire);
        if range.start >= range.end || range.start < cursor || range.end > next {
            return None;
        }
        // In multi-producer mode a range after the cursor may be committed already (its commit
        // did not wait for earlier claims): such slots are not pending.
        if !self.single
            && range.clone().any(|seq| self.hot.flag(seq).load(Ordering::Acquire) == seq + 1)
        {
            return None;
        }
        Some(self.batch(range, true))
    }

    /// Publishes `[start, end)` once every earlier sequence is published. `wait` is `None` to
    /// never wait, `Some(None)` to wait as long as it takes, `Some(Some(deadline))` to wait until
    /// `deadline`. Returns whether the range was published.
    #[inline(always)]
    fn publish(&mut self, start: u64, end: u64, wait: Option<Option<Instant>>) -> bool {
        if start < self.direct_below {
            self.publish_next(end);
            return true;
        }
        self.publish_general(start, end, wait)
    }

    /// `publish` of a range that does not start below `direct_below`: multi-producer commits,
    /// and a single producer's ranges behind ones left pending (or recovered ones).
    #[inline(always)]
    fn publish_general(&mut self, start: u64, end: u64, wait: Option<Option<Instant>>) -> bool {
        if !self.single && wait == Some(None) {
            // Multi-producer `commit`: never waits for earlier claims.
            self.commit_multi(start, end);
            return true;
        }
        self.publish_slow(start, end, wait)
    }

    /// Single-producer mode, a range that starts at the cursor (below `direct_below`):
    /// publishes it up to `end`.
    #[inline(always)]
    fn publish_next(&self, end: u64) {
        // SYNC POINT. Release: pairs with the Acquire load of the cursor in
        // `Shared::visible_bound`: our slot writes happen-before the consumer reads them.
        // (Single producer: nobody else moves the cursor, so it is still the range's start.)
        // A local copy of `hot`: the compiler need not reload its pointers after each store.
        let hot = self.hot;
        hot.cursor().store(end, Ordering::Release);
        hot.notify_data();
    }

    /// Multi-producer commit: marks each slot committed, then advances the cursor over every
    /// committed run that follows it (ours, and those of later producers that committed first).
    /// The range becomes visible once every earlier claim is committed, without waiting here.
    #[inline]
    fn commit_multi(&mut self, start: u64, end: u64) {
        let hot = self.hot;
        // Fast path, when every earlier claim is published (the usual case: claims are mostly
        // committed in the order they were made): move the cursor over our range directly,
        // with no flags and no fence: one locked instruction instead of two. Stale flags never
        // match (a flag holds its sequence + 1), and a range below the cursor needs none.
        // SYNC POINT. SeqCst (so Release): pairs with the consumers' Acquire load of the
        // cursor (our slot writes happen-before their reads), and, as a SeqCst RMW before our
        // scan of later flags in `advance_cursor`, stands in for the fence below (see there).
        match hot.cursor().compare_exchange(start, end, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => {
                hot.advance_cursor();
                hot.notify_data();
                return;
            }
            // Already published: a recovered range that someone else recovered and published
            // too. Marking it would write stale flags over those of a later lap.
            Err(current) if current >= end => return,
            Err(_) => {}
        }
        for seq in start..end.min(start.saturating_add(hot.capacity)) {
            // Release: pairs with the SeqCst (so Acquire) load of the flag in
            // `Hot::advance_cursor`: our slot writes happen-before whoever advances the cursor
            // over them, and so before the consumers that acquire the cursor.
            hot.flag(seq).store(seq + 1, Ordering::Release);
        }
        // Orders the flag stores before the cursor load in `advance_cursor` (see there).
        fence(Ordering::SeqCst);
        hot.advance_cursor();
        hot.notify_data();
    }

    /// The general path of `publish`: reads the cursor, and waits for earlier claims.
    #[inline(never)]
    fn publish_slow(&mut self, start: u64, end: u64, wait: Option<Option<Instant>>) -> bool {
        let hot = self.hot;
        let cursor = hot.cursor();
        let mut waiter: Option<Waiter> = None;
        let mut check_at = None;
        let mut started = None;
        loop {
            // Acquire pairs with the Release store below by the producer of the previous range,
            // so its slot writes happen-before ours are published (and a consumer that
            // acquires our cursor value sees both).
            let current = cursor.load(Ordering::Acquire);
            if current >= start && !self.single {
                // Every earlier claim is visible: commit (marks and advances the cursor).
                self.commit_multi(start, end);
                return true;
            }
            if current == start {
                // SYNC POINT. Release: pairs with the Acquire load of the cursor in
                // `Shared::visible_bound`: our slot writes happen-before the consumer reads.
                cursor.store(end, Ordering::Release);
                break;
            }
            if current > start {
                // A recovered part of this range was committed already; publish the rest.
                if current < end {
                    cursor.fetch_max(end, Ordering::AcqRel);
                }
                break;
            }
            let Some(deadline) = wait else { return false };
            if self.policy != DeadPeerPolicy::Wait {
                let since = *started.get_or_insert_with(Instant::now);
                self.apply_policy(&mut check_at, since);
            }
            let waiter = waiter.get_or_insert_with(|| Waiter::new(self.wait, deadline));
            hot.help_advance(waiter.rounds());
            if !waiter.wait(hot.data_wake(), || cursor.load(Ordering::Acquire) >= start) {
                return false;
            }
        }
        if self.single {
            self.update_direct_below();
        }
        self.hot.notify_data();
        true
    }

    /// Single-producer mode, after the cursor moved on the general path or a claim was left
    /// pending: whether the next claim will start at the cursor (see `direct_below`).
    fn update_direct_below(&mut self) {
        // Acquire: as in `publish_slow` (only this handle moves the cursor here).
        let cursor = self.hot.cursor().load(Ordering::Acquire);
        // Relaxed: this producer is the only writer of the claim sequence.
        let next = self.hot.next().load(Ordering::Relaxed);
        self.direct_below = if cursor == next { u64::MAX } else { cursor };
    }

    #[inline]
    fn finish_claim(&self) {
        if self.single {
            return; // no per-claim registry record in single-producer mode
        }
        // No claim in flight: an empty range at the current claim sequence.
        let entry = self.entry();
        let at = entry.claim_end.load(Ordering::Relaxed);
        entry.claim_start.store(at, Ordering::Relaxed);
    }

    /// Gives back an uncommitted claim: rolls it back if nothing was claimed after it, else
    /// publishes it zero-filled (commits are in order, so later producers wait for it).
    #[cold]
    #[inline(never)]
    fn abandon(&mut self, start: u64, end: u64) {
        let control = self.ring.segment().control();
        let rolled_back = if self.single {
            control.next.value.store(start, Ordering::Release);
            true
        } else {
            control
                .next
                .value
                .compare_exchange(end, start, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        if rolled_back {
            let entry = self.entry();
            entry.claim_start.store(start, Ordering::Relaxed);
            entry.claim_end.store(start, Ordering::Relaxed);
        } else {
            let mut batch = ClaimBatch { producer: self, start, end, recovered: true, done: true };
            batch.commit_zeroed(Some(None));
            batch.producer.finish_claim();
        }
    }
}

impl<T: Slot> Drop for Producer<T> {
    fn drop(&mut self) {
        let entry = self.entry();
        let start = entry.claim_start.load(Ordering::Relaxed);
        let end = entry.claim_end.load(Ordering::Relaxed);
        let cursor = self.ring.segment().control().cursor.value.load(Ordering::Acquire);
        // Keep an unpublished claim (left pending) recorded for recovery; free the entry
        // otherwise. Release: the entry's other fields are written before it is freed.
        if start == end || end <= cursor {
            entry.owner.store(0, Ordering::Release);
        }
    }
}

/// A check that there is room for `needed` slots after the claim sequence, or nobody left to
/// wait for.
fn room_for(needed: u64) -> impl Fn(&Shared) -> bool + Send + 'static {
    move |shared| {
        // Relaxed: compared with the consumers' sequences only (a claim re-checks everything).
        let next = shared.segment.control().next.value.load(Ordering::Relaxed);
        let slowest = slowest_gating(shared);
        slowest == u64::MAX
            || slowest.saturating_add(shared.capacity) >= next.saturating_add(needed)
    }
}

/// Whether a (dead) producer entry still records a claim that is not yet published.
fn holds_pending_claim(entry: &ProducerEntry, cursor: u64) -> bool {
    let start = entry.claim_start.load(Ordering::Relaxed);
    let end = entry.claim_end.load(Ordering::Relaxed);
    start < end && end > cursor
}

/// Consecutive claimed slots, writable in place until committed.
///
/// On wrap-around the range spans the end and the start of the ring: [`slices_mut`](Self::slices_mut)
/// gives both halves. Commit with [`commit`](Self::commit) (visible once earlier claims are
/// committed), [`try_commit`](Self::try_commit) or [`commit_timeout`](Self::commit_timeout)
/// (only when the range can become visible at once).
///
/// **Dropped without commit**, a claim is rolled back when no later claim exists (always the
/// case in single-producer mode), so nothing is published; otherwise, since later claims become
/// visible only after it, it is published *zero-filled* and recorded as abandoned
/// ([`Batch::abandoned`](crate::Batch::abandoned)) rather than stalling the ring. To keep a
/// claim pending on purpose (and commit it later through [`Producer::recover`]), call
/// [`leave_pending`](Self::leave_pending).
///
/// **Leaked** (`std::mem::forget`), a claim skips all of that. In multi-producer mode it holds
/// back later claims like a claim left pending, until it is recovered ([`Producer::recover`]).
/// In single-producer mode the producer's next commit publishes it with whatever its slots held
/// (valid values of `T`, since every bit pattern is, but not written for this lap): the fast
/// path does not check for leaks.
pub struct ClaimBatch<'a, T: Slot> {
    producer: &'a mut Producer<T>,
    start: u64,
    end: u64,
    /// Recovered ranges are left pending when dropped.
    recovered: bool,
    done: bool,
}

impl<T: Slot> fmt::Debug for ClaimBatch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimBatch").field("range", &(self.start..self.end)).finish()
    }
}

impl<'a, T: Slot> ClaimBatch<'a, T> {
    /// The claimed sequences (the seed's `prevClaimStart..=prevClaimEnd`, as a half-open range).
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// The first claimed sequence.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Number of claimed slots.
    #[allow(clippy::len_without_is_empty)] // a claim is never empty
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// The claimed slots: the part up to the end of the ring, then the part from its start
    /// (empty unless the claim wraps).
    #[inline]
    pub fn slices_mut(&mut self) -> (&mut [T], &mut [T]) {
        let hot = &self.producer.hot;
        let (index, first, wrapped) = hot.halves(self.start, self.end - self.start);
        let slots = hot.slot::<T>(0);
        // `Hot::halves` keeps both parts inside the slot region, without overlap; the
        // slots hold `capacity` values of `T`, aligned for `T` (validated at create/open), and
        // every bit pattern is a valid `T` (`Slot`). The claim protocol makes this producer the
        // only writer of these slots, and no consumer reads them until they are published.
        // SAFETY: in bounds, disjoint, valid `T`s, and claimed by this guard alone (see above).
        unsafe {
            (
                std::slice::from_raw_parts_mut(slots.add(index), first),
                std::slice::from_raw_parts_mut(slots, wrapped),
            )
        }
    }

    /// The claimed slots in sequence order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        let (a, b) = self.slices_mut();
        a.iter_mut().chain(b.iter_mut())
    }

    /// Copies `values` into the claimed slots (`values.len()` must equal `len()`).
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn copy_from_slice(&mut self, values: &[T]) {
        let (a, b) = self.slices_mut();
        assert_eq!(values.len(), a.len() + b.len(), "copy_from_slice: length mismatch");
        let (first, second) = values.split_at(a.len());
        a.copy_from_slice(first);
        b.copy_from_slice(second);
    }

    /// Commits the slots. Consumers see them once every earlier claim is committed too
    /// (sequences become visible in order).
    ///
    /// In multi-producer mode this never waits: it marks the slots committed and advances the
    /// cursor over every committed run that follows it, so a producer descheduled between claim
    /// and commit delays visibility but never blocks another producer. In single-producer mode
    /// it waits only for ranges this handle left pending ([`leave_pending`](Self::leave_pending)).
    #[inline(always)]
    pub fn commit(mut self) {
        self.done = true;
        if self.start < self.producer.direct_below {
            // A single producer's claim at the cursor (the usual case).
            self.producer.publish_next(self.end);
        } else {
            crate::cold_path(); // multi-producer commits pay a call anyway
            self.producer.publish_general(self.start, self.end, Some(None));
            self.producer.finish_claim();
        }
    }

    /// Publishes the slots once earlier claims are committed, as a future (the seed's
    /// `produceCommit` promise).
    pub async fn commit_async(mut self) {
        if !self.producer.single {
            return self.commit(); // never waits in multi-producer mode
        }
        let shared = Arc::clone(&self.producer.ring.shared);
        let (start, end) = (self.start, self.end);
        std::future::poll_fn(|cx| {
            poll_with(
                &shared,
                Line::Data,
                cx,
                || self.producer.publish(start, end, None).then_some(()),
                // Acquire pairs with the Release store of the cursor in `publish`.
                move |s| s.segment.control().cursor.value.load(Ordering::Acquire) >= start,
            )
        })
        .await;
        self.done = true;
        self.producer.finish_claim();
    }

    /// Commits the slots once every earlier claim is committed (so that they become visible at
    /// once), waiting at most `timeout` for that; hands the claim back if they are still pending
    /// then.
    pub fn commit_timeout(mut self, timeout: Duration) -> Result<(), Self> {
        if self.producer.publish(self.start, self.end, Some(Some(Instant::now() + timeout))) {
            self.done = true;
            self.producer.finish_claim();
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Publishes the slots if every earlier claim is committed; otherwise hands the claim back
    /// without waiting (the seed's commit returning `false`).
    #[inline]
    pub fn try_commit(mut self) -> Result<(), Self> {
        if self.producer.publish(self.start, self.end, None) {
            self.done = true;
            self.producer.finish_claim();
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Publishes the range zero-filled and recorded as abandoned, so that consumers can tell
    /// ([`Batch::abandoned`](crate::Batch::abandoned)). Waits for earlier claims like
    /// [`commit`](Self::commit). For a dead producer's claim that cannot be rewritten.
    pub fn commit_abandoned(mut self) {
        self.done = true;
        self.commit_zeroed(Some(None));
        self.producer.finish_claim();
    }

    /// Zero-fills the range, records it as abandoned and publishes it (see `publish` for `wait`).
    fn commit_zeroed(&mut self, wait: Option<Option<Instant>>) {
        let (a, b) = self.slices_mut();
        a.fill(T::zeroed());
        b.fill(T::zeroed());
        let shared = &*self.producer.ring.shared;
        registry::record_abandoned(shared.segment.abandoned_log(), self.start..self.end);
        self.producer.publish(self.start, self.end, wait);
    }

    /// Gives up the guard but leaves the slots claimed and unpublished; returns their range,
    /// which [`Producer::recover`] accepts later. Later claims become visible only after it is
    /// committed (and a single producer's later commits wait for it).
    pub fn leave_pending(mut self) -> Range<u64> {
        self.done = true;
        // No longer this handle's in-flight claim: it is orphaned (see `orphaned_claim`).
        if !self.recovered {
            self.producer.finish_claim();
        }
        if self.producer.single {
            // Later claims no longer start at the cursor.
            self.producer.update_direct_below();
        }
        self.start..self.end
    }
}

impl<T: Slot> Drop for ClaimBatch<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.done && !self.recovered {
            self.producer.abandon(self.start, self.end);
        }
    }
}

/// One claimed slot: derefs to `&mut T`. See [`ClaimBatch`] for what dropping it does.
pub struct Claim<'a, T: Slot>(ClaimBatch<'a, T>);

impl<T: Slot> fmt::Debug for Claim<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").field("sequence", &self.0.start).finish()
    }
}

impl<'a, T: Slot> Claim<'a, T> {
    /// The claimed sequence.
    pub fn sequence(&self) -> u64 {
        self.0.start
    }

    /// Commits the slot; see [`ClaimBatch::commit`].
    #[inline]
    pub fn commit(self) {
        self.0.commit()
    }

    /// Publishes the slot if every earlier claim is committed; hands it back otherwise.
    #[inline]
    pub fn try_commit(self) -> Result<(), Self> {
        self.0.try_commit().map_err(Claim)
    }

    /// Publishes the slot, waiting at most `timeout` for earlier claims.
    pub fn commit_timeout(self, timeout: Duration) -> Result<(), Self> {
        self.0.commit_timeout(timeout).map_err(Claim)
    }

    /// Publishes the slot once earlier claims are committed, as a future.
    pub async fn commit_async(self) {
        self.0.commit_async().await
    }

    /// Leaves the slot claimed and unpublished; see [`ClaimBatch::leave_pending`].
    pub fn leave_pending(self) -> Range<u64> {
        self.0.leave_pending()
    }
}

impl<T: Slot> Deref for Claim<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        let hot = &self.0.producer.hot;
        // SAFETY: `Hot::slot` points at a slot of the ring (`Hot::index` is `< capacity`); the
        // slot is claimed by this guard, so no producer writes it and no consumer reads it
        // until it is published.
        unsafe { &*hot.slot::<T>(hot.index(self.0.start)) }
    }
}

impl<T: Slot> DerefMut for Claim<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        let hot = &self.0.producer.hot;
        // SAFETY: as in `deref`; `&mut self` makes this the only reference through the guard.
        unsafe { &mut *hot.slot::<T>(hot.index(self.0.start)) }
    }
}
