//! Parse stage: a view of the `syn` input that borrows its nodes, so later stages can point
//! their errors at the user's own tokens. Parsing never fails; what cannot be understood is
//! kept (as an error, or as a `Repr::Other`) for `valid.rs` to report with everything else.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Generics, Ident, LitInt, LitStr, Member, Type};

/// The item that `#[derive(Slot)]` was applied to.
pub(crate) struct Input<'a> {
    pub ident: &'a Ident,
    pub generics: &'a Generics,
    pub body: Body<'a>,
    pub attrs: Attrs<'a>,
    /// `#[slot]` attributes found on fields, which are not supported.
    pub field_slot_attrs: Vec<&'a Attribute>,
}

/// What kind of item it is.
pub(crate) enum Body<'a> {
    Struct(Vec<Field<'a>>),
    /// The `enum` keyword's span.
    Enum(Span),
    /// The `union` keyword's span.
    Union(Span),
}

/// One field of a struct.
pub(crate) struct Field<'a> {
    pub original: &'a syn::Field,
    /// `price` for named fields, `0`, `1`, ... for tuple fields.
    pub member: Member,
    pub ty: &'a Type,
}

/// The container attributes the derive reads.
pub(crate) struct Attrs<'a> {
    /// Every item of every `#[repr(...)]`, in order.
    pub repr: Vec<Repr>,
    /// The `#[repr]` attributes themselves, for spans.
    pub repr_attrs: Vec<&'a Attribute>,
    /// `#[slot(name = "...")]`, every occurrence (more than one is an error).
    pub names: Vec<LitStr>,
    /// Errors met while reading `#[repr]` and `#[slot]`.
    pub errors: Vec<syn::Error>,
}

/// One item of a `#[repr(...)]` list.
pub(crate) enum Repr {
    C(Span),
    Transparent(Span),
    /// `align(N)`, allowed with `C`.
    Align,
    Packed(Span),
    /// `Rust`, `u8`, `simd`, ...: any other representation, with its name.
    Other(Span, String),
}

impl<'a> Input<'a> {
    pub fn from_syn(node: &'a DeriveInput) -> Self {
        let body = match &node.data {
            Data::Struct(data) => Body::Struct(
                data.fields
                    .iter()
                    .enumerate()
                    .map(|(index, field)| Field::from_syn(index, field))
                    .collect(),
            ),
            Data::Enum(data) => Body::Enum(data.enum_token.span),
            Data::Union(data) => Body::Union(data.union_token.span),
        };
        let field_slot_attrs = match &node.data {
            Data::Struct(data) => data
                .fields
                .iter()
                .flat_map(|field| &field.attrs)
                .filter(|attr| attr.path().is_ident("slot"))
                .collect(),
            Data::Enum(_) | Data::Union(_) => Vec::new(),
        };
        Input {
            ident: &node.ident,
            generics: &node.generics,
            body,
            attrs: Attrs::from_syn(&node.attrs),
            field_slot_attrs,
        }
    }
}

impl<'a> Field<'a> {
    fn from_syn(index: usize, node: &'a syn::Field) -> Self {
        let member = match &node.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(syn::Index { index: index as u32, span: node.ty.span() }),
        };
        Field { original: node, member, ty: &node.ty }
    }

    /// The name recorded in the schema: the identifier, or the index of a tuple field.
    pub fn name(&self) -> String {
        match &self.member {
            Member::Named(ident) => ident.unraw().to_string(),
            Member::Unnamed(index) => index.index.to_string(),
        }
    }

    /// Where to point an error about the field as a whole: its name, or its type for a
    /// tuple field.
    pub fn name_span(&self) -> Span {
        match &self.original.ident {
            Some(ident) => ident.span(),
            None => self.ty.span(),
        }
    }
}

impl<'a> Attrs<'a> {
    fn from_syn(attrs: &'a [Attribute]) -> Self {
        let mut out = Attrs {
            repr: Vec::new(),
            repr_attrs: Vec::new(),
            names: Vec::new(),
            errors: Vec::new(),
        };
        for attr in attrs {
            if attr.path().is_ident("repr") {
                out.repr_attrs.push(attr);
                if let Err(error) = parse_repr(attr, &mut out.repr) {
                    out.errors.push(error);
                }
            } else if attr.path().is_ident("slot") {
                if let Err(error) = parse_slot(attr, &mut out.names) {
                    out.errors.push(error);
                }
            }
        }
        out
    }
}

fn parse_repr(attr: &Attribute, repr: &mut Vec<Repr>) -> syn::Result<()> {
    attr.parse_nested_meta(|meta| {
        let span = meta.path.span();
        let item = if meta.path.is_ident("C") {
            Repr::C(span)
        } else if meta.path.is_ident("transparent") {
            Repr::Transparent(span)
        } else if meta.path.is_ident("align") {
            let content;
            syn::parenthesized!(content in meta.input);
            content.parse::<LitInt>()?;
            Repr::Align
        } else if meta.path.is_ident("packed") {
            if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                content.parse::<LitInt>()?;
            }
            Repr::Packed(span)
        } else {
            let name = meta.path.get_ident().map_or_else(
                || quote::ToTokens::to_token_stream(&meta.path).to_string(),
                Ident::to_string,
            );
            if meta.input.peek(syn::token::Paren) {
                let _arguments: proc_macro2::TokenTree = meta.input.parse()?;
            }
            Repr::Other(span, name)
        };
        repr.push(item);
        Ok(())
    })
}

fn parse_slot(attr: &Attribute, names: &mut Vec<LitStr>) -> syn::Result<()> {
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            names.push(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error("unknown `slot` attribute: the only one is `#[slot(name = \"...\")]`"))
        }
    })
}
