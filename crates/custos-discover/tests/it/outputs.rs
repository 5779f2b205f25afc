//! SARIF 2.1.0 and CycloneDX 1.6 outputs of a hand-built report holding every kind of finding:
//! structure checks here; `CUSTOS_WRITE_OUTPUTS=DIR` writes both documents for the outside
//! validators in `interop/validate/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use custos_core::scan::secrets::Scanner;
use custos_discover::{
    AgentFinding, AgentKind, CredentialFinding, Label, Location, LoginFile, Reconciled, Report, Scope, Server, Skipped,
    Source, TrafficFinding, Transport, mask, to_cyclonedx, to_sarif, uuid_v4,
};
use serde_json::Value;

use super::{anthropic_key, github_pat, key};

const ROOT: &str = "/srv/repo";
const HOME: &str = "/home/dev";
const SERIAL: &str = "3e671687-395b-41f5-a30f-a58921a69b79";
const TIMESTAMP: &str = "2026-12-06T10:00:00Z";

fn openai_key() -> String {
    format!("sk-proj-{}T3BlbkFJ{}", "A1b2C3d4E5F6g7H8i9J0", "kLmN0pQrS1tUvW2xYz3a")
}

fn credential(
    path: &str,
    line: Option<u32>,
    pointer: Option<&str>,
    secret: &str,
    rule: &str,
    provider: &str,
) -> CredentialFinding {
    CredentialFinding {
        source: if pointer.is_some() { Source::Config } else { Source::File },
        location: Location { path: path.into(), line, pointer: pointer.map(str::to_string) },
        client: pointer.map(|_| "claude-desktop".to_string()),
        server: pointer.map(|_| "fs".to_string()),
        rule: rule.into(),
        provider: provider.into(),
        masked: mask(secret),
        fingerprint: key().fingerprint(secret),
    }
}

fn agent(kind: AgentKind, name: &str, framework: &str, source: Source, location: Location) -> AgentFinding {
    let mut a = AgentFinding {
        id: String::new(),
        kind,
        name: name.into(),
        framework: framework.into(),
        language: Some("python".into()),
        source,
        location,
        models: vec![],
        tools: vec![],
        mcp_servers: vec![],
        credential_refs: vec![],
        evidence: format!("{framework} signature"),
    };
    a.id = a.stable_id();
    a
}

fn server(client: &str, path: &str, pointer: &str, name: &str, transport: Transport, has_credential: bool) -> Server {
    Server {
        client: client.into(),
        path: path.into(),
        scope: Scope::User,
        pointer: pointer.into(),
        name: name.into(),
        transport,
        env: if has_credential { vec!["ANTHROPIC_API_KEY".into()] } else { vec![] },
        headers: vec![],
        has_credential,
    }
}

/// Every kind of finding: credentials with and without a line or pointer, agents of every kind
/// and source, servers of every transport with and without a credential, traffic, every
/// reconciliation label (with and without a discovered agent), login files, skips, and paths
/// with spaces, non-ASCII letters and URI delimiters.
fn full_report() -> Report {
    let odd = format!("{ROOT}/my agents/café #1/agent.py");
    let mut researcher = agent(
        AgentKind::Agent,
        "researcher",
        "langgraph",
        Source::Code,
        Location::line(format!("{ROOT}/src/agents/research.py"), 12),
    );
    researcher.models = vec!["gpt-4o".into(), "anthropic:claude-sonnet-4".into()];
    researcher.tools = vec!["search".into(), "fetch".into()];
    researcher.mcp_servers = vec!["https://mcp.example.com/mcp".into()];
    researcher.credential_refs = vec!["OPENAI_API_KEY".into()];
    let crew = agent(AgentKind::Agent, "writer", "crewai", Source::Code, Location::line(odd.clone(), 3));
    let managed = agent(
        AgentKind::ManagedAgent,
        "support-bot",
        "aws_bedrock_agents",
        Source::Iac,
        Location::line(format!("{ROOT}/infra/main.tf"), 40),
    );
    let proxy =
        agent(AgentKind::AgentProxy, "remote", "a2a", Source::Code, Location::line(format!("{ROOT}/src/proxy.ts"), 1));
    let mcp_impl = agent(
        AgentKind::McpServer,
        "weather",
        "fastmcp",
        Source::K8s,
        Location { path: format!("{ROOT}/deploy/mcp.yaml").into(), line: None, pointer: Some("/spec/template".into()) },
    );
    let mcp_client = agent(
        AgentKind::McpClient,
        "tool-client",
        "mcp",
        Source::Code,
        Location::line(format!("{ROOT}/src/client.py"), 7),
    );
    let mut llm =
        agent(AgentKind::LlmClient, "summariser", "openai", Source::Code, Location::file(format!("{ROOT}/src/sum.py")));
    llm.models = vec!["gpt-4o".into()];
    let otel = agent(AgentKind::Agent, "planner", "otel", Source::Otel, Location::line("/var/log/traces/otlp.json", 2));
    let gateway = agent(AgentKind::Agent, "gw-agent", "gateway", Source::Gateway, Location::default());
    let agents = vec![researcher, crew, managed, proxy, mcp_impl, mcp_client, llm, otel, gateway];

    let verdict = |finding: Option<&AgentFinding>, label: Label, agent_id: Option<&str>, name: &str| Reconciled {
        finding: finding.map(|a| a.id.clone()),
        agent_id: agent_id.map(str::to_string),
        agent_name: agent_id.map(|_| format!("{name}-registered")),
        name: name.into(),
        label,
        evidence: vec![format!("{} by rule under test", label.as_str())],
    };
    let reconciliation = vec![
        verdict(Some(&agents[0]), Label::Sanctioned, Some("ag-1"), "researcher"),
        verdict(Some(&agents[1]), Label::Shadow, None, "writer"),
        verdict(Some(&agents[2]), Label::Drifted, Some("ag-2"), "support-bot"),
        verdict(Some(&agents[3]), Label::Orphaned, Some("ag-3"), "remote"),
        verdict(None, Label::Stale, Some("ag-4"), "nightly"),
        verdict(None, Label::Orphaned, Some("ag-5"), "old-bot"),
        verdict(Some(&agents[8]), Label::Shadow, None, "gw-agent"),
    ];

    let desktop = format!("{HOME}/.config/Claude/claude_desktop_config.json");
    let credentials = vec![
        credential(
            &desktop,
            None,
            Some("/mcpServers/fs/env/ANTHROPIC_API_KEY"),
            &anthropic_key(),
            "anthropic",
            "Anthropic",
        ),
        credential(&format!("{ROOT}/.env"), Some(3), None, &openai_key(), "openai", "OpenAI"),
        credential(&format!("{ROOT}/src/agents/research.py"), Some(9), None, &openai_key(), "openai", "OpenAI"),
        credential(&odd, None, None, &github_pat(), "github-pat", "GitHub"),
        credential("/opt/elsewhere/config.yaml", Some(0), None, &github_pat(), "github-pat", "GitHub"),
    ];

    let servers = vec![
        server(
            "claude-desktop",
            &desktop,
            "/mcpServers/fs",
            "fs",
            Transport::Stdio {
                command: "npx".into(),
                args: vec!["-y".into(), "@modelcontextprotocol/server-filesystem".into()],
            },
            true,
        ),
        server(
            "claude-desktop",
            &desktop,
            "/mcpServers/remote",
            "remote",
            Transport::Http { url: "https://mcp.example.com/mcp".into() },
            false,
        ),
        server(
            "vscode",
            &format!("{HOME}/.config/Code/User/mcp.json"),
            "/servers/github",
            "github",
            Transport::Http { url: "https://mcp.example.org/mcp?key=[REDACTED:github-pat]".into() },
            true,
        ),
        server(
            "cursor",
            &format!("{ROOT}/.cursor/mcp.json"),
            "/mcpServers/events",
            "events",
            Transport::Sse { url: "http://localhost:3000/sse".into() },
            false,
        ),
        server(
            "zed",
            &format!("{HOME}/.config/zed/settings.json"),
            "/context_servers/ext",
            "ext",
            Transport::Unknown,
            false,
        ),
    ];

    let flow = |workload: &str, host: &str, provider: &str, category: &str, line: u32, requests: u64| TrafficFinding {
        workload: workload.into(),
        host: host.into(),
        provider: provider.into(),
        category: category.into(),
        source: Source::Log,
        location: Location::line("/var/log/squid/access.log", line),
        requests,
        first_seen: Some("2026-12-01T08:00:00Z".into()),
        last_seen: Some("2026-12-05T18:00:00Z".into()),
        models: vec![],
        tools: vec![],
    };
    let mut traced = flow("checkout-svc", "api.anthropic.com", "Anthropic", "model_api", 1, 3);
    traced.source = Source::Otel;
    traced.location = Location::file("/var/log/traces/otlp.json");
    traced.models = vec!["claude-sonnet-4".into()];
    traced.tools = vec!["get_weather".into()];
    let traffic = vec![
        flow("10.0.0.7", "api.openai.com", "OpenAI", "model_api", 4, 120),
        flow("10.0.0.8", "api.openai.com", "OpenAI", "model_api", 9, 1),
        flow("build-runner", "mcp.example.net", "Example MCP", "mcp", 12, 5),
        flow("laptop", "localhost:11434", "Ollama", "local_model", 20, 2),
        traced,
    ];

    Report {
        servers,
        credentials,
        logins: vec![LoginFile { client: "codex".into(), path: format!("{HOME}/.codex/auth.json").into(), size: 412 }],
        agents,
        traffic,
        reconciliation,
        skipped: vec![
            Skipped { path: format!("{ROOT}/big model.bin").into(), reason: "binary file".into() },
            Skipped { path: format!("{HOME}/.cursor/mcp.json").into(), reason: "invalid JSON at line 3".into() },
        ],
    }
}

fn roots() -> Vec<PathBuf> {
    vec![PathBuf::from(ROOT), PathBuf::from(HOME)]
}

fn sarif() -> Value {
    to_sarif(&full_report(), &roots(), "0.1.0-test")
}

fn cyclonedx() -> Value {
    to_cyclonedx(&full_report(), "0.1.0-test", SERIAL, TIMESTAMP)
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a Vec<Value> {
    v.pointer(pointer).and_then(Value::as_array).unwrap_or_else(|| panic!("no array at {pointer}"))
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

/// Neither document holds a secret, any part of one, or anything the secret scanner flags.
fn assert_no_secret(doc: &Value) {
    let text = serde_json::to_string_pretty(doc).unwrap();
    for secret in [anthropic_key(), openai_key(), github_pat()] {
        assert!(!Scanner::builtin().scan(&secret).is_empty(), "the scanner below would see this secret");
        assert!(!text.contains(&secret[4..]), "a secret leaked");
        assert!(!text.contains(&secret[8..20]), "part of a secret leaked");
    }
    let hits = Scanner::builtin().scan(&text);
    assert!(hits.is_empty(), "secret-shaped strings in the output: {:?}", hits.len());
}

#[test]
fn sarif_has_a_rule_per_type_and_every_result_names_one() {
    let doc = sarif();
    assert_eq!(s(&doc, "/version"), "2.1.0");
    let runs = arr(&doc, "/runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(s(&doc, "/runs/0/tool/driver/name"), "custos-discover");
    assert_eq!(s(&doc, "/runs/0/tool/driver/version"), "0.1.0-test");
    assert!(doc.pointer("/runs/0/tool/driver/informationUri").is_none());
    assert_eq!(doc.pointer("/runs/0/invocations/0/executionSuccessful"), Some(&Value::Bool(true)));

    let rules = arr(&doc, "/runs/0/tool/driver/rules");
    let ids: Vec<&str> = rules.iter().map(|r| s(r, "/id")).collect();
    let names: BTreeMap<&str, &str> = rules.iter().map(|r| (s(r, "/id"), s(r, "/name"))).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "rule ids are unique");
    for rule in rules {
        for field in ["/shortDescription/text", "/fullDescription/text", "/help/text", "/defaultConfiguration/level"] {
            assert!(!s(rule, field).is_empty(), "{field} of {rule}");
        }
        let severity: f64 = s(rule, "/properties/security-severity").parse().unwrap();
        assert!((0.0..=10.0).contains(&severity));
        assert!(!arr(rule, "/properties/tags").is_empty());
    }
    for name in [
        "exposed-credential",
        "shadow-agent",
        "drifted-agent",
        "orphaned-agent",
        "stale-agent",
        "mcp-server-with-credential",
        "mcp-server-configured",
        "agent-discovered",
        "llm-traffic",
        "agent-client-login",
    ] {
        assert!(names.values().any(|n| *n == name), "rule {name}");
    }

    let results = arr(&doc, "/runs/0/results");
    let mut per_rule: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in results {
        let id = s(r, "/ruleId");
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id, "ruleIndex points at the rule");
        per_rule.entry(names[id]).or_default().push(r);
        let level = s(r, "/level");
        assert!(["error", "warning", "note"].contains(&level));
        assert!(!s(r, "/message/text").is_empty());
        let locations = arr(r, "/locations");
        assert!(!locations.is_empty(), "every result has a location: {r}");
        assert!(!s(&locations[0], "/physicalLocation/artifactLocation/uri").is_empty());
        if let Some(line) = locations[0].pointer("/physicalLocation/region/startLine") {
            assert!(line.as_u64().unwrap() >= 1);
        }
        let fingerprints = r["partialFingerprints"].as_object().unwrap();
        assert!(!fingerprints.is_empty() && fingerprints.values().all(|v| !v.as_str().unwrap().is_empty()));
    }
    let count = |name: &str| per_rule.get(name).map_or(0, Vec::len);
    assert_eq!(count("exposed-credential"), 5);
    assert_eq!(count("shadow-agent"), 1, "the gateway-only shadow agent has no file: a notification");
    assert_eq!(count("drifted-agent"), 1);
    assert_eq!(count("orphaned-agent"), 1);
    assert_eq!(count("stale-agent"), 0, "registry-only: a notification");
    assert_eq!(count("mcp-server-with-credential"), 2);
    assert_eq!(count("mcp-server-configured"), 3);
    assert_eq!(count("agent-discovered"), 8, "all but the gateway-only agent");
    assert_eq!(count("llm-traffic"), 5);
    assert_eq!(count("agent-client-login"), 1);
    for r in &per_rule["exposed-credential"] {
        assert_eq!(s(r, "/level"), "error");
    }
    for r in &per_rule["mcp-server-configured"] {
        assert_eq!(s(r, "/level"), "note");
    }
    assert_eq!(s(per_rule["drifted-agent"][0], "/level"), "warning");
    assert_eq!(s(per_rule["shadow-agent"][0], "/level"), "error");

    // A sanctioned agent is no result of its own; its note carries the label.
    let researcher =
        per_rule["agent-discovered"].iter().find(|r| s(r, "/properties/findingId") == full_report().agents[0].id);
    assert_eq!(s(researcher.unwrap(), "/properties/reconciliation"), "sanctioned");

    let notifications = arr(&doc, "/runs/0/invocations/0/toolExecutionNotifications");
    let skipped: Vec<&Value> = notifications.iter().filter(|n| s(n, "/descriptor/id") == "CUSTOS-N001").collect();
    assert_eq!(skipped.len(), 2);
    assert!(s(skipped[0], "/message/text").contains("binary file"));
    let fileless: BTreeSet<(&str, &str)> = notifications
        .iter()
        .filter(|n| s(n, "/descriptor/id") == "CUSTOS-N002")
        .map(|n| (names[s(n, "/associatedRule/id")], s(n, "/properties/name")))
        .collect();
    assert_eq!(
        fileless,
        BTreeSet::from([
            ("agent-discovered", "gw-agent"),
            ("orphaned-agent", "old-bot"),
            ("shadow-agent", "gw-agent"),
            ("stale-agent", "nightly"),
        ])
    );
    assert_no_secret(&doc);
}

#[test]
fn sarif_credentials_name_provider_mask_and_fingerprint_prefix() {
    let doc = sarif();
    let fp = key().fingerprint(&anthropic_key());
    let result = arr(&doc, "/runs/0/results")
        .iter()
        .find(|r| s(r, "/ruleId") == "CUSTOS-D001" && s(r, "/properties/provider") == "Anthropic")
        .unwrap();
    let message = s(result, "/message/text");
    assert!(
        message.contains("Anthropic") && message.contains(&mask(&anthropic_key())) && message.contains(&fp[..12]),
        "{message}"
    );
    assert!(message.contains("/mcpServers/fs/env/ANTHROPIC_API_KEY"));
    assert_eq!(s(result, "/partialFingerprints/credentialFingerprint~1v1"), fp);
    assert!(result.pointer("/locations/0/physicalLocation/region").is_none(), "no line known: no region");
    assert_eq!(s(result, "/locations/0/logicalLocations/0/fullyQualifiedName"), "/mcpServers/fs/env/ANTHROPIC_API_KEY");
    assert_eq!(s(result, "/locations/0/logicalLocations/0/name"), "ANTHROPIC_API_KEY");

    // The same secret in two files: one fingerprint, two alerts (the place fingerprint differs).
    let openai: Vec<&Value> = arr(&doc, "/runs/0/results")
        .iter()
        .filter(|r| s(r, "/ruleId") == "CUSTOS-D001" && s(r, "/properties/provider") == "OpenAI")
        .collect();
    assert_eq!(openai.len(), 2);
    assert_eq!(
        openai[0]["partialFingerprints"]["credentialFingerprint/v1"],
        openai[1]["partialFingerprints"]["credentialFingerprint/v1"]
    );
    assert_ne!(openai[0]["partialFingerprints"], openai[1]["partialFingerprints"]);
    assert_eq!(openai[0].pointer("/locations/0/physicalLocation/region/startLine"), Some(&Value::from(3)));

    // Line 0 is not a line: no region rather than an invalid one.
    let zero = arr(&doc, "/runs/0/results")
        .iter()
        .find(|r| s(r, "/locations/0/physicalLocation/artifactLocation/uri").ends_with("elsewhere/config.yaml"))
        .unwrap();
    assert!(zero.pointer("/locations/0/physicalLocation/region").is_none());
}

#[test]
fn sarif_uris_are_relative_to_their_root_and_percent_encoded() {
    let doc = sarif();
    assert_eq!(s(&doc, "/runs/0/originalUriBaseIds/SRCROOT/uri"), "file:///srv/repo/");
    assert_eq!(s(&doc, "/runs/0/originalUriBaseIds/SRCROOT1/uri"), "file:///home/dev/");
    let artifacts: Vec<(String, Option<String>)> = arr(&doc, "/runs/0/results")
        .iter()
        .map(|r| {
            let a = &r["locations"][0]["physicalLocation"]["artifactLocation"];
            (a["uri"].as_str().unwrap().to_string(), a["uriBaseId"].as_str().map(str::to_string))
        })
        .collect();
    let has = |uri: &str, base: Option<&str>| artifacts.iter().any(|(u, b)| u == uri && b.as_deref() == base);
    assert!(has("my%20agents/caf%C3%A9%20%231/agent.py", Some("SRCROOT")), "{artifacts:?}");
    assert!(has("src/agents/research.py", Some("SRCROOT")));
    assert!(has(".config/Claude/claude_desktop_config.json", Some("SRCROOT1")));
    assert!(has("file:///opt/elsewhere/config.yaml", None));
    assert!(has("file:///var/log/squid/access.log", None));
    for (uri, _) in &artifacts {
        assert!(uri.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'), "{uri}");
        assert!(!uri.contains(' ') && !uri.contains('#'), "{uri}");
    }
}

#[test]
fn sarif_of_an_empty_report_is_a_valid_shape() {
    let doc = to_sarif(&Report::default(), &[], "0");
    assert_eq!(arr(&doc, "/runs/0/results").len(), 0);
    assert!(doc.pointer("/runs/0/originalUriBaseIds").is_none());
    assert!(doc.pointer("/runs/0/invocations/0/toolExecutionNotifications").is_none());
    assert_eq!(arr(&doc, "/runs/0/tool/driver/rules").len(), 10);
}

/// Every bom-ref anywhere in the document except the dependency graph itself.
fn bom_refs(doc: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("bom-ref") {
                    out.push(r.clone());
                }
                map.iter().filter(|(k, _)| *k != "dependencies").for_each(|(_, v)| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, &mut out);
    out
}

fn component<'a>(doc: &'a Value, bom_ref: &str) -> &'a Value {
    arr(doc, "/components").iter().chain(arr(doc, "/services")).find(|c| c["bom-ref"] == bom_ref).unwrap()
}

fn prop_values<'a>(c: &'a Value, name: &str) -> Vec<&'a str> {
    c["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| p["value"].as_str().unwrap())
        .collect()
}

#[test]
fn cyclonedx_refs_are_unique_and_every_dependency_resolves() {
    let doc = cyclonedx();
    assert_eq!(s(&doc, "/bomFormat"), "CycloneDX");
    assert_eq!(s(&doc, "/specVersion"), "1.6");
    assert_eq!(s(&doc, "/serialNumber"), format!("urn:uuid:{SERIAL}"));
    assert_eq!(doc["version"], 1);
    assert_eq!(s(&doc, "/metadata/timestamp"), TIMESTAMP);
    assert_eq!(s(&doc, "/metadata/lifecycles/0/phase"), "discovery");
    assert_eq!(s(&doc, "/metadata/tools/components/0/name"), "custos-discover");

    let refs = bom_refs(&doc);
    let unique: BTreeSet<&String> = refs.iter().collect();
    assert_eq!(unique.len(), refs.len(), "bom-refs are unique: {refs:?}");
    let deps = arr(&doc, "/dependencies");
    assert!(!deps.is_empty());
    for d in deps {
        assert!(unique.contains(&d["ref"].as_str().unwrap().to_string()), "{d}");
        for on in d["dependsOn"].as_array().unwrap() {
            assert!(unique.contains(&on.as_str().unwrap().to_string()), "{on} resolves");
        }
    }
    for c in arr(&doc, "/components") {
        let t = s(c, "/type");
        assert!(["application", "framework", "machine-learning-model", "cryptographic-asset"].contains(&t), "{t}");
        for o in c.pointer("/evidence/occurrences").and_then(Value::as_array).into_iter().flatten() {
            assert!(!s(o, "/location").is_empty());
        }
    }
    assert_no_secret(&doc);
}

#[test]
fn cyclonedx_maps_agents_frameworks_models_servers_services_and_credentials() {
    let report = full_report();
    let doc = cyclonedx();
    let edges: BTreeMap<String, BTreeSet<String>> = arr(&doc, "/dependencies")
        .iter()
        .map(|d| {
            let on = d["dependsOn"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
            (d["ref"].as_str().unwrap().to_string(), on)
        })
        .collect();

    // Agents: bom-ref is the finding id, with kind, framework, label, registry agent, credentials.
    let researcher = &report.agents[0];
    let c = component(&doc, &researcher.id);
    assert_eq!(s(c, "/type"), "application");
    assert_eq!(s(c, "/name"), "researcher");
    assert_eq!(prop_values(c, "custos:kind"), ["agent"]);
    assert_eq!(prop_values(c, "custos:framework"), ["langgraph"]);
    assert_eq!(prop_values(c, "custos:reconciliation"), ["sanctioned"]);
    assert_eq!(prop_values(c, "custos:registry.agent_id"), ["ag-1"]);
    assert_eq!(prop_values(c, "custos:credential_ref"), ["OPENAI_API_KEY"]);
    assert_eq!(prop_values(c, "custos:credential.fingerprint"), [key().fingerprint(&openai_key())]);
    assert_eq!(s(c, "/evidence/occurrences/0/location"), "/srv/repo/src/agents/research.py");
    assert_eq!(c.pointer("/evidence/occurrences/0/line"), Some(&Value::from(12)));
    assert_eq!(s(c, "/evidence/identity/0/methods/0/technique"), "source-code-analysis");
    let on = &edges[&researcher.id];
    assert!(
        on.contains("framework:langgraph")
            && on.contains("model:gpt-4o")
            && on.contains("model:anthropic:claude-sonnet-4")
    );
    let remote =
        on.iter().find(|r| r.starts_with("mcp-remote:remote:")).expect("agent → the remote MCP service it names");
    assert_eq!(s(component(&doc, remote), "/endpoints/0"), "https://mcp.example.com/mcp");
    assert!(on.iter().any(|r| r.starts_with("credential:")), "agent → the credential in its file");
    assert_eq!(s(component(&doc, "framework:langgraph"), "/type"), "framework");
    assert_eq!(s(component(&doc, "model:gpt-4o"), "/type"), "machine-learning-model");
    assert_eq!(arr(&doc, "/components").iter().filter(|c| c["bom-ref"] == "model:gpt-4o").count(), 1, "one per model");
    assert_eq!(prop_values(component(&doc, &report.agents[1].id), "custos:reconciliation"), ["shadow"]);
    let gw = component(&doc, &report.agents[8].id);
    assert!(gw.pointer("/evidence/occurrences").is_none(), "no file, no occurrence");
    assert_eq!(s(gw, "/evidence/identity/0/methods/0/technique"), "instrumentation");

    // Registry agents discovery did not see.
    let stale = component(&doc, "registry:ag-4");
    assert_eq!(prop_values(stale, "custos:reconciliation"), ["stale"]);
    assert_eq!(s(stale, "/name"), "nightly-registered");
    assert_eq!(prop_values(component(&doc, "registry:ag-5"), "custos:reconciliation"), ["orphaned"]);

    // Servers: stdio as components, remote as services; configs depend on their servers.
    let services = arr(&doc, "/services");
    let github = services.iter().find(|s| s["name"] == "github").unwrap();
    assert_eq!(github["authenticated"], true);
    assert_eq!(s(github, "/endpoints/0"), "https://mcp.example.org/mcp?key=%5BREDACTED:github-pat%5D");
    let events = services.iter().find(|s| s["name"] == "events").unwrap();
    assert_eq!(events["authenticated"], false);
    assert_eq!(prop_values(events, "custos:transport"), ["sse"]);
    let fs = arr(&doc, "/components").iter().find(|c| c["name"] == "fs").unwrap();
    assert_eq!(s(fs, "/type"), "application");
    assert_eq!(prop_values(fs, "custos:command"), ["npx"]);
    assert_eq!(prop_values(fs, "custos:credential.fingerprint"), [key().fingerprint(&anthropic_key())]);
    let fs_ref = s(fs, "/bom-ref");
    assert!(edges[fs_ref].iter().any(|r| r.starts_with("credential:")));
    let desktop = arr(&doc, "/components")
        .iter()
        .find(|c| c["name"] == "claude-desktop" && prop_values(c, "custos:kind") == ["agent_client_config"])
        .unwrap();
    let desktop_on = &edges[s(desktop, "/bom-ref")];
    assert_eq!(desktop_on.len(), 2, "fs and remote");
    assert!(desktop_on.contains(fs_ref) && desktop_on.contains(remote));

    // Traffic: one service per host, with its provider, workloads and total requests.
    let openai = services.iter().find(|s| s["name"] == "api.openai.com").unwrap();
    assert_eq!(s(openai, "/provider/name"), "OpenAI");
    assert_eq!(s(openai, "/endpoints/0"), "https://api.openai.com");
    assert_eq!(prop_values(openai, "custos:requests"), ["121"]);
    assert_eq!(prop_values(openai, "custos:workload"), ["10.0.0.7", "10.0.0.8"]);
    let ollama = services.iter().find(|s| s["name"] == "localhost:11434").unwrap();
    assert_eq!(s(ollama, "/endpoints/0"), "http://localhost:11434");
    let anthropic = services.iter().find(|s| s["name"] == "api.anthropic.com").unwrap();
    assert!(edges[s(anthropic, "/bom-ref")].contains("model:claude-sonnet-4"));
    assert!(services.iter().any(|s| s["name"] == "mcp.example.net" && prop_values(s, "custos:category") == ["mcp"]));

    // Credentials: one component per fingerprint, with every place it was found.
    let creds: Vec<&Value> = arr(&doc, "/components").iter().filter(|c| c["type"] == "cryptographic-asset").collect();
    assert_eq!(creds.len(), 3, "anthropic, openai (two files), github (two files)");
    let openai_cred = creds.iter().find(|c| prop_values(c, "custos:credential.provider") == ["OpenAI"]).unwrap();
    assert_eq!(arr(openai_cred, "/evidence/occurrences").len(), 2);
    assert_eq!(prop_values(openai_cred, "custos:credential.masked"), [mask(&openai_key())]);
    assert_eq!(s(openai_cred, "/cryptoProperties/relatedCryptoMaterialProperties/type"), "credential");
}

#[test]
fn cyclonedx_refs_stay_unique_when_findings_collide() {
    let mut report = full_report();
    let twin = report.agents[0].clone();
    report.agents.push(twin);
    report.agents.push(agent(AgentKind::Agent, "x", "langgraph", Source::Code, Location::default()));
    report.agents.last_mut().unwrap().id = "framework:langgraph".into();
    let doc = to_cyclonedx(&report, "0", SERIAL, TIMESTAMP);
    let refs = bom_refs(&doc);
    assert_eq!(refs.iter().collect::<BTreeSet<_>>().len(), refs.len(), "{refs:?}");
    assert!(refs.contains(&format!("{}-2", report.agents[0].id)));
}

#[test]
fn serial_numbers_are_version_4_uuids() {
    let id = uuid_v4([0xff; 16]);
    assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    let doc = to_cyclonedx(&Report::default(), "0", &format!("urn:uuid:{id}"), TIMESTAMP);
    assert_eq!(s(&doc, "/serialNumber"), format!("urn:uuid:{id}"));
    assert!(doc.get("dependencies").is_none() && doc.get("services").is_none());
}

/// With `CUSTOS_WRITE_OUTPUTS=DIR`, writes `DIR/discover.sarif` and `DIR/discover.cdx.json`
/// (plus deliberately broken copies) for `interop/validate/validate_*.py`.
#[test]
fn writes_outputs_for_the_outside_validators() {
    let Some(dir) = std::env::var_os("CUSTOS_WRITE_OUTPUTS") else { return };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let write =
        |name: &str, doc: &Value| std::fs::write(dir.join(name), serde_json::to_string_pretty(doc).unwrap()).unwrap();
    let sarif = sarif();
    let bom = cyclonedx();
    write("discover.sarif", &sarif);
    write("discover.cdx.json", &bom);
    write("empty.sarif", &to_sarif(&Report::default(), &[], "0"));
    write("empty.cdx.json", &to_cyclonedx(&Report::default(), "0", &uuid_v4([7; 16]), TIMESTAMP));

    // Broken on purpose: a region line of 0, a level outside the enum, a result without message.
    let mut bad = sarif.clone();
    bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"] = serde_json::json!({"startLine": 0});
    bad["runs"][0]["results"][1]["level"] = "critical".into();
    bad["runs"][0]["results"][2].as_object_mut().unwrap().remove("message");
    write("broken.sarif", &bad);
    // Broken on purpose: a component type CycloneDX has no such thing as, and a dangling edge.
    let mut bad = bom.clone();
    bad["components"][0]["type"] = "service".into();
    bad["dependencies"][0]["dependsOn"] = serde_json::json!(["nowhere"]);
    write("broken.cdx.json", &bad);
}
