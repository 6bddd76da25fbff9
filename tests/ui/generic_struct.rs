use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Pair<T> {
    first: T,
    second: T,
}

fn main() {}
