use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
#[slot(version = 2)]
struct Tick {
    price: f64,
    qty: u64,
}

fn main() {}
