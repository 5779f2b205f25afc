//! Files that cannot or must not be read are skipped with a reason, and the scan completes.

use std::fs;

use super::{Fixture, write};

#[test]
fn bad_files_are_skipped_with_reasons_and_the_scan_completes() {
    let fx = Fixture::new();
    write(&fx.home, ".cursor/mcp.json", r#"{"mcpServers": {"x": "#);
    let gemini = fx.home.join(".gemini/settings.json");
    fs::create_dir_all(gemini.parent().unwrap()).unwrap();
    fs::write(&gemini, [0x7f_u8, 0x45, 0x4c, 0x46, 0x00, 0x01, 0xff]).unwrap();
    let kimi = fx.home.join(".kimi/mcp.json");
    fs::create_dir_all(kimi.parent().unwrap()).unwrap();
    fs::write(&kimi, [b'{', 0xff, 0xfe, b'}']).unwrap();
    write(&fx.home, ".codex/config.toml", "[mcp_servers.x\ncommand = 1");
    let mut huge = String::from("{\"mcpServers\": {}}");
    huge.push_str(&" ".repeat(4 * 1024 * 1024));
    write(&fx.home, ".lmstudio/mcp.json", &huge);
    write(&fx.home, ".copilot/mcp-config.json", r#"{"mcpServers": {"ok": {"command": "ok-mcp"}}}"#);
    #[cfg(unix)]
    {
        let outside = write(&fx.base, "outside/mcp_config.json", r#"{"mcpServers": {"evil": {"command": "evil"}}}"#);
        let link = fx.home.join(".codeium/windsurf/mcp_config.json");
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        // A symlink that stays inside the home is followed.
        let inside = write(&fx.home, "dotfiles/factory.json", r#"{"mcpServers": {"inside": {"command": "in"}}}"#);
        let link = fx.home.join(".factory/mcp.json");
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&inside, &link).unwrap();
    }

    let report = fx.scan();
    let mut names: Vec<&str> = report.servers.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    #[cfg(unix)]
    assert_eq!(names, ["inside", "ok"]);
    #[cfg(not(unix))]
    assert_eq!(names, ["ok"]);

    let mut skipped: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|s| (s.path.strip_prefix(&fx.home).unwrap().display().to_string(), s.reason.clone()))
        .collect();
    skipped.sort();
    let reason = |rel: &str| skipped.iter().find(|(p, _)| p == rel).map(|(_, r)| r.as_str()).unwrap_or("not skipped");
    assert!(reason(".cursor/mcp.json").starts_with("invalid JSON: EOF"), "{skipped:?}");
    assert_eq!(reason(".gemini/settings.json"), "binary file (contains NUL bytes)");
    assert_eq!(reason(".kimi/mcp.json"), "not UTF-8 (invalid byte at offset 1)");
    assert!(reason(".codex/config.toml").starts_with("invalid TOML at byte"), "{skipped:?}");
    assert!(reason(".lmstudio/mcp.json").starts_with("larger than 4194304 bytes"), "{skipped:?}");
    #[cfg(unix)]
    {
        assert!(reason(".codeium/windsurf/mcp_config.json").starts_with("symlink leads outside the scanned root"));
        assert_eq!(skipped.len(), 6, "{skipped:?}");
    }
}

#[test]
fn a_toml_error_does_not_quote_the_file() {
    let fx = Fixture::new();
    let secret = format!("sk-ant-api03-{}AA", "b".repeat(93));
    write(&fx.home, ".codex/config.toml", &format!("[mcp_servers.x]\nenv = {{ KEY = \"{secret}\" }}\n=broken"));
    let report = fx.scan();
    assert_eq!(report.skipped.len(), 1);
    assert!(!report.skipped[0].reason.contains(&secret[..20]), "{}", report.skipped[0].reason);
}
