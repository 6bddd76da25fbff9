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
//! # Example: a producer process and a consumer process
//!
//! Two programs share the message type (from a common crate) and the ring's name. The producer
//! creates the ring and publishes; the consumer opens the ring by name (which checks that it
//! holds `Tick`s, laid out the same way) and reads everything published, in batches.
//!
//! ```
//! use std::time::Duration;
//! use shm_disruptor::{Disruptor, Slot, WaitStrategy};
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! /// The message, defined once in a crate that both programs depend on.
//! #[derive(Slot, Clone, Copy, Debug, PartialEq)]
//! #[repr(C)]
//! struct Tick {
//!     price: f64,
//!     qty: u32,
//!     side: u8,
//!     _pad: [u8; 3], // explicit padding: a `Slot` has no uninitialised bytes
//! }
//!
//! /// The producer program: creates the ring, then claims, writes and commits one slot per tick.
//! fn producer_process(name: &str, ticks: u32) -> Result<(), Error> {
//!     let ring = Disruptor::<Tick>::builder(name)
//!         .capacity(1024) // slots
//!         .consumers(1) // consumer indices: 0
//!         .single_producer()
//!         .wait_strategy(WaitStrategy::Block) // sleep on a futex when the ring is full
//!         .create()?; // fails if the name is taken: see `open_or_create`, `replace_existing`
//!     let mut producer = ring.producer()?;
//!     for i in 0..ticks {
//!         let mut claim = producer.claim()?; // waits while the consumer is a ring behind
//!         *claim = Tick { price: 100.0 + f64::from(i), qty: i, side: 0, _pad: [0; 3] };
//!         claim.commit(); // now visible to the consumer
//!     }
//!     Ok(())
//! }
//!
//! /// The consumer program: opens the ring by name and sums the quantities of `ticks` ticks.
//! fn consumer_process(name: &str, ticks: u32) -> Result<u64, Error> {
//!     // Waits up to 10 s for the producer to create the ring, then checks `Tick`'s schema.
//!     let ring = Disruptor::<Tick>::builder(name).open_timeout(Duration::from_secs(10))?;
//!     let mut consumer = ring.consumer(0)?; // this process owns index 0 until it drops it
//!     consumer.set_wait_strategy(WaitStrategy::Block);
//!     let (mut seen, mut total) = (0, 0);
//!     while seen < ticks as usize {
//!         // Everything published since the last commit, read in place (at least one tick).
//!         let batch = consumer.consume_timeout(Duration::from_secs(10))?;
//!         total += batch.iter().map(|tick| u64::from(tick.qty)).sum::<u64>();
//!         seen += batch.len();
//!         batch.commit(); // the producer may reuse these slots
//!     }
//!     Ok(total)
//! }
//!
//! # let name = format!("/doc-crate-{}", std::process::id());
//! // To run as a test, this example runs the consumer on a thread of the same process. In
//! // production each function is the `main` of its own program (`producer_process("/ticks",
//! // n)` in one, `consumer_process("/ticks", n)` in the other, started in either order):
//! // nothing is shared between them but the segment, which they find by name.
//! let consumer = {
//!     let name = name.clone();
//!     std::thread::spawn(move || consumer_process(&name, 5000))
//! };
//! producer_process(&name, 5000)?;
//! let total = consumer.join().expect("the consumer panicked");
//! // A segment outlives the processes that use it until it is removed by name.
//! shm_disruptor::unlink(&name)?;
//! assert_eq!(total?, (0..5000).sum::<u64>());
//! # Ok::<(), Error>(())
//! ```
//!
//! The segment stays in `/dev/shm` after both programs exit, with everything it holds, until
//! [`unlink`] (or `shm-disruptor rm NAME`, from the `shm-disruptor-cli` crate) removes it; a
//! consumer that restarts resumes from its committed sequence. Between the threads of one
//! process, [`Builder::create_in_process`] makes a ring in ordinary memory that needs no
//! `/dev/shm` and leaves nothing behind.
//!
//! # Cargo features
//!
//! - `tokio` (off by default): [`AsyncStreamWriter`] and [`AsyncStreamReader`], which implement
//!   tokio's `AsyncWrite`, `AsyncRead` and `AsyncBufRead` over a byte stream (a ring of `u8`),
//!   as [`StreamWriter`] and [`StreamReader`] implement `std::io`'s traits. It adds a dependency
//!   on tokio without any of its features: its I/O traits, no runtime.
//! - `serde` (off by default): `serde::Serialize` for [`SchemaTable`] and its parts,
//!   [`ProducerMode`] and [`ParticipantState`], for tools that report rings as JSON.
//! - `tracing` (off by default): [`tracing`](https://docs.rs/tracing) events, with target
//!   `shm_disruptor`, for what an operator wants to know about, never one per message. Without
//!   the feature no event code is compiled at all (the crate's event macro expands to nothing),
//!   so it costs nothing; with it, every event is on a cold path (an error being returned, a
//!   blocked producer's policy, a repair). Install any subscriber (`tracing-subscriber`'s
//!   `fmt()`, a JSON layer, OpenTelemetry) to see them. Each event has a `ring` field (the
//!   ring's name) and a message:
//!
//!   | level | message starts with | other fields | when |
//!   |---|---|---|---|
//!   | WARN | `evicted a dead consumer` | `consumer`, `by` (`policy` or `evict_dead_consumers`), `pid` (by policy) | [`DeadPeerPolicy::Recover`] or [`Disruptor::evict_dead_consumers`] released a consumer whose process died |
//!   | WARN | `a blocked producer sees a dead consumer` | `consumer`, `pid`, `evict_after_ms` | a producer under [`DeadPeerPolicy::Recover`], blocked, first sees a consumer whose process died |
//!   | WARN | `a blocked producer sees an orphaned claim` | `start`, `end`, `abandon_after_ms` | likewise, a claimed range at the cursor that no live producer holds |
//!   | WARN | `a stream reader sees that its writer died` | `consumer` | a [`StreamReader`] finds the stream's writer dead (it then returns `UnexpectedEof`) |
//!   | INFO | `recovered an orphaned claim` | `start`, `end` | [`Producer::recover_orphaned`] took a dead producer's claim over |
//!   | WARN | `published an orphaned claim as abandoned` | `start`, `end`, `by` (`policy`) | [`DeadPeerPolicy::Recover`] published a dead producer's claim zero-filled |
//!   | WARN | `published a claim as abandoned` | `start`, `end`, `by` (`commit_abandoned`) | [`ClaimBatch::commit_abandoned`] |
//!   | WARN | `open timed out` | `waited_ms` | [`Builder::open_timeout`] found no ring in time, or `open` waited [`Builder::init_timeout`] for a creator that never finished |
//!   | WARN | `schema mismatch` | `expected`, `found`, `diff` (or the slot sizes and alignments) | an open refused with [`OpenError::SchemaMismatch`] or [`OpenError::SlotLayoutMismatch`] |
//!   | INFO | `membarrier is unavailable to this process` | | a ring created without [`Builder::fence_mode`] falls back to [`FenceMode::Fence`] |
//!   | WARN | `the ring's fence mode cannot be followed here` | `mode` | an open refused with [`OpenError::FenceModeUnavailable`] |
//!
//! The async calls of the handles ([`Producer::claim_async`], [`ClaimBatch::commit_async`],
//! [`Consumer::consume_async`]) need no feature: they are plain futures, for any executor.
//!
//! # Further reading
//!
//! - [`FenceMode`]: why a consumer or producer sleeping on a futex never misses its wake-up,
//!   although publishers make no system call and issue no fence.
//! - [`Slot`]: the rules for message types, and what the schema hash covers.
//! - [`ClaimBatch`]: what dropping, leaking or leaving a claim pending does; [`Batch`]: what
//!   dropping a batch without commit does.
//! - [`DeadPeerPolicy`], [`Disruptor::participants`] and [`Producer::recover_orphaned`]: what
//!   is left when a process dies, and how the others carry on.
//! - [`Builder::depends_on`] and [`ExclusiveConsumer`]: pipelines of consumers.
//! - [`observe`]: the untyped, read-only accessors on which tools that read any ring from
//!   outside are built (the `shm-disruptor-inspect` crate, and the `shm-disruptor` command).
//! - [`raw`]: a ring's slots as bytes, for code that knows its slot type only from the schema
//!   in its header (bridges, recorders).
//!
//! The source repository also holds `PROTOCOL.md`, which is not part of the published crate:
//! the protocol in full, for whoever reviews or ports it. It describes the segment's layout
//! offset by offset, the sequences, how claims and commits work in single- and multi-producer
//! mode, consumers and the dependency graph, ownership of consumer indices and producer
//! records (and how a dead owner is detected), the blocking protocol, and every invariant with
//! the test, loom model or Miri run that checks it.
//!
#![cfg_attr(feature = "tokio", doc = "[`AsyncStreamWriter`]: crate::AsyncStreamWriter")]
#![cfg_attr(feature = "tokio", doc = "[`AsyncStreamReader`]: crate::AsyncStreamReader")]
// Without the feature they are not built: the links point to the list of features instead.
#![cfg_attr(not(feature = "tokio"), doc = "[`AsyncStreamWriter`]: #cargo-features")]
#![cfg_attr(not(feature = "tokio"), doc = "[`AsyncStreamReader`]: #cargo-features")]
// docs.rs builds with `--cfg docsrs` (see `[package.metadata.docs.rs]` in Cargo.toml): items
// behind a feature are then marked "Available on crate feature ... only". `loom` is a build of
// the protocol core for its models, not a configuration for users: it is not shown.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]
#![warn(missing_docs)]
// Under `--cfg loom` only the protocol core is built, for its models: the rest is unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

/// Emits a [`tracing`](https://docs.rs/tracing) event (target `shm_disruptor`) when the crate
/// is built with its `tracing` feature: `event!(WARN, field = value, ..., "message")`. Without
/// the feature it expands to nothing: the arguments are not even evaluated, so the events cost
/// nothing. Events mark what an operator wants to know about (see the crate docs), never a
/// message going through.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($rest:tt)+) => {
        ::tracing::event!(target: "shm_disruptor", ::tracing::Level::$level, $($rest)+)
    };
}

/// Without the `tracing` feature: nothing (see the other definition).
#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($rest:tt)+) => {};
}

// `ring` first: rustdoc lists a type's inherent methods in module order, and `Disruptor`'s page
// should open with `builder` and `open` (its other methods are defined next to their handles).
#[cfg(not(loom))]
mod ring;

#[cfg(not(loom))]
mod asynch;
#[cfg(not(loom))]
mod consumer;
mod error;
mod graph;
mod liveness;
#[cfg(not(loom))]
pub mod observe;
#[cfg(not(loom))]
mod producer;
mod protocol;
#[cfg(not(loom))]
pub mod raw;
#[cfg(not(loom))]
mod registry;
mod schema_table;
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
pub use schema_table::{
    EntryField, EntryKind, SchemaDifference, SchemaEntry, SchemaTable, SchemaTableError,
};
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
