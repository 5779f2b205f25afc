//! `attest-bench`: how long `custos attest` takes for an agent whose window holds k events, how
//! large the bundle is (it should grow with k·log n), and how long `custos verify` takes on it,
//! beside the Go reference verifier on the same bundles and `custos ledger verify` over the
//! whole ledger, in one run (see bench/README.md).
//!
//! 1. Builds a real data dir with the release CLI (`init`, `agent register/approve`, `agent
//!    token issue`), then opens its ledger with the data dir's signing key and appends, in big
//!    queued batches, k `gateway.decision` events for each agent `bench/k<k>` interleaved at
//!    random with as many events of other agents, so every bundle is cut from the same tree of
//!    n > Σk entries. Halfway, each agent gets an `agent update` (a lifecycle event mid-window).
//! 2. For each k: `custos attest --agent bench/k<k> -o FILE`, `custos verify FILE --key KEY`
//!    and `go-verify bundle`, `--runs` times each, medians; each command under `--timeout`.
//! 3. `custos ledger verify` over the whole ledger, the check an auditor would otherwise run.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use custos_core::{Actor, ActorType, AgentId, Event, EventKind, Payload};
use custos_ledger::NoteSigner;
use custos_store::{RegistryStore as _, Store as _, sqlite::SqliteOptions, sqlite::SqliteStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

const USAGE: &str = "\
attest-bench: `custos attest` and `custos verify` for windows of k events in one ledger, beside
the Go reference verifier and `custos ledger verify` over the whole ledger.

usage: attest-bench [--custos BIN] [--sizes K,K,..] [--runs R] [--timeout SECS] [--work DIR]
                    [--keep] [--reuse] [--others R] [--go-verify BIN | --no-go]

  --custos BIN      the custos binary, a release build (default: `custos` beside this binary)
  --sizes K,..      events per attested agent (default 1000,10000,100000,1000000; `k`/`M` suffixes ok)
  --runs R          timed runs of every command, medians reported (default 3)
  --timeout SECS    per command; a command still running is killed and reported TIMEOUT (default 600)
  --work DIR        where the data dir, bundles and logs go (default: a new temp dir in /var/tmp)
  --keep            keep the work dir's data at the end (default: delete it)
  --reuse           reuse `DIR/data` from an earlier `--work DIR --keep` run with the same sizes
  --others R        events of other agents per attested event (default 1)
  --go-verify BIN   the Go verifier (default: built from interop/go-verify when `go` is on PATH)
  --no-go           skip the Go verifier
";

/// The target of the issue: an agent whose window holds 1,000,000 events attests in ≤ 5 s.
const TARGET_K: u64 = 1_000_000;
const TARGET_SECS: f64 = 5.0;
/// Agents whose events fill the tree between the attested ones.
const OTHER_AGENTS: usize = 4;
/// Events queued before the bench waits for them to be durable: big enough that the writer's
/// group commit always has a full batch, small enough to bound the memory of the queue.
const CHUNK: usize = 50_000;
/// The breakdown of a bundle parses it whole in memory; above this k it is skipped.
const BREAKDOWN_MAX_K: u64 = 100_000;

struct Args {
    custos: PathBuf,
    sizes: Vec<u64>,
    runs: usize,
    timeout: Duration,
    work: Option<PathBuf>,
    keep: bool,
    reuse: bool,
    others: u64,
    go_verify: Option<PathBuf>,
    no_go: bool,
}

fn parse_count(s: &str) -> Result<u64> {
    let t = s.trim().replace('_', "");
    let (digits, mul) = match t.strip_suffix(['k', 'K']) {
        Some(d) => (d, 1_000),
        None => match t.strip_suffix('M') {
            Some(d) => (d, 1_000_000),
            None => (t.as_str(), 1),
        },
    };
    let n: u64 = digits.parse().with_context(|| format!("`{s}` is not a count"))?;
    n.checked_mul(mul).filter(|n| *n > 0).with_context(|| format!("`{s}` must be between 1 and 2^64"))
}

fn args() -> Result<Option<Args>> {
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let mut a = Args {
        custos: exe_dir.map(|d| d.join("custos")).unwrap_or_else(|| PathBuf::from("custos")),
        sizes: vec![1_000, 10_000, 100_000, 1_000_000],
        runs: 3,
        timeout: Duration::from_secs(600),
        work: None,
        keep: false,
        reuse: false,
        others: 1,
        go_verify: None,
        no_go: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().with_context(|| format!("`{arg}` needs a value"));
        match arg.as_str() {
            "--custos" => a.custos = val()?.into(),
            "--sizes" => {
                let v = val()?;
                a.sizes = v.split(',').map(parse_count).collect::<Result<_>>()?;
                a.sizes.sort_unstable();
                a.sizes.dedup();
            }
            "--runs" => {
                let v = val()?;
                a.runs = v.parse().with_context(|| format!("`--runs {v}` is not a number"))?;
                if a.runs == 0 {
                    bail!("`--runs` must be at least 1");
                }
            }
            "--timeout" => {
                let v = val()?;
                let secs: f64 = v.parse().with_context(|| format!("`--timeout {v}` is not a number"))?;
                if !(secs > 0.0 && secs.is_finite()) {
                    bail!("`--timeout` must be a positive number of seconds");
                }
                a.timeout = Duration::from_secs_f64(secs);
            }
            "--work" => a.work = Some(val()?.into()),
            "--keep" => a.keep = true,
            "--reuse" => a.reuse = true,
            "--others" => {
                let v = val()?;
                a.others = v.parse().with_context(|| format!("`--others {v}` is not a number"))?;
            }
            "--go-verify" => a.go_verify = Some(val()?.into()),
            "--no-go" => a.no_go = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if a.sizes.is_empty() {
        bail!("`--sizes` names no size");
    }
    if a.reuse && a.work.is_none() {
        bail!("`--reuse` needs `--work DIR` (the directory of an earlier `--keep` run)");
    }
    if !a.custos.is_file() {
        bail!(
            "no custos binary at `{}`: build it (`cargo build --release -p custos-cli`) or pass `--custos BIN`",
            a.custos.display()
        );
    }
    Ok(Some(a))
}

/// A seeded xorshift64*: the ledger is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The data of a `gateway.decision`, field for field what the gateway writes
/// (crates/custos-gateway/src/evidence.rs builds it with `json!` in a crate-private type, and
/// custos-core declares no payload type for the kind), so the bench's entries have the size and
/// shape of real ones and still go through one typed serialization.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GatewayDecision {
    server: String,
    tool: String,
    /// `allow`, `approval` or `deny`.
    decision: String,
    enforced: bool,
    policies: Vec<String>,
    credential: String,
    args_digest: String,
    args_preview: BTreeMap<String, String>,
    decide_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl Payload for GatewayDecision {
    const KIND: EventKind = EventKind::GatewayDecision;
}

/// A tool the agents call: server, tool, the shape of its arguments, the policy that governs it.
type Tool = (&'static str, &'static str, &'static [(&'static str, &'static str)], &'static str);

const TOOLS: &[Tool] = &[
    (
        "github",
        "create_issue",
        &[("repo", "string(24)"), ("title", "string(57)"), ("body", "string(812)")],
        "github-writes",
    ),
    ("github", "search_code", &[("q", "string(31)"), ("per_page", "number")], "github-reads"),
    ("filesystem", "read_file", &[("path", "string(42)")], "fs-workspace"),
    ("filesystem", "write_file", &[("path", "string(38)"), ("content", "string(2048)")], "fs-workspace"),
    ("postgres", "query", &[("sql", "string(140)")], "db-read-only"),
    (
        "stripe",
        "refunds.create",
        &[("charge", "string(27)"), ("amount", "number"), ("reason", "string(21)")],
        "refund-limits",
    ),
    ("slack", "post_message", &[("channel", "string(9)"), ("text", "string(230)")], "egress"),
    ("fetch", "fetch", &[("url", "string(64)"), ("max_length", "number")], "egress"),
];

/// One agent the ledger is filled with: its id, actor, credential, and events still to append.
struct Source {
    agent: AgentId,
    actor: Actor,
    credential: String,
    left: u64,
    made: u64,
}

impl Source {
    fn new(agent: AgentId, count: u64) -> Self {
        // As the gateway does: the agent acts on its own credential, as an `agent` actor.
        let actor = match agent.as_str().parse() {
            Ok(id) => Actor { kind: ActorType::Agent, id },
            Err(_) => Actor::system(),
        };
        Self { agent, actor, credential: String::new(), left: count, made: 0 }
    }

    /// The next decision of this agent: a mix of tools, 85% allowed, 12% denied, 3% held for
    /// approval, 2% in shadow mode, in sessions of about 40 calls.
    fn event(&mut self, r: &mut Rng) -> Result<Event> {
        let seq = self.made;
        self.made += 1;
        let pick = TOOLS.get(r.below(TOOLS.len() as u64) as usize).or(TOOLS.first());
        let (server, tool, shape, policy) = *pick.context("no tools")?;
        let roll = r.below(100);
        let decision = match roll {
            0..85 => "allow",
            85..97 => "deny",
            _ => "approval",
        };
        let note = (decision == "deny").then(|| format!("policy `{policy}` forbids {server}.{tool} here"));
        let mut digest = Sha256::new();
        digest.update(self.agent.as_str().as_bytes());
        digest.update(seq.to_le_bytes());
        digest.update(r.next().to_le_bytes());
        let args = hex::encode(digest.finalize());
        let session = Sha256::digest(format!("{}/{}", self.agent.as_str(), seq / 40).as_bytes());
        let data = GatewayDecision {
            server: server.to_string(),
            tool: tool.to_string(),
            decision: decision.to_string(),
            enforced: r.below(50) != 0,
            policies: vec!["baseline".to_string(), policy.to_string()],
            credential: self.credential.clone(),
            args_digest: format!("sha256:{args}"),
            args_preview: shape.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
            decide_us: 40 + r.below(400),
            session: Some(format!("sha256:{}", hex::encode(session.get(..12).unwrap_or_default()))),
            note,
        };
        Ok(Event::new(self.actor.clone(), Some(self.agent.clone()), &data)?)
    }
}

/// What a data dir was built with; `--reuse` checks it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Manifest {
    sizes: Vec<u64>,
    others: u64,
    entries: u64,
}

const MANIFEST: &str = "attest-bench.json";

fn target_agent(k: u64) -> Result<AgentId> {
    Ok(format!("bench/k{k}").parse()?)
}

fn other_agent(i: usize) -> Result<AgentId> {
    Ok(format!("bench/other-{i}").parse()?)
}

/// Runs a short CLI command on the data dir that must succeed, and returns its stdout.
fn cli(custos: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(custos)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("CUSTOS_ACTOR", "bench")
        .output()
        .with_context(|| format!("cannot run `{}`", custos.display()))?;
    if !out.status.success() {
        bail!("`custos {}` failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn open_store(data: &Path) -> Result<SqliteStore> {
    let key = data.join("signing.key");
    let text = fs::read_to_string(&key).with_context(|| format!("cannot read `{}`", key.display()))?;
    let signer =
        NoteSigner::from_encoded(&text).with_context(|| format!("`{}` is not a signing key", key.display()))?;
    Ok(SqliteStore::open(&data.join("ledger.db"), signer, SqliteOptions::default())?)
}

/// Appends `count` events, each from a source picked at random in proportion to the events it
/// has left (a uniform random interleaving), in queued chunks of [`CHUNK`].
async fn fill(
    store: &SqliteStore,
    sources: &mut [Source],
    r: &mut Rng,
    count: u64,
    done: &mut u64,
    total: u64,
) -> Result<()> {
    let start = Instant::now();
    let mut pending = Vec::with_capacity(CHUNK);
    let mut left = count;
    let mut last_report = *done;
    while left > 0 {
        let remaining: u64 = sources.iter().map(|s| s.left).sum();
        if remaining == 0 {
            break;
        }
        let mut pick = r.below(remaining);
        let Some(source) = sources.iter_mut().find(|s| {
            if pick < s.left {
                true
            } else {
                pick -= s.left;
                false
            }
        }) else {
            bail!("no source left to pick from");
        };
        source.left -= 1;
        let event = source.event(r)?;
        pending.push(store.submit_staged(event).durable);
        left -= 1;
        *done += 1;
        if pending.len() == CHUNK || left == 0 {
            for p in pending.drain(..) {
                p.await?;
            }
            if *done - last_report >= 200_000 || *done == total {
                last_report = *done;
                let secs = start.elapsed().as_secs_f64();
                eprintln!(
                    "  {} / {} events ({:.0} /s this half)",
                    thousands(*done),
                    thousands(total),
                    (count - left) as f64 / secs.max(1e-9)
                );
            }
        }
    }
    Ok(())
}

/// Builds the data dir: CLI for the registry's lifecycle, the library for the bulk.
fn build(a: &Args, data: &Path, runtime: &tokio::runtime::Runtime) -> Result<u64> {
    let t = Instant::now();
    fs::create_dir_all(data.parent().context("the data dir has no parent")?)?;
    cli(&a.custos, data, &["init", "--origin", "bench.custos/attest"])?;
    let targets: Vec<AgentId> = a.sizes.iter().map(|k| target_agent(*k)).collect::<Result<_>>()?;
    let others: Vec<AgentId> = (1..=OTHER_AGENTS).map(other_agent).collect::<Result<_>>()?;
    for id in targets.iter().chain(&others) {
        let id = id.as_str();
        cli(
            &a.custos,
            data,
            &[
                "agent",
                "register",
                id,
                "--env",
                "prod",
                "--owner",
                "alice@example.com",
                "--purpose",
                "attest-bench agent",
            ],
        )?;
        cli(&a.custos, data, &["agent", "approve", id, "--reason", "bench"])?;
        cli(&a.custos, data, &["agent", "token", "issue", id, "--ttl", "365d", "--reason", "bench"])?;
    }
    let attested: u64 = a.sizes.iter().sum();
    let other_total = attested.saturating_mul(a.others);
    let mut sources: Vec<Source> = a.sizes.iter().zip(&targets).map(|(k, id)| Source::new(id.clone(), *k)).collect();
    let per_other = other_total / OTHER_AGENTS as u64;
    for (i, id) in others.iter().enumerate() {
        // The remainder goes to the first, so the total is exact.
        let extra = if i == 0 { other_total % OTHER_AGENTS as u64 } else { 0 };
        sources.push(Source::new(id.clone(), per_other + extra));
    }
    let total = attested + other_total;
    eprintln!(
        "building the ledger: {} attested events ({} agents) + {} of {OTHER_AGENTS} other agents = {}",
        thousands(attested),
        targets.len(),
        thousands(other_total),
        thousands(total)
    );
    let mut r = Rng(0x00a7_7e57_be4c_0001);
    let mut done = 0;
    let first_half = total / 2;
    runtime.block_on(async {
        let store = open_store(data)?;
        for s in &mut sources {
            s.credential = store
                .credentials(Some(&s.agent))
                .await?
                .first()
                .map_or_else(|| "cred_unknown".to_string(), |(c, _)| c.id.clone());
        }
        fill(&store, &mut sources, &mut r, first_half, &mut done, total).await?;
        store.close().await?;
        anyhow::Ok(())
    })?;
    // A lifecycle event in the middle of every window, written the way an operator writes it.
    for id in &targets {
        cli(&a.custos, data, &["agent", "update", id.as_str(), "--purpose", "attest-bench agent, re-scoped"])?;
    }
    let entries = runtime.block_on(async {
        let store = open_store(data)?;
        fill(&store, &mut sources, &mut r, total - first_half, &mut done, total).await?;
        let size = store.size().await?;
        store.close().await?;
        anyhow::Ok(size)
    })?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!("built {} entries in {secs:.1} s ({:.0} /s)", thousands(entries), entries as f64 / secs);
    let manifest = Manifest { sizes: a.sizes.clone(), others: a.others, entries };
    fs::write(data.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(entries)
}

/// How a timed command ended.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Ok,
    Failed(String),
    Timeout,
}

/// One timed command: wall-clock seconds, how it ended, its peak resident memory.
#[derive(Debug, Clone)]
struct Timed {
    secs: f64,
    status: Status,
    peak_rss_kb: Option<u64>,
}

/// The peak resident set of a running process (VmHWM), from /proc (Linux).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `cmd` with stdout and stderr to `log.{out,err}`, kills it after `timeout`. The exit
/// code must be 0. Polls every millisecond, so the time is exact to about a millisecond.
fn timed(mut cmd: Command, timeout: Duration, log: &Path) -> Result<Timed> {
    let out = fs::File::create(log.with_extension("out"))?;
    let err = fs::File::create(log.with_extension("err"))?;
    let start = Instant::now();
    let mut child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().context("cannot start the command")?;
    let pid = child.id();
    let mut peak = None;
    let mut polls = 0u64;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > timeout {
            child.kill()?;
            child.wait()?;
            return Ok(Timed { secs: start.elapsed().as_secs_f64(), status: Status::Timeout, peak_rss_kb: peak });
        }
        // VmHWM only grows, so the last sample before the exit is close to the peak.
        if polls.is_multiple_of(10) {
            peak = peak_rss_kb(pid).or(peak);
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(1));
    };
    let secs = start.elapsed().as_secs_f64();
    let status = if status.success() {
        Status::Ok
    } else {
        let stderr = fs::read_to_string(log.with_extension("err")).unwrap_or_default();
        let stdout = fs::read_to_string(log.with_extension("out")).unwrap_or_default();
        let why = if stderr.trim().is_empty() { stdout } else { stderr };
        // The first line says why (a panic's backtrace, if any, follows it).
        let first = why.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no output");
        Status::Failed(format!("{status}: {}", first.chars().take(300).collect::<String>()))
    };
    Ok(Timed { secs, status, peak_rss_kb: peak })
}

/// The Go verifier: `--go-verify BIN`, else built from interop/go-verify the way
/// interop/go-verify/run.sh builds it (offline, against Debian's golang.org/x/mod).
fn go_verifier(a: &Args, work: &Path) -> std::result::Result<PathBuf, String> {
    if a.no_go {
        return Err("skipped (--no-go)".into());
    }
    if let Some(bin) = &a.go_verify {
        return Ok(bin.clone());
    }
    let has_go = Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    if !has_go {
        return Err("not available (no `go` on PATH)".into());
    }
    let src_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/go-verify");
    let build = work.join("go");
    let bin = build.join("go-verify");
    let run = || -> Result<()> {
        fs::create_dir_all(build.join("src"))?;
        for f in ["go.mod", "main.go"] {
            fs::copy(src_dir.join(f), build.join("src").join(f))
                .with_context(|| format!("cannot copy `{}`", src_dir.join(f).display()))?;
        }
        let mut cmd = Command::new("go");
        cmd.current_dir(build.join("src"))
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GO111MODULE", "on")
            .env("GOSUMDB", "off");
        if std::env::var_os("GOCACHE").is_none() {
            cmd.env("GOCACHE", build.join("cache"));
        }
        let out = cmd.output()?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    };
    run().map(|()| bin).map_err(|e| format!("not available (building interop/go-verify failed: {e})"))
}

/// The figures of one k.
#[derive(Debug, Default)]
struct SizeResult {
    attest: Vec<Timed>,
    verify: Vec<Timed>,
    go: Vec<Timed>,
    bundle_bytes: Option<u64>,
    breakdown: Option<Breakdown>,
    /// Why the size was not measured at all.
    skipped: Option<String>,
}

/// What one event costs in a bundle, from the statement inside the envelope.
#[derive(Debug, Clone)]
struct Breakdown {
    events: u64,
    statement_bytes: u64,
    /// Bytes of the events' `entry` strings (the ledger entries themselves, unescaped).
    entry_bytes: u64,
    /// Base64 hashes of the bundle's multiproof (`evidence.proof`).
    proof_hashes: u64,
}

/// Reads a bundle and splits its statement into entries, proofs and the rest. `None` when the
/// bundle is not in the shape this bench knows (`predicate.evidence.events[].entry` and
/// `predicate.evidence.proof`), e.g. after a change of the bundle format.
fn breakdown(path: &Path) -> Option<Breakdown> {
    use base64::Engine as _;
    let env: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let payload = base64::engine::general_purpose::STANDARD.decode(env.get("payload")?.as_str()?).ok()?;
    let statement: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    let events = statement.pointer("/predicate/evidence/events")?.as_array()?;
    let mut b = Breakdown {
        events: events.len() as u64,
        statement_bytes: payload.len() as u64,
        entry_bytes: 0,
        proof_hashes: statement.pointer("/predicate/evidence/proof")?.as_array()?.len() as u64,
    };
    for e in events {
        b.entry_bytes += e.get("entry")?.as_str()?.len() as u64;
    }
    Some(b)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

/// The median of the successful runs, or how they failed.
fn cell(runs: &[Timed]) -> String {
    if runs.is_empty() {
        return "-".into();
    }
    if let Some(m) = median(runs.iter().filter(|t| t.status == Status::Ok).map(|t| t.secs).collect()) {
        let bad = runs.iter().filter(|t| t.status != Status::Ok).count();
        return if bad == 0 { secs(m) } else { format!("{} ({bad} of {} not ok)", secs(m), runs.len()) };
    }
    match runs.iter().find(|t| t.status != Status::Ok).map(|t| &t.status) {
        Some(Status::Timeout) => "TIMEOUT".into(),
        _ => "FAILED".into(),
    }
}

fn secs(s: f64) -> String {
    if s < 10.0 { format!("{s:.3}") } else { format!("{s:.1}") }
}

fn peak_mb(runs: &[Timed]) -> String {
    runs.iter().filter_map(|t| t.peak_rss_kb).max().map_or("-".into(), |kb| format!("{:.0}", kb as f64 / 1024.0))
}

/// `1234567` as `1,234,567`.
fn thousands(x: u64) -> String {
    let digits = x.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ceil_log2(n: u64) -> u64 {
    u64::from(n.max(1).next_power_of_two().trailing_zeros())
}

fn main() -> Result<()> {
    let Some(a) = args()? else { return Ok(()) };
    let (work, _tmp_guard) = match &a.work {
        Some(w) => {
            fs::create_dir_all(w).with_context(|| format!("cannot create `{}`", w.display()))?;
            (w.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new().prefix("attest-bench-").tempdir_in("/var/tmp")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let result = run(&a, &work);
    if a.keep {
        // A tempdir guard would delete it on drop.
        if let Some(t) = _tmp_guard {
            let kept = t.keep();
            eprintln!("kept `{}`", kept.display());
        } else {
            eprintln!("kept `{}`", work.display());
        }
    } else {
        for sub in ["data", "bundles", "logs", "go"] {
            let _ = fs::remove_dir_all(work.join(sub));
        }
    }
    result
}

fn run(a: &Args, work: &Path) -> Result<()> {
    let data = work.join("data");
    let bundles = work.join("bundles");
    let logs = work.join("logs");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let want = Manifest { sizes: a.sizes.clone(), others: a.others, entries: 0 };
    let reusable = a.reuse
        && fs::read(data.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .is_some_and(|m| m.sizes == want.sizes && m.others == want.others);
    let built_entries = if reusable {
        eprintln!("reusing the ledger in `{}`", data.display());
        None
    } else {
        if data.exists() {
            if a.reuse {
                eprintln!("`{}` was built with other sizes; rebuilding it", data.display());
            }
            fs::remove_dir_all(&data)?;
        }
        Some(build(a, &data, &runtime)?)
    };
    fs::create_dir_all(&bundles)?;
    fs::create_dir_all(&logs)?;
    let n = match built_entries {
        Some(n) => n,
        None => runtime.block_on(async {
            let store = open_store(&data)?;
            let n = store.size().await?;
            store.close().await?;
            anyhow::Ok(n)
        })?,
    };
    let key = cli(&a.custos, &data, &["ledger", "key"])?.trim().to_string();
    let go = go_verifier(a, work);
    match &go {
        Ok(bin) => eprintln!("Go verifier: {}", bin.display()),
        Err(why) => eprintln!("Go verifier: {why}"),
    }

    // The full-ledger check, first, so it sees exactly the n entries the table names.
    let mut ledger_verify = Vec::new();
    for i in 1..=a.runs {
        let mut cmd = Command::new(&a.custos);
        cmd.arg("--data-dir").arg(&data).args(["ledger", "verify", "--key", &key]);
        let t = timed(cmd, a.timeout, &logs.join(format!("ledger-verify-{i}")))?;
        eprintln!("run {i}/{} custos ledger verify ({} entries): {:.3} s {:?}", a.runs, thousands(n), t.secs, t.status);
        let stop = t.status == Status::Timeout;
        ledger_verify.push(t);
        if stop {
            break;
        }
    }

    let mut results: BTreeMap<u64, SizeResult> = BTreeMap::new();
    let mut timed_out_below: Option<u64> = None;
    for &k in &a.sizes {
        let mut res = SizeResult::default();
        if let Some(smaller) = timed_out_below {
            res.skipped = Some(format!("TIMEOUT (skipped: the attest of k = {} timed out)", thousands(smaller)));
            results.insert(k, res);
            continue;
        }
        let agent = target_agent(k)?;
        let bundle = bundles.join(format!("k{k}.json"));
        for i in 1..=a.runs {
            let _ = fs::remove_file(&bundle);
            let mut cmd = Command::new(&a.custos);
            cmd.arg("--data-dir").arg(&data).args(["attest", "--agent", agent.as_str(), "-o"]).arg(&bundle);
            let t = timed(cmd, a.timeout, &logs.join(format!("attest-k{k}-{i}")))?;
            eprintln!("run {i}/{} k = {}: custos attest {:.3} s {:?}", a.runs, thousands(k), t.secs, t.status);
            let ok = t.status == Status::Ok;
            let timeout = t.status == Status::Timeout;
            res.attest.push(t);
            if timeout {
                timed_out_below = Some(k);
            }
            if !ok {
                // Another run would fail or time out the same way.
                break;
            }
            res.bundle_bytes = Some(fs::metadata(&bundle)?.len());
            let mut cmd = Command::new(&a.custos);
            cmd.arg("--data-dir").arg(&data).arg("verify").arg(&bundle).args(["--key", &key]);
            let t = timed(cmd, a.timeout, &logs.join(format!("verify-k{k}-{i}")))?;
            eprintln!("run {i}/{} k = {}: custos verify {:.3} s {:?}", a.runs, thousands(k), t.secs, t.status);
            res.verify.push(t);
            if let Ok(bin) = &go {
                let mut cmd = Command::new(bin);
                cmd.args(["bundle", "--key", &key, "--bundle"]).arg(&bundle);
                let t = timed(cmd, a.timeout, &logs.join(format!("go-verify-k{k}-{i}")))?;
                eprintln!("run {i}/{} k = {}: go-verify bundle {:.3} s {:?}", a.runs, thousands(k), t.secs, t.status);
                res.go.push(t);
            }
        }
        if res.bundle_bytes.is_some() && k <= BREAKDOWN_MAX_K {
            res.breakdown = breakdown(&bundle);
        }
        // Each bundle is large at the top sizes; only the last one is kept, for --keep.
        if a.keep {
            let _ = fs::rename(&bundle, bundles.join(format!("k{k}.last.json")));
        } else {
            let _ = fs::remove_file(&bundle);
        }
        results.insert(k, res);
    }
    report(a, n, &go, &ledger_verify, &results);
    Ok(())
}

fn report(
    a: &Args,
    n: u64,
    go: &std::result::Result<PathBuf, String>,
    ledger_verify: &[Timed],
    results: &BTreeMap<u64, SizeResult>,
) {
    let log_n = ceil_log2(n);
    println!();
    println!(
        "attest-bench: one ledger of n = {} entries (⌈log2 n⌉ = {log_n}); medians of {} runs; times in s, wall clock, process start included",
        thousands(n),
        a.runs
    );
    println!();
    println!(
        "| k | attest s | verify s | Go verify s | ledger verify s (all n) | bundle MB | bytes/event | bytes / (k·⌈log2 n⌉) | attest peak MB | verify peak MB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let lv = cell(ledger_verify);
    for (k, r) in results {
        let go_cell = match go {
            Ok(_) => cell(&r.go),
            Err(_) => "n/a".into(),
        };
        if let Some(why) = &r.skipped {
            println!("| {} | {why} | - | - | {lv} | - | - | - | - | - |", thousands(*k));
            continue;
        }
        let (mb, per_event, per_klogn) = match r.bundle_bytes {
            Some(b) => (
                format!("{:.2}", b as f64 / 1e6),
                format!("{:.0}", b as f64 / *k as f64),
                format!("{:.1}", b as f64 / (*k * log_n) as f64),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {go_cell} | {lv} | {mb} | {per_event} | {per_klogn} | {} | {} |",
            thousands(*k),
            cell(&r.attest),
            cell(&r.verify),
            peak_mb(&r.attest),
            peak_mb(&r.verify),
        );
    }
    println!();
    match go {
        Ok(bin) => println!("Go verifier: {} (interop/go-verify `bundle`: Go's sumdb note and tlog)", bin.display()),
        Err(why) => println!("Go verifier: {why}"),
    }
    // Failures, with the reason, so a FAILED cell can be understood without the logs.
    for (k, r) in results {
        for (what, runs) in [("attest", &r.attest), ("verify", &r.verify), ("go-verify", &r.go)] {
            if let Some(Status::Failed(why)) = runs.iter().map(|t| &t.status).find(|s| matches!(s, Status::Failed(_))) {
                println!("k = {}: {what} failed: {why}", thousands(*k));
            }
        }
    }
    if let Some(Status::Failed(why)) = ledger_verify.iter().map(|t| &t.status).find(|s| matches!(s, Status::Failed(_)))
    {
        println!("ledger verify failed: {why}");
    }

    // Growth: with n fixed, bytes per event constant across k means linear in k; the proof part
    // per event is ⌈log2 n⌉ hashes or fewer, which is the log n factor.
    let per_event: Vec<(u64, f64)> =
        results.iter().filter_map(|(k, r)| r.bundle_bytes.map(|b| (*k, b as f64 / *k as f64))).collect();
    if let (Some(first), Some(last)) = (per_event.first(), per_event.last())
        && first.0 != last.0
    {
        println!(
            "size growth: k x{:.0} -> bundle x{:.1}; bytes per event {:.0} at k = {} vs {:.0} at k = {} (constant = linear in k at fixed n)",
            last.0 as f64 / first.0 as f64,
            (last.1 * last.0 as f64) / (first.1 * first.0 as f64),
            first.1,
            thousands(first.0),
            last.1,
            thousands(last.0)
        );
    }
    let breakdowns: Vec<_> = results.iter().filter_map(|(k, r)| r.breakdown.clone().map(|b| (*k, b))).collect();
    for (k, b) in &breakdowns {
        let ev = b.events.max(1) as f64;
        let bundle = results.get(k).and_then(|r| r.bundle_bytes).unwrap_or(0) as f64;
        // A multiproof of k leaves spread over n holds about k·log2(n/k) hashes: the proof part
        // grows with k·log n, the entries part with k.
        let log_n_over_k = (n as f64 / ev).log2().max(0.0);
        println!(
            "per event at k = {} ({} events in the bundle): entry {:.0} B, multiproof {:.2} hashes (log2(n/k) = {log_n_over_k:.2}, ⌈log2 n⌉ = {log_n}; one audit path each would be ~{log_n}) = {:.0} B as base64, the rest of the statement {:.0} B; the envelope's base64 makes it x{:.2}",
            thousands(*k),
            thousands(b.events),
            b.entry_bytes as f64 / ev,
            b.proof_hashes as f64 / ev,
            b.proof_hashes as f64 * 47.0 / ev,
            (b.statement_bytes as f64 - b.entry_bytes as f64 - b.proof_hashes as f64 * 47.0) / ev,
            bundle / b.statement_bytes.max(1) as f64
        );
    }
    if breakdowns.is_empty() && results.values().any(|r| r.bundle_bytes.is_some()) {
        println!("per event: bundle format not recognised (no predicate.evidence.events[].entry); no breakdown");
    }

    // The comparison: verifying one agent's bundle vs verifying the whole ledger.
    let lv_m = median(ledger_verify.iter().filter(|t| t.status == Status::Ok).map(|t| t.secs).collect());
    for (k, r) in results {
        let v = median(r.verify.iter().filter(|t| t.status == Status::Ok).map(|t| t.secs).collect());
        if let (Some(v), Some(l)) = (v, lv_m) {
            println!(
                "k = {}: custos verify of the bundle {} s vs custos ledger verify of all {} entries {} s: the bundle takes {:.2}x the full-ledger check's time",
                thousands(*k),
                secs(v),
                thousands(n),
                secs(l),
                v / l
            );
        }
    }

    // The target.
    let target = match results.get(&TARGET_K) {
        None => format!("not measured (k = {} is not in --sizes)", thousands(TARGET_K)),
        Some(r) => match median(r.attest.iter().filter(|t| t.status == Status::Ok).map(|t| t.secs).collect()) {
            Some(s) if s <= TARGET_SECS => format!("{} s: PASS", secs(s)),
            Some(s) => format!("{} s: MISS", secs(s)),
            None if r.skipped.is_some() || r.attest.iter().any(|t| t.status == Status::Timeout) => {
                format!("TIMEOUT after {:.0} s: MISS", a.timeout.as_secs_f64())
            }
            None => "FAILED: MISS".into(),
        },
    };
    println!("target: custos attest with {} events in the window <= {TARGET_SECS:.0} s: {target}", thousands(TARGET_K));
}
