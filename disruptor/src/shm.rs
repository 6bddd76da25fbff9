//! The shared-memory segment: its layout, creation, attachment and validation.
//!
//! Layout (every offset from the start of the mapping, which is page-aligned):
//!
//! | offset | what |
//! |---|---|
//! | 0 | [`Header`], written once by the creator ([`HEADER_BYTES`] reserved) |
//! | `HEADER_BYTES` | [`Control`]: claim sequence, cursor, status, wake-up words, one 128-byte line each |
//! | then | one [`SequenceLine`] per consumer (its sequence, alone on its line) |
//! | then | one [`ConsumerEntry`] per consumer (owner registry) |
//! | then | [`MAX_PRODUCERS`] [`ProducerEntry`] lines (producer registry and in-flight claims) |
//! | then | [`AbandonedLog`]: the last ranges published without valid contents |
//! | then | multi-producer rings only: one `u64` commit flag per slot (`sequence + 1` once committed) |
//! | then | `capacity` slots of `T`, aligned to at least 128 bytes |

use std::fs::File;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;

use crate::error::OpenError;
use crate::liveness::{self, Liveness};
use crate::Schema;

/// The first bytes of every ring segment.
pub const MAGIC: [u8; 8] = *b"SHMDSRPT";
/// The version of the layout below; bumped on any incompatible change.
pub const LAYOUT_VERSION: u32 = 1;
/// Written in native byte order; reads back differently on a foreign-endian target.
pub const BYTE_ORDER_TAG: u32 = 0x0102_0304;
/// The size of a cache line pair: the x86 adjacent-line prefetcher pulls 64-byte lines in pairs,
/// so words written by different parties are kept 128 bytes apart.
pub const LINE: usize = 128;
/// Bytes reserved for the header.
pub const HEADER_BYTES: usize = 4096;
/// The most consumers a ring can have (the dependency graph is a 64-bit mask per consumer).
pub const MAX_CONSUMERS: usize = 64;
/// The number of producer registry entries: at most this many producer handles at once.
pub const MAX_PRODUCERS: usize = 64;
/// Bytes of the readable schema description kept in the header.
pub const SCHEMA_TEXT_BYTES: usize = 2048;
/// Bytes of the type name kept in the header.
pub const TYPE_NAME_BYTES: usize = 128;

/// Init-state values.
pub const INIT_ZERO: u32 = 0;
/// The creator is writing the header.
pub const INIT_BUSY: u32 = 1;
/// The header is complete and may be read (stored with Release).
pub const INIT_READY: u32 = 2;

/// Producer modes as stored in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerMode {
    /// One producer handle at a time; claims need no atomic read-modify-write.
    Single,
    /// Any number of producer handles, in any processes; claims use a CAS on the claim sequence.
    Multi,
}

impl ProducerMode {
    fn to_raw(self) -> u32 {
        match self {
            ProducerMode::Single => 1,
            ProducerMode::Multi => 2,
        }
    }

    fn from_raw(raw: u32) -> Option<ProducerMode> {
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
/// never written again.
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`LAYOUT_VERSION`].
    pub layout_version: u32,
    /// [`BYTE_ORDER_TAG`] in the creator's byte order.
    pub byte_order: u32,
    /// `usize::BITS` of the creator.
    pub pointer_width: u32,
    /// [`INIT_ZERO`], [`INIT_BUSY`] or [`INIT_READY`].
    pub init_state: AtomicU32,
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
    /// Reserved, zero.
    pub reserved: u32,
    /// Total segment size in bytes.
    pub segment_size: u64,
    /// Offset of the first slot.
    pub slots_offset: u64,
    /// For each consumer, a bit mask of the consumers it depends on (0: it follows the cursor).
    pub dependencies: [u64; MAX_CONSUMERS],
    /// `T`'s name, NUL-padded.
    pub type_name: [u8; TYPE_NAME_BYTES],
    /// `T::SCHEMA` displayed, NUL-padded (truncated with `...` if longer).
    pub schema_text: [u8; SCHEMA_TEXT_BYTES],
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
}

/// The application status word (the seed's `status`).
#[repr(C, align(128))]
pub struct StatusLine {
    /// The value.
    pub value: AtomicI32,
}

/// Hot words, each alone on its line: nothing a producer writes shares a line with anything a
/// consumer writes.
#[repr(C)]
pub struct Control {
    /// The claim sequence: the next sequence a producer will claim (written by producers).
    pub next: SequenceLine,
    /// The published cursor: every sequence below it is readable (written by producers).
    pub cursor: SequenceLine,
    /// The application status word.
    pub status: StatusLine,
    /// Consumers waiting for data sleep here; publishers wake them.
    pub data_wake: WakeLine,
    /// Producers waiting for room sleep here; consumers wake them when they commit.
    pub room_wake: WakeLine,
}

/// Who owns a consumer index.
#[repr(C, align(128))]
pub struct ConsumerEntry {
    /// The owner's process token (see [`crate::liveness`]); 0 when no handle owns it.
    pub owner: AtomicU64,
    /// Number of batches committed (for the inspector's rates); written by the owner only.
    pub commits: AtomicU64,
}

/// A producer registry entry: its owner and its in-flight claim.
#[repr(C, align(128))]
pub struct ProducerEntry {
    /// The owner's process token; 0 when the entry is free.
    pub owner: AtomicU64,
    /// First sequence of the in-flight claim.
    pub claim_start: AtomicU64,
    /// One past the last sequence of the in-flight claim; equal to `claim_start` when none.
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

const _: () = assert!(std::mem::size_of::<Control>() == 5 * LINE);
const _: () = assert!(std::mem::size_of::<SequenceLine>() == LINE);
const _: () = assert!(std::mem::size_of::<ConsumerEntry>() == LINE);
const _: () = assert!(std::mem::size_of::<ProducerEntry>() == LINE);
const _: () = assert!(std::mem::offset_of!(Control, cursor) % LINE == 0);
const _: () = assert!(std::mem::offset_of!(Control, room_wake) % LINE == 0);

/// Where each part of a segment lies, computed from the header values alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Number of slots.
    pub capacity: u64,
    /// Number of consumers.
    pub consumer_count: usize,
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
        let sequences_offset = HEADER_BYTES + std::mem::size_of::<Control>();
        let consumers_offset = sequences_offset + consumer_count * LINE;
        let producers_offset = consumers_offset + consumer_count * LINE;
        let abandoned_offset = producers_offset + MAX_PRODUCERS * LINE;
        let after_registry = abandoned_offset + std::mem::size_of::<AbandonedLog>();
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
            slot_size,
            slot_align: slot_align as u64,
            sequences_offset,
            consumers_offset,
            producers_offset,
            abandoned_offset,
            flags_offset,
            slots_offset,
            segment_size: segment_size as usize,
        })
    }
}

/// Checks a POSIX shared-memory name: `/` then 1..=254 bytes, no other `/`, no NUL.
pub fn validate_name(name: &str) -> Result<(), OpenError> {
    let invalid = |reason| Err(OpenError::InvalidName { name: name.to_owned(), reason });
    if !name.starts_with('/') {
        return invalid("it must start with '/'");
    }
    if name.len() < 2 {
        return invalid("it needs at least one character after '/'");
    }
    if name.len() > 255 {
        return invalid("it is longer than 255 bytes");
    }
    if name[1..].contains('/') {
        return invalid("it must not contain '/' after the first character");
    }
    if name.contains('\0') {
        return invalid("it must not contain NUL");
    }
    Ok(())
}

fn os_error(op: &'static str, name: &str, errno: Errno) -> OpenError {
    match errno {
        Errno::NOENT => OpenError::NotFound { name: name.to_owned() },
        Errno::EXIST => OpenError::AlreadyExists { name: name.to_owned() },
        Errno::ACCESS | Errno::PERM => OpenError::PermissionDenied { name: name.to_owned() },
        Errno::INVAL | Errno::NAMETOOLONG => {
            OpenError::InvalidName { name: name.to_owned(), reason: "the system refused it" }
        }
        other => OpenError::Os { op, name: name.to_owned(), source: other.into() },
    }
}

/// Removes the segment `name`. Processes that have it mapped keep using it; the name is free.
pub fn unlink(name: &str) -> Result<(), OpenError> {
    validate_name(name)?;
    shm::unlink(name).map_err(|e| os_error("shm_unlink", name, e))
}

/// One process's mapping of a segment, with the geometry validated against its size.
#[derive(Debug)]
pub struct Segment {
    name: String,
    map: MmapRaw,
    geometry: Geometry,
    mode: ProducerMode,
}

// SAFETY: the mapping is shared memory accessed only through atomics (control words, registries)
// or through the claim/consume protocol, which gives each slot one writer at a time; the raw
// pointer inside `MmapRaw` is valid for the lifetime of the `Segment` in any thread.
unsafe impl Send for Segment {}
// SAFETY: as above: shared access goes through atomics or the slot protocol.
unsafe impl Sync for Segment {}

/// What the creator writes into a new header.
#[derive(Debug)]
pub struct NewRing<'a> {
    /// Name of the segment.
    pub name: &'a str,
    /// Schema of the slot type.
    pub schema: &'a Schema,
    /// Number of slots.
    pub capacity: u64,
    /// Number of consumers.
    pub consumer_count: usize,
    /// Producer mode.
    pub mode: ProducerMode,
    /// Dependency mask per consumer.
    pub dependencies: &'a [u64],
    /// Permission bits of the segment.
    pub permissions: u32,
}

/// What an opener expects to find.
#[derive(Debug, Default)]
pub struct Expectations {
    /// Capacity stated to the builder.
    pub capacity: Option<u64>,
    /// Consumer count stated to the builder.
    pub consumer_count: Option<usize>,
    /// Producer mode stated to the builder.
    pub mode: Option<ProducerMode>,
}

impl Segment {
    /// Creates a new segment (failing if the name exists), writes the header and marks it ready.
    pub fn create(ring: &NewRing<'_>) -> Result<Segment, OpenError> {
        let name = ring.name;
        validate_name(name)?;
        let geometry = Geometry::new(
            ring.capacity,
            ring.consumer_count,
            ring.schema.size as u64,
            ring.schema.align as u64,
            ring.mode,
        )
        .map_err(OpenError::InvalidConfig)?;
        // Step 1: create the object exclusively; it starts zero-filled (init state INIT_ZERO).
        let fd = shm::open(
            name,
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::from_bits_truncate(ring.permissions),
        )
        .map_err(|e| os_error("shm_open", name, e))?;
        let file = File::from(fd);
        let result = Self::initialise(file, ring, geometry);
        if result.is_err() {
            // Leave no half-made segment behind under this name.
            let _ = shm::unlink(name);
        }
        result
    }

    fn initialise(
        file: File,
        ring: &NewRing<'_>,
        geometry: Geometry,
    ) -> Result<Segment, OpenError> {
        let name = ring.name;
        // Step 2: size it. Openers wait until the size covers the header and init is READY.
        file.set_len(geometry.segment_size as u64).map_err(|source| OpenError::Os {
            op: "ftruncate",
            name: name.to_owned(),
            source,
        })?;
        let map = MmapOptions::new()
            .len(geometry.segment_size)
            .map_raw(&file)
            .map_err(|source| OpenError::Os { op: "mmap", name: name.to_owned(), source })?;
        let segment = Segment { name: name.to_owned(), map, geometry, mode: ring.mode };
        // Step 3: write the header. Nobody reads it before READY, and this process is its only
        // writer, so plain writes through the raw pointer are race-free.
        let header_ptr = segment.map.as_mut_ptr().cast::<Header>();
        // SAFETY: the mapping is at least HEADER_BYTES long (Geometry puts the control words
        // after it), page-aligned (so aligned for Header), and no other process writes it until
        // READY; `addr_of_mut!` avoids creating a reference to memory others may read.
        unsafe {
            let h = header_ptr;
            std::ptr::addr_of_mut!((*h).magic).write(MAGIC);
            std::ptr::addr_of_mut!((*h).layout_version).write(LAYOUT_VERSION);
            std::ptr::addr_of_mut!((*h).byte_order).write(BYTE_ORDER_TAG);
            std::ptr::addr_of_mut!((*h).pointer_width).write(usize::BITS);
            std::ptr::addr_of_mut!((*h).schema_hash).write(ring.schema.hash);
            std::ptr::addr_of_mut!((*h).slot_size).write(geometry.slot_size);
            std::ptr::addr_of_mut!((*h).slot_align).write(ring.schema.align as u64);
            std::ptr::addr_of_mut!((*h).capacity).write(geometry.capacity);
            std::ptr::addr_of_mut!((*h).consumer_count).write(geometry.consumer_count as u32);
            std::ptr::addr_of_mut!((*h).producer_mode).write(ring.mode.to_raw());
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            std::ptr::addr_of_mut!((*h).creation_time_ns).write(now.as_nanos() as u64);
            std::ptr::addr_of_mut!((*h).creator_pid).write(std::process::id());
            std::ptr::addr_of_mut!((*h).segment_size).write(geometry.segment_size as u64);
            std::ptr::addr_of_mut!((*h).slots_offset).write(geometry.slots_offset as u64);
            let mut dependencies = [0u64; MAX_CONSUMERS];
            dependencies[..ring.dependencies.len()].copy_from_slice(ring.dependencies);
            std::ptr::addr_of_mut!((*h).dependencies).write(dependencies);
            std::ptr::addr_of_mut!((*h).type_name).write(fixed_text(&ring.schema.type_name()));
            std::ptr::addr_of_mut!((*h).schema_text).write(fixed_text(&ring.schema.to_string()));
        }
        // Step 4 (SYNC POINT): Release pairs with the Acquire load of `init_state` in
        // `Segment::open`, so every header write above happens-before an opener reads it.
        segment.header().init_state.store(INIT_READY, Ordering::Release);
        Ok(segment)
    }

    /// Opens an existing segment, waits (up to `init_timeout`) for its creator to finish, and
    /// validates the header against `schema` and `expect`.
    pub fn open(
        name: &str,
        schema: &Schema,
        expect: &Expectations,
        init_timeout: Duration,
    ) -> Result<Segment, OpenError> {
        Self::open_checked(name, Some(schema), expect, init_timeout)
    }

    /// Opens a ring of any slot type, validating everything but the schema (for tools that read
    /// rings generically, and for `replace_existing`'s in-use check).
    pub fn open_any(name: &str, init_timeout: Duration) -> Result<Segment, OpenError> {
        Self::open_checked(name, None, &Expectations::default(), init_timeout)
    }

    fn open_checked(
        name: &str,
        schema: Option<&Schema>,
        expect: &Expectations,
        init_timeout: Duration,
    ) -> Result<Segment, OpenError> {
        validate_name(name)?;
        // Step 1: open the object.
        let fd = shm::open(name, shm::OFlags::RDWR, Mode::empty())
            .map_err(|e| os_error("shm_open", name, e))?;
        let file = File::from(fd);
        // Step 2: wait for the creator to size the object and mark it READY.
        let started = Instant::now();
        let not_initialised =
            || OpenError::NotInitialised { name: name.to_owned(), waited: init_timeout };
        let map = loop {
            let size = file
                .metadata()
                .map_err(|source| OpenError::Os { op: "fstat", name: name.to_owned(), source })?
                .len();
            if size >= HEADER_BYTES as u64 {
                let map =
                    MmapOptions::new().len(size as usize).map_raw(&file).map_err(|source| {
                        OpenError::Os { op: "mmap", name: name.to_owned(), source }
                    })?;
                // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned.
                let header = unsafe { &*map.as_ptr().cast::<Header>() };
                // SYNC POINT: Acquire pairs with the Release store of INIT_READY in
                // `Segment::initialise`: the header is complete once we see READY.
                let state = header.init_state.load(Ordering::Acquire);
                if state == INIT_READY {
                    break map;
                }
                if state != INIT_ZERO && state != INIT_BUSY {
                    // Still check the magic first: a foreign segment gets a clearer error.
                    check_magic(name, header)?;
                    return Err(OpenError::Corrupt {
                        name: name.to_owned(),
                        reason: format!("init state {state} is not a known value"),
                    });
                }
            }
            if started.elapsed() >= init_timeout {
                return Err(not_initialised());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        // Step 3: validate the header, then check the size against the geometry it describes.
        // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned.
        let header = unsafe { &*map.as_ptr().cast::<Header>() };
        let (geometry, mode) = validate_header(name, header, schema, expect)?;
        if (map.len() as u64) < geometry.segment_size as u64 {
            return Err(OpenError::TooSmall {
                name: name.to_owned(),
                expected: geometry.segment_size as u64,
                actual: map.len() as u64,
            });
        }
        Ok(Segment { name: name.to_owned(), map, geometry, mode })
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The validated geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The producer mode.
    pub fn mode(&self) -> ProducerMode {
        self.mode
    }

    /// The header.
    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_BYTES long (validated at create/open) and
        // page-aligned; after READY the header is only read (init_state is atomic).
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    /// The hot control words.
    pub fn control(&self) -> &Control {
        // SAFETY: Control lies at HEADER_BYTES (a multiple of 128, so aligned), inside the
        // validated segment size; it is all atomics, so shared references are fine.
        unsafe { &*self.map.as_ptr().add(HEADER_BYTES).cast::<Control>() }
    }

    /// Consumer `index`'s sequence.
    ///
    /// # Panics
    /// If `index >= consumer_count` (a programmer error: callers check the index first).
    pub fn consumer_sequence(&self, index: usize) -> &AtomicU64 {
        assert!(index < self.geometry.consumer_count);
        // SAFETY: index < consumer_count, so the line lies inside the sequences region whose
        // size the geometry includes; offsets are multiples of 128, so it is aligned.
        unsafe {
            &(*self
                .map
                .as_ptr()
                .add(self.geometry.sequences_offset + index * LINE)
                .cast::<SequenceLine>())
            .value
        }
    }

    /// Consumer `index`'s registry entry.
    ///
    /// # Panics
    /// If `index >= consumer_count`.
    pub fn consumer_entry(&self, index: usize) -> &ConsumerEntry {
        assert!(index < self.geometry.consumer_count);
        // SAFETY: as in `consumer_sequence`, for the consumer registry region.
        unsafe {
            &*self
                .map
                .as_ptr()
                .add(self.geometry.consumers_offset + index * LINE)
                .cast::<ConsumerEntry>()
        }
    }

    /// Producer registry entry `index`.
    ///
    /// # Panics
    /// If `index >= MAX_PRODUCERS`.
    pub fn producer_entry(&self, index: usize) -> &ProducerEntry {
        assert!(index < MAX_PRODUCERS);
        // SAFETY: index < MAX_PRODUCERS, inside the producer registry region; 128-aligned.
        unsafe {
            &*self
                .map
                .as_ptr()
                .add(self.geometry.producers_offset + index * LINE)
                .cast::<ProducerEntry>()
        }
    }

    /// The abandoned-range log.
    pub fn abandoned_log(&self) -> &AbandonedLog {
        // SAFETY: the log lies at `abandoned_offset` (a multiple of 128), before the slots,
        // inside the validated segment size; it is all atomics.
        unsafe { &*self.map.as_ptr().add(self.geometry.abandoned_offset).cast::<AbandonedLog>() }
    }

    /// Pointer to the first per-slot commit flag; null in single-producer rings.
    pub fn flags(&self) -> *const AtomicU64 {
        if self.geometry.flags_offset == 0 {
            return std::ptr::null();
        }
        // SAFETY: the flags (`capacity` u64s, 8-aligned as the offset is a multiple of 128) lie
        // at `flags_offset`, inside the validated segment size.
        unsafe { self.map.as_ptr().add(self.geometry.flags_offset).cast::<AtomicU64>() }
    }

    /// Pointer to the first slot.
    pub fn slots(&self) -> *mut u8 {
        // SAFETY: slots_offset + capacity * slot_size == segment_size <= mapping length.
        unsafe { self.map.as_mut_ptr().add(self.geometry.slots_offset) }
    }

    /// The live processes that own a consumer index or a producer registry entry.
    pub fn live_users(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let tokens = (0..self.geometry.consumer_count)
            .map(|i| self.consumer_entry(i).owner.load(Ordering::Acquire))
            .chain(
                (0..MAX_PRODUCERS).map(|i| self.producer_entry(i).owner.load(Ordering::Acquire)),
            );
        for token in tokens {
            if token != 0 && liveness::check(token) == Liveness::Alive {
                let pid = liveness::pid_of(token);
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

fn fixed_text<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    if text.len() <= N {
        out[..text.len()].copy_from_slice(text.as_bytes());
    } else {
        let cut = (0..=N - 3).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        out[..cut].copy_from_slice(&text.as_bytes()[..cut]);
        out[cut..cut + 3].copy_from_slice(b"...");
    }
    out
}

/// Reads NUL-padded text from the header, replacing invalid UTF-8 (a corrupt header).
pub fn header_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn check_magic(name: &str, header: &Header) -> Result<(), OpenError> {
    if header.magic != MAGIC {
        return Err(OpenError::BadMagic { name: name.to_owned(), found: header.magic });
    }
    Ok(())
}

/// Validates a READY header in the order magic -> version -> target tags -> schema ->
/// size/align -> geometry, and returns the geometry it describes.
pub fn validate_header(
    name: &str,
    header: &Header,
    schema: Option<&Schema>,
    expect: &Expectations,
) -> Result<(Geometry, ProducerMode), OpenError> {
    let owned = || name.to_owned();
    check_magic(name, header)?;
    if header.layout_version != LAYOUT_VERSION {
        return Err(OpenError::UnsupportedVersion {
            name: owned(),
            found: header.layout_version,
            supported: LAYOUT_VERSION,
        });
    }
    if header.byte_order != BYTE_ORDER_TAG || header.pointer_width != usize::BITS {
        return Err(OpenError::ForeignTarget {
            name: owned(),
            found_order: header.byte_order,
            found_width: header.pointer_width,
            our_order: BYTE_ORDER_TAG,
            our_width: usize::BITS,
        });
    }
    if let Some(schema) = schema {
        if header.schema_hash != schema.hash {
            let expected = schema.to_string();
            let found = header_text(&header.schema_text);
            let diff = schema_diff(&expected, &found);
            return Err(OpenError::SchemaMismatch { name: owned(), expected, found, diff });
        }
        if header.slot_size != schema.size as u64 || header.slot_align != schema.align as u64 {
            return Err(OpenError::SlotLayoutMismatch {
                name: owned(),
                type_name: schema.type_name(),
                expected_size: schema.size as u64,
                expected_align: schema.align as u64,
                found_size: header.slot_size,
                found_align: header.slot_align,
            });
        }
    }
    let corrupt = |reason: String| OpenError::Corrupt { name: owned(), reason };
    let mode = ProducerMode::from_raw(header.producer_mode)
        .ok_or_else(|| corrupt(format!("producer mode {} is not 1 or 2", header.producer_mode)))?;
    let geometry = Geometry::new(
        header.capacity,
        header.consumer_count as usize,
        header.slot_size,
        header.slot_align,
        mode,
    )
    .map_err(corrupt)?;
    if header.segment_size != geometry.segment_size as u64
        || header.slots_offset != geometry.slots_offset as u64
    {
        return Err(corrupt(format!(
            "recorded size {} / slots offset {} disagree with the geometry ({} / {})",
            header.segment_size, header.slots_offset, geometry.segment_size, geometry.slots_offset
        )));
    }
    crate::graph::validate(&header.dependencies[..geometry.consumer_count]).map_err(corrupt)?;
    if header.dependencies[geometry.consumer_count..].iter().any(|&mask| mask != 0) {
        return Err(corrupt("dependencies recorded for consumers that do not exist".into()));
    }
    let mismatch = |what, expected: String, found: String| OpenError::GeometryMismatch {
        name: owned(),
        what,
        expected,
        found,
    };
    if let Some(capacity) = expect.capacity {
        if capacity != geometry.capacity {
            return Err(mismatch("capacity", capacity.to_string(), geometry.capacity.to_string()));
        }
    }
    if let Some(count) = expect.consumer_count {
        if count != geometry.consumer_count {
            return Err(mismatch(
                "consumer count",
                count.to_string(),
                geometry.consumer_count.to_string(),
            ));
        }
    }
    if let Some(expected_mode) = expect.mode {
        if expected_mode != mode {
            return Err(mismatch("producer mode", expected_mode.to_string(), mode.to_string()));
        }
    }
    Ok((geometry, mode))
}

/// Names the first field where two schema descriptions differ.
fn schema_diff(expected: &str, found: &str) -> String {
    let split = |s: &str| -> Vec<String> {
        s.replace(" {", ", {").replace(" }", ", }").split(", ").map(str::to_owned).collect()
    };
    let (ours, theirs) = (split(expected), split(found));
    for i in 0..ours.len().max(theirs.len()) {
        let a = ours.get(i).map(String::as_str).unwrap_or("(nothing)");
        let b = theirs.get(i).map(String::as_str).unwrap_or("(nothing)");
        if a != b {
            return format!("  first difference: this process has `{a}`, the segment has `{b}`");
        }
    }
    "  the descriptions match but the hashes differ (a nested type changed)".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("/ok").is_ok());
        for bad in ["", "/", "noslash", "/a/b", "/nul\0"] {
            assert!(matches!(validate_name(bad), Err(OpenError::InvalidName { .. })), "{bad:?}");
        }
        assert!(validate_name(&format!("/{}", "x".repeat(255))).is_err());
    }

    #[test]
    fn geometry_puts_hot_words_on_their_own_lines() {
        let g = Geometry::new(1000, 3, 256, 8, ProducerMode::Single).unwrap();
        assert_eq!(g.sequences_offset % LINE, 0);
        assert_eq!(g.slots_offset % LINE, 0);
        assert_eq!(g.segment_size, g.slots_offset + 1000 * 256);
        assert_eq!(g.flags_offset, 0, "single-producer rings have no commit flags");
        let m = Geometry::new(1000, 3, 256, 8, ProducerMode::Multi).unwrap();
        assert!(m.flags_offset > 0 && m.slots_offset >= m.flags_offset + 8 * 1000);
        assert!(Geometry::new(0, 1, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(8, 0, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(8, MAX_CONSUMERS + 1, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(u64::MAX / 2, 1, 8, 8, ProducerMode::Multi).is_err());
    }

    #[test]
    fn long_text_is_truncated_on_a_char_boundary() {
        let text: [u8; 8] = fixed_text("ééééé");
        assert_eq!(header_text(&text), "éé...");
    }

    #[test]
    fn schema_diff_names_the_field() {
        let d = schema_diff(
            "T { a: u32 @0, b: u32 @4 } size 8 align 4",
            "T { a: u32 @0, b: i32 @4 } size 8 align 4",
        );
        assert!(d.contains("`b: u32 @4`") && d.contains("`b: i32 @4`"), "{d}");
    }
}
