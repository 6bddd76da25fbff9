//! Telling a live process from a dead one, robustly against PID reuse.
//!
//! A participant is recorded as a *process token*: its PID in the high 32 bits and the low 32
//! bits of its start time (clock ticks since boot, field 22 of `/proc/PID/stat`) in the low 32
//! bits. A recycled PID belongs to a process with another start time, so its token differs. A
//! zombie (killed, not yet reaped) counts as dead.

use std::sync::OnceLock;

/// What became of the process behind a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The process is running.
    Alive,
    /// The process has exited or was killed (or its PID now belongs to another process).
    Dead,
}

/// This process's token.
pub fn own_token() -> u64 {
    static TOKEN: OnceLock<(u32, u64)> = OnceLock::new();
    let pid = std::process::id();
    let &(cached_pid, token) = TOKEN.get_or_init(|| (pid, make_token(pid)));
    // A forked child inherits the cache: recompute for the new PID.
    if cached_pid == pid {
        token
    } else {
        make_token(pid)
    }
}

fn make_token(pid: u32) -> u64 {
    let start = read_stat(pid).map(|s| s.start_time).unwrap_or(0);
    (u64::from(pid) << 32) | (start & 0xffff_ffff)
}

/// The PID inside a token.
pub fn pid_of(token: u64) -> u32 {
    (token >> 32) as u32
}

/// Whether the process behind `token` is still the same, running process.
pub fn check(token: u64) -> Liveness {
    let pid = pid_of(token);
    if pid == 0 {
        return Liveness::Dead;
    }
    match read_stat(pid) {
        Some(stat) if !stat.zombie && (stat.start_time & 0xffff_ffff) == (token & 0xffff_ffff) => {
            Liveness::Alive
        }
        Some(_) => Liveness::Dead,
        None => {
            // No /proc entry: the process is gone (or /proc is not mounted; then ask the kernel).
            if std::path::Path::new("/proc/self/stat").exists() {
                Liveness::Dead
            } else {
                match rustix::process::Pid::from_raw(pid as i32)
                    .map(rustix::process::test_kill_process)
                {
                    Some(Ok(())) | Some(Err(rustix::io::Errno::PERM)) => Liveness::Alive,
                    _ => Liveness::Dead,
                }
            }
        }
    }
}

struct Stat {
    start_time: u64,
    zombie: bool,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain ") ", so split after the last.
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace();
    let state = fields.next()?; // field 3
    let start_time = fields.nth(18)?.parse().ok()?; // field 22
    Some(Stat { start_time, zombie: matches!(state, "Z" | "X" | "x") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_changed_start_time_is_not() {
        let token = own_token();
        assert_eq!(pid_of(token), std::process::id());
        assert_eq!(check(token), Liveness::Alive);
        assert_eq!(check(token ^ 1), Liveness::Dead, "same PID, other start time: PID reuse");
        assert_eq!(check(0), Liveness::Dead);
    }

    #[test]
    fn an_exited_child_is_dead() {
        let child = std::process::Command::new("true").spawn().unwrap();
        let token = make_token(child.id());
        let mut child = child;
        child.wait().unwrap();
        assert_eq!(check(token), Liveness::Dead);
    }
}
