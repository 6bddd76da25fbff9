use shm_disruptor::Slot;

// Every field that is not `Slot`, and every gap, is reported at once.
#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Order {
    is_buy: bool,
    price: u64,
    letter: char,
    qty: u16,
    venue: u8,
}

fn main() {}
