//! A pipeline stage process for the dependency-graph tests.
//!
//! `stage_actor NAME INDEX COUNT [--mark K] [--check K1,K2,..] [--hang-after N]`: consumer
//! `INDEX` of a ring of `Staged` messages reads `COUNT` messages (from its committed sequence
//! on) and, for each:
//! - checks that `seq` is the message's sequence and that every stage it depends on has already
//!   committed past the batch (reading their sequences after taking the batch);
//! - with `--check`, checks that stages `K1, K2, ..` wrote their marks (`mark(seq, K)`);
//! - with `--mark K`, writes its own mark into `marks[K]` in place (an exclusive consumer).
//!
//! Prints `START <sequence>` first and `DONE <count>` at the end; `BAD ...` and exit code 2 on a
//! failed check. With `--hang-after N` it commits exactly `N` messages, prints `HUNG <N>` and
//! hangs (to be killed).

use std::time::Duration;

use shm_disruptor::{Disruptor, Slot, WaitStrategy};

/// A message that pipeline stages mark in place.
#[derive(Slot, Clone, Copy, Debug)]
#[repr(C)]
struct Staged {
    seq: u64,
    marks: [u64; 3],
}

fn mark(seq: u64, stage: usize) -> u64 {
    seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (stage as u64 + 1)
}

fn bad(what: String) -> ! {
    println!("BAD {what}");
    std::process::exit(2)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, index, count) = match args.as_slice() {
        [name, index, count, ..] => (name.as_str(), index.parse::<usize>()?, count.parse::<u64>()?),
        _ => return Err("usage: stage_actor NAME INDEX COUNT [options]".into()),
    };
    let option = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let marks_as = option("--mark").map(|k| k.parse::<usize>()).transpose()?;
    let checks: Vec<usize> = match option("--check") {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let hang_after = option("--hang-after").map(|n| n.parse::<u64>()).transpose()?;

    let ring = Disruptor::<Staged>::open(name)?;
    let dependencies = ring.dependencies(index).ok_or("consumer index out of range")?.to_vec();
    let check_dependencies = |range: &std::ops::Range<u64>| {
        for &dep in &dependencies {
            let done = ring.consumer_sequence(dep).unwrap();
            if done < range.end {
                bad(format!("stage {dep} is at {done} but batch {range:?} is visible"));
            }
        }
    };
    let check = |seq: u64, msg: &Staged| {
        if msg.seq != seq {
            bad(format!("slot {seq} holds seq {}", msg.seq));
        }
        for &k in &checks {
            if msg.marks[k] != mark(seq, k) {
                bad(format!("slot {seq}: stage {k} mark missing ({:#x})", msg.marks[k]));
            }
        }
    };
    let limit = Duration::from_secs(30);
    // How many of a batch of `len` to process: all, or up to the hang point.
    let take = |len: usize, read: u64| match hang_after {
        Some(n) => len.min((n - read) as usize),
        None => len,
    };
    let mut read = 0u64;
    if let Some(k) = marks_as {
        let mut consumer = ring.exclusive_consumer(index)?;
        consumer.set_wait_strategy(WaitStrategy::Yield);
        println!("START {}", consumer.sequence());
        while read < count && hang_after != Some(read) {
            let mut batch = consumer.consume_mut_timeout(limit)?;
            let range = batch.range();
            check_dependencies(&range);
            let n = take(batch.len(), read);
            for (seq, msg) in range.zip(batch.iter_mut()).take(n) {
                check(seq, msg);
                msg.marks[k] = mark(seq, k);
            }
            batch.commit_first(n);
            read += n as u64;
        }
    } else {
        let mut consumer = ring.consumer(index)?;
        consumer.set_wait_strategy(WaitStrategy::Yield);
        println!("START {}", consumer.sequence());
        while read < count && hang_after != Some(read) {
            let batch = consumer.consume_timeout(limit)?;
            let range = batch.range();
            check_dependencies(&range);
            let n = take(batch.len(), read);
            for (seq, msg) in range.zip(batch.iter()).take(n) {
                check(seq, msg);
            }
            batch.commit_first(n);
            read += n as u64;
        }
    }
    if hang_after == Some(read) {
        println!("HUNG {read}");
        std::thread::sleep(Duration::from_secs(120));
        std::process::exit(3);
    }
    println!("DONE {read}");
    Ok(())
}
