//! Job watchdogs: a [`JobRegistry`] that drives background jobs to a recorded end under
//! inactivity / max-duration / tool-silence watchdogs, and [`run_command`] for supervised
//! commands whose whole process tree is killed on time.
//!
//! This is the reference's `runner.ts` done right:
//!
//! * **Idempotent start** by id; a re-dispatched start re-attaches.
//! * **Three watchdogs**, each one resettable deadline. `activity()` is one relaxed atomic
//!   store; a single waiter per job wakes at the earliest deadline and re-checks. The
//!   first to fire sets the reason and cancels the work; a [`run_command`] in the work
//!   then terminates its process group through [`crate::process`].
//! * **Breadcrumbs**: phases with per-phase wall-clock timings and the last completed
//!   tool, so a failure says where the job hung:
//!   `Aborted: no agent activity for 600s (likely hung in clone phase; last completed tool Bash 42s ago)`.
//! * **Drain-on-read** spans / follow-ups / call metrics with bounded buffers and drop
//!   counters.
//! * **`abort`** waits (bounded) for the settled state; **`abort_all`**;
//!   **`running_count`**; eviction of finished jobs after a retention period.
//! * Every string that reaches a view or a log is redacted ([`crate::redact`]).
//!
//! ```
//! use std::time::Duration;
//! use keel_core::jobs::{CommandSpec, FailureCause, JobRegistry, JobState, WatchdogLimits};
//! use keel_core::process::Command;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! // A registry whose jobs are shell commands, killed after 200 ms of silence.
//! let registry = JobRegistry::builder(|argv: Vec<String>, ctx| async move {
//!     ctx.phase("run");
//!     Ok(ctx.run_command(CommandSpec::new(Command::new(argv))).await?)
//! })
//! .limits(WatchdogLimits::default().inactivity(Some(Duration::from_millis(200))))
//! .build()?;
//!
//! registry.start("hung", vec!["sh".into(), "-c".into(), "sleep 30".into()])?;
//! while registry.running_count() > 0 {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! let view = registry.get("hung").unwrap();
//! assert_eq!(view.state, JobState::Failed);
//! assert_eq!(view.failure_cause, Some(FailureCause::InactivityTimeout));
//! assert!(view.error.unwrap().starts_with("Aborted: no agent activity for 200ms (likely hung in run phase"));
//! # Ok::<(), keel_core::jobs::JobsError>(())
//! # }).unwrap();
//! ```

mod command;
mod external;
mod failure;
mod options;
mod registry;
mod runtime;
mod timer;
mod tool_silence;
mod view;
mod watchdog;

pub use crate::process::KillReason;
pub use command::{
    run_command, AbortSignal, CommandError, CommandResult, CommandSpec, OutputCallback, OutputSink,
    OutputStream, DEFAULT_DRAIN_TIMEOUT, DEFAULT_IDLE_FLUSH,
};
pub use external::{external_work, ExternalWork, WorkCompleter};
pub use failure::{
    format_window, inactivity_abort_message, max_duration_abort_message,
    tool_silence_abort_message, FailureCause, WorkError,
};
pub use options::{
    CommandOptions, RegistryOptions, RunnerLimits, DEFAULT_COLD_START, ENV_COLD_START_MS,
    ENV_INACTIVITY_MS, ENV_MAX_DURATION_MS, ENV_TOOL_SILENCE_MS,
};
pub use registry::{
    ExternalJob, JobContext, JobEvent, JobRegistry, JobRegistryBuilder, JobsError, Started,
    ToolWindow, DEFAULT_ABORT_SETTLE, DEFAULT_BUFFER_CAP, DEFAULT_CANCEL_GRACE, DEFAULT_RETENTION,
};
pub use runtime::JobRuntime;
pub use tool_silence::{ToolSilence, ToolSilenceCheck};
pub use view::{CallMetric, ColdStart, Dropped, JobResult, JobState, JobView, Progress, ToolSpan};
pub use watchdog::{WatchdogLimits, DEFAULT_INACTIVITY, DEFAULT_MAX_DURATION};

/// The fields of a registry's limits object as the C and Node surfaces take it
/// (camelCase milliseconds): the reference's `RunnerLimits` (`inactivityMs`,
/// `maxDurationMs`, `toolSilenceMs`, `coldStartMs`) plus
/// keel's `retentionMs`, `abortSettleMs` and `cancelGraceMs`.
pub const REGISTRY_LIMIT_FIELDS: [&str; 7] = [
    "inactivityMs",
    "maxDurationMs",
    "toolSilenceMs",
    "coldStartMs",
    "retentionMs",
    "abortSettleMs",
    "cancelGraceMs",
];
