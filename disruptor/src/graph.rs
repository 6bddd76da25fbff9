//! Consumer dependency graphs: each consumer lists (as a bit mask) the consumers it follows.

/// Checks that every dependency names an existing consumer, no consumer depends on itself, and
/// the graph has no cycle.
pub fn validate(dependencies: &[u64]) -> Result<(), String> {
    let count = dependencies.len();
    for (consumer, &mask) in dependencies.iter().enumerate() {
        if count < 64 && mask >> count != 0 {
            return Err(format!(
                "consumer {consumer} depends on consumer {}, but there are only {count}",
                63 - mask.leading_zeros()
            ));
        }
        if mask & (1 << consumer) != 0 {
            return Err(format!("consumer {consumer} depends on itself"));
        }
    }
    // Kahn's algorithm: repeatedly remove consumers whose dependencies are all removed.
    let mut removed = 0u64;
    for _ in 0..count {
        let ready = (0..count)
            .filter(|&c| removed & (1 << c) == 0 && dependencies[c] & !removed == 0)
            .fold(0u64, |m, c| m | (1 << c));
        if ready == 0 {
            break;
        }
        removed |= ready;
    }
    let all = if count == 64 { u64::MAX } else { (1u64 << count) - 1 };
    if removed != all {
        let in_cycle: Vec<usize> = (0..count).filter(|&c| removed & (1 << c) == 0).collect();
        return Err(format!("the consumer graph has a cycle through consumers {in_cycle:?}"));
    }
    Ok(())
}

/// The consumers no other consumer depends on: producers gate on these only.
pub fn last_stages(dependencies: &[u64]) -> Vec<usize> {
    let depended_on = dependencies.iter().fold(0u64, |m, &d| m | d);
    (0..dependencies.len()).filter(|&c| depended_on & (1 << c) == 0).collect()
}

/// The consumers `consumer` follows, directly or through other stages (as a bit mask).
fn ancestors(dependencies: &[u64], consumer: usize) -> u64 {
    let mut found = dependencies[consumer];
    loop {
        let more = (0..dependencies.len())
            .filter(|&c| found & (1 << c) != 0)
            .fold(found, |m, c| m | dependencies[c]);
        if more == found {
            return found;
        }
        found = more;
    }
}

/// A consumer that may see the same slot at the same time as `consumer` (neither follows the
/// other, directly or indirectly), if there is one. A consumer with none may write the slots it
/// processes: the stages it follows are done with them, the stages that follow it (and the
/// producers) wait for it.
pub fn concurrent_with(dependencies: &[u64], consumer: usize) -> Option<usize> {
    let before = ancestors(dependencies, consumer);
    (0..dependencies.len()).find(|&other| {
        other != consumer
            && before & (1 << other) == 0
            && ancestors(dependencies, other) & (1 << consumer) == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diamond_is_valid_and_gates_on_its_last_stage() {
        // 0 and 1 follow the cursor, 2 follows both.
        let deps = [0, 0, 0b11];
        assert!(validate(&deps).is_ok());
        assert_eq!(last_stages(&deps), vec![2]);
        assert_eq!(last_stages(&[0, 0]), vec![0, 1]);
    }

    #[test]
    fn only_stages_ordered_with_every_other_stage_are_exclusive() {
        let diamond = [0, 0, 0b11];
        assert_eq!(concurrent_with(&diamond, 0), Some(1));
        assert_eq!(concurrent_with(&diamond, 1), Some(0));
        assert_eq!(concurrent_with(&diamond, 2), None);
        let chain = [0, 0b1, 0b10];
        assert!((0..3).all(|c| concurrent_with(&chain, c).is_none()));
        let fan_out = [0, 0b1, 0b1];
        assert_eq!(concurrent_with(&fan_out, 0), None);
        assert_eq!(concurrent_with(&fan_out, 1), Some(2));
        assert_eq!(concurrent_with(&[0], 0), None);
        assert_eq!(concurrent_with(&[0, 0], 0), Some(1));
    }

    #[test]
    fn bad_graphs_are_refused() {
        assert!(validate(&[0b10, 0b01]).unwrap_err().contains("cycle"));
        assert!(validate(&[0b1]).unwrap_err().contains("itself"));
        assert!(validate(&[0b100, 0]).unwrap_err().contains("only 2"));
    }
}
