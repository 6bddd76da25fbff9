//! The importer drops what it already committed, deterministically.
//!
//! A real exporter re-sends only after a restart or a lost link, and then only what the
//! importer had not acknowledged yet, which at loopback speed is rarely anything it had
//! committed. Here the test is the exporter: a Zenoh session of its own that answers the schema
//! query and publishes batches in the bridge's wire format (the crate docs: five little-endian
//! `u64`s in the attachment; the schema answer's `key=value` lines), and it sends batches again
//! on purpose: whole batches twice, overlapping batches, one whose range ends past the last
//! sequence, and, after the importer was restarted, everything from sequence 0 again. The real
//! importer (over loopback TCP) must commit every message exactly once, in order.
//!
//! The wire format is written here by hand, from the docs, on purpose: the test pins the
//! documented format, so a change to it fails here until the docs and this test change with it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_disruptor::raw::RawSchema;
use shm_disruptor::Disruptor;
use shm_disruptor_bridge::{import, BridgeStats, Endpoints, ImportConfig};
use shm_disruptor_examples::Order;
use zenoh::bytes::ZBytes;
use zenoh::handlers::FifoChannelHandler;
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;
use zenoh::Wait;

/// The scripted exporter's epoch (any value: the importer learns it from the schema answer).
const EPOCH: u64 = 0x5eed_0000_0000_0001;

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("/bridge-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The bytes of orders `first..first + count`, as they lie in a ring (`Order` is `repr(C)`
/// without implicit padding).
fn orders(first: u64, count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(count as usize * std::mem::size_of::<Order>());
    for id in first..first + count {
        let o = Order::new(id, 7);
        out.extend_from_slice(&o.id.to_ne_bytes());
        out.extend_from_slice(&o.created_ns.to_ne_bytes());
        out.extend_from_slice(&o.price.to_ne_bytes());
        out.extend_from_slice(&o.qty.to_ne_bytes());
        out.push(o.side);
        out.extend_from_slice(&o._pad);
    }
    out
}

/// The schema queryable's answer for `Order` (floor 0: everything can be sent again).
fn schema_reply() -> String {
    let schema = RawSchema::of::<Order>();
    let table: String = schema.table.encode().iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "hash={:#018x}\nsize={}\nalign={}\nepoch={EPOCH:#018x}\nfloor=0\ntable={table}\n",
        schema.hash, schema.size, schema.align
    )
}

/// An acknowledgement: the importer's `next`, and whether it asks to send again from there.
#[derive(Debug)]
struct Ack {
    next: u64,
    resync: bool,
}

/// The test's exporter: a listening session, the schema queryable, the data publisher and the
/// acknowledgements' subscriber.
struct Exporter {
    publisher: zenoh::pubsub::Publisher<'static>,
    acks: zenoh::pubsub::Subscriber<FifoChannelHandler<Sample>>,
    _queryable: zenoh::query::Queryable<()>,
    _session: zenoh::Session,
}

impl Exporter {
    async fn start(key: &str, endpoint: &str) -> Exporter {
        let endpoints = Endpoints { listen: vec![endpoint.to_owned()], ..Endpoints::default() };
        let session = zenoh::open(endpoints.config().unwrap()).await.unwrap();
        let reply = schema_reply();
        let queryable = session
            .declare_queryable(format!("{key}/schema"))
            .callback(move |query| {
                let _ = query.reply(query.key_expr().clone(), reply.clone()).wait();
            })
            .await
            .unwrap();
        let acks = session.declare_subscriber(format!("{key}/ack")).await.unwrap();
        let publisher = session
            .declare_publisher(key.to_owned())
            .congestion_control(CongestionControl::Block)
            .await
            .unwrap();
        Exporter { publisher, acks, _queryable: queryable, _session: session }
    }

    /// Publishes orders `first..first + count` as one batch.
    async fn send(&self, first: u64, count: u64) {
        self.send_as(first, count, orders(first, count)).await;
    }

    /// Publishes `payload` (`count` orders) as a batch that says it starts at `first`.
    async fn send_as(&self, first: u64, count: u64, payload: Vec<u8>) {
        let hash = RawSchema::of::<Order>().hash;
        let mut header = Vec::with_capacity(40);
        for word in [hash, EPOCH, first, count, 0] {
            header.extend_from_slice(&word.to_le_bytes());
        }
        self.publisher.put(ZBytes::from(payload)).attachment(ZBytes::from(header)).await.unwrap();
    }

    /// The next acknowledgement, if one comes within `wait`.
    async fn ack(&self, wait: Duration) -> Option<Ack> {
        let sample = tokio::time::timeout(wait, self.acks.recv_async()).await.ok()?.ok()?;
        let bytes = sample.payload().to_bytes();
        assert!(bytes.len() >= 17, "a short acknowledgement: {bytes:?}");
        assert_eq!(u64::from_le_bytes(bytes[0..8].try_into().unwrap()), EPOCH);
        Some(Ack {
            next: u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
            resync: bytes[16] != 0,
        })
    }

    /// Waits (at most 20 s) for an acknowledgement that satisfies `done`; returns it.
    async fn ack_until(&self, what: &str, done: impl Fn(&Ack) -> bool) -> Ack {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no acknowledgement {what} within 20 s");
            if let Some(ack) = self.ack(left).await {
                if done(&ack) {
                    return ack;
                }
            }
        }
    }

    /// Runs `script` (which ends the stream at `end`) until an acknowledgement says `end` is
    /// committed, again every 300 ms while none does: until the importer's subscription has
    /// reached this session, a put may go nowhere. Every repetition only sends again what was
    /// sent before. Returns the acknowledgement.
    async fn run_until_acked(&self, end: u64, script: &[(u64, u64)]) -> Ack {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for &(first, count) in script {
                self.send(first, count).await;
            }
            let until = Instant::now() + Duration::from_millis(300);
            while let Some(ack) = self.ack(until.saturating_duration_since(Instant::now())).await {
                if ack.next >= end {
                    return ack;
                }
            }
            assert!(Instant::now() < deadline, "{end} was not acknowledged within 20 s");
        }
    }
}

/// Removes the ring and the state directory when dropped.
struct Cleanup(String, std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shm_disruptor::unlink(&self.0);
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn start_importer(
    rt: &tokio::runtime::Runtime,
    ring: &Disruptor<Order>,
    key: &str,
    endpoint: &str,
    state: &std::path::Path,
    stats: &Arc<BridgeStats>,
) -> tokio::task::JoinHandle<Result<(), shm_disruptor_bridge::BridgeError>> {
    let ring = ring.clone();
    let config = ImportConfig {
        key: Some(key.to_owned()),
        endpoints: Endpoints { connect: vec![endpoint.to_owned()], ..Endpoints::default() },
        importer_id: Some("duplicates-test".into()),
        state_dir: state.to_owned(),
        stats: Arc::clone(stats),
        ..ImportConfig::default()
    };
    rt.spawn(async move { import(&ring, config).await })
}

#[test]
fn batches_sent_again_are_committed_exactly_once() {
    let name = unique("dup");
    let key = format!("shm-disruptor-test{name}");
    let state = std::env::temp_dir().join(name.trim_start_matches('/'));
    std::fs::create_dir_all(&state).unwrap();
    let ring = Disruptor::<Order>::builder(&name).capacity(1024).consumers(1).create().unwrap();
    let _cleanup = Cleanup(name.clone(), state.clone());
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let exporter = rt.block_on(Exporter::start(&key, &endpoint));

    // 1. The importer starts and asks for everything from 0.
    let stats = Arc::new(BridgeStats::default());
    let importer = start_importer(&rt, &ring, &key, &endpoint, &state, &stats);
    let first = rt.block_on(exporter.ack_until("asking to start", |a| a.resync));
    assert_eq!(first.next, 0);
    rt.block_on(exporter.run_until_acked(100, &[(0, 100)]));
    // 2. Batches again, whole and overlapping, and then one new message: once it is
    //    acknowledged, every batch before it has been handled (one publisher, one subscriber,
    //    a reliable ordered link).
    let script = [(0, 100), (0, 100), (50, 100), (150, 50), (100, 100), (0, 200)];
    rt.block_on(async {
        for (first, count) in script {
            exporter.send(first, count).await;
        }
        // A batch whose range would end past the last sequence (a hostile or corrupt header):
        // ignored, and the stream goes on.
        exporter.send_as(u64::MAX - 1, 4, orders(0, 4)).await;
    });
    let ack = rt.block_on(exporter.run_until_acked(201, &[(200, 1)]));
    assert_eq!(ack.next, 201, "the importer acknowledged more than was sent once");
    assert_eq!(ring.cursor(), 201, "messages sent again were committed again");
    assert_eq!(stats.messages(), 201);

    // 3. The importer is restarted: it starts from what its ring holds, and the exporter sends
    //    everything again from 0 (as one restarted from an old floor would), then 49 more.
    importer.abort();
    assert!(rt.block_on(importer).unwrap_err().is_cancelled());
    let stats = Arc::new(BridgeStats::default());
    let importer = start_importer(&rt, &ring, &key, &endpoint, &state, &stats);
    let restarted = rt.block_on(exporter.ack_until("from the restarted importer", |a| a.resync));
    assert_eq!(restarted.next, 201, "the restarted importer knows what its ring holds");
    let script = [(0, 67), (67, 67), (134, 67), (150, 100)];
    let ack = rt.block_on(exporter.run_until_acked(250, &script));
    assert_eq!(ack.next, 250, "the importer acknowledged more than was sent once");
    assert_eq!(ring.cursor(), 250, "messages sent again were committed again");
    assert_eq!(stats.messages(), 49);
    importer.abort();
    let _ = rt.block_on(importer);

    // 4. The ring holds orders 0..250, once each, in order, intact.
    let mut consumer = ring.consumer(0).unwrap();
    let batch = consumer.try_consume();
    let ids: Vec<u64> = batch.iter().map(|o| o.id).collect();
    assert_eq!(ids, (0..250).collect::<Vec<u64>>());
    assert!(batch.iter().all(|o| o.is_intact() && o.created_ns == 7));
    batch.commit();
}
