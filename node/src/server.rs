//! The job HTTP server for Node hosts: the native half of `serveJobs` (`node/jobs.js`),
//! over `keel_server`. A host's own kinds are its `JobRegistry` instances: `POST /jobs`
//! with `{kind, jobId, …}` starts the job through the registry's JavaScript `start`
//! (on the JavaScript thread, so the host's work function runs as it does for a local
//! `start`), and `GET` / `DELETE /jobs/{id}`, the metrics and the shutdown read and abort
//! the registry's core half directly, on keel's thread. The routes, status codes,
//! shared-secret check, body limits and error bodies are the server crate's, the same as
//! `keel serve`.

use std::collections::HashSet;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use keel_core::jobs::{JobRegistry as CoreRegistry, JobState, RegistryOptions};
use keel_server::kinds::{take_job_id, BoxFuture, JobKind, KindError, StateCounts};
use keel_server::{Server, ServerOptions};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Status, ValueType};
use napi_derive::napi;
use serde_json::{Map, Value};

use crate::args;
use crate::error::{guard, KeelError};
use crate::jobs::JobRegistryNative;

/// How long `POST /jobs` waits for the JavaScript thread to start a job.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// `start(id, bodyJson)` → the job's view as JSON text, or `null` when `start` threw.
type StartFn = ThreadsafeFunction<
    FnArgs<(String, String)>,
    Option<String>,
    FnArgs<(String, String)>,
    Status,
    false,
    true,
    0,
>;

/// `done(kind, payload)`: `listening` (payload: `{host, port}`), `closed` (`null`) or
/// `error` (`{code, message}`).
type Done = ThreadsafeFunction<
    FnArgs<(&'static str, String)>,
    (),
    FnArgs<(&'static str, String)>,
    Status,
    false,
    false,
    0,
>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A host kind: a Node `JobRegistry`.
struct JsKind {
    registry: Arc<CoreRegistry<(), Value>>,
    start: StartFn,
    ids: Mutex<HashSet<String>>,
}

impl JsKind {
    fn running(&self) -> Vec<String> {
        let ids: Vec<String> = lock(&self.ids).iter().cloned().collect();
        ids.into_iter()
            .filter(|id| self.registry.peek(id).map(|v| v.state) == Some(JobState::Running))
            .collect()
    }
}

impl JobKind for JsKind {
    fn start(
        &self,
        mut body: Map<String, Value>,
    ) -> std::result::Result<(String, JobState), KindError> {
        let id = take_job_id(&mut body)?;
        body.remove("kind");
        let text = Value::Object(body).to_string();
        let (tx, rx) = mpsc::sync_channel::<Option<String>>(1);
        let status = self.start.call_with_return_value(
            FnArgs::from((id.clone(), text)),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |ret: napi::Result<Option<String>>, _env| {
                let _ = tx.send(ret.ok().flatten());
                Ok(())
            },
        );
        let failed = || {
            KindError::new(
                keel_core::codes::INTERNAL,
                "the host's JobRegistry could not start the job (its start or describe threw, or Node is shutting down)",
            )
        };
        if status != Status::Ok {
            return Err(failed());
        }
        let reply = tokio::task::block_in_place(|| rx.recv_timeout(START_TIMEOUT));
        let view: Value = reply
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(failed)?;
        let state = match view.get("state").and_then(Value::as_str) {
            Some("done") => JobState::Done,
            Some("failed") => JobState::Failed,
            _ => JobState::Running,
        };
        lock(&self.ids).insert(id.clone());
        Ok((id, state))
    }

    fn get(&self, id: &str) -> Option<Vec<u8>> {
        let view = self.registry.get(id)?;
        serde_json::to_vec(&view).ok()
    }

    fn abort<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<JobState>> {
        Box::pin(self.registry.abort(id, "aborted by DELETE /jobs"))
    }

    fn counts(&self) -> StateCounts {
        let mut c = StateCounts::default();
        let mut ids = lock(&self.ids);
        ids.retain(|id| match self.registry.peek(id).map(|v| v.state) {
            Some(JobState::Running) => {
                c.running += 1;
                true
            }
            Some(JobState::Done) => {
                c.done += 1;
                true
            }
            Some(JobState::Failed) => {
                c.failed += 1;
                true
            }
            None => false,
        });
        c
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let running = self.running();
            let waits = running
                .iter()
                .map(|id| self.registry.abort(id, "server shutting down"));
            futures_util::future::join_all(waits).await;
        })
    }
}

/// A running job server (the native half of `serveJobs`' answer).
#[napi(js_name = "JobServerNative")]
pub struct JobServerNative {
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

#[napi]
impl JobServerNative {
    /// Stop accepting, abort running jobs, wait (bounded) for them; `done('closed')`
    /// follows. Idempotent.
    #[napi]
    pub fn close(&self) {
        if let Some(tx) = lock(&self.stop).take() {
            let _ = tx.send(());
        }
    }
}

/// The native half of `serveJobs` (`node/jobs.js`): `options` is core's
/// `ServerOptions`; `kinds` an array of `[name, JobRegistryNative, start]`;
/// `defaultKinds` adds keel's `command` and `turn` kinds (with `limits`, a
/// `RegistryOptions`). Binds on keel's thread and reports through `done`.
#[napi(
    ts_args_type = "options: Record<string, unknown> | null, kinds: Array<[string, JobRegistryNative, (id: string, bodyJson: string) => string | null]>, defaultKinds: boolean, limits: RegistryOptions | null, done: (kind: 'listening' | 'closed' | 'error', payload: string) => void"
)]
pub fn serve_jobs_native(
    env: &Env,
    options: Option<Unknown>,
    kinds: Unknown,
    default_kinds: bool,
    limits: Option<Unknown>,
    done: Unknown,
) -> napi::Result<JobServerNative> {
    guard(env, || {
        let o: ServerOptions = args::options_as("options", options, &[])?;
        let limits: RegistryOptions = args::options_as("limits", limits, &[])?;
        if done.get_type()? != ValueType::Function {
            return Err(KeelError::invalid_type(
                "done",
                "a function",
                args::type_name(&done)?,
            ));
        }
        let mut js_kinds = Vec::new();
        let entries = args::array("kinds", kinds, |what, v| Ok((what.to_owned(), v)))?;
        for (what, entry) in entries {
            let parts = args::array(&what, entry, |w, v| Ok((w.to_owned(), v)))?;
            let [(nw, name), (rw, reg), (sw, start)]: [(String, Unknown); 3] =
                parts.try_into().map_err(|_| {
                    KeelError::type_error(
                        keel_core::codes::INVALID_ARGUMENT,
                        format!("{what} must be [name, registry, start]"),
                    )
                })?;
            let name = args::string(&nw, name)?;
            let reg = args::instance::<JobRegistryNative>(&rw, "a JobRegistry", reg)?;
            if start.get_type()? != ValueType::Function {
                return Err(KeelError::invalid_type(
                    &sw,
                    "a function",
                    args::type_name(&start)?,
                ));
            }
            // SAFETY: checked to be a function.
            let f: Function<'_, FnArgs<(String, String)>, Option<String>> =
                unsafe { start.cast() }?;
            let start: StartFn = f.build_threadsafe_function().weak::<true>().build()?;
            js_kinds.push((
                name,
                JsKind {
                    registry: reg.core(),
                    start,
                    ids: Mutex::new(HashSet::new()),
                },
            ));
        }
        // SAFETY: checked to be a function.
        let f: Function<'_, FnArgs<(&'static str, String)>, ()> = unsafe { done.cast() }?;
        let done: Arc<Done> = Arc::new(f.build_threadsafe_function().build()?);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keel-node-serve")
            .enable_all()
            .build()
            .map_err(|e| {
                KeelError::new(
                    keel_core::codes::INTERNAL,
                    format!("cannot start keel's server threads: {e}"),
                )
            })?;
        // keel's default kinds build their registries on this runtime.
        let guard = rt.enter();
        let mut builder = Server::builder(o);
        if default_kinds {
            builder = builder
                .default_kinds(&limits)
                .map_err(|e| KeelError::new(e.code(), e.to_string()))?;
        }
        for (name, kind) in js_kinds {
            builder = builder
                .kind(&name, kind)
                .map_err(|e| KeelError::new(e.code(), e.to_string()))?;
        }
        drop(guard);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("keel-node-serve".into())
            .spawn(move || {
                let report = |kind: &'static str, payload: String| {
                    done.call(FnArgs::from((kind, payload)), ThreadsafeFunctionCallMode::NonBlocking);
                };
                let err = |e: keel_server::ServerError| {
                    serde_json::json!({"code": e.code(), "message": keel_core::redact::redact_secrets(&e.to_string())})
                        .to_string()
                };
                rt.block_on(async move {
                    match builder.bind().await {
                        Err(e) => report("error", err(e)),
                        Ok(server) => {
                            let addr = server.local_addr();
                            report(
                                "listening",
                                serde_json::json!({"host": addr.ip().to_string(), "port": addr.port()})
                                    .to_string(),
                            );
                            let r = server
                                .run_until(async move {
                                    let _ = stop_rx.await;
                                })
                                .await;
                            match r {
                                Ok(()) => report("closed", "null".into()),
                                Err(e) => report("error", err(e)),
                            }
                        }
                    }
                });
            })
            .map_err(|e| {
                KeelError::new(
                    keel_core::codes::INTERNAL,
                    format!("cannot start keel's server thread: {e}"),
                )
            })?;
        Ok(JobServerNative {
            stop: Mutex::new(Some(stop_tx)),
        })
    })
}
