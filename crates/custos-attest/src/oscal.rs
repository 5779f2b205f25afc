//! OSCAL assessment-results export of control coverage (evidence-formats.md §10).
//!
//! Control ids are written as tokens (`govern-1.6`), never as the official label (`GOVERN 1.6`
//! has a space and is not a valid `control-id`); the label travels in a property in the custos
//! namespace. Only controls the catalogue knows are written, so every id is a checked token and
//! every finding targets a reviewed control.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::controls::{Control, ControlCatalogue, ControlCoverage, CoverageStatus};

/// The OSCAL version written: the newest compliance-trestle 5.2.0 validates (its models are
/// generated from OSCAL 1.2.1).
pub const OSCAL_VERSION: &str = "1.2.1";

/// Namespace of custos's OSCAL properties.
pub const CUSTOS_NS: &str = "https://custos.dev/ns/oscal";

/// Default `relevant-evidence` href: a ledger entry by index (`custos-ledger:#42`), a valid
/// URI with an empty path and the index as fragment. `{index}` is replaced.
pub const LEDGER_HREF: &str = "custos-ledger:#{index}";

/// What the caller decides about the document.
#[derive(Debug, Clone)]
pub struct OscalMeta {
    /// Random bytes from the caller. Every UUID in the document is derived from them (SHA-256
    /// of the seed and the object's role, formatted as a version-4 UUID), so one seed gives one
    /// document, byte for byte, and no UUID generator is needed here.
    pub seed: [u8; 16],
    pub title: String,
    /// The document's own version.
    pub version: String,
    pub last_modified: jiff::Timestamp,
    /// The assessed window.
    pub start: jiff::Timestamp,
    pub end: Option<jiff::Timestamp>,
    /// What was assessed, one line, e.g. `agent ag_123` or `all agents`.
    pub scope: String,
    /// `relevant-evidence` href template with `{index}`, e.g. [`LEDGER_HREF`] or
    /// `proofs/{index}.tlog-proof` when the proof files ship alongside.
    pub evidence_href: String,
}

impl OscalMeta {
    /// A document about `scope` assessed over `[start, now]`, evidence pointing at the ledger.
    pub fn new(seed: [u8; 16], scope: &str, start: jiff::Timestamp, now: jiff::Timestamp) -> Self {
        Self {
            seed,
            title: format!("custos control coverage: {scope}"),
            version: "1".to_string(),
            last_modified: now,
            start,
            end: Some(now),
            scope: scope.to_string(),
            evidence_href: LEDGER_HREF.to_string(),
        }
    }
}

/// A version-4-formatted UUID from the seed and a role (`result`, `finding/asi01`…).
pub fn derived_uuid(seed: &[u8; 16], role: &str) -> String {
    let mut h = Sha256::new();
    h.update(seed);
    h.update([0]);
    h.update(role.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(d.iter()) {
        *dst = *src;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    let part = |r: std::ops::Range<usize>| x.get(r).unwrap_or_default();
    format!("{}-{}-{}-{}-{}", part(0..8), part(8..12), part(12..16), part(16..20), part(20..32))
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "ns": CUSTOS_NS, "value": value})
}

fn ts(t: jiff::Timestamp) -> String {
    // RFC 3339 in UTC with a zone designator, as OSCAL date-time-with-timezone wants.
    t.to_string()
}

/// An OSCAL assessment-results document: one result reviewing every covered control known to
/// `cat`, one observation per control with evidence (its ledger entries as relevant evidence),
/// one finding per control (`satisfied` only when evidenced). The assessment plan is the
/// catalogue itself, carried as a back-matter resource that `import-ap` points at.
pub fn assessment_results(cat: &ControlCatalogue, coverage: &[ControlCoverage], meta: OscalMeta) -> Value {
    let uuid = |role: &str| derived_uuid(&meta.seed, role);
    // The catalogue, not the coverage, supplies ids, labels and frameworks: coverage may have
    // been read back from a bundle, and only catalogue ids are checked tokens.
    let known: Vec<(&ControlCoverage, &Control)> =
        coverage.iter().filter_map(|c| cat.controls.iter().find(|k| k.id == c.id).map(|k| (c, k))).collect();
    let collected = ts(meta.end.unwrap_or(meta.last_modified));
    let href = meta.evidence_href.as_str();

    let mut observations = Vec::new();
    let mut findings = Vec::new();
    for (c, k) in &known {
        let labels =
            vec![prop("label", &k.official), prop("framework", &k.framework), prop("coverage", c.status.as_str())];
        let obs_uuid = uuid(&format!("observation/{}", k.id));
        let has_evidence = c.status != CoverageStatus::NoEvidence && !c.events.is_empty();
        if has_evidence {
            // Probe results come from tests custos ran; everything else is records examined.
            let mut methods = vec!["EXAMINE"];
            if c.events.iter().any(|e| e.event.starts_with("probe.")) {
                methods.push("TEST");
            }
            let evidence: Vec<Value> = c
                .events
                .iter()
                .flat_map(|e| {
                    e.indices.iter().map(move |i| {
                        json!({
                            "href": href.replace("{index}", &i.to_string()),
                            "description": format!("{} ledger entry {i} ({} matching in scope)", e.event, e.count),
                        })
                    })
                })
                .collect();
            let summary = c.events.iter().map(|e| format!("{} × {}", e.count, e.event)).collect::<Vec<_>>().join(", ");
            let mut obs = json!({
                "uuid": obs_uuid,
                "title": format!("{} evidence", k.official),
                "description": format!("Ledger events evidencing {} {}: {summary}.", k.official, k.title),
                "props": labels,
                "methods": methods,
                "collected": collected,
            });
            if !evidence.is_empty()
                && let Some(o) = obs.as_object_mut()
            {
                o.insert("relevant-evidence".into(), Value::Array(evidence));
            }
            observations.push(obs);
        }
        let missing: Vec<&str> = c.groups.iter().filter(|g| !g.present).map(|g| g.group.as_str()).collect();
        let why = match c.status {
            CoverageStatus::Evidenced => "every evidence group is present".to_string(),
            _ if c.groups.is_empty() => "custos events do not evidence this control".to_string(),
            _ => format!("no evidence for: {}", missing.join(", ")),
        };
        let state = if c.status == CoverageStatus::Evidenced { "satisfied" } else { "not-satisfied" };
        let mut finding = json!({
            "uuid": uuid(&format!("finding/{}", k.id)),
            "title": format!("{}: {}", k.official, k.title),
            "description": format!("{} ({}): {why}. custos: {}.", c.status, k.official, k.custos),
            "props": labels,
            // The framework's back-matter resource: where the control's official text is.
            "links": [{"href": format!("#{}", uuid(&format!("resource/framework/{}", k.framework))), "rel": "reference"}],
            "target": {
                "type": "objective-id",
                "target-id": k.id,
                "status": {"state": state, "reason": c.status.as_str()},
            },
        });
        if has_evidence && let Some(o) = finding.as_object_mut() {
            o.insert("related-observations".into(), json!([{"observation-uuid": obs_uuid}]));
        }
        findings.push(finding);
    }

    // An empty include-controls list is invalid; with nothing known, say "all" of nothing.
    let selection = if known.is_empty() {
        json!({"include-all": {}})
    } else {
        json!({"include-controls": known.iter().map(|(_, k)| json!({"control-id": k.id})).collect::<Vec<_>>()})
    };
    let plan_uuid = uuid("resource/catalogue");
    let mut resources = vec![json!({
        "uuid": plan_uuid,
        "title": format!("custos control catalogue {}", cat.version),
        "description": "The assessment plan: the custos control catalogue maps ledger event kinds to controls; coverage follows its evidence rule.",
        "props": [prop("catalogue-version", &cat.version)],
    })];
    for f in &cat.frameworks {
        resources.push(json!({
            "uuid": uuid(&format!("resource/framework/{}", f.id)),
            "title": format!("{} {}", f.name, f.edition),
            "props": [prop("framework", &f.id), prop("checked", &f.checked.to_string())],
            "rlinks": [{"href": f.source}],
        }));
    }

    let mut result = json!({
        "uuid": uuid("result"),
        "title": meta.title,
        "description": format!("Control coverage of {} from the custos ledger (catalogue {}).", meta.scope, cat.version),
        "start": ts(meta.start),
        "props": [prop("scope", &meta.scope), prop("catalogue-version", &cat.version)],
        "reviewed-controls": {"control-selections": [selection]},
        "findings": findings,
    });
    if let Some(o) = result.as_object_mut() {
        if let Some(end) = meta.end {
            o.insert("end".into(), json!(ts(end)));
        }
        if !observations.is_empty() {
            o.insert("observations".into(), Value::Array(observations));
        }
        if o.get("findings").and_then(Value::as_array).is_some_and(Vec::is_empty) {
            o.remove("findings");
        }
    }

    json!({
        "assessment-results": {
            "uuid": uuid("document"),
            "metadata": {
                "title": meta.title,
                "last-modified": ts(meta.last_modified),
                "version": meta.version,
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {
                "href": format!("#{plan_uuid}"),
                "remarks": "No separate assessment plan: the custos control catalogue in back-matter is the plan.",
            },
            "results": [result],
            "back-matter": {"resources": resources},
        }
    })
}
