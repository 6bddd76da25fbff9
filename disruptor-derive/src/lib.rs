//! `#[derive(Slot)]` for `shm-disruptor`: see the `Slot` trait there for the rules it checks.
//!
//! Three stages, one per file: `ast` borrows the `syn` input, `valid` reports every rule
//! broken on the syntax alone, and `expand` emits the impls with the trait bounds and const
//! asserts that check the rest (field types, padding, size) where types are known.

mod ast;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `Slot` (with `bytemuck::Zeroable` and `bytemuck::Pod`) for a `#[repr(C)]` or
/// `#[repr(transparent)]` struct whose fields are all `Slot` and which has no padding.
///
/// The schema name is the struct's identifier, or `#[slot(name = "...")]`.
#[proc_macro_derive(Slot, attributes(slot))]
pub fn derive_slot(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}
