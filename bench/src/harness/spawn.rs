//! The parent side of a run: starting the children, setting them off together, collecting
//! their results (JSON lines, see [`crate::wire`]).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::harness::config::{wait_env_name, Config};
use crate::harness::sys::Unlink;
use crate::wire::{ChildLine, Report};

/// A running child, with its pipes.
pub struct Kid {
    role: String,
    child: Child,
    /// Closed once every child of the run has reported (see `hold_until_released`).
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Kid {
    pub fn spawn(
        cfg: &Config,
        role: &str,
        kind: &str,
        args: &[(&str, String)],
        cpus: Vec<usize>,
    ) -> Result<Kid, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command
            .arg("__child")
            .arg(role)
            .arg(format!("kind={kind}"))
            .args(args.iter().map(|(k, v)| format!("{k}={v}")))
            .env("BENCH_PARENT_PID", std::process::id().to_string())
            .env("BENCH_DEADLINE_S", cfg.timeout.as_secs_f64().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(strategy) = cfg.wait {
            command.env("BENCH_WAIT", wait_env_name(strategy));
        }
        command.env("BENCH_LINGER", if cfg.linger { "1" } else { "0" });
        if cpus.is_empty() {
            command.env_remove("BENCH_CPUS");
        } else {
            let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
            command.env("BENCH_CPUS", list.join(","));
        }
        let mut child = command.spawn().map_err(|e| format!("cannot start {role}: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Kid { role: role.to_owned(), child, stdin: Some(stdin), stdout })
    }

    /// The child's next line, parsed.
    fn read(&mut self) -> Result<ChildLine, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => {
                let status = self.child.wait().map(|s| match s.code() {
                    Some(3) => "exit status 3: it passed the BENCH_TIMEOUT_S deadline".to_owned(),
                    _ => s.to_string(),
                });
                Err(format!(
                    "{} exited early ({})",
                    self.role,
                    status.unwrap_or_else(|e| e.to_string())
                ))
            }
            Ok(_) => match ChildLine::parse(line.trim_end()) {
                Ok(ChildLine::Error { message }) => Err(format!("{}: {message}", self.role)),
                parsed => parsed.map_err(|e| format!("{}: {e}", self.role)),
            },
            Err(e) => Err(format!("{}: {e}", self.role)),
        }
    }
}

/// Starts the children together (all set up, then all told to go, in the order given: consumers
/// first) and returns each child's result. The segment names in `unlink` are removed as
/// soon as every child has mapped them, so that nothing is left behind even if we are killed.
pub fn run_children(mut kids: Vec<Kid>, unlink: Unlink) -> Result<Vec<Report>, String> {
    let outcome = (|| {
        for kid in &mut kids {
            match kid.read()? {
                ChildLine::Ready => {}
                other => return Err(format!("{}: expected ready, got {other:?}", kid.role)),
            }
        }
        drop(unlink);
        for kid in &mut kids {
            let stdin = kid.stdin.as_mut().expect("open until the results are in");
            writeln!(stdin, "GO").map_err(|e| format!("{}: {e}", kid.role))?;
        }
        let mut results = Vec::new();
        for kid in &mut kids {
            match kid.read()? {
                ChildLine::Result(report) => results.push(*report),
                other => return Err(format!("{}: expected a result, got {other:?}", kid.role)),
            }
        }
        Ok(results)
    })();
    for kid in &mut kids {
        // A child holding its resources until released (see `hold_until_released`) leaves now.
        drop(kid.stdin.take());
        if outcome.is_err() {
            // Only our own children, by their handles.
            let _ = kid.child.kill();
        }
        let _ = kid.child.wait();
    }
    outcome
}
