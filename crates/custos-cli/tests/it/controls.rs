//! `custos approvals`, `custos tools` and `custos gateway kill` without a live upstream: what
//! they take, what they refuse before sending anything, and what a `custos up` without a
//! gateway answers. Held calls and quarantined tools of a live gateway are `protect.rs`'s.

use tempfile::TempDir;

use crate::support::{Out, Server, custos};

#[test]
fn the_help_lists_every_subcommand_and_the_kill_reason_default() {
    let tmp = TempDir::new().expect("temp dir");
    let help = |args: &[&str]| Out::of(custos(tmp.path()).args(args), None).ok().stdout;
    let approvals = help(&["approvals", "--help"]);
    for sub in ["list", "approve", "deny"] {
        assert!(approvals.lines().any(|l| l.trim_start().starts_with(sub)), "no `{sub}`:\n{approvals}");
    }
    assert!(help(&["approvals", "list", "--help"]).contains("--all"));
    assert!(help(&["approvals", "deny", "--help"]).contains("--note"));
    let tools = help(&["tools", "--help"]);
    for sub in ["list", "approve"] {
        assert!(tools.lines().any(|l| l.trim_start().starts_with(sub)), "no `{sub}`:\n{tools}");
    }
    assert!(help(&["gateway", "--help"]).lines().any(|l| l.trim_start().starts_with("kill")));
    let kill = help(&["gateway", "kill", "--help"]);
    assert!(kill.contains("--agent") && kill.contains(r#"[default: "kill switch"]"#), "{kill}");
}

#[test]
fn malformed_arguments_are_exit_3_before_anything_is_sent() {
    let tmp = TempDir::new().expect("temp dir");
    // A server URL where nothing listens: reaching it would be exit 1, not 3.
    let run = |args: &[&str]| {
        let mut c = custos(tmp.path());
        c.args(["--server", "http://127.0.0.1:9"]).env("CUSTOS_ADMIN_TOKEN", "custos_admin_x");
        Out::of(c.args(args), None)
    };
    run(&["tools", "approve", "nodot"]).fails(3, &["`nodot` is not SERVER.TOOL"]);
    run(&["tools", "approve", ".tool"]).fails(3, &["is not SERVER.TOOL"]);
    run(&["gateway", "kill", "--agent", "Not An Id"]).fails(3, &["--agent:"]);
    run(&["--actor", "two words", "approvals", "approve", "apr_1"]).fails(3, &["--actor"]);
    // clap's usage errors are invalid input too.
    Out::of(custos(tmp.path()).args(["gateway", "kill"]), None).code(3);
    Out::of(custos(tmp.path()).args(["approvals", "approve"]), None).code(3);
    // Without --server there is nothing to ask.
    Out::of(custos(tmp.path()).args(["approvals", "list"]), None)
        .fails(3, &["`custos approvals list` talks to a running `custos up`", "--server"]);
}

#[test]
fn without_a_gateway_each_command_says_so_and_the_kill_switch_suspends_nobody() {
    let tmp = TempDir::new().expect("temp dir");
    let (server, _) = Server::start(tmp.path(), &tmp.path().join("data"), None);
    server.run(&["agent", "register", "ops/bot", "--env", "dev", "--owner", "alice"]).ok();
    server.run(&["agent", "approve", "ops/bot"]).ok();
    let commands: &[&[&str]] = &[
        &["approvals", "list"],
        &["approvals", "list", "--all"],
        &["approvals", "approve", "apr_0123456789abcdef01234567", "--note", "ok"],
        &["approvals", "deny", "apr_0123456789abcdef01234567"],
        &["tools", "list"],
        &["tools", "approve", "srv.echo"],
        &["gateway", "kill", "--agent", "ops/bot"],
    ];
    for args in commands {
        server.run(args).fails(3, &["no gateway runs", "(HTTP 409)"]);
        let mut json = vec!["--json"];
        json.extend_from_slice(args);
        server.run(&json).fails(3, &["no gateway runs"]);
    }
    let bot = server.run(&["--json", "agent", "show", "ops/bot"]).ok().json();
    assert_eq!(bot["agent"]["state"], "active", "{bot}");
    assert_eq!(server.stop(), Some(0));
}
