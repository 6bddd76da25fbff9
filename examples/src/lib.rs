//! Message types shared by the example programs (and, in the tests, by a second crate that
//! declares the same layout, to show that schema hashes agree across crates), and what the
//! programs have in common: default ring names unique to the user, Ctrl-C handling, waiting for
//! another process, error reports and number formatting.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_disruptor::{
    ClaimError, ConsumeError, Consumer, Disruptor, OpenError, Producer, Slot, WaitStrategy,
};

/// A market-data tick: the type the README and `DESIGN.md` use.
#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Tick {
    /// Price.
    pub price: f64,
    /// Quantity.
    pub qty: u32,
    /// 0 = buy, 1 = sell.
    pub side: u8,
    /// Explicit padding: a `Slot` has none of its own.
    pub _pad: [u8; 3],
}

/// The payload of the seed's README example: one random number per slot.
#[derive(Slot, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Number {
    /// The number.
    pub value: u32,
}

/// The status word of a numbers ring whose producer stopped before sending them all
/// (interrupted, or failed): its consumer then stops too instead of waiting.
pub const NUMBERS_STOPPED: i32 = 1;

/// A small xorshift generator: the examples need cheap random numbers, not a crate.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded from the clock and the process id.
    pub fn from_entropy() -> XorShift {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        XorShift((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// The next number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// How a run of the numbers examples ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// Every number went through: their sum.
    Done {
        /// The sum of the numbers sent or received.
        sum: u64,
    },
    /// Stopped by Ctrl-C or SIGTERM ([`Stop`]).
    Interrupted {
        /// How many numbers had gone through.
        after: u64,
    },
}

/// The seed README's producer: writes `count` random numbers below 100 through `producer`, one
/// claim and one commit each, and returns their sum. With `say_waits`, says once on standard
/// error when the ring has been full for a while with no consumer attached (it is then waiting
/// for one). Fails when the consumer leaves (releases its index) first.
pub fn send_numbers(
    mut producer: Producer<Number>,
    count: u64,
    stop: &Stop,
    say_waits: bool,
) -> Result<Numbers, Error> {
    let ring = producer.ring().clone();
    producer.set_wait_strategy(WaitStrategy::Yield);
    let mut rng = XorShift::from_entropy();
    let (mut sum, mut sent) = (0u64, 0u64);
    let mut said = !say_waits;
    let left = |sent: u64, e: ClaimError| -> Error {
        match e {
            ClaimError::NoConsumers => format!(
                "the consumer of {} left after {} of {} numbers",
                ring.name(),
                thousands(sent),
                thousands(count)
            )
            .into(),
            other => other.into(),
        }
    };
    while sent < count {
        if stop.requested() {
            return Ok(Numbers::Interrupted { after: sent });
        }
        let number = Number { value: rng.below(100) as u32 };
        match producer.try_publish(|slot| *slot = number) {
            Ok(_) => {}
            // The ring is full: wait for room, noticing Ctrl-C.
            Err(ClaimError::Full) => loop {
                match producer.claim_timeout(POLL) {
                    Ok(mut claim) => {
                        *claim = number;
                        claim.commit();
                        break;
                    }
                    Err(ClaimError::Timeout) if stop.requested() => {
                        return Ok(Numbers::Interrupted { after: sent });
                    }
                    Err(ClaimError::Timeout) => {
                        // Full for a while: say so once, if nobody is attached to read it.
                        if !said && !others_attached(&ring) {
                            eprintln!(
                                "the ring is full: waiting for a consumer on {} ...",
                                ring.name()
                            );
                        }
                        said = true;
                    }
                    Err(e) => return Err(left(sent, e)),
                }
            },
            Err(e) => return Err(left(sent, e)),
        }
        sum += u64::from(number.value);
        sent += 1;
    }
    Ok(Numbers::Done { sum })
}

/// The seed README's consumer: reads `count` numbers through `consumer`, in batches, and
/// returns their sum; then releases its index (a producer still waiting for room stops with
/// `NoConsumers` instead of waiting forever). Fails when the producer stops first
/// ([`NUMBERS_STOPPED`]) or when nothing arrives for `idle_timeout`.
pub fn receive_numbers(
    mut consumer: Consumer<Number>,
    count: u64,
    stop: &Stop,
    idle_timeout: Duration,
) -> Result<Numbers, Error> {
    let ring = consumer.ring().clone();
    consumer.set_wait_strategy(WaitStrategy::Yield);
    let (mut sum, mut received) = (0u64, 0u64);
    let mut idle_since = None;
    let outcome = loop {
        if received == count {
            break Ok(Numbers::Done { sum });
        }
        if stop.requested() {
            break Ok(Numbers::Interrupted { after: received });
        }
        let batch = match consumer.consume_timeout(POLL) {
            Ok(batch) => batch,
            Err(ConsumeError::Timeout) => {
                let of = |n: u64| format!("{} of {} numbers", thousands(n), thousands(count));
                if ring.status() == NUMBERS_STOPPED && ring.cursor() <= consumer.sequence() {
                    let sent = consumer.sequence();
                    break Err(format!(
                        "the producer on {} stopped after {}",
                        ring.name(),
                        of(sent)
                    ));
                }
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= idle_timeout {
                    break Err(format!(
                        "no number arrived on {} for {} s, after {}: is its producer still running?",
                        ring.name(),
                        idle_timeout.as_secs_f64(),
                        of(received)
                    ));
                }
                continue;
            }
            Err(e) => break Err(e.to_string()),
        };
        idle_since = None;
        // At most `count`: a producer told to send more leaves the rest in the ring.
        let take = batch.len().min((count - received) as usize);
        sum += batch.iter().take(take).map(|n| u64::from(n.value)).sum::<u64>();
        received += take as u64;
        batch.commit_first(take);
    };
    consumer.release();
    outcome.map_err(Error::from)
}

/// An order: what the pipeline demo's producer publishes.
#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Order {
    /// Sequential id from 0.
    pub id: u64,
    /// `CLOCK_MONOTONIC` nanoseconds when it was published (the same clock in every process).
    pub created_ns: u64,
    /// Limit price.
    pub price: f64,
    /// Quantity.
    pub qty: u32,
    /// 0 = buy, 1 = sell.
    pub side: u8,
    /// Explicit padding.
    pub _pad: [u8; 3],
}

impl Order {
    /// The order with id `id`: every field derives from it, so every stage can check it.
    pub fn new(id: u64, created_ns: u64) -> Order {
        Order {
            id,
            created_ns,
            price: 100.0 + (id % 1000) as f64 * 0.25,
            qty: 1 + (id % 100) as u32,
            side: (id % 2) as u8,
            _pad: [0; 3],
        }
    }

    /// Whether every field is what [`Order::new`] makes for this id.
    pub fn is_intact(&self) -> bool {
        let expected = Order::new(self.id, self.created_ns);
        *self == expected
    }
}

/// A fill: what the pipeline's last order stage forwards to the second ring.
#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Fill {
    /// The order's id.
    pub id: u64,
    /// The order's creation time, for end-to-end latency.
    pub created_ns: u64,
    /// price * qty, signed by side.
    pub notional: f64,
}

impl Fill {
    /// The fill of an order.
    pub fn of(order: &Order) -> Fill {
        let sign = if order.side == 0 { 1.0 } else { -1.0 };
        Fill {
            id: order.id,
            created_ns: order.created_ns,
            notional: sign * order.price * f64::from(order.qty),
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: comparable between processes on one machine.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// How long an example waits for the process it needs (a producer to create the ring, the next
/// message) unless `--timeout` says otherwise.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a waiting example wakes up to notice Ctrl-C.
pub const POLL: Duration = Duration::from_millis(100);

/// What the examples' fallible functions return.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The default name of an example's ring: `/shmd-<what>-<uid>`, with the real user id, so that
/// two users running the examples on one machine do not collide.
///
/// ```
/// let name = shm_disruptor_examples::default_name("numbers");
/// assert!(name.starts_with("/shmd-numbers-"));
/// ```
pub fn default_name(what: &str) -> String {
    format!("/shmd-{what}-{}", rustix::process::getuid().as_raw())
}

/// Set by Ctrl-C (SIGINT), SIGTERM or SIGHUP once [`Stop::on_signals`] has installed the
/// handler: the examples poll it and stop cleanly. (A second signal does not cut that short:
/// `timeout` and a terminal's Ctrl-C may deliver two at once.)
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Installs the process's signal handler (once per process) and returns the flag it sets.
    pub fn on_signals() -> Result<Stop, ctrlc::Error> {
        let stop = Stop::default();
        let flag = Arc::clone(&stop.0);
        // Relaxed: a flag polled by loops; nothing else is published through it.
        ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
        Ok(stop)
    }

    /// A flag that nothing sets: for child processes, which leave signals to their parent.
    pub fn never() -> Stop {
        Stop::default()
    }

    /// Whether a signal asked the program to stop.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How an example ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It did what it was asked.
    Done,
    /// Ctrl-C or SIGTERM stopped it, and it has cleaned up and said so.
    Interrupted,
}

/// An example's exit status: 0 when done, 130 when interrupted, and 1 on an error, which it
/// prints on standard error as `error: ` and its `Display` text (then that of its sources, when
/// the text does not already include them).
pub fn report(result: Result<Ended, Error>) -> ExitCode {
    match result {
        Ok(Ended::Done) => ExitCode::SUCCESS,
        Ok(Ended::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {}", error_text(&*e));
            ExitCode::FAILURE
        }
    }
}

/// An error's `Display` text followed by that of each of its sources that it does not already
/// include.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Opens the ring `name`, waiting up to `timeout` for another process to create it, and saying
/// so once on standard error (`waiting for <waiting_for> on <name> ...`) when it must wait.
/// `Ok(None)` when `stop` was requested meanwhile.
pub fn wait_for_ring<T: Slot>(
    name: &str,
    waiting_for: &str,
    timeout: Duration,
    stop: &Stop,
) -> Result<Option<Disruptor<T>>, Error> {
    let deadline = Instant::now() + timeout;
    // The first attempt does not wait, so that the message comes at once.
    let mut slice = Duration::ZERO;
    loop {
        match Disruptor::<T>::builder(name).open_timeout(slice) {
            Err(OpenError::NotFound { .. }) => {}
            other => return Ok(Some(other?)),
        }
        if stop.requested() {
            return Ok(None);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{name} was not created within {} s: is {waiting_for} running?",
                timeout.as_secs_f64()
            )
            .into());
        }
        if slice.is_zero() {
            eprintln!("waiting for {waiting_for} on {name} ...");
        }
        slice = left.min(POLL);
    }
}

/// Whether another process than this one has a handle on `ring` (a consumer, say).
pub fn others_attached<T: Slot>(ring: &Disruptor<T>) -> bool {
    let me = std::process::id();
    ring.live_users().iter().any(|&pid| pid != me)
}

/// How [`supervise`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervised {
    /// Every child exited by itself, or one failed and the others were stopped (killed).
    Exited,
    /// Ctrl-C or SIGTERM: the children were stopped.
    Interrupted,
    /// The deadline passed: the children were stopped.
    TimedOut,
}

/// Waits for every child process to exit, calling `tick` about every 20 ms meanwhile. Kills
/// those still running (the kernel releases what they held in the rings) and reaps them all
/// when one fails (the others would wait for it), on Ctrl-C or SIGTERM (`stop`), or after
/// `deadline`.
pub fn supervise(
    children: &mut [std::process::Child],
    stop: &Stop,
    deadline: Instant,
    mut tick: impl FnMut(),
) -> std::io::Result<Supervised> {
    use std::os::unix::process::ExitStatusExt;
    loop {
        let (mut running, mut failed, mut signalled) = (false, false, false);
        for child in children.iter_mut() {
            match child.try_wait()? {
                None => running = true,
                Some(status) => {
                    failed |= !status.success();
                    signalled |= status.signal().is_some();
                }
            }
        }
        // Ctrl-C in a terminal signals the children too, and they may be gone before this
        // process's handler has run: give it a moment before calling them failed.
        let grace = Instant::now() + Duration::from_millis(250);
        while signalled && !stop.requested() && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(5));
        }
        let how = if stop.requested() {
            Supervised::Interrupted
        } else if Instant::now() > deadline {
            Supervised::TimedOut
        } else if failed || !running {
            Supervised::Exited
        } else {
            tick();
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        return Ok(how);
    }
}

/// Removes the ring `name`; `false` if it was already gone.
pub fn remove_ring(name: &str) -> Result<bool, OpenError> {
    match shm_disruptor::unlink(name) {
        Ok(()) => Ok(true),
        Err(OpenError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the ring it names when dropped (whatever was already removed is fine): for rings an
/// example created, so that no return path leaves them behind.
#[derive(Debug)]
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = remove_ring(&self.0);
    }
}

/// `n` with thousands separators.
///
/// ```
/// use shm_disruptor_examples::thousands;
/// assert_eq!(thousands(0), "0");
/// assert_eq!(thousands(999), "999");
/// assert_eq!(thousands(1000), "1,000");
/// assert_eq!(thousands(50_000_000), "50,000,000");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `x` with `decimals` decimals and thousands separators.
///
/// ```
/// use shm_disruptor_examples::thousands_f;
/// assert_eq!(thousands_f(4509.66, 1), "4,509.7");
/// assert_eq!(thousands_f(-1234567.0, 0), "-1,234,567");
/// assert_eq!(thousands_f(0.25, 2), "0.25");
/// ```
pub fn thousands_f(x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, x.abs());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text.as_str(), None),
    };
    let sign =
        if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    let whole = whole.parse::<u64>().map_or_else(|_| whole.to_owned(), thousands);
    match fraction {
        Some(fraction) => format!("{sign}{whole}.{fraction}"),
        None => format!("{sign}{whole}"),
    }
}

/// Parses a count or a size on the command line: digits, with `_` or `,` between them
/// allowed (`1_000_000`, `1,000,000`).
///
/// ```
/// use shm_disruptor_examples::parse_number;
/// assert_eq!(parse_number::<u64>("1,000,000"), Ok(1_000_000));
/// assert_eq!(parse_number::<usize>("4_096"), Ok(4096));
/// assert!(parse_number::<u64>("ten").is_err());
/// ```
pub fn parse_number<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let digits: String = text.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    digits.parse().map_err(|e| format!("{e}"))
}

/// Parses a duration in seconds on the command line (`30`, `0.5`).
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor_examples::parse_seconds;
/// assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
/// assert!(parse_seconds("-1").is_err());
/// ```
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{e}"))
}
