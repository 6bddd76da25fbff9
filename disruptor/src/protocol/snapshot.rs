//! Reads for the inspector: the abandoned-range log, and copies of the last published slots.
//! Nothing here writes to the ring or waits.

use std::ops::Range;

use super::layout::ABANDONED_ENTRIES;
use super::sync::{fence, Ordering};
use super::Core;

/// The number of ranges ever recorded as abandoned, and the last (at most
/// [`ABANDONED_ENTRIES`]) of them, in sequence order.
pub(crate) fn abandoned(core: &Core) -> (u64, Vec<Range<u64>>) {
    let log = core.ring.abandoned_log();
    // Acquire pairs with the AcqRel increment in `ownership::record_abandoned`.
    let total = log.count.load(Ordering::Acquire);
    let recorded = total.min(ABANDONED_ENTRIES as u64) as usize;
    let mut ranges: Vec<Range<u64>> = log.entries[..recorded]
        .iter()
        // Relaxed: published with the slots by the cursor's Release store.
        .map(|e| e[0].load(Ordering::Relaxed)..e[1].load(Ordering::Relaxed))
        .filter(|r| r.start < r.end)
        .collect();
    ranges.sort_by_key(|r| r.start);
    (total, ranges)
}

/// Copies of the last `last` published slots (at most the capacity, and at most the cursor),
/// oldest first: the cursor when the copy started, the copies (sequence, bytes), and how many
/// of the oldest were dropped because a producer may have claimed their slot for reuse while
/// they were copied.
///
/// Producers are not held back while the slots are copied: a slot that a producer may have
/// claimed for reuse during the copy is dropped (the seqlock check: the claim sequence is read
/// again after the copy). On x86-64 this check is exact; on weakly ordered CPUs a slot being
/// rewritten at that very moment may rarely be shown torn, as producers write slots after a
/// `Release` (not a fence) claim.
pub(crate) fn copy_published(core: &Core, last: usize) -> (u64, Vec<(u64, Vec<u8>)>, usize) {
    let ring = &core.ring;
    let slot_size = core.slot_size;
    // SYNC POINT. `load_cursor` (Acquire) pairs with the Release stores and CASes of the
    // cursor: the contents of every slot below it happen-before our copies.
    let cursor = ring.load_cursor();
    let wanted = u64::try_from(last).unwrap_or(u64::MAX).min(ring.capacity).min(cursor);
    let slots = ring.slot_bytes().cast_const();
    let mut copied = Vec::with_capacity(wanted as usize);
    for sequence in cursor - wanted..cursor {
        let index = ring.index(sequence);
        let mut bytes = vec![0u8; slot_size];
        for (offset, byte) in bytes.iter_mut().enumerate() {
            // `index < capacity` and `offset < slot_size`, so the byte lies inside the slot
            // region of `capacity * slot_size` bytes (validated against the mapping at open).
            // A producer may be rewriting the slot concurrently (the inspector does not hold
            // producers back), so the bytes are read with volatile loads into a private buffer,
            // only ever treated as bytes, and slots that may have been rewritten are dropped
            // below: the seqlock pattern of crossbeam's `AtomicCell`.
            // SAFETY: the byte is inside the slot region (see above).
            *byte = unsafe { slots.add(index * slot_size + offset).read_volatile() };
        }
        copied.push((sequence, bytes));
    }
    // SYNC POINT. The Acquire fence keeps the copies above before the load below: if that load
    // does not see a claim of `sequence + capacity`, no producer had claimed the slot for reuse
    // when it was copied.
    fence(Ordering::Acquire);
    // Relaxed: ordered by the fence above.
    let claim_sequence = ring.next().load(Ordering::Relaxed);
    let oldest_intact = claim_sequence.saturating_sub(ring.capacity);
    let before = copied.len();
    copied.retain(|(sequence, _)| *sequence >= oldest_intact);
    let overwritten = before - copied.len();
    (cursor, copied, overwritten)
}

/// What [`copy_from`] copied: the published slots `first..end`, and the sequences before
/// `first` (from the `from` asked for) that were lost: overwritten by producers before, or
/// while, they were copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Copied {
    pub(crate) first: u64,
    pub(crate) end: u64,
}

/// Appends to `out` the bytes of the published slots from sequence `from` on (at most `max`
/// of them), without a consumer index: producers are not held back, so the slots that were
/// reused before or during the copy are left out (the seqlock check of [`copy_published`]),
/// and `first` says where the intact copies start (`first - from` were lost). Nothing is
/// appended when nothing is published from `from` on (then `first == end`).
pub(crate) fn copy_from(core: &Core, from: u64, max: u64, out: &mut Vec<u8>) -> Copied {
    let ring = &core.ring;
    let slot_size = core.slot_size;
    // SYNC POINT. `load_cursor` (Acquire) pairs with the Release stores and CASes of the
    // cursor: the contents of every slot below it happen-before our copies.
    let cursor = ring.load_cursor();
    // What a ring of `capacity` slots can still hold of `[from, cursor)`.
    let start = from.max(cursor.saturating_sub(ring.capacity));
    let end = cursor.min(start.saturating_add(max.min(ring.capacity)));
    if end <= start {
        return Copied { first: start, end: start };
    }
    let slots = ring.slot_bytes().cast_const();
    let begin = out.len();
    out.reserve(((end - start) as usize).saturating_mul(slot_size));
    for sequence in start..end {
        let base = ring.index(sequence) * slot_size;
        for offset in 0..slot_size {
            // `index < capacity` and `offset < slot_size`: the byte lies inside the slot region
            // of `capacity * slot_size` bytes (validated against the mapping at open). A
            // producer may be rewriting the slot (nothing holds producers back), so the bytes
            // are read with volatile loads into a private buffer, only ever treated as bytes,
            // and the slots that may have been rewritten are dropped below.
            // SAFETY: the byte is inside the slot region (see above).
            out.push(unsafe { slots.add(base + offset).read_volatile() });
        }
    }
    // SYNC POINT. The Acquire fence keeps the copies above before the load below: if that load
    // does not see a claim of `sequence + capacity`, no producer had claimed the slot for reuse
    // when it was copied (as in `copy_published`).
    fence(Ordering::Acquire);
    // Relaxed: ordered by the fence above.
    let oldest_intact = ring.next().load(Ordering::Relaxed).saturating_sub(ring.capacity);
    let first = start.max(oldest_intact).min(end);
    out.drain(begin..begin + ((first - start) as usize) * slot_size);
    Copied { first, end }
}
