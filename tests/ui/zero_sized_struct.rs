use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Nothing {
    bytes: [u8; 0],
}

fn main() {}
