//! The seed README's producer: sends a million random numbers below 100 through a 1000-slot
//! ring, one claim and one commit each, and prints their sum on standard output (the `consumer`
//! example prints the same).
//!
//! ```text
//! cargo run --release --example producer    # one terminal
//! cargo run --release --example consumer    # another: both print the same sum
//! ```
//!
//! It creates the ring (replacing one that no live process uses), so either may start first:
//! once the ring is full, it says that it is waiting for a consumer. The consumer removes the
//! ring when it is done. Ctrl-C (or SIGTERM) stops it cleanly: it marks the ring stopped (its
//! consumer then stops too), removes it and says how far it got.

use std::process::ExitCode;

use clap::Parser;
use shm_disruptor::Disruptor;
use shm_disruptor_examples::{
    default_name, parse_number, remove_ring, report, send_numbers, thousands, Ended, Error, Number,
    Numbers, Stop, NUMBERS_STOPPED,
};

/// Sends random numbers below 100 through a ring, one claim and one commit each, and prints
/// their sum (the `consumer` example, on the same ring, prints the same).
#[derive(Parser, Debug)]
struct Args {
    /// The ring (a POSIX shared-memory name); the consumer must be given the same one
    #[arg(long, value_name = "NAME", default_value_t = default_name("numbers"))]
    name: String,
    /// Numbers to send
    #[arg(short = 'n', long, value_name = "N", default_value = "1,000,000", value_parser = parse_number::<u64>)]
    count: u64,
    /// Slots in the ring
    #[arg(long, value_name = "SLOTS", default_value = "1000", value_parser = parse_number::<usize>)]
    capacity: usize,
}

fn main() -> ExitCode {
    report(run(Args::parse()))
}

fn run(args: Args) -> Result<Ended, Error> {
    let stop = Stop::on_signals()?;
    let ring = Disruptor::<Number>::builder(&args.name)
        .capacity(args.capacity)
        .consumers(1)
        .single_producer()
        .replace_existing()?;
    eprintln!(
        "producer: sending {} numbers through {} ({} slots)",
        thousands(args.count),
        args.name,
        thousands(ring.capacity() as u64)
    );
    let outcome = send_numbers(ring.producer()?, args.count, &stop, true);
    if !matches!(outcome, Ok(Numbers::Done { .. })) {
        // Stopped early: tell a consumer still reading, and remove the ring (it may be gone).
        ring.set_status(NUMBERS_STOPPED);
        let removed = remove_ring(&args.name);
        if outcome.is_ok() {
            removed?; // else the error to report is the one that stopped it
        }
    }
    match outcome? {
        Numbers::Done { sum } => {
            println!("{sum}");
            Ok(Ended::Done)
        }
        Numbers::Interrupted { after } => {
            eprintln!(
                "producer: interrupted after {} of {} numbers; removed {}",
                thousands(after),
                thousands(args.count),
                args.name
            );
            Ok(Ended::Interrupted)
        }
    }
}
