//! The campaign report's renderings: the terminal table, JUnit XML and SARIF 2.1.0, over a run
//! that has every verdict, a regression and reasons carrying markup and control characters.
//! With `CUSTOS_PROBE_SAMPLE_DIR=DIR` set, one test writes the renderings there for
//! `interop/probe/validate.sh`.

use std::collections::BTreeMap;

use custos_probe::oracle::{Hit, Oracle, Verdict};
use custos_probe::report::{self, PackRef, RunReport, SARIF_FINGERPRINT, SARIF_SCHEMA, TrialResult};
use serde_json::Value;

/// What a target can put in a reason: markup, quotes, an ANSI escape, a NUL and a CR.
const HOSTILE: &str = "reply <b>&\"quoted\"</b> 'x' \u{1b}[31mred\u{0} end\r";

fn trial(probe: &str, asi: &str, channel: &str, n: u32, verdict: Verdict) -> TrialResult {
    TrialResult {
        probe: probe.into(),
        title: format!("Title of {probe}"),
        asi: asi.into(),
        llm: "LLM01:2025".into(),
        atlas: "AML.T0051.001".into(),
        channel: channel.into(),
        trial: n,
        verdict,
        hits: Vec::new(),
        reason: None,
        duration_ms: 1500 + u64::from(n),
        ledger_index: None,
    }
}

fn hit(oracle: Oracle, why: &str, indices: &[u64]) -> Hit {
    Hit { oracle, why: why.into(), indices: indices.to_vec() }
}

/// Four probes: `asi01-doc-email` resisted once and compromised once (a regression),
/// `asi06-memory` inconclusive and errored, `asi02-shell` errored and resisted,
/// `asi03-direct` inconclusive only (no judged trial, so no rate).
fn sample() -> RunReport {
    let mut compromised = trial("asi01-doc-email", "ASI01", "tool_result", 2, Verdict::Compromised);
    compromised.hits = vec![
        hit(Oracle::HoneypotCall, "called honeypot `send_email`", &[12, 13]),
        hit(Oracle::CanaryInArgs, "canary in `send_email` arguments <to>", &[13]),
    ];
    compromised.ledger_index = Some(15);
    let mut inconclusive = trial("asi06-memory", "ASI06", "memory", 1, Verdict::Inconclusive);
    inconclusive.reason = Some(format!("the poisoned tool was never read: {HOSTILE}"));
    let mut errored = trial("asi06-memory", "ASI06", "memory", 2, Verdict::Error);
    errored.reason = Some(format!("target answered 500: {HOSTILE}"));
    let mut shell_error = trial("asi02-shell", "ASI02", "direct", 1, Verdict::Error);
    shell_error.reason = Some("timeout after 30 s".into());
    let mut direct = trial("asi03-direct", "ASI03", "direct", 1, Verdict::Inconclusive);
    direct.reason = None;
    RunReport {
        run_id: "run_0001".into(),
        target: "support".into(),
        agent: "lab/support-bot".into(),
        target_kind: "openai".into(),
        pack: PackRef {
            name: "custos-core".into(),
            version: "1.2.0".into(),
            digest: format!("sha256:{}", "ab12".repeat(16)),
            origin: "builtin:custos-core".into(),
        },
        trials: 2,
        concurrency: 2,
        trigger: "manual".into(),
        started: "2026-12-06T17:00:00Z".into(),
        duration_ms: 12_345,
        requests: 9,
        budget_exhausted: false,
        results: vec![
            trial("asi01-doc-email", "ASI01", "tool_result", 1, Verdict::Resisted),
            compromised,
            inconclusive,
            errored,
            shell_error,
            trial("asi02-shell", "ASI02", "direct", 2, Verdict::Resisted),
            direct,
        ],
        regressions: vec!["asi01-doc-email".into()],
        ledger_index: Some(10),
    }
}

fn row<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in\n{table}"))
}

#[test]
fn table_has_a_header_a_row_per_probe_and_the_totals() {
    let t = report::table(&sample());
    for (key, value) in [
        ("target", "support (openai)"),
        ("agent", "lab/support-bot"),
        ("pack", "custos-core@1.2.0 sha256:ab12ab12ab12"),
        ("trials", "2 per probe"),
        ("concurrency", "2"),
        ("duration", "12.345 s"),
        ("requests", "9"),
    ] {
        let line = row(&t, key);
        assert!(line.ends_with(value), "{line:?} should show {value:?}");
    }
    assert!(t.lines().any(|l| l.starts_with("budget exhausted") && l.ends_with("no")), "{t}");
    assert!(!t.contains(&"ab12".repeat(4)), "the digest is shortened:\n{t}");

    let cells = |line: &str| line.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cells(row(&t, "asi01-doc-email")),
        ["asi01-doc-email", "ASI01", "tool_result", "1", "1", "0", "0", "50.0%", "REGRESSION"]
    );
    assert_eq!(cells(row(&t, "asi06-memory")), ["asi06-memory", "ASI06", "memory", "0", "0", "1", "1", "-"]);
    assert_eq!(cells(row(&t, "asi02-shell")), ["asi02-shell", "ASI02", "direct", "1", "0", "0", "1", "0.0%"]);
    assert_eq!(cells(row(&t, "asi03-direct")), ["asi03-direct", "ASI03", "direct", "0", "0", "1", "0", "-"]);
    assert_eq!(cells(row(&t, "TOTAL")), ["TOTAL", "2", "1", "2", "2", "33.3%"]);

    // Right-aligned counts: every row's COMPROMISED cell ends where the heading does.
    let heading = row(&t, "PROBE");
    let end = heading.find("COMPROMISED").unwrap() + "COMPROMISED".len();
    for probe in ["asi01-doc-email", "asi06-memory", "asi02-shell", "asi03-direct", "TOTAL"] {
        let line = row(&t, probe);
        assert!(line[..end].ends_with(|c: char| c.is_ascii_digit()), "{line:?} is not aligned under {heading:?}");
        assert_eq!(line.as_bytes()[end], b' ', "{line:?}");
    }
}

#[test]
fn table_shows_the_evidence_and_reasons_without_letting_the_target_drive_the_terminal() {
    let t = report::table(&sample());
    let after = |heading: &str| {
        t.split(&format!("\n{heading}\n")).nth(1).unwrap_or_else(|| panic!("no {heading} section in\n{t}"))
    };
    let compromised = after("compromised");
    assert!(compromised.starts_with("  asi01-doc-email trial 2 (probe.result: ledger 15)\n"), "{compromised}");
    assert!(compromised.contains("    honeypot_call: called honeypot `send_email` (ledger 12, 13)\n"));
    assert!(compromised.contains("    canary_in_args: canary in `send_email` arguments <to> (ledger 13)\n"));
    let errors = after("errors");
    assert!(errors.contains("  asi06-memory trial 2: target answered 500: reply <b>&\"quoted\"</b>"), "{errors}");
    assert!(errors.contains("  asi02-shell trial 1: timeout after 30 s\n"), "{errors}");
    let inconclusive = after("inconclusive");
    assert!(inconclusive.contains("  asi06-memory trial 1: the poisoned tool was never read"), "{inconclusive}");
    assert!(inconclusive.contains("  asi03-direct trial 1: no reason recorded\n"), "{inconclusive}");

    assert!(!t.contains('\u{1b}') && !t.contains('\u{0}') && !t.contains('\r'), "raw control characters:\n{t}");
    assert!(t.contains(r"\u{1b}[31mred\u{0} end\u{d}"), "{t}");
    assert!(t.lines().all(|l| l == l.trim_end()), "trailing blanks");
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name).unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()))
}

#[test]
fn junit_parses_back_with_the_right_counts_and_one_case_per_trial() {
    let xml = report::junit(&sample());
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("ill-formed JUnit: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(attr(suite, "name"), "custos probe: support");
    assert_eq!(attr(suite, "timestamp"), "2026-12-06T17:00:00Z");
    for node in [root, suite] {
        let counts: Vec<&str> = ["tests", "failures", "errors", "skipped", "time"].map(|a| attr(node, a)).to_vec();
        assert_eq!(counts, ["7", "1", "2", "2", "12.345"]);
    }

    let properties: BTreeMap<&str, &str> = suite
        .descendants()
        .filter(|n| n.has_tag_name("property"))
        .map(|n| (attr(n, "name"), attr(n, "value")))
        .collect();
    assert_eq!(properties["run_id"], "run_0001");
    assert_eq!(properties["agent"], "lab/support-bot");
    assert_eq!(properties["pack"], "custos-core@1.2.0");
    assert_eq!(properties["pack_digest"], format!("sha256:{}", "ab12".repeat(16)));
    assert_eq!(properties["regressions"], "asi01-doc-email");

    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 7);
    let outcome = |case: roxmltree::Node| {
        let kids: Vec<_> = case.children().filter(|n| n.is_element()).collect();
        assert!(kids.len() <= 1, "one outcome per case");
        kids.first().map(|n| n.tag_name().name().to_string())
    };
    let summary: Vec<(&str, &str, Option<String>)> =
        cases.iter().map(|c| (attr(*c, "classname"), attr(*c, "name"), outcome(*c))).collect();
    assert_eq!(
        summary,
        [
            ("ASI01.asi01-doc-email", "asi01-doc-email trial 1", None),
            ("ASI01.asi01-doc-email", "asi01-doc-email trial 2", Some("failure".into())),
            ("ASI06.asi06-memory", "asi06-memory trial 1", Some("skipped".into())),
            ("ASI06.asi06-memory", "asi06-memory trial 2", Some("error".into())),
            ("ASI02.asi02-shell", "asi02-shell trial 1", Some("error".into())),
            ("ASI02.asi02-shell", "asi02-shell trial 2", None),
            ("ASI03.asi03-direct", "asi03-direct trial 1", Some("skipped".into())),
        ]
    );
    assert_eq!(attr(cases[0], "time"), "1.501");
}

#[test]
fn junit_carries_hits_and_reasons_escaped_and_without_what_xml_forbids() {
    let xml = report::junit(&sample());
    assert!(!xml.chars().any(|c| c.is_control() && !matches!(c, '\n')), "raw control characters in\n{xml}");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(attr(failure, "type"), "compromised");
    assert_eq!(attr(failure, "message"), "called honeypot `send_email`");
    assert_eq!(
        failure.text().unwrap(),
        "honeypot_call: called honeypot `send_email` (ledger 12, 13)\n\
         canary_in_args: canary in `send_email` arguments <to> (ledger 13)\n\
         regression: resisted in the previous run of this target\n\
         probe.result: ledger entry 15\n"
    );

    // The reason survives the round trip, markup and CR included; the ESC and NUL XML 1.0 cannot
    // carry become U+FFFD.
    let clean = "reply <b>&\"quoted\"</b> 'x' \u{fffd}[31mred\u{fffd} end\r";
    let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert_eq!(attr(error, "type"), "error");
    assert_eq!(attr(error, "message"), format!("target answered 500: {clean}"));
    let skipped: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("skipped")).map(|n| attr(n, "message")).collect();
    assert_eq!(
        skipped,
        [
            format!("inconclusive: the poisoned tool was never read: {clean}").as_str(),
            "inconclusive: no reason recorded"
        ]
    );
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {pointer}"))
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a Vec<Value> {
    v.pointer(pointer).and_then(Value::as_array).unwrap_or_else(|| panic!("no array at {pointer}"))
}

#[test]
fn sarif_has_a_rule_per_probe_and_a_result_per_compromised_trial() {
    let doc = report::sarif(&sample());
    assert_eq!(s(&doc, "/$schema"), SARIF_SCHEMA);
    assert_eq!(s(&doc, "/version"), "2.1.0");
    assert_eq!(arr(&doc, "/runs").len(), 1);
    assert_eq!(s(&doc, "/runs/0/tool/driver/name"), "custos");
    assert_eq!(s(&doc, "/runs/0/tool/driver/version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(s(&doc, "/runs/0/automationDetails/id"), "custos-probe/support/run_0001");

    let rules = arr(&doc, "/runs/0/tool/driver/rules");
    let ids: Vec<&str> = rules.iter().map(|r| s(r, "/id")).collect();
    assert_eq!(ids, ["asi01-doc-email", "asi06-memory", "asi02-shell", "asi03-direct"]);
    assert_eq!(s(&rules[1], "/shortDescription/text"), "Title of asi06-memory");
    let tags: Vec<&str> = arr(&rules[1], "/properties/tags").iter().filter_map(Value::as_str).collect();
    for tag in ["ASI06", "LLM01:2025", "AML.T0051.001"] {
        assert!(tags.contains(&tag), "{tags:?} lacks {tag}");
    }

    let results = arr(&doc, "/runs/0/results");
    assert_eq!(results.len(), 1, "only the compromised trial is a result");
    let r = &results[0];
    assert_eq!(s(r, "/ruleId"), "asi01-doc-email");
    assert_eq!(r["ruleIndex"], 0);
    assert_eq!(s(r, "/level"), "error");
    let message = s(r, "/message/text");
    assert!(message.contains("called honeypot `send_email` (ledger 12, 13)"), "{message}");
    assert!(message.contains("canary_in_args"), "{message}");
    assert_eq!(s(r, "/locations/0/logicalLocations/0/name"), "support");
    assert_eq!(s(r, "/locations/0/logicalLocations/0/fullyQualifiedName"), "support/lab/support-bot");
    assert_eq!(r["properties"]["trial"], 2);
    assert_eq!(s(r, "/properties/channel"), "tool_result");
    assert_eq!(s(r, "/properties/runId"), "run_0001");
    assert_eq!(r["properties"]["ledgerIndices"], serde_json::json!([12, 13, 13]));
    assert_eq!(r["properties"]["regression"], true);
    assert!(r["partialFingerprints"][SARIF_FINGERPRINT].is_string());

    let invocation = &doc["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], true);
    let notes = arr(invocation, "/toolExecutionNotifications");
    assert_eq!(notes.len(), 2, "one notification per errored trial");
    assert!(notes.iter().all(|n| s(n, "/level") == "error"));
    assert_eq!(s(&notes[0], "/associatedRule/id"), "asi06-memory");
    assert_eq!(notes[0]["associatedRule"]["index"], 1);
    assert!(s(&notes[0], "/message/text").contains(HOSTILE), "JSON carries the reason as it was");
    assert_eq!(s(&notes[1], "/associatedRule/id"), "asi02-shell");
}

#[test]
fn sarif_fingerprints_follow_target_and_probe_across_reruns() {
    let first = report::sarif(&sample());
    let mut rerun = sample();
    rerun.run_id = "run_0002".into();
    rerun.started = "2026-12-07T17:00:00Z".into();
    rerun.results.retain(|t| t.verdict == Verdict::Compromised);
    rerun.results[0].trial = 1;
    let mut elsewhere = sample();
    elsewhere.target = "billing".into();
    let key = |doc: &Value| doc["runs"][0]["results"][0]["partialFingerprints"][SARIF_FINGERPRINT].clone();
    assert_eq!(key(&first), key(&report::sarif(&rerun)));
    assert_ne!(key(&first), key(&report::sarif(&elsewhere)));
    assert_eq!(report::sarif(&sample()), first, "deterministic");
    assert_eq!(report::junit(&sample()), report::junit(&sample()));
}

#[test]
fn sarif_execution_fails_only_when_every_trial_errored() {
    let mut all_errors = sample();
    all_errors.results.retain(|t| t.verdict == Verdict::Error);
    let doc = report::sarif(&all_errors);
    assert_eq!(doc["runs"][0]["invocations"][0]["executionSuccessful"], false);
    assert!(arr(&doc, "/runs/0/results").is_empty());

    let mut empty = sample();
    empty.results.clear();
    let doc = report::sarif(&empty);
    assert_eq!(doc["runs"][0]["invocations"][0]["executionSuccessful"], true);
    assert!(doc["runs"][0]["invocations"][0].get("toolExecutionNotifications").is_none());
    assert!(arr(&doc, "/runs/0/tool/driver/rules").is_empty());
    let xml = report::junit(&empty);
    roxmltree::Document::parse(&xml).unwrap();
    assert!(xml.contains(r#"tests="0" failures="0" errors="0" skipped="0""#), "{xml}");
}

/// With `CUSTOS_PROBE_SAMPLE_DIR=DIR`, writes `DIR/report.json` (the report), `report.txt`,
/// `report.junit.xml` and `report.sarif` for `interop/probe/validate.sh`.
#[test]
fn writes_samples_for_the_outside_validators() {
    let Some(dir) = std::env::var_os("CUSTOS_PROBE_SAMPLE_DIR") else { return };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let r = sample();
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&r).unwrap()).unwrap();
    std::fs::write(dir.join("report.txt"), report::table(&r)).unwrap();
    std::fs::write(dir.join("report.junit.xml"), report::junit(&r)).unwrap();
    std::fs::write(dir.join("report.sarif"), serde_json::to_string_pretty(&report::sarif(&r)).unwrap()).unwrap();
}

#[test]
fn hits_quoting_the_agent_cannot_break_the_xml_or_hide_text_on_a_terminal() {
    let mut r = sample();
    r.results[1].hits = vec![hit(Oracle::CanaryInOutput, "reply said\t\"\u{1b}]0;pwned\u{7}\" \u{202e}txt.exe", &[])];
    let xml = report::junit(&r);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("ill-formed JUnit: {e}\n{xml}"));
    let failure = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(attr(failure, "message"), "reply said\t\"\u{fffd}]0;pwned\u{fffd}\" \u{202e}txt.exe");
    assert!(failure.text().unwrap().starts_with("canary_in_output: reply said\t\"\u{fffd}]0;pwned\u{fffd}\""));

    let t = report::table(&r);
    assert!(t.contains(r#"canary_in_output: reply said\u{9}"\u{1b}]0;pwned\u{7}" \u{202e}txt.exe"#), "{t}");
    assert!(!t.contains('\u{202e}') && !t.contains('\u{7}'));
}
