//! `shm-disruptor record` and `shm-disruptor replay`: a ring's messages into a file, and back
//! into a ring, through `shm-disruptor-record` over the runtime's untyped (`raw`) API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use shm_disruptor::raw::RawRing;
use shm_disruptor::OpenError;
use shm_disruptor_record::{
    record_consumer, record_tail, replay, RecordError, RecordReader, RecordWriter, RecordingHeader,
    RecordingSummary, ReplayOptions, Stop,
};

/// `record`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// The ring to record.
    name: String,
    /// The recording to write.
    file: PathBuf,
    /// Record as consumer I: nothing is missed (the ring's producers wait for the recorder,
    /// as for any consumer), and it resumes from that consumer's committed sequence.
    #[arg(long, value_name = "I", conflicts_with = "tail")]
    consumer: Option<usize>,
    /// Read without a consumer index (the default): producers never wait for the recorder; if
    /// they lap it, the sequences it lost are recorded as a gap. Starts at the cursor.
    #[arg(long)]
    tail: bool,
    /// Stop after this many messages (default: at Ctrl-C or SIGTERM).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    count: Option<u64>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// `replay`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The recording to replay.
    file: PathBuf,
    /// The ring to replay it into.
    name: String,
    /// Messages a second (default: as fast as the ring takes them).
    #[arg(long, value_name = "MSGS_PER_S", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Create the ring (the recorded schema, capacity and consumer count) if it does not
    /// exist. An existing ring must hold the recorded type, with or without --create.
    #[arg(long)]
    create: bool,
    /// Replay the complete batches of a truncated recording instead of refusing it.
    #[arg(long)]
    allow_truncated: bool,
}

/// `1000000`, `1_000_000` or `1,000,000`.
fn parse_count(text: &str) -> Result<u64, String> {
    text.replace(['_', ','], "").parse().map_err(|e| format!("{text:?} is not a count: {e}"))
}

/// A positive number of messages a second (separators allowed).
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.replace(['_', ','], "").parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a positive number of messages a second")),
    }
}

/// Why `record` or `replay` failed.
#[derive(Debug)]
enum Failure {
    Record(RecordError),
    Refused(String),
}

impl From<RecordError> for Failure {
    fn from(e: RecordError) -> Failure {
        Failure::Record(e)
    }
}

impl From<OpenError> for Failure {
    fn from(e: OpenError) -> Failure {
        Failure::Record(e.into())
    }
}

impl From<shm_disruptor::AttachError> for Failure {
    fn from(e: shm_disruptor::AttachError) -> Failure {
        Failure::Record(e.into())
    }
}

/// Sets a flag on Ctrl-C, SIGTERM or SIGHUP (the loops look at it every 50 ms).
fn stop_flag() -> Result<Arc<AtomicBool>, Failure> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    // Relaxed: a flag the loops poll; nothing is published through it.
    ctrlc::set_handler(move || set.store(true, Ordering::Relaxed))
        .map_err(|e| Failure::Refused(format!("cannot catch Ctrl-C: {e}")))?;
    Ok(flag)
}

fn exit(result: Result<ExitCode, Failure>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(failure) => {
            let message = match failure {
                Failure::Record(e) => e.to_string(),
                Failure::Refused(message) => message,
            };
            eprintln!("shm-disruptor: {message}");
            ExitCode::FAILURE
        }
    }
}

fn describe(summary: &RecordingSummary) -> String {
    let mut text = format!("{} messages in {} batch(es)", summary.messages, summary.batches);
    if summary.gaps > 0 {
        text.push_str(&format!(
            ", {} gap(s) of {} sequence(s) lost to lapping",
            summary.gaps, summary.missing
        ));
    }
    if let (Some(first), Some(end)) = (summary.first, summary.end) {
        text.push_str(&format!(", sequences {first}..{end}"));
    }
    text
}

impl RecordArgs {
    /// The ring's name as given.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl ReplayArgs {
    /// The ring's name as given.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// `shm-disruptor record NAME FILE [--consumer I | --tail] [--count N] [--force]`.
pub(crate) fn record(args: RecordArgs, name: &str) -> ExitCode {
    exit(record_into(&args, name))
}

fn record_into(args: &RecordArgs, name: &str) -> Result<ExitCode, Failure> {
    if !args.force && args.file.exists() {
        return Err(Failure::Refused(format!(
            "{} exists; use --force to replace it",
            args.file.display()
        )));
    }
    let ring = RawRing::open(name)?;
    let mut consumer = args.consumer.map(|index| ring.consumer(index)).transpose()?;
    let stop = stop_flag()?;
    let mut writer = RecordWriter::create(&args.file, &RecordingHeader::of_raw(&ring))?;
    // A tail recorder starts at the cursor as it reads it here, the sequence it says.
    let start = ring.cursor();
    let how = match &consumer {
        Some(c) => format!("as consumer {} from sequence {}", c.index(), c.sequence()),
        None => format!("without a consumer index (--tail) from sequence {start}"),
    };
    println!(
        "recording {name} ({}, {} slots) {how} into {}; Ctrl-C to stop",
        ring.schema().text,
        ring.capacity(),
        args.file.display()
    );
    let until = Stop { flag: &stop, after: args.count };
    let recorded = match &mut consumer {
        Some(consumer) => record_consumer(consumer, &mut writer, until),
        None => record_tail(&ring, &mut writer, Some(start), until),
    };
    // Whatever stopped it, what was recorded is kept, in a finished file.
    let summary = writer.finish()?;
    recorded?;
    println!("recorded {} into {}", describe(&summary), args.file.display());
    Ok(ExitCode::SUCCESS)
}

/// `shm-disruptor replay FILE NAME [--rate MSGS_PER_S] [--create] [--allow-truncated]`.
pub(crate) fn replay_file(args: ReplayArgs, name: &str) -> ExitCode {
    exit(replay_into(&args, name))
}

fn open_or_create(
    args: &ReplayArgs,
    name: &str,
    header: &RecordingHeader,
) -> Result<RawRing, Failure> {
    let schema = &header.schema;
    if args.create {
        let capacity = usize::try_from(header.capacity).unwrap_or(usize::MAX);
        match RawRing::create(name, schema, capacity, header.consumers.max(1) as usize) {
            Ok(ring) => {
                println!(
                    "created {name}: {} slots of {}, {} consumer(s)",
                    ring.capacity(),
                    schema.text,
                    ring.consumer_count()
                );
                return Ok(ring);
            }
            Err(OpenError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(RawRing::open_expecting(name, schema)?)
}

fn replay_into(args: &ReplayArgs, name: &str) -> Result<ExitCode, Failure> {
    let path: &Path = &args.file;
    let mut reader = if args.allow_truncated {
        RecordReader::open_truncated(path)?
    } else {
        RecordReader::open(path)?
    };
    let header = reader.header().clone();
    let summary = *reader.summary();
    println!(
        "{}: {} from {} ({}){}",
        path.display(),
        describe(&summary),
        header.ring,
        header.schema.text,
        if summary.finished { "" } else { ", truncated: replaying its complete batches" }
    );
    let ring = open_or_create(args, name, &header)?;
    let mut producer = ring.producer()?;
    let stop = stop_flag()?;
    let options = args.rate.map_or_else(ReplayOptions::default, ReplayOptions::at_rate);
    let report = replay(&mut reader, &mut producer, &options, Stop { flag: &stop, after: None })?;
    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { report.messages as f64 / seconds } else { 0.0 };
    let skipped = if report.gaps > 0 {
        format!("; {} gap(s) of {} sequence(s) not replayed", report.gaps, report.missing)
    } else {
        String::new()
    };
    if report.stopped {
        println!(
            "stopped: replayed {} of {} messages into {name} in {seconds:.2} s{skipped}",
            report.messages, summary.messages
        );
        return Ok(ExitCode::from(130));
    }
    println!(
        "replayed {} messages into {name} in {seconds:.2} s ({rate:.0} msgs/s){skipped}",
        report.messages
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates_take_separators() {
        assert_eq!(parse_count("1,000,000"), Ok(1_000_000));
        assert_eq!(parse_count("1_000"), Ok(1000));
        assert!(parse_count("-1").is_err());
        assert_eq!(parse_rate("2,500.5"), Ok(2500.5));
        assert!(parse_rate("0").is_err() && parse_rate("inf").is_err() && parse_rate("x").is_err());
    }
}
