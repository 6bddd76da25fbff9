//! Carry a ring's messages to rings on other hosts over [Zenoh](https://zenoh.io): typed,
//! acknowledged, exactly once, in order.
//!
//! Shared memory ends at the host. An **exporter** attaches to a local ring as one consumer
//! index and publishes its messages to a Zenoh key expression (default
//! `shm-disruptor/<ring name>`), many slots per Zenoh message; an **importer** on another host
//! subscribes, checks the schema, copies the messages into its own ring and acknowledges what
//! it committed. Zenoh carries the bytes (reliable, ordered TCP links), the sessions, discovery
//! and reconnection; the bridge adds the rest:
//!
//! - **Batches.** One Zenoh message carries up to [`ExportConfig::batch`] consecutive slots,
//!   with an attachment of five little-endian `u64`s: the schema hash, the exporter's epoch,
//!   the first sequence, the count, and the exporter's floor (see below).
//! - **Schema.** A queryable at `<key>/schema` answers with the slot type (hash, size,
//!   alignment, binary field table, and its text for people) and the exporter's epoch and
//!   floor, as `key=value` lines. An importer refuses
//!   a ring of another type with the field-level difference a typed `open` prints
//!   ([`BridgeError::Schema`]) before it writes anything.
//! - **Acknowledgements.** Importers put `<key>/ack`: every sequence below `next` is committed
//!   in their ring. The exporter commits its consumer index (the *floor*) only up to what
//!   every importer acknowledged, so unacknowledged messages stay in the source ring (its
//!   producers wait when it is full: lossless).
//! - **Exactly once, in order.** Sequences are the source ring's, and the epoch names the
//!   source (a hash of its name, creation time and the consumer index), so both survive an
//!   exporter restart. An importer keeps, next to its ring, the sequence its ring's cursor
//!   stands for (a small state file in [`ImportConfig::state_dir`], written only when the
//!   epoch changes or messages are skipped): it drops what it already committed, asks the
//!   exporter to send again from its `next` after a gap (a broken link loses what was in
//!   flight), and re-fills a claim it was killed in the middle of. The exporter also sends
//!   again from an importer's `next` when that stops moving for
//!   [`ExportConfig::resend_after`] while messages are outstanding.
//! - **Who is "every importer".** A configured count ([`ExportConfig::importers`], default 1):
//!   importers name themselves ([`ImportConfig::importer_id`], default
//!   `<hostname>:<ring name>`), and the exporter commits nothing until that many names have
//!   acknowledged, then the minimum over them. A fixed count, not Zenoh liveliness, because a
//!   lossless bridge must keep waiting for an importer that is down, not forget it.
//! - **Loss, when asked for.** With [`LossPolicy::SkipAfter`], an exporter whose source ring
//!   is full and whose slowest importer has not acknowledged anything for that long commits
//!   its index to the cursor and counts the messages skipped; the importer sees the floor move
//!   past its `next` and counts the same number ([`BridgeStats::skipped`]).
//!
//! Peers connect with explicit endpoints ([`Endpoints`]: `tcp/ADDR` to listen on or connect
//! to), with multicast scouting off unless [`Endpoints::scouting`] is set; for many hosts, run
//! a `zenohd` router and make every bridge its client ([`Mode::Client`]) connecting to it
//! (peers that use a router must also listen: see [`Endpoints::mode`]).
//!
//! [`export`] and [`import`] take typed rings; [`export_raw`] and [`import_raw`] take
//! [`RawRing`]s, for rings known only by the schema in their header (the `shm-disruptor
//! bridge` command, [`cli`]). Each runs until its future is dropped (cancel it with
//! `tokio::select!` or a timeout, at any point: nothing is lost, unacknowledged messages stay
//! in the source) or an error. They need a multi-thread tokio runtime (one worker is enough):
//! Zenoh refuses a current-thread one.
//!
//! **Threads.** The exporter sends from a thread of its own (`shmd-export`) that blocks on the
//! source ring, so a producer's commit wakes it directly; dropping its future stops the thread
//! and waits for it (at most 10 ms, or one put blocked by a congested link: Zenoh blocks a put
//! for at most 5 s, `transport/link/tx/queue/congestion_control/block/wait_before_close`, then
//! closes that link), then the consumer index is free. The importer writes a batch that
//! continues the stream from Zenoh's subscriber callback when its ring has room for all of it;
//! everything else (a full ring, a gap, a batch sent again, a new epoch) goes through the
//! future's task, in order. Each thread wake-up saved is one the network does not hide: see the
//! README's "Across hosts" for the figures.

#![warn(missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_disruptor::raw::RawRing;
use shm_disruptor::{Disruptor, Slot};

pub mod cli;
mod export;
mod import;
mod wire;

pub use export::export_raw;
pub use import::import_raw;

/// Zenoh endpoints and discovery of one bridge end.
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    /// Endpoints to listen on, e.g. `tcp/0.0.0.0:7447`.
    pub listen: Vec<String>,
    /// Endpoints to connect to (retried until they answer), e.g. `tcp/10.0.0.2:7447`, or a
    /// `zenohd` router's.
    pub connect: Vec<String>,
    /// Multicast scouting (off by default: peers are found through the endpoints).
    pub scouting: bool,
    /// How this end joins Zenoh: a peer (the default; two ends that connect to each other),
    /// or a client of a `zenohd` router given in `connect` (the deployment for many hosts:
    /// the router routes the data, the acknowledgements and the schema queries).
    ///
    /// Peers may connect to a router too, but only to meet: Zenoh expects the peers behind
    /// one router to reach each other directly, so each must also `listen` on an address the
    /// others can reach (the router tells them where). Two peers that only connect to a
    /// router never find each other.
    pub mode: Mode,
}

/// A bridge end's Zenoh mode (see [`Endpoints::mode`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A peer: connects to, or is connected to, the other end (or other peers).
    #[default]
    Peer,
    /// A client of a router: every message goes through the router it connects to.
    Client,
}

impl Endpoints {
    /// A Zenoh configuration with this mode and these endpoints.
    pub fn config(&self) -> Result<zenoh::Config, BridgeError> {
        let mut config = zenoh::Config::default();
        let json = |v: &[String]| {
            let items: Vec<String> = v.iter().map(|e| format!("{e:?}")).collect();
            format!("[{}]", items.join(","))
        };
        let set = |config: &mut zenoh::Config, key: &str, value: String| {
            config.insert_json5(key, &value).map_err(|e| BridgeError::Config(format!("{key}: {e}")))
        };
        let mode = match self.mode {
            Mode::Peer => "\"peer\"",
            Mode::Client => "\"client\"",
        };
        set(&mut config, "mode", mode.into())?;
        set(&mut config, "listen/endpoints", json(&self.listen))?;
        set(&mut config, "connect/endpoints", json(&self.connect))?;
        set(&mut config, "scouting/multicast/enabled", self.scouting.to_string())?;
        // Keep retrying a connect endpoint that is not up yet, and after a link breaks.
        set(&mut config, "connect/timeout_ms", "-1".into())?;
        set(&mut config, "connect/exit_on_failure", "false".into())?;
        Ok(config)
    }

    /// Opens a Zenoh session. A router's client gives up after `within`, if given, with
    /// [`BridgeError::NoRouter`] (a peer's `open` does not wait for its endpoints).
    ///
    /// Zenoh's `open` blocks its caller even when awaited, and a router's client blocks in it
    /// until it reaches the router: it runs on a thread of its own (`shmd-zenoh-open`), so the
    /// future awaiting it stays cancellable and the runtime's threads stay free. A client's
    /// thread tries for [`OPEN_ATTEMPT`] at a time, and stops between two tries once nobody
    /// awaits it any more; a session that opens after its future is gone is closed at once.
    pub(crate) async fn open(
        &self,
        within: Option<Duration>,
    ) -> Result<zenoh::Session, BridgeError> {
        use zenoh::Wait;
        let client = self.mode == Mode::Client;
        let mut config = self.config()?;
        if client {
            // Zenoh gives up after this (the first connection only: a client that loses its
            // router later reconnects by `connect/retry`, which this does not touch).
            let attempt = OPEN_ATTEMPT.as_millis().to_string();
            config
                .insert_json5("connect/timeout_ms", &attempt)
                .map_err(|e| BridgeError::Config(format!("connect/timeout_ms: {e}")))?;
        }
        let (opened, session) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("shmd-zenoh-open".into())
            .spawn(move || loop {
                let started = Instant::now();
                let result = zenoh::open(config.clone()).wait();
                // A client's try that used its whole time found no router: try again while
                // someone waits. Anything else (a session, or an error at once) is the answer.
                if result.is_err() && client && started.elapsed() >= OPEN_ATTEMPT / 2 {
                    if opened.is_closed() {
                        return;
                    }
                    continue;
                }
                // Unheard when the future is gone: the session is dropped, which closes it.
                let _ = opened.send(result);
                return;
            })
            .map_err(|e| BridgeError::Thread(format!("shmd-zenoh-open: cannot start it: {e}")))?;
        let session = async {
            session
                .await
                .map_err(|_| {
                    BridgeError::Thread("shmd-zenoh-open: stopped without a result".into())
                })?
                .map_err(|e| BridgeError::Zenoh(e.to_string()))
        };
        match within.filter(|_| client) {
            None => session.await,
            Some(waited) => tokio::time::timeout(waited, session)
                .await
                .map_err(|_| BridgeError::NoRouter { connect: self.connect.clone(), waited })?,
        }
    }
}

/// How long one try of a router's client to open its session lasts (see [`Endpoints::open`]):
/// also how long its thread may outlive a cancelled future.
const OPEN_ATTEMPT: Duration = Duration::from_secs(1);

/// What an exporter does when an importer stays away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LossPolicy {
    /// Keep every unacknowledged message in the source ring; its producers wait when it is
    /// full (the default: nothing is ever lost).
    #[default]
    Lossless,
    /// When the source ring is full and the slowest importer has acknowledged nothing for
    /// this long, commit the index to the cursor and count the messages skipped.
    SkipAfter(Duration),
}

/// How an exporter runs.
#[derive(Clone, Debug)]
pub struct ExportConfig {
    /// The key expression (default `shm-disruptor/<ring name without its leading slash>`).
    pub key: Option<String>,
    /// Zenoh endpoints.
    pub endpoints: Endpoints,
    /// How many importers must acknowledge a message before the source ring may reuse it
    /// (default 1).
    pub importers: usize,
    /// Most slots per Zenoh message (default 1,024; also capped at 64 KiB of slots).
    pub batch: usize,
    /// Send again from an importer's `next` when it has not moved for this long while
    /// messages are outstanding (default 500 ms).
    pub resend_after: Duration,
    /// What to do when an importer stays away.
    pub loss: LossPolicy,
    /// Counters, shared with the caller (for progress displays).
    pub stats: Arc<BridgeStats>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            key: None,
            endpoints: Endpoints::default(),
            importers: 1,
            batch: 1024,
            resend_after: Duration::from_millis(500),
            loss: LossPolicy::Lossless,
            stats: Arc::default(),
        }
    }
}

/// How an importer runs.
#[derive(Clone, Debug)]
pub struct ImportConfig {
    /// The key expression (default `shm-disruptor/<ring name without its leading slash>`:
    /// the *exporter's* ring name; set it when the names differ).
    pub key: Option<String>,
    /// Zenoh endpoints.
    pub endpoints: Endpoints,
    /// This importer's name in acknowledgements (default `<hostname>:<ring name>`); keep it
    /// across restarts.
    pub importer_id: Option<String>,
    /// Where the importer keeps its state file, `<ring name>.bridge-import` (default
    /// `/dev/shm`, next to the ring; it must survive exactly as long as the ring does).
    pub state_dir: PathBuf,
    /// How long a wait for the exporter's schema may last before the import gives up
    /// (default: for ever), with [`BridgeError::NoExporter`]. The first wait counts from the
    /// start, so it also bounds a router's client's wait for its router
    /// ([`BridgeError::NoRouter`]); after an exporter restarts, the wait for the new one counts
    /// from then.
    pub schema_timeout: Option<Duration>,
    /// Counters, shared with the caller.
    pub stats: Arc<BridgeStats>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            key: None,
            endpoints: Endpoints::default(),
            importer_id: None,
            state_dir: PathBuf::from("/dev/shm"),
            schema_timeout: None,
            stats: Arc::default(),
        }
    }
}

/// Live counters of one bridge end (read them from another task for progress).
#[derive(Debug, Default)]
pub struct BridgeStats {
    messages: AtomicU64,
    acknowledged: AtomicU64,
    sent: AtomicU64,
    skipped: AtomicU64,
    resends: AtomicU64,
}

// Each counter is written by one task and read for display only: no other memory depends on
// it, so Relaxed loads and stores suffice (no pairing).
impl BridgeStats {
    /// Messages delivered: committed into the destination ring (importer) or acknowledged by
    /// every importer and committed in the source (exporter), since this end started.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// The acknowledged sequence: the exporter's floor, or the importer's `next`.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Relaxed)
    }

    /// Exporter: the next sequence to send; importer: the last sequence received + 1.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Messages skipped under [`LossPolicy::SkipAfter`] (counted by both ends).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// How many times the exporter went back to send again (gaps, restarts, timeouts).
    pub fn resends(&self) -> u64 {
        self.resends.load(Ordering::Relaxed)
    }

    fn set(counter: &AtomicU64, value: u64) {
        counter.store(value, Ordering::Relaxed);
    }

    fn add(counter: &AtomicU64, value: u64) {
        counter.store(counter.load(Ordering::Relaxed) + value, Ordering::Relaxed);
    }
}

/// Why a bridge end stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The local ring could not be opened or created.
    #[error(transparent)]
    Open(#[from] shm_disruptor::OpenError),
    /// The consumer index or producer could not be attached.
    #[error(transparent)]
    Attach(#[from] shm_disruptor::AttachError),
    /// The exporter's slot type is not the importing ring's (nothing was written).
    #[error("the exporter on {key:?} sends another message type: {error}")]
    Schema {
        /// The key expression.
        key: String,
        /// The mismatch, with both layouts and the first differing field.
        error: shm_disruptor::OpenError,
    },
    /// No exporter answered the schema query in time.
    #[error("no exporter answered on {key}/schema within {waited:?}")]
    NoExporter {
        /// The key expression.
        key: String,
        /// How long the importer waited.
        waited: Duration,
    },
    /// A router's client did not reach a router in time (see [`ImportConfig::schema_timeout`]).
    #[error("no Zenoh router answered at {connect:?} within {waited:?}")]
    NoRouter {
        /// The endpoints tried.
        connect: Vec<String>,
        /// How long it waited.
        waited: Duration,
    },
    /// Waiting for the source ring failed.
    #[error("waiting for the source ring: {0}")]
    Consume(#[from] shm_disruptor::ConsumeError),
    /// A claim in the local ring failed (every consumer of the destination released).
    #[error("claiming in the destination ring: {0}")]
    Claim(#[from] shm_disruptor::ClaimError),
    /// A bridge thread (the exporter's sender, `shmd-export`, or a session being opened,
    /// `shmd-zenoh-open`) could not be started, or stopped without a result.
    #[error("thread {0}")]
    Thread(String),
    /// A bad configuration value (endpoint, key).
    #[error("configuration: {0}")]
    Config(String),
    /// Zenoh failed.
    #[error("zenoh: {0}")]
    Zenoh(String),
    /// The importer's state file could not be read or written.
    #[error("state file {path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The exporter no longer holds messages the importer needs (its state was lost, or the
    /// exporter skipped them without [`LossPolicy::SkipAfter`] being known to the importer).
    #[error("the importer needs sequence {needed} but the exporter starts at {floor}")]
    Lost {
        /// What the importer needs next.
        needed: u64,
        /// The exporter's floor.
        floor: u64,
    },
}

/// The path of the importer's state file for `ring_name` in `state_dir`
/// ([`ImportConfig::state_dir`], `/dev/shm` by default): `<name without its leading
/// slash>.bridge-import`. It belongs with the ring: remove it when the ring is removed
/// (`shm-disruptor rm` does); a ring created again under the name ignores a stale one.
pub fn state_file(state_dir: &std::path::Path, ring_name: &str) -> PathBuf {
    state_dir.join(format!("{}.bridge-import", ring_name.trim_start_matches('/')))
}

/// The default key expression of a ring: `shm-disruptor/<name without its leading slash>`.
pub fn default_key(ring_name: &str) -> String {
    format!("shm-disruptor/{}", ring_name.trim_start_matches('/'))
}

/// Exports consumer `consumer_index` of `ring` (see the [crate docs](crate)). Runs until the
/// future is dropped or fails.
pub async fn export<T: Slot>(
    ring: &Disruptor<T>,
    consumer_index: usize,
    config: ExportConfig,
) -> Result<(), BridgeError> {
    export_raw(&RawRing::from_typed(ring), consumer_index, config).await
}

/// Imports into `ring` what an exporter publishes (see the [crate docs](crate)), after
/// checking that it sends `T`s. Runs until the future is dropped or fails.
pub async fn import<T: Slot>(ring: &Disruptor<T>, config: ImportConfig) -> Result<(), BridgeError> {
    import_raw(&RawRing::from_typed(ring), config).await
}
