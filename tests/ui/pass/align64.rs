use shm_disruptor::Slot;

// A whole cache line: the alignment rounds the size up to 64, so the tail is padded explicitly.
#[derive(Slot, Clone, Copy)]
#[repr(C, align(64))]
struct Line {
    sequence: u64,
    value: f64,
    _pad: [u8; 48],
}

// `align` may also come in its own attribute, before `C`.
#[derive(Slot, Clone, Copy)]
#[repr(align(16))]
#[repr(C)]
struct Pair {
    a: u32,
    b: u32,
    _pad: [u32; 2],
}

fn main() {
    assert_eq!((Line::SCHEMA.size, Line::SCHEMA.align), (64, 64));
    assert_eq!((Pair::SCHEMA.size, Pair::SCHEMA.align), (16, 16));
}
