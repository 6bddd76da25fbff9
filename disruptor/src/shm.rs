//! The shared-memory segment: its layout, creation, attachment and validation.
//!
//! Layout (every offset from the start of the mapping, which is page-aligned):
//!
//! | offset | what |
//! |---|---|
//! | 0 | [`Header`], written once by the creator ([`HEADER_BYTES`] reserved) |
//! | `HEADER_BYTES` | [`Control`]: claim sequence, cursor, status, wake-up words, gating epoch, one 128-byte line each |
//! | then | one [`SequenceLine`] per consumer (its sequence, alone on its line) |
//! | then | one [`ConsumerEntry`] per consumer (owner registry) |
//! | then | [`MAX_PRODUCERS`] [`ProducerEntry`] lines (producer registry and in-flight claims) |
//! | then | [`AbandonedLog`]: the last ranges published without valid contents |
//! | then | multi-producer rings only: one `u64` commit flag per slot (`sequence + 1` once committed) |
//! | then | `capacity` slots of `T`, aligned to at least 128 bytes |
//!
//! The header is validated once, from a private copy read with atomic loads
//! ([`Segment::header`] returns that copy): a peer that rewrites the header afterwards cannot
//! change what this process believes about the ring. Registry records are owned through
//! open-file-description locks on the segment file (see `ownership`). The segment is allocated
//! in full at creation (`fallocate`), so a full `/dev/shm` is an error at `create`, not a
//! `SIGBUS` later; every attach checks that the file has not shrunk since.

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;

use crate::error::OpenError;
use crate::liveness;
use crate::ownership::Locks;
use crate::wait::FenceMode;
use crate::Schema;

/// The first bytes of every ring segment.
pub const MAGIC: [u8; 8] = *b"SHMDSRPT";
/// The version of the layout below; bumped on any incompatible change.
pub const LAYOUT_VERSION: u32 = 2;
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
    /// For each consumer, a bit mask of the consumers it depends on (0: it follows the cursor).
    pub dependencies: [u64; MAX_CONSUMERS],
    /// `T`'s name, NUL-padded.
    pub type_name: [u8; TYPE_NAME_BYTES],
    /// `T::SCHEMA` displayed, NUL-padded (truncated with `...` if longer).
    pub schema_text: [u8; SCHEMA_TEXT_BYTES],
}

// The header has no padding (its size is the sum of its fields' sizes) and is a whole number of
// 8-byte words, so `read_from` can copy it word by word.
const _: () = assert!(
    std::mem::size_of::<Header>()
        == 8 + 4 * 4
            + 8 * 4
            + 4 * 2
            + 8
            + 4 * 2
            + 8 * 2
            + 8 * MAX_CONSUMERS
            + TYPE_NAME_BYTES
            + SCHEMA_TEXT_BYTES
);
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
pub unsafe fn init_state<'a>(base: *const u8) -> &'a AtomicU32 {
    // SAFETY: the word lies inside the mapping (offset 20 < HEADER_BYTES), is 4-aligned, and
    // shared memory is only accessed atomically at this offset.
    unsafe { &*base.add(std::mem::offset_of!(Header, init_state)).cast::<AtomicU32>() }
}

impl Header {
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

/// The claim sequence and, beside it, how many claims were given back (rolled back).
#[repr(C, align(128))]
pub struct ClaimLine {
    /// The claim sequence: the next sequence a producer will claim (written by producers).
    pub value: AtomicU64,
    /// Multi-producer rings: bumped after each claim given back by a rollback (its sequences
    /// may be claimed again); a recovery that sees it change starts over.
    pub given_back: AtomicU64,
}

/// Hot words, each alone on its line: nothing a producer writes shares a line with anything a
/// consumer writes.
#[repr(C)]
pub struct Control {
    /// The claim sequence (written by producers), and the count of claims given back.
    pub next: ClaimLine,
    /// The published cursor: every sequence below it is readable (written by producers).
    pub cursor: SequenceLine,
    /// The application status word.
    pub status: StatusLine,
    /// Consumers waiting for data sleep here; publishers wake them.
    pub data_wake: WakeLine,
    /// Producers waiting for room sleep here; consumers wake them when they commit.
    pub room_wake: WakeLine,
    /// Bumped (SeqCst) after a consumer is released or evicted, so that producers re-read the
    /// dependency graph's live stages before their next claim. Rarely written.
    pub gating_epoch: SequenceLine,
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

const _: () = assert!(std::mem::size_of::<Control>() == 6 * LINE);
const _: () = assert!(std::mem::size_of::<SequenceLine>() == LINE);
const _: () = assert!(std::mem::size_of::<ClaimLine>() == LINE);
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
pub struct Segment {
    name: String,
    map: MmapRaw,
    /// The private copy of the header that was validated (see [`Header::read_from`]).
    header: Header,
    geometry: Geometry,
    mode: ProducerMode,
    fence: FenceMode,
    /// The segment's file and the record locks this mapping's handles hold on it.
    locks: Locks,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("geometry", &self.geometry)
            .field("mode", &self.mode)
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
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
    /// Permission bits of the segment (at most `0o777`).
    pub permissions: u32,
    /// The fence mode asked for; `None` picks membarrier where this process can use it.
    pub fence: Option<FenceMode>,
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

/// `shm_open` flags that never block (a FIFO planted in `/dev/shm` would block an `O_RDONLY`
/// open until a writer comes) and never follow a symbolic link.
fn open_flags(access: shm::OFlags) -> shm::OFlags {
    access
        | shm::OFlags::from_bits_retain(
            (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits(),
        )
}

/// Opens the existing segment `name` without blocking, and checks that it is a regular file
/// before anything maps or reads it.
pub fn open_file(name: &str, access: shm::OFlags) -> Result<File, OpenError> {
    validate_name(name)?;
    let fd = shm::open(name, open_flags(access), Mode::empty()).map_err(|e| match e {
        // O_NOFOLLOW on a symbolic link.
        Errno::LOOP => OpenError::NotASegment { name: name.to_owned(), kind: "a symbolic link" },
        other => os_error("shm_open", name, other),
    })?;
    let file = File::from(fd);
    let file_type = file
        .metadata()
        .map_err(|source| OpenError::Os { op: "fstat", name: name.to_owned(), source })?
        .file_type();
    if !file_type.is_file() {
        let kind = if file_type.is_fifo() {
            "a FIFO"
        } else if file_type.is_socket() {
            "a socket"
        } else if file_type.is_char_device() || file_type.is_block_device() {
            "a device"
        } else if file_type.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(OpenError::NotASegment { name: name.to_owned(), kind });
    }
    Ok(file)
}

/// The current size of `file`.
fn file_size(name: &str, file: &File) -> Result<u64, OpenError> {
    Ok(file
        .metadata()
        .map_err(|source| OpenError::Os { op: "fstat", name: name.to_owned(), source })?
        .len())
}

impl Segment {
    /// Creates a new segment (failing if the name exists), writes the header and marks it ready.
    pub fn create(ring: &NewRing<'_>) -> Result<Segment, OpenError> {
        let name = ring.name;
        validate_name(name)?;
        if ring.permissions & !0o777 != 0 {
            return Err(OpenError::InvalidConfig(format!(
                "permissions {:#o} have bits outside 0o777 (setuid, setgid and sticky bits are \
                 not allowed on a segment)",
                ring.permissions
            )));
        }
        let geometry = Geometry::new(
            ring.capacity,
            ring.consumer_count,
            ring.schema.size as u64,
            ring.schema.align as u64,
            ring.mode,
        )
        .map_err(OpenError::InvalidConfig)?;
        // The fence mode, before anything exists: a mode this process cannot follow is refused.
        let fence = match ring.fence {
            Some(mode) => {
                mode.follow().map_err(|()| OpenError::FenceModeUnavailable {
                    name: name.to_owned(),
                    mode,
                })?;
                mode
            }
            None => FenceMode::for_new_ring(),
        };
        // Step 1: create the object exclusively; it starts empty (init state INIT_ZERO).
        let fd = shm::open(
            name,
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::from_bits_truncate(ring.permissions & 0o600),
        )
        .map_err(|e| os_error("shm_open", name, e))?;
        let file = File::from(fd);
        let result = Self::initialise(file, ring, geometry, fence);
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
        fence: FenceMode,
    ) -> Result<Segment, OpenError> {
        let name = ring.name;
        let os = |op: &'static str| move |e: Errno| os_error(op, name, e);
        // Step 2: the exact permissions asked for (`shm_open` applied the umask; until now only
        // this user could open it).
        rustix::fs::fchmod(&file, Mode::from_bits_truncate(ring.permissions))
            .map_err(os("fchmod"))?;
        // Step 3: allocate every byte now, so that a full `/dev/shm` is an error here and not a
        // SIGBUS in whoever first touches a page that cannot be allocated. Openers wait until
        // the size covers the header and init is READY.
        let size = geometry.segment_size as u64;
        if let Err(errno) =
            rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size)
        {
            return Err(no_space(name, &file, size, errno));
        }
        let map = MmapOptions::new()
            .len(geometry.segment_size)
            .map_raw(&file)
            .map_err(|source| OpenError::Os { op: "mmap", name: name.to_owned(), source })?;
        // Step 4: write the header. Nobody reads it before READY, and this process is its only
        // writer until then.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut dependencies = [0u64; MAX_CONSUMERS];
        dependencies[..ring.dependencies.len()].copy_from_slice(ring.dependencies);
        let header = Header {
            magic: MAGIC,
            layout_version: LAYOUT_VERSION,
            byte_order: BYTE_ORDER_TAG,
            pointer_width: usize::BITS,
            init_state: INIT_READY, // the copy describes the header once published
            schema_hash: ring.schema.hash,
            slot_size: geometry.slot_size,
            slot_align: ring.schema.align as u64,
            capacity: geometry.capacity,
            consumer_count: geometry.consumer_count as u32,
            producer_mode: ring.mode.to_raw(),
            creation_time_ns: now.as_nanos() as u64,
            creator_pid: std::process::id(),
            fence_mode: fence.to_raw(),
            segment_size: geometry.segment_size as u64,
            slots_offset: geometry.slots_offset as u64,
            dependencies,
            type_name: fixed_text(&ring.schema.type_name()),
            schema_text: fixed_text(&ring.schema.to_string()),
        };
        let words: [u64; std::mem::size_of::<Header>() / 8] = bytemuck::cast(header);
        let base = map.as_mut_ptr();
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
        // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned.
        let pointer_width =
            unsafe { &*base.add(std::mem::offset_of!(Header, pointer_width)).cast::<AtomicU32>() };
        // Relaxed: published by the Release store of READY below.
        pointer_width.store(usize::BITS, Ordering::Relaxed);
        // Step 5 (SYNC POINT): Release pairs with the Acquire load of `init_state` in
        // `Segment::open`, so every header write above happens-before an opener reads it.
        // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned.
        unsafe { init_state(base) }.store(INIT_READY, Ordering::Release);
        let locks = Locks::new(file);
        locks.check_supported().map_err(|source| OpenError::Os {
            op: "fcntl(F_OFD_GETLK)",
            name: name.to_owned(),
            source,
        })?;
        Ok(Segment { name: name.to_owned(), map, header, geometry, mode: ring.mode, fence, locks })
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
        // Step 1: open the object (a regular file, never blocking).
        let file = open_file(name, shm::OFlags::RDWR)?;
        // Step 2: wait for the creator to size the object and mark it READY.
        let started = Instant::now();
        let not_initialised =
            || OpenError::NotInitialised { name: name.to_owned(), waited: init_timeout };
        let map = loop {
            let size = file_size(name, &file)?;
            if size >= HEADER_BYTES as u64 {
                let map =
                    MmapOptions::new().len(size as usize).map_raw(&file).map_err(|source| {
                        OpenError::Os { op: "mmap", name: name.to_owned(), source }
                    })?;
                // SYNC POINT: Acquire pairs with the Release store of INIT_READY in
                // `Segment::initialise`: the header is complete once we see READY.
                // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned.
                let state = unsafe { init_state(map.as_ptr()) }.load(Ordering::Acquire);
                if state == INIT_READY {
                    break map;
                }
                if state != INIT_ZERO && state != INIT_BUSY {
                    // Still check the magic first: a foreign segment gets a clearer error.
                    // SAFETY: as above.
                    check_magic(name, &unsafe { Header::read_from(map.as_ptr()) })?;
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
        // Step 3: copy the header once, validate the copy, then check the size against the
        // geometry it describes. Only the copy is used from here on.
        // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned.
        let header = unsafe { Header::read_from(map.as_ptr()) };
        let (geometry, mode, fence) = validate_header(name, &header, schema, expect)?;
        if (map.len() as u64) < geometry.segment_size as u64 {
            return Err(OpenError::TooSmall {
                name: name.to_owned(),
                expected: geometry.segment_size as u64,
                actual: map.len() as u64,
            });
        }
        // Step 4: follow the ring's fence mode, or refuse to take part.
        fence
            .follow()
            .map_err(|()| OpenError::FenceModeUnavailable { name: name.to_owned(), mode: fence })?;
        let locks = Locks::new(file);
        locks.check_supported().map_err(|source| OpenError::Os {
            op: "fcntl(F_OFD_GETLK)",
            name: name.to_owned(),
            source,
        })?;
        Ok(Segment { name: name.to_owned(), map, header, geometry, mode, fence, locks })
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

    /// The ring's fence mode, which this process follows.
    pub fn fence_mode(&self) -> FenceMode {
        self.fence
    }

    /// Whether notifiers of this ring need a `SeqCst` fence (see the `wait` module).
    pub fn fence_fallback(&self) -> bool {
        self.fence == FenceMode::Fence
    }

    /// The validated copy of the header, read once at create or open. Never the live segment:
    /// a peer that rewrites the header later does not change it.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The record locks of this mapping.
    pub(crate) fn locks(&self) -> &Locks {
        &self.locks
    }

    /// Checks that the segment file still has the size this mapping was validated against:
    /// `Err((expected, actual))` when it was truncated (touching the lost pages would raise
    /// SIGBUS).
    pub fn check_size(&self) -> Result<(), (u64, u64)> {
        let expected = self.geometry.segment_size as u64;
        match file_size(&self.name, self.locks.file()) {
            Ok(actual) if actual < expected => Err((expected, actual)),
            _ => Ok(()),
        }
    }

    /// The lock byte of consumer `index`'s registry record.
    pub(crate) fn consumer_lock(&self, index: usize) -> u64 {
        (self.geometry.consumers_offset + index * LINE) as u64
    }

    /// The lock byte of producer registry record `index`.
    pub(crate) fn producer_lock(&self, index: usize) -> u64 {
        (self.geometry.producers_offset + index * LINE) as u64
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

    /// The processes that own a consumer index or a producer record through a live handle
    /// (their lock is held), as recorded in the records (PIDs of their own PID namespace).
    pub fn live_users(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let consumers = (0..self.geometry.consumer_count)
            .map(|i| (self.consumer_lock(i), &self.consumer_entry(i).owner));
        let producers =
            (0..MAX_PRODUCERS).map(|i| (self.producer_lock(i), &self.producer_entry(i).owner));
        for (lock, owner) in consumers.chain(producers) {
            // Acquire: pairs with the owner's Release store of its token after taking the lock.
            let token = owner.load(Ordering::Acquire);
            if token != 0 && self.locks.is_held(lock) {
                let pid = liveness::pid_of(token);
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

/// The error for a failed `fallocate` of `size` bytes: no space left now, or more than the
/// file system can ever hold.
fn no_space(name: &str, file: &File, size: u64, errno: Errno) -> OpenError {
    let name = name.to_owned();
    let stats = rustix::fs::fstatvfs(file).ok();
    let total = stats.as_ref().map(|s| s.f_blocks.saturating_mul(s.f_frsize));
    let available = stats.as_ref().map(|s| s.f_bavail.saturating_mul(s.f_frsize));
    match errno {
        Errno::FBIG => OpenError::TooLarge { name, size, limit: total },
        Errno::NOSPC if total.is_some_and(|t| size > t) => {
            OpenError::TooLarge { name, size, limit: total }
        }
        Errno::NOSPC => OpenError::NoSpace { name, needed: size, available },
        other => OpenError::Os { op: "fallocate", name, source: other.into() },
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
) -> Result<(Geometry, ProducerMode, FenceMode), OpenError> {
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
    let fence = FenceMode::from_raw(header.fence_mode)
        .ok_or_else(|| corrupt(format!("fence mode {} is not 1 or 2", header.fence_mode)))?;
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
    Ok((geometry, mode, fence))
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
