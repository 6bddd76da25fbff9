//! Many-to-many transfers between processes and threads, proven loss-free (issue 4).
//!
//! - The seed's matrix, producers {1, 2, 4} x consumers {1, 2, 4} x messages per producer
//!   {1, 2, 10, 100, 1000, 10000} through a 1000-slot ring of 256-byte random messages, once with
//!   helper processes and once with threads: every consumer's checksum equals the sum of the
//!   producers' checksums. Cases cycle through the claim calls (`claim`, `claim_many`,
//!   `claim_available`) and the non-spinning wait strategies (`Yield`, `Backoff`, `Block`).
//! - A stress test: 2 producer and 2 consumer processes pass 10 million [`Stamped`] messages
//!   through a 64-slot ring; each consumer checks every message of every producer arrives exactly
//!   once, in that producer's order, untorn.
//! - Late joiners: a consumer process that attaches mid-stream resumes at its committed sequence;
//!   a producer process that attaches mid-stream claims after what was already claimed.
//! - The seed's scale: 100 producers x 100 consumers in threads, and 10 x 10 in processes, of
//!   [`Stamped`] messages through one ring with exactly as many producer records as producers:
//!   every consumer receives every message exactly once, each producer's in order, and its digest
//!   sum equals the producers' total.
//!
//! The tests take a global lock and run one at a time: on a 2-core machine, running the process
//! tests side by side would only make each slower. Every case prints its time (`--nocapture`).
//! Helper processes are killed when a test fails ([`ChildGroup`]); segments are unlinked
//! ([`SegmentGuard`]); every wait has a deadline.

use std::process::Command;
use std::sync::{Barrier, Mutex, MutexGuard};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use shm_disruptor::{AttachError, Disruptor, Slot, WaitStrategy};
use shm_disruptor_tests::{
    consume_checksum, consume_stamped, field, produce_random, produce_stamped_with, ring_state,
    wait_name, Checksum, ChildGroup, ChildId, ClaimMode, Msg256, SegmentGuard, Stamped,
    StampedPlan, StampedSent, TEST_WAITS,
};

const CHECKSUM_PRODUCER: &str = env!("CARGO_BIN_EXE_checksum_producer");
const CHECKSUM_CONSUMER: &str = env!("CARGO_BIN_EXE_checksum_consumer");
const STAMPED_PRODUCER: &str = env!("CARGO_BIN_EXE_stamped_producer");
const STAMPED_CONSUMER: &str = env!("CARGO_BIN_EXE_stamped_consumer");

const PRODUCERS: [usize; 3] = [1, 2, 4];
const CONSUMERS: [usize; 3] = [1, 2, 4];
const MESSAGES: [u64; 6] = [1, 2, 10, 100, 1000, 10_000];
const MATRIX_CAPACITY: usize = 1000;

/// The most one case may take, helper processes included.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);
/// The most the 10-million-message stress test may take.
const STRESS_TIMEOUT: Duration = Duration::from_secs(600);

/// Serialises the tests of this file (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A test that failed holding the lock poisons it; the others still run.
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn command(program: &str, args: &[&dyn ToString]) -> Command {
    let mut command = Command::new(program);
    command.args(args.iter().map(|a| a.to_string()));
    command
}

fn create<T: Slot>(guard: &SegmentGuard, capacity: usize, consumers: usize) -> Disruptor<T> {
    Disruptor::<T>::builder(guard.name())
        .capacity(capacity)
        .consumers(consumers)
        .create()
        .unwrap_or_else(|e| panic!("creating {}: {e}", guard.name()))
}

/// Every (case number, producers, consumers, messages per producer) of the seed's matrix.
fn matrix_cases() -> impl Iterator<Item = (usize, usize, usize, u64)> {
    PRODUCERS
        .into_iter()
        .flat_map(|p| CONSUMERS.into_iter().flat_map(move |c| MESSAGES.map(|n| (p, c, n))))
        .enumerate()
        .map(|(case, (p, c, n))| (case, p, c, n))
}

/// The claim mode of producer `id` in matrix case `case`: every mode is used at every shape.
fn matrix_mode(case: usize, id: usize) -> ClaimMode {
    ClaimMode::all(MATRIX_CAPACITY)[(case + id) % 3]
}

/// The wait strategy of producer `id` in matrix case `case`.
fn producer_wait(case: usize, id: usize) -> WaitStrategy {
    TEST_WAITS[(case + 2 * id + 1) % 3]
}

/// The wait strategy of consumer `index` in matrix case `case`.
fn consumer_wait(case: usize, index: usize) -> WaitStrategy {
    TEST_WAITS[(case / 3 + index) % 3]
}

/// Checks the consumers' checksums against the producers' and the ring's final sequences.
fn check_matrix_case(
    what: &str,
    ring: &Disruptor<Msg256>,
    produced: &[Checksum],
    consumed: &[Checksum],
    total: u64,
) {
    let expected = produced.iter().copied().fold(Checksum::default(), Checksum::merge);
    assert_eq!(expected.messages, total, "{what}: producers wrote {} messages", expected.messages);
    for (i, got) in consumed.iter().enumerate() {
        assert_eq!(*got, expected, "{what}: consumer {i} read other bytes than were produced");
    }
    assert_eq!(ring.cursor(), total, "{what}: cursor");
    assert_eq!(ring.claim_sequence(), total, "{what}: claim sequence");
    for i in 0..consumed.len() {
        assert_eq!(ring.consumer_sequence(i), Some(total), "{what}: consumer {i} sequence");
    }
}

#[test]
fn matrix_in_processes() {
    let _serial = serial();
    let started = Instant::now();
    for (case, p, c, n) in matrix_cases() {
        let what = format!("processes: {p} producer(s) x {c} consumer(s) x {n} message(s)");
        let case_started = Instant::now();
        let guard = SegmentGuard::new(&format!("mp-p{p}-c{c}-n{n}"));
        let ring = create::<Msg256>(&guard, MATRIX_CAPACITY, c);
        let total = p as u64 * n;
        let mut group = ChildGroup::new();
        let consumers: Vec<ChildId> = (0..c)
            .map(|i| {
                let wait = wait_name(consumer_wait(case, i));
                let args: [&dyn ToString; 4] = [&guard.name(), &i, &total, &wait];
                let label = format!("{what}: consumer {i} ({wait})");
                group.spawn(label, command(CHECKSUM_CONSUMER, &args))
            })
            .collect();
        let producers: Vec<ChildId> = (0..p)
            .map(|id| {
                let (mode, wait) = (matrix_mode(case, id), wait_name(producer_wait(case, id)));
                let args: [&dyn ToString; 5] = [&guard.name(), &id, &n, &mode, &wait];
                let label = format!("{what}: producer {id} ({mode}, {wait})");
                group.spawn(label, command(CHECKSUM_PRODUCER, &args))
            })
            .collect();
        group.wait_all(CASE_TIMEOUT);
        let parse = |ids: &[ChildId]| -> Vec<Checksum> {
            ids.iter().map(|&id| Checksum::parse(group.stdout(id))).collect()
        };
        check_matrix_case(&what, &ring, &parse(&producers), &parse(&consumers), total);
        eprintln!("{what}: {:?}", case_started.elapsed());
    }
    eprintln!("matrix in processes: {:?} in all", started.elapsed());
}

#[test]
fn matrix_in_threads() {
    type Handles<'scope> = Vec<ScopedJoinHandle<'scope, Result<Checksum, String>>>;
    let _serial = serial();
    let started = Instant::now();
    for (case, p, c, n) in matrix_cases() {
        let what = format!("threads: {p} producer(s) x {c} consumer(s) x {n} message(s)");
        let case_started = Instant::now();
        let guard = SegmentGuard::new(&format!("mt-p{p}-c{c}-n{n}"));
        let ring = create::<Msg256>(&guard, MATRIX_CAPACITY, c);
        let total = p as u64 * n;
        // Every wait inside the loops has a deadline, so every thread ends.
        let (produced, consumed) = std::thread::scope(|s| {
            let consumers: Handles<'_> = (0..c)
                .map(|i| {
                    let ring = ring.clone();
                    s.spawn(move || consume_checksum(&ring, i, total, consumer_wait(case, i)))
                })
                .collect();
            let producers: Handles<'_> = (0..p)
                .map(|id| {
                    let ring = ring.clone();
                    let (mode, wait) = (matrix_mode(case, id), producer_wait(case, id));
                    s.spawn(move || produce_random(&ring, id as u32, n, mode, wait))
                })
                .collect();
            let join = |handles: Handles<'_>| -> Vec<Checksum> {
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| panic!("{what}: a thread panicked"))
                            .unwrap_or_else(|e| panic!("{what}: {e}"))
                    })
                    .collect()
            };
            (join(producers), join(consumers))
        });
        check_matrix_case(&what, &ring, &produced, &consumed, total);
        eprintln!("{what}: {:?}", case_started.elapsed());
    }
    eprintln!("matrix in threads: {:?} in all", started.elapsed());
}

/// Spawns a stamped consumer that must attach at `start` and read, per producer `p`, its
/// messages `firsts[p]..finals[p]`.
fn spawn_stamped_consumer(
    group: &mut ChildGroup,
    name: &str,
    index: usize,
    start: u64,
    firsts: &[u64],
    finals: &[u64],
    wait: WaitStrategy,
) -> ChildId {
    let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let (firsts, finals, wait) = (list(firsts), list(finals), wait_name(wait));
    let args: [&dyn ToString; 6] = [&name, &index, &start, &firsts, &finals, &wait];
    let label = format!("stamped consumer {index} (from {start}, {firsts}..{finals}, {wait})");
    group.spawn(label, command(STAMPED_CONSUMER, &args))
}

/// Spawns stamped producer `id`, writing its messages `0..count`.
fn spawn_stamped_producer(
    group: &mut ChildGroup,
    name: &str,
    id: u32,
    count: u64,
    mode: ClaimMode,
    wait: WaitStrategy,
) -> ChildId {
    let wait = wait_name(wait);
    let args: [&dyn ToString; 5] = [&name, &id, &count, &mode, &wait];
    let label = format!("stamped producer {id} ({count}, {mode}, {wait})");
    group.spawn(label, command(STAMPED_PRODUCER, &args))
}

/// Every consumer's verdict is `ok`, having read `messages`.
fn assert_verdicts(group: &ChildGroup, consumers: &[ChildId], messages: u64) {
    for &id in consumers {
        let out = group.stdout(id);
        assert_eq!(field::<String>(out, "verdict"), "ok", "{out}");
        assert_eq!(field::<u64>(out, "messages"), messages, "{out}");
    }
}

#[test]
fn stress_ten_million_stamped_messages_through_64_slots() {
    const PER_PRODUCER: u64 = 5_000_000;
    const CAPACITY: usize = 64;
    let _serial = serial();
    let started = Instant::now();
    let guard = SegmentGuard::new("stress");
    let name = guard.name();
    let ring = create::<Stamped>(&guard, CAPACITY, 2);
    let mut group = ChildGroup::new();
    let (firsts, finals) = ([0; 2], [PER_PRODUCER; 2]);
    let consumers: Vec<ChildId> = (0..2)
        .map(|i| spawn_stamped_consumer(&mut group, name, i, 0, &firsts, &finals, TEST_WAITS[i]))
        .collect();
    let modes = [ClaimMode::Available(32), ClaimMode::Many(32)];
    for (id, mode) in (0..2).zip(modes) {
        spawn_stamped_producer(&mut group, name, id, PER_PRODUCER, mode, WaitStrategy::Yield);
    }
    group.wait_all(STRESS_TIMEOUT);
    assert_verdicts(&group, &consumers, 2 * PER_PRODUCER);
    let switches: u64 = field(group.stdout(consumers[0]), "switches");
    assert_eq!(ring.cursor(), 2 * PER_PRODUCER, "{}", ring_state(&ring));
    let elapsed = started.elapsed();
    eprintln!(
        "stress: {} messages, 2 producers x 2 consumers (processes), {CAPACITY} slots: {elapsed:?} \
         ({:.2} M messages/s, {switches} producer switches)",
        2 * PER_PRODUCER,
        (2 * PER_PRODUCER) as f64 / elapsed.as_secs_f64() / 1e6
    );
}

/// Consumer 0 reads everything from the start. Consumer 1 is first owned by a process that
/// reads `FIRST` messages and exits, which stops the producer `CAPACITY` slots later; a second
/// process then attaches consumer 1 mid-stream and must resume exactly at sequence `FIRST`,
/// receiving every later message once, in order.
#[test]
fn late_consumer_resumes_at_its_committed_sequence() {
    const TOTAL: u64 = 20_000;
    const FIRST: u64 = 5_000;
    const CAPACITY: usize = 64;
    let _serial = serial();
    let started = Instant::now();
    let guard = SegmentGuard::new("late-consumer");
    let name = guard.name();
    let ring = create::<Stamped>(&guard, CAPACITY, 2);
    let mut group = ChildGroup::new();
    let wait = WaitStrategy::Yield;
    let producer =
        spawn_stamped_producer(&mut group, name, 0, TOTAL, ClaimMode::Available(16), wait);
    let full = spawn_stamped_consumer(&mut group, name, 0, 0, &[0], &[TOTAL], wait);
    let early = spawn_stamped_consumer(&mut group, name, 1, 0, &[0], &[FIRST], wait);
    group.wait_for(&[early], CASE_TIMEOUT);

    // Production has started, and is held back by consumer 1, which nobody owns now.
    assert_eq!(ring.consumer_sequence(1), Some(FIRST), "{}", ring_state(&ring));
    let claimed = ring.claim_sequence();
    assert!(
        (FIRST..=FIRST + CAPACITY as u64).contains(&claimed),
        "the producer must be past {FIRST} and at most {CAPACITY} slots ahead of consumer 1: {}",
        ring_state(&ring)
    );
    assert!(!group.has_exited(producer), "the producer finished without consumer 1");

    let late = spawn_stamped_consumer(&mut group, name, 1, FIRST, &[FIRST], &[TOTAL], wait);
    group.wait_all(CASE_TIMEOUT);
    assert_verdicts(&group, &[full], TOTAL);
    assert_verdicts(&group, &[early], FIRST);
    assert_verdicts(&group, &[late], TOTAL - FIRST);
    assert_eq!(ring.consumer_sequence(1), Some(TOTAL), "{}", ring_state(&ring));
    eprintln!("late consumer (resumed at {FIRST} of {TOTAL}): {:?}", started.elapsed());
}

/// Producer 0 starts; a first consumer process reads `EARLY` of its messages and exits, which
/// stops producer 0 at most `CAPACITY` slots later, mid-stream. Producer 1's process starts then,
/// and must claim after everything claimed before it started. A second consumer process resumes
/// at `EARLY` and checks both streams arrive complete, each in order.
#[test]
fn late_producer_claims_after_the_others() {
    const FIRST_COUNT: u64 = 50_000;
    const LATE_COUNT: u64 = 20_000;
    const EARLY: u64 = 1_000;
    const CAPACITY: usize = 64;
    let _serial = serial();
    let started = Instant::now();
    let guard = SegmentGuard::new("late-producer");
    let name = guard.name();
    let ring = create::<Stamped>(&guard, CAPACITY, 1);
    let mut group = ChildGroup::new();
    let wait = WaitStrategy::Yield;
    let first =
        spawn_stamped_producer(&mut group, name, 0, FIRST_COUNT, ClaimMode::Available(16), wait);
    let early = spawn_stamped_consumer(&mut group, name, 0, 0, &[0, 0], &[EARLY, 0], wait);
    group.wait_for(&[early], CASE_TIMEOUT);

    // Producer 0 is under way and held back by the consumer, which nobody owns now.
    let observed = ring.claim_sequence();
    assert!(
        (EARLY..=EARLY + CAPACITY as u64).contains(&observed),
        "producer 0 must be past {EARLY} and at most {CAPACITY} slots ahead of the consumer: {}",
        ring_state(&ring)
    );
    assert!(!group.has_exited(first), "producer 0 finished without the consumer");

    let late =
        spawn_stamped_producer(&mut group, name, 1, LATE_COUNT, ClaimMode::Available(8), wait);
    let rest = [FIRST_COUNT, LATE_COUNT];
    let consumer = spawn_stamped_consumer(&mut group, name, 0, EARLY, &[EARLY, 0], &rest, wait);
    group.wait_all(CASE_TIMEOUT);

    let out = group.stdout(late);
    let first_claim: u64 = field(out, "first_claim");
    let seen_at_open: u64 = field(out, "observed");
    assert!(seen_at_open >= observed, "the claim sequence went backwards: {out}");
    assert!(
        first_claim >= observed,
        "the late producer claimed {first_claim}, below {observed}: {out}"
    );
    let first_out = group.stdout(first);
    assert_eq!(field::<u64>(first_out, "first_claim"), 0, "{first_out}");
    assert_verdicts(&group, &[early], EARLY);
    assert_verdicts(&group, &[consumer], FIRST_COUNT - EARLY + LATE_COUNT);
    assert_eq!(ring.cursor(), FIRST_COUNT + LATE_COUNT, "{}", ring_state(&ring));
    let switches: u64 = field(group.stdout(consumer), "switches");
    eprintln!(
        "late producer (started at claim sequence {observed}, first claim {first_claim}, \
         {switches} producer switches): {:?}",
        started.elapsed()
    );
}

// --- The seed's scale: 100 x 100 in threads, 10 x 10 in processes ------------------------------

/// Where the seed-scale matrix runs its producers and consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Threads,
    Processes,
}

/// What one run of the seed-scale matrix saw: each producer's output and each consumer's verdict.
struct ScaleOutcome {
    /// Per producer: the first sequence it claimed and the digest sum of what it wrote.
    sent: Vec<StampedSent>,
    /// Per consumer: its verdict line (see [`consume_stamped`]).
    verdicts: Vec<String>,
}

/// The claim mode of producer `id` of the seed-scale matrix: the three claim calls in turn.
fn scale_mode(capacity: usize, id: usize) -> ClaimMode {
    ClaimMode::all(capacity)[id % 3]
}

/// Runs `p` stamped producers and `c` stamped consumers as threads of this process. Every
/// producer attaches before any produces, so all `p` producer records are held at once; a
/// producer more is then refused. Every wait inside the loops has a deadline, so every thread
/// ends.
fn scale_in_threads(ring: &Disruptor<Stamped>, p: usize, c: usize, n: u64) -> ScaleOutcome {
    let plan = StampedPlan { start: 0, firsts: vec![0; p], finals: vec![n; p] };
    let capacity = ring.capacity();
    // The producers and this thread: once when every producer is attached, once to start.
    let (attached, go) = (Barrier::new(p + 1), Barrier::new(p + 1));
    let (sent, verdicts, one_too_many) = std::thread::scope(|s| {
        let consumers: Vec<_> = (0..c)
            .map(|i| {
                let plan = &plan;
                s.spawn(move || {
                    let verdict = consume_stamped(ring, i, plan, TEST_WAITS[i % 3]);
                    if verdict.is_err() {
                        // Let the producers finish, so that the test fails now, with this error.
                        if let Ok(consumer) = ring.consumer(i) {
                            consumer.release();
                        }
                    }
                    verdict
                })
            })
            .collect();
        let producers: Vec<_> = (0..p)
            .map(|id| {
                let (attached, go) = (&attached, &go);
                s.spawn(move || {
                    // Both barriers are passed whatever happens, so that nobody waits forever.
                    let producer = ring.producer();
                    attached.wait();
                    go.wait();
                    let mut producer = producer.map_err(|e| format!("producer {id}: {e}"))?;
                    producer.set_wait_strategy(TEST_WAITS[(id + 1) % 3]);
                    produce_stamped_with(&mut producer, id as u32, n, scale_mode(capacity, id))
                })
            })
            .collect();
        attached.wait();
        // Every record is held now: one producer more must be refused (checked after `go`).
        let one_too_many = ring.producer().map(drop);
        go.wait();
        // Every error names its producer or consumer and what it saw.
        fn join<T>(h: ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
            h.join().unwrap_or_else(|_| panic!("a thread panicked"))
        }
        let sent: Vec<_> = producers.into_iter().map(join).collect();
        let verdicts: Vec<_> = consumers.into_iter().map(join).collect();
        (sent, verdicts, one_too_many)
    });
    // A consumer's error first: a producer's is often only its consequence (a timeout).
    let verdicts: Result<Vec<String>, String> = verdicts.into_iter().collect();
    let sent: Result<Vec<StampedSent>, String> = sent.into_iter().collect();
    let (verdicts, sent) = match (verdicts, sent) {
        (Ok(verdicts), Ok(sent)) => (verdicts, sent),
        (Err(e), _) | (_, Err(e)) => panic!("{e}"),
    };
    assert_eq!(
        one_too_many,
        Err(AttachError::TooManyProducers { max: p }),
        "with all {p} producer records held, producer {} must be refused",
        p + 1
    );
    ScaleOutcome { sent, verdicts }
}

/// Runs `p` `stamped_producer` and `c` `stamped_consumer` processes.
fn scale_in_processes(ring: &Disruptor<Stamped>, p: usize, c: usize, n: u64) -> ScaleOutcome {
    let name = ring.name();
    let capacity = ring.capacity();
    let mut group = ChildGroup::new();
    let (firsts, finals) = (vec![0; p], vec![n; p]);
    let consumers: Vec<ChildId> = (0..c)
        .map(|i| {
            spawn_stamped_consumer(&mut group, name, i, 0, &firsts, &finals, TEST_WAITS[i % 3])
        })
        .collect();
    let producers: Vec<ChildId> = (0..p)
        .map(|id| {
            let (mode, wait) = (scale_mode(capacity, id), TEST_WAITS[(id + 1) % 3]);
            spawn_stamped_producer(&mut group, name, id as u32, n, mode, wait)
        })
        .collect();
    group.wait_all(CASE_TIMEOUT);
    let sent = producers
        .iter()
        .map(|&id| {
            let out = group.stdout(id);
            assert_eq!(field::<u64>(out, "messages"), n, "{out}");
            StampedSent { first_claim: Some(field(out, "first_claim")), sum: field(out, "sum") }
        })
        .collect();
    let verdicts = consumers.iter().map(|&id| group.stdout(id).to_owned()).collect();
    ScaleOutcome { sent, verdicts }
}

/// The seed-scale matrix: `p` producers x `c` consumers, `n` [`Stamped`] messages per producer,
/// through a ring of `capacity` slots with exactly `p` producer records. Every consumer must
/// read all `p * n` messages exactly once, each producer's `0..n` in order and untorn (checked
/// message by message by [`consume_stamped`]), and its digest sum must equal the sum of what
/// the producers wrote.
fn scale_matrix(runner: Runner, p: usize, c: usize, n: u64, capacity: usize) {
    let _serial = serial();
    let started = Instant::now();
    let what = format!("{runner:?}: {p} producers x {c} consumers x {n} messages");
    let guard = SegmentGuard::new(&format!("scale-p{p}-c{c}"));
    let ring = Disruptor::<Stamped>::builder(guard.name())
        .capacity(capacity)
        .consumers(c)
        .producers(p)
        .create()
        .unwrap_or_else(|e| panic!("{what}: creating the ring: {e}"));
    assert_eq!(ring.consumer_count(), c);
    let outcome = match runner {
        Runner::Threads => scale_in_threads(&ring, p, c, n),
        Runner::Processes => scale_in_processes(&ring, p, c, n),
    };
    let total = p as u64 * n;
    assert_eq!(outcome.sent.len(), p);
    let expected_sum = outcome.sent.iter().fold(0u64, |sum, s| sum.wrapping_add(s.sum));
    let every_producer_done = vec![n.to_string(); p].join(",");
    assert_eq!(outcome.verdicts.len(), c);
    for (i, out) in outcome.verdicts.iter().enumerate() {
        assert_eq!(field::<String>(out, "verdict"), "ok", "{what}: consumer {i}: {out}");
        assert_eq!(field::<u64>(out, "messages"), total, "{what}: consumer {i}: {out}");
        assert_eq!(
            field::<String>(out, "next"),
            every_producer_done,
            "{what}: consumer {i} must have read every producer's messages 0..{n}"
        );
        assert_eq!(
            field::<u64>(out, "sum"),
            expected_sum,
            "{what}: consumer {i}'s digest sum differs from the producers' total: {out}"
        );
    }
    // Every producer claimed a range of its own.
    let mut firsts: Vec<u64> = outcome.sent.iter().filter_map(|s| s.first_claim).collect();
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(firsts.len(), p, "{what}: two producers' first claims coincide");
    assert!(firsts.iter().all(|&f| f < total), "{what}: a claim past the end: {firsts:?}");
    // Nothing more was published, and everyone committed everything.
    assert_eq!(ring.cursor(), total, "{what}: {}", ring_state(&ring));
    assert_eq!(ring.claim_sequence(), total, "{what}: {}", ring_state(&ring));
    for i in 0..c {
        assert_eq!(ring.consumer_sequence(i), Some(total), "{what}: consumer {i}");
    }
    // Every record was let go: all `p` can be attached again.
    let again: Result<Vec<_>, _> = (0..p).map(|_| ring.producer()).collect();
    assert!(again.is_ok(), "{what}: the producer records were not all freed: {again:?}");
    let switches: u64 = field(&outcome.verdicts[0], "switches");
    eprintln!(
        "{what}, {capacity} slots: {:?} ({switches} producer switches seen by consumer 0)",
        started.elapsed()
    );
}

#[test]
fn seed_scale_100_producers_x_100_consumers_in_threads() {
    // 10,000 messages through 256 slots: every producer finds the ring full many times.
    scale_matrix(Runner::Threads, 100, 100, 100, 256);
}

#[test]
fn seed_scale_10_producers_x_10_consumers_in_processes() {
    // 50,000 messages through 64 slots, so that the producer processes, started one after
    // another, overlap for most of their run.
    scale_matrix(Runner::Processes, 10, 10, 5000, 64);
}
