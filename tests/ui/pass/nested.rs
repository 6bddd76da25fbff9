use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Level {
    price: i64,
    qty: u64,
}

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Book {
    bid: Level,
    ask: Level,
    sequence: u64,
}

fn main() {
    assert_eq!(Book::SCHEMA.size, 40);
    assert_eq!(Book::SCHEMA.fields()[1].schema, &Level::SCHEMA);
    assert_eq!(
        Book::SCHEMA.to_string(),
        "Book { bid: Level @0, ask: Level @16, sequence: u64 @32 } size 40 align 8"
    );
}
