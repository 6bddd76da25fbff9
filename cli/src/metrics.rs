//! `shm-disruptor metrics`: every ring's counters in the Prometheus (OpenMetrics) text format,
//! served over HTTP at `/metrics`.
//!
//! Each scrape reads the rings afresh (every ring in `/dev/shm`, or the named ones) through the
//! read-only inspector, into a new `prometheus-client` registry, and encodes it. Nothing is
//! kept between scrapes: the values are the ring's own (its cursor is a counter of every
//! message ever published), so a restarted exporter serves the same series, and rates come
//! from Prometheus (`rate(shm_disruptor_published_total[1m])` is messages a second).

use std::fmt::Write as _;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shm_disruptor::ParticipantState;
use shm_disruptor_inspect::{self as inspect, ConsumerState, Inspector, RingInfo, SegmentKind};

/// A metric's labels: `ring`, and `consumer`, `role`, `state` or `side` where they apply.
type Labels = Vec<(&'static str, String)>;

/// The metric families of one scrape.
struct Families {
    up: Family<Labels, Gauge>,
    published: Family<Labels, Counter>,
    claimed: Family<Labels, Counter>,
    capacity: Family<Labels, Gauge>,
    status: Family<Labels, Gauge>,
    in_flight: Family<Labels, Gauge>,
    participants: Family<Labels, Gauge>,
    abandoned: Family<Labels, Counter>,
    orphaned: Family<Labels, Gauge>,
    sleeping: Family<Labels, Gauge>,
    blocked: Family<Labels, Gauge>,
    consumed: Family<Labels, Counter>,
    lag: Family<Labels, Gauge>,
    commits: Family<Labels, Counter>,
    consumer_state: Family<Labels, Gauge>,
}

impl Families {
    fn new() -> Families {
        Families {
            up: Family::default(),
            published: Family::default(),
            claimed: Family::default(),
            capacity: Family::default(),
            status: Family::default(),
            in_flight: Family::default(),
            participants: Family::default(),
            abandoned: Family::default(),
            orphaned: Family::default(),
            sleeping: Family::default(),
            blocked: Family::default(),
            consumed: Family::default(),
            lag: Family::default(),
            commits: Family::default(),
            consumer_state: Family::default(),
        }
    }

    fn register(self, registry: &mut Registry) {
        let r = registry;
        r.register("shm_disruptor_ring_up", "1 when the ring could be read, 0 when not", self.up);
        r.register(
            "shm_disruptor_published",
            "Messages ever published (the cursor); rate() gives messages a second",
            self.published,
        );
        r.register(
            "shm_disruptor_claimed",
            "Sequences ever claimed (the claim sequence)",
            self.claimed,
        );
        r.register("shm_disruptor_capacity_slots", "Slots in the ring", self.capacity);
        r.register(
            "shm_disruptor_status",
            "The ring's status word (streams: 0 open, 1 eof, 2 error)",
            self.status,
        );
        r.register(
            "shm_disruptor_in_flight_slots",
            "Claimed slots not yet published",
            self.in_flight,
        );
        r.register(
            "shm_disruptor_participants",
            "Consumer indices and producer records by role and state (live, dead, gone, released)",
            self.participants,
        );
        r.register(
            "shm_disruptor_abandoned_ranges",
            "Ranges ever published zero-filled after their producer died",
            self.abandoned,
        );
        r.register(
            "shm_disruptor_orphaned_claim_slots",
            "Slots of the claim at the cursor that no live producer will commit (0: none)",
            self.orphaned,
        );
        r.register(
            "shm_disruptor_sleeping_waiters",
            "Handles registered as sleeping on the ring's futexes, by side (may be stale after a kill)",
            self.sleeping,
        );
        r.register(
            "shm_disruptor_producers_blocked",
            "1 when a dead (or unowned) consumer a whole ring behind stalls every producer",
            self.blocked,
        );
        r.register(
            "shm_disruptor_consumer_consumed",
            "Messages a consumer has committed (its sequence; absent once released)",
            self.consumed,
        );
        r.register(
            "shm_disruptor_consumer_lag_messages",
            "Published messages a consumer has not committed",
            self.lag,
        );
        r.register(
            "shm_disruptor_consumer_commits",
            "Batches a consumer has committed",
            self.commits,
        );
        r.register(
            "shm_disruptor_consumer_state",
            "1 for a consumer's current state (live, dead, gone, released)",
            self.consumer_state,
        );
    }

    /// Adds one ring's values.
    fn add(&self, info: &RingInfo) {
        let (h, s) = (&info.header, &info.state);
        let ring = || -> Labels { vec![("ring", h.name.clone())] };
        let with = |key: &'static str, value: String| {
            let mut labels = ring();
            labels.push((key, value));
            labels
        };
        self.up.get_or_create(&ring()).set(1);
        self.published.get_or_create(&ring()).inc_by(s.cursor);
        self.claimed.get_or_create(&ring()).inc_by(s.claim_sequence);
        self.capacity.get_or_create(&ring()).set(clamp(h.capacity));
        self.status.get_or_create(&ring()).set(i64::from(s.status));
        self.in_flight.get_or_create(&ring()).set(clamp(s.claim_sequence.saturating_sub(s.cursor)));
        for state in
            [ConsumerState::Live, ConsumerState::Dead, ConsumerState::Gone, ConsumerState::Released]
        {
            let count = s.consumers.iter().filter(|c| c.state == state).count();
            let mut labels = with("role", "consumer".into());
            labels.push(("state", state.to_string()));
            self.participants.get_or_create(&labels).set(count as i64);
        }
        for (state, name) in [
            (ParticipantState::Alive, "live"),
            (ParticipantState::Dead, "dead"),
            (ParticipantState::Gone, "gone"),
        ] {
            let count = s.producers.iter().filter(|p| p.state == state).count();
            let mut labels = with("role", "producer".into());
            labels.push(("state", name.into()));
            self.participants.get_or_create(&labels).set(count as i64);
        }
        self.abandoned.get_or_create(&ring()).inc_by(s.abandoned_total);
        let orphaned = s.orphaned_claim.as_ref().map_or(0, |r| r.end.saturating_sub(r.start));
        self.orphaned.get_or_create(&ring()).set(clamp(orphaned));
        self.sleeping
            .get_or_create(&with("side", "consumer".into()))
            .set(i64::from(s.sleeping_consumers));
        self.sleeping
            .get_or_create(&with("side", "producer".into()))
            .set(i64::from(s.sleeping_producers));
        self.blocked.get_or_create(&ring()).set(i64::from(!s.blocked_by.is_empty()));
        for c in &s.consumers {
            let labels = with("consumer", c.index.to_string());
            if let Some(lag) = c.lag {
                self.consumed.get_or_create(&labels).inc_by(c.sequence);
                self.lag.get_or_create(&labels).set(clamp(lag));
            }
            self.commits.get_or_create(&labels).inc_by(c.commits);
            let mut state = labels.clone();
            state.push(("state", c.state.to_string()));
            self.consumer_state.get_or_create(&state).set(1);
        }
    }
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// One scrape: the text served at `/metrics`.
pub fn scrape(names: &[String]) -> String {
    let families = Families::new();
    if names.is_empty() {
        for segment in inspect::list().unwrap_or_default() {
            if let SegmentKind::Ring { info, .. } = &segment.kind {
                families.add(info);
            }
        }
    } else {
        for name in names {
            match Inspector::open(name).and_then(|i| i.info()) {
                Ok(info) => families.add(&info),
                Err(_) => {
                    families.up.get_or_create(&vec![("ring", name.clone())]).set(0);
                }
            };
        }
    }
    let mut registry = Registry::default();
    families.register(&mut registry);
    let mut text = String::new();
    if encode(&mut text, &registry).is_err() {
        text.clear();
        let _ = writeln!(text, "# EOF");
    }
    text
}

/// Serves `/metrics` on `listen` until the process is stopped. Says where on standard error
/// (`serving metrics on http://127.0.0.1:9464/metrics`), with the port chosen when it was 0.
pub fn serve(listen: &str, names: &[String]) -> Result<(), String> {
    let server =
        tiny_http::Server::http(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = server.server_addr().to_ip().map_or_else(|| listen.to_owned(), |a| a.to_string());
    eprintln!("serving metrics on http://{address}/metrics");
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let response = match (request.method(), path) {
            (tiny_http::Method::Get, "/metrics") => {
                let content_type = tiny_http::Header::from_bytes(
                    "Content-Type",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
                .expect("a valid header");
                tiny_http::Response::from_string(scrape(names)).with_header(content_type)
            }
            (tiny_http::Method::Get, "/") => {
                tiny_http::Response::from_string("shm-disruptor metrics: GET /metrics\n")
            }
            _ => {
                tiny_http::Response::from_string("not found: GET /metrics\n").with_status_code(404)
            }
        };
        // A client that went away is its problem, not the exporter's.
        let _ = request.respond(response);
    }
    Ok(())
}
