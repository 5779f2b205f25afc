//! Discovery of MCP servers in fixture homes: golden server sets, credential findings, skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod catalogue;
mod code;
mod infra;
mod outputs;
mod skips;
mod telemetry;
mod tree;
mod whole;

use std::fs;
use std::path::{Path, PathBuf};

use custos_discover::{Catalogue, FingerprintKey, Os, Report, Roots, scan_clients_in};

/// Fake keys are assembled at run time so that the repository holds no key-shaped string.
fn anthropic_key() -> String {
    format!("sk-ant-api03-{}AA", "a".repeat(93))
}

fn github_pat() -> String {
    format!("ghp_{}f6G7h8", "A1b2C3d4E5".repeat(3))
}

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

fn key() -> FingerprintKey {
    FingerprintKey::new(b"test fingerprint key".to_vec())
}

struct Fixture {
    _dir: tempfile::TempDir,
    base: PathBuf,
    home: PathBuf,
    projects: Vec<PathBuf>,
    system: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let home = base.join("home");
        let system = base.join("system");
        let projects = vec![base.join("proj")];
        for d in [&home, &system, &projects[0]] {
            fs::create_dir_all(d).unwrap();
        }
        Self { _dir: dir, base, home, projects, system }
    }

    fn scan(&self) -> Report {
        let roots = Roots { home: &self.home, projects: &self.projects, system: Some(&self.system) };
        scan_clients_in(&Catalogue::builtin(), &roots, Os::Linux, &key())
    }

    /// One line per server, paths relative to the fixture, sorted.
    fn golden(&self, report: &Report) -> Vec<String> {
        let mut lines: Vec<String> = report
            .servers
            .iter()
            .map(|s| {
                format!(
                    "{} {} {:?} {} {} {:?} env={:?} headers={:?} cred={}",
                    s.client,
                    s.path.strip_prefix(&self.base).unwrap().display(),
                    s.scope,
                    s.pointer,
                    s.name,
                    s.transport,
                    s.env,
                    s.headers,
                    s.has_credential
                )
            })
            .collect();
        lines.sort();
        lines
    }
}

fn populate(fx: &Fixture) {
    let ak = anthropic_key();
    let pat = github_pat();
    let home = &fx.home;
    write(
        home,
        ".config/Claude/claude_desktop_config.json",
        &format!(
            r#"{{"mcpServers": {{"fs": {{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
                "env": {{"ANTHROPIC_API_KEY": "{ak}"}}}}}}}}"#
        ),
    );
    write(
        home,
        ".claude.json",
        r#"{"numStartups": 3, "mcpServers": {"memory": {"type": "stdio", "command": "npx -y @mcp/memory"}},
            "projects": {"/work/a": {"mcpServers": {"sentry": {"type": "sse", "url": "https://mcp.sentry.dev/sse"}}},
                         "/work/b": {"allowedTools": []}}}"#,
    );
    write(
        &fx.projects[0],
        ".mcp.json",
        r#"{"mcpServers": {"db": {"command": "uvx", "args": ["mcp-db"], "env": {"DB_URL": "postgres://localhost/x"}}}}"#,
    );
    write(
        &fx.system,
        "etc/claude-code/managed-mcp.json",
        r#"{"mcpServers": {"corp": {"type": "http", "url": "https://mcp.corp.example/mcp"}}}"#,
    );
    write(
        home,
        ".cursor/mcp.json",
        r#"{"mcpServers": {"placeholders": {"command": "node", "args": ["server.js", "--key", "sk-xxxx"],
            "env": {"OPENAI_API_KEY": "${OPENAI_API_KEY}", "ANTHROPIC_API_KEY": "your-api-key", "TOKEN": "${input:token}"}}}}"#,
    );
    write(
        home,
        ".config/Code/User/mcp.json",
        &format!(
            "{{\n  // GitHub's remote server\n  \"servers\": {{\n    \"github\": {{\"type\": \"http\", \"url\": \"https://api.githubcopilot.com/mcp/\",\n      \"headers\": {{\"Authorization\": \"Bearer {pat}\"}},}},\n  }},\n}}"
        ),
    );
    write(
        home,
        ".config/Code/User/settings.json",
        "{ /* editor */ \"editor.fontSize\": 14, \"mcp\": { \"servers\": { \"nested\": { \"command\": \"nested-mcp\" } } },\n  \"mcp.servers\": { \"dotted\": { \"command\": \"dotted-mcp\" } }, }",
    );
    write(
        &fx.projects[0],
        ".vscode/mcp.json",
        r#"{"servers": {"proj-vs": {"type": "sse", "url": "http://localhost:3000/sse"}}}"#,
    );
    write(
        home,
        ".codeium/windsurf/mcp_config.json",
        r#"{"mcpServers": {"remote": {"serverUrl": "https://mcp.example.com/mcp"}}}"#,
    );
    write(
        home,
        ".gemini/settings.json",
        r#"{"theme": "dark", "mcpServers": {"stream": {"httpUrl": "https://mcp.example.org/mcp"}}}"#,
    );
    write(
        home,
        ".codex/config.toml",
        &format!(
            "model = \"o3\"\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\nargs = [\"--port\", \"0\"]\n\n[mcp_servers.docs.env]\nANTHROPIC_API_KEY = \"{ak}\"\n"
        ),
    );
    write(home, ".codex/auth.json", "{}");
    write(
        home,
        ".config/zed/settings.json",
        "{\n  // Zed\n  \"context_servers\": {\"zed-srv\": {\"command\": {\"path\": \"/usr/bin/zed-mcp\", \"args\": [\"--stdio\"], \"env\": {\"ZED_TOKEN\": \"x\"}}}}\n}",
    );
    write(
        home,
        ".config/opencode/opencode.jsonc",
        r#"{"mcp": {"local": {"type": "local", "command": ["bun", "x", "my-mcp"], "environment": {"MY_ENV": "1"}},
                    "far": {"type": "remote", "url": "https://far.example/mcp", "headers": {"X-Api": "none"}}}}"#,
    );
    write(
        home,
        ".copilot/mcp-config.json",
        r#"{"mcpServers": {"playwright": {"command": "npx", "args": ["@playwright/mcp"]}}}"#,
    );
    write(
        home,
        ".kiro/agents/reviewer.json",
        r#"{"name": "reviewer", "mcpServers": {"fetch": {"command": "uvx", "args": ["mcp-server-fetch"]}}}"#,
    );
    write(home, ".config/amp/settings.json", r#"{"amp.mcpServers": {"amp-srv": {"url": "https://amp.example/mcp"}}}"#);
    write(home, ".lmstudio/mcp.json", r#"{"mcpServers": {"hf": {"url": "https://huggingface.co/mcp"}}}"#);
    write(
        home,
        ".vibe/config.toml",
        "[[mcp_servers]]\nname = \"vibe-srv\"\ntransport = \"stdio\"\ncommand = \"vibe-mcp\"\n",
    );
}

#[test]
fn finds_the_exact_set_of_servers() {
    let fx = Fixture::new();
    populate(&fx);
    let report = fx.scan();
    assert_eq!(report.skipped, vec![], "nothing skipped");
    let expected = [
        r#"amp home/.config/amp/settings.json User /amp.mcpServers/amp-srv amp-srv Http { url: "https://amp.example/mcp" } env=[] headers=[] cred=false"#,
        r#"claude-code home/.claude.json User /mcpServers/memory memory Stdio { command: "npx", args: ["-y", "@mcp/memory"] } env=[] headers=[] cred=false"#,
        r#"claude-code home/.claude.json User /projects/~1work~1a/mcpServers/sentry sentry Sse { url: "https://mcp.sentry.dev/sse" } env=[] headers=[] cred=false"#,
        r#"claude-code proj/.mcp.json Project /mcpServers/db db Stdio { command: "uvx", args: ["mcp-db"] } env=["DB_URL"] headers=[] cred=false"#,
        r#"claude-code system/etc/claude-code/managed-mcp.json Managed /mcpServers/corp corp Http { url: "https://mcp.corp.example/mcp" } env=[] headers=[] cred=false"#,
        r#"claude-desktop home/.config/Claude/claude_desktop_config.json User /mcpServers/fs fs Stdio { command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"] } env=["ANTHROPIC_API_KEY"] headers=[] cred=true"#,
        r#"codex home/.codex/config.toml User /mcp_servers/docs docs Stdio { command: "docs-mcp", args: ["--port", "0"] } env=["ANTHROPIC_API_KEY"] headers=[] cred=true"#,
        r#"copilot-cli home/.copilot/mcp-config.json User /mcpServers/playwright playwright Stdio { command: "npx", args: ["@playwright/mcp"] } env=[] headers=[] cred=false"#,
        r#"cursor home/.cursor/mcp.json User /mcpServers/placeholders placeholders Stdio { command: "node", args: ["server.js", "--key", "sk-xxxx"] } env=["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "TOKEN"] headers=[] cred=false"#,
        r#"gemini-cli home/.gemini/settings.json User /mcpServers/stream stream Http { url: "https://mcp.example.org/mcp" } env=[] headers=[] cred=false"#,
        r#"kiro home/.kiro/agents/reviewer.json User /mcpServers/fetch fetch Stdio { command: "uvx", args: ["mcp-server-fetch"] } env=[] headers=[] cred=false"#,
        r#"lm-studio home/.lmstudio/mcp.json User /mcpServers/hf hf Http { url: "https://huggingface.co/mcp" } env=[] headers=[] cred=false"#,
        r#"mistral-vibe home/.vibe/config.toml User /mcp_servers/0 vibe-srv Stdio { command: "vibe-mcp", args: [] } env=[] headers=[] cred=false"#,
        r#"opencode home/.config/opencode/opencode.jsonc User /mcp/far far Http { url: "https://far.example/mcp" } env=[] headers=["X-Api"] cred=false"#,
        r#"opencode home/.config/opencode/opencode.jsonc User /mcp/local local Stdio { command: "bun", args: ["x", "my-mcp"] } env=["MY_ENV"] headers=[] cred=false"#,
        r#"vscode home/.config/Code/User/mcp.json User /servers/github github Http { url: "https://api.githubcopilot.com/mcp/" } env=[] headers=["Authorization"] cred=true"#,
        r#"vscode home/.config/Code/User/settings.json User /mcp.servers/dotted dotted Stdio { command: "dotted-mcp", args: [] } env=[] headers=[] cred=false"#,
        r#"vscode home/.config/Code/User/settings.json User /mcp/servers/nested nested Stdio { command: "nested-mcp", args: [] } env=[] headers=[] cred=false"#,
        r#"vscode proj/.vscode/mcp.json Project /servers/proj-vs proj-vs Sse { url: "http://localhost:3000/sse" } env=[] headers=[] cred=false"#,
        r#"windsurf home/.codeium/windsurf/mcp_config.json User /mcpServers/remote remote Http { url: "https://mcp.example.com/mcp" } env=[] headers=[] cred=false"#,
        r#"zed home/.config/zed/settings.json User /context_servers/zed-srv zed-srv Stdio { command: "/usr/bin/zed-mcp", args: ["--stdio"] } env=["ZED_TOKEN"] headers=[] cred=false"#,
    ];
    assert_eq!(fx.golden(&report), expected);
    assert_eq!(report.logins.len(), 1);
    assert_eq!(report.logins[0].client, "codex");
    assert!(report.logins[0].path.ends_with(".codex/auth.json"));
}

#[test]
fn credentials_are_found_masked_and_fingerprinted_never_shown() {
    let fx = Fixture::new();
    populate(&fx);
    let report = fx.scan();
    let mut found: Vec<(String, String, String, String)> = report
        .credentials
        .iter()
        .map(|c| (c.client.clone().unwrap(), c.location.pointer.clone().unwrap(), c.rule.clone(), c.masked.clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                "claude-desktop".into(),
                "/mcpServers/fs/env/ANTHROPIC_API_KEY".into(),
                "anthropic".into(),
                "sk-a…(108 chars)".into()
            ),
            (
                "codex".into(),
                "/mcp_servers/docs/env/ANTHROPIC_API_KEY".into(),
                "anthropic".into(),
                "sk-a…(108 chars)".into()
            ),
            (
                "vscode".into(),
                "/servers/github/headers/Authorization".into(),
                "github-pat".into(),
                "ghp_…(40 chars)".into()
            ),
        ]
    );
    let anthropic: Vec<&str> =
        report.credentials.iter().filter(|c| c.rule == "anthropic").map(|c| c.fingerprint.as_str()).collect();
    assert_eq!(anthropic.len(), 2);
    assert_eq!(anthropic[0], anthropic[1], "the same key in two files has one fingerprint");
    assert_eq!(anthropic[0], key().fingerprint(&anthropic_key()));
    assert_eq!(anthropic[0].len(), 64);
    let github = report.credentials.iter().find(|c| c.rule == "github-pat").unwrap();
    assert_eq!(github.provider, "GitHub");
    assert_ne!(github.fingerprint, anthropic[0]);
    // A different key gives different fingerprints: they are keyed, not plain hashes.
    assert_ne!(FingerprintKey::new(b"other".to_vec()).fingerprint(&anthropic_key()), anthropic[0]);

    let shown = format!("{report:?}\n{}", serde_json::to_string(&report).unwrap());
    for secret in [anthropic_key(), github_pat()] {
        assert!(!shown.contains(&secret), "a secret leaked into the report");
        assert!(!shown.contains(&secret[8..]), "part of a secret leaked into the report");
    }
    assert!(!format!("{:?}", key()).contains("test fingerprint key"));
}

#[test]
fn a_secret_in_an_argument_or_url_is_redacted_from_the_server() {
    let fx = Fixture::new();
    let ak = anthropic_key();
    write(
        &fx.home,
        ".lmstudio/mcp.json",
        &format!(
            r#"{{"mcpServers": {{"a": {{"command": "srv", "args": ["--key={ak}"]}}, "b": {{"url": "https://x.example/mcp?key={ak}"}}}}}}"#
        ),
    );
    let report = fx.scan();
    assert_eq!(
        fx.golden(&report),
        vec![
            r#"lm-studio home/.lmstudio/mcp.json User /mcpServers/a a Stdio { command: "srv", args: ["--key=[REDACTED:anthropic]"] } env=[] headers=[] cred=true"#,
            r#"lm-studio home/.lmstudio/mcp.json User /mcpServers/b b Http { url: "https://x.example/mcp?key=[REDACTED:anthropic]" } env=[] headers=[] cred=true"#,
        ]
    );
    let pointers: Vec<&str> = report.credentials.iter().map(|c| c.location.pointer.as_deref().unwrap()).collect();
    assert_eq!(pointers, ["/mcpServers/a/args/0", "/mcpServers/b/url"]);
}

#[test]
fn a_secret_used_as_a_name_is_redacted_everywhere() {
    let fx = Fixture::new();
    let ak = anthropic_key();
    write(
        &fx.home,
        ".claude.json",
        &format!(
            r#"{{"projects": {{"/p/{ak}": {{"mcpServers": {{"{ak}": {{"command": "x", "env": {{"{ak}": "{ak}"}}}}}}}}}}}}"#
        ),
    );
    let report = fx.scan();
    assert_eq!(report.servers.len(), 1);
    assert_eq!(report.servers[0].name, "[REDACTED:anthropic]");
    assert_eq!(report.servers[0].env, ["[REDACTED:anthropic]"]);
    assert_eq!(
        report.credentials[0].location.pointer.as_deref().unwrap(),
        "/projects/~1p~1[REDACTED:anthropic]/mcpServers/[REDACTED:anthropic]/env/[REDACTED:anthropic]"
    );
    let shown = format!("{report:?}\n{}", serde_json::to_string(&report).unwrap());
    assert!(!shown.contains(&ak[8..]), "{shown}");
}

#[test]
fn hmac_matches_rfc_4231() {
    let h = custos_discover::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(hex(&h), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    let long_key = [0xaa_u8; 131];
    let h = custos_discover::hmac_sha256(&long_key, b"Test Using Larger Than Block-Size Key - Hash Key First");
    assert_eq!(hex(&h), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
