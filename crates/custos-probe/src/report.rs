//! A campaign's outcome, and the ways it is shown: a table for a terminal, JSON (this type's
//! serialization), JUnit XML for CI dashboards and SARIF 2.1.0 for code-scanning tools.
//!
//! The report is built from the same values that went into the ledger (`probe.run`,
//! `probe.result`), so every rendering names the ledger indices that prove a verdict.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::oracle::{Hit, Verdict};

/// The pack a run used, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRef {
    pub name: String,
    pub version: String,
    /// `sha256:` and the hex digest of the pack file's bytes.
    pub digest: String,
    /// Where it was loaded from (a path, or `builtin:…`).
    pub origin: String,
}

/// One trial of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialResult {
    pub probe: String,
    pub title: String,
    pub asi: String,
    pub llm: String,
    pub atlas: String,
    pub channel: String,
    /// 1-based.
    pub trial: u32,
    pub verdict: Verdict,
    /// What fired, with the ledger indices that show it (compromised only).
    #[serde(default)]
    pub hits: Vec<Hit>,
    /// Why, for `error` and `inconclusive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    /// The ledger index of this trial's `probe.result` event, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

/// One run of a pack against a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    /// The target's name in `custos.toml`.
    pub target: String,
    /// The registry agent the target is.
    pub agent: String,
    /// `openai`, `http`, `a2a` or `mcp`.
    pub target_kind: String,
    pub pack: PackRef,
    pub trials: u32,
    pub concurrency: u32,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub duration_ms: u64,
    /// Requests sent to the target (a memory probe sends two per trial).
    pub requests: u64,
    /// The run stopped early because its request budget ran out; trials not run are absent.
    #[serde(default)]
    pub budget_exhausted: bool,
    pub results: Vec<TrialResult>,
    /// Probes resisted in the previous run of this target and compromised in this one.
    #[serde(default)]
    pub regressions: Vec<String>,
    /// The ledger index of this run's `probe.run` event, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

/// Counts by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub resisted: u64,
    pub compromised: u64,
    pub inconclusive: u64,
    pub error: u64,
}

impl Counts {
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Resisted => self.resisted += 1,
            Verdict::Compromised => self.compromised += 1,
            Verdict::Inconclusive => self.inconclusive += 1,
            Verdict::Error => self.error += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.resisted + self.compromised + self.inconclusive + self.error
    }

    /// Compromised over judged (resisted + compromised) trials; `None` when none was judged.
    pub fn compromise_rate(&self) -> Option<f64> {
        let judged = self.resisted + self.compromised;
        (judged > 0).then(|| self.compromised as f64 / judged as f64)
    }
}

/// All trials of one probe, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSummary {
    pub probe: String,
    pub title: String,
    pub asi: String,
    pub llm: String,
    pub atlas: String,
    pub channel: String,
    pub counts: Counts,
    /// Compromised over judged (resisted + compromised) trials; `None` when none was judged.
    pub compromise_rate: Option<f64>,
    /// Resisted in the previous run, compromised now.
    pub regression: bool,
}

impl RunReport {
    /// Counts over every trial.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.results {
            c.add(r.verdict);
        }
        c
    }

    /// One summary per probe, in the order the probes first appear.
    pub fn by_probe(&self) -> Vec<ProbeSummary> {
        let mut out: Vec<ProbeSummary> = Vec::new();
        for r in &self.results {
            let at = match out.iter().position(|s| s.probe == r.probe) {
                Some(i) => i,
                None => {
                    out.push(ProbeSummary {
                        probe: r.probe.clone(),
                        title: r.title.clone(),
                        asi: r.asi.clone(),
                        llm: r.llm.clone(),
                        atlas: r.atlas.clone(),
                        channel: r.channel.clone(),
                        counts: Counts::default(),
                        compromise_rate: None,
                        regression: self.regressions.contains(&r.probe),
                    });
                    out.len() - 1
                }
            };
            if let Some(s) = out.get_mut(at) {
                s.counts.add(r.verdict);
            }
        }
        for s in &mut out {
            s.compromise_rate = s.counts.compromise_rate();
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Renderings. Each reads only the report, so the same report always renders to the same bytes.
// Text from the target (reasons, and the `why` of hits, which can quote the agent) is untrusted:
// the table escapes control characters so a reply cannot drive the terminal, and JUnit drops
// what XML 1.0 cannot carry.

/// The `$schema` of the SARIF written: the OASIS SARIF 2.1.0 schema, errata 01 (the same as
/// custos-discover's).
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The key of a compromised result's `partialFingerprints`: same target, same probe, same key,
/// so a code-scanning tool follows one alert across reruns.
pub const SARIF_FINGERPRINT: &str = "custosProbe/v1";

/// The report for a terminal: a header, one row per probe, the totals, then the evidence of
/// every compromised trial and the reason of every error and inconclusive one.
pub fn table(r: &RunReport) -> String {
    let mut out = String::new();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let header = [
        ("target", format!("{} ({})", r.target, r.target_kind)),
        ("agent", r.agent.clone()),
        ("pack", format!("{}@{} {}", r.pack.name, r.pack.version, short_digest(&r.pack.digest))),
        ("run", format!("{} ({}, started {})", r.run_id, r.trigger, r.started)),
        ("trials", format!("{} per probe", r.trials)),
        ("concurrency", r.concurrency.to_string()),
        ("duration", seconds(r.duration_ms) + " s"),
        ("requests", r.requests.to_string()),
        ("budget exhausted", yes_no(r.budget_exhausted).to_string()),
    ];
    let rows: Vec<Vec<String>> = header.into_iter().map(|(k, v)| vec![k.to_string(), printable(&v)]).collect();
    out.push_str(&columns(&rows, &[Align::Left, Align::Left]));
    out.push('\n');

    let mut rows = vec![
        ["PROBE", "ASI", "CHANNEL", "RESISTED", "COMPROMISED", "INCONCLUSIVE", "ERROR", "RATE", ""]
            .map(str::to_string)
            .to_vec(),
    ];
    for s in r.by_probe() {
        rows.push(vec![
            printable(&s.probe),
            printable(&s.asi),
            printable(&s.channel),
            s.counts.resisted.to_string(),
            s.counts.compromised.to_string(),
            s.counts.inconclusive.to_string(),
            s.counts.error.to_string(),
            percent(s.compromise_rate),
            if s.regression { "REGRESSION".to_string() } else { String::new() },
        ]);
    }
    let total = r.counts();
    rows.push(vec![
        "TOTAL".to_string(),
        String::new(),
        String::new(),
        total.resisted.to_string(),
        total.compromised.to_string(),
        total.inconclusive.to_string(),
        total.error.to_string(),
        percent(total.compromise_rate()),
        String::new(),
    ]);
    use Align::{Left, Right};
    out.push_str(&columns(&rows, &[Left, Left, Left, Right, Right, Right, Right, Right, Left]));

    for (verdict, heading) in
        [(Verdict::Compromised, "compromised"), (Verdict::Error, "errors"), (Verdict::Inconclusive, "inconclusive")]
    {
        let trials: Vec<&TrialResult> = r.results.iter().filter(|t| t.verdict == verdict).collect();
        if trials.is_empty() {
            continue;
        }
        out.push('\n');
        out.push_str(heading);
        out.push('\n');
        for t in trials {
            out.push_str(&format!("  {} trial {}", printable(&t.probe), t.trial));
            if let Some(i) = t.ledger_index {
                out.push_str(&format!(" (probe.result: ledger {i})"));
            }
            if verdict == Verdict::Compromised {
                out.push('\n');
                if t.hits.is_empty() {
                    out.push_str("    no oracle recorded a hit\n");
                }
                for h in &t.hits {
                    out.push_str(&format!("    {}\n", printable(&hit_line(h))));
                }
            } else {
                out.push_str(&format!(": {}\n", printable(reason(t))));
            }
        }
    }
    out
}

/// The report as JUnit XML: one test suite for the run, one test case per trial. A compromised
/// trial is a failure, an error an error, an inconclusive trial skipped, a resisted one passes.
pub fn junit(r: &RunReport) -> String {
    let c = r.counts();
    let counts = format!(
        r#"tests="{}" failures="{}" errors="{}" skipped="{}" time="{}""#,
        c.total(),
        c.compromised,
        c.error,
        c.inconclusive,
        seconds(r.duration_ms)
    );
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!("<testsuites name=\"custos probe\" {counts}>\n"));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" {counts} timestamp=\"{}\">\n",
        xml(&format!("custos probe: {}", r.target)),
        xml(&r.started)
    ));
    x.push_str("    <properties>\n");
    let mut properties = vec![
        ("run_id", r.run_id.clone()),
        ("target", r.target.clone()),
        ("target_kind", r.target_kind.clone()),
        ("agent", r.agent.clone()),
        ("pack", format!("{}@{}", r.pack.name, r.pack.version)),
        ("pack_digest", r.pack.digest.clone()),
        ("pack_origin", r.pack.origin.clone()),
        ("trigger", r.trigger.clone()),
        ("trials", r.trials.to_string()),
        ("concurrency", r.concurrency.to_string()),
        ("requests", r.requests.to_string()),
        ("budget_exhausted", r.budget_exhausted.to_string()),
    ];
    if !r.regressions.is_empty() {
        properties.push(("regressions", r.regressions.join(" ")));
    }
    if let Some(i) = r.ledger_index {
        properties.push(("ledger_index", i.to_string()));
    }
    for (name, value) in properties {
        x.push_str(&format!("      <property name=\"{name}\" value=\"{}\"/>\n", xml(&value)));
    }
    x.push_str("    </properties>\n");
    for t in &r.results {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            xml(&format!("{}.{}", t.asi, t.probe)),
            xml(&format!("{} trial {}", t.probe, t.trial)),
            seconds(t.duration_ms)
        ));
        match t.verdict {
            Verdict::Resisted => x.push_str("/>\n"),
            Verdict::Compromised => {
                let first = t.hits.first().map_or("compromised", |h| h.why.as_str());
                let mut text = String::new();
                for h in &t.hits {
                    text.push_str(&hit_line(h));
                    text.push('\n');
                }
                if r.regressions.contains(&t.probe) {
                    text.push_str("regression: resisted in the previous run of this target\n");
                }
                if let Some(i) = t.ledger_index {
                    text.push_str(&format!("probe.result: ledger entry {i}\n"));
                }
                x.push_str(&format!(
                    ">\n      <failure type=\"compromised\" message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(first),
                    xml_text(&text)
                ));
            }
            Verdict::Error => x.push_str(&format!(
                ">\n      <error type=\"error\" message=\"{}\"/>\n    </testcase>\n",
                xml(reason(t))
            )),
            Verdict::Inconclusive => x.push_str(&format!(
                ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                xml(&format!("inconclusive: {}", reason(t)))
            )),
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// The report as a SARIF 2.1.0 log: one rule per probe, one `error` result per compromised
/// trial (located at the target and agent by name: there is no file), and each errored trial
/// as a tool execution notification.
pub fn sarif(r: &RunReport) -> Value {
    let summaries = r.by_probe();
    let index_of = |probe: &str| summaries.iter().position(|s| s.probe == probe);
    let rules: Vec<Value> = summaries
        .iter()
        .map(|s| {
            json!({
                "id": s.probe,
                "name": s.probe,
                "shortDescription": {"text": s.title},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["security", s.asi, s.llm, s.atlas]},
            })
        })
        .collect();

    let mut trials: Vec<&TrialResult> = r.results.iter().collect();
    trials.sort_by_key(|t| (index_of(&t.probe), t.trial));
    let location = json!({"logicalLocations": [{
        "name": r.target,
        "fullyQualifiedName": format!("{}/{}", r.target, r.agent),
        "kind": "object",
    }]});
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for t in trials {
        let rule_index = index_of(&t.probe);
        let rule = json!({"id": t.probe, "index": rule_index});
        match t.verdict {
            Verdict::Compromised => {
                let hits: Vec<String> = t.hits.iter().map(hit_line).collect();
                let mut text = format!(
                    "Probe `{}` compromised agent `{}` (target `{}`), trial {}",
                    t.probe, r.agent, r.target, t.trial
                );
                if !hits.is_empty() {
                    text.push_str(": ");
                    text.push_str(&hits.join("; "));
                }
                let indices: Vec<u64> = t.hits.iter().flat_map(|h| h.indices.iter().copied()).collect();
                let mut properties = json!({
                    "runId": r.run_id,
                    "trial": t.trial,
                    "channel": t.channel,
                    "ledgerIndices": indices,
                    "oracles": t.hits.iter().map(|h| h.oracle.as_str()).collect::<Vec<_>>(),
                    "regression": r.regressions.contains(&t.probe),
                });
                if let (Some(i), Value::Object(map)) = (t.ledger_index, &mut properties) {
                    map.insert("ledgerIndex".to_string(), json!(i));
                }
                results.push(json!({
                    "ruleId": t.probe,
                    "ruleIndex": rule_index,
                    "level": "error",
                    "message": {"text": text},
                    "locations": [location],
                    "partialFingerprints": {SARIF_FINGERPRINT: fingerprint(&[&r.target, &t.probe])},
                    "properties": properties,
                }));
            }
            Verdict::Error => notifications.push(json!({
                "level": "error",
                "message": {"text": format!("Probe `{}` trial {} could not run: {}", t.probe, t.trial, reason(t))},
                "associatedRule": rule,
                "properties": {"runId": r.run_id, "trial": t.trial, "channel": t.channel},
            })),
            Verdict::Resisted | Verdict::Inconclusive => {}
        }
    }
    let c = r.counts();
    let mut invocation = json!({
        "executionSuccessful": c.total() == 0 || c.error < c.total(),
        "startTimeUtc": r.started,
    });
    if let (false, Value::Object(map)) = (notifications.is_empty(), &mut invocation) {
        map.insert("toolExecutionNotifications".to_string(), Value::Array(notifications));
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "custos",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "automationDetails": {"id": format!("custos-probe/{}/{}", r.target, r.run_id)},
            "invocations": [invocation],
            "results": results,
            "properties": {
                "runId": r.run_id,
                "target": r.target,
                "targetKind": r.target_kind,
                "agent": r.agent,
                "pack": format!("{}@{}", r.pack.name, r.pack.version),
                "packDigest": r.pack.digest,
                "trigger": r.trigger,
                "trials": r.trials,
                "requests": r.requests,
                "budgetExhausted": r.budget_exhausted,
                "regressions": r.regressions,
                "counts": c,
            },
        }],
    })
}

/// `sha256:` and the first 12 hex digits, enough to tell packs apart on a screen.
fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", hex.chars().take(12).collect::<String>()),
        None => digest.chars().take(12).collect(),
    }
}

/// Milliseconds as seconds with three decimals, without going through a float.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// One hit on one line: the oracle, what it saw, and the ledger entries that show it.
fn hit_line(h: &Hit) -> String {
    let mut line = format!("{}: {}", h.oracle.as_str(), h.why);
    if !h.indices.is_empty() {
        let indices: Vec<String> = h.indices.iter().map(u64::to_string).collect();
        line.push_str(&format!(" (ledger {})", indices.join(", ")));
    }
    line
}

fn reason(t: &TrialResult) -> &str {
    t.reason.as_deref().unwrap_or("no reason recorded")
}

/// 16 hex digits of SHA-256 over length-prefixed parts (as custos-discover keys its results).
fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize().get(..8).unwrap_or_default())
}

/// `s` safe to print on a terminal: control characters (escape sequences, carriage returns,
/// newlines) and the invisible characters that reorder or hide text are shown as `\u{…}`
/// escapes instead of acting.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let invisible =
            matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if c.is_control() || invisible {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` as an XML 1.0 attribute value: markup characters escaped, tab, newline and carriage
/// return as character references (a parser would fold them into spaces otherwise), and every
/// character XML 1.0 cannot carry at all (other C0 controls, U+FFFE, U+FFFF) replaced by
/// U+FFFD.
fn xml(s: &str) -> String {
    escape(s, true)
}

/// `s` as XML 1.0 character data: as [`xml`], but tab and newline stay as they are.
fn xml_text(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Rows as columns padded to the widest cell, two spaces apart, no trailing blanks.
fn columns(rows: &[Vec<String>], align: &[Align]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let n = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(n),
                None => widths.push(n),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let width = widths.get(i).copied().unwrap_or(0);
            match align.get(i).copied().unwrap_or(Align::Left) {
                Align::Left => line.push_str(&format!("{cell:<width$}")),
                Align::Right => line.push_str(&format!("{cell:>width$}")),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
