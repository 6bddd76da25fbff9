//! A message cannot be read after its batch is committed (producers may be overwriting it).
use shm_disruptor::Disruptor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u64>::builder("ui").capacity(8).consumers(1).create_in_process()?;
    let mut consumer = ring.consumer(0)?;
    let batch = consumer.try_consume();
    let first: &u64 = &batch.slices().0[0];
    batch.commit();
    println!("{first}");
    Ok(())
}
