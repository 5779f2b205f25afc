//! Errors of the binary, each with the exit code it maps to.

use custos_store::StoreError;

/// Exit codes (DESIGN.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    /// Something in the environment failed: files, permissions, locks, the database.
    Error = 1,
    /// A result, not a failure: not verified, findings, denied.
    Finding = 2,
    /// The input was invalid: bad JSON, an unknown kind, an out-of-range index.
    Input = 3,
}

impl From<Code> for std::process::ExitCode {
    fn from(c: Code) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

/// An error and the exit code it ends the process with.
#[derive(Debug)]
pub struct CliError {
    pub code: Code,
    pub source: anyhow::Error,
}

impl CliError {
    pub fn input(e: impl Into<anyhow::Error>) -> Self {
        Self { code: Code::Input, source: e.into() }
    }

    pub fn env(e: impl Into<anyhow::Error>) -> Self {
        Self { code: Code::Error, source: e.into() }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Event(_)
            | StoreError::OutOfRange { .. }
            | StoreError::NoCheckpointAt(_)
            | StoreError::NotCovered { .. } => Code::Input,
            _ => Code::Error,
        };
        Self { code, source: e.into() }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        Self::env(e)
    }
}

pub type CliResult<T> = Result<T, CliError>;
