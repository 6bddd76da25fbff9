//! Producers: claim slots, write them in place, commit them in sequence order.

use std::fmt;
use std::ops::{Deref, DerefMut, Range};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::asynch::{AsyncWait, Line};
use crate::error::{AttachError, ClaimError};
use crate::registry::Adopted;
use crate::ring::{Hot, Shared};
use crate::shm::{ProducerEntry, ProducerMode, MAX_PRODUCERS};
use crate::wait::{deadline_after, Waiter};
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
    /// The registry record this handle holds (its lock): record 0, the producer's lock, in
    /// single-producer mode; in multi-producer mode the record each claim is written into
    /// before it is taken. `None` after a multi-producer handle gave it up with the range of a
    /// claim left pending (or leaked); the next claim takes a free one.
    home: Option<usize>,
    /// This process's token, recorded as the owner of the records this handle holds.
    token: u64,
    /// Single-producer mode: claims may end at most here (0 in multi-producer mode, which makes
    /// every claim take the general path). The slowest gating consumer's sequence + capacity as
    /// last read, and never above the claim sequence + capacity as of that read.
    /// (The single producer keeps no private copy of the claim sequence: the shared one, which
    /// it alone writes, is the copy. One store per claim instead of two.)
    bound: u64,
    /// Multi-producer mode: the slowest gating consumer's sequence + capacity as last read.
    shared_bound: u64,
    /// The gating epoch the bounds were read under: a claim that finds another one re-reads
    /// the live graph (a consumer was released or evicted since).
    epoch: u64,
    single: bool,
    /// Multi-producer mode: a claim was handed out and is not yet committed, given back or left
    /// pending. Found set by the next claim, it was leaked (`mem::forget`): its range stays in
    /// `home`, which is then given up so that the range can be recovered.
    claim_open: bool,
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
    /// `DeadPeerPolicy::Recover` bookkeeping: when each dead consumer (index, owner token) and
    /// the orphaned range at the cursor (its start) were first seen, by this handle.
    dead_since: Vec<(usize, u64, Instant)>,
    orphan_since: Option<(u64, Instant)>,
    /// The producer records taken over for the recovered batch in flight (multi-producer
    /// rings), let go when it is committed, left pending again or dropped. Kept here, not in
    /// the batch, so that a claim guard stays two words and a flag on the hot path.
    adopted: Adopted,
    /// When the dead-peer policy last looked, for async claims (which wait across polls).
    async_policy_check: Option<Instant>,
}

/// What a producer blocked by a dead peer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeadPeerPolicy {
    /// Keep waiting: a dead consumer may be restarted and resume from its sequence, and a dead
    /// producer's claim may be recovered by someone ([`Producer::recover_orphaned`]).
    #[default]
    Wait,
    /// While blocked (in a blocking or an async call), evict a dead consumer it waits for (it
    /// is marked released) once that
    /// consumer has been seen dead for `after`, and commit a claim that blocks the cursor and
    /// that no live producer holds as abandoned ([`ClaimBatch::commit_abandoned`]) once it has
    /// been seen orphaned for `after`; then carry on. A consumer restarted within `after` takes
    /// its index back and is not evicted. The clock starts when this producer first sees the
    /// peer dead (it looks every `after / 4`, between 1 and 100 ms, while blocked).
    Recover {
        /// How long a peer must have been seen dead before it is acted on.
        after: Duration,
    },
}

impl<T: Slot> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("ring", &self.ring.name())
            .field("record", &self.home)
            .field("wait", &self.wait)
            .finish()
    }
}

impl<T: Slot> Producer<T> {
    pub(crate) fn attach(ring: Disruptor<T>) -> Result<Producer<T>, AttachError> {
        let segment = ring.segment();
        segment
            .check_size()
            .map_err(|(expected, actual)| AttachError::SegmentShrunk { expected, actual })?;
        let token = liveness::own_token();
        let single = segment.mode() == ProducerMode::Single;
        let control = segment.control();
        let home = if single {
            // Record 0 is the single producer's lock.
            let lock = segment.producer_lock(0);
            let owner = &segment.producer_entry(0).owner;
            if !segment.locks().try_lock(lock).unwrap_or(false) {
                // Acquire: pairs with the holder's Release store of its token.
                let holder = owner.load(Ordering::Acquire);
                return Err(AttachError::ProducerInUse { pid: liveness::pid_of(holder) });
            }
            // A token left behind means the previous producer died holding the lock (a clean
            // drop clears it). Its unpublished claim (the range [cursor, next)) is discarded:
            // `next` is rolled back to the cursor. Claims it left pending before a clean drop
            // stay pending for this one to recover.
            if owner.load(Ordering::Acquire) != 0 {
                let cursor = control.cursor.value.load(Ordering::Acquire);
                control.next.value.store(cursor, Ordering::Release);
            }
            // Release: pairs with the Acquire loads of the owner word by inspectors.
            owner.store(token, Ordering::Release);
            0
        } else {
            registry::take_free_record(segment, token)
                .ok_or(AttachError::TooManyProducers { max: MAX_PRODUCERS })?
        };
        let next = control.next.value.load(Ordering::Acquire);
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
            home: Some(home),
            token,
            bound: 0,
            shared_bound: 0,
            epoch: 0,
            single,
            claim_open: false,
            direct_below,
            hot,
            wait,
            policy: DeadPeerPolicy::Wait,
            dead_since: Vec::new(),
            orphan_since: None,
            adopted: Vec::new(),
            async_policy_check: None,
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

    /// While blocked (`last_check` is this wait's), under `DeadPeerPolicy::Recover`: looks for
    /// dead peers every `after / 4` (1 to 100 ms), and acts on those seen dead for `after`.
    #[cold]
    fn apply_policy(&mut self, last_check: &mut Option<Instant>) {
        let DeadPeerPolicy::Recover { after } = self.policy else { return };
        let now = Instant::now();
        let every = policy_interval(after);
        if last_check.is_some_and(|t| now.saturating_duration_since(t) < every) {
            return;
        }
        *last_check = Some(now);
        let segment = self.ring.segment();
        // Consumers: the clock of each starts when it is first seen dead; a restarted consumer
        // (another owner token, or alive) starts afresh.
        let dead = registry::dead_consumers(segment);
        self.dead_since.retain(|&(i, t, _)| dead.contains(&(i, t)));
        for &(i, t) in &dead {
            if !self.dead_since.iter().any(|&(j, u, _)| (j, u) == (i, t)) {
                self.dead_since.push((i, t, now));
            }
        }
        let due: Vec<(usize, u64)> = self
            .dead_since
            .iter()
            .filter(|&&(_, _, since)| now.saturating_duration_since(since) >= after)
            .map(|&(i, t, _)| (i, t))
            .collect();
        if !due.is_empty() {
            registry::evict_consumers(segment, |i, t| due.contains(&(i, t)));
        }
        // The orphaned claim at the cursor, likewise.
        match registry::orphaned_claim(segment) {
            Some(range) => {
                let since = match self.orphan_since {
                    Some((start, since)) if start == range.start => since,
                    _ => {
                        self.orphan_since = Some((range.start, now));
                        now
                    }
                };
                if now.saturating_duration_since(since) >= after {
                    self.publish_abandoned(range);
                }
            }
            None => self.orphan_since = None,
        }
    }

    /// Zero-fills `range`, records it as abandoned and publishes it (its predecessors must be
    /// published: the range starts at the cursor). The records describing it are taken over
    /// first, atomically (see `registry::adopt`): if a live handle holds any part of it, or
    /// another producer took it over first, nothing is done.
    fn publish_abandoned(&mut self, range: Range<u64>) {
        let segment = self.ring.segment();
        let adopted = if self.single {
            if !registry::is_pending(segment, &range) {
                return;
            }
            Vec::new()
        } else {
            let Some(adopted) = registry::take_over(segment, &range, self.token) else { return };
            adopted
        };
        let (start, end) = (range.start, range.end);
        let mut orphan = ClaimBatch { producer: self, start, end, recovered: true, done: true };
        orphan.commit_zeroed(None);
        registry::release_adopted(orphan.producer.ring.segment(), &adopted, true);
    }

    /// Recovers the claimed-but-unpublished range that blocks the cursor and that no live
    /// producer holds (see [`Disruptor::orphaned_claim`]): typically the claim of a producer that
    /// was killed between claim and commit, or one left pending. Rewrite it and
    /// [`commit`](ClaimBatch::commit) it, or [`commit_abandoned`](ClaimBatch::commit_abandoned)
    /// it. Dropping it leaves it pending again. `None` when there is no such range, or when
    /// another producer recovered it first: a range is handed to one recoverer at a time.
    pub fn recover_orphaned(&mut self) -> Option<ClaimBatch<'_, T>> {
        let range = registry::orphaned_claim(self.ring.segment())?;
        self.recover(range)
    }

    fn entry(&self, index: usize) -> &ProducerEntry {
        self.ring.segment().producer_entry(index)
    }

    /// Multi-producer mode: gives up the home record, keeping the range it describes (a claim
    /// left pending or leaked), so that anyone may recover it. The next claim takes a free
    /// record.
    fn retire_home(&mut self) {
        if let Some(home) = self.home.take() {
            let segment = self.ring.segment();
            // Release: the record's range was written before it is let go; a recoverer's
            // Acquire load of the owner word pairs with it.
            segment.producer_entry(home).owner.store(0, Ordering::Release);
            segment.locks().unlock(segment.producer_lock(home));
        }
        self.claim_open = false;
    }

    /// Multi-producer mode, a claim left pending: moves its range from the home record to a
    /// free one that is then let go (pending, recoverable by anyone), so that this handle keeps
    /// its record. The range is described by a record this handle holds at every step. With no
    /// free record, the home record itself is given up with the range.
    fn leave_home_range(&mut self) {
        let Some(home) = self.home else { return };
        let segment = self.ring.segment();
        let Some(spare) = registry::take_free_record(segment, self.token) else {
            self.retire_home();
            return;
        };
        let (from, to) = (segment.producer_entry(home), segment.producer_entry(spare));
        to.claim_end.store(from.claim_end.load(Ordering::Relaxed), Ordering::Relaxed);
        to.claim_start.store(from.claim_start.load(Ordering::Relaxed), Ordering::Relaxed);
        registry::release_adopted(segment, &[spare], false);
        self.finish_claim();
    }

    /// Multi-producer mode: the home record a claim is written into, taking a free one if the
    /// last was given up.
    fn home_for_claim(&mut self) -> Result<usize, ClaimError> {
        if self.claim_open {
            // The last claim was leaked: its range stays recorded, recoverable by anyone.
            self.retire_home();
        }
        match self.home {
            Some(home) => Ok(home),
            None => {
                let home = registry::take_free_record(self.ring.segment(), self.token)
                    .ok_or(ClaimError::NoFreeRecord { max: MAX_PRODUCERS })?;
                self.home = Some(home);
                Ok(home)
            }
        }
    }

    /// Re-reads the gating consumers' sequences, over the live graph, and returns the end a
    /// claim may reach.
    fn refresh_bound(shared: &Shared) -> Result<u64, ClaimError> {
        // Acquire loads (see `gating::load_sequence`): the consumers' reads of the slots below
        // their sequences happen-before we overwrite them.
        let slowest = shared.slowest_gating().ok_or(ClaimError::NoConsumers)?;
        Ok(slowest.saturating_add(shared.capacity))
    }

    /// Claims `[start, start + n)` (exact) or up to `n` slots (`!exact`), without waiting.
    #[inline(always)]
    fn try_claim_range(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        // Fast path: a single producer with room under its cached bound (always 0 in
        // multi-producer mode), read under the current gating epoch. `end > start` rules out
        // n == 0 and overflow, and `n <= capacity` a claim longer than the ring should the
        // claim sequence be corrupt (n == 1, the common case, needs no test).
        let next = self.hot.next();
        // Relaxed: only this producer writes the claim sequence in single-producer mode (it is
        // for inspection and recovery, and orders nothing: the cursor's Release store publishes).
        let start = next.load(Ordering::Relaxed);
        let end = start.wrapping_add(n);
        // Relaxed: only compared; a changed epoch sends the claim to the slow path, which
        // loads it again with Acquire (pairing with the SeqCst bump in
        // `registry::gating_changed`). One load of a line that changes only on a release.
        let epoch = self.hot.gating_epoch().load(Ordering::Relaxed);
        if end <= self.bound
            && end > start
            && (n == 1 || n <= self.hot.capacity)
            && epoch == self.epoch
        {
            // Relaxed: as above.
            next.store(end, Ordering::Relaxed);
            return Ok(start..end);
        }
        crate::cold_path();
        self.try_claim_range_slow(n, exact)
    }

    #[inline(never)]
    fn try_claim_range_slow(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        let capacity = self.ring.shared.capacity;
        if n == 0 {
            return Err(ClaimError::Empty);
        }
        if exact && n > capacity {
            return Err(ClaimError::TooMany { requested: n as usize, capacity: capacity as usize });
        }
        let n = n.min(capacity);
        // A consumer released or evicted since the bounds were read: read the graph again.
        // Acquire: pairs with the SeqCst bump in `registry::gating_changed`, so the `RELEASED`
        // sequence stored before it is seen by `refresh_bound`.
        let epoch = self.hot.gating_epoch().load(Ordering::Acquire);
        if epoch != self.epoch {
            self.epoch = epoch;
            self.bound = 0;
            self.shared_bound = 0;
        }
        if self.single {
            return self.claim_single(n, exact);
        }
        let home = self.home_for_claim()?;
        let result = self.claim_multi(n, exact, home);
        if result.is_err() {
            // A failed attempt may have written its range into the record: the record must
            // only ever describe a range its owner holds.
            let entry = self.entry(home);
            let end = entry.claim_end.load(Ordering::Relaxed);
            entry.claim_start.store(end, Ordering::Relaxed);
        }
        result
    }

    /// The end a claim from `start` may reach, refreshing the cached bound `cached` when `end`
    /// passes it: `end`, or less when `!exact` (at least `start + 1`), or `Full` /
    /// `NoConsumers`. A single producer's bound is clamped to `start + capacity`.
    fn fit(
        shared: &Shared,
        cached: &mut u64,
        single: bool,
        start: u64,
        mut end: u64,
        exact: bool,
    ) -> Result<u64, ClaimError> {
        if end > *cached {
            let bound = Self::refresh_bound(shared)?;
            // Clamped in single-producer mode: see `bound` (a sane segment has
            // slowest <= claim sequence).
            *cached = if single { bound.min(start.saturating_add(shared.capacity)) } else { bound };
            if end > bound {
                if exact || bound <= start {
                    return Err(ClaimError::Full);
                }
                end = bound;
            }
        }
        Ok(end)
    }

    fn claim_single(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        let shared = &*self.ring.shared;
        let next = &shared.segment.control().next.value;
        // Relaxed: this producer wrote it last.
        let start = next.load(Ordering::Relaxed);
        let end = Self::fit(shared, &mut self.bound, true, start, start.saturating_add(n), exact)?;
        // The only producer: its claim in flight is always [cursor, next), so the registry
        // needs no per-claim record. The shared `next` is for inspection and recovery
        // (Relaxed: it orders nothing).
        next.store(end, Ordering::Relaxed);
        Ok(start..end)
    }

    fn claim_multi(&mut self, n: u64, exact: bool, home: usize) -> Result<Range<u64>, ClaimError> {
        let shared = &*self.ring.shared;
        let next = &shared.segment.control().next.value;
        let entry = shared.segment.producer_entry(home);
        loop {
            // Relaxed: the CAS below checks it.
            let start = next.load(Ordering::Relaxed);
            let wanted = start.saturating_add(n);
            let end = Self::fit(shared, &mut self.shared_bound, false, start, wanted, exact)?;
            // Record the claim before taking it, so that the range is described by this live
            // handle's record from the moment it is taken: no recoverer takes it from us, and a
            // process killed right after the CAS leaves it recorded for recovery.
            entry.claim_start.store(start, Ordering::Relaxed);
            entry.claim_end.store(end, Ordering::Relaxed);
            // Release on success: orders the registry stores above before the claim itself
            // (a recoverer's Acquire load of `next` pairs with it).
            if next.compare_exchange_weak(start, end, Ordering::Release, Ordering::Relaxed).is_ok()
            {
                self.claim_open = true;
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
        let mut last_check = None;
        loop {
            match self.try_claim_range(n, exact) {
                Err(ClaimError::Full) => {}
                other => return other,
            }
            if self.policy != DeadPeerPolicy::Wait {
                self.apply_policy(&mut last_check);
            }
            let fence_fallback = self.hot.fence_fallback;
            let waiter =
                waiter.get_or_insert_with(|| Waiter::new(self.wait, deadline, fence_fallback));
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
        // One registration with the watcher for the whole future, removed when it is dropped.
        let mut wait = AsyncWait::default();
        std::future::poll_fn(|cx| {
            let ready = self.async_ready(n, exact);
            wait.poll(&shared, Line::Room, cx, || self.try_claim_async(n, exact), ready)
                .map(|result| result.unwrap_or_else(|kind| Err(ClaimError::AsyncUnavailable(kind))))
        })
        .await
    }

    /// One attempt of an async claim: `None` while the ring is full. Like a blocking claim, a
    /// full ring runs the dead-peer policy (at its own pace) before giving up.
    pub(crate) fn try_claim_async(
        &mut self,
        n: u64,
        exact: bool,
    ) -> Option<Result<Range<u64>, ClaimError>> {
        let result = match self.try_claim_range(n, exact) {
            Err(ClaimError::Full) if self.policy != DeadPeerPolicy::Wait => {
                let mut last_check = self.async_policy_check;
                self.apply_policy(&mut last_check);
                self.async_policy_check = last_check;
                self.try_claim_range(n, exact)
            }
            other => other,
        };
        match result {
            Err(ClaimError::Full) => None,
            other => {
                self.async_policy_check = None;
                Some(other)
            }
        }
    }

    /// When the watcher should wake an async claim of `n` (or up to `n`) slots: when there is
    /// room, or when the dead-peer policy wants another look (no one frees room for a producer
    /// blocked by a dead consumer).
    pub(crate) fn async_ready(
        &self,
        n: u64,
        exact: bool,
    ) -> impl Fn(&Shared) -> bool + Send + 'static {
        let room = room_for(if exact { n } else { 1 });
        let look_at = match self.policy {
            DeadPeerPolicy::Recover { after } => {
                let every = policy_interval(after);
                Some(self.async_policy_check.map_or_else(Instant::now, |t| t + every))
            }
            _ => None,
        };
        move |shared| room(shared) || look_at.is_some_and(|t| Instant::now() >= t)
    }

    /// Claims one slot, as a future that completes when there is room (the seed's
    /// `produceClaim` promise). Works with any executor without busy-polling it.
    pub async fn claim_async(&mut self) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.claim_range_async(1, true).await?;
        Ok(Claim(self.batch(range)))
    }

    /// Claims exactly `n` slots, as a future.
    pub async fn claim_many_async(&mut self, n: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range_async(n as u64, true).await?;
        Ok(self.batch(range))
    }

    /// Claims between 1 and `max` slots, as a future that completes when at least one is free.
    pub async fn claim_available_async(
        &mut self,
        max: usize,
    ) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range_async(max as u64, false).await?;
        Ok(self.batch(range))
    }

    /// The guard of a range this handle just claimed.
    #[inline(always)]
    pub(crate) fn claimed(&mut self, range: Range<u64>) -> ClaimBatch<'_, T> {
        self.batch(range)
    }

    #[inline(always)]
    fn batch(&mut self, range: Range<u64>) -> ClaimBatch<'_, T> {
        ClaimBatch {
            producer: self,
            start: range.start,
            end: range.end,
            recovered: false,
            done: false,
        }
    }

    /// Claims one slot, waiting for room per the wait strategy.
    #[inline]
    pub fn claim(&mut self) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.claim_range(1, true, None)?;
        Ok(Claim(self.batch(range)))
    }

    /// Claims one slot if one is free now ([`ClaimError::Full`] otherwise).
    #[inline]
    pub fn try_claim(&mut self) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.try_claim_range(1, true)?;
        Ok(Claim(self.batch(range)))
    }

    /// Claims one slot, waiting at most `timeout` for room.
    pub fn claim_timeout(&mut self, timeout: Duration) -> Result<Claim<'_, T>, ClaimError> {
        let range = self.claim_range(1, true, deadline_after(timeout))?;
        Ok(Claim(self.batch(range)))
    }

    /// Claims exactly `n` consecutive slots (`n <= capacity`), waiting for room.
    pub fn claim_many(&mut self, n: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(n as u64, true, None)?;
        Ok(self.batch(range))
    }

    /// Claims exactly `n` slots if they are free now.
    pub fn try_claim_many(&mut self, n: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.try_claim_range(n as u64, true)?;
        Ok(self.batch(range))
    }

    /// Claims exactly `n` slots, waiting at most `timeout`.
    pub fn claim_many_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(n as u64, true, deadline_after(timeout))?;
        Ok(self.batch(range))
    }

    /// Claims between 1 and `max` slots: as many as are free, waiting until at least one is.
    pub fn claim_available(&mut self, max: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(max as u64, false, None)?;
        Ok(self.batch(range))
    }

    /// Claims between 1 and `max` slots if any is free now.
    pub fn try_claim_available(&mut self, max: usize) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.try_claim_range(max as u64, false)?;
        Ok(self.batch(range))
    }

    /// Claims between 1 and `max` slots, waiting at most `timeout` for one to be free.
    pub fn claim_available_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<ClaimBatch<'_, T>, ClaimError> {
        let range = self.claim_range(max as u64, false, deadline_after(timeout))?;
        Ok(self.batch(range))
    }

    /// The seed's `produceRecover`: the slots of `range` if they are claimed, not yet
    /// committed (`cursor <= range.start < range.end <= claim sequence`) and held by no live
    /// handle, writable and then committable. `None` otherwise.
    ///
    /// A range can be recovered when the claim that took it was left pending
    /// ([`ClaimBatch::leave_pending`], by any handle), leaked, or belonged to a producer that
    /// died; never while a live [`Claim`] or [`ClaimBatch`] holds any part of it. Taking it over
    /// is atomic (see the `registry` module): two producers recovering the same range, in one
    /// process or in two, never both get it; the second gets `None` until the first commits
    /// it (then it is no longer pending) or drops it (then it is pending again). The recovered
    /// range is recorded as this producer's while the batch lives, so no
    /// [`DeadPeerPolicy::Recover`] of another producer touches it.
    pub fn recover(&mut self, range: Range<u64>) -> Option<ClaimBatch<'_, T>> {
        if !registry::is_pending(self.ring.segment(), &range) {
            return None;
        }
        if self.claim_open {
            // A claim of ours was leaked: give its record up, to take it like any other.
            self.retire_home();
        }
        // A recovered batch of ours was leaked: its records are pending again.
        self.release_adopted(false);
        let segment = self.ring.segment();
        // A single producer is the only handle that claims: what is pending is its own.
        let adopted = if self.single {
            Vec::new()
        } else {
            registry::take_over(segment, &range, self.token)?
        };
        self.adopted = adopted;
        Some(ClaimBatch {
            producer: self,
            start: range.start,
            end: range.end,
            recovered: true,
            done: false,
        })
    }

    /// Lets go of the records taken over for a recovered batch (see `registry::release_adopted`).
    fn release_adopted(&mut self, clear_done: bool) {
        if !self.adopted.is_empty() {
            let adopted = std::mem::take(&mut self.adopted);
            registry::release_adopted(self.ring.segment(), &adopted, clear_done);
        }
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
        let mut last_check = None;
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
                self.apply_policy(&mut last_check);
            }
            let waiter =
                waiter.get_or_insert_with(|| Waiter::new(self.wait, deadline, hot.fence_fallback));
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

    /// After a range was published (see `ClaimBatch::finished`).
    #[inline]
    fn finished(&mut self, recovered: bool) {
        if recovered {
            self.release_adopted(true);
        } else {
            self.finish_claim();
        }
    }

    /// A claim guard dropped without commit: a recovered range is pending again, for the next
    /// recoverer; a claim is given back (see `abandon`).
    #[cold]
    #[inline(never)]
    fn dropped(&mut self, start: u64, end: u64, recovered: bool) {
        if recovered {
            self.release_adopted(false);
        } else {
            self.abandon(start, end);
        }
    }

    /// After a claim of this handle was committed: its home record describes nothing pending.
    #[inline]
    fn finish_claim(&mut self) {
        if self.single {
            return; // no per-claim registry record in single-producer mode
        }
        self.claim_open = false;
        if let Some(home) = self.home {
            // No claim in flight: an empty range at the end of the last one. Release: pairs
            // with the Acquire loads of records in `registry::adopt` (a recoverer that sees the
            // record empty sees what happened before: a rollback's `given_back` bump).
            let entry = self.entry(home);
            let at = entry.claim_end.load(Ordering::Relaxed);
            entry.claim_start.store(at, Ordering::Release);
        }
    }

    /// Gives back an uncommitted claim: rolls it back if nothing was claimed after it, else
    /// publishes it zero-filled (commits are in order, so later producers wait for it).
    #[cold]
    #[inline(never)]
    fn abandon(&mut self, start: u64, end: u64) {
        let segment = self.ring.segment();
        let control = segment.control();
        let rolled_back = if self.single {
            control.next.value.store(start, Ordering::Release);
            true
        } else {
            // AcqRel: as any claim CAS (it continues the release sequence of `next`).
            let rolled_back = control
                .next
                .value
                .compare_exchange(end, start, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
            if rolled_back {
                // These sequences may now be claimed again: a recovery in progress must start
                // over (see `registry::take_over`). SeqCst: the count is read twice by the
                // recoverer, around its checks; the Release store that clears our record
                // below (`finish_claim`) carries it to a recoverer that sees the record empty.
                control.next.given_back.fetch_add(1, Ordering::SeqCst);
            }
            rolled_back
        };
        if rolled_back {
            // Nothing claimed any more: the record describes nothing.
            self.finish_claim();
        } else {
            let mut batch = ClaimBatch { producer: self, start, end, recovered: false, done: true };
            batch.commit_zeroed(Some(None));
            batch.producer.finish_claim();
        }
    }
}

impl<T: Slot> Drop for Producer<T> {
    fn drop(&mut self) {
        self.release_adopted(false);
        if self.claim_open {
            // A leaked claim: its range stays recorded, recoverable by anyone.
            self.retire_home();
            return;
        }
        let Some(home) = self.home.take() else { return };
        let segment = self.ring.segment();
        let entry = segment.producer_entry(home);
        if !self.single {
            let end = entry.claim_end.load(Ordering::Relaxed);
            entry.claim_start.store(end, Ordering::Relaxed);
        }
        // Release: the record is written before it is let go (the next holder's Acquire load of
        // the owner word pairs with it). A token of 0 says it was let go cleanly, not by death.
        entry.owner.store(0, Ordering::Release);
        segment.locks().unlock(segment.producer_lock(home));
    }
}

/// How often a blocked producer under `DeadPeerPolicy::Recover { after }` looks for dead peers.
fn policy_interval(after: Duration) -> Duration {
    (after / 4).clamp(Duration::from_millis(1), Duration::from_millis(100))
}

/// A check that there is room for `needed` slots after the claim sequence, or nobody left to
/// wait for.
fn room_for(needed: u64) -> impl Fn(&Shared) -> bool + Send + 'static {
    move |shared| {
        // Relaxed: compared with the consumers' sequences only (a claim re-checks everything).
        let next = shared.segment.control().next.value.load(Ordering::Relaxed);
        match shared.slowest_gating() {
            None => true,
            Some(slowest) => slowest.saturating_add(shared.capacity) >= next.saturating_add(needed),
        }
    }
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
/// back later claims like a claim left pending, and the producer's next claim (or its drop)
/// gives up the record describing it, so that it can be recovered ([`Producer::recover`]). In
/// single-producer mode the producer's next commit publishes it with whatever its slots held
/// (valid values of `T`, since every bit pattern is, but not written for this lap): the fast
/// path does not check for leaks. A leaked *recovered* batch keeps the records it took over
/// until the producer recovers again or is dropped.
pub struct ClaimBatch<'a, T: Slot> {
    producer: &'a mut Producer<T>,
    start: u64,
    end: u64,
    /// Recovered ranges are left pending when dropped (their records are the producer's
    /// `adopted`).
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
            self.producer.finished(self.recovered);
        }
    }

    /// After the range was published: the records that described it describe it no more (the
    /// home record of a claim; the records taken over for a recovery are let go). Takes the
    /// flag, not `&mut self`: a guard whose address never escapes stays in registers.
    fn finished(&mut self) {
        self.producer.finished(self.recovered);
    }

    /// Publishes the slots once earlier claims are committed, as a future (the seed's
    /// `produceCommit` promise). Fails only with [`ClaimError::AsyncUnavailable`], when it had
    /// to wait and the ring's watcher thread could not be started; the claim is then dropped
    /// (see the type's docs).
    pub async fn commit_async(mut self) -> Result<(), ClaimError> {
        if !self.producer.single {
            self.commit(); // never waits in multi-producer mode
            return Ok(());
        }
        let shared = Arc::clone(&self.producer.ring.shared);
        let (start, end) = (self.start, self.end);
        let mut wait = AsyncWait::default();
        std::future::poll_fn(|cx| {
            wait.poll(
                &shared,
                Line::Data,
                cx,
                || self.producer.publish(start, end, None).then_some(()),
                // Acquire pairs with the Release store of the cursor in `publish`.
                move |s| s.segment.control().cursor.value.load(Ordering::Acquire) >= start,
            )
        })
        .await
        .map_err(ClaimError::AsyncUnavailable)?;
        self.done = true;
        self.finished();
        Ok(())
    }

    /// Commits the slots once every earlier claim is committed (so that they become visible at
    /// once), waiting at most `timeout` for that; hands the claim back if they are still pending
    /// then.
    pub fn commit_timeout(mut self, timeout: Duration) -> Result<(), Self> {
        if self.producer.publish(self.start, self.end, Some(deadline_after(timeout))) {
            self.done = true;
            self.finished();
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
            self.finished();
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
        self.finished();
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
    /// which [`Producer::recover`] (of this or any other producer, in any process) accepts
    /// later. Later claims become visible only after it is committed (and a single producer's
    /// later commits wait for it).
    ///
    /// In a multi-producer ring the registry record that describes the range is given up
    /// with it (it is pending, held by nobody: [`Disruptor::orphaned_claim`] reports it), and
    /// this producer's next claim takes a free record; while ranges left pending occupy every
    /// record, claims fail with [`ClaimError::NoFreeRecord`].
    pub fn leave_pending(mut self) -> Range<u64> {
        self.done = true;
        if self.recovered {
            // The records taken over keep the range, pending, for the next recoverer.
            self.producer.release_adopted(false);
        } else if !self.producer.single {
            // No longer this handle's claim: its range goes to a record nobody holds.
            self.producer.leave_home_range();
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
        if !self.done {
            self.producer.dropped(self.start, self.end, self.recovered);
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

    /// Publishes the slot once earlier claims are committed, as a future; see
    /// [`ClaimBatch::commit_async`].
    pub async fn commit_async(self) -> Result<(), ClaimError> {
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
