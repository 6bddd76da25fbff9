use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(transparent)]
struct Price {
    ticks: i64,
}

#[derive(Slot, Clone, Copy)]
#[repr(transparent)]
struct Symbol([u8; 8]);

fn main() {
    assert_eq!(Price::SCHEMA.to_string(), "Price { ticks: i64 @0 } size 8 align 8");
    assert_eq!(Symbol::SCHEMA.to_string(), "Symbol { 0: [u8; 8] @0 } size 8 align 1");
}
