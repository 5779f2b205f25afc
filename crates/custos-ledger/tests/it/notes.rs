//! C2SP signed notes, checkpoints and proof files: round trips, rejection of every one-byte
//! change to a proof file, malformed input as errors, and no panics on arbitrary text.

use custos_ledger::{
    Checkpoint, Hash, LedgerError, NoteSigner, NoteVerifier, ProofFile, SignedCheckpoint,
    hash::leaf_hash,
    tree::{inclusion_proof, tree_hash},
};
use proptest::prelude::*;

use crate::support::{Store, entries};

const ORIGIN: &str = "custos.example/ledger/test";

fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[42u8; 32]).unwrap()
}

/// A signed checkpoint of the first `size` entries of the test log and the proof file of
/// entry `index` under it.
fn proof_file(size: u64, index: u64, extra: Option<Vec<u8>>) -> (ProofFile, Hash) {
    let e = entries(size);
    let store = Store::of(&e);
    let root = tree_hash(&store.at(size), size).unwrap();
    let signed = Checkpoint::new(ORIGIN, size, root).sign(&signer()).unwrap();
    let file = ProofFile {
        extra,
        index,
        proof: inclusion_proof(&store.at(size), index, size).unwrap(),
        checkpoint_note: signed.note,
    };
    (file, leaf_hash(&e[index as usize]))
}

#[test]
fn checkpoint_text_round_trips() {
    let root = Hash([7u8; 32]);
    let mut cp = Checkpoint::new(ORIGIN, 0, root);
    assert_eq!(cp.to_text(), format!("{ORIGIN}\n0\n{}\n", root.to_base64()));
    assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
    cp.size = u64::MAX;
    cp.extensions = vec!["ext one".into(), "— two".into()];
    assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
    // One past u64::MAX does not wrap.
    let text = format!("{ORIGIN}\n18446744073709551616\n{}\n", root.to_base64());
    assert!(Checkpoint::parse(&text).is_err());
}

#[test]
fn signed_checkpoints_open_with_their_key_only() {
    let cp = Checkpoint::new(ORIGIN, 5, Hash([1u8; 32]));
    let signed = cp.sign(&signer()).unwrap();
    let verifier = NoteVerifier::from_encoded(&signer().verifier().encode()).unwrap();
    assert_eq!(SignedCheckpoint::open(&signed.note, &verifier).unwrap(), signed);

    let other = NoteSigner::from_seed(ORIGIN, &[43u8; 32]).unwrap();
    assert!(matches!(
        SignedCheckpoint::open(&signed.note, &other.verifier()),
        Err(LedgerError::NoKnownSignature { .. })
    ));
    // A checkpoint whose origin is not the key's name is refused even with a good signature.
    let foreign = Checkpoint::new("elsewhere.example/log", 5, Hash([1u8; 32])).sign(&signer()).unwrap();
    assert!(matches!(SignedCheckpoint::open(&foreign.note, &verifier), Err(LedgerError::WrongOrigin { .. })));
}

/// Keys are `name+hex8+base64`, and base64 uses `+` itself: a parser that splits on every `+`
/// refuses about one key in six. Every one of 256 keys must round-trip, private and public.
#[test]
fn encoded_keys_round_trip_even_when_their_base64_contains_plus() {
    let mut with_plus = 0;
    for seed in 0..=255u8 {
        let signer = NoteSigner::from_seed(ORIGIN, &[seed; 32]).unwrap();
        let public = signer.verifier().encode();
        let private = signer.encode();
        if public.matches('+').count() > 2 || private.expose().matches('+').count() > 4 {
            with_plus += 1;
        }
        let v = NoteVerifier::from_encoded(&public).unwrap_or_else(|e| panic!("{public}: {e}"));
        assert_eq!(v, signer.verifier());
        assert_eq!(v.key_id(), signer.key_id());
        let again = NoteSigner::from_encoded(private.expose()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(again.verifier(), signer.verifier());
        // The key ID is checked against the key.
        let id = format!("+{:08x}+", signer.key_id());
        let wrong = format!("+{:08x}+", signer.key_id() ^ 1);
        assert!(NoteVerifier::from_encoded(&public.replacen(&id, &wrong, 1)).is_err());
        assert!(NoteSigner::from_encoded(&private.expose().replacen(&id, &wrong, 1)).is_err());
    }
    assert!(with_plus > 0, "no key exercised a `+` in base64");
}

#[test]
fn proof_files_round_trip_and_verify_for_every_index() {
    let verifier = signer().verifier();
    for size in [1u64, 2, 7, 8, 37] {
        for index in 0..size {
            for extra in [None, Some(Vec::new()), Some(b"opaque \x00\xff bytes".to_vec())] {
                let (file, leaf) = proof_file(size, index, extra);
                let text = file.to_text();
                let parsed = ProofFile::parse(&text).unwrap();
                assert_eq!(parsed, file);
                assert_eq!(parsed.to_text(), text);
                let cp = parsed.verify(&leaf, &verifier).unwrap();
                assert_eq!((cp.checkpoint.size, cp.checkpoint.origin.as_str()), (size, ORIGIN));
                assert!(parsed.verify(&leaf_hash(b"another entry"), &verifier).is_err());
                let stranger = NoteSigner::from_seed(ORIGIN, &[9u8; 32]).unwrap().verifier();
                assert!(parsed.verify(&leaf, &stranger).is_err());
            }
        }
    }
}

/// The one-byte changes tried at every position: a flipped low bit, a flipped case bit, and
/// the bytes that matter to the line structure.
fn one_byte_changes(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    let bytes = text.as_bytes();
    (0..bytes.len()).flat_map(move |i| {
        let b = bytes[i];
        [b ^ 0x01, b ^ 0x20, b'\n', b' ', b'A', b'0', b'/'].into_iter().filter(move |&c| c != b).filter_map(move |c| {
            let mut changed = bytes.to_vec();
            changed[i] = c;
            String::from_utf8(changed).ok().map(|s| (i, s))
        })
    })
}

fn accepted(text: &str, leaf: &Hash, verifier: &NoteVerifier) -> Option<ProofFile> {
    let file = ProofFile::parse(text).ok()?;
    file.verify(leaf, verifier).ok()?;
    Some(file)
}

/// Every line of a proof file without `extra` is covered: the header, the index, each proof
/// hash (base64 is decoded strictly, so each hash has one spelling), the checkpoint body under
/// its signature, and the signature line.
#[test]
fn every_one_byte_change_to_a_proof_file_is_rejected() {
    let verifier = signer().verifier();
    for (size, index) in [(1u64, 0u64), (13, 6), (16, 15), (21, 0)] {
        let (file, leaf) = proof_file(size, index, None);
        let text = file.to_text();
        assert!(accepted(&text, &leaf, &verifier).is_some());
        let mut tried = 0;
        for (at, changed) in one_byte_changes(&text) {
            assert!(
                accepted(&changed, &leaf, &verifier).is_none(),
                "size {size} index {index}: the change at byte {at} was accepted:\n{changed}"
            );
            tried += 1;
        }
        assert!(tried > 5 * text.len(), "{tried} changes for {} bytes", text.len());
    }
}

/// The `extra` line is opaque and unauthenticated (c2sp.org/tlog-proof): a change that keeps it
/// valid base64 is accepted and shows up as different extra data. Every change elsewhere is
/// still rejected.
#[test]
fn the_extra_line_is_not_authenticated_but_everything_else_is() {
    let verifier = signer().verifier();
    let (file, leaf) = proof_file(13, 6, Some(b"some extra data".to_vec()));
    let text = file.to_text();
    let extra_line = text.lines().nth(1).unwrap();
    assert!(extra_line.starts_with("extra "));
    let extra_span = text.find(extra_line).unwrap()..text.find(extra_line).unwrap() + extra_line.len();
    let mut accepted_in_extra = 0;
    for (at, changed) in one_byte_changes(&text) {
        match accepted(&changed, &leaf, &verifier) {
            None => {}
            Some(got) => {
                assert!(extra_span.contains(&at), "the change at byte {at} was accepted:\n{changed}");
                assert_ne!(got.extra, file.extra);
                assert_eq!(
                    (got.index, &got.proof, &got.checkpoint_note),
                    (file.index, &file.proof, &file.checkpoint_note)
                );
                accepted_in_extra += 1;
            }
        }
    }
    assert!(accepted_in_extra > 0);
}

#[test]
fn malformed_proof_files_are_errors() {
    let (file, _) = proof_file(13, 6, None);
    let good = file.to_text();
    let hash0 = file.proof[0].to_base64();
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("no header", good.replacen("c2sp.org/tlog-proof@v1\n", "", 1)),
        ("other header", good.replacen("tlog-proof@v1", "tlog-proof@v2", 1)),
        ("header with trailing space", good.replacen("@v1\n", "@v1 \n", 1)),
        ("no index line", good.replacen("index 6\n", "", 1)),
        ("leading zero", good.replacen("index 6\n", "index 06\n", 1)),
        ("leading zeros on zero", good.replacen("index 6\n", "index 00\n", 1)),
        ("sign", good.replacen("index 6\n", "index +6\n", 1)),
        ("negative", good.replacen("index 6\n", "index -6\n", 1)),
        ("two spaces", good.replacen("index 6\n", "index  6\n", 1)),
        ("trailing space", good.replacen("index 6\n", "index 6 \n", 1)),
        ("empty index", good.replacen("index 6\n", "index \n", 1)),
        ("hex index", good.replacen("index 6\n", "index 0x6\n", 1)),
        ("index over u64", good.replacen("index 6\n", "index 18446744073709551616\n", 1)),
        ("index past the tree", good.replacen("index 6\n", "index 13\n", 1)),
        ("bad base64 hash", good.replacen(&hash0, "not base64!", 1)),
        ("unpadded hash", good.replacen(&hash0, hash0.trim_end_matches('='), 1)),
        ("short hash", good.replacen(&hash0, "AAAA", 1)),
        ("hash with trailing space", good.replacen(&hash0, &format!("{hash0} "), 1)),
        ("bad base64 extra", good.replacen("index 6\n", "extra %%%\nindex 6\n", 1)),
        ("extra after index", good.replacen("index 6\n", "index 6\nextra AAAA\n", 1)),
        ("no blank line", good.replacen("\n\n", "\n", 1)),
        ("no checkpoint", good[..good.find("\n\n").unwrap() + 2].to_string()),
        ("CRLF", good.replace('\n', "\r\n")),
        ("65 hashes", good.replacen("index 6\n", &format!("index 6\n{}", format!("{hash0}\n").repeat(65)), 1)),
    ];
    let verifier = signer().verifier();
    let leaf = leaf_hash(&entries(13)[6]);
    for (what, text) in cases {
        assert_ne!(text, good, "{what}: the case did not change the file");
        let r = ProofFile::parse(&text).and_then(|f| f.verify(&leaf, &verifier).map(drop));
        assert!(r.is_err(), "{what}: accepted");
    }
    assert!(matches!(
        ProofFile::parse(&good.replacen("index 6\n", "index 06\n", 1)),
        Err(LedgerError::Malformed { .. })
    ));
    assert!(matches!(
        ProofFile::parse(&good.replacen("index 6\n", "extra %%%\nindex 6\n", 1)),
        Err(LedgerError::Malformed { .. })
    ));
}

/// Text shaped like a proof file, so the generator reaches past the first line.
fn proof_file_like() -> impl Strategy<Value = String> {
    (
        prop::option::of("[A-Za-z0-9+/=]{0,12}"),
        "[0-9]{0,21}",
        prop::collection::vec("[A-Za-z0-9+/=]{40,46}", 0..4),
        ".{0,40}",
        "[0-9]{0,21}",
        prop::option::of("\u{2014} [a-z./]{0,12} [A-Za-z0-9+/=]{0,100}"),
    )
        .prop_map(|(extra, index, hashes, origin, size, sig)| {
            let mut s = String::from("c2sp.org/tlog-proof@v1\n");
            if let Some(e) = extra {
                s.push_str(&format!("extra {e}\n"));
            }
            s.push_str(&format!("index {index}\n"));
            for h in hashes {
                s.push_str(&h);
                s.push('\n');
            }
            s.push_str(&format!("\n{origin}\n{size}\n{}\n\n", Hash([3u8; 32]).to_base64()));
            if let Some(sig) = sig {
                s.push_str(&sig);
                s.push('\n');
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(s in any::<String>()) {
        let verifier = signer().verifier();
        let _ = ProofFile::parse(&s);
        let _ = Checkpoint::parse(&s);
        let _ = verifier.open(&s);
        let _ = SignedCheckpoint::open(&s, &verifier);
        let _ = NoteVerifier::from_encoded(&s);
        let _ = NoteSigner::from_encoded(&s);
    }

    #[test]
    fn parsers_never_panic_on_near_proof_files(s in proof_file_like()) {
        let verifier = signer().verifier();
        if let Ok(file) = ProofFile::parse(&s) {
            prop_assert!(file.verify(&Hash([0u8; 32]), &verifier).is_err());
        }
        let _ = Checkpoint::parse(&s);
        let _ = verifier.open(&s);
    }

    /// Splicing arbitrary text into a valid proof file never panics and is never accepted.
    #[test]
    fn spliced_proof_files_are_rejected(at in 0usize..400, cut in 0usize..8, insert in ".{0,6}") {
        let (file, leaf) = proof_file(13, 6, None);
        let text = file.to_text();
        let mut at = at % text.len();
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let changed = format!("{}{insert}{}", &text[..at], &text[end..]);
        prop_assume!(changed != text);
        prop_assert!(accepted(&changed, &leaf, &signer().verifier()).is_none(), "accepted:\n{}", changed);
    }
}
