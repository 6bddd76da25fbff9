//! The cross-core probe: before every measured run, two threads ping-pong an atomic;
//! `probe_ns` is the one-way handoff (the placement of the vCPUs, on a shared machine).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::harness::config::Config;
use crate::harness::sys::{pin_to, spin_until};

/// Round trips of the cross-core probe, and its time cap.
pub const PROBE_ROUNDS: u64 = 100_000;

pub const PROBE_CAP: Duration = Duration::from_millis(250);

/// An atomic alone on a 128-byte line (adjacent-line prefetch pairs 64-byte lines).
#[repr(C, align(128))]
pub struct PaddedAtomic(AtomicU64);

/// One-way handoff time between two threads ping-ponging an atomic, in ns.
pub fn probe(cfg: &Config) -> f64 {
    let ping = PaddedAtomic(AtomicU64::new(0));
    let pong = PaddedAtomic(AtomicU64::new(0));
    let (ping, pong) = (&ping.0, &pong.0);
    std::thread::scope(|s| {
        s.spawn(|| {
            pin_to(cfg.cpu(1).as_slice());
            let mut seen = 0;
            loop {
                let mut v = 0;
                // Acquire: pairs with the Release store of `ping` by the other thread (a handoff
                // like a ring's, though the value is all that is read).
                spin_until(|| {
                    v = ping.load(Ordering::Acquire);
                    v != seen
                });
                if v == u64::MAX {
                    break;
                }
                seen = v;
                // Release: pairs with the Acquire load of `pong` below.
                pong.store(v, Ordering::Release);
            }
        });
        let pinger = s.spawn(|| {
            pin_to(cfg.cpu(0).as_slice());
            let start = Instant::now();
            let mut rounds = 0;
            while rounds < PROBE_ROUNDS {
                rounds += 1;
                // Release: pairs with the Acquire load of `ping` by the ponger.
                ping.store(rounds, Ordering::Release);
                // Acquire: pairs with the Release store of `pong` by the ponger.
                spin_until(|| pong.load(Ordering::Acquire) == rounds);
                if rounds % 256 == 0 && start.elapsed() > PROBE_CAP {
                    break;
                }
            }
            let elapsed = start.elapsed();
            // Release: pairs with the ponger's Acquire load; tells it to stop.
            ping.store(u64::MAX, Ordering::Release);
            elapsed.as_nanos() as f64 / rounds as f64 / 2.0
        });
        pinger.join().expect("probe thread panicked")
    })
}
