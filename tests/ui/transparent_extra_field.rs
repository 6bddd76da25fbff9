use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(transparent)]
struct Price(u64, [u8; 0]);

fn main() {}
