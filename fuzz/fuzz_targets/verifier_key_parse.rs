//! Fuzz target: verifier keys and signing keys as a user pastes them. Parsing must never
//! panic, and an accepted verifier key must encode back to the same text.
#![no_main]

use custos_ledger::{NoteSigner, NoteVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(v) = NoteVerifier::from_encoded(text) {
        assert_eq!(NoteVerifier::from_encoded(&v.encode()).ok(), Some(v));
    }
    let _ = NoteSigner::from_encoded(text);
});
