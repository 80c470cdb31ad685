//! keel's one error-code vocabulary: every stable `KEEL_…` string any surface can
//! report, with the C `keel_result` value it has.
//!
//! Each capability's error enum has `pub fn code(&self) -> &'static str` returning
//! one of the constants below. The C ABI maps a code to its `keel_result` value in one
//! place (`ffi/error.rs`, checked against [`ALL`] by a test), Node throws the same
//! string as the error's `code`, and the CLI prints it. A code is never renamed and
//! its number never reused.
//!
//! Blocks of numbers: generic 0–99, redaction 100–199, credentials 200–299,
//! jobs/process 300–399, supervisor 400–499, services 500–599, server 600–699,
//! turns 700–799. A new capability adds its constants here, in its block, and to
//! [`ALL`] (see `CONTRIBUTING.md`).
//!
//! ```
//! use keel_core::codes;
//!
//! let e = keel_core::redact::Redactor::builder().disable_rule("no-such-rule").build().unwrap_err();
//! assert_eq!(e.code(), codes::UNKNOWN_RULE);
//! assert_eq!(codes::number(codes::UNKNOWN_RULE), Some(100));
//! ```

use crate::credentials::CredentialError;
use crate::fsx::FsxError;
use crate::jobs::{CommandError, JobsError};
use crate::process::ProcessError;
use crate::redact::RedactError;
use crate::turns::TurnError;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $num:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = concat!("KEEL_", stringify!($name));)*
        /// Every code with its C `keel_result` value, in numeric order.
        pub const ALL: &[(&str, u32)] = &[$(($name, $num)),*];
    };
}

codes! {
    // ---- generic 0–99 ----
    /// Success (C only: no error carries it).
    OK = 0;
    /// A required pointer argument was NULL (C).
    NULL_PARAMETER = 1;
    /// A string argument was not valid UTF-8.
    INVALID_UTF8 = 2;
    /// An argument has the wrong type or an invalid value, or a handle is not live.
    INVALID_ARGUMENT = 3;
    /// A JSON argument is malformed, has a field of the wrong type, lacks a required
    /// field or has an unknown one (the message names the field).
    INVALID_JSON = 4;
    /// keel panicked (a bug in keel), on every surface.
    PANIC = 5;
    /// An I/O operation failed.
    IO = 6;
    /// An option is out of range (an empty mask, a zero timeout, …): the message names it.
    INVALID_OPTION = 7;
    /// A failure of the host binding itself (a failed N-API call, a value that could not
    /// be serialized).
    INTERNAL = 8;
    /// A file is larger than the reader accepts.
    FILE_TOO_LARGE = 9;
    /// A JSON state file does not have the expected shape.
    MALFORMED_STATE = 10;
    /// A value could not be encoded as JSON.
    ENCODE = 11;
    /// A path cannot be used as a file path.
    INVALID_PATH = 12;
    /// A result is too large for the host to represent (a string above V8's limit).
    RESULT_TOO_LARGE = 13;
    // ---- redaction 100–199 ----
    /// A rule name (in `disableRules`) is not a built-in rule.
    UNKNOWN_RULE = 100;
    /// A custom rule's pattern does not compile or matches the empty string.
    INVALID_PATTERN = 101;
    /// A custom rule's name is empty, duplicated or taken by a built-in rule.
    INVALID_RULE_NAME = 102;
    // ---- credentials 200–299 ----
    /// Neither the keyring nor the file mirror holds a complete enrollment.
    NOT_ENROLLED = 200;
    /// The stored platform URL is not the one the caller uses.
    PLATFORM_URL_MISMATCH = 201;
    /// The keyring backend cannot be used here.
    KEYRING_UNAVAILABLE = 202;
    /// A keyring call did not answer within the keyring timeout.
    KEYRING_TIMEOUT = 203;
    /// A credential file or its directory is unsafe.
    INSECURE_FILE = 204;
    /// The keyring backend failed in another way.
    KEYRING_ERROR = 205;
    /// Another process held a lock longer than the lock timeout.
    LOCK_TIMEOUT = 206;
    /// A JWT could not be decoded.
    INVALID_JWT = 207;
    // ---- jobs and processes 300–399 ----
    /// No job with this id.
    JOB_NOT_FOUND = 300;
    /// The job's outcome was already reported.
    JOB_OUTCOME_SET = 301;
    /// A command could not be started (empty argv, program not found or not
    /// executable, bad working directory, output file not openable).
    SPAWN_FAILED = 302;
    /// Waiting for, signalling or recording a process failed.
    PROCESS_ERROR = 303;
    /// The call needs a tokio runtime and has none.
    NO_RUNTIME = 304;
    /// The platform lacks a facility this call needs.
    UNSUPPORTED = 305;
    // ---- supervisor 400–499 ----
    /// The supervisor is already running (or has run; `run` is called once).
    SUPERVISOR_ALREADY_RUNNING = 400;
    /// The SIGTERM/SIGINT handlers could not be installed.
    SIGNAL_HANDLERS = 401;
    /// The host's registration-token provider failed.
    TOKEN_PROVIDER_FAILED = 402;
    /// The runner directory lacks `config.sh` / `run.sh`.
    RUNNER_DIR_INVALID = 403;
    /// `config.sh` failed after its retries.
    REGISTRATION_FAILED = 404;
    /// A service manager (`launchctl`, `systemctl`) could not be run.
    SERVICE_MANAGER_FAILED = 405;
    /// An installed service did not start cleanly (crashed, not loaded, failed).
    SERVICE_NOT_STARTED = 406;
    // ---- services 500–599 ----
    /// A managed-spawn spec was refused by the validator (the message is its reason).
    SERVICE_SPEC_INVALID = 500;
    /// No managed service has this name.
    SERVICE_NOT_FOUND = 501;
    /// A managed service did not pass its first healthcheck in time.
    SERVICE_UNHEALTHY = 502;
    // ---- exit-cause recorder (services block, 580–599) ----
    /// The process an exit-cause watcher should watch is not running.
    EXIT_CAUSE_NOT_RUNNING = 580;
    /// The exit-cause watcher process did not start or did not report readiness.
    EXIT_CAUSE_WATCHER_FAILED = 581;
    // ---- server 600–699 ----
    /// The job server could not bind its listening address (in use, not permitted).
    SERVER_BIND = 600;
    /// The job server refused a request without the right `x-harness-secret` (HTTP 401).
    SERVER_UNAUTHORIZED = 601;
    /// The job server has no such route, job or job kind (HTTP 404).
    SERVER_NOT_FOUND = 602;
    /// A request body was larger than the job server accepts (HTTP 413).
    SERVER_BODY_TOO_LARGE = 603;
    /// A request took longer than the job server allows (HTTP 408).
    SERVER_TIMEOUT = 604;
    // ---- turns 700–799 ----
    /// Another turn of the same agent held its turn lock for the whole bounded wait.
    TURN_LOCK_TIMEOUT = 700;
    /// The turn store (SQLite) failed or has a schema newer than this keel.
    TURN_STORE = 701;
}

/// The C `keel_result` value of `code`, `None` for a string that is not a keel code.
pub fn number(code: &str) -> Option<u32> {
    ALL.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

impl RedactError {
    /// The stable code: `KEEL_UNKNOWN_RULE`, `KEEL_INVALID_PATTERN`,
    /// `KEEL_INVALID_RULE_NAME` or `KEEL_INVALID_OPTION`.
    pub fn code(&self) -> &'static str {
        match self {
            RedactError::UnknownRule { .. } => UNKNOWN_RULE,
            RedactError::InvalidPattern { .. } => INVALID_PATTERN,
            RedactError::InvalidRuleName { .. } => INVALID_RULE_NAME,
            RedactError::InvalidOption { .. } => INVALID_OPTION,
        }
    }
}

impl ProcessError {
    /// The stable code: `KEEL_SPAWN_FAILED` for every failure to start a child,
    /// `KEEL_NO_RUNTIME`, `KEEL_UNSUPPORTED`, `KEEL_INVALID_ARGUMENT` for a pid that
    /// cannot be a target, `KEEL_PROCESS_ERROR` otherwise.
    pub fn code(&self) -> &'static str {
        match self {
            ProcessError::EmptyArgv
            | ProcessError::BadCwd { .. }
            | ProcessError::ProgramNotFound { .. }
            | ProcessError::ProgramNotExecutable { .. }
            | ProcessError::Spawn { .. }
            | ProcessError::OutputFile { .. } => SPAWN_FAILED,
            ProcessError::NoRuntime => NO_RUNTIME,
            ProcessError::Unsupported { .. } => UNSUPPORTED,
            ProcessError::InvalidPid { .. } => INVALID_ARGUMENT,
            _ => PROCESS_ERROR,
        }
    }
}

impl CommandError {
    /// The stable code: [`ProcessError::code`] for spawn and process failures,
    /// `KEEL_INVALID_OPTION` for an invalid spec.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Spawn(e) => match e.code() {
                PROCESS_ERROR => SPAWN_FAILED,
                c => c,
            },
            CommandError::Process(e) => e.code(),
            CommandError::InvalidSpec { .. } => INVALID_OPTION,
        }
    }
}

impl JobsError {
    /// The stable code: `KEEL_NO_RUNTIME`, `KEEL_INVALID_ARGUMENT` (a job id) or
    /// `KEEL_INVALID_OPTION` (a registry limit).
    pub fn code(&self) -> &'static str {
        match self {
            JobsError::NoRuntime => NO_RUNTIME,
            JobsError::InvalidId { .. } => INVALID_ARGUMENT,
            JobsError::InvalidConfig { .. } => INVALID_OPTION,
        }
    }
}

/// Every code some error value of core reports, produced from real values: the test
/// below checks each is in [`ALL`], and the surfaces' tests check each has a C value
/// and the same name in Node.
#[doc(hidden)]
pub fn sample_codes() -> Vec<&'static str> {
    use std::io;
    use std::path::PathBuf;
    let p = || PathBuf::from("/x");
    let ioe = || io::Error::other("x");
    let mut v = vec![
        RedactError::UnknownRule { name: "x".into() }.code(),
        RedactError::InvalidPattern {
            name: "x".into(),
            reason: "x".into(),
        }
        .code(),
        RedactError::InvalidRuleName { name: "x".into() }.code(),
        RedactError::InvalidOption {
            option: "mask",
            reason: "x".into(),
        }
        .code(),
        JobsError::NoRuntime.code(),
        JobsError::InvalidId { reason: "x" }.code(),
        JobsError::InvalidConfig {
            field: "x",
            reason: "x",
        }
        .code(),
        CommandError::InvalidSpec {
            field: "x",
            reason: "x",
        }
        .code(),
        CommandError::Spawn(ProcessError::EmptyArgv).code(),
        ProcessError::Wait {
            pid: 1,
            source: ioe(),
        }
        .code(),
        ProcessError::NoRuntime.code(),
        ProcessError::Unsupported { what: "x" }.code(),
        ProcessError::InvalidPid { pid: 0 }.code(),
    ];
    for e in [
        FsxError::io("x", p(), ioe()),
        FsxError::LockTimeout {
            path: p(),
            waited_ms: 1,
        },
        FsxError::TooLarge {
            path: p(),
            len: 2,
            limit: 1,
        },
        FsxError::Json {
            path: p(),
            category: "data",
            line: 1,
            column: 1,
        },
        FsxError::Encode { path: p() },
        FsxError::InvalidPath {
            path: p(),
            reason: "x",
        },
    ] {
        v.push(e.code());
    }
    for e in [
        CredentialError::NotEnrolled { detail: "x".into() },
        CredentialError::PlatformUrlMismatch {
            stored: "a".into(),
            current: "b".into(),
        },
        CredentialError::KeyringUnavailable {
            backend: "x",
            detail: "x".into(),
        },
        CredentialError::KeyringTimeout {
            backend: "x",
            op: "get",
            key: "k".into(),
            timeout_ms: 1,
        },
        CredentialError::Keyring {
            backend: "x",
            op: "get",
            key: "k".into(),
            detail: "x".into(),
        },
        CredentialError::LockTimeout {
            path: p(),
            waited_ms: 1,
        },
        CredentialError::invalid("x", "x"),
        CredentialError::InvalidJwt { reason: "x".into() },
    ] {
        v.push(e.code());
    }
    v.extend(crate::supervisor::sample_codes());
    v.extend(crate::services::sample_codes());
    v.extend(crate::exit_cause::sample_codes());
    for e in [
        TurnError::LockTimeout {
            agent: "a".into(),
            holder: "x".into(),
            waited_ms: 1,
        },
        TurnError::Store {
            op: "open",
            detail: "x".into(),
        },
        TurnError::Options(crate::options::OptionsError::shape("options", "x")),
        TurnError::InvalidOption {
            field: "x",
            reason: "x".into(),
        },
    ] {
        v.push(e.code());
    }
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_core_reports_is_in_the_vocabulary() {
        for code in sample_codes() {
            assert!(number(code).is_some(), "{code} is not in codes::ALL");
        }
    }

    #[test]
    fn names_and_numbers_are_unique_and_in_their_blocks() {
        let mut names: Vec<_> = ALL.iter().map(|(c, _)| *c).collect();
        let mut nums: Vec<_> = ALL.iter().map(|(_, n)| *n).collect();
        names.sort_unstable();
        names.dedup();
        nums.sort_unstable();
        nums.dedup();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(nums.len(), ALL.len());
        for (c, _) in ALL {
            assert!(c.starts_with("KEEL_") && c.len() < 40, "{c}");
        }
        assert_eq!(number(PANIC), Some(5));
        assert_eq!(number("KEEL_NOPE"), None);
    }
}
