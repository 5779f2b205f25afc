//! Controls as data: the shipped catalogue, the coverage rule, events from a real store, and
//! the OSCAL export (written for the outside validator when `CUSTOS_WRITE_OSCAL=DIR` is set).

use std::collections::BTreeSet;

use custos_attest::{
    controls::{self, ControlCatalogue, CoverageStatus, EvidenceIndex, MAX_INDICES, Scope, is_token},
    oscal::{self, OscalMeta},
};
use custos_core::{Actor, Entry, Event, EventKind};
use custos_ledger::NoteSigner;
use custos_store::{
    Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use serde_json::{Value, json};

fn cat() -> ControlCatalogue {
    ControlCatalogue::builtin().unwrap()
}

fn status(cov: &[controls::ControlCoverage], id: &str) -> CoverageStatus {
    cov.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no control {id}")).status
}

#[test]
fn builtin_catalogue_has_every_framework_and_the_required_controls() {
    let cat = cat();
    assert_eq!(cat.version, "2026.12");
    let frameworks: Vec<&str> = cat.frameworks.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(frameworks, ["owasp-asi", "owasp-nhi", "nist-ai-rmf", "nist-csf", "eu-ai-act", "iso-42001"]);
    for f in &cat.frameworks {
        assert!(f.source.starts_with("https://"), "{}", f.id);
    }
    let in_framework = |f: &str| -> BTreeSet<String> {
        cat.controls.iter().filter(|c| c.framework == f).map(|c| c.id.clone()).collect()
    };
    let asi: BTreeSet<String> = (1..=10).map(|n| format!("asi{n:02}")).collect();
    assert_eq!(in_framework("owasp-asi"), asi);
    let nhi: BTreeSet<String> = (1..=10).map(|n| format!("nhi{n}")).collect();
    assert_eq!(in_framework("owasp-nhi"), nhi);
    let required = [
        (
            "nist-ai-rmf",
            &["govern-1.6", "govern-1.7", "govern-2.1", "govern-3.2", "measure-2.4", "manage-2.4", "manage-4.1"][..],
        ),
        (
            "nist-csf",
            &[
                "id.am-02", "id.am-04", "id.am-08", "pr.aa-01", "pr.aa-02", "pr.aa-03", "pr.aa-04", "pr.aa-05",
                "pr.ps-04", "de.cm-03", "de.cm-06", "de.cm-09", "rs.an-06", "rs.an-07", "rs.mi-01", "gv.rr-02",
                "gv.sc-07", "id.ra-07", "id.im-02",
            ][..],
        ),
        (
            "eu-ai-act",
            &["art-12", "art-14", "art-14.4.a", "art-14.4.d", "art-14.4.e", "art-19", "art-26", "art-26.5", "art-26.6"]
                [..],
        ),
        ("iso-42001", &["a.2.2", "a.3.2", "a.4.2", "a.6.2.4", "a.6.2.5", "a.6.2.6", "a.6.2.8", "a.9.2", "a.10.3"][..]),
    ];
    for (f, ids) in required {
        let have = in_framework(f);
        for id in ids {
            assert!(have.contains(*id), "{f} lacks {id}");
        }
    }
    // Official labels as the frameworks write them.
    for (id, official) in [
        ("asi01", "ASI01:2026"),
        ("nhi1", "NHI1:2025"),
        ("govern-1.6", "GOVERN 1.6"),
        ("id.am-02", "ID.AM-02"),
        ("art-12", "Art. 12"),
        ("art-14.4.e", "Art. 14(4)(e)"),
        ("a.6.2.8", "A.6.2.8"),
    ] {
        assert_eq!(cat.control(id).unwrap().official, official);
    }
    assert_eq!(cat.control("asi10").unwrap().title, "Rogue Agents");
    assert_eq!(cat.control("nhi1").unwrap().title, "Improper Offboarding");
}

#[test]
fn every_id_is_a_unique_token_and_every_referenced_kind_exists() {
    let cat = cat();
    let mut ids = BTreeSet::new();
    for c in &cat.controls {
        assert!(is_token(&c.id), "{}", c.id);
        assert!(ids.insert(c.id.clone()), "{} twice", c.id);
        assert!(!c.custos.is_empty());
        for g in &c.evidence {
            for m in &g.any {
                assert!(EventKind::ALL.contains(&m.kind), "{m}");
            }
        }
    }
    assert!(!is_token("GOVERN 1.6") && !is_token("ASI01:2026") && !is_token("1abc") && !is_token(""));
    // The catalogue leans on the kinds custos records most; a rename would show here.
    let kinds = cat.kinds();
    for k in [
        EventKind::AgentRegistered,
        EventKind::GatewayDecision,
        EventKind::ApprovalDecided,
        EventKind::ToolPinned,
        EventKind::DiscoveryFinding,
        EventKind::ProbeResult,
        EventKind::DlpHit,
    ] {
        assert!(kinds.contains(&k), "{k}");
    }
}

/// A minimal valid catalogue with `control` spliced in as its only control (line 9 onwards).
fn one_control(control: &str) -> String {
    format!(
        "version = \"t\"\n[[framework]]\nid = \"fw\"\nname = \"F\"\nedition = \"1\"\nsource = \"https://x.test\"\nchecked = \"2026-12-06\"\n\n{control}"
    )
}

#[test]
fn broken_catalogues_are_refused_with_the_line() {
    let good = "[[control]]\nframework = \"fw\"\nid = \"c-1\"\nofficial = \"C 1\"\ntitle = \"T\"\ncustos = \"n\"\nevidence = [{ group = \"g\", any = [\"agent.registered\"] }]\n";
    assert_eq!(ControlCatalogue::from_toml(&one_control(good)).unwrap().controls.len(), 1);

    let cases = [
        (good.replace("\"c-1\"", "\"GOVERN 1.6\""), 11, "not a token"),
        (good.replace("agent.registered", "agent.exploded"), 15, "unknown event kind `agent.exploded`"),
        (good.replace("agent.registered", "discovery.finding:shadw"), 15, "no finding type `shadw`"),
        (good.replace("agent.registered", "llm.call:deny"), 15, "carries no finding type"),
        (good.replace("framework = \"fw\"", "framework = \"nope\""), 10, "unknown framework `nope`"),
        (good.replace("any = [\"agent.registered\"]", "any = []"), 15, "lists no events"),
        (format!("{good}\n{good}"), 19, "`c-1` is defined twice"),
        (good.replace("title = \"T\"", "title = \" T\""), 13, "one non-empty line"),
        (good.replace("evidence =", "evidence = ="), 15, "TOML"),
    ];
    for (control, line, why) in cases {
        let err = ControlCatalogue::from_toml(&one_control(&control)).unwrap_err();
        assert!(err.to_string().contains(why) || why == "TOML", "{err}");
        assert_eq!(err.line, Some(line), "{err}");
        assert!(err.to_string().contains(&format!("at line {line}")), "{err}");
    }
    let unknown_field =
        ControlCatalogue::from_toml(&one_control(&good.replace("custos = \"n\"", "custos = \"n\"\nweight = 3")))
            .unwrap_err();
    assert!(unknown_field.to_string().contains("weight"), "{unknown_field}");
    let no_controls = ControlCatalogue::from_toml(&format!("control = []\n{}", one_control(""))).unwrap_err();
    assert!(no_controls.to_string().contains("framework `fw` has no controls"), "{no_controls}");
}

type Ev = (u64, EventKind, Option<&'static str>, Option<&'static str>);

fn sample() -> Vec<Ev> {
    vec![
        (1, EventKind::PolicyApplied, None, Some("bot")),
        (2, EventKind::GatewayDecision, Some("allow"), Some("bot")),
        (3, EventKind::GatewayDecision, Some("deny"), Some("bot")),
        (4, EventKind::DiscoveryFinding, Some("credential"), None),
        (5, EventKind::ToolPinned, None, None),
        (6, EventKind::AgentStateChanged, Some("suspend"), Some("other")),
        (7, EventKind::RecertDecided, None, Some("other")),
    ]
}

#[test]
fn coverage_follows_the_rule() {
    let cat = cat();
    let all = EvidenceIndex::from_events(Scope::All, sample());
    let cov = controls::coverage(&cat, None, &all);
    assert_eq!(cov.len(), cat.controls.len());

    // pr.aa-05: defined (policy.applied), enforced (gateway.decision), reviewed (recert.decided).
    assert_eq!(status(&cov, "pr.aa-05"), CoverageStatus::Evidenced);
    let praa05 = cov.iter().find(|c| c.id == "pr.aa-05").unwrap();
    assert_eq!(praa05.official, "PR.AA-05");
    assert!(praa05.groups.iter().all(|g| g.present));
    let decisions = praa05.events.iter().find(|e| e.event == "gateway.decision").unwrap();
    assert_eq!((decisions.count, decisions.indices.clone()), (2, vec![2, 3]));

    // asi10: monitoring and containment, but no inventory event: partial, naming what is missing.
    assert_eq!(status(&cov, "asi10"), CoverageStatus::Partial);
    let asi10 = cov.iter().find(|c| c.id == "asi10").unwrap();
    let missing: Vec<&str> = asi10.groups.iter().filter(|g| !g.present).map(|g| g.group.as_str()).collect();
    assert_eq!(missing, ["inventory"]);

    // A finding type narrows: the credential finding (index 4) is not a shadow agent, so
    // asi10's inventory stays missing, while nhi9's reuse scan counts it.
    let nhi9 = cov.iter().find(|c| c.id == "nhi9").unwrap();
    assert_eq!(nhi9.status, CoverageStatus::Partial);
    assert_eq!(nhi9.events[0].event, "discovery.finding:credential");
    assert_eq!(status(&cov, "manage-1.3"), CoverageStatus::Evidenced); // gateway.decision:deny
    assert_eq!(status(&cov, "art-14.4.d"), CoverageStatus::NoEvidence);
    assert_eq!(status(&cov, "a.3.3"), CoverageStatus::NoEvidence); // no groups at all

    // The same events for one agent: only its own (and, with the instance, the agentless).
    let bot = EvidenceIndex::from_events(Scope::Agent("bot".into()), sample());
    assert_eq!(bot.len(), 3);
    let bot_cov = controls::coverage(&cat, Some("NIST-CSF"), &bot);
    assert!(bot_cov.iter().all(|c| c.framework == "nist-csf"));
    assert_eq!(status(&bot_cov, "pr.aa-05"), CoverageStatus::Partial);
    assert_eq!(status(&bot_cov, "rs.mi-01"), CoverageStatus::NoEvidence);
    let with_instance = EvidenceIndex::from_events(Scope::AgentAndInstance("bot".into()), sample());
    assert_eq!(with_instance.len(), 5);
    assert_eq!(status(&controls::coverage(&cat, None, &with_instance), "id.am-04"), CoverageStatus::Evidenced);
    assert!(controls::coverage(&cat, Some("no-such-framework"), &all).is_empty());

    // Nothing in scope: nothing evidenced.
    let none = EvidenceIndex::new(Scope::All);
    assert!(
        controls::coverage(&cat, None, &none)
            .iter()
            .all(|c| c.status == CoverageStatus::NoEvidence && c.events.is_empty())
    );
}

#[test]
fn coverage_of_a_sample_catalogue_is_exactly_the_rule() {
    let text = one_control(
        "[[control]]\nframework = \"fw\"\nid = \"two\"\nofficial = \"TWO\"\ntitle = \"T\"\ncustos = \"n\"\n\
         evidence = [{ group = \"a\", any = [\"agent.registered\"] }, { group = \"b\", any = [\"gateway.decision:deny\", \"dlp.hit\"] }]\n",
    );
    let cat = ControlCatalogue::from_toml(&text).unwrap();
    let run =
        |events: Vec<Ev>| controls::coverage(&cat, None, &EvidenceIndex::from_events(Scope::All, events))[0].status;
    assert_eq!(run(vec![]), CoverageStatus::NoEvidence);
    assert_eq!(run(vec![(0, EventKind::AgentRegistered, None, None)]), CoverageStatus::Partial);
    assert_eq!(run(vec![(0, EventKind::GatewayDecision, Some("allow"), None)]), CoverageStatus::NoEvidence);
    assert_eq!(run(vec![(0, EventKind::GatewayDecision, Some("deny"), None)]), CoverageStatus::Partial);
    assert_eq!(
        run(vec![(0, EventKind::AgentRegistered, None, None), (1, EventKind::DlpHit, None, None)]),
        CoverageStatus::Evidenced
    );
}

#[test]
fn indices_are_bounded_to_the_most_recent() {
    let cat = cat();
    let events = (0..1000u64)
        .rev()
        .map(|i| (i, EventKind::GatewayDecision, Some(if i % 2 == 0 { "allow" } else { "deny" }), None::<&str>));
    let ix = EvidenceIndex::from_events(Scope::All, events);
    let cov = controls::coverage(&cat, Some("nist-csf"), &ix);
    let e = cov.iter().find(|c| c.id == "pr.aa-03").unwrap().events.first().unwrap().clone();
    assert_eq!(e.event, "gateway.decision");
    assert_eq!(e.count, 1000);
    assert_eq!(e.indices, (1000 - MAX_INDICES as u64..1000).collect::<Vec<_>>());
}

#[test]
fn predicate_coverage_serializes_and_reads_back() {
    let cat = cat();
    let p = controls::predicate_coverage(&cat, &EvidenceIndex::from_events(Scope::All, sample()));
    assert_eq!(p.catalogue, "2026.12");
    assert_eq!(p.summary.len(), 6);
    let asi = &p.summary[0];
    assert_eq!((asi.framework.as_str(), asi.evidenced + asi.partial + asi.no_evidence), ("owasp-asi", 10));
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["controls"][0]["status"], json!("evidenced"));
    assert!(v["controls"].as_array().unwrap().iter().any(|c| c["status"] == json!("no_evidence")));
    let back: controls::PredicateCoverage = serde_json::from_value(v).unwrap();
    assert_eq!(back, p);
}

fn ev(kind: EventKind, agent: Option<&str>, data: Value) -> Event {
    Event::from_parts(kind, Actor::system(), agent.map(|a| a.parse().unwrap()), data).unwrap()
}

/// Events through a real SQLite ledger, read back as stored, their finding types derived from
/// the payloads.
#[test]
fn coverage_from_a_real_store() {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::from_seed("test.custos/ledger", &[42u8; 32]).unwrap();
    let store = SqliteStore::create(&dir.path().join("ledger.db"), signer, SqliteOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let agent = "payments/refund-bot";
    let events = vec![
        ev(
            EventKind::AgentRegistered,
            Some(agent),
            json!({"name": "refund-bot", "owner": "alice@example.com", "purpose": "refunds", "environment": "prod",
                   "risk_tier": "high", "labels": [], "recert_interval_days": 90, "reason": "test"}),
        ),
        ev(
            EventKind::AgentStateChanged,
            Some(agent),
            json!({"op": "approve", "from": "registered", "to": "active", "reason": "ok"}),
        ),
        ev(EventKind::CredentialIssued, Some(agent), json!({"id": "cr_1", "sha256": "00", "reason": "first"})),
        ev(EventKind::GatewayDecision, Some(agent), json!({"server": "s", "tool": "t", "decision": "deny"})),
        ev(
            EventKind::AgentStateChanged,
            Some(agent),
            json!({"op": "suspend", "from": "active", "to": "suspended", "reason": "kill switch"}),
        ),
        ev(
            EventKind::DiscoveryFinding,
            None,
            json!({"run": "r1", "finding": "ag_1", "type": "agent", "source": "code", "locations": ["a.py:1"], "summary": "an agent", "label": "shadow"}),
        ),
        ev(EventKind::CredentialRevoked, Some(agent), json!({"id": "cr_1", "reason": "suspended"})),
    ];
    let stored: Vec<(u64, Event)> = rt.block_on(async {
        for e in events {
            store.append(e).await.unwrap();
        }
        let size = store.size().await.unwrap();
        let entries = store.entries(0, size).await.unwrap();
        store.close().await.unwrap();
        entries.iter().enumerate().map(|(i, b)| (i as u64, Entry::parse(b).unwrap())).collect()
    });
    assert_eq!(stored.len(), 7);
    let types: Vec<Option<String>> = stored.iter().map(|(_, e)| controls::finding_type(e)).collect();
    let want = [None, Some("approve"), None, Some("deny"), Some("suspend"), Some("shadow"), None];
    assert_eq!(types, want.map(|t| t.map(str::to_string)));

    let cat = cat();
    let mut ix = EvidenceIndex::new(Scope::AgentAndInstance(agent.into()));
    for (i, e) in &stored {
        ix.add_event(*i, e);
    }
    let cov = controls::coverage(&cat, None, &ix);
    assert_eq!(status(&cov, "asi10"), CoverageStatus::Evidenced); // shadow, decision, suspend
    assert_eq!(status(&cov, "manage-2.4"), CoverageStatus::Evidenced);
    assert_eq!(status(&cov, "art-14.4.e"), CoverageStatus::Evidenced);
    assert_eq!(status(&cov, "rs.mi-01"), CoverageStatus::Evidenced);
    let mut only_agent = EvidenceIndex::new(Scope::Agent(agent.into()));
    for (i, e) in &stored {
        only_agent.add_event(*i, e);
    }
    // The shadow finding names no agent: without the instance, detection is missing.
    assert_eq!(status(&cov, "manage-2.3"), CoverageStatus::Evidenced);
    assert_eq!(status(&controls::coverage(&cat, None, &only_agent), "manage-2.3"), CoverageStatus::Partial);
}

fn oscal_doc() -> (ControlCatalogue, Value) {
    let cat = cat();
    let mut events = sample();
    events.push((8, EventKind::ProbeResult, None, Some("bot")));
    let cov = controls::coverage(&cat, None, &EvidenceIndex::from_events(Scope::All, events));
    let start: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    let now: jiff::Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
    let meta = OscalMeta::new([7u8; 16], "all agents", start, now);
    let doc = oscal::assessment_results(&cat, &cov, meta);
    (cat, doc)
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && s.chars()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

#[test]
fn oscal_uses_tokens_and_every_finding_targets_a_reviewed_control() {
    let (cat, doc) = oscal_doc();
    let ar = &doc["assessment-results"];
    assert_eq!(ar["metadata"]["oscal-version"], json!(oscal::OSCAL_VERSION));
    assert!(is_uuid(ar["uuid"].as_str().unwrap()));
    let result = &ar["results"][0];
    let reviewed: BTreeSet<&str> = result["reviewed-controls"]["control-selections"][0]["include-controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["control-id"].as_str().unwrap())
        .collect();
    assert_eq!(reviewed.len(), cat.controls.len());
    assert!(reviewed.iter().all(|id| is_token(id)), "{reviewed:?}");
    assert!(reviewed.contains("govern-1.6") && !reviewed.contains("GOVERN 1.6"));

    let observations: BTreeSet<&str> =
        result["observations"].as_array().unwrap().iter().map(|o| o["uuid"].as_str().unwrap()).collect();
    let findings = result["findings"].as_array().unwrap();
    assert_eq!(findings.len(), cat.controls.len());
    for f in findings {
        let target = f["target"]["target-id"].as_str().unwrap();
        assert!(reviewed.contains(target), "{target}");
        assert_eq!(f["target"]["type"], json!("objective-id"));
        let official = &cat.control(target).unwrap().official;
        let label = f["props"].as_array().unwrap().iter().find(|p| p["name"] == json!("label")).unwrap();
        assert_eq!((&label["value"], &label["ns"]), (&json!(official), &json!(oscal::CUSTOS_NS)));
        for r in f["related-observations"].as_array().into_iter().flatten() {
            assert!(observations.contains(r["observation-uuid"].as_str().unwrap()));
        }
        assert!(is_uuid(f["uuid"].as_str().unwrap()));
    }
    let state = |id: &str| {
        findings.iter().find(|f| f["target"]["target-id"] == json!(id)).unwrap()["target"]["status"]["state"].clone()
    };
    assert_eq!(state("pr.aa-05"), json!("satisfied"));
    assert_eq!(state("asi10"), json!("not-satisfied"));
    assert_eq!(state("a.3.3"), json!("not-satisfied"));

    // Evidence points at ledger entries; probe results make the method TEST.
    let obs = result["observations"].as_array().unwrap();
    let measure23 = obs.iter().find(|o| o["title"] == json!("MEASURE 2.3 evidence")).unwrap();
    assert_eq!(measure23["methods"], json!(["EXAMINE", "TEST"]));
    assert_eq!(measure23["relevant-evidence"][0]["href"], json!("custos-ledger:#8"));
    // import-ap names the back-matter resource that is the plan.
    let href = ar["import-ap"]["href"].as_str().unwrap();
    let resources = ar["back-matter"]["resources"].as_array().unwrap();
    assert!(resources.iter().any(|r| format!("#{}", r["uuid"].as_str().unwrap()) == href));

    // One seed, one document; another seed, other UUIDs.
    assert_eq!(oscal_doc().1, doc);
    assert_ne!(oscal::derived_uuid(&[1; 16], "result"), oscal::derived_uuid(&[2; 16], "result"));

    // Coverage entries the catalogue does not know are left out, never written as ids.
    let mut cov = controls::coverage(&cat, Some("owasp-asi"), &EvidenceIndex::new(Scope::All));
    cov[0].id = "ASI01:2026".into();
    let now: jiff::Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
    let odd = oscal::assessment_results(&cat, &cov, OscalMeta::new([0; 16], "x", now, now));
    let ids =
        &odd["assessment-results"]["results"][0]["reviewed-controls"]["control-selections"][0]["include-controls"];
    assert_eq!(ids.as_array().unwrap().len(), 9);
    assert!(ids.as_array().unwrap().iter().all(|c| c["control-id"] != json!("ASI01:2026")));
    let targets = odd["assessment-results"]["results"][0]["findings"].as_array().unwrap();
    assert_eq!(targets.len(), 9);
    assert!(targets.iter().all(|f| is_token(f["target"]["target-id"].as_str().unwrap())));
}

/// With `CUSTOS_WRITE_OSCAL=DIR`, writes the document for `interop/attest/validate_oscal.sh`,
/// and two broken on purpose that the validator must reject.
#[test]
fn writes_oscal_for_the_outside_validator() {
    let Ok(dir) = std::env::var("CUSTOS_WRITE_OSCAL") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_, doc) = oscal_doc();
    let write = |name: &str, v: &Value| std::fs::write(dir.join(name), serde_json::to_vec_pretty(v).unwrap()).unwrap();
    write("assessment-results.json", &doc);

    let mut label_id = doc.clone();
    let result = &mut label_id["assessment-results"]["results"][0];
    result["reviewed-controls"]["control-selections"][0]["include-controls"][0]["control-id"] = json!("GOVERN 1.6");
    result["findings"][0]["target"]["target-id"] = json!("GOVERN 1.6");
    write("broken-label-id.json", &label_id);

    let mut no_plan = doc;
    no_plan["assessment-results"].as_object_mut().unwrap().remove("import-ap");
    write("broken-no-import-ap.json", &no_plan);
}
