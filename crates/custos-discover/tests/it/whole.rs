//! The whole pipeline (`run`: the tree engine with every analyzer, plus explicit log and trace
//! files) over the fixture trees: exactly the union of the per-source golden files, and nothing
//! at all from the negative set (look-alike frameworks, ordinary infrastructure and traffic,
//! placeholder and documentation keys).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use custos_discover::{Catalogues, FingerprintKey, Plan, Report, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn discover(plan: &Plan) -> Report {
    run(plan, &Catalogues::builtin(), &FingerprintKey::new(vec![7; 32]), &|_| {}).0
}

fn plan(paths: Vec<PathBuf>) -> Plan {
    Plan { paths, max_file_size: 8 << 20, ..Plan::default() }
}

/// (path relative to the fixtures, kind, framework, name) of every agent finding.
type Key = (String, String, String, String);

fn keys_of_report(r: &Report) -> BTreeSet<Key> {
    let root = fixtures();
    r.agents
        .iter()
        .map(|a| {
            let rel = a.location.path.strip_prefix(&root).unwrap_or(&a.location.path).display().to_string();
            (rel, a.kind.as_str().to_string(), a.framework.clone(), a.name.clone())
        })
        .collect()
}

fn keys_of_golden(file: &str, prefix: &str) -> BTreeSet<Key> {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let agents: Vec<serde_json::Value> = match &v {
        serde_json::Value::Array(a) => a.clone(),
        // otel.golden.json: file → { agents, traffic, … }
        serde_json::Value::Object(o) => {
            o.values().flat_map(|f| f["agents"].as_array().cloned().unwrap_or_default()).collect()
        }
        _ => panic!("{file}"),
    };
    agents
        .iter()
        .map(|a| {
            let p = a["location"]["path"].as_str().unwrap();
            let rel = if p.starts_with(prefix) { p.to_string() } else { format!("{prefix}/{p}") };
            (
                rel,
                a["kind"].as_str().unwrap().to_string(),
                a["framework"].as_str().unwrap().to_string(),
                a["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_pipeline_finds_exactly_the_golden_agents_and_traffic() {
    let f = fixtures();
    let mut p = plan(vec![f.join("code"), f.join("logs"), f.join("otel")]);
    p.iac = vec![f.join("iac")];
    p.k8s = vec![f.join("k8s")];
    let report = discover(&p);
    let mut expected = BTreeSet::new();
    for (file, prefix) in [
        ("code.golden.json", "code"),
        ("iac.golden.json", "iac"),
        ("k8s.golden.json", "k8s"),
        ("otel.golden.json", "otel"),
    ] {
        expected.extend(keys_of_golden(file, prefix));
    }
    let found = keys_of_report(&report);
    let missed: Vec<&Key> = expected.difference(&found).collect();
    let extra: Vec<&Key> = found.difference(&expected).collect();
    assert!(missed.is_empty() && extra.is_empty(), "missed (recall): {missed:#?}\nextra (precision): {extra:#?}");

    // Traffic: every (workload, host) of the log and trace goldens, and no other.
    let golden_traffic = |file: &str| -> BTreeSet<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f.join(file)).unwrap()).unwrap();
        v.as_object()
            .unwrap()
            .values()
            .flat_map(|x| x["traffic"].as_array().cloned().unwrap_or_default())
            .map(|t| (t["workload"].as_str().unwrap().to_string(), t["host"].as_str().unwrap().to_string()))
            .collect()
    };
    let mut expected_traffic = golden_traffic("logs.golden.json");
    expected_traffic.extend(golden_traffic("otel.golden.json"));
    let found_traffic: BTreeSet<(String, String)> =
        report.traffic.iter().map(|t| (t.workload.clone(), t.host.clone())).collect();
    assert_eq!(found_traffic, expected_traffic);
    assert!(report.credentials.is_empty(), "{:#?}", report.credentials);
    assert!(report.skipped.is_empty(), "{:#?}", report.skipped);
}

#[test]
fn the_negative_set_yields_nothing() {
    let report = discover(&plan(vec![fixtures().join("negative")]));
    assert!(report.agents.is_empty(), "{:#?}", report.agents);
    assert!(report.credentials.is_empty(), "{:#?}", report.credentials);
    assert!(report.traffic.is_empty(), "{:#?}", report.traffic);
    assert!(report.servers.is_empty(), "{:#?}", report.servers);
}
