//! Tamper detection: a ledger of 10,000 entries, then 1,000+ random mutations, each on a fresh
//! copy, each of which `verify` must reject naming the right place; the untouched copy must
//! pass.

use std::path::{Path, PathBuf};

use custos_core::{Entry, MAX_ENTRY_BYTES};
use custos_ledger::tree::{stored_hash_count, stored_hash_position};
use custos_store::{
    Location, Store, VerifyReport, no_progress,
    sqlite::{SqliteOptions, SqliteStore},
};
use rusqlite::Connection;

use crate::support::{Rng, create, event, runtime, seed, signer};

const ENTRIES: u64 = 10_000;
const MUTATIONS: usize = 1_100;

/// One way to tamper, and where verify must say the problem is.
#[derive(Debug)]
enum Mutation {
    FlipEntryByte { index: u64, byte: usize, bit: u8 },
    FlipStoredHash { id: u64, byte: usize },
    FlipCheckpointText { size: u64, at: usize },
    FlipCheckpointSignature { size: u64, at: usize },
    DeleteEntry { index: u64 },
    SwapEntries { a: u64, b: u64 },
    TruncateEntries { keep: u64 },
    TruncateEverything { keep: u64 },
    InsertEntry { index: u64 },
    AppendEntry,
}

fn build(path: &Path) -> Vec<u64> {
    let rt = runtime();
    rt.block_on(async {
        let store = std::sync::Arc::new(create(
            path,
            SqliteOptions { checkpoint_interval: std::time::Duration::from_secs(3600), ..Default::default() },
        ));
        let mut n = 0;
        while n < ENTRIES {
            // Bursts of concurrent appends (several batches), then a checkpoint.
            let burst = 997.min(ENTRIES - n);
            let mut tasks = Vec::new();
            for k in 0..burst {
                let s = store.clone();
                tasks.push(tokio::spawn(async move { s.append(event(n + k)).await.unwrap() }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            n += burst;
            store.checkpoint().await.unwrap();
        }
        store.close().await.unwrap();
        store.checkpoints().await.unwrap().iter().map(|c| c.checkpoint.size).collect()
    })
}

fn verify(path: &Path) -> VerifyReport {
    let rt = runtime();
    rt.block_on(async {
        let store = SqliteStore::open_read_only(path, signer().verifier()).unwrap();
        store.verify(&signer().verifier(), no_progress()).await.unwrap()
    })
}

fn pick(rng: &mut Rng, checkpoints: &[u64], conn: &Connection) -> (Mutation, Location) {
    let n = ENTRIES;
    let entry_len = |i: u64| -> usize {
        conn.query_row("SELECT length(data) FROM entries WHERE idx = ?1", [i as i64], |r| r.get::<_, i64>(0)).unwrap()
            as usize
    };
    let note = |size: u64| -> String {
        conn.query_row("SELECT note FROM checkpoints WHERE size = ?1", [size as i64], |r| r.get(0)).unwrap()
    };
    match rng.below(10) {
        0 => {
            let index = rng.below(n);
            let byte = rng.below(entry_len(index) as u64) as usize;
            (Mutation::FlipEntryByte { index, byte, bit: rng.below(8) as u8 }, Location::Entry(index))
        }
        1 => {
            let id = rng.below(stored_hash_count(n));
            let at = stored_hash_position(id);
            let loc = if at.level == 0 {
                Location::Entry(at.entry)
            } else {
                Location::TreeHash { level: at.level, index: at.index, entry: at.entry }
            };
            (Mutation::FlipStoredHash { id, byte: rng.below(32) as usize }, loc)
        }
        2 => {
            let size = checkpoints[rng.below(checkpoints.len() as u64) as usize];
            let text_len = note(size).find("\n\n").unwrap();
            (
                Mutation::FlipCheckpointText { size, at: rng.below(text_len as u64) as usize },
                Location::Checkpoint { size },
            )
        }
        3 => {
            let size = checkpoints[rng.below(checkpoints.len() as u64) as usize];
            let nt = note(size);
            // Positions inside the base64 of the signature line (after "— name ").
            let line_start = nt.rfind('\u{2014}').unwrap();
            let b64_start = nt[line_start..].rfind(' ').unwrap() + line_start + 1;
            let b64_end = nt.trim_end_matches('\n').trim_end_matches('=').len();
            let at = b64_start + rng.below((b64_end - b64_start) as u64) as usize;
            (Mutation::FlipCheckpointSignature { size, at }, Location::Checkpoint { size })
        }
        4 => {
            let index = rng.below(n);
            (Mutation::DeleteEntry { index }, Location::Entry(index))
        }
        5 => {
            let a = rng.below(n - 1);
            let b = a + 1 + rng.below(n - a - 1);
            (Mutation::SwapEntries { a, b }, Location::Entry(a))
        }
        6 => {
            let keep = rng.below(n);
            (Mutation::TruncateEntries { keep }, Location::Entry(keep))
        }
        7 => {
            // Cut entries and hashes consistently: only the signed checkpoints can tell.
            let last = *checkpoints.last().unwrap();
            let keep = rng.below(last);
            (Mutation::TruncateEverything { keep }, Location::Entry(keep))
        }
        8 => {
            let index = rng.below(n);
            (Mutation::InsertEntry { index }, Location::Entry(index))
        }
        _ => (Mutation::AppendEntry, Location::Entry(n)),
    }
}

fn flip_char(s: &str, at: usize) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let c = bytes[at];
    // Replace with another character of the same class so the text stays UTF-8 and plausible.
    bytes[at] = match c {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => c + 1,
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        b'/' => b'+',
        b'+' => b'/',
        b'.' => b'-',
        b'-' => b'.',
        b'\n' => b' ',
        _ => b'x',
    };
    String::from_utf8(bytes).unwrap()
}

fn apply(conn: &Connection, m: &Mutation) {
    match *m {
        Mutation::FlipEntryByte { index, byte, bit } => {
            let mut data: Vec<u8> =
                conn.query_row("SELECT data FROM entries WHERE idx = ?1", [index as i64], |r| r.get(0)).unwrap();
            data[byte] ^= 1 << bit;
            conn.execute("UPDATE entries SET data = ?1 WHERE idx = ?2", rusqlite::params![data, index as i64]).unwrap();
        }
        Mutation::FlipStoredHash { id, byte } => {
            // A stored hash lives in the row of the entry whose append closed its subtree.
            let at = stored_hash_position(id);
            let mut h: Vec<u8> = conn
                .query_row("SELECT hashes FROM tree_hashes WHERE idx = ?1", [at.entry as i64], |r| r.get(0))
                .unwrap();
            h[usize::from(at.level) * 32 + byte] ^= 0x01;
            conn.execute("UPDATE tree_hashes SET hashes = ?1 WHERE idx = ?2", rusqlite::params![h, at.entry as i64])
                .unwrap();
        }
        Mutation::FlipCheckpointText { size, at } | Mutation::FlipCheckpointSignature { size, at } => {
            let note: String =
                conn.query_row("SELECT note FROM checkpoints WHERE size = ?1", [size as i64], |r| r.get(0)).unwrap();
            let changed = flip_char(&note, at);
            assert_ne!(changed, note);
            conn.execute("UPDATE checkpoints SET note = ?1 WHERE size = ?2", rusqlite::params![changed, size as i64])
                .unwrap();
        }
        Mutation::DeleteEntry { index } => {
            conn.execute("DELETE FROM entries WHERE idx = ?1", [index as i64]).unwrap();
        }
        Mutation::SwapEntries { a, b } => {
            conn.execute_batch(&format!(
                "UPDATE entries SET idx = -1 WHERE idx = {a};
                 UPDATE entries SET idx = {a} WHERE idx = {b};
                 UPDATE entries SET idx = {b} WHERE idx = -1;"
            ))
            .unwrap();
        }
        Mutation::TruncateEntries { keep } => {
            conn.execute("DELETE FROM entries WHERE idx >= ?1", [keep as i64]).unwrap();
        }
        Mutation::TruncateEverything { keep } => {
            conn.execute("DELETE FROM entries WHERE idx >= ?1", [keep as i64]).unwrap();
            conn.execute("DELETE FROM tree_hashes WHERE idx >= ?1", [keep as i64]).unwrap();
            conn.execute("DELETE FROM checkpoints WHERE size > ?1", [keep as i64]).unwrap();
            // The attacker keeps the newest checkpoint, which still states the old size:
            // without it the shorter log would look honest (that is what witnesses are for).
            let newest: String = conn.query_row("SELECT note FROM checkpoints_backup", [], |r| r.get(0)).unwrap();
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (size, note, created_at) VALUES (?1, ?2, 'x')",
                rusqlite::params![ENTRIES as i64, newest],
            )
            .unwrap();
        }
        Mutation::InsertEntry { index } => {
            conn.execute_batch(&format!(
                "UPDATE entries SET idx = -(idx + 1) WHERE idx >= {index};
                 UPDATE entries SET idx = -idx WHERE idx < 0;"
            ))
            .unwrap();
            let forged = Entry::from_event(&event(999_999)).unwrap();
            conn.execute(
                "INSERT INTO entries (idx, data) VALUES (?1, ?2)",
                rusqlite::params![index as i64, forged.as_bytes()],
            )
            .unwrap();
        }
        Mutation::AppendEntry => {
            let forged = Entry::from_event(&event(999_999)).unwrap();
            assert!(forged.len() <= MAX_ENTRY_BYTES);
            conn.execute(
                "INSERT INTO entries (idx, data) VALUES (?1, ?2)",
                rusqlite::params![ENTRIES as i64, forged.as_bytes()],
            )
            .unwrap();
        }
    }
}

fn copy_db(from: &Path, to: &Path) -> PathBuf {
    std::fs::copy(from, to).unwrap();
    to.to_path_buf()
}

#[test]
fn verify_rejects_every_mutation_at_the_right_place() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine.db");
    let checkpoints = build(&pristine);
    assert!(checkpoints.len() >= 10, "{checkpoints:?}");
    assert_eq!(*checkpoints.last().unwrap(), ENTRIES);
    // Keep the newest checkpoint aside for the consistent-truncation attack.
    {
        let conn = Connection::open(&pristine).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE checkpoints_backup AS SELECT note FROM checkpoints WHERE size = {ENTRIES};"
        ))
        .unwrap();
    }

    let untouched = verify(&copy_db(&pristine, &dir.path().join("untouched.db")));
    assert!(untouched.verified(), "the untouched copy must verify: {:?}", untouched.failures);
    assert_eq!(untouched.entries, ENTRIES);

    let mut rng = Rng(seed());
    let reader = Connection::open(&pristine).unwrap();
    let mut seen = std::collections::BTreeMap::<&'static str, usize>::new();
    for round in 0..MUTATIONS {
        let (m, expected) = pick(&mut rng, &checkpoints, &reader);
        let copy = copy_db(&pristine, &dir.path().join("copy.db"));
        {
            let conn = Connection::open(&copy).unwrap();
            apply(&conn, &m);
        }
        let report = verify(&copy);
        let first = report.failures.first().unwrap_or_else(|| panic!("round {round}: {m:?} was not detected"));
        assert_eq!(
            first.location, expected,
            "round {round}: {m:?}: first failure {first} (all: {:?})",
            report.failures
        );
        let name = format!("{m:?}");
        let name: &'static str = Box::leak(name.split([' ', '{']).next().unwrap().to_string().into_boxed_str());
        *seen.entry(name).or_default() += 1;
        std::fs::remove_file(&copy).unwrap();
    }
    eprintln!("mutations detected: {seen:?}");
    assert_eq!(seen.len(), 10, "every kind of mutation was exercised: {seen:?}");
}
