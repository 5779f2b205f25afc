//! The host catalogue: typed form of `catalogue/hosts.toml` and the per-line host classifier the
//! log and OTLP sources share.
//!
//! [`HostCatalogue::classify`] runs once per log line, so patterns are compiled at load into an
//! exact-host map, a map of `*.` suffixes and a short list of one-label (`<name>`) patterns
//! indexed by their fixed tail; a lookup is a handful of hash probes and never allocates for a
//! lowercase host.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

const BUILTIN: &str = include_str!("../catalogue/hosts.toml");

/// What kind of service a host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostCategory {
    ModelApi,
    CodingAgent,
    AgentInfra,
    Mcp,
    LocalModel,
}

impl HostCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ModelApi => "model_api",
            Self::CodingAgent => "coding_agent",
            Self::AgentInfra => "agent_infra",
            Self::Mcp => "mcp",
            Self::LocalModel => "local_model",
        }
    }
}

/// One catalogue entry (see the header of `catalogue/hosts.toml` for the pattern syntax).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    pub pattern: String,
    pub provider: String,
    pub category: HostCategory,
    /// OpenTelemetry provider names (`gen_ai.provider.name`, `gen_ai.system`, `llm.provider`)
    /// that mean this host.
    #[serde(default)]
    pub otel: Vec<String>,
    /// Local model servers: URL paths that show model traffic (`/x/` is a prefix).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Local model servers: report only requests whose URL path is in `paths`.
    #[serde(default)]
    pub require_path: bool,
    pub source: String,
    pub checked: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    host: Vec<HostEntry>,
}

/// Why a host catalogue could not be loaded. TOML errors carry the line and column.
#[derive(Debug, thiserror::Error)]
pub enum HostCatalogueError {
    #[error("host catalogue is not valid TOML: {0}")]
    Toml(#[from] Box<toml::de::Error>),
    #[error("host pattern `{0}` is listed twice")]
    Duplicate(String),
    #[error("host pattern `{pattern}`: {why}")]
    Invalid { pattern: String, why: String },
}

#[derive(Debug, Clone, Copy)]
enum PathRule<'a> {
    /// The log gives no URL path.
    Unknown,
    Given(&'a str),
    /// The source says it is model traffic.
    Trusted,
}

/// A pattern with `<name>` labels, split into labels; each label is a literal or a
/// literal prefix and suffix around one wildcard.
#[derive(Debug, Clone)]
struct LabelPattern {
    labels: Vec<LabelPart>,
    entry: usize,
}

#[derive(Debug, Clone)]
enum LabelPart {
    Literal(String),
    Wild { prefix: String, suffix: String },
}

/// The host catalogue, compiled for lookups.
#[derive(Debug, Clone)]
pub struct HostCatalogue {
    entries: Vec<HostEntry>,
    exact: HashMap<String, usize>,
    /// `*.example.com` stored as `example.com`.
    suffix: HashMap<String, usize>,
    /// One-label patterns keyed by the literal labels after their last wildcard label.
    labelled: HashMap<String, Vec<LabelPattern>>,
    local: HashMap<u16, usize>,
    otel: HashMap<String, usize>,
}

impl HostCatalogue {
    /// The catalogue shipped with custos.
    pub fn builtin() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the built-in host catalogue is constant data, and a test loads it on every run"
        )]
        Self::from_toml(BUILTIN).expect("the built-in host catalogue loads")
    }

    /// A catalogue from the text of a `hosts.toml`.
    pub fn from_toml(text: &str) -> Result<Self, HostCatalogueError> {
        let file: File = toml::from_str(text).map_err(|e| HostCatalogueError::Toml(Box::new(e)))?;
        Self::new(file.host)
    }

    /// Every entry, in catalogue order.
    pub fn entries(&self) -> &[HostEntry] {
        &self.entries
    }

    fn new(entries: Vec<HostEntry>) -> Result<Self, HostCatalogueError> {
        let mut cat = Self {
            entries: Vec::new(),
            exact: HashMap::new(),
            suffix: HashMap::new(),
            labelled: HashMap::new(),
            local: HashMap::new(),
            otel: HashMap::new(),
        };
        let mut seen = BTreeSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let invalid = |why: &str| HostCatalogueError::Invalid { pattern: entry.pattern.clone(), why: why.into() };
            let pattern = entry.pattern.as_str();
            if !seen.insert(pattern) {
                return Err(HostCatalogueError::Duplicate(pattern.into()));
            }
            if pattern != pattern.to_ascii_lowercase() {
                return Err(invalid("must be lowercase"));
            }
            if !is_date(&entry.checked) {
                return Err(invalid("`checked` is not a YYYY-MM-DD date"));
            }
            if entry.source.trim().is_empty() || entry.provider.trim().is_empty() {
                return Err(invalid("`source` and `provider` must not be empty"));
            }
            if let Some(port) = pattern.strip_prefix("<local>:") {
                if entry.category != HostCategory::LocalModel {
                    return Err(invalid("a `<local>:port` pattern must have category `local_model`"));
                }
                let port: u16 = port.parse().map_err(|_| invalid("the port is not a number from 0 to 65535"))?;
                if entry.require_path && entry.paths.is_empty() {
                    return Err(invalid("`require_path` needs `paths`"));
                }
                if entry.paths.iter().any(|p| !p.starts_with('/')) {
                    return Err(invalid("a path must start with `/`"));
                }
                cat.local.insert(port, i);
            } else {
                if entry.category == HostCategory::LocalModel {
                    return Err(invalid("category `local_model` needs a `<local>:port` pattern"));
                }
                if !entry.paths.is_empty() || entry.require_path {
                    return Err(invalid("`paths` and `require_path` are for `<local>:port` patterns only"));
                }
                if let Some(rest) = pattern.strip_prefix("*.") {
                    check_literal(rest).map_err(invalid)?;
                    cat.suffix.insert(rest.to_string(), i);
                } else if pattern.contains('<') {
                    let (tail, compiled) = compile_labels(pattern).map_err(invalid)?;
                    cat.labelled.entry(tail).or_default().push(LabelPattern { labels: compiled, entry: i });
                } else {
                    check_literal(pattern).map_err(invalid)?;
                    cat.exact.insert(pattern.to_string(), i);
                }
            }
            for name in &entry.otel {
                // The first entry naming a provider is its default host.
                cat.otel.entry(name.to_ascii_lowercase()).or_insert(i);
            }
        }
        cat.entries = entries;
        Ok(cat)
    }

    /// The entry for a host as a log states it (`Api.OpenAI.com.`, `api.openai.com:443`,
    /// `[::1]:11434`): case-insensitive, a trailing dot and a port ignored. A local model server
    /// whose entry requires a URL path is not matched here (see [`Self::classify_request`]).
    pub fn classify(&self, host: &str) -> Option<&HostEntry> {
        self.classify_request(host, None)
    }

    /// Like [`Self::classify`], with the URL path of the request when the log gives one: a
    /// local model server on a generic port counts only when the path is one of its API paths.
    pub fn classify_request(&self, host: &str, path: Option<&str>) -> Option<&HostEntry> {
        self.lookup(host, path.map_or(PathRule::Unknown, PathRule::Given))
    }

    /// Like [`Self::classify`] for a destination a GenAI span names: the span already says it
    /// is model traffic, so a local model server's port suffices.
    pub(crate) fn classify_model_call(&self, host: &str) -> Option<&HostEntry> {
        self.lookup(host, PathRule::Trusted)
    }

    fn lookup(&self, host: &str, path: PathRule<'_>) -> Option<&HostEntry> {
        let (name, port) = split_host_port(host.trim());
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return None;
        }
        let name: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        if let Some(port) = port
            && is_local(&name)
        {
            let entry = self.local.get(&port).and_then(|&i| self.entries.get(i))?;
            return match path {
                PathRule::Given(path) if !entry.paths.is_empty() => path_matches(&entry.paths, path).then_some(entry),
                PathRule::Given(_) | PathRule::Trusted => Some(entry),
                PathRule::Unknown => (!entry.require_path).then_some(entry),
            };
        }
        self.classify_name(&name).and_then(|i| self.entries.get(i))
    }

    /// The entry for an OpenTelemetry provider name (`openai`, `aws.bedrock`, …).
    pub fn by_otel_name(&self, name: &str) -> Option<&HostEntry> {
        self.otel.get(&name.trim().to_ascii_lowercase()).and_then(|&i| self.entries.get(i))
    }

    fn classify_name(&self, name: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(name) {
            return Some(i);
        }
        if !self.labelled.is_empty() {
            for (dot, _) in name.match_indices('.') {
                let tail = name.get(dot + 1..).unwrap_or_default();
                if let Some(patterns) = self.labelled.get(tail) {
                    let head = name.get(..dot).unwrap_or_default();
                    if let Some(p) = patterns.iter().find(|p| p.matches(head)) {
                        return Some(p.entry);
                    }
                }
            }
        }
        // The first dot gives the longest suffix, so the most specific wildcard wins.
        name.match_indices('.').find_map(|(dot, _)| self.suffix.get(name.get(dot + 1..).unwrap_or_default()).copied())
    }
}

impl LabelPattern {
    /// Does `head` (the host before the pattern's literal tail) match the pattern's labels?
    fn matches(&self, head: &str) -> bool {
        let mut labels = head.split('.');
        for part in &self.labels {
            let Some(label) = labels.next() else { return false };
            let ok = match part {
                LabelPart::Literal(lit) => label == lit,
                LabelPart::Wild { prefix, suffix } => {
                    label.len() > prefix.len() + suffix.len()
                        && label.starts_with(prefix.as_str())
                        && label.ends_with(suffix.as_str())
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }
            };
            if !ok {
                return false;
            }
        }
        labels.next().is_none()
    }
}

/// Splits a pattern with `<name>` labels into the labels up to and including the last wildcard
/// label, and the literal tail after it (the index key).
fn compile_labels(pattern: &str) -> Result<(String, Vec<LabelPart>), &'static str> {
    let labels: Vec<&str> = pattern.split('.').collect();
    let last_wild = labels.iter().rposition(|l| l.contains('<')).ok_or("no `<name>` label")?;
    let tail = labels.get(last_wild + 1..).unwrap_or_default().join(".");
    if tail.is_empty() {
        return Err("a `<name>` label needs a literal domain after it");
    }
    check_literal(&tail)?;
    let mut parts = Vec::new();
    for label in labels.get(..=last_wild).unwrap_or_default() {
        match (label.find('<'), label.find('>')) {
            (None, None) => {
                check_literal(label)?;
                parts.push(LabelPart::Literal((*label).to_string()));
            }
            (Some(open), Some(close)) if open < close => {
                let prefix = label.get(..open).unwrap_or_default();
                let suffix = label.get(close + 1..).unwrap_or_default();
                if suffix.contains(['<', '>']) || prefix.contains('>') {
                    return Err("at most one `<name>` per label");
                }
                for lit in [prefix, suffix] {
                    if !lit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                        return Err("a label may hold only letters, digits and `-` around `<name>`");
                    }
                }
                parts.push(LabelPart::Wild { prefix: prefix.into(), suffix: suffix.into() });
            }
            _ => return Err("unbalanced `<` `>`"),
        }
    }
    Ok((tail, parts))
}

fn check_literal(host: &str) -> Result<(), &'static str> {
    let ok = !host.is_empty()
        && host.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok { Ok(()) } else { Err("is not a host name (letters, digits, `-`, dots; `*.` or `<name>` as documented)") }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok()
}

fn path_matches(paths: &[String], path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    paths.iter().any(|p| if p.ends_with('/') { path.starts_with(p.as_str()) } else { path == p })
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address → (host, port).
pub(crate) fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((addr, after)) => (addr, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (s, None),
        };
    }
    match s.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, port.parse().ok()),
        _ => (s, None),
    }
}

/// Loopback or private addresses, where a local model server listens.
pub(crate) fn is_local(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") || host == "host.docker.internal" {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => is_local_v4(v4),
        Ok(IpAddr::V6(v6)) => {
            v6 == Ipv6Addr::LOCALHOST
                || (v6.segments().first().copied().unwrap_or_default() & 0xfe00) == 0xfc00
                || v6.to_ipv4_mapped().is_some_and(is_local_v4)
        }
        Err(_) => false,
    }
}

fn is_local_v4(v4: Ipv4Addr) -> bool {
    v4.is_loopback() || v4.is_private()
}
