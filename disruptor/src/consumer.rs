//! Consumers: read published slots in place, in batches, and commit what was read.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::asynch::{AsyncWait, Line};
use crate::error::{AttachError, ConsumeError};
use crate::protocol::consume::ConsumerState;
use crate::protocol::wait::deadline_after;
use crate::protocol::Core;
use crate::{Disruptor, Slot, WaitStrategy};

/// A blocking consume lingers longer next time while the batches it finds (without waiting) are
/// smaller than this (or than half the ring, if smaller), and shorter once they are this big.
const LINGER_BATCH: u64 = 4096;
/// A blocking consume lingers longer next time only if the messages it found number at least
/// this many per spin-loop hint it paused (counting at least one hint): only a producer that
/// publishes a message every few nanoseconds is slowed down by our polls.
const LINGER_RATE: u64 = 4;
/// The longest linger, in spin-loop hints (9 to 40 ns each on current x86 cores: 2 to 10 µs).
/// With the `seed` benchmark's consumer (a few nanoseconds per batch of checks), 64 left it
/// close enough behind the producer to share their slot lines: 0.4x the `disruptor` crate, where
/// 256 (and batches of up to 4,096) reach 1.4x; 1,024 gains nothing more.
const LINGER_MAX_SPINS: u32 = 256;

/// Waits `spins` spin-loop hints before polling the cursor again. Each poll pulls the cursor's
/// cache line (and the slot line being written) away from the producer, whose next store then
/// waits for it; a consumer that polls as soon as it has read a handful of messages makes the
/// producer pay that for every handful. Pausing first lets the batch grow.
#[inline(always)]
fn linger(spins: u32) {
    for _ in 0..spins {
        core::hint::spin_loop();
    }
}

/// The batch size from which a consumer of a ring of `capacity` slots is behind:
/// [`LINGER_BATCH`], or half the ring if that is smaller (a batch is at most the capacity).
fn linger_batch(capacity: u64) -> u64 {
    LINGER_BATCH.min(capacity / 2).max(1)
}

/// The linger (in spin-loop hints) before the next blocking consume, after one that lingered
/// `current` and then found `available` messages (0: it had to wait for them), `fresh` of which
/// were published since the previous poll (the rest were delivered before and not committed).
/// Batches of `big` or more mean the consumer is behind; 0 turns lingering off.
#[inline(always)]
fn next_linger(current: u32, available: u64, fresh: u64, big: u64) -> u32 {
    if available == 0 {
        // The consumer is ahead of the producers: poll as eagerly as the strategy allows.
        0
    } else if available < big && fresh >= LINGER_RATE * u64::from(current.max(1)) {
        // Small batches that were there at once, and that a pause fills at a rate of at least
        // `LINGER_RATE` messages per spin-loop hint: a saturated producer is paying for our
        // polls. Pause longer before the next one.
        (current * 2).clamp(1, LINGER_MAX_SPINS)
    } else {
        // Big batches or old messages (we are behind: pausing would only slow us), a sparse
        // stream (pausing only adds latency), or lingering is off.
        current / 2
    }
}

/// The owner of one consumer index: reads every message published after its sequence.
///
/// Each consumer index has its own sequence in the segment; a consumer sees
/// `[its sequence, bound)`, where bound is the producers' cursor, or, for a pipeline stage, the
/// slowest of the stages it depends on. Producers never overwrite a slot that a consumer they wait
/// for has not committed. Only one live handle owns an index at a time, across all processes;
/// the ownership ends when the handle drops (or its process dies), and the next owner resumes
/// from the committed sequence.
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{ConsumeError, Disruptor};
///
/// let ring = Disruptor::<u64>::builder("readers").capacity(16).consumers(2).create_in_process()?;
/// ring.producer()?.publish_batch(3, |i, slot| *slot = i as u64 * 10)?;
///
/// // Each consumer index reads every message.
/// let mut first = ring.consumer(0)?;
/// let mut second = ring.consumer(1)?;
/// let batch = first.try_consume(); // never waits; may be empty
/// assert_eq!(batch.range(), 0..3);
/// batch.commit();
/// assert_eq!(first.sequence(), 3);
/// let batch = second.consume_timeout(Duration::from_secs(5))?; // waits for one message at least
/// assert_eq!(batch.iter().sum::<u64>(), 30);
/// batch.commit();
///
/// // Nothing new: a blocking consume times out.
/// let waited = first.consume_timeout(Duration::from_millis(1)).map(|batch| batch.len());
/// assert_eq!(waited, Err(ConsumeError::Timeout));
///
/// // One handle per index at a time, across all processes; the next owner resumes where the
/// // last one committed.
/// assert!(ring.consumer(0).is_err());
/// drop(first);
/// assert_eq!(ring.consumer(0)?.sequence(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer<T: Slot> {
    ring: Disruptor<T>,
    state: ConsumerState,
    wait: WaitStrategy,
    /// Spin-loop hints to pause before the next poll of a blocking consume (see
    /// [`Consumer::set_linger`]).
    linger: u32,
    /// Blocking consumes linger only after batches smaller than this (`linger_batch`); 0 when
    /// lingering is off.
    linger_batch: u64,
    /// The end of what the last blocking consume found (to tell fresh messages from old ones).
    seen: u64,
}

impl<T: Slot> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("ring", &self.ring.name())
            .field("index", &self.state.index)
            .field("sequence", &self.state.sequence)
            .field("wait", &self.wait)
            .finish()
    }
}

impl<T: Slot> Consumer<T> {
    pub(crate) fn attach(ring: Disruptor<T>, index: usize) -> Result<Consumer<T>, AttachError> {
        let count = ring.consumer_count();
        if index >= count {
            return Err(AttachError::ConsumerOutOfRange { index, count });
        }
        ring.shared.check_size()?;
        let state = ConsumerState::attach(ring.core(), index)?;
        let (wait, capacity, sequence) = (ring.wait, state.ring.capacity, state.sequence);
        Ok(Consumer {
            ring,
            state,
            wait,
            linger: 0,
            linger_batch: linger_batch(capacity),
            seen: sequence,
        })
    }

    fn core(&self) -> &Core {
        &self.ring.shared.core
    }

    /// The ring this consumer reads.
    pub fn ring(&self) -> &Disruptor<T> {
        &self.ring
    }

    /// This consumer's index.
    pub fn index(&self) -> usize {
        self.state.index
    }

    /// The committed sequence: the next message this consumer will read.
    pub fn sequence(&self) -> u64 {
        self.state.sequence
    }

    /// Sets how blocking calls wait for data.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.wait = strategy;
    }

    /// The wait strategy of blocking calls.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.wait
    }

    /// Whether blocking consumes ([`consume`](Self::consume),
    /// [`consume_timeout`](Self::consume_timeout)) may *linger*: on by default.
    ///
    /// Every poll of the cursor takes its cache line, and the slot line being written, away from
    /// the producer, whose next stores then wait for them. A consumer that reads each message as
    /// soon as it is published, a few at a time, makes a saturated producer pay that transfer
    /// every few messages, and one that keeps close behind it shares the slot lines it is
    /// writing. So when a blocking consume finds fewer than 4,096 messages (or half the ring, if
    /// that is fewer) without waiting, and at least 4 fresh ones per spin-loop hint it paused (4
    /// if it did not pause), the next one first pauses twice as long: 1, 2, 4, ... up to 256
    /// spin-loop hints (a spin-loop hint takes 9 to 40 ns on current x86 cores, so 2 to 10 µs).
    /// Bigger batches, messages already delivered but not committed, or a sparser stream halve
    /// the pause; a consume that has to wait resets it. On the `seed` benchmark (one claim per
    /// message) this makes the pair 3 to 12 times faster than without lingering.
    ///
    /// What it costs: a consume that had to wait for its messages never lingers, so
    /// request-reply traffic and any stream slower than a few messages per spin-loop hint (about
    /// one every 6 ns here) see no added latency (the `pingpong` benchmark is unchanged). In a
    /// dense stream, a message can be seen up to one pause later. Turn it off for the lowest
    /// latency on dense bursts (the last messages of a burst can wait up to the longest pause). [`try_consume`](Self::try_consume) never lingers.
    pub fn set_linger(&mut self, linger: bool) {
        self.linger_batch = if linger { linger_batch(self.state.ring.capacity) } else { 0 };
        if !linger {
            self.linger = 0;
        }
    }

    /// Number of messages readable now, at most the capacity (whatever a corrupt peer wrote).
    #[inline(always)]
    fn available(&self) -> u64 {
        self.state.available(&self.ring.shared.core)
    }

    fn batch(&mut self, available: u64) -> Batch<'_, T> {
        let start = self.state.sequence;
        Batch { consumer: self, start, end: start + available }
    }

    /// Everything published and not yet consumed by this consumer, possibly nothing; never waits.
    #[inline]
    pub fn try_consume(&mut self) -> Batch<'_, T> {
        let available = self.available();
        self.batch(available)
    }

    /// Everything published and not yet consumed, waiting (per the wait strategy) until there is
    /// at least one message, as long as it takes. Never returns an empty batch, and cannot fail
    /// ([`consume_timeout`](Self::consume_timeout) gives up after a while).
    #[inline]
    pub fn consume(&mut self) -> Batch<'_, T> {
        match self.consume_until(None) {
            Ok(batch) => batch,
            // Without a deadline the wait never gives up, and it is not an async wait.
            Err(_) => consume_failed(),
        }
    }

    /// Like [`consume`](Self::consume), but gives up with [`ConsumeError::Timeout`] after
    /// `timeout`.
    pub fn consume_timeout(&mut self, timeout: Duration) -> Result<Batch<'_, T>, ConsumeError> {
        self.consume_until(deadline_after(timeout))
    }

    #[inline(always)]
    fn consume_until(&mut self, deadline: Option<Instant>) -> Result<Batch<'_, T>, ConsumeError> {
        linger(self.linger);
        let mut available = self.available();
        let end = self.state.sequence + available;
        let fresh = end.saturating_sub(self.seen.max(self.state.sequence));
        self.seen = end;
        self.linger = next_linger(self.linger, available, fresh, self.linger_batch);
        if available == 0 {
            available = self.wait_for_data(deadline)?;
        }
        Ok(self.batch(available))
    }

    /// The slow path of a blocking consume: wait per the strategy until something is visible.
    #[cold]
    #[inline(never)]
    fn wait_for_data(&self, deadline: Option<Instant>) -> Result<u64, ConsumeError> {
        self.state.wait_for_data(self.core(), self.wait, deadline).ok_or(ConsumeError::Timeout)
    }

    /// Everything published and not yet consumed, as a future that completes when there is at
    /// least one message (the seed's `consumeNew` promise). Works with any executor; the
    /// executor thread is never busy-polled (see the `asynch` module), and a future dropped
    /// before it completes leaves nothing registered behind. For a deadline, wrap it in your
    /// executor's timeout. Fails only with [`ConsumeError::AsyncUnavailable`], when it had to
    /// wait and the ring's watcher thread could not be started.
    pub async fn consume_async(&mut self) -> Result<Batch<'_, T>, ConsumeError> {
        let shared = Arc::clone(&self.ring.shared);
        let (index, sequence) = (self.state.index, self.state.sequence);
        let mut wait = AsyncWait::default();
        let available = std::future::poll_fn(|cx| {
            wait.poll(
                &shared,
                Line::Data,
                cx,
                || Some(self.available()).filter(|&n| n > 0),
                move |core| core.visible_bound(index) > sequence,
            )
        })
        .await
        .map_err(ConsumeError::AsyncUnavailable)?;
        Ok(self.batch(available))
    }

    #[inline(always)]
    fn commit_to(&mut self, end: u64) {
        self.state.commit_to(end);
    }

    /// The seed's `release(true)`: marks this consumer as ignored. Producers no longer wait for it;
    /// when every consumer they wait for is released, claims fail with
    /// [`ClaimError::NoConsumers`](crate::ClaimError::NoConsumers) instead of waiting: a claim
    /// that starts after `release` returns sees it. A released pipeline stage is replaced by the
    /// stages it follows: producers (and the stages after it) then wait for those instead.
    /// The index cannot be consumed from again.
    pub fn release(self) {
        self.state.release(self.core());
        // The ownership is let go by Drop.
    }
}

impl<T: Slot> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.state.detach(&self.ring.shared.core);
    }
}

/// Published messages read in place: `[start, start + len)` of the ring.
///
/// [`commit`](Self::commit) tells producers the slots may be reused. **Dropped without commit**,
/// the batch is delivered again by the next consume.
///
/// ```
/// use shm_disruptor::Disruptor;
///
/// let ring = Disruptor::<u32>::builder("batch").capacity(8).consumers(1).create_in_process()?;
/// ring.producer()?.publish_batch(5, |i, slot| *slot = i as u32)?;
/// let mut consumer = ring.consumer(0)?;
///
/// // Dropped without commit: delivered again.
/// let batch = consumer.try_consume();
/// assert_eq!(batch.len(), 5);
/// drop(batch);
///
/// // Committing part of a batch: the rest is delivered again.
/// let batch = consumer.try_consume();
/// assert_eq!(batch.range(), 0..5);
/// batch.commit_first(2);
///
/// let batch = consumer.try_consume();
/// assert_eq!(batch.start(), 2);
/// // The messages in place in the ring, in two parts when the batch wraps around its end.
/// let (up_to_the_end, from_the_start) = batch.slices();
/// assert_eq!(up_to_the_end, [2, 3, 4]);
/// assert!(from_the_start.is_empty());
/// assert!(batch.abandoned().is_empty()); // no producer died holding these slots
/// batch.commit();
/// assert!(consumer.try_consume().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a batch dropped without commit() is delivered again by the next consume: \
              read it and commit it (or commit_first(n))"]
pub struct Batch<'a, T: Slot> {
    consumer: &'a mut Consumer<T>,
    start: u64,
    end: u64,
}

impl<T: Slot> fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").field("range", &(self.start..self.end)).finish()
    }
}

impl<'a, T: Slot> Batch<'a, T> {
    /// The sequence of the first message.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The sequences in this batch.
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether there are no messages (only from `try_consume`).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The messages: the part up to the end of the ring, then the part from its start (empty
    /// unless the batch wraps).
    #[inline]
    pub fn slices(&self) -> (&[T], &[T]) {
        let ring = &self.consumer.state.ring;
        let (index, first, wrapped) = ring.halves(self.start, self.end - self.start);
        let slots = ring.slot::<T>(0).cast_const();
        // SAFETY: `Ring::halves` keeps both parts inside the slot region of `capacity` aligned
        // `T` values; every bit pattern is a valid `T` (`Slot`). Producers do not write these
        // slots until we commit past them (the gating protocol).
        unsafe {
            (
                std::slice::from_raw_parts(slots.add(index), first),
                std::slice::from_raw_parts(slots, wrapped),
            )
        }
    }

    /// The messages in sequence order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        let (a, b) = self.slices();
        a.iter().chain(b.iter())
    }

    /// The parts of this batch that were committed as *abandoned*: claims whose producer died
    /// (or dropped them behind a later claim), published zero-filled so the ring could go on.
    /// Usually empty; only the last 32 abandoned ranges are remembered.
    pub fn abandoned(&self) -> Vec<Range<u64>> {
        crate::protocol::ownership::abandoned_within(
            self.consumer.core().ring.abandoned_log(),
            self.range(),
        )
    }

    /// Marks every message of the batch as consumed.
    #[inline(always)]
    pub fn commit(self) {
        if self.end != self.start {
            self.consumer.commit_to(self.end);
        }
    }

    /// Marks the first `n` messages as consumed (`n <= len()`); the rest are delivered again.
    ///
    /// # Panics
    /// If `n > len()`.
    pub fn commit_first(self, n: usize) {
        assert!(n <= self.len(), "commit_first({n}) of a batch of {}", self.len());
        if n > 0 {
            self.consumer.commit_to(self.start + n as u64);
        }
    }
}

/// A consumer that may modify the slots it reads (LMAX's enrich-in-place pattern): a pipeline
/// stage that every other consumer either follows or precedes, so no other stage can see its
/// slots at the same time. Get one with [`Disruptor::exclusive_consumer`]; it derefs to
/// [`Consumer`] for everything else.
///
/// ```
/// use shm_disruptor::Disruptor;
/// # let name = format!("/doc-exclusive-{}", std::process::id());
/// // 0 decodes in place, 1 reads what 0 wrote.
/// let ring = Disruptor::<[u32; 2]>::builder(&name).capacity(8).consumers(2).depends_on(1, &[0]).create()?;
/// ring.producer()?.claim()?.commit();
/// let mut decoder = ring.exclusive_consumer(0)?;
/// let mut batch = decoder.consume_mut();
/// batch.iter_mut().for_each(|v| v[1] = 42);
/// batch.commit();
/// assert_eq!(ring.consumer(1)?.consume().iter().next(), Some(&[0, 42]));
/// // Two parallel stages could read the same slot at once: neither may write it.
/// # drop(ring);
/// # shm_disruptor::unlink(&name)?;
/// let ring = Disruptor::<u32>::builder(&name).capacity(8).consumers(2).create()?;
/// assert!(ring.exclusive_consumer(0).is_err());
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ExclusiveConsumer<T: Slot>(Consumer<T>);

impl<T: Slot> fmt::Debug for ExclusiveConsumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExclusiveConsumer").field(&self.0).finish()
    }
}

impl<T: Slot> Disruptor<T> {
    /// The consumer handle for `index`, which this process then owns until the handle drops.
    /// It starts at the consumer's committed sequence (0 for a new ring).
    pub fn consumer(&self, index: usize) -> Result<Consumer<T>, AttachError> {
        Consumer::attach(self.clone(), index)
    }

    /// The consumer for `index`, with write access to the slots it reads. Refused with
    /// [`AttachError::NotExclusive`] when another consumer may read the same slots concurrently
    /// (neither depends on the other, directly or through other stages).
    pub fn exclusive_consumer(&self, index: usize) -> Result<ExclusiveConsumer<T>, AttachError> {
        let count = self.consumer_count();
        if index >= count {
            return Err(AttachError::ConsumerOutOfRange { index, count });
        }
        let graph = self.core().graph.lists();
        if let Some(concurrent) = crate::graph::concurrent_with(&graph, index) {
            return Err(AttachError::NotExclusive { index, concurrent });
        }
        Ok(ExclusiveConsumer(self.consumer(index)?))
    }
}

impl<T: Slot> std::ops::Deref for ExclusiveConsumer<T> {
    type Target = Consumer<T>;
    fn deref(&self) -> &Consumer<T> {
        &self.0
    }
}

impl<T: Slot> std::ops::DerefMut for ExclusiveConsumer<T> {
    fn deref_mut(&mut self) -> &mut Consumer<T> {
        &mut self.0
    }
}

/// The impossible failure of [`Consumer::consume`], out of line so that it costs the inlined
/// consume nothing.
#[cold]
#[inline(never)]
fn consume_failed() -> ! {
    unreachable!("a consume without a deadline cannot time out")
}

impl<T: Slot> ExclusiveConsumer<T> {
    /// Like [`Consumer::consume`], with the messages writable in place.
    pub fn consume_mut(&mut self) -> BatchMut<'_, T> {
        BatchMut(self.0.consume())
    }

    /// Like [`Consumer::consume_timeout`], with the messages writable in place.
    pub fn consume_mut_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<BatchMut<'_, T>, ConsumeError> {
        self.0.consume_timeout(timeout).map(BatchMut)
    }

    /// Like [`Consumer::try_consume`], with the messages writable in place.
    pub fn try_consume_mut(&mut self) -> BatchMut<'_, T> {
        BatchMut(self.0.try_consume())
    }
}

/// A [`Batch`] whose messages its (exclusive) consumer may modify before committing; the stages
/// that follow see the modified values. Derefs to [`Batch`].
///
/// ```
/// use shm_disruptor::Disruptor;
///
/// // Stage 0 fills in the second half of each message; stage 1 reads the result.
/// let ring = Disruptor::<[u32; 2]>::builder("enrich")
///     .capacity(8)
///     .consumers(2)
///     .depends_on(1, &[0])
///     .create_in_process()?;
/// ring.producer()?.publish_batch(3, |i, slot| *slot = [i as u32, 0])?;
///
/// let mut enricher = ring.exclusive_consumer(0)?;
/// let mut batch = enricher.try_consume_mut();
/// assert_eq!(batch.len(), 3); // everything `Batch` offers, through `Deref`
/// for pair in batch.iter_mut() {
///     pair[1] = pair[0] * 10;
/// }
/// batch.commit(); // stage 1 sees the messages now, as modified
///
/// let mut reader = ring.consumer(1)?;
/// let batch = reader.try_consume();
/// assert!(batch.iter().eq(&[[0, 0], [1, 10], [2, 20]]));
/// batch.commit();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a batch dropped without commit() is delivered again by the next consume: \
              modify it and commit it"]
pub struct BatchMut<'a, T: Slot>(Batch<'a, T>);

impl<T: Slot> fmt::Debug for BatchMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BatchMut").field(&self.0.range()).finish()
    }
}

impl<'a, T: Slot> std::ops::Deref for BatchMut<'a, T> {
    type Target = Batch<'a, T>;
    fn deref(&self) -> &Batch<'a, T> {
        &self.0
    }
}

impl<T: Slot> BatchMut<'_, T> {
    /// The messages, writable: the part up to the end of the ring, then the part from its start.
    pub fn slices_mut(&mut self) -> (&mut [T], &mut [T]) {
        let batch = &self.0;
        let ring = &batch.consumer.state.ring;
        let (index, first, wrapped) = ring.halves(batch.start, batch.end - batch.start);
        // From the ring's own pointer, not from `Batch::slices`: writing through a pointer
        // derived from a `&[T]` is undefined behaviour (Miri reports it).
        let slots = ring.slot::<T>(0);
        // The slices lie inside the slot region (see `Batch::slices`) and do not
        // overlap. `ExclusiveConsumer` exists only for a consumer that every other consumer
        // follows or precedes: the stages it follows have committed past these slots and no
        // longer read them, the stages that follow it and the producers (which wait for the last
        // stages) do not touch them until we commit, so this is the only access; `&mut self`
        // makes it the only one through this batch.
        // SAFETY: in bounds, disjoint, and this exclusive stage's only access (see above).
        unsafe {
            (
                std::slice::from_raw_parts_mut(slots.add(index), first),
                std::slice::from_raw_parts_mut(slots, wrapped),
            )
        }
    }

    /// The messages in sequence order, writable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        let (a, b) = self.slices_mut();
        a.iter_mut().chain(b.iter_mut())
    }

    /// Marks every message as consumed: the stages that follow now see them, as modified.
    pub fn commit(self) {
        self.0.commit()
    }

    /// Marks the first `n` messages as consumed.
    ///
    /// # Panics
    /// If `n > len()`.
    pub fn commit_first(self, n: usize) {
        self.0.commit_first(n)
    }
}

/// Why [`Consumer::forward_to`] stopped.
///
/// Either side's error, wrapped: a failed consume forwarded nothing; a failed claim stopped
/// part-way, with what was forwarded before it committed on both sides, and the rest of the
/// source batch delivered again by the next consume.
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{ClaimError, ConsumeError, Disruptor, ForwardError};
///
/// let raw = Disruptor::<u32>::builder("raw").capacity(8).consumers(1).create_in_process()?;
/// let scaled = Disruptor::<u64>::builder("scaled").capacity(2).consumers(1).create_in_process()?;
/// raw.producer()?.publish_batch(3, |i, slot| *slot = i as u32)?;
/// let (mut source, mut destination) = (raw.consumer(0)?, scaled.producer()?);
///
/// let timeout = Duration::from_millis(10);
/// match source.forward_to(&mut destination, timeout, |a, b| *b = u64::from(*a) * 1000) {
///     Ok(n) => println!("forwarded {n}"),
///     // Nothing arrived in the source ring within the timeout.
///     Err(ForwardError::Consume(ConsumeError::Timeout)) => println!("idle"),
///     // The destination stayed full: its consumers are behind. Call again later.
///     Err(ForwardError::Claim(ClaimError::Timeout)) => println!("destination full"),
///     // Every consumer of the destination was released: nobody will read it. Stop.
///     Err(ForwardError::Claim(ClaimError::NoConsumers)) => println!("destination abandoned"),
///     Err(other) => return Err(other.into()),
/// }
/// // Here the destination held 2 of the 3: those 2 were forwarded and committed in the source.
/// assert_eq!(source.sequence(), 2);
/// assert_eq!(scaled.cursor(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// Consuming from the source ring failed.
    #[error("consuming from the source ring: {0}")]
    Consume(#[from] ConsumeError),
    /// Claiming in the destination ring failed.
    #[error("claiming in the destination ring: {0}")]
    Claim(#[from] crate::ClaimError),
}

impl<A: Slot> Consumer<A> {
    /// Typed chaining across rings: takes the next batch of `A`s (waiting per the wait strategy,
    /// at most `timeout`), and for each one fills a slot of `B` in `producer`'s ring with
    /// `map(&a, &mut b)`, claiming as many slots at once as the batch holds (in as few claims as
    /// the destination's free room allows), commits them, then commits the batch. Returns the
    /// number of messages forwarded. On error, the messages forwarded so far are committed and
    /// the rest of the batch is delivered again.
    pub fn forward_to<B: Slot>(
        &mut self,
        producer: &mut crate::Producer<B>,
        timeout: Duration,
        mut map: impl FnMut(&A, &mut B),
    ) -> Result<usize, ForwardError> {
        let batch = self.consume_timeout(timeout)?;
        // No deadline when `timeout` cannot be represented (`Duration::MAX`).
        let deadline = deadline_after(timeout);
        let mut done = 0;
        let failed = {
            let mut sources = batch.iter();
            loop {
                let remaining = batch.len() - done;
                if remaining == 0 {
                    break None;
                }
                let left =
                    deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
                match producer.claim_available_timeout(remaining, left) {
                    Ok(mut claim) => {
                        for (target, source) in claim.iter_mut().zip(&mut sources) {
                            map(source, target);
                        }
                        done += claim.len();
                        claim.commit();
                    }
                    Err(e) => break Some(e),
                }
            }
        };
        // Commit what was forwarded, so that a retry does not forward it twice.
        batch.commit_first(done);
        match failed {
            None => Ok(done),
            Some(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{linger_batch, next_linger, LINGER_BATCH, LINGER_MAX_SPINS};

    #[test]
    fn linger_grows_while_a_saturated_producer_fills_small_batches() {
        let mut spins = 0;
        let mut seen = Vec::new();
        for rate in [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 20, 20] {
            // `rate` fresh messages per spin-loop hint paused (counting at least one).
            let found = u64::from(spins.max(1)) * rate;
            spins = next_linger(spins, found, found, LINGER_BATCH);
            seen.push(spins);
        }
        // It doubles up to the cap and stays there (256 * 5 < LINGER_BATCH); a batch of
        // LINGER_BATCH or more (256 * 20) halves it.
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 64, 128, 256, 256, 256, 128, 256]);
        assert_eq!((LINGER_MAX_SPINS, LINGER_BATCH), (256, 4096));
    }

    #[test]
    fn linger_resets_on_a_wait_and_halves_when_behind_or_sparse() {
        assert_eq!(
            next_linger(64, 0, 0, LINGER_BATCH),
            0,
            "a consume that waited polls eagerly next"
        );
        assert_eq!(next_linger(16, 4096, 4096, LINGER_BATCH), 8, "a big batch: we are behind");
        assert_eq!(next_linger(16, 4095, 4095, LINGER_BATCH), 32);
        assert_eq!(next_linger(16, 100, 0, LINGER_BATCH), 8, "old messages only: we are behind");
        assert_eq!(next_linger(16, 63, 63, LINGER_BATCH), 8, "under 4 per hint: a slower stream");
        assert_eq!(next_linger(16, 64, 64, LINGER_BATCH), 32);
        assert_eq!(next_linger(0, 3, 3, LINGER_BATCH), 0, "one message at a time never lingers");
        assert_eq!(next_linger(0, 4, 4, LINGER_BATCH), 1);
    }

    #[test]
    fn a_full_small_ring_counts_as_behind() {
        assert_eq!((linger_batch(65_536), linger_batch(256), linger_batch(1)), (4096, 128, 1));
        // A consumer of a 256-slot ring facing 128 or more messages is behind.
        assert_eq!(next_linger(16, 128, 128, linger_batch(256)), 8);
        assert_eq!(next_linger(16, 127, 127, linger_batch(256)), 32);
    }

    #[test]
    fn no_linger_when_turned_off() {
        assert_eq!(next_linger(0, 4, 4, 0), 0);
        assert_eq!(next_linger(8, 100, 100, 0), 4);
    }
}
