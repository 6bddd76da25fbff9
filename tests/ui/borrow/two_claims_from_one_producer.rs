//! A producer hands out one claim at a time: two live `&mut` to slots of one handle never exist.
use shm_disruptor::Disruptor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u64>::builder("ui").capacity(8).consumers(1).create_in_process()?;
    let mut producer = ring.producer()?;
    let mut first = producer.claim()?;
    let mut second = producer.claim()?;
    *first = 1;
    *second = 2;
    first.commit();
    second.commit();
    Ok(())
}
