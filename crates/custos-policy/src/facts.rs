//! What a decision knows beyond who, which tool and the arguments: the session so far and what
//! the gateway found in this call. Both enter the Cedar context, never the entities: they change
//! with every call, while entities are cached per (principal, tool).

use std::collections::BTreeSet;

use cedar_policy::{Context, RestrictedExpression};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ToolManifest;

/// What happened earlier in the MCP session a call belongs to: `context.session`.
///
/// It lets a policy look back, for example forbid an `egress` tool once a `sensitive` one was
/// read. Serializable so a gateway can carry it inside its sealed session state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionFacts {
    /// Qualified `server.tool` names already called in this session.
    pub tools: BTreeSet<String>,
    /// Labels of the tools already called (`untrusted-input`, `sensitive`, `egress`, …).
    pub labels: BTreeSet<String>,
    /// How many calls the session made before this one.
    pub calls: u64,
}

impl SessionFacts {
    /// Adds a call of `tool`. Whether a denied call counts is the caller's choice; a gateway
    /// records what it forwarded, since only that can have touched the data.
    pub fn record(&mut self, tool: &ToolManifest) {
        self.tools.insert(tool.qualified());
        self.labels.extend(tool.labels.iter().cloned());
        self.calls = self.calls.saturating_add(1);
    }
}

/// Everything a decision takes besides principal, tool and arguments.
///
/// `secrets` sits here rather than in [`SessionFacts`] because it describes this call only:
/// a secret in one call's arguments says nothing about the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// `context.session`.
    pub session: SessionFacts,
    /// `context.secrets`: the arguments carry a secret (the gateway's DLP found one).
    pub secrets: bool,
}

/// The context attributes besides `input`, as Cedar schema JSON: the one place that states
/// their shape, next to the code that fills them.
pub(crate) fn schema_attributes() -> [(&'static str, Value); 2] {
    let strings = json!({"type": "Set", "element": {"type": "String"}});
    [
        (
            "session",
            json!({"type": "Record", "attributes": {
                "tools": strings, "labels": strings, "calls": {"type": "Long"},
            }}),
        ),
        ("secrets", json!({"type": "Boolean"})),
    ]
}

/// The whole context for a call: `input` (typed by the tool's schema) plus the facts.
///
/// Built from restricted expressions rather than parsed from JSON: Cedar's JSON parsing costs
/// several times a whole decision, and grows with every tool the session called. The values
/// need no parsing anyway, since `input` already has the schema's types; the request is still
/// checked against the schema, so a wrong shape here is an error, never a skipped forbid.
pub(crate) fn context(input: Value, facts: &CallFacts) -> Result<Context, String> {
    let s = &facts.session;
    let strings = |set: &BTreeSet<String>| {
        RestrictedExpression::new_set(set.iter().cloned().map(RestrictedExpression::new_string))
    };
    // Cedar's Long is signed; a session cannot make 2^63 calls, but saturate rather than wrap.
    let calls = i64::try_from(s.calls).unwrap_or(i64::MAX);
    let session = RestrictedExpression::new_record([
        ("tools".to_string(), strings(&s.tools)),
        ("labels".to_string(), strings(&s.labels)),
        ("calls".to_string(), RestrictedExpression::new_long(calls)),
    ])
    .map_err(|e| e.to_string())?;
    Context::from_pairs([
        ("input".to_string(), restricted(input)?),
        ("session".to_string(), session),
        ("secrets".to_string(), RestrictedExpression::new_bool(facts.secrets)),
    ])
    .map_err(|e| e.to_string())
}

/// A typed `input` value as a Cedar expression. Only the JSON the schema types produce can
/// occur (no `null`, integers only); anything else is an error rather than a guess.
fn restricted(v: Value) -> Result<RestrictedExpression, String> {
    Ok(match v {
        Value::String(s) => RestrictedExpression::new_string(s),
        Value::Bool(b) => RestrictedExpression::new_bool(b),
        Value::Number(n) => RestrictedExpression::new_long(n.as_i64().ok_or("a number that is not a Long")?),
        Value::Array(items) => {
            RestrictedExpression::new_set(items.into_iter().map(restricted).collect::<Result<Vec<_>, _>>()?)
        }
        Value::Object(m) => RestrictedExpression::new_record(
            m.into_iter().map(|(k, v)| restricted(v).map(|v| (k, v))).collect::<Result<Vec<_>, _>>()?,
        )
        .map_err(|e| e.to_string())?,
        Value::Null => return Err("`null` has no Cedar value".into()),
    })
}
