use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(u8)]
enum Side {
    Buy,
    Sell,
}

fn main() {}
