//! SARIF 2.1.0 for a discovery [`Report`], shaped for GitHub code scanning.
//!
//! One run, tool `custos-discover`, one rule per finding type with stable ids (`CUSTOS-Dnnn`,
//! never renumbered: code scanning keys alerts on the rule id). Levels and scores:
//!
//! | rule | level | security-severity |
//! |---|---|---|
//! | `CUSTOS-D001` exposed-credential | error | 9.0 |
//! | `CUSTOS-D002` shadow-agent | error | 8.0 |
//! | `CUSTOS-D003` drifted-agent | warning | 7.0 |
//! | `CUSTOS-D004` orphaned-agent | warning | 6.0 |
//! | `CUSTOS-D005` stale-agent | warning | 3.0 |
//! | `CUSTOS-D006` mcp-server-with-credential | error | 8.0 |
//! | `CUSTOS-D007` mcp-server-configured | note | 1.0 |
//! | `CUSTOS-D008` agent-discovered | note | 1.0 |
//! | `CUSTOS-D009` llm-traffic | note | 1.0 |
//! | `CUSTOS-D010` agent-client-login | note | 1.0 |
//!
//! Only the risk rules carry the `security` tag, so code scanning treats the inventory notes as
//! plain notes and not as low-severity security alerts. A sanctioned verdict is no result: the
//! agent's own `agent-discovered` note carries the label in its properties.
//!
//! GitHub rejects a whole upload when one result has no location, so everything that has no
//! file (a registry agent that discovery did not see, an agent seen only at the gateway) is a
//! notification in `invocations[0].toolExecutionNotifications` associated with its rule, as are
//! skipped files (notification `CUSTOS-N001` skipped-file). A finding never holds a secret, and
//! nothing here adds one: credentials appear as provider, masked form and fingerprint.
//!
//! Paths under a scan root become relative URIs with `uriBaseId` `SRCROOT` (the first root),
//! `SRCROOT1`, … resolved by `run.originalUriBaseIds`; any other path becomes a `file://` URI.
//! Every byte outside the URI unreserved set is percent-encoded (spaces, non-ASCII, `%`, `#`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::model::{AgentFinding, CredentialFinding, Label, Location, Reconciled, Report, TrafficFinding};
use crate::scan::{LoginFile, Server};

/// The `$schema` of the documents written: the OASIS SARIF 2.1.0 schema, errata 01.
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// One finding type: its descriptor and how its results are graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Credential,
    Shadow,
    Drifted,
    Orphaned,
    Stale,
    ServerWithCredential,
    Server,
    Agent,
    Traffic,
    Login,
}

struct RuleDef {
    rule: Rule,
    id: &'static str,
    name: &'static str,
    level: &'static str,
    severity: &'static str,
    tags: &'static [&'static str],
    short: &'static str,
    full: &'static str,
    help: &'static str,
}

const RULES: &[RuleDef] = &[
    RuleDef {
        rule: Rule::Credential,
        id: "CUSTOS-D001",
        name: "exposed-credential",
        level: "error",
        severity: "9.0",
        tags: &["security", "credential", "secret"],
        short: "An LLM or service credential is stored in clear",
        full: "A credential (API key or token) was found in clear text in a file that agents or agent clients read. Anyone who can read the file can use it.",
        help: "Rotate the credential at its provider, remove it from the file and give it to the agent through a secret store or an environment variable that is not committed. The finding shows only a masked form and a keyed fingerprint; the same fingerprint elsewhere is the same secret.",
    },
    RuleDef {
        rule: Rule::Shadow,
        id: "CUSTOS-D002",
        name: "shadow-agent",
        level: "error",
        severity: "8.0",
        tags: &["security", "agent", "governance"],
        short: "An agent runs that no registry entry accounts for",
        full: "Discovery found an agent, MCP server or model client that matches no agent in the custos registry: nobody owns it and no policy applies to it.",
        help: "Register the agent with an owner and a scope (`custos agent register`), or remove it.",
    },
    RuleDef {
        rule: Rule::Drifted,
        id: "CUSTOS-D003",
        name: "drifted-agent",
        level: "warning",
        severity: "7.0",
        tags: &["security", "agent", "governance"],
        short: "A registered agent uses tools or servers beyond its granted scope",
        full: "A registered agent was seen using tools or MCP servers that its registry entry does not grant.",
        help: "Either widen the agent's granted scope in the registry after review, or remove the extra tools and servers from the agent.",
    },
    RuleDef {
        rule: Rule::Orphaned,
        id: "CUSTOS-D004",
        name: "orphaned-agent",
        level: "warning",
        severity: "6.0",
        tags: &["security", "agent", "governance"],
        short: "A registered agent has no active owner",
        full: "The agent is registered, but its owner is offboarded or unknown, so nobody answers for what it does.",
        help: "Assign a new owner to the agent in the registry, or retire it.",
    },
    RuleDef {
        rule: Rule::Stale,
        id: "CUSTOS-D005",
        name: "stale-agent",
        level: "warning",
        severity: "3.0",
        tags: &["security", "agent", "governance"],
        short: "A registered agent has not been seen for longer than the stale threshold",
        full: "The agent is registered but no source has seen it for longer than the stale threshold; its credentials and grants may be unused.",
        help: "Confirm the agent is still needed; otherwise retire it and revoke its credentials.",
    },
    RuleDef {
        rule: Rule::ServerWithCredential,
        id: "CUSTOS-D006",
        name: "mcp-server-with-credential",
        level: "error",
        severity: "8.0",
        tags: &["security", "mcp", "credential"],
        short: "An agent client starts an MCP server with a credential in its configuration",
        full: "An agent client's MCP configuration gives a server a credential in clear (in an environment value, header, argument or URL).",
        help: "Move the credential out of the client configuration (an environment reference such as `${VAR}` or the client's secret input), and rotate it.",
    },
    RuleDef {
        rule: Rule::Server,
        id: "CUSTOS-D007",
        name: "mcp-server-configured",
        level: "note",
        severity: "1.0",
        tags: &["inventory", "mcp"],
        short: "An agent client is configured to use an MCP server",
        full: "An agent client's configuration names an MCP server that the client starts (stdio) or connects to (HTTP or SSE).",
        help: "Inventory only. Check that the server is one your organisation approves.",
    },
    RuleDef {
        rule: Rule::Agent,
        id: "CUSTOS-D008",
        name: "agent-discovered",
        level: "note",
        severity: "1.0",
        tags: &["inventory", "agent"],
        short: "An agent, MCP server or model client was discovered",
        full: "Code, infrastructure, manifests or telemetry define or show an agent, MCP server, MCP client or model client.",
        help: "Inventory only; its reconciliation label (when reconciled) is in the result's properties.",
    },
    RuleDef {
        rule: Rule::Traffic,
        id: "CUSTOS-D009",
        name: "llm-traffic",
        level: "note",
        severity: "1.0",
        tags: &["inventory", "traffic"],
        short: "A workload talks to a model provider, agent service or MCP endpoint",
        full: "Proxy, DNS or egress logs or traces show requests from a workload to an LLM API, coding-agent service, agent infrastructure or MCP endpoint.",
        help: "Inventory only. Check that the workload is a known agent and the provider an approved one.",
    },
    RuleDef {
        rule: Rule::Login,
        id: "CUSTOS-D010",
        name: "agent-client-login",
        level: "note",
        severity: "1.0",
        tags: &["inventory", "credential"],
        short: "An agent client's login file is present",
        full: "An agent client keeps its login or token file here. It was not opened.",
        help: "Inventory only. The file holds a session for the client; keep it out of shared or committed directories.",
    },
];

const NOTIFICATIONS: &[(&str, &str, &str)] = &[
    ("CUSTOS-N001", "skipped-file", "A file was found but not scanned; the message says why"),
    ("CUSTOS-N002", "finding-without-file", "A finding that has no file to point at (registry agent, gateway)"),
];

fn def(rule: Rule) -> Option<(usize, &'static RuleDef)> {
    RULES.iter().enumerate().find(|(_, d)| d.rule == rule)
}

/// The SARIF 2.1.0 log of `report`. Paths under one of `roots` (absolute paths, as the report's
/// are; relative roots are ignored) are written relative to the most specific one (see the
/// module doc); `tool_version` is the driver's version.
pub fn to_sarif(report: &Report, roots: &[PathBuf], tool_version: &str) -> Value {
    let uris = Uris::new(roots);
    let mut out = Out { uris: &uris, results: Vec::new(), notifications: Vec::new() };
    for credential in &report.credentials {
        out.credential(credential);
    }
    let agents: BTreeMap<String, &AgentFinding> = report.agents.iter().map(|a| (agent_id(a), a)).collect();
    for verdict in &report.reconciliation {
        out.verdict(verdict, &agents);
    }
    let labels: BTreeMap<&str, &Reconciled> =
        report.reconciliation.iter().filter_map(|r| r.finding.as_deref().map(|f| (f, r))).collect();
    for agent in &report.agents {
        let id = agent_id(agent);
        out.agent(agent, &id, labels.get(id.as_str()).copied());
    }
    for server in &report.servers {
        out.server(server);
    }
    for flow in &report.traffic {
        out.traffic(flow);
    }
    for login in &report.logins {
        out.login(login);
    }
    for skipped in &report.skipped {
        let message = format!("{} was not scanned: {}", display(&skipped.path), skipped.reason);
        let mut n = notification(0, "note", &message);
        insert(&mut n, "locations", json!([{"physicalLocation": {"artifactLocation": uris.artifact(&skipped.path)}}]));
        out.notifications.push(n);
    }

    let rules: Vec<Value> = RULES
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.name,
                "shortDescription": {"text": d.short},
                "fullDescription": {"text": d.full},
                "help": {"text": d.help},
                "defaultConfiguration": {"level": d.level},
                "properties": {"security-severity": d.severity, "tags": d.tags},
            })
        })
        .collect();
    let notifications: Vec<Value> = NOTIFICATIONS
        .iter()
        .map(|(id, name, text)| json!({"id": id, "name": name, "shortDescription": {"text": text}}))
        .collect();
    let mut invocation = json!({"executionSuccessful": true});
    if !out.notifications.is_empty() {
        insert(&mut invocation, "toolExecutionNotifications", Value::Array(out.notifications));
    }
    let mut run = json!({
        "tool": {"driver": {
            "name": "custos-discover",
            "version": tool_version,
            "rules": rules,
            "notifications": notifications,
        }},
        "invocations": [invocation],
        "results": out.results,
    });
    if !uris.roots.is_empty() {
        let bases: Map<String, Value> = uris
            .roots
            .iter()
            .map(|(root, id)| (id.clone(), json!({"uri": format!("{}/", file_uri(root).trim_end_matches('/'))})))
            .collect();
        insert(&mut run, "originalUriBaseIds", Value::Object(bases));
    }
    json!({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]})
}

struct Out<'a> {
    uris: &'a Uris,
    results: Vec<Value>,
    notifications: Vec<Value>,
}

impl Out<'_> {
    /// A result at `location`, or a notification associated with `rule` when there is no file.
    fn push(
        &mut self,
        rule: Rule,
        message: String,
        location: Option<&Location>,
        fingerprints: Value,
        properties: Value,
    ) {
        // Every `Rule` has a descriptor; a test checks it.
        let Some((index, d)) = def(rule) else { return };
        let level = d.level;
        match location.filter(|l| !l.path.as_os_str().is_empty()) {
            Some(loc) => self.results.push(json!({
                "ruleId": d.id,
                "ruleIndex": index,
                "level": level,
                "message": {"text": message},
                "locations": [self.uris.location(loc)],
                "partialFingerprints": fingerprints,
                "properties": properties,
            })),
            None => {
                let mut n = notification(1, level, &message);
                insert(&mut n, "associatedRule", json!({"id": d.id, "index": index}));
                insert(&mut n, "properties", properties);
                self.notifications.push(n);
            }
        }
    }

    fn credential(&mut self, c: &CredentialFinding) {
        let prefix: String = c.fingerprint.chars().take(12).collect();
        let mut message =
            format!("Exposed {} credential `{}` (rule {}, fingerprint {prefix})", c.provider, c.masked, c.rule);
        if let (Some(client), Some(server)) = (&c.client, &c.server) {
            message.push_str(&format!(" in the {client} MCP server `{server}`"));
        }
        if let Some(pointer) = &c.location.pointer {
            message.push_str(&format!(" at `{pointer}`"));
        }
        let place = c.location.pointer.clone().or_else(|| c.location.line.map(|l| l.to_string())).unwrap_or_default();
        let fingerprints = json!({
            "credentialFingerprint/v1": c.fingerprint,
            "credentialPlace/v1": digest(&[&display(&c.location.path), &place]),
        });
        let mut props = json!({
            "provider": c.provider,
            "rule": c.rule,
            "masked": c.masked,
            "fingerprint": c.fingerprint,
            "source": c.source,
        });
        for (key, value) in [("client", &c.client), ("server", &c.server), ("pointer", &c.location.pointer)] {
            if let Some(value) = value {
                insert(&mut props, key, json!(value));
            }
        }
        self.push(Rule::Credential, message, Some(&c.location), fingerprints, props);
    }

    fn verdict(&mut self, r: &Reconciled, agents: &BTreeMap<String, &AgentFinding>) {
        let rule = match r.label {
            Label::Sanctioned => return,
            Label::Shadow => Rule::Shadow,
            Label::Orphaned => Rule::Orphaned,
            Label::Stale => Rule::Stale,
            Label::Drifted => Rule::Drifted,
        };
        let registered = match (&r.agent_id, &r.agent_name) {
            (Some(id), Some(name)) => format!(" (registry agent `{name}`, {id})"),
            (Some(id), None) => format!(" (registry agent {id})"),
            (None, Some(name)) => format!(" (registry agent `{name}`)"),
            (None, None) => String::new(),
        };
        let mut message = format!("{} agent `{}`{registered}", capitalised(r.label.as_str()), r.name);
        if !r.evidence.is_empty() {
            message.push_str(": ");
            message.push_str(&r.evidence.join("; "));
        }
        let key = r
            .finding
            .clone()
            .or_else(|| r.agent_id.as_ref().map(|id| format!("registry:{id}")))
            .unwrap_or_else(|| format!("name:{}", r.name));
        let location = r.finding.as_ref().and_then(|f| agents.get(f)).map(|a| &a.location);
        let mut props = json!({"label": r.label.as_str(), "name": r.name, "evidence": r.evidence});
        for (k, v) in [("finding", &r.finding), ("agentId", &r.agent_id), ("agentName", &r.agent_name)] {
            if let Some(v) = v {
                insert(&mut props, k, json!(v));
            }
        }
        self.push(rule, message, location, json!({"custosFinding/v1": key}), props);
    }

    fn agent(&mut self, a: &AgentFinding, id: &str, verdict: Option<&Reconciled>) {
        let mut message = format!("{} `{}` ({}) found by {}", a.kind.as_str(), a.name, a.framework, source_name(a));
        if !a.models.is_empty() {
            message.push_str(&format!("; models: {}", a.models.join(", ")));
        }
        if !a.tools.is_empty() {
            message.push_str(&format!("; tools: {}", a.tools.join(", ")));
        }
        if !a.mcp_servers.is_empty() {
            message.push_str(&format!("; MCP servers: {}", a.mcp_servers.join(", ")));
        }
        let mut props = json!({
            "findingId": id,
            "name": a.name,
            "kind": a.kind.as_str(),
            "framework": a.framework,
            "source": a.source,
            "evidence": a.evidence,
        });
        for (k, v) in [
            ("models", &a.models),
            ("tools", &a.tools),
            ("mcpServers", &a.mcp_servers),
            ("credentialRefs", &a.credential_refs),
        ] {
            if !v.is_empty() {
                insert(&mut props, k, json!(v));
            }
        }
        if let Some(v) = verdict {
            insert(&mut props, "reconciliation", json!(v.label.as_str()));
        }
        if let Some(pointer) = &a.location.pointer {
            insert(&mut props, "pointer", json!(pointer));
        }
        self.push(Rule::Agent, message, Some(&a.location), json!({"custosFinding/v1": id}), props);
    }

    fn server(&mut self, s: &Server) {
        let rule = if s.has_credential { Rule::ServerWithCredential } else { Rule::Server };
        let (transport, target) = transport(s);
        let mut message = format!("{} MCP server `{}` ({transport}: {target}) at `{}`", s.client, s.name, s.pointer);
        if s.has_credential {
            message.push_str(" holds a credential in clear; see the exposed-credential results for it");
        }
        let props = json!({
            "client": s.client,
            "scope": s.scope,
            "pointer": s.pointer,
            "transport": transport,
            "env": s.env,
            "headers": s.headers,
            "hasCredential": s.has_credential,
        });
        let location = Location { path: s.path.clone(), line: None, pointer: Some(s.pointer.clone()) };
        let fingerprint = digest(&[&s.client, &display(&s.path), &s.pointer]);
        self.push(rule, message, Some(&location), json!({"custosServer/v1": fingerprint}), props);
    }

    fn traffic(&mut self, t: &TrafficFinding) {
        let message = format!(
            "`{}` → {} ({}, {}): {} request{}",
            t.workload,
            t.host,
            t.provider,
            t.category,
            t.requests,
            if t.requests == 1 { "" } else { "s" }
        );
        let mut props = json!({
            "workload": t.workload,
            "host": t.host,
            "provider": t.provider,
            "category": t.category,
            "requests": t.requests,
            "source": t.source,
        });
        for (k, v) in [("firstSeen", &t.first_seen), ("lastSeen", &t.last_seen)] {
            if let Some(v) = v {
                insert(&mut props, k, json!(v));
            }
        }
        for (k, v) in [("models", &t.models), ("tools", &t.tools)] {
            if !v.is_empty() {
                insert(&mut props, k, json!(v));
            }
        }
        let fingerprint = digest(&[&t.workload, &t.host, &t.provider, &display(&t.location.path)]);
        self.push(Rule::Traffic, message, Some(&t.location), json!({"custosFlow/v1": fingerprint}), props);
    }

    fn login(&mut self, l: &LoginFile) {
        let message = format!("{} login file present ({} bytes, not opened)", l.client, l.size);
        let fingerprint = digest(&[&l.client, &display(&l.path)]);
        self.push(
            Rule::Login,
            message,
            Some(&Location::file(l.path.clone())),
            json!({"custosLogin/v1": fingerprint}),
            json!({"client": l.client, "size": l.size}),
        );
    }
}

fn notification(index: usize, level: &str, message: &str) -> Value {
    let (id, _, _) = NOTIFICATIONS.get(index).copied().unwrap_or(("CUSTOS-N000", "", ""));
    json!({"descriptor": {"id": id, "index": index}, "level": level, "message": {"text": message}})
}

fn insert(object: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = object {
        map.insert(key.to_string(), value);
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn source_name(a: &AgentFinding) -> String {
    serde_json::to_value(a.source).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn transport(s: &Server) -> (&'static str, String) {
    use crate::scan::Transport;
    match &s.transport {
        Transport::Stdio { command, args } if args.is_empty() => ("stdio", command.clone()),
        Transport::Stdio { command, args } => ("stdio", format!("{command} {}", args.join(" "))),
        Transport::Http { url } => ("http", url.clone()),
        Transport::Sse { url } => ("sse", url.clone()),
        Transport::Unknown => ("unknown", String::new()),
    }
}

/// The finding's id, or its stable id when the assembling caller left it empty.
pub(crate) fn agent_id(a: &AgentFinding) -> String {
    if a.id.is_empty() { a.stable_id() } else { a.id.clone() }
}

/// 16 hex digits of SHA-256 over length-prefixed parts: a stable short key for things that
/// carry no id of their own.
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize().get(..8).unwrap_or_default())
}

pub(crate) fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The scan roots, most specific first, each with its `uriBaseId`.
struct Uris {
    roots: Vec<(PathBuf, String)>,
}

impl Uris {
    fn new(roots: &[PathBuf]) -> Self {
        let mut named: Vec<(PathBuf, String)> = Vec::new();
        for root in roots {
            if root.is_absolute() && !named.iter().any(|(r, _)| r == root) {
                let id = if named.is_empty() { "SRCROOT".to_string() } else { format!("SRCROOT{}", named.len()) };
                named.push((root.clone(), id));
            }
        }
        Self { roots: named }
    }

    fn artifact(&self, path: &Path) -> Value {
        let best = self
            .roots
            .iter()
            .filter_map(|(root, id)| path.strip_prefix(root).ok().map(|rel| (rel, id, root.components().count())))
            .filter(|(rel, _, _)| !rel.as_os_str().is_empty())
            .max_by_key(|(_, _, depth)| *depth);
        match best {
            Some((rel, id, _)) => json!({"uri": encode_path(rel), "uriBaseId": id}),
            None if path.is_absolute() => json!({"uri": file_uri(path)}),
            None => json!({"uri": encode_path(path)}),
        }
    }

    fn location(&self, loc: &Location) -> Value {
        let mut physical = json!({"artifactLocation": self.artifact(&loc.path)});
        if let Some(line) = loc.line.filter(|l| *l >= 1) {
            insert(&mut physical, "region", json!({"startLine": line}));
        }
        let mut location = json!({"physicalLocation": physical});
        if let Some(pointer) = &loc.pointer {
            let name = pointer.rsplit('/').next().unwrap_or_default();
            insert(
                &mut location,
                "logicalLocations",
                json!([{"name": name.replace("~1", "/").replace("~0", "~"), "fullyQualifiedName": pointer, "kind": "property"}]),
            );
        }
        location
    }
}

/// `file:///…` for an absolute path.
fn file_uri(path: &Path) -> String {
    let encoded = encode_path(path);
    if encoded.starts_with('/') { format!("file://{encoded}") } else { format!("file:///{encoded}") }
}

/// The path's components joined by `/`, each percent-encoded byte by byte (raw bytes on Unix, so
/// a non-UTF-8 name survives; UTF-8 elsewhere). A leading root stays a leading `/`.
fn encode_path(path: &Path) -> String {
    let mut out = String::new();
    for component in path.components() {
        match component {
            Component::RootDir => out.push('/'),
            Component::Prefix(prefix) => {
                // A Windows drive (`C:`): the colon is legal in a file URI path.
                out.push_str(&prefix.as_os_str().to_string_lossy().replace('\\', "/"));
            }
            Component::CurDir => {}
            Component::ParentDir => {
                push_sep(&mut out);
                out.push_str("..");
            }
            Component::Normal(name) => {
                push_sep(&mut out);
                encode_bytes(&os_bytes(name), &mut out);
            }
        }
    }
    out
}

fn push_sep(out: &mut String) {
    if !out.is_empty() && !out.ends_with('/') {
        out.push('/');
    }
}

#[cfg(unix)]
fn os_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt as _;
    name.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    name.to_string_lossy().as_bytes().to_vec()
}

fn encode_bytes(bytes: &[u8], out: &mut String) {
    use std::fmt::Write as _;
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}
