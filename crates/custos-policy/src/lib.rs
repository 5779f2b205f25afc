//! custos-policy: Cedar for tool calls.
//!
//! The schema is generated from what the upstream servers say about their tools: principal
//! `Agent` (owner, environment, tier, state, labels), one action per tool (`Action::"srv.tool"`)
//! in the group `Action::"CallTool"`, resource `Tool` (server, name, labels, annotation hints),
//! and a typed `context.input` per tool, derived from the tool's `inputSchema`. Policies are
//! validated against that schema when loaded, so a policy that names a tool or an argument that
//! does not exist is refused with its file and line, before it can silently never match.
//!
//! The context of every action has the same shape besides `input`:
//!
//! ```text
//! context: {
//!     input: { …the tool's arguments, typed from its inputSchema… },
//!     session: {
//!         tools: Set<String>,   // qualified `server.tool` names already called in this session
//!         labels: Set<String>,  // labels of those tools: `sensitive`, `egress`, `untrusted-input`, …
//!         calls: Long,          // calls the session made before this one
//!     },
//!     secrets: Bool,            // the arguments carry a secret (the gateway's DLP found one)
//! }
//! ```
//!
//! so a policy can look back over the session, for example
//! `forbid (principal, action, resource) when { resource.labels.contains("egress") &&
//! context.session.labels.contains("sensitive") };`. The tool's own labels are `resource.labels`,
//! taken from [`ToolManifest::labels`]. The caller supplies the facts ([`CallFacts`]) with each
//! call to [`Engine::decide_in`]; they are never cached.
//!
//! Decisions are Cedar's: default deny, any matching `forbid` wins. A policy's id is its
//! `@id("…")` annotation, else `<file>:<n>`; decisions name the policies that determined them.
//! A permit annotated `@approval("…")` allows a call only once a human approves it: when every
//! permit that allowed a call carries `@approval`, the outcome is [`Outcome::Approval`], and the
//! annotation values (who should approve, or why) come with it in [`Approval`]. One plain permit
//! that also allows the call makes it a plain allow. `@approval` on a forbid is refused at load:
//! a forbid always wins, so it could never mean "deny unless approved".

mod facts;
mod schema;

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    str::FromStr,
};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityId, EntityTypeName, EntityUid, Policy, PolicyId,
    PolicySet, Request, Schema, ValidationMode, Validator,
};
use serde_json::{Value, json};

pub use facts::{CallFacts, SessionFacts};
pub use schema::{ToolManifest, input_type, normalize_path};

/// The annotation that turns a permit into "allowed once a human approves".
const APPROVAL: &str = "approval";

/// Why policies could not be loaded or a decision not made.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file does not parse or does not validate: `file:line: message`.
    #[error("{file}:{line}: {message}")]
    Policy { file: String, line: usize, message: String },
    #[error("the generated schema is invalid: {0}")]
    Schema(String),
    /// The request cannot be evaluated (for example, an argument of the wrong type).
    #[error("cannot evaluate: {0}")]
    Evaluate(String),
}

/// The principal: an agent as the registry knows it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    pub owner: String,
    pub environment: String,
    pub tier: String,
    pub state: String,
    pub labels: Vec<String>,
}

/// What the policy said. [`Decision::outcome`] reads it as allow, approval or deny.
///
/// `Default` is a deny that names no policy, what a caller records when it fails closed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The call may proceed now. False both for a deny and for a call that needs approval
    /// (then [`Decision::approval`] is set), so a caller that reads only this field holds every
    /// call a human must approve: it fails closed.
    pub allowed: bool,
    /// The policies that determined it, sorted: the permits that allowed it (all carrying
    /// `@approval` when approval is required), or the forbids that denied it; empty for a
    /// default deny.
    pub policies: Vec<String>,
    /// Why, when no policy decided (default deny), evaluation failed, or approval is required.
    pub note: Option<String>,
    /// Set when the call may proceed only once a human approves it; `allowed` is then false.
    pub approval: Option<Approval>,
}

/// A call the policies allow only with a human's approval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approval {
    /// The `@approval("…")` values of the permits that allowed the call (who should approve,
    /// or why), in policy-id order without repeats; a bare `@approval` adds none.
    pub reasons: Vec<String>,
}

/// The three ways a call can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Proceed now.
    Allow,
    /// Proceed once a human approves (see [`Decision::approval`]).
    Approval,
    /// Do not proceed.
    Deny,
}

impl Outcome {
    /// `allow`, `approval` or `deny`: the word events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Approval => "approval",
            Self::Deny => "deny",
        }
    }
}

impl Decision {
    /// The outcome. Approval is checked first, so a hand-built decision that says both
    /// `allowed` and `approval` is held rather than let through.
    pub fn outcome(&self) -> Outcome {
        match (&self.approval, self.allowed) {
            (Some(_), _) => Outcome::Approval,
            (None, true) => Outcome::Allow,
            (None, false) => Outcome::Deny,
        }
    }
}

/// A policy source: a file name (for messages) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub text: String,
}

/// The policies in force, the schema they were validated against, and the tools it knows.
#[derive(Debug)]
pub struct Engine {
    schema: Schema,
    policies: PolicySet,
    /// Permit scopes with their conditions removed, plus unconditional forbids: what could be
    /// allowed for a principal and tool whatever the arguments (for `tools/list`).
    scopes: PolicySet,
    tools: BTreeMap<String, ToolManifest>,
    /// The permits carrying `@approval`, with its value: found once here so a decision only
    /// looks its determining policies up.
    approvals: HashMap<PolicyId, String>,
    authorizer: Authorizer,
    /// Entities by (principal, tool): building them validates JSON against the schema, which
    /// is most of a decision's cost, and they only change when the agent's record does (the
    /// key holds every attribute) or the engine is rebuilt (a new, empty cache).
    entity_cache: std::sync::Mutex<std::collections::HashMap<(String, String), Entities>>,
}

/// Entries the entity cache holds before it starts over.
const ENTITY_CACHE_MAX: usize = 16_384;

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The first labelled span of a diagnostic, as a line of `text`.
fn diag_line(d: &dyn miette::Diagnostic, text: &str) -> usize {
    d.labels().and_then(|mut l| l.next()).map_or(1, |l| line_of(text, l.offset()))
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, PolicyError> {
    let t = EntityTypeName::from_str(ty).map_err(|e| PolicyError::Evaluate(e.to_string()))?;
    Ok(EntityUid::from_type_name_and_id(t, EntityId::new(id)))
}

impl Engine {
    /// Builds the schema from `tools`, parses and validates every source against it. Any error
    /// refuses the whole set (the caller keeps the policies already in force).
    pub fn build(tools: Vec<ToolManifest>, sources: &[Source]) -> Result<Self, PolicyError> {
        let schema_json = schema::generate(&tools);
        let schema = Schema::from_json_value(schema_json).map_err(|e| PolicyError::Schema(e.to_string()))?;
        let mut policies = PolicySet::new();
        let mut scopes = PolicySet::new();
        let mut approvals = HashMap::new();
        for src in sources {
            let set = PolicySet::from_str(&src.text).map_err(|e| PolicyError::Policy {
                file: src.file.clone(),
                line: diag_line(&e, &src.text),
                message: e.to_string(),
            })?;
            // Validate each file on its own, so a message points into the right file.
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            if let Some(err) = result.validation_errors().next() {
                return Err(PolicyError::Policy {
                    file: src.file.clone(),
                    line: diag_line(err, &src.text),
                    message: err.to_string(),
                });
            }
            let mut approval_seen = 0;
            for (n, p) in set.policies().enumerate() {
                let id = p.annotation("id").map_or_else(|| format!("{}:{n}", src.file), str::to_string);
                let p = p.new_id(PolicyId::new(&id));
                if let Some(value) = p.annotation(APPROVAL) {
                    if p.effect() == cedar_policy::Effect::Forbid {
                        return Err(PolicyError::Policy {
                            file: src.file.clone(),
                            line: nth_annotation_line(&src.text, APPROVAL, approval_seen),
                            message: format!(
                                "policy `{id}`: `@{APPROVAL}` applies to permits only; a forbid always denies"
                            ),
                        });
                    }
                    approvals.insert(p.id().clone(), value.to_string());
                    approval_seen += 1;
                }
                let scoped = scope_only(&p, &id)?;
                if let Some(s) = scoped {
                    scopes.add(s).map_err(|e| duplicate(src, &id, e))?;
                }
                policies.add(p).map_err(|e| duplicate(src, &id, e))?;
            }
        }
        let tools = tools.into_iter().map(|t| (t.qualified(), t)).collect();
        Ok(Self {
            schema,
            policies,
            scopes,
            tools,
            approvals,
            authorizer: Authorizer::new(),
            entity_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// How many policies are in force.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every tool the engine knows, in qualified-name order.
    pub fn tools(&self) -> impl Iterator<Item = &ToolManifest> {
        self.tools.values()
    }

    /// The tool this engine knows by its qualified name (`server.tool`).
    pub fn tool(&self, qualified: &str) -> Option<&ToolManifest> {
        self.tools.get(qualified)
    }

    fn entities(&self, p: &Principal, tool: &ToolManifest) -> Result<Entities, PolicyError> {
        let key = (
            format!(
                "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
                p.id,
                p.owner,
                p.environment,
                p.tier,
                p.state,
                p.labels.join("\u{1}")
            ),
            tool.qualified(),
        );
        if let Some(e) = self.entity_cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(e.clone());
        }
        let built = self.build_entities(p, tool)?;
        let mut cache = self.entity_cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= ENTITY_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, built.clone());
        Ok(built)
    }

    fn build_entities(&self, p: &Principal, tool: &ToolManifest) -> Result<Entities, PolicyError> {
        let json = json!([
            {
                "uid": {"type": "Agent", "id": p.id},
                "attrs": {
                    "owner": p.owner, "environment": p.environment, "tier": p.tier,
                    "state": p.state, "labels": p.labels,
                },
                "parents": [],
            },
            {
                "uid": {"type": "Tool", "id": tool.qualified()},
                "attrs": schema::tool_attrs(tool),
                "parents": [],
            },
        ]);
        Entities::from_json_value(json, Some(&self.schema)).map_err(|e| PolicyError::Evaluate(e.to_string()))
    }

    /// Decides a call of `tool` (qualified) with `arguments` by `principal`, in a fresh
    /// session and with no secret found: [`Engine::decide_in`] with empty [`CallFacts`].
    pub fn decide(&self, principal: &Principal, tool: &str, arguments: &Value) -> Result<Decision, PolicyError> {
        self.decide_in(principal, tool, arguments, &CallFacts::default())
    }

    /// Decides a call of `tool` (qualified) with `arguments` by `principal`, given what the
    /// session did before and what the gateway found in this call (`context.session`,
    /// `context.secrets`).
    pub fn decide_in(
        &self,
        principal: &Principal,
        tool: &str,
        arguments: &Value,
        facts: &CallFacts,
    ) -> Result<Decision, PolicyError> {
        let manifest = self.tools.get(tool).ok_or_else(|| PolicyError::Evaluate(format!("unknown tool `{tool}`")))?;
        let action = uid("Action", tool)?;
        let input = schema::context_input(manifest, arguments).map_err(PolicyError::Evaluate)?;
        let context = facts::context(input, facts).map_err(PolicyError::Evaluate)?;
        // Not validated against the schema per call (a quarter of a decision's cost): the
        // context is built from that schema by `context_input` and `facts::context`, and what
        // would still not fit shows up as an evaluation error, which fails closed below.
        let request = Request::new(uid("Agent", &principal.id)?, action, uid("Tool", tool)?, context, None)
            // Cedar's message quotes the whole context, arguments included, and this text
            // reaches evidence, where arguments never go in clear.
            .map_err(|_| PolicyError::Evaluate("the call does not match the generated schema".into()))?;
        let entities = self.entities(principal, manifest)?;
        let response = self.authorizer.is_authorized(&request, &self.policies, &entities);
        // Cedar reports the determining policies as a set; sorted, decisions read the same
        // every time and approval reasons come in a stable order.
        let mut determining: Vec<&PolicyId> = response.diagnostics().reason().collect();
        determining.sort_unstable();
        let policies: Vec<String> = determining.iter().map(|id| id.to_string()).collect();
        let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
        // Cedar skips a policy whose evaluation fails. For a permit that is a deny already; a
        // forbid that could not be evaluated might have applied, so the call is denied.
        let forbid_failed = response.diagnostics().errors().any(|e| {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
            self.policies.policy(e.policy_id()).is_none_or(|p| p.effect() == cedar_policy::Effect::Forbid)
        });
        let permitted = response.decision() == CedarDecision::Allow && !forbid_failed;
        let approval = if permitted { self.approval(&determining) } else { None };
        let mut note = match (permitted, policies.is_empty(), errors.is_empty()) {
            (false, true, true) => Some("no policy permits this call (default deny)".to_string()),
            (_, _, false) => Some(format!("policy evaluation errors: {}", errors.join("; "))),
            _ => None,
        };
        if let Some(a) = &approval {
            let why = if a.reasons.is_empty() { String::new() } else { format!(": {}", a.reasons.join(", ")) };
            let held = format!("requires approval{why}");
            note = Some(note.map_or_else(|| held.clone(), |n| format!("{held}; {n}")));
        }
        Ok(Decision { allowed: permitted && approval.is_none(), policies, note, approval })
    }

    /// The approval a permitted call needs: `Some` only when every permit that allowed it
    /// carries `@approval`, since one plain permit is enough to proceed.
    fn approval(&self, permits: &[&PolicyId]) -> Option<Approval> {
        let mut reasons: Vec<String> = Vec::new();
        for id in permits {
            let value = self.approvals.get(*id)?;
            if !value.is_empty() && !reasons.iter().any(|r| r == value) {
                reasons.push(value.clone());
            }
        }
        Some(Approval { reasons })
    }

    /// Whether some call of `tool` could be allowed for `principal`: a permit's scope matches
    /// and no unconditional forbid does. Used to filter `tools/list`; the call itself is still
    /// decided with its arguments.
    pub fn could_allow(&self, principal: &Principal, tool: &str) -> bool {
        let Some(manifest) = self.tools.get(tool) else { return false };
        let (Ok(p), Ok(a), Ok(r)) = (uid("Agent", &principal.id), uid("Action", tool), uid("Tool", tool)) else {
            return false;
        };
        let Ok(request) = Request::new(p, a, r, Context::empty(), None) else { return false };
        let Ok(entities) = self.entities(principal, manifest) else { return false };
        self.authorizer.is_authorized(&request, &self.scopes, &entities).decision() == CedarDecision::Allow
    }
}

/// The line of the `n`th (from 0) `@name` annotation in `text`, skipping `//` comment lines;
/// line 1 if there is no such annotation. Cedar keeps no public source location for a parsed
/// policy, and policies keep their order in a set, so the `n`th annotated policy has the `n`th.
fn nth_annotation_line(text: &str, name: &str, n: usize) -> usize {
    let tag = format!("@{name}");
    let ends_word = |rest: &str| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_');
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .flat_map(|(i, line)| {
            line.match_indices(&tag)
                .filter(|(at, _)| line.get(at + tag.len()..).is_some_and(ends_word))
                .map(move |_| i + 1)
        })
        .nth(n)
        .unwrap_or(1)
}

fn duplicate(src: &Source, id: &str, e: impl std::fmt::Display) -> PolicyError {
    PolicyError::Policy { file: src.file.clone(), line: 1, message: format!("policy id `{id}`: {e}") }
}

/// A permit with its conditions removed, or a forbid that has none; `None` for a conditional
/// forbid (it may or may not apply, so it cannot hide a tool).
fn scope_only(p: &Policy, id: &str) -> Result<Option<Policy>, PolicyError> {
    let mut est = p.to_json().map_err(|e| PolicyError::Schema(e.to_string()))?;
    let conditions = est.get("conditions").and_then(Value::as_array).map_or(0, Vec::len);
    let permit = p.effect() == cedar_policy::Effect::Permit;
    if !permit && conditions > 0 {
        return Ok(None);
    }
    if let Some(c) = est.get_mut("conditions") {
        *c = json!([]);
    }
    Policy::from_json(Some(PolicyId::new(id)), est).map(Some).map_err(|e| PolicyError::Schema(e.to_string()))
}

/// Reads policy files, each as a [`Source`] named by its path.
pub fn read_sources(paths: &[impl AsRef<Path>]) -> Result<Vec<Source>, PolicyError> {
    paths
        .iter()
        .map(|p| {
            let p = p.as_ref();
            std::fs::read_to_string(p)
                .map(|text| Source { file: p.display().to_string(), text })
                .map_err(|e| PolicyError::Policy { file: p.display().to_string(), line: 0, message: e.to_string() })
        })
        .collect()
}
