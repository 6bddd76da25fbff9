//! A ring's shared words on the heap: the memory of in-process rings (threads of one process,
//! no `/dev/shm`, which is also what Miri can run), and of the loom models.
//!
//! The same protocol runs over it as over a mapped segment: only where the parts lie differs
//! (each part is its own allocation here, at offsets from one base in a segment).

use std::alloc::{alloc_zeroed, dealloc, Layout};

use super::layout::{
    AbandonedLog, ConsumerEntry, Control, Geometry, ProducerEntry, SequenceLine, MAX_PRODUCERS,
};
use super::ring::{Ring, RingParts};
use super::sync::AtomicU64;

/// The shared words and slots of one in-process ring.
pub(crate) struct HeapMemory {
    control: Box<Control>,
    sequences: Box<[SequenceLine]>,
    consumers: Box<[ConsumerEntry]>,
    producers: Box<[ProducerEntry]>,
    abandoned: Box<AbandonedLog>,
    /// Empty in single-producer rings.
    flags: Box<[AtomicU64]>,
    slots: *mut u8,
    slots_layout: Layout,
    capacity: u64,
}

// SAFETY: `slots` is an allocation owned by this value (freed in `Drop`), accessed by the
// handles through the claim/consume protocol; everything else is atomics.
unsafe impl Send for HeapMemory {}
// SAFETY: as above.
unsafe impl Sync for HeapMemory {}

impl HeapMemory {
    /// Allocates the parts of a ring laid out as `geometry` describes, all zero: a new ring
    /// (`multi`: with commit flags).
    pub(crate) fn new(geometry: &Geometry, multi: bool) -> HeapMemory {
        let slot_bytes = (geometry.capacity * geometry.slot_size) as usize;
        let slots_layout = Layout::from_size_align(slot_bytes, geometry.slot_align as usize)
            .expect("a validated geometry has a valid slot layout");
        // SAFETY: the layout has a non-zero size (capacity and slot size are at least 1).
        let slots = unsafe { alloc_zeroed(slots_layout) };
        if slots.is_null() {
            std::alloc::handle_alloc_error(slots_layout);
        }
        let flags = if multi { geometry.capacity as usize } else { 0 };
        HeapMemory {
            control: Box::new(Control::new()),
            sequences: (0..geometry.consumer_count).map(|_| SequenceLine::new(0)).collect(),
            consumers: (0..geometry.consumer_count).map(|_| ConsumerEntry::new()).collect(),
            producers: (0..MAX_PRODUCERS).map(|_| ProducerEntry::new()).collect(),
            abandoned: Box::new(AbandonedLog::new()),
            flags: (0..flags).map(|_| AtomicU64::new(0)).collect(),
            slots,
            slots_layout,
            capacity: geometry.capacity,
        }
    }

    /// The view of these parts (valid while `self` lives).
    pub(crate) fn ring(&self, fence_fallback: bool) -> Ring {
        let parts = RingParts {
            control: &*self.control,
            sequences: self.sequences.as_ptr(),
            consumers: self.consumers.as_ptr(),
            producers: self.producers.as_ptr(),
            abandoned: &*self.abandoned,
            flags: if self.flags.is_empty() { std::ptr::null() } else { self.flags.as_ptr() },
            slots: self.slots,
            capacity: self.capacity,
            consumer_count: self.sequences.len(),
            fence_fallback,
        };
        // SAFETY: every part was allocated above with the counts `RingParts` asks for
        // (`capacity` slots of `slot_size` bytes), and lives as long as `self`; the caller keeps
        // `self` alive while the returned view is used (see `Core`).
        unsafe { Ring::new(parts) }
    }
}

impl std::fmt::Debug for HeapMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapMemory").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl Drop for HeapMemory {
    fn drop(&mut self) {
        // SAFETY: `slots` was allocated in `new` with `slots_layout` and is freed only here.
        unsafe { dealloc(self.slots, self.slots_layout) };
    }
}
