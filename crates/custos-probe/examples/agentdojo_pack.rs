//! Converts one suite of an AgentDojo export (tools/agentdojo/export.py) into a probe pack on
//! stdout, reporting skipped injection tasks on stderr. Used by tools/agentdojo/generate.sh.
//!
//! Usage: cargo run -q -p custos-probe --example agentdojo_pack -- EXPORT.json SUITE

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [export, suite] = args.as_slice() else {
        eprintln!("usage: agentdojo_pack EXPORT.json SUITE");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(export) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{export}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    match custos_probe::agentdojo::to_pack(&text, suite) {
        Ok(converted) => {
            print!("{}", converted.toml);
            eprintln!("{suite}: {} probes, {} injection tasks skipped", converted.probes, converted.skipped.len());
            for s in &converted.skipped {
                eprintln!("  skipped {}: {}", s.task, s.reason);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
