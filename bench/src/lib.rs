//! Multi-process benchmarks of `shm-disruptor`: throughput and latency of the ring between real
//! processes, with its baselines measured in the same run, interleaved.
//!
//! ```sh
//! cargo bench --bench ipc                    # every scenario
//! cargo bench --bench ipc -- seed pingpong   # the named scenarios (a name matches by substring,
//!                                            # unless it is a scenario's exact name: `seed` is
//!                                            # not `wait-seed`)
//! BENCH_SCALE=0.05 BENCH_RUNS=1 cargo bench --bench ipc   # a quick look
//! cargo bench -p shm-disruptor-bench --features iceoryx2 --bench ipc   # with iceoryx2
//! cargo run -p shm-disruptor-bench -- __plot target/bench/ipc.jsonl   # redraw the plots
//! ```
//!
//! Layout of this crate (`bench/`, not published): `harness/` (the configuration from `BENCH_*`,
//! the children and their spawning, pinning, the cross-core probe), `wire` (the JSON lines the
//! children report), `report` (samples, medians, ratios, the printed lines and tables,
//! `ipc.jsonl`), `plot` (the SVG plots), `baselines/` (one file per baseline) and `scenarios/`
//! (one file per scenario family). The bench target `ipc` and the binary
//! `shm-disruptor-bench` both run [`main`]; the test `smoke` runs the binary's smoke run.
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
//! - `bridge`: across hosts, on one: 32-byte messages (`[u64; 4]`) from a ring of ours in one
//!   process to a ring of ours in another, through `shm-disruptor-bridge` (`export` on the
//!   source ring's consumer 0, `import` into the destination ring; one Zenoh peer session each,
//!   over loopback TCP with an explicit endpoint on a free port, no scouting), next to Zenoh's
//!   own publisher and subscriber with the same session configuration and the same batching;
//!   four impls, run interleaved:
//!   - `bridge`: 10,000,000 messages; the source process's producer publishes them (claims of
//!     up to 256) while its exporter sends them in batches of up to 1,024 (the exporter's
//!     default, `batch=`); the destination process's importer copies them into its ring, whose
//!     consumer checks each in order. From the producer's start to the consumer's last
//!     message. `ratio_vs_zenoh=` compares with `zenoh`.
//!   - `zenoh`: the same count, 1,024 messages per put (`CongestionControl::Block`, as the
//!     exporter's publisher), a subscriber process (`recv`) that checks each in order.
//!   - `bridge-latency`: the bridge's added latency, 20,000 messages (the count / 500), one in
//!     flight: stamped (`CLOCK_MONOTONIC`) just before the commit into the source ring, and
//!     `now - stamp` recorded by the destination's consumer as soon as it reads the message
//!     (one-way, measured, not halved); the producer sends the next once the consumer has
//!     committed it. `p50_vs_zenoh-ping=`, `p99_vs_zenoh-ping=` compare with `zenoh-ping`.
//!   - `zenoh-ping`: Zenoh's own ping, as its `z_ping`/`z_pong` examples: one 32-byte put, echoed
//!     from the ponger's subscriber callback, one in flight; one-way = round trip / 2.
//!
//!   Before a bridge run is timed, 1,024 warm-up messages cross it (the sessions are up); a
//!   Zenoh side is ready once its publisher matches the other side's subscriber. Our consumers
//!   wait with `Yield` (two processes with their Zenoh and tokio threads on two cores; an
//!   explicit `BENCH_WAIT` overrides it).
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
//! - `iceoryx2` (only with the `iceoryx2` feature, off by default: it is a large dependency):
//!   [iceoryx2](https://crates.io/crates/iceoryx2)'s publish-subscribe between two processes
//!   (`ipc::Service`), what a Rust user would pick instead for processes. In `seed` a sample of one
//!   `u32` per message (`loan_uninit`, `write_payload`, `send`); in `spsc-batch` and `spsc-64B` a
//!   slice sample of up to 256 messages (`loan_slice_uninit`), like our claims of up to 256. The
//!   service holds 65,536 messages per subscriber, as our ring (65,536 samples of one, or 256
//!   slices of 256), without safe overflow, and the publisher retries until delivered: nothing
//!   is lost; the subscriber polls `receive` and checks every message. In `pingpong` two
//!   services, one sample in flight, both sides polling. A sender keeps its ports after it has
//!   reported until the parent releases it (closes its stdin), once the receiver has everything.
//! - `bridge`, `bridge-latency`, `zenoh`, `zenoh-ping`: see the `bridge` scenario.
//! - `node-seed` (in `seed`, only where `BENCH_NODE_SEED` names the installed package): the
//!   Node.js package `shared-memory-disruptor` this project started from, running its own
//!   benchmark (`bench/producer.js`, `bench/consumer.js`: one synchronous claim and commit per
//!   `u32`, a consumer that checks each) between two `node` processes, measured as the seed
//!   does (messages over the consumer's elapsed time). Install it with
//!   `npm install shared-memory-disruptor` (node-gyp builds its addon), then set
//!   `BENCH_NODE_SEED=$PWD/node_modules/shared-memory-disruptor`.
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
//! Files (in `target/bench/`, or `BENCH_OUT`; the smoke run writes to `target/bench/smoke/`):
//! `ipc.jsonl` (the run's machine, commit, date and settings, then one JSON object per result
//! line), `throughput.svg` (every throughput scenario, ours against each baseline, on a log
//! scale; `fanout-*` plots the producer's rate while it has room, `prod_msgs_per_s`) and
//! `pingpong.svg` (the one-way latency distribution of `pingpong`, p50 to p99.99 and beyond on a
//! log-percentile axis, ours against `raw` and iceoryx2), both captioned with the machine, the
//! probe, the commit and the date.
//!
//! Environment: `BENCH_SCALE` (default 1), `BENCH_RUNS` (default 5), `BENCH_TIMEOUT_S` (per run,
//! default 120), `BENCH_PIN=a,b,...` (pin the processes, and the probe's threads, to these CPUs in
//! turn; nothing is pinned by default), `BENCH_PRODUCER_CPUS=a,...` (`mpsc-threads-*`: pin our
//! producer process to these CPUs instead; with `BENCH_PIN=x,y` the consumer process is on
//! `y`; the crate's run, one process, is not affected), `BENCH_IMPLS=ours,raw,...` (run only these),
//! `BENCH_WAIT=busy-spin|yield|backoff|block` (the wait strategy of `ours` and `single-stage`;
//! default busy-spin, but yield in `pipeline3`, `diamond` and `fanout-*`), `BENCH_OUT` (where the
//! files go), `BENCH_ICEORYX2_BUFFER` (messages iceoryx2's service holds per subscriber; default
//! 65,536, as our ring), `BENCH_NODE_SEED` (the Node.js seed's package directory).
//!
//! Processes: the binary re-executes itself (`__child <role> key=value...`) for each producer and
//! consumer; a child prints JSON lines (`wire::ChildLine`): ready, then its result (or its
//! error), and waits for the parent's `GO` in between. A child dies with its parent
//! (`PR_SET_PDEATHSIG`) and exits on its own after the per-run timeout, so no orphan is left
//! spinning. Run without `--bench` (as `cargo test --benches` does, and the `smoke` test of
//! `cargo test -p shm-disruptor-bench`), it makes a tiny smoke run of every scenario, with N (the
//! consumers of `fanout-*`, the producers of `mpsc-threads-*`) capped at 4.

mod baselines;
mod harness;
mod msg;
mod plot;
mod report;
mod scenarios;
mod wire;

use harness::child::child_main;
use harness::config::{out_dir, wait_strategy, Config};
use harness::sys::{git_commit, machine_description, today};
use report::{print_fanout, print_table, print_window, write_jsonl, Record, RunInfo};
use scenarios::{run_scenario, Scenario, SCENARIOS};

/// The bench: `__child <role> ...` runs a child; `__plot <ipc.jsonl>` redraws the plots of a
/// saved run; otherwise the scenarios named by the arguments (all without one), a full run with
/// `--bench`, a smoke run without.
pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__child") => {
            let role = args.get(2).cloned().unwrap_or_default();
            child_main(&role, &args[3.min(args.len())..]);
        }
        Some("__plot") => std::process::exit(replot(args.get(2).map(String::as_str))),
        _ => {}
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
    let info = RunInfo {
        machine: machine_description(),
        commit: git_commit(),
        date: today(),
        scale: cfg.scale,
        runs: cfg.runs,
        pin: cfg.pin.clone(),
        smoke,
    };
    let records: Vec<Record> = summaries.iter().map(Record::from_summary).collect();
    if let Err(e) = write_files(&out_dir(smoke), &info, &records) {
        eprintln!("ipc: {e}");
        std::process::exit(1);
    }
    if summaries.iter().any(|s| s.runs == 0) {
        std::process::exit(1);
    }
}

/// Writes `ipc.jsonl` and the plots into `dir`, and says where.
fn write_files(dir: &std::path::Path, info: &RunInfo, records: &[Record]) -> Result<(), String> {
    let jsonl = write_jsonl(dir, info, records).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!();
    println!("# results: {}", jsonl.display());
    for path in plot::plot_all(dir, info, records)? {
        println!("# plot: {}", path.display());
    }
    Ok(())
}

/// `__plot <ipc.jsonl>`: draws the plots of a saved run next to the file.
fn replot(path: Option<&str>) -> i32 {
    let Some(path) = path.map(std::path::Path::new) else {
        eprintln!("usage: __plot <path to ipc.jsonl>");
        return 2;
    };
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    match report::read_jsonl(path).and_then(|(info, records)| plot::plot_all(dir, &info, &records))
    {
        Ok(paths) => {
            for p in paths {
                println!("# plot: {}", p.display());
            }
            0
        }
        Err(e) => {
            eprintln!("ipc: {e}");
            1
        }
    }
}
