//! How a job fails: the failure-cause vocabulary, the watchdog abort messages (the
//! reference's wording, kept so a migrating host's logs and UI read the same), and
//! [`WorkError`], the error a job's work returns.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::process::KillReason;

/// The structured reason a job failed, surfaced as the view's `failureCause`.
///
/// The reference vocabulary (`inactivity-timeout`, `max-duration`, `no-tool-progress`,
/// `agent`, `git`, `api`, `llm-upstream`, `no-usable-output`, `no-changes`) plus keel's
/// `aborted` for a caller's [`abort`](super::JobRegistry::abort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureCause {
    /// The inactivity watchdog fired (no activity for the window).
    InactivityTimeout,
    /// The overall wall-clock cap fired.
    MaxDuration,
    /// The tool-silence watchdog fired: output went on, but no tool call completed.
    NoToolProgress,
    /// The work ran but failed or produced an unusable result (the default for errors).
    Agent,
    /// A git operation failed.
    Git,
    /// An upstream API call failed.
    Api,
    /// The model provider rejected every call.
    LlmUpstream,
    /// The work finished but returned no usable output.
    NoUsableOutput,
    /// A coding job finished without producing any change.
    NoChanges,
    /// A caller aborted the job.
    Aborted,
}

impl FailureCause {
    /// The stable kebab-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::InactivityTimeout => "inactivity-timeout",
            FailureCause::MaxDuration => "max-duration",
            FailureCause::NoToolProgress => "no-tool-progress",
            FailureCause::Agent => "agent",
            FailureCause::Git => "git",
            FailureCause::Api => "api",
            FailureCause::LlmUpstream => "llm-upstream",
            FailureCause::NoUsableOutput => "no-usable-output",
            FailureCause::NoChanges => "no-changes",
            FailureCause::Aborted => "aborted",
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<KillReason> for FailureCause {
    fn from(r: KillReason) -> Self {
        match r {
            KillReason::InactivityTimeout => FailureCause::InactivityTimeout,
            KillReason::MaxDuration => FailureCause::MaxDuration,
            KillReason::NoToolProgress => FailureCause::NoToolProgress,
            KillReason::Aborted => FailureCause::Aborted,
        }
    }
}

/// Whole seconds the way the reference rounds them (`Math.round(ms / 1000)`).
pub(crate) fn round_secs(ms: u64) -> u64 {
    ms.saturating_add(500) / 1000
}

/// A watchdog window as the messages print it: whole seconds the way the reference
/// rounds them (`600s`), except that a window under one second is printed with its real
/// value (`300ms`) — the reference rounds those to a misleading `0s`.
///
/// ```
/// use keel_core::jobs::format_window;
/// assert_eq!(format_window(600_000), "600s");
/// assert_eq!(format_window(1_400), "1s");
/// assert_eq!(format_window(300), "300ms");
/// ```
pub fn format_window(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{}s", round_secs(ms))
    }
}

/// `Aborted: no agent activity for 600s` — the inactivity message prefix (the registry
/// appends `(likely hung in <phase> phase; <breadcrumb>)`).
pub fn inactivity_abort_message(inactivity_ms: u64) -> String {
    format!(
        "Aborted: no agent activity for {}",
        format_window(inactivity_ms)
    )
}

/// `Aborted: exceeded max duration of 3600s`.
pub fn max_duration_abort_message(max_duration_ms: u64) -> String {
    format!(
        "Aborted: exceeded max duration of {}",
        format_window(max_duration_ms)
    )
}

/// `Aborted: the agent produced output but completed no tool call for 1800s`.
pub fn tool_silence_abort_message(tool_silence_ms: u64) -> String {
    format!(
        "Aborted: the agent produced output but completed no tool call for {}",
        format_window(tool_silence_ms)
    )
}

/// The error a job's work returns: a message plus an optional structured cause (a git
/// operation → [`FailureCause::Git`], an upstream call → [`FailureCause::Api`]); untagged
/// errors are [`FailureCause::Agent`]. The registry redacts the message before storing it.
///
/// ```
/// use keel_core::jobs::{FailureCause, WorkError};
///
/// let e = WorkError::new(FailureCause::Git, "push rejected");
/// assert_eq!(e.cause(), FailureCause::Git);
/// assert_eq!(WorkError::agent("boom").cause(), FailureCause::Agent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WorkError {
    cause: Option<FailureCause>,
    message: String,
}

impl WorkError {
    /// An error with a structured cause.
    pub fn new(cause: FailureCause, message: impl Into<String>) -> Self {
        Self {
            cause: Some(cause),
            message: message.into(),
        }
    }

    /// An untagged error (cause `agent`).
    pub fn agent(message: impl Into<String>) -> Self {
        Self {
            cause: None,
            message: message.into(),
        }
    }

    /// The cause (`agent` when untagged).
    pub fn cause(&self) -> FailureCause {
        self.cause.unwrap_or(FailureCause::Agent)
    }

    /// The (unredacted) message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
