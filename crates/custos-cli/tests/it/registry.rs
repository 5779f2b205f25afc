//! The registry commands in direct mode (on the data dir): `agent …` and `owner …`. Every
//! operation appends exactly one ledger event that names its actor, agent and reason; every
//! refusal and every bad input exits 3 with a message naming what is wrong, and appends nothing.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Ledger, Out, assert_event, epoch_secs, files, keys};

const DAY: i64 = 86_400;

/// Runs `args`, which must succeed, and asserts that it appended exactly one entry and left the
/// entries before it as they were; returns the command's output and the new entry.
#[track_caller]
fn appends_one(l: &Ledger, args: &[&str]) -> (Out, Value) {
    let before = l.export();
    let out = l.run(args).ok();
    let after = l.export();
    assert_eq!(after.len(), before.len() + 1, "`{}` appended {} entries", args.join(" "), after.len() - before.len());
    assert_eq!(after[..before.len()], before[..], "`{}` changed earlier entries", args.join(" "));
    let e: Value = serde_json::from_str(after.last().unwrap()).unwrap();
    if args.contains(&"--json") {
        let o = out.json();
        assert_eq!(o["event"]["index"], before.len() as u64, "{o}");
        assert_eq!(o["event"]["kind"], e["kind"], "{o}");
        assert_eq!(o.as_object().unwrap().len(), 2, "the outcome is {{value, event}}: {o}");
    }
    (out, e)
}

/// Runs `args` and asserts that it fails with `code`, saying every one of `needles`, and that
/// the ledger is exactly `before`.
#[track_caller]
fn refused(l: &Ledger, before: &crate::support::State, args: &[&str], code: i32, needles: &[&str]) -> Out {
    let out = l.run(args);
    assert_eq!(out.code, Some(code), "`{}`\n--- stdout\n{}\n--- stderr\n{}", args.join(" "), out.stdout, out.stderr);
    let out = out.fails(code, needles);
    assert_eq!(&l.state(), before, "the refused `{}` changed the ledger", args.join(" "));
    out
}

fn ids(page: &Value) -> Vec<&str> {
    page["agents"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect()
}

fn list(l: &Ledger, filters: &[&str]) -> Value {
    let mut args = vec!["--json", "agent", "list"];
    args.extend_from_slice(filters);
    let page = l.run(&args).ok().json();
    assert_eq!(keys(&page), ["agents", "next"], "{page}");
    page
}

fn cred_ids(l: &Ledger, agent: &str) -> Vec<String> {
    let v = l.run(&["--json", "agent", "token", "list", agent]).ok().json();
    v.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn register_records_every_field_in_one_event() {
    let l = Ledger::new();
    let (out, e) = appends_one(
        &l,
        &[
            "--json",
            "--actor",
            "alice",
            "agent",
            "register",
            "payments/refund-bot",
            "--env",
            "prod",
            "--owner",
            "bob@example.com",
            "--sponsor",
            "team:payments",
            "--purpose",
            "refunds under 50 EUR",
            "--tier",
            "high",
            "--label",
            "pci",
            "--label",
            "team=payments",
            "--recert-days",
            "30",
            "--reason",
            "new bot",
            "--name",
            "Refund Bot",
        ],
    );
    let o = out.json();
    assert_eq!(o["event"], json!({"index": 1, "kind": "agent.registered"}));
    let a = &o["value"];
    for (k, v) in [
        ("id", json!("payments/refund-bot")),
        ("name", json!("Refund Bot")),
        ("owner", json!("bob@example.com")),
        ("sponsor", json!("team:payments")),
        ("purpose", json!("refunds under 50 EUR")),
        ("environment", json!("prod")),
        ("risk_tier", json!("high")),
        ("labels", json!(["pci", "team=payments"])),
        ("state", json!("registered")),
        ("orphaned", json!(false)),
        ("granted_policy", Value::Null),
        ("recert_interval_days", json!(30)),
        ("provenance", json!([])),
        ("last_index", json!(1)),
    ] {
        assert_eq!(a[k], v, "{k}: {a}");
    }
    assert_eq!(epoch_secs(&a["recert_due"]) - epoch_secs(&a["certified_at"]), 30 * DAY, "{a}");
    assert_eq!(a["registered_at"], e["ts"]);

    assert_event(&e, "agent.registered", "alice", Some("payments/refund-bot"), "new bot");
    assert_eq!(
        e["data"],
        json!({
            "name": "Refund Bot",
            "owner": "bob@example.com",
            "sponsor": "team:payments",
            "purpose": "refunds under 50 EUR",
            "environment": "prod",
            "risk_tier": "high",
            "labels": ["pci", "team=payments"],
            "recert_interval_days": 30,
            "reason": "new bot",
        })
    );
}

#[test]
fn register_defaults_and_the_default_actor() {
    let l = Ledger::new();
    let (out, e) = appends_one(&l, &["agent", "register", "bot-1", "--env", "dev"]);
    assert_eq!(out.stdout, "registered `bot-1`: now registered (ledger entry 1, agent.registered)\n");
    assert_event(&e, "agent.registered", "tester", Some("bot-1"), "no reason given");
    assert_eq!(
        e["data"],
        json!({
            "name": "bot-1",
            "purpose": "",
            "environment": "dev",
            "risk_tier": "medium",
            "labels": [],
            "recert_interval_days": 90,
            "reason": "no reason given",
        }),
        "no owner and no sponsor are absent from the event"
    );
    let a = l.run(&["--json", "agent", "show", "bot-1"]).ok().json()["agent"].clone();
    assert_eq!(a["owner"], Value::Null);
    assert_eq!(epoch_secs(&a["recert_due"]) - epoch_secs(&a["certified_at"]), 90 * DAY);

    // The actor comes from CUSTOS_ACTOR too, and --actor beats it.
    let before = l.export().len();
    Out::of(l.cmd().env("CUSTOS_ACTOR", "carol").args(["agent", "register", "bot-2", "--env", "dev"]), None).ok();
    Out::of(
        l.cmd().env("CUSTOS_ACTOR", "carol").args(["--actor", "dave", "agent", "register", "bot-3", "--env", "dev"]),
        None,
    )
    .ok();
    let ev = l.events();
    assert_eq!(ev.len(), before + 2);
    assert_eq!(ev[before]["actor"]["id"], "carol");
    assert_eq!(ev[before + 1]["actor"]["id"], "dave");
}

#[test]
fn lifecycle_operations_each_append_one_state_change() {
    let l = Ledger::new();
    l.run(&["agent", "register", "ops/bot", "--env", "prod", "--owner", "alice", "--recert-days", "7"]).ok();

    let (out, e) =
        appends_one(&l, &["--json", "--actor", "alice", "agent", "approve", "ops/bot", "--reason", "reviewed"]);
    assert_event(&e, "agent.state_changed", "alice", Some("ops/bot"), "reviewed");
    assert_eq!(e["data"], json!({"op": "approve", "from": "registered", "to": "active", "reason": "reviewed"}));
    let a = out.json()["value"].clone();
    assert_eq!(a["state"], "active");
    // Approval is the first certification: the recertification clock starts at the event.
    assert_eq!(a["certified_at"], e["ts"]);
    assert_eq!(epoch_secs(&a["recert_due"]) - epoch_secs(&a["certified_at"]), 7 * DAY);

    let (out, e) = appends_one(&l, &["agent", "suspend", "ops/bot"]);
    assert_eq!(out.stdout, "suspend `ops/bot`: now suspended (ledger entry 3, agent.state_changed)\n");
    assert_event(&e, "agent.state_changed", "tester", Some("ops/bot"), "no reason given");
    assert_eq!(e["data"], json!({"op": "suspend", "from": "active", "to": "suspended", "reason": "no reason given"}));

    let (out, e) = appends_one(&l, &["--actor", "bob", "agent", "resume", "ops/bot", "--reason", "fixed"]);
    assert_eq!(out.stdout, "resume `ops/bot`: now active (ledger entry 4, agent.state_changed)\n");
    assert_event(&e, "agent.state_changed", "bob", Some("ops/bot"), "fixed");
    assert_eq!(e["data"], json!({"op": "resume", "from": "suspended", "to": "active", "reason": "fixed"}));

    // Two tokens, one revoked by hand: retiring revokes (and lists) only the live one.
    l.run(&["agent", "token", "issue", "ops/bot"]).ok();
    l.run(&["agent", "token", "issue", "ops/bot"]).ok();
    let creds = cred_ids(&l, "ops/bot");
    l.run(&["agent", "token", "revoke", "ops/bot", &creds[0]]).ok();
    let (out, e) = appends_one(&l, &["--json", "agent", "retire", "ops/bot", "--reason", "decommissioned"]);
    assert_eq!(out.json()["value"]["state"], "retired");
    assert_event(&e, "agent.state_changed", "tester", Some("ops/bot"), "decommissioned");
    assert_eq!(
        e["data"],
        json!({"op": "retire", "from": "active", "to": "retired", "reason": "decommissioned",
               "revoked_count": 1, "revoked_credentials": [creds[1]]})
    );
    let tokens = l.run(&["--json", "agent", "token", "list", "ops/bot"]).ok().json();
    assert!(tokens.as_array().unwrap().iter().all(|t| t["revoked_at"].is_string()), "{tokens}");
    assert_eq!(tokens[1]["revoked_at"], e["ts"]);
    assert!(tokens[1]["revoked_reason"].as_str().unwrap().contains("decommissioned"), "{tokens}");

    // A registered agent can be retired directly.
    l.run(&["agent", "register", "ops/never", "--env", "dev"]).ok();
    let (_, e) = appends_one(&l, &["agent", "retire", "ops/never"]);
    assert_eq!(e["data"], json!({"op": "retire", "from": "registered", "to": "retired", "reason": "no reason given"}));
}

#[test]
fn update_changes_fields_and_owner_alone_is_an_owner_change() {
    let l = Ledger::new();
    l.run(&["agent", "register", "bot", "--env", "dev", "--sponsor", "s1", "--label", "a", "--label", "b"]).ok();

    let (out, e) = appends_one(
        &l,
        &[
            "--json",
            "--actor",
            "alice",
            "agent",
            "update",
            "bot",
            "--name",
            "Bot",
            "--purpose",
            "triage",
            "--env",
            "staging",
            "--tier",
            "critical",
            "--add-label",
            "c",
            "--remove-label",
            "a",
            "--sponsor",
            "s2",
            "--recert-days",
            "10",
            "--reason",
            "clean up",
        ],
    );
    assert_event(&e, "agent.updated", "alice", Some("bot"), "clean up");
    assert_eq!(
        e["data"]["changes"],
        json!({
            "name": {"from": "bot", "to": "Bot"},
            "purpose": {"from": "", "to": "triage"},
            "environment": {"from": "dev", "to": "staging"},
            "risk_tier": {"from": "medium", "to": "critical"},
            "labels": {"from": ["a", "b"], "to": ["b", "c"]},
            "sponsor": {"from": "s1", "to": "s2"},
            "recert_interval_days": {"from": 90, "to": 10},
        })
    );
    let a = out.json()["value"].clone();
    assert_eq!(
        (&a["name"], &a["environment"], &a["risk_tier"], &a["sponsor"]),
        (&json!("Bot"), &json!("staging"), &json!("critical"), &json!("s2"))
    );
    assert_eq!(a["labels"], json!(["b", "c"]));
    assert_eq!(epoch_secs(&a["recert_due"]) - epoch_secs(&a["certified_at"]), 10 * DAY);
    assert_eq!(a["state"], "registered", "an update does not change the state");

    // Only the fields that change are recorded; --label replaces the whole set.
    let (out, e) = appends_one(&l, &["agent", "update", "bot", "--label", "x", "--label", "y", "--name", "Bot"]);
    assert_eq!(out.stdout, "updated `bot`: now registered (ledger entry 3, agent.updated)\n");
    assert_eq!(
        e["data"],
        json!({"changes": {"labels": {"from": ["b", "c"], "to": ["x", "y"]}}, "reason": "no reason given"})
    );
    let (_, e) = appends_one(&l, &["agent", "update", "bot", "--clear-sponsor"]);
    assert_eq!(e["data"]["changes"], json!({"sponsor": {"from": "s2", "to": null}}));

    // --owner alone: a separate event kind.
    let (out, e) =
        appends_one(&l, &["--json", "agent", "update", "bot", "--owner", "carol", "--reason", "first owner"]);
    assert_event(&e, "agent.owner_changed", "tester", Some("bot"), "first owner");
    assert_eq!(e["data"], json!({"from": null, "to": "carol", "reason": "first owner"}));
    assert_eq!(out.json()["value"]["owner"], "carol");
    let (out, e) = appends_one(&l, &["agent", "update", "bot", "--owner", "dave"]);
    assert_eq!(out.stdout, "updated `bot`: now registered (ledger entry 6, agent.owner_changed)\n");
    assert_eq!(e["data"], json!({"from": "carol", "to": "dave", "reason": "no reason given"}));

    // --owner with another field is a usage error.
    let before = l.state();
    for other in [["--name", "x"], ["--tier", "low"], ["--label", "z"], ["--sponsor", "s3"]] {
        let args = ["agent", "update", "bot", "--owner", "erin", other[0], other[1]];
        refused(&l, &before, &args, 3, &["--owner", other[0], "cannot be used with"]);
    }
    refused(&l, &before, &["agent", "update", "bot", "--owner", "erin", "--clear-sponsor"], 3, &["--owner"]);
    refused(&l, &before, &["agent", "update", "bot", "--sponsor", "x", "--clear-sponsor"], 3, &["--clear-sponsor"]);
}

#[test]
fn tokens_are_shown_once_and_only_their_hash_is_kept() {
    let l = Ledger::new();
    l.run(&["agent", "register", "bot", "--env", "prod", "--owner", "alice"]).ok();
    l.run(&["agent", "approve", "bot"]).ok();

    let (out, e) =
        appends_one(&l, &["--actor", "alice", "agent", "token", "issue", "bot", "--ttl", "30d", "--reason", "deploy"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(
        lines[0].starts_with("issued cred_") && lines[0].ends_with(" for `bot` (ledger entry 3)"),
        "{}",
        out.stdout
    );
    assert!(lines[1].starts_with("expires "), "{}", out.stdout);
    assert_eq!(lines[3], "token (shown once; only its SHA-256 is stored):");
    let token1 = lines[4].trim().to_owned();
    assert!(token1.len() == 68 && token1.starts_with("cst_"), "{token1}");
    assert!(token1[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{token1}");
    assert_eq!(out.stdout.matches("cst_").count(), 1, "the token is printed exactly once");

    assert_event(&e, "credential.issued", "alice", Some("bot"), "deploy");
    let cred1 = e["data"]["id"].as_str().unwrap().to_owned();
    assert!(lines[0].contains(&cred1));
    assert_eq!(e["data"]["sha256"], hex::encode(Sha256::digest(token1.as_bytes())));
    assert_eq!(e["data"].as_object().unwrap().len(), 4, "id, sha256, expires_at, reason: {e}");
    let ttl = epoch_secs(&e["data"]["expires_at"]) - epoch_secs(&e["ts"]);
    assert!((30 * DAY - 2..=30 * DAY).contains(&ttl), "a 30d token lives {ttl} s");

    let (out, e) = appends_one(&l, &["--json", "agent", "token", "issue", "bot"]);
    let v = out.json()["value"].clone();
    let token2 = v["token"].as_str().unwrap().to_owned();
    assert!(token2.len() == 68 && token2.starts_with("cst_") && token2 != token1, "{token2}");
    let c = &v["credential"];
    assert_eq!(c["id"], e["data"]["id"]);
    assert_eq!(c["agent"], "bot");
    assert_eq!(c["issued_index"], 4);
    assert_eq!(
        (&c["revoked_at"], &c["revoked_reason"], &c["last_used_at"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    let ttl = epoch_secs(&c["expires_at"]) - epoch_secs(&c["created_at"]);
    assert!((90 * DAY - 2..=90 * DAY).contains(&ttl), "the default lifetime is 90 days, not {ttl} s");
    assert_event(&e, "credential.issued", "tester", Some("bot"), "no reason given");

    // Listing shows id, created, expires, last used, never the token.
    let text = l.run(&["agent", "token", "list", "bot"]).ok().stdout;
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with(&format!("{cred1}  created ")), "{text}");
    for r in &rows {
        for part in ["  created ", "  expires ", "  last used never", "  live"] {
            assert!(r.contains(part), "`{part}` missing: {r}");
        }
    }
    let json = l.run(&["--json", "agent", "token", "list", "bot"]).ok().stdout;
    let parsed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        keys(&parsed[0]),
        ["agent", "created_at", "expires_at", "id", "issued_index", "last_used_at", "revoked_at", "revoked_reason"]
    );
    // The tokens appear nowhere: not in lists, the agent, the ledger, or any file.
    let show_text = l.run(&["agent", "show", "bot"]).ok().stdout;
    let show_json = l.run(&["--json", "agent", "show", "bot"]).ok().stdout;
    let export = l.export().join("\n");
    for t in [&token1, &token2] {
        for (what, s) in [
            ("token list", &text),
            ("token list --json", &json),
            ("show", &show_text),
            ("show --json", &show_json),
            ("export", &export),
        ] {
            assert!(!s.contains(t.as_str()) && !s.contains("cst_"), "{what} shows a token");
        }
        for (path, bytes) in files(&l.dir) {
            assert!(!bytes.windows(t.len()).any(|w| w == t.as_bytes()), "{} holds a token", path.display());
        }
    }

    // Revoke, once.
    let (out, e) = appends_one(&l, &["agent", "token", "revoke", "bot", &cred1, "--reason", "leaked"]);
    assert_eq!(out.stdout, format!("revoked {cred1} of `bot` (ledger entry 5)\n"));
    assert_event(&e, "credential.revoked", "tester", Some("bot"), "leaked");
    assert_eq!(e["data"], json!({"id": cred1, "reason": "leaked"}));
    let text = l.run(&["agent", "token", "list", "bot"]).ok().stdout;
    assert!(text.lines().next().unwrap().ends_with(&format!("revoked {}", e["ts"].as_str().unwrap())), "{text}");
    assert!(text.lines().nth(1).unwrap().ends_with("live"), "{text}");
    let (out, e) = appends_one(&l, &["--json", "agent", "token", "revoke", "bot", c["id"].as_str().unwrap()]);
    let v = out.json()["value"].clone();
    assert_eq!((&v["revoked_at"], &v["revoked_reason"]), (&e["ts"], &json!("no reason given")));

    // An agent without tokens.
    l.run(&["agent", "register", "quiet", "--env", "dev"]).ok();
    assert_eq!(l.run(&["agent", "token", "list", "quiet"]).ok().stdout, "no tokens\n");
    assert_eq!(l.run(&["--json", "agent", "token", "list", "quiet"]).ok().json(), json!([]));
}

#[test]
fn offboarding_an_owner_orphans_their_live_agents() {
    let l = Ledger::new();
    for (id, owner) in [("c/active", "carol"), ("c/registered", "carol"), ("c/retired", "carol"), ("d/one", "dave")] {
        l.run(&["agent", "register", id, "--env", "prod", "--owner", owner]).ok();
    }
    l.run(&["agent", "approve", "c/active"]).ok();
    l.run(&["agent", "retire", "c/retired"]).ok();

    let (out, e) =
        appends_one(&l, &["--json", "--actor", "hr", "owner", "offboard", "carol", "--reason", "left the company"]);
    let o = out.json();
    assert_eq!(
        o["value"],
        json!({"owner": "carol", "agents": ["c/active", "c/registered"], "reason": "left the company"})
    );
    assert_eq!(o["event"]["kind"], "owner.offboarded");
    assert_event(&e, "owner.offboarded", "hr", None, "left the company");
    assert_eq!(
        e["data"],
        json!({"owner": "carol", "orphaned_count": 2, "agents": ["c/active", "c/registered"], "reason": "left the company"})
    );
    let offboarded_at = e["ts"].clone();
    let index = o["event"]["index"].clone();

    assert_eq!(ids(&list(&l, &["--orphaned"])), ["c/active", "c/registered"]);
    let shown = l.run(&["--json", "agent", "show", "c/active"]).ok().json();
    assert_eq!(shown["agent"]["orphaned"], true);
    assert_eq!(shown["agent"]["state"], "active", "offboarding does not stop an agent");
    assert_eq!(shown["history"].as_array().unwrap().last().unwrap()["index"], index, "{shown}");
    assert!(
        l.run(&["agent", "show", "c/active"]).ok().stdout.contains("state:        active (orphaned: owner offboarded)")
    );
    let retired = l.run(&["--json", "agent", "show", "c/retired"]).ok().json();
    assert_eq!(retired["agent"]["orphaned"], false);
    assert_eq!(retired["history"].as_array().unwrap().len(), 2, "the offboarding is not in a retired agent's history");

    let owners = l.run(&["--json", "owner", "list"]).ok().json();
    assert_eq!(
        owners,
        json!([
            {"owner": "carol", "agents": 2, "orphaned": 2, "offboarded_at": offboarded_at},
            {"owner": "dave", "agents": 1, "orphaned": 0, "offboarded_at": null},
        ])
    );
    let text = l.run(&["owner", "list"]).ok().stdout;
    let rows: Vec<Vec<&str>> = text.lines().map(|r| r.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["OWNER", "AGENTS", "ORPHANED", "OFFBOARDED"]);
    assert_eq!(rows[1], ["carol", "2", "2", offboarded_at.as_str().unwrap()]);
    assert_eq!(rows[2], ["dave", "1", "0", "-"]);

    let (out, e) = appends_one(&l, &["owner", "offboard", "dave"]);
    assert_eq!(out.stdout, "offboarded `dave` (ledger entry 8); 1 agent orphaned: d/one\n");
    assert_event(&e, "owner.offboarded", "tester", None, "no reason given");
    let (out, _) = appends_one(&l, &["owner", "offboard", "erin"]);
    assert_eq!(out.stdout, "offboarded `erin` (ledger entry 9); 0 agents orphaned\n");
    assert!(l.run(&["owner", "list"]).ok().stdout.lines().any(|r| r.starts_with("erin ")));

    // A new owner ends the orphaning; then the agent can be approved again.
    let (_, e) = appends_one(&l, &["agent", "update", "c/registered", "--owner", "frank", "--reason", "takes over"]);
    assert_eq!(e["data"], json!({"from": "carol", "to": "frank", "reason": "takes over"}));
    assert_eq!(ids(&list(&l, &["--orphaned"])), ["c/active", "d/one"]);
    appends_one(&l, &["agent", "approve", "c/registered"]);
    let owners = l.run(&["--json", "owner", "list"]).ok().json();
    assert_eq!(owners[0], json!({"owner": "carol", "agents": 1, "orphaned": 1, "offboarded_at": offboarded_at}));
}

#[test]
fn list_filters_and_pages() {
    let l = Ledger::new();
    l.run(&["agent", "register", "a/one", "--env", "prod", "--owner", "alice", "--label", "pci"]).ok();
    l.run(&["agent", "register", "a/two", "--env", "staging", "--owner", "alice"]).ok();
    l.run(&["agent", "register", "b/one", "--env", "dev", "--owner", "bob", "--label", "pci", "--label", "x"]).ok();
    l.run(&["agent", "register", "b/two", "--env", "prod"]).ok();
    l.run(&["agent", "register", "c/one", "--env", "prod", "--owner", "carol", "--recert-days", "1"]).ok();
    l.run(&["agent", "approve", "a/one"]).ok();
    l.run(&["owner", "offboard", "carol"]).ok();

    let all = list(&l, &[]);
    assert_eq!(ids(&all), ["a/one", "a/two", "b/one", "b/two", "c/one"]);
    assert_eq!(all["next"], Value::Null);
    for (filters, want) in [
        (vec!["--state", "active"], vec!["a/one"]),
        (vec!["--state", "registered"], vec!["a/two", "b/one", "b/two", "c/one"]),
        (vec!["--state", "retired"], vec![]),
        (vec!["--owner", "alice"], vec!["a/one", "a/two"]),
        (vec!["--owner", "nobody"], vec![]),
        (vec!["--env", "prod"], vec!["a/one", "b/two", "c/one"]),
        (vec!["--env", "dev"], vec!["b/one"]),
        (vec!["--orphaned"], vec!["c/one"]),
        (vec!["--overdue"], vec![]),
        (vec!["--label", "pci"], vec!["a/one", "b/one"]),
        (vec!["--label", "x"], vec!["b/one"]),
        (vec!["--env", "prod", "--owner", "alice"], vec!["a/one"]),
        (vec!["--env", "prod", "--label", "pci", "--state", "registered"], vec![]),
        (vec!["--after", "b/one"], vec!["b/two", "c/one"]),
    ] {
        assert_eq!(ids(&list(&l, &filters)), want, "{filters:?}");
    }

    // Pages: `next` is the cursor while a page is full.
    let p1 = list(&l, &["--limit", "2"]);
    assert_eq!((ids(&p1), &p1["next"]), (vec!["a/one", "a/two"], &json!("a/two")));
    let p2 = list(&l, &["--limit", "2", "--after", "a/two"]);
    assert_eq!((ids(&p2), &p2["next"]), (vec!["b/one", "b/two"], &json!("b/two")));
    let p3 = list(&l, &["--limit", "2", "--after", "b/two"]);
    assert_eq!((ids(&p3), &p3["next"]), (vec!["c/one"], &Value::Null));
    let p = list(&l, &["--limit", "1000"]);
    assert_eq!(ids(&p).len(), 5);

    // Text: a table, flags, and a hint on stderr when more follow.
    let out = l.run(&["agent", "list"]).ok();
    let rows: Vec<Vec<&str>> = out.stdout.lines().map(|r| r.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["ID", "STATE", "OWNER", "ENV", "TIER", "RECERT", "DUE", "FLAGS"]);
    assert_eq!(rows.len(), 6, "{}", out.stdout);
    assert_eq!(rows[1][..5], ["a/one", "active", "alice", "prod", "medium"]);
    assert_eq!(rows[4][..3], ["b/two", "registered", "-"]);
    assert_eq!(rows[5].last(), Some(&"orphaned"));
    assert_eq!(out.stderr, "");
    let out = l.run(&["agent", "list", "--limit", "2"]).ok();
    assert_eq!(out.stdout.lines().count(), 3);
    assert!(out.stderr.contains("more agents follow: add `--after a/two`"), "{}", out.stderr);
    assert_eq!(l.run(&["agent", "list", "--state", "retired"]).ok().stdout.lines().count(), 1, "just the header");
}

#[test]
fn show_has_the_agent_its_tokens_and_its_history_with_ledger_indices() {
    let l = Ledger::new();
    l.run(&["agent", "register", "bot", "--env", "prod", "--owner", "alice", "--reason", "new"]).ok();
    l.run(&["agent", "register", "other", "--env", "prod"]).ok();
    l.run(&["--actor", "alice", "agent", "approve", "bot", "--reason", "ok"]).ok();
    l.run(&["agent", "token", "issue", "bot"]).ok();
    l.run(&["agent", "update", "bot", "--purpose", "p"]).ok();

    let v = l.run(&["--json", "agent", "show", "bot"]).ok().json();
    assert_eq!(keys(&v), ["agent", "history", "tokens"]);
    assert_eq!(v["agent"]["id"], "bot");
    assert_eq!(v["agent"]["purpose"], "p");
    assert_eq!(v["agent"]["last_index"], 5);
    assert_eq!(v["tokens"].as_array().unwrap().len(), 1);
    let events = l.events();
    let history = v["history"].as_array().unwrap();
    let indices: Vec<u64> = history.iter().map(|h| h["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, [1, 3, 4, 5], "entry 2 is about another agent");
    for h in history {
        assert_eq!(h["event"], events[h["index"].as_u64().unwrap() as usize], "history shows the ledger's entry");
    }

    let text = l.run(&["agent", "show", "bot"]).ok().stdout;
    for part in [
        "bot  (bot)",
        "  state:        active",
        "  owner:        alice",
        "  sponsor:      -",
        "  purpose:      p",
        "  environment:  prod",
        "  risk tier:    medium",
        "  labels:       -",
        "  recertify:    every 90 days; due ",
        "\ntokens:\n  cred_",
        "history (ledger index, time, kind, actor, reason):",
    ] {
        assert!(text.contains(part), "`{part}` missing:\n{text}");
    }
    let hist: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("history"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(hist.len(), 4, "{text}");
    assert_eq!([hist[0][0], hist[0][2], hist[0][3], hist[0][4]], ["#1", "agent.registered", "tester", "new"]);
    assert_eq!([hist[1][0], hist[1][2], hist[1][3], hist[1][4]], ["#3", "agent.state_changed", "alice", "ok"]);
    assert_eq!(hist[3][0], "#5");
}

/// A data dir with one agent in each interesting state:
/// `no/owner` registered without owner, `reg/one` registered, `act/one` active with a revoked
/// token (returned), `sus/one` suspended, `ret/one` retired, `orph/one` orphaned (carol left).
fn zoo() -> (Ledger, String) {
    let l = Ledger::new();
    l.run(&["agent", "register", "no/owner", "--env", "dev"]).ok();
    for id in ["reg/one", "act/one", "sus/one", "ret/one"] {
        l.run(&["agent", "register", id, "--env", "prod", "--owner", "alice"]).ok();
    }
    l.run(&["agent", "register", "orph/one", "--env", "prod", "--owner", "carol"]).ok();
    for (op, id) in [("approve", "act/one"), ("approve", "sus/one"), ("suspend", "sus/one"), ("retire", "ret/one")] {
        l.run(&["agent", op, id]).ok();
    }
    l.run(&["agent", "token", "issue", "act/one"]).ok();
    let cred = cred_ids(&l, "act/one").remove(0);
    l.run(&["agent", "token", "revoke", "act/one", &cred]).ok();
    l.run(&["owner", "offboard", "carol"]).ok();
    (l, cred)
}

#[test]
fn refused_transitions_exit_3_and_append_nothing() {
    let (l, cred) = zoo();
    let before = l.state();
    let cases: &[(&[&str], &[&str])] = &[
        (&["agent", "approve", "no/owner"], &["`no/owner`", "cannot approve an agent without an owner"]),
        (&["agent", "approve", "act/one"], &["`act/one`", "cannot approve an agent that is active"]),
        (&["agent", "approve", "sus/one"], &["`sus/one`", "resume it instead"]),
        (&["agent", "approve", "orph/one"], &["`orph/one`", "orphaned", "carol"]),
        (&["agent", "approve", "ret/one"], &["`ret/one`", "retired"]),
        (&["agent", "suspend", "reg/one"], &["`reg/one`", "cannot suspend an agent that is registered"]),
        (&["agent", "suspend", "sus/one"], &["already suspended"]),
        (&["agent", "resume", "act/one"], &["`act/one`", "cannot resume an agent that is active"]),
        (&["agent", "resume", "reg/one"], &["approve it instead"]),
        (&["agent", "resume", "ret/one"], &["`ret/one`", "cannot resume", "retirement is final"]),
        (&["agent", "retire", "ret/one"], &["`ret/one`", "cannot retire an agent that is retired"]),
        (&["agent", "update", "ret/one", "--name", "x"], &["`ret/one`", "retired"]),
        (&["agent", "update", "ret/one", "--owner", "bob"], &["`ret/one`", "retired"]),
        (&["agent", "token", "issue", "ret/one"], &["`ret/one`", "retired"]),
        (&["agent", "token", "revoke", "act/one", &cred], &[&cred, "already revoked"]),
        (&["agent", "token", "revoke", "act/one", "cred_0000000000000000"], &["cred_0000000000000000", "act/one"]),
        (&["agent", "register", "act/one", "--env", "prod"], &["`act/one`", "already registered"]),
        (&["owner", "offboard", "carol"], &["`carol`", "already offboarded"]),
        (&["agent", "register", "new/one", "--env", "prod", "--owner", "carol"], &["owner", "`carol`", "offboarded"]),
        (
            &["agent", "register", "new/one", "--env", "prod", "--sponsor", "carol"],
            &["sponsor", "`carol`", "offboarded"],
        ),
        (&["agent", "update", "reg/one", "--owner", "carol"], &["owner", "`carol`", "offboarded"]),
        (&["agent", "update", "reg/one", "--sponsor", "carol"], &["sponsor", "`carol`", "offboarded"]),
        (&["agent", "update", "reg/one", "--owner", "alice"], &["already owned by `alice`"]),
        (&["agent", "update", "reg/one", "--name", "reg/one", "--env", "prod"], &["nothing to change"]),
        (&["agent", "update", "reg/one", "--clear-sponsor"], &["nothing to change"]),
        (&["agent", "update", "reg/one"], &["nothing to change"]),
    ];
    for (args, needles) in cases {
        refused(&l, &before, args, 3, needles);
        // The same refusal with --json: still an error on stderr, nothing on stdout.
        let mut json = vec!["--json"];
        json.extend_from_slice(args);
        refused(&l, &before, &json, 3, needles);
    }
}

#[test]
fn bad_input_exits_3_naming_the_field_and_appends_nothing() {
    let (l, _) = zoo();
    let before = l.state();
    let long_name = "n".repeat(129);
    let long_purpose = "p".repeat(2049);
    let many_labels: Vec<String> = (0..65).map(|i| format!("l{i}")).collect();
    let mut too_many = vec!["agent", "register", "new/one", "--env", "prod"];
    for lab in &many_labels {
        too_many.extend_from_slice(&["--label", lab]);
    }
    let cases: &[(&[&str], &[&str])] = &[
        (&["agent", "register", "Bad/ID", "--env", "prod"], &["id", "`Bad/ID`"]),
        (&["agent", "register", "a//b", "--env", "prod"], &["id", "`a//b`"]),
        (&["agent", "show", "Bad/ID"], &["id", "`Bad/ID`"]),
        (&["agent", "show", "nope/x"], &["agent `nope/x` is not registered"]),
        (&["agent", "approve", "nope/x"], &["agent `nope/x` is not registered"]),
        (&["agent", "update", "nope/x", "--name", "n"], &["agent `nope/x` is not registered"]),
        (&["agent", "token", "issue", "nope/x"], &["agent `nope/x` is not registered"]),
        (&["agent", "token", "list", "nope/x"], &["agent `nope/x` is not registered"]),
        (&["agent", "register", "new/one", "--env", "prd"], &["--env", "`prd`", "prod, staging, dev"]),
        (&["agent", "register", "new/one"], &["--env"]),
        (
            &["agent", "register", "new/one", "--env", "prod", "--tier", "x"],
            &["--tier", "`x`", "low, medium, high, critical"],
        ),
        (&["agent", "register", "new/one", "--env", "prod", "--label", "Bad Label"], &["--label", "`Bad Label`"]),
        (&["agent", "register", "new/one", "--env", "prod", "--owner", "a b"], &["--owner", "`a b`"]),
        (&["agent", "register", "new/one", "--env", "prod", "--name", &long_name], &["name", "128"]),
        (&["agent", "register", "new/one", "--env", "prod", "--name", "  "], &["name", "blank"]),
        (&["agent", "register", "new/one", "--env", "prod", "--purpose", &long_purpose], &["purpose", "2048"]),
        (&["agent", "register", "new/one", "--env", "prod", "--reason", "a\u{7}b"], &["reason", "control character"]),
        (&["agent", "register", "new/one", "--env", "prod", "--recert-days", "0"], &["--recert-days", "1..=3650"]),
        (&["agent", "register", "new/one", "--env", "prod", "--recert-days", "3651"], &["--recert-days", "3650"]),
        (&too_many, &["labels", "64"]),
        (&["agent", "update", "reg/one", "--env", "prd"], &["--env", "`prd`"]),
        (&["agent", "update", "reg/one", "--add-label", "Bad"], &["--add-label", "`Bad`"]),
        (&["agent", "update", "reg/one", "--name", &long_name], &["name", "128"]),
        (&["agent", "token", "issue", "act/one", "--ttl", "3y"], &["--ttl", "`3y`"]),
        (&["agent", "token", "issue", "act/one", "--ttl", "d"], &["--ttl"]),
        (&["agent", "token", "issue", "act/one", "--ttl", "0s"], &["--ttl", "zero"]),
        (&["agent", "token", "issue", "act/one", "--ttl", "3651d"], &["--ttl", "3650-day maximum"]),
        (&["agent", "token", "issue", "act/one", "--ttl", "99999999999999999999d"], &["--ttl"]),
        (&["agent", "list", "--limit", "0"], &["--limit", "between 1 and 1000"]),
        (&["agent", "list", "--limit", "1001"], &["--limit", "between 1 and 1000"]),
        (&["agent", "list", "--state", "bogus"], &["--state", "`bogus`"]),
        (&["agent", "list", "--env", "prd"], &["--env", "`prd`"]),
        (&["agent", "list", "--label", "Bad Label"], &["--label"]),
        (&["agent", "list", "--after", "Bad"], &["--after", "`Bad`"]),
        (&["owner", "offboard", "a b"], &["owner", "`a b`"]),
        (&["--actor", "bad actor", "agent", "register", "new/one", "--env", "prod"], &["--actor", "`bad actor`"]),
    ];
    for (args, needles) in cases {
        refused(&l, &before, args, 3, needles);
    }
}

#[test]
fn replay_after_a_mix_of_operations_gives_identical_digests() {
    let (l, _) = zoo();
    l.run(&["agent", "update", "reg/one", "--name", "R", "--add-label", "pci", "--recert-days", "30"]).ok();
    l.run(&["agent", "update", "orph/one", "--owner", "dave"]).ok();
    l.run(&["agent", "approve", "orph/one"]).ok();
    l.run(&["agent", "resume", "sus/one"]).ok();
    l.run(&["agent", "token", "issue", "sus/one"]).ok();
    l.run(&["agent", "retire", "sus/one"]).ok();
    l.run(&["owner", "offboard", "alice"]).ok();
    let entries = l.export().len() as u64;
    let agents = l.run(&["--json", "agent", "list"]).ok().stdout;
    let owners = l.run(&["--json", "owner", "list"]).ok().stdout;
    let shown = l.run(&["--json", "agent", "show", "act/one"]).ok().stdout;

    let r = l.run(&["--json", "ledger", "replay"]).ok().json();
    assert_eq!(r["identical"], true, "{r}");
    assert_eq!(r["digest_before"], r["digest_after"]);
    assert_eq!(r["entries"], entries);
    let text = l.run(&["ledger", "replay"]).ok().stdout;
    assert!(text.contains("identical: the live projections matched the ledger"), "{text}");

    assert_eq!(l.run(&["--json", "agent", "list"]).ok().stdout, agents);
    assert_eq!(l.run(&["--json", "owner", "list"]).ok().stdout, owners);
    assert_eq!(l.run(&["--json", "agent", "show", "act/one"]).ok().stdout, shown);
    assert_eq!(l.export().len() as u64, entries, "replay appends nothing");
    l.size();
}

#[test]
fn ledger_append_refuses_registry_kinds() {
    let l = Ledger::new();
    l.run(&["agent", "register", "bot", "--env", "dev"]).ok();
    let before = l.state();
    for kind in [
        "agent.registered",
        "agent.updated",
        "agent.owner_changed",
        "agent.state_changed",
        "credential.issued",
        "credential.revoked",
        "owner.offboarded",
    ] {
        let args = ["ledger", "append", "--kind", kind, "--data", r#"{"reason":"x"}"#, "--agent", "bot"];
        refused(&l, &before, &args, 3, &[kind, "custos agent"]);
        let line = format!("{{\"kind\":\"{kind}\",\"data\":{{}}}}\n");
        l.run_stdin(&["ledger", "append", "--stdin"], &line).fails(3, &["line 1", kind]);
        assert_eq!(l.state(), before, "--stdin appended a `{kind}`");
    }
    // Other kinds still append, and about a registered agent too.
    let (_, e) = appends_one(&l, &["ledger", "append", "--kind", "policy.proposed", "--data", "{}", "--agent", "bot"]);
    assert_eq!(e["kind"], "policy.proposed");
}
