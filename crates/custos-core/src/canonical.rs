//! The one canonical serialization: RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Every ledger entry is the JCS form of an event, so the same event always hashes to the same
//! leaf, whoever serializes it. Nothing else in custos turns an event into bytes.
//!
//! [`write_value`] is a direct JCS writer for `serde_json::Value`; events are written through
//! it because it is several times faster than going through a generic serializer, and every
//! append pays for it. It is tested to be byte-identical to `serde_json_canonicalizer`, which
//! [`to_vec`] uses for any other serializable type.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::CoreError;

/// Serializes `value` in RFC 8785 canonical form.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CoreError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| CoreError::Canonical(e.to_string()))
}

/// Serializes `value` in RFC 8785 canonical form, as a string.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, CoreError> {
    serde_json_canonicalizer::to_string(value).map_err(|e| CoreError::Canonical(e.to_string()))
}

/// Parses `bytes` as JSON and checks they are already canonical: re-serializing must give the
/// same bytes. Used on entries read back from storage or from another party.
pub fn parse_canonical(bytes: &[u8]) -> Result<Value, CoreError> {
    let value: Value = serde_json::from_slice(bytes)?;
    let mut out = Vec::with_capacity(bytes.len());
    write_value(&value, &mut out)?;
    if out != bytes {
        return Err(CoreError::NotCanonical);
    }
    Ok(value)
}

/// Appends the JCS form of `value` to `out`. Integers beyond ±2^53 are written as the double
/// they round to, as RFC 8785 prescribes.
pub fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CoreError> {
    write(value, out, Integers::Round)
}

/// Appends the JCS form of an object whose integers must all be exact: an integer beyond ±2^53
/// is refused instead of rounded (RFC 8785 Appendix D: send such numbers as strings). Event
/// data is written this way, so an entry never records a number other than the one given.
pub fn write_object_exact(map: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), CoreError> {
    write_object(map, out, Integers::Refuse)
}

/// What to do with an integer that has no exact double.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Integers {
    Round,
    Refuse,
}

fn write(value: &Value, out: &mut Vec<u8>, ints: Integers) -> Result<(), CoreError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out, ints)?,
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out, ints)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out, ints)?,
    }
    Ok(())
}

/// Appends the JCS form of an object: members sorted by the UTF-16 code units of their names.
fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>, ints: Integers) -> Result<(), CoreError> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // Always sort: `serde_json::Map` iterates in insertion order when any crate in the build
    // enables serde_json's `preserve_order` (cedar-policy does), so map order proves nothing.
    // Byte order equals UTF-16 order unless a name has a character at or above U+E000
    // (surrogate pairs sort below U+E000..U+FFFF in UTF-16).
    if members.iter().any(|(k, _)| k.chars().any(|c| c >= '\u{E000}')) {
        members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    } else {
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    out.push(b'{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write(v, out, ints)?;
    }
    out.push(b'}');
    Ok(())
}

/// Numbers are IEEE 754 doubles written as ECMAScript's `Number.prototype.toString` does.
fn write_number(n: &serde_json::Number, out: &mut Vec<u8>, ints: Integers) -> Result<(), CoreError> {
    const SAFE: u64 = 1 << 53;
    let beyond = |shown: String| {
        CoreError::Canonical(format!(
            "integer `{shown}` is beyond ±2^53, where JSON numbers lose precision; send it as a string"
        ))
    };
    if let Some(u) = n.as_u64() {
        if u <= SAFE {
            out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
            return Ok(());
        }
        if ints == Integers::Refuse {
            return Err(beyond(u.to_string()));
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= SAFE {
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            return Ok(());
        }
        if ints == Integers::Refuse {
            return Err(beyond(i.to_string()));
        }
    }
    let f = n.as_f64().ok_or_else(|| CoreError::Canonical(format!("number `{n}` is not representable")))?;
    if !f.is_finite() {
        return Err(CoreError::Canonical(format!("number `{n}` is not finite")));
    }
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    Ok(())
}

/// Appends a JSON string: `"` and `\` escaped, control characters as `\b \t \n \f \r` or
/// `\u00xx` (lowercase hex), everything else as UTF-8.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            let hex = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
            out.extend_from_slice(b"\\u00");
            out.push(hex(b >> 4));
            out.push(hex(b & 0xF));
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fast(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(v, &mut out).unwrap();
        out
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x7f\u{e000}-\u{e0ff}\u{10000}-\u{10100}]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![any::<String>(), "[a-z\u{e000}-\u{e010}\u{10000}-\u{10010}]{0,4}".prop_map(|s| s)],
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The fast writer is byte-identical to the reference canonicalizer.
        #[test]
        fn fast_writer_matches_the_reference(v in arb_value()) {
            let reference = serde_json_canonicalizer::to_vec(&v).unwrap();
            let ours = fast(&v);
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&reference));
        }
    }

    #[test]
    fn edge_numbers_match_the_reference() {
        for v in [0.0, -0.0, 5e-324, 1e21, 1e-7, 9007199254740993.0, 1.7976931348623157e308, -1e-6] {
            let v = Value::from(v);
            assert_eq!(fast(&v), serde_json_canonicalizer::to_vec(&v).unwrap(), "{v}");
        }
        for v in [1u64 << 53, (1 << 53) + 1, 1 << 60, u64::MAX] {
            let v = Value::from(v);
            assert_eq!(fast(&v), serde_json_canonicalizer::to_vec(&v).unwrap(), "{v}");
        }
        for v in [-(1i64 << 53), i64::MIN, i64::MAX] {
            let v = Value::from(v);
            assert_eq!(fast(&v), serde_json_canonicalizer::to_vec(&v).unwrap(), "{v}");
        }
    }

    #[test]
    fn exact_mode_refuses_integers_that_would_be_rounded() {
        let ok: Map<String, Value> =
            serde_json::from_str(r#"{"a":9007199254740992,"b":-9007199254740992,"c":1e300}"#).unwrap();
        assert!(write_object_exact(&ok, &mut Vec::new()).is_ok());
        for bad in [r#"{"a":9007199254740993}"#, r#"{"a":[{"b":-9007199254740993}]}"#, r#"{"a":18446744073709551615}"#]
        {
            let m: Map<String, Value> = serde_json::from_str(bad).unwrap();
            let e = write_object_exact(&m, &mut Vec::new()).unwrap_err();
            assert!(e.to_string().contains("send it as a string"), "{e}");
        }
    }
}
