//! The exporting end: one consumer index of a local ring, published in batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_disruptor::raw::{RawConsumer, RawRing};
use shm_disruptor::{ConsumeError, WaitStrategy};
use zenoh::bytes::ZBytes;
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;
use zenoh::Wait;

use crate::wire::{Ack, BatchHeader, SchemaReply};
use crate::{default_key, BridgeError, BridgeStats, ExportConfig, LossPolicy};

/// The most bytes of slots in one Zenoh message.
const MAX_BATCH_BYTES: usize = 64 * 1024;

fn zenoh_error(e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Zenoh(e.to_string())
}

/// FNV-1a: the epoch must be the same in every build of every process (std's hasher is not
/// specified to be).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for part in parts {
        for &b in *part {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        hash = (hash ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The epoch of a source: its ring (name and creation time) and consumer index. It survives a
/// restart of the exporter; a ring created again under the same name gets another.
pub(crate) fn epoch_of(ring: &RawRing, index: usize) -> u64 {
    fnv(&[
        ring.name().as_bytes(),
        &ring.creation_time_ns().to_le_bytes(),
        &(index as u64).to_le_bytes(),
    ])
}

/// What the exporter knows of one importer.
struct Importer {
    /// Every sequence below it is committed in its ring.
    next: u64,
    /// When `next` last moved (or the importer was first heard).
    moved: Instant,
}

/// Takes an importer's acknowledgement into account: its `next`, and a request to send again
/// from there (never below the floor: what is committed may be overwritten).
fn on_ack(
    sample: &zenoh::sample::Sample,
    epoch: u64,
    floor: u64,
    next_send: &mut u64,
    importers: &mut HashMap<String, Importer>,
    stats: &BridgeStats,
) {
    let Some(ack) = Ack::decode(&sample.payload().to_bytes()) else { return };
    if ack.epoch != epoch {
        return; // for another source
    }
    let now = Instant::now();
    let entry = importers.entry(ack.importer).or_insert(Importer { next: ack.next, moved: now });
    if ack.next != entry.next {
        entry.next = ack.next;
        entry.moved = now;
    }
    if ack.resync && ack.next < *next_send {
        *next_send = ack.next.max(floor);
        BridgeStats::add(&stats.resends, 1);
    }
}

/// How long the sending thread waits at most before it looks at its stop flag (and the
/// clock) again; also the most an acknowledgement that arrives while the source ring is idle
/// waits before it is committed.
const WAIT_IDLE: Duration = Duration::from_millis(10);
/// The same while messages are sent and not yet acknowledged.
const WAIT_OUTSTANDING: Duration = Duration::from_millis(1);

/// Stops the sending thread when the export future is dropped (or ends): sets its flag, then
/// waits for it to end, so that its consumer index is detached cleanly (not left to look like
/// a dead process's) before the future is gone.
struct StopOnDrop {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // Release: pairs with the Acquire load in `Sender::run` (nothing else is published
        // through it; the order only keeps the flag's meaning plain).
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // It looks at the flag at least every WAIT_IDLE (10 ms), and after every put.
            let _ = thread.join();
        }
    }
}

/// Exports consumer `consumer_index` of `ring`: the untyped form of [`export`](crate::export),
/// for a ring known by the schema in its header. Runs until the future is dropped or fails.
///
/// The sending loop runs on a thread of its own that blocks on the ring itself (a producer's
/// commit wakes it directly, with no hop through an async runtime) and uses Zenoh's blocking
/// calls. Dropping the future stops the thread and waits for it (it looks at its stop flag at
/// least every 10 ms, and after every put), so the consumer index is free again once the drop
/// returns.
pub async fn export_raw(
    ring: &RawRing,
    consumer_index: usize,
    config: ExportConfig,
) -> Result<(), BridgeError> {
    let key = config.key.clone().unwrap_or_else(|| default_key(ring.name()));
    let mut consumer = ring.consumer(consumer_index)?;
    consumer.set_wait_strategy(WaitStrategy::Block);
    let epoch = epoch_of(ring, consumer_index);
    let session = config.endpoints.open(None).await?;

    // The floor (committed sequence) as the schema queryable reports it. Written by the
    // sending thread, read by Zenoh's callback thread for display to importers; nothing else
    // depends on it, so Relaxed (no pairing).
    let shared_floor = Arc::new(AtomicU64::new(consumer.sequence()));
    let _queryable = {
        let floor = Arc::clone(&shared_floor);
        let schema = ring.schema().clone();
        session
            .declare_queryable(format!("{key}/schema"))
            .callback(move |query| {
                let reply = SchemaReply {
                    schema: schema.clone(),
                    epoch,
                    floor: floor.load(Ordering::Relaxed),
                };
                let _ = query.reply(query.key_expr().clone(), reply.encode()).wait();
            })
            .await
            .map_err(zenoh_error)?
    };
    let acks = session.declare_subscriber(format!("{key}/ack")).await.map_err(zenoh_error)?;
    let publisher = session
        .declare_publisher(key.clone())
        .congestion_control(CongestionControl::Block)
        .await
        .map_err(zenoh_error)?;

    let stop = Arc::new(AtomicBool::new(false));
    let (done, finished) = tokio::sync::oneshot::channel();
    let sender = Sender {
        consumer,
        acks,
        publisher,
        epoch,
        schema_hash: ring.schema().hash,
        shared_floor,
        config,
        stop: Arc::clone(&stop),
    };
    let thread = std::thread::Builder::new()
        .name("shmd-export".into())
        .spawn(move || {
            let _ = done.send(sender.run());
        })
        .map_err(|e| BridgeError::Thread(format!("shmd-export: cannot start it: {e}")))?;
    let stopper = StopOnDrop { stop, thread: Some(thread) };
    let result = finished.await.unwrap_or_else(|_| {
        Err(BridgeError::Thread("shmd-export: stopped without a result (a panic)".into()))
    });
    drop(stopper);
    drop(session);
    result
}

/// The exporter's sending thread.
struct Sender {
    consumer: RawConsumer,
    acks: Subscriber<FifoChannelHandler<Sample>>,
    publisher: Publisher<'static>,
    epoch: u64,
    schema_hash: u64,
    shared_floor: Arc<AtomicU64>,
    config: ExportConfig,
    stop: Arc<AtomicBool>,
}

impl Sender {
    fn put(&self, payload: Vec<u8>, header: &BatchHeader) -> Result<(), BridgeError> {
        self.publisher
            .put(ZBytes::from(payload))
            .attachment(ZBytes::from(header.encode().to_vec()))
            .wait()
            .map_err(zenoh_error)
    }

    fn run(mut self) -> Result<(), BridgeError> {
        let (epoch, schema_hash) = (self.epoch, self.schema_hash);
        let config = self.config.clone();
        let stats: &BridgeStats = &config.stats;
        let slot = self.consumer.ring().slot_size();
        let batch_max = config.batch.clamp(1, (MAX_BATCH_BYTES / slot).max(1));
        let capacity = self.consumer.ring().capacity() as u64;
        let mut floor = self.consumer.sequence();
        let mut next_send = floor;
        let mut importers: HashMap<String, Importer> = HashMap::new();
        let mut last_publish = Instant::now();
        BridgeStats::set(&stats.acknowledged, floor);
        // Acquire: pairs with the Release store of `StopOnDrop`.
        while !self.stop.load(Ordering::Acquire) {
            // 1. Acknowledgements.
            while let Ok(Some(sample)) = self.acks.try_recv() {
                on_ack(&sample, epoch, floor, &mut next_send, &mut importers, stats);
            }

            // 2. Commit what every importer has.
            let available = self.consumer.try_consume().len() as u64;
            let cursor = floor + available;
            let slowest = (importers.len() >= config.importers)
                .then(|| importers.values().map(|i| i.next).min())
                .flatten();
            let mut target = slowest.map_or(floor, |s| s.clamp(floor, cursor));
            // 3. Loss, when allowed: a full source ring and an importer silent for too long.
            if let LossPolicy::SkipAfter(after) = config.loss {
                let stuck = importers.len() < config.importers
                    || importers.values().any(|i| i.next < cursor && i.moved.elapsed() >= after);
                if available >= capacity && stuck && last_publish.elapsed() >= after {
                    BridgeStats::add(&stats.skipped, cursor - target);
                    target = cursor;
                    next_send = next_send.max(cursor);
                    for i in importers.values_mut() {
                        i.moved = Instant::now();
                    }
                }
            }
            if target > floor {
                self.consumer.try_consume().commit_first((target - floor) as usize);
                BridgeStats::add(&stats.messages, target - floor);
                floor = target;
                BridgeStats::set(&stats.acknowledged, floor);
                self.shared_floor.store(floor, Ordering::Relaxed);
            }
            next_send = next_send.max(floor);

            // 4. Send what is not sent yet.
            if next_send < cursor {
                let n = ((cursor - next_send) as usize).min(batch_max);
                let payload = {
                    let batch = self.consumer.try_consume();
                    let (a, b) = batch.slices();
                    let from = (next_send - floor) as usize * slot;
                    let to = from + n * slot;
                    let mut payload = Vec::with_capacity(n * slot);
                    if from < a.len() {
                        payload.extend_from_slice(&a[from..to.min(a.len())]);
                    }
                    if to > a.len() {
                        payload.extend_from_slice(&b[from.saturating_sub(a.len())..to - a.len()]);
                    }
                    payload
                };
                let header =
                    BatchHeader { schema_hash, epoch, first: next_send, count: n as u64, floor };
                self.put(payload, &header)?;
                next_send += n as u64;
                BridgeStats::set(&stats.sent, next_send);
                last_publish = Instant::now();
                continue;
            }

            // 5. Everything is sent: a heartbeat now and then while some of it is
            //    unacknowledged, so that an importer that lost the tail of the stream notices
            //    the gap.
            if floor < next_send && last_publish.elapsed() >= config.resend_after {
                let header = BatchHeader { schema_hash, epoch, first: next_send, count: 0, floor };
                self.put(Vec::new(), &header)?;
                last_publish = Instant::now();
            }
            // 6. Wait. A full source ring gets no new messages before a commit: wait for an
            //    acknowledgement. Otherwise wait for messages beyond those seen (published
            //    while earlier ones are unacknowledged, so not committed), and look at the
            //    acknowledgements again soon while some are outstanding.
            if cursor - floor >= capacity {
                if let Ok(Some(sample)) = self.acks.recv_timeout(WAIT_IDLE) {
                    on_ack(&sample, epoch, floor, &mut next_send, &mut importers, stats);
                }
            } else {
                let wait = if floor < next_send { WAIT_OUTSTANDING } else { WAIT_IDLE };
                match self.consumer.wait_beyond_timeout(cursor, wait) {
                    Ok(_) | Err(ConsumeError::Timeout) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}
