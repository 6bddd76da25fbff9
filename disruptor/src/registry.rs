//! Who is attached to a ring, whether they are alive, and what dead ones left behind.
//!
//! Every consumer index and every producer record is owned through its lock byte (see
//! `ownership`): a live owner holds the lock, and the kernel lets go of it when the owner's
//! process dies. The owner's process token (PID plus start time, see `liveness`) is recorded
//! beside it for display. From that, any process can:
//! - list the participants and tell live owners from dead ones ([`Disruptor::participants`]);
//! - evict dead consumers so producers stop waiting for them
//!   ([`Disruptor::evict_dead_consumers`]);
//! - find the claimed-but-unpublished range that blocks the cursor after a producer died
//!   ([`Disruptor::orphaned_claim`]), which a live producer then rewrites and commits, or
//!   commits as abandoned ([`crate::ClaimBatch::commit_abandoned`]); consumers can ask a batch
//!   which of its messages were abandoned ([`crate::Batch::abandoned`]).

use std::ops::Range;
use std::sync::atomic::Ordering;

use crate::gating::RELEASED;
use crate::liveness;
use crate::shm::{AbandonedLog, ProducerMode, Segment, ABANDONED_ENTRIES, MAX_PRODUCERS};
use crate::{Disruptor, Slot};

/// What became of a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParticipantState {
    /// A live handle holds it (in any process, any PID namespace).
    Alive,
    /// Its owner's process died holding it (killed, crashed).
    Dead,
    /// Nobody owns it now (detached cleanly, never attached, or, for a producer record, left
    /// pending with [`ClaimBatch::leave_pending`](crate::ClaimBatch::leave_pending)).
    Gone,
}

impl std::fmt::Display for ParticipantState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParticipantState::Alive => "alive",
            ParticipantState::Dead => "dead",
            ParticipantState::Gone => "gone",
        })
    }
}

/// A consumer index or producer registry entry, as recorded in the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Participant {
    /// A consumer index.
    Consumer {
        /// The index.
        index: usize,
        /// Its owner's PID, if an owner is recorded.
        pid: Option<u32>,
        /// Alive, dead or gone.
        state: ParticipantState,
        /// Its committed sequence (`u64::MAX` once released).
        sequence: u64,
        /// Whether it was released (producers ignore it).
        released: bool,
    },
    /// A producer registry record that has an owner, or describes a pending range.
    Producer {
        /// The registry record.
        entry: usize,
        /// Its owner's PID (a dead owner's too); `None` once it was let go (a range left in it
        /// with `leave_pending` is recoverable by anyone).
        pid: Option<u32>,
        /// Alive (held by a live handle), dead (its owner died holding it) or gone.
        state: ParticipantState,
        /// The range it describes that is not yet published, if any.
        pending: Option<Range<u64>>,
    },
}

/// The state of a record whose lock byte is `lock` and whose owner word holds `token`.
fn state_of(segment: &Segment, lock: u64, token: u64) -> ParticipantState {
    if segment.locks().is_held(lock) {
        ParticipantState::Alive
    } else if token == 0 {
        ParticipantState::Gone
    } else {
        ParticipantState::Dead
    }
}

/// The participants of any segment (typed or not).
pub(crate) fn participants(segment: &Segment) -> Vec<Participant> {
    let cursor = segment.control().cursor.value.load(Ordering::Acquire);
    let next = segment.control().next.value.load(Ordering::Acquire);
    let mut out = Vec::new();
    for index in 0..segment.geometry().consumer_count {
        // Acquire: pairs with the owner's Release store of its token in `Consumer::attach`.
        let token = segment.consumer_entry(index).owner.load(Ordering::Acquire);
        let sequence = segment.consumer_sequence(index).load(Ordering::Acquire);
        out.push(Participant::Consumer {
            index,
            pid: (token != 0).then(|| liveness::pid_of(token)),
            state: state_of(segment, segment.consumer_lock(index), token),
            sequence,
            released: sequence == RELEASED,
        });
    }
    for entry in 0..MAX_PRODUCERS {
        let e = segment.producer_entry(entry);
        let token = e.owner.load(Ordering::Acquire);
        let (start, end) =
            (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
        let pending = if segment.mode() == ProducerMode::Single {
            // No per-claim record: the single producer's claim in flight is [cursor, next).
            (entry == 0 && cursor < next).then_some(cursor..next)
        } else {
            // Only claimed sequences: a record of a producer killed before its CAS describes
            // sequences at or after the claim sequence that it never took.
            let (from, to) = (start.max(cursor), end.min(next));
            (from < to).then_some(from..to)
        };
        if token == 0 && pending.is_none() {
            continue;
        }
        let state = state_of(segment, segment.producer_lock(entry), token);
        out.push(Participant::Producer {
            entry,
            pid: (token != 0).then(|| liveness::pid_of(token)),
            state,
            pending,
        });
    }
    out
}

/// Whether multi-producer sequence `seq` (at or after the cursor, within one lap of it) is
/// committed: its flag holds `seq + 1` (stale flags of earlier laps never match).
fn committed(segment: &Segment, seq: u64) -> bool {
    let flags = segment.flags();
    if flags.is_null() {
        return false;
    }
    let capacity = segment.geometry().capacity;
    // SAFETY: `seq % capacity < capacity`, and a multi-producer segment holds `capacity` flags
    // at `flags` (validated geometry).
    let flag = unsafe { &*flags.add((seq % capacity) as usize) };
    // Acquire pairs with the committer's Release store of the flag.
    flag.load(Ordering::Acquire) == seq.wrapping_add(1)
}

/// Whether every sequence of `range` is still pending: at or after the cursor, below the claim
/// sequence, and (multi-producer rings) not committed.
pub(crate) fn is_pending(segment: &Segment, range: &Range<u64>) -> bool {
    let control = segment.control();
    // Acquire: pairs with the Release stores (and CASes) of the cursor.
    let cursor = control.cursor.value.load(Ordering::Acquire);
    // Acquire: pairs with the Release CAS of a multi-producer claim.
    let next = control.next.value.load(Ordering::Acquire);
    range.start < range.end
        && range.start >= cursor
        && range.end <= next
        && range.end - range.start <= segment.geometry().capacity
        && !range.clone().any(|seq| committed(segment, seq))
}

/// Whether every sequence of producer record `entry`'s range is committed (or the record is
/// empty), so that the record describes nothing pending.
fn record_done(segment: &Segment, entry: usize) -> bool {
    let e = segment.producer_entry(entry);
    let (start, end) = (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
    // Acquire: as any cursor load.
    let cursor = segment.control().cursor.value.load(Ordering::Acquire);
    if start >= end || end <= cursor {
        return true;
    }
    let next = segment.control().next.value.load(Ordering::Acquire);
    let capacity = segment.geometry().capacity;
    end <= next
        && end - start.max(cursor) <= capacity
        && (start.max(cursor)..end).all(|seq| committed(segment, seq))
}

/// The range at the cursor that was claimed but that no live producer is about to commit: the
/// claim of a dead producer (or one given up with `leave_pending`). `None` when the cursor is not
/// blocked by such a range.
pub(crate) fn orphaned_claim(segment: &Segment) -> Option<Range<u64>> {
    let control = segment.control();
    let cursor = control.cursor.value.load(Ordering::Acquire);
    // Acquire pairs with the Release CAS of a multi-producer claim in
    // `Producer::try_claim_range_slow`: the registry records of every claim below `next` are
    // visible to the loads below. (Single-producer mode keeps no per-claim records.)
    let next = control.next.value.load(Ordering::Acquire);
    if cursor >= next {
        return None;
    }
    if segment.mode() == ProducerMode::Single {
        // The single producer's claim in flight is [cursor, next): orphaned once nobody holds
        // the producer's record.
        let held = segment.locks().is_held(segment.producer_lock(0));
        return (!held).then_some(cursor..next);
    }
    // The live claims in [cursor, next): the orphaned range runs from the cursor to the first.
    let mut orphan_end = next;
    for i in 0..MAX_PRODUCERS {
        let e = segment.producer_entry(i);
        let (start, end) =
            (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
        if start < end && end > cursor && segment.locks().is_held(segment.producer_lock(i)) {
            if start <= cursor {
                return None; // A live producer holds the range at the cursor.
            }
            orphan_end = orphan_end.min(start);
        }
    }
    // Sequences after the cursor that live producers already committed (multi-producer commits
    // do not wait for earlier claims) are not orphaned: the orphan ends at the first of them.
    let capacity = segment.geometry().capacity;
    let mut seq = cursor;
    while seq < orphan_end && seq < cursor.saturating_add(capacity) && !committed(segment, seq) {
        seq += 1;
    }
    (cursor < seq).then_some(cursor..seq)
}

/// Producer records taken over for a recovery (see [`adopt`]); let go with
/// [`release_adopted`].
pub(crate) type Adopted = Vec<usize>;

/// Takes `range` over for a recovery, multi-producer rings: the records describing it are
/// taken over ([`adopt`]) between two checks that it is pending, and none of its sequences may
/// have been given back meanwhile. Without that last check, a stale record (left by a producer
/// killed between its record stores and its CAS, or between a rollback and clearing its
/// record) could stand for a range that was given back and claimed again by a live producer,
/// whose record the recoverer read while it was empty.
pub(crate) fn take_over(segment: &Segment, range: &Range<u64>, token: u64) -> Option<Adopted> {
    let given_back = &segment.control().next.given_back;
    // SeqCst: pairs with the SeqCst bump after a rollback in `Producer::abandon` (see there).
    let before = given_back.load(Ordering::SeqCst);
    if !is_pending(segment, range) {
        return None;
    }
    let adopted = adopt(segment, range, token)?;
    // Re-checked with the records held: a holder may have committed it before letting go of it.
    // SeqCst: as above; a rollback whose cleared record `adopt` saw is counted here (the clear
    // is a Release store after the bump, and `adopt` loads records with Acquire).
    if !is_pending(segment, range) || given_back.load(Ordering::SeqCst) != before {
        release_adopted(segment, &adopted, false);
        return None;
    }
    Some(adopted)
}

/// Takes over, for a recovery of `range`, every producer record that describes part of it:
/// each record's lock is taken atomically (`F_OFD_SETLK`), which fails while a live handle
/// holds it, so a range that a live claim holds is never recovered, and two recoverers never
/// both get one. The owner word then moves to `token` with a CAS, and the records taken must
/// describe the whole range. `None` (every lock taken let go again) when any of that fails.
pub(crate) fn adopt(segment: &Segment, range: &Range<u64>, token: u64) -> Option<Adopted> {
    let overlaps = |entry: usize| {
        let e = segment.producer_entry(entry);
        // Acquire: pairs with the Release store that empties a record (`finish_claim`), so
        // that a rollback before it is seen by `take_over`'s second count.
        let (start, end) =
            (e.claim_start.load(Ordering::Acquire), e.claim_end.load(Ordering::Relaxed));
        (start < end && start < range.end && end > range.start).then_some(start..end)
    };
    let mut adopted = Vec::new();
    let mut covered: Vec<Range<u64>> = Vec::new();
    for entry in 0..MAX_PRODUCERS {
        if overlaps(entry).is_none() {
            continue;
        }
        let lock = segment.producer_lock(entry);
        if !segment.locks().try_lock(lock).unwrap_or(false) {
            release_adopted(segment, &adopted, false);
            return None; // held by a live handle: its range is not orphaned
        }
        // Only the holder of a record's lock writes its range, so it is stable now.
        let Some(recorded) = overlaps(entry) else {
            segment.locks().unlock(lock);
            continue;
        };
        let owner = &segment.producer_entry(entry).owner;
        // Acquire: pairs with the Release store of the previous holder's token (or of 0).
        let previous = owner.load(Ordering::Acquire);
        // AcqRel: the takeover of the record is one atomic step on its owner word too.
        if owner.compare_exchange(previous, token, Ordering::AcqRel, Ordering::Acquire).is_err() {
            segment.locks().unlock(lock);
            release_adopted(segment, &adopted, false);
            return None;
        }
        adopted.push(entry);
        covered.push(recorded);
    }
    // Every sequence of the range must be described by a record taken (claims write their
    // record before they take their range, so a range nobody describes is never pending).
    covered.sort_by_key(|r| r.start);
    let mut reach = range.start;
    for r in &covered {
        if r.start <= reach {
            reach = reach.max(r.end);
        }
    }
    if reach < range.end {
        release_adopted(segment, &adopted, false);
        return None;
    }
    Some(adopted)
}

/// Lets go of records taken with [`adopt`]: each keeps its range (whatever of it is still
/// pending stays recoverable) unless `clear_done` and every sequence it describes is committed.
pub(crate) fn release_adopted(segment: &Segment, adopted: &[usize], clear_done: bool) {
    for &entry in adopted {
        let e = segment.producer_entry(entry);
        if clear_done && record_done(segment, entry) {
            let end = e.claim_end.load(Ordering::Relaxed);
            e.claim_start.store(end, Ordering::Relaxed);
        }
        // Release: the record's range is written before it is let go (the next holder's
        // Acquire load of the owner word pairs with it).
        e.owner.store(0, Ordering::Release);
        segment.locks().unlock(segment.producer_lock(entry));
    }
}

/// Takes a free producer record for a new multi-producer handle (or a handle whose record was
/// given up): one whose lock nobody holds and that describes nothing pending. Returns its index.
pub(crate) fn take_free_record(segment: &Segment, token: u64) -> Option<usize> {
    (0..MAX_PRODUCERS).find(|&entry| {
        let lock = segment.producer_lock(entry);
        if !segment.locks().try_lock(lock).unwrap_or(false) {
            return false;
        }
        if !record_done(segment, entry) {
            segment.locks().unlock(lock);
            return false;
        }
        let e = segment.producer_entry(entry);
        let end = e.claim_end.load(Ordering::Relaxed);
        e.claim_start.store(end, Ordering::Relaxed);
        // Release: pairs with the Acquire loads of the owner word by inspectors.
        e.owner.store(token, Ordering::Release);
        true
    })
}

/// The consumers whose owner died holding them: (index, the dead owner's token).
pub(crate) fn dead_consumers(segment: &Segment) -> Vec<(usize, u64)> {
    (0..segment.geometry().consumer_count)
        .filter_map(|index| {
            // Acquire: pairs with the owner's Release store of its token.
            let token = segment.consumer_entry(index).owner.load(Ordering::Acquire);
            let dead = token != 0
                && segment.consumer_sequence(index).load(Ordering::Acquire) != RELEASED
                && !segment.locks().is_held(segment.consumer_lock(index));
            dead.then_some((index, token))
        })
        .collect()
}

/// Marks every dead-owned consumer as released. Returns the indices evicted.
pub(crate) fn evict_dead_consumers(segment: &Segment) -> Vec<usize> {
    evict_consumers(segment, |_, _| true)
}

/// Marks as released every consumer whose owner died holding it and for which `pick(index,
/// token)` says so. Returns the indices evicted.
pub(crate) fn evict_consumers(
    segment: &Segment,
    mut pick: impl FnMut(usize, u64) -> bool,
) -> Vec<usize> {
    let mut evicted = Vec::new();
    for index in 0..segment.geometry().consumer_count {
        let owner = &segment.consumer_entry(index).owner;
        let token = owner.load(Ordering::Acquire);
        let lock = segment.consumer_lock(index);
        if token == 0 || segment.locks().is_held(lock) || !pick(index, token) {
            continue;
        }
        // Take the index from the dead owner (its lock is free), so that a restarting owner
        // racing with us either takes it first (and we skip it) or finds it released after.
        if !segment.locks().try_lock(lock).unwrap_or(false) {
            continue;
        }
        if owner
            .compare_exchange(token, liveness::own_token(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Release: pairs with the Acquire loads of consumer sequences by producers.
            segment.consumer_sequence(index).store(RELEASED, Ordering::Release);
            owner.store(0, Ordering::Release);
            evicted.push(index);
        }
        segment.locks().unlock(lock);
    }
    if !evicted.is_empty() {
        gating_changed(segment);
    }
    evicted
}

/// After a consumer's sequence was set to `RELEASED`: bumps the gating epoch, so that every
/// producer re-reads the live graph before its next claim, and wakes whoever waits for room or
/// data (a stage that followed the released one may now read further).
pub(crate) fn gating_changed(segment: &Segment) {
    let control = segment.control();
    // SeqCst: the bump is globally visible before `release()` returns, so a claim that starts
    // afterwards sees it (its Relaxed load in the claim fast path, then an Acquire load in the
    // slow path, which pairs with this store and makes the `RELEASED` store before it visible).
    control.gating_epoch.value.fetch_add(1, Ordering::SeqCst);
    let fence_fallback = segment.fence_fallback();
    crate::wait::notify_with(&control.room_wake, fence_fallback);
    crate::wait::notify_with(&control.data_wake, fence_fallback);
}

/// Records `range` as abandoned (published without valid contents).
pub(crate) fn record_abandoned(log: &AbandonedLog, range: Range<u64>) {
    let slot = log.count.fetch_add(1, Ordering::AcqRel) as usize % ABANDONED_ENTRIES;
    // Relaxed stores, then the cursor's Release store publishes them together with the slots.
    log.entries[slot][0].store(range.start, Ordering::Relaxed);
    log.entries[slot][1].store(range.end, Ordering::Relaxed);
}

/// The parts of `range` recorded as abandoned (among the last [`ABANDONED_ENTRIES`] records).
pub(crate) fn abandoned_within(log: &AbandonedLog, range: Range<u64>) -> Vec<Range<u64>> {
    let recorded = (log.count.load(Ordering::Acquire) as usize).min(ABANDONED_ENTRIES);
    let mut out: Vec<Range<u64>> = log.entries[..recorded]
        .iter()
        .map(|e| {
            e[0].load(Ordering::Relaxed).max(range.start)
                ..e[1].load(Ordering::Relaxed).min(range.end)
        })
        .filter(|r| r.start < r.end)
        .collect();
    out.sort_by_key(|r| r.start);
    out.dedup();
    out
}

impl<T: Slot> Disruptor<T> {
    /// Every consumer index and every producer that has an owner, with its state
    /// (alive, dead, or gone), sequence and pending claim.
    pub fn participants(&self) -> Vec<Participant> {
        participants(self.segment())
    }

    /// Releases every consumer whose owner died without detaching, so producers stop waiting
    /// for it (it is ignored from then on, like [`Consumer::release`](crate::Consumer::release)).
    /// Returns the evicted indices. A consumer that detached cleanly is not evicted: its next
    /// owner resumes from its sequence.
    pub fn evict_dead_consumers(&self) -> Vec<usize> {
        evict_dead_consumers(self.segment())
    }

    /// The claimed-but-unpublished range that blocks the cursor and that no live producer is
    /// going to commit (its producer died, or left it pending), if there is one. Recover it with
    /// [`Producer::recover_orphaned`](crate::Producer::recover_orphaned).
    pub fn orphaned_claim(&self) -> Option<Range<u64>> {
        orphaned_claim(self.segment())
    }
}
