//! The turn runner's one error enum.

use std::path::PathBuf;

use crate::codes;
use crate::fsx::FsxError;
use crate::process::ProcessError;

/// Why a turn could not be run (a turn that ran and failed is a [`TurnResult`](super::TurnResult),
/// not an error). Messages name the thing that failed, never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TurnError {
    /// An option is missing, out of range or malformed (the message names the field).
    #[error("invalid turn option `{field}`: {reason}")]
    InvalidOption {
        /// The option (camelCase, as on the wire).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The options could not be parsed or a value is out of range (from the shared
    /// parser, [`crate::options`]): the message names the field, never a value.
    /// `KEEL_INVALID_JSON` for a shape error, `KEEL_INVALID_OPTION` for a range error.
    #[error(transparent)]
    Options(#[from] crate::options::OptionsError),
    /// Another turn of the same agent held the agent's turn lock for the whole wait.
    #[error("agent {agent:?}: turn lock held by {holder} for longer than {waited_ms} ms")]
    LockTimeout {
        /// The agent.
        agent: String,
        /// Who holds it (`pid N (host H, started S)` from the lock file, or `unknown`).
        holder: String,
        /// How long this caller waited.
        waited_ms: u64,
    },
    /// The SQLite store failed.
    #[error("turn store {op} failed: {detail}")]
    Store {
        /// What was being done (`open`, `migrate`, `transition`, …).
        op: &'static str,
        /// SQLite's message (redacted).
        detail: String,
    },
    /// The turn store's schema is newer than this keel knows.
    #[error("turn store {path:?} has schema version {found}, newer than this keel ({known})")]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The newest version this keel knows.
        known: i64,
    },
    /// Spawning, waiting for or signalling the agent CLI failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A state file or directory operation failed.
    #[error(transparent)]
    Fsx(#[from] FsxError),
    /// Another I/O operation failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking API was called from inside an async runtime, or no runtime could be built.
    #[error("the turn runner needs a tokio runtime: {detail}")]
    NoRuntime {
        /// What went wrong.
        detail: &'static str,
    },
}

impl TurnError {
    pub(crate) fn store(op: &'static str, e: rusqlite::Error) -> Self {
        TurnError::Store {
            op,
            detail: crate::redact::redact_secrets(&e.to_string()),
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TurnError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn option(field: &'static str, reason: impl Into<String>) -> Self {
        TurnError::InvalidOption {
            field,
            reason: reason.into(),
        }
    }

    /// The stable code: `KEEL_TURN_LOCK_TIMEOUT`, `KEEL_TURN_STORE`, `KEEL_INVALID_OPTION`,
    /// `KEEL_INVALID_JSON`, `KEEL_IO`, `KEEL_NO_RUNTIME`, or the process / fsx code.
    pub fn code(&self) -> &'static str {
        match self {
            TurnError::InvalidOption { .. } => codes::INVALID_OPTION,
            TurnError::Options(e) => e.code(),
            TurnError::LockTimeout { .. } => codes::TURN_LOCK_TIMEOUT,
            TurnError::Store { .. } | TurnError::SchemaTooNew { .. } => codes::TURN_STORE,
            TurnError::Process(e) => e.code(),
            TurnError::Fsx(e) => e.code(),
            TurnError::Io { .. } => codes::IO,
            TurnError::NoRuntime { .. } => codes::NO_RUNTIME,
        }
    }
}
