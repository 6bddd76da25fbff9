//! The layout of a ring's shared memory: the header, the control lines, the registries, the
//! commit flags and the slots, with the geometry that places them.
//!
//! | offset | what |
//! |---|---|
//! | 0 | [`Header`], written once by the creator ([`HEADER_BYTES`] reserved) |
//! | `HEADER_BYTES` | [`Control`]: claim sequence (with the gating epoch), cursor, status, wake-up lines, one 128-byte line each |
//! | then | one [`SequenceLine`] per consumer (its sequence, alone on its line) |
//! | then | one [`ConsumerEntry`] per consumer (owner registry) |
//! | then | one [`ProducerEntry`] per producer record (producer registry: records of claims) |
//! | then | [`AbandonedLog`]: the last ranges published without valid contents |
//! | then | the dependency graph: one `u64` per edge, `consumer << 32 \| dependency` (written once, before the header is published) |
//! | then | multi-producer rings only: one `u64` commit flag per slot (`sequence + 1` once committed) |
//! | then | `capacity` slots of `T`, aligned to at least 128 bytes |
//!
//! Every shared word is an atomic of [`super::sync`] (loom's under `--cfg loom`, where these
//! structures live on the heap instead of in a mapping, and the size assertions do not apply).

#[cfg(not(loom))]
use super::sync::Ordering;
use super::sync::{AtomicI32, AtomicU32, AtomicU64};

/// The first bytes of every ring segment.
pub const MAGIC: [u8; 8] = *b"SHMDSRPT";
/// The version of the layout below; bumped on any incompatible change.
pub const LAYOUT_VERSION: u32 = 4;
/// Written in native byte order; reads back differently on a foreign-endian target.
pub const BYTE_ORDER_TAG: u32 = 0x0102_0304;
/// The size of a cache line pair: the x86 adjacent-line prefetcher pulls 64-byte lines in pairs,
/// so words written by different parties are kept 128 bytes apart.
pub const LINE: usize = 128;
/// Bytes reserved for the header.
pub const HEADER_BYTES: usize = 4096;
/// The most consumers a ring can have. Each costs two 128-byte lines (its sequence and its
/// registry record).
pub const MAX_CONSUMERS: usize = 65_536;
/// The most producer records a ring can have (at most this many producer handles at once, set
/// per ring with [`Builder::producers`](crate::Builder::producers)). Each costs one 128-byte
/// line.
pub const MAX_PRODUCERS: usize = 65_536;
/// The most dependency edges a ring's consumer graph can have (8 bytes each).
pub const MAX_DEPENDENCIES: usize = 1 << 20;
/// The producer records of a multi-producer ring unless [`Builder::producers`] says otherwise
/// (a single-producer ring has one).
///
/// [`Builder::producers`]: crate::Builder::producers
pub const DEFAULT_PRODUCERS: usize = 64;
/// Bytes of the header that hold the slot type's schema table (the rest of the header after
/// its other fields: see [`crate::SchemaTable`] for the encoding).
pub const SCHEMA_TABLE_BYTES: usize = HEADER_BYTES - 112;

/// Init-state values.
pub const INIT_ZERO: u32 = 0;
/// The creator is writing the header.
pub const INIT_BUSY: u32 = 1;
/// The header is complete and may be read (stored with Release).
pub const INIT_READY: u32 = 2;

/// Whether a ring has one producer handle at a time or any number (chosen at creation, stored in
/// the header).
///
/// A single producer claims with plain loads and stores, and commits by moving the cursor; many
/// producers claim with a compare-and-swap and mark each slot committed, and a commit never
/// waits for earlier claims. A byte stream ([`StreamWriter`](crate::StreamWriter)) has a
/// single producer.
///
/// ```
/// use shm_disruptor::{AttachError, Disruptor, ProducerMode};
///
/// let single = Disruptor::<u64>::builder("single")
///     .capacity(8)
///     .consumers(1)
///     .single_producer() // or .producer_mode(ProducerMode::Single)
///     .create_in_process()?;
/// assert_eq!(single.producer_mode(), ProducerMode::Single);
/// let producer = single.producer()?;
/// assert!(matches!(single.producer(), Err(AttachError::ProducerInUse { .. })));
/// drop(producer);
///
/// let multi = Disruptor::<u64>::builder("multi").capacity(8).consumers(1).create_in_process()?;
/// assert_eq!(multi.producer_mode(), ProducerMode::Multi); // the default
/// let (_a, _b) = (multi.producer()?, multi.producer()?);
/// assert_eq!(multi.producer_mode().to_string(), "multi-producer");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ProducerMode {
    /// One producer handle at a time; claims need no atomic read-modify-write.
    Single,
    /// Any number of producer handles, in any processes; claims use a CAS on the claim sequence.
    Multi,
}

impl ProducerMode {
    pub(crate) fn to_raw(self) -> u32 {
        match self {
            ProducerMode::Single => 1,
            ProducerMode::Multi => 2,
        }
    }

    pub(crate) fn from_raw(raw: u32) -> Option<ProducerMode> {
        match raw {
            1 => Some(ProducerMode::Single),
            2 => Some(ProducerMode::Multi),
            _ => None,
        }
    }
}

impl std::fmt::Display for ProducerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProducerMode::Single => "single-producer",
            ProducerMode::Multi => "multi-producer",
        })
    }
}

/// The header: written by the creator before it stores `init_state = READY` (Release), and
/// never written again. Openers read it once, with atomic loads, into a private copy
/// ([`Header::read_from`]), validate the copy and use only the copy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`LAYOUT_VERSION`].
    pub layout_version: u32,
    /// [`BYTE_ORDER_TAG`] in the creator's byte order.
    pub byte_order: u32,
    /// `usize::BITS` of the creator.
    pub pointer_width: u32,
    /// [`INIT_ZERO`], [`INIT_BUSY`] or [`INIT_READY`]; in the segment it is only accessed
    /// atomically ([`init_state`]).
    pub init_state: u32,
    /// `T::SCHEMA.hash`.
    pub schema_hash: u64,
    /// `size_of::<T>()`.
    pub slot_size: u64,
    /// `align_of::<T>()`.
    pub slot_align: u64,
    /// Number of slots.
    pub capacity: u64,
    /// Number of consumers.
    pub consumer_count: u32,
    /// 1 = single producer, 2 = multi producer.
    pub producer_mode: u32,
    /// Creation time, nanoseconds since the Unix epoch.
    pub creation_time_ns: u64,
    /// The creating process.
    pub creator_pid: u32,
    /// How notifiers and waiters order their accesses ([`FenceMode`]): 1 = membarrier,
    /// 2 = fences. Chosen at creation; every process follows it.
    pub fence_mode: u32,
    /// Total segment size in bytes.
    pub segment_size: u64,
    /// Offset of the first slot.
    pub slots_offset: u64,
    /// Number of producer registry records (1 in single-producer rings).
    pub producer_count: u32,
    /// Number of edges in the dependency table (see the module docs).
    pub edge_count: u32,
    /// How many bytes of `schema_table` the table takes.
    pub schema_table_len: u32,
    /// Zero (keeps the table 8-aligned).
    pub reserved: u32,
    /// `T::SCHEMA` as a binary field table ([`crate::SchemaTable::encode_within`]
    /// [`SCHEMA_TABLE_BYTES`]), zero-padded.
    pub schema_table: [u8; SCHEMA_TABLE_BYTES],
}

// The header has no padding (its size is the sum of its fields' sizes) and is a whole number of
// 8-byte words, so `read_from` can copy it word by word.
const _: () = assert!(
    std::mem::size_of::<Header>()
        == 8 + 4 * 4 + 8 * 4 + 4 * 2 + 8 + 4 * 2 + 8 * 2 + 4 * 2 + 4 * 2 + SCHEMA_TABLE_BYTES
);
const _: () = assert!(std::mem::size_of::<Header>() == HEADER_BYTES);
const _: () = assert!(std::mem::size_of::<Header>() % 8 == 0);
const _: () = assert!(std::mem::align_of::<Header>() == 8);

// SAFETY: every field is an integer or an array of integers (all bit patterns are valid), the
// struct is `repr(C)` with no padding (asserted above), and it has no interior mutability.
unsafe impl bytemuck::Zeroable for Header {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for Header {}

/// The init-state word of the header at `base` (the start of a mapping of at least
/// [`HEADER_BYTES`] bytes, page-aligned).
///
/// # Safety
/// `base` must point to a live mapping of at least [`HEADER_BYTES`] bytes, aligned to 8.
#[cfg(not(loom))]
unsafe fn init_state<'a>(base: *const u8) -> &'a AtomicU32 {
    // SAFETY: the word lies inside the mapping (offset 20 < HEADER_BYTES), is 4-aligned, and
    // shared memory is only accessed atomically at this offset.
    unsafe { &*base.add(std::mem::offset_of!(Header, init_state)).cast::<AtomicU32>() }
}

#[cfg(not(loom))]
impl Header {
    /// The init state of the header at `base`: [`INIT_READY`] once the creator published it.
    ///
    /// # Safety
    /// `base` must point to a live mapping of at least [`HEADER_BYTES`] bytes, aligned to 8.
    pub unsafe fn load_init_state(base: *const u8) -> u32 {
        // SYNC POINT: Acquire pairs with the Release store of INIT_READY in `publish`: the
        // header is complete once READY is seen.
        // SAFETY: the caller's contract.
        unsafe { init_state(base) }.load(Ordering::Acquire)
    }

    /// Writes this header at `base` (every word but the init state), then publishes it by
    /// storing [`INIT_READY`] (creation, step 4 and 5).
    ///
    /// # Safety
    /// `base` must point to a live mapping of at least [`HEADER_BYTES`] bytes, aligned to 8,
    /// whose header no other process writes.
    pub unsafe fn publish(&self, base: *mut u8) {
        let words: [u64; std::mem::size_of::<Header>() / 8] = bytemuck::cast(*self);
        for (i, &word) in words.iter().enumerate() {
            if i * 8 == std::mem::offset_of!(Header, init_state) & !7 {
                continue; // the init-state word is stored last, alone (below)
            }
            // SAFETY: word `i` lies inside the header (at most HEADER_BYTES, inside the
            // mapping) and is 8-aligned (the mapping is page-aligned). Stored atomically, as
            // an opener may already be polling the init state next to it.
            // Relaxed: the Release store of READY below publishes every word.
            unsafe { (*base.cast::<AtomicU64>().add(i)).store(word, Ordering::Relaxed) };
        }
        // The other half of the init-state word (the pointer width) is written with it.
        // SAFETY: the mapping is at least HEADER_BYTES long and 8-aligned.
        let pointer_width =
            unsafe { &*base.add(std::mem::offset_of!(Header, pointer_width)).cast::<AtomicU32>() };
        // Relaxed: published by the Release store of READY below.
        pointer_width.store(self.pointer_width, Ordering::Relaxed);
        // SYNC POINT: Release pairs with the Acquire load in `load_init_state`, so every header
        // write above happens-before an opener reads the header.
        // SAFETY: the caller's contract.
        unsafe { init_state(base) }.store(INIT_READY, Ordering::Release);
    }

    /// A private copy of the header at `base`, read with one atomic load per 8-byte word: the
    /// segment may be written by another process at any time, so it is never read through a
    /// plain reference.
    ///
    /// # Safety
    /// `base` must point to a live mapping of at least [`HEADER_BYTES`] bytes, aligned to 8.
    pub unsafe fn read_from(base: *const u8) -> Header {
        let mut words = [0u64; std::mem::size_of::<Header>() / 8];
        for (i, word) in words.iter_mut().enumerate() {
            // SAFETY: word `i` lies inside the header (the array spans exactly its size, which
            // is at most HEADER_BYTES) and is 8-aligned; shared words are read atomically.
            // Relaxed: the caller's Acquire load of the init state (READY) made the creator's
            // writes visible; nothing is published through these loads.
            *word = unsafe { (*base.cast::<AtomicU64>().add(i)).load(Ordering::Relaxed) };
        }
        bytemuck::cast(words)
    }
}

/// Word `i` of the dependency edge table of a mapping at `base` laid out as `geometry` says.
///
/// # Safety
/// `base` must point to a live mapping of at least `geometry.segment_size` bytes, page-aligned,
/// and `i < geometry.edge_count`.
#[cfg(not(loom))]
unsafe fn edge_word<'a>(base: *const u8, geometry: &Geometry, i: usize) -> &'a AtomicU64 {
    debug_assert!(i < geometry.edge_count);
    // SAFETY: the caller's contract: the table's `edge_count` words lie at the 128-aligned
    // `edges_offset` inside the mapping; shared words are only accessed atomically.
    unsafe { &*base.add(geometry.edges_offset + 8 * i).cast::<AtomicU64>() }
}

/// Writes the dependency edge table (creation, before the header is published).
///
/// # Safety
/// `base` must point to a live mapping of at least `geometry.segment_size` bytes, page-aligned,
/// and `edges.len() == geometry.edge_count`.
#[cfg(not(loom))]
pub unsafe fn write_edges(base: *mut u8, geometry: &Geometry, edges: &[u64]) {
    assert_eq!(edges.len(), geometry.edge_count);
    for (i, &edge) in edges.iter().enumerate() {
        // SAFETY: the caller's contract, and `i < edge_count`.
        // Relaxed: published by the Release store of READY in `Header::publish`.
        unsafe { edge_word(base, geometry, i) }.store(edge, Ordering::Relaxed);
    }
}

/// A private copy of the dependency edge table, one atomic load per edge (like
/// [`Header::read_from`]).
///
/// # Safety
/// `base` must point to a live mapping of at least `geometry.segment_size` bytes, page-aligned.
#[cfg(not(loom))]
pub unsafe fn read_edges(base: *const u8, geometry: &Geometry) -> Vec<u64> {
    (0..geometry.edge_count)
        // SAFETY: the caller's contract, and `i < edge_count`.
        // Relaxed: the caller's Acquire load of READY made the creator's stores visible.
        .map(|i| unsafe { edge_word(base, geometry, i) }.load(Ordering::Relaxed))
        .collect()
}

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER_BYTES);
const _: () = assert!(HEADER_BYTES % LINE == 0);

/// A 64-bit sequence alone on its 128-byte line.
#[repr(C, align(128))]
pub struct SequenceLine {
    /// The value.
    pub value: AtomicU64,
}

/// A futex word and a waiter count on their own line.
#[repr(C, align(128))]
pub struct WakeLine {
    /// Bumped by a waker before `FUTEX_WAKE`; waiters sleep while it holds the value they read.
    pub futex: AtomicU32,
    /// Number of handles registered as (about to be) sleeping on `futex`.
    pub waiters: AtomicU32,
    /// Under loom, the model of the kernel's futex queue for this word (see `wait::ModelFutex`).
    #[cfg(loom)]
    pub kernel: (super::sync::Mutex<()>, loom::sync::Condvar),
}

/// The application status word (the seed's `status`).
#[repr(C, align(128))]
pub struct StatusLine {
    /// The value.
    pub value: AtomicI32,
}

/// The claim sequence and, beside it, how many claims were given back (rolled back) and the
/// gating epoch: the words every claim reads, on the one line a producer touches anyway.
#[repr(C, align(128))]
pub struct ClaimLine {
    /// The claim sequence: the next sequence a producer will claim (written by producers).
    pub value: AtomicU64,
    /// Multi-producer rings: bumped after each claim given back by a rollback (its sequences
    /// may be claimed again); a recovery that sees it change starts over.
    pub given_back: AtomicU64,
    /// Bumped (SeqCst) after a consumer is released or evicted, so that producers re-read the
    /// dependency graph's live stages before their next claim. Rarely written; read by every
    /// claim. (On a line of its own, right before the consumer sequences, that one extra read
    /// per claim cost a single producer 12-18% of its `seed` throughput across processes in two
    /// of four interleaved A/B runs; beside the claim sequence no run showed a loss.)
    pub gating_epoch: AtomicU64,
}

/// Hot words, each alone on its line: nothing a producer writes shares a line with anything a
/// consumer writes.
#[repr(C)]
pub struct Control {
    /// The claim sequence (written by producers), the count of claims given back, and the
    /// gating epoch.
    pub next: ClaimLine,
    /// The published cursor: every sequence below it is readable (written by producers).
    pub cursor: SequenceLine,
    /// The application status word.
    pub status: StatusLine,
    /// Consumers waiting for data sleep here; publishers wake them.
    pub data_wake: WakeLine,
    /// Producers waiting for room sleep here; consumers wake them when they commit.
    pub room_wake: WakeLine,
}

/// Who owns a consumer index. The owner holds the record's lock byte (see `ownership`); the
/// token is for display.
#[repr(C, align(128))]
pub struct ConsumerEntry {
    /// The owner's process token (see [`crate::liveness`]): the live owner's while its lock is
    /// held; a dead owner's when it died holding it; 0 once it let go cleanly (or never had one).
    pub owner: AtomicU64,
    /// Number of batches committed (for the inspector's rates); written by the owner only.
    pub commits: AtomicU64,
}

/// A producer registry record: a claimed range and who holds it.
///
/// In multi-producer rings each producer handle holds one record (its lock byte, see
/// `ownership`) and writes each claim into it *before* taking the claim, so that every claimed
/// and uncommitted range is described by the record of whoever holds it. A range left pending
/// ([`crate::ClaimBatch::leave_pending`]), or whose holder died, stays in a record that nobody
/// holds: recovering it means taking that record's lock. In single-producer rings record 0 is
/// the producer's lock and keeps no range (the claim in flight is `[cursor, next)`).
#[repr(C, align(128))]
pub struct ProducerEntry {
    /// The holder's process token while its lock is held; a dead holder's when it died holding
    /// it; 0 once it was let go (a range left in it is then pending, recoverable by anyone).
    pub owner: AtomicU64,
    /// First sequence of the recorded range.
    pub claim_start: AtomicU64,
    /// One past the last sequence of the recorded range; not above `claim_start` when none.
    pub claim_end: AtomicU64,
}

/// Records of ranges committed as abandoned (a dead producer's claim, published zero-filled).
pub const ABANDONED_ENTRIES: usize = 32;

/// A small ring of the last [`ABANDONED_ENTRIES`] abandoned ranges, so consumers can tell.
#[repr(C, align(128))]
pub struct AbandonedLog {
    /// Number of ranges ever recorded; entry `count % ABANDONED_ENTRIES` is written next.
    pub count: AtomicU64,
    /// `[start, end)` pairs.
    pub entries: [[AtomicU64; 2]; ABANDONED_ENTRIES],
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Control>() == 5 * LINE);
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<SequenceLine>() == LINE);
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<ClaimLine>() == LINE);
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<ConsumerEntry>() == LINE);
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<ProducerEntry>() == LINE);
#[cfg(not(loom))]
const _: () = assert!(std::mem::offset_of!(Control, cursor) % LINE == 0);
#[cfg(not(loom))]
const _: () = assert!(std::mem::offset_of!(Control, room_wake) % LINE == 0);

/// Where each part of a segment lies, computed from the header values alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Number of slots.
    pub capacity: u64,
    /// Number of consumers.
    pub consumer_count: usize,
    /// Number of producer records.
    pub producer_count: usize,
    /// Number of dependency edges.
    pub edge_count: usize,
    /// `size_of::<T>()`.
    pub slot_size: u64,
    /// `align_of::<T>()`.
    pub slot_align: u64,
    /// Offset of the consumer sequence lines.
    pub sequences_offset: usize,
    /// Offset of the consumer registry.
    pub consumers_offset: usize,
    /// Offset of the producer registry.
    pub producers_offset: usize,
    /// Offset of the abandoned-range log.
    pub abandoned_offset: usize,
    /// Offset of the dependency edge table.
    pub edges_offset: usize,
    /// Offset of the per-slot commit flags (multi-producer rings only; 0 when there are none).
    pub flags_offset: usize,
    /// Offset of the first slot.
    pub slots_offset: usize,
    /// Total size in bytes.
    pub segment_size: usize,
}

impl Geometry {
    /// Computes the layout, or says why it cannot exist on this target.
    pub fn new(
        capacity: u64,
        consumer_count: usize,
        producer_count: usize,
        edge_count: usize,
        slot_size: u64,
        slot_align: u64,
        mode: ProducerMode,
    ) -> Result<Geometry, String> {
        if capacity == 0 {
            return Err("capacity must be at least 1".into());
        }
        if consumer_count == 0 {
            return Err("a ring needs at least one consumer".into());
        }
        if consumer_count > MAX_CONSUMERS {
            return Err(format!(
                "at most {MAX_CONSUMERS} consumers are supported, not {consumer_count}"
            ));
        }
        match mode {
            ProducerMode::Single if producer_count != 1 => {
                return Err(format!(
                    "a single-producer ring has one producer record, not {producer_count}"
                ));
            }
            _ if producer_count == 0 || producer_count > MAX_PRODUCERS => {
                return Err(format!(
                    "a ring has 1..={MAX_PRODUCERS} producer records, not {producer_count}"
                ));
            }
            _ => {}
        }
        if edge_count > MAX_DEPENDENCIES {
            return Err(format!(
                "at most {MAX_DEPENDENCIES} dependencies are supported, not {edge_count}"
            ));
        }
        if slot_size == 0
            || slot_align == 0
            || !slot_align.is_power_of_two()
            || slot_size % slot_align != 0
        {
            return Err(format!(
                "slot size {slot_size} / align {slot_align} is not a valid layout"
            ));
        }
        if slot_align > 4096 {
            return Err(format!("slot alignment {slot_align} exceeds the page size"));
        }
        let sequences_offset = HEADER_BYTES + CONTROL_BYTES;
        let consumers_offset = sequences_offset + consumer_count * LINE;
        let producers_offset = consumers_offset + consumer_count * LINE;
        let abandoned_offset = producers_offset + producer_count * LINE;
        let edges_offset = abandoned_offset + ABANDONED_LOG_BYTES;
        let after_registry = edges_offset + (edge_count * 8).next_multiple_of(LINE);
        let too_large =
            || format!("{capacity} slots of {slot_size} bytes do not fit in the address space");
        // Multi-producer rings keep one commit flag (a u64) per slot.
        let (flags_offset, after_flags) = match mode {
            ProducerMode::Single => (0, after_registry),
            ProducerMode::Multi => {
                let flag_bytes = usize::try_from(capacity)
                    .ok()
                    .and_then(|c| c.checked_mul(8))
                    .filter(|&b| b <= isize::MAX as usize / 4)
                    .ok_or_else(too_large)?;
                (after_registry, after_registry + flag_bytes)
            }
        };
        let slot_align = slot_align.max(LINE as u64) as usize;
        let slots_offset = after_flags.next_multiple_of(slot_align);
        let slot_bytes = capacity.checked_mul(slot_size).ok_or_else(too_large)?;
        let segment_size = (slots_offset as u64).checked_add(slot_bytes).ok_or_else(too_large)?;
        // Keep sizes well inside isize::MAX so pointer arithmetic on the mapping cannot overflow.
        if segment_size > (isize::MAX as u64) / 2 {
            return Err(too_large());
        }
        Ok(Geometry {
            capacity,
            consumer_count,
            producer_count,
            edge_count,
            slot_size,
            slot_align: slot_align as u64,
            sequences_offset,
            consumers_offset,
            producers_offset,
            abandoned_offset,
            edges_offset,
            flags_offset,
            slots_offset,
            segment_size: segment_size as usize,
        })
    }
}

/// Bytes of the control lines.
pub const CONTROL_BYTES: usize = 5 * LINE;
/// Bytes of the abandoned-range log (its count and entries, rounded up to whole lines).
pub const ABANDONED_LOG_BYTES: usize = (8 + 16 * ABANDONED_ENTRIES).next_multiple_of(LINE);

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<AbandonedLog>() == ABANDONED_LOG_BYTES);
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Control>() == CONTROL_BYTES);

impl SequenceLine {
    /// A line holding `value`.
    pub fn new(value: u64) -> SequenceLine {
        SequenceLine { value: AtomicU64::new(value) }
    }
}

impl WakeLine {
    /// A line with no waiter.
    pub fn new() -> WakeLine {
        WakeLine {
            futex: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            #[cfg(loom)]
            kernel: (super::sync::Mutex::new(()), loom::sync::Condvar::new()),
        }
    }
}

impl Control {
    /// The control lines of a new ring.
    pub fn new() -> Control {
        Control {
            next: ClaimLine {
                value: AtomicU64::new(0),
                given_back: AtomicU64::new(0),
                gating_epoch: AtomicU64::new(0),
            },
            cursor: SequenceLine::new(0),
            status: StatusLine { value: AtomicI32::new(0) },
            data_wake: WakeLine::new(),
            room_wake: WakeLine::new(),
        }
    }
}

impl ConsumerEntry {
    /// An index nobody owns.
    pub fn new() -> ConsumerEntry {
        ConsumerEntry { owner: AtomicU64::new(0), commits: AtomicU64::new(0) }
    }
}

impl ProducerEntry {
    /// A free record.
    pub fn new() -> ProducerEntry {
        ProducerEntry {
            owner: AtomicU64::new(0),
            claim_start: AtomicU64::new(0),
            claim_end: AtomicU64::new(0),
        }
    }
}

impl AbandonedLog {
    /// An empty log.
    pub fn new() -> AbandonedLog {
        AbandonedLog {
            count: AtomicU64::new(0),
            entries: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
        }
    }
}
