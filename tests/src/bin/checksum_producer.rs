//! Helper for the many-to-many tests: `checksum_producer NAME ID COUNT MODE WAIT` opens the
//! [`Msg256`] ring `NAME`, writes `COUNT` messages of random bytes (seeded from `ID`), claiming per
//! `MODE` (`single`, `many:N`, `available:N`) and waiting per `WAIT` (`yield`, `backoff`,
//! `block`), and prints their checksum.

use shm_disruptor::Disruptor;
use shm_disruptor_tests::{arg, helper_main, parse_wait, produce_random, ClaimMode, Msg256};

fn main() -> std::process::ExitCode {
    helper_main(|args| {
        let name: String = arg(args, 1, "ring name")?;
        let id: u32 = arg(args, 2, "producer id")?;
        let count: u64 = arg(args, 3, "message count")?;
        let mode: ClaimMode = arg(args, 4, "claim mode")?;
        let wait = parse_wait(&arg::<String>(args, 5, "wait strategy")?)?;
        let ring = Disruptor::<Msg256>::open(&name).map_err(|e| e.to_string())?;
        Ok(produce_random(&ring, id, count, mode, wait)?.to_string())
    })
}
