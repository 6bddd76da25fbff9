//! The importing end: batches from an exporter, copied into a local ring exactly once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_disruptor::raw::{RawProducer, RawRing};
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;
use zenoh::Wait;

use crate::wire::{Ack, BatchHeader, SchemaReply};
use crate::{default_key, BridgeError, BridgeStats, ImportConfig};

fn zenoh_error(e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Zenoh(e.to_string())
}

/// How often an importer repeats its acknowledgement, and the least time between two requests
/// to send again from the same sequence.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// While batches keep arriving, an importer acknowledges every this many (and whenever it
/// finds none waiting).
const ACK_EVERY: u32 = 8;

/// The most an importer waits before it acknowledges a committed run.
const ACK_DELAY: Duration = Duration::from_millis(1);

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

/// Asks the exporter for its schema, epoch and floor, retrying until `timeout` has passed
/// since `started` (asking at least once).
pub(crate) async fn query_schema(
    session: &zenoh::Session,
    key: &str,
    started: Instant,
    timeout: Option<Duration>,
) -> Result<SchemaReply, BridgeError> {
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

/// Where the stream stands, shared by the importer's task and its fast path (Zenoh's
/// callback). Guarded by `Shared::stream`.
struct Stream {
    epoch: u64,
    /// The next source sequence to take.
    received: u64,
    /// Every source sequence below it is committed in the ring (what acknowledgements say).
    committed: u64,
    /// What the last acknowledgement said, and when it was sent.
    acked: (u64, Instant),
    /// Runs committed since the last acknowledgement.
    unacked_runs: u32,
    /// The producer, lent by the task while it waits for a sample with nothing queued and no
    /// partly filled claim: the fast path writes only while it is here.
    lent: Option<RawProducer>,
    /// Samples for the task, in order: those the fast path does not take. No batch overtakes
    /// one queued before it: the fast path takes only a batch that starts at or before
    /// `received`, and only a batch taken (by either side) moves `received`.
    queue: tokio::sync::mpsc::UnboundedSender<Sample>,
}

/// What the task and the fast path share.
struct Shared {
    stream: std::sync::Mutex<Stream>,
    acks: zenoh::pubsub::Publisher<'static>,
    id: String,
    schema_hash: u64,
    slot: usize,
    stats: Arc<BridgeStats>,
    /// A committed run is not acknowledged yet: the task must be sooner.
    ack_due: tokio::sync::Notify,
}

/// Takes the producer back from the fast path when the import future is dropped, so that it
/// is detached (free for another importer) once the drop returns, not when the last callback
/// lets go of `Shared`.
struct ReclaimOnDrop(Arc<Shared>);

impl Drop for ReclaimOnDrop {
    fn drop(&mut self) {
        drop(self.0.lock().lent.take());
    }
}

/// The checks every batch passes before any of it is written: ours, of `epoch`, of this
/// schema, whole slots. `Err(())` for a batch of another epoch.
#[allow(clippy::result_unit_err)]
fn batch_of(
    sample: &Sample,
    epoch: u64,
    schema_hash: u64,
    slot: usize,
) -> Result<Option<BatchHeader>, ()> {
    let Some(header) = sample.attachment().and_then(|a| BatchHeader::decode(&a.to_bytes())) else {
        return Ok(None); // not one of ours
    };
    if header.epoch != epoch {
        return Err(());
    }
    let whole = sample.payload().len() as u64 == header.count.saturating_mul(slot as u64);
    // The end of its range must be a sequence (`first + count` is computed everywhere after).
    let ends = header.first.checked_add(header.count).is_some();
    // Corrupt, or not for this schema: never written.
    Ok((header.schema_hash == schema_hash && whole && ends).then_some(header))
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Stream> {
        // Nothing in the critical sections panics but Zenoh's put; the stream is then as the
        // last committed run left it: go on with it.
        self.stream.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends an acknowledgement of what `stream` says is committed.
    fn ack(&self, stream: &mut Stream, resync: bool) -> Result<(), BridgeError> {
        let next = stream.committed;
        stream.acked = (next, Instant::now());
        stream.unacked_runs = 0;
        let ack = Ack { epoch: stream.epoch, next, resync, importer: self.id.clone() };
        self.acks.put(ZBytes::from(ack.encode())).wait().map_err(zenoh_error)
    }

    /// After `n` messages were committed: counts them, and acknowledges at once every
    /// [`ACK_EVERY`] runs or when the last acknowledgement is older than [`ACK_DELAY`];
    /// otherwise the task does within `ACK_DELAY`, or as soon as it finds no sample waiting.
    fn committed(&self, stream: &mut Stream, n: u64) -> Result<(), BridgeError> {
        stream.committed += n;
        BridgeStats::add(&self.stats.messages, n);
        BridgeStats::set(&self.stats.acknowledged, stream.committed);
        stream.unacked_runs += 1;
        if stream.unacked_runs >= ACK_EVERY || stream.acked.1.elapsed() >= ACK_DELAY {
            self.ack(stream, false)?;
        } else if stream.unacked_runs == 1 {
            // The task acknowledges it within ACK_DELAY unless a later run does.
            self.ack_due.notify_one();
        }
        Ok(())
    }

    /// Zenoh's callback: writes a batch that continues the stream straight into the ring
    /// when the task has lent the producer and the ring has room for all of it (no hop
    /// through the task, whose wake-up costs as much as the network's); queues it for the
    /// task otherwise.
    fn offer(&self, sample: Sample) {
        let mut stream = self.lock();
        if !self.write_now(&mut stream, &sample) {
            let _ = stream.queue.send(sample);
        }
    }

    /// The fast path's write: `false` (nothing written) unless the producer is lent, the
    /// batch is of this epoch and continues the stream, and the ring has room for all of it.
    fn write_now(&self, stream: &mut Stream, sample: &Sample) -> bool {
        let Some(producer) = stream.lent.as_mut() else { return false };
        let Ok(Some(header)) = batch_of(sample, stream.epoch, self.schema_hash, self.slot) else {
            return false;
        };
        let skip = match place(&header, stream.received) {
            Place::Skipped | Place::Gap => return false, // the task's business
            Place::Duplicate => {
                BridgeStats::set(&self.stats.sent, header.first + header.count);
                return true;
            }
            Place::Continues { skip } => skip,
        };
        let payload = sample.payload().to_bytes();
        let bytes = &payload[skip * self.slot..];
        let n = bytes.len() / self.slot;
        let Ok(mut claim) = producer.try_claim_many(n) else { return false };
        claim.copy_from_slice(bytes);
        claim.commit();
        stream.received = header.first + header.count;
        BridgeStats::set(&self.stats.sent, stream.received);
        // A failed acknowledgement is sent again by the task's heartbeat.
        let _ = self.committed(stream, n as u64);
        true
    }
}

/// Where a batch of the current epoch stands against `received`, the next source sequence to
/// take. The fast path and the task decide by it alike.
enum Place {
    /// The exporter skipped past `received` (its floor is beyond it): gone for good.
    Skipped,
    /// It starts beyond `received`: what was in flight when a link broke is missing.
    Gap,
    /// Every slot of it is committed already (sent again after a restart or a request).
    Duplicate,
    /// It continues the stream from its `skip`-th slot on.
    Continues { skip: usize },
}

fn place(header: &BatchHeader, received: u64) -> Place {
    if header.floor > received {
        Place::Skipped
    } else if header.first > received {
        Place::Gap
    } else if header.first + header.count <= received {
        Place::Duplicate
    } else {
        Place::Continues { skip: (received - header.first) as usize }
    }
}

/// The task's side of an importer: hands out runs of slots that continue the stream exactly
/// where the last one stopped, dropping duplicates and asking for what a gap lost; lends the
/// producer to the fast path while it waits.
struct Inbox {
    shared: Arc<Shared>,
    queue: tokio::sync::mpsc::UnboundedReceiver<Sample>,
    /// The producer, while the task holds it.
    producer: Option<RawProducer>,
    /// The last request to send again, and when.
    asked: Option<(u64, Instant)>,
}

/// What the stream delivered next.
enum Next {
    /// A sample whose payload's slots from byte `.1` on are the next ones of the stream.
    Run(Sample, usize),
    /// The exporter skipped `[received, floor)` under its loss policy.
    Skipped(u64),
    /// The exporter's source is another one (its ring was created again).
    NewEpoch,
}

impl Inbox {
    fn producer(&mut self) -> &mut RawProducer {
        self.producer.as_mut().expect("the task holds the producer while it writes")
    }

    /// Takes the producer back from the fast path.
    fn take_back(&mut self) {
        if let Some(producer) = self.shared.lock().lent.take() {
            self.producer = Some(producer);
        }
    }

    /// The next run for the task. `can_lend`: the task holds no partly filled claim, so the
    /// fast path may write while it waits.
    async fn next(&mut self, can_lend: bool) -> Result<Next, BridgeError> {
        loop {
            let waiting = self.queue.try_recv().ok();
            let sample = match waiting {
                Some(sample) => sample,
                None => {
                    // Nothing queued: acknowledge what is new, lend the producer, and wait
                    // for the fast path to miss (a queued sample) or for the next
                    // acknowledgement to be due.
                    let wait = {
                        let mut stream = self.shared.lock();
                        if stream.committed != stream.acked.0 {
                            self.shared.ack(&mut stream, false)?;
                        }
                        // The callback queues under this lock: nothing queued now means the
                        // fast path may take the next sample.
                        if can_lend && self.queue.is_empty() {
                            // (Still lent, after a wait that ended with no sample.)
                            if let Some(producer) = self.producer.take() {
                                stream.lent = Some(producer);
                            }
                        }
                        HEARTBEAT.saturating_sub(stream.acked.1.elapsed())
                    };
                    let sample = tokio::select! {
                        sample = self.queue.recv() => sample,
                        () = self.shared.ack_due.notified() => tokio::select! {
                            // Acknowledged below, unless a later run was first.
                            sample = self.queue.recv() => sample,
                            () = tokio::time::sleep(ACK_DELAY) => None,
                        },
                        () = tokio::time::sleep(wait) => None,
                    };
                    let Some(sample) = sample else {
                        let mut stream = self.shared.lock();
                        let heartbeat = stream.acked.1.elapsed() >= HEARTBEAT;
                        if heartbeat || stream.committed != stream.acked.0 {
                            self.shared.ack(&mut stream, false)?;
                        }
                        continue;
                    };
                    sample
                }
            };
            self.take_back();
            let mut stream = self.shared.lock();
            if stream.acked.1.elapsed() >= HEARTBEAT {
                self.shared.ack(&mut stream, false)?;
            }
            let header =
                match batch_of(&sample, stream.epoch, self.shared.schema_hash, self.shared.slot) {
                    Ok(Some(header)) => header,
                    Ok(None) => continue,
                    Err(()) => return Ok(Next::NewEpoch),
                };
            BridgeStats::set(&self.shared.stats.sent, header.first + header.count);
            match place(&header, stream.received) {
                Place::Skipped => return Ok(Next::Skipped(header.floor)),
                Place::Gap => {
                    // Ask for what is missing, once per heartbeat.
                    let received = stream.received;
                    let recent = self
                        .asked
                        .is_some_and(|(at, when)| at == received && when.elapsed() < HEARTBEAT);
                    if !recent {
                        self.asked = Some((received, Instant::now()));
                        self.shared.ack(&mut stream, true)?;
                    }
                }
                Place::Duplicate => {}
                Place::Continues { skip } => {
                    stream.received = header.first + header.count;
                    return Ok(Next::Run(sample, skip * self.shared.slot));
                }
            }
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
///
/// A batch that continues the stream is written into the ring by Zenoh's callback itself
/// when the ring has room for all of it; anything else (a full ring, a gap, a duplicate
/// across a restart, a new epoch) goes through this future's task, in order.
pub async fn import_raw(ring: &RawRing, config: ImportConfig) -> Result<(), BridgeError> {
    let key = config.key.clone().unwrap_or_else(|| default_key(ring.name()));
    let id =
        config.importer_id.clone().unwrap_or_else(|| format!("{}:{}", hostname(), ring.name()));
    let slot = ring.slot_size();
    let stats = Arc::clone(&config.stats);
    let state_file = StateFile { path: crate::state_file(&config.state_dir, ring.name()) };
    // The first wait for the schema counts from here (it includes a client's wait for its
    // router); later ones (after the exporter restarts) from their own start.
    let mut started = Instant::now();
    let session = config.endpoints.open(config.schema_timeout).await?;
    let producer = ring.producer()?;
    // Acknowledgements are dropped rather than waited for on a congested link: they are sent
    // from Zenoh's callback too (which must not block), and the heartbeat repeats them.
    let acks = session
        .declare_publisher(format!("{key}/ack"))
        .congestion_control(CongestionControl::Drop)
        .await
        .map_err(zenoh_error)?;
    let (queue_in, queue) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        stream: std::sync::Mutex::new(Stream {
            epoch: 0,
            received: 0,
            committed: 0,
            acked: (0, Instant::now()),
            unacked_runs: 0,
            lent: None,
            queue: queue_in,
        }),
        acks,
        id,
        schema_hash: ring.schema().hash,
        slot,
        stats: Arc::clone(&stats),
        ack_due: tokio::sync::Notify::new(),
    });
    // Dropped after the subscriber (declared after it): a callback still running then has
    // finished with the producer once this takes it.
    let _reclaim = ReclaimOnDrop(Arc::clone(&shared));
    let _data = {
        let shared = Arc::clone(&shared);
        session
            .declare_subscriber(key.clone())
            .callback(move |sample| shared.offer(sample))
            .await
            .map_err(zenoh_error)?
    };
    let mut inbox =
        Inbox { shared: Arc::clone(&shared), queue, producer: Some(producer), asked: None };
    loop {
        inbox.take_back();
        // The exporter's schema, epoch and floor.
        let reply = query_schema(&session, &key, started, config.schema_timeout).await?;
        ring.schema()
            .check(ring.name(), &reply.schema)
            .map_err(|error| BridgeError::Schema { key: key.clone(), error })?;
        // A claim this importer was killed in the middle of blocks the ring's cursor: it is
        // filled with the messages that follow the cursor, which the exporter sends again.
        let mut pending = inbox.producer().recover_orphaned().map(|claim| (claim.len(), 0));
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
        {
            let mut stream = shared.lock();
            stream.epoch = reply.epoch;
            stream.received = next;
            stream.committed = next;
            BridgeStats::set(&stats.acknowledged, next);
            inbox.asked = Some((next, Instant::now()));
            shared.ack(&mut stream, true)?;
        }
        let mut state = state;
        loop {
            match inbox.next(pending.is_none()).await? {
                Next::Run(sample, skip) => {
                    let payload = sample.payload().to_bytes();
                    let mut bytes = &payload[skip..];
                    let mut n = 0;
                    if let Some((total, filled)) = pending.as_mut() {
                        // Re-fill the recovered claim first (it lies at the cursor); until it
                        // is full it is left pending between runs.
                        let mut claim = inbox.producer().recover_orphaned().ok_or_else(|| {
                            BridgeError::State {
                                path: state_file.path.clone(),
                                reason: "the claim left at the cursor was taken by another \
                                         producer: the importer must be the ring's only one"
                                    .into(),
                            }
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
                    write_all(inbox.producer(), bytes, slot).await?;
                    shared.committed(&mut shared.lock(), n as u64)?;
                }
                Next::Skipped(floor) => {
                    let mut stream = shared.lock();
                    let lost = floor - stream.received;
                    BridgeStats::add(&stats.skipped, lost);
                    stream.received = floor;
                    stream.committed = floor;
                    state = State { source_base: floor, ring_base: ring.cursor(), ..state };
                    state_file.store(&state)?;
                    shared.ack(&mut stream, false)?;
                }
                Next::NewEpoch => break,
            }
        }
        // A new exporter: the next wait for its schema counts from now.
        started = Instant::now();
    }
}
