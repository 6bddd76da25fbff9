//! Compile-fail (and compile-pass) tests of `#[derive(Slot)]`, and (`ui/borrow/`) of the borrow
//! rules that keep safe code from holding two `&mut` to a slot, or a `&T` to a slot being
//! written, and (`ui/must_use/`) of the warnings for claims and batches dropped unused.
//! Regenerate the `.stderr` files
//! with `TRYBUILD=overwrite cargo test -p shm-disruptor-tests --test ui`, then read every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
    t.compile_fail("ui/borrow/*.rs");
    t.compile_fail("ui/must_use/*.rs");
    t.pass("ui/pass/*.rs");
}
