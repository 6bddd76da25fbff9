//! A batch claim's slots are lent out once at a time.
use shm_disruptor::Disruptor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u64>::builder("ui").capacity(8).consumers(1).create_in_process()?;
    let mut producer = ring.producer()?;
    let mut batch = producer.claim_many(4)?;
    let (a, _) = batch.slices_mut();
    let (b, _) = batch.slices_mut();
    a[0] = b[0];
    batch.commit();
    Ok(())
}
