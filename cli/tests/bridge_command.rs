//! `shm-disruptor bridge export|import` as real processes, through a Zenoh router, as its
//! clients and as peers that listen: the importer creates its ring from the exporter's schema
//! (`--create`), and every message arrives once, in order. The router is this test binary
//! re-run in the `router` role: a Zenoh session in router mode, the routing code `zenohd` runs.
#![cfg(feature = "bridge")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shm_disruptor::{Disruptor, Slot};
use zenoh::Wait;

#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Quote {
    seq: u64,
    price: u64,
}

/// The router role: a Zenoh router listening on `SHMD_ROUTER_ENDPOINT` until it is killed.
#[test]
fn router() {
    let Ok(endpoint) = std::env::var("SHMD_ROUTER_ENDPOINT") else { return };
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", "\"router\"").unwrap();
    config.insert_json5("listen/endpoints", &format!("[{endpoint:?}]")).unwrap();
    config.insert_json5("scouting/multicast/enabled", "false").unwrap();
    let _session = zenoh::open(config).wait().unwrap();
    // The parent kills it; a deadline keeps an orphan from living on.
    std::thread::sleep(Duration::from_secs(120));
}

/// Kills and reaps the children, removes the rings and the state directory.
struct Cleanup {
    children: Vec<Child>,
    rings: Vec<String>,
    state: std::path::PathBuf,
}

impl Cleanup {
    /// Two unique ring names, `/sd-bridge-<a>-<tag>-<pid>` and `-<b>-`, and a fresh state
    /// directory, all removed on drop.
    fn new(tag: &str, [a, b]: [&str; 2]) -> (Cleanup, String, String) {
        let pid = std::process::id();
        let ring = |what: &str| format!("/sd-bridge-{what}-{tag}-{pid}");
        let (first, second) = (ring(a), ring(b));
        let state = std::env::temp_dir().join(format!("sd-bridge-state-{tag}-{pid}"));
        std::fs::create_dir_all(&state).unwrap();
        let rings = vec![first.clone(), second.clone()];
        (Cleanup { children: Vec::new(), rings, state }, first, second)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ring in &self.rings {
            let _ = shm_disruptor::unlink(ring);
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A free loopback TCP endpoint.
fn free_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("tcp/127.0.0.1:{port}")
}

/// How the two ends join the router.
#[derive(Clone, Copy)]
enum Deployment {
    /// Clients of the router: it carries everything.
    Clients,
    /// Peers that each listen too: the router introduces them (gossip), and they connect
    /// to each other.
    ListeningPeers,
}

#[test]
fn import_creates_its_ring_from_the_exporters_schema_through_a_router() {
    through_a_router("client", Deployment::Clients);
}

#[test]
fn peers_that_listen_meet_through_a_router() {
    through_a_router("peer", Deployment::ListeningPeers);
}

fn through_a_router(tag: &str, deployment: Deployment) {
    const COUNT: u64 = 200_000;
    let (mut cleanup, source, destination) = Cleanup::new(tag, ["src", "dst"]);
    let ring = Disruptor::<Quote>::builder(&source).capacity(4096).consumers(1).create().unwrap();
    let endpoint = free_endpoint();

    let router = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "router", "--nocapture", "--test-threads=1"])
        .env("SHMD_ROUTER_ENDPOINT", &endpoint)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    cleanup.children.push(router);
    let command = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_shm-disruptor"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Both ends connect only to the router. Clients listen on nothing: the router routes
    // between them. Peers in the same router's region must reach each other directly, so each
    // listens too; without that, they never find each other (checked by hand: the open below
    // times out).
    let via = |listen: &str| -> Vec<String> {
        let mut args = vec!["--connect".to_owned(), endpoint.clone(), "--quiet".to_owned()];
        match deployment {
            Deployment::Clients => args.extend(["--mode".to_owned(), "client".to_owned()]),
            Deployment::ListeningPeers => args.extend(["--listen".to_owned(), listen.to_owned()]),
        }
        args
    };
    let (export_via, import_via) = (via(&free_endpoint()), via(&free_endpoint()));
    let export_via: Vec<&str> = export_via.iter().map(String::as_str).collect();
    let import_via: Vec<&str> = import_via.iter().map(String::as_str).collect();
    cleanup.children.push(command(&[&["bridge", "export", &source][..], &export_via].concat()));
    let key = format!("shm-disruptor{source}");
    let state_dir = cleanup.state.display().to_string();
    let import = [
        "bridge",
        "import",
        &destination,
        "--create",
        "1024",
        "--key",
        &key,
        "--state-dir",
        &state_dir,
    ];
    cleanup.children.push(command(&[&import[..], &import_via].concat()));

    // The typed open checks the created ring's schema against `Quote`'s.
    let created =
        Disruptor::<Quote>::builder(&destination).open_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(created.capacity(), 1024);
    let mut consumer = created.consumer(0).unwrap();
    let producer = std::thread::spawn(move || {
        let mut producer = ring.producer().unwrap();
        for seq in 0..COUNT {
            producer.publish(|q| *q = Quote { seq, price: seq * 3 }).unwrap();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0;
    while next < COUNT {
        assert!(Instant::now() < deadline, "only {next} of {COUNT} arrived");
        let Ok(batch) = consumer.consume_timeout(Duration::from_millis(100)) else { continue };
        for q in batch.iter() {
            assert_eq!(*q, Quote { seq: next, price: next * 3 }, "out of order or changed");
            next += 1;
        }
        batch.commit();
    }
    producer.join().unwrap();
    // Nothing more than the stream: no duplicate follows.
    assert!(consumer.consume_timeout(Duration::from_millis(300)).is_err(), "a duplicate arrived");
}

/// `bridge import --schema-timeout` gives up when no exporter answers (or, for a router's
/// client, no router), with the reason, and creates nothing: as a peer and as a client, with
/// `--create` and into a ring that exists.
#[test]
fn import_gives_up_when_no_exporter_answers_within_its_schema_timeout() {
    let (mut cleanup, missing, existing) = Cleanup::new("none", ["missing", "existing"]);
    let _ring = Disruptor::<Quote>::builder(&existing).capacity(64).consumers(1).create().unwrap();
    // Nothing listens at `nobody`.
    let nobody = free_endpoint();
    let state_dir = cleanup.state.display().to_string();
    for mode in ["peer", "client"] {
        for (ring, create) in [(&missing, true), (&existing, false)] {
            let mut args = vec!["bridge", "import", ring, "--connect", &nobody, "--mode", mode];
            // 2 s: a peer's `open` alone may take 0.5 s (Zenoh's scouting delay).
            args.extend(["--schema-timeout", "2", "--quiet", "--state-dir", &state_dir]);
            if create {
                args.extend(["--create", "64"]);
            }
            let child = Command::new(env!("CARGO_BIN_EXE_shm-disruptor"))
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            cleanup.children.push(child);
            let started = Instant::now();
            let status = loop {
                if let Some(status) = cleanup.children.last_mut().unwrap().try_wait().unwrap() {
                    break status;
                }
                assert!(started.elapsed() < Duration::from_secs(30), "{mode}: still waiting");
                std::thread::sleep(Duration::from_millis(50));
            };
            let mut stderr = String::new();
            let child = cleanup.children.last_mut().unwrap();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            assert!(!status.success(), "{mode} {ring}: exited with success");
            // A client waits for its router first, and says so.
            let why =
                if mode == "client" { "no Zenoh router answered" } else { "no exporter answered" };
            assert!(stderr.contains(why), "{mode} {ring}: {stderr}");
            assert!(started.elapsed() < Duration::from_secs(20), "{mode}: gave up late");
            assert!(
                matches!(
                    Disruptor::<Quote>::builder(&missing).open(),
                    Err(shm_disruptor::OpenError::NotFound { .. })
                ),
                "{mode}: the ring was created without a schema"
            );
        }
    }
}
