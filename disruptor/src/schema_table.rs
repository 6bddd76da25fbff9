//! The binary schema table: see [`SchemaTable`].

use std::collections::HashMap;
use std::fmt;

use crate::slot::{fnv_str, fnv_u64, BYTE_ORDER, FNV_OFFSET, TAG_ARRAY, TAG_PRIMITIVE, TAG_STRUCT};
use crate::{Schema, SchemaKind};

/// The most nesting levels (a struct in a struct, an array of arrays) a table may describe.
const MAX_DEPTH: usize = 64;
/// The most bytes [`SchemaTable::decode`] accepts (a ring's header holds at most 3,984).
const MAX_ENCODED_BYTES: usize = 1 << 20;

const MAGIC: [u8; 4] = *b"SDST";
const FLAG_ABRIDGED: u16 = 1;
const KIND_PRIMITIVE: u8 = 1;
const KIND_ARRAY: u8 = 2;
const KIND_STRUCT: u8 = 3;
const KIND_OPAQUE: u8 = 4;
/// How many differences [`SchemaTable::diff`] reports at most.
const MAX_DIFFERENCES: usize = 32;

/// The schema of a slot type as a binary field table: what a ring's header records (and what a
/// recording starts with), so that any process can read a ring's layout field by field without
/// having the type.
///
/// A [`Schema`] is `'static` const data that only the program defining the type has. A
/// [`SchemaTable`] is the same description as owned data: built from a schema
/// ([`SchemaTable::of`]), written as bytes ([`SchemaTable::encode`]) and read back
/// ([`SchemaTable::decode`]) by a process that has never seen the type. Its `Display` is the
/// schema's text (`Tick { price: f64 @0, ... } size 16 align 8`), and [`SchemaTable::diff`]
/// names the fields where two layouts differ, at any depth.
///
/// ```
/// use shm_disruptor::{SchemaTable, Slot};
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Tick {
///     price: f64,
///     qty: u32,
///     side: u8,
///     _pad: [u8; 3],
/// }
///
/// let bytes = SchemaTable::of(&Tick::SCHEMA).encode();
/// // ... in another process, which has no `Tick`:
/// let table = SchemaTable::decode(&bytes)?;
/// assert_eq!(table.to_string(), Tick::SCHEMA.to_string());
/// assert_eq!((table.hash(), table.size(), table.align()), (Tick::SCHEMA.hash, 16, 8));
/// let qty = &table.fields()[1];
/// assert_eq!((qty.name.as_str(), qty.offset, qty.size), ("qty", 8, 4));
/// assert_eq!(table.type_name_of(qty.ty), "u32");
/// assert!(table.matches(&Tick::SCHEMA));
/// # Ok::<(), shm_disruptor::SchemaTableError>(())
/// ```
///
/// # The encoding (format version 1)
///
/// Integers are unsigned LEB128 ("varint": 7 bits a byte, least significant first, at most 10
/// bytes) unless a width is given; fixed-width integers are little-endian on every target.
///
/// | what | encoding |
/// |---|---|
/// | magic | the 4 bytes `SDST` |
/// | format version | `u16`, [`SchemaTable::FORMAT_VERSION`] |
/// | flags | `u16`: bit 0, *abridged*: the description did not fit, and the table holds one opaque entry (name, size, align, hash only); other bits 0 |
/// | entry count | varint, at least 1 |
/// | entries | one per distinct type, each only referring to entries before it; the last is the slot type |
///
/// Each entry:
///
/// | what | encoding |
/// |---|---|
/// | kind | `u8`: 1 primitive, 2 array, 3 struct, 4 opaque (only as the single entry of an abridged table) |
/// | name | varint byte length, then UTF-8 (empty for an array, displayed `[T; N]`) |
/// | size, align | varint each: `size_of` and `align_of` the type |
/// | hash | `u64`: the type's [`Schema::hash`] |
/// | array only | element entry index (varint, below this entry's), length (varint, at least 1) |
/// | struct only | field count (varint), then per field: name (varint length, UTF-8), offset, size, entry index of its type (varints) |
///
/// Nothing may follow the last entry. A type used in several places (a nested struct, an
/// element type) is written once and referred to by index.
///
/// # Trust
///
/// [`SchemaTable::decode`] reads bytes that a crashed or hostile process may have written. It
/// never panics and never reads outside the slice; it refuses, with a typed
/// [`SchemaTableError`], anything but a table [`SchemaTable::of`] could have produced: a size
/// or alignment that is not a layout, a field outside its struct or overlapping the one before
/// it, a field whose size is not its type's, an array whose size is not its elements', a
/// reference to a later entry (so there are no cycles), nesting deeper than 64 levels, more
/// than 1 MiB, and an entry whose recorded hash is not the hash of its
/// description (the hash is recomputed from the names, offsets, sizes and nested hashes, exactly
/// as [`Schema`] computes it). A decoded table therefore describes a layout that is consistent
/// in itself; whether it is the layout of the bytes in a ring is what the header's other checks
/// (the slot size and alignment, and the schema hash typed openers compare) are for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SchemaTable {
    /// Every distinct type, each referring only to entries before it; the last is the slot
    /// type.
    entries: Vec<SchemaEntry>,
    /// The description did not fit where it was written: one opaque entry.
    abridged: bool,
}

/// One type of a [`SchemaTable`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SchemaEntry {
    /// The type name (`u32`, `Tick`); empty for arrays.
    pub name: String,
    /// `size_of` the type.
    pub size: u64,
    /// `align_of` the type.
    pub align: u64,
    /// Its [`Schema::hash`].
    pub hash: u64,
    /// Primitive, array, struct, or opaque.
    pub kind: EntryKind,
}

/// What kind of type a [`SchemaEntry`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
pub enum EntryKind {
    /// A primitive integer or float, named by its Rust type (`u8` ... `f64`).
    Primitive,
    /// `[element; len]`.
    Array {
        /// The entry index of the element type.
        element: usize,
        /// The number of elements.
        len: u64,
    },
    /// A struct, its fields in declaration (and offset) order.
    Struct {
        /// The fields.
        fields: Vec<EntryField>,
    },
    /// The slot type of an abridged table: its description did not fit, so only its name,
    /// size, alignment and hash are known.
    Opaque,
}

/// One field of a struct [`SchemaEntry`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EntryField {
    /// The field's name (`"0"`, `"1"`, ... in a tuple struct).
    pub name: String,
    /// Its byte offset in the struct.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The entry index of its type ([`SchemaTable::entry`]).
    pub ty: usize,
}

/// Why bytes are not a valid schema table. See [`SchemaTable::decode`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaTableError {
    /// The bytes end before the table does.
    #[error("the schema table is cut short at byte {at}, in {what}")]
    Truncated {
        /// The offset where more bytes were needed.
        at: usize,
        /// What was being read.
        what: &'static str,
    },
    /// The bytes do not start with the table's magic.
    #[error("not a schema table (it starts with {found:02x?}, not \"SDST\")")]
    BadMagic {
        /// The first bytes found (up to 4).
        found: Vec<u8>,
    },
    /// Written in a format version this build does not read.
    #[error("schema table format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
        /// The version this build reads and writes.
        supported: u16,
    },
    /// More bytes than a table may have (1 MiB).
    #[error("the schema table is {len} bytes, more than the {max} a table may have")]
    TooLarge {
        /// The length given.
        len: usize,
        /// The most a table may have.
        max: usize,
    },
    /// A value no encoder writes.
    #[error("invalid schema table at byte {at}: {reason}")]
    Invalid {
        /// The offset of the value.
        at: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry's recorded hash is not the hash of what it describes.
    #[error("schema table entry {index} (`{name}`) records hash {recorded:#018x}, but its description hashes to {computed:#018x}")]
    HashMismatch {
        /// The entry index.
        index: usize,
        /// Its name.
        name: String,
        /// The hash recorded.
        recorded: u64,
        /// The hash of its description.
        computed: u64,
    },
}

/// One place where two layouts differ: see [`SchemaTable::diff`].
///
/// `Display`: ``this process has `side: u8 @8`, the segment has `qty: u32 @8` `` (with
/// [`SchemaTable::diff`]'s `ours` and `theirs` standing for "this process" and "the segment").
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SchemaDifference {
    /// Where: the field's path from the slot type (`qty`, `inner.price`, `[]` for an array's
    /// elements), or empty for the slot type itself.
    pub path: String,
    /// What the first table has there (`side: u8 @8`), `None` when it has nothing there.
    pub ours: Option<String>,
    /// What the second table has there, `None` when it has nothing there.
    pub theirs: Option<String>,
}

impl fmt::Display for SchemaDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side =
            |s: &Option<String>| s.as_ref().map_or("(nothing)".to_owned(), |s| format!("`{s}`"));
        write!(f, "this process has {}, the segment has {}", side(&self.ours), side(&self.theirs))
    }
}

impl SchemaTable {
    /// The version of the encoding that [`encode`](Self::encode) writes and
    /// [`decode`](Self::decode) reads.
    pub const FORMAT_VERSION: u16 = 1;

    /// The table of `schema` (every nested type, each once).
    pub fn of(schema: &Schema) -> SchemaTable {
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        add_entry(schema, &mut entries, &mut index);
        SchemaTable { entries, abridged: false }
    }

    /// The slot type's entry (the last).
    pub fn root(&self) -> &SchemaEntry {
        // `of` and `decode` never make an empty table.
        &self.entries[self.entries.len() - 1]
    }

    /// Every entry, each referring only to entries before it; the last is the slot type.
    pub fn entries(&self) -> &[SchemaEntry] {
        &self.entries
    }

    /// The entry at `index` (as [`EntryField::ty`] and [`EntryKind::Array`] refer to them).
    pub fn entry(&self, index: usize) -> Option<&SchemaEntry> {
        self.entries.get(index)
    }

    /// The slot type's name as the schema records it (`Tick`, `u64`; empty for an array).
    pub fn name(&self) -> &str {
        &self.root().name
    }

    /// The slot type's schema hash.
    pub fn hash(&self) -> u64 {
        self.root().hash
    }

    /// `size_of` the slot type.
    pub fn size(&self) -> u64 {
        self.root().size
    }

    /// `align_of` the slot type.
    pub fn align(&self) -> u64 {
        self.root().align
    }

    /// The slot type's fields; empty unless it is a struct.
    pub fn fields(&self) -> &[EntryField] {
        match &self.root().kind {
            EntryKind::Struct { fields } => fields,
            _ => &[],
        }
    }

    /// Whether the description did not fit where it was written (see
    /// [`encode_within`](Self::encode_within)): only the slot type's name, size, alignment and
    /// hash are known.
    pub fn is_abridged(&self) -> bool {
        self.abridged
    }

    /// Whether this is the table of `schema` (their hashes are equal).
    pub fn matches(&self, schema: &Schema) -> bool {
        self.hash() == schema.hash
    }

    /// The slot type as spelled in Rust (`Tick`, `[u8; 3]`).
    pub fn type_name(&self) -> String {
        self.type_name_of(self.entries.len() - 1)
    }

    /// The type of entry `index` as spelled in Rust (`u32`, `[[u16; 2]; 3]`, `Tick`); `?` for
    /// an index out of range.
    pub fn type_name_of(&self, index: usize) -> String {
        let mut out = String::new();
        self.write_type_name(index, &mut out);
        out
    }

    fn write_type_name(&self, mut index: usize, out: &mut String) {
        // Arrays nest at most MAX_DEPTH deep (checked by `decode`), and refer to earlier
        // entries only: this loop ends.
        let mut lens = Vec::new();
        loop {
            match self.entries.get(index) {
                Some(SchemaEntry { kind: EntryKind::Array { element, len }, .. })
                    if *element < index =>
                {
                    lens.push(*len);
                    index = *element;
                }
                Some(entry) => {
                    out.extend(std::iter::repeat('[').take(lens.len()));
                    out.push_str(&entry.name);
                    break;
                }
                None => {
                    out.push('?');
                    return;
                }
            }
        }
        for len in lens.iter().rev() {
            out.push_str(&format!("; {len}]"));
        }
    }

    /// The bytes of this table (see [`SchemaTable`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 32 * self.entries.len());
        out.extend(MAGIC);
        out.extend(Self::FORMAT_VERSION.to_le_bytes());
        out.extend((if self.abridged { FLAG_ABRIDGED } else { 0 }).to_le_bytes());
        put_varint(&mut out, self.entries.len() as u64);
        for entry in &self.entries {
            out.push(match entry.kind {
                EntryKind::Primitive => KIND_PRIMITIVE,
                EntryKind::Array { .. } => KIND_ARRAY,
                EntryKind::Struct { .. } => KIND_STRUCT,
                EntryKind::Opaque => KIND_OPAQUE,
            });
            put_str(&mut out, &entry.name);
            put_varint(&mut out, entry.size);
            put_varint(&mut out, entry.align);
            out.extend(entry.hash.to_le_bytes());
            match &entry.kind {
                EntryKind::Array { element, len } => {
                    put_varint(&mut out, *element as u64);
                    put_varint(&mut out, *len);
                }
                EntryKind::Struct { fields } => {
                    put_varint(&mut out, fields.len() as u64);
                    for field in fields {
                        put_str(&mut out, &field.name);
                        put_varint(&mut out, field.offset);
                        put_varint(&mut out, field.size);
                        put_varint(&mut out, field.ty as u64);
                    }
                }
                EntryKind::Primitive | EntryKind::Opaque => {}
            }
        }
        out
    }

    /// The bytes of this table if they take at most `max` bytes; otherwise those of its
    /// abridged form (one opaque entry: the slot type's name, size, alignment and hash, the
    /// name cut on a character boundary if even that does not fit). A ring's header keeps
    /// 3,984 bytes for its table: room for about 250 fields with names of ten characters
    /// (a type used in several places is written once).
    ///
    /// ```
    /// use shm_disruptor::{SchemaTable, Slot};
    ///
    /// let full = SchemaTable::of(&<[u64; 4]>::SCHEMA);
    /// let bytes = full.encode_within(16);
    /// assert!(bytes.len() <= 16 + 40);
    /// let abridged = SchemaTable::decode(&bytes)?;
    /// assert!(abridged.is_abridged() && abridged.matches(&<[u64; 4]>::SCHEMA));
    /// assert_eq!(abridged.size(), 32);
    /// assert_eq!(SchemaTable::decode(&full.encode_within(4096))?, full);
    /// # Ok::<(), shm_disruptor::SchemaTableError>(())
    /// ```
    ///
    /// The abridged form takes at most 40 bytes plus the name: with `max` below 40 it may not
    /// fit either, and is returned all the same.
    pub fn encode_within(&self, max: usize) -> Vec<u8> {
        let full = self.encode();
        if full.len() <= max {
            return full;
        }
        let root = self.root();
        // Header (8), count (1), kind (1), name length (up to 3), size, align (up to 10 each),
        // hash (8): at most 41 bytes around the name.
        let room = max.saturating_sub(41);
        let mut name = self.type_name();
        if name.len() > room {
            let cut = (0..=room).rev().find(|&i| name.is_char_boundary(i)).unwrap_or(0);
            name.truncate(cut);
        }
        let abridged = SchemaTable {
            entries: vec![SchemaEntry {
                name,
                size: root.size,
                align: root.align,
                hash: root.hash,
                kind: EntryKind::Opaque,
            }],
            abridged: true,
        };
        abridged.encode()
    }

    /// Reads a table from `bytes`, checking everything listed under "Trust" in [`SchemaTable`]'s
    /// documentation: never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<SchemaTable, SchemaTableError> {
        if bytes.len() > MAX_ENCODED_BYTES {
            return Err(SchemaTableError::TooLarge { len: bytes.len(), max: MAX_ENCODED_BYTES });
        }
        let mut r = Reader { bytes, at: 0 };
        let magic = r.take(4, "the magic").map_err(|_| SchemaTableError::BadMagic {
            found: bytes[..bytes.len().min(4)].to_vec(),
        })?;
        if magic != MAGIC {
            return Err(SchemaTableError::BadMagic { found: magic.to_vec() });
        }
        let version = r.u16("the format version")?;
        if version != Self::FORMAT_VERSION {
            return Err(SchemaTableError::UnsupportedVersion {
                found: version,
                supported: Self::FORMAT_VERSION,
            });
        }
        let flags_at = r.at;
        let flags = r.u16("the flags")?;
        if flags & !FLAG_ABRIDGED != 0 {
            return Err(r.invalid_at(flags_at, format!("unknown flags {flags:#06x}")));
        }
        let abridged = flags & FLAG_ABRIDGED != 0;
        let count_at = r.at;
        let count = r.varint("the entry count")?;
        // Each entry takes at least 12 bytes: a count above what is left is a lie, refused
        // before anything is allocated for it.
        if count == 0 || count > r.left() as u64 / 12 + 1 {
            return Err(r.invalid_at(count_at, format!("{count} entries in {} bytes", r.left())));
        }
        if abridged && count != 1 {
            return Err(r.invalid_at(count_at, "an abridged table has one entry".into()));
        }
        let count = count as usize;
        let mut entries: Vec<SchemaEntry> = Vec::new();
        let mut depths: Vec<usize> = Vec::new();
        for index in 0..count {
            let entry_at = r.at;
            let kind = r.u8("an entry's kind")?;
            let name = r.string("an entry's name")?;
            let size = r.varint("an entry's size")?;
            let align = r.varint("an entry's alignment")?;
            let hash = u64::from_le_bytes(r.array("an entry's hash")?);
            if size == 0 || !align.is_power_of_two() || size % align != 0 {
                return Err(r.invalid_at(
                    entry_at,
                    format!("entry {index}: size {size} align {align} is not a layout"),
                ));
            }
            let (kind, depth) = match kind {
                KIND_PRIMITIVE => (EntryKind::Primitive, 1),
                KIND_ARRAY => {
                    let element_at = r.at;
                    let element = r.index("an array's element type", index)?;
                    let len = r.varint("an array's length")?;
                    let e = &entries[element];
                    if !name.is_empty()
                        || len == 0
                        || e.size.checked_mul(len) != Some(size)
                        || e.align != align
                    {
                        return Err(r.invalid_at(
                            element_at,
                            format!(
                                "entry {index}: an array of {len} x (size {} align {}) named \
                                 {name:?} cannot have size {size} align {align}",
                                e.size, e.align
                            ),
                        ));
                    }
                    (EntryKind::Array { element, len }, depths[element] + 1)
                }
                KIND_STRUCT => {
                    let fields_at = r.at;
                    let field_count = r.varint("a struct's field count")?;
                    // Each field takes at least 4 bytes.
                    if field_count > r.left() as u64 / 4 {
                        return Err(r.invalid_at(
                            fields_at,
                            format!("{field_count} fields in {} bytes", r.left()),
                        ));
                    }
                    let mut fields = Vec::new();
                    let mut end = 0u64;
                    let mut depth = 1;
                    for _ in 0..field_count {
                        let field_at = r.at;
                        let field_name = r.string("a field's name")?;
                        let offset = r.varint("a field's offset")?;
                        let field_size = r.varint("a field's size")?;
                        let ty = r.index("a field's type", index)?;
                        let field_end = offset.checked_add(field_size);
                        if offset < end
                            || field_end.map_or(true, |e| e > size)
                            || entries[ty].size != field_size
                        {
                            return Err(r.invalid_at(
                                field_at,
                                format!(
                                    "entry {index}: field `{field_name}` (offset {offset}, size \
                                     {field_size}, type size {}) overlaps the field before it \
                                     or leaves its struct of size {size}",
                                    entries[ty].size
                                ),
                            ));
                        }
                        end = field_end.unwrap_or(size);
                        depth = depth.max(depths[ty] + 1);
                        fields.push(EntryField { name: field_name, offset, size: field_size, ty });
                    }
                    (EntryKind::Struct { fields }, depth)
                }
                KIND_OPAQUE if abridged => (EntryKind::Opaque, 1),
                other => {
                    return Err(r.invalid_at(entry_at, format!("entry {index}: kind {other}")));
                }
            };
            if depth > MAX_DEPTH {
                return Err(r.invalid_at(
                    entry_at,
                    format!("entry {index} nests {depth} levels deep, more than {MAX_DEPTH}"),
                ));
            }
            let entry = SchemaEntry { name, size, align, hash, kind };
            if let Some(computed) = entry_hash(&entry, &entries) {
                if computed != hash {
                    return Err(SchemaTableError::HashMismatch {
                        index,
                        name: entry.name,
                        recorded: hash,
                        computed,
                    });
                }
            }
            entries.push(entry);
            depths.push(depth);
        }
        if r.left() > 0 {
            return Err(r.invalid_at(r.at, format!("{} bytes after the last entry", r.left())));
        }
        Ok(SchemaTable { entries, abridged })
    }

    /// Where `self` ("ours") and `theirs` differ, field by field and at any depth, in field
    /// order: a field that differs in name, offset, size or type; a field only one side has;
    /// the slot types' names, sizes or alignments. Empty when the hashes are equal. At most 32
    /// differences are reported.
    ///
    /// ```
    /// use shm_disruptor::{SchemaTable, Slot};
    ///
    /// #[derive(Slot, Clone, Copy)]
    /// #[repr(C)]
    /// struct Price { value: f64 }
    ///
    /// #[derive(Slot, Clone, Copy)]
    /// #[repr(C)]
    /// struct Tick { price: Price, qty: u32, side: u8, _pad: [u8; 3] }
    ///
    /// mod v2 {
    ///     use shm_disruptor::Slot;
    ///     #[derive(Slot, Clone, Copy)]
    ///     #[repr(C)]
    ///     pub struct Price { pub cents: i64 }
    ///     #[derive(Slot, Clone, Copy)]
    ///     #[repr(C)]
    ///     pub struct Tick { pub price: Price, pub qty: u32, pub side: u8, pub _pad: [u8; 3] }
    /// }
    ///
    /// let ours = SchemaTable::of(&Tick::SCHEMA);
    /// let theirs = SchemaTable::of(&v2::Tick::SCHEMA);
    /// let diff = ours.diff(&theirs);
    /// assert_eq!(diff.len(), 1);
    /// assert_eq!(diff[0].path, "price.value");
    /// assert_eq!(
    ///     diff[0].to_string(),
    ///     "this process has `price.value: f64 @0`, the segment has `price.cents: i64 @0`"
    /// );
    /// assert!(ours.diff(&ours).is_empty());
    /// ```
    pub fn diff(&self, theirs: &SchemaTable) -> Vec<SchemaDifference> {
        let mut out = Vec::new();
        let (a, b) = (self.entries.len() - 1, theirs.entries.len() - 1);
        diff_entries(self, a, theirs, b, "", &mut out);
        if out.is_empty() && self.hash() != theirs.hash() {
            // Only an abridged (opaque) side can hide where they differ.
            out.push(SchemaDifference {
                path: String::new(),
                ours: Some(self.describe_root()),
                theirs: Some(theirs.describe_root()),
            });
        }
        out.truncate(MAX_DIFFERENCES);
        out
    }

    fn describe_root(&self) -> String {
        let fields = if self.abridged { " (fields not recorded)" } else { "" };
        format!(
            "{}{fields} size {} align {} hash {:#018x}",
            self.type_name(),
            self.size(),
            self.align(),
            self.hash()
        )
    }
}

/// `Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 align 8`: the
/// same text as the [`Schema`]'s `Display`. An abridged table shows
/// `Tick { (fields not recorded) } size 16 align 8`.
impl fmt::Display for SchemaTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_name())?;
        match &self.root().kind {
            EntryKind::Struct { fields } => {
                f.write_str(" {")?;
                for (i, field) in fields.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    write!(f, "{}: {} @{}", field.name, self.type_name_of(field.ty), field.offset)?;
                }
                f.write_str(" }")?;
            }
            EntryKind::Opaque => f.write_str(" { (fields not recorded) }")?,
            _ => {}
        }
        write!(f, " size {} align {}", self.size(), self.align())
    }
}

/// Adds `schema` (after the types it refers to) and returns its index.
fn add_entry(
    schema: &Schema,
    entries: &mut Vec<SchemaEntry>,
    index: &mut HashMap<u64, usize>,
) -> usize {
    if let Some(&i) = index.get(&schema.hash) {
        return i;
    }
    let kind = match schema.kind {
        SchemaKind::Primitive => EntryKind::Primitive,
        SchemaKind::Array { element, len } => {
            EntryKind::Array { element: add_entry(element, entries, index), len: len as u64 }
        }
        SchemaKind::Struct { fields } => EntryKind::Struct {
            fields: fields
                .iter()
                .map(|field| EntryField {
                    name: field.name.to_owned(),
                    offset: field.offset as u64,
                    size: field.size as u64,
                    ty: add_entry(field.schema, entries, index),
                })
                .collect(),
        },
    };
    entries.push(SchemaEntry {
        name: schema.name.to_owned(),
        size: schema.size as u64,
        align: schema.align as u64,
        hash: schema.hash,
        kind,
    });
    index.insert(schema.hash, entries.len() - 1);
    entries.len() - 1
}

/// The hash of `entry`'s description, as [`Schema`] computes it (its nested types are among
/// `earlier`); `None` for an opaque entry, which has no description.
fn entry_hash(entry: &SchemaEntry, earlier: &[SchemaEntry]) -> Option<u64> {
    let hash = match &entry.kind {
        EntryKind::Primitive => fnv_str(fnv_u64(FNV_OFFSET, TAG_PRIMITIVE), &entry.name),
        EntryKind::Array { element, len } => {
            fnv_u64(fnv_u64(fnv_u64(FNV_OFFSET, TAG_ARRAY), earlier.get(*element)?.hash), *len)
        }
        EntryKind::Struct { fields } => {
            let mut hash = fnv_str(fnv_u64(FNV_OFFSET, TAG_STRUCT), &entry.name);
            hash = fnv_u64(hash, fields.len() as u64);
            for field in fields {
                hash = fnv_str(hash, &field.name);
                hash = fnv_u64(hash, field.offset);
                hash = fnv_u64(hash, field.size);
                hash = fnv_u64(hash, earlier.get(field.ty)?.hash);
            }
            hash
        }
        EntryKind::Opaque => return None,
    };
    Some(fnv_u64(fnv_u64(fnv_u64(hash, entry.size), entry.align), BYTE_ORDER))
}

/// `price.value: f64 @0`
fn field_text(table: &SchemaTable, path: &str, field: &EntryField) -> String {
    format!("{path}{}: {} @{}", field.name, table.type_name_of(field.ty), field.offset)
}

/// Whether entries `a` of `ours` and `b` of `theirs` can be compared member by member: two
/// structs, or arrays of the same length of such.
fn comparable(ours: &SchemaTable, a: usize, theirs: &SchemaTable, b: usize) -> bool {
    match (ours.entries.get(a).map(|e| &e.kind), theirs.entries.get(b).map(|e| &e.kind)) {
        (Some(EntryKind::Struct { .. }), Some(EntryKind::Struct { .. })) => true,
        (
            Some(EntryKind::Array { element: xa, len: la }),
            Some(EntryKind::Array { element: xb, len: lb }),
        ) if la == lb && *xa < a && *xb < b => comparable(ours, *xa, theirs, *xb),
        _ => false,
    }
}

/// Appends where entry `a` of `ours` and entry `b` of `theirs` differ; `path` names where they
/// are (`""` for the slot types, `inner.` for a field's type). Recursion follows field types
/// that are [`comparable`], which refer to earlier entries only, so it is at most
/// [`MAX_DEPTH`] deep; it stops at [`MAX_DIFFERENCES`].
fn diff_entries(
    ours: &SchemaTable,
    a: usize,
    theirs: &SchemaTable,
    b: usize,
    path: &str,
    out: &mut Vec<SchemaDifference>,
) {
    let (ea, eb) = match (ours.entries.get(a), theirs.entries.get(b)) {
        (Some(ea), Some(eb)) if ea.hash != eb.hash => (ea, eb),
        _ => return,
    };
    let start = out.len();
    match (&ea.kind, &eb.kind) {
        (EntryKind::Struct { fields: fa }, EntryKind::Struct { fields: fb }) => {
            for i in 0..fa.len().max(fb.len()) {
                if out.len() >= MAX_DIFFERENCES {
                    return;
                }
                let (x, y) = (fa.get(i), fb.get(i));
                if let (Some(x), Some(y)) = (x, y) {
                    if x.name == y.name && x.offset == y.offset && x.size == y.size {
                        let (tx, ty) = (&ours.entries[x.ty], &theirs.entries[y.ty]);
                        if tx.hash == ty.hash {
                            continue;
                        }
                        // The same field, its type changed inside: say where.
                        if comparable(ours, x.ty, theirs, y.ty) {
                            let before = out.len();
                            let inner = format!("{path}{}.", x.name);
                            diff_entries(ours, x.ty, theirs, y.ty, &inner, out);
                            if out.len() > before {
                                continue;
                            }
                        }
                    }
                }
                out.push(SchemaDifference {
                    path: format!("{path}{}", x.or(y).map_or("", |field| field.name.as_str())),
                    ours: x.map(|x| field_text(ours, path, x)),
                    theirs: y.map(|y| field_text(theirs, path, y)),
                });
            }
        }
        (EntryKind::Array { element: xa, .. }, EntryKind::Array { element: xb, .. }) => {
            let inner = format!("{}[].", path.strip_suffix('.').unwrap_or(path));
            diff_entries(ours, *xa, theirs, *xb, &inner, out);
        }
        _ => {}
    }
    // The types themselves: always for the slot types, otherwise when nothing inside differs
    // (a struct renamed).
    let differ = ea.name != eb.name || ea.size != eb.size || ea.align != eb.align;
    if differ && (path.is_empty() || out.len() == start) {
        let path = path.strip_suffix('.').unwrap_or(path);
        let describe = |table: &SchemaTable, index: usize, e: &SchemaEntry| {
            let at = if path.is_empty() { String::new() } else { format!("{path}: ") };
            format!("{at}{} size {} align {}", table.type_name_of(index), e.size, e.align)
        };
        out.push(SchemaDifference {
            path: path.to_owned(),
            ours: Some(describe(ours, a, ea)),
            theirs: Some(describe(theirs, b, eb)),
        });
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend(text.as_bytes());
}

/// A bounds-checked cursor over the encoded bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn invalid_at(&self, at: usize, reason: String) -> SchemaTableError {
        SchemaTableError::Invalid { at, reason }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SchemaTableError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(SchemaTableError::Truncated { at: self.bytes.len(), what })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], SchemaTableError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, SchemaTableError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, SchemaTableError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, SchemaTableError> {
        let start = self.at;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may hold only the top bit of a u64.
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.invalid_at(start, format!("{what} is not a 64-bit varint")))
    }

    /// An entry index below `below`.
    fn index(&mut self, what: &'static str, below: usize) -> Result<usize, SchemaTableError> {
        let at = self.at;
        let index = self.varint(what)?;
        if index >= below as u64 {
            return Err(self.invalid_at(
                at,
                format!("{what} refers to entry {index}, not one of the {below} before it"),
            ));
        }
        Ok(index as usize)
    }

    fn string(&mut self, what: &'static str) -> Result<String, SchemaTableError> {
        let at = self.at;
        let len = self.varint(what)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.left())
            .ok_or(SchemaTableError::Truncated { at: self.bytes.len(), what })?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.invalid_at(at, format!("{what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Slot;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(C)]
    struct Inner {
        a: u32,
        b: [u16; 2],
    }
    // SAFETY: two u32-sized fields, no padding, every bit pattern valid; the schema is exact.
    unsafe impl bytemuck::Zeroable for Inner {}
    // SAFETY: as above.
    unsafe impl bytemuck::Pod for Inner {}
    // SAFETY: as above: the schema describes the real layout (offsets 0 and 4, size 8).
    unsafe impl Slot for Inner {
        const SCHEMA: Schema = Schema::structure(
            "Inner",
            8,
            4,
            &[
                crate::Field { name: "a", schema: &u32::SCHEMA, offset: 0, size: 4 },
                crate::Field { name: "b", schema: &<[u16; 2]>::SCHEMA, offset: 4, size: 4 },
            ],
        );
    }

    const OUTER: Schema = Schema::structure(
        "Outer",
        32,
        8,
        &[
            crate::Field { name: "id", schema: &u64::SCHEMA, offset: 0, size: 8 },
            crate::Field { name: "inner", schema: &Inner::SCHEMA, offset: 8, size: 8 },
            crate::Field { name: "pair", schema: &<[Inner; 2]>::SCHEMA, offset: 16, size: 16 },
        ],
    );

    #[test]
    fn round_trips_and_displays_like_the_schema() {
        for schema in [&OUTER, &Inner::SCHEMA, &u8::SCHEMA, &<[[i16; 2]; 3]>::SCHEMA] {
            let table = SchemaTable::of(schema);
            assert_eq!(table.to_string(), schema.to_string());
            assert_eq!(table.type_name(), schema.type_name());
            let decoded = SchemaTable::decode(&table.encode()).unwrap();
            assert_eq!(decoded, table);
            assert!(decoded.matches(schema));
        }
        // Inner is written once though used three times.
        let table = SchemaTable::of(&OUTER);
        assert_eq!(table.entries().iter().filter(|e| e.name == "Inner").count(), 1);
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = SchemaTable::of(&OUTER).encode();
        for len in 0..bytes.len() {
            assert!(SchemaTable::decode(&bytes[..len]).is_err(), "{len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(SchemaTable::decode(&longer), Err(SchemaTableError::Invalid { .. })));
    }

    #[test]
    fn a_changed_offset_fails_the_recomputed_hash() {
        let mut table = SchemaTable::of(&Inner::SCHEMA);
        let root = table.entries.len() - 1;
        if let EntryKind::Struct { fields } = &mut table.entries[root].kind {
            fields.swap(0, 1);
            fields[0].offset = 0;
            fields[1].offset = 4;
        }
        let err = SchemaTable::decode(&table.encode()).unwrap_err();
        assert!(matches!(err, SchemaTableError::HashMismatch { .. }), "{err}");
    }

    #[test]
    fn the_diff_names_nested_fields() {
        const OTHER_INNER: Schema = Schema::structure(
            "Inner",
            8,
            4,
            &[
                crate::Field { name: "a", schema: &u32::SCHEMA, offset: 0, size: 4 },
                crate::Field { name: "b", schema: &<[i16; 2]>::SCHEMA, offset: 4, size: 4 },
            ],
        );
        const OTHER: Schema = Schema::structure(
            "Outer",
            24,
            8,
            &[
                crate::Field { name: "id", schema: &u64::SCHEMA, offset: 0, size: 8 },
                crate::Field { name: "inner", schema: &OTHER_INNER, offset: 8, size: 8 },
            ],
        );
        let diff = SchemaTable::of(&OUTER).diff(&SchemaTable::of(&OTHER));
        let shown: Vec<String> = diff.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "this process has `inner.b: [u16; 2] @4`, the segment has `inner.b: [i16; 2] @4`",
                "this process has `pair: [Inner; 2] @16`, the segment has (nothing)",
                "this process has `Outer size 32 align 8`, the segment has `Outer size 24 align 8`",
            ]
        );
    }

    #[test]
    fn too_deep_nesting_is_refused() {
        // 70 nested one-element arrays, written by hand (no Rust type is that deep).
        let mut table = SchemaTable::of(&u8::SCHEMA);
        for i in 0..70 {
            let element = &table.entries[i];
            let mut entry = SchemaEntry {
                name: String::new(),
                size: 1,
                align: 1,
                hash: 0,
                kind: EntryKind::Array { element: i, len: 1 },
            };
            entry.hash = entry_hash(&entry, &table.entries).unwrap();
            let _ = element;
            table.entries.push(entry);
        }
        let err = SchemaTable::decode(&table.encode()).unwrap_err();
        assert!(err.to_string().contains("more than 64"), "{err}");
    }

    #[test]
    fn oversized_counts_allocate_nothing() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(1u16.to_le_bytes());
        bytes.extend(0u16.to_le_bytes());
        put_varint(&mut bytes, u64::MAX);
        assert!(SchemaTable::decode(&bytes).is_err());
        let mut bytes = SchemaTable::of(&u8::SCHEMA).encode();
        bytes[9] = KIND_STRUCT; // the u8 entry, now a struct with a huge field count
        bytes.truncate(bytes.len());
        put_varint(&mut bytes, u64::MAX >> 1);
        assert!(SchemaTable::decode(&bytes).is_err());
    }
}
