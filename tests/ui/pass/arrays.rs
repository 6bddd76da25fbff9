use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Depth {
    prices: [i64; 4],
    sizes: [[u32; 2]; 4],
    symbol: [u8; 8],
}

fn main() {
    assert_eq!(Depth::SCHEMA.size, 72);
    assert_eq!(
        Depth::SCHEMA.to_string(),
        "Depth { prices: [i64; 4] @0, sizes: [[u32; 2]; 4] @32, symbol: [u8; 8] @64 } size 72 align 8"
    );
}
