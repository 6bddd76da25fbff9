//! Starts the seed README's producer and consumer as two child processes over one ring and
//! checks that the sums they print agree. Exits non-zero if they do not.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::process::{Command, Stdio};
use std::time::Instant;

use shm_disruptor_examples::{
    consume_numbers, send_numbers, Number, EXAMPLE_CAPACITY, EXAMPLE_COUNT,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    // The children are this same program, started with a role.
    if let [_, role, name] = args.as_slice() {
        let sum = match role.as_str() {
            "--producer" => {
                send_numbers(&shm_disruptor::Disruptor::<Number>::open(name)?, EXAMPLE_COUNT)?
            }
            "--consumer" => consume_numbers(name, EXAMPLE_COUNT)?,
            other => return Err(format!("unknown role {other}").into()),
        };
        println!("{sum}");
        return Ok(());
    }

    let name = format!("/shm-disruptor-quickstart-{}", std::process::id());
    let ring = shm_disruptor::Disruptor::<Number>::builder(&name)
        .capacity(EXAMPLE_CAPACITY)
        .consumers(1)
        .single_producer()
        .create()?;
    println!(
        "ring {name}: {} slots of `{}`; sending {EXAMPLE_COUNT} random numbers between two processes",
        ring.capacity(),
        ring.schema()
    );
    let started = Instant::now();
    let exe = std::env::current_exe()?;
    let spawn = |role: &str| Command::new(&exe).args([role, &name]).stdout(Stdio::piped()).spawn();
    let consumer = spawn("--consumer")?;
    let producer = spawn("--producer")?;
    let sums: Vec<Result<u64, String>> = [("producer", producer), ("consumer", consumer)]
        .into_iter()
        .map(|(role, child)| {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("{role} failed: {}", out.status));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            text.trim().parse::<u64>().map_err(|e| format!("{role} printed {text:?}: {e}"))
        })
        .collect();
    let elapsed = started.elapsed();
    shm_disruptor::unlink(&name)?;
    let (producer_sum, consumer_sum) = match (&sums[0], &sums[1]) {
        (Ok(p), Ok(c)) => (*p, *c),
        (p, c) => return Err(format!("producer: {p:?}, consumer: {c:?}").into()),
    };
    println!("producer sum {producer_sum}\nconsumer sum {consumer_sum}");
    println!(
        "{EXAMPLE_COUNT} messages in {:.1} ms ({:.1} M msgs/s, including process start-up)",
        elapsed.as_secs_f64() * 1e3,
        EXAMPLE_COUNT as f64 / elapsed.as_secs_f64() / 1e6
    );
    if producer_sum != consumer_sum {
        return Err("the sums differ".into());
    }
    println!("OK: the sums agree");
    Ok(())
}
