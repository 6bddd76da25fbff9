//! Producers' claims: [`ProducerState`], the state one producer handle keeps, and how it takes
//! ranges of sequences, records them, gives them back, and recovers ranges left behind.
//!
//! - **Single-producer rings** claim with plain loads and stores of the claim sequence, which
//!   the one producer alone writes, against a cached bound (the slowest gating consumer +
//!   capacity). Record 0 is the producer's lock and keeps no range: the claim in flight is
//!   always `[cursor, next)`.
//! - **Multi-producer rings** claim with a CAS on the claim sequence. Each handle holds a
//!   *home* record and writes every claim into it *before* its CAS, so that a claimed range is
//!   described by its holder's record from the moment it is taken; a failed attempt empties the
//!   record again, so that a record only ever describes a range its holder holds.
//! - Every claim compares the ring's gating epoch with the one its bound was read under, so the
//!   first claim after a consumer's release re-reads the live graph (and fails with
//!   `NoConsumers` when nobody is left).

use std::ops::Range;

use super::gating::Scan;
use super::ownership::{self, Adopted};
use super::sync::Ordering;
use super::{Core, Ring};
use crate::error::{AttachError, ClaimError};
use crate::liveness;

/// What one producer handle knows about its claims (see the module docs).
#[derive(Debug)]
pub(crate) struct ProducerState {
    /// The ring's shared words (a copy: the hot path needs no pointer chasing).
    pub(crate) ring: Ring,
    /// The registry record this handle holds (its lock): record 0, the producer's lock, in
    /// single-producer mode; in multi-producer mode the record each claim is written into
    /// before it is taken. `None` after a multi-producer handle gave it up with the range of a
    /// leaked claim (or with one left pending, when no spare record was free); the next claim
    /// takes a free one.
    home: Option<usize>,
    /// This process's token, recorded as the owner of the records this handle holds.
    token: u64,
    /// Single-producer mode: claims may end at most here (0 in multi-producer mode, which makes
    /// every claim take the general path). The slowest gating consumer's sequence + capacity as
    /// last read, and never above the claim sequence + capacity as of that read.
    /// (The single producer keeps no private copy of the claim sequence: the shared one, which
    /// it alone writes, is the copy. One store per claim instead of two.)
    bound: u64,
    /// Multi-producer mode: the slowest gating consumer's sequence + capacity as last read.
    shared_bound: u64,
    /// The gating epoch the bounds were read under: a claim that finds another one re-reads
    /// the live graph (a consumer was released or evicted since).
    epoch: u64,
    /// The live consumers producers gate on, as read under `epoch` (the last stages, a
    /// released one replaced by the stages it follows): what a refresh of the bound scans.
    gating: Box<[usize]>,
    /// Where in `gating` the next refresh starts: the laggard the last one found (the slowest,
    /// or the one that stopped it), likely the one that stops it again.
    scan_from: usize,
    /// Multi-producer mode: a claim was handed out and is not yet committed, given back or left
    /// pending. Found set by the next claim, it was leaked (`mem::forget`): its range stays in
    /// `home`, which is then given up so that the range can be recovered.
    claim_open: bool,
    /// A commit of a range starting below this publishes it at once, with no load of the
    /// cursor (which consumers keep reading) and no store here; anything else takes the general
    /// path, which reads the cursor.
    /// - Single-producer mode, no claim left pending: `u64::MAX`. Every claim before the live
    ///   one is then published, so the live one starts at the cursor.
    /// - Single-producer mode, some claim left pending: the cursor or less, which no later
    ///   claim starts below.
    /// - Multi-producer mode: 0.
    pub(crate) direct_below: u64,
    /// The producer records taken over for the recovered range in flight (multi-producer
    /// rings), let go when it is committed, left pending again or dropped.
    adopted: Adopted,
}

impl ProducerState {
    /// Attaches a producer handle: takes the single producer's lock, or a free record.
    pub(crate) fn attach(core: &Core) -> Result<ProducerState, AttachError> {
        let ring = core.ring;
        let token = liveness::own_token();
        let home = if ring.single {
            ownership::attach_single_producer(core, token)
                .map_err(|pid| AttachError::ProducerInUse { pid })?;
            0
        } else {
            ownership::take_free_record(core, token)
                .ok_or(AttachError::TooManyProducers { max: ring.producer_count })?
        };
        // Acquire: pairs with the SeqCst bump in `ownership::gating_changed` (see
        // `try_claim_slow`): the live gating set read after it reflects every release before it.
        let epoch = ring.gating_epoch().load(Ordering::Acquire);
        let gating = core.live_gating();
        let next = ring.load_claim_sequence();
        // A previous single producer may have left claims pending: [cursor, next) is then not
        // empty, and commits take the general path until it is published.
        let cursor = ring.load_cursor();
        let direct_below = match ring.single {
            true if next == cursor => u64::MAX,
            true => cursor,
            false => 0,
        };
        Ok(ProducerState {
            ring,
            home: Some(home),
            token,
            bound: 0,
            shared_bound: 0,
            epoch,
            gating,
            scan_from: 0,
            claim_open: false,
            direct_below,
            adopted: Vec::new(),
        })
    }

    /// The record this handle holds, if any (for display).
    pub(crate) fn home(&self) -> Option<usize> {
        self.home
    }

    /// Claims `[start, start + n)` (exact) or up to `n` slots (`!exact`), without waiting.
    #[inline(always)]
    pub(crate) fn try_claim(
        &mut self,
        core: &Core,
        n: u64,
        exact: bool,
    ) -> Result<Range<u64>, ClaimError> {
        match self.try_claim_fast(n) {
            Some(range) => Ok(range),
            None => self.try_claim_slow(core, n, exact),
        }
    }

    /// The fast path of [`try_claim`](Self::try_claim), which needs no `Core` (so a handle
    /// finds it only on the slow path): a single producer with room under its cached bound
    /// (always 0 in multi-producer mode), read under the current gating epoch. `None`: take
    /// the slow path. `end > start` rules out n == 0 and overflow, and `n <= capacity` a claim
    /// longer than the ring should the claim sequence be corrupt (n == 1, the common case,
    /// needs no test).
    #[inline(always)]
    pub(crate) fn try_claim_fast(&mut self, n: u64) -> Option<Range<u64>> {
        let next = self.ring.next();
        // Relaxed: only this producer writes the claim sequence in single-producer mode (it is
        // for inspection and recovery, and orders nothing: the cursor's Release store publishes).
        let start = next.load(Ordering::Relaxed);
        let end = start.wrapping_add(n);
        // Relaxed: only compared; a changed epoch sends the claim to the slow path, which
        // loads it again with Acquire (pairing with the SeqCst bump in
        // `ownership::gating_changed`). It lies beside the claim sequence: no other line is
        // touched (see `ClaimLine`).
        let epoch = self.ring.gating_epoch().load(Ordering::Relaxed);
        if end <= self.bound
            && end > start
            && (n == 1 || n <= self.ring.capacity)
            && epoch == self.epoch
        {
            // Relaxed: as above.
            next.store(end, Ordering::Relaxed);
            return Some(start..end);
        }
        crate::cold_path();
        None
    }

    #[inline(never)]
    pub(crate) fn try_claim_slow(
        &mut self,
        core: &Core,
        n: u64,
        exact: bool,
    ) -> Result<Range<u64>, ClaimError> {
        let capacity = self.ring.capacity;
        if n == 0 {
            return Err(ClaimError::Empty);
        }
        if exact && n > capacity {
            return Err(ClaimError::TooMany { requested: n as usize, capacity: capacity as usize });
        }
        let n = n.min(capacity);
        // A consumer released or evicted since the bounds were read: read the graph again.
        // Acquire: pairs with the SeqCst bump in `ownership::gating_changed`, so the `RELEASED`
        // sequence stored before it is seen by `refresh_bound`.
        let epoch = self.ring.gating_epoch().load(Ordering::Acquire);
        if epoch != self.epoch {
            self.epoch = epoch;
            self.bound = 0;
            self.shared_bound = 0;
            self.gating = core.live_gating();
            self.scan_from = 0;
        }
        if self.ring.single {
            return self.claim_single(core, n, exact);
        }
        let home = self.home_for_claim(core)?;
        let result = self.claim_multi(core, n, exact, home);
        if result.is_err() {
            // A failed attempt may have written its range into the record: the record must
            // only ever describe a range its owner holds.
            ownership::empty_record(core, home);
        }
        result
    }

    /// The end a claim from `start` may reach, refreshing the cached bound (`bound` of a
    /// single producer, `shared_bound` of a multi-producer handle) when `end` passes it:
    /// `end`, or less when `!exact` (at least `start + 1`), or `Full` / `NoConsumers`. A single
    /// producer's bound is clamped to `start + capacity`.
    ///
    /// The refresh scans the cached live gating set, and stops at the first consumer too far
    /// behind for the claim to fit (`Full` at once: a blocked producer polls one line, not
    /// every consumer); otherwise it reads each gating consumer once.
    #[inline(always)]
    fn fit(&mut self, core: &Core, start: u64, end: u64, exact: bool) -> Result<u64, ClaimError> {
        let cached = if self.ring.single { self.bound } else { self.shared_bound };
        if end <= cached {
            return Ok(end);
        }
        self.refresh(core, start, end, exact)
    }

    /// The refresh of [`fit`](Self::fit): out of line, as claims under the cached bound need
    /// none of it.
    #[inline(never)]
    fn refresh(
        &mut self,
        core: &Core,
        start: u64,
        mut end: u64,
        exact: bool,
    ) -> Result<u64, ClaimError> {
        let capacity = self.ring.capacity;
        // A claim fits when every gating sequence is at least `floor`.
        let floor = if exact { end } else { start.saturating_add(1) }.saturating_sub(capacity);
        let ring = &self.ring;
        // Acquire loads (`load_consumer_sequence`): the consumers' reads of the slots below
        // their sequences happen-before we overwrite them.
        let scan = core
            .graph
            .scan_gating(&self.gating, self.scan_from, floor, |c| ring.load_consumer_sequence(c));
        let slowest = match scan {
            Scan::Nobody => return Err(ClaimError::NoConsumers),
            Scan::Below(_, at) => {
                self.scan_from = at;
                return Err(ClaimError::Full);
            }
            Scan::Slowest(slowest, at) => {
                self.scan_from = at;
                slowest
            }
        };
        let bound = slowest.saturating_add(capacity);
        if self.ring.single {
            // Clamped: see `bound` (a sane segment has slowest <= claim sequence).
            self.bound = bound.min(start.saturating_add(capacity));
        } else {
            self.shared_bound = bound;
        }
        if end > bound {
            if exact || bound <= start {
                return Err(ClaimError::Full);
            }
            end = bound;
        }
        Ok(end)
    }

    fn claim_single(&mut self, core: &Core, n: u64, exact: bool) -> Result<Range<u64>, ClaimError> {
        // Relaxed: this producer wrote it last.
        let start = self.ring.next().load(Ordering::Relaxed);
        let end = self.fit(core, start, start.saturating_add(n), exact)?;
        // The only producer: its claim in flight is always [cursor, next), so the registry
        // needs no per-claim record. The shared `next` is for inspection and recovery
        // (Relaxed: it orders nothing).
        self.ring.next().store(end, Ordering::Relaxed);
        Ok(start..end)
    }

    fn claim_multi(
        &mut self,
        core: &Core,
        n: u64,
        exact: bool,
        home: usize,
    ) -> Result<Range<u64>, ClaimError> {
        loop {
            // Relaxed: the CAS below checks it.
            let start = self.ring.next().load(Ordering::Relaxed);
            let wanted = start.saturating_add(n);
            let end = self.fit(core, start, wanted, exact)?;
            // Record the claim before taking it, so that the range is described by this live
            // handle's record from the moment it is taken: no recoverer takes it from us, and a
            // process killed right after the CAS leaves it recorded for recovery.
            // Relaxed: the Release CAS below publishes them.
            let entry = self.ring.producer_entry(home);
            entry.claim_start.store(start, Ordering::Relaxed);
            entry.claim_end.store(end, Ordering::Relaxed);
            // Release on success: orders the registry stores above before the claim itself
            // (a recoverer's Acquire load of `next` pairs with it).
            let next = self.ring.next();
            if next.compare_exchange_weak(start, end, Ordering::Release, Ordering::Relaxed).is_ok()
            {
                self.claim_open = true;
                return Ok(start..end);
            }
        }
    }

    /// Multi-producer mode: the home record a claim is written into, taking a free one if the
    /// last was given up.
    fn home_for_claim(&mut self, core: &Core) -> Result<usize, ClaimError> {
        if self.claim_open {
            // The last claim was leaked: its range stays recorded, recoverable by anyone.
            self.retire_home(core);
        }
        match self.home {
            Some(home) => Ok(home),
            None => {
                let home = ownership::take_free_record(core, self.token)
                    .ok_or(ClaimError::NoFreeRecord { max: self.ring.producer_count })?;
                self.home = Some(home);
                Ok(home)
            }
        }
    }

    /// Multi-producer mode: gives up the home record, keeping the range it describes (a claim
    /// left pending or leaked), so that anyone may recover it. The next claim takes a free
    /// record.
    fn retire_home(&mut self, core: &Core) {
        if let Some(home) = self.home.take() {
            ownership::release_record(core, home, false);
        }
        self.claim_open = false;
    }

    /// Whether there is room for `needed` slots after the claim sequence, or nobody left to
    /// wait for (a readiness hint for waiters: the claim re-checks everything).
    pub(crate) fn room_for(core: &Core, needed: u64) -> bool {
        // Relaxed: compared with the consumers' sequences only.
        let next = core.ring.next().load(Ordering::Relaxed);
        let floor = next.saturating_add(needed).saturating_sub(core.ring.capacity);
        // Stops at the first consumer below the floor: a waiter polls one line while it waits.
        let ring = core.ring;
        let graph = &core.graph;
        !matches!(
            graph.scan_gating(graph.last(), 0, floor, |c| ring.load_consumer_sequence(c)),
            Scan::Below(..)
        )
    }

    /// After a claim of this handle was committed: its home record describes nothing pending.
    #[inline]
    pub(crate) fn finish_claim(&mut self, core: &Core) {
        if self.ring.single {
            return; // no per-claim registry record in single-producer mode
        }
        self.claim_open = false;
        if let Some(home) = self.home {
            ownership::empty_record(core, home);
        }
    }

    /// After a range was published: the records that described it describe it no more (the
    /// home record of a claim; the records taken over for a recovery are let go).
    #[inline]
    pub(crate) fn finished(&mut self, core: &Core, recovered: bool) {
        if recovered {
            self.release_adopted(core, true);
        } else {
            self.finish_claim(core);
        }
    }

    /// A claim left pending on purpose (`leave_pending`): a recovered range goes back to the
    /// records it was taken from; a claim's range moves to a record nobody holds (multi) or
    /// stays in `[cursor, next)` (single, where later commits then take the general path).
    pub(crate) fn leave_pending(&mut self, core: &Core, recovered: bool) {
        if recovered {
            // The records taken over keep the range, pending, for the next recoverer.
            self.release_adopted(core, false);
        } else if !self.ring.single {
            // No longer this handle's claim: its range goes to a record nobody holds.
            self.leave_home_range(core);
        }
        if self.ring.single {
            // Later claims no longer start at the cursor.
            self.update_direct_below();
        }
    }

    /// Multi-producer mode, a claim left pending: moves its range from the home record to a
    /// free one that is then let go (pending, recoverable by anyone), so that this handle keeps
    /// its record. The range is described by a record this handle holds at every step. With no
    /// free record, the home record itself is given up with the range.
    fn leave_home_range(&mut self, core: &Core) {
        let Some(home) = self.home else { return };
        if ownership::move_to_spare(core, home, self.token) {
            self.finish_claim(core);
        } else {
            self.retire_home(core);
        }
    }

    /// Single-producer mode, after the cursor moved on the general path or a claim was left
    /// pending: whether the next claim will start at the cursor (see `direct_below`).
    pub(crate) fn update_direct_below(&mut self) {
        // Acquire: as any cursor load (only this handle moves the cursor here).
        let cursor = self.ring.load_cursor();
        // Relaxed: this producer is the only writer of the claim sequence.
        let next = self.ring.next().load(Ordering::Relaxed);
        self.direct_below = if cursor == next { u64::MAX } else { cursor };
    }

    /// Gives back an uncommitted claim: `true` when it was rolled back (nothing was claimed
    /// after it, always the case in single-producer mode), `false` when the caller must publish
    /// it (zero-filled: commits are in order, so later producers wait for it).
    fn roll_back(&mut self, core: &Core, start: u64, end: u64) -> bool {
        let next = self.ring.next();
        if self.ring.single {
            // Release: stronger than needed (only this producer reads it back; its claims
            // store it Relaxed), and free on this rare path.
            next.store(start, Ordering::Release);
            return true;
        }
        // AcqRel: as any claim CAS (it continues the release sequence of `next`).
        let rolled_back =
            next.compare_exchange(end, start, Ordering::AcqRel, Ordering::Relaxed).is_ok();
        if rolled_back {
            // These sequences may now be claimed again: a recovery in progress must start over
            // (see `ownership::take_over`). SeqCst: the count is read twice by the recoverer,
            // around its checks; the Release store that empties our record (`finish_claim`,
            // by the caller) carries it to a recoverer that sees the record empty.
            core.ring.control().next.given_back.fetch_add(1, Ordering::SeqCst);
            self.finish_claim(core);
        }
        rolled_back
    }

    /// Gives back an uncommitted claim of this handle (its guard dropped without commit):
    /// rolled back when nothing was claimed after it, else published zero-filled and recorded
    /// as abandoned (commits are in order, so later producers wait for it).
    pub(crate) fn give_back(
        &mut self,
        core: &Core,
        range: Range<u64>,
        strategy: super::wait::WaitStrategy,
        policy: &mut super::policy::Policy,
    ) {
        if !self.roll_back(core, range.start, range.end) {
            self.publish_zeroed(core, range, Some(None), strategy, policy);
            self.finish_claim(core);
        }
    }

    /// The seed's `produceRecover`: takes `range` over if it is claimed, uncommitted and held
    /// by no live handle (see `ownership::take_over`); `false` otherwise.
    pub(crate) fn recover(&mut self, core: &Core, range: &Range<u64>) -> bool {
        if !ownership::is_pending(core, range) {
            return false;
        }
        if self.claim_open {
            // A claim of ours was leaked: give its record up, to take it like any other.
            self.retire_home(core);
        }
        // A recovered range of ours was leaked: its records are pending again.
        self.release_adopted(core, false);
        if self.ring.single {
            // A single producer is the only handle that claims: what is pending is its own.
            return true;
        }
        match ownership::take_over(core, range, self.token) {
            Some(adopted) => {
                self.adopted = adopted;
                true
            }
            None => false,
        }
    }

    /// Takes over the orphaned `range` for the dead-peer policy, keeping the records apart from
    /// `adopted` (a recovered range of this handle may be in flight). `None` when it is held or
    /// no longer pending.
    pub(crate) fn take_orphan(&self, core: &Core, range: &Range<u64>) -> Option<Adopted> {
        if self.ring.single {
            return ownership::is_pending(core, range).then(Vec::new);
        }
        ownership::take_over(core, range, self.token)
    }

    /// Lets go of the records taken over for a recovered range (see
    /// `ownership::release_adopted`).
    pub(crate) fn release_adopted(&mut self, core: &Core, clear_done: bool) {
        if !self.adopted.is_empty() {
            let adopted = std::mem::take(&mut self.adopted);
            ownership::release_adopted(core, &adopted, clear_done);
        }
    }

    /// The handle is dropped: a leaked claim's range stays recorded (recoverable by anyone),
    /// a leaked recovered range is pending again, and the home record is let go.
    pub(crate) fn detach(&mut self, core: &Core) {
        self.release_adopted(core, false);
        if self.claim_open {
            self.retire_home(core);
            return;
        }
        if let Some(home) = self.home.take() {
            ownership::release_record(core, home, !self.ring.single);
        }
    }
}
