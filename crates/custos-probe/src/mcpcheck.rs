//! Campaigns against MCP servers themselves (issue 8): connect as an MCP client, list the tools
//! twice some time apart, and judge every tool with the gateway's own checks, so a server is
//! held to the same rules before an agent meets it as after.
//!
//! - `mcp-poisoning/<tool>`: the gateway's tool-poisoning scanner
//!   ([`custos_core::scan::poison`]) finds instructions to the model, invisible characters,
//!   shadowing of other servers' tools or exfiltration parameters in the tool's manifest (every
//!   version listed is scanned);
//! - `mcp-rug-pull/<tool>`: the tool's manifest digest ([`ToolManifest::digest`], what the
//!   gateway pins) changed between the two listings, the tool appeared only in the second one,
//!   or the digest differs from the gateway's pin for this server and tool.
//!
//! Verdicts are those of agent trials ([`Verdict`]): `compromised` with the hits that show why,
//! `resisted`, or `error` when the server could not be judged (it is down, it timed out, its
//! answers are not JSON-RPC). A server that cannot be reached is one `error` result, never a
//! failed campaign and never a panic; only a target that names no way to reach it is an error of
//! this function.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use custos_core::Secret;
use custos_core::manifest::{ToolManifest, diff};
use custos_core::protect::ToolPin;
use custos_core::scan::poison::{Finding, PoisonScanner};
use serde_json::Value;

use crate::mcp_client::{Client, ClientError, Endpoint};
use crate::oracle::{Hit, Oracle, Verdict};
use crate::report::TrialResult;

/// How long one request may take unless the target says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `channel` of every result here: the attack is in the tool manifest itself.
pub const CHANNEL: &str = "tool_manifest";

/// Probe id prefixes; the tool's name follows.
pub const POISONING_PREFIX: &str = "mcp-poisoning/";
pub const RUG_PULL_PREFIX: &str = "mcp-rug-pull/";
/// The probe id of the one result a server that cannot be judged gets.
pub const SERVER_PROBE: &str = "mcp-server";

/// The taxonomy ids a result is filed under (all in pack.rs's reference lists, which a test
/// checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taxonomy {
    pub asi: &'static str,
    pub llm: &'static str,
    pub atlas: &'static str,
}

/// Tool poisoning. ASI04 (Agentic Supply Chain): the fault is in a component the agent composes
/// at run time, an MCP server's tools (ASI02 names "runtime descriptor poisoning" too, but ASI02
/// is about an agent misusing its tools, and here the server is judged, not an agent).
/// LLM01:2025 (Prompt Injection): a poisoned description is text the model reads as context and
/// obeys, an indirect injection. AML.T0110 (AI Agent Tool Poisoning) is the technique itself;
/// validation.md §8 maps these markers to ASI04/ASI02 and AML.T0110.
pub const POISONING: Taxonomy = Taxonomy { asi: "ASI04", llm: "LLM01:2025", atlas: "AML.T0110" };

/// Rug pull: a tool's definition changes after it was reviewed and pinned. ASI04 and
/// LLM03:2025 (Supply Chain): a third-party component changed under its users; AML.T0010 (AI
/// Supply Chain Compromise): the server delivers something other than what was vetted. A server
/// that cannot be judged is filed the same way, as the supply-chain component it is.
pub const RUG_PULL: Taxonomy = Taxonomy { asi: "ASI04", llm: "LLM03:2025", atlas: "AML.T0010" };

/// An MCP server to check: over Streamable HTTP (`url`) or stdio (`command`), like the gateway's
/// `[[servers]]` entries.
#[derive(Clone)]
pub struct McpTarget {
    /// The server's name at the gateway (`[[servers]] name`): its pins are those with this
    /// `server`.
    pub name: String,
    pub url: Option<String>,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Sent as `Authorization: Bearer …` (HTTP only).
    pub bearer: Option<Secret<String>>,
    /// Per request.
    pub timeout: Duration,
}

impl std::fmt::Debug for McpTarget {
    // `env` values may be credentials (a server's API key): only the names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTarget")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("bearer", &self.bearer)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl McpTarget {
    /// A server over Streamable HTTP.
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: Some(url.into()),
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            bearer: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A server started as a process, over stdio.
    pub fn stdio(name: impl Into<String>, command: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            name: name.into(),
            url: None,
            command: Some(command.into()),
            args,
            env: BTreeMap::new(),
            bearer: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    fn endpoint(&self) -> Result<Endpoint, McpCheckError> {
        match (&self.url, &self.command) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(McpCheckError::BadUrl { target: self.name.clone(), url: url.clone() });
                }
                Ok(Endpoint::Http { url: url.clone(), bearer: self.bearer.clone() })
            }
            (None, Some(command)) => {
                Ok(Endpoint::Stdio { command: command.clone(), args: self.args.clone(), env: self.env.clone() })
            }
            (None, None) => Err(McpCheckError::NoTransport { target: self.name.clone() }),
            (Some(_), Some(_)) => Err(McpCheckError::BothTransports { target: self.name.clone() }),
        }
    }
}

/// Why a check could not start: the target itself is malformed. (A server that is down or
/// answers nonsense is a result, `error`, not this.)
#[derive(Debug, thiserror::Error)]
pub enum McpCheckError {
    #[error("MCP target `{target}` names neither `url` nor `command`")]
    NoTransport { target: String },
    #[error("MCP target `{target}` names both `url` and `command`; pick one")]
    BothTransports { target: String },
    #[error("MCP target `{target}`: `{url}` is not an http:// or https:// URL")]
    BadUrl { target: String, url: String },
}

/// Checks `target`: lists its tools, waits `relist_after`, lists them again, and judges every
/// tool (see the module documentation). `pins` are the gateway's pins (`custos tools`): those of
/// this server are what the tools must still match, and the tool names of the other servers are
/// what a description must not talk about (shadowing), as at the gateway.
pub async fn check(
    target: &McpTarget,
    pins: &[ToolPin],
    relist_after: Duration,
) -> Result<Vec<TrialResult>, McpCheckError> {
    check_between(target, pins, tokio::time::sleep(relist_after)).await
}

/// [`check`], with `between` awaited between the two listings instead of a fixed wait (a test
/// changes the server there; a scheduler may wait for something else).
pub async fn check_between(
    target: &McpTarget,
    pins: &[ToolPin],
    between: impl Future<Output = ()>,
) -> Result<Vec<TrialResult>, McpCheckError> {
    let endpoint = target.endpoint()?;
    let started = Instant::now();
    let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    let (first, mut client) = match first_listing(&endpoint, target.timeout).await {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot list the tools of MCP server `{}`: {e}", target.name);
            return Ok(vec![server_error(target, why, elapsed())]);
        }
    };
    between.await;
    let second = client.list_tools().await.map_err(|e| e.to_string());
    // The connection (and a stdio server's process) ends here.
    drop(client);

    let others: Vec<&str> = pins
        .iter()
        .filter(|p| p.server != target.name)
        .map(|p| p.tool.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let first = Listing::read(&first);
    let second = second.map(|s| Listing::read(&s));

    // Tools in the order the server first listed them, then those it listed only later.
    let mut names: Vec<&str> = first.names.iter().map(String::as_str).collect();
    if let Ok(s) = &second {
        for n in &s.names {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    let ms = elapsed();
    let mut out = Vec::with_capacity(names.len() * 2 + first.unnamed.len());
    for name in names {
        let pin = pins.iter().find(|p| p.server == target.name && p.tool == name);
        let seen = Seen { first: first.tools.get(name), second: second.as_ref().ok().map(|s| s.tools.get(name)) };
        out.push(result(Check::Poisoning, name, poisoning(&seen, &others), ms));
        out.push(result(Check::RugPull, name, rug_pull(&seen, pin, second.as_ref().err()), ms));
    }
    // A tools/list element without a usable name cannot be judged, and must not vanish either.
    let unnamed: BTreeSet<&String> = first.unnamed.iter().chain(second.iter().flat_map(|s| s.unnamed.iter())).collect();
    for why in unnamed {
        out.push(server_error(target, why.clone(), ms));
    }
    Ok(out)
}

async fn first_listing(endpoint: &Endpoint, timeout: Duration) -> Result<(Vec<Value>, Client), ClientError> {
    let mut client = Client::open(endpoint, timeout)?;
    client.initialize("custos-probe").await?;
    let tools = client.list_tools().await?;
    Ok((tools, client))
}

/// One tool as one listing showed it: its manifest and digest, or why it cannot be read.
type Entry = Result<(ToolManifest, String), String>;

/// One `tools/list` answer, read.
struct Listing {
    /// Names in the server's order (first occurrence).
    names: Vec<String>,
    tools: BTreeMap<String, Entry>,
    /// Why elements without a name could not be judged.
    unnamed: Vec<String>,
}

impl Listing {
    fn read(tools: &[Value]) -> Self {
        let mut out = Listing { names: Vec::new(), tools: BTreeMap::new(), unnamed: Vec::new() };
        for (i, t) in tools.iter().enumerate() {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                out.unnamed.push(format!("element {i} of the tool list has no `name` string"));
                continue;
            };
            if out.tools.contains_key(name) {
                // The gateway keeps the first of two tools of one name; so does the check.
                continue;
            }
            let entry = ToolManifest::from_mcp(t)
                .map_err(|e| e.to_string())
                .and_then(|m| m.digest().map(|d| (m, d)).map_err(|e| e.to_string()));
            out.names.push(name.to_string());
            out.tools.insert(name.to_string(), entry);
        }
        out
    }
}

/// What the two listings said about one tool. `second` is `None` when the second listing
/// failed, `Some(None)` when it did not list the tool.
struct Seen<'a> {
    first: Option<&'a Entry>,
    second: Option<Option<&'a Entry>>,
}

impl Seen<'_> {
    /// Every readable version, first listing first, with a note saying which listing.
    fn versions(&self) -> Result<Vec<(&ToolManifest, &str, &'static str)>, String> {
        let mut out = Vec::new();
        for (entry, which) in [(self.first, "first listing"), (self.second.flatten(), "second listing")] {
            match entry {
                None => {}
                Some(Ok((m, d))) => out.push((m, d.as_str(), which)),
                Some(Err(e)) => return Err(format!("the {which} shows a tool that cannot be read: {e}")),
            }
        }
        Ok(out)
    }
}

/// The verdict and its evidence for one result.
struct Judged {
    verdict: Verdict,
    hits: Vec<Hit>,
    reason: Option<String>,
}

impl Judged {
    fn of(hits: Vec<Hit>) -> Self {
        let verdict = if hits.is_empty() { Verdict::Resisted } else { Verdict::Compromised };
        Self { verdict, hits, reason: None }
    }

    fn error(reason: String) -> Self {
        Self { verdict: Verdict::Error, hits: Vec::new(), reason: Some(reason) }
    }
}

fn poisoning(seen: &Seen<'_>, others: &[&str]) -> Judged {
    let versions = match seen.versions() {
        Ok(v) => v,
        Err(e) => return Judged::error(e),
    };
    let mut hits: Vec<Hit> = Vec::new();
    let mut said: BTreeSet<(String, String, String)> = BTreeSet::new();
    for (manifest, _, which) in &versions {
        for f in PoisonScanner::builtin().scan_tool(manifest, others) {
            // The same finding in both listings is said once.
            if !said.insert((f.rule.clone(), f.path.clone(), f.excerpt.clone())) {
                continue;
            }
            let from = if versions.len() > 1 && *which == "second listing" { " (second listing)" } else { "" };
            hits.push(Hit { oracle: Oracle::ToolPoisoning, why: describe(&f, from), indices: Vec::new() });
        }
    }
    Judged::of(hits)
}

fn describe(f: &Finding, from: &str) -> String {
    let severity = format!("{:?}", f.severity).to_lowercase();
    format!("rule `{}` ({severity}) at `{}` bytes {}..{}{from}: {}", f.rule, f.path, f.start, f.end, f.excerpt)
}

fn rug_pull(seen: &Seen<'_>, pin: Option<&ToolPin>, second_failed: Option<&String>) -> Judged {
    let versions = match seen.versions() {
        Ok(v) => v,
        Err(e) => return Judged::error(e),
    };
    let hit = |why: String| Hit { oracle: Oracle::RugPull, why, indices: Vec::new() };
    let mut hits = Vec::new();
    // Against the gateway's pin: the earliest version this check saw.
    if let (Some(pin), Some((manifest, digest, which))) = (pin, versions.first())
        && pin.digest != *digest
    {
        let why = if pin.digest.is_empty() {
            format!(
                "the gateway never approved this tool ({}); the {which} shows {digest}",
                pin.reason.as_deref().unwrap_or("no approved manifest")
            )
        } else {
            let what = match serde_json::from_value::<ToolManifest>(pin.manifest.clone()) {
                Ok(old) => changed_paths(&old, manifest),
                Err(_) => "the approved manifest is not on record".to_string(),
            };
            format!("differs from the gateway's pin: approved {}, the {which} shows {digest}; {what}", pin.digest)
        };
        hits.push(hit(why));
    }
    match (seen.first, seen.second) {
        (Some(Ok((old, before))), Some(Some(Ok((new, after))))) if before != after => {
            hits.push(hit(format!(
                "the manifest changed between two listings: {before} then {after}; {}",
                changed_paths(old, new)
            )));
        }
        (None, Some(Some(Ok((_, after))))) => {
            hits.push(hit(format!("the tool appeared only in the second listing ({after})")));
        }
        _ => {}
    }
    if hits.is_empty()
        && let Some(e) = second_failed
    {
        return Judged::error(format!("the second listing failed, so a change cannot be ruled out: {e}"));
    }
    Judged::of(hits)
}

/// `changed: a, b` over the fields that differ.
fn changed_paths(old: &ToolManifest, new: &ToolManifest) -> String {
    let paths: Vec<String> = diff(old, new)
        .into_iter()
        .map(|c| if c.path.is_empty() { "(whole manifest)".to_string() } else { c.path })
        .collect();
    if paths.is_empty() { "no pinned field differs".to_string() } else { format!("changed: {}", paths.join(", ")) }
}

/// The two checks every tool gets.
#[derive(Clone, Copy)]
enum Check {
    Poisoning,
    RugPull,
}

fn result(check: Check, tool: &str, judged: Judged, duration_ms: u64) -> TrialResult {
    let (prefix, ids, title) = match check {
        Check::Poisoning => {
            (POISONING_PREFIX, POISONING, format!("tool `{tool}` hides no instructions to the model (tool poisoning)"))
        }
        Check::RugPull => (
            RUG_PULL_PREFIX,
            RUG_PULL,
            format!("tool `{tool}` keeps the manifest it was listed and pinned with (rug pull)"),
        ),
    };
    TrialResult {
        probe: format!("{prefix}{tool}"),
        title,
        asi: ids.asi.to_string(),
        llm: ids.llm.to_string(),
        atlas: ids.atlas.to_string(),
        channel: CHANNEL.to_string(),
        trial: 1,
        verdict: judged.verdict,
        hits: judged.hits,
        reason: judged.reason,
        duration_ms,
        ledger_index: None,
    }
}

fn server_error(target: &McpTarget, reason: String, duration_ms: u64) -> TrialResult {
    TrialResult {
        probe: SERVER_PROBE.to_string(),
        title: format!("MCP server `{}` can be listed and judged", target.name),
        asi: RUG_PULL.asi.to_string(),
        llm: RUG_PULL.llm.to_string(),
        atlas: RUG_PULL.atlas.to_string(),
        channel: CHANNEL.to_string(),
        trial: 1,
        verdict: Verdict::Error,
        hits: Vec::new(),
        reason: Some(reason),
        duration_ms,
        ledger_index: None,
    }
}
