//! keel's job HTTP server — `keel serve`, and a library for hosts that embed it.
//!
//! Wire-compatible with the executor harness's `server.ts`:
//!
//! * `GET /health` → `{status, version, capabilities, kinds}` (never needs the secret);
//! * `POST /jobs` `{kind, jobId, …}` → `202 {jobId, state}`, idempotent by `jobId`
//!   (a re-dispatched POST re-attaches); an unknown kind is `404`, a bad body `400` with
//!   a redacted message that never echoes a value of the body;
//! * `GET /jobs/{id}` → the job's `JobView` (drain-on-read spans, follow-ups, metrics);
//! * `DELETE /jobs/{id}` → abort; `200 {jobId, state}` with the state the job actually
//!   reached within the settle window; `404` for an unknown id;
//! * with a shared secret (`HARNESS_SHARED_SECRET`), every other request must carry it in
//!   `x-harness-secret` (constant-time comparison) or gets `401`.
//!
//! keel adds `GET /metrics` (Prometheus text), `GET /openapi.json` (every route, with
//! schemas), `GET /managed-processes` (ETag / `If-None-Match` → `304`) when a services
//! source is configured, bounded bodies (`413`), request timeouts (`408`), a cap on open
//! connections, and a graceful shutdown on SIGTERM/SIGINT that aborts running jobs and
//! waits (bounded) for them to settle — without polling. Error bodies are the
//! reference's `{error}` plus keel's stable `code`.
//!
//! Job kinds are a registry ([`kinds`]): `command` (a supervised program) and `turn` (one
//! agent-CLI turn) ship with keel; a host adds its own with [`ServerBuilder::kind`].
//!
//! ```
//! use keel_core::jobs::RegistryOptions;
//! use keel_server::{Server, ServerOptions};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let mut options = ServerOptions::default();
//! options.port = 0; // any free port
//! let server = Server::builder(options)
//!     .default_kinds(&RegistryOptions::default())?
//!     .bind()
//!     .await?;
//! let addr = server.local_addr();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let task = tokio::spawn(server.run_until(async move { let _ = stopped.await; }));
//! assert!(addr.port() > 0);
//! stop.send(()).unwrap();
//! task.await.unwrap()?;
//! # Ok::<(), keel_server::ServerError>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod app;
mod error;
pub mod kinds;
mod managed;
mod metrics;
mod openapi;
mod options;

pub use app::{Server, ServerBuilder, SECRET_HEADER};
pub use error::{sample_codes, ServerError};
pub use managed::{ManagedError, ManagedList, ManagedProcesses, StateDirServices};
pub use openapi::OPENAPI_JSON;
pub use options::{
    ServerOptions, DEFAULT_BIND_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PORT, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SHUTDOWN_GRACE_MS, ENV_BIND_HOST, ENV_PORT,
    ENV_SHARED_SECRET,
};
