//! The writer thread: the only code that changes the ledger.
//!
//! Appends queue on a channel. The thread takes everything queued (up to `max_batch`), writes
//! the entries, their stored hashes and the projections in ONE transaction, commits (one WAL
//! sync), and answers every caller. Callers build their own inclusion proofs from a
//! [`BatchView`] of the hashes the batch touched, so the single writer thread only hashes and
//! writes. A checkpoint is signed at most once per interval while entries arrive, on demand,
//! and when the store closes.

use std::{
    collections::HashMap,
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use custos_core::{Entry, Event};
use custos_ledger::{
    Checkpoint, Hash, LedgerError, NoteSigner, SignedCheckpoint,
    tree::{Frontier, HashReader, StoredHash, stored_hash_index},
};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{oneshot, watch};

use crate::{Progress, ReplayReport, StoreError, projection::Projection};

#[allow(clippy::large_enum_variant, reason = "appends are nearly every message; boxing would cost an allocation each")]
pub(crate) enum Msg {
    /// `leaf` is the entry's leaf hash, computed by the caller so the writer thread, the one
    /// sequential step, does not have to.
    Append {
        entry: Entry,
        leaf: Hash,
        event: Event,
        /// Told the entry's index once it is written to the WAL, before the sync (see
        /// [`crate::Store::submit_staged`]).
        written: Option<oneshot::Sender<Result<u64, StoreError>>>,
        reply: oneshot::Sender<Result<Committed, StoreError>>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<SignedCheckpoint, StoreError>>,
    },
    Replay {
        progress: Progress,
        reply: oneshot::Sender<Result<ReplayReport, StoreError>>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// A write outside the ledger (operational tables only), run between batches.
    Exec {
        f: ExecFn,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// A write the writer thread runs on its connection.
pub(crate) type ExecFn = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

/// What the writer hands back for one committed entry.
pub(crate) struct Committed {
    pub index: u64,
    pub tree_size: u64,
    pub root: Hash,
    pub view: Arc<BatchView>,
    /// The entry and event, handed back so the caller's thread frees them: freeing on the
    /// writer thread memory that another thread allocated took ~1.4 µs per event (allocator
    /// locks) on the one sequential step (measured).
    pub spent: (Entry, Event),
}

/// The hashes a proof for an entry of one batch can need: the frontier before the batch and
/// every hash the batch stored. (A left sibling of a path through the batch is either a
/// complete subtree that ended before the batch, hence on the old frontier, or one completed
/// inside the batch; every right sibling lies inside the batch.)
pub(crate) struct BatchView {
    hashes: HashMap<u64, Hash>,
}

impl HashReader for BatchView {
    fn hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.hashes.get(&stored_hash_index(level, index)).copied().ok_or_else(|| LedgerError::MissingHash {
            level,
            index,
            why: "not in the batch view".into(),
        })
    }
}

pub(crate) struct Writer {
    pub conn: Connection,
    pub signer: NoteSigner,
    pub frontier: Frontier,
    pub projections: Arc<Vec<Box<dyn Projection>>>,
    pub latest: watch::Sender<Option<SignedCheckpoint>>,
    pub interval: Duration,
    pub max_batch: usize,
    pub wal: WalSync,
    /// Held for the writer's lifetime: the lock that keeps a second writer out.
    pub _lock: std::fs::File,
}

struct Pending {
    entry: Entry,
    leaf: Hash,
    event: Event,
    written: Option<oneshot::Sender<Result<u64, StoreError>>>,
    reply: oneshot::Sender<Result<Committed, StoreError>>,
}

impl Writer {
    fn checkpointed_size(&self) -> u64 {
        self.latest.borrow().as_ref().map_or(0, |c| c.checkpoint.size)
    }

    pub fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut last_checkpoint = Instant::now();
        loop {
            let dirty = self.frontier.size() > self.checkpointed_size();
            let wait =
                if dirty { self.interval.saturating_sub(last_checkpoint.elapsed()) } else { Duration::from_secs(3600) };
            let first = match rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The store was dropped without close(): still leave every entry signed.
                    let _ = self.sign_checkpoint();
                    return;
                }
            };
            let mut batch = Vec::new();
            let mut other = None;
            let mut next = first;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append { entry, leaf, event, written, reply } => {
                        batch.push(Pending { entry, leaf, event, written, reply })
                    }
                    m => {
                        other = Some(m);
                        break;
                    }
                }
                if batch.len() >= self.max_batch {
                    break;
                }
                next = rx.try_recv().ok();
            }
            if !batch.is_empty() {
                self.commit_batch(batch);
            }
            match other {
                None => {}
                Some(Msg::Checkpoint { reply }) => {
                    let r = self.sign_checkpoint();
                    last_checkpoint = Instant::now();
                    let _ = reply.send(r);
                }
                Some(Msg::Replay { progress, reply }) => {
                    let _ = reply.send(self.replay(&progress));
                }
                Some(Msg::Exec { f, reply }) => {
                    let _ = reply.send(f(&self.conn));
                }
                Some(Msg::Shutdown { reply }) => {
                    // Everything queued before the shutdown is committed first.
                    let rest: Vec<Pending> = rx
                        .try_iter()
                        .filter_map(|m| match m {
                            Msg::Append { entry, leaf, event, written, reply } => {
                                Some(Pending { entry, leaf, event, written, reply })
                            }
                            _ => None,
                        })
                        .collect();
                    if !rest.is_empty() {
                        self.commit_batch(rest);
                    }
                    let signed = self.sign_checkpoint().map(drop);
                    // Fold the WAL into the database so a closed ledger is one compact file.
                    let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
                    let _ = reply.send(signed);
                    return;
                }
                Some(Msg::Append { .. }) => {}
            }
            if self.frontier.size() > self.checkpointed_size() && last_checkpoint.elapsed() >= self.interval {
                if let Err(e) = self.sign_checkpoint() {
                    // Entries stay durable; the next interval tries again.
                    eprintln!("custos: signing a checkpoint failed: {e}");
                }
                last_checkpoint = Instant::now();
            }
        }
    }

    /// Writes one batch in one transaction, tells the callers who asked that it is written,
    /// syncs the WAL, then answers everyone. If the batch fails as a whole, each entry is tried
    /// on its own so one bad entry cannot fail its neighbours.
    fn commit_batch(&mut self, mut batch: Vec<Pending>) {
        let before = self.frontier.clone();
        match self.write(&batch) {
            Ok(view) => {
                let first = before.size();
                for (i, p) in batch.iter_mut().enumerate() {
                    if let Some(w) = p.written.take() {
                        let _ = w.send(Ok(first + i as u64));
                    }
                }
                // The sync is the slow step (~250 µs on this machine kind's disk); callers that
                // asked to be told at `written` overlap it with their own work.
                if let Err(e) = self.wal.sync() {
                    // The entries are in the WAL but not known to be on disk: nobody is told
                    // they are durable. (They may still survive; a later verify covers them.)
                    for p in batch {
                        let _ = p.reply.send(Err(e.repeat()));
                    }
                    return;
                }
                let view = Arc::new(view);
                let (tree_size, root) = (self.frontier.size(), self.frontier.root());
                for (i, p) in batch.into_iter().enumerate() {
                    let committed = Committed {
                        index: first + i as u64,
                        tree_size,
                        root,
                        view: view.clone(),
                        spent: (p.entry, p.event),
                    };
                    let _ = p.reply.send(Ok(committed));
                }
            }
            Err(e) => {
                self.frontier = before;
                if batch.len() == 1 {
                    if let Some(p) = batch.into_iter().next() {
                        if let Some(w) = p.written {
                            let _ = w.send(Err(e.repeat()));
                        }
                        let _ = p.reply.send(Err(e));
                    }
                    return;
                }
                for p in batch {
                    self.commit_batch(vec![p]);
                }
            }
        }
    }

    fn write(&mut self, batch: &[Pending]) -> Result<BatchView, StoreError> {
        let mut hashes: HashMap<u64, Hash> = HashMap::with_capacity(batch.len() * 2 + 64);
        for (level, index, h) in self.frontier.nodes() {
            hashes.insert(stored_hash_index(level, index), h);
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut ins_entry = tx.prepare_cached("INSERT INTO entries (idx, data) VALUES (?1, ?2)")?;
            let mut ins_hashes = tx.prepare_cached("INSERT INTO tree_hashes (idx, hashes) VALUES (?1, ?2)")?;
            let mut stored: Vec<StoredHash> = Vec::with_capacity(8);
            let mut blob: Vec<u8> = Vec::with_capacity(8 * Hash::LEN);
            for p in batch {
                let index = self.frontier.size();
                stored.clear();
                blob.clear();
                self.frontier.push(p.leaf, &mut stored);
                for (id, h) in &stored {
                    blob.extend_from_slice(h.as_bytes());
                    hashes.insert(*id, *h);
                }
                ins_entry.execute(rusqlite::params![index as i64, p.entry.as_bytes()])?;
                ins_hashes.execute(rusqlite::params![index as i64, &blob])?;
                for proj in self.projections.iter() {
                    proj.apply(&tx, index, &p.event)?;
                }
            }
        }
        tx.commit()?;
        Ok(BatchView { hashes })
    }

    fn sign_checkpoint(&mut self) -> Result<SignedCheckpoint, StoreError> {
        let size = self.frontier.size();
        if let Some(cp) = self.latest.borrow().as_ref()
            && cp.checkpoint.size == size
        {
            return Ok(cp.clone());
        }
        let cp = Checkpoint::new(self.signer.name(), size, self.frontier.root()).sign(&self.signer)?;
        self.conn.execute(
            "INSERT INTO checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![size as i64, cp.note, custos_core::Timestamp::now().to_string()],
        )?;
        self.wal.sync()?;
        self.latest.send_replace(Some(cp.clone()));
        Ok(cp)
    }

    fn replay(&mut self, progress: &Progress) -> Result<ReplayReport, StoreError> {
        let digest_before = super::projections_digest(&self.conn, &self.projections)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for proj in self.projections.iter() {
            for (table, _) in proj.tables() {
                tx.execute(&format!("DELETE FROM {table}"), [])?;
            }
        }
        let total = self.frontier.size();
        let mut n = 0u64;
        {
            let mut stmt = tx.prepare("SELECT idx, data FROM entries ORDER BY idx")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let index = row.get::<_, i64>(0)? as u64;
                let data = row.get_ref(1)?.as_blob().map_err(|e| StoreError::Corrupt { index, why: e.to_string() })?;
                let event = Entry::parse(data).map_err(|e| StoreError::Corrupt { index, why: e.to_string() })?;
                for proj in self.projections.iter() {
                    proj.apply(&tx, index, &event)?;
                }
                n += 1;
                if n.is_multiple_of(65_536) {
                    progress(n, total);
                }
            }
        }
        progress(n, total);
        let digest_after = super::projections_digest(&tx, &self.projections)?;
        tx.commit()?;
        self.wal.sync()?;
        Ok(ReplayReport { entries: n, digest_before, digest_after })
    }
}

/// Syncs the WAL file after each commit. The writer's connection runs with `synchronous =
/// NORMAL`, so a commit only *writes* its frames; this `fdatasync` makes them durable, giving
/// the same guarantee as `FULL` while letting the writer say "written" before the slow part.
/// (`fdatasync` on any descriptor of the file flushes it: Linux syncs the inode.)
pub(crate) struct WalSync {
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
}

impl WalSync {
    pub fn new(db: &std::path::Path) -> Self {
        let mut name = db.as_os_str().to_owned();
        name.push("-wal");
        Self { path: name.into(), file: None }
    }

    pub fn sync(&mut self) -> Result<(), StoreError> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                std::fs::File::open(&self.path).map_err(|e| StoreError::io("cannot open the WAL to sync it", e))?,
            ),
        };
        file.sync_data().map_err(|e| StoreError::io("cannot sync the WAL", e))
    }
}
