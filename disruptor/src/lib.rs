//! A typed LMAX Disruptor over POSIX shared memory.
//!
//! Pass fixed-size `#[repr(C)]` messages between processes (and threads) with no copies, no
//! locks and no system calls on the hot path. A ring lives in a POSIX shared-memory segment;
//! producers claim slots, write them in place and commit them in sequence order; each consumer
//! index reads every committed message, in batches, and commits what it has read.
//!
//! - [`Slot`] (with `#[derive(Slot)]`) marks plain-old-data message types and gives them a
//!   schema hash, which the segment records so that a process with another layout is refused.
//! - [`Disruptor`] creates or opens a ring; [`Producer`] and [`Consumer`] are the handles.
//! - [`WaitStrategy`] picks how blocking calls wait: spin, yield, back off, or sleep on a futex.
//!
//! See the [`Disruptor`] example.
#![warn(missing_docs)]
// Under `--cfg loom` only the protocol core is built, for its models: the rest is unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(loom))]
mod asynch;
#[cfg(not(loom))]
mod consumer;
mod error;
mod graph;
#[cfg(not(loom))]
pub mod inspect;
mod liveness;
#[cfg(not(loom))]
mod producer;
mod protocol;
#[cfg(not(loom))]
mod registry;
#[cfg(not(loom))]
mod ring;
#[cfg(not(loom))]
mod shm;
mod slot;
#[cfg(not(loom))]
mod stream;

#[cfg(not(loom))]
pub use consumer::{Batch, BatchMut, Consumer, ExclusiveConsumer, ForwardError};
pub use error::{AttachError, ClaimError, ConsumeError, OpenError};
#[cfg(not(loom))]
pub use producer::{Claim, ClaimBatch, Producer};
pub use protocol::layout::{
    ProducerMode, DEFAULT_PRODUCERS, MAX_CONSUMERS, MAX_DEPENDENCIES, MAX_PRODUCERS,
};
pub use protocol::ownership::{Participant, ParticipantState};
pub use protocol::policy::DeadPeerPolicy;
pub use protocol::wait::{FenceMode, WaitStrategy};
#[cfg(not(loom))]
pub use ring::{Builder, Disruptor};
#[cfg(not(loom))]
pub use shm::unlink;
pub use shm_disruptor_derive::Slot;
pub use slot::{Field, Schema, SchemaKind, Slot};
#[cfg(all(feature = "tokio", not(loom)))]
pub use stream::{AsyncStreamReader, AsyncStreamWriter};
#[cfg(not(loom))]
pub use stream::{StreamReader, StreamWriter, STREAM_EOF, STREAM_ERROR, STREAM_OPEN};

/// Marks the branch that calls it as unlikely, so that the compiler lays out the hot path as
/// straight-line code (a stable stand-in for `core::hint::cold_path`).
#[cold]
#[inline(always)]
pub(crate) fn cold_path() {}

/// Items used by the code that `#[derive(Slot)]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{Field, Schema, Slot};
    pub use bytemuck;
    pub use core;

    /// Compiles only when `T: Slot` and `T` is not zero-sized, and returns `&T::SCHEMA`. The
    /// derive passes `IS_ZERO_SIZED = { size_of::<T>() == 0 }`.
    ///
    /// The derive calls this one function, spanned at a field's type, everywhere it needs that
    /// field to be `Slot` (the explicit check, the schema, the padding sums). A field that is not
    /// `Slot` then produces the same diagnostic at each call, which rustc reports only once; and
    /// as every constant that would evaluate the field's schema fails to type-check first, a
    /// zero-sized `[T; 0]` is reported here, at the field, not as a panic in `Schema::array`.
    pub const fn assert_field_is_slot<T, const IS_ZERO_SIZED: bool>() -> &'static Schema
    where
        T: Slot + NotZeroSized<IS_ZERO_SIZED>,
    {
        &T::SCHEMA
    }

    /// Implemented only for `IS_ZERO_SIZED == false`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is zero-sized, and a zero-sized type cannot be stored in a slot",
        label = "zero-sized field",
        note = "a slot holds bytes that another process reads: remove the field, or give the array a non-zero length"
    )]
    pub trait NotZeroSized<const IS_ZERO_SIZED: bool> {}
    impl<T: ?Sized> NotZeroSized<false> for T {}

    /// Implemented only for `N == 0`: the derive requires `S: NoPaddingBefore<N>` where `N` is
    /// the gap between two adjacent fields of `S`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` must not contain padding, but has {N} byte(s) of padding before this field",
        label = "{N} byte(s) of implicit padding before this field",
        note = "padding bytes are uninitialised memory that would be published to other processes; add an explicit `_pad: [u8; {N}]` field just before this one, or reorder the fields"
    )]
    pub trait NoPaddingBefore<const N: usize> {}
    impl<T: ?Sized> NoPaddingBefore<0> for T {}

    /// Implemented only for `N == 0`: the derive requires `S: NoTrailingPadding<N>` where `N` is
    /// the gap between the end of the last field of `S` and the end of `S`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` must not contain padding, but has {N} byte(s) of trailing padding after this field",
        label = "{N} byte(s) of implicit padding after this field, up to the struct's size",
        note = "padding bytes are uninitialised memory that would be published to other processes; the size of a struct is rounded up to its alignment, so add an explicit `_pad: [u8; {N}]` field after this one, or reorder the fields"
    )]
    pub trait NoTrailingPadding<const N: usize> {}
    impl<T: ?Sized> NoTrailingPadding<0> for T {}

    /// Compiles only when there are no padding bytes (`N == 0`) before a field of `S`.
    pub const fn assert_no_padding_before<S: ?Sized + NoPaddingBefore<N>, const N: usize>() {}

    /// Compiles only when there are no padding bytes (`N == 0`) after the last field of `S`.
    pub const fn assert_no_trailing_padding<S: ?Sized + NoTrailingPadding<N>, const N: usize>() {}
}
