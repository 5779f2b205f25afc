//! The scan: catalogue paths → files → server maps → servers and credential findings.
//!
//! Every file is checked before it is read: it must resolve inside the root it was found under
//! (a symlink may not lead out of the home, project or system root), be a regular file and be at
//! most [`MAX_FILE_SIZE`]. A file that fails a check or does not parse becomes a [`Skipped`]
//! entry; the scan itself never fails. Secrets found in a server's env values, headers, command,
//! arguments or URL are reported as [`CredentialFinding`]s and redacted from the server record.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use custos_core::scan::secrets::Scanner;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalogue::{Catalogue, Format, Os, Scope};
use crate::fingerprint::FingerprintKey;
use crate::jsonc;
use crate::model::{CredentialFinding, Location, Report, Skipped, Source};

/// Files larger than this are skipped unread.
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// Where to look: the catalogue's `~/` paths resolve under `home`, relative paths under each
/// project, `<system>/` paths under `system` (managed scope is not scanned when it is `None`).
#[derive(Debug, Clone, Copy)]
pub struct Roots<'a> {
    pub home: &'a Path,
    pub projects: &'a [PathBuf],
    pub system: Option<&'a Path>,
}

/// How an MCP server is reached. Command, arguments and URL are shown with any secret replaced
/// by `[REDACTED:<rule>]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
    },
    Http {
        url: String,
    },
    Sse {
        url: String,
    },
    /// Neither a command nor a URL, e.g. a Zed extension-provided server.
    Unknown,
}

/// One configured MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub client: String,
    pub path: PathBuf,
    pub scope: Scope,
    /// RFC 6901 pointer of the server's entry in the file (TOML files: of their JSON form).
    pub pointer: String,
    pub name: String,
    pub transport: Transport,
    /// Names of the environment variables the server is given; never their values.
    pub env: Vec<String>,
    /// Names of the HTTP headers the server is sent; never their values.
    pub headers: Vec<String>,
    pub has_credential: bool,
}

/// A client's login/credential file that exists. It was not opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFile {
    pub client: String,
    pub path: PathBuf,
    pub size: u64,
}

/// Scans the catalogue's user and project paths for `os` under `home` and `projects`, and the
/// managed paths under `/` when `os` is the running system. See [`scan_clients_in`].
pub fn scan_clients(catalogue: &Catalogue, home: &Path, projects: &[PathBuf], os: Os, key: &FingerprintKey) -> Report {
    let system = if os == Os::current() && os != Os::Windows { Some(Path::new("/")) } else { None };
    scan_clients_in(catalogue, &Roots { home, projects, system }, os, key)
}

/// Scans every catalogue path for `os` under `roots`, parses what exists and reports its
/// servers, the credentials in them, login files present, and files skipped. Never executes
/// anything, never follows a symlink out of its root, never fails.
pub fn scan_clients_in(catalogue: &Catalogue, roots: &Roots<'_>, os: Os, key: &FingerprintKey) -> Report {
    let scanner = Scanner::builtin();
    let mut report = Report::default();
    let mut seen: BTreeSet<(String, PathBuf)> = BTreeSet::new();
    let mut skipped_seen: BTreeSet<PathBuf> = BTreeSet::new();
    for client in &catalogue.client {
        for group in &client.config {
            let format = group.format.unwrap_or(client.format);
            for pattern in group.paths.for_os(os) {
                for (root, file) in resolve(pattern, group.scope, roots) {
                    if !seen.insert((client.id.clone(), file.clone())) {
                        continue;
                    }
                    let value = match read_checked(&root, &file).and_then(|text| parse(&text, format)) {
                        Ok(value) => value,
                        Err(reason) => {
                            if skipped_seen.insert(file.clone()) {
                                report.skipped.push(Skipped { path: file, reason });
                            }
                            continue;
                        }
                    };
                    let ctx = FileCtx { client: &client.id, path: &file, scope: group.scope, scanner: &scanner, key };
                    for key_pointer in &group.keys {
                        for (pointer, map) in select(&value, key_pointer, &scanner) {
                            ctx.servers_in(map, &pointer, &mut report);
                        }
                    }
                }
            }
        }
    }
    for login in &catalogue.login {
        for pattern in login.paths.for_os(os) {
            for (_, file) in resolve(pattern, Scope::User, roots) {
                if let Ok(meta) = fs::symlink_metadata(&file) {
                    report.logins.push(LoginFile { client: login.client.clone(), path: file, size: meta.len() });
                }
            }
        }
    }
    report
}

/// The existing files a catalogue path names, each with the root it must stay inside.
fn resolve(pattern: &str, scope: Scope, roots: &Roots<'_>) -> Vec<(PathBuf, PathBuf)> {
    let anchored: Vec<(PathBuf, &str)> = match scope {
        Scope::User => pattern.strip_prefix("~/").map(|rel| (roots.home.to_path_buf(), rel)).into_iter().collect(),
        Scope::Managed => match (roots.system, pattern.strip_prefix("<system>/")) {
            (Some(system), Some(rel)) => vec![(system.to_path_buf(), rel)],
            _ => Vec::new(),
        },
        Scope::Project => roots.projects.iter().map(|p| (p.clone(), pattern)).collect(),
    };
    let mut out = Vec::new();
    for (root, rel) in anchored {
        let mut candidates = vec![root.clone()];
        for segment in rel.split('/').filter(|s| !s.is_empty()) {
            candidates = match segment.split_once('*') {
                None => candidates.into_iter().map(|c| c.join(segment)).collect(),
                Some((prefix, suffix)) => candidates.iter().flat_map(|dir| matching(dir, prefix, suffix)).collect(),
            };
        }
        out.extend(candidates.into_iter().filter(|c| fs::symlink_metadata(c).is_ok()).map(|c| (root.clone(), c)));
    }
    out
}

/// The entries of `dir` whose names start with `prefix` and end with `suffix`, sorted.
fn matching(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() >= prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The text of `file` once it passed the checks, or why it was not read.
fn read_checked(root: &Path, file: &Path) -> Result<String, String> {
    let root = root.canonicalize().map_err(|e| format!("cannot resolve the scanned root: {e}"))?;
    let real = file.canonicalize().map_err(|e| format!("cannot resolve: {e}"))?;
    if !real.starts_with(&root) {
        return Err(format!("symlink leads outside the scanned root `{}`", root.display()));
    }
    let meta = fs::metadata(&real).map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!("larger than {MAX_FILE_SIZE} bytes ({} bytes)", meta.len()));
    }
    let mut bytes = Vec::new();
    fs::File::open(&real)
        .and_then(|f| f.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(format!("larger than {MAX_FILE_SIZE} bytes"));
    }
    if bytes.contains(&0) {
        return Err("binary file (contains NUL bytes)".into());
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()))
}

/// The file as JSON. Error messages give positions only: the file may hold secrets.
fn parse(text: &str, format: Format) -> Result<Value, String> {
    let json = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}"));
    match format {
        Format::Json => json(text),
        Format::Jsonc => json(&jsonc::strip(text)),
        Format::Toml => {
            let value: toml::Value = toml::from_str(text).map_err(|e| match e.span() {
                Some(span) => format!("invalid TOML at byte {}: {}", span.start, e.message()),
                None => format!("invalid TOML: {}", e.message()),
            })?;
            serde_json::to_value(value).map_err(|e| format!("cannot convert TOML: {e}"))
        }
        Format::Yaml => {
            let first = crate::yaml::documents(text).into_iter().next();
            first.map_or(Ok(Value::Null), |(line, doc)| crate::yaml::parse(&doc, line))
        }
    }
}

/// The values at `pointer`, where a `*` segment matches every member, with their concrete
/// pointers.
fn select<'v>(value: &'v Value, pointer: &str, scanner: &Scanner) -> Vec<(String, &'v Value)> {
    let mut current = vec![(String::new(), value)];
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for (at, v) in current {
            let Some(object) = v.as_object() else { continue };
            if segment == "*" {
                next.extend(object.iter().map(|(k, v)| (format!("{at}/{}", segment_of(k, scanner)), v)));
            } else if let Some(v) = object.get(&segment) {
                next.push((format!("{at}/{}", escape(&segment)), v));
            }
        }
        current = next;
    }
    current
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A member name as a pointer segment, with any secret in it redacted: pointers are output.
fn segment_of(name: &str, scanner: &Scanner) -> String {
    escape(&scanner.redact_str(name).0)
}

/// What every server of one file shares.
struct FileCtx<'a> {
    client: &'a str,
    path: &'a Path,
    scope: Scope,
    scanner: &'a Scanner,
    key: &'a FingerprintKey,
}

impl FileCtx<'_> {
    /// The servers of a server map: an object of name → entry, or an array of entries that
    /// each carry a `name` (Mistral Vibe).
    fn servers_in(&self, map: &Value, pointer: &str, report: &mut Report) {
        match map {
            Value::Object(entries) => {
                for (name, entry) in entries {
                    if let Some(entry) = entry.as_object() {
                        let at = format!("{pointer}/{}", segment_of(name, self.scanner));
                        self.server(name, entry, &at, report);
                    }
                }
            }
            Value::Array(entries) => {
                for (i, entry) in entries.iter().enumerate() {
                    let Some(entry) = entry.as_object() else { continue };
                    let Some(name) = entry.get("name").and_then(Value::as_str) else { continue };
                    self.server(name, entry, &format!("{pointer}/{i}"), report);
                }
            }
            _ => {}
        }
    }

    fn server(&self, name: &str, entry: &Map<String, Value>, pointer: &str, report: &mut Report) {
        // Goose's built-in and platform extensions run inside Goose: no server is configured.
        if matches!(entry.get("type").and_then(Value::as_str), Some("builtin" | "platform")) {
            return;
        }
        let name = self.scanner.redact_str(name).0;
        let mut found = Vec::new();
        let mut check = |text: &str, at: String| {
            for hit in self.scanner.scan(text) {
                let Some(secret) = text.get(hit.start..hit.end) else { continue };
                found.push(CredentialFinding {
                    source: Source::Config,
                    location: Location { path: self.path.to_path_buf(), line: None, pointer: Some(at.clone()) },
                    client: Some(self.client.to_string()),
                    server: Some(name.clone()),
                    provider: self.scanner.provider(&hit.rule).unwrap_or(&hit.rule).to_string(),
                    rule: hit.rule,
                    masked: mask(secret),
                    fingerprint: self.key.fingerprint(secret),
                });
            }
        };

        // `command` is a string (split on whitespace when there are no `args`), an array
        // (OpenCode) or an object with `path`, `args` and `env` (older Zed); Goose calls it `cmd`.
        let command_obj = entry.get("command").and_then(Value::as_object);
        let command_field = if entry.contains_key("command") || !entry.contains_key("cmd") { "command" } else { "cmd" };
        let (command_at, command_value) = match command_obj {
            Some(obj) => (format!("{pointer}/command/path"), obj.get("path")),
            None => (format!("{pointer}/{command_field}"), entry.get(command_field)),
        };
        let (args_at, args_value) = match command_obj {
            Some(obj) => (format!("{pointer}/command/args"), obj.get("args")),
            None => (format!("{pointer}/args"), entry.get("args")),
        };
        let mut argv: Vec<(String, String)> = Vec::new();
        match command_value {
            Some(Value::String(command)) => {
                let parts: Vec<&str> = command.split_whitespace().collect();
                if args_value.is_none() && parts.len() > 1 {
                    argv.extend(parts.into_iter().map(|p| (command_at.clone(), p.to_string())));
                } else {
                    argv.push((command_at.clone(), command.clone()));
                }
            }
            Some(Value::Array(items)) => {
                argv.extend(
                    items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| Some((format!("{command_at}/{i}"), v.as_str()?.to_string()))),
                );
            }
            _ => {}
        }
        if let Some(Value::Array(items)) = args_value {
            argv.extend(
                items.iter().enumerate().filter_map(|(i, v)| Some((format!("{args_at}/{i}"), v.as_str()?.to_string()))),
            );
        }
        for (at, text) in &argv {
            check(text, at.clone());
        }

        let url_field =
            ["url", "serverUrl", "httpUrl", "uri"].into_iter().find_map(|k| Some((k, entry.get(k)?.as_str()?)));
        if let Some((field, url)) = url_field {
            check(url, format!("{pointer}/{field}"));
        }

        let mut env = Vec::new();
        let mut env_maps: Vec<(String, &Map<String, Value>)> = Vec::new();
        for field in ["env", "environment", "envs"] {
            if let Some(map) = entry.get(field).and_then(Value::as_object) {
                env_maps.push((format!("{pointer}/{field}"), map));
            }
        }
        if let Some(map) = command_obj.and_then(|c| c.get("env")).and_then(Value::as_object) {
            env_maps.push((format!("{pointer}/command/env"), map));
        }
        // Goose keeps the values of `env_keys` in the keyring: only the names are here.
        if let Some(keys) = entry.get("env_keys").and_then(Value::as_array) {
            env.extend(keys.iter().filter_map(Value::as_str).map(|k| self.scanner.redact_str(k).0));
        }
        for (at, map) in env_maps {
            for (var, value) in map {
                env.push(self.scanner.redact_str(var).0);
                if let Some(text) = value.as_str() {
                    check(text, format!("{at}/{}", segment_of(var, self.scanner)));
                }
            }
        }

        let mut headers = Vec::new();
        for field in ["headers", "http_headers"] {
            let Some(map) = entry.get(field).and_then(Value::as_object) else { continue };
            for (header, value) in map {
                headers.push(self.scanner.redact_str(header).0);
                if let Some(text) = value.as_str() {
                    check(text, format!("{pointer}/{field}/{}", segment_of(header, self.scanner)));
                }
            }
        }

        let redact = |text: &str| self.scanner.redact_str(text).0;
        let kind = entry.get("type").or_else(|| entry.get("transport")).and_then(Value::as_str).unwrap_or_default();
        let transport = match (argv.split_first(), url_field) {
            (Some(((_, command), args)), _) => {
                Transport::Stdio { command: redact(command), args: args.iter().map(|(_, a)| redact(a)).collect() }
            }
            (None, Some((_, url))) if kind.eq_ignore_ascii_case("sse") => Transport::Sse { url: redact(url) },
            (None, Some((_, url))) => Transport::Http { url: redact(url) },
            (None, None) => Transport::Unknown,
        };
        env.sort();
        env.dedup();
        headers.sort();
        headers.dedup();
        report.servers.push(Server {
            client: self.client.to_string(),
            path: self.path.to_path_buf(),
            scope: self.scope,
            pointer: pointer.to_string(),
            name,
            transport,
            env,
            headers,
            has_credential: !found.is_empty(),
        });
        report.credentials.extend(found);
    }
}

/// The first four characters of a secret and its length in characters.
pub fn mask(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}…({} chars)", secret.chars().count())
}

/// The servers and credentials of `path` when it is a project-scoped agent-client config (its
/// path ends with a catalogue project path such as `.vscode/mcp.json` or
/// `.continue/mcpServers/*.yaml`), found anywhere in a scanned tree; `None` when it is not one.
/// A config that does not parse is reported as skipped.
pub fn scan_project_config(
    catalogue: &Catalogue,
    os: Os,
    path: &Path,
    text: &str,
    key: &FingerprintKey,
) -> Option<Report> {
    let scanner = Scanner::builtin();
    let mut report = Report::default();
    let mut matched = false;
    for client in &catalogue.client {
        for group in client.config.iter().filter(|g| g.scope == Scope::Project) {
            let format = group.format.unwrap_or(client.format);
            for pattern in group.paths.for_os(os) {
                if !path_ends_with(path, pattern) {
                    continue;
                }
                matched = true;
                let value = match parse(text, format) {
                    Ok(v) => v,
                    Err(reason) => {
                        report.skipped.push(Skipped { path: path.to_path_buf(), reason });
                        continue;
                    }
                };
                let ctx = FileCtx { client: &client.id, path, scope: Scope::Project, scanner: &scanner, key };
                for key_pointer in &group.keys {
                    for (pointer, map) in select(&value, key_pointer, &scanner) {
                        ctx.servers_in(map, &pointer, &mut report);
                    }
                }
            }
        }
    }
    report.skipped.dedup();
    matched.then_some(report)
}

/// Whether the last components of `path` match `pattern`'s segments, where a segment's one `*`
/// matches any run of characters within a name.
fn path_ends_with(path: &Path, pattern: &str) -> bool {
    let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    let names: Vec<std::borrow::Cow<'_, str>> = path.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    if segments.is_empty() || names.len() < segments.len() {
        return false;
    }
    let tail = names.iter().skip(names.len() - segments.len());
    tail.zip(&segments).all(|(name, segment)| match segment.split_once('*') {
        None => name == segment,
        Some((prefix, suffix)) => {
            name.len() >= prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
        }
    })
}
