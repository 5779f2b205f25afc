//! CycloneDX 1.6 JSON for a discovery [`Report`]: the AI inventory as a BOM.
//!
//! CycloneDX has no component type for an agent and no `service` component type (services are
//! the top-level `services` array), so:
//!
//! - discovered agents, MCP servers and model clients are `application` components, `bom-ref` =
//!   the finding id; what custos knows about them (kind, framework, source, location,
//!   reconciliation label, registry agent, credential names) is `properties` in the `custos:`
//!   namespace, and where they were found is `evidence.occurrences`;
//! - registry agents that discovery did not see (a stale or orphaned verdict alone) are
//!   `application` components too, `bom-ref` `registry:<agent id>`;
//! - frameworks are `framework` components and models `machine-learning-model` components, one
//!   per name, each an edge in `dependencies` from what uses it;
//! - agent-client configs are `application` components (one per client and file) that depend on
//!   the servers they configure; a stdio server is an `application` component, an HTTP or SSE
//!   server a `service` with its endpoint and `authenticated` when a credential or header is set;
//! - hosts seen in traffic (model APIs, coding-agent services, agent infrastructure, MCP
//!   endpoints) are `services` with their provider and the workloads that called them;
//! - a credential is a `cryptographic-asset` component (`related-crypto-material`, type
//!   `credential`) named by provider and fingerprint, with its masked form as a property and an
//!   edge from each server or agent whose file holds it. The secret itself is never here.
//!
//! Every `bom-ref` is unique (a clash gets a `-2`, `-3` suffix) and every dependency names one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::model::{AgentFinding, CredentialFinding, Location, Reconciled, Report, Source, TrafficFinding};
use crate::sarif::{agent_id, digest, display};
use crate::scan::{Server, Transport};

/// The CycloneDX 1.6 BOM of `report`. `serial` is a UUID (`urn:uuid:` is added when missing;
/// make one with [`uuid_v4`]), `timestamp` an RFC 3339 time; both are parameters so the output
/// is reproducible.
pub fn to_cyclonedx(report: &Report, tool_version: &str, serial: &str, timestamp: &str) -> Value {
    let mut bom = Bom::default();
    let verdicts: BTreeMap<&str, &Reconciled> =
        report.reconciliation.iter().filter_map(|r| r.finding.as_deref().map(|f| (f, r))).collect();

    // Credentials first, so that servers and agents can point at them.
    let mut credentials: BTreeMap<&str, String> = BTreeMap::new();
    for c in &report.credentials {
        if !credentials.contains_key(c.fingerprint.as_str()) {
            let bom_ref = bom.credential(c, &report.credentials);
            credentials.insert(&c.fingerprint, bom_ref);
        }
    }

    let mut remote_by_url: BTreeMap<String, String> = BTreeMap::new();
    let mut configs: BTreeMap<(String, String), (Value, BTreeSet<String>)> = BTreeMap::new();
    for s in &report.servers {
        let held: Vec<&CredentialFinding> = report.credentials.iter().filter(|c| holds(s, c)).collect();
        let bom_ref = bom.server(s, &held);
        if let Transport::Http { url } | Transport::Sse { url } = &s.transport {
            remote_by_url.entry(url.clone()).or_insert_with(|| bom_ref.clone());
        }
        for c in held {
            if let Some(cref) = credentials.get(c.fingerprint.as_str()) {
                bom.depends(&bom_ref, cref);
            }
        }
        let key = (s.client.clone(), display(&s.path));
        let entry = configs.entry(key).or_insert_with(|| (json!(s.scope), BTreeSet::new()));
        entry.1.insert(bom_ref);
    }
    for ((client, path), (scope, servers)) in configs {
        let bom_ref = bom.refs.unique(format!("client:{client}:{}", digest(&[&path])));
        bom.components.push(json!({
            "type": "application",
            "bom-ref": bom_ref,
            "name": client,
            "description": format!("{client} MCP configuration"),
            "properties": props(&[("custos:kind", "agent_client_config"), ("custos:client", &client), ("custos:scope", scope.as_str().unwrap_or_default()), ("custos:location", &path)]),
            "evidence": {"occurrences": [{"location": path}]},
        }));
        for server in servers {
            bom.depends(&bom_ref, &server);
        }
    }

    for a in &report.agents {
        let id = agent_id(a);
        let verdict = verdicts.get(id.as_str()).copied();
        let held: Vec<&CredentialFinding> =
            report.credentials.iter().filter(|c| c.location.path == a.location.path).collect();
        let bom_ref = bom.agent(a, &id, verdict, &held);
        if !a.framework.is_empty() {
            let fw = bom.framework(&a.framework);
            bom.depends(&bom_ref, &fw);
        }
        for model in &a.models {
            let m = bom.model(model);
            bom.depends(&bom_ref, &m);
        }
        for server in &a.mcp_servers {
            if let Some(sref) = remote_by_url.get(server) {
                bom.depends(&bom_ref, sref);
            }
        }
        for c in held {
            if let Some(cref) = credentials.get(c.fingerprint.as_str()) {
                bom.depends(&bom_ref, cref);
            }
        }
    }
    for r in report.reconciliation.iter().filter(|r| r.finding.is_none()) {
        bom.registry_agent(r);
    }
    bom.traffic(&report.traffic);

    let serial = if serial.starts_with("urn:uuid:") { serial.to_string() } else { format!("urn:uuid:{serial}") };
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "lifecycles": [{"phase": "discovery"}],
            "tools": {"components": [{
                "type": "application",
                "name": "custos-discover",
                "version": tool_version,
                "description": "custos discovery of agents, MCP servers and LLM credentials",
            }]},
        },
        "components": bom.components,
    });
    if let Value::Object(map) = &mut doc {
        if !bom.services.is_empty() {
            map.insert("services".into(), Value::Array(bom.services));
        }
        let dependencies: Vec<Value> = bom
            .dependencies
            .into_iter()
            .map(|(r, on)| json!({"ref": r, "dependsOn": on.into_iter().collect::<Vec<_>>()}))
            .collect();
        if !dependencies.is_empty() {
            map.insert("dependencies".into(), Value::Array(dependencies));
        }
    }
    doc
}

/// A random (version 4, RFC 9562) UUID from 16 random bytes, as CycloneDX serial numbers want.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let part = |range: std::ops::Range<usize>| hex::encode(bytes.get(range).unwrap_or_default());
    format!("{}-{}-{}-{}-{}", part(0..4), part(4..6), part(6..8), part(8..10), part(10..16))
}

/// Whether credential `c` was found in server `s`'s entry.
fn holds(s: &Server, c: &CredentialFinding) -> bool {
    c.location.path == s.path
        && c.client.as_deref() == Some(s.client.as_str())
        && c.location.pointer.as_deref().is_some_and(|p| p == s.pointer || p.starts_with(&format!("{}/", s.pointer)))
}

#[derive(Default)]
struct Refs(BTreeSet<String>);

impl Refs {
    fn unique(&mut self, want: String) -> String {
        let mut candidate = want.clone();
        let mut n = 2;
        while !self.0.insert(candidate.clone()) {
            candidate = format!("{want}-{n}");
            n += 1;
        }
        candidate
    }
}

#[derive(Default)]
struct Bom {
    refs: Refs,
    components: Vec<Value>,
    services: Vec<Value>,
    dependencies: BTreeMap<String, BTreeSet<String>>,
    frameworks: BTreeMap<String, String>,
    models: BTreeMap<String, String>,
}

impl Bom {
    fn depends(&mut self, from: &str, on: &str) {
        if from != on {
            self.dependencies.entry(from.to_string()).or_default().insert(on.to_string());
        }
    }

    fn credential(&mut self, c: &CredentialFinding, all: &[CredentialFinding]) -> String {
        let prefix: String = c.fingerprint.chars().take(16).collect();
        let bom_ref = self.refs.unique(format!("credential:{prefix}"));
        let occurrences: Vec<Value> =
            all.iter().filter(|o| o.fingerprint == c.fingerprint).map(|o| occurrence(&o.location)).collect();
        self.components.push(json!({
            "type": "cryptographic-asset",
            "bom-ref": bom_ref,
            "name": format!("{} credential {prefix}", c.provider),
            "description": format!("{} credential found in clear (masked {})", c.provider, c.masked),
            "cryptoProperties": {
                "assetType": "related-crypto-material",
                "relatedCryptoMaterialProperties": {"type": "credential"},
            },
            "properties": props(&[
                ("custos:credential.provider", &c.provider),
                ("custos:credential.rule", &c.rule),
                ("custos:credential.masked", &c.masked),
                ("custos:credential.fingerprint", &c.fingerprint),
            ]),
            "evidence": {"occurrences": occurrences},
        }));
        bom_ref
    }

    fn server(&mut self, s: &Server, held: &[&CredentialFinding]) -> String {
        let path = display(&s.path);
        let key = digest(&[&s.client, &path, &s.pointer]);
        let mut properties = vec![
            prop("custos:kind", "mcp_server"),
            prop("custos:client", &s.client),
            prop("custos:scope", json!(s.scope).as_str().unwrap_or_default()),
            prop("custos:location", &format!("{path}#{}", s.pointer)),
        ];
        properties.extend(s.env.iter().map(|e| prop("custos:env", e)));
        properties.extend(s.headers.iter().map(|h| prop("custos:header", h)));
        properties.extend(held.iter().map(|c| prop("custos:credential.fingerprint", &c.fingerprint)));
        let location = Location { path: s.path.clone(), line: None, pointer: Some(s.pointer.clone()) };
        match &s.transport {
            Transport::Http { url } | Transport::Sse { url } => {
                let bom_ref = self.refs.unique(format!("mcp-remote:{}:{key}", s.name));
                properties.push(prop(
                    "custos:transport",
                    if matches!(s.transport, Transport::Sse { .. }) { "sse" } else { "http" },
                ));
                let mut service = json!({
                    "bom-ref": bom_ref,
                    "name": s.name,
                    "description": format!("remote MCP server configured in {}", s.client),
                    "authenticated": s.has_credential || !s.headers.is_empty(),
                    "properties": properties,
                });
                if let Some(endpoint) = endpoint(url) {
                    insert(&mut service, "endpoints", json!([endpoint]));
                }
                self.services.push(service);
                bom_ref
            }
            Transport::Stdio { command, args } => {
                let bom_ref = self.refs.unique(format!("mcp-local:{}:{key}", s.name));
                properties.push(prop("custos:transport", "stdio"));
                properties.push(prop("custos:command", command));
                properties.extend(args.iter().map(|a| prop("custos:arg", a)));
                self.components.push(json!({
                    "type": "application",
                    "bom-ref": bom_ref,
                    "name": s.name,
                    "description": format!("local MCP server started by {}", s.client),
                    "tags": ["mcp-server"],
                    "properties": properties,
                    "evidence": {"occurrences": [occurrence(&location)]},
                }));
                bom_ref
            }
            Transport::Unknown => {
                let bom_ref = self.refs.unique(format!("mcp:{}:{key}", s.name));
                properties.push(prop("custos:transport", "unknown"));
                self.components.push(json!({
                    "type": "application",
                    "bom-ref": bom_ref,
                    "name": s.name,
                    "tags": ["mcp-server"],
                    "properties": properties,
                    "evidence": {"occurrences": [occurrence(&location)]},
                }));
                bom_ref
            }
        }
    }

    fn agent(
        &mut self,
        a: &AgentFinding,
        id: &str,
        verdict: Option<&Reconciled>,
        held: &[&CredentialFinding],
    ) -> String {
        let bom_ref = self.refs.unique(id.to_string());
        let source = json!(a.source);
        let source = source.as_str().unwrap_or_default();
        let location = match a.location.line {
            Some(line) => format!("{}:{line}", display(&a.location.path)),
            None => display(&a.location.path),
        };
        let mut properties = vec![
            prop("custos:finding", id),
            prop("custos:kind", a.kind.as_str()),
            prop("custos:framework", &a.framework),
            prop("custos:source", source),
            prop("custos:location", &location),
        ];
        if let Some(language) = &a.language {
            properties.push(prop("custos:language", language));
        }
        if let Some(v) = verdict {
            properties.extend(verdict_props(v));
        }
        properties.extend(a.tools.iter().map(|t| prop("custos:tool", t)));
        properties.extend(a.mcp_servers.iter().map(|s| prop("custos:mcp_server", s)));
        properties.extend(a.credential_refs.iter().map(|c| prop("custos:credential_ref", c)));
        properties.extend(held.iter().map(|c| prop("custos:credential.fingerprint", &c.fingerprint)));
        let mut component = json!({
            "type": "application",
            "bom-ref": bom_ref,
            "name": a.name,
            "tags": [a.kind.as_str()],
            "properties": properties,
            "evidence": {
                "identity": [{
                    "field": "name",
                    "confidence": 1.0,
                    "methods": [{"technique": technique(a.source), "confidence": 1.0, "value": a.evidence}],
                }],
            },
        });
        if !a.location.path.as_os_str().is_empty()
            && let Some(Value::Object(evidence)) = component.get_mut("evidence")
        {
            evidence.insert("occurrences".into(), json!([occurrence(&a.location)]));
        }
        self.components.push(component);
        bom_ref
    }

    fn registry_agent(&mut self, r: &Reconciled) {
        let want = match &r.agent_id {
            Some(id) => format!("registry:{id}"),
            None => format!("registry-name:{}", r.name),
        };
        let bom_ref = self.refs.unique(want);
        let mut properties = vec![prop("custos:source", "registry")];
        properties.extend(verdict_props(r));
        self.components.push(json!({
            "type": "application",
            "bom-ref": bom_ref,
            "name": r.agent_name.as_deref().unwrap_or(&r.name),
            "description": "registered agent that discovery did not see",
            "properties": properties,
        }));
    }

    fn framework(&mut self, name: &str) -> String {
        if let Some(r) = self.frameworks.get(name) {
            return r.clone();
        }
        let bom_ref = self.refs.unique(format!("framework:{name}"));
        self.components.push(json!({"type": "framework", "bom-ref": bom_ref, "name": name}));
        self.frameworks.insert(name.to_string(), bom_ref.clone());
        bom_ref
    }

    fn model(&mut self, name: &str) -> String {
        if let Some(r) = self.models.get(name) {
            return r.clone();
        }
        let bom_ref = self.refs.unique(format!("model:{name}"));
        self.components.push(json!({"type": "machine-learning-model", "bom-ref": bom_ref, "name": name}));
        self.models.insert(name.to_string(), bom_ref.clone());
        bom_ref
    }

    /// One service per destination host, with every workload that called it.
    fn traffic(&mut self, flows: &[TrafficFinding]) {
        let mut by_host: BTreeMap<&str, Vec<&TrafficFinding>> = BTreeMap::new();
        for t in flows {
            by_host.entry(&t.host).or_default().push(t);
        }
        for (host, flows) in by_host {
            let Some(first) = flows.first() else { continue };
            let bom_ref = self.refs.unique(format!("host:{host}"));
            let requests: u64 = flows.iter().map(|t| t.requests).fold(0, u64::saturating_add);
            let mut properties = vec![
                prop("custos:kind", "traffic_destination"),
                prop("custos:category", &first.category),
                prop("custos:requests", &requests.to_string()),
            ];
            let workloads: BTreeSet<&str> = flows.iter().map(|t| t.workload.as_str()).collect();
            properties.extend(workloads.into_iter().map(|w| prop("custos:workload", w)));
            if let Some(seen) = flows.iter().filter_map(|t| t.first_seen.as_deref()).min() {
                properties.push(prop("custos:first_seen", seen));
            }
            if let Some(seen) = flows.iter().filter_map(|t| t.last_seen.as_deref()).max() {
                properties.push(prop("custos:last_seen", seen));
            }
            let places: BTreeSet<String> = flows.iter().map(|t| occurrence_text(&t.location)).collect();
            properties.extend(places.iter().map(|p| prop("custos:location", p)));
            let tools: BTreeSet<&str> = flows.iter().flat_map(|t| t.tools.iter().map(String::as_str)).collect();
            properties.extend(tools.into_iter().map(|t| prop("custos:tool", t)));
            let mut service = json!({
                "bom-ref": bom_ref,
                "provider": {"name": first.provider},
                "name": host,
                "description": format!("{} ({}) seen in traffic", first.provider, first.category),
                "properties": properties,
            });
            let scheme = if first.category == "local_model" { "http" } else { "https" };
            if let Some(endpoint) = endpoint(&format!("{scheme}://{host}")) {
                insert(&mut service, "endpoints", json!([endpoint]));
            }
            self.services.push(service);
            let models: BTreeSet<&str> = flows.iter().flat_map(|t| t.models.iter().map(String::as_str)).collect();
            for model in models {
                let m = self.model(model);
                self.depends(&bom_ref, &m);
            }
        }
    }
}

fn verdict_props(r: &Reconciled) -> Vec<Value> {
    let mut out = vec![prop("custos:reconciliation", r.label.as_str())];
    if let Some(id) = &r.agent_id {
        out.push(prop("custos:registry.agent_id", id));
    }
    if let Some(name) = &r.agent_name {
        out.push(prop("custos:registry.agent_name", name));
    }
    out.extend(r.evidence.iter().map(|e| prop("custos:reconciliation.evidence", e)));
    out
}

fn technique(source: Source) -> &'static str {
    match source {
        Source::Code => "source-code-analysis",
        Source::Config | Source::Iac | Source::K8s => "manifest-analysis",
        Source::Otel | Source::Gateway => "instrumentation",
        Source::Log | Source::File => "other",
    }
}

fn occurrence(loc: &Location) -> Value {
    let mut o = json!({"location": display(&loc.path)});
    if let Some(line) = loc.line {
        insert(&mut o, "line", json!(line));
    }
    if let Some(pointer) = &loc.pointer {
        insert(&mut o, "additionalContext", json!(format!("JSON pointer {pointer}")));
    }
    o
}

fn occurrence_text(loc: &Location) -> String {
    match loc.line {
        Some(line) => format!("{}:{line}", display(&loc.path)),
        None => display(&loc.path),
    }
}

/// The endpoint as written when it is a plain URL; a URL with spaces, controls or quotes (from a
/// log or a hand-edited config) is left out rather than written as an invalid IRI.
fn endpoint(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !rest.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
        });
    // A redaction marker (`[REDACTED:rule]`) may sit in the path or query, where brackets are
    // not allowed; only an IPv6 host may keep them.
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let tail = tail.map(|t| format!("/{}", t.replace('[', "%5B").replace(']', "%5D"))).unwrap_or_default();
    valid.then(|| format!("{scheme}://{authority}{tail}"))
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn props(pairs: &[(&str, &str)]) -> Vec<Value> {
    pairs.iter().map(|(n, v)| prop(n, v)).collect()
}

fn insert(object: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = object {
        map.insert(key.to_string(), value);
    }
}
