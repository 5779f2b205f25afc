//! Every operation of the admin API, through real HTTP: what it answers, and the ONE ledger
//! entry each mutating operation appends (kind, actor, agent, reason, data).

use custos_core::{Actor, ActorId, AgentId, Event, Timestamp, registry::AgentRegistered};
use custos_ledger::{ProofFile, SignedCheckpoint, hash::leaf_hash, tree::verify_consistency};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Expect, Op, Server, enc, note_verifier, sha256_hex};

fn ts(v: &Value) -> jiff::Timestamp {
    v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")).parse().unwrap()
}

fn days(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(24 * n)
}

/// The ids a list query returns (one page).
async fn ids(s: &Server, query: &str) -> Vec<String> {
    let page = s.get(&format!("/api/v1/agents{query}")).await.ok();
    page["agents"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_returns_201_and_the_record_and_get_reads_it_back() {
    let s = Server::start().await;
    let body = json!({
        "id": "payments/refund-bot",
        "name": "Refund bot",
        "owner": "alice@example.com",
        "sponsor": "team:payments",
        "purpose": "issues refunds under 100 EUR",
        "environment": "prod",
        "risk_tier": "high",
        "labels": ["team=payments", "pci"],
        "recert_interval_days": 30,
        "provenance": ["finding-17"],
        "reason": "new bot for Q3",
    });
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/agents", &body).by("alice"),
            Expect::new(201, "agent.registered", Some("payments/refund-bot"), "new bot for Q3"),
        )
        .await;
    let a = &r["value"];
    assert_eq!(a["id"], "payments/refund-bot");
    assert_eq!(a["name"], "Refund bot");
    assert_eq!(a["owner"], "alice@example.com");
    assert_eq!(a["sponsor"], "team:payments");
    assert_eq!(a["purpose"], "issues refunds under 100 EUR");
    assert_eq!(a["environment"], "prod");
    assert_eq!(a["risk_tier"], "high");
    assert_eq!(a["labels"], json!(["pci", "team=payments"]));
    assert_eq!(a["state"], "registered");
    assert_eq!(a["orphaned"], false);
    assert_eq!(a["granted_policy"], Value::Null);
    assert_eq!(a["recert_interval_days"], 30);
    assert_eq!(a["provenance"], json!(["finding-17"]));
    assert_eq!(a["last_index"], r["event"]["index"]);
    for f in ["registered_at", "updated_at", "certified_at"] {
        assert_eq!(a[f], ev["ts"], "{f}");
    }
    assert_eq!(ts(&a["recert_due"]), ts(&ev["ts"]).checked_add(days(30)).unwrap());

    let d = &ev["data"];
    assert_eq!(d["name"], "Refund bot");
    assert_eq!(d["owner"], "alice@example.com");
    assert_eq!(d["sponsor"], "team:payments");
    assert_eq!(d["purpose"], "issues refunds under 100 EUR");
    assert_eq!(d["environment"], "prod");
    assert_eq!(d["risk_tier"], "high");
    assert_eq!(d["labels"], json!(["pci", "team=payments"]));
    assert_eq!(d["recert_interval_days"], 30);
    assert_eq!(d["provenance"], json!(["finding-17"]));

    assert_eq!(s.agent("payments/refund-bot").await, *a);

    // The defaults: name = id, medium risk, 90 days, no owner, a stated reason.
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/agents", &json!({"id": "ops/minimal", "environment": "dev"})),
            Expect::new(201, "agent.registered", Some("ops/minimal"), "no reason given"),
        )
        .await;
    let a = &r["value"];
    assert_eq!(a["name"], "ops/minimal");
    assert_eq!(a["risk_tier"], "medium");
    assert_eq!(a["recert_interval_days"], 90);
    assert_eq!(a["owner"], Value::Null);
    assert_eq!(a["sponsor"], Value::Null);
    assert_eq!(a["labels"], json!([]));
    assert_eq!(a["purpose"], "");
    assert_eq!(ev["data"].get("owner"), None);
    assert_eq!(s.agent("ops/minimal").await, *a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_by_state_owner_environment_label_orphaned_and_overdue() {
    let s = Server::start().await;
    s.register("a/active", json!({"owner": "alice", "environment": "prod", "labels": ["pci"]})).await;
    s.lifecycle("a/active", "approve").await;
    s.register("b/registered", json!({"owner": "bob"})).await;
    s.register("c/suspended", json!({"owner": "alice", "environment": "staging"})).await;
    s.lifecycle("c/suspended", "approve").await;
    s.lifecycle("c/suspended", "suspend").await;
    s.register("d/retired", json!({"owner": "carol", "environment": "prod", "labels": ["pci", "x"]})).await;
    s.lifecycle("d/retired", "retire").await;
    s.register("e/no-owner", json!({"labels": ["x"]})).await;
    let all = ["a/active", "b/registered", "c/suspended", "d/retired", "e/no-owner"];

    assert_eq!(ids(&s, "").await, all);
    assert_eq!(ids(&s, "?state=registered").await, ["b/registered", "e/no-owner"]);
    assert_eq!(ids(&s, "?state=active").await, ["a/active"]);
    assert_eq!(ids(&s, "?state=suspended").await, ["c/suspended"]);
    assert_eq!(ids(&s, "?state=retired").await, ["d/retired"]);
    assert_eq!(ids(&s, "?state=discovered").await, Vec::<String>::new());
    assert_eq!(ids(&s, "?owner=alice").await, ["a/active", "c/suspended"]);
    assert_eq!(ids(&s, "?owner=nobody").await, Vec::<String>::new());
    assert_eq!(ids(&s, "?environment=prod").await, ["a/active", "d/retired"]);
    assert_eq!(ids(&s, "?environment=staging").await, ["c/suspended"]);
    assert_eq!(ids(&s, "?environment=dev").await, ["b/registered", "e/no-owner"]);
    assert_eq!(ids(&s, "?label=pci").await, ["a/active", "d/retired"]);
    assert_eq!(ids(&s, "?label=x").await, ["d/retired", "e/no-owner"]);
    assert_eq!(ids(&s, "?label=nope").await, Vec::<String>::new());
    assert_eq!(ids(&s, "?orphaned=true").await, Vec::<String>::new());
    assert_eq!(ids(&s, "?orphaned=false").await, all);
    assert_eq!(ids(&s, "?overdue=true").await, Vec::<String>::new());
    assert_eq!(ids(&s, "?overdue=false").await, all);
    // Filters combine.
    assert_eq!(ids(&s, "?owner=alice&state=active").await, ["a/active"]);
    assert_eq!(ids(&s, "?environment=prod&label=pci&state=retired").await, ["d/retired"]);

    s.post("/api/v1/owners/bob/offboard", &json!({})).await.ok();
    assert_eq!(ids(&s, "?orphaned=true").await, ["b/registered"]);
    assert_eq!(ids(&s, "?orphaned=false").await, ["a/active", "c/suspended", "d/retired", "e/no-owner"]);
    assert_eq!(ids(&s, "?orphaned=true&environment=prod").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_overdue_true_finds_an_agent_past_its_recertification_date() {
    let s = Server::start().await;
    s.register("fresh/agent", json!({"recert_interval_days": 1})).await;
    // An agent registered three days ago with a one-day interval: appended to the ledger
    // directly with a back-dated timestamp (the API stamps events now).
    let p = AgentRegistered {
        name: "old".into(),
        owner: None,
        sponsor: None,
        purpose: String::new(),
        environment: custos_core::registry::Environment::Dev,
        risk_tier: custos_core::registry::RiskTier::Low,
        labels: Default::default(),
        recert_interval_days: 1,
        provenance: vec![],
        reason: "imported".into(),
    };
    let mut ev = Event::new(Actor::user(ActorId::admin()), Some("old/agent".parse::<AgentId>().unwrap()), &p).unwrap();
    ev.ts = Timestamp::from_jiff(jiff::Timestamp::now().checked_sub(days(3)).unwrap());
    s.store.append(ev).await.unwrap();

    assert_eq!(ids(&s, "?overdue=true").await, ["old/agent"]);
    assert_eq!(ids(&s, "?overdue=false").await, ["fresh/agent"]);
    assert_eq!(ids(&s, "?overdue=true&environment=dev").await, ["old/agent"]);
    // Retired agents are never overdue.
    s.lifecycle("old/agent", "retire").await;
    assert_eq!(ids(&s, "?overdue=true").await, Vec::<String>::new());
    assert_eq!(ids(&s, "?overdue=false").await, ["fresh/agent", "old/agent"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_limit_and_the_next_cursor() {
    let s = Server::start().await;
    let all: Vec<String> = (0..7).map(|i| format!("p/{i}")).collect();
    // Registered out of order: pages are in id order.
    for i in [3, 0, 6, 1, 5, 2, 4] {
        s.register(&format!("p/{i}"), json!({})).await;
    }
    let mut seen = Vec::new();
    let mut cursors = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("/api/v1/agents?limit=3&after={}", enc(a)),
            None => "/api/v1/agents?limit=3".to_string(),
        };
        let page = s.get(&q).await.ok();
        let agents = page["agents"].as_array().unwrap();
        assert!(agents.len() <= 3);
        seen.extend(agents.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(n) => {
                assert_eq!(agents.len(), 3, "a page with a cursor is full");
                assert_eq!(n, agents.last().unwrap()["id"].as_str().unwrap(), "the cursor is the last id");
                cursors.push(n.to_string());
                after = Some(n.to_string());
            }
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(cursors, ["p/2", "p/5"]);

    // A page that ends exactly at the end still has a cursor; the page after it is empty.
    let page = s.get("/api/v1/agents?limit=7").await.ok();
    assert_eq!(page["next"], "p/6");
    let page = s.get("/api/v1/agents?limit=7&after=p%2F6").await.ok();
    assert_eq!(page["agents"], json!([]));
    assert_eq!(page["next"], Value::Null);
    // Cursors combine with filters.
    s.lifecycle("p/4", "retire").await;
    s.lifecycle("p/5", "retire").await;
    let page = s.get("/api/v1/agents?state=retired&limit=1&after=p%2F4").await.ok();
    assert_eq!(page["agents"][0]["id"], "p/5");
    assert_eq!(page["next"], "p/5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_changes_fields_labels_and_sponsor() {
    let s = Server::start().await;
    s.register("u/bot", json!({"labels": ["a", "b"], "sponsor": "bob", "owner": "alice"})).await;
    let path = "/api/v1/agents/u%2Fbot";

    let body = json!({
        "name": "Updated bot",
        "purpose": "a new purpose",
        "environment": "staging",
        "risk_tier": "critical",
        "recert_interval_days": 10,
        "reason": "re-scoped",
    });
    let (r, ev) = s
        .mutate(Op::patch(path, &body).by("alice"), Expect::new(200, "agent.updated", Some("u/bot"), "re-scoped"))
        .await;
    let a = &r["value"];
    assert_eq!(a["name"], "Updated bot");
    assert_eq!(a["purpose"], "a new purpose");
    assert_eq!(a["environment"], "staging");
    assert_eq!(a["risk_tier"], "critical");
    assert_eq!(a["recert_interval_days"], 10);
    assert_eq!(ts(&a["recert_due"]), ts(&a["certified_at"]).checked_add(days(10)).unwrap());
    assert_eq!(a["updated_at"], ev["ts"]);
    assert_eq!(
        ev["data"]["changes"],
        json!({
            "name": {"from": "u/bot", "to": "Updated bot"},
            "purpose": {"from": "", "to": "a new purpose"},
            "environment": {"from": "dev", "to": "staging"},
            "risk_tier": {"from": "medium", "to": "critical"},
            "recert_interval_days": {"from": 90, "to": 10},
        })
    );
    assert_eq!(s.agent("u/bot").await, *a);

    // Add and remove labels.
    let body = json!({"add_labels": ["c"], "remove_labels": ["a"]});
    let (r, ev) =
        s.mutate(Op::patch(path, &body), Expect::new(200, "agent.updated", Some("u/bot"), "no reason given")).await;
    assert_eq!(r["value"]["labels"], json!(["b", "c"]));
    assert_eq!(ev["data"]["changes"], json!({"labels": {"from": ["a", "b"], "to": ["b", "c"]}}));

    // Replace the set, and add to the replacement.
    let body = json!({"labels": ["x"], "add_labels": ["y"], "reason": "relabel"});
    let (r, ev) = s.mutate(Op::patch(path, &body), Expect::new(200, "agent.updated", Some("u/bot"), "relabel")).await;
    assert_eq!(r["value"]["labels"], json!(["x", "y"]));
    assert_eq!(ev["data"]["changes"], json!({"labels": {"from": ["b", "c"], "to": ["x", "y"]}}));
    assert_eq!(ids(&s, "?label=x").await, ["u/bot"]);
    assert_eq!(ids(&s, "?label=a").await, Vec::<String>::new());

    // Change, then clear, the sponsor.
    let body = json!({"sponsor": "carol"});
    let (r, ev) = s
        .mutate(Op::patch(path, &body).by("carol"), Expect::new(200, "agent.updated", Some("u/bot"), "no reason given"))
        .await;
    assert_eq!(r["value"]["sponsor"], "carol");
    assert_eq!(ev["data"]["changes"], json!({"sponsor": {"from": "bob", "to": "carol"}}));
    let body = json!({"clear_sponsor": true, "reason": "carol left the project"});
    let (r, ev) = s
        .mutate(Op::patch(path, &body), Expect::new(200, "agent.updated", Some("u/bot"), "carol left the project"))
        .await;
    assert_eq!(r["value"]["sponsor"], Value::Null);
    assert_eq!(ev["data"]["changes"], json!({"sponsor": {"from": "carol", "to": null}}));
    assert_eq!(s.agent("u/bot").await["sponsor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_owner_records_from_and_to() {
    let s = Server::start().await;
    s.register("o/bot", json!({})).await;
    let body = json!({"owner": "alice", "reason": "alice builds it"});
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/agents/o%2Fbot/owner", &body).by("admin-bob"),
            Expect::new(200, "agent.owner_changed", Some("o/bot"), "alice builds it"),
        )
        .await;
    assert_eq!(r["value"]["owner"], "alice");
    assert_eq!(ev["data"]["from"], Value::Null);
    assert_eq!(ev["data"]["to"], "alice");
    // Now it can be approved.
    s.lifecycle("o/bot", "approve").await;
    let body = json!({"owner": "bob"});
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/agents/o%2Fbot/owner", &body),
            Expect::new(200, "agent.owner_changed", Some("o/bot"), "no reason given"),
        )
        .await;
    assert_eq!(r["value"]["owner"], "bob");
    assert_eq!(r["value"]["state"], "active");
    assert_eq!(ev["data"]["from"], "alice");
    assert_eq!(ev["data"]["to"], "bob");
    assert_eq!(ids(&s, "?owner=bob").await, ["o/bot"]);
    assert_eq!(ids(&s, "?owner=alice").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_approve_suspend_resume_retire_record_their_transitions() {
    let s = Server::start().await;
    s.register("l/bot", json!({"owner": "alice", "recert_interval_days": 5})).await;
    let p = |op: &str| format!("/api/v1/agents/l%2Fbot/{op}");

    let (approve, suspend, resume, retire) = (p("approve"), p("suspend"), p("resume"), p("retire"));
    let body = json!({"reason": "reviewed"});
    let (r, ev) = s
        .mutate(
            Op::post(&approve, &body).by("alice"),
            Expect::new(200, "agent.state_changed", Some("l/bot"), "reviewed"),
        )
        .await;
    assert_eq!(ev["data"]["op"], "approve");
    assert_eq!(ev["data"]["from"], "registered");
    assert_eq!(ev["data"]["to"], "active");
    assert_eq!(ev["data"].get("revoked_credentials"), None);
    assert_eq!(r["value"]["state"], "active");
    // Approval is the first certification.
    assert_eq!(r["value"]["certified_at"], ev["ts"]);
    assert_eq!(ts(&r["value"]["recert_due"]), ts(&ev["ts"]).checked_add(days(5)).unwrap());

    let body = json!({"reason": "incident 42"});
    let (r, ev) = s
        .mutate(Op::post(&suspend, &body), Expect::new(200, "agent.state_changed", Some("l/bot"), "incident 42"))
        .await;
    assert_eq!(
        (&ev["data"]["op"], &ev["data"]["from"], &ev["data"]["to"]),
        (&json!("suspend"), &json!("active"), &json!("suspended"))
    );
    assert_eq!(r["value"]["state"], "suspended");

    let body = json!({});
    let (r, ev) = s
        .mutate(
            Op::post(&resume, &body).by("carol"),
            Expect::new(200, "agent.state_changed", Some("l/bot"), "no reason given"),
        )
        .await;
    assert_eq!(
        (&ev["data"]["op"], &ev["data"]["from"], &ev["data"]["to"]),
        (&json!("resume"), &json!("suspended"), &json!("active"))
    );
    assert_eq!(r["value"]["state"], "active");

    // Retiring revokes every live token in the same event.
    let (_, revoked_before) = s.issue("l/bot", json!({})).await;
    let (_, live) = s.issue("l/bot", json!({})).await;
    s.post(&format!("/api/v1/agents/l%2Fbot/tokens/{revoked_before}/revoke"), &json!({"reason": "rotated"})).await.ok();
    let body = json!({"reason": "decommissioned"});
    let (r, ev) = s
        .mutate(Op::post(&retire, &body), Expect::new(200, "agent.state_changed", Some("l/bot"), "decommissioned"))
        .await;
    assert_eq!(
        (&ev["data"]["op"], &ev["data"]["from"], &ev["data"]["to"]),
        (&json!("retire"), &json!("active"), &json!("retired"))
    );
    assert_eq!(ev["data"]["revoked_credentials"], json!([live]));
    assert_eq!(r["value"]["state"], "retired");
    let tokens = s.get("/api/v1/agents/l%2Fbot/tokens").await.ok();
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    for t in tokens {
        assert!(t["revoked_at"].is_string(), "{t}");
    }
    let by_id = |id: &str| tokens.iter().find(|t| t["id"] == id).unwrap().clone();
    assert_eq!(by_id(&revoked_before)["revoked_reason"], "rotated");
    assert_eq!(by_id(&live)["revoked_reason"], "agent retired: decommissioned");
    assert_eq!(by_id(&live)["revoked_at"], ev["ts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_every_event_of_an_agent_in_ledger_order() {
    let s = Server::start().await;
    s.register("h/bot", json!({"owner": "alice"})).await;
    s.register("h/other", json!({"owner": "alice"})).await;
    s.lifecycle("h/bot", "approve").await;
    s.patch("/api/v1/agents/h%2Fbot", &json!({"purpose": "p"})).await.ok();
    s.lifecycle("h/other", "approve").await;
    let (_, cred) = s.issue("h/bot", json!({})).await;
    s.post(&format!("/api/v1/agents/h%2Fbot/tokens/{cred}/revoke"), &json!({})).await.ok();
    s.lifecycle("h/bot", "suspend").await;
    s.post("/api/v1/owners/alice/offboard", &json!({})).await.ok();
    s.post("/api/v1/agents/h%2Fbot/owner", &json!({"owner": "bob"})).await.ok();
    s.lifecycle("h/bot", "retire").await;

    let history = s.history("h/bot").await;
    let kinds: Vec<&str> = history.iter().map(|(_, e)| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "agent.registered",
            "agent.state_changed",
            "agent.updated",
            "credential.issued",
            "credential.revoked",
            "agent.state_changed",
            "owner.offboarded",
            "agent.owner_changed",
            "agent.state_changed",
        ]
    );
    assert!(history.windows(2).all(|w| w[0].0 < w[1].0), "indices ascend: {history:?}");
    // Every event is the ledger entry at its index, and nothing about another agent is there.
    for (index, event) in &history {
        assert_eq!(&s.entry(*index).await, event);
        assert_ne!(event["agent"], "h/other");
    }
    // The offboarding names no agent in its envelope but lists this one.
    let (_, off) = &history[6];
    assert!(off.get("agent").is_none());
    assert_eq!(off["data"]["agents"], json!(["h/bot", "h/other"]));

    // Paging: `limit` and `after`, with `next` the index to continue after.
    let page = s.get("/api/v1/agents/h%2Fbot/history?limit=4").await.ok();
    let first: Vec<u64> = page["events"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(first, history[..4].iter().map(|(i, _)| *i).collect::<Vec<_>>());
    assert_eq!(page["next"], json!(history[3].0));
    let page = s.get(&format!("/api/v1/agents/h%2Fbot/history?limit=4&after={}", history[3].0)).await.ok();
    let second: Vec<u64> = page["events"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(second, history[4..8].iter().map(|(i, _)| *i).collect::<Vec<_>>());
    let page = s.get(&format!("/api/v1/agents/h%2Fbot/history?after={}", history[7].0)).await.ok();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["next"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_issued_listed_revoked_and_never_shown_again() {
    let s = Server::start().await;
    s.register("t/bot", json!({"owner": "alice"})).await;
    s.lifecycle("t/bot", "approve").await;

    let body = json!({"ttl_seconds": 3600, "reason": "for the CI job"});
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/agents/t%2Fbot/tokens", &body).by("alice"),
            Expect::new(201, "credential.issued", Some("t/bot"), "for the CI job"),
        )
        .await;
    let token = r["value"]["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 4 + 64, "{token}");
    assert!(token.starts_with("cst_"), "{token}");
    assert!(token[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{token}");
    let cred = r["value"]["credential"].clone();
    let cred_id = cred["id"].as_str().unwrap().to_string();
    assert!(cred_id.starts_with("cred_") && cred_id.len() == 5 + 16, "{cred_id}");
    assert!(cred_id[5..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(cred["agent"], "t/bot");
    assert_eq!(cred["created_at"], ev["ts"]);
    assert_eq!(cred["revoked_at"], Value::Null);
    assert_eq!(cred["revoked_reason"], Value::Null);
    assert_eq!(cred["last_used_at"], Value::Null);
    assert_eq!(cred["issued_index"], r["event"]["index"]);
    let ttl = ts(&cred["expires_at"]).duration_since(ts(&cred["created_at"]));
    assert!(ttl <= jiff::SignedDuration::from_secs(3600) && ttl > jiff::SignedDuration::from_secs(3590), "{ttl:?}");
    // The event keeps only the token's SHA-256.
    assert_eq!(ev["data"]["id"], json!(cred_id));
    assert_eq!(ev["data"]["sha256"], json!(sha256_hex(&token)));
    assert_eq!(ev["data"]["expires_at"], cred["expires_at"]);
    assert_eq!(ev["data"].as_object().unwrap().len(), 4, "{ev}");

    // The default lifetime is 90 days.
    let (token2, cred2) = s.issue("t/bot", json!({})).await;
    let list = s.get("/api/v1/agents/t%2Fbot/tokens").await.ok();
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0], cred);
    assert_eq!(list[1]["id"], json!(cred2));
    let ttl2 = ts(&list[1]["expires_at"]).duration_since(ts(&list[1]["created_at"]));
    assert!(ttl2 <= days(90) && ttl2 > days(90) - jiff::SignedDuration::from_secs(10), "{ttl2:?}");
    assert_ne!(token, token2);

    // Revoke.
    let path = format!("/api/v1/agents/t%2Fbot/tokens/{cred_id}/revoke");
    let body = json!({"reason": "leaked in a log"});
    let (r, ev) = s
        .mutate(
            Op::post(&path, &body).by("bob"),
            Expect::new(200, "credential.revoked", Some("t/bot"), "leaked in a log"),
        )
        .await;
    assert_eq!(ev["data"], json!({"id": cred_id, "reason": "leaked in a log"}));
    assert_eq!(r["value"]["id"], json!(cred_id));
    assert_eq!(r["value"]["revoked_at"], ev["ts"]);
    assert_eq!(r["value"]["revoked_reason"], "leaked in a log");
    let list = s.get("/api/v1/agents/t%2Fbot/tokens").await.ok();
    assert_eq!(list[0], r["value"]);
    assert_eq!(list[1]["revoked_at"], Value::Null);

    // Neither token appears anywhere after the response that issued it.
    let mut seen = String::new();
    for path in [
        "/api/v1/agents",
        "/api/v1/agents/t%2Fbot",
        "/api/v1/agents/t%2Fbot/tokens",
        "/api/v1/agents/t%2Fbot/history",
        "/api/v1/owners",
        "/api/v1/ledger",
        "/api/v1/ledger/verify",
        "/api/v1/openapi.json",
    ] {
        seen.push_str(&s.get(path).await.text);
    }
    seen.push_str(&s.all_entries_text().await);
    for t in [&token, &token2] {
        assert!(!seen.contains(t.as_str()), "a token was shown again");
        assert!(!seen.contains(&t[4..]), "a token's secret part was shown again");
    }
    assert!(seen.contains(&sha256_hex(&token)), "its hash is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_orphans_the_owners_agents_and_a_new_owner_clears_it() {
    let s = Server::start().await;
    s.register("o/registered", json!({"owner": "alice"})).await;
    s.register("o/active", json!({"owner": "alice"})).await;
    s.lifecycle("o/active", "approve").await;
    s.register("o/suspended", json!({"owner": "alice"})).await;
    s.lifecycle("o/suspended", "approve").await;
    s.lifecycle("o/suspended", "suspend").await;
    s.register("o/retired", json!({"owner": "alice"})).await;
    s.lifecycle("o/retired", "retire").await;
    s.register("o/bobs", json!({"owner": "bob", "sponsor": "alice"})).await;

    let owners = s.get("/api/v1/owners").await.ok();
    assert_eq!(
        owners,
        json!([
            {"owner": "alice", "agents": 3, "offboarded_at": null, "orphaned": 0},
            {"owner": "bob", "agents": 1, "offboarded_at": null, "orphaned": 0},
        ])
    );

    let body = json!({"reason": "left the company"});
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/owners/alice/offboard", &body).by("hr"),
            Expect::new(200, "owner.offboarded", None, "left the company"),
        )
        .await;
    let orphaned = json!(["o/active", "o/registered", "o/suspended"]);
    assert_eq!(ev["data"]["owner"], "alice");
    assert_eq!(ev["data"]["agents"], orphaned);
    assert_eq!(r["value"], json!({"owner": "alice", "agents": orphaned, "reason": "left the company"}));
    for id in ["o/registered", "o/active", "o/suspended"] {
        let a = s.agent(id).await;
        assert_eq!(a["orphaned"], true, "{id}");
        assert_eq!(a["owner"], "alice", "{id}");
        assert_eq!(a["last_index"], r["event"]["index"], "{id}");
        let h = s.history(id).await;
        assert_eq!(h.last().unwrap().1, ev, "{id}: the offboarding is in its history");
    }
    assert_eq!(s.agent("o/retired").await["orphaned"], false);
    assert_eq!(s.agent("o/bobs").await["orphaned"], false);
    // The list shows those that need someone to act (registered or active).
    assert_eq!(ids(&s, "?orphaned=true").await, ["o/active", "o/registered"]);
    assert_eq!(ids(&s, "?orphaned=false").await, ["o/bobs", "o/retired", "o/suspended"]);
    let owners = s.get("/api/v1/owners").await.ok();
    assert_eq!(owners[0]["owner"], "alice");
    assert_eq!(owners[0]["offboarded_at"], ev["ts"]);
    assert_eq!(owners[0]["agents"], 3);
    assert_eq!(owners[0]["orphaned"], 2);
    assert_eq!(owners[1], json!({"owner": "bob", "agents": 1, "offboarded_at": null, "orphaned": 0}));

    // Offboarding someone who owns nothing is recorded too.
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/owners/team%3Agone/offboard", &json!({})),
            Expect::new(200, "owner.offboarded", None, "no reason given"),
        )
        .await;
    assert_eq!(ev["data"]["agents"], json!([]));
    assert_eq!(r["value"]["owner"], "team:gone");
    let owners = s.get("/api/v1/owners").await.ok();
    assert_eq!(owners[2]["owner"], "team:gone");
    assert_eq!(owners[2]["agents"], 0);

    // A new owner ends the orphaning.
    let body = json!({"owner": "bob", "reason": "bob takes over"});
    let (r, ev) = s
        .mutate(
            Op::post("/api/v1/agents/o%2Factive/owner", &body),
            Expect::new(200, "agent.owner_changed", Some("o/active"), "bob takes over"),
        )
        .await;
    assert_eq!(ev["data"]["from"], "alice");
    assert_eq!(ev["data"]["to"], "bob");
    assert_eq!(r["value"]["orphaned"], false);
    assert_eq!(r["value"]["state"], "active");
    assert_eq!(ids(&s, "?orphaned=true").await, ["o/registered"]);
    assert_eq!(ids(&s, "?owner=bob").await, ["o/active", "o/bobs"]);
    // And the agent can be approved again once someone owns it.
    s.post("/api/v1/agents/o%2Fregistered/owner", &json!({"owner": "carol"})).await.ok();
    assert_eq!(s.lifecycle("o/registered", "approve").await["state"], "active");
    assert_eq!(ids(&s, "?orphaned=true").await, Vec::<String>::new());
    let owners = s.get("/api/v1/owners").await.ok();
    assert_eq!(owners[0]["owner"], "alice");
    assert_eq!(owners[0]["agents"], 1, "only o/suspended is still named on alice");
    assert_eq!(owners[0]["orphaned"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_summary_checkpoint_proofs_and_consistency_verify() {
    let s = Server::start().await;
    let verifier = note_verifier();
    let summary = s.get("/api/v1/ledger").await.ok();
    assert_eq!(summary["origin"], crate::support::ORIGIN);
    assert_eq!(summary["verifier_key"], json!(verifier.encode()));
    assert_eq!(summary["size"], 1, "the genesis entry");

    for i in 0..4 {
        s.register(&format!("l/{i}"), json!({"owner": "alice"})).await;
    }
    let cp = s.checkpoint_all().await;
    let old_size = cp["size"].as_u64().unwrap();
    assert_eq!(old_size, 5);
    let signed = SignedCheckpoint::open(cp["note"].as_str().unwrap(), &verifier).unwrap();
    assert_eq!(signed.checkpoint.size, old_size);
    assert_eq!(signed.checkpoint.root.to_base64(), cp["root"].as_str().unwrap());
    assert_eq!(s.get("/api/v1/ledger").await.ok()["latest_checkpoint"], cp);

    for index in 0..old_size {
        let p = s.get(&format!("/api/v1/ledger/proof?index={index}")).await.ok();
        assert_eq!(p["index"], index);
        assert_eq!(p["checkpoint"], cp);
        let file = ProofFile::parse(p["tlog_proof"].as_str().unwrap()).unwrap();
        assert_eq!(file.index, index);
        let hashes: Vec<String> = file.proof.iter().map(|h| h.to_base64()).collect();
        assert_eq!(json!(hashes), p["proof"]);
        let leaf = leaf_hash(&s.raw_entry(index).await);
        let opened = file.verify(&leaf, &verifier).unwrap();
        assert_eq!(opened.checkpoint.size, old_size);
        // The proof does not verify another entry.
        let other = leaf_hash(&s.raw_entry((index + 1) % old_size).await);
        assert!(file.verify(&other, &verifier).is_err());
    }

    for i in 4..7 {
        s.register(&format!("l/{i}"), json!({})).await;
    }
    let new_cp = s.checkpoint_all().await;
    let new_size = new_cp["size"].as_u64().unwrap();
    assert_eq!(new_size, 8);
    // A proof against the older checkpoint, and against the latest by default.
    let p = s.get(&format!("/api/v1/ledger/proof?index=2&size={old_size}")).await.ok();
    assert_eq!(p["checkpoint"], cp);
    let file = ProofFile::parse(p["tlog_proof"].as_str().unwrap()).unwrap();
    file.verify(&leaf_hash(&s.raw_entry(2).await), &verifier).unwrap();
    let p = s.get("/api/v1/ledger/proof?index=7").await.ok();
    assert_eq!(p["checkpoint"], new_cp);
    ProofFile::parse(p["tlog_proof"].as_str().unwrap())
        .unwrap()
        .verify(&leaf_hash(&s.raw_entry(7).await), &verifier)
        .unwrap();
    // No checkpoint of that size, an index past the end, an index the checkpoint does not cover.
    let signed_sizes: Vec<u64> = s.store.checkpoints().await.unwrap().iter().map(|c| c.checkpoint.size).collect();
    let unsigned = (1..new_size).find(|n| !signed_sizes.contains(n)).unwrap();
    s.get(&format!("/api/v1/ledger/proof?index=0&size={unsigned}")).await.error(404, "not_found");
    s.get("/api/v1/ledger/proof?index=8").await.error(400, "invalid");
    s.get(&format!("/api/v1/ledger/proof?index=6&size={old_size}")).await.error(400, "invalid");

    // Consistency between the two checkpoints.
    let c = s.get(&format!("/api/v1/ledger/consistency?from={old_size}&to={new_size}")).await.ok();
    assert_eq!(c["from"], old_size);
    assert_eq!(c["to"], new_size);
    assert_eq!(c["from_root"], cp["root"]);
    assert_eq!(c["to_root"], new_cp["root"]);
    let proof: Vec<custos_ledger::Hash> = c["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| custos_ledger::Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    let root = |v: &Value| custos_ledger::Hash::from_base64(v.as_str().unwrap()).unwrap();
    verify_consistency(old_size, new_size, &root(&cp["root"]), &root(&new_cp["root"]), &proof).unwrap();
    assert!(verify_consistency(old_size, new_size, &root(&new_cp["root"]), &root(&new_cp["root"]), &proof).is_err());
    // Every pair of sizes is consistent.
    for from in 1..=new_size {
        for to in from..=new_size {
            let c = s.get(&format!("/api/v1/ledger/consistency?from={from}&to={to}")).await.ok();
            let proof: Vec<custos_ledger::Hash> = c["proof"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| custos_ledger::Hash::from_base64(h.as_str().unwrap()).unwrap())
                .collect();
            verify_consistency(from, to, &root(&c["from_root"]), &root(&c["to_root"]), &proof)
                .unwrap_or_else(|e| panic!("{from}..{to}: {e}"));
        }
    }
    s.get("/api/v1/ledger/consistency?from=5&to=3").await.error(400, "invalid");
    s.get("/api/v1/ledger/consistency?from=1&to=99").await.error(400, "invalid");
    // Reads append nothing.
    assert_eq!(s.ledger_size().await, new_size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_ledger_has_no_checkpoint_yet() {
    let s = Server::start_with(false).await;
    let summary = s.get("/api/v1/ledger").await.ok();
    assert_eq!(summary["size"], 0);
    assert_eq!(summary["latest_checkpoint"], Value::Null);
    s.get("/api/v1/ledger/checkpoint").await.error(404, "not_found");
    s.get("/api/v1/ledger/proof?index=0").await.error(404, "not_found");
    let v = s.send(Method::POST, "/api/v1/ledger/verify", None, None).await.ok();
    assert_eq!(v["verified"], true);
    assert_eq!(v["entries"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_runs_on_post_and_get_reports_the_latest_result() {
    let s = Server::start().await;
    // The start-up verification runs in the background; GET reports it once it finished.
    let mut startup = s.get("/api/v1/ledger/verify").await;
    for _ in 0..100 {
        if startup.status.as_u16() != 404 {
            break;
        }
        assert!(startup.error(404, "not_found").contains("not been verified"));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        startup = s.get("/api/v1/ledger/verify").await;
    }
    let startup = startup.ok();
    assert_eq!(startup["verified"], true);
    assert_eq!(startup["entries"], 1);
    s.register("v/bot", json!({})).await;
    s.checkpoint_all().await;
    s.register("v/bot2", json!({})).await;
    let size = s.ledger_size().await;
    let v = s.send(Method::POST, "/api/v1/ledger/verify", None, None).await.ok();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["entries"], size);
    assert_eq!(v["entries_verified"], size);
    assert!(v["checkpoints"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["failures"], json!([]));
    assert_eq!(v["first_bad_index"], Value::Null);
    assert!(v["root"].is_string());
    v["at"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let g = s.get("/api/v1/ledger/verify").await.ok();
    assert_eq!(g["verified"], true);
    assert_eq!(g["entries"], size);
    assert_eq!(g["root"], v["root"]);
    // Verifying appends nothing.
    assert_eq!(s.ledger_size().await, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_id_append_exactly_one_event() {
    let s = std::sync::Arc::new(Server::start().await);
    let before = s.ledger_size().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let r = s
                .post("/api/v1/agents", &json!({"id": "race/bot", "environment": "dev", "reason": format!("try {i}")}))
                .await;
            r.status.as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, [201, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(s.ledger_size().await, before + 1);

    // Distinct registrations all land, each in its own entry.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let r = s.post("/api/v1/agents", &json!({"id": format!("many/{i}"), "environment": "dev"})).await;
            r.expect(201)["event"]["index"].as_u64().unwrap()
        }));
    }
    let mut indices = Vec::new();
    for t in tasks {
        indices.push(t.await.unwrap());
    }
    indices.sort_unstable();
    assert_eq!(indices, (before + 1..before + 9).collect::<Vec<_>>());
    assert_eq!(s.ledger_size().await, before + 9);
}
