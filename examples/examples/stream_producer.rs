//! The seed's stream example, writing end: copies its standard input into the byte stream
//! `/shm-disruptor-stream` (or the ring named by its first argument), then ends the stream.
//!
//! ```sh
//! cat some-file | cargo run --release --example stream_producer   # one terminal
//! cargo run --release --example stream_consumer > copy-of-file     # another
//! ```
//!
//! Either may start first: the producer waits for room once the ring is full, the consumer for
//! the ring to be created (up to 30 s) and then for data. Ctrl-C (or SIGTERM) ends the stream
//! cleanly: the consumer receives every byte written so far, then the end of the stream.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use shm_disruptor::{Disruptor, StreamWriter, WaitStrategy};
use shm_disruptor_examples::{STREAM_CAPACITY, STREAM_RING};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| STREAM_RING.to_owned());
    let ring = Disruptor::<u8>::builder(&name)
        .capacity(STREAM_CAPACITY)
        .consumers(1)
        .single_producer()
        .wait_strategy(WaitStrategy::Block) // sleep, do not spin, while the other side is idle
        .replace_existing()?;
    let writer = Arc::new(Mutex::new(Some(StreamWriter::new(ring.producer()?))));
    let on_signal = Arc::clone(&writer);
    ctrlc::set_handler(move || {
        // End the stream once the write in progress, if any, has committed its bytes. A write
        // stuck for a second on a full ring is given up: the reader then sees the writer die
        // (an `UnexpectedEof` after the last byte committed).
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match on_signal.try_lock() {
                Ok(mut writer) => {
                    if let Some(writer) = writer.take() {
                        writer.finish();
                        eprintln!("stream_producer: interrupted; the stream is ended");
                    }
                    break;
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => break,
            }
        }
        std::process::exit(130);
    })?;
    let mut input = io::stdin().lock();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        let Some(writer) = writer.as_mut() else { break }; // interrupted meanwhile
        writer.write_all(&buffer[..n])?;
        sent += n as u64;
    }
    if let Some(writer) = writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
        writer.finish(); // end of stream: the consumer reads the rest, then stops
    }
    eprintln!("stream_producer: sent {sent} bytes through {name}");
    Ok(())
}
