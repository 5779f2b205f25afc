//! JWTs from an identity provider: only the configured issuer, audience and keys; no `none`,
//! no HMAC, expiry enforced.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use custos_gateway::jwt::{JwtConfig, JwtVerifier};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn sign(key: &SigningKey, header: Value, claims: Value) -> String {
    let msg = format!("{}.{}", b64(&header), b64(&claims));
    let sig = key.sign(msg.as_bytes());
    format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn claims() -> Value {
    json!({"iss": "https://idp.test", "aud": ["custos", "other"], "sub": "team/bot", "exp": NOW + 300, "jti": "t-1"})
}

async fn verifier(dir: &tempfile::TempDir, key: &SigningKey) -> JwtVerifier {
    let jwks = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
    ]});
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    let cfg = JwtConfig {
        issuer: "https://idp.test".into(),
        audience: "custos".into(),
        jwks_file: Some(path),
        jwks_url: None,
        agent_claim: None,
    };
    JwtVerifier::new(cfg).await.unwrap()
}

#[tokio::test]
async fn only_valid_tokens_from_the_configured_issuer_pass() {
    let dir = tempfile::TempDir::new().unwrap();
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let v = verifier(&dir, &key).await;
    let header = json!({"alg": "EdDSA", "kid": "k1", "typ": "JWT"});
    let ok = v.verify(&sign(&key, header.clone(), claims()), NOW).await.unwrap();
    assert_eq!((ok.agent.as_str(), ok.credential.as_str()), ("team/bot", "jwt:https://idp.test#t-1"));

    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        c
    };
    let cases: Vec<(String, &str)> = vec![
        (sign(&key, header.clone(), mutate(&|c| c["iss"] = json!("https://evil.test"))), "issuer"),
        (sign(&key, header.clone(), mutate(&|c| c["aud"] = json!("someone-else"))), "audience"),
        (sign(&key, header.clone(), mutate(&|c| c["exp"] = json!(NOW - 61))), "expired"),
        (sign(&key, header.clone(), mutate(&|c| c["nbf"] = json!(NOW + 120))), "not valid yet"),
        (
            sign(
                &key,
                header.clone(),
                mutate(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            "exp",
        ),
        (
            sign(
                &key,
                header.clone(),
                mutate(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
            ),
            "sub",
        ),
        // Another key with the same kid.
        (sign(&SigningKey::from_bytes(&[8u8; 32]), header.clone(), claims()), "signature"),
        (sign(&key, json!({"alg": "none"}), claims()), "not accepted"),
        (sign(&key, json!({"alg": "HS256", "kid": "hmac"}), claims()), "not accepted"),
        (sign(&key, json!({"alg": "RS256", "kid": "k1"}), claims()), "signature"),
        (format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims())), "not accepted"),
        ("a.b".into(), "not a JWT"),
    ];
    for (token, needle) in cases {
        let err = v.verify(&token, NOW).await.unwrap_err();
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // Tampering with the claims breaks the signature.
    let good = sign(&key, header, claims());
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = b64(&mutate(&|c| c["sub"] = json!("team/admin")));
    parts[1] = &forged;
    assert!(v.verify(&parts.join("."), NOW).await.unwrap_err().contains("signature"));
}
