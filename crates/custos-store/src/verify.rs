//! `verify`: recompute every leaf and node from the stored entries and compare them with the
//! stored hashes, check every checkpoint's signature and root, and the consistency between
//! consecutive checkpoints. The report names the first index where anything differs.

use std::fmt;

use custos_core::MAX_ENTRY_BYTES;
use custos_ledger::{
    Hash, NoteVerifier, SignedCheckpoint,
    hash::leaf_hash,
    tree::{self, Frontier, StoredHash, stored_hash_position},
};
use rusqlite::{Connection, types::ValueRef};

use crate::{Progress, StoreError, sqlite::DbHashReader};

/// Where a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// An entry (its data, its position, or its leaf hash).
    Entry(u64),
    /// A stored hash of a complete subtree, written by the append of entry `entry`.
    TreeHash { level: u8, index: u64, entry: u64 },
    /// The signed checkpoint of `size` entries.
    Checkpoint { size: u64 },
}

impl Location {
    /// The ledger index this location stands for: an entry's index, the entry whose append
    /// wrote a tree hash, or a checkpoint's size.
    pub fn index(&self) -> u64 {
        match *self {
            Location::Entry(i) => i,
            Location::TreeHash { entry, .. } => entry,
            Location::Checkpoint { size } => size,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Entry(i) => write!(f, "entry {i}"),
            Location::TreeHash { level, index, entry } => {
                write!(f, "tree hash level {level} index {index} (written with entry {entry})")
            }
            Location::Checkpoint { size } => write!(f, "checkpoint of size {size}"),
        }
    }
}

/// One thing that is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    pub location: Location,
    pub what: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.what)
    }
}

/// The outcome of a verify run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: u64,
    /// The latest checkpoint's size, if any.
    pub latest_checkpoint: Option<u64>,
    /// The root recomputed from the entries.
    pub root: Hash,
    /// Every failure found, the first (lowest index) first. Empty means verified.
    pub failures: Vec<VerifyFailure>,
}

impl VerifyReport {
    pub fn verified(&self) -> bool {
        self.failures.is_empty()
    }

    /// Entries after the latest checkpoint: appended, but not yet under a signature.
    pub fn unsigned_tail(&self) -> u64 {
        self.entries - self.latest_checkpoint.unwrap_or(0).min(self.entries)
    }
}

/// Verifies the ledger in `conn` inside one read transaction (a consistent snapshot).
pub(crate) fn verify(
    conn: &mut Connection,
    verifier: &NoteVerifier,
    progress: &Progress,
) -> Result<VerifyReport, StoreError> {
    let tx = conn.transaction()?;
    let total: u64 = tx.query_row("SELECT COUNT(*) FROM entries", [], |r| r.get::<_, i64>(0))? as u64;
    let mut failures = Vec::new();

    // Checkpoints first: signatures need nothing else, and roots are compared while streaming.
    let mut checkpoints: Vec<(u64, Option<SignedCheckpoint>)> = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT size, note FROM checkpoints ORDER BY size")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let size = row.get::<_, i64>(0)? as u64;
            let note: String = row.get(1)?;
            match SignedCheckpoint::open(&note, verifier) {
                Ok(cp) if cp.checkpoint.size == size => checkpoints.push((size, Some(cp))),
                Ok(cp) => {
                    failures.push(VerifyFailure {
                        location: Location::Checkpoint { size },
                        what: format!("stored under size {size} but signs size {}", cp.checkpoint.size),
                    });
                    checkpoints.push((size, None));
                }
                Err(e) => {
                    failures.push(VerifyFailure { location: Location::Checkpoint { size }, what: e.to_string() });
                    checkpoints.push((size, None));
                }
            }
        }
    }

    let mut frontier = Frontier::new();
    let mut computed_roots: Vec<(u64, Hash)> = Vec::new();
    let mut next_cp = checkpoints.iter().map(|(s, _)| *s).peekable();
    while next_cp.peek() == Some(&0) {
        computed_roots.push((0, frontier.root()));
        next_cp.next();
    }
    let mut stored: Vec<StoredHash> = Vec::with_capacity(64);
    let mut entry_failure: Option<VerifyFailure> = None;
    {
        let mut entries_stmt = tx.prepare("SELECT idx, data FROM entries ORDER BY idx")?;
        let mut hashes_stmt = tx.prepare("SELECT id, hash FROM tree_hashes ORDER BY id")?;
        let mut entries = entries_stmt.query([])?;
        let mut hashes = hashes_stmt.query([])?;
        let mut expected: u64 = 0;
        'entries: while let Some(row) = entries.next()? {
            let idx = row.get::<_, i64>(0)? as u64;
            if idx != expected {
                entry_failure = Some(VerifyFailure {
                    location: Location::Entry(expected),
                    what: format!("entry {expected} is missing (the next stored entry is {idx})"),
                });
                break;
            }
            let Some(data) = bytes_of(row.get_ref(1)?) else {
                entry_failure = Some(VerifyFailure {
                    location: Location::Entry(idx),
                    what: "the stored entry is not bytes".into(),
                });
                break;
            };
            if data.len() > MAX_ENTRY_BYTES {
                entry_failure = Some(VerifyFailure {
                    location: Location::Entry(idx),
                    what: format!("entry is {} bytes, over the {MAX_ENTRY_BYTES}-byte limit", data.len()),
                });
                break;
            }
            stored.clear();
            frontier.push(leaf_hash(data), &mut stored);
            for &(pos, computed) in &stored {
                let at = stored_hash_position(pos);
                let location = if at.level == 0 {
                    Location::Entry(idx)
                } else {
                    Location::TreeHash { level: at.level, index: at.index, entry: idx }
                };
                let Some(hrow) = hashes.next()? else {
                    entry_failure = Some(VerifyFailure {
                        location,
                        what: format!(
                            "the stored hash at position {pos} is missing (entry inserted, or hashes truncated)"
                        ),
                    });
                    break 'entries;
                };
                let id = hrow.get::<_, i64>(0)? as u64;
                let value = bytes_of(hrow.get_ref(1)?).unwrap_or_default();
                if id != pos {
                    entry_failure = Some(VerifyFailure {
                        location,
                        what: format!("expected the stored hash at position {pos}, found position {id}"),
                    });
                    break 'entries;
                }
                if value != computed.as_bytes() {
                    let what = if at.level == 0 {
                        "the leaf hash recomputed from the entry differs from the stored leaf hash (entry or hash changed)"
                    } else {
                        "the node hash recomputed from the entries differs from the stored hash"
                    };
                    entry_failure = Some(VerifyFailure { location, what: what.to_string() });
                    break 'entries;
                }
            }
            expected += 1;
            while next_cp.peek() == Some(&expected) {
                computed_roots.push((expected, frontier.root()));
                next_cp.next();
            }
            if expected % 65_536 == 0 {
                progress(expected, total);
            }
        }
        if entry_failure.is_none() {
            if let Some(hrow) = hashes.next()? {
                let id = hrow.get::<_, i64>(0)? as u64;
                let at = stored_hash_position(id);
                entry_failure = Some(VerifyFailure {
                    location: Location::Entry(expected),
                    what: format!(
                        "entry {expected} is missing: the stored hashes go on to entry {} (entries truncated or deleted)",
                        at.entry
                    ),
                });
            }
        }
    }
    progress(frontier.size(), total);
    let verified_size = if entry_failure.is_some() { None } else { Some(frontier.size()) };
    if let Some(f) = entry_failure {
        failures.push(f);
    }

    // Roots and consistency of the checkpoints the entries reached.
    let roots: std::collections::HashMap<u64, Hash> = computed_roots.into_iter().collect();
    let mut previous: Option<&SignedCheckpoint> = None;
    for (size, cp) in &checkpoints {
        let Some(cp) = cp else { continue };
        match roots.get(size) {
            Some(root) if *root == cp.checkpoint.root => {}
            Some(_) => failures.push(VerifyFailure {
                location: Location::Checkpoint { size: *size },
                what: "the signed root differs from the root recomputed from the entries".into(),
            }),
            None if verified_size.is_some_and(|n| *size > n) => failures.push(VerifyFailure {
                location: Location::Entry(verified_size.unwrap_or_default()),
                what: format!(
                    "the checkpoint of size {size} covers entries up to {}, but the ledger ends at {} (entries truncated)",
                    size - 1,
                    verified_size.unwrap_or_default()
                ),
            }),
            None => {}
        }
        if let (Some(prev), Some(n)) = (previous, verified_size) {
            if *size <= n {
                let reader = DbHashReader::new(&tx);
                let ok = tree::consistency_proof(&reader, prev.checkpoint.size, *size).and_then(|proof| {
                    tree::verify_consistency(
                        prev.checkpoint.size,
                        *size,
                        &prev.checkpoint.root,
                        &cp.checkpoint.root,
                        &proof,
                    )
                });
                if let Err(e) = ok {
                    failures.push(VerifyFailure {
                        location: Location::Checkpoint { size: *size },
                        what: format!("not consistent with the checkpoint of size {}: {e}", prev.checkpoint.size),
                    });
                }
            }
        }
        previous = Some(cp);
    }

    failures.sort_by_key(|f| (f.location.index(), !matches!(f.location, Location::Entry(_))));
    let checked = checkpoints.iter().filter(|(_, cp)| cp.is_some()).count() as u64;
    Ok(VerifyReport {
        entries: frontier.size(),
        checkpoints: checked,
        latest_checkpoint: checkpoints.last().map(|(s, _)| *s),
        root: frontier.root(),
        failures,
    })
}

/// The bytes of a stored value; tampering may have changed its SQL type.
fn bytes_of(v: ValueRef<'_>) -> Option<&[u8]> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b),
        _ => None,
    }
}
