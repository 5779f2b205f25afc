//! JSON-RPC parsing and session sealing.

use custos_gateway::{
    jsonrpc::{self, Incoming},
    session::{Sealer, SessionState},
};
use serde_json::json;

#[test]
fn jsonrpc_shapes() {
    let ok = jsonrpc::parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
    assert_eq!(ok, Incoming::Request { id: json!(1), method: "tools/list".into(), params: json!(null) });
    let n = jsonrpc::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
    assert!(matches!(n, Incoming::Notification { .. }));
    let r = jsonrpc::parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
    assert!(matches!(r, Incoming::Response { .. }));
    for (body, code) in [
        (&b"{"[..], jsonrpc::PARSE_ERROR),
        (br#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#, jsonrpc::INVALID_REQUEST),
        (br#"{"id":1,"method":"x"}"#, jsonrpc::INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#, jsonrpc::INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, jsonrpc::INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":1,"method":7}"#, jsonrpc::INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#, jsonrpc::INVALID_REQUEST),
        (br#"{"jsonrpc":"2.0","id":1}"#, jsonrpc::INVALID_REQUEST),
        (br#""hello""#, jsonrpc::INVALID_REQUEST),
    ] {
        let (got, msg) = jsonrpc::parse(body).unwrap_err();
        assert_eq!(got, code, "{}: {msg}", String::from_utf8_lossy(body));
    }
}

#[test]
fn sessions_are_sealed() {
    let a = Sealer::new(&[1u8; 32]);
    let state =
        SessionState { a: "t/bot".into(), c: "cred_1".into(), v: "2025-11-25".into(), s: None, t: 5, r: "x".into() };
    let id = a.seal(&state).unwrap();
    assert!(id.starts_with("cs1.") && id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert!(!id.contains("t/bot"), "the state is encrypted");
    assert_eq!(a.open(&id), Some(state.clone()));
    // Another key (another installation), a flipped byte, garbage: refused.
    assert_eq!(Sealer::new(&[2u8; 32]).open(&id), None);
    let mut bytes = id.clone().into_bytes();
    let last = bytes.len() - 1;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(a.open(&String::from_utf8(bytes).unwrap()), None);
    assert_eq!(a.open("cs1.AAAA"), None);
    assert_eq!(a.open("nope"), None);
    // Two sessions never share an id.
    assert_ne!(a.seal(&state).unwrap(), id);
}
