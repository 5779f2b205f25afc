//! Agents authenticated by the organisation's identity provider: JWTs checked against a JWKS.
//!
//! Accepted algorithms are RS256, ES256 and EdDSA (Ed25519), and only with a key of the matching
//! type from the configured JWKS: never `none`, never an HMAC secret (a public key must not be
//! usable as a shared secret). `iss` and `aud` must match the config, `exp` must be in the
//! future and `nbf` (if present) in the past, with 60 s of clock leeway. The configured claim
//! (default `sub`) names the agent, which must be in the registry.

use std::{
    path::PathBuf,
    sync::RwLock,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

/// `[gateway.jwt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// A JWKS document on disk…
    pub jwks_file: Option<PathBuf>,
    /// …or at a URL (fetched at start, and again for an unknown `kid`, at most once a minute).
    pub jwks_url: Option<String>,
    /// The claim that holds the agent id (default `sub`).
    pub agent_claim: Option<String>,
}

const LEEWAY_SECS: i64 = 60;
const REFETCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Key {
    kid: Option<String>,
    kind: KeyKind,
}

#[derive(Debug, Clone)]
enum KeyKind {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256 { point: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// What a valid JWT says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub agent: String,
    /// `jwt:` + issuer + `#` + (`jti` or subject): names the credential in evidence.
    pub credential: String,
}

#[derive(Debug)]
pub struct JwtVerifier {
    cfg: JwtConfig,
    keys: RwLock<Vec<Key>>,
    fetched: std::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| "not base64url".to_string())
}

fn parse_jwks(doc: &Value) -> Result<Vec<Key>, String> {
    let keys = doc.get("keys").and_then(Value::as_array).ok_or("a JWKS needs a `keys` array")?;
    let mut out = Vec::new();
    for k in keys {
        let field = |n: &str| k.get(n).and_then(Value::as_str);
        let kid = field("kid").map(str::to_string);
        let kind = match (field("kty"), field("crv")) {
            (Some("RSA"), _) => KeyKind::Rsa {
                n: b64(field("n").ok_or("RSA key without n")?)?,
                e: b64(field("e").ok_or("RSA key without e")?)?,
            },
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (b64(field("x").ok_or("EC key without x")?)?, b64(field("y").ok_or("EC key without y")?)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes".into());
                }
                let mut point = vec![4u8];
                point.extend(x);
                point.extend(y);
                KeyKind::P256 { point }
            }
            (Some("OKP"), Some("Ed25519")) => KeyKind::Ed25519 { x: b64(field("x").ok_or("OKP key without x")?)? },
            // Other key types cannot verify any algorithm we accept.
            _ => continue,
        };
        out.push(Key { kid, kind });
    }
    Ok(out)
}

impl JwtVerifier {
    pub async fn new(cfg: JwtConfig) -> Result<Self, String> {
        let v = Self {
            keys: RwLock::new(Vec::new()),
            fetched: std::sync::Mutex::new(None),
            http: crate::http_client().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?,
            cfg,
        };
        match (&v.cfg.jwks_file, &v.cfg.jwks_url) {
            (Some(_), Some(_)) => return Err("gateway.jwt: give jwks_file or jwks_url, not both".into()),
            (None, None) => return Err("gateway.jwt: give jwks_file or jwks_url".into()),
            _ => {}
        }
        v.load().await?;
        Ok(v)
    }

    async fn load(&self) -> Result<(), String> {
        let doc: Value = match (&self.cfg.jwks_file, &self.cfg.jwks_url) {
            (Some(p), _) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("gateway.jwt: cannot read `{}`: {e}", p.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("gateway.jwt: `{}` is not JSON: {e}", p.display()))?
            }
            (None, Some(u)) => {
                let resp = self.http.get(u).send().await.map_err(|e| format!("gateway.jwt: fetching {u}: {e}"))?;
                resp.json().await.map_err(|e| format!("gateway.jwt: {u} is not a JWKS: {e}"))?
            }
            (None, None) => return Err("gateway.jwt: no JWKS".into()),
        };
        let keys = parse_jwks(&doc).map_err(|e| format!("gateway.jwt: JWKS: {e}"))?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        *self.fetched.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// Whether `token` is shaped like a JWT (three base64url parts).
    pub fn looks_like(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// Verifies `token` as of `now` (Unix seconds).
    pub async fn verify(&self, token: &str, now: i64) -> Result<Claims, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("not a JWT".into());
        };
        let header: Value = serde_json::from_slice(&b64(h)?).map_err(|_| "JWT header is not JSON")?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let kid = header.get("kid").and_then(Value::as_str);
        let sig = b64(s)?;
        let signed = format!("{h}.{p}");
        let mut ok = self.check_signature(alg, kid, signed.as_bytes(), &sig)?;
        if !ok && self.cfg.jwks_url.is_some() {
            // Maybe the IdP rotated its keys: fetch again, at most once a minute.
            let stale =
                self.fetched.lock().unwrap_or_else(|e| e.into_inner()).is_none_or(|t| t.elapsed() >= REFETCH_EVERY);
            if stale {
                self.load().await?;
                ok = self.check_signature(alg, kid, signed.as_bytes(), &sig)?;
            }
        }
        if !ok {
            return Err("JWT signature does not verify with any configured key".into());
        }
        let claims: Value = serde_json::from_slice(&b64(p)?).map_err(|_| "JWT claims are not JSON")?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.cfg.issuer.as_str()) {
            return Err(format!("JWT issuer is not `{}`", self.cfg.issuer));
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.cfg.audience,
            Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(self.cfg.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(format!("JWT audience does not include `{}`", self.cfg.audience));
        }
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or("JWT has no `exp`")?;
        if now > exp + LEEWAY_SECS {
            return Err("JWT has expired".into());
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
            && now + LEEWAY_SECS < nbf
        {
            return Err("JWT is not valid yet".into());
        }
        let claim = self.cfg.agent_claim.as_deref().unwrap_or("sub");
        let agent = claims.get(claim).and_then(Value::as_str).ok_or_else(|| format!("JWT has no `{claim}` claim"))?;
        let id = claims.get("jti").and_then(Value::as_str).unwrap_or(agent);
        Ok(Claims { agent: agent.to_string(), credential: format!("jwt:{}#{id}", self.cfg.issuer) })
    }

    fn check_signature(&self, alg: &str, kid: Option<&str>, msg: &[u8], sig: &[u8]) -> Result<bool, String> {
        if !matches!(alg, "RS256" | "ES256" | "EdDSA") {
            return Err(format!("JWT algorithm `{alg}` is not accepted (RS256, ES256, EdDSA)"));
        }
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let candidates = keys.iter().filter(|k| kid.is_none() || k.kid.as_deref() == kid);
        for k in candidates {
            let ok = match (alg, &k.kind) {
                ("RS256", KeyKind::Rsa { n, e }) => signature::RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                    .is_ok(),
                ("ES256", KeyKind::P256 { point }) => {
                    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(msg, sig).is_ok()
                }
                ("EdDSA", KeyKind::Ed25519 { x }) => {
                    UnparsedPublicKey::new(&signature::ED25519, x).verify(msg, sig).is_ok()
                }
                _ => false,
            };
            if ok {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
