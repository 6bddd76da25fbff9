//! Validate stage: every rule the derive can check on the syntax alone. All violations of one
//! struct are collected and returned together (joined with `syn::Error::combine`), each spanned at
//! the token that breaks the rule. What needs types (is a field `Slot`? is there padding?) is left
//! to trait bounds and const asserts in the expansion, where aliases and paths are resolved.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::{Ident, LitStr};

use crate::ast::{Body, Field, Input, Repr};

/// An input that passed validation: a non-generic `#[repr(C)]`/`#[repr(transparent)]` struct with
/// at least one field.
pub(crate) struct Valid<'a> {
    pub ident: &'a Ident,
    /// The name recorded in the schema.
    pub name: String,
    /// Its span: the `#[slot(name = "...")]` literal, or the struct's identifier.
    pub name_span: Span,
    pub fields: &'a [Field<'a>],
}

/// Errors collected so far, serde `Ctxt` style.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn error(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(errors) => Err(errors),
            None => Ok(value),
        }
    }
}

impl<'a> Input<'a> {
    pub fn validate(&'a self) -> syn::Result<Valid<'a>> {
        let mut errors = Errors::default();

        let fields: &[Field] = match &self.body {
            Body::Struct(fields) => fields,
            Body::Enum(span) => {
                errors.error(
                    *span,
                    "`#[derive(Slot)]` does not support enums: another process can write a \
                     discriminant that names no variant; use a struct with an integer tag field",
                );
                &[]
            }
            Body::Union(span) => {
                errors.error(
                    *span,
                    "`#[derive(Slot)]` does not support unions: use a struct, or a byte array \
                     field that each reader decodes",
                );
                &[]
            }
        };

        // In source order: `#[repr]` and `#[slot]` come before the generics, then the fields.
        // An enum or a union has been refused above; its `repr` does not matter.
        let transparent = match self.body {
            Body::Struct(_) => check_repr(self, &mut errors),
            Body::Enum(_) | Body::Union(_) => None,
        };
        let (name, name_span) = check_name(self, &mut errors);
        check_generics(self, &mut errors);

        for attr in &self.field_slot_attrs {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[slot(...)]` is not supported on fields; the only `slot` attribute is \
                 `#[slot(name = \"...\")]` on the struct",
            ));
        }

        if let Body::Struct(_) = self.body {
            if fields.is_empty() {
                errors.error(
                    self.ident.span(),
                    "a `Slot` struct needs at least one field: a zero-sized type cannot be \
                     stored in a slot",
                );
            } else if transparent.is_some() && fields.len() > 1 {
                errors.error(
                    fields[1].name_span(),
                    "a `#[repr(transparent)]` `Slot` struct must have exactly one field: the \
                     others would be zero-sized, and zero-sized types are not `Slot`",
                );
            }
        }

        errors.finish(Valid { ident: self.ident, name, name_span, fields })
    }
}

fn check_generics(input: &Input, errors: &mut Errors) {
    let generics = input.generics;
    if !generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &generics.params,
            "`#[derive(Slot)]` does not support generic parameters: a slot's layout and schema \
             hash must be fixed where the struct is defined; declare a concrete struct instead",
        ));
    }
    if let Some(where_clause) = &generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "`#[derive(Slot)]` does not support `where` clauses",
        ));
    }
}

/// Requires `C` or `transparent`, allows `align(N)`, refuses everything else. Returns the span
/// of `transparent`, if present.
fn check_repr(input: &Input, errors: &mut Errors) -> Option<Span> {
    let attrs = &input.attrs;
    let mut c = None;
    let mut transparent = None;
    let mut refused = false;
    for repr in &attrs.repr {
        match repr {
            Repr::C(span) => c = Some(*span),
            Repr::Transparent(span) => transparent = Some(*span),
            Repr::Align => {}
            Repr::Packed(span) => {
                refused = true;
                errors.error(
                    *span,
                    "`#[derive(Slot)]` does not support `#[repr(packed)]`: packed fields can be \
                     misaligned; use `#[repr(C)]` and add explicit `_pad: [u8; N]` fields",
                );
            }
            Repr::Other(span, name) => {
                refused = true;
                errors.error(
                    *span,
                    format_args!(
                        "`#[derive(Slot)]` does not support `#[repr({name})]`: use `#[repr(C)]` \
                         (or `#[repr(transparent)]`), whose layout every process agrees on"
                    ),
                );
            }
        }
    }
    if c.is_none() && transparent.is_none() && !refused {
        let message =
            "`#[derive(Slot)]` requires `#[repr(C)]` or `#[repr(transparent)]`: the default Rust \
             layout may reorder fields and can change between compilations, so two processes \
             could disagree on it";
        match attrs.repr_attrs.first() {
            Some(attr) => errors.push(syn::Error::new_spanned(attr, message)),
            None => errors.error(input.ident.span(), message),
        }
    }
    transparent
}

/// The schema name: `#[slot(name = "...")]` or the identifier.
fn check_name(input: &Input, errors: &mut Errors) -> (String, Span) {
    // Malformed `#[repr]` or `#[slot]` contents.
    for error in &input.attrs.errors {
        errors.push(error.clone());
    }
    let names: &[LitStr] = &input.attrs.names;
    let name = match names.first() {
        Some(name) => {
            let value = name.value();
            if value.is_empty() {
                errors.error(name.span(), "the schema name must not be empty");
            }
            (value, name.span())
        }
        None => {
            let ident = input.ident.unraw().to_string();
            (ident, input.ident.span())
        }
    };
    for duplicate in names.iter().skip(1) {
        errors.error(duplicate.span(), "duplicate `#[slot(name = \"...\")]`");
    }
    name
}
