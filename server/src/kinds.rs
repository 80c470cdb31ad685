//! Job kinds: what `POST /jobs` can start. A kind parses its job body and runs it on a
//! [`JobRegistry`]; the server dispatches on the body's `kind`. keel ships `command`
//! ([`command_kind`]: a supervised program, the `runCommand` spec) and `turn`
//! ([`turn_kind`]: one headless agent-CLI turn); a host registers its own with
//! [`RegistryKind`] or by implementing [`JobKind`].

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::jobs::{
    inactivity_abort_message, max_duration_abort_message, run_command, tool_silence_abort_message,
    AbortSignal, CommandOptions, CommandResult, FailureCause, JobContext, JobEvent, JobRegistry,
    JobRegistryBuilder, JobResult, JobState, JobsError, KillReason, OutputSink, RegistryOptions,
    WatchdogLimits, WorkError,
};
use keel_core::options::{self, OptionsError};
use keel_core::turns::{TurnAbort, TurnOptions, TurnRunner};
use serde_json::{Map, Value};

/// A boxed future, as [`JobKind`]'s async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a job body was refused (answered `400`). The message names the field and never
/// contains a value from the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KindError {
    code: &'static str,
    message: String,
}

impl KindError {
    /// An error with a stable `KEEL_…` code and a message that names what is wrong
    /// (never a value from the body).
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        KindError {
            code,
            message: message.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<OptionsError> for KindError {
    fn from(e: OptionsError) -> Self {
        KindError::new(e.code(), e.to_string())
    }
}

impl From<JobsError> for KindError {
    fn from(e: JobsError) -> Self {
        KindError::new(keel_core::codes::INVALID_ARGUMENT, format!("jobId: {e}"))
    }
}

/// How many jobs of a kind are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Running (or aborted and not yet settled).
    pub running: u64,
    /// Finished with a result.
    pub done: u64,
    /// Failed or killed.
    pub failed: u64,
}

/// A kind of job the server can run.
pub trait JobKind: Send + Sync + 'static {
    /// Start the job the body describes — the whole `POST /jobs` object, `kind` and
    /// `jobId` included — or re-attach to the job of that id (idempotent): answers the
    /// job id and the state it is in.
    fn start(&self, body: Map<String, Value>) -> Result<(String, JobState), KindError>;
    /// The job's view as JSON, draining its buffers (`GET /jobs/{id}`); `None` when
    /// this kind has no job of that id.
    fn get(&self, id: &str) -> Option<Vec<u8>>;
    /// Abort the job and answer the state it reached within the registry's settle
    /// window; `None` when this kind has no job of that id.
    fn abort<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<JobState>>;
    /// Jobs by state (for `/metrics`).
    fn counts(&self) -> StateCounts;
    /// Watchdog kills so far, by failure cause (for `/metrics`).
    fn watchdog_kills(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    /// Abort every running job and wait for them to settle (each bounded by the
    /// registry's settle window). Called once on shutdown.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

type ParseFn<J> = dyn Fn(Map<String, Value>) -> Result<(String, J), KindError> + Send + Sync;

/// Counts of watchdog kills by cause, shared by a kind and its registry's hook.
#[derive(Debug, Clone, Default)]
pub struct KillCounter(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl KillCounter {
    /// Count one kill.
    pub fn record(&self, cause: FailureCause) {
        *lock(&self.0).entry(cause.as_str()).or_insert(0) += 1;
    }

    /// The counts, by cause label.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        lock(&self.0).iter().map(|(k, v)| (*k, *v)).collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A [`JobKind`] over a core [`JobRegistry`] and a body parser.
pub struct RegistryKind<J, R> {
    registry: JobRegistry<J, R>,
    parse: Box<ParseFn<J>>,
    ids: Mutex<HashSet<String>>,
    kills: KillCounter,
}

impl<J, R> std::fmt::Debug for RegistryKind<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryKind")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// Longest job id the server accepts, in characters (so at most 512 bytes, the core
/// registry's limit).
pub const MAX_JOB_ID_CHARS: usize = 128;

/// Whether `id` is a job id the server accepts: 1 to [`MAX_JOB_ID_CHARS`] characters, no
/// control character.
pub fn valid_job_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_JOB_ID_CHARS && !id.chars().any(char::is_control)
}

/// Take `jobId` (a string, see [`valid_job_id`]) out of a job body.
pub fn take_job_id(body: &mut Map<String, Value>) -> Result<String, KindError> {
    match body.remove("jobId") {
        Some(Value::String(s)) if valid_job_id(&s) => Ok(s),
        Some(Value::String(_)) => Err(KindError::new(
            keel_core::codes::INVALID_ARGUMENT,
            "body.jobId must be 1-128 characters without control characters",
        )),
        Some(v) => Err(KindError::new(
            keel_core::codes::INVALID_JSON,
            format!(
                "body.jobId is {}, expected a string",
                options::json_type(&v)
            ),
        )),
        None => Err(KindError::new(
            keel_core::codes::INVALID_JSON,
            "body.jobId is missing",
        )),
    }
}

impl<J, R> RegistryKind<J, R>
where
    J: Send + 'static,
    R: JobResult + serde::Serialize,
{
    /// A kind over `builder`'s registry: `parse(body)` turns a `POST /jobs` body (without
    /// `kind`; take the id with [`take_job_id`]) into the job id and the job. The
    /// builder's `on_event` hook is replaced by the kind's watchdog-kill counter.
    pub fn new(
        builder: JobRegistryBuilder<J, R>,
        parse: impl Fn(Map<String, Value>) -> Result<(String, J), KindError> + Send + Sync + 'static,
    ) -> Result<Self, JobsError> {
        Self::with_counter(builder, parse, KillCounter::default())
    }

    /// Like [`new`](Self::new), with a kill counter the work shares (to count kills by
    /// watchdogs of its own, such as a command's per-job windows).
    pub fn with_counter(
        builder: JobRegistryBuilder<J, R>,
        parse: impl Fn(Map<String, Value>) -> Result<(String, J), KindError> + Send + Sync + 'static,
        kills: KillCounter,
    ) -> Result<Self, JobsError> {
        let hook = kills.clone();
        let registry = builder
            .on_event(move |ctx, event| {
                if event == JobEvent::Cancelled {
                    match ctx.kill_reason() {
                        Some(KillReason::Aborted) | None => {}
                        Some(r) => hook.record(FailureCause::from(r)),
                    }
                }
            })
            .build()?;
        Ok(RegistryKind {
            registry,
            parse: Box::new(parse),
            ids: Mutex::new(HashSet::new()),
            kills,
        })
    }

    /// The registry.
    pub fn registry(&self) -> &JobRegistry<J, R> {
        &self.registry
    }

    fn tracked(&self) -> Vec<String> {
        lock(&self.ids).iter().cloned().collect()
    }

    fn prune(&self) {
        let ids = self.tracked();
        let gone: Vec<_> = ids
            .into_iter()
            .filter(|id| self.registry.peek(id).is_none())
            .collect();
        let mut set = lock(&self.ids);
        for id in gone {
            set.remove(&id);
        }
    }
}

impl<J, R> JobKind for RegistryKind<J, R>
where
    J: Send + 'static,
    R: JobResult + serde::Serialize,
{
    fn start(&self, body: Map<String, Value>) -> Result<(String, JobState), KindError> {
        let (id, job) = (self.parse)(body)?;
        let view = self.registry.start(&id, job)?;
        let grow = {
            let mut ids = lock(&self.ids);
            ids.insert(id);
            ids.len() > 4096 && ids.len().is_power_of_two()
        };
        if grow {
            // Evicted jobs leave the registry on their own; forget their ids too.
            self.prune();
        }
        Ok((view.id, view.state))
    }

    fn get(&self, id: &str) -> Option<Vec<u8>> {
        let view = self.registry.get(id)?;
        // Sized for a typical view in one allocation (to_vec starts at 128 bytes and
        // regrows three or four times for one).
        let mut out = Vec::with_capacity(1024);
        serde_json::to_writer(&mut out, &view).ok()?;
        Some(out)
    }

    fn abort<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<JobState>> {
        Box::pin(self.registry.abort(id, "aborted by DELETE /jobs"))
    }

    fn counts(&self) -> StateCounts {
        self.prune();
        let mut c = StateCounts::default();
        for id in self.tracked() {
            match self.registry.peek(&id).map(|v| v.state) {
                Some(JobState::Running) => c.running += 1,
                Some(JobState::Done) => c.done += 1,
                Some(JobState::Failed) => c.failed += 1,
                None => {}
            }
        }
        c
    }

    fn watchdog_kills(&self) -> Vec<(&'static str, u64)> {
        self.kills.snapshot()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let running: Vec<String> = self
                .tracked()
                .into_iter()
                .filter(|id| self.registry.peek(id).map(|v| v.state) == Some(JobState::Running))
                .collect();
            let waits = running
                .iter()
                .map(|id| self.registry.abort(id, "server shutting down"));
            futures_util::future::join_all(waits).await;
        })
    }
}

/// The watchdog windows a job body set itself (absent: off, the registry's apply).
fn own_windows(o: &CommandOptions) -> WatchdogLimits {
    let on = |ms: Option<u64>| ms.filter(|&m| m > 0).map(Duration::from_millis);
    WatchdogLimits::none()
        .inactivity(on(o.inactivity_ms))
        .max_duration(on(o.max_duration_ms))
        .tool_silence(on(o.tool_silence_ms))
}

fn kill_error(reason: KillReason, limits: &WatchdogLimits) -> WorkError {
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64).unwrap_or(0);
    let message = match reason {
        KillReason::InactivityTimeout => inactivity_abort_message(ms(limits.inactivity_window())),
        KillReason::MaxDuration => max_duration_abort_message(ms(limits.max_duration_window())),
        KillReason::NoToolProgress => tool_silence_abort_message(ms(limits.tool_silence_window())),
        _ => "Aborted".to_owned(),
    };
    WorkError::new(FailureCause::from(reason), message)
}

/// Parse a `command` job body: `{kind, jobId, cmd, args, cwd, env, inactivityMs,
/// maxDurationMs, toolSilenceMs, killGraceMs, knownSecrets, tailChars}`.
pub fn parse_command(mut body: Map<String, Value>) -> Result<(String, CommandOptions), KindError> {
    body.remove("kind");
    let id = take_job_id(&mut body)?;
    let o: CommandOptions = options::from_value(Value::Object(body), "body")?;
    if o.cmd.is_empty() {
        return Err(KindError::new(
            keel_core::codes::INVALID_OPTION,
            "body.cmd is empty",
        ));
    }
    Ok((id, o))
}

async fn run_command_job(
    o: CommandOptions,
    ctx: JobContext,
    kills: KillCounter,
) -> Result<CommandResult, WorkError> {
    ctx.phase("run");
    let own = own_windows(&o);
    let none = own.inactivity_window().is_none()
        && own.max_duration_window().is_none()
        && own.tool_silence_window().is_none();
    let spec = o.into_spec().limits(own);
    if none {
        // The registry's watchdogs are the job's: output is activity, cancellation
        // terminates the tree.
        return Ok(ctx.run_command(spec).await?);
    }
    // The body set windows of its own: the command runs under them, its output is also
    // the job's activity, and the job's cancellation aborts it.
    let abort = AbortSignal::new();
    let activity = {
        let ctx = ctx.clone();
        OutputSink::Callback(Arc::new(move |_, _| ctx.activity()))
    };
    let spec = spec
        .abort_signal(abort.clone())
        .stdout(activity.clone())
        .stderr(activity);
    let cancelled = ctx.cancellation();
    let bridge = tokio::spawn(async move {
        cancelled.cancelled().await;
        abort.abort();
    });
    let result = run_command(spec).await;
    bridge.abort();
    let result = result?;
    match result.kill_reason {
        Some(KillReason::Aborted) | None => Ok(result),
        Some(reason) => {
            kills.record(FailureCause::from(reason));
            Err(kill_error(reason, &own))
        }
    }
}

/// The `command` kind: a supervised program, the `runCommand` spec (`cmd`, `args`, `cwd`,
/// `env`, `inactivityMs`, `maxDurationMs`, `toolSilenceMs`, `killGraceMs`,
/// `knownSecrets`, `tailChars`). The registry's windows come from `limits` (the
/// reference's `loadRunnerLimits()`: `JOB_INACTIVITY_MS`, `JOB_MAX_DURATION_MS`, …);
/// windows in the body apply on top of them. The job's result is the `CommandResult`.
pub fn command_kind(
    limits: &RegistryOptions,
) -> Result<RegistryKind<CommandOptions, CommandResult>, JobsError> {
    let kills = KillCounter::default();
    let work_kills = kills.clone();
    let builder = JobRegistry::builder(move |o: CommandOptions, ctx: JobContext| {
        run_command_job(o, ctx, work_kills.clone())
    });
    RegistryKind::with_counter(limits.apply(builder), parse_command, kills)
}

/// Parse a `turn` job body: `{kind, jobId, …TurnOptions}` (`agentName`, `runtime`,
/// `stateDir`, `input`, …).
pub fn parse_turn(mut body: Map<String, Value>) -> Result<(String, TurnOptions), KindError> {
    body.remove("kind");
    let id = take_job_id(&mut body)?;
    let o: TurnOptions = options::from_value(Value::Object(body), "body")?;
    o.validate()
        .map_err(|e| KindError::new(e.code(), keel_core::redact::redact_secrets(&e.to_string())))?;
    Ok((id, o))
}

/// The `turn` kind: one headless agent-CLI turn ([`keel_core::turns`]); every event is
/// the job's activity and the job's cancellation aborts the turn (its whole tree). The
/// result is the `TurnResult` JSON, with `error` set when the turn did not complete.
pub fn turn_kind(limits: &RegistryOptions) -> Result<RegistryKind<TurnOptions, Value>, JobsError> {
    let kills = KillCounter::default();
    let work_kills = kills.clone();
    let builder = JobRegistry::builder(move |o: TurnOptions, ctx: JobContext| {
        let kills = work_kills.clone();
        async move {
            ctx.phase("turn");
            let abort = TurnAbort::new();
            let cancelled = ctx.cancellation();
            let signal = abort.clone();
            let bridge = tokio::spawn(async move {
                cancelled.cancelled().await;
                signal.abort();
            });
            let act = ctx.clone();
            let runner = TurnRunner::new(o)
                .map_err(|e| WorkError::agent(e.to_string()))?
                .abort_signal(abort)
                .on_event(move |_| act.activity());
            let result = runner.run().await;
            bridge.abort();
            let result = result.map_err(|e| WorkError::agent(e.to_string()))?;
            if result.stall_aborted {
                kills.record(FailureCause::InactivityTimeout);
            }
            let status = result.exit_status();
            let final_state = result.final_state.as_str();
            let mut v = serde_json::to_value(&result)
                .map_err(|_| WorkError::agent("turn result could not be serialized"))?;
            if status != 0 {
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "error".into(),
                        Value::String(format!("turn ended {final_state}")),
                    );
                    if result.stall_aborted {
                        m.insert("failureCause".into(), "inactivity-timeout".into());
                    }
                }
            }
            Ok(v)
        }
    });
    RegistryKind::with_counter(limits.apply(builder), parse_turn, kills)
}
