//! The importing end: batches from an exporter, copied into a local ring exactly once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_disruptor::raw::{RawProducer, RawRing};
use zenoh::bytes::ZBytes;
use zenoh::handlers::FifoChannelHandler;
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;

use crate::wire::{Ack, BatchHeader, SchemaReply};
use crate::{default_key, BridgeError, BridgeStats, ImportConfig};

fn zenoh_error(e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Zenoh(e.to_string())
}

/// How often an importer repeats its acknowledgement, and the least time between two requests
/// to send again from the same sequence.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// The importer's state file: which source sequence the ring's cursor stands for.
///
/// One line, `epoch ring_created source_base ring_base`: the ring message at sequence
/// `ring_base + k` is the source's `source_base + k`, for every message this importer committed
/// since (it must be the ring's only producer). Rewritten only when the epoch changes or the
/// exporter skipped messages.
struct StateFile {
    path: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    epoch: u64,
    ring_created: u64,
    source_base: u64,
    ring_base: u64,
}

impl StateFile {
    fn load(&self) -> Result<Option<State>, BridgeError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        let words: Vec<u64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        Ok(match words[..] {
            [epoch, ring_created, source_base, ring_base] => {
                Some(State { epoch, ring_created, source_base, ring_base })
            }
            _ => None, // unreadable: start afresh from the exporter's floor
        })
    }

    fn store(&self, state: &State) -> Result<(), BridgeError> {
        let tmp = self.path.with_extension("tmp");
        let text = format!(
            "{} {} {} {}\n",
            state.epoch, state.ring_created, state.source_base, state.ring_base
        );
        std::fs::write(&tmp, text).map_err(|e| self.error(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.error(e))
    }

    fn error(&self, e: std::io::Error) -> BridgeError {
        BridgeError::State { path: self.path.clone(), reason: e.to_string() }
    }
}

/// This host's name (for the default importer id).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Asks the exporter for its schema, epoch and floor, retrying until `timeout`.
pub(crate) async fn query_schema(
    session: &zenoh::Session,
    key: &str,
    timeout: Option<Duration>,
) -> Result<SchemaReply, BridgeError> {
    let started = Instant::now();
    loop {
        let replies = session
            .get(format!("{key}/schema"))
            .timeout(Duration::from_secs(1))
            .await
            .map_err(zenoh_error)?;
        while let Ok(reply) = replies.recv_async().await {
            if let Ok(sample) = reply.result() {
                if let Some(reply) =
                    SchemaReply::decode(&String::from_utf8_lossy(&sample.payload().to_bytes()))
                {
                    return Ok(reply);
                }
            }
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            return Err(BridgeError::NoExporter { key: key.to_owned(), waited: started.elapsed() });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The network side of an importer: hands out runs of slots that continue the stream exactly
/// where the last one stopped, dropping duplicates and asking for what a gap lost.
struct Inbox<'a> {
    data: zenoh::pubsub::Subscriber<FifoChannelHandler<Sample>>,
    acks: zenoh::pubsub::Publisher<'a>,
    id: String,
    epoch: u64,
    schema_hash: u64,
    slot: usize,
    /// The next source sequence to hand out.
    received: u64,
    /// Every source sequence below it is committed in the ring (what acknowledgements say).
    committed: Arc<AtomicU64>,
    /// The last request to send again, and when.
    asked: Option<(u64, Instant)>,
    stats: Arc<BridgeStats>,
}

/// What the stream delivered next.
enum Next {
    /// Slots for `[received, received + len / slot)`.
    Run(Vec<u8>),
    /// The exporter skipped `[received, floor)` under its loss policy.
    Skipped(u64),
    /// The exporter's source is another one (its ring was created again).
    NewEpoch,
}

impl Inbox<'_> {
    async fn ack(&mut self, resync: bool) -> Result<(), BridgeError> {
        // The committed sequence is written by this task only (Relaxed: no pairing).
        let next = self.committed.load(Ordering::Relaxed);
        let ack = Ack { epoch: self.epoch, next, resync, importer: self.id.clone() };
        self.acks.put(ZBytes::from(ack.encode())).await.map_err(zenoh_error)
    }

    async fn next(&mut self) -> Result<Next, BridgeError> {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            let sample = tokio::select! {
                sample = self.data.recv_async() => sample.map_err(zenoh_error)?,
                _ = heartbeat.tick() => {
                    self.ack(false).await?;
                    continue;
                }
            };
            let Some(header) = sample.attachment().and_then(|a| BatchHeader::decode(&a.to_bytes()))
            else {
                continue; // not one of ours
            };
            if header.epoch != self.epoch {
                return Ok(Next::NewEpoch);
            }
            let payload = sample.payload().to_bytes();
            if header.schema_hash != self.schema_hash
                || payload.len() as u64 != header.count.saturating_mul(self.slot as u64)
            {
                continue; // corrupt, or not for this schema: never written
            }
            BridgeStats::set(&self.stats.sent, header.first + header.count);
            if header.floor > self.received {
                // Skipped by the exporter: gone for good.
                return Ok(Next::Skipped(header.floor));
            }
            if header.first > self.received {
                // A gap: what was in flight when a link broke. Ask for it, once per heartbeat.
                let recent = self
                    .asked
                    .is_some_and(|(at, when)| at == self.received && when.elapsed() < HEARTBEAT);
                if !recent {
                    self.asked = Some((self.received, Instant::now()));
                    self.ack(true).await?;
                }
                continue;
            }
            let end = header.first + header.count;
            if end <= self.received {
                continue; // already committed (sent again after a restart or a request)
            }
            let skip = (self.received - header.first) as usize * self.slot;
            self.received = end;
            return Ok(Next::Run(payload[skip..].to_vec()));
        }
    }
}

/// Writes `bytes` into a claim's slots from byte `offset` on.
fn write_at(claim: &mut shm_disruptor::raw::RawClaim<'_>, offset: usize, bytes: &[u8]) {
    let (a, b) = claim.slices_mut();
    let (mut offset, mut bytes) = (offset, bytes);
    for part in [a, b] {
        if offset >= part.len() {
            offset -= part.len();
            continue;
        }
        let n = (part.len() - offset).min(bytes.len());
        part[offset..offset + n].copy_from_slice(&bytes[..n]);
        bytes = &bytes[n..];
        offset = 0;
    }
}

/// Copies `bytes` (whole slots) into the ring, claiming as much as is free each time.
async fn write_all(
    producer: &mut RawProducer,
    bytes: &[u8],
    slot: usize,
) -> Result<(), BridgeError> {
    let mut done = 0;
    while done < bytes.len() {
        let mut claim = producer.claim_available_async((bytes.len() - done) / slot).await?;
        let n = claim.len() * slot;
        claim.copy_from_slice(&bytes[done..done + n]);
        claim.commit();
        done += n;
    }
    Ok(())
}

/// Imports into `ring` what an exporter publishes: the untyped form of
/// [`import`](crate::import), for a ring known by the schema in its header. The exporter's
/// schema must be the ring's. This importer must be the ring's only producer. Runs until the
/// future is dropped or fails.
pub async fn import_raw(ring: &RawRing, config: ImportConfig) -> Result<(), BridgeError> {
    let key = config.key.clone().unwrap_or_else(|| default_key(ring.name()));
    let id =
        config.importer_id.clone().unwrap_or_else(|| format!("{}:{}", hostname(), ring.name()));
    let slot = ring.slot_size();
    let stats = Arc::clone(&config.stats);
    let state_file = StateFile {
        path: config
            .state_dir
            .join(format!("{}.bridge-import", ring.name().trim_start_matches('/'))),
    };
    let session = config.endpoints.open().await?;
    let mut producer = ring.producer()?;
    let data = session.declare_subscriber(key.clone()).await.map_err(zenoh_error)?;
    let acks = session
        .declare_publisher(format!("{key}/ack"))
        .congestion_control(CongestionControl::Block)
        .await
        .map_err(zenoh_error)?;
    let mut inbox = Inbox {
        data,
        acks,
        id,
        epoch: 0,
        schema_hash: ring.schema().hash,
        slot,
        received: 0,
        committed: Arc::new(AtomicU64::new(0)),
        asked: None,
        stats: Arc::clone(&stats),
    };
    loop {
        // The exporter's schema, epoch and floor.
        let reply = query_schema(&session, &key, config.schema_timeout).await?;
        ring.schema()
            .check(ring.name(), &reply.schema)
            .map_err(|error| BridgeError::Schema { key: key.clone(), error })?;
        // A claim this importer was killed in the middle of blocks the ring's cursor: it is
        // filled with the messages that follow the cursor, which the exporter sends again.
        let mut pending = producer.recover_orphaned().map(|claim| (claim.len(), 0));
        let created = ring.creation_time_ns();
        let state = match state_file.load()? {
            Some(s)
                if s.epoch == reply.epoch
                    && s.ring_created == created
                    && s.ring_base <= ring.cursor() =>
            {
                s
            }
            _ => {
                let s = State {
                    epoch: reply.epoch,
                    ring_created: created,
                    source_base: reply.floor,
                    ring_base: ring.cursor(),
                };
                state_file.store(&s)?;
                s
            }
        };
        let next = state.source_base + (ring.cursor() - state.ring_base);
        if next < reply.floor {
            return Err(BridgeError::Lost { needed: next, floor: reply.floor });
        }
        inbox.epoch = reply.epoch;
        inbox.received = next;
        inbox.committed.store(next, Ordering::Relaxed);
        BridgeStats::set(&stats.acknowledged, next);
        inbox.asked = Some((next, Instant::now()));
        inbox.ack(true).await?;
        let mut state = state;
        loop {
            match inbox.next().await? {
                Next::Run(bytes) => {
                    let mut bytes = &bytes[..];
                    let mut n = 0;
                    if let Some((total, filled)) = pending.as_mut() {
                        // Re-fill the recovered claim first (it lies at the cursor); until it
                        // is full it is left pending between runs.
                        let mut claim =
                            producer.recover_orphaned().ok_or_else(|| BridgeError::State {
                                path: state_file.path.clone(),
                                reason: "the claim left at the cursor was taken by another \
                                         producer: the importer must be the ring's only one"
                                    .into(),
                            })?;
                        let take = ((*total - *filled) * slot).min(bytes.len());
                        write_at(&mut claim, *filled * slot, &bytes[..take]);
                        *filled += take / slot;
                        bytes = &bytes[take..];
                        if *filled == *total {
                            claim.commit();
                            n += *total;
                            pending = None;
                        }
                    }
                    n += bytes.len() / slot;
                    write_all(&mut producer, bytes, slot).await?;
                    let committed = inbox.committed.load(Ordering::Relaxed) + n as u64;
                    inbox.committed.store(committed, Ordering::Relaxed);
                    BridgeStats::add(&stats.messages, n as u64);
                    BridgeStats::set(&stats.acknowledged, committed);
                    inbox.ack(false).await?;
                }
                Next::Skipped(floor) => {
                    let lost = floor - inbox.received;
                    BridgeStats::add(&stats.skipped, lost);
                    inbox.received = floor;
                    inbox.committed.store(floor, Ordering::Relaxed);
                    state = State { source_base: floor, ring_base: ring.cursor(), ..state };
                    state_file.store(&state)?;
                    inbox.ack(false).await?;
                }
                Next::NewEpoch => break,
            }
        }
    }
}
