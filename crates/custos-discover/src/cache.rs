//! The incremental cache of the tree scan: per file, its metadata, the SHA-256 of its content
//! and what it yielded, in one file in a directory the caller names (the data dir).
//!
//! A rescan stats every file: unchanged metadata (length, modification and change times in
//! nanoseconds, inode and device) reuses the findings without reading the file; changed metadata
//! with an unchanged content hash reuses them after one read. The file is keyed by a digest of
//! everything that changes results (engine version, catalogue texts, the fingerprint key's id,
//! the analyzers' ids): another digest means a cold scan. It holds no secret (findings are
//! masked and fingerprinted already), is written with mode 0600 to a temporary file and renamed
//! into place, and a cache that cannot be read or parsed is ignored with a warning.
//!
//! The format is binary, because a rescan of a large tree is mostly this file's parsing (JSON
//! took ten times as long for 100,000 entries): `CUSTOSDC`, format (u32 LE), the digest, the
//! entry count, then per entry its path, metadata, hash and findings (JSON, usually empty), each
//! variable part preceded by its u32 LE length.
//!
//! A file changed twice within one timestamp tick with the same length, inode and change time
//! would be taken as unchanged; nanosecond timestamps make that a theoretical case.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::tree::FileFindings;

/// The cache's file name inside the directory the caller gives.
pub const CACHE_FILE: &str = "discover-cache.bin";

const MAGIC: &[u8; 8] = b"CUSTOSDC";
const FORMAT: u32 = 1;

/// What a stat says about a file; equal metadata means the file is taken as unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileMeta {
    pub len: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

impl FileMeta {
    pub fn of(meta: &fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            Self {
                len: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                ino: meta.ino(),
                dev: meta.dev(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0));
            Self { len: meta.len(), mtime_ns, ctime_ns: 0, ino: 0, dev: 0 }
        }
    }
}

/// One file's cached state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub meta: FileMeta,
    pub sha256: [u8; 32],
    pub findings: FileFindings,
}

/// The loaded cache.
#[derive(Debug, Default)]
pub struct Cache {
    digest: String,
    entries: HashMap<String, CacheEntry>,
}

impl Cache {
    /// The cache in `dir` for `digest`; empty when there is none, when it was made for another
    /// digest, or (with a warning) when it cannot be read.
    pub fn load(dir: &Path, digest: &str) -> (Self, Option<String>) {
        let empty = Self { digest: digest.to_string(), entries: HashMap::new() };
        let path = dir.join(CACHE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (empty, None),
            Err(e) => return (empty, Some(format!("scan cache `{}` ignored: {e}", path.display()))),
        };
        match decode(&bytes) {
            Some((file_digest, entries)) if file_digest == digest => (Self { digest: file_digest, entries }, None),
            Some(_) => (empty, None),
            None => (empty, Some(format!("scan cache `{}` ignored: not a valid cache file", path.display()))),
        }
    }

    pub fn get(&self, path: &Path) -> Option<&CacheEntry> {
        match path.to_str() {
            Some(s) => self.entries.get(s),
            None => self.entries.get(&key_of(path)),
        }
    }

    /// Drops the entries of files no longer in `live`, adds `fresh`, and writes the cache when
    /// anything changed. Returns a warning when it could not be written.
    pub fn update_and_save(&mut self, dir: &Path, live: &[&Path], fresh: Vec<(PathBuf, CacheEntry)>) -> Option<String> {
        if fresh.is_empty() && self.entries.len() == live.len() {
            // Every live file was answered by its own entry: nothing to add or drop.
            return None;
        }
        let before = self.entries.len();
        let live: std::collections::HashSet<String> = live.iter().map(|p| key_of(p)).collect();
        self.entries.retain(|k, _| live.contains(k));
        let mut changed = self.entries.len() != before;
        for (path, entry) in fresh {
            let key = key_of(&path);
            if self.entries.get(&key) != Some(&entry) {
                self.entries.insert(key, entry);
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        self.save(dir).err().map(|e| format!("scan cache not written to `{}`: {e}", dir.display()))
    }

    fn save(&self, dir: &Path) -> std::io::Result<()> {
        fs::create_dir_all(dir)?;
        let bytes = encode(&self.digest, &self.entries).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(".{CACHE_FILE}.{}.tmp", std::process::id()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let written = options.open(&tmp).and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, dir.join(CACHE_FILE))) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(())
    }
}

/// A path as a map key: itself when UTF-8, else a NUL (never in a path) and the hex of its bytes.
fn key_of(path: &Path) -> String {
    match path.to_str() {
        Some(s) => s.to_string(),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt as _;
                format!("\0{}", hex::encode(path.as_os_str().as_bytes()))
            }
            #[cfg(not(unix))]
            {
                format!("\0{}", path.to_string_lossy())
            }
        }
    }
}

fn encode(digest: &str, entries: &HashMap<String, CacheEntry>) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(64 + entries.len() * 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    put_bytes(&mut out, digest.as_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (key, e) in entries {
        put_bytes(&mut out, key.as_bytes());
        out.extend_from_slice(&e.meta.len.to_le_bytes());
        out.extend_from_slice(&e.meta.mtime_ns.to_le_bytes());
        out.extend_from_slice(&e.meta.ctime_ns.to_le_bytes());
        out.extend_from_slice(&e.meta.ino.to_le_bytes());
        out.extend_from_slice(&e.meta.dev.to_le_bytes());
        out.extend_from_slice(&e.sha256);
        if e.findings.is_empty() {
            put_bytes(&mut out, b"");
        } else {
            put_bytes(&mut out, &serde_json::to_vec(&e.findings)?);
        }
    }
    Ok(out)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(b);
}

/// The digest and entries of a cache file, or `None` when it is not one.
fn decode(bytes: &[u8]) -> Option<(String, HashMap<String, CacheEntry>)> {
    let mut r = Reader(bytes);
    if r.take(8)? != MAGIC || u32::from_le_bytes(r.array()?) != FORMAT {
        return None;
    }
    let digest = String::from_utf8(r.var()?.to_vec()).ok()?;
    let count = u64::from_le_bytes(r.array()?);
    // Never trust a count for an allocation: each entry takes at least 100 bytes.
    let mut entries = HashMap::with_capacity(usize::try_from(count).ok()?.min(bytes.len() / 100));
    for _ in 0..count {
        let key = String::from_utf8(r.var()?.to_vec()).ok()?;
        let meta = FileMeta {
            len: u64::from_le_bytes(r.array()?),
            mtime_ns: i128::from_le_bytes(r.array()?),
            ctime_ns: i128::from_le_bytes(r.array()?),
            ino: u64::from_le_bytes(r.array()?),
            dev: u64::from_le_bytes(r.array()?),
        };
        let sha256: [u8; 32] = r.array()?;
        let findings = match r.var()? {
            [] => FileFindings::default(),
            json => serde_json::from_slice(json).ok()?,
        };
        entries.insert(key, CacheEntry { meta, sha256, findings });
    }
    r.0.is_empty().then_some((digest, entries))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn var(&mut self) -> Option<&'a [u8]> {
        let n = u32::from_le_bytes(self.array()?);
        self.take(usize::try_from(n).ok()?)
    }
}
