//! Runs the `shm-disruptor` binary against live rings made here, and checks its text and JSON.
//!
//! Dead participants come from helper processes: this test binary runs itself again with
//! `--ignored --exact helper_process` and `SD_CLI_HELPER` set, so the ignored test
//! [`helper_process`] takes a consumer index or a claim in a real, separate process, says
//! `READY`, and is SIGKILLed by the test. (Cargo gives a test only its own package's binaries,
//! and the CLI package has one binary, the tool; re-running the test binary needs no other.)
//!
//! Every segment name is unique (`/sd-cli-<pid>-<n>`) and unlinked on drop; every child is
//! killed and reaped on drop; every wait has a deadline.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::Value;
use shm_disruptor::{Disruptor, Slot};

const BIN: &str = env!("CARGO_BIN_EXE_shm-disruptor");
/// The longest any command or helper may take (CI has 2 cores and runs tests in parallel).
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Tick {
    price: f64,
    qty: u32,
    side: u8,
    _pad: [u8; 3],
}

fn tick(i: u64) -> Tick {
    Tick { price: i as f64 + 0.5, qty: i as u32 * 10, side: (i % 2) as u8, _pad: [0; 3] }
}

/// A unique segment name, unlinked on drop.
struct Name(String);

impl Name {
    fn new() -> Name {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Name(format!("/sd-cli-{}-{n}", std::process::id()))
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/shm{}", self.0))
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = shm_disruptor::unlink(&self.0);
    }
}

fn publish(ring: &Disruptor<Tick>, range: std::ops::Range<u64>) {
    let mut producer = ring.producer().unwrap();
    for i in range {
        let mut claim = producer.claim_timeout(DEADLINE).unwrap();
        *claim = tick(i);
        claim.commit();
    }
}

/// What a run of the tool produced.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }

    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "the command failed: {self:#?}");
        self
    }

    fn failed(self) -> Run {
        assert_eq!(self.code, Some(1), "the command should have failed: {self:#?}");
        self
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

/// Waits for `child` to exit; kills it, reaps it and fails the test if it outlives
/// [`DEADLINE`] (`what` names it in the failure).
fn wait_within_deadline(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the tool with `args`, killing it if it outlives [`DEADLINE`].
fn run(args: &[&str]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the tool");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = wait_within_deadline(&mut child, &format!("shm-disruptor {args:?}"));
    let text = |rx: mpsc::Receiver<String>| rx.recv_timeout(DEADLINE).unwrap_or_default();
    Run { code: status.code(), stdout: text(stdout), stderr: text(stderr) }
}

/// A helper process (see the module docs), killed and reaped on drop.
struct Helper {
    child: Child,
}

impl Helper {
    /// Starts `helper_process` in `role` on ring `name` and waits for its `READY` line.
    fn start(role: &str, name: &str) -> Helper {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "helper_process", "--nocapture", "--test-threads=1"])
            .env("SD_CLI_HELPER", role)
            .env("SD_CLI_RING", name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the helper");
        let stdout = child.stdout.take().unwrap();
        let helper = Helper { child };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print `test helper_process ... ` before it on the same line.
                if line.ends_with("READY") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(DEADLINE).unwrap_or_else(|_| panic!("helper {role} never got ready"));
        helper
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (SIGSTOP, SIGCONT...).
    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a PID of a child we have not reaped, and a valid signal number.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, signal) }, 0);
    }

    /// SIGKILLs it and reaps it.
    fn kill(mut self) -> u32 {
        let pid = self.pid();
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        pid
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Not a test: the participant that [`Helper`] runs in a separate process.
#[test]
#[ignore = "a helper process that the other tests start; does nothing on its own"]
fn helper_process() {
    let (Ok(role), Ok(name)) = (std::env::var("SD_CLI_HELPER"), std::env::var("SD_CLI_RING"))
    else {
        return;
    };
    let ring = Disruptor::<Tick>::open(&name).unwrap();
    let ready_then_hang = || -> ! {
        println!("READY");
        std::io::stdout().flush().unwrap();
        // Long enough for any test, short enough not to outlive a harness that failed to kill it.
        std::thread::sleep(Duration::from_secs(120));
        std::process::exit(3)
    };
    match role.as_str() {
        // Consumer 1 commits the first two messages, then hangs holding the index.
        "consumer" => {
            let mut consumer = ring.consumer(1).unwrap();
            while consumer.sequence() < 2 {
                let batch = consumer.consume_timeout(DEADLINE).unwrap();
                let take = (2 - batch.start()).min(batch.len() as u64) as usize;
                batch.commit_first(take);
            }
            ready_then_hang()
        }
        // A producer claims two slots, writes them, and hangs without committing.
        "producer" => {
            let mut producer = ring.producer().unwrap();
            let mut claim = producer.claim_many_timeout(2, DEADLINE).unwrap();
            claim.copy_from_slice(&[tick(100), tick(101)]);
            ready_then_hang()
        }
        // Publishes as fast as the ring takes it, until killed (or 120 s).
        "busy-producer" => {
            let mut producer = ring.producer().unwrap();
            let started = Instant::now();
            let mut i = 0;
            while started.elapsed() < Duration::from_secs(120) {
                if let Ok(mut claim) = producer.claim_timeout(Duration::from_millis(20)) {
                    *claim = tick(i);
                    claim.commit();
                    if i == 0 {
                        println!("READY");
                        std::io::stdout().flush().unwrap();
                    }
                    i += 1;
                }
            }
            std::process::exit(3)
        }
        // Consumer 0 consumes everything published, until killed (or 120 s).
        "busy-consumer" => {
            let mut consumer = ring.consumer(0).unwrap();
            println!("READY");
            std::io::stdout().flush().unwrap();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(120) {
                if let Ok(batch) = consumer.consume_timeout(Duration::from_millis(20)) {
                    batch.commit();
                }
            }
            std::process::exit(3)
        }
        // Consumer 0 sleeps on the ring's futex waiting for data that never comes.
        "sleeper" => {
            let mut consumer = ring.consumer(0).unwrap();
            consumer.set_wait_strategy(shm_disruptor::WaitStrategy::Block);
            println!("READY");
            std::io::stdout().flush().unwrap();
            let _ = consumer.consume_timeout(Duration::from_secs(120));
            std::process::exit(3)
        }
        other => panic!("unknown helper role {other}"),
    }
}

/// The lines of `text` from the one equal to `title` to the next blank line.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| *l != title);
    assert!(lines.next().is_some(), "no section {title:?} in:\n{text}");
    lines.take_while(|l| !l.is_empty()).collect()
}

/// The whitespace-separated cells of the row of `section` whose first cell is `first`.
fn row<'a>(section: &[&'a str], first: &str) -> Vec<&'a str> {
    section
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first:?} in {section:#?}"))
}

/// The value of `key   value` in the inspect header.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("  {key}")).filter(|v| v.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        .trim()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    assert_eq!(list["version"], 1, "{list:#}");
    list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed in {list:#}"))
}

#[test]
fn list_shows_rings_with_geometry_and_attached_processes() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(2).create().unwrap();
    publish(&ring, 0..3);
    ring.set_status(7);
    let me = std::process::id().to_string();

    let text = run(&["list"]).ok().stdout;
    let line = text.lines().find(|l| l.starts_with(&format!("{} ", &*name))).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cells[1..9], ["ring", "Tick", "8", "16", "2", "multi", "7", "3"], "{line}");
    assert!(line.contains(&me), "this process maps the ring: {line}");
    assert!(text.starts_with("NAME "), "{text}");

    let list = run(&["list", "--json"]).ok().json();
    let e = entry(&list, &name);
    assert_eq!(e["kind"], "ring");
    assert_eq!(e["type_name"], "Tick");
    assert_eq!((e["capacity"].as_u64(), e["slot_size"].as_u64()), (Some(8), Some(16)));
    assert_eq!((e["consumer_count"].as_u64(), e["dead_consumers"].as_u64()), (Some(2), Some(0)));
    assert_eq!((e["producer_mode"].as_str(), e["status"].as_i64()), (Some("multi"), Some(7)));
    assert_eq!((e["cursor"].as_u64(), e["claim_sequence"].as_u64()), (Some(3), Some(3)));
    assert_eq!(e["attached"], true);
    assert!(e["mapped_by"].as_array().unwrap().contains(&Value::from(std::process::id())));
    assert_eq!(e["live_users"], Value::Array(vec![]), "no handle is held now");
}

#[test]
fn inspect_shows_header_consumers_in_flight_claim_and_graph() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name)
        .capacity(8)
        .consumers(3)
        .depends_on(2, &[0, 1])
        .create()
        .unwrap();
    publish(&ring, 0..5);
    let mut consumer = ring.consumer(0).unwrap();
    consumer.consume_timeout(DEADLINE).unwrap().commit_first(3);
    let mut producer = ring.producer().unwrap();
    let claim = producer.claim_many(2).unwrap(); // held: a live producer's in-flight claim
    let me = std::process::id().to_string();

    let text = run(&["inspect", &name]).ok().stdout;
    assert_eq!(text.lines().next(), Some(format!("ring {}", &*name).as_str()));
    assert_eq!(field(&text, "type"), "Tick");
    assert_eq!(field(&text, "schema"), Tick::SCHEMA.to_string());
    assert_eq!(field(&text, "schema hash"), format!("{:#018x}", Tick::SCHEMA.hash));
    assert_eq!(field(&text, "layout"), "version 4");
    assert_eq!(field(&text, "slots"), "8 x 16 bytes, align 8");
    assert_eq!(field(&text, "producers"), "multi-producer");
    assert!(field(&text, "created").ends_with(&format!("by pid {me}")), "{text}");
    assert_eq!(field(&text, "cursor"), "5 (published)");
    assert_eq!(field(&text, "claim sequence"), "7 (2 claimed, not yet published)");
    assert!(field(&text, "attached").contains(&me));

    let fields = section(&text, "fields:");
    assert_eq!(row(&fields, "0"), ["0", "8", "price", "f64"]);
    assert_eq!(row(&fields, "8"), ["8", "4", "qty", "u32"]);
    assert_eq!(row(&fields, "13"), ["13", "3", "_pad", "[u8;", "3]"]);

    let consumers = section(&text, "consumers:");
    assert_eq!(row(&consumers, "0"), ["0", "3", "2", "live", &me, "1", "cursor"]);
    assert_eq!(row(&consumers, "1"), ["1", "0", "5", "gone", "-", "0", "cursor"]);
    assert_eq!(row(&consumers, "2"), ["2", "0", "5", "gone", "-", "0", "consumers", "0,", "1"]);

    let producers = section(&text, "producers:");
    assert_eq!(row(&producers, "0"), ["0", &me, "alive", "5..7", "(2", "slots)"]);
    assert!(producers.contains(&"  orphaned claim: none"), "{producers:#?}");

    let graph = section(&text, "dependency graph:");
    assert_eq!(
        graph,
        [
            "  cursor -> consumer 0",
            "  cursor -> consumer 1",
            "  consumers 0, 1 -> consumer 2",
            "  producers wait for consumer(s) 2"
        ]
    );

    let json = run(&["inspect", &name, "--json"]).ok().json();
    assert_eq!(json["name"], &*name);
    assert_eq!(json["type_name"], "Tick");
    assert_eq!(json["layout_version"], 4);
    assert_eq!(json["schema"]["text"], Tick::SCHEMA.to_string());
    assert_eq!(json["schema"]["hash"], format!("{:#018x}", Tick::SCHEMA.hash));
    let offsets: Vec<(&str, u64, u64)> = json["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["offset"].as_u64().unwrap(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(offsets, [("price", 0, 8), ("qty", 8, 4), ("side", 12, 1), ("_pad", 13, 3)]);
    assert_eq!((json["capacity"].as_u64(), json["slot_size"].as_u64()), (Some(8), Some(16)));
    assert_eq!((json["cursor"].as_u64(), json["claim_sequence"].as_u64()), (Some(5), Some(7)));
    assert_eq!(json["in_flight"], 2);
    assert_eq!(json["creator_pid"], std::process::id());
    let c = &json["consumers"];
    assert_eq!((c[0]["sequence"].as_u64(), c[0]["lag"].as_u64()), (Some(3), Some(2)));
    assert_eq!(
        (c[0]["state"].as_str(), c[0]["owner_pid"].as_u64()),
        (Some("live"), Some(std::process::id().into()))
    );
    assert_eq!((c[1]["state"].as_str(), c[1]["owner_pid"].is_null()), (Some("gone"), true));
    assert_eq!(c[2]["dependencies"], serde_json::json!([0, 1]));
    assert_eq!(json["gating"], serde_json::json!([2]));
    let p = &json["producers"][0];
    assert_eq!(
        (p["state"].as_str(), p["pid"].as_u64()),
        (Some("alive"), Some(std::process::id().into()))
    );
    assert_eq!(p["pending"], serde_json::json!({"start": 5, "end": 7}));
    assert!(json["orphaned_claim"].is_null());
    assert_eq!(json["live_users"], serde_json::json!([std::process::id()]));

    // Inspecting took nothing: the claim still commits, the consumers still attach.
    claim.commit();
    assert_eq!(ring.consumer_sequence(0), Some(3));
    drop(consumer);
    for index in 0..3 {
        ring.consumer(index).unwrap();
    }
}

#[test]
fn a_claim_left_pending_is_reported_as_orphaned() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(1).create().unwrap();
    publish(&ring, 0..2);
    let mut producer = ring.producer().unwrap();
    assert_eq!(producer.claim_many(3).unwrap().leave_pending(), 2..5);

    let text = run(&["inspect", &name]).ok().stdout;
    assert_eq!(field(&text, "claim sequence"), "5 (3 claimed, not yet published)");
    let producers = section(&text, "producers:");
    assert_eq!(row(&producers, "0")[2..], ["alive", "-"]);
    assert!(
        producers
            .iter()
            .any(|l| l.starts_with("  orphaned claim: 2..5 (3 slots) blocks the cursor")),
        "{producers:#?}"
    );

    let json = run(&["inspect", &name, "--json"]).ok().json();
    assert_eq!(json["orphaned_claim"], serde_json::json!({"start": 2, "end": 5}));
    assert!(json["producers"][0]["pending"].is_null());
    assert_eq!((json["cursor"].as_u64(), json["in_flight"].as_u64()), (Some(2), Some(3)));
}

#[test]
fn dead_consumer_and_dead_producer_are_reported_with_their_pids() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(2).create().unwrap();
    publish(&ring, 0..4);
    let consumer_pid = Helper::start("consumer", &name).kill();
    let producer_pid = Helper::start("producer", &name).kill();
    let (consumer_pid, producer_pid) = (consumer_pid.to_string(), producer_pid.to_string());

    let text = run(&["inspect", &name]).ok().stdout;
    let consumers = section(&text, "consumers:");
    assert_eq!(row(&consumers, "1"), ["1", "2", "2", "dead", &consumer_pid, "1", "cursor"]);
    assert_eq!(row(&consumers, "0")[3], "gone");
    let producers = section(&text, "producers:");
    assert_eq!(row(&producers, "0"), ["0", &producer_pid, "dead", "4..6", "(2", "slots)"]);
    assert!(
        producers.iter().any(|l| l.starts_with("  orphaned claim: 4..6 (2 slots)")),
        "{producers:#?}"
    );
    assert_eq!(field(&text, "claim sequence"), "6 (2 claimed, not yet published)");

    let json = run(&["inspect", &name, "--json"]).ok().json();
    let c = &json["consumers"][1];
    assert_eq!((c["state"].as_str(), c["owner_pid"].to_string()), (Some("dead"), consumer_pid));
    assert_eq!(
        (c["sequence"].as_u64(), c["lag"].as_u64(), c["commits"].as_u64()),
        (Some(2), Some(2), Some(1))
    );
    let p = &json["producers"][0];
    assert_eq!((p["state"].as_str(), p["pid"].to_string()), (Some("dead"), producer_pid));
    assert_eq!(p["pending"], serde_json::json!({"start": 4, "end": 6}));
    assert_eq!(json["orphaned_claim"], serde_json::json!({"start": 4, "end": 6}));
    assert_eq!(json["live_users"], serde_json::json!([]));

    let list = run(&["list"]).ok().stdout;
    let line = list.lines().find(|l| l.starts_with(&format!("{} ", &*name))).unwrap();
    assert!(line.contains(" 2 (1 dead) "), "{line}");
    let list = run(&["list", "--json"]).ok().json();
    assert_eq!(entry(&list, &name)["dead_consumers"], 1);

    // Nothing was changed: the dead consumer is still there to be evicted or resumed.
    assert_eq!(ring.evict_dead_consumers(), vec![1]);
}

#[test]
fn peek_decodes_fields_and_hex_and_never_consumes() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(1).create().unwrap();
    assert!(run(&["peek", &name]).ok().stdout.contains("cursor 0: nothing published yet"));
    publish(&ring, 0..5);

    let text = run(&["peek", &name, "--last", "3"]).ok().stdout;
    assert!(text.starts_with(&format!("ring {}: {}\n", &*name, Tick::SCHEMA)), "{text}");
    assert!(text.contains("cursor 5: the last 3 published slots"), "{text}");
    let slot = section(&text, "sequence 2");
    assert_eq!(
        slot[..4],
        ["  price: f64 = 2.5", "  qty: u32 = 20", "  side: u8 = 0", "  _pad: [u8; 3] = [0, 0, 0]",]
    );
    // Then the hex dump: the offset, the 16 bytes, the bytes as ASCII.
    assert_eq!(slot.len(), 5, "{slot:#?}");
    assert!(slot[4].starts_with("  0000"), "{slot:#?}");
    assert_eq!(
        slot[4].split_whitespace().skip(1).collect::<Vec<_>>(),
        "00 00 00 00 00 00 04 40 14 00 00 00 00 00 00 00 .......@........"
            .split(' ')
            .collect::<Vec<_>>(),
    );
    assert!(text.contains("\nsequence 4\n  price: f64 = 4.5\n"), "{text}");
    assert!(!text.contains("sequence 1\n"), "{text}");
    let none = run(&["peek", &name, "--last", "0"]).ok().stdout;
    assert!(none.ends_with("cursor 5: the last 0 published slots\n"), "{none}");

    let json = run(&["peek", &name, "--last", "100", "--json"]).ok().json();
    assert_eq!((json["cursor"].as_u64(), json["overwritten"].as_u64()), (Some(5), Some(0)));
    let slots = json["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 5, "at most the cursor");
    assert_eq!(slots[3]["sequence"], 3);
    assert_eq!(
        slots[3]["fields"][0],
        serde_json::json!({"name": "price", "type": "f64", "offset": 0, "value": 3.5})
    );
    assert_eq!(slots[3]["fields"][1]["value"], 30);
    assert_eq!(slots[3]["fields"][3]["value"], serde_json::json!([0, 0, 0]));
    assert_eq!(slots[3]["hex"], "0000000000000c401e00000001000000");

    // Nothing was consumed and no index was taken.
    assert_eq!(ring.consumer_sequence(0), Some(0));
    let mut consumer = ring.consumer(0).unwrap();
    assert_eq!(consumer.try_consume().len(), 5);
}

#[test]
fn peek_shows_only_what_the_ring_still_holds() {
    let name = Name::new();
    let ring = Disruptor::<u64>::builder(&name).capacity(4).consumers(1).create().unwrap();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer(0).unwrap();
    for i in 0..10u64 {
        let mut claim = producer.claim_timeout(DEADLINE).unwrap();
        *claim = i * 3;
        claim.commit();
        consumer.try_consume().commit();
    }
    let json = run(&["peek", &name, "--last", "10", "--json"]).ok().json();
    let seen: Vec<(u64, u64)> = json["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["sequence"].as_u64().unwrap(), s["fields"][0]["value"].as_u64().unwrap()))
        .collect();
    assert_eq!(seen, [(6, 18), (7, 21), (8, 24), (9, 27)]);
    assert_eq!(json["slots"][0]["fields"][0]["name"], "value");
    let text = run(&["peek", &name, "--last", "1"]).ok().stdout;
    assert!(text.contains("sequence 9\n  value: u64 = 27\n"), "{text}");
}

#[test]
fn foreign_segment_is_reported_not_crashed_on() {
    let name = Name::new();
    std::fs::write(name.path(), vec![0xab; 8192]).unwrap();

    for args in [vec!["inspect", &name], vec!["peek", &name], vec!["watch", &name, "--count", "1"]]
    {
        let run = run(&args).failed();
        assert!(run.stderr.contains("is not a shm-disruptor ring (bad magic [ab, ab"), "{run:#?}");
    }
    let json = run(&["inspect", &name, "--json"]).failed().json();
    assert_eq!(json["error"]["kind"], "foreign");
    assert_eq!(json["name"], &*name);

    assert!(!run(&["list"]).ok().stdout.contains(&*name), "foreign segments only with --all");
    let line = run(&["list", "--all"]).ok().stdout;
    let line = line.lines().find(|l| l.starts_with(&format!("{} ", &*name))).unwrap().to_owned();
    assert!(
        line.contains(" foreign ") && line.ends_with("not a ring (first bytes abababababababab)"),
        "{line}"
    );
    let list = run(&["list", "--all", "--json"]).ok().json();
    assert_eq!(entry(&list, &name)["kind"], "foreign");
    assert_eq!(entry(&list, &name)["size"], 8192);

    // Too short for a header (1 byte, or 3): "too small", not a bad magic, nor a ring waiting
    // for its creator.
    for bytes in [&b"a"[..], b"abc"] {
        let tiny = Name::new();
        std::fs::write(tiny.path(), bytes).unwrap();
        for args in [vec!["inspect", &tiny], vec!["peek", &tiny]] {
            let run_ = run(&args).failed();
            let says = format!("is too small: {} bytes, but 4096 bytes are needed", bytes.len());
            assert!(run_.stderr.contains(&says), "{run_:#?}");
        }
        let json = run(&["inspect", &tiny, "--json"]).failed().json();
        assert_eq!(json["error"]["kind"], "too_small");
        let list = run(&["list", "--all", "--json"]).ok().json();
        assert_eq!(entry(&list, &tiny)["kind"], "too_small");
        assert_eq!(entry(&list, &tiny)["first_bytes"], hex_of(bytes));
        let text = run(&["list", "--all"]).ok().stdout;
        let line = text.lines().find(|l| l.starts_with(&format!("{} ", &*tiny))).unwrap();
        assert!(line.contains(" too-small ") && line.contains("too small to be a ring"), "{line}");
        assert!(run(&["rm", &tiny]).failed().stderr.contains("too small"));
    }

    let refused = run(&["rm", &name]).failed();
    assert!(refused.stderr.contains("is not a shm-disruptor ring; use --force"), "{refused:#?}");
    assert!(name.path().exists());
    run(&["rm", &name, "--force"]).ok();
    assert!(!name.path().exists());
}

#[test]
fn corrupt_headers_are_reported_with_the_typed_error() {
    // Offsets in the header: layout_version at 8, producer_mode at 60 (see `shm::Header`).
    for (offset, value, message, kind) in [
        (60u64, 7u32, "is corrupt: producer mode 7 is not 1 or 2", "corrupt"),
        (8, 99, "has layout version 99, this build supports 4", "unsupported_version"),
    ] {
        let name = Name::new();
        drop(Disruptor::<Tick>::builder(&name).capacity(8).consumers(1).create().unwrap());
        let mut file = std::fs::OpenOptions::new().write(true).open(name.path()).unwrap();
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(&value.to_ne_bytes()).unwrap();

        for args in [vec!["inspect", &name], vec!["peek", &name]] {
            let run = run(&args).failed();
            assert!(run.stderr.contains(message), "{run:#?}");
            assert!(run.stdout.is_empty(), "{run:#?}");
        }
        let json = run(&["peek", &name, "--json"]).failed().json();
        assert_eq!(json["error"]["kind"], kind);
        assert!(json["error"]["message"].as_str().unwrap().contains(message));

        let list = run(&["list"]).ok().stdout;
        let line = list.lines().find(|l| l.starts_with(&format!("{} ", &*name))).unwrap();
        assert!(line.contains(" corrupt ") && line.contains(message), "{line}");
        let list = run(&["list", "--json"]).ok().json();
        let e = entry(&list, &name);
        assert_eq!((e["kind"].as_str(), e["error_kind"].as_str()), (Some("corrupt"), Some(kind)));

        let removed = run(&["rm", &name]).ok();
        assert_eq!(removed.stdout, format!("removed corrupt ring {}\n", &*name));
    }
}

#[test]
fn an_uninitialised_segment_is_reported_as_such() {
    let name = Name::new();
    std::fs::write(name.path(), vec![0u8; 8192]).unwrap();
    let list = run(&["list", "--json"]).ok().json();
    assert_eq!(entry(&list, &name)["kind"], "uninitialised");
    let run_ = run(&["inspect", &name]).failed();
    assert!(run_.stderr.contains("was not initialised"), "{run_:#?}");
    let json = run(&["inspect", &name, "--json"]).failed().json();
    assert_eq!(json["error"]["kind"], "not_initialised");
    let removed = run(&["rm", &name]).ok();
    assert_eq!(removed.stdout, format!("removed uninitialised segment {}\n", &*name));
}

#[test]
fn rm_refuses_a_ring_in_use_unless_forced() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(1).create().unwrap();
    let consumer = ring.consumer(0).unwrap();
    let me = std::process::id().to_string();

    let refused = run(&["rm", &name]).failed();
    assert!(
        refused.stderr.contains(&format!("ring {} is in use by live process(es) {me}", &*name)),
        "{refused:#?}"
    );
    assert!(name.path().exists());

    // Without a handle, the process still maps the ring: still in use.
    drop(consumer);
    assert!(run(&["rm", &name]).failed().stderr.contains(&me));

    let forced = run(&["rm", &name, "--force"]).ok();
    assert_eq!(
        forced.stdout,
        format!("removed ring {} (still mapped by process(es) {me})\n", &*name)
    );
    assert!(!name.path().exists());
    drop(ring);

    // A ring nobody uses goes without --force.
    let idle = Name::new();
    drop(Disruptor::<Tick>::builder(&idle).capacity(8).consumers(1).create().unwrap());
    assert_eq!(run(&["rm", &idle]).ok().stdout, format!("removed ring {}\n", &*idle));
    let gone = run(&["inspect", &idle]).failed();
    assert!(gone.stderr.contains("does not exist"), "{gone:#?}");
    assert!(run(&["rm", &idle]).failed().stderr.contains("does not exist"));
}

#[test]
fn watch_refreshes_with_rates_until_its_count() {
    let name = Name::new();
    let ring = Disruptor::<u64>::builder(&name).capacity(1024).consumers(2).create().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        // Attached and released before `watch` starts, so that its first refresh sees them.
        let mut producer = ring.producer().unwrap();
        let mut consumer = ring.consumer(0).unwrap();
        ring.consumer(1).unwrap().release();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut claim) = producer.try_claim() {
                    *claim = i;
                    claim.commit();
                    i += 1;
                }
                consumer.try_consume().commit();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let out = run(&["watch", &name, "--interval", "300", "--count", "3"]).ok().stdout;
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();

    let blocks: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{out}");
    let mut published = Vec::new();
    for block in &blocks {
        let head: Vec<&str> = block.lines().next().unwrap().split_whitespace().collect();
        assert_eq!((head[0], head[1]), (&*name.0, "u64"), "{block}");
        let rate = head.iter().position(|c| *c == "published/s").map(|i| head[i + 1]).unwrap();
        published.push(rate.to_owned());
        let rows: Vec<&str> = block.lines().skip(1).collect();
        assert_eq!(rows[0].split_whitespace().collect::<Vec<_>>()[..3], ["#", "SEQUENCE", "LAG"]);
        assert_eq!(row(&rows, "1")[1..4], ["-", "-", "released"], "{block}");
        assert_eq!(row(&rows, "0")[3], "live", "{block}");
    }
    assert_eq!(published[0], "-", "no rate before the second refresh");
    assert!(
        published[1..].iter().any(|r| r.parse::<f64>().is_ok_and(|r| r > 0.0)),
        "messages were published meanwhile: {published:?}\n{out}"
    );
}

#[test]
fn missing_rings_and_bad_arguments_fail_cleanly() {
    let name = Name::new();
    for args in
        [vec!["inspect", &name], vec!["peek", &name], vec!["watch", &name], vec!["rm", &name]]
    {
        let run = run(&args).failed();
        assert!(run.stderr.contains("does not exist"), "{run:#?}");
    }
    let bad = run(&["inspect", "/a/b"]).failed();
    assert!(bad.stderr.contains("invalid segment name"), "{bad:#?}");
    assert_eq!(run(&["peek", &name, "--last", "x"]).code, Some(2));
    assert_eq!(run(&["watch", &name, "--interval", "1"]).code, Some(2));
    assert_eq!(run(&["frobnicate"]).code, Some(2));
    // A name without the slash, or as a path, means the same ring.
    let ring = Disruptor::<Tick>::builder(&name).capacity(2).consumers(1).create().unwrap();
    for alias in [&name[1..], &format!("/dev/shm{}", &*name)] {
        assert_eq!(run(&["inspect", alias, "--json"]).ok().json()["name"], &*name);
    }
    drop(ring);
}

/// Trust review, item 12: a FIFO planted under a ring's name (any local user can make one in
/// `/dev/shm`) must not make the command wait for a writer forever.
#[test]
fn a_fifo_under_the_name_is_reported_as_foreign_without_blocking() {
    let name = Name::new();
    let path = std::ffi::CString::new(name.path().to_str().unwrap()).unwrap();
    // SAFETY: `path` is a valid NUL-terminated string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    for args in [
        vec!["inspect", &name],
        vec!["peek", &name],
        vec!["watch", &name, "--count", "1"],
        vec!["rm", &name],
    ] {
        let run = run(&args).failed();
        assert!(run.stderr.contains("is a FIFO"), "{args:?}: {run:#?}");
    }
    let json = run(&["inspect", &name, "--json"]).failed().json();
    assert_eq!(json["error"]["kind"], "foreign");
    run(&["rm", &name, "--force"]).ok();
    assert!(!name.path().exists());
}

/// Trust review, item 11: a ring truncated while `watch` shows it is reported, not a SIGBUS.
#[test]
fn watch_reports_a_ring_truncated_under_it() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(1024).consumers(1).create().unwrap();
    publish(&ring, 0..3);
    let mut child = Command::new(BIN)
        .args(["watch", &name, "--interval", "20", "--count", "100000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("cursor 3"), "{first}");
    std::fs::OpenOptions::new().write(true).open(name.path()).unwrap().set_len(4096).unwrap();
    let status = wait_within_deadline(&mut child, "watch, after the truncation,");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "exited by itself, not killed by SIGBUS: {status} {stderr}");
    assert!(stderr.contains("is too small: 4096 bytes, but"), "{stderr}");
    // The other commands refuse it the same way.
    let run = run(&["inspect", &name]).failed();
    assert!(run.stderr.contains("is too small: 4096 bytes, but"), "{run:#?}");
}

/// The nearest-rank percentile that the tool documents: the smallest lag that at least `p`
/// percent of the (not released) consumers are at or below.
fn nearest_rank(sorted: &[u64], p: usize) -> u64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// The consumer rows of a table (every line after the one whose first cell is `#`), as cells.
fn table_rows<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .skip_while(|cells| cells.first() != Some(&"#"))
        .skip(1)
        .collect()
}

/// The rows of the producer records table (from its `ENTRY` header to the line after it that
/// is not a row), as cells.
fn record_rows<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    lines
        .iter()
        .skip_while(|l| !l.starts_with("  ENTRY "))
        .skip(1)
        .take_while(|l| !l.starts_with("  orphaned claim:") && !l.starts_with("  ..."))
        .map(|l| l.split_whitespace().collect())
        .collect()
}

/// The numbers after `min`, `p50`, `p90`, `p99` and `max` on the `lag:` line of `lines`.
fn lag_line(lines: &[&str]) -> [u64; 5] {
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix("  lag: "))
        .unwrap_or_else(|| panic!("no lag line in {lines:#?}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    ["min", "p50", "p90", "p99", "max"].map(|key| {
        let at = cells.iter().position(|c| *c == key).unwrap_or_else(|| panic!("{key}: {line}"));
        cells[at + 1].parse().unwrap_or_else(|_| panic!("{key}: {line}"))
    })
}

/// Issue: rings of 1,000 consumers. `inspect` and `watch` summarise them (counts, lag
/// percentiles, the slowest consumers), `--all` and `--json` still show every one, `list` keeps
/// one line per ring, and the producers section counts the records and shows only those in use.
#[test]
fn a_ring_of_1000_consumers_is_summarised() {
    const CONSUMERS: usize = 1000;
    const CURSOR: u64 = 1000;
    const RELEASED: std::ops::Range<usize> = 900..910;
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name)
        .capacity(1024)
        .consumers(CONSUMERS)
        .producers(100)
        .create()
        .unwrap();
    publish(&ring, 0..CURSOR);

    // The lag each consumer is left at (`None`: released). Most trail by `7i mod 900` (nearly
    // all different, so that every percentile depends on its exact rank); a few are slower:
    // 123 never attached, 1 is taken by a helper that commits 2 and is killed, 456 is held here
    // at 3, 790 and 789 (a tie: the lower index is listed first) detached at 5. 0 and 456 are
    // held (live).
    let mut lags: Vec<Option<u64>> = (0..CONSUMERS).map(|i| Some(i as u64 * 7 % 900)).collect();
    let slow =
        [(123, CURSOR), (1, CURSOR - 2), (456, CURSOR - 3), (790, CURSOR - 5), (789, CURSOR - 5)];
    for (i, lag) in slow {
        lags[i] = Some(lag);
    }
    for i in RELEASED {
        lags[i] = None;
    }
    let dead_pid = Helper::start("consumer", &name).kill().to_string();
    let mut held = Vec::new();
    for (i, lag) in lags.iter().enumerate() {
        if i == 1 || i == 123 {
            continue;
        }
        let mut consumer = ring.consumer(i).unwrap();
        match lag {
            None => consumer.release(),
            Some(lag) => {
                let target = CURSOR - lag;
                while consumer.sequence() < target {
                    let batch = consumer.consume_timeout(DEADLINE).unwrap();
                    let take = (target - batch.start()).min(batch.len() as u64) as usize;
                    batch.commit_first(take);
                }
                if i == 0 || i == 456 {
                    held.push(consumer);
                }
            }
        }
    }
    for (i, lag) in lags.iter().enumerate() {
        if let Some(lag) = lag {
            assert_eq!(ring.consumer_sequence(i), Some(CURSOR - lag), "set-up of consumer {i}");
        }
    }
    // 20 producer handles of the 100 records, one with a claim in flight.
    let mut producers: Vec<_> = (0..18).map(|_| ring.producer().unwrap()).collect();
    let mut claiming = ring.producer().unwrap();
    let claim = claiming.claim_many(2).unwrap();
    producers.push(ring.producer().unwrap()); // a record taken after the claim
    assert_eq!(claim.start(), CURSOR);

    // What the tool should say, from the set-up above.
    let mut sorted: Vec<u64> = lags.iter().flatten().copied().collect();
    sorted.sort_unstable();
    let percentiles = [
        sorted[0],
        nearest_rank(&sorted, 50),
        nearest_rank(&sorted, 90),
        nearest_rank(&sorted, 99),
        sorted[sorted.len() - 1],
    ];
    let mut slowest: Vec<(usize, u64)> =
        lags.iter().enumerate().filter_map(|(i, l)| l.map(|l| (i, l))).collect();
    slowest.sort_by_key(|&(i, lag)| (std::cmp::Reverse(lag), i));
    let (live, dead, released) = (2, 1, RELEASED.len());
    let counts = format!(
        "  {CONSUMERS} consumers: {live} live, {dead} dead, {} gone, {released} released",
        CONSUMERS - live - dead - released
    );
    let me = std::process::id().to_string();
    let state_of = |i: usize| match i {
        0 | 456 => "live",
        1 => "dead",
        _ => "gone",
    };
    let owner_of = |i: usize| match i {
        0 | 456 => me.clone(),
        1 => dead_pid.clone(),
        _ => "-".into(),
    };

    let text = run(&["inspect", &name]).ok().stdout;
    assert!(text.lines().count() < 60, "{} lines:\n{text}", text.lines().count());
    let consumers = section(&text, "consumers:");
    assert_eq!(consumers[0], counts, "{text}");
    assert_eq!(lag_line(&consumers), percentiles, "{text}");
    let not_released = CONSUMERS - released;
    assert!(consumers[2].starts_with(&format!("  slowest 10 of {not_released} ")), "{text}");
    let rows = table_rows(&consumers);
    assert_eq!(rows.len(), 10, "{text}");
    for (row, &(index, lag)) in rows.iter().zip(&slowest) {
        let (index_, lag_, sequence) = (index.to_string(), lag.to_string(), CURSOR - lag);
        // One batch committed by each consumer that ever committed (123 never attached).
        let commits = if index == 123 { "0" } else { "1" };
        let sequence = sequence.to_string();
        let owner = owner_of(index);
        let expected = [&*index_, &sequence, &lag_, state_of(index), &owner, commits, "cursor"];
        assert_eq!(row, &expected, "{text}");
    }
    assert_eq!(rows[0][0], "123");
    let three = run(&["inspect", &name, "--slowest", "3"]).ok().stdout;
    let three_rows: Vec<String> =
        table_rows(&section(&three, "consumers:")).iter().map(|r| r[0].to_owned()).collect();
    assert_eq!(three_rows, slowest[..3].iter().map(|s| s.0.to_string()).collect::<Vec<_>>());

    let producers_text = section(&text, "producers:");
    assert_eq!(
        producers_text[0], "  records: 20 of 100 with an owner or a pending claim",
        "{text}"
    );
    let producer_rows = record_rows(&producers_text);
    assert_eq!(producer_rows.len(), 10, "{text}");
    let in_flight = format!("{CURSOR}..{}", CURSOR + 2);
    assert_eq!(producer_rows[0][3], in_flight, "the claim in flight comes first: {text}");
    assert!(producers_text
        .contains(&"  ... and 10 more (10 alive, 0 dead, 0 gone; --all shows every one)"));

    // --all: a row per consumer and per producer record, as for a small ring.
    let all = run(&["inspect", &name, "--all"]).ok().stdout;
    let rows = table_rows(&section(&all, "consumers:"));
    assert_eq!(rows.len(), CONSUMERS, "{all}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], i.to_string());
        assert_eq!(row[2], lags[i].map_or("-".into(), |l| l.to_string()));
    }
    let producer_rows = record_rows(&section(&all, "producers:"));
    assert_eq!(producer_rows.len(), 20, "{all}");
    assert!(!all.contains("more (")); // nothing left out

    // --json: complete, with the summary.
    let json = run(&["inspect", &name, "--json"]).ok().json();
    let entries = json["consumers"].as_array().unwrap();
    assert_eq!(entries.len(), CONSUMERS);
    for (i, c) in entries.iter().enumerate() {
        assert_eq!((c["index"].as_u64(), c["lag"].as_u64()), (Some(i as u64), lags[i]));
    }
    let summary = &json["consumer_summary"];
    assert_eq!(
        (summary["live"].as_u64(), summary["dead"].as_u64(), summary["released"].as_u64()),
        (Some(live as u64), Some(dead as u64), Some(released as u64))
    );
    let lag = &summary["lag"];
    assert_eq!(["min", "p50", "p90", "p99", "max"].map(|k| lag[k].as_u64().unwrap()), percentiles);
    let expected: Vec<u64> = slowest[..10].iter().map(|s| s.0 as u64).collect();
    assert_eq!(summary["slowest"], serde_json::json!(expected));
    assert_eq!(json["producer_count"], 100);
    assert_eq!(json["producers"].as_array().unwrap().len(), 20);

    // list: still one line for the ring.
    let list = run(&["list"]).ok().stdout;
    let lines: Vec<&str> =
        list.lines().filter(|l| l.starts_with(&format!("{} ", &*name))).collect();
    assert_eq!(lines.len(), 1, "{list}");
    assert!(lines[0].contains(&format!(" {CONSUMERS} ({dead} dead) ")), "{list}");

    // watch: the same summary, a frame of a few lines.
    let frame = run(&["watch", &name, "--count", "1"]).ok().stdout;
    assert!(frame.lines().count() < 25, "{frame}");
    let lines: Vec<&str> = frame.lines().collect();
    assert_eq!(lines[1], counts, "{frame}");
    assert_eq!(lag_line(&lines), percentiles, "{frame}");
    let rows = table_rows(&lines);
    let order: Vec<String> = rows.iter().map(|r| r[0].to_owned()).collect();
    assert_eq!(order, slowest[..10].iter().map(|s| s.0.to_string()).collect::<Vec<_>>());
    for (row, &(_, lag)) in rows.iter().zip(&slowest) {
        assert_eq!(row[2], lag.to_string(), "{frame}");
    }
    let frame = run(&["watch", &name, "--count", "1", "--all"]).ok().stdout;
    assert_eq!(table_rows(&frame.lines().collect::<Vec<_>>()).len(), CONSUMERS);

    claim.commit();
    drop((held, producers, claiming));
}

/// Issue: the dependency graph of a large ring is grouped by the stages consumers follow, with
/// index ranges, and so is the producers' gating set.
#[test]
fn the_graph_of_a_large_ring_is_grouped_into_ranges() {
    let name = Name::new();
    let first: Vec<usize> = (0..10).collect();
    let middle: Vec<usize> = (10..990).collect();
    let mut builder = Disruptor::<Tick>::builder(&name).capacity(8).consumers(1000);
    for i in 10..990 {
        builder = builder.depends_on(i, if i == 500 { &[0, 5] } else { &first });
    }
    for i in 990..1000 {
        builder = builder.depends_on(i, &middle);
    }
    let _ring = builder.create().unwrap();

    let expected = [
        "  cursor -> consumers 0..=9",
        "  consumers 0..=9 -> consumers 10..=499, 501..=989",
        "  consumers 0, 5 -> consumer 500",
        "  consumers 10..=989 -> consumers 990..=999",
        "  producers wait for consumer(s) 990..=999",
    ];
    for args in [vec!["inspect", &name], vec!["inspect", &name, "--all"]] {
        let text = run(&args).ok().stdout;
        assert_eq!(section(&text, "dependency graph:"), expected, "{args:?}:\n{text}");
    }
    // The consumers' FOLLOWS column uses ranges too.
    let all = run(&["inspect", &name, "--all"]).ok().stdout;
    assert_eq!(row(&section(&all, "consumers:"), "995")[6..], ["consumers", "10..=989"]);

    let json = run(&["inspect", &name, "--json"]).ok().json();
    assert_eq!(json["consumers"][500]["dependencies"], serde_json::json!([0, 5]));
    assert_eq!(json["consumers"][995]["dependencies"], serde_json::json!(middle));
    assert_eq!(json["gating"], serde_json::json!((990..1000).collect::<Vec<_>>()));
}

/// Polls `check` every 10 ms until it returns `Some`, failing after [`DEADLINE`] with `what`
/// and the last value it saw.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if started.elapsed() > DEADLINE => {
                panic!("{what}: not within {DEADLINE:?}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The exporter, killed and reaped on drop.
struct Exporter {
    child: Child,
    address: String,
}

impl Exporter {
    fn start(names: &[&str]) -> Exporter {
        let mut child = Command::new(BIN)
            .args(["metrics", "--listen", "127.0.0.1:0"])
            .args(names)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the exporter");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("serving metrics on http://") {
                    let _ = tx.send(rest.trim_end_matches("/metrics").to_owned());
                }
            }
        });
        let mut exporter = Exporter { child, address: String::new() };
        exporter.address =
            rx.recv_timeout(DEADLINE).expect("the exporter never said where it listens");
        exporter
    }

    /// `GET path` with a plain HTTP/1.0 request over TCP: (status line, body).
    fn get(&self, path: &str) -> (String, String) {
        use std::net::TcpStream;
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.address).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
    }

    /// Scrapes `/metrics` and parses it.
    fn scrape(&self) -> Scrape {
        let (status, body) = self.get("/metrics");
        assert!(status.contains(" 200 "), "{status}\n{body}");
        Scrape::parse(&body)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed scrape: every sample as (name, labels, value).
#[derive(Debug)]
struct Scrape(Vec<Sample>);

/// One sample: its metric name, its labels, its value.
type Sample = (String, Vec<(String, String)>, f64);

impl Scrape {
    /// Parses the OpenMetrics text format strictly: `# HELP`/`# TYPE` lines, samples
    /// `name{label="value",...} number`, and `# EOF` last.
    fn parse(text: &str) -> Scrape {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
        let mut samples = Vec::new();
        for line in &lines[..lines.len() - 1] {
            if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                    let labels = rest
                        .split(',')
                        .filter(|l| !l.is_empty())
                        .map(|l| {
                            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{line}"));
                            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                            (k.to_owned(), v.unwrap_or_else(|| panic!("{line}")).to_owned())
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, Vec::new()),
            };
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "metric name {name:?}"
            );
            samples.push((name.to_owned(), labels, value));
        }
        Scrape(samples)
    }

    /// The value of `name` whose labels include every one of `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .iter()
            .find(|(n, l, _)| {
                n == name && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
    }
}

#[test]
fn metrics_follow_a_running_ring_over_http() {
    let name = Name::new();
    let capacity = 256;
    let _ring = Disruptor::<Tick>::builder(&name).capacity(capacity).consumers(1).create().unwrap();
    let exporter = Exporter::start(&[&name]);
    let (status, _) = exporter.get("/nothing");
    assert!(status.contains(" 404 "), "{status}");

    let consumer = Helper::start("busy-consumer", &name);
    let _producer = Helper::start("busy-producer", &name);
    let ring = [("ring", &*name)];
    let first = exporter.scrape();
    assert_eq!(first.get("shm_disruptor_ring_up", &ring), Some(1.0));
    assert_eq!(first.get("shm_disruptor_capacity_slots", &ring), Some(capacity as f64));
    // The messages flow: both counters move between scrapes.
    let published_before = first.get("shm_disruptor_published_total", &ring).unwrap();
    let consumer0 = [("ring", &*name), ("consumer", "0")];
    eventually("published and consumed counters rise", || {
        let s = exporter.scrape();
        let published = s.get("shm_disruptor_published_total", &ring).unwrap_or(0.0);
        let consumed = s.get("shm_disruptor_consumer_consumed_total", &consumer0).unwrap_or(0.0);
        if published > published_before && consumed > 0.0 {
            Ok(())
        } else {
            Err(format!("published {published}, consumed {consumed}"))
        }
    });
    let live = [("ring", &*name), ("role", "consumer"), ("state", "live")];
    let dead = [("ring", &*name), ("role", "consumer"), ("state", "dead")];
    assert_eq!(exporter.scrape().get("shm_disruptor_participants", &live), Some(1.0));

    // Paused, the consumer falls a whole ring behind: its lag rises to the capacity, and the
    // producer is then blocked (but by a live consumer: not reported as a dead one's stall).
    consumer.signal(libc::SIGSTOP);
    eventually("the paused consumer's lag rises to the capacity", || {
        let s = exporter.scrape();
        match s.get("shm_disruptor_consumer_lag_messages", &consumer0) {
            Some(lag) if lag == capacity as f64 => Ok(()),
            other => Err(format!("lag {other:?}")),
        }
    });
    assert_eq!(exporter.scrape().get("shm_disruptor_producers_blocked", &ring), Some(0.0));

    // Killed, it is counted dead, and its stall is reported.
    assert_eq!(exporter.scrape().get("shm_disruptor_participants", &dead), Some(0.0));
    consumer.kill();
    eventually("the killed consumer is counted dead", || {
        let s = exporter.scrape();
        match (
            s.get("shm_disruptor_participants", &dead),
            s.get("shm_disruptor_producers_blocked", &ring),
        ) {
            (Some(1.0), Some(1.0)) => Ok(()),
            other => Err(format!("dead, blocked: {other:?}")),
        }
    });
    let s = exporter.scrape();
    assert_eq!(s.get("shm_disruptor_participants", &live), Some(0.0));
    assert_eq!(
        s.get("shm_disruptor_consumer_state", &[("consumer", "0"), ("state", "dead")]),
        Some(1.0)
    );
}

#[test]
fn a_dead_consumer_that_stalls_producers_is_named_and_evicted() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(4).consumers(2).create().unwrap();
    publish(&ring, 0..3);
    let dead = Helper::start("consumer", &name); // consumer 1: commits 2, then hangs
    let pid = dead.kill().to_string();
    let mut live = ring.consumer(0).unwrap();
    live.try_consume().commit();
    // Not yet a ring behind: nobody is blocked.
    assert!(!run(&["inspect", &name]).ok().stdout.contains("producers blocked"));
    publish(&ring, 3..6);
    let text = run(&["inspect", &name]).ok().stdout;
    let says = format!("producers blocked by dead consumer 1 (pid {pid}): shm-disruptor evict");
    assert!(text.contains(&says), "{text}");
    let watched = run(&["watch", &name, "--count", "1"]).ok().stdout;
    assert!(watched.contains(&says), "{watched}");
    let json = run(&["inspect", &name, "--json"]).ok().json();
    assert_eq!(json["blocked_by"][0]["index"], 1);
    assert_eq!(json["blocked_by"][0]["state"], "dead");

    // A live consumer is refused, with why; the dead one is evicted.
    let refused = run(&["evict", &name, "0"]).failed();
    assert!(refused.stderr.contains("consumer 0 is live"), "{refused:#?}");
    let refused = run(&["evict", &name, "7"]).failed();
    assert!(refused.stderr.contains("there is no consumer 7"), "{refused:#?}");
    let done = run(&["evict", &name, "1"]).ok();
    assert!(done.stdout.contains("evicted consumer 1"), "{done:#?}");
    assert!(ring.is_released(1));
    assert!(!run(&["inspect", &name]).ok().stdout.contains("producers blocked"));
    let again = run(&["evict", &name, "1"]).failed();
    assert!(again.stderr.contains("already released"), "{again:#?}");
    // The producers go on.
    let mut producer = ring.producer().unwrap();
    assert!(producer.try_claim().is_ok());
}

#[test]
fn rm_dead_removes_the_rings_whose_users_all_died_and_list_marks_them() {
    let (dead, idle, used) = (Name::new(), Name::new(), Name::new());
    for name in [&dead, &idle, &used] {
        let ring = Disruptor::<Tick>::builder(name).capacity(8).consumers(2).create().unwrap();
        publish(&ring, 0..3);
    }
    Helper::start("consumer", &dead).kill();
    let _in_use = Disruptor::<Tick>::open(&used).unwrap();
    let list = run(&["list"]).ok().stdout;
    let line = |n: &str| list.lines().find(|l| l.starts_with(&format!("{n} "))).unwrap().to_owned();
    assert!(line(&dead).contains("all dead (rm --dead)"), "{list}");
    assert!(!line(&idle).contains("all dead"), "{list}");
    let json = run(&["list", "--json"]).ok().json();
    assert_eq!(entry(&json, &dead)["all_users_dead"], true);
    assert_eq!(entry(&json, &used)["all_users_dead"], false);

    // Named: `rm --dead` alone would also remove other tests' (and other users') dead rings.
    let removed = run(&["rm", "--dead", &dead, &idle, &used]).ok().stdout;
    assert!(removed.contains(&format!("removed ring {}", &*dead)), "{removed}");
    assert!(!dead.path().exists());
    assert!(idle.path().exists() && used.path().exists(), "only rings whose users all died");
    assert!(run(&["rm"]).code == Some(2), "rm needs a name or --dead");
}

#[test]
fn watch_json_prints_a_line_per_refresh_and_count_zero_is_refused() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(1).create().unwrap();
    publish(&ring, 0..2);
    let out = run(&["watch", &name, "--json", "--count", "3", "--interval", "10"]).ok().stdout;
    let lines: Vec<Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines.iter().all(|l| l["version"] == 1 && l["cursor"] == 2 && l["name"] == *name));
    assert!(lines[0]["published_per_s"].is_null(), "no rate before a second refresh");
    assert_eq!(lines[1]["published_per_s"], 0.0);
    assert_eq!(lines[2]["consumers"][0]["lag"], 2);

    let zero = run(&["watch", &name, "--count", "0"]);
    assert_eq!(zero.code, Some(2), "{zero:#?}");
    assert!(zero.stdout.is_empty(), "{zero:#?}");
}

#[test]
fn a_byte_ring_is_shown_as_a_stream() {
    use std::io::Write as _;
    let name = Name::new();
    let ring = Disruptor::<u8>::builder(&name)
        .capacity(64)
        .consumers(1)
        .single_producer()
        .create()
        .unwrap();
    let mut writer = shm_disruptor::StreamWriter::new(ring.producer().unwrap());
    writer.write_all(b"hello, stream\n\x01").unwrap();
    let list = run(&["list"]).ok().stdout;
    let line = list.lines().find(|l| l.starts_with(&format!("{} ", &*name))).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((cells[1], cells[7]), ("stream", "open"), "{line}");
    let peek = run(&["peek", &name]).ok().stdout;
    assert!(
        peek.starts_with(&format!("stream {}: 15 bytes written, status open", &*name)),
        "{peek}"
    );
    assert!(peek.contains(r"text: hello, stream\n\u{1}"), "{peek}");
    assert!(peek.contains("68 65 6c 6c 6f"), "{peek}");
    assert!(!peek.contains("sequence 0"), "not one byte per slot: {peek}");
    writer.finish();
    let json = run(&["peek", &name, "--json"]).ok().json();
    assert_eq!(
        (json["stream_status"].as_str(), json["text"].as_str()),
        (Some("eof"), Some("hello, stream\n\u{1}"))
    );
    let inspected = run(&["inspect", &name]).ok().stdout;
    assert!(inspected.contains("status          eof (a byte stream)"), "{inspected}");
    let last = run(&["peek", &name, "--last", "3"]).ok().stdout;
    assert!(last.contains("the last 3 bytes (from byte 12)"), "{last}");
}

#[test]
fn a_sleeper_killed_while_waiting_is_shown_as_possibly_stale() {
    let name = Name::new();
    let _ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(1).create().unwrap();
    let sleeper = Helper::start("sleeper", &name);
    // Asleep and alive: counted, not stale.
    let asleep = eventually("the consumer sleeps on the futex", || {
        let text = run(&["inspect", &name]).ok().stdout;
        if text.contains("sleeping: 1 consumer handle(s)") {
            Ok(text)
        } else {
            Err(text)
        }
    });
    assert!(!asleep.contains("possibly stale"), "{asleep}");
    sleeper.kill();
    let text = run(&["inspect", &name]).ok().stdout;
    assert!(
        text.contains("sleeping: 1 consumer handle(s), 0 producer handle(s) (possibly stale"),
        "{text}"
    );
    let json = run(&["inspect", &name, "--json"]).ok().json();
    assert_eq!(json["sleeping_possibly_stale"], true);
}

#[test]
fn rm_removes_the_bridge_importers_state_with_the_ring() {
    let name = Name::new();
    let ring = Disruptor::<Tick>::builder(&name).capacity(8).consumers(1).create().unwrap();
    drop(ring);
    let state = PathBuf::from(format!("/dev/shm{}.bridge-import", &*name));
    std::fs::write(&state, "1 2 3 4\n").unwrap();
    // Removed even when an assertion below fails.
    struct RemoveOnDrop<'a>(&'a PathBuf);
    impl Drop for RemoveOnDrop<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _remove = RemoveOnDrop(&state);
    let removed = run(&["rm", &name]).ok();
    assert!(!state.exists(), "{removed:#?}");
    assert!(
        removed
            .stdout
            .contains(&format!("removed {} (the bridge importer's state", state.display())),
        "{removed:#?}"
    );
    assert!(removed.stdout.ends_with(&format!("removed ring {}\n", &*name)), "{removed:#?}");
    // Without a state file, nothing more is said.
    let again = Name::new();
    drop(Disruptor::<Tick>::builder(&again).capacity(8).consumers(1).create().unwrap());
    assert_eq!(run(&["rm", &again]).ok().stdout, format!("removed ring {}\n", &*again));
}
