//! Wait strategies: how a handle waits for data (consumer) or room (producer).
//!
//! # Blocking without lost wake-ups, and without a syscall or fence on the hot path
//!
//! A `Block` waiter sleeps on a futex word in the shared segment ([`WakeLine`]); the other side
//! wakes it after it publishes (or frees room). The classic race is the store-load pair:
//!
//! - waiter:   `waiters += 1`, then re-read the condition (e.g. the cursor), then sleep;
//! - notifier: store the condition (e.g. the cursor), then read `waiters`, wake if non-zero.
//!
//! If both loads could be satisfied before the other side's store is visible (x86 store buffers
//! allow exactly that), the waiter would sleep on a condition that already holds and the
//! notifier would skip the wake-up. A `SeqCst` fence on both sides forbids it, but a fence on
//! every publish costs more than the publish itself. Instead we use an *asymmetric* fence: the
//! notifier has only a compiler fence, and the waiter, which is about to sleep anyway, calls
//! `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which makes every running thread of every
//! process registered for it (all our handles register) execute a full memory barrier before
//! the call returns. Then:
//!
//! 1. the waiter increments `waiters` (SeqCst), then runs the membarrier;
//! 2. every notifier thread passes a full barrier at some point B during that call; if its
//!    condition store came before B, the store is visible to the waiter's re-check in step 3;
//!    otherwise its later load of `waiters` comes after B, which is after step 1, so it sees
//!    `waiters > 0` and wakes;
//! 3. the waiter reads the futex word `v`, re-checks the condition, and only then calls
//!    `FUTEX_WAIT(v)`; a wake-up that bumped the futex word after step 3's read makes the kernel
//!    return at once (the word no longer holds `v`), so a wake between re-check and sleep is not
//!    lost either.
//!
//! Where the kernel lacks `membarrier` (older than 4.16, or a sandbox that filters it), every
//! process on that kernel falls back alike: notifiers issue a `SeqCst` fence before reading
//! `waiters`, and waiters a `SeqCst` fence after incrementing it.
//!
//! A waiter killed while asleep leaves `waiters` one too high: notifiers then make one needless
//! wake syscall per publish until the count is corrected, which costs speed, never correctness.
//! The futex waits are also bounded (at most [`MAX_SLEEP`]) so that a waiter notices released
//! consumers or dead peers without anyone waking it.

use std::sync::atomic::{compiler_fence, fence, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::thread::futex;

use crate::shm::WakeLine;

/// How a handle waits when it must (consumer: nothing to read; producer: no room).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin with `core::hint::spin_loop`: lowest latency, burns a core while waiting.
    BusySpin,
    /// Spin briefly, then `yield` the CPU between checks.
    Yield,
    /// Spin, then yield, then sleep for growing intervals up to 1 ms: low CPU, higher latency.
    #[default]
    Backoff,
    /// Spin briefly, then sleep in the kernel on a futex in the segment until woken by the other
    /// side: (near) zero CPU while idle, a wake-up syscall only when someone sleeps.
    Block,
}

/// The longest a blocked waiter sleeps before re-checking on its own.
pub const MAX_SLEEP: Duration = Duration::from_millis(100);

const SPIN_LIMIT: u32 = 64;
const YIELD_LIMIT: u32 = SPIN_LIMIT + 64;
/// `Block` yields only briefly before it sleeps: each yield is a syscall, and 64 of them cost
/// ~45 µs of CPU per wait (measured by the `wakeup` benchmark) for no latency gain over the futex.
const BLOCK_YIELD_LIMIT: u32 = SPIN_LIMIT + 8;

/// How notifiers order their condition store before their load of `waiters`: not yet decided,
/// with a compiler fence (waiters use `membarrier`), or with a `SeqCst` fence (no `membarrier`).
/// Decided once per process; every process on one kernel decides alike.
static FENCE_MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);
const MODE_UNKNOWN: u8 = 0;
const MODE_MEMBARRIER: u8 = 1;
const MODE_FENCE: u8 = 2;

/// Whether waiters can rely on `membarrier` (registering this process for it on first use).
fn membarrier_ready() -> bool {
    match FENCE_MODE.load(Ordering::Relaxed) {
        MODE_MEMBARRIER => true,
        MODE_FENCE => false,
        _ => decide_fence_mode(),
    }
}

#[cold]
fn decide_fence_mode() -> bool {
    static DECIDED: OnceLock<bool> = OnceLock::new();
    let ready = *DECIDED.get_or_init(|| {
        let ready =
            rustix::thread::membarrier(rustix::thread::MembarrierCommand::RegisterGlobalExpedited)
                .is_ok();
        FENCE_MODE.store(if ready { MODE_MEMBARRIER } else { MODE_FENCE }, Ordering::Relaxed);
        ready
    });
    ready
}

/// Registers this process for expedited membarriers. Every handle calls it when created, so
/// that a waiter in another process can make our notifying threads pass a barrier.
/// Returns whether notifiers must issue a `SeqCst` fence (no membarrier on this kernel): the
/// decision is made once per process, so handles may cache it.
pub fn register_process() -> bool {
    !membarrier_ready()
}

/// Called by a notifier after the store that a waiter may wait for (cursor or consumer sequence).
#[inline(always)]
pub fn notify(line: &WakeLine) {
    notify_with(line, FENCE_MODE.load(Ordering::Relaxed) != MODE_MEMBARRIER);
}

/// [`notify`] with the fence mode given: `fence_fallback` as [`register_process`] returned it
/// (a handle caches it, which saves the hot path a load of the global).
#[inline(always)]
pub fn notify_with(line: &WakeLine, fence_fallback: bool) {
    // The waiter's membarrier supplies the full barrier (see the module docs); this only keeps
    // the compiler from moving the `waiters` load above the condition store.
    compiler_fence(Ordering::SeqCst);
    let waiters = line.waiters.load(Ordering::Relaxed);
    // One test for both rare cases: sleepers, or no membarrier (the load above is then too
    // early, and `notify_slow` loads again after a fence).
    if (waiters | fence_fallback as u32) != 0 {
        notify_slow(line, fence_fallback);
    }
}

/// `notify_with` when someone may sleep, or when this process has no membarrier.
#[cold]
#[inline(never)]
fn notify_slow(line: &WakeLine, fence_fallback: bool) {
    if fence_fallback {
        // Pairs with the fence after `waiters.fetch_add` in `sleep_on`. (Handles register the
        // process when they are created, so the mode is decided before any notify.)
        fence(Ordering::SeqCst);
        if line.waiters.load(Ordering::Relaxed) == 0 {
            return;
        }
    }
    // Release: the waiter's Acquire load of `futex` then observes a value other than the one it
    // saw before re-checking, so a FUTEX_WAIT that starts after this returns at once.
    line.futex.fetch_add(1, Ordering::Release);
    let _ = futex::wake(&line.futex, futex::Flags::empty(), i32::MAX as u32);
}

/// One wait in progress: call [`Waiter::wait`] each time the condition was found false.
#[derive(Debug)]
pub struct Waiter {
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    rounds: u32,
}

impl Waiter {
    /// A wait with an optional deadline.
    pub fn new(strategy: WaitStrategy, deadline: Option<Instant>) -> Waiter {
        Waiter { strategy, deadline, rounds: 0 }
    }

    /// How many times [`wait`](Self::wait) was called.
    pub(crate) fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Waits a little, per the strategy. Returns `false` once the deadline has passed.
    /// `ready` re-checks the condition (used by `Block` after registering as a waiter).
    #[inline]
    pub fn wait(&mut self, line: &WakeLine, ready: impl FnMut() -> bool) -> bool {
        self.rounds = self.rounds.saturating_add(1);
        if self.rounds < SPIN_LIMIT || self.strategy == WaitStrategy::BusySpin {
            core::hint::spin_loop();
            // Check the clock only every 256 rounds while spinning: it costs ~20 ns.
            return self.rounds % 256 != 0 || !self.expired();
        }
        if self.expired() {
            return false;
        }
        match self.strategy {
            WaitStrategy::BusySpin => {}
            WaitStrategy::Yield => std::thread::yield_now(),
            WaitStrategy::Backoff => {
                if self.rounds < YIELD_LIMIT {
                    std::thread::yield_now();
                } else {
                    let exponent = (self.rounds - YIELD_LIMIT).min(10);
                    let sleep = Duration::from_micros(1 << exponent).min(Duration::from_millis(1));
                    std::thread::sleep(self.bounded(sleep));
                }
            }
            WaitStrategy::Block => {
                if self.rounds < BLOCK_YIELD_LIMIT {
                    std::thread::yield_now();
                } else {
                    self.sleep_once(line, ready);
                }
            }
        }
        true
    }

    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn bounded(&self, sleep: Duration) -> Duration {
        match self.deadline {
            Some(d) => sleep.min(d.saturating_duration_since(Instant::now())),
            None => sleep,
        }
    }

    fn sleep_once(&self, line: &WakeLine, ready: impl FnMut() -> bool) {
        sleep_on(line, ready, self.bounded(MAX_SLEEP));
    }
}

/// Sleeps on `line` until woken or [`MAX_SLEEP`] passes, unless `ready` (checked after
/// registering) says the wait is over. Used by the async watcher threads.
pub(crate) fn sleep_until_woken(line: &WakeLine, ready: impl FnMut() -> bool) {
    sleep_on(line, ready, MAX_SLEEP);
}

/// The blocking wait protocol; the argument that no wake-up is lost is in the module docs.
fn sleep_on(line: &WakeLine, mut ready: impl FnMut() -> bool, timeout: Duration) {
    // Step 1: register.
    line.waiters.fetch_add(1, Ordering::SeqCst);
    // Step 2: make every notifier pass a full barrier (see the module docs).
    let fenced = membarrier_ready()
        && rustix::thread::membarrier(rustix::thread::MembarrierCommand::GlobalExpedited).is_ok();
    if !fenced {
        // Pairs with the fence in `notify_slow`. (A kernel that accepted the registration but
        // refuses the barrier, which no kernel we know does, leaves notifiers that skip the
        // fence: handles cache the mode. A wake-up lost that way costs at most `MAX_SLEEP`.)
        FENCE_MODE.store(MODE_FENCE, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }
    // Step 3: read the futex word, re-check, then sleep only while the word is unchanged.
    // Acquire pairs with the Release `fetch_add` in `notify_slow`.
    let observed = line.futex.load(Ordering::Acquire);
    if !ready() {
        let timeout = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        // EAGAIN (word changed), EINTR and ETIMEDOUT all just mean "check again".
        let _ = futex::wait(&line.futex, futex::Flags::empty(), observed, Some(&timeout));
    }
    line.waiters.fetch_sub(1, Ordering::Relaxed);
}
