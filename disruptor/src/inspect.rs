//! Read-only, untyped inspection of rings: what the `shm-disruptor` command shows.
//!
//! An [`Inspector`] opens a ring of *any* slot type (it validates everything in the header but
//! the schema, which it has nothing to compare with) and reads it without taking part: it never
//! takes a consumer index or a producer entry, never stores to the segment, and never wakes or
//! waits on anyone. Its snapshots ([`HeaderInfo`], [`RingState`], [`RingInfo`]) describe the
//! header, the sequences and the registries; [`Inspector::peek`] copies the raw bytes of the last
//! published slots, and [`SlotLayout`] decodes them from the schema text recorded in the header.
//! [`list`] classifies every POSIX shared-memory segment on the machine.
//!
//! ```
//! use shm_disruptor::{inspect::Inspector, Disruptor};
//!
//! # let name = format!("/doc-inspect-{}", std::process::id());
//! let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
//! let mut producer = ring.producer()?;
//! let mut claim = producer.claim()?;
//! *claim = 42;
//! claim.commit();
//!
//! let inspector = Inspector::open(&name)?;
//! let info = inspector.info()?;
//! assert_eq!((info.header.type_name.as_str(), info.state.cursor), ("u64", 1));
//! assert_eq!(info.state.consumers[0].lag, Some(1));
//! let peeked = inspector.peek(1)?;
//! assert_eq!(peeked.slots[0].bytes, 42u64.to_ne_bytes());
//! let layout = inspector.layout()?;
//! assert_eq!(layout.decode(&peeked.slots[0].bytes)[0].value.to_string(), "42");
//! # shm_disruptor::unlink(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Reading without writing
//!
//! The inspector maps the segment read-write, like every other opener, but only ever *loads*
//! from it. It does not map it read-only because its loads of the sequences are `Acquire` loads
//! (so that a slot below the cursor it read is complete when it copies the slot), and Rust only
//! promises that `Relaxed` loads work on read-only memory. So the inspecting user needs write
//! permission on the segment, as any participant does.
//!
//! # Trust
//!
//! Values read from the segment are never trusted for indexing: slot indices are reduced modulo
//! the capacity, and the geometry (capacity, slot size, consumer count, segment size) was
//! validated against the mapping's length when the ring was opened. Sequences from a crashed or
//! hostile peer can make the numbers shown wrong (lags are computed with saturating arithmetic),
//! never make the inspector read outside the mapping.
//!
//! A segment file that another process truncates after it was mapped would make any read of
//! the lost pages raise `SIGBUS`: every read of the state ([`Inspector::state`],
//! [`Inspector::info`], [`Inspector::peek`]) first checks the file's size (`fstat`) and reports
//! a shrunk segment as [`OpenError::TooSmall`] instead. (A truncation between that check and
//! the read itself cannot be caught; only processes with write permission on the segment can
//! truncate it, which is its owner alone by default.) A FIFO, socket or other non-file planted
//! under the name is reported as [`OpenError::NotASegment`] without being opened for reading.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::protocol::{ownership, snapshot, Core};
use crate::shm::{self, Segment, HEADER_BYTES, MAGIC};
use crate::Participant;
use crate::{graph, OpenError, ParticipantState, ProducerMode};

/// Where Linux keeps POSIX shared-memory objects: `shm_open("/name")` is `/dev/shm/name`.
pub const SHM_DIR: &str = "/dev/shm";

/// How long [`Inspector::open`] waits for a creator that is still writing the header.
pub const DEFAULT_INIT_WAIT: Duration = Duration::from_millis(100);

/// A read-only view of one ring of any slot type. See the [module documentation](self).
///
/// ```
/// use shm_disruptor::{inspect::Inspector, Disruptor};
///
/// # let name = format!("/doc-inspector-{}", std::process::id());
/// let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(2).create()?;
/// let _consumer = ring.consumer(1)?;
///
/// // Any process may look (typically another one: the `shm-disruptor` command). It takes no
/// // consumer index or producer record and writes nothing, so the ring cannot tell.
/// let inspector = Inspector::open(&name)?;
/// assert_eq!(inspector.name(), name);
/// assert_eq!(inspector.header().consumer_count, 2);
/// assert_eq!(inspector.live_users(), [std::process::id()]);
/// assert_eq!(inspector.state()?.consumers[1].owner_pid, Some(std::process::id()));
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Inspector {
    segment: Segment,
    /// The protocol's view (its record locks are only ever tested, never taken).
    core: Core,
    /// The segment's file (a second descriptor of the core's), for size checks.
    file: std::fs::File,
}

/// The header of a ring: written once by its creator, never changed.
///
/// ```
/// use shm_disruptor::{inspect::Inspector, Disruptor, ProducerMode, Slot};
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Tick {
///     price: f64,
///     qty: u32,
///     side: u8,
///     _pad: [u8; 3],
/// }
///
/// # let name = format!("/doc-header-{}", std::process::id());
/// let ring = Disruptor::<Tick>::builder(&name)
///     .capacity(1024)
///     .consumers(3)
///     .depends_on(2, &[0, 1])
///     .single_producer()
///     .create()?;
///
/// let header = Inspector::open(&name)?.header();
/// assert_eq!(header.type_name, "Tick");
/// assert_eq!(header.schema_hash, Tick::SCHEMA.hash);
/// assert_eq!(header.schema_text, Tick::SCHEMA.to_string());
/// assert_eq!((header.capacity, header.slot_size, header.consumer_count), (1024, 16, 3));
/// assert_eq!(header.producer_mode, ProducerMode::Single);
/// assert_eq!(header.dependencies, [vec![], vec![], vec![0, 1]]);
/// assert_eq!(header.gating, [2]); // producers wait for the last stage only
/// assert_eq!(header.creator_pid, std::process::id());
/// assert!(header.created() <= std::time::SystemTime::now());
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// The segment name (`/ticks`).
    pub name: String,
    /// The layout version of the segment.
    pub layout_version: u32,
    /// The slot type's name as its creator spelled it (`Tick`, `u64`, `[u8; 16]`).
    pub type_name: String,
    /// The slot type's schema as displayed by [`Schema`](crate::Schema)'s `Display` (truncated
    /// with `...` past 2048 bytes).
    pub schema_text: String,
    /// The schema hash that typed openers compare with theirs.
    pub schema_hash: u64,
    /// `size_of` the slot type.
    pub slot_size: u64,
    /// `align_of` the slot type.
    pub slot_align: u64,
    /// Number of slots.
    pub capacity: u64,
    /// Number of consumers.
    pub consumer_count: usize,
    /// Number of producer records (how many producer handles may be attached at once).
    pub producer_count: usize,
    /// Single- or multi-producer.
    pub producer_mode: ProducerMode,
    /// Creation time, nanoseconds since the Unix epoch.
    pub creation_time_ns: u64,
    /// The creating process.
    pub creator_pid: u32,
    /// Total segment size in bytes.
    pub segment_size: u64,
    /// Per consumer, the consumers it depends on (empty: it follows the producers' cursor).
    pub dependencies: Vec<Vec<usize>>,
    /// The consumers producers wait for (those no other consumer depends on).
    pub gating: Vec<usize>,
}

impl HeaderInfo {
    /// The creation time.
    pub fn created(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.creation_time_ns)
    }
}

/// What became of a consumer index.
///
/// ```
/// use shm_disruptor::inspect::{ConsumerState, Inspector};
/// use shm_disruptor::Disruptor;
///
/// # let name = format!("/doc-consumer-state-{}", std::process::id());
/// let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(3).create()?;
/// let _live = ring.consumer(0)?;
/// drop(ring.consumer(1)?); // attached, then detached cleanly
/// ring.consumer(2)?.release();
///
/// let state = Inspector::open(&name)?.state()?;
/// let states: Vec<ConsumerState> = state.consumers.iter().map(|c| c.state).collect();
/// assert_eq!(states, [ConsumerState::Live, ConsumerState::Gone, ConsumerState::Released]);
/// // `Dead` is an index whose owner's process died holding it (`shm-disruptor inspect` shows
/// // it; `Disruptor::evict_dead_consumers` releases it).
/// assert_eq!(ConsumerState::Dead.to_string(), "dead");
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerState {
    /// A running process owns it.
    Live,
    /// Its owner died without detaching (killed, crashed). Producers that wait for it keep
    /// waiting until it is evicted or a new owner resumes from its sequence.
    Dead,
    /// Nobody owns it (detached cleanly, or never attached). The next owner resumes from its
    /// sequence; producers that wait for it keep waiting meanwhile.
    Gone,
    /// Released (or evicted): producers ignore it, and it can no longer consume.
    Released,
}

impl fmt::Display for ConsumerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsumerState::Live => "live",
            ConsumerState::Dead => "dead",
            ConsumerState::Gone => "gone",
            ConsumerState::Released => "released",
        })
    }
}

/// One consumer index, as recorded in the segment.
///
/// ```
/// use shm_disruptor::{inspect::Inspector, Disruptor};
///
/// # let name = format!("/doc-consumer-info-{}", std::process::id());
/// let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
/// ring.producer()?.publish_batch(5, |i, slot| *slot = i as u64)?;
/// let mut consumer = ring.consumer(0)?;
/// consumer.try_consume().commit_first(2);
///
/// let state = Inspector::open(&name)?.state()?;
/// let info = &state.consumers[0];
/// assert_eq!((info.index, info.sequence, info.lag), (0, 2, Some(3))); // 3 left to read
/// assert_eq!(info.commits, 1);
/// assert_eq!(info.owner_pid, Some(std::process::id()));
/// assert!(info.dependencies.is_empty()); // it follows the producers' cursor
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// The index.
    pub index: usize,
    /// Its committed sequence: the next message it will read (`u64::MAX` once released).
    pub sequence: u64,
    /// How many published messages it has not committed (`cursor - sequence`, and for a pipeline
    /// stage still counted from the cursor); `None` once released.
    pub lag: Option<u64>,
    /// Live, dead, gone or released.
    pub state: ConsumerState,
    /// The owner's PID, if an owner is recorded (a dead owner's too).
    pub owner_pid: Option<u32>,
    /// Number of batches it has committed since the ring was created (wraps at 2^64).
    pub commits: u64,
    /// The consumers it depends on (empty: it follows the cursor).
    pub dependencies: Vec<usize>,
}

/// A producer registry record that has an owner or describes a pending range.
///
/// ```
/// use shm_disruptor::{inspect::Inspector, Disruptor, ParticipantState};
///
/// # let name = format!("/doc-producer-info-{}", std::process::id());
/// let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
/// let mut producer = ring.producer()?;
/// let claim = producer.claim_many(2)?; // claimed, not yet committed
///
/// let state = Inspector::open(&name)?.state()?;
/// let record = &state.producers[0];
/// assert_eq!(record.pid, Some(std::process::id()));
/// assert_eq!(record.state, ParticipantState::Alive);
/// assert_eq!(record.pending, Some(0..2));
/// claim.commit();
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerInfo {
    /// The registry record.
    pub entry: usize,
    /// The owner's PID (a dead owner's too); `None` once let go.
    pub pid: Option<u32>,
    /// Alive, dead, or gone (a range left pending).
    pub state: ParticipantState,
    /// Its in-flight claim, if it has one that is not yet published.
    pub pending: Option<Range<u64>>,
}

/// The moving parts of a ring, read in one pass (each value is exact when read; together they
/// are as consistent as the order of the reads makes them: consumer sequences, then the cursor,
/// then the claim sequence, so that every lag is at least what it was).
///
/// ```
/// use shm_disruptor::{inspect::Inspector, Disruptor};
///
/// # let name = format!("/doc-ring-state-{}", std::process::id());
/// let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
/// let mut producer = ring.producer()?;
/// producer.publish_batch(3, |i, slot| *slot = i as u64)?;
/// let pending = producer.claim_many(2)?.leave_pending(); // as if its producer had died
///
/// let inspector = Inspector::open(&name)?;
/// let state = inspector.state()?;
/// assert_eq!((state.cursor, state.claim_sequence), (3, 5));
/// assert_eq!(state.orphaned_claim, Some(pending)); // what holds the cursor back
/// assert_eq!((state.status, state.sleeping_consumers, state.sleeping_producers), (0, 0, 0));
///
/// // Published as abandoned (zero-filled), the range no longer blocks anyone.
/// producer.recover_orphaned().expect("nobody holds it").commit_abandoned();
/// let state = inspector.state()?;
/// assert_eq!((state.cursor, state.abandoned_total), (5, 1));
/// assert_eq!(state.abandoned, [3..5]);
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingState {
    /// The application status word.
    pub status: i32,
    /// The published cursor: every sequence below it has been committed.
    pub cursor: u64,
    /// The claim sequence: the next sequence a producer will claim.
    pub claim_sequence: u64,
    /// Every consumer index.
    pub consumers: Vec<ConsumerInfo>,
    /// Every producer registry entry that has an owner.
    pub producers: Vec<ProducerInfo>,
    /// The claimed-but-unpublished range at the cursor that no live producer is going to commit
    /// (its producer died, or left it pending), if there is one.
    pub orphaned_claim: Option<Range<u64>>,
    /// Number of ranges ever published as abandoned (zero-filled after their producer died).
    pub abandoned_total: u64,
    /// The last (at most 32) abandoned ranges, in sequence order.
    pub abandoned: Vec<Range<u64>>,
    /// Consumer handles registered as sleeping on the data futex (`Block` strategy).
    pub sleeping_consumers: u32,
    /// Producer handles registered as sleeping on the room futex (`Block` strategy).
    pub sleeping_producers: u32,
}

/// A ring's header and state.
///
/// ```
/// use shm_disruptor::{inspect::RingInfo, Disruptor};
///
/// # let name = format!("/doc-ring-info-{}", std::process::id());
/// let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
/// ring.producer()?.publish(|slot| *slot = 1)?;
///
/// let info = RingInfo::read(&name)?; // open, read, close
/// assert_eq!((info.header.type_name.as_str(), info.header.capacity), ("u64", 8));
/// assert_eq!((info.state.cursor, info.state.consumers[0].lag), (1, Some(1)));
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInfo {
    /// What the creator wrote.
    pub header: HeaderInfo,
    /// The sequences and the registries.
    pub state: RingState,
}

impl RingInfo {
    /// Opens the ring `name` (see [`Inspector::open`]) and reads its header and state.
    pub fn read(name: &str) -> Result<RingInfo, OpenError> {
        Inspector::open(name)?.info()
    }
}

/// The raw bytes of one published slot.
///
/// ```
/// use shm_disruptor::{inspect::Inspector, Disruptor};
///
/// # let name = format!("/doc-peeked-slot-{}", std::process::id());
/// let ring = Disruptor::<[u16; 2]>::builder(&name).capacity(8).consumers(1).create()?;
/// ring.producer()?.publish(|slot| *slot = [7, 300])?;
///
/// let inspector = Inspector::open(&name)?;
/// let slot = &inspector.peek(1)?.slots[0];
/// assert_eq!(slot.sequence, 0);
/// assert_eq!(slot.bytes.len(), 4);
/// // Decoded from the schema recorded in the header.
/// let fields = inspector.layout()?.decode(&slot.bytes);
/// assert_eq!(fields[0].value.to_string(), "[7, 300]");
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeekedSlot {
    /// Its sequence.
    pub sequence: u64,
    /// A copy of its `slot_size` bytes.
    pub bytes: Vec<u8>,
}

/// The result of [`Inspector::peek`].
///
/// ```
/// use shm_disruptor::{inspect::Inspector, Disruptor};
///
/// # let name = format!("/doc-peek-{}", std::process::id());
/// let ring = Disruptor::<u32>::builder(&name).capacity(8).consumers(1).create()?;
/// ring.producer()?.publish_batch(3, |i, slot| *slot = 10 * i as u32)?;
///
/// // The last 2 published slots, oldest first; nothing is consumed.
/// let peek = Inspector::open(&name)?.peek(2)?;
/// assert_eq!((peek.cursor, peek.overwritten), (3, 0));
/// assert_eq!(peek.slots.iter().map(|slot| slot.sequence).collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(peek.slots[1].bytes, 20u32.to_ne_bytes());
/// assert_eq!(ring.consumer(0)?.try_consume().len(), 3);
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peek {
    /// The cursor when the copy started.
    pub cursor: u64,
    /// The slots copied, in sequence order, ending just below `cursor`.
    pub slots: Vec<PeekedSlot>,
    /// How many of the slots asked for were dropped because a producer may have overwritten them
    /// while they were copied (the oldest ones, when the ring is busy and full).
    pub overwritten: usize,
}

impl Inspector {
    /// Opens the ring `name` for inspection, waiting up to [`DEFAULT_INIT_WAIT`] for a creator
    /// that is still writing the header.
    ///
    /// A segment that does not start with the ring magic fails with [`OpenError::BadMagic`]
    /// (even when its bytes happen to look like a header still being written); a ring whose
    /// header is invalid fails with the typed error that a typed opener would get.
    pub fn open(name: &str) -> Result<Inspector, OpenError> {
        Self::open_timeout(name, DEFAULT_INIT_WAIT)
    }

    /// Like [`open`](Self::open), waiting up to `init_timeout` for the creator.
    pub fn open_timeout(name: &str, init_timeout: Duration) -> Result<Inspector, OpenError> {
        shm::validate_name(name)?;
        // A foreign segment whose word at the init-state offset reads 0 or 1 would otherwise make
        // `open_any` wait for a creator that does not exist, then report it as not initialised.
        let prefix = read_settled_prefix(name, 64)?;
        if !prefix.starts_with(&MAGIC) && !all_zero(&prefix) {
            let mut found = [0u8; 8];
            let n = prefix.len().min(8);
            found[..n].copy_from_slice(&prefix[..n]);
            return Err(OpenError::BadMagic { name: name.to_owned(), found });
        }
        let (segment, file) = Segment::open_any(name, init_timeout)?;
        let dup = file.try_clone().map_err(|source| OpenError::Os {
            op: "dup",
            name: name.to_owned(),
            source,
        })?;
        let core = segment.core(dup)?;
        Ok(Inspector { segment, core, file })
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.segment.name()
    }

    /// The header.
    pub fn header(&self) -> HeaderInfo {
        let h = self.segment.header();
        let g = self.segment.geometry();
        let (type_name, schema_text) = match self.segment.schema_table() {
            Ok(table) => (table.type_name(), table.to_string()),
            Err(e) => ("?".to_owned(), format!("(unreadable schema table: {e})")),
        };
        HeaderInfo {
            name: self.segment.name().to_owned(),
            layout_version: h.layout_version,
            type_name,
            schema_text,
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
            dependencies: (0..g.consumer_count)
                .map(|c| self.core.graph.dependencies(c).to_vec())
                .collect(),
            gating: graph::last_stages(self.segment.dependencies()),
        }
    }

    /// Checks that the segment file still holds every byte of the mapping:
    /// [`OpenError::TooSmall`] once another process truncated it (reading it would raise
    /// `SIGBUS`).
    pub fn check_size(&self) -> Result<(), OpenError> {
        self.segment.check_size(&self.file).map_err(|(expected, actual)| OpenError::TooSmall {
            name: self.segment.name().to_owned(),
            expected,
            actual,
        })
    }

    /// The sequences and registries, read now (after checking the segment's size).
    pub fn state(&self) -> Result<RingState, OpenError> {
        self.check_size()?;
        let core = &self.core;
        // Consumer sequences first, then the cursor, then the claim sequence: each only grows,
        // so the snapshot keeps sequence <= cursor <= claim sequence.
        let participants = ownership::participants(core);
        let cursor = core.ring.load_cursor();
        let claim_sequence = core.ring.load_claim_sequence();
        let mut consumers = Vec::new();
        let mut producers = Vec::new();
        for participant in participants {
            match participant {
                Participant::Consumer { index, pid, state, sequence, released } => {
                    let state = match state {
                        _ if released => ConsumerState::Released,
                        ParticipantState::Alive => ConsumerState::Live,
                        ParticipantState::Dead => ConsumerState::Dead,
                        ParticipantState::Gone => ConsumerState::Gone,
                    };
                    consumers.push(ConsumerInfo {
                        index,
                        sequence,
                        lag: (!released).then(|| cursor.saturating_sub(sequence)),
                        state,
                        owner_pid: pid,
                        commits: core.ring.load_commits(index),
                        dependencies: core.graph.dependencies(index).to_vec(),
                    });
                }
                Participant::Producer { entry, pid, state, pending } => {
                    producers.push(ProducerInfo { entry, pid, state, pending });
                }
            }
        }
        let (abandoned_total, abandoned) = snapshot::abandoned(core);
        let (sleeping_consumers, sleeping_producers) = core.ring.load_sleepers();
        Ok(RingState {
            status: core.ring.load_status(),
            cursor,
            claim_sequence,
            consumers,
            producers,
            orphaned_claim: ownership::orphaned_claim(core),
            abandoned_total,
            abandoned,
            sleeping_consumers,
            sleeping_producers,
        })
    }

    /// The header and the state (after checking the segment's size).
    pub fn info(&self) -> Result<RingInfo, OpenError> {
        Ok(RingInfo { header: self.header(), state: self.state()? })
    }

    /// The live processes that own a consumer index or a producer entry.
    pub fn live_users(&self) -> Vec<u32> {
        ownership::live_users(&self.core)
    }

    /// The slot layout parsed from the header's schema text, checked against the slot size and
    /// alignment in the header; an error says why the slots can only be shown as hex.
    pub fn layout(&self) -> Result<SlotLayout, String> {
        let h = self.header();
        let layout = SlotLayout::parse(&h.schema_text)?;
        if layout.size as u64 != h.slot_size || layout.align as u64 != h.slot_align {
            return Err(format!(
                "the schema text says size {} align {}, the header {} / {}",
                layout.size, layout.align, h.slot_size, h.slot_align
            ));
        }
        Ok(layout)
    }

    /// Copies the raw bytes of the last `last` published slots (at most the capacity, and at most
    /// the cursor), oldest first. Never consumes, never waits, never writes.
    ///
    /// Producers are not held back while the slots are copied: a slot that a producer may have
    /// claimed for reuse during the copy is dropped and counted in [`Peek::overwritten`] (the
    /// seqlock check: the claim sequence is read again after the copy). On x86-64 this check is
    /// exact; on weakly ordered CPUs a slot being rewritten at that very moment may rarely be
    /// shown torn, as producers write slots after a `Release` (not a fence) claim.
    pub fn peek(&self, last: usize) -> Result<Peek, OpenError> {
        self.check_size()?;
        let (cursor, copies, overwritten) = snapshot::copy_published(&self.core, last);
        let slots =
            copies.into_iter().map(|(sequence, bytes)| PeekedSlot { sequence, bytes }).collect();
        Ok(Peek { cursor, slots, overwritten })
    }

    /// The processes other than this one that map this segment: see [`processes_mapping`].
    pub fn mapping_processes(&self) -> Vec<u32> {
        processes_mapping(self.name())
    }
}

/// The processes other than this one that map the segment `name` now (from `/proc/*/maps`):
/// every attached process, including those that own no consumer index or producer entry, and
/// the creator of a segment still being initialised. Processes of other users are missed
/// unless this one may read their `/proc` entries; a process that unmapped it is not listed.
pub fn processes_mapping(name: &str) -> Vec<u32> {
    match segment_inode(name) {
        Some(inode) => mapping_processes().remove(&inode).unwrap_or_default(),
        None => Vec::new(),
    }
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Reads up to `len` bytes from the start of segment `name`, opened read-only (without blocking,
/// and only if it is a regular file: see `shm::open_file`).
fn read_prefix(name: &str, len: usize) -> Result<Vec<u8>, OpenError> {
    let file = shm::open_file(name, rustix::shm::OFlags::RDONLY)?;
    let mut prefix = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut prefix).map_err(|source| OpenError::Os {
        op: "read",
        name: name.to_owned(),
        source,
    })?;
    Ok(prefix)
}

/// Like [`read_prefix`], but a prefix that is neither zero nor starts with the magic is read
/// again after a moment: a creator writes the header with plain stores, which need not become
/// visible in order, so a ring being created can briefly show other fields before its magic.
fn read_settled_prefix(name: &str, len: usize) -> Result<Vec<u8>, OpenError> {
    let prefix = read_prefix(name, len)?;
    if prefix.starts_with(&MAGIC) || all_zero(&prefix) {
        return Ok(prefix);
    }
    std::thread::sleep(Duration::from_millis(10));
    read_prefix(name, len)
}

/// The inode of `/dev/shm/NAME`.
fn segment_inode(name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let path = Path::new(SHM_DIR).join(name.strip_prefix('/')?);
    std::fs::symlink_metadata(path).ok().map(|m| m.ino())
}

/// For every inode of a file under `/dev/shm` that some other process maps, those processes.
fn mapping_processes() -> HashMap<u64, Vec<u32>> {
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

/// What a shared-memory segment turned out to be.
///
/// ```
/// use shm_disruptor::inspect::{self, SegmentKind};
/// use shm_disruptor::Disruptor;
///
/// /// What `name` is, in a few words.
/// fn what_is(name: &str) -> String {
///     match inspect::probe(name) {
///         None => "nothing".into(),
///         Some(SegmentKind::Ring { info, live_users, .. }) => {
///             let users = live_users.len();
///             format!("a ring of {}, used by {users} process(es)", info.header.type_name)
///         }
///         // Its creator is still writing the header, or died before it finished.
///         Some(SegmentKind::NotInitialised) => "a ring being created".into(),
///         // A ring's magic, but a header that fails validation: the typed error says how.
///         Some(SegmentKind::Corrupt(error)) => format!("a broken ring: {error}"),
///         // Another program's shared memory.
///         Some(SegmentKind::Foreign { first_bytes }) => format!("not a ring: {first_bytes:02x?}"),
///         Some(other) => format!("{other:?}"), // unreadable, or not a regular file
///     }
/// }
///
/// # let name = format!("/doc-segment-kind-{}", std::process::id());
/// assert_eq!(what_is(&name), "nothing");
/// let ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
/// let _consumer = ring.consumer(0)?;
/// assert_eq!(what_is(&name), "a ring of u64, used by 1 process(es)");
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SegmentKind {
    /// A valid ring.
    Ring {
        /// Its header and state.
        info: Box<RingInfo>,
        /// The live processes that own a consumer index or producer entry.
        live_users: Vec<u32>,
        /// The other processes that map it (see [`Inspector::mapping_processes`]).
        mapped_by: Vec<u32>,
    },
    /// Zero-filled, or carrying the magic but not marked ready: a creator has not finished
    /// writing the header (or died before it did).
    NotInitialised,
    /// It carries the ring magic but its header is invalid: the typed error says how.
    Corrupt(OpenError),
    /// It is not a ring (another program's segment): its first bytes.
    Foreign {
        /// Up to 8 first bytes.
        first_bytes: Vec<u8>,
    },
    /// It could not be read (permission denied, or an I/O error).
    Unreadable(String),
    /// It is not a regular file (a FIFO, socket, directory or symbolic link): never opened for
    /// reading, never mapped.
    NotAFile(&'static str),
}

/// One entry of [`list`].
///
/// ```
/// use shm_disruptor::inspect::{self, SegmentKind};
/// use shm_disruptor::Disruptor;
///
/// # let name = format!("/doc-listed-{}", std::process::id());
/// let _ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
///
/// // Every segment in /dev/shm, rings or not, sorted by name.
/// for segment in inspect::list()? {
///     let what = match &segment.kind {
///         SegmentKind::Ring { info, .. } => info.header.type_name.clone(),
///         _ => "(not a usable ring)".to_owned(),
///     };
///     println!("{} {} bytes: {what}", segment.name, segment.size);
/// }
///
/// let listed = inspect::list()?;
/// let ours = listed.iter().find(|segment| segment.name == name).expect("listed");
/// assert!(matches!(ours.kind, SegmentKind::Ring { .. }));
/// assert!(ours.size > 8 * 8);
/// # shm_disruptor::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ListedSegment {
    /// The segment name, as given to `shm_open` (`/ticks`).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// What it is.
    pub kind: SegmentKind,
}

/// Every POSIX shared-memory segment on this machine (the regular files under [`SHM_DIR`]),
/// sorted by name, each classified: a ring, not initialised, corrupt (with the typed error),
/// foreign, or unreadable. Reading never takes part in a ring and never writes. Files whose
/// names are not UTF-8 are skipped (no ring can have such a name).
pub fn list() -> std::io::Result<Vec<ListedSegment>> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR)? {
        let entry = entry?;
        let Ok(file_type) = entry.file_type() else { continue };
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if !file_type.is_file() {
            continue;
        }
        let (size, inode) = entry.metadata().map(|m| (m.len(), m.ino())).unwrap_or((0, 0));
        found.push((format!("/{file_name}"), size, inode));
    }
    found.sort();
    let mut mappers = None;
    let mut out = Vec::with_capacity(found.len());
    for (name, size, inode) in found {
        let kind = match probe(&name) {
            Some(kind) => kind,
            None => continue, // Removed meanwhile.
        };
        let kind = match kind {
            SegmentKind::Ring { info, live_users, .. } => {
                let mappers = mappers.get_or_insert_with(mapping_processes);
                let mapped_by = mappers.get(&inode).cloned().unwrap_or_default();
                SegmentKind::Ring { info, live_users, mapped_by }
            }
            other => other,
        };
        out.push(ListedSegment { name, size, kind });
    }
    Ok(out)
}

/// Classifies the segment `name` without waiting (`mapped_by` is left empty); `None` when it
/// does not exist.
pub fn probe(name: &str) -> Option<SegmentKind> {
    let prefix = match read_settled_prefix(name, HEADER_BYTES) {
        Ok(prefix) => prefix,
        Err(OpenError::NotFound { .. }) => return None,
        Err(OpenError::NotASegment { kind, .. }) => return Some(SegmentKind::NotAFile(kind)),
        Err(e) => return Some(SegmentKind::Unreadable(e.to_string())),
    };
    if !prefix.starts_with(&MAGIC) {
        return Some(if all_zero(&prefix) {
            SegmentKind::NotInitialised
        } else {
            SegmentKind::Foreign { first_bytes: prefix[..prefix.len().min(8)].to_vec() }
        });
    }
    Some(match Inspector::open_timeout(name, Duration::ZERO).and_then(|i| Ok((i.info()?, i))) {
        Ok((info, inspector)) => SegmentKind::Ring {
            info: Box::new(info),
            live_users: inspector.live_users(),
            mapped_by: Vec::new(),
        },
        Err(OpenError::NotFound { .. }) => return None,
        Err(OpenError::NotInitialised { .. }) => SegmentKind::NotInitialised,
        Err(e @ (OpenError::PermissionDenied { .. } | OpenError::Os { .. })) => {
            SegmentKind::Unreadable(e.to_string())
        }
        Err(e) => SegmentKind::Corrupt(e),
    })
}

// ---------------------------------------------------------------------------------------------
// Decoding slots from the schema text.
// ---------------------------------------------------------------------------------------------

/// A primitive field type.
///
/// ```
/// use shm_disruptor::inspect::{FieldType, Primitive, SlotLayout};
///
/// let text = "Sample { at: u64 @0, value: i16 @8, _pad: [u8; 6] @10 } size 16 align 8";
/// let layout = SlotLayout::parse(text)?;
/// assert_eq!(layout.fields[1].ty, FieldType::Primitive(Primitive::I16));
/// assert_eq!((Primitive::I16.size(), Primitive::I16.align()), (2, 2));
/// assert_eq!(Primitive::U128.size(), 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // The variants are the Rust types they name.
pub enum Primitive {
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
    F32,
    F64,
}

impl Primitive {
    fn from_name(name: &str) -> Option<Primitive> {
        Some(match name {
            "u8" => Primitive::U8,
            "u16" => Primitive::U16,
            "u32" => Primitive::U32,
            "u64" => Primitive::U64,
            "u128" => Primitive::U128,
            "i8" => Primitive::I8,
            "i16" => Primitive::I16,
            "i32" => Primitive::I32,
            "i64" => Primitive::I64,
            "i128" => Primitive::I128,
            "f32" => Primitive::F32,
            "f64" => Primitive::F64,
            _ => return None,
        })
    }

    /// Its size in bytes.
    pub fn size(self) -> usize {
        match self {
            Primitive::U8 | Primitive::I8 => 1,
            Primitive::U16 | Primitive::I16 => 2,
            Primitive::U32 | Primitive::I32 | Primitive::F32 => 4,
            Primitive::U64 | Primitive::I64 | Primitive::F64 => 8,
            Primitive::U128 | Primitive::I128 => 16,
        }
    }

    /// Its alignment on this target (the alignment in the schema text is the creator's, and the
    /// header's target tags were checked to match ours).
    pub fn align(self) -> usize {
        match self {
            Primitive::U8 | Primitive::I8 => std::mem::align_of::<u8>(),
            Primitive::U16 | Primitive::I16 => std::mem::align_of::<u16>(),
            Primitive::U32 | Primitive::I32 | Primitive::F32 => std::mem::align_of::<u32>(),
            Primitive::U64 | Primitive::I64 | Primitive::F64 => std::mem::align_of::<u64>(),
            Primitive::U128 | Primitive::I128 => std::mem::align_of::<u128>(),
        }
    }

    /// Decodes `bytes` (exactly [`size`](Self::size) long), in native byte order.
    fn decode(self, bytes: &[u8]) -> FieldValue {
        fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
            let mut out = [0u8; N];
            out.copy_from_slice(&bytes[..N]);
            out
        }
        match self {
            Primitive::U8 => FieldValue::Unsigned(bytes[0].into()),
            Primitive::U16 => FieldValue::Unsigned(u16::from_ne_bytes(array(bytes)).into()),
            Primitive::U32 => FieldValue::Unsigned(u32::from_ne_bytes(array(bytes)).into()),
            Primitive::U64 => FieldValue::Unsigned(u64::from_ne_bytes(array(bytes)).into()),
            Primitive::U128 => FieldValue::Unsigned(u128::from_ne_bytes(array(bytes))),
            Primitive::I8 => FieldValue::Signed(i8::from_ne_bytes(array(bytes)).into()),
            Primitive::I16 => FieldValue::Signed(i16::from_ne_bytes(array(bytes)).into()),
            Primitive::I32 => FieldValue::Signed(i32::from_ne_bytes(array(bytes)).into()),
            Primitive::I64 => FieldValue::Signed(i64::from_ne_bytes(array(bytes)).into()),
            Primitive::I128 => FieldValue::Signed(i128::from_ne_bytes(array(bytes))),
            Primitive::F32 => FieldValue::Float(f32::from_ne_bytes(array(bytes)).into()),
            Primitive::F64 => FieldValue::Float(f64::from_ne_bytes(array(bytes))),
        }
    }
}

/// The type of a field, as the schema text spells it.
///
/// ```
/// use shm_disruptor::inspect::{FieldType, SlotLayout};
///
/// // `Book` is another struct: the text names it without describing it.
/// let text = "Order { id: u64 @0, book: Book @8, legs: [u32; 4] @24 } size 40 align 8";
/// let layout = SlotLayout::parse(text)?;
/// let kinds: Vec<String> = layout
///     .fields
///     .iter()
///     .map(|field| match &field.ty {
///         FieldType::Primitive(primitive) => format!("{primitive:?}"),
///         FieldType::Array { element, len } => format!("{len} x {element}"),
///         FieldType::Named(name) => format!("{name}, shown as hex"),
///     })
///     .collect();
/// assert_eq!(kinds, ["U64", "Book, shown as hex", "4 x u32"]);
/// assert_eq!(layout.fields[2].ty.to_string(), "[u32; 4]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// `u8` ... `f64`.
    Primitive(Primitive),
    /// `[T; N]`.
    Array {
        /// The element type.
        element: Box<FieldType>,
        /// The number of elements.
        len: usize,
    },
    /// Another struct: the text gives only its name, so its bytes are shown as hex.
    Named(String),
}

impl FieldType {
    fn parse(text: &str) -> Result<FieldType, String> {
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let (element, len) =
                inner.rsplit_once("; ").ok_or_else(|| format!("bad array type `{text}`"))?;
            let len = len.parse().map_err(|_| format!("bad array length in `{text}`"))?;
            return Ok(FieldType::Array { element: Box::new(FieldType::parse(element)?), len });
        }
        if let Some(primitive) = Primitive::from_name(text) {
            return Ok(FieldType::Primitive(primitive));
        }
        if text.is_empty() || !text.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            return Err(format!("`{text}` is not a type name"));
        }
        Ok(FieldType::Named(text.to_owned()))
    }

    /// The size of the type when the text alone determines it.
    fn known_size(&self) -> Option<usize> {
        match self {
            FieldType::Primitive(p) => Some(p.size()),
            FieldType::Array { element, len } => element.known_size()?.checked_mul(*len),
            FieldType::Named(_) => None,
        }
    }

    /// Checks that `size` bytes can hold this type, so that `decode` stays in bounds.
    fn check_size(&self, size: usize) -> Result<(), String> {
        match self {
            FieldType::Primitive(p) if p.size() == size => Ok(()),
            FieldType::Primitive(p) => Err(format!("a {p:?} field cannot span {size} bytes")),
            FieldType::Array { element, len } => {
                if *len == 0 || size % len != 0 {
                    return Err(format!("{size} bytes do not divide into {len} elements"));
                }
                element.check_size(size / len)
            }
            FieldType::Named(_) => Ok(()),
        }
    }

    /// Decodes `bytes`, whose length `check_size` accepted.
    fn decode(&self, bytes: &[u8]) -> FieldValue {
        match self {
            FieldType::Primitive(p) => p.decode(bytes),
            FieldType::Array { element, len } => {
                let step = bytes.len() / len;
                FieldValue::List(bytes.chunks_exact(step).map(|b| element.decode(b)).collect())
            }
            FieldType::Named(_) => FieldValue::Bytes(bytes.to_vec()),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Primitive(p) => f.write_str(&format!("{p:?}").to_lowercase()),
            FieldType::Array { element, len } => write!(f, "[{element}; {len}]"),
            FieldType::Named(name) => f.write_str(name),
        }
    }
}

/// One field of a [`SlotLayout`].
///
/// ```
/// use shm_disruptor::inspect::SlotLayout;
///
/// let layout = SlotLayout::parse("Pair { a: u32 @0, b: u32 @4 } size 8 align 4")?;
/// let b = &layout.fields[1];
/// assert_eq!((b.name.as_str(), b.offset, b.size), ("b", 4, 4));
/// // A slot type that is not a struct has one field, named `value`.
/// let layout = SlotLayout::parse("[u16; 3] size 6 align 2")?;
/// assert_eq!((layout.fields[0].name.as_str(), layout.fields[0].size), ("value", 6));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// Its name (`"0"`, `"1"`, ... in a tuple struct; `"value"` when the slot type is not a
    /// struct).
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// Its byte offset in the slot.
    pub offset: usize,
    /// Its size in bytes (up to the next field's offset: slot types have no padding).
    pub size: usize,
}

/// A decoded value.
///
/// ```
/// use shm_disruptor::inspect::{FieldValue, SlotLayout};
///
/// let text = "Reading { id: u32 @0, delta: i32 @4, level: f64 @8 } size 16 align 8";
/// let layout = SlotLayout::parse(text)?;
/// let mut bytes = 7u32.to_ne_bytes().to_vec();
/// bytes.extend((-3i32).to_ne_bytes());
/// bytes.extend(0.5f64.to_ne_bytes());
///
/// let values: Vec<FieldValue> = layout.decode(&bytes).into_iter().map(|f| f.value).collect();
/// assert_eq!(values, [FieldValue::Unsigned(7), FieldValue::Signed(-3), FieldValue::Float(0.5)]);
/// if let FieldValue::Float(level) = values[2] {
///     assert!(level > 0.0);
/// }
/// assert_eq!(FieldValue::Bytes(vec![10, 11]).to_string(), "0x0a0b");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// An unsigned integer.
    Unsigned(u128),
    /// A signed integer.
    Signed(i128),
    /// A float (`f32` values widened exactly).
    Float(f64),
    /// The elements of an array.
    List(Vec<FieldValue>),
    /// Raw bytes (a nested struct), shown as hex.
    Bytes(Vec<u8>),
}

/// `42`, `-1`, `1.5`, `[1, 2, 3]`, `0x0a0b`.
impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Unsigned(v) => write!(f, "{v}"),
            FieldValue::Signed(v) => write!(f, "{v}"),
            FieldValue::Float(v) => write!(f, "{v:?}"),
            FieldValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            FieldValue::Bytes(bytes) => {
                f.write_str("0x")?;
                bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// One decoded field of a slot.
///
/// ```
/// use shm_disruptor::inspect::SlotLayout;
///
/// let layout = SlotLayout::parse("Pair { a: u32 @0, b: [u8; 4] @4 } size 8 align 4")?;
/// let mut bytes = 42u32.to_ne_bytes().to_vec();
/// bytes.extend([1, 2, 3, 4]);
/// let shown: Vec<String> = layout
///     .decode(&bytes)
///     .iter()
///     .map(|field| format!("{} @{}: {} = {}", field.name, field.offset, field.ty, field.value))
///     .collect();
/// assert_eq!(shown, ["a @0: u32 = 42", "b @4: [u8; 4] = [1, 2, 3, 4]"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedField {
    /// The field's name.
    pub name: String,
    /// Its type, as spelled in the schema.
    pub ty: String,
    /// Its byte offset.
    pub offset: usize,
    /// Its value.
    pub value: FieldValue,
}

/// A slot type's layout, parsed from the schema text in a ring's header (the `Display` of
/// [`Schema`](crate::Schema), e.g.
/// `Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 align 8`).
///
/// Limits: the text describes the top level only, so fields of a nested struct are shown as
/// hex bytes (arrays of them as lists of hex); a text truncated in the header (past 2048
/// bytes), or a type name chosen with `#[slot(name = "...")]` that is not an identifier, cannot
/// be parsed, and then the slots are shown as hex only. The text is the creator's: its hash
/// cannot be recomputed from it (nested types are named, not described), so the layout is
/// checked for consistency (offsets, sizes, the slot size and alignment) rather than proven.
///
/// ```
/// use shm_disruptor::{inspect::SlotLayout, Slot};
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Tick {
///     price: f64,
///     qty: u32,
///     side: u8,
///     _pad: [u8; 3],
/// }
///
/// // The text a ring's header records (`Inspector::layout` parses the header's).
/// let layout = SlotLayout::parse(&Tick::SCHEMA.to_string())?;
/// assert_eq!((layout.type_name.as_str(), layout.size, layout.align), ("Tick", 16, 8));
///
/// let mut bytes = 1.5f64.to_ne_bytes().to_vec(); // a `Tick`'s bytes, as peeked
/// bytes.extend(10u32.to_ne_bytes());
/// bytes.extend([1, 0, 0, 0]);
/// let shown: Vec<String> =
///     layout.decode(&bytes).iter().map(|f| format!("{} = {}", f.name, f.value)).collect();
/// assert_eq!(shown, ["price = 1.5", "qty = 10", "side = 1", "_pad = [0, 0, 0]"]);
///
/// // A text that does not describe a slot type is refused, with the reason.
/// assert!(SlotLayout::parse("Tick { price: f64 @0 } size 16 align 8").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotLayout {
    /// The type name.
    pub type_name: String,
    /// Whether the slot type is a struct (otherwise it is a primitive or an array, decoded as
    /// one field named `value`).
    pub is_struct: bool,
    /// The fields, by offset.
    pub fields: Vec<FieldLayout>,
    /// The slot size.
    pub size: usize,
    /// The slot alignment.
    pub align: usize,
}

impl SlotLayout {
    /// Parses a schema text and checks that the fields tile the slot exactly.
    pub fn parse(text: &str) -> Result<SlotLayout, String> {
        let bad = |what: &str| format!("cannot parse the schema text ({what}): {text}");
        let (rest, align) = text.rsplit_once(" align ").ok_or_else(|| bad("no align"))?;
        let (head, size) = rest.rsplit_once(" size ").ok_or_else(|| bad("no size"))?;
        let size: usize = size.parse().map_err(|_| bad("bad size"))?;
        let align: usize = align.parse().map_err(|_| bad("bad align"))?;
        if size == 0 || !align.is_power_of_two() || size % align != 0 {
            return Err(bad("impossible size or align"));
        }
        let mut fields = Vec::new();
        let (type_name, is_struct) = match head.split_once(" { ") {
            Some((name, body)) => {
                let body = body.strip_suffix(" }").ok_or_else(|| bad("unclosed struct"))?;
                for field in body.split(", ") {
                    let (field, offset) =
                        field.rsplit_once(" @").ok_or_else(|| bad("field without offset"))?;
                    let (name, ty) =
                        field.split_once(": ").ok_or_else(|| bad("field without type"))?;
                    let offset = offset.parse().map_err(|_| bad("bad offset"))?;
                    let ty = FieldType::parse(ty).map_err(|e| bad(&e))?;
                    fields.push(FieldLayout { name: name.to_owned(), ty, offset, size: 0 });
                }
                (name.to_owned(), true)
            }
            None => {
                let ty = FieldType::parse(head).map_err(|e| bad(&e))?;
                let name = head.to_owned();
                fields.push(FieldLayout { name: "value".into(), ty, offset: 0, size: 0 });
                (name, false)
            }
        };
        // Slot types have no padding: each field runs up to the next one, the last to the end.
        if fields[0].offset != 0 {
            return Err(bad("the first field is not at offset 0"));
        }
        for i in 0..fields.len() {
            let end = fields.get(i + 1).map_or(size, |next| next.offset);
            if end <= fields[i].offset || end > size {
                return Err(bad("offsets out of order or past the end"));
            }
            fields[i].size = end - fields[i].offset;
            let f = &fields[i];
            if let Some(known) = f.ty.known_size() {
                if known != f.size {
                    return Err(bad(&format!(
                        "field `{}` of type {} spans {} bytes",
                        f.name, f.ty, f.size
                    )));
                }
            }
            f.ty.check_size(f.size).map_err(|e| bad(&e))?;
        }
        Ok(SlotLayout { type_name, is_struct, fields, size, align })
    }

    /// Decodes the fields of one slot's bytes. Bytes shorter than the slot (never the case for
    /// [`Inspector::peek`]'s) decode only the fields that fit.
    pub fn decode(&self, bytes: &[u8]) -> Vec<DecodedField> {
        self.fields
            .iter()
            .filter_map(|f| {
                let field_bytes = bytes.get(f.offset..f.offset + f.size)?;
                Some(DecodedField {
                    name: f.name.clone(),
                    ty: f.ty.to_string(),
                    offset: f.offset,
                    value: f.ty.decode(field_bytes),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Slot;

    /// What `#[derive(Slot)]` displays for `Tick` (see the `Slot` docs).
    const TICK: &str =
        "Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 align 8";

    fn tick_bytes(price: f64, qty: u32, side: u8, pad: [u8; 3]) -> Vec<u8> {
        let mut bytes = price.to_ne_bytes().to_vec();
        bytes.extend(qty.to_ne_bytes());
        bytes.push(side);
        bytes.extend(pad);
        bytes
    }

    #[test]
    fn parses_and_decodes_a_flat_struct() {
        let layout = SlotLayout::parse(TICK).unwrap();
        assert!(layout.is_struct);
        assert_eq!((layout.type_name.as_str(), layout.size, layout.align), ("Tick", 16, 8));
        let sizes: Vec<_> = layout.fields.iter().map(|f| (f.name.as_str(), f.size)).collect();
        assert_eq!(sizes, [("price", 8), ("qty", 4), ("side", 1), ("_pad", 3)]);
        let shown: Vec<String> = layout
            .decode(&tick_bytes(1.5, 10, 1, [0, 0, 7]))
            .iter()
            .map(|f| format!("{}: {} @{} = {}", f.name, f.ty, f.offset, f.value))
            .collect();
        assert_eq!(
            shown,
            [
                "price: f64 @0 = 1.5",
                "qty: u32 @8 = 10",
                "side: u8 @12 = 1",
                "_pad: [u8; 3] @13 = [0, 0, 7]"
            ]
        );
    }

    #[test]
    fn nested_structs_are_hex_and_arrays_lists() {
        let text = "Outer { id: u64 @0, inner: Tick @8, grid: [[i16; 2]; 2] @24, ratio: f32 @32, \
                    _pad: [u8; 12] @36, big: i128 @48, pair: [Tick; 2] @64 } size 96 align 16";
        let layout = SlotLayout::parse(text).unwrap();
        let mut bytes = 7u64.to_ne_bytes().to_vec();
        bytes.extend(tick_bytes(-2.0, 1, 2, [0; 3]));
        for v in [1i16, -2, 3, -4] {
            bytes.extend(v.to_ne_bytes());
        }
        bytes.extend(0.25f32.to_ne_bytes());
        bytes.extend([0u8; 12]);
        bytes.extend((-5i128).to_ne_bytes());
        bytes.extend(tick_bytes(0.5, 0, 0, [0; 3]));
        bytes.extend(tick_bytes(0.0, 0, 0, [0; 3]));
        assert_eq!(bytes.len(), 96);
        let fields = layout.decode(&bytes);
        let value = |name: &str| fields.iter().find(|f| f.name == name).unwrap().value.clone();
        assert_eq!(value("id"), FieldValue::Unsigned(7));
        assert_eq!(value("inner"), FieldValue::Bytes(bytes[8..24].to_vec()));
        assert_eq!(value("grid").to_string(), "[[1, -2], [3, -4]]");
        assert_eq!(value("ratio"), FieldValue::Float(0.25));
        assert_eq!(value("big"), FieldValue::Signed(-5));
        assert_eq!(
            value("pair").to_string(),
            format!("[0x{}, 0x{}]", "00".repeat(6) + "e03f" + &"00".repeat(8), "00".repeat(16))
        );
    }

    #[test]
    fn tuple_structs_primitives_and_arrays_parse() {
        let layout = SlotLayout::parse("Pair { 0: u32 @0, 1: i32 @4 } size 8 align 4").unwrap();
        let names: Vec<_> = layout.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["0", "1"]);
        let layout = SlotLayout::parse(&u64::SCHEMA.to_string()).unwrap();
        assert!(!layout.is_struct);
        assert_eq!(layout.decode(&9u64.to_ne_bytes())[0].value, FieldValue::Unsigned(9));
        let layout = SlotLayout::parse(&<[u16; 3]>::SCHEMA.to_string()).unwrap();
        assert_eq!(layout.type_name, "[u16; 3]");
        let bytes: Vec<u8> = [1u16, 2, 3].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(layout.decode(&bytes)[0].value.to_string(), "[1, 2, 3]");
        let layout = SlotLayout::parse(&<[f32; 2]>::SCHEMA.to_string()).unwrap();
        let bytes: Vec<u8> = [f32::NAN, -1.0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(layout.decode(&bytes)[0].value.to_string(), "[NaN, -1.0]");
    }

    #[test]
    fn inconsistent_or_truncated_texts_are_refused() {
        for text in [
            "Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 ali...",
            "Tick { price: f64 @0, qty: u32 @4 } size 16 align 8",
            "Tick { price: f64 @0, qty: u32 @8 } size 16 align 8",
            "Tick { qty: u32 @8, price: f64 @0 } size 16 align 8",
            "Tick { price: f64 @8 } size 16 align 8",
            "Tick { a: [u8; 0] @0, b: u64 @0 } size 8 align 8",
            "Tick { a: [Inner; 3] @0 } size 8 align 8",
            "Tick { a: &u8 @0 } size 1 align 1",
            "Tick { a: u8 @0 } size 0 align 1",
            "Tick { a: u8 @0 } size 1 align 3",
            "Tick { a, b: u8 @0 } size 1 align 1",
            "u32 size 8 align 4",
            "",
        ] {
            assert!(SlotLayout::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn short_bytes_decode_only_what_fits() {
        let layout = SlotLayout::parse(TICK).unwrap();
        assert_eq!(layout.decode(&[0u8; 12]).len(), 2);
    }
}
