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
    fn bad_graphs_are_refused() {
        assert!(validate(&[0b10, 0b01]).unwrap_err().contains("cycle"));
        assert!(validate(&[0b1]).unwrap_err().contains("itself"));
        assert!(validate(&[0b100, 0]).unwrap_err().contains("only 2"));
    }
}
