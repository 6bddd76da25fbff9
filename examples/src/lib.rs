//! Message types shared by the example programs (and, in the tests, by a second crate that
//! declares the same layout, to show that schema hashes agree across crates).

use shm_disruptor::Slot;

/// A market-data tick: the type the README and `DESIGN.md` use.
#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Tick {
    /// Price.
    pub price: f64,
    /// Quantity.
    pub qty: u32,
    /// 0 = buy, 1 = sell.
    pub side: u8,
    /// Explicit padding: a `Slot` has none of its own.
    pub _pad: [u8; 3],
}

/// The payload of the seed's README example: one random number per slot.
#[derive(Slot, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Number {
    /// The number.
    pub value: u32,
}

/// The ring the `producer` and `consumer` examples share.
pub const EXAMPLE_RING: &str = "/shm-disruptor-example";
/// Messages the `producer` example sends.
pub const EXAMPLE_COUNT: u64 = 1_000_000;
/// Slots in the example ring (the seed's 1000).
pub const EXAMPLE_CAPACITY: usize = 1000;
