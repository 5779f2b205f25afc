//! `custos attest` and `custos verify`: evidence bundles out, and checked offline.

use anyhow::anyhow;
use custos_attest::{AttestOptions, PreviousExport, WindowRequest};
use custos_core::AgentId;
use custos_store::{Store, sqlite::SqliteStore};

use crate::{
    cli::{AttestArgs, Cli, CoverageArgs, VerifyBundleArgs},
    config,
    datadir::DataDir,
    error::{CliError, CliResult, Code},
};

fn read(path: &std::path::Path) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError::input(anyhow!("cannot read `{}`: {e}", path.display())))
}

pub async fn attest(cli: &Cli, args: &AttestArgs) -> CliResult<Code> {
    let agent: AgentId = args.agent.parse().map_err(|e| CliError::input(anyhow!("--agent: {e}")))?;
    let previous: Option<PreviousExport> = match &args.previous {
        Some(p) => Some(
            custos_attest::previous_of(&read(p)?)
                .map_err(|e| CliError::input(anyhow!("--previous `{}`: {e}", p.display())))?,
        ),
        None => None,
    };
    let dir = DataDir::open(&cli.data_dir)?;
    let file = config::load(cli)?;
    let signer = dir.signer()?;
    let store = SqliteStore::open(&dir.db(), dir.signer()?, config::store_options(cli, &file))?;
    let window = WindowRequest { from_index: args.from_index, to_index: args.to_index, ..WindowRequest::default() };
    let bundle = custos_attest::attest(&store, &signer, &agent, window, previous.as_ref(), AttestOptions::default())
        .await
        .map_err(|e| CliError::input(anyhow!("{e}")));
    store.close().await?;
    let bytes = bundle?.to_json().map_err(|e| CliError::env(anyhow!("{e}")))?;
    match &args.output {
        Some(p) => {
            std::fs::write(p, &bytes).map_err(|e| CliError::env(anyhow!("cannot write `{}`: {e}", p.display())))?
        }
        None => println!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(Code::Ok)
}

pub fn verify(cli: &Cli, args: &VerifyBundleArgs) -> CliResult<Code> {
    let bytes = read(&args.file)?;
    let verifier = match &args.key {
        Some(k) => custos_attest::parse_key(k).map_err(|e| CliError::input(anyhow!("--key: {e}")))?,
        None => DataDir::open(&cli.data_dir)?.verifier(None)?,
    };
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
