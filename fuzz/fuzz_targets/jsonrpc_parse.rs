//! Fuzz target: a request body an agent sends the gateway. Parsing must never panic, and a
//! request it accepts has a string or integer id and object-or-absent params.
#![no_main]

use custos_gateway::jsonrpc::{self, Incoming};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Incoming::Request { id, params, .. }) = jsonrpc::parse(data) {
        assert!(id.is_string() || id.is_i64() || id.is_u64());
        assert!(params.is_null() || params.is_object());
    }
});
