//! Managed agents, MCP gateways and model platforms defined in infrastructure as code:
//! Terraform (`.tf`, read by a small HCL block scanner of our own) and CloudFormation templates
//! (YAML or JSON).
//!
//! The catalogue (`catalogue/iac.toml`) says which resource types matter and how: one finding
//! per agent, gateway or model endpoint; action groups and gateway targets add tools, model
//! deployments add models, to the resource they reference in the same set of files. Nothing is
//! evaluated: a name or model that is not a literal string is not guessed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalogue::CatalogueError;
use crate::model::{AgentFinding, AgentKind, Location, Skipped, Source};

const BUILTIN: &str = include_str!("../catalogue/iac.toml");

/// Files larger than this are not parsed.
const MAX_TEXT: usize = 4 * 1024 * 1024;
/// Deeper nesting of HCL blocks or brackets is hostile or broken input.
const MAX_DEPTH: usize = 64;
/// Marks a Terraform value that is an expression, not a literal: `{"$expr": "<text>"}`.
const EXPR: &str = "$expr";

/// What a resource type contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IacClass {
    ManagedAgent,
    McpServer,
    LlmClient,
    /// Adds its name as a tool to the resource `parent` references.
    Tool,
    /// Adds its models to the resource `parent` references.
    Model,
    /// Recognised; no finding of its own.
    Context,
}

/// A condition on one attribute's literal value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IacWhen {
    pub attr: String,
    pub values: Vec<String>,
}

/// One resource type of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IacResource {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub platform: String,
    pub class: IacClass,
    #[serde(default)]
    pub name: Vec<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub parent: Vec<String>,
    #[serde(default)]
    pub when: Option<IacWhen>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub source: String,
    pub checked: String,
}

/// The IaC catalogue: typed form of `catalogue/iac.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IacCatalogue {
    #[serde(default)]
    pub resource: Vec<IacResource>,
}

impl IacCatalogue {
    /// The file name a `--catalog DIR` override uses.
    pub const FILE_NAME: &'static str = "iac.toml";

    /// The catalogue shipped with custos.
    pub fn builtin() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the built-in catalogue is constant data, and a test loads it on every run"
        )]
        Self::from_toml(BUILTIN, Path::new("catalogue/iac.toml")).expect("the built-in IaC catalogue loads")
    }

    /// A catalogue from TOML text; `origin` names it in errors (which carry the line).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, CatalogueError> {
        let cat: Self = toml::from_str(text)
            .map_err(|e| CatalogueError::Toml { path: origin.to_path_buf(), source: Box::new(e) })?;
        let mut seen = std::collections::BTreeSet::new();
        for r in &cat.resource {
            let invalid = |why: &str| CatalogueError::Invalid { id: r.resource_type.clone(), why: why.to_string() };
            if !seen.insert(r.resource_type.as_str()) {
                return Err(CatalogueError::Duplicate { id: r.resource_type.clone() });
            }
            if r.source.is_empty() || r.checked.len() != 10 {
                return Err(invalid("needs `source` and a `checked` date (YYYY-MM-DD)"));
            }
            if matches!(r.class, IacClass::Tool | IacClass::Model) && r.parent.is_empty() {
                return Err(invalid("a tool or model resource needs `parent`"));
            }
        }
        Ok(cat)
    }

    /// `dir/iac.toml` when it exists, else the built-in catalogue.
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

    fn get(&self, resource_type: &str) -> Option<&IacResource> {
        self.resource.iter().find(|r| r.resource_type == resource_type)
    }
}

/// A resource as read from a file, before the catalogue is applied.
#[derive(Debug)]
struct Res {
    path: PathBuf,
    language: &'static str,
    resource_type: String,
    /// `TYPE.NAME` (Terraform) or the logical id (CloudFormation).
    address: String,
    line: u32,
    pointer: Option<String>,
    body: Value,
}

/// Managed agents, MCP gateways and model endpoints in one Terraform file. Tools and models are
/// attached from resources of the same file; use [`scan_terraform_module`] to resolve them across
/// the files of a module. An unterminated block or string is an `Err` with its line.
pub fn scan_terraform(cat: &IacCatalogue, path: &Path, text: &str) -> Result<Vec<AgentFinding>, String> {
    let resources = terraform_resources(path, text)?;
    Ok(findings(cat, resources))
}

/// [`scan_terraform`] over the `.tf` files of one module, resolving references across them. A
/// file that does not parse is skipped with its reason; the others are still read.
pub fn scan_terraform_module(cat: &IacCatalogue, files: &[(PathBuf, String)]) -> (Vec<AgentFinding>, Vec<Skipped>) {
    let mut resources = Vec::new();
    let mut skipped = Vec::new();
    for (path, text) in files {
        match terraform_resources(path, text) {
            Ok(found) => resources.extend(found),
            Err(reason) => skipped.push(Skipped { path: path.clone(), reason }),
        }
    }
    (findings(cat, resources), skipped)
}

/// Whether `text` looks like a CloudFormation template: a `Resources` section and an `AWS::`
/// type. Cheap, so that other YAML and JSON files are not parsed for nothing.
pub fn looks_like_cloudformation(text: &str) -> bool {
    text.contains("Resources") && text.contains("AWS::")
}

/// Managed agents and gateways in a CloudFormation template (YAML or JSON; short-form tags such
/// as `!Ref` are read as their plain value). A file that is not a template gives no findings.
pub fn scan_cloudformation(cat: &IacCatalogue, path: &Path, text: &str) -> Result<Vec<AgentFinding>, String> {
    if text.len() > MAX_TEXT {
        return Err(format!("larger than {MAX_TEXT} bytes"));
    }
    if !looks_like_cloudformation(text) {
        return Ok(Vec::new());
    }
    let is_json = text.trim_start().starts_with('{');
    let value = if is_json {
        serde_json::from_str::<Value>(text)
            .map_err(|e| format!("invalid JSON at line {}, column {}", e.line(), e.column()))?
    } else {
        match crate::yaml::documents(text).into_iter().next() {
            Some((line, doc)) => crate::yaml::parse(&doc, line)?,
            None => return Ok(Vec::new()),
        }
    };
    let Some(resources) = value.get("Resources").and_then(Value::as_object) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (id, res) in resources {
        let Some(resource_type) = res.get("Type").and_then(Value::as_str) else { continue };
        out.push(Res {
            path: path.to_path_buf(),
            language: if is_json { "json" } else { "yaml" },
            resource_type: resource_type.to_string(),
            address: id.clone(),
            line: cfn_line(text, id, is_json),
            pointer: Some(format!("/Resources/{}", id.replace('~', "~0").replace('/', "~1"))),
            body: res.clone(),
        });
    }
    Ok(findings(cat, out))
}

/// The line of a logical id's key below `Resources`; 1 when not found.
fn cfn_line(text: &str, id: &str, is_json: bool) -> u32 {
    let key = if is_json { format!("\"{id}\"") } else { format!("{id}:") };
    let start = text.lines().position(|l| l.trim_start().trim_start_matches('"').starts_with("Resources")).unwrap_or(0);
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| {
            let t = l.trim_start();
            t.starts_with(&key) || (!is_json && t.starts_with(&format!("\"{id}\":")))
        })
        .and_then(|(i, _)| u32::try_from(i + 1).ok())
        .unwrap_or(1)
}

fn terraform_resources(path: &Path, text: &str) -> Result<Vec<Res>, String> {
    if text.len() > MAX_TEXT {
        return Err(format!("larger than {MAX_TEXT} bytes"));
    }
    let blocks = hcl::top_blocks(text)?;
    Ok(blocks
        .into_iter()
        .filter(|b| b.kind == "resource")
        .filter_map(|b| {
            let mut labels = b.labels.into_iter();
            let (t, n) = (labels.next()?, labels.next()?);
            Some(Res {
                path: path.to_path_buf(),
                language: "hcl",
                address: format!("{t}.{n}"),
                resource_type: t,
                line: b.line,
                pointer: None,
                body: b.body,
            })
        })
        .collect())
}

/// The values at a dotted path; `*` and lists (nested blocks) fan out.
fn at<'v>(value: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![value];
    for segment in path.split('.') {
        let mut next = Vec::new();
        for v in current {
            let items: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for item in items {
                if segment == "*" {
                    match item {
                        Value::Array(xs) => next.extend(xs.iter()),
                        Value::Object(_) => next.push(item),
                        _ => {}
                    }
                } else if let Some(x) = item.get(segment) {
                    next.push(x);
                }
            }
        }
        current = next;
    }
    current.into_iter().flat_map(|v| if let Value::Array(xs) = v { xs.iter().collect() } else { vec![v] }).collect()
}

fn literals(value: &Value, paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .flat_map(|p| at(value, p))
        .filter_map(|v| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
        .collect()
}

/// The addresses a reference attribute names: a Terraform expression's `TYPE.NAME` pairs, or a
/// CloudFormation `Ref`/`GetAtt` (or the plain value its short form leaves).
fn references(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => {
            if let Some(expr) = map.get(EXPR).and_then(Value::as_str) {
                return hcl::traversals(expr);
            }
            let mut out = Vec::new();
            if let Some(r) = map.get("Ref").and_then(Value::as_str) {
                out.push(r.to_string());
            }
            match map.get("Fn::GetAtt") {
                Some(Value::Array(xs)) => out.extend(xs.first().and_then(Value::as_str).map(str::to_string)),
                Some(Value::String(s)) => out.extend(s.split('.').next().map(str::to_string)),
                _ => {}
            }
            out
        }
        Value::String(s) => s.split('.').next().map(str::to_string).into_iter().collect(),
        Value::Array(xs) => xs.first().and_then(Value::as_str).map(str::to_string).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn findings(cat: &IacCatalogue, resources: Vec<Res>) -> Vec<AgentFinding> {
    let mut out: Vec<AgentFinding> = Vec::new();
    let mut by_address: BTreeMap<(PathBuf, String), usize> = BTreeMap::new();
    let mut by_address_any: BTreeMap<String, usize> = BTreeMap::new();
    let mut attached = Vec::new();
    for res in resources {
        let Some(entry) = cat.get(&res.resource_type) else { continue };
        let kind = match entry.class {
            IacClass::ManagedAgent => AgentKind::ManagedAgent,
            IacClass::McpServer => AgentKind::McpServer,
            IacClass::LlmClient => AgentKind::LlmClient,
            IacClass::Tool | IacClass::Model => {
                attached.push((entry, res));
                continue;
            }
            IacClass::Context => continue,
        };
        if let Some(when) = &entry.when {
            let values = literals(&res.body, std::slice::from_ref(&when.attr));
            if !values.iter().any(|v| when.values.iter().any(|w| w.eq_ignore_ascii_case(v))) {
                continue;
            }
        }
        let name = literals(&res.body, &entry.name).into_iter().next().unwrap_or_else(|| res.address.clone());
        let mut evidence = if res.language == "hcl" {
            format!("resource \"{}\" \"{}\"", res.resource_type, res.address.split_once('.').map_or("", |x| x.1))
        } else {
            format!("{}: Type {}", res.address, res.resource_type)
        };
        for note in &entry.notes {
            for v in literals(&res.body, std::slice::from_ref(note)) {
                evidence.push_str(&format!("; {note} = {v}"));
            }
        }
        let index = out.len();
        by_address.insert((res.path.clone(), res.address.clone()), index);
        by_address_any.entry(res.address.clone()).or_insert(index);
        out.push(AgentFinding {
            id: String::new(),
            kind,
            name,
            framework: entry.platform.clone(),
            language: Some(res.language.to_string()),
            source: Source::Iac,
            location: Location { path: res.path.clone(), line: Some(res.line), pointer: res.pointer.clone() },
            models: literals(&res.body, &entry.models),
            tools: literals(&res.body, &entry.tools),
            mcp_servers: Vec::new(),
            credential_refs: Vec::new(),
            evidence,
        });
    }
    for (entry, res) in attached {
        let parents: Vec<String> = entry.parent.iter().flat_map(|p| at(&res.body, p)).flat_map(references).collect();
        // Terraform addresses are unique across a module; CloudFormation ids only within a file.
        let target = parents.iter().find_map(|a| {
            by_address
                .get(&(res.path.clone(), a.clone()))
                .or_else(|| if res.language == "hcl" { by_address_any.get(a) } else { None })
                .copied()
        });
        let Some(finding) = target.and_then(|i| out.get_mut(i)) else { continue };
        match entry.class {
            IacClass::Tool => {
                let name = literals(&res.body, &entry.name).into_iter().next().unwrap_or_else(|| res.address.clone());
                finding.tools.push(name);
            }
            _ => finding.models.extend(literals(&res.body, &entry.models)),
        }
    }
    for f in &mut out {
        for list in [&mut f.models, &mut f.tools] {
            list.sort();
            list.dedup();
        }
    }
    out
}

/// A small HCL reader: enough structure to find blocks, their labels and literal attributes.
/// Expressions are kept as text; strings, heredocs, comments and nesting are respected so that a
/// brace inside a string never closes a block.
mod hcl {
    use super::{EXPR, MAX_DEPTH, Map, Value};

    /// A top-level block: `resource "T" "N" { … }`.
    pub(super) struct Block {
        pub kind: String,
        pub labels: Vec<String>,
        pub line: u32,
        pub body: Value,
    }

    struct Reader<'a> {
        text: &'a str,
        bytes: &'a [u8],
        pos: usize,
        line: u32,
    }

    pub(super) fn top_blocks(text: &str) -> Result<Vec<Block>, String> {
        let mut r = Reader { text, bytes: text.as_bytes(), pos: 0, line: 1 };
        let mut out = Vec::new();
        loop {
            r.skip_trivia(true)?;
            let Some(c) = r.peek() else { break };
            if c == b'}' {
                return Err(format!("unexpected `}}` at line {}", r.line));
            }
            let line = r.line;
            let Some(ident) = r.ident() else {
                // Not HCL we understand at this point: skip the line rather than fail the file.
                r.skip_line();
                continue;
            };
            r.skip_trivia(false)?;
            if r.peek() == Some(b'=') {
                r.pos += 1;
                r.expression(0)?;
                continue;
            }
            let labels = r.labels()?;
            if r.peek() == Some(b'{') {
                r.pos += 1;
                let body = r.body(1)?;
                out.push(Block { kind: ident, labels, line, body });
            } else {
                r.skip_line();
            }
        }
        Ok(out)
    }

    /// `TYPE.NAME` pairs in an expression (a resource reference is `TYPE.NAME.ATTR`).
    pub(super) fn traversals(expr: &str) -> Vec<String> {
        let mut out = Vec::new();
        let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let mut rest = expr;
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic()) {
            let tail = rest.get(start..).unwrap_or_default();
            let end = tail.find(|c: char| !(is_ident(c) || c == '.')).unwrap_or(tail.len());
            let path = tail.get(..end).unwrap_or_default();
            let mut parts = path.split('.');
            if let (Some(t), Some(n)) = (parts.next(), parts.next())
                && !matches!(t, "var" | "local" | "module" | "data" | "each" | "count" | "path" | "self")
                && !n.is_empty()
            {
                out.push(format!("{t}.{n}"));
            }
            rest = tail.get(end.max(1)..).unwrap_or_default();
        }
        out
    }

    impl Reader<'_> {
        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.pos).copied()
        }

        fn at(&self, offset: usize) -> Option<u8> {
            self.bytes.get(self.pos + offset).copied()
        }

        fn bump(&mut self) -> Option<u8> {
            let c = self.peek()?;
            self.pos += 1;
            if c == b'\n' {
                self.line = self.line.saturating_add(1);
            }
            Some(c)
        }

        fn skip_line(&mut self) {
            while let Some(c) = self.bump() {
                if c == b'\n' {
                    break;
                }
            }
        }

        /// Spaces and comments; newlines too when `newlines`.
        fn skip_trivia(&mut self, newlines: bool) -> Result<(), String> {
            loop {
                match (self.peek(), self.at(1)) {
                    (Some(b' ' | b'\t' | b'\r'), _) => {
                        self.pos += 1;
                    }
                    (Some(b'\n'), _) if newlines => {
                        self.bump();
                    }
                    (Some(b'#'), _) | (Some(b'/'), Some(b'/')) => {
                        while self.peek().is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                    (Some(b'/'), Some(b'*')) => {
                        let line = self.line;
                        self.pos += 2;
                        loop {
                            match (self.peek(), self.at(1)) {
                                (Some(b'*'), Some(b'/')) => {
                                    self.pos += 2;
                                    break;
                                }
                                (Some(_), _) => {
                                    self.bump();
                                }
                                (None, _) => return Err(format!("unterminated comment starting at line {line}")),
                            }
                        }
                    }
                    _ => return Ok(()),
                }
            }
        }

        fn ident(&mut self) -> Option<String> {
            let start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
                self.pos += 1;
            }
            (self.pos > start).then(|| self.text.get(start..self.pos).unwrap_or_default().to_string())
        }

        /// Block labels: quoted strings or bare identifiers before `{`.
        fn labels(&mut self) -> Result<Vec<String>, String> {
            let mut labels = Vec::new();
            loop {
                self.skip_trivia(false)?;
                match self.peek() {
                    Some(b'"') => {
                        let (text, _) = self.string()?;
                        labels.push(text);
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        if let Some(id) = self.ident() {
                            labels.push(id);
                        }
                    }
                    _ => return Ok(labels),
                }
            }
        }

        /// A quoted string from its opening quote: its text (escapes resolved for the common
        /// cases) and whether it interpolates.
        fn string(&mut self) -> Result<(String, bool), String> {
            let line = self.line;
            let start = self.pos;
            self.pos += 1;
            let mut out = String::new();
            let mut interpolates = false;
            let mut depth = 0usize;
            loop {
                let Some(c) = self.peek() else {
                    return Err(format!("unterminated string starting at line {line}"));
                };
                match c {
                    b'\n' if depth == 0 => return Err(format!("unterminated string starting at line {line}")),
                    b'\\' if depth == 0 => {
                        self.pos += 1;
                        match self.bump() {
                            Some(b'n') => out.push('\n'),
                            Some(b't') => out.push('\t'),
                            Some(b'"') => out.push('"'),
                            Some(b'\\') => out.push('\\'),
                            Some(other) => {
                                out.push('\\');
                                out.push(char::from(other));
                            }
                            None => return Err(format!("unterminated string starting at line {line}")),
                        }
                        continue;
                    }
                    b'"' if depth == 0 => {
                        self.pos += 1;
                        return Ok((out, interpolates));
                    }
                    b'$' | b'%' if depth == 0 && self.at(1) == Some(b'{') => {
                        interpolates = true;
                        depth = 1;
                        self.pos += 2;
                        continue;
                    }
                    b'{' if depth > 0 => depth += 1,
                    b'}' if depth > 0 => depth -= 1,
                    _ => {}
                }
                // Copy one whole character so that non-ASCII text stays intact.
                let from = self.pos;
                self.bump();
                while self.peek().is_some_and(|b| (b & 0xC0) == 0x80) {
                    self.pos += 1;
                }
                if depth == 0 {
                    out.push_str(self.text.get(from..self.pos).unwrap_or_default());
                }
                if self.pos.saturating_sub(start) > super::MAX_TEXT {
                    return Err(format!("unterminated string starting at line {line}"));
                }
            }
        }

        /// A heredoc from `<<`: its text.
        fn heredoc(&mut self) -> Result<String, String> {
            let line = self.line;
            self.pos += 2;
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            let marker = self.ident().ok_or_else(|| format!("heredoc without a marker at line {line}"))?;
            self.skip_line();
            let mut out = String::new();
            loop {
                let start = self.pos;
                if self.peek().is_none() {
                    return Err(format!("unterminated heredoc `{marker}` starting at line {line}"));
                }
                self.skip_line();
                let text = self.text.get(start..self.pos).unwrap_or_default();
                if text.trim() == marker {
                    return Ok(out);
                }
                out.push_str(text);
            }
        }

        /// An attribute's expression up to the end of its line (brackets may span lines): a
        /// literal string, or `{"$expr": text}`.
        fn expression(&mut self, depth: usize) -> Result<Value, String> {
            self.skip_trivia(false)?;
            let start = self.pos;
            let line = self.line;
            let mut nesting: Vec<u8> = Vec::new();
            let mut literal: Option<String> = None;
            let mut parts = 0usize;
            loop {
                if depth + nesting.len() > MAX_DEPTH {
                    return Err(format!("nesting deeper than {MAX_DEPTH} at line {}", self.line));
                }
                match (self.peek(), self.at(1)) {
                    (None, _) => {
                        if nesting.is_empty() {
                            break;
                        }
                        return Err(format!("unterminated expression starting at line {line}"));
                    }
                    (Some(b'\n'), _) if nesting.is_empty() => break,
                    (Some(b'}'), _) if nesting.is_empty() => break,
                    (Some(b'#'), _) | (Some(b'/'), Some(b'/' | b'*')) => self.skip_trivia(false)?,
                    (Some(b'\n'), _) => {
                        self.bump();
                    }
                    (Some(b'"'), _) => {
                        let (text, interpolates) = self.string()?;
                        parts += 1;
                        literal = (!interpolates && nesting.is_empty()).then_some(text);
                    }
                    (Some(b'<'), Some(b'<')) => {
                        let text = self.heredoc()?;
                        parts += 1;
                        if nesting.is_empty() {
                            literal = (!text.contains("${")).then_some(text);
                            break;
                        }
                    }
                    (Some(c @ (b'(' | b'[' | b'{')), _) => {
                        nesting.push(c);
                        self.pos += 1;
                        parts += 1;
                    }
                    (Some(c @ (b')' | b']' | b'}')), _) => {
                        let opener = match c {
                            b')' => b'(',
                            b']' => b'[',
                            _ => b'{',
                        };
                        if nesting.pop() != Some(opener) {
                            return Err(format!("unterminated expression starting at line {line}"));
                        }
                        self.pos += 1;
                    }
                    (Some(b' ' | b'\t' | b'\r'), _) => self.pos += 1,
                    (Some(_), _) => {
                        self.bump();
                        parts += 2;
                    }
                }
            }
            let text = self.text.get(start..self.pos).unwrap_or_default().trim();
            Ok(match literal {
                Some(s) if parts == 1 => Value::String(s),
                _ => {
                    let mut m = Map::new();
                    m.insert(EXPR.to_string(), Value::String(text.to_string()));
                    Value::Object(m)
                }
            })
        }

        /// A block body after its `{`: attributes and nested blocks (each a list, as Terraform
        /// allows repeated blocks), up to the matching `}`.
        fn body(&mut self, depth: usize) -> Result<Value, String> {
            if depth > MAX_DEPTH {
                return Err(format!("blocks nested deeper than {MAX_DEPTH} at line {}", self.line));
            }
            let open_line = self.line;
            let mut map = Map::new();
            loop {
                self.skip_trivia(true)?;
                match self.peek() {
                    None => return Err(format!("unterminated block starting at line {open_line}")),
                    Some(b'}') => {
                        self.pos += 1;
                        return Ok(Value::Object(map));
                    }
                    Some(b',' | b';') => {
                        self.pos += 1;
                        continue;
                    }
                    _ => {}
                }
                let key = if self.peek() == Some(b'"') { Some(self.string()?.0) } else { self.ident() };
                let Some(key) = key else {
                    // Something we do not model (e.g. a stray token): skip it, keep reading.
                    self.bump();
                    continue;
                };
                self.skip_trivia(false)?;
                if matches!(self.peek(), Some(b'=' | b':')) && self.at(1) != Some(b'=') {
                    self.pos += 1;
                    let value = self.expression(depth)?;
                    map.insert(key, value);
                    continue;
                }
                let _labels = self.labels()?;
                if self.peek() == Some(b'{') {
                    self.pos += 1;
                    let inner = self.body(depth + 1)?;
                    match map.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                        Value::Array(items) => items.push(inner),
                        other => *other = Value::Array(vec![inner]),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hcl;

    #[test]
    fn traversals_find_resource_references() {
        assert_eq!(hcl::traversals("aws_bedrockagent_agent.support.agent_id"), ["aws_bedrockagent_agent.support"]);
        assert!(hcl::traversals("var.agent_id").is_empty());
    }

    #[test]
    fn braces_in_strings_and_heredocs_do_not_close_blocks() {
        let text = "resource \"a\" \"b\" {\n  x = \"}\"\n  y = <<EOT\n}\nEOT\n  z = \"ok\"\n}\n";
        let blocks = hcl::top_blocks(text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].body["z"], "ok");
        assert_eq!(blocks[0].body["y"], "}\n");
    }
}
