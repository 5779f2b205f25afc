//! The `custos` binary: parse the command line, run the command, map the outcome to an exit
//! code (0 ok, 1 error, 2 finding / not verified, 3 invalid input; DESIGN.md §11).

mod backend;
mod cli;
mod cmd;
mod config;
mod datadir;
mod error;
mod output;

use std::process::ExitCode;

use clap::Parser;

// The gateway allocates and frees small JSON values on every call from two threads and the
// ledger writer; glibc malloc spent ~15% of the gateway's CPU at 32 clients (perf), mimalloc
// much less.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // TLS for `--server https://…` uses ring; installing it once keeps aws-lc out of the build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` and `--version` are not errors; a usage mistake is invalid input (3),
            // never clap's default 2, which means "not verified" here.
            return if e.use_stderr() { error::Code::Input.into() } else { error::Code::Ok.into() };
        }
    };
    match cmd::run(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {:#}", e.source);
            ExitCode::from(e.code as u8)
        }
    }
}
