//! Job watchdogs, native half: the registry, its watchdog timers and every supervised
//! process live in `keel_core::jobs` on one keel thread. The reference's `JobRegistry`
//! class (`new JobRegistry(limits, run, describe?)` with `start` / `get` / `abort` /
//! `abortAll` / `runningCount`) is `node/jobs.js`, a thin JavaScript class over
//! [`JobRegistryNative`]: it calls `run(job, opts)` and forwards each `opts` callback to
//! one method here, addressing the job by a small integer slot. No JavaScript lives in
//! this file, and no function is created per job.
//!
//! Event loop. A registry holds one weak threadsafe function (abort / abandon
//! notices for the JS side); it is referenced while any of its jobs runs — keeping Node
//! alive, as the reference's watchdog timers do — and unreferenced when none does.
//! `runCommand` holds one threadsafe function per call until it settles. A threadsafe
//! function whose environment has closed refuses calls, so JavaScript is never called
//! after close.

use std::sync::OnceLock;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{FnArgs, Function, Object, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, ValueType};
use napi_derive::napi;
use serde_json::{Map, Value};

use keel_core::jobs::{
    run_command, CallMetric, CommandOptions, ExternalJob, FailureCause, JobContext, JobEvent,
    JobRegistry as CoreRegistry, JobRuntime, KillReason, OutputSink, OutputStream, Progress,
    RegistryOptions, RunnerLimits as CoreRunnerLimits, Started, ToolSpan as CoreToolSpan,
    WatchdogLimits, WorkError,
};

use crate::args;
use crate::error::{code, guard, KeelError, Result};

/// The one keel thread that runs every registry's watchdogs and every supervised command
/// of this process.
fn runtime() -> Result<&'static JobRuntime> {
    static RT: OnceLock<std::result::Result<JobRuntime, String>> = OnceLock::new();
    RT.get_or_init(|| JobRuntime::new("keel-node-jobs").map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| {
            KeelError::new(
                code::INTERNAL,
                format!("cannot start keel's job thread: {e}"),
            )
        })
}

/// `dispatch(kind, payload)` of one pending `runCommand` (see `node/jobs.js`): `kind` is
/// `stdout`, `stderr`, `resolve` or `reject`.
type Dispatch = ThreadsafeFunction<
    FnArgs<(&'static str, String)>,
    (),
    FnArgs<(&'static str, String)>,
    Status,
    false,
    false,
    0,
>;

/// `onEvent(id, message)` of a registry: `message` a string → abort the job's signal with
/// it; `null` → the job settled without its work (abandoned).
type Events = ThreadsafeFunction<
    FnArgs<(String, Option<String>)>,
    (),
    FnArgs<(String, Option<String>)>,
    Status,
    false,
    true,
    0,
>;

fn resolve_with(d: &Dispatch, json: String) {
    d.call(
        FnArgs::from(("resolve", json)),
        ThreadsafeFunctionCallMode::NonBlocking,
    );
}

fn reject_with(d: &Dispatch, code: &str, message: &str) {
    let payload = serde_json::json!({
        "code": code,
        "message": keel_core::redact::redact_secrets(message),
    });
    d.call(
        FnArgs::from(("reject", payload.to_string())),
        ThreadsafeFunctionCallMode::NonBlocking,
    );
}

/// The limits object as core's [`RegistryOptions`] (the reference's `RunnerLimits` plus
/// keel's own fields), parsed exactly as C parses its limits JSON; `coldStartMs` also
/// arms the cold-start diagnostic, which only the Node view reports.
fn parse_limits(v: Unknown<'_>) -> Result<(RegistryOptions, WatchdogLimits)> {
    let o: RegistryOptions = args::options_as("limits", Some(v), &[])?;
    let cold = match o.cold_start_ms {
        None | Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
    };
    let watchdogs = o.watchdogs().cold_start(cold);
    Ok((o, watchdogs))
}

/// The JS error message an abort carries (the reference's `controller.abort(new Error(…))`).
fn abort_message(ctx: &JobContext, reason: KillReason) -> String {
    match reason {
        KillReason::InactivityTimeout => "inactivity timeout".to_owned(),
        KillReason::MaxDuration => "max duration exceeded".to_owned(),
        KillReason::NoToolProgress => "no tool progress".to_owned(),
        _ => ctx.abort_reason().unwrap_or_else(|| "aborted".to_owned()),
    }
}

fn parse_json_arg(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The native half of `JobRegistry` (`node/jobs.js`). Not part of the package's API:
/// its methods take a job slot handed out by `begin` and trust the JS class to pass only
/// live slots (a stale slot is ignored).
#[napi(js_name = "JobRegistryNative")]
pub struct JobRegistryNative {
    inner: Arc<CoreRegistry<(), Value>>,
    jobs: Vec<Option<ExternalJob<Value>>>,
    free: Vec<u32>,
    live: u32,
    events: Arc<Mutex<Events>>,
    /// Activity stamps: slot `s` is `pages[s / PAGE][s % PAGE]`, the `performance.now()`
    /// (as f64 bits; 0: none yet) of its last `onActivity`, written by JavaScript through
    /// a Float64Array over the same memory — no native call per activity.
    pages: Vec<Arc<[AtomicU64]>>,
    /// `performance.now()` and the registry clock's `now()` sampled together.
    js_origin: f64,
    clock_origin: Duration,
}

/// Slots per activity page.
const PAGE: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl JobRegistryNative {
    /// The core registry (for `serveJobs`, which reads and aborts its jobs directly).
    pub(crate) fn core(&self) -> Arc<CoreRegistry<(), Value>> {
        self.inner.clone()
    }
}

#[napi]
impl JobRegistryNative {
    /// `limits` as the reference's `RunnerLimits` (plus keel's `retentionMs`,
    /// `abortSettleMs`, `cancelGraceMs`); `onEvent(id, message | null)`.
    /// `jsNow` is `performance.now()` at the call: it maps the activity stamps onto keel's
    /// clock.
    #[napi(
        constructor,
        ts_args_type = "limits: RunnerLimits, onEvent: (id: string, message: string | null) => void, jsNow: number"
    )]
    pub fn new(env: &Env, limits: Unknown, on_event: Unknown, js_now: f64) -> napi::Result<Self> {
        guard(env, || {
            let (options, watchdogs) = parse_limits(limits)?;
            if on_event.get_type()? != ValueType::Function {
                return Err(KeelError::invalid_type(
                    "onEvent",
                    "a function",
                    args::type_name(&on_event)?,
                ));
            }
            // SAFETY: checked to be a function.
            let on_event: Function<'_, FnArgs<(String, Option<String>)>, ()> =
                unsafe { on_event.cast() }?;
            let events: Arc<Mutex<Events>> = Arc::new(Mutex::new(
                on_event
                    .build_threadsafe_function()
                    .weak::<true>()
                    .build()?,
            ));
            let hook_events = events.clone();
            let rt = runtime()?;
            let b = CoreRegistry::builder(|(): (), _ctx| async {
                Err::<Value, _>(WorkError::agent(
                    "unused: jobs of this registry are external",
                ))
            })
            .explicit_tool_windows(true)
            .on_event(move |ctx, ev| {
                let message = match ev {
                    JobEvent::Cancelled => match ctx.kill_reason() {
                        Some(r) => Some(abort_message(ctx, r)),
                        None => return,
                    },
                    _ => None,
                };
                lock(&hook_events).call(
                    FnArgs::from((ctx.id().to_owned(), message)),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            })
            .runtime(rt.handle().clone());
            let b = options.apply(b).limits(watchdogs);
            let clock = keel_core::time::SystemClock::shared();
            let clock_origin = clock.now();
            let inner = b
                .clock(clock)
                .build()
                .map_err(|e| KeelError::range_error(code::INVALID_OPTION, e.to_string()))?;
            Ok(JobRegistryNative {
                inner: Arc::new(inner),
                jobs: Vec::new(),
                free: Vec::new(),
                live: 0,
                events,
                pages: Vec::new(),
                js_origin: if js_now.is_finite() { js_now } else { 0.0 },
                clock_origin,
            })
        })
    }

    /// The view of job `id` as JSON text without draining it; `undefined` if unknown.
    #[napi]
    pub fn peek(&self, env: &Env, id: Unknown) -> napi::Result<Option<String>> {
        guard(env, || {
            let id = args::string("id", id)?;
            self.inner.peek(&id).map(|v| view_json(&v)).transpose()
        })
    }

    /// The view of job `id` as JSON text, draining its buffers; `undefined` if unknown.
    #[napi]
    pub fn get(&self, env: &Env, id: Unknown) -> napi::Result<Option<String>> {
        guard(env, || {
            let id = args::string("id", id)?;
            self.inner.get(&id).map(|v| view_json(&v)).transpose()
        })
    }

    /// Start job `id` (its work is the caller's) and return its slot; -1 when `id`
    /// already exists (read it with `peek`).
    #[napi]
    pub fn begin(&mut self, env: &Env, id: Unknown) -> napi::Result<i32> {
        guard(env, || {
            let id = args::string("id", id)?;
            let job = match self
                .inner
                .start_external(&id)
                .map_err(|e| KeelError::type_error(code::INVALID_ARGUMENT, e.to_string()))?
            {
                Started::New(job) => job,
                _ => return Ok(-1),
            };
            let slot = match self.free.pop() {
                Some(slot) => slot,
                None => {
                    self.jobs.push(None);
                    (self.jobs.len() - 1) as u32
                }
            };
            let (page, at) = (slot as usize / PAGE, slot as usize % PAGE);
            while self.pages.len() <= page {
                self.pages.push(
                    (0..PAGE)
                        .map(|_| AtomicU64::new(0))
                        .collect::<Vec<_>>()
                        .into(),
                );
            }
            let cells = self.pages[page].clone();
            cells[at].store(0, Ordering::Relaxed);
            let (js_origin, clock_origin) = (self.js_origin, self.clock_origin);
            job.activity_source(move || {
                let ms = f64::from_bits(cells[at].load(Ordering::Relaxed));
                (ms.is_finite() && ms > 0.0).then(|| {
                    clock_origin + Duration::from_secs_f64(((ms - js_origin) / 1000.0).max(0.0))
                })
            });
            self.jobs[slot as usize] = Some(job);
            if self.live == 0 {
                #[allow(deprecated)]
                lock(&self.events).refer(env)?;
            }
            self.live += 1;
            Ok(slot as i32)
        })
    }

    fn ctx(&self, slot: u32) -> Option<&JobContext> {
        self.jobs
            .get(slot as usize)
            .and_then(Option::as_ref)
            .map(ExternalJob::context)
    }

    fn take(&mut self, env: &Env, slot: u32) -> Option<ExternalJob<Value>> {
        let job = self.jobs.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        self.live -= 1;
        if self.live == 0 {
            #[allow(deprecated)]
            let _ = lock(&self.events).unref(env);
        }
        Some(job)
    }

    /// The Float64Array of activity page `index` (slots `index * 1024 …`), over memory
    /// keel's watchdogs read.
    #[napi(ts_return_type = "Float64Array")]
    pub fn page<'e>(
        &self,
        env: &'e Env,
        index: u32,
    ) -> napi::Result<napi::bindgen_prelude::Float64ArraySlice<'e>> {
        let Some(cells) = self.pages.get(index as usize).cloned() else {
            return Err(
                KeelError::range_error(code::INVALID_ARGUMENT, "no such activity page").throw(env),
            );
        };
        let ptr = cells.as_ptr() as *mut f64;
        // SAFETY: the memory is the page's PAGE AtomicU64s (f64-sized and aligned), kept
        // alive by the Arc moved into the finalizer hint; JavaScript writes it as f64s and
        // keel reads it atomically (interior mutability, so shared writes are allowed).
        unsafe {
            napi::bindgen_prelude::Float64ArraySlice::from_external(
                env,
                ptr,
                PAGE,
                cells,
                |_, cells| drop(cells),
            )
        }
    }

    /// `opts.onActivity()` through a native call (the JS class writes the page instead).
    #[napi]
    pub fn activity(&self, slot: u32) {
        if let Some(ctx) = self.ctx(slot) {
            ctx.activity();
        }
    }

    /// `opts.onPhase(phase)`.
    #[napi]
    pub fn phase(&self, slot: u32, phase: String) {
        if let Some(ctx) = self.ctx(slot) {
            ctx.phase(&phase);
        }
    }

    /// `opts.currentPhase()`.
    #[napi]
    pub fn current_phase(&self, slot: u32) -> String {
        self.ctx(slot)
            .map(JobContext::current_phase)
            .unwrap_or_default()
    }

    /// `opts.onProgress(progress)`, as JSON text.
    #[napi]
    pub fn progress(&self, slot: u32, json: String) {
        if let Some(ctx) = self.ctx(slot) {
            if let Ok(p) = serde_json::from_value::<Progress>(parse_json_arg(&json)) {
                ctx.progress(p);
            }
        }
    }

    /// `opts.onSpan(span)`, as JSON text.
    #[napi]
    pub fn span(&self, slot: u32, json: String) {
        if let Some(ctx) = self.ctx(slot) {
            if let Ok(span) = serde_json::from_value::<CoreToolSpan>(parse_json_arg(&json)) {
                ctx.span(span);
            }
        }
    }

    /// `opts.onFollowUp(items)`, as JSON text.
    #[napi]
    pub fn follow_up(&self, slot: u32, json: String) {
        if let Some(ctx) = self.ctx(slot) {
            match parse_json_arg(&json) {
                Value::Array(items) => items.into_iter().for_each(|i| ctx.follow_up(i)),
                Value::Null => {}
                item => ctx.follow_up(item),
            }
        }
    }

    /// `opts.onCallMetric(call)`, as JSON text; returns the stamped `seq`.
    #[napi]
    pub fn metric(&self, slot: u32, json: String) -> u32 {
        let Some(ctx) = self.ctx(slot) else { return 0 };
        let mut fields = match parse_json_arg(&json) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        fields.remove("seq");
        fields.remove("phase");
        ctx.metric(CallMetric::new(fields)) as u32
    }

    /// `opts.beginToolWindow()`: the window's id (0: tool silence is off).
    #[napi]
    pub fn open_window(&self, slot: u32) -> f64 {
        self.ctx(slot)
            .map(|c| c.begin_tool_window().id() as f64)
            .unwrap_or(0.0)
    }

    /// `window.toolCompleted()`.
    #[napi]
    pub fn window_completed(&self, slot: u32, window: f64) {
        if let Some(ctx) = self.ctx(slot) {
            ctx.tool_window(window as u64).tool_completed();
        }
    }

    /// `window.close()`.
    #[napi]
    pub fn close_window(&self, slot: u32, window: f64) {
        if let Some(ctx) = self.ctx(slot) {
            ctx.tool_window(window as u64).close();
        }
    }

    /// The message the job's signal is aborted with, once it has been cancelled.
    #[napi]
    pub fn abort_message(&self, slot: u32) -> Option<String> {
        let ctx = self.ctx(slot)?;
        ctx.kill_reason().map(|r| abort_message(ctx, r))
    }

    /// The work resolved with `json` (its result as JSON text): the job is `done` (or
    /// `failed`, when a watchdog fired first) when this returns.
    #[napi]
    pub fn complete(&mut self, env: &Env, slot: u32, json: String) {
        if let Some(job) = self.take(env, slot) {
            job.complete(Ok(parse_json_arg(&json)));
        }
    }

    /// The work failed with `message` and an optional structured `cause`.
    #[napi]
    pub fn fail(&mut self, env: &Env, slot: u32, message: String, cause: Option<String>) {
        if let Some(job) = self.take(env, slot) {
            let err = match cause
                .and_then(|c| serde_json::from_value::<FailureCause>(Value::String(c)).ok())
            {
                Some(cause) => WorkError::new(cause, message),
                None => WorkError::agent(message),
            };
            job.complete(Err(err));
        }
    }

    /// Forget a job that settled without its work (after an abandon notice).
    #[napi]
    pub fn release(&mut self, env: &Env, slot: u32) {
        if let Some(job) = self.take(env, slot) {
            job.complete(Err(WorkError::agent("job work was abandoned")));
        }
    }

    /// Abort one job; resolves with the state it settled in (`running` if it did not
    /// settle within the abort-settle window, `undefined` for an unknown id).
    #[napi(ts_return_type = "Promise<'running' | 'done' | 'failed' | undefined>")]
    pub fn abort<'e>(
        &self,
        env: &'e Env,
        id: Unknown,
        reason: Unknown,
    ) -> napi::Result<Object<'e>> {
        guard(env, || {
            let id = args::string("id", id)?;
            let reason = args::string("reason", reason)?;
            let (deferred, promise) =
                env.create_deferred::<Option<&'static str>, Box<dyn FnOnce(Env) -> napi::Result<Option<&'static str>>>>()?;
            let reg = self.inner.clone();
            runtime()?.spawn(async move {
                let state = reg.abort(&id, &reason).await;
                deferred.resolve(Box::new(move |_| Ok(state.map(|s| s.as_str()))));
            });
            Ok(promise)
        })
    }

    /// Abort every running job (without waiting); returns how many were running.
    #[napi]
    pub fn abort_all(&self, env: &Env, reason: Unknown) -> napi::Result<u32> {
        guard(env, || {
            let reason = args::string("reason", reason)?;
            Ok(self.inner.abort_all(&reason) as u32)
        })
    }

    /// How many jobs are running.
    #[napi]
    pub fn running_count(&self) -> u32 {
        self.inner.running_count() as u32
    }
}

/// The reference's `loadRunnerLimits(env)`: limits from `JOB_MAX_DURATION_MS`,
/// `JOB_INACTIVITY_MS`, `JOB_COLD_START_MS` and `JOB_TOOL_SILENCE_MS` with its defaults
/// (60 min, 10 min, 2 min, and tool silence half the cap but at least the inactivity
/// window). `env` is an object of strings (`process.env` when called from `keel`).
#[napi(
    ts_args_type = "env: Record<string, string | undefined>",
    ts_return_type = "RunnerLimits"
)]
pub fn load_runner_limits_native(env: &Env, vars: Unknown) -> napi::Result<String> {
    guard(env, || {
        let obj = args::object("env", vars)?;
        let mut err = None;
        let limits = CoreRunnerLimits::from_lookup(|name| match args::field(&obj, name) {
            Ok(Some(v)) if v.get_type().ok() == Some(ValueType::String) => {
                // SAFETY: checked to be a string.
                unsafe { v.cast::<String>() }.ok()
            }
            Ok(_) => None,
            Err(e) => {
                err = Some(e);
                None
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        serde_json::to_string(&limits).map_err(|e| KeelError::new(code::INTERNAL, e.to_string()))
    })
}

fn view_json(view: &keel_core::jobs::JobView<Value>) -> Result<String> {
    serde_json::to_string(view).map_err(|e| KeelError::new(code::INTERNAL, e.to_string()))
}

/// Fields of `runCommand`'s spec that JSON cannot carry, taken out by `node/jobs.js`
/// before the rest is parsed as core's [`CommandOptions`].
const COMMAND_CALLBACKS: [&str; 2] = ["onStdout", "onStderr"];

/// The spec of `runCommand` as core's [`CommandOptions`], parsed exactly as C parses
/// its spec JSON (fields named under `spec`).
fn parse_command(v: Unknown<'_>) -> Result<CommandOptions> {
    let o: CommandOptions = args::options_as("spec", Some(v), &COMMAND_CALLBACKS)?;
    o.validate().map_err(args::options_error)?;
    Ok(o)
}

/// The native half of `runCommand` (`node/jobs.js`): runs the command and reports its
/// output and outcome, in order, through `dispatch(kind, payload)`.
#[napi(
    js_name = "runCommandNative",
    ts_args_type = "options: RunCommandOptions, dispatch: (kind: 'stdout' | 'stderr' | 'resolve' | 'reject', payload: string) => void"
)]
pub fn run_command_native(env: &Env, spec: Unknown, dispatch: Unknown) -> napi::Result<()> {
    guard(env, || {
        let opts = parse_command(spec)?;
        let settle = Arc::new(dispatcher(dispatch)?);
        let sink = {
            let settle = settle.clone();
            OutputSink::Callback(Arc::new(move |stream, text: &str| {
                let kind = match stream {
                    OutputStream::Stdout => "stdout",
                    _ => "stderr",
                };
                settle.call(
                    FnArgs::from((kind, text.to_owned())),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }))
        };
        let spec = opts.into_spec().stdout(sink.clone()).stderr(sink);
        runtime()?.spawn(async move {
            match run_command(spec).await {
                Ok(result) => match serde_json::to_string(&result) {
                    Ok(json) => resolve_with(&settle, json),
                    Err(e) => reject_with(&settle, code::INTERNAL, &e.to_string()),
                },
                Err(e) => reject_with(&settle, e.code(), &e.to_string()),
            }
        });
        Ok(())
    })
}

/// The native half of `killProcessTree` (`node/jobs.js`): the outcome goes through
/// `dispatch('resolve' | 'reject', json)`.
#[napi(
    js_name = "killProcessTreeNative",
    ts_args_type = "pid: number, graceMs: number | undefined, dispatch: (kind: 'stdout' | 'stderr' | 'resolve' | 'reject', payload: string) => void"
)]
pub fn kill_process_tree_native(
    env: &Env,
    pid: Unknown,
    grace_ms: Option<Unknown>,
    dispatch: Unknown,
) -> napi::Result<()> {
    guard(env, || {
        let pid = args::u32_arg("pid", pid)?;
        let grace = match args::present(grace_ms)? {
            Some(v) => args::u32_arg("graceMs", v)? as u64,
            None => keel_core::process::DEFAULT_KILL_GRACE.as_millis() as u64,
        };
        let settle = dispatcher(dispatch)?;
        runtime()?.spawn(async move {
            match keel_core::process::kill_process_tree(pid, Duration::from_millis(grace)).await {
                Ok(t) => resolve_with(
                    &settle,
                    serde_json::json!({
                        "escalated": t.escalated,
                        "groupCleared": t.group_cleared,
                    })
                    .to_string(),
                ),
                Err(e) => reject_with(&settle, e.code(), &e.to_string()),
            }
        });
        Ok(())
    })
}

fn dispatcher(dispatch: Unknown<'_>) -> Result<Dispatch> {
    if dispatch.get_type()? != ValueType::Function {
        return Err(KeelError::invalid_type(
            "dispatch",
            "a function",
            args::type_name(&dispatch)?,
        ));
    }
    // SAFETY: checked to be a function.
    let dispatch: Function<'_, FnArgs<(&'static str, String)>, ()> = unsafe { dispatch.cast() }?;
    Ok(dispatch.build_threadsafe_function().build()?)
}

// ---- TypeScript shapes (declarations for index.d.ts; values cross as JSON) ----------

/// The reference's `RunnerLimits`, plus keel's own fields. Absent → default; 0 → off.
#[napi(object)]
pub struct RunnerLimits {
    /// Hard ceiling on total job wall-clock (default 60 min).
    pub max_duration_ms: Option<f64>,
    /// Fail the job after this long without activity (default 10 min).
    pub inactivity_ms: Option<f64>,
    /// Fail the job when its open tool window (`opts.beginToolWindow()`) sees output but
    /// no completed tool call for this long (default off).
    pub tool_silence_ms: Option<f64>,
    /// Record the `coldStart` diagnostic when no activity arrived this long after the
    /// start (never kills; default off).
    pub cold_start_ms: Option<f64>,
    /// keel: how long a finished job stays readable (default 1 h).
    pub retention_ms: Option<f64>,
    /// keel: how long `abort` waits for the job to settle (default 6 s).
    pub abort_settle_ms: Option<f64>,
    /// keel: how long aborted work gets to return before the job settles without it
    /// (default 10 s).
    pub cancel_grace_ms: Option<f64>,
}

/// What `run(job, opts)` receives (the reference's `RunOptions`).
#[napi(object)]
pub struct RunOptions {
    /// Aborted (with an `Error` whose message says why) when a watchdog fires or the job
    /// is aborted.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<String>,
    /// A sign of life: resets the inactivity watchdog.
    #[napi(ts_type = "() => void")]
    pub on_activity: Option<String>,
    /// Latest sub-task progress (`{ completed, total, inProgress?, items? }`).
    #[napi(ts_type = "(progress: Progress) => void")]
    pub on_progress: Option<String>,
    /// One completed tool call (`{ tool, seq, startedAt, endedAt, ok, … }`).
    #[napi(ts_type = "(span: ToolSpan) => void")]
    pub on_span: Option<String>,
    /// Follow-up items, buffered for the next `get`.
    #[napi(ts_type = "(items: unknown[]) => void")]
    pub on_follow_up: Option<String>,
    /// A model-call metric; keel stamps `seq` and `phase` on it.
    #[napi(ts_type = "(call: Record<string, unknown>) => void")]
    pub on_call_metric: Option<String>,
    /// Enter a phase (`clone`, `agent`, `push`, …).
    #[napi(ts_type = "(phase: string) => void")]
    pub on_phase: Option<String>,
    /// The phase the job is in.
    #[napi(ts_type = "() => string")]
    pub current_phase: Option<String>,
    /// Open the tool-silence window of one agent stream; beat it on every completed tool
    /// call and close it when the stream ends. Work that opens no window is never timed
    /// by tool silence.
    #[napi(ts_type = "() => ToolProgressWindow")]
    pub begin_tool_window: Option<String>,
    /// A logger (`debug`/`info`/`warn`/`error`/`child`) writing redacted JSON lines
    /// bound to `jobId` and `describe(job)`.
    #[napi(ts_type = "JobLogger")]
    pub log: Option<String>,
}

/// The handle `opts.beginToolWindow()` returns (the reference's `ToolProgressWindow`).
#[napi(object)]
pub struct ToolProgressWindow {
    /// A tool call completed: restart the window.
    #[napi(ts_type = "() => void")]
    pub tool_completed: String,
    /// The stream ended: stop measuring.
    #[napi(ts_type = "() => void")]
    pub close: String,
}

/// The logger of `opts.log`.
#[napi(object)]
pub struct JobLogger {
    /// Debug line (stdout).
    #[napi(ts_type = "(msg: string, fields?: Record<string, unknown>) => void")]
    pub debug: String,
    /// Info line (stdout).
    #[napi(ts_type = "(msg: string, fields?: Record<string, unknown>) => void")]
    pub info: String,
    /// Warning line (stderr).
    #[napi(ts_type = "(msg: string, fields?: Record<string, unknown>) => void")]
    pub warn: String,
    /// Error line (stderr).
    #[napi(ts_type = "(msg: string, fields?: Record<string, unknown>) => void")]
    pub error: String,
    /// A logger with more bound fields.
    #[napi(ts_type = "(fields: Record<string, unknown>) => JobLogger")]
    pub child: String,
}

/// Options of `runCommand`.
#[napi(object)]
pub struct RunCommandOptions {
    /// The program (looked up on PATH).
    pub cmd: String,
    /// Its arguments (an argv array, never a shell string).
    pub args: Option<Vec<String>>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Variables set on top of the inherited environment.
    #[napi(ts_type = "Record<string, string>")]
    pub env: Option<String>,
    /// Inactivity window (default 10 min; 0 → off).
    pub inactivity_ms: Option<f64>,
    /// Max duration (default 60 min; 0 → off).
    pub max_duration_ms: Option<f64>,
    /// Tool-silence window (default off).
    pub tool_silence_ms: Option<f64>,
    /// SIGTERM → SIGKILL grace (default 5 s).
    pub kill_grace_ms: Option<f64>,
    /// Extra secrets to mask (registered process-wide).
    pub known_secrets: Option<Vec<String>>,
    /// Characters of output tail to keep (default 16,000).
    pub tail_chars: Option<f64>,
    /// After this many ms without output, held-back text that cannot be the start of a
    /// secret is emitted (default 200; 0: only at the end).
    pub idle_flush_ms: Option<f64>,
    /// Redacted stdout text, in order (whole lines, or what an idle flush emits).
    #[napi(ts_type = "(text: string) => void")]
    pub on_stdout: Option<String>,
    /// Redacted stderr text, whole lines, in order.
    #[napi(ts_type = "(text: string) => void")]
    pub on_stderr: Option<String>,
}
