//! `disruptor-crate` and `disruptor-crate-batch`: the `disruptor` crate (nicholassm/disruptor-rs),
//! threads in one process, `BusySpin`, `publish` / `batch_publish`; and its multi-producer in
//! `mpsc-threads-*`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::baselines::Outcome;
use crate::harness::child::ready_then_go;
use crate::harness::sys::now_ns;
use crate::msg::Msg;
use crate::scenarios::window::{window_run, WindowCheck, WINDOW_END};
use crate::scenarios::RING_SLOTS;
use crate::wire::Report;

/// A disruptor-crate event handler checking every message and recording when all `total` came.
pub fn crate_handler<M: Msg>(
    producers: usize,
    total: u64,
    outcome: &Arc<Outcome>,
) -> impl FnMut(&M, i64, bool) + Send + 'static {
    let outcome = Arc::clone(outcome);
    let mut next = vec![0u64; producers];
    let mut seen = 0u64;
    move |m: &M, _sequence: i64, _end_of_batch: bool| {
        let p = if producers == 1 { 0 } else { m.producer() };
        if next.get(p).map_or(true, |&seq| *m != M::make(p as u64, seq)) {
            // Relaxed: read after the thread is joined.
            outcome.failed.store(true, Ordering::Relaxed);
        } else {
            next[p] += 1;
        }
        seen += 1;
        if seen == total {
            // Relaxed: read after the thread is joined.
            outcome.end_ns.fetch_max(now_ns(), Ordering::Relaxed);
        }
    }
}

pub fn crate_publish<M: Msg, P: disruptor::Producer<M>>(
    producer: &mut P,
    id: u64,
    msgs: u64,
    batch: usize,
) {
    if batch <= 1 {
        for seq in 0..msgs {
            producer.publish(|e| *e = M::make(id, seq));
        }
    } else {
        let mut seq = 0;
        while seq < msgs {
            let n = (msgs - seq).min(batch as u64) as usize;
            producer.batch_publish(n, |events| {
                for e in events {
                    *e = M::make(id, seq);
                    seq += 1;
                }
            });
        }
    }
}

pub fn crate_run<M: Msg>(
    producers: usize,
    consumers: usize,
    per_producer: u64,
    batch: usize,
) -> Result<(u64, u64), String> {
    use disruptor::BusySpin;
    let total = per_producer * producers as u64;
    let outcome = Arc::new(Outcome::default());
    let factory = || M::make(0, 0);
    let handler = || crate_handler::<M>(producers, total, &outcome);
    let start;
    if producers == 1 && consumers == 1 {
        let mut producer = disruptor::build_single_producer(RING_SLOTS, factory, BusySpin)
            .handle_events_with(handler())
            .build();
        ready_then_go()?;
        start = now_ns();
        crate_publish(&mut producer, 0, per_producer, batch);
        drop(producer); // joins the handler thread once it has processed everything
    } else {
        let builder = disruptor::build_multi_producer(RING_SLOTS, factory, BusySpin);
        start = match consumers {
            1 => crate_multi_publish(
                builder.handle_events_with(handler()).build(),
                per_producer,
                batch,
                producers,
            )?,
            2 => crate_multi_publish(
                builder.handle_events_with(handler()).handle_events_with(handler()).build(),
                per_producer,
                batch,
                producers,
            )?,
            n => return Err(format!("{n} consumers are not set up for the disruptor crate")),
        };
    }
    outcome.result(start)
}

/// Publishes from `producers` threads, each with a clone of `producer`; returns the start time.
pub fn crate_multi_publish<M: Msg, P: disruptor::Producer<M> + Clone + Send>(
    producer: P,
    per_producer: u64,
    batch: usize,
    producers: usize,
) -> Result<u64, String> {
    ready_then_go()?;
    let start = now_ns();
    std::thread::scope(|s| {
        for id in 0..producers {
            let mut producer = producer.clone();
            s.spawn(move || crate_publish(&mut producer, id as u64, per_producer, batch));
        }
    });
    drop(producer); // the last handle: joins the handler threads once they have seen everything
    Ok(start)
}

/// `mpsc-threads-*` with the `disruptor` crate: `producers` threads with clones of a
/// multi-producer (`try_publish`, yielding when full), one busy-spinning handler thread that
/// checks as [`WindowCheck`] does.
pub fn crate_window(producers: usize, window: Duration) -> Result<Report, String> {
    use disruptor::{BusySpin, Producer as _};
    #[derive(Default)]
    struct Seen {
        failed: AtomicBool,
        counts: std::sync::Mutex<Vec<u64>>,
    }
    let seen = Arc::new(Seen::default());
    let handler = {
        let seen = Arc::clone(&seen);
        let mut check = WindowCheck::new(producers);
        move |m: &u64, _sequence: i64, _end_of_batch: bool| {
            if check.take(*m).is_err() {
                // Relaxed: read after the handler thread is joined.
                seen.failed.store(true, Ordering::Relaxed);
            } else if check.done() {
                *seen.counts.lock().unwrap_or_else(|e| e.into_inner()) = check.next.clone();
            }
        }
    };
    let producer = disruptor::build_multi_producer(RING_SLOTS, || 0u64, BusySpin)
        .handle_events_with(handler)
        .build();
    let handles: Vec<_> = (0..producers).map(|_| producer.clone()).collect();
    drop(producer);
    // The last handle, dropped by its thread, joins the handler once it has seen everything.
    let measured = window_run(handles, window, |mut producer, id, stop| {
        let mut seq = 0u64;
        // Relaxed: see `window_run`.
        while !stop.load(Ordering::Relaxed) {
            match producer.try_publish(|e| *e = u64::make(id, seq)) {
                Ok(_) => seq += 1,
                Err(_) => std::thread::yield_now(),
            }
        }
        while producer.try_publish(|e| *e = u64::make(id, WINDOW_END)).is_err() {
            std::thread::yield_now();
        }
        Ok(seq)
    })?;
    // Relaxed: the handler thread has been joined.
    if seen.failed.load(Ordering::Relaxed) {
        return Err("the handler saw a message out of order".into());
    }
    let got = seen.counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if got != measured.counts {
        return Err(format!("published {:?}, the handler counted {got:?}", measured.counts));
    }
    Ok(measured.report())
}
