//! `gateway-bench`: what the custos MCP gateway adds to a tool call, beside the direct path, in
//! one run. See bench/README.md.
//!
//! - An echo MCP server (Streamable HTTP, JSON responses) runs in this process: the upstream.
//! - `custos up` (the release binary) runs as a child with one `[[servers]]` pointing at it, a
//!   policy permitting the echo tool, and an approved agent with a token.
//! - Keep-alive clients (1 and 32) send `tools/call` in the 2026-07-28 stateless form, first
//!   directly to the upstream, then through the gateway (which authenticates the token, decides
//!   with Cedar, appends a `gateway.decision`, forwards once it is written, answers once it is durable).
//!
//! Figures: latency p50/p99 both ways and the difference (added latency), calls/s, the CPU
//! time per call of the gateway process and of this process (load generator + upstream), and
//! the gateway's resident memory under load. Nothing asserts on time.
#![allow(clippy::indexing_slicing, reason = "a benchmark reading JSON it produced; a panic is a failed run")]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use axum::{
    Router,
    body::Bytes,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

const USAGE: &str = "\
gateway-bench: latency and throughput of tools/call through the custos gateway vs direct.

usage: gateway-bench [--custos PATH] [--secs S] [--runs N] [--mcp-proxy PATH]
       gateway-bench --stdio-echo      (the stdio upstream this benchmark spawns)

  --custos PATH  the custos binary (default: `custos` next to this binary; build it with
                 `cargo build --release -p custos-cli`)
  --secs S       seconds per measured phase (default 5)
  --runs N       repeat each phase N times; report the median run (default 3)
  --mcp-proxy P  the `mcp-proxy` program (PyPI `mcp-proxy`) to compare with (default: found on
                 PATH, else /var/tmp/custos-proxy/bin/mcp-proxy; the comparison is skipped, and
                 says so, when neither exists)
";

const TARGET_P50_US: f64 = 150.0;
const TARGET_P99_US: f64 = 500.0;
const TARGET_RATE: f64 = 10_000.0;

struct Args {
    custos: PathBuf,
    secs: u64,
    runs: usize,
    mcp_proxy: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let exe = std::env::current_exe()?;
    let mut a = Args { custos: exe.with_file_name("custos"), secs: 5, runs: 3, mcp_proxy: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--custos" => a.custos = it.next().context("--custos needs a path")?.into(),
            "--secs" => a.secs = it.next().context("--secs needs a number")?.parse()?,
            "--runs" => a.runs = it.next().context("--runs needs a number")?.parse()?,
            "--mcp-proxy" => a.mcp_proxy = Some(it.next().context("--mcp-proxy needs a path")?.into()),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if a.mcp_proxy.is_none() {
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join("mcp-proxy")).find(|p| p.exists()))
            .unwrap_or_default();
        let fallback = PathBuf::from("/var/tmp/custos-proxy/bin/mcp-proxy");
        a.mcp_proxy = on_path.or_else(|| fallback.exists().then_some(fallback));
    }
    if !a.custos.exists() {
        bail!("no custos binary at `{}`: build it with `cargo build --release -p custos-cli`", a.custos.display());
    }
    Ok(a)
}

// ---- the upstream: a minimal, fast MCP echo server ----

/// The echo server's answer to one request, whatever carries it.
fn echo_result(msg: &Value) -> Value {
    match msg.get("method").and_then(Value::as_str).unwrap_or("") {
        "initialize" => json!({
            "protocolVersion": msg.pointer("/params/protocolVersion").cloned().unwrap_or(json!("2025-11-25")),
            "capabilities": {"tools": {}}, "serverInfo": {"name": "bench-echo", "version": "1"}}),
        "tools/list" => json!({"tools": [{"name": "echo", "description": "echo",
            "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}}]}),
        "tools/call" => {
            let m = msg.pointer("/params/arguments/message").and_then(Value::as_str).unwrap_or("");
            json!({"content": [{"type": "text", "text": m}]})
        }
        _ => json!({}),
    }
}

/// A `tools/call` as the bench sends it, read without building a JSON tree: the echo server
/// is kept lean because it shares the two cores with custos and the load generator.
#[derive(serde::Deserialize)]
struct Call<'a> {
    id: u64,
    method: &'a str,
    #[serde(borrow)]
    params: CallParams<'a>,
}

#[derive(serde::Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    arguments: CallArgs<'a>,
}

#[derive(serde::Deserialize)]
struct CallArgs<'a> {
    #[serde(borrow)]
    message: std::borrow::Cow<'a, str>,
}

/// The answer to a `tools/call` of `echo`, written straight to text.
fn echo_call_answer(c: &Call<'_>) -> Option<String> {
    if c.method != "tools/call" {
        return None;
    }
    let text = serde_json::to_string(&c.params.arguments.message).ok()?;
    Some(format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{"content":[{{"type":"text","text":{text}}}]}}}}"#, c.id))
}

async fn echo(body: Bytes) -> Response {
    if let Some(out) = serde_json::from_slice::<Call<'_>>(&body).ok().as_ref().and_then(echo_call_answer) {
        return ([("content-type", "application/json")], out).into_response();
    }
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(id) = msg.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let out = json!({"jsonrpc": "2.0", "id": id, "result": echo_result(&msg)});
    ([("content-type", "application/json")], out.to_string()).into_response()
}

/// The same echo server over stdio: one JSON-RPC message per line.
fn stdio_echo() -> Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        if let Some(answer) = serde_json::from_str::<Call<'_>>(&line).ok().as_ref().and_then(echo_call_answer) {
            writeln!(out, "{answer}")?;
            out.flush()?;
            continue;
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(id) = msg.get("id").cloned() else { continue };
        writeln!(out, "{}", json!({"jsonrpc": "2.0", "id": id, "result": echo_result(&msg)}))?;
        out.flush()?;
    }
    Ok(())
}

// ---- process accounting ----

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

const TICKS_PER_SEC: f64 = 100.0;

// ---- the load ----

#[derive(Debug, Clone, Copy, Default)]
struct Phase {
    p50: Duration,
    p99: Duration,
    rate: f64,
    calls: u64,
    gateway_cpu_us: f64,
    self_cpu_us: f64,
    rss_kib: u64,
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let i = ((v.len().saturating_sub(1)) as f64 * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

/// How the clients speak: 2026-07-28 stateless requests, or a 2025-11-25 session each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    Stateless,
    Session,
}

async fn open_session(http: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Option<String>> {
    let init = json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "gateway-bench", "version": "1"}}});
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = resp.bytes().await?;
    if !body.windows(6).any(|w| w == b"result") {
        bail!("initialize failed: {}", String::from_utf8_lossy(&body));
    }
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(note.to_string());
    if let Some(s) = &sid {
        req = req.header("mcp-session-id", s);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await?.bytes().await?;
    Ok(sid)
}

async fn load(url: &str, token: Option<&str>, clients: usize, secs: u64, gateway_pid: Option<u32>) -> Result<Phase> {
    load_era(url, token, clients, secs, gateway_pid, Era::Stateless).await
}

async fn load_era(
    url: &str,
    token: Option<&str>,
    clients: usize,
    secs: u64,
    gateway_pid: Option<u32>,
    era: Era,
) -> Result<Phase> {
    let stop = Arc::new(AtomicBool::new(false));
    let me = std::process::id();
    let (g0, s0) = (gateway_pid.and_then(cpu_ticks), cpu_ticks(me));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..clients {
        let url = url.to_string();
        let token = token.map(str::to_string);
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            // One keep-alive connection per client. The URL is parsed once and the body written
            // as text: the load generator shares the two cores with what it measures.
            let http = reqwest::Client::builder().pool_max_idle_per_host(1).http1_only().build()?;
            let url: reqwest::Url = url.parse()?;
            let session = if era == Era::Session { open_session(&http, url.as_str(), token.as_deref()).await? } else { None };
            let mut lat = Vec::with_capacity(100_000);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"client {c} call {n}"}}}}}}"#
                );
                let mut req = http
                    .post(url.clone())
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body);
                req = match era {
                    Era::Stateless => req
                        .header("mcp-protocol-version", "2026-07-28")
                        .header("mcp-method", "tools/call")
                        .header("mcp-name", "echo"),
                    Era::Session => req.header("mcp-protocol-version", "2025-11-25"),
                };
                if let Some(s) = &session {
                    req = req.header("mcp-session-id", s);
                }
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let t = Instant::now();
                let resp = req.send().await?;
                let status = resp.status();
                let bytes = resp.bytes().await?;
                lat.push(t.elapsed());
                if !status.is_success() || !bytes.windows(6).any(|w| w == b"result") {
                    bail!("call failed: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
                }
                n += 1;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let rss = gateway_pid.and_then(rss_kib).unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (g1, s1) = (gateway_pid.and_then(cpu_ticks), cpu_ticks(me));
    all.sort();
    let calls = all.len() as u64;
    let per_call = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if calls > 0 => (b.saturating_sub(a)) as f64 / TICKS_PER_SEC * 1e6 / calls as f64,
        _ => 0.0,
    };
    Ok(Phase {
        p50: pct(&all, 0.5),
        p99: pct(&all, 0.99),
        rate: calls as f64 / elapsed,
        calls,
        gateway_cpu_us: per_call(g0, g1),
        self_cpu_us: per_call(s0, s1),
        rss_kib: rss,
    })
}

fn median_phase(mut v: Vec<Phase>) -> Phase {
    v.sort_by_key(|p| p.p50);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn run(custos: &Path, dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(custos).arg("--data-dir").arg(dir).args(args).env_remove("CUSTOS_SERVER").output()?;
    if !out.status.success() {
        bail!("custos {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--stdio-echo") {
        return stdio_echo();
    }
    let a = args()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        // The upstream.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let up: SocketAddr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, Router::new().route("/mcp", post(echo))).await });

        // custos: a data dir, an approved agent with a token, a config and a policy.
        let tmp = tempfile::TempDir::new_in(a.custos.parent().unwrap_or(Path::new(".")))?;
        let dir = tmp.path().join("data");
        run(&a.custos, &dir, &["init"])?;
        run(&a.custos, &dir, &["agent", "register", "bench/agent", "--env", "prod", "--owner", "bench"])?;
        run(&a.custos, &dir, &["agent", "approve", "bench/agent"])?;
        let issued: Value = serde_json::from_str(&run(&a.custos, &dir, &["--json", "agent", "token", "issue", "bench/agent"])?)?;
        let token = issued.pointer("/value/token").and_then(Value::as_str).context("no token")?.to_string();
        std::fs::write(
            dir.join("custos.toml"),
            format!(
                "[[servers]]\nname = \"bench\"\nurl = \"http://{up}/mcp\"\n\n[[servers]]\nname = \"stdio\"\ncommand = {:?}\nargs = [\"--stdio-echo\"]\n\n[policy]\nfiles = [\"bench.cedar\"]\n",
                std::env::current_exe()?.display().to_string()
            ),
        )?;
        std::fs::write(
            dir.join("bench.cedar"),
            "@id(\"echo\")\npermit(principal, action in [Action::\"bench.echo\", Action::\"stdio.echo\"], resource) when { principal.environment == \"prod\" };\n",
        )?;
        let child = Command::new(&a.custos)
            .arg("--data-dir")
            .arg(&dir)
            .args(["--json", "up", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut child = Kill(child);
        let pid = child.0.id();
        let stdout = child.0.stdout.take().context("no stdout")?;
        let line = tokio::task::spawn_blocking(move || {
            let mut l = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut l).map(|_| l)
        })
        .await??;
        let listening: Value = serde_json::from_str(&line).context("custos up did not start")?;
        let gw = listening["listening"].as_str().context("no listening address")?.to_string();
        let direct_url = format!("http://{up}/mcp");
        let gateway_url = format!("{gw}/mcp/bench");

        // Warm both paths.
        load(&direct_url, None, 4, 1, None).await?;
        load(&gateway_url, Some(&token), 4, 1, Some(pid)).await?;

        // mcp-proxy fronting the same echo server over stdio, for comparison.
        let proxy = match &a.mcp_proxy {
            Some(p) => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
                let child = Command::new(p)
                    .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--"])
                    .arg(std::env::current_exe()?)
                    .arg("--stdio-echo")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .with_context(|| format!("cannot run {}", p.display()))?;
                let child = Kill(child);
                let url = format!("http://127.0.0.1:{port}/mcp");
                let mut up_ok = false;
                for _ in 0..100 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if load_era(&url, None, 1, 1, None, Era::Session).await.is_ok() {
                        up_ok = true;
                        break;
                    }
                }
                if !up_ok {
                    bail!("mcp-proxy did not come up at {url}");
                }
                Some((child, url))
            }
            None => None,
        };

        // (label, url, token, era, pid to account): the direct path first.
        let stdio_url = format!("{gw}/mcp/stdio");
        type Config<'a> = (&'a str, String, Option<String>, Era, Option<u32>);
        let mut configs: Vec<Config> = vec![
            ("direct (HTTP echo)", direct_url.clone(), None, Era::Stateless, None),
            ("custos -> HTTP echo", gateway_url.clone(), Some(token.clone()), Era::Stateless, Some(pid)),
            ("custos -> stdio echo", stdio_url, Some(token.clone()), Era::Session, Some(pid)),
        ];
        if let Some((c, url)) = &proxy {
            configs.push(("mcp-proxy -> stdio echo", url.clone(), None, Era::Session, Some(c.0.id())));
        }
        let mut rows: Vec<(&str, usize, Phase)> = Vec::new();
        for clients in [1usize, 32] {
            for (label, url, tok, era, acct) in &configs {
                let mut runs = Vec::new();
                for _ in 0..a.runs {
                    runs.push(load_era(url, tok.as_deref(), clients, a.secs, *acct, *era).await?);
                }
                rows.push((label, clients, median_phase(runs)));
            }
        }
        let size = run(&a.custos, &dir, &["--json", "ledger", "verify"]).unwrap_or_default();
        drop(proxy);
        drop(child);

        println!();
        println!("gateway-bench: tools/call to an echo MCP server over keep-alive HTTP/1.1; median of {} runs of {} s per row.", a.runs, a.secs);
        println!("custos authenticates the agent token, runs its protections, decides with Cedar, appends a gateway.decision");
        println!("(group commit), forwards once it is written and answers once it is synced (the fsync overlaps the upstream");
        println!("call). The HTTP rows use 2026-07-28 stateless requests; the stdio rows a 2025-11-25");
        println!("session per client (what mcp-proxy speaks). `added` is custos minus direct on the same upstream.");
        println!();
        println!(
            "{:<26} {:>7} {:>22} {:>12} {:>22} {:>12} {:>12}",
            "path", "clients", "p50 / p99", "calls/s", "added p50 / p99", "CPU µs/call", "RSS"
        );
        for (label, clients, ph) in &rows {
            let direct = rows.iter().find(|(l, c, _)| l.starts_with("direct") && c == clients).map(|r| r.2);
            let added = match (label.starts_with("custos -> HTTP"), direct) {
                (true, Some(d)) => format!("{:.0} / {:.0} µs", us(ph.p50) - us(d.p50), us(ph.p99) - us(d.p99)),
                _ => "-".into(),
            };
            let cpu = if label.starts_with("direct") { "-".to_string() } else { format!("{:.1}", ph.gateway_cpu_us) };
            let rss = if ph.rss_kib > 0 { format!("{} MiB", ph.rss_kib / 1024) } else { "-".into() };
            println!(
                "{:<26} {:>7} {:>22} {:>12.0} {:>22} {:>12} {:>12}",
                label,
                clients,
                format!("{:.0} / {:.0} µs", us(ph.p50), us(ph.p99)),
                ph.rate,
                added,
                cpu,
                rss
            );
        }
        let find = |l: &str, c: usize| rows.iter().find(|r| r.0 == l && r.1 == c).map(|r| r.2);
        println!();
        for c in [1usize, 32] {
            match (find("custos -> stdio echo", c), find("mcp-proxy -> stdio echo", c)) {
                (Some(x), Some(y)) if y.rate > 0.0 => println!(
                    "custos vs mcp-proxy (stdio upstream, {c} client(s)): {:.1}x the calls/s, p50 {:.0} vs {:.0} µs",
                    x.rate / y.rate,
                    us(x.p50),
                    us(y.p50)
                ),
                _ => println!("custos vs mcp-proxy ({c} client(s)): not measured (mcp-proxy not found; see --mcp-proxy)"),
            }
        }
        println!(
            "targets: added p50 <= {TARGET_P50_US:.0} µs, p99 <= {TARGET_P99_US:.0} µs at 1 client; >= {TARGET_RATE:.0} calls/s at 32 clients"
        );
        let load_cpu: Vec<String> = rows.iter().map(|(l, c, p)| format!("{l} x{c}: {:.1}", p.self_cpu_us)).collect();
        println!("load generator + HTTP upstream CPU µs per call (this process): {}", load_cpu.join("; "));
        let verified: Value = serde_json::from_str(&size).unwrap_or(Value::Null);
        let through: u64 = rows.iter().filter(|r| r.0.starts_with("custos")).map(|r| r.2.calls).sum();
        println!(
            "ledger after the run: {} entries (the measured phases made {through} calls through custos, one decision each), verified: {}",
            verified["entries"], verified["verified"]
        );
        Ok(())
    })
}
