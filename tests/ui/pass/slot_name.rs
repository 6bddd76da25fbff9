use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
#[slot(name = "market.Tick")]
struct Tick {
    price: f64,
    qty: u64,
}

fn main() {
    assert_eq!(Tick::SCHEMA.name, "market.Tick");
    assert_eq!(
        Tick::SCHEMA.to_string(),
        "market.Tick { price: f64 @0, qty: u64 @8 } size 16 align 8"
    );
}
