//! The wire format between the parent and its children: each child prints one JSON object per
//! line on its stdout (`{"event":"ready"}` once set up, then `{"event":"result",...}` with its
//! figures, or `{"event":"error","message":...}`); the parent answers `GO` on its stdin.

use serde::{Deserialize, Serialize};

/// One line a child prints.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChildLine {
    /// Set up (rings mapped, handles attached); waiting for `GO`.
    Ready,
    /// The child's figures: only the fields its role measures are present.
    Result(Box<Report>),
    /// The child failed: the parent reports `message` as the run's failure.
    Error { message: String },
}

impl ChildLine {
    /// Prints this line on stdout (one JSON object, then a newline).
    pub fn print(&self) {
        println!("{}", serde_json::to_string(self).expect("a child line serializes"));
    }

    pub fn parse(line: &str) -> Result<ChildLine, String> {
        serde_json::from_str(line).map_err(|e| format!("not a child line ({e}): {line:?}"))
    }
}

/// What a child measured. Times are `CLOCK_MONOTONIC` nanoseconds (comparable between the
/// processes of one machine); latencies are one-way nanoseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Report {
    /// When the producer (or writer) started and ended, or when a consumer read its last message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ns: Option<u64>,
    /// Messages (or bytes) a consumer read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<u64>,
    /// The process's peak RSS (`VmHWM`, which counts the shared pages it touched), and its
    /// anonymous and shared resident memory at the end, in kB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hwm_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_anon_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_shmem_kb: Option<u64>,
    /// Latency roles: the measured round trips (or messages) and how long they took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ns: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p999_ns: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ns: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_ns: Option<f64>,
    /// The latency distribution: `[quantile, ns]` at each of [`QUANTILES`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<[f64; 2]>,
    /// `wakeup`'s consumer: its thread's CPU use and its sleeps per message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_cpu_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_sleeps_per_msg: Option<f64>,
    /// `stream`: the hash of the bytes written or read, and the side's sleeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sleeps: Option<u64>,
    /// `fanout-*`'s producer: time in claims, claims, claims that found the ring full (ending a
    /// chunk, then after a yield), their time, the clock's cost, the chunks' quantiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulls: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_tries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_p99: Option<f64>,
    /// `fanout-*`'s consumers: when each read its last message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ends: Vec<u64>,
    /// `mpsc-threads-*`: messages per producer, and the CPU time each producer thread used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counts: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpu_ns: Vec<u64>,
    /// `inproc`: messages through one thread, and the cost of each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns_per_msg: Option<f64>,
}

/// The quantiles of a latency distribution that children report (HDR percentiles).
pub const QUANTILES: &[f64] =
    &[0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99995, 0.99999];

/// A field a result must have.
pub fn need<T>(value: Option<T>, key: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("no {key} in the result"))
}

impl Report {
    /// This report with the process's memory figures (a producer's: `producer_hwm_kb`).
    pub fn with_memory(mut self) -> Report {
        use crate::harness::sys::proc_status_kb;
        self.hwm_kb = Some(proc_status_kb("VmHWM"));
        self.rss_anon_kb = Some(proc_status_kb("RssAnon"));
        self.rss_shmem_kb = Some(proc_status_kb("RssShmem"));
        self
    }
}
