//! What travels over Zenoh besides the slots: a batch's attachment, an acknowledgement, and the
//! schema queryable's answer. Fixed little-endian layouts; every decoder checks lengths.

use shm_disruptor::raw::RawSchema;
use shm_disruptor::SchemaTable;

/// The attachment of a batch: the slots' schema hash, the exporter's epoch, the first
/// sequence, the count, and the exporter's floor (its committed sequence: everything from it
/// on can still be sent again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub schema_hash: u64,
    pub epoch: u64,
    pub first: u64,
    pub count: u64,
    pub floor: u64,
}

impl BatchHeader {
    pub const LEN: usize = 40;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        for (i, v) in
            [self.schema_hash, self.epoch, self.first, self.count, self.floor].iter().enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<BatchHeader> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        Some(BatchHeader {
            schema_hash: word(0),
            epoch: word(1),
            first: word(2),
            count: word(3),
            floor: word(4),
        })
    }
}

/// An importer's acknowledgement: every sequence below `next` of `epoch` is committed in its
/// ring. `resync` asks the exporter to send again from `next` (a gap was seen, or the importer
/// just started).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ack {
    pub epoch: u64,
    pub next: u64,
    pub resync: bool,
    pub importer: String,
}

impl Ack {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + self.importer.len());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.next.to_le_bytes());
        out.push(u8::from(self.resync));
        out.extend_from_slice(self.importer.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Ack> {
        if bytes.len() < 17 {
            return None;
        }
        Some(Ack {
            epoch: u64::from_le_bytes(bytes[0..8].try_into().ok()?),
            next: u64::from_le_bytes(bytes[8..16].try_into().ok()?),
            resync: bytes[16] != 0,
            importer: String::from_utf8(bytes[17..].to_vec()).ok()?,
        })
    }
}

/// The schema queryable's answer: the exporter's slot type (its header words, its binary
/// field table in hex, and for people (`z_get`) its text, which decoding ignores: the table is
/// the truth), epoch and floor, as `key=value` lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SchemaReply {
    pub schema: RawSchema,
    pub epoch: u64,
    pub floor: u64,
}

impl SchemaReply {
    pub fn encode(&self) -> String {
        format!(
            "hash={:#018x}\nsize={}\nalign={}\nepoch={:#018x}\nfloor={}\ntable={}\ntext={}\n",
            self.schema.hash,
            self.schema.size,
            self.schema.align,
            self.epoch,
            self.floor,
            hex::encode(self.schema.table.encode()),
            self.schema.text.replace('\n', " "),
        )
    }

    pub fn decode(text: &str) -> Option<SchemaReply> {
        let get = |key: &str| {
            text.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        };
        let hex = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok();
        let table = SchemaTable::decode(&hex::decode(get("table")?).ok()?).ok()?;
        let schema = RawSchema {
            hash: hex(get("hash")?)?,
            size: get("size")?.parse().ok()?,
            align: get("align")?.parse().ok()?,
            ..RawSchema::from_table(table)
        };
        Some(SchemaReply { schema, epoch: hex(get("epoch")?)?, floor: get("floor")?.parse().ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips_and_short_input_is_refused() {
        let h = BatchHeader { schema_hash: 1, epoch: 2, first: 3, count: 4, floor: 5 };
        assert_eq!(BatchHeader::decode(&h.encode()), Some(h));
        assert_eq!(BatchHeader::decode(&h.encode()[..39]), None);
        let a = Ack { epoch: 7, next: 9, resync: true, importer: "host:/ring".into() };
        assert_eq!(Ack::decode(&a.encode()), Some(a.clone()));
        assert_eq!(Ack::decode(&a.encode()[..16]), None);
        let s = SchemaReply { schema: RawSchema::of::<[u32; 2]>(), epoch: u64::MAX, floor: 12 };
        assert!(s.encode().contains(&format!("\ntext={}\n", s.schema.text)), "{}", s.encode());
        assert_eq!(SchemaReply::decode(&s.encode()), Some(s));
        assert_eq!(SchemaReply::decode("hash=1\n"), None);
    }
}
