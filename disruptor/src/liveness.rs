//! Process tokens: who holds a registry record, for display.
//!
//! Whether a holder is alive is decided by the kernel, through the record's lock (see
//! `ownership`), never from a PID: PIDs are relative to a PID namespace, and `/proc` may hide
//! other users' processes (`hidepid`). A token, the holder's PID in the high 32 bits and the low
//! 32 bits of its start time (clock ticks since boot, field 22 of `/proc/PID/stat`, 0 where
//! `/proc` cannot be read) in the low 32 bits, is stored beside each record so that tools can
//! show who holds it: the PID is this holder's own view of itself.

use std::sync::OnceLock;

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
    let start = start_time(pid).unwrap_or(0);
    // Never 0, which means "no owner": a PID is never 0.
    (u64::from(pid) << 32) | (start & 0xffff_ffff)
}

/// The PID inside a token.
pub fn pid_of(token: u64) -> u32 {
    (token >> 32) as u32
}

/// Field 22 of `/proc/PID/stat`: the process's start time in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    if cfg!(miri) {
        return None; // Miri's isolation forbids reading files: tokens are PIDs alone there
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain ") ", so split after the last.
    let after_name = &text[text.rfind(')')? + 1..];
    // `after_name` starts at field 3; field 22 is the 20th from there.
    after_name.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "reads /proc, which Miri's isolation forbids")]
    fn a_token_names_this_process() {
        let token = own_token();
        assert_eq!(pid_of(token), std::process::id());
        assert_ne!(token & 0xffff_ffff, 0, "the start time is recorded");
        assert_eq!(own_token(), token, "stable within a process");
    }
}
