//! Loom models of the protocol core: every interleaving (up to a preemption bound) of a few
//! producers and consumers on rings of 1 to 4 slots, running the shipped protocol code over
//! heap memory with loom's atomics and a model of the futex.
//!
//! Run them with `bash .ci/loom` (`RUSTFLAGS="--cfg loom" cargo test -p shm-disruptor --lib
//! --release protocol::models`). Each model prints how many interleavings it explored.
//!
//! What every model asserts, in every interleaving:
//! - no consumer reads a slot before it is published, and no producer writes a slot before
//!   every stage it must wait for has committed it: the slots are loom `UnsafeCell`s, so an
//!   access without a happens-before edge from the last conflicting one fails the model;
//! - every message is delivered once to each consumer index, in sequence order, with the value
//!   its producer wrote (so the cursor never moves past an unpublished claim: a consumer would
//!   read a slot not yet written), and the cursor never moves backwards;
//! - no wake-up is lost: a `Block` waiter sleeps in the futex model with no timeout, so a lost
//!   wake-up is a deadlock, which fails the model.
//!
//! The models named after the trust review's items (1, 2, 4, 5, 6, 9) fail on the code before
//! its fixes (see `PROTOCOL.md`).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

use super::claim::ProducerState;
use super::consume::ConsumerState;
use super::gating::RELEASED;
use super::layout::{Geometry, ProducerMode};
use super::memory::HeapMemory;
use super::ownership;
use super::policy::Policy;
use super::sync::{AtomicU64, Ordering};
use super::wait::{FenceMode, WaitStrategy};
use super::{Core, Graph, Locks};
use crate::ClaimError;

/// A slot of the model: what producers write and consumers read, checked by loom.
struct Cell(UnsafeCell<u64>);

// SAFETY: loom checks every access for races; that is the point of the model.
unsafe impl Sync for Cell {}

/// A ring on the heap, its protocol core, and the model's slots.
struct Harness {
    core: Core,
    slots: Box<[Cell]>,
    // Declared after `core`, whose ring points into it.
    _memory: HeapMemory,
}

impl Harness {
    /// A ring of `capacity` slots with `deps.len()` consumers, `deps[i]` the consumers
    /// consumer `i` follows (four producer records in multi-producer mode).
    fn new(capacity: u64, mode: ProducerMode, deps: &[&[usize]]) -> Arc<Harness> {
        let producers = if mode == ProducerMode::Multi { 4 } else { 1 };
        let geometry = Geometry::new(capacity, deps.len(), producers, 0, 8, 8, mode).unwrap();
        let deps: Vec<Vec<usize>> = deps.iter().map(|d| d.to_vec()).collect();
        let memory = HeapMemory::new(&geometry, mode == ProducerMode::Multi);
        let core = Core::new(
            memory.ring(true),
            &geometry,
            Graph::new(&deps),
            Locks::in_process(),
            mode,
            FenceMode::Fence,
        );
        let slots = (0..capacity).map(|_| Cell(UnsafeCell::new(0))).collect();
        Arc::new(Harness { core, slots, _memory: memory })
    }

    fn write(&self, seq: u64, value: u64) {
        // SAFETY: loom checks the access (a race fails the model).
        self.slots[self.core.ring.index(seq)].0.with_mut(|p| unsafe { *p = value });
    }

    fn read(&self, seq: u64) -> u64 {
        // SAFETY: as in `write`.
        self.slots[self.core.ring.index(seq)].0.with(|p| unsafe { *p })
    }

    fn producer(&self) -> ProducerState {
        ProducerState::attach(&self.core).unwrap()
    }

    fn consumer(&self, index: usize) -> ConsumerState {
        ConsumerState::attach(&self.core, index).unwrap()
    }

    /// Claims `n` slots, sleeping (`Block`, in the futex model) while the ring is full.
    fn claim(&self, producer: &mut ProducerState, n: u64) -> Range<u64> {
        match producer.try_claim(&self.core, n, true) {
            Err(ClaimError::Full) => producer
                .wait_for_room(
                    &self.core,
                    n,
                    true,
                    None,
                    WaitStrategy::Block,
                    &mut Policy::default(),
                )
                .unwrap(),
            other => other.unwrap(),
        }
    }

    /// The seed's `try_commit`: publishes `range` if every earlier claim is published, else
    /// (the claim handed back) commits it without waiting (multi-producer `commit`).
    fn try_commit_then_commit(&self, producer: &mut ProducerState, range: Range<u64>) -> bool {
        let mut policy = Policy::default();
        let at_once =
            producer.publish(&self.core, range.clone(), None, WaitStrategy::Block, &mut policy);
        if !at_once {
            assert!(producer.publish(
                &self.core,
                range,
                Some(None),
                WaitStrategy::Block,
                &mut policy
            ));
        }
        producer.finished(&self.core, false);
        at_once
    }

    /// Writes `value(seq)` into every slot of `range` and commits it.
    fn fill_and_commit(&self, producer: &mut ProducerState, range: Range<u64>, value: u64) {
        for seq in range.clone() {
            self.write(seq, value + seq);
        }
        self.commit(producer, range, false);
    }

    fn commit(&self, producer: &mut ProducerState, range: Range<u64>, recovered: bool) {
        let mut policy = Policy::default();
        assert!(producer.publish(&self.core, range, Some(None), WaitStrategy::Block, &mut policy));
        producer.finished(&self.core, recovered);
    }

    /// Consumes until `count` messages were read, checking each with `check(seq, value)`
    /// (`strategy` waits for data: `Block` sleeps in the futex model).
    fn consume(
        &self,
        consumer: &mut ConsumerState,
        count: u64,
        strategy: WaitStrategy,
        mut check: impl FnMut(u64, u64),
    ) {
        let end = consumer.sequence + count;
        let mut last_cursor = 0;
        while consumer.sequence < end {
            // Relaxed, so that the check adds no happens-before edge that could hide a missing
            // one in the code under test; read-read coherence still makes a cursor moved
            // backwards visible here.
            let cursor = self.core.ring.cursor().load(Ordering::Relaxed);
            assert!(cursor >= last_cursor, "the cursor moved back from {last_cursor} to {cursor}");
            last_cursor = cursor;
            let available = match consumer.available(&self.core) {
                0 => consumer.wait_for_data(&self.core, strategy, None).unwrap(),
                n => n,
            };
            let from = consumer.sequence;
            let to = (from + available).min(end);
            for seq in from..to {
                check(seq, self.read(seq));
            }
            consumer.commit_to(to);
        }
    }
}

/// Runs `model` in every interleaving up to the preemption bound (`LOOM_MAX_PREEMPTIONS`, else
/// `bound`: 3, or 2 for the models of three threads on a full ring, whose state space grows
/// twentyfold from 2 to 3) and prints how many were explored.
fn check(name: &str, bound: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    builder.max_branches = builder.max_branches.max(20_000);
    let bound = builder.preemption_bound;
    // This model's own count (models run on parallel test threads).
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        model();
    });
    let explored = runs.load(StdOrdering::Relaxed);
    println!("loom model {name}: {explored} interleavings explored (preemption bound {bound:?})");
}

/// Two producers claim and commit one message each (one with `commit`, which never waits;
/// one with `try_commit` until it succeeds) into a ring of two slots; a consumer receives both,
/// in order, once each.
#[test]
fn claims_commit_in_order_and_deliver_once() {
    check("claims_commit_in_order_and_deliver_once", 2, || {
        let h = Harness::new(2, ProducerMode::Multi, &[&[]]);
        let h1 = Arc::clone(&h);
        let a = thread::spawn(move || {
            let mut p = h1.producer();
            let range = h1.claim(&mut p, 1);
            h1.fill_and_commit(&mut p, range, 100);
        });
        let h2 = Arc::clone(&h);
        let b = thread::spawn(move || {
            let mut p = h2.producer();
            let range = h2.claim(&mut p, 1);
            h2.write(range.start, 100 + range.start);
            h2.try_commit_then_commit(&mut p, range);
        });
        let mut c = h.consumer(0);
        let mut next = 0;
        h.consume(&mut c, 2, WaitStrategy::Block, |seq, value| {
            assert_eq!((seq, value), (next, 100 + next));
            next += 1;
        });
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// A batch claim that wraps, and a single claim that must wait for the consumer: a ring of
/// two slots, three messages in all; the producers never write a slot the consumer has not
/// committed (loom would see the race).
#[test]
fn claim_many_waits_for_the_consumer_and_wraps() {
    check("claim_many_waits_for_the_consumer_and_wraps", 2, || {
        let h = Harness::new(2, ProducerMode::Multi, &[&[]]);
        let h1 = Arc::clone(&h);
        let a = thread::spawn(move || {
            let mut p = h1.producer();
            let range = h1.claim(&mut p, 2);
            h1.fill_and_commit(&mut p, range, 100);
        });
        let h2 = Arc::clone(&h);
        let b = thread::spawn(move || {
            let mut p = h2.producer();
            let range = h2.claim(&mut p, 1);
            h2.fill_and_commit(&mut p, range, 100);
        });
        let mut c = h.consumer(0);
        let mut seen = 0;
        h.consume(&mut c, 3, WaitStrategy::Block, |seq, value| {
            assert_eq!((seq, value), (seen, 100 + seen));
            seen += 1;
        });
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// A claim dropped uncommitted behind a later claim is published zero-filled and recorded as
/// abandoned (the later one's `try_commit` fails until then); the consumer receives both.
#[test]
fn a_dropped_claim_is_given_back_or_abandoned() {
    check("a_dropped_claim_is_given_back_or_abandoned", 3, || {
        let h = Harness::new(2, ProducerMode::Multi, &[&[]]);
        let (mut first, mut second) = (h.producer(), h.producer());
        let dropped = h.claim(&mut first, 1);
        let kept = h.claim(&mut second, 1);
        let h1 = Arc::clone(&h);
        let a = thread::spawn(move || {
            // The guard dropped: not the newest claim, so published as abandoned.
            first.give_back(&h1.core, dropped, WaitStrategy::Block, &mut Policy::default());
        });
        let h2 = Arc::clone(&h);
        let b = thread::spawn(move || {
            h2.write(kept.start, 7);
            h2.try_commit_then_commit(&mut second, kept);
        });
        let mut c = h.consumer(0);
        h.consume(&mut c, 2, WaitStrategy::Block, |seq, value| {
            if seq == 1 {
                assert_eq!(value, 7);
            }
        });
        assert_eq!(ownership::abandoned_within(h.core.ring.abandoned_log(), 0..2), [0..1]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// Trust item 1 (and 5): a claim left pending is recovered by exactly one of two producers
/// racing for it; the winner's values are delivered once.
#[test]
fn a_range_left_pending_is_recovered_once() {
    check("a_range_left_pending_is_recovered_once", 3, || {
        let h = Harness::new(2, ProducerMode::Multi, &[&[]]);
        let mut claimer = h.producer();
        let pending = h.claim(&mut claimer, 1);
        claimer.leave_pending(&h.core, false);
        let wins = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let racers: Vec<_> = [10, 20]
            .into_iter()
            .map(|value| {
                let (h, wins, pending) = (Arc::clone(&h), Arc::clone(&wins), pending.clone());
                thread::spawn(move || {
                    let mut p = h.producer();
                    if p.recover(&h.core, &pending) {
                        wins.fetch_add(1, Ordering::Relaxed);
                        h.write(pending.start, value);
                        h.commit(&mut p, pending, true);
                    }
                })
            })
            .collect();
        let mut c = h.consumer(0);
        let mut got = 0;
        h.consume(&mut c, 1, WaitStrategy::Block, |_, value| got = value);
        for racer in racers {
            racer.join().unwrap();
        }
        assert_eq!(wins.load(Ordering::Relaxed), 1, "recovered by exactly one producer");
        assert!(got == 10 || got == 20);
    });
}

/// Trust item 1: a live claim is never recovered by another producer (it would write the slot
/// while its claimer does: loom would see the race).
#[test]
fn a_live_claim_is_never_recovered() {
    check("a_live_claim_is_never_recovered", 3, || {
        let h = Harness::new(2, ProducerMode::Multi, &[&[]]);
        let h1 = Arc::clone(&h);
        let claimer = thread::spawn(move || {
            let mut p = h1.producer();
            let range = h1.claim(&mut p, 1);
            h1.fill_and_commit(&mut p, range, 100);
        });
        let h2 = Arc::clone(&h);
        let recoverer = thread::spawn(move || {
            let mut p = h2.producer();
            if p.recover(&h2.core, &(0..1)) {
                panic!("recovered a live claim");
            }
        });
        let mut c = h.consumer(0);
        h.consume(&mut c, 1, WaitStrategy::Block, |seq, value| assert_eq!(value, 100 + seq));
        claimer.join().unwrap();
        recoverer.join().unwrap();
    });
}

/// Trust item 2: consumers 0 -> 1 on a ring of one slot. While consumer 1 is released,
/// producers wait for consumer 0 instead: the second message is never written into the slot
/// consumer 0 still reads (loom would see the race).
#[test]
fn a_released_stage_hands_gating_to_the_stage_before_it() {
    check("a_released_stage_hands_gating_to_the_stage_before_it", 2, || {
        let h = Harness::new(1, ProducerMode::Single, &[&[], &[0]]);
        let mut first = h.consumer(0);
        let last = h.consumer(1);
        let h1 = Arc::clone(&h);
        let producer = thread::spawn(move || {
            let mut p = h1.producer();
            for _ in 0..2 {
                let range = h1.claim(&mut p, 1);
                h1.fill_and_commit(&mut p, range, 100);
            }
        });
        let h2 = Arc::clone(&h);
        let releaser = thread::spawn(move || last.release(&h2.core));
        h.consume(&mut first, 2, WaitStrategy::Block, |seq, value| assert_eq!(value, 100 + seq));
        producer.join().unwrap();
        releaser.join().unwrap();
    });
}

/// Trust item 4: two producers race for the last free slot; the loser's record must describe
/// nothing once its claim failed (else, the winner dead, the orphan would look held).
#[test]
fn a_lost_claim_race_leaves_no_record() {
    check("a_lost_claim_race_leaves_no_record", 3, || {
        let h = Harness::new(1, ProducerMode::Multi, &[&[]]);
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let h = Arc::clone(&h);
                thread::spawn(move || {
                    let mut p = h.producer();
                    let won = p.try_claim(&h.core, 1, true);
                    let home = p.home().unwrap();
                    let entry = h.core.ring.producer_entry(home);
                    let (start, end) = (
                        entry.claim_start.load(Ordering::Relaxed),
                        entry.claim_end.load(Ordering::Relaxed),
                    );
                    match &won {
                        Ok(range) => assert_eq!(start..end, range.clone()),
                        Err(ClaimError::Full) => assert!(start >= end, "{start}..{end}"),
                        Err(e) => panic!("{e}"),
                    }
                    won.is_ok()
                })
            })
            .collect();
        let won: Vec<bool> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(won.iter().filter(|&&w| w).count(), 1);
    });
}

/// Trust item 6: a claim that starts after the last consumer's release returned fails with
/// `NoConsumers`, although the producer's cached bound still has room.
#[test]
fn a_claim_after_the_last_release_fails() {
    check("a_claim_after_the_last_release_fails", 3, || {
        let h = Harness::new(4, ProducerMode::Single, &[&[]]);
        let mut p = h.producer();
        let range = h.claim(&mut p, 1); // reads and caches a bound of 4
        h.fill_and_commit(&mut p, range, 0);
        let released = Arc::new(AtomicU64::new(0));
        let (h1, r1) = (Arc::clone(&h), Arc::clone(&released));
        let releaser = thread::spawn(move || {
            h1.consumer(0).release(&h1.core);
            // Release: pairs with the Acquire load below (the release "returned").
            r1.store(1, Ordering::Release);
        });
        match p.try_claim(&h.core, 1, true) {
            Ok(range) => {
                // Before the release returned: the consumer may still read it, as usual.
                h.fill_and_commit(&mut p, range, 0);
            }
            Err(e) => assert_eq!(e, ClaimError::NoConsumers),
        }
        if released.load(Ordering::Acquire) == 1 {
            assert_eq!(p.try_claim(&h.core, 1, true).unwrap_err(), ClaimError::NoConsumers);
        }
        releaser.join().unwrap();
        assert_eq!(h.core.ring.load_consumer_sequence(0), RELEASED);
    });
}

/// The no-lost-wake-up protocol (trust item 9's premise): a `Block` consumer sleeps in the
/// futex model, with no timeout, until a producer publishes; a lost wake-up would leave it
/// asleep forever, which loom reports as a deadlock.
#[test]
fn a_block_waiter_always_wakes() {
    check("a_block_waiter_always_wakes", 3, || {
        let h = Harness::new(2, ProducerMode::Single, &[&[]]);
        let mut c = h.consumer(0);
        let h1 = Arc::clone(&h);
        let producer = thread::spawn(move || {
            let mut p = h1.producer();
            let range = h1.claim(&mut p, 1);
            h1.fill_and_commit(&mut p, range, 100);
        });
        h.consume(&mut c, 1, WaitStrategy::Block, |seq, value| assert_eq!(value, 100 + seq));
        producer.join().unwrap();
    });
}

/// Trust item 9: why the fence mode is one per ring. A publisher that relies on the waiter's
/// membarrier (no fence of its own) paired with a waiter that fell back to a plain fence loses
/// wake-ups: loom finds the interleaving (a deadlock). Expected to fail.
#[test]
#[should_panic]
fn mixed_fence_modes_lose_wake_ups() {
    check("mixed_fence_modes_lose_wake_ups", 3, || {
        let h = Harness::new(2, ProducerMode::Single, &[&[]]);
        let mut c = h.consumer(0);
        let h1 = Arc::clone(&h);
        let producer = thread::spawn(move || {
            let mut p = h1.producer();
            p.ring.fence_fallback = false; // this process would use membarrier
            let range = h1.claim(&mut p, 1);
            h1.fill_and_commit(&mut p, range, 100);
        });
        h.consume(&mut c, 1, WaitStrategy::Block, |seq, value| assert_eq!(value, 100 + seq));
        producer.join().unwrap();
    });
}

/// Trust item 9, with flag commits: a producer killed between its commit's flag store and its
/// wake-up (it stores the flag and never notifies), behind a later producer that committed
/// first, leaves nothing invisible: the consumer's next check reads the flags after its own
/// sequence and finds both. (A sleeper re-checks at least every `MAX_SLEEP` in real life; loom's
/// futex has no timeouts, so the consumer polls with `Yield` here.) With commits that moved a
/// cursor, this stalled until a helper advanced it; a consumer that read the cursor word
/// instead of the flags fails this model.
#[test]
fn a_commit_left_unannounced_is_seen_by_the_next_check() {
    check("a_commit_left_unannounced_is_seen_by_the_next_check", 3, || {
        let h = Harness::new(2, ProducerMode::Multi, &[&[]]);
        let (mut killed, mut later) = (h.producer(), h.producer());
        let first = h.claim(&mut killed, 1);
        let second = h.claim(&mut later, 1);
        h.write(second.start, 101);
        // Committed behind the first claim: invisible until the first is committed.
        h.commit(&mut later, second, false);
        let h1 = Arc::clone(&h);
        let dying = thread::spawn(move || {
            h1.write(first.start, 100);
            // Release, as `commit_multi`'s flag store; then killed before it notifies.
            h1.core.ring.flag(first.start).store(first.start + 1, Ordering::Release);
            drop(killed);
        });
        let mut c = h.consumer(0);
        h.consume(&mut c, 2, WaitStrategy::Yield, |seq, value| assert_eq!(value, 100 + seq));
        dying.join().unwrap();
    });
}
