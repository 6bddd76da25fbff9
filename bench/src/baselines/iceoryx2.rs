//! `iceoryx2` (the `iceoryx2` feature): iceoryx2's publish-subscribe between two processes
//! (`ipc::Service`), what a Rust user would pick instead of this crate for processes.
//!
//! - `seed`: a sample of one message each (`loan_uninit`, `write_payload`, `send`);
//!   `spsc-batch` and `spsc-64B`: a slice sample of up to `BATCH` messages each
//!   (`loan_slice_uninit`, `write_from_fn`), as our claims of up to 256. The service holds
//!   `RING_SLOTS` messages per subscriber (65,536 samples of one, 256 slices of 256; or
//!   `BENCH_ICEORYX2_BUFFER`), without safe overflow, and the publisher retries until delivered, so nothing is lost; the subscriber
//!   polls `receive` and checks every message in order.
//! - `pingpong`: two services, one sample in flight; each side polls `receive`.
//!
//! Each child makes its own node; a unique service name per run keeps the runs apart. A sender
//! keeps its node and ports after reporting, until the parent releases it (once the receiver has
//! reported too), so that nothing in flight is torn down under the receiver.

use std::time::Instant;

use iceoryx2::prelude::*;

use crate::harness::child::{arg, hold_until_released, ready_then_go, Args};
use crate::harness::config::Config;
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{now_ns, unique_name, Unlink};
use crate::msg::{check_in_order, Msg, Msg64};
use crate::report::{latency_sample, throughput_sample, Sample};
use crate::scenarios::pingpong::{latency_report, new_histogram, warmup};
use crate::scenarios::{Scenario, Shape, BATCH, RING_SLOTS};
use crate::wire::Report;

/// Messages the service holds per subscriber: `BENCH_ICEORYX2_BUFFER`, or as many as our ring's
/// slots.
fn buffer_msgs() -> usize {
    crate::harness::config::env_parse("BENCH_ICEORYX2_BUFFER", RING_SLOTS).max(1)
}

fn e<E: std::fmt::Debug>(e: E) -> String {
    format!("iceoryx2: {e:?}")
}

/// A node of this process (errors only on the console).
fn node() -> Result<Node<ipc::Service>, String> {
    set_log_level_from_env_or(LogLevel::Error);
    NodeBuilder::new().create::<ipc::Service>().map_err(e)
}

fn service_name(args: &Args, key: &str) -> Result<ServiceName, String> {
    ServiceName::new(&arg::<String>(args, key)?).map_err(e)
}

/// Runs `role` (`publisher`, `subscriber`, `pinger`, `ponger`) with the message type of `kind=`.
pub fn run_role(role: &str, args: &Args) -> Result<Report, String> {
    match args.get("kind").map(String::as_str).unwrap_or("u64") {
        "u32" => run_typed::<u32>(role, args),
        "u64" => run_typed::<u64>(role, args),
        "64B" => run_typed::<Msg64>(role, args),
        other => Err(format!("no iceoryx2 runs of {other}")),
    }
}

fn run_typed<M: Msg + ZeroCopySend>(role: &str, args: &Args) -> Result<Report, String> {
    let batch: usize = args.get("batch").map_or(Ok(1), |_| arg(args, "batch"))?;
    match (role, batch > 1) {
        ("publisher", false) => publisher::<M>(args),
        ("publisher", true) => slice_publisher::<M>(args, batch),
        ("subscriber", false) => subscriber::<M>(args),
        ("subscriber", true) => slice_subscriber::<M>(args, batch),
        ("pinger", _) => pingpong::<M>(args, true),
        ("ponger", _) => pingpong::<M>(args, false),
        (other, _) => Err(format!("unknown iceoryx2 role {other}")),
    }
}

fn publisher<M: Msg + ZeroCopySend>(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let node = node()?;
    let service = node
        .service_builder(&service_name(args, "service")?)
        .publish_subscribe::<M>()
        .history_size(0)
        .subscriber_max_buffer_size(buffer_msgs())
        .enable_safe_overflow(false)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(e)?;
    let publisher = service
        .publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(e)?;
    ready_then_go()?;
    let start = now_ns();
    for seq in 0..msgs {
        publisher.loan_uninit().map_err(e)?.write_payload(M::make(0, seq)).send().map_err(e)?;
    }
    let end = now_ns();
    hold_until_released((publisher, service, node));
    Ok(Report { start_ns: Some(start), end_ns: Some(end), ..Report::default() }.with_memory())
}

fn slice_publisher<M: Msg + ZeroCopySend>(args: &Args, batch: usize) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let node = node()?;
    let service = node
        .service_builder(&service_name(args, "service")?)
        .publish_subscribe::<[M]>()
        .history_size(0)
        .subscriber_max_buffer_size((buffer_msgs() / batch).max(1))
        .enable_safe_overflow(false)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(e)?;
    let publisher = service
        .publisher_builder()
        .initial_max_slice_len(batch)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(e)?;
    ready_then_go()?;
    let start = now_ns();
    let mut seq = 0u64;
    while seq < msgs {
        let n = (msgs - seq).min(batch as u64) as usize;
        let first = seq;
        let sample = publisher.loan_slice_uninit(n).map_err(e)?;
        let sample = sample.write_from_fn(|i| M::make(0, first + i as u64));
        sample.send().map_err(e)?;
        seq += n as u64;
    }
    let end = now_ns();
    hold_until_released((publisher, service, node));
    Ok(Report { start_ns: Some(start), end_ns: Some(end), ..Report::default() }.with_memory())
}

fn subscriber<M: Msg + ZeroCopySend>(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let node = node()?;
    let service = node
        .service_builder(&service_name(args, "service")?)
        .publish_subscribe::<M>()
        .history_size(0)
        .subscriber_max_buffer_size(buffer_msgs())
        .enable_safe_overflow(false)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(e)?;
    let subscriber = service.subscriber_builder().create().map_err(e)?;
    ready_then_go()?;
    let mut expected = 0u64;
    while expected < msgs {
        match subscriber.receive().map_err(e)? {
            Some(sample) => check_in_order(std::slice::from_ref(sample.payload()), &mut expected)?,
            None => std::hint::spin_loop(),
        }
    }
    let end = now_ns();
    Ok(Report { end_ns: Some(end), received: Some(expected), ..Report::default() })
}

fn slice_subscriber<M: Msg + ZeroCopySend>(args: &Args, batch: usize) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let node = node()?;
    let service = node
        .service_builder(&service_name(args, "service")?)
        .publish_subscribe::<[M]>()
        .history_size(0)
        .subscriber_max_buffer_size((buffer_msgs() / batch).max(1))
        .enable_safe_overflow(false)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(e)?;
    let subscriber = service.subscriber_builder().create().map_err(e)?;
    ready_then_go()?;
    let mut expected = 0u64;
    while expected < msgs {
        match subscriber.receive().map_err(e)? {
            Some(sample) => check_in_order(sample.payload(), &mut expected)?,
            None => std::hint::spin_loop(),
        }
    }
    let end = now_ns();
    Ok(Report { end_ns: Some(end), received: Some(expected), ..Report::default() })
}

/// `pingpong` over two services (`ping`, `pong`), one sample in flight: the pinger sends and
/// waits for the answer, recording each round trip; the ponger answers each ping.
fn pingpong<M: Msg + ZeroCopySend>(args: &Args, pinger: bool) -> Result<Report, String> {
    let rounds: u64 = arg(args, "msgs")?;
    let node = node()?;
    let open = |key: &str| {
        node.service_builder(&service_name(args, key)?)
            .publish_subscribe::<M>()
            .history_size(0)
            .subscriber_max_buffer_size(1)
            .max_publishers(1)
            .max_subscribers(1)
            .open_or_create()
            .map_err(e)
    };
    let (ping, pong) = (open("ping")?, open("pong")?);
    let (out, inp) = if pinger { (&ping, &pong) } else { (&pong, &ping) };
    let publisher = out.publisher_builder().create().map_err(e)?;
    let subscriber = inp.subscriber_builder().create().map_err(e)?;
    let mut hist = new_histogram()?;
    let warm = warmup(rounds);
    ready_then_go()?;
    let receive = || -> Result<M, String> {
        loop {
            if let Some(sample) = subscriber.receive().map_err(e)? {
                return Ok(*sample.payload());
            }
            std::hint::spin_loop();
        }
    };
    let mut started = Instant::now();
    for i in 0..warm + rounds {
        if i == warm {
            started = Instant::now();
        }
        let t0 = Instant::now();
        if pinger {
            publisher.loan_uninit().map_err(e)?.write_payload(M::make(0, i)).send().map_err(e)?;
        }
        let got = receive()?;
        let mut expected = i;
        check_in_order(std::slice::from_ref(&got), &mut expected)?;
        if pinger {
            if i >= warm {
                hist.record(t0.elapsed().as_nanos() as u64).map_err(|e| e.to_string())?;
            }
        } else {
            publisher.loan_uninit().map_err(e)?.write_payload(got).send().map_err(e)?;
        }
    }
    let elapsed = started.elapsed().as_nanos() as u64;
    if pinger {
        Ok(latency_report(&hist, rounds, elapsed))
    } else {
        // The last answer may still be on its way to the pinger.
        hold_until_released((publisher, subscriber, ping, pong, node));
        Ok(Report::default().with_memory())
    }
}

/// A unique service name for one run.
fn unique_service() -> String {
    unique_name("shmd-bench-iceoryx2").trim_start_matches('/').to_owned()
}

/// The parent side: a run of `seed`, `spsc-*` or `pingpong` over iceoryx2.
pub fn run(cfg: &Config, sc: &Scenario, msgs: u64) -> Result<Sample, String> {
    match sc.shape {
        Shape::Spsc { batch } => {
            let args = [
                ("service", unique_service()),
                ("msgs", msgs.to_string()),
                ("batch", batch.min(BATCH).to_string()),
            ];
            let kids = vec![
                Kid::spawn(
                    cfg,
                    "iceoryx2-subscriber",
                    sc.kind,
                    &args,
                    cfg.cpu(1).into_iter().collect(),
                )?,
                Kid::spawn(
                    cfg,
                    "iceoryx2-publisher",
                    sc.kind,
                    &args,
                    cfg.cpu(0).into_iter().collect(),
                )?,
            ];
            throughput_sample(&run_children(kids, Unlink(Vec::new()))?, msgs)
        }
        Shape::PingPong => {
            let service = unique_service();
            let args = [
                ("ping", format!("{service}/ping")),
                ("pong", format!("{service}/pong")),
                ("msgs", msgs.to_string()),
            ];
            let kids = vec![
                Kid::spawn(
                    cfg,
                    "iceoryx2-ponger",
                    sc.kind,
                    &args,
                    cfg.cpu(1).into_iter().collect(),
                )?,
                Kid::spawn(
                    cfg,
                    "iceoryx2-pinger",
                    sc.kind,
                    &args,
                    cfg.cpu(0).into_iter().collect(),
                )?,
            ];
            latency_sample(&run_children(kids, Unlink(Vec::new()))?)
        }
        shape => Err(format!("no iceoryx2 run for {shape:?}")),
    }
}
