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
use std::{
    collections::HashMap,
    sync::mpsc::{Receiver, SyncSender},
};

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
    /// Entries stored.
    pub stored: u64,
    /// Entries verified: all of them when verified, else those before the first bad one.
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

    /// The index of the first bad entry (or the entry whose append wrote a bad tree hash), if
    /// the first failure is about an entry rather than a checkpoint.
    pub fn first_bad_entry(&self) -> Option<u64> {
        self.failures.first().and_then(|f| match f.location {
            Location::Entry(i) | Location::TreeHash { entry: i, .. } => Some(i),
            Location::Checkpoint { .. } => None,
        })
    }
}

/// Entries per chunk handed from the reading thread to the checking thread.
const CHUNK: usize = 4096;

/// What the reading thread sends.
enum Read {
    /// `total` entries are stored; these are the checkpoints (size, note).
    Start {
        total: u64,
        checkpoints: Vec<(u64, String)>,
    },
    /// Leaf hashes of entries `first..first + leaves.len()`, and the stored hashes at the
    /// positions those appends wrote (`None` where the stored value is not 32 bytes).
    Chunk {
        first: u64,
        leaves: Vec<Hash>,
        stored: Vec<(u64, Option<Hash>)>,
    },
    /// A problem found while reading (a gap, an oversized entry); nothing after it was read.
    Failure(VerifyFailure),
    /// Stored hashes of entry `idx`, past the last stored entry.
    ExtraHashes(u64),
    Error(StoreError),
}

/// Verifies the ledger in `conn`. One thread reads a consistent snapshot (one read
/// transaction) and hashes the leaves; this thread recomputes the nodes and compares, so the
/// two cores share the work.
pub(crate) fn verify(
    conn: &mut Connection,
    verifier: &NoteVerifier,
    progress: &Progress,
) -> Result<VerifyReport, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Read>(4);
    let outcome = std::thread::scope(|scope| {
        let reader = &mut *conn;
        scope.spawn(move || {
            if let Err(e) = read(reader, &tx) {
                let _ = tx.send(Read::Error(e));
            }
        });
        check(rx, verifier, progress)
    })?;
    let (mut report, pairs) = outcome;
    // Consecutive checkpoints must be consistent: prove it from the stored hashes.
    let reader = DbHashReader::new(conn);
    for (old, new) in pairs {
        let ok = tree::consistency_proof(&reader, old.checkpoint.size, new.checkpoint.size).and_then(|proof| {
            tree::verify_consistency(
                old.checkpoint.size,
                new.checkpoint.size,
                &old.checkpoint.root,
                &new.checkpoint.root,
                &proof,
            )
        });
        if let Err(e) = ok {
            report.failures.push(VerifyFailure {
                location: Location::Checkpoint { size: new.checkpoint.size },
                what: format!("not consistent with the checkpoint of size {}: {e}", old.checkpoint.size),
            });
        }
    }
    report.failures.sort_by_key(|f| (f.location.index(), !matches!(f.location, Location::Entry(_))));
    Ok(report)
}

/// The reading side: entries and their stored hashes in one snapshot, leaf hashes computed here.
fn read(conn: &mut Connection, out: &SyncSender<Read>) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let total = tx.query_row("SELECT COUNT(*) FROM entries", [], |r| r.get::<_, i64>(0))? as u64;
    let checkpoints = {
        let mut stmt = tx.prepare("SELECT size, note FROM checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    if out.send(Read::Start { total, checkpoints }).is_err() {
        return Ok(());
    }
    let mut entries_stmt = tx.prepare("SELECT idx, data FROM entries ORDER BY idx")?;
    let mut hashes_stmt = tx.prepare("SELECT idx, hashes FROM tree_hashes ORDER BY idx")?;
    let mut entries = entries_stmt.query([])?;
    let mut hashes = hashes_stmt.query([])?;
    let mut expected = 0u64;
    loop {
        let first = expected;
        let mut leaves = Vec::with_capacity(CHUNK);
        let mut stored = Vec::with_capacity(CHUNK * 2);
        let mut failure = None;
        while leaves.len() < CHUNK {
            let Some(row) = entries.next()? else { break };
            let idx = row.get::<_, i64>(0)? as u64;
            let fail = |what: String| Some(VerifyFailure { location: Location::Entry(expected), what });
            if idx != expected {
                failure = fail(format!("entry {expected} is missing (the next stored entry is {idx})"));
                break;
            }
            let Some(data) = bytes_of(row.get_ref(1)?) else {
                failure = fail("the stored entry is not bytes".into());
                break;
            };
            if data.len() > MAX_ENTRY_BYTES {
                failure = fail(format!("entry is {} bytes, over the {MAX_ENTRY_BYTES}-byte limit", data.len()));
                break;
            }
            // The append of entry `idx` stored its leaf hash and one hash per subtree it closed.
            let count = 1 + u64::from(idx.trailing_ones());
            let Some(hrow) = hashes.next()? else {
                failure = fail(format!("the stored hashes of entry {idx} are missing (entries added after the fact?)"));
                break;
            };
            let hidx = hrow.get::<_, i64>(0)? as u64;
            if hidx != idx {
                failure = fail(format!("the stored hashes of entry {idx} are missing (found those of entry {hidx})"));
                break;
            }
            let blob = bytes_of(hrow.get_ref(1)?).unwrap_or_default();
            if blob.len() as u64 != count * Hash::LEN as u64 {
                failure =
                    fail(format!("entry {idx} has {} bytes of stored hashes, {} expected", blob.len(), count * 32));
                break;
            }
            let first_pos = tree::stored_hash_index(0, idx);
            for (j, chunk) in blob.chunks_exact(Hash::LEN).enumerate() {
                stored.push((first_pos + j as u64, Hash::from_slice(chunk).ok()));
            }
            leaves.push(leaf_hash(data));
            expected += 1;
        }
        let last = leaves.len() < CHUNK || failure.is_some();
        if !leaves.is_empty() && out.send(Read::Chunk { first, leaves, stored }).is_err() {
            return Ok(());
        }
        if let Some(f) = failure {
            let _ = out.send(Read::Failure(f));
            return Ok(());
        }
        if last {
            break;
        }
    }
    if let Some(row) = hashes.next()? {
        let _ = out.send(Read::ExtraHashes(row.get::<_, i64>(0)? as u64));
    }
    Ok(())
}

type ConsecutivePairs = Vec<(SignedCheckpoint, SignedCheckpoint)>;

/// The checking side: recompute nodes, compare with the stored hashes, check checkpoints.
fn check(
    rx: Receiver<Read>,
    verifier: &NoteVerifier,
    progress: &Progress,
) -> Result<(VerifyReport, ConsecutivePairs), StoreError> {
    let mut failures = Vec::new();
    let Ok(Read::Start { total, checkpoints: rows }) = rx.recv() else {
        return match rx.recv() {
            Ok(Read::Error(e)) => Err(e),
            _ => Err(StoreError::Internal("the verify reader stopped early".into())),
        };
    };
    // Checkpoint signatures need nothing else; roots are compared as the entries reach them.
    let mut checkpoints: Vec<(u64, Option<SignedCheckpoint>)> = Vec::new();
    for (size, note) in rows {
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
    let mut frontier = Frontier::new();
    let mut roots: HashMap<u64, Hash> = HashMap::new();
    let mut next_cp = checkpoints.iter().map(|(s, _)| *s).peekable();
    while next_cp.peek() == Some(&0) {
        roots.insert(0, frontier.root());
        next_cp.next();
    }
    let mut computed: Vec<StoredHash> = Vec::with_capacity(64);
    let mut entry_failure: Option<VerifyFailure> = None;
    'stream: for msg in rx.iter() {
        match msg {
            Read::Start { .. } => {}
            Read::Error(e) => return Err(e),
            Read::Failure(f) => {
                entry_failure = Some(f);
                break;
            }
            Read::ExtraHashes(idx) => {
                let n = frontier.size();
                entry_failure = Some(VerifyFailure {
                    location: Location::Entry(n),
                    what: format!(
                        "entry {n} is missing: stored hashes go on to entry {idx} (entries truncated or deleted)"
                    ),
                });
                break;
            }
            Read::Chunk { first, leaves, stored } => {
                let mut stored = stored.into_iter();
                for (k, leaf) in leaves.into_iter().enumerate() {
                    let idx = first + k as u64;
                    computed.clear();
                    frontier.push(leaf, &mut computed);
                    for &(pos, value) in &computed {
                        let at = stored_hash_position(pos);
                        let location = if at.level == 0 {
                            Location::Entry(idx)
                        } else {
                            Location::TreeHash { level: at.level, index: at.index, entry: idx }
                        };
                        let what = match stored.next() {
                            None => format!("the stored hash at position {pos} is missing (entry inserted, or hashes truncated)"),
                            Some((id, _)) if id != pos => format!("expected the stored hash at position {pos}, found position {id}"),
                            Some((_, Some(h))) if h == value => continue,
                            Some(_) if at.level == 0 => "the leaf hash recomputed from the entry differs from the stored leaf hash (entry or hash changed)".into(),
                            Some(_) => "the node hash recomputed from the entries differs from the stored hash".into(),
                        };
                        entry_failure = Some(VerifyFailure { location, what });
                        break 'stream;
                    }
                    while next_cp.peek() == Some(&frontier.size()) {
                        roots.insert(frontier.size(), frontier.root());
                        next_cp.next();
                    }
                }
                progress(frontier.size(), total);
            }
        }
    }
    drop(rx);
    progress(frontier.size(), total);
    let verified_size = if entry_failure.is_some() { None } else { Some(frontier.size()) };
    let good_entries = entry_failure.as_ref().map_or(frontier.size(), |f| f.location.index());
    if let Some(f) = entry_failure {
        failures.push(f);
    }

    // Roots of the checkpoints the entries reached; checkpoints past the end mean truncation.
    let mut pairs = Vec::new();
    let mut previous: Option<&SignedCheckpoint> = None;
    for (size, cp) in &checkpoints {
        let Some(cp) = cp else { continue };
        match roots.get(size) {
            Some(root) if *root == cp.checkpoint.root => {
                if let Some(prev) = previous {
                    pairs.push((prev.clone(), cp.clone()));
                }
            }
            Some(_) => failures.push(VerifyFailure {
                location: Location::Checkpoint { size: *size },
                what: "the signed root differs from the root recomputed from the entries".into(),
            }),
            None => {
                if let Some(n) = verified_size
                    && *size > n
                {
                    failures.push(VerifyFailure {
                        location: Location::Entry(n),
                        what: format!(
                            "the checkpoint of size {size} covers entries up to {}, but the ledger ends at {n} (entries truncated)",
                            size - 1
                        ),
                    });
                }
            }
        }
        previous = Some(cp);
    }
    let checked = checkpoints.iter().filter(|(_, cp)| cp.is_some()).count() as u64;
    let report = VerifyReport {
        stored: total,
        entries: good_entries,
        checkpoints: checked,
        latest_checkpoint: checkpoints.last().map(|(s, _)| *s),
        root: frontier.root(),
        failures,
    };
    Ok((report, pairs))
}

/// The bytes of a stored value; tampering may have changed its SQL type.
fn bytes_of(v: ValueRef<'_>) -> Option<&[u8]> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b),
        _ => None,
    }
}
