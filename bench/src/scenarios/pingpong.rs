//! `pingpong`: round trips over two rings between two processes; the pinger records each round
//! trip in an HDR histogram and reports one-way latency (round trip / 2) percentiles.

use std::time::Instant;

use shm_disruptor::Disruptor;

use crate::baselines::raw::RawRing;
use crate::harness::child::{arg, ready_then_go, Args};
use crate::harness::config::{setup_consumer, wait_strategy, Config};
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{unique_name, Unlink};
use crate::msg::{check_in_order, Msg};
use crate::report::{latency_sample, Sample};
use crate::scenarios::{create_ring, report_segment, Scenario, PINGPONG_SLOTS};
use crate::wire::{Report, QUANTILES};

/// Histogram of round-trip times, reported as one-way (halved) percentiles.
pub fn latency_report(hist: &hdrhistogram::Histogram<u64>, rounds: u64, elapsed_ns: u64) -> Report {
    let one_way = |q: f64| hist.value_at_quantile(q) as f64 / 2.0;
    Report {
        rounds: Some(rounds),
        elapsed_ns: Some(elapsed_ns),
        p50_ns: Some(one_way(0.5)),
        p99_ns: Some(one_way(0.99)),
        p999_ns: Some(one_way(0.999)),
        max_ns: Some(hist.max() as f64 / 2.0),
        mean_ns: Some(hist.mean() / 2.0),
        percentiles: QUANTILES.iter().map(|&q| [q, one_way(q)]).collect(),
        ..Report::default()
    }
}

pub fn new_histogram() -> Result<hdrhistogram::Histogram<u64>, String> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())
}

/// Warm-up round trips before recording.
pub fn warmup(rounds: u64) -> u64 {
    (rounds / 10).min(10_000)
}

pub fn ours_pingpong<M: Msg>(args: &Args, pinger: bool) -> Result<Report, String> {
    let ping = Disruptor::<M>::open(&arg::<String>(args, "ping")?).map_err(|e| e.to_string())?;
    let pong = Disruptor::<M>::open(&arg::<String>(args, "pong")?).map_err(|e| e.to_string())?;
    let rounds: u64 = arg(args, "msgs")?;
    let (out, inp) = if pinger { (&ping, &pong) } else { (&pong, &ping) };
    let mut producer = out.producer().map_err(|e| e.to_string())?;
    let mut consumer = inp.consumer(0).map_err(|e| e.to_string())?;
    producer.set_wait_strategy(wait_strategy());
    setup_consumer(&mut consumer);
    let mut hist = new_histogram()?;
    let warm = warmup(rounds);
    ready_then_go()?;
    let mut started = Instant::now();
    for i in 0..warm + rounds {
        if i == warm {
            started = Instant::now();
        }
        let t0 = Instant::now();
        if pinger {
            let mut claim = producer.claim().map_err(|e| e.to_string())?;
            *claim = M::make(0, i);
            claim.commit();
        }
        let batch = consumer.consume();
        let mut expected = i;
        check_in_order(batch.slices().0, &mut expected)?;
        if batch.len() != 1 {
            return Err(format!("round {i}: {} messages in flight", batch.len()));
        }
        batch.commit();
        if pinger {
            if i >= warm {
                hist.record(t0.elapsed().as_nanos() as u64).map_err(|e| e.to_string())?;
            }
        } else {
            let mut claim = producer.claim().map_err(|e| e.to_string())?;
            *claim = M::make(0, i);
            claim.commit();
        }
    }
    let elapsed = started.elapsed().as_nanos() as u64;
    Ok(if pinger {
        latency_report(&hist, rounds, elapsed)
    } else {
        Report::default().with_memory()
    })
}

pub fn raw_pingpong<M: Msg>(args: &Args, pinger: bool) -> Result<Report, String> {
    let capacity: u64 = arg(args, "capacity")?;
    let ping =
        RawRing::<M>::open(&arg::<String>(args, "ping")?, capacity).map_err(|e| e.to_string())?;
    let pong =
        RawRing::<M>::open(&arg::<String>(args, "pong")?, capacity).map_err(|e| e.to_string())?;
    let rounds: u64 = arg(args, "msgs")?;
    let (out, inp) = if pinger { (&ping, &pong) } else { (&pong, &ping) };
    let mut producer = out.producer();
    let mut consumer = inp.consumer();
    let mut hist = new_histogram()?;
    let warm = warmup(rounds);
    ready_then_go()?;
    let mut started = Instant::now();
    for i in 0..warm + rounds {
        if i == warm {
            started = Instant::now();
        }
        let t0 = Instant::now();
        if pinger {
            producer.claim(1)[0] = M::make(0, i);
            producer.publish(1);
        }
        let msgs = consumer.poll();
        let mut expected = i;
        check_in_order(msgs, &mut expected)?;
        if msgs.len() != 1 {
            return Err(format!("round {i}: {} messages in flight", msgs.len()));
        }
        consumer.release(1);
        if pinger {
            if i >= warm {
                hist.record(t0.elapsed().as_nanos() as u64).map_err(|e| e.to_string())?;
            }
        } else {
            producer.claim(1)[0] = M::make(0, i);
            producer.publish(1);
        }
    }
    let elapsed = started.elapsed().as_nanos() as u64;
    Ok(if pinger {
        latency_report(&hist, rounds, elapsed)
    } else {
        Report::default().with_memory()
    })
}

/// `pingpong` over two rings of ours.
pub fn run_ours<M: Msg>(
    cfg: &Config,
    sc: &Scenario,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let (ping, _a) = create_ring::<M>(PINGPONG_SLOTS, 1, false)?;
    let (pong, _b) = create_ring::<M>(PINGPONG_SLOTS, 1, false)?;
    let unlink = Unlink(vec![ping.clone(), pong.clone()]);
    report_segment::<M>(sc, &ping, PINGPONG_SLOTS, printed);
    let rings = [("ping", ping), ("pong", pong), ("msgs", msgs.to_string())];
    let kids = vec![
        Kid::spawn(cfg, "ours-ponger", M::KIND, &rings, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "ours-pinger", M::KIND, &rings, cfg.cpu(0).into_iter().collect())?,
    ];
    latency_sample(&run_children(kids, unlink)?)
}

/// `pingpong` over two raw rings.
pub fn run_raw<M: Msg>(cfg: &Config, msgs: u64) -> Result<Sample, String> {
    let (ping, pong) = (unique_name("shmd-raw"), unique_name("shmd-raw"));
    let _a = RawRing::<M>::create(&ping, PINGPONG_SLOTS as u64).map_err(|e| e.to_string())?;
    let _b = RawRing::<M>::create(&pong, PINGPONG_SLOTS as u64).map_err(|e| e.to_string())?;
    let unlink = Unlink(vec![ping.clone(), pong.clone()]);
    let args = [
        ("ping", ping),
        ("pong", pong),
        ("capacity", PINGPONG_SLOTS.to_string()),
        ("msgs", msgs.to_string()),
    ];
    let kids = vec![
        Kid::spawn(cfg, "raw-ponger", M::KIND, &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "raw-pinger", M::KIND, &args, cfg.cpu(0).into_iter().collect())?,
    ];
    latency_sample(&run_children(kids, unlink)?)
}
