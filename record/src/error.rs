//! [`RecordError`]: why recording or replaying failed.

use std::io;
use std::path::PathBuf;

use shm_disruptor::{AttachError, ClaimError, ConsumeError, OpenError};

/// Why recording or replaying failed. Every variant that concerns a file names it.
///
/// ```
/// use shm_disruptor_record::{RecordError, Replayer};
///
/// # let path = std::env::temp_dir().join(format!("doc-error-{}.shmrec", std::process::id()));
/// std::fs::write(&path, b"SHMDREC\0\x01\x00")?; // cut inside the header
/// match Replayer::<u64>::open(&path) {
///     Err(RecordError::TooSmall { len, .. }) => assert_eq!(len, 10),
///     other => panic!("{other:?}"),
/// }
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Reading or writing the file failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The file is shorter than a recording's header.
    #[error("{path:?} is too small to be a recording ({len} bytes)")]
    TooSmall {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The file does not start with a recording's magic bytes.
    #[error("{path:?} is not a shm-disruptor recording (its first bytes are {found:02x?})")]
    NotARecording {
        /// The file.
        path: PathBuf,
        /// Its first bytes.
        found: [u8; 8],
    },
    /// The file was written in a format version this build does not read.
    #[error(
        "{path:?} is a recording of format version {found}; this build reads version {supported}"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file ends early: its recorder was killed, or it was cut. What it holds up to there
    /// is intact (and [`RecordReader::open_truncated`](crate::RecordReader::open_truncated)
    /// reads it).
    #[error("recording {path:?} is truncated: {} it holds {complete_batches} complete batch(es) ({messages} messages, {gaps} gap(s)) in its first {valid_bytes} of {file_bytes} bytes", if *.cut_in_frame { "it ends inside a frame;" } else { "it has no end frame (its recorder did not finish it);" })]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Complete batch frames.
        complete_batches: u64,
        /// Messages in them.
        messages: u64,
        /// Complete gap frames.
        gaps: u64,
        /// Bytes up to the end of the last complete frame.
        valid_bytes: u64,
        /// The file's length.
        file_bytes: u64,
        /// Whether it ends inside a frame (rather than after a complete one, without an end
        /// frame).
        cut_in_frame: bool,
    },
    /// The file holds something no recorder writes: a damaged or foreign file.
    #[error("recording {path:?} is corrupt at byte {offset} (after {complete_batches} complete batch(es)): {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// Complete batch frames before it.
        complete_batches: u64,
        /// What is wrong.
        reason: String,
    },
    /// The recording holds another message type than the one asked for.
    #[error("recording {path:?} holds another message type:\n  expected:      {expected}\n  the recording: {found}\n{diff}")]
    SchemaMismatch {
        /// The file.
        path: PathBuf,
        /// The type asked for.
        expected: String,
        /// The type recorded.
        found: String,
        /// The first difference, field by field.
        diff: String,
    },
    /// A batch or gap was written out of sequence (a frame must start where the last ended).
    #[error("a frame starting at sequence {found} cannot follow the last one, which ended at {expected}")]
    OutOfSequence {
        /// Where the next frame must start.
        expected: u64,
        /// Where it started.
        found: u64,
    },
    /// A batch's bytes are not whole slots, or a frame is empty.
    #[error("a batch of {len} bytes is not a non-zero number of {slot_size}-byte slots")]
    BadBatch {
        /// Its length in bytes.
        len: usize,
        /// The slot size.
        slot_size: usize,
    },
    /// The recording's header is too large to write (a name or schema text over 64 KiB, a
    /// schema table over 1 MiB).
    #[error("the recording header cannot hold {what} of {len} bytes")]
    HeaderTooLarge {
        /// What is too long.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// Opening or creating a ring failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Attaching a consumer or producer failed.
    #[error(transparent)]
    Attach(#[from] AttachError),
    /// Claiming slots to replay into failed (every consumer of the ring was released, ...).
    #[error("replaying: {0}")]
    Claim(#[from] ClaimError),
    /// Consuming from the recorded ring failed.
    #[error("recording: {0}")]
    Consume(#[from] ConsumeError),
}

impl RecordError {
    pub(crate) fn io(op: &'static str, path: &std::path::Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_owned();
        move |source| RecordError::Io { op, path, source }
    }
}
