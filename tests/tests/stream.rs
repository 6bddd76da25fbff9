//! Byte streams (`StreamWriter`, `StreamReader`): the seed's stream suite, the wrap-around case
//! of its issue 28, a 100 MB file between two processes, the seed's scale (one writer to 1,000
//! readers in threads and to 50 reader processes), and the tokio `AsyncWrite`/`AsyncRead` impls.
//!
//! Every read and write has a timeout ([`LIMIT`]), and every thread is joined with one, so a
//! broken stream fails a test instead of hanging it.

use std::io::{self, BufRead, Read, Write};
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shm_disruptor::{
    Disruptor, StreamReader, StreamWriter, WaitStrategy, STREAM_EOF, STREAM_ERROR, STREAM_OPEN,
};
use shm_disruptor_tests::{
    field, run_child, ChildGroup, ChildId, SegmentGuard, StreamDigest, XorShift, TEST_WAITS,
};

/// The longest any read, write or join of these tests may wait.
const LIMIT: Duration = Duration::from_secs(30);

const STREAM_PIPE: &str = env!("CARGO_BIN_EXE_stream_pipe");

/// A stream ring: one writer (single producer), `readers` consumers, waiting per `wait`.
fn stream_ring(
    guard: &SegmentGuard,
    capacity: usize,
    readers: usize,
    wait: WaitStrategy,
) -> Disruptor<u8> {
    Disruptor::builder(guard.name())
        .capacity(capacity)
        .consumers(readers)
        .single_producer()
        .wait_strategy(wait)
        .create()
        .unwrap()
}

fn writer(ring: &Disruptor<u8>) -> StreamWriter {
    let mut writer = StreamWriter::new(ring.producer().unwrap());
    writer.set_write_timeout(Some(LIMIT));
    writer
}

fn reader(ring: &Disruptor<u8>, index: usize) -> StreamReader {
    let mut reader = StreamReader::new(ring.consumer(index).unwrap());
    reader.set_read_timeout(Some(LIMIT));
    reader
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    XorShift::new(seed).fill(&mut bytes);
    bytes
}

/// A thread whose result is awaited with a deadline.
struct Task<T> {
    result: mpsc::Receiver<T>,
    handle: JoinHandle<()>,
}

fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Task<T> {
    spawn_with_stack(2 << 20, f)
}

/// [`spawn`] with a stack of `bytes` (for tests that start a thousand threads).
fn spawn_with_stack<T: Send + 'static>(
    bytes: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Task<T> {
    let (send, result) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(move || {
            let _ = send.send(f());
        })
        .expect("start a test thread");
    Task { result, handle }
}

impl<T> Task<T> {
    /// The thread's result; re-raises its panic; fails after [`LIMIT`].
    fn join(self) -> T {
        self.join_before(Instant::now() + LIMIT)
    }

    /// The thread's result; re-raises its panic; fails at `deadline`.
    fn join_before(self, deadline: Instant) -> T {
        match self.result.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(value) => value,
            Err(mpsc::RecvTimeoutError::Disconnected) => match self.handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the thread sends its result before it ends"),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("a test thread ran past {LIMIT:?}"),
        }
    }

    fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Waits (with a deadline) until `done` holds; for conditions another thread brings about.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

/// Reads until the end of the stream; the bytes read so far with the error if it ended in one.
fn read_all(reader: &mut StreamReader) -> (Vec<u8>, io::Result<usize>) {
    let mut bytes = Vec::new();
    let result = reader.read_to_end(&mut bytes);
    (bytes, result)
}

// --- The seed's stream suite -------------------------------------------------------------------

#[test]
fn writer_to_reader() {
    for wait in TEST_WAITS {
        let guard = SegmentGuard::new("stream-basic");
        let ring = stream_ring(&guard, 1024, 1, wait);
        let mut w = writer(&ring);
        let writing = spawn(move || {
            for i in 0..100u32 {
                writeln!(w, "message {i} {}", "x".repeat(i as usize)).unwrap();
            }
            w.finish();
        });
        let mut expected = String::new();
        for i in 0..100u32 {
            expected += &format!("message {i} {}\n", "x".repeat(i as usize));
        }
        let mut got = String::new();
        assert_eq!(reader(&ring, 0).read_to_string(&mut got).unwrap(), expected.len());
        writing.join();
        assert_eq!(got, expected, "{wait:?}");
        assert_eq!(ring.status(), STREAM_EOF);
    }
}

#[test]
fn pipe_with_io_copy() {
    let guard = SegmentGuard::new("stream-pipe");
    let ring = stream_ring(&guard, 4096, 1, WaitStrategy::Block);
    let data = random_bytes(1 << 20, 1);
    let source = data.clone();
    let mut w = writer(&ring);
    let writing = spawn(move || {
        let copied = io::copy(&mut &source[..], &mut w).unwrap();
        w.finish();
        copied
    });
    let mut sink = Vec::new();
    let copied = io::copy(&mut reader(&ring, 0), &mut sink).unwrap();
    assert_eq!(writing.join(), data.len() as u64);
    assert_eq!(copied, data.len() as u64);
    assert!(sink == data, "the piped bytes differ");
}

#[test]
fn a_writer_error_reaches_the_reader_after_its_data() {
    let guard = SegmentGuard::new("stream-fail");
    let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
    let data = random_bytes(1000, 2);
    let source = data.clone();
    let mut w = writer(&ring);
    let writing = spawn(move || {
        w.write_all(&source).unwrap();
        w.fail();
    });
    let mut r = reader(&ring, 0);
    let (got, result) = read_all(&mut r);
    writing.join();
    assert!(got == data, "every byte written before the error arrives");
    let error = result.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::Other);
    assert!(error.to_string().contains("writer failed"), "{error}");
    assert_eq!(ring.status(), STREAM_ERROR);
    // The error stays.
    assert_eq!(r.read(&mut [0; 8]).unwrap_err().kind(), io::ErrorKind::Other);
    assert_eq!(r.fill_buf().unwrap_err().kind(), io::ErrorKind::Other);
}

#[test]
fn a_writer_dropped_while_panicking_signals_an_error() {
    let guard = SegmentGuard::new("stream-panic");
    let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
    let mut w = writer(&ring);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        w.write_all(b"before the panic").unwrap();
        panic!("the writer panics with the stream open (this panic is expected)");
    }));
    assert!(panicked.is_err());
    assert_eq!(ring.status(), STREAM_ERROR);
    let (got, result) = read_all(&mut reader(&ring, 0));
    assert_eq!(got, b"before the panic");
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Other);
}

#[test]
fn a_writer_panicking_in_another_process_signals_an_error() {
    let guard = SegmentGuard::new("stream-panic-proc");
    let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
    let mut r = reader(&ring, 0);
    let mut child = Command::new(STREAM_PIPE);
    child.args(["write-then-panic", guard.name(), "sent by a doomed process"]);
    let out = run_child("stream_pipe write-then-panic", child, LIMIT);
    assert_eq!(field::<u8>(&out, "panicked"), 1);
    let (got, result) = read_all(&mut r);
    assert_eq!(got, b"sent by a doomed process");
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Other);
}

#[test]
fn several_readers_each_get_everything() {
    const READERS: usize = 3;
    let guard = SegmentGuard::new("stream-readers");
    let ring = stream_ring(&guard, 4096, READERS, WaitStrategy::Block);
    let data = random_bytes(256 * 1024, 3);
    let readers: Vec<Task<Vec<u8>>> = (0..READERS)
        .map(|i| {
            let mut r = reader(&ring, i);
            spawn(move || {
                let (bytes, result) = read_all(&mut r);
                result.unwrap();
                bytes
            })
        })
        .collect();
    let mut w = writer(&ring);
    // Writes of varying sizes, some larger than the ring.
    let mut rng = XorShift::new(4);
    let mut rest = &data[..];
    while !rest.is_empty() {
        let n = (rng.next_u64() as usize % 10_000 + 1).min(rest.len());
        w.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
    }
    w.finish();
    for (i, r) in readers.into_iter().enumerate() {
        assert!(r.join() == data, "reader {i} got other bytes");
    }
}

#[test]
fn dropping_the_writer_while_a_reader_waits_ends_the_stream() {
    let guard = SegmentGuard::new("stream-drop-writer");
    let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
    let mut w = writer(&ring);
    let mut r = reader(&ring, 0);
    let (first_read, got_first) = mpsc::channel();
    let reading = spawn(move || {
        let mut first = [0u8; 5];
        r.read_exact(&mut first).unwrap();
        first_read.send(()).unwrap();
        // Now the ring is empty: this read waits until the stream ends.
        let (rest, result) = read_all(&mut r);
        (first, rest, result.map_err(|e| e.kind()))
    });
    w.write_all(b"first").unwrap();
    got_first.recv_timeout(LIMIT).unwrap();
    w.write_all(b" and last").unwrap();
    drop(w);
    let (first, rest, result) = reading.join();
    assert_eq!(&first, b"first");
    assert_eq!(rest, b" and last");
    assert_eq!(result, Ok(9));
    assert_eq!(ring.status(), STREAM_EOF);
}

#[test]
fn dropping_the_writer_after_a_full_ring_delivers_what_was_accepted() {
    let guard = SegmentGuard::new("stream-drop-full");
    let ring = stream_ring(&guard, 100, 1, WaitStrategy::Block);
    let data = random_bytes(1000, 5);
    let mut w = writer(&ring);
    // With no time to wait, writes take what fits and then fail: the ring is full.
    w.set_write_timeout(Some(Duration::ZERO));
    let mut accepted = 0;
    let error = loop {
        match w.write(&data[accepted..]) {
            Ok(n) => accepted += n,
            Err(e) => break e,
        }
    };
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(accepted, 100, "a write takes what fits");
    drop(w);
    let (got, result) = read_all(&mut reader(&ring, 0));
    assert_eq!(result.unwrap(), 100);
    assert_eq!(got, &data[..100]);
}

#[test]
fn dropping_a_reader_mid_stream_releases_it() {
    let guard = SegmentGuard::new("stream-drop-reader");
    let ring = stream_ring(&guard, 64, 2, WaitStrategy::Block);
    let data = random_bytes(10_000, 6);
    let mut early = reader(&ring, 0);
    let keeper = {
        let mut r = reader(&ring, 1);
        spawn(move || {
            let (bytes, result) = read_all(&mut r);
            result.unwrap();
            bytes
        })
    };
    let mut w = writer(&ring);
    w.write_all(&data[..40]).unwrap();
    let mut part = [0u8; 10];
    early.read_exact(&mut part).unwrap();
    assert_eq!(part, data[..10]);
    drop(early);
    assert!(ring.is_released(0), "a dropped reader releases its consumer index");
    // Far more than the ring holds: the writer no longer waits for the dropped reader.
    w.write_all(&data[40..]).unwrap();
    w.finish();
    assert!(keeper.join() == data);
}

#[test]
fn into_consumer_keeps_the_index_and_its_position() {
    let guard = SegmentGuard::new("stream-into-consumer");
    let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
    let mut w = writer(&ring);
    w.write_all(b"abcdef").unwrap();
    w.finish();
    let mut r = reader(&ring, 0);
    let mut two = [0u8; 2];
    r.read_exact(&mut two).unwrap();
    assert_eq!(r.fill_buf().unwrap(), b"cdef");
    let consumer = r.into_consumer(); // "cdef" was not consumed: it is delivered again
    assert!(!ring.is_released(0));
    assert_eq!(consumer.sequence(), 2);
    let mut r = StreamReader::new(consumer);
    let (rest, result) = read_all(&mut r);
    assert_eq!(rest, b"cdef");
    assert_eq!(result.unwrap(), 4);
}

#[test]
fn a_full_ring_makes_the_writer_wait() {
    const CAPACITY: usize = 16;
    let guard = SegmentGuard::new("stream-full");
    let ring = stream_ring(&guard, CAPACITY, 1, WaitStrategy::Block);
    let data = random_bytes(64 * 1024, 7);
    let source = data.clone();
    let mut w = writer(&ring);
    let writing = spawn(move || {
        w.write_all(&source).unwrap();
        w.finish();
    });
    // Nothing is read yet: the writer fills the ring, then must wait.
    wait_until("the writer has filled the ring", || ring.cursor() == CAPACITY as u64);
    assert!(!writing.is_finished(), "the writer waits for room");
    // A slow reader: 3 bytes at a time.
    let mut r = reader(&ring, 0);
    let mut got = Vec::new();
    let mut chunk = [0u8; 3];
    loop {
        let n = r.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    writing.join();
    assert!(got == data, "the slowly read bytes differ");
}

#[test]
fn bytes_after_an_earlier_pending_claim_wait_for_it() {
    // The seed's "commit must be retried": another producer's earlier claim is pending. In a
    // multi-producer ring the stream's commit does not wait, but its bytes become visible only
    // after the earlier claim, and the reader does not report the end before them.
    let guard = SegmentGuard::new("stream-commit-wait");
    let ring = Disruptor::<u8>::builder(guard.name())
        .capacity(64)
        .consumers(1)
        .multi_producer()
        .wait_strategy(WaitStrategy::Block)
        .create()
        .unwrap();
    let mut other = ring.producer().unwrap();
    let mut earlier = other.claim().unwrap();
    *earlier = b'<';
    let mut w = writer(&ring);
    w.write_all(b"hello").unwrap();
    w.finish();
    assert_eq!((ring.claim_sequence(), ring.cursor()), (6, 0), "committed, not yet visible");
    // The stream has ended, but its bytes are not visible: the reader waits, it does not end.
    let mut r = reader(&ring, 0);
    r.set_read_timeout(Some(Duration::from_millis(30)));
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap_err().kind(), io::ErrorKind::TimedOut);
    earlier.commit();
    drop(other);
    r.set_read_timeout(Some(LIMIT));
    let (got, result) = read_all(&mut r);
    assert_eq!(got, b"<hello");
    assert_eq!(result.unwrap(), 6);
}

#[test]
fn writes_fail_when_every_reader_has_gone() {
    let guard = SegmentGuard::new("stream-no-readers");
    let ring = stream_ring(&guard, 32, 2, WaitStrategy::Block);
    let (r0, r1) = (reader(&ring, 0), reader(&ring, 1));
    let mut w = writer(&ring);
    let writing = spawn(move || {
        let result = w.write_all(&[7u8; 1000]);
        (w, result)
    });
    // The writer fills the ring and waits for room, which only the readers could free.
    wait_until("the writer has filled the ring", || ring.cursor() == 32);
    drop(r0);
    assert!(!ring.all_consumers_released());
    drop(r1);
    let (mut w, result) = writing.join();
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    // And at once from then on.
    assert_eq!(w.write(b"more").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn data_straddling_the_wrap_arrives_intact() {
    // The seed's issue 28: a wrong end offset in the copy across the two halves of a wrapped
    // batch corrupted data. A ring of 10 bytes and writes of 7 wrap on every other write.
    let guard = SegmentGuard::new("stream-wrap");
    let ring = stream_ring(&guard, 10, 1, WaitStrategy::Block);
    let mut w = writer(&ring);
    let mut r = reader(&ring, 0);
    let mut sent = Vec::new();
    let mut received = Vec::new();
    let mut wrapped_reads = 0;
    for round in 0..50u8 {
        let message: Vec<u8> = (0..7).map(|i| round.wrapping_mul(7).wrapping_add(i)).collect();
        assert_eq!(w.write(&message).unwrap(), 7, "7 bytes fit in an empty ring of 10");
        sent.extend_from_slice(&message);
        let start = received.len();
        // Alternate the ways of reading: zero-copy fill_buf (the contiguous part, then the
        // rest), and read into buffers smaller than, equal to and larger than the message.
        match round % 4 {
            0 => {
                while received.len() < start + 7 {
                    let chunk = r.fill_buf().unwrap();
                    if chunk.len() < 7 {
                        wrapped_reads += 1;
                    }
                    received.extend_from_slice(chunk);
                    let n = chunk.len();
                    r.consume(n);
                }
            }
            size => {
                let mut buf = vec![0u8; [0, 3, 7, 11][size as usize]];
                while received.len() < start + 7 {
                    let n = r.read(&mut buf).unwrap();
                    received.extend_from_slice(&buf[..n]);
                }
            }
        }
        assert_eq!(received[start..], message, "round {round}");
    }
    assert!(wrapped_reads > 0, "fill_buf met the wrap");
    w.finish();
    assert_eq!(r.read(&mut [0; 4]).unwrap(), 0);
    assert_eq!(received, sent);
}

#[test]
fn one_read_copies_both_halves_of_a_wrapped_batch() {
    let guard = SegmentGuard::new("stream-wrap-read");
    let ring = stream_ring(&guard, 10, 1, WaitStrategy::Block);
    let mut w = writer(&ring);
    let mut r = reader(&ring, 0);
    w.write_all(b"0123456").unwrap();
    r.read_exact(&mut [0; 7]).unwrap();
    // Sequences 7..14: indices 7, 8, 9, then 0..4.
    assert_eq!(w.write(b"abcdefg").unwrap(), 7);
    let mut buf = [0u8; 16];
    assert_eq!(r.read(&mut buf).unwrap(), 7, "one read takes both halves");
    assert_eq!(&buf[..7], b"abcdefg");
}

#[test]
fn a_reader_times_out_then_resumes() {
    let guard = SegmentGuard::new("stream-timeout");
    let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
    let mut r = reader(&ring, 0);
    r.set_read_timeout(Some(Duration::from_millis(20)));
    assert_eq!(r.read(&mut [0; 4]).unwrap_err().kind(), io::ErrorKind::TimedOut);
    assert_eq!(r.fill_buf().unwrap_err().kind(), io::ErrorKind::TimedOut);
    let mut w = writer(&ring);
    w.write_all(b"late").unwrap();
    w.finish();
    r.set_read_timeout(Some(LIMIT));
    let (got, result) = read_all(&mut r);
    assert_eq!(got, b"late");
    assert_eq!(result.unwrap(), 4);
}

#[test]
fn end_of_stream_waits_for_the_stages_a_reader_follows() {
    // Reader 1 sees bytes only after reader 0 consumed them: the end of the stream must not
    // reach it before the bytes do.
    let guard = SegmentGuard::new("stream-stages");
    let ring = Disruptor::<u8>::builder(guard.name())
        .capacity(64)
        .consumers(2)
        .depends_on(1, &[0])
        .single_producer()
        .wait_strategy(WaitStrategy::Block)
        .create()
        .unwrap();
    let mut w = writer(&ring);
    w.write_all(b"staged").unwrap();
    w.finish();
    let mut second = reader(&ring, 1);
    second.set_read_timeout(Some(Duration::ZERO));
    assert_eq!(
        second.read(&mut [0; 8]).unwrap_err().kind(),
        io::ErrorKind::TimedOut,
        "not the end: bytes are still behind stage 0"
    );
    let (first_got, first_end) = read_all(&mut reader(&ring, 0));
    assert_eq!((first_got.as_slice(), first_end.unwrap()), (&b"staged"[..], 6));
    second.set_read_timeout(Some(LIMIT));
    let (got, result) = read_all(&mut second);
    assert_eq!(got, b"staged");
    assert_eq!(result.unwrap(), 6);
}

#[test]
fn a_status_that_is_not_a_stream_status_is_invalid_data() {
    let guard = SegmentGuard::new("stream-bad-status");
    let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
    assert_eq!(ring.status(), STREAM_OPEN);
    ring.set_status(7);
    let error = reader(&ring, 0).read(&mut [0; 4]).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert!(error.to_string().contains('7'), "{error}");
}

#[test]
fn lines_through_bufread() {
    let guard = SegmentGuard::new("stream-lines");
    let ring = stream_ring(&guard, 16, 1, WaitStrategy::Block);
    let mut w = writer(&ring);
    let writing = spawn(move || {
        for i in 0..200 {
            writeln!(w, "line number {i}").unwrap();
        }
    });
    let lines: Vec<String> = reader(&ring, 0).lines().collect::<io::Result<_>>().unwrap();
    writing.join();
    let expected: Vec<String> = (0..200).map(|i| format!("line number {i}")).collect();
    assert_eq!(lines, expected);
}

// --- The seed's scale ---------------------------------------------------------------------------

/// Reads the stream to its end with `fill_buf` (in place, no copy); its length and digest.
fn digest_stream(reader: &mut StreamReader) -> io::Result<(u64, u64)> {
    let mut digest = StreamDigest::new();
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((digest.len(), digest.finish()));
        }
        digest.update(chunk);
        let n = chunk.len();
        reader.consume(n);
    }
}

#[test]
fn one_writer_to_1000_readers_in_threads() {
    const READERS: usize = 1000;
    const SIZE: usize = 256 * 1024;
    let started = Instant::now();
    let guard = SegmentGuard::new("stream-1000-readers");
    let ring = stream_ring(&guard, 4096, READERS, WaitStrategy::Block);
    let readers: Vec<Task<io::Result<(u64, u64)>>> = (0..READERS)
        .map(|i| {
            let mut consumer = ring.consumer(i).unwrap();
            // Most sleep on the futex; every tenth polls with backoff instead.
            if i % 10 == 0 {
                consumer.set_wait_strategy(WaitStrategy::Backoff);
            }
            let mut r = StreamReader::new(consumer);
            r.set_read_timeout(Some(LIMIT));
            spawn_with_stack(256 * 1024, move || digest_stream(&mut r))
        })
        .collect();
    // Writes of varying sizes, most smaller than the ring, some larger; the digest of exactly
    // what was handed to the writer.
    let data = random_bytes(SIZE, 11);
    let mut written = StreamDigest::new();
    let mut w = writer(&ring);
    let mut rng = XorShift::new(12);
    let mut rest = &data[..];
    while !rest.is_empty() {
        let n = (rng.next_u64() as usize % 6000 + 1).min(rest.len());
        w.write_all(&rest[..n]).unwrap();
        written.update(&rest[..n]);
        rest = &rest[n..];
    }
    w.finish();
    let (len, digest) = (written.len(), written.finish());
    assert_eq!(len, SIZE as u64);
    let deadline = Instant::now() + LIMIT;
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.join_before(deadline).unwrap_or_else(|e| panic!("reader {i}: {e}"));
        assert_eq!(got, (len, digest), "reader {i}: (length, digest) differ from the writer's");
    }
    assert_eq!(ring.status(), STREAM_EOF);
    assert!(ring.all_consumers_released(), "every reader released its index when dropped");
    eprintln!("1 writer to {READERS} reader threads, {SIZE} bytes: {:?}", started.elapsed());
}

// --- Between processes -------------------------------------------------------------------------

/// A file removed when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `bytes` to a fresh file of this test run (removed when the guard is dropped).
fn temp_file(tag: &str, bytes: &[u8]) -> (std::path::PathBuf, RemoveOnDrop) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{tag}-{}.bin", std::process::id()));
    let guard = RemoveOnDrop(path.clone());
    std::fs::write(&path, bytes).unwrap();
    (path, guard)
}

#[test]
fn a_100_mb_file_between_two_processes_arrives_identical() {
    const SIZE: usize = 100 * 1024 * 1024;
    const RING: usize = 64 * 1024;
    let guard = SegmentGuard::new("stream-100mb");
    let _ring = stream_ring(&guard, RING, 1, WaitStrategy::Block);
    let (path, _file) = temp_file("stream-100mb", &random_bytes(SIZE, 100));

    let mut group = ChildGroup::new();
    let mut read = Command::new(STREAM_PIPE);
    read.args(["read", guard.name(), "0", "block"]);
    let mut write = Command::new(STREAM_PIPE);
    write.args(["write", guard.name(), path.to_str().unwrap(), "block"]);
    let started = Instant::now();
    let reader = group.spawn("stream_pipe read", read);
    let writer = group.spawn("stream_pipe write", write);
    group.wait_all(Duration::from_secs(120));
    let wall = started.elapsed();

    let (sent, got) = (group.stdout(writer), group.stdout(reader));
    assert_eq!(field::<usize>(sent, "bytes"), SIZE);
    assert_eq!(field::<usize>(got, "bytes"), SIZE);
    assert_eq!(field::<String>(got, "digest"), field::<String>(sent, "digest"));
    let mb = SIZE as f64 / 1e6;
    let read_us = field::<f64>(got, "elapsed_us").max(1.0);
    eprintln!(
        "stream 100 MB through a {} KiB ring between two processes: {:.0} MB/s first byte to \
         end, {:.0} MB/s wall (with process start-up), {:.2} s",
        RING / 1024,
        mb / (read_us / 1e6),
        mb / wall.as_secs_f64(),
        wall.as_secs_f64()
    );
}

#[test]
fn one_writer_to_50_reader_processes() {
    const READERS: usize = 50;
    const SIZE: usize = 1 << 20;
    let started = Instant::now();
    let guard = SegmentGuard::new("stream-50-procs");
    let ring = stream_ring(&guard, 16 * 1024, READERS, WaitStrategy::Block);
    let data = random_bytes(SIZE, 13);
    let (path, _file) = temp_file("stream-50-procs", &data);
    let mut group = ChildGroup::new();
    let readers: Vec<ChildId> = (0..READERS)
        .map(|i| {
            // Most sleep on the futex; one in ten polls with backoff, one in ten yields.
            let wait = match i % 10 {
                4 => "backoff",
                9 => "yield",
                _ => "block",
            };
            let mut read = Command::new(STREAM_PIPE);
            read.args(["read", guard.name(), &i.to_string(), wait]);
            group.spawn(format!("stream_pipe read {i} ({wait})"), read)
        })
        .collect();
    let mut write = Command::new(STREAM_PIPE);
    write.args(["write", guard.name(), path.to_str().unwrap(), "block"]);
    let writer = group.spawn("stream_pipe write", write);
    group.wait_all(Duration::from_secs(120));

    let sent = group.stdout(writer);
    assert_eq!(field::<usize>(sent, "bytes"), SIZE, "{sent}");
    let digest: String = field(sent, "digest");
    assert_eq!(digest, format!("{:016x}", StreamDigest::of(&data)), "the writer sent the file");
    for (i, &id) in readers.iter().enumerate() {
        let got = group.stdout(id);
        assert_eq!(field::<usize>(got, "bytes"), SIZE, "reader {i}: {got}");
        assert_eq!(field::<String>(got, "digest"), digest, "reader {i}: {got}");
    }
    assert_eq!(ring.status(), STREAM_EOF);
    assert!(ring.all_consumers_released(), "every reader process released its index");
    eprintln!("1 writer to {READERS} reader processes, {SIZE} bytes: {:?}", started.elapsed());
}

// --- tokio ------------------------------------------------------------------------------------

mod asynchronous {
    use super::*;
    use shm_disruptor::{AsyncStreamReader, AsyncStreamWriter};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn async_writer_to_async_reader() {
        let guard = SegmentGuard::new("stream-async");
        // A small ring: both tasks wait for each other all the time, on one executor thread.
        let ring = stream_ring(&guard, 256, 1, WaitStrategy::Block);
        let data = random_bytes(512 * 1024, 8);
        let mut w = AsyncStreamWriter::from(writer(&ring));
        let mut r = AsyncStreamReader::from(reader(&ring, 0));
        let got = runtime().block_on(async {
            let write = async {
                let mut rng = XorShift::new(9);
                let mut rest = &data[..];
                while !rest.is_empty() {
                    let n = (rng.next_u64() as usize % 1000 + 1).min(rest.len());
                    w.write_all(&rest[..n]).await.unwrap();
                    rest = &rest[n..];
                }
                w.shutdown().await.unwrap();
                assert_eq!(
                    w.write(b"late").await.unwrap_err().kind(),
                    io::ErrorKind::BrokenPipe,
                    "no write after shutdown"
                );
            };
            let read = async {
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                got
            };
            let ((), got) = tokio::time::timeout(LIMIT, async { tokio::join!(write, read) })
                .await
                .expect("the async transfer finished in time");
            got
        });
        assert!(got == data, "the async transfer differs");
        assert_eq!(ring.status(), STREAM_EOF);
    }

    #[test]
    fn an_async_reader_wakes_when_a_thread_ends_the_stream() {
        let guard = SegmentGuard::new("stream-async-eof");
        let ring = stream_ring(&guard, 64, 1, WaitStrategy::Block);
        let mut r = AsyncStreamReader::from(reader(&ring, 0));
        let mut w = writer(&ring);
        let (reading, started) = mpsc::channel();
        let writing = spawn(move || {
            w.write_all(b"from a thread").unwrap();
            // End the stream only once the reader has read everything and waits again.
            started.recv_timeout(LIMIT).unwrap();
            w.finish();
        });
        let got = runtime().block_on(async {
            tokio::time::timeout(LIMIT, async {
                let mut first = [0u8; 13];
                r.read_exact(&mut first).await.unwrap();
                reading.send(()).unwrap();
                let mut rest = Vec::new();
                assert_eq!(r.read_to_end(&mut rest).await.unwrap(), 0, "woken by the end");
                first
            })
            .await
            .expect("the async reader was woken in time")
        });
        writing.join();
        assert_eq!(&got, b"from a thread");
    }

    #[test]
    fn async_errors_and_lines() {
        let guard = SegmentGuard::new("stream-async-errors");
        let ring = stream_ring(&guard, 32, 1, WaitStrategy::Block);
        let mut w = AsyncStreamWriter::from(writer(&ring));
        let mut r = AsyncStreamReader::from(reader(&ring, 0));
        runtime().block_on(async {
            tokio::time::timeout(LIMIT, async {
                let write = async {
                    for i in 0..50 {
                        w.write_all(format!("async line {i}\n").as_bytes()).await.unwrap();
                    }
                };
                let read = async {
                    let mut lines = (&mut r).lines();
                    for i in 0..50 {
                        assert_eq!(
                            lines.next_line().await.unwrap().unwrap(),
                            format!("async line {i}")
                        );
                    }
                };
                tokio::join!(write, read);
            })
            .await
            .expect("the lines arrived in time")
        });
        // A writer error after data.
        let (got, result) = runtime().block_on(async {
            w.write_all(b"tail").await.unwrap();
            w.fail();
            let mut got = Vec::new();
            let result = tokio::time::timeout(LIMIT, r.read_to_end(&mut got)).await.unwrap();
            (got, result)
        });
        assert_eq!(got, b"tail");
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Other);
    }

    #[test]
    fn an_async_writer_gets_broken_pipe_when_the_readers_are_gone() {
        let guard = SegmentGuard::new("stream-async-pipe");
        let ring = stream_ring(&guard, 32, 1, WaitStrategy::Block);
        let r = reader(&ring, 0);
        let mut w = AsyncStreamWriter::from(writer(&ring));
        let dropping = {
            let ring = ring.clone();
            spawn(move || {
                // Drop the reader once the writer has filled the ring and waits for room.
                wait_until("the writer has filled the ring", || ring.cursor() == 32);
                drop(r);
            })
        };
        let result = runtime().block_on(async {
            tokio::time::timeout(LIMIT, w.write_all(&[1u8; 1000])).await.expect("woken in time")
        });
        dropping.join();
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
