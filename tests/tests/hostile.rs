//! Property tests: a hostile or crashed peer writes arbitrary values into the header or the
//! sequences. Opening and using the ring must then give a documented error or wrong data,
//! never a panic, an out-of-bounds access or an endless loop of a call that does not wait by
//! design (`try_` and `_timeout` calls; a claim the test cannot commit is left pending, as a
//! crashed producer would leave it). (`cargo test` runs a few hundred
//! cases; `PROPTEST_CASES=100000 cargo test --release --test hostile` runs a long campaign.)

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use proptest::prelude::*;
use shm_disruptor::{ClaimError, Disruptor};
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
