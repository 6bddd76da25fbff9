//! The seed README's consumer: reads a million numbers from `/shm-disruptor-example` as
//! consumer 0 and prints their sum (the same as the producer's).

use shm_disruptor_examples::{consume_numbers, EXAMPLE_COUNT, EXAMPLE_RING};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sum = consume_numbers(EXAMPLE_RING, EXAMPLE_COUNT)?;
    println!("{sum}");
    shm_disruptor::unlink(EXAMPLE_RING)?;
    Ok(())
}
