use shm_disruptor::Slot;

#[derive(Slot, Clone, Copy)]
#[repr(C)]
struct Quote(f64, u32, u32);

fn main() {
    let names: Vec<_> = Quote::SCHEMA.fields().iter().map(|field| field.name).collect();
    assert_eq!(names, ["0", "1", "2"]);
    assert_eq!(
        Quote::SCHEMA.to_string(),
        "Quote { 0: f64 @0, 1: u32 @8, 2: u32 @12 } size 16 align 8"
    );
}
