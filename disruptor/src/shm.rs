//! The shared-memory segment: its layout, creation, attachment and validation.
//!
//! The layout is in `protocol::layout`.
//!
//! The header is validated once, from a private copy read with atomic loads
//! ([`Segment::header`] returns that copy): a peer that rewrites the header afterwards cannot
//! change what this process believes about the ring. Registry records are owned through
//! open-file-description locks on the segment file (see `ownership`). The segment is allocated
//! in full at creation (`fallocate`), so a full `/dev/shm` is an error at `create`, not a
//! `SIGBUS` later; every attach checks that the file has not shrunk since.

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;

use crate::error::OpenError;
pub use crate::protocol::layout::*;
use crate::protocol::ring::{Ring, RingParts};
use crate::protocol::{Core, FenceMode, Graph, Locks};
use crate::{Schema, SchemaTable, SchemaTableError};

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
    /// The dependency graph, read once from the edge table and validated.
    dependencies: Vec<Vec<usize>>,
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
    /// The slot type.
    pub slot: SlotType<'a>,
    /// Number of slots.
    pub capacity: u64,
    /// Number of consumers.
    pub consumer_count: usize,
    /// Number of producer records (1 in single-producer mode).
    pub producer_count: usize,
    /// Producer mode.
    pub mode: ProducerMode,
    /// Per consumer, the consumers it follows (validated).
    pub dependencies: &'a [Vec<usize>],
    /// Permission bits of the segment (at most `0o777`).
    pub permissions: u32,
    /// The fence mode asked for; `None` picks membarrier where this process can use it.
    pub fence: Option<FenceMode>,
}

/// The slot type a creator records: a typed ring's `T::SCHEMA`, or a schema received from
/// elsewhere (`raw::RawRing::create`).
#[derive(Debug, Clone, Copy)]
pub struct SlotType<'a> {
    /// The schema hash.
    pub hash: u64,
    /// The schema as a field table (recorded in the header).
    pub table: &'a SchemaTable,
    /// Bytes per slot.
    pub size: usize,
    /// The slot type's alignment.
    pub align: usize,
}

/// What an opener expects to find.
#[derive(Debug, Default)]
pub struct Expectations {
    /// Capacity stated to the builder.
    pub capacity: Option<u64>,
    /// Consumer count stated to the builder.
    pub consumer_count: Option<usize>,
    /// Producer record count stated to the builder.
    pub producer_count: Option<usize>,
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
    pub fn create(ring: &NewRing<'_>) -> Result<(Segment, File), OpenError> {
        let name = ring.name;
        validate_name(name)?;
        if ring.permissions & !0o777 != 0 {
            return Err(OpenError::InvalidConfig(format!(
                "permissions {:#o} have bits outside 0o777 (setuid, setgid and sticky bits are \
                 not allowed on a segment)",
                ring.permissions
            )));
        }
        let edges = crate::graph::to_edges(ring.dependencies);
        let geometry = Geometry::new(
            ring.capacity,
            ring.consumer_count,
            ring.producer_count,
            edges.len(),
            ring.slot.size as u64,
            ring.slot.align as u64,
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
            None => {
                let mode = FenceMode::for_new_ring();
                if mode == FenceMode::Fence {
                    event!(
                        INFO,
                        ring = name,
                        "membarrier is unavailable to this process: the new ring uses fence \
                         mode `fence` (a SeqCst fence per publish)"
                    );
                }
                mode
            }
        };
        // Step 1: create the object exclusively; it starts empty (init state INIT_ZERO).
        let fd = shm::open(
            name,
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::from_bits_truncate(ring.permissions & 0o600),
        )
        .map_err(|e| os_error("shm_open", name, e))?;
        let file = File::from(fd);
        let result = Self::initialise(file, ring, geometry, fence, &edges);
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
        edges: &[u64],
    ) -> Result<(Segment, File), OpenError> {
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
        let header = Header {
            magic: MAGIC,
            layout_version: LAYOUT_VERSION,
            byte_order: BYTE_ORDER_TAG,
            pointer_width: usize::BITS,
            init_state: INIT_READY, // the copy describes the header once published
            schema_hash: ring.slot.hash,
            slot_size: geometry.slot_size,
            slot_align: ring.slot.align as u64,
            capacity: geometry.capacity,
            consumer_count: geometry.consumer_count as u32,
            producer_mode: ring.mode.to_raw(),
            creation_time_ns: now.as_nanos() as u64,
            creator_pid: std::process::id(),
            fence_mode: fence.to_raw(),
            segment_size: geometry.segment_size as u64,
            slots_offset: geometry.slots_offset as u64,
            producer_count: geometry.producer_count as u32,
            edge_count: geometry.edge_count as u32,
            schema_table_len: 0,
            reserved: 0,
            schema_table: [0; SCHEMA_TABLE_BYTES],
        };
        let mut header = header;
        let table = ring.slot.table.encode_within(SCHEMA_TABLE_BYTES);
        // `encode_within` keeps an abridged table under 41 bytes plus a name it cuts to fit.
        let len = table.len().min(SCHEMA_TABLE_BYTES);
        header.schema_table[..len].copy_from_slice(&table[..len]);
        header.schema_table_len = len as u32;
        // The dependency edges, before the header is published (its Release store of READY
        // publishes them too).
        // SAFETY: the mapping is `geometry.segment_size` bytes long and page-aligned, and
        // nobody reads the table before READY.
        unsafe { write_edges(map.as_mut_ptr(), &geometry, edges) };
        // Step 5 (SYNC POINT): publish it (READY, Release; see `Header::publish`).
        // SAFETY: the mapping is at least HEADER_BYTES long (Geometry puts the control words
        // after it), page-aligned, and no other process writes the header.
        unsafe { header.publish(map.as_mut_ptr()) };
        let dependencies = ring.dependencies.to_vec();
        let mode = ring.mode;
        Ok((
            Segment { name: name.to_owned(), map, header, geometry, mode, fence, dependencies },
            file,
        ))
    }

    /// Opens an existing segment, waits (up to `init_timeout`) for its creator to finish, and
    /// validates the header against `schema` and `expect`.
    pub fn open(
        name: &str,
        schema: &Schema,
        expect: &Expectations,
        init_timeout: Duration,
    ) -> Result<(Segment, File), OpenError> {
        Self::open_checked(name, Some(schema), expect, init_timeout)
    }

    /// Opens a ring of any slot type, validating everything but the schema (for tools that read
    /// rings generically, and for `replace_existing`'s in-use check).
    pub fn open_any(name: &str, init_timeout: Duration) -> Result<(Segment, File), OpenError> {
        Self::open_checked(name, None, &Expectations::default(), init_timeout)
    }

    fn open_checked(
        name: &str,
        schema: Option<&Schema>,
        expect: &Expectations,
        init_timeout: Duration,
    ) -> Result<(Segment, File), OpenError> {
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
                // SYNC POINT: the init state is loaded with Acquire (`Header::load_init_state`),
                // pairing with `Header::publish`: the header is complete once we see READY.
                // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned.
                let state = unsafe { Header::load_init_state(map.as_ptr()) };
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
                event!(
                    WARN,
                    ring = name,
                    waited_ms = init_timeout.as_millis() as u64,
                    "open timed out: the segment was not initialised (its creator may have died)"
                );
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
        // Step 4: copy the dependency edges once (they lie inside the size just checked) and
        // validate the graph they make.
        // SAFETY: the mapping is at least `geometry.segment_size` bytes long (checked above)
        // and page-aligned.
        let edges = unsafe { read_edges(map.as_ptr(), &geometry) };
        let corrupt = |reason: String| OpenError::Corrupt { name: name.to_owned(), reason };
        let dependencies =
            crate::graph::from_edges(geometry.consumer_count, &edges).map_err(corrupt)?;
        crate::graph::validate(&dependencies).map_err(corrupt)?;
        // Step 5: follow the ring's fence mode, or refuse to take part.
        fence.follow().map_err(|()| {
            event!(
                WARN,
                ring = name,
                mode = %fence,
                "the ring's fence mode cannot be followed here (membarrier is unavailable): refused"
            );
            OpenError::FenceModeUnavailable { name: name.to_owned(), mode: fence }
        })?;
        Ok((
            Segment { name: name.to_owned(), map, header, geometry, mode, fence, dependencies },
            file,
        ))
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

    /// The dependency graph (per consumer, the consumers it follows), read once at create or
    /// open and validated.
    pub fn dependencies(&self) -> &[Vec<usize>] {
        &self.dependencies
    }

    /// The validated copy of the header, read once at create or open. Never the live segment:
    /// a peer that rewrites the header later does not change it.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The slot type's schema table, decoded from the validated copy of the header and checked
    /// against the header's schema hash, slot size and alignment.
    pub fn schema_table(&self) -> Result<SchemaTable, SchemaTableError> {
        header_schema_table(&self.header)
    }

    /// The protocol's view of this mapping, whose record locks are taken on `file` (this
    /// segment's file: its open file description carries every lock of this mapping). The
    /// segment must outlive the returned core.
    pub(crate) fn core(&self, file: File) -> Result<Core, OpenError> {
        let locks = Locks::new(file);
        locks.check_supported().map_err(|source| OpenError::Os {
            op: "fcntl(F_OFD_GETLK)",
            name: self.name.clone(),
            source,
        })?;
        let g = &self.geometry;
        let base = self.map.as_mut_ptr();
        let at = |offset: usize| {
            // SAFETY: every offset was computed by `Geometry::new` from the validated header
            // and lies inside the segment, whose size was checked against the mapping's length
            // at create or open.
            unsafe { base.add(offset) }
        };
        let parts = RingParts {
            control: at(HEADER_BYTES).cast_const().cast(),
            sequences: at(g.sequences_offset).cast_const().cast(),
            consumers: at(g.consumers_offset).cast_const().cast(),
            producers: at(g.producers_offset).cast_const().cast(),
            abandoned: at(g.abandoned_offset).cast_const().cast(),
            flags: if g.flags_offset == 0 {
                std::ptr::null()
            } else {
                at(g.flags_offset).cast_const().cast()
            },
            slots: at(g.slots_offset),
            capacity: g.capacity,
            consumer_count: g.consumer_count,
            producer_count: g.producer_count,
            fence_fallback: self.fence == FenceMode::Fence,
        };
        // SAFETY: the parts lie at the offsets of the validated geometry (128-aligned inside a
        // page-aligned mapping, so aligned for what they hold), with the counts `RingParts`
        // asks for; the mapping lives as long as `self`, which the caller keeps alive.
        let ring = unsafe { Ring::new(parts) };
        let graph = Graph::new(&self.dependencies);
        Ok(Core::new(ring, g, graph, locks, self.mode, self.fence))
    }

    /// Checks that `file` (this segment's) still has the size this mapping was validated
    /// against: `Err((expected, actual))` when it was truncated (touching the lost pages would
    /// raise SIGBUS).
    pub fn check_size(&self, file: &File) -> Result<(), (u64, u64)> {
        let expected = self.geometry.segment_size as u64;
        match file_size(&self.name, file) {
            Ok(actual) if actual < expected => Err((expected, actual)),
            _ => Ok(()),
        }
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

/// Decodes the schema table of a header and checks it against the header's schema hash, slot
/// size and alignment (a table that describes another type than the header says is invalid).
pub fn header_schema_table(header: &Header) -> Result<SchemaTable, SchemaTableError> {
    let len = (header.schema_table_len as usize).min(SCHEMA_TABLE_BYTES);
    if header.schema_table_len as usize > SCHEMA_TABLE_BYTES {
        return Err(SchemaTableError::Invalid {
            at: 0,
            reason: format!(
                "the header says its table takes {} bytes, more than the {SCHEMA_TABLE_BYTES} it has",
                header.schema_table_len
            ),
        });
    }
    let table = SchemaTable::decode(&header.schema_table[..len])?;
    if table.hash() != header.schema_hash
        || table.size() != header.slot_size
        || table.align() != header.slot_align
    {
        return Err(SchemaTableError::Invalid {
            at: 0,
            reason: format!(
                "the table describes {} (hash {:#018x}), but the header records hash {:#018x}, \
                 size {} align {}",
                table,
                table.hash(),
                header.schema_hash,
                header.slot_size,
                header.slot_align
            ),
        });
    }
    Ok(table)
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
            let ours = SchemaTable::of(schema);
            let (found, diff) = match SchemaTable::decode(
                &header.schema_table[..(header.schema_table_len as usize).min(SCHEMA_TABLE_BYTES)],
            ) {
                Ok(theirs) => (theirs.to_string(), schema_diff(&ours, &theirs)),
                Err(e) => (
                    format!(
                        "(hash {:#018x}; its schema table is unreadable: {e})",
                        header.schema_hash
                    ),
                    String::new(),
                ),
            };
            let expected = ours.to_string();
            event!(
                WARN,
                ring = name,
                expected = %expected,
                found = %found,
                diff = %diff,
                "schema mismatch: the ring holds another message type"
            );
            return Err(OpenError::SchemaMismatch { name: owned(), expected, found, diff });
        }
        if header.slot_size != schema.size as u64 || header.slot_align != schema.align as u64 {
            event!(
                WARN,
                ring = name,
                expected_size = schema.size as u64,
                expected_align = schema.align as u64,
                found_size = header.slot_size,
                found_align = header.slot_align,
                "schema mismatch: the ring's slots have another size or alignment"
            );
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
        header.producer_count as usize,
        header.edge_count as usize,
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
    if let Some(count) = expect.producer_count {
        if count != geometry.producer_count {
            return Err(mismatch(
                "producer record count",
                count.to_string(),
                geometry.producer_count.to_string(),
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

/// The differences between this process's schema and the segment's, field by field: the
/// first, and how many more.
pub(crate) fn schema_diff(ours: &SchemaTable, theirs: &SchemaTable) -> String {
    let differences = ours.diff(theirs);
    let mut text = match differences.first() {
        Some(first) => format!("  first difference: {first}"),
        None => "  the tables match but the hashes differ".into(),
    };
    for more in differences.iter().skip(1) {
        text.push_str(&format!("\n  then: {more}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Slot;

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
        let g = Geometry::new(1000, 3, 1, 0, 256, 8, ProducerMode::Single).unwrap();
        assert_eq!(g.sequences_offset % LINE, 0);
        assert_eq!(g.slots_offset % LINE, 0);
        assert_eq!(g.segment_size, g.slots_offset + 1000 * 256);
        assert_eq!(g.flags_offset, 0, "single-producer rings have no commit flags");
        let m = Geometry::new(1000, 3, 64, 2, 256, 8, ProducerMode::Multi).unwrap();
        assert!(m.flags_offset > 0 && m.slots_offset >= m.flags_offset + 8 * 1000);
        assert!(Geometry::new(0, 1, 1, 0, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(8, 0, 1, 0, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(8, MAX_CONSUMERS + 1, 1, 0, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(8, 1, MAX_PRODUCERS + 1, 0, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(8, 1, 2, 0, 8, 8, ProducerMode::Single).is_err());
        assert!(Geometry::new(8, 2, 1, MAX_DEPENDENCIES + 1, 8, 8, ProducerMode::Multi).is_err());
        assert!(Geometry::new(u64::MAX / 2, 1, 1, 0, 8, 8, ProducerMode::Multi).is_err());
        // 4,096 consumers and producers: two lines per consumer, one per producer record.
        let big = Geometry::new(8, 4096, 4096, 4095, 8, 8, ProducerMode::Multi).unwrap();
        assert_eq!(big.consumers_offset - big.sequences_offset, 4096 * LINE);
        assert_eq!(big.abandoned_offset - big.producers_offset, 4096 * LINE);
        assert!(big.slots_offset >= big.edges_offset + 4095 * 8 + 8 * 8);
    }

    #[test]
    fn the_memory_formula_of_the_readme_holds() {
        // README "Memory": 4096 + 640 + 256 C + 128 P + 640 + ceil(8 E / 128) * 128 bytes
        // before the flags (8 N, multi-producer) and the slots (aligned to max(128, align)).
        for (c, p, e, mode) in [
            (1, 1, 0, ProducerMode::Single),
            (1, 64, 0, ProducerMode::Multi),
            (100, 100, 99, ProducerMode::Multi),
            (1000, 1000, 17, ProducerMode::Multi),
            (4096, 1, 4095, ProducerMode::Single),
        ] {
            let g = Geometry::new(65_536, c, p, e, 4, 4, mode).unwrap();
            let before = 4096 + 640 + 256 * c + 128 * p + 640 + (8 * e).div_ceil(128) * 128;
            let flags = if mode == ProducerMode::Multi { 8 * 65_536 } else { 0 };
            assert_eq!(g.slots_offset, before + flags, "C={c} P={p} E={e} {mode}");
            assert_eq!(g.segment_size, before + flags + 4 * 65_536);
        }
        let one = Geometry::new(65_536, 1, 1, 0, 4, 4, ProducerMode::Single).unwrap();
        assert_eq!(one.slots_offset, 5_760);
        let big = Geometry::new(8, 1000, 1000, 0, 8, 8, ProducerMode::Multi).unwrap();
        assert_eq!(big.flags_offset, 389_376);
    }

    #[test]
    fn schema_diff_names_the_field() {
        const A: Schema = Schema::structure(
            "T",
            8,
            4,
            &[
                crate::Field { name: "a", schema: &u32::SCHEMA, offset: 0, size: 4 },
                crate::Field { name: "b", schema: &u32::SCHEMA, offset: 4, size: 4 },
            ],
        );
        const B: Schema = Schema::structure(
            "T",
            8,
            4,
            &[
                crate::Field { name: "a", schema: &u32::SCHEMA, offset: 0, size: 4 },
                crate::Field { name: "b", schema: &i32::SCHEMA, offset: 4, size: 4 },
            ],
        );
        let d = schema_diff(&SchemaTable::of(&A), &SchemaTable::of(&B));
        assert_eq!(
            d,
            "  first difference: this process has `b: u32 @4`, the segment has `b: i32 @4`"
        );
    }
}
