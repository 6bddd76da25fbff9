//! The [`Slot`] trait: plain-old-data message types with a stable schema hash.
//!
//! A ring stores values of one `T: Slot` type in shared memory, where any process that maps the
//! segment, including a crashed or hostile one, may have written any bits. `Slot` therefore
//! promises that every bit pattern is a valid `T`, that `T` has no padding (so no uninitialised
//! bytes are ever read or published), and that `T` holds no pointers (which would be meaningless
//! in another address space). It also carries a [`Schema`]: a description of the layout with a
//! 64-bit hash that is written into the segment header, so that a process attaching with a
//! different layout is refused instead of misreading the data.

use core::fmt;

/// A fixed-size, plain-old-data value that can live in a shared-memory slot.
///
/// Implement it with `#[derive(Slot)]` on a `#[repr(C)]` (or `#[repr(transparent)]`) struct; it
/// is implemented here for `u8..=u128`, `i8..=i128`, `f32`, `f64` and arrays `[T; N]` of `Slot`
/// values. It is deliberately **not** implemented for `bool`, `char` (not every bit pattern is
/// valid), `usize`/`isize` (their width differs between processes built for different targets),
/// references, raw pointers, `Box`, `String`, `Vec`, `Option`, enums or zero-sized types.
///
/// ```
/// use shm_disruptor::Slot;
///
/// #[derive(Slot, Clone, Copy, Debug)]
/// #[repr(C)]
/// struct Tick {
///     price: f64,
///     qty: u32,
///     side: u8,
///     _pad: [u8; 3],
/// }
///
/// assert_eq!(Tick::SCHEMA.size, 16);
/// assert_eq!(
///     Tick::SCHEMA.to_string(),
///     "Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 align 8"
/// );
/// ```
///
/// A struct with implicit padding is refused at compile time, with the number of padding bytes:
///
/// ```compile_fail,E0277
/// use shm_disruptor::Slot;
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Padded {
///     a: u8,
///     b: u32, // 3 bytes of padding before `b`
/// }
/// ```
///
/// # Safety
///
/// An implementation promises that:
/// - every bit pattern of `size_of::<Self>()` bytes is a valid `Self` (which also makes it
///   [`bytemuck::Pod`]);
/// - `Self` contains no padding bytes, no pointers or references, and no interior mutability;
/// - `size_of::<Self>() > 0`;
/// - `SCHEMA` describes `Self` truthfully: `SCHEMA.size == size_of::<Self>()`,
///   `SCHEMA.align == align_of::<Self>()`, and each field's offset and size are the real ones.
///
/// `#[derive(Slot)]` checks all of this at compile time; write an implementation by hand only for a
/// type whose layout you control completely.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a shared-memory slot: it does not implement `Slot`",
    label = "not `Slot`",
    note = "`Slot` is implemented for u8..u128, i8..i128, f32, f64, arrays of `Slot` values and \
            `#[derive(Slot)]` structs; bool, char, usize/isize, references, pointers, Box, String, \
            Vec, Option and enums are refused because another process could write bits that are not a \
            valid value, or the value would not mean the same thing in another process"
)]
pub unsafe trait Slot: bytemuck::Pod + Send + Sync + 'static {
    /// The layout of `Self`, with its hash.
    const SCHEMA: Schema;
}

/// What kind of type a [`Schema`] describes.
///
/// ```
/// use shm_disruptor::{Schema, SchemaKind, Slot};
///
/// /// A schema in words, walking arrays down to their elements.
/// fn describe(schema: &Schema) -> String {
///     match schema.kind {
///         SchemaKind::Primitive => schema.name.to_owned(),
///         SchemaKind::Array { element, len } => format!("{len} x {}", describe(element)),
///         SchemaKind::Struct { fields } => format!("{} ({} fields)", schema.name, fields.len()),
///     }
/// }
///
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// struct Point {
///     x: f32,
///     y: f32,
/// }
///
/// assert_eq!(describe(&u32::SCHEMA), "u32");
/// assert_eq!(describe(&<[[u16; 2]; 3]>::SCHEMA), "3 x 2 x u16");
/// assert_eq!(describe(&<[Point; 4]>::SCHEMA), "4 x Point (2 fields)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaKind {
    /// A primitive integer or float.
    Primitive,
    /// An array of `len` values of `element`.
    Array {
        /// The schema of each element.
        element: &'static Schema,
        /// The number of elements.
        len: usize,
    },
    /// A struct with named (or, for tuple structs, numbered) fields.
    Struct {
        /// The fields, in declaration order.
        fields: &'static [Field],
    },
}

/// One field of a struct [`Schema`].
///
/// ```
/// use shm_disruptor::Slot;
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
/// let fields = Tick::SCHEMA.fields();
/// assert_eq!(fields.iter().map(|f| f.name).collect::<Vec<_>>(), ["price", "qty", "side", "_pad"]);
/// let qty = &fields[1];
/// assert_eq!((qty.offset, qty.size, qty.schema.name), (8, 4, "u32"));
/// assert_eq!(fields[3].schema.type_name(), "[u8; 3]");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name (`"0"`, `"1"`, ... for tuple structs).
    pub name: &'static str,
    /// The schema of the field's type.
    pub schema: &'static Schema,
    /// Byte offset of the field in the struct.
    pub offset: usize,
    /// Size of the field in bytes.
    pub size: usize,
}

/// The layout of a [`Slot`] type: plain const data, with a stable 64-bit hash.
///
/// The hash covers the type name (the bare Rust identifier or `#[slot(name = "...")]`, never the
/// module path), each field's name, offset, size and type schema hash (recursively), the size,
/// the alignment and the byte order of the target. The same definition compiled anywhere gives
/// the same hash; renaming, reordering, retyping or resizing any field at any depth changes it.
///
/// A ring's header records the schema of its slot type (its hash, and its `Display` text), and
/// [`Disruptor::open`](crate::Disruptor::open) refuses a type whose hash differs, with
/// [`OpenError::SchemaMismatch`](crate::OpenError::SchemaMismatch).
///
/// ```
/// use shm_disruptor::{Schema, Slot};
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
/// // The next version of the message moves a field: another layout, another hash.
/// #[derive(Slot, Clone, Copy)]
/// #[repr(C)]
/// #[slot(name = "Tick")]
/// struct TickV2 {
///     price: f64,
///     side: u8,
///     _pad: [u8; 3],
///     qty: u32,
/// }
///
/// let schema: &Schema = &Tick::SCHEMA;
/// assert_eq!((schema.name, schema.size, schema.align), ("Tick", 16, 8));
/// assert_eq!(schema.fields().len(), 4);
/// assert_ne!(schema.hash, TickV2::SCHEMA.hash);
/// assert_eq!(TickV2::SCHEMA.name, "Tick"); // `#[slot(name)]` names the type in the schema
/// assert_eq!(u64::SCHEMA.to_string(), "u64 size 8 align 8");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schema {
    /// The type name: `u32`, `Tick`, ... (empty for arrays, which display as `[T; N]`).
    pub name: &'static str,
    /// `size_of::<T>()`.
    pub size: usize,
    /// `align_of::<T>()`.
    pub align: usize,
    /// Primitive, array or struct.
    pub kind: SchemaKind,
    /// The layout hash.
    pub hash: u64,
}

/// FNV-1a, 64-bit: small, const-evaluable and fully specified (no per-process random state).
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Tags that keep the three kinds of schema apart in the hash.
pub(crate) const TAG_PRIMITIVE: u64 = 1;
pub(crate) const TAG_ARRAY: u64 = 2;
pub(crate) const TAG_STRUCT: u64 = 3;

/// Byte order of the target, part of every hash: a little-endian and a big-endian process must not
/// share a ring.
pub(crate) const BYTE_ORDER: u64 = if cfg!(target_endian = "little") { 0x4c45 } else { 0x4245 };

const fn fnv_bytes(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

pub(crate) const fn fnv_u64(hash: u64, value: u64) -> u64 {
    fnv_bytes(hash, &value.to_le_bytes())
}

/// Strings are length-prefixed so that `("ab", "c")` and `("a", "bc")` hash differently.
pub(crate) const fn fnv_str(hash: u64, text: &str) -> u64 {
    fnv_bytes(fnv_u64(hash, text.len() as u64), text.as_bytes())
}

pub(crate) const fn hash_tail(hash: u64, size: usize, align: usize) -> u64 {
    fnv_u64(fnv_u64(fnv_u64(hash, size as u64), align as u64), BYTE_ORDER)
}

impl Schema {
    /// The schema of a primitive type. Used by the impls in this crate.
    pub const fn primitive(name: &'static str, size: usize, align: usize) -> Schema {
        let hash = fnv_str(fnv_u64(FNV_OFFSET, TAG_PRIMITIVE), name);
        Schema {
            name,
            size,
            align,
            kind: SchemaKind::Primitive,
            hash: hash_tail(hash, size, align),
        }
    }

    /// The schema of `[element; len]`.
    ///
    /// # Panics
    /// In const evaluation (a compile error) when `len == 0`: zero-sized values are not slots.
    pub const fn array(element: &'static Schema, len: usize) -> Schema {
        assert!(len > 0, "a zero-length array is zero-sized and cannot be a Slot");
        let hash = fnv_u64(fnv_u64(fnv_u64(FNV_OFFSET, TAG_ARRAY), element.hash), len as u64);
        let size = element.size * len;
        Schema {
            name: "",
            size,
            align: element.align,
            kind: SchemaKind::Array { element, len },
            hash: hash_tail(hash, size, element.align),
        }
    }

    /// The schema of a struct. Called by the code `#[derive(Slot)]` generates.
    ///
    /// # Panics
    /// In const evaluation (a compile error) when `size == 0`.
    pub const fn structure(
        name: &'static str,
        size: usize,
        align: usize,
        fields: &'static [Field],
    ) -> Schema {
        assert!(size > 0, "a zero-sized struct cannot be a Slot");
        let mut hash = fnv_str(fnv_u64(FNV_OFFSET, TAG_STRUCT), name);
        hash = fnv_u64(hash, fields.len() as u64);
        let mut i = 0;
        while i < fields.len() {
            let field = &fields[i];
            hash = fnv_str(hash, field.name);
            hash = fnv_u64(hash, field.offset as u64);
            hash = fnv_u64(hash, field.size as u64);
            hash = fnv_u64(hash, field.schema.hash);
            i += 1;
        }
        Schema {
            name,
            size,
            align,
            kind: SchemaKind::Struct { fields },
            hash: hash_tail(hash, size, align),
        }
    }

    /// The fields of a struct schema; empty for primitives and arrays.
    pub const fn fields(&self) -> &'static [Field] {
        match self.kind {
            SchemaKind::Struct { fields } => fields,
            _ => &[],
        }
    }

    /// Writes the type as it is spelled in Rust: `u32`, `[u8; 3]`, `Tick`.
    fn write_type_name(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SchemaKind::Array { element, len } => {
                f.write_str("[")?;
                element.write_type_name(f)?;
                write!(f, "; {len}]")
            }
            _ => f.write_str(self.name),
        }
    }

    /// The type as spelled in Rust (`Tick`, `[u8; 3]`).
    pub fn type_name(&self) -> String {
        struct Name<'a>(&'a Schema);
        impl fmt::Display for Name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_type_name(f)
            }
        }
        Name(self).to_string()
    }
}

/// `Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 align 8`
impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_type_name(f)?;
        if let SchemaKind::Struct { fields } = self.kind {
            f.write_str(" {")?;
            for (i, field) in fields.iter().enumerate() {
                f.write_str(if i == 0 { " " } else { ", " })?;
                write!(f, "{}: ", field.name)?;
                field.schema.write_type_name(f)?;
                write!(f, " @{}", field.offset)?;
            }
            f.write_str(" }")?;
        }
        write!(f, " size {} align {}", self.size, self.align)
    }
}

macro_rules! primitive_slots {
    ($($ty:ident),* $(,)?) => {$(
        // SAFETY: a primitive integer or float: every bit pattern is valid, no padding, no
        // pointers, non-zero size; the schema is built from its real size and alignment.
        unsafe impl Slot for $ty {
            const SCHEMA: Schema = Schema::primitive(
                stringify!($ty),
                core::mem::size_of::<$ty>(),
                core::mem::align_of::<$ty>(),
            );
        }
    )*};
}

primitive_slots!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

// SAFETY: an array of `Slot` values has no padding between elements (size is a multiple of
// alignment), every bit pattern of each element is valid, and `Schema::array` refuses `N == 0`
// in const evaluation, so the array has non-zero size.
unsafe impl<T: Slot, const N: usize> Slot for [T; N] {
    const SCHEMA: Schema = Schema::array(&T::SCHEMA, N);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_describe_themselves() {
        assert_eq!(u32::SCHEMA.to_string(), "u32 size 4 align 4");
        assert_eq!(<[u8; 3]>::SCHEMA.to_string(), "[u8; 3] size 3 align 1");
        assert_eq!(<[[u16; 2]; 3]>::SCHEMA.type_name(), "[[u16; 2]; 3]");
    }

    #[test]
    fn hashes_of_distinct_primitives_differ() {
        let hashes = [
            u8::SCHEMA.hash,
            u16::SCHEMA.hash,
            u32::SCHEMA.hash,
            u64::SCHEMA.hash,
            i32::SCHEMA.hash,
            f32::SCHEMA.hash,
            <[u8; 4]>::SCHEMA.hash,
            <[u16; 2]>::SCHEMA.hash,
        ];
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn string_hash_is_length_prefixed() {
        assert_ne!(
            fnv_str(fnv_str(FNV_OFFSET, "ab"), "c"),
            fnv_str(fnv_str(FNV_OFFSET, "a"), "bc")
        );
    }
}
