//! The whole estate as an inventory (`custos inventory --format cyclonedx|json`): every
//! registered agent, with what the registry knows of it, and the tools the gateway saw them use.
//!
//! CycloneDX 1.6 has no component type for an agent, so agents are `application` components
//! (`bom-ref` `agent:<id>`) with the registry's fields as `custos:` properties, the same style
//! as `custos discover`'s BOM (which this crate does not depend on: the two documents describe
//! different things, discovery's findings and the registry's records, and share only that
//! style). Tools are top-level `services` (`bom-ref` `tool:<server.tool>`, `group` the server),
//! and each agent depends on the tools it called. Secrets never appear: the registry holds none.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use custos_core::{Timestamp, registry::Agent};
use custos_store::protect::GatewayActivity;

/// What the gateway saw of one tool (`server.tool`) across the estate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolActivity {
    pub tool: String,
    pub calls: u64,
    #[serde(default)]
    pub denied: u64,
    /// Ids of the agents that called it.
    #[serde(default)]
    pub agents: BTreeSet<String>,
    #[serde(default)]
    pub first_seen: Option<Timestamp>,
    #[serde(default)]
    pub last_seen: Option<Timestamp>,
}

impl ToolActivity {
    /// One per `server.tool` from the gateway's activity projection
    /// ([`custos_store::ProtectStore::gateway_activity`]): calls under every decision (allowed,
    /// held, denied, shadow), the denied ones, the agents that called it, first and last seen.
    pub fn from_gateway(rows: &[GatewayActivity]) -> Vec<ToolActivity> {
        let mut out: BTreeMap<String, ToolActivity> = BTreeMap::new();
        for r in rows {
            let tool = format!("{}.{}", r.server, r.tool);
            let first = r.first_ts.parse::<Timestamp>().ok();
            let last = r.last_ts.parse::<Timestamp>().ok();
            let t = out.entry(tool.clone()).or_insert_with(|| ToolActivity {
                tool,
                calls: 0,
                denied: 0,
                agents: BTreeSet::new(),
                first_seen: None,
                last_seen: None,
            });
            t.calls = t.calls.saturating_add(r.calls);
            if r.decision == "deny" {
                t.denied = t.denied.saturating_add(r.calls);
            }
            t.agents.insert(r.agent.clone());
            t.first_seen = [t.first_seen, first].into_iter().flatten().min();
            t.last_seen = [t.last_seen, last].into_iter().flatten().max();
        }
        out.into_values().collect()
    }
}

/// What an inventory needs besides the agents.
#[derive(Debug, Clone, Copy)]
pub struct InventoryExtra<'a> {
    /// Tools from gateway activity; empty when there is none (or no gateway).
    pub tools: &'a [ToolActivity],
    /// The BOM's serial number, a UUID (`urn:uuid:` is added when missing; make one with
    /// [`uuid_v4`]). A parameter, like the time, so output is reproducible.
    pub serial: &'a str,
    /// When the inventory was taken; also the reference time for "recertification overdue".
    pub generated_at: Timestamp,
    /// custos's version, recorded as the producing tool.
    pub tool_version: &'a str,
}

/// A random (version 4, RFC 9562) UUID from 16 random bytes, as CycloneDX serial numbers want.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let part = |range: std::ops::Range<usize>| hex::encode(bytes.get(range).unwrap_or_default());
    format!("{}-{}-{}-{}-{}", part(0..4), part(4..6), part(6..8), part(8..10), part(10..16))
}

/// Tools merged by name (a tool listed twice is counted once, its figures summed).
fn merged(tools: &[ToolActivity]) -> BTreeMap<&str, ToolActivity> {
    let mut out: BTreeMap<&str, ToolActivity> = BTreeMap::new();
    for t in tools {
        match out.get_mut(t.tool.as_str()) {
            None => {
                out.insert(&t.tool, t.clone());
            }
            Some(m) => {
                m.calls = m.calls.saturating_add(t.calls);
                m.denied = m.denied.saturating_add(t.denied);
                m.agents.extend(t.agents.iter().cloned());
                m.first_seen = [m.first_seen, t.first_seen].into_iter().flatten().min();
                m.last_seen = [m.last_seen, t.last_seen].into_iter().flatten().max();
            }
        }
    }
    out
}

/// The estate as a CycloneDX 1.6 JSON BOM.
pub fn inventory_cyclonedx(agents: &[Agent], extra: &InventoryExtra<'_>) -> Value {
    let tools = merged(extra.tools);
    let mut components = Vec::with_capacity(agents.len());
    let mut dependencies: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for a in agents {
        let id = a.id.to_string();
        // The registry's ids are unique; a caller that passes an agent twice gets it once.
        if !seen.insert(id.clone()) {
            continue;
        }
        let bom_ref = format!("agent:{id}");
        let mut properties = vec![
            prop("custos:kind", "agent"),
            prop("custos:id", &id),
            prop("custos:state", a.state.as_str()),
            prop("custos:environment", a.environment.as_str()),
            prop("custos:risk_tier", a.risk_tier.as_str()),
            prop("custos:orphaned", if a.orphaned { "true" } else { "false" }),
            prop("custos:registered_at", &a.registered_at.to_string()),
            prop("custos:recert_due", &a.recert_due.to_string()),
            prop("custos:recert_overdue", if a.overdue(extra.generated_at) { "true" } else { "false" }),
        ];
        if let Some(owner) = &a.owner {
            properties.push(prop("custos:owner", owner.as_str()));
        }
        if let Some(sponsor) = &a.sponsor {
            properties.push(prop("custos:sponsor", sponsor.as_str()));
        }
        if let Some(p) = &a.granted_policy {
            properties.push(prop("custos:granted_policy", &p.name));
            properties.push(prop("custos:granted_policy.sha256", &p.sha256));
        }
        properties.extend(a.labels.iter().map(|l| prop("custos:label", l.as_str())));
        properties.extend(a.provenance.iter().map(|f| prop("custos:provenance", f)));
        let mut component = json!({
            "type": "application",
            "bom-ref": bom_ref,
            "name": a.name,
            "tags": ["ai-agent"],
            "properties": properties,
        });
        if !a.purpose.is_empty() {
            insert(&mut component, "description", json!(a.purpose));
        }
        components.push(component);
        for t in tools.values().filter(|t| t.agents.contains(&id)) {
            dependencies.entry(bom_ref.clone()).or_default().insert(format!("tool:{}", t.tool));
        }
    }
    let services: Vec<Value> = tools.values().map(service).collect();

    let serial = if extra.serial.starts_with("urn:uuid:") {
        extra.serial.to_string()
    } else {
        format!("urn:uuid:{}", extra.serial)
    };
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": extra.generated_at.to_string(),
            "lifecycles": [{"phase": "operations"}],
            "tools": {"components": [{
                "type": "application",
                "name": "custos-attest",
                "version": extra.tool_version,
                "description": "custos inventory of registered agents and the tools they use",
            }]},
        },
        "components": components,
    });
    if !services.is_empty() {
        insert(&mut doc, "services", Value::Array(services));
    }
    if !dependencies.is_empty() {
        let deps: Vec<Value> = dependencies
            .into_iter()
            .map(|(r, on)| json!({"ref": r, "dependsOn": on.into_iter().collect::<Vec<_>>()}))
            .collect();
        insert(&mut doc, "dependencies", Value::Array(deps));
    }
    doc
}

fn service(t: &ToolActivity) -> Value {
    let mut properties = vec![
        prop("custos:kind", "tool"),
        prop("custos:calls", &t.calls.to_string()),
        prop("custos:denied", &t.denied.to_string()),
    ];
    if let Some(ts) = t.first_seen {
        properties.push(prop("custos:first_seen", &ts.to_string()));
    }
    if let Some(ts) = t.last_seen {
        properties.push(prop("custos:last_seen", &ts.to_string()));
    }
    properties.extend(t.agents.iter().map(|a| prop("custos:agent", a)));
    let mut s = json!({
        "bom-ref": format!("tool:{}", t.tool),
        "name": t.tool,
        "description": "tool called through the custos gateway",
        "properties": properties,
    });
    // `server.tool`: the server is the service's group.
    if let Some((server, _)) = t.tool.split_once('.')
        && !server.is_empty()
    {
        insert(&mut s, "group", json!(server));
    }
    s
}

/// The estate as custos's own JSON: every agent record as the registry API returns it, plus
/// whether its recertification is overdue and which tools it used; the tools; a summary.
pub fn inventory_json(agents: &[Agent], extra: &InventoryExtra<'_>) -> Value {
    let tools = merged(extra.tools);
    let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut orphaned, mut overdue_n, mut ownerless) = (0u64, 0u64, 0u64);
    let mut records = Vec::with_capacity(agents.len());
    for a in agents {
        *by_state.entry(a.state.as_str()).or_default() += 1;
        orphaned += u64::from(a.orphaned);
        ownerless += u64::from(a.owner.is_none());
        let late = a.overdue(extra.generated_at);
        overdue_n += u64::from(late);
        let id = a.id.to_string();
        let used: Vec<&str> = tools.values().filter(|t| t.agents.contains(&id)).map(|t| t.tool.as_str()).collect();
        let mut record = serde_json::to_value(a).unwrap_or(Value::Null);
        insert(&mut record, "recert_overdue", json!(late));
        insert(&mut record, "tools_used", json!(used));
        records.push(record);
    }
    json!({
        "version": 1,
        "generated_at": extra.generated_at.to_string(),
        "generator": format!("custos-attest {}", extra.tool_version),
        "summary": {
            "agents": agents.len(),
            "by_state": by_state,
            "orphaned": orphaned,
            "without_owner": ownerless,
            "recert_overdue": overdue_n,
            "tools": tools.len(),
        },
        "agents": records,
        "tools": tools.values().collect::<Vec<_>>(),
    })
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn insert(object: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = object {
        map.insert(key.to_string(), value);
    }
}
