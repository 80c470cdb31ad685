//! The managed-services capability's one error enum.

use crate::codes;

/// Errors of managed services. Messages name the spec or the thing, never an env value
/// or an argument (they go through `redact` where they may quote input).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServicesError {
    /// The spec (file) was refused by the validator; `reason` is the reference's stable
    /// reason string (`spec[0]: name-not-kebab-case (Bad_Name)`), redacted.
    #[error("invalid managed-spawn spec: {reason}")]
    InvalidSpec {
        /// The validator's reason.
        reason: String,
    },
    /// No managed service has this name.
    #[error("no managed service named `{name}`")]
    NotFound {
        /// The name asked for (kebab-case, validated before use).
        name: String,
    },
    /// A service did not pass its first healthcheck before the deadline.
    #[error("managed service `{name}` is unhealthy: {detail}")]
    Unhealthy {
        /// The service.
        name: String,
        /// The reference's `timeout: spec … did not become healthy within Ns (last: …)`.
        detail: String,
    },
    /// Options were malformed or out of range.
    #[error(transparent)]
    Options(#[from] crate::options::OptionsError),
    /// The state file or a log could not be read or written.
    #[error(transparent)]
    Fsx(#[from] crate::fsx::FsxError),
    /// Spawning or signalling a service failed.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// Another I/O failure (a log file, the spec file).
    #[error("{what} {path:?}: {message}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        message: String,
    },
}

impl ServicesError {
    /// The stable code: `KEEL_SERVICE_SPEC_INVALID`, `KEEL_SERVICE_NOT_FOUND`,
    /// `KEEL_SERVICE_UNHEALTHY`, or the code of the underlying options / fsx / process
    /// error (`KEEL_INVALID_OPTION`, `KEEL_IO`, `KEEL_LOCK_TIMEOUT`, `KEEL_SPAWN_FAILED`…).
    pub fn code(&self) -> &'static str {
        match self {
            ServicesError::InvalidSpec { .. } => codes::SERVICE_SPEC_INVALID,
            ServicesError::NotFound { .. } => codes::SERVICE_NOT_FOUND,
            ServicesError::Unhealthy { .. } => codes::SERVICE_UNHEALTHY,
            ServicesError::Options(e) => e.code(),
            ServicesError::Fsx(e) => e.code(),
            ServicesError::Process(e) => e.code(),
            ServicesError::Io { .. } => codes::IO,
        }
    }

    pub(crate) fn io(what: &'static str, path: &std::path::Path, e: std::io::Error) -> Self {
        ServicesError::Io {
            what,
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// One value of each own code, for the vocabulary test.
pub(crate) fn sample_codes() -> Vec<&'static str> {
    [
        ServicesError::InvalidSpec {
            reason: "specs-missing".into(),
        },
        ServicesError::NotFound { name: "web".into() },
        ServicesError::Unhealthy {
            name: "web".into(),
            detail: "timeout".into(),
        },
    ]
    .iter()
    .map(ServicesError::code)
    .collect()
}
