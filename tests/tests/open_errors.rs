//! Creating and opening rings: schema verification, geometry expectations, and every typed
//! error of the open path, including corrupt and foreign segments written by hand.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use shm_disruptor::{Disruptor, OpenError, ProducerMode, Slot};
use shm_disruptor_tests::SegmentGuard;

fn created<T: Slot>(tag: &str) -> (Disruptor<T>, SegmentGuard) {
    let guard = SegmentGuard::new(tag);
    // Consumer 1 follows consumer 0: the ring has one dependency edge (see `EDGES`).
    let ring = Disruptor::<T>::builder(guard.name())
        .capacity(64)
        .consumers(2)
        .depends_on(1, &[0])
        .create()
        .unwrap();
    (ring, guard)
}

/// The same layout as `shm_disruptor_examples::Tick`, declared in this crate.
#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Tick {
    price: f64,
    qty: u32,
    side: u8,
    _pad: [u8; 3],
}

mod reordered {
    #[derive(shm_disruptor::Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub side: u8,
        pub _pad: [u8; 3],
        pub qty: u32,
    }
}

mod retyped {
    #[derive(shm_disruptor::Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub qty: i32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

mod resized {
    #[derive(shm_disruptor::Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 11],
    }
}

mod renamed_field {
    #[derive(shm_disruptor::Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub quantity: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

/// A message with a nested struct, and the next version of it, where only the nested struct
/// changed (same names, sizes and offsets at the top level).
mod nested {
    #[derive(shm_disruptor::Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Price {
        pub value: f64,
    }
    #[derive(shm_disruptor::Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Quote {
        pub bid: Price,
        pub ask: Price,
    }
    pub mod v2 {
        #[derive(shm_disruptor::Slot, Clone, Copy)]
        #[repr(C)]
        pub struct Price {
            pub cents: i64,
        }
        #[derive(shm_disruptor::Slot, Clone, Copy)]
        #[repr(C)]
        pub struct Quote {
            pub bid: Price,
            pub ask: Price,
        }
    }
}

#[test]
fn a_change_inside_a_nested_struct_is_named_by_its_path() {
    let (ring, _guard) = created::<nested::Quote>("nested-mismatch");
    let msg = mismatch::<nested::v2::Quote>(ring.name());
    // Both layouts, read from the segment's schema table and from this process's type.
    assert!(msg.contains("this process: Quote { bid: Price @0, ask: Price @8 } size 16"), "{msg}");
    assert!(msg.contains("the segment:  Quote { bid: Price @0, ask: Price @8 } size 16"), "{msg}");
    assert!(
        msg.contains(
            "first difference: this process has `bid.cents: i64 @0`, the segment has \
             `bid.value: f64 @0`"
        ),
        "{msg}"
    );
    assert!(msg.contains("then: this process has `ask.cents: i64 @0`"), "{msg}");
}

#[test]
fn the_same_type_from_another_crate_opens() {
    let (ring, _guard) = created::<shm_disruptor_examples::Tick>("samecrate");
    let mine = Disruptor::<Tick>::open(ring.name()).expect("same layout, other crate");
    assert_eq!(mine.capacity(), 64);
    assert_eq!(mine.consumer_count(), 2);
    assert_eq!(mine.producer_mode(), ProducerMode::Multi);
}

fn mismatch<U: Slot>(name: &str) -> String {
    match Disruptor::<U>::open(name) {
        Err(err @ OpenError::SchemaMismatch { .. }) => err.to_string(),
        other => panic!("expected SchemaMismatch, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn other_layouts_are_refused_showing_both() {
    let (ring, _guard) = created::<Tick>("mismatch");
    let name = ring.name();
    let ours =
        "Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 align 8";

    let msg = mismatch::<reordered::Tick>(name);
    assert!(msg.contains(ours), "{msg}");
    assert!(msg.contains("side: u8 @8"), "{msg}");
    assert!(
        msg.contains(
            "first difference: this process has `side: u8 @8`, the segment has `qty: u32 @8`"
        ),
        "{msg}"
    );
    // The README's example, line for line.
    assert!(
        msg.ends_with(
            "  then: this process has `_pad: [u8; 3] @9`, the segment has `side: u8 @12`\n  \
             then: this process has `qty: u32 @12`, the segment has `_pad: [u8; 3] @13`"
        ),
        "{msg}"
    );

    let msg = mismatch::<retyped::Tick>(name);
    assert!(msg.contains("`qty: i32 @8`") && msg.contains("`qty: u32 @8`"), "{msg}");

    let msg = mismatch::<resized::Tick>(name);
    assert!(msg.contains("_pad: [u8; 11] @13") && msg.contains("size 24"), "{msg}");

    let msg = mismatch::<renamed_field::Tick>(name);
    assert!(msg.contains("`quantity: u32 @8`"), "{msg}");

    let msg = mismatch::<u128>(name);
    assert!(msg.contains("u128 size 16 align"), "{msg}");
}

#[test]
fn stated_expectations_are_verified() {
    let (ring, _guard) = created::<u64>("expect");
    let name = ring.name();
    let ok = Disruptor::<u64>::builder(name).capacity(64).consumers(2).multi_producer().open();
    assert!(ok.is_ok());
    let err = Disruptor::<u64>::builder(name).capacity(128).open().unwrap_err();
    assert!(
        matches!(&err, OpenError::GeometryMismatch { what: "capacity", expected, found, .. } if expected == "128" && found == "64"),
        "{err}"
    );
    let err = Disruptor::<u64>::builder(name).consumers(3).open().unwrap_err();
    assert!(matches!(err, OpenError::GeometryMismatch { what: "consumer count", .. }), "{err}");
    let err = Disruptor::<u64>::builder(name).single_producer().open().unwrap_err();
    assert!(matches!(err, OpenError::GeometryMismatch { what: "producer mode", .. }), "{err}");
}

#[test]
fn create_refuses_an_existing_name_and_replace_existing_replaces_it() {
    let (ring, _guard) = created::<u64>("exists");
    let name = ring.name().to_owned();
    let err = Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create().unwrap_err();
    assert!(matches!(err, OpenError::AlreadyExists { .. }), "{err}");
    // Nobody owns a consumer or producer entry: replacing is allowed.
    ring.producer().unwrap().claim().unwrap().commit();
    drop(ring);
    let replaced =
        Disruptor::<u32>::builder(&name).capacity(8).consumers(1).replace_existing().unwrap();
    assert_eq!((replaced.capacity(), replaced.cursor()), (8, 0));
}

#[test]
fn replace_existing_refuses_a_ring_in_use_unless_forced() {
    let (ring, _guard) = created::<u64>("inuse");
    let consumer = ring.consumer(0).unwrap();
    let err = Disruptor::<u64>::builder(ring.name())
        .capacity(8)
        .consumers(1)
        .replace_existing()
        .unwrap_err();
    match &err {
        OpenError::InUse { pids, .. } => assert_eq!(pids, &[std::process::id()]),
        other => panic!("expected InUse, got {other}"),
    }
    let replaced = Disruptor::<u64>::builder(ring.name())
        .capacity(8)
        .consumers(1)
        .force()
        .replace_existing()
        .unwrap();
    assert_eq!(replaced.capacity(), 8);
    drop(consumer);
}

#[test]
fn invalid_configurations_are_refused() {
    // A guard: a configuration wrongly accepted is removed when the test fails.
    let guard = SegmentGuard::new("config");
    let name = guard.name().to_owned();
    let cases: [(usize, usize, &str); 4] = [
        (0, 1, "capacity"),
        (8, 0, "consumers"),
        (8, 65_537, "consumers"),
        (usize::MAX / 2, 1, "address space"),
    ];
    for (capacity, consumers, needle) in cases {
        let err = Disruptor::<u64>::builder(&name)
            .capacity(capacity)
            .consumers(consumers)
            .create()
            .unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    let err = Disruptor::<u64>::builder(&name).consumers(1).create().unwrap_err();
    assert!(err.to_string().contains("capacity() is required"), "{err}");
    assert!(
        matches!(Disruptor::<u64>::open(&name), Err(OpenError::NotFound { .. })),
        "nothing was left behind"
    );
}

/// Writes a segment by hand, as a foreign or crashed process could.
fn raw_segment(tag: &str, bytes: &[u8], len: u64) -> SegmentGuard {
    let guard = SegmentGuard::new(tag);
    let name = guard.name();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(format!("/dev/shm{name}"))
        .expect("create raw segment");
    file.write_all_at(bytes, 0).unwrap();
    file.set_len(len).unwrap();
    guard
}

fn open_fast(name: &str) -> OpenError {
    Disruptor::<u64>::builder(name)
        .init_timeout(Duration::from_millis(50))
        .open()
        .map(|_| ())
        .expect_err("must be refused")
}

#[test]
fn a_foreign_segment_is_reported_as_such() {
    let guard = raw_segment("foreign", b"not a ring at all, just bytes", 8192);
    // Its init word (bytes 20..24) is garbage, so the magic is checked and reported.
    let err = open_fast(guard.name());
    assert!(matches!(err, OpenError::BadMagic { .. } | OpenError::NotInitialised { .. }), "{err}");
}

#[test]
fn a_segment_whose_creator_never_finished_times_out() {
    // Zero-filled, as a creator killed between ftruncate and READY leaves it.
    let guard = raw_segment("uninit", &[], 8192);
    let err = open_fast(guard.name());
    assert!(matches!(err, OpenError::NotInitialised { .. }), "{err}");
    assert!(err.to_string().contains("replace_existing"), "{err}");
    // replace_existing() cleans it up.
    let ring = Disruptor::<u64>::builder(guard.name())
        .capacity(4)
        .consumers(1)
        .replace_existing()
        .unwrap();
    assert_eq!(ring.capacity(), 4);
}

/// Copies a valid header, lets `corrupt` damage it, and writes it as a new segment.
fn corrupted(
    tag: &str,
    corrupt: impl FnOnce(&mut Vec<u8>),
    len: Option<u64>,
) -> (SegmentGuard, OpenError) {
    let (ring, guard) = created::<u64>(tag);
    let source = format!("/dev/shm{}", ring.name());
    let mut bytes = std::fs::read(&source).unwrap();
    let full = bytes.len() as u64;
    corrupt(&mut bytes);
    drop(guard);
    let copy = raw_segment(tag, &bytes, len.unwrap_or(full));
    let err = Disruptor::<u64>::builder(copy.name())
        .init_timeout(Duration::from_millis(50))
        .open()
        .map(|_| ())
        .expect_err(&format!("the {tag} corruption must be refused"));
    (copy, err)
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_ne_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_ne_bytes());
}

// Header offsets (see `shm::Header`): magic 0, version 8, byte order 12, pointer width 16,
// init 20, schema hash 24, slot size 32, slot align 40, capacity 48, consumers 56, mode 60,
// created 64, creator 72, fence mode 76, segment size 80, slots offset 88, producer records
// 96, dependency edges 100.

/// The offset of the dependency edge table of `created`'s rings: the header (4096), the control
/// lines (5 x 128), 2 consumer sequences and 2 consumer records (128 each), 64 producer records
/// (128 each), the abandoned log (640). One word per edge, `consumer << 32 | dependency`,
/// rounded up to a 128-byte line (room for 16 edges).
const EDGES: usize = 4096 + 5 * 128 + 4 * 128 + 64 * 128 + 640;

#[test]
fn corrupt_headers_get_typed_errors() {
    let (_g, err) = corrupted("magic", |b| b[0] = b'X', None);
    assert!(matches!(err, OpenError::BadMagic { .. }), "{err}");
    let (_g, err) = corrupted("version", |b| put_u32(b, 8, 99), None);
    assert!(matches!(err, OpenError::UnsupportedVersion { found: 99, supported: 4, .. }), "{err}");
    let (_g, err) = corrupted("order", |b| put_u32(b, 12, 0x0403_0201), None);
    assert!(matches!(err, OpenError::ForeignTarget { .. }), "{err}");
    let (_g, err) = corrupted("slotsize", |b| put_u64(b, 32, 16), None);
    assert!(matches!(err, OpenError::SlotLayoutMismatch { found_size: 16, .. }), "{err}");
    let (_g, err) = corrupted("capacity", |b| put_u64(b, 48, u64::MAX), None);
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    let (_g, err) = corrupted("bigcap", |b| put_u64(b, 48, 1 << 20), None);
    assert!(matches!(err, OpenError::Corrupt { .. }), "size disagrees with capacity: {err}");
    let (_g, err) = corrupted("consumers", |b| put_u32(b, 56, 0), None);
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    let (_g, err) = corrupted("mode", |b| put_u32(b, 60, 7), None);
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    let (_g, err) = corrupted("fence", |b| put_u32(b, 76, 9), None);
    assert!(err.to_string().contains("fence mode 9 is not 1 or 2"), "{err}");
    let (_g, err) = corrupted("deprange", |b| put_u64(b, EDGES, 1 << 32 | 5), None);
    assert!(err.to_string().contains("depends on consumer 5, but there are only 2"), "{err}");
    let (_g, err) = corrupted("self", |b| put_u64(b, EDGES, 1 << 32 | 1), None);
    assert!(err.to_string().contains("depends on itself"), "{err}");
    // A second edge, 0 -> 1, closes a cycle (the table has room for it: the size still agrees).
    let cycle = |b: &mut Vec<u8>| (put_u32(b, 100, 2), put_u64(b, EDGES + 8, 1)).1;
    let (_g, err) = corrupted("cycle2", cycle, None);
    assert!(err.to_string().contains("cycle"), "{err}");
    // An edge count that disagrees with the recorded size.
    let (_g, err) = corrupted("edges", |b| put_u32(b, 100, 1000), None);
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    let (_g, err) = corrupted("producers", |b| put_u32(b, 96, 0), None);
    assert!(err.to_string().contains("producer records, not 0"), "{err}");
    let (_g, err) = corrupted("init", |b| put_u32(b, 20, 77), None);
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    let (_g, err) = corrupted("short", |_| {}, Some(8192));
    assert!(matches!(err, OpenError::TooSmall { .. }), "{err}");
}

// --- open_or_create and open_timeout ---------------------------------------------------------

#[test]
fn processes_starting_at_once_share_one_ring_through_open_or_create() {
    use shm_disruptor_tests::ChildGroup;
    const PROCESSES: u64 = 8;
    for round in 0..3 {
        let guard = SegmentGuard::new(&format!("open-or-create-{round}"));
        let mut group = ChildGroup::new();
        // Every process calls open_or_create at the same instant, once all have started.
        let go = std::time::UNIX_EPOCH.elapsed().unwrap() + Duration::from_millis(300);
        let go = go.as_nanos().to_string();
        let ids: Vec<_> = (0..PROCESSES)
            .map(|id| {
                let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_open_or_create"));
                command.args([guard.name(), &id.to_string(), &go]);
                group.spawn(format!("open_or_create {id}"), command)
            })
            .collect();
        group.wait_all(Duration::from_secs(30));
        for id in &ids {
            assert_eq!(group.stdout(*id).trim(), "ok");
        }
        // One ring got every process's message: none created a second one over another.
        let ring = Disruptor::<u64>::open(guard.name()).unwrap();
        let mut consumer = ring.consumer(0).unwrap();
        let mut got: Vec<u64> = consumer.try_consume().iter().copied().collect();
        got.sort_unstable();
        assert_eq!(got, (0..PROCESSES).collect::<Vec<_>>(), "round {round}");
    }
}

#[test]
fn open_or_create_opens_a_ring_of_the_same_shape_and_refuses_another() {
    let guard = SegmentGuard::new("open-or-create-shape");
    let builder =
        || Disruptor::<u64>::builder(guard.name()).capacity(16).consumers(3).depends_on(2, &[0, 1]);
    let created = builder().open_or_create().unwrap();
    let mut producer = created.producer().unwrap();
    let mut claim = producer.claim().unwrap();
    *claim = 41;
    claim.commit();
    let opened = builder().open_or_create().unwrap();
    assert_eq!(opened.cursor(), 1, "the existing ring, not a new one");
    let refused = [
        builder().capacity(32).open_or_create().map(|_| ()).unwrap_err(),
        builder().consumers(4).open_or_create().map(|_| ()).unwrap_err(),
        builder().depends_on(1, &[0]).open_or_create().map(|_| ()).unwrap_err(),
        builder().single_producer().open_or_create().map(|_| ()).unwrap_err(),
        builder().producers(8).open_or_create().map(|_| ()).unwrap_err(),
    ];
    for (err, what) in refused.iter().zip([
        "capacity",
        "consumer count",
        "dependency graph",
        "producer mode",
        "producer record count",
    ]) {
        assert!(
            matches!(err, OpenError::GeometryMismatch { what: w, .. } if *w == what),
            "{what}: {err}"
        );
    }
    let other_type = Disruptor::<u32>::builder(guard.name()).capacity(16).consumers(3);
    let err = other_type.open_or_create().map(|_| ()).unwrap_err();
    assert!(matches!(err, OpenError::SchemaMismatch { .. }), "{err}");
    assert_eq!(opened.cursor(), 1, "nothing was replaced");
}

#[test]
fn open_timeout_waits_for_the_creator_and_gives_up_with_not_found() {
    let guard = SegmentGuard::new("open-timeout");
    let err = Disruptor::<u64>::builder(guard.name())
        .open_timeout(Duration::from_millis(30))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, OpenError::NotFound { .. }), "{err}");
    let name = guard.name().to_owned();
    let creator = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        Disruptor::<u64>::builder(&name).capacity(8).consumers(1).create().unwrap()
    });
    let ring =
        Disruptor::<u64>::builder(guard.name()).open_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(ring.capacity(), 8);
    drop(creator.join().unwrap());
    // Errors other than "absent" are returned at once, not waited out.
    let started = std::time::Instant::now();
    let err = Disruptor::<u32>::builder(guard.name())
        .open_timeout(Duration::from_secs(30))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, OpenError::SchemaMismatch { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn open_verifies_a_stated_graph_without_needing_the_creation_settings() {
    let guard = SegmentGuard::new("open-graph");
    let created = Disruptor::<u64>::builder(guard.name())
        .capacity(16)
        .consumers(3)
        .depends_on(2, &[0, 1])
        .create()
        .unwrap();
    // Only the graph is stated: capacity and consumers come from the header.
    let opened = Disruptor::<u64>::builder(guard.name()).depends_on(2, &[1, 0]).open().unwrap();
    assert_eq!(opened.dependencies(2), created.dependencies(2));
    let err =
        Disruptor::<u64>::builder(guard.name()).depends_on(1, &[0]).open().map(|_| ()).unwrap_err();
    assert!(matches!(err, OpenError::GeometryMismatch { what: "dependency graph", .. }), "{err}");
    let err =
        Disruptor::<u64>::builder(guard.name()).depends_on(7, &[0]).open().map(|_| ()).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
}
