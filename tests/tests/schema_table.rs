//! The schema table (the binary description of a slot type in a ring's header): random layouts
//! round-trip and display as their `Schema` does, and hostile bytes (random, or a valid table
//! with bytes changed, cut or added) are refused with a typed error or decode to a table that is
//! consistent in itself: never a panic. (`cargo test` runs a few hundred cases of each;
//! `PROPTEST_CASES=100000 cargo test --release --test schema_table` runs a long campaign.)

use proptest::prelude::*;
use shm_disruptor::{EntryKind, Field, Schema, SchemaTable, Slot};

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// A random `'static` schema: primitives, arrays and structs nested up to `depth` levels, laid
/// out as `#[repr(C)]` would (fields at aligned offsets, padding left as gaps).
fn schema(depth: u32) -> BoxedStrategy<&'static Schema> {
    let primitive = prop_oneof![
        Just(&u8::SCHEMA),
        Just(&u16::SCHEMA),
        Just(&i32::SCHEMA),
        Just(&f64::SCHEMA),
        Just(&u128::SCHEMA),
    ]
    .boxed();
    if depth == 0 {
        return primitive;
    }
    let inner = schema(depth - 1);
    prop_oneof![
        2 => primitive,
        1 => (inner.clone(), 1usize..5).prop_map(|(element, len)| {
            &*Box::leak(Box::new(Schema::array(element, len)))
        }),
        2 => ("[A-Za-z_][A-Za-z0-9_]{0,8}", prop::collection::vec(("[a-z_][a-z0-9_]{0,6}", inner), 1..6))
            .prop_map(|(name, members)| {
                let mut offset = 0usize;
                let mut align = 1usize;
                let fields: Vec<Field> = members
                    .into_iter()
                    .map(|(field_name, schema)| {
                        offset = offset.next_multiple_of(schema.align);
                        align = align.max(schema.align);
                        let field = Field {
                            name: Box::leak(field_name.into_boxed_str()),
                            schema,
                            offset,
                            size: schema.size,
                        };
                        offset += schema.size;
                        field
                    })
                    .collect();
                let size = offset.next_multiple_of(align);
                let name: &'static str = Box::leak(name.into_boxed_str());
                &*Box::leak(Box::new(Schema::structure(name, size, align, Box::leak(fields.into_boxed_slice()))))
            }),
    ]
    .boxed()
}

/// Everything a reader of a decoded table does with it, none of which may panic.
fn use_table(table: &SchemaTable) {
    let _ = table.to_string();
    let _ = table.type_name();
    for (i, entry) in table.entries().iter().enumerate() {
        let _ = table.type_name_of(i);
        if let EntryKind::Struct { fields } = &entry.kind {
            for field in fields {
                assert!(field.offset + field.size <= entry.size);
                assert!(field.ty < i, "entries refer to earlier entries only");
            }
        }
    }
    let _ = table.diff(table);
    let again = SchemaTable::decode(&table.encode()).expect("a decoded table encodes validly");
    assert_eq!(&again, table);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_layouts_round_trip(schema in schema(3)) {
        let table = SchemaTable::of(schema);
        prop_assert_eq!(table.to_string(), schema.to_string());
        let decoded = SchemaTable::decode(&table.encode()).unwrap();
        prop_assert_eq!(&decoded, &table);
        prop_assert!(decoded.matches(schema));
        prop_assert!(decoded.diff(&table).is_empty());
    }

    #[test]
    fn two_layouts_differ_exactly_when_their_hashes_do(a in schema(2), b in schema(2)) {
        let (ta, tb) = (SchemaTable::of(a), SchemaTable::of(b));
        prop_assert_eq!(ta.diff(&tb).is_empty(), a.hash == b.hash, "{}\n{}", a, b);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(table) = SchemaTable::decode(&bytes) {
            use_table(&table);
        }
    }

    #[test]
    fn a_table_with_random_header_never_panics(tail in prop::collection::vec(any::<u8>(), 0..256)) {
        // The right magic and version, so that the bytes after them are really parsed.
        let mut bytes = b"SDST\x01\x00\x00\x00".to_vec();
        bytes.extend(tail);
        if let Ok(table) = SchemaTable::decode(&bytes) {
            use_table(&table);
        }
    }

    #[test]
    fn damaged_tables_never_panic(
        schema in schema(3),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = SchemaTable::of(schema).encode();
        for (at, byte, how) in edits {
            match how {
                0 => { let i = at.index(bytes.len()); bytes[i] = byte; }
                1 => { let i = at.index(bytes.len() + 1); bytes.insert(i, byte); }
                _ => { let i = at.index(bytes.len()); bytes.truncate(i); }
            }
            if bytes.is_empty() { break; }
        }
        if let Ok(table) = SchemaTable::decode(&bytes) {
            use_table(&table);
        }
    }
}
