//! The exit-cause recorder's one error enum.

use std::path::PathBuf;

use crate::codes;
use crate::fsx::FsxError;
use crate::options::OptionsError;

/// Why a watcher could not be ensured, disarmed or read. Messages name the thing that
/// failed (a field, a file, a pid), never a value that may be a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExitCauseError {
    /// The options are malformed or out of range (the message names the field).
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The process to watch is not running (or its pid now belongs to another process).
    #[error("process {pid} is not running (or is not the process with the given start time)")]
    NotRunning {
        /// The pid.
        pid: u32,
    },
    /// The watcher process could not be started or did not report that it is watching
    /// within `readyTimeoutMs`.
    #[error("the exit-cause watcher did not start: {detail}")]
    WatcherFailed {
        /// What went wrong (redacted; never the spec).
        detail: String,
    },
    /// A state or log file is malformed, unsafe, locked too long or unwritable.
    #[error(transparent)]
    Fsx(#[from] FsxError),
    /// Another I/O operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The platform cannot watch a process this way.
    #[error("exit-cause watching is not supported here: {what}")]
    Unsupported {
        /// What is missing.
        what: &'static str,
    },
}

impl ExitCauseError {
    /// The stable code: the options' own (`KEEL_INVALID_JSON` / `KEEL_INVALID_OPTION`),
    /// `KEEL_EXIT_CAUSE_NOT_RUNNING`, `KEEL_EXIT_CAUSE_WATCHER_FAILED`, the fsx codes
    /// (`KEEL_MALFORMED_STATE`, `KEEL_INSECURE_FILE`, `KEEL_LOCK_TIMEOUT`, …), `KEEL_IO`
    /// or `KEEL_UNSUPPORTED`.
    pub fn code(&self) -> &'static str {
        match self {
            ExitCauseError::Options(e) => e.code(),
            ExitCauseError::NotRunning { .. } => codes::EXIT_CAUSE_NOT_RUNNING,
            ExitCauseError::WatcherFailed { .. } => codes::EXIT_CAUSE_WATCHER_FAILED,
            ExitCauseError::Fsx(e) => e.code(),
            ExitCauseError::Io { .. } => codes::IO,
            ExitCauseError::Unsupported { .. } => codes::UNSUPPORTED,
        }
    }

    pub(crate) fn failed(detail: impl AsRef<str>) -> Self {
        ExitCauseError::WatcherFailed {
            detail: crate::redact::redact_secrets(detail.as_ref()),
        }
    }
}

/// Every code an [`ExitCauseError`] reports, from real values (for `codes::sample_codes`).
#[doc(hidden)]
pub fn sample_codes() -> Vec<&'static str> {
    vec![
        ExitCauseError::NotRunning { pid: 2 }.code(),
        ExitCauseError::failed("x").code(),
        ExitCauseError::Io {
            op: "x",
            path: PathBuf::from("/x"),
            source: std::io::Error::other("x"),
        }
        .code(),
        ExitCauseError::Unsupported { what: "x" }.code(),
        ExitCauseError::Options(OptionsError::range("x", "x")).code(),
    ]
}
