//! The embedded SQLite backend.
//!
//! One writer thread owns the only writing connection ([`writer`]); readers use a small pool
//! of read-only connections on blocking threads. WAL mode lets them read a consistent snapshot
//! while the writer commits. A lock file next to the database keeps a second writing process
//! out, with an error that says so, instead of letting two writers race.

mod schema;
mod writer;

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use async_trait::async_trait;
use custos_core::{Entry, Event};
use custos_ledger::{
    Hash, LedgerError, NoteSigner, NoteVerifier, SignedCheckpoint,
    tree::{self, Frontier, HashReader},
};
use rusqlite::{Connection, OptionalExtension, types::ValueRef};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};

use crate::{
    DurableIndex, PendingAppend, Progress, Receipt, RegistryStore, ReplayReport, Staged, Store, StoreError,
    VerifyReport, WrittenAppend,
    projection::{Projection, default_projections},
};
use writer::{Committed, Msg, WalSync, Writer};

/// Tuning of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Sign a checkpoint at most this often while entries arrive.
    pub checkpoint_interval: Duration,
    /// The most entries one transaction takes.
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { checkpoint_interval: Duration::from_secs(1), max_batch: 4096 }
    }
}

/// Reads stored hashes from the database.
pub(crate) struct DbHashReader<'a> {
    conn: &'a Connection,
}

impl<'a> DbHashReader<'a> {
    pub(crate) fn new(conn: &'a Connection) -> Self {
        Self { conn }
    }
}

impl HashReader for DbHashReader<'_> {
    fn hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let missing = |why: String| LedgerError::MissingHash { level, index, why };
        // The subtree's hash was stored by the entry that closed it: its last leaf.
        let entry = ((index + 1) << level) - 1;
        let blob: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hashes FROM tree_hashes WHERE idx = ?1")
            .and_then(|mut s| s.query_row([entry as i64], |r| r.get(0)).optional())
            .map_err(|e| missing(e.to_string()))?;
        let blob = blob.ok_or_else(|| missing("not stored".into()))?;
        let at = usize::from(level) * Hash::LEN;
        let bytes =
            blob.get(at..at + Hash::LEN).ok_or_else(|| missing(format!("entry {entry} stored too few hashes")))?;
        Hash::from_slice(bytes)
    }
}

/// Stored hashes fetched ahead for one multiproof. A proof over many leaves reads up to
/// millions of hashes; one point query each would dominate an export, so the rows it needs
/// (known in advance from [`tree::multiproof_reads`], in ascending order) are read in a few
/// range scans, each spanning rows that lie close together.
struct PrefetchedHashes {
    hashes: HashMap<(u8, u64), Hash>,
}

impl PrefetchedHashes {
    /// Rows further apart than this start a new range scan rather than read the rows between.
    const GAP: u64 = 64;

    fn fetch(conn: &Connection, reads: &[(u8, u64)]) -> Result<Self, StoreError> {
        let row_of = |&(level, index): &(u8, u64)| ((index + 1) << level) - 1;
        let mut wanted: HashMap<u64, Vec<u8>> = HashMap::with_capacity(reads.len());
        for r in reads {
            wanted.entry(row_of(r)).or_default().push(r.0);
        }
        let mut rows: Vec<u64> = wanted.keys().copied().collect();
        rows.sort_unstable();
        let mut stmt = conn.prepare_cached("SELECT idx, hashes FROM tree_hashes WHERE idx >= ?1 AND idx <= ?2")?;
        let mut hashes = HashMap::with_capacity(reads.len());
        let mut at = 0;
        while let Some(&first) = rows.get(at) {
            let mut last = first;
            let mut end = at + 1;
            while let Some(&next) = rows.get(end)
                && next - last <= Self::GAP
            {
                last = next;
                end += 1;
            }
            let mut scan = stmt.query([first as i64, last as i64])?;
            while let Some(row) = scan.next()? {
                let idx = row.get::<_, i64>(0)? as u64;
                let Some(levels) = wanted.get(&idx) else { continue };
                let blob = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                for &level in levels {
                    let at = usize::from(level) * Hash::LEN;
                    let bytes = blob.get(at..at + Hash::LEN).ok_or_else(|| StoreError::Corrupt {
                        index: idx,
                        why: format!("no level-{level} hash stored"),
                    })?;
                    hashes.insert((level, ((idx + 1) >> level) - 1), Hash::from_slice(bytes)?);
                }
            }
            at = end;
        }
        Ok(Self { hashes })
    }
}

impl HashReader for PrefetchedHashes {
    fn hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.hashes.get(&(level, index)).copied().ok_or_else(|| LedgerError::MissingHash {
            level,
            index,
            why: "not among the prefetched hashes".into(),
        })
    }
}

/// The SQLite ledger store.
pub struct SqliteStore {
    path: PathBuf,
    verifier: NoteVerifier,
    writer: Option<mpsc::Sender<Msg>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    latest: Option<watch::Receiver<Option<SignedCheckpoint>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    projections: Arc<Vec<Box<dyn Projection>>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).field("writer", &self.writer.is_some()).finish()
    }
}

fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Takes the writer lock, or says who holds it.
fn take_lock(db: &Path) -> Result<File, StoreError> {
    let path = lock_path(db);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::io(format!("cannot open the lock file `{}`", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(|e| StoreError::io("cannot write the lock file", e))?;
            let _ = write!(file, "{}", std::process::id());
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let holder = if pid.trim().is_empty() { String::new() } else { format!(" (pid {})", pid.trim()) };
            Err(StoreError::Locked { path: db.to_path_buf(), holder })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(format!("cannot lock `{}`", path.display()), e)),
    }
}

impl SqliteStore {
    /// Creates a new ledger database at `path` (which must not exist) and opens it for writing.
    pub fn create(path: &Path, signer: NoteSigner, options: SqliteOptions) -> Result<Self, StoreError> {
        if path.exists() {
            return Err(StoreError::io(
                format!("cannot create `{}`", path.display()),
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "it already exists"),
            ));
        }
        Self::open_inner(path, signer, options, true)
    }

    /// Opens an existing ledger database for writing. Fails if another process writes to it.
    pub fn open(path: &Path, signer: NoteSigner, options: SqliteOptions) -> Result<Self, StoreError> {
        Self::open_inner(path, signer, options, false)
    }

    /// Opens an existing ledger database for reading only (verify, proofs, export). Works while
    /// another process writes.
    pub fn open_read_only(path: &Path, verifier: NoteVerifier) -> Result<Self, StoreError> {
        // No origin check here: a reader trusts nothing in the database, and `verify` with a
        // key of another log reports every checkpoint as unverified, which is the answer.
        let conn = schema::open_reader(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            verifier,
            writer: None,
            writer_thread: Mutex::new(None),
            latest: None,
            readers: Arc::new(Mutex::new(vec![conn])),
            projections: Arc::new(default_projections()),
        })
    }

    fn open_inner(path: &Path, signer: NoteSigner, options: SqliteOptions, create: bool) -> Result<Self, StoreError> {
        if !create && !path.exists() {
            return Err(StoreError::NotALedger { path: path.to_path_buf(), why: "the file does not exist".into() });
        }
        let lock = take_lock(path)?;
        let conn = schema::open_writer(path, create)?;
        check_origin(&conn, signer.name())?;
        if create {
            conn.execute("INSERT INTO meta (key, value) VALUES ('verifier_key', ?1)", [signer.verifier().encode()])?;
        }
        let size: u64 =
            conn.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries", [], |r| r.get::<_, i64>(0))? as u64;
        let count: u64 = conn.query_row("SELECT COUNT(*) FROM entries", [], |r| r.get::<_, i64>(0))? as u64;
        let hashes: u64 = conn.query_row("SELECT COUNT(*) FROM tree_hashes", [], |r| r.get::<_, i64>(0))? as u64;
        if count != size || hashes != size {
            return Err(StoreError::Inconsistent(format!(
                "{count} entries with indices up to {size}, and stored hashes for {hashes} entries"
            )));
        }
        let frontier = Frontier::from_reader(&DbHashReader::new(&conn), size)?;
        let verifier = signer.verifier();
        let latest = latest_checkpoint(&conn, &verifier)?;
        if let Some(cp) = &latest
            && cp.checkpoint.size > size
        {
            return Err(StoreError::Inconsistent(format!(
                "the latest checkpoint covers {} entries, but only {size} are stored",
                cp.checkpoint.size
            )));
        }
        // From here on a commit only writes; the writer syncs the WAL itself after each one
        // (`WalSync`), so it can tell callers "written" before the sync.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut wal = WalSync::new(path);
        wal.sync()?;
        let (latest_tx, latest_rx) = watch::channel(latest);
        let projections = Arc::new(default_projections());
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            conn,
            signer,
            frontier,
            projections: projections.clone(),
            latest: latest_tx,
            interval: options.checkpoint_interval,
            max_batch: options.max_batch.max(1),
            wal,
            _lock: lock,
        };
        let thread = std::thread::Builder::new()
            .name("custos-ledger-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::io("cannot start the ledger writer thread", e))?;
        Ok(Self {
            path: path.to_path_buf(),
            verifier,
            writer: Some(tx),
            writer_thread: Mutex::new(Some(thread)),
            latest: Some(latest_rx),
            readers: Arc::new(Mutex::new(Vec::new())),
            projections,
        })
    }

    /// Builds the entry and queues it for the writer.
    #[allow(clippy::type_complexity, reason = "the receiver of the writer's answer")]
    fn queue(
        &self,
        event: Event,
        written: Option<oneshot::Sender<Result<u64, StoreError>>>,
    ) -> Result<oneshot::Receiver<Result<Committed, StoreError>>, StoreError> {
        let entry = Entry::from_event(&event)?;
        let (reply, rx) = oneshot::channel();
        let leaf = custos_ledger::hash::leaf_hash(entry.as_bytes());
        self.send(Msg::Append { entry, leaf, event, written, reply })?;
        Ok(rx)
    }

    fn send(&self, msg: Msg) -> Result<(), StoreError> {
        let tx = self.writer.as_ref().ok_or(StoreError::ReadOnly)?;
        tx.send(msg).map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on a pooled read-only connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => schema::open_reader(&path)?,
            };
            let r = f(&mut conn);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
            r
        })
        .await
        .map_err(|e| StoreError::Internal(format!("reader task failed: {e}")))?
    }
}

fn check_origin(conn: &Connection, origin: &str) -> Result<(), StoreError> {
    let found: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'origin'", [], |r| r.get(0)).optional()?;
    match found {
        Some(f) if f != origin => Err(StoreError::OriginMismatch { found: f, expected: origin.to_string() }),
        Some(_) => Ok(()),
        None => {
            conn.execute("INSERT INTO meta (key, value) VALUES ('origin', ?1)", [origin])?;
            Ok(())
        }
    }
}

fn latest_checkpoint(conn: &Connection, verifier: &NoteVerifier) -> Result<Option<SignedCheckpoint>, StoreError> {
    let note: Option<String> =
        conn.query_row("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1", [], |r| r.get(0)).optional()?;
    note.map(|n| SignedCheckpoint::open(&n, verifier).map_err(StoreError::from)).transpose()
}

/// Refuses a tree size beyond what is stored.
fn check_tree_size(conn: &Connection, size: u64) -> Result<(), StoreError> {
    let n = db_size(conn)?;
    if size > n {
        return Err(StoreError::OutOfRange { what: "tree size", requested: size, size: n });
    }
    Ok(())
}

fn db_size(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries", [], |r| r.get::<_, i64>(0))? as u64)
}

/// SHA-256 over every projection table's rows in a stable order, with typed values.
pub(crate) fn projections_digest(conn: &Connection, projections: &[Box<dyn Projection>]) -> Result<String, StoreError> {
    let mut h = Sha256::new();
    for proj in projections {
        for (table, order) in proj.tables() {
            h.update(table.as_bytes());
            h.update([0]);
            let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                for i in 0..columns {
                    match row.get_ref(i)? {
                        ValueRef::Null => h.update([0]),
                        ValueRef::Integer(v) => {
                            h.update([1]);
                            h.update(v.to_be_bytes());
                        }
                        ValueRef::Real(v) => {
                            h.update([2]);
                            h.update(v.to_be_bytes());
                        }
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            h.update([3]);
                            h.update((t.len() as u64).to_be_bytes());
                            h.update(t);
                        }
                    }
                }
            }
        }
    }
    Ok(hex::encode(h.finalize()))
}

#[async_trait]
impl Store for SqliteStore {
    fn submit(&self, event: Event) -> PendingAppend {
        let queued = self.queue(event, None);
        Box::pin(async move {
            let c = queued?.await.map_err(|_| StoreError::Closed)??;
            // Freed here, on the thread that allocated them, not on the writer thread.
            drop(c.spent);
            // The proof is built here, on the caller's task, not on the writer thread.
            let leaf_hash = c.view.hash(0, c.index)?;
            let inclusion = tree::inclusion_proof(&*c.view, c.index, c.tree_size)?;
            Ok(Receipt { index: c.index, leaf_hash, tree_size: c.tree_size, root: c.root, inclusion })
        })
    }

    fn submit_staged(&self, event: Event) -> Staged {
        let (written_tx, written_rx) = oneshot::channel();
        let queued = self.queue(event, Some(written_tx));
        let failed = queued.as_ref().err().map(StoreError::repeat);
        let written: WrittenAppend = Box::pin(async move {
            match failed {
                Some(e) => Err(e),
                None => written_rx.await.map_err(|_| StoreError::Closed)?,
            }
        });
        let durable: DurableIndex = Box::pin(async move {
            let c = queued?.await.map_err(|_| StoreError::Closed)??;
            drop(c.spent);
            Ok(c.index)
        });
        Staged { written, durable }
    }

    async fn checkpoint(&self) -> Result<SignedCheckpoint, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Checkpoint { reply })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn wait_checkpoint(&self, index: u64) -> Result<SignedCheckpoint, StoreError> {
        let Some(latest) = &self.latest else {
            let size = self.size().await?;
            return match self.latest_checkpoint().await? {
                Some(cp) if cp.checkpoint.size > index => Ok(cp),
                Some(cp) => Err(StoreError::NotCovered { index, size: cp.checkpoint.size }),
                None if index < size => Err(StoreError::NoCheckpoint),
                None => Err(StoreError::OutOfRange { what: "index", requested: index, size }),
            };
        };
        let mut rx = latest.clone();
        let cp = rx
            .wait_for(|cp| cp.as_ref().is_some_and(|c| c.checkpoint.size > index))
            .await
            .map_err(|_| StoreError::Closed)?;
        cp.clone().ok_or(StoreError::NoCheckpoint)
    }

    async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        if let Some(latest) = &self.latest {
            return Ok(latest.borrow().clone());
        }
        let verifier = self.verifier.clone();
        self.read(move |c| latest_checkpoint(c, &verifier)).await
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>, StoreError> {
        let verifier = self.verifier.clone();
        self.read(move |c| {
            let note: Option<String> =
                c.query_row("SELECT note FROM checkpoints WHERE size = ?1", [size as i64], |r| r.get(0)).optional()?;
            note.map(|n| SignedCheckpoint::open(&n, &verifier).map_err(StoreError::from)).transpose()
        })
        .await
    }

    async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, StoreError> {
        let verifier = self.verifier.clone();
        self.read(move |c| {
            let mut stmt = c.prepare("SELECT note FROM checkpoints ORDER BY size")?;
            let notes = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            notes.iter().map(|n| SignedCheckpoint::open(n, &verifier).map_err(StoreError::from)).collect()
        })
        .await
    }

    async fn size(&self) -> Result<u64, StoreError> {
        self.read(|c| db_size(c)).await
    }

    async fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT data FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
            let rows = stmt.query_map([from as i64, to.min(i64::MAX as u64) as i64], |r| r.get::<_, Vec<u8>>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn tree_hash(&self, size: u64) -> Result<Hash, StoreError> {
        self.read(move |c| {
            check_tree_size(c, size)?;
            Ok(tree::tree_hash(&DbHashReader::new(c), size)?)
        })
        .await
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.read(move |c| {
            check_tree_size(c, size)?;
            if index >= size {
                return Err(StoreError::OutOfRange { what: "index", requested: index, size });
            }
            Ok(tree::inclusion_proof(&DbHashReader::new(c), index, size)?)
        })
        .await
    }

    async fn multiproof(&self, indices: Vec<u64>, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.read(move |c| {
            check_tree_size(c, size)?;
            let reads = tree::multiproof_reads(&indices, size)?;
            let reader = PrefetchedHashes::fetch(c, &reads)?;
            Ok(tree::multiproof(&reader, &indices, size)?)
        })
        .await
    }

    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        self.read(move |c| {
            check_tree_size(c, new)?;
            Ok(tree::consistency_proof(&DbHashReader::new(c), old, new)?)
        })
        .await
    }

    async fn verify(&self, verifier: &NoteVerifier, progress: Progress) -> Result<VerifyReport, StoreError> {
        let verifier = verifier.clone();
        self.read(move |c| crate::verify::verify(c, &verifier, &progress)).await
    }

    async fn replay(&self, progress: Progress) -> Result<ReplayReport, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Replay { progress, reply })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn projections_digest(&self) -> Result<String, StoreError> {
        let projections = self.projections.clone();
        self.read(move |c| projections_digest(c, &projections)).await
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.writer.is_none() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        let sent = self.send(Msg::Shutdown { reply });
        let result = match sent {
            Ok(()) => rx.await.map_err(|_| StoreError::Closed)?,
            Err(StoreError::Closed) => Ok(()),
            Err(e) => Err(e),
        };
        let thread = self.writer_thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?
                .map_err(|_| StoreError::Internal("the ledger writer thread panicked".into()))?;
        }
        result
    }
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn agent(&self, id: &custos_core::AgentId) -> Result<Option<custos_core::registry::Agent>, StoreError> {
        let id = id.clone();
        self.read(move |c| crate::registry::agent(c, &id)).await
    }

    async fn agents(
        &self,
        query: &custos_core::registry::AgentQuery,
    ) -> Result<Vec<custos_core::registry::Agent>, StoreError> {
        let query = query.clone();
        self.read(move |c| crate::registry::agents(c, &query)).await
    }

    async fn agent_history(
        &self,
        id: &custos_core::AgentId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, Event)>, StoreError> {
        let id = id.clone();
        self.read(move |c| crate::registry::history(c, &id, after, limit)).await
    }

    async fn agent_entries(
        &self,
        id: &custos_core::AgentId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let id = id.clone();
        self.read(move |c| crate::registry::history_entries(c, &id, after, limit)).await
    }

    async fn credentials(
        &self,
        agent: Option<&custos_core::AgentId>,
    ) -> Result<Vec<(custos_core::registry::Credential, String)>, StoreError> {
        let agent = agent.cloned();
        self.read(move |c| crate::registry::credentials(c, agent.as_ref())).await
    }

    async fn owners(&self) -> Result<Vec<custos_core::registry::OwnerSummary>, StoreError> {
        self.read(|c| crate::registry::owners(c)).await
    }

    async fn offboarded_at(
        &self,
        owner: &custos_core::registry::OwnerId,
    ) -> Result<Option<custos_core::Timestamp>, StoreError> {
        let owner = owner.clone();
        self.read(move |c| crate::registry::offboarded_at(c, &owner)).await
    }

    async fn record_credential_use(&self, uses: Vec<(String, custos_core::Timestamp)>) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Exec { f: Box::new(move |c| crate::registry::record_usage(c, &uses)), reply })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl crate::ProtectStore for SqliteStore {
    async fn tool_pins(&self) -> Result<Vec<custos_core::protect::ToolPin>, StoreError> {
        self.read(|c| crate::protect::tool_pins(c)).await
    }

    async fn tool_uses(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.read(|c| crate::protect::tool_uses(c)).await
    }

    async fn gateway_activity(&self) -> Result<Vec<crate::protect::GatewayActivity>, StoreError> {
        self.read(|c| crate::protect::gateway_activity(c)).await
    }

    async fn approvals(&self, pending_only: bool) -> Result<Vec<custos_core::protect::ApprovalRecord>, StoreError> {
        self.read(move |c| crate::protect::approvals(c, pending_only)).await
    }

    async fn approval(&self, id: &str) -> Result<Option<custos_core::protect::ApprovalRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |c| crate::protect::approval(c, &id)).await
    }

    async fn session_tools(&self, session: &str) -> Result<Vec<(String, String)>, StoreError> {
        let session = session.to_string();
        self.read(move |c| crate::protect::session_tools(c, &session)).await
    }
}
