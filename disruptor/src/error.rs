//! Typed errors, one enum per operation family, each carrying the values that disagree.

use std::io;
use std::time::Duration;

/// Why a segment could not be created, opened or removed.
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
    #[error("segment {name:?} is {actual} bytes, but {expected} bytes are needed")]
    TooSmall {
        /// The name given.
        name: String,
        /// The size needed.
        expected: u64,
        /// The size found.
        actual: u64,
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
        /// `capacity`, `consumers` or `producer mode`.
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
    /// Every producer registry entry is taken by a live producer.
    #[error("all {max} producer registry entries are in use")]
    TooManyProducers {
        /// The registry size.
        max: usize,
    },
}

/// Why a claim failed.
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
}

/// Why a consume failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// A deadline passed before anything was published.
    #[error("timed out waiting for messages")]
    Timeout,
}
