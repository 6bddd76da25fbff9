//! Helper for the many-to-many tests: `checksum_consumer NAME INDEX COUNT WAIT` opens the
//! [`Msg256`] ring `NAME`, reads `COUNT` messages as consumer `INDEX`, waiting per `WAIT`
//! (`yield`, `backoff`, `block`), and prints their checksum.

use shm_disruptor::Disruptor;
use shm_disruptor_tests::{arg, consume_checksum, helper_main, parse_wait, Msg256};

fn main() -> std::process::ExitCode {
    helper_main(|args| {
        let name: String = arg(args, 1, "ring name")?;
        let index: usize = arg(args, 2, "consumer index")?;
        let count: u64 = arg(args, 3, "message count")?;
        let wait = parse_wait(&arg::<String>(args, 4, "wait strategy")?)?;
        let ring = Disruptor::<Msg256>::open(&name).map_err(|e| e.to_string())?;
        Ok(consume_checksum(&ring, index, count, wait)?.to_string())
    })
}
