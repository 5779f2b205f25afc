//! The incremental cache of the tree scan: per file, its metadata, the SHA-256 of its content
//! and what it yielded, in one JSON file in a directory the caller names (the data dir).
//!
//! A rescan stats every file: unchanged metadata (length, modification and change times in
//! nanoseconds, inode and device) reuses the findings without reading the file; changed metadata
//! with an unchanged content hash reuses them after one read. The file is keyed by a digest of
//! everything that changes results (engine version, catalogue texts, the fingerprint key's id,
//! the analyzers' ids): another digest means a cold scan. It holds no secret (findings are
//! masked and fingerprinted already), is written with mode 0600 to a temporary file and renamed
//! into place, and a cache that cannot be read or parsed is ignored with a warning.
//!
//! A file changed twice within one timestamp tick with the same length, inode and change time
//! would be taken as unchanged; nanosecond timestamps make that a theoretical case.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tree::FileFindings;

/// The cache's file name inside the directory the caller gives.
pub const CACHE_FILE: &str = "discover-cache.json";

const FORMAT: u32 = 1;

/// What a stat says about a file; equal metadata means the file is taken as unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    #[serde(rename = "m")]
    pub meta: FileMeta,
    #[serde(rename = "h", with = "hex_bytes")]
    pub sha256: [u8; 32],
    #[serde(rename = "f", default, skip_serializing_if = "FileFindings::is_empty")]
    pub findings: FileFindings,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    digest: String,
    entries: HashMap<String, CacheEntry>,
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
        match serde_json::from_slice::<CacheFile>(&bytes) {
            Ok(file) if file.format == FORMAT && file.digest == digest => {
                (Self { digest: file.digest, entries: file.entries }, None)
            }
            Ok(_) => (empty, None),
            Err(e) => (empty, Some(format!("scan cache `{}` ignored: {e}", path.display()))),
        }
    }

    pub fn get(&self, path: &Path) -> Option<&CacheEntry> {
        self.entries.get(&key_of(path))
    }

    /// Drops the entries of files no longer in `live`, adds `fresh`, and writes the cache when
    /// anything changed. Returns a warning when it could not be written.
    pub fn update_and_save(&mut self, dir: &Path, live: &[&Path], fresh: Vec<(PathBuf, CacheEntry)>) -> Option<String> {
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
        let file = CacheFile { format: FORMAT, digest: self.digest.clone(), entries: self.entries.clone() };
        let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
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

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <&str>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
