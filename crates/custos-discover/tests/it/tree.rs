//! The tree scan: keys in the hard places, decoys that yield nothing, skips with reasons, and the
//! incremental cache. Every key is assembled at run time from a seeded generator.

use std::fs;
use std::path::{Path, PathBuf};

use custos_discover::{
    CredentialEngine, FileAnalyzer, FileFindings, FingerprintKey, NoAnalyzer, Skipped, TreeOptions, TreeScan, scan_tree,
};

use super::write;

/// A tiny deterministic generator, so keys differ but tests repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn from(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| a[(self.next() % a.len() as u64) as usize] as char).collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";

fn key() -> FingerprintKey {
    FingerprintKey::new(b"tree test key".to_vec())
}

fn opts(root: &Path) -> TreeOptions {
    let mut o = TreeOptions::new(vec![root.to_path_buf()], key());
    o.threads = 2;
    o
}

fn scan(o: &TreeOptions) -> TreeScan {
    scan_tree(o, &NoAnalyzer, &|_| {})
}

/// `(path relative to root, line, provider)` of every credential, sorted.
fn found(root: &Path, s: &TreeScan) -> Vec<(String, u32, String)> {
    let mut v: Vec<_> = s
        .credentials
        .iter()
        .map(|c| {
            let p = c.location.path.strip_prefix(root).unwrap_or(&c.location.path).to_string_lossy().into_owned();
            (p, c.location.line.unwrap(), c.provider.clone())
        })
        .collect();
    v.sort();
    v
}

fn skip_reason<'a>(s: &'a TreeScan, suffix: &str) -> Option<&'a Skipped> {
    s.skipped.iter().find(|k| k.path.to_string_lossy().ends_with(suffix))
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
}

#[test]
fn keys_in_the_hard_places_are_found_with_their_lines() {
    let (_d, root) = tempdir();
    let mut r = Rng(0x5eed);
    let anthropic = format!("sk-ant-api03-{}AA", r.from(ALNUM, 93));
    let openai = format!("sk-proj-{}T3BlbkFJ{}", r.from(ALNUM, 74), r.from(ALNUM, 74));
    let aws_id = format!("AKIA{}", r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let groq = format!("gsk_{}", r.from(ALNUM, 52));
    let hf = format!("hf_{}", r.from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 34));
    let cerebras = format!("csk-{}", r.from(ALNUM, 48));
    let xai = format!("xai-{}", r.from(ALNUM, 80));
    let deepseek = format!("sk-{}", r.from(HEX, 32));
    let cohere = format!("{}Aa1", r.from(ALNUM, 37));
    let mistral = format!("{}Zz9", r.from(ALNUM, 29));
    let azure = format!("{}a1", r.from(HEX, 30));
    let openrouter = format!("sk-or-v1-{}", r.from(HEX, 64));

    write(&root, "data/users.csv", &format!("id,name,token,created\n1,ann,{groq},2026-01-02\n2,bob,none,2026-01-03\n"));
    let mut blob: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    blob.extend_from_slice(b"\x00\x01");
    let blob_line = blob.iter().filter(|b| **b == b'\n').count() as u32 + 1;
    blob.extend_from_slice(anthropic.as_bytes());
    blob.extend_from_slice(b"\x00\xff\xfe");
    blob.extend((0..2048u32).map(|i| (i.wrapping_mul(40503) >> 7) as u8));
    fs::write(root.join("model.bin"), &blob).unwrap();
    write(&root, "deploy/ci.yml", &format!("env:\n  AWS_ACCESS_KEY_ID: {aws_id}\n  REGION: eu-west-1\n"));
    write(&root, "svc/.config/app/.env", &format!("# app\nOPENAI_API_KEY={openai}\nXAI_API_KEY=\"{xai}\"\n"));
    write(&root, "svc/settings.py", &format!("import os\n\nHF_TOKEN = '{hf}'\nCEREBRAS = \"{cerebras}\"\n"));
    write(
        &root,
        "svc/providers.json",
        &format!(
            "{{\n  \"deepseek\": {{\"api_key\": \"{deepseek}\"}},\n  \"cohere\": {{\"key\": \"{cohere}\"}},\n  \"mistral_api_key\": \"{mistral}\",\n  \"endpoint\": \"https://acme.openai.azure.com/\", \"api_key\": \"{azure}\"\n}}\n"
        ),
    );
    // Latin-1 text: not UTF-8.
    let mut latin = b"caf\xe9 cr\xe8me\nOPENROUTER_API_KEY=".to_vec();
    latin.extend_from_slice(openrouter.as_bytes());
    latin.extend_from_slice(b"\n\xe0 bient\xf4t\n");
    fs::write(root.join("notes-latin1.txt"), latin).unwrap();

    let s = scan(&opts(&root));
    let expected: Vec<(String, u32, String)> = vec![
        ("data/users.csv".into(), 2, "Groq".into()),
        ("deploy/ci.yml".into(), 2, "AWS".into()),
        ("model.bin".into(), blob_line, "Anthropic".into()),
        ("notes-latin1.txt".into(), 2, "OpenRouter".into()),
        ("svc/.config/app/.env".into(), 2, "OpenAI".into()),
        ("svc/.config/app/.env".into(), 3, "xAI".into()),
        ("svc/providers.json".into(), 2, "DeepSeek".into()),
        ("svc/providers.json".into(), 3, "Cohere".into()),
        ("svc/providers.json".into(), 4, "Mistral AI".into()),
        ("svc/providers.json".into(), 5, "Microsoft Azure".into()),
        ("svc/settings.py".into(), 3, "Hugging Face".into()),
        ("svc/settings.py".into(), 4, "Cerebras".into()),
    ];
    let mut expected = expected;
    expected.sort();
    assert_eq!(found(&root, &s), expected);
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);

    // Masked, fingerprinted, never in clear.
    let shown = format!("{s:?}{}", serde_json::to_string(&s).unwrap());
    for secret in [&anthropic, &openai, &aws_id, &groq, &cohere, &mistral, &azure, &deepseek] {
        assert!(!shown.contains(&secret[6..]), "a secret leaked");
    }
    let a = s.credentials.iter().find(|c| c.provider == "Anthropic").unwrap();
    assert_eq!(a.masked, "sk-a…(108 chars)");
    assert_eq!(a.fingerprint, key().fingerprint(&anthropic));
    assert_eq!(a.source, custos_discover::Source::File);
}

#[test]
fn placeholders_and_documented_examples_yield_nothing() {
    let (_d, root) = tempdir();
    let mut r = Rng(42);
    let real_shape = r.from(ALNUM, 93);
    let lines = [
        format!("ANTHROPIC_API_KEY=sk-ant-api03-{}AA", "x".repeat(93)),
        format!("OPENAI_API_KEY=sk-proj-{}T3BlbkFJ{}", "X".repeat(74), "X".repeat(74)),
        format!("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7{}", "EXAMPLE"),
        format!("GROQ_API_KEY=gsk_{}", "0".repeat(52)),
        format!("HF_TOKEN=hf_{}", "abcdefghijklmnopqrstuvwxyzabcdefgh"),
        format!("PPLX=pplx-{}", "YourApiKeyHere".repeat(4).get(..48).unwrap()),
        format!("key: <sk-ant-api03-{real_shape}AA>"),
        format!("token: ${{ghp_{}}}", r.from(ALNUM, 36)),
        format!("CEREBRAS=csk-{}", "1234567890".repeat(5).get(..48).unwrap()),
        format!("REPLICATE=r8_{}", "abAB".repeat(10).get(..37).unwrap()),
        "OPENAI_API_KEY=sk-xxxx".to_string(),
        "ANTHROPIC_API_KEY=your-api-key".to_string(),
        "MISTRAL_API_KEY=${MISTRAL_API_KEY}".to_string(),
    ];
    write(&root, "decoys/.env.sample", &(lines.join("\n") + "\n"));
    write(
        &root,
        "docs/setup.md",
        &format!(
            "# Setup\n\nExample: set your key like this\n\n```sh\nexport TOGETHER_API_KEY=tgp_v1_{}\n```\n\nThe key e.g. `gsk_{}` goes in `.env`.\n",
            r.from(ALNUM, 43),
            r.from(ALNUM, 52)
        ),
    );
    // Context rules without their context: a bare 40-char run and a 32-hex git object id.
    write(&root, "src/app.py", &format!("COMMIT = '{}'\nVALUE = '{}'\n", r.from(HEX, 40), r.from(ALNUM, 40)));
    let s = scan(&opts(&root));
    assert_eq!(found(&root, &s), vec![], "decoys must yield nothing");
}

#[test]
fn the_same_key_with_context_or_prefix_far_from_a_marker_is_found() {
    // Guards the decoy test: the markers and shapes above are what suppresses, not the rules.
    let (_d, root) = tempdir();
    let mut r = Rng(7);
    let together = format!("tgp_v1_{}", r.from(ALNUM, 43));
    write(&root, "docs/setup.md", &format!("# Setup\n\n\n\n```sh\nexport TOGETHER_API_KEY={together}\n```\n"));
    let s = scan(&opts(&root));
    assert_eq!(found(&root, &s), vec![("docs/setup.md".into(), 6, "Together AI".into())]);
}

#[cfg(unix)]
#[test]
fn bad_inputs_are_skipped_with_reasons_and_the_scan_completes() {
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    let (_d, base) = tempdir();
    let root = base.join("root");
    fs::create_dir_all(root.join("a/b")).unwrap();
    let mut r = Rng(99);
    let key_text = format!("GROQ_API_KEY=gsk_{}\n", r.from(ALNUM, 52));
    write(&base, "outside/secret.env", &key_text);
    symlink(base.join("outside"), root.join("a/out-dir")).unwrap();
    symlink(base.join("outside/secret.env"), root.join("out-file")).unwrap();
    symlink(root.join("a"), root.join("a/b/loop")).unwrap();
    symlink(root.join("nowhere"), root.join("dangling")).unwrap();
    fs::write(root.join("huge.log"), vec![b'a'; 2048]).unwrap();
    let locked = write(&root, "locked.env", &key_text);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let root_can_read = fs::read(&locked).is_ok();
    let odd_name = root.join(std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.env"));
    fs::write(&odd_name, &key_text).unwrap();
    write(&root, "node_modules/pkg/.env", &key_text);

    let mut o = opts(&root);
    o.max_file_size = 1024;
    let s = scan(&o);

    let reason = |suffix: &str| skip_reason(&s, suffix).map(|k| k.reason.clone()).unwrap_or_default();
    assert!(reason("a/out-dir").contains("outside the scanned root"), "{:?}", s.skipped);
    assert!(reason("out-file").contains("outside the scanned root"), "{:?}", s.skipped);
    assert!(reason("a/b/loop").contains("loop"), "{:?}", s.skipped);
    assert!(reason("dangling").contains("broken"), "{:?}", s.skipped);
    assert!(reason("huge.log").contains("size limit"), "{:?}", s.skipped);
    assert!(reason("node_modules").contains("excluded"), "{:?}", s.skipped);
    if root_can_read {
        eprintln!("running as root: the unreadable-file assertion is skipped");
    } else {
        assert!(reason("locked.env").contains("cannot read"), "{:?}", s.skipped);
    }
    // The non-UTF-8 name is scanned, and shown lossily.
    let lossy: Vec<_> = found(&root, &s).into_iter().filter(|(p, _, _)| p.starts_with("caf")).collect();
    assert_eq!(lossy, vec![("caf\u{fffd}-\u{fffd}.env".to_string(), 1, "Groq".to_string())]);
    // Nothing outside the root was read.
    assert!(s.credentials.iter().all(|c| c.location.path.starts_with(&root)));
    serde_json::to_string(&s).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o600)).unwrap();
}

/// An analyzer that records which files it saw, to check that only text goes to analyzers.
struct Seen;

impl FileAnalyzer for Seen {
    fn id(&self) -> String {
        "seen-1".into()
    }
    fn wants(&self, path: &Path, _: &[u8]) -> bool {
        path.extension().is_some_and(|e| e == "py" || e == "bin")
    }
    fn analyze(&self, path: &Path, _: &[u8]) -> FileFindings {
        FileFindings {
            skipped: vec![Skipped { path: path.to_path_buf(), reason: "seen by analyzer".into() }],
            ..FileFindings::default()
        }
    }
}

#[test]
fn analyzers_see_text_files_they_want_and_results_are_cached() {
    let (_d, root) = tempdir();
    let cache_dir = root.join("../cache-analyzer");
    write(&root, "src/agent.py", "from crewai import Agent\n");
    fs::write(root.join("blob.bin"), b"\x00\x01binary").unwrap();
    let mut o = opts(&root);
    o.cache_dir = Some(cache_dir.clone());
    let first = scan_tree(&o, &Seen, &|_| {});
    let seen: Vec<_> = first.skipped.iter().filter(|k| k.reason == "seen by analyzer").collect();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].path.ends_with("src/agent.py"));
    let second = scan_tree(&o, &Seen, &|_| {});
    assert_eq!(second.files_read, 0);
    assert_eq!(second.skipped, first.skipped, "cached analyzer findings come back");
    // Another analyzer id is another cache.
    let third = scan(&o);
    assert_eq!(third.files_read, 2);
    let _ = fs::remove_dir_all(cache_dir);
}

#[test]
fn the_cache_skips_unchanged_files_rereads_changed_ones_and_invalidates_on_a_new_catalogue() {
    let (_d, base) = tempdir();
    let root = base.join("tree");
    let cache_dir = base.join("data");
    let mut r = Rng(3);
    let groq = format!("gsk_{}", r.from(ALNUM, 52));
    for i in 0..20 {
        write(&root, &format!("f{i}.txt"), &format!("line\nvalue {i}\n"));
    }
    write(&root, "conf/.env", &format!("GROQ_API_KEY={groq}\n"));
    let mut o = opts(&root);
    o.cache_dir = Some(cache_dir.clone());

    let cold = scan(&o);
    assert_eq!(cold.files, 21);
    assert_eq!(cold.files_read, 21);
    assert_eq!(cold.credentials.len(), 1);
    let cache_file = cache_dir.join(custos_discover::CACHE_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(fs::metadata(&cache_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let cached_text = String::from_utf8_lossy(&fs::read(&cache_file).unwrap()).into_owned();
    assert!(!cached_text.contains(&groq[4..]), "the cache holds no secret");

    let warm = scan(&o);
    assert_eq!((warm.files_read, warm.bytes_read, warm.files_cached), (0, 0, 21));
    assert_eq!(warm.credentials, cold.credentials);

    // A changed file is read again; a rewrite with the same bytes is read but not rescanned.
    write(&root, "f3.txt", &format!("line\nnow with GROQ={groq}\n"));
    write(&root, "f4.txt", "line\nvalue 4\n");
    let changed = scan(&o);
    assert_eq!(changed.files_read, 2);
    assert_eq!(changed.files_cached, 20);
    assert_eq!(changed.credentials.len(), 2);

    // A deleted file drops out.
    fs::remove_file(root.join("f3.txt")).unwrap();
    let fewer = scan(&o);
    assert_eq!((fewer.files, fewer.files_read, fewer.credentials.len()), (20, 0, 1));

    // Another catalogue: a cold scan.
    let mut file_cat = custos_discover::FILE_CATALOGUE.to_string();
    file_cat.push_str("\n# a local change\n");
    o.engine = CredentialEngine::from_catalogues(custos_core::scan::secrets::BUILTIN_CATALOGUE, &file_cat).unwrap();
    let recompiled = scan(&o);
    assert_eq!(recompiled.files_read, 20);

    // A corrupt cache is a warning, not a failure.
    fs::write(&cache_file, b"CUSTOSDC garbage").unwrap();
    let after_corruption = scan(&o);
    assert_eq!(after_corruption.files_read, 20);
    assert_eq!(after_corruption.warnings.len(), 1, "{:?}", after_corruption.warnings);
    assert_eq!(after_corruption.credentials.len(), 1);
    assert_eq!(scan(&o).files_read, 0, "the cache was rewritten");
}

#[test]
fn the_engine_covers_at_least_twenty_providers() {
    let engine = CredentialEngine::builtin();
    let providers = engine.providers();
    for p in ["OpenAI", "Anthropic", "DeepSeek", "Cohere", "Mistral AI", "ElevenLabs", "Microsoft Azure", "AWS"] {
        assert!(providers.contains(&p), "{p} missing from {providers:?}");
    }
    assert!(providers.len() >= 20, "{providers:?}");
}
