//! The data directory: what `custos init` creates and every other command opens.
//!
//! ```text
//! custos-data/
//!   .custos-data-dir     marker and layout version
//!   custos.toml          configuration (commented sample)
//!   signing.key          Ed25519 checkpoint key, Go `note` encoding, mode 0600
//!   admin-token.sha256   SHA-256 of the admin token (the token itself is shown once)
//!   ledger.db            the SQLite ledger (+ -wal, -shm, .lock)
//! ```

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, anyhow, bail};
use custos_ledger::{NoteSigner, NoteVerifier};

use crate::error::CliError;

const MARKER: &str = ".custos-data-dir";
const MARKER_TEXT: &str = "custos data directory, layout 1\n";
pub const KEY_FILE: &str = "signing.key";
pub const TOKEN_FILE: &str = "admin-token.sha256";
pub const DB_FILE: &str = "ledger.db";
pub const CONFIG_FILE: &str = "custos.toml";
pub const GATEWAY_KEY_FILE: &str = "gateway.key";
pub const DISCOVER_KEY_FILE: &str = "discover.key";

/// An opened (checked) data directory.
#[derive(Debug)]
pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    /// Checks that `path` is a custos data directory.
    pub fn open(path: &Path) -> Result<Self, CliError> {
        if !path.is_dir() {
            return Err(CliError::env(anyhow!(
                "data dir `{}` does not exist; create it with `custos init --data-dir {}`",
                path.display(),
                path.display()
            )));
        }
        match fs::read_to_string(path.join(MARKER)) {
            Ok(t) if t == MARKER_TEXT => Ok(Self { path: path.to_path_buf() }),
            Ok(_) => Err(CliError::env(anyhow!(
                "`{}` has an unknown data dir layout (its {MARKER} is not one this build reads)",
                path.display()
            ))),
            Err(_) => Err(CliError::env(anyhow!(
                "`{}` is not a custos data dir (no {MARKER} file); create one with `custos init`",
                path.display()
            ))),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.path.join(DB_FILE)
    }

    /// Loads the signing key, refusing a key file others can read.
    pub fn signer(&self) -> Result<NoteSigner, CliError> {
        let path = self.path.join(KEY_FILE);
        let meta = fs::metadata(&path)
            .with_context(|| format!("cannot read the signing key `{}`", path.display()))
            .map_err(CliError::env)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CliError::env(anyhow!(
                "the signing key `{}` is readable by others (mode {mode:04o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read the signing key `{}`", path.display()))
            .map_err(CliError::env)?;
        NoteSigner::from_encoded(&text)
            .with_context(|| format!("the signing key `{}` is corrupted", path.display()))
            .map_err(CliError::env)
    }

    /// The SHA-256 of the admin token, as `custos init` stored it.
    pub fn admin_token_sha256(&self) -> Result<[u8; 32], CliError> {
        let path = self.path.join(TOKEN_FILE);
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read the admin token hash `{}`", path.display()))
            .map_err(CliError::env)?;
        text.trim()
            .strip_prefix("sha256:")
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| CliError::env(anyhow!("`{}` is not `sha256:` and 64 hex digits", path.display())))
    }

    /// The gateway's secrets (session-sealing key, argument-digest salt), created on first use
    /// in `gateway.key` (0600, 64 random bytes as hex).
    pub fn gateway_keys(&self) -> Result<([u8; 32], [u8; 32]), CliError> {
        let b: [u8; 64] = self.secret_file(GATEWAY_KEY_FILE)?;
        let mut k = [0u8; 32];
        let mut s = [0u8; 32];
        k.copy_from_slice(b.get(..32).unwrap_or(&[0; 32]));
        s.copy_from_slice(b.get(32..).unwrap_or(&[0; 32]));
        Ok((k, s))
    }

    /// 32 secret bytes from the data dir (`discover.key`, made on first use): the key of
    /// credential fingerprints, so the same key found twice, in any scan, is one credential.
    pub fn discover_key(&self) -> Result<[u8; 32], CliError> {
        self.secret_file(DISCOVER_KEY_FILE)
    }

    /// `N` random bytes kept as hex in `name` (0600), made on first use; refused if others can
    /// read the file or it does not hold exactly `N` bytes.
    fn secret_file<const N: usize>(&self, name: &str) -> Result<[u8; N], CliError> {
        let path = self.path.join(name);
        if !path.exists() {
            let mut b = [0u8; N];
            getrandom::fill(&mut b).map_err(|e| CliError::env(anyhow!("no randomness: {e}")))?;
            write_private(&path, format!("{}\n", hex::encode(b)).as_bytes()).map_err(CliError::env)?;
        }
        let meta =
            fs::metadata(&path).with_context(|| format!("cannot read `{}`", path.display())).map_err(CliError::env)?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(CliError::env(anyhow!(
                "`{}` is readable by others; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read `{}`", path.display()))
            .map_err(CliError::env)?;
        hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(|| CliError::env(anyhow!("`{}` is not {N} bytes of hex", path.display())))
    }

    /// The verifier key, from `--key` if given, else from the signing key.
    pub fn verifier(&self, key: Option<&str>) -> Result<NoteVerifier, CliError> {
        match key {
            Some(k) => NoteVerifier::from_encoded(k).map_err(CliError::input),
            None => Ok(self.signer()?.verifier()),
        }
    }
}

/// Writes `contents` to a new file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

/// Prepares `path` for a new data dir: it must not exist, or be an empty directory.
pub fn check_new(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        let empty = path.is_dir() && fs::read_dir(path).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            bail!("`{}` already exists and is not empty; refusing to overwrite it", path.display());
        }
    }
    Ok(())
}

/// Creates the marker file.
pub fn write_marker(dir: &Path) -> anyhow::Result<()> {
    fs::write(dir.join(MARKER), MARKER_TEXT).with_context(|| format!("cannot write `{}`", dir.join(MARKER).display()))
}
