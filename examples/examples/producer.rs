//! The seed README's producer: a million random numbers into `/shm-disruptor-example`.
//!
//! Run it in one terminal and `cargo run --release --example consumer` in another; both print
//! the same sum.

use shm_disruptor_examples::{produce_numbers, EXAMPLE_COUNT, EXAMPLE_RING};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sum = produce_numbers(EXAMPLE_RING, EXAMPLE_COUNT)?;
    println!("{sum}");
    Ok(())
}
