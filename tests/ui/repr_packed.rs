use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(packed)]
struct Tick {
    price: f64,
    side: u8,
}

fn main() {}
