//! The seed README's consumer: reads the `producer` example's numbers as consumer 0 and prints
//! their sum on standard output (the same as the producer's), then removes the ring.
//!
//! ```text
//! cargo run --release --example producer    # one terminal
//! cargo run --release --example consumer    # another: both print the same sum
//! ```
//!
//! Started first, it says that it is waiting for a producer, and waits (up to `--timeout`) for
//! the ring to be created. Ctrl-C (or SIGTERM) stops it cleanly: it releases its consumer index
//! (a producer waiting for room then stops instead of waiting forever), removes the ring and
//! says how far it got.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use shm_disruptor_examples::{
    default_name, parse_number, parse_seconds, receive_numbers, remove_ring, report, thousands,
    wait_for_ring, Ended, Error, Number, Numbers, Stop,
};

/// Reads the numbers the `producer` example sends through a ring and prints their sum (the
/// same as the producer's); then removes the ring.
#[derive(Parser, Debug)]
struct Args {
    /// The ring (a POSIX shared-memory name): the producer's
    #[arg(long, value_name = "NAME", default_value_t = default_name("numbers"))]
    name: String,
    /// Numbers to read (the producer's --count)
    #[arg(short = 'n', long, value_name = "N", default_value = "1,000,000", value_parser = parse_number::<u64>)]
    count: u64,
    /// How long to wait for the producer to create the ring, and then for each next number
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    timeout: Duration,
}

fn main() -> ExitCode {
    report(run(Args::parse()))
}

fn run(args: Args) -> Result<Ended, Error> {
    let stop = Stop::on_signals()?;
    let Some(ring) = wait_for_ring::<Number>(&args.name, "a producer", args.timeout, &stop)? else {
        eprintln!("consumer: interrupted while waiting for a producer on {}", args.name);
        return Ok(Ended::Interrupted);
    };
    let outcome = receive_numbers(ring.consumer(0)?, args.count, &stop, args.timeout);
    // Done, failed or interrupted, the consumer is the last user of the ring: remove it.
    let removed = remove_ring(&args.name);
    let outcome = outcome?; // the error that stopped it first, if any
    removed?;
    match outcome {
        Numbers::Done { sum } => {
            println!("{sum}");
            Ok(Ended::Done)
        }
        Numbers::Interrupted { after } => {
            eprintln!(
                "consumer: interrupted after {} of {} numbers; removed {}",
                thousands(after),
                thousands(args.count),
                args.name
            );
            Ok(Ended::Interrupted)
        }
    }
}
