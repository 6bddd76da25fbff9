//! A consumer process for the wait-strategy tests.
//!
//! `wait_actor NAME INDEX STRATEGY COUNT TIMEOUT_MS`: consumer `INDEX` of a ring of `u64`
//! values, waiting with `STRATEGY` (`busy-spin`, `yield`, `backoff`, `block`). Prints `READY`,
//! then reads `COUNT` messages, checking that each equals its sequence, waiting at most
//! `TIMEOUT_MS` for each batch, and prints `DONE <sum>`, or `TIMEOUT <read>` when a wait
//! expires, or `BAD <seq> <value>` on a wrong message (exit code 2).

use std::io::Write;
use std::time::Duration;

use shm_disruptor::{Disruptor, WaitStrategy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, index, strategy, count, timeout_ms] = args.as_slice() else {
        return Err("usage: wait_actor NAME INDEX STRATEGY COUNT TIMEOUT_MS".into());
    };
    let strategy = match strategy.as_str() {
        "busy-spin" => WaitStrategy::BusySpin,
        "yield" => WaitStrategy::Yield,
        "backoff" => WaitStrategy::Backoff,
        "block" => WaitStrategy::Block,
        other => return Err(format!("unknown strategy {other}").into()),
    };
    let (count, timeout): (u64, u64) = (count.parse()?, timeout_ms.parse()?);
    let ring = Disruptor::<u64>::open(name)?;
    let mut consumer = ring.consumer(index.parse()?)?;
    consumer.set_wait_strategy(strategy);
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY")?;
    out.flush()?;
    let (mut read, mut sum) = (0u64, 0u64);
    while read < count {
        let Ok(batch) = consumer.consume_timeout(Duration::from_millis(timeout)) else {
            writeln!(out, "TIMEOUT {read}")?;
            return Ok(());
        };
        for (seq, &value) in batch.range().zip(batch.iter()) {
            if value != seq {
                writeln!(out, "BAD {seq} {value}")?;
                std::process::exit(2);
            }
            sum = sum.wrapping_add(value);
        }
        read += batch.len() as u64;
        batch.commit();
    }
    writeln!(out, "DONE {sum}")?;
    Ok(())
}
