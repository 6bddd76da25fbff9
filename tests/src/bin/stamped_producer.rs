//! Helper for the many-to-many tests: `stamped_producer NAME ID COUNT MODE WAIT` opens the
//! [`Stamped`] ring `NAME` and writes messages `0..COUNT` of producer `ID`, claiming per `MODE`
//! (`single`, `many:N`, `available:N`) and waiting per `WAIT` (`yield`, `backoff`, `block`).
//! Prints `observed=S first_claim=F messages=N sum=D`: the ring's claim sequence read before
//! attaching, the first sequence it claimed, which must not be below it, and the wrapping sum of
//! [`Stamped::digest`] over the messages it wrote.

use shm_disruptor::Disruptor;
use shm_disruptor_tests::{arg, helper_main, parse_wait, produce_stamped, ClaimMode, Stamped};

fn main() -> std::process::ExitCode {
    helper_main(|args| {
        let name: String = arg(args, 1, "ring name")?;
        let id: u32 = arg(args, 2, "producer id")?;
        let count: u64 = arg(args, 3, "message count")?;
        let mode: ClaimMode = arg(args, 4, "claim mode")?;
        let wait = parse_wait(&arg::<String>(args, 5, "wait strategy")?)?;
        let ring = Disruptor::<Stamped>::open(&name).map_err(|e| e.to_string())?;
        let observed = ring.claim_sequence();
        let sent = produce_stamped(&ring, id, count, mode, wait)?;
        let first = sent.first_claim.unwrap_or(observed);
        if first < observed {
            return Err(format!(
                "producer {id} claimed sequence {first}, below the claim sequence {observed} seen before"
            ));
        }
        Ok(format!("observed={observed} first_claim={first} messages={count} sum={}", sent.sum))
    })
}
