//! The recording's header: the schema and the geometry of the ring recorded.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use shm_disruptor::raw::{RawRing, RawSchema};
use shm_disruptor::{Disruptor, ProducerMode, SchemaTable, Slot};

use crate::{RecordError, FORMAT_VERSION, MAGIC};

/// The fixed part of the header, before its strings.
pub(crate) const FIXED: usize = 56;
/// The longest header a reader accepts.
pub(crate) const MAX_HEADER: usize = 4 << 20;
/// The longest name, type name or schema text.
const MAX_TEXT: usize = 64 << 10;
/// The longest schema table.
const MAX_TABLE: usize = 1 << 20;

/// The byte order of this build, as recorded: `l` or `b`.
const BYTE_ORDER: u8 = if cfg!(target_endian = "little") { b'l' } else { b'b' };

/// `Ok` when `expected` is `recorded` (a recording's schema); otherwise
/// [`RecordError::SchemaMismatch`] with the fields that differ (as a ring's open reports them).
pub(crate) fn check_schema(
    path: &Path,
    recorded: &RawSchema,
    expected: &RawSchema,
) -> Result<(), RecordError> {
    match expected.check(&path.display().to_string(), recorded) {
        Ok(()) => Ok(()),
        Err(shm_disruptor::OpenError::SchemaMismatch { expected, found, diff, .. }) => {
            Err(RecordError::SchemaMismatch { path: path.to_owned(), expected, found, diff })
        }
        Err(other) => Err(RecordError::SchemaMismatch {
            path: path.to_owned(),
            expected: expected.text.clone(),
            found: recorded.text.clone(),
            diff: format!("  {other}"),
        }),
    }
}

/// What a recording's header says: the schema, and the ring it was recorded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingHeader {
    /// The slots' schema (from the recording's schema table).
    pub schema: RawSchema,
    /// The recorded ring's name.
    pub ring: String,
    /// Its capacity.
    pub capacity: u64,
    /// Its consumer count.
    pub consumers: u32,
    /// Its producer mode.
    pub producer_mode: ProducerMode,
    /// When recording started, in nanoseconds since the Unix epoch.
    pub started_unix_ns: u64,
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl RecordingHeader {
    /// The header of a recording of `ring`, starting now.
    pub fn of_ring<T: Slot>(ring: &Disruptor<T>) -> RecordingHeader {
        RecordingHeader {
            schema: RawSchema::of::<T>(),
            ring: ring.name().to_owned(),
            capacity: ring.capacity() as u64,
            consumers: ring.consumer_count() as u32,
            producer_mode: ring.producer_mode(),
            started_unix_ns: now_ns(),
        }
    }

    /// The header of a recording of a ring opened untyped, starting now.
    pub fn of_raw(ring: &RawRing) -> RecordingHeader {
        RecordingHeader {
            schema: ring.schema().clone(),
            ring: ring.name().to_owned(),
            capacity: ring.capacity() as u64,
            consumers: ring.consumer_count() as u32,
            producer_mode: ring.producer_mode(),
            started_unix_ns: now_ns(),
        }
    }

    /// The header's bytes, CRC included.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let s = &self.schema;
        let table = s.table.encode();
        let too_large = |what, len| RecordError::HeaderTooLarge { what, len };
        let texts: [(&'static str, &[u8], usize); 4] = [
            ("a ring name", self.ring.as_bytes(), MAX_TEXT),
            ("a type name", s.type_name.as_bytes(), MAX_TEXT),
            ("a schema text", s.text.as_bytes(), MAX_TEXT),
            ("a schema table", &table, MAX_TABLE),
        ];
        let mut out = Vec::with_capacity(FIXED + 64);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // the length, set below
        out.extend_from_slice(&s.hash.to_le_bytes());
        let size = u32::try_from(s.size).map_err(|_| too_large("a slot size", s.size))?;
        let align = u32::try_from(s.align).map_err(|_| too_large("a slot alignment", s.align))?;
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&align.to_le_bytes());
        out.extend_from_slice(&self.capacity.to_le_bytes());
        out.extend_from_slice(&self.consumers.to_le_bytes());
        out.push(match self.producer_mode {
            ProducerMode::Single => 1,
            _ => 2,
        });
        out.push(BYTE_ORDER);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.started_unix_ns.to_le_bytes());
        debug_assert_eq!(out.len(), FIXED);
        for (what, bytes, max) in texts {
            if bytes.len() > max {
                return Err(too_large(what, bytes.len()));
            }
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        let len = (out.len() + 4) as u32;
        out[12..16].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Reads the header from `bytes` (the whole header: `H` bytes, as its length field says,
    /// checked by the caller against the file's length and [`MAX_HEADER`]).
    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<RecordingHeader, RecordError> {
        let corrupt = |reason: String| RecordError::Corrupt {
            path: path.to_owned(),
            offset: 0,
            complete_batches: 0,
            reason: format!("header: {reason}"),
        };
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        if crc32fast::hash(body) != stored {
            return Err(corrupt("its CRC does not match its contents".into()));
        }
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let producer_mode = match body[44] {
            1 => ProducerMode::Single,
            2 => ProducerMode::Multi,
            other => return Err(corrupt(format!("producer mode {other} is not 1 or 2"))),
        };
        if body[45] != BYTE_ORDER {
            return Err(corrupt(format!(
                "its slots are in another byte order ({:?}; this machine's is {:?})",
                body[45] as char, BYTE_ORDER as char
            )));
        }
        let mut at = FIXED;
        let mut next = |what: &str| -> Result<Vec<u8>, RecordError> {
            let len = body
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                .ok_or_else(|| corrupt(format!("the length of {what} lies past its end")))?;
            let text = body
                .get(at + 4..(at + 4).saturating_add(len))
                .ok_or_else(|| corrupt(format!("{what} of {len} bytes lies past its end")))?;
            at += 4 + len;
            Ok(text.to_vec())
        };
        let text = |bytes: Vec<u8>, what: &str| {
            String::from_utf8(bytes).map_err(|_| corrupt(format!("{what} is not UTF-8")))
        };
        let ring = text(next("the ring name")?, "the ring name")?;
        let type_name = text(next("the type name")?, "the type name")?;
        let schema_text = text(next("the schema text")?, "the schema text")?;
        let table = next("the schema table")?;
        let (hash, size, align) = (u64_at(16), u32_at(24) as u64, u32_at(28) as u64);
        let table =
            SchemaTable::decode(&table).map_err(|e| corrupt(format!("its schema table: {e}")))?;
        if (table.hash(), table.size(), table.align()) != (hash, size, align) {
            return Err(corrupt(format!(
                "its schema table describes {table} (hash {:#018x}), but it records hash \
                 {hash:#018x}, size {size} align {align}",
                table.hash()
            )));
        }
        // The type name and schema text are for people reading the file: the table says it all.
        let _ = (type_name, schema_text);
        Ok(RecordingHeader {
            schema: RawSchema::from_table(table),
            ring,
            capacity: u64_at(32),
            consumers: u32_at(40),
            producer_mode,
            started_unix_ns: u64_at(48),
        })
    }
}
