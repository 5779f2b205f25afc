//! Infrastructure sources: Terraform and CloudFormation, Kubernetes manifests, and the YAML
//! agent clients (Continue, Goose). Golden files hold the exact expected findings.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use custos_discover::{
    AgentFinding, AgentKind, IacCatalogue, K8sCatalogue, looks_like_k8s, scan_cloudformation, scan_k8s, scan_terraform,
    scan_terraform_module,
};

use super::{Fixture, write};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every file under `dir`, as paths relative to `root`, sorted.
fn files(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn ext(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default()
}

/// The IaC findings of a tree: `.tf` files by module directory, templates one by one. Paths
/// in the findings are relative to `root`.
fn scan_iac_tree(root: &Path, dir: &Path) -> (Vec<AgentFinding>, Vec<String>) {
    let cat = IacCatalogue::builtin();
    let mut modules: BTreeMap<PathBuf, Vec<(PathBuf, String)>> = BTreeMap::new();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for rel in files(root, dir) {
        let text = fs::read_to_string(root.join(&rel)).unwrap();
        match ext(&rel) {
            "tf" => modules.entry(rel.parent().unwrap().to_path_buf()).or_default().push((rel, text)),
            "yaml" | "yml" | "json" => match scan_cloudformation(&cat, &rel, &text) {
                Ok(f) => found.extend(f),
                Err(reason) => skipped.push(format!("{}: {reason}", rel.display())),
            },
            _ => {}
        }
    }
    for files in modules.values() {
        let (f, s) = scan_terraform_module(&cat, files);
        found.extend(f);
        skipped.extend(s.into_iter().map(|s| format!("{}: {}", s.path.display(), s.reason)));
    }
    (found, skipped)
}

fn scan_k8s_tree(root: &Path, dir: &Path) -> (Vec<AgentFinding>, Vec<String>) {
    let cat = K8sCatalogue::builtin();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for rel in files(root, dir) {
        if !matches!(ext(&rel), "yaml" | "yml" | "json") {
            continue;
        }
        let text = fs::read_to_string(root.join(&rel)).unwrap();
        match scan_k8s(&cat, &rel, &text) {
            Ok(f) => found.extend(f),
            Err(reason) => skipped.push(format!("{}: {reason}", rel.display())),
        }
    }
    (found, skipped)
}

fn normalise(mut found: Vec<AgentFinding>) -> Vec<AgentFinding> {
    for f in &mut found {
        f.id = f.stable_id();
    }
    found.sort_by(|a, b| {
        (&a.location.path, a.location.line, &a.name, a.kind).cmp(&(&b.location.path, b.location.line, &b.name, b.kind))
    });
    found
}

/// Compares with the golden file, or rewrites it under `UPDATE_GOLDEN=1`.
fn check_golden(name: &str, found: Vec<AgentFinding>) {
    let path = fixtures().join(name);
    let found = normalise(found);
    let text = serde_json::to_string_pretty(&found).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        fs::write(&path, &text).unwrap();
        return;
    }
    let golden: Vec<AgentFinding> = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(found, golden, "findings differ from {name}; got:\n{text}");
}

#[test]
fn iac_fixtures_match_the_golden_file() {
    let root = fixtures();
    let (found, skipped) = scan_iac_tree(&root, &root.join("iac"));
    assert_eq!(skipped, Vec::<String>::new());
    check_golden("iac.golden.json", found);
}

#[test]
fn k8s_fixtures_match_the_golden_file() {
    let root = fixtures();
    let (found, skipped) = scan_k8s_tree(&root, &root.join("k8s"));
    assert_eq!(skipped, Vec::<String>::new());
    check_golden("k8s.golden.json", found);
}

#[test]
fn negative_infrastructure_yields_nothing() {
    let root = fixtures();
    let (iac, iac_skipped) = scan_iac_tree(&root, &root.join("negative/iac"));
    let (k8s, k8s_skipped) = scan_k8s_tree(&root, &root.join("negative/k8s"));
    assert_eq!(iac, vec![]);
    assert_eq!(k8s, vec![]);
    assert_eq!(iac_skipped, Vec::<String>::new());
    assert_eq!(k8s_skipped, Vec::<String>::new());
    let values = fs::read_to_string(root.join("negative/k8s/values.yaml")).unwrap();
    assert!(!looks_like_k8s(&values), "Helm values are not a manifest");
}

#[test]
fn references_resolve_across_the_files_of_a_module_only_when_asked() {
    let root = fixtures();
    let cat = IacCatalogue::builtin();
    let main = PathBuf::from("iac/bedrock/main.tf");
    let refunds = PathBuf::from("iac/bedrock/refunds.tf");
    let main_text = fs::read_to_string(root.join(&main)).unwrap();
    let refunds_text = fs::read_to_string(root.join(&refunds)).unwrap();
    let alone = scan_terraform(&cat, &main, &main_text).unwrap();
    let support = alone.iter().find(|f| f.name == "support-agent").unwrap();
    assert_eq!(support.tools, ["ticketing"]);
    assert_eq!(support.location.line, Some(39));
    let (module, skipped) = scan_terraform_module(&cat, &[(main, main_text), (refunds, refunds_text)]);
    assert!(skipped.is_empty());
    let support = module.iter().find(|f| f.name == "support-agent").unwrap();
    assert_eq!(support.tools, ["refunds", "ticketing"]);
    assert_eq!(support.models, ["anthropic.claude-3-5-sonnet-20241022-v2:0"]);
}

#[test]
fn bad_terraform_is_an_error_with_a_line_never_a_panic() {
    let cat = IacCatalogue::builtin();
    let p = Path::new("bad.tf");
    let cases = [
        (
            "resource \"aws_bedrockagent_agent\" \"a\" {\n  agent_name = \"x\"\n",
            "unterminated block starting at line 1",
        ),
        (
            "resource \"aws_bedrockagent_agent\" \"a\" {\n  agent_name = \"x\n}\n",
            "unterminated string starting at line 2",
        ),
        ("resource \"a\" \"b\" {\n  x = <<EOT\nnever closed\n", "unterminated heredoc `EOT` starting at line 2"),
        ("/* open comment\nresource \"a\" \"b\" {}\n", "unterminated comment starting at line 1"),
        ("resource \"a\" \"b\" {\n  x = [1, 2\n}\n", "unterminated expression starting at line 2"),
        ("}\n", "unexpected `}` at line 1"),
    ];
    for (text, want) in cases {
        assert_eq!(scan_terraform(&cat, p, text), Err(want.to_string()), "{text}");
    }
    let deep = format!("resource \"a\" \"b\" {}{}", "x {\n".repeat(200), "}\n".repeat(201));
    assert!(scan_terraform(&cat, p, &deep).unwrap_err().contains("deeper than"));
    let deep_expr = format!("resource \"a\" \"b\" {{\n x = {}{}\n}}\n", "[".repeat(500), "]".repeat(500));
    assert!(scan_terraform(&cat, p, &deep_expr).unwrap_err().contains("deeper than"));
    let huge = "# padding\n".repeat(500_000);
    assert!(scan_terraform(&cat, p, &huge).unwrap_err().starts_with("larger than"));
    // Arbitrary bytes-as-text and stray tokens: any result, no panic.
    for text in ["\u{feff}é\"{{{", "resource", "resource \"x\"", "= = =", "a b c {", "\"\\", "x = <<", "x = <<-"] {
        let _ = scan_terraform(&cat, p, text);
    }
}

/// A "billion laughs" document: nine aliases per level, many levels.
fn yaml_bomb() -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for c in 'b'..='m' {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("  {c}: &{c} [{refs}]\n"));
        prev = c;
    }
    text
}

#[test]
fn bad_yaml_is_an_error_with_a_position_never_the_content() {
    let cat = K8sCatalogue::builtin();
    let p = Path::new("bad.yaml");
    let secret = format!("sk-proj-{}", "Q".repeat(40));
    let invalid =
        format!("apiVersion: v1\nkind: Secret\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: \"{secret}\n");
    let err = scan_k8s(&cat, p, &invalid).unwrap_err();
    assert!(err.starts_with("invalid YAML at line"), "{err}");
    assert!(!err.contains(&secret[8..]), "{err}");

    let err = scan_k8s(&cat, p, &yaml_bomb()).unwrap_err();
    assert!(err.contains("exceeds the parser's limits"), "{err}");
    let cf =
        scan_cloudformation(&IacCatalogue::builtin(), p, &format!("Resources: {{}}\nx: AWS::\n{}", &yaml_bomb()[15..]));
    assert!(cf.is_err(), "{cf:?}");

    let deep = format!("apiVersion: v1\nkind: Pod\nspec: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert!(scan_k8s(&cat, p, &deep).is_err());
    let huge = format!("apiVersion: v1\nkind: ConfigMap\n{}", "# padding line\n".repeat(300_000));
    assert!(scan_k8s(&cat, p, &huge).unwrap_err().starts_with("larger than"));

    let helm = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"x.fullname\" . }}\n  {{- with .Values.labels }}\n";
    let err = scan_k8s(&cat, p, helm).unwrap_err();
    assert!(err.contains("Helm template"), "{err}");

    for text in ["apiVersion: v1\nkind: [", "apiVersion: v1\nkind: Pod\n---\n---\n...\n", "apiVersion:\nkind:\n\t- x"] {
        let _ = scan_k8s(&cat, p, text);
    }
}

#[test]
fn env_values_never_reach_a_finding() {
    let cat = K8sCatalogue::builtin();
    let secret = format!("sk-ant-api03-{}AA", "b".repeat(93));
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: leaky\nspec:\n  containers:\n    - name: app\n      image: python:3.12\n      env:\n        - name: ANTHROPIC_API_KEY\n          value: {secret}\n"
    );
    let found = scan_k8s(&cat, Path::new("pod.yaml"), &text).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, AgentKind::LlmClient);
    assert_eq!(found[0].credential_refs, ["ANTHROPIC_API_KEY"]);
    assert_eq!(found[0].location.line, Some(2));
    let shown = serde_json::to_string(&found).unwrap();
    assert!(!shown.contains(&secret[10..]), "{shown}");
}

#[test]
fn builtin_infrastructure_catalogues_load_and_can_be_replaced() {
    let iac = IacCatalogue::builtin();
    for t in [
        "aws_bedrockagent_agent",
        "aws_bedrockagentcore_gateway",
        "google_vertex_ai_reasoning_engine",
        "AWS::Bedrock::Agent",
    ] {
        assert!(iac.resource.iter().any(|r| r.resource_type == t), "{t}");
    }
    let k8s = K8sCatalogue::builtin();
    assert!(k8s.env.len() >= 25);
    assert!(k8s.crd.iter().any(|c| c.group == "kagent.dev" && c.kind == "Agent"));

    let err = IacCatalogue::from_toml(
        "[[resource]]\ntype = \"x\"\nplatform = \"p\"\nclass = \"tool\"\nsource = \"s\"\nchecked = \"2026-12-06\"\n",
        Path::new("iac.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("needs `parent`"), "{err}");
    let err = K8sCatalogue::from_toml("[[env]]\nname = 1\n", Path::new("k8s.toml")).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "iac.toml",
        "[[resource]]\ntype = \"acme_agent\"\nplatform = \"acme\"\nclass = \"managed_agent\"\nname = [\"title\"]\nsource = \"test\"\nchecked = \"2026-12-06\"\n",
    );
    let custom = IacCatalogue::load(Some(dir.path())).unwrap();
    let found =
        scan_terraform(&custom, Path::new("a.tf"), "resource \"acme_agent\" \"x\" {\n  title = \"Acme\"\n}\n").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].name.as_str(), found[0].framework.as_str()), ("Acme", "acme"));
    assert_eq!(K8sCatalogue::load(Some(dir.path())).unwrap(), K8sCatalogue::builtin(), "no k8s.toml: built-in");
}

#[test]
fn continue_and_goose_yaml_configs_are_read() {
    let fx = Fixture::new();
    write(
        &fx.home,
        ".continue/config.yaml",
        "name: Local Assistant\nversion: 1.0.0\nschema: v1\nmodels:\n  - name: Claude\n    provider: anthropic\n    model: claude-sonnet-4\nmcpServers:\n  - name: SQLite MCP\n    command: npx\n    args:\n      - \"-y\"\n      - \"mcp-sqlite\"\n      - \"/home/me/data.db\"\n    env:\n      SQLITE_MODE: ro\n  - name: Remote Docs\n    type: streamable-http\n    url: https://docs.example.com/mcp\n",
    );
    write(
        &fx.projects[0],
        ".continue/mcpServers/playwright.yaml",
        "name: Playwright\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: Browser search\n    command: npx\n    args: [\"@playwright/mcp@latest\"]\n",
    );
    write(&fx.projects[0], ".continue/mcpServers/broken.yaml", "name: Broken\nmcpServers:\n  - name: \"unterminated\n");
    write(
        &fx.home,
        ".config/goose/config.yaml",
        "GOOSE_PROVIDER: anthropic\nGOOSE_MODEL: claude-sonnet-4\nextensions:\n  developer:\n    enabled: true\n    name: developer\n    type: builtin\n    timeout: 300\n  github:\n    enabled: true\n    name: github\n    type: stdio\n    cmd: npx\n    args: [\"-y\", \"@modelcontextprotocol/server-github\"]\n    envs:\n      GITHUB_PERSONAL_ACCESS_TOKEN: \"${GITHUB_TOKEN}\"\n    env_keys: [\"GITHUB_APP_KEY\"]\n    timeout: 300\n  tavily:\n    enabled: false\n    name: tavily\n    type: streamable_http\n    uri: https://mcp.tavily.com/mcp\n  legacy:\n    name: legacy\n    type: sse\n    uri: http://localhost:8931/sse\n",
    );
    let report = fx.scan();
    assert_eq!(
        fx.golden(&report),
        vec![
            r#"continue home/.continue/config.yaml User /mcpServers/0 SQLite MCP Stdio { command: "npx", args: ["-y", "mcp-sqlite", "/home/me/data.db"] } env=["SQLITE_MODE"] headers=[] cred=false"#,
            r#"continue home/.continue/config.yaml User /mcpServers/1 Remote Docs Http { url: "https://docs.example.com/mcp" } env=[] headers=[] cred=false"#,
            r#"continue proj/.continue/mcpServers/playwright.yaml Project /mcpServers/0 Browser search Stdio { command: "npx", args: ["@playwright/mcp@latest"] } env=[] headers=[] cred=false"#,
            r#"goose home/.config/goose/config.yaml User /extensions/github github Stdio { command: "npx", args: ["-y", "@modelcontextprotocol/server-github"] } env=["GITHUB_APP_KEY", "GITHUB_PERSONAL_ACCESS_TOKEN"] headers=[] cred=false"#,
            r#"goose home/.config/goose/config.yaml User /extensions/legacy legacy Sse { url: "http://localhost:8931/sse" } env=[] headers=[] cred=false"#,
            r#"goose home/.config/goose/config.yaml User /extensions/tavily tavily Http { url: "https://mcp.tavily.com/mcp" } env=[] headers=[] cred=false"#,
        ]
    );
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].path.ends_with(".continue/mcpServers/broken.yaml"));
    assert!(report.skipped[0].reason.starts_with("invalid YAML at line 3"), "{}", report.skipped[0].reason);
}

#[test]
fn a_secret_in_a_goose_extension_is_found_and_redacted() {
    let fx = Fixture::new();
    let pat = super::github_pat();
    write(
        &fx.home,
        ".config/goose/config.yaml",
        &format!(
            "extensions:\n  gh:\n    type: stdio\n    cmd: github-mcp\n    envs:\n      GITHUB_PERSONAL_ACCESS_TOKEN: {pat}\n"
        ),
    );
    let report = fx.scan();
    assert_eq!(report.credentials.len(), 1);
    assert_eq!(
        report.credentials[0].location.pointer.as_deref(),
        Some("/extensions/gh/envs/GITHUB_PERSONAL_ACCESS_TOKEN")
    );
    assert!(report.servers[0].has_credential);
    let shown = serde_json::to_string(&report).unwrap();
    assert!(!shown.contains(&pat[6..]));
}

#[test]
fn every_truncation_of_the_fixtures_is_handled_without_a_panic() {
    let root = fixtures();
    let iac = IacCatalogue::builtin();
    let k8s = K8sCatalogue::builtin();
    let mut errors = 0;
    for dir in ["iac", "k8s"] {
        for rel in files(&root, &root.join(dir)) {
            let text = fs::read_to_string(root.join(&rel)).unwrap();
            for cut in (0..text.len()).step_by(5).filter(|i| text.is_char_boundary(*i)) {
                let part = &text[..cut];
                let results = match ext(&rel) {
                    "tf" => vec![scan_terraform(&iac, &rel, part)],
                    _ => vec![scan_cloudformation(&iac, &rel, part), scan_k8s(&k8s, &rel, part)],
                };
                errors += results.iter().filter(|r| r.is_err()).count();
            }
        }
    }
    assert!(errors > 0, "truncated files must also be reported as errors, not only read");
}
