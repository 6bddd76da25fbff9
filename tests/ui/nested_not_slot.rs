use shm_disruptor::Slot;

#[derive(Clone, Copy)]
#[repr(C)]
struct Level {
    price: u64,
    qty: u64,
}

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Book {
    bid: Level,
    ask: Level,
}

fn main() {}
