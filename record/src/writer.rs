//! [`RecordWriter`]: writes a recording, frame by frame.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{RecordError, RecordingHeader, RecordingSummary, MAX_FRAME_PAYLOAD};

/// Frame kinds.
pub(crate) const BATCH: u32 = 1;
pub(crate) const GAP: u32 = 2;
pub(crate) const END: u32 = 3;
/// Bytes of a frame header (kind, reserved, first, count), and of its CRC.
pub(crate) const FRAME_HEADER: usize = 24;
pub(crate) const CRC: usize = 4;

/// Writes a recording of untyped slots: the header, then batches and gaps, in sequence order,
/// then (at [`finish`](Self::finish)) the end frame. [`Recorder`](crate::Recorder) is the typed
/// version. Frames go through a buffer: [`flush`](Self::flush) hands them to the operating
/// system.
///
/// ```
/// use shm_disruptor_record::{RecordReader, RecordWriter, RecordingHeader, Frame};
/// use shm_disruptor::Disruptor;
///
/// # let path = std::env::temp_dir().join(format!("doc-writer-{}.shmrec", std::process::id()));
/// let ring = Disruptor::<u32>::builder("any").capacity(8).consumers(1).create_in_process()?;
/// let mut writer = RecordWriter::create(&path, &RecordingHeader::of_ring(&ring))?;
/// writer.write_batch(5, &[&1u32.to_ne_bytes(), &2u32.to_ne_bytes()])?; // 5 and 6
/// writer.write_gap(7, 3)?; // 7, 8 and 9 were lost
/// writer.write_batch(10, &[&3u32.to_ne_bytes()])?;
/// let summary = writer.finish()?;
/// assert_eq!((summary.batches, summary.messages, summary.missing), (2, 3, 3));
///
/// let mut reader = RecordReader::open(&path)?;
/// let frames: Vec<Frame> = reader.frames()?.collect::<Result<_, _>>()?;
/// assert_eq!(frames[1], Frame::Gap { first: 7, count: 3 });
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RecordWriter {
    out: BufWriter<File>,
    path: PathBuf,
    slot_size: usize,
    summary: RecordingSummary,
}

impl RecordWriter {
    /// Creates (or truncates) the file at `path` and writes the header.
    pub fn create(path: &Path, header: &RecordingHeader) -> Result<RecordWriter, RecordError> {
        let bytes = header.encode()?;
        let file = File::create(path).map_err(RecordError::io("create", path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&bytes).map_err(RecordError::io("write", path))?;
        Ok(RecordWriter {
            out,
            path: path.to_owned(),
            slot_size: header.schema.size,
            summary: RecordingSummary::default(),
        })
    }

    /// What was written so far.
    pub fn summary(&self) -> &RecordingSummary {
        &self.summary
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of one slot, in bytes.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    fn follows(&self, first: u64) -> Result<(), RecordError> {
        match self.summary.end {
            Some(expected) if expected != first => {
                Err(RecordError::OutOfSequence { expected, found: first })
            }
            _ => Ok(()),
        }
    }

    fn frame(
        &mut self,
        kind: u32,
        first: u64,
        count: u64,
        parts: &[&[u8]],
    ) -> Result<(), RecordError> {
        let mut head = [0u8; FRAME_HEADER];
        head[0..4].copy_from_slice(&kind.to_le_bytes());
        head[8..16].copy_from_slice(&first.to_le_bytes());
        head[16..24].copy_from_slice(&count.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        let mut write = |bytes: &[u8]| self.out.write_all(bytes);
        let written = write(&head)
            .and_then(|()| {
                parts.iter().try_for_each(|part| {
                    crc.update(part);
                    write(part)
                })
            })
            .and_then(|()| write(&crc.clone().finalize().to_le_bytes()));
        written.map_err(RecordError::io("write", &self.path))
    }

    /// Writes the messages `first..` whose bytes are `parts` (concatenated: whole slots, in
    /// sequence order; two parts for a batch that wraps around the ring's end). It must start
    /// where the last frame ended ([`RecordError::OutOfSequence`] otherwise). A batch of more
    /// than 16 MiB is written as several frames.
    pub fn write_batch(&mut self, first: u64, parts: &[&[u8]]) -> Result<(), RecordError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len == 0 || len % self.slot_size != 0 {
            return Err(RecordError::BadBatch { len, slot_size: self.slot_size });
        }
        self.follows(first)?;
        let per_frame = (MAX_FRAME_PAYLOAD / self.slot_size).max(1) * self.slot_size;
        let mut sequence = first;
        // Split the parts into frames of at most `per_frame` bytes (whole slots each).
        let mut pending: Vec<&[u8]> = Vec::with_capacity(2);
        let mut pending_len = 0;
        for part in parts {
            let mut rest = *part;
            while !rest.is_empty() {
                let take = rest.len().min(per_frame - pending_len);
                pending.push(&rest[..take]);
                pending_len += take;
                rest = &rest[take..];
                if pending_len == per_frame {
                    sequence = self.batch_frame(sequence, &pending, pending_len)?;
                    pending.clear();
                    pending_len = 0;
                }
            }
        }
        if pending_len > 0 {
            self.batch_frame(sequence, &pending, pending_len)?;
        }
        Ok(())
    }

    /// One batch frame of `len` bytes from `first`; the sequence after it.
    fn batch_frame(&mut self, first: u64, parts: &[&[u8]], len: usize) -> Result<u64, RecordError> {
        let count = (len / self.slot_size) as u64;
        self.frame(BATCH, first, count, parts)?;
        let s = &mut self.summary;
        s.batches += 1;
        s.messages += count;
        s.first.get_or_insert(first);
        s.end = Some(first + count);
        Ok(first + count)
    }

    /// Writes a gap: the `count` sequences from `first` were lost (a tail reader was lapped).
    /// It must start where the last frame ended.
    pub fn write_gap(&mut self, first: u64, count: u64) -> Result<(), RecordError> {
        if count == 0 {
            return Err(RecordError::BadBatch { len: 0, slot_size: self.slot_size });
        }
        self.follows(first)?;
        self.frame(GAP, first, count, &[])?;
        let s = &mut self.summary;
        s.gaps += 1;
        s.missing += count;
        s.first.get_or_insert(first);
        s.end = Some(first + count);
        Ok(())
    }

    /// Hands what is buffered to the operating system.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.out.flush().map_err(RecordError::io("write", &self.path))
    }

    /// Writes the end frame, flushes the file and syncs it to its device: the recording is
    /// complete. What it holds.
    pub fn finish(mut self) -> Result<RecordingSummary, RecordError> {
        let (end, messages) = (self.summary.end.unwrap_or(0), self.summary.messages);
        self.frame(END, end, messages, &[])?;
        self.flush()?;
        self.out.get_ref().sync_all().map_err(RecordError::io("sync", &self.path))?;
        self.summary.finished = true;
        Ok(self.summary)
    }
}
