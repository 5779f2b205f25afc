//! `custos probe`: adversarial probe packs (validation, issue 8; running campaigns is not
//! built yet).

use anyhow::anyhow;
use custos_probe::Pack;
use serde_json::json;

use crate::{
    cli::{Cli, ProbeListArgs},
    error::{CliError, CliResult, Code},
};

/// Lists a pack's probes: a table, or with `--json` the pack (name, version, digest) and every
/// probe with its ids, channel and oracles.
pub fn list(cli: &Cli, args: &ProbeListArgs) -> CliResult<Code> {
    let pack = match &args.pack {
        // The error names the file and the line.
        Some(path) => Pack::load(path).map_err(|e| CliError::input(anyhow!("{e}")))?,
        None => Pack::builtin().map_err(|e| CliError::env(anyhow!("{e}")))?,
    };
    if cli.json {
        let probes: Vec<_> = pack
            .probes()
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "title": p.title, "asi": p.asi, "llm": p.llm, "atlas": p.atlas,
                    "channel": p.channel.as_str(),
                    "carrier": p.carrier.map(|c| c.tool_name()),
                    "expect": p.expect.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect();
        crate::cmd::print_json(&json!({
            "pack": {"name": pack.name, "version": pack.version, "sha256": pack.digest(), "origin": pack.origin()},
            "probes": probes,
        }));
    } else {
        let rows = pack
            .probes()
            .iter()
            .map(|p| {
                vec![
                    p.id.clone(),
                    p.asi.clone(),
                    p.llm.clone(),
                    p.atlas.clone(),
                    p.channel.as_str().to_string(),
                    p.title.chars().take(60).collect(),
                ]
            })
            .collect();
        crate::cmd::table(&["PROBE", "ASI", "LLM", "ATLAS", "CHANNEL", "TITLE"], rows);
        eprintln!("{} probes, pack {} {} (sha256 {})", pack.probes().len(), pack.name, pack.version, pack.digest());
    }
    Ok(Code::Ok)
}
