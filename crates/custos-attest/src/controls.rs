//! Controls as data: the versioned catalogue (`catalogue/controls.toml`) of frameworks and
//! controls, which ledger events evidence each control, and the coverage of a set of events.
//!
//! The rule (also written at the top of the catalogue): a control lists evidence groups; a group
//! is present when at least one event in scope matches one of its entries; all groups present is
//! `evidenced`, some is `partial`, none (or no groups at all) is `no_evidence`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use custos_core::{Event, EventKind};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The catalogue shipped with this build.
pub const BUILTIN_CATALOGUE: &str = include_str!("../catalogue/controls.toml");

/// How many ledger indices a coverage entry keeps per matched event (the most recent ones):
/// enough to point an auditor at examples without growing with the ledger.
pub const MAX_INDICES: usize = 8;

/// The rule, in one sentence, for reports that embed coverage.
pub const COVERAGE_RULE: &str = "a control lists evidence groups; a group is present when at least one event in scope \
     matches one of its entries; evidenced = every group present, partial = some, no_evidence = none or no groups";

/// The finding types each kind carries (see [`finding_type`]); a catalogue entry
/// `kind:finding` must use one of these, so a typo cannot silently match nothing.
pub const FINDING_TYPES: &[(EventKind, &[&str])] = &[
    (
        EventKind::DiscoveryFinding,
        &["agent", "credential", "mcp_server", "traffic", "sanctioned", "shadow", "orphaned", "stale", "drifted"],
    ),
    (EventKind::ToolFinding, &["poisoning"]),
    (EventKind::GatewayDecision, &["allow", "approval", "deny"]),
    (EventKind::AgentStateChanged, &["approve", "suspend", "resume", "retire"]),
    (EventKind::ApprovalDecided, &["approved", "denied", "timed_out", "cancelled"]),
];

/// A catalogue that cannot be used, with the line it was found on when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid control catalogue{}: {why}", .line.map(|l| format!(" at line {l}")).unwrap_or_default())]
pub struct CatalogueError {
    pub line: Option<usize>,
    pub why: String,
}

/// A framework the catalogue maps (OWASP ASI, OWASP NHI, NIST AI RMF, NIST CSF, EU AI Act, ISO
/// 42001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Framework {
    /// Token, e.g. `nist-csf`; what `--framework` takes.
    pub id: String,
    pub name: String,
    pub edition: String,
    /// Where the official text is.
    pub source: String,
    /// When the mapping was last checked against the source.
    #[serde(serialize_with = "as_display")]
    pub checked: jiff::civil::Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn as_display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// One control and the events that evidence it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Control {
    pub framework: String,
    /// Token (OSCAL `control-id`), e.g. `govern-1.6`.
    pub id: String,
    /// The id as the framework writes it, e.g. `GOVERN 1.6`.
    pub official: String,
    pub title: String,
    /// How custos evidences it, one line.
    pub custos: String,
    pub evidence: Vec<EvidenceGroup>,
}

/// A group of alternatives: present when any entry matches an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceGroup {
    pub group: String,
    pub any: Vec<EvidenceMatch>,
}

/// `kind` (any event of the kind) or `kind:finding` (only events carrying that finding type).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EvidenceMatch {
    pub kind: EventKind,
    pub finding: Option<String>,
}

impl fmt::Display for EvidenceMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.finding {
            Some(t) => write!(f, "{}:{t}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl Serialize for EvidenceMatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl EvidenceMatch {
    /// Parses `kind` or `kind:finding`, checking the kind exists and carries that finding type.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, finding) = match text.split_once(':') {
            Some((k, f)) => (k, Some(f)),
            None => (text, None),
        };
        let kind: EventKind =
            kind.parse().map_err(|_| format!("unknown event kind `{kind}` (known: {})", custos_core::kind::names()))?;
        let Some(finding) = finding else {
            return Ok(Self { kind, finding: None });
        };
        let known = FINDING_TYPES.iter().find(|(k, _)| *k == kind).map(|(_, t)| *t);
        match known {
            None => Err(format!("`{kind}` carries no finding type, so `{text}` can never match")),
            Some(types) if !types.contains(&finding) => {
                Err(format!("`{kind}` has no finding type `{finding}` (known: {})", types.join(", ")))
            }
            Some(_) => Ok(Self { kind, finding: Some(finding.to_string()) }),
        }
    }
}

/// The whole catalogue, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlCatalogue {
    pub version: String,
    pub frameworks: Vec<Framework>,
    pub controls: Vec<Control>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    version: Spanned<String>,
    framework: Vec<RawFramework>,
    control: Vec<RawControl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFramework {
    id: Spanned<String>,
    name: Spanned<String>,
    edition: Spanned<String>,
    source: Spanned<String>,
    checked: Spanned<String>,
    note: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    framework: Spanned<String>,
    id: Spanned<String>,
    official: Spanned<String>,
    title: Spanned<String>,
    custos: Spanned<String>,
    evidence: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    group: Spanned<String>,
    any: Spanned<Vec<Spanned<String>>>,
}

/// Checks against one source text, turning byte spans into line numbers.
struct Checker<'t> {
    text: &'t str,
}

impl Checker<'_> {
    fn line(&self, at: usize) -> usize {
        self.text.get(..at).map_or(0, |t| t.matches('\n').count()) + 1
    }

    fn err<T>(&self, span: &Spanned<T>, why: impl Into<String>) -> CatalogueError {
        CatalogueError { line: Some(self.line(span.span().start)), why: why.into() }
    }

    fn token(&self, s: &Spanned<String>, what: &str) -> Result<String, CatalogueError> {
        if is_token(s.get_ref()) {
            Ok(s.get_ref().clone())
        } else {
            Err(self.err(s, format!("{what} `{}` is not a token (lowercase `[a-z][a-z0-9._-]*`)", s.get_ref())))
        }
    }

    /// Text that goes into OSCAL property values and titles: one line, trimmed, not empty.
    fn text(&self, s: &Spanned<String>, what: &str) -> Result<String, CatalogueError> {
        let v = s.get_ref();
        if v.is_empty() || v.trim() != v || v.chars().any(char::is_control) {
            Err(self.err(s, format!("{what} must be one non-empty line without surrounding spaces")))
        } else {
            Ok(v.clone())
        }
    }
}

/// Whether `s` is a catalogue token: lowercase ASCII, starts with a letter, then letters,
/// digits, `.`, `_`, `-`. A strict subset of the OSCAL token (NCName) syntax.
pub fn is_token(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

impl ControlCatalogue {
    /// The catalogue shipped with this build ([`BUILTIN_CATALOGUE`]).
    pub fn builtin() -> Result<Self, CatalogueError> {
        Self::from_toml(BUILTIN_CATALOGUE)
    }

    /// Parses and validates a catalogue: ids are unique tokens, every control names a known
    /// framework, every evidence entry names a known event kind (and finding type).
    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| CatalogueError {
            line: e.span().map(|s| Checker { text }.line(s.start)),
            why: e.message().to_string(),
        })?;
        let c = Checker { text };
        let version = c.text(&raw.version, "version")?;
        let mut frameworks = Vec::new();
        let mut framework_ids = BTreeSet::new();
        for f in raw.framework {
            let id = c.token(&f.id, "framework id")?;
            if !framework_ids.insert(id.clone()) {
                return Err(c.err(&f.id, format!("framework `{id}` is defined twice")));
            }
            let checked = f
                .checked
                .get_ref()
                .parse::<jiff::civil::Date>()
                .map_err(|e| c.err(&f.checked, format!("`checked` must be a date (YYYY-MM-DD): {e}")))?;
            let source = c.text(&f.source, "source")?;
            if !source.starts_with("https://") {
                return Err(c.err(&f.source, "source must be an https URL"));
            }
            frameworks.push(Framework {
                id,
                name: c.text(&f.name, "name")?,
                edition: c.text(&f.edition, "edition")?,
                source,
                checked,
                note: f.note.as_ref().map(|n| c.text(n, "note")).transpose()?,
            });
        }
        let mut controls = Vec::new();
        let mut control_ids = BTreeSet::new();
        let mut used = BTreeSet::new();
        for rc in raw.control {
            let framework = rc.framework.get_ref().clone();
            if !framework_ids.contains(&framework) {
                return Err(c.err(&rc.framework, format!("unknown framework `{framework}`")));
            }
            let id = c.token(&rc.id, "control id")?;
            if !control_ids.insert(id.clone()) {
                return Err(c.err(&rc.id, format!("control `{id}` is defined twice")));
            }
            let mut evidence = Vec::new();
            let mut groups = BTreeSet::new();
            for g in rc.evidence {
                let name = c.token(&g.group, "group name")?;
                if !groups.insert(name.clone()) {
                    return Err(c.err(&g.group, format!("group `{name}` appears twice in control `{id}`")));
                }
                if g.any.get_ref().is_empty() {
                    return Err(c.err(&g.any, format!("group `{name}` of control `{id}` lists no events")));
                }
                let mut any = Vec::new();
                for entry in g.any.get_ref() {
                    let m = EvidenceMatch::parse(entry.get_ref()).map_err(|why| c.err(entry, why))?;
                    if any.contains(&m) {
                        return Err(c.err(entry, format!("`{m}` appears twice in group `{name}`")));
                    }
                    any.push(m);
                }
                evidence.push(EvidenceGroup { group: name, any });
            }
            used.insert(framework.clone());
            controls.push(Control {
                framework,
                id,
                official: c.text(&rc.official, "official")?,
                title: c.text(&rc.title, "title")?,
                custos: c.text(&rc.custos, "custos")?,
                evidence,
            });
        }
        if let Some(unused) = frameworks.iter().find(|f| !used.contains(&f.id)) {
            return Err(CatalogueError { line: None, why: format!("framework `{}` has no controls", unused.id) });
        }
        Ok(Self { version, frameworks, controls })
    }

    /// The framework with this id (case-insensitive).
    pub fn framework(&self, id: &str) -> Option<&Framework> {
        self.frameworks.iter().find(|f| f.id.eq_ignore_ascii_case(id))
    }

    /// The control with this id (case-insensitive).
    pub fn control(&self, id: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.id.eq_ignore_ascii_case(id))
    }

    /// Every event kind some control relies on.
    pub fn kinds(&self) -> BTreeSet<EventKind> {
        self.controls.iter().flat_map(|c| &c.evidence).flat_map(|g| &g.any).map(|m| m.kind).collect()
    }
}

/// The finding type (or sub-type) an event carries, as catalogue entries `kind:finding` match
/// it: a discovery finding's reconciliation label when it has one (`shadow`, `orphaned`…),
/// otherwise its type (`credential`, `mcp_server`, `traffic`, `agent`); `poisoning` for every
/// tool finding; a gateway decision's outcome (`allow`, `approval`, `deny`); a lifecycle
/// change's operation (`approve`, `suspend`, `resume`, `retire`); an approval's outcome.
pub fn finding_type(event: &Event) -> Option<String> {
    let field = |name: &str| event.data.get(name).and_then(|v| v.as_str()).map(str::to_string);
    match event.kind {
        EventKind::DiscoveryFinding => field("label").or_else(|| field("type")),
        EventKind::ToolFinding => Some("poisoning".to_string()),
        EventKind::GatewayDecision => field("decision"),
        EventKind::AgentStateChanged => field("op"),
        EventKind::ApprovalDecided => field("outcome"),
        _ => None,
    }
}

/// Which events count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every event.
    All,
    /// Only events about this agent.
    Agent(String),
    /// Events about this agent, and events about no agent in particular (tool pins, discovery
    /// runs, exports, key rotations): the instance-wide controls the agent runs under.
    AgentAndInstance(String),
}

impl Scope {
    fn admits(&self, agent: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Agent(a) => agent == Some(a.as_str()),
            Scope::AgentAndInstance(a) => agent.is_none_or(|x| x == a),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    /// Ascending, at most [`MAX_INDICES`], the largest seen.
    recent: Vec<u64>,
}

impl Tally {
    fn add(&mut self, index: u64) {
        self.count += 1;
        keep_recent(&mut self.recent, index);
    }
}

fn keep_recent(recent: &mut Vec<u64>, index: u64) {
    if recent.len() >= MAX_INDICES && recent.first().is_some_and(|&lowest| index <= lowest) {
        return;
    }
    match recent.binary_search(&index) {
        Ok(_) => {}
        Err(at) => recent.insert(at, index),
    }
    if recent.len() > MAX_INDICES {
        recent.remove(0);
    }
}

/// Events in scope, counted by kind and finding type, with a few recent ledger indices each.
/// Memory is bounded by the number of (kind, finding type) pairs, not by the events fed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceIndex {
    scope: Scope,
    tallies: BTreeMap<(EventKind, Option<String>), Tally>,
}

impl EvidenceIndex {
    pub fn new(scope: Scope) -> Self {
        Self { scope, tallies: BTreeMap::new() }
    }

    /// Builds the index from `(ledger index, kind, finding type, agent)` tuples, e.g. read from
    /// the store with [`finding_type`] and the event's agent.
    pub fn from_events<I, F, A>(scope: Scope, events: I) -> Self
    where
        I: IntoIterator<Item = (u64, EventKind, Option<F>, Option<A>)>,
        F: AsRef<str>,
        A: AsRef<str>,
    {
        let mut ix = Self::new(scope);
        for (index, kind, finding, agent) in events {
            ix.add(index, kind, finding.as_ref().map(AsRef::as_ref), agent.as_ref().map(AsRef::as_ref));
        }
        ix
    }

    /// Counts one event if it is in scope.
    pub fn add(&mut self, index: u64, kind: EventKind, finding: Option<&str>, agent: Option<&str>) {
        if self.scope.admits(agent) {
            self.tallies.entry((kind, finding.map(str::to_string))).or_default().add(index);
        }
    }

    /// Counts one ledger event (its kind, finding type and agent).
    pub fn add_event(&mut self, index: u64, event: &Event) {
        let finding = finding_type(event);
        self.add(index, event.kind, finding.as_deref(), event.agent.as_ref().map(|a| a.as_str()));
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Events counted.
    pub fn len(&self) -> u64 {
        self.tallies.values().map(|t| t.count).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// How many events match, and the most recent indices among them.
    pub fn matching(&self, m: &EvidenceMatch) -> (u64, Vec<u64>) {
        let mut total = Tally::default();
        let hits = self
            .tallies
            .range((m.kind, None)..)
            .take_while(|((k, _), _)| *k == m.kind)
            .filter(|((_, f), _)| m.finding.is_none() || f == &m.finding);
        for (_, t) in hits {
            total.count += t.count;
            for &i in &t.recent {
                keep_recent(&mut total.recent, i);
            }
        }
        (total.count, total.recent)
    }
}

/// How well a control is evidenced (the rule at the top of the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    Evidenced,
    Partial,
    NoEvidence,
}

impl CoverageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Evidenced => "evidenced",
            Self::Partial => "partial",
            Self::NoEvidence => "no_evidence",
        }
    }

    /// The words a reader sees.
    pub fn label(self) -> &'static str {
        match self {
            Self::Evidenced => "evidenced",
            Self::Partial => "partial",
            Self::NoEvidence => "no evidence",
        }
    }
}

impl fmt::Display for CoverageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether one evidence group is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCoverage {
    pub group: String,
    pub present: bool,
}

/// Events behind a control: one catalogue entry (`kind` or `kind:finding`) that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceCount {
    pub event: String,
    pub count: u64,
    /// The most recent matching ledger indices, ascending, at most [`MAX_INDICES`].
    pub indices: Vec<u64>,
}

/// One control's coverage; also the entry the attestation predicate embeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlCoverage {
    pub framework: String,
    pub id: String,
    pub official: String,
    pub title: String,
    pub status: CoverageStatus,
    pub groups: Vec<GroupCoverage>,
    pub events: Vec<EvidenceCount>,
}

/// Coverage of every control (of one framework, when given; case-insensitive), in catalogue
/// order. An unknown framework gives an empty list: check with
/// [`ControlCatalogue::framework`] first to tell the user.
pub fn coverage(cat: &ControlCatalogue, framework: Option<&str>, evidence: &EvidenceIndex) -> Vec<ControlCoverage> {
    cat.controls
        .iter()
        .filter(|c| framework.is_none_or(|f| c.framework.eq_ignore_ascii_case(f)))
        .map(|c| control_coverage(c, evidence))
        .collect()
}

fn control_coverage(c: &Control, evidence: &EvidenceIndex) -> ControlCoverage {
    let mut groups = Vec::new();
    let mut events: Vec<EvidenceCount> = Vec::new();
    for g in &c.evidence {
        let mut present = false;
        for m in &g.any {
            let (count, indices) = evidence.matching(m);
            if count == 0 {
                continue;
            }
            present = true;
            let event = m.to_string();
            // The same entry may serve two groups; list its events once.
            if !events.iter().any(|e| e.event == event) {
                events.push(EvidenceCount { event, count, indices });
            }
        }
        groups.push(GroupCoverage { group: g.group.clone(), present });
    }
    let present = groups.iter().filter(|g| g.present).count();
    let status = match present {
        0 => CoverageStatus::NoEvidence,
        n if n == groups.len() => CoverageStatus::Evidenced,
        _ => CoverageStatus::Partial,
    };
    ControlCoverage {
        framework: c.framework.clone(),
        id: c.id.clone(),
        official: c.official.clone(),
        title: c.title.clone(),
        status,
        groups,
        events,
    }
}

/// Counts per framework, for summaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkSummary {
    pub framework: String,
    pub evidenced: u64,
    pub partial: u64,
    pub no_evidence: u64,
}

/// Counts by status per framework, in first-seen order.
pub fn summarize(coverage: &[ControlCoverage]) -> Vec<FrameworkSummary> {
    let mut out: Vec<FrameworkSummary> = Vec::new();
    for c in coverage {
        let at = match out.iter().position(|s| s.framework == c.framework) {
            Some(at) => at,
            None => {
                out.push(FrameworkSummary { framework: c.framework.clone(), evidenced: 0, partial: 0, no_evidence: 0 });
                out.len() - 1
            }
        };
        if let Some(s) = out.get_mut(at) {
            match c.status {
                CoverageStatus::Evidenced => s.evidenced += 1,
                CoverageStatus::Partial => s.partial += 1,
                CoverageStatus::NoEvidence => s.no_evidence += 1,
            }
        }
    }
    out
}

/// The control coverage an attestation predicate embeds: the catalogue version, the rule, a
/// summary per framework and every control's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredicateCoverage {
    pub catalogue: String,
    pub rule: String,
    pub summary: Vec<FrameworkSummary>,
    pub controls: Vec<ControlCoverage>,
}

/// Coverage of every control of every framework, for a bundle predicate.
pub fn predicate_coverage(cat: &ControlCatalogue, evidence: &EvidenceIndex) -> PredicateCoverage {
    let controls = coverage(cat, None, evidence);
    PredicateCoverage {
        catalogue: cat.version.clone(),
        rule: COVERAGE_RULE.to_string(),
        summary: summarize(&controls),
        controls,
    }
}

/// The coverage entries a predicate carries, read back (entries of another shape are skipped:
/// `controls` is informative, and the verifier does not check it).
pub fn coverage_of(controls: &[serde_json::Value]) -> Vec<ControlCoverage> {
    controls.iter().filter_map(|v| ControlCoverage::deserialize(v).ok()).collect()
}
