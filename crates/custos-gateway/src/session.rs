//! Session ids for the 2025-11-25 era, sealed with an AEAD key from the data dir.
//!
//! The id *is* the session state (agent, credential, negotiated version, scope, creation time),
//! encrypted and authenticated with ChaCha20-Poly1305. Any gateway process holding the key can
//! open it, so sessions survive a restart and need no sticky routing; nobody without the key can
//! forge or read one. A session is bound to the credential that opened it: presenting it with
//! another agent's token is refused.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "cs1.";
/// Associated data: binds ids to this purpose (a sealed id cannot be replayed as other data).
const AAD: &[u8] = b"custos mcp session v1";

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// Agent id.
    pub a: String,
    /// Credential id (or JWT subject) that opened it.
    pub c: String,
    /// Negotiated protocol version.
    pub v: String,
    /// The server it is scoped to (`/mcp/{server}`), or none for `/mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    /// Created, Unix seconds.
    pub t: i64,
    /// 96 random bits, so two sessions of one agent in one second differ.
    pub r: String,
}

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: ChaCha20Poly1305::new(key.into()) }
    }

    pub fn seal(&self, state: &SessionState) -> Result<String, String> {
        self.seal_as(PREFIX, AAD, state)
    }

    /// The state in a session id, if it is one this key sealed.
    pub fn open(&self, id: &str) -> Option<SessionState> {
        self.open_as(PREFIX, AAD, id)
    }

    /// Seals any state under its own prefix and associated data, so a value sealed for one
    /// purpose (a session id, an MRTR `requestState`) never opens as another.
    pub fn seal_as<T: Serialize>(&self, prefix: &str, aad: &[u8], state: &T) -> Result<String, String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness: {e}"))?;
        let plain = serde_json::to_vec(state).map_err(|e| e.to_string())?;
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad })
            .map_err(|_| "sealing failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend(ct);
        Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The state sealed with [`Self::seal_as`] under the same prefix and associated data.
    pub fn open_as<T: serde::de::DeserializeOwned>(&self, prefix: &str, aad: &[u8], sealed: &str) -> Option<T> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(prefix)?).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad }).ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// 96 random bits, hex.
pub fn random_tag() -> String {
    let mut b = [0u8; 12];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}
