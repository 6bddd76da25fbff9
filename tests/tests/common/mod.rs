//! Helpers shared by the tests that drive helper processes line by line.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest any wait of these tests may take before it fails the test.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A helper process (`crash_actor`, `wait_actor`): read its progress lines, kill it; killed
/// and reaped on drop, so a failing test leaves no orphan.
pub struct Actor {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Actor {
    pub fn start(program: &str, args: &[&str]) -> Actor {
        let mut command = Command::new(program);
        command.args(args);
        Actor::spawn(command)
    }

    /// Starts `command` (its stdin is null, its stdout read line by line).
    pub fn spawn(mut command: Command) -> Actor {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Actor { child, lines }
    }

    /// The next line, which must start with `prefix`; its remaining words.
    pub fn expect(&mut self, prefix: &str) -> Vec<u64> {
        let line = self.lines.recv_timeout(LIMIT).unwrap_or_else(|_| {
            let status = self.child.try_wait();
            panic!("the helper did not print {prefix:?} in time (status {status:?})")
        });
        let rest = line
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"));
        rest.split_whitespace().map(|w| w.parse().unwrap()).collect()
    }

    /// The next line, which must start with `prefix`; the rest of it, trimmed.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let line = self.lines.recv_timeout(LIMIT).unwrap_or_else(|_| {
            let status = self.child.try_wait();
            panic!("the helper did not print {prefix:?} in time (status {status:?})")
        });
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
            .trim()
            .to_owned()
    }

    /// Waits (at most [`LIMIT`]) for the helper to exit; its status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the helper did not exit in time");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) a process has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().collect();
    // Fields 14 and 15 (utime, stime); `fields[0]` is field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Waits until `pid` sleeps in a futex (its wait channel names one).
pub fn wait_until_in_futex(pid: u32) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let sleeping = state.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('S'));
        if wchan.contains("futex") || (wchan.is_empty() || wchan == "0") && sleeping {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} never slept (wchan {wchan:?})");
        std::thread::yield_now();
    }
}
