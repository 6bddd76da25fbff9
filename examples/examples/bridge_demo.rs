//! The Zenoh bridge on one machine: an exporter and an importer as two processes, carrying the
//! pipeline demo's `Order`s from one ring to another over loopback TCP, checked end to end.
//!
//! ```text
//! cargo run --release --example bridge_demo [-- --count N --port P]
//! ```
//!
//! This process creates both rings, starts the exporter (`--role export`, listening on
//! `tcp/127.0.0.1:PORT`) and the importer (`--role import`, connecting to it) as children,
//! publishes N orders into the source ring and reads them from the destination ring: each must
//! arrive once, in order, intact. Across hosts, run the two roles on two machines (or the
//! `shm-disruptor bridge export|import` command: see the README's "Across hosts").

use std::path::Path;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use shm_disruptor::{Disruptor, WaitStrategy};
use shm_disruptor_bridge::{default_key, state_file, Endpoints, ExportConfig, ImportConfig};
use shm_disruptor_examples::{default_name, monotonic_ns, parse_number, thousands, Order};

/// Carries orders from one ring to another through an exporter and an importer process.
#[derive(Parser, Debug)]
struct Args {
    /// Orders to send
    #[arg(short = 'n', long, value_name = "N", default_value = "2,000,000", value_parser = parse_number::<u64>)]
    count: u64,
    /// The TCP port the exporter listens on (127.0.0.1)
    #[arg(long, default_value_t = 7447)]
    port: u16,
    /// The source ring (replaced if a previous run left it behind)
    #[arg(long, value_name = "NAME", default_value_t = default_name("bridge-source"))]
    source: String,
    /// The destination ring (replaced if a previous run left it behind)
    #[arg(long, value_name = "NAME", default_value_t = default_name("bridge-destination"))]
    destination: String,
    /// Runs one side (the children are this program, started with a role)
    #[arg(long, hide = true)]
    role: Option<Role>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Export,
    Import,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.role {
        Some(role) => run_child(role, &args),
        None => run_parent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_child(role: Role, args: &Args) -> Result<(), Error> {
    let endpoint = format!("tcp/127.0.0.1:{}", args.port);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        match role {
            Role::Export => {
                let ring = Disruptor::<Order>::open(&args.source)?;
                let endpoints = Endpoints { listen: vec![endpoint], ..Endpoints::default() };
                let config = ExportConfig { endpoints, ..ExportConfig::default() };
                shm_disruptor_bridge::export(&ring, 0, config).await?;
            }
            Role::Import => {
                let ring = Disruptor::<Order>::open(&args.destination)?;
                let endpoints = Endpoints { connect: vec![endpoint], ..Endpoints::default() };
                let config = ImportConfig {
                    key: Some(default_key(&args.source)),
                    endpoints,
                    ..ImportConfig::default()
                };
                shm_disruptor_bridge::import(&ring, config).await?;
            }
        }
        Ok(())
    })
}

/// Kills and reaps the children, and removes the rings, however the parent ends.
struct Cleanup(Vec<Child>, [String; 2]);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ring in &self.1 {
            let _ = shm_disruptor::unlink(ring);
            let _ = std::fs::remove_file(state_file(Path::new("/dev/shm"), ring));
        }
    }
}

fn run_parent(args: &Args) -> Result<(), Error> {
    let builder = |name: &str| Disruptor::<Order>::builder(name).capacity(65_536).consumers(1);
    let source = builder(&args.source).single_producer().replace_existing()?;
    let destination = builder(&args.destination).replace_existing()?;
    let mut cleanup = Cleanup(Vec::new(), [args.source.clone(), args.destination.clone()]);
    let _ = std::fs::remove_file(state_file(Path::new("/dev/shm"), &args.destination));
    let exe = std::env::current_exe()?;
    for role in ["export", "import"] {
        let child = Command::new(&exe)
            .args(["--role", role, "--port", &args.port.to_string()])
            .args(["--source", &args.source, "--destination", &args.destination])
            .spawn()?;
        cleanup.0.push(child);
    }
    println!(
        "bridge: {} -> tcp/127.0.0.1:{} -> {}, {} orders",
        args.source,
        args.port,
        args.destination,
        thousands(args.count)
    );
    let count = args.count;
    let mut producer = source.producer()?;
    let producer = std::thread::spawn(move || -> Result<(), shm_disruptor::ClaimError> {
        let mut id = 0;
        while id < count {
            let n = (count - id).min(1024) as usize;
            let now = monotonic_ns();
            producer.publish_batch(n, |i, slot| *slot = Order::new(id + i as u64, now))?;
            id += n as u64;
        }
        Ok(())
    });
    let mut consumer = destination.consumer(0)?;
    consumer.set_wait_strategy(WaitStrategy::Yield);
    let (started, mut received, mut latencies) = (Instant::now(), 0u64, Vec::new());
    while received < count {
        let batch = consumer.consume_timeout(Duration::from_secs(30))?;
        let now = monotonic_ns();
        for order in batch.iter() {
            if order.id != received || !order.is_intact() {
                return Err(format!("expected order {received}, got {order:?}").into());
            }
            received += 1;
        }
        if let Some(last) = batch.iter().last() {
            latencies.push(now.saturating_sub(last.created_ns));
        }
        batch.commit();
    }
    producer.join().map_err(|_| "the producer panicked")??;
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    println!(
        "{} orders arrived once each, in order, in {:.2} s: {:.2} M orders/s; ring-to-ring latency p50 {:.1} µs (queueing at full speed)",
        thousands(count),
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64() / 1e6,
        latencies[latencies.len() / 2] as f64 / 1e3
    );
    Ok(())
}
