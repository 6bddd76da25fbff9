//! Consumer dependency graphs across processes (`stage_actor`): diamond, chain and fan-out, with
//! message-level checks that a stage never sees a slot before the stages it depends on have
//! committed it (their sequences, and the marks they wrote in place); refused graphs; a stage
//! killed and restarted resumes; typed forwarding between rings.

use std::time::Duration;

use shm_disruptor::{AttachError, Disruptor, OpenError, Slot, WaitStrategy};
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
