//! Fuzz target: a bearer token an agent presents that looks like a JWT. Verification must never
//! panic, and nothing the fuzzer makes may verify: the only key is a fixed Ed25519 public key
//! whose private half the fuzzer does not have.
#![no_main]

use std::sync::OnceLock;

use custos_gateway::jwt::{JwtConfig, JwtVerifier};
use libfuzzer_sys::fuzz_target;

// The Ed25519 public key of RFC 8037 Appendix A.
const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

fn setup() -> &'static (tokio::runtime::Runtime, JwtVerifier) {
    static S: OnceLock<(tokio::runtime::Runtime, JwtVerifier)> = OnceLock::new();
    S.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("custos-fuzz-jwks-{}.json", std::process::id()));
        std::fs::write(&path, JWKS).expect("write the JWKS");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let cfg = JwtConfig {
            issuer: "https://idp.example".into(),
            audience: "custos".into(),
            jwks_file: Some(path),
            jwks_url: None,
            agent_claim: None,
        };
        let v = rt.block_on(JwtVerifier::new(cfg)).expect("verifier");
        (rt, v)
    })
}

fuzz_target!(|data: &[u8]| {
    let (rt, v) = setup();
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = JwtVerifier::looks_like(token);
        let out = rt.block_on(v.verify(token, 1_800_000_000));
        assert!(out.is_err(), "a token the fuzzer made verified");
    }
});
