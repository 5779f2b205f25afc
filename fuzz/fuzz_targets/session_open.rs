//! Fuzz target: an `Mcp-Session-Id` from a client. Only ids this key sealed may open; nothing
//! may panic.
#![no_main]

use custos_gateway::session::Sealer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sealer = Sealer::new(&[7u8; 32]);
    if let Ok(s) = std::str::from_utf8(data) {
        // Random bytes never authenticate under ChaCha20-Poly1305 (2^-128).
        assert!(sealer.open(s).is_none());
    }
});
