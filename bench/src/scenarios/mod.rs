//! The scenarios: what each measures (the table [`SCENARIOS`]), which implementations run in it,
//! and the dispatch of a run to its runner; one file per scenario family (its children and its
//! parent side): `spsc` (`seed`, `spsc-*`, `wait-seed`), `pingpong`, `multi` (`mpsc-*`,
//! `mpmc-*`), `wakeup`, `stages` (`pipeline3`, `diamond`), `stream`, `fanout`, `window`
//! (`mpsc-threads-*`), `bridge`.

pub mod bridge;
pub mod fanout;
pub mod multi;
pub mod pingpong;
pub mod spsc;
pub mod stages;
pub mod stream;
pub mod wakeup;
pub mod window;

use std::fmt::Write as _;
use std::time::Duration;

use shm_disruptor::{Disruptor, WaitStrategy};

use crate::baselines::{raw, run_threads, threads};
use crate::harness::child::Args;
use crate::harness::config::{wait_strategy, Config};
use crate::harness::probe::probe;
use crate::harness::sys::{unique_name, Unlink};
use crate::msg::{Msg, Msg64};
use crate::report::{add_fanout_ratios, add_ratios, result_line, summarize, Sample, Summary};
use crate::wire::Report;

/// Slots of every throughput ring (ours, raw, the disruptor crate, the channel bound).
pub const RING_SLOTS: usize = 65_536;
/// Slots of each of the two `pingpong` rings (one message is in flight at a time).
pub const PINGPONG_SLOTS: usize = 1024;
/// The batch size of `*-batch` and `spsc-*` claims.
pub const BATCH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Ours,
    /// Ours with lingering turned off on every consumer (`Consumer::set_linger(false)`).
    OursEager,
    /// Ours with this wait strategy on every handle, whatever `BENCH_WAIT` says.
    OursWait(WaitStrategy),
    /// Ours with one producer and one consumer: the reference of the consumer graphs.
    SingleStage,
    Raw,
    DisruptorCrate,
    DisruptorCrateBatch,
    Channel,
    /// The O(N)-scan baseline of `fanout-*`: a raw ring whose producer reads every consumer's
    /// sequence before each claim.
    RawScan,
    /// `RawScan` with a cached bound, refreshed by a scan of every consumer when a claim passes
    /// it (the LMAX Disruptor's gating-sequence cache).
    RawScanCached,
    /// iceoryx2's publish-subscribe between two processes (the `iceoryx2` feature).
    #[cfg(feature = "iceoryx2")]
    Iceoryx2,
    /// The Node.js seed's own benchmark, in `seed` (where `BENCH_NODE_SEED` is set).
    NodeSeed,
    /// `bridge`: ring -> exporter -> Zenoh -> importer -> ring, throughput.
    Bridge,
    /// `bridge`: the bridge's added latency, one message in flight.
    BridgeLatency,
    /// `bridge`'s baseline: Zenoh's publisher -> subscriber with the bridge's batching.
    Zenoh,
    /// `bridge`'s baseline: Zenoh's ping (round trip / 2).
    ZenohPing,
}

impl Impl {
    pub fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::OursEager => "ours-eager",
            Impl::OursWait(WaitStrategy::BusySpin) => "ours-busyspin",
            Impl::OursWait(WaitStrategy::Yield) => "ours-yield",
            Impl::OursWait(WaitStrategy::Backoff) => "ours-backoff",
            Impl::OursWait(WaitStrategy::Block) => "ours-block",
            Impl::OursWait(_) => "ours-other-wait",
            Impl::SingleStage => "single-stage",
            Impl::Raw => "raw",
            Impl::DisruptorCrate => "disruptor-crate",
            Impl::DisruptorCrateBatch => "disruptor-crate-batch",
            Impl::Channel => "channel",
            Impl::RawScan => "raw-scan",
            Impl::RawScanCached => "raw-scan-cached",
            #[cfg(feature = "iceoryx2")]
            Impl::Iceoryx2 => "iceoryx2",
            Impl::NodeSeed => "node-seed",
            Impl::Bridge => "bridge",
            Impl::BridgeLatency => "bridge-latency",
            Impl::Zenoh => "zenoh",
            Impl::ZenohPing => "zenoh-ping",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// One producer, one consumer; claims of up to `batch` messages.
    Spsc { batch: usize },
    /// Round trips over two rings.
    PingPong,
    /// A multi-producer ring; every consumer index reads every message.
    Multi { producers: usize, consumers: usize },
    /// One message at a time into an empty ring whose consumer waits: wake-up latency.
    Wakeup,
    /// One producer (claims of up to `batch`) and a consumer graph on one ring: consumer `i`
    /// follows the consumers `deps[i]`. `single-stage` runs `[[]]` instead.
    Stages { deps: &'static [&'static [usize]], batch: usize },
    /// A byte stream through a `Disruptor<u8>` (`msgs` counts bytes).
    Stream,
    /// One producer and `consumers` consumers of a single-producer ring, the consumers as
    /// threads of one process or as processes; claims of up to `batch`.
    Fanout { consumers: usize, threads: bool, batch: usize },
    /// `producers` producer threads of one process into a multi-producer ring for a fixed
    /// window (`window_ms` at `BENCH_SCALE=1`), one consumer process: fairness.
    Window { producers: usize, window_ms: u64 },
    /// Ring -> bridge -> ring between two processes over loopback TCP, and Zenoh's own
    /// publish-subscribe and ping.
    Bridge,
}

#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub kind: &'static str,
    pub msg_bytes: usize,
    /// Messages (round trips for `pingpong`) at `BENCH_SCALE=1`.
    pub msgs: u64,
    pub shape: Shape,
    pub impls: &'static [Impl],
    /// When not empty, every impl's line carries its ratios against these impls (itself
    /// included), and no other ratio; otherwise `ours` against every baseline, and every impl
    /// against `raw`.
    pub references: &'static [Impl],
    /// The wait strategy of `ours` and `single-stage` here unless `BENCH_WAIT` is set
    /// (busy-spin when `None`).
    pub wait: Option<WaitStrategy>,
}

/// `seed` and `spsc-*`; `node-seed` runs in `seed` only (the seed's own benchmark).
pub const SPSC_IMPLS: &[Impl] = &[
    Impl::Ours,
    Impl::OursEager,
    Impl::Raw,
    Impl::DisruptorCrate,
    Impl::DisruptorCrateBatch,
    Impl::Channel,
    #[cfg(feature = "iceoryx2")]
    Impl::Iceoryx2,
    Impl::NodeSeed,
];

/// Each of our wait strategies; the first is the reference of `wait-seed` and `wakeup`.
pub const WAIT_IMPLS: &[Impl] = &[
    Impl::OursWait(WaitStrategy::BusySpin),
    Impl::OursWait(WaitStrategy::Yield),
    Impl::OursWait(WaitStrategy::Backoff),
    Impl::OursWait(WaitStrategy::Block),
];

/// The same, and `raw`: a bare futex wake-up, the kernel's floor for `ours-block`.
pub const WAKEUP_IMPLS: &[Impl] = &[
    Impl::OursWait(WaitStrategy::BusySpin),
    Impl::OursWait(WaitStrategy::Yield),
    Impl::OursWait(WaitStrategy::Backoff),
    Impl::OursWait(WaitStrategy::Block),
    Impl::Raw,
];

/// The graphs of `pipeline3` (0 -> 1 -> 2) and `diamond` (0 and 1, then 2).
pub const PIPELINE3: &[&[usize]] = &[&[], &[0], &[1]];

pub const DIAMOND: &[&[usize]] = &[&[], &[], &[0, 1]];

/// `fanout-*`: ours next to the O(N)-scan baseline.
pub const FANOUT_IMPLS: &[Impl] = &[Impl::Ours, Impl::RawScan, Impl::RawScanCached];

/// A `fanout-*` scenario of `msgs` `u64` to `consumers` consumers (threads or processes),
/// claims of up to `batch`.
pub const fn fanout(
    name: &'static str,
    consumers: usize,
    threads: bool,
    batch: usize,
    msgs: u64,
) -> Scenario {
    Scenario {
        name,
        kind: "u64",
        msg_bytes: 8,
        msgs,
        shape: Shape::Fanout { consumers, threads, batch },
        impls: FANOUT_IMPLS,
        references: &[],
        wait: Some(WaitStrategy::Yield),
    }
}

/// An `mpsc-threads-*` scenario: `producers` threads for one second (at `BENCH_SCALE=1`), ours
/// and the `disruptor` crate's multi-producer.
pub const fn mpsc_threads(name: &'static str, producers: usize) -> Scenario {
    Scenario {
        name,
        kind: "u64",
        msg_bytes: 8,
        msgs: 0,
        shape: Shape::Window { producers, window_ms: 1000 },
        impls: &[Impl::Ours, Impl::DisruptorCrate],
        references: &[],
        wait: None,
    }
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "seed",
        kind: "u32",
        msg_bytes: 4,
        msgs: 10_000_000,
        shape: Shape::Spsc { batch: 1 },
        impls: SPSC_IMPLS,
        references: &[],
        wait: None,
    },
    Scenario {
        name: "spsc-batch",
        kind: "u64",
        msg_bytes: 8,
        msgs: 100_000_000,
        shape: Shape::Spsc { batch: BATCH },
        impls: SPSC_IMPLS,
        references: &[],
        wait: None,
    },
    Scenario {
        name: "spsc-64B",
        kind: "64B",
        msg_bytes: 64,
        msgs: 100_000_000,
        shape: Shape::Spsc { batch: BATCH },
        impls: SPSC_IMPLS,
        references: &[],
        wait: None,
    },
    Scenario {
        name: "pingpong",
        kind: "u64",
        msg_bytes: 8,
        msgs: 1_000_000,
        shape: Shape::PingPong,
        impls: &[
            Impl::Ours,
            Impl::OursEager,
            Impl::Raw,
            #[cfg(feature = "iceoryx2")]
            Impl::Iceoryx2,
        ],
        references: &[],
        wait: None,
    },
    Scenario {
        name: "mpsc-2",
        kind: "u64",
        msg_bytes: 8,
        msgs: 10_000_000,
        shape: Shape::Multi { producers: 2, consumers: 1 },
        impls: &[Impl::Ours, Impl::OursEager, Impl::DisruptorCrate, Impl::Channel],
        references: &[],
        wait: None,
    },
    Scenario {
        name: "mpsc-4",
        kind: "u64",
        msg_bytes: 8,
        msgs: 10_000_000,
        shape: Shape::Multi { producers: 4, consumers: 1 },
        impls: &[Impl::Ours, Impl::DisruptorCrate, Impl::Channel],
        references: &[],
        wait: None,
    },
    Scenario {
        name: "mpmc-2x2",
        kind: "u64",
        msg_bytes: 8,
        msgs: 10_000_000,
        shape: Shape::Multi { producers: 2, consumers: 2 },
        impls: &[Impl::Ours, Impl::OursEager, Impl::DisruptorCrate],
        references: &[],
        wait: None,
    },
    Scenario {
        name: "wait-seed",
        kind: "u32",
        msg_bytes: 4,
        msgs: 10_000_000,
        shape: Shape::Spsc { batch: 1 },
        impls: WAIT_IMPLS,
        references: &[Impl::OursWait(WaitStrategy::BusySpin)],
        wait: None,
    },
    Scenario {
        name: "wakeup",
        kind: "u64",
        msg_bytes: 8,
        msgs: 20_000,
        shape: Shape::Wakeup,
        impls: WAKEUP_IMPLS,
        references: &[Impl::OursWait(WaitStrategy::BusySpin), Impl::Raw],
        wait: None,
    },
    Scenario {
        name: "pipeline3",
        kind: "u64",
        msg_bytes: 8,
        msgs: 100_000_000,
        shape: Shape::Stages { deps: PIPELINE3, batch: BATCH },
        impls: &[Impl::Ours, Impl::SingleStage],
        references: &[Impl::SingleStage],
        wait: Some(WaitStrategy::Yield),
    },
    Scenario {
        name: "diamond",
        kind: "u64",
        msg_bytes: 8,
        msgs: 100_000_000,
        shape: Shape::Stages { deps: DIAMOND, batch: BATCH },
        impls: &[Impl::Ours, Impl::SingleStage],
        references: &[Impl::SingleStage],
        wait: Some(WaitStrategy::Yield),
    },
    Scenario {
        name: "stream",
        kind: "u8",
        msg_bytes: 1,
        msgs: 100_000_000,
        shape: Shape::Stream,
        impls: &[Impl::Ours, Impl::OursWait(WaitStrategy::Block), Impl::Raw],
        references: &[],
        wait: None,
    },
    fanout("fanout-threads-1", 1, true, BATCH, 200_000_000),
    fanout("fanout-procs-1", 1, false, BATCH, 200_000_000),
    fanout("fanout-threads-8", 8, true, BATCH, 64_000_000),
    fanout("fanout-procs-8", 8, false, BATCH, 64_000_000),
    fanout("fanout-threads-64", 64, true, BATCH, 16_000_000),
    fanout("fanout-procs-64", 64, false, BATCH, 16_000_000),
    fanout("fanout-threads-512", 512, true, BATCH, 4_000_000),
    fanout("fanout-procs-512", 512, false, BATCH, 4_000_000),
    fanout("fanout-single-threads-1", 1, true, 1, 50_000_000),
    fanout("fanout-single-procs-1", 1, false, 1, 50_000_000),
    fanout("fanout-single-threads-512", 512, true, 1, 1_000_000),
    fanout("fanout-single-procs-512", 512, false, 1, 1_000_000),
    mpsc_threads("mpsc-threads-2", 2),
    mpsc_threads("mpsc-threads-4", 4),
    mpsc_threads("mpsc-threads-8", 8),
    mpsc_threads("mpsc-threads-16", 16),
    mpsc_threads("mpsc-threads-32", 32),
    mpsc_threads("mpsc-threads-64", 64),
    Scenario {
        name: "bridge",
        kind: "32B",
        msg_bytes: 32,
        msgs: 10_000_000,
        shape: Shape::Bridge,
        impls: &[Impl::Bridge, Impl::Zenoh, Impl::BridgeLatency, Impl::ZenohPing],
        references: &[],
        // Two processes with their Zenoh and tokio threads, and our consumer and producer: a
        // spinning (or yielding) consumer would take a core from them on two cores. They sleep
        // in the futex, as Zenoh's subscriber and pinger sleep in `recv`.
        wait: Some(WaitStrategy::Block),
    },
];

/// The wait strategy of `imp`'s handles in `sc` (`None` for the baselines that are not ours).
pub fn effective_wait(sc: &Scenario, imp: Impl) -> Option<WaitStrategy> {
    match imp {
        Impl::OursWait(strategy) => Some(strategy),
        Impl::Ours | Impl::OursEager | Impl::SingleStage | Impl::Bridge | Impl::BridgeLatency => {
            Some(match (std::env::var_os("BENCH_WAIT"), sc.wait) {
                (None, Some(strategy)) => strategy,
                _ => wait_strategy(),
            })
        }
        _ => None,
    }
}

/// Runs a child's role (`__child <role> kind=<kind> ...`) with messages of type `M`.
pub fn run_role<M: Msg>(role: &str, args: &Args) -> Result<Report, String> {
    #[cfg(feature = "iceoryx2")]
    if let Some(role) = role.strip_prefix("iceoryx2-") {
        return crate::baselines::iceoryx2::run_role(role, args);
    }
    match role {
        "ours-producer" => spsc::ours_producer::<M>(args),
        "ours-consumer" => spsc::ours_consumer::<M>(args),
        "ours-pinger" => pingpong::ours_pingpong::<M>(args, true),
        "ours-ponger" => pingpong::ours_pingpong::<M>(args, false),
        "raw-producer" => raw::raw_producer::<M>(args),
        "raw-consumer" => raw::raw_consumer::<M>(args),
        "raw-pinger" => pingpong::raw_pingpong::<M>(args, true),
        "raw-ponger" => pingpong::raw_pingpong::<M>(args, false),
        "wake-producer" => wakeup::wake_producer(args),
        "wake-consumer" => wakeup::wake_consumer(args),
        "raw-wake-producer" => wakeup::raw_wake_producer(args),
        "raw-wake-consumer" => wakeup::raw_wake_consumer(args),
        "stream-writer" => stream::stream_writer(args),
        "stream-reader" => stream::stream_reader(args),
        "raw-stream-writer" => stream::raw_stream_writer(args),
        "raw-stream-reader" => stream::raw_stream_reader(args),
        "threads" => threads::<M>(args),
        "inproc" => spsc::inproc::<M>(args),
        "fan-producer" => fanout::fan_producer(args),
        "fan-consumers" => fanout::fan_consumers(args),
        "window-producers" => window::window_producers(args),
        "window-consumer" => window::window_consumer(args),
        "bridge-source" => bridge::bridge_source(args),
        "bridge-destination" => bridge::bridge_destination(args),
        "zenoh-pub" => crate::baselines::zenoh::zenoh_publisher(args),
        "zenoh-sub" => crate::baselines::zenoh::zenoh_subscriber(args),
        "zenoh-ping" => crate::baselines::zenoh::zenoh_pinger(args),
        "zenoh-pong" => crate::baselines::zenoh::zenoh_ponger(args),
        other => Err(format!("unknown role {other}")),
    }
}

/// Prints a `segment` line the first time a scenario creates a ring of ours.
pub fn report_segment<M: Msg>(scenario: &Scenario, name: &str, slots: usize, printed: &mut bool) {
    if std::mem::replace(printed, true) {
        return;
    }
    let segment = std::fs::metadata(format!("/dev/shm{name}")).map(|m| m.len()).unwrap_or(0);
    let payload = (slots * std::mem::size_of::<M>()) as u64;
    let overhead = segment.saturating_sub(payload);
    println!(
        "segment scenario={} slots={slots} slot_bytes={} payload_bytes={payload} segment_bytes={segment} overhead_bytes={overhead} overhead_pages={:.2}",
        scenario.name,
        std::mem::size_of::<M>(),
        overhead as f64 / 4096.0
    );
}

/// Creates a ring of ours of `slots` slots and `consumers` independent consumers, single- or
/// multi-producer; returns its name and the creator's handle (keep it until the run ends).
pub fn create_ring<M: Msg>(
    slots: usize,
    consumers: usize,
    multi: bool,
) -> Result<(String, Disruptor<M>), String> {
    let name = unique_name("shmd-bench");
    let builder = Disruptor::<M>::builder(&name).capacity(slots).consumers(consumers);
    let builder = if multi { builder.multi_producer() } else { builder.single_producer() };
    Ok((name, builder.create().map_err(|e| e.to_string())?))
}

/// Creates a single-producer ring of ours with `deps.len()` consumers, consumer `i` following
/// the consumers `deps[i]`.
pub fn create_graph<M: Msg>(
    slots: usize,
    deps: &[&[usize]],
) -> Result<(String, Disruptor<M>, Unlink), String> {
    let name = unique_name("shmd-bench");
    let mut builder = Disruptor::<M>::builder(&name).capacity(slots).consumers(deps.len());
    for (consumer, after) in deps.iter().enumerate().filter(|(_, after)| !after.is_empty()) {
        builder = builder.depends_on(consumer, after);
    }
    let ring = builder.single_producer().create().map_err(|e| e.to_string())?;
    let unlink = Unlink(vec![name.clone()]);
    Ok((name, ring, unlink))
}

pub fn run_once(
    cfg: &Config,
    sc: &Scenario,
    imp: Impl,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    // Our children get the strategy of this impl in this scenario.
    let cfg =
        &Config { wait: effective_wait(sc, imp), linger: imp != Impl::OursEager, ..cfg.clone() };
    match (sc.shape, imp) {
        (Shape::Wakeup, _) => return wakeup::run_wakeup(cfg, sc, imp, msgs, printed),
        (Shape::Stages { deps, batch }, _) => {
            let deps: &[&[usize]] = if imp == Impl::SingleStage { &[&[]] } else { deps };
            return stages::run_stages(cfg, sc, deps, batch, msgs, printed);
        }
        (Shape::Stream, Impl::Raw) => return stream::run_raw_stream(cfg, msgs),
        (Shape::Stream, _) => return stream::run_stream(cfg, sc, msgs, printed),
        (Shape::Fanout { consumers, threads, batch }, _) => {
            let fan = fanout::Fan { consumers: consumers.min(cfg.max_n), threads, batch };
            return fanout::run_fanout(cfg, sc, imp, fan, msgs, printed);
        }
        (Shape::Window { producers, window_ms }, _) => {
            let window = Duration::from_secs_f64((window_ms as f64 / 1e3 * cfg.scale).max(0.02));
            return window::run_window(cfg, sc, imp, producers.min(cfg.max_n), window, printed);
        }
        (Shape::Bridge, _) => return bridge::run_bridge(cfg, sc, imp, msgs, printed),
        _ => {}
    }
    #[cfg(feature = "iceoryx2")]
    if imp == Impl::Iceoryx2 {
        return crate::baselines::iceoryx2::run(cfg, sc, msgs);
    }
    if imp == Impl::NodeSeed {
        return crate::baselines::node_seed::run(cfg, msgs);
    }
    match sc.kind {
        "u32" => run_typed::<u32>(cfg, sc, imp, msgs, printed),
        "u64" => run_typed::<u64>(cfg, sc, imp, msgs, printed),
        _ => run_typed::<Msg64>(cfg, sc, imp, msgs, printed),
    }
}

/// A run of `seed`, `spsc-*`, `wait-seed`, `pingpong`, `mpsc-*` or `mpmc-*`, whose message type
/// is `M`.
fn run_typed<M: Msg>(
    cfg: &Config,
    sc: &Scenario,
    imp: Impl,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let ours = matches!(imp, Impl::Ours | Impl::OursEager | Impl::OursWait(_) | Impl::SingleStage);
    match (sc.shape, imp) {
        (Shape::Spsc { batch }, _) if ours => spsc::run_ours::<M>(cfg, sc, batch, msgs, printed),
        (Shape::PingPong, _) if ours => pingpong::run_ours::<M>(cfg, sc, msgs, printed),
        (Shape::Multi { producers, consumers }, _) if ours => {
            multi::run_ours::<M>(cfg, sc, producers, consumers, msgs, printed)
        }
        (Shape::Spsc { batch }, Impl::Raw) => raw::run_spsc::<M>(cfg, batch, msgs),
        (Shape::PingPong, Impl::Raw) => pingpong::run_raw::<M>(cfg, msgs),
        (_, Impl::DisruptorCrate | Impl::DisruptorCrateBatch | Impl::Channel) => {
            run_threads(cfg, sc, imp, msgs)
        }
        (shape, imp) => Err(format!("no {} runner for {shape:?}", imp.name())),
    }
}

pub fn run_scenario(cfg: &Config, sc: &Scenario) -> Vec<Summary> {
    let impls: Vec<Impl> = sc
        .impls
        .iter()
        .copied()
        .filter(|&i| cfg.wants(i))
        .filter(|&i| {
            i != Impl::NodeSeed
                || sc.name == "seed" && crate::baselines::node_seed::package().is_some()
        })
        .collect();
    let msgs = cfg.scaled(sc.msgs);
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); impls.len()];
    let mut failures: Vec<Vec<String>> = vec![Vec::new(); impls.len()];
    let mut printed = false;
    for run in 0..cfg.runs {
        // Interleaved, and the order rotates so that no impl always runs first.
        for k in 0..impls.len() {
            let i = (k + run) % impls.len();
            let imp = impls[i];
            let probe_ns = probe(cfg);
            match run_once(cfg, sc, imp, msgs, &mut printed) {
                Ok(mut sample) => {
                    sample.probe_ns = probe_ns;
                    let mut line = format!(
                        "# run={}/{} scenario={} impl={} msgs_per_s={:.0} probe_ns={probe_ns:.1}",
                        run + 1,
                        cfg.runs,
                        sc.name,
                        imp.name(),
                        sample.msgs_per_s()
                    );
                    if let Some([p50, p99, _, _]) = sample.latency {
                        let _ = write!(line, " p50_ns={p50:.0} p99_ns={p99:.0}");
                    }
                    println!("{line}");
                    samples[i].push(sample);
                }
                Err(e) => {
                    println!(
                        "# run={}/{} scenario={} impl={} failed: {e}",
                        run + 1,
                        cfg.runs,
                        sc.name,
                        imp.name()
                    );
                    failures[i].push(e);
                }
            }
        }
    }
    let mut summaries: Vec<Summary> = impls
        .iter()
        .enumerate()
        .map(|(i, &imp)| summarize(sc, imp, &samples[i], std::mem::take(&mut failures[i])))
        .collect();
    add_ratios(&mut summaries, sc.references, !matches!(sc.shape, Shape::Wakeup));
    if matches!(sc.shape, Shape::Fanout { .. }) {
        add_fanout_ratios(&mut summaries);
    }
    if matches!(sc.shape, Shape::Bridge) {
        bridge::add_bridge_ratios(&mut summaries);
    }
    for s in &summaries {
        println!("{}", result_line(s));
    }
    summaries
}
