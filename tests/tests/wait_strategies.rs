//! Wait strategies across processes (a `wait_actor` consumer process and a producer here):
//! correct transfers, deadlines that fire, wake-ups that arrive, a `Block` consumer that uses no
//! CPU while the producer is silent; and the async calls on a tokio runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shm_disruptor::{ClaimError, Disruptor, WaitStrategy};
use shm_disruptor_tests::SegmentGuard;

mod common;
use common::{cpu_ticks, wait_until_in_futex, Actor, LIMIT};

const STRATEGIES: [(&str, WaitStrategy); 4] = [
    ("busy-spin", WaitStrategy::BusySpin),
    ("yield", WaitStrategy::Yield),
    ("backoff", WaitStrategy::Backoff),
    ("block", WaitStrategy::Block),
];

fn ring(guard: &SegmentGuard, capacity: usize) -> Disruptor<u64> {
    Disruptor::builder(guard.name()).capacity(capacity).consumers(1).create().unwrap()
}

fn actor(guard: &SegmentGuard, strategy: &str, count: u64, timeout_ms: u64) -> Actor {
    let args = [guard.name(), "0", strategy, &count.to_string(), &timeout_ms.to_string()];
    let mut actor = Actor::start(env!("CARGO_BIN_EXE_wait_actor"), &args);
    actor.expect("READY");
    actor
}

fn produce(ring: &Disruptor<u64>, strategy: WaitStrategy, count: u64) {
    let mut producer = ring.producer().unwrap();
    producer.set_wait_strategy(strategy);
    for _ in 0..count {
        let mut claim = producer.claim_timeout(LIMIT).unwrap();
        *claim = claim.sequence();
        claim.commit();
    }
}

#[test]
fn every_strategy_transfers_between_processes() {
    const COUNT: u64 = 20_000;
    for (label, strategy) in STRATEGIES {
        let guard = SegmentGuard::new("wait-transfer");
        // 8 slots: the producer waits for room and the consumer for data, all the time.
        let ring = ring(&guard, 8);
        let mut consumer = actor(&guard, label, COUNT, LIMIT.as_millis() as u64);
        produce(&ring, strategy, COUNT);
        assert_eq!(consumer.expect("DONE"), vec![COUNT * (COUNT - 1) / 2], "{label}");
    }
}

#[test]
fn a_deadline_fires_in_another_process() {
    for (label, _) in STRATEGIES {
        let guard = SegmentGuard::new("wait-timeout");
        let _ring = ring(&guard, 8);
        let mut consumer = actor(&guard, label, 1, 100);
        assert_eq!(consumer.expect("TIMEOUT"), vec![0], "{label}");
    }
}

#[test]
fn a_sleeping_consumer_uses_no_cpu_and_is_woken() {
    let guard = SegmentGuard::new("wait-block");
    let ring = ring(&guard, 8);
    let mut consumer = actor(&guard, "block", 1, LIMIT.as_millis() as u64);
    wait_until_in_futex(consumer.pid());
    let before = cpu_ticks(consumer.pid());
    // A quiet second (a measurement window, not a synchronisation).
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(consumer.pid()) - before;
    assert!(used <= 3, "a blocked consumer used {used} ticks of CPU in a quiet second");
    produce(&ring, WaitStrategy::Block, 1);
    assert_eq!(consumer.expect("DONE"), vec![0], "the wake-up arrived");
}

#[test]
fn a_busy_spinning_consumer_does_use_cpu() {
    // The counterpart of the test above: the same measurement tells spinning from sleeping.
    let guard = SegmentGuard::new("wait-spin");
    let ring = ring(&guard, 8);
    let mut consumer = actor(&guard, "busy-spin", 1, LIMIT.as_millis() as u64);
    let before = cpu_ticks(consumer.pid());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(consumer.pid()) - before;
    assert!(used >= 20, "a spinning consumer used only {used} ticks in a second");
    produce(&ring, WaitStrategy::Block, 1);
    assert_eq!(consumer.expect("DONE"), vec![0]);
}

#[test]
fn a_blocked_producer_is_woken_by_a_consumer_in_another_process() {
    let guard = SegmentGuard::new("wait-room");
    let ring = ring(&guard, 4);
    produce(&ring, WaitStrategy::Block, 4);
    let mut producer = ring.producer().unwrap();
    producer.set_wait_strategy(WaitStrategy::Block);
    assert_eq!(producer.claim_timeout(Duration::from_millis(50)).unwrap_err(), ClaimError::Timeout);
    let mut consumer = actor(&guard, "block", 5, LIMIT.as_millis() as u64);
    let mut claim = producer.claim_timeout(LIMIT).expect("room freed by the other process");
    *claim = 4;
    claim.commit();
    assert_eq!(consumer.expect("DONE"), vec![10]);
}

/// Counts how often the wrapped future is polled.
struct CountPolls<'a, F> {
    inner: std::pin::Pin<Box<F>>,
    polls: &'a AtomicUsize,
}

impl<F: std::future::Future> std::future::Future for CountPolls<'_, F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn consume_async_sleeps_until_data_arrives() {
    let guard = SegmentGuard::new("async-consume");
    let ring = ring(&guard, 8);
    let mut consumer = ring.consumer(0).unwrap();
    let polls = AtomicUsize::new(0);
    let producer_ring = ring.clone();
    let producing = std::thread::spawn(move || {
        // Give the future time to go idle; correctness does not depend on this pause.
        std::thread::sleep(Duration::from_millis(300));
        produce(&producer_ring, WaitStrategy::Block, 3);
    });
    let future = CountPolls { inner: Box::pin(consumer.consume_async()), polls: &polls };
    let batch = tokio::time::timeout(LIMIT, future).await.expect("woken").unwrap();
    assert!(batch.iter().copied().eq(0..batch.len() as u64));
    assert!(!batch.is_empty());
    // Polled once, then once per wake-up: not busy-polled during the 300 ms of silence.
    let polls = polls.load(Ordering::Relaxed);
    assert!(polls <= 4, "polled {polls} times");
    producing.join().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn claim_async_and_commit_async_wait_for_room_and_order() {
    let guard = SegmentGuard::new("async-claim");
    let ring = ring(&guard, 2);
    let mut first = ring.producer().unwrap();
    let mut second = ring.producer().unwrap();
    let a = first.claim_async().await.unwrap();
    let mut b = second.claim_async().await.unwrap();
    *b = 1;
    // Multi-producer: the second commit completes at once, visible only after the first.
    tokio::time::timeout(LIMIT, b.commit_async()).await.expect("commits never wait here").unwrap();
    assert_eq!(ring.cursor(), 0);
    a.commit();
    assert_eq!(ring.cursor(), 2);
    // Full: claim_async completes when another thread consumes.
    let consumer_ring = ring.clone();
    let consuming = std::thread::spawn(move || {
        let mut consumer = consumer_ring.consumer(0).unwrap();
        consumer.set_wait_strategy(WaitStrategy::Block);
        std::thread::sleep(Duration::from_millis(100));
        consumer.consume_timeout(LIMIT).unwrap().commit_first(1);
    });
    let claim =
        tokio::time::timeout(LIMIT, first.claim_async()).await.expect("room freed").unwrap();
    assert_eq!(claim.sequence(), 2);
    claim.commit();
    consuming.join().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn commit_async_waits_for_a_range_left_pending_in_single_producer_mode() {
    let guard = SegmentGuard::new("async-commit");
    let ring = Disruptor::<u64>::builder(guard.name())
        .capacity(8)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let mut producer = ring.producer().unwrap();
    let pending = producer.claim().unwrap().leave_pending();
    let mut later = producer.claim().unwrap();
    *later = 1;
    let mut committing = Box::pin(later.commit_async());
    assert!(tokio::time::timeout(Duration::from_millis(50), &mut committing).await.is_err());
    assert_eq!(ring.cursor(), 0);
    drop(committing); // dropping the future drops the claim: the newest claim is rolled back
    assert_eq!(ring.claim_sequence(), 1);
    producer.recover(pending).unwrap().commit();
    assert_eq!(ring.cursor(), 1);
}
