//! `custos agent …` and `custos owner …`: the registry from the command line.

use std::collections::BTreeSet;

use anyhow::anyhow;
use custos_core::{
    AgentId, Timestamp,
    registry::{Agent, AgentQuery, Credential, Label, LifecycleOp, OwnerId},
};
use custos_registry::{ChangeOwner, HistoryItem, IssueToken, Outcome, Reason, RegisterAgent, UpdateAgent};
use serde::Serialize;

use crate::{
    backend::{Access, Backend},
    cli::{AgentCommand, Cli, ListArgs, OwnerCommand, RegisterArgs, TokenCommand, UpdateArgs},
    cmd::{ledger::actor, table},
    config,
    error::{CliError, CliResult, Code},
    output,
};

fn parse<T: std::str::FromStr>(flag: &str, v: &str) -> CliResult<T>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| CliError::input(anyhow!("{flag}: {e}")))
}

fn opt<T: std::str::FromStr>(flag: &str, v: &Option<String>) -> CliResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    v.as_deref().map(|v| parse(flag, v)).transpose()
}

fn labels(flag: &str, v: &[String]) -> CliResult<BTreeSet<Label>> {
    v.iter().map(|l| parse(flag, l)).collect()
}

fn print<T: Serialize>(v: &T) {
    output::json(&serde_json::to_value(v).unwrap_or(serde_json::Value::Null));
}

pub async fn run(cli: &Cli, cmd: &AgentCommand) -> CliResult<Code> {
    let file = config::load(cli)?;
    let access = match cmd {
        AgentCommand::List(_) | AgentCommand::Show(_) | AgentCommand::Token(TokenCommand::List(_)) => Access::Read,
        _ => Access::Write,
    };
    // Parse everything from the command line before touching the store: invalid input is
    // exit 3 whatever the state of the data dir.
    let actor = actor(cli)?;
    let plan = plan(cmd)?;
    let backend = Backend::open(cli, &file, access).await?;
    let result = execute(cli, plan, &backend, &actor).await;
    let closed = backend.close().await;
    let code = result?;
    closed?;
    Ok(code)
}

pub async fn run_owner(cli: &Cli, cmd: &OwnerCommand) -> CliResult<Code> {
    let file = config::load(cli)?;
    let actor = actor(cli)?;
    let access = if matches!(cmd, OwnerCommand::List) { Access::Read } else { Access::Write };
    let owner = match cmd {
        OwnerCommand::Offboard(a) => Some(parse::<OwnerId>("owner", &a.owner)?),
        OwnerCommand::List => None,
    };
    let backend = Backend::open(cli, &file, access).await?;
    let result = async {
        match (cmd, owner) {
            (OwnerCommand::Offboard(a), Some(owner)) => {
                let o = backend.offboard(&actor, &owner, Reason { reason: a.reason.clone() }).await?;
                if cli.json {
                    print(&o);
                } else {
                    println!(
                        "offboarded `{}` (ledger entry {}); {} orphaned{}",
                        o.value.owner,
                        o.event.index,
                        output::count(o.value.agents.len() as u64, "agent", "agents"),
                        if o.value.agents.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", o.value.agents.join(", "))
                        }
                    );
                }
            }
            _ => {
                let owners = backend.owners().await?;
                if cli.json {
                    print(&owners);
                } else {
                    let rows = owners
                        .iter()
                        .map(|o| {
                            vec![
                                o.owner.to_string(),
                                o.agents.to_string(),
                                o.orphaned.to_string(),
                                o.offboarded_at.map_or("-".into(), |t| t.to_string()),
                            ]
                        })
                        .collect();
                    table(&["OWNER", "AGENTS", "ORPHANED", "OFFBOARDED"], rows);
                }
            }
        }
        Ok::<_, CliError>(Code::Ok)
    }
    .await;
    let closed = backend.close().await;
    let code = result?;
    closed?;
    Ok(code)
}

/// A command with every argument parsed.
enum Plan {
    Register(RegisterAgent),
    List(AgentQuery),
    Show(AgentId),
    Update(AgentId, UpdateAgent),
    Owner(AgentId, ChangeOwner),
    Lifecycle(AgentId, LifecycleOp, Reason),
    Issue(AgentId, IssueToken),
    Tokens(AgentId),
    Revoke(AgentId, String, Reason),
}

fn plan(cmd: &AgentCommand) -> CliResult<Plan> {
    Ok(match cmd {
        AgentCommand::Register(a) => Plan::Register(register_request(a)?),
        AgentCommand::List(a) => Plan::List(list_query(a)?),
        AgentCommand::Show(a) => Plan::Show(parse("id", &a.id)?),
        AgentCommand::Update(a) => {
            let id = parse("id", &a.id)?;
            match &a.owner {
                Some(owner) => {
                    Plan::Owner(id, ChangeOwner { owner: parse("--owner", owner)?, reason: a.reason.clone() })
                }
                None => {
                    let u = update_request(a)?;
                    if u == UpdateAgent::default() {
                        return Err(CliError::input(anyhow!(
                            "nothing to change: give at least one of --name, --purpose, --env, --tier, --label, \
                             --add-label, --remove-label, --sponsor, --clear-sponsor, --recert-days or --owner"
                        )));
                    }
                    Plan::Update(id, u)
                }
            }
        }
        AgentCommand::Approve(a) | AgentCommand::Suspend(a) | AgentCommand::Resume(a) | AgentCommand::Retire(a) => {
            let op = match cmd {
                AgentCommand::Approve(_) => LifecycleOp::Approve,
                AgentCommand::Suspend(_) => LifecycleOp::Suspend,
                AgentCommand::Resume(_) => LifecycleOp::Resume,
                _ => LifecycleOp::Retire,
            };
            Plan::Lifecycle(parse("id", &a.id)?, op, Reason { reason: a.reason.clone() })
        }
        AgentCommand::Token(TokenCommand::Issue(a)) => {
            let ttl_seconds =
                a.ttl.as_deref().map(parse_ttl).transpose().map_err(|e| CliError::input(anyhow!("--ttl: {e}")))?;
            Plan::Issue(parse("id", &a.id)?, IssueToken { ttl_seconds, reason: a.reason.clone() })
        }
        AgentCommand::Token(TokenCommand::List(a)) => Plan::Tokens(parse("id", &a.id)?),
        AgentCommand::Token(TokenCommand::Revoke(a)) => {
            Plan::Revoke(parse("id", &a.id)?, a.credential.clone(), Reason { reason: a.reason.clone() })
        }
    })
}

async fn execute(cli: &Cli, plan: Plan, b: &Backend, actor: &custos_core::Actor) -> CliResult<Code> {
    match plan {
        Plan::Register(req) => done(cli, &b.register(actor, req).await?, "registered"),
        Plan::List(q) => list(cli, b, &q).await?,
        Plan::Show(id) => show(cli, b, &id).await?,
        Plan::Update(id, u) => done(cli, &b.update(actor, &id, u).await?, "updated"),
        Plan::Owner(id, o) => done(cli, &b.change_owner(actor, &id, o).await?, "updated"),
        Plan::Lifecycle(id, op, r) => done(cli, &b.lifecycle(actor, &id, op, r).await?, op.as_str()),
        Plan::Issue(id, req) => {
            let o = b.issue_token(actor, &id, req).await?;
            if cli.json {
                print(&o);
            } else {
                println!("issued {} for `{id}` (ledger entry {})", o.value.credential.id, o.event.index);
                println!("expires {}", o.value.credential.expires_at.map_or("never".into(), |e| e.to_string()));
                println!();
                println!("token (shown once; only its SHA-256 is stored):");
                println!("  {}", o.value.token);
            }
        }
        Plan::Tokens(id) => {
            let tokens = b.tokens(&id).await?;
            if cli.json {
                print(&tokens);
            } else if tokens.is_empty() {
                println!("no tokens");
            } else {
                for t in &tokens {
                    println!("{}", token_line(t));
                }
            }
        }
        Plan::Revoke(id, cred, r) => {
            let o = b.revoke_token(actor, &id, &cred, r).await?;
            if cli.json {
                print(&o);
            } else {
                println!("revoked {} of `{id}` (ledger entry {})", o.value.id, o.event.index);
            }
        }
    }
    Ok(Code::Ok)
}

fn register_request(a: &RegisterArgs) -> CliResult<RegisterAgent> {
    Ok(RegisterAgent {
        id: parse("id", &a.id)?,
        name: a.name.clone(),
        owner: opt("--owner", &a.owner)?,
        sponsor: opt("--sponsor", &a.sponsor)?,
        purpose: a.purpose.clone(),
        environment: parse("--env", &a.environment)?,
        risk_tier: parse("--tier", &a.risk_tier)?,
        labels: labels("--label", &a.labels)?,
        recert_interval_days: a.recert_interval_days,
        provenance: a.provenance.clone(),
        reason: a.reason.clone(),
    })
}

fn update_request(a: &UpdateArgs) -> CliResult<UpdateAgent> {
    Ok(UpdateAgent {
        name: a.name.clone(),
        purpose: a.purpose.clone(),
        environment: opt("--env", &a.environment)?,
        risk_tier: opt("--tier", &a.risk_tier)?,
        labels: if a.labels.is_empty() { None } else { Some(labels("--label", &a.labels)?) },
        add_labels: labels("--add-label", &a.add_labels)?,
        remove_labels: labels("--remove-label", &a.remove_labels)?,
        sponsor: opt("--sponsor", &a.sponsor)?,
        clear_sponsor: a.clear_sponsor,
        recert_interval_days: a.recert_interval_days,
        reason: a.reason.clone(),
    })
}

fn done(cli: &Cli, o: &Outcome<Agent>, what: &str) {
    if cli.json {
        print(o);
    } else {
        println!("{what} `{}`: now {} (ledger entry {}, {})", o.value.id, o.value.state, o.event.index, o.event.kind);
    }
}

fn list_query(a: &ListArgs) -> CliResult<AgentQuery> {
    if !(1..=custos_registry::MAX_PAGE).contains(&a.limit) {
        return Err(CliError::input(anyhow!("--limit: must be between 1 and {}", custos_registry::MAX_PAGE)));
    }
    Ok(AgentQuery {
        state: opt("--state", &a.state)?,
        owner: opt("--owner", &a.owner)?,
        environment: opt("--env", &a.environment)?,
        orphaned: a.orphaned.then_some(true),
        overdue: a.overdue.then_some((true, Timestamp::now())),
        label: opt("--label", &a.label)?,
        after: opt("--after", &a.after)?,
        limit: a.limit,
    })
}

async fn list(cli: &Cli, b: &Backend, q: &AgentQuery) -> CliResult<()> {
    let now = Timestamp::now();
    let page = b.list(q).await?;
    if cli.json {
        print(&page);
        return Ok(());
    }
    let rows = page
        .agents
        .iter()
        .map(|ag| {
            let mut flags = Vec::new();
            if ag.orphaned {
                flags.push("orphaned");
            }
            if ag.overdue(now) {
                flags.push("overdue");
            }
            vec![
                ag.id.to_string(),
                ag.state.to_string(),
                ag.owner.as_ref().map_or("-".into(), |o| o.to_string()),
                ag.environment.to_string(),
                ag.risk_tier.to_string(),
                ag.recert_due.to_string().get(..10).unwrap_or_default().to_string(),
                flags.join(","),
            ]
        })
        .collect();
    table(&["ID", "STATE", "OWNER", "ENV", "TIER", "RECERT DUE", "FLAGS"], rows);
    if let Some(next) = page.next {
        eprintln!("more agents follow: add `--after {next}`");
    }
    Ok(())
}

#[derive(Serialize)]
struct Shown {
    agent: Agent,
    tokens: Vec<Credential>,
    history: Vec<HistoryItem>,
}

async fn show(cli: &Cli, b: &Backend, id: &AgentId) -> CliResult<()> {
    let agent = b.get(id).await?;
    let tokens = b.tokens(id).await?;
    let mut history = Vec::new();
    let mut after = None;
    loop {
        let page = b.history(id, after).await?;
        history.extend(page.events);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    if cli.json {
        print(&Shown { agent, tokens, history });
        return Ok(());
    }
    let a = &agent;
    let none = || "-".to_string();
    println!("{}  ({})", a.id, a.name);
    println!("  state:        {}{}", a.state, if a.orphaned { " (orphaned: owner offboarded)" } else { "" });
    println!("  owner:        {}", a.owner.as_ref().map_or_else(none, |o| o.to_string()));
    println!("  sponsor:      {}", a.sponsor.as_ref().map_or_else(none, |o| o.to_string()));
    println!("  purpose:      {}", if a.purpose.is_empty() { "-" } else { &a.purpose });
    println!("  environment:  {}", a.environment);
    println!("  risk tier:    {}", a.risk_tier);
    println!(
        "  labels:       {}",
        if a.labels.is_empty() { none() } else { a.labels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ") }
    );
    println!(
        "  recertify:    every {} days; due {}{}",
        a.recert_interval_days,
        a.recert_due,
        if a.overdue(Timestamp::now()) { " (OVERDUE)" } else { "" }
    );
    println!("  registered:   {}", a.registered_at);
    println!("\ntokens:");
    if tokens.is_empty() {
        println!("  none");
    }
    for t in &tokens {
        println!("  {}", token_line(t));
    }
    println!("\nhistory (ledger index, time, kind, actor, reason):");
    for h in &history {
        let field = |path: &str| h.event.pointer(path).and_then(|v| v.as_str()).unwrap_or("");
        println!(
            "  #{:<8} {}  {:<22} {:<16} {}",
            h.index,
            field("/ts"),
            field("/kind"),
            field("/actor/id"),
            field("/data/reason")
        );
    }
    Ok(())
}

fn token_line(t: &Credential) -> String {
    let status = match (&t.revoked_at, &t.expires_at) {
        (Some(at), _) => format!("revoked {at}"),
        (None, Some(exp)) if *exp <= Timestamp::now() => format!("expired {exp}"),
        _ => "live".to_string(),
    };
    format!(
        "{}  created {}  expires {}  last used {}  {}",
        t.id,
        t.created_at,
        t.expires_at.map_or("never".into(), |e| e.to_string()),
        t.last_used_at.map_or("never".into(), |e| e.to_string()),
        status
    )
}

/// Parses a lifetime such as `30d`, `12h`, `90m`, `3600s` or `2w` into seconds (1 s to
/// 3650 days).
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a number followed by s, m, h, d or w"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use s, m, h, d or w)")),
    };
    let secs = n.checked_mul(mult).filter(|s| *s <= custos_registry::MAX_TOKEN_TTL_SECS);
    match secs {
        Some(0) => Err(format!("`{s}` is zero; a token must live at least one second")),
        Some(secs) => Ok(secs),
        None => Err(format!("`{s}` is longer than the 3650-day maximum")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("30d"), Ok(30 * 86_400));
        assert_eq!(parse_ttl("2w"), Ok(14 * 86_400));
        assert_eq!(parse_ttl("90m"), Ok(5400));
        assert_eq!(parse_ttl("15"), Ok(15));
        assert!(parse_ttl("d").is_err());
        assert!(parse_ttl("3y").is_err());
        assert!(parse_ttl("99999999999999999999d").is_err());
        assert!(parse_ttl("0d").is_err());
        assert!(parse_ttl("3651d").is_err());
        assert_eq!(parse_ttl("3650d"), Ok(3650 * 86_400));
    }
}
