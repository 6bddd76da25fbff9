//! Who holds a registry record, decided by the kernel (one open-file-description lock per
//! record), and everything done with records: taking one, recovering what dead or departed
//! owners left, evicting dead consumers.
//!
//! Every registry record (a consumer index, a producer handle's record of its claim, the single
//! producer's slot) has a *lock byte*: the file offset of the record itself. A handle that owns
//! a record holds an exclusive `F_OFD_SETLK` lock on that byte for as long as it lives; the
//! kernel releases it when the handle lets go or when its process dies, however it dies. So
//! "is the owner alive?" is answered by `F_OFD_GETLK`, which works whatever the PID namespace,
//! `/proc` mount options (`hidepid`) or user of the owner: no PID is interpreted. The process
//! token (PID and start time) stored in each record is kept for display only.
//!
//! Taking a record is atomic: `F_OFD_SETLK` either grants the lock or fails because another
//! open file description holds it, so two processes (or two mappings in one process) can never
//! both take a record. Open-file-description locks of one description never conflict with each
//! other, so the handles of one mapping (they share its description) are arbitrated by
//! [`Locks`]'s own table of the bytes they hold; [`Locks::is_held`] consults both.
//!
//! An `fork`ed child shares its parent's open file descriptions, and so its locks: a child
//! that outlives its parent (without `exec`, which closes the segment's descriptor) keeps the
//! parent's records alive.

use std::collections::HashSet;
#[cfg(not(loom))]
use std::fs::File;
use std::io;
use std::ops::Range;
#[cfg(not(loom))]
use std::os::fd::AsRawFd;

use super::gating::RELEASED;
use super::layout::{ProducerMode, ABANDONED_ENTRIES};
use super::sync::{lock, Mutex, MutexGuard, Ordering};
use super::Core;
use crate::liveness;

/// The locks this mapping's handles hold, on the mapping's open file description.
#[derive(Debug)]
pub(crate) struct Locks {
    /// The segment's file: its open file description carries every lock of this mapping. None
    /// for an in-process ring (and under loom), whose handles are all in this process.
    #[cfg(not(loom))]
    file: Option<File>,
    /// The lock bytes that handles of this mapping hold (the kernel cannot tell them apart).
    held: Mutex<HashSet<u64>>,
}

/// A lock of `kind` on the one byte at `offset`.
#[cfg(not(loom))]
fn byte_lock(kind: libc::c_int, offset: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct, for which all-zero bytes are a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = offset as libc::off_t;
    lock.l_len = 1;
    lock
}

/// Whether `fcntl` can take a lock: `Ok(false)` when another description holds it.
#[cfg(not(loom))]
fn set_lock(file: &File, offset: u64, kind: libc::c_int) -> io::Result<bool> {
    let lock = byte_lock(kind, offset);
    // SAFETY: `file` is an open descriptor and `lock` a valid `flock` that outlives the call;
    // F_OFD_SETLK only reads it.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(error),
    }
}

impl Locks {
    /// The locks of a mapping of `file`.
    #[cfg(not(loom))]
    pub(crate) fn new(file: File) -> Locks {
        Locks { file: Some(file), held: Mutex::new(HashSet::new()) }
    }

    /// The locks of an in-process ring (or a model): only this process's handles take them.
    pub(crate) fn in_process() -> Locks {
        Locks {
            #[cfg(not(loom))]
            file: None,
            held: Mutex::new(HashSet::new()),
        }
    }

    fn held(&self) -> MutexGuard<'_, HashSet<u64>> {
        // Every update of the table is one insertion or removal.
        lock(&self.held)
    }

    /// Takes the lock byte `offset` for a handle of this mapping: `Ok(true)` if it was free
    /// (its previous owner let go or died), `Ok(false)` if a live handle (of this mapping or
    /// any other) holds it.
    pub(crate) fn try_lock(&self, offset: u64) -> io::Result<bool> {
        let mut held = self.held();
        if held.contains(&offset) {
            return Ok(false);
        }
        #[cfg(not(loom))]
        if let Some(file) = &self.file {
            if !set_lock(file, offset, libc::F_WRLCK)? {
                return Ok(false);
            }
        }
        held.insert(offset);
        Ok(true)
    }

    /// Lets go of the lock byte `offset` (taken with [`try_lock`](Self::try_lock)).
    pub(crate) fn unlock(&self, offset: u64) {
        let mut held = self.held();
        if held.remove(&offset) {
            // Unlocking a byte this description holds cannot fail but for a closed descriptor.
            #[cfg(not(loom))]
            if let Some(file) = &self.file {
                let _ = set_lock(file, offset, libc::F_UNLCK);
            }
        }
    }

    /// Whether a live handle, of this mapping or of any other in any process, holds the lock
    /// byte `offset`.
    pub(crate) fn is_held(&self, offset: u64) -> bool {
        self.held().contains(&offset) || self.held_elsewhere(offset)
    }

    /// Whether another open file description (another process, or another mapping of this one)
    /// holds the lock byte `offset`.
    #[cfg(not(loom))]
    fn held_elsewhere(&self, offset: u64) -> bool {
        let Some(file) = &self.file else { return false };
        let mut lock = byte_lock(libc::F_WRLCK, offset);
        // SAFETY: `file` is open and `lock` is a valid `flock`, which F_OFD_GETLK overwrites
        // with the first conflicting lock, or sets to F_UNLCK.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
        // An error (no OFD locks: Linux before 3.15, where `open` already failed) is "held":
        // never take over a record whose owner may be alive.
        result != 0 || lock.l_type != libc::F_UNLCK as libc::c_short
    }

    /// Under loom every handle is in this "process": nothing is held elsewhere.
    #[cfg(loom)]
    fn held_elsewhere(&self, _offset: u64) -> bool {
        false
    }

    /// Checks that this kernel has open-file-description locks (Linux 3.15 and later).
    #[cfg(not(loom))]
    pub(crate) fn check_supported(&self) -> io::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let mut lock = byte_lock(libc::F_WRLCK, 0);
        // SAFETY: as in `held_elsewhere`.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// What became of a participant.
///
/// ```
/// use shm_disruptor::{Disruptor, Participant, ParticipantState};
///
/// let ring = Disruptor::<u64>::builder("states").capacity(8).consumers(1).create_in_process()?;
/// let state_of_consumer_0 = |ring: &Disruptor<u64>| match ring.participants()[0] {
///     Participant::Consumer { state, .. } => state,
///     Participant::Producer { .. } => unreachable!("consumers are listed first"),
/// };
/// assert_eq!(state_of_consumer_0(&ring), ParticipantState::Gone); // never attached
/// let consumer = ring.consumer(0)?;
/// assert_eq!(state_of_consumer_0(&ring), ParticipantState::Alive);
/// drop(consumer);
/// assert_eq!(state_of_consumer_0(&ring), ParticipantState::Gone); // detached cleanly
/// // `Dead` needs a process that dies holding it: see `DeadPeerPolicy`.
/// assert_eq!(ParticipantState::Dead.to_string(), "dead");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
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
///
/// [`Disruptor::participants`](crate::Disruptor::participants) lists every consumer index,
/// then every producer record that has an owner or describes a pending range.
///
/// ```
/// use shm_disruptor::{Disruptor, Participant, ParticipantState};
///
/// let ring = Disruptor::<u64>::builder("who").capacity(8).consumers(2).create_in_process()?;
/// let _consumer = ring.consumer(0)?;
/// let mut producer = ring.producer()?;
/// let pending = producer.claim_many(2)?.leave_pending(); // a claim nobody holds
///
/// for participant in ring.participants() {
///     match participant {
///         Participant::Consumer { index, pid, state, sequence, released } => {
///             println!("consumer {index}: {state}, owner {pid:?}, at {sequence}");
///             assert!(!released, "producers ignore a released consumer");
///         }
///         Participant::Producer { entry, pid, state, pending } => {
///             println!("producer record {entry}: {state}, owner {pid:?}, pending {pending:?}");
///         }
///     }
/// }
///
/// let me = Some(std::process::id());
/// let participants = ring.participants();
/// assert!(participants.contains(&Participant::Consumer {
///     index: 0,
///     pid: me,
///     state: ParticipantState::Alive,
///     sequence: 0,
///     released: false,
/// }));
/// // The range left pending is in a record that nobody owns: any producer may recover it.
/// assert!(participants.iter().any(|p| matches!(
///     p,
///     Participant::Producer { pid: None, state: ParticipantState::Gone, pending: Some(range), .. }
///         if *range == pending
/// )));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
fn state_of(core: &Core, lock: u64, token: u64) -> ParticipantState {
    if core.locks.is_held(lock) {
        ParticipantState::Alive
    } else if token == 0 {
        ParticipantState::Gone
    } else {
        ParticipantState::Dead
    }
}

/// The participants of any segment (typed or not).
pub(crate) fn participants(core: &Core) -> Vec<Participant> {
    let cursor = core.ring.load_cursor();
    let next = core.ring.load_claim_sequence();
    let mut out = Vec::new();
    for index in 0..core.ring.consumer_count {
        // Acquire: pairs with the owner's Release store of its token in `attach_consumer`.
        let token = core.ring.consumer_entry(index).owner.load(Ordering::Acquire);
        let sequence = core.ring.consumer_sequence(index).load(Ordering::Acquire);
        out.push(Participant::Consumer {
            index,
            pid: (token != 0).then(|| liveness::pid_of(token)),
            state: state_of(core, core.consumer_lock(index), token),
            sequence,
            released: sequence == RELEASED,
        });
    }
    for entry in 0..core.ring.producer_count {
        let e = core.ring.producer_entry(entry);
        let token = e.owner.load(Ordering::Acquire);
        let (start, end) =
            (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
        let pending = if core.mode == ProducerMode::Single {
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
        let state = state_of(core, core.producer_lock(entry), token);
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
fn committed(core: &Core, seq: u64) -> bool {
    // Acquire pairs with the committer's Release store of the flag.
    core.ring.has_flags() && core.ring.flag(seq).load(Ordering::Acquire) == seq.wrapping_add(1)
}

/// Whether every sequence of `range` is still pending: at or after the cursor, below the claim
/// sequence, and (multi-producer rings) not committed.
pub(crate) fn is_pending(core: &Core, range: &Range<u64>) -> bool {
    let cursor = core.ring.load_cursor();
    let next = core.ring.load_claim_sequence();
    range.start < range.end
        && range.start >= cursor
        && range.end <= next
        && range.end - range.start <= core.ring.capacity
        && !range.clone().any(|seq| committed(core, seq))
}

/// Whether every sequence of producer record `entry`'s range is committed (or the record is
/// empty), so that the record describes nothing pending.
fn record_done(core: &Core, entry: usize) -> bool {
    let e = core.ring.producer_entry(entry);
    let (start, end) = (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
    let cursor = core.ring.load_cursor();
    if start >= end || end <= cursor {
        return true;
    }
    let next = core.ring.load_claim_sequence();
    let capacity = core.ring.capacity;
    end <= next
        && end - start.max(cursor) <= capacity
        && (start.max(cursor)..end).all(|seq| committed(core, seq))
}

/// The range at the cursor that was claimed but that no live producer is about to commit: the
/// claim of a dead producer (or one given up with `leave_pending`). `None` when the cursor is not
/// blocked by such a range.
pub(crate) fn orphaned_claim(core: &Core) -> Option<Range<u64>> {
    let cursor = core.ring.load_cursor();
    // Acquire (`load_claim_sequence`) pairs with the Release CAS of a multi-producer claim in
    // `ProducerState::claim_multi`: the registry records of every claim below `next` are
    // visible to the loads below. (Single-producer mode keeps no per-claim records.)
    let next = core.ring.load_claim_sequence();
    if cursor >= next {
        return None;
    }
    if core.mode == ProducerMode::Single {
        // The single producer's claim in flight is [cursor, next): orphaned once nobody holds
        // the producer's record.
        let held = core.locks.is_held(core.producer_lock(0));
        return (!held).then_some(cursor..next);
    }
    // The live claims in [cursor, next): the orphaned range runs from the cursor to the first.
    let mut orphan_end = next;
    for i in 0..core.ring.producer_count {
        let e = core.ring.producer_entry(i);
        let (start, end) =
            (e.claim_start.load(Ordering::Relaxed), e.claim_end.load(Ordering::Relaxed));
        if start < end && end > cursor && core.locks.is_held(core.producer_lock(i)) {
            if start <= cursor {
                return None; // A live producer holds the range at the cursor.
            }
            orphan_end = orphan_end.min(start);
        }
    }
    // Sequences after the cursor that live producers already committed (multi-producer commits
    // do not wait for earlier claims) are not orphaned: the orphan ends at the first of them.
    let capacity = core.ring.capacity;
    let mut seq = cursor;
    while seq < orphan_end && seq < cursor.saturating_add(capacity) && !committed(core, seq) {
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
pub(crate) fn take_over(core: &Core, range: &Range<u64>, token: u64) -> Option<Adopted> {
    let given_back = &core.ring.control().next.given_back;
    // SeqCst: pairs with the SeqCst bump after a rollback in `ProducerState::roll_back`.
    let before = given_back.load(Ordering::SeqCst);
    if !is_pending(core, range) {
        return None;
    }
    let adopted = adopt(core, range, token)?;
    // Re-checked with the records held: a holder may have committed it before letting go of it.
    // SeqCst: as above; a rollback whose cleared record `adopt` saw is counted here (the clear
    // is a Release store after the bump, and `adopt` loads records with Acquire).
    if !is_pending(core, range) || given_back.load(Ordering::SeqCst) != before {
        release_adopted(core, &adopted, false);
        return None;
    }
    Some(adopted)
}

/// Takes over, for a recovery of `range`, every producer record that describes part of it:
/// each record's lock is taken atomically (`F_OFD_SETLK`), which fails while a live handle
/// holds it, so a range that a live claim holds is never recovered, and two recoverers never
/// both get one. The owner word then moves to `token` with a CAS, and the records taken must
/// describe the whole range. `None` (every lock taken let go again) when any of that fails.
pub(crate) fn adopt(core: &Core, range: &Range<u64>, token: u64) -> Option<Adopted> {
    let overlaps = |entry: usize| {
        let e = core.ring.producer_entry(entry);
        // Acquire: pairs with the Release store that empties a record (`finish_claim`), so
        // that a rollback before it is seen by `take_over`'s second count.
        let (start, end) =
            (e.claim_start.load(Ordering::Acquire), e.claim_end.load(Ordering::Relaxed));
        (start < end && start < range.end && end > range.start).then_some(start..end)
    };
    let mut adopted = Vec::new();
    let mut covered: Vec<Range<u64>> = Vec::new();
    for entry in 0..core.ring.producer_count {
        if overlaps(entry).is_none() {
            continue;
        }
        let lock = core.producer_lock(entry);
        if !core.locks.try_lock(lock).unwrap_or(false) {
            release_adopted(core, &adopted, false);
            return None; // held by a live handle: its range is not orphaned
        }
        // Only the holder of a record's lock writes its range, so it is stable now.
        let Some(recorded) = overlaps(entry) else {
            core.locks.unlock(lock);
            continue;
        };
        let owner = &core.ring.producer_entry(entry).owner;
        // Acquire: pairs with the Release store of the previous holder's token (or of 0).
        let previous = owner.load(Ordering::Acquire);
        // AcqRel: the takeover of the record is one atomic step on its owner word too.
        if owner.compare_exchange(previous, token, Ordering::AcqRel, Ordering::Acquire).is_err() {
            core.locks.unlock(lock);
            release_adopted(core, &adopted, false);
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
        release_adopted(core, &adopted, false);
        return None;
    }
    Some(adopted)
}

/// Lets go of records taken with [`adopt`]: each keeps its range (whatever of it is still
/// pending stays recoverable) unless `clear_done` and every sequence it describes is committed.
pub(crate) fn release_adopted(core: &Core, adopted: &[usize], clear_done: bool) {
    for &entry in adopted {
        release_record(core, entry, clear_done && record_done(core, entry));
    }
}

/// Takes a free producer record for a new multi-producer handle (or a handle whose record was
/// given up): one whose lock nobody holds and that describes nothing pending. Returns its index.
pub(crate) fn take_free_record(core: &Core, token: u64) -> Option<usize> {
    (0..core.ring.producer_count).find(|&entry| {
        let lock = core.producer_lock(entry);
        if !core.locks.try_lock(lock).unwrap_or(false) {
            return false;
        }
        if !record_done(core, entry) {
            core.locks.unlock(lock);
            return false;
        }
        empty_record(core, entry);
        // Release: pairs with the Acquire loads of the owner word by inspectors.
        core.ring.producer_entry(entry).owner.store(token, Ordering::Release);
        true
    })
}

/// The consumers whose owner died holding them: (index, the dead owner's token).
pub(crate) fn dead_consumers(core: &Core) -> Vec<(usize, u64)> {
    (0..core.ring.consumer_count)
        .filter_map(|index| {
            // Acquire: pairs with the owner's Release store of its token.
            let token = core.ring.consumer_entry(index).owner.load(Ordering::Acquire);
            let dead = token != 0
                && core.ring.consumer_sequence(index).load(Ordering::Acquire) != RELEASED
                && !core.locks.is_held(core.consumer_lock(index));
            dead.then_some((index, token))
        })
        .collect()
}

/// Marks every dead-owned consumer as released. Returns the indices evicted.
pub(crate) fn evict_dead_consumers(core: &Core) -> Vec<usize> {
    evict_consumers(core, |_, _| true)
}

/// Marks as released every consumer whose owner died holding it and for which `pick(index,
/// token)` says so. Returns the indices evicted.
pub(crate) fn evict_consumers(core: &Core, mut pick: impl FnMut(usize, u64) -> bool) -> Vec<usize> {
    let mut evicted = Vec::new();
    for index in 0..core.ring.consumer_count {
        let owner = &core.ring.consumer_entry(index).owner;
        let token = owner.load(Ordering::Acquire);
        let lock = core.consumer_lock(index);
        if token == 0 || core.locks.is_held(lock) || !pick(index, token) {
            continue;
        }
        // Take the index from the dead owner (its lock is free), so that a restarting owner
        // racing with us either takes it first (and we skip it) or finds it released after.
        if !core.locks.try_lock(lock).unwrap_or(false) {
            continue;
        }
        if owner
            .compare_exchange(token, liveness::own_token(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Release: pairs with the Acquire loads of consumer sequences by producers.
            core.ring.consumer_sequence(index).store(RELEASED, Ordering::Release);
            owner.store(0, Ordering::Release);
            evicted.push(index);
        }
        core.locks.unlock(lock);
    }
    if !evicted.is_empty() {
        gating_changed(core);
    }
    evicted
}

/// After a consumer's sequence was set to `RELEASED`: bumps the gating epoch, so that every
/// producer re-reads the live graph before its next claim, and wakes whoever waits for room or
/// data (a stage that followed the released one may now read further).
pub(crate) fn gating_changed(core: &Core) {
    let control = core.ring.control();
    // SeqCst: the bump is globally visible before `release()` returns, so a claim that starts
    // afterwards sees it (its Relaxed load in the claim fast path, then an Acquire load in the
    // slow path, which pairs with this store and makes the `RELEASED` store before it visible).
    control.next.gating_epoch.fetch_add(1, Ordering::SeqCst);
    core.ring.notify_room();
    core.ring.notify_data();
}

/// Records `range` as abandoned (published without valid contents).
pub(crate) fn record_abandoned(log: &super::layout::AbandonedLog, range: Range<u64>) {
    let slot = log.count.fetch_add(1, Ordering::AcqRel) as usize % ABANDONED_ENTRIES;
    // Relaxed stores, then the cursor's Release store publishes them together with the slots.
    log.entries[slot][0].store(range.start, Ordering::Relaxed);
    log.entries[slot][1].store(range.end, Ordering::Relaxed);
}

/// The parts of `range` recorded as abandoned (among the last [`ABANDONED_ENTRIES`] records).
pub(crate) fn abandoned_within(
    log: &super::layout::AbandonedLog,
    range: Range<u64>,
) -> Vec<Range<u64>> {
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

/// Takes the single producer's lock (record 0) for a new handle; `Err(pid)` of the live
/// holder. A token left behind means the previous producer died holding the lock (a clean
/// drop clears it): its unpublished claim, `[cursor, next)`, is discarded by rolling `next`
/// back to the cursor. Claims it left pending before a clean drop stay pending for the new
/// producer to recover.
pub(crate) fn attach_single_producer(core: &Core, token: u64) -> Result<(), u32> {
    let owner = &core.ring.producer_entry(0).owner;
    if !core.locks.try_lock(core.producer_lock(0)).unwrap_or(false) {
        // Acquire: pairs with the holder's Release store of its token.
        return Err(liveness::pid_of(owner.load(Ordering::Acquire)));
    }
    // Acquire: pairs with the previous holder's Release stores of the owner word.
    if owner.load(Ordering::Acquire) != 0 {
        let cursor = core.ring.load_cursor();
        // Release: stronger than needed (only the single producer reads it back; its claims
        // store it Relaxed), and free on this rare path.
        core.ring.next().store(cursor, Ordering::Release);
    }
    // Release: pairs with the Acquire loads of the owner word by inspectors.
    owner.store(token, Ordering::Release);
    Ok(())
}

/// Empties record `entry` (its holder holds no claim any more). Release: pairs with the Acquire
/// loads of records in `adopt`, so a recoverer that sees the record empty sees what its holder
/// did before, such as a rollback's `given_back` bump.
pub(crate) fn empty_record(core: &Core, entry: usize) {
    let e = core.ring.producer_entry(entry);
    // Relaxed: only the holder writes it.
    let end = e.claim_end.load(Ordering::Relaxed);
    e.claim_start.store(end, Ordering::Release);
}

/// Lets go of record `entry`, emptying it first when `empty` (a clean detach), else keeping the
/// range it describes (pending, recoverable by anyone).
pub(crate) fn release_record(core: &Core, entry: usize, empty: bool) {
    if empty {
        empty_record(core, entry);
    }
    // Release: the record is written before it is let go (the next holder's Acquire load of
    // the owner word pairs with it). A token of 0 says it was let go, not lost by death.
    core.ring.producer_entry(entry).owner.store(0, Ordering::Release);
    core.locks.unlock(core.producer_lock(entry));
}

/// Moves the range recorded in `home` (a claim left pending) to a free record, which is then
/// let go; `false` when no record is free. The range is described by a record the caller holds
/// at every step (the spare is locked while it is written, `home` is emptied by the caller
/// afterwards).
pub(crate) fn move_to_spare(core: &Core, home: usize, token: u64) -> bool {
    let Some(spare) = take_free_record(core, token) else { return false };
    let (from, to) = (core.ring.producer_entry(home), core.ring.producer_entry(spare));
    // Relaxed: both records are held by this handle; `release_record`'s Release store of the
    // owner word publishes them.
    to.claim_end.store(from.claim_end.load(Ordering::Relaxed), Ordering::Relaxed);
    to.claim_start.store(from.claim_start.load(Ordering::Relaxed), Ordering::Relaxed);
    release_record(core, spare, false);
    true
}

/// Takes consumer `index`'s record for a new handle; its committed sequence, or why not.
pub(crate) fn attach_consumer(
    core: &Core,
    index: usize,
    token: u64,
) -> Result<u64, AttachConsumer> {
    let owner = &core.ring.consumer_entry(index).owner;
    // Its lock is free when nobody owns it or its owner died. A live owner (another handle of
    // this process included) keeps it.
    if !core.locks.try_lock(core.consumer_lock(index)).unwrap_or(false) {
        // Acquire: pairs with the owner's Release store of its token below.
        return Err(AttachConsumer::InUse(liveness::pid_of(owner.load(Ordering::Acquire))));
    }
    // Release: pairs with the Acquire loads of the owner word by inspectors and evicters.
    owner.store(token, Ordering::Release);
    // Acquire pairs with the Release store of the previous owner's last commit (or release).
    let sequence = core.ring.load_consumer_sequence(index);
    if sequence == RELEASED {
        owner.store(0, Ordering::Release);
        core.locks.unlock(core.consumer_lock(index));
        return Err(AttachConsumer::Released);
    }
    Ok(sequence)
}

/// Why a consumer index could not be taken.
#[derive(Debug)]
pub(crate) enum AttachConsumer {
    /// A live handle owns it; its owner's PID as recorded.
    InUse(u32),
    /// It was released.
    Released,
}

/// Lets go of consumer `index`'s record (a handle dropped). A token of 0 says it was let go
/// cleanly (a dead owner leaves its token).
pub(crate) fn detach_consumer(core: &Core, index: usize, token: u64) {
    let owner = &core.ring.consumer_entry(index).owner;
    // Release: pairs with the Acquire loads of the owner word by the next owner and inspectors.
    // Only if it is still ours (the lock makes it so; a CAS costs nothing here).
    let _ = owner.compare_exchange(token, 0, Ordering::Release, Ordering::Relaxed);
    core.locks.unlock(core.consumer_lock(index));
}

/// Whether the writer of a stream died without ending it: no live handle holds a producer
/// record, and one was left behind by a process that died holding it (a clean drop clears it).
pub(crate) fn writer_died(core: &Core) -> bool {
    let mut dead = false;
    for entry in 0..core.ring.producer_count {
        if core.locks.is_held(core.producer_lock(entry)) {
            return false;
        }
        // Acquire: pairs with the Release stores of the owner word.
        dead |= core.ring.producer_entry(entry).owner.load(Ordering::Acquire) != 0;
    }
    dead
}

/// The live processes that own a consumer index or a producer record through a live handle
/// (their lock is held), as recorded in the records (PIDs of their own PID namespace).
pub(crate) fn live_users(core: &Core) -> Vec<u32> {
    let mut pids = Vec::new();
    let consumers = (0..core.ring.consumer_count)
        .map(|i| (core.consumer_lock(i), &core.ring.consumer_entry(i).owner));
    let producers = (0..core.ring.producer_count)
        .map(|i| (core.producer_lock(i), &core.ring.producer_entry(i).owner));
    for (lock, owner) in consumers.chain(producers) {
        // Acquire: pairs with the owner's Release store of its token after taking the lock.
        let token = owner.load(Ordering::Acquire);
        if token != 0 && core.locks.is_held(lock) {
            let pid = liveness::pid_of(token);
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
    }
    pids
}

#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;

    fn temp_file() -> File {
        let path = std::env::temp_dir().join(format!("sd-locks-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn a_byte_is_held_by_one_handle_and_seen_from_other_descriptions() {
        let file = temp_file();
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let other =
            Locks::new(std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap());
        let locks = Locks::new(file);
        locks.check_supported().unwrap();
        assert!(!locks.is_held(7) && !other.is_held(7));
        assert!(locks.try_lock(7).unwrap());
        assert!(!locks.try_lock(7).unwrap(), "a second handle of the same mapping is refused");
        assert!(!other.try_lock(7).unwrap(), "another description is refused");
        assert!(locks.is_held(7) && other.is_held(7));
        assert!(!other.is_held(8), "one byte per record");
        locks.unlock(7);
        assert!(!locks.is_held(7) && !other.is_held(7));
        assert!(other.try_lock(7).unwrap());
        drop(other);
        assert!(!locks.is_held(7), "closing the description lets go of its locks");
    }
}
