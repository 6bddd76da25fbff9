//! In-process cost of the hot paths, one thread: claim+commit, consume+commit, and their batch
//! forms, next to a minimal in-process ring and a base case that measures the harness itself.
//!
//! ```sh
//! cargo bench --bench claim_commit
//! cargo bench --bench claim_commit -- --warm-up-time 1 --measurement-time 2   # quicker
//! ```
//!
//! Every benchmark uses `iter_custom` and times chunks of at most one ring's worth of operations;
//! between chunks, untimed, the other side catches up (the consumer drains, or the producer
//! refills). The `base` case runs the same chunked loop with a single atomic store in place of
//! the operation: subtract it to get the cost of the operation alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shm_disruptor::{Consumer, Disruptor, Producer, WaitStrategy};

/// Slots of the rings of single operations: one chunk of them.
const SLOTS: usize = 4096;
/// Slots of the ring of batch operations: one chunk of `BIG_SLOTS / BATCH` batches, so that the
/// timer's cost per chunk is spread over 65,536 messages.
const BIG_SLOTS: usize = 65_536;
/// Messages per batch claim or batch consume.
const BATCH: usize = 256;

/// A single-producer ring of `u64`, its two handles, and the name to unlink.
struct Ring {
    producer: Producer<u64>,
    consumer: Consumer<u64>,
    name: String,
}

impl Ring {
    fn new(tag: &str, slots: usize) -> Ring {
        Ring::with_mode(tag, slots, true)
    }

    /// A ring in single-producer mode (`single`) or multi-producer mode.
    fn with_mode(tag: &str, slots: usize, single: bool) -> Ring {
        let name = format!("/shmd-criterion-{tag}-{}", std::process::id());
        let _ = shm_disruptor::unlink(&name);
        let builder = Disruptor::<u64>::builder(&name).capacity(slots).consumers(1);
        let builder = if single { builder.single_producer() } else { builder };
        let ring = builder.create().expect("create the ring");
        let mut producer = ring.producer().expect("producer");
        let mut consumer = ring.consumer(0).expect("consumer");
        producer.set_wait_strategy(WaitStrategy::BusySpin);
        consumer.set_wait_strategy(WaitStrategy::BusySpin);
        Ring { producer, consumer, name }
    }

    /// Consumes everything published (untimed bookkeeping between chunks).
    fn drain(&mut self) {
        drain(&mut self.consumer);
    }

    /// Times `iters` claim + commit pairs (`try_claim` instead of `claim` if `try_first`),
    /// draining the ring untimed between chunks.
    fn claim_commit(&mut self, iters: u64, try_first: bool) -> Duration {
        let Ring { producer, consumer, .. } = self;
        chunked(
            iters,
            SLOTS as u64,
            |i| {
                let claim = if try_first { producer.try_claim() } else { producer.claim() };
                let mut claim = claim.expect("claim");
                *claim = black_box(i);
                claim.commit();
            },
            || drain(consumer),
        )
    }

    /// Publishes messages until the ring is full, untimed.
    fn fill(&mut self) {
        while let Ok(mut claim) = self.producer.try_claim_available(usize::MAX) {
            let (first, second) = claim.slices_mut();
            first.fill(7);
            second.fill(7);
            claim.commit();
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = shm_disruptor::unlink(&self.name);
    }
}

/// Consumes everything published.
fn drain(consumer: &mut Consumer<u64>) {
    loop {
        let batch = consumer.try_consume();
        if batch.is_empty() {
            break;
        }
        batch.commit();
    }
}

/// Runs `iters` timed operations in chunks of at most `chunk`, calling `between` untimed after
/// each chunk; returns the time spent in the chunks.
fn chunked(iters: u64, chunk: u64, mut op: impl FnMut(u64), mut between: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = chunk.min(iters - done);
        let start = Instant::now();
        for i in done..done + n {
            op(i);
        }
        total += start.elapsed();
        done += n;
        between();
    }
    total
}

/// A minimal in-process SPSC ring (one thread plays both sides here): a slot store and a Release
/// store per publish, the floor for a claim+commit.
struct MinimalRing {
    head: AtomicU64,
    tail: AtomicU64,
    slots: Vec<AtomicU64>,
}

impl MinimalRing {
    fn new() -> MinimalRing {
        MinimalRing {
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    fn publish(&self, value: u64) {
        // Relaxed: the head is written only by this (the producing) side.
        let head = self.head.load(Ordering::Relaxed);
        // Acquire: pairs with the Release store of `tail` in `drain`.
        assert!(head - self.tail.load(Ordering::Acquire) < SLOTS as u64, "ring full");
        // Relaxed: the Release store of `head` below publishes it.
        self.slots[head as usize % SLOTS].store(value, Ordering::Relaxed);
        // Release: pairs with the Acquire load of `head` in `drain`.
        self.head.store(head + 1, Ordering::Release);
    }

    fn drain(&self) {
        // Acquire: pairs with the Release store of `head` in `publish`.
        let head = self.head.load(Ordering::Acquire);
        // Release: pairs with the Acquire load of `tail` in `publish`.
        self.tail.store(head, Ordering::Release);
    }
}

fn in_process(c: &mut Criterion) {
    let mut group = c.benchmark_group("in_process");
    let chunk = SLOTS as u64;

    group.throughput(Throughput::Elements(1));
    // Base: the harness alone, one atomic store per iteration.
    let sink = AtomicU64::new(0);
    group.bench_function("base", |b| {
        b.iter_custom(|iters| {
            // Relaxed: nobody reads the sink; it only keeps the loop from being optimised out.
            chunked(iters, chunk, |i| sink.store(black_box(i), Ordering::Relaxed), || {})
        })
    });

    let minimal = MinimalRing::new();
    group.bench_function("minimal claim+commit", |b| {
        b.iter_custom(|iters| {
            chunked(iters, chunk, |i| minimal.publish(black_box(i)), || minimal.drain())
        })
    });

    let mut ring = Ring::new("claim", SLOTS);
    group.bench_function("ours claim+commit", |b| {
        b.iter_custom(|iters| ring.claim_commit(iters, false))
    });
    group.bench_function("ours try_claim+commit", |b| {
        b.iter_custom(|iters| ring.claim_commit(iters, true))
    });
    // The closure style of the `disruptor` crate: the same claim and commit inside.
    group.bench_function("ours publish(|slot| ..)", |b| {
        b.iter_custom(|iters| {
            let Ring { producer, consumer, .. } = &mut ring;
            chunked(
                iters,
                SLOTS as u64,
                |i| {
                    producer.publish(|slot| *slot = black_box(i)).expect("publish");
                },
                || drain(consumer),
            )
        })
    });

    // The same in multi-producer mode (one producer: uncontended CAS and flag path).
    let mut multi = Ring::with_mode("multi", SLOTS, false);
    group.bench_function("ours claim+commit (multi-producer)", |b| {
        b.iter_custom(|iters| multi.claim_commit(iters, false))
    });
    drop(multi);

    // One message through both sides, the seed's loop in one thread.
    group.bench_function("ours claim+commit+consume+commit", |b| {
        b.iter_custom(|iters| {
            let Ring { producer, consumer, .. } = &mut ring;
            chunked(
                iters,
                chunk,
                |i| {
                    let mut claim = producer.claim().expect("claim");
                    *claim = black_box(i);
                    claim.commit();
                    let batch = consumer.consume();
                    black_box(batch.slices().0[0]);
                    batch.commit();
                },
                || {},
            )
        })
    });

    // consume + commit of one message at a time, the ring full: `commit_first(1)` leaves the
    // rest for the next consume. Between chunks the producer refills what was consumed.
    ring.drain();
    group.bench_function("ours consume+commit", |b| {
        b.iter_custom(|iters| {
            let Ring { producer, consumer, .. } = &mut ring;
            let mut refill = || {
                while let Ok(mut claim) = producer.try_claim_available(SLOTS) {
                    let (first, second) = claim.slices_mut();
                    first.fill(7);
                    second.fill(7);
                    claim.commit();
                }
            };
            refill();
            let elapsed = chunked(
                iters,
                chunk,
                |_| {
                    let batch = consumer.consume();
                    black_box(batch.slices().0[0]);
                    batch.commit_first(1);
                },
                &mut refill,
            );
            drain(consumer);
            elapsed
        })
    });

    // Batches: per message costs, `BATCH` messages per iteration, on a larger ring.
    group.throughput(Throughput::Elements(BATCH as u64));
    let batches_per_chunk = (BIG_SLOTS / BATCH) as u64;
    let mut big = Ring::new("batch", BIG_SLOTS);
    group.bench_function("ours claim_available(256)+commit", |b| {
        b.iter_custom(|iters| {
            let Ring { producer, consumer, .. } = &mut big;
            chunked(
                iters,
                batches_per_chunk,
                |i| {
                    let mut claim = producer.claim_available(BATCH).expect("claim_available");
                    let (first, second) = claim.slices_mut();
                    first.fill(black_box(i));
                    second.fill(i);
                    claim.commit();
                },
                || drain(consumer),
            )
        })
    });

    big.drain();
    group.bench_function("ours publish_batch(256, |i, slot| ..)", |b| {
        b.iter_custom(|iters| {
            let Ring { producer, consumer, .. } = &mut big;
            chunked(
                iters,
                batches_per_chunk,
                |i| {
                    let value = black_box(i);
                    producer.publish_batch(BATCH, |_, slot| *slot = value).expect("publish_batch");
                },
                || drain(consumer),
            )
        })
    });

    // The ring full: each consume sees everything, reads the first `BATCH` and commits them.
    big.drain();
    group.bench_function("ours consume(256)+commit", |b| {
        b.iter_custom(|iters| {
            big.fill();
            let Ring { producer, consumer, .. } = &mut big;
            let mut refill = || {
                while let Ok(mut claim) = producer.try_claim_available(BIG_SLOTS) {
                    let (first, second) = claim.slices_mut();
                    first.fill(7);
                    second.fill(7);
                    claim.commit();
                }
            };
            let elapsed = chunked(
                iters,
                batches_per_chunk,
                |_| {
                    let batch = consumer.consume();
                    let (first, second) = batch.slices();
                    let n = first.len().min(BATCH);
                    let m = second.len().min(BATCH - n);
                    let sum = first[..n].iter().fold(0u64, |s, &v| s.wrapping_add(v));
                    black_box(second[..m].iter().fold(sum, |s, &v| s.wrapping_add(v)));
                    batch.commit_first(n + m);
                },
                &mut refill,
            );
            drain(consumer);
            elapsed
        })
    });

    group.finish();
}

criterion_group!(benches, in_process);
criterion_main!(benches);
