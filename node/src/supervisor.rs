//! The supervisor's service helpers for Node: `generateLaunchdPlist`,
//! `generateSystemdUnit`, `parseLaunchctlPrint`, `parseSystemctlShow`, `doctorCheck`,
//! over `keel_core::supervisor::service`. Thin: options go through core's serde types,
//! results come back as core's camelCase JSON.

use keel_core::supervisor::service as core;
use keel_core::supervisor::SupervisorError;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args;
use crate::error::{guard, KeelError, Result};

fn err(e: SupervisorError) -> KeelError {
    KeelError::new(e.code(), e.to_string())
}

/// `JSON.parse(text)`: core's view as a plain JS object.
fn js_json<'e>(env: &'e Env, value: serde_json::Result<serde_json::Value>) -> Result<Unknown<'e>> {
    let text = value
        .map(|v| v.to_string())
        .map_err(|e| KeelError::new(keel_core::codes::ENCODE, e.to_string()))?;
    let json: Object<'e> = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<'e, String, Unknown<'e>> = json.get_named_property("parse")?;
    Ok(parse.call(text)?)
}

/// A launchd property list for the supervisor: KeepAlive, RunAtLoad, ThrottleInterval,
/// `PATH=/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`, HOME and
/// UserName in system mode, log paths; every value XML-escaped.
#[napi(
    ts_args_type = "options: { programArguments: string[]; label?: string; mode?: 'user' | 'system'; workingDirectory?: string; stdoutPath?: string; stderrPath?: string; logDir?: string; userName?: string; homeDir?: string; throttleIntervalMs?: number; exitTimeoutMs?: number; environment?: Record<string, string> }",
    ts_return_type = "string"
)]
pub fn generate_launchd_plist(env: &Env, options: Unknown) -> napi::Result<String> {
    guard(env, || {
        let o: core::LaunchdPlistOptions = args::options_as("options", Some(options), &[])?;
        core::generate_launchd_plist(&o).map_err(err)
    })
}

/// A systemd unit for the supervisor: Type=notify + WatchdogSec, Restart=always,
/// RestartSec, RestartSteps/RestartMaxDelaySec, KillMode=control-group, TimeoutStopSec.
#[napi(
    ts_args_type = "options: { execStart: string[]; description?: string; mode?: 'user' | 'system'; user?: string; workingDirectory?: string; environment?: Record<string, string>; restartSecMs?: number; restartSteps?: number; restartMaxDelayMs?: number; timeoutStopMs?: number; watchdogMs?: number | null }",
    ts_return_type = "string"
)]
pub fn generate_systemd_unit(env: &Env, options: Unknown) -> napi::Result<String> {
    guard(env, || {
        let o: core::SystemdUnitOptions = args::options_as("options", Some(options), &[])?;
        core::generate_systemd_unit(&o).map_err(err)
    })
}

/// Parse `launchctl print <domain>/<label>` output into `ServiceHealth` (the top-level
/// `state`, multi-word `spawn scheduled` included; `last exit code`; `pid`).
#[napi(
    ts_args_type = "output: string",
    ts_return_type = "{ loaded: boolean; state: 'running' | 'waiting' | 'spawn-scheduled' | 'starting' | 'stopped' | 'failed' | 'unknown'; rawState: string | null; lastExitCode: number | null; lastSignal: number | null; pid: number | null; manager: 'launchd' | 'systemd' }"
)]
pub fn parse_launchctl_print<'e>(env: &'e Env, output: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let text = args::string("output", output)?;
        js_json(
            env,
            serde_json::to_value(core::parse_launchctl_print(&text)),
        )
    })
}

/// Parse `systemctl show UNIT` output into `ServiceHealth`.
#[napi(
    ts_args_type = "output: string",
    ts_return_type = "{ loaded: boolean; state: 'running' | 'waiting' | 'spawn-scheduled' | 'starting' | 'stopped' | 'failed' | 'unknown'; rawState: string | null; lastExitCode: number | null; lastSignal: number | null; pid: number | null; manager: 'launchd' | 'systemd' }"
)]
pub fn parse_systemctl_show<'e>(env: &'e Env, output: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let text = args::string("output", output)?;
        js_json(env, serde_json::to_value(core::parse_systemctl_show(&text)))
    })
}

/// The doctor verdict on a `ServiceHealth`: `{ name, status: 'pass' | 'warn' | 'fail',
/// message, fix }` (a non-zero last exit code fails, `spawn scheduled` warns).
#[napi(
    ts_args_type = "health: { loaded: boolean; state: 'running' | 'waiting' | 'spawn-scheduled' | 'starting' | 'stopped' | 'failed' | 'unknown'; rawState: string | null; lastExitCode: number | null; lastSignal: number | null; pid: number | null; manager: 'launchd' | 'systemd' }",
    ts_return_type = "{ name: string; status: 'pass' | 'warn' | 'fail'; message: string; fix: string | null }"
)]
pub fn doctor_check<'e>(env: &'e Env, health: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let h: core::ServiceHealth = args::options_as("health", Some(health), &[])?;
        js_json(env, serde_json::to_value(core::doctor_check(&h)))
    })
}

// ---- the supervisor -------------------------------------------------------------------
//
// `Supervisor` and `startActionsRunner` are JavaScript (`node/supervisor.js`) over
// [`SupervisorNative`]: the backoff, the status, the drain and the actions/runner cycle
// are core's `Supervisor` on one keel thread per started supervisor. A JS cycle is core's
// `ExternalCycle`: each `register` / `run` (and each `fetchRunnerToken`) is handed to
// JavaScript through one threadsafe function, and JavaScript answers with a `complete…`
// call when the callback's promise settles. The threadsafe function is made by `start`
// and released when the supervisor has drained, so a running supervisor keeps Node alive
// (it is meant to run forever) and a stopped one leaves no handle and no thread behind.

use std::sync::{Arc, Mutex};

use keel_core::supervisor::{
    ActionsRunnerCycle, ActionsRunnerOptions, CycleError, Dispatch, DrainReport, ExternalCall,
    ExternalCycle, ExternalTokenProvider, RunOutcome, ShutdownReason, StatusSnapshot, Supervisor,
    SupervisorOptions,
};
use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, Object};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{JsValue, Status, ValueType};

/// `host(kind, id, payload)`: `kind` is `register`, `run`, `token` (answer call `id`),
/// `status` (payload: a status event), `drained` (payload: the drain report) or `failed`
/// (payload: `{code, message}`: `run` returned an error).
type Host = ThreadsafeFunction<
    FnArgs<(&'static str, f64, String)>,
    (),
    FnArgs<(&'static str, f64, String)>,
    Status,
    false,
    false,
    0,
>;

type SharedHost = Arc<Mutex<Option<Host>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queue one call for JavaScript; false when there is no host (not started, drained) or
/// Node is closing.
fn send(host: &SharedHost, kind: &'static str, id: u64, payload: String) -> bool {
    match lock(host).as_ref() {
        Some(h) => {
            h.call(
                FnArgs::from((kind, id as f64, payload)),
                ThreadsafeFunctionCallMode::NonBlocking,
            ) == Status::Ok
        }
        None => false,
    }
}

fn host_dispatch(host: SharedHost) -> Dispatch {
    Arc::new(move |call: ExternalCall| {
        let dir =
            |d: &Option<std::path::PathBuf>| d.as_ref().map(|p| p.to_string_lossy().into_owned());
        let (kind, id, payload) = match &call {
            ExternalCall::Register { id, slot, work_dir } => (
                "register",
                *id,
                serde_json::json!({ "slot": slot, "workDir": dir(work_dir) }),
            ),
            ExternalCall::Run {
                id,
                registration,
                slot,
                work_dir,
            } => (
                "run",
                *id,
                serde_json::json!({ "slot": slot, "workDir": dir(work_dir), "registration": registration }),
            ),
            ExternalCall::Token { id } => ("token", *id, serde_json::json!({})),
            _ => return false,
        };
        send(&host, kind, id, payload.to_string())
    })
}

/// Options errors as Node throws them: a shape error is a `TypeError`
/// `KEEL_INVALID_ARGUMENT`, a value out of range a `RangeError` `KEEL_INVALID_OPTION`
/// (core's wording, the same text C reports).
fn options_err(e: SupervisorError) -> KeelError {
    let message = e.to_string();
    match e.code() {
        keel_core::codes::INVALID_JSON => {
            KeelError::type_error(keel_core::codes::INVALID_ARGUMENT, message)
        }
        keel_core::codes::INVALID_OPTION => {
            KeelError::range_error(keel_core::codes::INVALID_OPTION, message)
        }
        code => KeelError::new(code, message),
    }
}

/// Prefix the field of an options error (`backoffBaseMs` → `supervisor.backoffBaseMs`).
fn nested(prefix: &str, e: SupervisorError) -> SupervisorError {
    match e {
        SupervisorError::InvalidJson { field, reason } => SupervisorError::InvalidJson {
            field: format!("{prefix}.{field}"),
            reason,
        },
        SupervisorError::InvalidOptions { field, reason } => SupervisorError::InvalidOptions {
            field: format!("{prefix}.{field}"),
            reason,
        },
        e => e,
    }
}

/// The options object as JSON, without the fields JavaScript keeps (callbacks).
fn options_json(what: &str, v: Unknown<'_>, skip: &[&str]) -> Result<serde_json::Value> {
    match args::options_object(what, Some(v))? {
        None => Ok(serde_json::Value::Null),
        Some(obj) => args::json_value(what, obj.to_unknown(), skip, 0),
    }
}

fn report_json(r: &DrainReport) -> String {
    let (reason, signal) = match r.reason {
        ShutdownReason::Signal(s) => ("signal", Some(s)),
        _ => ("requested", None),
    };
    serde_json::json!({
        "exitCode": r.exit_code(),
        "reason": reason,
        "signal": signal,
        "cycles": r.cycles,
        "forced": r.forced,
    })
    .to_string()
}

/// A started supervisor's core side, whatever its cycle.
trait Backend: Send + Sync {
    fn status(&self) -> StatusSnapshot;
    fn shutdown(&self, signal: Option<i32>);
    fn run_blocking(&self) -> std::result::Result<DrainReport, SupervisorError>;
}

impl<C: keel_core::supervisor::Cycle> Backend for Supervisor<C> {
    fn status(&self) -> StatusSnapshot {
        Supervisor::status(self)
    }
    fn shutdown(&self, signal: Option<i32>) {
        match signal {
            Some(s) => self.shutdown_handle().shutdown_for_signal(s),
            None => Supervisor::shutdown(self),
        }
    }
    fn run_blocking(&self) -> std::result::Result<DrainReport, SupervisorError> {
        Supervisor::run_blocking(self)
    }
}

/// The native half of `Supervisor` / `startActionsRunner` (`node/supervisor.js`). Not
/// part of the package's API.
#[napi(js_name = "SupervisorNative")]
pub struct SupervisorNative {
    backend: Arc<dyn Backend>,
    cycle: Option<Arc<Supervisor<ExternalCycle>>>,
    tokens: Option<ExternalTokenProvider>,
    host: SharedHost,
    started: bool,
    signals: bool,
}

/// The JS-side fields of `new Supervisor(options)`.
const JS_CYCLE_FIELDS: [&str; 4] = ["register", "run", "cleanup", "onStatus"];
/// The JS-side fields of `startActionsRunner(options)`.
const JS_RUNNER_FIELDS: [&str; 3] = ["fetchRunnerToken", "onStatus", "supervisor"];

fn on_status(host: &SharedHost) -> impl Fn(&keel_core::supervisor::StatusEvent) + Send + Sync {
    let host = host.clone();
    move |ev| {
        if let Ok(json) = serde_json::to_string(ev) {
            send(&host, "status", 0, json);
        }
    }
}

/// Whether `options.onStatus` is a function (status events cross to JavaScript only then).
fn has_status_listener(options: &Unknown<'_>) -> Result<bool> {
    if options.get_type()? != ValueType::Object {
        return Ok(false);
    }
    // SAFETY: checked to be an object.
    let obj = unsafe { options.cast::<Object<'_>>() }?;
    Ok(match args::field(&obj, "onStatus")? {
        Some(f) => f.get_type()? == ValueType::Function,
        None => false,
    })
}

#[napi]
impl SupervisorNative {
    /// A supervisor over a JavaScript cycle: `options` is `SupervisorOptions` plus the
    /// callbacks (left to JavaScript).
    #[napi(
        factory,
        ts_args_type = "options: SupervisorOptions & Record<string, unknown>"
    )]
    pub fn create(env: &Env, options: Unknown) -> napi::Result<Self> {
        guard(env, || {
            let listens = has_status_listener(&options)?;
            let value = options_json("options", options, &JS_CYCLE_FIELDS)?;
            let mut o = SupervisorOptions::from_value(value).map_err(options_err)?;
            // Node handles the signals itself (process.on), so the host's own listeners
            // keep working while the supervisor runs.
            let signals = std::mem::replace(&mut o.install_signal_handlers, false);
            let host: SharedHost = Arc::new(Mutex::new(None));
            let mut b =
                Supervisor::builder(ExternalCycle::new(host_dispatch(host.clone()))).options(o);
            if listens {
                b = b.on_status(on_status(&host));
            }
            let sup = b.build().map_err(options_err)?;
            let sup = Arc::new(sup);
            Ok(SupervisorNative {
                backend: sup.clone(),
                cycle: Some(sup),
                tokens: None,
                host,
                started: false,
                signals,
            })
        })
    }

    /// A supervisor over core's actions/runner cycle: `options` is
    /// `ActionsRunnerOptions` plus `supervisor` (`SupervisorOptions`) and the callbacks.
    #[napi(
        factory,
        ts_args_type = "options: ActionsRunnerOptions & { supervisor?: SupervisorOptions } & Record<string, unknown>"
    )]
    pub fn actions_runner(env: &Env, options: Unknown) -> napi::Result<Self> {
        guard(env, || {
            let obj = args::options_object("options", Some(options))?
                .ok_or_else(|| KeelError::invalid_type("options", "an object", "undefined"))?;
            let sup_value = match args::field(&obj, "supervisor")? {
                Some(v) => options_json("options.supervisor", v, &[])?,
                None => serde_json::Value::Null,
            };
            let value = args::json_value("options", obj.to_unknown(), &JS_RUNNER_FIELDS, 0)?;
            let ro = ActionsRunnerOptions::from_value(value).map_err(options_err)?;
            let mut so = SupervisorOptions::from_value(sup_value)
                .map_err(|e| options_err(nested("supervisor", e)))?;
            let signals = std::mem::replace(&mut so.install_signal_handlers, false);
            let host: SharedHost = Arc::new(Mutex::new(None));
            let tokens = ExternalTokenProvider::new(host_dispatch(host.clone()));
            let cycle = ActionsRunnerCycle::new(ro, tokens.clone()).map_err(options_err)?;
            let mut b = Supervisor::builder(cycle).options(so);
            if has_status_listener(&obj.to_unknown())? {
                b = b.on_status(on_status(&host));
            }
            let sup = b.build().map_err(options_err)?;
            Ok(SupervisorNative {
                backend: Arc::new(sup),
                cycle: None,
                tokens: Some(tokens),
                host,
                started: false,
                signals,
            })
        })
    }

    /// Start the supervisor on its own keel thread; `host` receives every call (see
    /// [`Host`]). Once: a second call is `KEEL_SUPERVISOR_ALREADY_RUNNING`.
    #[napi(ts_args_type = "host: (kind: string, id: number, payload: string) => void")]
    pub fn start(&mut self, env: &Env, host: Unknown) -> napi::Result<()> {
        guard(env, || {
            if self.started {
                return Err(err(SupervisorError::AlreadyRunning));
            }
            if host.get_type()? != ValueType::Function {
                return Err(KeelError::invalid_type(
                    "host",
                    "a function",
                    args::type_name(&host)?,
                ));
            }
            // SAFETY: checked to be a function.
            let f: Function<'_, FnArgs<(&'static str, f64, String)>, ()> = unsafe { host.cast() }?;
            let tsfn: Host = f.build_threadsafe_function().build()?;
            // When this environment ends while the supervisor runs (a worker thread is
            // terminated, the process exits), stop the keel thread too: its calls into
            // JavaScript could never be answered again.
            env.add_env_cleanup_hook(Arc::downgrade(&self.backend), |b| {
                if let Some(b) = b.upgrade() {
                    b.shutdown(None);
                }
            })?;
            *lock(&self.host) = Some(tsfn);
            let backend = self.backend.clone();
            let shared = self.host.clone();
            let spawned = std::thread::Builder::new()
                .name("keel-supervisor".into())
                .spawn(move || {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        backend.run_blocking()
                    }));
                    let (kind, payload) = match r {
                        Ok(Ok(report)) => ("drained", report_json(&report)),
                        Ok(Err(e)) => (
                            "failed",
                            serde_json::json!({ "code": e.code(), "message": e.to_string() })
                                .to_string(),
                        ),
                        Err(_) => (
                            "failed",
                            serde_json::json!({
                                "code": keel_core::codes::PANIC,
                                "message": "internal error: keel panicked (this is a bug)",
                            })
                            .to_string(),
                        ),
                    };
                    send(&shared, kind, 0, payload);
                    // Release the threadsafe function: once its queue is empty Node may exit.
                    lock(&shared).take();
                });
            if let Err(e) = spawned {
                lock(&self.host).take();
                return Err(KeelError::new(
                    keel_core::codes::INTERNAL,
                    format!("cannot start the supervisor thread: {e}"),
                ));
            }
            self.started = true;
            Ok(())
        })
    }

    /// `installSignalHandlers` of the options: JavaScript installs them (`process.on`).
    #[napi(getter)]
    pub fn install_signal_handlers(&self) -> bool {
        self.signals
    }

    /// Request shutdown (idempotent); `signal` records that a signal caused it.
    #[napi]
    pub fn shutdown(&self, signal: Option<i32>) {
        self.backend.shutdown(signal);
    }

    /// The status snapshot as JSON text.
    #[napi]
    pub fn status(&self) -> String {
        self.backend.status().to_json()
    }

    /// Answer a `register` call (`error`: a failed registration). False: abandoned.
    #[napi]
    pub fn complete_register(&self, id: f64, error: Option<String>) -> bool {
        let Some(sup) = &self.cycle else { return false };
        sup.cycle()
            .complete_register(id as u64, error.map_or(Ok(()), |e| Err(CycleError::new(e))))
    }

    /// Answer a `run` call: the exit code and signal number, or `error` (a failed run).
    /// False: abandoned.
    #[napi]
    pub fn complete_run(
        &self,
        id: f64,
        error: Option<String>,
        exit_code: Option<i32>,
        signal: Option<i32>,
    ) -> bool {
        let Some(sup) = &self.cycle else { return false };
        let result = match error {
            Some(e) => Err(CycleError::new(e)),
            None => {
                let mut o = RunOutcome::default();
                o.exit_code = exit_code;
                o.signal = signal;
                Ok(o)
            }
        };
        sup.cycle().complete_run(id as u64, result)
    }

    /// Answer a `token` call with a token, or `error`. False: abandoned.
    #[napi]
    pub fn complete_token(&self, id: f64, error: Option<String>, token: Option<String>) -> bool {
        let Some(tokens) = &self.tokens else {
            return false;
        };
        let result = match (error, token) {
            (Some(e), _) => Err(CycleError::new(e)),
            (None, Some(t))
                if !t.is_empty() && t.len() <= 4096 && !t.contains(char::is_whitespace) =>
            {
                Ok(t)
            }
            _ => Err(CycleError::new(
                "fetchRunnerToken() must resolve to a token (a non-empty string without whitespace, or { token })",
            )),
        };
        tokens.complete(id as u64, result)
    }
}

impl Drop for SupervisorNative {
    fn drop(&mut self) {
        // Garbage-collected while running (the JavaScript side holds it while started,
        // so only when Node is tearing down): stop the keel thread.
        self.backend.shutdown(None);
    }
}
