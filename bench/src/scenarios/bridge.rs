//! `bridge`: 32-byte messages from a ring of ours in one process, exported over the bridge
//! (`shm-disruptor-bridge`: `export` and `import`, loopback TCP, an explicit endpoint on a free
//! port) into a ring of ours in another process, read and checked by a consumer there; next to
//! Zenoh's own publisher -> subscriber throughput with the same batching and Zenoh's own ping
//! (`crate::baselines::zenoh`), all four run interleaved.
//!
//! - `bridge`: the source process's producer publishes `msgs` messages (claims of up to 256)
//!   while its exporter (consumer index 0, batches of up to [`BRIDGE_BATCH`]) sends them; the
//!   destination process's importer copies them into its ring, whose consumer checks each in
//!   order. Throughput: from the producer's start to the consumer's last message.
//! - `bridge-latency`: the bridge's added latency, one message in flight: the producer stamps
//!   each message (`CLOCK_MONOTONIC`) just before committing it into the source ring, the
//!   destination's consumer records `now - stamp` as soon as it reads it (one-way, not
//!   halved: both processes read the same clock), and the producer sends the next message once
//!   the consumer has committed it (it reads the destination ring's consumer sequence).
//!
//! Before reporting ready the source process sends 1,024 warm-up messages and waits until the
//! importer has acknowledged them: the bridge is up and its sessions are connected.

use shm_disruptor::Disruptor;
use shm_disruptor_bridge::{export, import, Endpoints, ExportConfig, ImportConfig};

use crate::baselines::zenoh::{free_endpoint, one_way_sample, run_ping, run_pubsub};
use crate::harness::child::{arg, hold_until_released, ready_then_go, Args};
use crate::harness::config::{setup_consumer, wait_strategy, Config};
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{now_ns, Unlink};
use crate::msg::{check_in_order, Msg, Msg32};
use crate::report::{throughput_sample, Sample, Summary};
use crate::scenarios::pingpong::{new_histogram, warmup};
use crate::scenarios::{create_ring, report_segment, Impl, Scenario, BATCH, RING_SLOTS};
use crate::wire::{Report, QUANTILES};

/// The most messages per Zenoh put: the exporter's default batch (`ExportConfig::batch`), and
/// the `zenoh` baseline's batch.
pub const BRIDGE_BATCH: usize = 1024;

/// Messages sent and acknowledged before the source process reports ready.
const WARM: u64 = 1024;

/// Round trips (or messages one in flight) of the latency impls for `msgs` throughput messages.
pub fn latency_rounds(msgs: u64) -> u64 {
    (msgs / 500).max(200)
}

/// Waits until `ready`, looking every 20 µs: the source's producer waits for an
/// acknowledgement or for the destination's consumer without taking a CPU from the bridge's
/// threads (as Zenoh's pinger sleeps in `recv`). It never delays a measured message: the
/// latency stamp is taken after it returns, and the throughput end only by up to 20 µs.
fn poll_until(mut ready: impl FnMut() -> bool) {
    while !ready() {
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// The source process: a producer and the exporter.
pub fn bridge_source(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let latency = arg::<String>(args, "mode")? == "latency";
    let ring =
        Disruptor::<Msg32>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let destination =
        Disruptor::<Msg32>::open(&arg::<String>(args, "dest")?).map_err(|e| e.to_string())?;
    let rt = runtime()?;
    let config = ExportConfig {
        key: Some(arg(args, "key")?),
        endpoints: Endpoints { listen: vec![arg(args, "endpoint")?], ..Endpoints::default() },
        batch: BRIDGE_BATCH,
        ..ExportConfig::default()
    };
    let exporter = {
        let ring = ring.clone();
        rt.spawn(async move { export(&ring, 0, config).await })
    };
    let acknowledged = |n: u64| ring.consumer_sequence(0).is_some_and(|s| s >= n);
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    producer.set_wait_strategy(wait_strategy());
    // Warm-up: the bridge is up once these are acknowledged.
    producer
        .publish_batch(WARM as usize, |i, slot| *slot = Msg32::make(0, i as u64))
        .map_err(|e| e.to_string())?;
    poll_until(|| acknowledged(WARM) || exporter.is_finished());
    if exporter.is_finished() {
        return Err(format!("the exporter stopped: {:?}", rt.block_on(exporter)));
    }
    ready_then_go()?;
    let start = now_ns();
    if latency {
        for i in 0..warmup(msgs) + msgs {
            let seq = WARM + i;
            let mut claim = producer.claim().map_err(|e| e.to_string())?;
            *claim = [seq, now_ns(), seq, seq];
            claim.commit();
            poll_until(|| destination.consumer_sequence(0).is_some_and(|s| s > seq));
        }
    } else {
        let mut seq = WARM;
        while seq < WARM + msgs {
            let n = (WARM + msgs - seq).min(BATCH as u64) as usize;
            producer
                .publish_batch(n, |i, slot| *slot = Msg32::make(0, seq + i as u64))
                .map_err(|e| e.to_string())?;
            seq += n as u64;
        }
        // Done once everything is acknowledged (in the destination ring).
        poll_until(|| acknowledged(WARM + msgs) || exporter.is_finished());
    }
    let end = now_ns();
    if exporter.is_finished() {
        return Err(format!("the exporter stopped: {:?}", rt.block_on(exporter)));
    }
    Ok(Report { start_ns: Some(start), end_ns: Some(end), ..Report::default() }.with_memory())
}

/// The destination process: the importer, and a consumer that checks every message.
pub fn bridge_destination(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let latency = arg::<String>(args, "mode")? == "latency";
    let ring =
        Disruptor::<Msg32>::open(&arg::<String>(args, "ring")?).map_err(|e| e.to_string())?;
    let rt = runtime()?;
    let config = ImportConfig {
        key: Some(arg(args, "key")?),
        endpoints: Endpoints { connect: vec![arg(args, "endpoint")?], ..Endpoints::default() },
        importer_id: Some("bench".into()),
        state_dir: arg::<String>(args, "state")?.into(),
        ..ImportConfig::default()
    };
    let importer = {
        let ring = ring.clone();
        rt.spawn(async move { import(&ring, config).await })
    };
    let mut consumer = ring.consumer(0).map_err(|e| e.to_string())?;
    setup_consumer(&mut consumer);
    // The warm-up messages (the source sends no more before it is ready).
    let mut expected = 0;
    while expected < WARM {
        let batch = consumer.consume();
        let (a, b) = batch.slices();
        check_in_order(a, &mut expected)?;
        check_in_order(b, &mut expected)?;
        batch.commit();
    }
    ready_then_go()?;
    if !latency {
        while expected < WARM + msgs {
            let batch = consumer.consume();
            let (a, b) = batch.slices();
            check_in_order(a, &mut expected)?;
            check_in_order(b, &mut expected)?;
            batch.commit();
        }
        let end = now_ns();
        if importer.is_finished() {
            return Err(format!("the importer stopped: {:?}", rt.block_on(importer)));
        }
        // The importer acknowledges the last runs after the consumer may have read them: it
        // runs on until the source has seen every acknowledgement (and reported).
        hold_until_released((importer, rt));
        return Ok(Report { end_ns: Some(end), received: Some(msgs), ..Report::default() });
    }
    let warm = warmup(msgs);
    let mut hist = new_histogram()?;
    let mut started = now_ns();
    for i in 0..warm + msgs {
        if i == warm {
            started = now_ns();
        }
        let batch = consumer.consume();
        let now = now_ns();
        let seq = WARM + i;
        let m = *batch.iter().next().expect("a batch is never empty");
        if batch.len() != 1 || m[0] != seq || m[2] != seq || m[3] != seq {
            return Err(format!("message {seq}: {m:?}, {} in flight", batch.len()));
        }
        batch.commit();
        if i >= warm {
            hist.record(now.saturating_sub(m[1]).max(1)).map_err(|e| e.to_string())?;
        }
    }
    let elapsed = now_ns() - started;
    let q = |q: f64| hist.value_at_quantile(q) as f64;
    Ok(Report {
        rounds: Some(msgs),
        elapsed_ns: Some(elapsed),
        p50_ns: Some(q(0.5)),
        p99_ns: Some(q(0.99)),
        p999_ns: Some(q(0.999)),
        max_ns: Some(hist.max() as f64),
        mean_ns: Some(hist.mean()),
        percentiles: QUANTILES.iter().map(|&x| [x, q(x)]).collect(),
        ..Report::default()
    })
}

/// A run of `bridge` (throughput, or latency with `latency`) over two rings of ours.
fn run_ours(
    cfg: &Config,
    sc: &Scenario,
    msgs: u64,
    latency: bool,
    printed: &mut bool,
) -> Result<Sample, String> {
    let (source, _a) = create_ring::<Msg32>(RING_SLOTS, 1, false)?;
    let (destination, _b) = create_ring::<Msg32>(RING_SLOTS, 1, false)?;
    let unlink = Unlink(vec![source.clone(), destination.clone()]);
    report_segment::<Msg32>(sc, &source, RING_SLOTS, printed);
    let state = std::env::temp_dir()
        .join(format!("shmd-bench-bridge-{}", destination.trim_start_matches('/')));
    std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    let key = shm_disruptor_bridge::default_key(&source);
    let common = |ring: &str| {
        [
            ("ring", ring.to_owned()),
            ("dest", destination.clone()),
            ("key", key.clone()),
            ("msgs", msgs.to_string()),
            ("mode", if latency { "latency" } else { "throughput" }.to_owned()),
        ]
    };
    let outcome = (|| {
        let endpoint = free_endpoint()?;
        let mut dst_args = common(&destination).to_vec();
        dst_args.push(("endpoint", endpoint.clone()));
        dst_args.push(("state", state.display().to_string()));
        let mut src_args = common(&source).to_vec();
        src_args.push(("endpoint", endpoint));
        let kids = vec![
            Kid::spawn(
                cfg,
                "bridge-destination",
                Msg32::KIND,
                &dst_args,
                cfg.cpu(1).into_iter().collect(),
            )?,
            Kid::spawn(
                cfg,
                "bridge-source",
                Msg32::KIND,
                &src_args,
                cfg.cpu(0).into_iter().collect(),
            )?,
        ];
        run_children(kids, unlink)
    })();
    let _ = std::fs::remove_dir_all(&state);
    let results = outcome?;
    if latency {
        one_way_sample(&results)
    } else {
        let mut sample = throughput_sample(&results, msgs)?;
        sample.extra.push(("batch", BRIDGE_BATCH as f64));
        Ok(sample)
    }
}

/// A run of one of `bridge`'s impls.
pub fn run_bridge(
    cfg: &Config,
    sc: &Scenario,
    imp: Impl,
    msgs: u64,
    printed: &mut bool,
) -> Result<Sample, String> {
    match imp {
        Impl::Bridge => run_ours(cfg, sc, msgs, false, printed),
        Impl::BridgeLatency => run_ours(cfg, sc, latency_rounds(msgs), true, printed),
        Impl::Zenoh => run_pubsub(cfg, msgs, BRIDGE_BATCH),
        Impl::ZenohPing => run_ping(cfg, latency_rounds(msgs)),
        other => Err(format!("no bridge run of {}", other.name())),
    }
}

/// `bridge`'s ratios: the bridge's throughput over Zenoh's (`ratio_vs_zenoh`), and its added
/// latency over Zenoh's ping (`p50_vs_zenoh-ping`, `p99_vs_zenoh-ping`).
pub fn add_bridge_ratios(summaries: &mut [Summary]) {
    let find = |imp: Impl| summaries.iter().find(|s| s.imp == imp && s.runs > 0).cloned();
    let (zenoh, ping) = (find(Impl::Zenoh), find(Impl::ZenohPing));
    for s in summaries.iter_mut().filter(|s| s.runs > 0) {
        match (s.imp, &zenoh, &ping) {
            (Impl::Bridge, Some(z), _) => {
                s.ratios.push((z.imp.name(), s.msgs_per_s / z.msgs_per_s))
            }
            (Impl::BridgeLatency, _, Some(p)) => {
                if let (Some(l), Some(pl)) = (s.latency, p.latency) {
                    s.latency_ratios.push((p.imp.name(), l[0] / pl[0], l[1] / pl[1]));
                }
            }
            _ => {}
        }
    }
}
