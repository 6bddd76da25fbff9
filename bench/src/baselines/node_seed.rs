//! `node-seed`: the Node.js package this project started from (`shared-memory-disruptor`, the
//! seed) running the seed's own `seed` benchmark (`bench/producer.js` and `bench/consumer.js`
//! of the package, with a unique segment name and the run's message count), as two `node`
//! processes: one `produceClaimSync` + `produceCommitSync` per `u32`, a consumer that checks
//! each one. Its figure is the seed's own measure: messages over the consumer's elapsed time.
//!
//! It runs only where `BENCH_NODE_SEED` names the installed package's directory
//! (`npm install shared-memory-disruptor` builds its native addon with node-gyp; then
//! `BENCH_NODE_SEED=$PWD/node_modules/shared-memory-disruptor`), and `node` is on the `PATH`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::config::Config;
use crate::harness::sys::{unique_name, Unlink};
use crate::report::Sample;

/// The seed package's directory, when `BENCH_NODE_SEED` names one with its native addon built.
pub fn package() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("BENCH_NODE_SEED")?);
    dir.join("build/Release/disruptor.node").is_file().then_some(dir)
}

/// The seed's `bench/producer.js`: creates the ring (65,536 slots of 4 bytes, one consumer,
/// spinning), says `READY`, then claims and commits `msgs` messages one at a time.
fn producer_js(package: &str, name: &str, msgs: u64) -> String {
    format!(
        "const D = require({package:?}).Disruptor;
const d = new D({name:?}, 1024 * 64, 4, 1, -1, true, true);
console.log('READY');
for (let i = 0; i < {msgs}; i += 1) {{
    const buf = d.produceClaimSync();
    buf.writeUInt32LE(i, 0, true);
    d.produceCommitSync();
}}"
    )
}

/// The seed's `bench/consumer.js`: consumes `msgs` messages, checking each, and prints its
/// elapsed nanoseconds (`DONE ns`).
fn consumer_js(package: &str, name: &str, msgs: u64) -> String {
    format!(
        "const D = require({package:?}).Disruptor;
const assert = require('assert');
const d = new D({name:?}, 1024 * 64, 4, 1, 0, false, true);
let i = 0;
const start = process.hrtime.bigint();
while (i < {msgs}) {{
    const bufs = d.consumeNewSync();
    for (const buf of bufs) {{
        for (let j = 0; j < buf.length; j += 4) {{
            assert.equal(buf.readUInt32LE(j, true), i++);
        }}
    }}
}}
const end = process.hrtime.bigint();
d.consumeCommit();
console.log('DONE ' + (end - start));"
    )
}

/// A `node -e SCRIPT` child, killed when dropped.
struct Node(Child);

impl Node {
    fn spawn(script: &str) -> Result<(Node, mpsc::Receiver<String>), String> {
        let mut child = Command::new("node")
            .arg("-e")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("node: {e}"))?;
        let stdout: ChildStdout = child.stdout.take().ok_or("node: no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok((Node(child), rx))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line of `lines` that starts with `prefix`, within `timeout`.
fn expect(
    lines: &mpsc::Receiver<String>,
    prefix: &str,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return Ok(line),
            Ok(_) => {}
            Err(_) => return Err(format!("node: no {prefix} line within {timeout:?}")),
        }
    }
}

/// One run of the seed's benchmark with `msgs` messages.
pub fn run(cfg: &Config, msgs: u64) -> Result<Sample, String> {
    let package = package().ok_or("BENCH_NODE_SEED names no built shared-memory-disruptor")?;
    let package = package.to_str().ok_or("BENCH_NODE_SEED is not UTF-8")?.to_owned();
    let name = unique_name("shmd-node");
    let _unlink = Unlink(vec![name.clone()]);
    let (_producer, produced) = Node::spawn(&producer_js(&package, &name, msgs))?;
    expect(&produced, "READY", cfg.timeout)?;
    let (_consumer, consumed) = Node::spawn(&consumer_js(&package, &name, msgs))?;
    let done = expect(&consumed, "DONE ", cfg.timeout)?;
    let elapsed_ns =
        done["DONE ".len()..].trim().parse().map_err(|e| format!("node: {done}: {e}"))?;
    Ok(Sample { msgs, elapsed_ns, ..Sample::default() })
}
