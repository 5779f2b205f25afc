//! C2SP signed notes (`c2sp.org/signed-note` v1.0.0) with Ed25519 keys.
//!
//! A note is UTF-8 text ending in a newline, a blank line, and signature lines
//! `— <name> <base64(key ID ‖ signature)>`. The key ID is the first four bytes of
//! `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`. Keys are written the way Go's
//! `golang.org/x/mod/sumdb/note` writes them: `name+hex8+base64(0x01 ‖ key)`, and for the
//! private half `PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)`.

use base64::{Engine, engine::general_purpose::STANDARD};
use custos_core::Secret;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::LedgerError;

/// The algorithm byte of Ed25519 note keys.
const ALG_ED25519: u8 = 0x01;
/// The em dash and space that start every signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Go's `note.Open` refuses more signatures than this; so do we, as a bound on work.
const MAX_SIGNATURES: usize = 100;

fn check_key_name(name: &str) -> Result<(), LedgerError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(LedgerError::malformed(
            "key name",
            format!("`{name}` must be non-empty, without spaces and without `+`"),
        ));
    }
    Ok(())
}

/// The 4-byte key ID of an Ed25519 key named `name`.
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let [a, b, c, d, ..] = <[u8; 32]>::from(h.finalize());
    u32::from_be_bytes([a, b, c, d])
}

/// Signs notes with an Ed25519 key under a name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner").field("name", &self.name).field("key", &"***").finish()
    }
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, LedgerError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self { name: name.to_string(), key, id })
    }

    /// Parses `PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)`.
    pub fn from_encoded(s: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| LedgerError::malformed("signing key", why.to_string());
        let rest = s
            .trim_end_matches(['\n', '\r'])
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("it does not start with `PRIVATE+KEY+`"))?;
        // Base64 may contain `+`; names may not. So split off two fields and keep the rest.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected `PRIVATE+KEY+<name>+<hex8>+<base64>`"));
        };
        let raw = STANDARD.decode(b64).map_err(|_| bad("the key material is not base64"))?;
        let (Some(&ALG_ED25519), Ok(seed)) = (raw.first(), <[u8; 32]>::try_from(raw.get(1..).unwrap_or_default()))
        else {
            return Err(bad("the key material is not an Ed25519 seed (0x01 followed by 32 bytes)"));
        };
        let signer = Self::from_seed(name, &seed)?;
        if id_hex != format!("{:08x}", signer.id) {
            return Err(bad("the key ID does not match the key"));
        }
        Ok(signer)
    }

    /// The private key in Go's `note` encoding. It is a secret: it prints as `***`.
    pub fn encode(&self) -> Secret<String> {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        Secret::new(format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.id, STANDARD.encode(raw)))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key: self.key.verifying_key(), id: self.id }
    }

    /// A raw Ed25519 signature over DSSE pre-authentication-encoded bytes (they start with
    /// `DSSEv1 `), for attestation envelopes made with the instance key. Only PAE bytes are
    /// accepted, so this key can never be made to sign a note text through this door.
    pub fn sign_dsse_pae(&self, pae: &[u8]) -> Result<[u8; 64], LedgerError> {
        if !pae.starts_with(b"DSSEv1 ") {
            return Err(LedgerError::malformed("DSSE PAE", "it does not start with `DSSEv1 `"));
        }
        Ok(self.key.sign(pae).to_bytes())
    }

    /// Signs `text` (which must end in a newline) and returns the whole note.
    pub fn sign(&self, text: &str) -> Result<String, LedgerError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.id.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw)))
    }
}

/// Verifies notes signed by one Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
    id: u32,
}

impl NoteVerifier {
    /// Parses a C2SP verifier key `name+hex8+base64(0x01 ‖ public key)`.
    pub fn from_encoded(s: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| LedgerError::malformed("verifier key", format!("{why} in `{}`", s.trim()));
        // Base64 may contain `+`; names may not. So split off two fields and keep the rest.
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected `<name>+<hex8>+<base64>`"));
        };
        check_key_name(name)?;
        let raw = STANDARD.decode(b64).map_err(|_| bad("the key is not base64"))?;
        let (Some(&ALG_ED25519), Ok(public)) = (raw.first(), <[u8; 32]>::try_from(raw.get(1..).unwrap_or_default()))
        else {
            return Err(bad("the key is not an Ed25519 key (0x01 followed by 32 bytes)"));
        };
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("the key is not a valid Ed25519 point"))?;
        let id = key_id(name, &public);
        if id_hex != format!("{id:08x}") {
            return Err(bad("the key ID does not match the key"));
        }
        Ok(Self { name: name.to_string(), key, id })
    }

    /// The verifier key in C2SP encoding.
    pub fn encode(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, STANDARD.encode(raw))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Checks a raw Ed25519 signature over DSSE PAE bytes (strict verification).
    pub fn verify_dsse_pae(&self, pae: &[u8], sig: &[u8; 64]) -> Result<(), LedgerError> {
        self.key
            .verify_strict(pae, &Signature::from_bytes(sig))
            .map_err(|_| LedgerError::BadSignature { name: self.name.clone() })
    }

    /// Opens a signed note: returns its text if a signature by this key verifies. Signatures by
    /// other keys are ignored; a signature that claims this key and fails rejects the note.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, LedgerError> {
        let (text, sigs) = split_note(note)?;
        check_text(text)?;
        let mut verified = false;
        for line in sigs {
            let (name, raw) = parse_signature_line(line)?;
            let Some((id, sig)) = raw.split_first_chunk::<4>() else {
                return Err(LedgerError::malformed("note signature", "shorter than a key ID"));
            };
            if name != self.name || u32::from_be_bytes(*id) != self.id {
                continue;
            }
            let sig = <[u8; 64]>::try_from(sig).map_err(|_| LedgerError::BadSignature { name: name.to_string() })?;
            self.key
                .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
                .map_err(|_| LedgerError::BadSignature { name: name.to_string() })?;
            verified = true;
        }
        if verified { Ok(text) } else { Err(LedgerError::NoKnownSignature { expected: self.name.clone() }) }
    }
}

/// Text rules of the spec: non-empty UTF-8, ends in a newline, no control characters but `\n`.
fn check_text(text: &str) -> Result<(), LedgerError> {
    if !text.ends_with('\n') {
        return Err(LedgerError::malformed("note text", "it does not end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(LedgerError::malformed("note text", "it contains a control character"));
    }
    Ok(())
}

/// Splits a note at its last blank line into text (with its final newline) and signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<&str>), LedgerError> {
    let at = note
        .rfind("\n\n")
        .ok_or_else(|| LedgerError::malformed("signed note", "no blank line before the signatures"))?;
    let (text, rest) = note.split_at(at + 1);
    let sigs = rest.get(1..).unwrap_or_default();
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(LedgerError::malformed("signed note", "the signature block must end with a newline"));
    }
    let lines: Vec<&str> = sigs.trim_end_matches('\n').split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(LedgerError::malformed("signed note", format!("more than {MAX_SIGNATURES} signatures")));
    }
    Ok((text, lines))
}

fn parse_signature_line(line: &str) -> Result<(&str, Vec<u8>), LedgerError> {
    let bad = || LedgerError::malformed("note signature line", format!("`{line}`"));
    let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(bad)?;
    let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
    check_key_name(name)?;
    let raw = STANDARD.decode(b64).map_err(|_| bad())?;
    Ok((name, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of shared/reference/evidence-formats.md §3, checked there with Go's
    /// `note.Open` and Cloudflare's `signed_note`.
    #[test]
    fn reference_vector() {
        let signer = NoteSigner::from_seed("attest.example/ledger/demo", &[7u8; 32]).unwrap();
        assert_eq!(
            signer.verifier().encode(),
            "attest.example/ledger/demo+d5ff2501+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
        );
        let text = "attest.example/ledger/demo\n7\nqftfDC7U2ahJnIRTh1J8m83o7tNtmcfOccDAzqA87Pk=\n";
        let note = signer.sign(text).unwrap();
        assert_eq!(
            note,
            format!(
                "{text}\n\u{2014} attest.example/ledger/demo 1f8lAd2A6n7smmUEwMT6gyQ1ujFHohl4sNVINhqmP0DHpjeGBXvF8ZpiDgIJAbgcCRNgL4Ll38qyEYHweFJi3DFFHws=\n"
            )
        );
        let v = NoteVerifier::from_encoded(&signer.verifier().encode()).unwrap();
        assert_eq!(v.open(&note).unwrap(), text);
        assert!(v.open(&note.replace("\n7\n", "\n8\n")).is_err());
        let again = NoteSigner::from_encoded(signer.encode().expose()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        assert_eq!(format!("{:?}", signer.encode()), "***");
    }

    #[test]
    fn unknown_keys_are_ignored_and_missing_ones_rejected() {
        let a = NoteSigner::from_seed("a.example/log", &[1u8; 32]).unwrap();
        let b = NoteSigner::from_seed("b.example/log", &[2u8; 32]).unwrap();
        let text = "hello\n";
        let note_a = a.sign(text).unwrap();
        // Add b's signature line to a's note: a's verifier ignores it.
        let note_b = b.sign(text).unwrap();
        let b_line = note_b.rsplit_once("\n\n").unwrap().1;
        let both = format!("{note_a}{b_line}");
        assert_eq!(a.verifier().open(&both).unwrap(), text);
        assert_eq!(b.verifier().open(&both).unwrap(), text);
        assert!(matches!(a.verifier().open(&note_b), Err(LedgerError::NoKnownSignature { .. })));
        assert!(a.sign("no newline").is_err());
        assert!(NoteSigner::from_seed("bad name", &[1u8; 32]).is_err());
        assert!(NoteSigner::from_seed("bad+name", &[1u8; 32]).is_err());
    }
}
