//! The gateway protections (DESIGN.md §5) that sit around the policy decision:
//!
//! - **pins**: every tool's canonical manifest is pinned by digest on first sight; a later list
//!   that changes, adds or removes a tool quarantines it (hidden, denied) until approved;
//! - **poisoning scan** of every manifest pinned or changed;
//! - **DLP**: arguments and results scanned with the shared credential catalogue;
//! - **session facts**: what each MCP session already called, for flow policies;
//! - **first use**: the tools each agent has called, to flag drift;
//! - **held calls** awaiting a human, and the **kill switch** for in-flight calls.
//!
//! State that must survive a restart (pins, baselines, held calls) is read back from the store's
//! `protect` projection; everything here changes only after its event is durable.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use custos_core::{
    AgentId, Event,
    manifest::{ToolManifest as Manifest, diff, render},
    protect::{ApprovalOutcome, PinState, ToolChange, ToolChanged, ToolFinding, ToolPin, ToolPinned, ToolQuarantined},
    scan::{
        poison::{PoisonScanner, Severity},
        secrets::{JsonHit, Scanner},
    },
};
use custos_policy::SessionFacts;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::config::ProtectConfig;

/// Sessions remembered at most; past this, those idle longest are forgotten first.
const MAX_SESSIONS: usize = 65_536;

/// What a human (or the timeout, or a restart) decided for a held call.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub outcome: ApprovalOutcome,
    pub note: Option<String>,
}

pub(crate) struct Held {
    pub agent: AgentId,
    pub server: String,
    pub tool: String,
    pub reply: oneshot::Sender<Verdict>,
}

/// The protections' in-memory state. Public for the benchmark; the gateway owns one.
pub struct Protect {
    pub(crate) cfg: ProtectConfig,
    dlp: Scanner,
    /// By qualified name.
    pins: RwLock<HashMap<String, ToolPin>>,
    /// `agent \n server.tool` of every call ever forwarded or decided.
    used: Mutex<HashSet<String>>,
    sessions: Mutex<HashMap<String, (SessionFacts, Instant)>>,
    pub(crate) held: Mutex<HashMap<String, Held>>,
    /// Fires with an agent id when the kill switch is pulled for it.
    pub(crate) kills: tokio::sync::broadcast::Sender<AgentId>,
    /// True once the gateway is stopping: calls in flight and streams end.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Protect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The scanner may hold canaries: never printed.
        f.debug_struct("Protect").field("pins", &self.pins.read().map(|p| p.len()).unwrap_or(0)).finish_non_exhaustive()
    }
}

impl Protect {
    pub fn new(cfg: ProtectConfig) -> Result<Self, String> {
        let dlp = Scanner::with_canaries(cfg.canaries.clone()).map_err(|e| format!("protect.canaries: {e}"))?;
        Ok(Self {
            cfg,
            dlp,
            pins: RwLock::new(HashMap::new()),
            used: Mutex::new(HashSet::new()),
            sessions: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            kills: tokio::sync::broadcast::channel(64).0,
            stopping: tokio::sync::watch::channel(false).0,
        })
    }

    pub fn approval_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.approval_timeout_secs)
    }

    /// Loads what the ledger says (at start, and after pin events were appended).
    pub fn load_pins(&self, pins: Vec<ToolPin>) {
        let map = pins.into_iter().map(|p| (format!("{}.{}", p.server, p.tool), p)).collect();
        *self.pins.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    pub fn load_uses(&self, uses: Vec<(String, String, String)>) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.extend(uses.into_iter().map(|(a, s, t)| format!("{a}\n{s}.{t}")));
    }

    /// Every pin, by qualified name.
    pub fn pins(&self) -> Vec<ToolPin> {
        let mut v: Vec<_> = self.pins.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        v.sort_by(|a, b| (&a.server, &a.tool).cmp(&(&b.server, &b.tool)));
        v
    }

    pub fn pin(&self, qualified: &str) -> Option<ToolPin> {
        self.pins.read().unwrap_or_else(|e| e.into_inner()).get(qualified).cloned()
    }

    /// `Err(why)` unless the tool is pinned and unchanged.
    pub fn callable(&self, qualified: &str) -> Result<(), String> {
        match self.pins.read().unwrap_or_else(|e| e.into_inner()).get(qualified) {
            Some(p) if p.state == PinState::Pinned => Ok(()),
            Some(p) => Err(format!(
                "tool `{qualified}` is quarantined ({}); an operator must approve it: custos tools approve {qualified}",
                p.reason.as_deref().unwrap_or(p.state.as_str())
            )),
            None => Err(format!("tool `{qualified}` has not been pinned yet")),
        }
    }

    /// The events that bring the pins of `server` in line with the tools it just listed:
    /// `tool.pinned` for a server seen for the first time, else `tool.changed` for each change,
    /// plus `tool.finding` (and `tool.quarantined`) from the poisoning scan of every new or
    /// changed manifest. `others` are the other servers' tool names (shadowing). Tools whose
    /// manifest cannot be read are skipped and reported in the returned warnings.
    pub fn reconcile(&self, server: &str, tools: &[Value], others: &[String]) -> (Vec<Event>, Vec<String>) {
        let pins = self.pins.read().unwrap_or_else(|e| e.into_inner());
        let known: HashMap<&str, &ToolPin> =
            pins.values().filter(|p| p.server == server).map(|p| (p.tool.as_str(), p)).collect();
        let first_sight = known.is_empty();
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        let mut seen = BTreeSet::new();
        for t in tools {
            let m = match Manifest::from_mcp(t) {
                Ok(m) => m,
                Err(e) => {
                    warnings.push(format!("`{server}`: {e}; the tool is not served"));
                    continue;
                }
            };
            let (digest, canonical) = match (m.digest(), m.canonical()) {
                (Ok(d), Ok(c)) => (d, c),
                (Err(e), _) | (_, Err(e)) => {
                    warnings.push(format!("`{server}`: {e}; the tool is not served"));
                    continue;
                }
            };
            let manifest: Value = serde_json::from_str(&canonical).unwrap_or(Value::Null);
            seen.insert(m.name.clone());
            let change = match known.get(m.name.as_str()) {
                None if first_sight => None,
                None => Some((ToolChange::Added, None, format!("+ new tool `{}`", m.name))),
                Some(p) if p.digest == digest && p.state != PinState::Removed => continue,
                // Already quarantined for this very manifest: nothing new to say.
                Some(p) if p.pending_digest.as_deref() == Some(digest.as_str()) => continue,
                Some(p) if p.state == PinState::Removed && p.digest == digest => {
                    Some((ToolChange::Added, None, format!("+ tool `{}` is listed again", m.name)))
                }
                Some(p) => {
                    let text = match serde_json::from_value::<Manifest>(p.manifest.clone()) {
                        Ok(old) => render(&diff(&old, &m)),
                        Err(_) => format!("~ tool `{}`: the approved manifest is not on record", m.name),
                    };
                    Some((ToolChange::Changed, Some(p.digest.clone()), text))
                }
            };
            let findings = PoisonScanner::builtin().scan_tool(&m, others);
            let worst = findings.iter().map(|f| f.severity).max();
            let quarantine = self.cfg.quarantine_on_poisoning && worst.is_some_and(|s| s >= Severity::High);
            match change {
                None => {
                    push(
                        &mut events,
                        None,
                        &ToolPinned {
                            server: server.into(),
                            tool: m.name.clone(),
                            digest: digest.clone(),
                            manifest: manifest.clone(),
                        },
                    );
                }
                Some((change, old_digest, text)) => push(
                    &mut events,
                    None,
                    &ToolChanged {
                        server: server.into(),
                        tool: m.name.clone(),
                        change,
                        old_digest,
                        new_digest: Some(digest.clone()),
                        diff: text,
                        manifest: Some(manifest.clone()),
                    },
                ),
            }
            for f in &findings {
                push(
                    &mut events,
                    None,
                    &ToolFinding {
                        server: server.into(),
                        tool: m.name.clone(),
                        rule: f.rule.clone(),
                        severity: format!("{:?}", f.severity).to_lowercase(),
                        path: f.path.clone(),
                        start: f.start as u64,
                        end: f.end as u64,
                        excerpt: f.excerpt.clone(),
                        digest: digest.clone(),
                        quarantined: quarantine,
                    },
                );
            }
            if quarantine {
                let rules: BTreeSet<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
                push(
                    &mut events,
                    None,
                    &ToolQuarantined {
                        server: server.into(),
                        tool: m.name.clone(),
                        reason: format!(
                            "the poisoning scan flagged its manifest ({})",
                            rules.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                        digest: Some(digest.clone()),
                    },
                );
            }
        }
        for (name, p) in &known {
            if !seen.contains(*name) && p.state != PinState::Removed {
                push(
                    &mut events,
                    None,
                    &ToolChanged {
                        server: server.into(),
                        tool: (*name).to_string(),
                        change: ToolChange::Removed,
                        old_digest: Some(p.digest.clone()),
                        new_digest: None,
                        diff: format!("- tool `{name}` is no longer listed"),
                        manifest: None,
                    },
                );
            }
        }
        (events, warnings)
    }

    /// Secrets in the arguments of a call.
    pub fn scan(&self, v: &Value) -> Vec<JsonHit> {
        self.dlp.scan_json(v)
    }

    /// Secrets in a result; replaced in place when configured to redact. (Copied only when
    /// there is something to redact.)
    pub fn scan_result(&self, v: &mut Value) -> Vec<JsonHit> {
        let hits = self.dlp.scan_json(v);
        if !hits.is_empty() && self.cfg.redact_results {
            *v = self.dlp.redact_json(v).0;
        }
        hits
    }

    /// Secrets in a free-text message (an upstream's error), redacted when configured to.
    pub fn scan_message(&self, text: &str) -> (String, Vec<custos_core::scan::secrets::Hit>) {
        let (redacted, hits) = self.dlp.redact_str(text);
        if self.cfg.redact_results { (redacted, hits) } else { (text.to_string(), hits) }
    }

    /// The facts of a session so far (empty for a new one).
    pub fn session(&self, key: &str) -> SessionFacts {
        self.known_session(key).unwrap_or_default()
    }

    /// The facts of a session this process has seen.
    pub fn known_session(&self, key: &str) -> Option<SessionFacts> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).get(key).map(|(f, _)| f.clone())
    }

    /// Remembers a session read back from the ledger (unless calls got there first).
    pub fn load_session(&self, key: &str, facts: SessionFacts) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        make_room(&mut s, key);
        s.entry(key.to_string()).or_insert_with(|| (facts, Instant::now()));
    }

    /// Adds a forwarded call to its session's facts.
    pub fn record_call(&self, key: &str, tool: &custos_policy::ToolManifest) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        make_room(&mut s, key);
        let entry = s.entry(key.to_string()).or_insert_with(|| (SessionFacts::default(), Instant::now()));
        entry.0.record(tool);
        entry.1 = Instant::now();
    }

    /// True the first time `agent` reaches `qualified` (and remembers it).
    pub fn first_use(&self, agent: &AgentId, qualified: &str) -> bool {
        self.used.lock().unwrap_or_else(|e| e.into_inner()).insert(format!("{agent}\n{qualified}"))
    }

    /// Forgets a first use whose event could not be recorded, so the next call tries again.
    pub fn unrecord_use(&self, agent: &AgentId, qualified: &str) {
        self.used.lock().unwrap_or_else(|e| e.into_inner()).remove(&format!("{agent}\n{qualified}"));
    }

    /// Labels of a tool: from `[protect.labels]`, from `custos tools label`, and from its MCP
    /// annotations.
    pub fn labels(&self, qualified: &str, annotations: &Value) -> Vec<String> {
        let mut out: BTreeSet<String> = self.cfg.labels.get(qualified).into_iter().flatten().cloned().collect();
        if let Some(p) = self.pins.read().unwrap_or_else(|e| e.into_inner()).get(qualified) {
            out.extend(p.labels.iter().cloned());
        }
        if annotations.get("destructiveHint").and_then(Value::as_bool) == Some(true) {
            out.insert("destructive".into());
        }
        if annotations.get("openWorldHint").and_then(Value::as_bool) == Some(true) {
            out.insert("untrusted-input".into());
        }
        out.into_iter().collect()
    }
}

/// Keeps the session map bounded: when full, the idlest eighth is forgotten at once, so
/// eviction is rare rather than per call. (A forgotten session-era session is read back from
/// the ledger on its next call.)
fn make_room(s: &mut HashMap<String, (SessionFacts, Instant)>, key: &str) {
    if s.len() >= MAX_SESSIONS && !s.contains_key(key) {
        let mut ages: Vec<(Instant, String)> = s.iter().map(|(k, (_, t))| (*t, k.clone())).collect();
        ages.sort();
        for (_, k) in ages.into_iter().take(MAX_SESSIONS / 8) {
            s.remove(&k);
        }
    }
}

fn push<P: custos_core::Payload>(events: &mut Vec<Event>, agent: Option<AgentId>, p: &P) {
    match Event::new(custos_core::Actor::system(), agent, p) {
        Ok(e) => events.push(e),
        // Only an unserializable payload fails here, which these types cannot be.
        Err(e) => eprintln!("custos: gateway: cannot build a `{}` event: {e}", P::KIND.as_str()),
    }
}
