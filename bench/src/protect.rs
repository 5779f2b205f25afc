//! protect-bench: what the gateway protections add to a tool call's hot path.
//!
//! The same decision is made two ways, interleaved call by call so that machine noise hits both
//! alike: **plain** is what the gateway did before the protections (one Cedar decision on the
//! arguments); **protected** is what it does now, with the gateway's own [`Protect`]: the pin
//! check (rug-pull quarantine), the DLP scan of the arguments (a 4 KiB document), the session's
//! facts into the Cedar context, the decision, the first-use check and recording the call into
//! the session. The difference of the two is the cost of the protections. Nothing here touches
//! the network or the ledger: those costs are the same with and without protections.
//!
//! usage: protect-bench [--runs N] [--calls N]

use std::time::Instant;

use anyhow::{Context, Result, bail};
use custos_core::protect::{PinState, ToolPin};
use custos_gateway::{config::ProtectConfig, protect::Protect};
use custos_policy::{CallFacts, Engine, Principal, Source, ToolManifest};
use serde_json::{Value, json};

const POLICY: &str = r#"
permit (principal, action, resource) when { principal.environment == "dev" };
@id("no-egress-after-sensitive")
forbid (principal, action, resource)
    when { resource.labels.contains("egress") && context.session.labels.contains("sensitive") };
@id("no-secrets-out")
forbid (principal, action, resource) when { resource.labels.contains("egress") && context.secrets };
"#;

fn tools() -> Vec<ToolManifest> {
    let schema = json!({"type": "object", "properties": {
        "path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path"]});
    [
        ("docs", "read", "sensitive"),
        ("docs", "write", "destructive"),
        ("web", "post", "egress"),
        ("web", "get", "untrusted-input"),
    ]
    .iter()
    .map(|(server, name, label)| ToolManifest {
        server: (*server).into(),
        name: (*name).into(),
        description: format!("{name} a document"),
        input_schema: schema.clone(),
        annotations: Value::Null,
        labels: vec![(*label).into()],
    })
    .collect()
}

/// A 4 KiB argument of ordinary prose and identifiers, with no secret in it (the common case),
/// or with one AWS-shaped key (built here, so the repository holds no key-shaped string).
fn arguments(secret: bool) -> Value {
    let words = [
        "quarterly",
        "report",
        "draft",
        "v2",
        "owner:",
        "alice@example.com",
        "see",
        "ticket",
        "OPS-1234,",
        "total",
        "1,234.56",
        "EUR;",
    ];
    let mut text = String::new();
    for w in words.iter().cycle() {
        if text.len() >= 4096 - 64 {
            break;
        }
        text.push_str(w);
        text.push(' ');
    }
    if secret {
        text.push_str(&format!(" key {}{} end", "AKIA", "Q3EGRXZ7NZKOMF4B"));
    }
    json!({"path": "/srv/docs/q3-report.md", "content": text})
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    pct(&v, 0.5)
}

struct Row {
    plain: (f64, f64),
    protected: (f64, f64),
}

fn run(engine: &Engine, protect: &Protect, args: &Value, calls: usize) -> Result<Row> {
    let principal = Principal {
        id: "bench/agent".into(),
        owner: "alice".into(),
        environment: "dev".into(),
        tier: "low".into(),
        state: "active".into(),
        labels: vec![],
    };
    let agent: custos_core::AgentId = "bench/agent".parse()?;
    let tool = engine.tool("docs.write").context("docs.write")?.clone();
    let session = "s:bench-session";
    // A session with some history: the facts the context carries are not empty.
    for t in ["web.get", "docs.write"] {
        protect.record_call(session, engine.tool(t).context("tool")?);
    }
    let (mut plain, mut protected) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        let t = Instant::now();
        let d = engine.decide(&principal, "docs.write", args)?;
        plain.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(d);

        let t = Instant::now();
        if let Err(why) = protect.callable("docs.write") {
            bail!("{why}");
        }
        let secrets = protect.scan(args);
        let facts = CallFacts { session: protect.session(session), secrets: !secrets.is_empty() };
        let d = engine.decide_in(&principal, "docs.write", args, &facts)?;
        let first = protect.first_use(&agent, "docs.write");
        protect.record_call(session, &tool);
        protected.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box((d, first, secrets));
    }
    plain.sort_by(f64::total_cmp);
    protected.sort_by(f64::total_cmp);
    Ok(Row { plain: (pct(&plain, 0.5), pct(&plain, 0.99)), protected: (pct(&protected, 0.5), pct(&protected, 0.99)) })
}

fn main() -> Result<()> {
    let mut runs = 5usize;
    let mut calls = 20_000usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().context("--runs needs a number")?.parse()?,
            "--calls" => calls = it.next().context("--calls needs a number")?.parse()?,
            "-h" | "--help" => {
                println!("usage: protect-bench [--runs N] [--calls N]");
                return Ok(());
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    let engine = Engine::build(tools(), &[Source { file: "bench.cedar".into(), text: POLICY.into() }])?;
    let protect = Protect::new(ProtectConfig::default()).map_err(anyhow::Error::msg)?;
    let now = custos_core::Timestamp::now();
    protect.load_pins(
        tools()
            .iter()
            .map(|t| ToolPin {
                server: t.server.clone(),
                tool: t.name.clone(),
                state: PinState::Pinned,
                digest: "sha256:00".into(),
                pending_digest: None,
                reason: None,
                idx: 0,
                updated: now,
                manifest: json!({}),
                labels: Vec::new(),
            })
            .collect(),
    );
    println!("protect-bench: the gateway protections on the hot path (pin check, DLP scan of a 4 KiB argument,");
    println!("session facts in the Cedar context, first use, session record) over the plain decision;");
    println!("median of {runs} runs of {calls} interleaved calls each. Target: <= 50 µs extra at p99.\n");
    println!("{:<34} {:>18} {:>20} {:>20}", "argument", "plain p50 / p99", "protected p50 / p99", "extra p50 / p99");
    for (label, secret) in [("4 KiB, no secret", false), ("4 KiB, one AWS key (redacted)", true)] {
        let args = arguments(secret);
        let mut rows = Vec::new();
        for r in 0..runs {
            eprintln!("  {label}: run {}/{runs}", r + 1);
            rows.push(run(&engine, &protect, &args, calls)?);
        }
        let m = |f: fn(&Row) -> f64| median(rows.iter().map(f).collect());
        let (p50, p99) = (m(|r| r.plain.0), m(|r| r.plain.1));
        let (q50, q99) = (m(|r| r.protected.0), m(|r| r.protected.1));
        println!(
            "{label:<34} {:>18} {:>20} {:>20}",
            format!("{p50:.1} / {p99:.1} µs"),
            format!("{q50:.1} / {q99:.1} µs"),
            format!("{:.1} / {:.1} µs", q50 - p50, q99 - p99)
        );
    }
    Ok(())
}
