//! Agents defined in data files rather than code: CrewAI `agents.yaml` and A2A agent cards.
//!
//! A file is a definition when its name says so and its content has the expected shape; any
//! other file, or one that does not parse, is not a definition (`None`), so that an unrelated
//! `agent.json` costs nothing and yields nothing.

use std::path::Path;

use serde_json::Value;

use super::Frameworks;
use crate::model::{AgentFinding, AgentKind, Location, Source};

/// Files over this size are not agent definitions (a CrewAI project's YAML is a few KiB).
const MAX_DEFINITION: usize = 1024 * 1024;

fn file_name(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()
}

fn parent_name(path: &Path) -> Option<&str> {
    path.parent()?.file_name()?.to_str()
}

fn is_crewai_agents(path: &Path) -> bool {
    matches!(file_name(path), Some("agents.yaml" | "agents.yml"))
}

fn is_agent_card(path: &Path) -> bool {
    match file_name(path) {
        Some("agent-card.json") => true,
        Some("agent.json") => parent_name(path) == Some(".well-known"),
        _ => false,
    }
}

/// Whether a file's name makes it a candidate definition (CrewAI `agents.yaml`/`agents.yml`;
/// A2A `agent-card.json`, or `agent.json` in a `.well-known` directory).
pub(super) fn is_definition_name(path: &Path) -> bool {
    is_crewai_agents(path) || is_agent_card(path)
}

/// The agents an agent definition file declares, or `None` when the file is not one (by name,
/// then by shape): CrewAI `agents.yaml` (each top-level key whose value has a `role` is an
/// agent, with its `llm` and `tools`) and A2A agent cards (the card's `name`, its skills as
/// tools, its URL in the evidence).
pub fn scan_definition(_frameworks: &Frameworks, path: &Path, text: &str) -> Option<Vec<AgentFinding>> {
    if text.len() > MAX_DEFINITION {
        return None;
    }
    if is_crewai_agents(path) {
        crewai_agents(path, text)
    } else if is_agent_card(path) {
        agent_card(path, text)
    } else {
        None
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// The 1-based line where a top-level YAML key is written, found in the text because the
/// parsed value does not carry positions.
fn key_line(text: &str, key: &str) -> Option<u32> {
    text.lines()
        .position(|line| {
            let rest = line
                .strip_prefix(key)
                .or_else(|| line.strip_prefix('"').and_then(|l| l.strip_prefix(key)).and_then(|l| l.strip_prefix('"')))
                .or_else(|| {
                    line.strip_prefix('\'').and_then(|l| l.strip_prefix(key)).and_then(|l| l.strip_prefix('\''))
                });
            rest.is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn crewai_agents(path: &Path, text: &str) -> Option<Vec<AgentFinding>> {
    let doc: Value = serde_saphyr::from_str(text).ok()?;
    let map = doc.as_object()?;
    let mut out = Vec::new();
    for (key, value) in map {
        let Some(agent) = value.as_object() else { continue };
        if !agent.get("role").is_some_and(Value::is_string) {
            continue;
        }
        let line = key_line(text, key);
        let mut location = Location::file(path);
        location.line = line;
        location.pointer = Some(format!("/{}", key.replace('~', "~0").replace('/', "~1")));
        out.push(AgentFinding {
            id: String::new(),
            kind: AgentKind::Agent,
            name: key.clone(),
            framework: "crewai".into(),
            language: Some("yaml".into()),
            source: Source::Code,
            location,
            models: strings(agent.get("llm")),
            tools: strings(agent.get("tools")),
            mcp_servers: strings(agent.get("mcps")),
            credential_refs: Vec::new(),
            evidence: format!(
                "CrewAI agents file: top-level key `{key}` with a role{}",
                line.map(|l| format!(" at line {l}")).unwrap_or_default()
            ),
        });
    }
    // A YAML file named agents.yaml without any agent-shaped entry is something else.
    (!out.is_empty()).then_some(out)
}

fn agent_card(path: &Path, text: &str) -> Option<Vec<AgentFinding>> {
    let card: Value = serde_json::from_str(text).ok()?;
    let name = card.get("name")?.as_str()?;
    let skills = card.get("skills").and_then(Value::as_array);
    if skills.is_none() && card.get("capabilities").is_none() {
        return None;
    }
    let tools = skills
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("id").or_else(|| s.get("name")).and_then(Value::as_str).map(str::to_string))
        .collect();
    let url = card
        .get("url")
        .and_then(Value::as_str)
        .or_else(|| {
            card.get("supportedInterfaces")
                .and_then(Value::as_array)
                .and_then(|i| i.first())
                .and_then(|i| i.get("url"))
                .and_then(Value::as_str)
        })
        .map(|u| format!(" served at {u}"))
        .unwrap_or_default();
    let mut location = Location::line(path, 1);
    location.pointer = Some(String::new());
    Some(vec![AgentFinding {
        id: String::new(),
        kind: AgentKind::Agent,
        name: name.to_string(),
        framework: "a2a".into(),
        language: Some("json".into()),
        source: Source::Code,
        location,
        models: Vec::new(),
        tools,
        mcp_servers: Vec::new(),
        credential_refs: Vec::new(),
        evidence: format!("A2A agent card `{name}`{url}"),
    }])
}
