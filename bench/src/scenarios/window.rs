//! `mpsc-threads-N`: N producer threads of one process into a multi-producer ring for a fixed
//! window, one consumer process checking every message; throughput and fairness, next to the
//! `disruptor` crate's multi-producer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use shm_disruptor::{ClaimError, Disruptor};

use crate::harness::child::{arg, ready_then_go, Args};
use crate::harness::config::{setup_consumer, Config};
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{now_ns, thread_cpu_ns, unique_name, Unlink};
use crate::msg::Msg;
use crate::report::Sample;
use crate::scenarios::{report_segment, Impl, Scenario, RING_SLOTS};
use crate::wire::{need, Report};

/// The sequence field of a producer's end mark (`u64::make(producer, WINDOW_END)`), published
/// after its last message of the window.
pub const WINDOW_END: u64 = (1 << 56) - 1;

/// The consumer's check of `mpsc-threads-*`: each producer's messages in order, then its end
/// mark, nothing after it.
pub struct WindowCheck {
    /// Per producer, the next message expected (its count so far).
    pub next: Vec<u64>,
    ended: Vec<bool>,
    open: usize,
}

impl WindowCheck {
    pub fn new(producers: usize) -> WindowCheck {
        WindowCheck { next: vec![0; producers], ended: vec![false; producers], open: producers }
    }

    #[inline]
    pub fn take(&mut self, m: u64) -> Result<(), String> {
        let p = m.producer();
        if p >= self.next.len() || self.ended[p] {
            return Err(format!("unexpected message {m:#x} (next per producer: {:?})", self.next));
        }
        if m == u64::make(p as u64, WINDOW_END) {
            self.ended[p] = true;
            self.open -= 1;
        } else if m == u64::make(p as u64, self.next[p]) {
            self.next[p] += 1;
        } else {
            return Err(format!(
                "producer {p}: message {m:#x}, expected its number {}",
                self.next[p]
            ));
        }
        Ok(())
    }

    pub fn done(&self) -> bool {
        self.open == 0
    }
}

/// What `window_run` measured: the window's start and end, and per thread its count and the CPU
/// time it used.
pub struct Window {
    pub start: u64,
    pub end: u64,
    pub counts: Vec<u64>,
    pub cpu_ns: Vec<u64>,
}

impl Window {
    pub fn report(&self) -> Report {
        Report {
            start_ns: Some(self.start),
            end_ns: Some(self.end),
            counts: self.counts.clone(),
            cpu_ns: self.cpu_ns.clone(),
            ..Report::default()
        }
        .with_memory()
    }
}

/// Runs `run(handle, id, stop)` on a thread per handle from the parent's go until `window` has
/// passed (then `stop` is set; `run` publishes its end mark and returns its count).
pub fn window_run<H: Send>(
    handles: Vec<H>,
    window: Duration,
    run: impl Fn(H, u64, &AtomicBool) -> Result<u64, String> + Sync,
) -> Result<Window, String> {
    let barrier = Barrier::new(handles.len() + 1);
    let (go, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        let threads: Vec<_> = handles
            .into_iter()
            .enumerate()
            .map(|(id, handle)| {
                let (barrier, go, stop, run) = (&barrier, &go, &stop, &run);
                s.spawn(move || {
                    barrier.wait();
                    // Relaxed: the barrier orders the store before this load.
                    if !go.load(Ordering::Relaxed) {
                        return Err("the run was called off".to_string());
                    }
                    let cpu = thread_cpu_ns();
                    let count = run(handle, id as u64, stop)?;
                    Ok((count, thread_cpu_ns() - cpu))
                })
            })
            .collect();
        let ready = ready_then_go();
        // Relaxed: the barrier orders it before the threads' loads.
        go.store(ready.is_ok(), Ordering::Relaxed);
        barrier.wait();
        let start = now_ns();
        if ready.is_ok() {
            std::thread::sleep(window);
        }
        // Relaxed: a flag only; the counts come back through the joins.
        stop.store(true, Ordering::Relaxed);
        let end = now_ns();
        let done: Result<Vec<(u64, u64)>, String> = threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err("a producer thread panicked".into())))
            .collect();
        ready.and(done).map(|done| Window {
            start,
            end,
            counts: done.iter().map(|d| d.0).collect(),
            cpu_ns: done.iter().map(|d| d.1).collect(),
        })
    })
}

/// `mpsc-threads-*`'s producers over our ring: a thread per producer handle, one `try_claim`
/// per message, yielding when the ring is full.
pub fn window_producers(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<u64>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let producers: usize = arg(args, "producers")?;
    let window = Duration::from_nanos(arg(args, "window_ns")?);
    let handles = (0..producers)
        .map(|_| ring.producer().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, String>>()?;
    let measured = window_run(handles, window, |mut producer, id, stop| {
        let mut seq = 0u64;
        let mut put = |m: u64| match producer.try_claim() {
            Ok(mut claim) => {
                *claim = m;
                claim.commit();
                Ok(true)
            }
            Err(ClaimError::Full) => {
                std::thread::yield_now();
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        };
        // Relaxed: see `window_run`.
        while !stop.load(Ordering::Relaxed) {
            if put(u64::make(id, seq))? {
                seq += 1;
            }
        }
        while !put(u64::make(id, WINDOW_END))? {}
        Ok(seq)
    })?;
    Ok(measured.report())
}

/// `mpsc-threads-*`'s consumer over our ring: checks every message until every producer's end
/// mark has come; reports what it counted per producer.
pub fn window_consumer(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<u64>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    let mut check = WindowCheck::new(arg(args, "producers")?);
    ready_then_go()?;
    while !check.done() {
        let batch = consumer.consume();
        for &m in batch.iter() {
            check.take(m)?;
        }
        batch.commit();
    }
    Ok(Report { end_ns: Some(now_ns()), counts: check.next, ..Report::default() })
}

/// The sample of an `mpsc-threads-*` run: what the producers published in the window, and how
/// evenly: each producer's count over the mean (`share_min`, `share_max`: what the scheduler
/// and the protocol together gave each), and each producer's messages per CPU second over the
/// mean (`cpu_share_min`, `cpu_share_max`: whether a producer that runs wins its claims, which
/// is the protocol's part alone, whatever share of the cores the scheduler gave it).
pub fn window_sample(r: &Report, producers: usize) -> Result<Sample, String> {
    let start = need(r.start_ns, "start_ns")?;
    let end = need(r.end_ns, "end_ns")?;
    let counts = &r.counts;
    if counts.len() != producers {
        return Err(format!("{} counts for {producers} producers", counts.len()));
    }
    let total: u64 = counts.iter().sum();
    let mean = total as f64 / producers as f64;
    let share = |c: u64| if mean > 0.0 { c as f64 / mean } else { 0.0 };
    let cpu = &r.cpu_ns;
    if cpu.len() != producers {
        return Err(format!("{} CPU times for {producers} producers", cpu.len()));
    }
    let rates: Vec<f64> =
        counts.iter().zip(cpu).map(|(&c, &t)| c as f64 / (t.max(1) as f64)).collect();
    let mean_rate = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let cpu_share = |pick: fn(f64, f64) -> f64| {
        let r = rates.iter().copied().reduce(pick).unwrap_or(0.0);
        if mean_rate > 0.0 {
            r / mean_rate
        } else {
            0.0
        }
    };
    Ok(Sample {
        msgs: total,
        elapsed_ns: end.saturating_sub(start),
        producer_hwm_kb: r.hwm_kb,
        extra: vec![
            ("producers", producers as f64),
            ("share_min", share(counts.iter().copied().min().unwrap_or(0))),
            ("share_max", share(counts.iter().copied().max().unwrap_or(0))),
            ("cpu_share_min", cpu_share(f64::min)),
            ("cpu_share_max", cpu_share(f64::max)),
        ],
        ..Sample::default()
    })
}

/// `mpsc-threads-*`: `producers` threads for `window`, over our ring (a producer process of
/// threads and a consumer process) or the `disruptor` crate's (threads of one process).
pub fn run_window(
    cfg: &Config,
    sc: &Scenario,
    imp: Impl,
    producers: usize,
    window: Duration,
    printed: &mut bool,
) -> Result<Sample, String> {
    let window_ns = ("window_ns", window.as_nanos().to_string());
    let producers_arg = ("producers", producers.to_string());
    if imp == Impl::DisruptorCrate {
        let args = [("impl", imp.name().to_owned()), producers_arg, window_ns];
        let kid = Kid::spawn(cfg, "threads", "u64", &args, cfg.pin.clone())?;
        let results = run_children(vec![kid], Unlink(Vec::new()))?;
        return window_sample(results.first().ok_or("no result")?, producers);
    }
    let name = unique_name("shmd-window");
    let _ring = Disruptor::<u64>::builder(&name)
        .capacity(RING_SLOTS)
        .consumers(1)
        .multi_producer()
        .producers(producers)
        .create()
        .map_err(|e| e.to_string())?;
    let unlink = Unlink(vec![name.clone()]);
    report_segment::<u64>(sc, &name, RING_SLOTS, printed);
    let args = [("ring", name), producers_arg, window_ns];
    let producer_cpus = cfg.producer_cpus.clone().unwrap_or_else(|| cfg.pin.clone());
    let kids = vec![
        Kid::spawn(cfg, "window-consumer", "u64", &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "window-producers", "u64", &args, producer_cpus)?,
    ];
    let results = run_children(kids, unlink)?;
    let [consumer, producer] = results.as_slice() else {
        return Err("expected two results".into());
    };
    let (published, got) = (&producer.counts, &consumer.counts);
    if published != got {
        return Err(format!("published {published:?}, the consumer counted {got:?}"));
    }
    window_sample(producer, producers)
}
