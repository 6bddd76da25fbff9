//! `channel`: a bounded crossbeam channel between threads, both sides spinning on
//! `try_send`/`try_recv` (one message per call: channels have no batch).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::baselines::Outcome;
use crate::harness::child::ready_then_go;
use crate::harness::sys::now_ns;
use crate::msg::Msg;
use crate::scenarios::RING_SLOTS;

pub fn channel_run<M: Msg>(producers: usize, per_producer: u64) -> Result<(u64, u64), String> {
    use crossbeam_channel::{TryRecvError, TrySendError};
    let total = per_producer * producers as u64;
    let (tx, rx) = crossbeam_channel::bounded::<M>(RING_SLOTS);
    let outcome = Arc::new(Outcome::default());
    let receiver = {
        let outcome = Arc::clone(&outcome);
        std::thread::spawn(move || {
            let mut next = vec![0u64; producers];
            let mut seen = 0;
            while seen < total {
                match rx.try_recv() {
                    Ok(m) => {
                        let p = if producers == 1 { 0 } else { m.producer() };
                        if next.get(p).map_or(true, |&seq| m != M::make(p as u64, seq)) {
                            // Relaxed: read after the thread is joined.
                            outcome.failed.store(true, Ordering::Relaxed);
                        } else {
                            next[p] += 1;
                        }
                        seen += 1;
                    }
                    Err(TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(TryRecvError::Disconnected) => break,
                }
            }
            // Relaxed: read after the thread is joined.
            outcome.end_ns.store(now_ns(), Ordering::Relaxed);
        })
    };
    ready_then_go()?;
    let start = now_ns();
    std::thread::scope(|s| {
        for id in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                for seq in 0..per_producer {
                    let mut m = M::make(id as u64, seq);
                    loop {
                        match tx.try_send(m) {
                            Ok(()) => break,
                            Err(TrySendError::Full(back)) => {
                                m = back;
                                std::hint::spin_loop();
                            }
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                }
            });
        }
    });
    drop(tx);
    receiver.join().map_err(|_| "the receiver thread panicked".to_string())?;
    outcome.result(start)
}
