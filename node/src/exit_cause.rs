//! The exit-cause recorder over `keel_core::exit_cause`: `ensureExitCauseWatcher` (in
//! `exit-cause.js`, over `ensureExitCauseWatcherNative`), `disarmExitCauseWatcher`,
//! `exitCauseWatcherStatus`, `tailExitLog`, and `runExitCauseWatcher`, the watcher
//! process's entry point (`exit-cause-watcher.js` calls it).
//!
//! Every call that touches the disk or waits for a process returns a Promise: the
//! blocking core call runs on the libuv thread pool (an `AsyncTask`). Arguments are
//! converted on the JavaScript thread; a wrong one rejects the Promise like any other
//! failure, with a stable `code`: a `TypeError` `KEEL_INVALID_ARGUMENT` for a shape error,
//! a `RangeError` `KEEL_INVALID_OPTION` for a value out of range (C says
//! `KEEL_INVALID_JSON` / `KEEL_INVALID_OPTION` for the same options), else the core code
//! (`KEEL_EXIT_CAUSE_NOT_RUNNING`, `KEEL_EXIT_CAUSE_WATCHER_FAILED`,
//! `KEEL_MALFORMED_STATE`, `KEEL_INSECURE_FILE`, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`).

use std::path::PathBuf;
use std::time::Duration;

use keel_core::exit_cause::{self as core, ExitCauseError, ExitCauseOptions};
use napi::bindgen_prelude::{
    AsyncTask, Function, JsObjectValue, Object, ToNapiValue, TypeName, Unknown,
};
use napi::{sys, Env, JsValue, Status, Task, ValueType};
use napi_derive::napi;

use crate::args;
use crate::error::{code, ErrorKind, KeelError};

/// Most lines `tailExitLog` returns.
const MAX_TAIL_LINES: u32 = 10_000;

/// A failure on its way to a rejected Promise (`Send`, unlike `KeelError`).
struct Fail {
    kind: ErrorKind,
    code: &'static str,
    message: String,
}

impl From<ExitCauseError> for Fail {
    fn from(e: ExitCauseError) -> Self {
        match e {
            ExitCauseError::Options(o) => args::options_error(o).into(),
            other => Fail {
                kind: ErrorKind::Error,
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

impl From<KeelError> for Fail {
    fn from(e: KeelError) -> Self {
        match e {
            KeelError::Js {
                kind,
                code,
                message,
            } => Fail {
                kind,
                code,
                message,
            },
            KeelError::Napi(e) => Fail {
                kind: ErrorKind::Error,
                code: code::INTERNAL,
                message: e.reason.clone(),
            },
        }
    }
}

/// JSON text, parsed with `JSON.parse` on the JavaScript thread.
pub struct Json(String);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for Json {
    unsafe fn to_napi_value(raw: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let env = Env::from_raw(raw);
        let json: Object<'_> = env.get_global()?.get_named_property("JSON")?;
        let parse: Function<'_, String, Unknown<'_>> = json.get_named_property("parse")?;
        Ok(parse.call(val.0)?.raw())
    }
}

type Work = Box<dyn FnOnce() -> Result<String, Fail> + Send>;

/// A blocking core call on the libuv thread pool, or the argument error found before it.
pub struct ExitCauseTask {
    work: Option<Work>,
    failure: Option<Fail>,
}

fn panic_fail() -> Fail {
    Fail {
        kind: ErrorKind::Error,
        code: code::PANIC,
        message: "internal error: keel panicked (this is a bug)".into(),
    }
}

/// `work` with the arguments `prepare` converts (on the JavaScript thread), or a
/// rejected task.
fn task<A: Send + 'static, T: serde::Serialize>(
    prepare: impl FnOnce() -> Result<A, KeelError>,
    work: impl FnOnce(A) -> Result<T, ExitCauseError> + Send + 'static,
) -> AsyncTask<ExitCauseTask> {
    let t = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(prepare)) {
        Ok(Ok(a)) => ExitCauseTask {
            work: Some(Box::new(move || {
                let v = work(a).map_err(Fail::from)?;
                serde_json::to_string(&v).map_err(|e| Fail {
                    kind: ErrorKind::Error,
                    code: code::INTERNAL,
                    message: format!("cannot serialize the answer ({e})"),
                })
            })),
            failure: None,
        },
        Ok(Err(e)) => ExitCauseTask {
            work: None,
            failure: Some(e.into()),
        },
        Err(_) => ExitCauseTask {
            work: None,
            failure: Some(panic_fail()),
        },
    };
    AsyncTask::new(t)
}

impl Task for ExitCauseTask {
    type Output = String;
    type JsValue = Json;

    fn compute(&mut self) -> napi::Result<String> {
        let outcome = match self.work.take() {
            Some(work) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(panic_fail())),
            None => Err(self.failure.take().unwrap_or_else(panic_fail)),
        };
        outcome.map_err(|f| {
            self.failure = Some(f);
            napi::Error::new(Status::GenericFailure, "keel exit-cause call failed")
        })
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<Json> {
        Ok(Json(output))
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Json> {
        let Some(f) = self.failure.take() else {
            return Err(err);
        };
        // Messages name fields, paths and pids, never a secret; scrub anyway.
        let message = keel_core::redact::redact_secrets(&f.message).replace('\0', "\u{FFFD}");
        let ctor_name = match f.kind {
            ErrorKind::Error => "Error",
            ErrorKind::TypeError => "TypeError",
            ErrorKind::RangeError => "RangeError",
        };
        let ctor: Function<'_, String, Unknown<'_>> =
            env.get_global()?.get_named_property(ctor_name)?;
        let error = ctor.new_instance(message)?;
        // SAFETY: a constructor's result is an object.
        let mut obj = unsafe { error.cast::<Object<'_>>() }?;
        obj.set_named_property("code", f.code)?;
        Err(napi::Error::from(error))
    }
}

/// A required string argument.
fn string_arg(what: &str, v: Option<Unknown<'_>>) -> Result<String, KeelError> {
    let v =
        args::present(v)?.ok_or_else(|| KeelError::invalid_type(what, "a string", "undefined"))?;
    args::string(what, v)
}

/// An optional non-negative integer argument (`undefined`/`null`: `None`).
fn u32_opt(what: &str, v: Option<Unknown<'_>>) -> Result<Option<u32>, KeelError> {
    args::present(v)?
        .map(|v| args::u32_arg(what, v))
        .transpose()
}

/// The native half of `ensureExitCauseWatcher(options)` (see `exit-cause.js`):
/// `options` is core's `ExitCauseOptions` (the schema C's `keel_exit_cause_ensure`
/// reads); without `watcherCommand`, `defaultWatcherCommand` (the package's
/// `[process.execPath, <package>/exit-cause-watcher.js]`) starts the watcher.
#[napi(
    ts_args_type = "options: ExitCauseOptions, defaultWatcherCommand: Array<string>",
    ts_return_type = "Promise<EnsureOutcome>"
)]
pub fn ensure_exit_cause_watcher_native(
    options: Option<Unknown>,
    default_watcher_command: Option<Unknown>,
) -> AsyncTask<ExitCauseTask> {
    task(
        || {
            let mut o: ExitCauseOptions = args::options_as("options", options, &[])?;
            if o.watcher_command.is_none() {
                let d = args::present(default_watcher_command)?.ok_or_else(|| {
                    KeelError::invalid_type("defaultWatcherCommand", "an array", "undefined")
                })?;
                o.watcher_command = Some(args::string_array("defaultWatcherCommand", d)?);
            }
            Ok(o)
        },
        |o| core::ensure(&o),
    )
}

/// Before a deliberate stop of the service `name`: mark its watcher under `stateDir`
/// disarmed (it records nothing), signal it and wait up to `timeoutMs` (default 2000)
/// for it to be gone. Idempotent; resolves `{state: 'disarmed' | 'absent', name,
/// watcherStopped}`.
#[napi(
    ts_args_type = "stateDir: string, name: string, timeoutMs?: number",
    ts_return_type = "Promise<DisarmOutcome>"
)]
pub fn disarm_exit_cause_watcher(
    state_dir: Option<Unknown>,
    name: Option<Unknown>,
    timeout_ms: Option<Unknown>,
) -> AsyncTask<ExitCauseTask> {
    task(
        || {
            let dir = string_arg("stateDir", state_dir)?;
            let name = string_arg("name", name)?;
            let timeout = u32_opt("timeoutMs", timeout_ms)?
                .filter(|t| *t > 0)
                .map(|t| Duration::from_millis(t.into()));
            Ok((PathBuf::from(dir), name, timeout))
        },
        |(dir, name, timeout)| core::disarm(&dir, &name, timeout),
    )
}

/// The record of the watcher of `name` under `stateDir`, or `null` when there is none:
/// `{name, pid, alive, watcherPid, watcherAlive, armedAt, disarmedAt, firedAt, logFile,
/// forensicsDir}`.
#[napi(
    ts_args_type = "stateDir: string, name: string",
    ts_return_type = "Promise<WatcherStatus | null>"
)]
pub fn exit_cause_watcher_status(
    state_dir: Option<Unknown>,
    name: Option<Unknown>,
) -> AsyncTask<ExitCauseTask> {
    task(
        || {
            let dir = string_arg("stateDir", state_dir)?;
            let name = string_arg("name", name)?;
            Ok((PathBuf::from(dir), name))
        },
        |(dir, name)| core::status(&dir, &name),
    )
}

/// The last `lines` (default 20, at most 10000) lines of the exit log `logFile`, oldest
/// first, each `{line, fields}` (`fields` its parsed `key=value` pairs); `[]` for a
/// missing log.
#[napi(
    ts_args_type = "logFile: string, lines?: number",
    ts_return_type = "Promise<Array<ExitLogLine>>"
)]
pub fn tail_exit_log(
    log_file: Option<Unknown>,
    lines: Option<Unknown>,
) -> AsyncTask<ExitCauseTask> {
    task(
        || {
            let path = string_arg("logFile", log_file)?;
            let n = u32_opt("lines", lines)?.unwrap_or(20);
            if n > MAX_TAIL_LINES {
                return Err(KeelError::range_error(
                    code::INVALID_OPTION,
                    format!("lines must be at most {MAX_TAIL_LINES} (got {n})"),
                ));
            }
            Ok((PathBuf::from(path), n as usize))
        },
        |(path, n)| core::tail(&path, n),
    )
}

/// The watcher process's entry point: `exit-cause-watcher.js` calls it with its last
/// argument (the spec `ensureExitCauseWatcher` passes). Blocks the calling thread until
/// the watched process ends (recording its death unless disarmed) or the watcher is
/// signalled; returns the exit status (0 done, 1 arming failed, 2 a malformed spec).
/// Not for use in any other process: it takes over stdout, stderr and the termination
/// signals.
#[napi(ts_args_type = "spec: string", ts_return_type = "number")]
pub fn run_exit_cause_watcher(env: &Env, spec: Option<Unknown>) -> napi::Result<i32> {
    crate::error::guard(env, || {
        let spec = string_arg("spec", spec)?;
        Ok(core::watcher_main(&spec))
    })
}
