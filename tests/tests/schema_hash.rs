//! The schema hash of derived types: equal for identical definitions wherever they are declared,
//! different for every kind of layout change, and pinned for a reference type so that an accidental
//! change of the algorithm is caught (run this in both `cargo test` and `cargo test --release`).

use shm_disruptor::{Schema, Slot};

/// The reference type of the README and of the `Slot` docs.
mod reference {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

/// The same definition again, in another module: the module path is not part of the hash.
mod elsewhere {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

/// Each module holds a `Tick` that differs from the reference in one way.
mod reordered {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 3],
        pub price: f64,
    }
}

mod renamed_field {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub quantity: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

mod signed_qty {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub qty: i32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

mod float_qty {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub qty: f32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

mod longer_pad {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 11],
    }
}

mod aligned {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C, align(16))]
    pub struct Tick {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

mod renamed_type {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Trade {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }

    /// Another identifier, but the schema name of the reference.
    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    #[slot(name = "Tick")]
    pub struct NamedTick {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }

    /// The reference's identifier, but another schema name.
    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    #[slot(name = "market.Tick")]
    pub struct Tick {
        pub price: f64,
        pub qty: u32,
        pub side: u8,
        pub _pad: [u8; 3],
    }
}

/// Two fields of the same type and offset swapped: only the names say which is which.
mod swapped {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Spread {
        pub bid: u32,
        pub ask: u32,
    }

    pub mod other {
        use shm_disruptor::Slot;

        #[derive(Slot, Clone, Copy)]
        #[repr(C)]
        pub struct Spread {
            pub ask: u32,
            pub bid: u32,
        }
    }
}

/// The same total size split differently between two arrays.
mod resized {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Key {
        pub venue: [u8; 4],
        pub symbol: [u8; 12],
    }

    pub mod other {
        use shm_disruptor::Slot;

        #[derive(Slot, Clone, Copy)]
        #[repr(C)]
        pub struct Key {
            pub venue: [u8; 8],
            pub symbol: [u8; 8],
        }
    }
}

/// An outer struct whose own definition is identical in both modules; only the nested `Level`
/// differs, in the type of one field.
mod nested {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Level {
        pub price: i64,
        pub qty: u64,
    }

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Book {
        pub bid: Level,
        pub ask: Level,
    }

    pub mod other {
        use shm_disruptor::Slot;

        #[derive(Slot, Clone, Copy)]
        #[repr(C)]
        pub struct Level {
            pub price: i64,
            pub qty: i64,
        }

        #[derive(Slot, Clone, Copy)]
        #[repr(C)]
        pub struct Book {
            pub bid: Level,
            pub ask: Level,
        }
    }
}

/// Only the alignment differs: both are 16 bytes with no padding.
mod alignment {
    use shm_disruptor::Slot;

    #[derive(Slot, Clone, Copy)]
    #[repr(C)]
    pub struct Pair {
        pub a: u64,
        pub b: u64,
    }

    pub mod other {
        use shm_disruptor::Slot;

        #[derive(Slot, Clone, Copy)]
        #[repr(C, align(16))]
        pub struct Pair {
            pub a: u64,
            pub b: u64,
        }
    }
}

use reference::Tick;

/// The hash of `reference::Tick`, computed once and written down. If this changes, every segment
/// created by an older build is refused by a newer one: change it only on purpose.
const TICK_HASH: u64 = 0x13ea_52dd_5c28_69e6;

// Checked at compile time too, so a release build that skips the test still cannot drift.
const _: () = assert!(Tick::SCHEMA.hash == TICK_HASH);

fn assert_differs(changed: &Schema, what: &str) {
    assert_ne!(changed.hash, Tick::SCHEMA.hash, "{what} must change the hash: {changed}");
}

#[test]
fn pinned_hash_of_the_reference_type() {
    assert_eq!(Tick::SCHEMA.hash, TICK_HASH, "{:#018x}", Tick::SCHEMA.hash);
}

#[test]
fn display_shows_the_layout() {
    assert_eq!(
        Tick::SCHEMA.to_string(),
        "Tick { price: f64 @0, qty: u32 @8, side: u8 @12, _pad: [u8; 3] @13 } size 16 align 8"
    );
}

#[test]
fn identical_definitions_in_different_modules_agree() {
    assert_eq!(elsewhere::Tick::SCHEMA.hash, Tick::SCHEMA.hash);
    assert_eq!(elsewhere::Tick::SCHEMA, Tick::SCHEMA);
}

#[test]
fn reordering_fields_changes_the_hash() {
    assert_differs(&reordered::Tick::SCHEMA, "moving `price` last");
    assert_ne!(swapped::Spread::SCHEMA.hash, swapped::other::Spread::SCHEMA.hash);
}

#[test]
fn renaming_a_field_changes_the_hash() {
    assert_differs(&renamed_field::Tick::SCHEMA, "renaming `qty`");
}

#[test]
fn retyping_a_field_changes_the_hash() {
    assert_differs(&signed_qty::Tick::SCHEMA, "`qty: u32` -> `i32`");
    assert_differs(&float_qty::Tick::SCHEMA, "`qty: u32` -> `f32`");
    assert_ne!(signed_qty::Tick::SCHEMA.hash, float_qty::Tick::SCHEMA.hash);
}

#[test]
fn resizing_an_array_changes_the_hash() {
    assert_differs(&longer_pad::Tick::SCHEMA, "`_pad: [u8; 3]` -> `[u8; 11]`");
    assert_ne!(resized::Key::SCHEMA.hash, resized::other::Key::SCHEMA.hash);
}

#[test]
fn renaming_the_type_changes_the_hash() {
    assert_differs(&renamed_type::Trade::SCHEMA, "renaming `Tick` to `Trade`");
}

#[test]
fn slot_name_overrides_the_identifier() {
    assert_eq!(renamed_type::NamedTick::SCHEMA.name, "Tick");
    assert_eq!(renamed_type::NamedTick::SCHEMA.hash, Tick::SCHEMA.hash);
    assert_eq!(renamed_type::Tick::SCHEMA.name, "market.Tick");
    assert_differs(&renamed_type::Tick::SCHEMA, "`#[slot(name = \"market.Tick\")]`");
}

#[test]
fn changing_a_nested_struct_changes_the_outer_hash() {
    let (before, after) = (&nested::Book::SCHEMA, &nested::other::Book::SCHEMA);
    assert_ne!(nested::Level::SCHEMA.hash, nested::other::Level::SCHEMA.hash);
    // The outer layouts print the same; only the nested hash tells them apart.
    assert_eq!(before.to_string(), after.to_string());
    assert_ne!(before.hash, after.hash);
}

#[test]
fn changing_the_alignment_changes_the_hash() {
    let (before, after) = (&alignment::Pair::SCHEMA, &alignment::other::Pair::SCHEMA);
    assert_eq!((before.size, before.align), (16, 8));
    assert_eq!((after.size, after.align), (16, 16));
    assert_ne!(before.hash, after.hash);
    assert_differs(&aligned::Tick::SCHEMA, "`align(16)`");
}

#[test]
fn fields_record_real_offsets_and_sizes() {
    let fields: Vec<_> =
        Tick::SCHEMA.fields().iter().map(|field| (field.name, field.offset, field.size)).collect();
    assert_eq!(fields, [("price", 0, 8), ("qty", 8, 4), ("side", 12, 1), ("_pad", 13, 3)]);
    assert_eq!(Tick::SCHEMA.fields()[0].schema, &f64::SCHEMA);
    assert_eq!((Tick::SCHEMA.size, Tick::SCHEMA.align), (16, 8));
}
