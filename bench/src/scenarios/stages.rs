//! `pipeline3` (0 -> 1 -> 2) and `diamond` (0, 1 -> 2): the LMAX paper's shapes across
//! processes, one producer process and a process per consumer of one ring, next to
//! `single-stage` (one producer, one consumer).

use crate::harness::config::Config;
use crate::harness::spawn::{run_children, Kid};
use crate::msg::Msg;
use crate::report::{throughput_sample, Sample};
use crate::scenarios::{create_graph, report_segment, Scenario, RING_SLOTS};

/// `pipeline3`, `diamond` and their `single-stage` reference: a producer process and one process
/// per consumer of the graph `deps`; the throughput of the whole graph (the last stage's end).
pub fn run_stages(
    cfg: &Config,
    sc: &Scenario,
    deps: &[&[usize]],
    batch: usize,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let (name, _ring, unlink) = create_graph::<u64>(RING_SLOTS, deps)?;
    report_segment::<u64>(sc, &name, RING_SLOTS, printed);
    let mut kids = Vec::new();
    for index in 0..deps.len() {
        kids.push(Kid::spawn(
            cfg,
            "ours-consumer",
            u64::KIND,
            &[
                ("ring", name.clone()),
                ("index", index.to_string()),
                ("msgs", msgs.to_string()),
                ("producers", "1".into()),
            ],
            cfg.cpu(1 + index).into_iter().collect(),
        )?);
    }
    kids.push(Kid::spawn(
        cfg,
        "ours-producer",
        u64::KIND,
        &[
            ("ring", name),
            ("id", "0".into()),
            ("msgs", msgs.to_string()),
            ("batch", batch.to_string()),
        ],
        cfg.cpu(0).into_iter().collect(),
    )?);
    throughput_sample(&run_children(kids, unlink)?, msgs)
}
