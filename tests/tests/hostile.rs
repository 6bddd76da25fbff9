//! Property tests: a hostile or crashed peer writes arbitrary values into the header or the
//! sequences. Opening and using the ring must then give a documented error or wrong data,
//! never a panic, an out-of-bounds access or an endless loop of a call that does not wait by
//! design (`try_` and `_timeout` calls; a claim the test cannot commit is left pending, as a
//! crashed producer would leave it). (`cargo test` runs a few hundred
//! cases; `PROPTEST_CASES=100000 cargo test --release --test hostile` runs a long campaign.)
//!
//! The dependency graph is a table of edges in the segment, sized by a header field: garbage in
//! either must give a typed error, or a graph exactly as the table says that the ring then
//! honours.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use proptest::prelude::*;
use shm_disruptor::{ClaimError, Disruptor, OpenError, MAX_DEPENDENCIES};
use shm_disruptor_tests::SegmentGuard;

const CAPACITY: usize = 16;
const CONSUMERS: usize = 2;
// Offsets of the control words (see the `shm` module docs): the header takes 4096 bytes, then
// one 128-byte line each for next (with the gating epoch), cursor, status and the two wake
// lines, then the consumer sequences.
const NEXT: u64 = 4096;
const CURSOR: u64 = 4096 + 128;
const SEQUENCES: u64 = 4096 + 5 * 128;
/// The header fields a creator writes (magic .. the dependency edge count).
const HEADER_FIELDS: u64 = 104;

fn fresh(tag: &str) -> (SegmentGuard, Disruptor<[u8; 24]>, std::fs::File) {
    fresh_in_mode(tag, false)
}

/// A fresh multi-producer ring, or a single-producer one (`single`), with its segment file.
fn fresh_in_mode(tag: &str, single: bool) -> (SegmentGuard, Disruptor<[u8; 24]>, std::fs::File) {
    let guard = SegmentGuard::new(tag);
    let builder =
        Disruptor::<[u8; 24]>::builder(guard.name()).capacity(CAPACITY).consumers(CONSUMERS);
    let builder = if single { builder.single_producer() } else { builder };
    let ring = builder.create().unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm{}", guard.name()))
        .unwrap();
    (guard, ring, file)
}

// The graph ring: 3 consumers, consumer 2 follows 0 and 1 (two edges), 64 producer records
// (the default). Its edge table follows the header (4096), the control lines (5 x 128), the
// consumer sequences and records (2 x 128 per consumer), the producer records (128 each) and the
// abandoned log (640); one word per edge, rounded up to a 128-byte line: room for 16 edges.
const GRAPH_CONSUMERS: usize = 3;
const GRAPH_PRODUCERS: u64 = 64;
const EDGES: u64 = 4096 + 5 * 128 + 2 * 128 * GRAPH_CONSUMERS as u64 + 128 * GRAPH_PRODUCERS + 640;
const EDGE_ROOM: u64 = 16;
/// Header offsets: segment size, slots offset, dependency edge count.
const SEGMENT_SIZE: u64 = 80;
const SLOTS_OFFSET: u64 = 88;
const EDGE_COUNT: u64 = 100;

/// The recorded (slots offset, segment size) of a graph ring with `edges` edges: the edge table
/// rounded up to a line, one commit flag per slot, then the slots (128-aligned).
fn graph_ring_sizes(edges: u64) -> (u64, u64) {
    let slots =
        (EDGES + (edges * 8).next_multiple_of(128) + 8 * CAPACITY as u64).next_multiple_of(128);
    (slots, slots + 24 * CAPACITY as u64)
}

/// Edges `consumer << 32 | dependency` among the ring's consumers and one out of range, or any
/// word at all.
fn edge_word() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => (0u64..4, 0u64..4).prop_map(|(c, d)| c << 32 | d),
        1 => (0u64..3, any::<u32>()).prop_map(|(c, d)| c << 32 | u64::from(d)),
        1 => any::<u64>(),
    ]
}

/// What `open` must make of a graph table, computed independently: the dependency lists, or
/// why the table is refused. Edges beyond the consumers, a self-dependency or a cycle (by
/// depth-first search) are refused.
fn expected_graph(edges: &[u64]) -> Result<Vec<Vec<usize>>, String> {
    let mut deps = vec![Vec::new(); GRAPH_CONSUMERS];
    for &edge in edges {
        let (c, d) = (edge >> 32, edge & 0xffff_ffff);
        if c >= GRAPH_CONSUMERS as u64 || d >= GRAPH_CONSUMERS as u64 {
            return Err(format!("edge {edge:#x} out of range"));
        }
        if c == d {
            return Err(format!("consumer {c} depends on itself"));
        }
        deps[c as usize].push(d as usize);
    }
    deps.iter_mut().for_each(|l| (l.sort_unstable(), l.dedup()).1);
    // 0 = unvisited, 1 = on the path, 2 = done.
    fn cyclic(deps: &[Vec<usize>], state: &mut [u8], c: usize) -> bool {
        match state[c] {
            1 => return true,
            2 => return false,
            _ => state[c] = 1,
        }
        let found = deps[c].iter().any(|&d| cyclic(deps, state, d));
        state[c] = 2;
        found
    }
    let mut state = vec![0u8; GRAPH_CONSUMERS];
    if (0..GRAPH_CONSUMERS).any(|c| cyclic(&deps, &mut state, c)) {
        return Err("cycle".into());
    }
    Ok(deps)
}

/// Consumers in an order where each comes after every consumer it depends on.
fn topological(deps: &[Vec<usize>]) -> Vec<usize> {
    let mut order = Vec::new();
    while order.len() < deps.len() {
        let next = (0..deps.len())
            .find(|c| !order.contains(c) && deps[*c].iter().all(|d| order.contains(d)))
            .expect("acyclic");
        order.push(next);
    }
    order
}

fn config() -> ProptestConfig {
    // 256 cases unless PROPTEST_CASES says otherwise.
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Random bytes over random header fields: open returns Ok or a typed error.
    #[test]
    fn corrupt_headers_never_panic(
        writes in prop::collection::vec((0..HEADER_FIELDS, prop::collection::vec(any::<u8>(), 1..9)), 1..6)
    ) {
        let (guard, ring, file) = fresh("hostile-header");
        drop(ring);
        for (offset, bytes) in &writes {
            file.write_all_at(bytes, *offset).unwrap();
        }
        let opened = Disruptor::<[u8; 24]>::builder(guard.name())
            .init_timeout(Duration::ZERO)
            .open();
        if let Ok(ring) = opened {
            // Whatever it accepted must be a geometry that fits the segment.
            let len = file.metadata().unwrap().len() as usize;
            prop_assert!(ring.capacity() * 24 < len);
            prop_assert!(ring.consumer_count() >= 1);
        }
    }

    /// Arbitrary sequences: every operation stays inside the ring and terminates, in either
    /// producer mode, also when the claim sequence changes again between operations (a single
    /// producer keeps no private copy of it).
    #[test]
    fn corrupt_sequences_never_go_out_of_bounds(
        single in any::<bool>(),
        next in any::<u64>(),
        renext in prop_oneof![any::<u64>(), Just(0u64), Just(u64::MAX)],
        cursor in any::<u64>(),
        seq0 in prop_oneof![any::<u64>(), Just(u64::MAX), 0..64u64],
        seq1 in prop_oneof![any::<u64>(), Just(u64::MAX), 0..64u64],
        ops in prop::collection::vec(0u8..7, 1..12),
    ) {
        let (_guard, ring, file) = fresh_in_mode("hostile-seq", single);
        let mut producer = ring.producer().unwrap();
        let consumer = ring.consumer(0).unwrap();
        for (offset, value) in [(NEXT, next), (CURSOR, cursor), (SEQUENCES, seq0), (SEQUENCES + 128, seq1)] {
            file.write_all_at(&value.to_ne_bytes(), offset).unwrap();
        }
        // Our own consumer handle caches its sequence: re-attach to read the corrupt one.
        drop(consumer);
        let mut fresh_consumer = ring.consumer(0);
        for op in ops {
            match op {
                0 => if let Ok(mut c) = producer.try_claim() { *c = [7; 24]; if let Err(c) = c.commit_timeout(Duration::ZERO) { c.leave_pending(); } },
                1 => if let Ok(mut c) = producer.try_claim_available(64) {
                    prop_assert!(c.len() <= CAPACITY);
                    let (a, b) = c.slices_mut();
                    prop_assert!(a.len() + b.len() <= CAPACITY);
                    a.fill([1; 24]);
                    b.fill([2; 24]);
                    if let Err(c) = c.try_commit() { c.leave_pending(); }
                },
                2 => match producer.try_claim_many(3) {
                    Ok(c) => if let Err(c) = c.commit_timeout(Duration::ZERO) { c.leave_pending(); },
                    Err(e) => prop_assert!(matches!(e, ClaimError::Full | ClaimError::NoConsumers)),
                },
                3 => if let Ok(c) = fresh_consumer.as_mut() {
                    let batch = c.try_consume();
                    prop_assert!(batch.len() <= CAPACITY);
                    // Touch every element: an out-of-bounds slice would fault here.
                    let sum: u64 = batch.iter().map(|v| u64::from(v[0])).sum();
                    prop_assert!(sum <= 255 * CAPACITY as u64);
                    batch.commit();
                },
                4 => if let Ok(c) = fresh_consumer.as_mut() {
                    let _ = c.consume_timeout(Duration::from_millis(1)).map(|b| b.len());
                },
                5 => file.write_all_at(&renext.to_ne_bytes(), NEXT).unwrap(),
                _ => {
                    let _ = ring.participants();
                    let _ = ring.orphaned_claim();
                    if let Some(mut r) = producer.recover_orphaned() {
                        prop_assert!(r.len() <= CAPACITY || r.slices_mut().0.len() <= CAPACITY);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Garbage in the edge count and the edge table of a ring created with a graph: `open`
    /// gives exactly the typed error an independent reading predicts (a size that disagrees,
    /// a table past the end of the segment, an edge out of range, a self-dependency, a cycle),
    /// or the graph the table describes, in range, which the ring then honours. With `resize`
    /// the recorded sizes are rewritten to agree with the hostile count, so only the check of
    /// the mapping's length stands between `open` and reading past the segment.
    #[test]
    fn corrupt_dependency_tables_never_panic(
        count in prop_oneof![
            6 => 0u32..=4,
            3 => 5u32..=20,
            1 => Just(EDGE_ROOM as u32),
            1 => (EDGE_ROOM as u32 + 1)..=(MAX_DEPENDENCIES as u32 + 1),
            1 => any::<u32>(),
        ],
        writes in prop::collection::vec(
            (prop_oneof![3 => 0..4u64, 1 => 0..EDGE_ROOM], edge_word()),
            0..8,
        ),
        resize in any::<bool>(),
    ) {
        let guard = SegmentGuard::new("hostile-graph");
        let ring = Disruptor::<[u8; 24]>::builder(guard.name())
            .capacity(CAPACITY)
            .consumers(GRAPH_CONSUMERS)
            .depends_on(2, &[0, 1])
            .create()
            .unwrap();
        drop(ring);
        let path = format!("/dev/shm{}", guard.name());
        let file = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        // The layout this test assumes: the creator's recorded sizes for two edges.
        let mut word = [0u8; 8];
        file.read_exact_at(&mut word, SEGMENT_SIZE).unwrap();
        prop_assert_eq!(u64::from_ne_bytes(word), graph_ring_sizes(2).1);
        prop_assert_eq!(len, graph_ring_sizes(2).1);
        file.read_exact_at(&mut word, EDGES).unwrap();
        prop_assert_eq!(u64::from_ne_bytes(word), 2 << 32);

        file.write_all_at(&count.to_ne_bytes(), EDGE_COUNT).unwrap();
        for &(i, edge) in &writes {
            file.write_all_at(&edge.to_ne_bytes(), EDGES + 8 * i).unwrap();
        }
        let count = u64::from(count);
        if resize && count <= MAX_DEPENDENCIES as u64 {
            let (slots, size) = graph_ring_sizes(count);
            file.write_all_at(&size.to_ne_bytes(), SEGMENT_SIZE).unwrap();
            file.write_all_at(&slots.to_ne_bytes(), SLOTS_OFFSET).unwrap();
        }
        let table: Vec<u64> = (0..count.min(EDGE_ROOM))
            .map(|i| {
                file.read_exact_at(&mut word, EDGES + 8 * i).unwrap();
                u64::from_ne_bytes(word)
            })
            .collect();

        // What must happen, read independently of the runtime.
        let table_fits = (count * 8).next_multiple_of(128) == 128;
        // Over the limit, or (not resized) a recorded size that disagrees with the edge count.
        let bad_size = count > MAX_DEPENDENCIES as u64 || !resize && !table_fits;
        let expected: Result<Vec<Vec<usize>>, &str> = if bad_size {
            Err("corrupt")
        } else if resize && count > EDGE_ROOM {
            Err("too small") // the table would run past the end of the segment
        } else {
            expected_graph(&table).map_err(|_| "corrupt")
        };
        let opened = Disruptor::<[u8; 24]>::builder(guard.name())
            .init_timeout(Duration::ZERO)
            .open();
        let (ring, deps) = match (opened, expected) {
            (Err(OpenError::Corrupt { .. }), Err("corrupt"))
            | (Err(OpenError::TooSmall { .. }), Err("too small")) => return Ok(()),
            (Ok(ring), Ok(deps)) => {
                for (c, want) in deps.iter().enumerate() {
                    let got = ring.dependencies(c).unwrap();
                    prop_assert!(got.iter().all(|&d| d < GRAPH_CONSUMERS && d != c), "{:?}", got);
                    prop_assert_eq!(got, &want[..], "consumer {}", c);
                }
                prop_assert_eq!(ring.dependencies(GRAPH_CONSUMERS), None);
                (ring, deps)
            }
            (opened, expected) => {
                let opened = opened.map(|r| {
                    let deps = (0..GRAPH_CONSUMERS).map(|c| r.dependencies(c).map(<[_]>::to_vec));
                    deps.collect::<Vec<_>>()
                });
                return Err(TestCaseError::fail(format!(
                    "edge count {count}, table {table:x?}, resized {resize}: \
                     open gave {opened:?}, expected {expected:?}"
                )));
            }
        };
        // The ring honours the graph it accepted. (Only where the layout is the creator's: a
        // smaller recorded table moves the commit flags and slots onto hostile words.)
        if !table_fits {
            let mut producer = ring.producer().unwrap();
            let _ = producer.try_claim().map(|c| c.commit());
            let _ = ring.consumer(0).map(|mut c| c.try_consume().commit());
            return Ok(());
        }
        let mut producer = ring.producer().unwrap();
        producer.try_claim_many(4).unwrap().commit();
        let mut consumers: Vec<_> =
            (0..GRAPH_CONSUMERS).map(|c| ring.consumer(c).unwrap()).collect();
        for (c, consumer) in consumers.iter_mut().enumerate() {
            let seen = consumer.try_consume().len(); // dropped: delivered again
            let expected = if deps[c].is_empty() { 4 } else { 0 };
            let why = "before anyone committed";
            prop_assert_eq!(seen, expected, "consumer {} (after {:?}) {}", c, deps[c], why);
        }
        for c in topological(&deps) {
            let batch = consumers[c].try_consume();
            prop_assert_eq!(batch.len(), 4, "consumer {} once {:?} committed", c, deps[c]);
            batch.commit();
        }
        prop_assert_eq!(producer.try_claim_available(2 * CAPACITY).unwrap().len(), CAPACITY);
    }
}

/// A single-producer ring of `u64` with one consumer, and its segment file (writable).
fn single_producer_u64(tag: &str) -> (SegmentGuard, Disruptor<u64>, std::fs::File) {
    let guard = SegmentGuard::new(tag);
    let ring = Disruptor::<u64>::builder(guard.name())
        .capacity(CAPACITY)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let file = OpenOptions::new().write(true).open(format!("/dev/shm{}", guard.name())).unwrap();
    (guard, ring, file)
}

/// A corrupt consumer sequence far ahead of the producer must not let a single producer's fast
/// path (which trusts its cached bound) grant a claim longer than the ring.
#[test]
fn a_consumer_sequence_far_ahead_never_widens_a_single_producer_claim() {
    let (_guard, ring, file) = single_producer_u64("hostile-bound");
    let mut producer = ring.producer().unwrap();
    file.write_all_at(&1_000_000u64.to_ne_bytes(), SEQUENCES).unwrap();
    // The first claim reads the (corrupt) bound; later ones trust the cached one.
    producer.try_claim().unwrap().commit();
    assert!(matches!(
        producer.try_claim_many(CAPACITY + 1),
        Err(ClaimError::TooMany { requested, capacity }) if requested == CAPACITY + 1 && capacity == CAPACITY
    ));
    for _ in 0..4 {
        let claim = producer.try_claim_available(10 * CAPACITY).unwrap();
        assert!(
            claim.len() <= CAPACITY,
            "a claim of {} slots in a ring of {CAPACITY}",
            claim.len()
        );
        claim.commit();
    }
}

/// A claim sequence moved back by a hostile peer (a single producer keeps no private copy of it)
/// must not let the fast path grant a claim longer than the ring either.
#[test]
fn a_claim_sequence_moved_back_never_widens_a_single_producer_claim() {
    let (_guard, ring, file) = single_producer_u64("hostile-next");
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer(0).unwrap();
    for _ in 0..3 {
        producer.try_claim_many(CAPACITY).unwrap().commit();
        consumer.try_consume().commit();
    }
    // Caches a bound of 4 * CAPACITY: the consumer is at 3 * CAPACITY.
    producer.try_claim().unwrap().commit();
    file.write_all_at(&0u64.to_ne_bytes(), NEXT).unwrap();
    assert!(matches!(
        producer.try_claim_many(2 * CAPACITY),
        Err(ClaimError::TooMany { requested, capacity }) if requested == 2 * CAPACITY && capacity == CAPACITY
    ));
    let claim = producer.try_claim_available(3 * CAPACITY).unwrap();
    assert!(claim.len() <= CAPACITY, "a claim of {} slots in a ring of {CAPACITY}", claim.len());
}
