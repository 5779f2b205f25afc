//! Session facts and `context.secrets`: policies that look back over the session.

use custos_policy::{CallFacts, Engine, Outcome, PolicyError, SessionFacts, Source, ToolManifest, read_sources};
use serde_json::json;

use super::agent;

/// Tools labelled the way the example policies expect.
pub(crate) fn labelled_tools() -> Vec<ToolManifest> {
    let t = |server: &str, name: &str, labels: &[&str], annotations: serde_json::Value| ToolManifest {
        server: server.into(),
        name: name.into(),
        description: String::new(),
        input_schema: json!({"type": "object", "properties": {"id": {"type": "string"}}}),
        annotations,
        labels: labels.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        t("crm", "read_customer", &["sensitive"], json!({"readOnlyHint": true})),
        t("web", "fetch", &["untrusted-input"], json!({"readOnlyHint": true})),
        t("mail", "send", &["egress"], json!({"readOnlyHint": false})),
        t("fs", "delete_file", &["destructive"], json!({"destructiveHint": true})),
    ]
}

pub(crate) fn labelled_engine(text: &str) -> Result<Engine, PolicyError> {
    Engine::build(labelled_tools(), &[Source { file: "p.cedar".into(), text: text.into() }])
}

fn tool(qualified: &str) -> ToolManifest {
    labelled_tools().into_iter().find(|t| t.qualified() == qualified).unwrap()
}

fn session_after(tools: &[&str]) -> CallFacts {
    let mut session = SessionFacts::default();
    for t in tools {
        session.record(&tool(t));
    }
    CallFacts { session, secrets: false }
}

const NO_EGRESS_AFTER_SENSITIVE: &str = r#"
    @id("any") permit (principal, action in Action::"CallTool", resource);
    @id("no-egress-after-sensitive") forbid (principal, action in Action::"CallTool", resource)
      when { resource.labels.contains("egress") && context.session.labels.contains("sensitive") };
"#;

#[test]
fn egress_after_a_sensitive_read_in_the_same_session_is_denied_by_the_forbid() {
    let e = labelled_engine(NO_EGRESS_AFTER_SENSITIVE).unwrap();
    let p = agent("prod", &[]);
    let args = json!({"id": "42"});

    let fresh = CallFacts::default();
    let read = e.decide_in(&p, "crm.read_customer", &args, &fresh).unwrap();
    assert!(read.allowed, "{read:?}");

    let after = session_after(&["crm.read_customer"]);
    let d = e.decide_in(&p, "mail.send", &args, &after).unwrap();
    assert_eq!((d.outcome(), d.policies.as_slice()), (Outcome::Deny, &["no-egress-after-sensitive".to_string()][..]));

    // The same call in a fresh session, or after only non-sensitive tools, goes through.
    let d = e.decide_in(&p, "mail.send", &args, &fresh).unwrap();
    assert_eq!((d.outcome(), d.policies.as_slice()), (Outcome::Allow, &["any".to_string()][..]));
    assert!(e.decide_in(&p, "mail.send", &args, &session_after(&["web.fetch"])).unwrap().allowed);
    // `decide` is a fresh session.
    assert!(e.decide(&p, "mail.send", &args).unwrap().allowed);
}

#[test]
fn facts_change_the_decision_between_calls_with_the_same_cached_entities() {
    // Entities are cached per (principal, tool); the facts are per call and must never be
    // answered from that cache.
    let e = labelled_engine(NO_EGRESS_AFTER_SENSITIVE).unwrap();
    let p = agent("prod", &[]);
    let args = json!({});
    let tainted = session_after(&["crm.read_customer"]);
    for _ in 0..3 {
        assert!(e.decide_in(&p, "mail.send", &args, &CallFacts::default()).unwrap().allowed);
        assert!(!e.decide_in(&p, "mail.send", &args, &tainted).unwrap().allowed);
        assert!(e.decide(&p, "mail.send", &args).unwrap().allowed);
    }
}

#[test]
fn session_tools_calls_and_secrets_are_visible_to_policies() {
    let e = labelled_engine(
        r#"@id("after-fetch") permit (principal, action == Action::"mail.send", resource)
             when { context.session.tools.contains("web.fetch") && context.session.calls < 3 };
           @id("no-secret-egress") forbid (principal, action, resource)
             when { resource.labels.contains("egress") && context.secrets };"#,
    )
    .unwrap();
    let p = agent("dev", &[]);
    let send = |facts: &CallFacts| e.decide_in(&p, "mail.send", &json!({}), facts).unwrap();

    assert!(!send(&CallFacts::default()).allowed, "web.fetch not called yet");
    let mut facts = session_after(&["web.fetch"]);
    assert!(send(&facts).allowed);
    facts.session.calls = 3;
    assert!(!send(&facts).allowed, "too many calls");
    facts.session.calls = 1;
    facts.secrets = true;
    let d = send(&facts);
    assert_eq!((d.allowed, d.policies.as_slice()), (false, &["no-secret-egress".to_string()][..]));
}

#[test]
fn recording_a_call_adds_its_name_and_labels() {
    let facts = session_after(&["crm.read_customer", "mail.send", "crm.read_customer"]);
    let s = facts.session;
    assert_eq!(s.tools.into_iter().collect::<Vec<_>>(), ["crm.read_customer", "mail.send"]);
    assert_eq!(s.labels.into_iter().collect::<Vec<_>>(), ["egress", "sensitive"]);
    assert_eq!(s.calls, 3);
}

#[test]
fn an_unknown_session_attribute_is_refused_with_file_and_line() {
    for (text, line) in [
        (
            "permit (principal, action, resource);\n\nforbid (principal, action, resource)\n  when { context.session.nope };",
            4,
        ),
        ("permit (principal, action, resource) when { context.session.labels.contains(1) };", 1),
        ("permit (principal, action, resource)\n  when { context.secrets == \"yes\" };", 2),
    ] {
        let err = labelled_engine(text).unwrap_err();
        let PolicyError::Policy { file, line: got, message } = &err else { panic!("{err}") };
        assert_eq!((file.as_str(), *got), ("p.cedar", line), "{text}: {message}");
    }
    let err = labelled_engine("permit (principal, action, resource)\n  when { context.session.nope };").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn the_example_policy_loads_validates_and_decides() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies/no-egress-after-sensitive.cedar");
    let e = Engine::build(labelled_tools(), &read_sources(&[path]).unwrap()).unwrap();
    assert_eq!(e.len(), 5);
    let mut demo = agent("prod", &[]);
    demo.id = "demo/assistant".into();
    let args = json!({"id": "7"});
    let decide = |tool: &str, facts: &CallFacts| e.decide_in(&demo, tool, &args, facts).unwrap();

    let fresh = CallFacts::default();
    assert_eq!(decide("crm.read_customer", &fresh).outcome(), Outcome::Allow);
    assert_eq!(decide("mail.send", &fresh).outcome(), Outcome::Allow);

    let d = decide("mail.send", &session_after(&["web.fetch", "crm.read_customer"]));
    assert_eq!((d.outcome(), d.policies.as_slice()), (Outcome::Deny, &["no-egress-after-sensitive".to_string()][..]));
    let d = decide("mail.send", &CallFacts { secrets: true, ..CallFacts::default() });
    assert_eq!((d.outcome(), d.policies.as_slice()), (Outcome::Deny, &["no-secret-egress".to_string()][..]));

    let d = decide("fs.delete_file", &fresh);
    assert_eq!(d.outcome(), Outcome::Approval);
    assert_eq!(d.approval.unwrap().reasons, ["owner of demo/assistant"]);

    // Another agent is covered by nothing.
    let d = e.decide_in(&agent("prod", &[]), "crm.read_customer", &args, &fresh).unwrap();
    assert_eq!(d.outcome(), Outcome::Deny);
}
