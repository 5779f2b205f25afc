//! The client catalogue: the built-in one is complete enough, a directory can replace it.

use std::collections::BTreeSet;
use std::fs;

use custos_discover::{Catalogue, CatalogueError, FingerprintKey, Os, Roots, Scope, scan_clients_in};

use super::write;

#[test]
fn builtin_catalogue_covers_the_known_clients() {
    let catalogue = Catalogue::builtin();
    let ids: BTreeSet<&str> = catalogue.client.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.len() >= 15, "{ids:?}");
    for id in [
        "claude-desktop",
        "claude-code",
        "cursor",
        "vscode",
        "windsurf",
        "gemini-cli",
        "codex",
        "zed",
        "cline",
        "kiro",
        "amazon-q",
        "lm-studio",
        "opencode",
        "copilot-cli",
    ] {
        assert!(ids.contains(id), "missing `{id}`");
    }
    for client in &catalogue.client {
        assert!(!client.source.is_empty() && client.checked.len() == 10, "{}", client.id);
    }
    let claude = catalogue.client("claude-code").unwrap();
    let scopes: BTreeSet<Scope> = claude.config.iter().map(|c| c.scope).collect();
    assert_eq!(scopes, BTreeSet::from([Scope::User, Scope::Project, Scope::Managed]));
    assert!(claude.config.iter().any(|c| c.keys.iter().any(|k| k == "/projects/*/mcpServers")));
    assert_eq!(catalogue.login.len(), 3);
}

#[test]
fn a_directory_replaces_the_builtin_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.toml",
        r#"
[[client]]
id = "acme"
name = "Acme Agent"
format = "json"
source = "test"
checked = "2026-12-06"

[[client.config]]
scope = "user"
keys = ["/tools/mcp"]
linux = ["~/.acme/agent.json"]
"#,
    );
    let catalogue = Catalogue::from_dir(dir.path()).unwrap();
    assert_eq!(catalogue.client.len(), 1);

    let home = tempfile::tempdir().unwrap();
    write(home.path(), ".acme/agent.json", r#"{"tools": {"mcp": {"a": {"command": "a-mcp"}}}}"#);
    write(home.path(), ".cursor/mcp.json", r#"{"mcpServers": {"b": {"command": "b"}}}"#);
    let roots = Roots { home: home.path(), projects: &[], system: None };
    let report = scan_clients_in(&catalogue, &roots, Os::Linux, &FingerprintKey::new(b"k".to_vec()));
    let names: Vec<(&str, &str)> = report.servers.iter().map(|s| (s.client.as_str(), s.name.as_str())).collect();
    assert_eq!(names, [("acme", "a")]);

    fs::copy(dir.path().join("a.toml"), dir.path().join("b.toml")).unwrap();
    let err = Catalogue::from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, CatalogueError::Duplicate { ref id } if id == "acme"), "{err}");
}

#[test]
fn a_path_outside_its_scope_is_rejected() {
    let text = r#"
[[client]]
id = "bad"
name = "Bad"
format = "json"
source = "test"
checked = "2026-12-06"

[[client.config]]
scope = "user"
keys = ["/mcpServers"]
linux = ["~/../etc/passwd"]
"#;
    let err = Catalogue::from_toml(text, std::path::Path::new("bad.toml")).unwrap_err();
    assert_eq!(err.to_string(), "client `bad`: path `~/../etc/passwd` must not contain `..`");
}
