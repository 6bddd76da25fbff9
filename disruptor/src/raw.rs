//! Untyped access to a ring: slots as bytes, for code that knows a ring's slot type only from
//! the schema recorded in its header (bridges, recorders, generic tools).
//!
//! A [`RawRing`] opens any ring by name ([`RawRing::open`]), or one whose header must hold a
//! given schema ([`RawRing::open_expecting`]), or creates one from a schema received from
//! elsewhere ([`RawRing::create`]); [`RawRing::from_typed`] shares the mapping of a typed
//! [`Disruptor`]. Its handles are the typed ones with bytes instead of `T`s:
//!
//! - [`RawConsumer`] owns a consumer index and hands out [`RawBatch`]es: the published slots
//!   as `&[u8]` (two slices when the batch wraps around the end of the ring), committed with
//!   [`RawBatch::commit`] or [`RawBatch::commit_first`].
//! - [`RawProducer`] claims slots as a [`RawClaim`]: `&mut [u8]` (two slices on wrap), written
//!   in place and committed with [`RawClaim::commit`].
//!
//! Every slice holds whole slots: its length is a multiple of [`RawRing::slot_size`]. The bytes
//! are the slots' memory in place: what a typed producer wrote (`T`'s bytes, native byte order,
//! no padding) is what a raw consumer reads, and a typed consumer reads what a raw producer
//! wrote as `T` (every bit pattern of a `Slot` type is a valid value). A raw ring follows the
//! same protocol as a typed one, with the same guarantees, in any mix of processes.
//!
//! ```
//! use shm_disruptor::raw::{RawRing, RawSchema};
//! use shm_disruptor::Disruptor;
//!
//! let typed = Disruptor::<u32>::builder("raw").capacity(8).consumers(1).create_in_process()?;
//! let raw = RawRing::from_typed(&typed);
//! assert_eq!((raw.slot_size(), raw.schema().hash), (4, RawSchema::of::<u32>().hash));
//!
//! // Claim 3 slots as bytes, write them, commit them.
//! let mut producer = raw.producer()?;
//! let mut claim = producer.try_claim_many(3)?;
//! let bytes: Vec<u8> = [7u32, 8, 9].iter().flat_map(|v| v.to_ne_bytes()).collect();
//! claim.copy_from_slice(&bytes);
//! claim.commit();
//!
//! // A typed consumer reads them as u32s; a raw one would get the same 12 bytes.
//! let mut consumer = typed.consumer(0)?;
//! assert!(consumer.try_consume().iter().copied().eq([7, 8, 9]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::asynch::{AsyncWait, Line};
use crate::error::{AttachError, ClaimError, ConsumeError, OpenError};
use crate::protocol::claim::ProducerState;
use crate::protocol::consume::ConsumerState;
use crate::protocol::policy::Policy;
use crate::protocol::wait::deadline_after;
use crate::protocol::Core;
use crate::ring::{Shared, DEFAULT_WAIT};
use crate::shm::{self, ProducerMode};
use crate::{Disruptor, SchemaTable, Slot, WaitStrategy};

/// A slot type described by what a ring's header records: its schema as a field table
/// ([`SchemaTable`]), and what follows from it: the schema hash, the type name, its readable
/// description (as [`Schema`](crate::Schema)'s `Display` writes it), size and alignment. What
/// the typed API checks with `T::SCHEMA`, the raw API checks with this.
///
/// ```
/// use shm_disruptor::raw::RawSchema;
/// use shm_disruptor::{SchemaTable, Slot};
/// let schema = RawSchema::of::<[u16; 3]>();
/// assert_eq!((schema.size, schema.align), (6, 2));
/// assert_eq!(schema.text, "[u16; 3] size 6 align 2");
/// // The same, from a table received from elsewhere (its bytes, decoded).
/// let bytes = SchemaTable::of(&<[u16; 3]>::SCHEMA).encode();
/// assert_eq!(RawSchema::from_table(SchemaTable::decode(&bytes)?), schema);
/// # Ok::<(), shm_disruptor::SchemaTableError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSchema {
    /// The schema hash ([`Schema::hash`](crate::Schema::hash)).
    pub hash: u64,
    /// The type name (`Tick`, `u64`, `[u8; 3]`).
    pub type_name: String,
    /// The schema's description, e.g. `Tick { price: f64 @0, qty: u32 @8 } size 16 align 8`.
    pub text: String,
    /// Bytes per slot.
    pub size: usize,
    /// The slot type's alignment.
    pub align: usize,
    /// The schema as a field table: what a ring's header records.
    pub table: SchemaTable,
}

impl RawSchema {
    /// The schema of the slot type `T`.
    pub fn of<T: Slot>() -> RawSchema {
        RawSchema::from_table(SchemaTable::of(&T::SCHEMA))
    }

    /// The schema a table describes (a table decoded from a header, a recording or a peer).
    pub fn from_table(table: SchemaTable) -> RawSchema {
        RawSchema {
            hash: table.hash(),
            type_name: table.type_name(),
            text: table.to_string(),
            size: table.size() as usize,
            align: table.align() as usize,
            table,
        }
    }

    /// `Ok` when `found` (another ring's or peer's schema) is this one; otherwise the
    /// [`OpenError::SchemaMismatch`] (both descriptions and the fields that differ) or
    /// [`OpenError::SlotLayoutMismatch`] that a typed open of `name` would give, with this
    /// schema as "this process".
    ///
    /// ```
    /// use shm_disruptor::raw::RawSchema;
    /// let err = RawSchema::of::<u32>().check("/peer", &RawSchema::of::<i32>()).unwrap_err();
    /// assert!(err.to_string().contains("first difference"), "{err}");
    /// ```
    pub fn check(&self, name: &str, found: &RawSchema) -> Result<(), OpenError> {
        if found.hash != self.hash {
            return Err(OpenError::SchemaMismatch {
                name: name.to_owned(),
                expected: self.text.clone(),
                found: found.text.clone(),
                diff: shm::schema_diff(&self.table, &found.table),
            });
        }
        if found.size != self.size || found.align != self.align {
            return Err(OpenError::SlotLayoutMismatch {
                name: name.to_owned(),
                type_name: self.type_name.clone(),
                expected_size: self.size as u64,
                expected_align: self.align as u64,
                found_size: found.size as u64,
                found_align: found.align as u64,
            });
        }
        Ok(())
    }

    /// The schema recorded in a validated header: its table, checked against the header's
    /// hash, size and alignment.
    fn from_header(
        name: &str,
        header: &crate::protocol::layout::Header,
    ) -> Result<RawSchema, OpenError> {
        let table = shm::header_schema_table(header).map_err(|e| OpenError::Corrupt {
            name: name.to_owned(),
            reason: format!("its schema table: {e}"),
        })?;
        Ok(RawSchema::from_table(table))
    }
}

/// A ring opened without a Rust type for its slots: cheap to clone, `Send + Sync`, like
/// [`Disruptor`]. See the [module docs](self).
#[derive(Clone)]
pub struct RawRing {
    shared: Arc<Shared>,
    schema: Arc<RawSchema>,
    wait: WaitStrategy,
}

impl fmt::Debug for RawRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRing")
            .field("name", &self.name())
            .field("type", &self.schema.type_name)
            .field("capacity", &self.capacity())
            .field("consumers", &self.consumer_count())
            .field("cursor", &self.cursor())
            .finish()
    }
}

impl RawRing {
    /// Attaches to an existing ring of any slot type (the header is validated like a typed
    /// open's, except for the schema, which [`schema`](Self::schema) then reports).
    pub fn open(name: &str) -> Result<RawRing, OpenError> {
        Self::open_timeout(name, Duration::ZERO)
    }

    /// Like [`open`](Self::open), but waits up to `timeout` for the ring to be created (as
    /// [`Builder::open_timeout`](crate::Builder::open_timeout) does).
    pub fn open_timeout(name: &str, timeout: Duration) -> Result<RawRing, OpenError> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(100);
        loop {
            match Shared::open_any(name) {
                Ok((shared, header)) => {
                    let schema = Arc::new(RawSchema::from_header(name, &header)?);
                    return Ok(RawRing { shared: Arc::new(shared), schema, wait: DEFAULT_WAIT });
                }
                Err(OpenError::NotFound { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(pause.min(deadline - Instant::now()));
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Attaches to an existing ring whose slots must be `schema` (hash, size and alignment):
    /// otherwise [`OpenError::SchemaMismatch`] with the first differing field, as a typed
    /// [`Disruptor::open`] reports it.
    pub fn open_expecting(name: &str, schema: &RawSchema) -> Result<RawRing, OpenError> {
        let ring = Self::open(name)?;
        schema.check(name, ring.schema())?;
        Ok(ring)
    }

    /// Creates a ring of `capacity` slots of `schema` (which must describe a real slot type:
    /// non-zero size, a power-of-two alignment dividing it) with `consumers` consumer indices
    /// and the default producer mode and records of [`Disruptor::builder`]; fails with
    /// [`OpenError::AlreadyExists`] if the name is taken. A typed process opens it as
    /// `Disruptor<T>` when `schema` is `T`'s: the hash is what it checks.
    pub fn create(
        name: &str,
        schema: &RawSchema,
        capacity: usize,
        consumers: usize,
    ) -> Result<RawRing, OpenError> {
        let invalid = |reason: String| OpenError::InvalidConfig(reason);
        if schema.size == 0 || !schema.align.is_power_of_two() || schema.size % schema.align != 0 {
            return Err(invalid(format!(
                "slots of size {} align {} are not a valid slot type",
                schema.size, schema.align
            )));
        }
        if consumers == 0 || consumers > shm::MAX_CONSUMERS {
            return Err(invalid(format!(
                "a ring has 1..={} consumers, not {consumers}",
                shm::MAX_CONSUMERS
            )));
        }
        let table = &schema.table;
        if (table.hash(), table.size(), table.align())
            != (schema.hash, schema.size as u64, schema.align as u64)
        {
            return Err(invalid(format!(
                "the schema's table describes {table} (hash {:#018x}), not hash {:#018x} size {} \
                 align {}",
                table.hash(),
                schema.hash,
                schema.size,
                schema.align
            )));
        }
        let slot =
            shm::SlotType { hash: schema.hash, table, size: schema.size, align: schema.align };
        let shared = Shared::create_untyped(
            name,
            slot,
            capacity as u64,
            consumers,
            ProducerMode::Multi,
            shm::DEFAULT_PRODUCERS,
        )?;
        Ok(RawRing {
            shared: Arc::new(shared),
            schema: Arc::new(schema.clone()),
            wait: DEFAULT_WAIT,
        })
    }

    /// The same ring as `ring`, untyped: it shares `ring`'s mapping (and its handles follow
    /// the same ownership rules: a consumer index owned by a typed handle is in use for a raw
    /// one too).
    pub fn from_typed<T: Slot>(ring: &Disruptor<T>) -> RawRing {
        RawRing {
            shared: Arc::clone(&ring.shared),
            schema: Arc::new(RawSchema::of::<T>()),
            wait: ring.wait,
        }
    }

    /// The slot type recorded in the header (for [`from_typed`](Self::from_typed), `T`'s).
    pub fn schema(&self) -> &RawSchema {
        &self.schema
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// Bytes per slot: every slice handed out holds a multiple of it.
    pub fn slot_size(&self) -> usize {
        self.shared.geometry().slot_size as usize
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.geometry().capacity as usize
    }

    /// Number of consumer indices.
    pub fn consumer_count(&self) -> usize {
        self.shared.geometry().consumer_count
    }

    /// The published cursor: every sequence below it has been committed.
    pub fn cursor(&self) -> u64 {
        self.core().ring.load_cursor()
    }

    /// The claim sequence: the next sequence a producer will claim (above the cursor while
    /// claims are in flight or pending).
    pub fn claim_sequence(&self) -> u64 {
        self.core().ring.load_claim_sequence()
    }

    /// When the segment was created, in nanoseconds since the Unix epoch, as its header
    /// records it (0 for an in-process ring): with the name, it tells a ring from another one
    /// created later under the same name.
    pub fn creation_time_ns(&self) -> u64 {
        self.shared.creation_time_ns()
    }

    /// Consumer `index`'s committed sequence (`u64::MAX` once released), or `None` when out of
    /// range.
    pub fn consumer_sequence(&self, index: usize) -> Option<u64> {
        (index < self.consumer_count()).then(|| self.core().ring.load_consumer_sequence(index))
    }

    /// Sets the wait strategy that handles made from this one start with.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.wait = strategy;
    }

    /// The consumer handle for `index` (exclusive across processes, like
    /// [`Disruptor::consumer`]); it starts at the index's committed sequence.
    pub fn consumer(&self, index: usize) -> Result<RawConsumer, AttachError> {
        let count = self.consumer_count();
        if index >= count {
            return Err(AttachError::ConsumerOutOfRange { index, count });
        }
        self.shared.check_size()?;
        let state = ConsumerState::attach(self.core(), index)?;
        Ok(RawConsumer { ring: self.clone(), state, wait: self.wait })
    }

    /// A producer handle (the rules of [`Disruptor::producer`]).
    pub fn producer(&self) -> Result<RawProducer, AttachError> {
        self.shared.check_size()?;
        let state = ProducerState::attach(self.core())?;
        Ok(RawProducer {
            ring: self.clone(),
            state,
            wait: self.wait,
            policy: Policy::for_ring(self.name()),
        })
    }

    fn core(&self) -> &Core {
        &self.shared.core
    }
}

/// The owner of one consumer index of a [`RawRing`]; see [`Consumer`](crate::Consumer), whose
/// rules it follows.
pub struct RawConsumer {
    ring: RawRing,
    state: ConsumerState,
    wait: WaitStrategy,
}

impl fmt::Debug for RawConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConsumer")
            .field("ring", &self.ring.name())
            .field("index", &self.state.index)
            .field("sequence", &self.state.sequence)
            .finish()
    }
}

impl RawConsumer {
    /// The ring this consumer reads.
    pub fn ring(&self) -> &RawRing {
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

    fn batch(&mut self, available: u64) -> RawBatch<'_> {
        let start = self.state.sequence;
        RawBatch { consumer: self, start, end: start + available }
    }

    /// Everything published and not yet consumed, possibly nothing; never waits.
    pub fn try_consume(&mut self) -> RawBatch<'_> {
        let available = self.state.available(&self.ring.shared.core);
        self.batch(available)
    }

    /// Everything published and not yet consumed, waiting up to `timeout` for at least one
    /// message ([`ConsumeError::Timeout`] then).
    pub fn consume_timeout(&mut self, timeout: Duration) -> Result<RawBatch<'_>, ConsumeError> {
        let core = &self.ring.shared.core;
        let mut available = self.state.available(core);
        if available == 0 {
            available = self
                .state
                .wait_for_data(core, self.wait, deadline_after(timeout))
                .ok_or(ConsumeError::Timeout)?;
        }
        Ok(self.batch(available))
    }

    /// Everything published and not yet consumed, as a future that completes when there is at
    /// least one message (see [`Consumer::consume_async`](crate::Consumer::consume_async)).
    pub async fn consume_async(&mut self) -> Result<RawBatch<'_>, ConsumeError> {
        let shared = Arc::clone(&self.ring.shared);
        let (index, sequence) = (self.state.index, self.state.sequence);
        let mut wait = AsyncWait::default();
        let state = &self.state;
        let available = std::future::poll_fn(|cx| {
            wait.poll(
                &shared,
                Line::Data,
                cx,
                || Some(state.available(&shared.core)).filter(|&n| n > 0),
                move |core| core.visible_bound(index) > sequence,
            )
        })
        .await
        .map_err(ConsumeError::AsyncUnavailable)?;
        Ok(self.batch(available))
    }

    /// Waits, as a future, until messages beyond sequence `end` are published, without
    /// consuming anything: for a consumer that holds messages it has read but not committed
    /// (such as a bridge's exporter, which commits only what its importers acknowledged) and
    /// wants to learn of newer ones, where [`consume_async`](Self::consume_async) would complete
    /// at once. Returns how many messages are then readable from this consumer's sequence.
    /// Fails only with [`ConsumeError::AsyncUnavailable`], as `consume_async`.
    ///
    /// ```
    /// # use shm_disruptor::{raw::RawRing, Disruptor};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let typed = Disruptor::<u32>::builder("beyond").capacity(8).consumers(1).create_in_process()?;
    /// let raw = RawRing::from_typed(&typed);
    /// let mut consumer = raw.consumer(0)?;
    /// let mut producer = typed.producer()?;
    /// producer.publish(|slot| *slot = 1)?;
    /// producer.publish(|slot| *slot = 2)?;
    /// // Two messages are readable, none committed: waiting beyond the first completes at once.
    /// assert_eq!(consumer.wait_beyond_async(1).await?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_beyond_async(&mut self, end: u64) -> Result<u64, ConsumeError> {
        let shared = Arc::clone(&self.ring.shared);
        let (index, sequence) = (self.state.index, self.state.sequence);
        let mut wait = AsyncWait::default();
        let state = &self.state;
        std::future::poll_fn(|cx| {
            wait.poll(
                &shared,
                Line::Data,
                cx,
                || {
                    let available = state.available(&shared.core);
                    (sequence + available > end).then_some(available)
                },
                move |core| core.visible_bound(index) > end,
            )
        })
        .await
        .map_err(ConsumeError::AsyncUnavailable)
    }

    /// Waits, blocking per this consumer's wait strategy, up to `timeout` until messages
    /// beyond sequence `end` are published, without consuming anything: the blocking form of
    /// [`wait_beyond_async`](Self::wait_beyond_async), for a consumer on a thread of its own
    /// (a futex wake reaches it directly, with no watcher thread in between). Returns how many
    /// messages are then readable from this consumer's sequence; [`ConsumeError::Timeout`]
    /// when none beyond `end` came in time.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use shm_disruptor::{raw::RawRing, ConsumeError, Disruptor};
    /// let typed = Disruptor::<u32>::builder("beyond-sync").capacity(8).consumers(1).create_in_process()?;
    /// let raw = RawRing::from_typed(&typed);
    /// let mut consumer = raw.consumer(0)?;
    /// let mut producer = typed.producer()?;
    /// producer.publish(|slot| *slot = 1)?;
    /// // One message is readable, none committed: none beyond it comes.
    /// let wait = consumer.wait_beyond_timeout(1, Duration::from_millis(1));
    /// assert!(matches!(wait, Err(ConsumeError::Timeout)));
    /// producer.publish(|slot| *slot = 2)?;
    /// assert_eq!(consumer.wait_beyond_timeout(1, Duration::from_millis(1))?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_beyond_timeout(
        &mut self,
        end: u64,
        timeout: Duration,
    ) -> Result<u64, ConsumeError> {
        let core = &self.ring.shared.core;
        let least = end.saturating_sub(self.state.sequence);
        let available = self.state.available(core);
        if available > least {
            return Ok(available);
        }
        self.state
            .wait_for_more_than(core, self.wait, deadline_after(timeout), least)
            .ok_or(ConsumeError::Timeout)
    }

    /// Releases this consumer index for good (see [`Consumer::release`](crate::Consumer::release)).
    pub fn release(self) {
        self.state.release(&self.ring.shared.core);
    }
}

impl Drop for RawConsumer {
    fn drop(&mut self) {
        self.state.detach(&self.ring.shared.core);
    }
}

/// Published slots read in place, as bytes: `[start, start + len)` of the ring. Dropped
/// without commit, it is delivered again by the next consume.
#[must_use = "a batch dropped without commit() is delivered again by the next consume"]
pub struct RawBatch<'a> {
    consumer: &'a mut RawConsumer,
    start: u64,
    end: u64,
}

impl fmt::Debug for RawBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawBatch").field("range", &(self.start..self.end)).finish()
    }
}

impl RawBatch<'_> {
    /// The sequence of the first message.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The sequences in this batch.
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// Number of messages (slots).
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether there are no messages (only from `try_consume`).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The slots' bytes: the part up to the end of the ring, then the part from its start
    /// (empty unless the batch wraps). Each is a whole number of slots.
    pub fn slices(&self) -> (&[u8], &[u8]) {
        let ring = &self.consumer.state.ring;
        let size = self.consumer.ring.slot_size();
        let (index, first, wrapped) = ring.halves(self.start, self.end - self.start);
        let bytes = ring.slot_bytes().cast_const();
        // `Ring::halves` keeps both parts inside the slot region (`capacity` slots of
        // `slot_size` bytes: the validated geometry) and apart; `u8` has no alignment or
        // validity requirement. The gating protocol keeps producers off these slots until we
        // commit past them, and the cursor's Acquire load (in `available`) made their writes
        // visible.
        // SAFETY: in bounds, initialised (the segment is zero-filled at creation), not written
        // while the batch lives (see above).
        unsafe {
            (
                std::slice::from_raw_parts(bytes.add(index * size), first * size),
                std::slice::from_raw_parts(bytes, wrapped * size),
            )
        }
    }

    /// Each message's bytes, in sequence order (`slot_size` bytes each).
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let size = self.consumer.ring.slot_size();
        let (a, b) = self.slices();
        a.chunks_exact(size).chain(b.chunks_exact(size))
    }

    /// Marks every message of the batch as consumed.
    pub fn commit(self) {
        if self.end != self.start {
            self.consumer.state.commit_to(self.end);
        }
    }

    /// Marks the first `n` messages as consumed (`n <= len()`); the rest are delivered again.
    ///
    /// # Panics
    /// If `n > len()`.
    pub fn commit_first(self, n: usize) {
        assert!(n <= self.len(), "commit_first({n}) of a batch of {}", self.len());
        if n > 0 {
            self.consumer.state.commit_to(self.start + n as u64);
        }
    }
}

/// A producer handle of a [`RawRing`]; see [`Producer`](crate::Producer), whose rules it
/// follows (claims become visible in sequence order; a claim dropped without commit is given
/// back, or published zero-filled when later claims exist).
pub struct RawProducer {
    ring: RawRing,
    state: ProducerState,
    wait: WaitStrategy,
    policy: Policy,
}

impl fmt::Debug for RawProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawProducer")
            .field("ring", &self.ring.name())
            .field("record", &self.state.home())
            .finish()
    }
}

impl RawProducer {
    /// The ring this producer writes to.
    pub fn ring(&self) -> &RawRing {
        &self.ring
    }

    /// Sets how blocking calls wait for room.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.wait = strategy;
    }

    fn claim(&mut self, range: Range<u64>) -> RawClaim<'_> {
        RawClaim {
            producer: self,
            start: range.start,
            end: range.end,
            recovered: false,
            done: false,
        }
    }

    fn try_range(&mut self, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        self.state.try_claim(&self.ring.shared.core, n, exact)
    }

    fn range_until(
        &mut self,
        n: u64,
        exact: bool,
        deadline: Option<Instant>,
    ) -> Result<Range<u64>, ClaimError> {
        match self.try_range(n, exact) {
            Err(ClaimError::Full) => {
                let core = &self.ring.shared.core;
                self.state.wait_for_room(core, n, exact, deadline, self.wait, &mut self.policy)
            }
            other => other,
        }
    }

    /// Claims exactly `n` slots (`1..=capacity`) if they are free now ([`ClaimError::Full`]
    /// otherwise).
    pub fn try_claim_many(&mut self, n: usize) -> Result<RawClaim<'_>, ClaimError> {
        let range = self.try_range(n as u64, true)?;
        Ok(self.claim(range))
    }

    /// Claims exactly `n` slots, waiting at most `timeout` for room.
    pub fn claim_many_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<RawClaim<'_>, ClaimError> {
        let range = self.range_until(n as u64, true, deadline_after(timeout))?;
        Ok(self.claim(range))
    }

    /// Claims between 1 and `max` slots if any is free now.
    pub fn try_claim_available(&mut self, max: usize) -> Result<RawClaim<'_>, ClaimError> {
        let range = self.try_range(max as u64, false)?;
        Ok(self.claim(range))
    }

    /// Claims between 1 and `max` slots, waiting at most `timeout` for one to be free.
    pub fn claim_available_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<RawClaim<'_>, ClaimError> {
        let range = self.range_until(max as u64, false, deadline_after(timeout))?;
        Ok(self.claim(range))
    }

    /// The claimed-but-unpublished range that blocks the cursor and that no live handle holds
    /// (a producer died between claim and commit, or left it pending), writable and then
    /// committable, as [`Producer::recover_orphaned`](crate::Producer::recover_orphaned).
    /// Dropped without commit, it is pending again.
    pub fn recover_orphaned(&mut self) -> Option<RawClaim<'_>> {
        let range = crate::protocol::ownership::orphaned_claim(&self.ring.shared.core)?;
        if !self.state.recover(&self.ring.shared.core, &range) {
            return None;
        }
        let mut claim = self.claim(range);
        claim.recovered = true;
        Some(claim)
    }

    /// Claims between 1 and `max` slots, as a future that completes when at least one is free
    /// (see [`Producer::claim_available_async`](crate::Producer::claim_available_async); the
    /// dead-peer policy is always `Wait` here).
    pub async fn claim_available_async(&mut self, max: usize) -> Result<RawClaim<'_>, ClaimError> {
        let shared = Arc::clone(&self.ring.shared);
        let mut wait = AsyncWait::default();
        let range = std::future::poll_fn(|cx| {
            wait.poll(
                &shared,
                Line::Room,
                cx,
                || match self.try_range(max as u64, false) {
                    Err(ClaimError::Full) => None,
                    other => Some(other),
                },
                |core| ProducerState::room_for(core, 1),
            )
            .map(|r| r.unwrap_or_else(|kind| Err(ClaimError::AsyncUnavailable(kind))))
        })
        .await?;
        Ok(self.claim(range))
    }
}

impl Drop for RawProducer {
    fn drop(&mut self) {
        self.state.detach(&self.ring.shared.core);
    }
}

/// Claimed slots as bytes, writable in place until committed. Dropped without commit, the claim
/// is given back (see [`ClaimBatch`](crate::ClaimBatch)).
#[must_use = "a claim dropped without commit() is given back: write the slots and commit them"]
pub struct RawClaim<'a> {
    producer: &'a mut RawProducer,
    start: u64,
    end: u64,
    /// A recovered range: its records are let go at commit, and it is left pending if dropped.
    recovered: bool,
    done: bool,
}

impl fmt::Debug for RawClaim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawClaim").field("range", &(self.start..self.end)).finish()
    }
}

impl RawClaim<'_> {
    /// The claimed sequences.
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

    /// The claimed slots' bytes: the part up to the end of the ring, then the part from its
    /// start (empty unless the claim wraps). They hold what the slots held a lap ago (or
    /// zeros): write them all before committing.
    pub fn slices_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let size = self.producer.ring.slot_size();
        let ring = &self.producer.state.ring;
        let (index, first, wrapped) = ring.halves(self.start, self.end - self.start);
        let bytes = ring.slot_bytes();
        // `Ring::halves` keeps both parts inside the slot region (`capacity` slots of
        // `slot_size` bytes) and apart. The claim protocol makes this producer the only writer
        // of these slots, and no consumer reads them until they are published; `&mut self`
        // makes this the only access through the guard.
        // SAFETY: in bounds, disjoint, initialised bytes, claimed by this guard alone.
        unsafe {
            (
                std::slice::from_raw_parts_mut(bytes.add(index * size), first * size),
                std::slice::from_raw_parts_mut(bytes, wrapped * size),
            )
        }
    }

    /// Copies `bytes` into the claimed slots (`bytes.len()` must be `len() * slot_size`).
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn copy_from_slice(&mut self, bytes: &[u8]) {
        let (a, b) = self.slices_mut();
        assert_eq!(bytes.len(), a.len() + b.len(), "copy_from_slice: length mismatch");
        let (first, second) = bytes.split_at(a.len());
        a.copy_from_slice(first);
        b.copy_from_slice(second);
    }

    /// Commits the slots (see [`ClaimBatch::commit`](crate::ClaimBatch::commit)).
    pub fn commit(mut self) {
        self.done = true;
        let producer = &mut *self.producer;
        let core = &producer.ring.shared.core;
        if self.start < producer.state.direct_below {
            producer.state.publish_next(self.end);
        } else {
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
}

impl Drop for RawClaim<'_> {
    fn drop(&mut self) {
        if !self.done {
            let producer = &mut *self.producer;
            let core = &producer.ring.shared.core;
            if self.recovered {
                producer.state.release_adopted(core, false);
            } else {
                let range = self.start..self.end;
                producer.state.give_back(core, range, producer.wait, &mut producer.policy);
            }
        }
    }
}

/// What [`RawRing::copy_published_from`] copied: the slots `first..end`, after `first - from`
/// sequences that were lost (reused by producers before they could be copied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TailCopy {
    /// The sequence asked for.
    pub from: u64,
    /// The first sequence copied.
    pub first: u64,
    /// One past the last sequence copied (the next `from`).
    pub end: u64,
}

impl TailCopy {
    /// How many sequences from `from` on were lost before `first`: overwritten by producers
    /// before they could be copied.
    pub fn lost(&self) -> u64 {
        self.first - self.from
    }

    /// How many slots were copied.
    pub fn len(&self) -> u64 {
        self.end - self.first
    }

    /// Whether no slot was copied.
    pub fn is_empty(&self) -> bool {
        self.end == self.first
    }
}

impl RawRing {
    /// Appends to `out` the bytes of the published slots from sequence `from` on (at most
    /// `max` slots, at most the capacity), *without* a consumer index: a tail reader such as
    /// `shm-disruptor record --tail`. Producers do not wait for it, so it can be lapped: the
    /// slots reused before or while they were copied are left out, and the result says how
    /// many sequences from `from` on were lost (its `first` is then past `from`). Never waits,
    /// never writes to the ring. Call it again from the result's `end`.
    ///
    /// A slot is copied with volatile byte loads and kept only if no producer had claimed it
    /// for reuse by the end of the copy (the seqlock check of the inspector's `peek`): exact
    /// on x86-64; on weakly ordered CPUs a slot being rewritten at that very moment may rarely
    /// be copied torn.
    ///
    /// ```
    /// use shm_disruptor::raw::RawRing;
    /// use shm_disruptor::Disruptor;
    ///
    /// let ring = Disruptor::<u16>::builder("tail").capacity(4).consumers(1).create_in_process()?;
    /// let mut producer = ring.producer()?;
    /// producer.publish_batch(3, |i, slot| *slot = i as u16)?;
    /// let raw = RawRing::from_typed(&ring);
    /// let mut bytes = Vec::new();
    /// let copy = raw.copy_published_from(0, 100, &mut bytes)?;
    /// assert_eq!((copy.first, copy.end, copy.lost()), (0, 3, 0));
    /// assert_eq!(bytes.len(), 3 * 2);
    ///
    /// // Lapped: the producer publishes 3..=7 over the 4 slots, as the consumer frees them.
    /// let mut consumer = ring.consumer(0)?;
    /// consumer.try_consume().commit();
    /// producer.publish_batch(4, |i, slot| *slot = 3 + i as u16)?;
    /// consumer.try_consume().commit();
    /// producer.publish(|slot| *slot = 7)?; // sequence 7 reuses the slot of sequence 3
    /// bytes.clear();
    /// let copy = raw.copy_published_from(3, 100, &mut bytes)?;
    /// assert_eq!((copy.first, copy.end, copy.lost()), (4, 8, 1), "sequence 3 was overwritten");
    /// assert_eq!(bytes, [4u16, 5, 6, 7].iter().flat_map(|v| v.to_ne_bytes()).collect::<Vec<_>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn copy_published_from(
        &self,
        from: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<TailCopy, AttachError> {
        // A segment truncated under us is reported, never read (its lost pages raise SIGBUS).
        self.shared.check_size()?;
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        let copied = crate::protocol::snapshot::copy_from(self.core(), from, max, out);
        Ok(TailCopy { from, first: copied.first, end: copied.end })
    }

    /// Single- or multi-producer.
    pub fn producer_mode(&self) -> ProducerMode {
        self.core().mode
    }
}
