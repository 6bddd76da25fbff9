//! The child side of a run: the binary re-executed as `__child <role> key=value...`.

use std::collections::BTreeMap;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use crate::harness::sys::pin_to;
use crate::msg::{Msg32, Msg64};
use crate::scenarios::run_role;
use crate::wire::ChildLine;

/// A child's arguments, `key=value` on its command line.
pub type Args = BTreeMap<String, String>;

pub fn arg<T: FromStr>(args: &Args, key: &str) -> Result<T, String> {
    let v = args.get(key).ok_or_else(|| format!("missing argument {key}="))?;
    v.parse().map_err(|_| format!("bad argument {key}={v}"))
}

thread_local! {
    /// What the child keeps until the parent releases it (see [`hold_until_released`]).
    static HELD: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Keeps `value` alive after the child has reported, until the parent closes the child's stdin
/// (it does once every child of the run has reported): a sender whose last messages may still
/// be in flight keeps its ports until the receiver has them (the iceoryx2 baseline does).
pub fn hold_until_released(value: impl std::any::Any) {
    HELD.with(|held| held.borrow_mut().push(Box::new(value)));
}

/// Waits for the parent to close stdin if anything is held, then drops it.
fn release_held() {
    if HELD.with(|held| held.borrow().is_empty()) {
        return;
    }
    let mut rest = String::new();
    while io::stdin().read_line(&mut rest).is_ok_and(|n| n > 0) {
        rest.clear();
    }
    HELD.with(|held| held.borrow_mut().clear());
}

/// Tells the parent this child is set up, then waits for its go.
pub fn ready_then_go() -> Result<(), String> {
    ChildLine::Ready.print();
    let mut line = String::new();
    io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim() != "GO" {
        return Err("the parent called the run off".into());
    }
    Ok(())
}

pub fn child_main(role: &str, raw_args: &[String]) -> ! {
    // 1. Die with the parent. The parent may already be gone before the prctl: then our parent
    //    is no longer the pid it gave us.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if let Ok(parent) = std::env::var("BENCH_PARENT_PID") {
        let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get().to_string());
        if ppid.as_deref() != Some(parent.as_str()) {
            std::process::exit(2);
        }
    }
    // 2. Leave by the deadline whatever happens (a peer that died leaves us spinning).
    if let Ok(seconds) = std::env::var("BENCH_DEADLINE_S") {
        let seconds: f64 = seconds.parse().unwrap_or(120.0);
        let role = role.to_owned();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(seconds));
            eprintln!("ipc child {role}: deadline of {seconds} s passed, exiting");
            std::process::exit(3);
        });
    }
    // 3. Pin, if asked.
    if let Ok(cpus) = std::env::var("BENCH_CPUS") {
        let cpus: Vec<usize> = cpus.split(',').filter_map(|c| c.parse().ok()).collect();
        pin_to(&cpus);
    }
    let args: Args = raw_args
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let kind = args.get("kind").map(String::as_str).unwrap_or("u64");
    let result = match kind {
        "u8" => run_role::<u8>(role, &args),
        "u32" => run_role::<u32>(role, &args),
        "u64" => run_role::<u64>(role, &args),
        "32B" => run_role::<Msg32>(role, &args),
        "64B" => run_role::<Msg64>(role, &args),
        other => Err(format!("unknown kind {other}")),
    };
    match result {
        Ok(report) => {
            ChildLine::Result(Box::new(report)).print();
            release_held();
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("ipc child {role}: {e}");
            ChildLine::Error { message: e }.print();
            std::process::exit(1)
        }
    }
}
