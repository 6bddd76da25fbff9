//! Two "hosts" on one machine: two network namespaces joined by a veth pair, each process tree
//! in its own mount namespace with its own tmpfs on /dev/shm, the bridge between them. The
//! link is cut for 3 seconds mid-stream: nothing is lost, nothing duplicated. Needs root (CI
//! runs as root) and `ip`, `unshare` and `mount`; without them it says why it did not run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shm_disruptor::{Disruptor, WaitStrategy};
use shm_disruptor_bridge::{export, import, Endpoints, ExportConfig, ImportConfig};
use shm_disruptor_examples::Order;

const COUNT: u64 = 300_000;
const RING: &str = "/bridge-two-hosts";

/// A host's side: `a` creates the source ring, exports it and produces; `b` creates the
/// destination ring, imports and checks, printing `received N` as it goes and `OK` at the end.
#[test]
fn host() {
    let Ok(role) = std::env::var("SHMD_HOST_ROLE") else { return };
    let endpoint = std::env::var("SHMD_HOST_ENDPOINT").unwrap();
    let ring = Disruptor::<Order>::builder(RING).capacity(65_536).consumers(1).create().unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if role == "a" {
        let producer = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut producer = ring.producer().unwrap();
                let mut id = 0;
                while id < COUNT {
                    let n = (COUNT - id).min(1024) as usize;
                    producer
                        .publish_batch(n, |i, slot| *slot = Order::new(id + i as u64, 1))
                        .unwrap();
                    id += n as u64;
                    // A steady stream of a few seconds, so that the cut falls mid-stream.
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let endpoints = Endpoints { listen: vec![endpoint], ..Endpoints::default() };
        let config = ExportConfig { endpoints, ..ExportConfig::default() };
        let result = rt.block_on(export(&ring, 0, config));
        eprintln!("exporter stopped: {result:?}");
        drop(producer);
        std::process::exit(1);
    }
    let importer = {
        let ring = ring.clone();
        let endpoints = Endpoints { connect: vec![endpoint], ..Endpoints::default() };
        let config = ImportConfig { endpoints, ..ImportConfig::default() };
        rt.spawn(async move { import(&ring, config).await })
    };
    let mut consumer = ring.consumer(0).unwrap();
    consumer.set_wait_strategy(WaitStrategy::Yield);
    let mut received = 0u64;
    while received < COUNT {
        let batch = consumer.consume_timeout(Duration::from_secs(30)).expect("stalled for 30 s");
        for order in batch.iter() {
            assert_eq!(order.id, received, "lost, duplicated or out of order");
            assert!(order.is_intact());
            received += 1;
        }
        batch.commit();
        println!("received {received}");
    }
    // Nothing more arrives (no duplicate after the last).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ring.cursor(), COUNT, "more than {COUNT} messages arrived");
    importer.abort();
    println!("OK");
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?} failed");
}

/// The namespaces, removed (with everything in them) when dropped.
struct Namespaces([String; 2]);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn two_hosts_survive_a_cut_link_without_loss_or_duplicates() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("two_hosts: NOT RUN: needs root (network namespaces, veth, tmpfs mounts)");
        return;
    }
    if !have("ip") || !have("unshare") {
        eprintln!(
            "two_hosts: NOT RUN: needs the `ip` (iproute2) and `unshare` (util-linux) commands"
        );
        return;
    }
    let tag = std::process::id();
    let (a, b) = (format!("shmd-a-{tag}"), format!("shmd-b-{tag}"));
    let (va, vb) = (format!("shmda{}", tag % 100_000), format!("shmdb{}", tag % 100_000));
    ip(&["netns", "add", &a]);
    let namespaces = Namespaces([a.clone(), b.clone()]);
    ip(&["netns", "add", &b]);
    ip(&["link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b]);
    ip(&["-n", &a, "addr", "add", "10.231.0.1/24", "dev", &va]);
    ip(&["-n", &b, "addr", "add", "10.231.0.2/24", "dev", &vb]);
    for (ns, dev) in [(&a, &va), (&b, &vb)] {
        ip(&["-n", ns, "link", "set", dev, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    let exe = std::env::current_exe().unwrap();
    let spawn = |ns: &str, role: &str| {
        // `unshare --mount` gives the host its own mount namespace (private propagation), where
        // a fresh tmpfs on /dev/shm holds its rings only.
        let script = format!(
            "mount -t tmpfs tmpfs /dev/shm && exec {} --exact host --nocapture --test-threads=1",
            exe.display()
        );
        Command::new("ip")
            .args(["netns", "exec", ns, "unshare", "--mount", "sh", "-c", &script])
            .env("SHMD_HOST_ROLE", role)
            .env("SHMD_HOST_ENDPOINT", "tcp/10.231.0.1:7447")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut host_a = spawn(&a, "a");
    let mut host_b = spawn(&b, "b");
    let (tx, rx) = mpsc::channel();
    let stdout = host_b.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut cut = false;
    let mut last = String::new();
    let mut ok = false;
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else { break };
        if line == "OK" {
            ok = true;
            break;
        }
        let received: u64 = line.trim_start_matches("received ").parse().unwrap_or(0);
        if !cut && received >= COUNT / 4 {
            assert!(received < COUNT / 2, "the stream went too fast for a cut mid-stream");
            ip(&["-n", &a, "link", "set", &va, "down"]);
            std::thread::sleep(Duration::from_secs(3));
            ip(&["-n", &a, "link", "set", &va, "up"]);
            cut = true;
        }
        last = line;
    }
    let _ = host_a.kill();
    let _ = host_a.wait();
    let status = host_b.wait().unwrap();
    drop(namespaces);
    assert!(cut, "the link was never cut (last line: {last:?})");
    assert!(ok && status.success(), "host b did not receive everything once: {last:?}, {status}");
}
