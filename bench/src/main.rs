//! `cargo run --release -p shm-disruptor-bench -- --bench [scenario...]`: the same as
//! `cargo bench --bench ipc` (see the crate docs); without `--bench`, a smoke run.

fn main() {
    shm_disruptor_bench::main();
}
