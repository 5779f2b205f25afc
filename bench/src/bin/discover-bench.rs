//! `discover-bench`: the tree scan of `custos discover` beside Kingfisher and detect-secrets, on
//! one generated tree, in one run (see bench/README.md).
//!
//! 1. Generates (seeded, deterministic) a tree of ≥ 100,000 files and ≥ 1 GiB under `--root`:
//!    source code, JSON/YAML configs, CSVs, logs, minified JS, binary blobs, `.env` files in
//!    dot-directories, MCP client configs and agent code; plants 200 LLM keys of 21 providers in
//!    the hard places (after a CSV comma, inside binary blobs, an AWS key id alone, `.env` under a
//!    dot-dir, Latin-1 files, minified JS, …) and 80 shape-valid placeholder decoys; writes the
//!    ground truth to `manifest.json` beside the tree.
//! 2. Runs our engine (the library, or `--custos BIN`), Kingfisher and detect-secrets (on a
//!    1/50 sample subtree: it is ~0.2 MB/s), `--runs` times, and prints the medians: MB/s,
//!    files/s, recall, precision, per-provider recall, and the cached rescan's time and ratio.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

const SEED: u64 = 0x00c0_5705_d15c_0e12;
const PLANTED: usize = 200;
const DECOYS: usize = 80;
const REPOS: usize = 200;
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const HEX: &str = "0123456789abcdef";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn from(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| char::from(*a.get(self.below(a.len())).unwrap_or(&b'a'))).collect()
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
}

/// A provider: its name as reports give it, its environment variable, a key generator.
struct Provider {
    name: &'static str,
    env: &'static str,
    make: fn(&mut Rng) -> String,
}

fn mixed(r: &mut Rng, alphabet: &str, n: usize, classes: &[fn(&u8) -> bool]) -> String {
    loop {
        let s = r.from(alphabet, n);
        if classes.iter().all(|c| s.as_bytes().iter().any(c)) {
            return s;
        }
    }
}

const PROVIDERS: &[Provider] = &[
    Provider {
        name: "OpenAI",
        env: "OPENAI_API_KEY",
        make: |r| format!("sk-proj-{}T3BlbkFJ{}", r.from(URLSAFE, 74), r.from(URLSAFE, 74)),
    },
    Provider {
        name: "Anthropic",
        env: "ANTHROPIC_API_KEY",
        make: |r| format!("sk-ant-api03-{}AA", r.from(URLSAFE, 93)),
    },
    Provider { name: "Google", env: "GOOGLE_API_KEY", make: |r| format!("AIzaSy{}", r.from(URLSAFE, 33)) },
    Provider { name: "Hugging Face", env: "HF_TOKEN", make: |r| format!("hf_{}", r.from(LETTERS, 34)) },
    Provider { name: "Groq", env: "GROQ_API_KEY", make: |r| format!("gsk_{}", r.from(ALNUM, 52)) },
    Provider { name: "xAI", env: "XAI_API_KEY", make: |r| format!("xai-{}", r.from(ALNUM, 80)) },
    Provider { name: "Replicate", env: "REPLICATE_API_TOKEN", make: |r| format!("r8_{}", r.from(ALNUM, 37)) },
    Provider { name: "OpenRouter", env: "OPENROUTER_API_KEY", make: |r| format!("sk-or-v1-{}", r.from(HEX, 64)) },
    Provider {
        name: "AWS",
        env: "AWS_ACCESS_KEY_ID",
        make: |r| format!("AKIA{}", r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
    },
    Provider { name: "Perplexity", env: "PERPLEXITY_API_KEY", make: |r| format!("pplx-{}", r.from(ALNUM, 48)) },
    Provider { name: "Together AI", env: "TOGETHER_API_KEY", make: |r| format!("tgp_v1_{}", r.from(URLSAFE, 43)) },
    Provider { name: "Cerebras", env: "CEREBRAS_API_KEY", make: |r| format!("csk-{}", r.from(ALNUM, 48)) },
    Provider { name: "NVIDIA", env: "NVIDIA_API_KEY", make: |r| format!("nvapi-{}", r.from(ALNUM, 64)) },
    Provider {
        name: "LangChain",
        env: "LANGSMITH_API_KEY",
        make: |r| format!("lsv2_pt_{}_{}", r.from(HEX, 32), r.from(HEX, 10)),
    },
    Provider {
        name: "Pinecone",
        env: "PINECONE_API_KEY",
        make: |r| format!("pcsk_{}_{}", r.from(ALNUM, 5), r.from(ALNUM, 63)),
    },
    Provider { name: "Tavily", env: "TAVILY_API_KEY", make: |r| format!("tvly-{}", r.from(ALNUM, 32)) },
    Provider {
        name: "DeepSeek",
        env: "DEEPSEEK_API_KEY",
        make: |r| format!("sk-{}", mixed(r, HEX, 32, &[u8::is_ascii_digit, u8::is_ascii_alphabetic])),
    },
    Provider {
        name: "Cohere",
        env: "CO_API_KEY",
        make: |r| mixed(r, ALNUM, 40, &[u8::is_ascii_digit, u8::is_ascii_uppercase, u8::is_ascii_lowercase]),
    },
    Provider {
        name: "Mistral AI",
        env: "MISTRAL_API_KEY",
        make: |r| mixed(r, ALNUM, 32, &[u8::is_ascii_digit, u8::is_ascii_uppercase, u8::is_ascii_lowercase]),
    },
    Provider {
        name: "Microsoft Azure",
        env: "AZURE_OPENAI_API_KEY",
        make: |r| mixed(r, HEX, 32, &[u8::is_ascii_digit, u8::is_ascii_alphabetic]),
    },
    Provider { name: "ElevenLabs", env: "ELEVENLABS_API_KEY", make: |r| format!("sk_{}", r.from(HEX, 48)) },
];

const WORDS: &[&str] = &[
    "order",
    "user",
    "account",
    "invoice",
    "session",
    "request",
    "payload",
    "handler",
    "config",
    "item",
    "price",
    "amount",
    "status",
    "result",
    "client",
    "server",
    "cache",
    "queue",
    "worker",
    "batch",
    "report",
    "metric",
    "event",
    "record",
    "schema",
    "table",
    "index",
    "value",
    "count",
    "total",
    "limit",
    "offset",
    "page",
    "token_count",
    "timeout",
    "retry",
    "backoff",
    "region",
    "bucket",
    "object",
    "stream",
    "buffer",
    "parser",
    "render",
    "layout",
    "widget",
    "button",
    "dialog",
    "router",
    "service",
    "module",
    "package",
    "version",
    "release",
    "deploy",
    "build",
];

/// One generated file: relative path and bytes.
type File = (String, Vec<u8>);

fn words(r: &mut Rng, n: usize) -> String {
    (0..n).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(" ")
}

fn ident(r: &mut Rng) -> String {
    format!("{}_{}", r.pick(WORDS), r.pick(WORDS))
}

fn line_of(kind: usize, r: &mut Rng) -> String {
    match kind {
        0 => match r.below(6) {
            0 => format!("def {}({}, {}):", ident(r), ident(r), ident(r)),
            1 => format!("    {} = {}({}, {})", ident(r), ident(r), ident(r), r.below(10_000)),
            2 => format!("    # {}", words(r, 8)),
            3 => format!("    return {}.{}()", ident(r), ident(r)),
            4 => format!("from {}.{} import {}", r.pick(WORDS), r.pick(WORDS), ident(r)),
            _ => format!("    if {} > {}: {}.append({})", ident(r), r.below(500), ident(r), ident(r)),
        },
        1 => match r.below(5) {
            0 => format!("export async function {}({}: string, {}: number) {{", ident(r), ident(r), ident(r)),
            1 => format!("  const {} = await {}.{}({});", ident(r), ident(r), ident(r), ident(r)),
            2 => format!("  // {}", words(r, 7)),
            3 => "}".to_string(),
            _ => format!("  if (!{}) throw new Error(\"{}\");", ident(r), words(r, 4)),
        },
        2 => format!(
            "  \"{}\": {{\"{}\": {}, \"{}\": \"{}\"}},",
            ident(r),
            r.pick(WORDS),
            r.below(99_999),
            r.pick(WORDS),
            words(r, 3)
        ),
        3 => format!("{}:\n  {}: {}\n  {}: \"{}\"", ident(r), r.pick(WORDS), r.below(1000), r.pick(WORDS), words(r, 3)),
        4 => format!(
            "{},{},{},{}.{:02},2026-{:02}-{:02}",
            r.below(1_000_000),
            r.pick(WORDS),
            r.pick(WORDS),
            r.below(1000),
            r.below(100),
            1 + r.below(12),
            1 + r.below(28)
        ),
        5 => format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}Z {} service={} request_id={} path=/v1/{}/{} status={} dur_ms={}",
            1 + r.below(28),
            r.below(24),
            r.below(60),
            r.below(60),
            r.pick(&["INFO", "WARN", "DEBUG", "ERROR"]),
            r.pick(WORDS),
            r.from(HEX, 16),
            r.pick(WORDS),
            r.below(100_000),
            r.pick(&["200", "201", "404", "500"]),
            r.below(900)
        ),
        _ => format!(
            "function {}(a,b){{var c=a.{}(b);return c&&c.{}?c.{}:{}}};",
            r.from(LETTERS, 2),
            r.pick(WORDS),
            r.pick(WORDS),
            r.pick(WORDS),
            r.below(99)
        ),
    }
}

/// Line pools per kind: sampling from them keeps generation fast.
struct Pools(Vec<Vec<String>>);

impl Pools {
    fn new(r: &mut Rng) -> Self {
        Self((0..7).map(|k| (0..4096).map(|_| line_of(k, r)).collect()).collect())
    }
    fn fill(&self, kind: usize, r: &mut Rng, size: usize, out: &mut Vec<u8>) {
        let Some(pool) = self.0.get(kind) else { return };
        let sep: &[u8] = if kind == 6 { b"" } else { b"\n" };
        while out.len() < size {
            out.extend_from_slice(pool.get(r.below(pool.len())).map_or("", String::as_str).as_bytes());
            out.extend_from_slice(sep);
        }
        if kind == 6 {
            out.push(b'\n');
        }
    }
}

const KINDS: &[(&str, usize)] = &[
    ("src/{}.py", 0),
    ("src/{}.py", 0),
    ("web/{}.ts", 1),
    ("web/{}.js", 1),
    ("config/{}.json", 2),
    ("deploy/{}.yaml", 3),
    ("data/{}.csv", 4),
    ("logs/{}.log", 5),
    ("static/{}.min.js", 6),
];

fn filler(i: usize, r: &mut Rng, pools: &Pools) -> File {
    let repo = i % REPOS;
    let size = (512.0 * 128f64.powf((r.next() % 10_000) as f64 / 10_000.0)) as usize;
    let name = format!("{}_{i}", r.pick(WORDS));
    match i % 23 {
        // Binary blobs.
        0 => {
            let mut b = Vec::with_capacity(size);
            while b.len() < size {
                b.extend_from_slice(&r.next().to_le_bytes());
            }
            (format!("repos/r{repo:03}/assets/{name}.bin"), b)
        }
        // `.env` files in dot-directories.
        1 => (
            format!("repos/r{repo:03}/.config/{name}/.env"),
            format!("APP_ENV=production\nPORT={}\nDB_HOST=db.internal\nLOG_LEVEL=info\nFEATURE_{}=true\n", 8000 + r.below(1000), r.pick(WORDS).to_uppercase()).into_bytes(),
        ),
        // MCP client configs.
        2 => (
            format!("repos/r{repo:03}/{}/mcp.json", r.pick(&[".cursor", ".vscode", ".kiro/settings", ".gemini"])),
            format!(
                "{{\n  \"mcpServers\": {{\n    \"{}\": {{\"command\": \"npx\", \"args\": [\"-y\", \"@modelcontextprotocol/server-{}\"], \"env\": {{\"LOG_LEVEL\": \"info\"}}}}\n  }}\n}}\n",
                r.pick(WORDS), r.pick(&["filesystem", "github", "memory", "fetch"])
            )
            .into_bytes(),
        ),
        // Agent code.
        3 => {
            let mut b = format!(
                "from crewai import Agent, Task, Crew\nfrom langgraph.prebuilt import create_react_agent\n\n{} = Agent(role=\"{}\", goal=\"{}\", tools=[{}])\n",
                ident(r), r.pick(WORDS), words(r, 5), ident(r)
            )
            .into_bytes();
            pools.fill(0, r, size, &mut b);
            (format!("repos/r{repo:03}/agents/{name}.py"), b)
        }
        _ => {
            let (pattern, kind) = KINDS.get(i % KINDS.len()).copied().unwrap_or(("src/{}.py", 0));
            let mut b = Vec::with_capacity(size + 256);
            pools.fill(kind, r, size, &mut b);
            (format!("repos/r{repo:03}/{}", pattern.replace("{}", &name)), b)
        }
    }
}

/// A planted key or decoy: its file, the key's 1-based line and provider.
struct Truth {
    path: String,
    line: u32,
    provider: &'static str,
    kind: String,
}

fn lines_in(b: &[u8]) -> u32 {
    b.iter().filter(|c| **c == b'\n').count() as u32
}

/// Writes filler, then `key_line` (which may span lines before the key), then filler; returns
/// the bytes and the key's line.
fn around(pools: &Pools, kind: usize, r: &mut Rng, before: &str, key_line: &str, key: &str) -> (Vec<u8>, u32) {
    let mut b = Vec::new();
    let n = 200 + r.below(4000);
    pools.fill(kind, r, n, &mut b);
    b.extend_from_slice(before.as_bytes());
    let prefix = key_line.split(key).next().unwrap_or("");
    let line = lines_in(&b) + lines_in(prefix.as_bytes()) + 1;
    b.extend_from_slice(key_line.as_bytes());
    b.push(b'\n');
    let n = b.len() + 200 + r.below(4000);
    pools.fill(kind, r, n, &mut b);
    (b, line)
}

fn plant(i: usize, r: &mut Rng, pools: &Pools) -> Result<(File, Truth)> {
    let p = PROVIDERS.get(i % PROVIDERS.len()).context("no providers")?;
    let key = (p.make)(r);
    let env = p.env;
    let repo = (i * 7) % REPOS;
    let base = format!("repos/r{repo:03}");
    let (path, bytes, line, kind) = match i % 11 {
        0 => {
            let row = format!("{},{},{key},2026-03-{:02}", 9000 + i, env.to_lowercase(), 1 + r.below(28));
            let (b, l) = around(pools, 4, r, "", &row, &key);
            (format!("{base}/data/export_{i}.csv"), b, l, "csv after a comma")
        }
        1 => {
            let mut b = Vec::new();
            for _ in 0..(64 + r.below(512)) {
                b.extend_from_slice(&r.next().to_le_bytes());
            }
            b.extend_from_slice(b"\x00\x00");
            b.extend_from_slice(env.as_bytes());
            b.push(0);
            let line = lines_in(&b) + 1;
            b.extend_from_slice(key.as_bytes());
            b.extend_from_slice(b"\x00\x7f\xff");
            for _ in 0..(64 + r.below(512)) {
                b.extend_from_slice(&r.next().to_le_bytes());
            }
            (format!("{base}/assets/model_{i}.bin"), b, line, "inside a binary blob")
        }
        2 => {
            let text = format!("APP_ENV=production\nPORT=8080\n{env}={key}\nLOG_LEVEL=info\n");
            (format!("{base}/.config/svc_{i}/.env"), text.into_bytes(), 3, ".env under a dot-dir")
        }
        3 => {
            let text = format!("        - name: {env}\n          value: \"{key}\"");
            let (b, l) = around(pools, 3, r, "", &text, &key);
            (format!("{base}/deploy/worker_{i}.yaml"), b, l, "kubernetes env")
        }
        4 => {
            let text = format!("  \"{}\": \"{key}\",", env.to_lowercase());
            let (b, l) = around(pools, 2, r, "{\n", &text, &key);
            (format!("{base}/config/settings_{i}.json"), b, l, "json config")
        }
        5 => {
            let (b, l) = around(pools, 0, r, "", &format!("{env} = \"{key}\""), &key);
            (format!("{base}/src/client_{i}.py"), b, l, "python source")
        }
        6 => {
            let text = format!(
                "{{\n  \"mcpServers\": {{\n    \"tools\": {{\n      \"command\": \"npx\",\n      \"env\": {{\"{env}\": \"{key}\"}}\n    }}\n  }}\n}}\n"
            );
            (format!("{base}/.vscode/ws_{i}/mcp.json"), text.into_bytes(), 5, "mcp config")
        }
        7 => {
            let text = format!("2026-11-03T08:00:00Z DEBUG service=gateway loaded {env}={key} from environment");
            let (b, l) = around(pools, 5, r, "", &text, &key);
            (format!("{base}/logs/boot_{i}.log"), b, l, "log line")
        }
        8 => {
            let text = format!("var cfg={{{}:\"{key}\",retries:3}};", env.to_lowercase());
            let (b, l) = around(pools, 6, r, "", &text, &key);
            (format!("{base}/static/bundle_{i}.min.js"), b, l, "minified js")
        }
        9 => {
            let mut b = b"# Configuraci\xf3n del servicio \xe0 la carte\n\xa9 2026 caf\xe9\n".to_vec();
            b.extend_from_slice(format!("{env}={key}\n").as_bytes());
            b.extend_from_slice(b"r\xe9sum\xe9=oui\n");
            (format!("{base}/conf/legacy_{i}.properties"), b, 3, "latin-1 file")
        }
        _ => {
            let text = format!("export {env}={key}");
            let (b, l) = around(pools, 0, r, "#!/bin/sh\n", &text, &key);
            (format!("{base}/scripts/run_{i}.sh"), b, l, "shell script")
        }
    };
    Ok(((path.clone(), bytes), Truth { path, line, provider: p.name, kind: kind.into() }))
}

fn decoy(i: usize, r: &mut Rng, pools: &Pools) -> (File, Truth) {
    let repo = (i * 13 + 5) % REPOS;
    let base = format!("repos/r{repo:03}");
    let (provider, env, value, marker): (&'static str, &str, String, &str) = match i % 10 {
        0 => ("Anthropic", "ANTHROPIC_API_KEY", format!("sk-ant-api03-{}AA", "X".repeat(93)), "all-X"),
        1 => ("Groq", "GROQ_API_KEY", format!("gsk_{}", "0".repeat(52)), "all-zero"),
        2 => (
            "AWS",
            "AWS_ACCESS_KEY_ID",
            format!("AKIA{}EXAMPLE", r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 9)),
            "EXAMPLE",
        ),
        3 => ("Hugging Face", "HF_TOKEN", "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH".to_string(), "sequential"),
        4 => (
            "Perplexity",
            "PERPLEXITY_API_KEY",
            format!("pplx-{}", "YourApiKeyHere".repeat(4).get(..48).unwrap_or_default()),
            "your-api-key",
        ),
        5 => ("Cerebras", "CEREBRAS_API_KEY", format!("csk-{}", "x".repeat(48)), "xxxx"),
        6 => ("Together AI", "TOGETHER_API_KEY", format!("tgp_v1_{}", r.from(URLSAFE, 43)), "doc example block"),
        7 => ("Groq", "GROQ_API_KEY", format!("gsk_{}", r.from(ALNUM, 52)), "e.g. marker"),
        8 => ("OpenAI", "OPENAI_API_KEY", format!("sk-proj-{}T3BlbkFJ{}", "X".repeat(74), "X".repeat(74)), "all-X"),
        _ => (
            "Replicate",
            "REPLICATE_API_TOKEN",
            format!("r8_{}", "aB3".repeat(13).get(..37).unwrap_or_default()),
            "repeated unit",
        ),
    };
    let (path, bytes, line) = match i % 10 {
        6 => {
            let text = format!("## Configure\n\nExample:\n\n```sh\nexport {env}={value}\n```\n");
            let (b, l) = around(pools, 0, r, "", &text, &value);
            (format!("{base}/docs/setup_{i}.md"), b, l)
        }
        7 => {
            let text = format!("# e.g. {env}={value}");
            let (b, l) = around(pools, 0, r, "", &text, &value);
            (format!("{base}/docs/notes_{i}.py"), b, l)
        }
        k if k % 2 == 0 => {
            (format!("{base}/.config/tmpl_{i}/.env.sample"), format!("APP_ENV=dev\n{env}={value}\n").into_bytes(), 2)
        }
        _ => {
            let (b, l) = around(pools, 2, r, "{\n", &format!("  \"{}\": \"{value}\",", env.to_lowercase()), &value);
            (format!("{base}/config/template_{i}.json"), b, l)
        }
    };
    ((path.clone(), bytes), Truth { path, line, provider, kind: marker.into() })
}

fn generate(root: &Path, files: usize, min_bytes: u64) -> Result<()> {
    let mut r = Rng(SEED);
    let pools = Pools::new(&mut r);
    let mut planted = Vec::new();
    let mut decoys = Vec::new();
    let mut total = 0u64;
    let mut count = 0usize;
    let write = |rel: &str, bytes: &[u8], total: &mut u64, count: &mut usize| -> Result<()> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        *total += bytes.len() as u64;
        *count += 1;
        Ok(())
    };
    for i in 0..PLANTED {
        let ((path, bytes), truth) = plant(i, &mut r, &pools)?;
        write(&path, &bytes, &mut total, &mut count)?;
        planted.push(truth);
    }
    for i in 0..DECOYS {
        let ((path, bytes), truth) = decoy(i, &mut r, &pools);
        write(&path, &bytes, &mut total, &mut count)?;
        decoys.push(truth);
    }
    let mut i = 0;
    while count < files || total < min_bytes {
        let (path, bytes) = filler(i, &mut r, &pools);
        write(&path, &bytes, &mut total, &mut count)?;
        i += 1;
    }
    let as_json = |t: &Vec<Truth>| -> Vec<Value> {
        t.iter().map(|t| json!({"path": t.path, "line": t.line, "provider": t.provider, "kind": t.kind})).collect()
    };
    let manifest =
        json!({"seed": SEED, "files": count, "bytes": total, "planted": as_json(&planted), "decoys": as_json(&decoys)});
    fs::write(manifest_path(root), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

fn manifest_path(root: &Path) -> PathBuf {
    root.with_extension("manifest.json")
}

/// Reported locations: (path relative to the root, line) → provider.
type Found = BTreeMap<(String, u32), String>;

struct Score {
    recall: f64,
    precision: f64,
    tp: usize,
    reported: usize,
    decoys_hit: usize,
    per_provider: BTreeMap<String, (usize, usize)>,
}

fn score(found: &Found, planted: &[(String, u32, String)], decoys: &BTreeSet<(String, u32)>) -> Score {
    let mut per_provider: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut tp = 0;
    for (path, line, provider) in planted {
        let hit = found.contains_key(&(path.clone(), *line));
        let e = per_provider.entry(provider.clone()).or_default();
        e.1 += 1;
        if hit {
            e.0 += 1;
            tp += 1;
        }
    }
    let decoys_hit = found.keys().filter(|k| decoys.contains(*k)).count();
    let reported = found.len();
    Score {
        recall: tp as f64 / planted.len().max(1) as f64,
        precision: if reported == 0 { 1.0 } else { tp as f64 / reported as f64 },
        tp,
        reported,
        decoys_hit,
        per_provider,
    }
}

fn rel(root: &Path, p: &str) -> String {
    let path = Path::new(p);
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().trim_start_matches("./").to_string()
}

/// One scan by custos. With `--custos BIN` it is the CLI (`BIN --data-dir D discover ROOT`),
/// every analyzer included, its cache in `D/discover-cache`; otherwise the library: `run` with
/// every analyzer, or with `--no-analyzers` the bare credential scan (`scan_tree`).
fn run_ours(root: &Path, data: &Path, threads: usize, custos: Option<&Path>, analyzers: bool) -> Result<Ours> {
    let start = Instant::now();
    let mut found = Found::new();
    match custos {
        Some(bin) => {
            let out = data.with_extension("report.json");
            let status = Command::new(bin)
                .arg("--data-dir")
                .arg(data)
                .arg("discover")
                .arg(root)
                .args(["--format", "json", "-o"])
                .arg(&out)
                .status()?;
            if !matches!(status.code(), Some(0 | 2)) {
                bail!("custos discover failed: {status}");
            }
            let secs = start.elapsed().as_secs_f64();
            let report: Value = serde_json::from_slice(&fs::read(&out)?)?;
            for c in report.pointer("/credentials").and_then(Value::as_array).into_iter().flatten() {
                let path = rel(root, c.pointer("/location/path").and_then(Value::as_str).unwrap_or(""));
                let line = c.pointer("/location/line").and_then(Value::as_u64).unwrap_or(0) as u32;
                found.insert((path, line), c.pointer("/provider").and_then(Value::as_str).unwrap_or("").to_string());
            }
            let stat = |k: &str| report.pointer(&format!("/stats/{k}")).and_then(Value::as_u64).unwrap_or(0);
            for w in report.pointer("/stats/warnings").and_then(Value::as_array).into_iter().flatten() {
                eprintln!("custos warning: {w}");
            }
            let count = |k: &str| report.get(k).and_then(Value::as_array).map_or(0, Vec::len);
            Ok(Ours {
                secs,
                found,
                files_read: stat("files_read"),
                files_cached: stat("files_cached"),
                agents: count("agents"),
                servers: count("servers"),
                traffic: count("traffic"),
            })
        }
        None => {
            let key = custos_discover::FingerprintKey::new(b"discover-bench".to_vec());
            let cache_dir = data.join("discover-cache");
            let (creds, files_read, files_cached, agents, servers, traffic, warnings) = if analyzers {
                let plan = custos_discover::Plan {
                    paths: vec![root.to_path_buf()],
                    max_file_size: custos_discover::DEFAULT_MAX_FILE_SIZE,
                    cache_dir: Some(cache_dir),
                    threads,
                    ..custos_discover::Plan::default()
                };
                let (report, stats) =
                    custos_discover::run(&plan, &custos_discover::Catalogues::builtin(), &key, &|_| {});
                (
                    report.credentials,
                    stats.files_read,
                    stats.files_cached,
                    report.agents.len(),
                    report.servers.len(),
                    report.traffic.len(),
                    stats.warnings,
                )
            } else {
                let mut opts = custos_discover::TreeOptions::new(vec![root.to_path_buf()], key);
                opts.threads = threads;
                opts.cache_dir = Some(cache_dir);
                let scan = custos_discover::scan_tree(&opts, &custos_discover::NoAnalyzer, &|_| {});
                (scan.credentials, scan.files_read, scan.files_cached, 0, 0, 0, scan.warnings)
            };
            let secs = start.elapsed().as_secs_f64();
            for c in creds {
                let path = rel(root, &c.location.path.to_string_lossy());
                found.insert((path, c.location.line.unwrap_or(0)), c.provider);
            }
            if !warnings.is_empty() {
                eprintln!("warnings: {warnings:?}");
            }
            Ok(Ours { secs, found, files_read, files_cached, agents, servers, traffic })
        }
    }
}

struct Ours {
    secs: f64,
    found: Found,
    files_read: u64,
    files_cached: u64,
    agents: usize,
    servers: usize,
    traffic: usize,
}

fn run_kingfisher(bin: &Path, root: &Path, out: &Path, threads: usize) -> Result<(f64, Found)> {
    let start = Instant::now();
    let status = Command::new(bin)
        .args(["scan"])
        .arg(root)
        .args([
            "--no-validate",
            "--no-dedup",
            "--no-update-check",
            "--format",
            "jsonl",
            "-j",
            &threads.to_string(),
            "-o",
        ])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    let secs = start.elapsed().as_secs_f64();
    if !matches!(status.code(), Some(0 | 200 | 205 | 1)) {
        eprintln!("kingfisher exited with {status}");
    }
    let mut found = Found::new();
    for line in fs::read_to_string(out)?.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let items: Vec<&Value> = match v.get("findings") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => vec![&v],
        };
        for item in items {
            let path = item.pointer("/finding/path").and_then(Value::as_str);
            let line = item.pointer("/finding/line").and_then(Value::as_u64);
            if let (Some(path), Some(l)) = (path, line) {
                found.insert(
                    (rel(root, path), l as u32),
                    item.pointer("/rule/id").and_then(Value::as_str).unwrap_or("").to_string(),
                );
            }
        }
    }
    Ok((secs, found))
}

fn run_detect_secrets(bin: &Path, sample: &Path) -> Result<(f64, Found)> {
    let start = Instant::now();
    let out = Command::new(bin).current_dir(sample).args(["scan", "--all-files", "."]).output()?;
    let secs = start.elapsed().as_secs_f64();
    let v: Value = serde_json::from_slice(&out.stdout).context("detect-secrets output")?;
    let mut found = Found::new();
    for (path, hits) in v.pointer("/results").and_then(Value::as_object).into_iter().flatten() {
        for h in hits.as_array().into_iter().flatten() {
            let line = h.pointer("/line_number").and_then(Value::as_u64).unwrap_or(0) as u32;
            found.insert(
                (rel(sample, path), line),
                h.pointer("/type").and_then(Value::as_str).unwrap_or("").to_string(),
            );
        }
    }
    Ok((secs, found))
}

/// The detect-secrets sample: every planted and decoy file, and one filler file in `every`,
/// hard-linked under `sample` at the same relative paths.
fn make_sample(root: &Path, sample: &Path, keep: &BTreeSet<String>, every: usize) -> Result<(u64, u64)> {
    let _ = fs::remove_dir_all(sample);
    let mut files = Vec::new();
    collect(root, root, &mut files)?;
    files.sort();
    let (mut n, mut bytes) = (0u64, 0u64);
    for (i, relpath) in files.iter().enumerate() {
        if keep.contains(relpath) || i % every == 0 {
            let dst = sample.join(relpath);
            if let Some(p) = dst.parent() {
                fs::create_dir_all(p)?;
            }
            fs::hard_link(root.join(relpath), &dst)?;
            n += 1;
            bytes += fs::metadata(&dst)?.len();
        }
    }
    Ok((n, bytes))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            collect(root, &e.path(), out)?;
        } else if t.is_file() {
            out.push(rel(root, &e.path().to_string_lossy()));
        }
    }
    Ok(())
}

/// MB/s with two decimals below 10, so a slow tool does not show as 0.
fn rate(x: f64) -> String {
    if x < 10.0 { format!("{x:.2}") } else { format!("{x:.0}") }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Args {
    root: PathBuf,
    files: usize,
    bytes: u64,
    runs: usize,
    ds_runs: usize,
    threads: usize,
    regen: bool,
    custos: Option<PathBuf>,
    analyzers: bool,
    creds_only_too: bool,
    home: bool,
    home_only: bool,
    home_runs: usize,
    kingfisher: Option<PathBuf>,
    detect_secrets: Option<PathBuf>,
    sample_every: usize,
}

fn args() -> Result<Args> {
    let venv = PathBuf::from("/var/tmp/disc-bench-venv/bin");
    let mut a = Args {
        root: PathBuf::from("/var/tmp/custos-discover-tree"),
        files: 100_000,
        bytes: 1 << 30,
        runs: 3,
        ds_runs: 1,
        threads: 2,
        regen: false,
        custos: None,
        analyzers: true,
        creds_only_too: false,
        home: false,
        home_only: false,
        home_runs: 7,
        kingfisher: Some(venv.join("kingfisher")).filter(|p| p.exists()),
        detect_secrets: Some(venv.join("detect-secrets")).filter(|p| p.exists()),
        sample_every: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().context("missing value");
        match flag.as_str() {
            "--root" => a.root = val()?.into(),
            "--files" => a.files = val()?.parse()?,
            "--bytes" => a.bytes = val()?.parse()?,
            "--runs" => a.runs = val()?.parse()?,
            "--ds-runs" => a.ds_runs = val()?.parse()?,
            "--threads" => a.threads = val()?.parse()?,
            "--regen" => a.regen = true,
            "--custos" => a.custos = Some(val()?.into()),
            "--no-analyzers" => a.analyzers = false,
            "--creds-only-too" => a.creds_only_too = true,
            "--home" => a.home = true,
            "--home-only" => {
                a.home = true;
                a.home_only = true;
            }
            "--home-runs" => a.home_runs = val()?.parse()?,
            "--kingfisher" => a.kingfisher = Some(val()?.into()),
            "--detect-secrets" => a.detect_secrets = Some(val()?.into()),
            "--no-kingfisher" => a.kingfisher = None,
            "--no-detect-secrets" => a.detect_secrets = None,
            "--sample-every" => a.sample_every = val()?.parse()?,
            "--quick" => {
                a.files = 10_000;
                a.bytes = 100 << 20;
                a.runs = 1;
            }
            other => bail!("unknown option `{other}` (see bench/README.md)"),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    let a = args()?;
    let manifest = manifest_path(&a.root);
    if a.regen || !manifest.exists() {
        let _ = fs::remove_dir_all(&a.root);
        eprintln!("generating {} files, ≥ {} bytes under {} …", a.files, a.bytes, a.root.display());
        let t = Instant::now();
        generate(&a.root, a.files, a.bytes)?;
        eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
    }
    let m: Value = serde_json::from_slice(&fs::read(&manifest)?)?;
    let total_files = m.pointer("/files").and_then(Value::as_u64).unwrap_or(0);
    let total_bytes = m.pointer("/bytes").and_then(Value::as_u64).unwrap_or(0);
    let truth = |k: &str| -> Vec<(String, u32, String)> {
        m.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t.pointer("/path").and_then(Value::as_str).unwrap_or("").to_string(),
                    t.pointer("/line").and_then(Value::as_u64).unwrap_or(0) as u32,
                    t.pointer("/provider").and_then(Value::as_str).unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let planted = truth("planted");
    let decoys: BTreeSet<(String, u32)> = truth("decoys").into_iter().map(|(p, l, _)| (p, l)).collect();
    let providers: BTreeSet<&str> = planted.iter().map(|t| t.2.as_str()).collect();
    println!(
        "tree: {} files, {:.1} MB ({:.2} GiB), {} planted keys of {} providers, {} decoys; {} threads, {} runs (medians)",
        total_files,
        total_bytes as f64 / 1e6,
        total_bytes as f64 / (1u64 << 30) as f64,
        planted.len(),
        providers.len(),
        decoys.len(),
        a.threads,
        a.runs
    );
    let work = a.root.with_extension("work");
    fs::create_dir_all(&work)?;
    if a.home_only {
        return bench_home(&a, &work);
    }
    let mb = |secs: f64, bytes: u64| bytes as f64 / 1e6 / secs;

    // Ours: a cold scan (fresh cache), then a rescan with the cache.
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut ours_found = Found::new();
    let mut last_cold: Option<Ours> = None;
    for run in 0..a.runs {
        let data = work.join("custos-data");
        let _ = fs::remove_dir_all(&data);
        fs::create_dir_all(&data)?;
        if let Some(bin) = &a.custos {
            // A data dir, so that the CLI keeps its cache (`discover-cache`) and a stable key.
            let _ = fs::remove_dir(&data);
            let out = Command::new(bin).arg("--data-dir").arg(&data).arg("init").output()?;
            if !out.status.success() {
                bail!("custos init failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let c = run_ours(&a.root, &data, a.threads, a.custos.as_deref(), a.analyzers)?;
        let w = run_ours(&a.root, &data, a.threads, a.custos.as_deref(), a.analyzers)?;
        if w.found != c.found {
            eprintln!("warning: the cached rescan's findings differ from the cold scan's");
        }
        if w.files_read != 0 {
            eprintln!("warning: the cached rescan read {} files (expected none)", w.files_read);
        }
        eprintln!(
            "run {}: custos cold {:.2} s (read {} files), cached {:.3} s (read {}, cached {})",
            run + 1,
            c.secs,
            c.files_read,
            w.secs,
            w.files_read,
            w.files_cached
        );
        cold.push(c.secs);
        warm.push(w.secs);
        ours_found = c.found.clone();
        last_cold = Some(c);
    }
    if let Some(c) = &last_cold {
        println!(
            "custos ({}) also found {} agents, {} MCP servers, {} traffic findings; cold scan read {} files, {} from the cache",
            match (&a.custos, a.analyzers) {
                (Some(_), _) => "CLI, every analyzer",
                (None, true) => "library run(), every analyzer",
                (None, false) => "library scan_tree, no analyzer",
            },
            c.agents,
            c.servers,
            c.traffic,
            c.files_read,
            c.files_cached
        );
    }
    let ours = score(&ours_found, &planted, &decoys);

    // The credential scan alone (library, no analyzer), the same work Kingfisher does.
    let mut creds_only: Option<(f64, f64, Score)> = None;
    if a.creds_only_too {
        let (mut c_cold, mut c_warm, mut c_found) = (Vec::new(), Vec::new(), Found::new());
        for run in 0..a.runs {
            let data = work.join("custos-lib-data");
            let _ = fs::remove_dir_all(&data);
            fs::create_dir_all(&data)?;
            let c = run_ours(&a.root, &data, a.threads, None, false)?;
            let w = run_ours(&a.root, &data, a.threads, None, false)?;
            eprintln!("run {}: custos credentials only cold {:.2} s, cached {:.3} s", run + 1, c.secs, w.secs);
            c_cold.push(c.secs);
            c_warm.push(w.secs);
            c_found = c.found;
        }
        creds_only = Some((median(c_cold), median(c_warm), score(&c_found, &planted, &decoys)));
    }

    let mut kf: Option<(f64, Score)> = None;
    if let Some(bin) = &a.kingfisher {
        let mut times = Vec::new();
        let mut last = Found::new();
        for run in 0..a.runs {
            let (secs, found) = run_kingfisher(bin, &a.root, &work.join("kingfisher.jsonl"), a.threads)?;
            eprintln!("run {}: kingfisher {secs:.2} s", run + 1);
            times.push(secs);
            last = found;
        }
        kf = Some((median(times), score(&last, &planted, &decoys)));
    }

    let mut ds: Option<(f64, Score, u64, u64)> = None;
    if let Some(bin) = &a.detect_secrets {
        let sample = a.root.with_extension("ds-sample");
        let keep: BTreeSet<String> =
            planted.iter().map(|t| t.0.clone()).chain(decoys.iter().map(|d| d.0.clone())).collect();
        let (n, bytes) = make_sample(&a.root, &sample, &keep, a.sample_every)?;
        let mut times = Vec::new();
        let mut last = Found::new();
        for run in 0..a.ds_runs {
            let (secs, found) = run_detect_secrets(bin, &sample)?;
            eprintln!("run {}: detect-secrets {secs:.1} s on the sample", run + 1);
            times.push(secs);
            last = found;
        }
        ds = Some((median(times), score(&last, &planted, &decoys), n, bytes));
    }

    let cold_m = median(cold);
    let warm_m = median(warm);
    println!();
    println!("| tool | files | MB | time s | MB/s | files/s | recall | precision | reported | decoys reported |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, files: u64, bytes: u64, secs: f64, s: &Score| {
        println!(
            "| {name} | {files} | {:.0} | {secs:.2} | {} | {:.0} | {:.3} ({}/{}) | {:.3} | {} | {} |",
            bytes as f64 / 1e6,
            rate(mb(secs, bytes)),
            files as f64 / secs,
            s.recall,
            s.tp,
            planted.len(),
            s.precision,
            s.reported,
            s.decoys_hit
        );
    };
    let label = match (&a.custos, a.analyzers) {
        (Some(_), _) => "custos CLI, every source",
        (None, true) => "custos library run(), every source",
        (None, false) => "custos library, credentials only",
    };
    row(&format!("{label} (cold, cache written)"), total_files, total_bytes, cold_m, &ours);
    println!(
        "| {label} (cached rescan) | {total_files} | {:.0} | {warm_m:.3} | {:.0} | {:.0} | = | = | = | = |",
        total_bytes as f64 / 1e6,
        mb(warm_m, total_bytes),
        total_files as f64 / warm_m
    );
    if let Some((cold, warm, s)) = &creds_only {
        row("custos credentials only (library, no analyzer; cold)", total_files, total_bytes, *cold, s);
        println!(
            "| custos credentials only (cached rescan) | {total_files} | {:.0} | {warm:.3} | {:.0} | {:.0} | = | = | = | = |",
            total_bytes as f64 / 1e6,
            mb(*warm, total_bytes),
            total_files as f64 / warm
        );
    }
    if let Some((secs, s)) = &kf {
        row("Kingfisher 2.14 (--no-validate)", total_files, total_bytes, *secs, s);
    }
    if let Some((secs, s, n, bytes)) = &ds {
        // Recall over the planted keys, all of which are in the sample.
        row(
            &format!("detect-secrets 1.5 (1/{} sample + all planted/decoy files)", a.sample_every),
            *n,
            *bytes,
            *secs,
            s,
        );
    }
    println!();
    println!("cached rescan: {warm_m:.3} s vs cold {cold_m:.2} s: {:.1}x faster", cold_m / warm_m);
    if let Some((secs, _)) = &kf {
        println!("custos vs Kingfisher: {:.2}x the throughput", secs / cold_m);
        if let Some((cold, warm, _)) = &creds_only {
            println!(
                "custos credentials only vs Kingfisher: {:.2}x the throughput (its cached rescan {:.1}x faster than its cold scan)",
                secs / cold,
                cold / warm
            );
        }
    }
    println!();
    println!("per-provider recall (planted keys found / planted):");
    print!("| provider |");
    let mut header = vec!["custos"];
    if kf.is_some() {
        header.push("Kingfisher");
    }
    if ds.is_some() {
        header.push("detect-secrets");
    }
    println!(" {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len()));
    for (p, (hit, all)) in &ours.per_provider {
        let mut cells = vec![format!("{hit}/{all}")];
        if let Some((_, s)) = &kf {
            let (h, a) = s.per_provider.get(p).copied().unwrap_or_default();
            cells.push(format!("{h}/{a}"));
        }
        if let Some((_, s, _, _)) = &ds {
            let (h, a) = s.per_provider.get(p).copied().unwrap_or_default();
            cells.push(format!("{h}/{a}"));
        }
        println!("| {p} | {} |", cells.join(" | "));
    }
    let missed: Vec<_> = planted.iter().filter(|t| !ours_found.contains_key(&(t.0.clone(), t.1))).collect();
    for t in missed.iter().take(10) {
        eprintln!("custos missed: {} line {} ({})", t.0, t.1, t.2);
    }
    let extra: Vec<_> = ours_found.keys().filter(|k| !planted.iter().any(|t| t.0 == k.0 && t.1 == k.1)).collect();
    for k in extra.iter().take(10) {
        eprintln!("custos extra: {} line {}", k.0, k.1);
    }
    if a.home {
        bench_home(&a, &work)?;
    }
    std::io::stdout().flush()?;
    Ok(())
}

/// The 16 agent clients of the `--home` measurement: their ids in `clients.toml`.
const HOME_CLIENTS: [&str; 16] = [
    "claude-desktop",
    "claude-code",
    "cursor",
    "vscode",
    "windsurf",
    "gemini-cli",
    "kiro",
    "codex",
    "opencode",
    "amazon-q",
    "copilot-cli",
    "cline",
    "zed",
    "lm-studio",
    "continue",
    "goose",
];

/// A server of a synthetic config: name, argv, environment (names and non-secret values), or a URL.
struct HomeServer {
    name: &'static str,
    argv: Vec<String>,
    env: Vec<(&'static str, String)>,
    url: Option<&'static str>,
}

fn home_servers(r: &mut Rng, n: usize) -> Vec<HomeServer> {
    let all = [
        (
            "filesystem",
            vec!["npx", "-y", "@modelcontextprotocol/server-filesystem", "/home/dev/projects"],
            vec![],
            None,
        ),
        (
            "github",
            vec!["docker", "run", "-i", "--rm", "ghcr.io/github/github-mcp-server"],
            vec!["GITHUB_PERSONAL_ACCESS_TOKEN"],
            None,
        ),
        (
            "postgres",
            vec!["npx", "-y", "@modelcontextprotocol/server-postgres", "postgresql://localhost/app"],
            vec![],
            None,
        ),
        ("linear", vec![], vec![], Some("https://mcp.linear.app/sse")),
        ("sentry", vec!["uvx", "mcp-server-sentry"], vec!["SENTRY_AUTH_TOKEN"], None),
        ("memory", vec!["npx", "-y", "@modelcontextprotocol/server-memory"], vec![], None),
        ("fetch", vec!["uvx", "mcp-server-fetch"], vec![], None),
        ("context7", vec![], vec![], Some("https://mcp.context7.com/mcp")),
    ];
    let start = r.below(all.len());
    (0..n)
        .filter_map(|i| all.get((start + i) % all.len()))
        .map(|(name, argv, env, url)| HomeServer {
            name,
            argv: argv.iter().map(|s| (*s).to_string()).collect(),
            // A reference to the user's environment, as configs hold them: not a secret.
            env: env.iter().map(|k| (*k, format!("${{{k}}}"))).collect(),
            url: *url,
        })
        .collect()
}

/// The server map of one client, as that client writes it.
fn server_map(client: &str, servers: &[HomeServer]) -> Value {
    let mut map = serde_json::Map::new();
    for s in servers {
        let env: serde_json::Map<String, Value> = s.env.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect();
        let (cmd, args) = s.argv.split_first().map_or((String::new(), &[][..]), |(c, a)| (c.clone(), a));
        let entry = match (client, s.url) {
            ("opencode", Some(url)) => json!({"type": "remote", "url": url, "enabled": true}),
            ("opencode", None) => json!({"type": "local", "command": s.argv, "environment": env, "enabled": true}),
            ("zed", Some(url)) => json!({"source": "custom", "url": url}),
            ("zed", None) => json!({"source": "custom", "command": cmd, "args": args, "env": env}),
            ("vscode", Some(url)) => json!({"type": "http", "url": url}),
            ("vscode", None) => json!({"type": "stdio", "command": cmd, "args": args, "env": env}),
            ("goose", Some(url)) => {
                json!({"name": s.name, "type": "streamable_http", "uri": url, "enabled": true, "timeout": 300})
            }
            ("goose", None) => json!({"name": s.name, "type": "stdio", "cmd": cmd, "args": args, "envs": env,
                "enabled": true, "timeout": 300}),
            ("windsurf" | "gemini-cli", Some(url)) => json!({"serverUrl": url}),
            (_, Some(url)) => json!({"url": url}),
            (_, None) if env.is_empty() => json!({"command": cmd, "args": args}),
            (_, None) => json!({"command": cmd, "args": args, "env": env}),
        };
        map.insert(s.name.to_string(), entry);
    }
    Value::Object(map)
}

/// Writes a home with the configs of [`HOME_CLIENTS`] (1–3 servers each, at each client's first
/// Linux user path in the built-in catalogue, beside ordinary settings), and returns the number
/// of servers per client.
fn make_home(home: &Path) -> Result<BTreeMap<String, usize>> {
    let _ = fs::remove_dir_all(home);
    let cat = custos_discover::Catalogue::builtin();
    let mut r = Rng(SEED ^ 0x004f_4d45);
    let mut planted = BTreeMap::new();
    for id in HOME_CLIENTS {
        let client = cat.client(id).with_context(|| format!("`{id}` is not in clients.toml"))?;
        let group = client
            .config
            .iter()
            .find(|g| g.scope == custos_discover::Scope::User)
            .with_context(|| format!("`{id}` has no user config"))?;
        let path = group.paths.linux.iter().find(|p| !p.contains('*')).context("no plain path")?;
        let key = group.keys.first().context("no key")?;
        let format = group.format.unwrap_or(client.format);
        let n = 1 + r.below(3);
        let servers = home_servers(&mut r, n);
        let map = server_map(id, &servers);
        let goose = id == "goose";
        // Nest the map under its JSON pointer, beside settings a real file holds.
        let mut doc = if goose || matches!(format, custos_discover::Format::Yaml) {
            serde_json::Map::new()
        } else {
            let mut m = serde_json::Map::new();
            m.insert("theme".into(), json!("dark"));
            m.insert("telemetry".into(), json!({"enabled": false}));
            m
        };
        let segs: Vec<String> = key.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
        let mut value = if goose {
            // Goose keeps its extensions as a map of name → entry with the name inside.
            map
        } else if id == "continue" {
            // Continue's config.yaml lists its servers, each with a `name`.
            Value::Array(
                map.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(n, e)| {
                        let mut o = serde_json::Map::new();
                        o.insert("name".into(), json!(n));
                        o.extend(e.as_object().cloned().unwrap_or_default());
                        Value::Object(o)
                    })
                    .collect(),
            )
        } else {
            map
        };
        for seg in segs.iter().skip(1).rev() {
            value = json!({ seg.as_str(): value });
        }
        if let Some(first) = segs.first() {
            doc.insert(first.clone(), value);
        }
        let text = match format {
            custos_discover::Format::Toml => toml_of(&Value::Object(doc)),
            custos_discover::Format::Yaml => yaml_of(&Value::Object(doc), 0),
            custos_discover::Format::Jsonc => {
                format!("// {} settings\n{}\n", client.name, serde_json::to_string_pretty(&doc)?)
            }
            _ => serde_json::to_string_pretty(&doc)?,
        };
        let file = home.join(path.trim_start_matches("~/"));
        if let Some(p) = file.parent() {
            fs::create_dir_all(p)?;
        }
        fs::write(&file, text)?;
        planted.insert(id.to_string(), servers.len());
    }
    Ok(planted)
}

/// Enough TOML for a server map: tables of strings, arrays of strings and booleans.
fn toml_of(v: &Value) -> String {
    fn table(prefix: &str, map: &serde_json::Map<String, Value>, out: &mut String) {
        let mut subs = Vec::new();
        if !prefix.is_empty() && map.values().any(|v| !v.is_object()) {
            out.push_str(&format!("\n[{prefix}]\n"));
        }
        for (k, v) in map {
            match v {
                Value::Object(m) => subs.push((k, m)),
                other => out.push_str(&format!("{k} = {other}\n")),
            }
        }
        for (k, m) in subs {
            let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            table(&name, m, out);
        }
    }
    let mut out = String::from("model = \"o4-mini\"\n");
    if let Some(m) = v.as_object() {
        table("", m, &mut out);
    }
    out
}

/// Enough YAML for a server map (JSON strings are valid YAML scalars).
fn yaml_of(v: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::Object(o) if o.is_empty() => out.push_str(&format!("{pad}{k}: {{}}\n")),
                    Value::Array(a) if a.is_empty() => out.push_str(&format!("{pad}{k}: []\n")),
                    Value::Object(_) | Value::Array(_) => {
                        out.push_str(&format!("{pad}{k}:\n{}", yaml_of(v, indent + 2)));
                    }
                    other => out.push_str(&format!("{pad}{k}: {other}\n")),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let inner = yaml_of(item, indent + 2);
                let inner = inner.trim_start();
                out.push_str(&format!("{pad}- {inner}"));
            }
        }
        other => out.push_str(&format!("{pad}{other}\n")),
    }
    out
}

/// One `discover --home` run: seconds, and the servers found per client.
fn run_home(bin: Option<&Path>, data: &Path, home: &Path) -> Result<(f64, BTreeMap<String, usize>)> {
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    let start = Instant::now();
    let servers: Vec<(String, String)> = match bin {
        Some(bin) => {
            let out = data.with_extension("home.json");
            let status = Command::new(bin)
                .arg("--data-dir")
                .arg(data)
                .arg("discover")
                .arg("--home")
                .arg(home)
                .args(["--format", "json", "-o"])
                .arg(&out)
                .status()?;
            if !matches!(status.code(), Some(0 | 2)) {
                bail!("custos discover --home failed: {status}");
            }
            let secs = start.elapsed().as_secs_f64();
            let report: Value = serde_json::from_slice(&fs::read(&out)?)?;
            for s in report.pointer("/servers").and_then(Value::as_array).into_iter().flatten() {
                let client = s.pointer("/client").and_then(Value::as_str).unwrap_or("").to_string();
                *found.entry(client).or_default() += 1;
            }
            return Ok((secs, found));
        }
        None => {
            let key = custos_discover::FingerprintKey::new(b"discover-bench".to_vec());
            let plan = custos_discover::Plan { home: Some(home.to_path_buf()), ..custos_discover::Plan::default() };
            let (report, _) = custos_discover::run(&plan, &custos_discover::Catalogues::builtin(), &key, &|_| {});
            report.servers.into_iter().map(|s| (s.client, s.name)).collect()
        }
    };
    let secs = start.elapsed().as_secs_f64();
    for (client, _) in servers {
        *found.entry(client).or_default() += 1;
    }
    Ok((secs, found))
}

/// The `--home` measurement: a synthetic home with 16 clients' configs, `runs` scans, the median.
fn bench_home(a: &Args, work: &Path) -> Result<()> {
    let home = a.root.with_extension("home");
    let planted = make_home(&home)?;
    let data = work.join("custos-home-data");
    let _ = fs::remove_dir_all(&data);
    if let Some(bin) = &a.custos {
        let out = Command::new(bin).arg("--data-dir").arg(&data).arg("init").output()?;
        if !out.status.success() {
            bail!("custos init failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let mut times = Vec::new();
    let mut found = BTreeMap::new();
    for _ in 0..a.home_runs.max(1) {
        let (secs, f) = run_home(a.custos.as_deref(), &data, &home)?;
        times.push(secs);
        found = f;
    }
    let clients = planted.keys().filter(|c| found.contains_key(*c)).count();
    let servers_planted: usize = planted.values().sum();
    let servers_found: usize = planted.iter().map(|(c, n)| found.get(c).copied().unwrap_or(0).min(*n)).sum();
    for (c, n) in &planted {
        let got = found.get(c).copied().unwrap_or(0);
        if got != *n {
            eprintln!("--home: {c}: {got} of {n} servers found");
        }
    }
    let (lo, hi) = (times.iter().copied().fold(f64::INFINITY, f64::min), times.iter().copied().fold(0.0, f64::max));
    println!();
    println!(
        "--home ({}): {clients}/{} clients found ({servers_found}/{servers_planted} servers) in {:.1} ms (median of {}; {:.1}–{:.1} ms)",
        if a.custos.is_some() { "CLI, process start included" } else { "library run()" },
        planted.len(),
        median(times.clone()) * 1e3,
        times.len(),
        lo * 1e3,
        hi * 1e3
    );
    Ok(())
}
