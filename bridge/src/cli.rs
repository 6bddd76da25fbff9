//! The `shm-disruptor bridge` command: export or import any ring, from the schema in its
//! header (no Rust type needed), with a progress line a second.
//!
//! ```text
//! shm-disruptor bridge export NAME [--key K] [--listen tcp/ADDR] [--connect tcp/ADDR] [--consumer I]
//! shm-disruptor bridge import NAME [--key K] [--listen tcp/ADDR] [--connect tcp/ADDR] [--create CAPACITY] [--schema-timeout SECONDS]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use shm_disruptor::raw::RawRing;

use crate::{BridgeError, BridgeStats, Endpoints, ExportConfig, ImportConfig, LossPolicy, Mode};

/// Carry a ring's messages to rings on other hosts over Zenoh.
#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Publish a ring's messages (as one of its consumer indices) for importers.
    Export(ExportArgs),
    /// Copy an exporter's messages into a local ring (of the same message type).
    Import(ImportArgs),
}

/// Zenoh options common to both ends.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// The Zenoh key expression (default `shm-disruptor/<NAME>`: give the exporter's key when
    /// the two rings have different names).
    #[arg(long)]
    pub key: Option<String>,
    /// Listen on this endpoint (repeatable), e.g. `tcp/0.0.0.0:7447`.
    #[arg(long)]
    pub listen: Vec<String>,
    /// Connect to this endpoint (repeatable): the other end, or a `zenohd` router.
    #[arg(long)]
    pub connect: Vec<String>,
    /// Find peers by multicast scouting too.
    #[arg(long)]
    pub scouting: bool,
    /// `client` to go through a `zenohd` router given with --connect.
    #[arg(long, value_enum, default_value_t = Mode::Peer)]
    pub mode: Mode,
    /// Print no progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

impl NetArgs {
    fn endpoints(&self) -> Endpoints {
        Endpoints {
            listen: self.listen.clone(),
            connect: self.connect.clone(),
            scouting: self.scouting,
            mode: self.mode,
        }
    }
}

/// `bridge export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The ring to export.
    pub name: String,
    /// The consumer index the exporter reads as.
    #[arg(long, default_value_t = 0)]
    pub consumer: usize,
    /// How many importers must acknowledge a message before the ring may reuse it.
    #[arg(long, default_value_t = 1)]
    pub importers: usize,
    /// Most messages per Zenoh message.
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    /// Skip messages (and count them) when the ring is full and an importer has been silent
    /// this many seconds; without it, producers wait (lossless).
    #[arg(long)]
    pub skip_after: Option<f64>,
    /// Zenoh options.
    #[command(flatten)]
    pub net: NetArgs,
}

/// `bridge import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The ring to import into (this importer must be its only producer).
    pub name: String,
    /// Create the ring, with this many slots, from the exporter's schema if it does not exist.
    #[arg(long)]
    pub create: Option<usize>,
    /// Consumer indices of a created ring.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    /// This importer's name in acknowledgements (default `<hostname>:<ring name>`).
    #[arg(long)]
    pub id: Option<String>,
    /// Where the importer keeps its state file.
    #[arg(long, default_value = "/dev/shm")]
    pub state_dir: std::path::PathBuf,
    /// Give up (exit with an error) when a wait for the exporter's schema lasts this many
    /// seconds (with `--mode client`, the wait for the router counts too); without it, wait
    /// for an exporter for ever.
    #[arg(long, value_parser = seconds)]
    pub schema_timeout: Option<Duration>,
    /// Zenoh options.
    #[command(flatten)]
    pub net: NetArgs,
}

/// Parses a non-negative, finite number of seconds.
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 =
        text.parse().map_err(|e| format!("{text:?} is not a number of seconds: {e}"))?;
    Duration::try_from_secs_f64(value).map_err(|_| format!("{text:?} is not a number of seconds"))
}

/// Normalises `ticks` and `/dev/shm/ticks` to `/ticks`.
fn ring_name(name: &str) -> String {
    format!("/{}", name.trim_start_matches("/dev/shm/").trim_start_matches('/'))
}

/// Prints a progress line a second until the bridge stops.
async fn progress(what: &'static str, stats: Arc<BridgeStats>) {
    let mut last = (Instant::now(), stats.messages());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (now, messages) = (Instant::now(), stats.messages());
        let rate = (messages - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, messages);
        eprintln!(
            "{what}: {messages} messages  {rate:.0} msgs/s  acknowledged {}  lag {}  skipped {}  resends {}",
            stats.acknowledged(),
            stats.sent().saturating_sub(stats.acknowledged()),
            stats.skipped(),
            stats.resends()
        );
    }
}

/// Runs a bridge command until Ctrl-C (then returns `Ok`) or an error.
pub fn run(command: BridgeCommand) -> Result<(), BridgeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| BridgeError::Config(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        match command {
            BridgeCommand::Export(args) => run_export(args).await,
            BridgeCommand::Import(args) => run_import(args).await,
        }
    })
}

/// `bridge export`: runs until Ctrl-C or an error.
pub async fn run_export(args: ExportArgs) -> Result<(), BridgeError> {
    let ring = RawRing::open(&ring_name(&args.name))?;
    let stats = Arc::new(BridgeStats::default());
    let config = ExportConfig {
        key: args.net.key.clone(),
        endpoints: args.net.endpoints(),
        importers: args.importers,
        batch: args.batch,
        loss: args
            .skip_after
            .map_or(LossPolicy::Lossless, |s| LossPolicy::SkipAfter(Duration::from_secs_f64(s))),
        stats: Arc::clone(&stats),
        ..ExportConfig::default()
    };
    eprintln!(
        "exporting {} ({}) as consumer {} on {}",
        ring.name(),
        ring.schema().text,
        args.consumer,
        config.key.clone().unwrap_or_else(|| crate::default_key(ring.name()))
    );
    let show = (!args.net.quiet).then(|| tokio::spawn(progress("export", Arc::clone(&stats))));
    let result = tokio::select! {
        r = crate::export_raw(&ring, args.consumer, config) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    if let Some(show) = show {
        show.abort();
    }
    result
}

/// `bridge import`: runs until Ctrl-C or an error.
pub async fn run_import(args: ImportArgs) -> Result<(), BridgeError> {
    let name = ring_name(&args.name);
    let ring = match (RawRing::open(&name), args.create) {
        (Ok(ring), _) => ring,
        (Err(shm_disruptor::OpenError::NotFound { .. }), Some(capacity)) => {
            // Create it from the exporter's schema.
            let started = Instant::now();
            let session = args.net.endpoints().open(args.schema_timeout).await?;
            let key = args.net.key.clone().unwrap_or_else(|| crate::default_key(&name));
            let reply =
                crate::import::query_schema(&session, &key, started, args.schema_timeout).await?;
            drop(session);
            RawRing::create(&name, &reply.schema, capacity, args.consumers)?
        }
        (Err(e), _) => return Err(e.into()),
    };
    let stats = Arc::new(BridgeStats::default());
    let config = ImportConfig {
        key: args.net.key.clone(),
        endpoints: args.net.endpoints(),
        importer_id: args.id.clone(),
        state_dir: args.state_dir.clone(),
        schema_timeout: args.schema_timeout,
        stats: Arc::clone(&stats),
    };
    eprintln!("importing into {} ({})", ring.name(), ring.schema().text);
    let show = (!args.net.quiet).then(|| tokio::spawn(progress("import", Arc::clone(&stats))));
    let result = tokio::select! {
        r = crate::import_raw(&ring, config) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    if let Some(show) = show {
        show.abort();
    }
    result
}
