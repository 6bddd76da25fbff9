//! [`Recorder`] and [`Replayer`]: the typed API.

use std::marker::PhantomData;
use std::path::Path;
use std::time::Instant;

use shm_disruptor::raw::RawSchema;
use shm_disruptor::{Batch, Disruptor, Producer, Slot};

use crate::{
    Frame, Pacer, RecordError, RecordReader, RecordWriter, RecordingHeader, RecordingSummary,
    ReplayOptions, ReplayReport,
};

/// Records messages of type `T` into a file: typically every batch a consumer of a
/// `Disruptor<T>` reads, recorded before the batch is committed (see the [crate
/// example](crate)). The file starts with `T`'s schema and the ring's geometry.
#[derive(Debug)]
pub struct Recorder<T: Slot> {
    writer: RecordWriter,
    _type: PhantomData<fn(T)>,
}

impl<T: Slot> Recorder<T> {
    /// Creates (or truncates) the file at `path` for a recording of `ring`.
    pub fn create(path: impl AsRef<Path>, ring: &Disruptor<T>) -> Result<Recorder<T>, RecordError> {
        let writer = RecordWriter::create(path.as_ref(), &RecordingHeader::of_ring(ring))?;
        Ok(Recorder { writer, _type: PhantomData })
    }

    /// Records a consumed batch (before it is committed, so that nothing is lost if recording
    /// fails). It must follow the last batch recorded ([`RecordError::OutOfSequence`]
    /// otherwise); an empty batch records nothing.
    pub fn record(&mut self, batch: &Batch<'_, T>) -> Result<(), RecordError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (a, b) = batch.slices();
        self.writer.write_batch(batch.start(), &[bytemuck::cast_slice(a), bytemuck::cast_slice(b)])
    }

    /// Records `messages` as the sequences from `first` on.
    pub fn write(&mut self, first: u64, messages: &[T]) -> Result<(), RecordError> {
        self.writer.write_batch(first, &[bytemuck::cast_slice(messages)])
    }

    /// Records that the `count` sequences from `first` were lost.
    pub fn write_gap(&mut self, first: u64, count: u64) -> Result<(), RecordError> {
        self.writer.write_gap(first, count)
    }

    /// Hands what is buffered to the operating system.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.writer.flush()
    }

    /// What was recorded so far.
    pub fn summary(&self) -> &RecordingSummary {
        self.writer.summary()
    }

    /// Ends the recording (writes its end frame and syncs the file); what it holds.
    pub fn finish(self) -> Result<RecordingSummary, RecordError> {
        self.writer.finish()
    }
}

/// One frame of a recording of `T`s.
#[derive(Clone, Debug, PartialEq)]
pub enum TypedFrame<T> {
    /// Consecutive messages, from sequence `first`.
    Batch {
        /// The first message's sequence.
        first: u64,
        /// The messages.
        messages: Vec<T>,
    },
    /// The `count` sequences from `first` were lost while recording.
    Gap {
        /// The first sequence lost.
        first: u64,
        /// How many.
        count: u64,
    },
}

/// Reads a recording of `T`s back, and replays it into a ring. [`open`](Self::open) refuses a
/// recording of another type (with the first field that differs), and checks the whole file
/// first: a truncated one is reported with how many complete batches it holds.
///
/// ```
/// use shm_disruptor_record::{RecordError, Recorder, Replayer, TypedFrame};
/// use shm_disruptor::Disruptor;
///
/// # let path = std::env::temp_dir().join(format!("doc-replayer-{}.shmrec", std::process::id()));
/// let ring = Disruptor::<u64>::builder("r").capacity(8).consumers(1).create_in_process()?;
/// let mut recorder = Recorder::create(&path, &ring)?;
/// recorder.write(0, &[10, 11])?;
/// recorder.write_gap(2, 5)?;
/// recorder.write(7, &[17])?;
/// recorder.finish()?;
///
/// let mut replayer = Replayer::<u64>::open(&path)?;
/// let frames: Vec<_> = replayer.frames()?.collect::<Result<_, _>>()?;
/// assert_eq!(frames, [
///     TypedFrame::Batch { first: 0, messages: vec![10, 11] },
///     TypedFrame::Gap { first: 2, count: 5 },
///     TypedFrame::Batch { first: 7, messages: vec![17] },
/// ]);
/// // Another type is refused.
/// assert!(matches!(Replayer::<i64>::open(&path), Err(RecordError::SchemaMismatch { .. })));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Replayer<T: Slot> {
    reader: RecordReader,
    _type: PhantomData<fn() -> T>,
}

impl<T: Slot> Replayer<T> {
    /// Opens the recording at `path`: it must be a finished recording of `T`.
    pub fn open(path: impl AsRef<Path>) -> Result<Replayer<T>, RecordError> {
        Self::typed(RecordReader::open(path.as_ref())?)
    }

    /// Like [`open`](Self::open), but accepts a truncated recording (its complete frames).
    pub fn open_truncated(path: impl AsRef<Path>) -> Result<Replayer<T>, RecordError> {
        Self::typed(RecordReader::open_truncated(path.as_ref())?)
    }

    fn typed(reader: RecordReader) -> Result<Replayer<T>, RecordError> {
        crate::header::check_schema(reader.path(), &reader.header().schema, &RawSchema::of::<T>())?;
        Ok(Replayer { reader, _type: PhantomData })
    }

    /// The header: schema and the recorded ring's geometry.
    pub fn header(&self) -> &RecordingHeader {
        self.reader.header()
    }

    /// What the recording holds.
    pub fn summary(&self) -> &RecordingSummary {
        self.reader.summary()
    }

    /// The recording's batches and gaps, in order (each call starts from the first).
    pub fn frames(
        &mut self,
    ) -> Result<impl Iterator<Item = Result<TypedFrame<T>, RecordError>> + '_, RecordError> {
        Ok(self.reader.frames()?.map(|frame| {
            frame.map(|frame| match frame {
                Frame::Batch { first, bytes } => {
                    TypedFrame::Batch { first, messages: bytemuck::pod_collect_to_vec(&bytes) }
                }
                Frame::Gap { first, count } => TypedFrame::Gap { first, count },
            })
        }))
    }

    /// Publishes every recorded message through `producer`, in order, at `options.rate`
    /// (gaps are counted, not replayed: the ring's sequences follow on). Waits for room as
    /// long as the ring's consumers take.
    pub fn replay_into(
        &mut self,
        producer: &mut Producer<T>,
        options: &ReplayOptions,
    ) -> Result<ReplayReport, RecordError> {
        let started = Instant::now();
        let mut report = ReplayReport::default();
        let mut pacer = Pacer::new(options.rate);
        for frame in self.frames()? {
            let messages = match frame? {
                TypedFrame::Gap { count, .. } => {
                    report.gaps += 1;
                    report.missing += count;
                    continue;
                }
                TypedFrame::Batch { messages, .. } => messages,
            };
            report.batches += 1;
            let mut rest = &messages[..];
            while !rest.is_empty() {
                let due = pacer.due(rest.len() as u64) as usize;
                if due == 0 {
                    continue;
                }
                let mut claim = producer.claim_available(due)?;
                let (now, later) = rest.split_at(claim.len());
                claim.copy_from_slice(now);
                claim.commit();
                pacer.sent(now.len() as u64);
                report.messages += now.len() as u64;
                rest = later;
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }
}
