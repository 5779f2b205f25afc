//! `custos ledger append --stdin`: bulk appends acknowledged in input order, and a bad line
//! that stops the run after the lines before it and before anything after it.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Write},
    process::Stdio,
    time::Duration,
};

use serde_json::Value;

use crate::support::{Ledger, exported_is, lines};

/// The `--json` acknowledgements: `(line, index)` pairs.
fn acks(stdout: &str) -> Vec<(u64, u64)> {
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("ack `{l}` is not JSON: {e}"));
            (v["line"].as_u64().unwrap(), v["index"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn bulk_append_acknowledges_every_line_in_order() {
    let l = Ledger::new();
    let before = l.size();
    let out = l.run_stdin(&["--json", "ledger", "append", "--stdin"], &lines(1, 500)).ok();
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let acks = acks(&out.stdout);
    assert_eq!(acks.len(), 500);
    assert_eq!(acks.iter().map(|a| a.0).collect::<Vec<_>>(), (1..=500).collect::<Vec<_>>(), "acks in input order");
    let indices: BTreeSet<u64> = acks.iter().map(|a| a.1).collect();
    assert_eq!(indices, (before..before + 500).collect(), "each line got its own new index");
    assert_eq!(l.size(), before + 500);
    assert_eq!(exported_is(&l.export()), (1..=500).collect::<Vec<_>>(), "ledger order is line order");
}

/// Regression: lines were once appended by racing tasks, so the ledger order could differ from
/// the input order. Each line is now queued (`Store::submit`) before the next is read.
#[test]
fn bulk_append_keeps_the_input_order_in_the_ledger() {
    let l = Ledger::new();
    let out = l.run_stdin(&["--json", "ledger", "append", "--stdin"], &lines(1, 500)).ok();
    for (line, index) in acks(&out.stdout) {
        assert_eq!(index, line, "line {line} became entry {index}");
    }
    assert_eq!(exported_is(&l.export()), (1..=500).collect::<Vec<_>>());
}

/// Regression: acknowledgements were once printed only when 512 appends were in flight or at
/// end of input, so a producer that waits for an ack before sending more lines waited forever.
#[test]
fn bulk_append_acknowledges_a_line_before_stdin_closes() {
    let l = Ledger::new();
    let mut child = l
        .cmd()
        .args(["--json", "ledger", "append", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    stdin.write_all(lines(1, 1).as_bytes()).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ack = String::new();
        let _ = BufReader::new(stdout).read_line(&mut ack);
        let _ = tx.send(ack);
    });
    let ack = rx.recv_timeout(Duration::from_secs(10));
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ack.ok().as_deref(), Some("{\"line\":1,\"index\":1}\n"), "no ack within 10 s of a line");
}

#[test]
fn bulk_append_text_acks_name_line_and_entry() {
    let l = Ledger::new();
    let out = l.run_stdin(&["ledger", "append", "--stdin"], &lines(1, 1)).ok();
    assert_eq!(out.stdout, "line 1: entry 1\n");
}

#[test]
fn a_malformed_line_stops_the_run_after_the_lines_before_it() {
    let l = Ledger::new();
    let mut input = lines(1, 10);
    input.push_str("{\"kind\":\"policy.proposed\",\"data\":\n");
    input.push_str(&lines(12, 9));
    let out = l.run_stdin(&["--json", "ledger", "append", "--stdin"], &input).code(3);
    assert!(out.stderr.starts_with("error: line 11, column 33: "), "{}", out.stderr);
    assert_eq!(acks(&out.stdout).iter().map(|a| a.0).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    assert_eq!(l.size(), 11);
    assert_eq!(exported_is(&l.export()), (1..=10).collect::<Vec<_>>(), "nothing of line 11 or after is appended");
}

#[test]
fn an_invalid_event_line_names_its_line_and_problem() {
    let l = Ledger::new();
    let cases = [
        ("{\"kind\":\"tool.nope\",\"data\":{}}", "unknown event kind `tool.nope`"),
        ("{\"kind\":\"policy.proposed\",\"data\":[1]}", "must be a JSON object"),
        ("{\"kind\":\"policy.proposed\",\"data\":{},\"extra\":1}", "unknown field `extra`"),
        ("{\"kind\":\"policy.proposed\",\"data\":{},\"agent\":\"Bad Agent\"}", "`Bad Agent`"),
    ];
    for (bad, why) in cases {
        let state = l.state();
        // Line 2 is blank: blank lines are skipped but still counted.
        let input = format!("{}\n{bad}\n{}", lines(100, 2).trim_end().replace('\n', "\n\n"), lines(200, 1));
        let out = l.run_stdin(&["ledger", "append", "--stdin"], &input).code(3);
        assert!(out.stderr.starts_with("error: line 4"), "{bad}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{bad}: {}", out.stderr);
        let export = l.export();
        assert_eq!(export.len(), state.export.lines().count() + 2, "{bad}");
        assert!(!exported_is(&export).contains(&200), "{bad}: a line after the bad one was appended");
    }
}

#[test]
fn an_oversized_line_is_refused_before_it_is_queued() {
    let l = Ledger::new();
    let big = format!("{{\"kind\":\"policy.proposed\",\"data\":{{\"x\":\"{}\"}}}}\n", "a".repeat(70_000));
    let out = l.run_stdin(&["ledger", "append", "--stdin"], &format!("{}{big}{}", lines(1, 1), lines(2, 1))).code(3);
    assert!(out.stderr.starts_with("error: line 2: "), "{}", out.stderr);
    assert!(out.stderr.contains("over the 65536-byte limit"), "{}", out.stderr);
    assert_eq!(exported_is(&l.export()), [1]);
}

#[test]
fn empty_stdin_appends_nothing() {
    let l = Ledger::new();
    let state = l.state();
    let out = l.run_stdin(&["ledger", "append", "--stdin"], "").ok();
    assert_eq!(out.stdout, "");
    assert_eq!(l.state(), state);
}
