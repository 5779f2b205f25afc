//! `registry-bench`: admin API latency and token verification at scale, each figure printed
//! beside its target (and, for verification, beside a per-check database lookup) in one run.
//!
//! It builds a ledger of 10,000 registered agents (most approved, each with a token) padded to
//! 1,000,000 entries with gateway-decision-shaped events about those agents, serves the real
//! admin API on loopback, and times:
//!
//! - `GET /api/v1/agents/{id}` for random agents;
//! - a filtered list page, `GET /api/v1/agents?state=active&environment=prod&limit=100&after=…`;
//! - `TokenVerifier::verify` for random live tokens, and for unknown tokens.
//!
//! Latency is measured inside the server (a timing layer around the router: from the request
//! reaching the router to the response leaving it) and, beside it, as the client saw it over
//! loopback. Nothing here asserts on time; bench/README.md explains each figure.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use axum::{extract::Request, middleware::Next, response::Response};
use custos_core::{
    Actor, AgentId, Event, EventKind,
    registry::{Environment, LifecycleOp, RiskTier},
};
use custos_ledger::NoteSigner;
use custos_registry::{ChangeOwner, IssueToken, Reason, RegisterAgent, Registry};
use custos_server::AppState;
use custos_store::{
    RegistryStore,
    sqlite::{SqliteOptions, SqliteStore},
};
use sha2::{Digest, Sha256};

const USAGE: &str = "\
registry-bench: admin API latency (GET one agent, a filtered list page) and token verification
with 10,000 agents and 1,000,000 ledger events.

usage: registry-bench [--runs N] [--quick] [--dir DIR]

  --runs N   repeat each timed figure N times; report the median run (default 3)
  --quick    1,000 agents and 100,000 events, for a smoke run
  --dir DIR  where the temporary database goes (default: next to this binary)
";

const ADMIN_TOKEN: &str = "custos_admin_bench";
const TARGET_P99: Duration = Duration::from_millis(10);
const TARGET_VERIFY: Duration = Duration::from_micros(2);
const REQUESTS: usize = 5_000;
const VERIFIES: usize = 1_000_000;

struct Args {
    runs: usize,
    agents: usize,
    events: u64,
    dir: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args { runs: 3, agents: 10_000, events: 1_000_000, dir: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => a.runs = it.next().context("--runs needs a number")?.parse().context("--runs")?,
            "--quick" => {
                a.agents = 1_000;
                a.events = 100_000;
            }
            "--dir" => a.dir = Some(it.next().context("--dir needs a path")?.into()),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(a)
}

/// Latencies recorded by the server's timing layer.
type Samples = Arc<Mutex<Vec<Duration>>>;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn median<T: Copy + PartialOrd + Default>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn agent_id(i: usize) -> Result<AgentId> {
    Ok(format!("team-{:03}/agent-{i:05}", i % 200).parse()?)
}

#[allow(clippy::indexing_slicing, reason = "indices come from Rng::below over the same vector")]
fn main() -> Result<()> {
    let a = args()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let base = match &a.dir {
            Some(d) => d.clone(),
            None => std::env::current_exe()?.parent().context("binary has no directory")?.to_path_buf(),
        };
        let tmp = tempfile::TempDir::new_in(&base)?;
        let signer = NoteSigner::from_seed("bench.custos/registry", &[3; 32])?;
        let store: Arc<dyn RegistryStore> =
            Arc::new(SqliteStore::create(&tmp.path().join("ledger.db"), signer.clone(), SqliteOptions::default())?);
        let registry = Registry::open(store.clone()).await?;
        let actor = Actor::user("bench".parse()?);

        // 1. The registry: agents, owners, approvals, one token each.
        let started = Instant::now();
        let mut tokens = Vec::with_capacity(a.agents);
        let envs = [Environment::Prod, Environment::Staging, Environment::Dev];
        for i in 0..a.agents {
            let id = agent_id(i)?;
            let req = RegisterAgent {
                id: id.clone(),
                name: None,
                owner: None,
                sponsor: None,
                purpose: format!("benchmark agent {i}"),
                environment: envs[i % 3],
                risk_tier: [RiskTier::Low, RiskTier::Medium, RiskTier::High][i % 3],
                labels: [format!("team-{}", i % 50).parse()?].into(),
                recert_interval_days: None,
                provenance: vec![],
                reason: None,
            };
            registry.register(&actor, req).await?;
            let owner = ChangeOwner { owner: format!("owner{}@example.com", i % 500).parse()?, reason: None };
            registry.change_owner(&actor, &id, owner).await?;
            if i % 5 != 0 {
                registry.lifecycle(&actor, &id, LifecycleOp::Approve, Reason::default()).await?;
            }
            tokens.push(registry.issue_token(&actor, &id, IssueToken::default()).await?.value.token);
        }
        let registry_events = store.size().await?;
        eprintln!(
            "built the registry: {} agents, {registry_events} events in {:.1} s",
            a.agents,
            started.elapsed().as_secs_f64()
        );

        // 2. Pad the ledger to the target size with events about those agents.
        let started = Instant::now();
        let mut pending = std::collections::VecDeque::new();
        let mut rng = Rng(11);
        let pad = a.events.saturating_sub(registry_events);
        for n in 0..pad {
            let agent = agent_id(rng.below(a.agents))?;
            let data = serde_json::json!({
                "tool": format!("server-{}.tool_{}", n % 7, n % 13),
                "decision": if n % 10 == 0 { "deny" } else { "allow" },
                "policy": "sha256:9f2c4e1d",
                "args_digest": format!("sha256:{:064x}", n),
                "latency_us": n % 900,
            });
            let event = Event::from_parts(EventKind::GatewayDecision, Actor::system(), Some(agent), data)?;
            pending.push_back(store.submit(event));
            if pending.len() >= 4096
                && let Some(p) = pending.pop_front()
            {
                p.await?;
            }
        }
        for p in pending {
            p.await?;
        }
        eprintln!("padded the ledger to {} events in {:.1} s", store.size().await?, started.elapsed().as_secs_f64());

        // 3. Serve the real router with a timing layer around it.
        let samples: Samples = Arc::new(Mutex::new(Vec::new()));
        let registry = Arc::new(registry);
        let verifier = registry.verifier();
        let admin: [u8; 32] = Sha256::digest(ADMIN_TOKEN.as_bytes()).into();
        let state = AppState::new(registry.clone(), admin, signer.verifier());
        let (router, _) = custos_server::router(state);
        let s = samples.clone();
        let router = router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let s = s.clone();
            async move {
                let t = Instant::now();
                let resp: Response = next.run(req).await;
                s.lock().map(|mut v| v.push(t.elapsed())).ok();
                resp
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let http = reqwest::Client::new();
        let base = format!("http://{addr}/api/v1");

        let mut rng = Rng(5);
        let get_one = |i: usize| {
            format!("{base}/agents/{}", agent_id(i).map(|a| a.as_str().replace('/', "%2F")).unwrap_or_default())
        };
        let mut get_runs = Vec::new();
        let mut list_runs = Vec::new();
        for _ in 0..a.runs {
            for (kind, runs) in [("get", &mut get_runs), ("list", &mut list_runs)] {
                samples.lock().map(|mut v| v.clear()).ok();
                let mut client = Vec::with_capacity(REQUESTS);
                for _ in 0..REQUESTS {
                    let url = if kind == "get" {
                        get_one(rng.below(a.agents))
                    } else {
                        // A random page of the filtered list.
                        let after = agent_id(rng.below(a.agents))?;
                        format!(
                            "{base}/agents?state=active&environment=prod&limit=100&after={}",
                            after.as_str().replace('/', "%2F")
                        )
                    };
                    let t = Instant::now();
                    let resp = http.get(&url).bearer_auth(ADMIN_TOKEN).send().await?;
                    let status = resp.status();
                    let body = resp.bytes().await?;
                    client.push(t.elapsed());
                    if !status.is_success() {
                        bail!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&body));
                    }
                }
                let mut server = samples.lock().map(|v| v.clone()).unwrap_or_default();
                server.sort();
                client.sort();
                runs.push((pct(&server, 0.5), pct(&server, 0.99), pct(&client, 0.5), pct(&client, 0.99)));
            }
        }
        let _ = stop_tx.send(());
        server.await??;

        // 4. Token verification, in memory, against one database lookup per check.
        let mut verify_runs = Vec::new();
        let mut unknown_runs = Vec::new();
        let live: Vec<&String> = tokens.iter().enumerate().filter(|(i, _)| i % 5 != 0).map(|(_, t)| t).collect();
        let unknown: Vec<String> = (0..1000).map(|i| format!("cst_{:064x}", i * 7919 + 1)).collect();
        for _ in 0..a.runs {
            let t = Instant::now();
            let mut ok = 0usize;
            for i in 0..VERIFIES {
                ok += usize::from(verifier.verify(live[i % live.len()]).is_ok());
            }
            verify_runs.push(t.elapsed() / VERIFIES as u32);
            if ok != VERIFIES {
                bail!("only {ok} of {VERIFIES} live tokens verified");
            }
            let t = Instant::now();
            for i in 0..VERIFIES {
                std::hint::black_box(verifier.verify(&unknown[i % unknown.len()]).is_err());
            }
            unknown_runs.push(t.elapsed() / VERIFIES as u32);
        }
        // The comparison: what each check would cost as a query of the credentials table.
        let db = tmp.path().join("ledger.db");
        let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut stmt = conn.prepare("SELECT agent, expires_at, revoked_at FROM credentials WHERE sha256 = ?1")?;
        let lookups = 100_000usize;
        let t = Instant::now();
        for i in 0..lookups {
            let h = hex::encode(Sha256::digest(live[i % live.len()].as_bytes()));
            let found = stmt.exists([h])?;
            std::hint::black_box(found);
        }
        let db_lookup = t.elapsed() / lookups as u32;

        let (g50, g99, gc50, gc99) = (
            median(get_runs.iter().map(|r| r.0).collect()),
            median(get_runs.iter().map(|r| r.1).collect()),
            median(get_runs.iter().map(|r| r.2).collect()),
            median(get_runs.iter().map(|r| r.3).collect()),
        );
        let (l50, l99, lc50, lc99) = (
            median(list_runs.iter().map(|r| r.0).collect()),
            median(list_runs.iter().map(|r| r.1).collect()),
            median(list_runs.iter().map(|r| r.2).collect()),
            median(list_runs.iter().map(|r| r.3).collect()),
        );
        let v = median(verify_runs.clone());
        let u = median(unknown_runs.clone());
        println!();
        println!(
            "registry-bench: {} agents, {} ledger events, median of {} runs ({} requests, {} verifications each)",
            a.agents,
            store.size().await?,
            a.runs,
            REQUESTS,
            VERIFIES
        );
        println!("{:<44} {:>22} {:>22} {:>14}", "figure", "server p50 / p99", "client p50 / p99", "target p99");
        println!(
            "{:<44} {:>22} {:>22} {:>14}",
            "GET /api/v1/agents/{id}",
            format!("{} / {}", ms(g50), ms(g99)),
            format!("{} / {}", ms(gc50), ms(gc99)),
            format!("<= {}", ms(TARGET_P99))
        );
        println!(
            "{:<44} {:>22} {:>22} {:>14}",
            "GET /api/v1/agents?state&environment&limit=100",
            format!("{} / {}", ms(l50), ms(l99)),
            format!("{} / {}", ms(lc50), ms(lc99)),
            format!("<= {}", ms(TARGET_P99))
        );
        println!();
        println!("{:<44} {:>22} {:>22}", "token verification (per check)", "in memory", "target");
        println!(
            "{:<44} {:>22} {:>22}",
            "live token (valid)",
            format!("{} ns", v.as_nanos()),
            format!("<= {} ns", TARGET_VERIFY.as_nanos())
        );
        println!(
            "{:<44} {:>22} {:>22}",
            "unknown token (well-formed)",
            format!("{} ns", u.as_nanos()),
            format!("<= {} ns", TARGET_VERIFY.as_nanos())
        );
        println!(
            "{:<44} {:>22} {:>22}",
            "comparison: one SQLite lookup per check",
            format!("{} ns", db_lookup.as_nanos()),
            "-"
        );
        println!(
            "runs: get p99 {:?}; list p99 {:?}; verify {:?}",
            get_runs.iter().map(|r| ms(r.1)).collect::<Vec<_>>(),
            list_runs.iter().map(|r| ms(r.1)).collect::<Vec<_>>(),
            verify_runs.iter().map(|d| format!("{} ns", d.as_nanos())).collect::<Vec<_>>()
        );
        store.close().await?;
        Ok(())
    })
}
