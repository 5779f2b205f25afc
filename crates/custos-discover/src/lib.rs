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
//! Infrastructure sources read one file's text at a time and return [`AgentFinding`]s (or a
//! reason to skip the file): [`scan_terraform`] / [`scan_terraform_module`] and
//! [`scan_cloudformation`] with the IaC catalogue (`catalogue/iac.toml`), [`scan_k8s`] with the
//! Kubernetes catalogue (`catalogue/k8s.toml`).

mod catalogue;
mod fingerprint;
mod iac;
mod jsonc;
mod k8s;
mod model;
mod scan;
mod yaml;

pub use catalogue::{Catalogue, CatalogueError, Client, ConfigFiles, Format, LoginFiles, Os, OsPaths, Scope};
pub use fingerprint::{FingerprintKey, hmac_sha256};
pub use iac::{
    IacCatalogue, IacClass, IacResource, IacWhen, looks_like_cloudformation, scan_cloudformation, scan_terraform,
    scan_terraform_module,
};
pub use k8s::{
    CrdClass, ImageClass, K8sCatalogue, K8sCommand, K8sCrd, K8sEnv, K8sIdentity, K8sImage, looks_like_k8s, scan_k8s,
};
pub use model::{
    AgentFinding, AgentKind, CredentialFinding, Label, Location, Reconciled, Report, Skipped, Source, TrafficFinding,
};
pub use scan::{LoginFile, MAX_FILE_SIZE, Roots, Server, Transport, mask, scan_clients, scan_clients_in};
