//! A typed multi-process pipeline over two rings, every stage its own process:
//!
//! ```text
//!                         ┌─ risk (consumer 0) ──┐
//! orders ── ring<Order> ──┤                      ├─ match (consumer 2) ── ring<Fill> ── sink
//!                         └─ journal (consumer 1)┘
//! ```
//!
//! `risk` and `journal` read each order in parallel; `match` sees an order only after both have
//! committed it (a dependency graph stored in the ring), checks that, and forwards a `Fill` per
//! order into a second ring; `sink` checks every fill end to end and measures the latency from
//! publication of the order to receipt of its fill. The parent shows progress while it runs
//! (a progress bar on a terminal, one plain line a second otherwise), then throughput and
//! latency percentiles; it exits non-zero if any check fails.
//!
//! By default the producer publishes as fast as the pipeline takes orders, so the rings stay
//! full and the latency measured is queueing under saturation; `--rate N` offers a fixed load
//! of N orders a second instead, to show the latency of a pipeline with room to spare.
//!
//! ```text
//! cargo run --release --example pipeline [-- --count N] [-- --rate N]
//! ```
//!
//! Ctrl-C (or SIGTERM) stops every stage, removes both rings and says so.

use std::io::IsTerminal;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shm_disruptor::{Disruptor, WaitStrategy};
use shm_disruptor_examples::{
    default_name, monotonic_ns, parse_number, parse_seconds, report, supervise, thousands,
    thousands_f, Ended, Error, Fill, Order, RemoveOnDrop, Stop, Supervised,
};

/// The most orders the producer claims at once.
const MAX_BATCH: usize = 64;
/// Orders sent by default at full speed (about a second and a half on two cores).
const DEFAULT_COUNT: u64 = 50_000_000;
/// With `--rate` and no `--count`: this many seconds' worth of orders.
const DEFAULT_RATE_SECONDS: u64 = 3;

/// A five-process pipeline over two typed rings (orders: risk and journal in parallel, then
/// match; fills: a sink), checked end to end, with progress, throughput and latency.
#[derive(Parser, Debug)]
#[command(after_help = "At full speed (no --rate) the rings stay full and the latency shown is \
queueing under saturation; --rate N (e.g. --rate 1000000) offers a fixed load and shows the \
latency of a pipeline with room to spare.")]
struct Args {
    /// Orders to send [default: 50,000,000; with --rate, 3 seconds' worth]
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_number::<u64>)]
    count: Option<u64>,
    /// Orders per second the producer offers, on a schedule against the monotonic clock
    /// [default: as fast as the pipeline takes them]
    #[arg(short, long, value_name = "N", value_parser = parse_rate)]
    rate: Option<u64>,
    /// Slots in each ring
    #[arg(long, value_name = "SLOTS", default_value = "4096", value_parser = parse_number::<usize>)]
    capacity: usize,
    /// The ring of orders (a POSIX shared-memory name); replaced if a previous run left it
    #[arg(long, value_name = "NAME", default_value_t = default_name("pipeline-orders"))]
    orders_ring: String,
    /// The ring of fills
    #[arg(long, value_name = "NAME", default_value_t = default_name("pipeline-fills"))]
    fills_ring: String,
    /// How the stages wait for messages, and the producer for room (yield: spin, then yield the
    /// core; backoff: then also sleep, up to 1 ms; block: sleep on a futex)
    #[arg(long, value_enum, value_name = "STRATEGY", default_value = "yield")]
    wait: Wait,
    /// How long a stage waits for its next message before it gives up
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    timeout: Duration,
    /// Runs one stage (the stages are this program, started with a role)
    #[arg(long, hide = true)]
    role: Option<Role>,
}

fn parse_rate(text: &str) -> Result<u64, String> {
    match parse_number::<u64>(text)? {
        0 => Err("the rate must be at least 1 order a second".to_owned()),
        rate => Ok(rate),
    }
}

/// `WaitStrategy`, on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    Spin,
    Yield,
    Backoff,
    Block,
}

impl Wait {
    fn strategy(self) -> WaitStrategy {
        match self {
            Wait::Spin => WaitStrategy::BusySpin,
            Wait::Yield => WaitStrategy::Yield,
            Wait::Backoff => WaitStrategy::Backoff,
            Wait::Block => WaitStrategy::Block,
        }
    }
}

/// The stages, in the order their results are shown.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Sink,
    Match,
    Risk,
    Journal,
    Orders,
}

const ROLES: [Role; 5] = [Role::Sink, Role::Match, Role::Risk, Role::Journal, Role::Orders];

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Sink => "sink",
            Role::Match => "match",
            Role::Risk => "risk",
            Role::Journal => "journal",
            Role::Orders => "orders",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let count = args.count.unwrap_or(match args.rate {
        Some(rate) => rate.saturating_mul(DEFAULT_RATE_SECONDS),
        None => DEFAULT_COUNT,
    });
    report(match args.role {
        // A stage leaves signals to their default action: the parent stops it and cleans up.
        Some(role) => run_role(role, &args, count)
            .map(|()| Ended::Done)
            .map_err(|e| format!("{}: {e}", role.name()).into()),
        None => run_parent(&args, count),
    })
}

fn run_parent(args: &Args, count: u64) -> Result<Ended, Error> {
    let stop = Stop::on_signals()?;
    let (orders_name, fills_name) = (&args.orders_ring, &args.fills_ring);
    let orders = Disruptor::<Order>::builder(orders_name)
        .capacity(args.capacity)
        .consumers(3)
        .depends_on(2, &[0, 1])
        .single_producer()
        .replace_existing()?;
    let orders_created = RemoveOnDrop(orders_name.clone());
    let fills = Disruptor::<Fill>::builder(fills_name)
        .capacity(args.capacity)
        .consumers(1)
        .single_producer()
        .replace_existing()?;
    let fills_created = RemoveOnDrop(fills_name.clone());
    let slots = thousands(args.capacity as u64);
    println!("orders: {orders_name}, {slots} slots of {}", orders.schema());
    println!("fills:  {fills_name}, {slots} slots of {}", fills.schema());
    println!("graph:  risk (0) and journal (1) in parallel, match (2) after both");
    match args.rate {
        None => println!("load:   {} orders, as fast as the pipeline takes them", thousands(count)),
        Some(rate) => println!(
            "load:   {} orders offered at {} a second ({:.1} s)",
            thousands(count),
            thousands(rate),
            count as f64 / rate as f64
        ),
    }

    let exe = std::env::current_exe()?;
    let mut stage_args = vec![
        "--count".to_owned(),
        count.to_string(),
        "--orders-ring".to_owned(),
        orders_name.clone(),
        "--fills-ring".to_owned(),
        fills_name.clone(),
        "--timeout".to_owned(),
        args.timeout.as_secs_f64().to_string(),
        "--wait".to_owned(),
        args.wait.to_possible_value().expect("not skipped").get_name().to_owned(),
    ];
    if let Some(rate) = args.rate {
        stage_args.extend(["--rate".to_owned(), rate.to_string()]);
    }
    let started = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    for role in ROLES {
        let spawned = Command::new(&exe)
            .args(["--role", role.name()])
            .args(&stage_args)
            .stdout(Stdio::piped())
            .spawn();
        match spawned {
            Ok(child) => children.push(child),
            Err(e) => {
                // The deadline has passed: this stops those started.
                supervise(&mut children, &Stop::never(), started, || {})?;
                return Err(format!("starting the {} stage: {e}", role.name()).into());
            }
        }
    }
    // A safety net: each stage gives up by itself after --timeout without a message.
    let expected = args.rate.map_or(Duration::ZERO, |rate| Duration::from_secs(count / rate));
    let deadline = started + expected + 10 * args.timeout;
    let mut progress = Progress::new(count);
    let supervised =
        supervise(&mut children, &stop, deadline, || progress.update(Sample::of(&orders, &fills)));
    let elapsed = started.elapsed();
    let last = Sample::of(&orders, &fills);
    drop((orders_created, fills_created));
    match supervised? {
        Supervised::Exited => progress.finish(last),
        Supervised::Interrupted => {
            progress.abandon();
            eprintln!(
                "pipeline: interrupted after {} of {} orders delivered; stopped the 5 stages, \
                 removed {orders_name} and {fills_name}",
                thousands(last.delivered),
                thousands(count)
            );
            return Ok(Ended::Interrupted);
        }
        Supervised::TimedOut => {
            progress.abandon();
            return Err("the pipeline did not finish in time".into());
        }
    }

    let (mut failed, mut killed) = (Vec::new(), false);
    let mut more = Vec::new();
    for (role, child) in ROLES.into_iter().zip(children) {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let first = match out.status.code() {
            Some(_) => lines.next().unwrap_or("(nothing)"),
            None => "(killed)", // by a signal, or by `supervise` after another stage failed
        };
        killed |= out.status.code().is_none();
        println!("{:>8}: {first}", role.name());
        more.extend(lines.map(str::to_owned));
        if out.status.code().is_some_and(|code| code != 0) {
            failed.push(role.name());
        }
    }
    if !failed.is_empty() {
        return Err(format!("the {} stage failed (see above)", failed.join(" and ")).into());
    }
    if killed {
        return Err("a stage was killed before the end".into());
    }
    println!(
        "{} orders through 2 rings and 5 processes in {:.2} s: {:.2} M orders/s end to end",
        thousands(count),
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64() / 1e6
    );
    for line in more {
        println!("{line}");
    }
    match args.rate {
        None => println!(
            "         at full speed this is queueing under saturation (the rings stay full),\n         \
             not the latency of a pipeline with room to spare: --rate N offers a fixed load"
        ),
        Some(rate) => println!(
            "         at a fixed offered load of {} orders a second (at full speed, without\n         \
             --rate, it is queueing under saturation)",
            thousands(rate)
        ),
    }
    println!("OK: every order checked by every stage, every fill checked at the sink");
    Ok(Ended::Done)
}

/// Where each stage is.
#[derive(Debug, Clone, Copy)]
struct Sample {
    published: u64,
    risk: u64,
    journal: u64,
    matched: u64,
    delivered: u64,
}

impl Sample {
    fn of(orders: &Disruptor<Order>, fills: &Disruptor<Fill>) -> Sample {
        Sample {
            published: orders.cursor(),
            risk: orders.consumer_sequence(0).unwrap_or(0),
            journal: orders.consumer_sequence(1).unwrap_or(0),
            matched: orders.consumer_sequence(2).unwrap_or(0),
            delivered: fills.consumer_sequence(0).unwrap_or(0),
        }
    }

    /// The stages' counts, each padded to `width`.
    fn stages(&self, width: usize) -> String {
        format!(
            "orders {:>w$}  risk {:>w$}  journal {:>w$}  match {:>w$}",
            thousands(self.published),
            thousands(self.risk),
            thousands(self.journal),
            thousands(self.matched),
            w = width
        )
    }
}

/// Progress: a bar on a terminal, one plain line a second otherwise (a log, a pipe).
#[derive(Debug)]
enum Progress {
    Bar { bar: ProgressBar, rate: Rate },
    Lines { started: Instant, next: Instant, rate: Rate, width: usize, last: Option<u64> },
}

/// Delivered fills a second, over the last half second or more.
#[derive(Debug)]
struct Rate {
    at: Instant,
    delivered: u64,
    per_second: f64,
}

impl Rate {
    fn new() -> Rate {
        Rate { at: Instant::now(), delivered: 0, per_second: 0.0 }
    }

    fn update(&mut self, delivered: u64, every: Duration) -> f64 {
        let elapsed = self.at.elapsed();
        if elapsed >= every {
            self.per_second = (delivered - self.delivered) as f64 / elapsed.as_secs_f64();
            self.at = Instant::now();
            self.delivered = delivered;
        }
        self.per_second
    }
}

fn per_second(rate: f64) -> String {
    format!("{:.2} M/s", rate / 1e6)
}

impl Progress {
    fn new(count: u64) -> Progress {
        if std::io::stdout().is_terminal() {
            let style = ProgressStyle::with_template(
                "  {elapsed_precise} {bar:24.cyan/blue} {human_pos}/{human_len} fills  {msg}\n  {prefix}",
            )
            .expect("a valid template")
            .progress_chars("█▉▊▋▌▍▎▏ ");
            let bar = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::stdout())
                .with_style(style);
            Progress::Bar { bar, rate: Rate::new() }
        } else {
            let now = Instant::now();
            Progress::Lines {
                started: now,
                next: now + Duration::from_secs(1),
                rate: Rate::new(),
                width: thousands(count).len(),
                last: None,
            }
        }
    }

    fn update(&mut self, sample: Sample) {
        match self {
            Progress::Bar { bar, rate } => {
                let per = rate.update(sample.delivered, Duration::from_millis(500));
                bar.set_prefix(sample.stages(0));
                if rate.delivered > 0 {
                    bar.set_message(per_second(per));
                }
                bar.set_position(sample.delivered);
            }
            Progress::Lines { started, next, rate, width, last } => {
                if Instant::now() < *next {
                    return;
                }
                *next += Duration::from_secs(1);
                let per = rate.update(sample.delivered, Duration::ZERO);
                Self::line(*started, sample, *width, &per_second(per));
                *last = Some(sample.delivered);
            }
        }
    }

    fn line(started: Instant, sample: Sample, width: usize, rate: &str) {
        println!(
            "{:>5.1} s  {}  sink {:>w$}  {:>9}",
            started.elapsed().as_secs_f64(),
            sample.stages(width),
            thousands(sample.delivered),
            rate,
            w = width
        );
    }

    /// The last state: the bar at its end, or a last line if the last one was not it.
    fn finish(&mut self, sample: Sample) {
        match self {
            Progress::Bar { bar, .. } => {
                let mean = sample.delivered as f64 / bar.elapsed().as_secs_f64();
                bar.set_prefix(sample.stages(0));
                bar.set_message(format!("{} overall", per_second(mean)));
                bar.set_position(sample.delivered);
                bar.finish();
            }
            Progress::Lines { started, width, last, .. } => {
                if *last != Some(sample.delivered) {
                    let mean = sample.delivered as f64 / started.elapsed().as_secs_f64();
                    Self::line(*started, sample, *width, &format!("{} overall", per_second(mean)));
                }
            }
        }
    }

    fn abandon(&mut self) {
        if let Progress::Bar { bar, .. } = self {
            bar.abandon();
        }
    }
}

fn run_role(role: Role, args: &Args, count: u64) -> Result<(), Error> {
    let orders = Disruptor::<Order>::open(&args.orders_ring)?;
    let limit = args.timeout;
    let wait = args.wait.strategy();
    match role {
        Role::Orders => {
            let mut producer = orders.producer()?;
            producer.set_wait_strategy(wait);
            match args.rate {
                None => {
                    let mut id = 0;
                    while id < count {
                        let n = ((count - id) as usize).min(MAX_BATCH);
                        let mut batch = producer.claim_available_timeout(n, limit)?;
                        let now = monotonic_ns();
                        for order in batch.iter_mut() {
                            *order = Order::new(id, now);
                            id += 1;
                        }
                        batch.commit();
                    }
                    println!("published {} as fast as the ring took them", thousands(count));
                }
                Some(rate) => {
                    let schedule = Schedule::new(rate);
                    let mut behind = 0u64; // the most a batch was published after its due time
                    let mut id = 0;
                    while id < count {
                        let due = schedule.due_by(monotonic_ns()).min(count);
                        if due <= id {
                            schedule.wait_for(id);
                            continue;
                        }
                        let n = ((due - id) as usize).min(MAX_BATCH);
                        let mut batch = producer.claim_available_timeout(n, limit)?;
                        let now = monotonic_ns();
                        behind = behind.max(now.saturating_sub(schedule.due_at(id)));
                        for order in batch.iter_mut() {
                            *order = Order::new(id, now);
                            id += 1;
                        }
                        batch.commit();
                    }
                    let achieved = count as f64 / schedule.elapsed_s();
                    let kept_up = if achieved >= 0.98 * rate as f64 {
                        format!("at most {} us late", thousands_f(behind as f64 / 1e3, 1))
                    } else {
                        "more than the pipeline takes: queueing again".to_owned()
                    };
                    println!(
                        "published {}, offered at {} a second ({} achieved), {kept_up}",
                        thousands(count),
                        thousands(rate),
                        thousands(achieved as u64),
                    );
                }
            }
        }
        Role::Risk | Role::Journal => {
            let index = if role == Role::Risk { 0 } else { 1 };
            let mut consumer = orders.consumer(index)?;
            consumer.set_wait_strategy(wait);
            let (mut seen, mut flagged, mut checksum) = (0u64, 0u64, 0u64);
            while seen < count {
                let batch = consumer.consume_timeout(limit)?;
                for (seq, order) in batch.range().zip(batch.iter()) {
                    if order.id != seq || !order.is_intact() {
                        return Err(format!("order at {seq} is corrupt: {order:?}").into());
                    }
                    // risk: flag large orders; journal: a running checksum of what it recorded.
                    flagged += u64::from(order.qty > 95);
                    checksum = checksum.wrapping_mul(31).wrapping_add(order.id);
                }
                seen += batch.len() as u64;
                batch.commit();
            }
            if role == Role::Risk {
                println!(
                    "checked {}, flagged {} large orders",
                    thousands(seen),
                    thousands(flagged)
                );
            } else {
                let expected = (0..count).fold(0u64, |c, id| c.wrapping_mul(31).wrapping_add(id));
                if checksum != expected {
                    return Err(format!("journal checksum {checksum:#x} != {expected:#x}").into());
                }
                println!("journaled {}, checksum {checksum:#x} matches", thousands(seen));
            }
        }
        Role::Match => {
            let fills = Disruptor::<Fill>::open(&args.fills_ring)?;
            let mut consumer = orders.consumer(2)?;
            consumer.set_wait_strategy(wait);
            let mut producer = fills.producer()?;
            producer.set_wait_strategy(wait);
            let mut matched = 0;
            let mut too_early = None;
            while matched < count {
                let mut seq = consumer.sequence();
                matched += consumer.forward_to(&mut producer, limit, |order, fill| {
                    // The graph's promise: both parallel stages committed this order already.
                    let (risk, journal) =
                        (orders.consumer_sequence(0), orders.consumer_sequence(1));
                    if !(risk > Some(seq) && journal > Some(seq)) {
                        too_early.get_or_insert(seq);
                    }
                    seq += 1;
                    *fill = Fill::of(order);
                })? as u64;
                if let Some(seq) = too_early {
                    return Err(format!("order {seq} was seen before risk and journal").into());
                }
            }
            println!("matched {}, each after risk and journal", thousands(matched));
        }
        Role::Sink => {
            let fills = Disruptor::<Fill>::open(&args.fills_ring)?;
            let mut consumer = fills.consumer(0)?;
            consumer.set_wait_strategy(wait);
            let mut latency = hdrhistogram::Histogram::<u64>::new(3)?;
            let started = Instant::now();
            let mut next_id = 0u64;
            while next_id < count {
                let batch = consumer.consume_timeout(limit)?;
                let now = monotonic_ns();
                for fill in batch.iter() {
                    let expected = Fill::of(&Order::new(next_id, fill.created_ns));
                    if *fill != expected {
                        return Err(format!(
                            "fill {next_id} is wrong: {fill:?}, expected {expected:?}"
                        )
                        .into());
                    }
                    latency.record(now.saturating_sub(fill.created_ns).max(1))?;
                    next_id += 1;
                }
                batch.commit();
            }
            let us = |ns: u64| thousands_f(ns as f64 / 1e3, 1);
            println!(
                "received {} fills in order, {:.2} M/s",
                thousands(next_id),
                next_id as f64 / started.elapsed().as_secs_f64() / 1e6,
            );
            println!(
                "latency: order to fill p50 {} us, p99 {} us, p99.9 {} us, max {} us",
                us(latency.value_at_quantile(0.5)),
                us(latency.value_at_quantile(0.99)),
                us(latency.value_at_quantile(0.999)),
                us(latency.max()),
            );
        }
    }
    Ok(())
}

/// When each order is due at a fixed rate: order `i` at `start + i / rate` seconds, on the
/// monotonic clock (so that a late order does not delay the ones after it).
#[derive(Debug)]
struct Schedule {
    start_ns: u64,
    rate: u64,
}

impl Schedule {
    fn new(rate: u64) -> Schedule {
        Schedule { start_ns: monotonic_ns(), rate }
    }

    /// When order `id` is due.
    fn due_at(&self, id: u64) -> u64 {
        self.start_ns + (u128::from(id) * 1_000_000_000 / u128::from(self.rate)) as u64
    }

    /// How many orders are due by `now_ns` (ids below it).
    fn due_by(&self, now_ns: u64) -> u64 {
        let elapsed = u128::from(now_ns.saturating_sub(self.start_ns));
        (elapsed * u128::from(self.rate) / 1_000_000_000) as u64 + 1
    }

    /// Waits until order `id` is due: sleeps while it is far off, and yields the core until
    /// then (not spins: with fewer cores than the five processes, a spinning producer would
    /// keep a stage off its core for a whole time slice, milliseconds).
    fn wait_for(&self, id: u64) {
        let due = self.due_at(id);
        loop {
            let now = monotonic_ns();
            if now >= due {
                return;
            }
            if due - now > 200_000 {
                std::thread::sleep(Duration::from_nanos(due - now - 100_000));
            } else {
                std::thread::yield_now();
            }
        }
    }

    fn elapsed_s(&self) -> f64 {
        monotonic_ns().saturating_sub(self.start_ns) as f64 / 1e9
    }
}
