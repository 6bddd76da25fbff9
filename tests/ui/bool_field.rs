use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Order {
    price: u64,
    qty: u32,
    is_buy: bool,
    _pad: [u8; 3],
}

fn main() {}
