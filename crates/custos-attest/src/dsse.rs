//! DSSE v1.0.2 envelopes (secure-systems-lab/dsse) signed with the instance's Ed25519 key.
//!
//! The signature covers the pre-authentication encoding (PAE) of the payload type and the raw
//! payload bytes, never the base64 text. `keyid` is only a hint in DSSE, but `securesystemslib`
//! (1.6) skips every signature whose `keyid` differs from its key's id, so ours is computed the
//! way `securesystemslib` computes the default id of an Ed25519 key (see [`keyid`]).

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use custos_ledger::{LedgerError, NoteSigner, NoteVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + body.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// The key id `securesystemslib` gives a raw Ed25519 public key by default
/// (`SSlibKey.from_crypto`, `compute_default_keyid`): the lowercase hex SHA-256 of the
/// canonical JSON `{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}`.
/// With this id a stock `securesystemslib` verifier needs nothing but the public key.
pub fn keyid(public: &[u8; 32]) -> String {
    let json = format!(r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#, hex::encode(public));
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the raw 64-byte Ed25519 signature.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

/// Why an envelope does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    #[error("the payload is not base64")]
    PayloadNotBase64,
    #[error("payloadType is `{0}`, expected `{IN_TOTO_PAYLOAD_TYPE}`")]
    WrongPayloadType(String),
    #[error("no signature with keyid {0} (the key's id)")]
    NoSignatureForKey(String),
    #[error("the signature with keyid {0} is not 64 bytes of base64")]
    MalformedSignature(String),
    #[error("the signature with keyid {0} does not verify")]
    BadSignature(String),
}

/// Decodes standard or URL-safe base64, padded or not (DSSE verifiers accept both alphabets).
pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(s).ok())
}

impl Envelope {
    /// Signs `body` under `payload_type` with the instance key.
    pub fn sign(payload_type: &str, body: &[u8], signer: &NoteSigner) -> Result<Self, LedgerError> {
        let sig = signer.sign_dsse_pae(&pae(payload_type, body))?;
        Ok(Self {
            payload: STANDARD.encode(body),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature { keyid: keyid(signer.verifier().public_key()), sig: STANDARD.encode(sig) }],
        })
    }

    /// The payload bytes, if the envelope is an in-toto envelope whose signature by `verifier`
    /// verifies. Callers use these bytes and never re-read the envelope (DSSE §Protocol).
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<Vec<u8>, DsseError> {
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(DsseError::WrongPayloadType(self.payload_type.clone()));
        }
        let body = b64_decode(&self.payload).ok_or(DsseError::PayloadNotBase64)?;
        let id = keyid(verifier.public_key());
        let sig =
            self.signatures.iter().find(|s| s.keyid == id).ok_or_else(|| DsseError::NoSignatureForKey(id.clone()))?;
        let raw: [u8; 64] = b64_decode(&sig.sig)
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or_else(|| DsseError::MalformedSignature(id.clone()))?;
        verifier.verify_dsse_pae(&pae(&self.payload_type, &body), &raw).map_err(|_| DsseError::BadSignature(id))?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert!(pae(IN_TOTO_PAYLOAD_TYPE, b"{}").starts_with(b"DSSEv1 28 application/vnd.in-toto+json 2 "));
    }

    /// Checked with securesystemslib 1.6.0: `SSlibKey.from_crypto(Ed25519PublicKey
    /// .from_public_bytes(bytes.fromhex("ea4a…d22c"))).keyid`.
    #[test]
    fn keyid_equals_securesystemslib_default() {
        let public: [u8; 32] = hex::decode("ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(keyid(&public), "bfe1a83869e5bf574e3ff3acbb83f840de84a990d10059f3096f0bf4f2b90c10");
    }
}
