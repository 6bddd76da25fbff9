//! A consumer hands out one batch at a time: its next batch waits for the last to be dropped.
use shm_disruptor::Disruptor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u64>::builder("ui").capacity(8).consumers(1).create_in_process()?;
    let mut consumer = ring.consumer(0)?;
    let first = consumer.try_consume();
    let second = consumer.try_consume();
    println!("{} {}", first.len(), second.len());
    Ok(())
}
