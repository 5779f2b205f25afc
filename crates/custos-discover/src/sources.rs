//! The file analyzers of a tree scan: each source recognises its files by name and a cheap
//! look at the bytes, and reads only those. Credentials are the tree engine's job (every file);
//! these find agents, MCP servers, infrastructure and telemetry.

use std::io::BufReader;
use std::path::Path;

use crate::catalogue::{Catalogue, Os};
use crate::code::{Frameworks, scan_prefiltered};
use crate::fingerprint::FingerprintKey;
use crate::hosts::HostCatalogue;
use crate::iac::{IacCatalogue, looks_like_cloudformation, scan_cloudformation, scan_terraform};
use crate::k8s::{K8sCatalogue, looks_like_k8s, scan_k8s};
use crate::logs::scan_log;
use crate::model::Skipped;
use crate::otel::scan_otlp;
use crate::scan::scan_project_config;
use crate::tree::{FileAnalyzer, FileFindings};

fn ext(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default()
}

fn name(path: &Path) -> &str {
    path.file_name().and_then(|e| e.to_str()).unwrap_or_default()
}

fn skipped(path: &Path, reason: String) -> FileFindings {
    FileFindings { skipped: vec![Skipped { path: path.to_path_buf(), reason }], ..FileFindings::default() }
}

/// Project-scoped agent-client configs (`.mcp.json`, `.vscode/mcp.json`, `.cursor/mcp.json`, …)
/// wherever they sit in the tree.
pub(crate) struct ConfigFiles<'a> {
    pub catalogue: &'a Catalogue,
    pub os: Os,
    pub key: &'a FingerprintKey,
    /// The last path segment of every project pattern, for a cheap first check.
    pub names: Vec<String>,
}

impl<'a> ConfigFiles<'a> {
    pub fn new(catalogue: &'a Catalogue, os: Os, key: &'a FingerprintKey) -> Self {
        let mut names: Vec<String> = catalogue
            .client
            .iter()
            .flat_map(|c| &c.config)
            .filter(|g| g.scope == crate::catalogue::Scope::Project)
            .flat_map(|g| g.paths.for_os(os))
            .filter_map(|p| p.rsplit('/').next().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        Self { catalogue, os, key, names }
    }
}

impl FileAnalyzer for ConfigFiles<'_> {
    fn id(&self) -> String {
        "config-1".into()
    }

    fn wants(&self, path: &Path, _: &[u8]) -> bool {
        let n = name(path);
        self.names.iter().any(|pattern| match pattern.split_once('*') {
            None => pattern == n,
            Some((pre, suf)) => n.len() >= pre.len() + suf.len() && n.starts_with(pre) && n.ends_with(suf),
        })
    }

    fn analyze(&self, path: &Path, bytes: &[u8]) -> FileFindings {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return skipped(path, "agent-client config is not UTF-8".into());
        };
        match scan_project_config(self.catalogue, self.os, path, text, self.key) {
            None => FileFindings::default(),
            Some(r) => FileFindings {
                credentials: r.credentials,
                servers: r.servers,
                skipped: r.skipped,
                ..FileFindings::default()
            },
        }
    }
}

/// Agent code (Python, TypeScript, JavaScript) and agent definition files.
pub(crate) struct Code<'a>(pub &'a Frameworks);

impl FileAnalyzer for Code<'_> {
    fn id(&self) -> String {
        "code-1".into()
    }

    fn wants(&self, path: &Path, bytes: &[u8]) -> bool {
        matches!(name(path), "agents.yaml" | "agents.yml" | "agent-card.json" | "agent.json")
            || self.0.prefilter(path, bytes)
    }

    /// Called only after [`Self::wants`], which ran the keyword prefilter already: a second
    /// run of it over the file would cost as much as the first.
    fn analyze(&self, path: &Path, bytes: &[u8]) -> FileFindings {
        FileFindings { agents: scan_prefiltered(self.0, path, bytes), ..FileFindings::default() }
    }
}

/// Terraform files and CloudFormation templates.
pub(crate) struct Iac<'a>(pub &'a IacCatalogue);

impl FileAnalyzer for Iac<'_> {
    fn id(&self) -> String {
        "iac-1".into()
    }

    fn wants(&self, path: &Path, bytes: &[u8]) -> bool {
        match ext(path) {
            "tf" => true,
            "yaml" | "yml" | "json" | "template" => {
                memchr::memmem::find(bytes, b"AWS::").is_some()
                    && std::str::from_utf8(bytes).is_ok_and(looks_like_cloudformation)
            }
            _ => false,
        }
    }

    fn analyze(&self, path: &Path, bytes: &[u8]) -> FileFindings {
        let text = String::from_utf8_lossy(bytes);
        let found = if ext(path) == "tf" {
            scan_terraform(self.0, path, &text)
        } else {
            scan_cloudformation(self.0, path, &text)
        };
        match found {
            Ok(agents) => FileFindings { agents, ..FileFindings::default() },
            Err(reason) => skipped(path, reason),
        }
    }
}

/// Kubernetes manifests.
pub(crate) struct K8s<'a>(pub &'a K8sCatalogue);

impl FileAnalyzer for K8s<'_> {
    fn id(&self) -> String {
        "k8s-1".into()
    }

    fn wants(&self, path: &Path, bytes: &[u8]) -> bool {
        matches!(ext(path), "yaml" | "yml")
            && memchr::memmem::find(bytes, b"apiVersion").is_some()
            && std::str::from_utf8(bytes).is_ok_and(looks_like_k8s)
    }

    fn analyze(&self, path: &Path, bytes: &[u8]) -> FileFindings {
        let text = String::from_utf8_lossy(bytes);
        match scan_k8s(self.0, path, &text) {
            Ok(agents) => FileFindings { agents, ..FileFindings::default() },
            Err(reason) => skipped(path, reason),
        }
    }
}

/// Proxy, DNS and egress logs, and OTLP JSON traces, found in a tree by name and first bytes.
/// A log in a format none of the readers knows is ordinary, not a skip.
pub(crate) struct Telemetry<'a>(pub &'a HostCatalogue);

/// Whether the first bytes look like an OTLP trace export.
fn looks_like_otlp(bytes: &[u8]) -> bool {
    let head = bytes.get(..4096).unwrap_or(bytes);
    memchr::memmem::find(head, b"resourceSpans").is_some() || memchr::memmem::find(head, b"resource_spans").is_some()
}

impl FileAnalyzer for Telemetry<'_> {
    fn id(&self) -> String {
        "telemetry-1".into()
    }

    fn wants(&self, path: &Path, bytes: &[u8]) -> bool {
        let n = name(path);
        match ext(path) {
            "log" | "jsonl" | "ndjson" => true,
            "json" => looks_like_otlp(bytes),
            _ => n.contains("access.log") || n.contains("access_log"),
        }
    }

    fn analyze(&self, path: &Path, bytes: &[u8]) -> FileFindings {
        if looks_like_otlp(bytes) {
            return match scan_otlp(self.0, path, BufReader::new(bytes)) {
                Ok(o) => FileFindings { agents: o.agents, traffic: o.traffic, ..FileFindings::default() },
                Err(_) => FileFindings::default(),
            };
        }
        match scan_log(self.0, path, BufReader::new(bytes)) {
            Ok(l) => FileFindings { traffic: l.traffic, ..FileFindings::default() },
            Err(_) => FileFindings::default(),
        }
    }
}
