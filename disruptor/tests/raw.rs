//! The raw (untyped) API: slots as bytes, interoperating with typed handles. The in-process
//! tests also run under Miri (`.ci/miri`); the shared-memory ones are skipped there.

use std::time::Duration;

use shm_disruptor::raw::{RawRing, RawSchema};
use shm_disruptor::{ClaimError, Disruptor, OpenError, Slot};

#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Pair {
    a: u32,
    b: u32,
}

fn bytes_of(values: &[Pair]) -> Vec<u8> {
    bytemuck_bytes(values).to_vec()
}

fn bytemuck_bytes(values: &[Pair]) -> &[u8] {
    // `Pair` is `Slot`, hence `Pod`: its bytes are its value.
    shm_disruptor::__private::bytemuck::cast_slice(values)
}

fn pairs(range: std::ops::Range<u32>) -> Vec<Pair> {
    range.map(|i| Pair { a: i, b: i * 3 }).collect()
}

#[test]
fn raw_claims_wrap_and_typed_consumers_read_them() {
    let typed =
        Disruptor::<Pair>::builder("raw-in").capacity(4).consumers(1).create_in_process().unwrap();
    let raw = RawRing::from_typed(&typed);
    assert_eq!(raw.slot_size(), 8);
    assert_eq!(raw.schema(), &RawSchema::of::<Pair>());
    let mut producer = raw.producer().unwrap();
    let mut consumer = typed.consumer(0).unwrap();
    let mut next = 0u32;
    for round in 0..5u32 {
        let n = 1 + (round % 3) as usize; // 1, 2, 3, 1, 2: claims cross the ring's end
        let values = pairs(next..next + n as u32);
        let mut claim = producer.try_claim_many(n).unwrap();
        assert_eq!(claim.len(), n);
        let (first, second) = claim.slices_mut();
        assert_eq!((first.len() + second.len()) % 8, 0);
        claim.copy_from_slice(&bytes_of(&values));
        claim.commit();
        let batch = consumer.try_consume();
        assert!(batch.iter().copied().eq(values.iter().copied()), "round {round}");
        batch.commit();
        next += n as u32;
    }
    // The ring is empty; 4 slots free, not 5.
    assert_eq!(
        producer.try_claim_many(5).map(|c| c.len()),
        Err(ClaimError::TooMany { requested: 5, capacity: 4 })
    );
}

#[test]
fn typed_producers_are_read_as_bytes_in_two_slices_at_the_wrap() {
    let typed =
        Disruptor::<Pair>::builder("raw-out").capacity(4).consumers(1).create_in_process().unwrap();
    let raw = RawRing::from_typed(&typed);
    let mut producer = typed.producer().unwrap();
    let mut consumer = raw.consumer(0).unwrap();
    producer.publish_batch(3, |i, slot| *slot = Pair { a: i as u32, b: 0 }).unwrap();
    consumer.try_consume().commit_first(3);
    // Sequences 3..6: slot 3, then slots 0 and 1.
    let values = pairs(10..13);
    producer.publish_batch(3, |i, slot| *slot = values[i]).unwrap();
    let batch = consumer.try_consume();
    assert_eq!(batch.range(), 3..6);
    let (first, second) = batch.slices();
    assert_eq!((first.len(), second.len()), (8, 16));
    let joined: Vec<u8> = first.iter().chain(second).copied().collect();
    assert_eq!(joined, bytes_of(&values));
    assert_eq!(batch.iter().count(), 3);
    assert!(batch.iter().zip(&values).all(|(bytes, v)| bytes == bytemuck_bytes(&[*v])));
    batch.commit_first(1);
    // The uncommitted rest is delivered again.
    let batch = consumer.try_consume();
    assert_eq!(batch.range(), 4..6);
    drop(batch);
    assert_eq!(consumer.try_consume().range(), 4..6);
}

#[test]
fn a_dropped_raw_claim_is_given_back_and_indices_stay_exclusive() {
    let typed = Disruptor::<Pair>::builder("raw-drop")
        .capacity(8)
        .consumers(1)
        .create_in_process()
        .unwrap();
    let raw = RawRing::from_typed(&typed);
    let mut producer = raw.producer().unwrap();
    drop(producer.try_claim_many(2).unwrap());
    assert_eq!(raw.cursor(), 0, "a dropped claim publishes nothing");
    let claim = producer.try_claim_available(100).unwrap();
    assert_eq!(claim.range(), 0..8, "the given-back slots are claimed again, up to the capacity");
    drop(claim);
    let _typed_consumer = typed.consumer(0).unwrap();
    assert!(raw.consumer(0).is_err(), "a typed handle owns index 0");
    assert!(raw.consumer(1).is_err(), "out of range");
}

#[test]
#[cfg_attr(miri, ignore = "the async watcher thread sleeps on a futex with a timeout")]
fn raw_async_calls_complete_when_the_other_side_moves() {
    let typed = Disruptor::<Pair>::builder("raw-async")
        .capacity(2)
        .consumers(1)
        .create_in_process()
        .unwrap();
    let raw = RawRing::from_typed(&typed);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut producer = raw.producer().unwrap();
        let mut consumer = raw.consumer(0).unwrap();
        let writer = {
            async move {
                for i in 0..10u32 {
                    let mut claim = producer.claim_available_async(1).await.unwrap();
                    claim.copy_from_slice(&bytes_of(&[Pair { a: i, b: i }]));
                    claim.commit();
                }
            }
        };
        let reader = async move {
            let mut seen = Vec::new();
            while seen.len() < 10 {
                let batch = consumer.consume_async().await.unwrap();
                seen.extend(batch.iter().map(|b| b[0]));
                batch.commit();
            }
            seen
        };
        let ((), seen) = tokio::join!(writer, reader);
        assert_eq!(seen, (0..10u8).collect::<Vec<_>>());
    });
}

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("/raw-test-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

#[test]
#[cfg_attr(miri, ignore = "shared memory")]
fn a_ring_created_from_a_schema_opens_typed_and_mismatches_are_refused() {
    let name = unique("create");
    let raw = RawRing::create(&name, &RawSchema::of::<Pair>(), 16, 2).unwrap();
    let mut producer = raw.producer().unwrap();
    let mut claim = producer.try_claim_many(2).unwrap();
    claim.copy_from_slice(&bytes_of(&pairs(5..7)));
    claim.commit();
    // A typed process opens it as `Pair`: the hash is `Pair`'s.
    let typed = Disruptor::<Pair>::open(&name).unwrap();
    assert!(typed.consumer(1).unwrap().try_consume().iter().copied().eq(pairs(5..7)));
    // Untyped, the header's schema is read back.
    let reopened = RawRing::open(&name).unwrap();
    assert_eq!(reopened.schema(), &RawSchema::of::<Pair>());
    assert_eq!((reopened.capacity(), reopened.consumer_count(), reopened.cursor()), (16, 2, 2));
    // Expecting another type: the typed open's error, with the first differing field.
    match RawRing::open_expecting(&name, &RawSchema::of::<[u32; 2]>()) {
        Err(OpenError::SchemaMismatch { diff, .. }) => {
            assert!(diff.contains("first difference"), "{diff}")
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
    RawRing::open_expecting(&name, &RawSchema::of::<Pair>()).unwrap();
    // An impossible slot type is refused before anything is created.
    let bad = RawSchema { size: 6, align: 4, ..RawSchema::of::<Pair>() };
    assert!(matches!(
        RawRing::create(&unique("bad"), &bad, 16, 1),
        Err(OpenError::InvalidConfig(_))
    ));
    assert!(matches!(
        RawRing::create(&name, &RawSchema::of::<Pair>(), 16, 1),
        Err(OpenError::AlreadyExists { .. })
    ));
    drop((raw, reopened, typed, producer));
    shm_disruptor::unlink(&name).unwrap();
    assert!(matches!(
        RawRing::open_timeout(&name, Duration::from_millis(20)),
        Err(OpenError::NotFound { .. })
    ));
}

/// Counts wake-ups (a waker for polling a future by hand).
struct Woken(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `wait_beyond_async` stays pending while only messages it was told of are published (unlike
/// `consume_async`, which completes at once on uncommitted ones), and completes once a newer
/// one is published, woken by the commit.
#[test]
#[cfg_attr(miri, ignore = "the async watcher thread sleeps on a futex with a timeout")]
fn waiting_beyond_a_sequence_completes_only_on_newer_messages() {
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Poll, Waker};
    let typed =
        Disruptor::<u32>::builder("beyond").capacity(8).consumers(1).create_in_process().unwrap();
    let raw = RawRing::from_typed(&typed);
    let mut consumer = raw.consumer(0).unwrap();
    let mut producer = typed.producer().unwrap();
    producer.publish(|slot| *slot = 1).unwrap();
    let woken = std::sync::Arc::new(Woken(std::sync::atomic::AtomicUsize::new(0)));
    let waker = Waker::from(std::sync::Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    let mut wait = Box::pin(consumer.wait_beyond_async(1));
    assert!(wait.as_mut().poll(&mut cx).is_pending(), "nothing beyond sequence 1 yet");
    producer.publish(|slot| *slot = 2).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while woken.0.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the commit never woke the future");
        std::thread::yield_now();
    }
    match wait.as_mut().poll(&mut cx) {
        Poll::Ready(ready) => assert_eq!(ready.unwrap(), 2),
        Poll::Pending => panic!("woken, yet still pending with 2 messages published"),
    }
}
