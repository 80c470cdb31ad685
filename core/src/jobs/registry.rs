//! The job registry: idempotent start by id, three watchdogs per job, drain-on-read
//! observability, bounded abort, eviction.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::failure::{
    format_window, inactivity_abort_message, max_duration_abort_message, round_secs,
    tool_silence_abort_message, FailureCause, WorkError,
};
use super::view::{
    CallMetric, ColdStart, Dropped, JobResult, JobState, JobView, Progress, ToolSpan,
};
use super::watchdog::{Watchdog, WatchdogLimits};
use crate::process::KillReason;
use crate::redact::Redactor;
use crate::time::{SharedClock, SystemClock};

/// How long `abort` waits for the job to settle by default (the reference's
/// `ABORT_SETTLE_MS`: the 5 s kill escalation plus a margin).
pub const DEFAULT_ABORT_SETTLE: Duration = Duration::from_secs(6);
/// How long a finished job stays readable by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(60 * 60);
/// How long the registry waits for cancelled work to return before dropping it.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(10);
/// Default cap of each drain-on-read buffer.
pub const DEFAULT_BUFFER_CAP: usize = 1000;
/// A run that went quiet for at least this long gets a silence clause in its breadcrumb.
const SILENCE_BREADCRUMB: Duration = Duration::from_secs(30);
/// Longest job id accepted.
const MAX_ID_LEN: usize = 512;

/// Errors from the registry's own API (a job's failures are in its [`JobView`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobsError {
    /// The builder was used outside a tokio runtime and given none.
    #[error("no tokio runtime: build the registry inside one or pass .runtime(handle)")]
    NoRuntime,
    /// The job id is unusable.
    #[error("invalid job id: {reason}")]
    InvalidId {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid registry config `{field}`: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type RunFn<J, R> = dyn Fn(J, JobContext) -> BoxFuture<Result<R, WorkError>> + Send + Sync;
type EventFn = dyn Fn(&JobContext, JobEvent) + Send + Sync;

/// What a registry tells its [`on_event`](JobRegistryBuilder::on_event) hook about a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobEvent {
    /// A watchdog fired or the job was aborted: its work should stop now.
    Cancelled,
    /// The work ignored cancellation past the cancel grace; the job settled without it.
    Abandoned,
}

#[derive(Debug, Clone, Copy)]
struct Caps {
    spans: usize,
    follow_ups: usize,
    call_metrics: usize,
}

/// The non-generic part of a job, shared with its work through [`JobContext`].
struct Shared {
    id: String,
    clock: SharedClock,
    watchdog: Arc<Watchdog>,
    started_epoch: u64,
    caps: Caps,
    redactor: Redactor,
    state: Mutex<State>,
}

impl Shared {
    fn redact(&self, s: &str) -> String {
        self.redactor.redact_str(s).into_owned()
    }
}

struct State {
    state: JobState,
    phase: String,
    phase_entered: Duration,
    phase_timings: Vec<(String, Duration)>,
    progress: Option<Progress>,
    error: Option<String>,
    failure_cause: Option<FailureCause>,
    detail: Option<String>,
    spans: VecDeque<ToolSpan>,
    follow_ups: VecDeque<Value>,
    call_metrics: VecDeque<CallMetric>,
    dropped: Dropped,
    metric_seq: u64,
    last_tool: Option<(String, u64)>,
    abort_reason: Option<String>,
    settled_heartbeat: Option<u64>,
    cold_start: Option<ColdStart>,
}

impl State {
    fn mark_phase(&mut self, next: &str, now: Duration) {
        let spent = now.saturating_sub(self.phase_entered);
        if let Some(slot) = self
            .phase_timings
            .iter_mut()
            .find(|(p, _)| *p == self.phase)
        {
            slot.1 += spent;
        } else {
            self.phase_timings.push((self.phase.clone(), spent));
        }
        self.phase = next.to_owned();
        self.phase_entered = now;
    }

    fn phase_breakdown(&self) -> String {
        self.phase_timings
            .iter()
            .map(|(p, d)| format!("{p}={}s", round_secs(d.as_millis() as u64)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn push_bounded<T>(buf: &mut VecDeque<T>, item: T, cap: usize, dropped: &mut u64) {
    if cap == 0 {
        *dropped += 1;
        return;
    }
    while buf.len() >= cap {
        buf.pop_front();
        *dropped += 1;
    }
    buf.push_back(item);
}

/// Redact every string leaf of a JSON value in place.
fn redact_json(v: &mut Value, r: &Redactor) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(red) = r.redact_str(s) {
                *s = red;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| redact_json(v, r)),
        Value::Object(o) => o.values_mut().for_each(|v| redact_json(v, r)),
        _ => {}
    }
}

/// The handle a job's work uses to report to its registry and to notice cancellation.
/// Cheap to clone; every method is safe to call from any thread.
///
/// [`activity`](JobContext::activity) is a single relaxed atomic store: call it for every
/// chunk of output without worrying about cost.
#[derive(Clone)]
pub struct JobContext {
    shared: Arc<Shared>,
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// The job id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// A sign of life: resets the inactivity watchdog. Lock-free and allocation-free.
    #[inline]
    pub fn activity(&self) {
        self.shared.watchdog.activity();
    }

    /// Enter phase `name` (free-form: `clone`, `agent`, `push`, …). Per-phase wall-clock
    /// timings accumulate; the current phase names where an inactivity kill hung.
    pub fn phase(&self, name: &str) {
        let name = self.shared.redact(name);
        let now = self.shared.clock.now();
        lock(&self.shared.state).mark_phase(&name, now);
    }

    /// The phase the job is in now.
    pub fn current_phase(&self) -> String {
        lock(&self.shared.state).phase.clone()
    }

    /// Replace the job's progress.
    pub fn progress(&self, progress: Progress) {
        let mut progress = progress;
        if let Some(items) = progress.items.as_mut() {
            redact_json(items, &self.shared.redactor);
        }
        lock(&self.shared.state).progress = Some(progress);
    }

    /// A tool call completed: buffered for the next read (oldest dropped past the cap),
    /// becomes the last-tool breadcrumb, and re-arms the tool-silence watchdog. Like the
    /// reference it is not activity by itself: report the output that carried it with
    /// [`activity`](JobContext::activity).
    pub fn span(&self, span: ToolSpan) {
        self.shared.watchdog.tool_completed();
        let mut span = span;
        span.tool = self.shared.redact(&span.tool);
        let r = &self.shared.redactor;
        span.extra.values_mut().for_each(|v| redact_json(v, r));
        if span.ended_at == 0 {
            span.ended_at = self.shared.clock.epoch_ms();
        }
        let cap = self.shared.caps.spans;
        let mut st = lock(&self.shared.state);
        st.last_tool = Some((span.tool.clone(), span.ended_at));
        let State { spans, dropped, .. } = &mut *st;
        push_bounded(spans, span, cap, &mut dropped.spans);
    }

    /// A follow-up item (free-form JSON), buffered for the next read.
    pub fn follow_up(&self, item: Value) {
        let mut item = item;
        redact_json(&mut item, &self.shared.redactor);
        let cap = self.shared.caps.follow_ups;
        let mut st = lock(&self.shared.state);
        let State {
            follow_ups,
            dropped,
            ..
        } = &mut *st;
        push_bounded(follow_ups, item, cap, &mut dropped.follow_ups);
    }

    /// A model-call metric, stamped with its job-scoped `seq` and the current phase, and
    /// buffered for the next read. Returns the stamped `seq`.
    pub fn metric(&self, metric: CallMetric) -> u64 {
        let mut metric = metric;
        let r = &self.shared.redactor;
        metric.fields.values_mut().for_each(|v| redact_json(v, r));
        let cap = self.shared.caps.call_metrics;
        let mut st = lock(&self.shared.state);
        let seq = st.metric_seq;
        st.metric_seq += 1;
        metric.seq = seq;
        metric.phase = st.phase.clone();
        let State {
            call_metrics,
            dropped,
            ..
        } = &mut *st;
        push_bounded(call_metrics, metric, cap, &mut dropped.call_metrics);
        seq
    }

    /// The token cancelled when a watchdog fires or the job is aborted.
    pub fn cancellation(&self) -> CancellationToken {
        self.shared.watchdog.token().clone()
    }

    /// Whether the job has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.shared.watchdog.token().is_cancelled()
    }

    /// Completes when the job is cancelled.
    pub async fn cancelled(&self) {
        self.shared.watchdog.token().cancelled().await
    }

    /// Why the job was cancelled, once it has been.
    pub fn kill_reason(&self) -> Option<KillReason> {
        self.shared.watchdog.reason()
    }

    /// The reason given to [`JobRegistry::abort`] / [`JobRegistry::abort_all`] (redacted),
    /// once the job has been aborted by a caller.
    pub fn abort_reason(&self) -> Option<String> {
        lock(&self.shared.state).abort_reason.clone()
    }

    /// The registry's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.shared.clock
    }

    /// The redactor this job's strings (and its commands' output) go through.
    pub fn redactor(&self) -> &Redactor {
        &self.shared.redactor
    }

    pub(crate) fn watchdog(&self) -> &Arc<Watchdog> {
        &self.shared.watchdog
    }

    /// Open the tool-silence window for one agent stream (the reference's
    /// `beginToolWindow()`): while it is open, a run that keeps producing output but
    /// reports no [`ToolWindow::tool_completed`] for the tool-silence window fails with
    /// `no-tool-progress`. One window is open at a time: opening another supersedes this
    /// one, and a superseded handle's calls are ignored. An inert window when tool silence
    /// is off.
    ///
    /// In a registry built with [`explicit_tool_windows`](JobRegistryBuilder::explicit_tool_windows)
    /// work that never opens a window is never timed by tool silence; otherwise the job
    /// starts with an implicit window that every [`span`](JobContext::span) re-arms.
    pub fn begin_tool_window(&self) -> ToolWindow {
        ToolWindow {
            watchdog: self.shared.watchdog.clone(),
            id: self.shared.watchdog.open_window(),
        }
    }

    /// A [`ToolWindow`] of this job from its [`ToolWindow::id`] (for surfaces that hand
    /// the window out as a number). A stale or foreign id is ignored by every call.
    pub fn tool_window(&self, id: u64) -> ToolWindow {
        ToolWindow {
            watchdog: self.shared.watchdog.clone(),
            id,
        }
    }
}

/// The handle of one tool-silence window (see [`JobContext::begin_tool_window`]).
#[derive(Clone)]
pub struct ToolWindow {
    watchdog: Arc<Watchdog>,
    id: u64,
}

impl fmt::Debug for ToolWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolWindow").field("id", &self.id).finish()
    }
}

impl ToolWindow {
    /// A tool call completed: restart the window (if it is still the open one).
    pub fn tool_completed(&self) {
        self.watchdog.window_completed(self.id);
    }

    /// End the window: tool silence stops measuring (if it is still the open one).
    pub fn close(&self) {
        self.watchdog.close_window(self.id);
    }

    /// The window's process-unique id (0: an inert window, tool silence is off).
    pub fn id(&self) -> u64 {
        self.id
    }
}

struct Entry<R> {
    shared: Arc<Shared>,
    result: Mutex<Option<R>>,
    /// Notified (all waiters) once `finished` is set.
    settled: Notify,
    /// Set by whoever settles the job first (the driver, or an [`ExternalJob`]).
    finished: AtomicBool,
}

impl<R: JobResult> Entry<R> {
    fn view(&self, drain: bool) -> JobView<R> {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let heartbeat_at = st.settled_heartbeat.unwrap_or_else(|| {
            let since = sh
                .watchdog
                .last_activity()
                .unwrap_or(sh.watchdog.started())
                .saturating_sub(sh.watchdog.started());
            sh.started_epoch + since.as_millis() as u64
        });
        let mut view = JobView {
            id: sh.id.clone(),
            state: st.state,
            started_at: sh.started_epoch,
            heartbeat_at,
            phase: Some(st.phase.clone()),
            progress: st.progress.clone(),
            result: None,
            error: st.error.clone(),
            failure_cause: st.failure_cause,
            detail: st.detail.clone(),
            cold_start: st.cold_start.clone(),
            spans: None,
            follow_ups: None,
            call_metrics: None,
            dropped: None,
        };
        if drain {
            if !st.spans.is_empty() {
                view.spans = Some(std::mem::take(&mut st.spans).into());
            }
            if !st.follow_ups.is_empty() {
                view.follow_ups = Some(std::mem::take(&mut st.follow_ups).into());
            }
            if !st.call_metrics.is_empty() {
                view.call_metrics = Some(std::mem::take(&mut st.call_metrics).into());
            }
            if st.dropped.any() {
                view.dropped = Some(std::mem::take(&mut st.dropped));
            }
        }
        drop(st);
        if view.state == JobState::Done {
            // Every string of the view is redacted, the result's too (recursively).
            view.result = lock(&self.result).clone().map(|mut r| {
                r.redact_strings(&sh.redactor);
                r
            });
        }
        view
    }

    fn state(&self) -> JobState {
        lock(&self.shared.state).state
    }
}

struct Inner<J, R> {
    jobs: Mutex<HashMap<String, Arc<Entry<R>>>>,
    run: Arc<RunFn<J, R>>,
    limits: WatchdogLimits,
    retention: Duration,
    abort_settle: Duration,
    cancel_grace: Duration,
    caps: Caps,
    clock: SharedClock,
    redactor: Redactor,
    runtime: tokio::runtime::Handle,
    running: Arc<AtomicUsize>,
    explicit_windows: bool,
    on_event: Option<Arc<EventFn>>,
}

/// Tracks background jobs by id, each bounded by three watchdogs. Generic over the job `J`
/// (whatever the work takes) and the result `R` (whatever it returns).
///
/// * [`start`](JobRegistry::start) is idempotent: a second start of a running or finished
///   id re-attaches and returns its current view without starting anything.
/// * Each job runs under an inactivity, a max-duration and an optional tool-silence
///   watchdog ([`WatchdogLimits`]). The first to fire sets the reason, cancels the work's
///   [`CancellationToken`] (a [`run_command`](super::run_command) in the work then
///   terminates its process group), and the job fails with the reference's message.
/// * [`get`](JobRegistry::get) drains spans, follow-ups and call metrics
///   (drain-on-read); the buffers are bounded and count their drops.
/// * [`abort`](JobRegistry::abort) waits (bounded) for the job to settle and reports the
///   state it actually reached.
/// * Finished jobs are evicted after the retention period.
/// * Dropping the registry aborts every running job.
///
/// ```
/// use std::time::Duration;
/// use keel_core::jobs::{JobRegistry, JobState, WatchdogLimits, WorkError};
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let registry = JobRegistry::builder(|n: u32, ctx| async move {
///     ctx.phase("compute");
///     ctx.activity();
///     Ok::<_, WorkError>(format!("{}", n * 2))
/// })
/// .limits(WatchdogLimits::default().inactivity(Some(Duration::from_secs(30))))
/// .build()?;
///
/// registry.start("job-1", 21)?;
/// registry.start("job-1", 99)?; // idempotent: re-attaches, does not run 99
/// while registry.running_count() > 0 {
///     tokio::time::sleep(Duration::from_millis(1)).await;
/// }
/// let view = registry.get("job-1").unwrap();
/// assert_eq!(view.state, JobState::Done);
/// assert_eq!(view.result.as_deref(), Some("42"));
/// # Ok::<(), keel_core::jobs::JobsError>(())
/// # }).unwrap();
/// ```
pub struct JobRegistry<J, R> {
    inner: Arc<Inner<J, R>>,
    _job: PhantomData<fn(J)>,
}

impl<J, R> fmt::Debug for JobRegistry<J, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRegistry")
            .field("jobs", &lock(&self.inner.jobs).len())
            .field("running", &self.inner.running.load(Ordering::Relaxed))
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// Builder for [`JobRegistry`].
pub struct JobRegistryBuilder<J, R> {
    run: Arc<RunFn<J, R>>,
    limits: WatchdogLimits,
    retention: Duration,
    abort_settle: Duration,
    cancel_grace: Duration,
    caps: Caps,
    clock: Option<SharedClock>,
    redactor: Option<Redactor>,
    runtime: Option<tokio::runtime::Handle>,
    explicit_windows: bool,
    on_event: Option<Arc<EventFn>>,
}

impl<J, R> fmt::Debug for JobRegistryBuilder<J, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRegistryBuilder")
            .field("limits", &self.limits)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl<J, R> JobRegistryBuilder<J, R>
where
    J: Send + 'static,
    R: JobResult,
{
    /// Watchdog windows for every job (default: inactivity 10 min, max 60 min, tool
    /// silence off).
    pub fn limits(mut self, limits: WatchdogLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How long a finished job stays readable (default 1 h).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How long [`JobRegistry::abort`] waits for the job to settle (default 6 s).
    pub fn abort_settle(mut self, wait: Duration) -> Self {
        self.abort_settle = wait;
        self
    }

    /// How long cancelled work gets to return before it is dropped (default 10 s; covers
    /// the 5 s SIGTERM→SIGKILL escalation). Dropping a [`crate::process::Child`] kills its
    /// group, so even work that ignores cancellation cannot leak processes.
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// Caps of the span, follow-up and call-metric buffers (default 1000 each).
    pub fn buffer_caps(mut self, spans: usize, follow_ups: usize, call_metrics: usize) -> Self {
        self.caps = Caps {
            spans,
            follow_ups,
            call_metrics,
        };
        self
    }

    /// The clock for watchdogs, timestamps, retention and waits (default: system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The redactor applied to every string the registry stores or logs, and inherited by
    /// [`JobContext::run_command`] (default: the process-wide
    /// [`crate::redact::global`] redactor, so secrets registered with
    /// [`crate::redact::register_known_secrets`] are masked).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = Some(redactor);
        self
    }

    /// The runtime jobs run on (default: the current one).
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Tool silence as the reference defines it: only work that opened a window with
    /// [`JobContext::begin_tool_window`] is timed, and only the window's
    /// [`ToolWindow::tool_completed`] restarts it (spans do not). Default off: every job
    /// starts with an implicit window that its spans re-arm.
    pub fn explicit_tool_windows(mut self, explicit: bool) -> Self {
        self.explicit_windows = explicit;
        self
    }

    /// A hook told when a job is cancelled (watchdog or abort) and when its work is
    /// abandoned; it runs on the registry's runtime and must not block.
    pub fn on_event(
        mut self,
        hook: impl Fn(&JobContext, JobEvent) + Send + Sync + 'static,
    ) -> Self {
        self.on_event = Some(Arc::new(hook));
        self
    }

    /// Build the registry.
    pub fn build(self) -> Result<JobRegistry<J, R>, JobsError> {
        if let Err(field) = self.limits.validate() {
            return Err(JobsError::InvalidConfig {
                field,
                reason: "a watchdog window must be greater than zero (use None to disable it)",
            });
        }
        let runtime = match self.runtime {
            Some(h) => h,
            None => tokio::runtime::Handle::try_current().map_err(|_| JobsError::NoRuntime)?,
        };
        Ok(JobRegistry {
            inner: Arc::new(Inner {
                jobs: Mutex::new(HashMap::new()),
                run: self.run,
                limits: self.limits,
                retention: self.retention,
                abort_settle: self.abort_settle,
                cancel_grace: self.cancel_grace,
                caps: self.caps,
                clock: self.clock.unwrap_or_else(SystemClock::shared),
                redactor: self
                    .redactor
                    .unwrap_or_else(|| crate::redact::global().clone()),
                runtime,
                running: Arc::new(AtomicUsize::new(0)),
                explicit_windows: self.explicit_windows,
                on_event: self.on_event,
            }),
            _job: PhantomData,
        })
    }
}

impl<J, R> JobRegistry<J, R>
where
    J: Send + 'static,
    R: JobResult,
{
    /// A builder around the unit of work: `run(job, ctx)` is called once per started job,
    /// on the registry's runtime.
    pub fn builder<F, Fut>(run: F) -> JobRegistryBuilder<J, R>
    where
        F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, WorkError>> + Send + 'static,
    {
        JobRegistryBuilder {
            run: Arc::new(move |job, ctx| Box::pin(run(job, ctx))),
            limits: WatchdogLimits::default(),
            retention: DEFAULT_RETENTION,
            abort_settle: DEFAULT_ABORT_SETTLE,
            cancel_grace: DEFAULT_CANCEL_GRACE,
            caps: Caps {
                spans: DEFAULT_BUFFER_CAP,
                follow_ups: DEFAULT_BUFFER_CAP,
                call_metrics: DEFAULT_BUFFER_CAP,
            },
            clock: None,
            redactor: None,
            runtime: None,
            explicit_windows: false,
            on_event: None,
        }
    }

    /// Start the job for `id`, or — if `id` is running or finished and not yet evicted —
    /// return its current view without starting anything (idempotent re-attach; `job` is
    /// dropped). Does not drain the buffers.
    pub fn start(&self, id: &str, job: J) -> Result<JobView<R>, JobsError> {
        let entry = match self.insert(id)? {
            Ok(entry) => entry,
            Err(view) => return Ok(view),
        };
        let inner = &self.inner;
        let ctx = JobContext {
            shared: entry.shared.clone(),
        };
        let work = (inner.run)(job, ctx);
        let driver = self.driver(&entry);
        inner.runtime.spawn(driver.drive(Work::Isolated(work)));
        Ok(entry.view(false))
    }

    /// Start the job for `id` with work that runs outside the registry's runtime — on a
    /// JavaScript event loop or a host thread — and reports through the returned
    /// [`ExternalJob`]; or, like [`start`](JobRegistry::start), return the view of the
    /// running or finished job of that id. The registry's run function is not called.
    ///
    /// [`ExternalJob::complete`] settles the job before it returns, so the job's state is
    /// final as soon as the work's own completion is observable.
    pub fn start_external(&self, id: &str) -> Result<Started<R>, JobsError> {
        let entry = match self.insert(id)? {
            Ok(entry) => entry,
            Err(view) => return Ok(Started::Existing(Box::new(view))),
        };
        let driver = self.driver(&entry);
        self.inner.runtime.spawn(driver.drive(Work::External));
        Ok(Started::New(ExternalJob {
            ctx: JobContext {
                shared: entry.shared.clone(),
            },
            entry,
            running: self.inner.running.clone(),
        }))
    }

    fn driver(&self, entry: &Arc<Entry<R>>) -> Driver<J, R> {
        let inner = &self.inner;
        Driver {
            registry: Arc::downgrade(inner),
            entry: entry.clone(),
            running: inner.running.clone(),
            runtime: inner.runtime.clone(),
            cancel_grace: inner.cancel_grace,
            retention: inner.retention,
            on_event: inner.on_event.clone(),
        }
    }

    /// Insert a new running entry for `id` (`Err(view)`: the id exists).
    fn insert(&self, id: &str) -> Result<Result<Arc<Entry<R>>, JobView<R>>, JobsError> {
        validate_id(id)?;
        let inner = &self.inner;
        let entry = {
            let mut jobs = lock(&inner.jobs);
            if let Some(existing) = jobs.get(id) {
                return Ok(Err(existing.view(false)));
            }
            let clock = inner.clock.clone();
            let started_epoch = clock.epoch_ms();
            let now = clock.now();
            let shared = Arc::new(Shared {
                id: id.to_owned(),
                watchdog: Arc::new(Watchdog::with_windows(
                    clock.clone(),
                    inner.limits,
                    CancellationToken::new(),
                    inner.explicit_windows,
                )),
                clock,
                started_epoch,
                caps: inner.caps,
                redactor: inner.redactor.clone(),
                state: Mutex::new(State {
                    state: JobState::Running,
                    phase: "starting".to_owned(),
                    phase_entered: now,
                    phase_timings: Vec::new(),
                    progress: None,
                    error: None,
                    failure_cause: None,
                    detail: None,
                    spans: VecDeque::new(),
                    follow_ups: VecDeque::new(),
                    call_metrics: VecDeque::new(),
                    dropped: Dropped::default(),
                    metric_seq: 0,
                    last_tool: None,
                    abort_reason: None,
                    settled_heartbeat: None,
                    cold_start: None,
                }),
            });
            let entry = Arc::new(Entry {
                shared,
                result: Mutex::new(None),
                settled: Notify::new(),
                finished: AtomicBool::new(false),
            });
            jobs.insert(id.to_owned(), entry.clone());
            inner.running.fetch_add(1, Ordering::AcqRel);
            entry
        };
        tracing::info!(job_id = %id, "job started");
        Ok(Ok(entry))
    }

    /// The job's current view, draining its spans, follow-ups and call metrics (each read
    /// returns what accumulated since the previous one). `None` for an unknown or evicted
    /// id.
    pub fn get(&self, id: &str) -> Option<JobView<R>> {
        self.entry(id).map(|e| e.view(true))
    }

    /// The job's current view without draining anything.
    pub fn peek(&self, id: &str) -> Option<JobView<R>> {
        self.entry(id).map(|e| e.view(false))
    }

    /// Abort one job and answer with the state it actually reached: wait (bounded by the
    /// abort-settle window, default 6 s) for it to settle; `Running` if it did not. An
    /// already finished job just reports its state. `None` for an unknown id — which a
    /// caller must not read as "stopped".
    pub async fn abort(&self, id: &str, reason: &str) -> Option<JobState> {
        let entry = self.entry(id)?;
        if entry.state() != JobState::Running {
            return Some(entry.state());
        }
        let settled = entry.settled.notified();
        request_abort(&entry.shared, reason);
        let clock = self.inner.clock.clone();
        if !entry.finished.load(Ordering::Acquire) {
            tokio::select! {
                _ = settled => {}
                _ = clock.sleep(self.inner.abort_settle) => {}
            }
        }
        Some(entry.state())
    }

    /// Abort every running job (without waiting; poll [`running_count`] to see them
    /// settle). Returns how many running jobs there were. A job a watchdog is already
    /// killing keeps the watchdog's reason.
    ///
    /// [`running_count`]: JobRegistry::running_count
    pub fn abort_all(&self, reason: &str) -> usize {
        let entries: Vec<_> = lock(&self.inner.jobs).values().cloned().collect();
        let mut n = 0;
        for e in entries {
            if e.state() == JobState::Running {
                request_abort(&e.shared, reason);
                n += 1;
            }
        }
        n
    }

    /// How many jobs are running (an atomic read).
    pub fn running_count(&self) -> usize {
        self.inner.running.load(Ordering::Acquire)
    }

    /// How many jobs (running and finished, not yet evicted) the registry holds.
    pub fn len(&self) -> usize {
        lock(&self.inner.jobs).len()
    }

    /// True when the registry holds no job.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, id: &str) -> Option<Arc<Entry<R>>> {
        lock(&self.inner.jobs).get(id).cloned()
    }
}

impl<J, R> Drop for JobRegistry<J, R> {
    fn drop(&mut self) {
        let entries: Vec<_> = lock(&self.inner.jobs).values().cloned().collect();
        for e in entries {
            if lock(&e.shared.state).state == JobState::Running {
                request_abort(&e.shared, "job registry dropped");
            }
        }
    }
}

fn validate_id(id: &str) -> Result<(), JobsError> {
    if id.is_empty() {
        return Err(JobsError::InvalidId {
            reason: "must not be empty",
        });
    }
    if id.len() > MAX_ID_LEN {
        return Err(JobsError::InvalidId {
            reason: "longer than 512 bytes",
        });
    }
    if id.chars().any(char::is_control) {
        return Err(JobsError::InvalidId {
            reason: "contains a control character",
        });
    }
    Ok(())
}

/// Record the abort reason (first wins) and fire, unless a watchdog already did.
fn request_abort(shared: &Shared, reason: &str) {
    if shared.watchdog.reason().is_some() {
        return;
    }
    {
        let mut st = lock(&shared.state);
        if st.abort_reason.is_none() {
            st.abort_reason = Some(shared.redact(reason));
        }
    }
    shared.watchdog.fire(KillReason::Aborted);
}

struct Driver<J, R> {
    registry: Weak<Inner<J, R>>,
    entry: Arc<Entry<R>>,
    running: Arc<AtomicUsize>,
    runtime: tokio::runtime::Handle,
    cancel_grace: Duration,
    retention: Duration,
    on_event: Option<Arc<EventFn>>,
}

enum Outcome<R> {
    Returned(Result<R, WorkError>),
    Panicked(String),
    Abandoned,
}

/// What a driver waits for: work spawned on the runtime (a panic is caught), or the
/// signal of an [`ExternalJob`] that settles the job itself.
enum Work<R> {
    Isolated(BoxFuture<Result<R, WorkError>>),
    External,
}

/// A job started with [`JobRegistry::start_external`], or the view of the existing job of
/// that id.
#[derive(Debug)]
pub enum Started<R: JobResult> {
    /// A new job: run its work and report through the handle.
    New(ExternalJob<R>),
    /// The id was running or finished (idempotent re-attach); nothing was started.
    Existing(Box<JobView<R>>),
}

/// The reporting end of a job whose work runs outside the registry's runtime (see
/// [`JobRegistry::start_external`]). Dropping it without [`complete`](ExternalJob::complete)
/// fails the job ("dropped without an outcome").
pub struct ExternalJob<R: JobResult> {
    ctx: JobContext,
    entry: Arc<Entry<R>>,
    running: Arc<AtomicUsize>,
}

impl<R: JobResult> Drop for ExternalJob<R> {
    fn drop(&mut self) {
        // A no-op once completed.
        finish(
            &self.entry,
            &self.running,
            Outcome::Returned(Err(WorkError::agent(
                "the job's work was dropped without an outcome",
            ))),
        );
    }
}

impl<R: JobResult> fmt::Debug for ExternalJob<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalJob")
            .field("id", &self.ctx.id())
            .finish_non_exhaustive()
    }
}

impl<R: JobResult> ExternalJob<R> {
    /// The job's context (activity, phases, spans, tool windows, cancellation).
    pub fn context(&self) -> &JobContext {
        &self.ctx
    }

    /// Settle the job with the work's outcome, synchronously: when this returns the job's
    /// view says `done` or `failed` (a watchdog or abort that fired first keeps its
    /// reason). Returns `false` when the job had already settled without it (abandoned
    /// after its cancel grace, or the registry was dropped).
    pub fn complete(self, outcome: Result<R, WorkError>) -> bool {
        finish(&self.entry, &self.running, Outcome::Returned(outcome))
    }

    /// Let the host report activity through a channel of its own, read only when a
    /// watchdog wakes or a view is taken: `source()` returns the time, on the registry's
    /// clock ([`JobContext::clock`]), of the last activity it recorded. Used by the Node
    /// surface, whose `onActivity` writes a typed-array slot instead of calling native
    /// code. Set once; later calls are ignored.
    pub fn activity_source(&self, source: impl Fn() -> Option<Duration> + Send + Sync + 'static) {
        self.ctx.shared.watchdog.set_source(Box::new(source));
    }

    /// Whether the job has settled (by this handle or without it).
    pub fn is_settled(&self) -> bool {
        self.entry.finished.load(Ordering::Acquire)
    }
}

/// Settle `entry` once: whoever comes first (the driver or an [`ExternalJob`]) wins.
fn finish<R: JobResult>(entry: &Entry<R>, running: &AtomicUsize, outcome: Outcome<R>) -> bool {
    if entry.finished.swap(true, Ordering::AcqRel) {
        return false;
    }
    settle(entry, outcome);
    running.fetch_sub(1, Ordering::AcqRel);
    entry.settled.notify_waiters();
    // Stop the watchdog's waiter if it is still parked (work returned first).
    entry.shared.watchdog.token().cancel();
    true
}

fn record_cold_start(sh: &Shared) {
    let ms = sh
        .watchdog
        .limits()
        .cold_start_window()
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut st = lock(&sh.state);
    let message = sh.redact(&format!(
        "agent produced no output {} after start; possible onboarding/auth wedge (phase: {})",
        format_window(ms),
        st.phase
    ));
    tracing::warn!(job_id = %sh.id, after_ms = ms, phase = %st.phase, "cold-start: no agent output");
    st.cold_start = Some(ColdStart {
        at_ms: sh.clock.epoch_ms(),
        message,
    });
}

impl<J, R: JobResult> Driver<J, R> {
    async fn drive(self, work: Work<R>) {
        let shared = self.entry.shared.clone();
        let (mut fut, abort): (BoxFuture<Outcome<R>>, Option<tokio::task::AbortHandle>) = match work
        {
            Work::Isolated(work) => {
                let handle = self.runtime.spawn(work);
                let abort = handle.abort_handle();
                (
                    Box::pin(async move {
                        match handle.await {
                            Ok(r) => Outcome::Returned(r),
                            Err(e) if e.is_panic() => {
                                let p = e.into_panic();
                                let msg = p
                                    .downcast_ref::<&str>()
                                    .map(|s| s.to_string())
                                    .or_else(|| p.downcast_ref::<String>().cloned())
                                    .unwrap_or_else(|| "unknown panic".into());
                                Outcome::Panicked(msg)
                            }
                            Err(_) => Outcome::Abandoned,
                        }
                    }),
                    Some(abort),
                )
            }
            Work::External => {
                // The ExternalJob settles the job itself (completing, or dropped);
                // wait for that.
                let entry = self.entry.clone();
                (
                    Box::pin(async move {
                        loop {
                            let settled = entry.settled.notified();
                            if entry.finished.load(Ordering::Acquire) {
                                // Already settled: finish() below is a no-op.
                                return Outcome::Abandoned;
                            }
                            settled.await;
                        }
                    }),
                    None,
                )
            }
        };
        let first = tokio::select! {
            biased;
            r = &mut fut => Some(r),
            _ = shared.watchdog.run_with(|| record_cold_start(&shared)) => None,
        };
        let outcome = match first {
            Some(r) => r,
            None => {
                if !self.entry.finished.load(Ordering::Acquire) {
                    if let Some(hook) = &self.on_event {
                        hook(
                            &JobContext {
                                shared: shared.clone(),
                            },
                            JobEvent::Cancelled,
                        );
                    }
                }
                tokio::select! {
                    biased;
                    r = &mut fut => r,
                    _ = shared.clock.sleep(self.cancel_grace) => {
                        if !self.entry.finished.load(Ordering::Acquire) {
                            tracing::warn!(
                                job_id = %shared.id,
                                cancel_grace_ms = self.cancel_grace.as_millis() as u64,
                                "job work ignored cancellation; dropping it"
                            );
                        }
                        if let Some(a) = &abort {
                            a.abort();
                        }
                        Outcome::Abandoned
                    }
                }
            }
        };
        drop(fut);
        let abandoned = matches!(outcome, Outcome::Abandoned);
        if finish(&self.entry, &self.running, outcome) && abandoned {
            if let Some(hook) = &self.on_event {
                hook(
                    &JobContext {
                        shared: shared.clone(),
                    },
                    JobEvent::Abandoned,
                );
            }
        }

        shared.clock.sleep(self.retention).await;
        if let Some(inner) = self.registry.upgrade() {
            let mut jobs = lock(&inner.jobs);
            if jobs
                .get(&shared.id)
                .is_some_and(|e| Arc::ptr_eq(e, &self.entry))
            {
                jobs.remove(&shared.id);
                tracing::debug!(job_id = %shared.id, "finished job evicted");
            }
        }
    }
}

fn settle<R: JobResult>(entry: &Entry<R>, outcome: Outcome<R>) {
    let sh = &entry.shared;
    let now = sh.clock.now();
    let now_epoch = sh.clock.epoch_ms();
    let reason = sh.watchdog.reason();
    let duration_ms = now.saturating_sub(sh.watchdog.started()).as_millis() as u64;
    let mut st = lock(&sh.state);
    let was_in = st.phase.clone();
    st.settled_heartbeat = Some(now_epoch);

    let (ok, outcome) = match (reason, outcome) {
        (None, Outcome::Returned(Ok(r))) => (Some(r), None),
        (None, Outcome::Returned(Err(e))) => (None, Some((e.cause(), sh.redact(e.message())))),
        (None, Outcome::Panicked(p)) => (
            None,
            Some((
                FailureCause::Agent,
                sh.redact(&format!("job panicked: {p}")),
            )),
        ),
        (None, Outcome::Abandoned) => (
            None,
            Some((FailureCause::Agent, "job work was abandoned".to_owned())),
        ),
        (Some(_), _) => (None, None),
    };

    if let Some(result) = ok {
        st.mark_phase("done", now);
        st.state = JobState::Done;
        if result.error().is_some() {
            if let Some(c) = result.failure_cause() {
                st.failure_cause = Some(c);
            }
        }
        let job_error = result.error().map(|e| sh.redact(e));
        *lock(&entry.result) = Some(result);
        tracing::info!(
            job_id = %sh.id,
            duration_ms,
            job_error = job_error.as_deref(),
            phase_timings = %st.phase_breakdown(),
            "job finished"
        );
        return;
    }

    st.mark_phase("failed", now);
    let breadcrumb = breadcrumb(sh, &st, reason, now, now_epoch);
    let breakdown = st.phase_breakdown();
    let limits = sh.watchdog.limits();
    let ms = |w: Option<Duration>| w.map(|d| d.as_millis() as u64).unwrap_or(0);
    let timings = format!(
        "Phase timings: {}. {breadcrumb}.",
        if breakdown.is_empty() {
            "(none)"
        } else {
            &breakdown
        }
    );
    let (message, cause, detail) = match (reason, outcome) {
        (Some(KillReason::InactivityTimeout), _) => (
            format!(
                "{} (likely hung in {was_in} phase; {breadcrumb})",
                inactivity_abort_message(ms(limits.inactivity_window()))
            ),
            FailureCause::InactivityTimeout,
            timings,
        ),
        (Some(KillReason::MaxDuration), _) => (
            max_duration_abort_message(ms(limits.max_duration_window())),
            FailureCause::MaxDuration,
            timings,
        ),
        (Some(KillReason::NoToolProgress), _) => (
            format!(
                "{} ({breadcrumb})",
                tool_silence_abort_message(ms(limits.tool_silence_window()))
            ),
            FailureCause::NoToolProgress,
            timings,
        ),
        (Some(_), _) => {
            let why = st.abort_reason.clone().unwrap_or_default();
            (
                if why.is_empty() {
                    "Aborted".to_owned()
                } else {
                    format!("Aborted: {why}")
                },
                FailureCause::Aborted,
                format!(
                    "{}Aborted in {was_in} phase; {breadcrumb}.",
                    if breakdown.is_empty() {
                        String::new()
                    } else {
                        format!("Phase timings: {breakdown}. ")
                    }
                ),
            )
        }
        (None, outcome) => {
            let (cause, message) =
                outcome.unwrap_or((FailureCause::Agent, "job failed".to_owned()));
            (
                message,
                cause,
                format!(
                    "{}Failed in {was_in} phase; {breadcrumb}.",
                    if breakdown.is_empty() {
                        String::new()
                    } else {
                        format!("Phase timings: {breakdown}. ")
                    }
                ),
            )
        }
    };
    // The reference folds the cold-start diagnostic into every failure's detail.
    let cold = match &st.cold_start {
        Some(c) => format!(" Cold start: {}.", c.message),
        None => String::new(),
    };
    let message = sh.redact(&message);
    let detail = sh.redact(&format!("{detail}{cold}"));
    tracing::error!(
        job_id = %sh.id,
        duration_ms,
        reason = reason.map(KillReason::as_str).unwrap_or("error"),
        failure_cause = cause.as_str(),
        error = %message,
        phase_timings = %breakdown,
        "job failed"
    );
    st.state = JobState::Failed;
    st.error = Some(message);
    st.failure_cause = Some(cause);
    st.detail = Some(detail);
}

/// `last completed tool Bash 42s ago` / `no tool had completed yet`, plus — unless the
/// inactivity watchdog fired (its message already states the silence) — `silent for Ns` /
/// `no activity at all in Ns` when the run had been quiet for 30 s or more.
fn breadcrumb(
    sh: &Shared,
    st: &State,
    reason: Option<KillReason>,
    now: Duration,
    now_epoch: u64,
) -> String {
    let mut out = match &st.last_tool {
        Some((name, at)) => format!(
            "last completed tool {name} {}s ago",
            round_secs(now_epoch.saturating_sub(*at))
        ),
        None => "no tool had completed yet".to_owned(),
    };
    if reason != Some(KillReason::InactivityTimeout) {
        let last = sh.watchdog.last_activity();
        let silent = now.saturating_sub(last.unwrap_or(sh.watchdog.started()));
        if silent >= SILENCE_BREADCRUMB {
            let secs = round_secs(silent.as_millis() as u64);
            out.push_str(&match last {
                None => format!(", no activity at all in {secs}s"),
                Some(_) => format!(", silent for {secs}s"),
            });
        }
    }
    out
}
