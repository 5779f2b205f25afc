//! MCP tool manifests as custos pins them: the fields a model reads or a client acts on, a
//! digest over their RFC 8785 form, and a field-by-field diff for when a server changes a tool
//! after it was approved (a "rug pull").
//!
//! Pinned fields: `name`, `title`, `description`, `inputSchema`, `outputSchema`, `annotations`.
//! Anything else in a `tools/list` element (`_meta`, `icons`, `execution`) is not pinned: it
//! does not reach the model as instructions, and `_meta` may change on every listing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::CoreError;
use crate::scan::{escape_invisible, push_pointer_token};

/// The pinned part of one MCP tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolManifest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// Why a `tools/list` element is not a tool manifest custos can pin.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("tool definition is not a JSON object")]
    NotAnObject,
    #[error("tool definition has no `name` string")]
    NoName,
    #[error("tool `{tool}` has no `{field}`")]
    Missing { tool: String, field: &'static str },
    #[error("tool `{tool}`: `{field}` must be {expected}")]
    WrongType { tool: String, field: &'static str, expected: &'static str },
    #[error("tool `{tool}` cannot be canonicalized: {source}")]
    Canonical { tool: String, source: CoreError },
}

impl ToolManifest {
    /// Reads one element of a `tools/list` result's `tools` array. A `null` optional field counts
    /// as absent.
    pub fn from_mcp(tool: &Value) -> Result<Self, ManifestError> {
        let obj = tool.as_object().ok_or(ManifestError::NotAnObject)?;
        let name = obj.get("name").and_then(Value::as_str).ok_or(ManifestError::NoName)?.to_string();
        let wrong = |field, expected| ManifestError::WrongType { tool: name.clone(), field, expected };
        let present = |field| obj.get(field).filter(|v| !v.is_null());
        let string = |field| match present(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(field, "a string")),
        };
        let object = |field| match present(field) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(field, "an object")),
        };
        let input_schema = object("inputSchema")?
            .ok_or_else(|| ManifestError::Missing { tool: name.clone(), field: "inputSchema" })?;
        Ok(Self {
            title: string("title")?,
            description: string("description")?,
            input_schema,
            output_schema: object("outputSchema")?,
            annotations: object("annotations")?,
            name,
        })
    }

    /// The manifest in MCP shape, with only the pinned fields.
    pub fn to_mcp(&self) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(self.name.clone()));
        if let Some(t) = &self.title {
            map.insert("title".into(), Value::String(t.clone()));
        }
        if let Some(d) = &self.description {
            map.insert("description".into(), Value::String(d.clone()));
        }
        map.insert("inputSchema".into(), self.input_schema.clone());
        if let Some(o) = &self.output_schema {
            map.insert("outputSchema".into(), o.clone());
        }
        if let Some(a) = &self.annotations {
            map.insert("annotations".into(), a.clone());
        }
        Value::Object(map)
    }

    /// The RFC 8785 canonical JSON of [`Self::to_mcp`]: the same tool gives the same text
    /// whatever the server's key order or whitespace.
    pub fn canonical(&self) -> Result<String, ManifestError> {
        let mut out = Vec::new();
        crate::canonical::write_value(&self.to_mcp(), &mut out)
            .map_err(|source| ManifestError::Canonical { tool: self.name.clone(), source })?;
        String::from_utf8(out).map_err(|_| ManifestError::Canonical {
            tool: self.name.clone(),
            source: CoreError::Canonical("canonical form is not UTF-8".into()),
        })
    }

    /// `sha256:` and the lowercase hex SHA-256 of [`Self::canonical`].
    pub fn digest(&self) -> Result<String, ManifestError> {
        let canonical = self.canonical()?;
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(canonical.as_bytes()))))
    }
}

/// One changed field. `path` is a JSON pointer without its leading slash, in MCP field names
/// (`description`, `inputSchema/properties/path/description`); `None` means absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The changes from `old` to `new`, in path order. Objects are compared member by member and
/// arrays of equal length element by element; an array that changed length is one change.
pub fn diff(old: &ToolManifest, new: &ToolManifest) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut path = String::new();
    diff_values(&mut path, Some(&old.to_mcp()), Some(&new.to_mcp()), &mut changes);
    changes
}

fn diff_values(path: &mut String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let len = path.len();
                push_pointer_token(path, key);
                diff_values(path, a.get(key), b.get(key), out);
                path.truncate(len);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                push_pointer_token(path, itoa::Buffer::new().format(i));
                diff_values(path, Some(x), Some(y), out);
                path.truncate(len);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path: path.strip_prefix('/').unwrap_or(path).to_string(),
            old: a.cloned(),
            new: b.cloned(),
        }),
    }
}

/// Changes as readable text: a `@@ path` line, then `- ` lines for the old value and `+ ` lines
/// for the new one. Strings are shown raw, one output line per line of text, with invisible
/// characters escaped so a hidden payload shows; other values as compact JSON.
pub fn render(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        out.push_str("@@ ");
        out.push_str(&change.path);
        out.push('\n');
        render_value(&mut out, '-', change.old.as_ref());
        render_value(&mut out, '+', change.new.as_ref());
    }
    out
}

fn render_value(out: &mut String, sign: char, value: Option<&Value>) {
    let text = match value {
        None => return,
        Some(Value::String(s)) => escape_invisible(s),
        Some(v) => v.to_string(),
    };
    if text.is_empty() {
        out.push(sign);
        out.push('\n');
        return;
    }
    for line in text.lines() {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{sign} {line}");
    }
}

/// How one server's tool list changed, by tool name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SetDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<(String, Vec<Change>)>,
}

impl SetDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// `+ name` for added tools, `- name` for removed ones, and `~ name` followed by
    /// [`render`] of its changes for changed ones.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for name in &self.added {
            let _ = writeln!(out, "+ {}", escape_invisible(name));
        }
        for name in &self.removed {
            let _ = writeln!(out, "- {}", escape_invisible(name));
        }
        for (name, changes) in &self.changed {
            let _ = writeln!(out, "~ {}", escape_invisible(name));
            out.push_str(&render(changes));
        }
        out
    }
}

/// Compares two tool lists by name; every list in the result is sorted by name. A name listed
/// twice in one list counts once, with its last definition, as a client keeping a name map
/// would see it.
pub fn diff_sets(old: &[ToolManifest], new: &[ToolManifest]) -> SetDiff {
    let (old, new) = (by_name(old), by_name(new));
    let mut set = SetDiff::default();
    for (name, tool) in &new {
        match old.get(name) {
            None => set.added.push((*name).to_string()),
            Some(before) => {
                let changes = diff(before, tool);
                if !changes.is_empty() {
                    set.changed.push(((*name).to_string(), changes));
                }
            }
        }
    }
    set.removed = old.keys().filter(|name| !new.contains_key(*name)).map(|name| (*name).to_string()).collect();
    set
}

fn by_name(tools: &[ToolManifest]) -> BTreeMap<&str, &ToolManifest> {
    tools.iter().map(|t| (t.name.as_str(), t)).collect()
}
