//! `mpsc-2`, `mpsc-4`, `mpmc-2x2`: producer processes into a multi-producer ring of ours, one
//! claim per message; each consumer process (index) reads every message. The thread baselines
//! run the same counts (`crate::baselines::run_threads`).

use crate::harness::config::Config;
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::Unlink;
use crate::msg::Msg;
use crate::report::{throughput_sample, Sample};
use crate::scenarios::{create_ring, report_segment, Scenario, RING_SLOTS};

/// `producers` producer processes and `consumers` consumer processes over our ring; `msgs` in
/// all, split evenly between the producers.
pub fn run_ours<M: Msg>(
    cfg: &Config,
    sc: &Scenario,
    producers: usize,
    consumers: usize,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let (name, _ring) = create_ring::<M>(RING_SLOTS, consumers, true)?;
    let unlink = Unlink(vec![name.clone()]);
    report_segment::<M>(sc, &name, RING_SLOTS, printed);
    let per_producer = msgs / producers as u64;
    let total = per_producer * producers as u64;
    let mut kids = Vec::new();
    for index in 0..consumers {
        kids.push(Kid::spawn(
            cfg,
            "ours-consumer",
            M::KIND,
            &[
                ("ring", name.clone()),
                ("index", index.to_string()),
                ("msgs", total.to_string()),
                ("producers", producers.to_string()),
            ],
            cfg.cpu(producers + index).into_iter().collect(),
        )?);
    }
    for id in 0..producers {
        kids.push(Kid::spawn(
            cfg,
            "ours-producer",
            M::KIND,
            &[
                ("ring", name.clone()),
                ("id", id.to_string()),
                ("msgs", per_producer.to_string()),
                ("batch", "1".into()),
            ],
            cfg.cpu(id).into_iter().collect(),
        )?);
    }
    throughput_sample(&run_children(kids, unlink)?, total)
}
