//! [`RecordReader`]: reads a recording back, after checking all of it.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::header::{FIXED, MAX_HEADER};
use crate::writer::{BATCH, CRC, END, FRAME_HEADER, GAP};
use crate::{
    RecordError, RecordingHeader, RecordingSummary, FORMAT_VERSION, MAGIC, MAX_FRAME_PAYLOAD,
};

/// One frame of a recording, untyped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Consecutive messages from `first`: `bytes` holds whole slots.
    Batch {
        /// The first message's sequence.
        first: u64,
        /// The messages' bytes, in sequence order.
        bytes: Vec<u8>,
    },
    /// The `count` sequences from `first` were lost while recording.
    Gap {
        /// The first sequence lost.
        first: u64,
        /// How many.
        count: u64,
    },
}

/// Reads a recording. [`open`](Self::open) checks the whole file first (header, every
/// frame's CRC, that frames follow each other, the end frame), so that a damaged or truncated
/// file is refused before anything is replayed from it; [`frames`](Self::frames) then reads it
/// frame by frame. [`Replayer`](crate::Replayer) is the typed version.
#[derive(Debug)]
pub struct RecordReader {
    file: File,
    path: PathBuf,
    header: RecordingHeader,
    /// Where the first frame starts.
    frames_at: u64,
    /// Where the last complete batch or gap frame ends.
    frames_end: u64,
    summary: RecordingSummary,
}

/// A frame as read: its kind, first, count, and the payload (batches only).
struct Head {
    kind: u32,
    first: u64,
    count: u64,
}

/// Why a frame could not be read.
enum Bad {
    /// The file ends inside it.
    Cut,
    /// It holds something no writer writes.
    Corrupt(String),
    /// Reading failed.
    Io(std::io::Error),
}

/// Reads the frame at the reader's position (`remaining` bytes of the file after it) into
/// `payload`; `Ok(None)` at the end of the file.
fn read_frame(
    input: &mut impl Read,
    slot_size: usize,
    remaining: u64,
    payload: &mut Vec<u8>,
) -> Result<Option<Head>, Bad> {
    if remaining == 0 {
        return Ok(None);
    }
    if remaining < (FRAME_HEADER + CRC) as u64 {
        return Err(Bad::Cut);
    }
    let mut head = [0u8; FRAME_HEADER];
    input.read_exact(&mut head).map_err(Bad::Io)?;
    let kind = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes"));
    let reserved = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
    let first = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
    let count = u64::from_le_bytes(head[16..24].try_into().expect("8 bytes"));
    if reserved != 0 {
        return Err(Bad::Corrupt(format!("a frame's reserved word is {reserved}, not 0")));
    }
    let len = match kind {
        BATCH => {
            let max = (MAX_FRAME_PAYLOAD / slot_size).max(1) as u64;
            if count == 0 || count > max {
                return Err(Bad::Corrupt(format!(
                    "a batch of {count} messages (a frame holds 1 to {max} of these)"
                )));
            }
            count as usize * slot_size
        }
        GAP if count == 0 => return Err(Bad::Corrupt("an empty gap".into())),
        GAP | END => 0,
        other => return Err(Bad::Corrupt(format!("frame kind {other} is not 1, 2 or 3"))),
    };
    if remaining < (FRAME_HEADER + len + CRC) as u64 {
        return Err(Bad::Cut);
    }
    payload.clear();
    payload.resize(len, 0);
    input.read_exact(payload).map_err(Bad::Io)?;
    let mut crc = [0u8; CRC];
    input.read_exact(&mut crc).map_err(Bad::Io)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&head);
    hasher.update(payload);
    if hasher.finalize() != u32::from_le_bytes(crc) {
        return Err(Bad::Corrupt("a frame's CRC does not match its contents".into()));
    }
    if first.checked_add(count).is_none() {
        return Err(Bad::Corrupt(format!("a frame of {count} from sequence {first} overflows")));
    }
    Ok(Some(Head { kind, first, count }))
}

/// The size of a frame of `count` messages (or none) with slots of `slot_size` bytes.
fn frame_len(kind: u32, count: u64, slot_size: usize) -> u64 {
    let payload = if kind == BATCH { count * slot_size as u64 } else { 0 };
    (FRAME_HEADER + CRC) as u64 + payload
}

impl RecordReader {
    /// Opens the recording at `path` and checks all of it: a file that is not a finished
    /// recording is refused with [`RecordError::Truncated`] (with how many complete batches it
    /// holds), [`RecordError::Corrupt`], [`RecordError::NotARecording`],
    /// [`RecordError::TooSmall`] or [`RecordError::UnsupportedVersion`].
    pub fn open(path: &Path) -> Result<RecordReader, RecordError> {
        Self::open_checked(path, false)
    }

    /// Like [`open`](Self::open), but accepts a truncated recording (its recorder was killed,
    /// or the file was cut): it reads its complete frames, and its
    /// [`summary`](Self::summary) says it is not `finished`. Corrupt files are still refused.
    pub fn open_truncated(path: &Path) -> Result<RecordReader, RecordError> {
        Self::open_checked(path, true)
    }

    fn open_checked(path: &Path, truncated_ok: bool) -> Result<RecordReader, RecordError> {
        let file = File::open(path).map_err(RecordError::io("open", path))?;
        let file_bytes = file.metadata().map_err(RecordError::io("stat", path))?.len();
        let mut input = BufReader::with_capacity(1 << 20, &file);
        // The fixed start: magic, version, header length.
        let too_small = || RecordError::TooSmall { path: path.to_owned(), len: file_bytes };
        if file_bytes < 16 {
            if file_bytes >= 8 {
                let mut magic = [0u8; 8];
                input.read_exact(&mut magic).map_err(RecordError::io("read", path))?;
                if magic != MAGIC {
                    return Err(RecordError::NotARecording { path: path.to_owned(), found: magic });
                }
            }
            return Err(too_small());
        }
        let mut start = [0u8; 16];
        input.read_exact(&mut start).map_err(RecordError::io("read", path))?;
        let magic: [u8; 8] = start[0..8].try_into().expect("8 bytes");
        if magic != MAGIC {
            return Err(RecordError::NotARecording { path: path.to_owned(), found: magic });
        }
        let version = u32::from_le_bytes(start[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(RecordError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let header_len = u32::from_le_bytes(start[12..16].try_into().expect("4 bytes")) as usize;
        if !(FIXED + 4 * 4 + CRC..=MAX_HEADER).contains(&header_len) {
            return Err(RecordError::Corrupt {
                path: path.to_owned(),
                offset: 12,
                complete_batches: 0,
                reason: format!("a header of {header_len} bytes (at most {MAX_HEADER})"),
            });
        }
        if file_bytes < header_len as u64 {
            return Err(RecordError::Truncated {
                path: path.to_owned(),
                complete_batches: 0,
                messages: 0,
                gaps: 0,
                valid_bytes: 0,
                file_bytes,
                cut_in_frame: true,
            });
        }
        let mut bytes = start.to_vec();
        bytes.resize(header_len, 0);
        input.read_exact(&mut bytes[16..]).map_err(RecordError::io("read", path))?;
        let header = RecordingHeader::decode(path, &bytes)?;
        // Every frame, in order.
        let slot_size = header.schema.size;
        let mut at = header_len as u64;
        let mut summary = RecordingSummary::default();
        let mut payload = Vec::new();
        let truncated =
            |summary: &RecordingSummary, at: u64, cut_in_frame: bool| RecordError::Truncated {
                path: path.to_owned(),
                complete_batches: summary.batches,
                messages: summary.messages,
                gaps: summary.gaps,
                valid_bytes: at,
                file_bytes,
                cut_in_frame,
            };
        let frames_end = loop {
            let corrupt = |summary: &RecordingSummary, reason: String| RecordError::Corrupt {
                path: path.to_owned(),
                offset: at,
                complete_batches: summary.batches,
                reason,
            };
            let frame = match read_frame(&mut input, slot_size, file_bytes - at, &mut payload) {
                Ok(Some(frame)) => frame,
                Ok(None) if truncated_ok => break at,
                Ok(None) => return Err(truncated(&summary, at, false)),
                Err(Bad::Cut) if truncated_ok => break at,
                Err(Bad::Cut) => return Err(truncated(&summary, at, true)),
                Err(Bad::Corrupt(reason)) => return Err(corrupt(&summary, reason)),
                Err(Bad::Io(e)) => return Err(RecordError::io("read", path)(e)),
            };
            if let Some(expected) = summary.end {
                if frame.first != expected {
                    return Err(corrupt(
                        &summary,
                        format!(
                            "a frame starts at sequence {}, where the last ended at {expected}",
                            frame.first
                        ),
                    ));
                }
            }
            if frame.kind == END {
                if frame.count != summary.messages {
                    return Err(corrupt(
                        &summary,
                        format!(
                            "the end frame counts {} messages, the frames before it {}",
                            frame.count, summary.messages
                        ),
                    ));
                }
                let end = at + frame_len(END, 0, slot_size);
                if end != file_bytes {
                    return Err(RecordError::Corrupt {
                        path: path.to_owned(),
                        offset: end,
                        complete_batches: summary.batches,
                        reason: format!("{} bytes follow the end frame", file_bytes - end),
                    });
                }
                summary.finished = true;
                break at;
            }
            if frame.kind == BATCH {
                summary.batches += 1;
                summary.messages += frame.count;
            } else {
                summary.gaps += 1;
                summary.missing += frame.count;
            }
            summary.first.get_or_insert(frame.first);
            summary.end = Some(frame.first + frame.count);
            at += frame_len(frame.kind, frame.count, slot_size);
        };
        drop(input);
        Ok(RecordReader {
            file,
            path: path.to_owned(),
            header,
            frames_at: header_len as u64,
            frames_end,
            summary,
        })
    }

    /// The header: schema and the recorded ring's geometry.
    pub fn header(&self) -> &RecordingHeader {
        &self.header
    }

    /// What the recording holds.
    pub fn summary(&self) -> &RecordingSummary {
        &self.summary
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recording's batches and gaps, in order, from the first (each call starts again
    /// from there). An error (the file changed since it was opened) ends the iteration.
    pub fn frames(&mut self) -> Result<Frames<'_>, RecordError> {
        (&self.file)
            .seek(SeekFrom::Start(self.frames_at))
            .map_err(RecordError::io("seek", &self.path))?;
        Ok(Frames {
            input: BufReader::with_capacity(1 << 20, &self.file),
            reader: self,
            at: 0,
            batches: 0,
            failed: false,
        })
    }
}

/// The frames of a recording: see [`RecordReader::frames`].
#[derive(Debug)]
pub struct Frames<'a> {
    input: BufReader<&'a File>,
    reader: &'a RecordReader,
    /// Bytes read since the first frame.
    at: u64,
    batches: u64,
    failed: bool,
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.reader;
        let remaining = (r.frames_end - r.frames_at).saturating_sub(self.at);
        if self.failed || remaining == 0 {
            return None;
        }
        let slot_size = r.header.schema.size;
        let mut payload = Vec::new();
        let offset = r.frames_at + self.at;
        let changed = |reason: String| RecordError::Corrupt {
            path: r.path.clone(),
            offset,
            complete_batches: self.batches,
            reason: format!("{reason} (the file changed since it was opened)"),
        };
        let frame = match read_frame(&mut self.input, slot_size, remaining, &mut payload) {
            Ok(Some(frame)) if frame.kind != END => frame,
            Ok(_) | Err(Bad::Cut) => {
                self.failed = true;
                return Some(Err(changed("it ends early".into())));
            }
            Err(Bad::Corrupt(reason)) => {
                self.failed = true;
                return Some(Err(changed(reason)));
            }
            Err(Bad::Io(e)) => {
                self.failed = true;
                return Some(Err(RecordError::io("read", &r.path)(e)));
            }
        };
        self.at += frame_len(frame.kind, frame.count, slot_size);
        Some(Ok(if frame.kind == BATCH {
            self.batches += 1;
            Frame::Batch { first: frame.first, bytes: payload }
        } else {
            Frame::Gap { first: frame.first, count: frame.count }
        }))
    }
}
