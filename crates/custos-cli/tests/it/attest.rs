//! `custos attest` and `custos verify`: a bundle out of the data dir, verified offline with only
//! the public key; a tampered bundle is named not verified (2), an unreadable one refused (3).

use std::fs;

use crate::support::Ledger;

#[test]
fn a_bundle_verifies_offline_and_tampering_is_named() {
    let l = Ledger::new();
    l.run(&["agent", "register", "ops/bot", "--env", "dev", "--owner", "alice"]).ok();
    l.run(&["agent", "approve", "ops/bot"]).ok();
    let bundle = l.root().join("bundle.json");
    let b = bundle.display().to_string();
    l.run(&["attest", "--agent", "ops/bot", "-o", &b]).ok();
    let key = l.verifier_key();
    // Offline: only the file and the public key.
    let out = l.run(&["verify", &b, "--key", &key]).ok();
    assert!(out.stdout.contains("ok   completeness"), "{}", out.stdout);

    let mut env: serde_json::Value = serde_json::from_slice(&fs::read(&bundle).unwrap()).unwrap();
    let sig = env["signatures"][0]["sig"].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
    env["signatures"][0]["sig"] = flipped.into();
    let tampered = l.root().join("tampered.json");
    fs::write(&tampered, env.to_string()).unwrap();
    let out = l.run(&["verify", &tampered.display().to_string(), "--key", &key]).code(2);
    assert!(out.stdout.contains("FAIL signature"), "{}", out.stdout);

    let truncated = l.root().join("truncated.json");
    fs::write(&truncated, &fs::read(&bundle).unwrap()[..100]).unwrap();
    l.run(&["verify", &truncated.display().to_string(), "--key", &key]).fails(3, &["truncated"]);
    l.run(&["verify", &b, "--key", "not-a-key"]).fails(3, &["--key"]);
    l.run(&["attest", "--agent", "Bad Id"]).fails(3, &["--agent"]);
}

#[test]
fn control_coverage_follows_the_ledger() {
    let l = Ledger::new();
    let before = l.run(&["--json", "controls", "coverage", "--framework", "nist-ai-rmf"]).ok().json();
    let govern_1_6 = |v: &serde_json::Value| {
        v.as_array().unwrap().iter().find(|c| c["id"] == "govern-1.6").unwrap()["status"].as_str().unwrap().to_string()
    };
    assert_eq!(govern_1_6(&before), "no_evidence", "{before:#}");
    l.run(&["agent", "register", "ops/bot", "--env", "dev", "--owner", "alice"]).ok();
    let after =
        l.run(&["--json", "controls", "coverage", "--framework", "nist-ai-rmf", "--agent", "ops/bot"]).ok().json();
    assert_ne!(govern_1_6(&after), "no_evidence", "an inventory event now evidences the inventory control: {after:#}");
    l.run(&["controls", "coverage", "--framework", "nope"]).fails(3, &["--framework"]);
}
