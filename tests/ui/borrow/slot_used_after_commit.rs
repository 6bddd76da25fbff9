//! A claimed slot cannot be written after its claim is committed (consumers may be reading it).
use shm_disruptor::Disruptor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u64>::builder("ui").capacity(8).consumers(1).create_in_process()?;
    let mut producer = ring.producer()?;
    let mut claim = producer.claim()?;
    let slot: &mut u64 = &mut claim;
    claim.commit();
    *slot = 1;
    Ok(())
}
