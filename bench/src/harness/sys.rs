//! Small utilities of the harness: the clock, pinning, `/proc` figures, shared-memory segments,
//! and where a run comes from (machine, commit, date).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Spins before a spin loop of the harness itself (not of a measured ring) starts yielding, so
/// that two spinners sharing one core still make progress.
pub const SPINS_BEFORE_YIELD: u32 = 1 << 16;

/// CLOCK_MONOTONIC in nanoseconds: comparable between processes of one machine.
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Pins the calling thread (and the threads it starts later) to `cpus`.
pub fn pin_to(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    let mut set = rustix::thread::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu);
    }
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("ipc: cannot pin to {cpus:?}: {e}");
    }
}

/// A value of `key` from `/proc/self/status`, in kB.
pub fn proc_status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Voluntary context switches of the main thread (`/proc/self/status` shows the main
/// thread's): how often it slept (a futex wait, a timed sleep), not counting yields.
pub fn voluntary_switches() -> u64 {
    proc_status_kb("voluntary_ctxt_switches")
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only uniqueness within this process matters.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/{prefix}-{}-{n}", std::process::id())
}

/// Spins (then yields, for the harness's own waits) until `ready()`.
#[inline]
pub fn spin_until(mut ready: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        spins = spins.wrapping_add(1);
        if spins < SPINS_BEFORE_YIELD {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// The calling thread's CPU time, in ns.
pub fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

pub fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("cpus={cpus} model=\"{model}\"")
}

/// Creates the POSIX shared-memory segment `name` of `bytes` zero-filled bytes.
pub fn create_segment(name: &str, bytes: u64) -> io::Result<std::fs::File> {
    use rustix::fs::Mode;
    use rustix::shm::OFlags;
    let fd =
        rustix::shm::open(name, OFlags::CREATE | OFlags::EXCL | OFlags::RDWR, Mode::from(0o600))?;
    rustix::fs::ftruncate(&fd, bytes)?;
    Ok(std::fs::File::from(fd))
}

pub fn open_segment(name: &str) -> io::Result<std::fs::File> {
    let fd = rustix::shm::open(name, rustix::shm::OFlags::RDWR, rustix::fs::Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

/// Unlinks a POSIX shared-memory name when dropped.
pub struct Unlink(pub Vec<String>);

impl Drop for Unlink {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = rustix::shm::unlink(name.as_str());
        }
    }
}

/// The commit the bench was built from: `git rev-parse --short HEAD`, with `-dirty` when the work
/// tree has uncommitted changes to tracked files; `unknown` outside a git checkout.
pub fn git_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        _ => "unknown".into(),
    }
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
