//! Cedar for tool calls: schema from manifests, validation with file:line, decisions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod approval;
mod session;

use custos_policy::{Engine, PolicyError, Principal, Source, ToolManifest};
use serde_json::json;

fn tools() -> Vec<ToolManifest> {
    let t = |server: &str, name: &str, schema: serde_json::Value, annotations: serde_json::Value| ToolManifest {
        server: server.into(),
        name: name.into(),
        description: String::new(),
        input_schema: schema,
        annotations,
        labels: vec![],
    };
    vec![
        t(
            "fs",
            "read_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "head": {"type": "integer"}}, "required": ["path"]}),
            json!({"readOnlyHint": true}),
        ),
        t(
            "fs",
            "write_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}),
            json!({}),
        ),
        t(
            "calc",
            "add",
            json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"},
                   "tags": {"type": "array", "items": {"type": "string"}}, "opts": {"type": "object", "properties": {"fast": {"type": "boolean"}}}}}),
            json!(null),
        ),
    ]
}

fn agent(env: &str, labels: &[&str]) -> Principal {
    Principal {
        id: "team/bot".into(),
        owner: "alice".into(),
        environment: env.into(),
        tier: "high".into(),
        state: "active".into(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
    }
}

fn engine(text: &str) -> Result<Engine, PolicyError> {
    Engine::build(tools(), &[Source { file: "p.cedar".into(), text: text.into() }])
}

#[test]
fn default_deny_permit_and_forbid_wins() {
    let e = engine("").unwrap();
    let d = e.decide(&agent("dev", &[]), "fs.read_file", &json!({"path": "/x"})).unwrap();
    assert!(!d.allowed && d.policies.is_empty() && d.note.unwrap().contains("default deny"));

    let e = engine(
        r#"@id("read-anything") permit(principal, action in Action::"CallTool", resource) when { resource.read_only };
           @id("no-prod-secrets") forbid(principal, action == Action::"fs.read_file", resource)
             when { principal.environment == "prod" && context.input.path like "/secrets/*" };"#,
    )
    .unwrap();
    let d = e.decide(&agent("prod", &[]), "fs.read_file", &json!({"path": "/data/a"})).unwrap();
    assert_eq!((d.allowed, d.policies.as_slice()), (true, &["read-anything".to_string()][..]));
    let d = e.decide(&agent("prod", &[]), "fs.read_file", &json!({"path": "/secrets/k"})).unwrap();
    assert_eq!((d.allowed, d.policies.as_slice()), (false, &["no-prod-secrets".to_string()][..]));
    // write_file is not read-only (MCP's default hints): nothing permits it.
    assert!(!e.decide(&agent("dev", &[]), "fs.write_file", &json!({"path": "/a"})).unwrap().allowed);
}

#[test]
fn typed_input_and_conversion_errors() {
    let e = engine(
        r#"permit(principal, action == Action::"fs.read_file", resource)
             when { context.input.path like "/srv/allowed/*" && (if context.input has head then context.input.head < 100 else true) };
           permit(principal, action == Action::"calc.add", resource)
             when { context.input has tags && context.input.tags.contains("ok")
                    && context.input has opts && context.input.opts has fast && context.input.opts.fast };"#,
    )
    .unwrap();
    let p = agent("dev", &[]);
    assert!(e.decide(&p, "fs.read_file", &json!({"path": "/srv/allowed/a.txt"})).unwrap().allowed);
    assert!(e.decide(&p, "fs.read_file", &json!({"path": "/srv/allowed/a.txt", "head": 5})).unwrap().allowed);
    assert!(!e.decide(&p, "fs.read_file", &json!({"path": "/srv/allowed/a.txt", "head": 500})).unwrap().allowed);
    assert!(!e.decide(&p, "fs.read_file", &json!({"path": "/etc/passwd"})).unwrap().allowed);
    // Numbers Cedar cannot type are left out of the context and still fine to send.
    assert!(
        e.decide(&p, "calc.add", &json!({"a": 1.5, "b": 2, "tags": ["ok"], "opts": {"fast": true}})).unwrap().allowed
    );
    for (args, needle) in [
        (json!({"path": 7}), "`path` must be a string"),
        (json!({}), "missing required argument `path`"),
        (json!({"path": "/x", "head": 1.5}), "`head` must be an integer"),
        (json!("nope"), "must be an object"),
    ] {
        let err = e.decide(&p, "fs.read_file", &args).unwrap_err().to_string();
        assert!(err.contains(needle), "{args}: {err}");
    }
    let err = e.decide(&p, "calc.add", &json!({"tags": [1]})).unwrap_err().to_string();
    assert!(err.contains("`tags[0]` must be a string"), "{err}");
    assert!(e.decide(&p, "nope.tool", &json!({})).is_err());
}

#[test]
fn bad_policies_are_refused_with_file_and_line() {
    let cases = [
        ("permit(principal, action, resource);\n\npermit(principal action, resource);", 3, "unexpected"),
        (
            "permit(principal, action, resource);\nforbid(principal, action == Action::\"fs.delete\", resource);",
            2,
            "fs.delete",
        ),
        (
            "permit(principal, action == Action::\"fs.read_file\", resource)\n  when { context.input.nope == \"x\" };",
            2,
            "nope",
        ),
        ("permit(principal, action, resource) when { principal.salary > 3 };", 1, "salary"),
    ];
    for (text, line, needle) in cases {
        let err = engine(text).unwrap_err();
        let PolicyError::Policy { file, line: got, message } = &err else { panic!("{err}") };
        assert_eq!((file.as_str(), *got), ("p.cedar", line), "{text}: {message}");
        assert!(message.contains(needle) || err.to_string().contains(needle), "{text}: {err}");
    }
}

#[test]
fn could_allow_filters_by_scope_and_unconditional_forbids() {
    let e = engine(
        r#"permit(principal, action == Action::"fs.read_file", resource) when { context.input.path like "/srv/*" };
           permit(principal, action == Action::"calc.add", resource);
           forbid(principal, action == Action::"calc.add", resource) when { principal.labels.contains("no-math") };
           forbid(principal, action == Action::"fs.write_file", resource);
           permit(principal, action == Action::"fs.write_file", resource);"#,
    )
    .unwrap();
    let p = agent("dev", &[]);
    assert!(e.could_allow(&p, "fs.read_file"), "a conditional permit may allow");
    assert!(e.could_allow(&p, "calc.add"), "a conditional forbid does not hide");
    assert!(!e.could_allow(&p, "fs.write_file"), "an unconditional forbid hides");
    assert!(!e.could_allow(&p, "nope.x"));
    assert_eq!(e.len(), 5);
    // Policy ids default to file:n.
    let d = e.decide(&p, "calc.add", &json!({})).unwrap();
    assert_eq!(d.policies, ["p.cedar:1"]);
}

#[test]
fn paths_are_normalized_before_policies_see_them() {
    use custos_policy::normalize_path as n;
    for (raw, want) in [
        ("/srv/allowed/../private/x", "/srv/private/x"),
        ("/srv/allowed/./a//b", "/srv/allowed/a/b"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("a/../../b", "../b"),
        ("a/./", "a"),
        ("no slashes .. here", "no slashes .. here"),
        ("https://example.com/a", "https://example.com/a".replace("//", "/").as_str()),
        ("/plain/path", "/plain/path"),
    ] {
        assert_eq!(n(raw), want, "{raw}");
    }
    let e = engine(r#"permit(principal, action == Action::"fs.read_file", resource) when { context.input.path like "/srv/allowed/*" };"#)
        .unwrap();
    let p = agent("dev", &[]);
    assert!(e.decide(&p, "fs.read_file", &json!({"path": "/srv/allowed/a"})).unwrap().allowed);
    for escape in ["/srv/allowed/../private/b", "/srv/allowed/x/../../private/b", "/srv/allowed/.."] {
        assert!(!e.decide(&p, "fs.read_file", &json!({"path": escape})).unwrap().allowed, "{escape}");
    }
}

#[test]
fn a_changed_agent_is_decided_on_its_new_attributes() {
    // Entities are cached per principal and tool: the cache must never answer for an older
    // version of the agent's record.
    let e = engine(r#"permit(principal, action == Action::"fs.read_file", resource) when { principal.environment == "prod" && principal.labels.contains("pci") };"#)
        .unwrap();
    let args = json!({"path": "/a"});
    for _ in 0..3 {
        assert!(!e.decide(&agent("dev", &["pci"]), "fs.read_file", &args).unwrap().allowed);
        assert!(e.decide(&agent("prod", &["pci"]), "fs.read_file", &args).unwrap().allowed);
        assert!(!e.decide(&agent("prod", &[]), "fs.read_file", &args).unwrap().allowed);
        let mut suspended = agent("prod", &["pci"]);
        suspended.state = "suspended".into();
        assert!(
            e.decide(&suspended, "fs.read_file", &args).unwrap().allowed,
            "state is an attribute, not a filter here"
        );
    }
}

/// A forbid that fails at evaluation (here an overflow on the caller's own number) might have
/// applied: the call is denied, whatever permits it. A permit that fails simply does not permit.
#[test]
fn a_forbid_that_cannot_be_evaluated_denies() {
    let e = engine(
        r#"@id("all") permit(principal, action, resource);
@id("no-big-heads") forbid(principal, action == Action::"fs.read_file", resource)
  when { context.input has head && context.input.head + 9223372036854775807 > 0 };"#,
    )
    .unwrap();
    let d = e.decide(&agent("prod", &[]), "fs.read_file", &json!({"path": "/a", "head": 5})).unwrap();
    assert!(!d.allowed, "{d:?}");
    assert!(d.note.as_deref().unwrap_or("").contains("no-big-heads"), "{d:?}");
    // Without the argument the forbid evaluates (to false): allowed.
    let d = e.decide(&agent("prod", &[]), "fs.read_file", &json!({"path": "/a"})).unwrap();
    assert!(d.allowed, "{d:?}");
    // A failing permit beside a working one: the working one allows.
    let e = engine(
        r#"@id("all") permit(principal, action, resource);
@id("odd") permit(principal, action == Action::"fs.read_file", resource)
  when { context.input has head && context.input.head + 9223372036854775807 > 0 };"#,
    )
    .unwrap();
    let d = e.decide(&agent("prod", &[]), "fs.read_file", &json!({"path": "/a", "head": 5})).unwrap();
    assert!(d.allowed, "{d:?}");
}
