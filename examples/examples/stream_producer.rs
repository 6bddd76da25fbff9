//! The seed's stream example, writing end: copies its standard input into a byte stream over a
//! ring of bytes (a `Disruptor<u8>`), then ends the stream.
//!
//! ```sh
//! cat some-file | cargo run --release --example stream_producer   # one terminal
//! cargo run --release --example stream_consumer > copy-of-file     # another
//! ```
//!
//! Either may start first: the producer creates the ring and, once it is full, says that it is
//! waiting for a reader; the consumer waits for the ring to be created and then for data, and
//! removes the ring at the end. Ctrl-C (or SIGTERM) ends the stream cleanly: a reader receives
//! every byte written so far, then the end of the stream; the producer removes the ring's name
//! (a reader already attached keeps reading it) and says how much it sent.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::mpsc;

use clap::Parser;
use shm_disruptor::{Disruptor, StreamWriter, WaitStrategy};
use shm_disruptor_examples::{
    default_name, others_attached, parse_number, remove_ring, report, thousands, Ended, Error,
    Stop, POLL,
};

/// Copies standard input into a byte stream over a ring of bytes, then ends the stream (the
/// `stream_consumer` example, on the same ring, writes it to its standard output).
#[derive(Parser, Debug)]
struct Args {
    /// The ring (a POSIX shared-memory name); the stream_consumer must be given the same one
    #[arg(long, value_name = "NAME", default_value_t = default_name("stream"))]
    name: String,
    /// Bytes in the ring
    #[arg(long, value_name = "BYTES", default_value = "65,536", value_parser = parse_number::<usize>)]
    capacity: usize,
}

fn main() -> ExitCode {
    report(run(Args::parse()))
}

fn run(args: Args) -> Result<Ended, Error> {
    let stop = Stop::on_signals()?;
    let name = &args.name;
    let ring = Disruptor::<u8>::builder(name)
        .capacity(args.capacity)
        .consumers(1)
        .single_producer()
        .wait_strategy(WaitStrategy::Block) // sleep, do not spin, while the other side is idle
        .replace_existing()?;
    let mut writer = StreamWriter::new(ring.producer()?);
    // Wake up now and then to notice Ctrl-C while the ring is full.
    writer.set_write_timeout(Some(POLL));
    let chunks = read_stdin_in_background();
    let mut sent = 0u64;
    let mut said = false;
    let outcome = 'copy: loop {
        let chunk = match chunks.recv_timeout(POLL) {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => break Err(Error::from(format!("reading standard input: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) if stop.requested() => {
                break Ok(Ended::Interrupted)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(Ended::Done), // end of input
        };
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            if stop.requested() {
                break 'copy Ok(Ended::Interrupted);
            }
            match writer.write(rest) {
                Ok(n) => {
                    rest = &rest[n..];
                    sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if !said {
                        if !others_attached(&ring) {
                            eprintln!("the ring is full: waiting for a reader on {name} ...");
                        }
                        said = true; // once: a reader attached but slow is not worth a word
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    break 'copy Err(format!(
                        "the reader of {name} left after {} bytes",
                        thousands(sent)
                    )
                    .into());
                }
                Err(e) => break 'copy Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(Ended::Done) => {
            writer.finish(); // end of stream: the consumer reads the rest, then stops
            eprintln!("stream_producer: sent {} bytes through {name}", thousands(sent));
        }
        Ok(Ended::Interrupted) => {
            writer.finish();
            remove_ring(name)?;
            eprintln!(
                "stream_producer: interrupted after {} bytes; the stream is ended and {name} removed",
                thousands(sent)
            );
        }
        Err(_) => {
            writer.fail(); // a reader still attached sees the stream end in error
            let _ = remove_ring(name); // the error to report is the one above
        }
    }
    outcome
}

/// Standard input, read by a thread of its own (a read can block for ever, and this one must
/// notice Ctrl-C): chunks of up to 64 KiB, then an error or the end of the channel at its end.
fn read_stdin_in_background() -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (chunks, receiver) = mpsc::sync_channel(4);
    std::thread::spawn(move || {
        let mut input = io::stdin().lock();
        loop {
            let mut buffer = vec![0u8; 64 * 1024];
            match input.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    buffer.truncate(n);
                    if chunks.send(Ok(buffer)).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = chunks.send(Err(e));
                    break;
                }
            }
        }
    });
    receiver
}
