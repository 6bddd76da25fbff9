//! Async calls (the seed's Promise API): `claim_async`, `consume_async`, `commit_async`.
//!
//! They work with any executor and never busy-poll it. A future first tries the non-blocking
//! call; if it must wait, it registers its `Waker` and a readiness check with this process's
//! *watcher* for the ring's wake line (one thread per ring and direction, started on first use).
//! The watcher sleeps on the segment's futex exactly like a `Block` waiter (see [`crate::wait`]
//! for why no wake-up is lost): it registers as a waiter, re-checks every registered condition,
//! wakes the futures whose condition holds, and sleeps until a publisher (or a committing
//! consumer) wakes it, or at most `MAX_SLEEP`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::ring::Shared;
use crate::shm::WakeLine;
use crate::wait::sleep_until_woken;

/// Which wake line a watcher serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Data published (consumers and committing producers wait on it).
    Data,
    /// Room freed (claiming producers wait on it).
    Room,
}

type Ready = Box<dyn Fn(&Shared) -> bool + Send>;

struct Registration {
    waker: Waker,
    ready: Ready,
}

/// The futures waiting on one wake line of one ring, and the thread that watches for them.
pub(crate) struct Watcher {
    registrations: Mutex<Vec<Registration>>,
    idle: Condvar,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    fn start(shared: &Arc<Shared>, line: Line) -> Arc<Watcher> {
        let watcher =
            Arc::new(Watcher { registrations: Mutex::new(Vec::new()), idle: Condvar::new() });
        let weak_shared = Arc::downgrade(shared);
        let weak_watcher = Arc::downgrade(&watcher);
        std::thread::Builder::new()
            .name("shm-disruptor-watcher".into())
            .spawn(move || watch(weak_shared, weak_watcher, line))
            .expect("spawn the async watcher thread");
        watcher
    }

    fn register(&self, waker: &Waker, ready: Ready) {
        let mut registrations = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        registrations.push(Registration { waker: waker.clone(), ready });
        self.idle.notify_one();
    }
}

/// The watcher thread: exits once the ring's last handle in this process is gone.
fn watch(shared: Weak<Shared>, watcher: Weak<Watcher>, line: Line) {
    loop {
        let (Some(shared), Some(watcher)) = (shared.upgrade(), watcher.upgrade()) else { return };
        let wake_line: &WakeLine = match line {
            Line::Data => &shared.segment.control().data_wake,
            Line::Room => &shared.segment.control().room_wake,
        };
        let registrations = watcher.registrations.lock().unwrap_or_else(|e| e.into_inner());
        if registrations.is_empty() {
            // Nothing to watch: wait for a registration (re-checking now and then whether the
            // ring is still in use by this process).
            let _ = watcher.idle.wait_timeout(registrations, Duration::from_millis(200));
            continue;
        }
        drop(registrations);
        // Async waits too must not stall on a cursor a killed producer left behind.
        shared.hot.help_advance(0);
        sleep_until_woken(wake_line, || {
            let mut registrations = watcher.registrations.lock().unwrap_or_else(|e| e.into_inner());
            let before = registrations.len();
            registrations.retain(|r| {
                let ready = (r.ready)(&shared);
                if ready {
                    r.waker.wake_by_ref();
                }
                !ready
            });
            registrations.len() < before || registrations.is_empty()
        });
    }
}

impl Shared {
    pub(crate) fn watcher(self: &Arc<Self>, line: Line) -> &Watcher {
        let cell = match line {
            Line::Data => &self.data_watcher,
            Line::Room => &self.room_watcher,
        };
        cell.get_or_init(|| Watcher::start(self, line))
    }
}

/// Polls `attempt`; when it is not ready, registers `ready` with the watcher of `line` and
/// tries once more (a wake-up between the two attempts is then caught by the watcher's check).
pub(crate) fn poll_with<R>(
    shared: &Arc<Shared>,
    line: Line,
    cx: &mut Context<'_>,
    mut attempt: impl FnMut() -> Option<R>,
    ready: impl Fn(&Shared) -> bool + Send + 'static,
) -> Poll<R> {
    if let Some(result) = attempt() {
        return Poll::Ready(result);
    }
    shared.watcher(line).register(cx.waker(), Box::new(ready));
    match attempt() {
        Some(result) => Poll::Ready(result),
        None => Poll::Pending,
    }
}

/// The slowest gating consumer's sequence (`u64::MAX` when all are released).
pub(crate) fn slowest_gating(shared: &Shared) -> u64 {
    shared
        .gating
        .iter()
        // Acquire pairs with the consumers' Release stores of their sequences.
        .map(|&c| shared.segment.consumer_sequence(c).load(Ordering::Acquire))
        .min()
        .unwrap_or(u64::MAX)
}
