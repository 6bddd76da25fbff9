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
    /// The consumers no other consumer depends on: the producers' gating set while every
    /// consumer is live.
    last: Box<[usize]>,
    /// The graph as the header records it: per consumer, a mask of the consumers it follows.
    masks: Box<[u64]>,
}

impl Graph {
    /// The graph of a header's dependency masks (already validated: acyclic, in range).
    pub(crate) fn from_masks(masks: &[u64]) -> Graph {
        let count = masks.len();
        let dependencies =
            masks.iter().map(|&m| (0..count).filter(|&c| m & (1 << c) != 0).collect()).collect();
        let last = crate::graph::last_stages(masks).into_boxed_slice();
        Graph { dependencies, last, masks: masks.into() }
    }

    /// The graph as masks (see `graph`).
    pub(crate) fn masks(&self) -> &[u64] {
        &self.masks
    }

    /// The consumers `index` depends on directly (empty: it follows the cursor).
    pub(crate) fn dependencies(&self, index: usize) -> &[usize] {
        &self.dependencies[index]
    }

    /// Whether any consumer depends on `index`.
    pub(crate) fn has_followers(&self, index: usize) -> bool {
        self.dependencies.iter().any(|deps| deps.contains(&index))
    }

    /// The slowest live sequence among `roots`, where a released root is replaced by the stages
    /// it depends on (transitively); `None` when every stage reached that way is released (or
    /// `roots` is empty). `sequence` loads a consumer's sequence.
    ///
    /// Each consumer is visited at most once (at most 64 consumers), and a root that is live
    /// costs one load: nothing more while no stage is released.
    #[inline]
    pub(crate) fn slowest(&self, roots: &[usize], sequence: impl Fn(usize) -> u64) -> Option<u64> {
        let mut slowest: Option<u64> = None;
        // Consumers pushed so far: each is pushed (and so visited) at most once, so the stack
        // never holds more than one entry per consumer.
        let mut pushed = 0u64;
        let mut stack = [0usize; super::layout::MAX_CONSUMERS];
        let mut depth = 0;
        let mut push = |c: usize, stack: &mut [usize], depth: &mut usize| {
            if pushed & (1 << c) == 0 {
                pushed |= 1 << c;
                stack[*depth] = c;
                *depth += 1;
            }
        };
        for &root in roots {
            push(root, &mut stack, &mut depth);
        }
        while depth > 0 {
            depth -= 1;
            let c = stack[depth];
            let seq = sequence(c);
            if seq != RELEASED {
                slowest = Some(slowest.map_or(seq, |s| s.min(seq)));
            } else {
                // Released: gate on the stages it followed instead.
                for &dep in self.dependencies[c].iter() {
                    push(dep, &mut stack, &mut depth);
                }
            }
        }
        slowest
    }

    /// The slowest live sequence producers must not overtake (see [`slowest`](Self::slowest)),
    /// or `None` when every consumer they would wait for is released.
    #[inline]
    pub(crate) fn slowest_gating(&self, sequence: impl Fn(usize) -> u64) -> Option<u64> {
        self.slowest(&self.last, sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slowest(graph: &Graph, roots: &[usize], seqs: &[u64]) -> Option<u64> {
        graph.slowest(roots, |c| seqs[c])
    }

    #[test]
    fn a_released_last_stage_is_replaced_by_the_stages_it_follows() {
        // 0 -> 1, and 2 independent: producers gate on 1 and 2.
        let graph = Graph::from_masks(&[0, 0b001, 0]);
        assert_eq!(graph.slowest_gating(|c| [100, 50, 70][c]), Some(50));
        // 1 released: consumer 0 gates again.
        assert_eq!(graph.slowest_gating(|c| [100, RELEASED, 170][c]), Some(100));
        assert_eq!(graph.slowest_gating(|c| [RELEASED, RELEASED, 170][c]), Some(170));
        assert_eq!(graph.slowest_gating(|_| RELEASED), None);
    }

    #[test]
    fn a_stage_follows_the_live_stages_behind_a_released_one() {
        // 0 -> 1 -> 2: with 1 released, 2 follows 0.
        let graph = Graph::from_masks(&[0, 0b001, 0b010]);
        assert_eq!(slowest(&graph, graph.dependencies(2), &[30, RELEASED, 10]), Some(30));
        assert_eq!(slowest(&graph, graph.dependencies(2), &[RELEASED, RELEASED, 10]), None);
        // A diamond of released stages is visited once per stage.
        let diamond = Graph::from_masks(&[0, 0b001, 0b001, 0b110]);
        assert_eq!(diamond.slowest_gating(|c| [5, RELEASED, RELEASED, RELEASED][c]), Some(5));
    }
}
