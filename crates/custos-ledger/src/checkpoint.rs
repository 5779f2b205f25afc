//! C2SP checkpoints (`c2sp.org/tlog-checkpoint` v1.0.0): the signed statement "the log named
//! `origin` has `size` entries and this root".

use crate::{Hash, LedgerError, NoteSigner, NoteVerifier};

/// A checkpoint body: origin line, decimal tree size, base64 root, optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self { origin: origin.to_string(), size, root, extensions: Vec::new() }
    }

    /// The note text of this checkpoint.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body (the text of an opened note).
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| LedgerError::malformed("checkpoint", why.to_string());
        let body = text.strip_suffix('\n').ok_or_else(|| bad("it does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| bad("the origin line is empty"))?;
        let size_s = lines.next().ok_or_else(|| bad("the tree size line is missing"))?;
        if size_s.is_empty()
            || !size_s.bytes().all(|b| b.is_ascii_digit())
            || (size_s.len() > 1 && size_s.starts_with('0'))
        {
            return Err(bad("the tree size is not a decimal number without leading zeros"));
        }
        let size = size_s.parse().map_err(|_| bad("the tree size does not fit 64 bits"))?;
        let root = Hash::from_base64(lines.next().ok_or_else(|| bad("the root hash line is missing"))?)?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("an extension line is empty"));
        }
        Ok(Self { origin: origin.to_string(), size, root, extensions })
    }

    pub fn sign(&self, signer: &NoteSigner) -> Result<SignedCheckpoint, LedgerError> {
        let note = signer.sign(&self.to_text())?;
        Ok(SignedCheckpoint { checkpoint: self.clone(), note })
    }
}

/// A checkpoint together with its signed note, exactly as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

impl SignedCheckpoint {
    /// Opens `note` with `verifier` and parses the checkpoint; the origin must be the key name.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, LedgerError> {
        let text = verifier.open(note)?;
        let checkpoint = Checkpoint::parse(text)?;
        if checkpoint.origin != verifier.name() {
            return Err(LedgerError::WrongOrigin { found: checkpoint.origin, expected: verifier.name().to_string() });
        }
        Ok(Self { checkpoint, note: note.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_malformed_bodies() {
        let root = Hash([9u8; 32]).to_base64();
        assert!(Checkpoint::parse(&format!("o\n7\n{root}\n")).is_ok());
        assert!(Checkpoint::parse(&format!("o\n7\n{root}\next\n")).is_ok());
        for bad in [
            format!("o\n07\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("\n7\n{root}\n"),
            format!("o\n7\n{root}"),
            "o\n7\nAAAA\n".to_string(),
            format!("o\n7\n{root}\n\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
