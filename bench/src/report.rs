//! Results: a run's [`Sample`] built from its children's reports, the medians over the runs
//! ([`Summary`]) with their ratios, the machine-readable lines and the human-readable tables
//! printed from them, and [`Record`], their JSON form (`ipc.jsonl`, what the plots are drawn from).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use shm_disruptor::WaitStrategy;

use crate::harness::config::wait_env_name;
use crate::harness::sys::median;
use crate::scenarios::{effective_wait, Impl, Scenario, Shape, FANOUT_IMPLS};
use crate::wire::{need, Report};

/// One measured run.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub msgs: u64,
    pub elapsed_ns: u64,
    pub probe_ns: f64,
    /// One-way latency percentiles (p50, p99, p999, max), for pingpong and wakeup.
    pub latency: Option<[f64; 4]>,
    /// The latency distribution, `[quantile, ns]` (see [`crate::wire::QUANTILES`]).
    pub percentiles: Vec<[f64; 2]>,
    pub producer_hwm_kb: Option<u64>,
    /// Scenario-specific figures, printed as `key=value` (medians over the runs).
    pub extra: Vec<(&'static str, f64)>,
}

impl Sample {
    pub fn msgs_per_s(&self) -> f64 {
        self.msgs as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }
}

/// Builds a throughput sample from the children's results: from the earliest start to the latest
/// end; the producers' (those that report a start) peak RSS.
pub fn throughput_sample(results: &[Report], msgs: u64) -> Result<Sample, String> {
    let start = results.iter().filter_map(|r| r.start_ns).min().ok_or("no start")?;
    let end = results.iter().filter_map(|r| r.end_ns).max().ok_or("no end")?;
    let hwm = results.iter().filter(|r| r.start_ns.is_some()).filter_map(|r| r.hwm_kb).max();
    Ok(Sample {
        msgs,
        elapsed_ns: end.saturating_sub(start),
        producer_hwm_kb: hwm,
        ..Sample::default()
    })
}

/// p50, p99, p99.9 and max of a latency result.
pub fn latency_of(r: &Report) -> Result<[f64; 4], String> {
    Ok([
        need(r.p50_ns, "p50_ns")?,
        need(r.p99_ns, "p99_ns")?,
        need(r.p999_ns, "p999_ns")?,
        need(r.max_ns, "max_ns")?,
    ])
}

/// A ping-pong sample: the pinger's round trips (two messages each) and one-way percentiles.
pub fn latency_sample(results: &[Report]) -> Result<Sample, String> {
    let r = results.iter().find(|r| r.p50_ns.is_some()).ok_or("no latency result")?;
    let rounds = need(r.rounds, "rounds")?;
    Ok(Sample {
        msgs: 2 * rounds,
        elapsed_ns: need(r.elapsed_ns, "elapsed_ns")?,
        latency: Some(latency_of(r)?),
        percentiles: r.percentiles.clone(),
        producer_hwm_kb: results.iter().filter_map(|r| r.hwm_kb).max(),
        ..Sample::default()
    })
}

/// The medians of one implementation in one scenario.
#[derive(Clone, Debug)]
pub struct Summary {
    pub scenario: &'static str,
    pub shape: Shape,
    pub imp: Impl,
    pub msg_bytes: usize,
    pub msgs: u64,
    pub runs: usize,
    pub failures: Vec<String>,
    pub msgs_per_s: f64,
    pub probe_ns: f64,
    pub latency: Option<[f64; 4]>,
    /// The latency distribution, `[quantile, ns]`: per quantile, the median over the runs.
    pub percentiles: Vec<[f64; 2]>,
    pub producer_hwm_kb: Option<u64>,
    /// The wait strategy of our handles (`None` for the other impls).
    pub wait: Option<WaitStrategy>,
    pub extra: Vec<(&'static str, f64)>,
    pub ratios: Vec<(&'static str, f64)>,
    pub latency_ratios: Vec<(&'static str, f64, f64)>,
}

pub fn summarize(sc: &Scenario, imp: Impl, samples: &[Sample], failures: Vec<String>) -> Summary {
    let col = |f: &dyn Fn(&Sample) -> f64| median(&mut samples.iter().map(f).collect::<Vec<_>>());
    let latency = samples.first().and_then(|s| s.latency).map(|_| {
        let q = |i: usize| col(&|s: &Sample| s.latency.map_or(f64::NAN, |l| l[i]));
        [q(0), q(1), q(2), q(3)]
    });
    let percentiles = samples.first().map_or(Vec::new(), |first| {
        (0..first.percentiles.len())
            .map(|i| {
                let ns = col(&|s: &Sample| s.percentiles.get(i).map_or(f64::NAN, |p| p[1]));
                [first.percentiles[i][0], ns]
            })
            .collect()
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
        percentiles,
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
pub fn add_ratios(summaries: &mut [Summary], references: &[Impl], throughput: bool) {
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
    pub fn extra(&self, key: &str) -> Option<f64> {
        self.extra.iter().find(|(k, _)| *k == key).map(|&(_, v)| v).filter(|v| !v.is_nan())
    }
}

/// `fanout-*`: every impl's producer cost per message over each baseline's, as
/// `prod_ns_vs_raw-scan` and `prod_ns_vs_raw-scan-cached` (below 1: cheaper).
pub fn add_fanout_ratios(summaries: &mut [Summary]) {
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

pub fn result_line(s: &Summary) -> String {
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

pub fn print_table(summaries: &[Summary]) {
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
pub fn print_fanout(summaries: &[Summary]) {
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
pub fn print_window(summaries: &[Summary]) {
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

/// Where a run comes from: the first line of `ipc.jsonl`, and the plots' captions.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// `cpus=N model="..."`.
    pub machine: String,
    /// `git rev-parse --short HEAD` (`-dirty` with uncommitted changes), or `unknown`.
    pub commit: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub scale: f64,
    pub runs: usize,
    pub pin: Vec<usize>,
    pub smoke: bool,
}

/// The JSON form of a [`Summary`]: one line of `ipc.jsonl` after the [`RunInfo`] line.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    pub scenario: String,
    #[serde(rename = "impl")]
    pub imp: String,
    pub msg_bytes: usize,
    pub msgs: u64,
    pub runs: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    pub msgs_per_s: f64,
    pub probe_ns: f64,
    /// `[p50, p99, p99.9, max]`, one-way ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<[f64; 4]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, f64)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ratios: Vec<(String, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer_hwm_kb: Option<u64>,
}

impl Record {
    pub fn from_summary(s: &Summary) -> Record {
        // JSON has no NaN: a figure that could not be computed is left out.
        let finite = |v: &[(&'static str, f64)]| {
            v.iter().filter(|(_, x)| x.is_finite()).map(|&(k, x)| (k.to_owned(), x)).collect()
        };
        Record {
            scenario: s.scenario.to_owned(),
            imp: s.imp.name().to_owned(),
            msg_bytes: s.msg_bytes,
            msgs: s.msgs,
            runs: s.runs,
            failures: s.failures.clone(),
            msgs_per_s: if s.msgs_per_s.is_finite() { s.msgs_per_s } else { 0.0 },
            probe_ns: if s.probe_ns.is_finite() { s.probe_ns } else { 0.0 },
            latency: s.latency.filter(|l| l.iter().all(|x| x.is_finite())),
            percentiles: s.percentiles.iter().copied().filter(|p| p[1].is_finite()).collect(),
            wait: s.wait.map(|w| wait_env_name(w).to_owned()),
            extra: finite(&s.extra),
            ratios: finite(&s.ratios),
            producer_hwm_kb: s.producer_hwm_kb,
        }
    }

    /// A scenario-specific figure.
    pub fn extra(&self, key: &str) -> Option<f64> {
        self.extra.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
    }
}

/// Writes `ipc.jsonl` into `dir`: the run's [`RunInfo`], then a [`Record`] per summary.
pub fn write_jsonl(
    dir: &std::path::Path,
    info: &RunInfo,
    records: &[Record],
) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("ipc.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(out, "{}", serde_json::to_string(info).map_err(std::io::Error::other)?)?;
    for record in records {
        writeln!(out, "{}", serde_json::to_string(record).map_err(std::io::Error::other)?)?;
    }
    out.flush()?;
    Ok(path)
}

/// Reads an `ipc.jsonl` back (for `__plot`).
pub fn read_jsonl(path: &std::path::Path) -> Result<(RunInfo, Vec<Record>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let info = serde_json::from_str(lines.next().ok_or("an empty file")?)
        .map_err(|e| format!("{}: the first line: {e}", path.display()))?;
    let records = lines
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{}: {e}", path.display())))
        .collect::<Result<_, _>>()?;
    Ok((info, records))
}
