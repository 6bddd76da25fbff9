use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Batch {
    count: u64,
    prices: Vec<u64>,
}

fn main() {}
