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

    /// A fresh data dir with `n` `tool.pinned` entries after the genesis entry, entry `i` having
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

    /// Appends one `tool.pinned` event and returns its receipt.
    pub fn append(&self, data: &str) -> Value {
        self.run(&["--json", "ledger", "append", "--kind", "tool.pinned", "--data", data]).ok().json()
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

/// `n` stdin lines of `tool.pinned` events with data `{"i": first..}`.
pub fn lines(first: u64, n: u64) -> String {
    (first..first + n).map(|i| format!("{{\"kind\":\"tool.pinned\",\"data\":{{\"i\":{i}}}}}\n")).collect()
}

/// The `data.i` of every exported entry that has one, in ledger order.
pub fn exported_is(export: &[String]) -> Vec<u64> {
    export
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).expect("entry is JSON")["data"]["i"].as_u64())
        .collect()
}
