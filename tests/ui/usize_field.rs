use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Batch {
    first: u64,
    len: usize,
}

fn main() {}
