//! The run's configuration, from the environment (`BENCH_*`), and the wait strategy of our
//! handles in the children.

use std::str::FromStr;
use std::time::Duration;

use shm_disruptor::WaitStrategy;

use crate::msg::Msg;
use crate::scenarios::Impl;

/// Where a bench run writes its results (`ipc.jsonl`) and plots: `BENCH_OUT`, or `target/bench`
/// of the workspace (`target/bench/smoke` for the smoke run).
pub fn out_dir(smoke: bool) -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("BENCH_OUT") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            let bench = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            bench.parent().unwrap_or(bench).join("target")
        },
        std::path::PathBuf::from,
    );
    let dir = target.join("bench");
    if smoke {
        dir.join("smoke")
    } else {
        dir
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub scale: f64,
    pub runs: usize,
    pub timeout: Duration,
    pub pin: Vec<usize>,
    /// `BENCH_PRODUCER_CPUS`: the CPUs of `mpsc-threads-*`'s producer process, instead of
    /// `pin` (to keep its producers off the consumer's CPU).
    pub producer_cpus: Option<Vec<usize>>,
    pub impls: Option<Vec<String>>,
    /// The wait strategy the children of a run are given (`BENCH_WAIT` in their environment);
    /// `None`: they inherit ours.
    pub wait: Option<WaitStrategy>,
    /// Whether our consumers linger (`BENCH_LINGER=0` in the children's environment if not).
    pub linger: bool,
    /// The most consumers of `fanout-*` and producers of `mpsc-threads-*` (4 in the smoke run).
    pub max_n: usize,
}

pub fn env_parse<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("ipc: ignoring {name}={v:?} (not a number)");
            default
        }),
        Err(_) => default,
    }
}

impl Config {
    pub fn from_env(smoke: bool) -> Config {
        let list = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
        };
        let pin =
            list("BENCH_PIN").unwrap_or_default().iter().filter_map(|s| s.parse().ok()).collect();
        Config {
            // The smoke run (no `--bench`) only checks that every part works: tiny counts.
            scale: env_parse("BENCH_SCALE", if smoke { 0.0001 } else { 1.0 }),
            runs: if smoke { 1 } else { env_parse("BENCH_RUNS", 5usize).max(1) },
            timeout: Duration::from_secs_f64(env_parse(
                "BENCH_TIMEOUT_S",
                if smoke { 30.0 } else { 120.0 },
            )),
            pin,
            producer_cpus: list("BENCH_PRODUCER_CPUS")
                .map(|l| l.iter().filter_map(|s| s.parse().ok()).collect()),
            impls: list("BENCH_IMPLS"),
            wait: None,
            linger: true,
            max_n: if smoke { 4 } else { usize::MAX },
        }
    }

    pub fn scaled(&self, msgs: u64) -> u64 {
        ((msgs as f64 * self.scale).round() as u64).max(1000)
    }

    pub fn wants(&self, imp: Impl) -> bool {
        self.impls.as_ref().map_or(true, |l| l.iter().any(|n| n == imp.name()))
    }

    /// The CPU for the `i`-th process or thread of a run, if pinning.
    pub fn cpu(&self, i: usize) -> Option<usize> {
        (!self.pin.is_empty()).then(|| self.pin[i % self.pin.len()])
    }
}

/// The wait strategy of our handles: `BusySpin` unless `BENCH_WAIT` names another
/// (`busy-spin`, `yield`, `backoff`, `block`); children inherit the variable, or are given
/// another value (`Config::wait`).
pub fn wait_strategy() -> WaitStrategy {
    match std::env::var("BENCH_WAIT").as_deref().map(str::trim) {
        Ok("yield") => WaitStrategy::Yield,
        Ok("backoff") => WaitStrategy::Backoff,
        Ok("block") => WaitStrategy::Block,
        _ => WaitStrategy::BusySpin,
    }
}

/// Gives a child's consumer the wait strategy of `BENCH_WAIT` and the linger of `BENCH_LINGER`.
pub fn setup_consumer<M: Msg>(consumer: &mut shm_disruptor::Consumer<M>) {
    consumer.set_wait_strategy(wait_strategy());
    consumer.set_linger(std::env::var("BENCH_LINGER").map_or(true, |v| v.trim() != "0"));
}

/// The `BENCH_WAIT` value that selects `strategy`.
pub fn wait_env_name(strategy: WaitStrategy) -> &'static str {
    match strategy {
        WaitStrategy::Yield => "yield",
        WaitStrategy::Backoff => "backoff",
        WaitStrategy::Block => "block",
        _ => "busy-spin",
    }
}
