//! Supervised commands: an argv under the three watchdogs, output redacted on the fly.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::failure::FailureCause;
use super::registry::JobContext;
use super::view::JobResult;
use super::watchdog::{Watchdog, WatchdogLimits};
use crate::process::{
    open_output_file, Command, ExitClass, KillReason, OutputMode, ProcessError, StdinMode,
    Survivor, DEFAULT_KILL_GRACE, DEFAULT_KILL_WAIT,
};
use crate::redact::{Redactor, StreamRedactor, MAX_CAPTURED_OUTPUT_CHARS};
use crate::time::{SharedClock, SystemClock};

/// Default time to keep reading pipes after the command exited.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

/// Default idle-flush window: after this long without output, held-back bytes that
/// cannot be the start of a secret are emitted (as `keel redact --flush-ms 200`).
pub const DEFAULT_IDLE_FLUSH: Duration = Duration::from_millis(200);

/// Which stream a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// The child's stdout.
    Stdout,
    /// The child's stderr.
    Stderr,
}

/// Receives redacted output text. Runs on a tokio worker thread, once per redacted chunk
/// (whole lines, except an overlong line, the stream's tail, or what an idle flush
/// ([`CommandSpec::idle_flush`]) emits of a partial line), in stream order per stream.
pub type OutputCallback = Arc<dyn Fn(OutputStream, &str) + Send + Sync>;

/// Where a stream's redacted output goes (its tail is captured regardless).
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OutputSink {
    /// Nowhere beyond the captured tail.
    #[default]
    Tail,
    /// A callback.
    Callback(OutputCallback),
    /// A file (created 0600 if missing).
    File {
        /// The file.
        path: PathBuf,
        /// Append instead of truncating.
        append: bool,
    },
}

impl fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputSink::Tail => f.write_str("Tail"),
            OutputSink::Callback(_) => f.write_str("Callback(..)"),
            OutputSink::File { path, append } => f
                .debug_struct("File")
                .field("path", path)
                .field("append", append)
                .finish(),
        }
    }
}

/// Errors from [`run_command`]. Never contains argv or output text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command could not be spawned (empty argv, program not found, bad cwd, …).
    #[error(transparent)]
    Spawn(ProcessError),
    /// Waiting for or signalling the command failed.
    #[error(transparent)]
    Process(ProcessError),
    /// The spec is invalid.
    #[error("invalid command spec `{field}`: {reason}")]
    InvalidSpec {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl From<CommandError> for super::WorkError {
    fn from(e: CommandError) -> Self {
        super::WorkError::agent(e.to_string())
    }
}

/// What to run and how to supervise it.
///
/// ```
/// use std::time::Duration;
/// use keel_core::jobs::{run_command, CommandSpec, WatchdogLimits};
/// use keel_core::process::{Command, ExitClass, KillReason};
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let spec = CommandSpec::new(Command::new(["sh", "-c", "echo working; sleep 30"]))
///     .limits(WatchdogLimits::default().inactivity(Some(Duration::from_millis(200))));
/// let result = run_command(spec).await?;
/// assert_eq!(result.kill_reason, Some(KillReason::InactivityTimeout));
/// assert!(matches!(result.exit, ExitClass::Killed { .. }));
/// assert_eq!(result.tail.as_deref(), Some("working"));
/// # Ok::<(), keel_core::jobs::CommandError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct CommandSpec {
    command: Command,
    limits: WatchdogLimits,
    kill_grace: Duration,
    kill_wait: Duration,
    drain_timeout: Duration,
    stdout: OutputSink,
    stderr: OutputSink,
    stdin_data: Option<Vec<u8>>,
    tail_chars: usize,
    reap_group_on_exit: bool,
    clock: Option<SharedClock>,
    redactor: Option<Redactor>,
    abort: Option<AbortSignal>,
    idle_flush: Option<Duration>,
}

/// Aborts a standalone supervised command ([`run_command`]) from any thread: its process
/// group is terminated (SIGTERM, grace, SIGKILL) and the result's `killReason` is
/// `aborted`. Cheap to clone; clones abort the same commands.
#[derive(Debug, Clone, Default)]
pub struct AbortSignal {
    token: CancellationToken,
}

impl AbortSignal {
    /// A signal not yet aborted.
    pub fn new() -> AbortSignal {
        AbortSignal::default()
    }

    /// Abort every command this signal was given to (idempotent).
    pub fn abort(&self) {
        self.token.cancel();
    }

    /// Whether [`abort`](AbortSignal::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl CommandSpec {
    /// Supervise `command`. Its stdout/stderr are always piped (keel reads them); stdin is
    /// `/dev/null` unless [`stdin_data`](CommandSpec::stdin_data) is set.
    pub fn new(command: Command) -> Self {
        Self {
            command,
            limits: WatchdogLimits::default(),
            kill_grace: DEFAULT_KILL_GRACE,
            kill_wait: DEFAULT_KILL_WAIT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            stdout: OutputSink::Tail,
            stderr: OutputSink::Tail,
            stdin_data: None,
            tail_chars: MAX_CAPTURED_OUTPUT_CHARS,
            reap_group_on_exit: true,
            clock: None,
            redactor: None,
            abort: None,
            idle_flush: Some(DEFAULT_IDLE_FLUSH),
        }
    }

    /// Idle flush (default 200 ms, [`DEFAULT_IDLE_FLUSH`]): when a stream has been quiet
    /// this long, the redactor's held-back bytes that cannot be the start of a secret go
    /// to the sinks — so a quiet job's last line (`step 1 done`) shows while it runs,
    /// still redacted: a secret split across the flush is never emitted in part, and
    /// the output is byte-for-byte what one-shot redaction gives. `None`: only at the
    /// end of the stream. Measured on the spec's clock.
    pub fn idle_flush(mut self, window: Option<Duration>) -> Self {
        self.idle_flush = window.filter(|w| !w.is_zero());
        self
    }

    /// Terminate the command when `signal` is aborted (standalone [`run_command`] only; a
    /// registry job is aborted through its registry).
    pub fn abort_signal(mut self, signal: AbortSignal) -> Self {
        self.abort = Some(signal);
        self
    }

    /// Watchdog windows when run standalone (ignored under a [`JobContext`], whose job's
    /// watchdogs apply).
    pub fn limits(mut self, limits: WatchdogLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Grace between SIGTERM and SIGKILL (default 5 s).
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// Bounded wait for the group to vanish after SIGKILL (default 2 s).
    pub fn kill_wait(mut self, wait: Duration) -> Self {
        self.kill_wait = wait;
        self
    }

    /// How long to keep reading pipes after the command exits (default 500 ms) before
    /// abandoning pipes a grandchild still holds open.
    pub fn drain_timeout(mut self, drain: Duration) -> Self {
        self.drain_timeout = drain;
        self
    }

    /// Where redacted stdout goes.
    pub fn stdout(mut self, sink: OutputSink) -> Self {
        self.stdout = sink;
        self
    }

    /// Where redacted stderr goes.
    pub fn stderr(mut self, sink: OutputSink) -> Self {
        self.stderr = sink;
        self
    }

    /// Bytes written to the command's stdin, which is then closed.
    pub fn stdin_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin_data = Some(data.into());
        self
    }

    /// Characters of output tail to keep (default 16,000, the reference's
    /// `MAX_CAPTURED_OUTPUT_CHARS`).
    pub fn tail_chars(mut self, n: usize) -> Self {
        self.tail_chars = n;
        self
    }

    /// After the command exits by itself, terminate what is left of its process group
    /// (orphaned grandchildren) — default on.
    pub fn reap_group_on_exit(mut self, on: bool) -> Self {
        self.reap_group_on_exit = on;
        self
    }

    /// The clock for standalone watchdogs and waits (default: system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The redactor output goes through (default: the job's redactor under a
    /// [`JobContext`], else the process-wide [`crate::redact::global`]).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = Some(redactor);
        self
    }
}

/// The outcome of a supervised command.
///
/// JSON (camelCase): `{"exit":{"kind":"exited","code":0},"durationMs":12,"tail":"…",
/// "killReason":null,"escalated":false,…,"error":null}` — `error` is set for any end but
/// exit code 0, so the result satisfies the reference's `JobResultBase`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CommandResult {
    /// The leader's pid (and process-group id).
    pub pid: u32,
    /// How it ended.
    pub exit: ExitClass,
    /// Wall-clock milliseconds from spawn to the end of draining.
    pub duration_ms: u64,
    /// Redacted tail of stdout + stderr (capture_redacted_output semantics); `None` when
    /// both were empty.
    pub tail: Option<String>,
    /// Which watchdog (or abort) killed it.
    pub kill_reason: Option<KillReason>,
    /// SIGTERM was not enough and the group was SIGKILLed.
    pub escalated: bool,
    /// No process of the leader's process group was left at the end (kept for
    /// compatibility; see `tree_cleared`).
    pub group_cleared: bool,
    /// No process of the job's whole tree was left at the end — also none that left the
    /// process group (Linux subreaper shim; elsewhere the same as `group_cleared`).
    /// Never true while something of the tree lives.
    pub tree_cleared: bool,
    /// What was still alive when keel gave up (pid and redacted command line).
    pub survivors: Vec<Survivor>,
    /// A pipe was still held open after the drain timeout and reading stopped early.
    pub drain_timed_out: bool,
    /// Bytes read from stdout.
    pub stdout_bytes: u64,
    /// Bytes read from stderr.
    pub stderr_bytes: u64,
    /// Why the run counts as failed (`None` for exit code 0).
    pub error: Option<String>,
}

impl JobResult for CommandResult {
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    fn failure_cause(&self) -> Option<FailureCause> {
        self.kill_reason.map(FailureCause::from)
    }
    fn redact_strings(&mut self, redactor: &Redactor) {
        let mut redact = |s: &mut String| {
            if let std::borrow::Cow::Owned(red) = redactor.redact_str(s) {
                *s = red;
            }
        };
        self.tail.iter_mut().for_each(&mut redact);
        self.error.iter_mut().for_each(&mut redact);
        self.survivors
            .iter_mut()
            .for_each(|s| redact(&mut s.command));
    }
}

/// Run a command under its own watchdogs ([`CommandSpec::limits`]).
///
/// Every byte of stdout/stderr counts as activity. Output passes through the stream
/// redactor, then to the sinks, and its tail is captured. When a watchdog fires the whole
/// process group is terminated (SIGTERM, grace, SIGKILL) and the result says why.
pub async fn run_command(spec: CommandSpec) -> Result<CommandResult, CommandError> {
    let clock = spec.clock.clone().unwrap_or_else(SystemClock::shared);
    let wd = Arc::new(Watchdog::new(clock, spec.limits, CancellationToken::new()));
    let redactor = spec
        .redactor
        .clone()
        .unwrap_or_else(|| crate::redact::global().clone());
    let Some(abort) = spec.abort.clone() else {
        return run(spec, &wd, true, redactor).await;
    };
    let fire = async {
        abort.token.cancelled().await;
        wd.fire(KillReason::Aborted);
        std::future::pending::<()>().await
    };
    tokio::select! {
        r = run(spec, &wd, true, redactor) => r,
        _ = fire => unreachable!("pending never completes"),
    }
}

impl JobContext {
    /// Run a command under this job's watchdogs: its output is the job's activity, and
    /// the job's cancellation (watchdog or abort) terminates its process group.
    pub async fn run_command(&self, spec: CommandSpec) -> Result<CommandResult, CommandError> {
        let redactor = spec
            .redactor
            .clone()
            .unwrap_or_else(|| self.redactor().clone());
        run(spec, self.watchdog(), false, redactor).await
    }
}

/// One supervised run, in the four steps the supervisor, services and turn runner reuse:
/// [`spawn`] (sinks, child, stdin, one [`pump`] per pipe), [`wait_or_kill`] (the leader's
/// exit, or the watchdog / abort and the tree's termination), [`drain`] (bounded reading
/// of what the pipes still hold) and [`reap_leftovers`] (what of the tree outlived its
/// leader); [`CommandSpec`]'s result is assembled from their outcomes.
async fn run(
    spec: CommandSpec,
    wd: &Arc<Watchdog>,
    own_watchdog: bool,
    redactor: Redactor,
) -> Result<CommandResult, CommandError> {
    if let Err(field) = spec.limits.validate() {
        return Err(CommandError::InvalidSpec {
            field,
            reason: "a watchdog window must be greater than zero (use None to disable it)",
        });
    }
    let clock = wd.clock().clone();
    let started = clock.now();
    let Spawned {
        mut child,
        readers,
        stop,
    } = spawn(&spec, wd, &redactor)?;
    let ended = wait_or_kill(&mut child, wd, own_watchdog, &spec).await?;
    let drained = drain(readers, &stop, &clock, spec.drain_timeout, &redactor).await;
    let tree = reap_leftovers(&mut child, &spec, &ended).await?;
    Ok(assemble(
        &spec,
        &child,
        ended,
        tree,
        drained,
        clock.now().saturating_sub(started),
        &redactor,
    ))
}

/// A spawned command: the child and one pump task per piped stream.
struct Spawned {
    child: crate::process::Child,
    readers: Vec<Reader>,
    /// Cancels the pumps (after the drain timeout).
    stop: CancellationToken,
}

/// One stream's pump task and the state it feeds.
struct Reader {
    state: Arc<Mutex<StreamState>>,
    task: tokio::task::JoinHandle<()>,
}

/// Step 1: open the file sinks (so a bad path fails before anything runs), spawn the
/// child with piped stdout/stderr, feed its stdin, and start one [`pump`] per stream.
fn spawn(
    spec: &CommandSpec,
    wd: &Arc<Watchdog>,
    redactor: &Redactor,
) -> Result<Spawned, CommandError> {
    let clock = wd.clock().clone();
    let out_sink = Sink::open(&spec.stdout).map_err(CommandError::Spawn)?;
    let err_sink = Sink::open(&spec.stderr).map_err(CommandError::Spawn)?;

    let mut command = spec.command.clone().clock(clock.clone());
    command.set_stdout(OutputMode::Piped);
    command.set_stderr(OutputMode::Piped);
    command.set_stdin(if spec.stdin_data.is_some() {
        StdinMode::Piped
    } else {
        StdinMode::Null
    });
    let mut child = command.spawn().map_err(CommandError::Spawn)?;
    wd.activity();

    if let (Some(data), Some(mut stdin)) = (spec.stdin_data.clone(), child.take_stdin()) {
        tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
            let _ = stdin.shutdown().await;
        });
    }

    let stop = CancellationToken::new();
    let cap = spec.tail_chars;
    let pumping = Pumping {
        wd: wd.clone(),
        stop: stop.clone(),
        idle_flush: spec.idle_flush,
        clock,
    };
    let mut readers = Vec::with_capacity(2);
    let mut start = |reader: Box<dyn AsyncRead + Send + Unpin>, which, sink| {
        let state = Arc::new(Mutex::new(StreamState::new(which, sink, cap, redactor)));
        let task = tokio::spawn(pump(reader, state.clone(), pumping.clone()));
        readers.push(Reader { state, task });
    };
    if let Some(r) = child.take_stdout() {
        start(Box::new(r), OutputStream::Stdout, out_sink);
    }
    if let Some(r) = child.take_stderr() {
        start(Box::new(r), OutputStream::Stderr, err_sink);
    }
    Ok(Spawned {
        child,
        readers,
        stop,
    })
}

/// How the leader ended, and what killing the tree achieved when keel killed it.
struct Ended {
    /// The leader exited by itself (no watchdog, no abort).
    by_itself: bool,
    exit: ExitClass,
    tree: TreeOutcome,
}

/// What a termination of the tree achieved (all clear when nothing was killed).
struct TreeOutcome {
    escalated: bool,
    group_cleared: bool,
    tree_cleared: bool,
    survivors: Vec<Survivor>,
}

impl TreeOutcome {
    fn clear() -> Self {
        TreeOutcome {
            escalated: false,
            group_cleared: true,
            tree_cleared: true,
            survivors: Vec::new(),
        }
    }

    fn of(t: crate::process::Termination) -> Self {
        TreeOutcome {
            escalated: t.escalated,
            group_cleared: t.group_cleared,
            tree_cleared: t.tree_cleared,
            survivors: t.survivors,
        }
    }
}

/// Step 2: wait for the leader to exit, or for the watchdog / abort to fire — then
/// terminate the whole tree (SIGTERM, grace, SIGKILL, bounded wait) and say why.
async fn wait_or_kill(
    child: &mut crate::process::Child,
    wd: &Arc<Watchdog>,
    own_watchdog: bool,
    spec: &CommandSpec,
) -> Result<Ended, CommandError> {
    let exited = {
        let token = wd.token().clone();
        tokio::select! {
            biased;
            st = child.wait() => Some(st.map_err(CommandError::Process)?),
            _ = async {
                if own_watchdog { wd.run().await; } else { token.cancelled().await; }
            } => None,
        }
    };
    if let Some(exit) = exited {
        return Ok(Ended {
            by_itself: true,
            exit,
            tree: TreeOutcome::clear(),
        });
    }
    let reason = wd.reason().unwrap_or(KillReason::Aborted);
    tracing::info!(
        pid = child.pid(),
        reason = reason.as_str(),
        "supervised command cancelled; terminating its process group"
    );
    let t = child
        .terminate_with(spec.kill_grace, spec.kill_wait)
        .await
        .map_err(CommandError::Process)?;
    let exit = match t.exit {
        Some(e) => e,
        None => child.wait().await.map_err(CommandError::Process)?,
    };
    Ok(Ended {
        by_itself: false,
        exit: exit.killed_by(reason),
        tree: TreeOutcome::of(t),
    })
}

/// What the pumps read, once they stopped.
struct Drained {
    out: StreamState,
    err: StreamState,
    /// A pipe was still held open after the drain timeout.
    timed_out: bool,
}

/// Step 3: bounded drain — a grandchild may hold the pipes open after the leader is
/// gone; past `timeout` the pumps are stopped (each flushes what it holds).
async fn drain(
    readers: Vec<Reader>,
    stop: &CancellationToken,
    clock: &SharedClock,
    timeout: Duration,
    redactor: &Redactor,
) -> Drained {
    let deadline = clock.now() + timeout;
    let mut timed_out = false;
    let mut out = None;
    let mut err = None;
    for Reader { state, mut task } in readers {
        let left = deadline.saturating_sub(clock.now());
        let done = tokio::select! {
            _ = &mut task => true,
            _ = clock.sleep(left) => false,
        };
        if !done {
            timed_out = true;
            stop.cancel();
            let _ = task.await;
        }
        let s = std::mem::replace(
            &mut *state.lock().unwrap_or_else(|e| e.into_inner()),
            StreamState::empty(redactor),
        );
        match s.which {
            OutputStream::Stdout => out = Some(s),
            OutputStream::Stderr => err = Some(s),
        }
    }
    Drained {
        out: out.unwrap_or_else(|| StreamState::empty(redactor)),
        err: err.unwrap_or_else(|| StreamState::empty(redactor)),
        timed_out,
    }
}

/// Step 4: after a leader that exited by itself, what is left of its tree (orphaned
/// grandchildren) is terminated too ([`CommandSpec::reap_group_on_exit`]), or reported.
/// After a kill, the kill's own outcome stands.
async fn reap_leftovers(
    child: &mut crate::process::Child,
    spec: &CommandSpec,
    ended: &Ended,
) -> Result<Option<TreeOutcome>, CommandError> {
    if !ended.by_itself || !child.tree_alive() {
        return Ok(None);
    }
    if spec.reap_group_on_exit {
        tracing::info!(
            pid = child.pid(),
            "command exited but processes of its tree live on; terminating the leftovers"
        );
        let t = child
            .terminate_with(spec.kill_grace, spec.kill_wait)
            .await
            .map_err(CommandError::Process)?;
        return Ok(Some(TreeOutcome::of(t)));
    }
    let live = child.live_processes();
    Ok(Some(TreeOutcome {
        escalated: false,
        group_cleared: !live.contains(&child.pid()),
        tree_cleared: false,
        survivors: live.into_iter().map(Survivor::of).collect(),
    }))
}

/// The result from the steps' outcomes.
fn assemble(
    spec: &CommandSpec,
    child: &crate::process::Child,
    ended: Ended,
    leftovers: Option<TreeOutcome>,
    drained: Drained,
    took: Duration,
    redactor: &Redactor,
) -> CommandResult {
    let mut tree = ended.tree;
    if let Some(l) = leftovers {
        tree.escalated |= l.escalated;
        tree.group_cleared = l.group_cleared;
        tree.tree_cleared = l.tree_cleared;
        tree.survivors = l.survivors;
    }
    let exit = ended.exit;
    let Drained {
        out,
        err,
        timed_out,
    } = drained;
    let tail = capture_tail(&out.tail, &err.tail, spec.tail_chars, redactor);
    let kill_reason = match exit {
        ExitClass::Killed { reason, .. } => Some(reason),
        _ => None,
    };
    let error = if exit.success() {
        None
    } else {
        Some(format!(
            "command {}: {exit}",
            redactor.redact_str(&spec.command.program())
        ))
    };
    CommandResult {
        pid: child.pid(),
        exit,
        duration_ms: took.as_millis() as u64,
        tail,
        kill_reason,
        escalated: tree.escalated,
        group_cleared: tree.group_cleared,
        tree_cleared: tree.tree_cleared,
        survivors: tree.survivors,
        drain_timed_out: timed_out,
        stdout_bytes: out.bytes,
        stderr_bytes: err.bytes,
        error,
    }
}

/// Where one stream's redacted text goes.
enum Sink {
    Tail,
    Callback(OutputCallback),
    File(Option<std::fs::File>),
}

impl Sink {
    fn open(spec: &OutputSink) -> Result<Sink, ProcessError> {
        Ok(match spec {
            OutputSink::Tail => Sink::Tail,
            OutputSink::Callback(cb) => Sink::Callback(cb.clone()),
            OutputSink::File { path, append } => Sink::File(Some(open_output_file(path, *append)?)),
        })
    }

    fn emit_text(&mut self, which: OutputStream, text: &str) {
        if let (Sink::Callback(cb), false) = (&*self, text.is_empty()) {
            cb(which, text);
        }
    }

    fn emit_bytes(&mut self, which: OutputStream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self {
            Sink::Tail | Sink::Callback(_) => {}
            Sink::File(f) => {
                if let Some(file) = f {
                    if let Err(e) = file.write_all(bytes) {
                        tracing::warn!(stream = ?which, error = %e, "output file write failed; no further output goes to it");
                        *f = None;
                    }
                }
            }
        }
    }
}

/// The last `cap` characters of a stream, plus how many earlier characters were dropped.
struct TailBuf {
    text: String,
    chars: usize,
    dropped: u64,
    cap: usize,
}

impl TailBuf {
    fn new(cap: usize) -> Self {
        Self {
            text: String::new(),
            chars: 0,
            dropped: 0,
            cap,
        }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
        // Trim lazily (at twice the cap) so the cost stays amortized O(1) per char, and
        // keep a margin past the cap so trailing whitespace trimmed at capture time does
        // not eat into the kept tail.
        if self.chars > self.cap.saturating_mul(2).max(1024) {
            self.trim_to(self.cap + self.cap / 2 + 64);
        }
    }

    fn trim_to(&mut self, keep: usize) {
        if self.chars <= keep {
            return;
        }
        let drop_n = self.chars - keep;
        let cut = self
            .text
            .char_indices()
            .nth(drop_n)
            .map(|(i, _)| i)
            .unwrap_or(self.text.len());
        self.text.drain(..cut);
        self.chars = keep;
        self.dropped += drop_n as u64;
    }
}

struct StreamState {
    which: OutputStream,
    sink: Sink,
    redactor: StreamRedactor,
    /// Trailing bytes of an incomplete UTF-8 sequence, kept for the next chunk.
    carry: Vec<u8>,
    scratch: Vec<u8>,
    tail: TailBuf,
    bytes: u64,
}

impl StreamState {
    fn new(which: OutputStream, sink: Sink, cap: usize, redactor: &Redactor) -> Self {
        Self {
            which,
            sink,
            redactor: redactor.stream(),
            carry: Vec::new(),
            scratch: Vec::new(),
            tail: TailBuf::new(cap),
            bytes: 0,
        }
    }

    fn empty(redactor: &Redactor) -> Self {
        Self::new(OutputStream::Stdout, Sink::Tail, 0, redactor)
    }

    /// Feed raw output: redact, write bytes to a file sink, text to a callback and tail.
    fn feed(&mut self, chunk: &[u8]) {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        self.redactor.write(chunk, &mut out);
        self.emit(&out, false);
        self.scratch = out;
    }

    /// Whether the redactor holds bytes back (a possible start of a secret, or an open
    /// shape) that an idle flush could emit.
    fn holds_back(&self) -> bool {
        self.redactor.pending() > 0
    }

    /// Idle flush: emit every held-back byte that cannot be the start of a secret.
    fn flush(&mut self) {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        self.redactor.flush(&mut out);
        self.emit(&out, false);
        self.scratch = out;
    }

    /// End of stream: flush the redactor's hold-back and any incomplete UTF-8.
    fn finish(&mut self) {
        let mut out = Vec::new();
        self.redactor.finish(&mut out);
        self.emit(&out, true);
    }

    fn emit(&mut self, redacted: &[u8], last: bool) {
        let which = self.which;
        self.sink.emit_bytes(which, redacted);
        let text = decode_utf8(&mut self.carry, redacted, last);
        self.sink.emit_text(which, &text);
        self.tail.push(&text);
    }
}

/// Decode `bytes` (after any carried prefix) as UTF-8, replacing invalid sequences with
/// U+FFFD and carrying an incomplete trailing sequence to the next call (unless `last`).
fn decode_utf8(carry: &mut Vec<u8>, bytes: &[u8], last: bool) -> String {
    let owned;
    let mut rest: &[u8] = if carry.is_empty() {
        bytes
    } else {
        carry.extend_from_slice(bytes);
        owned = std::mem::take(carry);
        &owned
    };
    let mut out = String::with_capacity(rest.len());
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        out.push('\u{FFFD}');
                        rest = &bad[n..];
                    }
                    None if last => {
                        out.push('\u{FFFD}');
                        break;
                    }
                    None => {
                        carry.extend_from_slice(bad);
                        break;
                    }
                }
            }
        }
    }
    out
}

/// What every pump of one command shares.
#[derive(Clone)]
struct Pumping {
    wd: Arc<Watchdog>,
    stop: CancellationToken,
    idle_flush: Option<Duration>,
    clock: SharedClock,
}

/// Read one pipe until EOF or `stop`: count bytes, report activity, redact, emit. When
/// the stream redactor holds bytes back and the pipe stays quiet for the idle-flush
/// window, everything that cannot be the start of a secret is emitted
/// ([`StreamRedactor::flush`], the rule `keel redact` follows), so a quiet job's last
/// line shows while the job is still running; one flush per quiet spell.
async fn pump<Rd: AsyncRead + Unpin>(mut reader: Rd, state: Arc<Mutex<StreamState>>, p: Pumping) {
    let mut buf = vec![0u8; 16 * 1024];
    // Whether the bytes held back now have been flushed already (no new input since).
    let mut flushed = true;
    loop {
        let idle = match p.idle_flush {
            Some(window) if !flushed && lock(&state).holds_back() => Some(window),
            _ => None,
        };
        let quiet = async {
            match idle {
                Some(window) => p.clock.sleep(window).await,
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            r = reader.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = p.stop.cancelled() => break,
            _ = quiet => {
                lock(&state).flush();
                flushed = true;
                continue;
            }
        };
        p.wd.activity();
        let mut st = lock(&state);
        st.bytes += n as u64;
        st.feed(&buf[..n]);
        flushed = false;
    }
    lock(&state).finish();
}

fn lock(state: &Mutex<StreamState>) -> std::sync::MutexGuard<'_, StreamState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// `capture_redacted_output` over bounded tails: trim each stream, join the non-empty ones
/// with `\n`, redact, keep the last `cap` characters behind a
/// `…(N earlier chars trimmed)\n` marker. `None` when both are empty.
fn capture_tail(out: &TailBuf, err: &TailBuf, cap: usize, redactor: &Redactor) -> Option<String> {
    // A stream whose head was dropped is not trimmed at the start (its start is gone).
    let trim = |t: &TailBuf| -> String {
        if t.dropped > 0 {
            t.text.trim_end().to_owned()
        } else {
            t.text.trim().to_owned()
        }
    };
    let parts: Vec<String> = [trim(out), trim(err)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        return None;
    }
    let merged = redactor.redact_str(&parts.join("\n")).into_owned();
    let earlier = out.dropped + err.dropped;
    let chars = merged.chars().count();
    if chars <= cap && earlier == 0 {
        return Some(merged);
    }
    let skip = chars.saturating_sub(cap);
    let kept: String = merged.chars().skip(skip).collect();
    Some(format!(
        "…({} earlier chars trimmed)\n{kept}",
        skip as u64 + earlier
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new()
    }

    #[test]
    fn utf8_split_across_chunks_is_carried() {
        let mut carry = Vec::new();
        let bytes = "é!".as_bytes();
        assert_eq!(decode_utf8(&mut carry, &bytes[..1], false), "");
        assert_eq!(decode_utf8(&mut carry, &bytes[1..], false), "é!");
        assert_eq!(decode_utf8(&mut carry, b"a\xffb", false), "a\u{FFFD}b");
        assert_eq!(decode_utf8(&mut carry, &bytes[..1], true), "\u{FFFD}");
    }

    fn buf(s: &str, cap: usize) -> TailBuf {
        let mut t = TailBuf::new(cap);
        t.push(s);
        t
    }

    #[test]
    fn capture_merges_and_trims_like_the_reference() {
        assert_eq!(capture_tail(&buf("", 10), &buf("  ", 10), 10, &r()), None);
        assert_eq!(
            capture_tail(&buf(" out \n", 100), &buf("err\n", 100), 100, &r()).as_deref(),
            Some("out\nerr")
        );
        assert_eq!(
            capture_tail(&buf("abcdefghij", 100), &buf("", 100), 4, &r()).as_deref(),
            Some("…(6 earlier chars trimmed)\nghij")
        );
    }

    #[test]
    fn tail_buffer_stays_bounded_and_counts_drops() {
        let mut t = TailBuf::new(10);
        for _ in 0..1000 {
            t.push("0123456789");
        }
        assert!(t.chars <= 1024);
        let out = capture_tail(&t, &TailBuf::new(10), 10, &r()).unwrap();
        assert_eq!(out, "…(9990 earlier chars trimmed)\n0123456789");
        t.trim_to(10);
        assert_eq!(t.text, "0123456789");
        assert_eq!(t.dropped, 9990);
        let out = capture_tail(&t, &TailBuf::new(10), 10, &r()).unwrap();
        assert_eq!(out, "…(9990 earlier chars trimmed)\n0123456789");
    }

    // ---- idle flush (real child processes, real time; generous margins) ----

    /// A 40-character known secret, as the issue's measurement registers.
    const SECRET: &str = "idle-flush-secret-0123456789abcdefghijkl";

    type Chunks = Arc<Mutex<Vec<(std::time::Instant, String)>>>;

    fn collect() -> (OutputSink, Chunks) {
        let chunks: Chunks = Arc::default();
        let c = chunks.clone();
        let sink = OutputSink::Callback(Arc::new(move |_, text: &str| {
            c.lock()
                .unwrap()
                .push((std::time::Instant::now(), text.to_owned()));
        }));
        (sink, chunks)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Run `script` with SECRET known; (chunks with arrival times, start, end).
    fn run_quiet(
        script: &str,
        idle: Option<Duration>,
    ) -> (
        Vec<(std::time::Instant, String)>,
        std::time::Instant,
        CommandResult,
    ) {
        assert_eq!(SECRET.len(), 40);
        let redactor = Redactor::new();
        assert!(redactor.add_secret(SECRET));
        let (sink, chunks) = collect();
        let spec = CommandSpec::new(Command::new(["sh", "-c", script]))
            .redactor(redactor)
            .stdout(sink)
            .idle_flush(idle);
        let started = std::time::Instant::now();
        let result = block_on(run_command(spec)).unwrap();
        let chunks = chunks.lock().unwrap().clone();
        (chunks, started, result)
    }

    #[test]
    fn a_quiet_jobs_last_line_shows_within_the_idle_window() {
        // The job prints its line and then stays quiet for 3 s: with the 200 ms idle
        // flush the line arrives long before the job ends.
        let (chunks, started, result) =
            run_quiet("echo 'step 1 done'; sleep 3", Some(DEFAULT_IDLE_FLUSH));
        assert!(result.exit.success(), "{result:?}");
        let (at, text) = chunks.first().expect("the line was emitted").clone();
        assert_eq!(text, "step 1 done\n");
        let after = at.duration_since(started);
        assert!(
            after < Duration::from_millis(2_000),
            "the last line took {after:?} to show (idle window 200 ms)"
        );
    }

    #[test]
    fn without_idle_flush_the_line_waits_for_the_end() {
        // The control: the same job with idle flush off shows its line only when the
        // stream ends (the redactor holds back up to 39 bytes for the known secret).
        let (chunks, started, _) = run_quiet("echo 'step 1 done'; sleep 1.5", None);
        let (at, text) = chunks
            .first()
            .expect("the line was emitted at the end")
            .clone();
        assert_eq!(text, "step 1 done\n");
        assert!(
            at.duration_since(started) >= Duration::from_millis(1_400),
            "without idle flush the line should only show at the end"
        );
    }

    #[test]
    fn a_secret_split_across_the_flush_boundary_never_leaks() {
        // Half the secret, 1 s of silence (several idle windows), then the other half.
        let (head, tail) = SECRET.split_at(20);
        let script = format!(
            "printf 'token: {head}'; sleep 1; printf '{tail} ok\\nstep 2 done\\n'; sleep 1"
        );
        let (chunks, _, result) = run_quiet(&script, Some(Duration::from_millis(50)));
        assert!(result.exit.success(), "{result:?}");
        let all: String = chunks.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(all, "token: *** ok\nstep 2 done\n");
        for (_, t) in &chunks {
            assert!(!t.contains(&head[..8]), "part of the secret leaked: {t:?}");
        }
        // Whatever flushed early was emitted before the second half arrived.
        assert!(chunks.len() >= 2, "{chunks:?}");
        let tail_text = result.tail.unwrap();
        assert!(!tail_text.contains(&head[..8]), "{tail_text}");
    }

    #[test]
    fn idle_flush_ms_from_options() {
        let mut o = crate::jobs::CommandOptions::new("true");
        assert_eq!(o.clone().into_spec().idle_flush, Some(DEFAULT_IDLE_FLUSH));
        o.idle_flush_ms = Some(0);
        assert_eq!(o.clone().into_spec().idle_flush, None);
        o.idle_flush_ms = Some(50);
        assert_eq!(o.into_spec().idle_flush, Some(Duration::from_millis(50)));
        let o =
            crate::jobs::CommandOptions::from_json(r#"{"cmd":"true","idleFlushMs":75}"#).unwrap();
        assert_eq!(o.idle_flush_ms, Some(75));
        let e = crate::jobs::CommandOptions::from_json(r#"{"cmd":"true","idleFlushMs":"x"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("idleFlushMs"), "{e}");
    }
}
