//! `custos discover`: MCP servers in agent-client configs, found statically, with the
//! credentials in them masked and fingerprinted by the instance key.

use std::fs;

use crate::support::Ledger;

/// A GitHub token shape, built here so the repository holds no key-shaped string.
fn github_token() -> String {
    format!("ghp_{}", "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2")
}

#[test]
fn discover_finds_configured_servers_and_masks_the_credential_in_them() {
    let l = Ledger::new();
    let home = l.root().join("home");
    let project = l.root().join("project");
    fs::create_dir_all(home.join(".cursor")).unwrap();
    fs::create_dir_all(&project).unwrap();
    let token = github_token();
    let claude = serde_json::json!({"mcpServers": {"github": {
        "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
        "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": token}}}});
    fs::write(home.join(".claude.json"), claude.to_string()).unwrap();
    fs::write(home.join(".cursor/mcp.json"), r#"{"mcpServers": {"docs": {"url": "https://docs.example/mcp"}}}"#)
        .unwrap();
    fs::write(project.join(".mcp.json"), r#"{"mcpServers": {"fs": {"command": "npx", "args": ["fs"]}}}"#).unwrap();
    fs::write(home.join(".codex-broken.json"), "{").unwrap();

    let home_s = home.display().to_string();
    let project_s = project.display().to_string();
    let out = l.run(&["--json", "discover", "--home", &home_s, &project_s]).code(2);
    assert!(!out.stdout.contains(&token), "the token is printed: {}", out.stdout);
    let r = out.json();
    let mut names: Vec<(String, String)> = r["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["client"].as_str().unwrap().to_string(), s["name"].as_str().unwrap().to_string()))
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{r:#}");
    assert!(names.iter().any(|(_, n)| n == "github") && names.iter().any(|(_, n)| n == "docs"));
    assert!(names.iter().any(|(_, n)| n == "fs"), "project-scoped .mcp.json: {names:?}");
    let creds = r["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1, "{r:#}");
    assert!(creds[0]["masked"].as_str().unwrap().starts_with("ghp_"), "{creds:?}");
    assert_eq!(r["fingerprints_stable"], true);
    let fp = creds[0]["fingerprint"].clone();
    // The instance key makes the fingerprint stable across scans.
    let again = l.run(&["--json", "discover", "--home", &home_s]).code(2).json();
    assert_eq!(again["credentials"][0]["fingerprint"], fp);
    // The key file is private.
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(l.dir.join("discover.key")).unwrap().permissions());
    assert_eq!(mode & 0o077, 0);

    // The table names the servers and the exposed credential, never the value.
    let table = l.run(&["discover", "--home", &home_s]).code(2);
    assert!(table.stdout.contains("github") && table.stdout.contains("CREDENTIAL"), "{}", table.stdout);
    assert!(!table.stdout.contains(&token) && !table.stderr.contains(&token));

    // A clean tree: exit 0. A missing directory or an unknown format: exit 3, said why.
    fs::remove_file(home.join(".claude.json")).unwrap();
    l.run(&["discover", "--home", &home_s]).ok();
    l.run(&["discover", "--home", "/nonexistent/custos"]).fails(3, &["is not a directory"]);
    l.run(&["discover", "--home", &home_s, "--format", "xml"]).fails(3, &["is not one of table, json"]);
}
