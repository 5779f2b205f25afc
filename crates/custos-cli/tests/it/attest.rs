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

/// Writes `args` output to a file under the ledger's root and returns its path.
fn out_path(l: &Ledger, name: &str) -> String {
    l.root().join(name).display().to_string()
}

#[test]
fn attest_all_writes_one_verifiable_line_per_agent_and_a_tampered_line_is_named() {
    let l = Ledger::new();
    for a in ["ops/a", "ops/b", "ops/c"] {
        l.run(&["agent", "register", a, "--env", "dev", "--owner", "alice"]).ok();
    }
    l.run(&["agent", "approve", "ops/b"]).ok();
    let file = out_path(&l, "all.intoto.jsonl");
    l.run(&["attest", "--all", "-o", &file]).ok();
    let text = fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let key = l.verifier_key();
    let out = l.run(&["verify", &file, "--key", &key]).ok();
    assert!(out.stdout.contains("all 3 bundles verified"), "{}", out.stdout);
    for a in ["ops/a", "ops/b", "ops/c"] {
        assert!(out.stdout.contains(&format!("(`{a}`): verified")), "{}", out.stdout);
    }

    // Line 2 re-encoded with another payload: its signature no longer holds.
    let mut env: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    let sig = env["signatures"][0]["sig"].as_str().unwrap().to_string();
    env["signatures"][0]["sig"] = format!("{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]).into();
    let tampered = format!("{}\n{}\n{}\n", lines[0], env, lines[2]);
    let bad = out_path(&l, "tampered.intoto.jsonl");
    fs::write(&bad, tampered).unwrap();
    let out = l.run(&["verify", &bad, "--key", &key]).code(2);
    assert!(out.stdout.contains("1 of 3 bundles not verified: line 2 (`ops/b`)"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL signature"), "{}", out.stdout);

    // A line that is not a bundle at all is named too, and the others still verify.
    let broken = out_path(&l, "broken.intoto.jsonl");
    fs::write(&broken, format!("{}\n{{\"nope\": 1}}\n", lines[0])).unwrap();
    let out = l.run(&["verify", &broken, "--key", &key]).code(2);
    assert!(out.stdout.contains("line 2: NOT VERIFIED"), "{}", out.stdout);
    l.run(&["verify", &broken, "--key", &key, "--previous", &file]).fails(3, &["--previous"]);

    l.run(&["attest", "--all", "--agent", "ops/a"]).fails(3, &["--all"]);
    l.run(&["attest"]).fails(3, &["--agent"]);
}

#[test]
fn a_time_window_leaves_out_events_outside_it() {
    let l = Ledger::new();
    l.run(&["agent", "register", "ops/bot", "--env", "dev", "--owner", "alice"]).ok();
    l.run(&["agent", "approve", "ops/bot"]).ok();
    let events = l.events();
    let ts = |kind: &str| events.iter().rev().find(|e| e["kind"] == kind).unwrap()["ts"].as_str().unwrap().to_string();
    let registered = ts("agent.registered");
    let approved = ts("agent.state_changed");
    let statement = |args: &[&str]| {
        let mut all = vec!["attest", "--agent", "ops/bot"];
        all.extend_from_slice(args);
        let env = l.run(&all).ok().json();
        let payload = base64_decode(env["payload"].as_str().unwrap());
        serde_json::from_slice::<serde_json::Value>(&payload).unwrap()
    };
    let kinds = |s: &serde_json::Value| -> Vec<String> {
        s["predicate"]["lifecycle"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let whole = statement(&[]);
    assert_eq!(whole["predicate"]["evidence"]["range"]["count"], 2, "{whole:#}");

    let early = statement(&["--to", &registered]);
    assert_eq!(early["predicate"]["evidence"]["range"]["count"], 1);
    assert_eq!(kinds(&early), ["agent.registered"]);
    assert_eq!(early["predicate"]["window"]["to_time"], registered.as_str());

    // The earlier exports' anchors come after --from and are about the agent: they are in.
    let late = kinds(&statement(&["--from", &approved]));
    assert!(!late.iter().any(|k| k == "agent.registered"), "the registration lies before --from: {late:?}");
    assert_eq!(late.first().map(String::as_str), Some("agent.state_changed"), "{late:?}");

    l.run(&["attest", "--agent", "ops/bot", "--from", "yesterday"]).fails(3, &["--from"]);
    l.run(&["attest", "--agent", "ops/bot", "--from", &approved, "--to", &registered]).fails(3, &["--from", "--to"]);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    STANDARD.decode(s).unwrap()
}

#[test]
fn the_predicate_carries_control_coverage() {
    let l = Ledger::new();
    l.run(&["agent", "register", "ops/bot", "--env", "dev", "--owner", "alice"]).ok();
    let env = l.run(&["attest", "--agent", "ops/bot"]).ok().json();
    let stmt: serde_json::Value = serde_json::from_slice(&base64_decode(env["payload"].as_str().unwrap())).unwrap();
    let controls = stmt["predicate"]["controls"].as_array().unwrap();
    assert!(!controls.is_empty(), "{stmt:#}");
    assert!(
        controls.iter().any(|c| c["status"] == "evidenced" || c["status"] == "partial"),
        "a registration evidences the inventory controls: {controls:#?}"
    );
    let govern = controls.iter().find(|c| c["id"] == "govern-1.6").unwrap();
    assert_ne!(govern["status"], "no_evidence", "{govern:#}");
}

#[test]
fn oscal_and_html_reports_are_made_from_the_anchored_bundle() {
    let l = Ledger::new();
    l.run(&["agent", "register", "ops/bot", "--env", "dev", "--owner", "alice"]).ok();
    l.run(&["agent", "approve", "ops/bot"]).ok();
    let key = l.verifier_key();

    let size = l.size();
    let oscal = l.run(&["attest", "--agent", "ops/bot", "--format", "oscal"]).ok().json();
    let ar = &oscal["assessment-results"];
    assert!(ar.is_object(), "{oscal:#}");
    assert!(ar["results"][0]["findings"].as_array().is_some_and(|f| !f.is_empty()), "{oscal:#}");
    assert!(l.size() > size, "the export is anchored in the ledger whatever the format");

    let html_file = out_path(&l, "report.html");
    let kept = out_path(&l, "bundle.intoto.json");
    l.run(&["attest", "--agent", "ops/bot", "--format", "html", "-o", &html_file, "--bundle", &kept]).ok();
    let html = fs::read_to_string(&html_file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..100]);
    assert!(html.contains("ops/bot"));
    assert!(html.contains("approve: registered → active"), "the lifecycle has one-line summaries");
    assert!(html.contains(crate::support::ORIGIN), "the verification facts name the checkpoint's origin");
    l.run(&["verify", &kept, "--key", &key]).ok();

    l.run(&["attest", "--agent", "ops/bot", "--format", "pdf"]).fails(3, &["--format"]);
    l.run(&["attest", "--all", "--format", "html"]).fails(3, &["--all"]);
    l.run(&["attest", "--agent", "ops/bot", "--bundle", &kept]).fails(3, &["--bundle"]);
}

#[test]
fn the_inventory_lists_every_agent() {
    let l = Ledger::new();
    l.run(&["agent", "register", "ops/bot", "--env", "dev", "--owner", "alice"]).ok();
    l.run(&["agent", "register", "pay/refunds", "--env", "prod", "--owner", "bob"]).ok();
    let size = l.size();
    let bom = l.run(&["inventory", "--format", "cyclonedx"]).ok().json();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    let refs: Vec<&str> =
        bom["components"].as_array().unwrap().iter().map(|c| c["bom-ref"].as_str().unwrap()).collect();
    assert_eq!(refs, ["agent:ops/bot", "agent:pay/refunds"]);

    let file = out_path(&l, "inventory.json");
    l.run(&["inventory", "--format", "json", "-o", &file]).ok();
    let inv: serde_json::Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(inv["summary"]["agents"], 2, "{inv:#}");
    assert!(inv["agents"].as_array().unwrap().iter().any(|a| a["id"] == "ops/bot"), "{inv:#}");
    assert_eq!(l.size(), size, "an inventory reads, it appends nothing");
    l.run(&["inventory", "--format", "spdx"]).fails(3, &["--format"]);
}

#[test]
fn probe_list_shows_the_builtin_pack_and_names_a_broken_pack_s_line() {
    let l = Ledger::new();
    let v = l.run(&["--json", "probe", "list"]).ok().json();
    let probes = v["probes"].as_array().unwrap();
    assert!(probes.len() >= 60, "{}", probes.len());
    assert_eq!(v["pack"]["sha256"].as_str().unwrap().len(), 64);
    assert!(probes.iter().any(|p| p["asi"] == "ASI01" && p["channel"] == "tool_result"));
    let table = l.run(&["probe", "list"]).ok();
    assert!(table.stdout.contains("ASI10"), "{}", table.stdout);
    let bad = l.root().join("bad.toml");
    fs::write(&bad, "[pack]\nname = \"x\"\nversion = \"1\"\ndescription = \"d\"\n\n[[probe]]\nid = \n").unwrap();
    l.run(&["probe", "list", "--pack", &bad.display().to_string()]).fails(3, &["bad.toml", "line 7"]);
}
