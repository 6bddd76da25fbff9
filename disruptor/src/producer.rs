//! Producers: claim slots, write them in place, commit them in sequence order (the typed layer
//! over `protocol::claim` and `protocol::publish`).

use std::fmt;
use std::ops::{Deref, DerefMut, Range};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::asynch::{AsyncWait, Line};
use crate::error::{AttachError, ClaimError};
use crate::protocol::claim::ProducerState;
use crate::protocol::policy::Policy;
use crate::protocol::wait::deadline_after;
use crate::protocol::{ownership, Core};
use crate::{Disruptor, Slot, WaitStrategy};

pub use crate::protocol::policy::DeadPeerPolicy;

/// A handle that claims and commits slots.
///
/// Claims are granted in sequence order and become visible to consumers in the same order. In
/// multi-producer mode [`ClaimBatch::commit`] never waits for earlier claims (the range becomes
/// visible once they are committed); [`ClaimBatch::try_commit`] hands the claim back instead
/// while they are pending. A producer never claims a slot that a consumer producers wait for has
/// not yet consumed.
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{ClaimError, Disruptor};
///
/// let ring = Disruptor::<u64>::builder("prices").capacity(4).consumers(1).create_in_process()?;
/// let mut producer = ring.producer()?; // multi-producer (the default): any number of these
///
/// // One slot: claim it, write it in place, commit it.
/// let mut claim = producer.claim()?;
/// *claim = 10;
/// claim.commit();
/// // Several in one claim.
/// let mut claims = producer.claim_many(2)?;
/// claims.copy_from_slice(&[11, 12]);
/// claims.commit();
/// // Or let a closure write the slot.
/// producer.publish(|slot| *slot = 13)?;
///
/// // The 4 slots are full until the consumer commits: `try_` calls do not wait, `_timeout`
/// // calls wait that long, the others as long as it takes.
/// assert_eq!(producer.try_claim().map(|claim| claim.sequence()), Err(ClaimError::Full));
/// let waited = producer.claim_timeout(Duration::from_millis(1)).map(|claim| claim.sequence());
/// assert_eq!(waited, Err(ClaimError::Timeout));
///
/// let mut consumer = ring.consumer(0)?;
/// let batch = consumer.try_consume();
/// assert!(batch.iter().copied().eq([10, 11, 12, 13]));
/// batch.commit();
/// assert_eq!(producer.try_publish(|slot| *slot = 14)?, 4); // room again
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<T: Slot> {
    ring: Disruptor<T>,
    state: ProducerState,
    wait: WaitStrategy,
    policy: Policy,
}

impl<T: Slot> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("ring", &self.ring.name())
            .field("record", &self.state.home())
            .field("wait", &self.wait)
            .finish()
    }
}

impl<T: Slot> Disruptor<T> {
    /// A producer handle. In single-producer mode only one live handle may exist at a time
    /// ([`AttachError::ProducerInUse`] otherwise); in multi-producer mode as many as the ring
    /// has producer records ([`Builder::producers`](crate::Builder::producers), 64 unless set;
    /// [`AttachError::TooManyProducers`] beyond that), across all processes.
    pub fn producer(&self) -> Result<Producer<T>, AttachError> {
        Producer::attach(self.clone())
    }
}

impl<T: Slot> Producer<T> {
    pub(crate) fn attach(ring: Disruptor<T>) -> Result<Producer<T>, AttachError> {
        ring.shared.check_size()?;
        let state = ProducerState::attach(ring.core())?;
        let wait = ring.wait;
        let policy = Policy::for_ring(ring.name());
        Ok(Producer { ring, state, wait, policy })
    }

    /// The ring this producer writes to.
    pub fn ring(&self) -> &Disruptor<T> {
        &self.ring
    }

    fn core(&self) -> &Core {
        &self.ring.shared.core
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
        self.policy.mode = policy;
    }

    /// Recovers the claimed-but-unpublished range that blocks the cursor and that no live
    /// producer holds (see [`Disruptor::orphaned_claim`]): typically the claim of a producer that
    /// was killed between claim and commit, or one left pending. Rewrite it and
    /// [`commit`](ClaimBatch::commit) it, or [`commit_abandoned`](ClaimBatch::commit_abandoned)
    /// it. Dropping it leaves it pending again. `None` when there is no such range, or when
    /// another producer recovered it first: a range is handed to one recoverer at a time.
    pub fn recover_orphaned(&mut self) -> Option<ClaimBatch<'_, T>> {
        let range = ownership::orphaned_claim(self.core())?;
        let batch = self.recover(range)?;
        event!(
            INFO,
            ring = batch.producer.ring.name(),
            start = batch.start,
            end = batch.end,
            "recovered an orphaned claim (its producer died or left it pending)"
        );
        Some(batch)
    }

    /// Claims `[start, start + n)` (exact) or up to `n` slots (`!exact`), without waiting.
    #[inline(always)]
    fn try_claim_range(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        match self.state.try_claim_fast(n) {
            Some(range) => Ok(range),
            // The core is looked up only here: the fast path loads nothing it does not use.
            None => self.state.try_claim_slow(&self.ring.shared.core, n, exact),
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
            Err(ClaimError::Full) => {
                let core = &self.ring.shared.core;
                self.state.wait_for_room(core, n, exact, deadline, self.wait, &mut self.policy)
            }
            other => other,
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
            Err(ClaimError::Full) if self.policy.mode != DeadPeerPolicy::Wait => {
                let mut last_check = self.policy.async_check;
                let core = &self.ring.shared.core;
                self.policy.apply(core, &mut self.state, &mut last_check);
                self.policy.async_check = last_check;
                self.try_claim_range(n, exact)
            }
            other => other,
        };
        match result {
            Err(ClaimError::Full) => None,
            other => {
                self.policy.async_check = None;
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
    ) -> impl Fn(&Core) -> bool + Send + 'static {
        let needed = if exact { n } else { 1 };
        let look_at = self.policy.next_look(self.policy.async_check);
        move |core| {
            ProducerState::room_for(core, needed) || look_at.is_some_and(|t| Instant::now() >= t)
        }
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
    pub(crate) fn batch(&mut self, range: Range<u64>) -> ClaimBatch<'_, T> {
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

    /// Claims one slot (waiting for room, as [`claim`](Self::claim)), lets `write` fill it, and
    /// commits it; returns its sequence. The `disruptor` crate's `publish`, at the cost of a
    /// claim and a commit. If `write` panics, the claim is dropped without commit (see
    /// [`ClaimBatch`]): nothing half-written is published.
    ///
    /// ```
    /// use shm_disruptor::Disruptor;
    /// let ring = Disruptor::<u64>::builder("publish").capacity(8).consumers(1).create_in_process()?;
    /// let mut producer = ring.producer()?;
    /// assert_eq!(producer.publish(|slot| *slot = 42)?, 0);
    /// assert_eq!(producer.publish_batch(3, |i, slot| *slot = 100 + i as u64)?, 1..4);
    /// let mut consumer = ring.consumer(0)?;
    /// assert!(consumer.try_consume().iter().copied().eq([42, 100, 101, 102]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn publish(&mut self, write: impl FnOnce(&mut T)) -> Result<u64, ClaimError> {
        Ok(written(self.claim()?, write))
    }

    /// [`publish`](Self::publish) if a slot is free now ([`ClaimError::Full`] otherwise, and
    /// `write` is not called).
    #[inline]
    pub fn try_publish(&mut self, write: impl FnOnce(&mut T)) -> Result<u64, ClaimError> {
        Ok(written(self.try_claim()?, write))
    }

    /// Claims exactly `n` slots (waiting for room, as [`claim_many`](Self::claim_many)), calls
    /// `write(i, slot)` for each (`i` in `0..n`, in order), and commits them; returns their
    /// sequences. The `disruptor` crate's `batch_publish`.
    #[inline]
    pub fn publish_batch(
        &mut self,
        n: usize,
        write: impl FnMut(usize, &mut T),
    ) -> Result<Range<u64>, ClaimError> {
        Ok(batch_written(self.claim_many(n)?, write))
    }

    /// [`publish_batch`](Self::publish_batch) if `n` slots are free now
    /// ([`ClaimError::Full`] otherwise, and `write` is not called).
    #[inline]
    pub fn try_publish_batch(
        &mut self,
        n: usize,
        write: impl FnMut(usize, &mut T),
    ) -> Result<Range<u64>, ClaimError> {
        Ok(batch_written(self.try_claim_many(n)?, write))
    }

    /// The seed's `produceRecover`: the slots of `range` if they are claimed, not yet
    /// committed (`cursor <= range.start < range.end <= claim sequence`) and held by no live
    /// handle, writable and then committable. `None` otherwise.
    ///
    /// A range can be recovered when the claim that took it was left pending
    /// ([`ClaimBatch::leave_pending`], by any handle), leaked, or belonged to a producer that
    /// died; never while a live [`Claim`] or [`ClaimBatch`] holds any part of it. Taking it over
    /// is atomic: two producers recovering the same range, in one process or in two, never both
    /// get it; the second gets `None` until the first commits it (then it is no longer pending)
    /// or drops it (then it is pending again). The recovered range is recorded as this
    /// producer's while the batch lives, so no [`DeadPeerPolicy::Recover`] of another producer
    /// touches it.
    pub fn recover(&mut self, range: Range<u64>) -> Option<ClaimBatch<'_, T>> {
        if !self.state.recover(&self.ring.shared.core, &range) {
            return None;
        }
        let mut batch = self.batch(range);
        batch.recovered = true;
        Some(batch)
    }

    /// Publishes `[start, end)` (see `ProducerState::publish`).
    #[inline(always)]
    fn publish_range(&mut self, start: u64, end: u64, wait: Option<Option<Instant>>) -> bool {
        let core = &self.ring.shared.core;
        self.state.publish(core, start..end, wait, self.wait, &mut self.policy)
    }

    /// A claim guard dropped without commit: a recovered range is pending again, for the next
    /// recoverer; a claim is given back (rolled back if nothing was claimed after it, else
    /// published zero-filled: see `ProducerState::give_back`).
    #[cold]
    #[inline(never)]
    fn dropped(&mut self, start: u64, end: u64, recovered: bool) {
        let core = &self.ring.shared.core;
        if recovered {
            self.state.release_adopted(core, false);
        } else {
            self.state.give_back(core, start..end, self.wait, &mut self.policy);
        }
    }
}

impl<T: Slot> Drop for Producer<T> {
    fn drop(&mut self) {
        self.state.detach(&self.ring.shared.core);
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
///
/// ```
/// use shm_disruptor::Disruptor;
///
/// let ring = Disruptor::<u32>::builder("claims").capacity(8).consumers(1).create_in_process()?;
/// let mut producer = ring.producer()?;
/// let mut consumer = ring.consumer(0)?;
/// producer.publish_batch(6, |i, slot| *slot = i as u32)?;
/// consumer.try_consume().commit();
///
/// // Sequences 6..10 are slots 6 and 7, then 0 and 1: the claim wraps around the ring's end.
/// let mut claim = producer.claim_many(4)?;
/// assert_eq!(claim.range(), 6..10);
/// let (up_to_the_end, from_the_start) = claim.slices_mut();
/// assert_eq!((up_to_the_end.len(), from_the_start.len()), (2, 2));
/// for (i, slot) in claim.iter_mut().enumerate() {
///     *slot = 100 + i as u32; // `iter_mut` runs over both parts, in sequence order
/// }
/// claim.commit();
/// let batch = consumer.try_consume();
/// assert!(batch.iter().copied().eq([100, 101, 102, 103]));
/// batch.commit();
///
/// // A claim kept pending on purpose holds back what follows it, until some producer (in any
/// // process) recovers it and commits it.
/// let pending = producer.claim_many(2)?.leave_pending();
/// assert!(consumer.try_consume().is_empty());
/// let mut recovered = producer.recover(pending).expect("no live handle holds it");
/// recovered.copy_from_slice(&[7, 8]);
/// recovered.commit();
/// assert_eq!(consumer.try_consume().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a claim dropped without commit() is given back (or published zero-filled when \
              later claims exist): write the slots and commit them"]
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
        let ring = &self.producer.state.ring;
        let (index, first, wrapped) = ring.halves(self.start, self.end - self.start);
        let slots = ring.slot::<T>(0);
        // `Ring::halves` keeps both parts inside the slot region, without overlap; the
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
        let producer = &mut *self.producer;
        if self.start < producer.state.direct_below {
            // A single producer's claim at the cursor (the usual case).
            producer.state.publish_next(self.end);
        } else {
            crate::cold_path(); // multi-producer commits pay a call anyway
            let core = &producer.ring.shared.core;
            let range = self.start..self.end;
            producer.state.publish_general(
                core,
                range,
                Some(None),
                producer.wait,
                &mut producer.policy,
            );
            producer.state.finished(core, self.recovered);
        }
    }

    /// After the range was published: the records that described it describe it no more (the
    /// home record of a claim; the records taken over for a recovery are let go). Takes the
    /// flag, not `&mut self`: a guard whose address never escapes stays in registers.
    fn finished(&mut self) {
        let producer = &mut *self.producer;
        producer.state.finished(&producer.ring.shared.core, self.recovered);
    }

    /// Publishes the slots once earlier claims are committed, as a future (the seed's
    /// `produceCommit` promise). Fails only with [`ClaimError::AsyncUnavailable`], when it had
    /// to wait and the ring's watcher thread could not be started; the claim is then dropped
    /// (see the type's docs).
    pub async fn commit_async(mut self) -> Result<(), ClaimError> {
        if !self.producer.state.ring.single {
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
                || self.producer.publish_range(start, end, None).then_some(()),
                move |core| core.ring.load_cursor() >= start,
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
        if self.producer.publish_range(self.start, self.end, Some(deadline_after(timeout))) {
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
        if self.producer.publish_range(self.start, self.end, None) {
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
        event!(
            WARN,
            ring = self.producer.ring.name(),
            start = self.start,
            end = self.end,
            by = "commit_abandoned",
            "published a claim as abandoned (zero-filled)"
        );
        self.done = true;
        self.commit_zeroed(Some(None));
        self.finished();
    }

    /// Zero-fills the range, records it as abandoned and publishes it (see `publish` for `wait`).
    fn commit_zeroed(&mut self, wait: Option<Option<Instant>>) {
        let producer = &mut *self.producer;
        let core = &producer.ring.shared.core;
        let range = self.start..self.end;
        producer.state.publish_zeroed(core, range, wait, producer.wait, &mut producer.policy);
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
        let producer = &mut *self.producer;
        producer.state.leave_pending(&producer.ring.shared.core, self.recovered);
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
///
/// The slot holds what it held a lap ago (or zeros): write every field before committing.
///
/// ```
/// use shm_disruptor::{Disruptor, Slot};
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Order {
///     id: u64,
///     qty: u32,
///     price: u32,
/// }
///
/// let ring = Disruptor::<Order>::builder("orders").capacity(8).consumers(1).create_in_process()?;
/// let mut producer = ring.producer()?;
///
/// let mut claim = producer.claim()?;
/// assert_eq!(claim.sequence(), 0);
/// claim.id = 7; // the fields of the slot itself, in place
/// claim.qty = 100;
/// claim.price = 250;
/// claim.commit();
///
/// // Dropped without commit (here, with no later claim), a claim is given back unpublished.
/// let claim = producer.claim()?;
/// drop(claim);
///
/// let mut consumer = ring.consumer(0)?;
/// let batch = consumer.try_consume();
/// assert_eq!(batch.iter().map(|order| (order.id, order.qty)).collect::<Vec<_>>(), [(7, 100)]);
/// batch.commit();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a claim dropped without commit() is given back (or published zero-filled when \
              later claims exist): write the slot and commit it"]
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
        let ring = &self.0.producer.state.ring;
        // SAFETY: `Ring::slot` points at a slot of the ring (`Ring::index` is `< capacity`);
        // the slot is claimed by this guard, so no producer writes it and no consumer reads it
        // until it is published.
        unsafe { &*ring.slot::<T>(ring.index(self.0.start)) }
    }
}

impl<T: Slot> DerefMut for Claim<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        let ring = &self.0.producer.state.ring;
        // SAFETY: as in `deref`; `&mut self` makes this the only reference through the guard.
        unsafe { &mut *ring.slot::<T>(ring.index(self.0.start)) }
    }
}

/// `write` applied to a claimed slot, then committed (the `publish` calls): its sequence.
#[inline(always)]
fn written<T: Slot>(mut claim: Claim<'_, T>, write: impl FnOnce(&mut T)) -> u64 {
    write(&mut claim);
    let sequence = claim.sequence();
    claim.commit();
    sequence
}

/// `write(i, slot)` applied to each slot of a claimed batch, then committed: its range.
#[inline(always)]
fn batch_written<T: Slot>(
    mut batch: ClaimBatch<'_, T>,
    mut write: impl FnMut(usize, &mut T),
) -> Range<u64> {
    batch.iter_mut().enumerate().for_each(|(i, slot)| write(i, slot));
    let range = batch.range();
    batch.commit();
    range
}
