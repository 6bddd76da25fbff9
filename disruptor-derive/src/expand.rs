//! Expand stage: turns a validated struct into the `Zeroable`, `Pod` and `Slot` impls plus the
//! const checks that make them sound. Generating code cannot fail; everything that can go wrong
//! was reported by `valid.rs`, or is reported by the compiler through the bounds emitted here.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident};

use crate::ast::Input;
use crate::valid::Valid;

/// The whole derive: parse, validate, expand.
pub fn derive(node: &DeriveInput) -> syn::Result<TokenStream> {
    let input = Input::from_syn(node);
    let valid = input.validate()?;
    Ok(expand(&valid))
}

fn expand(input: &Valid) -> TokenStream {
    let ident = input.ident;
    let private = quote!(::shm_disruptor::__private);
    let name = syn::LitStr::new(&input.name, input.name_span);

    // `assert_field_is_slot::<T>()`, spanned at the field's type so that a `T: Slot` failure lands
    // there. Every use of a field's type that needs it to be `Slot` goes through this same call, so
    // a field that is not `Slot` gives identical diagnostics, which rustc reports once.
    let is_slot: Vec<TokenStream> = input
        .fields
        .iter()
        .map(|field| {
            let ty = field.ty;
            quote_spanned! {ty.span()=>
                #private::assert_field_is_slot::<
                    #ty,
                    { #private::core::mem::size_of::<#ty>() == 0 },
                >()
            }
        })
        .collect();

    let schema_fields = input.fields.iter().zip(&is_slot).map(|(field, is_slot)| {
        let name = field.name();
        let member = &field.member;
        let ty = field.ty;
        quote_spanned! {ty.span()=>
            #private::Field {
                name: #name,
                schema: #is_slot,
                offset: #private::core::mem::offset_of!(#ident, #member),
                size: #private::core::mem::size_of::<#ty>(),
            }
        }
    });

    // The explicit per-field check: every field is `Slot`, hence `Pod`, `Send`, `Sync` and
    // `'static`, without padding inside it, and valid for every bit pattern. Reading the hash
    // evaluates the field's schema here, so that one that fails to evaluate (`[T; 0]` is
    // zero-sized) is reported at the field.
    let field_checks = input.fields.iter().zip(&is_slot).map(|(field, is_slot)| {
        quote_spanned! {field.ty.span()=>
            const _: u64 = #is_slot.hash;
        }
    });

    // With `#[repr(C)]`, declaration order is memory order (and `#[repr(transparent)]` has one
    // field), so the padding is exactly the gap after each field: before the next one, or up to
    // the end of the struct for the last one. Each gap is computed in const context from the real
    // offsets and sizes and must be zero. A gap after a field that is not `Slot` is not computed
    // (its anonymous const fails on the `Slot` bound instead), so it adds no padding error.
    let padding_checks =
        input.fields.iter().zip(&is_slot).enumerate().map(|(index, (field, is_slot))| {
            let member = &field.member;
            let ty = field.ty;
            match input.fields.get(index + 1) {
                Some(next) => {
                    let span = next.name_span();
                    let next_member = &next.member;
                    let struct_ident = respanned(ident, span);
                    quote_spanned! {span=>
                        const _: () = #private::assert_no_padding_before::<
                            #struct_ident,
                            {
                                let _ = #is_slot;
                                #private::core::mem::offset_of!(#ident, #next_member)
                                    - (#private::core::mem::offset_of!(#ident, #member)
                                        + #private::core::mem::size_of::<#ty>())
                            },
                        >();
                    }
                }
                None => {
                    let span = field.name_span();
                    let struct_ident = respanned(ident, span);
                    quote_spanned! {span=>
                        const _: () = #private::assert_no_trailing_padding::<
                            #struct_ident,
                            {
                                let _ = #is_slot;
                                #private::core::mem::size_of::<#ident>()
                                    - (#private::core::mem::offset_of!(#ident, #member)
                                        + #private::core::mem::size_of::<#ty>())
                            },
                        >();
                    }
                }
            }
        });

    quote! {
        const _: () = {
            // SAFETY: every field is `Slot` (`field_checks`), hence `Zeroable`; the struct is
            // `#[repr(C)]` or `#[repr(transparent)]` (checked by the derive) and has no padding
            // (`padding_checks`), so all-zero bytes are a valid value.
            #[automatically_derived]
            unsafe impl #private::bytemuck::Zeroable for #ident {}

            // SAFETY: every field is `Slot`, hence `Pod`; with the layout and padding checks
            // above, every bit pattern of the struct is valid and every byte is initialised. It
            // has no generic parameters, and `Pod` itself requires `Copy + 'static`.
            #[automatically_derived]
            unsafe impl #private::bytemuck::Pod for #ident {}

            const DERIVED_SCHEMA: #private::Schema = #private::Schema::structure(
                #name,
                #private::core::mem::size_of::<#ident>(),
                #private::core::mem::align_of::<#ident>(),
                &[#(#schema_fields),*],
            );

            // SAFETY: `Pod` as above; `Send + Sync` follow from the fields, which are `Slot`; the
            // size is non-zero (no field is zero-sized, and `Schema::structure` asserts it when
            // `DERIVED_SCHEMA` is evaluated below); the schema is built from the real size,
            // alignment, field offsets and field sizes.
            #[automatically_derived]
            unsafe impl #private::Slot for #ident {
                const SCHEMA: #private::Schema = DERIVED_SCHEMA;
            }

            #(#field_checks)*

            #(#padding_checks)*

            // Evaluates the schema at compile time, so its asserts cannot be skipped.
            const _: u64 = DERIVED_SCHEMA.hash;
        };
    }
}

/// `ident` with another span, so that a bound on the struct type is reported at that span.
fn respanned(ident: &Ident, span: Span) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(span);
    ident
}
