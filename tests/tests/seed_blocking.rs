//! The seed's blocking ("spin") scenarios. "Still blocked" is checked with deadline variants
//! that must time out, never with sleeps; the blocked call is then released by the other side
//! and must complete (every wait has a deadline so a hang fails loudly).

use std::time::Duration;

use shm_disruptor::{ClaimError, ConsumeError, Disruptor, WaitStrategy};
use shm_disruptor_tests::SegmentGuard;

const BLOCKED: Duration = Duration::from_millis(30);
const LIMIT: Duration = Duration::from_secs(20);

/// A ring, unlinked when the test ends (fields drop in order; the guard only unlinks).
struct TestRing(Disruptor<u64>, #[allow(dead_code)] SegmentGuard);

fn ring(tag: &str, capacity: usize) -> TestRing {
    let guard = SegmentGuard::new(tag);
    let ring = Disruptor::builder(guard.name()).capacity(capacity).consumers(1).create().unwrap();
    TestRing(ring, guard)
}

const STRATEGIES: [WaitStrategy; 4] =
    [WaitStrategy::BusySpin, WaitStrategy::Yield, WaitStrategy::Backoff, WaitStrategy::Block];

#[test]
fn claim_blocks_until_the_slot_is_consumed() {
    for strategy in STRATEGIES {
        let t = ring("claim1", 1);
        let mut producer = t.0.producer().unwrap();
        producer.set_wait_strategy(strategy);
        producer.claim().unwrap().commit();
        assert_eq!(
            producer.claim_timeout(BLOCKED).unwrap_err(),
            ClaimError::Timeout,
            "{strategy:?}"
        );
        std::thread::scope(|s| {
            let blocked = s.spawn(|| {
                let mut claim = producer.claim_timeout(LIMIT).expect("woken by the consumer");
                *claim = 2;
                claim.commit();
            });
            let mut consumer = t.0.consumer(0).unwrap();
            consumer.set_wait_strategy(strategy);
            consumer.consume_timeout(LIMIT).unwrap().commit();
            blocked.join().unwrap();
            let batch = consumer.consume_timeout(LIMIT).unwrap();
            assert_eq!((batch.start(), batch.slices().0), (1, &[2][..]), "{strategy:?}");
        });
    }
}

#[test]
fn claim_many_blocks_while_the_ring_is_full() {
    let t = ring("claimmany", 10);
    let mut producer = t.0.producer().unwrap();
    producer.claim_many(10).unwrap().commit();
    assert_eq!(producer.claim_many_timeout(2, BLOCKED).unwrap_err(), ClaimError::Timeout);
    std::thread::scope(|s| {
        let blocked = s.spawn(|| producer.claim_many_timeout(2, LIMIT).map(|b| b.range()));
        let mut consumer = t.0.consumer(0).unwrap();
        consumer.consume_timeout(LIMIT).unwrap().commit_first(2);
        assert_eq!(blocked.join().unwrap(), Ok(10..12));
    });
}

#[test]
fn consume_blocks_until_something_is_committed() {
    for strategy in STRATEGIES {
        let t = ring("consume", 1);
        let mut consumer = t.0.consumer(0).unwrap();
        consumer.set_wait_strategy(strategy);
        assert_eq!(consumer.consume_timeout(BLOCKED).unwrap_err(), ConsumeError::Timeout);
        std::thread::scope(|s| {
            let blocked = s.spawn(|| {
                consumer.consume_timeout(LIMIT).map(|b| b.iter().copied().collect::<Vec<_>>())
            });
            let mut producer = t.0.producer().unwrap();
            let mut claim = producer.claim().unwrap();
            *claim = 77;
            claim.commit();
            assert_eq!(blocked.join().unwrap(), Ok(vec![77]), "{strategy:?}");
        });
    }
}

#[test]
fn commit_blocks_while_an_earlier_claim_is_uncommitted() {
    let t = ring("commit", 2);
    let mut first = t.0.producer().unwrap();
    let mut second = t.0.producer().unwrap();
    let a = first.claim().unwrap();
    let b = second.claim().unwrap();
    let b = b.commit_timeout(BLOCKED).expect_err("waits for the first claim");
    std::thread::scope(|s| {
        let blocked = s.spawn(move || b.commit_timeout(LIMIT).is_ok());
        a.commit();
        assert!(blocked.join().unwrap());
    });
    assert_eq!(t.0.cursor(), 2);
}

#[test]
fn claim_available_blocks_while_no_slot_is_free() {
    let t = ring("avail", 4);
    let mut producer = t.0.producer().unwrap();
    producer.claim_many(4).unwrap().commit();
    assert_eq!(producer.claim_available_timeout(4, BLOCKED).unwrap_err(), ClaimError::Timeout);
    std::thread::scope(|s| {
        let blocked = s.spawn(|| producer.claim_available_timeout(4, LIMIT).map(|b| b.len()));
        let mut consumer = t.0.consumer(0).unwrap();
        consumer.consume_timeout(LIMIT).unwrap().commit_first(3);
        let got = blocked.join().unwrap().unwrap();
        assert!((1..=3).contains(&got), "claimed {got} of the 3 freed slots");
    });
}

#[test]
fn a_blocked_claim_notices_that_every_consumer_was_released() {
    let t = ring("released", 1);
    let mut producer = t.0.producer().unwrap();
    producer.set_wait_strategy(WaitStrategy::Block);
    producer.claim().unwrap().commit();
    std::thread::scope(|s| {
        let blocked = s.spawn(|| producer.claim_timeout(LIMIT).map(|_| ()));
        t.0.consumer(0).unwrap().release();
        assert_eq!(blocked.join().unwrap(), Err(ClaimError::NoConsumers));
    });
}
