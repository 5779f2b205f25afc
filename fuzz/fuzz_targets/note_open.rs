//! Fuzz target: a signed note (a checkpoint) from outside. Opening and parsing it must never
//! panic.
#![no_main]

use custos_ledger::{Checkpoint, NoteSigner, SignedCheckpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(signer) = NoteSigner::from_seed("fuzz.custos/log", &[7u8; 32]) else { return };
    let _ = signer.verifier().open(text);
    let _ = SignedCheckpoint::open(text, &signer.verifier());
    let _ = Checkpoint::parse(text);
});
