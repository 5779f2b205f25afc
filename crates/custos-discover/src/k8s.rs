//! Agents, MCP servers and model clients in Kubernetes manifests.
//!
//! The catalogue (`catalogue/k8s.toml`) names agent and MCP custom resources (kagent, ToolHive,
//! KAOS), environment variable names that hand a workload a model-API key, and the images and
//! commands of MCP servers and model servers. A workload whose containers get such a variable
//! is an `llm_client` (an `agent` when its pod also runs an MCP server); a container running an
//! MCP server is an `mcp_server`. Only variable names are read, never their values: a secret
//! written as a literal `value:` is the credential scanner's to find.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalogue::CatalogueError;
use crate::model::{AgentFinding, AgentKind, Location, Source};

const BUILTIN: &str = include_str!("../catalogue/k8s.toml");

/// Files larger than this are not parsed.
const MAX_TEXT: usize = 4 * 1024 * 1024;
/// The framework id of findings that come from a plain workload rather than a CRD or image.
const WORKLOAD_FRAMEWORK: &str = "kubernetes";

/// What a custom resource kind contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrdClass {
    ManagedAgent,
    McpServer,
    /// A model binding an agent names through `model_ref`; no finding of its own.
    Model,
    Context,
}

/// An agent or MCP custom resource kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sCrd {
    pub group: String,
    pub kind: String,
    pub framework: String,
    pub class: CrdClass,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub model_ref: Option<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub mcp_servers: Vec<String>,
    #[serde(default)]
    pub credentials: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub source: String,
    pub checked: String,
}

/// An environment variable name that gives a model-API credential or endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sEnv {
    pub name: String,
    /// When set, the variable counts only with this literal value (a switch, not a secret).
    #[serde(default)]
    pub value: Option<String>,
    /// Whether the variable carries a credential (listed in `credential_refs`) or only points a
    /// workload at a model (an endpoint or a switch: evidence only).
    #[serde(default = "yes")]
    pub credential: bool,
    pub provider: String,
    pub source: String,
    pub checked: String,
}

fn yes() -> bool {
    true
}

/// Whether an image or command is an MCP server or a model server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageClass {
    McpServer,
    LlmClient,
}

/// A container image pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sImage {
    pub pattern: String,
    pub framework: String,
    pub class: ImageClass,
    pub source: String,
    pub checked: String,
}

/// A command word that starts an MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sCommand {
    pub pattern: String,
    pub framework: String,
    pub source: String,
    pub checked: String,
}

/// An annotation that links a workload to a cloud identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sIdentity {
    pub annotation: String,
    pub cloud: String,
    pub source: String,
    pub checked: String,
}

/// The Kubernetes catalogue: typed form of `catalogue/k8s.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sCatalogue {
    #[serde(default)]
    pub crd: Vec<K8sCrd>,
    #[serde(default)]
    pub env: Vec<K8sEnv>,
    #[serde(default)]
    pub image: Vec<K8sImage>,
    #[serde(default)]
    pub command: Vec<K8sCommand>,
    #[serde(default)]
    pub identity: Vec<K8sIdentity>,
}

impl K8sCatalogue {
    /// The file name a `--catalog DIR` override uses.
    pub const FILE_NAME: &'static str = "k8s.toml";

    /// The catalogue shipped with custos.
    pub fn builtin() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the built-in catalogue is constant data, and a test loads it on every run"
        )]
        Self::from_toml(BUILTIN, Path::new("catalogue/k8s.toml")).expect("the built-in Kubernetes catalogue loads")
    }

    /// A catalogue from TOML text; `origin` names it in errors (which carry the line).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, CatalogueError> {
        let cat: Self = toml::from_str(text)
            .map_err(|e| CatalogueError::Toml { path: origin.to_path_buf(), source: Box::new(e) })?;
        let dated = |id: String, source: &str, checked: &str| {
            if source.is_empty() || checked.len() != 10 {
                Err(CatalogueError::Invalid { id, why: "needs `source` and a `checked` date (YYYY-MM-DD)".into() })
            } else {
                Ok(())
            }
        };
        let mut seen = BTreeSet::new();
        for c in &cat.crd {
            let id = format!("{}/{}", c.group, c.kind);
            dated(id.clone(), &c.source, &c.checked)?;
            if !seen.insert(id.clone()) {
                return Err(CatalogueError::Duplicate { id });
            }
        }
        for e in &cat.env {
            dated(e.name.clone(), &e.source, &e.checked)?;
        }
        for i in &cat.image {
            dated(i.pattern.clone(), &i.source, &i.checked)?;
        }
        for c in &cat.command {
            dated(c.pattern.clone(), &c.source, &c.checked)?;
        }
        for i in &cat.identity {
            dated(i.annotation.clone(), &i.source, &i.checked)?;
        }
        Ok(cat)
    }

    /// `dir/k8s.toml` when it exists, else the built-in catalogue.
    pub fn load(dir: Option<&Path>) -> Result<Self, CatalogueError> {
        match dir.map(|d| d.join(Self::FILE_NAME)).filter(|p| p.is_file()) {
            Some(path) => {
                let text =
                    std::fs::read_to_string(&path).map_err(|e| CatalogueError::Io { path: path.clone(), source: e })?;
                Self::from_toml(&text, &path)
            }
            None => Ok(Self::builtin()),
        }
    }

    fn crd(&self, group: &str, kind: &str) -> Option<&K8sCrd> {
        self.crd.iter().find(|c| c.group == group && c.kind == kind)
    }

    fn image(&self, image: &str) -> Option<&K8sImage> {
        let repo = repository(image);
        self.image.iter().find(|i| matches(&i.pattern, &repo))
    }

    fn command<'a>(&'a self, words: &'a [String]) -> Option<(&'a K8sCommand, &'a str)> {
        self.command.iter().find_map(|c| {
            words.iter().find_map(|w| {
                let last = w.rsplit('/').next().unwrap_or(w);
                (matches(&c.pattern, w) || matches(&c.pattern, last)).then_some((c, w.as_str()))
            })
        })
    }
}

/// `pattern` with an optional trailing `*` against `text`.
fn matches(pattern: &str, text: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => text.starts_with(prefix) && text.len() > prefix.len(),
        None => text == pattern,
    }
}

/// An image reference's repository path: no registry host, tag or digest, and Docker Hub's
/// `library/` and `docker.io/` prefixes dropped.
fn repository(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let mut parts: Vec<&str> = no_digest.split('/').collect();
    if parts.len() > 1 && parts.first().is_some_and(|h| h.contains('.') || h.contains(':') || *h == "localhost") {
        parts.remove(0);
    }
    let mut repo = parts.join("/");
    // A tag follows the last `:` of the last segment.
    if let Some((head, tail)) = repo.rsplit_once(':')
        && !tail.contains('/')
    {
        repo = head.to_string();
    }
    repo.strip_prefix("library/").map(str::to_string).unwrap_or(repo)
}

/// Whether `text` is likely a Kubernetes manifest: a top-level `apiVersion` and `kind` (YAML,
/// at the start of a line) or their JSON keys. Cheap, so that other YAML is never parsed as one.
pub fn looks_like_k8s(text: &str) -> bool {
    let mut api = false;
    let mut kind = false;
    for line in text.lines() {
        let l = line.trim_end();
        api |= l.starts_with("apiVersion:");
        kind |= l.starts_with("kind:");
        if api && kind {
            return true;
        }
    }
    let t = text.trim_start();
    t.starts_with('{') && t.contains("\"apiVersion\"") && t.contains("\"kind\"")
}

/// One Kubernetes object with the text it came from, for line numbers.
struct Object<'a> {
    value: Value,
    doc: &'a str,
    first_line: u32,
    /// Objects of a `List` share a document: their line is found by name.
    in_list: bool,
}

impl Object<'_> {
    fn str_at(&self, path: &str) -> Option<&str> {
        path.split('.').try_fold(&self.value, |v, k| v.get(k)).and_then(Value::as_str)
    }

    fn name(&self) -> &str {
        self.str_at("metadata.name").unwrap_or("unnamed")
    }

    fn kind(&self) -> &str {
        self.str_at("kind").unwrap_or_default()
    }

    fn group(&self) -> &str {
        let api = self.str_at("apiVersion").unwrap_or_default();
        api.rsplit_once('/').map_or("", |(g, _)| g)
    }

    fn line(&self) -> u32 {
        if self.in_list {
            let needle = format!("name: {}", self.name());
            find_line(self.doc, self.first_line, |l| l.trim_start().trim_start_matches("- ").starts_with(&needle))
        } else {
            find_line(self.doc, self.first_line, |l| l.starts_with("kind:") || l.trim_start().starts_with("\"kind\""))
        }
    }
}

/// The line of the first line of `doc` (which starts at `first`) that `pred` accepts, or `first`.
fn find_line(doc: &str, first: u32, pred: impl Fn(&str) -> bool) -> u32 {
    doc.lines().position(pred).and_then(|i| u32::try_from(i).ok()).map_or(first, |i| first.saturating_add(i))
}

/// Agents, MCP servers and model clients in one manifest file (several documents, `List`s).
/// A file that does not look like a manifest gives no findings; one that does but does not parse
/// is an `Err` with a position, never with content.
pub fn scan_k8s(cat: &K8sCatalogue, path: &Path, text: &str) -> Result<Vec<AgentFinding>, String> {
    if text.len() > MAX_TEXT {
        return Err(format!("larger than {MAX_TEXT} bytes"));
    }
    if !looks_like_k8s(text) {
        return Ok(Vec::new());
    }
    let docs = crate::yaml::documents(text);
    let mut objects = Vec::new();
    for (first_line, doc) in &docs {
        let value = crate::yaml::parse(doc, *first_line).map_err(|reason| {
            if doc.contains("{{") { format!("{reason} (a Helm template? render it first)") } else { reason }
        })?;
        match value.get("items").and_then(Value::as_array) {
            Some(items) if value.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) => {
                objects.extend(items.iter().map(|item| Object {
                    value: item.clone(),
                    doc,
                    first_line: *first_line,
                    in_list: true,
                }));
            }
            _ => objects.push(Object { value, doc, first_line: *first_line, in_list: false }),
        }
    }
    objects.retain(|o| o.value.get("apiVersion").is_some() && o.value.get("kind").is_some());

    let mut ctx = Ctx { cat, path, service_accounts: BTreeMap::new(), models: BTreeMap::new(), out: Vec::new() };
    for o in &objects {
        if o.kind() == "ServiceAccount" {
            let annotations = o.value.pointer("/metadata/annotations").cloned().unwrap_or(Value::Null);
            ctx.service_accounts.insert(o.name().to_string(), annotations);
        }
        if let Some(crd) = cat.crd(o.group(), o.kind())
            && crd.class == CrdClass::Model
        {
            let models = strings(&o.value, &crd.models);
            let creds = strings(&o.value, &crd.credentials);
            ctx.models.insert((o.group().to_string(), o.kind().to_string(), o.name().to_string()), (models, creds));
        }
    }
    for o in &objects {
        if let Some(crd) = cat.crd(o.group(), o.kind()) {
            ctx.custom_resource(crd, o);
        } else if let Some(pod) = pod_spec(&o.value, o.kind()) {
            ctx.workload(o, pod);
        }
    }
    Ok(ctx.out)
}

/// The pod spec of a workload kind.
fn pod_spec<'v>(value: &'v Value, kind: &str) -> Option<&'v Value> {
    match kind {
        "Pod" => value.get("spec"),
        "CronJob" => value.pointer("/spec/jobTemplate/spec/template/spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "ReplicationController" => {
            value.pointer("/spec/template/spec")
        }
        _ => None,
    }
}

/// Literal strings at dotted paths; `*` takes every list element, and a list at the end of a
/// path gives each of its strings.
fn strings(value: &Value, paths: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for path in paths {
        let mut current = vec![value];
        for segment in path.split('.') {
            current = current
                .into_iter()
                .flat_map(|v| match (segment, v) {
                    ("*", Value::Array(items)) => items.iter().collect::<Vec<_>>(),
                    (key, v) => v.get(key).into_iter().collect(),
                })
                .collect();
        }
        for v in current {
            match v {
                Value::String(s) if !s.is_empty() => out.push(s.clone()),
                Value::Array(items) => out.extend(items.iter().filter_map(Value::as_str).map(str::to_string)),
                _ => {}
            }
        }
    }
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

type ModelKey = (String, String, String);

struct Ctx<'a> {
    cat: &'a K8sCatalogue,
    path: &'a Path,
    service_accounts: BTreeMap<String, Value>,
    models: BTreeMap<ModelKey, (Vec<String>, Vec<String>)>,
    out: Vec<AgentFinding>,
}

/// What one container shows.
struct Container {
    name: String,
    image: String,
    words: Vec<String>,
    /// Catalogue env names it gets, each with how (`secretKeyRef <secret>`, `value`, …) and
    /// whether it is a credential.
    llm_env: Vec<(String, String, bool)>,
    env_from: Vec<String>,
}

impl Ctx<'_> {
    fn finding(&self, kind: AgentKind, name: String, framework: &str, line: u32, evidence: String) -> AgentFinding {
        AgentFinding {
            id: String::new(),
            kind,
            name,
            framework: framework.to_string(),
            language: Some("yaml".to_string()),
            source: Source::K8s,
            location: Location::line(self.path, line),
            models: Vec::new(),
            tools: Vec::new(),
            mcp_servers: Vec::new(),
            credential_refs: Vec::new(),
            evidence,
        }
    }

    fn custom_resource(&mut self, crd: &K8sCrd, o: &Object<'_>) {
        let kind = match crd.class {
            CrdClass::ManagedAgent => AgentKind::ManagedAgent,
            CrdClass::McpServer => AgentKind::McpServer,
            CrdClass::Model | CrdClass::Context => return,
        };
        let mut evidence = format!("{} {} `{}`", o.str_at("apiVersion").unwrap_or_default(), o.kind(), o.name());
        if let Some(ns) = o.str_at("metadata.namespace") {
            evidence.push_str(&format!(" in namespace `{ns}`"));
        }
        for note in &crd.notes {
            for v in strings(&o.value, std::slice::from_ref(note)) {
                evidence.push_str(&format!("; {note} = {}", v.lines().next().unwrap_or_default()));
            }
        }
        let mut f = self.finding(kind, o.name().to_string(), &crd.framework, o.line(), evidence);
        let mut models = Vec::new();
        let mut creds = Vec::new();
        for m in strings(&o.value, &crd.models) {
            let key = crd.model_ref.as_ref().map(|k| (o.group().to_string(), k.clone(), m.clone()));
            match key.and_then(|k| self.models.get(&k)) {
                Some((resolved, c)) if !resolved.is_empty() => {
                    models.extend(resolved.iter().cloned());
                    creds.extend(c.iter().cloned());
                }
                _ => models.push(m),
            }
        }
        f.models = sorted(models);
        f.credential_refs = sorted(creds);
        f.tools = sorted(strings(&o.value, &crd.tools));
        f.mcp_servers = sorted(strings(&o.value, &crd.mcp_servers));
        self.out.push(f);
    }

    fn container(&self, c: &Value) -> Option<Container> {
        let name = c.get("name").and_then(Value::as_str)?.to_string();
        let image = c.get("image").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut words = Vec::new();
        for field in ["command", "args"] {
            for item in c.get(field).and_then(Value::as_array).into_iter().flatten() {
                if let Some(s) = item.as_str() {
                    words.extend(s.split_whitespace().map(|w| w.trim_matches(['"', '\'']).to_string()));
                }
            }
        }
        let mut llm_env = Vec::new();
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            let Some(var) = e.get("name").and_then(Value::as_str) else { continue };
            let Some(entry) = self.cat.env.iter().find(|x| x.name == var) else { continue };
            if let Some(want) = &entry.value
                && e.get("value").and_then(Value::as_str) != Some(want.as_str())
            {
                continue;
            }
            let how = if let Some(secret) = e.pointer("/valueFrom/secretKeyRef/name").and_then(Value::as_str) {
                format!("secretKeyRef `{secret}`")
            } else if let Some(cm) = e.pointer("/valueFrom/configMapKeyRef/name").and_then(Value::as_str) {
                format!("configMapKeyRef `{cm}`")
            } else if e.get("value").is_some() {
                "literal value".to_string()
            } else {
                "set".to_string()
            };
            llm_env.push((var.to_string(), how, entry.credential));
        }
        let mut env_from = Vec::new();
        for e in c.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = e.pointer("/secretRef/name").and_then(Value::as_str) {
                env_from.push(format!("secret `{s}`"));
            }
            if let Some(s) = e.pointer("/configMapRef/name").and_then(Value::as_str) {
                env_from.push(format!("configMap `{s}`"));
            }
        }
        Some(Container { name, image, words, llm_env, env_from })
    }

    /// Cloud identity annotations of the pod template and its service account.
    fn identity(&self, o: &Object<'_>, pod: &Value) -> Vec<String> {
        let template = match o.kind() {
            "Pod" => o.value.pointer("/metadata/annotations"),
            "CronJob" => o.value.pointer("/spec/jobTemplate/spec/template/metadata/annotations"),
            _ => o.value.pointer("/spec/template/metadata/annotations"),
        };
        let sa = pod
            .get("serviceAccountName")
            .or_else(|| pod.get("serviceAccount"))
            .and_then(Value::as_str)
            .and_then(|n| self.service_accounts.get(n));
        let mut out = Vec::new();
        for annotations in [template, sa].into_iter().flatten() {
            for id in &self.cat.identity {
                if let Some(v) = annotations.get(&id.annotation).and_then(Value::as_str) {
                    out.push(format!("{}={v}", id.annotation));
                }
            }
        }
        sorted(out)
    }

    fn workload(&mut self, o: &Object<'_>, pod: &Value) {
        let containers: Vec<Container> = ["containers", "initContainers"]
            .into_iter()
            .filter_map(|f| pod.get(f).and_then(Value::as_array))
            .flatten()
            .filter_map(|c| self.container(c))
            .collect();
        let workload = o.name().to_string();
        let single = containers.len() == 1;
        let identity = self.identity(o, pod);
        let with_identity = |mut evidence: String| {
            if !identity.is_empty() {
                evidence.push_str(&format!("; identity {}", identity.join(", ")));
            }
            evidence
        };
        let mut mcp_names = Vec::new();
        let mut llm_refs = Vec::new();
        let mut llm_how = Vec::new();
        let mut env_from = Vec::new();
        for c in &containers {
            let cname = if single { workload.clone() } else { format!("{workload}/{}", c.name) };
            let image_line = || {
                find_line(o.doc, o.first_line, |l| {
                    l.contains("image:") && !c.image.is_empty() && l.contains(c.image.as_str())
                })
            };
            let image = if c.image.is_empty() { None } else { self.cat.image(&c.image) };
            let command = self.cat.command(&c.words);
            let is_mcp = image.is_some_and(|i| i.class == ImageClass::McpServer) || command.is_some();
            if is_mcp {
                let (framework, why) = match (image.filter(|i| i.class == ImageClass::McpServer), command) {
                    (Some(i), _) => (i.framework.as_str(), format!("image `{}`", c.image)),
                    (None, Some((cmd, word))) => (cmd.framework.as_str(), format!("command word `{word}`")),
                    (None, None) => (WORKLOAD_FRAMEWORK, String::new()),
                };
                let evidence = with_identity(format!("{} `{workload}` container `{}`: {why}", o.kind(), c.name));
                let mut f = self.finding(AgentKind::McpServer, cname.clone(), framework, image_line(), evidence);
                f.credential_refs = sorted(c.llm_env.iter().filter(|e| e.2).map(|e| e.0.clone()).collect());
                self.out.push(f);
                mcp_names.push(cname);
                continue;
            }
            if let Some(i) = image.filter(|i| i.class == ImageClass::LlmClient) {
                let evidence = with_identity(format!(
                    "{} `{workload}` container `{}`: model server image `{}`",
                    o.kind(),
                    c.name,
                    c.image
                ));
                let mut f = self.finding(AgentKind::LlmClient, cname, &i.framework, image_line(), evidence);
                f.credential_refs = sorted(c.llm_env.iter().filter(|e| e.2).map(|e| e.0.clone()).collect());
                self.out.push(f);
                continue;
            }
            for (var, how, credential) in &c.llm_env {
                if *credential {
                    llm_refs.push(var.clone());
                }
                llm_how.push(format!("{var} ({how}) in container `{}`", c.name));
            }
            env_from.extend(c.env_from.iter().cloned());
        }
        if llm_how.is_empty() {
            return;
        }
        let kind = if mcp_names.is_empty() { AgentKind::LlmClient } else { AgentKind::Agent };
        let mut evidence = format!("{} `{workload}` gets {}", o.kind(), llm_how.join(", "));
        if !mcp_names.is_empty() {
            evidence.push_str(&format!("; MCP server in the pod: {}", mcp_names.join(", ")));
        }
        if !env_from.is_empty() {
            evidence.push_str(&format!("; envFrom {}", sorted(env_from).join(", ")));
        }
        let mut f = self.finding(kind, workload, WORKLOAD_FRAMEWORK, o.line(), with_identity(evidence));
        f.credential_refs = sorted(llm_refs);
        f.mcp_servers = sorted(mcp_names);
        self.out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::{looks_like_k8s, repository};

    #[test]
    fn repositories_drop_registry_tag_and_digest() {
        assert_eq!(repository("ghcr.io/github/github-mcp-server:v0.9"), "github/github-mcp-server");
        assert_eq!(repository("mcp/fetch@sha256:abc"), "mcp/fetch");
        assert_eq!(repository("docker.io/library/nginx:1.27"), "nginx");
        assert_eq!(repository("localhost:5000/ollama/ollama"), "ollama/ollama");
    }

    #[test]
    fn only_manifests_look_like_manifests() {
        assert!(looks_like_k8s("apiVersion: v1\nkind: Pod\n"));
        assert!(!looks_like_k8s("image:\n  repository: nginx\nkind: x\n"));
    }
}
