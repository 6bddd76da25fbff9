use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
union Price {
    ticks: u64,
    value: f64,
}

fn main() {}
