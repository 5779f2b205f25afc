//! Keyed fingerprints of secrets: HMAC-SHA256 (RFC 2104), so that equal secrets can be matched
//! across files and hosts without the fingerprint being a dictionary-attackable plain hash.

use std::fmt;

use sha2::{Digest as _, Sha256};

const BLOCK: usize = 64;

/// The key of the fingerprints. `Debug` never shows it.
#[derive(Clone)]
pub struct FingerprintKey(Vec<u8>);

impl FingerprintKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self(key.into())
    }

    /// The lowercase hex HMAC-SHA256 of `secret` under this key.
    pub fn fingerprint(&self, secret: &str) -> String {
        hex::encode(hmac_sha256(&self.0, secret.as_bytes()))
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(***)")
    }
}

/// HMAC-SHA256 of `message` under `key`, per RFC 2104: `H((K ^ opad) || H((K ^ ipad) || m))`,
/// where a key longer than the block is hashed first and a shorter one is zero-padded.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        for (b, k) in block.iter_mut().zip(Sha256::digest(key).iter()) {
            *b = *k;
        }
    } else {
        for (b, k) in block.iter_mut().zip(key) {
            *b = *k;
        }
    }
    let inner_key: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&inner_key).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(&outer_key).chain_update(inner).finalize();
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(outer.iter()) {
        *o = *b;
    }
    out
}
