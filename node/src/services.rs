//! Managed services for Node: the native half of `services.js` (minions'
//! `engine/processes/managed-spawn.js` drop-ins) over `keel_core::services`.
//!
//! Thin: the options are core's `ServicesOptions` / `ValidateOptions` / `Owner` (through
//! `args::options_as`, so Node and C accept and refuse the same objects with the same
//! wording); records and specs cross as JSON text (`JSON.stringify` on the way in, so
//! the validator sees exactly what minions' validator sees: `undefined` properties are
//! absent). Reads (validate, list, records, ETag, prompt block) are synchronous like
//! minions'; everything that spawns, probes or kills runs on a keel thread and answers
//! through one threadsafe function, which keeps Node alive only while the call runs.

use std::sync::{Arc, OnceLock};

use keel_core::jobs::JobRuntime;
use keel_core::services::{
    self as core, Healthcheck, ManagedSpec, Owner, Services, ServicesError, ServicesOptions,
    ValidateOptions,
};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Status, ValueType};
use napi_derive::napi;
use serde_json::Value;

use crate::args;
use crate::error::{guard, KeelError, Result};

/// `done(kind, payload)`: `kind` is `resolve` (payload: the answer as JSON text) or
/// `reject` (payload: `{code, message}`).
type Done = ThreadsafeFunction<
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
    RT.get_or_init(|| JobRuntime::new("keel-node-services").map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| {
            KeelError::new(
                keel_core::codes::INTERNAL,
                format!("cannot start keel's services thread: {e}"),
            )
        })
}

/// A core error as Node throws it (an options error as every other surface's options
/// errors: `TypeError` / `RangeError`).
fn svc_err(e: ServicesError) -> KeelError {
    match e {
        ServicesError::Options(o) => args::options_error(o),
        e => KeelError::new(e.code(), keel_core::redact::redact_secrets(&e.to_string())),
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| KeelError::new(keel_core::codes::ENCODE, e.to_string()))
}

/// JSON text from the JS glue (always `JSON.stringify` output, so a parse failure is a
/// bug or a hostile direct caller).
fn json_arg(what: &str, v: Unknown<'_>) -> Result<Value> {
    let text = args::string(what, v)?;
    serde_json::from_str(&text).map_err(|e| {
        KeelError::type_error(
            keel_core::codes::INVALID_ARGUMENT,
            format!("{what} is not JSON text ({e})"),
        )
    })
}

/// An optional project name (`undefined`/`null`/`""`: every project).
fn project_arg(v: Option<Unknown<'_>>) -> Result<Option<String>> {
    match args::present(v)? {
        None => Ok(None),
        Some(v) => Ok(Some(args::string("project", v)?).filter(|p| !p.is_empty())),
    }
}

fn healthcheck(what: &str, v: Value) -> std::result::Result<Healthcheck, KeelError> {
    serde_json::from_value(v).map_err(|e| {
        KeelError::type_error(
            keel_core::codes::INVALID_ARGUMENT,
            format!("{what} is not a valid healthcheck ({e})"),
        )
    })
}

/// One operation of [`ServicesNative::call`], its arguments converted.
enum Op {
    Spawn(Box<ManagedSpec>, Owner),
    Up(Value, Owner),
    Sweep,
    BootReconcile,
    Restart(String),
    RestartAndWait(String),
    Remove(String),
    RemoveProject(String),
    RunHealthcheck(Healthcheck),
    WaitForFirstHealth(String, Healthcheck),
}

async fn run_op(svc: Services, op: Op) -> std::result::Result<String, ServicesError> {
    let enc = |r: std::result::Result<String, serde_json::Error>| {
        r.map_err(|e| ServicesError::InvalidSpec {
            reason: format!("cannot encode the answer ({e})"),
        })
    };
    match op {
        Op::Spawn(spec, owner) => enc(serde_json::to_string(&svc.spawn(&spec, &owner).await?)),
        Op::Up(value, owner) => enc(serde_json::to_string(&svc.up(&value, &owner).await?)),
        Op::Sweep => enc(serde_json::to_string(&svc.sweep().await?)),
        Op::BootReconcile => enc(serde_json::to_string(&svc.boot_reconcile().await?)),
        Op::Restart(name) => enc(serde_json::to_string(&svc.restart(&name).await?)),
        Op::RestartAndWait(name) => enc(serde_json::to_string(&svc.restart_and_wait(&name).await?)),
        Op::Remove(name) => enc(serde_json::to_string(&svc.remove(&name).await?)),
        Op::RemoveProject(p) => enc(serde_json::to_string(&svc.remove_project(&p).await?)),
        Op::RunHealthcheck(hc) => enc(serde_json::to_string(&core::run_healthcheck(&hc).await)),
        Op::WaitForFirstHealth(name, hc) => enc(serde_json::to_string(
            &svc.wait_for_first_health(&name, &hc).await,
        )),
    }
}

/// Managed services over one state directory (the native half of `services.js`).
/// Not part of the package's API: use `createManagedSpawn` or the minions-named
/// functions.
#[napi(js_name = "ServicesNative")]
pub struct ServicesNative {
    svc: Services,
}

#[napi]
impl ServicesNative {
    /// Services in `stateDir` (`<stateDir>/managed-processes.json`,
    /// `<stateDir>/managed-logs/`) with `options` (core's `ServicesOptions`; nullish for
    /// the defaults). Touches no file.
    #[napi(
        constructor,
        ts_args_type = "stateDir: string, options?: Partial<ServicesOptions> | null"
    )]
    pub fn new(env: &Env, state_dir: Unknown, options: Option<Unknown>) -> napi::Result<Self> {
        guard(env, || {
            let dir = args::string("stateDir", state_dir)?;
            if dir.is_empty() {
                return Err(KeelError::type_error(
                    keel_core::codes::INVALID_ARGUMENT,
                    "stateDir is empty",
                ));
            }
            let o: ServicesOptions = args::options_as("options", options, &[])?;
            let svc = Services::new(dir, o).map_err(svc_err)?;
            Ok(ServicesNative { svc })
        })
    }

    /// `<stateDir>/managed-processes.json`.
    #[napi(getter)]
    pub fn state_path(&self) -> String {
        self.svc.state_path().to_string_lossy().into_owned()
    }

    /// `<stateDir>/managed-logs`.
    #[napi(getter)]
    pub fn logs_dir(&self) -> String {
        self.svc.logs_dir().to_string_lossy().into_owned()
    }

    /// The options in force, as JSON text.
    #[napi]
    pub fn options_json(&self, env: &Env) -> napi::Result<String> {
        guard(env, || encode(self.svc.options()))
    }

    /// `validateManagedSpawnRecord`: `recordJson` is the record as JSON text; the answer
    /// (JSON text) is `{ok, reason}` or `{ok, value}`.
    #[napi(ts_args_type = "recordJson: string, options?: ValidateOptions | null")]
    pub fn validate(
        &self,
        env: &Env,
        record_json: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<String> {
        guard(env, || {
            let value = json_arg("recordJson", record_json)?;
            let o: ValidateOptions = args::options_as("options", options, &[])?;
            encode(&self.svc.validate(&value, &o))
        })
    }

    /// `validateManagedSpecName`: `nameJson` is the name as JSON text (any JSON value).
    #[napi(ts_args_type = "nameJson: string")]
    pub fn validate_name(&self, env: &Env, name_json: Unknown) -> napi::Result<String> {
        guard(env, || {
            let value = json_arg("nameJson", name_json)?;
            encode(&core::validate_name(Some(&value), self.svc.options()))
        })
    }

    /// The records of `managed-processes.json` as stored (minions' `listManagedSpecs`),
    /// optionally one project's, as JSON text.
    #[napi(ts_args_type = "project?: string | null")]
    pub fn records(&self, env: &Env, project: Option<Unknown>) -> napi::Result<String> {
        guard(env, || {
            let p = project_arg(project)?;
            encode(&self.svc.records(p.as_deref()).map_err(svc_err)?)
        })
    }

    /// The list view (`GET /managed-processes`): `{etag, services}` as JSON text.
    #[napi(ts_args_type = "project?: string | null")]
    pub fn list(&self, env: &Env, project: Option<Unknown>) -> napi::Result<String> {
        guard(env, || {
            let p = project_arg(project)?;
            let services = self.svc.list(p.as_deref()).map_err(svc_err)?;
            let etag = self.svc.etag(p.as_deref()).map_err(svc_err)?;
            encode(&serde_json::json!({"etag": etag, "services": services}))
        })
    }

    /// `computeManagedSpecsEtag`.
    #[napi(ts_args_type = "project?: string | null")]
    pub fn etag(&self, env: &Env, project: Option<Unknown>) -> napi::Result<String> {
        guard(env, || {
            let p = project_arg(project)?;
            self.svc.etag(p.as_deref()).map_err(svc_err)
        })
    }

    /// `buildLiveManagedProcessesBlock` (`""` when the project has no live healthy
    /// service or the state cannot be read).
    #[napi(ts_args_type = "project: string, dashboardPort?: number | null")]
    pub fn live_block(
        &self,
        env: &Env,
        project: Unknown,
        dashboard_port: Option<Unknown>,
    ) -> napi::Result<String> {
        guard(env, || {
            let project = args::string("project", project)?;
            let port = match args::present(dashboard_port)? {
                Some(v) => args::u32_arg("dashboardPort", v)?,
                None => 0,
            };
            let port = u16::try_from(port).ok().filter(|p| *p > 0).unwrap_or(7331);
            Ok(self.svc.live_block(&project, port))
        })
    }

    /// Run one operation on keel's thread; `done('resolve', json)` or
    /// `done('reject', '{"code","message"}')`. `argsJson` is a JSON array: `spawn`
    /// `[spec, owner]`, `up` `[record, validateOptions, owner]` (the record is
    /// validated first), `sweep` `[]`, `bootReconcile` `[]`, `restart` `[name]`,
    /// `restartAndWait` `[name]`, `remove` `[name]`, `removeProject` `[project]`,
    /// `runHealthcheck` `[healthcheck]`, `waitForFirstHealth` `[name, healthcheck]`.
    #[napi(
        ts_args_type = "op: string, argsJson: string, done: (kind: 'resolve' | 'reject', payload: string) => void"
    )]
    pub fn call(
        &self,
        env: &Env,
        op: Unknown,
        args_json: Unknown,
        done: Unknown,
    ) -> napi::Result<()> {
        guard(env, || {
            if done.get_type()? != ValueType::Function {
                return Err(KeelError::invalid_type(
                    "done",
                    "a function",
                    args::type_name(&done)?,
                ));
            }
            let op = args::string("op", op)?;
            let Value::Array(a) = json_arg("argsJson", args_json)? else {
                return Err(KeelError::type_error(
                    keel_core::codes::INVALID_ARGUMENT,
                    "argsJson is not a JSON array",
                ));
            };
            let op = self.op(&op, a)?;
            // SAFETY: checked to be a function.
            let f: Function<'_, FnArgs<(&'static str, String)>, ()> = unsafe { done.cast() }?;
            let tsfn: Arc<Done> = Arc::new(f.build_threadsafe_function().build()?);
            let svc = self.svc.clone();
            runtime()?.spawn(async move {
                let (kind, payload) = match run_op(svc, op).await {
                    Ok(json) => ("resolve", json),
                    Err(e) => {
                        let (code, message) = match e {
                            ServicesError::Options(o) => {
                                (keel_core::codes::INVALID_OPTION, o.to_string())
                            }
                            e => (e.code(), e.to_string()),
                        };
                        let message = keel_core::redact::redact_secrets(&message);
                        (
                            "reject",
                            serde_json::json!({"code": code, "message": message}).to_string(),
                        )
                    }
                };
                tsfn.call(
                    FnArgs::from((kind, payload)),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
                drop(tsfn);
            });
            Ok(())
        })
    }
}

impl ServicesNative {
    fn op(&self, op: &str, a: Vec<Value>) -> Result<Op> {
        let mut it = a.into_iter();
        let mut next = || it.next().unwrap_or(Value::Null);
        let owner = |v: Value| -> Result<Owner> {
            if v.is_null() {
                return Ok(Owner::default());
            }
            keel_core::options::from_value(v, "owner").map_err(args::options_error)
        };
        let name = |v: Value, what: &str| -> Result<String> {
            match v {
                Value::String(s) if !s.is_empty() => Ok(s),
                _ => Err(KeelError::type_error(
                    keel_core::codes::INVALID_ARGUMENT,
                    format!("{what} must be a non-empty string"),
                )),
            }
        };
        Ok(match op {
            "spawn" => {
                let spec = next();
                if !spec.is_object() {
                    return Err(KeelError::type_error(
                        keel_core::codes::INVALID_ARGUMENT,
                        "spawnManagedSpec: spec required",
                    ));
                }
                let parsed = core::specs_of(&serde_json::json!({ "specs": [spec] }));
                let Some(spec) = parsed.into_iter().next() else {
                    return Err(KeelError::type_error(
                        keel_core::codes::INVALID_ARGUMENT,
                        "spawnManagedSpec: spec is not a validated managed spec (validate it with validateManagedSpawnRecord first)",
                    ));
                };
                Op::Spawn(Box::new(spec), owner(next())?)
            }
            "up" => {
                let record = next();
                let vo: ValidateOptions = match next() {
                    Value::Null => ValidateOptions::default(),
                    v => keel_core::options::from_value(v, "validateOptions")
                        .map_err(args::options_error)?,
                };
                let v = self.svc.validate(&record, &vo);
                let Some(value) = v.value.filter(|_| v.ok) else {
                    return Err(KeelError::new(
                        keel_core::codes::SERVICE_SPEC_INVALID,
                        format!(
                            "invalid managed-spawn spec: {}",
                            v.reason.unwrap_or_default()
                        ),
                    ));
                };
                Op::Up(value, owner(next())?)
            }
            "sweep" => Op::Sweep,
            "bootReconcile" => Op::BootReconcile,
            "restart" => Op::Restart(name(next(), "name")?),
            "restartAndWait" => Op::RestartAndWait(name(next(), "name")?),
            "remove" => Op::Remove(name(next(), "name")?),
            "removeProject" => Op::RemoveProject(name(next(), "project")?),
            "runHealthcheck" => Op::RunHealthcheck(healthcheck("healthcheck", next())?),
            "waitForFirstHealth" => {
                let n = name(next(), "name")?;
                Op::WaitForFirstHealth(n, healthcheck("healthcheck", next())?)
            }
            other => {
                return Err(KeelError::type_error(
                    keel_core::codes::INVALID_ARGUMENT,
                    format!(
                        "unknown services operation {:?}",
                        other.chars().take(40).collect::<String>()
                    ),
                ))
            }
        })
    }
}
