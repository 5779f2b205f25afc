//! Errors of the ledger mathematics: malformed input and failed checks.

/// What went wrong. Proof and signature failures are errors here; callers that report them
/// as a result (verify, exit code 2) match on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {old} is larger than tree size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("inclusion proof does not verify: {0}")]
    BadInclusionProof(&'static str),
    #[error("consistency proof does not verify: {0}")]
    BadConsistencyProof(&'static str),
    #[error("the hash of subtree level {level} index {index} is not available: {why}")]
    MissingHash { level: u8, index: u64, why: String },
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: String },
    #[error("signature by `{name}` does not verify")]
    BadSignature { name: String },
    #[error("no signature by a known key (expected `{expected}`)")]
    NoKnownSignature { expected: String },
    #[error("checkpoint origin is `{found}`, expected `{expected}`")]
    WrongOrigin { found: String, expected: String },
}

impl LedgerError {
    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Self::Malformed { what, why: why.into() }
    }
}
