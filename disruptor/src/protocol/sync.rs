//! The atomics, locks and thread primitives the protocol uses: `std`'s, or loom's under
//! `--cfg loom`, so that the code that ships is the code that is model-checked (as tokio's
//! `loom` module and crossbeam do). Nothing else in the crate names `std::sync::atomic`.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    compiler_fence, fence, AtomicI32, AtomicU32, AtomicU64, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// loom does not reorder a thread's own accesses, so a compiler fence has nothing to model.
#[cfg(loom)]
pub(crate) fn compiler_fence(_: Ordering) {}

/// A spin-loop hint; under loom, a point where another thread may run (a spin loop that never
/// yields would never end in a model).
#[inline(always)]
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Gives the CPU away.
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Sleeps; under loom, yields (a model has no clock).
pub(crate) fn sleep(duration: std::time::Duration) {
    #[cfg(not(loom))]
    std::thread::sleep(duration);
    #[cfg(loom)]
    {
        let _ = duration;
        loom::thread::yield_now();
    }
}

/// Locks `mutex`, whether or not a panic poisoned it (every critical section of the protocol
/// leaves its data consistent: each is a single insertion, removal or copy).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
