//! [`Disruptor`]: a handle on a ring in shared memory, and its [`Builder`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::asynch::Watcher;
use crate::consumer::Consumer;
use crate::error::{AttachError, OpenError};
use crate::gating::{load_sequence, Graph};
use crate::producer::Producer;
use crate::shm::{self, Control, Expectations, NewRing, ProducerMode, Segment, WakeLine};
use crate::{graph, FenceMode, Schema, Slot, WaitStrategy};

/// The addresses and geometry the hot paths use, copied into each handle so that a claim or a
/// consume needs no pointer chasing or bounds checks to find them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hot {
    /// The control lines (one pointer for all of them: the hot paths load it once).
    control: *const Control,
    /// Per-slot commit flags (multi-producer rings); null otherwise.
    flags: *const AtomicU64,
    slots: *mut u8,
    pub(crate) capacity: u64,
    /// `capacity - 1` when the capacity is a power of two (index = seq & mask).
    mask: u64,
    pow2: bool,
    /// Notifiers need a `SeqCst` fence (the ring's fence mode is `Fence`); see the `wait`
    /// module.
    pub(crate) fence_fallback: bool,
}

// SAFETY: the pointers address atomics and slots in a shared mapping that outlives every handle
// holding a `Hot` (each handle also holds the `Arc<Shared>` that owns the mapping); atomics are
// shared by design, and slot access follows the claim/consume protocol.
unsafe impl Send for Hot {}
// SAFETY: as above.
unsafe impl Sync for Hot {}

impl Hot {
    fn new(segment: &Segment) -> Hot {
        let capacity = segment.geometry().capacity;
        let control = segment.control();
        Hot {
            control,
            flags: segment.flags(),
            slots: segment.slots(),
            capacity,
            mask: capacity.wrapping_sub(1),
            pow2: capacity.is_power_of_two(),
            fence_fallback: segment.fence_fallback(),
        }
    }

    /// The gating epoch: bumped after every release or eviction of a consumer.
    #[inline(always)]
    pub(crate) fn gating_epoch(&self) -> &AtomicU64 {
        &self.control().gating_epoch.value
    }

    /// The published cursor.
    #[inline(always)]
    pub(crate) fn cursor(&self) -> &AtomicU64 {
        &self.control().cursor.value
    }

    /// The control lines.
    #[inline(always)]
    fn control(&self) -> &Control {
        // SAFETY: points into the mapping kept alive by the handle's `Arc<Shared>` (see above).
        unsafe { &*self.control }
    }

    /// The claim sequence.
    #[inline(always)]
    pub(crate) fn next(&self) -> &AtomicU64 {
        &self.control().next.value
    }

    /// The line consumers (and committing producers) wait on.
    #[inline(always)]
    pub(crate) fn data_wake(&self) -> &WakeLine {
        &self.control().data_wake
    }

    /// The line claiming producers wait on.
    #[inline(always)]
    pub(crate) fn room_wake(&self) -> &WakeLine {
        &self.control().room_wake
    }

    /// Wakes whoever sleeps on the data line (after a cursor or stage-sequence store).
    #[inline(always)]
    pub(crate) fn notify_data(&self) {
        crate::wait::notify_with(self.data_wake(), self.fence_fallback);
    }

    /// Wakes whoever sleeps on the room line (after a gating consumer's sequence store).
    #[inline(always)]
    pub(crate) fn notify_room(&self) {
        crate::wait::notify_with(self.room_wake(), self.fence_fallback);
    }

    /// The slot index of a sequence; always `< capacity`, whatever the sequence.
    #[inline(always)]
    pub(crate) fn index(&self, seq: u64) -> usize {
        if self.pow2 {
            (seq & self.mask) as usize
        } else {
            crate::cold_path(); // the division dwarfs a taken branch
            (seq % self.capacity) as usize
        }
    }

    /// The commit flag of the slot of `seq` (multi-producer rings only): it holds `seq + 1`
    /// once `seq` is committed.
    #[inline(always)]
    pub(crate) fn flag(&self, seq: u64) -> &AtomicU64 {
        assert!(!self.flags.is_null(), "commit flags exist in multi-producer rings only");
        // SAFETY: `Hot::index` is `< capacity`, and a multi-producer segment holds `capacity`
        // flags at `flags` (validated geometry), kept alive by the handle's `Arc<Shared>`.
        unsafe { &*self.flags.add(self.index(seq)) }
    }

    /// Multi-producer commit, step 2: moves the cursor over every committed (flagged) sequence
    /// that follows it. Whichever committer completes a run of commits advances the cursor over
    /// it, so no commit waits for an earlier producer. Returns whether this call moved it.
    pub(crate) fn advance_cursor(&self) -> bool {
        let mut moved = false;
        let cursor = self.cursor();
        // SeqCst (with the SeqCst fence after marking in `Producer::commit_multi`, or the
        // SeqCst CAS of its fast path, which moved the cursor over the range without marks):
        // of two committers of adjacent ranges, either the later one's marks are visible to the
        // earlier one's scan below, or the earlier one's CAS is visible to the later one's load
        // here; so one of them always advances over both (the store-load pattern needs
        // SeqCst).
        let mut current = cursor.load(Ordering::SeqCst);
        loop {
            let limit = current.saturating_add(self.capacity);
            let mut end = current;
            // SeqCst: see above. It also acquires the committer's slot writes (its flag store
            // is Release), which our Release CAS then passes on to consumers.
            while end < limit && self.flag(end).load(Ordering::SeqCst) == end.wrapping_add(1) {
                end += 1;
            }
            if end == current {
                return moved;
            }
            // SYNC POINT. Release (in SeqCst): pairs with the consumers' Acquire load of the
            // cursor.
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
    /// (`Producer::commit_multi`) leaves them committed but invisible until the next commit;
    /// waiters call this with their round count (`Waiter::rounds`), so that such a ring cannot
    /// stall (a full ring would wait forever). It acts every 64 rounds (it reads the cursor and
    /// a flag), and does nothing in single-producer rings. When it moves the cursor it wakes
    /// the consumers (and committing producers) sleeping on the data line, as a commit would.
    #[cold]
    pub(crate) fn help_advance(&self, rounds: u32) {
        if rounds % 64 == 0 && !self.flags.is_null() && self.advance_cursor() {
            self.notify_data();
        }
    }

    /// Where the run of `len` sequences from `start` lies, clamped to the capacity: its first
    /// slot index and the lengths of the part up to the end of the ring and of the part that
    /// wraps to its start. Always `index + first <= capacity` and `wrapped <= index`, so the two
    /// parts lie inside the slots and do not overlap, whatever the (possibly corrupt) inputs.
    #[inline(always)]
    pub(crate) fn halves(&self, start: u64, len: u64) -> (usize, usize, usize) {
        let capacity = self.capacity as usize;
        let len = len.min(self.capacity) as usize;
        let index = self.index(start);
        let first = len.min(capacity - index);
        (index, first, len - first)
    }

    /// A pointer to slot `index` (which must be `< capacity`) as a `T`.
    #[inline(always)]
    pub(crate) fn slot<T>(&self, index: usize) -> *mut T {
        debug_assert!((index as u64) < self.capacity);
        // SAFETY: `index < capacity` and the slot region holds `capacity` values of `T` (the
        // geometry was validated against the segment size at create/open).
        unsafe { self.slots.cast::<T>().add(index) }
    }
}

/// What every handle of one process shares about one mapped ring.
pub(crate) struct Shared {
    pub(crate) segment: Segment,
    pub(crate) hot: Hot,
    pub(crate) capacity: u64,
    /// The dependency graph, from the validated copy of the header.
    pub(crate) graph: Graph,
    /// Async watchers, started on first use.
    pub(crate) data_watcher: Mutex<Option<Arc<Watcher>>>,
    pub(crate) room_watcher: Mutex<Option<Arc<Watcher>>>,
}

impl Shared {
    fn new(segment: Segment) -> Shared {
        let g = *segment.geometry();
        let graph = Graph::from_masks(&segment.header().dependencies[..g.consumer_count]);
        Shared {
            hot: Hot::new(&segment),
            segment,
            capacity: g.capacity,
            graph,
            data_watcher: Mutex::new(None),
            room_watcher: Mutex::new(None),
        }
    }

    /// The sequence below which consumer `index` may read: the cursor, or for a pipeline stage
    /// the slowest of the live stages it follows (a released stage is replaced by the stages it
    /// followed; see `gating`).
    #[inline]
    pub(crate) fn visible_bound(&self, index: usize) -> u64 {
        // SYNC POINT. Acquire pairs with the Release store (or CAS) of the cursor in
        // `Producer::publish` (or `commit_multi`, `Hot::advance_cursor`):
        // slot writes of every sequence below it happen-before our reads.
        let cursor = self.segment.control().cursor.value.load(Ordering::Acquire);
        let deps = self.graph.dependencies(index);
        if deps.is_empty() {
            return cursor;
        }
        // `load_sequence` is Acquire: it pairs with the Release store in `Batch::commit` of the
        // stage we follow, so its writes to the slots it processed happen-before our reads.
        let stages = self.graph.slowest(deps, |c| load_sequence(self.segment.consumer_sequence(c)));
        stages.map_or(cursor, |s| s.min(cursor))
    }

    /// The slowest sequence producers must not overtake, over the live graph; `None` when
    /// every consumer they would wait for is released.
    #[inline]
    pub(crate) fn slowest_gating(&self) -> Option<u64> {
        self.graph.slowest_gating(|c| load_sequence(self.segment.consumer_sequence(c)))
    }
}

/// A typed ring of `T` values in a POSIX shared-memory segment.
///
/// A `Disruptor` is a cheap, cloneable handle (`Send + Sync`) on one mapping; share it between
/// threads, or open the same name in other processes. Get a [`Producer`] to claim and commit
/// slots, and a [`Consumer`] per consumer index to read them.
///
/// ```
/// use shm_disruptor::{Disruptor, Slot};
///
/// #[derive(Slot, Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Tick { price: f64, qty: u32, side: u8, _pad: [u8; 3] }
///
/// # let name = format!("/doc-ring-{}", std::process::id());
/// // Process A creates the ring and produces.
/// let ring = Disruptor::<Tick>::builder(&name).capacity(1024).consumers(1).create()?;
/// let mut producer = ring.producer()?;
/// let mut claim = producer.claim()?;
/// *claim = Tick { price: 1.5, qty: 10, side: 1, _pad: [0; 3] };
/// claim.commit();
///
/// // Process B (here, the same one) attaches, checks `Tick`'s schema, and consumes.
/// let ring = Disruptor::<Tick>::open(&name)?;
/// let mut consumer = ring.consumer(0)?;
/// let batch = consumer.consume()?;
/// assert_eq!(batch.iter().map(|t| t.qty).sum::<u32>(), 10);
/// batch.commit();
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Disruptor<T: Slot> {
    pub(crate) shared: Arc<Shared>,
    /// The wait strategy new handles start with.
    pub(crate) wait: WaitStrategy,
    _type: PhantomData<fn() -> T>,
}

impl<T: Slot> Clone for Disruptor<T> {
    fn clone(&self) -> Self {
        Disruptor { shared: Arc::clone(&self.shared), wait: self.wait, _type: PhantomData }
    }
}

impl<T: Slot> fmt::Debug for Disruptor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disruptor")
            .field("name", &self.name())
            .field("type", &T::SCHEMA.type_name())
            .field("capacity", &self.capacity())
            .field("consumers", &self.consumer_count())
            .field("mode", &self.producer_mode())
            .field("cursor", &self.cursor())
            .finish()
    }
}

impl<T: Slot> Disruptor<T> {
    /// Starts describing a ring named `name` (a POSIX shared-memory name such as `"/ticks"`).
    pub fn builder(name: &str) -> Builder<T> {
        Builder {
            name: name.to_owned(),
            capacity: None,
            consumers: None,
            dependencies: Vec::new(),
            mode: None,
            force: false,
            permissions: 0o600,
            fence: None,
            init_timeout: Duration::from_secs(5),
            wait: DEFAULT_WAIT,
            _type: PhantomData,
        }
    }

    /// Attaches to an existing ring, reading capacity, consumer count and producer mode from its
    /// header, and verifying that it holds `T` (schema hash, size and alignment).
    pub fn open(name: &str) -> Result<Disruptor<T>, OpenError> {
        Self::builder(name).open()
    }

    fn from_segment(segment: Segment, wait: WaitStrategy) -> Disruptor<T> {
        Disruptor { shared: Arc::new(Shared::new(segment)), wait, _type: PhantomData }
    }

    /// Sets the wait strategy that producer and consumer handles made from this handle start
    /// with (each can change its own with `set_wait_strategy`).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.wait = strategy;
    }

    /// The wait strategy new handles start with ([`WaitStrategy::Backoff`] unless set).
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.wait
    }

    /// A producer handle. In single-producer mode only one live handle may exist at a time
    /// ([`AttachError::ProducerInUse`] otherwise); in multi-producer mode up to
    /// [`MAX_PRODUCERS`](crate::MAX_PRODUCERS) at once.
    pub fn producer(&self) -> Result<Producer<T>, AttachError> {
        Producer::attach(self.clone())
    }

    /// The consumer handle for `index`, which this process then owns until the handle drops.
    /// It starts at the consumer's committed sequence (0 for a new ring).
    pub fn consumer(&self, index: usize) -> Result<Consumer<T>, AttachError> {
        Consumer::attach(self.clone(), index)
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.shared.segment.name()
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.capacity as usize
    }

    /// Number of consumers.
    pub fn consumer_count(&self) -> usize {
        self.shared.segment.geometry().consumer_count
    }

    /// Single- or multi-producer.
    pub fn producer_mode(&self) -> ProducerMode {
        self.shared.segment.mode()
    }

    /// The published cursor: every sequence below it has been committed.
    pub fn cursor(&self) -> u64 {
        self.shared.segment.control().cursor.value.load(Ordering::Acquire)
    }

    /// The claim sequence: the next sequence a producer will claim.
    pub fn claim_sequence(&self) -> u64 {
        self.shared.segment.control().next.value.load(Ordering::Acquire)
    }

    /// Consumer `index`'s committed sequence (`u64::MAX` once released), or `None` when out of
    /// range.
    pub fn consumer_sequence(&self, index: usize) -> Option<u64> {
        (index < self.consumer_count())
            .then(|| self.shared.segment.consumer_sequence(index).load(Ordering::Acquire))
    }

    /// Whether consumer `index` has been released (producers ignore it).
    pub fn is_released(&self, index: usize) -> bool {
        self.consumer_sequence(index) == Some(u64::MAX)
    }

    /// Whether every consumer that producers wait for has been released (the seed's
    /// `allConsumersIgnoring`): claims then fail with [`ClaimError::NoConsumers`](crate::ClaimError).
    /// A released pipeline stage hands its place to the stages it follows, so this is true
    /// only once every consumer producers could wait for is released.
    pub fn all_consumers_released(&self) -> bool {
        self.shared.slowest_gating().is_none()
    }

    /// The dependencies of consumer `index` as declared at creation (empty: it follows the
    /// producers' cursor), or `None` when `index` is out of range.
    pub fn dependencies(&self, index: usize) -> Option<&[usize]> {
        (index < self.consumer_count()).then(|| self.shared.graph.dependencies(index))
    }

    /// The ring's fence mode, chosen at creation and followed by this process (see
    /// [`FenceMode`]).
    pub fn fence_mode(&self) -> FenceMode {
        self.shared.segment.fence_mode()
    }

    /// The application status word (the seed's `status`), initially 0.
    pub fn status(&self) -> i32 {
        // Acquire pairs with the Release store in `set_status`: whatever the setter wrote before
        // setting the status is visible after reading it.
        self.shared.segment.control().status.value.load(Ordering::Acquire)
    }

    /// Sets the application status word, visible to every process.
    pub fn set_status(&self, status: i32) {
        // Release: pairs with the Acquire load in `status`.
        self.shared.segment.control().status.value.store(status, Ordering::Release);
        self.shared.hot.notify_data();
    }

    /// The schema of `T`, which the segment header also records.
    pub fn schema(&self) -> &'static Schema {
        &T::SCHEMA
    }

    /// The process ids of live processes attached (owning a consumer index or producer entry).
    pub fn live_users(&self) -> Vec<u32> {
        self.shared.segment.live_users()
    }

    pub(crate) fn segment(&self) -> &Segment {
        &self.shared.segment
    }
}

/// Describes a ring to create, or the ring an opener expects to find.
///
/// ```
/// use shm_disruptor::Disruptor;
/// # let name = format!("/doc-builder-{}", std::process::id());
/// let ring = Disruptor::<u64>::builder(&name)
///     .capacity(4096)
///     .consumers(3)
///     .depends_on(2, &[0, 1]) // consumer 2 sees a slot only after 0 and 1 committed it
///     .single_producer()
///     .create()?;
/// assert_eq!(ring.dependencies(2), Some(&[0, 1][..]));
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), shm_disruptor::OpenError>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until create(), replace_existing() or open() is called"]
pub struct Builder<T: Slot> {
    name: String,
    capacity: Option<usize>,
    consumers: Option<usize>,
    dependencies: Vec<(usize, Vec<usize>)>,
    mode: Option<ProducerMode>,
    force: bool,
    permissions: u32,
    fence: Option<FenceMode>,
    init_timeout: Duration,
    wait: WaitStrategy,
    _type: PhantomData<fn() -> T>,
}

impl<T: Slot> Builder<T> {
    /// Number of slots (any value >= 1; a power of two avoids a division per access).
    /// Required to create; verified when opening if given.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Number of consumers (1..=64). Required to create; verified when opening if given.
    pub fn consumers(mut self, count: usize) -> Self {
        self.consumers = Some(count);
        self
    }

    /// Declares that `consumer` sees a slot only after every consumer in `after` has committed
    /// it (a pipeline stage). Producers then wait only for the consumers nobody depends on.
    pub fn depends_on(mut self, consumer: usize, after: &[usize]) -> Self {
        self.dependencies.push((consumer, after.to_vec()));
        self
    }

    /// One producer handle at a time: claims need no atomic read-modify-write.
    pub fn single_producer(self) -> Self {
        self.producer_mode(ProducerMode::Single)
    }

    /// Any number of producers in any processes (the default when creating).
    pub fn multi_producer(self) -> Self {
        self.producer_mode(ProducerMode::Multi)
    }

    /// Sets the producer mode. Verified when opening if given.
    pub fn producer_mode(mut self, mode: ProducerMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Permission bits of a created segment (default `0o600`: only this user). The segment
    /// gets exactly these bits, whatever the umask (`0o666` lets every user attach). Bits
    /// outside `0o777` (setuid, setgid, sticky) are refused with [`OpenError::InvalidConfig`].
    pub fn permissions(mut self, mode: u32) -> Self {
        self.permissions = mode;
        self
    }

    /// The fence mode of a created ring (see [`FenceMode`]): by default
    /// [`FenceMode::Membarrier`] where this process can register for membarriers, else
    /// [`FenceMode::Fence`]. Every process that opens the ring follows it; choose
    /// [`FenceMode::Fence`] when some of them run where `membarrier` is refused (a seccomp
    /// profile), or they could not attach. Asking for `Membarrier` where this process cannot
    /// use it fails with [`OpenError::FenceModeUnavailable`].
    pub fn fence_mode(mut self, mode: FenceMode) -> Self {
        self.fence = Some(mode);
        self
    }

    /// How long `open` waits for a creator to finish initialising (default 5 s).
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// The wait strategy of the handles made from the returned `Disruptor` (default
    /// [`WaitStrategy::Backoff`]).
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.wait = strategy;
        self
    }

    /// Lets `replace_existing()` replace a segment that live processes still use.
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// Creates the ring; fails with [`OpenError::AlreadyExists`] if the name is taken.
    pub fn create(self) -> Result<Disruptor<T>, OpenError> {
        let invalid = |reason: String| OpenError::InvalidConfig(reason);
        let capacity = self
            .capacity
            .ok_or_else(|| invalid("capacity() is required to create a ring".into()))?;
        let consumers = self
            .consumers
            .ok_or_else(|| invalid("consumers() is required to create a ring".into()))?;
        if consumers == 0 || consumers > shm::MAX_CONSUMERS {
            return Err(invalid(format!(
                "a ring has 1..={} consumers, not {consumers}",
                shm::MAX_CONSUMERS
            )));
        }
        let mut masks = vec![0u64; consumers];
        for (consumer, after) in &self.dependencies {
            if *consumer >= consumers {
                return Err(invalid(format!(
                    "depends_on({consumer}, ..): consumer {consumer} is out of range (the ring has {consumers})"
                )));
            }
            for &dep in after {
                if dep >= consumers {
                    return Err(invalid(format!(
                        "consumer {consumer} depends on consumer {dep}, which is out of range (the ring has {consumers})"
                    )));
                }
                masks[*consumer] |= 1 << dep;
            }
        }
        graph::validate(&masks).map_err(invalid)?;
        let segment = Segment::create(&NewRing {
            name: &self.name,
            schema: &T::SCHEMA,
            capacity: capacity as u64,
            consumer_count: consumers,
            mode: self.mode.unwrap_or(ProducerMode::Multi),
            dependencies: &masks,
            permissions: self.permissions,
            fence: self.fence,
        })?;
        Ok(Disruptor::from_segment(segment, self.wait))
    }

    /// The seed's `init = true`: removes any segment of this name, then creates a new one.
    /// Refuses with [`OpenError::InUse`] when live processes still use the old one (own a consumer
    /// or producer handle, or merely map it), unless
    /// [`force`](Self::force) was called. A segment that is not a valid ring (corrupt, foreign,
    /// or left half-initialised by a creator that died) is replaced.
    pub fn replace_existing(self) -> Result<Disruptor<T>, OpenError> {
        if !self.force {
            if let Some(pids) = live_users_of(&self.name) {
                if !pids.is_empty() {
                    return Err(OpenError::InUse { name: self.name.clone(), pids });
                }
            }
        }
        match shm::unlink(&self.name) {
            Ok(()) | Err(OpenError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        self.create()
    }

    /// Attaches to an existing ring and verifies `T` and every expectation stated.
    pub fn open(self) -> Result<Disruptor<T>, OpenError> {
        let expect = Expectations {
            capacity: self.capacity.map(|c| c as u64),
            consumer_count: self.consumers,
            mode: self.mode,
        };
        let segment = Segment::open(&self.name, &T::SCHEMA, &expect, self.init_timeout)?;
        Ok(Disruptor::from_segment(segment, self.wait))
    }
}

/// The live users of an existing, valid ring of any type: the owners of its consumer indices and
/// producer entries, and any other process that maps it; `None` if it is absent or not a valid
/// ring.
fn live_users_of(name: &str) -> Option<Vec<u32>> {
    let segment = Segment::open_any(name, Duration::from_millis(0)).ok()?;
    let mut pids = segment.live_users();
    for pid in crate::inspect::processes_mapping(name) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    Some(pids)
}

/// The default wait strategy of new handles.
pub(crate) const DEFAULT_WAIT: WaitStrategy = WaitStrategy::Backoff;
