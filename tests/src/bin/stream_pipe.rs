//! Helper for the stream tests: one end of a byte stream through the `u8` ring `NAME`.
//!
//! - `stream_pipe write NAME FILE WAIT`: copies `FILE` into the stream with a [`StreamWriter`]
//!   and finishes it; prints `bytes=N digest=HEX elapsed_us=T` for what it wrote.
//! - `stream_pipe read NAME INDEX WAIT`: reads the stream as consumer `INDEX` with a
//!   [`StreamReader`] (`fill_buf`/`consume`, no copy) until its end; prints the same fields for
//!   what it read, timed from the first byte to the end.
//! - `stream_pipe write-then-panic NAME TEXT`: writes `TEXT`, then panics with the writer alive
//!   (caught, so that the process still exits successfully); prints `panicked=1`.
//!
//! `WAIT` is a wait strategy name (`yield`, `backoff`, `block`). Every wait has a deadline
//! ([`WAIT_TIMEOUT`]).

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::time::Instant;

use shm_disruptor::{Disruptor, StreamReader, StreamWriter};
use shm_disruptor_tests::{arg, helper_main, parse_wait, StreamDigest, WAIT_TIMEOUT};

fn open(name: &str) -> Result<Disruptor<u8>, String> {
    Disruptor::<u8>::open(name).map_err(|e| e.to_string())
}

fn write(args: &[String]) -> Result<String, String> {
    let name: String = arg(args, 2, "ring name")?;
    let path: String = arg(args, 3, "file")?;
    let wait = parse_wait(&arg::<String>(args, 4, "wait strategy")?)?;
    let ring = open(&name)?;
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    producer.set_wait_strategy(wait);
    let mut writer = StreamWriter::new(producer);
    writer.set_write_timeout(Some(WAIT_TIMEOUT));
    let mut file = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut digest = StreamDigest::new();
    let started = Instant::now();
    loop {
        let n = file.read(&mut buffer).map_err(|e| format!("read {path}: {e}"))?;
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
        writer.write_all(&buffer[..n]).map_err(|e| format!("write to the stream: {e}"))?;
    }
    writer.finish();
    let elapsed = started.elapsed().as_micros();
    let bytes = digest.len();
    Ok(format!("bytes={bytes} digest={:016x} elapsed_us={elapsed}", digest.finish()))
}

fn read(args: &[String]) -> Result<String, String> {
    let name: String = arg(args, 2, "ring name")?;
    let index: usize = arg(args, 3, "consumer index")?;
    let wait = parse_wait(&arg::<String>(args, 4, "wait strategy")?)?;
    let ring = open(&name)?;
    let mut consumer = ring.consumer(index).map_err(|e| e.to_string())?;
    consumer.set_wait_strategy(wait);
    let mut reader = StreamReader::new(consumer);
    reader.set_read_timeout(Some(WAIT_TIMEOUT));
    let mut digest = StreamDigest::new();
    let mut started = None;
    loop {
        let chunk = reader.fill_buf().map_err(|e| format!("read from the stream: {e}"))?;
        if chunk.is_empty() {
            break;
        }
        started.get_or_insert_with(Instant::now);
        digest.update(chunk);
        let n = chunk.len();
        reader.consume(n);
    }
    let elapsed = started.map_or(0, |s| s.elapsed().as_micros());
    let bytes = digest.len();
    Ok(format!("bytes={bytes} digest={:016x} elapsed_us={elapsed}", digest.finish()))
}

fn write_then_panic(args: &[String]) -> Result<String, String> {
    let name: String = arg(args, 2, "ring name")?;
    let text: String = arg(args, 3, "text")?;
    let ring = open(&name)?;
    let producer = ring.producer().map_err(|e| e.to_string())?;
    let caught = std::panic::catch_unwind(move || {
        let mut writer = StreamWriter::new(producer);
        writer.set_write_timeout(Some(WAIT_TIMEOUT));
        writer.write_all(text.as_bytes()).expect("write to the stream");
        panic!("the writer panics with the stream open");
    });
    Ok(format!("panicked={}", u8::from(caught.is_err())))
}

fn main() -> std::process::ExitCode {
    helper_main(|args| match args.get(1).map(String::as_str) {
        Some("write") => write(args),
        Some("read") => read(args),
        Some("write-then-panic") => write_then_panic(args),
        other => Err(format!("unknown mode {other:?} (write, read, write-then-panic)")),
    })
}
