//! `@approval` permits: allowed only once a human approves; a plain permit or a forbid decides
//! otherwise.

use custos_policy::{Approval, Decision, Outcome, PolicyError};
use serde_json::json;

use super::{agent, session::labelled_engine};

fn delete(text: &str) -> Decision {
    labelled_engine(text).unwrap().decide(&agent("prod", &[]), "fs.delete_file", &json!({"id": "1"})).unwrap()
}

#[test]
fn an_approval_permit_holds_the_call_for_approval_with_its_value() {
    let d = delete(
        r#"@id("deletes-need-finance") @approval("finance lead")
           permit (principal, action, resource) when { resource.labels.contains("destructive") };"#,
    );
    assert_eq!(d.outcome(), Outcome::Approval);
    assert!(!d.allowed, "a caller that reads only `allowed` must not let it through");
    assert_eq!(d.policies, ["deletes-need-finance"]);
    assert_eq!(d.approval, Some(Approval { reasons: vec!["finance lead".into()] }));
    assert!(d.note.unwrap().contains("finance lead"));
}

#[test]
fn approval_reasons_come_from_every_determining_permit() {
    let d = delete(
        r#"@id("b") @approval("security") permit (principal, action, resource);
           @id("a") @approval("finance lead") permit (principal, action, resource);
           @id("c") @approval("security") permit (principal, action, resource);
           @id("d") @approval permit (principal, action, resource);"#,
    );
    assert_eq!(d.outcome(), Outcome::Approval);
    assert_eq!(d.policies, ["a", "b", "c", "d"]);
    assert_eq!(d.approval.unwrap().reasons, ["finance lead", "security"]);
}

#[test]
fn a_plain_permit_beside_an_approval_one_allows_now() {
    let d = delete(
        r#"@id("approve") @approval("finance lead") permit (principal, action, resource);
           @id("ops-may-delete") permit (principal, action, resource) when { principal.environment == "prod" };"#,
    );
    assert_eq!((d.outcome(), d.allowed, d.approval, d.note), (Outcome::Allow, true, None, None));
    assert_eq!(d.policies, ["approve", "ops-may-delete"]);
}

#[test]
fn a_plain_permit_that_does_not_match_leaves_the_approval() {
    let d = delete(
        r#"@id("approve") @approval("finance lead") permit (principal, action, resource);
           @id("dev-may-delete") permit (principal, action, resource) when { principal.environment == "dev" };"#,
    );
    assert_eq!((d.outcome(), d.policies.as_slice()), (Outcome::Approval, &["approve".to_string()][..]));
}

#[test]
fn forbid_beats_approval() {
    let d = delete(
        r#"@id("approve") @approval("finance lead") permit (principal, action, resource);
           @id("never-in-prod") forbid (principal, action, resource) when { principal.environment == "prod" };"#,
    );
    assert_eq!(
        (d.outcome(), d.approval, d.policies.as_slice()),
        (Outcome::Deny, None, &["never-in-prod".to_string()][..])
    );
}

#[test]
fn approval_on_a_forbid_is_refused_with_file_and_line() {
    let err = labelled_engine(
        "@approval(\"ok\") permit (principal, action, resource);\n// @approval is for permits\n\n@id(\"f\")\n@approval(\"finance\")\nforbid (principal, action, resource);",
    )
    .unwrap_err();
    let PolicyError::Policy { file, line, message } = &err else { panic!("{err}") };
    assert_eq!((file.as_str(), *line), ("p.cedar", 5), "{message}");
    assert!(message.contains("`f`") && message.contains("permits only"), "{message}");
}

#[test]
fn an_approval_gated_tool_is_still_listed() {
    let e = labelled_engine(
        r#"@approval("finance lead") permit (principal, action == Action::"fs.delete_file", resource);"#,
    )
    .unwrap();
    assert!(e.could_allow(&agent("prod", &[]), "fs.delete_file"));
    assert!(!e.could_allow(&agent("prod", &[]), "mail.send"));
}

#[test]
fn decision_outcome_holds_a_hand_built_decision_that_says_both() {
    let d = Decision { allowed: true, approval: Some(Approval::default()), ..Decision::default() };
    assert_eq!(d.outcome(), Outcome::Approval);
    assert_eq!(Decision::default().outcome(), Outcome::Deny);
    assert_eq!([Outcome::Allow, Outcome::Approval, Outcome::Deny].map(Outcome::as_str), ["allow", "approval", "deny"]);
}
