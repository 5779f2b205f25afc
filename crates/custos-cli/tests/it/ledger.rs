//! The ledger commands on a healthy ledger: append, verify, checkpoint, proof, consistency,
//! export, replay and key, in text and `--json`.

use serde_json::Value;

use crate::support::{Ledger, ORIGIN, exported_is};

#[test]
fn append_prints_a_receipt_covered_by_a_checkpoint() {
    let l = Ledger::new();
    let out = l.run(&["ledger", "append", "--kind", "policy.proposed", "--data", r#"{"a":1}"#]).ok();
    assert!(out.stdout.starts_with("appended entry 1 (leaf "), "{}", out.stdout);
    assert!(out.stdout.trim_end().ends_with("covered by checkpoint of size 2"), "{}", out.stdout);

    let r = l
        .run(&["--json", "ledger", "append", "--kind", "policy.proposed", "--data", "{}", "--agent", "bot-1"])
        .ok()
        .json();
    assert_eq!(r["index"], 2);
    assert_eq!(r["tree_size"], 3);
    assert_eq!(r["checkpoint"]["size"], 3);
    assert_eq!(r["checkpoint"]["root"], r["root"]);
    assert!(r["checkpoint"]["note"].as_str().unwrap().starts_with(&format!("{ORIGIN}\n3\n")), "{r}");
    assert!(r["leaf_hash"].as_str().is_some_and(|h| h.len() == 44), "{r}");
    // Entry 2 of 3: its inclusion proof is its left sibling subtree (entries 0 and 1).
    assert_eq!(r["inclusion"].as_array().unwrap().len(), 1);
}

#[test]
fn append_records_kind_data_agent_and_actor() {
    let l = Ledger::new();
    l.run(&["ledger", "append", "--kind", "policy.proposed", "--data", r#"{"tool":"search"}"#, "--agent", "bot-1"])
        .ok();
    l.run(&["ledger", "append", "--kind", "probe.result", "--data", r#"{"n":2}"#, "--actor", "alice"]).ok();
    let export = l.export();
    let e: Vec<Value> = export.iter().map(|s| serde_json::from_str(s).unwrap()).collect();
    assert_eq!(e[0]["kind"], "key.rotated");
    assert_eq!(e[0]["data"]["verifier_key"], l.verifier_key());
    assert_eq!(e[1]["kind"], "policy.proposed");
    assert_eq!(e[1]["data"]["tool"], "search");
    assert_eq!(e[1]["agent"], "bot-1");
    assert_eq!(e[1]["actor"]["id"], "tester", "the default actor is $USER");
    assert_eq!(e[2]["kind"], "probe.result");
    assert_eq!(e[2]["actor"]["id"], "alice");
    assert!(e[2].get("agent").is_none(), "{}", e[2]);
}

#[test]
fn verify_reports_a_healthy_ledger() {
    let l = Ledger::with_entries(4);
    let out = l.run(&["ledger", "verify"]).ok();
    assert!(out.stdout.starts_with("ledger verified: 5 entries"), "{}", out.stdout);
    let v = l.run(&["--json", "ledger", "verify"]).ok().json();
    assert_eq!(v["verified"], true);
    assert_eq!(v["entries"], 5);
    assert_eq!(v["latest_checkpoint"], 5);
    assert_eq!(v["unsigned_tail"], 0);
    assert_eq!(v["first_bad_index"], Value::Null);
    assert_eq!(v["failures"], serde_json::json!([]));
    assert!(v["checkpoints"].as_u64().unwrap() >= 2, "{v}");
    // The data dir's own verifier key, given explicitly, verifies too.
    l.run(&["ledger", "verify", "--key", &l.verifier_key()]).ok();
}

#[test]
fn checkpoint_signs_the_current_tree() {
    let l = Ledger::with_entries(2);
    let out = l.run(&["ledger", "checkpoint"]).ok();
    assert!(out.stdout.starts_with(&format!("{ORIGIN}\n3\n")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("\n— {ORIGIN} ")), "{}", out.stdout);
    let v = l.run(&["--json", "ledger", "checkpoint"]).ok().json();
    assert_eq!(v["size"], 3);
    let verify = l.run(&["--json", "ledger", "verify"]).ok().json();
    assert_eq!(v["root"], verify["root"]);
    assert_eq!(v["note"].as_str().unwrap(), out.stdout);
}

#[test]
fn export_prints_exactly_the_entries() {
    let l = Ledger::with_entries(7);
    let out = l.run(&["ledger", "export"]).ok();
    assert!(out.stdout.ends_with('\n') && !out.stdout.ends_with("\n\n"));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 8, "one line per entry");
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["v"], 1);
        // Each line is the entry's canonical bytes: re-serializing (sorted keys, no spaces)
        // gives the line back.
        assert_eq!(serde_json::to_string(&v).unwrap(), *line);
    }
    // Sorted: `--stdin` does not yet keep input order (see stdin.rs).
    let mut is = exported_is(&l.export());
    is.sort_unstable();
    assert_eq!(is, (1..=7).collect::<Vec<_>>());

    let part = l.run(&["ledger", "export", "--from", "2", "--to", "4"]).ok();
    assert_eq!(part.stdout.lines().collect::<Vec<_>>(), lines[2..4]);
    let tail = l.run(&["ledger", "export", "--from", "6"]).ok();
    assert_eq!(tail.stdout.lines().collect::<Vec<_>>(), lines[6..]);
    let empty = l.run(&["ledger", "export", "--from", "8"]).ok();
    assert_eq!(empty.stdout, "");

    let file = l.root().join("out.jsonl");
    let to_file = l.cmd().args(["ledger", "export", "-o"]).arg(&file).output().unwrap();
    assert!(to_file.status.success() && to_file.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out.stdout);

    l.run(&["ledger", "export", "--from", "9"]).fails(3, &["--from 9", "past the end"]);
}

#[test]
fn proof_prints_a_c2sp_tlog_proof() {
    let l = Ledger::new();
    let receipt = l.append(r#"{"a":1}"#);
    l.append(r#"{"a":2}"#);
    let text = l.run(&["ledger", "proof", "--index", "1"]).ok();
    assert!(text.stdout.starts_with("c2sp.org/tlog-proof@v1\nindex 1\n"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!("\n\n{ORIGIN}\n3\n")),
        "proved against the latest checkpoint: {}",
        text.stdout
    );

    let v = l.run(&["--json", "ledger", "proof", "--index", "1"]).ok().json();
    assert_eq!(v["index"], 1);
    assert_eq!(v["leaf_hash"], receipt["leaf_hash"]);
    assert_eq!(v["tlog_proof"].as_str().unwrap(), text.stdout);
    assert!(v["checkpoint"].as_str().unwrap().starts_with(&format!("{ORIGIN}\n3\n")), "{v}");
    assert_eq!(v["proof"].as_array().unwrap().len(), 2);

    // Against the older checkpoint of size 2, which the first append signed.
    let old = l.run(&["--json", "ledger", "proof", "--index", "1", "--size", "2"]).ok().json();
    assert!(old["checkpoint"].as_str().unwrap().starts_with(&format!("{ORIGIN}\n2\n")), "{old}");
    assert_eq!(old["checkpoint"], receipt["checkpoint"]["note"]);
    assert!(old["tlog_proof"].as_str().unwrap().starts_with("c2sp.org/tlog-proof@v1\n"));
}

#[test]
fn proof_refuses_a_missing_checkpoint_or_index() {
    let l = Ledger::with_entries(2);
    l.run(&["ledger", "proof", "--index", "1", "--size", "77"]).fails(3, &["no checkpoint of size 77"]);
    l.run(&["ledger", "proof", "--index", "99"]).fails(3, &["99"]);
    l.run(&["ledger", "proof", "--index", "3"]).fails(3, &["index 3", "out of range"]);
    // Entry 2 exists but is not covered by the checkpoint of size 2.
    l.run(&["ledger", "proof", "--index", "2", "--size", "1"]).fails(3, &["entry 2", "size 1"]);
}

#[test]
fn consistency_prints_both_roots_and_the_proof() {
    let l = Ledger::with_entries(5);
    let verify = l.run(&["--json", "ledger", "verify"]).ok().json();
    let v = l.run(&["--json", "ledger", "consistency", "--from", "2", "--to", "6"]).ok().json();
    assert_eq!(v["from"], 2);
    assert_eq!(v["to"], 6);
    assert_eq!(v["to_root"], verify["root"]);
    assert_ne!(v["from_root"], v["to_root"]);
    assert!(!v["proof"].as_array().unwrap().is_empty());

    let text = l.run(&["ledger", "consistency", "--from", "2", "--to", "6"]).ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines[0], format!("from 2 {}", v["from_root"].as_str().unwrap()));
    assert_eq!(lines[1], format!("to 6 {}", v["to_root"].as_str().unwrap()));
    let proof: Vec<&str> = v["proof"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(lines[2..], proof);

    l.run(&["ledger", "consistency", "--from", "4", "--to", "2"]).fails(3, &["--from 4 is larger than --to 2"]);
    l.run(&["ledger", "consistency", "--from", "1", "--to", "99"]).fails(3, &["99", "out of range"]);
}

#[test]
fn replay_rebuilds_identical_projections() {
    let l = Ledger::with_entries(3);
    let out = l.run(&["ledger", "replay"]).ok();
    assert!(out.stdout.starts_with("rebuilt the projections from 4 entries"), "{}", out.stdout);
    assert!(out.stdout.contains("identical"), "{}", out.stdout);
    let v = l.run(&["--json", "ledger", "replay"]).ok().json();
    assert_eq!(v["entries"], 4);
    assert_eq!(v["identical"], true);
    assert_eq!(v["digest_before"], v["digest_after"]);
    assert!(v["digest_after"].as_str().is_some_and(|d| d.len() == 64), "{v}");
    // Replay does not change the ledger.
    assert_eq!(l.size(), 4);
}

#[test]
fn key_prints_the_verifier_key() {
    let l = Ledger::new();
    assert_eq!(l.run(&["ledger", "key"]).ok().stdout, format!("{}\n", l.verifier_key()));
    let v = l.run(&["--json", "ledger", "key"]).ok().json();
    assert_eq!(v["verifier_key"], l.verifier_key());
    assert_eq!(v["origin"], ORIGIN);
    let id = v["key_id"].as_str().unwrap();
    assert!(id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert!(l.verifier_key().contains(&format!("+{id}+")), "{v}");
}

#[test]
fn verify_with_another_key_of_the_same_origin_is_not_verified() {
    let a = Ledger::new();
    let b = Ledger::new();
    let out = a.run(&["ledger", "verify", "--key", &b.verifier_key()]).code(2);
    assert!(out.stdout.starts_with("ledger NOT verified: first problem at checkpoint of size 1"), "{}", out.stdout);
    let v = a.run(&["--json", "ledger", "verify", "--key", &b.verifier_key()]).code(2).json();
    assert_eq!(v["verified"], false);
    a.run(&["ledger", "verify", "--key", "garbage"]).fails(3, &["malformed verifier key", "`garbage`"]);
}
