//! A ring's shared words on the heap: the memory of in-process rings (threads of one process,
//! no `/dev/shm`, which is also what Miri can run), and of the loom models.
//!
//! The same protocol runs over it as over a mapped segment: only where the parts lie differs
//! (each part is its own allocation here, at offsets from one base in a segment).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use super::layout::{AbandonedLog, ConsumerEntry, Control, Geometry, ProducerEntry, SequenceLine};
use super::ring::{Ring, RingParts};
use super::sync::AtomicU64;

/// One part of a ring on the heap, owned through a raw pointer. Not a `Box`: moving a `Box`
/// asserts unique access to its contents (a retag, under Stacked Borrows), which would
/// invalidate the `Ring` view's pointers into it each time the `HeapMemory` moves (into an
/// `Arc`, say). Miri found that; this is the fix.
struct Part<T: ?Sized>(NonNull<T>);

impl<T: ?Sized> Part<T> {
    fn new(value: Box<T>) -> Part<T> {
        Part(NonNull::from(Box::leak(value)))
    }

    fn as_ptr(&self) -> *const T {
        self.0.as_ptr()
    }
}

impl<T> Part<[T]> {
    fn first(&self) -> *const T {
        self.0.as_ptr() as *const T
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: ?Sized> Drop for Part<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed only here.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// The shared words and slots of one in-process ring.
pub(crate) struct HeapMemory {
    control: Part<Control>,
    sequences: Part<[SequenceLine]>,
    consumers: Part<[ConsumerEntry]>,
    producers: Part<[ProducerEntry]>,
    abandoned: Part<AbandonedLog>,
    /// Empty in single-producer rings.
    flags: Part<[AtomicU64]>,
    slots: *mut u8,
    slots_layout: Layout,
    capacity: u64,
}

// SAFETY: every part is an allocation owned by this value (freed on drop), accessed by the
// handles through the claim/consume protocol (the slots) or atomically (everything else).
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
        let consumers = geometry.consumer_count;
        HeapMemory {
            control: Part::new(Box::new(Control::new())),
            sequences: Part::new((0..consumers).map(|_| SequenceLine::new(0)).collect()),
            consumers: Part::new((0..consumers).map(|_| ConsumerEntry::new()).collect()),
            producers: Part::new(
                (0..geometry.producer_count).map(|_| ProducerEntry::new()).collect(),
            ),
            abandoned: Part::new(Box::new(AbandonedLog::new())),
            flags: Part::new((0..flags).map(|_| AtomicU64::new(0)).collect()),
            slots,
            slots_layout,
            capacity: geometry.capacity,
        }
    }

    /// The view of these parts (valid while `self` lives).
    pub(crate) fn ring(&self, fence_fallback: bool) -> Ring {
        let parts = RingParts {
            control: self.control.as_ptr(),
            sequences: self.sequences.first(),
            consumers: self.consumers.first(),
            producers: self.producers.first(),
            abandoned: self.abandoned.as_ptr(),
            flags: if self.flags.len() == 0 { std::ptr::null() } else { self.flags.first() },
            slots: self.slots,
            capacity: self.capacity,
            consumer_count: self.sequences.len(),
            producer_count: self.producers.len(),
            fence_fallback,
        };
        // SAFETY: every part was allocated above with the counts `RingParts` asks for
        // (`capacity` slots of `slot_size` bytes), and lives as long as `self`, which moves
        // without retagging them (see `Part`); the caller keeps `self` alive while the returned
        // view is used (see `Core`).
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
