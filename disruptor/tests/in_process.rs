//! The public API over in-process rings (`Builder::create_in_process`): the same protocol as
//! over a shared-memory segment, on the heap, so that Miri can run it (`ci/miri.sh`). Miri
//! checks every access to a slot against the aliasing rules and for data races, so these tests
//! drive every path that hands out `&mut T` or `&[T]`: single claims, batches that wrap in two
//! slices, claim-what-is-available, give-back, exclusive consumers, forwarding, dependency
//! graphs, released consumers, byte streams, and producers and consumers on several threads.
//!
//! Kept small (rings of 4 to 8 slots, tens of messages): Miri runs them about a thousand times
//! slower than native code.

use std::io::{BufRead, Read, Write};
use std::thread;
use std::time::Duration;

use shm_disruptor::{
    ClaimError, Disruptor, Slot, StreamReader, StreamWriter, WaitStrategy, STREAM_EOF,
};

#[derive(Slot, Clone, Copy, Debug, PartialEq, Default)]
#[repr(C)]
struct Tick {
    producer: u32,
    n: u32,
}

/// Under Miri, waits spin through Miri's scheduler; a generous deadline keeps a lost wake-up a
/// failure rather than a hang.
const WAIT: Duration = Duration::from_secs(120);

fn ring<T: Slot>(name: &str, capacity: usize, consumers: usize) -> Disruptor<T> {
    Disruptor::<T>::builder(name)
        .capacity(capacity)
        .consumers(consumers)
        .create_in_process()
        .expect("create an in-process ring")
}

#[test]
fn a_batch_that_wraps_is_two_slices_for_the_producer_and_the_consumer() {
    let ring = Disruptor::<u64>::builder("wrap")
        .capacity(4)
        .consumers(1)
        .single_producer()
        .create_in_process()
        .unwrap();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer(0).unwrap();

    let mut first = producer.try_claim_many(3).unwrap();
    first.copy_from_slice(&[1, 2, 3]);
    first.commit();
    let batch = consumer.try_consume();
    assert_eq!(batch.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
    batch.commit();

    let mut wrapped = producer.try_claim_many(3).unwrap();
    assert_eq!(wrapped.range(), 3..6);
    let (a, b) = wrapped.slices_mut();
    assert_eq!((a.len(), b.len()), (1, 2));
    a[0] = 4;
    b.copy_from_slice(&[5, 6]);
    wrapped.commit();

    let batch = consumer.try_consume();
    let (a, b) = batch.slices();
    assert_eq!((a, b), (&[4][..], &[5, 6][..]));
    batch.commit();
    assert_eq!(consumer.sequence(), 6);
}

#[test]
fn a_full_ring_refuses_until_the_slowest_consumer_moves_on() {
    let ring = ring::<u64>("full", 4, 2);
    let mut producer = ring.producer().unwrap();
    let mut fast = ring.consumer(0).unwrap();
    let mut slow = ring.consumer(1).unwrap();

    let mut all = producer.try_claim_available(10).unwrap();
    assert_eq!(all.len(), 4, "claim-what-is-available stops at the capacity");
    for (i, slot) in all.iter_mut().enumerate() {
        *slot = i as u64;
    }
    all.commit();
    assert!(matches!(producer.try_claim(), Err(ClaimError::Full)));

    fast.try_consume().commit();
    assert!(matches!(producer.try_claim(), Err(ClaimError::Full)), "the slow one still gates");
    slow.try_consume().commit_first(1);
    let mut claim = producer.try_claim().unwrap();
    *claim = 4;
    claim.commit();
    assert_eq!(fast.try_consume().iter().copied().collect::<Vec<_>>(), [4]);
    assert_eq!(slow.try_consume().iter().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
}

#[test]
fn publish_closures_write_in_place_and_a_panicking_one_publishes_nothing() {
    let ring = ring::<Tick>("publish", 4, 1);
    let mut producer = ring.producer().unwrap();
    assert_eq!(producer.publish(|t| *t = Tick { producer: 1, n: 1 }).unwrap(), 0);
    assert_eq!(producer.publish_batch(2, |i, t| t.n = 10 + i as u32).unwrap(), 1..3);
    // A panic inside the closure: the claim is dropped unpublished (given back).
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        producer.publish(|_| panic!("the message could not be built"))
    }));
    assert!(panicked.is_err());
    assert_eq!((ring.cursor(), ring.claim_sequence()), (3, 3), "nothing published or held");
    assert!(matches!(producer.try_publish_batch(2, |_, _| unreachable!()), Err(ClaimError::Full)));
    assert_eq!(producer.try_publish(|t| t.n = 13).unwrap(), 3);
    let mut consumer = ring.consumer(0).unwrap();
    let got: Vec<u32> = consumer.try_consume().iter().map(|t| t.n).collect();
    assert_eq!(got, [1, 10, 11, 13]);
}

#[test]
fn a_dropped_claim_is_given_back_and_claimed_again() {
    let ring = ring::<u64>("give-back", 4, 1);
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer(0).unwrap();
    {
        let mut claim = producer.try_claim_many(2).unwrap();
        claim.copy_from_slice(&[9, 9]);
        // dropped uncommitted: the newest claim is given back
    }
    assert_eq!(ring.claim_sequence(), 0);
    let mut claim = producer.try_claim_many(2).unwrap();
    assert_eq!(claim.range(), 0..2);
    claim.copy_from_slice(&[1, 2]);
    claim.commit();
    assert_eq!(consumer.try_consume().iter().copied().collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn a_released_consumer_no_longer_gates_and_stages_follow_their_dependencies() {
    let ring = Disruptor::<u64>::builder("graph")
        .capacity(4)
        .consumers(3)
        .depends_on(1, &[0])
        .depends_on(2, &[1])
        .create_in_process()
        .unwrap();
    let mut producer = ring.producer().unwrap();
    let mut first = ring.consumer(0).unwrap();
    let second = ring.consumer(1).unwrap();
    let mut third = ring.consumer(2).unwrap();

    let mut claim = producer.try_claim_many(2).unwrap();
    claim.copy_from_slice(&[10, 11]);
    claim.commit();
    assert!(third.try_consume().is_empty(), "the third stage waits for the second");
    assert_eq!(first.try_consume().len(), 2);
    first.try_consume().commit();
    assert!(third.try_consume().is_empty());

    second.release();
    assert!(ring.is_released(1));
    assert_eq!(third.try_consume().iter().copied().collect::<Vec<_>>(), [10, 11]);

    // The producer now gates on the third stage only (and the first, which it follows).
    first.try_consume().commit();
    third.try_consume().commit();
    let all = producer.try_claim_available(8).unwrap();
    assert_eq!(all.len(), 4);
    drop(all);
}

#[test]
fn an_exclusive_consumer_edits_in_place_for_the_next_stage() {
    let ring = Disruptor::<Tick>::builder("exclusive")
        .capacity(8)
        .consumers(2)
        .depends_on(1, &[0])
        .create_in_process()
        .unwrap();
    let mut producer = ring.producer().unwrap();
    let mut editor = ring.exclusive_consumer(0).unwrap();
    let mut reader = ring.consumer(1).unwrap();

    let mut claim = producer.try_claim_many(3).unwrap();
    for (n, slot) in claim.iter_mut().enumerate() {
        *slot = Tick { producer: 0, n: n as u32 };
    }
    claim.commit();
    let mut batch = editor.try_consume_mut();
    for tick in batch.iter_mut() {
        tick.n *= 10;
    }
    batch.commit();
    let seen: Vec<u32> = reader.try_consume().iter().map(|t| t.n).collect();
    assert_eq!(seen, [0, 10, 20]);
}

#[test]
fn a_batch_forwarded_to_another_ring_arrives_whole() {
    let source = ring::<u64>("forward-from", 4, 1);
    let sink = ring::<u64>("forward-to", 4, 1);
    let mut producer = source.producer().unwrap();
    let mut consumer = source.consumer(0).unwrap();
    let mut onward = sink.producer().unwrap();
    let mut last = sink.consumer(0).unwrap();

    let mut claim = producer.try_claim_many(3).unwrap();
    claim.copy_from_slice(&[1, 2, 3]);
    claim.commit();
    let forwarded =
        consumer.forward_to(&mut onward, WAIT, |v: &u64, out: &mut u64| *out = v * 2).unwrap();
    assert_eq!(forwarded, 3);
    assert_eq!(last.try_consume().iter().copied().collect::<Vec<_>>(), [2, 4, 6]);
}

#[test]
fn producers_and_consumers_on_threads_deliver_everything_in_order() {
    const PRODUCERS: u32 = 2;
    const MESSAGES: u32 = if cfg!(miri) { 12 } else { 5_000 };
    let ring = Disruptor::<Tick>::builder("threads")
        .capacity(4)
        .consumers(2)
        .wait_strategy(WaitStrategy::Block)
        .create_in_process()
        .unwrap();
    let consumers: Vec<_> = (0..2)
        .map(|index| {
            let mut consumer = ring.consumer(index).unwrap();
            thread::spawn(move || {
                let mut next = [0u32; PRODUCERS as usize];
                let mut seen = 0;
                while seen < PRODUCERS * MESSAGES {
                    let batch = consumer.consume_timeout(WAIT).expect("data before the deadline");
                    for tick in batch.iter() {
                        assert_eq!(tick.n, next[tick.producer as usize], "in order per producer");
                        next[tick.producer as usize] += 1;
                        seen += 1;
                    }
                    batch.commit();
                }
                next
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut producer = ring.producer().unwrap();
            thread::spawn(move || {
                let mut n = 0;
                while n < MESSAGES {
                    let want = (MESSAGES - n).min(1 + n % 3) as usize;
                    let mut batch = producer.claim_many_timeout(want, WAIT).expect("room");
                    for slot in batch.iter_mut() {
                        *slot = Tick { producer: p, n };
                        n += 1;
                    }
                    batch.commit();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    for c in consumers {
        assert_eq!(c.join().unwrap(), [MESSAGES; PRODUCERS as usize]);
    }
}

#[test]
fn a_byte_stream_arrives_whole_through_a_small_ring() {
    let ring = Disruptor::<u8>::builder("stream")
        .capacity(8)
        .consumers(1)
        .single_producer()
        .wait_strategy(WaitStrategy::Block)
        .create_in_process()
        .unwrap();
    let data: Vec<u8> = (0..if cfg!(miri) { 100 } else { 100_000 }).map(|i| i as u8).collect();
    let mut writer = StreamWriter::new(ring.producer().unwrap());
    writer.set_write_timeout(Some(WAIT));
    let mut reader = StreamReader::new(ring.consumer(0).unwrap());
    reader.set_read_timeout(Some(WAIT));
    let expected = data.clone();
    let reading = thread::spawn(move || {
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        (first, rest)
    });
    writer.write_all(b"header\n").unwrap();
    writer.write_all(&data).unwrap();
    writer.finish();
    let (first, rest) = reading.join().unwrap();
    assert_eq!(first, "header\n");
    assert_eq!(rest, expected);
    assert_eq!(ring.status(), STREAM_EOF);
}
