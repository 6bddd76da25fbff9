//! The seed's stream example, writing end: copies its standard input into the byte stream
//! `/shm-disruptor-stream`, then ends the stream.
//!
//! ```sh
//! cat some-file | cargo run --release --example stream_producer   # one terminal
//! cargo run --release --example stream_consumer > copy-of-file     # another
//! ```
//!
//! Either may start first: the producer waits for room once the ring is full, the consumer for
//! the ring to be created (up to 30 s) and then for data.

use std::io::{self, Write};

use shm_disruptor::{Disruptor, StreamWriter, WaitStrategy};
use shm_disruptor_examples::{STREAM_CAPACITY, STREAM_RING};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u8>::builder(STREAM_RING)
        .capacity(STREAM_CAPACITY)
        .consumers(1)
        .single_producer()
        .wait_strategy(WaitStrategy::Block) // sleep, do not spin, while the other side is idle
        .replace_existing()?;
    let mut writer = StreamWriter::new(ring.producer()?);
    let sent = io::copy(&mut io::stdin().lock(), &mut writer)?;
    writer.flush()?;
    writer.finish(); // end of stream: the consumer reads the rest, then stops
    eprintln!("stream_producer: sent {sent} bytes through {STREAM_RING}");
    Ok(())
}
