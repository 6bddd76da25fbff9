//! The loops of `shm-disruptor record` and `replay`, over untyped rings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shm_disruptor::raw::{RawConsumer, RawProducer, RawRing};
use shm_disruptor::{ClaimError, ConsumeError};

use crate::{Frame, Pacer, RecordError, RecordReader, RecordWriter};

/// How often a loop that waits looks at its [`Stop`].
const POLL: Duration = Duration::from_millis(50);

/// When a recording or replay loop stops, besides running out of work: when `flag` is set
/// (by a signal handler, say), or after `after` messages.
#[derive(Clone, Copy, Debug)]
pub struct Stop<'a> {
    /// Stops the loop soon (within about 50 ms) once set.
    pub flag: &'a AtomicBool,
    /// Stops the loop once this many messages were recorded (or replayed).
    pub after: Option<u64>,
}

impl Stop<'_> {
    fn stopped(&self, done: u64) -> bool {
        // Relaxed: a flag polled in a loop; nothing is published through it.
        self.flag.load(Ordering::Relaxed) || self.after.is_some_and(|n| done >= n)
    }

    /// How many of `n` more messages may still be taken after `done`.
    fn allow(&self, done: u64, n: u64) -> u64 {
        self.after.map_or(n, |after| n.min(after.saturating_sub(done)))
    }
}

/// Records what `consumer` reads into `writer`, batch by batch, until `stop`: each batch is
/// written and handed to the operating system, then committed, so that nothing is lost (the
/// ring's producers wait for this consumer like any other). Returns once stopped; the caller
/// then [`finish`](RecordWriter::finish)es the file.
pub fn record_consumer(
    consumer: &mut RawConsumer,
    writer: &mut RecordWriter,
    stop: Stop<'_>,
) -> Result<(), RecordError> {
    let slot_size = writer.slot_size();
    loop {
        let done = writer.summary().messages;
        if stop.stopped(done) {
            return Ok(());
        }
        let batch = match consumer.consume_timeout(POLL) {
            Ok(batch) => batch,
            Err(ConsumeError::Timeout) => continue,
            Err(e) => return Err(e.into()),
        };
        let take = stop.allow(done, batch.len() as u64) as usize;
        let (a, b) = batch.slices();
        let bytes = take * slot_size;
        let a_len = a.len().min(bytes);
        writer.write_batch(batch.start(), &[&a[..a_len], &b[..bytes - a_len]])?;
        writer.flush()?;
        batch.commit_first(take);
    }
}

/// Records what is published in `ring` from sequence `from` on (from its cursor when `None`)
/// without a consumer index: producers do not wait for it, and when they lap it (reuse slots
/// before it copied them) it writes a gap frame with exactly the sequences lost. Polls the
/// ring (backing off to 10 ms while nothing is published) until `stop`; the caller then
/// [`finish`](RecordWriter::finish)es the file.
pub fn record_tail(
    ring: &RawRing,
    writer: &mut RecordWriter,
    from: Option<u64>,
    stop: Stop<'_>,
) -> Result<(), RecordError> {
    let slot_size = writer.slot_size();
    let max = ring.capacity().min((crate::MAX_FRAME_PAYLOAD / slot_size).max(1));
    let mut next = from.unwrap_or_else(|| ring.cursor());
    let mut bytes = Vec::with_capacity(max * slot_size);
    let mut idle = Duration::from_micros(50);
    loop {
        let done = writer.summary().messages;
        if stop.stopped(done) {
            return Ok(());
        }
        bytes.clear();
        let copy = ring.copy_published_from(next, max, &mut bytes)?;
        if copy.lost() > 0 {
            writer.write_gap(next, copy.lost())?;
        }
        next = copy.first;
        if copy.is_empty() {
            writer.flush()?;
            std::thread::sleep(idle);
            idle = (idle * 2).min(Duration::from_millis(10));
            continue;
        }
        idle = Duration::from_micros(50);
        let take = stop.allow(done, copy.len());
        writer.write_batch(copy.first, &[&bytes[..take as usize * slot_size]])?;
        next += take;
    }
}

/// How [`replay`] (and [`Replayer::replay_into`](crate::Replayer::replay_into)) replays.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// Messages a second (`None`: as fast as the ring takes them). Message `i` is published
    /// `i / rate` seconds after the first, whatever the batches were.
    pub rate: Option<f64>,
}

impl ReplayOptions {
    /// Replays at `rate` messages a second.
    pub fn at_rate(rate: f64) -> ReplayOptions {
        ReplayOptions { rate: Some(rate) }
    }
}

/// What a replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages published.
    pub messages: u64,
    /// The recording's batches replayed (in full or, when stopped, in part).
    pub batches: u64,
    /// The recording's gaps (nothing is published for them: the ring's sequences follow on).
    pub gaps: u64,
    /// Sequences the gaps say were lost while recording.
    pub missing: u64,
    /// How long it took.
    pub elapsed: Duration,
    /// Whether it was stopped before the end of the recording.
    pub stopped: bool,
}

/// Replays `reader`'s recording into `producer`'s ring: every batch's messages, in order, at
/// `options.rate` (gaps are counted, not replayed), until the end or `stop`. Waits for room
/// as long as the ring's consumers take, looking at `stop` every 50 ms.
pub fn replay(
    reader: &mut RecordReader,
    producer: &mut RawProducer,
    options: &ReplayOptions,
    stop: Stop<'_>,
) -> Result<ReplayReport, RecordError> {
    let slot_size = reader.header().schema.size;
    let started = Instant::now();
    let mut report = ReplayReport::default();
    let mut pacer = Pacer::new(options.rate);
    for frame in reader.frames()? {
        let mut bytes = match frame? {
            Frame::Gap { count, .. } => {
                report.gaps += 1;
                report.missing += count;
                continue;
            }
            Frame::Batch { bytes, .. } => bytes,
        };
        report.batches += 1;
        let mut rest = &mut bytes[..];
        while !rest.is_empty() {
            if stop.stopped(report.messages) {
                report.stopped = true;
                report.elapsed = started.elapsed();
                return Ok(report);
            }
            let wanted = stop.allow(report.messages, (rest.len() / slot_size) as u64);
            let due = pacer.due(wanted) as usize;
            if due == 0 {
                continue;
            }
            let mut claim = match producer.claim_available_timeout(due, POLL) {
                Ok(claim) => claim,
                Err(ClaimError::Timeout) => continue,
                Err(e) => return Err(e.into()),
            };
            let n = claim.len();
            let (now, later) = std::mem::take(&mut rest).split_at_mut(n * slot_size);
            claim.copy_from_slice(now);
            claim.commit();
            pacer.sent(n as u64);
            report.messages += n as u64;
            rest = later;
        }
    }
    report.elapsed = started.elapsed();
    report.stopped = stop.after.is_some_and(|n| report.messages >= n)
        && report.messages < reader.summary().messages;
    Ok(report)
}
