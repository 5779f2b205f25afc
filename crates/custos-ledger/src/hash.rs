//! RFC 6962 §2.1 / RFC 9162 §2.1 hashing: `leaf = SHA-256(0x00 ‖ entry)`,
//! `node = SHA-256(0x01 ‖ left ‖ right)`, and the empty tree's hash `SHA-256("")`.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

use crate::LedgerError;

/// A SHA-256 value: a leaf hash, a node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const LEN: usize = 32;

    pub fn from_slice(bytes: &[u8]) -> Result<Self, LedgerError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| LedgerError::malformed("hash", format!("{} bytes, expected 32", bytes.len())))?;
        Ok(Self(arr))
    }

    pub fn from_base64(s: &str) -> Result<Self, LedgerError> {
        let bytes =
            STANDARD.decode(s).map_err(|e| LedgerError::malformed("hash", format!("`{s}` is not base64: {e}")))?;
        Self::from_slice(&bytes)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// Plain SHA-256.
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

/// The hash of the empty tree.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// The leaf hash of one entry.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}
