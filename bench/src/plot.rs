//! The plots of a run (SVG, `plotters`): `throughput.svg`, every throughput scenario with ours
//! against each baseline on a log scale, and `pingpong.svg`, the one-way latency distribution of
//! `pingpong` (HDR percentiles on a log-percentile axis). Both are captioned with the machine, the
//! probe (the placement of the vCPUs), the commit and the date.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::report::{Record, RunInfo};

/// Draws both plots into `dir`; returns the files written (a plot without data is skipped).
pub fn plot_all(dir: &Path, info: &RunInfo, records: &[Record]) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    let path = dir.join("throughput.svg");
    if throughput(&path, info, records)? {
        written.push(path);
    }
    let path = dir.join("pingpong.svg");
    if pingpong(&path, info, records)? {
        written.push(path);
    }
    Ok(written)
}

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("plot: {e}")
}

/// How an implementation is drawn: its colour, and whether it is one of ours (filled, larger).
fn look(imp: &str) -> (RGBColor, bool) {
    let ours = imp.starts_with("ours") || imp == "single-stage";
    let color = match imp {
        "ours" => RGBColor(214, 39, 40),
        "ours-eager" => RGBColor(255, 127, 14),
        "ours-busyspin" => RGBColor(214, 39, 40),
        "ours-yield" => RGBColor(255, 127, 14),
        "ours-backoff" => RGBColor(188, 189, 34),
        "ours-block" => RGBColor(140, 86, 75),
        "single-stage" => RGBColor(227, 119, 194),
        "raw" => RGBColor(40, 40, 40),
        "disruptor-crate" => RGBColor(31, 119, 180),
        "disruptor-crate-batch" => RGBColor(23, 190, 207),
        "channel" => RGBColor(44, 160, 44),
        "raw-scan" => RGBColor(148, 103, 189),
        "raw-scan-cached" => RGBColor(127, 127, 127),
        "iceoryx2" => RGBColor(0, 150, 136),
        _ => RGBColor(100, 100, 100),
    };
    (color, ours)
}

/// Draws `imp`'s marker at `point`: ours filled circles, the baselines hollow circles, iceoryx2
/// a hollow square (the other library a user would pick).
fn marker<DB: DrawingBackend, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    imp: &str,
    point: (X::ValueType, Y::ValueType),
) -> Result<(), String> {
    let (color, ours) = look(imp);
    if ours {
        chart.draw_series([Circle::new(point, 6, color.filled())]).map_err(err)?;
    } else if imp == "iceoryx2" {
        let square =
            EmptyElement::at(point) + Rectangle::new([(-6, -6), (6, 6)], color.stroke_width(2));
        chart.draw_series([square]).map_err(err)?;
    } else {
        chart.draw_series([Circle::new(point, 6, color.stroke_width(2))]).map_err(err)?;
    }
    Ok(())
}

/// The caption lines: what, then where it comes from (machine and placement; commit, date, scale).
fn caption(info: &RunInfo, title: &str, probes: &[f64]) -> [String; 3] {
    let mut probes: Vec<f64> = probes.iter().copied().filter(|p| p.is_finite()).collect();
    probes.sort_by(f64::total_cmp);
    let probe = match (probes.first(), probes.last()) {
        (Some(lo), Some(hi)) => format!(
            "probe (one-way cross-core handoff) {lo:.0}-{hi:.0} ns, median {:.0} ns",
            probes[probes.len() / 2]
        ),
        _ => "no probe".to_owned(),
    };
    let pin =
        if info.pin.is_empty() { "unpinned".to_owned() } else { format!("pinned {:?}", info.pin) };
    [
        title.to_owned(),
        format!("machine: {} | placement: {probe}, {pin}", info.machine.replace('"', "")),
        format!(
            "commit {} | {} | BENCH_SCALE={} BENCH_RUNS={} (medians of the runs){}",
            info.commit,
            info.date,
            info.scale,
            info.runs,
            if info.smoke { " | smoke run" } else { "" }
        ),
    ]
}

/// Draws the caption lines at the top of `area`.
fn draw_caption<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    lines: &[String; 3],
) -> Result<(), String> {
    area.draw_text(&lines[0], &("sans-serif", 22).into_font().color(&BLACK), (12, 8))
        .map_err(err)?;
    let small = ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80));
    area.draw_text(&lines[1], &small, (12, 38)).map_err(err)?;
    area.draw_text(&lines[2], &small, (12, 56)).map_err(err)?;
    Ok(())
}

/// Draws a legend of `imps` in a column at the top left of `area`.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    imps: &[String],
) -> Result<(), String> {
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    for (i, imp) in imps.iter().enumerate() {
        let (color, ours) = look(imp);
        let y = 16 + 22 * i as i32;
        if ours {
            area.draw(&Circle::new((12, y), 6, color.filled())).map_err(err)?;
        } else if imp == "iceoryx2" {
            area.draw(&Rectangle::new([(6, y - 6), (18, y + 6)], color.stroke_width(2)))
                .map_err(err)?;
        } else {
            area.draw(&Circle::new((12, y), 6, color.stroke_width(2))).map_err(err)?;
        }
        area.draw_text(imp, &font, (26, y - 8)).map_err(err)?;
    }
    let note = ("sans-serif", 12).into_font().color(&RGBColor(80, 80, 80));
    let y = 16 + 22 * imps.len() as i32 + 8;
    area.draw_text("filled: this crate", &note, (6, y)).map_err(err)?;
    area.draw_text("hollow: the baselines", &note, (6, y + 16)).map_err(err)?;
    Ok(())
}

/// The figure a throughput row plots: messages per second, or for `fanout-*` the producer's rate
/// while it has room (the consumers bound `msgs_per_s` there).
fn rate(r: &Record) -> Option<f64> {
    let rate =
        if r.scenario.starts_with("fanout-") { r.extra("prod_msgs_per_s")? } else { r.msgs_per_s };
    (r.runs > 0 && rate.is_finite() && rate > 0.0).then_some(rate)
}

fn throughput(path: &Path, info: &RunInfo, records: &[Record]) -> Result<bool, String> {
    // Rows in the order of the run; latency scenarios have their own plot (or none).
    let rows: Vec<&Record> = records
        .iter()
        .filter(|r| r.scenario != "pingpong" && r.scenario != "wakeup")
        .filter(|r| rate(r).is_some())
        .collect();
    let mut scenarios: Vec<&str> = Vec::new();
    let mut imps: Vec<String> = Vec::new();
    for r in &rows {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
        if !imps.contains(&r.imp) {
            imps.push(r.imp.clone());
        }
    }
    if scenarios.is_empty() {
        return Ok(false);
    }
    let (lo, hi) = rows
        .iter()
        .filter_map(|r| rate(r))
        .fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = (10f64.powf(lo.log10().floor()), 10f64.powf(hi.log10().ceil()));
    let n = scenarios.len();
    let height = (150 + 24 * n as u32).max(440);
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(80);
    let probes: Vec<f64> = rows.iter().map(|r| r.probe_ns).collect();
    draw_caption(
        &head,
        &caption(
            info,
            "shm-disruptor: throughput per scenario, ours against each baseline",
            &probes,
        ),
    )?;
    let (plot, legend) = body.split_horizontally(980);
    // Row `i` (from the top) is at y = n - 1 - i; the y axis has a tick at every integer.
    let centre = |i: usize| (n - 1 - i) as f64;
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(210)
        .build_cartesian_2d((lo..hi).log_scale(), -0.5f64..n as f64 - 0.5)
        .map_err(err)?;
    let name_at = |y: &f64| {
        let i = n as f64 - 1.0 - y;
        if (i - i.round()).abs() > 1e-6 || i < -0.5 {
            return String::new();
        }
        scenarios.get(i.round() as usize).map_or(String::new(), |s| (*s).to_owned())
    };
    let label = |x: &f64| {
        if *x >= 1e9 {
            format!("{:.0} G/s", x / 1e9)
        } else if *x >= 1e6 {
            format!("{:.0} M/s", x / 1e6)
        } else {
            format!("{:.0} k/s", x / 1e3)
        }
    };
    chart
        .configure_mesh()
        .y_labels(n)
        .y_label_formatter(&name_at)
        .x_label_formatter(&label)
        .x_desc("messages per second (log scale; fanout-*: the producer's rate while it has room)")
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for r in &rows {
        let i = scenarios.iter().position(|s| *s == r.scenario).expect("a row's scenario");
        marker(&mut chart, &r.imp, (rate(r).expect("a plotted rate"), centre(i)))?;
    }
    draw_legend(&legend, &imps)?;
    root.present().map_err(err)?;
    Ok(true)
}

/// `ns` as `120 ns`, `4 µs`, `2 ms`.
fn duration(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.0} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// `-log10(1 - q)`: the x of quantile `q` on the log-percentile axis (p90 at 1, p99 at 2...).
fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

fn pingpong(path: &Path, info: &RunInfo, records: &[Record]) -> Result<bool, String> {
    let rows: Vec<&Record> = records
        .iter()
        .filter(|r| r.scenario == "pingpong" && r.runs > 0 && !r.percentiles.is_empty())
        .collect();
    if rows.is_empty() {
        return Ok(false);
    }
    // A quantile is drawn where at least 10 round trips lie beyond it.
    let points = |r: &Record| -> Vec<(f64, f64)> {
        let rounds = r.msgs as f64 / 2.0;
        r.percentiles
            .iter()
            .filter(|p| (1.0 - p[0]) * rounds >= 10.0 && p[1] > 0.0)
            .map(|p| (nines(p[0]), p[1]))
            .collect()
    };
    let all: Vec<(f64, f64)> = rows.iter().flat_map(|r| points(r)).collect();
    let x_max = all.iter().map(|p| p.0).fold(2.0, f64::max);
    let (lo, hi) = all.iter().fold((f64::MAX, 0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (lo, hi) = (10f64.powf(lo.log10().floor()), 10f64.powf(hi.log10().ceil()));
    let root = SVGBackend::new(path, (1200, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(80);
    let probes: Vec<f64> = rows.iter().map(|r| r.probe_ns).collect();
    draw_caption(
        &head,
        &caption(
            info,
            "shm-disruptor: pingpong one-way latency distribution (HDR percentiles)",
            &probes,
        ),
    )?;
    let (plot, legend) = body.split_horizontally(980);
    // Ticks at the integers: p90, p99, p99.9... (p50 is the first point, at 0.3).
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.2f64..x_max + 0.2, (lo..hi).log_scale())
        .map_err(err)?;
    let percentile = |x: &f64| {
        if (x - x.round()).abs() > 1e-6 || x.round() < 1.0 {
            return String::new();
        }
        let p = 100.0 * (1.0 - 10f64.powf(-x.round()));
        let digits = (x.round() - 2.0).max(0.0) as usize;
        format!("p{p:.digits$}")
    };
    chart
        .configure_mesh()
        .x_labels(x_max.ceil() as usize + 2)
        .x_label_formatter(&percentile)
        .y_label_formatter(&|y: &f64| duration(*y))
        .x_desc("percentile (log scale of 1 / (1 - q))")
        .y_desc("one-way latency (round trip / 2), log scale")
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    let mut imps = Vec::new();
    for r in &rows {
        let (color, ours) = look(&r.imp);
        let width = if ours { 3 } else { 2 };
        let pts = points(r);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(width)))
            .map_err(err)?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(err)?;
        imps.push(format!(
            "{} (p50 {:.0} ns, p99 {:.0} ns)",
            r.imp,
            r.latency.map_or(f64::NAN, |l| l[0]),
            r.latency.map_or(f64::NAN, |l| l[1])
        ));
    }
    // The legend names each line with its p50 and p99.
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    for (i, (r, text)) in rows.iter().zip(&imps).enumerate() {
        let (color, _) = look(&r.imp);
        let y = 16 + 40 * i as i32;
        legend
            .draw(&PathElement::new(vec![(4, y), (24, y)], color.stroke_width(3)))
            .map_err(err)?;
        legend.draw_text(&r.imp, &font, (30, y - 8)).map_err(err)?;
        let detail = text.trim_start_matches(r.imp.as_str()).trim();
        legend
            .draw_text(detail, &("sans-serif", 11).into_font().color(&BLACK), (30, y + 8))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(true)
}
