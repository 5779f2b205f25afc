//! The harness: run the built `custos` binary with a clean environment, capture its outcome,
//! and take snapshots of a data dir so a test can prove that a refused command changed nothing.

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::Value;
use tempfile::TempDir;

/// The origin every test ledger is created with.
pub const ORIGIN: &str = "test.example/ledger";

/// A `custos` command with no `CUSTOS_*` variables inherited from whoever runs the tests, and a
/// fixed `$USER` so the default actor is known.
pub fn custos(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_custos"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CUSTOS_") {
            c.env_remove(k);
        }
    }
    c.env("USER", "tester").current_dir(cwd).stdin(Stdio::null());
    c
}

/// What a finished command showed the user.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Runs `cmd` to completion, feeding it `input` on standard input when given.
    pub fn of(cmd: &mut Command, input: Option<&str>) -> Self {
        let output = match input {
            None => cmd.output().expect("run custos"),
            Some(text) => {
                let mut child =
                    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
                let mut stdin = child.stdin.take().expect("stdin");
                let text = text.to_owned();
                // Written from another thread so a child that stops reading cannot deadlock us.
                let writer = std::thread::spawn(move || {
                    let _ = stdin.write_all(text.as_bytes());
                });
                let out = child.wait_with_output().expect("wait for custos");
                writer.join().expect("stdin writer");
                out
            }
        };
        Self {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts the exit code, showing everything the command printed when it differs.
    #[track_caller]
    pub fn code(self, expected: i32) -> Self {
        assert_eq!(self.code, Some(expected), "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        self.code(0)
    }

    /// Asserts that the command failed with `code`, printed nothing on stdout, and said
    /// something on stderr containing every one of `needles`.
    #[track_caller]
    pub fn fails(self, code: i32, needles: &[&str]) -> Self {
        let out = self.code(code);
        assert!(out.stdout.is_empty(), "a failed command printed on stdout: {}", out.stdout);
        assert!(out.stderr.starts_with("error: "), "stderr: {}", out.stderr);
        for n in needles {
            assert!(out.stderr.contains(n), "stderr does not mention `{n}`: {}", out.stderr);
        }
        out
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A temporary directory that holds one data dir, `root/data`, created by `custos init`.
#[derive(Debug)]
pub struct Ledger {
    pub tmp: TempDir,
    pub dir: PathBuf,
    /// The `--json` output of `custos init`.
    pub init: Value,
}

impl Ledger {
    /// A fresh data dir whose ledger holds only the genesis entry (index 0).
    pub fn new() -> Self {
        let tmp = TempDir::new().expect("temp dir");
        let dir = tmp.path().join("data");
        let out =
            Out::of(custos(tmp.path()).arg("--data-dir").arg(&dir).args(["--json", "init", "--origin", ORIGIN]), None)
                .ok();
        let init = out.json();
        Self { tmp, dir, init }
    }

    /// A fresh data dir with `n` `policy.proposed` entries after the genesis entry, entry `i` having
    /// data `{"i": i}`.
    pub fn with_entries(n: u64) -> Self {
        let l = Self::new();
        l.run_stdin(&["ledger", "append", "--stdin"], &lines(1, n)).ok();
        l.run(&["ledger", "checkpoint"]).ok();
        l
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn verifier_key(&self) -> String {
        self.init["verifier_key"].as_str().expect("verifier_key").to_owned()
    }

    /// `custos --data-dir <dir>`, ready for more arguments.
    pub fn cmd(&self) -> Command {
        let mut c = custos(self.root());
        c.arg("--data-dir").arg(&self.dir);
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out::of(self.cmd().args(args), None)
    }

    pub fn run_stdin(&self, args: &[&str], input: &str) -> Out {
        Out::of(self.cmd().args(args), Some(input))
    }

    /// Appends one `policy.proposed` event and returns its receipt.
    pub fn append(&self, data: &str) -> Value {
        self.run(&["--json", "ledger", "append", "--kind", "policy.proposed", "--data", data]).ok().json()
    }

    /// The exported entries, one per line.
    pub fn export(&self) -> Vec<String> {
        self.run(&["ledger", "export"]).ok().stdout.lines().map(str::to_owned).collect()
    }

    /// The number of entries, as `ledger verify` counts them (and proves they verify).
    pub fn size(&self) -> u64 {
        let v = self.run(&["--json", "ledger", "verify"]).ok().json();
        assert_eq!(v["verified"], true, "{v}");
        v["entries"].as_u64().expect("entries")
    }

    /// What the stored ledger says about itself: every entry's bytes and the verify report.
    pub fn state(&self) -> State {
        State {
            export: self.run(&["ledger", "export"]).ok().stdout,
            verify: self.run(&["--json", "ledger", "verify"]).ok().stdout,
        }
    }
}

/// A ledger's observable state; equal states mean nothing was appended, signed or changed.
#[derive(Debug, PartialEq, Eq)]
pub struct State {
    pub export: String,
    pub verify: String,
}

/// Every file under `dir` (recursively) and its bytes, to prove a refused command wrote nothing.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), fs::read(&p).expect("read file"));
            }
        }
    }
    out
}

/// The names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect();
    v.sort();
    v
}

/// `n` stdin lines of `policy.proposed` events with data `{"i": first..}`.
pub fn lines(first: u64, n: u64) -> String {
    (first..first + n).map(|i| format!("{{\"kind\":\"policy.proposed\",\"data\":{{\"i\":{i}}}}}\n")).collect()
}

/// The `data.i` of every exported entry that has one, in ledger order.
pub fn exported_is(export: &[String]) -> Vec<u64> {
    export
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).expect("entry is JSON")["data"]["i"].as_u64())
        .collect()
}

impl Ledger {
    /// The exported entries, parsed; entry `i` is at position `i`.
    pub fn events(&self) -> Vec<Value> {
        self.export().iter().map(|l| serde_json::from_str(l).expect("entry is JSON")).collect()
    }
}

/// Asserts an exported entry's kind, actor, agent and `data.reason`.
#[track_caller]
pub fn assert_event(e: &Value, kind: &str, actor: &str, agent: Option<&str>, reason: &str) {
    assert_eq!(e["kind"], kind, "{e}");
    assert_eq!(e["actor"], serde_json::json!({"id": actor, "type": "user"}), "{e}");
    match agent {
        Some(a) => assert_eq!(e["agent"], a, "{e}"),
        None => assert!(e.get("agent").is_none(), "an event about no agent names one: {e}"),
    }
    assert_eq!(e["data"]["reason"], reason, "{e}");
}

/// Seconds since the epoch of a custos timestamp (`2026-01-02T03:04:05.678901Z`), to the
/// second (the fraction is dropped).
pub fn epoch_secs(ts: &Value) -> i64 {
    let s = ts.as_str().unwrap_or_else(|| panic!("not a timestamp: {ts}"));
    let num = |r: std::ops::Range<usize>| -> i64 { s[r].parse().unwrap_or_else(|_| panic!("not a timestamp: {s}")) };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19)
}

/// The shape of a JSON value: every leaf replaced by its type name, arrays by the shapes of
/// their items. Two answers of the same operation have the same shape whoever produced them.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

/// A running `custos up`, killed (SIGKILL) when dropped if it is still running, so no server
/// outlives its test.
#[derive(Debug)]
pub struct Server {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The admin token.
    pub token: String,
    /// Where the commands run (the temp dir of the data dir).
    pub root: PathBuf,
}

/// How long a server may take to say something, or to stop.
const SERVER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl Server {
    /// `custos --data-dir <dir> --json up --listen 127.0.0.1:0` in `root`. When `dir` does not
    /// exist, `up` creates it and the first line is the init JSON, returned here.
    pub fn start(root: &Path, dir: &Path, admin_token: Option<&str>) -> (Self, Option<Value>) {
        let stderr = root.join(format!(
            "up-{}.stderr",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        ));
        let mut child = custos(root)
            .arg("--data-dir")
            .arg(dir)
            .args(["--json", "up", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fs::File::create(&stderr).expect("stderr file")))
            .spawn()
            .expect("spawn custos up");
        let stdout = child.stdout.take().expect("stdout");
        let rx = crate::support::lines_of(stdout);
        let mut s =
            Self { child, lines: rx, stderr, url: String::new(), token: String::new(), root: root.to_path_buf() };
        let mut first = s.next_line();
        let init = match first.get("admin_token") {
            Some(_) => {
                let init = first;
                first = s.next_line();
                Some(init)
            }
            None => None,
        };
        s.token = match (admin_token, &init) {
            (Some(t), _) => t.to_owned(),
            (None, Some(i)) => i["admin_token"].as_str().expect("admin_token").to_owned(),
            (None, None) => panic!("an existing data dir needs its admin token"),
        };
        s.url = first["listening"].as_str().unwrap_or_else(|| panic!("not the listening line: {first}")).to_owned();
        assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
        (s, init)
    }

    /// The next line the server printed, as JSON (fails the test after a while).
    fn next_line(&mut self) -> Value {
        match self.lines.recv_timeout(SERVER_WAIT) {
            Ok(l) => {
                serde_json::from_str(&l).unwrap_or_else(|e| panic!("`custos up` printed a non-JSON line ({e}): {l}"))
            }
            Err(e) => {
                let status = self.child.try_wait().ok().flatten();
                panic!("`custos up` said nothing ({e}); status {status:?}; stderr:\n{}", self.stderr_text())
            }
        }
    }

    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `custos --server URL` with the admin token in the environment.
    pub fn cmd(&self) -> Command {
        self.cmd_with_token(Some(&self.token))
    }

    /// `custos --server URL` with this admin token (or none).
    pub fn cmd_with_token(&self, token: Option<&str>) -> Command {
        let mut c = custos(&self.root);
        c.arg("--server").arg(&self.url);
        if let Some(t) = token {
            c.env("CUSTOS_ADMIN_TOKEN", t);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out::of(self.cmd().args(args), None)
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let sent = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + SERVER_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for custos up") {
                return status.code();
            }
            assert!(std::time::Instant::now() < deadline, "`custos up` did not stop within {SERVER_WAIT:?} of SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

/// The lines a child writes to `stdout`, as they come, read on a thread of their own so a test
/// can wait on them with a timeout.
pub fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
