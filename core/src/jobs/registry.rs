//! The job registry: idempotent start by id, three watchdogs per job, drain-on-read
//! observability, bounded abort, eviction.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::failure::{
    format_window, inactivity_abort_message, max_duration_abort_message, round_secs,
    tool_silence_abort_message, FailureCause, WorkError,
};
use super::timer::{Timer, NEVER};
use super::view::{
    CallMetric, ColdStart, Dropped, JobResult, JobState, JobView, Progress, ToolSpan,
};
use super::watchdog::{nanos, Tick, Watchdog, WatchdogLimits};
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
    id: Arc<str>,
    clock: SharedClock,
    watchdog: Arc<Watchdog>,
    started_epoch: u64,
    caps: Caps,
    redactor: Redactor,
    state: Mutex<State>,
    /// The registry's timer, which services this job's deadlines.
    timer: Arc<Scheduler>,
    /// The earliest deadline of this job queued in the timer (NEVER: none).
    scheduled: AtomicU64,
    /// Where the job is in its life, for the timer, and that stage's deadline (the
    /// cancel grace's end once cancelled, the eviction time once settled).
    stage: Mutex<(Stage, u64)>,
    /// Set by whoever settles the job first (its work, an [`ExternalJob`], or the timer
    /// abandoning it).
    finished: AtomicBool,
    /// Notified (all waiters) once `finished` is set.
    settled: Notify,
    /// The task running the job's work (work run by the registry only), aborted when
    /// the work ignores cancellation past the cancel grace.
    task: OnceLock<tokio::task::AbortHandle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Running under its watchdogs.
    Watching,
    /// Cancelled (a watchdog fired or it was aborted); the work has until the stage's
    /// deadline to return.
    Cancelled,
    /// Settled; evicted at the stage's deadline.
    Settled,
}

impl Shared {
    fn redact(&self, s: &str) -> String {
        self.redactor.redact_str(s).into_owned()
    }

    /// Ask the timer to look at this job at `at` (monotonic nanos), unless it already
    /// will at that time or earlier.
    fn schedule(self: &Arc<Self>, at: u64) {
        if self.scheduled.fetch_min(at, Ordering::AcqRel) > at {
            self.timer.timer.push(at, self.clone());
        }
    }

    /// Ask the timer to look at this job now (it was cancelled, or a tool window opened).
    fn schedule_now(self: &Arc<Self>) {
        self.schedule(nanos(self.clock.now()));
    }
}

/// The registry's timer: one min-heap of job deadlines, serviced by one task
/// ([`run_timer`]), for every job's watchdogs, cancel grace and eviction.
struct Scheduler {
    timer: Timer<Arc<Shared>>,
    clock: SharedClock,
    cancel_grace: Duration,
    retention: Duration,
    on_event: Option<Arc<EventFn>>,
    running: Arc<AtomicUsize>,
    /// The registry was dropped: nothing is evicted any more, and the timer stops once
    /// every job has settled.
    closed: AtomicBool,
}

struct State {
    state: JobState,
    phase: String,
    phase_entered: Duration,
    phase_timings: Vec<(String, Duration)>,
    /// Boxed: most jobs never report progress, and a job's memory is what 10,000
    /// concurrent jobs multiply.
    progress: Option<Box<Progress>>,
    error: Option<String>,
    failure_cause: Option<FailureCause>,
    detail: Option<String>,
    /// The drain-on-read buffers, made on the first item.
    buffers: Option<Box<Buffers>>,
    metric_seq: u64,
    last_tool: Option<(String, u64)>,
    abort_reason: Option<String>,
    settled_heartbeat: Option<u64>,
    cold_start: Option<Box<ColdStart>>,
}

#[derive(Default)]
struct Buffers {
    spans: VecDeque<ToolSpan>,
    follow_ups: VecDeque<Value>,
    call_metrics: VecDeque<CallMetric>,
    dropped: Dropped,
}

impl State {
    fn buffers(&mut self) -> &mut Buffers {
        self.buffers.get_or_insert_with(Box::default)
    }

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
        lock(&self.shared.state).progress = Some(Box::new(progress));
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
        let Buffers { spans, dropped, .. } = st.buffers();
        push_bounded(spans, span, cap, &mut dropped.spans);
    }

    /// A follow-up item (free-form JSON), buffered for the next read.
    pub fn follow_up(&self, item: Value) {
        let mut item = item;
        redact_json(&mut item, &self.shared.redactor);
        let cap = self.shared.caps.follow_ups;
        let mut st = lock(&self.shared.state);
        let Buffers {
            follow_ups,
            dropped,
            ..
        } = st.buffers();
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
        let Buffers {
            call_metrics,
            dropped,
            ..
        } = st.buffers();
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
        let id = self.shared.watchdog.open_window();
        if id != 0 {
            // Its deadline may be earlier than the one the timer waits for.
            self.shared.schedule_now();
        }
        ToolWindow {
            watchdog: self.shared.watchdog.clone(),
            id,
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
            id: sh.id.to_string(),
            state: st.state,
            started_at: sh.started_epoch,
            heartbeat_at,
            phase: Some(st.phase.clone()),
            progress: st.progress.as_deref().cloned(),
            result: None,
            error: st.error.clone(),
            failure_cause: st.failure_cause,
            detail: st.detail.clone(),
            cold_start: st.cold_start.as_deref().cloned(),
            spans: None,
            follow_ups: None,
            call_metrics: None,
            dropped: None,
        };
        if let Some(b) = st.buffers.as_mut().filter(|_| drain) {
            if !b.spans.is_empty() {
                view.spans = Some(std::mem::take(&mut b.spans).into());
            }
            if !b.follow_ups.is_empty() {
                view.follow_ups = Some(std::mem::take(&mut b.follow_ups).into());
            }
            if !b.call_metrics.is_empty() {
                view.call_metrics = Some(std::mem::take(&mut b.call_metrics).into());
            }
            if b.dropped.any() {
                view.dropped = Some(std::mem::take(&mut b.dropped));
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

type Jobs<R> = Mutex<HashMap<Arc<str>, Arc<Entry<R>>>>;

struct Inner<J, R> {
    jobs: Arc<Jobs<R>>,
    run: Arc<RunFn<J, R>>,
    limits: WatchdogLimits,
    abort_settle: Duration,
    caps: Caps,
    clock: SharedClock,
    redactor: Redactor,
    runtime: tokio::runtime::Handle,
    running: Arc<AtomicUsize>,
    explicit_windows: bool,
    timer: Arc<Scheduler>,
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
        let clock = self.clock.unwrap_or_else(SystemClock::shared);
        let running = Arc::new(AtomicUsize::new(0));
        let jobs = Arc::new(Mutex::new(HashMap::new()));
        let timer = Arc::new(Scheduler {
            timer: Timer::new(),
            clock: clock.clone(),
            cancel_grace: self.cancel_grace,
            retention: self.retention,
            on_event: self.on_event,
            running: running.clone(),
            closed: AtomicBool::new(false),
        });
        runtime.spawn(run_timer(ShutOnDrop(timer.clone()), jobs.clone()));
        Ok(JobRegistry {
            inner: Arc::new(Inner {
                jobs,
                run: self.run,
                limits: self.limits,
                abort_settle: self.abort_settle,
                caps: self.caps,
                clock,
                redactor: self
                    .redactor
                    .unwrap_or_else(|| crate::redact::global().clone()),
                runtime,
                running,
                explicit_windows: self.explicit_windows,
                timer,
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
        let work = CatchUnwind((inner.run)(job, ctx));
        let (task_entry, running) = (entry.clone(), inner.running.clone());
        let task = inner.runtime.spawn(async move {
            let outcome = match work.await {
                Ok(r) => Outcome::Returned(r),
                Err(panic) => Outcome::Panicked(panic),
            };
            finish(&task_entry, &running, outcome);
        });
        let _ = entry.shared.task.set(task.abort_handle());
        watch(&entry.shared);
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
        watch(&entry.shared);
        Ok(Started::New(ExternalJob {
            ctx: JobContext {
                shared: entry.shared.clone(),
            },
            entry,
            running: self.inner.running.clone(),
        }))
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
                id: Arc::from(id),
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
                    buffers: None,
                    metric_seq: 0,
                    last_tool: None,
                    abort_reason: None,
                    settled_heartbeat: None,
                    cold_start: None,
                }),
                timer: inner.timer.clone(),
                scheduled: AtomicU64::new(NEVER),
                stage: Mutex::new((Stage::Watching, NEVER)),
                finished: AtomicBool::new(false),
                settled: Notify::new(),
                task: OnceLock::new(),
            });
            let entry = Arc::new(Entry {
                shared,
                result: Mutex::new(None),
            });
            jobs.insert(entry.shared.id.clone(), entry.clone());
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
        let settled = entry.shared.settled.notified();
        request_abort(&entry.shared, reason);
        let clock = self.inner.clock.clone();
        if !entry.shared.finished.load(Ordering::Acquire) {
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
        // The timer goes on until every job has settled (cancelled work still gets its
        // grace), then stops.
        self.inner.timer.closed.store(true, Ordering::Release);
        self.inner.timer.timer.wake();
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
fn request_abort(shared: &Arc<Shared>, reason: &str) {
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
    // The timer tells the on_event hook and starts the cancel grace.
    shared.schedule_now();
}

/// Queue a new job's first deadline.
fn watch(shared: &Arc<Shared>) {
    match shared.watchdog.tick(|| record_cold_start(shared)) {
        Tick::Next(Some(at)) => shared.schedule(at),
        Tick::Next(None) => {}
        Tick::Done(_) => shared.schedule_now(),
    }
}

/// A job's work, with a panic caught and reported as its message.
struct CatchUnwind<R>(BoxFuture<Result<R, WorkError>>);

impl<R> Future for CatchUnwind<R> {
    type Output = Result<Result<R, WorkError>, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
            Err(p) => Poll::Ready(Err(p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into()))),
        }
    }
}

/// The registry's one timer task: sleeps until the earliest deadline of any job, then
/// services every job that is due (watchdogs, the end of a cancel grace, eviction).
/// Runs until the registry is dropped and every job has settled, or the runtime stops.
async fn run_timer<R: JobResult>(shut: ShutOnDrop, jobs: Arc<Jobs<R>>) {
    let sched = &shut.0;
    loop {
        let now = nanos(sched.clock.now());
        while let Some((at, shared)) = sched.timer.pop_due(now) {
            service(sched, &jobs, at, shared, now);
        }
        if sched.closed.load(Ordering::Acquire) {
            // Nothing is evicted from a dropped registry: forget settled jobs.
            sched
                .timer
                .retain(|sh| !sh.finished.load(Ordering::Acquire));
            if sched.timer.shut_if_empty() {
                return;
            }
        }
        match sched.timer.next() {
            Some(at) if at <= nanos(sched.clock.now()) => {}
            Some(at) => {
                tokio::select! {
                    _ = sched.clock.sleep_until(Duration::from_nanos(at)) => {}
                    _ = sched.timer.woken() => {}
                }
            }
            None => sched.timer.woken().await,
        }
    }
}

/// Drops what the timer has queued when its task ends — also when the runtime drops the
/// task, polled or not (the queue holds jobs, which hold the timer: a cycle otherwise).
struct ShutOnDrop(Arc<Scheduler>);

impl Drop for ShutOnDrop {
    fn drop(&mut self) {
        self.0.timer.shut();
    }
}

/// One job's deadline `at` came (`now`): act on its stage and queue its next deadline.
fn service<R: JobResult>(
    sched: &Scheduler,
    jobs: &Jobs<R>,
    at: u64,
    shared: Arc<Shared>,
    now: u64,
) {
    if shared
        .scheduled
        .compare_exchange(at, NEVER, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return; // stale: an earlier deadline of this job was queued after this one
    }
    let (stage, stage_at) = *lock(&shared.stage);
    match stage {
        Stage::Watching => match shared.watchdog.tick(|| record_cold_start(&shared)) {
            Tick::Next(Some(next)) => shared.schedule(next),
            Tick::Next(None) => {}
            Tick::Done(_) => {
                let grace_end = now.saturating_add(nanos(sched.cancel_grace));
                {
                    let mut st = lock(&shared.stage);
                    if st.0 != Stage::Watching {
                        // Settled meanwhile: its eviction is queued.
                        return;
                    }
                    *st = (Stage::Cancelled, grace_end);
                }
                if !shared.finished.load(Ordering::Acquire) {
                    if let Some(hook) = &sched.on_event {
                        hook(
                            &JobContext {
                                shared: shared.clone(),
                            },
                            JobEvent::Cancelled,
                        );
                    }
                }
                shared.schedule(grace_end);
            }
        },
        Stage::Cancelled if now < stage_at => shared.schedule(stage_at),
        Stage::Cancelled => {
            let entry = lock(jobs)
                .get(&shared.id)
                .filter(|e| Arc::ptr_eq(&e.shared, &shared))
                .cloned();
            let Some(entry) = entry else { return };
            if finish(&entry, &sched.running, Outcome::Abandoned) {
                tracing::warn!(
                    job_id = %shared.id,
                    cancel_grace_ms = sched.cancel_grace.as_millis() as u64,
                    "job work ignored cancellation; dropping it"
                );
                // Dropping the work kills what it spawned (a Child kills its group).
                if let Some(task) = shared.task.get() {
                    task.abort();
                }
                if let Some(hook) = &sched.on_event {
                    hook(
                        &JobContext {
                            shared: shared.clone(),
                        },
                        JobEvent::Abandoned,
                    );
                }
            }
        }
        Stage::Settled if sched.closed.load(Ordering::Acquire) => {}
        Stage::Settled if now < stage_at => shared.schedule(stage_at),
        Stage::Settled => {
            let mut jobs = lock(jobs);
            if jobs
                .get(&shared.id)
                .is_some_and(|e| Arc::ptr_eq(&e.shared, &shared))
            {
                jobs.remove(&shared.id);
                tracing::debug!(job_id = %shared.id, "finished job evicted");
            }
        }
    }
}

enum Outcome<R> {
    Returned(Result<R, WorkError>),
    Panicked(String),
    Abandoned,
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
        self.entry.shared.finished.load(Ordering::Acquire)
    }
}

/// Settle `entry` once: whoever comes first (its work, an [`ExternalJob`], or the timer
/// abandoning it) wins.
fn finish<R: JobResult>(entry: &Entry<R>, running: &AtomicUsize, outcome: Outcome<R>) -> bool {
    let sh = &entry.shared;
    if sh.finished.swap(true, Ordering::AcqRel) {
        return false;
    }
    settle(entry, outcome);
    running.fetch_sub(1, Ordering::AcqRel);
    sh.settled.notify_waiters();
    // Work still selecting on cancellation (a command it ran) stops.
    sh.watchdog.token().cancel();
    let evict_at = nanos(sh.clock.now().saturating_add(sh.timer.retention));
    *lock(&sh.stage) = (Stage::Settled, evict_at);
    sh.schedule(evict_at);
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
    st.cold_start = Some(Box::new(ColdStart {
        at_ms: sh.clock.epoch_ms(),
        message,
    }));
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

#[cfg(test)]
mod tests {
    use super::*;

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    async fn eventually(cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The registry's timer outlives the registry until every job has settled: work that
    /// ignores cancellation is still dropped after the cancel grace.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_registry_still_abandons_stubborn_work() {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let registry = JobRegistry::builder(move |(): (), _ctx: JobContext| {
            let guard = SetOnDrop(flag.clone());
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(60)).await; // ignores cancellation
                Ok::<_, WorkError>(())
            }
        })
        .cancel_grace(Duration::from_millis(100))
        .build()
        .unwrap();
        registry.start("stubborn", ()).unwrap();
        let timer = registry.inner.timer.clone();
        drop(registry);
        eventually(|| dropped.load(Ordering::SeqCst)).await;
        // Then the timer stops, dropping what it held.
        eventually(|| Arc::strong_count(&timer) == 1).await;
    }

    /// An abort reaches the on_event hook through the timer, and a window opened with a
    /// deadline earlier than the one the timer sleeps towards is honoured.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_earlier_deadline_wakes_the_timer() {
        let cancelled = Arc::new(AtomicUsize::new(0));
        let seen = cancelled.clone();
        let registry = JobRegistry::builder(|(): (), ctx: JobContext| async move {
            let window = ctx.begin_tool_window();
            loop {
                tokio::select! {
                    _ = ctx.cancelled() => return Err::<(), _>(WorkError::agent("cancelled")),
                    _ = tokio::time::sleep(Duration::from_millis(10)) => ctx.activity(),
                }
                let _ = &window;
            }
        })
        .limits(
            WatchdogLimits::default()
                .inactivity(Some(Duration::from_secs(600)))
                .tool_silence(Some(Duration::from_millis(300))),
        )
        .explicit_tool_windows(true)
        .on_event(move |_ctx, ev| {
            if ev == JobEvent::Cancelled {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
        registry.start("chatty", ()).unwrap();
        eventually(|| registry.running_count() == 0).await;
        let view = registry.get("chatty").unwrap();
        assert_eq!(view.failure_cause, Some(FailureCause::NoToolProgress));
        assert_eq!(cancelled.load(Ordering::SeqCst), 1);
    }
}
