//! The `tracing` feature's events: each test captures the events one call emits with a small
//! subscriber of its own (scoped to the test's thread) and checks their level, target, message
//! and fields.
//!
//! `cargo test --workspace` builds the runtime with the feature: this crate's dev-dependency on
//! it asks for `tracing`, and cargo unifies features across the workspace's test builds.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shm_disruptor::{DeadPeerPolicy, Disruptor, OpenError};
use shm_disruptor_tests::SegmentGuard;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

mod common;
use common::{Actor, LIMIT};

/// One event, as captured.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    /// Every field by name, formatted with `Debug` (strings unquoted); `message` included.
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }

    fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map_or_else(|| panic!("no field {name:?} in {self:?}"), String::as_str)
    }
}

/// A subscriber that keeps every event (no spans: the crate emits none).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let meta = event.metadata();
        self.0.lock().unwrap().push(Captured {
            level: *meta.level(),
            target: meta.target().to_owned(),
            fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Runs `f` with a capturing subscriber on this thread; what it returned, and the events of
/// this crate (target `shm_disruptor`) it emitted.
fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Captured>) {
    let capture = Capture::default();
    let result = tracing::subscriber::with_default(capture.clone(), f);
    let events = capture.0.lock().unwrap().clone();
    assert!(events.iter().all(|e| e.target == "shm_disruptor"), "{events:?}");
    (result, events)
}

/// The events whose message starts with `prefix`.
fn with_message<'a>(events: &'a [Captured], prefix: &str) -> Vec<&'a Captured> {
    events.iter().filter(|e| e.message().starts_with(prefix)).collect()
}

fn create(guard: &SegmentGuard, capacity: usize, consumers: usize) -> Disruptor<u64> {
    Disruptor::<u64>::builder(guard.name())
        .capacity(capacity)
        .consumers(consumers)
        .create()
        .unwrap()
}

/// A consumer process holding index `index` of `guard`'s ring, killed: it leaves a dead owner.
fn kill_a_consumer(guard: &SegmentGuard, index: usize) -> u32 {
    let index = index.to_string();
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["consume-then-hang", guard.name(), &index, "0"],
    );
    actor.expect("BATCH");
    let pid = actor.pid();
    actor.kill();
    pid
}

#[test]
fn evicting_a_dead_consumer_by_hand_is_an_event() {
    let guard = SegmentGuard::new("trace-evict");
    let ring = create(&guard, 16, 3);
    ring.producer().unwrap().publish(|v| *v = 1).unwrap();
    kill_a_consumer(&guard, 2);
    let (evicted, events) = capture(|| ring.evict_dead_consumers());
    assert_eq!(evicted, vec![2]);
    let found = with_message(&events, "evicted a dead consumer");
    assert_eq!(found.len(), 1, "one event per evicted consumer: {events:?}");
    let event = found[0];
    assert_eq!(event.level, Level::WARN);
    assert_eq!(event.field("ring"), guard.name());
    assert_eq!(event.field("consumer"), "2");
    assert_eq!(event.field("by"), "evict_dead_consumers");
    // Nothing to evict: no event.
    let (evicted, events) = capture(|| ring.evict_dead_consumers());
    assert!(evicted.is_empty());
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a_producer_evicting_by_policy_says_whom_it_saw_dead_and_evicted() {
    let guard = SegmentGuard::new("trace-policy");
    let ring = create(&guard, 16, 2);
    let mut producer = ring.producer().unwrap();
    producer.publish_batch(16, |i, v| *v = i as u64).unwrap(); // full
    let pid = kill_a_consumer(&guard, 1);
    ring.consumer(0).unwrap().consume_timeout(LIMIT).unwrap().commit();
    producer.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::from_millis(20) });
    let (claimed, events) = capture(|| producer.claim_timeout(LIMIT).map(|c| c.sequence()));
    assert_eq!(claimed, Ok(16), "the dead consumer was evicted");
    let seen = with_message(&events, "a blocked producer sees a dead consumer");
    assert_eq!(seen.len(), 1, "seen once, however long it waits: {events:?}");
    assert_eq!(seen[0].level, Level::WARN);
    assert_eq!(seen[0].field("consumer"), "1");
    assert_eq!(seen[0].field("pid"), pid.to_string());
    assert_eq!(seen[0].field("evict_after_ms"), "20");
    let evicted = with_message(&events, "evicted a dead consumer");
    assert_eq!(evicted.len(), 1, "{events:?}");
    assert_eq!(
        (evicted[0].field("ring"), evicted[0].field("consumer"), evicted[0].field("by")),
        (guard.name(), "1", "policy")
    );
    assert_eq!(evicted[0].field("pid"), pid.to_string());
}

#[test]
fn a_schema_mismatch_is_an_event_with_both_layouts() {
    let guard = SegmentGuard::new("trace-schema");
    let _ring = create(&guard, 8, 1);
    let (opened, events) = capture(|| Disruptor::<[u32; 2]>::open(guard.name()));
    assert!(matches!(opened, Err(OpenError::SchemaMismatch { .. })), "{opened:?}");
    let found = with_message(&events, "schema mismatch");
    assert_eq!(found.len(), 1, "{events:?}");
    assert_eq!(found[0].level, Level::WARN);
    assert_eq!(found[0].field("ring"), guard.name());
    assert_eq!(found[0].field("expected"), "[u32; 2] size 8 align 4");
    assert_eq!(found[0].field("found"), "u64 size 8 align 8");
    // The right type opens without a word.
    let (opened, events) = capture(|| Disruptor::<u64>::open(guard.name()).map(|_| ()));
    assert!(opened.is_ok(), "{opened:?}");
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn an_open_that_times_out_is_an_event() {
    let guard = SegmentGuard::new("trace-timeout"); // never created
    let timeout = Duration::from_millis(30);
    let (opened, events) =
        capture(|| Disruptor::<u64>::builder(guard.name()).open_timeout(timeout).map(|_| ()));
    assert!(matches!(opened, Err(OpenError::NotFound { .. })), "{opened:?}");
    let found = with_message(&events, "open timed out");
    assert_eq!(found.len(), 1, "{events:?}");
    assert_eq!(found[0].level, Level::WARN);
    assert_eq!((found[0].field("ring"), found[0].field("waited_ms")), (guard.name(), "30"));
}

#[test]
fn an_orphaned_claim_recovered_or_abandoned_is_an_event() {
    let guard = SegmentGuard::new("trace-orphan");
    let ring = create(&guard, 64, 1);
    let mut actor = Actor::start(
        env!("CARGO_BIN_EXE_crash_actor"),
        &["claim-then-hang", guard.name(), "2", "3"],
    );
    assert_eq!(actor.expect("CLAIMED"), vec![2, 5]);
    actor.kill();
    let mut producer = ring.producer().unwrap();
    // Recovered by hand.
    let (range, events) = capture(|| {
        let mut recovered = producer.recover_orphaned().expect("its producer is dead");
        recovered.iter_mut().for_each(|v| *v = 7);
        let range = recovered.range();
        recovered.leave_pending(); // orphaned again, for the policy below
        range
    });
    assert_eq!(range, 2..5);
    let found = with_message(&events, "recovered an orphaned claim");
    assert_eq!(found.len(), 1, "{events:?}");
    assert_eq!(found[0].level, Level::INFO);
    assert_eq!((found[0].field("start"), found[0].field("end")), ("2", "5"));
    // Abandoned by policy, once seen orphaned for `after`.
    producer.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::from_millis(20) });
    let (committed, events) = capture(|| {
        let mut claim = producer.claim().unwrap();
        *claim = 5;
        claim.commit_timeout(LIMIT).is_ok()
    });
    assert!(committed, "the orphan was abandoned, then ours was published");
    let seen = with_message(&events, "a blocked producer sees an orphaned claim");
    let abandoned = with_message(&events, "published an orphaned claim as abandoned");
    assert_eq!((seen.len(), abandoned.len()), (1, 1), "{events:?}");
    assert_eq!((abandoned[0].field("start"), abandoned[0].field("end")), ("2", "5"));
    assert_eq!(abandoned[0].field("by"), "policy");
    assert_eq!(ring.cursor(), 6);
}
