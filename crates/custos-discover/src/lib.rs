//! Discovery of the MCP servers that agent clients are configured to start, read statically
//! from their configuration files.
//!
//! The client catalogue (`catalogue/clients.toml`) is data: which files each client reads and
//! where in them the server map sits. [`scan_clients`] walks the catalogue's paths under a home
//! directory and a list of projects, parses what it finds and reports each server, with the
//! names (never the values) of its environment variables and headers, and a finding for every
//! credential in an env value, header, argument or URL. Nothing is ever executed, and no secret
//! leaves the scanner: a finding carries a masked form and a keyed fingerprint only.
//!
//! Agents in source code and agent definition files come from the framework catalogue
//! (`catalogue/frameworks.toml`, [`Frameworks`]): per file, [`scan_source`] runs the cheap
//! [`Frameworks::prefilter`], then [`scan_code`] (tree-sitter, imports resolved) or
//! [`scan_definition`] (CrewAI `agents.yaml`, A2A agent cards).
//! Infrastructure sources read one file's text at a time and return [`AgentFinding`]s (or a
//! reason to skip the file): [`scan_terraform`] / [`scan_terraform_module`] and
//! [`scan_cloudformation`] with the IaC catalogue (`catalogue/iac.toml`), [`scan_k8s`] with the
//! Kubernetes catalogue (`catalogue/k8s.toml`).

mod cache;
mod catalogue;
mod code;
mod creds;
mod cyclonedx;
mod fingerprint;
mod hosts;
mod iac;
mod jsonc;
mod k8s;
mod logs;
mod model;
mod otel;
mod reconcile;
mod run;
mod sarif;
mod scan;
mod sources;
mod tree;
mod yaml;

pub use cache::{CACHE_FILE, FileMeta};
pub use catalogue::{Catalogue, CatalogueError, Client, ConfigFiles, Format, LoginFiles, Os, OsPaths, Scope};
pub use code::{
    CodeLanguage, Framework, Frameworks, Lookalike, NameFrom, Symbol, SymbolKind, scan_code, scan_definition,
    scan_source,
};
pub use creds::{CredentialEngine, CredentialHit, CredsError, FILE_CATALOGUE};
pub use cyclonedx::{to_cyclonedx, uuid_v4};
pub use fingerprint::{FingerprintKey, hmac_sha256};
pub use hosts::{HostCatalogue, HostCatalogueError, HostCategory, HostEntry};
pub use iac::{
    IacCatalogue, IacClass, IacResource, IacWhen, looks_like_cloudformation, scan_cloudformation, scan_terraform,
    scan_terraform_module,
};
pub use k8s::{
    CrdClass, ImageClass, K8sCatalogue, K8sCommand, K8sCrd, K8sEnv, K8sIdentity, K8sImage, looks_like_k8s, scan_k8s,
};
pub use logs::{LogScan, MAX_LINE, scan_log};
pub use model::{
    AgentFinding, AgentKind, CredentialFinding, Label, Location, Reconciled, Report, Skipped, Source, TrafficFinding,
};
pub use otel::{OtelScan, scan_otlp};
pub use reconcile::{ReconcileOptions, RegistryAgent, is_agent, reconcile};
pub use run::{Catalogues, Plan, RunStats, run};
pub use sarif::{SARIF_SCHEMA, to_sarif};
pub use scan::{
    LoginFile, MAX_FILE_SIZE, Roots, Server, Transport, mask, scan_clients, scan_clients_in, scan_project_config,
};
pub use tree::{
    Analyzers, DEFAULT_MAX_FILE_SIZE, ENGINE_VERSION, FileAnalyzer, FileFindings, NoAnalyzer, Progress, TreeOptions,
    TreeScan, scan_tree,
};
