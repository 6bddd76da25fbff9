//! Record the messages of a [shm-disruptor](shm_disruptor) ring into a file, and replay them
//! into a ring.
//!
//! - [`Recorder`] and [`Replayer`] are the typed API: a program records its own `Disruptor<T>`
//!   (from a consumer index, so that nothing is missed), or replays a recording into its own
//!   ring, for instance in a test. A recording of another type is refused, with the first
//!   field that differs.
//! - [`RecordWriter`] and [`RecordReader`] are the same for rings whose type is known only from
//!   their header (through [`shm_disruptor::raw`]); [`record_consumer`], [`record_tail`] and
//!   [`replay`] are the loops of the `shm-disruptor record` and `replay` commands.
//!
//! ```
//! use shm_disruptor::{Disruptor, Slot};
//! use shm_disruptor_record::{Recorder, ReplayOptions, Replayer};
//!
//! #[derive(Slot, Clone, Copy, Debug, PartialEq)]
//! #[repr(C)]
//! struct Tick { price: f64, qty: u32, side: u8, _pad: [u8; 3] }
//!
//! # let path = std::env::temp_dir().join(format!("doc-record-{}.shmrec", std::process::id()));
//! let ring = Disruptor::<Tick>::builder("ticks").capacity(64).consumers(1).create_in_process()?;
//! let mut producer = ring.producer()?;
//! producer.publish_batch(10, |i, tick| *tick = Tick { price: i as f64, qty: 1, side: 0, _pad: [0; 3] })?;
//!
//! // Record: everything consumer 0 reads goes to the file, batch by batch.
//! let mut consumer = ring.consumer(0)?;
//! let mut recorder = Recorder::create(&path, &ring)?;
//! let batch = consumer.try_consume();
//! recorder.record(&batch)?;
//! batch.commit(); // after it is in the file: nothing is lost
//! let summary = recorder.finish()?;
//! assert_eq!((summary.batches, summary.messages), (1, 10));
//!
//! // Replay into another ring (a recording of another type would be refused).
//! let copy = Disruptor::<Tick>::builder("copy").capacity(16).consumers(1).create_in_process()?;
//! let mut replayer = Replayer::<Tick>::open(&path)?;
//! let mut reader = copy.consumer(0)?;
//! let report = std::thread::scope(|s| {
//!     let replay = s.spawn(|| replayer.replay_into(&mut copy.producer()?, &ReplayOptions::default()));
//!     let mut prices = Vec::new();
//!     while prices.len() < 10 {
//!         let batch = reader.consume();
//!         prices.extend(batch.iter().map(|tick| tick.price));
//!         batch.commit();
//!     }
//!     assert_eq!(prices, (0..10).map(f64::from).collect::<Vec<_>>());
//!     replay.join().unwrap()
//! })?;
//! assert_eq!(report.messages, 10);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The file format (version 1)
//!
//! A recording is a header, then frames, then an end frame. Every integer is little-endian;
//! the slots' bytes are as the ring held them (the byte order is part of the schema hash, and
//! recorded too).
//!
//! The header:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `SHMDREC\0` |
//! | 8 | 4 | format version: 1 |
//! | 12 | 4 | header length `H`, in bytes, from offset 0 to the end of the header's CRC (at most 4 MiB) |
//! | 16 | 8 | schema hash (the ring's, as `Slot::SCHEMA.hash`) |
//! | 24 | 4 | slot size |
//! | 28 | 4 | slot alignment |
//! | 32 | 8 | the recorded ring's capacity |
//! | 40 | 4 | its consumer count |
//! | 44 | 1 | its producer mode: 1 single, 2 multi |
//! | 45 | 1 | byte order of the slots: `l` little-endian, `b` big-endian |
//! | 46 | 2 | reserved, 0 |
//! | 48 | 8 | when recording started: nanoseconds since the Unix epoch |
//! | 56 | | four byte strings, each a 4-byte length then the bytes: the ring's name; the type name and the schema text (as `Schema`'s `Display` writes it), for people reading the file; the schema table ([`SchemaTable`](shm_disruptor::SchemaTable)'s encoding, which readers decode and check against the hash, size and alignment above) |
//! | `H - 4` | 4 | CRC-32 (ISO-HDLC, as zlib's) of bytes `0..H - 4` |
//!
//! Then frames, each a 24-byte frame header, a payload, and a CRC-32 of both:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | kind: 1 batch, 2 gap, 3 end |
//! | 4 | 4 | reserved, 0 |
//! | 8 | 8 | `first`: a batch's or gap's first sequence; the end frame's: the sequence after the last one recorded |
//! | 16 | 8 | `count`: messages in a batch, sequences missing in a gap; the end frame's: every message recorded |
//! | 24 | `count` × slot size (batches only) | the messages' bytes, in sequence order |
//! | then | 4 | CRC-32 of the frame header and payload |
//!
//! - A **batch** holds `count` (at least 1, at most 16 MiB of payload) consecutive messages
//!   from `first`. A **gap** says that the `count` sequences from `first` were lost: a
//!   recorder that read without a consumer index (`record --tail`) was lapped by producers.
//!   Frames follow each other without holes: each starts where the one before ended.
//! - The **end** frame closes a finished recording; nothing follows it. A file without one
//!   (its recorder was killed), or that ends inside a frame, is *truncated*: reading it reports
//!   how many complete batches it holds ([`RecordError::Truncated`]).
//! - A reader refuses a version it does not know, a CRC that does not match, frames that do
//!   not follow each other, and any length beyond the limits above, before allocating or
//!   reading anything according to it.

mod error;
mod header;
mod pace;
mod reader;
mod run;
mod typed;
mod writer;

pub use error::RecordError;
pub use header::RecordingHeader;
pub use pace::Pacer;
pub use reader::{Frame, Frames, RecordReader};
pub use run::{record_consumer, record_tail, replay, ReplayOptions, ReplayReport, Stop};
pub use typed::{Recorder, Replayer, TypedFrame};
pub use writer::RecordWriter;

/// What a recording holds (or, while recording, what was written so far).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Batch frames.
    pub batches: u64,
    /// Messages in them.
    pub messages: u64,
    /// Gap frames.
    pub gaps: u64,
    /// Sequences the gaps say were lost.
    pub missing: u64,
    /// The first sequence of the first frame (`None` when there is none).
    pub first: Option<u64>,
    /// The sequence after the last frame (`None` when there is none).
    pub end: Option<u64>,
    /// Whether the recording was finished (ends with an end frame).
    pub finished: bool,
}

/// The file format's version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The file's first bytes.
pub const MAGIC: [u8; 8] = *b"SHMDREC\0";

/// The most payload one batch frame holds: longer batches are written as several frames.
pub const MAX_FRAME_PAYLOAD: usize = 16 << 20;
