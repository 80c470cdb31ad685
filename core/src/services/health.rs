//! Healthchecks: one probe (`runHealthcheck`), and the threshold tracker of the
//! liveness loop (process-compose semantics: a failure threshold and a success
//! threshold, so one bad probe never flips a healthy service and one good probe never
//! flips an unhealthy one back — no flapping).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::options::PROBE_TIMEOUT_CEILING_MS;
use super::spec::Healthcheck;
use super::state::Health;
use crate::process::{Command, EnvPolicy, OutputMode};

/// The result of one probe: minions' `{healthy, error, lastCheckAt}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProbeResult {
    /// The probe passed.
    pub healthy: bool,
    /// Why not (redacted); `null` when healthy.
    pub error: Option<String>,
    /// Epoch ms when the probe finished.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_check_at: u64,
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The timeout of one probe: `timeout_s`, at least 500 ms, at most 5 s (the reference's
/// `_HC_CMD_TIMEOUT_MS`).
pub fn probe_timeout(hc: &Healthcheck) -> Duration {
    Duration::from_millis(hc.timeout_ms().clamp(500, PROBE_TIMEOUT_CEILING_MS))
}

/// The environment variables a probe command (and a service) inherits from the host,
/// besides what the spec sets.
pub const ESSENTIAL_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "HOMEDRIVE",
    "HOMEPATH",
    "PATHEXT",
    "COMSPEC",
];

/// `runHealthcheck(spec)`: one probe, never an error (a failure is `healthy:false` with
/// the reason).
pub async fn run_healthcheck(hc: &Healthcheck) -> ProbeResult {
    let timeout = probe_timeout(hc);
    let res = match hc {
        Healthcheck::Http {
            url, expect_status, ..
        } => http_probe(url, *expect_status, timeout).await,
        Healthcheck::Command {
            cmd,
            shell,
            expect_regex,
            ..
        } => command_probe(cmd, *shell, expect_regex, timeout).await,
    };
    ProbeResult {
        healthy: res.is_ok(),
        error: res.err().map(|e| crate::redact::redact_secrets(&e)),
        last_check_at: now_ms(),
    }
}

async fn http_probe(url: &str, expect: u16, timeout: Duration) -> Result<(), String> {
    let ms = timeout.as_millis();
    match tokio::time::timeout(timeout, http_get(url)).await {
        Err(_) => Err(format!("http request timeout after {ms}ms")),
        Ok(Err(e)) => Err(e),
        Ok(Ok(status)) if status == expect => Ok(()),
        Ok(Ok(status)) => Err(format!("http status {status} (expected {expect})")),
    }
}

async fn http_get(url: &str) -> Result<u16, String> {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| "http request error: invalid URL".to_owned())?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "http request error: https healthchecks are not supported (use a command probe)"
                    .into(),
            )
        }
        _ => return Err("http request error: invalid URL".into()),
    }
    let host = uri
        .host()
        .ok_or_else(|| "http request error: URL has no host".to_owned())?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    // Userinfo never goes on the wire as part of the Host header.
    let authority = authority.rsplit('@').next().unwrap_or_default().to_owned();
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("http request error: {}", io_kind(&e)))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("http request error: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "keel-healthcheck")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("http request error: {e}"))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http request error: {e}"));
    let out = match res {
        Ok(res) => {
            let status = res.status().as_u16();
            // Consume the body (bounded by the probe timeout) so the exchange completes.
            let mut body = res.into_body();
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    break;
                }
            }
            Ok(status)
        }
        Err(e) => Err(e),
    };
    driver.abort();
    out
}

fn io_kind(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect ECONNREFUSED".into(),
        std::io::ErrorKind::ConnectionReset => "socket hang up".into(),
        _ => e.to_string(),
    }
}

async fn command_probe(
    cmd: &str,
    shell: bool,
    expect_regex: &str,
    timeout: Duration,
) -> Result<(), String> {
    let re = regex::Regex::new(expect_regex)
        .map_err(|_| "expect_regex invalid: does not compile".to_owned())?;
    let argv: Vec<String> = if shell {
        vec!["sh".into(), "-c".into(), cmd.into()]
    } else {
        cmd.split(super::js::is_space)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let child = Command::new(&argv)
        .env_policy(EnvPolicy::Allowlist(
            ESSENTIAL_ENV.iter().map(|s| (*s).to_owned()).collect(),
        ))
        .stdout(OutputMode::Piped)
        .stderr(OutputMode::Piped)
        .spawn()
        .map_err(|e| format!("healthcheck command failed to start: {e}"))?;
    let ms = timeout.as_millis();
    // Dropping the child on timeout kills its whole tree.
    let out = match tokio::time::timeout(timeout, child.output(Duration::from_millis(200))).await {
        Err(_) => return Err(format!("healthcheck command timeout after {ms}ms")),
        Ok(Err(e)) => return Err(format!("healthcheck command failed: {e}")),
        Ok(Ok(o)) => o,
    };
    if !out.exit.success() {
        let code = match out.exit {
            crate::process::ExitClass::Exited { code } => code.to_string(),
            _ => "?".into(),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let t = stderr.trim();
        let tail: String = {
            let chars: Vec<char> = t.chars().collect();
            chars[chars.len().saturating_sub(200)..].iter().collect()
        };
        return Err(if tail.is_empty() {
            format!("healthcheck command exit {code}")
        } else {
            format!("healthcheck command exit {code}: {tail}")
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    if re.is_match(&stdout) {
        Ok(())
    } else {
        Err(format!(
            "healthcheck stdout did not match regex /{expect_regex}/"
        ))
    }
}

/// The liveness state machine: feed it probe results, it says when the health changes.
///
/// * `Starting` → `Healthy` on the first pass (the first-health wait), `Unhealthy` when
///   the first-health deadline passes.
/// * `Healthy` → `Unhealthy` after `failure_threshold` failures in a row.
/// * `Unhealthy` → `Healthy` after `success_threshold` passes in a row.
///
/// A result that does not complete a run leaves the state alone, so alternating
/// results below the thresholds never flap.
///
/// ```
/// use keel_core::services::{Health, HealthTracker};
/// let mut t = HealthTracker::new(Health::Healthy, 3, 2);
/// assert_eq!(t.observe(false), None);
/// assert_eq!(t.observe(true), None);  // the failure run is broken
/// assert_eq!(t.observe(false), None);
/// assert_eq!(t.observe(false), None);
/// assert_eq!(t.observe(false), Some(Health::Unhealthy));
/// assert_eq!(t.observe(true), None);
/// assert_eq!(t.observe(true), Some(Health::Healthy));
/// ```
#[derive(Debug, Clone)]
pub struct HealthTracker {
    state: Health,
    failures: u32,
    successes: u32,
    failure_threshold: u32,
    success_threshold: u32,
}

impl HealthTracker {
    /// A tracker in `state`.
    pub fn new(state: Health, failure_threshold: u32, success_threshold: u32) -> Self {
        HealthTracker {
            state,
            failures: 0,
            successes: 0,
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
        }
    }

    /// The current state.
    pub fn state(&self) -> Health {
        self.state
    }

    /// Record one probe; `Some(new state)` when it changed.
    pub fn observe(&mut self, healthy: bool) -> Option<Health> {
        if healthy {
            self.failures = 0;
            self.successes += 1;
            let need = if self.state == Health::Starting {
                1
            } else {
                self.success_threshold
            };
            if self.state != Health::Healthy && self.successes >= need {
                self.state = Health::Healthy;
                return Some(Health::Healthy);
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.state == Health::Healthy && self.failures >= self.failure_threshold {
                self.state = Health::Unhealthy;
                return Some(Health::Unhealthy);
            }
        }
        None
    }

    /// Force a state (first-health deadline passed, process died).
    pub fn set(&mut self, state: Health) -> Option<Health> {
        self.failures = 0;
        self.successes = 0;
        if self.state == state {
            None
        } else {
            self.state = state;
            Some(state)
        }
    }
}
