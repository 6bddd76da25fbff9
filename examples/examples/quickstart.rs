//! Starts the seed README's producer and consumer as two child processes over one ring and
//! checks that the sums they print agree. Exits non-zero if they do not.
//!
//! ```text
//! cargo run --release --example quickstart [-- --count N --capacity SLOTS]
//! ```
//!
//! Ctrl-C (or SIGTERM) stops both children, removes the ring and says so.

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use shm_disruptor::Disruptor;
use shm_disruptor_examples::{
    default_name, parse_number, receive_numbers, report, send_numbers, supervise, thousands, Ended,
    Error, Number, Numbers, RemoveOnDrop, Stop, Supervised, WAIT_TIMEOUT,
};

/// Sends random numbers between two child processes (the `producer` and `consumer` examples'
/// code) over a ring it creates, and checks that the sums they print agree.
#[derive(Parser, Debug)]
struct Args {
    /// The ring (a POSIX shared-memory name); replaced if a previous run left it behind
    #[arg(long, value_name = "NAME", default_value_t = default_name("quickstart"))]
    name: String,
    /// Numbers to send
    #[arg(short = 'n', long, value_name = "N", default_value = "1,000,000", value_parser = parse_number::<u64>)]
    count: u64,
    /// Slots in the ring
    #[arg(long, value_name = "SLOTS", default_value = "1000", value_parser = parse_number::<usize>)]
    capacity: usize,
    /// Runs one side (the children are this program, started with a role)
    #[arg(long, hide = true)]
    role: Option<Role>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Producer,
    Consumer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    report(match args.role {
        Some(role) => run_child(role, &args),
        None => run_parent(&args),
    })
}

/// A child: opens the parent's ring and prints the sum of what it sent or received. It leaves
/// signals to their default action: the parent stops it and cleans up.
fn run_child(role: Role, args: &Args) -> Result<Ended, Error> {
    let ring = Disruptor::<Number>::open(&args.name)?;
    let stop = Stop::never();
    let outcome = match role {
        Role::Producer => send_numbers(ring.producer()?, args.count, &stop, false),
        Role::Consumer => receive_numbers(ring.consumer(0)?, args.count, &stop, WAIT_TIMEOUT),
    };
    match outcome.map_err(|e| format!("{}: {e}", role.name()))? {
        Numbers::Done { sum } => println!("{sum}"),
        Numbers::Interrupted { .. } => unreachable!("nothing stops a child but a signal"),
    }
    Ok(Ended::Done)
}

fn run_parent(args: &Args) -> Result<Ended, Error> {
    let stop = Stop::on_signals()?;
    let name = &args.name;
    let ring = Disruptor::<Number>::builder(name)
        .capacity(args.capacity)
        .consumers(1)
        .single_producer()
        .replace_existing()?;
    let created = RemoveOnDrop(name.clone());
    println!(
        "ring {name}: {} slots of `{}`; sending {} random numbers between two processes",
        thousands(ring.capacity() as u64),
        ring.schema(),
        thousands(args.count)
    );
    let started = Instant::now();
    let exe = std::env::current_exe()?;
    let count = args.count.to_string();
    let spawn = |role: Role| -> Result<(Role, Child), Error> {
        let child = Command::new(&exe)
            .args(["--role", role.name(), "--name", name, "--count", &count])
            .stdout(Stdio::piped())
            .spawn()?;
        Ok((role, child))
    };
    let consumer = spawn(Role::Consumer)?;
    let producer = match spawn(Role::Producer) {
        Ok(producer) => producer,
        Err(e) => {
            let mut consumer = consumer.1;
            let _ = consumer.kill();
            let _ = consumer.wait();
            return Err(e);
        }
    };
    // The producer's sum first.
    let (roles, mut children): (Vec<Role>, Vec<Child>) = [producer, consumer].into_iter().unzip();
    let deadline = Instant::now() + Duration::from_secs(3600);
    match supervise(&mut children, &stop, deadline, || {})? {
        Supervised::Exited => {}
        Supervised::Interrupted => {
            drop(created);
            eprintln!("quickstart: interrupted; stopped the producer and consumer, removed {name}");
            return Ok(Ended::Interrupted);
        }
        Supervised::TimedOut => {
            return Err("the producer and consumer did not finish in time".into())
        }
    }
    let elapsed = started.elapsed();
    drop(created);
    let mut sums = Vec::new();
    for (role, child) in roles.into_iter().zip(children) {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("the {} failed ({})", role.name(), out.status).into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let sum = text
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("the {} printed {:?}: {e}", role.name(), text.trim()))?;
        sums.push((role, sum));
    }
    for (role, sum) in &sums {
        println!("{} sum {sum}", role.name());
    }
    println!(
        "{} messages in {:.1} ms ({:.1} M msgs/s, including process start-up)",
        thousands(args.count),
        elapsed.as_secs_f64() * 1e3,
        args.count as f64 / elapsed.as_secs_f64() / 1e6
    );
    if sums[0].1 != sums[1].1 {
        return Err("the sums differ".into());
    }
    println!("OK: the sums agree");
    Ok(Ended::Done)
}
