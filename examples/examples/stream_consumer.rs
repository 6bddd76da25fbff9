//! The seed's stream example, reading end: writes the byte stream that `stream_producer` reads
//! from its standard input to standard output, then removes the ring.
//!
//! ```sh
//! cat some-file | cargo run --release --example stream_producer   # one terminal
//! cargo run --release --example stream_consumer > copy-of-file     # another
//! ```
//!
//! Started first, it says that it is waiting for a producer, and waits (up to `--timeout`) for
//! the ring to be created. Ctrl-C (or SIGTERM) stops it cleanly: it releases its consumer index,
//! so the producer's next write fails (`BrokenPipe`) instead of waiting for it, removes the
//! ring and says how much it received.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use shm_disruptor::{StreamReader, WaitStrategy};
use shm_disruptor_examples::{
    default_name, parse_seconds, remove_ring, report, thousands, wait_for_ring, Ended, Error, Stop,
    POLL,
};

/// Writes the byte stream that `stream_producer` sends through a ring to standard output, then
/// removes the ring.
#[derive(Parser, Debug)]
struct Args {
    /// The ring (a POSIX shared-memory name): the stream_producer's
    #[arg(long, value_name = "NAME", default_value_t = default_name("stream"))]
    name: String,
    /// How long to wait for the producer to create the ring
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    timeout: Duration,
}

fn main() -> ExitCode {
    report(run(Args::parse()))
}

fn run(args: Args) -> Result<Ended, Error> {
    let stop = Stop::on_signals()?;
    let name = &args.name;
    let Some(ring) = wait_for_ring::<u8>(name, "a producer", args.timeout, &stop)? else {
        eprintln!("stream_consumer: interrupted while waiting for a producer on {name}");
        return Ok(Ended::Interrupted);
    };
    let mut consumer = ring.consumer(0)?;
    consumer.set_wait_strategy(WaitStrategy::Block);
    let mut reader = StreamReader::new(consumer);
    // Wake up now and then to notice Ctrl-C.
    reader.set_read_timeout(Some(POLL));
    let mut out = io::stdout().lock();
    let mut received = 0u64;
    let outcome = loop {
        if stop.requested() {
            break Ok(Ended::Interrupted);
        }
        // The bytes in place in the ring: no copy on this side but the write to stdout.
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk, // empty once the stream has ended
            Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
            Err(e) => break Err(Error::from(e)),
        };
        if chunk.is_empty() {
            break Ok(Ended::Done);
        }
        if let Err(e) = out.write_all(chunk) {
            break Err(format!("writing standard output: {e}").into());
        }
        let n = chunk.len();
        reader.consume(n);
        received += n as u64;
    };
    let flushed = out.flush();
    drop(reader); // releases the consumer index: a producer stops waiting for us
                  // Done, failed or interrupted, the consumer is the last user of the ring: remove it (an
                  // interrupted producer may have removed it already).
    let removed = remove_ring(name);
    let received = thousands(received);
    let ended = outcome?; // the error that stopped it first, if any
    removed?;
    match ended {
        Ended::Done => eprintln!("stream_consumer: received {received} bytes from {name}"),
        Ended::Interrupted => {
            eprintln!("stream_consumer: interrupted after {received} bytes; removed {name}")
        }
    }
    flushed?;
    Ok(ended)
}
