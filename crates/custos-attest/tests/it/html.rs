//! The printable report: self-contained (nothing remote, no script), well-formed SVG, escaping
//! that holds in text and attributes, and a real browser that opens it without a console message.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use custos_attest::{
    html::{CSP, escape, render_html},
    report::{
        Behavior, ControlCoverage, CoverageStatus, DayCalls, DecisionTotals, Denial, Finding, FirstUse, GrantedPolicy,
        ProbeOutcome, ProbeResult, Recertification, ReportAgent, ReportData, Severity, TimelineEntry, ToolUse,
        VerificationFacts,
    },
};
use custos_core::Timestamp;

pub const HOSTILE: &str = "<script>alert(1)</script>\"'&";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// splitmix64, for a deterministic but irregular month of activity.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A month in the life of a payments agent: about 200 ledger events over 30 days (lifecycle,
/// ~170 gateway decisions over eight tools, first uses, findings, probes, a recertification),
/// folded the way the predicate summarises them. Day 15 is quiet: no call at all.
pub fn sample(name: &str) -> ReportData {
    let tools = [
        "payments.refund",
        "payments.lookup_order",
        "crm.read_customer",
        "crm.update_ticket",
        "mail.send",
        "fs.read_file",
        "search.web",
        "ledger.export_csv",
    ];
    let mut rng = Rng(7);
    let mut index = 1_000u64;
    let mut timeline = Vec::new();
    let lifecycle =
        |timeline: &mut Vec<TimelineEntry>, index: &mut u64, time: &str, kind: &str, actor: &str, summary: &str| {
            timeline.push(TimelineEntry {
                index: *index,
                time: ts(time),
                kind: kind.into(),
                actor: actor.into(),
                summary: summary.into(),
            });
            *index += 3;
        };
    lifecycle(
        &mut timeline,
        &mut index,
        "2026-11-01T08:02:11Z",
        "agent.registered",
        "user:alice@example.com",
        "registered for refunds under 500 EUR",
    );
    lifecycle(
        &mut timeline,
        &mut index,
        "2026-11-01T08:05:40Z",
        "credential.issued",
        "user:alice@example.com",
        "token cred_1f2e3d4c5b6a7988 issued, expires in 30 days",
    );
    lifecycle(
        &mut timeline,
        &mut index,
        "2026-11-01T09:00:00Z",
        "policy.applied",
        "user:sec-team",
        "policy refunds-v3 granted (sha256:9c1b…)",
    );
    lifecycle(
        &mut timeline,
        &mut index,
        "2026-11-01T09:12:00Z",
        "agent.state_changed",
        "user:bob@example.com",
        "approved: registered → active",
    );

    let mut days: BTreeMap<u32, (u64, u64, u64)> = BTreeMap::new();
    let mut per_tool: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut denials = Vec::new();
    let mut first_uses = Vec::new();
    let mut seen = BTreeSet::new();
    let mut events = 4u64;
    for day in 1..=30u32 {
        if day == 15 {
            continue;
        }
        if day == 12 {
            lifecycle(
                &mut timeline,
                &mut index,
                "2026-11-12T14:30:00Z",
                "agent.state_changed",
                "user:sec-team",
                "suspended: unusual export volume under review",
            );
            lifecycle(
                &mut timeline,
                &mut index,
                "2026-11-13T10:00:00Z",
                "agent.state_changed",
                "user:sec-team",
                "resumed: export was a scheduled audit",
            );
            events += 2;
        }
        let calls = 2 + rng.below(9);
        for _ in 0..calls {
            let tool = tools[(rng.below(64) as usize * rng.below(64) as usize / 512).min(7)];
            let time = ts(&format!("2026-11-{day:02}T{:02}:{:02}:00Z", 8 + rng.below(10), rng.below(60)));
            index += 1 + rng.below(40);
            events += 1;
            if seen.insert(tool) {
                first_uses.push(FirstUse { index, time, tool: tool.into() });
                index += 1;
                events += 1;
            }
            let roll = rng.below(100);
            let e = days.entry(day).or_default();
            let t = per_tool.entry(tool).or_default();
            t.0 += 1;
            if roll < 7 || tool == "ledger.export_csv" {
                e.2 += 1;
                t.1 += 1;
                let reason = if tool == "ledger.export_csv" {
                    "forbid: bulk export needs approval by finance"
                } else {
                    "forbid: amount above 500 EUR"
                };
                denials.push(Denial { index, time, tool: tool.into(), reason: reason.into() });
            } else if roll < 12 {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
    }
    lifecycle(
        &mut timeline,
        &mut index,
        "2026-11-20T16:00:00Z",
        "agent.owner_changed",
        "user:hr-sync",
        "owner alice@example.com → team:payments (alice moved teams)",
    );
    lifecycle(
        &mut timeline,
        &mut index,
        "2026-11-28T11:00:00Z",
        "recert.decided",
        "user:carol@example.com",
        "recertified for 90 days",
    );
    events += 2;

    let calls_per_day: Vec<DayCalls> = days
        .iter()
        .map(|(d, (a, p, x))| DayCalls { day: format!("2026-11-{d:02}"), allow: *a, approval: *p, deny: *x })
        .collect();
    let decisions = DecisionTotals {
        allow: days.values().map(|d| d.0).sum(),
        approval: days.values().map(|d| d.1).sum(),
        deny: days.values().map(|d| d.2).sum(),
    };
    let findings = vec![
        Finding {
            finding_type: "dlp.hit".into(),
            severity: Severity::High,
            summary: "IBAN in a mail.send argument (redacted)".into(),
            index: 1_420,
            time: Some(ts("2026-11-09T10:11:00Z")),
        },
        Finding {
            finding_type: "tool.changed".into(),
            severity: Severity::Medium,
            summary: "crm.update_ticket description changed; quarantined until approved".into(),
            index: 2_002,
            time: Some(ts("2026-11-17T09:00:00Z")),
        },
        Finding {
            finding_type: "policy.violation".into(),
            severity: Severity::Critical,
            summary: "attempted bulk export of the ledger".into(),
            index: 1_610,
            time: Some(ts("2026-11-12T14:20:00Z")),
        },
        Finding {
            finding_type: "recert.overdue".into(),
            severity: Severity::Low,
            summary: "recertification was 2 days late".into(),
            index: 3_100,
            time: None,
        },
    ];
    events += findings.len() as u64;
    let probes = vec![
        ProbeResult {
            probe: "prompt-injection/indirect-email".into(),
            result: ProbeOutcome::Passed,
            summary: "refused to forward the mailbox".into(),
            index: 2_500,
            time: ts("2026-11-21T03:00:00Z"),
        },
        ProbeResult {
            probe: "tool-misuse/refund-loop".into(),
            result: ProbeOutcome::Warned,
            summary: "three refunds before the rate limit".into(),
            index: 2_501,
            time: ts("2026-11-21T03:01:00Z"),
        },
        ProbeResult {
            probe: "exfiltration/markdown-image".into(),
            result: ProbeOutcome::Failed,
            summary: "rendered a remote image URL in a ticket".into(),
            index: 2_502,
            time: ts("2026-11-21T03:02:00Z"),
        },
    ];
    events += probes.len() as u64;
    assert!((180..=230).contains(&events), "the sample should hold about 200 events, has {events}");

    let control = |framework: &str, id: &str, official: &str, title: &str, status, n| ControlCoverage {
        framework: framework.into(),
        id: id.into(),
        official_id: official.into(),
        title: title.into(),
        status,
        event_count: n,
    };
    use CoverageStatus::*;
    let coverage = vec![
        control("OWASP Agentic Top 10 2026", "asi01", "ASI01:2026", "Agent Goal Hijack", Partial, 12),
        control("OWASP Agentic Top 10 2026", "asi02", "ASI02:2026", "Tool Misuse and Exploitation", Evidenced, 171),
        control("OWASP Agentic Top 10 2026", "asi03", "ASI03:2026", "Identity and Privilege Abuse", Evidenced, 3),
        control("OWASP Agentic Top 10 2026", "asi06", "ASI06:2026", "Memory & Context Poisoning", NoEvidence, 0),
        control("OWASP Agentic Top 10 2026", "asi10", "ASI10:2026", "Rogue Agents", Evidenced, 4),
        control("OWASP NHI Top 10 2025", "nhi1", "NHI1:2025", "Improper Offboarding", Evidenced, 1),
        control("OWASP NHI Top 10 2025", "nhi7", "NHI7:2025", "Long-Lived Secrets", Partial, 1),
        control(
            "NIST AI RMF 1.0",
            "govern-1.6",
            "GOVERN 1.6",
            "Mechanisms are in place to inventory AI systems",
            Evidenced,
            1,
        ),
        control(
            "NIST AI RMF 1.0",
            "measure-2.4",
            "MEASURE 2.4",
            "Functionality and behavior of the AI system are monitored in production",
            Evidenced,
            171,
        ),
        control(
            "NIST AI RMF 1.0",
            "manage-2.4",
            "MANAGE 2.4",
            "Mechanisms to supersede, disengage, or deactivate AI systems",
            Evidenced,
            2,
        ),
        control(
            "NIST CSF 2.0",
            "pr.aa-05",
            "PR.AA-05",
            "Access permissions are defined in policy, enforced, reviewed",
            Evidenced,
            182,
        ),
        control(
            "NIST CSF 2.0",
            "rs.an-07",
            "RS.AN-07",
            "Incident data and metadata are collected with integrity",
            NoEvidence,
            0,
        ),
        control("EU AI Act", "art-12", "Art. 12", "Record-keeping", Evidenced, 200),
        control("EU AI Act", "art-14", "Art. 14", "Human oversight", Partial, 9),
        control("ISO/IEC 42001:2023", "a.6.2.8", "A.6.2.8", "AI system recording of event logs", Evidenced, 200),
        control("ISO/IEC 42001:2023", "a.10.3", "A.10.3", "Suppliers", NoEvidence, 0),
    ];

    ReportData {
        generated_at: ts("2026-12-01T09:00:00Z"),
        agent: ReportAgent {
            id: "payments/refund-bot".into(),
            name: name.into(),
            owner: Some("team:payments".into()),
            sponsor: Some("carol@example.com".into()),
            purpose: "Issues refunds under 500 EUR for support tickets and tells the customer.".into(),
            environment: "prod".into(),
            risk_tier: "high".into(),
            state: "active".into(),
            orphaned: false,
            labels: vec!["pci".into(), "team=payments".into()],
            granted_policy: Some(GrantedPolicy {
                name: "refunds-v3".into(),
                sha256: "9c1b2e0d7f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4".into(),
            }),
            registered_at: Some(ts("2026-11-01T08:02:11Z")),
            recert_due: Some(ts("2027-02-26T11:00:00Z")),
            identity_digest: Some("4f2a9c0e1b7d3a6f8e2c5b9d0a1f3e7c6b8d2a4f9e0c1b3d5a7f9e2c4b6d8a0f".into()),
        },
        timeline,
        behavior: Behavior {
            decisions,
            tools: per_tool.into_iter().map(|(t, (c, d))| ToolUse { tool: t.into(), calls: c, denied: d }).collect(),
            calls_per_day,
            denials,
            first_uses,
        },
        findings,
        probes,
        recertifications: vec![Recertification {
            index: 3_050,
            time: ts("2026-11-28T11:00:00Z"),
            reviewer: "carol@example.com".into(),
            decision: "recertified".into(),
            note: "scope unchanged; export tool stays denied".into(),
            next_due: Some(ts("2027-02-26T11:00:00Z")),
        }],
        coverage,
        verification: VerificationFacts {
            checkpoint_origin: "custos.example.com/ledger".into(),
            tree_size: 48_213,
            root_hash: "q0mXkqPjJ9m1b0tGgq2X6q2gqkQ1M6m0tH1dJw9m3wA=".into(),
            key_id: "7d3f9a0c2b4e6d8f1a3c5e7b9d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f".into(),
            window_from: ts("2026-11-01T00:00:00Z"),
            window_to: ts("2026-12-01T00:00:00Z"),
            events_referenced: events,
            first_index: Some(1_000),
            last_index: Some(index),
            previous_tree_size: Some(31_877),
        },
    }
}

/// The `<svg …>…</svg>` parts of a document.
fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").map(|e| start + e + "</svg>".len()).expect("an <svg> is closed");
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// Every value of an attribute named `name` (double-quoted, as the renderer writes them).
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let start = i + needle.len();
            let end = html[start..].find('"').map(|e| start + e).unwrap();
            &html[start..end]
        })
        .collect()
}

/// What a reader of a printout and a browser need: HTML5 with a language and a charset, a CSP
/// that forbids loads, nothing fetched from anywhere, no script, and SVG that parses as XML.
#[test]
fn the_report_is_self_contained_html5_with_well_formed_svg() {
    let data = sample("Refund bot");
    let html = render_html(&data);

    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{}", &html[..80]);
    let head = &html[..1024.min(html.len())];
    assert!(head.contains("<meta charset=\"utf-8\">"), "the charset must be declared in the first 1024 bytes");
    assert!(html.contains(&format!("<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">", escape(CSP))));
    assert!(
        CSP.starts_with("default-src 'none'") && !CSP.contains("script-src"),
        "the policy must forbid every load and every script"
    );

    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "the report runs no script");
    assert!(
        !lower.contains("<link") && !lower.contains("<img") && !lower.contains("<iframe") && !lower.contains("<object")
    );
    assert!(!lower.contains("url(") && !lower.contains("@import"), "the stylesheet loads nothing");
    for attr in ["src", "srcset", "href", "xlink:href", "action", "formaction", "poster", "data"] {
        for v in attribute_values(&html, attr) {
            assert!(attr == "href" && v.starts_with('#'), "{attr}=\"{v}\" would leave the page");
        }
    }
    for scheme in ["http://", "https://", "//"] {
        for (i, _) in html.match_indices(scheme) {
            let before = &html[i.saturating_sub(7)..i];
            assert!(
                before.ends_with("xmlns=\"") || scheme == "//" && before.ends_with(':'),
                "remote reference at {i}: {}",
                &html[i.saturating_sub(40)..(i + 40).min(html.len())]
            );
        }
    }

    let parts = svgs(&html);
    assert_eq!(parts.len(), 4, "calls per day, decisions, tools, coverage");
    for svg in &parts {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("ill-formed SVG: {e}\n{svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(doc.root_element().attribute("viewBox").is_some(), "charts scale with the page");
    }

    // Calls per day: one bar group per day of the month, the quiet day included.
    let per_day = roxmltree::Document::parse(parts[0]).unwrap();
    let days: Vec<String> = per_day
        .descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter_map(|g| g.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()).map(String::from))
        .collect();
    assert_eq!(days.len(), 30, "{days:?}");
    assert!(days.contains(&"2026-11-15: 0 allowed, 0 held for approval, 0 denied".to_string()), "{days:?}");
    let d = &data.behavior.decisions;
    let day_total: u64 = data.behavior.calls_per_day.iter().map(|d| d.allow + d.approval + d.deny).sum();
    assert_eq!(day_total, d.total());

    // Decisions: the legend states the totals a reader checks against the tables.
    let decisions = roxmltree::Document::parse(parts[1]).unwrap();
    let texts: Vec<&str> = decisions.descendants().filter_map(|n| n.text()).collect();
    for n in [d.allow, d.approval, d.deny, d.total()] {
        assert!(texts.contains(&n.to_string().as_str()), "{n} missing from {texts:?}");
    }

    // Tools: every tool has a bar, most called first.
    let tools = roxmltree::Document::parse(parts[2]).unwrap();
    let titles: Vec<&str> = tools
        .descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter_map(|g| g.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()))
        .collect();
    assert_eq!(titles.len(), data.behavior.tools.len());
    let most = data.behavior.tools.iter().max_by_key(|t| (t.calls, std::cmp::Reverse(t.tool.clone()))).unwrap();
    assert!(titles[0].starts_with(&format!("{}: {} calls", most.tool, most.calls)), "{titles:?}");

    // Coverage: one bar per framework.
    let coverage = roxmltree::Document::parse(parts[3]).unwrap();
    assert_eq!(coverage.descendants().filter(|n| n.has_tag_name("g")).count(), 6);

    // Sections, each its own printed page.
    for id in ["summary", "identity", "lifecycle", "behavior", "findings", "coverage", "verification"] {
        assert!(html.contains(&format!("<section class=\"sheet\" id=\"{id}\">")), "section {id}");
    }
    assert!(html.contains("@page { size: A4"));
    for t in &data.timeline {
        assert!(html.contains(&escape(&t.summary)), "timeline entry {} missing", t.index);
    }
}

/// The escaping holds in element text and in quoted attributes, in HTML and in XML: parsed
/// back, every hostile string is exactly what went in (control characters become U+FFFD).
#[test]
fn escaping_round_trips_through_an_xml_parser() {
    for s in [HOSTILE, "a\"b'c<d>e&f", "&amp; &#39; &lt;", "]]><!--", "tab\tnew\nline", "ünïcødé ✓ 𝄞"] {
        let doc = format!("<x a=\"{e}\" b='{e}'>{e}</x>", e = escape(s));
        let parsed = roxmltree::Document::parse(&doc).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let x = parsed.root_element();
        // XML normalises whitespace in attributes; compare those without it.
        let squash = |v: &str| v.replace(['\t', '\n'], " ");
        assert_eq!(x.attribute("a").map(squash), Some(squash(s)), "{doc}");
        assert_eq!(x.attribute("b").map(squash), Some(squash(s)), "{doc}");
        assert_eq!(x.text(), Some(s), "{doc}");
    }
    let controls = "nul\u{0}esc\u{1b}del\u{7f}c1\u{85}";
    let doc = format!("<x a=\"{e}\">{e}</x>", e = escape(controls));
    let parsed = roxmltree::Document::parse(&doc).unwrap();
    assert_eq!(parsed.root_element().text(), Some("nul\u{FFFD}esc\u{FFFD}del\u{FFFD}c1\u{FFFD}"));
}

/// A hostile agent name, owner, tool, summary, control title and log origin are shown as
/// text, never markup, in the HTML and in the SVG.
#[test]
fn hostile_text_is_shown_never_executed() {
    let mut data = sample(HOSTILE);
    data.agent.owner = Some(HOSTILE.into());
    data.agent.purpose = format!("{HOSTILE} with a NUL \u{0} inside");
    data.agent.labels.push(HOSTILE.into());
    data.agent.state = HOSTILE.into();
    data.behavior.tools[0].tool = HOSTILE.into();
    data.behavior.calls_per_day[0].day = HOSTILE.into();
    data.timeline[0].summary = HOSTILE.into();
    data.timeline[0].actor = HOSTILE.into();
    data.findings[0].summary = HOSTILE.into();
    data.coverage[0].title = HOSTILE.into();
    data.coverage[0].framework = HOSTILE.into();
    data.verification.checkpoint_origin = HOSTILE.into();
    let html = render_html(&data);

    assert!(!html.contains(HOSTILE));
    assert!(!html.to_ascii_lowercase().contains("<script"), "no script element, escaped or not");
    assert!(!html.contains('\u{0}'));
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;";
    assert_eq!(escape(HOSTILE), escaped);
    // Title, h1, owner card, identity table (name, owner, purpose, label, state), timeline
    // (summary, actor), tools chart (title and label), calls per day (bar title and axis),
    // finding, coverage table and chart, origin (cover note and verification).
    let n = html.matches(escaped).count();
    assert!(n >= 15, "hostile text shown {n} times");
    for svg in svgs(&html) {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("ill-formed SVG: {e}\n{svg}"));
    }
    // A label that made its way into a class name stays a harmless token.
    assert!(html.contains("class=\"badge st-scriptalert1script\""));
}

/// The report data is what the predicate carries, so it reads back from JSON, and a field the
/// renderer does not know is an error rather than silently dropped.
#[test]
fn report_data_round_trips_through_json() {
    let data = sample("Refund bot");
    let json = serde_json::to_value(&data).unwrap();
    let back: ReportData = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, data);
    assert_eq!(json["coverage"][3]["status"], "no_evidence");
    assert_eq!(json["findings"][0]["type"], "dlp.hit");
    let mut extra = json;
    extra["agent"]["nickname"] = "x".into();
    let err = serde_json::from_value::<ReportData>(extra).unwrap_err();
    assert!(err.to_string().contains("nickname"), "{err}");
}

/// An empty month still renders: no calls, no findings, no coverage.
#[test]
fn an_idle_agent_renders_with_empty_states() {
    let mut data = sample("Idle bot");
    data.timeline.clear();
    data.behavior = Behavior::default();
    data.findings.clear();
    data.probes.clear();
    data.recertifications.clear();
    data.coverage.clear();
    data.agent.owner = None;
    let html = render_html(&data);
    for text in [
        "No tool call in this window.",
        "No tool was called in this window.",
        "No lifecycle event in this window.",
        "No finding in this window.",
        "No control catalogue was applied.",
    ] {
        assert!(html.contains(text), "{text}");
    }
    for svg in svgs(&html) {
        roxmltree::Document::parse(svg).unwrap();
    }
}

// --- the browser ------------------------------------------------------------------------------

/// Where test artifacts (the rendered report, its screenshot) are kept: `CUSTOS_ARTIFACTS`, or
/// under the target directory.
fn artifacts() -> PathBuf {
    let dir = std::env::var_os("CUSTOS_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("custos-artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Debian's `chromium` (or `CUSTOS_CHROMIUM`). Without one the browser tests skip, unless
/// `CUSTOS_REQUIRE_BROWSER` is set (CI sets it, so they cannot pass by skipping there).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CUSTOS_CHROMIUM").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CUSTOS_REQUIRE_BROWSER").is_none(),
            "CUSTOS_REQUIRE_BROWSER is set but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install -y chromium); set CUSTOS_REQUIRE_BROWSER to make this a failure"
        );
    }
    found
}

/// What headless Chromium made of a page: the console messages it logged and whether it exited
/// cleanly.
struct Opened {
    console: Vec<String>,
    stderr: String,
}

/// Opens `page` in headless Chromium, with `mode` (`--screenshot=…` or `--print-to-pdf=…`),
/// bounded to 60 seconds. The report has no script, so *any* console message (a CSP refusal, a
/// failed load, a script error) is a defect: Chromium logs them all to stderr as `CONSOLE`
/// lines (all at INFO level in headless mode, which is why the level is not used).
fn open_in_chromium(chromium: &Path, page: &Path, mode: &str) -> Opened {
    let profile = tempfile::tempdir().unwrap();
    let stderr_path = profile.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1240,1754",
        ])
        .arg(format!("--user-data-dir={}", profile.path().join("profile").display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within 60 s:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "chromium exited {status}:\n{stderr}");
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(String::from).collect();
    Opened { console, stderr }
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    assert!(bytes.len() > 20_000, "a {}-byte screenshot is too small to be a rendered report", bytes.len());
}

/// The bar: the report opens in headless Chromium with no console message, and a
/// screenshot is kept (`CUSTOS_ARTIFACTS/attest-report.png`). Printed, each section starts a
/// page of its own.
#[test]
fn chromium_opens_the_report_without_console_errors() {
    let Some(chromium) = chromium() else { return };
    let dir = artifacts();
    let page = dir.join("attest-report.html");
    std::fs::write(&page, render_html(&sample("Refund bot"))).unwrap();

    let shot = dir.join("attest-report.png");
    let _ = std::fs::remove_file(&shot);
    let opened = open_in_chromium(&chromium, &page, &format!("--screenshot={}", shot.display()));
    assert!(opened.console.is_empty(), "console messages:\n{}", opened.console.join("\n"));
    assert_png(&shot);

    let pdf = dir.join("attest-report.pdf");
    let _ = std::fs::remove_file(&pdf);
    let printed = open_in_chromium(&chromium, &page, &format!("--print-to-pdf={}", pdf.display()));
    assert!(printed.console.is_empty(), "console messages when printing:\n{}", printed.console.join("\n"));
    let bytes = std::fs::read(&pdf).unwrap_or_else(|e| panic!("no PDF: {e}\n{}", printed.stderr));
    assert!(bytes.starts_with(b"%PDF-"));
    // Each page object is `/Type /Page`; the page tree is `/Type /Pages`.
    let text = String::from_utf8_lossy(&bytes);
    let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    assert!(pages >= 7, "seven sections, each on its own page; the PDF has {pages}");
    eprintln!("report: {}\nscreenshot: {}\nPDF ({pages} pages): {}", page.display(), shot.display(), pdf.display());
}

/// The check above can fail: a page that loads a remote image and runs a script is caught.
#[test]
fn the_console_check_catches_a_page_that_loads_or_runs_anything() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    let html = render_html(&sample("Refund bot")).replace(
        "</main>",
        "<img src=\"https://example.invalid/x.png\" alt=\"\"><script>console.log(1)</script></main>",
    );
    std::fs::write(&page, html).unwrap();
    let shot = dir.path().join("bad.png");
    let opened = open_in_chromium(&chromium, &page, &format!("--screenshot={}", shot.display()));
    assert!(opened.console.iter().any(|l| l.contains("Content Security Policy")), "{}", opened.stderr);
    assert!(opened.console.len() >= 2, "both the image and the script are refused: {:?}", opened.console);
}
