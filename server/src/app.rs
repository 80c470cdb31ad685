//! The HTTP surface: routes, auth, limits, metrics and shutdown, on plain hyper
//! (HTTP/1.1): one task per connection holding a permit of the connection cap, routes
//! matched by hand on method and path, constant bodies serialized once at bind.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use keel_core::codes;
use keel_core::jobs::RegistryOptions;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use zeroize::Zeroizing;

use crate::kinds::{command_kind, turn_kind, valid_job_id, JobKind};
use crate::managed::ManagedProcesses;
use crate::metrics::{escape_label, Metrics, Route};

/// Every answer is a whole body in memory.
pub(crate) type Body = Full<Bytes>;
/// An answer.
pub(crate) type Resp = Response<Body>;
type Req = Request<Incoming>;
use crate::{ServerError, ServerOptions};

/// The header carrying the shared secret (the reference's name).
pub const SECRET_HEADER: &str = "x-harness-secret";

/// What the server advertises in `GET /health` `capabilities`.
const CAPABILITIES: &[&str] = &["jobs", "jobs.abort", "metrics", "openapi"];

struct AppState {
    kinds: Vec<(String, Arc<dyn JobKind>)>,
    by_name: HashMap<String, usize>,
    secret: Option<Zeroizing<Vec<u8>>>,
    metrics: Metrics,
    max_body: usize,
    timeout: Duration,
    health: Bytes,
    shutting_down: AtomicBool,
    connections: Arc<Semaphore>,
    max_connections: usize,
    managed: Option<Arc<dyn ManagedProcesses>>,
    openapi: Bytes,
    /// Pre-serialized constant error bodies.
    unauthorized: Bytes,
    not_found: Bytes,
    job_not_found: Bytes,
    method_not_allowed: Bytes,
}

/// Builds a [`Server`]: options, job kinds, optional services source.
pub struct ServerBuilder {
    options: ServerOptions,
    kinds: Vec<(String, Arc<dyn JobKind>)>,
    managed: Option<Arc<dyn ManagedProcesses>>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("options", &self.options)
            .field(
                "kinds",
                &self
                    .kinds
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn simple_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl ServerBuilder {
    /// Register a job kind under `name` (`POST /jobs` with `"kind": name`).
    pub fn kind(mut self, name: &str, kind: impl JobKind) -> Result<Self, ServerError> {
        self.kinds_arc(name, Arc::new(kind))?;
        Ok(self)
    }

    fn kinds_arc(&mut self, name: &str, kind: Arc<dyn JobKind>) -> Result<(), ServerError> {
        if !simple_name(name) || self.kinds.iter().any(|(n, _)| n == name) {
            return Err(ServerError::KindName(name.chars().take(64).collect()));
        }
        self.kinds.push((name.to_owned(), kind));
        Ok(())
    }

    /// Register keel's own kinds, `command` and `turn`, with registry limits `limits`
    /// (for the reference's environment: `RunnerLimits::from_env()`). Must be called
    /// inside a tokio runtime.
    pub fn default_kinds(mut self, limits: &RegistryOptions) -> Result<Self, ServerError> {
        let kind_err = |kind: &str| {
            let kind = kind.to_owned();
            move |source| ServerError::Kind { kind, source }
        };
        let command = command_kind(limits).map_err(kind_err("command"))?;
        self.kinds_arc("command", Arc::new(command))?;
        let turn = turn_kind(limits).map_err(kind_err("turn"))?;
        self.kinds_arc("turn", Arc::new(turn))?;
        Ok(self)
    }

    /// Serve `GET /managed-processes` from `source`.
    pub fn managed_processes(mut self, source: impl ManagedProcesses) -> Self {
        self.managed = Some(Arc::new(source));
        self
    }

    /// Bind the listening socket (port `0`: any free port).
    pub async fn bind(self) -> Result<Server, ServerError> {
        let o = self.options;
        o.validate()?;
        let addr = o.socket_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Io {
            what: "reading the bound address",
            source,
        })?;
        let mut capabilities: Vec<&str> = CAPABILITIES.to_vec();
        if self.managed.is_some() {
            capabilities.push("managed-processes");
        }
        let kind_names: Vec<&str> = self.kinds.iter().map(|(n, _)| n.as_str()).collect();
        let health = serde_json::to_vec(&json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "capabilities": capabilities,
            "kinds": kind_names,
        }))
        .expect("health JSON");
        let by_name = self
            .kinds
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        let state = Arc::new(AppState {
            kinds: self.kinds,
            by_name,
            secret: o
                .shared_secret
                .as_ref()
                .map(|s| Zeroizing::new(s.as_bytes().to_vec())),
            metrics: Metrics::default(),
            max_body: o.max_body_bytes,
            timeout: o.request_timeout(),
            health: Bytes::from(health),
            shutting_down: AtomicBool::new(false),
            connections: Arc::new(Semaphore::new(o.max_connections)),
            max_connections: o.max_connections,
            openapi: Bytes::from(crate::openapi::document(self.managed.is_some())),
            managed: self.managed,
            unauthorized: error_body(codes::SERVER_UNAUTHORIZED, "unauthorized"),
            not_found: error_body(codes::SERVER_NOT_FOUND, "not found"),
            job_not_found: error_body(codes::SERVER_NOT_FOUND, "job not found"),
            method_not_allowed: error_body(codes::INVALID_ARGUMENT, "method not allowed"),
        });
        Ok(Server {
            listener,
            local_addr,
            state,
            grace: o.shutdown_grace(),
        })
    }
}

/// A bound job server. [`run`](Server::run) serves until SIGTERM/SIGINT;
/// [`run_until`](Server::run_until) until a future of the caller's resolves.
///
/// ```no_run
/// use keel_server::{Server, ServerOptions};
/// use keel_core::jobs::RegistryOptions;
///
/// # async fn demo() -> Result<(), keel_server::ServerError> {
/// let server = Server::builder(ServerOptions::from_env()?)
///     .default_kinds(&RegistryOptions::default())?
///     .bind()
///     .await?;
/// println!("listening on {}", server.local_addr());
/// server.run().await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    grace: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with these options and no job kinds.
    pub fn builder(options: ServerOptions) -> ServerBuilder {
        ServerBuilder {
            options,
            kinds: Vec::new(),
            managed: None,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serve until SIGTERM or SIGINT, then shut down (see [`run_until`](Self::run_until)).
    pub async fn run(self) -> Result<(), ServerError> {
        let signal = shutdown_signal()?;
        self.run_until(signal).await
    }

    /// Serve until `shutdown` resolves, then: refuse new jobs (`503`), abort every
    /// running job and wait — bounded by the shutdown grace — for them to settle (each
    /// abort resolves when its job settles; nothing polls), then stop accepting, let
    /// in-flight requests finish (bounded by the request timeout) and return.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let state = self.state.clone();
        // RUNNING, then GRACEFUL (finish in-flight requests, close), then HARD (drop
        // the connections still open after the drain window).
        let (stop_tx, stop_rx) = watch::channel(RUNNING);
        let mut serve = tokio::spawn(accept_loop(self.listener, state.clone(), stop_rx));
        tokio::select! {
            _ = shutdown => {}
            r = &mut serve => {
                // The accept loop ended by itself (it does not, short of a panic).
                return r.map_err(|e| ServerError::Io {
                    what: "serving",
                    source: std::io::Error::other(e.to_string()),
                });
            }
        }
        tracing::info!("shutting down: aborting running jobs");
        state.shutting_down.store(true, Ordering::SeqCst);
        let settle = futures_util::future::join_all(state.kinds.iter().map(|(_, k)| k.shutdown()));
        if tokio::time::timeout(self.grace, settle).await.is_err() {
            tracing::warn!(
                grace_ms = self.grace.as_millis() as u64,
                "jobs did not settle within the shutdown grace"
            );
        }
        let _ = stop_tx.send(GRACEFUL);
        // The accept loop returns at once, closing the listener.
        let _ = serve.await;
        // Every open connection holds a permit: all of them back means all closed.
        let drain = state.timeout + Duration::from_secs(1);
        let all = state.max_connections.min(u32::MAX as usize) as u32;
        if tokio::time::timeout(drain, state.connections.acquire_many(all))
            .await
            .is_err()
        {
            let _ = stop_tx.send(HARD);
        }
        Ok(())
    }
}

const RUNNING: u8 = 0;
const GRACEFUL: u8 = 1;
const HARD: u8 = 2;

/// Accept connections while holding one semaphore permit per open connection: at most
/// `max_connections` are served at once, further ones wait in the listen backlog.
/// Returns (dropping the listener) once `stop` leaves `RUNNING`.
async fn accept_loop(listener: TcpListener, state: Arc<AppState>, mut stop: watch::Receiver<u8>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // Small whole bodies: one flattened write per answer beats a writev of two iovecs.
    http.keep_alive(true).writev(false);
    loop {
        let permit = tokio::select! {
            p = state.connections.clone().acquire_owned() => {
                p.expect("the connection semaphore is never closed")
            }
            _ = stop.changed() => return,
        };
        let stream = loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, _)) => break stream,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = stop.changed() => return,
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let mut stop = stop.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let mut conn = pin!(http.serve_connection(TokioIo::new(stream), service));
            let mut graceful = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => return,
                    changed = stop.changed() => {
                        let level = if changed.is_err() { HARD } else { *stop.borrow_and_update() };
                        if level >= HARD && graceful {
                            return;
                        }
                        if !graceful {
                            conn.as_mut().graceful_shutdown();
                            graceful = true;
                        }
                        if changed.is_err() {
                            // The server is gone: finish this connection gracefully.
                            let _ = conn.as_mut().await;
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// Resolves on the first SIGTERM or SIGINT.
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, ServerError> {
    use tokio::signal::unix::{signal, SignalKind};
    let io = |source| ServerError::Io {
        what: "installing the SIGTERM/SIGINT handlers",
        source,
    };
    let mut term = signal(SignalKind::terminate()).map_err(io)?;
    let mut int = signal(SignalKind::interrupt()).map_err(io)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// `{"error": message, "code": code}` (the reference's `{error}` plus keel's code).
fn error_body(code: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::to_vec(&json!({ "error": message, "code": code })).expect("error JSON"))
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Resp {
    json_response(status, error_body(code, message))
}

fn authorized(state: &AppState, req: &Req) -> bool {
    let Some(want) = &state.secret else {
        return true;
    };
    let got = req
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    // Length first (the reference's rule), then a constant-time comparison.
    got.len() == want.len() && bool::from(got.ct_eq(want.as_slice()))
}

/// Every request: the shared secret (all but `GET /health`), the request timeout (for
/// the methods whose handlers await: `POST`, `DELETE`), the route, and the request
/// metrics.
async fn handle(state: &AppState, req: Req) -> Resp {
    let started = Instant::now();
    let route = Route::of(req.uri().path());
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    let health = route == Route::Health && req.method() == Method::GET;
    let res = if !health && !authorized(state, &req) {
        let mut res = json_response(StatusCode::UNAUTHORIZED, state.unauthorized.clone());
        // As before (axum's method router wrapped the auth layer): a known route asked
        // with a method it does not answer also names the methods it does.
        if let Some(allow) = disallowed(state, route, &req) {
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        res
    } else if get {
        // Every GET handler answers from memory without awaiting anything (no body is
        // read), so the request timeout cannot fire: skip arming a timer per request.
        route_get(state, route, &req)
    } else {
        match tokio::time::timeout(state.timeout, route_other(state, route, req)).await {
            Ok(res) => res,
            Err(_) => error_response(
                StatusCode::REQUEST_TIMEOUT,
                codes::SERVER_TIMEOUT,
                "request timed out",
            ),
        }
    };
    state
        .metrics
        .record(route, res.status().as_u16(), started.elapsed());
    res
}

/// The id segment of `/jobs/{id}`: one non-empty path segment.
fn job_segment(path: &str) -> Option<&str> {
    let raw = path.strip_prefix("/jobs/")?;
    (!raw.is_empty() && !raw.contains('/')).then_some(raw)
}

/// When `req` names a route that does not answer its method: the `Allow` value.
fn disallowed(state: &AppState, route: Route, req: &Req) -> Option<&'static str> {
    let m = req.method();
    let get = m == Method::GET || m == Method::HEAD;
    match route {
        Route::Jobs => (m != Method::POST).then_some("POST"),
        Route::Job => (job_segment(req.uri().path()).is_some() && !get && m != Method::DELETE)
            .then_some("GET,HEAD,DELETE"),
        Route::Health | Route::Metrics | Route::OpenApi => (!get).then_some("GET,HEAD"),
        Route::ManagedProcesses => (state.managed.is_some() && !get).then_some("GET,HEAD"),
        Route::Other => None,
    }
}

/// `GET`/`HEAD` (hyper drops the body of a `HEAD` answer).
fn route_get(state: &AppState, route: Route, req: &Req) -> Resp {
    match route {
        Route::Health => json_response(StatusCode::OK, state.health.clone()),
        Route::Jobs => method_not_allowed(state, "POST"),
        Route::Job => match job_segment(req.uri().path()) {
            Some(raw) => get_job(state, raw),
            None => not_found(state),
        },
        Route::Metrics => metrics(state),
        Route::OpenApi => openapi(state),
        Route::ManagedProcesses if state.managed.is_some() => managed_processes(state, req),
        Route::ManagedProcesses | Route::Other => not_found(state),
    }
}

/// Every method but `GET`/`HEAD`.
async fn route_other(state: &AppState, route: Route, req: Req) -> Resp {
    const GET_HEAD: &str = "GET,HEAD";
    match route {
        Route::Jobs if req.method() == Method::POST => post_job(state, req).await,
        Route::Jobs => method_not_allowed(state, "POST"),
        Route::Job => match job_segment(req.uri().path()) {
            Some(raw) if req.method() == Method::DELETE => delete_job(state, raw).await,
            Some(_) => method_not_allowed(state, "GET,HEAD,DELETE"),
            None => not_found(state),
        },
        Route::Health | Route::Metrics | Route::OpenApi => method_not_allowed(state, GET_HEAD),
        Route::ManagedProcesses if state.managed.is_some() => method_not_allowed(state, GET_HEAD),
        Route::ManagedProcesses | Route::Other => not_found(state),
    }
}

fn not_found(state: &AppState) -> Resp {
    json_response(StatusCode::NOT_FOUND, state.not_found.clone())
}

fn method_not_allowed(state: &AppState, allow: &'static str) -> Resp {
    let mut res = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        state.method_not_allowed.clone(),
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// Every string value of a body at least this long is masked in an error about it (the
/// redactor's own floor for known secrets).
const MIN_MASK_LEN: usize = 6;

fn collect_leaves<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if s.len() >= MIN_MASK_LEN => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| collect_leaves(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_leaves(v, out)),
        _ => {}
    }
}

/// A 400 for a job body: the message redacted, and every string of the body masked.
fn bad_body(code: &str, message: &str, body: Option<&Value>) -> Resp {
    let mut msg = keel_core::redact::redact_secrets(message);
    if let Some(body) = body {
        let mut leaves = Vec::new();
        collect_leaves(body, &mut leaves);
        // Longest first, so a value that contains another is masked whole.
        leaves.sort_unstable_by_key(|s| std::cmp::Reverse(s.len()));
        for leaf in leaves {
            if msg.contains(leaf) {
                msg = msg.replace(leaf, "***");
            }
        }
    }
    error_response(StatusCode::BAD_REQUEST, code, &msg)
}

async fn read_body(state: &AppState, req: Req) -> Result<Bytes, Resp> {
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::SERVER_BODY_TOO_LARGE,
            &format!("request body is larger than {} bytes", state.max_body),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_body as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), state.max_body)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(error_response(
            StatusCode::BAD_REQUEST,
            codes::IO,
            "the request body could not be read",
        )),
    }
}

fn describe_kind(kind: Option<&Value>) -> String {
    match kind {
        Some(Value::String(k)) if simple_name(k) && keel_core::redact::redact_secrets(k) == *k => {
            format!("unknown job kind '{k}'")
        }
        Some(Value::String(k)) => format!("unknown job kind ({} characters)", k.chars().count()),
        None => "unknown job kind 'undefined'".to_owned(),
        Some(v) => format!("unknown job kind (a {})", keel_core::options::json_type(v)),
    }
}

/// JSON Schema (and JavaScript) count `5000.0` as the integer 5000; serde does not. Turn
/// every integral float of a body into that integer before a kind parses it.
fn integral_floats_to_integers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 {
                if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    *v = Value::from(f as u64);
                } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(o) => o.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

async fn post_job(state: &AppState, req: Req) -> Resp {
    if state.shutting_down.load(Ordering::Relaxed) {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::INVALID_ARGUMENT,
            "the server is shutting down",
        );
    }
    let bytes = match read_body(state, req).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return bad_body(
                codes::INVALID_JSON,
                &format!(
                    "body is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
                None,
            )
        }
    };
    let Value::Object(map) = value else {
        return bad_body(
            codes::INVALID_JSON,
            &format!(
                "body is {}, expected an object",
                keel_core::options::json_type(&value)
            ),
            None,
        );
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|k| state.by_name.get(k))
        .map(|&i| state.kinds[i].1.clone());
    let Some(kind) = kind else {
        return error_response(
            StatusCode::NOT_FOUND,
            codes::SERVER_NOT_FOUND,
            &describe_kind(map.get("kind")),
        );
    };
    let mut map = map;
    map.values_mut().for_each(integral_floats_to_integers);
    // Keep a copy only to mask its strings in an error message.
    let copy = Value::Object(map.clone());
    match kind.start(map) {
        Ok((job_id, st)) => {
            let body = serde_json::to_vec(&json!({ "jobId": job_id, "state": st.as_str() }))
                .expect("accepted JSON");
            json_response(StatusCode::ACCEPTED, body)
        }
        Err(e) => {
            tracing::warn!(error = %keel_core::redact::redact_secrets(e.message()), "failed to start job");
            bad_body(e.code(), e.message(), Some(&copy))
        }
    }
}

fn bad_path() -> Resp {
    error_response(
        StatusCode::BAD_REQUEST,
        codes::INVALID_ARGUMENT,
        "the job id in the path is not valid UTF-8 percent-encoding",
    )
}

fn bad_id() -> Resp {
    error_response(
        StatusCode::BAD_REQUEST,
        codes::INVALID_ARGUMENT,
        "the job id must be 1-128 characters without control characters",
    )
}

/// Percent-decode a path segment (`%XX`; an invalid escape stays as it is, `+` is a
/// plus): the job id, or a 400 when the bytes are not UTF-8, or not a valid job id.
fn path_job_id(raw: &str) -> Result<std::borrow::Cow<'_, str>, fn() -> Resp> {
    let id = if raw.contains('%') {
        let b = raw.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
                (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                    out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                    i += 3;
                }
                (c, _, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        std::borrow::Cow::Owned(String::from_utf8(out).map_err(|_| bad_path as fn() -> Resp)?)
    } else {
        std::borrow::Cow::Borrowed(raw)
    };
    if !valid_job_id(&id) {
        return Err(bad_id);
    }
    Ok(id)
}

fn get_job(state: &AppState, raw: &str) -> Resp {
    let id = match path_job_id(raw) {
        Ok(id) => id,
        Err(answer) => return answer(),
    };
    for (_, kind) in &state.kinds {
        if let Some(view) = kind.get(&id) {
            return json_response(StatusCode::OK, view);
        }
    }
    json_response(StatusCode::NOT_FOUND, state.job_not_found.clone())
}

async fn delete_job(state: &AppState, raw: &str) -> Resp {
    let id = match path_job_id(raw) {
        Ok(id) => id,
        Err(answer) => return answer(),
    };
    for (_, kind) in &state.kinds {
        if let Some(st) = kind.abort(&id).await {
            let body = serde_json::to_vec(&json!({ "jobId": id, "state": st.as_str() }))
                .expect("abort JSON");
            return json_response(StatusCode::OK, body);
        }
    }
    json_response(StatusCode::NOT_FOUND, state.job_not_found.clone())
}

fn metrics(state: &AppState) -> Resp {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(8 * 1024);
    out.push_str(
        "# HELP keel_server_info The job server's version.\n# TYPE keel_server_info gauge\n",
    );
    let _ = writeln!(
        out,
        "keel_server_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(
        "# HELP keel_jobs Jobs the server holds, by kind and state.\n# TYPE keel_jobs gauge\n",
    );
    for (name, kind) in &state.kinds {
        let c = kind.counts();
        let name = escape_label(name);
        for (st, n) in [
            ("running", c.running),
            ("done", c.done),
            ("failed", c.failed),
        ] {
            let _ = writeln!(out, "keel_jobs{{kind=\"{name}\",state=\"{st}\"}} {n}");
        }
    }
    out.push_str("# HELP keel_watchdog_kills_total Jobs killed by a watchdog, by kind and cause.\n# TYPE keel_watchdog_kills_total counter\n");
    for (name, kind) in &state.kinds {
        let name = escape_label(name);
        for (cause, n) in kind.watchdog_kills() {
            let _ = writeln!(
                out,
                "keel_watchdog_kills_total{{kind=\"{name}\",cause=\"{cause}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP keel_http_open_connections Connections open now.\n# TYPE keel_http_open_connections gauge\n");
    let open = state
        .max_connections
        .saturating_sub(state.connections.available_permits());
    let _ = writeln!(out, "keel_http_open_connections {open}");
    if let Some(m) = &state.managed {
        m.render_metrics(&mut out);
    }
    state.metrics.render_requests(&mut out);
    let mut res = Response::new(Full::new(Bytes::from(out)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

fn openapi(state: &AppState) -> Resp {
    json_response(StatusCode::OK, state.openapi.clone())
}

/// `application/x-www-form-urlencoded` decoding of one query value (`+` and `%XX`;
/// invalid escapes stay as they are, invalid UTF-8 is replaced).
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn managed_processes(state: &AppState, req: &Req) -> Resp {
    let Some(m) = &state.managed else {
        return not_found(state);
    };
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let project = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "project")
            .map(|(_, v)| percent_decode(v))
    });
    crate::managed::respond(m.as_ref(), project.as_deref(), if_none_match)
}
