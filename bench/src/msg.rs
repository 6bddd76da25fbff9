//! The messages of the scenarios, and the consumers' checks of them.

use shm_disruptor::Slot;

/// A benchmark message: `make(producer, seq)` is what producer `producer` writes as its message
/// number `seq`; consumers check every message against it.
pub trait Msg: Slot + PartialEq + std::fmt::Debug {
    /// The `kind=` argument naming this type to a child.
    const KIND: &'static str;
    fn make(producer: u64, seq: u64) -> Self;
    /// The producer tag of a message made by `make`.
    fn producer(&self) -> usize;
}

impl Msg for u32 {
    const KIND: &'static str = "u32";
    #[inline(always)]
    fn make(producer: u64, seq: u64) -> u32 {
        ((producer as u32) << 28) | (seq as u32 & 0x0fff_ffff)
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        (*self >> 28) as usize
    }
}

impl Msg for u64 {
    const KIND: &'static str = "u64";
    #[inline(always)]
    fn make(producer: u64, seq: u64) -> u64 {
        (producer << 56) | (seq & ((1 << 56) - 1))
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        (*self >> 56) as usize
    }
}

/// The byte of `stream` (only the raw ring's claim and poll use it as a `Msg`).
impl Msg for u8 {
    const KIND: &'static str = "u8";
    #[inline(always)]
    fn make(_producer: u64, seq: u64) -> u8 {
        seq as u8
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        0
    }
}

/// The 64-byte message of `spsc-64B`.
pub type Msg64 = [u64; 8];

impl Msg for Msg64 {
    const KIND: &'static str = "64B";
    #[inline(always)]
    fn make(producer: u64, seq: u64) -> Msg64 {
        [u64::make(producer, seq); 8]
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        self[0].producer()
    }
}

/// The 32-byte message of `bridge`.
pub type Msg32 = [u64; 4];

impl Msg for Msg32 {
    const KIND: &'static str = "32B";
    #[inline(always)]
    fn make(producer: u64, seq: u64) -> Msg32 {
        [u64::make(producer, seq); 4]
    }
    #[inline(always)]
    fn producer(&self) -> usize {
        self[0].producer()
    }
}

/// Writes consecutive messages of `producer` into `slots`, starting at `*seq`.
#[inline(always)]
pub fn fill<M: Msg>(slots: &mut [M], producer: u64, seq: &mut u64) {
    let start = *seq;
    for (i, slot) in slots.iter_mut().enumerate() {
        *slot = M::make(producer, start + i as u64);
    }
    *seq += slots.len() as u64;
}

/// Checks that `msgs` are producer 0's messages `*expected..`, in order; advances `*expected`.
/// Branch-free over the slice so that the check does not limit the ring's throughput.
#[inline(always)]
pub fn check_in_order<M: Msg>(msgs: &[M], expected: &mut u64) -> Result<(), String> {
    let start = *expected;
    let mut ok = true;
    for (i, m) in msgs.iter().enumerate() {
        ok &= *m == M::make(0, start + i as u64);
    }
    if !ok {
        let (i, m) =
            msgs.iter().enumerate().find(|(i, m)| **m != M::make(0, start + *i as u64)).unwrap();
        return Err(format!(
            "message {} is {m:?}, expected {:?}",
            start + i as u64,
            M::make(0, start + i as u64)
        ));
    }
    *expected += msgs.len() as u64;
    Ok(())
}

/// Checks that each of `msgs` is the next message of the producer it names.
#[inline(always)]
pub fn check_tagged<M: Msg>(msgs: &[M], next: &mut [u64]) -> Result<(), String> {
    for m in msgs {
        let p = m.producer();
        let ok = next.get(p).is_some_and(|&seq| *m == M::make(p as u64, seq));
        if !ok {
            return Err(format!("unexpected message {m:?} (next per producer: {next:?})"));
        }
        next[p] += 1;
    }
    Ok(())
}
