//! Helper for the many-to-many tests: `stamped_consumer NAME INDEX START FIRSTS FINALS WAIT`
//! opens the [`Stamped`] ring `NAME` as consumer `INDEX` and checks that it attaches at sequence
//! `START` and then reads, for each producer `p`, its messages `FIRSTS[p]..FINALS[p]`
//! (comma-separated lists) exactly once, in order, with intact payloads, waiting per `WAIT`
//! (`yield`, `backoff`, `block`). Prints `verdict=ok ...`, or the first violation on stderr with
//! exit status 1.

use shm_disruptor::Disruptor;
use shm_disruptor_tests::{
    arg, consume_stamped, helper_main, parse_list, parse_wait, Stamped, StampedPlan,
};

fn main() -> std::process::ExitCode {
    helper_main(|args| {
        let name: String = arg(args, 1, "ring name")?;
        let index: usize = arg(args, 2, "consumer index")?;
        let start: u64 = arg(args, 3, "start sequence")?;
        let firsts = parse_list(&arg::<String>(args, 4, "first sequences")?)?;
        let finals = parse_list(&arg::<String>(args, 5, "final sequences")?)?;
        if firsts.len() != finals.len() || firsts.iter().zip(&finals).any(|(f, e)| f > e) {
            return Err(format!("bad plan: firsts {firsts:?}, finals {finals:?}"));
        }
        let wait = parse_wait(&arg::<String>(args, 6, "wait strategy")?)?;
        let ring = Disruptor::<Stamped>::open(&name).map_err(|e| e.to_string())?;
        consume_stamped(&ring, index, &StampedPlan { start, firsts, finals }, wait)
    })
}
