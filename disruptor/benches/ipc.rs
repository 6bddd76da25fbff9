//! Multi-process benchmarks: throughput and latency of the ring between real processes, with
//! its baselines measured in the same run, interleaved.
//!
//! ```sh
//! cargo bench --bench ipc                    # every scenario
//! cargo bench --bench ipc -- seed pingpong   # the named scenarios (a name matches by substring,
//!                                            # unless it is a scenario's exact name: `seed` is
//!                                            # not `wait-seed`)
//! BENCH_SCALE=0.05 BENCH_RUNS=1 cargo bench --bench ipc   # a quick look
//! ```
//!
//! Scenarios (message counts are multiplied by `BENCH_SCALE`):
//! - `seed`: 10,000,000 `u32` through a 65,536-slot ring, one claim and one commit per message;
//!   the consumer checks every value in order.
//! - `spsc-batch`: 100,000,000 `u64`, claims of up to 256 (`claim_available`).
//! - `spsc-64B`: 100,000,000 64-byte messages (`[u64; 8]`), claims of up to 256.
//! - `pingpong`: 1,000,000 round trips over two rings; one-way latency = round trip / 2.
//! - `mpsc-2`, `mpsc-4`, `mpmc-2x2`: 10,000,000 `u64` in all through a multi-producer ring, one
//!   claim per message; each consumer index reads every message (Disruptor semantics).
//! - `wait-seed`: `seed` with each of our wait strategies on both sides (`ours-busyspin`,
//!   `ours-yield`, `ours-backoff`, `ours-block`); ratios against `ours-busyspin`.
//! - `wakeup`: wake-up latency. 20,000 messages, one at a time, into an *empty* ring whose
//!   consumer process waits with the strategy under test; each message carries its
//!   `CLOCK_MONOTONIC` stamp (taken just before the commit) and the consumer records
//!   `now - stamp` (one-way, not halved). The producer waits for the consumer's commit (its
//!   sequence, the ack), then spins on the clock for a pause before the next message: 50 µs for
//!   `ours-busyspin` and `ours-yield`, 200 µs for `ours-backoff` and `ours-block` (long enough
//!   for a `Block` waiter to get past its 64 spins and 64 yields into `FUTEX_WAIT`; the
//!   consumer's voluntary context switches per message, `consumer_sleeps_per_msg`, show that it
//!   did). Also reported: `pause_us`, and the consumer thread's CPU use, `consumer_cpu_pct`.
//!   `raw` is the kernel's floor: a bare futex word in shared memory, the consumer in
//!   `FUTEX_WAIT` at once, the producer calling `FUTEX_WAKE` for every message (200 µs pauses).
//!   Latency ratios (`p50_vs_ours-busyspin=`, `p99_vs_...`, `p50_vs_raw=`, ...) against
//!   `ours-busyspin` and `raw`; no throughput ratio (the pauses set the rate). About 5 s per
//!   run of `ours-block`, `ours-backoff` or `raw` at `BENCH_SCALE=1`, 1 s for the others.
//! - `pipeline3`, `diamond`: the LMAX paper's shapes across processes: one producer process and
//!   three consumer processes on one ring of 100,000,000 `u64` (claims of up to 256); `pipeline3`
//!   chains 0 -> 1 -> 2, `diamond` runs 0 and 1 in parallel and 2 after both. Every stage reads
//!   and checks every message (value == sequence). Throughput is the last stage's (producer start
//!   to last consumer end); `ratio_vs_single-stage=` compares with `single-stage`, one producer
//!   and one consumer on the same ring size and count, run interleaved. All of them wait with
//!   `Yield` (4 processes on a 2-core machine: `BusySpin` would starve whoever is descheduled);
//!   an explicit `BENCH_WAIT` overrides it.
//! - `stream`: 100,000,000 bytes through a 65,536-byte `Disruptor<u8>` between two processes:
//!   `StreamWriter::write_all` of 64 KiB chunks, `StreamReader::fill_buf`/`consume` (zero copy);
//!   both sides hash the bytes and the harness compares the hashes. `msgs_per_s` is bytes/s
//!   (`msg_bytes=1`). `ours` uses `BENCH_WAIT` (busy-spin), `ours-block` uses `Block`; `raw`
//!   copies the same chunks through the raw ring. `writer_sleeps_per_mb` and
//!   `reader_sleeps_per_mb` count each side's sleeps (voluntary context switches).
//! - `fanout-threads-N`, `fanout-procs-N` (N = 1, 8, 64, 512): one producer process and N
//!   consumers of one single-producer ring of 65,536 `u64` (`.consumers(N)`), the consumers as
//!   N threads of one process (`threads`) or as N processes (`procs`). The producer claims up to
//!   256 at a time with `try_claim_available` (and commits); `fanout-single-threads-N` and
//!   `fanout-single-procs-N` (N = 1, 512) claim one at a time with `try_claim`. Every consumer
//!   reads and checks every message (`consume`, commit). Counts: 200 M messages at N = 1, 64 M
//!   at 8, 16 M at 64, 4 M at 512 (one at a time: 50 M and 1 M). Everyone waits with `Yield` (an
//!   explicit `BENCH_WAIT` overrides it), and a producer that finds the ring full yields. What
//!   is measured is the producer's side: it times its claims in chunks (16 claims of up to 256,
//!   or 256 single claims, each chunk ending early at a claim that finds the ring full; the
//!   clock's own cost, calibrated at start, is taken off), and reports:
//!   - `prod_ns_per_msg`: time in claim + fill + commit per message, the claims that found the
//!     ring full and ended a chunk included, the yields and the claims that found it full again
//!     after a yield not; `prod_msgs_per_s` is its inverse (the producer's rate while it has
//!     room), and `prod_wall_msgs_per_s` its messages over its wall time (waits included);
//!   - `full_try_ns`: the mean cost of a claim that finds the ring full (after a yield);
//!     `fulls_per_kmsg`: claims that found it full per 1,000 messages; `msgs_per_claim`;
//!   - `chunk_p50_ns_per_msg`, `chunk_p99_ns_per_msg`: the median and 99th percentile of the
//!     chunks' cost per message (whole chunks only: none of their claims found the ring full).
//!     A `prod_ns_per_msg` well above the median means the cost sits in a few slow chunks
//!     (bound refreshes that read many consumers' lines, preemptions), not in every claim;
//!   - `cons_min_msgs_per_s`, `cons_median_msgs_per_s`: each consumer's messages over the time
//!     from the producer's start to its last message, the slowest consumer's and the median;
//!   - `prod_ns_vs_raw-scan=`, `prod_ns_vs_raw-scan-cached=`: `prod_ns_per_msg` over each
//!     baseline's (below 1: cheaper);
//!   - after the table, one `growth` line per family and impl: `prod_ns_per_msg` at the largest
//!     N over the smallest N of that run.
//!
//!   `msgs_per_s` (start of the producer to the last consumer's end) is bound by the consumers.
//!   On a 2-core machine the consumer side is oversubscribed from N = 8 on (512 consumer
//!   processes on 2 cores is mostly the scheduler's work); the producer's cost per message is
//!   the figure to compare, not the throughput. Process spawn and attach are not timed.
//! - `mpsc-threads-N` (N = 2, 4, 8, 16, 32, 64): N producer threads of one process into a
//!   multi-producer ring of 65,536 `u64` (`.producers(N)`) read by one consumer process, one
//!   `try_claim` per message (yielding when full), for a fixed window (1 s times `BENCH_SCALE`,
//!   at least 20 ms); each producer then publishes an end mark. The consumer checks every
//!   message: each producer's messages in order, none lost or repeated (its counts must equal
//!   the producers'). `msgs_per_s`: messages published in the window over the window. Fairness:
//!   `share_min` and `share_max`, the smallest and largest producer's count over the mean (1 is
//!   perfectly fair; the target is within 0.5 to 2). `disruptor-crate` runs the same with the
//!   crate's multi-producer (`try_publish`, N producer threads and a busy-spinning handler
//!   thread in one process). On 2 cores N producer threads share the cores with the consumer:
//!   the shares measure the claims' fairness together with the scheduler's. `cpu_share_min`
//!   and `cpu_share_max` take the scheduler out: each producer's messages per second of CPU
//!   time its thread used (`CLOCK_THREAD_CPUTIME_ID`), over the mean: whether a producer that
//!   runs wins its claims.
//!
//! Implementations (`impl=`):
//! - `ours`: this crate, producer and consumer(s) in separate processes, `WaitStrategy::BusySpin`
//!   (or `BENCH_WAIT`; `Yield` in `pipeline3`, `diamond` and `fanout-*`).
//! - `ours-eager`: `ours` with lingering turned off on every consumer
//!   (`Consumer::set_linger(false)`: they poll again as soon as they have read a batch); in the
//!   SPSC scenarios, `pingpong`, `mpsc-2` and `mpmc-2x2`, to show what lingering buys and costs.
//! - `ours-busyspin`, `ours-yield`, `ours-backoff`, `ours-block`: this crate with that wait
//!   strategy on every handle, whatever `BENCH_WAIT` says.
//! - `single-stage`: this crate, one producer and one consumer: the reference of the graphs.
//! - `raw`: a minimal single-producer single-consumer ring over a POSIX shared-memory segment
//!   between two processes (head and tail on their own 128-byte lines, cached opposite index,
//!   batch publish): the practical limit. In `seed` it publishes once per message, like `ours`.
//!   In `wakeup`, a bare futex word instead (see there).
//! - `disruptor-crate` / `disruptor-crate-batch`: the `disruptor` crate (nicholassm/disruptor-rs),
//!   threads in one process, `BusySpin`, `publish` / `batch_publish` (256 at a time).
//! - `channel`: a bounded crossbeam channel between threads, both sides spinning on
//!   `try_send`/`try_recv` (one message per call: channels have no batch).
//! - `raw-scan`: the baseline of `fanout-*`, the seed's O(N) gating: a single-producer ring of
//!   `u64` over POSIX shared memory laid out like ours (the producer's head and each consumer's
//!   sequence alone on a 128-byte line), whose producer loads *every* consumer's sequence before
//!   *each* claim (no cached bound). Its consumers wait as `Yield` does (64 spins, then yields).
//! - `raw-scan-cached`: `raw-scan` with the LMAX Disruptor's gating cache: the producer keeps the
//!   bound it read (slowest consumer + capacity) and reads every consumer again only when a
//!   claim passes it (no early stop, no remembered laggard).
//!
//! Before every measured run the harness times a cross-core probe: two threads ping-pong an
//! atomic (100,000 round trips, at most 250 ms); `probe_ns` is the one-way handoff. vCPU
//! placement on shared machines changes throughput several-fold from minute to minute; compare
//! figures only alongside their probes, and ratios only within one run.
//!
//! Output: one line per run while it goes (`# run ...`), then per result the medians over the
//! runs, one machine-readable line each:
//! `scenario=<name> impl=<impl> msg_bytes=<n> msgs=<n> msgs_per_s=<n> ns_per_msg=<x> probe_ns=<x>
//! ratio_vs_<baseline>=<x>...` (throughput ratio: above 1 is faster), plus
//! `p50_ns= p99_ns= p999_ns= max_ns=` and `p50_vs_raw= p99_vs_raw=` (latency ratio: below 1 is
//! faster) for `pingpong` and `wakeup`, `wait=` (the strategy of our handles) on the lines of
//! this crate, and a few scenario-specific fields (see above); then a human-readable table, and
//! tables of the `fanout-*` and `mpsc-threads-*` figures with the `growth` lines.
//! `segment` lines give the segment size against `capacity * size_of::<T>()`;
//! `producer_hwm_kb` is the producer process's peak RSS (`VmHWM`, which counts the shared
//! mapping pages it touched).
//!
//! Environment: `BENCH_SCALE` (default 1), `BENCH_RUNS` (default 5), `BENCH_TIMEOUT_S` (per run,
//! default 120), `BENCH_PIN=a,b,...` (pin the processes, and the probe's threads, to these CPUs in
//! turn; nothing is pinned by default), `BENCH_IMPLS=ours,raw,...` (run only these),
//! `BENCH_WAIT=busy-spin|yield|backoff|block` (the wait strategy of `ours` and `single-stage`;
//! default busy-spin, but yield in `pipeline3`, `diamond` and `fanout-*`).
//!
//! Processes: the binary re-executes itself (`__child <role> key=value...`) for each producer and
//! consumer. A child dies with its parent (`PR_SET_PDEATHSIG`) and exits on its own after the
//! per-run timeout, so no orphan is left spinning. Run without `--bench` (as `cargo test
//! --benches` does), it makes a tiny smoke run of every scenario, with N (the consumers of
//! `fanout-*`, the producers of `mpsc-threads-*`) capped at 4.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use memmap2::MmapRaw;
use shm_disruptor::{ClaimError, Disruptor, Slot, WaitStrategy};

/// Slots of every throughput ring (ours, raw, the disruptor crate, the channel bound).
const RING_SLOTS: usize = 65_536;
/// Slots of each of the two `pingpong` rings (one message is in flight at a time).
const PINGPONG_SLOTS: usize = 1024;
/// The batch size of `*-batch` and `spsc-*` claims.
const BATCH: usize = 256;
/// Round trips of the cross-core probe, and its time cap.
const PROBE_ROUNDS: u64 = 100_000;
const PROBE_CAP: Duration = Duration::from_millis(250);
/// Spins before a spin loop of the harness itself (not of a measured ring) starts yielding, so
/// that two spinners sharing one core still make progress.
const SPINS_BEFORE_YIELD: u32 = 1 << 16;

// ---------------------------------------------------------------------------------------------
// Messages

/// A benchmark message: `make(producer, seq)` is what producer `producer` writes as its message
/// number `seq`; consumers check every message against it.
trait Msg: Slot + PartialEq + std::fmt::Debug {
    /// The `kind=` argument naming this type to a child.
    const KIND: &'static str;
    fn make(producer: u64, seq: u64) -> Self;
    /// The producer tag of a message made by `make`.
    fn producer(&self) -> usize;
}

impl Msg for u32 {
    const KIND: &'static str = "u32";
    #[inline(always)]
    fn make(producer: u64, seq: u64) -> u32 {
        ((producer as u32) << 28) | (seq as u32 & 0x0fff_ffff)
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        (*self >> 28) as usize
    }
}

impl Msg for u64 {
    const KIND: &'static str = "u64";
    #[inline(always)]
    fn make(producer: u64, seq: u64) -> u64 {
        (producer << 56) | (seq & ((1 << 56) - 1))
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        (*self >> 56) as usize
    }
}

/// The byte of `stream` (only the raw ring's claim and poll use it as a `Msg`).
impl Msg for u8 {
    const KIND: &'static str = "u8";
    #[inline(always)]
    fn make(_producer: u64, seq: u64) -> u8 {
        seq as u8
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        0
    }
}

/// The 64-byte message of `spsc-64B`.
type Msg64 = [u64; 8];

impl Msg for Msg64 {
    const KIND: &'static str = "64B";
    #[inline(always)]
    fn make(producer: u64, seq: u64) -> Msg64 {
        [u64::make(producer, seq); 8]
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        self[0].producer()
    }
}

/// Writes consecutive messages of `producer` into `slots`, starting at `*seq`.
#[inline(always)]
fn fill<M: Msg>(slots: &mut [M], producer: u64, seq: &mut u64) {
    let start = *seq;
    for (i, slot) in slots.iter_mut().enumerate() {
        *slot = M::make(producer, start + i as u64);
    }
    *seq += slots.len() as u64;
}

/// Checks that `msgs` are producer 0's messages `*expected..`, in order; advances `*expected`.
/// Branch-free over the slice so that the check does not limit the ring's throughput.
#[inline(always)]
fn check_in_order<M: Msg>(msgs: &[M], expected: &mut u64) -> Result<(), String> {
    let start = *expected;
    let mut ok = true;
    for (i, m) in msgs.iter().enumerate() {
        ok &= *m == M::make(0, start + i as u64);
    }
    if !ok {
        let (i, m) =
            msgs.iter().enumerate().find(|(i, m)| **m != M::make(0, start + *i as u64)).unwrap();
        return Err(format!(
            "message {} is {m:?}, expected {:?}",
            start + i as u64,
            M::make(0, start + i as u64)
        ));
    }
    *expected += msgs.len() as u64;
    Ok(())
}

/// Checks that each of `msgs` is the next message of the producer it names.
#[inline(always)]
fn check_tagged<M: Msg>(msgs: &[M], next: &mut [u64]) -> Result<(), String> {
    for m in msgs {
        let p = m.producer();
        let ok = next.get(p).is_some_and(|&seq| *m == M::make(p as u64, seq));
        if !ok {
            return Err(format!("unexpected message {m:?} (next per producer: {next:?})"));
        }
        next[p] += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Impl {
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
}

impl Impl {
    fn name(self) -> &'static str {
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
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Shape {
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
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    name: &'static str,
    kind: &'static str,
    msg_bytes: usize,
    /// Messages (round trips for `pingpong`) at `BENCH_SCALE=1`.
    msgs: u64,
    shape: Shape,
    impls: &'static [Impl],
    /// When not empty, every impl's line carries its ratios against these impls (itself
    /// included), and no other ratio; otherwise `ours` against every baseline, and every impl
    /// against `raw`.
    references: &'static [Impl],
    /// The wait strategy of `ours` and `single-stage` here unless `BENCH_WAIT` is set
    /// (busy-spin when `None`).
    wait: Option<WaitStrategy>,
}

const SPSC_IMPLS: &[Impl] = &[
    Impl::Ours,
    Impl::OursEager,
    Impl::Raw,
    Impl::DisruptorCrate,
    Impl::DisruptorCrateBatch,
    Impl::Channel,
];

/// Each of our wait strategies; the first is the reference of `wait-seed` and `wakeup`.
const WAIT_IMPLS: &[Impl] = &[
    Impl::OursWait(WaitStrategy::BusySpin),
    Impl::OursWait(WaitStrategy::Yield),
    Impl::OursWait(WaitStrategy::Backoff),
    Impl::OursWait(WaitStrategy::Block),
];
/// The same, and `raw`: a bare futex wake-up, the kernel's floor for `ours-block`.
const WAKEUP_IMPLS: &[Impl] = &[
    Impl::OursWait(WaitStrategy::BusySpin),
    Impl::OursWait(WaitStrategy::Yield),
    Impl::OursWait(WaitStrategy::Backoff),
    Impl::OursWait(WaitStrategy::Block),
    Impl::Raw,
];

/// The graphs of `pipeline3` (0 -> 1 -> 2) and `diamond` (0 and 1, then 2).
const PIPELINE3: &[&[usize]] = &[&[], &[0], &[1]];
const DIAMOND: &[&[usize]] = &[&[], &[], &[0, 1]];

/// `fanout-*`: ours next to the O(N)-scan baseline.
const FANOUT_IMPLS: &[Impl] = &[Impl::Ours, Impl::RawScan, Impl::RawScanCached];

/// A `fanout-*` scenario of `msgs` `u64` to `consumers` consumers (threads or processes),
/// claims of up to `batch`.
const fn fanout(
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
const fn mpsc_threads(name: &'static str, producers: usize) -> Scenario {
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

const SCENARIOS: &[Scenario] = &[
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
        impls: &[Impl::Ours, Impl::OursEager, Impl::Raw],
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
];

// ---------------------------------------------------------------------------------------------
// Configuration and small utilities

#[derive(Clone, Debug)]
struct Config {
    scale: f64,
    runs: usize,
    timeout: Duration,
    pin: Vec<usize>,
    impls: Option<Vec<String>>,
    /// The wait strategy the children of a run are given (`BENCH_WAIT` in their environment);
    /// `None`: they inherit ours.
    wait: Option<WaitStrategy>,
    /// Whether our consumers linger (`BENCH_LINGER=0` in the children's environment if not).
    linger: bool,
    /// The most consumers of `fanout-*` and producers of `mpsc-threads-*` (4 in the smoke run).
    max_n: usize,
}

fn env_parse<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("ipc: ignoring {name}={v:?} (not a number)");
            default
        }),
        Err(_) => default,
    }
}

impl Config {
    fn from_env(smoke: bool) -> Config {
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
            impls: list("BENCH_IMPLS"),
            wait: None,
            linger: true,
            max_n: if smoke { 4 } else { usize::MAX },
        }
    }

    fn scaled(&self, msgs: u64) -> u64 {
        ((msgs as f64 * self.scale).round() as u64).max(1000)
    }

    fn wants(&self, imp: Impl) -> bool {
        self.impls.as_ref().map_or(true, |l| l.iter().any(|n| n == imp.name()))
    }

    /// The CPU for the `i`-th process or thread of a run, if pinning.
    fn cpu(&self, i: usize) -> Option<usize> {
        (!self.pin.is_empty()).then(|| self.pin[i % self.pin.len()])
    }
}

/// The wait strategy of our handles: `BusySpin` unless `BENCH_WAIT` names another
/// (`busy-spin`, `yield`, `backoff`, `block`); children inherit the variable, or are given
/// another value (`Config::wait`).
fn wait_strategy() -> WaitStrategy {
    match std::env::var("BENCH_WAIT").as_deref().map(str::trim) {
        Ok("yield") => WaitStrategy::Yield,
        Ok("backoff") => WaitStrategy::Backoff,
        Ok("block") => WaitStrategy::Block,
        _ => WaitStrategy::BusySpin,
    }
}

/// Gives a child's consumer the wait strategy of `BENCH_WAIT` and the linger of `BENCH_LINGER`.
fn setup_consumer<M: Msg>(consumer: &mut shm_disruptor::Consumer<M>) {
    consumer.set_wait_strategy(wait_strategy());
    consumer.set_linger(std::env::var("BENCH_LINGER").map_or(true, |v| v.trim() != "0"));
}

/// The `BENCH_WAIT` value that selects `strategy`.
fn wait_env_name(strategy: WaitStrategy) -> &'static str {
    match strategy {
        WaitStrategy::Yield => "yield",
        WaitStrategy::Backoff => "backoff",
        WaitStrategy::Block => "block",
        _ => "busy-spin",
    }
}

/// The wait strategy of `imp`'s handles in `sc` (`None` for the baselines that are not ours).
fn effective_wait(sc: &Scenario, imp: Impl) -> Option<WaitStrategy> {
    match imp {
        Impl::OursWait(strategy) => Some(strategy),
        Impl::Ours | Impl::OursEager | Impl::SingleStage => {
            Some(match (std::env::var_os("BENCH_WAIT"), sc.wait) {
                (None, Some(strategy)) => strategy,
                _ => wait_strategy(),
            })
        }
        _ => None,
    }
}

/// CLOCK_MONOTONIC in nanoseconds: comparable between processes of one machine.
fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Pins the calling thread (and the threads it starts later) to `cpus`.
fn pin_to(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    let mut set = rustix::thread::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu);
    }
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("ipc: cannot pin to {cpus:?}: {e}");
    }
}

/// A value of `key` from `/proc/self/status`, in kB.
fn proc_status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Voluntary context switches of the main thread (`/proc/self/status` shows the main
/// thread's): how often it slept (a futex wait, a timed sleep), not counting yields.
fn voluntary_switches() -> u64 {
    proc_status_kb("voluntary_ctxt_switches")
}

/// The peak-RSS fields a producer child reports.
fn memory_report() -> String {
    format!(
        "hwm_kb={} rss_anon_kb={} rss_shmem_kb={}",
        proc_status_kb("VmHWM"),
        proc_status_kb("RssAnon"),
        proc_status_kb("RssShmem")
    )
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only uniqueness within this process matters.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/{prefix}-{}-{n}", std::process::id())
}

/// Spins (then yields, for the harness's own waits) until `ready()`.
#[inline]
fn spin_until(mut ready: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        spins = spins.wrapping_add(1);
        if spins < SPINS_BEFORE_YIELD {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cross-core probe

/// An atomic alone on a 128-byte line (adjacent-line prefetch pairs 64-byte lines).
#[repr(C, align(128))]
struct PaddedAtomic(AtomicU64);

/// One-way handoff time between two threads ping-ponging an atomic, in ns.
fn probe(cfg: &Config) -> f64 {
    let ping = PaddedAtomic(AtomicU64::new(0));
    let pong = PaddedAtomic(AtomicU64::new(0));
    let (ping, pong) = (&ping.0, &pong.0);
    std::thread::scope(|s| {
        s.spawn(|| {
            pin_to(cfg.cpu(1).as_slice());
            let mut seen = 0;
            loop {
                let mut v = 0;
                // Acquire: pairs with the Release store of `ping` by the other thread (a handoff
                // like a ring's, though the value is all that is read).
                spin_until(|| {
                    v = ping.load(Ordering::Acquire);
                    v != seen
                });
                if v == u64::MAX {
                    break;
                }
                seen = v;
                // Release: pairs with the Acquire load of `pong` below.
                pong.store(v, Ordering::Release);
            }
        });
        let pinger = s.spawn(|| {
            pin_to(cfg.cpu(0).as_slice());
            let start = Instant::now();
            let mut rounds = 0;
            while rounds < PROBE_ROUNDS {
                rounds += 1;
                // Release: pairs with the Acquire load of `ping` by the ponger.
                ping.store(rounds, Ordering::Release);
                // Acquire: pairs with the Release store of `pong` by the ponger.
                spin_until(|| pong.load(Ordering::Acquire) == rounds);
                if rounds % 256 == 0 && start.elapsed() > PROBE_CAP {
                    break;
                }
            }
            let elapsed = start.elapsed();
            // Release: pairs with the ponger's Acquire load; tells it to stop.
            ping.store(u64::MAX, Ordering::Release);
            elapsed.as_nanos() as f64 / rounds as f64 / 2.0
        });
        pinger.join().expect("probe thread panicked")
    })
}

// ---------------------------------------------------------------------------------------------
// The raw baseline: a minimal SPSC ring over POSIX shared memory

/// The raw ring's control block: the producer's `head` and the consumer's `tail`, each alone on a
/// 128-byte line; the slots follow at `RAW_SLOTS_OFFSET`.
#[repr(C)]
struct RawHeader {
    /// Written only by the producer: every sequence below it is published.
    head: AtomicU64,
    _pad0: [u8; 120],
    /// Written only by the consumer: every sequence below it has been read.
    tail: AtomicU64,
    _pad1: [u8; 120],
}

const RAW_SLOTS_OFFSET: usize = 256;
const _: () = assert!(std::mem::size_of::<RawHeader>() == RAW_SLOTS_OFFSET);
const _: () = assert!(std::mem::offset_of!(RawHeader, tail) == 128);

/// One process's mapping of a raw ring of `capacity` (a power of two) slots of `M`.
struct RawRing<M> {
    map: MmapRaw,
    capacity: u64,
    _type: PhantomData<M>,
}

impl<M: Msg> RawRing<M> {
    fn bytes(capacity: u64) -> u64 {
        RAW_SLOTS_OFFSET as u64 + capacity * std::mem::size_of::<M>() as u64
    }

    /// Creates the segment `name` (zero-filled by the kernel: head = tail = 0).
    fn create(name: &str, capacity: u64) -> io::Result<RawRing<M>> {
        assert!(capacity.is_power_of_two());
        Self::map(create_segment(name, Self::bytes(capacity))?, capacity)
    }

    fn open(name: &str, capacity: u64) -> io::Result<RawRing<M>> {
        Self::map(open_segment(name)?, capacity)
    }

    fn map(file: std::fs::File, capacity: u64) -> io::Result<RawRing<M>> {
        let map = MmapRaw::map_raw(&file)?;
        if (map.len() as u64) < Self::bytes(capacity) {
            return Err(io::Error::other("raw segment is smaller than its capacity needs"));
        }
        Ok(RawRing { map, capacity, _type: PhantomData })
    }

    fn header(&self) -> &RawHeader {
        // SAFETY: the mapping is page-aligned and at least `RAW_SLOTS_OFFSET` bytes long
        // (checked in `map`); the kernel zero-filled it, a valid `RawHeader` (atomics and bytes);
        // every process touches the header only through these atomics.
        unsafe { &*self.map.as_ptr().cast::<RawHeader>() }
    }

    fn slots(&self) -> *mut M {
        // SAFETY: `RAW_SLOTS_OFFSET` is inside the mapping (checked in `map`), and 128-aligned
        // from a page-aligned base, which suits every `M` used here.
        unsafe { self.map.as_mut_ptr().add(RAW_SLOTS_OFFSET).cast::<M>() }
    }

    fn producer(&self) -> RawProducer<'_, M> {
        RawProducer { ring: self, head: 0, tail_cache: 0 }
    }

    fn consumer(&self) -> RawConsumer<'_, M> {
        RawConsumer { ring: self, tail: 0, head_cache: 0 }
    }
}

/// Creates the POSIX shared-memory segment `name` of `bytes` zero-filled bytes.
fn create_segment(name: &str, bytes: u64) -> io::Result<std::fs::File> {
    use rustix::fs::Mode;
    use rustix::shm::OFlags;
    let fd =
        rustix::shm::open(name, OFlags::CREATE | OFlags::EXCL | OFlags::RDWR, Mode::from(0o600))?;
    rustix::fs::ftruncate(&fd, bytes)?;
    Ok(std::fs::File::from(fd))
}

fn open_segment(name: &str) -> io::Result<std::fs::File> {
    let fd = rustix::shm::open(name, rustix::shm::OFlags::RDWR, rustix::fs::Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

/// The producer side: claims contiguous free slots, then publishes them with one store.
struct RawProducer<'a, M> {
    ring: &'a RawRing<M>,
    head: u64,
    /// The consumer's tail as last read: there is room up to `tail_cache + capacity`.
    tail_cache: u64,
}

impl<M: Msg> RawProducer<'_, M> {
    /// Up to `max` free contiguous slots (at least one: spins until there is room). Write them,
    /// then [`publish`](Self::publish) how many were written.
    #[inline(always)]
    fn claim(&mut self, max: usize) -> &mut [M] {
        let capacity = self.ring.capacity;
        if capacity - (self.head - self.tail_cache) < max as u64 {
            let tail = &self.ring.header().tail;
            // Acquire: pairs with the Release store of `tail` in `RawConsumer::release`: the
            // consumer's reads of the slots below `tail` happen-before we overwrite them.
            self.tail_cache = tail.load(Ordering::Acquire);
            while self.head - self.tail_cache == capacity {
                std::hint::spin_loop();
                // Acquire: as above.
                self.tail_cache = tail.load(Ordering::Acquire);
            }
        }
        let free = capacity - (self.head - self.tail_cache);
        let index = self.head & (capacity - 1);
        let n = (max as u64).min(free).min(capacity - index) as usize;
        // SAFETY: `index + n <= capacity`, so the slice lies in the slot region; the slots
        // `[head, head + n)` are free (the consumer's tail is past their previous use) and
        // unpublished, so this producer is their only user until `publish`.
        unsafe { std::slice::from_raw_parts_mut(self.ring.slots().add(index as usize), n) }
    }

    #[inline(always)]
    fn publish(&mut self, n: usize) {
        self.head += n as u64;
        // Release: pairs with the Acquire load of `head` in `RawConsumer::poll`: our slot writes
        // happen-before the consumer reads them.
        self.ring.header().head.store(self.head, Ordering::Release);
    }
}

/// The consumer side: reads everything published up to the end of the ring, then releases it.
struct RawConsumer<'a, M> {
    ring: &'a RawRing<M>,
    tail: u64,
    /// The producer's head as last read.
    head_cache: u64,
}

impl<M: Msg> RawConsumer<'_, M> {
    /// The published, unread messages up to the end of the ring (spins until there is one).
    #[inline(always)]
    fn poll(&mut self) -> &[M] {
        if self.tail == self.head_cache {
            let head = &self.ring.header().head;
            loop {
                // Acquire: pairs with the Release store of `head` in `RawProducer::publish`.
                self.head_cache = head.load(Ordering::Acquire);
                if self.head_cache != self.tail {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        let capacity = self.ring.capacity;
        let index = self.tail & (capacity - 1);
        let n = (self.head_cache - self.tail).min(capacity - index) as usize;
        // SAFETY: `index + n <= capacity`; the slots `[tail, tail + n)` are published (below
        // `head`, acquired above) and the producer does not overwrite them before `release`.
        unsafe { std::slice::from_raw_parts(self.ring.slots().add(index as usize), n) }
    }

    #[inline(always)]
    fn release(&mut self, n: usize) {
        self.tail += n as u64;
        // Release: pairs with the Acquire loads of `tail` in `RawProducer::claim`.
        self.ring.header().tail.store(self.tail, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------------
// The O(N)-scan baseline of `fanout-*`: a raw ring whose producer reads every consumer per claim

/// Bytes between two words written by different parties (the adjacent-line prefetcher pulls
/// 64-byte lines in pairs).
const SCAN_LINE: usize = 128;

/// `raw-scan`: one process's mapping of a single-producer ring of `capacity` (a power of two)
/// `u64` slots with `consumers` consumers. The producer's `head` (every sequence below it is
/// published) is alone on the first 128-byte line, consumer `i`'s `tail` (every sequence below
/// it has been read) alone on line `1 + i`, as our sequence lines are; the slots follow.
struct ScanRing {
    map: MmapRaw,
    capacity: u64,
    consumers: usize,
}

impl ScanRing {
    fn slots_offset(consumers: usize) -> usize {
        SCAN_LINE * (1 + consumers)
    }

    fn bytes(capacity: u64, consumers: usize) -> u64 {
        Self::slots_offset(consumers) as u64 + capacity * std::mem::size_of::<u64>() as u64
    }

    /// Creates the segment `name` (zero-filled by the kernel: every head and tail is 0).
    fn create(name: &str, capacity: u64, consumers: usize) -> io::Result<ScanRing> {
        assert!(capacity.is_power_of_two() && consumers > 0);
        Self::map(create_segment(name, Self::bytes(capacity, consumers))?, capacity, consumers)
    }

    fn open(name: &str, capacity: u64, consumers: usize) -> io::Result<ScanRing> {
        if !capacity.is_power_of_two() || consumers == 0 {
            return Err(io::Error::other("bad raw-scan geometry"));
        }
        Self::map(open_segment(name)?, capacity, consumers)
    }

    fn map(file: std::fs::File, capacity: u64, consumers: usize) -> io::Result<ScanRing> {
        let map = MmapRaw::map_raw(&file)?;
        if (map.len() as u64) < Self::bytes(capacity, consumers) {
            return Err(io::Error::other("raw-scan segment is smaller than its geometry needs"));
        }
        Ok(ScanRing { map, capacity, consumers })
    }

    /// The word at `line`: the head (line 0) or a consumer's tail (line `1 + i`).
    #[inline(always)]
    fn word(&self, line: usize) -> &AtomicU64 {
        assert!(line <= self.consumers);
        // SAFETY: `line * SCAN_LINE + 8 <= slots_offset <= map.len()` (checked in `map`), the
        // address is 128-aligned from a page-aligned base; the kernel zero-filled the segment
        // (a valid `AtomicU64`), and every process touches these words only through atomics.
        unsafe { &*self.map.as_ptr().add(line * SCAN_LINE).cast::<AtomicU64>() }
    }

    fn head(&self) -> &AtomicU64 {
        self.word(0)
    }

    fn tail(&self, consumer: usize) -> &AtomicU64 {
        self.word(1 + consumer)
    }

    fn slots(&self) -> *mut u64 {
        // SAFETY: the slot region lies inside the mapping (checked in `map`), 128-aligned.
        unsafe { self.map.as_mut_ptr().add(Self::slots_offset(self.consumers)).cast::<u64>() }
    }

    /// The producer; `cached`: keeps its bound between claims (`raw-scan-cached`).
    fn producer(&self, cached: bool) -> ScanProducer<'_> {
        ScanProducer { ring: self, head: 0, cached, bound: 0 }
    }

    fn consumer(&self, index: usize) -> ScanConsumer<'_> {
        assert!(index < self.consumers);
        ScanConsumer { ring: self, index, tail: 0, head_cache: 0 }
    }
}

/// `raw-scan`'s producer: the seed's claim, which reads every consumer's sequence each time;
/// or, `cached` (`raw-scan-cached`), the LMAX claim, which reads them all only when a claim
/// passes the bound it read last.
struct ScanProducer<'a> {
    ring: &'a ScanRing,
    head: u64,
    cached: bool,
    /// `cached`: the slowest tail + capacity, as last read.
    bound: u64,
}

impl ScanProducer<'_> {
    /// Up to `max` free contiguous slots, after a load of *every* consumer's tail (unless
    /// `cached` and `max` fit under the bound); `None` when the ring is full. Write them, then
    /// [`publish`](Self::publish) how many were written.
    #[inline(always)]
    fn try_claim(&mut self, max: usize) -> Option<&mut [u64]> {
        let ring = self.ring;
        if !self.cached || self.head + max as u64 > self.bound {
            let mut slowest = u64::MAX;
            for consumer in 0..ring.consumers {
                // Acquire: pairs with the Release store of the tail in `ScanConsumer::release`:
                // the consumer's reads of the slots below it happen-before we overwrite them.
                slowest = slowest.min(ring.tail(consumer).load(Ordering::Acquire));
            }
            // A tail never passes the head (a consumer reads only what was published).
            self.bound = slowest.min(self.head) + ring.capacity;
        }
        let free = self.bound - self.head;
        if free == 0 {
            return None;
        }
        let index = self.head & (ring.capacity - 1);
        let n = (max as u64).min(free).min(ring.capacity - index) as usize;
        // SAFETY: `index + n <= capacity`: the slice lies in the slot region; the slots
        // `[head, head + n)` are free (every consumer's tail is past their previous use) and
        // unpublished, so this producer is their only user until `publish`.
        Some(unsafe { std::slice::from_raw_parts_mut(ring.slots().add(index as usize), n) })
    }

    #[inline(always)]
    fn publish(&mut self, n: usize) {
        self.head += n as u64;
        // Release: pairs with the Acquire load of the head in `ScanConsumer::poll`: our slot
        // writes happen-before the consumers read them.
        self.ring.head().store(self.head, Ordering::Release);
    }
}

/// `raw-scan`'s consumer `index`: reads everything published up to the end of the ring, then
/// releases it; waits as `WaitStrategy::Yield` does (64 spins, then a yield per look).
struct ScanConsumer<'a> {
    ring: &'a ScanRing,
    index: usize,
    tail: u64,
    head_cache: u64,
}

impl ScanConsumer<'_> {
    #[inline(always)]
    fn poll(&mut self) -> &[u64] {
        if self.tail == self.head_cache {
            let head = self.ring.head();
            let mut rounds = 0u32;
            loop {
                // Acquire: pairs with the Release store of the head in `ScanProducer::publish`.
                self.head_cache = head.load(Ordering::Acquire);
                if self.head_cache != self.tail {
                    break;
                }
                rounds += 1;
                if rounds < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        let capacity = self.ring.capacity;
        let index = self.tail & (capacity - 1);
        let n = (self.head_cache - self.tail).min(capacity - index) as usize;
        // SAFETY: `index + n <= capacity`; the slots `[tail, tail + n)` are published (below
        // the head, acquired above) and the producer does not overwrite them before `release`.
        unsafe { std::slice::from_raw_parts(self.ring.slots().add(index as usize), n) }
    }

    #[inline(always)]
    fn release(&mut self, n: usize) {
        self.tail += n as u64;
        // Release: pairs with the Acquire loads of the tails in `ScanProducer::try_claim`.
        self.ring.tail(self.index).store(self.tail, Ordering::Release);
    }
}

/// Unlinks a POSIX shared-memory name when dropped.
struct Unlink(Vec<String>);

impl Drop for Unlink {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = rustix::shm::unlink(name.as_str());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Children: the processes that produce and consume

type Args = BTreeMap<String, String>;

fn arg<T: FromStr>(args: &Args, key: &str) -> Result<T, String> {
    let v = args.get(key).ok_or_else(|| format!("missing argument {key}="))?;
    v.parse().map_err(|_| format!("bad argument {key}={v}"))
}

/// Tells the parent this child is set up, then waits for its go.
fn ready_then_go() -> Result<(), String> {
    println!("READY");
    let mut line = String::new();
    io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim() != "GO" {
        return Err("the parent called the run off".into());
    }
    Ok(())
}

fn child_main(role: &str, raw_args: &[String]) -> ! {
    // 1. Die with the parent. The parent may already be gone before the prctl: then our parent
    //    is no longer the pid it gave us.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if let Ok(parent) = std::env::var("BENCH_PARENT_PID") {
        let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get().to_string());
        if ppid.as_deref() != Some(parent.as_str()) {
            std::process::exit(2);
        }
    }
    // 2. Leave by the deadline whatever happens (a peer that died leaves us spinning).
    if let Ok(seconds) = std::env::var("BENCH_DEADLINE_S") {
        let seconds: f64 = seconds.parse().unwrap_or(120.0);
        let role = role.to_owned();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(seconds));
            eprintln!("ipc child {role}: deadline of {seconds} s passed, exiting");
            std::process::exit(3);
        });
    }
    // 3. Pin, if asked.
    if let Ok(cpus) = std::env::var("BENCH_CPUS") {
        let cpus: Vec<usize> = cpus.split(',').filter_map(|c| c.parse().ok()).collect();
        pin_to(&cpus);
    }
    let args: Args = raw_args
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let kind = args.get("kind").map(String::as_str).unwrap_or("u64");
    let result = match kind {
        "u8" => run_role::<u8>(role, &args),
        "u32" => run_role::<u32>(role, &args),
        "u64" => run_role::<u64>(role, &args),
        "64B" => run_role::<Msg64>(role, &args),
        other => Err(format!("unknown kind {other}")),
    };
    match result {
        Ok(line) => {
            println!("RESULT {line}");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("ipc child {role}: {e}");
            std::process::exit(1)
        }
    }
}

fn run_role<M: Msg>(role: &str, args: &Args) -> Result<String, String> {
    match role {
        "ours-producer" => ours_producer::<M>(args),
        "ours-consumer" => ours_consumer::<M>(args),
        "ours-pinger" => ours_pingpong::<M>(args, true),
        "ours-ponger" => ours_pingpong::<M>(args, false),
        "raw-producer" => raw_producer::<M>(args),
        "raw-consumer" => raw_consumer::<M>(args),
        "raw-pinger" => raw_pingpong::<M>(args, true),
        "raw-ponger" => raw_pingpong::<M>(args, false),
        "wake-producer" => wake_producer(args),
        "wake-consumer" => wake_consumer(args),
        "raw-wake-producer" => raw_wake_producer(args),
        "raw-wake-consumer" => raw_wake_consumer(args),
        "stream-writer" => stream_writer(args),
        "stream-reader" => stream_reader(args),
        "raw-stream-writer" => raw_stream_writer(args),
        "raw-stream-reader" => raw_stream_reader(args),
        "threads" => threads::<M>(args),
        "inproc" => inproc::<M>(args),
        "fan-producer" => fan_producer(args),
        "fan-consumers" => fan_consumers(args),
        "window-producers" => window_producers(args),
        "window-consumer" => window_consumer(args),
        other => Err(format!("unknown role {other}")),
    }
}

fn ours_producer<M: Msg>(args: &Args) -> Result<String, String> {
    let ring = Disruptor::<M>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let msgs: u64 = arg(args, "msgs")?;
    let id: u64 = arg(args, "id")?;
    let batch: usize = arg(args, "batch")?;
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    producer.set_wait_strategy(wait_strategy());
    ready_then_go()?;
    let start = now_ns();
    if batch <= 1 {
        for seq in 0..msgs {
            let mut claim = producer.claim().map_err(|e| e.to_string())?;
            *claim = M::make(id, seq);
            claim.commit();
        }
    } else {
        let mut seq = 0;
        while seq < msgs {
            let want = (msgs - seq).min(batch as u64) as usize;
            let mut claim = producer.claim_available(want).map_err(|e| e.to_string())?;
            let (a, b) = claim.slices_mut();
            fill(a, id, &mut seq);
            fill(b, id, &mut seq);
            claim.commit();
        }
    }
    let end = now_ns();
    Ok(format!("start_ns={start} end_ns={end} {}", memory_report()))
}

fn ours_consumer<M: Msg>(args: &Args) -> Result<String, String> {
    let ring = Disruptor::<M>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let total: u64 = arg(args, "msgs")?;
    let producers: usize = arg(args, "producers")?;
    let mut consumer = ring.consumer(arg(args, "index")?).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    ready_then_go()?;
    let mut received = 0u64;
    let mut expected = 0u64;
    let mut next = vec![0u64; producers];
    while received < total {
        let batch = consumer.consume().map_err(|e| e.to_string())?;
        let (a, b) = batch.slices();
        if producers == 1 {
            check_in_order(a, &mut expected)?;
            check_in_order(b, &mut expected)?;
        } else {
            check_tagged(a, &mut next)?;
            check_tagged(b, &mut next)?;
        }
        received += batch.len() as u64;
        batch.commit();
    }
    Ok(format!("end_ns={} received={received}", now_ns()))
}

/// Histogram of round-trip times, reported as one-way (halved) percentiles.
fn latency_report(hist: &hdrhistogram::Histogram<u64>, rounds: u64, elapsed_ns: u64) -> String {
    let one_way = |q: f64| hist.value_at_quantile(q) as f64 / 2.0;
    format!(
        "rounds={rounds} elapsed_ns={elapsed_ns} p50_ns={} p99_ns={} p999_ns={} max_ns={} mean_ns={:.1}",
        one_way(0.5),
        one_way(0.99),
        one_way(0.999),
        hist.max() as f64 / 2.0,
        hist.mean() / 2.0
    )
}

fn new_histogram() -> Result<hdrhistogram::Histogram<u64>, String> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())
}

/// Warm-up round trips before recording.
fn warmup(rounds: u64) -> u64 {
    (rounds / 10).min(10_000)
}

fn ours_pingpong<M: Msg>(args: &Args, pinger: bool) -> Result<String, String> {
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
        let batch = consumer.consume().map_err(|e| e.to_string())?;
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
    Ok(if pinger { latency_report(&hist, rounds, elapsed) } else { memory_report() })
}

fn raw_producer<M: Msg>(args: &Args) -> Result<String, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let batch: usize = arg(args, "batch")?;
    let ring = RawRing::<M>::open(&arg::<String>(args, "ring")?, arg(args, "capacity")?)
        .map_err(|e| e.to_string())?;
    let mut producer = ring.producer();
    ready_then_go()?;
    let start = now_ns();
    let mut seq = 0;
    while seq < msgs {
        let slots = producer.claim((msgs - seq).min(batch as u64) as usize);
        fill(slots, 0, &mut seq);
        let n = slots.len();
        producer.publish(n);
    }
    let end = now_ns();
    Ok(format!("start_ns={start} end_ns={end} {}", memory_report()))
}

fn raw_consumer<M: Msg>(args: &Args) -> Result<String, String> {
    let total: u64 = arg(args, "msgs")?;
    let ring = RawRing::<M>::open(&arg::<String>(args, "ring")?, arg(args, "capacity")?)
        .map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer();
    ready_then_go()?;
    let mut expected = 0u64;
    while expected < total {
        let msgs = consumer.poll();
        check_in_order(msgs, &mut expected)?;
        let n = msgs.len();
        consumer.release(n);
    }
    Ok(format!("end_ns={} received={expected}", now_ns()))
}

fn raw_pingpong<M: Msg>(args: &Args, pinger: bool) -> Result<String, String> {
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
    Ok(if pinger { latency_report(&hist, rounds, elapsed) } else { memory_report() })
}

/// The pause between two `wakeup` messages: long enough for a `Block` or `Backoff` consumer to
/// be asleep (past 64 spins and 64 yields, in `FUTEX_WAIT` or a timed sleep) when the next
/// message comes.
fn wakeup_pause(strategy: WaitStrategy) -> Duration {
    match strategy {
        WaitStrategy::BusySpin | WaitStrategy::Yield => Duration::from_micros(50),
        _ => Duration::from_micros(200),
    }
}

/// `wakeup`'s producer loop: `rounds` (plus warm-up) times, a pause spinning on the clock (the
/// consumer, finding nothing, goes through its wait), then `send(i, stamp)` of message `i`
/// with its `CLOCK_MONOTONIC` stamp, then a wait for `acked(i)` (the consumer has read it).
fn wake_producer_loop(
    args: &Args,
    mut send: impl FnMut(u64, u64) -> Result<(), String>,
    acked: impl Fn(u64) -> bool,
) -> Result<String, String> {
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
    Ok(format!("start_ns={start} end_ns={} {}", now_ns(), memory_report()))
}

/// The calling thread's CPU time, in ns.
fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// `wakeup`'s consumer loop: `receive(i)` waits for message `i`, acks it and returns its stamp;
/// records `now - stamp` (taken as soon as `receive` returns), and, over the measured rounds,
/// this (main) thread's CPU use and voluntary context switches (its sleeps).
fn wake_consumer_loop(
    args: &Args,
    mut receive: impl FnMut(u64) -> Result<(u64, u64), String>,
) -> Result<String, String> {
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
    Ok(format!(
        "rounds={rounds} elapsed_ns={wall} p50_ns={} p99_ns={} p999_ns={} max_ns={} \
         consumer_cpu_pct={:.1} consumer_sleeps_per_msg={:.3}",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max(),
        cpu as f64 * 100.0 / wall.max(1) as f64,
        slept as f64 / rounds as f64
    ))
}

/// `wakeup`'s producer over our ring: claim, stamp, commit; the ack is the consumer's sequence.
fn wake_producer(args: &Args) -> Result<String, String> {
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
fn wake_consumer(args: &Args) -> Result<String, String> {
    let ring = Disruptor::<u64>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    wake_consumer_loop(args, |i| {
        let batch = consumer.consume().map_err(|e| e.to_string())?;
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
struct RawWake<'a> {
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
const RAW_WAKE_SLOTS: u64 = 16;

/// `wakeup`'s raw producer: stamp, bump the futex word, `FUTEX_WAKE` (always: no waiter count).
fn raw_wake_producer(args: &Args) -> Result<String, String> {
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
fn raw_wake_consumer(args: &Args) -> Result<String, String> {
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

/// Bytes per `write_all` of the `stream` writers.
const STREAM_CHUNK: usize = 64 * 1024;
/// The `stream` source: this many pseudo-random bytes (plus a chunk), read at shifting offsets
/// so that the stream never repeats with the ring's period (a lap lost or read twice would then
/// go unnoticed).
const STREAM_SOURCE: usize = 1 << 20;

fn stream_source() -> Vec<u8> {
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
fn stream_chunk(source: &[u8], i: u64, len: usize) -> &[u8] {
    let offset = (i * 40_503 % STREAM_SOURCE as u64) as usize;
    &source[offset..offset + len]
}

/// A fast running hash of a byte stream that does not depend on how the stream is cut: four
/// independent multiply lanes over 32-byte blocks, the odd tail buffered. A checksum against
/// lost, duplicated or reordered bytes, not a cryptographic one.
struct StreamHash {
    lanes: [u64; 4],
    buf: [u8; 32],
    buffered: usize,
    total: u64,
}

impl StreamHash {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new() -> StreamHash {
        StreamHash { lanes: [1, 2, 3, 4], buf: [0; 32], buffered: 0, total: 0 }
    }

    #[inline(always)]
    fn block(&mut self, block: &[u8]) {
        for (lane, word) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            *lane = (*lane ^ w).wrapping_mul(Self::K).rotate_left(29);
        }
    }

    fn update(&mut self, mut data: &[u8]) {
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

    fn finish(&self) -> u64 {
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
fn stream_writer(args: &Args) -> Result<String, String> {
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
    Ok(format!(
        "start_ns={start} end_ns={end} hash={:x} sleeps={} {}",
        hash.finish(),
        voluntary_switches() - switches0,
        memory_report()
    ))
}

/// `stream`'s reader: `fill_buf` (the ring's bytes in place) and `consume` until the end.
fn stream_reader(args: &Args) -> Result<String, String> {
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
    Ok(format!(
        "end_ns={end} received={received} hash={:x} sleeps={}",
        hash.finish(),
        voluntary_switches() - switches0
    ))
}

/// `stream` over the raw ring: the same chunks, copied into contiguous claims.
fn raw_stream_writer(args: &Args) -> Result<String, String> {
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
    Ok(format!(
        "start_ns={start} end_ns={end} hash={:x} sleeps={} {}",
        hash.finish(),
        voluntary_switches() - switches0,
        memory_report()
    ))
}

fn raw_stream_reader(args: &Args) -> Result<String, String> {
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
    Ok(format!(
        "end_ns={end} received={received} hash={:x} sleeps={}",
        hash.finish(),
        voluntary_switches() - switches0
    ))
}

/// The thread baselines, all in this one child process.
fn threads<M: Msg>(args: &Args) -> Result<String, String> {
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
    Ok(format!("start_ns={start} end_ns={end} received={total} {}", memory_report()))
}

/// What a handler thread of the baselines records: the end time, or a failed check.
#[derive(Default)]
struct Outcome {
    end_ns: AtomicU64,
    failed: AtomicBool,
}

impl Outcome {
    fn result(&self, start: u64) -> Result<(u64, u64), String> {
        // Relaxed: the handler threads have been joined, which orders their stores before us.
        if self.failed.load(Ordering::Relaxed) {
            return Err("a consumer saw a message out of order".into());
        }
        Ok((start, self.end_ns.load(Ordering::Relaxed)))
    }
}

/// A disruptor-crate event handler checking every message and recording when all `total` came.
fn crate_handler<M: Msg>(
    producers: usize,
    total: u64,
    outcome: &Arc<Outcome>,
) -> impl FnMut(&M, i64, bool) + Send + 'static {
    let outcome = Arc::clone(outcome);
    let mut next = vec![0u64; producers];
    let mut seen = 0u64;
    move |m: &M, _sequence: i64, _end_of_batch: bool| {
        let p = if producers == 1 { 0 } else { m.producer() };
        if next.get(p).map_or(true, |&seq| *m != M::make(p as u64, seq)) {
            // Relaxed: read after the thread is joined.
            outcome.failed.store(true, Ordering::Relaxed);
        } else {
            next[p] += 1;
        }
        seen += 1;
        if seen == total {
            // Relaxed: read after the thread is joined.
            outcome.end_ns.fetch_max(now_ns(), Ordering::Relaxed);
        }
    }
}

fn crate_publish<M: Msg, P: disruptor::Producer<M>>(
    producer: &mut P,
    id: u64,
    msgs: u64,
    batch: usize,
) {
    if batch <= 1 {
        for seq in 0..msgs {
            producer.publish(|e| *e = M::make(id, seq));
        }
    } else {
        let mut seq = 0;
        while seq < msgs {
            let n = (msgs - seq).min(batch as u64) as usize;
            producer.batch_publish(n, |events| {
                for e in events {
                    *e = M::make(id, seq);
                    seq += 1;
                }
            });
        }
    }
}

fn crate_run<M: Msg>(
    producers: usize,
    consumers: usize,
    per_producer: u64,
    batch: usize,
) -> Result<(u64, u64), String> {
    use disruptor::BusySpin;
    let total = per_producer * producers as u64;
    let outcome = Arc::new(Outcome::default());
    let factory = || M::make(0, 0);
    let handler = || crate_handler::<M>(producers, total, &outcome);
    let start;
    if producers == 1 && consumers == 1 {
        let mut producer = disruptor::build_single_producer(RING_SLOTS, factory, BusySpin)
            .handle_events_with(handler())
            .build();
        ready_then_go()?;
        start = now_ns();
        crate_publish(&mut producer, 0, per_producer, batch);
        drop(producer); // joins the handler thread once it has processed everything
    } else {
        let builder = disruptor::build_multi_producer(RING_SLOTS, factory, BusySpin);
        start = match consumers {
            1 => crate_multi_publish(
                builder.handle_events_with(handler()).build(),
                per_producer,
                batch,
                producers,
            )?,
            2 => crate_multi_publish(
                builder.handle_events_with(handler()).handle_events_with(handler()).build(),
                per_producer,
                batch,
                producers,
            )?,
            n => return Err(format!("{n} consumers are not set up for the disruptor crate")),
        };
    }
    outcome.result(start)
}

/// Publishes from `producers` threads, each with a clone of `producer`; returns the start time.
fn crate_multi_publish<M: Msg, P: disruptor::Producer<M> + Clone + Send>(
    producer: P,
    per_producer: u64,
    batch: usize,
    producers: usize,
) -> Result<u64, String> {
    ready_then_go()?;
    let start = now_ns();
    std::thread::scope(|s| {
        for id in 0..producers {
            let mut producer = producer.clone();
            s.spawn(move || crate_publish(&mut producer, id as u64, per_producer, batch));
        }
    });
    drop(producer); // the last handle: joins the handler threads once they have seen everything
    Ok(start)
}

fn channel_run<M: Msg>(producers: usize, per_producer: u64) -> Result<(u64, u64), String> {
    use crossbeam_channel::{TryRecvError, TrySendError};
    let total = per_producer * producers as u64;
    let (tx, rx) = crossbeam_channel::bounded::<M>(RING_SLOTS);
    let outcome = Arc::new(Outcome::default());
    let receiver = {
        let outcome = Arc::clone(&outcome);
        std::thread::spawn(move || {
            let mut next = vec![0u64; producers];
            let mut seen = 0;
            while seen < total {
                match rx.try_recv() {
                    Ok(m) => {
                        let p = if producers == 1 { 0 } else { m.producer() };
                        if next.get(p).map_or(true, |&seq| m != M::make(p as u64, seq)) {
                            // Relaxed: read after the thread is joined.
                            outcome.failed.store(true, Ordering::Relaxed);
                        } else {
                            next[p] += 1;
                        }
                        seen += 1;
                    }
                    Err(TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(TryRecvError::Disconnected) => break,
                }
            }
            // Relaxed: read after the thread is joined.
            outcome.end_ns.store(now_ns(), Ordering::Relaxed);
        })
    };
    ready_then_go()?;
    let start = now_ns();
    std::thread::scope(|s| {
        for id in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                for seq in 0..per_producer {
                    let mut m = M::make(id as u64, seq);
                    loop {
                        match tx.try_send(m) {
                            Ok(()) => break,
                            Err(TrySendError::Full(back)) => {
                                m = back;
                                std::hint::spin_loop();
                            }
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                }
            });
        }
    });
    drop(tx);
    receiver.join().map_err(|_| "the receiver thread panicked".to_string())?;
    outcome.result(start)
}

/// One thread claims, commits, consumes and commits `msgs` messages through a ring of ours (or
/// the raw ring): the loop to run under `valgrind --tool=callgrind` for instruction counts.
/// `__child inproc impl=ours|raw kind=u32 msgs=1000000 batch=1`.
fn inproc<M: Msg>(args: &Args) -> Result<String, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let batch: usize = arg(args, "batch")?;
    let imp: String = arg(args, "impl")?;
    let name = unique_name("shmd-inproc");
    let _unlink = Unlink(vec![name.clone()]);
    let start = Instant::now();
    let (mut sent, mut expected) = (0u64, 0u64);
    if imp == "raw" {
        let ring = RawRing::<M>::create(&name, RING_SLOTS as u64).map_err(|e| e.to_string())?;
        let (mut producer, mut consumer) = (ring.producer(), ring.consumer());
        while sent < msgs {
            let slots = producer.claim((msgs - sent).min(batch as u64) as usize);
            fill(slots, 0, &mut sent);
            let n = slots.len();
            producer.publish(n);
            let got = consumer.poll();
            check_in_order(got, &mut expected)?;
            let n = got.len();
            consumer.release(n);
        }
    } else {
        let ring = Disruptor::<M>::builder(&name)
            .capacity(RING_SLOTS)
            .consumers(1)
            .single_producer()
            .create()
            .map_err(|e| e.to_string())?;
        let mut producer = ring.producer().map_err(|e| e.to_string())?;
        let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
        producer.set_wait_strategy(wait_strategy());
        setup_consumer(&mut consumer);
        while sent < msgs {
            if batch <= 1 {
                let mut claim = producer.claim().map_err(|e| e.to_string())?;
                *claim = M::make(0, sent);
                sent += 1;
                claim.commit();
            } else {
                let want = (msgs - sent).min(batch as u64) as usize;
                let mut claim = producer.claim_available(want).map_err(|e| e.to_string())?;
                let (a, b) = claim.slices_mut();
                fill(a, 0, &mut sent);
                fill(b, 0, &mut sent);
                claim.commit();
            }
            let got = consumer.consume().map_err(|e| e.to_string())?;
            let (a, b) = got.slices();
            check_in_order(a, &mut expected)?;
            check_in_order(b, &mut expected)?;
            got.commit();
        }
    }
    let elapsed = start.elapsed();
    Ok(format!("msgs={msgs} ns_per_msg={:.2}", elapsed.as_nanos() as f64 / msgs as f64))
}

// ---------------------------------------------------------------------------------------------
// `fanout-*`: one producer, N consumers

/// Claims per timed chunk of a `fanout-*` producer: one at a time, and of up to `BATCH`.
const FAN_CHUNK_SINGLE: u64 = 256;
const FAN_CHUNK_BATCH: u64 = 16;

/// The cost of one `now_ns()` as seen between two reads: the median of 1,001 back-to-back pairs.
fn clock_cost_ns() -> u64 {
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
fn fan_drive(
    msgs: u64,
    batch: usize,
    mut put: impl FnMut(usize, &mut u64) -> Result<bool, String>,
) -> Result<String, String> {
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
    Ok(format!(
        "start_ns={start} end_ns={end} busy_ns={busy_ns} claims={claims} fulls={fulls} \
         full_tries={full_tries} full_ns={full_ns} clock_ns={clock} chunk_p50={} chunk_p99={} {}",
        quantile(0.5),
        quantile(0.99),
        memory_report()
    ))
}

/// `fanout-*`'s producer: `impl=ours` (a single producer of ours, `try_claim` or
/// `try_claim_available`) or `impl=raw-scan`.
fn fan_producer(args: &Args) -> Result<String, String> {
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
/// its consumer read its last message. Reports those times, `ends=t0,t1,...`.
fn fan_threads<H: Send>(
    handles: Vec<H>,
    run: impl Fn(H) -> Result<u64, String> + Sync,
) -> Result<String, String> {
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
    let list: Vec<String> = ends.iter().map(u64::to_string).collect();
    Ok(format!("ends={} consumers={count}", list.join(",")))
}

/// `fanout-*`'s consumers `from..from + count`, a thread each: each reads and checks every
/// message, in batches, and commits.
fn fan_consumers(args: &Args) -> Result<String, String> {
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
                    let batch = consumer.consume().map_err(|e| e.to_string())?;
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

// ---------------------------------------------------------------------------------------------
// `mpsc-threads-*`: N producer threads for a fixed window, fairness

/// The sequence field of a producer's end mark (`u64::make(producer, WINDOW_END)`), published
/// after its last message of the window.
const WINDOW_END: u64 = (1 << 56) - 1;

/// The consumer's check of `mpsc-threads-*`: each producer's messages in order, then its end
/// mark, nothing after it.
struct WindowCheck {
    /// Per producer, the next message expected (its count so far).
    next: Vec<u64>,
    ended: Vec<bool>,
    open: usize,
}

impl WindowCheck {
    fn new(producers: usize) -> WindowCheck {
        WindowCheck { next: vec![0; producers], ended: vec![false; producers], open: producers }
    }

    #[inline]
    fn take(&mut self, m: u64) -> Result<(), String> {
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

    fn done(&self) -> bool {
        self.open == 0
    }
}

fn list_u64(values: &[u64]) -> String {
    values.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// What `window_run` measured: the window's start and end, and per thread its count and the CPU
/// time it used.
struct Window {
    start: u64,
    end: u64,
    counts: Vec<u64>,
    cpu_ns: Vec<u64>,
}

impl Window {
    fn report(&self) -> String {
        format!(
            "start_ns={} end_ns={} counts={} cpu_ns={} {}",
            self.start,
            self.end,
            list_u64(&self.counts),
            list_u64(&self.cpu_ns),
            memory_report()
        )
    }
}

/// Runs `run(handle, id, stop)` on a thread per handle from the parent's go until `window` has
/// passed (then `stop` is set; `run` publishes its end mark and returns its count).
fn window_run<H: Send>(
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
fn window_producers(args: &Args) -> Result<String, String> {
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
fn window_consumer(args: &Args) -> Result<String, String> {
    let ring = Disruptor::<u64>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    let mut check = WindowCheck::new(arg(args, "producers")?);
    ready_then_go()?;
    while !check.done() {
        let batch = consumer.consume().map_err(|e| e.to_string())?;
        for &m in batch.iter() {
            check.take(m)?;
        }
        batch.commit();
    }
    Ok(format!("end_ns={} counts={}", now_ns(), list_u64(&check.next)))
}

/// `mpsc-threads-*` with the `disruptor` crate: `producers` threads with clones of a
/// multi-producer (`try_publish`, yielding when full), one busy-spinning handler thread that
/// checks as [`WindowCheck`] does.
fn crate_window(producers: usize, window: Duration) -> Result<String, String> {
    use disruptor::{BusySpin, Producer as _};
    #[derive(Default)]
    struct Seen {
        failed: AtomicBool,
        counts: std::sync::Mutex<Vec<u64>>,
    }
    let seen = Arc::new(Seen::default());
    let handler = {
        let seen = Arc::clone(&seen);
        let mut check = WindowCheck::new(producers);
        move |m: &u64, _sequence: i64, _end_of_batch: bool| {
            if check.take(*m).is_err() {
                // Relaxed: read after the handler thread is joined.
                seen.failed.store(true, Ordering::Relaxed);
            } else if check.done() {
                *seen.counts.lock().unwrap_or_else(|e| e.into_inner()) = check.next.clone();
            }
        }
    };
    let producer = disruptor::build_multi_producer(RING_SLOTS, || 0u64, BusySpin)
        .handle_events_with(handler)
        .build();
    let handles: Vec<_> = (0..producers).map(|_| producer.clone()).collect();
    drop(producer);
    // The last handle, dropped by its thread, joins the handler once it has seen everything.
    let measured = window_run(handles, window, |mut producer, id, stop| {
        let mut seq = 0u64;
        // Relaxed: see `window_run`.
        while !stop.load(Ordering::Relaxed) {
            match producer.try_publish(|e| *e = u64::make(id, seq)) {
                Ok(_) => seq += 1,
                Err(_) => std::thread::yield_now(),
            }
        }
        while producer.try_publish(|e| *e = u64::make(id, WINDOW_END)).is_err() {
            std::thread::yield_now();
        }
        Ok(seq)
    })?;
    // Relaxed: the handler thread has been joined.
    if seen.failed.load(Ordering::Relaxed) {
        return Err("the handler saw a message out of order".into());
    }
    let got = seen.counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if got != measured.counts {
        return Err(format!("published {:?}, the handler counted {got:?}", measured.counts));
    }
    Ok(measured.report())
}

// ---------------------------------------------------------------------------------------------
// The parent: runs scenarios, collects, reports

/// A running child, with its pipes.
struct Kid {
    role: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Kid {
    fn spawn(
        cfg: &Config,
        role: &str,
        kind: &str,
        args: &[(&str, String)],
        cpus: Vec<usize>,
    ) -> Result<Kid, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command
            .arg("__child")
            .arg(role)
            .arg(format!("kind={kind}"))
            .args(args.iter().map(|(k, v)| format!("{k}={v}")))
            .env("BENCH_PARENT_PID", std::process::id().to_string())
            .env("BENCH_DEADLINE_S", cfg.timeout.as_secs_f64().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(strategy) = cfg.wait {
            command.env("BENCH_WAIT", wait_env_name(strategy));
        }
        command.env("BENCH_LINGER", if cfg.linger { "1" } else { "0" });
        if cpus.is_empty() {
            command.env_remove("BENCH_CPUS");
        } else {
            let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
            command.env("BENCH_CPUS", list.join(","));
        }
        let mut child = command.spawn().map_err(|e| format!("cannot start {role}: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Kid { role: role.to_owned(), child, stdin, stdout })
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => {
                let status = self.child.wait().map(|s| match s.code() {
                    Some(3) => "exit status 3: it passed the BENCH_TIMEOUT_S deadline".to_owned(),
                    _ => s.to_string(),
                });
                Err(format!(
                    "{} exited early ({})",
                    self.role,
                    status.unwrap_or_else(|e| e.to_string())
                ))
            }
            Ok(_) => Ok(line.trim_end().to_owned()),
            Err(e) => Err(format!("{}: {e}", self.role)),
        }
    }
}

/// Starts the children together (all set up, then all told to go, in the order given: consumers
/// first) and returns each child's `RESULT` fields. The segment names in `unlink` are removed as
/// soon as every child has mapped them, so that nothing is left behind even if we are killed.
fn run_children(mut kids: Vec<Kid>, unlink: Unlink) -> Result<Vec<Args>, String> {
    let outcome = (|| {
        for kid in &mut kids {
            let line = kid.read_line()?;
            if line != "READY" {
                return Err(format!("{}: expected READY, got {line:?}", kid.role));
            }
        }
        drop(unlink);
        for kid in &mut kids {
            writeln!(kid.stdin, "GO").map_err(|e| format!("{}: {e}", kid.role))?;
        }
        let mut results = Vec::new();
        for kid in &mut kids {
            let line = kid.read_line()?;
            let fields = line
                .strip_prefix("RESULT ")
                .ok_or_else(|| format!("{}: expected RESULT, got {line:?}", kid.role))?;
            results.push(
                fields
                    .split_whitespace()
                    .filter_map(|f| f.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            );
        }
        Ok(results)
    })();
    for kid in &mut kids {
        if outcome.is_err() {
            // Only our own children, by their handles.
            let _ = kid.child.kill();
        }
        let _ = kid.child.wait();
    }
    outcome
}

/// One measured run.
#[derive(Clone, Debug, Default)]
struct Sample {
    msgs: u64,
    elapsed_ns: u64,
    probe_ns: f64,
    /// One-way latency percentiles (p50, p99, p999, max), for pingpong and wakeup.
    latency: Option<[f64; 4]>,
    producer_hwm_kb: Option<u64>,
    /// Scenario-specific figures, printed as `key=value` (medians over the runs).
    extra: Vec<(&'static str, f64)>,
}

impl Sample {
    fn msgs_per_s(&self) -> f64 {
        self.msgs as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }
}

fn get<T: FromStr>(fields: &Args, key: &str) -> Result<T, String> {
    arg(fields, key)
}

/// Builds a throughput sample from the children's fields: from the earliest start to the latest end.
fn throughput_sample(results: &[Args], msgs: u64) -> Result<Sample, String> {
    let start =
        results.iter().filter_map(|r| get::<u64>(r, "start_ns").ok()).min().ok_or("no start")?;
    let end = results.iter().filter_map(|r| get::<u64>(r, "end_ns").ok()).max().ok_or("no end")?;
    let hwm = results
        .iter()
        .filter(|r| r.contains_key("start_ns"))
        .filter_map(|r| get(r, "hwm_kb").ok())
        .max();
    Ok(Sample {
        msgs,
        elapsed_ns: end.saturating_sub(start),
        producer_hwm_kb: hwm,
        ..Sample::default()
    })
}

fn latency_sample(results: &[Args]) -> Result<Sample, String> {
    let r = results.iter().find(|r| r.contains_key("p50_ns")).ok_or("no latency result")?;
    let rounds: u64 = get(r, "rounds")?;
    Ok(Sample {
        msgs: 2 * rounds,
        elapsed_ns: get(r, "elapsed_ns")?,
        latency: Some([
            get(r, "p50_ns")?,
            get(r, "p99_ns")?,
            get(r, "p999_ns")?,
            get(r, "max_ns")?,
        ]),
        producer_hwm_kb: results.iter().filter_map(|r| get(r, "hwm_kb").ok()).max(),
        ..Sample::default()
    })
}

/// Prints a `segment` line the first time a scenario creates a ring of ours.
fn report_segment<M: Msg>(scenario: &Scenario, name: &str, slots: usize, printed: &mut bool) {
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

fn run_ours<M: Msg>(
    cfg: &Config,
    sc: &Scenario,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let create =
        |slots: usize, consumers: usize, multi: bool| -> Result<(String, Disruptor<M>), String> {
            let name = unique_name("shmd-bench");
            let builder = Disruptor::<M>::builder(&name).capacity(slots).consumers(consumers);
            let builder = if multi { builder.multi_producer() } else { builder.single_producer() };
            Ok((name, builder.create().map_err(|e| e.to_string())?))
        };
    match sc.shape {
        Shape::Spsc { batch } => {
            let (name, _ring) = create(RING_SLOTS, 1, false)?;
            let unlink = Unlink(vec![name.clone()]);
            report_segment::<M>(sc, &name, RING_SLOTS, printed);
            let ring = ("ring", name);
            let kids = vec![
                Kid::spawn(
                    cfg,
                    "ours-consumer",
                    M::KIND,
                    &[
                        ring.clone(),
                        ("index", "0".into()),
                        ("msgs", msgs.to_string()),
                        ("producers", "1".into()),
                    ],
                    cfg.cpu(1).into_iter().collect(),
                )?,
                Kid::spawn(
                    cfg,
                    "ours-producer",
                    M::KIND,
                    &[
                        ring,
                        ("id", "0".into()),
                        ("msgs", msgs.to_string()),
                        ("batch", batch.to_string()),
                    ],
                    cfg.cpu(0).into_iter().collect(),
                )?,
            ];
            throughput_sample(&run_children(kids, unlink)?, msgs)
        }
        Shape::PingPong => {
            let (ping, _a) = create(PINGPONG_SLOTS, 1, false)?;
            let (pong, _b) = create(PINGPONG_SLOTS, 1, false)?;
            let unlink = Unlink(vec![ping.clone(), pong.clone()]);
            report_segment::<M>(sc, &ping, PINGPONG_SLOTS, printed);
            let rings = [("ping", ping), ("pong", pong), ("msgs", msgs.to_string())];
            let kids = vec![
                Kid::spawn(cfg, "ours-ponger", M::KIND, &rings, cfg.cpu(1).into_iter().collect())?,
                Kid::spawn(cfg, "ours-pinger", M::KIND, &rings, cfg.cpu(0).into_iter().collect())?,
            ];
            latency_sample(&run_children(kids, unlink)?)
        }
        Shape::Multi { producers, consumers } => {
            let (name, _ring) = create(RING_SLOTS, consumers, true)?;
            let unlink = Unlink(vec![name.clone()]);
            report_segment::<M>(sc, &name, RING_SLOTS, printed);
            let per_producer = msgs / producers as u64;
            let total = per_producer * producers as u64;
            let mut kids = Vec::new();
            for index in 0..consumers {
                kids.push(Kid::spawn(
                    cfg,
                    "ours-consumer",
                    M::KIND,
                    &[
                        ("ring", name.clone()),
                        ("index", index.to_string()),
                        ("msgs", total.to_string()),
                        ("producers", producers.to_string()),
                    ],
                    cfg.cpu(producers + index).into_iter().collect(),
                )?);
            }
            for id in 0..producers {
                kids.push(Kid::spawn(
                    cfg,
                    "ours-producer",
                    M::KIND,
                    &[
                        ("ring", name.clone()),
                        ("id", id.to_string()),
                        ("msgs", per_producer.to_string()),
                        ("batch", "1".into()),
                    ],
                    cfg.cpu(id).into_iter().collect(),
                )?);
            }
            throughput_sample(&run_children(kids, unlink)?, total)
        }
        Shape::Wakeup
        | Shape::Stages { .. }
        | Shape::Stream
        | Shape::Fanout { .. }
        | Shape::Window { .. } => Err(format!("{:?} has its own runner", sc.shape)),
    }
}

/// Creates a single-producer ring of ours with `deps.len()` consumers, consumer `i` following
/// the consumers `deps[i]`.
fn create_graph<M: Msg>(
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

/// `pipeline3`, `diamond` and their `single-stage` reference: a producer process and one process
/// per consumer of the graph `deps`; the throughput of the whole graph (the last stage's end).
fn run_stages(
    cfg: &Config,
    sc: &Scenario,
    deps: &[&[usize]],
    batch: usize,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let (name, _ring, unlink) = create_graph::<u64>(RING_SLOTS, deps)?;
    report_segment::<u64>(sc, &name, RING_SLOTS, printed);
    let mut kids = Vec::new();
    for index in 0..deps.len() {
        kids.push(Kid::spawn(
            cfg,
            "ours-consumer",
            u64::KIND,
            &[
                ("ring", name.clone()),
                ("index", index.to_string()),
                ("msgs", msgs.to_string()),
                ("producers", "1".into()),
            ],
            cfg.cpu(1 + index).into_iter().collect(),
        )?);
    }
    kids.push(Kid::spawn(
        cfg,
        "ours-producer",
        u64::KIND,
        &[
            ("ring", name),
            ("id", "0".into()),
            ("msgs", msgs.to_string()),
            ("batch", batch.to_string()),
        ],
        cfg.cpu(0).into_iter().collect(),
    )?);
    throughput_sample(&run_children(kids, unlink)?, msgs)
}

/// `wakeup`: one message at a time into an empty ring; the consumer's latency percentiles.
/// With `raw`: a bare futex word, waited on at once, woken at every message (200 µs pauses).
fn run_wakeup(
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
    let r = results.iter().find(|r| r.contains_key("p50_ns")).ok_or("no latency result")?;
    Ok(Sample {
        msgs: get(r, "rounds")?,
        elapsed_ns: get(r, "elapsed_ns")?,
        latency: Some([
            get(r, "p50_ns")?,
            get(r, "p99_ns")?,
            get(r, "p999_ns")?,
            get(r, "max_ns")?,
        ]),
        producer_hwm_kb: results.iter().filter_map(|r| get(r, "hwm_kb").ok()).max(),
        extra: vec![
            ("pause_us", pause.as_secs_f64() * 1e6),
            ("consumer_cpu_pct", get(r, "consumer_cpu_pct")?),
            ("consumer_sleeps_per_msg", get(r, "consumer_sleeps_per_msg")?),
        ],
        ..Sample::default()
    })
}

/// The throughput of a `stream` transfer, once the reader's hash matches the writer's.
/// `writer_sleeps` and `reader_sleeps`: how often each side slept, per MB.
fn stream_sample(results: &[Args], bytes: u64) -> Result<Sample, String> {
    let hashes: Vec<&str> =
        results.iter().filter_map(|r| r.get("hash").map(String::as_str)).collect();
    if hashes.len() != 2 || hashes[0] != hashes[1] {
        return Err(format!("the stream arrived corrupted: hashes {hashes:?}"));
    }
    let mut sample = throughput_sample(results, bytes)?;
    let sleeps = |r: &Args| get::<f64>(r, "sleeps").map(|n| n * 1e6 / bytes as f64);
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
fn run_stream(
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
fn run_raw_stream(cfg: &Config, bytes: u64) -> Result<Sample, String> {
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

fn run_raw<M: Msg>(cfg: &Config, sc: &Scenario, msgs: u64) -> Result<Sample, String> {
    match sc.shape {
        Shape::Spsc { batch } => {
            let name = unique_name("shmd-raw");
            let _ring =
                RawRing::<M>::create(&name, RING_SLOTS as u64).map_err(|e| e.to_string())?;
            let unlink = Unlink(vec![name.clone()]);
            let args = [
                ("ring", name),
                ("capacity", RING_SLOTS.to_string()),
                ("msgs", msgs.to_string()),
                ("batch", batch.to_string()),
            ];
            let kids = vec![
                Kid::spawn(cfg, "raw-consumer", M::KIND, &args, cfg.cpu(1).into_iter().collect())?,
                Kid::spawn(cfg, "raw-producer", M::KIND, &args, cfg.cpu(0).into_iter().collect())?,
            ];
            throughput_sample(&run_children(kids, unlink)?, msgs)
        }
        Shape::PingPong => {
            let (ping, pong) = (unique_name("shmd-raw"), unique_name("shmd-raw"));
            let _a =
                RawRing::<M>::create(&ping, PINGPONG_SLOTS as u64).map_err(|e| e.to_string())?;
            let _b =
                RawRing::<M>::create(&pong, PINGPONG_SLOTS as u64).map_err(|e| e.to_string())?;
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
        Shape::Multi { .. }
        | Shape::Wakeup
        | Shape::Stages { .. }
        | Shape::Stream
        | Shape::Fanout { .. }
        | Shape::Window { .. } => Err(format!("no raw ring for {:?}", sc.shape)),
    }
}

fn run_threads(cfg: &Config, sc: &Scenario, imp: Impl, msgs: u64) -> Result<Sample, String> {
    let (producers, consumers, batch) = match sc.shape {
        Shape::Spsc { .. } => (1, 1, BATCH),
        Shape::Multi { producers, consumers } => (producers, consumers, BATCH),
        Shape::PingPong
        | Shape::Wakeup
        | Shape::Stages { .. }
        | Shape::Stream
        | Shape::Fanout { .. }
        | Shape::Window { .. } => return Err(format!("no thread baseline for {:?}", sc.shape)),
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

/// A `fanout-*` run's geometry: `consumers` consumers (capped by `Config::max_n`), as threads
/// of one process or as processes, claims of up to `batch`.
#[derive(Clone, Copy, Debug)]
struct Fan {
    consumers: usize,
    threads: bool,
    batch: usize,
}

/// `fanout-*`: a producer process and the consumers (one process of threads, or a process
/// each) over our ring or the `raw-scan` ring; the producer's timings and each consumer's end.
fn run_fanout(
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
    let start: u64 = get(producer, "start_ns")?;
    let end: u64 = get(producer, "end_ns")?;
    let mut ends = Vec::with_capacity(fan.consumers);
    for r in consumers {
        for t in r.get("ends").ok_or("a consumer sent no ends")?.split(',') {
            ends.push(t.parse::<u64>().map_err(|e| format!("ends: {e}"))?);
        }
    }
    if ends.len() != fan.consumers {
        return Err(format!("{} consumer results for {} consumers", ends.len(), fan.consumers));
    }
    let mut rates: Vec<f64> =
        ends.iter().map(|&e| msgs as f64 * 1e9 / e.saturating_sub(start).max(1) as f64).collect();
    let cons_min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let cons_median = median(&mut rates);
    let busy_ns: u64 = get(producer, "busy_ns")?;
    let claims: u64 = get(producer, "claims")?;
    let fulls: u64 = get(producer, "fulls")?;
    let full_tries: u64 = get(producer, "full_tries")?;
    let full_ns: u64 = get(producer, "full_ns")?;
    let last = ends.iter().copied().max().unwrap_or(end).max(end);
    Ok(Sample {
        msgs,
        elapsed_ns: last.saturating_sub(start),
        producer_hwm_kb: get(producer, "hwm_kb").ok(),
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
            ("chunk_p50_ns_per_msg", get(producer, "chunk_p50")?),
            ("chunk_p99_ns_per_msg", get(producer, "chunk_p99")?),
        ],
        ..Sample::default()
    })
}

/// The sample of an `mpsc-threads-*` run: what the producers published in the window, and how
/// evenly: each producer's count over the mean (`share_min`, `share_max`: what the scheduler
/// and the protocol together gave each), and each producer's messages per CPU second over the
/// mean (`cpu_share_min`, `cpu_share_max`: whether a producer that runs wins its claims, which
/// is the protocol's part alone, whatever share of the cores the scheduler gave it).
fn window_sample(r: &Args, producers: usize) -> Result<Sample, String> {
    let start: u64 = get(r, "start_ns")?;
    let end: u64 = get(r, "end_ns")?;
    let counts = parse_list(r, "counts")?;
    if counts.len() != producers {
        return Err(format!("{} counts for {producers} producers", counts.len()));
    }
    let total: u64 = counts.iter().sum();
    let mean = total as f64 / producers as f64;
    let share = |c: u64| if mean > 0.0 { c as f64 / mean } else { 0.0 };
    let cpu = parse_list(r, "cpu_ns")?;
    let rates: Vec<f64> =
        counts.iter().zip(&cpu).map(|(&c, &t)| c as f64 / (t.max(1) as f64)).collect();
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
        producer_hwm_kb: get(r, "hwm_kb").ok(),
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

fn parse_list(r: &Args, key: &str) -> Result<Vec<u64>, String> {
    let list = r.get(key).ok_or_else(|| format!("no {key}="))?;
    list.split(',').map(|v| v.parse().map_err(|_| format!("bad {key}={list}"))).collect()
}

/// `mpsc-threads-*`: `producers` threads for `window`, over our ring (a producer process of
/// threads and a consumer process) or the `disruptor` crate's (threads of one process).
fn run_window(
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
    let kids = vec![
        Kid::spawn(cfg, "window-consumer", "u64", &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "window-producers", "u64", &args, cfg.pin.clone())?,
    ];
    let results = run_children(kids, unlink)?;
    let [consumer, producer] = results.as_slice() else {
        return Err("expected two results".into());
    };
    let (published, got) = (parse_list(producer, "counts")?, parse_list(consumer, "counts")?);
    if published != got {
        return Err(format!("published {published:?}, the consumer counted {got:?}"));
    }
    window_sample(producer, producers)
}

fn run_once(
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
        (Shape::Wakeup, _) => return run_wakeup(cfg, sc, imp, msgs, printed),
        (Shape::Stages { deps, batch }, _) => {
            let deps: &[&[usize]] = if imp == Impl::SingleStage { &[&[]] } else { deps };
            return run_stages(cfg, sc, deps, batch, msgs, printed);
        }
        (Shape::Stream, Impl::Raw) => return run_raw_stream(cfg, msgs),
        (Shape::Stream, _) => return run_stream(cfg, sc, msgs, printed),
        (Shape::Fanout { consumers, threads, batch }, _) => {
            let fan = Fan { consumers: consumers.min(cfg.max_n), threads, batch };
            return run_fanout(cfg, sc, imp, fan, msgs, printed);
        }
        (Shape::Window { producers, window_ms }, _) => {
            let window = Duration::from_secs_f64((window_ms as f64 / 1e3 * cfg.scale).max(0.02));
            return run_window(cfg, sc, imp, producers.min(cfg.max_n), window, printed);
        }
        _ => {}
    }
    match imp {
        Impl::Ours | Impl::OursEager | Impl::OursWait(_) | Impl::SingleStage => match sc.kind {
            "u32" => run_ours::<u32>(cfg, sc, msgs, printed),
            "u64" => run_ours::<u64>(cfg, sc, msgs, printed),
            _ => run_ours::<Msg64>(cfg, sc, msgs, printed),
        },
        Impl::Raw => match sc.kind {
            "u32" => run_raw::<u32>(cfg, sc, msgs),
            "u64" => run_raw::<u64>(cfg, sc, msgs),
            _ => run_raw::<Msg64>(cfg, sc, msgs),
        },
        Impl::DisruptorCrate | Impl::DisruptorCrateBatch | Impl::Channel => {
            run_threads(cfg, sc, imp, msgs)
        }
        Impl::RawScan | Impl::RawScanCached => Err(format!("no raw-scan ring for {:?}", sc.shape)),
    }
}

/// The medians of one implementation in one scenario.
#[derive(Clone, Debug)]
struct Summary {
    scenario: &'static str,
    shape: Shape,
    imp: Impl,
    msg_bytes: usize,
    msgs: u64,
    runs: usize,
    failures: Vec<String>,
    msgs_per_s: f64,
    probe_ns: f64,
    latency: Option<[f64; 4]>,
    producer_hwm_kb: Option<u64>,
    /// The wait strategy of our handles (`None` for the other impls).
    wait: Option<WaitStrategy>,
    extra: Vec<(&'static str, f64)>,
    ratios: Vec<(&'static str, f64)>,
    latency_ratios: Vec<(&'static str, f64, f64)>,
}

fn summarize(sc: &Scenario, imp: Impl, samples: &[Sample], failures: Vec<String>) -> Summary {
    let col = |f: &dyn Fn(&Sample) -> f64| median(&mut samples.iter().map(f).collect::<Vec<_>>());
    let latency = samples.first().and_then(|s| s.latency).map(|_| {
        let q = |i: usize| col(&|s: &Sample| s.latency.map_or(f64::NAN, |l| l[i]));
        [q(0), q(1), q(2), q(3)]
    });
    let mut hwm: Vec<u64> = samples.iter().filter_map(|s| s.producer_hwm_kb).collect();
    hwm.sort_unstable();
    let extra = samples.first().map_or(Vec::new(), |first| {
        first
            .extra
            .iter()
            .map(|&(key, _)| {
                let value = |s: &Sample| {
                    s.extra.iter().find(|(k, _)| *k == key).map_or(f64::NAN, |&(_, v)| v)
                };
                (key, col(&value))
            })
            .collect()
    });
    Summary {
        scenario: sc.name,
        shape: sc.shape,
        imp,
        msg_bytes: sc.msg_bytes,
        msgs: samples.first().map_or(0, |s| s.msgs),
        runs: samples.len(),
        failures,
        msgs_per_s: col(&|s: &Sample| s.msgs_per_s()),
        probe_ns: col(&|s: &Sample| s.probe_ns),
        latency,
        producer_hwm_kb: hwm.get(hwm.len() / 2).copied(),
        wait: effective_wait(sc, imp),
        extra,
        ratios: Vec::new(),
        latency_ratios: Vec::new(),
    }
}

/// Fills in the ratios: with `references`, every impl against each (itself included); otherwise
/// `ours` against every baseline, and every other impl against `raw`.
/// `throughput: false` leaves out the throughput ratios (where the rate is set by pauses).
fn add_ratios(summaries: &mut [Summary], references: &[Impl], throughput: bool) {
    let snapshot = summaries.to_vec();
    for s in summaries.iter_mut().filter(|s| s.runs > 0) {
        for b in snapshot.iter().filter(|b| b.runs > 0) {
            let wanted = if references.is_empty() {
                b.imp != s.imp && (s.imp == Impl::Ours || b.imp == Impl::Raw)
            } else {
                references.contains(&b.imp)
            };
            if wanted {
                if throughput {
                    s.ratios.push((b.imp.name(), s.msgs_per_s / b.msgs_per_s));
                }
                if let (Some(l), Some(bl)) = (s.latency, b.latency) {
                    s.latency_ratios.push((b.imp.name(), l[0] / bl[0], l[1] / bl[1]));
                }
            }
        }
    }
}

impl Summary {
    /// The median of a scenario-specific figure, if this impl reported it.
    fn extra(&self, key: &str) -> Option<f64> {
        self.extra.iter().find(|(k, _)| *k == key).map(|&(_, v)| v).filter(|v| !v.is_nan())
    }
}

/// `fanout-*`: every impl's producer cost per message over each baseline's, as
/// `prod_ns_vs_raw-scan` and `prod_ns_vs_raw-scan-cached` (below 1: cheaper).
fn add_fanout_ratios(summaries: &mut [Summary]) {
    for (baseline, key) in [
        (Impl::RawScan, "prod_ns_vs_raw-scan"),
        (Impl::RawScanCached, "prod_ns_vs_raw-scan-cached"),
    ] {
        let Some(base) = summaries
            .iter()
            .find(|s| s.imp == baseline && s.runs > 0)
            .and_then(|s| s.extra("prod_ns_per_msg"))
        else {
            continue;
        };
        for s in summaries.iter_mut().filter(|s| s.runs > 0) {
            if let Some(ns) = s.extra("prod_ns_per_msg") {
                s.extra.push((key, ns / base));
            }
        }
    }
}

fn result_line(s: &Summary) -> String {
    let mut line = format!(
        "scenario={} impl={} msg_bytes={} msgs={}",
        s.scenario,
        s.imp.name(),
        s.msg_bytes,
        s.msgs
    );
    if s.runs == 0 {
        let _ = write!(line, " failed=\"{}\"", s.failures.join("; ").replace('"', "'"));
        return line;
    }
    let _ = write!(
        line,
        " msgs_per_s={:.0} ns_per_msg={:.3} probe_ns={:.1}",
        s.msgs_per_s,
        1e9 / s.msgs_per_s,
        s.probe_ns
    );
    if let Some([p50, p99, p999, max]) = s.latency {
        let _ = write!(line, " p50_ns={p50:.0} p99_ns={p99:.0} p999_ns={p999:.0} max_ns={max:.0}");
    }
    if let Some(strategy) = s.wait {
        let _ = write!(line, " wait={}", wait_env_name(strategy));
    }
    for (key, value) in &s.extra {
        let precision = if value.fract() == 0.0 { 0 } else { 3 };
        let _ = write!(line, " {key}={value:.precision$}");
    }
    for (b, r) in &s.ratios {
        let _ = write!(line, " ratio_vs_{b}={r:.3}");
    }
    for (b, p50, p99) in &s.latency_ratios {
        let _ = write!(line, " p50_vs_{b}={p50:.3} p99_vs_{b}={p99:.3}");
    }
    if let Some(kb) = s.producer_hwm_kb {
        let _ = write!(line, " producer_hwm_kb={kb}");
    }
    let _ = write!(line, " runs={}", s.runs);
    if !s.failures.is_empty() {
        let _ = write!(line, " failed_runs={}", s.failures.len());
    }
    line
}

fn run_scenario(cfg: &Config, sc: &Scenario) -> Vec<Summary> {
    let impls: Vec<Impl> = sc.impls.iter().copied().filter(|&i| cfg.wants(i)).collect();
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
    for s in &summaries {
        println!("{}", result_line(s));
    }
    summaries
}

fn print_table(summaries: &[Summary]) {
    println!();
    println!(
        "| scenario | impl | msg bytes | Mmsg/s | ns/msg | one-way p50 / p99 ns | probe ns | ratios (throughput; latency p50/p99) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for s in summaries {
        if s.runs == 0 {
            println!(
                "| {} | {} | {} | failed | | | | {} |",
                s.scenario,
                s.imp.name(),
                s.msg_bytes,
                s.failures.join("; ")
            );
            continue;
        }
        let latency = s.latency.map_or(String::new(), |l| format!("{:.0} / {:.0}", l[0], l[1]));
        let mut ratios: Vec<String> =
            s.ratios.iter().map(|(b, r)| format!("{r:.2}x {b}")).collect();
        ratios.extend(
            s.latency_ratios
                .iter()
                .map(|(b, p50, p99)| format!("p50 {p50:.2}x / p99 {p99:.2}x {b}")),
        );
        println!(
            "| {} | {} | {} | {:.1} | {:.2} | {} | {:.0} | {} |",
            s.scenario,
            s.imp.name(),
            s.msg_bytes,
            s.msgs_per_s / 1e6,
            1e9 / s.msgs_per_s,
            latency,
            s.probe_ns,
            ratios.join(", ")
        );
    }
}

/// The `fanout-*` figures: the producer's cost and the consumers' rates, then one `growth` line
/// per family (placement, single or batch claims) and impl: the producer's cost per message at
/// the largest N of this run over the smallest.
fn print_fanout(summaries: &[Summary]) {
    let fan: Vec<&Summary> = summaries
        .iter()
        .filter(|s| matches!(s.shape, Shape::Fanout { .. }) && s.runs > 0)
        .collect();
    if fan.is_empty() {
        return;
    }
    let x = |s: &Summary, key: &str| s.extra(key).unwrap_or(f64::NAN);
    println!();
    println!(
        "| scenario | impl | N | claim | producer ns/msg | vs raw-scan / raw-scan-cached | producer Mmsg/s (claiming / wall) | consumer Mmsg/s (min / median) | fulls per kmsg | full try ns | probe ns |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for s in &fan {
        let Shape::Fanout { batch, .. } = s.shape else { continue };
        println!(
            "| {} | {} | {:.0} | {} | {:.2} | {:.2}x / {:.2}x | {:.1} / {:.1} | {:.2} / {:.2} | {:.3} | {:.0} | {:.0} |",
            s.scenario,
            s.imp.name(),
            x(s, "consumers"),
            if batch > 1 { format!("up to {batch}") } else { "single".into() },
            x(s, "prod_ns_per_msg"),
            x(s, "prod_ns_vs_raw-scan"),
            x(s, "prod_ns_vs_raw-scan-cached"),
            x(s, "prod_msgs_per_s") / 1e6,
            x(s, "prod_wall_msgs_per_s") / 1e6,
            x(s, "cons_min_msgs_per_s") / 1e6,
            x(s, "cons_median_msgs_per_s") / 1e6,
            x(s, "fulls_per_kmsg"),
            x(s, "full_try_ns"),
            s.probe_ns
        );
    }
    println!();
    for threads in [true, false] {
        for batched in [true, false] {
            for imp in FANOUT_IMPLS {
                let mut points: Vec<(f64, f64)> = fan
                    .iter()
                    .filter(|s| s.imp == *imp)
                    .filter(|s| {
                        matches!(s.shape, Shape::Fanout { threads: t, batch, .. }
                            if t == threads && (batch > 1) == batched)
                    })
                    .map(|s| (x(s, "consumers"), x(s, "prod_ns_per_msg")))
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (Some(&(n_lo, lo)), Some(&(n_hi, hi))) = (points.first(), points.last()) else {
                    continue;
                };
                if n_hi > n_lo {
                    println!(
                        "growth family=fanout-{}{} impl={} n={n_lo:.0}->{n_hi:.0} prod_ns_per_msg={lo:.3}->{hi:.3} ratio={:.3}",
                        if batched { "" } else { "single-" },
                        if threads { "threads" } else { "procs" },
                        imp.name(),
                        hi / lo
                    );
                }
            }
        }
    }
}

/// The `mpsc-threads-*` figures: throughput in the window and each producer's share.
fn print_window(summaries: &[Summary]) {
    let rows: Vec<&Summary> = summaries
        .iter()
        .filter(|s| matches!(s.shape, Shape::Window { .. }) && s.runs > 0)
        .collect();
    if rows.is_empty() {
        return;
    }
    let x = |s: &Summary, key: &str| s.extra(key).unwrap_or(f64::NAN);
    println!();
    println!(
        "| scenario | impl | producers | Mmsg/s | share min / max (of the mean) | per CPU second, min / max | vs disruptor-crate | probe ns |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for s in rows {
        let vs = s
            .ratios
            .iter()
            .find(|(b, _)| *b == Impl::DisruptorCrate.name())
            .map_or(String::new(), |(_, r)| format!("{r:.2}x"));
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {vs} | {:.0} |",
            s.scenario,
            s.imp.name(),
            x(s, "producers"),
            s.msgs_per_s / 1e6,
            x(s, "share_min"),
            x(s, "share_max"),
            x(s, "cpu_share_min"),
            x(s, "cpu_share_max"),
            s.probe_ns
        );
    }
}

fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("cpus={cpus} model=\"{model}\"")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__child") {
        let role = args.get(2).cloned().unwrap_or_default();
        child_main(&role, &args[3.min(args.len())..]);
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) make a smoke run.
    let smoke = !args.iter().any(|a| a == "--bench");
    let filters: Vec<&str> =
        args[1..].iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    let cfg = Config::from_env(smoke);
    // A filter that names a scenario exactly selects just it (`seed` is not `wait-seed`); any
    // other filter selects every scenario whose name contains it.
    let selects = |f: &str, name: &str| {
        if SCENARIOS.iter().any(|s| s.name == f) {
            name == f
        } else {
            name.contains(f)
        }
    };
    let scenarios: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| selects(f, s.name)))
        .collect();
    if scenarios.is_empty() {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        eprintln!("ipc: no scenario matches {filters:?}; scenarios: {}", names.join(", "));
        std::process::exit(2);
    }
    println!(
        "# ipc bench: {} scale={} runs={} timeout_s={} pin={:?} ours_wait={:?}{}",
        machine_description(),
        cfg.scale,
        cfg.runs,
        cfg.timeout.as_secs_f64(),
        cfg.pin,
        wait_strategy(),
        if smoke { " (smoke run: no --bench argument; N capped at 4)" } else { "" }
    );
    let mut summaries = Vec::new();
    for sc in scenarios {
        summaries.extend(run_scenario(&cfg, sc));
    }
    print_table(&summaries);
    print_fanout(&summaries);
    print_window(&summaries);
    if summaries.iter().any(|s| s.runs == 0) {
        std::process::exit(1);
    }
}
