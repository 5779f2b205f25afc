//! `custos discover`: MCP servers in agent-client configs, found statically, with the
//! credentials in them masked and fingerprinted by the instance key.

use std::fs;

use crate::support::{Ledger, Out};

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

    // An agent client with MCP servers nobody registered is a shadow agent: exit 2 even
    // without a credential. A clean home: exit 0.
    fs::remove_file(home.join(".claude.json")).unwrap();
    let shadow = l.run(&["--json", "discover", "--home", &home_s]).code(2).json();
    assert_eq!(shadow["reconciliation"][0]["label"], "shadow", "{shadow:#}");
    fs::remove_file(home.join(".cursor/mcp.json")).unwrap();
    l.run(&["discover", "--home", &home_s]).ok();
    // A missing directory or an unknown format: exit 3, said why.
    l.run(&["discover", "--home", "/nonexistent/custos"]).fails(3, &["is not a directory"]);
    l.run(&["discover", "--home", &home_s, "--format", "xml"]).fails(3, &["is not one of table, json"]);
}

/// An agent tree as a team would have it: one registered agent, one nobody registered, one
/// whose owner left.
fn agent_tree(root: &std::path::Path) {
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    };
    write(
        "refund/agent.py",
        "from agents import Agent, Runner, function_tool\n\n\n@function_tool\ndef issue_refund(order_id: str) -> str:\n    return f\"refunded {order_id}\"\n\n\nrefund_agent = Agent(\n    name=\"refund-bot\",\n    instructions=\"Refund orders that qualify.\",\n    model=\"gpt-4o\",\n    tools=[issue_refund],\n)\n\nif __name__ == \"__main__\":\n    print(Runner.run_sync(refund_agent, \"refund order 42\").final_output)\n",
    );
    write(
        "scraper/crew.py",
        "from crewai import Agent, Crew, Task\n\nscraper = Agent(\n    role=\"Price scraper\",\n    goal=\"Collect competitor prices\",\n    backstory=\"Nobody approved me.\",\n    llm=\"gpt-4o-mini\",\n)\n\ncrew = Crew(agents=[scraper], tasks=[Task(description=\"scrape\", expected_output=\"prices\", agent=scraper)])\n",
    );
    write(
        "ops/helper.py",
        "from langgraph.prebuilt import create_react_agent\n\n\ndef restart_service(name: str) -> str:\n    \"\"\"Restart a service.\"\"\"\n    return name\n\n\nops_helper = create_react_agent(\"anthropic:claude-sonnet-4-0\", tools=[restart_service], name=\"ops-helper\")\n",
    );
}

fn label_of<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["reconciliation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {r:#}"))
}

#[test]
fn discovery_reconciles_against_the_registry_and_records_the_run() {
    let l = Ledger::new();
    let repo = l.root().join("repo");
    agent_tree(&repo);
    let repo_s = repo.display().to_string();
    for args in [
        &[
            "agent",
            "register",
            "payments/refund-bot",
            "--env",
            "prod",
            "--owner",
            "alice",
            "--provenance",
            "path:refund/agent.py",
        ][..],
        &["agent", "approve", "payments/refund-bot"],
        &["agent", "register", "ops/helper", "--env", "prod", "--owner", "bob", "--name", "ops-helper"],
        &["agent", "approve", "ops/helper"],
        &["owner", "offboard", "bob", "--reason", "left"],
        &["agent", "register", "legacy/bot", "--env", "dev", "--owner", "carol"],
    ] {
        l.run(args).ok();
    }
    let before = l.size();
    let out = l.run(&["--json", "discover", &repo_s, "--record"]).code(2);
    assert!(out.stderr.contains("recorded as dr_"), "{}", out.stderr);
    let r = out.json();
    let refund = label_of(&r, "refund-bot");
    assert_eq!(refund["label"], "sanctioned", "{refund:#}");
    assert_eq!(refund["agent_id"], "payments/refund-bot");
    assert!(
        refund["evidence"][0].as_str().unwrap().contains("declared source location `refund/agent.py`"),
        "{refund:#}"
    );
    let scraper = label_of(&r, "Price scraper");
    assert_eq!(scraper["label"], "shadow", "{scraper:#}");
    let helper = label_of(&r, "ops-helper");
    assert_eq!(helper["label"], "orphaned", "{helper:#}");
    assert_eq!(helper["agent_id"], "ops/helper");
    assert!(helper["evidence"].to_string().contains("owner `bob` was offboarded"), "{helper:#}");
    // legacy/bot was registered today: not stale at 30 days, and nothing found it.
    assert!(r["reconciliation"].as_array().unwrap().iter().all(|x| x["agent_id"] != "legacy/bot"));

    // The run is in the ledger: one run, a finding per agent, one agent.discovered (the shadow).
    let events = l.events();
    let new: Vec<&serde_json::Value> = events.iter().skip(before as usize).collect();
    let kinds = |k: &str| new.iter().filter(|e| e["kind"] == k).count();
    assert_eq!(kinds("discovery.run"), 1, "{new:#?}");
    assert_eq!(kinds("discovery.finding"), 3);
    assert_eq!(kinds("agent.discovered"), 1);
    let run = new.iter().find(|e| e["kind"] == "discovery.run").unwrap();
    assert_eq!(run["data"]["counts"]["label.shadow"], 1, "{run:#}");
    assert_eq!(run["data"]["findings_total"], 3);
    let discovered = new.iter().find(|e| e["kind"] == "agent.discovered").unwrap();
    let shadow_id = scraper["finding"].as_str().unwrap();
    assert_eq!(discovered["agent"], format!("discovered/{shadow_id}"));
    assert_eq!(discovered["data"]["framework"], "crewai");
    let orphan = new.iter().find(|e| e["kind"] == "discovery.finding" && e["data"]["label"] == "orphaned").unwrap();
    assert_eq!(orphan["data"]["agent"], "ops/helper");

    // The shadow agent is in the registry, in state discovered.
    let listed = l.run(&["--json", "agent", "list", "--state", "discovered"]).ok().json();
    let ids: Vec<&str> = listed["agents"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [format!("discovered/{shadow_id}")], "{listed:#}");
    l.run(&["ledger", "verify"]).ok();

    // A stale threshold of 0 days makes every registered agent nobody saw at the gateway stale;
    // legacy/bot, which nothing found, is reported from the registry alone.
    let stale = l.run(&["--json", "discover", &repo_s, "--stale-days", "0"]).code(2).json();
    let legacy = stale["reconciliation"].as_array().unwrap().iter().find(|x| x["agent_id"] == "legacy/bot").unwrap();
    assert_eq!(legacy["label"], "stale", "{legacy:#}");
    assert!(legacy.get("finding").is_none());
    assert_eq!(label_of(&stale, "refund-bot")["label"], "stale");

    // Registering the shadow with its finding as provenance adopts it: no discovered record
    // is left, the next scan sanctions it, and with the orphan still there the exit stays 0
    // (orphans are reported, not failures; shadows and credentials are).
    l.run(&["agent", "register", "pricing/scraper", "--env", "prod", "--owner", "dana", "--provenance", shadow_id])
        .ok();
    let listed = l.run(&["--json", "agent", "list", "--state", "discovered"]).ok().json();
    assert_eq!(listed["agents"], serde_json::json!([]), "{listed:#}");
    let after = l.run(&["--json", "discover", &repo_s]).ok().json();
    assert_eq!(label_of(&after, "Price scraper")["label"], "sanctioned");
    assert_eq!(label_of(&after, "Price scraper")["agent_id"], "pricing/scraper");
}

#[test]
fn discovery_outputs_sarif_and_cyclonedx_and_refuses_bad_arguments() {
    let l = Ledger::new();
    let repo = l.root().join("repo");
    agent_tree(&repo);
    let repo_s = repo.display().to_string();
    let sarif_path = l.root().join("out.sarif");
    l.run(&["discover", &repo_s, "--format", "sarif", "-o", &sarif_path.display().to_string()]).code(2);
    let sarif: serde_json::Value = serde_json::from_slice(&fs::read(&sarif_path).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.iter().filter(|r| r["ruleId"] == "CUSTOS-D002").count(), 3, "three shadow agents: {sarif:#}");
    let cdx = l.run(&["discover", &repo_s, "--format", "cyclonedx"]).code(2).json();
    assert_eq!(cdx["specVersion"], "1.6");
    let apps = cdx["components"].as_array().unwrap().iter().filter(|c| c["type"] == "application").count();
    assert!(apps >= 3, "{cdx:#}");
    if let Ok(dir) = std::env::var("CUSTOS_WRITE_OUTPUTS") {
        fs::create_dir_all(&dir).unwrap();
        fs::copy(&sarif_path, std::path::Path::new(&dir).join("cli.sarif")).unwrap();
        fs::write(std::path::Path::new(&dir).join("cli.cdx.json"), cdx.to_string()).unwrap();
    }

    l.run(&["discover", &repo_s, "--k8s", "/nonexistent/k8s"]).fails(3, &["--k8s", "does not exist"]);
    l.run(&["discover", &repo_s, "--max-file-size", "0"]).fails(3, &["--max-file-size"]);
    l.run(&["discover", &repo_s, "--catalog", "/nonexistent/cat"]).fails(3, &["--catalog", "is not a directory"]);
    let cat = l.root().join("cat");
    fs::create_dir_all(&cat).unwrap();
    fs::write(cat.join("hosts.toml"), "[[host]]\npattern = ").unwrap();
    l.run(&["discover", &repo_s, "--catalog", &cat.display().to_string()]).fails(3, &["hosts.toml"]);
    let none = l.root().join("no-data-dir");
    Out::of(
        crate::support::custos(l.root()).arg("--data-dir").arg(&none).args(["discover", &repo_s, "--record"]),
        None,
    )
    .fails(3, &["--record", "data dir"]);
}

#[test]
fn discovery_of_a_broken_tree_reports_every_skip_and_completes() {
    use std::os::unix::ffi::OsStrExt as _;
    let l = Ledger::new();
    let repo = l.root().join("repo");
    agent_tree(&repo);
    let w = |rel: &str, bytes: &[u8]| {
        let p = repo.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    };
    w(".vscode/mcp.json", b"{ \"servers\": { \"x\": ");
    w(".codex/config.toml", b"[mcp_servers.x\ncommand = ");
    w(".continue/mcpServers/bad.yaml", b"name: [unclosed\n  - : :\n");
    w("k8s/broken.yaml", b"apiVersion: v1\nkind: Pod\nmetadata: [\n");
    w("blob.bin", &[0u8, 1, 2, 3, 255, 254, 0, 0]);
    w("huge.txt", &vec![b'a'; 300_000]);
    fs::write(repo.join(std::ffi::OsStr::from_bytes(b"caf\xe9.py")), b"print('hi')\n").unwrap();
    std::os::unix::fs::symlink(&repo, repo.join("loop")).unwrap();
    std::os::unix::fs::symlink("/etc", repo.join("outside")).unwrap();
    let unreadable = repo.join("secret.env");
    fs::write(&unreadable, "X=1\n").unwrap();
    fs::set_permissions(&unreadable, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let root_can_read = fs::read(&unreadable).is_ok();

    let r = l.run(&["--json", "discover", &repo.display().to_string(), "--max-file-size", "200000"]).code(2).json();
    let skipped: Vec<(String, String)> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().to_string(), s["reason"].as_str().unwrap().to_string()))
        .collect();
    let reason = |suffix: &str| {
        skipped
            .iter()
            .find(|(p, _)| p.ends_with(suffix))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{suffix} not skipped: {skipped:#?}"))
    };
    assert!(reason(".vscode/mcp.json").contains("invalid JSON"), "{skipped:#?}");
    assert!(reason(".codex/config.toml").contains("invalid TOML"));
    assert!(reason("bad.yaml").contains("YAML"));
    assert!(reason("k8s/broken.yaml").contains("line"));
    assert!(reason("huge.txt").contains("larger than"));
    assert!(reason("loop").contains("loop") || reason("loop").contains("root"), "{skipped:#?}");
    assert!(reason("outside").contains("outside"));
    if !root_can_read {
        assert!(reason("secret.env").contains("read"));
    }
    // The scan completed: the agents are all there.
    assert_eq!(r["reconciliation"].as_array().unwrap().len(), 3, "{r:#}");
}

#[test]
fn agents_seen_at_the_gateway_are_reconciled_and_calls_beyond_scope_are_drift() {
    let l = Ledger::new();
    for args in [
        &["agent", "register", "ops/bot", "--env", "prod", "--owner", "alice"][..],
        &["agent", "approve", "ops/bot"],
        &["agent", "register", "ops/quiet", "--env", "prod", "--owner", "alice"],
        &["agent", "approve", "ops/quiet"],
    ] {
        l.run(args).ok();
    }
    // Decisions as the gateway records them (the gateway's own tests cover how they are made).
    let decision = |agent: &str, tool: &str, decision: &str| {
        let data = serde_json::json!({"server": tool.split('/').next().unwrap(), "tool": tool.split('/').nth(1).unwrap(),
            "decision": decision, "enforced": true, "session": "s1", "policies": []});
        l.run(&["ledger", "append", "--kind", "gateway.decision", "--agent", agent, "--data", &data.to_string()]).ok();
    };
    decision("ops/bot", "github/search_issues", "allow");
    decision("ops/bot", "github/search_issues", "allow");
    decision("ops/bot", "shell/run", "deny");
    decision("ops/quiet", "github/search_issues", "allow");

    let r = l.run(&["--json", "discover", "--from-gateway"]).ok().json();
    let bot = label_of(&r, "ops/bot");
    assert_eq!(bot["label"], "drifted", "{r:#}");
    assert!(bot["evidence"][0].as_str().unwrap().contains("gateway token"), "{bot:#}");
    assert!(bot["evidence"].to_string().contains("1 call(s) to `shell/run` denied by policy"), "{bot:#}");
    assert_eq!(label_of(&r, "ops/quiet")["label"], "sanctioned");
    let agent = r["agents"].as_array().unwrap().iter().find(|a| a["name"] == "ops/bot").unwrap();
    assert_eq!(agent["source"], "gateway");
    assert_eq!(agent["tools"], serde_json::json!(["github/search_issues", "shell/run"]));
}
