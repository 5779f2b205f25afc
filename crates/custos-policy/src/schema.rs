//! The Cedar schema, generated from tool manifests, and the values that fill it.
//!
//! JSON Schema types map to Cedar types where Cedar has one: `string` → `String`, `integer` →
//! `Long`, `boolean` → `Boolean`, `array` of a mappable type → `Set`, `object` with
//! `properties` → `Record` (its `required` list decides which attributes are required). A
//! property Cedar cannot type (`number`, untyped, unions) is left out of `context.input`:
//! policies cannot name it (validation says so), and the value is still forwarded.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What an upstream server says about one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolManifest {
    /// The server's name in custos's config.
    pub server: String,
    /// The tool's name at the server.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub input_schema: Value,
    #[serde(default)]
    pub annotations: Value,
    /// Labels custos gives the tool (config, later issues).
    #[serde(default)]
    pub labels: Vec<String>,
}

impl ToolManifest {
    /// `server.tool`: the name agents see through `/mcp` and the Cedar action id.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.server, self.name)
    }
}

/// The Cedar type (JSON schema format) for a JSON Schema, if Cedar can express it.
pub fn input_type(schema: &Value) -> Option<Value> {
    let ty: &str = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // `["string", "null"]`: the non-null type (the attribute is then optional anyway).
        Some(Value::Array(ts)) => {
            let mut non_null = ts.iter().filter_map(Value::as_str).filter(|t| *t != "null");
            match (non_null.next(), non_null.next()) {
                (Some(one), None) => one,
                _ => return None,
            }
        }
        _ => return None,
    };
    match ty {
        "string" => Some(json!({"type": "String"})),
        "integer" => Some(json!({"type": "Long"})),
        "boolean" => Some(json!({"type": "Boolean"})),
        "array" => schema.get("items").and_then(input_type).map(|e| json!({"type": "Set", "element": e})),
        "object" => Some(record_type(schema)),
        _ => None,
    }
}

fn record_type(schema: &Value) -> Value {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut attributes = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if let Some(mut t) = input_type(prop) {
                if let Some(o) = t.as_object_mut() {
                    o.insert("required".into(), Value::Bool(required.contains(&name.as_str())));
                }
                attributes.insert(name.clone(), t);
            }
        }
    }
    json!({"type": "Record", "attributes": attributes})
}

/// A tool's context: its typed `input`, then the facts every call carries.
fn context_type(input_schema: &Value) -> Value {
    let mut attributes = Map::new();
    attributes.insert("input".into(), record_type(input_schema));
    attributes.extend(crate::facts::schema_attributes().map(|(k, v)| (k.to_string(), v)));
    json!({"type": "Record", "attributes": attributes})
}

/// The whole schema for these tools.
pub(crate) fn generate(tools: &[ToolManifest]) -> Value {
    let mut actions = Map::new();
    actions.insert("CallTool".into(), json!({}));
    for t in tools {
        actions.insert(
            t.qualified(),
            json!({
                "memberOf": [{"id": "CallTool"}],
                "appliesTo": {
                    "principalTypes": ["Agent"],
                    "resourceTypes": ["Tool"],
                    "context": context_type(&t.input_schema),
                },
            }),
        );
    }
    let string = json!({"type": "String"});
    let strings = json!({"type": "Set", "element": {"type": "String"}});
    let boolean = json!({"type": "Boolean"});
    json!({
        "": {
            "entityTypes": {
                "Agent": {"shape": {"type": "Record", "attributes": {
                    "owner": string, "environment": string, "tier": string, "state": string, "labels": strings,
                }}},
                "Tool": {"shape": {"type": "Record", "attributes": {
                    "server": string, "name": string, "labels": strings,
                    "read_only": boolean, "destructive": boolean, "idempotent": boolean, "open_world": boolean,
                }}},
            },
            "actions": actions,
        }
    })
}

/// The tool's entity attributes. Annotation hints take MCP's defaults when absent
/// (`destructiveHint` and `openWorldHint` default to true).
pub(crate) fn tool_attrs(t: &ToolManifest) -> Value {
    let hint = |k: &str, default: bool| t.annotations.get(k).and_then(Value::as_bool).unwrap_or(default);
    json!({
        "server": t.server, "name": t.name, "labels": t.labels,
        "read_only": hint("readOnlyHint", false), "destructive": hint("destructiveHint", true),
        "idempotent": hint("idempotentHint", false), "open_world": hint("openWorldHint", true),
    })
}

/// `context.input` for a call: the arguments the schema types, converted; an argument of the
/// wrong type or a missing required one is an error naming it.
pub(crate) fn context_input(t: &ToolManifest, args: &Value) -> Result<Value, String> {
    let empty = Map::new();
    let args = match args {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err("`arguments` must be an object".into()),
    };
    fill_record(&record_type(&t.input_schema), args, "")
}

fn fill_record(ty: &Value, obj: &Map<String, Value>, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    if let Some(attrs) = ty.get("attributes").and_then(Value::as_object) {
        for (name, aty) in attrs {
            let here = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            match obj.get(name) {
                None | Some(Value::Null) => {
                    if aty.get("required").and_then(Value::as_bool).unwrap_or(false) {
                        return Err(format!("missing required argument `{here}`"));
                    }
                }
                Some(v) => {
                    out.insert(name.clone(), fill(aty, v, &here)?);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

fn fill(ty: &Value, v: &Value, path: &str) -> Result<Value, String> {
    let want = ty.get("type").and_then(Value::as_str).unwrap_or("");
    let bad = || format!("argument `{path}` must be {}", article(want));
    match (want, v) {
        ("String", Value::String(s)) => Ok(Value::String(normalize_path(s))),
        ("Boolean", Value::Bool(_)) => Ok(v.clone()),
        ("Long", Value::Number(n)) if n.is_i64() => Ok(v.clone()),
        ("Set", Value::Array(items)) => {
            let elem = ty.get("element").cloned().unwrap_or(Value::Null);
            items
                .iter()
                .enumerate()
                .map(|(i, x)| fill(&elem, x, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        ("Record", Value::Object(m)) => fill_record(ty, m, path),
        _ => Err(bad()),
    }
}

/// A string that is a path with `.`/`..` segments or doubled slashes, resolved lexically: a
/// policy matching `like "/srv/allowed/*"` must see `/srv/allowed/../private/x` as the
/// `/srv/private/x` the server will open. Other strings are unchanged. (Symbolic links are the
/// server's to resolve; a policy cannot see them.)
pub fn normalize_path(s: &str) -> String {
    let dotted = s.split(['/', '\\']).any(|seg| seg == "." || seg == "..");
    if !s.contains('/') || !(dotted || s.contains("//")) {
        return s.to_string();
    }
    let absolute = s.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                // Above the root stays at the root; a relative path keeps leading `..`.
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !absolute {
                    out.push("..");
                }
            }
            seg => out.push(seg),
        }
    }
    let joined = out.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

fn article(cedar: &str) -> &'static str {
    match cedar {
        "String" => "a string",
        "Long" => "an integer",
        "Boolean" => "a boolean",
        "Set" => "an array",
        "Record" => "an object",
        _ => "of another type",
    }
}
