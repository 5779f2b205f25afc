//! The one canonical serialization: RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Every ledger entry is the JCS form of an event, so the same event always hashes to the same
//! leaf, whoever serializes it. Nothing else in custos turns an event into bytes.

use serde::Serialize;

use crate::CoreError;

/// Serializes `value` in RFC 8785 canonical form.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CoreError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| CoreError::Canonical(e.to_string()))
}

/// Serializes `value` in RFC 8785 canonical form, as a string.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, CoreError> {
    serde_json_canonicalizer::to_string(value).map_err(|e| CoreError::Canonical(e.to_string()))
}

/// Parses `bytes` as JSON and checks they are already canonical: re-serializing must give the
/// same bytes. Used on entries read back from storage or from another party.
pub fn parse_canonical(bytes: &[u8]) -> Result<serde_json::Value, CoreError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)?;
    if to_vec(&value)? != bytes {
        return Err(CoreError::NotCanonical);
    }
    Ok(value)
}
