//! Regression tests of the trust review: an independent review and a fault-injection run found
//! an unsound safe API, protocol bugs, SIGBUS and hang paths. Each test below is named after
//! what must now hold, says which finding it covers (`item N`), and failed on the code before
//! the fix. Multi-process cases run `trust_actor` (or `crash_actor`) as the other party; cases
//! that need root (namespaces, another user, a small tmpfs) say so and are skipped without it
//! (CI runs as root).

use std::future::Future;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shm_disruptor::{
    AttachError, ClaimError, DeadPeerPolicy, Disruptor, FenceMode, OpenError, Participant,
    ParticipantState, StreamReader, StreamWriter, WaitStrategy,
};
use shm_disruptor_tests::SegmentGuard;

mod common;
use common::{wait_until_in_futex, Actor, LIMIT};

fn trust_actor(args: &[&str]) -> Actor {
    Actor::start(env!("CARGO_BIN_EXE_trust_actor"), args)
}

fn ring(guard: &SegmentGuard, capacity: usize, consumers: usize) -> Disruptor<u64> {
    Disruptor::<u64>::builder(guard.name())
        .capacity(capacity)
        .consumers(consumers)
        .create()
        .unwrap()
}

/// Publishes `count` messages, each equal to its sequence.
fn produce(ring: &Disruptor<u64>, count: u64) {
    let mut producer = ring.producer().unwrap();
    for _ in 0..count {
        let mut claim = producer.claim_timeout(LIMIT).unwrap();
        *claim = claim.sequence();
        claim.commit();
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Says why a test that needs root did not run.
fn skip_without_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("{test}: NOT RUN, it needs root (namespaces, another user or a tmpfs mount); CI runs as root");
    true
}

fn path_of(guard: &SegmentGuard) -> String {
    format!("/dev/shm{}", guard.name())
}

// --- item 1: recovery never hands out a second &mut to live slots ----------------------------

#[test]
fn a_live_claim_cannot_be_recovered_by_another_handle() {
    let guard = SegmentGuard::new("trust-live-claim");
    let ring = ring(&guard, 16, 1);
    let mut holder = ring.producer().unwrap();
    let mut other = ring.producer().unwrap();
    let mut claim = holder.claim_many(5).unwrap();
    claim.iter_mut().for_each(|v| *v = 100);
    for range in [0..5, 1..3, 4..5] {
        assert!(other.recover(range.clone()).is_none(), "{range:?} is held by a live claim");
    }
    assert_eq!(ring.orphaned_claim(), None);
    assert!(other.recover_orphaned().is_none());
    claim.commit();
    let mut consumer = ring.consumer(0).unwrap();
    assert!(consumer.try_consume().iter().all(|&v| v == 100));
}

#[test]
fn a_live_claim_in_another_process_cannot_be_recovered_and_a_dead_ones_can() {
    let guard = SegmentGuard::new("trust-live-remote");
    let ring = ring(&guard, 16, 1);
    let mut actor = trust_actor(&["claim-and-hang", guard.name(), "5"]);
    assert_eq!(actor.expect("CLAIMED"), vec![0, 5]);
    let mut producer = ring.producer().unwrap();
    assert!(producer.recover(0..5).is_none(), "held by a live process");
    assert!(producer.recover_orphaned().is_none());
    actor.kill();
    let mut recovered = producer.recover_orphaned().expect("its holder died");
    assert_eq!(recovered.range(), 0..5);
    recovered.iter_mut().enumerate().for_each(|(i, v)| *v = i as u64);
    recovered.commit();
    assert_eq!(ring.cursor(), 5);
    // And the other way round: this process's live claim, another process's recover.
    let mut claim = producer.claim_many(3).unwrap();
    claim.iter_mut().for_each(|v| *v = 7);
    let mut actor = trust_actor(&["try-recover", guard.name(), "5", "8"]);
    assert_eq!(actor.expect_line("RECOVER"), "none ORPHANED none");
    claim.commit();
}

#[test]
fn two_recoverers_never_both_get_a_range() {
    let guard = SegmentGuard::new("trust-two-recoverers");
    let ring = ring(&guard, 16, 1);
    let (mut first, mut second) = (ring.producer().unwrap(), ring.producer().unwrap());
    let mut claimer = ring.producer().unwrap();
    assert_eq!(claimer.claim_many(4).unwrap().leave_pending(), 0..4);
    let mut once = first.recover_orphaned().expect("left pending: orphaned");
    assert!(second.recover_orphaned().is_none(), "the first recoverer holds it");
    assert!(second.recover(0..4).is_none() && second.recover(2..3).is_none());
    assert!(claimer.recover(0..4).is_none(), "not even for the producer that left it");
    drop(once); // pending again
    once = second.recover(0..4).expect("let go by the first recoverer");
    assert!(first.recover(0..4).is_none());
    once.copy_from_slice(&[0, 1, 2, 3]);
    once.commit();
    assert!(first.recover(0..4).is_none(), "committed");
    let mut consumer = ring.consumer(0).unwrap();
    assert!(consumer.try_consume().iter().copied().eq(0..4));
}

/// Kills a producer process that claims and gives back claims in a loop until it dies leaving
/// a stale record: one that describes sequences at the claim sequence (claimed by nobody),
/// left by a kill between its record stores and its CAS, or between a rollback and clearing
/// its record. Returns that range.
fn leave_a_stale_record(guard: &SegmentGuard, ring: &Disruptor<u64>) -> std::ops::Range<u64> {
    for _ in 0..500 {
        let mut actor = trust_actor(&["claim-drop-loop", guard.name()]);
        actor.expect_line("READY");
        std::thread::sleep(Duration::from_millis(2));
        actor.kill();
        // No other producer is alive: a record describing sequences at or after the claim
        // sequence is stale. (`participants()` shows only claimed sequences, so read the
        // records: after the header (4096), the control lines (5 * 128), then one sequence
        // line and one registry line per consumer, 128-byte records of owner, start, end: as
        // many as the ring has, the default number here.)
        let next = ring.claim_sequence();
        let bytes = std::fs::read(path_of(guard)).unwrap();
        let word = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
        let records = 4096 + 5 * 128 + 2 * 128;
        let stale = (0..shm_disruptor::DEFAULT_PRODUCERS)
            .map(|i| records + i * 128)
            .map(|at| word(at + 8)..word(at + 16))
            .find(|r| r.start < r.end && r.end > next);
        if let Some(range) = stale {
            return range;
        }
        // Killed holding a claim instead: recover it, and try again (the ring is big enough
        // for all the tries, unconsumed).
        if let Some(recovered) = ring.producer().unwrap().recover_orphaned() {
            recovered.commit_abandoned();
        }
    }
    panic!("500 kills never left a stale record");
}

/// Found by the review of the fix: a rollback lets the same sequences be claimed again, and a
/// recoverer holding a stale record could then be handed the new, live claim.
#[test]
fn a_claim_given_back_and_taken_again_is_never_recovered() {
    let guard = SegmentGuard::new("trust-aba");
    let ring = ring(&guard, 1024, 1);
    let stale = leave_a_stale_record(&guard, &ring);
    let (mut holder, mut recoverer) = (ring.producer().unwrap(), ring.producer().unwrap());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let recovered = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                drop(holder.claim_timeout(LIMIT).unwrap()); // claimed, then given back
            }
        });
        let started = Instant::now();
        let mut recovered = None;
        while recovered.is_none() && started.elapsed() < Duration::from_secs(3) {
            recovered = recoverer.recover(stale.clone()).map(|batch| batch.range());
        }
        stop.store(true, Ordering::Relaxed);
        recovered
    });
    assert_eq!(recovered, None, "nothing was ever left pending there");
}

/// The same through `DeadPeerPolicy::Recover`: it must never publish a live claim.
#[test]
fn the_recover_policy_never_publishes_a_claim_given_back_and_taken_again() {
    let guard = SegmentGuard::new("trust-aba-policy");
    let ring = ring(&guard, 1024, 1);
    ring.producer().unwrap().claim_many(2).unwrap().commit(); // a claim of 1024 must wait
    leave_a_stale_record(&guard, &ring);
    let (mut holder, mut blocked) = (ring.producer().unwrap(), ring.producer().unwrap());
    blocked.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::ZERO });
    let stop = std::sync::atomic::AtomicBool::new(false);
    let published_live = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let claim = holder.claim_timeout(LIMIT).unwrap();
                if ring.cursor() > claim.sequence() {
                    let sequence = claim.sequence();
                    std::mem::forget(claim);
                    return Some(sequence);
                }
            }
            None
        });
        // It looks every millisecond: thousands of chances to act on the stale record.
        let waited = blocked.claim_many_timeout(1024, Duration::from_secs(8)).map(|c| c.len());
        assert_eq!(waited.unwrap_err(), ClaimError::Timeout, "the consumer never frees room");
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    assert_eq!(published_live, None, "a live claim was published by another producer's policy");
}

// --- item 2: gating follows the live graph ---------------------------------------------------

/// Consumers 0, 1 and 2; 1 depends on 0, 2 is independent. Producers gate on 1 and 2.
fn graph_ring(guard: &SegmentGuard) -> Disruptor<u64> {
    Disruptor::<u64>::builder(guard.name())
        .capacity(8)
        .consumers(3)
        .depends_on(1, &[0])
        .create()
        .unwrap()
}

/// Fills the ring with 100..108 and lets consumer 2 read and commit everything; consumer 0
/// holds its batch (100..108) uncommitted.
fn fill_and_hold(ring: &Disruptor<u64>) -> shm_disruptor::Consumer<u64> {
    let mut producer = ring.producer().unwrap();
    for i in 0..8 {
        let mut claim = producer.try_claim().unwrap();
        *claim = 100 + i;
        claim.commit();
    }
    let mut independent = ring.consumer(2).unwrap();
    independent.try_consume().commit();
    ring.consumer(0).unwrap()
}

#[test]
fn releasing_a_last_stage_gates_producers_on_the_stages_before_it() {
    let guard = SegmentGuard::new("trust-release-stage");
    let ring = graph_ring(&guard);
    let mut first = fill_and_hold(&ring);
    let batch = first.try_consume();
    assert_eq!(batch.len(), 8);
    ring.consumer(1).unwrap().release();
    let mut producer = ring.producer().unwrap();
    for _ in 0..8 {
        match producer.try_claim() {
            Err(ClaimError::Full) => {}
            Ok(mut claim) => {
                *claim = 900;
                claim.commit();
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(batch.iter().copied().eq(100..108), "consumer 0's slots were overwritten");
    assert_eq!(ring.cursor(), 8, "no claim may pass consumer 0");
    assert!(!ring.all_consumers_released());
    batch.commit();
    assert!(producer.try_claim().is_ok(), "consumer 0 committed: room again");
}

#[test]
fn evicting_a_dead_last_stage_gates_producers_on_the_stages_before_it() {
    let guard = SegmentGuard::new("trust-evict-stage");
    let ring = graph_ring(&guard);
    let mut first = fill_and_hold(&ring);
    let mut actor = trust_actor(&["hold-consumer", guard.name(), "1"]);
    actor.expect_line("HOLDING");
    actor.kill();
    assert_eq!(ring.evict_dead_consumers(), vec![1]);
    let batch = first.try_consume();
    let mut producer = ring.producer().unwrap();
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::Full);
    assert!(batch.iter().copied().eq(100..108));
}

#[test]
fn a_stage_follows_the_live_stages_behind_a_released_one() {
    let guard = SegmentGuard::new("trust-release-middle");
    let ring = Disruptor::<u64>::builder(guard.name())
        .capacity(8)
        .consumers(3)
        .depends_on(1, &[0])
        .depends_on(2, &[1])
        .create()
        .unwrap();
    produce(&ring, 4);
    let mut last = ring.consumer(2).unwrap();
    ring.consumer(1).unwrap().release();
    assert!(last.try_consume().is_empty(), "stage 0 has not read anything yet");
    let mut first = ring.consumer(0).unwrap();
    first.try_consume().commit_first(2);
    assert!(last.try_consume().iter().copied().eq(0..2), "stage 2 follows stage 0 now");
}

// --- item 3: the header is read once, into a validated copy ----------------------------------

#[test]
fn a_header_rewritten_after_open_changes_nothing() {
    let guard = SegmentGuard::new("trust-header");
    // Consumers 0 and 1 read the same slots concurrently: neither may write them.
    let ring = ring(&guard, 8, 2);
    let inspector = shm_disruptor_inspect::Inspector::open(guard.name()).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(path_of(&guard)).unwrap();
    // Header offsets (see `shm::Header`): the dependency edge count at 100, the type name at
    // 104. A hostile peer claims a dependency edge (the graph is read from the edge table at
    // open, once) and renames the type.
    file.write_all_at(&1u32.to_ne_bytes(), 100).unwrap();
    file.write_all_at(b"Hostile\0", 104).unwrap();
    assert!(
        matches!(ring.exclusive_consumer(0), Err(AttachError::NotExclusive { index: 0, .. })),
        "consumer 1 still reads alongside consumer 0"
    );
    assert_eq!(ring.dependencies(1), Some(&[][..]));
    assert_eq!(inspector.header().type_name, "u64");
    assert_eq!(inspector.header().dependencies[1], Vec::<usize>::new());
}

// --- item 4: a producer record only ever describes a range its owner holds --------------------

/// The file offset of the producer record that describes `claim` (a range no other record
/// describes): records are 128-byte lines holding owner, start and end.
fn record_of(guard: &SegmentGuard, claim: std::ops::Range<u64>) -> u64 {
    let bytes = std::fs::read(path_of(guard)).unwrap();
    let word = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
    let found: Vec<u64> = (4096..bytes.len() - 128)
        .step_by(128)
        .filter(|&at| (word(at + 8), word(at + 16)) == (claim.start, claim.end))
        .map(|at| at as u64)
        .collect();
    assert_eq!(found.len(), 1, "the record of {claim:?}");
    found[0]
}

#[test]
fn a_claim_that_loses_its_race_leaves_no_record_behind() {
    // Two producers race, again and again, for the last two free slots; the winner gives its
    // claim back at once. The loser's CAS fails when the race is close, and its retry finds the
    // ring full: whatever it wrote into its record before the CAS must be gone then, or its
    // record would describe the winner's range as held by a live producer (and, the winner
    // dead, `Recover` would never act on it: the ring would stall for good).
    const RACES: u64 = 20_000;
    let guard = SegmentGuard::new("trust-race");
    let ring = ring(&guard, 4, 1);
    produce(&ring, 2);
    let mut producers = [ring.producer().unwrap(), ring.producer().unwrap()];
    let records: Vec<u64> = producers
        .iter_mut()
        .map(|p| {
            let held = p.try_claim().unwrap(); // given back when dropped
            record_of(&guard, held.sequence()..held.sequence() + 1)
        })
        .collect();
    let file = std::fs::File::open(path_of(&guard)).unwrap();
    let stale = std::sync::Mutex::new(Vec::new());
    // Both run until they have found the ring full (lost a race) `RACES` times in all.
    let fulls = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for (producer, &record) in producers.iter_mut().zip(&records) {
            let (file, stale, fulls) = (&file, &stale, &fulls);
            s.spawn(move || {
                while fulls.load(Ordering::Relaxed) < RACES && started.elapsed() < LIMIT {
                    match producer.try_claim_many(2) {
                        Ok(claim) => drop(claim), // the newest claim: rolled back
                        Err(ClaimError::Full) => {
                            fulls.fetch_add(1, Ordering::Relaxed);
                            let mut words = [0u8; 16];
                            file.read_exact_at(&mut words, record + 8).unwrap();
                            let start = u64::from_ne_bytes(words[..8].try_into().unwrap());
                            let end = u64::from_ne_bytes(words[8..].try_into().unwrap());
                            if start < end {
                                stale.lock().unwrap().push(start..end);
                            }
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert!(fulls.into_inner() >= RACES, "the producers raced too rarely");
    let stale = stale.into_inner().unwrap();
    assert!(
        stale.is_empty(),
        "a producer holding nothing had its record describe {:?} ({} times)",
        stale[0],
        stale.len()
    );
    // The winner leaves it pending, the loser loses: it is orphaned, for anyone to recover.
    let [a, b] = &mut producers;
    let pending = a.try_claim_many(2).unwrap().leave_pending();
    assert_eq!(b.try_claim_many(2).unwrap_err(), ClaimError::Full);
    assert_eq!(ring.orphaned_claim(), Some(pending));
}

// --- item 5: a recovered range is the recoverer's ----------------------------------------------

#[test]
fn a_recovered_range_is_not_taken_by_another_producers_policy() {
    let guard = SegmentGuard::new("trust-recovered");
    let ring = ring(&guard, 16, 1);
    let mut actor = trust_actor(&["claim-and-hang", guard.name(), "3"]);
    assert_eq!(actor.expect("CLAIMED"), vec![0, 3]);
    actor.kill();
    let mut recoverer = ring.producer().unwrap();
    let mut recovered = recoverer.recover_orphaned().expect("its producer died");
    let mut impatient = ring.producer().unwrap();
    impatient.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::from_millis(5) });
    let mut later = impatient.claim().unwrap();
    *later = 3;
    let later = later
        .commit_timeout(Duration::from_millis(200))
        .expect_err("0..3 is held by a live recoverer: nothing to abandon");
    recovered.copy_from_slice(&[0, 1, 2]);
    recovered.commit();
    later.commit();
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.try_consume();
    assert!(batch.iter().copied().eq(0..4), "the recoverer's messages, not zeros");
    assert!(batch.abandoned().is_empty());
}

// --- item 6: the claim after the last release fails ---------------------------------------------

#[test]
fn the_claim_after_the_last_release_fails() {
    let guard = SegmentGuard::new("trust-release-last");
    let ring = ring(&guard, 8, 2);
    let mut producer = ring.producer().unwrap();
    producer.try_claim().unwrap().commit(); // caches a bound of 8
    ring.consumer(0).unwrap().release();
    producer.try_claim().unwrap().commit(); // consumer 1 still listens
    ring.consumer(1).unwrap().release();
    assert!(ring.all_consumers_released());
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::NoConsumers);
    assert_eq!(producer.claim_many(2).unwrap_err(), ClaimError::NoConsumers);
    // Single-producer rings too: their claims take the fast path.
    let guard = SegmentGuard::new("trust-release-single");
    let ring = Disruptor::<u64>::builder(guard.name())
        .capacity(64)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let mut producer = ring.producer().unwrap();
    producer.try_claim().unwrap().commit();
    ring.consumer(0).unwrap().release();
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::NoConsumers);
}

#[test]
fn the_claim_after_a_release_in_another_process_fails() {
    let guard = SegmentGuard::new("trust-release-remote");
    let ring = ring(&guard, 64, 1);
    let mut producer = ring.producer().unwrap();
    producer.try_claim().unwrap().commit();
    let mut actor = trust_actor(&["release-consumer", guard.name(), "0"]);
    actor.expect_line("RELEASED");
    assert_eq!(producer.try_claim().unwrap_err(), ClaimError::NoConsumers);
}

#[test]
fn a_stream_write_after_the_last_reader_left_fails() {
    let guard = SegmentGuard::new("trust-release-stream");
    let ring = Disruptor::<u8>::builder(guard.name())
        .capacity(64 * 1024)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let mut writer = StreamWriter::new(ring.producer().unwrap());
    writer.write_all(b"hello").unwrap();
    drop(StreamReader::new(ring.consumer(0).unwrap()));
    let error = writer.write(b"x").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
}

// --- item 7: liveness that the kernel guarantees, whatever the namespaces ---------------------

/// `unshare --pid --fork --mount-proc --kill-child trust_actor ARGS`: a participant in its own
/// PID namespace (its PIDs mean nothing here), killed with `unshare` itself.
fn in_own_pid_namespace(args: &[&str]) -> Actor {
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    command.arg(env!("CARGO_BIN_EXE_trust_actor")).args(args);
    Actor::spawn(command)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_live_owner_in_another_pid_namespace_is_alive() {
    if skip_without_root("a_live_owner_in_another_pid_namespace_is_alive") {
        return;
    }
    let guard = SegmentGuard::new("trust-pidns");
    let ring = ring(&guard, 8, 1);
    let mut actor = in_own_pid_namespace(&["hold-consumer", guard.name(), "0"]);
    actor.expect_line("HOLDING");
    assert!(matches!(ring.consumer(0), Err(AttachError::ConsumerInUse { index: 0, .. })));
    assert!(ring.evict_dead_consumers().is_empty(), "a live consumer is never evicted");
    let state = |ring: &Disruptor<u64>| {
        ring.participants().into_iter().find_map(|p| match p {
            Participant::Consumer { index: 0, state, .. } => Some(state),
            _ => None,
        })
    };
    assert_eq!(state(&ring), Some(ParticipantState::Alive));
    // A second single producer is refused while the first lives in another namespace.
    let single = SegmentGuard::new("trust-pidns-single");
    let single_ring = Disruptor::<u64>::builder(single.name())
        .capacity(8)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let mut producer_actor = in_own_pid_namespace(&["take-producer", single.name()]);
    producer_actor.expect_line("PRODUCER");
    assert!(matches!(single_ring.producer(), Err(AttachError::ProducerInUse { .. })));
    // Killed: the kernel lets go of its locks.
    actor.kill();
    producer_actor.kill();
    wait_for("the consumer's death", || state(&ring) == Some(ParticipantState::Dead));
    ring.consumer(0).expect("its owner died: the index is free");
    wait_for("the producer's death", || single_ring.producer().is_ok());
}

// --- item 8: `Recover { after }` counts from when the consumer was first seen dead -------------

#[test]
fn recover_after_counts_from_the_death_not_from_the_block() {
    let guard = SegmentGuard::new("trust-after");
    let ring = ring(&guard, 4, 2);
    produce(&ring, 4);
    ring.consumer(0).unwrap().try_consume().commit();
    let mut actor = trust_actor(&["hold-consumer", guard.name(), "1"]);
    actor.expect_line("HOLDING");
    let after = Duration::from_millis(800);
    let producer_ring = ring.clone();
    let blocked = std::thread::spawn(move || {
        let mut producer = producer_ring.producer().unwrap();
        producer.set_wait_strategy(WaitStrategy::Yield);
        producer.set_dead_peer_policy(DeadPeerPolicy::Recover { after });
        producer.claim_timeout(LIMIT).map(|claim| claim.commit())
    });
    // The producer has been blocked for longer than `after` when the consumer dies.
    std::thread::sleep(after + after / 2);
    actor.kill();
    let killed = Instant::now();
    wait_for("the eviction", || ring.is_released(1));
    let dead_for = killed.elapsed();
    assert!(dead_for >= after, "evicted {dead_for:?} after its death, before `after` ({after:?})");
    blocked.join().unwrap().unwrap();
}

/// Found by the review of the fix: an async claim blocked by a dead consumer runs the policy
/// too (nobody frees room for it, so the watcher must wake it to look).
#[tokio::test(flavor = "current_thread")]
async fn an_async_claim_runs_the_dead_peer_policy() {
    let guard = SegmentGuard::new("trust-async-policy");
    let ring = ring(&guard, 4, 1);
    let mut actor = trust_actor(&["hold-consumer", guard.name(), "0"]);
    actor.expect_line("HOLDING");
    actor.kill();
    let mut producer = ring.producer().unwrap();
    producer.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::from_millis(10) });
    for _ in 0..4 {
        producer.try_claim().unwrap().commit();
    }
    let claimed = tokio::time::timeout(LIMIT, producer.claim_async()).await.expect("woken");
    assert_eq!(claimed.map(|c| c.sequence()).unwrap_err(), ClaimError::NoConsumers);
    assert!(ring.is_released(0), "the dead consumer was evicted");
}

// --- item 9: one fence mode per ring; the helper of a stalled cursor wakes sleepers -----------

#[test]
fn a_process_without_membarrier_refuses_a_membarrier_ring() {
    let guard = SegmentGuard::new("trust-fence-refuse");
    let ring = ring(&guard, 8, 1);
    if ring.fence_mode() != FenceMode::Membarrier {
        eprintln!("a_process_without_membarrier_refuses_a_membarrier_ring: NOT RUN, this kernel has no membarrier");
        return;
    }
    let mut actor = trust_actor(&["no-membarrier", "open", guard.name()]);
    let line = actor.expect_line("ERROR");
    assert!(line.contains("fence mode membarrier, which this process cannot follow"), "{line}");
    // A ring created for mixed sandboxes is joined by both.
    let mixed = SegmentGuard::new("trust-fence-mixed");
    let ring = Disruptor::<u64>::builder(mixed.name())
        .capacity(8)
        .consumers(1)
        .fence_mode(FenceMode::Fence)
        .create()
        .unwrap();
    assert_eq!(ring.fence_mode(), FenceMode::Fence);
    let mut actor = trust_actor(&["no-membarrier", "open", mixed.name()]);
    assert_eq!(actor.expect_line("OPENED"), "fence");
}

#[test]
fn a_ring_created_without_membarrier_is_followed_in_fence_mode() {
    let guard = SegmentGuard::new("trust-fence-follow");
    let mut actor = trust_actor(&["no-membarrier", "create", guard.name()]);
    assert_eq!(actor.expect_line("CREATED"), "fence");
    let ring = Disruptor::<u64>::open(guard.name()).unwrap();
    assert_eq!(ring.fence_mode(), FenceMode::Fence, "recorded at creation, followed here");
    wait_until_in_futex(actor.pid());
    let mut producer = ring.producer().unwrap();
    let mut claim = producer.claim().unwrap();
    *claim = 42;
    claim.commit();
    assert_eq!(actor.expect_line("GOT"), "42", "the sleeping consumer was woken");
}

/// Simulates a producer killed inside a multi-producer commit (see `crash.rs`): `range` is
/// committed (its flags set, for a 16-slot ring of `u64`) but nobody moved the cursor over it.
fn strand_committed_range(guard: &SegmentGuard, range: std::ops::Range<u64>) {
    let file = std::fs::OpenOptions::new().write(true).open(path_of(guard)).unwrap();
    let flags = file.metadata().unwrap().len() - 2 * 16 * 8;
    for seq in range {
        file.write_all_at(&(seq + 1).to_ne_bytes(), flags + 8 * (seq % 16)).unwrap();
    }
}

/// The data line's futex word (`Control` at 4096: next, cursor, status, then the data line).
fn data_futex(guard: &SegmentGuard) -> u32 {
    let file = std::fs::File::open(path_of(guard)).unwrap();
    let mut word = [0u8; 4];
    file.read_exact_at(&mut word, 4096 + 3 * 128).unwrap();
    u32::from_ne_bytes(word)
}

#[test]
fn a_waiter_that_moves_a_stalled_cursor_wakes_the_sleepers() {
    let guard = SegmentGuard::new("trust-help-wakes");
    let ring = ring(&guard, 16, 1);
    let mut sleeper =
        Actor::start(env!("CARGO_BIN_EXE_crash_actor"), &["sleep-consume", guard.name(), "0"]);
    sleeper.expect("WAITING");
    wait_until_in_futex(sleeper.pid());
    let mut producer = ring.producer().unwrap();
    let stranded = producer.claim_many(8).unwrap().leave_pending();
    strand_committed_range(&guard, stranded);
    assert_eq!(producer.claim_many(8).unwrap().leave_pending(), 8..16); // the ring is full
    let before = data_futex(&guard);
    // Waiting for room, the producer moves the cursor over the stranded range...
    assert_eq!(producer.claim_timeout(Duration::from_millis(20)).unwrap_err(), ClaimError::Timeout);
    assert_eq!(ring.cursor(), 8);
    // ...and wakes the consumer sleeping on the data line, as a commit would.
    assert!(data_futex(&guard) > before, "no wake-up for the sleeping consumer");
    assert_eq!(sleeper.expect("GOT"), vec![8]);
}

// --- item 10: a full /dev/shm is an error at create, never a SIGBUS -----------------------------

/// Runs `trust_actor ARGS` in a private mount namespace whose `/dev/shm` is a tmpfs of
/// `size`, after `prepare` (a shell command); its output line and exit status.
fn in_small_shm(size: &str, prepare: &str, args: &[&str]) -> (String, std::process::ExitStatus) {
    let script =
        format!("mount -t tmpfs -o size={size} none /dev/shm && {prepare} && exec \"$0\" \"$@\"");
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_trust_actor"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (String::from_utf8_lossy(&output.stdout).trim().to_owned(), output.status)
}

#[test]
fn a_ring_that_does_not_fit_in_shared_memory_is_an_error() {
    if skip_without_root("a_ring_that_does_not_fit_in_shared_memory_is_an_error") {
        return;
    }
    // 8 MiB of slots in a 1 MiB /dev/shm.
    let (line, status) = in_small_shm("1m", "true", &["create", "/big", "1048576"]);
    assert!(status.success(), "{status} {line}");
    assert!(
        line.starts_with("ERROR") && line.contains("more than shared memory can hold"),
        "{line}"
    );
    // A ring that fits in an empty one, in a full one.
    let fill = "dd if=/dev/zero of=/dev/shm/filler bs=64k count=16 2>/dev/null || true";
    let (line, status) = in_small_shm("1m", fill, &["create", "/small", "1024"]);
    assert!(status.success(), "{status} {line}");
    assert!(line.starts_with("ERROR no space in shared memory"), "{line}");
    let (line, status) = in_small_shm("1m", "true", &["create", "/small", "1024"]);
    assert_eq!((line.as_str(), status.success()), ("CREATED", true));
}

#[test]
fn a_ring_larger_than_shared_memory_is_refused_and_leaves_nothing() {
    let guard = SegmentGuard::new("trust-huge");
    let result = Disruptor::<u64>::builder(guard.name()).capacity(1 << 40).consumers(1).create();
    assert!(
        matches!(result, Err(OpenError::TooLarge { size, .. }) if size > 1 << 43),
        "{result:?}"
    );
    assert!(!std::path::Path::new(&path_of(&guard)).exists(), "no segment left behind");
}

// --- item 11: a truncated segment is an error at attach -----------------------------------------

#[test]
fn attaching_to_a_truncated_segment_is_an_error() {
    let guard = SegmentGuard::new("trust-truncated");
    let ring = ring(&guard, 1024, 1);
    std::fs::OpenOptions::new().write(true).open(path_of(&guard)).unwrap().set_len(4096).unwrap();
    assert!(matches!(ring.consumer(0), Err(AttachError::SegmentShrunk { actual: 4096, .. })));
    assert!(matches!(ring.producer(), Err(AttachError::SegmentShrunk { actual: 4096, .. })));
    let inspector = shm_disruptor_inspect::Inspector::open_timeout(guard.name(), Duration::ZERO);
    assert!(matches!(inspector, Err(OpenError::TooSmall { actual: 4096, .. })), "{inspector:?}");
}

// --- item 12: a FIFO under a ring's name never blocks ------------------------------------------

#[test]
fn a_fifo_under_the_name_is_not_a_segment() {
    let guard = SegmentGuard::new("trust-fifo");
    let path = std::ffi::CString::new(path_of(&guard)).unwrap();
    // SAFETY: `path` is a valid NUL-terminated string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let started = Instant::now();
    let opened = Disruptor::<u64>::open(guard.name());
    assert!(
        matches!(opened, Err(OpenError::NotASegment { kind: "a FIFO", .. })),
        "{:?}",
        opened.map(|_| ())
    );
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once, not after waiting");
    let inspected = shm_disruptor_inspect::Inspector::open(guard.name());
    assert!(matches!(inspected, Err(OpenError::NotASegment { .. })), "{inspected:?}");
}

// --- item 13: no panic reachable from safe code --------------------------------------------------

#[test]
fn an_unrepresentable_timeout_means_no_deadline() {
    let guard = SegmentGuard::new("trust-max");
    let ring = Disruptor::<u64>::builder(guard.name())
        .capacity(8)
        .consumers(2)
        .depends_on(1, &[0])
        .create()
        .unwrap();
    let reopened =
        Disruptor::<u64>::builder(guard.name()).init_timeout(Duration::MAX).open().unwrap();
    let mut producer = reopened.producer().unwrap();
    producer.claim_timeout(Duration::MAX).unwrap().commit_timeout(Duration::MAX).unwrap();
    producer.claim_many_timeout(2, Duration::MAX).unwrap().commit();
    producer.claim_available_timeout(2, Duration::MAX).unwrap().commit();
    let mut consumer = ring.consumer(0).unwrap();
    consumer.consume_timeout(Duration::MAX).unwrap().commit();
    let mut stage = ring.exclusive_consumer(1).unwrap();
    assert_eq!(stage.consume_mut_timeout(Duration::MAX).unwrap().len(), 5);
    drop(stage);
    // Chaining rings with an unbounded timeout.
    let other = SegmentGuard::new("trust-max-dest");
    let dest = ring_of(&other);
    let mut dest_producer = dest.producer().unwrap();
    producer.claim_many_timeout(3, Duration::MAX).unwrap().commit();
    assert_eq!(consumer.forward_to(&mut dest_producer, Duration::MAX, |a, b| *b = *a).unwrap(), 3);
    // Streams.
    let stream = SegmentGuard::new("trust-max-stream");
    let bytes = Disruptor::<u8>::builder(stream.name())
        .capacity(64)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let mut writer = StreamWriter::new(bytes.producer().unwrap());
    writer.set_write_timeout(Some(Duration::MAX));
    writer.write_all(b"abc").unwrap();
    let mut reader = StreamReader::new(bytes.consumer(0).unwrap());
    reader.set_read_timeout(Some(Duration::MAX));
    let mut read = [0u8; 3];
    reader.read_exact(&mut read).unwrap();
    assert_eq!(&read, b"abc");
}

fn ring_of(guard: &SegmentGuard) -> Disruptor<u64> {
    ring(guard, 8, 1)
}

#[test]
fn dependencies_of_an_index_out_of_range_is_none() {
    let guard = SegmentGuard::new("trust-deps");
    let ring = ring(&guard, 8, 2);
    assert_eq!(ring.dependencies(1), Some(&[][..]));
    assert_eq!(ring.dependencies(2), None);
    assert_eq!(ring.dependencies(99), None);
}

#[test]
fn an_async_wait_without_a_watcher_thread_is_an_error() {
    let guard = SegmentGuard::new("trust-no-thread");
    let _ring = ring(&guard, 8, 1);
    // Threads get a 16 TiB stack, which no mapping can hold: spawning one fails.
    let mut command = Command::new(env!("CARGO_BIN_EXE_trust_actor"));
    command.args(["consume-async", guard.name()]).env("RUST_MIN_STACK", (1u64 << 44).to_string());
    let mut actor = Actor::spawn(command);
    let line = actor.expect_line("ERROR");
    assert!(line.contains("async watcher thread could not be started"), "{line}");
    assert!(actor.wait().success());
}

// --- item 14: an async future holds one registration, dropped with it ------------------------

struct NoopWake;
impl std::task::Wake for NoopWake {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[test]
fn a_million_cancelled_async_waits_leave_nothing_behind() {
    let guard = SegmentGuard::new("trust-wakers");
    let ring = ring(&guard, 8, 1);
    let mut consumer = ring.consumer(0).unwrap();
    let waker = std::task::Waker::from(std::sync::Arc::new(NoopWake));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut poll_and_cancel = |times: usize| {
        for _ in 0..times {
            let mut future = std::pin::pin!(consumer.consume_async());
            assert!(future.as_mut().poll(&mut cx).is_pending());
            assert!(future.as_mut().poll(&mut cx).is_pending(), "polled twice: one registration");
        }
    };
    poll_and_cancel(10_000);
    let before = rss();
    poll_and_cancel(1_000_000);
    let grown = rss().saturating_sub(before);
    assert!(grown < 8 << 20, "memory grew by {grown} bytes over a million cancelled waits");
    produce(&ring, 1);
    assert_eq!(consumer.try_consume().len(), 1);
}

// --- item 15: permissions exactly as asked ------------------------------------------------------

#[test]
fn a_segment_gets_exactly_the_permissions_asked() {
    let guard = SegmentGuard::new("trust-mode");
    for bad in [0o7777, 0o4600, 0o1666] {
        let result = Disruptor::<u64>::builder(guard.name())
            .capacity(8)
            .consumers(1)
            .permissions(bad)
            .create();
        assert!(matches!(result, Err(OpenError::InvalidConfig(_))), "{bad:#o}");
    }
    let _ring = Disruptor::<u64>::builder(guard.name())
        .capacity(8)
        .consumers(1)
        .permissions(0o666)
        .create()
        .unwrap();
    let mode = std::fs::metadata(path_of(&guard)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o666, "not masked by the umask");
    if skip_without_root("a_segment_gets_exactly_the_permissions_asked (another user)") {
        return;
    }
    let as_nobody = |name: &str| {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        command.arg(env!("CARGO_BIN_EXE_trust_actor")).args(["open", name]);
        Actor::spawn(command)
    };
    assert_eq!(as_nobody(guard.name()).expect_line("OPENED"), "");
    let private = SegmentGuard::new("trust-mode-private");
    let _ring = ring(&private, 8, 1);
    let line = as_nobody(private.name()).expect_line("ERROR");
    assert!(line.contains("permission denied"), "{line}");
}

// --- item 16: a stream whose writer died ends for its readers -----------------------------------

fn stream_ring(guard: &SegmentGuard) -> Disruptor<u8> {
    Disruptor::<u8>::builder(guard.name())
        .capacity(4096)
        .consumers(1)
        .single_producer()
        .wait_strategy(WaitStrategy::Block)
        .create()
        .unwrap()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn readers_of_a_dead_writer_get_every_byte_then_unexpected_eof() {
    let guard = SegmentGuard::new("trust-dead-writer");
    let ring = stream_ring(&guard);
    let mut reader = StreamReader::new(ring.consumer(0).unwrap());
    reader.set_read_timeout(Some(LIMIT));
    let mut actor = trust_actor(&["stream-write-and-hang", guard.name(), "3000"]);
    assert_eq!(actor.expect("WROTE"), vec![3000]);
    let mut received = vec![0u8; 1000];
    reader.read_exact(&mut received).unwrap();
    actor.kill();
    let mut rest = Vec::new();
    let error = reader.read_to_end(&mut rest).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    received.extend(rest);
    assert_eq!(received, pattern(3000), "every byte it committed, then the end");
}

#[test]
fn a_new_writer_takes_over_from_a_dead_one() {
    let guard = SegmentGuard::new("trust-writer-takeover");
    let ring = stream_ring(&guard);
    let mut actor = trust_actor(&["stream-write-and-hang", guard.name(), "1000"]);
    assert_eq!(actor.expect("WROTE"), vec![1000]);
    actor.kill();
    // A reader that starts after the writer died is not left waiting.
    let mut late = StreamReader::new(ring.consumer(0).unwrap());
    late.set_read_timeout(Some(LIMIT));
    let mut received = Vec::new();
    assert_eq!(
        late.read_to_end(&mut received).unwrap_err().kind(),
        std::io::ErrorKind::UnexpectedEof
    );
    assert_eq!(received, pattern(1000));
    let mut consumer = late.into_consumer();
    let mut writer = StreamWriter::new(ring.producer().expect("its writer is dead: taken over"));
    writer.write_all(b"more").unwrap();
    writer.finish();
    let batch = consumer.try_consume();
    assert!(batch.iter().copied().eq(*b"more"));
}

/// The examples' binaries (built by `cargo test --workspace`, beside this test's helpers).
fn example(name: &str) -> std::path::PathBuf {
    let helper = std::path::Path::new(env!("CARGO_BIN_EXE_trust_actor"));
    let path = helper.parent().unwrap().join("examples").join(name);
    assert!(path.exists(), "{} is not built: run `cargo test --workspace`", path.display());
    path
}

fn interrupt(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
}

#[test]
fn the_stream_examples_end_the_stream_cleanly_on_ctrl_c() {
    let guard = SegmentGuard::new("trust-sigint");
    // The producer example creates the ring and copies its stdin into it.
    let mut producer = Command::new(example("stream_producer"))
        .args(["--name", guard.name()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = producer.stdin.take().unwrap();
    input.write_all(&pattern(5000)).unwrap();
    input.flush().unwrap();
    let ring = wait_for_ring(guard.name());
    let mut reader = StreamReader::new(ring.consumer(0).unwrap());
    reader.set_read_timeout(Some(LIMIT));
    let mut received = vec![0u8; 5000];
    reader.read_exact(&mut received).unwrap();
    interrupt(producer.id());
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0, "a clean end of stream");
    assert_eq!(received, pattern(5000));
    let status = wait_child(&mut producer);
    assert_eq!(status.code(), Some(130), "{status}");
    drop(input);
}

#[test]
fn the_stream_consumer_example_releases_its_index_on_ctrl_c() {
    let guard = SegmentGuard::new("trust-sigint-reader");
    let ring = stream_ring(&guard);
    let mut writer = StreamWriter::new(ring.producer().unwrap());
    writer.set_write_timeout(Some(LIMIT));
    let mut consumer = Command::new(example("stream_consumer"))
        .args(["--name", guard.name()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writer.write_all(b"first line\n").unwrap();
    let mut out = std::io::BufReader::new(consumer.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "first line\n");
    interrupt(consumer.id());
    assert_eq!(wait_child(&mut consumer).code(), Some(130));
    // Its index was released: writes fail at once instead of filling the ring and waiting.
    let error = writer.write_all(&pattern(8192)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
}

fn wait_for_ring(name: &str) -> Disruptor<u8> {
    let deadline = Instant::now() + LIMIT;
    loop {
        match Disruptor::<u8>::open(name) {
            Ok(ring) => return ring,
            Err(OpenError::NotFound { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn wait_child(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the example did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
