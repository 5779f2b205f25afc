//! Fuzz target: tool-call arguments (and an input schema) from outside, turned into Cedar's
//! `context.input`, and path normalization. Nothing may panic; a normalized absolute path has
//! no `.` or `..` segment left.
#![no_main]

use custos_policy::{Engine, Principal, ToolManifest, normalize_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let n = normalize_path(s);
        if s.starts_with('/') && (s.contains("/..") || s.contains("/./")) {
            assert!(n.split('/').all(|seg| seg != ".." && seg != "."), "{s} -> {n}");
        }
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let schema = v.get("schema").cloned().unwrap_or(serde_json::json!({"type": "object"}));
    let args = v.get("args").cloned().unwrap_or(serde_json::Value::Null);
    let tool = ToolManifest {
        server: "s".into(),
        name: "t".into(),
        description: String::new(),
        input_schema: schema,
        annotations: serde_json::Value::Null,
        labels: vec![],
    };
    if let Ok(engine) = Engine::build(vec![tool], &[]) {
        let p = Principal {
            id: "a/b".into(),
            owner: "o".into(),
            environment: "dev".into(),
            tier: "low".into(),
            state: "active".into(),
            labels: vec![],
        };
        let _ = engine.decide(&p, "s.t", &args);
    }
});
