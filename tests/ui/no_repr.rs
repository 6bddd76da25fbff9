use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
struct Tick {
    price: f64,
    qty: u64,
}

fn main() {}
