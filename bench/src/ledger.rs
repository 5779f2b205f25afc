//! `ledger-bench`: how fast and how large the SQLite ledger is, each figure printed beside its
//! comparison (one transaction per append, or the target) in one run. bench/README.md says how
//! to run it and what every figure means.
//!
//! Every run works on a fresh database in a temporary directory on a real disk (next to the
//! binary, in the cargo target directory, unless `--dir` says otherwise), because the point of
//! the append figures is what a *durable* append costs. Nothing here asserts on time.

use std::{
    collections::HashSet,
    io::{Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use custos_core::{Actor, AgentId, Entry, Event, EventKind};
use custos_ledger::{Hash, NoteSigner, NoteVerifier, hash::leaf_hash, tree::verify_inclusion};
use custos_store::{
    Receipt, Store, no_progress,
    sqlite::{SqliteOptions, SqliteStore},
};

const ORIGIN: &str = "bench.custos/ledger";
const SEED: [u8; 32] = [7; 32];
/// The entry size the events are padded to: a typical gateway decision.
const TARGET_ENTRY_BYTES: usize = 300;
/// Concurrent writers for the append figures.
const WRITERS: usize = 64;
/// Concurrent writers that build the large ledger (only its build time is reported).
const BUILD_WRITERS: usize = 256;

const TARGET_APPENDS_PER_S: f64 = 100_000.0;
const TARGET_P99: Duration = Duration::from_millis(25);
const TARGET_VERIFY_PER_S: f64 = 1_000_000.0;

const USAGE: &str = "\
ledger-bench: durable appends, append latency, verify throughput and proof/storage sizes of
the SQLite ledger, each beside its comparison.

usage: ledger-bench [--runs N] [--quick] [--dir DIR] [--workers N]

  --runs N    repeat each timed figure N times and report the median and min/max (default 3)
  --quick     smaller counts, for a smoke run (the figures are then not the reference ones)
  --dir DIR   where the temporary databases go; must be a real disk, not tmpfs
              (default: the directory of this binary, i.e. the cargo target directory)
  --workers N tokio worker threads that run the appending tasks (default: one per core)
";

/// How much work each figure does.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Appends per writer with group commit (figure 1).
    group_per_writer: usize,
    /// Appends per writer with one transaction per append (figure 2).
    single_per_writer: usize,
    /// Entries in the ledger that is verified and measured (figures 3 and 4).
    ledger_entries: u64,
}

impl Sizes {
    const FULL: Sizes = Sizes { group_per_writer: 4_000, single_per_writer: 150, ledger_entries: 1_000_000 };
    const QUICK: Sizes = Sizes { group_per_writer: 500, single_per_writer: 20, ledger_entries: 100_000 };
}

#[derive(Debug)]
struct Config {
    runs: usize,
    sizes: Sizes,
    dir: PathBuf,
    workers: usize,
}

fn parse_args() -> Result<Option<Config>> {
    let mut runs = 3;
    let mut quick = false;
    let mut dir = None;
    let mut workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                let v = args.next().context("`--runs` needs a number")?;
                runs = v.parse().with_context(|| format!("`--runs {v}` is not a number"))?;
                if runs == 0 {
                    bail!("`--runs` must be at least 1");
                }
            }
            "--quick" => quick = true,
            "--workers" => {
                let v = args.next().context("`--workers` needs a number")?;
                workers = v.parse().with_context(|| format!("`--workers {v}` is not a number"))?;
                if workers == 0 {
                    bail!("`--workers` must be at least 1");
                }
            }
            "--dir" => dir = Some(PathBuf::from(args.next().context("`--dir` needs a directory")?)),
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    let dir = match dir {
        Some(d) => d,
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    Ok(Some(Config { runs, sizes: if quick { Sizes::QUICK } else { Sizes::FULL }, dir, workers }))
}

fn main() -> Result<()> {
    let Some(config) = parse_args()? else { return Ok(()) };
    let workers = config.workers;
    // The store's append runs on the caller's runtime: one worker per core, as a server would.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(config))
}

fn signer() -> Result<NoteSigner> {
    Ok(NoteSigner::from_seed(ORIGIN, &SEED)?)
}

/// Builds fresh, distinct gateway-decision events of about [`TARGET_ENTRY_BYTES`] bytes.
#[derive(Debug, Clone)]
struct EventFactory {
    actor: Actor,
    agent: AgentId,
    note: String,
}

impl EventFactory {
    fn new() -> Result<Self> {
        let mut factory =
            Self { actor: Actor::user("bench".parse()?), agent: "payments/refund-bot".parse()?, note: String::new() };
        // Pad a free-text field so that a typical entry lands on the target size.
        let base = Entry::from_event(&factory.event(17, 12_345)?)?.len();
        let sentence = "refund within the per-customer limit; order delivered; no prior disputes. ";
        factory.note = sentence.chars().cycle().take(TARGET_ENTRY_BYTES.saturating_sub(base)).collect();
        Ok(factory)
    }

    fn event(&self, writer: usize, seq: u64) -> Result<Event> {
        let data = serde_json::json!({
            "decision": "allow",
            "tool": "stripe/refunds.create",
            "request_id": format!("req-{writer:03}-{seq:08}"),
            "rule": "refund-bot/limits#4",
            "amount_cents": 1_000 + (seq * 7_919) % 90_000,
            "latency_us": 100 + (seq * 31) % 900,
            "note": self.note,
        });
        Ok(Event::from_parts(EventKind::GatewayDecision, self.actor.clone(), Some(self.agent.clone()), data)?)
    }

    /// The mean entry size over a sample of the events the bench appends.
    fn mean_entry_bytes(&self) -> Result<f64> {
        let n = 10_000u64;
        let mut total = 0usize;
        for seq in 0..n {
            total += Entry::from_event(&self.event((seq % WRITERS as u64) as usize, seq)?)?.len();
        }
        Ok(total as f64 / n as f64)
    }
}

/// One timed append run.
#[derive(Debug)]
struct AppendRun {
    appends: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    /// Transactions the writer committed (distinct tree sizes among the receipts).
    commits: u64,
    /// CPU time of the whole process (all threads) during the run, where the OS tells.
    cpu: Option<Duration>,
}

impl AppendRun {
    fn per_s(&self) -> f64 {
        self.appends as f64 / self.elapsed.as_secs_f64()
    }
}

/// `writers` tasks, each appending `per_writer` fresh events one after the other (awaiting each
/// receipt before the next append), on a fresh database.
async fn append_run(
    dir: &Path,
    factory: &EventFactory,
    writers: usize,
    per_writer: usize,
    options: SqliteOptions,
) -> Result<AppendRun> {
    let tmp = tempfile::tempdir_in(dir).with_context(|| format!("cannot create a directory in `{}`", dir.display()))?;
    let store = Arc::new(SqliteStore::create(&tmp.path().join("ledger.db"), signer()?, options)?);
    let cpu_start = cpu_time();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let store = store.clone();
        let factory = factory.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_writer);
            let mut tree_sizes = Vec::with_capacity(per_writer);
            let mut last: Option<Receipt> = None;
            for seq in 0..per_writer as u64 {
                let event = factory.event(writer, seq)?;
                let t = Instant::now();
                let receipt = store.append(event).await?;
                latencies.push(t.elapsed());
                tree_sizes.push(receipt.tree_size);
                last = Some(receipt);
            }
            anyhow::Ok((latencies, tree_sizes, last))
        }));
    }
    let mut latencies = Vec::with_capacity(writers * per_writer);
    let mut tree_sizes = HashSet::new();
    let mut receipts = Vec::with_capacity(writers);
    for task in tasks {
        let (l, t, last) = task.await.context("a writer task failed")??;
        latencies.extend(l);
        tree_sizes.extend(t);
        receipts.extend(last);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time().zip(cpu_start).map(|(end, start)| end.saturating_sub(start));
    store.close().await?;
    // Outside the timing: every writer's last receipt must prove its entry under its root.
    for r in &receipts {
        verify_inclusion(r.index, r.tree_size, &r.leaf_hash, &r.inclusion, &r.root)
            .with_context(|| format!("the receipt of entry {} does not verify", r.index))?;
    }
    latencies.sort_unstable();
    Ok(AppendRun {
        appends: latencies.len() as u64,
        elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        commits: tree_sizes.len() as u64,
        cpu,
    })
}

/// User plus system CPU time of this process, all threads, from /proc/self/stat (Linux; the
/// clock tick is taken as 100 Hz, which is USER_HZ on every mainstream Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let mut rest = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The size of the database once its WAL is folded in: what the ledger occupies at rest.
/// Opens the closed database with a plain connection, checkpoints the WAL and truncates it.
fn compacted_size(db: &Path) -> Result<u64> {
    let conn = rusqlite::Connection::open(db)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(conn);
    Ok(std::fs::metadata(db)?.len())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// Appends exactly `entries` events from `writers` concurrent tasks.
async fn fill(store: &Arc<SqliteStore>, factory: &EventFactory, writers: usize, entries: u64) -> Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let (store, factory, next) = (store.clone(), factory.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= entries {
                    return anyhow::Ok(());
                }
                store.append(factory.event(writer, seq)?).await?;
            }
        }));
    }
    for task in tasks {
        task.await.context("a writer task failed")??;
    }
    Ok(())
}

/// Figures 3 and 4, measured on one ledger of `n` entries.
#[derive(Debug)]
struct LargeLedger {
    /// How long appending the `n` entries took (group commit, [`BUILD_WRITERS`] writers).
    build: Duration,
    /// Entries per second of each verify run.
    verify_rates: Vec<f64>,
    /// `(index, proof hashes, proof file bytes)` against the checkpoint of all `n` entries.
    proofs: Vec<(u64, usize, usize)>,
    checkpoint_size: u64,
    /// ledger.db and ledger.db-wal after `close()`.
    db_bytes: u64,
    wal_bytes: u64,
    /// ledger.db once the WAL is checkpointed into it and truncated.
    compacted_bytes: u64,
}

async fn large_ledger(dir: &Path, factory: &EventFactory, n: u64, runs: usize) -> Result<LargeLedger> {
    let tmp = tempfile::tempdir_in(dir)?;
    let db = tmp.path().join("ledger.db");
    let signer = signer()?;
    let verifier: NoteVerifier = signer.verifier();
    let store = Arc::new(SqliteStore::create(&db, signer, SqliteOptions::default())?);
    eprintln!("building a ledger of {} entries with {BUILD_WRITERS} writers ...", thousands(n as f64));
    let t = Instant::now();
    fill(&store, factory, BUILD_WRITERS, n).await?;
    let build = t.elapsed();
    // Sign the whole ledger, so verify checks a checkpoint at its end and the proofs cover all.
    let checkpoint_size = store.checkpoint().await?.checkpoint.size;
    eprintln!("built in {:.1} s ({} /s)", build.as_secs_f64(), thousands(n as f64 / build.as_secs_f64()));

    let mut verify_rates = Vec::with_capacity(runs);
    for i in 1..=runs {
        let t = Instant::now();
        let report = store.verify(&verifier, no_progress()).await?;
        let elapsed = t.elapsed();
        if !report.verified() || report.entries != n {
            bail!("verify failed on the benchmark ledger: {} entries, failures {:?}", report.entries, report.failures);
        }
        let rate = report.entries as f64 / elapsed.as_secs_f64();
        eprintln!(
            "run {i}/{runs} verify: {} entries and {} checkpoints in {:.2} s = {} entries/s",
            thousands(report.entries as f64),
            report.checkpoints,
            elapsed.as_secs_f64(),
            thousands(rate)
        );
        verify_rates.push(rate);
    }

    let mut proofs = Vec::new();
    for index in [0, 1, n / 3, n / 2, n - 1] {
        let pf = store.proof_file(index, None).await?;
        let entry = store.entries(index, index + 1).await?;
        let leaf: Hash = leaf_hash(entry.first().context("the entry is missing")?);
        pf.verify(&leaf, &verifier).with_context(|| format!("the proof file of entry {index} does not verify"))?;
        proofs.push((index, pf.proof.len(), pf.to_text().len()));
    }
    store.close().await?;
    // Dropping the store closes its reader connections too, so nothing holds the files open.
    drop(store);
    let file_len = |suffix: &str| -> u64 {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
    };
    let (db_bytes, wal_bytes) = (file_len(""), file_len("-wal"));
    let compacted_bytes = compacted_size(&db)?;
    Ok(LargeLedger { build, verify_rates, proofs, checkpoint_size, db_bytes, wal_bytes, compacted_bytes })
}

/// Median, min and max.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(values: impl IntoIterator<Item = f64>) -> Spread {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let at = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    let median = if n % 2 == 1 { at(n / 2) } else { (at(n / 2 - 1) + at(n / 2)) / 2.0 };
    Spread { median, min: at(0), max: at(n.saturating_sub(1)) }
}

/// `1234567.8` as `1,234,568`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(d: f64) -> String {
    if d < 10.0 { format!("{d:.2} ms") } else { format!("{d:.1} ms") }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// The file system under `dir`, from /proc/mounts (Linux); `None` elsewhere.
fn file_system(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, mount, fs) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(mount).then(|| (mount.len(), format!("{fs} on {dev}")))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
}

/// Median time of a 4 KiB overwrite plus `fdatasync` in `dir`: the floor under any commit.
fn sync_probe(dir: &Path) -> Result<Duration> {
    let mut file = tempfile::tempfile_in(dir)?;
    let block = [0x5au8; 4096];
    for _ in 0..64 {
        file.write_all(&block)?;
    }
    file.sync_all()?;
    let mut times = Vec::with_capacity(200);
    for i in 0..200u64 {
        let t = Instant::now();
        file.seek(SeekFrom::Start((i % 64) * 4096))?;
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    Ok(percentile(&times, 0.5))
}

/// One row of the final table.
struct Row {
    figure: String,
    custos: String,
    comparison: String,
}

fn row(figure: impl Into<String>, custos: impl Into<String>, comparison: impl Into<String>) -> Row {
    Row { figure: figure.into(), custos: custos.into(), comparison: comparison.into() }
}

async fn run(config: Config) -> Result<()> {
    let Config { runs, sizes, dir, workers } = config;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let fs = file_system(&dir).unwrap_or_else(|| "unknown file system".into());
    eprintln!(
        "ledger-bench: databases in `{}` ({fs}); cores: {cores}; tokio workers: {workers}; runs: {runs}",
        dir.display()
    );
    if fs.starts_with("tmpfs") || fs.starts_with("ramfs") {
        eprintln!(
            "warning: `{}` is in memory; durable-append figures are meaningless there (use --dir)",
            dir.display()
        );
    }
    let sync = sync_probe(&dir)?;
    let factory = EventFactory::new()?;
    let entry_bytes = factory.mean_entry_bytes()?;
    eprintln!("disk: 4 KiB write + fdatasync p50 {}; mean entry {entry_bytes:.1} bytes", ms(sync.as_secs_f64() * 1e3));

    // Figures 1 and 2, interleaved so that drift in the machine hits both alike.
    let group_n = WRITERS * sizes.group_per_writer;
    let single_n = WRITERS * sizes.single_per_writer;
    let single = SqliteOptions { max_batch: 1, ..SqliteOptions::default() };
    let mut group_runs = Vec::with_capacity(runs);
    let mut single_runs = Vec::with_capacity(runs);
    for i in 1..=runs {
        let g = append_run(&dir, &factory, WRITERS, sizes.group_per_writer, SqliteOptions::default()).await?;
        eprintln!(
            "run {i}/{runs} group commit:    {} appends in {:.2} s = {} /s, p50 {} p99 {}, {} commits ({:.0} entries each)",
            thousands(g.appends as f64),
            g.elapsed.as_secs_f64(),
            thousands(g.per_s()),
            ms(g.p50.as_secs_f64() * 1e3),
            ms(g.p99.as_secs_f64() * 1e3),
            thousands(g.commits as f64),
            g.appends as f64 / g.commits.max(1) as f64,
        );
        group_runs.push(g);
        let s = append_run(&dir, &factory, WRITERS, sizes.single_per_writer, single.clone()).await?;
        eprintln!(
            "run {i}/{runs} one tx per append: {} appends in {:.2} s = {} /s, p50 {} p99 {}",
            thousands(s.appends as f64),
            s.elapsed.as_secs_f64(),
            thousands(s.per_s()),
            ms(s.p50.as_secs_f64() * 1e3),
            ms(s.p99.as_secs_f64() * 1e3),
        );
        single_runs.push(s);
    }

    // Figures 3 and 4 share one large ledger, built once.
    let n = sizes.ledger_entries;
    let big = large_ledger(&dir, &factory, n, runs).await?;
    let LargeLedger { build, verify_rates, proofs, checkpoint_size, db_bytes, wal_bytes, compacted_bytes } = big;
    let stored_per_entry = (db_bytes + wal_bytes) as f64 / n as f64;
    let compacted_per_entry = compacted_bytes as f64 / n as f64;

    // The table.
    let g_rate = spread(group_runs.iter().map(AppendRun::per_s));
    let g_p50 = spread(group_runs.iter().map(|r| r.p50.as_secs_f64() * 1e3));
    let g_p99 = spread(group_runs.iter().map(|r| r.p99.as_secs_f64() * 1e3));
    let g_batch = spread(group_runs.iter().map(|r| r.appends as f64 / r.commits.max(1) as f64));
    let s_rate = spread(single_runs.iter().map(AppendRun::per_s));
    let s_p50 = spread(single_runs.iter().map(|r| r.p50.as_secs_f64() * 1e3));
    let s_p99 = spread(single_runs.iter().map(|r| r.p99.as_secs_f64() * 1e3));
    let cpu_us = |runs: &[AppendRun]| {
        let per: Option<Vec<f64>> =
            runs.iter().map(|r| r.cpu.map(|c| c.as_secs_f64() * 1e6 / r.appends as f64)).collect();
        per.map(spread)
    };
    let busy = spread(
        group_runs
            .iter()
            .filter_map(|r| r.cpu.map(|c| 100.0 * c.as_secs_f64() / (r.elapsed.as_secs_f64() * cores as f64))),
    );
    let v_rate = spread(verify_rates);
    let range = |s: Spread, f: &dyn Fn(f64) -> String| format!("[{} .. {}]", f(s.min), f(s.max));
    let count = |x: u64| thousands(x as f64);

    let mut rows = vec![
        row(
            format!("durable appends/s, {WRITERS} writers"),
            format!("{} /s {}", thousands(g_rate.median), range(g_rate, &thousands)),
            format!(
                "one tx per append: {} /s {} ({:.1}x)   target >= {}: {}",
                thousands(s_rate.median),
                range(s_rate, &thousands),
                g_rate.median / s_rate.median,
                thousands(TARGET_APPENDS_PER_S),
                met(g_rate.median >= TARGET_APPENDS_PER_S)
            ),
        ),
        row(
            "append->proof p50 / p99",
            format!("{} / {} [p99 {} .. {}]", ms(g_p50.median), ms(g_p99.median), ms(g_p99.min), ms(g_p99.max)),
            format!(
                "one tx per append: {} / {}   target p99 <= {}: {}",
                ms(s_p50.median),
                ms(s_p99.median),
                ms(TARGET_P99.as_secs_f64() * 1e3),
                met(g_p99.median <= TARGET_P99.as_secs_f64() * 1e3)
            ),
        ),
        row(
            "entries per commit (group commit)",
            format!("{:.0} {}", g_batch.median, range(g_batch, &|x| format!("{x:.0}"))),
            format!("one tx per append: 1   max_batch {}", SqliteOptions::default().max_batch),
        ),
        row(
            "appends per run",
            format!("{} ({WRITERS} x {})", count(group_n as u64), sizes.group_per_writer),
            format!(
                "one tx per append: {} ({WRITERS} x {}), fewer: it is slow",
                count(single_n as u64),
                sizes.single_per_writer
            ),
        ),
        row(
            "CPU per append, all threads",
            cpu_us(&group_runs).map_or("unknown".into(), |s| {
                format!("{:.0} us ({:.0}% of {cores} cores busy)", s.median, busy.median)
            }),
            cpu_us(&single_runs).map_or(String::new(), |s| format!("one tx per append: {:.0} us", s.median)),
        ),
        row("disk: 4 KiB write + fdatasync p50", ms(sync.as_secs_f64() * 1e3), "floor under one commit"),
        row(
            format!("verify throughput ({} entries)", count(n)),
            format!("{} entries/s {}", thousands(v_rate.median), range(v_rate, &thousands)),
            format!("target >= {}: {}", thousands(TARGET_VERIFY_PER_S), met(v_rate.median >= TARGET_VERIFY_PER_S)),
        ),
        row(
            format!("build {} entries, {BUILD_WRITERS} writers", count(n)),
            format!("{:.1} s ({} /s)", build.as_secs_f64(), thousands(n as f64 / build.as_secs_f64())),
            "one run, group commit; not part of verify",
        ),
    ];
    for (index, hashes, text) in &proofs {
        rows.push(row(
            format!("inclusion proof, entry {}", count(*index)),
            format!("{hashes} hashes = {} bytes", hashes * 32),
            format!("C2SP tlog-proof file: {} bytes (tree of {})", count(*text as u64), count(checkpoint_size)),
        ));
    }
    rows.push(row(
        "stored bytes per entry",
        format!("{stored_per_entry:.0} bytes"),
        format!(
            "mean entry {entry_bytes:.0} bytes ({:.2}x); ledger.db {} + wal {} bytes after close",
            stored_per_entry / entry_bytes,
            count(db_bytes),
            count(wal_bytes)
        ),
    ));
    rows.push(row(
        "  same, WAL checkpointed",
        format!("{compacted_per_entry:.0} bytes"),
        format!("mean entry {entry_bytes:.0} bytes ({:.2}x); ledger.db alone", compacted_per_entry / entry_bytes),
    ));

    let custos_head = format!("custos (median of {runs}) [min .. max]");
    let w0 = rows.iter().map(|r| r.figure.len()).max().unwrap_or(0).max(6) + 3;
    let w1 = rows.iter().map(|r| r.custos.len()).max().unwrap_or(0).max(custos_head.len()) + 3;
    println!();
    println!("{:<w0$}{:<w1$}comparison / target", "figure", custos_head);
    for r in &rows {
        println!("{:<w0$}{:<w1$}{}", r.figure, r.custos, r.comparison);
    }
    Ok(())
}
