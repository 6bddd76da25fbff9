//! Gating over the *live* dependency graph: which consumers producers must not overtake, and
//! which stages a pipeline stage must not overtake.
//!
//! The graph recorded in the header never changes, but stages leave it: a released or evicted
//! consumer's sequence is `u64::MAX`, and it is then replaced by the stages it depends on
//! (transitively, through other released stages). So when the last stage of `0 -> 1` is
//! released, producers gate on consumer 0 instead, and never overwrite a slot that consumer 0
//! still reads; when the middle stage of `0 -> 1 -> 2` is released, stage 2 follows stage 0.
//!
//! A stage's sequence never passes the sequences of the stages it depends on (it only commits
//! what it could read), so a bound computed from a live stage is also a safe bound for the
//! stages before it: a producer that read the bound before a release may still use it. Every
//! release and eviction bumps the ring's gating epoch after storing `u64::MAX`, and producers
//! compare the epoch on every claim, so the next claim after a release re-reads the graph.

/// A released (or evicted) consumer's sequence.
pub(crate) const RELEASED: u64 = u64::MAX;

/// The dependency graph of one ring, validated at create or open.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Per consumer, the consumers it follows (empty: it follows the cursor).
    dependencies: Box<[Box<[usize]>]>,
    /// Per consumer, whether any consumer follows it.
    followed: Box<[bool]>,
    /// The consumers no other consumer depends on: the producers' gating set while every
    /// consumer is live.
    last: Box<[usize]>,
}

/// The result of [`Graph::scan_gating`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The slowest live gating sequence, and its position in the list (0 when a released stage
    /// made the scan walk the graph).
    Slowest(u64, usize),
    /// A gating consumer stands below the floor asked for (the scan stopped there): no claim
    /// that needs the floor can be made now. Its sequence and its position in the list.
    Below(u64, usize),
    /// Every consumer the producers would wait for is released.
    Nobody,
}

impl Graph {
    /// The graph of validated dependency lists (acyclic, in range).
    pub(crate) fn new(dependencies: &[Vec<usize>]) -> Graph {
        let mut followed = vec![false; dependencies.len()];
        dependencies.iter().flatten().for_each(|&d| followed[d] = true);
        let last = (0..dependencies.len()).filter(|&c| !followed[c]).collect();
        Graph {
            dependencies: dependencies.iter().map(|l| l.clone().into_boxed_slice()).collect(),
            followed: followed.into_boxed_slice(),
            last,
        }
    }

    /// The dependency lists (see `graph`).
    pub(crate) fn lists(&self) -> Vec<Vec<usize>> {
        self.dependencies.iter().map(|l| l.to_vec()).collect()
    }

    /// The consumers `index` depends on directly (empty: it follows the cursor).
    pub(crate) fn dependencies(&self, index: usize) -> &[usize] {
        &self.dependencies[index]
    }

    /// The consumers no other consumer depends on.
    pub(crate) fn last(&self) -> &[usize] {
        &self.last
    }

    /// Whether any consumer depends on `index`.
    pub(crate) fn has_followers(&self, index: usize) -> bool {
        self.followed[index]
    }

    /// Calls `on_live` with each live stage that stands for `roots` and its sequence: each
    /// released root replaced by the stages it depends on (transitively), each stage loaded
    /// once. `sequence` loads a consumer's sequence. Released stages never come back to life.
    fn walk(
        &self,
        roots: &[usize],
        sequence: impl Fn(usize) -> u64,
        mut on_live: impl FnMut(usize, u64),
    ) {
        let mut pushed = vec![false; self.dependencies.len()];
        let mut stack: Vec<usize> = Vec::new();
        let mut push = |c: usize, stack: &mut Vec<usize>| {
            if !std::mem::replace(&mut pushed[c], true) {
                stack.push(c);
            }
        };
        roots.iter().for_each(|&root| push(root, &mut stack));
        while let Some(c) = stack.pop() {
            let seq = sequence(c);
            if seq != RELEASED {
                on_live(c, seq);
            } else {
                // Released: gate on the stages it followed instead.
                self.dependencies[c].iter().for_each(|&dep| push(dep, &mut stack));
            }
        }
    }

    /// The live stages producers must not overtake (see [`live`](Self::live)), as a producer
    /// caches them between changes of the gating epoch.
    pub(crate) fn live_gating(&self, sequence: impl Fn(usize) -> u64) -> Vec<usize> {
        let mut live = Vec::new();
        self.walk(&self.last, sequence, |c, _| live.push(c));
        live.sort_unstable();
        live
    }

    /// The slowest live sequence among `roots`, where a released root is replaced by the stages
    /// it depends on (transitively); `None` when every stage reached that way is released (or
    /// `roots` is empty). `sequence` loads a consumer's sequence.
    ///
    /// While no root is released this is one load per root and allocates nothing; a released
    /// root costs a walk of the stages behind it.
    #[inline]
    pub(crate) fn slowest(&self, roots: &[usize], sequence: impl Fn(usize) -> u64) -> Option<u64> {
        let mut slowest = u64::MAX;
        for &root in roots {
            let seq = sequence(root);
            if seq == RELEASED {
                crate::cold_path();
                return self.slowest_of_live(roots, &sequence);
            }
            slowest = slowest.min(seq);
        }
        (!roots.is_empty()).then_some(slowest)
    }

    #[inline(never)]
    fn slowest_of_live(&self, roots: &[usize], sequence: &impl Fn(usize) -> u64) -> Option<u64> {
        let mut slowest: Option<u64> = None;
        self.walk(roots, sequence, |_, seq| slowest = Some(slowest.map_or(seq, |s| s.min(seq))));
        slowest
    }

    /// The slowest live sequence producers must not overtake (see [`slowest`](Self::slowest)),
    /// or `None` when every consumer they would wait for is released.
    #[inline]
    pub(crate) fn slowest_gating(&self, sequence: impl Fn(usize) -> u64) -> Option<u64> {
        self.slowest(&self.last, sequence)
    }

    /// A producer's refresh of its bound over `gating`, the live gating stages it cached
    /// ([`live_gating`](Self::live_gating)): the slowest of them, or the first found below
    /// `floor` (the scan stops there: the claim cannot be made), starting at position `from`
    /// (where the last scan stopped or found the slowest, likely the laggard again). A stage
    /// released since the list was made is replaced by the stages behind it
    /// ([`slowest`](Self::slowest), which walks the graph).
    #[inline]
    pub(crate) fn scan_gating(
        &self,
        gating: &[usize],
        from: usize,
        floor: u64,
        sequence: impl Fn(usize) -> u64,
    ) -> Scan {
        let n = gating.len();
        let mut slowest = (u64::MAX, 0);
        let from = if from < n { from } else { 0 };
        for k in 0..n {
            let at = if from + k < n { from + k } else { from + k - n };
            let seq = sequence(gating[at]);
            if seq == RELEASED {
                crate::cold_path();
                return match self.slowest_of_live(gating, &sequence) {
                    Some(s) if s < floor => Scan::Below(s, 0),
                    Some(s) => Scan::Slowest(s, 0),
                    None => Scan::Nobody,
                };
            }
            if seq < floor {
                return Scan::Below(seq, at);
            }
            if seq < slowest.0 {
                slowest = (seq, at);
            }
        }
        if n == 0 {
            Scan::Nobody
        } else {
            Scan::Slowest(slowest.0, slowest.1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(l: &[&[usize]]) -> Vec<Vec<usize>> {
        l.iter().map(|d| d.to_vec()).collect()
    }

    fn slowest(graph: &Graph, roots: &[usize], seqs: &[u64]) -> Option<u64> {
        graph.slowest(roots, |c| seqs[c])
    }

    #[test]
    fn a_released_last_stage_is_replaced_by_the_stages_it_follows() {
        // 0 -> 1, and 2 independent: producers gate on 1 and 2.
        let graph = Graph::new(&lists(&[&[], &[0], &[]]));
        assert_eq!(graph.slowest_gating(|c| [100, 50, 70][c]), Some(50));
        // 1 released: consumer 0 gates again.
        assert_eq!(graph.slowest_gating(|c| [100, RELEASED, 170][c]), Some(100));
        assert_eq!(graph.slowest_gating(|c| [RELEASED, RELEASED, 170][c]), Some(170));
        assert_eq!(graph.slowest_gating(|_| RELEASED), None);
    }

    #[test]
    fn a_stage_follows_the_live_stages_behind_a_released_one() {
        // 0 -> 1 -> 2: with 1 released, 2 follows 0.
        let graph = Graph::new(&lists(&[&[], &[0], &[1]]));
        assert_eq!(slowest(&graph, graph.dependencies(2), &[30, RELEASED, 10]), Some(30));
        assert_eq!(slowest(&graph, graph.dependencies(2), &[RELEASED, RELEASED, 10]), None);
        // A diamond of released stages is visited once per stage.
        let diamond = Graph::new(&lists(&[&[], &[0], &[0], &[1, 2]]));
        assert_eq!(diamond.slowest_gating(|c| [5, RELEASED, RELEASED, RELEASED][c]), Some(5));
    }

    #[test]
    fn a_refresh_stops_at_the_first_laggard_and_walks_past_released_stages() {
        // Consumers 0..4 follow the cursor; 4 follows 3. Producers gate on 0, 1, 2 and 4.
        let graph = Graph::new(&lists(&[&[], &[], &[], &[], &[3]]));
        let loads = std::cell::Cell::new(0);
        let seqs = [50, 40, 60, 70, 30];
        let load = |c: usize| {
            loads.set(loads.get() + 1);
            seqs[c]
        };
        let gating = graph.live_gating(|c| seqs[c]);
        assert_eq!(gating, [0, 1, 2, 4]);
        // Every sequence at or above the floor: the slowest, and where it is.
        assert_eq!(graph.scan_gating(&gating, 0, 30, load), Scan::Slowest(30, 3));
        assert_eq!(loads.replace(0), 4);
        // Starting at the laggard, a floor it is below stops the scan at once.
        assert_eq!(graph.scan_gating(&gating, 3, 31, load), Scan::Below(30, 3));
        assert_eq!(loads.replace(0), 1);
        // Stage 4 released since the list was made: gate on stage 3 behind it, floor and all.
        let released = [50, 40, 60, 70, RELEASED];
        assert_eq!(graph.scan_gating(&gating, 0, 40, |c| released[c]), Scan::Slowest(40, 0));
        assert_eq!(graph.scan_gating(&gating, 0, 45, |c| released[c]), Scan::Below(40, 1));
        assert_eq!(graph.scan_gating(&gating, 3, 45, |c| released[c]), Scan::Below(40, 0));
        assert_eq!(graph.live_gating(|c| released[c]), [0, 1, 2, 3]);
        assert_eq!(graph.scan_gating(&gating, 0, 0, |_| RELEASED), Scan::Nobody);
    }
}
