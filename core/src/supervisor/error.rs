//! The supervisor capability's one error enum.

/// Errors from the supervisor, the actions/runner cycle and the service helpers.
///
/// Messages name the field or the thing that went wrong, never a token or an argument
/// value (registration tokens are secrets). [`code`](SupervisorError::code) gives the
/// stable `KEEL_…` string every surface reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// An option was out of range or malformed.
    #[error("invalid supervisor option `{field}`: {reason}")]
    InvalidOptions {
        /// The option (camelCase, as on the wire).
        field: String,
        /// What is wrong with it (never the value).
        reason: String,
    },
    /// `run` was called while the supervisor was already running (or after it ran).
    #[error("the supervisor is already running or has already run")]
    AlreadyRunning,
    /// Installing the SIGTERM/SIGINT handlers failed.
    #[error("cannot install signal handlers: {0}")]
    Signals(String),
    /// No tokio runtime could be built for a blocking run.
    #[error("cannot start the supervisor runtime: {0}")]
    Runtime(String),
    /// The registration token provider failed (message redacted).
    #[error("registration token provider failed: {0}")]
    TokenProvider(String),
    /// The runner directory or one of its scripts is missing.
    #[error("runner directory {path:?}: {reason}")]
    RunnerDir {
        /// The directory or script.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// `config.sh` failed (after the retries).
    #[error("runner registration failed: config.sh {exit}")]
    Registration {
        /// How config.sh ended (`exited with code 1`, …).
        exit: String,
    },
    /// Spawning or waiting for a worker process failed.
    #[error("worker process: {0}")]
    Process(#[from] crate::process::ProcessError),
    /// A service-manager command (`launchctl`, `systemctl`) could not be run.
    #[error("service manager: {0}")]
    ServiceManager(String),
    /// The installed service did not come up (crashed, not loaded).
    #[error("the service did not start cleanly: {0}")]
    ServiceNotStarted(String),
    /// The status snapshot could not be serialized.
    #[error("status serialization failed: {0}")]
    Json(String),
}

impl SupervisorError {
    /// The stable code (`KEEL_SUPERVISOR_…`).
    pub fn code(&self) -> &'static str {
        match self {
            SupervisorError::InvalidOptions { .. } => "KEEL_SUPERVISOR_INVALID_OPTIONS",
            SupervisorError::AlreadyRunning => "KEEL_SUPERVISOR_ALREADY_RUNNING",
            SupervisorError::Signals(_) => "KEEL_SUPERVISOR_SIGNALS",
            SupervisorError::Runtime(_) => "KEEL_SUPERVISOR_RUNTIME",
            SupervisorError::TokenProvider(_) => "KEEL_SUPERVISOR_TOKEN_PROVIDER",
            SupervisorError::RunnerDir { .. } => "KEEL_SUPERVISOR_RUNNER_DIR",
            SupervisorError::Registration { .. } => "KEEL_SUPERVISOR_REGISTRATION_FAILED",
            SupervisorError::Process(_) => "KEEL_SUPERVISOR_PROCESS",
            SupervisorError::ServiceManager(_) => "KEEL_SUPERVISOR_SERVICE_MANAGER",
            SupervisorError::ServiceNotStarted(_) => "KEEL_SUPERVISOR_SERVICE_NOT_STARTED",
            SupervisorError::Json(_) => "KEEL_SUPERVISOR_JSON",
        }
    }

    pub(crate) fn field(field: &str, reason: impl Into<String>) -> Self {
        SupervisorError::InvalidOptions {
            field: field.chars().take(64).collect(),
            reason: reason.into(),
        }
    }
}
