//! The MCP gateway end to end: `custos up` with `[[servers]]`, real MCP peers on both sides.
//!
//! Upstreams are the reference servers (`@modelcontextprotocol/server-everything` over stdio and
//! over Streamable HTTP, `@modelcontextprotocol/server-filesystem` over stdio) and a small
//! recording server (`interop/mcp/recording_server.py`, official Python SDK) that logs every
//! call it receives. Agents are the official Python SDK (`interop/mcp/client.py`, both MCP eras)
//! and raw HTTP. Each test asserts what the client sees AND what the ledger holds afterwards
//! (`gateway.decision` / `gateway.auth_failed` events), and, with the recording server, what
//! did or did not reach the upstream.
//!
//! The peers are pinned in `interop/peers/install.sh` and installed in `$CUSTOS_PEERS` (default
//! `/var/tmp/custos-peers`); a test that finds them missing runs that script once (a failure
//! fails the tests with its output, it never skips them).

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{ORIGIN, Out, Server, custos};

// ---- peers -----------------------------------------------------------------------------------

/// Where the pinned peers are installed.
#[derive(Debug)]
pub(crate) struct Peers {
    pub(crate) python: PathBuf,
    pub(crate) everything: PathBuf,
    pub(crate) filesystem: PathBuf,
}

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// `NAME_VERSION=x` lines of install.sh: the pins, in one place.
pub(crate) fn pins() -> BTreeMap<String, String> {
    let text = fs::read_to_string(repo().join("interop/peers/install.sh")).expect("interop/peers/install.sh");
    text.lines()
        .filter_map(|l| l.split_once("_VERSION="))
        .filter(|(k, _)| k.bytes().all(|b| b.is_ascii_uppercase()))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The peers, installed by interop/peers/install.sh the first time a test needs them (at most
/// once per test process; the script itself serializes concurrent runs with a lock file).
pub(crate) fn peers() -> &'static Peers {
    static PEERS: OnceLock<Result<Peers, String>> = OnceLock::new();
    match PEERS.get_or_init(install_peers) {
        Ok(p) => p,
        Err(e) => panic!("the MCP test peers are not available: {e}"),
    }
}

pub(crate) fn install_peers() -> Result<Peers, String> {
    let dir = std::env::var_os("CUSTOS_PEERS").map_or_else(|| PathBuf::from("/var/tmp/custos-peers"), PathBuf::from);
    let peers = Peers {
        python: dir.join("venv/bin/python"),
        everything: dir.join("npm/node_modules/.bin/mcp-server-everything"),
        filesystem: dir.join("npm/node_modules/.bin/mcp-server-filesystem"),
    };
    if peers_complete(&dir).is_ok() {
        return Ok(peers);
    }
    let script = repo().join("interop/peers/install.sh");
    let out = run_bounded(Command::new("bash").arg(&script).arg(&dir), Duration::from_secs(900), "install.sh");
    if out.code != Some(0) {
        return Err(format!(
            "`{} {}` failed ({:?}):\n{}{}",
            script.display(),
            dir.display(),
            out.code,
            out.stdout,
            out.stderr
        ));
    }
    peers_complete(&dir).map_err(|e| format!("install.sh succeeded but {e}"))?;
    Ok(peers)
}

/// Whether `dir` holds every peer at its pinned version.
pub(crate) fn peers_complete(dir: &Path) -> Result<(), String> {
    let pins = pins();
    let pin = |k: &str| pins.get(k).cloned().unwrap_or_else(|| panic!("install.sh pins no {k}_VERSION"));
    for (pkg, key) in [("server-everything", "EVERYTHING"), ("server-filesystem", "FILESYSTEM")] {
        let manifest = dir.join(format!("npm/node_modules/@modelcontextprotocol/{pkg}/package.json"));
        let v = fs::read_to_string(&manifest)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        if v.as_deref() != Some(pin(key).as_str()) {
            return Err(format!("{} is not version {}", manifest.display(), pin(key)));
        }
        let bin = dir.join(format!("npm/node_modules/.bin/mcp-{pkg}"));
        if !bin.exists() {
            return Err(format!("{} is missing", bin.display()));
        }
    }
    if !dir.join("venv/bin/python").exists() {
        return Err(format!("{}/venv/bin/python is missing", dir.display()));
    }
    let want = format!("mcp-{}.dist-info", pin("MCP"));
    let lib = dir.join("venv/lib");
    let found = fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .any(|py| py.path().join("site-packages").join(&want).is_dir());
    if !found {
        return Err(format!("no {want} under {}", lib.display()));
    }
    Ok(())
}

// ---- processes -------------------------------------------------------------------------------

/// Runs `cmd` to completion within `limit`, returning what it printed; kills it (and what it
/// started) and fails the test if it takes longer.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration, what: &str) -> Out {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let kids = descendants(child.id());
            let _ = child.kill();
            let _ = child.wait();
            kill_all(&kids);
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out { code: status.code(), stdout: out.join().expect("stdout reader"), stderr: err.join().expect("stderr reader") }
}

/// Every process below `pid`, with its command line (to recognize it later).
pub(crate) fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for task in fs::read_dir(format!("/proc/{p}/task")).into_iter().flatten().flatten() {
            let kids = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for k in kids.split_whitespace().filter_map(|k| k.parse::<u32>().ok()) {
                out.push((k, cmdline(k).unwrap_or_default()));
                todo.push(k);
            }
        }
    }
    out
}

pub(crate) fn cmdline(pid: u32) -> Option<String> {
    fs::read(format!("/proc/{pid}/cmdline")).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Kills each process that is still the one recorded (same command line), by its id.
pub(crate) fn kill_all(procs: &[(u32, String)]) {
    for (pid, cmd) in procs {
        if cmdline(*pid).as_ref() == Some(cmd) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    }
}

/// Waits (bounded) until none of `procs` runs any more; returns those still running.
pub(crate) fn wait_gone(procs: &[(u32, String)], limit: Duration) -> Vec<(u32, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<_> = procs
            .iter()
            .filter(|(p, c)| {
                cmdline(*p).as_ref() == Some(c)
                    && !fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default().contains(") Z ")
            })
            .cloned()
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (with everything it started) when dropped.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) what: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let kids = descendants(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_all(&kids);
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
#[derive(Debug)]
pub(crate) struct Mount(PathBuf);

impl Mount {
    pub(crate) fn new(path: &Path, size: &str) -> Self {
        fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("this test mounts a tmpfs and cannot run `mount`: {e}"));
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (`mount -t tmpfs -o size={size} tmpfs {}`), which failed: {}\
             run the tests as root or with CAP_SYS_ADMIN",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self(path.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

// ---- the Python SDK client ---------------------------------------------------------------------

/// `interop/mcp/client.py ARGS`: one JSON value per line it printed (the first is `connect`).
pub(crate) fn py_client(args: &[String]) -> Vec<Value> {
    let p = peers();
    let mut cmd = Command::new(&p.python);
    cmd.arg(repo().join("interop/mcp/client.py")).args(args);
    let out = run_bounded(&mut cmd, Duration::from_secs(90), "interop/mcp/client.py");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("client.py printed a non-JSON line ({e}): {l}")))
        .collect();
    assert!(
        matches!(out.code, Some(0 | 2)) && !lines.is_empty(),
        "client.py {args:?} failed ({:?}):\n{}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    lines
}

/// Several client runs at once (at most four at a time), answers in the order given.
pub(crate) fn py_clients(runs: &[Vec<String>]) -> Vec<Vec<Value>> {
    let mut answers = Vec::new();
    for chunk in runs.chunks(4) {
        let got: Vec<Vec<Value>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|args| s.spawn(move || py_client(args))).collect();
            handles.into_iter().map(|h| h.join().expect("client thread")).collect()
        });
        answers.extend(got);
    }
    answers
}

/// Arguments of a client run against the gateway at `url` with `token` in `era`, then actions.
pub(crate) fn via(url: &str, token: &str, era: &str, actions: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["--url", url, "--token", token, "--era", era].iter().map(|s| (*s).to_owned()).collect();
    a.extend(actions.iter().map(|s| (*s).to_owned()));
    a
}

/// The answer of the `n`-th `call` action of a run.
pub(crate) fn call_answer(run: &[Value], n: usize) -> &Value {
    run.iter().filter(|l| l["action"] == "call").nth(n).unwrap_or_else(|| panic!("no call #{n} in {run:?}"))
}

/// The tool names of a run's `list` action.
pub(crate) fn listed(run: &[Value]) -> Vec<String> {
    let l = run.iter().find(|l| l["action"] == "list").unwrap_or_else(|| panic!("no list in {run:?}"));
    assert_eq!(l["ok"], true, "{l}");
    l["tools"].as_array().expect("tools").iter().map(|t| t.as_str().expect("name").to_owned()).collect()
}

/// A listed tool's description and input schema.
pub(crate) fn listed_detail<'a>(run: &'a [Value], name: &str) -> &'a Value {
    let l = run.iter().find(|l| l["action"] == "list").unwrap_or_else(|| panic!("no list in {run:?}"));
    l["details"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("`{name}` is not listed: {l}"))
}

#[track_caller]
pub(crate) fn assert_connected(run: &[Value], era: &str) {
    let c = &run[0];
    assert_eq!(c["action"], "connect", "{c}");
    assert_eq!(c["ok"], true, "the client could not connect: {c}");
    let version = if era == "modern" { "2026-07-28" } else { "2025-11-25" };
    assert_eq!(c["protocol_version"], version, "{c}");
}

#[track_caller]
pub(crate) fn assert_denied(answer: &Value, code: i64, message: &str) {
    assert_eq!(answer["ok"], false, "expected a refusal: {answer}");
    assert_eq!(answer["code"], code, "{answer}");
    let m = answer["message"].as_str().unwrap_or("");
    assert!(m.contains(message), "the refusal does not say `{message}`: {answer}");
}

// ---- raw HTTP --------------------------------------------------------------------------------

/// A blocking HTTP client for raw requests.
#[derive(Debug)]
pub(crate) struct Http {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) client: reqwest::Client,
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), HTTP {}: {}", self.status, self.text))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the HTTP status and, when given, the JSON-RPC error code.
    #[track_caller]
    pub(crate) fn expect(&self, status: u16, code: Option<i64>) -> &Self {
        assert_eq!(self.status, status, "HTTP status; body: {}", self.text);
        if let Some(code) = code {
            let v = self.json();
            assert_eq!(v["jsonrpc"], "2.0", "{v}");
            assert_eq!(v["error"]["code"], code, "{v}");
            assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        }
        self
    }

    pub(crate) fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or("").to_owned()
    }
}

impl Http {
    pub(crate) fn new() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client");
        Self { rt, client }
    }

    pub(crate) fn post(&self, url: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Resp {
        let mut req = self.client.post(url).header("Content-Type", "application/json").body(body.into());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.rt.block_on(async {
            let r = req.send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let text = r.text().await.unwrap_or_default();
            Resp { status, headers, text }
        })
    }

    /// A stateless (2026-07-28) request with the routing headers agreeing with the body.
    pub(crate) fn modern(&self, url: &str, token: &str, id: u64, method: &str, params: Value) -> Resp {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let name = params["name"].as_str().unwrap_or("").to_owned();
        let auth = format!("Bearer {token}");
        let mut h =
            vec![("Authorization", auth.as_str()), ("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", method)];
        if method == "tools/call" {
            h.push(("Mcp-Name", &name));
        }
        self.post(url, &h, body.to_string())
    }

    /// A 2025-11-25 `initialize`; returns the session id.
    pub(crate) fn initialize(&self, url: &str, token: &str) -> String {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
        let r = self.post(url, &[("Authorization", &format!("Bearer {token}"))], body.to_string());
        r.expect(200, None);
        assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25", "{}", r.text);
        r.header("mcp-session-id").unwrap_or_else(|| panic!("no Mcp-Session-Id: {r:?}")).to_owned()
    }

    /// A 2025-11-25 request on session `sid`.
    pub(crate) fn legacy(&self, url: &str, token: &str, sid: &str, id: u64, method: &str, params: Value) -> Resp {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let auth = format!("Bearer {token}");
        self.post(
            url,
            &[("Authorization", &auth), ("MCP-Protocol-Version", "2025-11-25"), ("Mcp-Session-Id", sid)],
            body.to_string(),
        )
    }
}

/// The text of a `tools/call` result's first content item.
pub(crate) fn result_text(r: &Resp) -> String {
    let v = r.json();
    assert!(v.get("error").is_none(), "an error where a result was expected: {v}");
    v["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text content: {v}")).to_owned()
}

// ---- the fixture -------------------------------------------------------------------------------

/// One data dir, its agents, the upstreams started for it and its `custos up`. Dropping it
/// kills the server first (and the stdio servers it started), then the upstreams, then unmounts.
#[derive(Debug)]
pub(crate) struct Fixture {
    pub(crate) server: Option<Server>,
    pub(crate) upstreams: Vec<Proc>,
    /// Unmounted after the server and upstreams are gone (fields drop in order).
    pub(crate) _mount: Option<Mount>,
    /// The data dir.
    pub(crate) dir: PathBuf,
    pub(crate) admin: String,
    /// Agent id → token.
    pub(crate) tokens: BTreeMap<String, String>,
    /// Agent id → credential id.
    pub(crate) creds: BTreeMap<String, String>,
    pub(crate) tmp: TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let kids = descendants(s.pid());
            drop(s);
            kill_all(&kids);
        }
    }
}

/// How long a started upstream may take to listen.
pub(crate) const START_WAIT: Duration = Duration::from_secs(30);

impl Fixture {
    /// A temp dir (with the data dir on a 16 MiB tmpfs when `tmpfs`), `custos init`, and the
    /// agents: `(id, approved)`, each registered (env dev, owner alice) with one token.
    pub(crate) fn new(tmpfs: bool, agents: &[(&str, bool)]) -> Self {
        let tmp = TempDir::new().expect("temp dir");
        let root = tmp.path().canonicalize().expect("temp dir path");
        let mount = tmpfs.then(|| Mount::new(&root.join("mnt"), "16m"));
        let dir = if tmpfs { root.join("mnt/data") } else { root.join("data") };
        let run = |args: &[&str]| Out::of(custos(&root).arg("--data-dir").arg(&dir).args(args), None).ok();
        let init = run(&["--json", "init", "--origin", ORIGIN]).json();
        let admin = init["admin_token"].as_str().expect("admin_token").to_owned();
        let mut tokens = BTreeMap::new();
        let mut creds = BTreeMap::new();
        for (id, approved) in agents {
            run(&["agent", "register", id, "--env", "dev", "--owner", "alice"]);
            if *approved {
                run(&["agent", "approve", id]);
            }
            let t = run(&["--json", "agent", "token", "issue", id]).json();
            tokens.insert((*id).to_owned(), t["value"]["token"].as_str().expect("token").to_owned());
            creds.insert((*id).to_owned(), t["value"]["credential"]["id"].as_str().expect("credential").to_owned());
        }
        Self { server: None, upstreams: Vec::new(), _mount: mount, dir, admin, tokens, creds, tmp }
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.tmp.path().canonicalize().expect("temp dir path")
    }

    pub(crate) fn token(&self, agent: &str) -> &str {
        self.tokens.get(agent).unwrap_or_else(|| panic!("no agent {agent}"))
    }

    pub(crate) fn server(&self) -> &Server {
        self.server.as_ref().expect("custos up is running")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server().url)
    }

    /// `interop/mcp/recording_server.py` on a free loopback port: its URL and its call log.
    pub(crate) fn recording_server(&mut self, name: &str) -> (String, PathBuf) {
        let log = self.root().join(format!("{name}.calls.jsonl"));
        let mut child = Command::new(&peers().python)
            .arg(repo().join("interop/mcp/recording_server.py"))
            .arg("0")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fs::File::create(self.root().join(format!("{name}.stderr"))).expect("stderr file")))
            .spawn()
            .expect("start recording_server.py");
        let stdout = child.stdout.take().expect("stdout");
        self.upstreams.push(Proc { child, what: format!("recording server {name}") });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let line = rx.recv_timeout(START_WAIT).unwrap_or_else(|_| panic!("recording_server.py said nothing"));
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let err = fs::read_to_string(self.root().join(format!("{name}.stderr"))).unwrap_or_default();
            panic!("recording_server.py printed `{line}` ({e}); stderr:\n{err}")
        });
        (v["listening"].as_str().expect("listening").to_owned(), log)
    }

    /// server-everything in its Streamable HTTP mode, on a free port of 127.0.0.1 only: a
    /// preloaded script makes Node bind loopback and write the port it got to a file.
    pub(crate) fn everything_http(&mut self) -> String {
        let root = self.root();
        let preload = root.join("loopback.cjs");
        fs::write(&preload, LOOPBACK_PRELOAD).expect("write the preload");
        let port_file = root.join("everything-http.port");
        let child = Command::new(&peers().everything)
            .arg("streamableHttp")
            .env("PORT", "0")
            .env("CUSTOS_PORT_FILE", &port_file)
            .env("NODE_OPTIONS", format!("--require {}", preload.display()))
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(fs::File::create(root.join("everything-http.stderr")).expect("stderr file")))
            .spawn()
            .expect("start server-everything streamableHttp");
        self.upstreams.push(Proc { child, what: "server-everything streamableHttp".into() });
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Ok(p) = fs::read_to_string(&port_file)
                && let Ok(port) = p.trim().parse::<u16>()
            {
                return format!("http://127.0.0.1:{port}/mcp");
            }
            let up = self.upstreams.last_mut().expect("just pushed");
            if let Ok(Some(status)) = up.child.try_wait() {
                let err = fs::read_to_string(root.join("everything-http.stderr")).unwrap_or_default();
                panic!("{} exited ({status}) before listening:\n{err}", up.what);
            }
            assert!(Instant::now() < deadline, "server-everything streamableHttp did not listen within {START_WAIT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Writes `custos.toml` (`config`, then `[policy]` with `policy` as its one file and
    /// `shadow`) into the data dir and starts `custos up`.
    pub(crate) fn start(&mut self, config: &str, policy: &str, shadow: &[&str]) {
        fs::write(self.dir.join("policy.cedar"), policy).expect("write the policy");
        let shadow: Vec<String> = shadow.iter().map(|s| format!("{s:?}")).collect();
        let toml = format!("{config}\n[policy]\nfiles = [\"policy.cedar\"]\nshadow = [{}]\n", shadow.join(", "));
        fs::write(self.dir.join("custos.toml"), toml).expect("write the config");
        let (server, _) = Server::start(&self.root(), &self.dir, Some(&self.admin));
        self.server = Some(server);
    }

    /// SIGTERM, a clean exit, and none of the processes `custos up` started left running.
    pub(crate) fn stop(&mut self) {
        let s = self.server.take().expect("custos up is running");
        let kids = descendants(s.pid());
        let stderr = s.stderr_text();
        let code = s.stop();
        let left = wait_gone(&kids, Duration::from_secs(5));
        kill_all(&left);
        assert_eq!(code, Some(0), "custos up did not stop cleanly; stderr:\n{stderr}");
        assert!(left.is_empty(), "custos up left the upstream processes it started running after SIGTERM: {left:?}");
    }

    /// Every ledger entry (read directly from the data dir), after checking that it verifies.
    pub(crate) fn events(&self) -> Vec<Value> {
        let run = |args: &[&str]| Out::of(custos(&self.root()).arg("--data-dir").arg(&self.dir).args(args), None);
        let v = run(&["--json", "ledger", "verify"]).ok().json();
        assert_eq!(v["verified"], true, "{v}");
        run(&["ledger", "export"])
            .ok()
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("entry is JSON"))
            .collect()
    }
}

/// Preloaded into a Node server (`NODE_OPTIONS=--require`): every `listen(port)` binds 127.0.0.1
/// only, and the port it got is written to `$CUSTOS_PORT_FILE`.
pub(crate) const LOOPBACK_PRELOAD: &str = r#"
const net = require("net");
const fs = require("fs");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (/^\d+$/.test(String(args[0])) && typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
  this.once("listening", () => {
    const file = process.env.CUSTOS_PORT_FILE;
    if (!file) return;
    fs.writeFileSync(file + ".tmp", String(this.address().port));
    fs.renameSync(file + ".tmp", file);
  });
  return listen.apply(this, args);
};
"#;

/// A `[[servers]]` table for a stdio server.
pub(crate) fn stdio_server(name: &str, command: &Path, args: &[&str]) -> String {
    format!("[[servers]]\nname = {name:?}\ncommand = {:?}\nargs = {args:?}\n", command.display().to_string())
}

/// A `[[servers]]` table for a Streamable HTTP server, optionally with a credential.
pub(crate) fn http_server(name: &str, url: &str, credential: Option<&str>) -> String {
    let cred = credential.map(|c| format!("credential = {c:?}\n")).unwrap_or_default();
    format!("[[servers]]\nname = {name:?}\nurl = {url:?}\n{cred}")
}

/// The calls a recording server logged.
pub(crate) fn recorded(log: &Path) -> Vec<Value> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a logged call is JSON"))
        .collect()
}

// ---- ledger assertions -------------------------------------------------------------------------

pub(crate) fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// Every `gateway.decision` carries who, what, the decision, the policies, a salted digest of
/// the arguments and their shape only; none of `secrets` (argument values) appears in it.
#[track_caller]
pub(crate) fn assert_decision_shape(e: &Value, creds: &BTreeMap<String, String>, secrets: &[&str]) {
    assert_eq!(e["kind"], "gateway.decision", "{e}");
    let agent = e["agent"].as_str().unwrap_or_else(|| panic!("a decision names no agent: {e}"));
    assert_eq!(e["actor"], json!({"id": agent, "type": "agent"}), "{e}");
    let d = &e["data"];
    for k in ["server", "tool"] {
        assert!(d[k].as_str().is_some_and(|s| !s.is_empty()), "no {k}: {e}");
    }
    assert!(d["decision"] == "allow" || d["decision"] == "deny", "{e}");
    assert!(d["enforced"].is_boolean(), "{e}");
    assert!(d["policies"].as_array().is_some_and(|p| p.iter().all(Value::is_string)), "{e}");
    assert_eq!(d["credential"].as_str(), creds.get(agent).map(String::as_str), "the credential used: {e}");
    let digest = d["args_digest"].as_str().unwrap_or("");
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("args_digest is not sha256: {e}"));
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{e}");
    let preview = d["args_preview"].as_object().unwrap_or_else(|| panic!("args_preview is not an object: {e}"));
    for (k, v) in preview {
        let v = v.as_str().unwrap_or_else(|| panic!("args_preview.{k} is not a shape: {e}"));
        let shape = ["string(", "array(", "object("].iter().any(|p| v.starts_with(p) && v.ends_with(')'))
            || ["number", "boolean", "null"].contains(&v);
        assert!(shape, "args_preview.{k} = `{v}` is not a shape: {e}");
    }
    if d["decision"] == "deny" && d["policies"].as_array().is_some_and(Vec::is_empty) {
        assert!(d["note"].as_str().is_some_and(|n| !n.is_empty()), "a deny by no policy says why: {e}");
    }
    let text = e.to_string();
    for s in secrets {
        assert!(!text.contains(s), "the ledger holds the argument value `{s}`: {e}");
    }
}

/// `(agent, server, tool, decision, enforced, policies, note)` of a decision, for comparisons.
pub(crate) fn summary(e: &Value) -> (String, String, String, String, bool, Vec<String>, String) {
    let d = &e["data"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (
        s(&e["agent"]),
        s(&d["server"]),
        s(&d["tool"]),
        s(&d["decision"]),
        d["enforced"].as_bool().unwrap_or(true),
        d["policies"].as_array().into_iter().flatten().map(s).collect(),
        s(&d["note"]),
    )
}

pub(crate) const DEFAULT_DENY: &str = "no policy permits this call (default deny)";

// ---- the tests ---------------------------------------------------------------------------------

/// The official Python SDK, in both eras, through `/mcp` and `/mcp/{server}`, gets exactly what
/// it gets from the same servers directly: server-everything over stdio and over Streamable
/// HTTP, server-filesystem over stdio. Every call leaves one `gateway.decision`.
#[test]
fn the_python_sdk_gets_through_the_gateway_what_it_gets_directly() {
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let root = f.root();
    let files = root.join("files");
    fs::create_dir_all(files.join("allowed")).unwrap();
    let allowed = files.join("allowed/notes.txt");
    fs::write(&allowed, "the quick brown fox\n").unwrap();
    let web = f.everything_http();
    let files_arg = files.display().to_string();
    let config = [
        stdio_server("everything", &p.everything, &[]),
        http_server("web", &web, None),
        stdio_server("fs", &p.filesystem, &[&files_arg]),
    ]
    .join("\n");
    let policy = format!(
        r#"@id("everyday")
permit(principal, action in [Action::"everything.echo", Action::"everything.get-sum", Action::"web.echo", Action::"web.get-sum"], resource);
@id("fs-read-allowed")
permit(principal, action == Action::"fs.read_text_file", resource) when {{ context.input.path like "{files_arg}/allowed/*" }};
"#
    );
    f.start(&config, &policy, &[]);

    let status = f.server().run(&["--json", "gateway", "status"]).ok().json();
    let servers = &status["detail"]["servers"];
    assert_eq!(servers.as_array().map(Vec::len), Some(3), "{status}");
    for s in servers.as_array().unwrap() {
        assert_eq!(s["healthy"], true, "{status}");
    }

    let message = "hello-through-the-gateway-7f3a";
    let echo = json!({"message": message}).to_string();
    let sum = json!({"a": 2, "b": 40}).to_string();
    let read = json!({"path": allowed.display().to_string()}).to_string();
    let token = f.token("ops/alice").to_owned();
    let mut runs = vec![
        ["--stdio", &p.everything.display().to_string(), "list", "call", "echo", &echo, "call", "get-sum", &sum]
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>(),
        ["--stdio", &p.filesystem.display().to_string(), "--arg", &files_arg, "list", "call", "read_text_file", &read]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    ];
    for era in ["legacy", "modern"] {
        let (all, everything, web, fs_) =
            (f.url("/mcp"), f.url("/mcp/everything"), f.url("/mcp/web"), f.url("/mcp/fs"));
        runs.push(via(
            &all,
            &token,
            era,
            &[
                "list",
                "call",
                "everything.echo",
                &echo,
                "call",
                "everything.get-sum",
                &sum,
                "call",
                "web.echo",
                &echo,
                "call",
                "web.get-sum",
                &sum,
                "call",
                "fs.read_text_file",
                &read,
            ],
        ));
        runs.push(via(&everything, &token, era, &["list", "call", "echo", &echo, "call", "get-sum", &sum]));
        runs.push(via(&web, &token, era, &["list", "call", "echo", &echo, "call", "get-sum", &sum]));
        runs.push(via(&fs_, &token, era, &["list", "call", "read_text_file", &read]));
    }
    let answers = py_clients(&runs);
    let (direct, direct_fs) = (&answers[0], &answers[1]);
    assert_connected(direct, "legacy");
    assert_connected(direct_fs, "legacy");
    assert!(listed(direct).len() > 2 && listed(direct_fs).len() > 1, "{direct:?}");
    let (d_echo, d_sum, d_read) = (call_answer(direct, 0), call_answer(direct, 1), call_answer(direct_fs, 0));
    assert_eq!(d_echo["content"], json!([{"type": "text", "text": format!("Echo: {message}")}]), "{d_echo}");
    assert_eq!(d_sum["content"], json!([{"type": "text", "text": "The sum of 2 and 40 is 42."}]), "{d_sum}");
    assert_eq!(d_read["content"][0]["text"], "the quick brown fox\n", "{d_read}");

    // A result through the gateway is the direct result.
    let same = |got: &Value, want: &Value, what: &str| {
        assert_eq!(got["ok"], true, "{what}: {got}");
        for k in ["is_error", "content", "structured"] {
            assert_eq!(got[k], want[k], "{what}: `{k}` differs from the direct call\ngateway {got}\ndirect  {want}");
        }
    };
    let same_tool = |run: &[Value], name: &str, direct: &[Value], bare: &str| {
        let (g, d) = (listed_detail(run, name), listed_detail(direct, bare));
        assert_eq!(g["description"], d["description"], "{name}");
        assert_eq!(g["inputSchema"], d["inputSchema"], "{name}");
    };
    for (i, era) in ["legacy", "modern"].iter().enumerate() {
        let [all, one_everything, one_web, one_fs] =
            [&answers[2 + 4 * i], &answers[3 + 4 * i], &answers[4 + 4 * i], &answers[5 + 4 * i]];
        for run in [all, one_everything, one_web, one_fs] {
            assert_connected(run, era);
            if *era == "legacy" {
                assert_eq!(run[0]["server"], "custos", "{:?}", run[0]);
            }
        }
        // Only what the policies permit is listed, named `server.tool` on /mcp, bare on /mcp/{server}.
        assert_eq!(
            listed(all),
            ["everything.echo", "everything.get-sum", "fs.read_text_file", "web.echo", "web.get-sum"],
            "{era}"
        );
        assert_eq!(listed(one_everything), ["echo", "get-sum"], "{era}");
        assert_eq!(listed(one_web), ["echo", "get-sum"], "{era}");
        assert_eq!(listed(one_fs), ["read_text_file"], "{era}");
        for (run, prefix) in [(all, "everything."), (one_everything, ""), (all, "web."), (one_web, "")] {
            same_tool(run, &format!("{prefix}echo"), direct, "echo");
            same_tool(run, &format!("{prefix}get-sum"), direct, "get-sum");
        }
        same_tool(all, "fs.read_text_file", direct_fs, "read_text_file");
        same_tool(one_fs, "read_text_file", direct_fs, "read_text_file");

        for (n, want) in [(0, d_echo), (1, d_sum), (2, d_echo), (3, d_sum), (4, d_read)] {
            same(call_answer(all, n), want, &format!("{era} /mcp call #{n}"));
        }
        for run in [one_everything, one_web] {
            same(call_answer(run, 0), d_echo, &format!("{era} echo"));
            same(call_answer(run, 1), d_sum, &format!("{era} get-sum"));
        }
        same(call_answer(one_fs, 0), d_read, &format!("{era} read_text_file"));
    }

    f.stop();
    let events = f.events();
    let decisions = of_kind(&events, "gateway.decision");
    assert_eq!(decisions.len(), 20, "one decision per call through the gateway: {decisions:#?}");
    let path = allowed.display().to_string();
    for e in &decisions {
        assert_decision_shape(e, &f.creds, &[message, &path, "quick brown fox"]);
        let s = summary(e);
        let policy = if s.1 == "fs" { "fs-read-allowed" } else { "everyday" };
        assert_eq!(
            (s.0.as_str(), s.3.as_str(), s.4, s.5),
            ("ops/alice", "allow", true, vec![policy.to_owned()]),
            "{e}"
        );
    }
    let count = |server: &str, tool: &str| {
        decisions.iter().filter(|e| e["data"]["server"] == server && e["data"]["tool"] == tool).count()
    };
    for (server, tool) in [
        ("everything", "echo"),
        ("everything", "get-sum"),
        ("web", "echo"),
        ("web", "get-sum"),
        ("fs", "read_text_file"),
    ] {
        assert_eq!(count(server, tool), 4, "{server}.{tool}: 2 eras x 2 endpoints");
    }
    // Legacy calls name their (digested) session; stateless ones have none.
    let sessions: Vec<&str> = decisions.iter().filter_map(|e| e["data"]["session"].as_str()).collect();
    assert_eq!(sessions.len(), 10, "{decisions:#?}");
    assert!(sessions.iter().all(|s| s.starts_with("sha256:")), "{sessions:?}");
    // Equal arguments give equal digests; different ones differ.
    let digests = |tool: &str| -> std::collections::BTreeSet<&str> {
        decisions
            .iter()
            .filter(|e| e["data"]["tool"] == tool)
            .map(|e| e["data"]["args_digest"].as_str().unwrap())
            .collect()
    };
    assert_eq!(digests("echo").len(), 1);
    assert_eq!(digests("get-sum").len(), 1);
    assert_ne!(digests("echo"), digests("get-sum"));
    assert_eq!(decisions[0]["data"]["args_preview"], json!({"message": format!("string({})", message.len())}));
}

/// Allowed, denied by default, denied by a forbid that overrides a permit, denied by a typed
/// argument condition, a shadow-mode agent whose denied calls go through, and `tools/list`
/// filtered to what may be allowed; each decision in the ledger as the client saw it.
#[test]
fn policies_allow_deny_shadow_and_filter_and_the_ledger_says_so() {
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true), ("ops/shadow", true)]);
    let root = f.root();
    let files = root.join("files");
    fs::create_dir_all(files.join("allowed")).unwrap();
    fs::create_dir_all(files.join("private")).unwrap();
    let (allowed, private) = (files.join("allowed/a.txt"), files.join("private/b.txt"));
    fs::write(&allowed, "alpha\n").unwrap();
    fs::write(&private, "bravo\n").unwrap();
    let files_arg = files.display().to_string();
    let config =
        [stdio_server("everything", &p.everything, &[]), stdio_server("fs", &p.filesystem, &[&files_arg])].join("\n");
    let policy = format!(
        r#"@id("allow-echo")
permit(principal, action == Action::"everything.echo", resource);
@id("no-secrets")
forbid(principal, action == Action::"everything.echo", resource) when {{ context.input.message like "*secret*" }};
@id("allow-env")
permit(principal, action == Action::"everything.get-env", resource);
@id("never-env")
forbid(principal, action == Action::"everything.get-env", resource);
@id("fs-read-allowed")
permit(principal, action == Action::"fs.read_text_file", resource) when {{ context.input.path like "{files_arg}/allowed/*" }};
"#
    );
    f.start(&config, &policy, &["ops/shadow"]);

    let (alice, shadow) = (f.token("ops/alice").to_owned(), f.token("ops/shadow").to_owned());
    let plain = json!({"message": "plain words"}).to_string();
    let secret = json!({"message": "top secret plan"}).to_string();
    let wrong_type = json!({"message": 42}).to_string();
    let sum = json!({"a": 1, "b": 2}).to_string();
    let read_allowed = json!({"path": allowed.display().to_string()}).to_string();
    let read_private = json!({"path": private.display().to_string()}).to_string();
    let all = f.url("/mcp");
    let runs = [
        via(
            &all,
            &alice,
            "modern",
            &[
                "list",
                "call",
                "everything.echo",
                &plain,
                "call",
                "everything.echo",
                &secret,
                "call",
                "everything.get-sum",
                &sum,
                "call",
                "everything.get-env",
                "{}",
                "call",
                "fs.read_text_file",
                &read_allowed,
                "call",
                "fs.read_text_file",
                &read_private,
                "call",
                "everything.echo",
                &wrong_type,
            ],
        ),
        via(&f.url("/mcp/everything"), &alice, "legacy", &["list", "call", "echo", &secret, "call", "get-sum", &sum]),
        via(&f.url("/mcp/fs"), &alice, "legacy", &["list", "call", "read_text_file", &read_private]),
        via(
            &all,
            &shadow,
            "legacy",
            &[
                "list",
                "call",
                "everything.get-sum",
                &sum,
                "call",
                "everything.echo",
                &secret,
                "call",
                "fs.read_text_file",
                &read_private,
            ],
        ),
    ];
    let answers = py_clients(&runs);
    let [a, a_everything, a_fs, s] = [&answers[0], &answers[1], &answers[2], &answers[3]];
    assert_connected(a, "modern");
    for r in [a_everything, a_fs, s] {
        assert_connected(r, "legacy");
    }

    // tools/list: only what some call could be allowed for; an unconditional forbid hides
    // get-env although a permit names it; a conditional forbid does not hide echo.
    assert_eq!(listed(a), ["everything.echo", "fs.read_text_file"]);
    assert_eq!(listed(a_everything), ["echo"]);
    assert_eq!(listed(a_fs), ["read_text_file"]);
    assert_eq!(listed(s), ["everything.echo", "fs.read_text_file"]);

    let ok = |v: &Value, text: &str| {
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["is_error"], false, "{v}");
        assert_eq!(v["content"][0]["text"], text, "{v}");
    };
    ok(call_answer(a, 0), "Echo: plain words");
    assert_denied(call_answer(a, 1), -32001, "denied by policy no-secrets");
    assert_denied(call_answer(a, 2), -32001, &format!("denied: {DEFAULT_DENY}"));
    assert_denied(call_answer(a, 3), -32001, "denied by policy never-env");
    ok(call_answer(a, 4), "alpha\n");
    assert_denied(call_answer(a, 5), -32001, &format!("denied: {DEFAULT_DENY}"));
    // An argument of the wrong type cannot be evaluated: denied (fail closed), saying why.
    assert_denied(call_answer(a, 6), -32001, "`message` must be a string");
    assert_denied(call_answer(a_everything, 0), -32001, "denied by policy no-secrets");
    assert_denied(call_answer(a_everything, 1), -32001, &format!("denied: {DEFAULT_DENY}"));
    assert_denied(call_answer(a_fs, 0), -32001, &format!("denied: {DEFAULT_DENY}"));
    // Shadow mode: denied, recorded, forwarded anyway.
    ok(call_answer(s, 0), "The sum of 1 and 2 is 3.");
    ok(call_answer(s, 1), "Echo: top secret plan");
    ok(call_answer(s, 2), "bravo\n");

    f.stop();
    let events = f.events();
    let decisions = of_kind(&events, "gateway.decision");
    for e in &decisions {
        assert_decision_shape(e, &f.creds, &["plain words", "top secret plan", "alpha", "bravo"]);
    }
    let mut got: Vec<_> = decisions.iter().map(|e| summary(e)).collect();
    got.sort();
    let d = |agent: &str, server: &str, tool: &str, allow: bool, enforced: bool, policies: &[&str], note: &str| {
        (
            agent.to_owned(),
            server.to_owned(),
            tool.to_owned(),
            if allow { "allow" } else { "deny" }.to_owned(),
            enforced,
            policies.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            note.to_owned(),
        )
    };
    let wrong_type_note = got
        .iter()
        .find(|g| g.6.contains("must be a string"))
        .map(|g| g.6.clone())
        .unwrap_or_else(|| panic!("no decision records the evaluation error: {got:#?}"));
    let mut want = vec![
        d("ops/alice", "everything", "echo", true, true, &["allow-echo"], ""),
        d("ops/alice", "everything", "echo", false, true, &["no-secrets"], ""),
        d("ops/alice", "everything", "get-sum", false, true, &[], DEFAULT_DENY),
        d("ops/alice", "everything", "get-env", false, true, &["never-env"], ""),
        d("ops/alice", "fs", "read_text_file", true, true, &["fs-read-allowed"], ""),
        d("ops/alice", "fs", "read_text_file", false, true, &[], DEFAULT_DENY),
        d("ops/alice", "everything", "echo", false, true, &[], &wrong_type_note),
        d("ops/alice", "everything", "echo", false, true, &["no-secrets"], ""),
        d("ops/alice", "everything", "get-sum", false, true, &[], DEFAULT_DENY),
        d("ops/alice", "fs", "read_text_file", false, true, &[], DEFAULT_DENY),
        d("ops/shadow", "everything", "get-sum", false, false, &[], DEFAULT_DENY),
        d("ops/shadow", "everything", "echo", false, false, &["no-secrets"], ""),
        d("ops/shadow", "fs", "read_text_file", false, false, &[], DEFAULT_DENY),
    ];
    want.sort();
    assert_eq!(got, want);
}

/// The ledger cannot be written (its filesystem is full): the call is refused with -32005
/// saying it was not recorded, and the upstream never sees it.
#[test]
fn when_the_ledger_cannot_be_written_nothing_reaches_the_upstream() {
    let mut f = Fixture::new(true, &[("ops/alice", true)]);
    let (rec, log) = f.recording_server("rec");
    let config = http_server("rec", &rec, None);
    f.start(&config, r#"@id("allow-echo") permit(principal, action == Action::"rec.echo", resource);"#, &[]);
    let token = f.token("ops/alice").to_owned();
    let call = |message: &str| {
        py_client(&via(
            &f.url("/mcp"),
            &token,
            "legacy",
            &["call", "rec.echo", &json!({"message": message}).to_string()],
        ))
    };

    let first = call("recorded");
    assert_eq!(call_answer(&first, 0)["content"][0]["text"], "Echo: recorded", "{first:?}");
    assert_eq!(recorded(&log).len(), 1);

    // Fill the data dir's filesystem to the last block.
    let mnt = f.root().join("mnt");
    for (file, bs) in [("fill", "1M"), ("fill-small", "4k"), ("fill-tiny", "512")] {
        let out = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", mnt.join(file).display()))
            .arg(format!("bs={bs}"))
            .output()
            .expect("run dd");
        assert!(!out.status.success(), "dd stopped before the filesystem was full");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("No space left"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let second = call("never recorded");
    assert_denied(call_answer(&second, 0), -32005, "could not be recorded");
    assert_eq!(recorded(&log).len(), 1, "a call whose decision was not recorded reached the upstream");
    assert_eq!(recorded(&log)[0]["arguments"], json!({"message": "recorded"}));

    // With room again, calls are recorded and forwarded again; the ledger verifies and holds
    // no decision for the refused call.
    for file in ["fill", "fill-small", "fill-tiny"] {
        fs::remove_file(mnt.join(file)).unwrap();
    }
    let third = call("recorded again");
    assert_eq!(call_answer(&third, 0)["content"][0]["text"], "Echo: recorded again", "{third:?}");
    let got: Vec<Value> = recorded(&log).iter().map(|c| c["arguments"]["message"].clone()).collect();
    assert_eq!(got, [json!("recorded"), json!("recorded again")]);
    f.stop();
    let events = f.events();
    let decisions = of_kind(&events, "gateway.decision");
    assert_eq!(decisions.len(), 2, "{decisions:#?}");
    for e in &decisions {
        assert_decision_shape(e, &f.creds, &["recorded", "never"]);
        assert_eq!(e["data"]["decision"], "allow", "{e}");
    }
}

/// Authentication: no token, a bad token, an unapproved agent's token; a foreign Origin or
/// Host; and an agent suspended while its session is open is refused on its next request.
/// The upstream sees only custos's own credential, never an agent's token.
#[test]
fn agents_must_authenticate_and_a_suspended_agent_is_cut_off_mid_session() {
    let mut f = Fixture::new(false, &[("ops/alice", true), ("ops/pending", false), ("ops/sus", true)]);
    let (rec, log) = f.recording_server("rec");
    let cred_file = f.root().join("upstream.cred");
    fs::write(&cred_file, "upstream-secret\n").unwrap();
    let config = http_server("rec", &rec, Some(&format!("file:{}", cred_file.display())));
    f.start(&config, r#"@id("allow-echo") permit(principal, action == Action::"rec.echo", resource);"#, &[]);
    let http = Http::new();
    let url = f.url("/mcp");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let modern = [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/list")];

    // No credential, or not a custos token: 401 with a challenge.
    let bogus = format!("Bearer cst_{}", "0".repeat(64));
    let basic = "Basic b3BzOmFsaWNl".to_owned();
    for auth in [None, Some(bogus.as_str()), Some(basic.as_str()), Some("Bearer not-a-token")] {
        let mut h = modern.to_vec();
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        let r = http.post(&url, &h, list.clone());
        r.expect(401, Some(-32003));
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"custos\""), "{auth:?}");
    }
    // A registered agent that is not approved: 403.
    let r = http.modern(&url, f.token("ops/pending"), 2, "tools/list", json!({}));
    r.expect(403, Some(-32004));
    assert!(r.message().contains("ops/pending"), "{}", r.text);
    // The official client gets the same refusals.
    let run = py_client(&via(&url, "not-a-token", "legacy", &["list"]));
    assert_eq!(run[0]["ok"], false, "{run:?}");
    let run = py_client(&via(&url, f.token("ops/pending"), "modern", &["list"]));
    assert_eq!(run[0]["ok"], false, "{run:?}");

    // DNS rebinding: a foreign Origin or Host is refused even with a valid token; loopback ones
    // are fine.
    let alice = format!("Bearer {}", f.token("ops/alice"));
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "rec.echo", "arguments": {"message": "from a page"}}}).to_string();
    let h = |extra: (&'static str, &'static str)| {
        vec![
            ("Authorization", alice.as_str()),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "rec.echo"),
            extra,
        ]
    };
    let r = http.post(&url, &h(("Origin", "http://evil.example")), call.clone());
    r.expect(403, None);
    assert!(r.text.contains("evil.example"), "{}", r.text);
    http.post(&url, &h(("Host", "evil.example")), call.clone()).expect(403, None);
    let r = http.post(&url, &h(("Origin", "http://127.0.0.1:8080")), call.clone());
    r.expect(200, None);
    assert_eq!(result_text(&r), "Echo: from a page");

    // An open session of an agent that is then suspended.
    let sus = f.token("ops/sus").to_owned();
    let sid = http.initialize(&url, &sus);
    let echo = |n: u64| json!({"name": "rec.echo", "arguments": {"message": format!("sus {n}")}});
    let r = http.legacy(&url, &sus, &sid, 4, "tools/call", echo(1));
    r.expect(200, None);
    assert_eq!(result_text(&r), "Echo: sus 1");
    f.server().run(&["agent", "suspend", "ops/sus", "--reason", "incident"]).ok();
    let r = http.legacy(&url, &sus, &sid, 5, "tools/call", echo(2));
    r.expect(403, Some(-32004));
    assert!(r.message().contains("ops/sus"), "{}", r.text);
    http.legacy(&url, &sus, &sid, 6, "tools/list", json!({})).expect(403, Some(-32004));
    // A revoked token is no credential at all, session or not.
    let alice_token = f.token("ops/alice").to_owned();
    let alices = http.initialize(&url, &alice_token);
    f.server().run(&["agent", "token", "revoke", "ops/alice", &f.creds["ops/alice"], "--reason", "leaked"]).ok();
    http.legacy(&url, &alice_token, &alices, 7, "tools/call", echo(3)).expect(401, Some(-32003));
    http.modern(&url, &alice_token, 8, "tools/list", json!({})).expect(401, Some(-32003));

    // The upstream got the two allowed calls, each with custos's credential.
    let calls = recorded(&log);
    let args: Vec<&Value> = calls.iter().map(|c| &c["arguments"]).collect();
    assert_eq!(args, [&json!({"message": "from a page"}), &json!({"message": "sus 1"})]);
    for c in &calls {
        assert_eq!(c["authorization"], "Bearer upstream-secret", "{c}");
    }

    f.stop();
    let events = f.events();
    let failed = of_kind(&events, "gateway.auth_failed");
    for e in &failed {
        assert_eq!(e["actor"]["type"], "system", "{e}");
        assert!(e["data"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
        let text = e.to_string();
        for t in f.tokens.values().map(String::as_str).chain([&bogus[7..], "not-a-token"]) {
            assert!(!text.contains(t), "a token in the ledger: {e}");
        }
    }
    let missing = failed.iter().filter(|e| e.get("agent").is_none()).count();
    // No header, Basic, the bogus tokens, the client's bad token (maybe more than once), and
    // the revoked token twice (a revoked token no longer names its agent).
    assert!(missing >= 7, "{failed:#?}");
    let unknown = failed.iter().filter(|e| e["data"]["reason"].as_str().is_some_and(|r| r.contains("revoked"))).count();
    assert!(unknown >= 3, "{failed:#?}");
    let named = |agent: &str| failed.iter().filter(|e| e["agent"] == agent).collect::<Vec<_>>();
    let pending = named("ops/pending");
    assert!(pending.len() >= 2, "{failed:#?}");
    for e in &pending {
        assert_eq!(e["data"]["credential"], f.creds["ops/pending"], "{e}");
    }
    let suspended = named("ops/sus");
    assert_eq!(suspended.len(), 2, "{failed:#?}");
    assert!(suspended.iter().all(|e| e["data"]["credential"] == f.creds["ops/sus"]), "{suspended:#?}");
    assert!(named("ops/alice").is_empty(), "{failed:#?}");
    let decisions = of_kind(&events, "gateway.decision");
    let who: Vec<(&str, &str)> =
        decisions.iter().map(|e| (e["agent"].as_str().unwrap(), e["data"]["decision"].as_str().unwrap())).collect();
    assert_eq!(who, [("ops/alice", "allow"), ("ops/sus", "allow")]);
    for e in &decisions {
        assert_decision_shape(e, &f.creds, &["from a page", "sus 1"]);
    }
}

/// Malformed requests get the right status and JSON-RPC code, reach no upstream, leave no
/// decision, and another agent's valid call still works after each one.
#[test]
fn bad_input_is_refused_and_the_gateway_keeps_serving() {
    let mut f = Fixture::new(false, &[("ops/alice", true), ("ops/mallory", true)]);
    let (rec, log) = f.recording_server("rec");
    let config = format!("{}\n[gateway]\nmax_body_bytes = 1024\n", http_server("rec", &rec, None));
    f.start(&config, r#"@id("allow-echo") permit(principal, action == Action::"rec.echo", resource);"#, &[]);
    let http = Http::new();
    let url = f.url("/mcp");
    let (alice, mallory) = (f.token("ops/alice").to_owned(), f.token("ops/mallory").to_owned());
    let m_auth = format!("Bearer {mallory}");
    let modern = |method: &'static str, name: Option<&'static str>| {
        let mut h = vec![("Authorization", m_auth.clone()), ("MCP-Protocol-Version", "2026-07-28".into())];
        h.push(("Mcp-Method", method.into()));
        if let Some(n) = name {
            h.push(("Mcp-Name", n.into()));
        }
        h
    };
    let post = |url: &str, h: &[(&str, String)], body: &str| {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        http.post(url, &h, body.to_owned())
    };
    let mut valid = 0u64;
    let mut still_serving = |after: &str| {
        valid += 1;
        let r = http.modern(
            &url,
            &alice,
            100 + valid,
            "tools/call",
            json!({"name": "rec.echo", "arguments": {"message": format!("ok {valid}")}}),
        );
        assert_eq!(r.status, 200, "after {after}: {}", r.text);
        assert_eq!(result_text(&r), format!("Echo: ok {valid}"), "after {after}");
    };
    let call = |name: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {"message": "m"}}}).to_string()
    };

    // Not JSON: 400, parse error.
    post(&url, &modern("tools/list", None), r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/"#)
        .expect(400, Some(-32700));
    still_serving("invalid JSON");
    // JSON, not a JSON-RPC request: 400, invalid request.
    for body in [
        r#"[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]"#,
        r#"{"jsonrpc": "1.0", "id": 1, "method": "tools/list"}"#,
        r#"{"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}"#,
        r#"{"jsonrpc": "2.0", "id": 1, "method": 7}"#,
        r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]}"#,
        r#""tools/list""#,
    ] {
        post(&url, &modern("tools/list", None), body).expect(400, Some(-32600));
        still_serving(body);
    }
    // Larger than [gateway] max_body_bytes: 413.
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "rec.echo", "arguments": {"message": "x".repeat(2000)}}}).to_string();
    assert_eq!(post(&url, &modern("tools/call", Some("rec.echo")), &big).status, 413);
    still_serving("an oversized body");
    // 2026-07-28 routing headers that disagree with the body (or are missing): 400, -32020.
    for h in [
        modern("tools/list", Some("rec.echo")),
        modern("tools/call", Some("rec.other")),
        modern("tools/call", None),
        vec![("Authorization", m_auth.clone()), ("MCP-Protocol-Version", "2026-07-28".into())],
    ] {
        post(&url, &h, &call("rec.echo")).expect(400, Some(-32020));
        still_serving(&format!("mismatched headers {h:?}"));
    }
    // An unsupported protocol version: 400, -32022.
    let h = vec![("Authorization", m_auth.clone()), ("MCP-Protocol-Version", "1999-01-01".into())];
    post(&url, &h, &call("rec.echo")).expect(400, Some(-32022));
    still_serving("an unknown protocol version");
    // A tool that does not exist (or is named without its server on /mcp): -32602.
    for name in ["rec.nope", "echo", "nope.echo"] {
        let r = http.modern(&url, &mallory, 1, "tools/call", json!({"name": name, "arguments": {}}));
        r.expect(200, Some(-32602));
        assert!(r.message().contains(name), "{}", r.text);
        still_serving(name);
    }
    let r = http.modern(&url, &mallory, 1, "tools/call", json!({"arguments": {}}));
    r.expect(200, Some(-32602));
    assert!(r.message().contains("params.name"), "{}", r.text);
    still_serving("a call without a name");
    // A method the gateway does not serve.
    http.modern(&url, &mallory, 1, "resources/list", json!({})).expect(200, Some(-32601));
    still_serving("resources/list");
    // A server that does not exist: 404.
    post(&f.url("/mcp/nope"), &modern("tools/call", Some("echo")), &call("echo")).expect(404, None);
    still_serving("/mcp/nope");
    // The session era without a session: 400; a forged one, or another agent's, or one of
    // another endpoint: 404.
    let legacy = |sid: Option<&str>| {
        let mut h = vec![("Authorization", m_auth.clone()), ("MCP-Protocol-Version", "2025-11-25".into())];
        if let Some(s) = sid {
            h.push(("Mcp-Session-Id", s.to_owned()));
        }
        h
    };
    post(&url, &legacy(None), &call("rec.echo")).expect(400, Some(-32006));
    still_serving("no session");
    let no_version = vec![("Authorization", m_auth.clone())];
    post(&url, &no_version, &call("rec.echo")).expect(400, Some(-32006));
    still_serving("no version and no session");
    post(&url, &legacy(Some("cs1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")), &call("rec.echo"))
        .expect(404, Some(-32006));
    still_serving("a forged session");
    let alices = http.initialize(&url, &alice);
    let r = post(&url, &legacy(Some(&alices)), &call("rec.echo"));
    r.expect(404, Some(-32006));
    assert!(r.message().contains("another credential"), "{}", r.text);
    still_serving("another agent's session");
    let mallorys = {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
        let r = post(&f.url("/mcp/rec"), &[("Authorization", m_auth.clone())], &body.to_string());
        r.expect(200, None);
        r.header("mcp-session-id").expect("a session id").to_owned()
    };
    post(&url, &legacy(Some(&mallorys)), &call("rec.echo")).expect(404, Some(-32006));
    still_serving("a session of another endpoint");
    // Alice's own session works on the session era too.
    let r = http.legacy(
        &url,
        &alice,
        &alices,
        7,
        "tools/call",
        json!({"name": "rec.echo", "arguments": {"message": "legacy"}}),
    );
    assert_eq!(result_text(&r), "Echo: legacy");

    // Nothing of mallory's reached the upstream; all of alice's calls did, in order.
    let mut want: Vec<Value> = (1..=valid).map(|i| json!({"message": format!("ok {i}")})).collect();
    want.push(json!({"message": "legacy"}));
    let got: Vec<Value> = recorded(&log).iter().map(|c| c["arguments"].clone()).collect();
    assert_eq!(got, want);

    f.stop();
    let events = f.events();
    let decisions = of_kind(&events, "gateway.decision");
    assert_eq!(decisions.len(), want.len(), "{decisions:#?}");
    for e in &decisions {
        assert_eq!(e["agent"], "ops/alice", "{e}");
        assert_eq!(e["data"]["decision"], "allow", "{e}");
        assert_decision_shape(e, &f.creds, &["legacy"]);
    }
    assert!(of_kind(&events, "gateway.auth_failed").is_empty());
}

/// 2026-07-28's `server/discover` result carries `ttlMs` and `cacheScope` (required by the
/// schema) and the server's identity as the `_meta` serverInfo stamp the SDK reads.
#[test]
fn discover_answers_as_the_2026_schema_says() {
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let (rec, _log) = f.recording_server("rec");
    f.start(&http_server("rec", &rec, None), r#"permit(principal, action == Action::"rec.echo", resource);"#, &[]);
    let http = Http::new();
    let r = http.modern(&f.url("/mcp"), f.token("ops/alice"), 1, "server/discover", json!({}));
    r.expect(200, None);
    let result = &r.json()["result"];
    assert_eq!(result["resultType"], "complete", "{result}");
    assert!(result["ttlMs"].is_u64(), "ttlMs is required: {result}");
    assert!(result["cacheScope"] == "private" || result["cacheScope"] == "public", "cacheScope is required: {result}");
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "custos", "{result}");
    let run = py_client(&via(&f.url("/mcp"), f.token("ops/alice"), "modern", &[]));
    assert_eq!(run[0]["server"], "custos", "{run:?}");
}

/// DNS rebinding: a name that merely starts with `127.` (`127.0.0.1.evil.example`, which an
/// attacker's DNS can point anywhere, then at 127.0.0.1) is not a loopback host or origin.
#[test]
fn a_name_that_only_looks_like_loopback_is_refused() {
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let (rec, log) = f.recording_server("rec");
    f.start(&http_server("rec", &rec, None), r#"permit(principal, action == Action::"rec.echo", resource);"#, &[]);
    let http = Http::new();
    let url = f.url("/mcp");
    let auth = format!("Bearer {}", f.token("ops/alice"));
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "rec.echo", "arguments": {"message": "rebound"}}})
    .to_string();
    for (k, v) in [
        ("Origin", "http://127.0.0.1.evil.example"),
        ("Origin", "http://127.evil.example:7070"),
        ("Host", "127.0.0.1.evil.example"),
        ("Host", "127.evil.example:7070"),
    ] {
        let h = [
            ("Authorization", auth.as_str()),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "rec.echo"),
            (k, v),
        ];
        http.post(&url, &h, call.clone()).expect(403, None);
    }
    assert!(recorded(&log).is_empty(), "a rebound request reached the upstream: {:?}", recorded(&log));
}

/// A typed-argument condition on a path: `like "<dir>/allowed/*"` must not let a call climb out
/// of `allowed/` with `..` (server-filesystem resolves the path and reads the file).
#[test]
fn a_path_condition_cannot_be_escaped_with_dot_dot() {
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let files = f.root().join("files");
    fs::create_dir_all(files.join("allowed")).unwrap();
    fs::create_dir_all(files.join("private")).unwrap();
    fs::write(files.join("private/b.txt"), "bravo\n").unwrap();
    let files_arg = files.display().to_string();
    let policy = format!(
        r#"permit(principal, action == Action::"fs.read_text_file", resource) when {{ context.input.path like "{files_arg}/allowed/*" }};"#
    );
    f.start(&stdio_server("fs", &p.filesystem, &[&files_arg]), &policy, &[]);
    let escape = json!({"path": format!("{files_arg}/allowed/../private/b.txt")}).to_string();
    let run = py_client(&via(&f.url("/mcp"), f.token("ops/alice"), "modern", &["call", "fs.read_text_file", &escape]));
    assert_denied(call_answer(&run, 0), -32001, "denied");
}

/// A server→client request made while answering a call (server-everything's
/// `trigger-sampling-request` asks the client to sample) reaches the client that made the call,
/// through custos, and the client's answer goes back to the server.
#[test]
fn a_sampling_request_is_relayed_to_the_calling_client() {
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let config = stdio_server("everything", &p.everything, &[]);
    let policy =
        r#"@id("sampling") permit(principal, action == Action::"everything.trigger-sampling-request", resource);"#;
    f.start(&config, policy, &[]);
    // 2025-11-25: on the call's event stream; 2026-07-28: as an `input_required` round (MRTR).
    for era in ["legacy", "modern"] {
        let mut cmd = Command::new(&p.python);
        cmd.arg(repo().join("interop/mcp/sampling.py")).args([
            f.url("/mcp").as_str(),
            f.token("ops/alice"),
            "everything.trigger-sampling-request",
            "what is six times seven?",
            era,
        ]);
        let out = run_bounded(&mut cmd, Duration::from_secs(90), "interop/mcp/sampling.py");
        assert_eq!(out.code, Some(0), "{era}: {}\n{}", out.stdout, out.stderr);
        let answer: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
        let sampled = answer["sampled"].to_string();
        assert!(sampled.contains("what is six times seven?"), "{era}: the client saw the server's request: {answer}");
        let result = answer["result"].to_string();
        assert!(result.contains("relayed answer 42"), "{era}: the server got the client's answer back: {answer}");
    }
    f.stop();
    let events = f.events();
    let decisions = of_kind(&events, "gateway.decision");
    // One decision per call: the 2026-07-28 retry that carries the answer is not decided again.
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert!(
        decisions.iter().all(|d| d["data"]["tool"] == "trigger-sampling-request" && d["data"]["decision"] == "allow")
    );
    // The prompt is an argument: it must not be in the ledger in clear.
    assert!(!serde_json::to_string(&events).unwrap().contains("six times seven"));
}

/// A 2025-11-25 session outlives a restart of custos (its state is sealed into the id), the
/// operator sees the gateway's upstreams, and a policy reload that fails keeps the policies in
/// force while a good one takes effect without dropping the session.
#[test]
fn sessions_survive_a_restart_and_reloads_keep_serving() {
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let config = stdio_server("everything", &p.everything, &[]);
    let echo_only = r#"@id("echo") permit(principal, action == Action::"everything.echo", resource);"#;
    f.start(&config, echo_only, &[]);
    let http = Http::new();
    let token = f.token("ops/alice").to_owned();
    let sid = http.initialize(&f.url("/mcp"), &token);
    let echo = json!({"name": "everything.echo", "arguments": {"message": "before"}});
    let r = http.legacy(&f.url("/mcp"), &token, &sid, 1, "tools/call", echo);
    assert_eq!(result_text(&r), "Echo: before", "{}", r.text);

    // The operator's view.
    let status = f.server().run(&["--json", "gateway", "status"]).ok().json();
    assert_eq!(status["enabled"], true, "{status}");
    let servers = status["detail"]["servers"].as_array().expect("servers").clone();
    assert_eq!(servers.len(), 1, "{status}");
    assert_eq!((servers[0]["name"].as_str(), servers[0]["transport"].as_str()), (Some("everything"), Some("stdio")));
    assert!(servers[0]["tools"].as_u64().unwrap_or(0) >= 10, "{status}");
    assert_eq!(status["detail"]["policies"], 1);

    // A bad file is refused with file:line; the policy in force stays in force.
    fs::write(
        f.dir.join("policy.cedar"),
        format!("{echo_only}\npermit(principal, action == Action::\"everything.nope\", resource);\n"),
    )
    .expect("write the policy");
    let bad = Out::of(f.server().cmd().args(["policy", "reload"]), None);
    bad.fails(3, &["policy.cedar:2", "everything.nope", "stay in force"]);
    let still = json!({"name": "everything.echo", "arguments": {"message": "still"}});
    let r = http.legacy(&f.url("/mcp"), &token, &sid, 2, "tools/call", still);
    assert_eq!(result_text(&r), "Echo: still", "{}", r.text);

    // A good reload takes effect on the open session.
    let both =
        format!("{echo_only}\n@id(\"sum\") permit(principal, action == Action::\"everything.get-sum\", resource);\n");
    fs::write(f.dir.join("policy.cedar"), &both).expect("write the policy");
    let reloaded = f.server().run(&["--json", "policy", "reload"]).ok().json();
    assert_eq!(reloaded["policies"], 2, "{reloaded}");
    let sum = json!({"name": "everything.get-sum", "arguments": {"a": 2, "b": 3}});
    let r = http.legacy(&f.url("/mcp"), &token, &sid, 3, "tools/call", sum);
    assert!(result_text(&r).contains('5'), "{}", r.text);

    // Restart: same data dir, same key; the session id still opens.
    f.stop();
    f.start(&config, &both, &[]);
    let after = json!({"name": "everything.echo", "arguments": {"message": "after"}});
    let r = http.legacy(&f.url("/mcp"), &token, &sid, 4, "tools/call", after);
    assert_eq!(result_text(&r), "Echo: after", "a session must survive a restart: {}", r.text);
}

/// 2026-07-28 `subscriptions/listen`: the stream acknowledges the subscription, then says
/// `notifications/tools/list_changed` when what is in force changes (here: a policy file edit,
/// picked up by the watcher).
#[test]
fn a_listening_client_hears_that_the_tool_list_changed() {
    use std::io::Write;
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let config = stdio_server("everything", &p.everything, &[]);
    let echo_only = r#"@id("echo") permit(principal, action == Action::"everything.echo", resource);"#;
    f.start(&config, echo_only, &[]);
    let url = f.url("/mcp");
    let authority = url.trim_start_matches("http://").trim_end_matches("/mcp").to_owned();
    let body = r#"{"jsonrpc":"2.0","id":"sub-1","method":"subscriptions/listen","params":{"filter":{"toolsListChanged":true}}}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Accept: text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: subscriptions/listen\r\n\
         Content-Length: {}\r\n\r\n{body}",
        f.token("ops/alice"),
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(&authority).expect("connect");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    // Reads until `needle` has arrived (bounded), returning everything read so far.
    let mut seen = String::new();
    read_until(&mut stream, "notifications/subscriptions/acknowledged", &mut seen);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.to_ascii_lowercase().contains("content-type: text/event-stream"), "{seen}");
    assert!(seen.contains(r#""io.modelcontextprotocol/subscriptionId":"sub-1""#), "{seen}");
    assert!(!seen.contains("tools/list_changed"), "nothing changed yet: {seen}");
    // Change what is in force: the watcher reloads within a second and the client hears it.
    let both =
        format!("{echo_only}\n@id(\"sum\") permit(principal, action == Action::\"everything.get-sum\", resource);\n");
    fs::write(f.dir.join("policy.cedar"), both).expect("write the policy");
    read_until(&mut stream, "notifications/tools/list_changed", &mut seen);
    drop(stream);
}

/// 2025-11-25: a GET with the session id opens the session's event stream, which carries
/// `notifications/tools/list_changed` after a reload; without a session it is refused.
#[test]
fn a_session_get_stream_hears_that_the_tool_list_changed() {
    use std::io::Write;
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true)]);
    let config = stdio_server("everything", &p.everything, &[]);
    let echo_only = r#"@id("echo") permit(principal, action == Action::"everything.echo", resource);"#;
    f.start(&config, echo_only, &[]);
    let url = f.url("/mcp");
    let token = f.token("ops/alice").to_owned();
    let sid = Http::new().initialize(&url, &token);
    let authority = url.trim_start_matches("http://").trim_end_matches("/mcp").to_owned();
    let get = |session: Option<&str>| {
        let session = session.map(|s| format!("Mcp-Session-Id: {s}\r\n")).unwrap_or_default();
        format!(
            "GET /mcp HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\
             MCP-Protocol-Version: 2025-11-25\r\n{session}\r\n"
        )
    };
    let open = |request: String| {
        let mut s = std::net::TcpStream::connect(&authority).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        s.write_all(request.as_bytes()).expect("send");
        s
    };
    // Without a session: refused.
    let mut refused = open(get(None));
    let mut seen = String::new();
    read_until(&mut refused, "\r\n\r\n", &mut seen);
    assert!(seen.starts_with("HTTP/1.1 400"), "{seen}");
    // With one: a stream that stays open and hears the change.
    let mut stream = open(get(Some(&sid)));
    let mut seen = String::new();
    read_until(&mut stream, "\r\n\r\n", &mut seen);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.to_ascii_lowercase().contains("content-type: text/event-stream"), "{seen}");
    let both =
        format!("{echo_only}\n@id(\"sum\") permit(principal, action == Action::\"everything.get-sum\", resource);\n");
    fs::write(f.dir.join("policy.cedar"), both).expect("write the policy");
    read_until(&mut stream, "notifications/tools/list_changed", &mut seen);
}

/// Reads an open HTTP response from `stream` into `seen` until `needle` has arrived (at most
/// 15 s; the socket has a short read timeout so the deadline is checked).
pub(crate) fn read_until(stream: &mut std::net::TcpStream, needle: &str, seen: &mut String) {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        assert!(Instant::now() < deadline, "`{needle}` never arrived; got:\n{seen}");
        match stream.read(&mut buf) {
            Ok(0) => panic!("the stream closed before `{needle}`; got:\n{seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {} // read timeout: try again until the deadline
        }
    }
}

/// An agent authenticated by the identity provider's JWT (EdDSA, JWKS file) is the policy
/// principal: the call is decided on its registry record and recorded under the JWT credential;
/// a JWT for another audience is refused.
#[test]
fn a_jwt_from_the_identity_provider_is_the_principal() {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use ed25519_dalek::{Signer, SigningKey};
    let p = peers();
    let mut f = Fixture::new(false, &[("ops/alice", true), ("ops/bob", true)]);
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "idp-1",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())}]});
    let jwks_path = f.root().join("jwks.json");
    fs::write(&jwks_path, jwks.to_string()).expect("write the JWKS");
    let jwt = |sub: &str, aud: &str| {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let msg = format!(
            "{}.{}",
            b64(json!({"alg": "EdDSA", "kid": "idp-1"})),
            b64(
                json!({"iss": "https://idp.test", "aud": aud, "sub": sub, "exp": now + 300, "jti": format!("j-{sub}")})
            )
        );
        format!("{msg}.{}", URL_SAFE_NO_PAD.encode(key.sign(msg.as_bytes()).to_bytes()))
    };
    let config = format!(
        "{}\n[gateway.jwt]\nissuer = \"https://idp.test\"\naudience = \"custos\"\njwks_file = {:?}\n",
        stdio_server("everything", &p.everything, &[]),
        jwks_path.display().to_string()
    );
    // Only alice may echo: the principal is whoever the JWT names.
    let policy =
        r#"@id("alice-echo") permit(principal == Agent::"ops/alice", action == Action::"everything.echo", resource);"#;
    f.start(&config, policy, &[]);
    let http = Http::new();
    let url = f.url("/mcp");
    let echo = json!({"name": "everything.echo", "arguments": {"message": "via jwt"}});
    let r = http.modern(&url, &jwt("ops/alice", "custos"), 1, "tools/call", echo.clone());
    assert_eq!(result_text(&r), "Echo: via jwt", "{}", r.text);
    http.modern(&url, &jwt("ops/bob", "custos"), 2, "tools/call", echo.clone()).expect(200, Some(-32001));
    http.modern(&url, &jwt("ops/alice", "someone-else"), 3, "tools/call", echo.clone()).expect(401, Some(-32003));
    http.modern(&url, &jwt("ops/nobody", "custos"), 4, "tools/call", echo).expect(403, Some(-32004));
    f.stop();
    let events = f.events();
    let decisions = of_kind(&events, "gateway.decision");
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert_eq!(
        (decisions[0]["agent"].as_str(), decisions[0]["data"]["decision"].as_str()),
        (Some("ops/alice"), Some("allow"))
    );
    assert_eq!(decisions[0]["data"]["credential"], "jwt:https://idp.test#j-ops/alice");
    assert_eq!(decisions[0]["data"]["policies"], json!(["alice-echo"]));
    assert_eq!(
        (decisions[1]["agent"].as_str(), decisions[1]["data"]["decision"].as_str()),
        (Some("ops/bob"), Some("deny"))
    );
    assert_eq!(of_kind(&events, "gateway.auth_failed").len(), 2);
}
