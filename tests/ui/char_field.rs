use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Key {
    code: u32,
    letter: char,
}

fn main() {}
