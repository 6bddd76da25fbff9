//! The bridge between real processes over real Zenoh sessions on loopback TCP.
//!
//! Each test creates a source and a destination ring, runs the exporter and the importer as
//! child processes (this test binary again, with `SHMD_BRIDGE_ROLE` set: see `node`), produces
//! into the source from the test process and checks what arrives in the destination.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shm_disruptor::{Disruptor, WaitStrategy};
use shm_disruptor_bridge::{
    default_key, export, import, BridgeError, Endpoints, ExportConfig, ImportConfig,
};
use shm_disruptor_examples::Order;

/// The role a child process plays, and its settings, from the environment.
#[test]
fn node() {
    let Ok(role) = std::env::var("SHMD_BRIDGE_ROLE") else { return };
    let ring = std::env::var("SHMD_BRIDGE_RING").unwrap();
    let endpoint = std::env::var("SHMD_BRIDGE_ENDPOINT").unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let result = rt.block_on(async {
        let ring = Disruptor::<Order>::open(&ring).unwrap();
        match role.as_str() {
            "export" => {
                let endpoints = Endpoints { listen: vec![endpoint], ..Endpoints::default() };
                export(&ring, 0, ExportConfig { endpoints, ..ExportConfig::default() }).await
            }
            _ => {
                let endpoints = Endpoints { connect: vec![endpoint], ..Endpoints::default() };
                let config = ImportConfig {
                    key: Some(std::env::var("SHMD_BRIDGE_KEY").unwrap()),
                    endpoints,
                    state_dir: std::env::var("SHMD_BRIDGE_STATE").unwrap().into(),
                    ..ImportConfig::default()
                };
                import(&ring, config).await
            }
        }
    });
    eprintln!("{role} stopped: {result:?}");
    std::process::exit(1);
}

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("/bridge-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The two rings, the state directory and the children of one test; removed when dropped.
struct Setup {
    source: String,
    destination: String,
    state: std::path::PathBuf,
    endpoint: String,
    children: Vec<Child>,
}

impl Setup {
    fn new(tag: &str, destination_capacity: usize) -> Setup {
        let (source, destination) = (unique(&format!("{tag}-src")), unique(&format!("{tag}-dst")));
        Disruptor::<Order>::builder(&source).capacity(65_536).consumers(1).create().unwrap();
        Disruptor::<Order>::builder(&destination)
            .capacity(destination_capacity)
            .consumers(1)
            .create()
            .unwrap();
        let state = std::env::temp_dir().join(destination.trim_start_matches('/'));
        std::fs::create_dir_all(&state).unwrap();
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        Setup { source, destination, state, endpoint, children: Vec::new() }
    }

    fn spawn(&mut self, role: &str) -> usize {
        let ring = if role == "export" { &self.source } else { &self.destination };
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "node", "--nocapture", "--test-threads=1"])
            .env("SHMD_BRIDGE_ROLE", role)
            .env("SHMD_BRIDGE_RING", ring)
            .env("SHMD_BRIDGE_ENDPOINT", &self.endpoint)
            .env("SHMD_BRIDGE_KEY", default_key(&self.source))
            .env("SHMD_BRIDGE_STATE", &self.state)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    fn kill(&mut self, child: usize) {
        let _ = self.children[child].kill(); // SIGKILL
        let _ = self.children[child].wait();
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = shm_disruptor::unlink(&self.source);
        let _ = shm_disruptor::unlink(&self.destination);
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Produces `count` orders into `ring` on a thread (waiting while it is full).
fn produce(ring: &str, count: u64) -> std::thread::JoinHandle<()> {
    let ring = Disruptor::<Order>::open(ring).unwrap();
    std::thread::spawn(move || {
        let mut producer = ring.producer().unwrap();
        let mut id = 0;
        while id < count {
            let n = (count - id).min(4096) as usize;
            producer.publish_batch(n, |i, slot| *slot = Order::new(id + i as u64, 7)).unwrap();
            id += n as u64;
        }
    })
}

/// Reads `count` orders from the destination, checking that each arrives once, in order,
/// intact; calls `at(received)` after each batch; fails after `timeout` without progress.
fn receive(ring: &str, count: u64, timeout: Duration, mut at: impl FnMut(u64)) -> u64 {
    let ring = Disruptor::<Order>::open(ring).unwrap();
    let mut consumer = ring.consumer(0).unwrap();
    consumer.set_wait_strategy(WaitStrategy::Yield);
    let (mut received, mut checksum) = (0u64, 0u64);
    while received < count {
        let batch = consumer
            .consume_timeout(timeout)
            .unwrap_or_else(|e| panic!("no message after {received} for {timeout:?}: {e}"));
        for order in batch.iter() {
            assert_eq!(order.id, received, "out of order, lost or duplicated");
            assert!(order.is_intact(), "corrupt order {order:?}");
            checksum = checksum.wrapping_add(order.id.wrapping_mul(order.qty as u64));
            received += 1;
        }
        batch.commit();
        at(received);
    }
    checksum
}

fn expected_checksum(count: u64) -> u64 {
    (0..count).fold(0u64, |sum, id| sum.wrapping_add(id.wrapping_mul(Order::new(id, 7).qty as u64)))
}

#[test]
fn a_million_orders_arrive_once_each_in_order() {
    let mut setup = Setup::new("million", 65_536);
    setup.spawn("export");
    setup.spawn("import");
    let count = 1_000_000;
    let started = Instant::now();
    let producer = produce(&setup.source, count);
    let checksum = receive(&setup.destination, count, Duration::from_secs(30), |_| {});
    producer.join().unwrap();
    assert_eq!(checksum, expected_checksum(count));
    eprintln!("1,000,000 orders across the bridge in {:?}", started.elapsed());
    // Nothing more arrives.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(Disruptor::<Order>::open(&setup.destination).unwrap().cursor(), count);
}

#[test]
fn another_type_is_refused_with_the_difference_and_nothing_is_written() {
    let mut setup = Setup::new("mismatch", 1024);
    setup.spawn("export");
    let other = unique("mismatch-other");
    // Same size (32 bytes), another layout.
    let ring = Disruptor::<[u64; 4]>::builder(&other).capacity(1024).consumers(1).create().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = ImportConfig {
        key: Some(default_key(&setup.source)),
        endpoints: Endpoints { connect: vec![setup.endpoint.clone()], ..Endpoints::default() },
        state_dir: setup.state.clone(),
        schema_timeout: Some(Duration::from_secs(20)),
        ..ImportConfig::default()
    };
    let result = rt.block_on(import(&ring, config));
    let _ = shm_disruptor::unlink(&other);
    match result {
        Err(BridgeError::Schema { error, .. }) => {
            let text = error.to_string();
            assert!(text.contains("Order { id: u64 @0"), "{text}");
            assert!(text.contains("[u64; 4]"), "{text}");
            if let shm_disruptor::OpenError::SchemaMismatch { diff, .. } = error {
                assert!(diff.contains("first difference"), "{diff}");
            } else {
                panic!("not a schema mismatch: {text}");
            }
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
    assert_eq!((ring.cursor(), ring.claim_sequence()), (0, 0), "nothing was written");
}

#[test]
fn killed_and_restarted_exporter_then_importer_deliver_exactly_once() {
    let mut setup = Setup::new("restart", 65_536);
    let mut exporter = setup.spawn("export");
    let mut importer = setup.spawn("import");
    let count = 600_000;
    let producer = produce(&setup.source, count);
    let mut step = 0;
    let destination = setup.destination.clone();
    let checksum = receive(&destination, count, Duration::from_secs(30), |received| {
        if step == 0 && received >= 150_000 {
            setup.kill(exporter);
            exporter = setup.spawn("export");
            step = 1;
        } else if step == 1 && received >= 350_000 {
            setup.kill(importer);
            importer = setup.spawn("import");
            step = 2;
        }
    });
    producer.join().unwrap();
    assert_eq!(step, 2, "both restarts happened mid-stream");
    assert_eq!(checksum, expected_checksum(count));
    let _ = (exporter, importer);
}

#[test]
fn a_full_destination_makes_the_exporter_wait_and_nothing_is_dropped() {
    // 64 slots, whose consumer stops reading after 1,000 messages until the importer has
    // filled the ring (the importer then waits for room, Zenoh's queues fill, and the
    // exporter's publications block), then pauses after each batch.
    let mut setup = Setup::new("full", 64);
    setup.spawn("export");
    setup.spawn("import");
    let count = 20_000;
    let producer = produce(&setup.source, count);
    let mut filled = false;
    let dst = Disruptor::<Order>::open(&setup.destination).unwrap();
    let checksum = receive(&setup.destination, count, Duration::from_secs(30), |received| {
        if !filled && received >= 1_000 {
            let deadline = Instant::now() + Duration::from_secs(30);
            while dst.claim_sequence() - received < 64 {
                assert!(Instant::now() < deadline, "the importer never filled the ring");
                std::thread::sleep(Duration::from_millis(1));
            }
            filled = true;
        }
        std::thread::sleep(Duration::from_micros(500));
    });
    producer.join().unwrap();
    assert_eq!(checksum, expected_checksum(count));
    assert!(filled, "the destination ring was full at some point");
}

/// Dropping an export or import future frees its ring handle before the drop returns: the
/// exporter's sending thread is joined (not left to detach the consumer index up to 10 ms
/// later), and the producer the importer lent to Zenoh's callback is taken back. Restarting
/// either at once then attaches again.
#[test]
fn dropped_bridge_futures_free_their_ring_handles_at_once() {
    use shm_disruptor::AttachError;
    let (source, destination) = (unique("drop-src"), unique("drop-dst"));
    let src = Disruptor::<Order>::builder(&source).capacity(1024).consumers(1).create().unwrap();
    let dst = Disruptor::<Order>::builder(&destination)
        .capacity(1024)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let state = std::env::temp_dir().join(destination.trim_start_matches('/'));
    std::fs::create_dir_all(&state).unwrap();
    struct Cleanup([String; 2], std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for ring in &self.0 {
                let _ = shm_disruptor::unlink(ring);
            }
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _cleanup = Cleanup([source.clone(), destination.clone()], state.clone());
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut producer = src.producer().unwrap();
    let mut consumer = dst.consumer(0).unwrap();
    for round in 0..3u64 {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let exporter = {
            let (src, endpoints) =
                (src.clone(), Endpoints { listen: vec![endpoint.clone()], ..Endpoints::default() });
            rt.spawn(async move {
                export(&src, 0, ExportConfig { endpoints, ..ExportConfig::default() }).await
            })
        };
        let importer = {
            let dst = dst.clone();
            let config = ImportConfig {
                key: Some(default_key(&source)),
                endpoints: Endpoints { connect: vec![endpoint], ..Endpoints::default() },
                state_dir: state.clone(),
                ..ImportConfig::default()
            };
            rt.spawn(async move { import(&dst, config).await })
        };
        // Ten orders through the bridge: both ends hold their handles (the importer has lent
        // its producer to the callback, which wrote them).
        for i in 0..10 {
            producer.publish(|o| *o = Order::new(round * 10 + i, 7)).unwrap();
        }
        let mut got = 0;
        while got < 10 {
            assert!(Instant::now() < deadline, "round {round}: {got} of 10 orders arrived");
            if let Ok(batch) = consumer.consume_timeout(Duration::from_millis(50)) {
                for o in batch.iter() {
                    assert_eq!(o.id, round * 10 + got, "round {round}");
                    got += 1;
                }
                batch.commit();
            }
        }
        assert!(matches!(src.consumer(0), Err(AttachError::ConsumerInUse { .. })));
        assert!(matches!(dst.producer(), Err(AttachError::ProducerInUse { .. })));
        exporter.abort();
        importer.abort();
        assert!(rt.block_on(exporter).unwrap_err().is_cancelled());
        assert!(rt.block_on(importer).unwrap_err().is_cancelled());
        // At once: both handles are free again.
        drop(src.consumer(0).expect("the exporter's consumer index is free once it is dropped"));
        drop(dst.producer().expect("the importer's producer is free once it is dropped"));
    }
}

/// A router's client blocks in Zenoh's `open` until it reaches the router. While none answers,
/// the export and import futures stay cancellable (a timeout ends them at once, on a runtime
/// with one worker), an import with a schema timeout gives up with `NoRouter`, and no thread
/// goes on trying to open a session for them.
#[test]
fn clients_of_an_unreachable_router_can_be_cancelled_and_give_up() {
    use shm_disruptor_bridge::{BridgeError, Mode};
    let (source, destination) = (unique("norouter-src"), unique("norouter-dst"));
    let src = Disruptor::<Order>::builder(&source).capacity(64).consumers(1).create().unwrap();
    let dst = Disruptor::<Order>::builder(&destination).capacity(64).consumers(1).create().unwrap();
    struct Cleanup([String; 2]);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for ring in &self.0 {
                let _ = shm_disruptor::unlink(ring);
            }
        }
    }
    let _cleanup = Cleanup([source.clone(), destination.clone()]);
    // Nothing listens there.
    let endpoints = Endpoints {
        connect: vec![format!("tcp/127.0.0.1:{}", free_port())],
        mode: Mode::Client,
        ..Endpoints::default()
    };
    let import_config = |schema_timeout| ImportConfig {
        endpoints: endpoints.clone(),
        state_dir: std::env::temp_dir(),
        schema_timeout,
        ..ImportConfig::default()
    };
    // The runtime runs on a thread of its own, watched: a future that blocks its only thread
    // would hang the test instead of failing it.
    let (done, finished) = std::sync::mpsc::channel();
    let export_config = ExportConfig { endpoints: endpoints.clone(), ..ExportConfig::default() };
    let (import_cancelled, import_gives_up) =
        (import_config(None), import_config(Some(Duration::from_millis(300))));
    std::thread::spawn(move || {
        // One worker (Zenoh refuses a current-thread runtime).
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let cancel = Duration::from_millis(200);
        let (exported, imported, gave_up) = rt.block_on(async {
            use tokio::time::timeout;
            (
                timeout(cancel, export(&src, 0, export_config)).await,
                timeout(cancel, import(&dst, import_cancelled)).await,
                timeout(Duration::from_secs(10), import(&dst, import_gives_up)).await,
            )
        });
        let _ = done.send((exported.is_err(), imported.is_err(), gave_up));
    });
    let (export_timed_out, import_timed_out, gave_up) = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("a future blocked its runtime's thread: not cancellable");
    assert!(export_timed_out, "the export future ended without its router");
    assert!(import_timed_out, "the import future ended without its router");
    match gave_up {
        Ok(Err(BridgeError::NoRouter { connect, .. })) => assert_eq!(connect, endpoints.connect),
        other => panic!("expected NoRouter, got {other:?}"),
    }
    // The threads that were opening those sessions stop once nobody awaits them (within one
    // try, a second). Other tests' sessions open on such threads too, briefly: one look with
    // none is enough.
    let opening = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "shmd-zenoh-open")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while opening() > 0 {
        assert!(Instant::now() < deadline, "a thread still opens a session nobody awaits");
        std::thread::sleep(Duration::from_millis(50));
    }
}
