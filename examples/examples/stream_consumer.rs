//! The seed's stream example, reading end: prints the byte stream `/shm-disruptor-stream` (what
//! `stream_producer` read from its standard input) on standard output, then removes the ring.
//!
//! ```sh
//! cat some-file | cargo run --release --example stream_producer   # one terminal
//! cargo run --release --example stream_consumer > copy-of-file     # another
//! ```

use std::io::{self, BufRead, Write};

use shm_disruptor::{StreamReader, WaitStrategy};
use shm_disruptor_examples::{open_when_created, STREAM_OPEN_TIMEOUT, STREAM_RING};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = open_when_created::<u8>(STREAM_RING, STREAM_OPEN_TIMEOUT)?;
    let mut consumer = ring.consumer(0)?;
    consumer.set_wait_strategy(WaitStrategy::Block);
    let mut reader = StreamReader::new(consumer);
    let mut out = io::stdout().lock();
    let mut received = 0u64;
    loop {
        // The bytes in place in the ring: no copy on this side but the write to stdout.
        let chunk = reader.fill_buf()?; // Ok(empty) once the stream has ended
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
    shm_disruptor::unlink(STREAM_RING)?;
    eprintln!("stream_consumer: received {received} bytes from {STREAM_RING}");
    Ok(())
}
