//! The smoke run: every scenario once at a tiny scale, through the real binary (children are
//! processes), with its results file and plots written to a temporary folder.

use std::process::Command;

#[test]
fn every_scenario_runs() {
    let out =
        std::env::temp_dir().join(format!("shm-disruptor-bench-smoke-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_shm-disruptor-bench"))
        .env("BENCH_OUT", &out)
        .env_remove("BENCH_SCALE")
        .env_remove("BENCH_IMPLS")
        .env_remove("BENCH_WAIT")
        .output()
        .expect("the bench binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the smoke run failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // Every scenario printed its result lines, none of them failed.
    for scenario in ["seed", "spsc-batch", "pingpong", "mpmc-2x2", "wakeup", "diamond", "stream"] {
        assert!(
            stdout.contains(&format!("scenario={scenario} impl=ours")),
            "no result line of {scenario}:\n{stdout}"
        );
    }
    assert!(stdout.contains("scenario=fanout-procs-512 impl=raw-scan "), "{stdout}");
    assert!(stdout.contains("scenario=mpsc-threads-64 impl=disruptor-crate "), "{stdout}");
    for imp in ["bridge", "zenoh", "bridge-latency", "zenoh-ping"] {
        assert!(stdout.contains(&format!("scenario=bridge impl={imp} ")), "{stdout}");
    }
    assert!(!stdout.contains("failed"), "{stdout}");
    // The results file has a line per result line (after the run's line), and the plots exist.
    let jsonl = std::fs::read_to_string(out.join("ipc.jsonl")).expect("ipc.jsonl");
    let results = stdout.lines().filter(|l| l.starts_with("scenario=")).count();
    assert_eq!(jsonl.lines().count(), results + 1);
    for plot in ["throughput.svg", "pingpong.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).expect(plot);
        assert!(svg.starts_with("<svg") && svg.contains("seed") == (plot == "throughput.svg"));
    }
    let _ = std::fs::remove_dir_all(&out);
}
