//! `stream`: bytes through a `Disruptor<u8>` between two processes (`StreamWriter::write_all` of
//! 64 KiB chunks, `StreamReader::fill_buf`/`consume`), both sides hashing what they moved; `raw`
//! copies the same chunks through the raw ring.

use std::io::{BufRead, Write};

use shm_disruptor::Disruptor;

use crate::baselines::raw::RawRing;
use crate::harness::child::{arg, ready_then_go, Args};
use crate::harness::config::{setup_consumer, wait_strategy, Config};
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{now_ns, unique_name, voluntary_switches, Unlink};
use crate::msg::Msg;
use crate::report::{throughput_sample, Sample};
use crate::scenarios::{create_graph, report_segment, Scenario, RING_SLOTS};
use crate::wire::{need, Report};

/// Bytes per `write_all` of the `stream` writers.
pub const STREAM_CHUNK: usize = 64 * 1024;

/// The `stream` source: this many pseudo-random bytes (plus a chunk), read at shifting offsets
/// so that the stream never repeats with the ring's period (a lap lost or read twice would then
/// go unnoticed).
pub const STREAM_SOURCE: usize = 1 << 20;

pub fn stream_source() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..STREAM_SOURCE + STREAM_CHUNK)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Chunk `i` (`len <= STREAM_CHUNK` bytes) of the stream.
pub fn stream_chunk(source: &[u8], i: u64, len: usize) -> &[u8] {
    let offset = (i * 40_503 % STREAM_SOURCE as u64) as usize;
    &source[offset..offset + len]
}

/// A fast running hash of a byte stream that does not depend on how the stream is cut: four
/// independent multiply lanes over 32-byte blocks, the odd tail buffered. A checksum against
/// lost, duplicated or reordered bytes, not a cryptographic one.
pub struct StreamHash {
    lanes: [u64; 4],
    buf: [u8; 32],
    buffered: usize,
    total: u64,
}

impl StreamHash {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new() -> StreamHash {
        StreamHash { lanes: [1, 2, 3, 4], buf: [0; 32], buffered: 0, total: 0 }
    }

    #[inline(always)]
    pub fn block(&mut self, block: &[u8]) {
        for (lane, word) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            *lane = (*lane ^ w).wrapping_mul(Self::K).rotate_left(29);
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.buffered > 0 {
            let take = (32 - self.buffered).min(data.len());
            self.buf[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < 32 {
                return;
            }
            let buf = self.buf;
            self.block(&buf);
            self.buffered = 0;
        }
        let mut blocks = data.chunks_exact(32);
        for block in &mut blocks {
            self.block(block);
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    pub fn finish(&self) -> u64 {
        let mut h = self.total.wrapping_mul(Self::K);
        for (i, &b) in self.buf[..self.buffered].iter().enumerate() {
            h ^= (b as u64) << ((i % 8) * 8);
            h = h.rotate_left(11).wrapping_mul(Self::K);
        }
        for lane in self.lanes {
            h = (h ^ lane).wrapping_mul(Self::K).rotate_left(31);
        }
        h
    }
}

/// `stream`'s writer: `write_all` of 64 KiB chunks through a `StreamWriter`, then `finish`.
pub fn stream_writer(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<u8>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let bytes: u64 = arg(args, "msgs")?;
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    producer.set_wait_strategy(wait_strategy());
    let mut writer = shm_disruptor::StreamWriter::new(producer);
    let source = stream_source();
    let mut hash = StreamHash::new();
    ready_then_go()?;
    let switches0 = voluntary_switches();
    let start = now_ns();
    let (mut sent, mut i) = (0u64, 0u64);
    while sent < bytes {
        let chunk = stream_chunk(&source, i, (bytes - sent).min(STREAM_CHUNK as u64) as usize);
        writer.write_all(chunk).map_err(|e| e.to_string())?;
        hash.update(chunk);
        sent += chunk.len() as u64;
        i += 1;
    }
    writer.finish();
    let end = now_ns();
    Ok(Report {
        start_ns: Some(start),
        end_ns: Some(end),
        hash: Some(hash.finish()),
        sleeps: Some(voluntary_switches() - switches0),
        ..Report::default()
    }
    .with_memory())
}

/// `stream`'s reader: `fill_buf` (the ring's bytes in place) and `consume` until the end.
pub fn stream_reader(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<u8>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let bytes: u64 = arg(args, "msgs")?;
    let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    let mut reader = shm_disruptor::StreamReader::new(consumer);
    let mut hash = StreamHash::new();
    ready_then_go()?;
    let switches0 = voluntary_switches();
    let mut received = 0u64;
    loop {
        let buf = reader.fill_buf().map_err(|e| e.to_string())?;
        if buf.is_empty() {
            break;
        }
        hash.update(buf);
        let n = buf.len();
        reader.consume(n);
        received += n as u64;
    }
    let end = now_ns();
    if received != bytes {
        return Err(format!("read {received} bytes before the end of the stream, not {bytes}"));
    }
    Ok(Report {
        end_ns: Some(end),
        received: Some(received),
        hash: Some(hash.finish()),
        sleeps: Some(voluntary_switches() - switches0),
        ..Report::default()
    })
}

/// `stream` over the raw ring: the same chunks, copied into contiguous claims.
pub fn raw_stream_writer(args: &Args) -> Result<Report, String> {
    let bytes: u64 = arg(args, "msgs")?;
    let ring = RawRing::<u8>::open(&arg::<String>(args, "ring")?, arg(args, "capacity")?)
        .map_err(|e| e.to_string())?;
    let mut producer = ring.producer();
    let source = stream_source();
    let mut hash = StreamHash::new();
    ready_then_go()?;
    let switches0 = voluntary_switches();
    let start = now_ns();
    let (mut sent, mut i) = (0u64, 0u64);
    while sent < bytes {
        let chunk = stream_chunk(&source, i, (bytes - sent).min(STREAM_CHUNK as u64) as usize);
        let mut rest = chunk;
        while !rest.is_empty() {
            let slots = producer.claim(rest.len());
            let n = slots.len();
            slots.copy_from_slice(&rest[..n]);
            producer.publish(n);
            rest = &rest[n..];
        }
        hash.update(chunk);
        sent += chunk.len() as u64;
        i += 1;
    }
    let end = now_ns();
    Ok(Report {
        start_ns: Some(start),
        end_ns: Some(end),
        hash: Some(hash.finish()),
        sleeps: Some(voluntary_switches() - switches0),
        ..Report::default()
    }
    .with_memory())
}

pub fn raw_stream_reader(args: &Args) -> Result<Report, String> {
    let bytes: u64 = arg(args, "msgs")?;
    let ring = RawRing::<u8>::open(&arg::<String>(args, "ring")?, arg(args, "capacity")?)
        .map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer();
    let mut hash = StreamHash::new();
    ready_then_go()?;
    let switches0 = voluntary_switches();
    let mut received = 0u64;
    while received < bytes {
        let data = consumer.poll();
        let n = data.len().min((bytes - received) as usize);
        hash.update(&data[..n]);
        consumer.release(n);
        received += n as u64;
    }
    let end = now_ns();
    Ok(Report {
        end_ns: Some(end),
        received: Some(received),
        hash: Some(hash.finish()),
        sleeps: Some(voluntary_switches() - switches0),
        ..Report::default()
    })
}

/// The throughput of a `stream` transfer, once the reader's hash matches the writer's.
/// `writer_sleeps` and `reader_sleeps`: how often each side slept, per MB.
pub fn stream_sample(results: &[Report], bytes: u64) -> Result<Sample, String> {
    let hashes: Vec<String> =
        results.iter().filter_map(|r| r.hash).map(|h| format!("{h:x}")).collect();
    if hashes.len() != 2 || hashes[0] != hashes[1] {
        return Err(format!("the stream arrived corrupted: hashes {hashes:?}"));
    }
    let mut sample = throughput_sample(results, bytes)?;
    let sleeps = |r: &Report| need(r.sleeps, "sleeps").map(|n| n as f64 * 1e6 / bytes as f64);
    // The reader's result comes first (it is spawned first), then the writer's.
    if let [reader, writer] = results {
        sample.extra = vec![
            ("writer_sleeps_per_mb", sleeps(writer)?),
            ("reader_sleeps_per_mb", sleeps(reader)?),
        ];
    }
    Ok(sample)
}

/// `stream` through a `Disruptor<u8>` with `StreamWriter` and `StreamReader`.
pub fn run_stream(
    cfg: &Config,
    sc: &Scenario,
    bytes: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let (name, _ring, unlink) = create_graph::<u8>(RING_SLOTS, &[&[]])?;
    report_segment::<u8>(sc, &name, RING_SLOTS, printed);
    let args = [("ring", name), ("msgs", bytes.to_string())];
    let kids = vec![
        Kid::spawn(cfg, "stream-reader", u8::KIND, &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "stream-writer", u8::KIND, &args, cfg.cpu(0).into_iter().collect())?,
    ];
    stream_sample(&run_children(kids, unlink)?, bytes)
}

/// `stream` through the raw ring of bytes.
pub fn run_raw_stream(cfg: &Config, bytes: u64) -> Result<Sample, String> {
    let name = unique_name("shmd-raw");
    let _ring = RawRing::<u8>::create(&name, RING_SLOTS as u64).map_err(|e| e.to_string())?;
    let unlink = Unlink(vec![name.clone()]);
    let args = [("ring", name), ("capacity", RING_SLOTS.to_string()), ("msgs", bytes.to_string())];
    let kids = vec![
        Kid::spawn(cfg, "raw-stream-reader", u8::KIND, &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "raw-stream-writer", u8::KIND, &args, cfg.cpu(0).into_iter().collect())?,
    ];
    stream_sample(&run_children(kids, unlink)?, bytes)
}
