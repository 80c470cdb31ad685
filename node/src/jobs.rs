//! Job watchdogs: the reference's `JobRegistry` (`new JobRegistry(limits, run,
//! describe?)` with `start` / `get` / `abort` / `abortAll` / `runningCount`), plus
//! `runCommand` and `killProcessTree`. Thin: the registry, its watchdog timers and every
//! supervised process live in `keel_core::jobs` on one keel thread; this file converts
//! arguments and carries calls between that thread and JavaScript.
//!
//! Event loop. Each running job (and each pending `runCommand` / `killProcessTree`)
//! holds exactly one threadsafe function, which keeps Node alive while it runs — as the
//! reference's watchdog timers do — and is released the moment it settles; output
//! callbacks travel through that same function, so they arrive in order and before the
//! promise settles. Once every job has settled keel holds no reference on the event loop.
//! A threadsafe function whose environment has closed refuses calls, so JavaScript is
//! never called after close.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use napi::bindgen_prelude::{
    Either, FnArgs, Function, FunctionRef, JsObjectValue, Object, ToNapiValue, Unknown,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status, ValueType};
use napi_derive::napi;
use serde_json::{Map, Value};

use keel_core::jobs::{
    external_work, run_command, CallMetric, CommandOptions, FailureCause, JobContext,
    JobRegistry as CoreRegistry, JobRuntime, KillReason, OutputSink, OutputStream, Progress,
    ToolSpan as CoreToolSpan, WatchdogLimits, WorkCompleter, WorkError,
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

/// `(kind, payload)` calls into a JS dispatcher; one per pending operation.
type Dispatch =
    ThreadsafeFunction<FnArgs<(u32, String)>, (), FnArgs<(u32, String)>, Status, false, false, 0>;

const KIND_STDOUT: u32 = 0;
const KIND_STDERR: u32 = 1;
const KIND_RESOLVE: u32 = 2;
const KIND_REJECT: u32 = 3;

/// Compile a JS helper (glue that only plumbs values; no behaviour lives in it).
fn compile<'e>(env: &'e Env, src: &str) -> Result<Unknown<'e>> {
    let ctor: Function<'e, String, Function<'e, (), Unknown<'e>>> =
        env.get_global()?.get_named_property("Function")?;
    let factory = ctor.call(format!("'use strict'; return ({src})"))?;
    Ok(factory.call(())?)
}

/// `JSON.parse(text)`.
fn parse_json<'e>(env: &'e Env, text: &str) -> Result<Unknown<'e>> {
    let json: Object<'e> = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<'e, String, Unknown<'e>> = json.get_named_property("parse")?;
    Ok(parse.call(text.to_owned())?)
}

/// `JSON.stringify(value)` parsed back as a serde value (`undefined` → `null`).
fn to_value(env: &Env, what: &str, v: Unknown<'_>) -> Result<Value> {
    if v.get_type()? == ValueType::Undefined {
        return Ok(Value::Null);
    }
    let json: Object<'_> = env.get_global()?.get_named_property("JSON")?;
    let stringify: Function<'_, Unknown<'_>, Unknown<'_>> = json.get_named_property("stringify")?;
    let s = stringify
        .call(v)
        .map_err(|e| crate::error::rethrow(env, e))?;
    if s.get_type()? != ValueType::String {
        return Ok(Value::Null);
    }
    let s = args::string(what, s)?;
    serde_json::from_str(&s)
        .map_err(|_| KeelError::type_error(code::INVALID_ARGUMENT, format!("{what} is not JSON")))
}

/// A promise settled from keel's thread: `(promise, dispatch)`, where the dispatcher
/// delivers output to `on_stdout` / `on_stderr` and settles the promise.
fn pending_promise<'e>(
    env: &'e Env,
    on_stdout: Option<Unknown<'e>>,
    on_stderr: Option<Unknown<'e>>,
) -> Result<(Unknown<'e>, Dispatch)> {
    let make: Function<'e, FnArgs<(Unknown<'e>, Unknown<'e>)>, Object<'e>> = unsafe {
        compile(
            env,
            r#"function (onStdout, onStderr) {
              let resolve, reject
              const promise = new Promise((res, rej) => { resolve = res; reject = rej })
              const dispatch = (kind, payload) => {
                if (kind === 0) { if (typeof onStdout === 'function') onStdout(payload) }
                else if (kind === 1) { if (typeof onStderr === 'function') onStderr(payload) }
                else if (kind === 2) resolve(payload === '' ? undefined : JSON.parse(payload))
                else {
                  const { code, message } = JSON.parse(payload)
                  const e = new Error(message)
                  e.code = code
                  reject(e)
                }
              }
              return { promise, dispatch }
            }"#,
        )?
        .cast()?
    };
    let undef = || ().into_unknown(env);
    let out = make.call(FnArgs::from((
        on_stdout.map_or_else(undef, Ok)?,
        on_stderr.map_or_else(undef, Ok)?,
    )))?;
    let promise: Unknown<'e> = out.get_named_property("promise")?;
    let dispatch: Function<'e, FnArgs<(u32, String)>, ()> = out.get_named_property("dispatch")?;
    let tsfn = dispatch.build_threadsafe_function().build()?;
    Ok((promise, tsfn))
}

fn resolve_with(d: &Dispatch, json: String) {
    d.call(
        FnArgs::from((KIND_RESOLVE, json)),
        ThreadsafeFunctionCallMode::NonBlocking,
    );
}

fn reject_with(d: &Dispatch, code: &str, message: &str) {
    let payload = serde_json::json!({
        "code": code,
        "message": keel_core::redact::redact_secrets(message),
    });
    d.call(
        FnArgs::from((KIND_REJECT, payload.to_string())),
        ThreadsafeFunctionCallMode::NonBlocking,
    );
}

/// A non-negative integer number of milliseconds (or a count) from `obj.name`.
fn u64_field(obj: &Object<'_>, what: &str, name: &str) -> Result<Option<u64>> {
    let Some(v) = args::field(obj, name)? else {
        return Ok(None);
    };
    let path = format!("{what}.{name}");
    if v.get_type()? != ValueType::Number {
        return Err(KeelError::invalid_type(
            &path,
            "a non-negative integer",
            args::type_name(&v)?,
        ));
    }
    // SAFETY: checked to be a number.
    let n = unsafe { v.cast::<f64>() }?;
    if !n.is_finite() || n < 0.0 || n.fract() != 0.0 || n > 9_007_199_254_740_991.0 {
        return Err(KeelError::range_error(
            code::INVALID_OPTION,
            format!("{path} must be a non-negative integer (got {n})"),
        ));
    }
    Ok(Some(n as u64))
}

fn function_field<'e>(obj: &Object<'e>, what: &str, name: &str) -> Result<Option<Unknown<'e>>> {
    match args::field(obj, name)? {
        None => Ok(None),
        Some(v) if v.get_type()? == ValueType::Function => Ok(Some(v)),
        Some(v) => Err(KeelError::invalid_type(
            &format!("{what}.{name}"),
            "a function",
            args::type_name(&v)?,
        )),
    }
}

/// The limits object (the reference's `RunnerLimits`, plus keel's own fields).
struct Limits {
    watchdogs: WatchdogLimits,
    retention: Option<u64>,
    abort_settle: Option<u64>,
    cancel_grace: Option<u64>,
}

fn parse_limits(v: Unknown<'_>) -> Result<Limits> {
    let obj = args::object("limits", v)?;
    let f = |name: &str| {
        debug_assert!(keel_core::jobs::REGISTRY_LIMIT_FIELDS.contains(&name));
        u64_field(&obj, "limits", name)
    };
    let watchdogs =
        WatchdogLimits::from_millis(f("inactivityMs")?, f("maxDurationMs")?, f("toolSilenceMs")?);
    // Accepted (a `loadRunnerLimits()` object passes as is), not implemented.
    let _ = f("coldStartMs")?;
    Ok(Limits {
        watchdogs,
        retention: f("retentionMs")?,
        abort_settle: f("abortSettleMs")?,
        cancel_grace: f("cancelGraceMs")?,
    })
}

/// A registry job: the JS side hands the context out of `start`, and completes the work.
struct NodeJob {
    ctx_slot: Arc<Mutex<Option<JobContext>>>,
    work: keel_core::jobs::ExternalWork<Value>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reference's JS glue for one job: builds `opts` from one native `report`
/// function, calls `run(job, opts)`, reports the outcome, returns the abort function.
const START_JOB: &str = r#"function (run, describe, id, job, report, ok, fail, redactLine) {
  const controller = new AbortController()
  const emit = (level, msg, bound, fields) => {
    const line = redactLine(JSON.stringify({ ...bound, ...fields, level, time: new Date().toISOString(), msg }))
    if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`)
    else process.stdout.write(`${line}\n`)
  }
  const makeLogger = (bound) => ({
    debug: (msg, fields) => emit('debug', msg, bound, fields),
    info: (msg, fields) => emit('info', msg, bound, fields),
    warn: (msg, fields) => emit('warn', msg, bound, fields),
    error: (msg, fields) => emit('error', msg, bound, fields),
    child: (extra) => makeLogger({ ...bound, ...extra }),
  })
  const log = makeLogger({ jobId: id, ...(typeof describe === 'function' ? describe(job) : {}) })
  const json = (v) => JSON.stringify(v === undefined ? null : v)
  const opts = {
    signal: controller.signal,
    onActivity: () => { report(0, '') },
    onPhase: (phase) => { report(1, String(phase)) },
    onProgress: (progress) => { report(2, json(progress)) },
    onSpan: (span) => { report(3, json(span)) },
    onFollowUp: (items) => { report(4, json(items)) },
    onCallMetric: (call) => {
      const seq = report(5, json(call))
      if (call !== null && typeof call === 'object') { call.seq = seq; call.phase = report(6, '') }
    },
    currentPhase: () => report(6, ''),
    beginToolWindow: () => {},
    log,
  }
  let p
  try { p = Promise.resolve(run(job, opts)) } catch (e) { p = Promise.reject(e) }
  p.then(
    (v) => {
      let s
      try { s = json(v) } catch (e) { fail(`job result is not JSON-serializable: ${e && e.message}`, ''); return }
      ok(s)
    },
    (e) => {
      let m = 'job failed', c = ''
      try {
        m = e instanceof Error ? e.message : String(e)
        if (e !== null && typeof e === 'object' && typeof e.failureCause === 'string') c = e.failureCause
      } catch {}
      fail(String(m), c)
    },
  )
  return (message) => { controller.abort(new Error(message)) }
}"#;

/// The JS error message an abort carries (the reference's `controller.abort(new Error(…))`).
fn abort_message(ctx: &JobContext, reason: KillReason) -> String {
    match reason {
        KillReason::InactivityTimeout => "inactivity timeout".to_owned(),
        KillReason::MaxDuration => "max duration exceeded".to_owned(),
        KillReason::NoToolProgress => "no tool progress".to_owned(),
        _ => ctx.abort_reason().unwrap_or_else(|| "aborted".to_owned()),
    }
}

/// The native `report(kind, payload)` behind a job's `opts` callbacks.
fn report(ctx: &JobContext, kind: u32, payload: &str) -> Either<u32, String> {
    let parse = || serde_json::from_str::<Value>(payload).unwrap_or(Value::Null);
    match kind {
        0 => ctx.activity(),
        1 => ctx.phase(payload),
        2 => {
            if let Ok(p) = serde_json::from_value::<Progress>(parse()) {
                ctx.progress(p);
            }
        }
        3 => {
            if let Ok(span) = serde_json::from_value::<CoreToolSpan>(parse()) {
                ctx.span(span);
            }
        }
        4 => match parse() {
            Value::Array(items) => items.into_iter().for_each(|i| ctx.follow_up(i)),
            Value::Null => {}
            item => ctx.follow_up(item),
        },
        5 => {
            let mut fields = match parse() {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            fields.remove("seq");
            fields.remove("phase");
            return Either::A(ctx.metric(CallMetric::new(fields)) as u32);
        }
        6 => return Either::B(ctx.current_phase()),
        _ => {}
    }
    Either::A(0)
}

/// Tracks background jobs by id, each bounded by an inactivity, a max-duration and an
/// optional tool-silence watchdog that run in keel (not on the event loop) and abort the
/// JavaScript work through its `AbortSignal`. Names, arguments and the `JobView` shape
/// follow the reference's `JobRegistry`.
#[napi]
pub struct JobRegistry {
    inner: Arc<CoreRegistry<NodeJob, Value>>,
    run: FunctionRef<Unknown<'static>, Unknown<'static>>,
    describe: Option<FunctionRef<Unknown<'static>, Unknown<'static>>>,
}

#[napi]
impl JobRegistry {
    /// `limits`: `{ inactivityMs, maxDurationMs, toolSilenceMs? }` (absent → 10 min,
    /// 60 min, off; 0 → off), `coldStartMs` accepted and ignored, plus keel's
    /// `retentionMs` (how long a finished job stays readable, default 1 h),
    /// `abortSettleMs` (default 6 s) and `cancelGraceMs` (how long aborted work gets to
    /// return before the job settles without it, default 10 s). `run(job, opts)` is the
    /// unit of work; `describe(job)` gives non-secret fields bound on `opts.log`.
    #[napi(
        constructor,
        ts_args_type = "limits: RunnerLimits, run: (job: any, opts: RunOptions) => Promise<any>, describe?: (job: any) => Record<string, unknown>"
    )]
    pub fn new(
        env: &Env,
        limits: Unknown,
        run: Unknown,
        describe: Option<Unknown>,
    ) -> napi::Result<Self> {
        guard(env, || {
            let limits = parse_limits(limits)?;
            let run = as_function("run", run)?.create_ref()?;
            let describe = match args::present(describe)? {
                Some(d) => Some(as_function("describe", d)?.create_ref()?),
                None => None,
            };
            let rt = runtime()?;
            let mut b = CoreRegistry::builder(|job: NodeJob, ctx| {
                *lock(&job.ctx_slot) = Some(ctx);
                job.work
            })
            .limits(limits.watchdogs)
            .runtime(rt.handle().clone());
            if let Some(ms) = limits.retention {
                b = b.retention(Duration::from_millis(ms));
            }
            if let Some(ms) = limits.abort_settle {
                b = b.abort_settle(Duration::from_millis(ms));
            }
            if let Some(ms) = limits.cancel_grace {
                b = b.cancel_grace(Duration::from_millis(ms));
            }
            let inner = b
                .build()
                .map_err(|e| KeelError::range_error(code::INVALID_OPTION, e.to_string()))?;
            Ok(JobRegistry {
                inner: Arc::new(inner),
                run,
                describe,
            })
        })
    }

    /// Start the job for `id`, or return the existing one (idempotent re-attach).
    #[napi(ts_args_type = "id: string, job: any", ts_return_type = "JobView")]
    pub fn start<'e>(
        &self,
        env: &'e Env,
        id: Unknown,
        job: Unknown<'e>,
    ) -> napi::Result<Unknown<'e>> {
        guard(env, || {
            let id = args::string("id", id)?;
            if let Some(view) = self.inner.peek(&id) {
                return view_to_js(env, &view);
            }
            let (done, work) = external_work::<Value>();
            let slot = Arc::new(Mutex::new(None));
            let view = self
                .inner
                .start(
                    &id,
                    NodeJob {
                        ctx_slot: slot.clone(),
                        work,
                    },
                )
                .map_err(|e| KeelError::type_error(code::INVALID_ARGUMENT, e.to_string()))?;
            let Some(ctx) = lock(&slot).take() else {
                return view_to_js(env, &view);
            };
            self.launch(env, &id, job, ctx, done)?;
            // Like the reference, the view reflects what the work did synchronously
            // (e.g. its first phase).
            match self.inner.peek(&id) {
                Some(view) => view_to_js(env, &view),
                None => view_to_js(env, &view),
            }
        })
    }

    fn launch<'e>(
        &self,
        env: &'e Env,
        id: &str,
        job: Unknown<'e>,
        ctx: JobContext,
        done: WorkCompleter<Value>,
    ) -> Result<()> {
        let done = Arc::new(Mutex::new(Some(done)));
        let report_ctx = ctx.clone();
        let report_fn = env.create_function_from_closure::<(), _, _>("report", move |c| {
            let kind: u32 = c.get(0)?;
            let payload: String = c.get(1)?;
            Ok(report(&report_ctx, kind, &payload))
        })?;
        let ok_done = done.clone();
        let ok_fn = env.create_function_from_closure::<(), _, _>("ok", move |c| {
            let json: String = c.get(0)?;
            let value = serde_json::from_str(&json).unwrap_or(Value::Null);
            if let Some(d) = lock(&ok_done).take() {
                d.complete(Ok(value));
            }
            Ok(())
        })?;
        let fail_fn = env.create_function_from_closure::<(), _, _>("fail", move |c| {
            let message: String = c.get(0)?;
            let cause: String = c.get(1)?;
            let err = match serde_json::from_value::<FailureCause>(Value::String(cause)) {
                Ok(cause) => WorkError::new(cause, message),
                Err(_) => WorkError::agent(message),
            };
            if let Some(d) = lock(&done).take() {
                d.complete(Err(err));
            }
            Ok(())
        })?;
        let redact_fn = env.create_function_from_closure::<(), _, _>("redactLine", |c| {
            let line: String = c.get(0)?;
            Ok(keel_core::redact::redact_secrets(&line))
        })?;

        type StartArgs<'e> = FnArgs<(
            Unknown<'e>,
            Unknown<'e>,
            String,
            Unknown<'e>,
            Unknown<'e>,
            Unknown<'e>,
            Unknown<'e>,
            Unknown<'e>,
        )>;
        // SAFETY: the helper is a function (compiled just above from START_JOB).
        let start_job: Function<'e, StartArgs<'e>, Function<'e, String, ()>> =
            unsafe { compile(env, START_JOB)?.cast()? };
        let describe = match &self.describe {
            Some(d) => d.borrow_back(env)?.to_unknown(),
            None => ().into_unknown(env)?,
        };
        let abort_fn = start_job.call(FnArgs::from((
            self.run.borrow_back(env)?.to_unknown(),
            describe,
            id.to_owned(),
            job,
            report_fn.to_unknown(),
            ok_fn.to_unknown(),
            fail_fn.to_unknown(),
            redact_fn.to_unknown(),
        )))?;
        let abort_tsfn = abort_fn.build_threadsafe_function::<String>().build()?;
        // Keel's thread: when a watchdog or an abort cancels the job, abort the JS work
        // through its AbortSignal; release the function (and the event loop) once the
        // job is cancelled or has settled.
        runtime()?.spawn(async move {
            ctx.cancelled().await;
            if let Some(reason) = ctx.kill_reason() {
                abort_tsfn.call(
                    abort_message(&ctx, reason),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
            drop(abort_tsfn);
        });
        Ok(())
    }

    /// Poll the job — and drain its spans, follow-ups and call metrics (drain-on-read).
    /// `undefined` for an unknown or evicted id.
    #[napi(ts_args_type = "id: string", ts_return_type = "JobView | undefined")]
    pub fn get<'e>(&self, env: &'e Env, id: Unknown) -> napi::Result<Unknown<'e>> {
        guard(env, || {
            let id = args::string("id", id)?;
            match self.inner.get(&id) {
                Some(view) => view_to_js(env, &view),
                None => Ok(().into_unknown(env)?),
            }
        })
    }

    /// Abort one job and resolve with the state it settled in (`running` if it did not
    /// settle within the abort-settle window, `undefined` for an unknown id).
    #[napi(
        ts_args_type = "id: string, reason: string",
        ts_return_type = "Promise<'running' | 'done' | 'failed' | undefined>"
    )]
    pub fn abort<'e>(
        &self,
        env: &'e Env,
        id: Unknown,
        reason: Unknown,
    ) -> napi::Result<Unknown<'e>> {
        guard(env, || {
            let id = args::string("id", id)?;
            let reason = args::string("reason", reason)?;
            let (promise, settle) = pending_promise(env, None, None)?;
            let reg = self.inner.clone();
            runtime()?.spawn(async move {
                let state = reg.abort(&id, &reason).await;
                let json = match state {
                    Some(s) => Value::String(s.as_str().to_owned()).to_string(),
                    None => String::new(), // undefined: an unknown id is not "stopped"
                };
                resolve_with(&settle, json);
            });
            Ok(promise)
        })
    }

    /// Abort every running job (without waiting); returns how many were running.
    #[napi(ts_args_type = "reason: string", ts_return_type = "number")]
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

fn as_function<'e>(
    what: &str,
    v: Unknown<'e>,
) -> Result<Function<'e, Unknown<'static>, Unknown<'static>>> {
    if v.get_type()? != ValueType::Function {
        return Err(KeelError::invalid_type(
            what,
            "a function",
            args::type_name(&v)?,
        ));
    }
    // SAFETY: checked to be a function.
    Ok(unsafe { v.cast() }?)
}

fn view_to_js<'e>(env: &'e Env, view: &keel_core::jobs::JobView<Value>) -> Result<Unknown<'e>> {
    let json =
        serde_json::to_string(view).map_err(|e| KeelError::new(code::INTERNAL, e.to_string()))?;
    parse_json(env, &json)
}

/// Options of `runCommand`.
fn parse_command(env: &Env, obj: &Object<'_>) -> Result<CommandOptions> {
    const W: &str = "options";
    let cmd = args::string_field(obj, W, "cmd")?
        .ok_or_else(|| KeelError::invalid_type("options.cmd", "a string", "undefined"))?;
    if cmd.is_empty() {
        return Err(KeelError::type_error(
            code::INVALID_ARGUMENT,
            "options.cmd must not be empty",
        ));
    }
    let mut o = CommandOptions::new(cmd);
    if let Some(v) = args::field(obj, "args")? {
        o.args = args::string_array("options.args", v)?;
    }
    o.cwd = args::string_field(obj, W, "cwd")?.map(Into::into);
    if let Some(v) = args::field(obj, "env")? {
        let map = args::object("options.env", v)?;
        match to_value(env, "options.env", map.to_unknown())? {
            Value::Object(m) => {
                for (k, v) in m {
                    match v {
                        Value::String(v) => o.env.push((k, v)),
                        _ => {
                            return Err(KeelError::type_error(
                                code::INVALID_ARGUMENT,
                                format!("options.env[{k:?}] must be a string"),
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err(KeelError::invalid_type(
                    "options.env",
                    "an object of strings",
                    "other",
                ))
            }
        }
    }
    o.inactivity_ms = u64_field(obj, W, "inactivityMs")?;
    o.max_duration_ms = u64_field(obj, W, "maxDurationMs")?;
    o.tool_silence_ms = u64_field(obj, W, "toolSilenceMs")?;
    o.kill_grace_ms = u64_field(obj, W, "killGraceMs")?;
    o.tail_chars = u64_field(obj, W, "tailChars")?.map(|n| n as usize);
    if let Some(v) = args::field(obj, "knownSecrets")? {
        o.known_secrets = args::string_array("options.knownSecrets", v)?;
    }
    Ok(o)
}

/// Run a command under its own watchdogs (`inactivityMs` default 10 min,
/// `maxDurationMs` 60 min, `toolSilenceMs` off; 0 turns one off) and resolve with its
/// result: `{ pid, exit, durationMs, tail, killReason, escalated, groupCleared,
/// drainTimedOut, stdoutBytes, stderrBytes, error }`. Its output — redacted, and every
/// chunk counting as activity — goes to `onStdout` / `onStderr` (whole lines, in order,
/// before the promise settles). A watchdog kill terminates the whole process group
/// (SIGTERM, `killGraceMs` default 5 s, SIGKILL). `knownSecrets` are registered
/// process-wide. Rejects (code `KEEL_SPAWN_FAILED`) when the command cannot be started.
#[napi(
    js_name = "runCommand",
    ts_args_type = "options: RunCommandOptions",
    ts_return_type = "Promise<CommandResult>"
)]
pub fn run_command_js<'e>(env: &'e Env, options: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let obj = args::object("options", options)?;
        let opts = parse_command(env, &obj)?;
        let on_stdout = function_field(&obj, "options", "onStdout")?;
        let on_stderr = function_field(&obj, "options", "onStderr")?;
        let (promise, settle) = pending_promise(env, on_stdout, on_stderr)?;
        let settle = Arc::new(settle);
        let sink = {
            let settle = settle.clone();
            OutputSink::Callback(Arc::new(move |stream, text: &str| {
                let kind = match stream {
                    OutputStream::Stdout => KIND_STDOUT,
                    _ => KIND_STDERR,
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
                Err(e) => reject_with(&settle, "KEEL_SPAWN_FAILED", &e.to_string()),
            }
        });
        Ok(promise)
    })
}

/// Terminate `pid` and, when it leads a process group (a child spawned with
/// `detached: true`), every process in that group: SIGTERM, then SIGKILL after `graceMs`
/// (default 5000) for whatever is left. Resolves with `{ escalated, groupCleared }`.
/// A pid that is already gone resolves with `groupCleared: true`.
#[napi(
    ts_args_type = "pid: number, graceMs?: number",
    ts_return_type = "Promise<{ escalated: boolean; groupCleared: boolean }>"
)]
pub fn kill_process_tree<'e>(
    env: &'e Env,
    pid: Unknown<'e>,
    grace_ms: Option<Unknown<'e>>,
) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let pid = args::u32_arg("pid", pid)?;
        let grace = match args::present(grace_ms)? {
            Some(v) => args::u32_arg("graceMs", v)? as u64,
            None => 5000,
        };
        let (promise, settle) = pending_promise(env, None, None)?;
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
                Err(e) => reject_with(&settle, code::INVALID_ARGUMENT, &e.to_string()),
            }
        });
        Ok(promise)
    })
}

// ---- TypeScript shapes (declarations for index.d.ts; values cross as JSON) ----------

/// The reference's `RunnerLimits`, plus keel's own fields. Absent → default; 0 → off.
#[napi(object)]
pub struct RunnerLimits {
    /// Hard ceiling on total job wall-clock (default 60 min).
    pub max_duration_ms: Option<f64>,
    /// Fail the job after this long without activity (default 10 min).
    pub inactivity_ms: Option<f64>,
    /// Fail the job when activity goes on but no tool span completes (default off).
    pub tool_silence_ms: Option<f64>,
    /// Accepted for compatibility with `loadRunnerLimits()`; not implemented.
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
    #[napi(ts_type = "(progress: TodoProgress) => void")]
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
    /// Accepted for compatibility; tool silence is measured from the job's start.
    #[napi(ts_type = "() => void")]
    pub begin_tool_window: Option<String>,
    /// A logger (`debug`/`info`/`warn`/`error`/`child`) writing redacted JSON lines
    /// bound to `jobId` and `describe(job)`.
    #[napi(ts_type = "JobLogger")]
    pub log: Option<String>,
}

/// Sub-task progress.
#[napi(object)]
pub struct TodoProgress {
    /// Tasks done.
    pub completed: f64,
    /// Total tasks.
    pub total: f64,
    /// Tasks in progress.
    pub in_progress: Option<f64>,
    /// The tasks, free-form.
    #[napi(ts_type = "unknown")]
    pub items: Option<String>,
}

/// One completed tool call; other fields travel verbatim.
#[napi(object)]
pub struct ToolSpan {
    /// The tool's name.
    pub tool: String,
    /// Ordinal within the job.
    pub seq: Option<f64>,
    /// Epoch ms started.
    pub started_at: Option<f64>,
    /// Epoch ms ended (absent: now).
    pub ended_at: Option<f64>,
    /// Whether it succeeded.
    pub ok: Option<bool>,
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

/// A job's view (the reference's `JobView`), plus keel's `callMetrics` and `dropped`.
#[napi(object)]
pub struct JobView {
    /// The job id.
    pub id: String,
    /// Lifecycle state.
    #[napi(ts_type = "'running' | 'done' | 'failed'")]
    pub state: String,
    /// Epoch ms the job started.
    pub started_at: f64,
    /// Epoch ms of the last sign of life.
    pub heartbeat_at: f64,
    /// The current phase (`starting` first, `done` / `failed` at the end).
    pub phase: Option<String>,
    /// Latest progress.
    pub progress: Option<TodoProgress>,
    /// The work's result (when done).
    #[napi(ts_type = "any")]
    pub result: Option<String>,
    /// One-line redacted failure message (when failed).
    pub error: Option<String>,
    /// Structured failure cause (when failed, or a result's own).
    #[napi(
        ts_type = "'inactivity-timeout' | 'max-duration' | 'no-tool-progress' | 'agent' | 'git' | 'api' | 'llm-upstream' | 'no-usable-output' | 'no-changes' | 'aborted'"
    )]
    pub failure_cause: Option<String>,
    /// Redacted diagnostic: phase timings and the last-tool breadcrumb.
    pub detail: Option<String>,
    /// Tool spans since the previous `get`.
    pub spans: Option<Vec<ToolSpan>>,
    /// Follow-up items since the previous `get`.
    #[napi(ts_type = "unknown[]")]
    pub follow_ups: Option<String>,
    /// Call metrics since the previous `get`.
    #[napi(ts_type = "Record<string, unknown>[]")]
    pub call_metrics: Option<String>,
    /// Items dropped from full buffers since the previous `get`.
    #[napi(ts_type = "{ spans: number; followUps: number; callMetrics: number }")]
    pub dropped: Option<String>,
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
    /// Redacted stdout text, whole lines, in order.
    #[napi(ts_type = "(text: string) => void")]
    pub on_stdout: Option<String>,
    /// Redacted stderr text, whole lines, in order.
    #[napi(ts_type = "(text: string) => void")]
    pub on_stderr: Option<String>,
}

/// The result of `runCommand`.
#[napi(object)]
pub struct CommandResult {
    /// The leader's pid (and process-group id).
    pub pid: f64,
    /// How it ended.
    #[napi(
        ts_type = "{ kind: 'exited'; code: number } | { kind: 'signalled'; signal: number } | { kind: 'killed'; reason: 'inactivity-timeout' | 'max-duration' | 'no-tool-progress' | 'aborted'; signal?: number; code?: number }"
    )]
    pub exit: String,
    /// Wall-clock ms from spawn to the end of draining.
    pub duration_ms: f64,
    /// Redacted tail of stdout + stderr.
    pub tail: Option<String>,
    /// Which watchdog killed it.
    #[napi(
        ts_type = "'inactivity-timeout' | 'max-duration' | 'no-tool-progress' | 'aborted' | null"
    )]
    pub kill_reason: Option<String>,
    /// SIGTERM was not enough.
    pub escalated: bool,
    /// No process of the group was left.
    pub group_cleared: bool,
    /// A grandchild held a pipe open past the drain timeout.
    pub drain_timed_out: bool,
    /// Bytes read from stdout.
    pub stdout_bytes: f64,
    /// Bytes read from stderr.
    pub stderr_bytes: f64,
    /// Why the run counts as failed (null for exit code 0).
    pub error: Option<String>,
}
