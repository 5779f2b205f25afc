//! Fuzz target: a C2SP tlog-proof file from outside. Parsing must never panic, a parsed file
//! must print back to text that parses to the same value, and verifying must not panic.
#![no_main]

use custos_ledger::{Hash, NoteSigner, ProofFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(file) = ProofFile::parse(text) {
        assert_eq!(ProofFile::parse(&file.to_text()).ok(), Some(file.clone()));
        if let Ok(signer) = NoteSigner::from_seed("fuzz.custos/log", &[7u8; 32]) {
            let _ = file.verify(&Hash([1u8; 32]), &signer.verifier());
        }
    }
});
