//! Runs the example programs (built by `cargo test` next to this test, in `target/*/examples/`)
//! as a user would: their options, waiting for each other, Ctrl-C, error reports, and that they
//! leave nothing in `/dev/shm`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The example program `name`, built by `cargo test` (which builds every example).
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let path: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p shm-disruptor-examples` (without target filters), \
         which builds the examples",
        path.display()
    );
    let mut command = Command::new(path);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// A ring name unique to this test run.
fn ring(what: &str) -> String {
    format!("/shmd-test-{what}-{}", std::process::id())
}

fn exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(&name[1..]).exists()
}

/// Waits (up to 20 s) for the ring `name` to exist: an example creates its rings after it has
/// installed its Ctrl-C handler.
fn wait_until_exists(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !exists(name) {
        assert!(Instant::now() < deadline, "{name} was not created");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running example whose standard error is read line by line as it comes.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

impl Running {
    fn start(mut command: Command) -> Running {
        let mut child = command.spawn().expect("start the example");
        let stderr = child.stderr.take().expect("piped stderr");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines, stderr: Vec::new() }
    }

    /// Waits (up to 20 s) for a line of standard error that contains `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
                let found = line.contains(needle);
                self.stderr.push(line);
                if found {
                    return;
                }
            }
        }
        panic!("no {needle:?} on standard error; got {:?}", self.stderr);
    }

    fn interrupt(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    }

    /// Waits (up to 60 s) for it to exit: its output, with all of standard error.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the example did not exit; standard error so far: {:?}", self.stderr);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut output = self.child.wait_with_output().expect("output");
        // The reader thread ends with the pipe.
        self.stderr.extend(self.lines.iter());
        output.stderr = self.stderr.join("\n").into_bytes();
        output
    }
}

#[test]
fn every_example_has_options_and_a_default_ring_unique_to_the_user() {
    let uid = rustix::process::getuid().as_raw();
    for (name, default) in [
        ("quickstart", format!("/shmd-quickstart-{uid}")),
        ("producer", format!("/shmd-numbers-{uid}")),
        ("consumer", format!("/shmd-numbers-{uid}")),
        ("stream_producer", format!("/shmd-stream-{uid}")),
        ("stream_consumer", format!("/shmd-stream-{uid}")),
        ("pipeline", format!("/shmd-pipeline-orders-{uid}")),
    ] {
        let out = example(name).arg("--help").output().unwrap();
        let help = text(&out.stdout);
        assert!(out.status.success(), "{name} --help: {out:?}");
        assert!(help.contains(&format!("[default: {default}]")), "{name} --help:\n{help}");
        assert!(!help.contains("--role"), "{name} --help shows the internal --role:\n{help}");
        let out = example(name).arg("--no-such-option").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
    }
}

#[test]
fn quickstart_sums_agree() {
    let name = ring("quickstart");
    let out = example("quickstart").args(["--name", &name, "--count", "20_000"]).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("sending 20,000 random numbers"), "{stdout}");
    assert!(stdout.contains("OK: the sums agree"), "{stdout}");
    assert!(!exists(&name));
}

#[test]
fn consumer_waits_for_its_producer_and_both_print_the_sum() {
    let name = ring("numbers");
    let mut consumer = example("consumer");
    consumer.args(["--name", &name, "--count", "50,000"]);
    let mut consumer = Running::start(consumer);
    consumer.wait_for(&format!("waiting for a producer on {name} ..."));
    let producer = example("producer")
        .args(["--name", &name, "--count", "50000", "--capacity", "64"])
        .output();
    let producer = producer.unwrap();
    let consumer = consumer.finish();
    assert!(producer.status.success(), "{producer:?}");
    assert!(consumer.status.success(), "{consumer:?}");
    let sum = text(&producer.stdout);
    assert!(sum.trim().parse::<u64>().is_ok(), "{sum:?}");
    assert_eq!(sum, text(&consumer.stdout));
    assert!(!exists(&name), "the consumer removes the ring");
}

#[test]
fn stream_examples_copy_standard_input() {
    let name = ring("stream");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut producer = example("stream_producer");
    producer.args(["--name", &name, "--capacity", "4096"]).stdin(Stdio::piped());
    let mut producer = producer.spawn().unwrap();
    let mut stdin = producer.stdin.take().unwrap();
    let writer = {
        let payload = payload.clone();
        std::thread::spawn(move || stdin.write_all(&payload))
    };
    let consumer = example("stream_consumer").args(["--name", &name]).output().unwrap();
    writer.join().unwrap().unwrap();
    let producer = producer.wait_with_output().unwrap();
    assert!(producer.status.success(), "{producer:?}");
    assert!(consumer.status.success(), "{consumer:?}");
    assert!(consumer.stdout == payload, "the copy differs");
    assert!(text(&consumer.stderr).contains("received 300,000 bytes"), "{consumer:?}");
    assert!(!exists(&name));
}

#[test]
fn pipeline_checks_and_explains_its_latency() {
    let (orders, fills) = (ring("orders"), ring("fills"));
    let names = ["--orders-ring", &orders, "--fills-ring", &fills];
    let out = example("pipeline").args(names).args(["--count", "200,000"]).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("200,000 orders through 2 rings"), "{stdout}");
    assert!(stdout.contains("queueing under saturation"), "{stdout}");
    assert!(stdout.ends_with("every fill checked at the sink\n"), "{stdout}");
    assert!(!stdout.contains('\r'), "no terminal: plain lines\n{stdout}");
    let out = example("pipeline")
        .args(names)
        .args(["--rate", "100000", "--count", "150000", "--wait", "block"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("at a fixed offered load of 100,000 orders a second"), "{stdout}");
    // 1.5 s at 100,000 a second: a plain progress line a second.
    assert!(stdout.lines().any(|l| l.contains(" s  orders ") && l.contains("  sink ")), "{stdout}");
    assert!(!exists(&orders) && !exists(&fills));
}

#[test]
fn errors_are_printed_with_their_display_text() {
    let name = ring("absent");
    let out = example("consumer").args(["--name", &name, "--timeout", "0.2"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.ends_with(&format!(
            "error: {name} was not created within 0.2 s: is a producer running?\n"
        )),
        "{stderr}"
    );
    let out = example("producer").args(["--name", "no-slash"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.starts_with("error: ") && !stderr.contains("InvalidName"), "{stderr}");
}

#[test]
fn ctrl_c_stops_a_waiting_consumer() {
    let name = ring("waiting");
    let mut consumer = example("consumer");
    consumer.args(["--name", &name]);
    let mut consumer = Running::start(consumer);
    consumer.wait_for("waiting for a producer");
    consumer.interrupt();
    let out = consumer.finish();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(text(&out.stderr).contains("interrupted while waiting for a producer"), "{out:?}");
}

#[test]
fn ctrl_c_stops_a_producer_waiting_for_room_and_removes_its_ring() {
    let name = ring("full");
    let mut producer = example("producer");
    producer.args(["--name", &name, "--capacity", "16"]);
    let mut producer = Running::start(producer);
    producer.wait_for(&format!("waiting for a consumer on {name} ..."));
    producer.interrupt();
    let out = producer.finish();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("interrupted after 16 of 1,000,000 numbers"), "{stderr}");
    assert!(!exists(&name));
}

#[test]
fn ctrl_c_stops_the_stream_and_the_pipeline() {
    // A stream producer blocked reading a terminal-like input that never ends.
    let name = ring("stream-int");
    let mut producer = example("stream_producer");
    producer.args(["--name", &name]).stdin(Stdio::piped());
    let mut producer = Running::start(producer);
    let stdin = producer.child.stdin.take();
    wait_until_exists(&name);
    producer.interrupt();
    let out = producer.finish();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(text(&out.stderr).contains("the stream is ended"), "{out:?}");
    assert!(!exists(&name));

    let (orders, fills) = (ring("orders-int"), ring("fills-int"));
    let mut pipeline = example("pipeline");
    pipeline.args(["--orders-ring", &orders, "--fills-ring", &fills, "--rate", "1000"]);
    let pipeline = Running::start(pipeline);
    wait_until_exists(&fills);
    std::thread::sleep(Duration::from_millis(300)); // the stages at work
    pipeline.interrupt();
    let out = pipeline.finish();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(text(&out.stderr).contains("pipeline: interrupted after"), "{out:?}");
    assert!(!exists(&orders) && !exists(&fills));
}
