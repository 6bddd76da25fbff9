//! Fault tests: real processes (`crash_actor`) are `SIGKILL`ed at chosen points, and the
//! survivors prove, message by message, that nothing committed is lost or delivered twice to a
//! consumer that committed it, and that the ring carries on.

use std::time::{Duration, Instant};

use shm_disruptor::{
    ClaimError, DeadPeerPolicy, Disruptor, OpenError, Participant, ParticipantState, WaitStrategy,
};
use shm_disruptor_tests::SegmentGuard;

mod common;
use common::{wait_until_in_futex, Actor};

use common::LIMIT;

fn create(guard: &SegmentGuard, capacity: usize, consumers: usize) -> Disruptor<u64> {
    Disruptor::<u64>::builder(guard.name())
        .capacity(capacity)
        .consumers(consumers)
        .create()
        .unwrap()
}

/// A single-producer ring with one consumer.
fn create_single(guard: &SegmentGuard, capacity: usize) -> Disruptor<u64> {
    Disruptor::<u64>::builder(guard.name())
        .capacity(capacity)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap()
}

/// Publishes values `from..to` (each equal to its sequence) from this process.
fn produce(ring: &Disruptor<u64>, count: u64) {
    let mut producer = ring.producer().unwrap();
    producer.set_wait_strategy(WaitStrategy::Yield);
    for _ in 0..count {
        let mut claim = producer.claim_timeout(LIMIT).unwrap();
        *claim = claim.sequence();
        claim.commit();
    }
}

fn consumer_state(ring: &Disruptor<u64>, index: usize) -> (ParticipantState, Option<u32>) {
    ring.participants()
        .into_iter()
        .find_map(|p| match p {
            Participant::Consumer { index: i, state, pid, .. } if i == index => Some((state, pid)),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_restarted_consumer_resumes_from_its_committed_sequence() {
    let guard = SegmentGuard::new("crash-consumer");
    let ring = create(&guard, 64, 1);
    produce(&ring, 50);
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["consume-then-hang", guard.name(), "0", "30"],
    );
    assert_eq!(actor.expect("BATCH"), vec![30, 20], "mid-batch: 30 committed, 20 read");
    let pid = actor.pid();
    assert_eq!(consumer_state(&ring, 0), (ParticipantState::Alive, Some(pid)));
    assert!(matches!(
        ring.consumer(0),
        Err(shm_disruptor::AttachError::ConsumerInUse { index: 0, pid: p }) if p == pid
    ));
    actor.kill();
    assert_eq!(consumer_state(&ring, 0), (ParticipantState::Dead, Some(pid)));
    // A restart takes the index over and resumes at 30: nothing lost, nothing committed redelivered.
    let mut consumer = ring.consumer(0).expect("the dead owner's index is free");
    assert_eq!(consumer.sequence(), 30);
    std::thread::scope(|s| {
        s.spawn(|| produce(&ring, 100));
        let mut expected = 30;
        while expected < 150 {
            let batch = consumer.consume_timeout(LIMIT).unwrap();
            for &v in batch.iter() {
                assert_eq!(v, expected);
                expected += 1;
            }
            batch.commit();
        }
    });
    assert_eq!(consumer_state(&ring, 0).0, ParticipantState::Alive);
}

#[test]
fn a_producer_blocked_by_a_dead_consumer_evicts_it_by_policy() {
    let guard = SegmentGuard::new("crash-evict");
    let ring = create(&guard, 16, 2);
    produce(&ring, 16); // full: both consumers are at 0
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["consume-then-hang", guard.name(), "1", "0"],
    );
    actor.expect("BATCH");
    actor.kill();
    let mut live = ring.consumer(0).unwrap();
    live.consume_timeout(LIMIT).unwrap().commit();
    let mut producer = ring.producer().unwrap();
    // The default policy waits for a restart.
    assert_eq!(producer.claim_timeout(Duration::from_millis(50)).unwrap_err(), ClaimError::Timeout);
    assert!(!ring.is_released(1));
    producer.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::from_millis(20) });
    let mut claim = producer.claim_timeout(LIMIT).expect("the dead consumer is evicted");
    *claim = 16;
    claim.commit();
    assert!(ring.is_released(1));
    assert!(live.consume_timeout(LIMIT).unwrap().iter().copied().eq([16]));
}

#[test]
fn evict_dead_consumers_releases_only_dead_owners() {
    let guard = SegmentGuard::new("crash-evict2");
    let ring = create(&guard, 16, 3);
    produce(&ring, 4);
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["consume-then-hang", guard.name(), "2", "1"],
    );
    actor.expect("BATCH");
    let _live = ring.consumer(0).unwrap();
    assert!(ring.evict_dead_consumers().is_empty(), "nobody is dead yet");
    actor.kill();
    // Consumer 1 never had an owner (gone): a consumer yet to start is not evicted.
    assert_eq!(ring.evict_dead_consumers(), vec![2]);
    assert_eq!(ring.consumer_sequence(2), Some(u64::MAX));
    assert_eq!(consumer_state(&ring, 1).0, ParticipantState::Gone);
    assert_eq!(consumer_state(&ring, 0).0, ParticipantState::Alive);
}

#[test]
fn a_dead_producers_claim_is_recovered_and_rewritten() {
    let guard = SegmentGuard::new("crash-producer");
    let ring = create(&guard, 64, 1);
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["claim-then-hang", guard.name(), "10", "5"],
    );
    assert_eq!(actor.expect("CLAIMED"), vec![10, 15]);
    let mut producer = ring.producer().unwrap();
    let mut later = producer.claim().unwrap();
    assert_eq!(later.sequence(), 15);
    *later = 15;
    let later = later.try_commit().expect_err("blocked behind the pending claim");
    assert_eq!(ring.orphaned_claim(), None, "its producer is alive");
    actor.kill();
    let dead = ring
        .participants()
        .into_iter()
        .find(|p| matches!(p, Participant::Producer { state: ParticipantState::Dead, .. }));
    assert!(
        matches!(dead, Some(Participant::Producer { pending: Some(ref r), .. }) if *r == (10..15)),
        "{dead:?}"
    );
    // `later` is this process's live claim, so the orphan ends where it starts.
    assert_eq!(ring.orphaned_claim(), Some(10..15));
    later.leave_pending();
    assert_eq!(ring.orphaned_claim(), Some(10..16), "a claim left pending is orphaned too");
    let mut recovered = producer.recover_orphaned().unwrap();
    assert_eq!(recovered.range(), 10..16);
    for (i, v) in recovered.iter_mut().enumerate() {
        *v = 10 + i as u64;
    }
    recovered.commit();
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.consume_timeout(LIMIT).unwrap();
    assert!(batch.iter().copied().eq(0..16), "nothing committed was lost");
    assert!(batch.abandoned().is_empty());
}

#[test]
fn a_dead_producers_claim_is_committed_as_abandoned_by_policy() {
    let guard = SegmentGuard::new("crash-abandon");
    let ring = create(&guard, 64, 1);
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["claim-then-hang", guard.name(), "3", "4"],
    );
    assert_eq!(actor.expect("CLAIMED"), vec![3, 7]);
    actor.kill();
    let mut producer = ring.producer().unwrap();
    producer.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::from_millis(20) });
    let mut claim = producer.claim().unwrap();
    *claim = 7;
    claim.commit_timeout(LIMIT).expect("the dead claim is abandoned, then ours is published");
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.consume_timeout(LIMIT).unwrap();
    assert!(batch.iter().copied().eq([0, 1, 2, 0, 0, 0, 0, 7]), "zero-filled gap");
    assert_eq!(batch.abandoned(), vec![3..7]);
}

#[test]
fn a_creator_killed_mid_initialisation_is_reported_and_replaced() {
    let guard = SegmentGuard::new("crash-create");
    let mut actor =
        Actor::start(env!("CARGO_BIN_EXE_crash_actor"), &["create-then-hang", guard.name()]);
    actor.expect("CREATED");
    actor.kill();
    let started = Instant::now();
    let err = Disruptor::<u64>::builder(guard.name())
        .init_timeout(Duration::from_millis(100))
        .open()
        .unwrap_err();
    assert!(matches!(err, OpenError::NotInitialised { .. }), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(100));
    let ring = Disruptor::<u64>::builder(guard.name())
        .capacity(8)
        .consumers(1)
        .replace_existing()
        .unwrap();
    produce(&ring, 3);
    assert_eq!(ring.cursor(), 3);
}

#[test]
fn a_process_killed_in_a_futex_wait_leaves_the_ring_usable() {
    let guard = SegmentGuard::new("crash-futex");
    let ring = create(&guard, 8, 1);
    let mut actor =
        Actor::start(env!("CARGO_BIN_EXE_crash_actor"), &["sleep-consume", guard.name(), "0"]);
    actor.expect("WAITING");
    wait_until_in_futex(actor.pid());
    actor.kill();
    let mut consumer = ring.consumer(0).expect("taken over from the dead sleeper");
    consumer.set_wait_strategy(WaitStrategy::Block);
    std::thread::scope(|s| {
        s.spawn(|| produce(&ring, 20));
        let mut expected = 0;
        while expected < 20 {
            let batch = consumer.consume_timeout(LIMIT).unwrap();
            for &v in batch.iter() {
                assert_eq!(v, expected);
                expected += 1;
            }
            batch.commit();
        }
    });
}

#[test]
fn a_dead_single_producer_is_replaced_and_its_unpublished_claim_discarded() {
    let guard = SegmentGuard::new("crash-single");
    let ring = create_single(&guard, 64);
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["claim-then-hang", guard.name(), "10", "5"],
    );
    assert_eq!(actor.expect("CLAIMED"), vec![10, 15]);
    let pid = actor.pid();
    assert!(
        matches!(ring.producer(), Err(shm_disruptor::AttachError::ProducerInUse { pid: p }) if p == pid)
    );
    assert_eq!(ring.orphaned_claim(), None, "the single producer is alive");
    actor.kill();
    let dead = ring.participants().into_iter().find(|p| matches!(p, Participant::Producer { .. }));
    assert_eq!(
        dead,
        Some(Participant::Producer {
            entry: 0,
            pid: Some(pid),
            state: ParticipantState::Dead,
            pending: Some(10..15)
        })
    );
    assert_eq!(ring.orphaned_claim(), Some(10..15));
    // A new single producer takes over; nothing of the dead claim was visible, so it is discarded.
    produce(&ring, 5);
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.consume_timeout(LIMIT).unwrap();
    assert!(
        batch.iter().copied().eq(0..15),
        "the new producer's messages follow the committed ones"
    );
}

/// A single producer that closed with a claim left pending hands it to the next one: the new
/// producer's commits wait behind it (they must not publish the gap) until it is recovered.
#[test]
fn a_single_producer_attaching_behind_a_pending_claim_does_not_publish_past_it() {
    let guard = SegmentGuard::new("single-pending");
    let ring = create_single(&guard, 64);
    let mut first = ring.producer().unwrap();
    let mut pending = first.claim().unwrap();
    *pending = 100;
    assert_eq!(pending.leave_pending(), 0..1);
    drop(first);

    let mut producer = ring.producer().unwrap();
    let mut later = producer.claim().unwrap();
    assert_eq!(later.sequence(), 1);
    *later = 101;
    let later = later.try_commit().expect_err("slot 0 is not published yet");
    assert_eq!(ring.cursor(), 0);
    let later = later.leave_pending();
    producer.recover(0..1).expect("slot 0 is pending").commit();
    assert_eq!(ring.cursor(), 1, "slot 1 is still pending");
    producer.recover(later).expect("slot 1 is pending").commit();
    assert_eq!(ring.cursor(), 2);
    // Nothing is pending any more: commits publish at once again.
    let mut next = producer.claim().unwrap();
    *next = 102;
    next.commit();
    assert_eq!(ring.cursor(), 3);
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.consume_timeout(LIMIT).unwrap();
    assert!(batch.iter().copied().eq(100..103));
}

#[test]
fn replace_existing_refuses_a_ring_another_process_merely_maps() {
    let guard = SegmentGuard::new("crash-mapped");
    drop(create(&guard, 8, 1));
    let mut actor =
        Actor::start(env!("CARGO_BIN_EXE_crash_actor"), &["open-then-hang", guard.name()]);
    actor.expect("OPENED");
    let builder = || Disruptor::<u64>::builder(guard.name()).capacity(8).consumers(1);
    match builder().replace_existing() {
        Err(OpenError::InUse { pids, .. }) => assert_eq!(pids, vec![actor.pid()]),
        other => panic!("expected InUse, got {:?}", other.map(|_| ())),
    }
    actor.kill();
    builder().replace_existing().expect("nobody maps it any more");
}

#[test]
fn only_the_dead_producers_range_is_orphaned_when_later_ones_committed() {
    let guard = SegmentGuard::new("crash-partial");
    let ring = create(&guard, 64, 1);
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["claim-then-hang", guard.name(), "2", "3"],
    );
    assert_eq!(actor.expect("CLAIMED"), vec![2, 5]);
    let mut producer = ring.producer().unwrap();
    let mut later = producer.claim_many(2).unwrap();
    later.iter_mut().for_each(|v| *v = 99);
    later.commit(); // does not wait: committed behind the dead claim
    actor.kill();
    assert_eq!(ring.cursor(), 2);
    assert_eq!(ring.orphaned_claim(), Some(2..5), "the committed range after it is not orphaned");
    let mut recovered = producer.recover_orphaned().unwrap();
    recovered.iter_mut().enumerate().for_each(|(i, v)| *v = 2 + i as u64);
    recovered.commit();
    assert_eq!(ring.cursor(), 7, "recovery makes the later commit visible too");
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.consume_timeout(LIMIT).unwrap();
    assert!(batch.iter().copied().eq([0, 1, 2, 3, 4, 99, 99]));
}

/// Simulates a producer killed inside a multi-producer commit, after it stored the flags of its
/// range and before it woke anyone: writes the flags into the segment file by hand (no wake-up).
/// The commit flags of a 16-slot ring of `u64` are the 128 bytes just before its 128 bytes of
/// slots, at the end of the segment.
fn strand_committed_range(guard: &SegmentGuard, later: std::ops::Range<u64>) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm{}", guard.name()))
        .unwrap();
    let flags = file.metadata().unwrap().len() - 2 * 16 * 8;
    for seq in later {
        file.write_all_at(&(seq + 1).to_ne_bytes(), flags + 8 * (seq % 16)).unwrap();
    }
}

/// A range whose flags a killed committer stored is published at once: consumers read the
/// flags, not a cursor that someone must move, so nothing stalls and nothing is orphaned.
#[test]
fn a_range_committed_by_a_killed_producer_is_published_at_once() {
    let guard = SegmentGuard::new("stranded-range");
    let ring = create(&guard, 16, 1);
    let mut producer = ring.producer().unwrap();
    produce(&ring, 8);
    let mut later = producer.claim_many(8).unwrap();
    later.iter_mut().enumerate().for_each(|(i, v)| *v = 8 + i as u64);
    let later = later.leave_pending();
    strand_committed_range(&guard, later.clone());
    assert_eq!((ring.cursor(), ring.orphaned_claim()), (16, None), "published, not orphaned");
    assert!(producer.recover(later).is_none(), "a published range is not recoverable");
    // The ring is full until the consumer reads.
    assert_eq!(producer.claim_timeout(Duration::from_millis(20)).unwrap_err(), ClaimError::Timeout);
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.consume_timeout(LIMIT).unwrap();
    assert!(batch.iter().copied().eq(0..16), "nothing committed was lost");
}

/// A consumer asleep in the futex while a committer is killed between its flag stores and its
/// wake-up still gets the range: a sleeper re-checks the flags at least every `MAX_SLEEP`.
#[test]
fn a_sleeping_consumer_gets_a_range_committed_without_a_wake_up() {
    let guard = SegmentGuard::new("unannounced-range");
    let ring = create(&guard, 16, 1);
    let mut consumer = ring.consumer(0).unwrap();
    consumer.set_wait_strategy(WaitStrategy::Block);
    produce(&ring, 4);
    let mut producer = ring.producer().unwrap();
    let mut later = producer.claim_many(4).unwrap();
    later.iter_mut().enumerate().for_each(|(i, v)| *v = 4 + i as u64);
    let later = later.leave_pending();
    let batch = consumer.consume_timeout(LIMIT).unwrap();
    assert!(batch.iter().copied().eq(0..4));
    batch.commit();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let sleeper = std::thread::spawn(move || {
        tid_tx.send(rustix::thread::gettid().as_raw_nonzero().get() as u32).unwrap();
        let batch = consumer.consume_timeout(LIMIT).expect("the range was never seen");
        batch.iter().copied().collect::<Vec<_>>()
    });
    wait_until_in_futex(tid_rx.recv().unwrap());
    strand_committed_range(&guard, later);
    assert_eq!(sleeper.join().unwrap(), [4, 5, 6, 7]);
}
