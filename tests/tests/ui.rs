//! Compile-fail (and compile-pass) tests of `#[derive(Slot)]`. Regenerate the `.stderr` files
//! with `TRYBUILD=overwrite cargo test -p shm-disruptor-tests --test ui`, then read every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
    t.pass("ui/pass/*.rs");
}
