//! `wakeup`: wake-up latency. One message at a time into an *empty* ring whose consumer process
//! waits with the strategy under test; each message carries its `CLOCK_MONOTONIC` stamp and the
//! consumer records `now - stamp`. `raw` is the kernel's floor: a bare futex word.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use shm_disruptor::{Disruptor, WaitStrategy};

use crate::baselines::raw::RawRing;
use crate::harness::child::{arg, ready_then_go, Args};
use crate::harness::config::{setup_consumer, wait_strategy, Config};
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{
    now_ns, spin_until, thread_cpu_ns, unique_name, voluntary_switches, Unlink,
};
use crate::msg::Msg;
use crate::report::{latency_of, Sample};
use crate::scenarios::pingpong::{new_histogram, warmup};
use crate::scenarios::{create_graph, report_segment, Impl, Scenario, PINGPONG_SLOTS};
use crate::wire::{need, Report, QUANTILES};

/// The pause between two `wakeup` messages: long enough for a `Block` or `Backoff` consumer to
/// be asleep (past 64 spins and 64 yields, in `FUTEX_WAIT` or a timed sleep) when the next
/// message comes.
pub fn wakeup_pause(strategy: WaitStrategy) -> Duration {
    match strategy {
        WaitStrategy::BusySpin | WaitStrategy::Yield => Duration::from_micros(50),
        _ => Duration::from_micros(200),
    }
}

/// `wakeup`'s producer loop: `rounds` (plus warm-up) times, a pause spinning on the clock (the
/// consumer, finding nothing, goes through its wait), then `send(i, stamp)` of message `i`
/// with its `CLOCK_MONOTONIC` stamp, then a wait for `acked(i)` (the consumer has read it).
pub fn wake_producer_loop(
    args: &Args,
    mut send: impl FnMut(u64, u64) -> Result<(), String>,
    acked: impl Fn(u64) -> bool,
) -> Result<Report, String> {
    let rounds: u64 = arg(args, "msgs")?;
    let pause_ns: u64 = arg(args, "pause_ns")?;
    ready_then_go()?;
    let start = now_ns();
    for i in 0..warmup(rounds) + rounds {
        let until = now_ns() + pause_ns;
        spin_until(|| now_ns() >= until);
        send(i, now_ns())?;
        spin_until(|| acked(i));
    }
    Ok(Report { start_ns: Some(start), end_ns: Some(now_ns()), ..Report::default() }.with_memory())
}

/// `wakeup`'s consumer loop: `receive(i)` waits for message `i`, acks it and returns its stamp;
/// records `now - stamp` (taken as soon as `receive` returns), and, over the measured rounds,
/// this (main) thread's CPU use and voluntary context switches (its sleeps).
pub fn wake_consumer_loop(
    args: &Args,
    mut receive: impl FnMut(u64) -> Result<(u64, u64), String>,
) -> Result<Report, String> {
    let rounds: u64 = arg(args, "msgs")?;
    let warm = warmup(rounds);
    let mut hist = new_histogram()?;
    let switches = voluntary_switches;
    ready_then_go()?;
    let (mut wall0, mut cpu0, mut switches0) = (now_ns(), thread_cpu_ns(), switches());
    for i in 0..warm + rounds {
        if i == warm {
            (wall0, cpu0, switches0) = (now_ns(), thread_cpu_ns(), switches());
        }
        let (now, stamp) = receive(i)?;
        if i >= warm {
            hist.record(now.saturating_sub(stamp).max(1)).map_err(|e| e.to_string())?;
        }
    }
    let (wall, cpu, slept) =
        (now_ns() - wall0, thread_cpu_ns() - cpu0, switches().saturating_sub(switches0));
    // Rounded as the figures are printed: CPU use to 0.1 %, sleeps to 0.001 per message.
    let round = |x: f64, digits: i32| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
    Ok(Report {
        rounds: Some(rounds),
        elapsed_ns: Some(wall),
        p50_ns: Some(hist.value_at_quantile(0.5) as f64),
        p99_ns: Some(hist.value_at_quantile(0.99) as f64),
        p999_ns: Some(hist.value_at_quantile(0.999) as f64),
        max_ns: Some(hist.max() as f64),
        percentiles: QUANTILES.iter().map(|&q| [q, hist.value_at_quantile(q) as f64]).collect(),
        consumer_cpu_pct: Some(round(cpu as f64 * 100.0 / wall.max(1) as f64, 1)),
        consumer_sleeps_per_msg: Some(round(slept as f64 / rounds as f64, 3)),
        ..Report::default()
    })
}

/// `wakeup`'s producer over our ring: claim, stamp, commit; the ack is the consumer's sequence.
pub fn wake_producer(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<u64>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    producer.set_wait_strategy(wait_strategy());
    wake_producer_loop(
        args,
        |_, _| {
            let mut claim = producer.claim().map_err(|e| e.to_string())?;
            *claim = now_ns();
            claim.commit();
            Ok(())
        },
        |i| ring.consumer_sequence(0).is_some_and(|seq| seq > i),
    )
}

/// `wakeup`'s consumer over our ring, with the strategy under test.
pub fn wake_consumer(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<u64>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    wake_consumer_loop(args, |i| {
        let batch = consumer.consume();
        let now = now_ns();
        if batch.len() != 1 {
            return Err(format!("message {i}: {} messages in flight", batch.len()));
        }
        let stamp = *batch.iter().next().expect("a batch of one");
        batch.commit();
        Ok((now, stamp))
    })
}

/// The words of `wakeup`'s raw baseline, in the slot region of a raw ring: a futex word (the
/// number of messages sent), and the last message's stamp. The ack is the header's `tail`.
pub struct RawWake<'a> {
    ring: &'a RawRing<u64>,
    word: &'a AtomicU32,
    stamp: &'a AtomicU64,
}

impl RawWake<'_> {
    fn open(args: &Args) -> Result<RawRing<u64>, String> {
        RawRing::<u64>::open(&arg::<String>(args, "ring")?, RAW_WAKE_SLOTS)
            .map_err(|e| e.to_string())
    }

    fn new(ring: &RawRing<u64>) -> RawWake<'_> {
        let slots = ring.slots();
        // The slot region holds `RAW_WAKE_SLOTS` (>= 2) zero-filled `u64`s, 128-aligned
        // (see `RawRing::slots`), mapped as long as `ring`, which the references borrow; a
        // zero `u64` is a valid `AtomicU32` pair or `AtomicU64`, and every process touches these
        // words only through these atomics.
        // SAFETY: in bounds, aligned, valid atomics for the borrow of `ring` (see above).
        let (word, stamp) =
            unsafe { (&*slots.cast::<AtomicU32>(), &*slots.add(1).cast::<AtomicU64>()) };
        RawWake { ring, word, stamp }
    }
}

/// Slots of the raw ring that `wakeup`'s raw baseline uses for its words.
pub const RAW_WAKE_SLOTS: u64 = 16;

/// `wakeup`'s raw producer: stamp, bump the futex word, `FUTEX_WAKE` (always: no waiter count).
pub fn raw_wake_producer(args: &Args) -> Result<Report, String> {
    let ring = RawWake::open(args)?;
    let w = RawWake::new(&ring);
    wake_producer_loop(
        args,
        |i, _| {
            // Relaxed: published by the Release store of the word just below.
            w.stamp.store(now_ns(), Ordering::Relaxed);
            // Release: pairs with the Acquire load of the word in `raw_wake_consumer`.
            w.word.store((i + 1) as u32, Ordering::Release);
            let _ = rustix::thread::futex::wake(w.word, rustix::thread::futex::Flags::empty(), 1);
            Ok(())
        },
        // Acquire: pairs with the consumer's Release store of `tail` (its ack).
        |i| w.ring.header().tail.load(Ordering::Acquire) > i,
    )
}

/// `wakeup`'s raw consumer: `FUTEX_WAIT` on the word at once (no spinning): the kernel's floor.
pub fn raw_wake_consumer(args: &Args) -> Result<Report, String> {
    let ring = RawWake::open(args)?;
    let w = RawWake::new(&ring);
    wake_consumer_loop(args, |i| {
        let target = (i + 1) as u32;
        loop {
            // Acquire: pairs with the producer's Release store of the word; the stamp stored
            // before it is visible below.
            let seen = w.word.load(Ordering::Acquire);
            if seen == target {
                break;
            }
            // EAGAIN (the word moved on) and EINTR: look again.
            let _ = rustix::thread::futex::wait(
                w.word,
                rustix::thread::futex::Flags::empty(),
                seen,
                None,
            );
        }
        let now = now_ns();
        // Relaxed: ordered by the Acquire load of the word above.
        let stamp = w.stamp.load(Ordering::Relaxed);
        // Release: pairs with the producer's Acquire load of `tail`.
        w.ring.header().tail.store(i + 1, Ordering::Release);
        Ok((now, stamp))
    })
}

/// `wakeup`: one message at a time into an empty ring; the consumer's latency percentiles.
/// With `raw`: a bare futex word, waited on at once, woken at every message (200 µs pauses).
pub fn run_wakeup(
    cfg: &Config,
    sc: &Scenario,
    imp: Impl,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    // The creator's handles, kept until the run ends.
    let (name, roles, unlink, pause, _raw, _ours);
    if imp == Impl::Raw {
        name = unique_name("shmd-raw");
        _raw = Some(RawRing::<u64>::create(&name, RAW_WAKE_SLOTS).map_err(|e| e.to_string())?);
        _ours = None;
        unlink = Unlink(vec![name.clone()]);
        roles = ["raw-wake-consumer", "raw-wake-producer"];
        pause = wakeup_pause(WaitStrategy::Block);
    } else {
        let ring;
        (name, ring, unlink) = create_graph::<u64>(PINGPONG_SLOTS, &[&[]])?;
        (_raw, _ours) = (None, Some(ring));
        report_segment::<u64>(sc, &name, PINGPONG_SLOTS, printed);
        roles = ["wake-consumer", "wake-producer"];
        pause = wakeup_pause(cfg.wait.unwrap_or_else(wait_strategy));
    }
    let args =
        [("ring", name), ("msgs", msgs.to_string()), ("pause_ns", pause.as_nanos().to_string())];
    let kids = vec![
        Kid::spawn(cfg, roles[0], u64::KIND, &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, roles[1], u64::KIND, &args, cfg.cpu(0).into_iter().collect())?,
    ];
    let results = run_children(kids, unlink)?;
    let r = results.iter().find(|r| r.p50_ns.is_some()).ok_or("no latency result")?;
    Ok(Sample {
        msgs: need(r.rounds, "rounds")?,
        elapsed_ns: need(r.elapsed_ns, "elapsed_ns")?,
        latency: Some(latency_of(r)?),
        percentiles: r.percentiles.clone(),
        producer_hwm_kb: results.iter().filter_map(|r| r.hwm_kb).max(),
        extra: vec![
            ("pause_us", pause.as_secs_f64() * 1e6),
            ("consumer_cpu_pct", need(r.consumer_cpu_pct, "consumer_cpu_pct")?),
            (
                "consumer_sleeps_per_msg",
                need(r.consumer_sleeps_per_msg, "consumer_sleeps_per_msg")?,
            ),
        ],
        ..Sample::default()
    })
}
