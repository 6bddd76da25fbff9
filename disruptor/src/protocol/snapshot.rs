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
