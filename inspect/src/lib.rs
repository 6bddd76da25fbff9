//! Read-only, untyped inspection of shm-disruptor rings: what the `shm-disruptor` command
//! shows and its metrics exporter serves.
//!
//! An [`Inspector`] opens a ring of *any* slot type (it validates everything in the header but
//! the schema, which it has nothing to compare with) and reads it without taking part: it never
//! takes a consumer index or a producer entry, never stores to the segment, and never wakes or
//! waits on anyone. Its snapshots ([`HeaderInfo`], [`RingState`], [`RingInfo`]) describe the
//! header, the sequences and the registries; [`Inspector::peek`] copies the raw bytes of the last
//! published slots, and [`SlotLayout`] decodes them from the schema table recorded in the header.
//! [`list`] classifies every POSIX shared-memory segment on the machine. It is built on the
//! runtime's untyped accessors ([`shm_disruptor::observe`]), and every type derives
//! `serde::Serialize`.
//!
//! ```
//! use shm_disruptor::Disruptor;
//! use shm_disruptor_inspect::Inspector;
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

use std::fmt;
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use shm_disruptor::observe::{self, RingView, HEADER_BYTES, MAGIC};
use shm_disruptor::{
    EntryKind, OpenError, Participant, ParticipantState, ProducerMode, SchemaTable,
};

pub use shm_disruptor::observe::{processes_mapping, SHM_DIR};

/// The version of the JSON form of these types (their `Serialize` output, which the
/// `shm-disruptor` command prints with `--json`): bumped when a field is renamed, removed or
/// changes meaning; adding a field does not bump it.
pub const JSON_VERSION: u32 = 1;

/// `0x0123...`, the schema hash as 16 hex digits.
fn hash_hex<S: Serializer>(hash: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{hash:#018x}"))
}

/// Bytes as one lowercase hex string.
fn bytes_hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&HexBytes(bytes))
}

/// `Display`s bytes as lowercase hex.
struct HexBytes<'a>(&'a [u8]);

impl fmt::Display for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// How long [`Inspector::open`] waits for a creator that is still writing the header.
pub const DEFAULT_INIT_WAIT: Duration = Duration::from_millis(100);

/// A read-only view of one ring of any slot type. See the [module documentation](self).
///
/// ```
/// use shm_disruptor::Disruptor;
/// use shm_disruptor_inspect::Inspector;
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
    view: RingView,
}

/// The header of a ring: written once by its creator, never changed.
///
/// ```
/// use shm_disruptor_inspect::Inspector;
/// use shm_disruptor::{Disruptor, ProducerMode, Slot};
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderInfo {
    /// The segment name (`/ticks`).
    pub name: String,
    /// The layout version of the segment.
    pub layout_version: u32,
    /// The slot type's name as its creator spelled it (`Tick`, `u64`, `[u8; 16]`).
    pub type_name: String,
    /// The slot type's schema as [`Schema`](shm_disruptor::Schema)'s `Display` shows it,
    /// from the header's schema table (or why that table could not be read).
    pub schema_text: String,
    /// The schema hash that typed openers compare with theirs (JSON: `"0x..."`, 16 digits).
    #[serde(serialize_with = "hash_hex")]
    pub schema_hash: u64,
    /// The schema table recorded in the header; `None` when it could not be decoded (see
    /// `schema_error`).
    #[serde(skip)]
    pub schema: Option<SchemaTable>,
    /// Why the header's schema table could not be decoded, if it could not.
    pub schema_error: Option<String>,
    /// Whether the slot type is `u8`: the ring carries a byte stream
    /// ([`StreamWriter`](shm_disruptor::StreamWriter)), whose status word is `open`, `eof` or
    /// `error`.
    pub is_stream: bool,
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
/// use shm_disruptor_inspect::{ConsumerState, Inspector};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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
/// use shm_disruptor::Disruptor;
/// use shm_disruptor_inspect::Inspector;
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
/// use shm_disruptor_inspect::Inspector;
/// use shm_disruptor::{Disruptor, ParticipantState};
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
/// use shm_disruptor::Disruptor;
/// use shm_disruptor_inspect::Inspector;
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
    /// Whether the sleeping counts may be stale: a process killed while it slept leaves its
    /// count behind (harmless: each publish or commit then makes one futex wake that finds
    /// nobody). Set when a count exceeds the live handles that could be sleeping, or a
    /// participant died.
    pub sleeping_possibly_stale: bool,
    /// The consumers that stall the producers: each is not live (its owner died, or nobody
    /// owns it) and a whole ring behind the claim sequence, so no producer can claim until it
    /// is evicted (`shm-disruptor evict`) or a new owner resumes it.
    pub blocked_by: Vec<Blocker>,
}

/// A consumer that stalls a ring's producers: see [`RingState::blocked_by`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The consumer index.
    pub index: usize,
    /// `Dead` or `Gone`.
    pub state: ConsumerState,
    /// Its (dead) owner's PID, if one is recorded.
    pub owner_pid: Option<u32>,
}

impl fmt::Display for Blocker {
    /// `producers blocked by dead consumer 1 (pid 1234)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            ConsumerState::Dead => write!(f, "producers blocked by dead consumer {}", self.index)?,
            _ => write!(f, "producers blocked by consumer {}, which nobody owns", self.index)?,
        }
        if let Some(pid) = self.owner_pid {
            write!(f, " (pid {pid})")?;
        }
        Ok(())
    }
}

/// A ring's header and state.
///
/// ```
/// use shm_disruptor_inspect::RingInfo;
/// use shm_disruptor::{Disruptor};
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
/// use shm_disruptor::Disruptor;
/// use shm_disruptor_inspect::Inspector;
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeekedSlot {
    /// Its sequence.
    pub sequence: u64,
    /// A copy of its `slot_size` bytes (JSON: one hex string).
    #[serde(serialize_with = "bytes_hex")]
    pub bytes: Vec<u8>,
}

/// The result of [`Inspector::peek`].
///
/// ```
/// use shm_disruptor::Disruptor;
/// use shm_disruptor_inspect::Inspector;
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
    /// (even when its bytes happen to look like a header still being written), one shorter
    /// than a header with [`OpenError::TooSmall`]; a ring whose header is invalid fails with the
    /// typed error that a typed opener would get.
    pub fn open(name: &str) -> Result<Inspector, OpenError> {
        Self::open_timeout(name, DEFAULT_INIT_WAIT)
    }

    /// Like [`open`](Self::open), waiting up to `init_timeout` for the creator.
    pub fn open_timeout(name: &str, init_timeout: Duration) -> Result<Inspector, OpenError> {
        // A foreign segment whose word at the init-state offset reads 0 or 1 would otherwise make
        // the open wait for a creator that does not exist, then report it as not initialised.
        let prefix = read_settled_prefix(name, 64)?;
        // A file too short to hold a ring's header is that, whatever its first bytes are
        // (empty, it is a ring being created).
        if let Some(size) = segment_size(name).filter(|&s| s > 0 && s < HEADER_BYTES as u64) {
            return Err(too_small(name, size));
        }
        if !prefix.starts_with(&MAGIC) && !all_zero(&prefix) {
            return Err(not_a_ring(name, &prefix));
        }
        let view = RingView::open(name, init_timeout)?;
        Ok(Inspector { view })
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.view.name()
    }

    /// The header.
    pub fn header(&self) -> HeaderInfo {
        let h = self.view.header();
        let (schema, schema_error) = match self.view.schema_table() {
            Ok(table) => (Some(table), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let type_name = schema.as_ref().map_or_else(|| "?".to_owned(), SchemaTable::type_name);
        let schema_text = match (&schema, &schema_error) {
            (Some(table), _) => table.to_string(),
            (None, e) => format!("(unreadable schema table: {})", e.as_deref().unwrap_or("")),
        };
        let is_stream = schema.as_ref().is_some_and(|t| {
            t.name() == "u8" && t.size() == 1 && matches!(t.root().kind, EntryKind::Primitive)
        });
        HeaderInfo {
            name: self.view.name().to_owned(),
            layout_version: h.layout_version,
            type_name,
            schema_text,
            schema_hash: h.schema_hash,
            schema,
            schema_error,
            is_stream,
            slot_size: h.slot_size,
            slot_align: h.slot_align,
            capacity: h.capacity,
            consumer_count: h.consumer_count,
            producer_count: h.producer_count,
            producer_mode: h.producer_mode,
            creation_time_ns: h.creation_time_ns,
            creator_pid: h.creator_pid,
            segment_size: h.segment_size,
            dependencies: h.dependencies,
            gating: h.gating,
        }
    }

    /// Checks that the segment file still holds every byte of the mapping:
    /// [`OpenError::TooSmall`] once another process truncated it (reading it would raise
    /// `SIGBUS`).
    pub fn check_size(&self) -> Result<(), OpenError> {
        self.view.check_size()
    }

    /// The sequences and registries, read now (after checking the segment's size).
    pub fn state(&self) -> Result<RingState, OpenError> {
        let snap = self.view.snapshot()?;
        let header = self.view.header();
        let cursor = snap.cursor;
        let mut consumers = Vec::new();
        let mut producers = Vec::new();
        for participant in snap.participants {
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
                        commits: snap.commits.get(index).copied().unwrap_or(0),
                        dependencies: header.dependencies.get(index).cloned().unwrap_or_default(),
                    });
                }
                Participant::Producer { entry, pid, state, pending } => {
                    producers.push(ProducerInfo { entry, pid, state, pending });
                }
                // `Participant` is not exhaustive: a kind this build does not know is skipped.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        let blocked_by = consumers
            .iter()
            .filter(|c| matches!(c.state, ConsumerState::Dead | ConsumerState::Gone))
            .filter(|c| snap.claim_sequence >= c.sequence.saturating_add(header.capacity))
            .map(|c| Blocker { index: c.index, state: c.state, owner_pid: c.owner_pid })
            .collect();
        let live = |state| consumers.iter().filter(|c| c.state == state).count();
        let live_producers =
            producers.iter().filter(|p| p.state == ParticipantState::Alive).count();
        let any_dead = live(ConsumerState::Dead) > 0
            || producers.iter().any(|p| p.state == ParticipantState::Dead);
        let sleeping_possibly_stale = (snap.sleeping_consumers > 0 || snap.sleeping_producers > 0)
            && (any_dead
                || snap.sleeping_consumers as usize > live(ConsumerState::Live)
                || snap.sleeping_producers as usize > live_producers);
        Ok(RingState {
            status: snap.status,
            cursor,
            claim_sequence: snap.claim_sequence,
            consumers,
            producers,
            orphaned_claim: snap.orphaned_claim,
            abandoned_total: snap.abandoned_total,
            abandoned: snap.abandoned,
            sleeping_consumers: snap.sleeping_consumers,
            sleeping_producers: snap.sleeping_producers,
            sleeping_possibly_stale,
            blocked_by,
        })
    }

    /// The header and the state (after checking the segment's size).
    pub fn info(&self) -> Result<RingInfo, OpenError> {
        Ok(RingInfo { header: self.header(), state: self.state()? })
    }

    /// The live processes that own a consumer index or a producer entry.
    pub fn live_users(&self) -> Vec<u32> {
        self.view.live_users()
    }

    /// The slot layout from the header's schema table; an error says why the slots can only
    /// be shown as hex.
    pub fn layout(&self) -> Result<SlotLayout, String> {
        let table = self.view.schema_table().map_err(|e| e.to_string())?;
        SlotLayout::from_table(&table)
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
        let (cursor, copies, overwritten) = self.view.copy_published(last)?;
        let slots =
            copies.into_iter().map(|(sequence, bytes)| PeekedSlot { sequence, bytes }).collect();
        Ok(Peek { cursor, slots, overwritten })
    }

    /// The processes other than this one that map this segment: see [`processes_mapping`].
    pub fn mapping_processes(&self) -> Vec<u32> {
        processes_mapping(self.name())
    }

    /// Evicts consumer `index` if its owner died holding it (the one thing an inspector writes;
    /// see [`RingView::evict_dead_consumer`]). Refused, with what it is, for any other
    /// consumer: a live one above all.
    pub fn evict_dead_consumer(&self, index: usize) -> Result<(), EvictError> {
        let state = self.state().map_err(EvictError::Open)?;
        let consumer = state
            .consumers
            .get(index)
            .ok_or(EvictError::OutOfRange { index, count: state.consumers.len() })?;
        if consumer.state != ConsumerState::Dead {
            return Err(EvictError::NotDead {
                index,
                state: consumer.state,
                owner_pid: consumer.owner_pid,
            });
        }
        if self.view.evict_dead_consumer(index) {
            Ok(())
        } else {
            // Restarted (or evicted by someone else) between the read and the eviction.
            let state = self.state().map_err(EvictError::Open)?;
            let now = state.consumers.get(index).map_or(ConsumerState::Gone, |c| c.state);
            Err(EvictError::NotDead { index, state: now, owner_pid: None })
        }
    }
}

/// Why [`Inspector::evict_dead_consumer`] refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum EvictError {
    /// The ring could not be read.
    Open(OpenError),
    /// No such consumer index.
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// The ring's consumer count.
        count: usize,
    },
    /// The consumer's owner is not dead.
    NotDead {
        /// The index asked for.
        index: usize,
        /// What it is.
        state: ConsumerState,
        /// Its owner's PID, if one is recorded.
        owner_pid: Option<u32>,
    },
}

impl fmt::Display for EvictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvictError::Open(e) => write!(f, "{e}"),
            EvictError::OutOfRange { index, count } => {
                write!(f, "the ring has {count} consumer(s): there is no consumer {index}")
            }
            EvictError::NotDead { index, state: ConsumerState::Live, owner_pid } => write!(
                f,
                "consumer {index} is live{}: only a consumer whose process died can be evicted \
                 (stop its process first, or let it call release())",
                owner_pid.map_or(String::new(), |p| format!(" (pid {p})"))
            ),
            EvictError::NotDead { index, state: ConsumerState::Released, .. } => {
                write!(f, "consumer {index} is already released")
            }
            EvictError::NotDead { index, .. } => write!(
                f,
                "consumer {index} has no owner (it let go cleanly, or never attached): it is \
                 not dead, and the next owner resumes from its sequence"
            ),
        }
    }
}

impl std::error::Error for EvictError {}

/// The error for a segment that is not a ring: [`OpenError::BadMagic`] with its first bytes.
fn not_a_ring(name: &str, prefix: &[u8]) -> OpenError {
    let mut found = [0u8; 8];
    let n = prefix.len().min(8);
    found[..n].copy_from_slice(&prefix[..n]);
    OpenError::BadMagic { name: name.to_owned(), found }
}

/// The size of `/dev/shm/NAME`, if it is a regular file.
fn segment_size(name: &str) -> Option<u64> {
    let path = std::path::Path::new(SHM_DIR).join(name.strip_prefix('/')?);
    std::fs::symlink_metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len())
}

/// [`OpenError::TooSmall`] for a file of `size` bytes, less than a ring's header.
fn too_small(name: &str, size: u64) -> OpenError {
    OpenError::TooSmall { name: name.to_owned(), expected: HEADER_BYTES as u64, actual: size }
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Like [`observe::read_prefix`], but a prefix that is neither zero nor starts with the magic is read
/// again after a moment: a creator writes the header with plain stores, which need not become
/// visible in order, so a ring being created can briefly show other fields before its magic.
fn read_settled_prefix(name: &str, len: usize) -> Result<Vec<u8>, OpenError> {
    let prefix = observe::read_prefix(name, len)?;
    if prefix.starts_with(&MAGIC) || all_zero(&prefix) {
        return Ok(prefix);
    }
    std::thread::sleep(Duration::from_millis(10));
    observe::read_prefix(name, len)
}

/// What a shared-memory segment turned out to be.
///
/// ```
/// use shm_disruptor_inspect::{self, SegmentKind};
/// use shm_disruptor::Disruptor;
///
/// /// What `name` is, in a few words.
/// fn what_is(name: &str) -> String {
///     match shm_disruptor_inspect::probe(name) {
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
    /// Not empty, but shorter than a ring's header (4096 bytes): not a ring, or one truncated.
    TooSmall {
        /// Its size in bytes.
        size: u64,
        /// Up to 8 first bytes.
        first_bytes: Vec<u8>,
    },
}

/// One entry of [`list`].
///
/// ```
/// use shm_disruptor_inspect::{self, SegmentKind};
/// use shm_disruptor::Disruptor;
///
/// # let name = format!("/doc-listed-{}", std::process::id());
/// let _ring = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create()?;
///
/// // Every segment in /dev/shm, rings or not, sorted by name.
/// for segment in shm_disruptor_inspect::list()? {
///     let what = match &segment.kind {
///         SegmentKind::Ring { info, .. } => info.header.type_name.clone(),
///         _ => "(not a usable ring)".to_owned(),
///     };
///     println!("{} {} bytes: {what}", segment.name, segment.size);
/// }
///
/// let listed = shm_disruptor_inspect::list()?;
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

/// JSON: `{"name", "size", "kind"}` and what the kind carries: `"ring"` with `"info"` (a
/// [`RingInfo`]), `"live_users"` and `"mapped_by"`; `"corrupt"` with `"error_kind"` (see
/// [`error_kind`]) and `"error"`; `"foreign"` and `"too_small"` with `"first_bytes"` (hex);
/// `"unreadable"` with `"error"`; `"not_a_file"` with `"file_type"`; `"uninitialised"`.
impl Serialize for ListedSegment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("size", &self.size)?;
        map.serialize_entry("kind", self.kind.name())?;
        match &self.kind {
            SegmentKind::Ring { info, live_users, mapped_by } => {
                map.serialize_entry("info", info)?;
                map.serialize_entry("live_users", live_users)?;
                map.serialize_entry("mapped_by", mapped_by)?;
            }
            SegmentKind::Corrupt(e) => {
                map.serialize_entry("error_kind", error_kind(e))?;
                map.serialize_entry("error", &e.to_string())?;
            }
            SegmentKind::Foreign { first_bytes } | SegmentKind::TooSmall { first_bytes, .. } => {
                map.serialize_entry("first_bytes", &HexBytes(first_bytes).to_string())?;
            }
            SegmentKind::Unreadable(e) => map.serialize_entry("error", e)?,
            SegmentKind::NotAFile(kind) => map.serialize_entry("file_type", kind)?,
            SegmentKind::NotInitialised => {}
        }
        map.end()
    }
}

impl SegmentKind {
    /// `ring`, `uninitialised`, `corrupt`, `foreign`, `too_small`, `unreadable` or
    /// `not_a_file`.
    pub fn name(&self) -> &'static str {
        match self {
            SegmentKind::Ring { .. } => "ring",
            SegmentKind::NotInitialised => "uninitialised",
            SegmentKind::Corrupt(_) => "corrupt",
            SegmentKind::Foreign { .. } => "foreign",
            SegmentKind::TooSmall { .. } => "too_small",
            SegmentKind::Unreadable(_) => "unreadable",
            SegmentKind::NotAFile(_) => "not_a_file",
        }
    }
}

/// A short, stable name for the kind of an open error, for JSON: `invalid_name`, `not_found`,
/// `permission_denied`, `foreign`, `unsupported_version`, `foreign_target`, `too_small`,
/// `corrupt`, `not_initialised`, or `error`.
pub fn error_kind(error: &OpenError) -> &'static str {
    match error {
        OpenError::InvalidName { .. } => "invalid_name",
        OpenError::NotFound { .. } => "not_found",
        OpenError::PermissionDenied { .. } => "permission_denied",
        OpenError::BadMagic { .. } | OpenError::NotASegment { .. } => "foreign",
        OpenError::UnsupportedVersion { .. } => "unsupported_version",
        OpenError::ForeignTarget { .. } => "foreign_target",
        OpenError::TooSmall { .. } => "too_small",
        OpenError::Corrupt { .. } => "corrupt",
        OpenError::NotInitialised { .. } => "not_initialised",
        _ => "error",
    }
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
                let mappers = mappers.get_or_insert_with(observe::mapping_processes);
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
    if (1..HEADER_BYTES).contains(&prefix.len()) {
        return Some(SegmentKind::TooSmall {
            size: prefix.len() as u64,
            first_bytes: prefix[..prefix.len().min(8)].to_vec(),
        });
    }
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
// Decoding slots from the schema table.
// ---------------------------------------------------------------------------------------------

/// A primitive field type.
///
/// ```
/// use shm_disruptor_inspect::{FieldType, Primitive};
///
/// assert_eq!(Primitive::from_name("i16"), Some(Primitive::I16));
/// assert_eq!((Primitive::I16.size(), Primitive::I16.align()), (2, 2));
/// assert_eq!(Primitive::U128.size(), 16);
/// assert_eq!(FieldType::Primitive(Primitive::F64).to_string(), "f64");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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
    /// The primitive a schema names `name` (`u8` ... `f64`).
    pub fn from_name(name: &str) -> Option<Primitive> {
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

    /// Its alignment on this target (the header's target tags were checked to match ours).
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
            let n = N.min(bytes.len());
            out[..n].copy_from_slice(&bytes[..n]);
            out
        }
        match self {
            Primitive::U8 => FieldValue::Unsigned(array::<1>(bytes)[0].into()),
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

/// The type of a field.
///
/// ```
/// use shm_disruptor::{SchemaTable, Slot};
/// use shm_disruptor_inspect::{FieldType, SlotLayout};
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Book { bid: f64, ask: f64 }
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Order { id: u64, book: Book, legs: [u32; 4] }
///
/// let layout = SlotLayout::from_table(&SchemaTable::of(&Order::SCHEMA))?;
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
/// # Ok::<(), String>(())
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
    /// Another struct, shown as hex bytes.
    Named(String),
}

/// `"[u32; 4]"`: a field type serializes as the Rust spelling.
impl Serialize for FieldType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FieldType {
    /// The type of entry `index` of `table`, whose size the table guarantees.
    fn of(table: &SchemaTable, index: usize) -> Result<FieldType, String> {
        let entry = table.entry(index).ok_or_else(|| format!("no schema entry {index}"))?;
        Ok(match &entry.kind {
            EntryKind::Primitive => match Primitive::from_name(&entry.name) {
                Some(p) if p.size() as u64 == entry.size => FieldType::Primitive(p),
                _ => FieldType::Named(entry.name.clone()),
            },
            // `decode` refused an element at or after its array: the recursion ends.
            EntryKind::Array { element, len } => FieldType::Array {
                element: Box::new(FieldType::of(table, *element)?),
                len: usize::try_from(*len).map_err(|_| format!("an array of {len} elements"))?,
            },
            _ => FieldType::Named(entry.name.clone()),
        })
    }

    /// Decodes `bytes`, the field's bytes (the table guarantees their length is the type's).
    fn decode(&self, bytes: &[u8]) -> FieldValue {
        match self {
            FieldType::Primitive(p) => p.decode(bytes),
            FieldType::Array { element, len } => {
                let step = (bytes.len() / (*len).max(1)).max(1);
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldLayout {
    /// Its name (`"0"`, `"1"`, ... in a tuple struct; `"value"` when the slot type is not a
    /// struct).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Its byte offset in the slot.
    pub offset: usize,
    /// Its size in bytes.
    pub size: usize,
}

/// A decoded value.
///
/// JSON: integers up to 64 bits and finite floats as numbers; wider integers, NaN and the
/// infinities as strings (`"340282366920938463463374607431768211455"`, `"NaN"`); arrays as
/// arrays; nested structs as `"0x..."` hex strings.
///
/// ```
/// use shm_disruptor_inspect::FieldValue;
///
/// assert_eq!(FieldValue::Bytes(vec![10, 11]).to_string(), "0x0a0b");
/// let list = FieldValue::List(vec![FieldValue::Signed(-1), FieldValue::Float(0.5)]);
/// assert_eq!(list.to_string(), "[-1, 0.5]");
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

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Unsigned(v) => match u64::try_from(*v) {
                Ok(v) => serializer.serialize_u64(v),
                Err(_) => serializer.collect_str(v),
            },
            FieldValue::Signed(v) => match i64::try_from(*v) {
                Ok(v) => serializer.serialize_i64(v),
                Err(_) => serializer.collect_str(v),
            },
            FieldValue::Float(v) if v.is_finite() => serializer.serialize_f64(*v),
            FieldValue::Float(v) => serializer.collect_str(&format_args!("{v:?}")),
            FieldValue::List(items) => serializer.collect_seq(items),
            FieldValue::Bytes(bytes) => {
                serializer.collect_str(&format_args!("0x{}", HexBytes(bytes)))
            }
        }
    }
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
            FieldValue::Bytes(bytes) => write!(f, "0x{}", HexBytes(bytes)),
        }
    }
}

/// One decoded field of a slot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecodedField {
    /// The field's name.
    pub name: String,
    /// Its type, as spelled in Rust.
    #[serde(rename = "type")]
    pub ty: String,
    /// Its byte offset.
    pub offset: usize,
    /// Its value.
    pub value: FieldValue,
}

/// A slot type's layout, from the schema table in a ring's header: its top-level fields, with
/// their types, offsets and sizes. Fields of a nested struct are shown as hex bytes (arrays of
/// them as lists of hex). An abridged table (a description too large for the header) has no
/// layout: its slots are shown as hex only.
///
/// ```
/// use shm_disruptor::{SchemaTable, Slot};
/// use shm_disruptor_inspect::SlotLayout;
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
/// // The table a ring's header records (`Inspector::layout` reads the header's).
/// let layout = SlotLayout::from_table(&SchemaTable::of(&Tick::SCHEMA))?;
/// assert_eq!((layout.type_name.as_str(), layout.size, layout.align), ("Tick", 16, 8));
///
/// let mut bytes = 1.5f64.to_ne_bytes().to_vec(); // a `Tick`'s bytes, as peeked
/// bytes.extend(10u32.to_ne_bytes());
/// bytes.extend([1, 0, 0, 0]);
/// let shown: Vec<String> =
///     layout.decode(&bytes).iter().map(|f| format!("{} = {}", f.name, f.value)).collect();
/// assert_eq!(shown, ["price = 1.5", "qty = 10", "side = 1", "_pad = [0, 0, 0]"]);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
    /// The layout a schema table describes; an error for an abridged table.
    pub fn from_table(table: &SchemaTable) -> Result<SlotLayout, String> {
        let too_large = |what: &str, v: u64| format!("{what} {v} does not fit in memory");
        let size = usize::try_from(table.size()).map_err(|_| too_large("size", table.size()))?;
        let align =
            usize::try_from(table.align()).map_err(|_| too_large("align", table.align()))?;
        let root = table.entries().len() - 1;
        let (is_struct, fields) = match &table.root().kind {
            EntryKind::Struct { fields } => {
                let fields = fields
                    .iter()
                    .map(|f| {
                        Ok(FieldLayout {
                            name: f.name.clone(),
                            ty: FieldType::of(table, f.ty)?,
                            offset: usize::try_from(f.offset)
                                .map_err(|_| too_large("offset", f.offset))?,
                            size: usize::try_from(f.size).map_err(|_| too_large("size", f.size))?,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                (true, fields)
            }
            EntryKind::Primitive | EntryKind::Array { .. } => (
                false,
                vec![FieldLayout {
                    name: "value".into(),
                    ty: FieldType::of(table, root)?,
                    offset: 0,
                    size,
                }],
            ),
            _ => {
                return Err(format!(
                    "the schema of `{}` was too large to record field by field",
                    table.type_name()
                ))
            }
        };
        Ok(SlotLayout { type_name: table.type_name(), is_struct, fields, size, align })
    }

    /// Decodes the fields of one slot's bytes. Bytes shorter than the slot (never the case for
    /// [`Inspector::peek`]'s) decode only the fields that fit.
    pub fn decode(&self, bytes: &[u8]) -> Vec<DecodedField> {
        self.fields
            .iter()
            .filter_map(|f| {
                let field_bytes = bytes.get(f.offset..f.offset.checked_add(f.size)?)?;
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
    use shm_disruptor::{Field, Schema, Slot};

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    struct Tick {
        price: f64,
        qty: u32,
        side: u8,
        _pad: [u8; 3],
    }

    #[derive(Slot, Clone, Copy)]
    #[repr(C, align(16))]
    struct Outer {
        id: u64,
        inner: Tick,
        grid: [[i16; 2]; 2],
        ratio: f32,
        _pad: [u8; 12],
        big: i128,
        pair: [Tick; 2],
    }

    fn layout(schema: &Schema) -> SlotLayout {
        SlotLayout::from_table(&SchemaTable::of(schema)).unwrap()
    }

    fn tick_bytes(price: f64, qty: u32, side: u8, pad: [u8; 3]) -> Vec<u8> {
        let mut bytes = price.to_ne_bytes().to_vec();
        bytes.extend(qty.to_ne_bytes());
        bytes.push(side);
        bytes.extend(pad);
        bytes
    }

    #[test]
    fn decodes_a_flat_struct() {
        let layout = layout(&Tick::SCHEMA);
        assert!(layout.is_struct);
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
        let layout = layout(&Outer::SCHEMA);
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
        let json = serde_json::to_value(&fields).unwrap();
        assert_eq!(json[5]["value"], serde_json::json!(-5));
        assert_eq!(json[2]["type"], "[[i16; 2]; 2]");
    }

    #[test]
    fn primitives_and_arrays_are_one_field_named_value() {
        let layout = layout(&u64::SCHEMA);
        assert!(!layout.is_struct);
        assert_eq!(layout.decode(&9u64.to_ne_bytes())[0].value, FieldValue::Unsigned(9));
        let layout = self::layout(&<[f32; 2]>::SCHEMA);
        assert_eq!(layout.type_name, "[f32; 2]");
        let bytes: Vec<u8> = [f32::NAN, -1.0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let value = &layout.decode(&bytes)[0].value;
        assert_eq!(value.to_string(), "[NaN, -1.0]");
        assert_eq!(serde_json::to_string(value).unwrap(), r#"["NaN",-1.0]"#);
        let wide = FieldValue::Unsigned(u128::MAX);
        assert_eq!(serde_json::to_string(&wide).unwrap(), format!("\"{}\"", u128::MAX));
    }

    #[test]
    fn an_abridged_table_has_no_layout() {
        const WIDE: Schema = Schema::structure(
            "Wide",
            8,
            8,
            &[Field { name: "a_rather_long_field_name", schema: &u64::SCHEMA, offset: 0, size: 8 }],
        );
        let bytes = SchemaTable::of(&WIDE).encode_within(48);
        let table = SchemaTable::decode(&bytes).unwrap();
        assert!(table.is_abridged());
        let err = SlotLayout::from_table(&table).unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn short_bytes_decode_only_what_fits() {
        assert_eq!(layout(&Tick::SCHEMA).decode(&[0u8; 12]).len(), 2);
    }
}
