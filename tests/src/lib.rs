//! Helpers shared by the integration tests and their helper binaries.
//!
//! - [`SegmentGuard`]: a unique segment name that is unlinked on drop, even when a test fails.
//! - [`ChildGroup`]: helper processes that are killed (SIGKILL) and reaped on drop, so a failing
//!   test leaves no orphans; waits on them always have a deadline.
//! - [`Msg256`] and [`Stamped`]: the message types the tests and the helper binaries exchange;
//!   [`StreamDigest`], the digest that byte-stream writers and readers compare.
//! - [`produce_random`], [`consume_checksum`], [`produce_stamped`], [`consume_stamped`]: the
//!   producer and consumer loops, shared by the helper binaries (one process each) and the
//!   threaded tests (one thread each). Every wait inside them has a deadline ([`WAIT_TIMEOUT`]);
//!   when one passes they return an error that describes the ring's state.
#![warn(missing_docs)]

use std::fmt;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shm_disruptor::{Consumer, Disruptor, Producer, Slot, WaitStrategy};

/// A helper binary's one line for the test that spawned it, flushed at once (the test reads
/// it as soon as it is written).
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).expect("stdout");
}

/// Where a helper binary stops until its test kills it: after two minutes it exits with status
/// 3 (`helper` names it on stderr), so that it cannot outlive a harness that failed to kill it.
pub fn hang(helper: &str) -> ! {
    std::thread::sleep(Duration::from_secs(120));
    eprintln!("{helper}: nobody killed me");
    std::process::exit(3)
}

/// The longest any single wait inside a producer or consumer loop may take before it fails.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The wait strategies test producers and consumers use: CI has 2 cores and up to 8 busy
/// processes, so waiters must give the CPU away after a short spin (no `BusySpin`).
pub const TEST_WAITS: [WaitStrategy; 3] =
    [WaitStrategy::Yield, WaitStrategy::Backoff, WaitStrategy::Block];

/// Parses a wait strategy name: `yield`, `backoff`, `block` or `busyspin`.
///
/// # Errors
/// On any other name.
pub fn parse_wait(s: &str) -> Result<WaitStrategy, String> {
    match s {
        "yield" => Ok(WaitStrategy::Yield),
        "backoff" => Ok(WaitStrategy::Backoff),
        "block" => Ok(WaitStrategy::Block),
        "busyspin" => Ok(WaitStrategy::BusySpin),
        _ => Err(format!("bad wait strategy {s:?} (yield, backoff, block or busyspin)")),
    }
}

/// The name [`parse_wait`] reads back.
pub fn wait_name(wait: WaitStrategy) -> &'static str {
    match wait {
        WaitStrategy::Yield => "yield",
        WaitStrategy::Backoff => "backoff",
        WaitStrategy::Block => "block",
        WaitStrategy::BusySpin => "busyspin",
        _ => "unknown",
    }
}

/// A unique segment name, `/sd-test-<pid>-<counter>-<tag>`: unique across the processes and
/// threads of a test run.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/sd-test-{}-{n}-{tag}", std::process::id())
}

/// Owns a unique segment name and unlinks the segment when dropped (also when a test panics).
#[derive(Debug)]
pub struct SegmentGuard {
    name: String,
}

impl SegmentGuard {
    /// A fresh unique name (see [`unique_name`]); nothing is created yet.
    pub fn new(tag: &str) -> SegmentGuard {
        SegmentGuard { name: unique_name(tag) }
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for SegmentGuard {
    fn drop(&mut self) {
        // Absent already (never created, or unlinked by the test) is fine.
        let _ = shm_disruptor::unlink(&self.name);
    }
}

/// How long to wait for a finished child's output pipes to close.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// One spawned helper process and the threads draining its output.
#[derive(Debug)]
struct Running {
    label: String,
    child: Child,
    status: Option<ExitStatus>,
    /// Whether the group killed it (then `status` is the kill's).
    killed: bool,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    out: String,
    err: String,
}

impl Running {
    /// Collects the output (after the child has exited or been killed). Waits at most
    /// [`DRAIN_TIMEOUT`] for the pipes to close: a grandchild may hold them open.
    fn collect(&mut self) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let join = |handle: &mut Option<JoinHandle<String>>| -> String {
            while handle.as_ref().is_some_and(|h| !h.is_finished()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            match handle.take_if(|h| h.is_finished()) {
                Some(h) => h.join().unwrap_or_default(),
                None => "<output pipe still open>".to_owned(),
            }
        };
        self.out = join(&mut self.stdout);
        self.err = join(&mut self.stderr);
    }

    fn describe(&self) -> String {
        let status = match (self.status, self.killed) {
            (Some(s), false) => s.to_string(),
            // Exited on its own before the kill took effect.
            (Some(s), true) if s.code().is_some() => s.to_string(),
            (Some(s), true) => format!("killed by the test: {s}"),
            (None, _) => "killed by the test; not reaped".to_owned(),
        };
        format!(
            "--- {} [{status}]\n  stdout: {}\n  stderr: {}",
            self.label,
            self.out.trim_end(),
            self.err.trim_end()
        )
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Helper processes of one test. Dropping the group kills (SIGKILL) and reaps every child still
/// running, so a test that panics leaves no orphans. Waits fail the test (panic) on a deadline or
/// on any child that exits unsuccessfully, after killing the others, and print every child's
/// output.
#[derive(Debug, Default)]
pub struct ChildGroup {
    children: Vec<Running>,
}

/// Identifies a child of a [`ChildGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildId(usize);

impl ChildGroup {
    /// An empty group.
    pub fn new() -> ChildGroup {
        ChildGroup::default()
    }

    /// Starts `command` with piped stdout and stderr; `label` names it in failure messages.
    ///
    /// # Panics
    /// If the process cannot be started.
    pub fn spawn(&mut self, label: impl Into<String>, mut command: Command) -> ChildId {
        let label = label.into();
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        self.children.push(Running {
            label,
            child,
            status: None,
            killed: false,
            stdout,
            stderr,
            out: String::new(),
            err: String::new(),
        });
        ChildId(self.children.len() - 1)
    }

    /// Polls every child once; returns a failure description if one exited unsuccessfully.
    fn poll(&mut self) -> Option<String> {
        for c in &mut self.children {
            if c.status.is_some() {
                continue;
            }
            match c.child.try_wait() {
                Ok(Some(status)) => {
                    c.status = Some(status);
                    c.collect();
                    if !status.success() {
                        return Some(format!("{} failed", c.label));
                    }
                }
                Ok(None) => {}
                Err(e) => return Some(format!("waiting for {} failed: {e}", c.label)),
            }
        }
        None
    }

    /// Kills every child still running, then panics with `why` and every child's output.
    fn fail(&mut self, why: &str) -> ! {
        self.kill_all();
        let report: Vec<String> = self.children.iter().map(Running::describe).collect();
        panic!("{why}\n{}", report.join("\n"));
    }

    fn kill_all(&mut self) {
        for c in &mut self.children {
            if c.status.is_none() {
                let _ = c.child.kill();
                c.status = c.child.wait().ok();
                c.killed = true;
                c.collect();
            }
        }
    }

    /// Whether every child exited successfully so far (none failed); never waits.
    ///
    /// # Panics
    /// If a child has exited unsuccessfully (after killing the others).
    pub fn check(&mut self) {
        if let Some(why) = self.poll() {
            self.fail(&why);
        }
    }

    /// Whether `id` has exited (successfully: a failure panics, see [`check`](Self::check)).
    pub fn has_exited(&mut self, id: ChildId) -> bool {
        self.check();
        self.children[id.0].status.is_some()
    }

    /// Waits until every child in `ids` has exited successfully, failing at once if any child of
    /// the group fails, and after `timeout` otherwise.
    ///
    /// # Panics
    /// On a failure or the deadline, after killing every child, with every child's output.
    pub fn wait_for(&mut self, ids: &[ChildId], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            self.check();
            if ids.iter().all(|id| self.children[id.0].status.is_some()) {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for helper processes"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for every child (see [`wait_for`](Self::wait_for)).
    pub fn wait_all(&mut self, timeout: Duration) {
        let ids: Vec<ChildId> = (0..self.children.len()).map(ChildId).collect();
        self.wait_for(&ids, timeout);
    }

    /// The standard output of an exited child.
    ///
    /// # Panics
    /// If the child has not exited yet.
    pub fn stdout(&self, id: ChildId) -> &str {
        let c = &self.children[id.0];
        assert!(c.status.is_some(), "{} has not exited yet", c.label);
        &c.out
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Runs one command to completion within `timeout` and returns its standard output.
///
/// # Panics
/// If it fails or runs past `timeout` (it is killed then).
pub fn run_child(label: &str, command: Command, timeout: Duration) -> String {
    let mut group = ChildGroup::new();
    let id = group.spawn(label, command);
    group.wait_all(timeout);
    group.stdout(id).to_owned()
}

/// Finds `key=value` in a helper's output and parses the value.
///
/// # Panics
/// If the key is absent or its value does not parse.
pub fn field<V: FromStr>(output: &str, key: &str) -> V {
    let prefix = format!("{key}=");
    output
        .split_whitespace()
        .find_map(|word| word.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no parsable `{key}=` in helper output {output:?}"))
}

/// The seed's many-to-many message: 256 bytes, filled with random bytes by producers.
#[derive(Slot, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Msg256 {
    /// The payload.
    pub bytes: [u8; 256],
}

/// A message that says who produced it and when, with a payload derived from both, so that a
/// consumer can check exactly-once delivery, per-producer order and untorn slots.
#[derive(Slot, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Stamped {
    /// The producer's id.
    pub producer: u32,
    /// Always zero.
    pub _pad: u32,
    /// The producer's own sequence number of this message: 0, 1, 2, ...
    pub seq: u64,
    /// [`Stamped::payload_of`]`(producer, seq)`.
    pub payload: [u64; 6],
}

/// The splitmix64 finaliser: a cheap, well-mixing bijection on `u64`.
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

impl Stamped {
    /// The payload of message `seq` of `producer`: every word differs between any two messages,
    /// so a slot mixing two messages' words (a torn read or write) is detected.
    pub fn payload_of(producer: u32, seq: u64) -> [u64; 6] {
        let base = mix64(seq ^ u64::from(producer).wrapping_mul(GOLDEN));
        let mut payload = [0; 6];
        let mut salt = GOLDEN;
        for word in &mut payload {
            *word = base ^ salt;
            salt = salt.wrapping_add(GOLDEN);
        }
        payload
    }

    /// Message `seq` of `producer`.
    pub fn new(producer: u32, seq: u64) -> Stamped {
        Stamped { producer, _pad: 0, seq, payload: Stamped::payload_of(producer, seq) }
    }

    /// A hash of every field of this message (position-sensitive): producers and consumers sum
    /// it (wrapping) over what they wrote and read, and the sums must agree.
    pub fn digest(&self) -> u64 {
        let words = [u64::from(self.producer) << 32 | u64::from(self._pad), self.seq];
        words.iter().chain(&self.payload).fold(GOLDEN, |h, &w| mix64(h ^ w).wrapping_add(GOLDEN))
    }
}

/// A xorshift64* generator: deterministic random bytes without extra crates.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded from `seed` (any value, zero included).
    pub fn new(seed: u64) -> XorShift {
        XorShift(mix64(seed.wrapping_add(GOLDEN)) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fills `bytes` with random bytes.
    pub fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// A streaming 64-bit digest of a byte stream: FNV-1a over little-endian 64-bit words, with a
/// rotation per word and the length and a splitmix finaliser at the end. Chunk boundaries do not
/// matter, so a writer and its readers agree however the stream was split.
#[derive(Debug, Clone)]
pub struct StreamDigest {
    state: u64,
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

impl Default for StreamDigest {
    fn default() -> StreamDigest {
        StreamDigest::new()
    }
}

impl StreamDigest {
    /// The digest of nothing yet.
    pub fn new() -> StreamDigest {
        StreamDigest { state: 0xcbf2_9ce4_8422_2325, tail: [0; 8], tail_len: 0, len: 0 }
    }

    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }

    /// Adds the next bytes of the stream.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            self.mix(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(u64::from_le_bytes(word.try_into().expect("chunks of 8 bytes")));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// Number of bytes added so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no byte was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything added.
    pub fn finish(mut self) -> u64 {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        self.mix(u64::from_le_bytes(last));
        self.mix(self.len);
        mix64(self.state)
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut digest = StreamDigest::new();
        digest.update(bytes);
        digest.finish()
    }
}

/// What a producer wrote or a consumer read: order-independent, so the sums of all producers
/// equal what each consumer saw, whatever the interleaving.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Number of messages.
    pub messages: u64,
    /// The sum of every byte (the seed's checksum).
    pub bytes: u64,
    /// The wrapping sum of a position-sensitive hash of each message (catches bytes that moved
    /// within or between messages, which the byte sum cannot).
    pub hashes: u64,
}

impl Checksum {
    /// Adds one message.
    pub fn add(&mut self, msg: &Msg256) {
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        let mut sum = 0u64;
        for chunk in msg.bytes.chunks_exact(8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
            // Sum the 8 bytes of `word` at once: add byte pairs, then fold.
            let pairs = (word & 0x00ff_00ff_00ff_00ff) + ((word >> 8) & 0x00ff_00ff_00ff_00ff);
            sum += pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48;
            hash = (hash ^ word).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.messages += 1;
        self.bytes = self.bytes.wrapping_add(sum);
        self.hashes = self.hashes.wrapping_add(mix64(hash));
    }

    /// Combines two checksums (of disjoint message sets).
    pub fn merge(self, other: Checksum) -> Checksum {
        Checksum {
            messages: self.messages + other.messages,
            bytes: self.bytes.wrapping_add(other.bytes),
            hashes: self.hashes.wrapping_add(other.hashes),
        }
    }

    /// Reads a checksum printed by [`Display`](fmt::Display) from a helper's output.
    ///
    /// # Panics
    /// If the output holds no checksum.
    pub fn parse(output: &str) -> Checksum {
        Checksum {
            messages: field(output, "messages"),
            bytes: field(output, "bytes"),
            hashes: field(output, "hashes"),
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "messages={} bytes={} hashes={}", self.messages, self.bytes, self.hashes)
    }
}

/// How a producer claims slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimMode {
    /// One `claim` per message.
    Single,
    /// `claim_many(k)` with `k` varying pseudo-randomly in `1..=max` (less at the end).
    Many(usize),
    /// `claim_available(max)` (less at the end).
    Available(usize),
}

impl ClaimMode {
    /// The modes tests cycle through, for a ring of `capacity` slots.
    pub fn all(capacity: usize) -> [ClaimMode; 3] {
        [
            ClaimMode::Single,
            ClaimMode::Many((capacity / 2).clamp(1, 37)),
            ClaimMode::Available((capacity / 2).clamp(1, 100)),
        ]
    }
}

impl fmt::Display for ClaimMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimMode::Single => f.write_str("single"),
            ClaimMode::Many(n) => write!(f, "many:{n}"),
            ClaimMode::Available(n) => write!(f, "available:{n}"),
        }
    }
}

impl FromStr for ClaimMode {
    type Err = String;
    fn from_str(s: &str) -> Result<ClaimMode, String> {
        let bad = || format!("bad claim mode {s:?} (single, many:N or available:N)");
        let max = |n: &str| n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad);
        match s.split_once(':') {
            None if s == "single" => Ok(ClaimMode::Single),
            Some(("many", n)) => Ok(ClaimMode::Many(max(n)?)),
            Some(("available", n)) => Ok(ClaimMode::Available(max(n)?)),
            _ => Err(bad()),
        }
    }
}

/// The ring's sequences, for error messages.
pub fn ring_state<T: Slot>(ring: &Disruptor<T>) -> String {
    let consumers: Vec<String> = (0..ring.consumer_count())
        .map(|i| format!("{}", ring.consumer_sequence(i).unwrap_or(0)))
        .collect();
    format!(
        "ring {}: cursor {}, claim sequence {}, consumer sequences [{}]",
        ring.name(),
        ring.cursor(),
        ring.claim_sequence(),
        consumers.join(", ")
    )
}

/// Produces `count` messages, claiming per `mode`; `fill(i, slot)` writes message `i`
/// (0-based, in this producer's order). Returns the first claimed sequence (`None` if
/// `count == 0`).
///
/// # Errors
/// When a claim or a commit waits longer than [`WAIT_TIMEOUT`], or a claim fails otherwise.
pub fn produce<T: Slot>(
    producer: &mut Producer<T>,
    count: u64,
    mode: ClaimMode,
    seed: u64,
    mut fill: impl FnMut(u64, &mut T),
) -> Result<Option<u64>, String> {
    let ring = producer.ring().clone();
    let fail = |what: &str, e: &dyn fmt::Display, done: u64| {
        format!(
            "producer: {what} failed after {done} of {count} messages: {e}; {}",
            ring_state(&ring)
        )
    };
    let mut sizes = XorShift::new(seed ^ 0x5eed);
    let mut first = None;
    let mut done = 0u64;
    while done < count {
        let remaining = usize::try_from(count - done).unwrap_or(usize::MAX);
        let mut batch = match mode {
            ClaimMode::Single => {
                let mut claim =
                    producer.claim_timeout(WAIT_TIMEOUT).map_err(|e| fail("claim", &e, done))?;
                first.get_or_insert(claim.sequence());
                fill(done, &mut claim);
                done += 1;
                claim
                    .commit_timeout(WAIT_TIMEOUT)
                    .map_err(|c| fail("commit", &format!("{c:?} timed out"), done))?;
                continue;
            }
            ClaimMode::Many(max) => {
                let k = (1 + sizes.next_u64() % max as u64) as usize;
                producer
                    .claim_many_timeout(k.min(remaining), WAIT_TIMEOUT)
                    .map_err(|e| fail("claim_many", &e, done))?
            }
            ClaimMode::Available(max) => producer
                .claim_available_timeout(max.min(remaining), WAIT_TIMEOUT)
                .map_err(|e| fail("claim_available", &e, done))?,
        };
        first.get_or_insert(batch.start());
        for slot in batch.iter_mut() {
            fill(done, slot);
            done += 1;
        }
        batch
            .commit_timeout(WAIT_TIMEOUT)
            .map_err(|b| fail("commit", &format!("{b:?} timed out"), done))?;
    }
    Ok(first)
}

/// Consumes exactly `count` messages (committing only those), calling `check(seq, message)`
/// for each in ring order. Returns the start of the first batch (`None` if `count == 0`).
///
/// # Errors
/// What `check` returns, or a timeout after [`WAIT_TIMEOUT`] without a message.
pub fn consume<T: Slot>(
    consumer: &mut Consumer<T>,
    count: u64,
    mut check: impl FnMut(u64, &T) -> Result<(), String>,
) -> Result<Option<u64>, String> {
    let ring = consumer.ring().clone();
    let index = consumer.index();
    let mut first = None;
    let mut done = 0u64;
    while done < count {
        let batch = consumer.consume_timeout(WAIT_TIMEOUT).map_err(|e| {
            format!("consumer {index}: {e} after {done} of {count} messages; {}", ring_state(&ring))
        })?;
        first.get_or_insert(batch.start());
        let take = (batch.len() as u64).min(count - done) as usize;
        for (i, msg) in batch.iter().take(take).enumerate() {
            check(batch.start() + i as u64, msg)?;
        }
        done += take as u64;
        batch.commit_first(take);
    }
    Ok(first)
}

/// Producer `id` writes `count` messages of random bytes; returns their checksum.
///
/// # Errors
/// See [`produce`].
pub fn produce_random(
    ring: &Disruptor<Msg256>,
    id: u32,
    count: u64,
    mode: ClaimMode,
    wait: WaitStrategy,
) -> Result<Checksum, String> {
    let mut producer = ring.producer().map_err(|e| format!("producer {id}: {e}"))?;
    producer.set_wait_strategy(wait);
    let mut rng = XorShift::new(u64::from(id));
    let mut sum = Checksum::default();
    produce(&mut producer, count, mode, u64::from(id), |_, msg| {
        rng.fill(&mut msg.bytes);
        sum.add(msg);
    })?;
    Ok(sum)
}

/// Consumer `index` reads `count` messages; returns their checksum. Fails if more than `count`
/// messages are published by the end.
///
/// # Errors
/// See [`consume`].
pub fn consume_checksum(
    ring: &Disruptor<Msg256>,
    index: usize,
    count: u64,
    wait: WaitStrategy,
) -> Result<Checksum, String> {
    let mut consumer = ring.consumer(index).map_err(|e| format!("consumer {index}: {e}"))?;
    consumer.set_wait_strategy(wait);
    let mut sum = Checksum::default();
    consume(&mut consumer, count, |_, msg| {
        sum.add(msg);
        Ok(())
    })?;
    let extra = consumer.try_consume().len();
    if extra != 0 {
        return Err(format!("consumer {index}: {extra} message(s) beyond the {count} expected"));
    }
    Ok(sum)
}

/// What a stamped producer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampedSent {
    /// The first sequence it claimed (`None` if it wrote nothing).
    pub first_claim: Option<u64>,
    /// The wrapping sum of [`Stamped::digest`] over the messages as written into their slots.
    pub sum: u64,
}

/// Producer `id` writes [`Stamped`] messages `0..count` through `producer`.
///
/// # Errors
/// See [`produce`].
pub fn produce_stamped_with(
    producer: &mut Producer<Stamped>,
    id: u32,
    count: u64,
    mode: ClaimMode,
) -> Result<StampedSent, String> {
    let mut sum = 0u64;
    let first_claim = produce(producer, count, mode, u64::from(id), |seq, msg| {
        *msg = Stamped::new(id, seq);
        sum = sum.wrapping_add(msg.digest());
    })?;
    Ok(StampedSent { first_claim, sum })
}

/// Producer `id` attaches and writes [`Stamped`] messages `0..count`.
///
/// # Errors
/// See [`produce`].
pub fn produce_stamped(
    ring: &Disruptor<Stamped>,
    id: u32,
    count: u64,
    mode: ClaimMode,
    wait: WaitStrategy,
) -> Result<StampedSent, String> {
    let mut producer = ring.producer().map_err(|e| format!("producer {id}: {e}"))?;
    producer.set_wait_strategy(wait);
    produce_stamped_with(&mut producer, id, count, mode)
}

/// What a stamped consumer expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampedPlan {
    /// The consumer's committed sequence when it attaches (also its first batch's start).
    pub start: u64,
    /// Per producer id, the first of its sequence numbers this consumer sees.
    pub firsts: Vec<u64>,
    /// Per producer id, one past the last of its sequence numbers this consumer sees.
    pub finals: Vec<u64>,
}

impl StampedPlan {
    /// Number of messages the plan covers.
    pub fn total(&self) -> u64 {
        self.firsts.iter().zip(&self.finals).map(|(f, e)| e - f).sum()
    }
}

/// Consumer `index` reads the messages of `plan` and checks each producer's messages arrive
/// exactly once, in order, untorn, and that it starts at `plan.start`. Returns a verdict line:
/// `verdict=ok messages=N next=P0,P1,.. switches=S sum=D`, where `next` is, per producer, one
/// past the last of its messages read and `sum` the wrapping sum of [`Stamped::digest`] over
/// every message read.
///
/// # Errors
/// The first violation, described precisely.
pub fn consume_stamped(
    ring: &Disruptor<Stamped>,
    index: usize,
    plan: &StampedPlan,
    wait: WaitStrategy,
) -> Result<String, String> {
    let mut consumer = ring.consumer(index).map_err(|e| format!("consumer {index}: {e}"))?;
    consumer.set_wait_strategy(wait);
    if consumer.sequence() != plan.start {
        return Err(format!(
            "consumer {index} attached at sequence {}, expected {}",
            consumer.sequence(),
            plan.start
        ));
    }
    let mut next = plan.firsts.clone();
    let mut expected_seq = plan.start;
    // How often consecutive messages come from different producers: how interleaved they were.
    let mut switches = 0u64;
    let mut last_producer = None;
    let mut sum = 0u64;
    let first = consume(&mut consumer, plan.total(), |at, msg| {
        let bad = |why: String| format!("consumer {index} at ring sequence {at}: {why}: {msg:?}");
        if at != expected_seq {
            return Err(bad(format!("expected ring sequence {expected_seq}")));
        }
        expected_seq += 1;
        let p = msg.producer as usize;
        let Some(want) = next.get_mut(p) else {
            return Err(bad(format!("unknown producer {p}")));
        };
        if msg.seq != *want || *want >= plan.finals[p] {
            return Err(bad(format!(
                "producer {p}: expected its message {want} (of {}..{})",
                plan.firsts[p], plan.finals[p]
            )));
        }
        if *msg != Stamped::new(msg.producer, msg.seq) {
            return Err(bad("torn or corrupt payload".to_owned()));
        }
        *want += 1;
        sum = sum.wrapping_add(msg.digest());
        switches += u64::from(last_producer.is_some_and(|l| l != msg.producer));
        last_producer = Some(msg.producer);
        Ok(())
    })?;
    if first.is_some_and(|f| f != plan.start) {
        return Err(format!("consumer {index}: first batch at {first:?}, expected {}", plan.start));
    }
    let seen: Vec<String> = next.iter().map(u64::to_string).collect();
    Ok(format!(
        "verdict=ok messages={} next={} switches={switches} sum={sum}",
        plan.total(),
        seen.join(",")
    ))
}

/// Parses a comma-separated list of numbers (`"1,2,3"`).
///
/// # Errors
/// On a malformed number.
pub fn parse_list(s: &str) -> Result<Vec<u64>, String> {
    s.split(',').map(|n| n.parse().map_err(|e| format!("bad number {n:?} in {s:?}: {e}"))).collect()
}

/// Parses argument `i` of a helper binary.
///
/// # Errors
/// If it is missing or does not parse.
pub fn arg<V: FromStr>(args: &[String], i: usize, what: &str) -> Result<V, String>
where
    V::Err: fmt::Display,
{
    let raw = args.get(i).ok_or_else(|| format!("missing argument {i}: {what}"))?;
    raw.parse().map_err(|e| format!("bad {what} {raw:?}: {e}"))
}

/// Runs a helper binary's body: prints its result on stdout, or its error on stderr and exits
/// with status 1.
pub fn helper_main(
    body: impl FnOnce(&[String]) -> Result<String, String>,
) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let name = args.first().cloned().unwrap_or_default();
    match body(&args) {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
