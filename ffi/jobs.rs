//! Job watchdogs: `keel_job_registry` (supervised commands and host-driven jobs under
//! inactivity / max-duration / tool-silence watchdogs) and `keel_job_ctx`, over
//! `keel_core::jobs`.
//!
//! Threads. A registry owns one keel thread that runs a tokio runtime: every watchdog,
//! every supervised command and the registry's bookkeeping run there, and children are
//! spawned from it (so Linux's parent-death signal stays armed for the registry's whole
//! life). A host-driven job's work function runs on a thread of its own that keel starts
//! for that job. No host callback ever runs on the runtime thread.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::jobs::{
    external_work, CallMetric, CommandOptions, CommandSpec, FailureCause, JobContext, JobRegistry,
    JobRuntime, JobState, Progress, RegistryOptions, ToolSpan, WorkError,
};
use serde_json::{Map, Value};

use crate::args::{str_in, Out};
use crate::error::{boundary, keel_result, quiet_boundary, Error, Result};
use crate::handle::Registry;
use crate::json::{self, Fields};
use crate::redact::keel_finalizer_fn;
use crate::string::{keel_string, new_string};

/// A job's lifecycle state, as `keel_job_registry_abort` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_job_state {
    /// Still running (an abort did not settle within the abort-settle window).
    KEEL_JOB_RUNNING = 0,
    /// The work returned a result.
    KEEL_JOB_DONE = 1,
    /// The work failed, or a watchdog / abort killed it.
    KEEL_JOB_FAILED = 2,
}

impl From<JobState> for keel_job_state {
    fn from(s: JobState) -> Self {
        match s {
            JobState::Running => keel_job_state::KEEL_JOB_RUNNING,
            JobState::Done => keel_job_state::KEEL_JOB_DONE,
            JobState::Failed => keel_job_state::KEEL_JOB_FAILED,
        }
    }
}

/// A job registry: jobs tracked by id, each bounded by three watchdogs.
///
/// Made by `keel_job_registry_new`, released by `keel_job_registry_free`. Thread-safe:
/// every function may be called from any thread at once.
pub struct keel_job_registry {
    // Field order is drop order: the registry (which aborts running jobs) before the
    // runtime (whose shutdown drops what is left and joins its thread).
    registry: Arc<JobRegistry<CJob, Value>>,
    runtime: Arc<JobRuntime>,
}

static REGISTRIES: Registry<keel_job_registry> = Registry::new("keel_job_registry");

/// What a host-driven job's work reports through, valid only while its work function
/// runs: afterwards the pointer is refused with `KEEL_INVALID_ARGUMENT`, forever — a
/// context handle is never reused, so a stale one kept by a late helper thread can
/// never report into (or fail) another job. Every `keel_job_ctx_*` function may be
/// called from any thread while the work runs.
pub struct keel_job_ctx {
    ctx: JobContext,
    outcome: Mutex<Option<std::result::Result<Value, WorkError>>>,
}

static CONTEXTS: Registry<keel_job_ctx> = Registry::new("keel_job_ctx");

/// A host-driven job's work. Runs once, on a thread keel starts for this job, with the
/// `userdata` given to `keel_job_registry_start` and the job's context. Report the
/// outcome with `keel_job_ctx_succeed` or `keel_job_ctx_fail` before returning (a work
/// function that returns without either fails the job). Check
/// `keel_job_ctx_is_cancelled` (or block in `keel_job_ctx_wait_cancelled`) and return
/// promptly once cancelled: a watchdog fired or the job was aborted. Work that ignores
/// cancellation is abandoned after the cancel grace (the job settles as failed) but its
/// thread keeps running until the function returns.
pub type keel_job_work_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, ctx: *mut keel_job_ctx)>;

/// What a registry job runs.
enum CJob {
    Command(Box<CommandSpec>),
    Host(HostWork),
}

/// The host's work function, userdata and finalizer.
struct HostWork {
    work: unsafe extern "C" fn(*mut c_void, *mut keel_job_ctx),
    userdata: *mut c_void,
    finalizer: keel_finalizer_fn,
    /// Which job this is (`registry_key`, id), so its own work can be told apart.
    registry_key: usize,
    id: String,
}

// SAFETY: keel never touches `userdata`; it hands it back to the host's functions on the
// threads the header documents. Whether that is safe for the userdata is the host's
// contract.
unsafe impl Send for HostWork {}

impl Drop for HostWork {
    fn drop(&mut self) {
        if let Some(finalizer) = self.finalizer.take() {
            // SAFETY: the host's finalizer, called exactly once with its userdata.
            unsafe { finalizer(self.userdata) }
        }
    }
}

thread_local! {
    /// On a `keel-job` thread: the job whose work runs there (`registry_key`, id).
    static WORK_OF: std::cell::RefCell<Option<(usize, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// The identity of a registry, for [`WORK_OF`]: its handle, which is never reused.
fn registry_key(handle: *const keel_job_registry) -> usize {
    handle as usize
}

impl HostWork {
    /// Run on the job's own thread: call the work, collect its outcome, finalize.
    fn run(self, ctx: JobContext) -> std::result::Result<Value, WorkError> {
        WORK_OF.with(|w| *w.borrow_mut() = Some((self.registry_key, self.id.clone())));
        let ptr = CONTEXTS.insert(keel_job_ctx {
            ctx,
            outcome: Mutex::new(None),
        });
        // SAFETY: the host's work function with its own userdata and a live context.
        unsafe { (self.work)(self.userdata, ptr) };
        let outcome = CONTEXTS
            .get(ptr, "ctx")
            .ok()
            .and_then(|c| lock(&c.outcome).take());
        // From here on `ptr` is refused (KEEL_INVALID_ARGUMENT) — also when a helper
        // thread of the host's keeps it: no later context ever gets the same handle.
        CONTEXTS.remove(ptr);
        // The finalizer runs here, on the job's thread, after the work returned.
        drop(self);
        WORK_OF.with(|w| *w.borrow_mut() = None);
        outcome.unwrap_or_else(|| {
            Err(WorkError::agent(
                "the job's work returned without calling keel_job_ctx_succeed or keel_job_ctx_fail",
            ))
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type WorkFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = std::result::Result<Value, WorkError>> + Send>,
>;

/// The registry's run function. It is called inside `JobRegistry::start`, on the thread
/// that called `keel_job_registry_start`, so a host job's thread is started right there:
/// from then on the `HostWork` (and its finalizer) belongs to that thread, whatever
/// happens to the registry — were it moved into the future instead, freeing the registry
/// before the runtime polled the future would drop it, and run the host's finalizer, on
/// the runtime thread.
fn run_job(job: CJob, ctx: JobContext) -> WorkFuture {
    match job {
        CJob::Command(spec) => Box::pin(async move {
            ctx.phase("command");
            let result = ctx.run_command(*spec).await?;
            Ok(serde_json::to_value(result).unwrap_or(Value::Null))
        }),
        CJob::Host(host) => {
            let (done, work) = external_work();
            let spawned = std::thread::Builder::new()
                .name("keel-job".into())
                .spawn(move || {
                    done.complete(host.run(ctx));
                });
            // A failed spawn drops the closure (and the finalizer) here, on the calling
            // thread, before `keel_job_registry_start` returns.
            match spawned {
                Ok(_) => Box::pin(work),
                Err(e) => {
                    let message = format!("could not start the job's thread ({e})");
                    Box::pin(async move { Err(WorkError::agent(message)) })
                }
            }
        }
    }
}

fn build_registry(limits: Value) -> Result<keel_job_registry> {
    let options: RegistryOptions =
        keel_core::options::from_value(limits, "limits").map_err(json::options_error)?;
    let runtime = Arc::new(JobRuntime::new("keel-jobs").map_err(|e| {
        Error::new(
            keel_result::KEEL_IO,
            format!("could not start the job runtime thread ({e})"),
        )
    })?);
    let registry = options
        .apply(JobRegistry::builder(run_job))
        .runtime(runtime.handle().clone())
        .build()
        .map_err(|e| Error::coded(e.code(), e.to_string()))?;
    Ok(keel_job_registry {
        registry: Arc::new(registry),
        runtime,
    })
}

/// Every string a spec carries in `args`, `env` and `knownSecrets`, for masking error
/// messages about it.
fn secrets_in_spec(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["args", "knownSecrets"] {
        if let Some(a) = spec.get(key).and_then(Value::as_array) {
            out.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    if let Some(env) = spec.get("env").and_then(Value::as_object) {
        out.extend(env.values().filter_map(Value::as_str).map(str::to_owned));
    }
    out
}

fn parse_spec(spec: Value) -> Result<CommandSpec> {
    let o: CommandOptions =
        keel_core::options::from_value(spec, "spec").map_err(json::options_error)?;
    o.validate().map_err(json::options_error)?;
    Ok(o.into_spec())
}

/// Parse a JSON argument that must be present.
fn json_arg(text: &str, what: &str) -> Result<Value> {
    json::parse(text, what)
}

/// Create a job registry. `limits_json` is the reference's `RunnerLimits` object (all
/// fields optional; `len` 0 for every default): `{"inactivityMs":600000,
/// "maxDurationMs":3600000,"toolSilenceMs":0}` — absent keeps the default (10 min,
/// 60 min, off), `0` disables a watchdog — plus keel's `retentionMs` (how long a finished
/// job stays readable, default 1 h), `abortSettleMs` (how long `_abort` waits, default
/// 6 s) and `cancelGraceMs` (how long cancelled work gets to return before it is
/// abandoned, default 10 s). `coldStartMs` is accepted and ignored.
///
/// The registry owns a thread running keel's job runtime.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_JSON` (naming the
/// field), `KEEL_IO` (the runtime thread could not start).
///
/// # Safety
/// `limits_json` must point to `limits_json_len` readable bytes (or be NULL with length
/// 0); `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_job_registry_new(
    limits_json: *const c_char,
    limits_json_len: usize,
    out: *mut *mut keel_job_registry,
) -> keel_result {
    boundary("keel_job_registry_new", || {
        let out = Out::new(out, "out")?;
        let text = str_in(limits_json, limits_json_len, "limits_json")?;
        let limits = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            json_arg(text, "limits_json")?
        };
        out.write(REGISTRIES.insert(build_registry(limits)?));
        Ok(())
    })
}

/// Release a registry: every running job is aborted, supervised commands' process
/// groups are killed (SIGKILL), and the runtime thread is joined. Host-driven work is
/// not waited for: every host job started before keeps its own thread, its work
/// function is still called there (seeing cancellation) if it had not begun yet, and
/// its finalizer runs on that thread when the work returns — never on the runtime
/// thread, never inside this function. NULL and already-freed pointers are ignored.
/// May be called from a job's work or finalizer. Never fails.
#[no_mangle]
pub extern "C" fn keel_job_registry_free(registry: *mut keel_job_registry) {
    quiet_boundary(|| REGISTRIES.remove(registry));
}

/// Start a supervised command as job `id` (UTF-8), or — when `id` is running or
/// finished and not yet evicted — do nothing (idempotent re-attach).
///
/// `spec_json`: `{"cmd":"sh","args":["-c","…"],"cwd":"/tmp","env":{"K":"V"},
/// "killGraceMs":5000,"knownSecrets":["…"],"tailChars":16000}` (`cmd` required). The
/// registry's watchdogs apply (a spec's `inactivityMs` / `maxDurationMs` /
/// `toolSilenceMs` are ignored inside a registry). Every byte of output is activity; a
/// watchdog or an abort terminates the command's whole process group. The job's result
/// (`keel_job_registry_get`) is the command's result: `pid`, `exit`, `durationMs`,
/// redacted `tail`, `killReason`, `escalated`, `groupCleared`, … `knownSecrets` are
/// registered with the process-wide redactor.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT` (not a live
/// registry; an empty id, one longer than 512 bytes or with control characters),
/// `KEEL_INVALID_JSON` (naming the field). A command that cannot be spawned is not an
/// error here: the job fails and its view says why.
///
/// # Safety
/// `id` and `spec_json` must point to their lengths of readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_registry_run_command(
    registry: *const keel_job_registry,
    id: *const c_char,
    id_len: usize,
    spec_json: *const c_char,
    spec_json_len: usize,
) -> keel_result {
    boundary("keel_job_registry_run_command", || {
        let r = REGISTRIES.get(registry, "registry")?;
        let id = str_in(id, id_len, "id")?;
        let text = str_in(spec_json, spec_json_len, "spec_json")?;
        let spec = json_arg(text, "spec_json")?;
        let mask = secrets_in_spec(&spec);
        let spec = parse_spec(spec).map_err(|e| e.masking(&mask))?;
        r.registry
            .start(id, CJob::Command(Box::new(spec)))
            .map_err(|e| Error::invalid_argument(e.to_string()))?;
        Ok(())
    })
}

/// Start a host-driven job `id`: `work(userdata, ctx)` runs on a new keel-owned thread
/// (named `keel-job`) under the registry's watchdogs, reporting through `ctx`
/// (`keel_job_ctx_activity`, `_phase`, `_progress`, `_span`, `_follow_up`, `_metric`)
/// and finishing with `keel_job_ctx_succeed` or `keel_job_ctx_fail`.
///
/// When `id` is already running or finished (and not evicted) nothing is started
/// (idempotent re-attach). `finalizer` (optional) is called exactly once with
/// `userdata`: on the job's thread after `work` returns — or, when the work is never
/// run (re-attach, or an error), before this function returns, on the calling thread.
/// Once this function returned `KEEL_OK` and started the job, `work` is called even if
/// the registry is freed right away (it then sees cancellation at once).
///
/// `work` and `finalizer` may call any keel function, with two limits: `ctx` is valid
/// only until `work` returns (a stale `ctx` kept by a helper thread is refused with
/// `KEEL_INVALID_ARGUMENT`, never mistaken for another job's), and `work` aborting its
/// own job with `keel_job_registry_abort` fails with `KEEL_INVALID_ARGUMENT` (it would
/// wait for itself); report the failure with `keel_job_ctx_fail` and return instead.
///
/// Errors: `KEEL_NULL_PARAMETER` (`work` is NULL), `KEEL_INVALID_UTF8`,
/// `KEEL_INVALID_ARGUMENT` (not a live registry; a bad id).
///
/// # Safety
/// `id` must point to `id_len` readable bytes; `work` and `finalizer` must be safe to
/// call from another thread with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn keel_job_registry_start(
    registry: *const keel_job_registry,
    id: *const c_char,
    id_len: usize,
    work: keel_job_work_fn,
    userdata: *mut c_void,
    finalizer: keel_finalizer_fn,
) -> keel_result {
    let host = work.map(|work| HostWork {
        work,
        userdata,
        finalizer,
        registry_key: 0,
        id: String::new(),
    });
    boundary("keel_job_registry_start", move || {
        // `host` drops (finalizer runs) on every early return.
        let host = match host {
            Some(h) => h,
            None => {
                if let Some(fin) = finalizer {
                    fin(userdata);
                }
                return Err(Error::null("work"));
            }
        };
        let mut host = host;
        let r = REGISTRIES.get(registry, "registry")?;
        let id = str_in(id, id_len, "id")?;
        host.registry_key = registry_key(registry);
        host.id = id.to_owned();
        r.registry
            .start(id, CJob::Host(host))
            .map_err(|e| Error::invalid_argument(e.to_string()))?;
        Ok(())
    })
}

/// The job's view as JSON (the reference's `JobView`): `id`, `state`
/// (`running`|`done`|`failed`), `startedAt`, `heartbeatAt`, `phase`, `progress`,
/// `result` (when done), `error`, `failureCause`, `detail` (when failed), and the spans,
/// follow-ups and call metrics reported since the previous `_get` (drain-on-read:
/// `spans`, `followUps`, `callMetrics`, plus keel's `dropped` counters). Every string in
/// it is redacted. Release `*view_json` with `keel_string_free`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_JOB_NOT_FOUND` (never started, or evicted).
///
/// # Safety
/// `id` must point to `id_len` readable bytes; `view_json` must be valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_job_registry_get(
    registry: *const keel_job_registry,
    id: *const c_char,
    id_len: usize,
    view_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_job_registry_get", || {
        let out = Out::new(view_json, "view_json")?;
        let r = REGISTRIES.get(registry, "registry")?;
        let id = str_in(id, id_len, "id")?;
        let view = r.registry.get(id).ok_or_else(not_found)?;
        let json = json::to_json(&view, "the view")?;
        out.write(new_string(json));
        Ok(())
    })
}

fn not_found() -> Error {
    Error::new(
        keel_result::KEEL_JOB_NOT_FOUND,
        "no job with this id (never started, or evicted)",
    )
}

/// Abort job `id` with `reason` (UTF-8; may be empty) and wait — up to the
/// abort-settle window (default 6 s) — for it to settle; `*state_out` is the state it
/// reached (`KEEL_JOB_RUNNING` when it did not settle in time). A finished job just
/// reports its state. The job fails with `Aborted: <reason>` and cause `aborted`, unless
/// a watchdog had already fired. Blocks the calling thread; call it from any thread but
/// a job's own work: called from the work function of job `id` itself it fails with
/// `KEEL_INVALID_ARGUMENT` at once (it would wait for itself). Other jobs may be aborted
/// from a work function.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT` (not a
/// live registry; called from the job's own work), `KEEL_JOB_NOT_FOUND`.
///
/// # Safety
/// `id` and `reason` must point to their lengths of readable bytes; `state_out` must be
/// valid for writing a `keel_job_state`.
#[no_mangle]
pub unsafe extern "C" fn keel_job_registry_abort(
    registry: *const keel_job_registry,
    id: *const c_char,
    id_len: usize,
    reason: *const c_char,
    reason_len: usize,
    state_out: *mut keel_job_state,
) -> keel_result {
    boundary("keel_job_registry_abort", || {
        let out = Out::new(state_out, "state_out")?;
        let r = REGISTRIES.get(registry, "registry")?;
        let id = str_in(id, id_len, "id")?.to_owned();
        let reason = str_in(reason, reason_len, "reason")?.to_owned();
        let key = registry_key(registry);
        if WORK_OF.with(|w| {
            w.borrow()
                .as_ref()
                .is_some_and(|(k, i)| *k == key && *i == id)
        }) {
            // It would wait for its own caller to return (the whole settle window).
            return Err(Error::invalid_argument(
                "a job's work cannot abort its own job and wait for it; return from the \
                 work function (with keel_job_ctx_fail) instead",
            ));
        }
        let reg = r.registry.clone();
        let state = r
            .runtime
            .block_on(async move { reg.abort(&id, &reason).await })
            .ok_or_else(not_found)?;
        out.write(state.into());
        Ok(())
    })
}

/// Abort every running job with `reason` without waiting (poll
/// `keel_job_registry_running_count` to see them settle). `count_out` (optional) receives
/// how many were running.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `reason` must point to `reason_len` readable bytes; `count_out`, when not NULL, must be
/// valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn keel_job_registry_abort_all(
    registry: *const keel_job_registry,
    reason: *const c_char,
    reason_len: usize,
    count_out: *mut usize,
) -> keel_result {
    boundary("keel_job_registry_abort_all", || {
        let r = REGISTRIES.get(registry, "registry")?;
        let reason = str_in(reason, reason_len, "reason")?;
        let n = r.registry.abort_all(reason);
        if let Some(out) = Out::optional(count_out) {
            out.write(n);
        }
        Ok(())
    })
}

/// How many jobs are running.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `count_out` must be valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn keel_job_registry_running_count(
    registry: *const keel_job_registry,
    count_out: *mut usize,
) -> keel_result {
    boundary("keel_job_registry_running_count", || {
        let out = Out::new(count_out, "count_out")?;
        let r = REGISTRIES.get(registry, "registry")?;
        out.write(r.registry.running_count());
        Ok(())
    })
}

/// A sign of life: resets the job's inactivity watchdog. Cheap; call it for every chunk
/// of progress.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT` (the work has returned).
#[no_mangle]
pub extern "C" fn keel_job_ctx_activity(ctx: *const keel_job_ctx) -> keel_result {
    boundary("keel_job_ctx_activity", || {
        CONTEXTS.get(ctx, "ctx")?.ctx.activity();
        Ok(())
    })
}

/// Enter phase `name` (UTF-8, free-form: `clone`, `agent`, `push`, …). Phases get
/// wall-clock timings, and an inactivity kill names the phase it hung in.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `name` must point to `name_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_phase(
    ctx: *const keel_job_ctx,
    name: *const c_char,
    name_len: usize,
) -> keel_result {
    boundary("keel_job_ctx_phase", || {
        let c = CONTEXTS.get(ctx, "ctx")?;
        c.ctx.phase(str_in(name, name_len, "name")?);
        Ok(())
    })
}

fn object_arg(text: &str, what: &str) -> Result<Map<String, Value>> {
    match json_arg(text, what)? {
        Value::Object(m) => Ok(m),
        _ => Err(Error::invalid_json(format!("{what} is not an object"))),
    }
}

/// Replace the job's progress: `{"completed":3,"total":8,"inProgress":1,"items":…}`
/// (`items` free-form).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_INVALID_JSON` (naming the field).
///
/// # Safety
/// `json` must point to `json_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_progress(
    ctx: *const keel_job_ctx,
    json: *const c_char,
    json_len: usize,
) -> keel_result {
    boundary("keel_job_ctx_progress", || {
        let c = CONTEXTS.get(ctx, "ctx")?;
        let mut map = object_arg(str_in(json, json_len, "json")?, "progress")?;
        let items = map.remove("items");
        let mut f = Fields::new(
            Value::Object(map),
            "progress",
            &["completed", "total", "inProgress"],
        )?;
        let mut p = Progress::new(
            f.opt_usize("completed")?.unwrap_or(0) as u64,
            f.opt_usize("total")?.unwrap_or(0) as u64,
        );
        p.in_progress = f.opt_usize("inProgress")?.map(|n| n as u64);
        p.items = items.filter(|v| !v.is_null());
        c.ctx.progress(p);
        Ok(())
    })
}

/// Report a completed tool call, in the reference's `ToolSpan` shape:
/// `{"tool":"Bash","seq":0,"startedAt":…,"endedAt":…,"ok":true,…}` (`tool` required;
/// other fields kept verbatim, redacted; `endedAt` absent or 0 → now). It is buffered for
/// the next `_get`, becomes the last-tool breadcrumb, and re-arms the tool-silence
/// watchdog. It is not activity by itself.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_INVALID_JSON`.
///
/// # Safety
/// `json` must point to `json_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_span(
    ctx: *const keel_job_ctx,
    json: *const c_char,
    json_len: usize,
) -> keel_result {
    boundary("keel_job_ctx_span", || {
        let c = CONTEXTS.get(ctx, "ctx")?;
        let map = object_arg(str_in(json, json_len, "json")?, "span")?;
        match map.get("tool") {
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => {
                return Err(Error::invalid_json("span.tool is missing (it is required)"))
            }
            Some(_) => return Err(Error::invalid_json("span.tool is not a string")),
        }
        for key in ["seq", "startedAt", "endedAt"] {
            if map.get(key).is_some_and(|v| !v.is_null() && !v.is_u64()) {
                return Err(Error::invalid_json(format!(
                    "span.{key} is not a non-negative integer"
                )));
            }
        }
        if map.get("ok").is_some_and(|v| !v.is_boolean()) {
            return Err(Error::invalid_json("span.ok is not a boolean"));
        }
        let span: ToolSpan = serde_json::from_value(Value::Object(map))
            .map_err(|_| Error::invalid_json("span does not have the ToolSpan shape"))?;
        c.ctx.span(span);
        Ok(())
    })
}

/// Report follow-up items: a JSON array (each element buffered) or a single value.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_INVALID_JSON`.
///
/// # Safety
/// `json` must point to `json_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_follow_up(
    ctx: *const keel_job_ctx,
    json: *const c_char,
    json_len: usize,
) -> keel_result {
    boundary("keel_job_ctx_follow_up", || {
        let c = CONTEXTS.get(ctx, "ctx")?;
        match json_arg(str_in(json, json_len, "json")?, "json")? {
            Value::Array(items) => items.into_iter().for_each(|i| c.ctx.follow_up(i)),
            item => c.ctx.follow_up(item),
        }
        Ok(())
    })
}

/// Report a model-call metric (a JSON object; the registry stamps `seq` and `phase`).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_INVALID_JSON`.
///
/// # Safety
/// `json` must point to `json_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_metric(
    ctx: *const keel_job_ctx,
    json: *const c_char,
    json_len: usize,
) -> keel_result {
    boundary("keel_job_ctx_metric", || {
        let c = CONTEXTS.get(ctx, "ctx")?;
        let mut map = object_arg(str_in(json, json_len, "json")?, "metric")?;
        map.remove("seq");
        map.remove("phase");
        c.ctx.metric(CallMetric::new(map));
        Ok(())
    })
}

/// `*cancelled_out` becomes whether the job was cancelled (a watchdog fired, the job was
/// aborted, or the registry was freed). Return from the work function promptly once it is.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `cancelled_out` must be valid for writing a `bool`.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_is_cancelled(
    ctx: *const keel_job_ctx,
    cancelled_out: *mut bool,
) -> keel_result {
    boundary("keel_job_ctx_is_cancelled", || {
        let out = Out::new(cancelled_out, "cancelled_out")?;
        let c = CONTEXTS.get(ctx, "ctx")?;
        out.write(c.ctx.is_cancelled());
        Ok(())
    })
}

/// Block the calling thread until the job is cancelled or `timeout_ms` passes (an
/// interruptible sleep for work that polls); `*cancelled_out` says which.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `cancelled_out` must be valid for writing a `bool`.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_wait_cancelled(
    ctx: *const keel_job_ctx,
    timeout_ms: u64,
    cancelled_out: *mut bool,
) -> keel_result {
    boundary("keel_job_ctx_wait_cancelled", || {
        let out = Out::new(cancelled_out, "cancelled_out")?;
        let c = CONTEXTS.get(ctx, "ctx")?;
        out.write(
            c.ctx
                .wait_cancelled_blocking(Duration::from_millis(timeout_ms)),
        );
        Ok(())
    })
}

fn set_outcome(c: &keel_job_ctx, outcome: std::result::Result<Value, WorkError>) -> Result<()> {
    let mut slot = lock(&c.outcome);
    if slot.is_some() {
        return Err(Error::new(
            keel_result::KEEL_JOB_OUTCOME_SET,
            "the job's outcome was already reported",
        ));
    }
    *slot = Some(outcome);
    Ok(())
}

/// Finish the job successfully with `result_json` (any JSON value; `len` 0 for `null`).
/// A result object with an `error` string (and optionally a `failureCause`) is a
/// clean-exit failure, as in the reference (`JobResultBase`). Call it once, then return
/// from the work function.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_INVALID_JSON`, `KEEL_JOB_OUTCOME_SET`.
///
/// # Safety
/// `result_json` must point to `result_json_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_succeed(
    ctx: *const keel_job_ctx,
    result_json: *const c_char,
    result_json_len: usize,
) -> keel_result {
    boundary("keel_job_ctx_succeed", || {
        let c = CONTEXTS.get(ctx, "ctx")?;
        let text = str_in(result_json, result_json_len, "result_json")?;
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            json_arg(text, "result_json")?
        };
        set_outcome(&c, Ok(value))
    })
}

/// Fail the job with `message` (UTF-8, redacted before it is stored) and an optional
/// structured `cause` in the failure vocabulary (`agent`, `git`, `api`, `llm-upstream`,
/// `no-usable-output`, `no-changes`, …; NULL/empty → `agent`). Call it once, then return
/// from the work function.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT` (unknown
/// cause), `KEEL_JOB_OUTCOME_SET`.
///
/// # Safety
/// `cause` and `message` must point to their lengths of readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_job_ctx_fail(
    ctx: *const keel_job_ctx,
    cause: *const c_char,
    cause_len: usize,
    message: *const c_char,
    message_len: usize,
) -> keel_result {
    boundary("keel_job_ctx_fail", || {
        let c = CONTEXTS.get(ctx, "ctx")?;
        let cause = str_in(cause, cause_len, "cause")?;
        let message = str_in(message, message_len, "message")?;
        let err = if cause.is_empty() {
            WorkError::agent(message)
        } else {
            let cause: FailureCause = serde_json::from_value(Value::String(cause.to_owned()))
                .map_err(|_| {
                    Error::invalid_argument(
                        "cause is not a failure cause (agent, git, api, llm-upstream, \
                         no-usable-output, no-changes, …)",
                    )
                })?;
            WorkError::new(cause, message)
        };
        set_outcome(&c, Err(err))
    })
}
