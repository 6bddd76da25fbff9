//! `zenoh` and `zenoh-ping`, the baselines of `bridge`: Zenoh's own publisher -> subscriber
//! throughput and ping latency between two processes over loopback TCP, with the session
//! configuration of the bridge (`shm_disruptor_bridge::Endpoints`: peer mode, an explicit
//! `tcp/127.0.0.1:PORT` endpoint, no scouting) and its publisher's QoS (`CongestionControl::Block`,
//! not express).
//!
//! - `zenoh`: the publisher puts `msgs` 32-byte messages, `batch` per put (the bridge's batch);
//!   the subscriber (the default FIFO handler, `recv`) checks every message in order.
//! - `zenoh-ping`: as Zenoh's own `z_ping`/`z_pong` examples: the pinger puts one 32-byte
//!   message and waits (`recv`) for its echo, which the ponger puts back from its subscriber's
//!   callback; one in flight; one-way latency = round trip / 2.
//!
//! A side is ready once its publisher matches the other side's subscriber. A sender (and the
//! ponger) keeps its session after reporting until the parent releases it.

use std::time::Instant;

use shm_disruptor_bridge::Endpoints;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::harness::child::{arg, hold_until_released, ready_then_go, Args};
use crate::harness::config::Config;
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{now_ns, Unlink};
use crate::msg::{Msg, Msg32};
use crate::report::{latency_of, throughput_sample, Sample};
use crate::scenarios::pingpong::{latency_report, new_histogram, warmup};
use crate::wire::Report;

fn e(e: impl std::fmt::Display) -> String {
    format!("zenoh: {e}")
}

/// A free loopback TCP port, as a Zenoh endpoint.
pub fn free_endpoint() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(format!("tcp/127.0.0.1:{}", listener.local_addr().map_err(|e| e.to_string())?.port()))
}

/// A session configured as the bridge's: listening on (`listen`) or connecting to `endpoint`.
fn open(endpoint: &str, listen: bool) -> Result<zenoh::Session, String> {
    let endpoints = if listen {
        Endpoints { listen: vec![endpoint.to_owned()], ..Endpoints::default() }
    } else {
        Endpoints { connect: vec![endpoint.to_owned()], ..Endpoints::default() }
    };
    zenoh::open(endpoints.config().map_err(e)?).wait().map_err(e)
}

/// Waits (the child's deadline bounds it) until `publisher` has a matching subscriber.
fn wait_matching(publisher: &zenoh::pubsub::Publisher<'_>) -> Result<(), String> {
    while !publisher.matching_status().wait().map_err(e)?.matching() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// The bytes of messages `seq..seq + n` (as they lie in a ring of `Msg32`).
pub fn encode(seq: u64, n: u64, out: &mut Vec<u8>) {
    out.clear();
    for s in seq..seq + n {
        for word in Msg32::make(0, s) {
            out.extend_from_slice(&word.to_ne_bytes());
        }
    }
}

/// The message at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Msg32 {
    let word = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    [word(0), word(1), word(2), word(3)]
}

pub fn zenoh_publisher(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let batch: u64 = arg(args, "batch")?;
    let session = open(&arg::<String>(args, "endpoint")?, true)?;
    let publisher = session
        .declare_publisher(arg::<String>(args, "key")?)
        .congestion_control(CongestionControl::Block)
        .wait()
        .map_err(e)?;
    wait_matching(&publisher)?;
    let mut buffer = Vec::with_capacity(batch as usize * 32);
    ready_then_go()?;
    let start = now_ns();
    let mut seq = 0;
    while seq < msgs {
        let n = (msgs - seq).min(batch);
        encode(seq, n, &mut buffer);
        publisher.put(ZBytes::from(buffer.clone())).wait().map_err(e)?;
        seq += n;
    }
    let end = now_ns();
    hold_until_released((publisher, session));
    Ok(Report { start_ns: Some(start), end_ns: Some(end), ..Report::default() }.with_memory())
}

pub fn zenoh_subscriber(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let session = open(&arg::<String>(args, "endpoint")?, false)?;
    let subscriber = session.declare_subscriber(arg::<String>(args, "key")?).wait().map_err(e)?;
    ready_then_go()?;
    let mut expected = 0;
    while expected < msgs {
        let sample = subscriber.recv().map_err(e)?;
        let bytes = sample.payload().to_bytes();
        if bytes.len() % 32 != 0 {
            return Err(format!("a payload of {} bytes", bytes.len()));
        }
        for chunk in bytes.chunks_exact(32) {
            let m = decode(chunk);
            if m != Msg32::make(0, expected) {
                return Err(format!("message {expected} is {m:?}"));
            }
            expected += 1;
        }
    }
    Ok(Report { end_ns: Some(now_ns()), received: Some(expected), ..Report::default() })
}

pub fn zenoh_pinger(args: &Args) -> Result<Report, String> {
    let rounds: u64 = arg(args, "msgs")?;
    let key: String = arg(args, "key")?;
    let session = open(&arg::<String>(args, "endpoint")?, true)?;
    let publisher = session
        .declare_publisher(format!("{key}/ping"))
        .congestion_control(CongestionControl::Block)
        .wait()
        .map_err(e)?;
    let subscriber = session.declare_subscriber(format!("{key}/pong")).wait().map_err(e)?;
    wait_matching(&publisher)?;
    let mut hist = new_histogram()?;
    let warm = warmup(rounds);
    let mut buffer = Vec::with_capacity(32);
    ready_then_go()?;
    let mut started = Instant::now();
    for i in 0..warm + rounds {
        if i == warm {
            started = Instant::now();
        }
        encode(i, 1, &mut buffer);
        let t0 = Instant::now();
        publisher.put(ZBytes::from(buffer.clone())).wait().map_err(e)?;
        let sample = subscriber.recv().map_err(e)?;
        let elapsed = t0.elapsed().as_nanos() as u64;
        let bytes = sample.payload().to_bytes();
        if bytes.len() != 32 || decode(&bytes) != Msg32::make(0, i) {
            return Err(format!("round {i}: echo {bytes:?}"));
        }
        if i >= warm {
            hist.record(elapsed).map_err(|e| e.to_string())?;
        }
    }
    let elapsed = started.elapsed().as_nanos() as u64;
    hold_until_released((subscriber, publisher, session));
    Ok(latency_report(&hist, rounds, elapsed))
}

pub fn zenoh_ponger(args: &Args) -> Result<Report, String> {
    let key: String = arg(args, "key")?;
    let session = open(&arg::<String>(args, "endpoint")?, false)?;
    let publisher = session
        .declare_publisher(format!("{key}/pong"))
        .congestion_control(CongestionControl::Block)
        .wait()
        .map_err(e)?;
    wait_matching(&publisher)?;
    let subscriber = session
        .declare_subscriber(format!("{key}/ping"))
        .callback(move |sample| {
            let _ = publisher.put(sample.payload().clone()).wait();
        })
        .wait()
        .map_err(e)?;
    ready_then_go()?;
    // It echoes from Zenoh's threads until the parent releases it.
    hold_until_released((subscriber, session));
    Ok(Report::default())
}

/// One-way latency from a pinger's (halved) or a receiver's (one-way) result: `msgs` is the
/// rounds (messages one in flight), not doubled.
pub fn one_way_sample(results: &[Report]) -> Result<Sample, String> {
    let r = results.iter().find(|r| r.p50_ns.is_some()).ok_or("no latency result")?;
    Ok(Sample {
        msgs: r.rounds.ok_or("no rounds")?,
        elapsed_ns: r.elapsed_ns.ok_or("no elapsed_ns")?,
        latency: Some(latency_of(r)?),
        percentiles: r.percentiles.clone(),
        ..Sample::default()
    })
}

/// `zenoh`: `msgs` 32-byte messages, `batch` per put.
pub fn run_pubsub(cfg: &Config, msgs: u64, batch: usize) -> Result<Sample, String> {
    let args = [
        ("key", format!("shmd-bench/zenoh-{}", std::process::id())),
        ("endpoint", free_endpoint()?),
        ("msgs", msgs.to_string()),
        ("batch", batch.to_string()),
    ];
    let kids = vec![
        Kid::spawn(cfg, "zenoh-sub", Msg32::KIND, &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "zenoh-pub", Msg32::KIND, &args, cfg.cpu(0).into_iter().collect())?,
    ];
    let mut sample = throughput_sample(&run_children(kids, Unlink(Vec::new()))?, msgs)?;
    sample.extra.push(("batch", batch as f64));
    Ok(sample)
}

/// `zenoh-ping`: `rounds` round trips of one 32-byte message.
pub fn run_ping(cfg: &Config, rounds: u64) -> Result<Sample, String> {
    let args = [
        ("key", format!("shmd-bench/zenoh-ping-{}", std::process::id())),
        ("endpoint", free_endpoint()?),
        ("msgs", rounds.to_string()),
    ];
    let kids = vec![
        Kid::spawn(cfg, "zenoh-pong", Msg32::KIND, &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "zenoh-ping", Msg32::KIND, &args, cfg.cpu(0).into_iter().collect())?,
    ];
    one_way_sample(&run_children(kids, Unlink(Vec::new()))?)
}
