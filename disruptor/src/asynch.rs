//! Async calls (the seed's Promise API): `claim_async`, `consume_async`, `commit_async`.
//!
//! They work with any executor and never busy-poll it. A future first tries the non-blocking
//! call; if it must wait, it registers its `Waker` and a readiness check with this process's
//! *watcher* for the ring's wake line (one thread per ring and direction, started on first use).
//! The watcher sleeps on the segment's futex exactly like a `Block` waiter (see
//! [`FenceMode`](crate::FenceMode) for why no wake-up is lost): it registers as a waiter,
//! re-checks every registered condition, wakes the futures whose condition holds, and sleeps
//! until a publisher (or a committing consumer) wakes it, or at most `MAX_SLEEP`.
//!
//! A future holds at most one registration ([`AsyncWait`]): polling it again only replaces the
//! waker, and dropping it (completed or cancelled, as in a `select!` loop) removes the
//! registration, so nothing accumulates however often futures are polled and dropped.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::protocol::layout::WakeLine;
use crate::protocol::wait::sleep_until_woken;
use crate::protocol::Core;

/// What a watcher watches: one process's state of one ring (the typed layer's `Shared`). A
/// trait, so that this module depends on the protocol core only, not on the handles above it.
pub(crate) trait Watched: Send + Sync + 'static {
    /// The ring's protocol core.
    fn core(&self) -> &Core;
    /// The ring's watchers in this process.
    fn watchers(&self) -> &Watchers;
}

/// The watchers of one ring in this process, one per wake line, started on first use.
#[derive(Default)]
pub(crate) struct Watchers {
    data: Mutex<Option<Arc<Watcher>>>,
    room: Mutex<Option<Arc<Watcher>>>,
}

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers").finish_non_exhaustive()
    }
}

/// Which wake line a watcher serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Data published (consumers and committing producers wait on it).
    Data,
    /// Room freed (claiming producers wait on it).
    Room,
}

type Ready = Box<dyn Fn(&Core) -> bool + Send>;

struct Registration {
    id: u64,
    waker: Waker,
    ready: Ready,
    /// Woken since it was last (re-)armed: the watcher skips it until its future polls again.
    woken: bool,
}

#[derive(Default)]
struct Registrations {
    list: Vec<Registration>,
    next_id: u64,
}

/// The futures waiting on one wake line of one ring, and the thread that watches for them.
pub(crate) struct Watcher {
    registrations: Mutex<Registrations>,
    idle: Condvar,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    fn start(shared: Weak<dyn Watched>, line: Line) -> io::Result<Arc<Watcher>> {
        let watcher = Arc::new(Watcher {
            registrations: Mutex::new(Registrations::default()),
            idle: Condvar::new(),
        });
        let weak_watcher = Arc::downgrade(&watcher);
        std::thread::Builder::new()
            .name("shm-disruptor-watcher".into())
            .spawn(move || watch(shared, weak_watcher, line))?;
        Ok(watcher)
    }

    fn lock(&self) -> MutexGuard<'_, Registrations> {
        // Every update is a single push, swap or removal: a panic cannot leave it half-done.
        self.registrations.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, waker: &Waker, ready: Ready) -> u64 {
        let mut registrations = self.lock();
        let id = registrations.next_id;
        registrations.next_id += 1;
        registrations.list.push(Registration { id, waker: waker.clone(), ready, woken: false });
        self.idle.notify_one();
        id
    }

    /// A future that registered polls again and must still wait: keeps its registration, with
    /// the waker and the readiness check of this poll (which may look at newer state).
    fn rearm(&self, id: u64, waker: &Waker, ready: Ready) {
        let mut registrations = self.lock();
        if let Some(r) = registrations.list.iter_mut().find(|r| r.id == id) {
            if !r.waker.will_wake(waker) {
                r.waker = waker.clone();
            }
            r.ready = ready;
            r.woken = false;
            self.idle.notify_one();
        }
    }

    fn remove(&self, id: u64) {
        let mut registrations = self.lock();
        if let Some(i) = registrations.list.iter().position(|r| r.id == id) {
            registrations.list.swap_remove(i);
        }
    }

    /// How many registrations are held (for tests of the bound).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().list.len()
    }
}

/// The watcher thread: exits once the ring's last handle in this process is gone.
fn watch(shared: Weak<dyn Watched>, watcher: Weak<Watcher>, line: Line) {
    loop {
        let (Some(shared), Some(watcher)) = (shared.upgrade(), watcher.upgrade()) else { return };
        let core = shared.core();
        let wake_line: &WakeLine = match line {
            Line::Data => core.ring.data_wake(),
            Line::Room => core.ring.room_wake(),
        };
        let registrations = watcher.lock();
        if registrations.list.iter().all(|r| r.woken) {
            // Nothing to watch (or every future is woken and yet to poll again): wait for a
            // registration, re-checking now and then whether the ring is still in use here.
            let _ = watcher.idle.wait_timeout(registrations, Duration::from_millis(200));
            continue;
        }
        drop(registrations);
        let fence_fallback = core.ring.fence_fallback;
        sleep_until_woken(
            wake_line,
            || {
                let mut registrations = watcher.lock();
                let mut any = false;
                for r in registrations.list.iter_mut().filter(|r| !r.woken) {
                    if (r.ready)(core) {
                        r.waker.wake_by_ref();
                        r.woken = true;
                        any = true;
                    }
                }
                any || registrations.list.iter().all(|r| r.woken)
            },
            fence_fallback,
        );
    }
}

/// The watcher of `line` for `shared`, started on first use; the error kind when its thread
/// could not be started (a later call tries again).
fn watcher<S: Watched>(shared: &Arc<S>, line: Line) -> Result<Arc<Watcher>, io::ErrorKind> {
    let watchers = shared.watchers();
    let cell = match line {
        Line::Data => &watchers.data,
        Line::Room => &watchers.room,
    };
    let mut slot = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(watcher) = slot.as_ref() {
        return Ok(Arc::clone(watcher));
    }
    let shared: Arc<dyn Watched> = Arc::clone(shared) as Arc<dyn Watched>;
    let watcher = Watcher::start(Arc::downgrade(&shared), line).map_err(|e| e.kind())?;
    *slot = Some(Arc::clone(&watcher));
    Ok(watcher)
}

/// One future's (or one async stream's) wait: at most one registration with a watcher,
/// removed when this is dropped or the wait ends.
#[derive(Default)]
pub(crate) struct AsyncWait {
    registered: Option<(Arc<Watcher>, u64)>,
}

impl std::fmt::Debug for AsyncWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWait").field("registered", &self.registered.is_some()).finish()
    }
}

impl Drop for AsyncWait {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl AsyncWait {
    fn unregister(&mut self) {
        if let Some((watcher, id)) = self.registered.take() {
            watcher.remove(id);
        }
    }

    /// Polls `attempt`; when it is not ready, registers `ready` with the watcher of `line` (or
    /// re-arms the registration this wait already has) and tries once more: a wake-up between
    /// the two attempts is then caught by the watcher's check. `Err` when the watcher thread
    /// could not be started. The registration ends when an attempt succeeds.
    pub(crate) fn poll<R, S: Watched>(
        &mut self,
        shared: &Arc<S>,
        line: Line,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut() -> Option<R>,
        ready: impl Fn(&Core) -> bool + Send + 'static,
    ) -> Poll<Result<R, io::ErrorKind>> {
        if let Some(result) = attempt() {
            self.unregister();
            return Poll::Ready(Ok(result));
        }
        match &self.registered {
            Some((watcher, id)) => watcher.rearm(*id, cx.waker(), Box::new(ready)),
            None => match watcher(shared, line) {
                Ok(watcher) => {
                    let id = watcher.register(cx.waker(), Box::new(ready));
                    self.registered = Some((watcher, id));
                }
                Err(kind) => return Poll::Ready(Err(kind)),
            },
        }
        match attempt() {
            Some(result) => {
                self.unregister();
                Poll::Ready(Ok(result))
            }
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn a_wait_holds_one_registration_and_drops_it() {
        let watcher = Arc::new(Watcher {
            registrations: Mutex::new(Registrations::default()),
            idle: Condvar::new(),
        });
        let waker = Waker::from(Arc::new(Noop));
        for _ in 0..1000 {
            let id = watcher.register(&waker, Box::new(|_| false));
            let mut wait = AsyncWait { registered: Some((Arc::clone(&watcher), id)) };
            for _ in 0..3 {
                watcher.rearm(id, &waker, Box::new(|_| false));
            }
            assert_eq!(watcher.len(), 1);
            wait.unregister();
            assert_eq!(watcher.len(), 0);
            drop(wait);
        }
    }
}
