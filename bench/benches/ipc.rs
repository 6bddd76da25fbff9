//! `cargo bench --bench ipc [-- scenario...]`: the multi-process benchmarks (see the docs of the
//! `shm-disruptor-bench` crate). Run without `--bench` (`cargo test --benches`), a smoke run.

fn main() {
    shm_disruptor_bench::main();
}
