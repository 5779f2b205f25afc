//! `ledger verify` on a copy of a ledger whose stored bytes were changed behind custos's back:
//! exit 2 and the index of the first bad entry, while the original still verifies.

use std::{fs, path::Path};

use crate::support::{Ledger, Out, custos};

/// Copies the files of data dir `from` into a new data dir `to` (permissions included).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Flips one bit in the middle of entry `index`'s stored bytes. Run only while no custos
/// process has the ledger open.
fn flip_entry_byte(db: &Path, index: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut data: Vec<u8> = conn.query_row("SELECT data FROM entries WHERE idx = ?1", [index], |r| r.get(0)).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x01;
    let n = conn.execute("UPDATE entries SET data = ?1 WHERE idx = ?2", rusqlite::params![data, index]).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn verify_names_the_first_tampered_entry() {
    let l = Ledger::with_entries(9);
    let copy = l.root().join("copy");
    copy_dir(&l.dir, &copy);
    flip_entry_byte(&copy.join("ledger.db"), 5);
    flip_entry_byte(&copy.join("ledger.db"), 7);

    let run = |args: &[&str]| Out::of(custos(l.root()).arg("--data-dir").arg(&copy).args(args), None);
    let out = run(&["ledger", "verify"]).code(2);
    assert!(out.stdout.starts_with("ledger NOT verified: first problem at entry 5: "), "{}", out.stdout);
    assert!(out.stdout.contains("leaf hash"), "{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);

    let v = run(&["--json", "ledger", "verify"]).code(2).json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["first_bad_index"], 5);
    assert_eq!(v["failures"][0]["entry"], 5);
    assert_eq!(v["entries"], 10);
    assert_eq!(v["entries_verified"], 5);
    assert_eq!(v["failures"][0]["location"], "entry 5");

    // The original was not touched.
    let ok = l.run(&["--json", "ledger", "verify"]).ok().json();
    assert_eq!(ok["verified"], true);
    assert_eq!(ok["entries"], 10);
}

#[test]
fn verify_catches_a_tampered_genesis_entry() {
    let l = Ledger::with_entries(2);
    flip_entry_byte(&l.dir.join("ledger.db"), 0);
    let v = l.run(&["--json", "ledger", "verify"]).code(2).json();
    assert_eq!(v["first_bad_index"], 0);
    assert_eq!(v["verified"], false);
}
