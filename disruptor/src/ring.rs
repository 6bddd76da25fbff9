//! [`Disruptor`]: a handle on a ring, and its [`Builder`]. The typed layer over the protocol
//! core (`protocol`): it creates or opens the memory, and hands out handles.

use std::fmt;
use std::fs::File;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::asynch::{Watched, Watchers};
use crate::error::{AttachError, OpenError};
use crate::protocol::memory::HeapMemory;
use crate::protocol::{Core, FenceMode, Geometry, Graph, Locks};
use crate::shm::{self, Expectations, NewRing, ProducerMode, Segment, SlotType};
use crate::{graph, Schema, SchemaTable, Slot, WaitStrategy};

/// Where a ring's memory is: a mapping of a shared-memory segment, or this process's heap.
enum Backing {
    Mapped { segment: Box<Segment>, file: File },
    Heap(#[allow(dead_code)] HeapMemory),
}

/// What every handle of one process shares about one ring.
pub(crate) struct Shared {
    /// The protocol's view of the ring. Declared before `backing`, so dropped before the memory
    /// it points into.
    pub(crate) core: Core,
    backing: Backing,
    name: String,
    geometry: Geometry,
    /// Async watchers, started on first use.
    watchers: Watchers,
}

impl Watched for Shared {
    fn core(&self) -> &Core {
        &self.core
    }

    fn watchers(&self) -> &Watchers {
        &self.watchers
    }
}

impl Shared {
    fn new(core: Core, backing: Backing, name: String, geometry: Geometry) -> Shared {
        Shared { core, backing, name, geometry, watchers: Watchers::default() }
    }

    /// A mapped segment (`file` is its file).
    fn mapped(segment: Segment, file: File) -> Result<Shared, OpenError> {
        let core = segment.core(file.try_clone().map_err(|source| OpenError::Os {
            op: "dup",
            name: segment.name().to_owned(),
            source,
        })?)?;
        let (name, geometry) = (segment.name().to_owned(), *segment.geometry());
        Ok(Shared::new(core, Backing::Mapped { segment: Box::new(segment), file }, name, geometry))
    }

    /// Opens a ring of any slot type (the raw API): the shared state and the validated copy
    /// of its header.
    pub(crate) fn open_any(
        name: &str,
    ) -> Result<(Shared, crate::protocol::layout::Header), OpenError> {
        let (segment, file) = Segment::open_any(name, Duration::from_secs(5))?;
        let header = *segment.header();
        Ok((Shared::mapped(segment, file)?, header))
    }

    /// Creates a ring of a slot type described at run time (the raw API), with no dependency
    /// graph and the default permissions and fence mode.
    pub(crate) fn create_untyped(
        name: &str,
        slot: SlotType<'_>,
        capacity: u64,
        consumer_count: usize,
        mode: ProducerMode,
        producer_count: usize,
    ) -> Result<Shared, OpenError> {
        let dependencies = vec![Vec::new(); consumer_count];
        let (segment, file) = Segment::create(&NewRing {
            name,
            slot,
            capacity,
            consumer_count,
            producer_count,
            mode,
            dependencies: &dependencies,
            permissions: 0o600,
            fence: None,
        })?;
        Shared::mapped(segment, file)
    }

    /// When the segment was created (ns since the Unix epoch, from its header); 0 for a ring
    /// in this process's memory.
    pub(crate) fn creation_time_ns(&self) -> u64 {
        match &self.backing {
            Backing::Mapped { segment, .. } => segment.header().creation_time_ns,
            Backing::Heap(_) => 0,
        }
    }

    /// The ring's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The ring's validated geometry.
    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Checks, before a handle attaches, that the segment file has not shrunk since it was
    /// mapped (touching the lost pages would raise SIGBUS).
    pub(crate) fn check_size(&self) -> Result<(), AttachError> {
        match &self.backing {
            Backing::Mapped { segment, file } => segment
                .check_size(file)
                .map_err(|(expected, actual)| AttachError::SegmentShrunk { expected, actual }),
            Backing::Heap(_) => Ok(()),
        }
    }
}

/// A typed ring of `T` values in a POSIX shared-memory segment.
///
/// A `Disruptor` is a cheap, cloneable handle (`Send + Sync`) on one mapping; share it between
/// threads, or open the same name in other processes. Get a [`Producer`](crate::Producer) to
/// claim and commit slots, and a [`Consumer`](crate::Consumer) per consumer index to read them.
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
/// let batch = consumer.consume();
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
            producers: None,
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

    fn from_shared(shared: Shared, wait: WaitStrategy) -> Disruptor<T> {
        Disruptor { shared: Arc::new(shared), wait, _type: PhantomData }
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

    /// The segment name (for an in-process ring, the name it was built with).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.geometry.capacity as usize
    }

    /// Number of consumers.
    pub fn consumer_count(&self) -> usize {
        self.shared.geometry.consumer_count
    }

    /// Single- or multi-producer.
    pub fn producer_mode(&self) -> ProducerMode {
        self.shared.core.mode
    }

    /// The published cursor: every sequence below it has been committed.
    pub fn cursor(&self) -> u64 {
        self.shared.core.ring.load_cursor()
    }

    /// The claim sequence: the next sequence a producer will claim.
    pub fn claim_sequence(&self) -> u64 {
        self.shared.core.ring.load_claim_sequence()
    }

    /// Consumer `index`'s committed sequence (`u64::MAX` once released), or `None` when out of
    /// range.
    pub fn consumer_sequence(&self, index: usize) -> Option<u64> {
        (index < self.consumer_count()).then(|| self.shared.core.ring.load_consumer_sequence(index))
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
        self.shared.core.slowest_gating().is_none()
    }

    /// The dependencies of consumer `index` as declared at creation (empty: it follows the
    /// producers' cursor), or `None` when `index` is out of range.
    pub fn dependencies(&self, index: usize) -> Option<&[usize]> {
        (index < self.consumer_count()).then(|| self.shared.core.graph.dependencies(index))
    }

    /// The ring's fence mode, chosen at creation and followed by this process (see
    /// [`FenceMode`]).
    pub fn fence_mode(&self) -> FenceMode {
        self.shared.core.fence
    }

    /// The application status word (the seed's `status`), initially 0. Whatever the setter
    /// wrote before setting it is visible after reading it.
    pub fn status(&self) -> i32 {
        self.shared.core.ring.load_status()
    }

    /// Sets the application status word, visible to every process (and wakes whoever waits for
    /// data: a stream's readers wait for its end there).
    pub fn set_status(&self, status: i32) {
        self.shared.core.ring.store_status(status);
    }

    /// The schema of `T`, which the segment header also records.
    pub fn schema(&self) -> &'static Schema {
        &T::SCHEMA
    }

    /// The process ids of live processes attached (owning a consumer index or producer record
    /// through a live handle), as they recorded them (PIDs of their own PID namespace).
    pub fn live_users(&self) -> Vec<u32> {
        crate::protocol::ownership::live_users(&self.shared.core)
    }

    pub(crate) fn core(&self) -> &Core {
        &self.shared.core
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
    producers: Option<usize>,
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

    /// Number of consumers (1..=[`MAX_CONSUMERS`](crate::MAX_CONSUMERS), 65,536). Each costs
    /// 256 bytes of the segment (see the README's memory formula). Required to create;
    /// verified when opening if given.
    pub fn consumers(mut self, count: usize) -> Self {
        self.consumers = Some(count);
        self
    }

    /// Number of producer records of a multi-producer ring: how many producer handles may be
    /// attached at once, in all processes together (1..=[`MAX_PRODUCERS`](crate::MAX_PRODUCERS),
    /// 65,536; default [`DEFAULT_PRODUCERS`](crate::DEFAULT_PRODUCERS), 64). Each costs 128
    /// bytes of the segment. A single-producer ring always has one. Verified when opening if
    /// given.
    ///
    /// ```
    /// use shm_disruptor::Disruptor;
    /// # let name = format!("/doc-producers-{}", std::process::id());
    /// let ring = Disruptor::<u64>::builder(&name).capacity(64).consumers(1).producers(200).create()?;
    /// let producers: Vec<_> = (0..200).map(|_| ring.producer()).collect::<Result<_, _>>()?;
    /// assert!(ring.producer().is_err(), "all 200 records are held");
    /// # drop(producers);
    /// # shm_disruptor::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producers(mut self, count: usize) -> Self {
        self.producers = Some(count);
        self
    }

    /// Declares that `consumer` sees a slot only after every consumer in `after` has committed
    /// it (a pipeline stage). Producers then wait only for the consumers nobody depends on.
    /// Any acyclic graph is allowed (up to [`MAX_DEPENDENCIES`](crate::MAX_DEPENDENCIES)
    /// edges); a cycle, a consumer out of range or one depending on itself is refused by
    /// `create` with [`OpenError::InvalidConfig`].
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

    /// The shape asked for, checked.
    fn checked(&self) -> Result<Shape, OpenError> {
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
        let mode = self.mode.unwrap_or(ProducerMode::Multi);
        let producers = match (mode, self.producers) {
            (ProducerMode::Single, None | Some(1)) => 1,
            (ProducerMode::Single, Some(n)) => {
                return Err(invalid(format!(
                    "a single-producer ring has one producer record; producers({n}) needs multi_producer()"
                )))
            }
            (ProducerMode::Multi, n) => n.unwrap_or(shm::DEFAULT_PRODUCERS),
        };
        if producers == 0 || producers > shm::MAX_PRODUCERS {
            return Err(invalid(format!(
                "a ring has 1..={} producer records, not {producers}",
                shm::MAX_PRODUCERS
            )));
        }
        let dependencies = self.stated_graph(consumers)?;
        Ok(Shape { capacity, consumers, producers, mode, dependencies })
    }

    /// The graph stated with [`depends_on`](Self::depends_on), over `consumers` consumers:
    /// per consumer, the sorted consumers it follows; checked (range, self-dependency, cycles).
    fn stated_graph(&self, consumers: usize) -> Result<Vec<Vec<usize>>, OpenError> {
        let invalid = |reason: String| OpenError::InvalidConfig(reason);
        let mut dependencies = vec![Vec::new(); consumers];
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
                dependencies[*consumer].push(dep);
            }
        }
        for list in &mut dependencies {
            list.sort_unstable();
            list.dedup();
        }
        graph::validate(&dependencies).map_err(invalid)?;
        Ok(dependencies)
    }

    /// Creates the ring; fails with [`OpenError::AlreadyExists`] if the name is taken.
    pub fn create(self) -> Result<Disruptor<T>, OpenError> {
        let shape = self.checked()?;
        self.create_shaped(&shape)
    }

    fn create_shaped(&self, shape: &Shape) -> Result<Disruptor<T>, OpenError> {
        let table = SchemaTable::of(&T::SCHEMA);
        let (segment, file) = Segment::create(&NewRing {
            name: &self.name,
            slot: SlotType {
                hash: T::SCHEMA.hash,
                table: &table,
                size: T::SCHEMA.size,
                align: T::SCHEMA.align,
            },
            capacity: shape.capacity as u64,
            consumer_count: shape.consumers,
            producer_count: shape.producers,
            mode: shape.mode,
            dependencies: &shape.dependencies,
            permissions: self.permissions,
            fence: self.fence,
        })?;
        Ok(Disruptor::from_shared(Shared::mapped(segment, file)?, self.wait))
    }

    /// Creates the ring in this process's memory instead of a shared-memory segment: its
    /// handles work the same, between the threads of this process (clone the `Disruptor`), and
    /// no other process can open it; nothing is left behind when its last handle is dropped.
    /// The name is only for display. It runs the very same protocol, which is how the
    /// protocol is checked under Miri.
    ///
    /// ```
    /// use shm_disruptor::Disruptor;
    /// let ring = Disruptor::<u64>::builder("threads").capacity(8).consumers(1).create_in_process()?;
    /// let mut producer = ring.producer()?;
    /// let mut claim = producer.claim()?;
    /// *claim = 7;
    /// claim.commit();
    /// let mut consumer = ring.consumer(0)?;
    /// assert_eq!(consumer.try_consume().iter().copied().collect::<Vec<_>>(), [7]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_in_process(self) -> Result<Disruptor<T>, OpenError> {
        let shape = self.checked()?;
        let mode = shape.mode;
        let schema = &T::SCHEMA;
        let geometry = Geometry::new(
            shape.capacity as u64,
            shape.consumers,
            shape.producers,
            0, // the graph lives in the `Core`, not in a segment
            schema.size as u64,
            schema.align as u64,
            mode,
        )
        .map_err(OpenError::InvalidConfig)?;
        let fence = match self.fence {
            Some(mode) => {
                mode.follow().map_err(|()| OpenError::FenceModeUnavailable {
                    name: self.name.clone(),
                    mode,
                })?;
                mode
            }
            None => {
                let mode = FenceMode::for_new_ring();
                if mode == FenceMode::Fence {
                    event!(
                        INFO,
                        ring = self.name.as_str(),
                        "membarrier is unavailable to this process: the new ring uses fence \
                         mode `fence` (a SeqCst fence per publish)"
                    );
                }
                mode
            }
        };
        let memory = HeapMemory::new(&geometry, mode == ProducerMode::Multi);
        let ring = memory.ring(fence == FenceMode::Fence);
        let graph = Graph::new(&shape.dependencies);
        let core = Core::new(ring, &geometry, graph, Locks::in_process(), mode, fence);
        let shared = Shared::new(core, Backing::Heap(memory), self.name, geometry);
        Ok(Disruptor::from_shared(shared, self.wait))
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
        self.open_stated()
    }

    fn open_stated(&self) -> Result<Disruptor<T>, OpenError> {
        let expect = Expectations {
            capacity: self.capacity.map(|c| c as u64),
            consumer_count: self.consumers,
            producer_count: self.producers,
            mode: self.mode,
        };
        let (segment, file) = Segment::open(&self.name, &T::SCHEMA, &expect, self.init_timeout)?;
        let ring = Disruptor::from_shared(Shared::mapped(segment, file)?, self.wait);
        if !self.dependencies.is_empty() {
            // The graph stated must be the ring's (compared as sorted lists), over the ring's
            // consumers: nothing else need be stated to open.
            let stated = self.stated_graph(ring.consumer_count())?;
            let found = ring.shared.core.graph.lists();
            if stated != found {
                let show = |g: &[Vec<usize>]| format!("{g:?}");
                return Err(OpenError::GeometryMismatch {
                    name: self.name.clone(),
                    what: "dependency graph",
                    expected: show(&stated),
                    found: show(&found),
                });
            }
        }
        Ok(ring)
    }

    /// Like [`open`](Self::open), but waits up to `timeout` for the ring to be created (and
    /// then, as `open` does, up to [`init_timeout`](Self::init_timeout) for its creator to
    /// finish): for a consumer process started before its producer. Still absent after
    /// `timeout`: [`OpenError::NotFound`]; any other error is returned at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_disruptor::Disruptor;
    /// # let name = format!("/doc-open-timeout-{}", std::process::id());
    /// let creator = {
    ///     let name = name.clone();
    ///     std::thread::spawn(move || {
    ///         std::thread::sleep(Duration::from_millis(20));
    ///         Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()
    ///     })
    /// };
    /// let ring = Disruptor::<u64>::builder(&name).open_timeout(Duration::from_secs(5))?;
    /// assert_eq!(ring.capacity(), 8);
    /// # drop(creator.join().unwrap()?);
    /// # shm_disruptor::unlink(&name)?;
    /// # Ok::<(), shm_disruptor::OpenError>(())
    /// ```
    pub fn open_timeout(self, timeout: Duration) -> Result<Disruptor<T>, OpenError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut pause = Duration::from_micros(100);
        loop {
            match self.open_stated() {
                Err(OpenError::NotFound { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause.min(deadline - std::time::Instant::now()));
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Err(e @ OpenError::NotFound { .. }) => {
                    event!(
                        WARN,
                        ring = self.name.as_str(),
                        waited_ms = timeout.as_millis() as u64,
                        "open timed out: the ring was not created in time"
                    );
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// Opens the ring if it exists (verifying `T` and everything stated: capacity, consumers,
    /// producer mode and records, dependency graph), else creates it: what several processes
    /// that may start in any order each call. Race-free: of processes calling it at once,
    /// exactly one creates the ring (creation is exclusive) and the others open it, waiting
    /// (up to [`init_timeout`](Self::init_timeout)) for its creator to finish; if that creator
    /// fails and removes it, they try again. A ring that exists with another shape is refused
    /// ([`OpenError::GeometryMismatch`], [`OpenError::SchemaMismatch`]), never replaced.
    ///
    /// ```
    /// use shm_disruptor::Disruptor;
    /// # let name = format!("/doc-open-or-create-{}", std::process::id());
    /// let builder = || Disruptor::<u64>::builder(&name).capacity(64).consumers(2);
    /// let first = builder().open_or_create()?; // creates it
    /// let second = builder().open_or_create()?; // opens it
    /// assert_eq!(first.name(), second.name());
    /// assert!(builder().consumers(3).open_or_create().is_err(), "another shape is refused");
    /// # shm_disruptor::unlink(&name)?;
    /// # Ok::<(), shm_disruptor::OpenError>(())
    /// ```
    pub fn open_or_create(self) -> Result<Disruptor<T>, OpenError> {
        let shape = self.checked()?;
        let deadline = std::time::Instant::now() + self.init_timeout;
        loop {
            match self.create_shaped(&shape) {
                Err(OpenError::AlreadyExists { .. }) => {}
                other => return other,
            }
            match self.open_stated() {
                // Its creator failed and removed it since: try to create it again.
                Err(OpenError::NotFound { .. }) if std::time::Instant::now() < deadline => {}
                other => return other,
            }
        }
    }
}

/// What a builder describes, checked (`Builder::checked`).
struct Shape {
    capacity: usize,
    consumers: usize,
    producers: usize,
    mode: ProducerMode,
    dependencies: Vec<Vec<usize>>,
}

/// The live users of an existing, valid ring of any type: the owners of its consumer indices and
/// producer entries, and any other process that maps it; `None` if it is absent or not a valid
/// ring.
fn live_users_of(name: &str) -> Option<Vec<u32>> {
    let (segment, file) = Segment::open_any(name, Duration::from_millis(0)).ok()?;
    let core = segment.core(file).ok()?;
    let mut pids = crate::protocol::ownership::live_users(&core);
    for pid in crate::observe::processes_mapping(name) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    Some(pids)
}

/// The default wait strategy of new handles.
pub(crate) const DEFAULT_WAIT: WaitStrategy = WaitStrategy::Backoff;
