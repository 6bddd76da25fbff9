//! `shm-disruptor record` and `replay` as real processes, against rings made here: a million
//! messages through both commands, Ctrl-C, a lapped `--tail`, a ring of another type, a
//! truncated recording.
//!
//! Every segment name is unique (`/sd-rec-<pid>-<n>`) and unlinked on drop, every file is
//! removed on drop, every child is killed and reaped on drop, every wait has a deadline.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shm_disruptor::{Disruptor, Slot, WaitStrategy};
use shm_disruptor_record::{Frame, RecordReader};

const BIN: &str = env!("CARGO_BIN_EXE_shm-disruptor");
/// The longest any command or wait may take (CI has 2 cores and runs tests in parallel).
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Tick {
    price: f64,
    qty: u32,
    side: u8,
    _pad: [u8; 3],
}

fn tick(i: u64) -> Tick {
    Tick { price: i as f64 + 0.5, qty: (i * 7) as u32, side: (i % 3) as u8, _pad: [0; 3] }
}

/// An order-sensitive checksum of ticks, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Checksum(u64, u64);

impl Checksum {
    fn new() -> Checksum {
        Checksum(0xcbf2_9ce4_8422_2325, 0)
    }

    fn add(&mut self, t: &Tick) {
        for word in [t.price.to_bits(), u64::from(t.qty), u64::from(t.side)] {
            self.0 = (self.0 ^ word).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.1 += 1;
    }
}

fn unique(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("sd-rec-{}-{n}-{tag}", std::process::id())
}

/// A unique segment name, unlinked on drop.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Name {
        Name(format!("/{}", unique(tag)))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = shm_disruptor::unlink(&self.0);
    }
}

/// A unique file in the temporary directory, removed on drop.
struct File(PathBuf);

impl File {
    fn new(tag: &str) -> File {
        File(std::env::temp_dir().join(format!("{}.shmrec", unique(tag))))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running command: its stdout line by line; killed and reaped on drop.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shm-disruptor");
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        Running { child, lines, stderr: Some(stderr) }
    }

    /// The next line of its output, which must start with `prefix`.
    fn expect(&mut self, prefix: &str) -> String {
        let line = self.lines.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            let status = self.child.try_wait();
            panic!("no {prefix:?} line in time (status {status:?})")
        });
        assert!(line.starts_with(prefix), "expected {prefix:?}, got {line:?}");
        line
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child, which is not reaped before `wait` (or drop).
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits (with a deadline) for it to exit: its status, the rest of its stdout, its stderr.
    fn wait(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "shm-disruptor did not exit in time");
            std::thread::sleep(Duration::from_millis(5));
        };
        // The rest of its output, up to the end of the pipe (its reader thread may lag).
        let mut stdout = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(DEADLINE) {
            stdout.push(line);
        }
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stdout.join("\n"), stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion: status, stdout, stderr.
fn run(args: &[&str]) -> (ExitStatus, String, String) {
    Running::start(args).wait()
}

fn ring(name: &Name, capacity: usize) -> Disruptor<Tick> {
    Disruptor::<Tick>::builder(&name.0)
        .capacity(capacity)
        .consumers(1)
        .wait_strategy(WaitStrategy::Yield)
        .create()
        .unwrap()
}

/// Polls `done` every millisecond until it holds, for at most [`DEADLINE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Publishes `from..to` (each `tick(i)`) from this process; their checksum.
fn publish(ring: &Disruptor<Tick>, range: std::ops::Range<u64>) -> Checksum {
    let mut producer = ring.producer().unwrap();
    let mut sum = Checksum::new();
    let mut i = range.start;
    while i < range.end {
        let most = (range.end - i).min(100) as usize;
        let mut claim =
            producer.claim_available_timeout(most, DEADLINE).expect("the recorder stalled");
        let n = claim.len();
        claim.iter_mut().enumerate().for_each(|(k, slot)| *slot = tick(i + k as u64));
        claim.commit();
        (i..i + n as u64).for_each(|j| sum.add(&tick(j)));
        i += n as u64;
    }
    sum
}

#[test]
fn a_million_messages_through_record_and_replay_keep_their_checksum() {
    const COUNT: u64 = 1_000_000;
    let (source_name, target_name, file) = (Name::new("src"), Name::new("dst"), File::new("m"));
    let source = ring(&source_name, 4096);
    let mut recorder = Running::start(&[
        "record",
        &source_name.0,
        file.arg(),
        "--consumer",
        "0",
        "--count",
        "1,000,000",
    ]);
    recorder.expect("recording");
    let produced = publish(&source, 0..COUNT);
    let (status, out, err) = recorder.wait();
    assert!(status.success(), "{status}: {out} {err}");
    assert!(out.contains("recorded 1000000 messages"), "{out}");
    drop(source);
    // Replay into a new ring, created from the recording.
    let replayer = Running::start(&["replay", file.arg(), &target_name.0, "--create"]);
    let target = Disruptor::<Tick>::builder(&target_name.0).open_timeout(DEADLINE).unwrap();
    assert_eq!(target.capacity(), 4096, "the recorded geometry");
    let mut consumer = target.consumer(0).unwrap();
    let mut replayed = Checksum::new();
    while replayed.1 < COUNT {
        let batch = consumer.consume_timeout(DEADLINE).expect("the replay stalled");
        batch.iter().for_each(|t| replayed.add(t));
        batch.commit();
    }
    let (status, out, err) = replayer.wait();
    assert!(status.success(), "{status}: {out} {err}");
    assert!(out.contains("replayed 1000000 messages"), "{out}");
    assert_eq!(replayed, produced);
}

#[test]
fn ctrl_c_on_record_leaves_a_complete_readable_file() {
    let (name, file) = (Name::new("int"), File::new("int"));
    let source = ring(&name, 64);
    let mut recorder = Running::start(&["record", &name.0, file.arg(), "--consumer", "0"]);
    recorder.expect("recording");
    let produced = publish(&source, 0..1000);
    // The recorder commits a batch once it is in the file: all 1,000 are recorded then.
    wait_until("the recorder consumed everything", || source.consumer_sequence(0) == Some(1000));
    recorder.signal(libc::SIGINT);
    let (status, out, err) = recorder.wait();
    assert!(status.success(), "{status}: {out} {err}");
    assert!(out.contains("recorded 1000 messages"), "{out}");
    let mut reader = RecordReader::open(file.path()).expect("a finished recording");
    assert!(reader.summary().finished);
    assert_eq!((reader.summary().messages, reader.summary().gaps), (1000, 0));
    let mut sum = Checksum::new();
    for frame in reader.frames().unwrap() {
        match frame.unwrap() {
            Frame::Batch { bytes, .. } => {
                bytemuck::pod_collect_to_vec::<u8, Tick>(&bytes).iter().for_each(|t| sum.add(t))
            }
            Frame::Gap { .. } => panic!("nothing is missed as a consumer"),
        }
    }
    assert_eq!(sum, produced);
}

/// Whether process `pid` is stopped (state `T` in /proc).
fn stopped(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T'))
}

#[test]
fn a_lapped_tail_recorder_records_the_exact_gap() {
    let (name, file) = (Name::new("tail"), File::new("tail"));
    let source = ring(&name, 8);
    let mut recorder = Running::start(&["record", &name.0, file.arg(), "--tail", "--count", "8"]);
    let line = recorder.expect("recording");
    assert!(line.contains("from sequence 0"), "{line}");
    // Paused, it is lapped: 100 messages through 8 slots, consumed by this process.
    recorder.signal(libc::SIGSTOP);
    wait_until("the recorder is stopped", || stopped(recorder.pid()));
    let mut consumer = source.consumer(0).unwrap();
    let mut producer = source.producer().unwrap();
    for i in 0..100 {
        producer
            .claim_timeout(DEADLINE)
            .map(|mut c| {
                *c = tick(i);
                c.commit()
            })
            .unwrap();
        consumer.try_consume().commit();
    }
    recorder.signal(libc::SIGCONT);
    // It reads the last 8, records the 92 before them as a gap, and stops at --count 8.
    let (status, out, err) = recorder.wait();
    assert!(status.success(), "{status}: {out} {err}");
    let mut reader = RecordReader::open(file.path()).unwrap();
    let frames: Vec<Frame> = reader.frames().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(frames[0], Frame::Gap { first: 0, count: 92 });
    match &frames[1..] {
        [Frame::Batch { first: 92, bytes }] => {
            let ticks = bytemuck::pod_collect_to_vec::<u8, Tick>(bytes);
            assert_eq!(ticks, (92..100).map(tick).collect::<Vec<_>>());
        }
        other => panic!("{other:?}"),
    }
    assert!(out.contains("1 gap(s) of 92 sequence(s) lost"), "{out}");
}

#[test]
fn replay_refuses_a_ring_of_another_type_and_a_truncated_file() {
    #[derive(Slot, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    #[slot(name = "Tick")]
    struct TickV2 {
        price: f64,
        side: u8,
        _pad: [u8; 3],
        qty: u32,
    }
    let (name, other, file) = (Name::new("typed"), Name::new("other"), File::new("typed"));
    // 512 slots: the ring created from the recording holds all 300, with nobody reading it.
    let source = ring(&name, 512);
    let recorder =
        Running::start(&["record", &name.0, file.arg(), "--consumer", "0", "--count", "300"]);
    // Three rounds, each recorded before the next: at least three batches.
    for round in 0..3 {
        publish(&source, round * 100..round * 100 + 100);
        let recorded = Some(round * 100 + 100);
        wait_until("the recorder consumed the round", || source.consumer_sequence(0) == recorded);
    }
    let (status, out, err) = recorder.wait();
    assert!(status.success(), "{status}: {out} {err}");
    // Another type under the name: refused, with the field that differs; nothing published.
    let ring = Disruptor::<TickV2>::builder(&other.0).capacity(64).consumers(1).create().unwrap();
    let (status, out, err) = run(&["replay", file.arg(), &other.0, "--create"]);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(err.contains("holds another message type"), "{err}");
    assert!(err.contains("first difference"), "{err}");
    assert!(err.contains("qty: u32 @8") && err.contains("side: u8 @8"), "{err}");
    assert_eq!(ring.cursor(), 0);
    // A truncated copy: refused with its complete batches; replayed with --allow-truncated.
    let whole = std::fs::read(file.path()).unwrap();
    let cut = File::new("cut");
    std::fs::write(cut.path(), &whole[..whole.len() - 40]).unwrap(); // into the last batch
    let batches = RecordReader::open_truncated(cut.path()).unwrap().summary().batches;
    let messages = RecordReader::open_truncated(cut.path()).unwrap().summary().messages;
    let target = Name::new("cut");
    let (status, _, err) = run(&["replay", cut.arg(), &target.0, "--create"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains(&format!("holds {batches} complete batch(es)")), "{err}");
    assert!(Disruptor::<Tick>::open(&target.0).is_err(), "refused before creating anything");
    let (status, out, err) =
        run(&["replay", cut.arg(), &target.0, "--create", "--allow-truncated"]);
    assert!(status.success(), "{status}: {out} {err}");
    let replayed = Disruptor::<Tick>::open(&target.0).unwrap();
    assert_eq!(replayed.cursor(), messages);
    assert!((200..300).contains(&messages), "the cut is inside the last batch: {messages}");
}
