//! `custos init`: the files it creates, the key's mode, the admin token shown once and stored
//! only as a hash, and the directories it refuses to touch.

use std::{fs, os::unix::fs::PermissionsExt};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::support::{Ledger, ORIGIN, Out, custos, files, names};

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The token `init` printed in text mode: the line after the "admin token" heading.
fn token_of(stdout: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("admin token"));
    lines.next().expect("an admin token heading");
    lines.next().expect("the admin token line").trim().to_owned()
}

#[test]
fn init_creates_the_data_dir_with_a_private_key_and_a_hashed_token() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("data");
    let out = Out::of(custos(tmp.path()).arg("--data-dir").arg(&dir).args(["init", "--origin", ORIGIN]), None).ok();
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(out.stdout.contains(&format!("origin:        {ORIGIN}")), "{}", out.stdout);

    let expected = [".custos-data-dir", "admin-token.sha256", "custos.toml", "ledger.db", "signing.key"];
    let found = names(&dir);
    for f in expected {
        assert!(found.iter().any(|n| n == f), "{f} missing from {found:?}");
    }
    // Beyond those, only the database's companions (`-wal`, `-shm`, `.lock`).
    assert!(found.iter().all(|n| expected.contains(&n.as_str()) || n.starts_with("ledger.db")), "{found:?}");
    assert_eq!(mode(&dir.join("signing.key")), 0o600);
    assert_eq!(mode(&dir.join("admin-token.sha256")), 0o600);
    assert_eq!(mode(&dir), 0o700);

    // The token is shown once, and only its SHA-256 is kept.
    let token = token_of(&out.stdout);
    assert!(token.starts_with("custos_admin_") && token.len() > 40, "{token}");
    assert_eq!(out.stdout.matches(&token).count(), 1);
    for (path, bytes) in files(&dir) {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the admin token is stored in {}",
            path.display()
        );
    }
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    assert_eq!(fs::read_to_string(dir.join("admin-token.sha256")).unwrap(), format!("sha256:{digest}\n"));

    // The printed verifier key is the one the data dir's key answers to, and the ledger
    // starts verified with its genesis entry.
    let key_line = out.stdout.lines().find_map(|l| l.trim().strip_prefix("verifier key:")).expect("verifier key line");
    let key = Out::of(custos(tmp.path()).arg("--data-dir").arg(&dir).args(["ledger", "key"]), None).ok();
    assert_eq!(key.stdout.trim(), key_line.trim());
    let verify = Out::of(custos(tmp.path()).arg("--data-dir").arg(&dir).args(["ledger", "verify"]), None).ok();
    assert!(verify.stdout.starts_with("ledger verified: 1 entry, 1 checkpoint"), "{}", verify.stdout);
    // Nothing is left next to the data dir (the staging directory was renamed into place).
    assert_eq!(names(tmp.path()), ["data"]);
}

#[test]
fn init_json_output_has_the_token_key_and_origin() {
    let l = Ledger::new();
    let v = &l.init;
    assert_eq!(v["origin"], ORIGIN);
    assert_eq!(v["data_dir"], l.dir.display().to_string());
    let key = v["verifier_key"].as_str().unwrap();
    assert!(key.starts_with(&format!("{ORIGIN}+")), "{key}");
    let token = v["admin_token"].as_str().unwrap();
    assert!(token.starts_with("custos_admin_"), "{token}");
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    assert_eq!(fs::read_to_string(l.dir.join("admin-token.sha256")).unwrap(), format!("sha256:{digest}\n"));
    assert_eq!(l.run(&["ledger", "key"]).ok().stdout.trim(), key);
}

#[test]
fn init_without_an_origin_picks_a_random_one_and_defaults_to_custos_data() {
    let tmp = TempDir::new().unwrap();
    let a = Out::of(custos(tmp.path()).args(["--json", "init"]), None).ok().json();
    assert!(tmp.path().join("custos-data/.custos-data-dir").is_file());
    let origin = a["origin"].as_str().unwrap();
    assert!(origin.starts_with("custos/") && origin.len() == "custos/".len() + 16, "{origin}");
    let b = Out::of(custos(tmp.path()).args(["--data-dir", "second", "--json", "init"]), None).ok().json();
    assert_ne!(a["origin"], b["origin"]);
    assert_ne!(a["admin_token"], b["admin_token"]);
}

#[test]
fn init_accepts_an_existing_empty_dir() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("data");
    fs::create_dir(&dir).unwrap();
    Out::of(custos(tmp.path()).arg("--data-dir").arg(&dir).arg("init"), None).ok();
    assert!(dir.join("signing.key").is_file());
}

#[test]
fn init_refuses_an_existing_data_dir_and_changes_nothing() {
    let l = Ledger::new();
    l.append(r#"{"before":"reinit"}"#);
    let before = files(l.root());
    l.run(&["init", "--origin", ORIGIN]).fails(1, &["already exists and is not empty", "refusing to overwrite"]);
    l.run(&["--json", "init"]).fails(1, &["already exists"]);
    assert_eq!(files(l.root()), before, "a refused init changed files");
    l.size();
}

#[test]
fn init_refuses_a_non_empty_foreign_dir_and_changes_nothing() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("notes");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("todo.txt"), "buy milk\n").unwrap();
    let before = files(tmp.path());
    Out::of(custos(tmp.path()).arg("--data-dir").arg(&dir).arg("init"), None)
        .fails(1, &["notes", "already exists and is not empty"]);
    assert_eq!(files(tmp.path()), before);
    assert_eq!(names(tmp.path()), ["notes"]);
}

#[test]
fn init_rejects_an_origin_with_a_space_as_invalid_input() {
    let tmp = TempDir::new().unwrap();
    Out::of(custos(tmp.path()).args(["--data-dir", "data", "init", "--origin", "has space"]), None)
        .fails(3, &["--origin", "`has space`"]);
    assert!(names(tmp.path()).is_empty(), "left behind: {:?}", names(tmp.path()));
}
