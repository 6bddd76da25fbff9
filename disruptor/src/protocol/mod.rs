//! The protocol core: every atomic operation on a ring's shared words, with the argument for
//! each ordering next to the operation it pairs with. The typed handles (`Producer`,
//! `Consumer`, `Disruptor`, the streams and the async calls) are thin layers over it: they
//! import this module, and it imports nothing above it (only the crate's leaf vocabulary:
//! errors, the dependency-graph checks, process tokens).
//!
//! | module | what |
//! |---|---|
//! | [`sync`] | the atomics and locks: `std`'s, or loom's under `--cfg loom` |
//! | [`layout`] | the shared structures, their offsets in a segment, the header |
//! | [`ring`] | [`Ring`]: the pointers to one ring's shared words, and their plain reads |
//! | [`memory`] | the shared words on the heap: in-process rings, and loom models |
//! | [`ownership`] | record ownership (kernel locks), recovery, eviction, participants |
//! | [`gating`] | the live dependency graph that producers and stages wait for |
//! | [`claim`] | producers: claims, records of claims, giving claims back |
//! | [`publish`] | producers: commits, the cursor, helping a stalled cursor |
//! | [`consume`] | consumers: what is visible, commits, release |
//! | [`policy`] | what a blocked producer does about dead peers |
//! | [`wait`] | wait strategies, the no-lost-wake-up protocol, fence modes, the futex |
//! | [`snapshot`] | reads for the inspector |
//!
//! The invariants these modules keep, and the tests and models that check each, are listed in
//! the repository's `PROTOCOL.md`.

pub(crate) mod claim;
pub(crate) mod consume;
pub(crate) mod gating;
pub(crate) mod layout;
pub(crate) mod memory;
pub(crate) mod ownership;
pub(crate) mod policy;
pub(crate) mod publish;
pub(crate) mod ring;
#[cfg(not(loom))]
pub(crate) mod snapshot;
pub(crate) mod sync;
pub(crate) mod wait;

#[cfg(all(test, loom))]
mod models;

pub(crate) use gating::Graph;
pub(crate) use layout::{Geometry, ProducerMode};
pub(crate) use ownership::Locks;
pub(crate) use ring::Ring;
pub(crate) use wait::FenceMode;

/// One process's view of one ring: where its shared words are, its dependency graph, and the
/// locks of the records this process's handles hold. Whoever builds a `Core` keeps the memory
/// its [`Ring`] points into alive for as long as the `Core` (and every copy of its `Ring`).
#[derive(Debug)]
pub(crate) struct Core {
    /// The shared words.
    pub(crate) ring: Ring,
    /// The dependency graph (validated at create or open).
    pub(crate) graph: Graph,
    /// The record locks.
    pub(crate) locks: Locks,
    /// Single- or multi-producer.
    pub(crate) mode: ProducerMode,
    /// How notifiers and waiters order their accesses.
    pub(crate) fence: FenceMode,
    /// Bytes per slot.
    pub(crate) slot_size: usize,
    /// The lock byte of consumer record 0 (each record's lock byte is its offset in the
    /// segment, one line apart).
    consumer_locks: u64,
    /// The lock byte of producer record 0.
    producer_locks: u64,
}

impl Core {
    /// The core of a ring laid out as `geometry` describes, whose shared words `ring` points
    /// to, with the record locks `locks`.
    pub(crate) fn new(
        ring: Ring,
        geometry: &Geometry,
        graph: Graph,
        locks: Locks,
        mode: ProducerMode,
        fence: FenceMode,
    ) -> Core {
        Core {
            ring,
            graph,
            locks,
            mode,
            fence,
            slot_size: geometry.slot_size as usize,
            consumer_locks: geometry.consumers_offset as u64,
            producer_locks: geometry.producers_offset as u64,
        }
    }

    /// The lock byte of consumer `index`'s registry record.
    pub(crate) fn consumer_lock(&self, index: usize) -> u64 {
        self.consumer_locks + (index * layout::LINE) as u64
    }

    /// The lock byte of producer registry record `index`.
    pub(crate) fn producer_lock(&self, index: usize) -> u64 {
        self.producer_locks + (index * layout::LINE) as u64
    }

    /// The slowest sequence producers must not overtake, over the live graph; `None` when
    /// every consumer they would wait for is released.
    #[inline]
    pub(crate) fn slowest_gating(&self) -> Option<u64> {
        self.graph.slowest_gating(|c| self.ring.load_consumer_sequence(c))
    }

    /// The live consumers producers gate on now (see `Graph::live_gating`), as a producer
    /// caches them between changes of the gating epoch.
    pub(crate) fn live_gating(&self) -> Box<[usize]> {
        self.graph.live_gating(|c| self.ring.load_consumer_sequence(c)).into()
    }

    /// The sequence below which consumer `index` may read: the cursor, or for a pipeline stage
    /// the slowest of the live stages it follows (a released stage is replaced by the stages it
    /// followed; see `gating`).
    #[inline]
    pub(crate) fn visible_bound(&self, index: usize) -> u64 {
        let deps = self.graph.dependencies(index);
        if !deps.is_empty() {
            // `load_consumer_sequence` is Acquire: it pairs with the Release store in a commit
            // of the stage we follow, so its writes to the slots it processed happen-before our
            // reads.
            let stages = self.graph.slowest(deps, |c| self.ring.load_consumer_sequence(c));
            if let Some(stages) = stages {
                // Clamped by the cursor word (read after the stages: a stage's sequence is
                // never above it, see `Ring::load_cursor_word`), against corrupt sequences.
                return stages.min(self.ring.load_cursor_word());
            }
            // Every stage it followed was released: it reads what producers publish.
        }
        if self.ring.has_flags() {
            // Every sequence below the consumer's own is published (Acquire loads of the flags,
            // see `Ring::published_from`).
            let own = self.ring.load_consumer_sequence(index);
            return self.ring.published_from(own.max(self.ring.load_cursor_word()));
        }
        // SYNC POINT: `load_cursor_word` (Acquire) pairs with the Release stores of the cursor:
        // slot writes of every sequence below it happen-before our reads.
        self.ring.load_cursor_word()
    }
}
