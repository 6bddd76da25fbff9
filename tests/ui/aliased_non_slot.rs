use shm_disruptor::Slot;

type Price = bool;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Tick {
    qty: u8,
    price: Price,
}

fn main() {}
