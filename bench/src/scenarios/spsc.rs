//! `seed`, `spsc-batch`, `spsc-64B` (and `wait-seed`): one producer process, one consumer
//! process, claims of one message or of up to 256. Our producer and consumer children (also those
//! of `mpsc-*`, `mpmc-*` and the stages), and `inproc`, the one-thread loop for instruction
//! counts.

use std::time::Instant;

use shm_disruptor::Disruptor;

use crate::baselines::raw::RawRing;
use crate::harness::child::{arg, ready_then_go, Args};
use crate::harness::config::{setup_consumer, wait_strategy, Config};
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{now_ns, unique_name, Unlink};
use crate::msg::{check_in_order, check_tagged, fill, Msg};
use crate::report::{throughput_sample, Sample};
use crate::scenarios::{create_ring, report_segment, Scenario, RING_SLOTS};
use crate::wire::Report;

pub fn ours_producer<M: Msg>(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<M>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let msgs: u64 = arg(args, "msgs")?;
    let id: u64 = arg(args, "id")?;
    let batch: usize = arg(args, "batch")?;
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    producer.set_wait_strategy(wait_strategy());
    ready_then_go()?;
    let start = now_ns();
    if batch <= 1 {
        for seq in 0..msgs {
            let mut claim = producer.claim().map_err(|e| e.to_string())?;
            *claim = M::make(id, seq);
            claim.commit();
        }
    } else {
        let mut seq = 0;
        while seq < msgs {
            let want = (msgs - seq).min(batch as u64) as usize;
            let mut claim = producer.claim_available(want).map_err(|e| e.to_string())?;
            let (a, b) = claim.slices_mut();
            fill(a, id, &mut seq);
            fill(b, id, &mut seq);
            claim.commit();
        }
    }
    let end = now_ns();
    Ok(Report { start_ns: Some(start), end_ns: Some(end), ..Report::default() }.with_memory())
}

pub fn ours_consumer<M: Msg>(args: &Args) -> Result<Report, String> {
    let ring = Disruptor::<M>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let total: u64 = arg(args, "msgs")?;
    let producers: usize = arg(args, "producers")?;
    let mut consumer = ring.consumer(arg(args, "index")?).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    ready_then_go()?;
    let mut received = 0u64;
    let mut expected = 0u64;
    let mut next = vec![0u64; producers];
    while received < total {
        let batch = consumer.consume();
        let (a, b) = batch.slices();
        if producers == 1 {
            check_in_order(a, &mut expected)?;
            check_in_order(b, &mut expected)?;
        } else {
            check_tagged(a, &mut next)?;
            check_tagged(b, &mut next)?;
        }
        received += batch.len() as u64;
        batch.commit();
    }
    Ok(Report { end_ns: Some(now_ns()), received: Some(received), ..Report::default() })
}

/// One thread claims, commits, consumes and commits `msgs` messages through a ring of ours (or
/// the raw ring): the loop to run under `valgrind --tool=callgrind` for instruction counts.
/// `__child inproc impl=ours|raw kind=u32 msgs=1000000 batch=1`.
pub fn inproc<M: Msg>(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let batch: usize = arg(args, "batch")?;
    let imp: String = arg(args, "impl")?;
    let name = unique_name("shmd-inproc");
    let _unlink = Unlink(vec![name.clone()]);
    let start = Instant::now();
    let (mut sent, mut expected) = (0u64, 0u64);
    if imp == "raw" {
        let ring = RawRing::<M>::create(&name, RING_SLOTS as u64).map_err(|e| e.to_string())?;
        let (mut producer, mut consumer) = (ring.producer(), ring.consumer());
        while sent < msgs {
            let slots = producer.claim((msgs - sent).min(batch as u64) as usize);
            fill(slots, 0, &mut sent);
            let n = slots.len();
            producer.publish(n);
            let got = consumer.poll();
            check_in_order(got, &mut expected)?;
            let n = got.len();
            consumer.release(n);
        }
    } else {
        let ring = Disruptor::<M>::builder(&name)
            .capacity(RING_SLOTS)
            .consumers(1)
            .single_producer()
            .create()
            .map_err(|e| e.to_string())?;
        let mut producer = ring.producer().map_err(|e| e.to_string())?;
        let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
        producer.set_wait_strategy(wait_strategy());
        setup_consumer(&mut consumer);
        while sent < msgs {
            if batch <= 1 {
                let mut claim = producer.claim().map_err(|e| e.to_string())?;
                *claim = M::make(0, sent);
                sent += 1;
                claim.commit();
            } else {
                let want = (msgs - sent).min(batch as u64) as usize;
                let mut claim = producer.claim_available(want).map_err(|e| e.to_string())?;
                let (a, b) = claim.slices_mut();
                fill(a, 0, &mut sent);
                fill(b, 0, &mut sent);
                claim.commit();
            }
            let got = consumer.consume();
            let (a, b) = got.slices();
            check_in_order(a, &mut expected)?;
            check_in_order(b, &mut expected)?;
            got.commit();
        }
    }
    let elapsed = start.elapsed();
    Ok(Report {
        msgs: Some(msgs),
        ns_per_msg: Some(elapsed.as_nanos() as f64 / msgs as f64),
        ..Report::default()
    })
}

/// `seed`, `spsc-*` and `wait-seed` over our ring: a producer process and a consumer process.
pub fn run_ours<M: Msg>(
    cfg: &Config,
    sc: &Scenario,
    batch: usize,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    let (name, _ring) = create_ring::<M>(RING_SLOTS, 1, false)?;
    let unlink = Unlink(vec![name.clone()]);
    report_segment::<M>(sc, &name, RING_SLOTS, printed);
    let ring = ("ring", name);
    let kids = vec![
        Kid::spawn(
            cfg,
            "ours-consumer",
            M::KIND,
            &[
                ring.clone(),
                ("index", "0".into()),
                ("msgs", msgs.to_string()),
                ("producers", "1".into()),
            ],
            cfg.cpu(1).into_iter().collect(),
        )?,
        Kid::spawn(
            cfg,
            "ours-producer",
            M::KIND,
            &[ring, ("id", "0".into()), ("msgs", msgs.to_string()), ("batch", batch.to_string())],
            cfg.cpu(0).into_iter().collect(),
        )?,
    ];
    throughput_sample(&run_children(kids, unlink)?, msgs)
}
