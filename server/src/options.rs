//! The server's options: one serde type, filled from the reference's environment names
//! (`PORT`, `HARNESS_BIND_HOST`, `HARNESS_SHARED_SECRET`) and overridden by flags.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use keel_core::options::{self, OptionsError};
use serde::{Deserialize, Serialize};

/// Default port (the reference's `PORT ?? 8080`).
pub const DEFAULT_PORT: u16 = 8080;
/// Default bind address: loopback. The reference listens on every interface; keel does
/// so only when asked (`HARNESS_BIND_HOST=0.0.0.0` or `--bind`), and then only with a
/// shared secret, because the `command` kind runs programs.
pub const DEFAULT_BIND_HOST: &str = "127.0.0.1";
/// Default cap of a request body: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default time a request may take, body included: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Default cap of concurrently open connections (more wait in the listen backlog).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default bound of the shutdown wait for running jobs to settle: the reference's 6 s
/// (its 5 s SIGTERM→SIGKILL escalation plus a margin).
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 6_000;
/// Environment variable of the port.
pub const ENV_PORT: &str = "PORT";
/// Environment variable of the bind address.
pub const ENV_BIND_HOST: &str = "HARNESS_BIND_HOST";
/// Environment variable of the shared secret.
pub const ENV_SHARED_SECRET: &str = "HARNESS_SHARED_SECRET";

/// How the server listens and what it accepts (camelCase JSON; every field optional).
///
/// ```
/// use keel_server::ServerOptions;
///
/// let o = ServerOptions::from_lookup(|k| match k {
///     "PORT" => Some("9000".into()),
///     "HARNESS_SHARED_SECRET" => Some("s3cret-value".into()),
///     _ => None,
/// })
/// .unwrap();
/// assert_eq!(o.port, 9000);
/// assert_eq!(o.bind_host, "127.0.0.1");
/// assert!(format!("{o:?}").contains("***"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ServerOptions {
    /// TCP port (`0`: any free port; the bound address is reported).
    pub port: u16,
    /// Address to bind (an IP literal).
    pub bind_host: String,
    /// When set, every request but `GET /health` must carry it in `x-harness-secret`
    /// (compared in constant time).
    pub shared_secret: Option<String>,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Longest a request may take, reading its body included (408 beyond).
    pub request_timeout_ms: u64,
    /// Most connections open at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// On shutdown, how long running jobs get to settle after they are aborted.
    pub shutdown_grace_ms: u64,
    /// Allow a non-loopback bind address without a shared secret (anyone who reaches
    /// the port can then run programs through the `command` kind).
    pub allow_unauthenticated: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            port: DEFAULT_PORT,
            bind_host: DEFAULT_BIND_HOST.to_owned(),
            shared_secret: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            allow_unauthenticated: false,
        }
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("port", &self.port)
            .field("bind_host", &self.bind_host)
            .field("shared_secret", &self.shared_secret.as_ref().map(|_| "***"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace_ms", &self.shutdown_grace_ms)
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .finish()
    }
}

impl ServerOptions {
    /// Parse options JSON (fields named under `options`) and validate them.
    pub fn from_json(text: &str) -> Result<Self, OptionsError> {
        let o: ServerOptions = options::from_json(text, "options_json", "options")?;
        o.validate()?;
        Ok(o)
    }

    /// Defaults overridden by the process environment (`PORT`, `HARNESS_BIND_HOST`,
    /// `HARNESS_SHARED_SECRET`).
    pub fn from_env() -> Result<Self, OptionsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Defaults overridden by `lookup(name)` for the reference's environment names. An
    /// empty value counts as unset (an empty `HARNESS_SHARED_SECRET` leaves the server
    /// open, as in the reference).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, OptionsError> {
        let mut o = ServerOptions::default();
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        if let Some(p) = get(ENV_PORT) {
            o.port = p
                .trim()
                .parse()
                .map_err(|_| OptionsError::range("PORT", "is not a port number (0-65535)"))?;
        }
        if let Some(h) = get(ENV_BIND_HOST) {
            o.bind_host = h.trim().to_owned();
        }
        o.shared_secret = get(ENV_SHARED_SECRET);
        o.validate()?;
        Ok(o)
    }

    /// Check what serde cannot: the bind address is an IP literal, limits are non-zero,
    /// and a non-loopback bind has a shared secret (unless `allowUnauthenticated`).
    pub fn validate(&self) -> Result<(), OptionsError> {
        let ip = self.bind_ip()?;
        if self.max_body_bytes == 0 {
            return Err(OptionsError::range(
                "options.maxBodyBytes",
                "must be greater than 0",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(OptionsError::range(
                "options.requestTimeoutMs",
                "must be greater than 0",
            ));
        }
        if self.max_connections == 0 {
            return Err(OptionsError::range(
                "options.maxConnections",
                "must be greater than 0",
            ));
        }
        if self.shared_secret.as_deref() == Some("") {
            return Err(OptionsError::range(
                "options.sharedSecret",
                "is empty (omit it to run without one)",
            ));
        }
        if !ip.is_loopback() && self.shared_secret.is_none() && !self.allow_unauthenticated {
            return Err(OptionsError::range(
                "options.bindHost",
                "is not a loopback address and no shared secret is set: anyone reaching \
                 the port could run programs (set a shared secret, or allowUnauthenticated)",
            ));
        }
        Ok(())
    }

    fn bind_ip(&self) -> Result<IpAddr, OptionsError> {
        let host = self.bind_host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" {
            return Ok(IpAddr::from([127, 0, 0, 1]));
        }
        host.parse()
            .map_err(|_| OptionsError::range("options.bindHost", "is not an IP address literal"))
    }

    /// The socket address to bind.
    pub fn socket_addr(&self) -> Result<SocketAddr, OptionsError> {
        Ok(SocketAddr::new(self.bind_ip()?, self.port))
    }

    /// [`request_timeout_ms`](Self::request_timeout_ms) as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// [`shutdown_grace_ms`](Self::shutdown_grace_ms) as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}
