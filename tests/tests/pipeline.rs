//! Consumer dependency graphs across processes (`stage_actor`): diamond, chain and fan-out, with
//! message-level checks that a stage never sees a slot before the stages it depends on have
//! committed it (their sequences, and the marks they wrote in place); refused graphs; a stage
//! killed and restarted resumes; typed forwarding between rings.
//!
//! Graphs no 64-bit mask can express: 200 stages, where stage 199 follows stages 0..=197 and
//! stage 198 follows stage 150, checked step by step (what each stage may see, how much room
//! producers get) and end to end (200 stage threads, each attached through its own `open`);
//! and cycles, unknown indices and self-dependencies beyond index 64 refused at create.

use std::time::{Duration, Instant};

use shm_disruptor::{AttachError, ClaimError, Disruptor, OpenError, Slot, WaitStrategy};
use shm_disruptor_tests::SegmentGuard;

mod common;
use common::{Actor, LIMIT};

/// The same layout as `stage_actor`'s message (declared there too: the schema hashes agree).
#[derive(Slot, Clone, Copy, Debug)]
#[repr(C)]
struct Staged {
    seq: u64,
    marks: [u64; 3],
}

const COUNT: u64 = 20_000;

fn ring(guard: &SegmentGuard, dependencies: &[(usize, &[usize])]) -> Disruptor<Staged> {
    let mut builder = Disruptor::<Staged>::builder(guard.name()).capacity(64).consumers(3);
    for &(consumer, after) in dependencies {
        builder = builder.depends_on(consumer, after);
    }
    builder.create().unwrap()
}

fn stage(guard: &SegmentGuard, index: usize, count: u64, options: &[&str]) -> Actor {
    let (index, count) = (index.to_string(), count.to_string());
    let mut args = vec![guard.name(), &index, &count];
    args.extend_from_slice(options);
    Actor::start(env!("CARGO_BIN_EXE_stage_actor"), &args)
}

fn produce(ring: &Disruptor<Staged>, count: u64) {
    let mut producer = ring.producer().unwrap();
    producer.set_wait_strategy(WaitStrategy::Yield);
    let mut sent = 0;
    while sent < count {
        let mut claim = producer.claim_available_timeout((count - sent) as usize, LIMIT).unwrap();
        let start = claim.start();
        for (i, msg) in claim.iter_mut().enumerate() {
            *msg = Staged { seq: start + i as u64, marks: [0; 3] };
        }
        sent += claim.len() as u64;
        claim.commit();
    }
}

fn finish(stages: Vec<Actor>, count: u64) {
    for mut stage in stages {
        assert_eq!(stage.expect("START"), vec![0]);
        assert_eq!(stage.expect("DONE"), vec![count]);
    }
}

#[test]
fn diamond() {
    // 0 and 1 in parallel, 2 after both.
    let guard = SegmentGuard::new("graph-diamond");
    let ring = ring(&guard, &[(2, &[0, 1])]);
    assert_eq!(ring.dependencies(2), Some(&[0, 1][..]));
    assert_eq!(ring.dependencies(3), None, "out of range");
    assert_eq!(
        ring.exclusive_consumer(0).unwrap_err(),
        AttachError::NotExclusive { index: 0, concurrent: 1 }
    );
    let stages = vec![
        stage(&guard, 0, COUNT, &[]),
        stage(&guard, 1, COUNT, &[]),
        stage(&guard, 2, COUNT, &[]),
    ];
    produce(&ring, COUNT);
    finish(stages, COUNT);
}

#[test]
fn chain_enriches_in_place() {
    // 0 -> 1 -> 2: each stage checks the marks of those before it and adds its own.
    let guard = SegmentGuard::new("graph-chain");
    let ring = ring(&guard, &[(1, &[0]), (2, &[1])]);
    let stages = vec![
        stage(&guard, 0, COUNT, &["--mark", "0"]),
        stage(&guard, 1, COUNT, &["--check", "0", "--mark", "1"]),
        stage(&guard, 2, COUNT, &["--check", "0,1", "--mark", "2"]),
    ];
    produce(&ring, COUNT);
    finish(stages, COUNT);
}

#[test]
fn fan_out_after_an_enriching_stage() {
    // 0 marks; 1 and 2 both follow 0 and read its marks in parallel.
    let guard = SegmentGuard::new("graph-fanout");
    let ring = ring(&guard, &[(1, &[0]), (2, &[0])]);
    assert!(ring.exclusive_consumer(1).is_err());
    let stages = vec![
        stage(&guard, 0, COUNT, &["--mark", "0"]),
        stage(&guard, 1, COUNT, &["--check", "0"]),
        stage(&guard, 2, COUNT, &["--check", "0"]),
    ];
    produce(&ring, COUNT);
    finish(stages, COUNT);
}

#[test]
fn bad_graphs_are_refused() {
    let guard = SegmentGuard::new("graph-bad");
    let build = |deps: &[(usize, &[usize])]| {
        let mut builder = Disruptor::<Staged>::builder(guard.name()).capacity(8).consumers(3);
        for &(c, after) in deps {
            builder = builder.depends_on(c, after);
        }
        builder.create().map(|_| ()).unwrap_err()
    };
    let err = build(&[(0, &[1]), (1, &[2]), (2, &[0])]);
    assert!(matches!(&err, OpenError::InvalidConfig(m) if m.contains("cycle")), "{err}");
    let err = build(&[(1, &[1])]);
    assert!(err.to_string().contains("depends on itself"), "{err}");
    let err = build(&[(1, &[3])]);
    assert!(err.to_string().contains("out of range"), "{err}");
    let err = build(&[(4, &[0])]);
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn a_killed_stage_restarts_where_it_committed() {
    let guard = SegmentGuard::new("graph-restart");
    let ring = ring(&guard, &[(1, &[0]), (2, &[1])]);
    let mut first = stage(&guard, 0, COUNT, &["--mark", "0"]);
    let mut middle =
        stage(&guard, 1, COUNT, &["--check", "0", "--mark", "1", "--hang-after", "5000"]);
    let mut last = stage(&guard, 2, COUNT, &["--check", "0,1"]);
    std::thread::scope(|s| {
        s.spawn(|| produce(&ring, COUNT));
        assert_eq!(middle.expect("START"), vec![0]);
        assert_eq!(middle.expect("HUNG"), vec![5000]);
        // Kill it (and reap it): the stage after it stalls at 5000 and must stay correct.
        middle.kill();
        let mut middle = stage(&guard, 1, COUNT - 5000, &["--check", "0", "--mark", "1"]);
        assert_eq!(middle.expect("START"), vec![5000], "resumed from the committed sequence");
        assert_eq!(middle.expect("DONE"), vec![COUNT - 5000]);
    });
    assert_eq!(first.expect("START"), vec![0]);
    assert_eq!(first.expect("DONE"), vec![COUNT]);
    assert_eq!(last.expect("START"), vec![0]);
    assert_eq!(last.expect("DONE"), vec![COUNT]);
}

#[test]
fn forward_to_chains_typed_rings() {
    let a_guard = SegmentGuard::new("fwd-a");
    let b_guard = SegmentGuard::new("fwd-b");
    let a = Disruptor::<u64>::builder(a_guard.name()).capacity(16).consumers(1).create().unwrap();
    let b =
        Disruptor::<[u64; 2]>::builder(b_guard.name()).capacity(8).consumers(1).create().unwrap();
    let mut source = a.consumer(0).unwrap();
    let mut into_b = b.producer().unwrap();
    let mut sink = b.consumer(0).unwrap();
    let mut producer = a.producer().unwrap();
    producer.claim_many(12).unwrap().iter_mut().enumerate().for_each(|(i, v)| *v = i as u64);
    // (dropped while newest: rolled back) - claim and commit for real:
    let mut batch = producer.claim_many(12).unwrap();
    batch.iter_mut().enumerate().for_each(|(i, v)| *v = i as u64);
    batch.commit();
    // 12 messages into a ring of 8: forwarded in two claims, the first 8 only after the sink
    // consumed them; do it from another thread.
    std::thread::scope(|s| {
        let forwarding =
            s.spawn(|| source.forward_to(&mut into_b, LIMIT, |&x, out| *out = [x, x * x]));
        let mut got = Vec::new();
        while got.len() < 12 {
            let batch = sink.consume_timeout(LIMIT).unwrap();
            got.extend(batch.iter().copied());
            batch.commit();
        }
        assert_eq!(forwarding.join().unwrap(), Ok(12));
        assert_eq!(got, (0..12).map(|x| [x, x * x]).collect::<Vec<_>>());
    });
    assert_eq!(a.consumer_sequence(0), Some(12), "the source batch was committed");
    // A failure part-way commits what was forwarded.
    let mut batch = producer.claim_many(10).unwrap();
    batch.iter_mut().for_each(|v| *v = 7);
    batch.commit();
    let err = source
        .forward_to(&mut into_b, Duration::from_millis(30), |&x, out| *out = [x, 0])
        .unwrap_err();
    assert!(
        matches!(err, shm_disruptor::ForwardError::Claim(shm_disruptor::ClaimError::Timeout)),
        "{err}"
    );
    assert_eq!(a.consumer_sequence(0), Some(20), "the 8 forwarded are committed, 2 remain");
}

// --- Graphs beyond 64 consumers ---------------------------------------------------------------

const WIDE: usize = 200;

/// The wide graph, as `(consumer, dependencies)`: stage 199 follows stages 0..=197, stage 198
/// follows stage 150; the others follow the cursor.
fn wide_graph() -> Vec<(usize, Vec<usize>)> {
    vec![(199, (0..=197).collect()), (198, vec![150])]
}

/// Per consumer, the stages it follows, as the test declared them.
fn dependency_lists(count: usize, graph: &[(usize, Vec<usize>)]) -> Vec<Vec<usize>> {
    let mut lists = vec![Vec::new(); count];
    for (consumer, after) in graph {
        lists[*consumer].extend_from_slice(after);
    }
    lists
}

/// The stages no other stage follows: the ones producers must wait for.
fn last_stages(lists: &[Vec<usize>]) -> Vec<usize> {
    (0..lists.len()).filter(|c| !lists.iter().any(|l| l.contains(c))).collect()
}

fn wide_ring(guard: &SegmentGuard, capacity: usize) -> Disruptor<Staged> {
    let mut builder = Disruptor::<Staged>::builder(guard.name()).capacity(capacity).consumers(WIDE);
    for (consumer, after) in wide_graph() {
        builder = builder.depends_on(consumer, &after);
    }
    builder.create().unwrap()
}

/// Claims and commits `n` messages (their `seq` is their sequence); fails if fewer fit.
fn publish(producer: &mut shm_disruptor::Producer<Staged>, n: usize) {
    let mut claim = producer.try_claim_many(n).unwrap();
    let start = claim.start();
    for (i, msg) in claim.iter_mut().enumerate() {
        *msg = Staged { seq: start + i as u64, marks: [0; 3] };
    }
    claim.commit();
}

#[test]
fn a_200_stage_graph_gates_producers_on_its_last_stages_only() {
    const CAPACITY: usize = 16;
    const LAGGARD: usize = 130; // one of stage 199's dependencies, far beyond index 63
    let lists = dependency_lists(WIDE, &wide_graph());
    assert_eq!(last_stages(&lists), [198, 199], "the stages producers wait for");
    let guard = SegmentGuard::new("graph-wide-steps");
    let created = wide_ring(&guard, CAPACITY);
    // Everything below goes through a handle that read the graph back from the segment.
    let ring = Disruptor::<Staged>::builder(guard.name()).consumers(WIDE).open().unwrap();
    drop(created);
    for (c, list) in lists.iter().enumerate() {
        assert_eq!(ring.dependencies(c), Some(&list[..]), "consumer {c}'s dependencies");
    }
    assert_eq!(ring.dependencies(WIDE), None);
    let mut producer = ring.producer().unwrap();
    let mut stages: Vec<_> = (0..WIDE).map(|c| ring.consumer(c).unwrap()).collect();
    // How many slots stage `c` may see now (the batch is dropped: delivered again).
    let visible =
        |stages: &mut Vec<shm_disruptor::Consumer<Staged>>, c: usize| stages[c].try_consume().len();
    // Commits the next `n` slots of stage `c`, which must see at least `n`.
    let commit = |stages: &mut Vec<shm_disruptor::Consumer<Staged>>, c: usize, n: usize| {
        let batch = stages[c].try_consume();
        assert!(batch.len() >= n, "stage {c} sees {} slots, fewer than {n}", batch.len());
        let start = batch.start();
        for (i, msg) in batch.iter().take(n).enumerate() {
            assert_eq!(msg.seq, start + i as u64, "stage {c} at {}", start + i as u64);
        }
        batch.commit_first(n);
    };

    // The ring is full: nobody has consumed yet.
    publish(&mut producer, CAPACITY);
    assert_eq!(producer.try_claim().map(drop).unwrap_err(), ClaimError::Full);
    assert_eq!(visible(&mut stages, 0), 16);
    assert_eq!(visible(&mut stages, 197), 16);
    assert_eq!(visible(&mut stages, 198), 0, "stage 150 has not committed");
    assert_eq!(visible(&mut stages, 199), 0, "none of 0..=197 has committed");

    // Every stage 0..=197 but the laggard commits all 16, the laggard 5.
    for c in (0..=197).filter(|&c| c != LAGGARD) {
        commit(&mut stages, c, 16);
    }
    assert_eq!(visible(&mut stages, 199), 0, "stage {LAGGARD} has not committed");
    commit(&mut stages, LAGGARD, 5);
    assert_eq!(
        visible(&mut stages, 199),
        5,
        "stage 199 sees what its slowest dependency committed"
    );
    assert_eq!(visible(&mut stages, 198), 16, "stage 150 committed everything");
    // The first stages are done, but producers wait for the last ones.
    assert_eq!(producer.try_claim().map(drop).unwrap_err(), ClaimError::Full);
    commit(&mut stages, 199, 3);
    commit(&mut stages, 198, 10);
    // Room for what the slower last stage (199, at 3) has committed.
    assert_eq!(producer.try_claim_available(CAPACITY).unwrap().len(), 3);
    publish(&mut producer, 3); // 16..19
    assert_eq!(producer.try_claim().map(drop).unwrap_err(), ClaimError::Full);

    // The laggard catches up; 199 follows; now 198 (at 10) is the slower last stage.
    commit(&mut stages, LAGGARD, 11);
    assert_eq!(visible(&mut stages, 199), 13, "up to 16: 16..19 are unread by 0..=197");
    commit(&mut stages, 199, 13);
    assert_eq!(producer.try_claim_available(CAPACITY).unwrap().len(), 7, "199 at 16, 198 at 10");
    publish(&mut producer, 7); // 19..26
    assert_eq!(visible(&mut stages, 198), 6, "stage 150 is at 16");
    commit(&mut stages, 150, 10);
    assert_eq!(visible(&mut stages, 198), 16, "stage 150 is at 26");
    commit(&mut stages, 198, 16);
    assert_eq!(producer.try_claim_available(CAPACITY).unwrap().len(), 6, "199 at 16, 198 at 26");
    publish(&mut producer, 6); // 26..32
    assert_eq!(producer.try_claim().map(drop).unwrap_err(), ClaimError::Full);

    // Released, stage 199 hands its place to the 198 stages it followed: producers then wait for
    // the slowest of them (the laggard) and for 198.
    for c in (0..=197).filter(|&c| c != LAGGARD && c != 150) {
        commit(&mut stages, c, 16); // to 32
    }
    commit(&mut stages, 150, 6); // to 32
    commit(&mut stages, LAGGARD, 5); // to 21
    assert_eq!(producer.try_claim().map(drop).unwrap_err(), ClaimError::Full, "199 is at 16");
    stages.pop().unwrap().release();
    assert!(ring.is_released(199));
    assert_eq!(
        producer.try_claim_available(CAPACITY).unwrap().len(),
        5,
        "the laggard (at 21) gates, not 198 (at 26): claimed 32"
    );
    publish(&mut producer, 5); // 32..37
    commit(&mut stages, LAGGARD, 11); // to 32
    assert_eq!(producer.try_claim_available(CAPACITY).unwrap().len(), 5, "198 at 26 gates now");
    commit(&mut stages, 198, 6); // to 32
    assert_eq!(producer.try_claim_available(CAPACITY).unwrap().len(), 11, "every stage at 32");
}

/// Stage `index` of the wide graph reads `count` messages and checks, batch by batch, that
/// every stage in `after` had committed the batch before it became visible, and that each slot
/// holds its own sequence. A `slow` stage commits one slot at a time and yields.
fn run_wide_stage(
    ring: &Disruptor<Staged>,
    index: usize,
    after: &[usize],
    count: u64,
    slow: bool,
) -> Result<u64, String> {
    let mut consumer = ring.consumer(index).map_err(|e| e.to_string())?;
    consumer.set_wait_strategy(if index % 7 == 0 {
        WaitStrategy::Backoff
    } else {
        WaitStrategy::Block
    });
    let mut read = 0;
    while read < count {
        let batch = consumer
            .consume_timeout(LIMIT)
            .map_err(|e| format!("stage {index} after {read}: {e}"))?;
        let range = batch.range();
        // Read after taking the batch: had a dependency not committed the batch before it
        // became visible, its sequence could still be below the end.
        for &dep in after {
            let done = ring.consumer_sequence(dep).unwrap();
            if done < range.end {
                return Err(format!("stage {index} sees {range:?} but stage {dep} is at {done}"));
            }
        }
        let n = if slow { 1 } else { batch.len() };
        for (seq, msg) in range.zip(batch.iter()).take(n) {
            if msg.seq != seq {
                return Err(format!("stage {index}: slot {seq} holds {}", msg.seq));
            }
        }
        batch.commit_first(n);
        read += n as u64;
        if slow {
            std::thread::yield_now();
        }
    }
    Ok(read)
}

#[test]
fn a_200_stage_graph_runs_end_to_end() {
    const CAPACITY: usize = 64;
    const MESSAGES: u64 = 3000;
    // Stages that commit one slot at a time and yield: the windows in which a stage that
    // follows them would see slots too early, were their commits not waited for.
    const SLOW: [usize; 4] = [65, 130, 150, 197];
    let started = Instant::now();
    let lists = dependency_lists(WIDE, &wide_graph());
    let guard = SegmentGuard::new("graph-wide-run");
    let ring = wide_ring(&guard, CAPACITY);
    let name = guard.name();
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let stages: Vec<_> = (0..WIDE)
            .map(|index| {
                let after = &lists[index];
                s.spawn(move || {
                    // Each stage attaches through its own open: the graph read from the segment.
                    let ring = Disruptor::<Staged>::open(name).map_err(|e| e.to_string())?;
                    let result =
                        run_wide_stage(&ring, index, after, MESSAGES, SLOW.contains(&index));
                    if result.is_err() {
                        // Let the producer and the other stages finish: the test fails with
                        // this error, not with a timeout of theirs.
                        if let Ok(consumer) = ring.consumer(index) {
                            consumer.release();
                        }
                    }
                    result
                })
            })
            .collect();
        produce(&ring, MESSAGES);
        stages.into_iter().map(|h| h.join().expect("a stage thread panicked")).collect()
    });
    for (index, result) in results.into_iter().enumerate() {
        assert_eq!(result, Ok(MESSAGES), "stage {index}");
    }
    for c in 0..WIDE {
        assert_eq!(ring.consumer_sequence(c), Some(MESSAGES), "stage {c}");
    }
    assert_eq!(ring.cursor(), MESSAGES);
    eprintln!(
        "{WIDE} stages, {MESSAGES} messages through {CAPACITY} slots: {:?}",
        started.elapsed()
    );
}

#[test]
fn bad_graphs_beyond_64_consumers_are_refused() {
    // A guard: a graph wrongly accepted is removed when the test fails.
    let bad = SegmentGuard::new("graph-wide-bad");
    let name = bad.name();
    let build = |graph: &[(usize, Vec<usize>)]| {
        let mut builder = Disruptor::<Staged>::builder(name).capacity(8).consumers(WIDE);
        for (consumer, after) in graph {
            builder = builder.depends_on(*consumer, after);
        }
        builder.create()
    };
    let refused = |graph: &[(usize, Vec<usize>)], needle: &str| {
        let err = build(graph).map(drop).unwrap_err();
        assert!(matches!(&err, OpenError::InvalidConfig(m) if m.contains(needle)), "{err}");
        assert!(
            matches!(Disruptor::<Staged>::open(name), Err(OpenError::NotFound { .. })),
            "a refused graph leaves nothing behind"
        );
    };
    let wide = wide_graph();
    // A cycle through stages 70, 130 and 199, beside the wide graph.
    let mut cycle = wide.clone();
    cycle.extend([(130, vec![70]), (70, vec![199])]);
    refused(&cycle, "cycle");
    // A chain through all 200 stages is fine; closed, it is a cycle.
    let mut chain: Vec<(usize, Vec<usize>)> = (1..WIDE).map(|c| (c, vec![c - 1])).collect();
    drop(build(&chain).unwrap());
    shm_disruptor::unlink(name).unwrap();
    chain.push((0, vec![WIDE - 1]));
    refused(&chain, "cycle");
    // Self-dependencies.
    refused(&[(150, vec![150])], "depends on itself");
    refused(&[(199, (0..=199).collect())], "depends on itself");
    // Unknown indices.
    refused(&[(199, vec![WIDE])], "out of range");
    refused(&[(WIDE, vec![0])], "out of range");
    // A cycle of two stages 64 apart (which a 64-bit mask would take for one stage).
    refused(&[(65, vec![129]), (129, vec![65])], "cycle");

    // Refusals are not aliasing: stage 100 may follow stage 36 (100 - 64), 164 follow 100.
    let guard = SegmentGuard::new("graph-wide-ok");
    let mut builder = Disruptor::<Staged>::builder(guard.name()).capacity(8).consumers(WIDE);
    builder = builder.depends_on(100, &[36]).depends_on(164, &[100]);
    drop(builder.create().unwrap());
    let ring = Disruptor::<Staged>::open(guard.name()).unwrap();
    assert_eq!(ring.dependencies(100), Some(&[36][..]));
    assert_eq!(ring.dependencies(164), Some(&[100][..]));
    assert_eq!(ring.dependencies(36), Some(&[][..]));
}
