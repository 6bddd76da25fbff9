//! An exclusive consumer's batch is never read through a `&T` while lent out as `&mut T`.
use shm_disruptor::Disruptor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u64>::builder("ui").capacity(8).consumers(1).create_in_process()?;
    let mut editor = ring.exclusive_consumer(0)?;
    let mut batch = editor.try_consume_mut();
    let (writable, _) = batch.slices_mut();
    let (readable, _) = batch.slices();
    writable[0] = readable[0] + 1;
    batch.commit();
    Ok(())
}
