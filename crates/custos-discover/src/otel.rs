//! OpenTelemetry traces in OTLP JSON: the agents a workload runs, the tools they call and the
//! model providers, agent services and MCP servers they reach, read from GenAI spans.
//!
//! A file is either one `ExportTraceServiceRequest` document or the collector file exporter's
//! JSON lines (one request per line). Spans follow the GenAI semantic conventions
//! (`gen_ai.operation.name`, `gen_ai.agent.name`, `gen_ai.tool.name`, `gen_ai.provider.name` or
//! the deprecated `gen_ai.system`, `gen_ai.request.model`, `server.address`, MCP
//! `mcp.method.name`) or OpenInference's (`openinference.span.kind`, `llm.model_name`,
//! `tool.name`). Tool calls and model calls are attributed to the nearest agent span among their
//! ancestors; when the parent chain is broken, to the agents of the same trace.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, Cursor, Read};
use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::hosts::{HostCatalogue, HostCategory, HostEntry, is_local, split_host_port};
use crate::logs::{Line, LineReader, display_host};
use crate::model::{AgentFinding, AgentKind, Location, Source, TrafficFinding};

/// The longest JSON line read; a longer one is counted as bad.
const MAX_OTLP_LINE: usize = 32 * 1024 * 1024;
/// The largest single document read.
const MAX_OTLP_DOCUMENT: u64 = 256 * 1024 * 1024;
/// Parent chains longer than this are treated as broken (and cycles end).
const MAX_DEPTH: usize = 256;

/// What an OTLP scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelScan {
    /// `otlp-json` (one document) or `otlp-jsonl` (file exporter lines).
    pub format: &'static str,
    pub lines: u64,
    /// JSON lines that are not an OTLP trace request.
    pub bad_lines: u64,
    pub spans: u64,
    /// Agents (`agent`) per workload, and `llm_client`s: workloads with model calls and no
    /// agent span. Sorted by name, then evidence.
    pub agents: Vec<AgentFinding>,
    /// One per (workload, host), sorted by workload then host.
    pub traffic: Vec<TrafficFinding>,
}

/// Scans one OTLP JSON trace file. `path` names it in findings. Errors when it is not OTLP JSON
/// (a single document that does not parse, or lines none of which is a trace request).
pub fn scan_otlp(hosts: &HostCatalogue, path: &Path, reader: impl BufRead) -> Result<OtelScan, String> {
    let mut lines = LineReader::new(reader, MAX_OTLP_LINE);
    let mut spans = Spans::default();
    let mut bad = 0_u64;
    let mut good = 0_u64;
    let mut first = true;
    while let Some(line) = lines.next_line().map_err(|e| format!("read error after line {}: {e}", lines.number))? {
        let Line::Text(text) = line else {
            if first {
                return Err(format!("line {} is longer than {MAX_OTLP_LINE} bytes", lines.number));
            }
            bad += 1;
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Request>(&text) {
            Ok(Request { resource_spans: Some(rs) }) => {
                good += 1;
                spans.add(rs, lines.number);
            }
            Err(e) if first && e.is_eof() => {
                // A document spread over lines: parse it whole, from its first line on.
                let number = lines.number;
                let rest = Cursor::new(format!("{text}\n")).chain(lines.into_inner());
                let mut counted = CountLines { inner: rest.take(MAX_OTLP_DOCUMENT), newlines: number - 1, last: 0 };
                let request: Request = serde_json::from_reader(&mut counted)
                    .map_err(|e| format!("not an OTLP JSON trace (limit {MAX_OTLP_DOCUMENT} bytes): {e}"))?;
                // serde_json stops at the end of the value: count the trailing whitespace too.
                let mut tail = [0_u8; 4096];
                while counted.read(&mut tail).map_err(|e| format!("read error: {e}"))? > 0 {}
                let lines = counted.newlines + u64::from(counted.last != b'\n' && counted.last != 0);
                let Some(rs) = request.resource_spans else {
                    return Err("a JSON document without `resourceSpans`: not an OTLP trace".into());
                };
                spans.add(rs, number);
                let (agents, traffic) = spans.finish(hosts, path, true);
                return Ok(OtelScan { format: "otlp-json", lines, bad_lines: 0, spans: spans.count, agents, traffic });
            }
            _ => bad += 1,
        }
        first = false;
    }
    if good == 0 {
        return Err("no OTLP trace request (`resourceSpans`) found".into());
    }
    let (agents, traffic) = spans.finish(hosts, path, false);
    Ok(OtelScan { format: "otlp-jsonl", lines: lines.number, bad_lines: bad, spans: spans.count, agents, traffic })
}

/// Counts the lines of a document as serde_json reads it.
struct CountLines<R> {
    inner: R,
    newlines: u64,
    last: u8,
}

impl<R: std::io::Read> std::io::Read for CountLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        self.newlines += memchr::memchr_iter(b'\n', read).count() as u64;
        if let Some(&b) = read.last() {
            self.last = b;
        }
        Ok(n)
    }
}

#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default, rename = "resourceSpans", alias = "resource_spans")]
    resource_spans: Option<Vec<ResourceSpans>>,
}

#[derive(Debug, Deserialize)]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(
        default,
        rename = "scopeSpans",
        alias = "scope_spans",
        alias = "instrumentationLibrarySpans",
        alias = "instrumentation_library_spans"
    )]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Debug, Default, Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Debug, Deserialize)]
struct Span {
    #[serde(default, rename = "traceId", alias = "trace_id")]
    trace_id: String,
    #[serde(default, rename = "spanId", alias = "span_id")]
    span_id: String,
    #[serde(default, rename = "parentSpanId", alias = "parent_span_id")]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: Value,
    #[serde(default, rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: Value,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: Value,
}

/// The string or number in an OTLP `AnyValue`.
fn any_str(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    let s = match (obj.get("stringValue"), obj.get("intValue")) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::String(s))) => s.clone(),
        (_, Some(Value::Number(n))) => n.to_string(),
        _ => return None,
    };
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| any_str(&kv.value))
}

/// A span that matters for discovery, reduced to what is kept.
#[derive(Debug)]
struct Rec {
    workload: usize,
    trace: String,
    id: String,
    line: u64,
    name: String,
    start: Option<Timestamp>,
    /// Agent name and the attribute that made it an agent span.
    agent: Option<(String, String)>,
    tool: Option<String>,
    model_call: bool,
    mcp: bool,
    models: Vec<String>,
    provider: Option<String>,
    server: Option<String>,
    client_side: bool,
}

#[derive(Debug, Default)]
struct Spans {
    workloads: Vec<String>,
    workload_index: HashMap<String, usize>,
    /// (trace, span) → parent span id, for every span: intermediate spans link agents to tools.
    parents: HashMap<(String, String), String>,
    recs: Vec<Rec>,
    count: u64,
}

impl Spans {
    fn add(&mut self, resource_spans: Vec<ResourceSpans>, line: u64) {
        for rs in resource_spans {
            let attrs = rs.resource.unwrap_or_default().attributes;
            let workload = workload_name(&attrs);
            let next = self.workloads.len();
            let w = *self.workload_index.entry(workload.clone()).or_insert(next);
            if w == next {
                self.workloads.push(workload);
            }
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                self.count += 1;
                if !span.parent_span_id.is_empty() {
                    self.parents.insert((span.trace_id.clone(), span.span_id.clone()), span.parent_span_id.clone());
                }
                if let Some(rec) = reduce(span, w, line) {
                    self.recs.push(rec);
                }
            }
        }
    }

    fn finish(&self, hosts: &HostCatalogue, path: &Path, single: bool) -> (Vec<AgentFinding>, Vec<TrafficFinding>) {
        let location =
            |line: u64| Location::line(path, if single { 1 } else { u32::try_from(line).unwrap_or(u32::MAX) });
        // Agent spans by (trace, span id), and the agents of each trace.
        let mut agent_spans: HashMap<(&str, &str), (usize, &str)> = HashMap::new();
        let mut trace_agents: HashMap<&str, BTreeSet<(usize, &str)>> = HashMap::new();
        let mut agents: HashMap<(usize, &str), Acc> = HashMap::new();
        for rec in &self.recs {
            if let Some((name, why)) = &rec.agent {
                agent_spans.insert((rec.trace.as_str(), rec.id.as_str()), (rec.workload, name.as_str()));
                trace_agents.entry(rec.trace.as_str()).or_default().insert((rec.workload, name.as_str()));
                agents.entry((rec.workload, name.as_str())).or_insert_with(|| Acc::new(rec, why));
            }
        }
        let mut loose: HashMap<usize, Acc> = HashMap::new();
        let mut flows: HashMap<(usize, String), FlowAcc> = HashMap::new();
        for rec in &self.recs {
            let owners: Vec<(usize, &str)> =
                if rec.agent.is_some() { Vec::new() } else { self.owners(rec, &agent_spans, &trace_agents) };
            if let Some((name, _)) = &rec.agent {
                if let Some(acc) = agents.get_mut(&(rec.workload, name.as_str())) {
                    acc.models.extend(rec.models.iter().cloned());
                }
            } else if rec.tool.is_some() || rec.model_call {
                let targets: Vec<&mut Acc> = if owners.is_empty() {
                    let why = if rec.model_call { "model call" } else { "tool call" };
                    vec![loose.entry(rec.workload).or_insert_with(|| Acc::new(rec, why))]
                } else {
                    agents.iter_mut().filter(|(k, _)| owners.contains(k)).map(|(_, v)| v).collect()
                };
                for acc in targets {
                    acc.tools.extend(rec.tool.iter().cloned());
                    acc.models.extend(rec.models.iter().cloned());
                    acc.model_calls |= rec.model_call;
                }
            }
            if let Some((host, entry)) = destination(hosts, rec) {
                let flow = flows.entry((rec.workload, host)).or_insert_with(|| FlowAcc::new(rec, entry, hosts));
                flow.requests += 1;
                flow.line = flow.line.min(rec.line);
                flow.models.extend(rec.models.iter().cloned());
                if rec.mcp {
                    flow.tools.extend(rec.tool.iter().cloned());
                }
                if let Some(t) = rec.start {
                    flow.first = Some(flow.first.map_or(t, |f| f.min(t)));
                    flow.last = Some(flow.last.map_or(t, |l| l.max(t)));
                }
            }
        }

        let workload = |w: usize| self.workloads.get(w).map_or("unknown_service", String::as_str);
        let mut out: Vec<AgentFinding> = agents
            .into_iter()
            .map(|((w, name), acc)| {
                let at = location(acc.line);
                acc.finding(AgentKind::Agent, name, workload(w), at)
            })
            .collect();
        let with_agents: BTreeSet<usize> = out_workloads(&self.recs);
        for (w, mut acc) in loose {
            if with_agents.contains(&w) || !acc.model_calls {
                continue;
            }
            // A model loop that calls tools is an agent even without an agent span.
            let kind = if acc.tools.is_empty() { AgentKind::LlmClient } else { AgentKind::Agent };
            acc.evidence.push_str("; no agent span in the workload");
            let at = location(acc.line);
            out.push(acc.finding(kind, workload(w), workload(w), at));
        }
        out.sort_by(|a, b| (&a.name, &a.evidence).cmp(&(&b.name, &b.evidence)));

        let mut traffic: Vec<TrafficFinding> = flows
            .into_iter()
            .map(|((w, host), f)| TrafficFinding {
                workload: workload(w).to_string(),
                host,
                provider: f.provider,
                category: f.category,
                source: Source::Otel,
                location: location(f.line),
                requests: f.requests,
                first_seen: f.first.map(|t| t.to_string()),
                last_seen: f.last.map(|t| t.to_string()),
                models: f.models.into_iter().collect(),
                tools: f.tools.into_iter().collect(),
            })
            .collect();
        traffic.sort_by(|a, b| (&a.workload, &a.host).cmp(&(&b.workload, &b.host)));
        (out, traffic)
    }

    /// The agents a tool or model call belongs to: the nearest agent span up its parent chain,
    /// else every agent of its trace in the same workload.
    fn owners<'a>(
        &self,
        rec: &Rec,
        agent_spans: &HashMap<(&'a str, &'a str), (usize, &'a str)>,
        trace_agents: &HashMap<&'a str, BTreeSet<(usize, &'a str)>>,
    ) -> Vec<(usize, &'a str)> {
        let mut id = rec.id.as_str();
        for _ in 0..MAX_DEPTH {
            let Some(parent) = self.parents.get(&(rec.trace.clone(), id.to_string())) else { break };
            if let Some(&agent) = agent_spans.get(&(rec.trace.as_str(), parent.as_str())) {
                return vec![agent];
            }
            id = parent;
        }
        trace_agents
            .get(rec.trace.as_str())
            .map(|set| set.iter().filter(|(w, _)| *w == rec.workload).copied().collect())
            .unwrap_or_default()
    }
}

fn out_workloads(recs: &[Rec]) -> BTreeSet<usize> {
    recs.iter().filter(|r| r.agent.is_some()).map(|r| r.workload).collect()
}

/// What an agent (or an agent-less workload) was seen doing.
#[derive(Debug)]
struct Acc {
    line: u64,
    evidence: String,
    models: BTreeSet<String>,
    tools: BTreeSet<String>,
    model_calls: bool,
}

impl Acc {
    fn new(rec: &Rec, why: &str) -> Self {
        Self {
            line: rec.line,
            evidence: format!("span `{}`: {why}", rec.name),
            models: BTreeSet::new(),
            tools: BTreeSet::new(),
            model_calls: false,
        }
    }

    fn finding(self, kind: AgentKind, name: &str, workload: &str, location: Location) -> AgentFinding {
        AgentFinding {
            id: String::new(),
            kind,
            name: name.to_string(),
            framework: "otel".into(),
            language: None,
            source: Source::Otel,
            location,
            models: self.models.into_iter().collect(),
            tools: self.tools.into_iter().collect(),
            mcp_servers: Vec::new(),
            credential_refs: Vec::new(),
            evidence: format!("workload `{workload}`, {}", self.evidence),
        }
    }
}

#[derive(Debug)]
struct FlowAcc {
    line: u64,
    provider: String,
    category: String,
    requests: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    models: BTreeSet<String>,
    tools: BTreeSet<String>,
}

impl FlowAcc {
    fn new(rec: &Rec, entry: Option<&HostEntry>, hosts: &HostCatalogue) -> Self {
        let (provider, category) = match entry {
            Some(e) => (e.provider.clone(), e.category.as_str().to_string()),
            None => {
                // A host the catalogue does not know, named by a GenAI or MCP span.
                let provider = rec
                    .provider
                    .as_deref()
                    .map(|p| hosts.by_otel_name(p).map_or_else(|| p.to_string(), |e| e.provider.clone()))
                    .unwrap_or_else(|| "unknown".into());
                let category = if rec.mcp {
                    HostCategory::Mcp
                } else if rec.model_call {
                    HostCategory::ModelApi
                } else {
                    HostCategory::AgentInfra
                };
                (provider, category.as_str().to_string())
            }
        };
        Self {
            line: rec.line,
            provider,
            category,
            requests: 0,
            first: None,
            last: None,
            models: BTreeSet::new(),
            tools: BTreeSet::new(),
        }
    }
}

/// Where a span's request went: its `server.address`, else its provider's default host.
fn destination<'h>(hosts: &'h HostCatalogue, rec: &Rec) -> Option<(String, Option<&'h HostEntry>)> {
    let remote_agent = rec.agent.is_some() && rec.client_side;
    if !(rec.model_call || (rec.mcp && rec.client_side) || remote_agent) {
        return None;
    }
    if let Some(server) = &rec.server {
        return Some(match hosts.classify_model_call(server) {
            Some(entry) => (display_host(server, entry), Some(entry)),
            None => {
                let (name, port) = split_host_port(server);
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let host = match port {
                    Some(port) if is_local(&name) => format!("{name}:{port}"),
                    _ => name,
                };
                (host, None)
            }
        });
    }
    if !rec.model_call {
        return None;
    }
    let entry = hosts.by_otel_name(rec.provider.as_deref()?)?;
    Some((entry.pattern.clone(), Some(entry)))
}

/// `service.namespace/service.name@k8s.pod.name`, each part when present.
fn workload_name(attrs: &[KeyValue]) -> String {
    let name = attr(attrs, "service.name")
        .or_else(|| attr(attrs, "k8s.deployment.name"))
        .unwrap_or_else(|| "unknown_service".into());
    let mut out = match attr(attrs, "service.namespace").or_else(|| attr(attrs, "k8s.namespace.name")) {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    };
    if let Some(pod) = attr(attrs, "k8s.pod.name") {
        out.push('@');
        out.push_str(&pod);
    }
    out
}

const MODEL_OPERATIONS: &[&str] = &["chat", "text_completion", "generate_content", "embeddings"];

fn reduce(span: Span, workload: usize, line: u64) -> Option<Rec> {
    let a = &span.attributes;
    let op = attr(a, "gen_ai.operation.name");
    let oi_kind = attr(a, "openinference.span.kind").map(|k| k.to_ascii_uppercase());
    let mcp_method = attr(a, "mcp.method.name");
    let provider = attr(a, "gen_ai.provider.name")
        .or_else(|| attr(a, "gen_ai.system"))
        .or_else(|| attr(a, "llm.provider"))
        .or_else(|| attr(a, "llm.system"));
    let op = op.as_deref();
    let oi = oi_kind.as_deref();

    let agent = if matches!(op, Some("invoke_agent" | "create_agent")) {
        attr(a, "gen_ai.agent.name")
            .or_else(|| attr(a, "gen_ai.agent.id"))
            .or_else(|| span.name.split_once(' ').map(|(_, n)| n.trim().to_string()).filter(|n| !n.is_empty()))
            .map(|n| (n, format!("gen_ai.operation.name={}", op.unwrap_or_default())))
    } else if oi == Some("AGENT") {
        attr(a, "agent.name")
            .or_else(|| attr(a, "gen_ai.agent.name"))
            .or_else(|| (!span.name.is_empty()).then(|| span.name.clone()))
            .map(|n| (n, "openinference.span.kind=AGENT".to_string()))
    } else {
        None
    };
    let tool = if op == Some("execute_tool") || mcp_method.as_deref() == Some("tools/call") {
        attr(a, "gen_ai.tool.name")
            .or_else(|| span.name.split_once(' ').map(|(_, n)| n.trim().to_string()).filter(|n| !n.is_empty()))
    } else if oi == Some("TOOL") {
        attr(a, "tool.name").or_else(|| (!span.name.is_empty()).then(|| span.name.clone()))
    } else {
        None
    };
    let model_call = agent.is_none()
        && tool.is_none()
        && (op.is_some_and(|o| MODEL_OPERATIONS.contains(&o))
            || matches!(oi, Some("LLM" | "EMBEDDING"))
            || (op.is_none() && oi.is_none() && mcp_method.is_none() && provider.is_some()));
    let models: Vec<String> = attr(a, "gen_ai.request.model")
        .or_else(|| attr(a, "gen_ai.response.model"))
        .or_else(|| attr(a, "llm.model_name"))
        .or_else(|| attr(a, "embedding.model_name"))
        .into_iter()
        .collect();
    if agent.is_none() && tool.is_none() && !model_call && mcp_method.is_none() {
        return None;
    }
    let server = attr(a, "server.address").map(|host| match attr(a, "server.port") {
        Some(port) if host.contains(':') => format!("[{host}]:{port}"),
        Some(port) => format!("{host}:{port}"),
        None => host,
    });
    // CLIENT = 3 (or "SPAN_KIND_CLIENT"); a span without a kind is taken as the caller's.
    let client_side = match &span.kind {
        Value::Number(n) => n.as_u64() == Some(3),
        Value::String(s) => s.eq_ignore_ascii_case("SPAN_KIND_CLIENT") || s.eq_ignore_ascii_case("client"),
        _ => true,
    };
    Some(Rec {
        workload,
        trace: span.trace_id,
        id: span.span_id,
        line,
        name: span.name,
        start: nanos(&span.start_time_unix_nano),
        agent,
        tool,
        model_call,
        mcp: mcp_method.is_some(),
        models,
        provider,
        server,
        client_side,
    })
}

/// `startTimeUnixNano`: a decimal string (the protobuf JSON mapping of uint64) or a number.
fn nanos(v: &Value) -> Option<Timestamp> {
    let n: i128 = match v {
        Value::String(s) => s.trim().parse().ok()?,
        Value::Number(n) => i128::from(n.as_u64()?),
        _ => return None,
    };
    if n == 0 {
        return None;
    }
    Timestamp::from_nanosecond(n).ok()
}
