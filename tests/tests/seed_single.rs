//! The seed's single-process suite, ported: a ring of 256 eight-byte slots with one consumer,
//! created fresh for each test. Each test asserts sequences and contents.

use std::time::Duration;

use shm_disruptor::{AttachError, ClaimError, Disruptor, OpenError};
use shm_disruptor_tests::{unique_name, SegmentGuard};

/// A ring that is unlinked when the test ends, pass or fail (fields drop in order).
struct TestRing<T: shm_disruptor::Slot> {
    ring: Disruptor<T>,
    _guard: SegmentGuard,
}

fn ring_of<T: shm_disruptor::Slot>(tag: &str, capacity: usize, consumers: usize) -> TestRing<T> {
    let guard = SegmentGuard::new(tag);
    let ring = Disruptor::<T>::builder(guard.name())
        .capacity(capacity)
        .consumers(consumers)
        .create()
        .expect("create ring");
    TestRing { ring, _guard: guard }
}

fn ring(tag: &str) -> TestRing<u64> {
    ring_of(tag, 256, 1)
}

const SHORT: Duration = Duration::from_millis(20);

/// Scenario 1.
#[test]
fn initial_state_is_zeroed() {
    let t = ring("initial");
    let r = &t.ring;
    assert_eq!((r.cursor(), r.claim_sequence(), r.consumer_sequence(0)), (0, 0, Some(0)));
    assert!(!r.all_consumers_released());
    assert_eq!(r.status(), 0);
    // Claim every slot and check each reads as zero.
    let mut producer = r.producer().unwrap();
    let mut batch = producer.claim_many(256).unwrap();
    assert!(batch.iter_mut().all(|v| *v == 0));
    batch.leave_pending();
}

/// Scenario 2.
#[test]
fn write_and_read_one_value() {
    let t = ring("one");
    let mut producer = t.ring.producer().unwrap();
    let mut claim = producer.claim().unwrap();
    assert_eq!(claim.sequence(), 0);
    assert_eq!(*claim, 0);
    *claim = 0x0123_4567_89ab_cdef;
    claim.commit();
    let mut consumer = t.ring.consumer(0).unwrap();
    let batch = consumer.consume();
    assert_eq!(batch.start(), 0);
    assert_eq!(batch.slices(), (&[0x0123_4567_89ab_cdef][..], &[][..]));
    batch.commit();
    assert_eq!(
        (t.ring.cursor(), t.ring.claim_sequence(), t.ring.consumer_sequence(0)),
        (1, 1, Some(1))
    );
}

/// Scenario 3.
#[test]
fn write_and_read_many_values() {
    let t = ring("many");
    let mut producer = t.ring.producer().unwrap();
    let mut batch = producer.claim_many(10).unwrap();
    assert_eq!(batch.range(), 0..10);
    for (i, v) in batch.iter_mut().enumerate() {
        *v = i as u64 * 3;
    }
    batch.commit();
    let mut consumer = t.ring.consumer(0).unwrap();
    let batch = consumer.consume();
    let (a, b) = batch.slices();
    assert_eq!((batch.start(), a.len(), b.len()), (0, 10, 0));
    assert_eq!(a, (0..10).map(|i| i * 3).collect::<Vec<u64>>().as_slice());
}

/// Scenario 4.
#[test]
fn claim_available_takes_what_is_free() {
    let t = ring("avail");
    let mut producer = t.ring.producer().unwrap();
    let first = producer.claim_available(100).unwrap().leave_pending();
    assert_eq!(first, 0..100);
    let second = producer.claim_available(256).unwrap().leave_pending();
    assert_eq!(second, 100..256, "only 156 were free");
    assert_eq!(producer.try_claim_available(1).unwrap_err(), ClaimError::Full);
    // Commit the whole range at once.
    let mut all = producer.recover(0..256).unwrap();
    for (i, v) in all.iter_mut().enumerate() {
        *v = i as u64;
    }
    all.commit();
    let mut consumer = t.ring.consumer(0).unwrap();
    let batch = consumer.consume();
    assert_eq!((batch.len(), batch.slices().1.len()), (256, 0));
    assert!(batch.iter().copied().eq(0..256));
}

/// Scenario 5.
#[test]
fn nothing_to_consume() {
    let t = ring("empty");
    let mut consumer = t.ring.consumer(0).unwrap();
    let batch = consumer.try_consume();
    assert!(batch.is_empty());
    assert_eq!(batch.slices(), (&[][..], &[][..]));
    assert!(consumer.consume_timeout(SHORT).is_err());
}

/// Scenario 6.
#[test]
fn fill_up_then_free_by_consuming() {
    let t = ring("fill");
    let mut producer = t.ring.producer().unwrap();
    for i in 0..256u64 {
        let mut claim = producer.try_claim().unwrap();
        *claim = i + 1;
        claim.commit();
    }
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::Full);
    assert_eq!(producer.try_claim_many(10).unwrap_err(), ClaimError::Full);
    let mut consumer = t.ring.consumer(0).unwrap();
    let batch = consumer.consume();
    assert_eq!(batch.len(), 256);
    // Consumed but not committed: still full.
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::Full);
    batch.commit();
    let mut claim = producer.try_claim().unwrap();
    assert_eq!(claim.sequence(), 256);
    assert_eq!(*claim, 1, "slot 0 still holds the first value");
    *claim = 999;
    claim.commit();
    let batch = consumer.consume();
    assert_eq!((batch.start(), batch.slices().0), (256, &[999][..]));
}

fn consume_and_commit(consumer: &mut shm_disruptor::Consumer<u64>, expected: usize) {
    let batch = consumer.consume();
    assert_eq!(batch.len(), expected);
    batch.commit();
}

/// Scenario 7.
#[test]
fn wrap_around_with_single_claims() {
    let t = ring("wrap1");
    let mut producer = t.ring.producer().unwrap();
    let mut consumer = t.ring.consumer(0).unwrap();
    for i in 0..200u64 {
        let mut c = producer.claim().unwrap();
        *c = i;
        c.commit();
    }
    consume_and_commit(&mut consumer, 200);
    assert_eq!(t.ring.consumer_sequence(0), Some(200));
    for _ in 0..86 {
        let mut c = producer.claim().unwrap();
        *c = 0x5a5a_5a5a_5a5a_5a5a;
        c.commit();
    }
    let batch = consumer.consume();
    let (a, b) = batch.slices();
    assert_eq!((batch.start(), a.len(), b.len()), (200, 56, 30));
    assert!(batch.iter().all(|&v| v == 0x5a5a_5a5a_5a5a_5a5a));
}

/// Scenario 8.
#[test]
fn wrap_around_with_many_claims() {
    let t = ring("wrapn");
    let mut producer = t.ring.producer().unwrap();
    let mut consumer = t.ring.consumer(0).unwrap();
    producer.claim_many(200).unwrap().commit();
    consume_and_commit(&mut consumer, 200);
    let mut batch = producer.claim_many(86).unwrap();
    {
        let (a, b) = batch.slices_mut();
        assert_eq!((a.len(), b.len()), (56, 30));
    }
    for (i, v) in batch.iter_mut().enumerate() {
        *v = 1000 + i as u64;
    }
    batch.commit();
    let batch = consumer.consume();
    let (a, b) = batch.slices();
    assert_eq!((batch.start(), a.len(), b.len()), (200, 56, 30));
    assert!(batch.iter().copied().eq(1000..1086));
}

/// Scenario 9.
#[test]
fn invalid_and_missing_names() {
    for bad in ["", "no-slash", "/a/b", "/"] {
        assert!(
            matches!(Disruptor::<u64>::open(bad), Err(OpenError::InvalidName { .. })),
            "{bad:?} should be refused"
        );
    }
    let missing = unique_name("missing");
    let err = Disruptor::<u64>::open(&missing).unwrap_err();
    assert!(matches!(err, OpenError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"));
}

/// Scenario 10.
#[test]
fn full_ring_refuses_claims() {
    let t = ring("full");
    let mut producer = t.ring.producer().unwrap();
    producer.claim_many(256).unwrap().commit();
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::Full);
    assert_eq!(producer.try_claim_many(2).unwrap_err(), ClaimError::Full);
    assert_eq!(producer.claim_timeout(SHORT).unwrap_err(), ClaimError::Timeout);
    assert_eq!(t.ring.claim_sequence(), 256, "a refused claim takes nothing");
}

/// Scenario 11.
#[test]
fn commits_are_published_in_claim_order() {
    let t = ring("order");
    let mut a = t.ring.producer().unwrap();
    let mut b = t.ring.producer().unwrap();
    let claim_a = a.claim().unwrap();
    let claim_b = b.claim_many(10).unwrap();
    assert_eq!((claim_a.sequence(), claim_b.range()), (0, 1..11));
    let claim_b = claim_b.try_commit().expect_err("B must wait for A");
    assert_eq!(t.ring.cursor(), 0);
    let claim_b = claim_b.commit_timeout(SHORT).expect_err("still waiting for A");
    claim_a.commit();
    assert_eq!(t.ring.cursor(), 1);
    claim_b.try_commit().expect("A is committed");
    assert_eq!(t.ring.cursor(), 11);
}

/// Scenario 12 (text in slots).
#[test]
fn text_round_trips() {
    let t = ring_of::<[u8; 32]>("text", 16, 1);
    let mut producer = t.ring.producer().unwrap();
    let words = ["hello", "wörld", "shared memory"];
    for w in words {
        let mut c = producer.claim().unwrap();
        c[..w.len()].copy_from_slice(w.as_bytes());
        c.commit();
    }
    let mut consumer = t.ring.consumer(0).unwrap();
    let batch = consumer.consume();
    let read: Vec<&str> = batch
        .iter()
        .map(|b| std::str::from_utf8(&b[..b.iter().position(|&c| c == 0).unwrap()]).unwrap())
        .collect();
    assert_eq!(read, words);
}

/// Scenario 13: a second live handle on one index is refused at open (the seed only noticed
/// at commit time); once the first is dropped, the index resumes from its sequence.
#[test]
fn consumer_index_has_one_owner() {
    let t = ring("owner");
    let first = t.ring.consumer(0).unwrap();
    let other_handle = Disruptor::<u64>::open(t.ring.name()).unwrap();
    match other_handle.consumer(0) {
        Err(AttachError::ConsumerInUse { index: 0, pid }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected ConsumerInUse, got {other:?}"),
    }
    assert_eq!(
        t.ring.consumer(1).unwrap_err(),
        AttachError::ConsumerOutOfRange { index: 1, count: 1 }
    );
    let mut producer = t.ring.producer().unwrap();
    producer.claim_many(5).unwrap().commit();
    let mut first = first;
    first.consume().commit_first(3);
    drop(first);
    let mut again = other_handle.consumer(0).expect("free after drop");
    assert_eq!(again.sequence(), 3);
    assert_eq!(again.consume().range(), 3..5);
}

/// Scenario 14.
#[test]
fn never_claims_past_the_slowest_consumer() {
    let t = ring("slowest");
    let mut producer = t.ring.producer().unwrap();
    assert_eq!(producer.claim_many(200).unwrap().leave_pending(), 0..200);
    assert_eq!(producer.try_claim_many(57).unwrap_err(), ClaimError::Full, "only 56 free");
    assert_eq!(producer.try_claim_many(56).unwrap().leave_pending(), 200..256);
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::Full);
}

/// Scenario 15.
#[test]
fn recover_pending_claims() {
    let t = ring("recover");
    let mut producer = t.ring.producer().unwrap();
    let mut claim = producer.claim_many(75).unwrap();
    let claimed_ptr = claim.slices_mut().0.as_ptr();
    assert_eq!(claim.leave_pending(), 0..75);
    for ok in [0..1, 0..74, 1..75, 0..75] {
        let mut r = producer.recover(ok.clone()).unwrap_or_else(|| panic!("{ok:?} is pending"));
        assert_eq!(r.range(), ok);
        let expected = claimed_ptr.wrapping_add(ok.start as usize);
        assert_eq!(r.slices_mut().0.as_ptr(), expected, "the same memory as the claim");
    }
    #[allow(clippy::reversed_empty_ranges)]
    for bad in [50..101, 0..76, 100..50, 5..5] {
        assert!(producer.recover(bad.clone()).is_none(), "{bad:?} is not pending");
    }
    let mut all = producer.recover(0..75).unwrap();
    all.iter_mut().for_each(|v| *v = 7);
    all.commit();
    assert!(producer.recover(0..75).is_none(), "committed");
    assert_eq!(t.ring.cursor(), 75);
    assert_eq!(producer.claim_many(5).unwrap().leave_pending(), 75..80);
    assert!(producer.recover(75..80).is_some());
    assert!(producer.recover(76..79).is_some());
    assert!(producer.recover(74..80).is_none());
    assert!(producer.recover(75..81).is_none());
}

/// Scenario 16: an empty consume commits nothing; a claim cannot be committed twice (the type
/// system consumes it), and a dropped claim that is the newest is rolled back.
#[test]
fn empty_commits_change_nothing() {
    let t = ring("emptycommit");
    let mut consumer = t.ring.consumer(0).unwrap();
    consumer.try_consume().commit();
    assert_eq!(t.ring.consumer_sequence(0), Some(0));
    let mut producer = t.ring.producer().unwrap();
    drop(producer.claim_many(3).unwrap());
    assert_eq!((t.ring.claim_sequence(), t.ring.cursor()), (0, 0), "rolled back");
    assert!(consumer.try_consume().is_empty());
}

/// A dropped claim that cannot be rolled back (a later claim exists) is published zero-filled,
/// so the later claim's commit does not stall.
#[test]
fn dropped_claim_behind_a_later_one_is_published_zeroed() {
    let t = ring("dropmid");
    let mut a = t.ring.producer().unwrap();
    let mut b = t.ring.producer().unwrap();
    let mut first = a.claim_many(2).unwrap();
    first.iter_mut().for_each(|v| *v = 5);
    let mut second = b.claim().unwrap();
    *second = 9;
    drop(first);
    second.try_commit().expect("the dropped claim no longer blocks");
    let mut consumer = t.ring.consumer(0).unwrap();
    assert!(consumer.consume().iter().copied().eq([0, 0, 9]));
}

/// Scenario 17.
#[test]
fn released_consumers_are_ignored() {
    let t = ring_of::<u64>("release", 256, 2);
    let mut producer = t.ring.producer().unwrap();
    assert_eq!(producer.claim_available(1000).unwrap().range(), 0..256);
    // (the claim above was dropped while newest: rolled back; claim and commit for real)
    producer.claim_many(256).unwrap().commit();
    let mut c0 = t.ring.consumer(0).unwrap();
    consume_and_commit(&mut c0, 256);
    assert_eq!(
        producer.try_claim_available(1000).unwrap_err(),
        ClaimError::Full,
        "consumer 1 is behind"
    );
    t.ring.consumer(1).unwrap().release();
    assert!(t.ring.is_released(1));
    assert_eq!(
        t.ring.consumer(1).unwrap_err(),
        AttachError::ConsumerReleased { index: 1 },
        "a released index cannot consume again"
    );
    assert_eq!(producer.claim_available(1000).unwrap().leave_pending(), 256..512);
    c0.release();
    assert!(t.ring.all_consumers_released());
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::NoConsumers);
    assert_eq!(
        producer.claim().unwrap_err(),
        ClaimError::NoConsumers,
        "blocking claims do not wait"
    );
}

#[test]
fn status_word_is_shared() {
    let t = ring("status");
    let other = Disruptor::<u64>::open(t.ring.name()).unwrap();
    t.ring.set_status(-7);
    assert_eq!(other.status(), -7);
}

#[test]
fn claim_many_larger_than_the_ring_is_an_error() {
    let t = ring("toomany");
    let mut producer = t.ring.producer().unwrap();
    assert_eq!(
        producer.claim_many(257).unwrap_err(),
        ClaimError::TooMany { requested: 257, capacity: 256 }
    );
    assert_eq!(producer.claim_many(0).unwrap_err(), ClaimError::Empty);
}

#[test]
fn non_power_of_two_capacity_wraps_correctly() {
    let t = ring_of::<u64>("npot", 10, 1);
    let mut producer = t.ring.producer().unwrap();
    let mut consumer = t.ring.consumer(0).unwrap();
    let mut expected = 0u64;
    for round in 0..7u64 {
        let mut batch = producer.claim_many(7).unwrap();
        for (i, v) in batch.iter_mut().enumerate() {
            *v = round * 7 + i as u64;
        }
        batch.commit();
        let batch = consumer.consume();
        for &v in batch.iter() {
            assert_eq!(v, expected);
            expected += 1;
        }
        batch.commit();
    }
    assert_eq!(expected, 49);
}

/// Multi-producer `commit` never waits for an earlier claim: the later range is committed at
/// once and becomes visible, in order, when the earlier one is committed.
#[test]
fn multi_producer_commit_does_not_wait_but_stays_in_order() {
    let t = ring("nowait");
    let mut a = t.ring.producer().unwrap();
    let mut b = t.ring.producer().unwrap();
    let mut c = t.ring.producer().unwrap();
    let claim_a = a.claim().unwrap();
    let mut claim_b = b.claim_many(3).unwrap();
    claim_b.iter_mut().for_each(|v| *v = 2);
    let mut claim_c = c.claim().unwrap();
    *claim_c = 3;
    claim_c.commit();
    claim_b.commit();
    assert_eq!(t.ring.cursor(), 0, "committed, but behind the pending claim");
    let mut consumer = t.ring.consumer(0).unwrap();
    assert!(consumer.try_consume().is_empty());
    assert!(b.recover(1..4).is_none(), "a committed range is not pending any more");
    let mut claim_a = claim_a;
    *claim_a = 1;
    claim_a.commit();
    assert_eq!(t.ring.cursor(), 5, "the last committer advanced over every committed range");
    assert!(consumer.try_consume().iter().copied().eq([1, 2, 2, 2, 3]));
}
