use shm_disruptor::Slot;

// Raw identifiers are recorded without `r#`, and the generated code lives in its own scope, so
// names like `SCHEMA`, `Field` or `core` in the user's module do not clash with it.
#[allow(dead_code)]
const SCHEMA: u8 = 0;
#[allow(dead_code)]
struct Field;
#[allow(dead_code)]
mod core {}

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct r#Move {
    r#type: u32,
    r#fn: u32,
}

fn main() {
    assert_eq!(Move::SCHEMA.to_string(), "Move { type: u32 @0, fn: u32 @4 } size 8 align 4");
}
