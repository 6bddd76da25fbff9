//! Typed errors, one enum per operation family, each carrying the values that disagree.

use std::io;
use std::time::Duration;

/// Why a segment could not be created, opened or removed.
///
/// Every variant carries the segment's name and the values that disagree, and its `Display`
/// says what happened in a sentence. The ones an application usually handles itself:
///
/// ```
/// use shm_disruptor::{Disruptor, OpenError};
///
/// /// Attaches to a ring of `u64`s with two consumers, or says why it cannot.
/// fn attach(name: &str) -> Result<Disruptor<u64>, String> {
///     match Disruptor::<u64>::builder(name).consumers(2).open() {
///         Ok(ring) => Ok(ring),
///         // Nobody created it (yet): start its creator first, or wait for it with
///         // `Builder::open_timeout`.
///         Err(OpenError::NotFound { name }) => Err(format!("{name} does not exist yet")),
///         // The ring holds another message type (or another version of it): `diff` names the
///         // first field that differs. Nothing was read through the wrong type.
///         Err(OpenError::SchemaMismatch { diff, .. }) => Err(format!("another type: {diff}")),
///         // The ring exists with another shape than the builder stated: capacity, consumer
///         // count, producer mode or records, or dependency graph.
///         Err(OpenError::GeometryMismatch { what, expected, found, .. }) => {
///             Err(format!("{what} is {found}, not {expected}"))
///         }
///         // The segment's permissions exclude this user (see `Builder::permissions`).
///         Err(OpenError::PermissionDenied { name }) => Err(format!("{name}: permission denied")),
///         // Anything else: a corrupt or foreign segment, a creator that died while writing
///         // the header, no room in /dev/shm... The message says which.
///         Err(other) => Err(other.to_string()),
///     }
/// }
///
/// # let name = format!("/doc-open-error-{}", std::process::id());
/// assert!(attach(&name).unwrap_err().ends_with("does not exist yet"));
///
/// let _ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
/// assert_eq!(attach(&name).unwrap_err(), "consumer count is 1, not 2");
/// // The name is taken now: `create` refuses it (`open_or_create` would open it).
/// let again = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create();
/// assert!(matches!(again, Err(OpenError::AlreadyExists { .. })));
/// // Another message type is refused, with the difference spelled out.
/// assert!(matches!(Disruptor::<[u32; 2]>::open(&name), Err(OpenError::SchemaMismatch { .. })));
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), OpenError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The name is not a valid POSIX shared-memory name.
    #[error("invalid segment name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No segment has this name.
    #[error("shared-memory segment {name:?} does not exist")]
    NotFound {
        /// The name given.
        name: String,
    },
    /// `create()` found a segment with this name already (use `replace_existing()` or `open`).
    #[error("shared-memory segment {name:?} already exists")]
    AlreadyExists {
        /// The name given.
        name: String,
    },
    /// The segment exists but this process may not open it.
    #[error("permission denied on shared-memory segment {name:?}")]
    PermissionDenied {
        /// The name given.
        name: String,
    },
    /// `replace_existing()` found a segment that live processes still use.
    #[error("shared-memory segment {name:?} is in use by live process(es) {pids:?}; use force() to replace it anyway")]
    InUse {
        /// The name given.
        name: String,
        /// The live processes attached to it.
        pids: Vec<u32>,
    },
    /// A builder parameter is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The segment is smaller than its header or than the slots the header describes.
    #[error("segment {name:?} is too small: {actual} bytes, but {expected} bytes are needed")]
    TooSmall {
        /// The name given.
        name: String,
        /// The size needed.
        expected: u64,
        /// The size found.
        actual: u64,
    },
    /// The name is not a shared-memory segment at all (a FIFO, a socket, a directory or a
    /// symbolic link planted in `/dev/shm`): it is never mapped, read or waited on.
    #[error("{name:?} is {kind}, not a shared-memory segment")]
    NotASegment {
        /// The name given.
        name: String,
        /// What it is.
        kind: &'static str,
    },
    /// The file system of shared memory (`/dev/shm`) has no room for the segment now.
    #[error("no space in shared memory for segment {name:?}: {needed} bytes needed, {} available", available.map_or("an unknown number of bytes".to_owned(), |a| a.to_string()))]
    NoSpace {
        /// The name given.
        name: String,
        /// The segment's size.
        needed: u64,
        /// The space left, when the file system says.
        available: Option<u64>,
    },
    /// The segment is larger than the file system of shared memory can ever hold.
    #[error("segment {name:?} would be {size} bytes, more than shared memory can hold{}", limit.map_or(String::new(), |l| format!(" ({l} bytes)")))]
    TooLarge {
        /// The name given.
        name: String,
        /// The segment's size.
        size: u64,
        /// The size of the file system, when it says.
        limit: Option<u64>,
    },
    /// The ring's fence mode (recorded at creation) cannot be followed by this process: it was
    /// created with [`FenceMode::Membarrier`](crate::FenceMode::Membarrier) and this process may
    /// not register for expedited membarriers (an older kernel, or a seccomp profile that
    /// refuses the call). Taking part anyway would lose wake-ups; create such rings with
    /// `fence_mode(FenceMode::Fence)` when their processes run under different sandboxes.
    #[error("segment {name:?} uses fence mode {mode}, which this process cannot follow (membarrier is unavailable here); create the ring with fence_mode(FenceMode::Fence) to share it with this process")]
    FenceModeUnavailable {
        /// The name given.
        name: String,
        /// The ring's mode.
        mode: crate::FenceMode,
    },
    /// The segment does not start with this crate's magic bytes: it is not a ring (or is corrupt).
    #[error("segment {name:?} is not a shm-disruptor ring (bad magic {found:02x?})")]
    BadMagic {
        /// The name given.
        name: String,
        /// The first bytes found.
        found: [u8; 8],
    },
    /// The segment was written by an incompatible version of this crate.
    #[error("segment {name:?} has layout version {found}, this build supports {supported}")]
    UnsupportedVersion {
        /// The name given.
        name: String,
        /// The version found.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },
    /// The segment was created on a target with another byte order or pointer width.
    #[error("segment {name:?} was created for another target (byte-order tag {found_order:#x}, pointer width {found_width}; ours {our_order:#x}, {our_width})")]
    ForeignTarget {
        /// The name given.
        name: String,
        /// Byte-order tag found.
        found_order: u32,
        /// Pointer width found.
        found_width: u32,
        /// Our byte-order tag.
        our_order: u32,
        /// Our pointer width.
        our_width: u32,
    },
    /// The ring holds another message type.
    #[error("segment {name:?} holds another message type:\n  this process: {expected}\n  the segment:  {found}\n{diff}")]
    SchemaMismatch {
        /// The name given.
        name: String,
        /// The layout of `T` in this process.
        expected: String,
        /// The layout recorded in the segment.
        found: String,
        /// The first difference, field by field.
        diff: String,
    },
    /// The ring's slot size or alignment differs from `T`'s.
    #[error("segment {name:?} has slots of size {found_size} align {found_align}, but `{type_name}` has size {expected_size} align {expected_align}")]
    SlotLayoutMismatch {
        /// The name given.
        name: String,
        /// `T`'s name.
        type_name: String,
        /// `size_of::<T>()`.
        expected_size: u64,
        /// `align_of::<T>()`.
        expected_align: u64,
        /// Slot size in the header.
        found_size: u64,
        /// Slot alignment in the header.
        found_align: u64,
    },
    /// The ring's geometry differs from what the opener stated it expects.
    #[error("segment {name:?} has {what} {found}, but {expected} was expected")]
    GeometryMismatch {
        /// The name given.
        name: String,
        /// `capacity`, `consumer count`, `producer record count`, `producer mode` or
        /// `dependency graph`.
        what: &'static str,
        /// The value stated to the builder.
        expected: String,
        /// The value in the header.
        found: String,
    },
    /// The header holds values no creator writes (a corrupt or hostile segment).
    #[error("segment {name:?} is corrupt: {reason}")]
    Corrupt {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The creator did not finish initialising the segment in time (it may have died).
    #[error("segment {name:?} was not initialised within {waited:?} (its creator may have died; replace_existing() cleans it up)")]
    NotInitialised {
        /// The name given.
        name: String,
        /// How long we waited.
        waited: Duration,
    },
    /// Any other operating-system error.
    #[error("{op} on shared-memory segment {name:?} failed: {source}")]
    Os {
        /// The call that failed.
        op: &'static str,
        /// The name given.
        name: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Why a consumer or producer handle could not be attached.
///
/// ```
/// use shm_disruptor::{AttachError, Disruptor};
///
/// /// What each refusal means, and what to do about it.
/// fn advice(error: &AttachError) -> &'static str {
///     match error {
///         // Another live handle, in this or another process, owns the index; it is free again
///         // once that handle drops (or its process dies).
///         AttachError::ConsumerInUse { .. } => "wait for its owner to go, or take another index",
///         AttachError::ConsumerOutOfRange { .. } => "the ring has fewer consumers",
///         // `Consumer::release` (or an eviction) retired the index for good.
///         AttachError::ConsumerReleased { .. } => "this index is retired",
///         // A single-producer ring has one producer handle at a time, across all processes.
///         AttachError::ProducerInUse { .. } => "another handle is the producer",
///         // Every producer record is held (or holds a claim left pending).
///         AttachError::TooManyProducers { .. } => "create the ring with more `producers`",
///         // `exclusive_consumer` asked for a stage that another stage may read alongside.
///         AttachError::NotExclusive { .. } => "make the other stage depend on this one",
///         _ => "see the error's message",
///     }
/// }
///
/// let ring = Disruptor::<u64>::builder("attach")
///     .capacity(8)
///     .consumers(2)
///     .single_producer()
///     .create_in_process()?;
/// let _consumer = ring.consumer(0)?;
/// let _producer = ring.producer()?;
///
/// let error = ring.consumer(0).unwrap_err();
/// assert!(matches!(error, AttachError::ConsumerInUse { index: 0, .. }));
/// assert_eq!(advice(&error), "wait for its owner to go, or take another index");
/// let out_of_range = ring.consumer(2).unwrap_err();
/// assert_eq!(out_of_range, AttachError::ConsumerOutOfRange { index: 2, count: 2 });
/// assert!(matches!(ring.producer(), Err(AttachError::ProducerInUse { .. })));
/// assert_eq!(
///     ring.exclusive_consumer(1).unwrap_err(),
///     AttachError::NotExclusive { index: 1, concurrent: 0 }
/// );
/// ring.consumer(1)?.release();
/// assert_eq!(ring.consumer(1).unwrap_err(), AttachError::ConsumerReleased { index: 1 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The consumer index is not below the ring's consumer count.
    #[error("consumer index {index} is out of range: the ring has {count} consumer(s)")]
    ConsumerOutOfRange {
        /// The index asked for.
        index: usize,
        /// The ring's consumer count.
        count: usize,
    },
    /// Another live handle (in this or another process) owns this consumer index.
    #[error("consumer {index} is in use by live process {pid}")]
    ConsumerInUse {
        /// The index asked for.
        index: usize,
        /// The owner's process id.
        pid: u32,
    },
    /// The consumer was released: producers ignore it, so it can no longer consume.
    #[error("consumer {index} was released and is ignored by producers")]
    ConsumerReleased {
        /// The index asked for.
        index: usize,
    },
    /// Exclusive (mutable) access was asked for a consumer that another consumer may read
    /// alongside: neither follows the other in the dependency graph.
    #[error("consumer {index} cannot write its slots: consumer {concurrent} may read them at the same time (neither depends on the other)")]
    NotExclusive {
        /// The index asked for.
        index: usize,
        /// A consumer that may see the same slots concurrently.
        concurrent: usize,
    },
    /// In single-producer mode, another live handle is the producer.
    #[error("the ring is single-producer and live process {pid} already has the producer")]
    ProducerInUse {
        /// The owner's process id.
        pid: u32,
    },
    /// Every producer registry record is held by a live producer or describes a range that is
    /// still pending (left pending, or its producer died).
    #[error(
        "all {max} producer registry records are in use or hold pending claims (a ring is created with more by Builder::producers)"
    )]
    TooManyProducers {
        /// The registry size.
        max: usize,
    },
    /// The segment file is smaller than when it was mapped (another process truncated it):
    /// touching the lost pages would kill this process with SIGBUS.
    #[error("the segment shrank to {actual} bytes since it was mapped ({expected} bytes)")]
    SegmentShrunk {
        /// The size it was mapped with.
        expected: u64,
        /// Its size now.
        actual: u64,
    },
}

/// Why a claim failed.
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{ClaimError, Disruptor};
///
/// let ring = Disruptor::<u64>::builder("claims").capacity(2).consumers(1).create_in_process()?;
/// let mut producer = ring.producer()?;
/// producer.publish_batch(2, |i, slot| *slot = i as u64)?; // the ring is full now
///
/// match producer.try_publish(|slot| *slot = 2) {
///     Ok(sequence) => println!("published {sequence}"),
///     // No room now (only from `try_` calls): retry later, or use a blocking call.
///     Err(ClaimError::Full) => println!("full: the consumer is a ring behind"),
///     // A `_timeout` call's deadline passed before room appeared.
///     Err(ClaimError::Timeout) => println!("still full"),
///     // Every consumer was released: nothing would ever read what is produced. Stop.
///     Err(ClaimError::NoConsumers) => println!("nobody is listening"),
///     // A programming error: more slots than the ring holds, or none, were asked for.
///     Err(e @ (ClaimError::TooMany { .. } | ClaimError::Empty)) => panic!("{e}"),
///     // The others are rare: no free producer record, an async watcher that failed to start.
///     Err(e) => return Err(e.into()),
/// }
///
/// assert_eq!(producer.try_claim().map(|claim| claim.sequence()), Err(ClaimError::Full));
/// let waited = producer.claim_timeout(Duration::from_millis(1)).map(|claim| claim.sequence());
/// assert_eq!(waited, Err(ClaimError::Timeout));
/// assert_eq!(
///     producer.claim_many(3).map(|claim| claim.len()),
///     Err(ClaimError::TooMany { requested: 3, capacity: 2 })
/// );
/// ring.consumer(0)?.release();
/// // Even a blocking claim fails at once when nobody will ever consume.
/// assert_eq!(producer.claim().map(|claim| claim.sequence()), Err(ClaimError::NoConsumers));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// Not enough free slots now (only from `try_` calls).
    #[error("the ring is full")]
    Full,
    /// Every consumer has been released, so nothing would ever read what is produced.
    #[error("every consumer has been released: nothing is listening")]
    NoConsumers,
    /// More slots than the ring holds were asked for.
    #[error("cannot claim {requested} slots in a ring of {capacity}")]
    TooMany {
        /// The number asked for.
        requested: usize,
        /// The ring's capacity.
        capacity: usize,
    },
    /// Zero slots were asked for.
    #[error("a claim must be of at least one slot")]
    Empty,
    /// A deadline passed before room appeared.
    #[error("timed out waiting for room in the ring")]
    Timeout,
    /// Every producer registry record is in use: this multi-producer handle gave its record up
    /// with its last claim ([`ClaimBatch::leave_pending`](crate::ClaimBatch::leave_pending), or
    /// a leaked claim) and no record is free for the next one until pending ranges are
    /// recovered and committed.
    #[error("no producer registry record is free for a new claim (all {max} hold live producers or pending claims)")]
    NoFreeRecord {
        /// The registry size.
        max: usize,
    },
    /// An async call had to wait, and the thread that watches the ring for async waits could
    /// not be started.
    #[error("the async watcher thread could not be started: {0}")]
    AsyncUnavailable(io::ErrorKind),
}

/// Why a consume failed.
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{ConsumeError, Disruptor};
///
/// let ring = Disruptor::<u64>::builder("quiet").capacity(8).consumers(1).create_in_process()?;
/// let mut consumer = ring.consumer(0)?;
///
/// match consumer.consume_timeout(Duration::from_millis(1)) {
///     Ok(batch) => batch.commit(),
///     // Nothing was published in time: the producers are quiet (or gone). Try again, or
///     // check on them (`Disruptor::participants`).
///     Err(ConsumeError::Timeout) => println!("nothing yet"),
///     // Only from async calls: this process could not start the thread that watches the
///     // ring for them (the `io::ErrorKind` says why).
///     Err(ConsumeError::AsyncUnavailable(kind)) => panic!("no watcher thread: {kind}"),
///     Err(other) => return Err(other.into()),
/// }
/// assert_eq!(
///     consumer.consume_timeout(Duration::ZERO).map(|batch| batch.len()),
///     Err(ConsumeError::Timeout)
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// A deadline passed before anything was published.
    #[error("timed out waiting for messages")]
    Timeout,
    /// An async call had to wait, and the thread that watches the ring for async waits could
    /// not be started.
    #[error("the async watcher thread could not be started: {0}")]
    AsyncUnavailable(io::ErrorKind),
}
