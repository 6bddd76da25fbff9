//! `shm-disruptor`: list, inspect, watch, peek into and remove shm-disruptor rings.
//!
//! Every command but `rm`, `evict`, `record --consumer` and `replay` only reads: it opens rings
//! through `shm_disruptor_inspect`, which never takes a consumer index or a producer entry and
//! never stores to a segment (`record --tail` copies slots without taking part). Exit status: 0 on success, 1 when the command failed (a missing,
//! corrupt or foreign segment, a ring in use for `rm`, a live consumer for `evict`), 2 for a
//! usage error.

mod metrics;
mod record;
mod render;
mod summary;

use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use shm_disruptor::OpenError;
use shm_disruptor_inspect::{
    self as inspect, ConsumerInfo, Inspector, RingState, SegmentKind, JSON_VERSION, SHM_DIR,
};

use crate::render::Attachment;
use crate::summary::View;

/// Inspect shm-disruptor rings (typed LMAX Disruptors in POSIX shared memory) from outside.
///
/// NAME is a shared-memory name such as `/ticks` (`ticks` and `/dev/shm/ticks` are accepted
/// too). Every command but `rm`, `evict`, `record --consumer` (which takes that consumer index)
/// and `replay` (which publishes) only reads: none takes a consumer index or changes a ring. `--json` output is versioned (its `"version"` field), see the README.
#[derive(Debug, Parser)]
#[command(name = "shm-disruptor", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Carry a ring's messages to rings on other hosts over Zenoh (export, import).
    #[cfg(feature = "bridge")]
    #[command(subcommand)]
    Bridge(shm_disruptor_bridge::cli::BridgeCommand),
    /// List the rings on this machine, with their geometry, status and attached processes.
    List {
        /// Also list foreign (not a ring) and unreadable segments.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a ring's header, schema fields, sequences, consumers, claims and dependency graph.
    ///
    /// Rings of more than 16 consumers are summarised: consumers per state (live, dead, gone,
    /// released), their lag (min, p50, p90, p99, max: nearest-rank percentiles over the
    /// consumers not released) and the slowest consumers; the dependency graph groups the
    /// consumers that follow the same stages, with index ranges (`cursor -> consumers 0..=999`).
    Inspect {
        /// The ring's name.
        name: String,
        #[command(flatten)]
        many: Many,
        /// Print JSON (always complete: every consumer, plus the summary).
        #[arg(long)]
        json: bool,
    },
    /// A live view: messages/s published and consumed, lag and state per consumer, status.
    ///
    /// Rings of more than 16 consumers are summarised as by `inspect`: consumers per state, lag
    /// percentiles and the slowest consumers.
    Watch {
        /// The ring's name.
        name: String,
        /// Milliseconds between refreshes.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
        interval: u64,
        /// Stop after this many refreshes, at least 1 (default: until interrupted).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Print one JSON object a line per refresh (with rates), instead of the text view.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        many: Many,
    },
    /// Remove a ring; refused while live processes use it, unless --force. With --dead, remove
    /// every ring whose users are all dead.
    Rm {
        /// The ring's name (none with --dead).
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        name: Option<String>,
        /// Remove it even if live processes use it (they keep their mapping; the name is
        /// freed), or if it is not a ring.
        #[arg(long)]
        force: bool,
        /// Remove every ring that no live process uses and that a dead process used (`list`
        /// marks them "all dead"); with names, only those of the named rings.
        #[arg(long, num_args = 0.., value_name = "NAME")]
        dead: Option<Vec<String>>,
    },
    /// Evict a consumer whose process died holding it: it is released, so producers stop
    /// waiting for it (and the stages that followed it follow what it followed). A live
    /// consumer is refused.
    Evict {
        /// The ring's name.
        name: String,
        /// The consumer index.
        index: usize,
    },
    /// Serve every ring's counters (or the named rings') in the Prometheus text format over
    /// HTTP, at /metrics.
    Metrics {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: String,
        /// The rings to serve (default: every ring in /dev/shm, found again at each scrape).
        names: Vec<String>,
    },
    /// Record a ring's messages into a file (with its schema and geometry), until Ctrl-C.
    Record(record::RecordArgs),
    /// Replay a recording into a ring (created from the recorded schema with --create; an
    /// existing ring must hold the recorded type).
    Replay(record::ReplayArgs),
    /// Show the last published slots, decoded from the schema in the header and as hex.
    /// Never consumes.
    Peek {
        /// The ring's name.
        name: String,
        /// How many of the last published slots to show (of a byte stream: how many of its last
        /// bytes; default 5 slots, or 256 bytes).
        #[arg(long)]
        last: Option<usize>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How much of a ring with many consumers to show.
#[derive(Debug, Args)]
struct Many {
    /// Show every consumer, one row each, even in rings of more than 16 consumers (`inspect`:
    /// every producer record, dependency group and index too).
    #[arg(long)]
    all: bool,
    /// How many of the slowest consumers (highest lag) to list when a ring of more than 16
    /// consumers is summarised.
    #[arg(long, value_name = "N", default_value_t = 10)]
    slowest: usize,
}

impl Many {
    fn view(&self) -> View {
        View { all: self.all, slowest: self.slowest }
    }
}

/// Why a command failed.
#[derive(Debug)]
enum Failure {
    /// Opening the ring failed: the typed error says how.
    Open(OpenError),
    /// Anything else the command refuses.
    Refused(String),
    /// Writing the output failed.
    Io(io::Error),
}

impl From<OpenError> for Failure {
    fn from(e: OpenError) -> Failure {
        Failure::Open(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// `/ticks` from `/ticks`, `ticks` or `/dev/shm/ticks`.
fn ring_name(arg: &str) -> String {
    let arg = arg.strip_prefix(SHM_DIR).filter(|rest| rest.starts_with('/')).unwrap_or(arg);
    if arg.starts_with('/') {
        arg.to_owned()
    } else {
        format!("/{arg}")
    }
}

/// `--json`'s error object.
#[derive(Serialize)]
struct ErrorJson<'a> {
    version: u32,
    name: Option<&'a str>,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    kind: &'a str,
    message: &'a str,
}

/// Writes `value` as pretty JSON and a newline.
fn write_json(out: &mut impl Write, value: &impl Serialize) -> Result<(), Failure> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "bridge")]
    let cli = match cli {
        Cli { command: Command::Bridge(command) } => {
            return match shm_disruptor_bridge::cli::run(command) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        other => other,
    };
    let (name, json) = match &cli.command {
        Command::Inspect { name, json, .. }
        | Command::Peek { name, json, .. }
        | Command::Watch { name, json, .. } => (Some(ring_name(name)), *json),
        Command::Evict { name, .. } => (Some(ring_name(name)), false),
        Command::Rm { name, .. } => (name.as_deref().map(ring_name), false),
        Command::List { json, .. } => (None, *json),
        Command::Metrics { .. } | Command::Record(_) | Command::Replay(_) => (None, false),
        #[cfg(feature = "bridge")]
        Command::Bridge(_) => unreachable!("handled above"),
    };
    let mut out = io::stdout().lock();
    let ring = name.clone().unwrap_or_default();
    let result = match cli.command {
        Command::List { all, json } => list(&mut out, all, json),
        #[cfg(feature = "bridge")]
        Command::Bridge(_) => unreachable!("handled above"),
        Command::Inspect { json, many, .. } => inspect(&mut out, &ring, json, many.view()),
        Command::Watch { interval, count, json, many, .. } => {
            watch(&mut out, &ring, interval, count, json, many.view())
        }
        Command::Rm { dead: Some(names), .. } => {
            rm_dead(&mut out, &names.iter().map(|n| ring_name(n)).collect::<Vec<_>>())
        }
        Command::Rm { force, .. } => rm(&mut out, &ring, force),
        Command::Evict { index, .. } => evict(&mut out, &ring, index),
        Command::Peek { last, json, .. } => peek(&mut out, &ring, last, json),
        Command::Record(args) => {
            drop(out);
            let name = ring_name(args.name());
            return record::record(args, &name);
        }
        Command::Replay(args) => {
            drop(out);
            let name = ring_name(args.name());
            return record::replay_file(args, &name);
        }
        Command::Metrics { listen, names } => {
            drop(out);
            let names: Vec<String> = names.iter().map(|n| ring_name(n)).collect();
            return match metrics::serve(&listen, &names) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("shm-disruptor: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let failure = match result.and_then(|()| out.flush().map_err(Failure::Io)) {
        Ok(()) => return ExitCode::SUCCESS,
        // The reader went away (`| head`): not an error of ours.
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return ExitCode::SUCCESS;
        }
        Err(failure) => failure,
    };
    let message = match &failure {
        Failure::Open(e) => e.to_string(),
        Failure::Refused(message) => message.clone(),
        Failure::Io(e) => format!("cannot write the output: {e}"),
    };
    if json {
        let kind = match &failure {
            Failure::Open(e) => inspect::error_kind(e),
            Failure::Refused(_) => "refused",
            Failure::Io(_) => "io",
        };
        let error = ErrorJson {
            version: JSON_VERSION,
            name: name.as_deref(),
            error: ErrorDetail { kind, message: &message },
        };
        if let Ok(text) = serde_json::to_string_pretty(&error) {
            let _ = writeln!(out, "{text}");
        }
        let _ = out.flush();
    }
    eprintln!("shm-disruptor: {message}");
    ExitCode::FAILURE
}

fn list(out: &mut impl Write, all: bool, json: bool) -> Result<(), Failure> {
    let mut segments =
        inspect::list().map_err(|e| Failure::Refused(format!("cannot read {SHM_DIR}: {e}")))?;
    if !all {
        segments.retain(|s| {
            match &s.kind {
                SegmentKind::Ring { .. }
                | SegmentKind::Corrupt(_)
                | SegmentKind::NotInitialised => true,
                // A ring truncated below its header (it starts like one).
                SegmentKind::TooSmall { first_bytes, .. } => {
                    !first_bytes.is_empty()
                        && shm_disruptor::observe::MAGIC.starts_with(first_bytes)
                }
                _ => false,
            }
        });
    }
    if json {
        write_json(out, &render::list_json(&segments))?;
    } else if segments.is_empty() {
        writeln!(out, "no {} in {SHM_DIR}", if all { "segments" } else { "rings" })?;
    } else {
        write!(out, "{}", render::list_text(&segments))?;
    }
    Ok(())
}

fn inspect(out: &mut impl Write, name: &str, json: bool, view: View) -> Result<(), Failure> {
    let inspector = Inspector::open(name)?;
    let info = inspector.info()?;
    let layout = inspector.layout();
    let attachment =
        Attachment { live_users: inspector.live_users(), mapped_by: inspector.mapping_processes() };
    if json {
        write_json(out, &render::inspect_json(&info, &layout, &attachment, view.slowest))?;
    } else {
        write!(out, "{}", render::inspect_text(&info, &layout, &attachment, view))?;
    }
    Ok(())
}

fn peek(out: &mut impl Write, name: &str, last: Option<usize>, json: bool) -> Result<(), Failure> {
    let inspector = Inspector::open(name)?;
    let stream = inspector.header().is_stream;
    let peeked = inspector.peek(last.unwrap_or(if stream { 256 } else { 5 }))?;
    let info = inspector.info()?;
    let layout = inspector.layout();
    if json {
        write_json(out, &render::peek_json(&info, &layout, &peeked))?;
    } else {
        write!(out, "{}", render::peek_text(&info, &layout, &peeked))?;
    }
    Ok(())
}

fn inode(name: &str) -> Option<u64> {
    let path = Path::new(SHM_DIR).join(name.trim_start_matches('/'));
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn rate(now: u64, before: u64, elapsed: Duration) -> String {
    match now.checked_sub(before) {
        Some(delta) if elapsed > Duration::ZERO => {
            format!("{:.1}", delta as f64 / elapsed.as_secs_f64())
        }
        _ => "-".into(),
    }
}

fn watch_block(
    name: &str,
    type_name: &str,
    state: &RingState,
    before: Option<(Duration, &RingState)>,
    view: View,
) -> String {
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let rate_of = |pick: &dyn Fn(&RingState) -> Option<u64>| match before {
        Some((elapsed, old)) => match (pick(state), pick(old)) {
            (Some(now), Some(then)) => rate(now, then, elapsed),
            _ => "-".into(),
        },
        None => "-".into(),
    };
    let mut text = format!(
        "{name}  {type_name}  {}  status {}  cursor {}  claimed {}  published/s {}\n",
        render::utc(now_ns as u64),
        state.status,
        state.cursor,
        state.claim_sequence,
        rate_of(&|s| Some(s.cursor)),
    );
    // A small ring (or `--all`): every consumer; otherwise a summary and the slowest.
    let shown: Vec<&ConsumerInfo> = if view.summarised(state.consumers.len()) {
        let sum = summary::summarise(&state.consumers, view.slowest);
        text.push_str(&render::summary_head(&sum));
        sum.slowest.iter().map(|&i| &state.consumers[i]).collect()
    } else {
        state.consumers.iter().collect()
    };
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|c| {
            let index = c.index;
            let sequence = move |s: &RingState| {
                s.consumers.get(index).filter(|c| c.lag.is_some()).map(|c| c.sequence)
            };
            let commits = move |s: &RingState| s.consumers.get(index).map(|c| c.commits);
            vec![
                c.index.to_string(),
                if c.lag.is_some() { c.sequence.to_string() } else { "-".into() },
                c.lag.map_or("-".into(), |l| l.to_string()),
                c.state.to_string(),
                c.owner_pid.map_or("-".into(), |p| p.to_string()),
                rate_of(&sequence),
                rate_of(&commits),
            ]
        })
        .collect();
    if !shown.is_empty() {
        text.push_str(&render::table(
            2,
            &["#", "SEQUENCE", "LAG", "STATE", "OWNER", "CONSUMED/S", "COMMITS/S"],
            &rows,
        ));
    }
    if let Some(r) = &state.orphaned_claim {
        text.push_str(&format!("  orphaned claim: {}\n", render::range_text(r)));
    }
    for blocker in &state.blocked_by {
        text.push_str(&format!("  {blocker}: shm-disruptor evict {name} {}\n", blocker.index));
    }
    if state.sleeping_consumers + state.sleeping_producers > 0 && state.sleeping_possibly_stale {
        text.push_str(&format!(
            "  sleeping: {} consumer handle(s), {} producer handle(s){}\n",
            state.sleeping_consumers,
            state.sleeping_producers,
            render::STALE_NOTE
        ));
    }
    text
}

/// One line of `watch --json`: the state, with the rates since the refresh before (`null` on
/// the first).
#[derive(Serialize)]
struct WatchJson<'a> {
    version: u32,
    name: &'a str,
    /// Nanoseconds since the Unix epoch.
    time_ns: u64,
    /// Published messages a second since the last refresh.
    published_per_s: Option<f64>,
    /// Per consumer (by position), messages consumed a second since the last refresh.
    consumed_per_s: Vec<Option<f64>>,
    #[serde(flatten)]
    state: &'a RingState,
}

fn per_second(now: u64, before: u64, elapsed: Duration) -> Option<f64> {
    let delta = now.checked_sub(before)?;
    (elapsed > Duration::ZERO).then(|| delta as f64 / elapsed.as_secs_f64())
}

fn watch(
    out: &mut impl Write,
    name: &str,
    interval: u64,
    count: Option<u64>,
    json: bool,
    view: View,
) -> Result<(), Failure> {
    let inspector = Inspector::open(name)?;
    let type_name = inspector.header().type_name;
    let original = inode(name);
    let clear = !json && io::stdout().is_terminal();
    let mut before: Option<(Instant, RingState)> = None;
    let mut shown = 0u64;
    loop {
        let at = Instant::now();
        // `state` checks the file's size first: a segment truncated under us is reported
        // (`TooSmall`), never read (its lost pages would raise SIGBUS).
        let state = inspector.state()?;
        let since = before.as_ref().map(|(then, old)| (at - *then, old));
        if json {
            let line = WatchJson {
                version: JSON_VERSION,
                name,
                time_ns: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
                    as u64,
                published_per_s: since
                    .and_then(|(elapsed, old)| per_second(state.cursor, old.cursor, elapsed)),
                consumed_per_s: state
                    .consumers
                    .iter()
                    .map(|c| {
                        let (elapsed, old) = since?;
                        let then = old.consumers.get(c.index)?;
                        c.lag?;
                        then.lag?;
                        per_second(c.sequence, then.sequence, elapsed)
                    })
                    .collect(),
                state: &state,
            };
            serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            let block = watch_block(name, &type_name, &state, since, view);
            if clear {
                write!(out, "\x1b[H\x1b[2J")?;
            } else if shown > 0 {
                writeln!(out)?;
            }
            write!(out, "{block}")?;
        }
        out.flush()?;
        shown += 1;
        if count.is_some_and(|count| shown >= count) {
            return Ok(());
        }
        before = Some((at, state));
        std::thread::sleep(Duration::from_millis(interval));
        if inode(name) != original {
            eprintln!("shm-disruptor: ring {name} was removed (or replaced); stopping");
            return Ok(());
        }
    }
}

fn evict(out: &mut impl Write, name: &str, index: usize) -> Result<(), Failure> {
    let inspector = Inspector::open(name)?;
    inspector.evict_dead_consumer(index).map_err(|e| match e {
        inspect::EvictError::Open(e) => Failure::Open(e),
        other => Failure::Refused(format!("{name}: {other}")),
    })?;
    writeln!(
        out,
        "evicted consumer {index} of {name}: it is released, and producers no longer wait for it"
    )?;
    Ok(())
}

/// Removes every ring whose users are all dead (see `render::all_users_dead`), or only those of
/// `names` when there are any.
fn rm_dead(out: &mut impl Write, names: &[String]) -> Result<(), Failure> {
    let segments =
        inspect::list().map_err(|e| Failure::Refused(format!("cannot read {SHM_DIR}: {e}")))?;
    let mut removed = 0;
    for segment in &segments {
        if !names.is_empty() && !names.contains(&segment.name) {
            continue;
        }
        if let SegmentKind::Ring { info, live_users, mapped_by } = &segment.kind {
            if render::all_users_dead(info, live_users, mapped_by) {
                shm_disruptor::unlink(&segment.name)?;
                remove_bridge_state(out, &segment.name)?;
                writeln!(out, "removed ring {} (every process that used it died)", segment.name)?;
                removed += 1;
            }
        }
    }
    if removed == 0 {
        writeln!(out, "no ring whose users are all dead")?;
    }
    Ok(())
}

/// Removes the state file a bridge importer keeps next to ring `name` (in `/dev/shm`, its
/// default place), if there is one: it belongs with the ring.
fn remove_bridge_state(out: &mut impl Write, name: &str) -> Result<(), Failure> {
    #[cfg(feature = "bridge")]
    {
        let path = shm_disruptor_bridge::state_file(std::path::Path::new(SHM_DIR), name);
        if std::fs::remove_file(&path).is_ok() {
            writeln!(out, "removed {} (the bridge importer's state for it)", path.display())?;
        }
    }
    #[cfg(not(feature = "bridge"))]
    let _ = (out, name);
    Ok(())
}

fn rm(out: &mut impl Write, name: &str, force: bool) -> Result<(), Failure> {
    // A file too small to be a ring is not one: like a foreign segment, it needs --force.
    let kind = inspect::probe(name)
        .ok_or_else(|| Failure::Open(OpenError::NotFound { name: name.to_owned() }))?;
    let (what, users) = match &kind {
        SegmentKind::Ring { live_users, .. } => {
            ("ring", render::attached(live_users, &inspect::processes_mapping(name)))
        }
        SegmentKind::Corrupt(_) => ("corrupt ring", inspect::processes_mapping(name)),
        SegmentKind::NotInitialised => ("uninitialised segment", inspect::processes_mapping(name)),
        SegmentKind::Foreign { .. } if !force => {
            return Err(Failure::Refused(format!(
                "{name} is not a shm-disruptor ring; use --force to remove it anyway"
            )));
        }
        SegmentKind::Unreadable(e) if !force => {
            return Err(Failure::Refused(format!(
                "{name} cannot be read ({e}); use --force to remove it anyway"
            )));
        }
        SegmentKind::TooSmall { size, .. } if !force => {
            return Err(Failure::Refused(format!(
                "{name} is too small to be a shm-disruptor ring ({size} bytes); use --force to \
                 remove it anyway"
            )));
        }
        SegmentKind::NotAFile(kind) if !force => {
            return Err(Failure::Refused(format!(
                "{name} is {kind}, not a shm-disruptor ring; use --force to remove it anyway"
            )));
        }
        _ => ("segment", Vec::new()),
    };
    if !users.is_empty() && !force {
        return Err(Failure::Refused(format!(
            "{what} {name} is in use by live process(es) {}; stop them first, or use --force \
             (they keep their mapping, the name is freed)",
            render::pids_text(&users)
        )));
    }
    shm_disruptor::unlink(name)?;
    remove_bridge_state(out, name)?;
    if users.is_empty() {
        writeln!(out, "removed {what} {name}")?;
    } else {
        writeln!(
            out,
            "removed {what} {name} (still mapped by process(es) {})",
            render::pids_text(&users)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(ring_name("/ticks"), "/ticks");
        assert_eq!(ring_name("ticks"), "/ticks");
        assert_eq!(ring_name("/dev/shm/ticks"), "/ticks");
        assert_eq!(ring_name("/dev/shmx"), "/dev/shmx");
    }

    #[test]
    fn rates_are_per_second() {
        assert_eq!(rate(150, 100, Duration::from_millis(500)), "100.0");
        assert_eq!(rate(100, 150, Duration::from_secs(1)), "-");
        assert_eq!(rate(1, 0, Duration::ZERO), "-");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
