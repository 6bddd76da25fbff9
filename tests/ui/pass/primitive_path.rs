use shm_disruptor::Slot;

type Price = f64;

mod units {
    pub type Qty = u32;
}

// Field types are checked by trait bounds, not by their spelling: paths and aliases are fine.
#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Tick {
    sequence: core::primitive::u64,
    price: Price,
    qty: units::Qty,
    side: ::core::primitive::u8,
    _pad: [u8; 3],
}

fn main() {
    assert_eq!(
        Tick::SCHEMA.to_string(),
        "Tick { sequence: u64 @0, price: f64 @8, qty: u32 @16, side: u8 @20, _pad: [u8; 3] @21 } size 24 align 8"
    );
}
