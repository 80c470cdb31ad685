//! The HTTP surface: routes, auth, limits, metrics and shutdown, on axum (hyper
//! underneath).

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use keel_core::codes;
use keel_core::jobs::RegistryOptions;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::kinds::{command_kind, turn_kind, valid_job_id, JobKind};
use crate::managed::ManagedProcesses;
use crate::metrics::{escape_label, Metrics, Route};
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
        let app = router(state.clone());
        let listener = LimitedListener {
            inner: self.listener,
            permits: state.connections.clone(),
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .into_future();
        let mut serve = tokio::spawn(serve);
        tokio::select! {
            _ = shutdown => {}
            r = &mut serve => {
                // The server ended by itself (it does not, short of a panic).
                return r.map_err(|e| ServerError::Io {
                    what: "serving",
                    source: std::io::Error::other(e.to_string()),
                })?.map_err(|source| ServerError::Io { what: "serving", source });
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
        let _ = stop_tx.send(());
        let drain = state.timeout + Duration::from_secs(1);
        match tokio::time::timeout(drain, &mut serve).await {
            Ok(Ok(r)) => r.map_err(|source| ServerError::Io {
                what: "serving",
                source,
            }),
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                serve.abort();
                Ok(())
            }
        }
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

fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new()
        .route("/health", get(health))
        .route("/jobs", axum::routing::post(post_job))
        .route("/jobs/{id}", get(get_job).delete(delete_job))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi));
    if state.managed.is_some() {
        r = r.route("/managed-processes", get(managed_processes));
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// `{"error": message, "code": code}` (the reference's `{error}` plus keel's code).
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::to_vec(&json!({ "error": message, "code": code })).expect("error JSON");
    json_response(status, body)
}

fn authorized(state: &AppState, req: &Request) -> bool {
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
/// the methods whose handlers await: `POST`, `DELETE`), and the request metrics.
async fn gate(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = Route::of(req.uri().path());
    let health = route == Route::Health && req.method() == Method::GET;
    let res = if !health && !authorized(&state, &req) {
        error_response(
            StatusCode::UNAUTHORIZED,
            codes::SERVER_UNAUTHORIZED,
            "unauthorized",
        )
    } else if req.method() == Method::GET || req.method() == Method::HEAD {
        // Every GET handler answers from memory without awaiting anything (no body is
        // read), so the request timeout cannot fire: skip arming a timer per request.
        next.run(req).await
    } else {
        match tokio::time::timeout(state.timeout, next.run(req)).await {
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

async fn health(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, state.health.clone())
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, codes::SERVER_NOT_FOUND, "not found")
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::INVALID_ARGUMENT,
        "method not allowed",
    )
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
fn bad_body(code: &str, message: &str, body: Option<&Value>) -> Response {
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

async fn read_body(state: &AppState, req: Request) -> Result<Bytes, Response> {
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

async fn post_job(State(state): State<Arc<AppState>>, req: Request) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::INVALID_ARGUMENT,
            "the server is shutting down",
        );
    }
    let bytes = match read_body(&state, req).await {
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

fn bad_path(_: PathRejection) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        codes::INVALID_ARGUMENT,
        "the job id in the path is not valid UTF-8 percent-encoding",
    )
}

fn bad_id() -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        codes::INVALID_ARGUMENT,
        "the job id must be 1-128 characters without control characters",
    )
}

async fn get_job(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(id) = match id {
        Ok(p) => p,
        Err(e) => return bad_path(e),
    };
    if !valid_job_id(&id) {
        return bad_id();
    }
    for (_, kind) in &state.kinds {
        if let Some(view) = kind.get(&id) {
            return json_response(StatusCode::OK, view);
        }
    }
    error_response(
        StatusCode::NOT_FOUND,
        codes::SERVER_NOT_FOUND,
        "job not found",
    )
}

async fn delete_job(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(id) = match id {
        Ok(p) => p,
        Err(e) => return bad_path(e),
    };
    if !valid_job_id(&id) {
        return bad_id();
    }
    for (_, kind) in &state.kinds {
        if let Some(st) = kind.abort(&id).await {
            let body = serde_json::to_vec(&json!({ "jobId": id, "state": st.as_str() }))
                .expect("abort JSON");
            return json_response(StatusCode::OK, body);
        }
    }
    error_response(
        StatusCode::NOT_FOUND,
        codes::SERVER_NOT_FOUND,
        "job not found",
    )
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
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
    let mut res = Response::new(Body::from(out));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    let mut res = Response::new(Body::from(state.openapi.clone()));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
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

async fn managed_processes(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let Some(m) = &state.managed else {
        return not_found().await;
    };
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let project = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "project")
            .map(|(_, v)| percent_decode(v))
    });
    crate::managed::respond(m.as_ref(), project.as_deref(), if_none_match.as_deref())
}

/// A TCP listener that holds one semaphore permit per open connection: at most
/// `max_connections` are served at once, further ones wait in the listen backlog.
struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

/// A connection and its permit.
struct Limited2 {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl axum::serve::Listener for LimitedListener {
    type Io = Limited2;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        Limited2 {
                            stream,
                            _permit: permit,
                        },
                        addr,
                    );
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for Limited2 {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Limited2 {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
