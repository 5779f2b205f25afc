//! The command line, declared with clap. Every flag that has an environment variable names it
//! here, so `--help` documents the whole precedence (flag > env > file > default).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::env;

#[derive(Debug, Parser)]
#[command(name = "custos", version, about = "custos: the agent trust layer", propagate_version = true)]
pub struct Cli {
    /// The data directory.
    #[arg(long, global = true, env = env::DATA_DIR, default_value = "./custos-data")]
    pub data_dir: PathBuf,

    /// The configuration file (default: custos.toml in the data directory).
    #[arg(long, global = true, env = env::CONFIG)]
    pub config: Option<PathBuf>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Sign a checkpoint at most this often while entries arrive (milliseconds).
    #[arg(long, global = true, env = env::CHECKPOINT_INTERVAL_MS, hide_short_help = true)]
    pub checkpoint_interval_ms: Option<u64>,

    /// The most entries one transaction takes (group commit).
    #[arg(long, global = true, env = env::MAX_BATCH, hide_short_help = true)]
    pub max_batch: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: signing key, admin token, sample config, empty ledger.
    Init(InitArgs),
    /// The evidence ledger: append, verify, prove, export.
    #[command(subcommand)]
    Ledger(LedgerCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The log's origin (and signing key name), e.g. `custos.example.com/ledger`. Default: a
    /// random `custos/<hex>`.
    #[arg(long)]
    pub origin: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Append an event (for operators and tests; custos's own producers append directly).
    Append(AppendArgs),
    /// Recompute every leaf and node, check every checkpoint; exit 2 when not verified.
    Verify(VerifyArgs),
    /// Sign a checkpoint of the current tree now.
    Checkpoint,
    /// Print a C2SP tlog-proof for one entry.
    Proof(ProofArgs),
    /// Print the consistency proof between two tree sizes.
    Consistency(ConsistencyArgs),
    /// Rebuild every projection from the entries.
    Replay,
    /// Print entries as JSON lines: each line is exactly one entry's bytes.
    Export(ExportArgs),
    /// Print the C2SP verifier key of this ledger.
    Key,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["kind", "stdin"]))]
pub struct AppendArgs {
    /// The event kind, e.g. `tool.pinned`.
    #[arg(long, requires = "data", long_help = kind_help())]
    pub kind: Option<String>,
    /// The event data: a JSON object.
    #[arg(long)]
    pub data: Option<String>,
    /// The agent the event is about.
    #[arg(long)]
    pub agent: Option<String>,
    /// Who is appending (default: $USER, else `operator`).
    #[arg(long)]
    pub actor: Option<String>,
    /// Read events from standard input, one JSON object per line
    /// (`{"kind":..,"data":{..},"agent":..}`), and print one acknowledgement per line as each
    /// becomes durable.
    #[arg(long, conflicts_with_all = ["kind", "data"])]
    pub stdin: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify checkpoints with this C2SP verifier key instead of the data dir's key.
    #[arg(long)]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProofArgs {
    /// The entry's index.
    #[arg(long)]
    pub index: u64,
    /// Prove against the checkpoint of this size (default: the latest checkpoint).
    #[arg(long)]
    pub size: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// The older tree size.
    #[arg(long)]
    pub from: u64,
    /// The newer tree size.
    #[arg(long)]
    pub to: u64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The first index to export.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Export up to (not including) this index (default: the end).
    #[arg(long)]
    pub to: Option<u64>,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

fn kind_help() -> String {
    format!("The event kind. One of: {}", custos_core::kind::names())
}
