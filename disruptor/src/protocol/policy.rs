//! What a blocked producer does about dead peers ([`DeadPeerPolicy`]), and the bookkeeping that
//! makes `after` count from when a peer was first seen dead.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::claim::ProducerState;
use super::ownership;
use super::wait::WaitStrategy;
use super::Core;

/// What a producer blocked by a dead peer does.
///
/// A consumer whose process died holds the ring back: producers wait for it, as for any slow
/// consumer, since a restarted consumer resumes from its committed sequence. A producer that
/// died between claim and commit holds back every later claim. The policy is per producer
/// handle ([`Producer::set_dead_peer_policy`](crate::Producer::set_dead_peer_policy)); the same
/// repairs are also available by hand to any process
/// ([`Disruptor::evict_dead_consumers`](crate::Disruptor::evict_dead_consumers),
/// [`Producer::recover_orphaned`](crate::Producer::recover_orphaned)).
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor::{DeadPeerPolicy, Disruptor};
///
/// let ring = Disruptor::<u64>::builder("policy").capacity(64).consumers(2).create_in_process()?;
/// let mut producer = ring.producer()?;
/// // Give a dead consumer 2 s to be restarted, then evict it and carry on; likewise publish a
/// // dead producer's claim as abandoned (zero-filled) after 2 s.
/// producer.set_dead_peer_policy(DeadPeerPolicy::Recover { after: Duration::from_secs(2) });
///
/// // By hand, from any process: nothing to repair here.
/// assert!(ring.evict_dead_consumers().is_empty());
/// assert_eq!(ring.orphaned_claim(), None);
/// assert!(producer.recover_orphaned().is_none());
/// assert_eq!(DeadPeerPolicy::default(), DeadPeerPolicy::Wait);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeadPeerPolicy {
    /// Keep waiting: a dead consumer may be restarted and resume from its sequence, and a dead
    /// producer's claim may be recovered by someone
    /// ([`Producer::recover_orphaned`](crate::Producer::recover_orphaned)).
    #[default]
    Wait,
    /// While blocked (in a blocking or an async call), evict a dead consumer it waits for (it
    /// is marked released) once that consumer has been seen dead for `after`, and commit a claim
    /// that blocks the cursor and that no live producer holds as abandoned
    /// ([`ClaimBatch::commit_abandoned`](crate::ClaimBatch::commit_abandoned)) once it has been
    /// seen orphaned for `after`; then carry on. A consumer restarted within `after` takes its
    /// index back and is not evicted. The clock starts when this producer first sees the peer
    /// dead (it looks every `after / 4`, between 1 and 100 ms, while blocked).
    Recover {
        /// How long a peer must have been seen dead before it is acted on.
        after: Duration,
    },
}

/// How often a blocked producer under `DeadPeerPolicy::Recover { after }` looks for dead peers.
pub(crate) fn interval(after: Duration) -> Duration {
    (after / 4).clamp(Duration::from_millis(1), Duration::from_millis(100))
}

/// One producer handle's policy and what it has seen.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    /// The policy.
    pub(crate) mode: DeadPeerPolicy,
    /// When each dead consumer (index, owner token) was first seen dead.
    dead_since: Vec<(usize, u64, Instant)>,
    /// When the orphaned range at the cursor (its start) was first seen.
    orphan_since: Option<(u64, Instant)>,
    /// When the policy last looked, for async claims (which wait across polls).
    pub(crate) async_check: Option<Instant>,
    /// The ring's name, for the events of the `tracing` feature.
    #[cfg(feature = "tracing")]
    pub(crate) ring: std::sync::Arc<str>,
}

impl Policy {
    /// The default policy (`Wait`) of a handle on the ring `_ring` (its name, which the events
    /// of the `tracing` feature carry).
    pub(crate) fn for_ring(_ring: &str) -> Policy {
        Policy {
            #[cfg(feature = "tracing")]
            ring: _ring.into(),
            ..Policy::default()
        }
    }

    /// When the policy next wants a look, for a wait that last looked at `last_check`; `None`
    /// under `Wait`.
    pub(crate) fn next_look(&self, last_check: Option<Instant>) -> Option<Instant> {
        match self.mode {
            DeadPeerPolicy::Recover { after } => {
                Some(last_check.map_or_else(Instant::now, |t| t + interval(after)))
            }
            _ => None,
        }
    }

    /// While `state`'s producer is blocked (`last_check` is this wait's): under `Recover`,
    /// looks for dead peers every `after / 4` (1 to 100 ms), and acts on those seen dead for
    /// `after`.
    #[cold]
    pub(crate) fn apply(
        &mut self,
        core: &Core,
        state: &mut ProducerState,
        last_check: &mut Option<Instant>,
    ) {
        let DeadPeerPolicy::Recover { after } = self.mode else { return };
        let now = Instant::now();
        if last_check.is_some_and(|t| now.saturating_duration_since(t) < interval(after)) {
            return;
        }
        *last_check = Some(now);
        // Consumers: the clock of each starts when it is first seen dead; a restarted consumer
        // (another owner token, or alive) starts afresh.
        let dead = ownership::dead_consumers(core);
        self.dead_since.retain(|&(i, t, _)| dead.contains(&(i, t)));
        for &(i, t) in &dead {
            if !self.dead_since.iter().any(|&(j, u, _)| (j, u) == (i, t)) {
                self.dead_since.push((i, t, now));
                event!(
                    WARN,
                    ring = &*self.ring,
                    consumer = i,
                    pid = crate::liveness::pid_of(t),
                    evict_after_ms = after.as_millis() as u64,
                    "a blocked producer sees a dead consumer"
                );
            }
        }
        let due: Vec<(usize, u64)> = self
            .dead_since
            .iter()
            .filter(|&&(_, _, since)| now.saturating_duration_since(since) >= after)
            .map(|&(i, t, _)| (i, t))
            .collect();
        if !due.is_empty() {
            let _evicted = ownership::evict_consumers(core, |i, t| due.contains(&(i, t)));
            #[cfg(feature = "tracing")]
            for index in _evicted {
                let token = due.iter().find(|&&(i, _)| i == index).map_or(0, |&(_, t)| t);
                event!(
                    WARN,
                    ring = &*self.ring,
                    consumer = index,
                    pid = crate::liveness::pid_of(token),
                    by = "policy",
                    "evicted a dead consumer"
                );
            }
        }
        // The orphaned claim at the cursor, likewise.
        match ownership::orphaned_claim(core) {
            Some(range) => {
                let since = match self.orphan_since {
                    Some((start, since)) if start == range.start => since,
                    _ => {
                        self.orphan_since = Some((range.start, now));
                        event!(
                            WARN,
                            ring = &*self.ring,
                            start = range.start,
                            end = range.end,
                            abandon_after_ms = after.as_millis() as u64,
                            "a blocked producer sees an orphaned claim (its producer died or left it pending)"
                        );
                        now
                    }
                };
                if now.saturating_duration_since(since) >= after {
                    self.publish_abandoned(core, state, range);
                }
            }
            None => self.orphan_since = None,
        }
    }

    /// Zero-fills `range`, records it as abandoned and publishes it (its predecessors are
    /// published: the range starts at the cursor). The records describing it are taken over
    /// first, atomically (`ownership::take_over`): if a live handle holds any part of it, or
    /// another producer took it over first, nothing is done.
    fn publish_abandoned(&mut self, core: &Core, state: &mut ProducerState, range: Range<u64>) {
        let Some(adopted) = state.take_orphan(core, &range) else { return };
        event!(
            WARN,
            ring = &*self.ring,
            start = range.start,
            end = range.end,
            by = "policy",
            "published an orphaned claim as abandoned (zero-filled)"
        );
        // Never waits: the range starts at the cursor.
        state.publish_zeroed(core, range, None, WaitStrategy::BusySpin, self);
        ownership::release_adopted(core, &adopted, true);
    }
}
