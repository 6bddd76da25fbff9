//! Consumer dependency graphs: each consumer lists the consumers it follows (any DAG over up to
//! [`MAX_CONSUMERS`](crate::MAX_CONSUMERS) consumers). In a segment the graph is a table of
//! edges, one `u64` each: `consumer << 32 | dependency` ([`to_edges`], [`from_edges`]).

/// The dependency lists of `count` consumers built from `edges` (`consumer << 32 | dependency`),
/// sorted and without duplicates; an edge naming a consumer out of range is refused.
pub fn from_edges(count: usize, edges: &[u64]) -> Result<Vec<Vec<usize>>, String> {
    let mut dependencies = vec![Vec::new(); count];
    for &edge in edges {
        let (consumer, dependency) = ((edge >> 32) as usize, (edge & 0xffff_ffff) as usize);
        if consumer >= count || dependency >= count {
            return Err(format!(
                "consumer {consumer} depends on consumer {dependency}, but there are only {count}"
            ));
        }
        dependencies[consumer].push(dependency);
    }
    for list in &mut dependencies {
        list.sort_unstable();
        list.dedup();
    }
    Ok(dependencies)
}

/// The edge table of a graph (see the module docs), in consumer order.
pub fn to_edges(dependencies: &[Vec<usize>]) -> Vec<u64> {
    let mut edges = Vec::new();
    for (consumer, list) in dependencies.iter().enumerate() {
        edges.extend(list.iter().map(|&dep| (consumer as u64) << 32 | dep as u64));
    }
    edges
}

/// Checks that every dependency names an existing consumer, no consumer depends on itself, and
/// the graph has no cycle. O(consumers + edges).
pub fn validate(dependencies: &[Vec<usize>]) -> Result<(), String> {
    let count = dependencies.len();
    let mut followers = vec![Vec::new(); count];
    let mut waiting_for = vec![0usize; count];
    for (consumer, list) in dependencies.iter().enumerate() {
        for &dep in list {
            if dep >= count {
                return Err(format!(
                    "consumer {consumer} depends on consumer {dep}, but there are only {count}"
                ));
            }
            if dep == consumer {
                return Err(format!("consumer {consumer} depends on itself"));
            }
            followers[dep].push(consumer);
            waiting_for[consumer] += 1;
        }
    }
    // Kahn's algorithm: repeatedly remove consumers whose dependencies are all removed.
    let mut ready: Vec<usize> = (0..count).filter(|&c| waiting_for[c] == 0).collect();
    let mut removed = 0;
    while let Some(c) = ready.pop() {
        removed += 1;
        for &f in &followers[c] {
            waiting_for[f] -= 1;
            if waiting_for[f] == 0 {
                ready.push(f);
            }
        }
    }
    if removed != count {
        let in_cycle: Vec<usize> = (0..count).filter(|&c| waiting_for[c] > 0).take(16).collect();
        return Err(format!("the consumer graph has a cycle through consumers {in_cycle:?}"));
    }
    Ok(())
}

/// The consumers no other consumer depends on: producers gate on these only.
pub fn last_stages(dependencies: &[Vec<usize>]) -> Vec<usize> {
    let mut depended_on = vec![false; dependencies.len()];
    dependencies.iter().flatten().for_each(|&d| depended_on[d] = true);
    (0..dependencies.len()).filter(|&c| !depended_on[c]).collect()
}

/// Marks every consumer reachable from `from` through `edges` (not `from` itself, unless on a
/// cycle).
fn reachable(edges: &[Vec<usize>], from: usize) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut stack = edges[from].clone();
    while let Some(c) = stack.pop() {
        if !std::mem::replace(&mut seen[c], true) {
            stack.extend_from_slice(&edges[c]);
        }
    }
    seen
}

/// A consumer that may see the same slot at the same time as `consumer` (neither follows the
/// other, directly or indirectly), if there is one. A consumer with none may write the slots it
/// processes: the stages it follows are done with them, the stages that follow it (and the
/// producers) wait for it. O(consumers + edges).
pub fn concurrent_with(dependencies: &[Vec<usize>], consumer: usize) -> Option<usize> {
    let mut followers = vec![Vec::new(); dependencies.len()];
    for (c, list) in dependencies.iter().enumerate() {
        list.iter().for_each(|&d| followers[d].push(c));
    }
    let before = reachable(dependencies, consumer);
    let after = reachable(&followers, consumer);
    (0..dependencies.len()).find(|&other| other != consumer && !before[other] && !after[other])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(lists: &[&[usize]]) -> Vec<Vec<usize>> {
        lists.iter().map(|l| l.to_vec()).collect()
    }

    #[test]
    fn diamond_is_valid_and_gates_on_its_last_stage() {
        // 0 and 1 follow the cursor, 2 follows both.
        let deps = graph(&[&[], &[], &[0, 1]]);
        assert!(validate(&deps).is_ok());
        assert_eq!(last_stages(&deps), vec![2]);
        assert_eq!(last_stages(&graph(&[&[], &[]])), vec![0, 1]);
    }

    #[test]
    fn only_stages_ordered_with_every_other_stage_are_exclusive() {
        let diamond = graph(&[&[], &[], &[0, 1]]);
        assert_eq!(concurrent_with(&diamond, 0), Some(1));
        assert_eq!(concurrent_with(&diamond, 1), Some(0));
        assert_eq!(concurrent_with(&diamond, 2), None);
        let chain = graph(&[&[], &[0], &[1]]);
        assert!((0..3).all(|c| concurrent_with(&chain, c).is_none()));
        let fan_out = graph(&[&[], &[0], &[0]]);
        assert_eq!(concurrent_with(&fan_out, 0), None);
        assert_eq!(concurrent_with(&fan_out, 1), Some(2));
        assert_eq!(concurrent_with(&graph(&[&[]]), 0), None);
        assert_eq!(concurrent_with(&graph(&[&[], &[]]), 0), Some(1));
    }

    #[test]
    fn bad_graphs_are_refused() {
        assert!(validate(&graph(&[&[1], &[0]])).unwrap_err().contains("cycle"));
        assert!(validate(&graph(&[&[0]])).unwrap_err().contains("itself"));
        assert!(validate(&graph(&[&[2], &[]])).unwrap_err().contains("only 2"));
        assert!(from_edges(2, &[1 << 32 | 5]).unwrap_err().contains("only 2"));
    }

    #[test]
    fn graphs_far_beyond_64_consumers_are_checked_in_linear_time() {
        // A chain of 4,096 stages (300 under Miri, which runs this about a thousand times
        // slower: still far beyond a 64-bit mask), then the same chain closed into a cycle.
        let count: usize = if cfg!(miri) { 300 } else { 4096 };
        let mut chain: Vec<Vec<usize>> = (0..count).map(|c| vec![c.wrapping_sub(1)]).collect();
        chain[0].clear();
        assert!(validate(&chain).is_ok());
        assert_eq!(last_stages(&chain), vec![count - 1]);
        assert_eq!(from_edges(count, &to_edges(&chain)).unwrap(), chain);
        assert!((0..count).step_by(511).all(|c| concurrent_with(&chain, c).is_none()));
        chain[0].push(count - 1);
        assert!(validate(&chain).unwrap_err().contains("cycle"));
        // The last stage of a wide fan-out has every other follower of stage 0 as a peer.
        let fan_out: Vec<Vec<usize>> =
            (0..count).map(|c| if c == 0 { vec![] } else { vec![0] }).collect();
        assert_eq!(concurrent_with(&fan_out, count - 1), Some(1));
    }
}
