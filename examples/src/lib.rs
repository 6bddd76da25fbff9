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

/// A small xorshift generator: the examples need cheap random numbers, not a crate.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded from the clock and the process id.
    pub fn from_entropy() -> XorShift {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        XorShift((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// The next number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// The seed README's producer: creates the ring `name` (replacing a stale one), writes `count`
/// random numbers below 100, one claim and one commit each, and returns their sum.
pub fn produce_numbers(name: &str, count: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let ring = shm_disruptor::Disruptor::<Number>::builder(name)
        .capacity(EXAMPLE_CAPACITY)
        .consumers(1)
        .single_producer()
        .replace_existing()?;
    send_numbers(&ring, count)
}

/// Writes `count` random numbers below 100 into `ring` and returns their sum.
pub fn send_numbers(
    ring: &shm_disruptor::Disruptor<Number>,
    count: u64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut producer = ring.producer()?;
    producer.set_wait_strategy(shm_disruptor::WaitStrategy::Yield);
    let mut rng = XorShift::from_entropy();
    let mut sum = 0;
    for _ in 0..count {
        let n = rng.below(100) as u32;
        let mut claim = producer.claim()?;
        *claim = Number { value: n };
        claim.commit();
        sum += u64::from(n);
    }
    Ok(sum)
}

/// The seed README's consumer: opens `name` as consumer 0 (waiting up to 30 s for it to be
/// created), reads `count` numbers in batches and returns their sum.
pub fn consume_numbers(name: &str, count: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ring = loop {
        match shm_disruptor::Disruptor::<Number>::open(name) {
            Err(shm_disruptor::OpenError::NotFound { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other?,
        }
    };
    let mut consumer = ring.consumer(0)?;
    consumer.set_wait_strategy(shm_disruptor::WaitStrategy::Yield);
    let (mut sum, mut read) = (0u64, 0u64);
    while read < count {
        let batch = consumer.consume_timeout(std::time::Duration::from_secs(30))?;
        for number in batch.iter() {
            sum += u64::from(number.value);
        }
        read += batch.len() as u64;
        batch.commit();
    }
    Ok(sum)
}

/// An order: what the pipeline demo's producer publishes.
#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Order {
    /// Sequential id from 0.
    pub id: u64,
    /// `CLOCK_MONOTONIC` nanoseconds when it was published (the same clock in every process).
    pub created_ns: u64,
    /// Limit price.
    pub price: f64,
    /// Quantity.
    pub qty: u32,
    /// 0 = buy, 1 = sell.
    pub side: u8,
    /// Explicit padding.
    pub _pad: [u8; 3],
}

impl Order {
    /// The order with id `id`: every field derives from it, so every stage can check it.
    pub fn new(id: u64, created_ns: u64) -> Order {
        Order {
            id,
            created_ns,
            price: 100.0 + (id % 1000) as f64 * 0.25,
            qty: 1 + (id % 100) as u32,
            side: (id % 2) as u8,
            _pad: [0; 3],
        }
    }

    /// Whether every field is what [`Order::new`] makes for this id.
    pub fn is_intact(&self) -> bool {
        let expected = Order::new(self.id, self.created_ns);
        *self == expected
    }
}

/// A fill: what the pipeline's last order stage forwards to the second ring.
#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Fill {
    /// The order's id.
    pub id: u64,
    /// The order's creation time, for end-to-end latency.
    pub created_ns: u64,
    /// price * qty, signed by side.
    pub notional: f64,
}

impl Fill {
    /// The fill of an order.
    pub fn of(order: &Order) -> Fill {
        let sign = if order.side == 0 { 1.0 } else { -1.0 };
        Fill {
            id: order.id,
            created_ns: order.created_ns,
            notional: sign * order.price * f64::from(order.qty),
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: comparable between processes on one machine.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The ring the `stream_producer` and `stream_consumer` examples share.
pub const STREAM_RING: &str = "/shm-disruptor-stream";
/// Bytes in the stream examples' ring.
pub const STREAM_CAPACITY: usize = 64 * 1024;
/// How long `stream_consumer` waits for `stream_producer` to create the ring.
pub const STREAM_OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Opens the ring `name`, waiting up to `timeout` for another process to create it.
pub fn open_when_created<T: Slot>(
    name: &str,
    timeout: std::time::Duration,
) -> Result<shm_disruptor::Disruptor<T>, shm_disruptor::OpenError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match shm_disruptor::Disruptor::<T>::open(name) {
            Err(shm_disruptor::OpenError::NotFound { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}
