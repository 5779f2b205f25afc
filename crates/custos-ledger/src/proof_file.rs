//! C2SP proof files (`c2sp.org/tlog-proof@v1`): an inclusion proof and the signed checkpoint
//! it leads to, in one self-contained text file that verifies offline.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <leaf index>
//! <base64 proof hash, leaf sibling first>...
//!
//! <checkpoint note>
//! ```

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{Hash, LedgerError, NoteVerifier, SignedCheckpoint, tree::verify_inclusion};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A parsed proof file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofFile {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint_note: String,
}

impl ProofFile {
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            s.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint_note);
        s
    }

    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let bad = |why: String| LedgerError::malformed("tlog-proof file", why);
        let (head, note) = text.split_once("\n\n").ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad(format!("the first line is not `{HEADER}`")));
        }
        let mut line = lines.next().ok_or_else(|| bad("the index line is missing".into()))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(STANDARD.decode(b64).map_err(|_| bad("the extra line is not base64".into()))?);
            line = lines.next().ok_or_else(|| bad("the index line is missing".into()))?;
        }
        let index_s = line.strip_prefix("index ").ok_or_else(|| bad(format!("expected `index N`, found `{line}`")))?;
        if index_s.is_empty()
            || (index_s.len() > 1 && index_s.starts_with('0'))
            || !index_s.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad(format!("`{index_s}` is not a decimal index")));
        }
        let index = index_s.parse().map_err(|_| bad(format!("index `{index_s}` does not fit 64 bits")))?;
        let proof = lines.map(Hash::from_base64).collect::<Result<Vec<_>, _>>()?;
        if proof.len() > 64 {
            return Err(bad("more than 64 proof hashes".into()));
        }
        Ok(Self { extra, index, proof, checkpoint_note: note.to_string() })
    }

    /// Verifies the checkpoint signature and that `leaf` is at `index` under its root.
    pub fn verify(&self, leaf: &Hash, verifier: &NoteVerifier) -> Result<SignedCheckpoint, LedgerError> {
        let cp = SignedCheckpoint::open(&self.checkpoint_note, verifier)?;
        verify_inclusion(self.index, cp.checkpoint.size, leaf, &self.proof, &cp.checkpoint.root)?;
        Ok(cp)
    }
}
