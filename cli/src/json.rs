//! A minimal JSON value and pretty printer: the tool's output needs nothing more, so it carries
//! no serialisation dependency.

use std::fmt::{self, Write};

/// A JSON value; object members keep their insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number, already formatted as JSON.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// An object from `(key, value)` pairs.
pub fn object<K: Into<String>>(members: impl IntoIterator<Item = (K, Json)>) -> Json {
    Json::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

impl From<bool> for Json {
    fn from(v: bool) -> Json {
        Json::Bool(v)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Json {
            fn from(v: $t) -> Json {
                Json::Number(v.to_string())
            }
        }
    )*};
}
from_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64);

/// Beyond 64 bits, a string: most JSON readers hold numbers in an `f64` or a 64-bit integer.
impl From<u128> for Json {
    fn from(v: u128) -> Json {
        u64::try_from(v).map_or_else(|_| Json::String(v.to_string()), Json::from)
    }
}

/// Beyond 64 bits, a string (see the `u128` impl).
impl From<i128> for Json {
    fn from(v: i128) -> Json {
        i64::try_from(v).map_or_else(|_| Json::String(v.to_string()), Json::from)
    }
}

/// NaN and the infinities, which JSON cannot write as numbers, are strings (`"NaN"`, `"inf"`).
impl From<f64> for Json {
    fn from(v: f64) -> Json {
        if v.is_finite() {
            Json::Number(format!("{v:?}"))
        } else {
            Json::String(format!("{v:?}"))
        }
    }
}

impl From<&str> for Json {
    fn from(v: &str) -> Json {
        Json::String(v.to_owned())
    }
}

impl From<String> for Json {
    fn from(v: String) -> Json {
        Json::String(v)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Json {
        v.map_or(Json::Null, Into::into)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Json {
        Json::Array(v.into_iter().map(Into::into).collect())
    }
}

fn write_string(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if u32::from(c) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

impl Json {
    fn write(&self, out: &mut impl Write, indent: usize) -> fmt::Result {
        let pad = |out: &mut dyn Write, n: usize| -> fmt::Result {
            (0..n).try_for_each(|_| out.write_str("  "))
        };
        match self {
            Json::Null => out.write_str("null"),
            Json::Bool(b) => write!(out, "{b}"),
            Json::Number(n) => out.write_str(n),
            Json::String(s) => write_string(out, s),
            Json::Array(items) if items.is_empty() => out.write_str("[]"),
            // Arrays of scalars stay on one line: sequences, PIDs, field values.
            Json::Array(items)
                if items.iter().all(|i| !matches!(i, Json::Array(_) | Json::Object(_))) =>
            {
                out.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    item.write(out, indent)?;
                }
                out.write_char(']')
            }
            Json::Array(items) => {
                out.write_str("[\n")?;
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 1)?;
                    item.write(out, indent + 1)?;
                    out.write_str(if i + 1 < items.len() { ",\n" } else { "\n" })?;
                }
                pad(out, indent)?;
                out.write_char(']')
            }
            Json::Object(members) if members.is_empty() => out.write_str("{}"),
            Json::Object(members) => {
                out.write_str("{\n")?;
                for (i, (key, value)) in members.iter().enumerate() {
                    pad(out, indent + 1)?;
                    write_string(out, key)?;
                    out.write_str(": ")?;
                    value.write(out, indent + 1)?;
                    out.write_str(if i + 1 < members.len() { ",\n" } else { "\n" })?;
                }
                pad(out, indent)?;
                out.write_char('}')
            }
        }
    }
}

/// Pretty-printed, two spaces per level.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_escaped_json() {
        let value = object([
            ("name", Json::from("/a\"b\\c\n\u{1}")),
            ("big", Json::from(u128::MAX)),
            ("small", Json::from(-3i128)),
            ("nan", Json::from(f64::NAN)),
            ("half", Json::from(0.5)),
            ("none", Json::from(None::<u32>)),
            ("list", Json::from(vec![1u32, 2])),
            ("nested", Json::Array(vec![object([("a", Json::from(true))])])),
            ("empty", Json::Array(vec![])),
        ]);
        let text = value.to_string();
        assert!(text.contains(r#""name": "/a\"b\\c\n\u0001""#), "{text}");
        assert!(text.contains(r#""big": "340282366920938463463374607431768211455""#), "{text}");
        assert!(text.contains(r#""small": -3"#) && text.contains(r#""nan": "NaN""#), "{text}");
        assert!(text.contains(r#""list": [1, 2]"#) && text.contains(r#""half": 0.5"#), "{text}");
        assert!(text.contains("\"none\": null") && text.contains("\"empty\": []"), "{text}");
    }
}
