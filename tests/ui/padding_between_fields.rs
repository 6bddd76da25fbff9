use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Padded {
    side: u8,
    qty: u32,
}

fn main() {}
