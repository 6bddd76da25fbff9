//! A typed multi-process pipeline over two rings, every stage its own process:
//!
//! ```text
//!                         ┌─ risk (consumer 0) ──┐
//! orders ── ring<Order> ──┤                      ├─ match (consumer 2) ── ring<Fill> ── sink
//!                         └─ journal (consumer 1)┘
//! ```
//!
//! `risk` and `journal` read each order in parallel; `match` sees an order only after both have
//! committed it (a dependency graph stored in the ring), checks that, and forwards a `Fill` per
//! order into a second ring; `sink` checks every fill end to end and measures the latency from
//! publication of the order to receipt of its fill. The parent prints progress while it runs,
//! then throughput and latency percentiles; it exits non-zero if any check fails.
//!
//! ```text
//! cargo run --release --example pipeline [-- --count N]
//! ```

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shm_disruptor::{Disruptor, WaitStrategy};
use shm_disruptor_examples::{monotonic_ns, Fill, Order};

const LIMIT: Duration = Duration::from_secs(30);
const WAIT: WaitStrategy = WaitStrategy::Yield;
const ROLES: [&str; 5] = ["sink", "match", "risk", "journal", "orders"];

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, role, orders, fills, count] = args.as_slice() {
        if flag == "--role" {
            return run_role(role, orders, fills, count.parse()?);
        }
    }
    let count = match args.iter().position(|a| a == "--count") {
        Some(i) => args.get(i + 1).ok_or("--count needs a value")?.parse()?,
        None => 50_000_000u64,
    };
    run_parent(count)
}

fn run_parent(count: u64) -> Result<()> {
    let pid = std::process::id();
    let (orders_name, fills_name) = (
        format!("/shm-disruptor-pipeline-orders-{pid}"),
        format!("/shm-disruptor-pipeline-fills-{pid}"),
    );
    let orders = Disruptor::<Order>::builder(&orders_name)
        .capacity(4096)
        .consumers(3)
        .depends_on(2, &[0, 1])
        .single_producer()
        .create()?;
    let fills = Disruptor::<Fill>::builder(&fills_name)
        .capacity(4096)
        .consumers(1)
        .single_producer()
        .create()?;
    println!("orders: {orders_name}, {} slots of {}", orders.capacity(), orders.schema());
    println!("fills:  {fills_name}, {} slots of {}", fills.capacity(), fills.schema());
    println!("graph:  risk (0) and journal (1) in parallel, match (2) after both; {count} orders");

    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut children: Vec<(&str, Child)> = Vec::new();
    for role in ROLES {
        let child = Command::new(&exe)
            .args(["--role", role, &orders_name, &fills_name, &count.to_string()])
            .stdout(Stdio::piped())
            .spawn()?;
        children.push((role, child));
    }
    // Progress until every stage has exited.
    let mut last = (Instant::now(), 0u64);
    while children.iter_mut().any(|(_, c)| matches!(c.try_wait(), Ok(None))) {
        std::thread::sleep(Duration::from_millis(250));
        let delivered = fills.consumer_sequence(0).unwrap_or(0);
        let rate = (delivered - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), delivered);
        eprint!(
            "\r  orders published {:>9}  risk {:>9}  journal {:>9}  matched {:>9}  delivered {:>9}  {:>6.2} M/s ",
            orders.cursor(),
            orders.consumer_sequence(0).unwrap_or(0),
            orders.consumer_sequence(1).unwrap_or(0),
            orders.consumer_sequence(2).unwrap_or(0),
            delivered,
            rate / 1e6
        );
        if started.elapsed() > 10 * LIMIT {
            eprintln!();
            return Err("the pipeline did not finish in time".into());
        }
    }
    eprintln!();
    let elapsed = started.elapsed();
    let mut failed = false;
    for (role, child) in children {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        println!("{role:>8}: {}", text.trim());
        failed |= !out.status.success();
    }
    let _ = shm_disruptor::unlink(&orders_name);
    let _ = shm_disruptor::unlink(&fills_name);
    if failed {
        return Err("a stage failed its checks".into());
    }
    println!(
        "{count} orders through 2 rings and 5 processes in {:.2} s: {:.2} M orders/s end to end",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!("OK: every order checked by every stage, every fill checked at the sink");
    Ok(())
}

fn run_role(role: &str, orders_name: &str, fills_name: &str, count: u64) -> Result<()> {
    let orders = Disruptor::<Order>::open(orders_name)?;
    match role {
        "orders" => {
            let mut producer = orders.producer()?;
            producer.set_wait_strategy(WAIT);
            let mut id = 0;
            while id < count {
                let mut batch =
                    producer.claim_available_timeout(((count - id) as usize).min(64), LIMIT)?;
                let now = monotonic_ns();
                for order in batch.iter_mut() {
                    *order = Order::new(id, now);
                    id += 1;
                }
                batch.commit();
            }
            println!("published {count}");
        }
        "risk" | "journal" => {
            let index = if role == "risk" { 0 } else { 1 };
            let mut consumer = orders.consumer(index)?;
            consumer.set_wait_strategy(WAIT);
            let (mut seen, mut flagged, mut checksum) = (0u64, 0u64, 0u64);
            while seen < count {
                let batch = consumer.consume_timeout(LIMIT)?;
                for (seq, order) in batch.range().zip(batch.iter()) {
                    if order.id != seq || !order.is_intact() {
                        return Err(format!("{role}: order at {seq} is corrupt: {order:?}").into());
                    }
                    // risk: flag large orders; journal: a running checksum of what it recorded.
                    flagged += u64::from(order.qty > 95);
                    checksum = checksum.wrapping_mul(31).wrapping_add(order.id);
                }
                seen += batch.len() as u64;
                batch.commit();
            }
            if role == "risk" {
                println!("checked {seen}, flagged {flagged} large orders");
            } else {
                let expected = (0..count).fold(0u64, |c, id| c.wrapping_mul(31).wrapping_add(id));
                if checksum != expected {
                    return Err(format!("journal checksum {checksum:#x} != {expected:#x}").into());
                }
                println!("journaled {seen}, checksum {checksum:#x} matches");
            }
        }
        "match" => {
            let fills = Disruptor::<Fill>::open(fills_name)?;
            let mut consumer = orders.consumer(2)?;
            consumer.set_wait_strategy(WAIT);
            let mut producer = fills.producer()?;
            producer.set_wait_strategy(WAIT);
            let mut matched = 0;
            while matched < count {
                let mut seq = consumer.sequence();
                matched += consumer.forward_to(&mut producer, LIMIT, |order, fill| {
                    // The graph's promise: both parallel stages committed this order already.
                    let (risk, journal) =
                        (orders.consumer_sequence(0), orders.consumer_sequence(1));
                    assert!(
                        risk > Some(seq) && journal > Some(seq),
                        "order {seq} seen before its stages"
                    );
                    seq += 1;
                    *fill = Fill::of(order);
                })? as u64;
            }
            println!("matched {matched}, each after risk and journal");
        }
        "sink" => {
            let fills = Disruptor::<Fill>::open(fills_name)?;
            let mut consumer = fills.consumer(0)?;
            consumer.set_wait_strategy(WAIT);
            let mut latency = hdrhistogram::Histogram::<u64>::new(3)?;
            let started = Instant::now();
            let mut next_id = 0u64;
            while next_id < count {
                let batch = consumer.consume_timeout(LIMIT)?;
                let now = monotonic_ns();
                for fill in batch.iter() {
                    let expected = Fill::of(&Order::new(next_id, fill.created_ns));
                    if *fill != expected {
                        return Err(format!(
                            "fill {next_id} is wrong: {fill:?}, expected {expected:?}"
                        )
                        .into());
                    }
                    latency.record(now.saturating_sub(fill.created_ns).max(1))?;
                    next_id += 1;
                }
                batch.commit();
            }
            println!(
                "received {next_id} fills in order, {:.2} M/s; order-to-fill latency p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
                next_id as f64 / started.elapsed().as_secs_f64() / 1e6,
                latency.value_at_quantile(0.5) as f64 / 1e3,
                latency.value_at_quantile(0.99) as f64 / 1e3,
                latency.value_at_quantile(0.999) as f64 / 1e3,
                latency.max() as f64 / 1e3,
            );
        }
        other => return Err(format!("unknown role {other}").into()),
    }
    Ok(())
}
