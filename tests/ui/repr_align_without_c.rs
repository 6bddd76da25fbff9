use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(align(16))]
struct Tick {
    price: f64,
    qty: u64,
}

fn main() {}
