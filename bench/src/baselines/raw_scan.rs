//! `raw-scan` and `raw-scan-cached`, the baselines of `fanout-*`: a single-producer ring of `u64`
//! over POSIX shared memory laid out like ours, whose producer loads *every* consumer's sequence
//! before *each* claim (the seed's O(N) gating), or, cached, only when a claim passes the bound
//! it read last (the LMAX Disruptor's gating-sequence cache).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapRaw;

use crate::harness::sys::{create_segment, open_segment};

/// Bytes between two words written by different parties (the adjacent-line prefetcher pulls
/// 64-byte lines in pairs).
pub const SCAN_LINE: usize = 128;

/// `raw-scan`: one process's mapping of a single-producer ring of `capacity` (a power of two)
/// `u64` slots with `consumers` consumers. The producer's `head` (every sequence below it is
/// published) is alone on the first 128-byte line, consumer `i`'s `tail` (every sequence below
/// it has been read) alone on line `1 + i`, as our sequence lines are; the slots follow.
pub struct ScanRing {
    map: MmapRaw,
    capacity: u64,
    pub consumers: usize,
}

impl ScanRing {
    pub fn slots_offset(consumers: usize) -> usize {
        SCAN_LINE * (1 + consumers)
    }

    pub fn bytes(capacity: u64, consumers: usize) -> u64 {
        Self::slots_offset(consumers) as u64 + capacity * std::mem::size_of::<u64>() as u64
    }

    /// Creates the segment `name` (zero-filled by the kernel: every head and tail is 0).
    pub fn create(name: &str, capacity: u64, consumers: usize) -> io::Result<ScanRing> {
        assert!(capacity.is_power_of_two() && consumers > 0);
        Self::map(create_segment(name, Self::bytes(capacity, consumers))?, capacity, consumers)
    }

    pub fn open(name: &str, capacity: u64, consumers: usize) -> io::Result<ScanRing> {
        if !capacity.is_power_of_two() || consumers == 0 {
            return Err(io::Error::other("bad raw-scan geometry"));
        }
        Self::map(open_segment(name)?, capacity, consumers)
    }

    pub fn map(file: std::fs::File, capacity: u64, consumers: usize) -> io::Result<ScanRing> {
        let map = MmapRaw::map_raw(&file)?;
        if (map.len() as u64) < Self::bytes(capacity, consumers) {
            return Err(io::Error::other("raw-scan segment is smaller than its geometry needs"));
        }
        Ok(ScanRing { map, capacity, consumers })
    }

    /// The word at `line`: the head (line 0) or a consumer's tail (line `1 + i`).
    #[inline(always)]
    pub fn word(&self, line: usize) -> &AtomicU64 {
        assert!(line <= self.consumers);
        // SAFETY: `line * SCAN_LINE + 8 <= slots_offset <= map.len()` (checked in `map`), the
        // address is 128-aligned from a page-aligned base; the kernel zero-filled the segment
        // (a valid `AtomicU64`), and every process touches these words only through atomics.
        unsafe { &*self.map.as_ptr().add(line * SCAN_LINE).cast::<AtomicU64>() }
    }

    pub fn head(&self) -> &AtomicU64 {
        self.word(0)
    }

    pub fn tail(&self, consumer: usize) -> &AtomicU64 {
        self.word(1 + consumer)
    }

    pub fn slots(&self) -> *mut u64 {
        // SAFETY: the slot region lies inside the mapping (checked in `map`), 128-aligned.
        unsafe { self.map.as_mut_ptr().add(Self::slots_offset(self.consumers)).cast::<u64>() }
    }

    /// The producer; `cached`: keeps its bound between claims (`raw-scan-cached`).
    pub fn producer(&self, cached: bool) -> ScanProducer<'_> {
        ScanProducer { ring: self, head: 0, cached, bound: 0 }
    }

    pub fn consumer(&self, index: usize) -> ScanConsumer<'_> {
        assert!(index < self.consumers);
        ScanConsumer { ring: self, index, tail: 0, head_cache: 0 }
    }
}

/// `raw-scan`'s producer: the seed's claim, which reads every consumer's sequence each time;
/// or, `cached` (`raw-scan-cached`), the LMAX claim, which reads them all only when a claim
/// passes the bound it read last.
pub struct ScanProducer<'a> {
    ring: &'a ScanRing,
    head: u64,
    cached: bool,
    /// `cached`: the slowest tail + capacity, as last read.
    bound: u64,
}

impl ScanProducer<'_> {
    /// Up to `max` free contiguous slots, after a load of *every* consumer's tail (unless
    /// `cached` and `max` fit under the bound); `None` when the ring is full. Write them, then
    /// [`publish`](Self::publish) how many were written.
    #[inline(always)]
    pub fn try_claim(&mut self, max: usize) -> Option<&mut [u64]> {
        let ring = self.ring;
        if !self.cached || self.head + max as u64 > self.bound {
            let mut slowest = u64::MAX;
            for consumer in 0..ring.consumers {
                // Acquire: pairs with the Release store of the tail in `ScanConsumer::release`:
                // the consumer's reads of the slots below it happen-before we overwrite them.
                slowest = slowest.min(ring.tail(consumer).load(Ordering::Acquire));
            }
            // A tail never passes the head (a consumer reads only what was published).
            self.bound = slowest.min(self.head) + ring.capacity;
        }
        let free = self.bound - self.head;
        if free == 0 {
            return None;
        }
        let index = self.head & (ring.capacity - 1);
        let n = (max as u64).min(free).min(ring.capacity - index) as usize;
        // SAFETY: `index + n <= capacity`: the slice lies in the slot region; the slots
        // `[head, head + n)` are free (every consumer's tail is past their previous use) and
        // unpublished, so this producer is their only user until `publish`.
        Some(unsafe { std::slice::from_raw_parts_mut(ring.slots().add(index as usize), n) })
    }

    #[inline(always)]
    pub fn publish(&mut self, n: usize) {
        self.head += n as u64;
        // Release: pairs with the Acquire load of the head in `ScanConsumer::poll`: our slot
        // writes happen-before the consumers read them.
        self.ring.head().store(self.head, Ordering::Release);
    }
}

/// `raw-scan`'s consumer `index`: reads everything published up to the end of the ring, then
/// releases it; waits as `WaitStrategy::Yield` does (64 spins, then a yield per look).
pub struct ScanConsumer<'a> {
    ring: &'a ScanRing,
    index: usize,
    tail: u64,
    head_cache: u64,
}

impl ScanConsumer<'_> {
    #[inline(always)]
    pub fn poll(&mut self) -> &[u64] {
        if self.tail == self.head_cache {
            let head = self.ring.head();
            let mut rounds = 0u32;
            loop {
                // Acquire: pairs with the Release store of the head in `ScanProducer::publish`.
                self.head_cache = head.load(Ordering::Acquire);
                if self.head_cache != self.tail {
                    break;
                }
                rounds += 1;
                if rounds < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        let capacity = self.ring.capacity;
        let index = self.tail & (capacity - 1);
        let n = (self.head_cache - self.tail).min(capacity - index) as usize;
        // SAFETY: `index + n <= capacity`; the slots `[tail, tail + n)` are published (below
        // the head, acquired above) and the producer does not overwrite them before `release`.
        unsafe { std::slice::from_raw_parts(self.ring.slots().add(index as usize), n) }
    }

    #[inline(always)]
    pub fn release(&mut self, n: usize) {
        self.tail += n as u64;
        // Release: pairs with the Acquire loads of the tails in `ScanProducer::try_claim`.
        self.ring.tail(self.index).store(self.tail, Ordering::Release);
    }
}
