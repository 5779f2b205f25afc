//! Canonical round trips of arbitrary JSON: serialize → parse → serialize gives the same bytes,
//! `parse_canonical` accepts them, and every number survives as the same IEEE 754 double.
//!
//! RFC 8785 treats every JSON number as a double (§3.2.2.3), and the canonicalizer writes
//! integers through `f64` too: an `i64` or `u64` beyond ±2^53 comes out rounded (see
//! `integers_are_written_as_doubles`). The generator keeps the full integer ranges on purpose;
//! the properties hold for them because they compare doubles, not integers.

use custos_core::canonical::{parse_canonical, to_string, to_vec};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn json_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => (0u32..0x20).prop_filter_map("a control character", char::from_u32),
        2 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', '\u{80}', '\u{2028}', '\u{feff}', '\u{fffd}', 'é', '€', 'a', 'Z']),
        // Characters outside the BMP: two UTF-16 code units, which is what key sorting compares.
        2 => (0x1_0000u32..=0x10_ffff).prop_filter_map("a scalar value", char::from_u32),
        1 => (0xe000u32..=0xffff).prop_filter_map("a scalar value", char::from_u32),
    ]
}

fn json_string() -> impl Strategy<Value = String> {
    prop::collection::vec(json_char(), 0..10).prop_map(|cs| cs.into_iter().collect())
}

fn json_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        (prop::num::f64::SUBNORMAL | prop::num::f64::NEGATIVE | prop::num::f64::ZERO)
            .prop_filter_map("finite", Number::from_f64),
        (-1e25f64..1e25).prop_filter_map("finite", Number::from_f64),
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(Number::from),
        (-1000i64..1000).prop_map(Number::from),
    ]
}

/// JSON values up to four levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number().prop_map(Value::Number),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_string(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `v` with every number replaced by its double (and -0 by 0), which is what canonical JSON
/// promises to preserve.
fn as_doubles(v: &Value) -> Value {
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            Value::from(if x == 0.0 { 0.0 } else { x })
        }
        Value::Array(a) => Value::Array(a.iter().map(as_doubles).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), as_doubles(v))).collect()),
        other => other.clone(),
    }
}

/// The member names of every object in `bytes`, in the order they were written.
fn keys_in_order(v: &[u8]) -> Vec<Vec<String>> {
    // serde_json's `Map` is sorted by UTF-8, so walk the text with a streaming visitor instead.
    struct Keys(Vec<Vec<String>>);
    impl<'de> serde::de::Visitor<'de> for &mut Keys {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("json")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(&mut *self)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                keys.push(k);
                map.next_value_seed(&mut *self)?;
            }
            self.0.push(keys);
            Ok(())
        }
    }
    impl<'de> serde::de::DeserializeSeed<'de> for &mut Keys {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    let mut keys = Keys(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(v);
    serde::de::DeserializeSeed::deserialize(&mut keys, &mut de).unwrap();
    keys.0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8192))]

    #[test]
    fn canonical_json_round_trips(v in json_value()) {
        let first = to_vec(&v).unwrap();
        let parsed: Value = serde_json::from_slice(&first).unwrap();
        let second = to_vec(&parsed).unwrap();
        prop_assert_eq!(&first, &second, "{}", String::from_utf8_lossy(&first));
        prop_assert_eq!(parse_canonical(&first).unwrap(), parsed.clone());
        prop_assert_eq!(as_doubles(&parsed), as_doubles(&v));
        prop_assert_eq!(to_string(&v).unwrap().into_bytes(), first.clone());
        // No insignificant whitespace: a space or newline outside a string does not appear.
        let text = String::from_utf8(first.clone()).unwrap();
        prop_assert!(!text.contains('\n'));
        // Members are sorted by UTF-16 code units, in every object.
        for keys in keys_in_order(&first) {
            let utf16: Vec<Vec<u16>> = keys.iter().map(|k| k.encode_utf16().collect()).collect();
            prop_assert!(utf16.is_sorted(), "{:?}", keys);
        }
    }

    #[test]
    fn parse_canonical_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_canonical(&bytes);
    }

    #[test]
    fn parse_canonical_never_panics_on_json_like_text(s in r#"[\[\]{}",:0-9eE.+\- a-z\\u]{0,40}"#) {
        if let Ok(v) = parse_canonical(s.as_bytes()) {
            prop_assert_eq!(to_vec(&v).unwrap(), s.into_bytes());
        }
    }
}

/// Integers are written as the double they round to (RFC 8785 §3.2.2.3 and Appendix B note 1:
/// only ±(2^53 - 1) are safe), so a larger integer is not preserved: canonical JSON of
/// 2^53 + 1 is `9007199254740992`, and the exact text is refused as not canonical.
#[test]
fn integers_are_written_as_doubles() {
    let cases: &[(Value, &str)] = &[
        (Value::from(9_007_199_254_740_991u64), "9007199254740991"),
        (Value::from(9_007_199_254_740_993u64), "9007199254740992"),
        (Value::from(u64::MAX), "18446744073709552000"),
        (Value::from(i64::MIN), "-9223372036854776000"),
        (Value::from(1.0), "1"),
        (Value::from(-0.0), "0"),
        (Value::from(1e21), "1e+21"),
    ];
    for (v, text) in cases {
        assert_eq!(to_string(v).unwrap(), *text, "{v}");
        assert!(parse_canonical(text.as_bytes()).is_ok());
    }
    assert!(parse_canonical(b"9007199254740993").is_err());
    assert!(parse_canonical(b"18446744073709551615").is_err());
}
