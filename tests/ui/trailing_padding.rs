use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Tick {
    price: f64,
    qty: u32,
}

fn main() {}
