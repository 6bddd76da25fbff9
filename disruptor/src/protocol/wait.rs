//! Wait strategies: how a handle waits for data (consumer) or room (producer).
//!
//! The argument that a `Block` waiter loses no wake-up, although publishers issue no fence and
//! make no system call while nobody sleeps, is in the public docs of [`FenceMode`] (its section
//! "Blocking without lost wake-ups"): [`sleep_on`] and [`notify`] follow its steps.

use std::time::{Duration, Instant};

use super::layout::WakeLine;
use super::sync::{compiler_fence, fence, Ordering};

/// How a handle waits when it must (consumer: nothing to read; producer: no room).
///
/// Each handle has its own strategy: the [`Disruptor`](crate::Disruptor) (or its
/// [`Builder`](crate::Builder)) sets the one that new handles start with, and
/// [`Producer::set_wait_strategy`](crate::Producer::set_wait_strategy) and
/// [`Consumer::set_wait_strategy`](crate::Consumer::set_wait_strategy) change one handle's. It
/// matters only when a handle has to wait. Why a [`Block`](Self::Block) waiter never misses
/// its wake-up, although publishers make no system call and (in the default mode) issue no
/// fence, is explained with [`FenceMode`].
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{ConsumeError, Disruptor, WaitStrategy};
///
/// // Handles made from this ring start with `Block`: they sleep on a futex when idle.
/// let ring = Disruptor::<u64>::builder("waits")
///     .capacity(8)
///     .consumers(1)
///     .wait_strategy(WaitStrategy::Block)
///     .create_in_process()?;
/// let mut consumer = ring.consumer(0)?;
/// assert_eq!(consumer.wait_strategy(), WaitStrategy::Block);
///
/// // This consumer spins instead: lowest latency, one busy core.
/// consumer.set_wait_strategy(WaitStrategy::BusySpin);
/// let waited = consumer.consume_timeout(Duration::from_millis(1)).map(|batch| batch.len());
/// assert_eq!(waited, Err(ConsumeError::Timeout)); // nothing was published
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// side: (near) zero CPU while idle, a wake-up syscall only when someone sleeps (why no
    /// wake-up is lost: [`FenceMode`]).
    Block,
}

/// The longest a blocked waiter sleeps before re-checking on its own.
pub const MAX_SLEEP: Duration = Duration::from_millis(100);

#[cfg(not(loom))]
const SPIN_LIMIT: u32 = 64;
#[cfg(not(loom))]
const YIELD_LIMIT: u32 = SPIN_LIMIT + 64;
/// `Block` yields only briefly before it sleeps: each yield is a syscall, and 64 of them cost
/// ~45 µs of CPU per wait (measured by the `wakeup` benchmark) for no latency gain over the futex.
#[cfg(not(loom))]
const BLOCK_YIELD_LIMIT: u32 = SPIN_LIMIT + 8;
// In a loom model every spin is a point where another thread may run: a waiter reaches its
// futex after two rounds, so that models stay small.
#[cfg(loom)]
const SPIN_LIMIT: u32 = 1;
#[cfg(loom)]
const YIELD_LIMIT: u32 = SPIN_LIMIT + 1;
#[cfg(loom)]
const BLOCK_YIELD_LIMIT: u32 = SPIN_LIMIT + 1;

/// How the notifiers and waiters of one ring order their accesses, so that no wake-up is lost.
///
/// The mode is chosen once, when the ring is created
/// ([`Builder::fence_mode`](crate::Builder::fence_mode); by default
/// [`Membarrier`](Self::Membarrier) where the creator can use it, else [`Fence`](Self::Fence)),
/// recorded in the ring's header, and followed by every process that opens the ring; one that
/// cannot follow it is refused
/// ([`OpenError::FenceModeUnavailable`](crate::OpenError::FenceModeUnavailable)). Only
/// [`WaitStrategy::Block`] waiters (and the async calls, which sleep the same way) rely on it,
/// but its cost falls on every publish and consumer commit, whatever the handles' strategies:
/// none in `Membarrier` mode (a waiter about to sleep pays instead), a `SeqCst` fence in
/// `Fence` mode.
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{Disruptor, FenceMode, WaitStrategy};
///
/// // A ring shared with processes whose sandbox refuses `membarrier` (a seccomp profile):
/// // every publish pays a fence instead, and every process can attach.
/// let ring = Disruptor::<u64>::builder("fenced")
///     .capacity(64)
///     .consumers(1)
///     .fence_mode(FenceMode::Fence)
///     .wait_strategy(WaitStrategy::Block)
///     .create_in_process()?;
/// assert_eq!(ring.fence_mode(), FenceMode::Fence);
/// assert_eq!(ring.fence_mode().to_string(), "fence");
///
/// // A consumer that sleeps on the futex is woken by the publish of another thread.
/// let mut producer = ring.producer()?;
/// let publisher = std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(10));
///     producer.publish(|slot| *slot = 7)
/// });
/// let mut consumer = ring.consumer(0)?;
/// let batch = consumer.consume_timeout(Duration::from_secs(10))?;
/// assert_eq!(batch.iter().copied().collect::<Vec<_>>(), [7]);
/// batch.commit();
/// publisher.join().unwrap()?;
///
/// // Without `fence_mode`, a ring uses membarrier where this process can register for it.
/// let ring = Disruptor::<u64>::builder("default").capacity(64).consumers(1).create_in_process()?;
/// assert!(matches!(ring.fence_mode(), FenceMode::Membarrier | FenceMode::Fence));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Blocking without lost wake-ups, and without a syscall or fence on the hot path
///
/// A `Block` waiter sleeps on a futex word in the shared segment (one wake line for consumers
/// waiting for data, one for producers waiting for room, each with a count of its sleepers);
/// the other side wakes it after it publishes (or frees room). The classic race is the
/// store-load pair:
///
/// - waiter:   `waiters += 1`, then re-read the condition (e.g. the cursor), then sleep;
/// - notifier: store the condition (e.g. the cursor), then read `waiters`, wake if non-zero.
///
/// If both loads could be satisfied before the other side's store is visible (x86 store buffers
/// allow exactly that), the waiter would sleep on a condition that already holds and the
/// notifier would skip the wake-up. A `SeqCst` fence on both sides forbids it, but a fence on
/// every publish costs more than the publish itself. Instead, in [`Membarrier`](Self::Membarrier)
/// mode, the fence is *asymmetric*: the notifier has only a compiler fence, and the waiter,
/// which is about to sleep anyway, calls `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which
/// makes every running thread of every process registered for it (all our handles register)
/// execute a full memory barrier before the call returns. Then:
///
/// 1. the waiter increments `waiters` (SeqCst), then runs the membarrier;
/// 2. every notifier thread passes a full barrier at some point B during that call; if its
///    condition store came before B, the store is visible to the waiter's re-check in step 3;
///    otherwise its later load of `waiters` comes after B, which is after step 1, so it sees
///    `waiters > 0` and wakes;
/// 3. the waiter reads the futex word `v`, re-checks the condition, and only then calls
///    `FUTEX_WAIT(v)`; a wake-up that bumped the futex word after step 3's read makes the kernel
///    return at once (the word no longer holds `v`), so a wake between re-check and sleep is not
///    lost either.
///
/// # The two modes do not mix
///
/// Which of the two a ring uses is recorded in its header, and every process that opens the
/// ring follows it, or refuses to attach. Mixing them would lose wake-ups: a notifier that
/// relies on membarrier skips its fence, and a waiter that fell back to a plain fence does not
/// make it pass one. So where the kernel lacks `membarrier` (older than 4.16), or the creator's
/// sandbox filters it, the ring is created in [`Fence`](Self::Fence) mode: notifiers issue a
/// `SeqCst` fence before reading `waiters`, and waiters a `SeqCst` fence after incrementing it.
/// A process that cannot register for membarriers (a container whose seccomp profile refuses
/// it) can still join such a ring; it is refused only by rings created in
/// [`Membarrier`](Self::Membarrier) mode. A creator picks the mode with
/// [`Builder::fence_mode`](crate::Builder::fence_mode) when processes with different sandboxes
/// share a ring.
///
/// # Waiters that die, and bounded sleeps
///
/// A waiter killed while asleep leaves `waiters` one too high: notifiers then make one needless
/// wake syscall per publish until the count is corrected, which costs speed, never correctness.
/// The futex waits are also bounded (at most 100 ms each) so that a waiter notices released
/// consumers or dead peers without anyone waking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceMode {
    /// Publishers issue no fence; a waiter about to sleep calls
    /// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`. Every process that opens the ring must be
    /// able to register for expedited membarriers (Linux 4.16 and later, not filtered by a
    /// seccomp profile).
    Membarrier,
    /// Publishers and waiters each issue a `SeqCst` fence (a few nanoseconds per publish): no
    /// system call that a sandbox may refuse.
    Fence,
}

impl FenceMode {
    pub(crate) fn to_raw(self) -> u32 {
        match self {
            FenceMode::Membarrier => 1,
            FenceMode::Fence => 2,
        }
    }

    pub(crate) fn from_raw(raw: u32) -> Option<FenceMode> {
        match raw {
            1 => Some(FenceMode::Membarrier),
            2 => Some(FenceMode::Fence),
            _ => None,
        }
    }

    /// The mode of a ring this process creates: membarrier where it can register for it.
    pub(crate) fn for_new_ring() -> FenceMode {
        if membarrier_registered() {
            FenceMode::Membarrier
        } else {
            FenceMode::Fence
        }
    }

    /// Prepares this process to follow the mode (registers it for expedited membarriers if the
    /// mode needs them); `Err` where it cannot.
    pub(crate) fn follow(self) -> Result<(), ()> {
        match self {
            FenceMode::Fence => Ok(()),
            FenceMode::Membarrier if membarrier_registered() => Ok(()),
            FenceMode::Membarrier => Err(()),
        }
    }
}

impl std::fmt::Display for FenceMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FenceMode::Membarrier => "membarrier",
            FenceMode::Fence => "fence",
        })
    }
}

/// Whether this process is registered for expedited membarriers (registering it on first use).
/// Never under loom or Miri, which model only fences.
fn membarrier_registered() -> bool {
    #[cfg(any(loom, miri))]
    return false;
    #[cfg(not(any(loom, miri)))]
    {
        static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *REGISTERED.get_or_init(|| {
            rustix::thread::membarrier(rustix::thread::MembarrierCommand::RegisterGlobalExpedited)
                .is_ok()
        })
    }
}

/// Makes every running thread of every process registered for expedited membarriers pass a
/// full memory barrier before it returns; `false` where the kernel refuses.
fn membarrier() -> bool {
    #[cfg(any(loom, miri))]
    return false;
    #[cfg(not(any(loom, miri)))]
    rustix::thread::membarrier(rustix::thread::MembarrierCommand::GlobalExpedited).is_ok()
}

/// The futex operations of the wait protocol: sleep while a word holds a value, wake the
/// sleepers. The kernel's in the crate ([`OsFutex`]); under loom a model with the same
/// semantics ([`ModelFutex`]: the check of the word and the sleep are atomic with respect to a
/// wake), whose sleeps have no timeout, so that a lost wake-up shows as a deadlock.
pub(crate) trait Futex {
    /// Sleeps while `word` holds `expected`, until woken or `timeout` passes (or spuriously).
    fn wait(line: &WakeLine, expected: u32, timeout: Duration);
    /// Wakes every sleeper of `line`.
    fn wake(line: &WakeLine);
}

/// The futex the protocol uses in this build.
#[cfg(not(loom))]
pub(crate) type SystemFutex = OsFutex;
/// The futex the protocol uses in this build.
#[cfg(loom)]
pub(crate) type SystemFutex = ModelFutex;

/// The kernel's futex (shared, not process-private: sleepers and wakers are in any process).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct OsFutex;

#[cfg(not(loom))]
impl Futex for OsFutex {
    fn wait(line: &WakeLine, expected: u32, timeout: Duration) {
        use rustix::thread::futex;
        let timeout = rustix::time::Timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        // EAGAIN (word changed), EINTR and ETIMEDOUT all just mean "check again".
        let _ = futex::wait(&line.futex, futex::Flags::empty(), expected, Some(&timeout));
    }

    fn wake(line: &WakeLine) {
        use rustix::thread::futex;
        let _ = futex::wake(&line.futex, futex::Flags::empty(), i32::MAX as u32);
    }
}

/// A model of the futex for loom (see [`Futex`]).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct ModelFutex;

#[cfg(loom)]
impl Futex for ModelFutex {
    fn wait(line: &WakeLine, expected: u32, _timeout: Duration) {
        let guard = super::sync::lock(&line.kernel.0);
        // SeqCst: the kernel reads the word under its own lock, atomically with the sleep.
        if line.futex.load(Ordering::SeqCst) == expected {
            drop(line.kernel.1.wait(guard));
        }
    }

    fn wake(line: &WakeLine) {
        let _guard = super::sync::lock(&line.kernel.0);
        line.kernel.1.notify_all();
    }
}

/// Called by a notifier after the store that a waiter may wait for (cursor or consumer
/// sequence). `fence_fallback` is whether the ring's mode is [`FenceMode::Fence`] (a handle
/// caches it, which saves the hot path a load of the header).
#[inline(always)]
pub(crate) fn notify(line: &WakeLine, fence_fallback: bool) {
    // The waiter's membarrier supplies the full barrier (see `FenceMode`'s docs); this only
    // keeps the compiler from moving the `waiters` load above the condition store.
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
        // Pairs with the fence after `waiters.fetch_add` in `sleep_on` (the ring's mode is
        // `Fence`, so every waiter issues it).
        fence(Ordering::SeqCst);
        if line.waiters.load(Ordering::Relaxed) == 0 {
            return;
        }
    }
    // Release: the waiter's Acquire load of `futex` then observes a value other than the one it
    // saw before re-checking, so a FUTEX_WAIT that starts after this returns at once.
    line.futex.fetch_add(1, Ordering::Release);
    SystemFutex::wake(line);
}

/// One wait in progress: call [`Waiter::wait`] each time the condition was found false.
#[derive(Debug)]
pub(crate) struct Waiter {
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    rounds: u32,
    /// The ring's fence mode is [`FenceMode::Fence`].
    fence_fallback: bool,
}

/// The deadline `timeout` from now; `None` (no deadline) when it cannot be represented, as for
/// `Duration::MAX`.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl Waiter {
    /// A wait with an optional deadline, on a ring whose fence mode is [`FenceMode::Fence`] when
    /// `fence_fallback` is true.
    pub(crate) fn new(
        strategy: WaitStrategy,
        deadline: Option<Instant>,
        fence_fallback: bool,
    ) -> Waiter {
        Waiter { strategy, deadline, rounds: 0, fence_fallback }
    }

    /// How many times [`wait`](Self::wait) was called.
    pub(crate) fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Waits a little, per the strategy. Returns `false` once the deadline has passed.
    /// `ready` re-checks the condition (used by `Block` after registering as a waiter).
    #[inline]
    pub(crate) fn wait(&mut self, line: &WakeLine, ready: impl FnMut() -> bool) -> bool {
        self.rounds = self.rounds.saturating_add(1);
        if self.rounds < SPIN_LIMIT || self.strategy == WaitStrategy::BusySpin {
            super::sync::spin_loop();
            // Check the clock only every 256 rounds while spinning: it costs ~20 ns.
            return self.rounds % 256 != 0 || !self.expired();
        }
        if self.expired() {
            return false;
        }
        match self.strategy {
            WaitStrategy::BusySpin => {}
            WaitStrategy::Yield => super::sync::yield_now(),
            WaitStrategy::Backoff => {
                if self.rounds < YIELD_LIMIT {
                    super::sync::yield_now();
                } else {
                    let exponent = (self.rounds - YIELD_LIMIT).min(10);
                    let sleep = Duration::from_micros(1 << exponent).min(Duration::from_millis(1));
                    super::sync::sleep(self.bounded(sleep));
                }
            }
            WaitStrategy::Block => {
                if self.rounds < BLOCK_YIELD_LIMIT {
                    super::sync::yield_now();
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
        sleep_on(line, ready, self.bounded(MAX_SLEEP), self.fence_fallback);
    }
}

/// Sleeps on `line` until woken or [`MAX_SLEEP`] passes, unless `ready` (checked after
/// registering) says the wait is over. Used by the async watcher threads.
pub(crate) fn sleep_until_woken(
    line: &WakeLine,
    ready: impl FnMut() -> bool,
    fence_fallback: bool,
) {
    sleep_on(line, ready, MAX_SLEEP, fence_fallback);
}

/// After a membarrier that failed in a [`FenceMode::Membarrier`] ring, the longest sleep: the
/// notifiers skipped their fence, so a wake-up may be lost; this bounds what that costs.
const UNFENCED_SLEEP: Duration = Duration::from_millis(1);

/// The blocking wait protocol; the argument that no wake-up is lost is in [`FenceMode`]'s
/// docs.
fn sleep_on(
    line: &WakeLine,
    mut ready: impl FnMut() -> bool,
    mut timeout: Duration,
    fence_fallback: bool,
) {
    // Step 1: register.
    line.waiters.fetch_add(1, Ordering::SeqCst);
    // Step 2: make every notifier pass a full barrier (see `FenceMode`'s docs).
    let fenced = !fence_fallback && membarrier();
    if !fenced {
        // Fence mode: pairs with the fence in `notify_slow`.
        fence(Ordering::SeqCst);
        if !fence_fallback {
            // A membarrier ring whose barrier the kernel refused although this process
            // registered (no kernel we know does): the notifiers skip their fence, so a wake-up
            // may be lost. Sleep briefly instead of up to MAX_SLEEP.
            timeout = timeout.min(UNFENCED_SLEEP);
        }
    }
    // Step 3: read the futex word, re-check, then sleep only while the word is unchanged.
    // Acquire pairs with the Release `fetch_add` in `notify_slow`.
    let observed = line.futex.load(Ordering::Acquire);
    if !ready() {
        SystemFutex::wait(line, observed, timeout);
    }
    line.waiters.fetch_sub(1, Ordering::Relaxed);
}
