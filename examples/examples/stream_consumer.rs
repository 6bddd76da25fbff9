//! The seed's stream example, reading end: prints the byte stream `/shm-disruptor-stream` (or
//! the ring named by its first argument: what `stream_producer` read from its standard input) on
//! standard output, then removes the ring.
//!
//! ```sh
//! cat some-file | cargo run --release --example stream_producer   # one terminal
//! cargo run --release --example stream_consumer > copy-of-file     # another
//! ```
//!
//! Ctrl-C (or SIGTERM) stops it cleanly: it releases its consumer index, so the producer's next
//! write fails (`BrokenPipe`) instead of waiting for it.

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shm_disruptor::{StreamReader, WaitStrategy};
use shm_disruptor_examples::{open_when_created, STREAM_OPEN_TIMEOUT, STREAM_RING};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| STREAM_RING.to_owned());
    let interrupted = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&interrupted);
    // Relaxed: a flag polled by the loop below; nothing else is published through it.
    ctrlc::set_handler(move || on_signal.store(true, Ordering::Relaxed))?;
    let ring = open_when_created::<u8>(&name, STREAM_OPEN_TIMEOUT)?;
    let mut consumer = ring.consumer(0)?;
    consumer.set_wait_strategy(WaitStrategy::Block);
    let mut reader = StreamReader::new(consumer);
    // Wake up now and then to notice Ctrl-C.
    reader.set_read_timeout(Some(Duration::from_millis(100)));
    let mut out = io::stdout().lock();
    let mut received = 0u64;
    loop {
        if interrupted.load(Ordering::Relaxed) {
            out.flush()?;
            drop(reader); // releases the consumer index: the producer stops waiting for us
            eprintln!("stream_consumer: interrupted after {received} bytes from {name}");
            std::process::exit(130);
        }
        // The bytes in place in the ring: no copy on this side but the write to stdout.
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk, // empty once the stream has ended
            Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
            Err(e) => return Err(e.into()),
        };
        if chunk.is_empty() {
            break;
        }
        out.write_all(chunk)?;
        let n = chunk.len();
        reader.consume(n);
        received += n as u64;
    }
    out.flush()?;
    drop(reader);
    shm_disruptor::unlink(&name)?;
    eprintln!("stream_consumer: received {received} bytes from {name}");
    Ok(())
}
