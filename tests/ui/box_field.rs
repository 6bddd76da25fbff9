use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Quote {
    price: u64,
    detail: Box<u64>,
}

fn main() {}
