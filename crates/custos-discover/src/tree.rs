//! The tree scan: every file under the given roots, read once, searched for credentials and
//! handed to the file analyzers (code, Terraform, Kubernetes, client configs) that want it.
//!
//! Phase 1 walks the roots with the `ignore` crate's parallel walker and stats every file.
//! Hidden files and dot-directories are walked (`.env` files and MCP configs live there), and
//! `.gitignore` is not honoured by default: secrets hide in ignored files. Directories named in
//! [`TreeOptions::exclude_dirs`] are not entered (by default git's object store, whose packs are
//! compressed, and `node_modules`, vendored code); each is reported once as skipped. Symlinks are
//! never followed: a link that leads outside its root, a loop (a link to one of its own
//! ancestors) and a broken link are reported as skipped with the reason; a link to something
//! inside the root is left alone, since the walk reaches its target at its real path. Files over
//! [`TreeOptions::max_file_size`] and anything that is not a regular file are skipped with the
//! reason. File names that are not UTF-8 are scanned like any other and shown lossily.
//!
//! Phase 2 scans the files on [`TreeOptions::threads`] threads, which take files by an atomic
//! index, each reading every file once into a buffer it reuses. Every file, binary or not, is
//! searched for credentials (a key inside a binary blob is as leaked as one in a `.env`); only
//! text files (no NUL byte in the first 8 KiB) go to the analyzers. With a cache
//! ([`TreeOptions::cache_dir`], see [`crate::cache`]), a file whose metadata has not changed is
//! not read at all, and one whose content hash has not changed is not scanned again.

use std::fs::{self, File};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::cache::{Cache, CacheEntry, FileMeta};
use crate::creds::CredentialEngine;
use crate::fingerprint::FingerprintKey;
use crate::model::{AgentFinding, CredentialFinding, Location, Skipped, Source, TrafficFinding};
use crate::scan::mask;

/// Files larger than this are skipped unless the options say otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;

/// Bumped whenever the engine's results for the same bytes may change: it keys the cache.
pub const ENGINE_VERSION: &str = "tree-1";

/// How much of a file decides whether it is text.
const SNIFF: usize = 8 * 1024;

/// What a tree scan covers and how.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    pub roots: Vec<PathBuf>,
    /// Larger files are skipped with a reason.
    pub max_file_size: u64,
    /// Scanning threads; 0 means one per core.
    pub threads: usize,
    /// Honour `.gitignore`, `.ignore` and git's exclude files (off by default).
    pub honour_gitignore: bool,
    /// Directories not entered: a bare name (`node_modules`) matches a directory of that name
    /// anywhere; a name with a slash (`.git/objects`) matches the end of a directory's path.
    pub exclude_dirs: Vec<String>,
    /// Where the incremental cache lives (the data dir); `None` scans without one.
    pub cache_dir: Option<PathBuf>,
    pub engine: CredentialEngine,
    pub key: FingerprintKey,
}

impl TreeOptions {
    /// The defaults for `roots`: 8 MiB limit, one thread per core, `.gitignore` not honoured,
    /// `.git/objects` and `node_modules` excluded, no cache, the built-in credential engine.
    pub fn new(roots: Vec<PathBuf>, key: FingerprintKey) -> Self {
        Self {
            roots,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            threads: 0,
            honour_gitignore: false,
            exclude_dirs: vec![".git/objects".into(), "node_modules".into()],
            cache_dir: None,
            engine: CredentialEngine::builtin(),
            key,
        }
    }
}

/// What one file yielded. It holds no secret, so it can be cached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFindings {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialFinding>,
    /// MCP servers of a project-scoped agent-client config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<crate::scan::Server>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentFinding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficFinding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl FileFindings {
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
            && self.servers.is_empty()
            && self.agents.is_empty()
            && self.traffic.is_empty()
            && self.skipped.is_empty()
    }

    fn extend(&mut self, other: Self) {
        self.credentials.extend(other.credentials);
        self.servers.extend(other.servers);
        self.agents.extend(other.agents);
        self.traffic.extend(other.traffic);
        self.skipped.extend(other.skipped);
    }
}

/// A source that reads files of the tree: code frameworks, Terraform, Kubernetes, client configs.
/// It is called from several threads at once.
pub trait FileAnalyzer: Sync {
    /// A stable id with a version: it keys the cache, so it must change when results may.
    fn id(&self) -> String;
    /// Whether this text file is worth [`Self::analyze`]; should be cheap (a name or a prefix
    /// check), it runs on every text file.
    fn wants(&self, path: &Path, bytes: &[u8]) -> bool;
    fn analyze(&self, path: &Path, bytes: &[u8]) -> FileFindings;
    /// [`Self::analyze`] when [`Self::wants`] the file, else `None`. What the tree scan calls:
    /// a composite overrides it so that each part's `wants` runs once per file.
    fn analyze_wanted(&self, path: &Path, bytes: &[u8]) -> Option<FileFindings> {
        self.wants(path, bytes).then(|| self.analyze(path, bytes))
    }
}

/// The analyzer that wants nothing: a credential-only scan.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAnalyzer;

impl FileAnalyzer for NoAnalyzer {
    fn id(&self) -> String {
        "none".into()
    }
    fn wants(&self, _: &Path, _: &[u8]) -> bool {
        false
    }
    fn analyze(&self, _: &Path, _: &[u8]) -> FileFindings {
        FileFindings::default()
    }
}

/// Several analyzers as one: each sees the files it wants.
pub struct Analyzers<'a>(pub Vec<&'a dyn FileAnalyzer>);

impl std::fmt::Debug for Analyzers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Analyzers").field(&self.id()).finish()
    }
}

impl FileAnalyzer for Analyzers<'_> {
    fn id(&self) -> String {
        self.0.iter().map(|a| a.id()).collect::<Vec<_>>().join("+")
    }
    fn wants(&self, path: &Path, bytes: &[u8]) -> bool {
        self.0.iter().any(|a| a.wants(path, bytes))
    }
    fn analyze(&self, path: &Path, bytes: &[u8]) -> FileFindings {
        self.analyze_wanted(path, bytes).unwrap_or_default()
    }
    fn analyze_wanted(&self, path: &Path, bytes: &[u8]) -> Option<FileFindings> {
        let mut out: Option<FileFindings> = None;
        for a in &self.0 {
            if let Some(found) = a.analyze_wanted(path, bytes) {
                out.get_or_insert_with(FileFindings::default).extend(found);
            }
        }
        out
    }
}

/// Where a scan stands, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What a tree scan found, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeScan {
    /// Findings sorted by path and line.
    pub credentials: Vec<CredentialFinding>,
    pub servers: Vec<crate::scan::Server>,
    pub agents: Vec<AgentFinding>,
    pub traffic: Vec<TrafficFinding>,
    /// Files and directories not scanned, and why, sorted by path.
    pub skipped: Vec<Skipped>,
    /// Regular files within the size limit.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Files actually read (not answered from the cache by their metadata) and their bytes.
    pub files_read: u64,
    pub bytes_read: u64,
    /// Files whose findings came from the cache (by metadata or by content hash).
    pub files_cached: u64,
    /// Problems that did not stop the scan (an unreadable cache, say).
    pub warnings: Vec<String>,
}

/// A file's findings, and its new cache entry when the cache did not already hold it.
type FileResult = (FileFindings, Option<CacheEntry>);

struct Candidate {
    path: PathBuf,
    meta: FileMeta,
}

/// Walks `opts.roots`, scans every file and returns what was found. Never fails: whatever cannot
/// be read is reported in [`TreeScan::skipped`] or [`TreeScan::warnings`]. `progress` is called
/// from the scanning threads as files complete.
pub fn scan_tree(opts: &TreeOptions, analyzer: &dyn FileAnalyzer, progress: &(dyn Fn(Progress) + Sync)) -> TreeScan {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        opts.threads
    };
    let mut scan = TreeScan::default();
    // Not sorted: the order of scanning does not show; findings are sorted at the end.
    let (files, mut skipped) = walk(opts, threads);

    let digest = cache_digest(opts, analyzer);
    let mut cache = match &opts.cache_dir {
        Some(dir) => {
            let (cache, warning) = Cache::load(dir, &digest);
            scan.warnings.extend(warning);
            Some(cache)
        }
        None => None,
    };

    let bytes_total: u64 = files.iter().map(|f| f.meta.len).sum();
    let totals = (files.len() as u64, bytes_total);
    let next = AtomicUsize::new(0);
    let files_done = AtomicU64::new(0);
    let bytes_done = AtomicU64::new(0);
    let counters = Counters::default();
    let worker = Worker { opts, analyzer, cache: cache.as_ref(), counters: &counters };
    // Each thread keeps its results with the file's index; they are put back in order after.
    let mut results: Vec<(usize, FileResult)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(files.len()).max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut buf = Vec::new();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        mine.push((i, worker.file(file, &mut buf)));
                        let done = files_done.fetch_add(1, Ordering::Relaxed) + 1;
                        let bytes = bytes_done.fetch_add(file.meta.len, Ordering::Relaxed) + file.meta.len;
                        if done.is_multiple_of(256) || done == totals.0 {
                            progress(Progress {
                                files_done: done,
                                files_total: totals.0,
                                bytes_done: bytes,
                                bytes_total: totals.1,
                            });
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);

    let mut fresh = Vec::new();
    for (i, (findings, entry)) in results {
        let Some(file) = files.get(i) else { continue };
        if let Some(entry) = entry {
            fresh.push((file.path.clone(), entry));
        }
        scan.credentials.extend(findings.credentials);
        scan.servers.extend(findings.servers);
        scan.agents.extend(findings.agents);
        scan.traffic.extend(findings.traffic);
        skipped.extend(findings.skipped);
    }
    if let (Some(cache), Some(dir)) = (cache.as_mut(), &opts.cache_dir) {
        let live: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
        if let Some(warning) = cache.update_and_save(dir, &live, fresh) {
            scan.warnings.push(warning);
        }
    }
    scan.files = totals.0;
    scan.bytes = totals.1;
    scan.files_read = counters.files_read.into_inner();
    scan.bytes_read = counters.bytes_read.into_inner();
    scan.files_cached = counters.files_cached.into_inner();
    skipped.sort();
    skipped.dedup();
    scan.skipped = skipped;
    scan.credentials.sort_by(|a, b| a.location.cmp(&b.location).then(a.rule.cmp(&b.rule)));
    scan
}

/// The cache key: everything that changes what a file yields.
fn cache_digest(opts: &TreeOptions, analyzer: &dyn FileAnalyzer) -> String {
    let mut h = Sha256::new();
    for part in [
        ENGINE_VERSION.as_bytes(),
        &opts.engine.digest(),
        // A key id, not the key: the HMAC of a constant under it.
        opts.key.fingerprint("custos discover cache key id").as_bytes(),
        analyzer.id().as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

#[derive(Default)]
struct Counters {
    files_read: AtomicU64,
    bytes_read: AtomicU64,
    files_cached: AtomicU64,
}

struct Worker<'a> {
    opts: &'a TreeOptions,
    analyzer: &'a dyn FileAnalyzer,
    cache: Option<&'a Cache>,
    counters: &'a Counters,
}

impl Worker<'_> {
    /// One file's findings, and its new cache entry when the cache did not already hold it.
    fn file(&self, file: &Candidate, buf: &mut Vec<u8>) -> FileResult {
        let cached = self.cache.and_then(|c| c.get(&file.path));
        if let Some(entry) = cached
            && entry.meta == file.meta
        {
            self.counters.files_cached.fetch_add(1, Ordering::Relaxed);
            return (entry.findings.clone(), None);
        }
        buf.clear();
        let read = File::open(&file.path).and_then(|f| {
            // The length is known: one allocation, and `take` stops a file that grows meanwhile.
            buf.reserve(usize::try_from(file.meta.len).unwrap_or(0).saturating_add(1));
            f.take(self.opts.max_file_size.saturating_add(1)).read_to_end(buf)
        });
        if let Err(e) = read {
            let skipped = Skipped { path: display_path(&file.path), reason: format!("cannot read: {e}") };
            return (FileFindings { skipped: vec![skipped], ..FileFindings::default() }, None);
        }
        self.counters.files_read.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes_read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        if buf.len() as u64 > self.opts.max_file_size {
            let skipped = Skipped { path: display_path(&file.path), reason: too_large(self.opts.max_file_size) };
            return (FileFindings { skipped: vec![skipped], ..FileFindings::default() }, None);
        }
        let hash: Option<[u8; 32]> = self.cache.map(|_| Sha256::digest(buf.as_slice()).into());
        if let (Some(entry), Some(hash)) = (cached, hash)
            && entry.sha256 == hash
        {
            self.counters.files_cached.fetch_add(1, Ordering::Relaxed);
            let findings = entry.findings.clone();
            let fresh = CacheEntry { meta: file.meta, sha256: hash, findings: findings.clone() };
            return (findings, Some(fresh));
        }
        let findings = self.scan_bytes(&file.path, buf);
        let entry = hash.map(|sha256| CacheEntry { meta: file.meta, sha256, findings: findings.clone() });
        (findings, entry)
    }

    fn scan_bytes(&self, path: &Path, bytes: &[u8]) -> FileFindings {
        let mut out = FileFindings::default();
        let shown = display_path(path);
        for hit in self.opts.engine.scan(bytes) {
            let Some(secret) = bytes.get(hit.start..hit.end) else { continue };
            // Every rule's alphabet is ASCII, so the secret is valid UTF-8; lossy is a fallback.
            let secret = String::from_utf8_lossy(secret);
            out.credentials.push(CredentialFinding {
                source: Source::File,
                location: Location::line(shown.clone(), hit.line),
                client: None,
                server: None,
                rule: hit.rule,
                provider: hit.provider,
                masked: mask(&secret),
                fingerprint: self.opts.key.fingerprint(&secret),
            });
        }
        let sniff = bytes.get(..SNIFF).unwrap_or(bytes);
        if memchr::memchr(0, sniff).is_none()
            && let Some(found) = self.analyzer.analyze_wanted(path, bytes)
        {
            out.extend(found);
        }
        out
    }
}

fn too_large(limit: u64) -> String {
    format!("larger than the size limit ({limit} bytes)")
}

/// The path as findings show it: lossy where it is not UTF-8, so that reports serialize.
fn display_path(path: &Path) -> PathBuf {
    match path.to_str() {
        Some(_) => path.to_path_buf(),
        None => PathBuf::from(path.to_string_lossy().into_owned()),
    }
}

/// Phase 1: the regular files to scan, and what was skipped.
fn walk(opts: &TreeOptions, threads: usize) -> (Vec<Candidate>, Vec<Skipped>) {
    let files = Mutex::new(Vec::new());
    let skipped = Mutex::new(Vec::new());
    for root in &opts.roots {
        let canon_root = match fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) => {
                push(&skipped, Skipped { path: display_path(root), reason: format!("cannot open the root: {e}") });
                continue;
            }
        };
        if !opts.honour_gitignore {
            walk_plain(opts, root, &canon_root, threads, &files, &skipped);
            continue;
        }
        let mut builder = ignore::WalkBuilder::new(root);
        builder
            .hidden(false)
            .parents(false)
            .ignore(opts.honour_gitignore)
            .git_ignore(opts.honour_gitignore)
            .git_global(opts.honour_gitignore)
            .git_exclude(opts.honour_gitignore)
            .require_git(false)
            .follow_links(false)
            .threads(threads);
        let excludes = opts.exclude_dirs.clone();
        // The filter must be `'static`, so its skips go to a list of its own.
        let skipped_dirs = std::sync::Arc::new(Mutex::new(Vec::new()));
        let filter_skips = std::sync::Arc::clone(&skipped_dirs);
        builder.filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if is_dir && entry.depth() > 0 && excluded(entry.path(), &excludes) {
                push(
                    &filter_skips,
                    Skipped { path: display_path(entry.path()), reason: "excluded directory (option)".into() },
                );
                return false;
            }
            true
        });
        builder.build_parallel().run(|| {
            let files = &files;
            let skipped = &skipped;
            let canon_root = &canon_root;
            Box::new(move |entry| {
                match entry {
                    Ok(entry) => visit(opts, canon_root, &entry, files, skipped),
                    Err(e) => {
                        let path = error_path(&e).map_or_else(PathBuf::new, display_path);
                        push(skipped, Skipped { path, reason: format!("cannot walk: {}", error_text(&e)) });
                    }
                }
                ignore::WalkState::Continue
            })
        });
        let dirs = skipped_dirs.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default();
        if let Ok(mut s) = skipped.lock() {
            s.extend(dirs);
        }
    }
    (files.into_inner().unwrap_or_default(), skipped.into_inner().unwrap_or_default())
}

/// The walk without ignore files: a shared stack of directories that `threads` threads drain.
/// Faster than the `ignore` walker for this case (a rescan is mostly the walk): no ignore
/// matchers per directory, and each file's metadata is read relative to its open directory.
fn walk_plain(
    opts: &TreeOptions,
    root: &Path,
    canon_root: &Path,
    threads: usize,
    files: &Mutex<Vec<Candidate>>,
    skipped: &Mutex<Vec<Skipped>>,
) {
    match fs::symlink_metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.is_file() => {
            if m.len() > opts.max_file_size {
                push(skipped, Skipped { path: display_path(root), reason: too_large(opts.max_file_size) });
            } else {
                push(files, Candidate { path: root.to_path_buf(), meta: FileMeta::of(&m) });
            }
            return;
        }
        Ok(_) => {
            push(skipped, Skipped { path: display_path(root), reason: "not a regular file or directory".into() });
            return;
        }
        Err(e) => {
            push(skipped, Skipped { path: display_path(root), reason: format!("cannot open the root: {e}") });
            return;
        }
    }
    let stack = Mutex::new(vec![root.to_path_buf()]);
    // Directories queued or being read: the walk is over when none is left.
    let pending = AtomicUsize::new(1);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let (mut my_files, mut my_skips) = (Vec::new(), Vec::new());
                loop {
                    let dir = stack.lock().ok().and_then(|mut st| st.pop());
                    let Some(dir) = dir else {
                        if pending.load(Ordering::Acquire) == 0 {
                            break;
                        }
                        std::thread::yield_now();
                        continue;
                    };
                    let mut subdirs = Vec::new();
                    read_dir(opts, canon_root, &dir, &mut subdirs, &mut my_files, &mut my_skips);
                    pending.fetch_add(subdirs.len(), Ordering::AcqRel);
                    if !subdirs.is_empty()
                        && let Ok(mut st) = stack.lock()
                    {
                        st.extend(subdirs);
                    }
                    pending.fetch_sub(1, Ordering::AcqRel);
                }
                if let Ok(mut f) = files.lock() {
                    f.extend(my_files);
                }
                if let Ok(mut k) = skipped.lock() {
                    k.extend(my_skips);
                }
            });
        }
    });
}

fn read_dir(
    opts: &TreeOptions,
    root: &Path,
    dir: &Path,
    subdirs: &mut Vec<PathBuf>,
    files: &mut Vec<Candidate>,
    skipped: &mut Vec<Skipped>,
) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            skipped.push(Skipped { path: display_path(dir), reason: format!("cannot read the directory: {e}") });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                skipped.push(Skipped { path: display_path(dir), reason: format!("cannot read the directory: {e}") });
                continue;
            }
        };
        let path = entry.path();
        let ft = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                skipped.push(Skipped { path: display_path(&path), reason: format!("cannot stat: {e}") });
                continue;
            }
        };
        if ft.is_dir() {
            if excluded(&path, &opts.exclude_dirs) {
                skipped.push(Skipped { path: display_path(&path), reason: "excluded directory (option)".into() });
            } else {
                subdirs.push(path);
            }
        } else if ft.is_symlink() {
            skipped.extend(symlink_reason(root, &path).map(|reason| Skipped { path: display_path(&path), reason }));
        } else if !ft.is_file() {
            skipped
                .push(Skipped { path: display_path(&path), reason: format!("not a regular file ({})", kind_of(&ft)) });
        } else {
            match entry.metadata() {
                Ok(m) if m.len() > opts.max_file_size => {
                    skipped.push(Skipped { path: display_path(&path), reason: too_large(opts.max_file_size) });
                }
                Ok(m) => files.push(Candidate { path, meta: FileMeta::of(&m) }),
                Err(e) => skipped.push(Skipped { path: display_path(&path), reason: format!("cannot stat: {e}") }),
            }
        }
    }
}

fn push<T>(list: &Mutex<Vec<T>>, item: T) {
    if let Ok(mut l) = list.lock() {
        l.push(item);
    }
}

fn excluded(path: &Path, excludes: &[String]) -> bool {
    excludes.iter().any(|x| {
        let parts: Vec<&str> = x.split('/').filter(|p| !p.is_empty()).collect();
        let mut comps = path.components().rev();
        parts.iter().rev().all(|p| comps.next().is_some_and(|c| c.as_os_str() == *p))
    })
}

fn visit(
    opts: &TreeOptions,
    root: &Path,
    entry: &ignore::DirEntry,
    files: &Mutex<Vec<Candidate>>,
    skipped: &Mutex<Vec<Skipped>>,
) {
    let Some(ft) = entry.file_type() else { return };
    let path = entry.path();
    if ft.is_dir() {
        return;
    }
    if ft.is_symlink() {
        if let Some(reason) = symlink_reason(root, path) {
            push(skipped, Skipped { path: display_path(path), reason });
        }
        return;
    }
    if !ft.is_file() {
        push(skipped, Skipped { path: display_path(path), reason: format!("not a regular file ({})", kind_of(&ft)) });
        return;
    }
    let meta = match entry.metadata() {
        Ok(m) => m,
        Err(e) => {
            push(skipped, Skipped { path: display_path(path), reason: format!("cannot stat: {}", error_text(&e)) });
            return;
        }
    };
    if meta.len() > opts.max_file_size {
        push(skipped, Skipped { path: display_path(path), reason: too_large(opts.max_file_size) });
        return;
    }
    push(files, Candidate { path: path.to_path_buf(), meta: FileMeta::of(&meta) });
}

/// Why a symlink is reported, or `None` for a link whose target the walk reaches anyway.
fn symlink_reason(root: &Path, link: &Path) -> Option<String> {
    let target = match fs::canonicalize(link) {
        Ok(t) => t,
        Err(e) if e.raw_os_error() == Some(40) => return Some("symlink loop (ELOOP)".into()),
        Err(_) => return Some("broken symlink".into()),
    };
    if !target.starts_with(root) {
        return Some("symlink leads outside the scanned root (not followed)".into());
    }
    let parent = link.parent().and_then(|p| fs::canonicalize(p).ok());
    if target.is_dir() && parent.is_some_and(|p| p.starts_with(&target)) {
        return Some("symlink loop (links to an ancestor directory; not followed)".into());
    }
    None
}

fn kind_of(ft: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "fifo";
        }
        if ft.is_socket() {
            return "socket";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "device";
        }
    }
    let _ = ft;
    "special file"
}

fn error_path(e: &ignore::Error) -> Option<&Path> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => error_path(err),
        _ => None,
    }
}

/// The error without its path (the skip names the path already).
fn error_text(e: &ignore::Error) -> String {
    match e {
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => error_text(err),
        ignore::Error::Loop { .. } => "symlink loop".into(),
        other => other.to_string(),
    }
}
