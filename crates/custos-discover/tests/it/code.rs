//! Agents in source code and agent definition files: golden findings over fixture projects,
//! a negative set that yields nothing, import resolution, the prefilter and bad input.
//!
//! `UPDATE_GOLDEN=1 cargo test -p custos-discover --test it code::` rewrites
//! `tests/fixtures/code.golden.json` from the current findings: review every changed entry by
//! hand before committing it, the file is the expected answer, not a snapshot.

use std::fs;
use std::path::{Path, PathBuf};

use custos_discover::{AgentFinding, AgentKind, CatalogueError, Frameworks, scan_code, scan_definition, scan_source};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every file under `root`, relative to it, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
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

/// What the discover walk does per file: prefilter, then code or definition scan.
fn scan_tree(root: &Path) -> Vec<AgentFinding> {
    let fw = Frameworks::builtin();
    let mut all = Vec::new();
    for rel in files(root) {
        let bytes = fs::read(root.join(&rel)).unwrap();
        all.extend(scan_source(&fw, &rel, &bytes));
    }
    all.sort_by(|a, b| {
        (&a.location.path, a.location.line, &a.name, a.kind).cmp(&(&b.location.path, b.location.line, &b.name, b.kind))
    });
    all
}

#[test]
fn code_fixtures_match_the_golden_findings_exactly() {
    let found = scan_tree(&fixtures().join("code"));
    let golden_path = fixtures().join("code.golden.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        fs::write(&golden_path, serde_json::to_string_pretty(&found).unwrap() + "\n").unwrap();
    }
    let golden: Vec<AgentFinding> = serde_json::from_str(&fs::read_to_string(&golden_path).unwrap()).unwrap();
    for (i, (f, g)) in found.iter().zip(&golden).enumerate() {
        assert_eq!(f, g, "finding {i} differs");
    }
    assert_eq!(found.len(), golden.len(), "number of findings");
    // Every finding says where it came from and why.
    for f in &found {
        assert!(f.id.is_empty());
        assert!(f.location.line.is_some(), "{f:?}");
        assert!(!f.evidence.is_empty() && !f.name.is_empty(), "{f:?}");
    }
}

#[test]
fn golden_covers_every_framework_asked_for() {
    let golden: Vec<AgentFinding> =
        serde_json::from_str(&fs::read_to_string(fixtures().join("code.golden.json")).unwrap()).unwrap();
    let has = |framework: &str, language: &str, kind: AgentKind| {
        golden.iter().any(|f| f.framework == framework && f.language.as_deref() == Some(language) && f.kind == kind)
    };
    for framework in [
        "langgraph",
        "crewai",
        "openai_agents",
        "pydantic_ai",
        "google_adk",
        "smolagents",
        "anthropic",
        "autogen",
        "llamaindex",
        "strands",
    ] {
        assert!(has(framework, "python", AgentKind::Agent), "python agent of {framework}");
    }
    for framework in ["mastra", "vercel_ai", "openai_agents"] {
        assert!(has(framework, "typescript", AgentKind::Agent), "typescript agent of {framework}");
    }
    assert!(has("langgraph", "javascript", AgentKind::Agent));
    assert!(has("openai_agents", "javascript", AgentKind::Agent));
    assert!(has("mcp", "python", AgentKind::McpServer));
    assert!(has("mcp", "typescript", AgentKind::McpServer));
    assert!(has("anthropic", "python", AgentKind::LlmClient));
    assert!(has("vercel_ai", "typescript", AgentKind::LlmClient));
    assert!(has("crewai", "yaml", AgentKind::Agent));
    assert!(has("a2a", "json", AgentKind::Agent));
}

#[test]
fn negative_set_yields_nothing() {
    let root = fixtures().join("negative/code");
    let found = scan_tree(&root);
    assert_eq!(found, vec![], "look-alikes, own classes, comments and strings are not agents");
    // The analysis, not only the prefilter, rejects these: they name framework modules.
    let fw = Frameworks::builtin();
    for rel in ["api/comments.py", "api/relative.py", "docs/agent.json", "config/agents.yaml"] {
        let bytes = fs::read(root.join(rel)).unwrap();
        let parsed = fw.prefilter(Path::new(rel), &bytes) || scan_definition(&fw, Path::new(rel), "").is_none();
        assert!(parsed, "{rel} reaches the scanner");
    }
    let text = fs::read_to_string(root.join("api/comments.py")).unwrap();
    assert!(fw.prefilter(Path::new("api/comments.py"), text.as_bytes()));
    assert_eq!(scan_code(&fw, Path::new("api/comments.py"), &text), vec![]);
    let card = fs::read_to_string(root.join("docs/agent.json")).unwrap();
    assert_eq!(scan_definition(&fw, Path::new("docs/agent.json"), &card), None, "agent.json outside .well-known");
    let yaml = fs::read_to_string(root.join("config/agents.yaml")).unwrap();
    assert_eq!(scan_definition(&fw, Path::new("config/agents.yaml"), &yaml), None, "agents.yaml without roles");
}

fn names(found: &[AgentFinding]) -> Vec<(String, &'static str, String)> {
    found.iter().map(|f| (f.framework.clone(), f.kind.as_str(), f.name.clone())).collect()
}

#[test]
fn imports_are_resolved_before_matching() {
    let fw = Frameworks::builtin();
    let py = |text: &str| scan_code(&fw, Path::new("x.py"), text);
    let aliased = py("from crewai import Agent as A\nwriter = A(role='Writer', goal='g', backstory='b')\n");
    assert_eq!(names(&aliased), [("crewai".into(), "agent", "Writer".into())]);
    assert_eq!(aliased[0].evidence, "from crewai import Agent as A; A(…) at line 2");
    let module = py("import crewai\n\nx = crewai.Agent(goal='g')\n");
    assert_eq!(names(&module), [("crewai".into(), "agent", "x".into())]);
    let submodule = py("import google.adk.agents as adk\nroot_agent = adk.LlmAgent(model='gemini-2.5-flash')\n");
    assert_eq!(names(&submodule), [("google_adk".into(), "agent", "root_agent".into())]);
    assert_eq!(submodule[0].models, ["gemini-2.5-flash"]);
    // A bare `Agent(` without a framework import, or with another library's `Agent`, is nothing.
    assert_eq!(py("Agent(name='x', tools=[a])\n"), vec![]);
    assert_eq!(py("from myproject.agents import Agent\nAgent(name='x')\n"), vec![]);
    // The same name from two frameworks resolves to the one imported.
    let pyd = py("from pydantic_ai import Agent\nagent = Agent('anthropic:claude-sonnet-4-0')\n");
    assert_eq!(names(&pyd), [("pydantic_ai".into(), "agent", "agent".into())]);
    assert_eq!(pyd[0].models, ["anthropic:claude-sonnet-4-0"]);

    let grouped = py("from crewai import (\n    Agent,\n    Task,\n)\n\nanalyst = Agent(role='Analyst')\n");
    assert_eq!(names(&grouped), [("crewai".into(), "agent", "Analyst".into())]);
    let subclass = py(
        "from langchain.agents import BaseSingleActionAgent\n\nclass RouterAgent(BaseSingleActionAgent):\n    def plan(self, steps, **kw):\n        return None\n",
    );
    assert_eq!(names(&subclass), [("langchain".into(), "agent", "RouterAgent".into())]);
    assert_eq!(subclass[0].location.line, Some(3));
    let low = py("from mcp.server.lowlevel import Server\nserver = Server('git-tools')\n");
    assert_eq!(names(&low), [("mcp".into(), "mcp_server", "git-tools".into())]);
    let legacy = py(
        "from langchain.agents import initialize_agent\nfrom langchain_openai import ChatOpenAI\nexecutor = initialize_agent([search, calc], ChatOpenAI(model='gpt-3.5-turbo'))\n",
    );
    assert_eq!(names(&legacy), [("langchain".into(), "agent", "executor".into())]);
    assert_eq!(
        (legacy[0].tools.clone(), legacy[0].models.clone()),
        (vec!["search".into(), "calc".into()], vec!["gpt-3.5-turbo".into()])
    );
    let fast = py(
        "from fastmcp import FastMCP\napp = FastMCP(name='notes')\n@app.tool\ndef add_note(text: str) -> str:\n    return text\n",
    );
    assert_eq!(names(&fast), [("mcp".into(), "mcp_server", "notes".into())]);
    assert_eq!(fast[0].tools, ["add_note"]);

    let ts = |text: &str| scan_code(&fw, Path::new("x.ts"), text);
    let ns = ts("import * as agents from '@openai/agents';\nconst a = new agents.Agent({ name: 'Helper' });\n");
    assert_eq!(names(&ns), [("openai_agents".into(), "agent", "Helper".into())]);
    let default = ts(
        "import Anthropic from '@anthropic-ai/sdk';\nconst client = new Anthropic();\nexport async function ask() {\n  return client.messages.create({ model: 'claude-opus-4-1', max_tokens: 10, messages: [] });\n}\n",
    );
    assert_eq!(names(&default), [("anthropic".into(), "llm_client", "ask".into())]);
    assert_eq!(ts("class Agent {}\nconst a = new Agent({ name: 'mine' });\n"), vec![]);
}

#[test]
fn tool_loops_need_tools_to_be_agents() {
    let fw = Frameworks::builtin();
    let text = "from openai import OpenAI\nclient = OpenAI()\n\ndef loop(msgs):\n    return client.chat.completions.create(model='gpt-4o', messages=msgs, tools=[{'type': 'function', 'function': {'name': 'lookup'}}])\n\ndef chat(msgs):\n    return client.chat.completions.create(model='gpt-4o-mini', messages=msgs)\n";
    let found = scan_code(&fw, Path::new("svc.py"), text);
    assert_eq!(
        names(&found),
        [("openai".into(), "agent", "loop".into()), ("openai".into(), "llm_client", "chat".into())]
    );
    assert_eq!(found[0].tools, ["lookup"]);
    assert_eq!(found[1].models, ["gpt-4o-mini"]);
}

#[test]
fn prefilter_is_by_extension_and_module_keywords() {
    let fw = Frameworks::builtin();
    assert!(fw.prefilter(Path::new("a.py"), b"from crewai import Agent"));
    assert!(!fw.prefilter(Path::new("a.py"), b"import os\nprint('hello')\n"));
    assert!(!fw.prefilter(Path::new("a.txt"), b"from crewai import Agent"));
    assert!(!fw.prefilter(Path::new("Makefile"), b"from crewai import Agent"));
    assert!(fw.prefilter(Path::new("a.tsx"), b"import { Agent } from \"@mastra/core/agent\""));
    assert!(fw.prefilter(Path::new("a.cjs"), b"const { Agent } = require('@openai/agents')"));
    assert!(!fw.prefilter(Path::new("a.js"), b"import express from 'express'"));
    // Python keywords do not open JS files and the reverse.
    assert!(!fw.prefilter(Path::new("a.js"), b"// from crewai import Agent"));
    assert!(!fw.prefilter(Path::new("a.py"), b"# '@mastra/core/agent'"));
}

#[test]
fn catalogue_loads_checks_and_can_be_replaced() {
    let fw = Frameworks::builtin();
    assert!(fw.frameworks().len() >= 25);
    for f in fw.frameworks() {
        assert!(!f.source.is_empty() && f.checked.len() == 10 && !f.symbol.is_empty(), "{}", f.id);
    }
    assert!(fw.lookalikes().iter().any(|l| l.id == "celery"));
    assert!(fw.lookalikes().iter().any(|l| l.id == "temporal"));

    let err = Frameworks::from_toml("[[framework]]\nid = \"x\"\nname = 1\n").unwrap_err();
    assert!(matches!(err, CatalogueError::Toml { .. }));
    assert!(err.to_string().contains("line 3"), "{err}");

    let overlap = r#"
[[framework]]
id = "mine"
name = "Mine"
language = "python"
modules = ["celery.agents"]
source = "test"
checked = "2026-12-06"
[[framework.symbol]]
kind = "agent"
call = ["Bot"]

[[lookalike]]
id = "celery"
name = "Celery"
language = "python"
modules = ["celery"]
source = "test"
checked = "2026-12-06"
"#;
    let err = Frameworks::from_toml(overlap).unwrap_err();
    assert!(err.to_string().contains("overlaps"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("frameworks.toml"), overlap.split("[[lookalike]]").next().unwrap()).unwrap();
    let mine = Frameworks::from_dir_or_builtin(dir.path()).unwrap();
    let found = scan_code(&mine, Path::new("b.py"), "from celery.agents import Bot\nhelper = Bot()\n");
    assert_eq!(names(&found), [("mine".into(), "agent", "helper".into())]);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(Frameworks::from_dir_or_builtin(empty.path()).unwrap().frameworks().len(), fw.frameworks().len());
}

#[test]
fn bad_input_never_panics() {
    let fw = Frameworks::builtin();
    // A syntax error elsewhere does not hide an agent tree-sitter recovered.
    let broken =
        "from crewai import Agent\n\ndef broken(:\n    pass)\n\nwriter = Agent(role='Writer', tools=[search])\n";
    let found = scan_source(&fw, Path::new("broken.py"), broken.as_bytes());
    assert_eq!(names(&found), [("crewai".into(), "agent", "Writer".into())]);
    assert_eq!(found[0].tools, ["search"]);

    let mut non_utf8 = b"from crewai import Agent\nx = '\xff\xfe'\nAgent(role='R')\n".to_vec();
    non_utf8.extend_from_slice(&[0xc3, 0x28, 0xa0, 0xa1]);
    let found = scan_source(&fw, Path::new("latin1.py"), &non_utf8);
    assert_eq!(names(&found), [("crewai".into(), "agent", "R".into())]);

    let huge_line = format!("import anthropic\nx = '{}'\n", "a".repeat(4 * 1024 * 1024));
    assert_eq!(scan_source(&fw, Path::new("huge.py"), huge_line.as_bytes()), vec![]);

    // Deep nesting must not exhaust the stack of the walk or of the expression readers.
    let deep =
        format!("from crewai import Agent\nAgent(role=x, tools={}1{})\n", "[".repeat(20_000), "]".repeat(20_000));
    let _ = scan_source(&fw, Path::new("deep.py"), deep.as_bytes());
    let deep_calls = format!(
        "import {{ Agent }} from '@openai/agents';\nnew Agent({}1{});\n",
        "f(".repeat(20_000),
        ")".repeat(20_000)
    );
    let _ = scan_source(&fw, Path::new("deep.ts"), deep_calls.as_bytes());

    for junk in [&b"\0\0\0\x01\x02 from crewai import"[..], b"", b"'''", b"from crewai import (", b"new Agent({"] {
        for ext in ["py", "ts", "tsx", "js"] {
            let _ = scan_source(&fw, Path::new(&format!("junk.{ext}")), junk);
        }
    }
    let laughs = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    for (name, text) in [
        ("agents.yaml", laughs),
        ("agents.yaml", "a: [unclosed"),
        ("agents.yaml", "- just\n- a list\n"),
        (".well-known/agent-card.json", "{not json"),
        (".well-known/agent-card.json", "[1, 2]"),
    ] {
        assert_eq!(scan_definition(&fw, Path::new(name), text), None, "{name}: {text}");
    }
}

#[test]
fn many_matches_in_one_file_are_all_read() {
    let fw = Frameworks::builtin();
    // Nested constructors: each is an agent of its own.
    let nested = format!(
        "import {{ Agent }} from '@openai/agents';\nconst a = {}{};\n",
        "new Agent({ name: 'n', handoffs: [".repeat(3_000),
        "] })".repeat(3_000)
    );
    let found = scan_source(&fw, Path::new("nested.ts"), nested.as_bytes());
    assert_eq!(found.len(), 3_000);
    // Many MCP clients, all handed to one agent.
    let mut py = String::from("from agents import Agent\nfrom agents.mcp import MCPServerStdio\n");
    for i in 0..1_000 {
        py.push_str(&format!("s{i} = MCPServerStdio(params={{'command': 'srv{i}'}})\n"));
    }
    let list: Vec<String> = (0..1_000).map(|i| format!("s{i}")).collect();
    py.push_str(&format!("hub = Agent(name='hub', mcp_servers=[{}])\n", list.join(", ")));
    let found = scan_source(&fw, Path::new("many.py"), py.as_bytes());
    assert_eq!(found.len(), 1, "every client is used by the agent");
    assert_eq!(found[0].mcp_servers.len(), 1_000);
    assert_eq!(found[0].mcp_servers[999], "srv999");
}
