//! A participant that stops at a chosen point so that a test can `SIGKILL` it there.
//!
//! Each role prints one line saying where it stopped, then hangs (for at most two minutes, so
//! that it cannot outlive a test harness that failed to kill it). Messages are `u64` values
//! equal to their sequence.
//!
//! - `consume-then-hang NAME INDEX COMMIT_N`: consumer `INDEX` commits the first `COMMIT_N`
//!   messages, then takes the next batch without committing it: prints `BATCH <start> <len>`.
//! - `claim-then-hang NAME COMMIT_N CLAIM_K`: a producer commits `COMMIT_N` messages, then claims
//!   `CLAIM_K` slots, writes them, and does not commit: prints `CLAIMED <start> <end>`.
//! - `sleep-consume NAME INDEX`: consumer `INDEX` with the `Block` strategy waits for data:
//!   prints `WAITING` and sleeps in the kernel.
//! - `open-then-hang NAME`: opens the ring and holds it mapped, with no handle: prints `OPENED`.
//! - `create-then-hang NAME`: does what a creator does up to sizing the segment, then stops
//!   before writing the header: prints `CREATED`.

use std::time::Duration;

use shm_disruptor::{Disruptor, WaitStrategy};
use shm_disruptor_tests::say;

const LIMIT: Duration = Duration::from_secs(60);

fn hang() -> ! {
    shm_disruptor_tests::hang("crash_actor")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<u64, Box<dyn std::error::Error>> {
        Ok(args.get(i).ok_or("missing argument")?.parse()?)
    };
    let name = args.get(1).ok_or("missing ring name")?;
    match args.first().map(String::as_str) {
        Some("consume-then-hang") => {
            let ring = Disruptor::<u64>::open(name)?;
            let mut consumer = ring.consumer(arg(2)? as usize)?;
            consumer.set_wait_strategy(WaitStrategy::Yield);
            let commit_n = arg(3)?;
            while consumer.sequence() < commit_n {
                let batch = consumer.consume_timeout(LIMIT)?;
                let take = (commit_n - batch.start()).min(batch.len() as u64) as usize;
                batch.commit_first(take);
            }
            let batch = consumer.consume_timeout(LIMIT)?;
            say(&format!("BATCH {} {}", batch.start(), batch.len()));
            hang()
        }
        Some("claim-then-hang") => {
            let ring = Disruptor::<u64>::open(name)?;
            let mut producer = ring.producer()?;
            producer.set_wait_strategy(WaitStrategy::Yield);
            for _ in 0..arg(2)? {
                let mut claim = producer.claim_timeout(LIMIT)?;
                *claim = claim.sequence();
                claim.commit();
            }
            let mut batch = producer.claim_many_timeout(arg(3)? as usize, LIMIT)?;
            let start = batch.start();
            for (i, v) in batch.iter_mut().enumerate() {
                *v = start + i as u64;
            }
            // Hang with the claim held, as a producer killed between claim and commit does.
            say(&format!("CLAIMED {} {}", batch.start(), batch.start() + batch.len() as u64));
            hang()
        }
        Some("sleep-consume") => {
            let ring = Disruptor::<u64>::open(name)?;
            let mut consumer = ring.consumer(arg(2)? as usize)?;
            consumer.set_wait_strategy(WaitStrategy::Block);
            say("WAITING");
            let batch = consumer.consume_timeout(LIMIT)?;
            say(&format!("GOT {}", batch.len()));
            hang()
        }
        Some("open-then-hang") => {
            let _ring = Disruptor::<u64>::open(name)?;
            say("OPENED");
            hang()
        }
        Some("create-then-hang") => {
            use rustix::fs::Mode;
            use rustix::shm;
            let fd = shm::open(
                name.as_str(),
                shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
                Mode::from_bits_truncate(0o600),
            )?;
            std::fs::File::from(fd).set_len(64 * 1024)?;
            say("CREATED");
            hang()
        }
        other => Err(format!("unknown role {other:?}").into()),
    }
}
