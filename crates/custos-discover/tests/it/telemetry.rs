//! Logs and OTLP traces: the host catalogue, golden findings for the fixture logs and traces,
//! the negative set, and bad input.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufReader, Cursor};
use std::path::{Path, PathBuf};

use custos_discover::{HostCatalogue, HostCatalogueError, HostCategory, LogScan, OtelScan, scan_log, scan_otlp};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Files of a fixture directory, as paths relative to the fixture root, sorted.
fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        fs::read_dir(fixtures().join(dir)).unwrap().map(|e| Path::new(dir).join(e.unwrap().file_name())).collect();
    out.sort();
    out
}

fn log(rel: &Path) -> Result<LogScan, String> {
    let file = fs::File::open(fixtures().join(rel)).unwrap();
    scan_log(&HostCatalogue::builtin(), rel, BufReader::new(file))
}

fn otlp(rel: &Path) -> Result<OtelScan, String> {
    let file = fs::File::open(fixtures().join(rel)).unwrap();
    scan_otlp(&HostCatalogue::builtin(), rel, BufReader::new(file))
}

fn log_text(text: &str) -> Result<LogScan, String> {
    scan_log(&HostCatalogue::builtin(), Path::new("mem.log"), Cursor::new(text.as_bytes().to_vec()))
}

fn otlp_text(text: &str) -> Result<OtelScan, String> {
    scan_otlp(&HostCatalogue::builtin(), Path::new("mem.json"), Cursor::new(text.as_bytes().to_vec()))
}

/// Compares with a golden file; `UPDATE_GOLDEN=1` rewrites it instead (check each entry by hand).
fn golden(name: &str, actual: &Value) {
    let path = fixtures().join(name);
    let pretty = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&path, &pretty).unwrap();
        return;
    }
    let expected: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert!(expected == *actual, "{name} differs; actual:\n{pretty}");
}

#[test]
fn logs_match_the_golden_findings() {
    let mut all = BTreeMap::new();
    for rel in files("logs") {
        let scan = log(&rel).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        all.insert(
            rel.display().to_string(),
            json!({"format": scan.format, "lines": scan.lines, "bad_lines": scan.bad_lines, "traffic": scan.traffic}),
        );
    }
    assert_eq!(all.len(), 6);
    golden("logs.golden.json", &serde_json::to_value(all).unwrap());
}

#[test]
fn otlp_traces_match_the_golden_findings() {
    let mut all = BTreeMap::new();
    for rel in files("otel") {
        let scan = otlp(&rel).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        all.insert(
            rel.display().to_string(),
            json!({"format": scan.format, "lines": scan.lines, "bad_lines": scan.bad_lines, "spans": scan.spans,
                   "agents": scan.agents, "traffic": scan.traffic}),
        );
    }
    assert_eq!(all.len(), 4);
    golden("otel.golden.json", &serde_json::to_value(all).unwrap());
}

#[test]
fn ordinary_traffic_yields_nothing() {
    let negative = files("negative/logs");
    assert_eq!(negative.len(), 2);
    for rel in negative {
        let scan = log(&rel).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        assert!(scan.lines > 10, "{}", rel.display());
        assert_eq!(scan.bad_lines, 0, "{}", rel.display());
        assert_eq!(scan.traffic, vec![], "{}", rel.display());
    }
}

#[test]
fn the_builtin_host_catalogue_covers_the_providers() {
    let hosts = HostCatalogue::builtin();
    let count = |c: HostCategory| hosts.entries().iter().filter(|e| e.category == c).count();
    assert!(count(HostCategory::ModelApi) >= 25, "{}", count(HostCategory::ModelApi));
    for c in [HostCategory::CodingAgent, HostCategory::AgentInfra, HostCategory::Mcp] {
        assert!(count(c) >= 4, "{c:?}");
    }
    assert_eq!(count(HostCategory::LocalModel), 4);
    for e in hosts.entries() {
        assert!(!e.source.is_empty() && e.checked.len() == 10, "{}", e.pattern);
    }
}

#[test]
fn hosts_are_classified_by_exact_name_suffix_and_label() {
    let hosts = HostCatalogue::builtin();
    let provider = |h: &str| hosts.classify(h).map(|e| e.provider.as_str());
    assert_eq!(provider("api.openai.com"), Some("OpenAI"));
    assert_eq!(provider("API.OpenAI.COM."), Some("OpenAI"));
    assert_eq!(provider("api.openai.com:443"), Some("OpenAI"));
    assert_eq!(provider("openai.com"), None, "the marketing site is not the API");
    assert_eq!(provider("platform.openai.com"), None);
    assert_eq!(provider("api.openai.com.evil.example"), None);
    assert_eq!(provider("xapi.openai.com"), None);
    // `*.` matches any depth below the domain, never the apex.
    assert_eq!(provider("proxy.individual.githubcopilot.com"), Some("GitHub Copilot"));
    assert_eq!(provider("githubcopilot.com"), None);
    // `<name>` matches exactly one label, or part of one.
    assert_eq!(provider("bedrock-runtime.eu-west-1.amazonaws.com"), Some("AWS Bedrock"));
    assert_eq!(provider("bedrock-runtime.amazonaws.com"), None);
    assert_eq!(provider("bedrock-runtime.a.b.amazonaws.com"), None);
    assert_eq!(provider("acme.openai.azure.com"), Some("Azure OpenAI"));
    assert_eq!(provider("a.b.openai.azure.com"), None);
    assert_eq!(provider("openai.azure.com"), None);
    assert_eq!(provider("us-central1-aiplatform.googleapis.com"), Some("Google Vertex AI"));
    assert_eq!(provider("aiplatform.googleapis.com"), Some("Google Vertex AI"));
    assert_eq!(provider("-aiplatform.googleapis.com"), None);
    assert_eq!(provider("q.us-east-1.amazonaws.com"), Some("Amazon Q Developer"));
    assert_eq!(provider("s3.us-east-1.amazonaws.com"), None);
    assert_eq!(hosts.classify("mcp.sentry.dev").map(|e| e.category), Some(HostCategory::Mcp));
    assert_eq!(provider(""), None);
    assert_eq!(provider(":443"), None);
}

#[test]
fn local_model_servers_need_a_private_address_and_on_generic_ports_an_api_path() {
    let hosts = HostCatalogue::builtin();
    let provider = |h: &str, p: Option<&str>| hosts.classify_request(h, p).map(|e| e.provider.as_str());
    assert_eq!(provider("127.0.0.1:11434", None), Some("Ollama"));
    assert_eq!(provider("[::1]:11434", Some("/api/chat")), Some("Ollama"));
    assert_eq!(provider("localhost:11434", Some("/")), None, "not an API path");
    assert_eq!(provider("8.8.8.8:11434", Some("/api/generate")), None, "a public address");
    assert_eq!(provider("10.1.2.3:8000", None), None, "port 8000 alone is too generic");
    assert_eq!(provider("10.1.2.3:8000", Some("/v1/chat/completions?x=1")), Some("vLLM"));
    assert_eq!(provider("10.1.2.3:8000", Some("/v1/chat/completions/x")), None);
    assert_eq!(provider("172.20.0.5:4000", Some("/chat/completions")), Some("LiteLLM"));
    assert_eq!(provider("172.32.0.5:4000", Some("/chat/completions")), None, "outside 172.16/12");
    assert_eq!(provider("192.168.1.5:1234", Some("/v1/models")), Some("LM Studio"));
    assert_eq!(provider("192.168.1.5:1234", None), None);
    assert_eq!(provider("localhost", Some("/api/chat")), None, "no port");
}

#[test]
fn a_catalogue_from_text_is_checked() {
    let entry = |pattern: &str, category: &str, extra: &str| {
        format!(
            "[[host]]\npattern = \"{pattern}\"\nprovider = \"P\"\ncategory = \"{category}\"\n{extra}source = \"s\"\nchecked = \"2026-12-06\"\n"
        )
    };
    let ok = entry("llm.corp.example", "model_api", "") + &entry("*.ai.corp.example", "agent_infra", "");
    let hosts = HostCatalogue::from_toml(&ok).unwrap();
    assert_eq!(hosts.classify("LLM.corp.example").unwrap().provider, "P");
    assert!(hosts.classify("x.y.ai.corp.example").is_some());
    assert!(hosts.classify("api.openai.com").is_none(), "a user catalogue replaces the built-in one");

    let err = |text: &str| HostCatalogue::from_toml(text).unwrap_err().to_string();
    let twice = entry("a.example", "model_api", "") + &entry("a.example", "mcp", "");
    assert_eq!(err(&twice), "host pattern `a.example` is listed twice");
    assert!(err(&entry("a.example", "robot", "")).contains("unknown variant `robot`"));
    assert!(
        err(&entry("a.<x>", "model_api", "")).contains("needs a literal domain"),
        "{}",
        err(&entry("a.<x>", "model_api", ""))
    );
    assert!(err(&entry("<local>:11434", "model_api", "")).contains("local_model"));
    assert!(err(&entry("<local>:99999", "local_model", "")).contains("port"));
    assert!(err(&entry("a b.example", "model_api", "")).contains("not a host name"));
    assert!(err(&entry("A.example", "model_api", "")).contains("lowercase"));
    assert!(err(&entry("<local>:8000", "local_model", "require_path = true\n")).contains("needs `paths`"));
    let bad_date = entry("a.example", "model_api", "").replace("2026-12-06", "last week");
    assert!(err(&bad_date).contains("YYYY-MM-DD"));
    let syntax = format!("{ok}\n[[host]]\npattern = \n");
    let e = HostCatalogue::from_toml(&syntax).unwrap_err();
    assert!(matches!(e, HostCatalogueError::Toml(_)));
    assert!(e.to_string().contains("line 15"), "{e}");
}

#[test]
fn unrecognised_and_binary_input_is_an_error_not_a_panic() {
    let garbage: Vec<u8> = (0..200_000_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let e = scan_log(&HostCatalogue::builtin(), Path::new("blob"), Cursor::new(garbage.clone())).unwrap_err();
    assert!(e.contains("not a recognised log format"), "{e}");
    assert!(scan_otlp(&HostCatalogue::builtin(), Path::new("blob"), Cursor::new(garbage)).is_err());
    assert!(log_text("").is_err());
    assert!(log_text("hello world\nthis is prose\n").is_err());
    let e = log_text("{\"level\":\"info\",\"msg\":\"started\"}\n").unwrap_err();
    assert!(e.contains("without a host"), "{e}");
    let e = log_text(&fs::read_to_string(fixtures().join("otel/traces.jsonl")).unwrap()).unwrap_err();
    assert!(e.contains("OTLP"), "{e}");
    assert!(otlp_text(&fs::read_to_string(fixtures().join("logs/access.log")).unwrap()).is_err());
    assert!(otlp_text("{\"level\":\"info\"}\n").is_err());
    assert!(otlp_text("{\n  \"level\": \"info\"\n}\n").unwrap_err().contains("resourceSpans"));
}

#[test]
fn truncated_json_is_an_error_or_a_bad_line() {
    let doc = fs::read_to_string(fixtures().join("otel/langgraph-agent.json")).unwrap();
    let e = otlp_text(&doc[..doc.len() / 2]).unwrap_err();
    assert!(e.contains("EOF"), "{e}");
    let lines = fs::read_to_string(fixtures().join("otel/traces.jsonl")).unwrap();
    let cut = &lines[..lines.len() - 40];
    let scan = otlp_text(cut).unwrap();
    assert_eq!((scan.lines, scan.bad_lines), (4, 1));
    assert_eq!(scan.agents.len(), 2, "the complete lines still count");

    let egress = fs::read_to_string(fixtures().join("logs/egress.jsonl")).unwrap();
    let scan = log_text(&egress[..egress.len() - 30]).unwrap();
    assert_eq!(scan.bad_lines, 1);
}

#[test]
fn a_huge_line_is_skipped_and_counted() {
    let squid = "1796112012.114 231 10.0.0.1 TCP_TUNNEL/200 7342 CONNECT api.openai.com:443 - HIER_DIRECT/1.2.3.4 -\n";
    let mut text = String::from(squid);
    text.push_str(&"x".repeat(10 * 1024 * 1024));
    text.push('\n');
    text.push_str(squid);
    let scan = log_text(&text).unwrap();
    assert_eq!((scan.format, scan.lines, scan.bad_lines), ("squid", 3, 1));
    assert_eq!(scan.traffic.len(), 1);
    assert_eq!(scan.traffic[0].requests, 2);
    assert_eq!(scan.traffic[0].location.line, Some(1));
}

#[test]
fn a_log_mixing_formats_counts_the_foreign_lines_as_bad() {
    let squid = fs::read_to_string(fixtures().join("logs/access.log")).unwrap();
    let zeek = fs::read_to_string(fixtures().join("logs/dns.log")).unwrap();
    let json = fs::read_to_string(fixtures().join("logs/egress.jsonl")).unwrap();
    // Garbage first: detection looks past it.
    let mixed =
        format!("\u{0}\u{1}garbage\n\n{squid}{}\n{}", json.lines().next().unwrap(), zeek.lines().nth(9).unwrap());
    let scan = log_text(&mixed).unwrap();
    assert_eq!(scan.format, "squid");
    assert_eq!(scan.bad_lines, 3);
    let alone = log_text(&squid).unwrap();
    assert_eq!(
        scan.traffic.iter().map(|t| t.requests).sum::<u64>(),
        alone.traffic.iter().map(|t| t.requests).sum::<u64>()
    );

    // A Zeek file with a foreign line and a row of the wrong width.
    let mut lines: Vec<&str> = zeek.lines().collect();
    lines.insert(9, squid.lines().next().unwrap());
    lines.insert(10, "1796112200.101000\tCshort\t10.0.4.21");
    let scan = log_text(&(lines.join("\n") + "\n")).unwrap();
    assert_eq!((scan.format, scan.bad_lines), ("zeek-dns", 2));
}

#[test]
fn a_long_generated_log_is_streamed() {
    let mut text = String::with_capacity(200_000 * 110);
    for i in 0..200_000_u32 {
        let host = if i % 10 == 0 { "api.anthropic.com:443" } else { "www.example.org:443" };
        text.push_str(&format!(
            "{}.{:03} 120 10.9.{}.{} TCP_TUNNEL/200 4410 CONNECT {host} - HIER_DIRECT/192.0.2.1 -\n",
            1_796_112_000 + i / 10,
            i % 1000,
            (i / 7) % 4,
            i % 50
        ));
    }
    let scan = log_text(&text).unwrap();
    assert_eq!((scan.lines, scan.bad_lines), (200_000, 0));
    assert_eq!(scan.traffic.iter().map(|t| t.requests).sum::<u64>(), 20_000);
    assert!(scan.traffic.iter().all(|t| t.host == "api.anthropic.com" && t.provider == "Anthropic"));
    assert_eq!(scan.traffic.len(), 4 * 5, "10.9.{{0..3}}.{{0,10,20,30,40}}");
}

#[test]
fn generic_json_lines_read_flat_nested_and_url_fields() {
    let text = [
        r#"{"ts": 1796112000123, "client": "10.1.1.1", "url": "https://API.groq.com/openai/v1/chat/completions"}"#,
        r#"{"time": "2026-12-01T08:00:05+01:00", "k8s.pod.name": "bot-1", "source": {"ip": "10.1.1.2"}, "sni": "api.cohere.com"}"#,
        r#"{"time": 1796112009, "service": "indexer", "dest_host": "127.0.0.1", "dest_port": 11434}"#,
        r#"{"time": 1796112010, "service": "indexer", "dest_ip": "10.2.2.2", "dest_port": "8000", "path": "/v1/embeddings"}"#,
        r#"{"time": 1796112011, "service": "indexer", "dest_ip": "10.2.2.2", "dest_port": 8000, "path": "/docs"}"#,
        r#"{"msg": "no destination"}"#,
        r#"[1, 2, 3]"#,
    ]
    .join("\n");
    let scan = log_text(&text).unwrap();
    assert_eq!((scan.format, scan.lines, scan.bad_lines), ("json-lines", 7, 1));
    let got: Vec<(String, String, Option<String>)> =
        scan.traffic.iter().map(|t| (t.workload.clone(), t.host.clone(), t.first_seen.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("10.1.1.1".into(), "api.groq.com".into(), Some("2026-12-01T08:00:00.123Z".into())),
            ("bot-1".into(), "api.cohere.com".into(), Some("2026-12-01T07:00:05Z".into())),
            ("indexer".into(), "10.2.2.2:8000".into(), Some("2026-12-01T08:00:10Z".into())),
            ("indexer".into(), "127.0.0.1:11434".into(), Some("2026-12-01T08:00:09Z".into())),
        ]
    );
}

#[test]
fn zeek_json_http_uses_the_connection_when_the_host_header_is_a_name() {
    let line = r#"{"ts":1796112120.5,"uid":"Cx1","id.orig_h":"10.0.4.21","id.orig_p":51344,"id.resp_h":"10.0.8.15","id.resp_p":11434,"method":"POST","host":"ollama.lab","uri":"/api/chat"}"#;
    let scan = log_text(line).unwrap();
    assert_eq!(scan.format, "zeek-json");
    assert_eq!(scan.traffic.len(), 1);
    assert_eq!((scan.traffic[0].host.as_str(), scan.traffic[0].provider.as_str()), ("10.0.8.15:11434", "Ollama"));
}

#[test]
fn otlp_lines_with_foreign_lines_count_them_as_bad() {
    let lines = fs::read_to_string(fixtures().join("otel/traces.jsonl")).unwrap();
    let mut v: Vec<&str> = lines.lines().collect();
    v.insert(1, "not json at all");
    v.insert(2, r#"{"level":"info","msg":"exporter started"}"#);
    let scan = otlp_text(&v.join("\n")).unwrap();
    assert_eq!((scan.format, scan.lines, scan.bad_lines, scan.spans), ("otlp-jsonl", 6, 2, 8));
    let agents: Vec<&str> = scan.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(agents, ["ops-copilot", "ticket-router"]);
    // Line numbers follow the file as it is.
    let router = scan.agents.iter().find(|a| a.name == "ticket-router").unwrap();
    assert_eq!(router.location.line, Some(1));
    let bedrock = scan.traffic.iter().find(|t| t.host.starts_with("bedrock-runtime.")).unwrap();
    assert_eq!(bedrock.location.line, Some(4));
}
