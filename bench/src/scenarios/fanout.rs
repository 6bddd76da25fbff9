//! `fanout-threads-N`, `fanout-procs-N` (and `fanout-single-*`): one producer process and N
//! consumers of one single-producer ring (threads of one process, or a process each), against
//! `raw-scan` and `raw-scan-cached`; what is measured is the producer's cost per message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

use shm_disruptor::{ClaimError, Disruptor};

use crate::baselines::raw_scan::{ScanConsumer, ScanRing};
use crate::harness::child::{arg, ready_then_go, Args};
use crate::harness::config::{setup_consumer, wait_strategy, Config};
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{median, now_ns, unique_name, Unlink};
use crate::msg::{check_in_order, fill, Msg};
use crate::report::Sample;
use crate::scenarios::{report_segment, Impl, Scenario, RING_SLOTS};
use crate::wire::{need, Report};

/// Claims per timed chunk of a `fanout-*` producer: one at a time, and of up to `BATCH`.
pub const FAN_CHUNK_SINGLE: u64 = 256;
pub const FAN_CHUNK_BATCH: u64 = 16;

/// The cost of one `now_ns()` as seen between two reads: the median of 1,001 back-to-back pairs.
pub fn clock_cost_ns() -> u64 {
    let mut pairs: Vec<f64> = (0..1001)
        .map(|_| {
            let a = now_ns();
            (now_ns() - a) as f64
        })
        .collect();
    median(&mut pairs) as u64
}

/// A `fanout-*` producer's loop over `put(want, &mut seq)`, which tries one claim of up to
/// `want` messages, writes messages `seq..` into it and commits (`Ok(true)`), or finds the ring
/// full (`Ok(false)`). Claims are timed in chunks (see the module docs); a producer that finds
/// the ring full yields.
pub fn fan_drive(
    msgs: u64,
    batch: usize,
    mut put: impl FnMut(usize, &mut u64) -> Result<bool, String>,
) -> Result<Report, String> {
    let clock = clock_cost_ns();
    let chunk = if batch <= 1 { FAN_CHUNK_SINGLE } else { FAN_CHUNK_BATCH };
    ready_then_go()?;
    let (mut seq, mut busy_ns, mut claims, mut fulls, mut full_tries, mut full_ns) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    // The cost per message of each whole chunk (no claim in it found the ring full).
    let mut whole: Vec<f32> =
        Vec::with_capacity((msgs / (chunk * batch.max(1) as u64)) as usize + 1024);
    let start = now_ns();
    while seq < msgs {
        let (t0, seq0) = (now_ns(), seq);
        let (mut took, mut full) = (0u64, false);
        while took < chunk && seq < msgs {
            let want = (msgs - seq).min(batch.max(1) as u64) as usize;
            if put(want, &mut seq)? {
                took += 1;
            } else {
                full = true;
                break;
            }
        }
        let spent = (now_ns() - t0).saturating_sub(clock);
        if took > 0 {
            busy_ns += spent;
            claims += took;
            if took == chunk {
                whole.push(spent as f32 / (seq - seq0) as f32);
            }
        } else {
            full_ns += spent;
            full_tries += 1;
        }
        if full {
            fulls += 1;
            std::thread::yield_now();
        }
    }
    let end = now_ns();
    whole.sort_by(f32::total_cmp);
    let quantile = |q: f64| whole.get((whole.len() as f64 * q) as usize).copied().unwrap_or(0.0);
    Ok(Report {
        start_ns: Some(start),
        end_ns: Some(end),
        busy_ns: Some(busy_ns),
        claims: Some(claims),
        fulls: Some(fulls),
        full_tries: Some(full_tries),
        full_ns: Some(full_ns),
        clock_ns: Some(clock),
        chunk_p50: Some(f64::from(quantile(0.5))),
        chunk_p99: Some(f64::from(quantile(0.99))),
        ..Report::default()
    }
    .with_memory())
}

/// `fanout-*`'s producer: `impl=ours` (a single producer of ours, `try_claim` or
/// `try_claim_available`) or `impl=raw-scan`.
pub fn fan_producer(args: &Args) -> Result<Report, String> {
    let imp: String = arg(args, "impl")?;
    let name: String = arg(args, "ring")?;
    let msgs: u64 = arg(args, "msgs")?;
    let batch: usize = arg(args, "batch")?;
    match imp.as_str() {
        "ours" => {
            let ring = Disruptor::<u64>::open(&name).map_err(|e| e.to_string())?;
            let mut producer = ring.producer().map_err(|e| e.to_string())?;
            producer.set_wait_strategy(wait_strategy());
            if batch <= 1 {
                fan_drive(msgs, batch, |_, seq| match producer.try_claim() {
                    Ok(mut claim) => {
                        *claim = u64::make(0, *seq);
                        *seq += 1;
                        claim.commit();
                        Ok(true)
                    }
                    Err(ClaimError::Full) => Ok(false),
                    Err(e) => Err(e.to_string()),
                })
            } else {
                fan_drive(msgs, batch, |want, seq| match producer.try_claim_available(want) {
                    Ok(mut claim) => {
                        let (a, b) = claim.slices_mut();
                        fill(a, 0, seq);
                        fill(b, 0, seq);
                        claim.commit();
                        Ok(true)
                    }
                    Err(ClaimError::Full) => Ok(false),
                    Err(e) => Err(e.to_string()),
                })
            }
        }
        "raw-scan" | "raw-scan-cached" => {
            let ring = ScanRing::open(&name, arg(args, "capacity")?, arg(args, "consumers")?)
                .map_err(|e| e.to_string())?;
            let mut producer = ring.producer(imp == "raw-scan-cached");
            fan_drive(msgs, batch, |want, seq| match producer.try_claim(want) {
                Some(slots) => {
                    fill(slots, 0, seq);
                    let n = slots.len();
                    producer.publish(n);
                    Ok(true)
                }
                None => Ok(false),
            })
        }
        other => Err(format!("no fan-out producer for impl {other}")),
    }
}

/// Runs `run(handle)` on a thread per handle once the parent says go; `run` returns the time
/// its consumer read its last message. Reports those times (`ends`).
pub fn fan_threads<H: Send>(
    handles: Vec<H>,
    run: impl Fn(H) -> Result<u64, String> + Sync,
) -> Result<Report, String> {
    let count = handles.len();
    let barrier = Barrier::new(count + 1);
    let go = AtomicBool::new(false);
    let ends = std::thread::scope(|s| {
        let threads: Vec<_> = handles
            .into_iter()
            .map(|handle| {
                let (barrier, go, run) = (&barrier, &go, &run);
                s.spawn(move || {
                    barrier.wait();
                    // Relaxed: the barrier orders the store before this load.
                    if !go.load(Ordering::Relaxed) {
                        return Err("the run was called off".to_string());
                    }
                    run(handle)
                })
            })
            .collect();
        let ready = ready_then_go();
        // Relaxed: the barrier orders it before the threads' loads.
        go.store(ready.is_ok(), Ordering::Relaxed);
        barrier.wait();
        let ends: Result<Vec<u64>, String> = threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err("a consumer thread panicked".into())))
            .collect();
        ready.and(ends)
    })?;
    Ok(Report { ends, ..Report::default() })
}

/// `fanout-*`'s consumers `from..from + count`, a thread each: each reads and checks every
/// message, in batches, and commits.
pub fn fan_consumers(args: &Args) -> Result<Report, String> {
    let imp: String = arg(args, "impl")?;
    let name: String = arg(args, "ring")?;
    let msgs: u64 = arg(args, "msgs")?;
    let from: usize = arg(args, "from")?;
    let count: usize = arg(args, "count")?;
    match imp.as_str() {
        "ours" => {
            let ring = Disruptor::<u64>::open(&name).map_err(|e| e.to_string())?;
            let mut handles = Vec::with_capacity(count);
            for index in from..from + count {
                let mut consumer = ring.consumer(index).map_err(|e| e.to_string())?;
                setup_consumer(&mut consumer);
                handles.push(consumer);
            }
            fan_threads(handles, |mut consumer| {
                let mut expected = 0u64;
                while expected < msgs {
                    let batch = consumer.consume();
                    let (a, b) = batch.slices();
                    check_in_order(a, &mut expected)?;
                    check_in_order(b, &mut expected)?;
                    batch.commit();
                }
                Ok(now_ns())
            })
        }
        "raw-scan" | "raw-scan-cached" => {
            let ring = ScanRing::open(&name, arg(args, "capacity")?, arg(args, "consumers")?)
                .map_err(|e| e.to_string())?;
            if from + count > ring.consumers {
                return Err(format!("consumers {from}..{} of {}", from + count, ring.consumers));
            }
            let handles: Vec<ScanConsumer<'_>> =
                (from..from + count).map(|index| ring.consumer(index)).collect();
            fan_threads(handles, |mut consumer| {
                let mut expected = 0u64;
                while expected < msgs {
                    let got = consumer.poll();
                    check_in_order(got, &mut expected)?;
                    let n = got.len();
                    consumer.release(n);
                }
                Ok(now_ns())
            })
        }
        other => Err(format!("no fan-out consumer for impl {other}")),
    }
}

/// A `fanout-*` run's geometry: `consumers` consumers (capped by `Config::max_n`), as threads
/// of one process or as processes, claims of up to `batch`.
#[derive(Clone, Copy, Debug)]
pub struct Fan {
    pub consumers: usize,
    pub threads: bool,
    pub batch: usize,
}

/// `fanout-*`: a producer process and the consumers (one process of threads, or a process
/// each) over our ring or the `raw-scan` ring; the producer's timings and each consumer's end.
pub fn run_fanout(
    cfg: &Config,
    sc: &Scenario,
    imp: Impl,
    fan: Fan,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let name = unique_name("shmd-fan");
    // The creator's handle, kept until the run ends.
    let (_ours, _scan);
    match imp {
        Impl::Ours => {
            let ring = Disruptor::<u64>::builder(&name)
                .capacity(RING_SLOTS)
                .consumers(fan.consumers)
                .single_producer()
                .create()
                .map_err(|e| e.to_string())?;
            (_ours, _scan) = (Some(ring), None);
            report_segment::<u64>(sc, &name, RING_SLOTS, printed);
        }
        Impl::RawScan | Impl::RawScanCached => {
            let ring = ScanRing::create(&name, RING_SLOTS as u64, fan.consumers)
                .map_err(|e| e.to_string())?;
            (_ours, _scan) = (None, Some(ring));
        }
        other => return Err(format!("no fan-out for impl {}", other.name())),
    }
    let unlink = Unlink(vec![name.clone()]);
    let common = [
        ("impl", imp.name().to_owned()),
        ("ring", name),
        ("msgs", msgs.to_string()),
        ("consumers", fan.consumers.to_string()),
        ("capacity", RING_SLOTS.to_string()),
    ];
    let consumer_args = |from: usize, count: usize| {
        let mut args = common.to_vec();
        args.extend([("from", from.to_string()), ("count", count.to_string())]);
        args
    };
    let mut kids = Vec::new();
    if fan.threads {
        kids.push(Kid::spawn(cfg, "fan-consumers", "u64", &consumer_args(0, fan.consumers), {
            // The consumer threads share every CPU but the producer's.
            cfg.pin.iter().skip(1).copied().collect()
        })?);
    } else {
        for index in 0..fan.consumers {
            let cpus = cfg.cpu(1 + index).into_iter().collect();
            kids.push(Kid::spawn(cfg, "fan-consumers", "u64", &consumer_args(index, 1), cpus)?);
        }
    }
    let mut producer_args = common.to_vec();
    producer_args.push(("batch", fan.batch.to_string()));
    kids.push(Kid::spawn(
        cfg,
        "fan-producer",
        "u64",
        &producer_args,
        cfg.cpu(0).into_iter().collect(),
    )?);
    let results = run_children(kids, unlink)?;
    let (producer, consumers) = results.split_last().ok_or("no results")?;
    let start = need(producer.start_ns, "start_ns")?;
    let end = need(producer.end_ns, "end_ns")?;
    let ends: Vec<u64> = consumers.iter().flat_map(|r| r.ends.iter().copied()).collect();
    if ends.len() != fan.consumers {
        return Err(format!("{} consumer results for {} consumers", ends.len(), fan.consumers));
    }
    let mut rates: Vec<f64> =
        ends.iter().map(|&e| msgs as f64 * 1e9 / e.saturating_sub(start).max(1) as f64).collect();
    let cons_min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let cons_median = median(&mut rates);
    let busy_ns = need(producer.busy_ns, "busy_ns")?;
    let claims = need(producer.claims, "claims")?;
    let fulls = need(producer.fulls, "fulls")?;
    let full_tries = need(producer.full_tries, "full_tries")?;
    let full_ns = need(producer.full_ns, "full_ns")?;
    let last = ends.iter().copied().max().unwrap_or(end).max(end);
    Ok(Sample {
        msgs,
        elapsed_ns: last.saturating_sub(start),
        producer_hwm_kb: producer.hwm_kb,
        extra: vec![
            ("consumers", fan.consumers as f64),
            ("batch", fan.batch as f64),
            ("prod_ns_per_msg", busy_ns as f64 / msgs as f64),
            ("prod_msgs_per_s", (msgs as f64 * 1e9 / busy_ns.max(1) as f64).round()),
            ("prod_wall_msgs_per_s", (msgs as f64 * 1e9 / (end - start).max(1) as f64).round()),
            ("cons_min_msgs_per_s", cons_min.round()),
            ("cons_median_msgs_per_s", cons_median.round()),
            ("msgs_per_claim", msgs as f64 / claims.max(1) as f64),
            ("fulls_per_kmsg", fulls as f64 * 1e3 / msgs as f64),
            ("full_try_ns", if full_tries == 0 { 0.0 } else { full_ns as f64 / full_tries as f64 }),
            ("chunk_p50_ns_per_msg", need(producer.chunk_p50, "chunk_p50")?),
            ("chunk_p99_ns_per_msg", need(producer.chunk_p99, "chunk_p99")?),
        ],
        ..Sample::default()
    })
}
