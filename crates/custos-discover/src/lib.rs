//! Discovery of the MCP servers that agent clients are configured to start, read statically
//! from their configuration files.
//!
//! The client catalogue (`catalogue/clients.toml`) is data: which files each client reads and
//! where in them the server map sits. [`scan_clients`] walks the catalogue's paths under a home
//! directory and a list of projects, parses what it finds and reports each server, with the
//! names (never the values) of its environment variables and headers, and a finding for every
//! credential in an env value, header, argument or URL. Nothing is ever executed, and no secret
//! leaves the scanner: a finding carries a masked form and a keyed fingerprint only.

mod cache;
mod catalogue;
mod creds;
mod fingerprint;
mod jsonc;
mod model;
mod scan;
mod tree;

pub use cache::{CACHE_FILE, FileMeta};
pub use catalogue::{Catalogue, CatalogueError, Client, ConfigFiles, Format, LoginFiles, Os, OsPaths, Scope};
pub use creds::{CredentialEngine, CredentialHit, CredsError, FILE_CATALOGUE};
pub use fingerprint::{FingerprintKey, hmac_sha256};
pub use model::{
    AgentFinding, AgentKind, CredentialFinding, Label, Location, Reconciled, Report, Skipped, Source, TrafficFinding,
};
pub use scan::{LoginFile, MAX_FILE_SIZE, Roots, Server, Transport, mask, scan_clients, scan_clients_in};
pub use tree::{
    Analyzers, DEFAULT_MAX_FILE_SIZE, ENGINE_VERSION, FileAnalyzer, FileFindings, NoAnalyzer, Progress, TreeOptions,
    TreeScan, scan_tree,
};
