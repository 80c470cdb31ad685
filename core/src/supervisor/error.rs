//! The supervisor capability's one error enum.

/// Errors from the supervisor, the actions/runner cycle and the service helpers.
///
/// Messages name the field or the thing that went wrong, never a token or an argument
/// value (registration tokens are secrets). [`code`](SupervisorError::code) gives the
/// stable `KEEL_…` string every surface reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// Options JSON was malformed, had a wrong type or an unknown field.
    #[error("invalid supervisor options JSON at `{field}`: {reason}")]
    InvalidJson {
        /// The field (camelCase), or `options`.
        field: String,
        /// What is wrong (never the value).
        reason: String,
    },
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
    /// The stable code ([`crate::codes`]): `KEEL_INVALID_JSON`, `KEEL_INVALID_OPTION`,
    /// the process codes, or one of the supervisor block (400–499).
    pub fn code(&self) -> &'static str {
        use crate::codes;
        match self {
            SupervisorError::InvalidJson { .. } => codes::INVALID_JSON,
            SupervisorError::InvalidOptions { .. } => codes::INVALID_OPTION,
            SupervisorError::AlreadyRunning => codes::SUPERVISOR_ALREADY_RUNNING,
            SupervisorError::Signals(_) => codes::SIGNAL_HANDLERS,
            SupervisorError::Runtime(_) => codes::INTERNAL,
            SupervisorError::TokenProvider(_) => codes::TOKEN_PROVIDER_FAILED,
            SupervisorError::RunnerDir { .. } => codes::RUNNER_DIR_INVALID,
            SupervisorError::Registration { .. } => codes::REGISTRATION_FAILED,
            SupervisorError::Process(e) => e.code(),
            SupervisorError::ServiceManager(_) => codes::SERVICE_MANAGER_FAILED,
            SupervisorError::ServiceNotStarted(_) => codes::SERVICE_NOT_STARTED,
            SupervisorError::Json(_) => codes::ENCODE,
        }
    }

    /// From the shared options parser (`crate::options`): its field path without the
    /// `options.` root, and its value-free description of the problem.
    /// A value out of range (a negative or fractional count) is
    /// [`InvalidOptions`](Self::InvalidOptions) (`KEEL_INVALID_OPTION`), like every other
    /// capability's; a shape error is [`InvalidJson`](Self::InvalidJson).
    pub(crate) fn from_options(e: crate::options::OptionsError) -> Self {
        let path = e.path();
        let field: String = path
            .strip_prefix("options.")
            .unwrap_or(path)
            .chars()
            .take(64)
            .collect();
        let reason = e.problem().to_string();
        match e.kind() {
            crate::options::OptionsErrorKind::Range => {
                SupervisorError::InvalidOptions { field, reason }
            }
            _ => SupervisorError::InvalidJson { field, reason },
        }
    }

    pub(crate) fn json(field: &str) -> Self {
        SupervisorError::InvalidJson {
            field: field.chars().take(64).collect(),
            reason: "malformed, wrong type or unknown field".into(),
        }
    }

    pub(crate) fn field(field: &str, reason: impl Into<String>) -> Self {
        SupervisorError::InvalidOptions {
            field: field.chars().take(64).collect(),
            reason: reason.into(),
        }
    }
}

/// One value of every variant's code (the vocabulary test in `codes`).
#[doc(hidden)]
pub fn sample_codes() -> Vec<&'static str> {
    vec![
        SupervisorError::json("x").code(),
        SupervisorError::field("x", "x").code(),
        SupervisorError::AlreadyRunning.code(),
        SupervisorError::Signals("x".into()).code(),
        SupervisorError::Runtime("x".into()).code(),
        SupervisorError::TokenProvider("x".into()).code(),
        SupervisorError::RunnerDir {
            path: "/x".into(),
            reason: "x",
        }
        .code(),
        SupervisorError::Registration { exit: "x".into() }.code(),
        SupervisorError::Process(crate::process::ProcessError::EmptyArgv).code(),
        SupervisorError::ServiceManager("x".into()).code(),
        SupervisorError::ServiceNotStarted("x".into()).code(),
        SupervisorError::Json("x".into()).code(),
    ]
}
