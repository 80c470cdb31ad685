//! The turn runner: one headless agent-CLI turn (Claude Code or Codex), end to end,
//! with durable state.
//!
//! A turn takes the agent's lock (in-process mutex + `flock`, so a `SIGKILL`ed holder
//! never blocks the next turn), re-reads the agent's session from the SQLite store,
//! spawns the CLI as the leader of its own process tree, publishes `turn.pid` (a
//! pid-reuse-safe record), writes the turn to stdin and closes it, tees stderr
//! (redacted) to `<stateDir>/logs/<agent>/<ts>/stderr.log`, and drains the NDJSON
//! events — every one redacted, teed to the `events` table and handed to the
//! caller's callback. A stall watchdog and an abort signal terminate the whole tree; a
//! CLI that lingers after its final event is given a grace period, then terminated.
//! The final state is set by compare-and-swap ([`store::Store::try_transition_state`]),
//! the parent is told (`worker_died`) when the worker dies or ends without its
//! terminal message, and `turn.pid` is removed and the lock released on every path.
//! A turn that finds a stale `turn.pid` (its runner was killed mid-turn) recovers
//! first: the leftover tree is killed, the session marked `zombie`, the parent told.
//!
//! ```no_run
//! use keel_core::turns::{Runtime, TurnOptions, TurnRunner};
//!
//! # async fn demo() -> Result<(), keel_core::turns::TurnError> {
//! let mut opts = TurnOptions::new("builder-1", Runtime::Claude, "/var/lib/host");
//! opts.input = "Fix the failing test".into();
//! opts.resume = true;
//! let result = TurnRunner::new(opts)?
//!     .on_event(|e| println!("{} {:?}", e.kind.as_str(), e.text))
//!     .run()
//!     .await?;
//! println!("{} -> {}", result.initial_state, result.final_state);
//! # Ok(()) }
//! ```

mod error;
mod lock;
pub mod ndjson;
mod options;
mod purge;
mod run;
mod runtime;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use error::TurnError;
pub use lock::{acquire_turn_lock, read_lock_holder, turn_lock_path, LockHolder, TurnLock};
pub use options::{
    TurnOptions, DEFAULT_DRAIN_MS, DEFAULT_KILL_GRACE_MS, DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_MAX_LINE_BYTES, DEFAULT_RESULT_GRACE_MS, DEFAULT_STALL_MS,
    DEFAULT_TERMINAL_MESSAGE_TYPES,
};
pub use purge::purge_identity_state;
pub use runtime::{EventKind, Runtime, TurnEvent};
pub use store::{AgentState, Store, TransitionOutcome};

/// Aborts a running turn from any thread: its whole tree is terminated and the session
/// ends `zombie`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct TurnAbort {
    token: CancellationToken,
}

impl TurnAbort {
    /// Not yet aborted.
    pub fn new() -> Self {
        Self::default()
    }
    /// Abort (idempotent).
    pub fn abort(&self) {
        self.token.cancel();
    }
    /// Whether [`abort`](TurnAbort::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.token.is_cancelled()
    }
    /// Resolves once aborted.
    pub async fn aborted(&self) {
        self.token.cancelled().await
    }
}

/// Decides whether the agent signalled that its work is done during this turn.
pub trait TerminalCheck: Send + Sync {
    /// Taken under the lock before the CLI starts: the baseline `observed` compares with.
    fn baseline(&self, store: &Store, agent: &str) -> Result<i64, TurnError>;
    /// After the CLI ended: whether a terminal signal appeared since `baseline`.
    fn observed(&self, store: &Store, agent: &str, baseline: i64) -> Result<bool, TurnError>;
}

/// The default check: a message from the agent in the `messages` table whose type is
/// one of the terminal types, newer than the latest such message before the turn.
#[derive(Debug, Clone)]
pub struct MessagesCheck {
    /// The terminal message types.
    pub types: Vec<String>,
}

impl TerminalCheck for MessagesCheck {
    fn baseline(&self, store: &Store, agent: &str) -> Result<i64, TurnError> {
        store.latest_message_id(agent, &self.types)
    }
    fn observed(&self, store: &Store, agent: &str, baseline: i64) -> Result<bool, TurnError> {
        store.message_since(agent, &self.types, baseline)
    }
}

/// A turn that found the stale `turn.pid` of a runner that died mid-turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RecoveredTurn {
    /// The pid the dead runner's CLI had.
    pub pid: Option<u32>,
    /// Whether that CLI was still alive (it was then killed).
    pub was_alive: bool,
    /// The session's state when found.
    pub previous_state: Option<AgentState>,
    /// Whether the parent was sent `worker_died`.
    pub parent_notified: bool,
}

/// What a turn did (the reference's `TurnResult`, plus keel's fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TurnResult {
    /// The CLI's exit code; `null` when it was killed or died of a signal.
    pub exit_code: Option<i32>,
    /// A final event reported success (`result` without `is_error`, `turn.completed`).
    pub clean_result: bool,
    /// The session id this turn reported.
    pub new_session_id: Option<String>,
    /// A session was resumed and the CLI answered with a different id.
    pub resume_mismatch: bool,
    /// The terminal check saw the agent's terminal signal.
    pub terminal_mail_observed: bool,
    /// Wall-clock duration.
    pub duration_ms: u64,
    /// The session's state when the turn started.
    pub initial_state: AgentState,
    /// The session's state when it ended (what the store holds).
    pub final_state: AgentState,
    /// The stall watchdog killed the turn.
    pub stall_aborted: bool,
    /// Contract violation: a clean end without the terminal signal.
    pub terminal_mail_missing: bool,
    /// The turn was aborted through its [`TurnAbort`].
    pub aborted: bool,
    /// The CLI lingered after its final event and was terminated.
    pub linger_killed: bool,
    /// `stall`, `abort` or `linger` when keel terminated the tree.
    pub kill_reason: Option<String>,
    /// How the CLI ended.
    pub exit: Option<crate::process::ExitClass>,
    /// Events handed to the callback.
    pub event_count: u64,
    /// Lines over the cap that were skipped.
    pub skipped_lines: u64,
    /// The parent was sent `worker_died`.
    pub parent_notified: bool,
    /// The final CAS was refused (a concurrent writer won): the state it found.
    pub transition_rejected: Option<AgentState>,
    /// The input was empty and nothing ran.
    pub no_op: bool,
    /// A previous runner's crash that this turn recovered from.
    pub recovered: Option<RecoveredTurn>,
    /// The turn's log directory (`stderr.log`, `runner.log`).
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub log_dir: Option<PathBuf>,
    /// The agent.
    pub agent_name: String,
    /// The run id.
    pub run_id: Option<String>,
}

impl TurnResult {
    /// The CLI exit status policy: 0 when the turn completed, 124 when the stall
    /// watchdog killed it, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        if self.stall_aborted {
            124
        } else if self.final_state == AgentState::Completed && !self.aborted {
            0
        } else {
            1
        }
    }
}

type EventCallback = Arc<dyn Fn(&TurnEvent) + Send + Sync>;

/// Builds and runs one turn.
#[derive(Clone)]
pub struct TurnRunner {
    options: TurnOptions,
    on_event: Option<EventCallback>,
    abort: TurnAbort,
    check: Arc<dyn TerminalCheck>,
}

impl std::fmt::Debug for TurnRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnRunner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl TurnRunner {
    /// A runner for `options` (validated).
    pub fn new(options: TurnOptions) -> Result<Self, TurnError> {
        options.validate()?;
        let check = Arc::new(MessagesCheck {
            types: options.terminal_message_types.clone(),
        });
        Ok(TurnRunner {
            options,
            on_event: None,
            abort: TurnAbort::new(),
            check,
        })
    }

    /// Called with every (redacted) event, on the runner's task.
    pub fn on_event(mut self, f: impl Fn(&TurnEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// Abort through this signal.
    pub fn abort_signal(mut self, abort: TurnAbort) -> Self {
        self.abort = abort;
        self
    }

    /// Replace the terminal-signal check.
    pub fn terminal_check(mut self, check: Arc<dyn TerminalCheck>) -> Self {
        self.check = check;
        self
    }

    /// The options.
    pub fn options(&self) -> &TurnOptions {
        &self.options
    }

    /// Run the turn.
    pub async fn run(self) -> Result<TurnResult, TurnError> {
        run::run(self).await
    }

    /// Run the turn on a runtime of its own, blocking the calling thread. Fails with
    /// `KEEL_NO_RUNTIME` inside a tokio runtime (use [`run`](TurnRunner::run) there).
    pub fn run_blocking(self) -> Result<TurnResult, TurnError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(TurnError::NoRuntime {
                detail: "run_blocking was called inside a tokio runtime; await run() instead",
            });
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|_| TurnError::NoRuntime {
                detail: "could not build a runtime",
            })?;
        rt.block_on(self.run())
    }
}
