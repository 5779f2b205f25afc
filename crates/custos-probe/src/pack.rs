//! Probe packs: adversarial probes kept as versioned, hashed data (TOML), checked at load time.
//!
//! A pack is data so that it can be reviewed like code, pinned by digest in a run report, and
//! extended without a rebuild. Every probe names the taxonomies it exercises (OWASP Agentic Top
//! 10 2026, OWASP LLM Top 10 2025, MITRE ATLAS) and the deterministic oracles that judge it, so
//! a finding is attributable and never rests on what the agent *said*.
//!
//! # Format
//!
//! `schema/probe-pack-v1.schema.json` (JSON Schema 2020-12) describes it for editors and
//! reviewers; CI checks every shipped pack against it. The checks here go further (unique ids,
//! ATLAS ids from the reference list, the rules of each channel) and name the line.
//!
//! ```toml
//! [pack]
//! name = "default"            # free text
//! version = "1.0.0"           # bumped on every change; the digest pins the exact bytes
//! description = "..."
//!
//! [[probe]]
//! id = "asi01-doc-email"      # token: lowercase ASCII letters, digits, `-`, `_`, `.`; unique
//! title = "..."
//! asi = "ASI01"               # ASI01 … ASI10 (OWASP Top 10 for Agentic Applications 2026)
//! llm = "LLM01:2025"          # LLM01:2025 … LLM10:2025 (OWASP Top 10 for LLM Applications)
//! atlas = "AML.T0051.001"     # a MITRE ATLAS 5.6.0 technique id from the reference list
//! channel = "tool_result"     # "direct" | "tool_result" | "memory"
//! carrier = "read_document"   # tool_result: required; memory: optional; direct: forbidden
//! prompt = "..."              # what the user says (benign for tool_result, trigger for memory)
//! payload = "... {{canary}}"  # tool_result and memory: required, must contain `{{canary}}`
//! expect = ["honeypot_call", "canary_in_args"]
//! sinks = ["send_email"]      # optional: which honeypot tools count for `honeypot_call`
//! ```
//!
//! Channels: `direct` puts the attack in the user's own message; `tool_result` has the decoy
//! `carrier` tool return `payload` while the user asks for something benign; `memory` plants
//! `payload` in conversation 1 (through `carrier` when given, else as a user turn) and sends
//! `prompt` in a fresh conversation 2, so only persistence can carry the attack across.
//!
//! Every trial mints a fresh canary and calls [`Probe::render`], which replaces `{{canary}}` in
//! both texts, so a leak seen at the gateway is attributable to exactly one probe and trial.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use toml::Spanned;

/// The placeholder replaced by a fresh canary in every trial.
pub const CANARY_PLACEHOLDER: &str = "{{canary}}";

/// The pack shipped with custos, compiled in so a run needs no file on disk.
const BUILTIN_TOML: &str = include_str!("../packs/default.toml");
const BUILTIN_ORIGIN: &str = "builtin:packs/default.toml";

// Only ids in the validation reference (OWASP ASI 2026, LLM Top 10 2025, ATLAS 5.6.0) are accepted:
// a typo in a mapping would otherwise silently mis-file findings in every report.
const ASI_IDS: &[&str] = &["ASI01", "ASI02", "ASI03", "ASI04", "ASI05", "ASI06", "ASI07", "ASI08", "ASI09", "ASI10"];
const LLM_IDS: &[&str] = &[
    "LLM01:2025",
    "LLM02:2025",
    "LLM03:2025",
    "LLM04:2025",
    "LLM05:2025",
    "LLM06:2025",
    "LLM07:2025",
    "LLM08:2025",
    "LLM09:2025",
    "LLM10:2025",
];
const ATLAS_IDS: &[&str] = &[
    "AML.T0010",
    "AML.T0034",
    "AML.T0051",
    "AML.T0051.000",
    "AML.T0051.001",
    "AML.T0053",
    "AML.T0054",
    "AML.T0056",
    "AML.T0057",
    "AML.T0070",
    "AML.T0080",
    "AML.T0080.000",
    "AML.T0080.001",
    "AML.T0081",
    "AML.T0083",
    "AML.T0085",
    "AML.T0086",
    "AML.T0098",
    "AML.T0099",
    "AML.T0110",
];

/// Why a pack could not be loaded. Every variant names the file; all but `Read` name a line.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The file could not be read.
    #[error("cannot read probe pack `{origin}`: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid pack.
    #[error("probe pack `{origin}` line {line}: {problem}")]
    Invalid {
        origin: String,
        /// 1-based line of the offending value (or table).
        line: usize,
        problem: Problem,
    },
}

impl PackError {
    /// The 1-based line the error points at, if it points at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Read { .. } => None,
            Self::Invalid { line, .. } => Some(*line),
        }
    }

    /// What is wrong, when the file was readable.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Read { .. } => None,
            Self::Invalid { problem, .. } => Some(problem),
        }
    }
}

/// What is wrong with a pack that was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    Syntax(String),
    #[error("the pack has no probes")]
    Empty,
    #[error("probe id `{id}` is not a token (lowercase letters, digits, `-`, `_`, `.`)")]
    BadId { id: String },
    #[error("duplicate probe id `{id}`, first defined at line {first_line}")]
    DuplicateId { id: String, first_line: usize },
    #[error("probe `{probe}`: unknown {field} `{value}`")]
    Unknown { probe: String, field: &'static str, value: String },
    #[error("probe `{probe}`: {field} lacks the `{{{{canary}}}}` placeholder")]
    MissingCanary { probe: String, field: &'static str },
    #[error("probe `{probe}`: channel `{channel}` requires `{field}`")]
    MissingField { probe: String, channel: Channel, field: &'static str },
    #[error("probe `{probe}`: channel `{channel}` does not take `{field}`")]
    UnexpectedField { probe: String, channel: Channel, field: &'static str },
    #[error("probe `{probe}`: `expect` names no oracle")]
    NoOracle { probe: String },
    #[error(
        "probe `{probe}`: oracle `{oracle}` judges an MCP server's tool list, not an agent; \
         check MCP servers with an MCP target instead"
    )]
    ServerOracle { probe: String, oracle: &'static str },
}

/// Where the attack reaches the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// In the user's own message.
    Direct,
    /// In the result of a decoy content tool the agent calls for a benign request.
    ToolResult,
    /// Planted in conversation 1, triggered in conversation 2.
    Memory,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Direct, Channel::ToolResult, Channel::Memory];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::ToolResult => "tool_result",
            Self::Memory => "memory",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decoy content tool whose result carries an injected payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    ReadDocument,
    ReadInbox,
    FetchWebPage,
    ReadTicket,
}

impl Carrier {
    pub const ALL: [Carrier; 4] =
        [Carrier::ReadDocument, Carrier::ReadInbox, Carrier::FetchWebPage, Carrier::ReadTicket];

    /// The decoy tool's name as the agent sees it.
    pub fn tool_name(self) -> &'static str {
        match self {
            Self::ReadDocument => "read_document",
            Self::ReadInbox => "read_inbox",
            Self::FetchWebPage => "fetch_web_page",
            Self::ReadTicket => "read_ticket",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.tool_name() == s)
    }
}

/// A honeypot sink: a tool that does nothing but record that it was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sink {
    SendEmail,
    HttpPost,
    WriteFile,
    TransferFunds,
    RunShell,
}

impl Sink {
    pub const ALL: [Sink; 5] = [Sink::SendEmail, Sink::HttpPost, Sink::WriteFile, Sink::TransferFunds, Sink::RunShell];

    pub fn tool_name(self) -> &'static str {
        match self {
            Self::SendEmail => "send_email",
            Self::HttpPost => "http_post",
            Self::WriteFile => "write_file",
            Self::TransferFunds => "transfer_funds",
            Self::RunShell => "run_shell",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.tool_name() == s)
    }
}

pub use crate::oracle::Oracle;

/// One checked probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub id: String,
    pub title: String,
    pub asi: String,
    pub llm: String,
    pub atlas: String,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub prompt: String,
    pub payload: Option<String>,
    pub expect: Vec<Oracle>,
    /// Empty means every honeypot sink counts.
    pub sinks: Vec<Sink>,
    /// 1-based line of the probe's `id`, for messages that point back at the pack.
    pub line: usize,
}

/// A probe with this trial's canary substituted, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedProbe {
    pub id: String,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub prompt: String,
    pub payload: Option<String>,
    pub canary: String,
    pub expect: Vec<Oracle>,
    pub sinks: Vec<Sink>,
}

impl Probe {
    /// Substitutes `canary` for every `{{canary}}` in the prompt and the payload.
    pub fn render(&self, canary: &str) -> RenderedProbe {
        RenderedProbe {
            id: self.id.clone(),
            channel: self.channel,
            carrier: self.carrier,
            prompt: self.prompt.replace(CANARY_PLACEHOLDER, canary),
            payload: self.payload.as_ref().map(|p| p.replace(CANARY_PLACEHOLDER, canary)),
            canary: canary.to_owned(),
            expect: self.expect.clone(),
            sinks: self.sinks.clone(),
        }
    }
}

/// A loaded, checked probe pack.
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    pub version: String,
    pub description: String,
    origin: String,
    digest: String,
    probes: Vec<Probe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    pack: RawMeta,
    #[serde(default)]
    probe: Vec<RawProbe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: String,
    version: String,
    description: String,
}

// Fields are spanned so a semantic error can point at the exact line of the bad value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    id: Spanned<String>,
    title: String,
    asi: Spanned<String>,
    llm: Spanned<String>,
    atlas: Spanned<String>,
    channel: Spanned<String>,
    #[serde(default)]
    carrier: Option<Spanned<String>>,
    prompt: Spanned<String>,
    #[serde(default)]
    payload: Option<Spanned<String>>,
    expect: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    sinks: Vec<Spanned<String>>,
}

/// Turns byte offsets into 1-based line numbers of one text.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, offset: usize) -> usize {
        let end = offset.min(self.0.len());
        // `get` rather than slicing: toml spans are char boundaries, but a bad span must not panic.
        self.0.as_bytes().get(..end).map_or(1, |b| b.iter().filter(|&&c| c == b'\n').count() + 1)
    }
}

impl Pack {
    /// Parses and checks a pack. `origin` names the source (a path) in every error.
    pub fn from_toml(text: &str, origin: &str) -> Result<Pack, PackError> {
        let lines = Lines(text);
        let invalid = |line: usize, problem: Problem| PackError::Invalid { origin: origin.to_owned(), line, problem };
        let raw: RawPack = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| lines.at(s.start));
            invalid(line, Problem::Syntax(e.message().trim().to_owned()))
        })?;
        if raw.probe.is_empty() {
            return Err(invalid(1, Problem::Empty));
        }
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        let mut probes = Vec::with_capacity(raw.probe.len());
        for rp in raw.probe {
            let probe = check_probe(rp, &lines).map_err(|(line, p)| invalid(line, p))?;
            if let Some(&first_line) = first_seen.get(&probe.id) {
                return Err(invalid(probe.line, Problem::DuplicateId { id: probe.id, first_line }));
            }
            first_seen.insert(probe.id.clone(), probe.line);
            probes.push(probe);
        }
        Ok(Pack {
            name: raw.pack.name,
            version: raw.pack.version,
            description: raw.pack.description,
            origin: origin.to_owned(),
            digest: hex::encode(Sha256::digest(text.as_bytes())),
            probes,
        })
    }

    /// Reads and checks the pack at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Pack, PackError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| PackError::Read { origin: origin.clone(), source })?;
        Pack::from_toml(&text, &origin)
    }

    /// The pack shipped with custos.
    pub fn builtin() -> Result<Pack, PackError> {
        Pack::from_toml(BUILTIN_TOML, BUILTIN_ORIGIN)
    }

    /// Lowercase hex SHA-256 of the pack's bytes, so a report pins exactly what was run.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Where the pack came from (a path, or `builtin:…`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }
}

fn is_token(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn check_probe(rp: RawProbe, lines: &Lines<'_>) -> Result<Probe, (usize, Problem)> {
    let line_of = |s: &std::ops::Range<usize>| lines.at(s.start);
    let id_line = line_of(&rp.id.span());
    let id = rp.id.into_inner();
    if !is_token(&id) {
        return Err((id_line, Problem::BadId { id }));
    }
    let unknown = |field: &'static str, v: &Spanned<String>| {
        (line_of(&v.span()), Problem::Unknown { probe: id.clone(), field, value: v.get_ref().clone() })
    };
    for (field, value, known) in [("asi", &rp.asi, ASI_IDS), ("llm", &rp.llm, LLM_IDS), ("atlas", &rp.atlas, ATLAS_IDS)]
    {
        if !known.contains(&value.get_ref().as_str()) {
            return Err(unknown(field, value));
        }
    }
    let channel = Channel::parse(rp.channel.get_ref()).ok_or_else(|| unknown("channel", &rp.channel))?;
    let carrier = match &rp.carrier {
        None => None,
        Some(c) => Some(Carrier::parse(c.get_ref()).ok_or_else(|| unknown("carrier", c))?),
    };
    let expect = rp
        .expect
        .get_ref()
        .iter()
        .map(|o| {
            let oracle = Oracle::parse(o.get_ref()).ok_or_else(|| unknown("oracle", o))?;
            // An agent's trial can never fire a server oracle, so such a probe would pass
            // vacuously in every run.
            if !oracle.judges_agents() {
                return Err((line_of(&o.span()), Problem::ServerOracle { probe: id.clone(), oracle: oracle.as_str() }));
            }
            Ok(oracle)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if expect.is_empty() {
        return Err((line_of(&rp.expect.span()), Problem::NoOracle { probe: id }));
    }
    let sinks = rp
        .sinks
        .iter()
        .map(|s| Sink::parse(s.get_ref()).ok_or_else(|| unknown("sink", s)))
        .collect::<Result<Vec<_>, _>>()?;

    let missing = |field: &'static str| (id_line, Problem::MissingField { probe: id.clone(), channel, field });
    let unexpected = |field: &'static str, span: std::ops::Range<usize>| {
        (line_of(&span), Problem::UnexpectedField { probe: id.clone(), channel, field })
    };
    match channel {
        Channel::Direct => {
            if let Some(p) = &rp.payload {
                return Err(unexpected("payload", p.span()));
            }
            if let Some(c) = &rp.carrier {
                return Err(unexpected("carrier", c.span()));
            }
        }
        Channel::ToolResult | Channel::Memory => {
            if channel == Channel::ToolResult && carrier.is_none() {
                return Err(missing("carrier"));
            }
            let payload = rp.payload.as_ref().ok_or_else(|| missing("payload"))?;
            // Without the placeholder the trial's canary never reaches the agent, so a canary
            // oracle could not fire and the probe would pass vacuously.
            if !payload.get_ref().contains(CANARY_PLACEHOLDER) {
                return Err((line_of(&payload.span()), Problem::MissingCanary { probe: id.clone(), field: "payload" }));
            }
        }
    }
    // A direct probe judged by a canary oracle must carry the canary in its prompt, for the
    // same reason.
    let canary_oracle = expect.iter().any(|o| matches!(o, Oracle::CanaryInArgs | Oracle::CanaryInOutput));
    if channel == Channel::Direct && canary_oracle && !rp.prompt.get_ref().contains(CANARY_PLACEHOLDER) {
        return Err((line_of(&rp.prompt.span()), Problem::MissingCanary { probe: id.clone(), field: "prompt" }));
    }

    Ok(Probe {
        title: rp.title,
        asi: rp.asi.into_inner(),
        llm: rp.llm.into_inner(),
        atlas: rp.atlas.into_inner(),
        channel,
        carrier,
        prompt: rp.prompt.into_inner(),
        payload: rp.payload.map(Spanned::into_inner),
        expect,
        sinks,
        line: id_line,
        id,
    })
}
