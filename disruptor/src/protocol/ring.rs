//! [`Ring`]: where the shared words of one ring are, as one process sees them, and the
//! accessors that name their orderings.
//!
//! A `Ring` is a handful of pointers and the geometry they need, copied into every handle so
//! that a claim or a consume needs no pointer chasing or bounds checks. The memory it points
//! into (a mapping of the segment, or the heap for in-process rings and models) is kept alive
//! by whoever built it (`Core`'s owner), which outlives every handle holding a copy.

use super::layout::{AbandonedLog, ConsumerEntry, Control, ProducerEntry, SequenceLine, WakeLine};
use super::sync::{AtomicI32, AtomicU64, Ordering};

/// The shared words of one ring (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ring {
    /// The control lines (one pointer for all of them: the hot paths load it once).
    control: *const Control,
    /// `consumer_count` consumer sequence lines.
    sequences: *const SequenceLine,
    /// `consumer_count` consumer registry records.
    consumers: *const ConsumerEntry,
    /// `producer_count` producer registry records.
    producers: *const ProducerEntry,
    abandoned: *const AbandonedLog,
    /// Per-slot commit flags (multi-producer rings); null otherwise.
    flags: *const AtomicU64,
    slots: *mut u8,
    pub(crate) capacity: u64,
    /// `capacity - 1` when the capacity is a power of two (index = seq & mask).
    mask: u64,
    pow2: bool,
    pub(crate) consumer_count: usize,
    /// Number of producer registry records.
    pub(crate) producer_count: usize,
    /// Single-producer mode (no commit flags, no per-claim records).
    pub(crate) single: bool,
    /// Notifiers need a `SeqCst` fence (the ring's fence mode is `Fence`); see `wait`.
    pub(crate) fence_fallback: bool,
}

// SAFETY: the pointers address atomics and slots in memory that outlives every copy of the
// `Ring` (each handle also holds the `Arc` that owns it); atomics are shared by design, and slot
// access follows the claim/consume protocol.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

/// Where each part of a ring lies: what [`Ring::new`] needs.
pub(crate) struct RingParts {
    pub control: *const Control,
    pub sequences: *const SequenceLine,
    pub consumers: *const ConsumerEntry,
    pub producers: *const ProducerEntry,
    pub abandoned: *const AbandonedLog,
    /// Null in single-producer rings.
    pub flags: *const AtomicU64,
    pub slots: *mut u8,
    pub capacity: u64,
    pub consumer_count: usize,
    pub producer_count: usize,
    pub fence_fallback: bool,
}

impl Ring {
    /// The view of a ring whose parts lie at `parts`.
    ///
    /// # Safety
    /// Every pointer must address the part it names (`consumer_count` sequences and consumer
    /// records, `producer_count` producer records, `capacity` flags unless null, `capacity`
    /// slots), valid for as long as any copy of the returned `Ring` is used.
    pub(crate) unsafe fn new(parts: RingParts) -> Ring {
        Ring {
            control: parts.control,
            sequences: parts.sequences,
            consumers: parts.consumers,
            producers: parts.producers,
            abandoned: parts.abandoned,
            flags: parts.flags,
            slots: parts.slots,
            capacity: parts.capacity,
            mask: parts.capacity.wrapping_sub(1),
            pow2: parts.capacity.is_power_of_two(),
            consumer_count: parts.consumer_count,
            producer_count: parts.producer_count,
            single: parts.flags.is_null(),
            fence_fallback: parts.fence_fallback,
        }
    }

    /// The control lines.
    #[inline(always)]
    pub(crate) fn control(&self) -> &Control {
        // SAFETY: `Ring::new`'s contract.
        unsafe { &*self.control }
    }

    /// The claim sequence.
    #[inline(always)]
    pub(crate) fn next(&self) -> &AtomicU64 {
        &self.control().next.value
    }

    /// The published cursor.
    #[inline(always)]
    pub(crate) fn cursor(&self) -> &AtomicU64 {
        &self.control().cursor.value
    }

    /// The gating epoch: bumped after every release or eviction of a consumer.
    #[inline(always)]
    pub(crate) fn gating_epoch(&self) -> &AtomicU64 {
        &self.control().next.gating_epoch
    }

    /// The application status word.
    #[inline(always)]
    pub(crate) fn status(&self) -> &AtomicI32 {
        &self.control().status.value
    }

    /// The line consumers (and committing producers) wait on.
    #[inline(always)]
    pub(crate) fn data_wake(&self) -> &WakeLine {
        &self.control().data_wake
    }

    /// The line claiming producers wait on.
    #[inline(always)]
    pub(crate) fn room_wake(&self) -> &WakeLine {
        &self.control().room_wake
    }

    /// Consumer `index`'s sequence.
    ///
    /// # Panics
    /// If `index >= consumer_count` (a programmer error: callers check the index first).
    #[inline(always)]
    pub(crate) fn consumer_sequence(&self, index: usize) -> &AtomicU64 {
        assert!(index < self.consumer_count);
        // SAFETY: `index < consumer_count` lines lie at `sequences` (`Ring::new`'s contract).
        unsafe { &(*self.sequences.add(index)).value }
    }

    /// Consumer `index`'s registry record.
    ///
    /// # Panics
    /// If `index >= consumer_count`.
    pub(crate) fn consumer_entry(&self, index: usize) -> &ConsumerEntry {
        assert!(index < self.consumer_count);
        // SAFETY: as in `consumer_sequence`, for the consumer records.
        unsafe { &*self.consumers.add(index) }
    }

    /// Producer registry record `index`.
    ///
    /// # Panics
    /// If `index >= producer_count`.
    pub(crate) fn producer_entry(&self, index: usize) -> &ProducerEntry {
        assert!(index < self.producer_count);
        // SAFETY: `index < producer_count` records lie at `producers` (`Ring::new`'s contract).
        unsafe { &*self.producers.add(index) }
    }

    /// The abandoned-range log.
    pub(crate) fn abandoned_log(&self) -> &AbandonedLog {
        // SAFETY: `Ring::new`'s contract.
        unsafe { &*self.abandoned }
    }

    /// Whether the ring has commit flags (multi-producer mode).
    #[inline(always)]
    pub(crate) fn has_flags(&self) -> bool {
        !self.flags.is_null()
    }

    /// The slot index of a sequence; always `< capacity`, whatever the sequence.
    #[inline(always)]
    pub(crate) fn index(&self, seq: u64) -> usize {
        if self.pow2 {
            (seq & self.mask) as usize
        } else {
            crate::cold_path(); // the division dwarfs a taken branch
            (seq % self.capacity) as usize
        }
    }

    /// The commit flag of the slot of `seq` (multi-producer rings only): it holds `seq + 1`
    /// once `seq` is committed.
    #[inline(always)]
    pub(crate) fn flag(&self, seq: u64) -> &AtomicU64 {
        assert!(self.has_flags(), "commit flags exist in multi-producer rings only");
        // SAFETY: `index` is `< capacity`, and a multi-producer ring has `capacity` flags at
        // `flags` (`Ring::new`'s contract).
        unsafe { &*self.flags.add(self.index(seq)) }
    }

    /// Where the run of `len` sequences from `start` lies, clamped to the capacity: its first
    /// slot index and the lengths of the part up to the end of the ring and of the part that
    /// wraps to its start. Always `index + first <= capacity` and `wrapped <= index`, so the two
    /// parts lie inside the slots and do not overlap, whatever the (possibly corrupt) inputs.
    #[inline(always)]
    pub(crate) fn halves(&self, start: u64, len: u64) -> (usize, usize, usize) {
        let capacity = self.capacity as usize;
        let len = len.min(self.capacity) as usize;
        let index = self.index(start);
        let first = len.min(capacity - index);
        (index, first, len - first)
    }

    /// A pointer to slot `index` (which must be `< capacity`) as a `T` (the ring's slot type).
    #[inline(always)]
    pub(crate) fn slot<T>(&self, index: usize) -> *mut T {
        debug_assert!((index as u64) < self.capacity);
        // SAFETY: `index < capacity` and the slot region holds `capacity` slots of the ring's
        // slot type (`Ring::new`'s contract), so the offset stays inside it.
        unsafe { self.slots.cast::<T>().add(index) }
    }

    /// The first byte of the slots (for the type-erased zero-filling of abandoned ranges).
    pub(crate) fn slot_bytes(&self) -> *mut u8 {
        self.slots
    }

    // --- reads and writes that the handles and the inspector make, with their orderings ----

    /// The published bound: every sequence below it is published, and the slot writes of each
    /// happen-before the caller's reads of them. In a single-producer ring it is the cursor
    /// word; in a multi-producer ring the cursor word is only a lower bound (multi-producer
    /// commits store flags, not the cursor: see `publish`), so this also follows the run of
    /// committed flags after it ([`published_from`](Self::published_from)), up to a lap: a
    /// read for the slow paths (inspection, recovery, waits), not for the consumers' hot path.
    #[inline]
    pub(crate) fn load_cursor(&self) -> u64 {
        let cursor = self.load_cursor_word();
        if self.has_flags() {
            self.published_from(cursor)
        } else {
            cursor
        }
    }

    /// The cursor word itself. Acquire pairs with every Release store or RMW of it
    /// (`publish_next`, and in multi-producer rings the cursor advance in
    /// `ConsumerState::commit_to`):
    /// the slot writes of every sequence below the value read happen-before the caller reads
    /// them. In a multi-producer ring it may lag the published bound (see `load_cursor`), but
    /// never a consumer's sequence: a consumer that follows no stage moves it up to its own
    /// sequence before committing, so the flags of the lap after it are never overwritten.
    #[inline(always)]
    pub(crate) fn load_cursor_word(&self) -> u64 {
        self.cursor().load(Ordering::Acquire)
    }

    /// Multi-producer rings: the end of the run of committed sequences that starts at `from`
    /// (at most a lap long), where every sequence below `from` is published. A flag holds
    /// `seq + 1` only once `seq` itself is committed (a stale flag of an earlier lap never
    /// matches, and the flags of `[from, from + capacity)` are not rewritten for the next lap
    /// before every consumer producers wait for passed them), so every sequence below the value
    /// returned is published, whatever the caller's `from` was.
    #[inline(always)]
    pub(crate) fn published_from(&self, from: u64) -> u64 {
        let limit = from.saturating_add(self.capacity);
        let mut end = from;
        // SYNC POINT. Acquire: pairs with the Release store of each flag in `commit_multi`:
        // the committer's slot writes happen-before our (and our caller's) reads of the slot.
        while end < limit && self.flag(end).load(Ordering::Acquire) == end.wrapping_add(1) {
            end += 1;
        }
        end
    }

    /// The claim sequence. Acquire pairs with the Release CAS of a multi-producer claim (its
    /// registry record is visible after it); a single producer stores it Relaxed.
    #[inline]
    pub(crate) fn load_claim_sequence(&self) -> u64 {
        self.next().load(Ordering::Acquire)
    }

    /// Consumer `index`'s committed sequence (`u64::MAX` once released). Acquire pairs with the
    /// Release store of its commit, and of its release.
    #[inline]
    pub(crate) fn load_consumer_sequence(&self, index: usize) -> u64 {
        self.consumer_sequence(index).load(Ordering::Acquire)
    }

    /// Number of batches consumer `index` committed (a statistic: Relaxed, nothing is read
    /// through it).
    pub(crate) fn load_commits(&self, index: usize) -> u64 {
        self.consumer_entry(index).commits.load(Ordering::Relaxed)
    }

    /// The application status word. Acquire pairs with the Release store in `store_status`:
    /// whatever the setter wrote before setting it is visible after reading it.
    pub(crate) fn load_status(&self) -> i32 {
        self.status().load(Ordering::Acquire)
    }

    /// Sets the application status word (Release: see `load_status`) and wakes whoever waits
    /// for data (a stream's readers wait for its end there).
    pub(crate) fn store_status(&self, status: i32) {
        self.status().store(status, Ordering::Release);
        self.notify_data();
    }

    /// Handles registered as sleeping on the data line and on the room line (informational,
    /// Relaxed; a waiter killed asleep leaves its count behind).
    pub(crate) fn load_sleepers(&self) -> (u32, u32) {
        (
            self.data_wake().waiters.load(Ordering::Relaxed),
            self.room_wake().waiters.load(Ordering::Relaxed),
        )
    }

    /// Wakes whoever sleeps on the data line (after a cursor or stage-sequence store).
    #[inline(always)]
    pub(crate) fn notify_data(&self) {
        super::wait::notify(self.data_wake(), self.fence_fallback);
    }

    /// Wakes whoever sleeps on the room line (after a gating consumer's sequence store).
    #[inline(always)]
    pub(crate) fn notify_room(&self) {
        super::wait::notify(self.room_wake(), self.fence_fallback);
    }
}
