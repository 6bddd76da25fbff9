// A claim or a batch dropped unused is almost always a bug (a claim is given back, a batch is
// delivered again): each line below is an `unused_must_use` warning, denied here.
#![deny(unused_must_use)]

use shm_disruptor::Disruptor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Disruptor::<u64>::builder("/must-use").capacity(8).consumers(1).create_in_process()?;
    let mut producer = ring.producer()?;
    producer.claim()?;
    producer.try_claim_many(2)?;
    producer.claim_available(4)?;
    let mut consumer = ring.consumer(0)?;
    consumer.try_consume();
    consumer.consume_timeout(std::time::Duration::ZERO)?;
    Ok(())
}
