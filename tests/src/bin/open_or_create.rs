//! Helper for the open-or-create race: `open_or_create NAME ID GO_NS` waits until the Unix
//! time `GO_NS` (nanoseconds; every process of a race gets the same), then calls
//! `Builder::open_or_create` on the `u64` ring `NAME` (64 slots, one consumer, multi-producer),
//! publishes `ID`, and prints `ok`.

use shm_disruptor::Disruptor;
use shm_disruptor_tests::{arg, helper_main};

fn main() -> std::process::ExitCode {
    helper_main(|args| {
        let name: String = arg(args, 1, "ring name")?;
        let id: u64 = arg(args, 2, "id")?;
        let go: u128 = arg(args, 3, "start time, ns since the Unix epoch")?;
        let now = || std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos());
        // Spin, not sleep: the processes of a race should call within microseconds.
        while now() < go {
            std::hint::spin_loop();
        }
        let ring = Disruptor::<u64>::builder(&name)
            .capacity(64)
            .consumers(1)
            .multi_producer()
            .open_or_create()
            .map_err(|e| e.to_string())?;
        let mut producer = ring.producer().map_err(|e| e.to_string())?;
        let mut claim = producer.claim().map_err(|e| e.to_string())?;
        *claim = id;
        claim.commit();
        Ok("ok".into())
    })
}
