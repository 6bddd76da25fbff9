use shm_disruptor::Slot;

// Every rule that can be seen in the syntax is reported at once: `packed`, the unknown `slot`
// attribute, and the generic parameter.
#[derive(Slot, Clone, Copy)]
#[repr(C, packed)]
#[slot(version = 2)]
struct Tick<T> {
    price: T,
    qty: u64,
}

fn main() {}
