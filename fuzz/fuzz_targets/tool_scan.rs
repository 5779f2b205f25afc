//! Fuzz target: what an upstream MCP server says about its tools, and what agents send through
//! the gateway. Reading a manifest, digesting it, diffing it, the poisoning scan and the secret
//! scan must never panic; every span they report lies on character boundaries of its text, and
//! redacted text never contains what a hit covered.
#![no_main]

use custos_core::{
    manifest::{ToolManifest, diff, render},
    scan::{poison::PoisonScanner, secrets::Scanner},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let scanner = Scanner::builtin();
    let hits = scanner.scan(text);
    for h in &hits {
        assert!(h.start <= h.end && text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
    }
    let (redacted, again) = scanner.redact_str(text);
    assert_eq!(again.len(), hits.len());
    if !hits.is_empty() {
        assert_ne!(redacted, text);
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = scanner.redact_json(&v);
        if let Ok(m) = ToolManifest::from_mcp(&v) {
            let _ = m.digest();
            for f in PoisonScanner::builtin().scan_tool(&m, &["send_email"]) {
                assert!(f.start <= f.end);
            }
            let mut other = m.clone();
            other.description = Some(format!("{}\u{e0041}", other.description.clone().unwrap_or_default()));
            let _ = render(&diff(&m, &other));
        }
    }
});
