//! `custos attest`, `custos verify` and `custos inventory`: evidence bundles and the reports
//! made of them out, bundles checked offline, and the estate as a BOM.

use std::collections::BTreeMap;

use anyhow::anyhow;
use custos_attest::{AttestOptions, ControlCatalogue, PreviousExport, WindowRequest};
use custos_core::{AgentId, registry::AgentState};
use custos_store::{ProtectStore, Store, sqlite::SqliteStore};

use crate::{
    cli::{AttestArgs, AttestFormat, Cli, CoverageArgs, InventoryArgs, InventoryFormat, VerifyBundleArgs},
    config,
    datadir::DataDir,
    error::{CliError, CliResult, Code},
};

fn read(path: &std::path::Path) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError::input(anyhow!("cannot read `{}`: {e}", path.display())))
}

/// Writes `bytes` to `path`, or to standard output.
fn write_out(path: Option<&std::path::Path>, bytes: &[u8]) -> CliResult<()> {
    match path {
        Some(p) => std::fs::write(p, bytes).map_err(|e| CliError::env(anyhow!("cannot write `{}`: {e}", p.display()))),
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(bytes).map_err(|e| CliError::env(anyhow!("cannot write the output: {e}")))
        }
    }
}

/// The agents `--all` exports: every registry record but the `discovered` ones. A discovered
/// record is a shadow agent nobody registered: it has no owner to answer for it and no events
/// but its discovery, so it belongs in the inventory, not in an attestation. Retired agents stay
/// in, since their history is exactly what an auditor asks about.
async fn attestable(store: &SqliteStore) -> CliResult<Vec<AgentId>> {
    let out: Vec<AgentId> = crate::cmd::all_agents(store)
        .await?
        .into_iter()
        .filter(|a| a.state != AgentState::Discovered)
        .map(|a| a.id)
        .collect();
    Ok(out)
}

pub async fn attest(cli: &Cli, args: &AttestArgs) -> CliResult<Code> {
    let agent: Option<AgentId> = match &args.agent {
        Some(a) => Some(a.parse().map_err(|e| CliError::input(anyhow!("--agent: {e}")))?),
        None => None,
    };
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        return Err(CliError::input(anyhow!("--from `{from}` is after --to `{to}`")));
    }
    if args.all && args.format != AttestFormat::Bundle {
        return Err(CliError::input(anyhow!("--format oscal|html reports on one agent: use --agent, not --all")));
    }
    if args.bundle.is_some() && args.format == AttestFormat::Bundle {
        return Err(CliError::input(anyhow!(
            "--bundle keeps the bundle beside a report: use it with --format oscal|html"
        )));
    }
    let previous: Option<PreviousExport> = match &args.previous {
        Some(p) => Some(
            custos_attest::previous_of(&read(p)?)
                .map_err(|e| CliError::input(anyhow!("--previous `{}`: {e}", p.display())))?,
        ),
        None => None,
    };
    let cat = ControlCatalogue::builtin().map_err(|e| CliError::env(anyhow!("{e}")))?;
    let options = AttestOptions { controls: Some(&cat) };
    let dir = DataDir::open(&cli.data_dir)?;
    let file = config::load(cli)?;
    let signer = dir.signer()?;
    let store = SqliteStore::open(&dir.db(), dir.signer()?, config::store_options(cli, &file))?;
    let window =
        WindowRequest { from_index: args.from_index, to_index: args.to_index, from_time: args.from, to_time: args.to };
    let made = match &agent {
        Some(agent) => custos_attest::attest(&store, &signer, agent, window, previous.as_ref(), options)
            .await
            .map(|b| vec![b])
            .map_err(|e| CliError::input(anyhow!("{e}"))),
        None => match attestable(&store).await {
            Ok(agents) if agents.is_empty() => {
                Err(CliError::input(anyhow!("--all: the registry has no agent to attest")))
            }
            Ok(agents) => custos_attest::attest_many(&store, &signer, &agents, window, &BTreeMap::new(), options)
                .await
                .map_err(|e| CliError::input(anyhow!("{e}"))),
            Err(e) => Err(e),
        },
    };
    store.close().await?;
    let bundles = made?;
    let json = |e: serde_json::Error| CliError::env(anyhow!("{e}"));
    let out = args.output.as_deref();
    let Some(bundle) = bundles.first().filter(|_| args.format != AttestFormat::Bundle) else {
        return write_out(out, &custos_attest::to_jsonl(&bundles).map_err(json)?).map(|()| Code::Ok);
    };
    if let Some(p) = &args.bundle {
        write_out(Some(p), &bundle.to_json().map_err(json)?)?;
    }
    let report = match args.format {
        AttestFormat::Oscal => {
            let mut v = serde_json::to_vec_pretty(&custos_attest::oscal_of_bundle(bundle, &cat)).map_err(json)?;
            v.push(b'\n');
            v
        }
        _ => {
            let data = custos_attest::report_data(bundle, Some(&cat)).map_err(|e| CliError::env(anyhow!("{e}")))?;
            custos_attest::render_html(&data).into_bytes()
        }
    };
    write_out(out, &report)?;
    Ok(Code::Ok)
}

pub fn verify(cli: &Cli, args: &VerifyBundleArgs) -> CliResult<Code> {
    let bytes = read(&args.file)?;
    let verifier = match &args.key {
        Some(k) => custos_attest::parse_key(k).map_err(|e| CliError::input(anyhow!("--key: {e}")))?,
        None => DataDir::open(&cli.data_dir)?.verifier(None)?,
    };
    if is_jsonl(&bytes) {
        if args.previous.is_some() {
            return Err(CliError::input(anyhow!(
                "--previous checks one agent's bundle; `{}` holds several",
                args.file.display()
            )));
        }
        return Ok(verify_lines(&bytes, &verifier));
    }
    let previous = match &args.previous {
        Some(p) => Some(
            custos_attest::previous_of(&read(p)?)
                .map_err(|e| CliError::input(anyhow!("--previous `{}`: {e}", p.display())))?,
        ),
        None => None,
    };
    let report = custos_attest::verify(&bytes, &verifier, previous.as_ref())
        .map_err(|e| CliError::input(anyhow!("`{}`: {e}", args.file.display())))?;
    print!("{report}");
    Ok(if report.verified() { Code::Ok } else { Code::Finding })
}

/// Whether the file holds more than one JSON value: a `.intoto.jsonl` file. One bundle, even
/// pretty-printed over many lines or cut short, is one value (or a broken first one) and goes
/// the single-bundle way, which names a truncation as bad input.
fn is_jsonl(bytes: &[u8]) -> bool {
    let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>();
    matches!((values.next(), values.next()), (Some(Ok(_)), Some(_)))
}

/// Verifies each line on its own and names every one that does not verify. Lines are checked
/// here one by one with [`custos_attest::verify`] (what `verify_jsonl` does) so each report
/// carries its real line number. A line that cannot be read at all is a result about that line
/// (not verified), not a reason to stop: the others are still worth knowing about.
fn verify_lines(bytes: &[u8], verifier: &custos_ledger::NoteVerifier) -> Code {
    let mut total = 0usize;
    let mut bad = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate().map(|(i, l)| (i + 1, l)) {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        total += 1;
        match custos_attest::verify(line, verifier, None) {
            Ok(report) => {
                let who = report.subject.as_deref().unwrap_or("unknown subject");
                let verdict = if report.verified() { "verified" } else { "NOT VERIFIED" };
                println!("line {n} (`{who}`): {verdict}");
                for l in report.to_string().lines() {
                    println!("  {l}");
                }
                if !report.verified() {
                    bad.push(format!("line {n} (`{who}`)"));
                }
            }
            Err(e) => {
                println!("line {n}: NOT VERIFIED: {e}");
                bad.push(format!("line {n}"));
            }
        }
    }
    if bad.is_empty() && total > 0 {
        println!("all {total} bundles verified");
        Code::Ok
    } else {
        println!("{} of {total} bundles not verified: {}", bad.len(), bad.join(", "));
        Code::Finding
    }
}

/// `custos inventory`: every agent of the registry, and the tools the gateway saw them call.
pub async fn inventory(cli: &Cli, args: &InventoryArgs) -> CliResult<Code> {
    use custos_attest::{InventoryExtra, ToolActivity};
    let dir = DataDir::open(&cli.data_dir)?;
    let store = SqliteStore::open_read_only(&dir.db(), dir.verifier(None)?)?;
    // The whole estate, shadow (`discovered`) records included: they are what an inventory is
    // for.
    let agents = crate::cmd::all_agents(&store).await?;
    let tools = ToolActivity::from_gateway(&store.gateway_activity().await?);
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| CliError::env(anyhow!("no randomness for the serial number: {e}")))?;
    let serial = custos_attest::inventory::uuid_v4(random);
    let extra = InventoryExtra {
        tools: &tools,
        serial: &serial,
        generated_at: custos_core::Timestamp::now(),
        tool_version: env!("CARGO_PKG_VERSION"),
    };
    let doc = match args.format {
        InventoryFormat::Cyclonedx => custos_attest::inventory_cyclonedx(&agents, &extra),
        InventoryFormat::Json => custos_attest::inventory_json(&agents, &extra),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| CliError::env(anyhow!("{e}")))?;
    bytes.push(b'\n');
    write_out(args.output.as_deref(), &bytes)?;
    Ok(Code::Ok)
}

/// Reads the whole ledger (read-only: works beside `custos up`) into an evidence index and
/// prints each control's coverage.
pub async fn coverage(cli: &Cli, args: &CoverageArgs) -> CliResult<Code> {
    use custos_attest::{ControlCatalogue, EvidenceIndex, Scope};
    let cat = ControlCatalogue::builtin().map_err(|e| CliError::env(anyhow!("{e}")))?;
    if let Some(f) = &args.framework
        && cat.framework(f).is_none()
    {
        return Err(CliError::input(anyhow!("--framework: `{f}` is not a framework of the catalogue")));
    }
    let scope = match &args.agent {
        Some(a) => {
            let id: AgentId = a.parse().map_err(|e| CliError::input(anyhow!("--agent: {e}")))?;
            Scope::AgentAndInstance(id.as_str().to_string())
        }
        None => Scope::All,
    };
    let dir = DataDir::open(&cli.data_dir)?;
    let store = SqliteStore::open_read_only(&dir.db(), dir.verifier(None)?)?;
    let size = store.size().await?;
    let mut index = EvidenceIndex::new(scope);
    let mut at = 0;
    while at < size {
        let to = (at + 10_000).min(size);
        for (i, bytes) in (at..to).zip(store.entries(at, to).await?) {
            let event = custos_core::Entry::parse(&bytes).map_err(|e| CliError::env(anyhow!("entry {i}: {e}")))?;
            index.add_event(i, &event);
        }
        at = to;
    }
    let rows = custos_attest::coverage(&cat, args.framework.as_deref(), &index);
    if cli.json {
        crate::cmd::print_json(&rows);
    } else {
        let table = rows
            .iter()
            .map(|c| {
                let n: u64 = c.events.iter().map(|e| e.count).sum();
                vec![
                    c.framework.clone(),
                    c.official.clone(),
                    c.status.as_str().to_string(),
                    n.to_string(),
                    c.title.chars().take(60).collect(),
                ]
            })
            .collect();
        crate::cmd::table(&["FRAMEWORK", "CONTROL", "STATUS", "EVENTS", "TITLE"], table);
    }
    Ok(Code::Ok)
}
