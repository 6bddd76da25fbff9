//! Byte streams: [`std::io::Write`] into a ring of bytes, and [`std::io::Read`] /
//! [`std::io::BufRead`] out of it, between threads or processes (the seed's
//! `DisruptorWriteStream` and `DisruptorReadStream`).
//!
//! A stream is a [`Disruptor<u8>`]: one [`StreamWriter`] (over the ring's [`Producer`]) and one
//! [`StreamReader`] per consumer index; every reader receives the whole stream. Writes claim
//! as many bytes as are free (up to the buffer's length) and copy into both halves of a claim
//! that wraps around the end of the ring; [`StreamReader::fill_buf`](BufRead::fill_buf) hands
//! out the ring's bytes in place, with no copy.
//!
//! # End of stream and errors
//!
//! They travel in the ring's status word ([`Disruptor::status`]), as in the seed:
//!
//! | status | meaning | set by |
//! |---|---|---|
//! | [`STREAM_OPEN`] (0) | bytes may still come | a new ring |
//! | [`STREAM_EOF`] (1) | end of stream | [`StreamWriter::finish`], or dropping the writer |
//! | [`STREAM_ERROR`] (2) | the writer failed | [`StreamWriter::fail`], or dropping it while panicking |
//!
//! The writer sets the status after committing its last bytes, and a reader reports the end
//! only once it has read every byte committed before it: `read` returns `Ok(0)` after
//! [`STREAM_EOF`], and an [`io::Error`] (kind [`Other`](io::ErrorKind::Other)) after
//! [`STREAM_ERROR`], from then on. A status word holding anything else is reported as
//! [`InvalidData`](io::ErrorKind::InvalidData). Setting the status wakes blocked readers.
//!
//! A writer whose process dies without ending the stream (killed, crashed) leaves the status
//! open; its readers notice that it is dead (it no longer holds the ring's producer, see the
//! `ownership` module) and, after the last byte it committed, fail with
//! [`UnexpectedEof`](io::ErrorKind::UnexpectedEof), as a reader of a pipe whose writer died
//! would see the end. A new writer may then take the ring over: a single-producer ring whose
//! producer died accepts a new one.
//!
//! When every reader is gone (each dropped, which releases its consumer index, like closing the
//! read end of a pipe), writes fail with [`BrokenPipe`](io::ErrorKind::BrokenPipe) instead of
//! waiting: the next write after the last reader left fails.
//!
//! A stream has one writer: create the ring with
//! [`single_producer()`](crate::Builder::single_producer). Prefer
//! [`WaitStrategy::Block`](crate::WaitStrategy::Block) (the seed requires a non-spinning ring):
//! a side that waits for the other sleeps on a futex instead of burning a core.
//!
//! # Example
//!
//! ```
//! use std::io::{self, BufRead, Write};
//! use shm_disruptor::{Disruptor, StreamReader, StreamWriter, WaitStrategy};
//!
//! # let name = format!("/doc-stream-{}", std::process::id());
//! let ring = Disruptor::<u8>::builder(&name)
//!     .capacity(64 * 1024)
//!     .consumers(1)
//!     .single_producer()
//!     .wait_strategy(WaitStrategy::Block)
//!     .create()?;
//!
//! // The writer (here a thread; typically another process that opens `name`).
//! let mut writer = StreamWriter::new(ring.producer()?);
//! let writing = std::thread::spawn(move || -> io::Result<()> {
//!     for i in 0..3 {
//!         writeln!(writer, "line {i}")?;
//!     }
//!     writer.finish(); // end of stream (dropping the writer does it too)
//!     Ok(())
//! });
//!
//! let reader = StreamReader::new(ring.consumer(0)?);
//! let lines = reader.lines().collect::<io::Result<Vec<String>>>()?;
//! assert_eq!(lines, ["line 0", "line 1", "line 2"]);
//! writing.join().unwrap()?;
//! # shm_disruptor::unlink(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `tokio` feature, `AsyncStreamWriter` and `AsyncStreamReader` implement tokio's
//! `AsyncWrite`, `AsyncRead` and `AsyncBufRead` in the same way, waiting through this process's
//! watcher thread instead of blocking the executor (as the async calls such as
//! [`Consumer::consume_async`] do).

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

use crate::error::ClaimError;
use crate::protocol::ownership::writer_died;
use crate::protocol::wait::{deadline_after, Waiter};
use crate::protocol::Core;
use crate::{ClaimBatch, Consumer, Disruptor, Producer};

/// Status word value while the stream is open: the status of a new ring.
pub const STREAM_OPEN: i32 = 0;
/// Status word value once the writer has finished: readers return `Ok(0)` after the last byte.
pub const STREAM_EOF: i32 = 1;
/// Status word value once the writer has failed: readers report an error after the last byte.
pub const STREAM_ERROR: i32 = 2;

/// Writes a byte stream into a ring of bytes; implements [`Write`].
///
/// Each `write` claims as many bytes as are free, up to the buffer's length (waiting for room per
/// the producer's wait strategy, at most the [write timeout](Self::set_write_timeout)), copies
/// them in and commits them. [`flush`](Write::flush) has nothing to do: every write is published
/// before it returns.
///
/// The stream ends with [`finish`](Self::finish) or when the writer is dropped
/// ([`STREAM_EOF`]); with [`fail`](Self::fail), or a drop during a panic, it ends in error
/// ([`STREAM_ERROR`]).
///
/// Once every reader has been dropped (which releases its consumer index), writes fail with
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe) rather than wait. A reader whose process was
/// killed released nothing: the writer waits for it, as any producer does, unless the producer
/// was given [`DeadPeerPolicy::Recover`](crate::DeadPeerPolicy::Recover) before being wrapped.
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use shm_disruptor::{Disruptor, StreamReader, StreamWriter, STREAM_EOF};
///
/// let ring = Disruptor::<u8>::builder("pipe")
///     .capacity(4096)
///     .consumers(1)
///     .single_producer()
///     .create_in_process()?;
/// let mut reader = StreamReader::new(ring.consumer(0)?);
///
/// let mut writer = StreamWriter::new(ring.producer()?);
/// writer.set_write_timeout(Some(Duration::from_secs(5))); // fail rather than wait forever
/// writer.write_all(b"hello, ")?;
/// write!(writer, "{} bytes", 42)?;
/// writer.finish(); // readers see the end once they have read everything before it
/// assert_eq!(ring.status(), STREAM_EOF);
///
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?;
/// assert_eq!(text, "hello, 42 bytes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `finish` and `fail` consume the writer, so no write can follow:
///
/// ```compile_fail,E0382
/// # use std::io::Write;
/// # fn after_finish(mut writer: shm_disruptor::StreamWriter) {
/// writer.finish();
/// let _ = writer.write_all(b"too late"); // error[E0382]: use of moved value: `writer`
/// # }
/// ```
pub struct StreamWriter {
    producer: Producer<u8>,
    timeout: Option<Duration>,
    /// Set once the status word has been set (finish, fail, or an async shutdown).
    ended: bool,
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("ring", &self.producer.ring().name())
            .field("timeout", &self.timeout)
            .field("ended", &self.ended)
            .finish()
    }
}

impl StreamWriter {
    /// A writer over `producer`. It does not touch the status word until the stream ends.
    pub fn new(producer: Producer<u8>) -> StreamWriter {
        StreamWriter { producer, timeout: None, ended: false }
    }

    /// The ring written to.
    pub fn ring(&self) -> &Disruptor<u8> {
        self.producer.ring()
    }

    /// Limits how long one `write` waits for room (`None`, the default: as long as it takes).
    /// A write that times out fails with [`TimedOut`](io::ErrorKind::TimedOut), having written
    /// nothing; it can be retried.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Ends the stream: readers read what was written, then `Ok(0)` ([`STREAM_EOF`]).
    /// Dropping the writer does the same, unless the thread is panicking.
    pub fn finish(mut self) {
        self.end(STREAM_EOF);
    }

    /// Ends the stream in error: readers read what was written, then an error
    /// ([`STREAM_ERROR`]).
    pub fn fail(mut self) {
        self.end(STREAM_ERROR);
    }

    fn end(&mut self, status: i32) {
        if !self.ended {
            self.ended = true;
            // Every byte was committed before this (commits return once published), and
            // `set_status` stores with Release and wakes the readers blocked on the data line:
            // a reader that sees `status` sees those bytes (see `StreamReader::poll_available`).
            self.producer.ring().set_status(status);
        }
    }

    fn check_open(&self) -> io::Result<()> {
        if self.ended {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after the stream ended"));
        }
        Ok(())
    }

    /// Writes what fits now; `None` when the ring is full.
    #[cfg(feature = "tokio")]
    fn try_write(&mut self, buf: &[u8]) -> Option<io::Result<usize>> {
        // The async claim attempt: a full ring also runs the producer's dead-peer policy.
        Some(match self.producer.try_claim_async(buf.len() as u64, false)? {
            Ok(range) => Ok(copy_and_commit(self.producer.batch(range), buf)),
            Err(e) => Err(claim_error(e)),
        })
    }
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.check_open()?;
        let claim = match self.timeout {
            None => self.producer.claim_available(buf.len()),
            Some(timeout) => self.producer.claim_available_timeout(buf.len(), timeout),
        };
        Ok(copy_and_commit(claim.map_err(claim_error)?, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.end(if std::thread::panicking() { STREAM_ERROR } else { STREAM_EOF });
    }
}

/// Copies the first `claim.len()` bytes of `buf` into the claim (both halves when it wraps:
/// `ClaimBatch::copy_from_slice` splits `buf` at the end of the ring) and commits it.
fn copy_and_commit(mut claim: ClaimBatch<'_, u8>, buf: &[u8]) -> usize {
    let n = claim.len();
    claim.copy_from_slice(&buf[..n]);
    // A stream has a single writer, so no earlier claim is pending and this never waits.
    claim.commit();
    n
}

fn claim_error(e: ClaimError) -> io::Error {
    match e {
        ClaimError::NoConsumers => io::Error::new(
            io::ErrorKind::BrokenPipe,
            "every reader of the stream has gone (all consumers released)",
        ),
        ClaimError::Timeout => {
            io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for room in the stream")
        }
        other => io::Error::other(other),
    }
}

/// Reads a byte stream from a ring of bytes as one consumer index; implements [`Read`] and
/// [`BufRead`].
///
/// [`fill_buf`](BufRead::fill_buf) returns the bytes in place in the ring (up to its end; the
/// rest follows on the next call) and [`consume`](BufRead::consume) commits them, so that the
/// writer may reuse the space. `read` copies across the wrap in one call. Both wait for data
/// per the consumer's wait strategy, at most the [read timeout](Self::set_read_timeout), and
/// also wake when the stream ends.
///
/// Dropping a reader **releases its consumer index** (like closing the read end of a pipe):
/// the writer no longer waits for it, and once every reader is gone writes fail with
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe). [`into_consumer`](Self::into_consumer) takes the
/// consumer back without releasing it.
///
/// ```
/// use std::io::{BufRead, ErrorKind, Read, Write};
/// use shm_disruptor::{Disruptor, StreamReader, StreamWriter};
///
/// let new_pipe = || Disruptor::<u8>::builder("pipe").capacity(64).consumers(1).single_producer();
/// let ring = new_pipe().create_in_process()?;
/// let mut writer = StreamWriter::new(ring.producer()?);
/// let mut reader = StreamReader::new(ring.consumer(0)?);
/// writer.write_all(b"partial")?;
/// writer.fail(); // the writer gives up: readers get an error after the last byte
///
/// let bytes = reader.fill_buf()?; // in place in the ring: no copy
/// assert_eq!(bytes, b"partial");
/// let n = bytes.len();
/// reader.consume(n); // commits them: the writer may reuse the space
/// let error = reader.read(&mut [0; 16]).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Other);
///
/// // Once every reader is gone, a write fails at once instead of waiting for room.
/// let ring = new_pipe().create_in_process()?;
/// let mut writer = StreamWriter::new(ring.producer()?);
/// drop(StreamReader::new(ring.consumer(0)?)); // releases consumer 0
/// assert_eq!(writer.write(b"anyone?").unwrap_err().kind(), ErrorKind::BrokenPipe);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamReader {
    /// `Some` until `into_consumer` or drop takes it.
    consumer: Option<Consumer<u8>>,
    timeout: Option<Duration>,
    /// How the stream ended, once every byte before the end was read.
    ended: Option<End>,
}

/// How a stream ended, as a reader saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The writer set this status word.
    Status(i32),
    /// The writer died without ending the stream.
    WriterDied,
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("consumer", &self.consumer)
            .field("timeout", &self.timeout)
            .field("ended", &self.ended)
            .finish()
    }
}

impl StreamReader {
    /// A reader over `consumer`, from its committed sequence on.
    pub fn new(consumer: Consumer<u8>) -> StreamReader {
        StreamReader { consumer: Some(consumer), timeout: None, ended: None }
    }

    fn consumer(&self) -> &Consumer<u8> {
        self.consumer.as_ref().expect("the consumer is present until drop or into_consumer")
    }

    fn consumer_mut(&mut self) -> &mut Consumer<u8> {
        self.consumer.as_mut().expect("the consumer is present until drop or into_consumer")
    }

    /// The ring read from.
    pub fn ring(&self) -> &Disruptor<u8> {
        self.consumer().ring()
    }

    /// Limits how long one read waits for data (`None`, the default: as long as it takes). A
    /// read that times out fails with [`TimedOut`](io::ErrorKind::TimedOut), having read
    /// nothing; it can be retried.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Gives the consumer back without releasing it: a later owner resumes from its committed
    /// sequence (bytes handed out by `fill_buf` but not consumed are delivered again).
    pub fn into_consumer(mut self) -> Consumer<u8> {
        self.consumer.take().expect("the consumer is present until drop or into_consumer")
    }

    /// Never waits: `Some(Ok(n))` with `n > 0` bytes readable now, `Some(Ok(0))` at the end of
    /// the stream, `Some(Err(_))` when the writer failed (or died, which is looked for only when
    /// `check_writer`: it takes a system call), `None` when the caller must wait.
    fn poll_available(&mut self, check_writer: bool) -> Option<io::Result<usize>> {
        if let Some(end) = self.ended {
            return Some(end_of_stream(end));
        }
        let consumer = self.consumer_mut();
        let available = consumer.try_consume().len();
        if available > 0 {
            return Some(Ok(available));
        }
        // SYNC POINT. The Acquire load in `status` pairs with the Release store in `set_status`,
        // which the writer makes after the Release store of the cursor that published its last
        // bytes (`StreamWriter::end`). So once we see the end, the loads below see every byte
        // committed before it: the ring must be checked again *after* the status, as bytes
        // committed between our first check and the status store would be lost otherwise.
        let status = consumer.ring().status();
        if status == STREAM_OPEN {
            if !check_writer || !writer_died(&consumer.ring().shared.core) {
                return None;
            }
            // The writer's commits happened before its death, which the kernel reported to us
            // (the lock it held is free): every byte it committed is visible now.
            let available = consumer.try_consume().len();
            if available > 0 {
                return Some(Ok(available));
            }
            event!(
                WARN,
                ring = consumer.ring().name(),
                consumer = consumer.index(),
                "a stream reader sees that its writer died without ending the stream"
            );
            self.ended = Some(End::WriterDied);
            return Some(end_of_stream(End::WriterDied));
        }
        let available = consumer.try_consume().len();
        if available > 0 {
            return Some(Ok(available));
        }
        if consumer.sequence() < consumer.ring().claim_sequence() {
            // Bytes remain that are claimed but not yet visible (a multi-producer commit after an
            // earlier claim still pending), or that the stages this consumer follows have not
            // passed on yet.
            return None;
        }
        self.ended = Some(End::Status(status));
        Some(end_of_stream(End::Status(status)))
    }

    /// Waits (per the consumer's wait strategy, at most the timeout) until `poll_available` has
    /// an answer.
    fn wait_available(&mut self) -> io::Result<usize> {
        let mut waiter: Option<Waiter> = None;
        loop {
            // Whether the writer died is looked for every 64 rounds (a system call).
            let check_writer = waiter.as_ref().map_or(true, |w| w.rounds() % 64 == 0);
            if let Some(result) = self.poll_available(check_writer) {
                return result;
            }
            let consumer = self.consumer();
            let core = &consumer.ring().shared.core;
            let (index, sequence) = (consumer.index(), consumer.sequence());
            let timeout = self.timeout;
            let waiter = waiter.get_or_insert_with(|| {
                Waiter::new(
                    consumer.wait_strategy(),
                    timeout.and_then(deadline_after),
                    core.ring.fence_fallback,
                )
            });
            // The data line is also where `set_status` wakes waiters, and `readable` includes
            // the end of the stream, so a blocked reader wakes when the stream ends.
            if !waiter.wait(core.ring.data_wake(), || readable(core, index, sequence)) {
                return self.poll_available(true).unwrap_or_else(|| {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "timed out waiting for stream data",
                    ))
                });
            }
        }
    }

    /// The `available` readable bytes from the consumer's sequence, up to the end of the ring.
    fn contiguous(&self, available: usize) -> &[u8] {
        if available == 0 {
            return &[];
        }
        let consumer = self.consumer();
        let ring = &consumer.ring().shared.core.ring;
        let (index, len, _) = ring.halves(consumer.sequence(), available as u64);
        // `Ring::halves` gives `index < capacity` and `len <= capacity - index`, so the
        // slice lies inside the slot region of `capacity` bytes, which stays mapped while
        // `consumer` (borrowed for the slice's lifetime) holds the `Shared`. `available` came
        // from `try_consume` (`poll_available`) with the same sequence, so these bytes are
        // published and not yet committed by this consumer: producers do not write them until it
        // commits past them (the gating protocol, as for `Batch::slices`), and committing takes
        // `&mut self`, which ends this borrow first.
        // SAFETY: in bounds, published, and not written until this consumer commits (see above).
        unsafe { std::slice::from_raw_parts(ring.slot::<u8>(index).cast_const(), len) }
    }

    /// Copies up to `room` readable bytes, in order, through `put` (called once per half of a
    /// wrapped batch), commits them and returns how many.
    fn read_with(&mut self, room: usize, mut put: impl FnMut(&[u8])) -> usize {
        let batch = self.consumer_mut().try_consume();
        let (first, second) = batch.slices();
        let a = first.len().min(room);
        put(&first[..a]);
        let b = second.len().min(room - a);
        if b > 0 {
            put(&second[..b]);
        }
        batch.commit_first(a + b);
        a + b
    }

    /// Commits `amt` bytes (at most the readable ones).
    fn commit(&mut self, amt: usize) {
        if amt > 0 {
            let batch = self.consumer_mut().try_consume();
            let n = amt.min(batch.len());
            batch.commit_first(n);
        }
    }
}

/// Whether a waiting reader at `sequence` has something to do: bytes to read, the stream has
/// ended and every byte has reached it, or the writer died.
fn readable(core: &Core, index: usize, sequence: u64) -> bool {
    if core.visible_bound(index) > sequence {
        return true;
    }
    // `load_status` is Acquire, pairing with the Release store in `Disruptor::set_status`,
    // which the writer makes after its last claim and commit; every byte claimed before the
    // end must reach us.
    let status = core.ring.load_status();
    (status != STREAM_OPEN && core.ring.load_claim_sequence() <= sequence)
        || (status == STREAM_OPEN && writer_died(core))
}

/// What a read returns once the stream has ended and every byte was read.
fn end_of_stream(end: End) -> io::Result<usize> {
    let status = match end {
        End::Status(status) => status,
        End::WriterDied => {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream's writer died without ending the stream; every byte it committed \
                 was read",
            ))
        }
    };
    match status {
        STREAM_EOF => Ok(0),
        STREAM_ERROR => Err(io::Error::other(
            "the stream's writer failed (status STREAM_ERROR); every byte it wrote before was read",
        )),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the ring's status word is {other}, not a stream status \
                 (0 open, 1 end of stream, 2 writer error)"
            ),
        )),
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.wait_available()? == 0 {
            return Ok(0);
        }
        let mut filled = 0;
        Ok(self.read_with(buf.len(), |bytes| {
            buf[filled..filled + bytes.len()].copy_from_slice(bytes);
            filled += bytes.len();
        }))
    }
}

impl BufRead for StreamReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let available = self.wait_available()?;
        Ok(self.contiguous(available))
    }

    fn consume(&mut self, amt: usize) {
        self.commit(amt);
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            consumer.release();
        }
    }
}

#[cfg(feature = "tokio")]
pub use tokio_io::{AsyncStreamReader, AsyncStreamWriter};

#[cfg(feature = "tokio")]
mod tokio_io {
    //! tokio's `AsyncWrite`, `AsyncRead` and `AsyncBufRead`: a poll tries the non-blocking step,
    //! and when it must wait registers with the ring's watcher (`asynch`), which wakes the task
    //! when room is freed or data (or the end of the stream) arrives.
    //!
    //! They are separate types, not impls on `StreamWriter` and `StreamReader`, so that code
    //! with both `std::io::Write` and `tokio::io::AsyncWriteExt` in scope has no ambiguous
    //! `write_all`.

    use std::fmt;
    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{ready, Context, Poll};

    use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

    use super::{readable, StreamReader, StreamWriter, STREAM_EOF};
    use crate::asynch::{AsyncWait, Line};
    use crate::{Consumer, Disruptor, Producer};

    /// The error of an async stream whose watcher thread could not be started.
    fn unavailable(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "the async watcher thread of the ring could not be started")
    }

    /// The async [`StreamWriter`]: implements tokio's [`AsyncWrite`] (feature `tokio`).
    ///
    /// A write that must wait for room does not block the executor: the task is woken when a
    /// reader frees room (or every reader has gone: then it fails with
    /// [`BrokenPipe`](io::ErrorKind::BrokenPipe)). [`shutdown`](AsyncWrite::poll_shutdown) ends
    /// the stream ([`STREAM_EOF`](crate::STREAM_EOF)); dropping the writer does too, or signals
    /// an error if the thread is panicking. For a deadline, wrap the calls in your executor's
    /// timeout.
    ///
    /// ```
    /// use shm_disruptor::{AsyncStreamReader, AsyncStreamWriter, Disruptor};
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # let name = format!("/doc-async-stream-{}", std::process::id());
    /// let ring = Disruptor::<u8>::builder(&name).capacity(16).consumers(1).single_producer().create()?;
    /// let mut writer = AsyncStreamWriter::new(ring.producer()?);
    /// let mut reader = AsyncStreamReader::new(ring.consumer(0)?);
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// runtime.block_on(async {
    ///     let write = async {
    ///         writer.write_all(&[42; 1000]).await?; // 1000 bytes through a ring of 16
    ///         writer.shutdown().await
    ///     };
    ///     let mut received = Vec::new();
    ///     let (written, read) = tokio::join!(write, reader.read_to_end(&mut received));
    ///     written?;
    ///     assert_eq!(read?, 1000);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # shm_disruptor::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub struct AsyncStreamWriter(StreamWriter, AsyncWait);

    impl fmt::Debug for AsyncStreamWriter {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("AsyncStreamWriter").field(&self.0).finish()
        }
    }

    impl AsyncStreamWriter {
        /// An async writer over `producer`.
        pub fn new(producer: Producer<u8>) -> AsyncStreamWriter {
            AsyncStreamWriter(StreamWriter::new(producer), AsyncWait::default())
        }

        /// The ring written to.
        pub fn ring(&self) -> &Disruptor<u8> {
            self.0.ring()
        }

        /// Ends the stream in error ([`STREAM_ERROR`](crate::STREAM_ERROR)).
        pub fn fail(self) {
            self.0.fail();
        }
    }

    impl From<StreamWriter> for AsyncStreamWriter {
        fn from(writer: StreamWriter) -> AsyncStreamWriter {
            AsyncStreamWriter(writer, AsyncWait::default())
        }
    }

    impl AsyncWrite for AsyncStreamWriter {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let AsyncStreamWriter(writer, wait) = self.get_mut();
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            writer.check_open()?;
            let shared = Arc::clone(&writer.producer.ring().shared);
            let ready = writer.producer.async_ready(buf.len() as u64, false);
            wait.poll(&shared, Line::Room, cx, || writer.try_write(buf), ready)
                .map(|result| result.unwrap_or_else(|kind| Err(unavailable(kind))))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().0.end(STREAM_EOF);
            Poll::Ready(Ok(()))
        }
    }

    /// The async [`StreamReader`]: implements tokio's [`AsyncRead`] and [`AsyncBufRead`]
    /// (zero-copy `fill_buf`) (feature `tokio`).
    ///
    /// A read that must wait does not block the executor: the task is woken when data arrives
    /// or the stream ends. As with [`StreamReader`], dropping it releases its consumer index.
    ///
    /// ```
    /// use std::io::Write;
    /// use shm_disruptor::{AsyncStreamReader, Disruptor, StreamWriter, WaitStrategy};
    /// use tokio::io::AsyncBufReadExt;
    ///
    /// let ring = Disruptor::<u8>::builder("lines")
    ///     .capacity(64)
    ///     .consumers(1)
    ///     .single_producer()
    ///     .wait_strategy(WaitStrategy::Block)
    ///     .create_in_process()?;
    /// let reader = AsyncStreamReader::new(ring.consumer(0)?);
    ///
    /// // A blocking writer on a thread (typically, another process that opens the ring).
    /// let mut writer = StreamWriter::new(ring.producer()?);
    /// let writing = std::thread::spawn(move || -> std::io::Result<()> {
    ///     for i in 0..100 {
    ///         writeln!(writer, "line {i}")?; // 790 bytes through a ring of 64
    ///     }
    ///     writer.finish();
    ///     Ok(())
    /// });
    ///
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// let count = runtime.block_on(async {
    ///     let mut lines = reader.lines();
    ///     let mut count = 0;
    ///     while let Some(line) = lines.next_line().await? {
    ///         assert_eq!(line, format!("line {count}"));
    ///         count += 1;
    ///     }
    ///     Ok::<_, std::io::Error>(count)
    /// })?;
    /// assert_eq!(count, 100);
    /// writing.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub struct AsyncStreamReader(StreamReader, AsyncWait);

    impl fmt::Debug for AsyncStreamReader {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("AsyncStreamReader").field(&self.0).finish()
        }
    }

    impl AsyncStreamReader {
        /// An async reader over `consumer`, from its committed sequence on.
        pub fn new(consumer: Consumer<u8>) -> AsyncStreamReader {
            AsyncStreamReader(StreamReader::new(consumer), AsyncWait::default())
        }

        /// The ring read from.
        pub fn ring(&self) -> &Disruptor<u8> {
            self.0.ring()
        }

        /// Gives the consumer back without releasing it (see [`StreamReader::into_consumer`]).
        pub fn into_consumer(self) -> Consumer<u8> {
            self.0.into_consumer()
        }

        /// `poll_available`, registering with the data watcher when it must wait.
        fn poll_available(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
            let AsyncStreamReader(reader, wait) = self;
            let consumer = reader.consumer();
            let shared = Arc::clone(&consumer.ring().shared);
            let (index, sequence) = (consumer.index(), consumer.sequence());
            wait.poll(
                &shared,
                Line::Data,
                cx,
                || reader.poll_available(true),
                move |s| readable(s, index, sequence),
            )
            .map(|result| result.unwrap_or_else(|kind| Err(unavailable(kind))))
        }
    }

    impl From<StreamReader> for AsyncStreamReader {
        fn from(reader: StreamReader) -> AsyncStreamReader {
            AsyncStreamReader(reader, AsyncWait::default())
        }
    }

    impl AsyncRead for AsyncStreamReader {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if buf.remaining() == 0 || ready!(this.poll_available(cx))? == 0 {
                return Poll::Ready(Ok(()));
            }
            this.0.read_with(buf.remaining(), |bytes| buf.put_slice(bytes));
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncBufRead for AsyncStreamReader {
        /// The readable bytes in place in the ring, up to its end (no copy).
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            let this = self.get_mut();
            let available = ready!(this.poll_available(cx))?;
            Poll::Ready(Ok(this.0.contiguous(available)))
        }

        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().0.commit(amt);
        }
    }
}
