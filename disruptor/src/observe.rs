//! Reading a ring of any slot type from outside, for tools: the raw, untyped accessors that the
//! `shm-disruptor-inspect` crate (and through it the `shm-disruptor` command and its metrics
//! exporter) builds on. Applications use [`Disruptor`](crate::Disruptor) instead.
//!
//! A [`RingView`] opens a ring without its type (it validates everything in the header but the
//! schema, which it has nothing to compare with) and only ever *loads* from it: it never takes a
//! consumer index or a producer record, never stores to the segment, never wakes or waits on
//! anyone. The one exception is [`RingView::evict_dead_consumer`], which does what
//! [`Disruptor::evict_dead_consumers`](crate::Disruptor::evict_dead_consumers) does, for one
//! index.
//!
//! ```
//! use shm_disruptor::observe::RingView;
//! use shm_disruptor::Disruptor;
//!
//! # let name = format!("/doc-observe-{}", std::process::id());
//! let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
//! ring.producer()?.publish(|slot| *slot = 42)?;
//!
//! let view = RingView::open(&name, std::time::Duration::from_millis(100))?;
//! assert_eq!(view.header().capacity, 8);
//! assert_eq!(view.schema_table()?.type_name(), "u64");
//! assert_eq!(view.snapshot()?.cursor, 1);
//! let (cursor, slots, overwritten) = view.copy_published(1)?;
//! assert_eq!((cursor, slots[0].0, overwritten), (1, 0, 0));
//! assert_eq!(slots[0].1, 42u64.to_ne_bytes());
//! # shm_disruptor::unlink(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Trust
//!
//! Values read from the segment are never trusted for indexing: slot indices are reduced modulo
//! the capacity, and the geometry was validated against the mapping's length at open. Every
//! read of the state first checks the file's size (`fstat`) and reports a segment truncated
//! since it was mapped as [`OpenError::TooSmall`] instead of touching the lost pages.
//!
//! The view maps the segment read-write, like every other opener, but only loads from it: its
//! `Acquire` loads need writable memory in Rust's model. So the inspecting user needs write
//! permission on the segment, as any participant does.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use crate::protocol::{ownership, snapshot, Core};
use crate::shm::{self, Segment};
use crate::{graph, OpenError, Participant, ProducerMode, SchemaTable, SchemaTableError};

pub use crate::shm::{HEADER_BYTES, LAYOUT_VERSION, MAGIC};

/// Where Linux keeps POSIX shared-memory objects: `shm_open("/name")` is `/dev/shm/name`.
pub const SHM_DIR: &str = "/dev/shm";

/// An untyped, read-only view of one ring. See the [module documentation](self).
#[derive(Debug)]
pub struct RingView {
    segment: Segment,
    /// The protocol's view (its record locks are only ever tested, except by
    /// `evict_dead_consumer`).
    core: Core,
    /// The segment's file (a second descriptor of the core's), for size checks.
    file: std::fs::File,
}

/// The header's values, as validated at open (never re-read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderValues {
    /// The layout version.
    pub layout_version: u32,
    /// The slot type's schema hash.
    pub schema_hash: u64,
    /// `size_of` the slot type.
    pub slot_size: u64,
    /// `align_of` the slot type.
    pub slot_align: u64,
    /// Number of slots.
    pub capacity: u64,
    /// Number of consumers.
    pub consumer_count: usize,
    /// Number of producer records.
    pub producer_count: usize,
    /// Single- or multi-producer.
    pub producer_mode: ProducerMode,
    /// Creation time, nanoseconds since the Unix epoch.
    pub creation_time_ns: u64,
    /// The creating process.
    pub creator_pid: u32,
    /// Total segment size in bytes.
    pub segment_size: u64,
    /// Per consumer, the consumers it depends on.
    pub dependencies: Vec<Vec<usize>>,
    /// The consumers producers wait for (those no other consumer depends on).
    pub gating: Vec<usize>,
}

/// The moving parts of a ring, read in one pass: consumer sequences (with the registries),
/// then the cursor, then the claim sequence, so that each lag is at least what it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The application status word.
    pub status: i32,
    /// The published cursor.
    pub cursor: u64,
    /// The claim sequence.
    pub claim_sequence: u64,
    /// Every consumer index, then every producer record that has an owner or a pending range.
    pub participants: Vec<Participant>,
    /// Per consumer index, the number of batches it committed (wraps at 2^64).
    pub commits: Vec<u64>,
    /// The claimed, unpublished range at the cursor that no live producer will commit.
    pub orphaned_claim: Option<Range<u64>>,
    /// Ranges ever published as abandoned.
    pub abandoned_total: u64,
    /// The last (at most 32) abandoned ranges, in sequence order.
    pub abandoned: Vec<Range<u64>>,
    /// The data futex's waiter count (consumers registered as sleeping).
    pub sleeping_consumers: u32,
    /// The room futex's waiter count (producers registered as sleeping).
    pub sleeping_producers: u32,
}

impl RingView {
    /// Opens the ring `name`, waiting up to `init_timeout` for a creator still writing the
    /// header. The header is validated as a typed opener would, except for the schema.
    pub fn open(name: &str, init_timeout: Duration) -> Result<RingView, OpenError> {
        let (segment, file) = Segment::open_any(name, init_timeout)?;
        let dup = file.try_clone().map_err(|source| OpenError::Os {
            op: "dup",
            name: name.to_owned(),
            source,
        })?;
        let core = segment.core(dup)?;
        Ok(RingView { segment, core, file })
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.segment.name()
    }

    /// The header's values.
    pub fn header(&self) -> HeaderValues {
        let h = self.segment.header();
        let g = self.segment.geometry();
        HeaderValues {
            layout_version: h.layout_version,
            schema_hash: h.schema_hash,
            slot_size: g.slot_size,
            slot_align: h.slot_align,
            capacity: g.capacity,
            consumer_count: g.consumer_count,
            producer_count: g.producer_count,
            producer_mode: self.segment.mode(),
            creation_time_ns: h.creation_time_ns,
            creator_pid: h.creator_pid,
            segment_size: g.segment_size as u64,
            dependencies: self.segment.dependencies().to_vec(),
            gating: graph::last_stages(self.segment.dependencies()),
        }
    }

    /// The slot type's schema table from the header, checked against the header's schema hash,
    /// slot size and alignment.
    pub fn schema_table(&self) -> Result<SchemaTable, SchemaTableError> {
        self.segment.schema_table()
    }

    /// [`OpenError::TooSmall`] once another process truncated the segment file since it was
    /// mapped (reading the lost pages would raise `SIGBUS`).
    pub fn check_size(&self) -> Result<(), OpenError> {
        self.segment.check_size(&self.file).map_err(|(expected, actual)| OpenError::TooSmall {
            name: self.segment.name().to_owned(),
            expected,
            actual,
        })
    }

    /// The sequences and registries, read now (after checking the segment's size).
    pub fn snapshot(&self) -> Result<Snapshot, OpenError> {
        self.check_size()?;
        let core = &self.core;
        let participants = ownership::participants(core);
        let cursor = core.ring.load_cursor();
        let claim_sequence = core.ring.load_claim_sequence();
        let commits = (0..core.ring.consumer_count).map(|i| core.ring.load_commits(i)).collect();
        let (abandoned_total, abandoned) = snapshot::abandoned(core);
        let (sleeping_consumers, sleeping_producers) = core.ring.load_sleepers();
        Ok(Snapshot {
            status: core.ring.load_status(),
            cursor,
            claim_sequence,
            participants,
            commits,
            orphaned_claim: ownership::orphaned_claim(core),
            abandoned_total,
            abandoned,
            sleeping_consumers,
            sleeping_producers,
        })
    }

    /// The live processes that own a consumer index or a producer record.
    pub fn live_users(&self) -> Vec<u32> {
        ownership::live_users(&self.core)
    }

    /// Copies the raw bytes of the last `last` published slots (at most the capacity, and at
    /// most the cursor), oldest first: `(cursor, [(sequence, bytes)], overwritten)`, where
    /// `overwritten` counts the oldest slots dropped because a producer may have claimed them
    /// for reuse during the copy (the seqlock check; exact on x86-64, and on weakly ordered
    /// CPUs a slot rewritten at that very moment may rarely be torn). Never consumes, never
    /// waits, never writes.
    #[allow(clippy::type_complexity)]
    pub fn copy_published(
        &self,
        last: usize,
    ) -> Result<(u64, Vec<(u64, Vec<u8>)>, usize), OpenError> {
        self.check_size()?;
        Ok(snapshot::copy_published(&self.core, last))
    }

    /// Evicts consumer `index` if its owner died holding it, as
    /// [`Disruptor::evict_dead_consumers`](crate::Disruptor::evict_dead_consumers) does: it is
    /// released (producers ignore it; the stages that followed it follow what it followed).
    /// `false` when it is not dead (live, never owned or let go, already released, out of
    /// range, or restarted meanwhile): nothing is written then.
    pub fn evict_dead_consumer(&self, index: usize) -> bool {
        !ownership::evict_consumers(&self.core, |i, _| i == index).is_empty()
    }
}

/// Up to `len` bytes from the start of segment `name`, opened read-only, without blocking, and
/// only if it is a regular file ([`OpenError::NotASegment`] otherwise).
pub fn read_prefix(name: &str, len: usize) -> Result<Vec<u8>, OpenError> {
    let file = shm::open_file(name, rustix::shm::OFlags::RDONLY)?;
    let mut prefix = Vec::with_capacity(len.min(HEADER_BYTES));
    file.take(len as u64).read_to_end(&mut prefix).map_err(|source| OpenError::Os {
        op: "read",
        name: name.to_owned(),
        source,
    })?;
    Ok(prefix)
}

/// The processes other than this one that map the segment `name` now (from `/proc/*/maps`):
/// every attached process, including those that own no consumer index or producer record, and
/// the creator of a segment still being initialised. Processes of other users are missed
/// unless this one may read their `/proc` entries.
pub fn processes_mapping(name: &str) -> Vec<u32> {
    match segment_inode(name) {
        Some(inode) => mapping_processes().remove(&inode).unwrap_or_default(),
        None => Vec::new(),
    }
}

/// The inode of `/dev/shm/NAME`.
fn segment_inode(name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let path = Path::new(SHM_DIR).join(name.strip_prefix('/')?);
    std::fs::symlink_metadata(path).ok().map(|m| m.ino())
}

/// For every inode of a file under `/dev/shm` that some other process maps, those processes.
pub fn mapping_processes() -> HashMap<u64, Vec<u32>> {
    let own = std::process::id();
    let mut out: HashMap<u64, Vec<u32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(maps) = std::fs::read_to_string(entry.path().join("maps")) else { continue };
        for line in maps.lines() {
            // address perms offset dev inode path
            let mut fields = line.split_ascii_whitespace();
            let (Some(inode), Some(path)) = (fields.nth(4), fields.next()) else { continue };
            // A deleted (unlinked) segment's path ends with " (deleted)": another field.
            if fields.next().is_some() || !path.starts_with("/dev/shm/") {
                continue;
            }
            if let Ok(inode) = inode.parse::<u64>() {
                let pids = out.entry(inode).or_default();
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
    }
    out
}
