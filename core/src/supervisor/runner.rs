//! The GitHub Actions ephemeral-runner cycle.
//!
//! Every cycle: a **fresh** registration token from the host's [`TokenProvider`] (one is
//! never reused), stale `.runner` / `.credentials` / `.credentials_rsaparams` removed
//! (left behind by a reboot or an unclean stop, they make `config.sh` refuse with
//! "already configured"), then
//! `config.sh --unattended --ephemeral --url URL --token TOKEN --name PREFIX-XXXXXXXX
//! --labels L --replace`. Output saying "already configured" → clean and retry once at
//! once; any other failure → one retry with a fresh token; then `run.sh` in its own
//! process tree with the extra environment. `run.sh` exiting 0 is recorded as
//! **ambiguous**: an ephemeral runner exits 0 after its job and also on some fatal
//! errors.
//!
//! **The token is visible in `ps`**: `config.sh` takes it as an argument, so any local
//! user can read it for the few seconds `config.sh` runs. It is single-use and expires
//! in about an hour. keel keeps it out of its own logs and errors (every `config.sh`
//! output line is redacted with the token registered) and out of `Debug`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::backoff::Rng;
use super::{BoxFuture, Cycle, CycleContext, CycleError, RunOutcome, SupervisorError};
use crate::process::{Command, ExitClass, OutputMode};
use crate::redact::Redactor;

/// The files `config.sh` writes on registration; a leftover set makes the next
/// `config.sh` fail with "already configured".
pub const STALE_RUNNER_FILES: [&str; 3] = [".runner", ".credentials", ".credentials_rsaparams"];

/// Lines of `config.sh` output kept for the error message.
const KEEP_LINES: usize = 8;

/// Options of an [`ActionsRunnerCycle`] (camelCase JSON for C and Node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionsRunnerOptions {
    /// The extracted actions/runner directory (holds `config.sh` and `run.sh`). In pool
    /// mode with a supervisor `workDir`, each slot uses its own working directory
    /// instead, which must hold its own runner copy.
    pub runner_dir: String,
    /// Repository or organisation URL (`https://github.com/OWNER/REPO`).
    pub url: String,
    /// Runner name prefix; the name is `<prefix>-<8 hex>` (default `keel`).
    #[serde(default = "default_prefix")]
    pub name_prefix: String,
    /// Labels (default `self-hosted`).
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// Extra environment for `run.sh`.
    #[serde(default)]
    pub extra_env: BTreeMap<String, String>,
    /// Kill `config.sh` after this long, ms (default 300000).
    #[serde(default = "default_config_timeout")]
    pub config_timeout_ms: u64,
    /// Append `run.sh`'s output to this file (default: inherit the supervisor's).
    #[serde(default)]
    pub run_log: Option<String>,
}

fn default_prefix() -> String {
    "keel".into()
}
fn default_labels() -> Vec<String> {
    vec!["self-hosted".into()]
}
fn default_config_timeout() -> u64 {
    300_000
}

impl ActionsRunnerOptions {
    /// Options with defaults for everything but the directory and the URL.
    pub fn new(runner_dir: impl Into<String>, url: impl Into<String>) -> Self {
        ActionsRunnerOptions {
            runner_dir: runner_dir.into(),
            url: url.into(),
            name_prefix: default_prefix(),
            labels: default_labels(),
            extra_env: BTreeMap::new(),
            config_timeout_ms: default_config_timeout(),
            run_log: None,
        }
    }

    /// Parse from JSON (errors name the field, never a value).
    pub fn from_json(text: &str) -> Result<Self, SupervisorError> {
        let o: Self = crate::options::from_json(text, "options_json", "options")
            .map_err(SupervisorError::from_options)?;
        o.validate()?;
        Ok(o)
    }

    /// Parse from a JSON value (the Node surface), with the same errors as
    /// [`from_json`](Self::from_json).
    pub fn from_value(value: serde_json::Value) -> Result<Self, SupervisorError> {
        let o: Self =
            crate::options::from_value(value, "options").map_err(SupervisorError::from_options)?;
        o.validate()?;
        Ok(o)
    }

    /// Check the fields.
    pub fn validate(&self) -> Result<(), SupervisorError> {
        if self.runner_dir.is_empty() {
            return Err(SupervisorError::field("runnerDir", "must not be empty"));
        }
        if !(self.url.starts_with("https://") || self.url.starts_with("http://"))
            || self.url.len() > 2048
            || self
                .url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(SupervisorError::field(
                "url",
                "must be an http(s) URL without spaces",
            ));
        }
        let ok_name = |s: &str| {
            !s.is_empty()
                && s.len() <= 48
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !ok_name(&self.name_prefix) {
            return Err(SupervisorError::field(
                "namePrefix",
                "must be 1-48 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if self.labels.is_empty()
            || self.labels.iter().any(|l| {
                l.is_empty() || l.len() > 256 || l.contains(',') || l.contains(char::is_whitespace)
            })
        {
            return Err(SupervisorError::field(
                "labels",
                "must be one or more non-empty labels without commas or spaces",
            ));
        }
        if self.config_timeout_ms == 0 || self.config_timeout_ms > 86_400_000 {
            return Err(SupervisorError::field(
                "configTimeoutMs",
                "must be between 1 ms and one day",
            ));
        }
        for k in self.extra_env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(SupervisorError::field(
                    "extraEnv",
                    "names must be non-empty without '=' or NUL",
                ));
            }
        }
        Ok(())
    }
}

/// Where a cycle gets a fresh registration token. Called once per registration
/// attempt (so twice when `config.sh` is retried with a fresh token).
pub trait TokenProvider: Send + Sync + 'static {
    /// A fresh token.
    fn token(&self) -> BoxFuture<'_, Result<String, CycleError>>;
}

impl<F, Fut> TokenProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, CycleError>> + Send + 'static,
{
    fn token(&self) -> BoxFuture<'_, Result<String, CycleError>> {
        Box::pin(self())
    }
}

/// A token provider that runs a command and takes its trimmed stdout
/// (`keel supervise actions-runner --token-command`).
#[derive(Debug, Clone)]
pub struct CommandTokenProvider {
    argv: Vec<String>,
    timeout: Duration,
}

impl CommandTokenProvider {
    /// Runs `argv` (an array, no shell) with a 60 s limit.
    pub fn new(argv: Vec<String>) -> Result<Self, SupervisorError> {
        if argv.first().map(|p| p.is_empty()).unwrap_or(true) {
            return Err(SupervisorError::field(
                "tokenCommand",
                "must name a program",
            ));
        }
        Ok(CommandTokenProvider {
            argv,
            timeout: Duration::from_secs(60),
        })
    }
}

impl TokenProvider for CommandTokenProvider {
    fn token(&self) -> BoxFuture<'_, Result<String, CycleError>> {
        Box::pin(async move {
            let child = Command::new(&self.argv)
                .stderr(OutputMode::Inherit)
                .spawn()?;
            let out = tokio::time::timeout(self.timeout, child.output(Duration::from_secs(1)))
                .await
                .map_err(|_| CycleError::new("token command timed out"))??;
            if !out.exit.success() {
                return Err(CycleError::new(format!("token command {}", out.exit)));
            }
            let token = String::from_utf8(out.stdout)
                .map_err(|_| CycleError::new("token command printed non-UTF-8"))?;
            let token = token.trim().to_string();
            if token.is_empty() || token.contains(char::is_whitespace) {
                return Err(CycleError::new(
                    "token command must print exactly one token on stdout",
                ));
            }
            Ok(token)
        })
    }
}

/// What a successful registration hands to `run`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunnerRegistration {
    /// The runner's name (`<prefix>-<8 hex>`).
    pub name: String,
    /// The runner directory used.
    pub runner_dir: PathBuf,
    /// How many times `config.sh` ran this cycle (1 normally, 2 after a heal or a retry).
    pub config_runs: u32,
    /// Token fetches this cycle (1, or 2 after a fresh-token retry).
    pub tokens_fetched: u32,
    /// Stale registration files removed before the first `config.sh`.
    pub removed_stale: Vec<String>,
    /// The "already configured" heal ran.
    pub healed: bool,
}

/// The actions/runner cycle. See the [module docs](self).
///
/// ```no_run
/// use keel_core::supervisor::{ActionsRunnerCycle, ActionsRunnerOptions, CommandTokenProvider,
///     Supervisor, SupervisorOptions};
/// let cycle = ActionsRunnerCycle::new(
///     ActionsRunnerOptions::new("/opt/actions-runner", "https://github.com/acme/app"),
///     CommandTokenProvider::new(vec!["/usr/local/bin/fetch-token".into()])?,
/// )?;
/// let sup = Supervisor::builder(cycle)
///     .options(SupervisorOptions { install_signal_handlers: true, ..Default::default() })
///     .build()?;
/// std::process::exit(sup.run_blocking()?.exit_code());
/// # Ok::<(), keel_core::supervisor::SupervisorError>(())
/// ```
pub struct ActionsRunnerCycle {
    options: ActionsRunnerOptions,
    tokens: Arc<dyn TokenProvider>,
}

impl std::fmt::Debug for ActionsRunnerCycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionsRunnerCycle")
            .field("options", &self.options)
            .field("tokens", &"***")
            .finish()
    }
}

/// Remove the stale registration files in `dir`; returns the names removed.
/// Best-effort: a missing file is the normal case.
pub fn remove_stale_runner_config(dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    for name in STALE_RUNNER_FILES {
        if std::fs::remove_file(dir.join(name)).is_ok() {
            removed.push(name.to_string());
        }
    }
    if !removed.is_empty() {
        tracing::info!(dir = %dir.display(), ?removed, "removed stale runner registration");
    }
    removed
}

/// A runner name: `<prefix>-<8 random hex digits>`.
pub fn runner_name(prefix: &str) -> String {
    let mut r = Rng::from_entropy();
    let mut v = r.next() as u32;
    if let Ok(bytes) = std::fs::read("/proc/sys/kernel/random/uuid") {
        // Mix in the kernel's randomness when available.
        for b in bytes {
            v = v.rotate_left(5) ^ b as u32;
        }
        v ^= r.next() as u32;
    }
    format!("{prefix}-{v:08x}")
}

struct ConfigResult {
    exit: ExitClass,
    already_configured: bool,
    tail: Vec<String>,
}

impl ActionsRunnerCycle {
    /// A cycle over these options and token provider.
    pub fn new(
        options: ActionsRunnerOptions,
        tokens: impl TokenProvider,
    ) -> Result<Self, SupervisorError> {
        options.validate()?;
        Ok(ActionsRunnerCycle {
            options,
            tokens: Arc::new(tokens),
        })
    }

    /// The options.
    pub fn options(&self) -> &ActionsRunnerOptions {
        &self.options
    }

    fn dir(&self, ctx: &CycleContext) -> PathBuf {
        ctx.work_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(&self.options.runner_dir))
    }

    fn script(dir: &Path, name: &'static str) -> Result<PathBuf, SupervisorError> {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(SupervisorError::RunnerDir {
                path: p,
                reason: "is missing (not an extracted actions/runner directory?)",
            })
        }
    }

    async fn fetch_token(&self) -> Result<String, CycleError> {
        self.tokens.token().await.map_err(|e| {
            CycleError::new(SupervisorError::TokenProvider(e.message().to_string()).to_string())
        })
    }

    async fn config(
        &self,
        script: &Path,
        dir: &Path,
        token: &str,
        name: &str,
    ) -> Result<ConfigResult, CycleError> {
        let redactor = Redactor::builder()
            .secret(token)
            .build()
            .unwrap_or_else(|_| Redactor::new());
        let labels = self.options.labels.join(",");
        tracing::info!(runner = name, url = %self.options.url, labels = %labels, "configuring runner");
        let mut child = Command::new([
            script.as_os_str(),
            "--unattended".as_ref(),
            "--ephemeral".as_ref(),
            "--url".as_ref(),
            self.options.url.as_ref(),
            "--token".as_ref(),
            token.as_ref(),
            "--name".as_ref(),
            name.as_ref(),
            "--labels".as_ref(),
            labels.as_ref(),
            "--replace".as_ref(),
        ])
        .cwd(dir)
        .spawn()?;
        let out = child.take_stdout();
        let err = child.take_stderr();
        let work = async {
            let (a, b) = tokio::join!(read_lines(out, &redactor), read_lines(err, &redactor));
            let exit = child.wait().await?;
            Ok::<_, CycleError>((a, b, exit))
        };
        let timeout = Duration::from_millis(self.options.config_timeout_ms);
        let (a, b, exit) = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r?,
            Err(_) => {
                let _ = child.terminate(Duration::from_secs(2)).await;
                return Err(CycleError::new("config.sh timed out"));
            }
        };
        let already_configured = a.0 || b.0;
        let mut tail: Vec<String> = a.1.into_iter().chain(b.1).collect();
        if tail.len() > KEEP_LINES {
            tail.drain(..tail.len() - KEEP_LINES);
        }
        Ok(ConfigResult {
            exit,
            already_configured,
            tail,
        })
    }
}

/// Read `r` line by line: log each (redacted), return whether any said "already
/// configured" and the last lines.
async fn read_lines<R: AsyncRead + Unpin>(
    r: Option<R>,
    redactor: &Redactor,
) -> (bool, Vec<String>) {
    let mut found = false;
    let mut tail = Vec::new();
    let Some(r) = r else { return (found, tail) };
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.to_ascii_lowercase().contains("already configured") {
            found = true;
        }
        let clean = redactor.redact_str(&line).into_owned();
        tracing::info!(target: "keel::supervisor::config", "{clean}");
        tail.push(clean.chars().take(512).collect::<String>());
        if tail.len() > KEEP_LINES {
            tail.remove(0);
        }
    }
    (found, tail)
}

impl Cycle for ActionsRunnerCycle {
    type Registration = RunnerRegistration;

    fn register<'a>(
        &'a self,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunnerRegistration, CycleError>> {
        Box::pin(async move {
            let dir = self.dir(ctx);
            let script = Self::script(&dir, "config.sh")?;
            let mut token = self.fetch_token().await?;
            let mut tokens_fetched = 1;
            let removed_stale = remove_stale_runner_config(&dir);
            let mut name = runner_name(&self.options.name_prefix);
            let mut r = self.config(&script, &dir, &token, &name).await?;
            let mut config_runs = 1;
            let mut healed = false;
            if !r.exit.success() && r.already_configured {
                tracing::warn!(
                    "config.sh reported \"already configured\": cleaning and retrying at once"
                );
                remove_stale_runner_config(&dir);
                healed = true;
                r = self.config(&script, &dir, &token, &name).await?;
                config_runs += 1;
            }
            if !r.exit.success() {
                tracing::warn!(exit = %r.exit, "config.sh failed: retrying once with a fresh token");
                token = self.fetch_token().await?;
                tokens_fetched += 1;
                remove_stale_runner_config(&dir);
                name = runner_name(&self.options.name_prefix);
                r = self.config(&script, &dir, &token, &name).await?;
                config_runs += 1;
            }
            drop(token);
            if !r.exit.success() {
                let mut msg = SupervisorError::Registration {
                    exit: r.exit.to_string(),
                }
                .to_string();
                if let Some(last) = r.tail.last() {
                    msg.push_str(": ");
                    msg.push_str(last);
                }
                return Err(CycleError::new(msg));
            }
            tracing::info!(runner = %name, "runner registered");
            Ok(RunnerRegistration {
                name,
                runner_dir: dir,
                config_runs,
                tokens_fetched,
                removed_stale,
                healed,
            })
        })
    }

    fn run<'a>(
        &'a self,
        reg: RunnerRegistration,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
        Box::pin(async move {
            let script = Self::script(&reg.runner_dir, "run.sh")?;
            let out = match &self.options.run_log {
                Some(p) => OutputMode::File {
                    path: PathBuf::from(p),
                    append: true,
                },
                None => OutputMode::Inherit,
            };
            let mut cmd = Command::new([script.as_os_str()])
                .cwd(&reg.runner_dir)
                .stdout(out.clone())
                .stderr(out);
            for (k, v) in &self.options.extra_env {
                cmd = cmd.env(k, v);
            }
            let mut child = cmd.spawn()?;
            tracing::info!(runner = %reg.name, pid = child.pid(), "run.sh started");
            let o = ctx.run_child(&mut child).await?;
            Ok(o.ambiguous(true))
        })
    }
}
