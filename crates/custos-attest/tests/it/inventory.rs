//! The estate inventory from a real store: registered agents (one orphaned, one retired, one
//! overdue) and the tools the gateway saw them call, as CycloneDX 1.6 and as custos JSON.
//! `CUSTOS_WRITE_INVENTORY=DIR` writes both for the outside CycloneDX validator.

use std::{collections::BTreeMap, sync::Arc};

use custos_attest::inventory::{InventoryExtra, ToolActivity, inventory_cyclonedx, inventory_json, uuid_v4};
use custos_core::{
    Actor, ActorId, Event, EventKind, Timestamp,
    registry::{
        Agent, AgentQuery, AgentRegistered, AgentState, AgentStateChanged, Environment, LifecycleOp, OwnerOffboarded,
        RiskTier,
    },
};
use custos_ledger::NoteSigner;
use custos_store::{
    ProtectStore, RegistryStore, Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use serde_json::{Value, json};

use crate::html::HOSTILE;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn at(mut e: Event, time: &str) -> Event {
    e.ts = ts(time);
    e
}

fn admin() -> Actor {
    Actor::user(ActorId::admin())
}

fn register(id: &str, name: &str, owner: &str, env: Environment, risk: RiskTier, time: &str) -> Event {
    let p = AgentRegistered {
        name: name.into(),
        owner: Some(owner.parse().unwrap()),
        sponsor: None,
        purpose: format!("{name} purpose"),
        environment: env,
        risk_tier: risk,
        labels: ["team=ops".parse().unwrap()].into(),
        recert_interval_days: 90,
        provenance: vec![],
        reason: "onboarding".into(),
    };
    at(Event::new(admin(), Some(id.parse().unwrap()), &p).unwrap(), time)
}

fn lifecycle(id: &str, op: LifecycleOp, from: AgentState, to: AgentState, time: &str) -> Event {
    let p = AgentStateChanged { op, from, to, reason: "test".into(), revoked_count: 0, revoked_credentials: vec![] };
    at(Event::new(admin(), Some(id.parse().unwrap()), &p).unwrap(), time)
}

fn decision(agent: &str, server: &str, tool: &str, outcome: &str, time: &str) -> Event {
    let data = json!({"server": server, "tool": tool, "decision": outcome, "enforced": true, "policies": [],
        "credential": "cred_0000000000000001", "args_digest": "sha256:00", "args_preview": {}, "decide_us": 10});
    let actor = Actor { kind: custos_core::ActorType::Agent, id: agent.parse().unwrap() };
    at(Event::from_parts(EventKind::GatewayDecision, actor, Some(agent.parse().unwrap()), data).unwrap(), time)
}

/// A small estate in a real SQLite ledger; returns the agents and the gateway's tool activity.
fn estate() -> (Vec<Agent>, Vec<ToolActivity>) {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::from_seed("test.custos/ledger", &[42u8; 32]).unwrap();
    let store = Arc::new(SqliteStore::create(&dir.path().join("l.db"), signer, SqliteOptions::default()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut events = vec![
            register(
                "payments/refund-bot",
                "Refund bot",
                "alice@example.com",
                Environment::Prod,
                RiskTier::High,
                "2026-11-01T08:00:00Z",
            ),
            register(
                "ops/digest",
                "Ops digest",
                "bob@example.com",
                Environment::Staging,
                RiskTier::Low,
                "2026-06-01T08:00:00Z",
            ),
            register(
                "ops/legacy",
                "Legacy",
                "bob@example.com",
                Environment::Dev,
                RiskTier::Medium,
                "2026-05-01T08:00:00Z",
            ),
            register(
                "lab/hostile",
                HOSTILE,
                "mallory@example.com",
                Environment::Dev,
                RiskTier::Critical,
                "2026-11-02T08:00:00Z",
            ),
        ];
        for id in ["payments/refund-bot", "ops/digest", "lab/hostile"] {
            events.push(lifecycle(
                id,
                LifecycleOp::Approve,
                AgentState::Registered,
                AgentState::Active,
                "2026-11-03T09:00:00Z",
            ));
        }
        events.push(lifecycle(
            "ops/legacy",
            LifecycleOp::Retire,
            AgentState::Registered,
            AgentState::Retired,
            "2026-11-04T09:00:00Z",
        ));
        let offboard = OwnerOffboarded {
            owner: "mallory@example.com".parse().unwrap(),
            orphaned_count: 1,
            agents: vec!["lab/hostile".parse().unwrap()],
            reason: "left the company".into(),
        };
        events.push(at(Event::new(admin(), None, &offboard).unwrap(), "2026-11-20T09:00:00Z"));
        for (i, (agent, server, tool, outcome)) in [
            ("payments/refund-bot", "payments", "refund", "allow"),
            ("payments/refund-bot", "payments", "refund", "allow"),
            ("payments/refund-bot", "payments", "refund", "deny"),
            ("payments/refund-bot", "crm", "read_customer", "allow"),
            ("payments/refund-bot", "crm", "read_customer", "approval"),
            ("ops/digest", "crm", "read_customer", "allow"),
            ("ops/digest", "mail", "send", "deny"),
        ]
        .into_iter()
        .enumerate()
        {
            events.push(decision(agent, server, tool, outcome, &format!("2026-11-{:02}T10:00:00Z", 10 + i)));
        }
        for e in events {
            store.append(e).await.unwrap();
        }
        let agents = store.agents(&AgentQuery { limit: 1000, ..Default::default() }).await.unwrap();
        let activity = store.gateway_activity().await.unwrap();
        store.close().await.unwrap();
        (agents, ToolActivity::from_gateway(&activity))
    })
}

const SERIAL: &str = "0b7e1c52-5a4f-4d7e-9c1a-2f3e4d5c6b7a";

fn extra(tools: &[ToolActivity]) -> InventoryExtra<'_> {
    InventoryExtra { tools, serial: SERIAL, generated_at: ts("2026-12-01T00:00:00Z"), tool_version: "0.1.0" }
}

fn props(component: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in component["properties"].as_array().unwrap() {
        out.entry(p["name"].as_str().unwrap().to_string()).or_default().push(p["value"].as_str().unwrap().to_string());
    }
    out
}

fn one<'a>(p: &'a BTreeMap<String, Vec<String>>, name: &str) -> &'a str {
    match p.get(name).map(Vec::as_slice) {
        Some([v]) => v,
        other => panic!("{name}: {other:?}"),
    }
}

/// Every registered agent is an `application` component carrying the registry's facts; every
/// tool the gateway saw is a service with its calls and denials; each agent depends on the
/// tools it called.
#[test]
fn the_estate_as_cyclonedx() {
    let (agents, tools) = estate();
    assert_eq!(agents.len(), 4);
    let bom = inventory_cyclonedx(&agents, &extra(&tools));
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["serialNumber"], format!("urn:uuid:{SERIAL}"));
    assert_eq!(bom["metadata"]["timestamp"], "2026-12-01T00:00:00.000000Z");
    assert_eq!(bom["metadata"]["tools"]["components"][0]["name"], "custos-attest");

    let components = bom["components"].as_array().unwrap();
    assert_eq!(components.len(), 4);
    let by_id: BTreeMap<String, &Value> =
        components.iter().map(|c| (one(&props(c), "custos:id").to_string(), c)).collect();

    let refund = by_id["payments/refund-bot"];
    assert_eq!(
        (refund["type"].as_str(), refund["bom-ref"].as_str()),
        (Some("application"), Some("agent:payments/refund-bot"))
    );
    assert_eq!(refund["name"], "Refund bot");
    assert_eq!(refund["description"], "Refund bot purpose");
    let p = props(refund);
    assert_eq!(one(&p, "custos:owner"), "alice@example.com");
    assert_eq!(one(&p, "custos:state"), "active");
    assert_eq!(one(&p, "custos:environment"), "prod");
    assert_eq!(one(&p, "custos:risk_tier"), "high");
    assert_eq!(one(&p, "custos:orphaned"), "false");
    assert_eq!(one(&p, "custos:recert_due"), "2027-02-01T09:00:00.000000Z", "approval certifies; due 90 days later");
    assert_eq!(one(&p, "custos:recert_overdue"), "false");
    assert_eq!(one(&p, "custos:label"), "team=ops");

    let digest = props(by_id["ops/digest"]);
    assert_eq!(one(&digest, "custos:recert_overdue"), "false", "approved 2026-11-03, due in February");
    let legacy = props(by_id["ops/legacy"]);
    assert_eq!(one(&legacy, "custos:state"), "retired");
    assert_eq!(one(&legacy, "custos:recert_overdue"), "false", "a retired agent is never overdue");
    let hostile = by_id["lab/hostile"];
    assert_eq!(hostile["name"], super::html::HOSTILE, "JSON carries the name verbatim");
    assert_eq!(one(&props(hostile), "custos:orphaned"), "true", "its owner was offboarded");
    assert_eq!(one(&props(hostile), "custos:owner"), "mallory@example.com");

    let services = bom["services"].as_array().unwrap();
    let svc: BTreeMap<&str, &Value> = services.iter().map(|s| (s["name"].as_str().unwrap(), s)).collect();
    assert_eq!(svc.keys().copied().collect::<Vec<_>>(), ["crm.read_customer", "mail.send", "payments.refund"]);
    let refund_tool = props(svc["payments.refund"]);
    assert_eq!((one(&refund_tool, "custos:calls"), one(&refund_tool, "custos:denied")), ("3", "1"));
    assert_eq!(svc["payments.refund"]["group"], "payments");
    assert_eq!(svc["payments.refund"]["bom-ref"], "tool:payments.refund");
    let crm = props(svc["crm.read_customer"]);
    assert_eq!(one(&crm, "custos:calls"), "3", "allowed and held calls both count");
    assert_eq!(crm["custos:agent"], ["ops/digest", "payments/refund-bot"]);
    assert_eq!(one(&crm, "custos:first_seen"), "2026-11-13T10:00:00.000000Z");
    assert_eq!(one(&crm, "custos:last_seen"), "2026-11-15T10:00:00.000000Z");

    let deps: BTreeMap<&str, Vec<&str>> = bom["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["ref"].as_str().unwrap(),
                d["dependsOn"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(
        deps,
        BTreeMap::from([
            ("agent:ops/digest", vec!["tool:crm.read_customer", "tool:mail.send"]),
            ("agent:payments/refund-bot", vec!["tool:crm.read_customer", "tool:payments.refund"]),
        ])
    );
}

/// Without gateway activity there are no services and no dependencies (CycloneDX forbids an
/// empty `services` array nowhere, but an empty one says nothing); an empty estate is still a
/// valid BOM.
#[test]
fn no_gateway_no_services() {
    let (agents, _) = estate();
    let bom = inventory_cyclonedx(&agents, &extra(&[]));
    assert!(bom.get("services").is_none() && bom.get("dependencies").is_none());
    let empty = inventory_cyclonedx(&[], &extra(&[]));
    assert_eq!(empty["components"], json!([]));
}

/// The JSON inventory: the registry's records as they are, with overdue and tools used, and a
/// summary a dashboard can show.
#[test]
fn the_estate_as_json() {
    let (agents, tools) = estate();
    let mut late = agents.clone();
    // One more record, certified long ago: overdue at the inventory's time.
    let mut old = late.iter().find(|a| a.id.as_str() == "payments/refund-bot").unwrap().clone();
    old.id = "ops/old".parse().unwrap();
    old.recert_due = ts("2026-10-01T00:00:00Z");
    late.push(old);
    let doc = inventory_json(&late, &extra(&tools));
    assert_eq!(doc["version"], 1);
    assert_eq!(
        doc["summary"],
        json!({"agents": 5, "by_state": {"active": 4, "retired": 1}, "orphaned": 1, "without_owner": 0, "recert_overdue": 1, "tools": 3})
    );
    let records = doc["agents"].as_array().unwrap();
    let refund = records.iter().find(|r| r["id"] == "payments/refund-bot").unwrap();
    assert_eq!(refund["tools_used"], json!(["crm.read_customer", "payments.refund"]));
    assert_eq!(refund["recert_overdue"], false);
    assert_eq!(refund["owner"], "alice@example.com");
    assert_eq!(records.iter().find(|r| r["id"] == "ops/old").unwrap()["recert_overdue"], true);
    assert_eq!(doc["tools"][2]["tool"], "payments.refund");
    assert_eq!(doc["tools"][2]["denied"], 1);
}

/// With `CUSTOS_WRITE_INVENTORY=DIR`, writes `DIR/inventory.cdx.json` and `DIR/inventory.json`
/// (the estate above) and `DIR/inventory-broken.cdx.json` (a component without a type) for
/// `interop/validate/run.sh`.
#[test]
fn writes_inventory_for_the_outside_validator() {
    let Some(dir) = std::env::var_os("CUSTOS_WRITE_INVENTORY") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (agents, tools) = estate();
    let bom = inventory_cyclonedx(&agents, &InventoryExtra { serial: &uuid_v4([9u8; 16]), ..extra(&tools) });
    std::fs::write(dir.join("inventory.cdx.json"), serde_json::to_vec_pretty(&bom).unwrap()).unwrap();
    std::fs::write(
        dir.join("inventory.json"),
        serde_json::to_vec_pretty(&inventory_json(&agents, &extra(&tools))).unwrap(),
    )
    .unwrap();
    let mut broken = bom;
    broken["components"][0].as_object_mut().unwrap().remove("type");
    std::fs::write(dir.join("inventory-broken.cdx.json"), serde_json::to_vec_pretty(&broken).unwrap()).unwrap();
}
