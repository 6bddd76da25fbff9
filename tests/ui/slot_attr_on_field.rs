use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Tick {
    #[slot(name = "px")]
    price: f64,
    qty: u64,
}

fn main() {}
