//! Evidence bundles on a real SQLite ledger: round trip, tampering with every part, a dropped
//! event, another key, bad input, and consistency between two exports.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use custos_attest::{
    AttestOptions, Bundle, Envelope, PreviousExport, VerifyError, VerifyReport, WindowRequest, attest, attest_many,
    bundle::events_sha256,
    dsse::{IN_TOTO_PAYLOAD_TYPE, keyid},
    parse_key, previous_of,
    statement::derive,
    to_jsonl, verify, verify_jsonl,
};
use custos_core::{Actor, AgentId, Entry, Event, EventKind, canonical, registry::AgentRegistered};
use custos_ledger::{Checkpoint, Hash, NoteSigner, NoteVerifier, hash::leaf_hash};
use custos_store::{
    Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use serde_json::{Value, json};

const ORIGIN: &str = "test.custos/ledger";
const BOT: &str = "payments/refund-bot";
const OTHER: &str = "ops/other-bot";

fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[42u8; 32]).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn id(s: &str) -> AgentId {
    s.parse().unwrap()
}

fn register(agent: &str, owner: &str) -> Event {
    let p = AgentRegistered {
        name: agent.replace('/', " "),
        owner: Some(owner.parse().unwrap()),
        sponsor: None,
        purpose: "refunds".into(),
        environment: "prod".parse().unwrap(),
        risk_tier: "high".parse().unwrap(),
        labels: Default::default(),
        recert_interval_days: 90,
        provenance: vec![],
        reason: "onboarding".into(),
    };
    Event::new(Actor::user("alice".parse().unwrap()), Some(id(agent)), &p).unwrap()
}

fn ev(kind: EventKind, agent: Option<&str>, data: Value) -> Event {
    let actor = if agent.is_some() && kind == EventKind::GatewayDecision {
        Actor { kind: custos_core::ActorType::Agent, id: "refund-bot".parse().unwrap() }
    } else {
        Actor::user("alice".parse().unwrap())
    };
    Event::from_parts(kind, actor, agent.map(id), data).unwrap()
}

/// `n` more events: gateway decisions for both agents and for none, a first use, a probe, a
/// recertification and a policy change for the bot.
async fn fill(store: &SqliteStore, n: u64, salt: u64) {
    let mut pending = Vec::new();
    for i in 0..n {
        let k = i + salt;
        let e = match k % 10 {
            0..=5 => ev(
                EventKind::GatewayDecision,
                Some(BOT),
                json!({"server": "payments", "tool": format!("refund_{}", k % 3), "decision": if k.is_multiple_of(7) { "deny" } else { "allow" }, "enforced": true}),
            ),
            6 => ev(
                EventKind::GatewayDecision,
                Some(OTHER),
                json!({"server": "ops", "tool": "restart", "decision": "allow"}),
            ),
            7 => ev(EventKind::LlmCall, None, json!({"model": "m", "n": k})),
            8 if k % 40 == 8 => ev(
                EventKind::GatewayFirstUse,
                Some(BOT),
                json!({"server": "payments", "tool": format!("new_{k}"), "decision": "allow"}),
            ),
            8 => {
                ev(EventKind::ProbeResult, Some(BOT), json!({"probe": "prompt-injection", "result": "passed", "n": k}))
            }
            _ if k % 50 == 9 => ev(EventKind::RecertDecided, Some(BOT), json!({"decision": "keep", "n": k})),
            _ => ev(EventKind::PolicyApplied, Some(BOT), json!({"policy": "refunds", "sha256": format!("{k:064x}")})),
        };
        pending.push(store.submit(e));
    }
    for p in pending {
        p.await.unwrap();
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    rt: tokio::runtime::Runtime,
}

fn fixture(events: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(&dir.path().join("ledger.db"), signer(), SqliteOptions::default()).unwrap();
    let rt = runtime();
    rt.block_on(async {
        store.append(register(BOT, "alice")).await.unwrap();
        store.append(register(OTHER, "bob")).await.unwrap();
        store
            .append(ev(
                EventKind::AgentStateChanged,
                Some(BOT),
                json!({"op": "approve", "from": "registered", "to": "active", "reason": "reviewed"}),
            ))
            .await
            .unwrap();
        fill(&store, events, 0).await;
    });
    Fixture { _dir: dir, store, rt }
}

impl Fixture {
    fn attest(&self, window: WindowRequest, previous: Option<&PreviousExport>) -> Bundle {
        self.rt.block_on(attest(&self.store, &signer(), &id(BOT), window, previous, AttestOptions::default())).unwrap()
    }
}

fn check(bytes: &[u8], previous: Option<&PreviousExport>) -> VerifyReport {
    verify(bytes, &signer().verifier(), previous).unwrap()
}

/// The envelope and its statement as JSON, to tamper with.
fn open(bytes: &[u8]) -> (Envelope, Value) {
    let env: Envelope = serde_json::from_slice(bytes).unwrap();
    let stmt = serde_json::from_slice(&STANDARD.decode(&env.payload).unwrap()).unwrap();
    (env, stmt)
}

/// Puts `stmt` back into the envelope: re-signed with `key`, or keeping the old signature.
fn seal(env: &Envelope, stmt: &Value, key: Option<&NoteSigner>) -> Vec<u8> {
    let body = canonical::to_vec(stmt).unwrap();
    let env = match key {
        Some(k) => Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &body, k).unwrap(),
        None => Envelope { payload: STANDARD.encode(&body), ..env.clone() },
    };
    serde_json::to_vec(&env).unwrap()
}

fn flip_b64(s: &str) -> String {
    let mut raw = STANDARD.decode(s).unwrap();
    raw[0] ^= 1;
    STANDARD.encode(raw)
}

#[test]
fn a_bundle_round_trips_and_summarises_the_agent() {
    let f = fixture(300);
    let bundle = f.attest(WindowRequest::default(), None);
    let bytes = bundle.to_json().unwrap();
    let report = check(&bytes, None);
    assert!(report.verified(), "{report}");
    for part in
        ["signature", "statement", "checkpoint", "inclusion", "anchor", "consistency", "completeness", "summary"]
    {
        assert!(report.checks.iter().any(|c| c.part == part), "{part} not checked:\n{report}");
    }
    assert_eq!(report.subject.as_deref(), Some(BOT));

    let (env, stmt) = open(&bytes);
    assert_eq!(env.payload_type, "application/vnd.in-toto+json");
    assert_eq!(env.signatures[0].keyid, keyid(signer().verifier().public_key()));
    assert_eq!(stmt["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(stmt["predicateType"], "https://custos.dev/attestation/agent-evidence/v1");
    assert_eq!(stmt["subject"][0]["name"], BOT);

    let p = &bundle.statement.predicate;
    // Events of the bot: its registration, its approval and 8 of every 10 filler events.
    let bot_fill = (0..300u64).filter(|k| !matches!(k % 10, 6 | 7)).count();
    assert_eq!(p.evidence.events.len(), 2 + bot_fill);
    assert_eq!(p.evidence.range.count, p.evidence.events.len() as u64);
    assert_eq!(p.derived.behavior.calls, (0..300u64).filter(|k| k % 10 <= 5).count() as u64);
    assert_eq!(p.derived.behavior.denied, (0..300u64).filter(|k| k % 10 <= 5 && k % 7 == 0).count() as u64);
    assert_eq!(p.derived.behavior.tools.len(), 3);
    assert_eq!(p.derived.behavior.first_uses.len(), (0..300u64).filter(|k| k % 40 == 8).count());
    assert_eq!(p.derived.lifecycle.len(), 2);
    assert!(!p.derived.probes.is_empty() && !p.derived.recertifications.is_empty());
    assert!(!p.granted_scope.applied.is_empty());
    assert_eq!(p.agent.owner.as_ref().unwrap().id.as_str(), "alice");
    // The anchor lies right after the window, and the checkpoint covers it.
    assert_eq!(p.evidence.anchor.index, p.window.to_index + 1);
    let cp = Checkpoint::parse(signer().verifier().open(&p.evidence.checkpoint).unwrap()).unwrap();
    assert!(cp.size > p.evidence.anchor.index);

    // A narrower window: indices 100..=199 only.
    let narrow = f.attest(WindowRequest { from_index: Some(100), to_index: Some(199), ..Default::default() }, None);
    let n = &narrow.statement.predicate;
    assert!(n.evidence.events.iter().all(|e| (100..=199).contains(&e.index)));
    assert!(check(&narrow.to_json().unwrap(), None).verified());

    if let Ok(dir) = std::env::var("CUSTOS_WRITE_BUNDLE") {
        // For the outside verifiers (interop/attest): a good bundle, a tampered one, the key.
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("bundle.json"), &bytes).unwrap();
        let mut bad = env.clone();
        bad.payload_type = "application/vnd.in-toto+jsonx".into();
        std::fs::write(dir.join("bundle-tampered-type.json"), serde_json::to_vec(&bad).unwrap()).unwrap();
        let mut stmt2 = stmt.clone();
        stmt2["predicate"]["behavior"]["denied"] = json!(0);
        std::fs::write(dir.join("bundle-tampered-payload.json"), seal(&env, &stmt2, None)).unwrap();
        // A proof hash changed and the statement re-signed: only the proofs can tell.
        let mut stmt3 = stmt.clone();
        let h = stmt3["predicate"]["evidence"]["proof"][1].as_str().unwrap().to_string();
        stmt3["predicate"]["evidence"]["proof"][1] = json!(flip_b64(&h));
        std::fs::write(dir.join("bundle-tampered-proof.json"), seal(&env, &stmt3, Some(&signer()))).unwrap();
        std::fs::write(dir.join("pubkey.hex"), hex::encode(signer().verifier().public_key())).unwrap();
        std::fs::write(dir.join("verifier.key"), signer().verifier().encode()).unwrap();
        std::fs::write(dir.join("checkpoint.note"), &p.evidence.checkpoint).unwrap();
    }
}

#[test]
fn tampering_with_each_part_names_it() {
    let f = fixture(200);
    let bytes = f.attest(WindowRequest::default(), None).to_json().unwrap();
    let (env, stmt) = open(&bytes);

    // One character of the payload's base64.
    let mut text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("\"payload\":\"").unwrap() + 11 + 400;
    let c = text.as_bytes()[at];
    text.replace_range(at..=at, if c == b'A' { "B" } else { "A" });
    let r = check(text.as_bytes(), None);
    assert!(r.failed().contains(&"signature"), "{r}");

    // The signature.
    let mut e = env.clone();
    e.signatures[0].sig = flip_b64(&e.signatures[0].sig);
    let r = check(&serde_json::to_vec(&e).unwrap(), None);
    assert_eq!(r.failed(), ["signature"], "{r}");

    // One node of the multiproof: as is (the signature breaks too), and re-signed. The events
    // whose audit path runs through that node are named, and no other.
    let nodes = stmt["predicate"]["evidence"]["proof"].as_array().unwrap().len();
    assert!(nodes > 2);
    for k in [0, nodes / 2, nodes - 1] {
        let mut s = stmt.clone();
        let h = s["predicate"]["evidence"]["proof"][k].as_str().unwrap().to_string();
        s["predicate"]["evidence"]["proof"][k] = json!(flip_b64(&h));
        let r = check(&seal(&env, &s, None), None);
        assert!(r.failed().contains(&"signature") && r.failed().contains(&"inclusion"), "{r}");
        let r = check(&seal(&env, &s, Some(&signer())), None);
        let failed = r.failed();
        assert_eq!(failed.first(), Some(&"inclusion"), "{r}");
        let named: Vec<_> = failed[1..].iter().filter(|p| p.starts_with("inclusion[") || **p == "anchor").collect();
        assert!(!named.is_empty() && named.len() < 200, "node {k}: {r}");
        assert!(failed[1..].iter().all(|p| p.starts_with("inclusion[") || *p == "anchor"), "{r}");
    }
    // A node removed, or one added: the proof no longer fits the tree's shape.
    for change in [0usize, 1] {
        let mut s = stmt.clone();
        let proof = s["predicate"]["evidence"]["proof"].as_array_mut().unwrap();
        if change == 0 {
            proof.remove(1);
        } else {
            proof.push(proof[0].clone());
        }
        let r = check(&seal(&env, &s, Some(&signer())), None);
        assert_eq!(r.failed().first(), Some(&"inclusion"), "{r}");
        assert!(!r.failed().contains(&"completeness"), "{r}");
    }

    // The checkpoint note: one byte of its root, and one byte of its signature.
    let note = stmt["predicate"]["evidence"]["checkpoint"].as_str().unwrap().to_string();
    let root_line = note.lines().nth(2).unwrap();
    let sig_line = note.lines().last().unwrap();
    for forged in [
        note.replacen(root_line, &flip_b64(root_line), 1),
        note.replacen(
            sig_line,
            &format!(
                "{}{}",
                &sig_line[..sig_line.len() - 5],
                if sig_line.ends_with("AAAA=") { "BBBB=" } else { "AAAA=" }
            ),
            1,
        ),
    ] {
        assert_ne!(forged, note);
        let mut s = stmt.clone();
        s["predicate"]["evidence"]["checkpoint"] = json!(forged);
        let r = check(&seal(&env, &s, None), None);
        assert!(r.failed().contains(&"signature") && r.failed().contains(&"checkpoint"), "{r}");
        let r = check(&seal(&env, &s, Some(&signer())), None);
        assert!(r.failed().contains(&"checkpoint") && !r.verified(), "{r}");
        assert!(!r.failed().contains(&"signature"), "{r}");
    }

    // An entry's text.
    let mut s = stmt.clone();
    let entry = s["predicate"]["evidence"]["events"][3]["entry"].as_str().unwrap().replace("\"allow\"", "\"deny\"");
    s["predicate"]["evidence"]["events"][3]["entry"] = json!(entry);
    let r = check(&seal(&env, &s, Some(&signer())), None);
    assert!(r.failed().iter().any(|p| p.starts_with("inclusion[")), "{r}");

    // The identity record, re-signed: the subject digest no longer matches.
    let mut s = stmt.clone();
    s["predicate"]["agent"]["record"]["risk_tier"] = json!("low");
    let r = check(&seal(&env, &s, Some(&signer())), None);
    assert_eq!(r.failed(), ["statement"], "{r}");
    // A summary that says less than the events, re-signed.
    let mut s = stmt.clone();
    s["predicate"]["behavior"]["denied"] = json!(0);
    let r = check(&seal(&env, &s, Some(&signer())), None);
    assert_eq!(r.failed(), ["summary"], "{r}");
}

#[test]
fn a_dropped_event_fails_completeness_even_when_resigned() {
    let f = fixture(200);
    let bytes = f.attest(WindowRequest::default(), None).to_json().unwrap();
    let (env, stmt) = open(&bytes);
    let mut s = stmt.clone();
    // Drop a denied call and cover every trace a careful forger can: the range and the
    // summaries are recomputed, the statement re-signed with the instance key itself.
    let events = s["predicate"]["evidence"]["events"].as_array_mut().unwrap();
    let at = events.iter().position(|e| e["entry"].as_str().unwrap().contains("\"deny\"")).unwrap();
    events.remove(at);
    let kept: Vec<(u64, Event)> = events
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), Entry::parse(e["entry"].as_str().unwrap().as_bytes()).unwrap()))
        .collect();
    let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(e["entry"].as_str().unwrap().as_bytes())).collect();
    s["predicate"]["evidence"]["range"]["count"] = json!(kept.len());
    s["predicate"]["evidence"]["range"]["events_sha256"] = json!(events_sha256(&leaves));
    let (derived, applied) = derive(&kept);
    let derived = serde_json::to_value(derived).unwrap();
    for (k, v) in derived.as_object().unwrap() {
        s["predicate"][k] = v.clone();
    }
    s["predicate"]["granted_scope"]["applied"] = serde_json::to_value(applied).unwrap();
    // The forger has the ledger too, so the multiproof is rebuilt for the remaining events.
    let mut indices: Vec<u64> = kept.iter().map(|(i, _)| *i).collect();
    indices.push(s["predicate"]["evidence"]["anchor"]["index"].as_u64().unwrap());
    let note = s["predicate"]["evidence"]["checkpoint"].as_str().unwrap().to_string();
    let size = Checkpoint::parse(signer().verifier().open(&note).unwrap()).unwrap().size;
    let proof = f.rt.block_on(f.store.multiproof(indices, size)).unwrap();
    s["predicate"]["evidence"]["proof"] = json!(proof.iter().map(Hash::to_base64).collect::<Vec<_>>());
    let r = check(&seal(&env, &s, Some(&signer())), None);
    assert_eq!(r.failed(), ["completeness"], "{r}");

    // Reordered and duplicated lists fail it too.
    let mut s = stmt.clone();
    let events = s["predicate"]["evidence"]["events"].as_array_mut().unwrap();
    events.swap(4, 5);
    assert!(check(&seal(&env, &s, Some(&signer())), None).failed().contains(&"completeness"));
}

#[test]
fn another_key_fails_the_signature() {
    let f = fixture(50);
    let bytes = f.attest(WindowRequest::default(), None).to_json().unwrap();
    let (env, stmt) = open(&bytes);
    let other = NoteSigner::from_seed(ORIGIN, &[7u8; 32]).unwrap();
    let r = check(&seal(&env, &stmt, Some(&other)), None);
    assert_eq!(r.failed(), ["signature"], "{r}");
    // The right keyid with another key's signature.
    let mut e: Envelope = serde_json::from_slice(&seal(&env, &stmt, Some(&other))).unwrap();
    e.signatures[0].keyid = env.signatures[0].keyid.clone();
    let r = check(&serde_json::to_vec(&e).unwrap(), None);
    assert_eq!(r.failed(), ["signature"], "{r}");
    // Verifying with another key: the checkpoint fails as well.
    let r = verify(&bytes, &other.verifier(), None).unwrap();
    assert!(r.failed().contains(&"signature") && r.failed().contains(&"checkpoint"), "{r}");
}

#[test]
fn bad_input_is_a_typed_error() {
    let f = fixture(20);
    let bytes = f.attest(WindowRequest::default(), None).to_json().unwrap();
    let v = signer().verifier();
    assert!(matches!(verify(&bytes[..bytes.len() / 2], &v, None), Err(VerifyError::Truncated(_))));
    assert!(matches!(verify(b"", &v, None), Err(VerifyError::Truncated(_))));
    assert!(matches!(verify(b"PK\x03\x04 not json", &v, None), Err(VerifyError::NotJson(_))));
    assert!(matches!(verify(b"{\"hello\": 1}", &v, None), Err(VerifyError::NotAnEnvelope(_))));
    let (env, stmt) = open(&bytes);
    let mut s = stmt.clone();
    s["predicateType"] = json!("https://custos.dev/attestation/agent-evidence/v2");
    let e = verify(&seal(&env, &s, Some(&signer())), &v, None).unwrap_err();
    assert!(matches!(&e, VerifyError::UnknownPredicate { found } if found.ends_with("/v2")), "{e}");
    assert!(e.to_string().contains("agent-evidence/v1"));
    for key in [
        hex::encode(v.public_key()),
        "test.custos/ledger".to_string(),
        format!("{}+{:08x}+{}", ORIGIN, v.key_id() ^ 1, v.encode().rsplit('+').next().unwrap()),
        "-----BEGIN PUBLIC KEY-----".to_string(),
    ] {
        assert!(matches!(parse_key(&key), Err(VerifyError::BadKey(_))), "{key}");
    }
    assert_eq!(parse_key(&v.encode()).unwrap(), v);
}

#[test]
fn a_second_export_proves_consistency_with_the_first() {
    let f = fixture(100);
    let first = f.attest(WindowRequest::default(), None);
    let first_bytes = first.to_json().unwrap();
    f.rt.block_on(fill(&f.store, 150, 1000));
    let prev = previous_of(&first_bytes).unwrap();
    assert_eq!(prev, first.as_previous());
    let from = first.statement.predicate.window.to_index + 1;
    let second = f.attest(WindowRequest { from_index: Some(from), ..Default::default() }, Some(&prev));
    let bytes = second.to_json().unwrap();
    let r = check(&bytes, Some(&prev));
    assert!(r.verified(), "{r}");
    // The first export's anchor is part of the second window's evidence.
    let p = &second.statement.predicate;
    assert_eq!(p.derived.lifecycle.first().map(|l| l.kind), Some(EventKind::AttestationExported));
    if let Ok(dir) = std::env::var("CUSTOS_WRITE_BUNDLE") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("bundle-second.json"), &bytes).unwrap();
        std::fs::write(dir.join("bundle-first.json"), &first_bytes).unwrap();
    }
    // Without the expected previous, it verifies on its own proof.
    assert!(check(&bytes, None).verified());
    // Expecting a previous export from a bundle that has none fails.
    assert_eq!(check(&first_bytes, Some(&prev)).failed(), ["consistency"]);

    // A forged previous checkpoint: same size, another root, signed with the instance key.
    let old = Checkpoint::parse(signer().verifier().open(&prev.checkpoint_note).unwrap()).unwrap();
    let forged = Checkpoint::new(ORIGIN, old.size, Hash([9u8; 32])).sign(&signer()).unwrap().note;
    let (env, stmt) = open(&bytes);
    let mut s = stmt.clone();
    s["predicate"]["evidence"]["previous"]["checkpoint"] = json!(forged);
    let r = check(&seal(&env, &s, Some(&signer())), None);
    assert_eq!(r.failed(), ["consistency"], "{r}");
    // The auditor's kept checkpoint differs from the one the bundle names.
    let r = check(&bytes, Some(&PreviousExport { checkpoint_note: forged.clone() }));
    assert_eq!(r.failed(), ["consistency"], "{r}");
    // A tampered consistency proof.
    let mut s = stmt.clone();
    let h = s["predicate"]["evidence"]["previous"]["consistency"][0].as_str().unwrap().to_string();
    s["predicate"]["evidence"]["previous"]["consistency"][0] = json!(flip_b64(&h));
    assert_eq!(check(&seal(&env, &s, Some(&signer())), None).failed(), ["consistency"]);

    // Export refuses a previous checkpoint that is not this instance's.
    let other = NoteSigner::from_seed(ORIGIN, &[7u8; 32]).unwrap();
    let alien =
        PreviousExport { checkpoint_note: Checkpoint::new(ORIGIN, 3, Hash([1u8; 32])).sign(&other).unwrap().note };
    let err =
        f.rt.block_on(attest(
            &f.store,
            &signer(),
            &id(BOT),
            WindowRequest::default(),
            Some(&alien),
            AttestOptions::default(),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("previous"), "{err}");
}

#[test]
fn all_agents_as_json_lines() {
    let f = fixture(60);
    let cat = custos_attest::ControlCatalogue::builtin().unwrap();
    let bundles =
        f.rt.block_on(attest_many(
            &f.store,
            &signer(),
            &[id(BOT), id(OTHER)],
            WindowRequest::default(),
            &BTreeMap::new(),
            AttestOptions { controls: Some(&cat) },
        ))
        .unwrap();
    assert_eq!(bundles.len(), 2);
    assert_eq!(bundles[0].statement.predicate.evidence.checkpoint, bundles[1].statement.predicate.evidence.checkpoint);
    assert_eq!(bundles[1].statement.subject[0].name, OTHER);
    // Every control of the catalogue, evaluated over the bundle's own events.
    assert_eq!(bundles[0].statement.predicate.controls.len(), cat.controls.len());
    assert!(bundles[0].statement.predicate.controls.iter().any(|c| c["status"] != "no_evidence"));
    let lines = to_jsonl(&bundles).unwrap();
    let v: NoteVerifier = signer().verifier();
    let reports = verify_jsonl(&lines, &v);
    assert_eq!(reports.len(), 2);
    for r in reports {
        let r = r.unwrap();
        assert!(r.verified(), "{r}");
    }
    let unknown = f.rt.block_on(attest(
        &f.store,
        &signer(),
        &id("nobody/here"),
        WindowRequest::default(),
        None,
        AttestOptions::default(),
    ));
    assert!(unknown.is_err());
}
