//! Configuration: the data dir and config file from flags or `CUSTOS_*` variables (flags win),
//! and a config file with an unknown field refused with its name and line.

use std::fs;

use crate::support::{Ledger, Out, custos};

#[test]
fn the_data_dir_can_come_from_the_environment() {
    let l = Ledger::new();
    let out = Out::of(custos(l.root()).env("CUSTOS_DATA_DIR", &l.dir).args(["ledger", "key"]), None).ok();
    assert_eq!(out.stdout.trim(), l.verifier_key());
    Out::of(
        custos(l.root()).env("CUSTOS_DATA_DIR", &l.dir).args([
            "ledger",
            "append",
            "--kind",
            "probe.result",
            "--data",
            "{}",
        ]),
        None,
    )
    .ok();
    assert_eq!(l.size(), 2);
}

#[test]
fn the_data_dir_flag_beats_the_environment() {
    let a = Ledger::new();
    let b = Ledger::new();
    let out = Out::of(a.cmd().env("CUSTOS_DATA_DIR", &b.dir).args(["ledger", "key"]), None).ok();
    assert_eq!(out.stdout.trim(), a.verifier_key());
    assert_ne!(a.verifier_key(), b.verifier_key());
    // An unusable directory in the environment does not matter when the flag is given.
    Out::of(a.cmd().env("CUSTOS_DATA_DIR", a.root().join("nowhere")).args(["ledger", "verify"]), None).ok();
}

#[test]
fn an_unknown_field_in_the_config_file_names_the_file_and_line() {
    let l = Ledger::with_entries(1);
    let before = l.state();
    let path = l.dir.join("custos.toml");
    let good = fs::read_to_string(&path).unwrap();
    fs::write(&path, "[ledger]\ncheckpoint_interval_ms = 5\nbogus = 1\n").unwrap();
    for args in [&["ledger", "append", "--kind", "policy.proposed", "--data", "{}"][..], &["ledger", "verify"]] {
        l.run(args).fails(3, &["invalid config", "custos.toml:3`", "unknown field `bogus`", "max_batch"]);
    }
    fs::write(&path, "[ledgr]\nmax_batch = 5\n").unwrap();
    l.run(&["ledger", "checkpoint"]).fails(3, &["custos.toml:1`", "unknown field `ledgr`"]);
    fs::write(&path, good).unwrap();
    assert_eq!(l.state(), before);
}

#[test]
fn the_config_flag_beats_the_environment() {
    let l = Ledger::new();
    let bad = l.root().join("bad.toml");
    fs::write(&bad, "# a comment\n\n[ledger]\nmax_batch = \"many\"\n").unwrap();
    Out::of(l.cmd().env("CUSTOS_CONFIG", &bad).args(["ledger", "key"]), None)
        .fails(3, &["bad.toml:4`", "invalid config"]);
    Out::of(
        l.cmd().env("CUSTOS_CONFIG", &bad).arg("--config").arg(l.dir.join("custos.toml")).args(["ledger", "key"]),
        None,
    )
    .ok();
    // A config file named explicitly must exist.
    l.run(&["--config", "missing.toml", "ledger", "key"]).fails(1, &["cannot read the config file `missing.toml`"]);
}

#[test]
fn a_data_dir_without_a_config_file_uses_the_defaults() {
    let l = Ledger::new();
    fs::remove_file(l.dir.join("custos.toml")).unwrap();
    l.append("{}");
    assert_eq!(l.size(), 2);
}
