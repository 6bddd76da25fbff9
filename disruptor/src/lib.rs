//! A typed LMAX Disruptor over POSIX shared memory.
#![warn(missing_docs)]

mod slot;

pub use shm_disruptor_derive::Slot;
pub use slot::{Field, Schema, SchemaKind, Slot};

/// Items used by the code that `#[derive(Slot)]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use bytemuck;
    pub use core;

    use crate::Slot;

    /// `N` bytes of implicit padding found by `#[derive(Slot)]`.
    #[allow(missing_debug_implementations)]
    pub struct PaddingBytes<const N: usize>;

    /// Implemented only for `PaddingBytes<0>`: the derive requires it for every gap between
    /// fields and after the last field, so any padding is a compile error naming its size.
    #[diagnostic::on_unimplemented(
        message = "a `Slot` struct must not contain padding, but `{Self}` bytes of padding were found here",
        label = "implicit padding before this field (or after it, for the last field)",
        note = "padding bytes are uninitialised memory: add an explicit `_pad: [u8; N]` field (N = the number in `PaddingBytes<N>`) where the gap is, or reorder the fields"
    )]
    pub trait NoPadding {}
    impl NoPadding for PaddingBytes<0> {}

    /// Compiles only when `T: NoPadding`.
    pub const fn assert_no_padding<T: NoPadding>() {}

    /// Compiles only when `T: Slot`; the derive calls it with each field's type, spanned at it.
    pub const fn assert_field_is_slot<T: Slot>() {}
}
