//! `custos init`: create a data directory.
//!
//! Everything is built in a temporary sibling directory and renamed into place at the end, so
//! a failure leaves nothing half-made and an existing data dir is never touched.

use anyhow::{Context, anyhow};
use custos_core::{Actor, Event, KeyRotated};
use custos_ledger::NoteSigner;
use custos_store::{
    Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use sha2::{Digest, Sha256};

use crate::{
    cli::{Cli, InitArgs},
    config::SAMPLE,
    datadir::{self, CONFIG_FILE, DB_FILE, KEY_FILE, TOKEN_FILE},
    error::{CliError, CliResult, Code},
    output,
};

fn random32() -> anyhow::Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow!("no randomness available: {e}"))?;
    Ok(b)
}

/// What `init` made.
#[derive(Debug, serde::Serialize)]
pub struct Created {
    pub data_dir: String,
    pub origin: String,
    pub verifier_key: String,
    /// Shown once; only its SHA-256 is stored.
    pub admin_token: String,
}

pub async fn run(cli: &Cli, args: &InitArgs) -> CliResult<Code> {
    let created = create(cli, args).await?;
    if cli.json {
        output::json(&serde_json::to_value(&created).unwrap_or_default());
    } else {
        print_created(&created);
    }
    Ok(Code::Ok)
}

pub fn print_created(c: &Created) {
    println!("created custos data dir `{}`", c.data_dir);
    println!("  origin:        {}", c.origin);
    println!("  verifier key:  {}", c.verifier_key);
    println!("  config:        {}", std::path::Path::new(&c.data_dir).join(CONFIG_FILE).display());
    println!();
    println!("admin token (shown once; only its SHA-256 is stored):");
    println!("  {}", c.admin_token);
}

/// Creates the data dir named by `--data-dir`.
pub async fn create(cli: &Cli, args: &InitArgs) -> CliResult<Created> {
    let dir = &cli.data_dir;
    datadir::check_new(dir).map_err(CliError::env)?;
    let origin = match &args.origin {
        Some(o) => o.clone(),
        None => format!("custos/{}", hex::encode(random32()?.get(..8).unwrap_or_default())),
    };
    let signer =
        NoteSigner::from_seed(&origin, &random32()?).map_err(|e| CliError::input(anyhow!("invalid --origin: {e}")))?;
    let token = format!("custos_admin_{}", hex::encode(random32()?));

    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let staging = parent.join(format!(".custos-init-{}", hex::encode(random32()?.get(..6).unwrap_or_default())));
    let result = build(&staging, &signer, &token).await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(CliError::env(e));
    }
    if dir.exists() {
        std::fs::remove_dir(dir).with_context(|| format!("cannot replace the empty `{}`", dir.display()))?;
    }
    std::fs::rename(&staging, dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    Ok(Created {
        data_dir: dir.display().to_string(),
        origin,
        verifier_key: signer.verifier().encode(),
        admin_token: token,
    })
}

async fn build(staging: &std::path::Path, signer: &NoteSigner, token: &str) -> anyhow::Result<()> {
    std::fs::create_dir(staging).with_context(|| format!("cannot create `{}`", staging.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(staging, std::fs::Permissions::from_mode(0o700))?;
    datadir::write_private(&staging.join(KEY_FILE), format!("{}\n", signer.encode().expose()).as_bytes())?;
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    datadir::write_private(&staging.join(TOKEN_FILE), format!("sha256:{digest}\n").as_bytes())?;
    std::fs::write(staging.join(CONFIG_FILE), SAMPLE)?;
    let store = SqliteStore::create(&staging.join(DB_FILE), signer.clone(), SqliteOptions::default())?;
    // The first entry states which key signs this ledger's checkpoints.
    let genesis = KeyRotated {
        verifier_key: signer.verifier().encode(),
        previous: None,
        reason: "initial key, created by custos init".into(),
    };
    store.append(Event::new(Actor::system(), None, &genesis)?).await?;
    store.close().await?;
    drop(store);
    datadir::write_marker(staging)?;
    Ok(())
}
