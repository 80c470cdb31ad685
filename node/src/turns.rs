//! The turn runner for Node: the native half of `runTurn` (`node/turns.js`) and
//! `turnSession`, over `keel_core::turns`. Thin: the options are core's `TurnOptions`
//! (through `args::options_as`, so Node and C accept and refuse the same objects with the
//! same wording), the turn runs on a keel thread, every (redacted) event and the result
//! come back as core's camelCase JSON through one threadsafe function.
//!
//! The threadsafe function keeps Node alive while the turn runs (a pending turn is work,
//! like a child process) and is dropped as soon as the result is queued, so a script that
//! awaits one turn exits promptly after it.

use std::sync::{Mutex, OnceLock};

use keel_core::jobs::JobRuntime;
use keel_core::turns::{Store, TurnAbort, TurnError, TurnOptions, TurnRunner};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Status, ValueType};
use napi_derive::napi;

use crate::args;
use crate::error::{guard, KeelError, Result};

/// The fields of `runTurn(options)` that JavaScript keeps (functions, an AbortSignal).
const JS_FIELDS: [&str; 3] = ["onEvent", "signal", "abortSignal"];

/// `dispatch(kind, payload)`: `kind` is `event` (payload: a `TurnEvent`), `resolve`
/// (payload: the `TurnResult`) or `reject` (payload: `{code, message}`).
type Dispatch = ThreadsafeFunction<
    FnArgs<(&'static str, String)>,
    (),
    FnArgs<(&'static str, String)>,
    Status,
    false,
    false,
    0,
>;

fn runtime() -> Result<&'static JobRuntime> {
    static RT: OnceLock<std::result::Result<JobRuntime, String>> = OnceLock::new();
    RT.get_or_init(|| JobRuntime::new("keel-node-turns").map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| {
            KeelError::new(
                keel_core::codes::INTERNAL,
                format!("cannot start keel's turn thread: {e}"),
            )
        })
}

/// A core error as Node throws it: a shape error is a `TypeError`
/// `KEEL_INVALID_ARGUMENT`, a value out of range a `RangeError` `KEEL_INVALID_OPTION`
/// (the same text C reports), anything else an `Error` with core's code.
fn turn_err(e: TurnError) -> KeelError {
    match e {
        TurnError::Options(o) => args::options_error(o),
        e if e.code() == keel_core::codes::INVALID_OPTION => {
            KeelError::range_error(keel_core::codes::INVALID_OPTION, e.to_string())
        }
        e => KeelError::new(e.code(), e.to_string()),
    }
}

/// One prepared turn (the native half of `runTurn`). Not part of the package's API.
#[napi(js_name = "TurnNative")]
pub struct TurnNative {
    runner: Mutex<Option<TurnRunner>>,
    abort: TurnAbort,
}

#[napi]
impl TurnNative {
    /// Parse and validate `options` (`TurnOptions`; `onEvent`, `signal` and
    /// `abortSignal` are left to JavaScript). Throws `TypeError` / `RangeError` naming
    /// the field.
    #[napi(
        factory,
        ts_args_type = "options: TurnOptions & Record<string, unknown>"
    )]
    pub fn create(env: &Env, options: Unknown) -> napi::Result<Self> {
        guard(env, || {
            let obj = args::options_object("options", Some(options))?
                .ok_or_else(|| KeelError::invalid_type("options", "an object", "undefined"))?;
            let value = args::json_value("options", obj.to_unknown(), &JS_FIELDS, 0)?;
            let o = TurnOptions::from_value(value, "options").map_err(turn_err)?;
            let abort = TurnAbort::new();
            let runner = TurnRunner::new(o)
                .map_err(turn_err)?
                .abort_signal(abort.clone());
            Ok(TurnNative {
                runner: Mutex::new(Some(runner)),
                abort,
            })
        })
    }

    /// Abort the turn (idempotent; before `run` it ends the turn at once): its whole
    /// process tree is terminated and the session ends `zombie`.
    #[napi]
    pub fn abort(&self) {
        self.abort.abort();
    }

    /// Run the turn on keel's thread. `withEvents`: hand every event to `dispatch`.
    /// Once: a second call throws `KEEL_INVALID_ARGUMENT`.
    #[napi(
        ts_args_type = "withEvents: boolean, dispatch: (kind: 'event' | 'resolve' | 'reject', payload: string) => void"
    )]
    pub fn run(&self, env: &Env, with_events: bool, dispatch: Unknown) -> napi::Result<()> {
        guard(env, || {
            if dispatch.get_type()? != ValueType::Function {
                return Err(KeelError::invalid_type(
                    "dispatch",
                    "a function",
                    args::type_name(&dispatch)?,
                ));
            }
            let mut runner = self
                .runner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .ok_or_else(|| {
                    KeelError::new(
                        keel_core::codes::INVALID_ARGUMENT,
                        "this turn was already run",
                    )
                })?;
            // SAFETY: checked to be a function.
            let f: Function<'_, FnArgs<(&'static str, String)>, ()> = unsafe { dispatch.cast() }?;
            let tsfn: std::sync::Arc<Dispatch> =
                std::sync::Arc::new(f.build_threadsafe_function().build()?);
            if with_events {
                let events = tsfn.clone();
                runner = runner.on_event(move |e| {
                    if let Ok(json) = serde_json::to_string(e) {
                        events.call(
                            FnArgs::from(("event", json)),
                            ThreadsafeFunctionCallMode::NonBlocking,
                        );
                    }
                });
            }
            let secrets = runner.options().secrets.clone();
            runtime()?.spawn(async move {
                let (kind, payload) = match runner.run().await {
                    Ok(r) => match serde_json::to_string(&r) {
                        Ok(json) => ("resolve", json),
                        Err(e) => (
                            "reject",
                            serde_json::json!({"code": keel_core::codes::ENCODE, "message": e.to_string()})
                                .to_string(),
                        ),
                    },
                    Err(e) => {
                        let mut message = keel_core::redact::redact_secrets(&e.to_string());
                        for s in secrets.iter().filter(|s| !s.is_empty()) {
                            message = message.replace(s.as_str(), "***");
                        }
                        (
                            "reject",
                            serde_json::json!({"code": e.code(), "message": message}).to_string(),
                        )
                    }
                };
                tsfn.call(
                    FnArgs::from((kind, payload)),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
                // The runner (and with it the event callback's clone) is gone; dropping the
                // last clone releases the threadsafe function once its queue is empty.
                drop(tsfn);
            });
            Ok(())
        })
    }
}

/// The native half of `turnSession` (`node/turns.js`): an agent's durable session as
/// JSON text, or `null` when it never ran, from `<stateDir>/turns.db` (or `dbPath`).
#[napi(
    js_name = "turnSessionNative",
    ts_args_type = "stateDir: string, agentName: string, dbPath?: string",
    ts_return_type = "string | null"
)]
pub fn turn_session(
    env: &Env,
    state_dir: Unknown,
    agent_name: Unknown,
    db_path: Option<Unknown>,
) -> napi::Result<Option<String>> {
    guard(env, || {
        let dir = args::string("stateDir", state_dir)?;
        let agent = args::string("agentName", agent_name)?;
        let db = match args::present(db_path)? {
            Some(v) => Some(args::string("dbPath", v)?),
            None => None,
        };
        if agent.is_empty() {
            return Err(KeelError::type_error(
                keel_core::codes::INVALID_ARGUMENT,
                "agentName is empty",
            ));
        }
        let path = match db {
            Some(p) if p.is_empty() => {
                return Err(KeelError::type_error(
                    keel_core::codes::INVALID_ARGUMENT,
                    "dbPath is empty",
                ))
            }
            Some(p) => std::path::PathBuf::from(p),
            None if dir.is_empty() => {
                return Err(KeelError::type_error(
                    keel_core::codes::INVALID_ARGUMENT,
                    "stateDir is empty",
                ))
            }
            None => std::path::Path::new(&dir).join("turns.db"),
        };
        if !path.exists() {
            return Ok(None);
        }
        let session = Store::open(&path)
            .map_err(turn_err)?
            .get_session(&agent)
            .map_err(turn_err)?;
        match session {
            None => Ok(None),
            Some(s) => serde_json::to_string(&s)
                .map(Some)
                .map_err(|e| KeelError::new(keel_core::codes::ENCODE, e.to_string())),
        }
    })
}
