//! Summaries that keep the output of rings with many consumers (up to 65,536) readable: counts
//! per state, lag percentiles, the slowest consumers, index lists as ranges, and the dependency
//! graph grouped by the stages consumers follow.

use std::collections::HashMap;

use shm_disruptor_inspect::{ConsumerInfo, ConsumerState};

/// Rings with at most this many consumers are shown one row per consumer, as they always were;
/// larger ones are summarised unless `--all` is given.
pub const SMALL_RING: usize = 16;

/// How many lines of the grouped dependency graph are shown without `--all`.
pub const GRAPH_GROUPS: usize = 20;

/// How many items (an index or a range of indices) a list of indices shows without `--all`.
pub const LIST_ITEMS: usize = 32;

/// How many producer records are shown, the ones that matter first, when more than
/// [`SMALL_RING`] have an owner or a pending claim (and `--all` is not given).
pub const PRODUCER_ROWS: usize = 10;

/// How much of a ring's consumers the text output shows.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// Every consumer and producer record, one row each.
    pub all: bool,
    /// How many of the slowest consumers a summary lists.
    pub slowest: usize,
}

impl View {
    /// Whether a ring of `consumer_count` consumers is summarised rather than shown row by row.
    pub fn summarised(&self, consumer_count: usize) -> bool {
        !self.all && consumer_count > SMALL_RING
    }

    /// Whether index lists are written as ranges (a large ring, even with `--all`: the ranges
    /// lose nothing).
    pub fn ranges(&self, consumer_count: usize) -> bool {
        consumer_count > SMALL_RING
    }

    /// How many items a list of indices shows (all of them with `--all`).
    pub fn list_cap(&self) -> Option<usize> {
        (!self.all).then_some(LIST_ITEMS)
    }
}

/// Lag statistics over the consumers that are not released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LagStats {
    /// How many consumers they cover.
    pub count: usize,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// What a summary says about a ring's consumers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub live: usize,
    pub dead: usize,
    pub gone: usize,
    pub released: usize,
    /// `None` when every consumer is released.
    pub lag: Option<LagStats>,
    /// Positions (in the consumer list) of the slowest consumers, slowest first: the highest
    /// lag, then the lowest index. Released consumers have no lag and are never listed.
    pub slowest: Vec<usize>,
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of `sorted` (ascending, not empty): the
/// smallest value that at least `p` percent of the values are at or below.
pub fn percentile(sorted: &[u64], p: usize) -> u64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// Counts, lag percentiles and the `slowest` slowest of `consumers`.
pub fn summarise(consumers: &[ConsumerInfo], slowest: usize) -> Summary {
    let count = |state| consumers.iter().filter(|c| c.state == state).count();
    let mut lags: Vec<u64> = consumers.iter().filter_map(|c| c.lag).collect();
    lags.sort_unstable();
    let lag = (!lags.is_empty()).then(|| LagStats {
        count: lags.len(),
        min: lags[0],
        p50: percentile(&lags, 50),
        p90: percentile(&lags, 90),
        p99: percentile(&lags, 99),
        max: lags[lags.len() - 1],
    });
    let mut order: Vec<usize> =
        (0..consumers.len()).filter(|&i| consumers[i].lag.is_some()).collect();
    order.sort_unstable_by_key(|&i| (std::cmp::Reverse(consumers[i].lag), consumers[i].index));
    order.truncate(slowest);
    Summary {
        total: consumers.len(),
        live: count(ConsumerState::Live),
        dead: count(ConsumerState::Dead),
        gone: count(ConsumerState::Gone),
        released: count(ConsumerState::Released),
        lag,
        slowest: order,
    }
}

impl Summary {
    /// `1000 consumers: 4 live, 1 dead, 985 gone, 10 released`
    pub fn counts_text(&self) -> String {
        format!(
            "{} consumer{}: {} live, {} dead, {} gone, {} released",
            self.total,
            if self.total == 1 { "" } else { "s" },
            self.live,
            self.dead,
            self.gone,
            self.released
        )
    }

    /// `lag: min 0  p50 20  p90 36  p99 48  max 50  (990 not released)`
    pub fn lag_text(&self) -> String {
        match &self.lag {
            Some(l) => format!(
                "lag: min {}  p50 {}  p90 {}  p99 {}  max {}  ({} not released)",
                l.min, l.p50, l.p90, l.p99, l.max, l.count
            ),
            None => "lag: -  (every consumer is released)".into(),
        }
    }

    /// `slowest 10 of 990 not released, by lag (--slowest N to change, --all for every
    /// consumer):`
    pub fn slowest_title(&self) -> String {
        let of = self.lag.map_or(0, |l| l.count);
        format!(
            "slowest {} of {of} not released, by lag (--slowest N for more, --all for every \
             consumer):",
            self.slowest.len()
        )
    }
}

/// `indices` (sorted or not) as runs of consecutive indices.
pub fn runs(indices: &[usize]) -> Vec<(usize, usize)> {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => out.push((i, i)),
        }
    }
    out
}

/// `0, 1` as today; with `ranges`, runs of three or more are written `a..=b`
/// (`0..=9, 12, 14, 15`); with a `cap`, at most that many items, then `... (K more)`.
pub fn indices_text(indices: &[usize], ranges: bool, cap: Option<usize>) -> String {
    let items: Vec<(usize, usize)> = if ranges {
        runs(indices)
            .into_iter()
            .flat_map(
                |(a, b)| if b >= a + 2 { vec![(a, b)] } else { (a..=b).map(|i| (i, i)).collect() },
            )
            .collect()
    } else {
        indices.iter().map(|&i| (i, i)).collect()
    };
    let shown = cap.map_or(items.len(), |cap| cap.min(items.len()));
    let mut parts: Vec<String> = items[..shown]
        .iter()
        .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}..={b}") })
        .collect();
    let hidden: usize = items[shown..].iter().map(|&(a, b)| b - a + 1).sum();
    if hidden > 0 {
        parts.push(format!("... ({hidden} more)"));
    }
    parts.join(", ")
}

/// `consumer 3` or `consumers 0, 1` (`consumers 0..=999` with `ranges`).
pub fn consumers_text(indices: &[usize], ranges: bool, cap: Option<usize>) -> String {
    format!(
        "consumer{} {}",
        if indices.len() == 1 { "" } else { "s" },
        indices_text(indices, ranges, cap)
    )
}

/// What a consumer follows: `cursor`, or the consumers it depends on.
pub fn followed(dependencies: &[usize], ranges: bool, cap: Option<usize>) -> String {
    if dependencies.is_empty() {
        "cursor".into()
    } else {
        consumers_text(dependencies, ranges, cap)
    }
}

/// The consumers grouped by the stages they follow, in the order of each group's first
/// consumer: `(dependencies, members)`.
pub fn graph_groups(consumers: &[ConsumerInfo]) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut groups: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let mut by_dependencies: HashMap<&[usize], usize> = HashMap::new();
    for c in consumers {
        let group = *by_dependencies.entry(&c.dependencies).or_insert_with(|| {
            groups.push((c.dependencies.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[group].1.push(c.index);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(index: usize, lag: Option<u64>, state: ConsumerState) -> ConsumerInfo {
        ConsumerInfo {
            index,
            sequence: lag.map_or(u64::MAX, |l| 100 - l),
            lag,
            state,
            owner_pid: None,
            commits: 0,
            dependencies: Vec::new(),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!([50, 90, 99, 100].map(|p| percentile(&v, p)), [5, 9, 10, 10]);
        assert_eq!(percentile(&[7], 1), 7);
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!([50, 90, 99].map(|p| percentile(&v, p)), [499, 899, 989]);
    }

    #[test]
    fn summaries_count_states_and_order_the_slowest() {
        let consumers = vec![
            consumer(0, Some(5), ConsumerState::Live),
            consumer(1, None, ConsumerState::Released),
            consumer(2, Some(9), ConsumerState::Dead),
            consumer(3, Some(5), ConsumerState::Gone),
            consumer(4, Some(1), ConsumerState::Gone),
        ];
        let s = summarise(&consumers, 3);
        assert_eq!((s.total, s.live, s.dead, s.gone, s.released), (5, 1, 1, 2, 1));
        assert_eq!(s.lag, Some(LagStats { count: 4, min: 1, p50: 5, p90: 9, p99: 9, max: 9 }));
        assert_eq!(s.slowest, [2, 0, 3]);
        let released = [consumer(0, None, ConsumerState::Released)];
        assert_eq!(summarise(&released, 10).lag, None);
    }

    #[test]
    fn indices_become_ranges() {
        assert_eq!(indices_text(&[0, 1], false, None), "0, 1");
        assert_eq!(indices_text(&[0, 1, 2], false, None), "0, 1, 2");
        assert_eq!(indices_text(&[0, 1, 2], true, None), "0..=2");
        assert_eq!(indices_text(&[9, 0, 1, 2, 3, 5, 6, 12], true, None), "0..=3, 5, 6, 9, 12");
        assert_eq!(indices_text(&[0, 2, 4, 6, 7, 8, 9], true, Some(2)), "0, 2, ... (5 more)");
        assert_eq!(consumers_text(&(0..1000).collect::<Vec<_>>(), true, None), "consumers 0..=999");
        assert_eq!(followed(&[], true, None), "cursor");
        assert_eq!(followed(&[4], true, None), "consumer 4");
    }

    #[test]
    fn the_graph_groups_consumers_by_what_they_follow() {
        let mut consumers: Vec<ConsumerInfo> =
            (0..6).map(|i| consumer(i, Some(0), ConsumerState::Gone)).collect();
        consumers[3].dependencies = vec![0, 1];
        consumers[5].dependencies = vec![0, 1];
        assert_eq!(
            graph_groups(&consumers),
            [(vec![], vec![0, 1, 2, 4]), (vec![0, 1], vec![3, 5])]
        );
    }
}
