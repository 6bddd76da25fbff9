//! `raw`: a minimal single-producer single-consumer ring over a POSIX shared-memory segment
//! between two processes (head and tail on their own 128-byte lines, cached opposite index, batch
//! publish): the practical limit, and its children for `seed` and `spsc-*`.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapRaw;

use crate::harness::child::{arg, ready_then_go, Args};
use crate::harness::config::Config;
use crate::harness::spawn::{run_children, Kid};
use crate::harness::sys::{create_segment, now_ns, open_segment, unique_name, Unlink};
use crate::msg::{check_in_order, fill, Msg};
use crate::report::{throughput_sample, Sample};
use crate::scenarios::RING_SLOTS;
use crate::wire::Report;

/// The raw ring's control block: the producer's `head` and the consumer's `tail`, each alone on a
/// 128-byte line; the slots follow at `RAW_SLOTS_OFFSET`.
#[repr(C)]
pub struct RawHeader {
    /// Written only by the producer: every sequence below it is published.
    pub head: AtomicU64,
    _pad0: [u8; 120],
    /// Written only by the consumer: every sequence below it has been read.
    pub tail: AtomicU64,
    _pad1: [u8; 120],
}

pub const RAW_SLOTS_OFFSET: usize = 256;
const _: () = assert!(std::mem::size_of::<RawHeader>() == RAW_SLOTS_OFFSET);
const _: () = assert!(std::mem::offset_of!(RawHeader, tail) == 128);

/// One process's mapping of a raw ring of `capacity` (a power of two) slots of `M`.
pub struct RawRing<M> {
    map: MmapRaw,
    capacity: u64,
    _type: PhantomData<M>,
}

impl<M: Msg> RawRing<M> {
    pub fn bytes(capacity: u64) -> u64 {
        RAW_SLOTS_OFFSET as u64 + capacity * std::mem::size_of::<M>() as u64
    }

    /// Creates the segment `name` (zero-filled by the kernel: head = tail = 0).
    pub fn create(name: &str, capacity: u64) -> io::Result<RawRing<M>> {
        assert!(capacity.is_power_of_two());
        Self::map(create_segment(name, Self::bytes(capacity))?, capacity)
    }

    pub fn open(name: &str, capacity: u64) -> io::Result<RawRing<M>> {
        Self::map(open_segment(name)?, capacity)
    }

    pub fn map(file: std::fs::File, capacity: u64) -> io::Result<RawRing<M>> {
        let map = MmapRaw::map_raw(&file)?;
        if (map.len() as u64) < Self::bytes(capacity) {
            return Err(io::Error::other("raw segment is smaller than its capacity needs"));
        }
        Ok(RawRing { map, capacity, _type: PhantomData })
    }

    pub fn header(&self) -> &RawHeader {
        // SAFETY: the mapping is page-aligned and at least `RAW_SLOTS_OFFSET` bytes long
        // (checked in `map`); the kernel zero-filled it, a valid `RawHeader` (atomics and bytes);
        // every process touches the header only through these atomics.
        unsafe { &*self.map.as_ptr().cast::<RawHeader>() }
    }

    pub fn slots(&self) -> *mut M {
        // SAFETY: `RAW_SLOTS_OFFSET` is inside the mapping (checked in `map`), and 128-aligned
        // from a page-aligned base, which suits every `M` used here.
        unsafe { self.map.as_mut_ptr().add(RAW_SLOTS_OFFSET).cast::<M>() }
    }

    pub fn producer(&self) -> RawProducer<'_, M> {
        RawProducer { ring: self, head: 0, tail_cache: 0 }
    }

    pub fn consumer(&self) -> RawConsumer<'_, M> {
        RawConsumer { ring: self, tail: 0, head_cache: 0 }
    }
}

/// The producer side: claims contiguous free slots, then publishes them with one store.
pub struct RawProducer<'a, M> {
    ring: &'a RawRing<M>,
    head: u64,
    /// The consumer's tail as last read: there is room up to `tail_cache + capacity`.
    tail_cache: u64,
}

impl<M: Msg> RawProducer<'_, M> {
    /// Up to `max` free contiguous slots (at least one: spins until there is room). Write them,
    /// then [`publish`](Self::publish) how many were written.
    #[inline(always)]
    pub fn claim(&mut self, max: usize) -> &mut [M] {
        let capacity = self.ring.capacity;
        if capacity - (self.head - self.tail_cache) < max as u64 {
            let tail = &self.ring.header().tail;
            // Acquire: pairs with the Release store of `tail` in `RawConsumer::release`: the
            // consumer's reads of the slots below `tail` happen-before we overwrite them.
            self.tail_cache = tail.load(Ordering::Acquire);
            while self.head - self.tail_cache == capacity {
                std::hint::spin_loop();
                // Acquire: as above.
                self.tail_cache = tail.load(Ordering::Acquire);
            }
        }
        let free = capacity - (self.head - self.tail_cache);
        let index = self.head & (capacity - 1);
        let n = (max as u64).min(free).min(capacity - index) as usize;
        // SAFETY: `index + n <= capacity`, so the slice lies in the slot region; the slots
        // `[head, head + n)` are free (the consumer's tail is past their previous use) and
        // unpublished, so this producer is their only user until `publish`.
        unsafe { std::slice::from_raw_parts_mut(self.ring.slots().add(index as usize), n) }
    }

    #[inline(always)]
    pub fn publish(&mut self, n: usize) {
        self.head += n as u64;
        // Release: pairs with the Acquire load of `head` in `RawConsumer::poll`: our slot writes
        // happen-before the consumer reads them.
        self.ring.header().head.store(self.head, Ordering::Release);
    }
}

/// The consumer side: reads everything published up to the end of the ring, then releases it.
pub struct RawConsumer<'a, M> {
    ring: &'a RawRing<M>,
    tail: u64,
    /// The producer's head as last read.
    head_cache: u64,
}

impl<M: Msg> RawConsumer<'_, M> {
    /// The published, unread messages up to the end of the ring (spins until there is one).
    #[inline(always)]
    pub fn poll(&mut self) -> &[M] {
        if self.tail == self.head_cache {
            let head = &self.ring.header().head;
            loop {
                // Acquire: pairs with the Release store of `head` in `RawProducer::publish`.
                self.head_cache = head.load(Ordering::Acquire);
                if self.head_cache != self.tail {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        let capacity = self.ring.capacity;
        let index = self.tail & (capacity - 1);
        let n = (self.head_cache - self.tail).min(capacity - index) as usize;
        // SAFETY: `index + n <= capacity`; the slots `[tail, tail + n)` are published (below
        // `head`, acquired above) and the producer does not overwrite them before `release`.
        unsafe { std::slice::from_raw_parts(self.ring.slots().add(index as usize), n) }
    }

    #[inline(always)]
    pub fn release(&mut self, n: usize) {
        self.tail += n as u64;
        // Release: pairs with the Acquire loads of `tail` in `RawProducer::claim`.
        self.ring.header().tail.store(self.tail, Ordering::Release);
    }
}

pub fn raw_producer<M: Msg>(args: &Args) -> Result<Report, String> {
    let msgs: u64 = arg(args, "msgs")?;
    let batch: usize = arg(args, "batch")?;
    let ring = RawRing::<M>::open(&arg::<String>(args, "ring")?, arg(args, "capacity")?)
        .map_err(|e| e.to_string())?;
    let mut producer = ring.producer();
    ready_then_go()?;
    let start = now_ns();
    let mut seq = 0;
    while seq < msgs {
        let slots = producer.claim((msgs - seq).min(batch as u64) as usize);
        fill(slots, 0, &mut seq);
        let n = slots.len();
        producer.publish(n);
    }
    let end = now_ns();
    Ok(Report { start_ns: Some(start), end_ns: Some(end), ..Report::default() }.with_memory())
}

pub fn raw_consumer<M: Msg>(args: &Args) -> Result<Report, String> {
    let total: u64 = arg(args, "msgs")?;
    let ring = RawRing::<M>::open(&arg::<String>(args, "ring")?, arg(args, "capacity")?)
        .map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer();
    ready_then_go()?;
    let mut expected = 0u64;
    while expected < total {
        let msgs = consumer.poll();
        check_in_order(msgs, &mut expected)?;
        let n = msgs.len();
        consumer.release(n);
    }
    Ok(Report { end_ns: Some(now_ns()), received: Some(expected), ..Report::default() })
}

/// `seed` and `spsc-*` over the raw ring: a producer process and a consumer process, claims of up
/// to `batch`.
pub fn run_spsc<M: Msg>(cfg: &Config, batch: usize, msgs: u64) -> Result<Sample, String> {
    let name = unique_name("shmd-raw");
    let _ring = RawRing::<M>::create(&name, RING_SLOTS as u64).map_err(|e| e.to_string())?;
    let unlink = Unlink(vec![name.clone()]);
    let args = [
        ("ring", name),
        ("capacity", RING_SLOTS.to_string()),
        ("msgs", msgs.to_string()),
        ("batch", batch.to_string()),
    ];
    let kids = vec![
        Kid::spawn(cfg, "raw-consumer", M::KIND, &args, cfg.cpu(1).into_iter().collect())?,
        Kid::spawn(cfg, "raw-producer", M::KIND, &args, cfg.cpu(0).into_iter().collect())?,
    ];
    throughput_sample(&run_children(kids, unlink)?, msgs)
}
