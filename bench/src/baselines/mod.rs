//! The baselines, one file each: `raw` (a minimal SPSC ring over shared memory), `raw-scan` and
//! `raw-scan-cached` (fan-out rings with O(N) gating), the `disruptor` crate and a crossbeam
//! channel (threads of one child process), iceoryx2 (with the `iceoryx2` feature), and the
//! Node.js seed's own benchmark (`node-seed`, where `BENCH_NODE_SEED` is set), and Zenoh's own
//! publish-subscribe and ping (`zenoh`, `zenoh-ping`: the baselines of `bridge`).

pub mod channel;
pub mod disruptor_crate;
#[cfg(feature = "iceoryx2")]
pub mod iceoryx2;
pub mod node_seed;
pub mod raw;
pub mod raw_scan;
pub mod zenoh;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::harness::child::{arg, Args};
use crate::harness::config::Config;
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::Unlink;
use crate::msg::Msg;
use crate::report::{throughput_sample, Sample};
use crate::scenarios::{Impl, Scenario, Shape, BATCH};
use crate::wire::Report;
use channel::channel_run;
use disruptor_crate::{crate_run, crate_window};

/// The thread baselines, all in this one child process.
pub fn threads<M: Msg>(args: &Args) -> Result<Report, String> {
    let imp: String = arg(args, "impl")?;
    let producers: usize = arg(args, "producers")?;
    if imp == "disruptor-crate" && args.contains_key("window_ns") {
        return crate_window(producers, Duration::from_nanos(arg(args, "window_ns")?));
    }
    let consumers: usize = arg(args, "consumers")?;
    let per_producer: u64 = arg(args, "msgs")?;
    let batch: usize = arg(args, "batch")?;
    let total = per_producer * producers as u64;
    let (start, end) = match imp.as_str() {
        "disruptor-crate" => crate_run::<M>(producers, consumers, per_producer, 1)?,
        "disruptor-crate-batch" => crate_run::<M>(producers, consumers, per_producer, batch)?,
        "channel" => channel_run::<M>(producers, per_producer)?,
        other => return Err(format!("unknown thread impl {other}")),
    };
    Ok(Report {
        start_ns: Some(start),
        end_ns: Some(end),
        received: Some(total),
        ..Report::default()
    }
    .with_memory())
}

/// What a handler thread of the baselines records: the end time, or a failed check.
#[derive(Default)]
pub struct Outcome {
    pub end_ns: AtomicU64,
    pub failed: AtomicBool,
}

impl Outcome {
    pub fn result(&self, start: u64) -> Result<(u64, u64), String> {
        // Relaxed: the handler threads have been joined, which orders their stores before us.
        if self.failed.load(Ordering::Relaxed) {
            return Err("a consumer saw a message out of order".into());
        }
        Ok((start, self.end_ns.load(Ordering::Relaxed)))
    }
}

pub fn run_threads(cfg: &Config, sc: &Scenario, imp: Impl, msgs: u64) -> Result<Sample, String> {
    let (producers, consumers, batch) = match sc.shape {
        Shape::Spsc { .. } => (1, 1, BATCH),
        Shape::Multi { producers, consumers } => (producers, consumers, BATCH),
        Shape::PingPong
        | Shape::Wakeup
        | Shape::Stages { .. }
        | Shape::Stream
        | Shape::Fanout { .. }
        | Shape::Window { .. }
        | Shape::Bridge => return Err(format!("no thread baseline for {:?}", sc.shape)),
    };
    let per_producer = msgs / producers as u64;
    let args = [
        ("impl", imp.name().to_owned()),
        ("producers", producers.to_string()),
        ("consumers", consumers.to_string()),
        ("msgs", per_producer.to_string()),
        ("batch", batch.to_string()),
    ];
    // The threads of this child share every CPU of the pin list.
    let kid = Kid::spawn(cfg, "threads", sc.kind, &args, cfg.pin.clone())?;
    throughput_sample(
        &run_children(vec![kid], Unlink(Vec::new()))?,
        per_producer * producers as u64,
    )
}
