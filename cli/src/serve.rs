//! `keel serve`: the job HTTP server (`keel_server`) on the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use keel_core::jobs::{RegistryOptions, RunnerLimits};
use keel_core::supervisor::Notifier;
use keel_server::{Server, ServerOptions, StateDirServices};

use crate::run::parse_duration;
use crate::Failure;

/// Options of `keel serve`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
The executor harness's job API over keel's job registry:
  GET    /health              {\"status\":\"ok\",\"version\":...,\"capabilities\":[...],\"kinds\":[...]}
  POST   /jobs                {\"kind\":\"command\",\"jobId\":\"j1\",\"cmd\":\"sh\",\"args\":[\"-c\",\"make test\"],
                               \"inactivityMs\":60000} -> 202 {\"jobId\":\"j1\",\"state\":\"running\"}
  GET    /jobs/{id}           the JobView (drain-on-read spans / follow-ups)
  DELETE /jobs/{id}           abort -> 200 {\"jobId\":...,\"state\":...} (the state reached)
  GET    /metrics             Prometheus text
  GET    /openapi.json        the OpenAPI document of every route
  GET    /managed-processes   with --services-state-dir: the services list (ETag / 304)
Job kinds: command (cmd, args, cwd, env, inactivityMs, maxDurationMs, toolSilenceMs,
killGraceMs, knownSecrets, tailChars) and turn (a keel turn's options: agentName,
runtime, stateDir, input, ...).

Environment (flags override): PORT (default 8080), HARNESS_BIND_HOST (default
127.0.0.1), HARNESS_SHARED_SECRET (every route but /health then needs it in the
x-harness-secret header). The registry's windows come from JOB_INACTIVITY_MS,
JOB_MAX_DURATION_MS, JOB_TOOL_SILENCE_MS, JOB_COLD_START_MS as in the reference.
A non-loopback --bind needs a shared secret (or --allow-unauthenticated).

Prints `listening on ADDR` once bound (and READY=1 to $NOTIFY_SOCKET under systemd).
SIGTERM/SIGINT: new jobs are refused (503), running jobs are aborted and get up to
--shutdown-grace to settle (their process trees are killed), then keel exits 0.
Exit status: 0 after a clean shutdown, 1 on failure (the error names its code, e.g.
KEEL_SERVER_BIND), 2 on bad usage.

Example:
  umask 077; printf '%s' \"$SECRET\" > ~/.config/keel/harness.secret
  keel serve --port 8080 --bind 0.0.0.0 --shared-secret-file ~/.config/keel/harness.secret")]
pub struct Args {
    /// TCP port (0: any free port). Overrides PORT.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Address to bind (an IP literal). Overrides HARNESS_BIND_HOST.
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Read the shared secret from this file (0600, owned by you; one trailing newline
    /// is ignored). Overrides HARNESS_SHARED_SECRET.
    #[arg(long = "shared-secret-file", value_name = "FILE")]
    shared_secret_file: Option<PathBuf>,
    /// Largest request body accepted.
    #[arg(long = "max-body-bytes", value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// Longest a request may take (e.g. 30s).
    #[arg(long = "request-timeout", value_name = "DURATION", value_parser = parse_duration)]
    request_timeout: Option<Duration>,
    /// Most connections open at once.
    #[arg(long = "max-connections", value_name = "N")]
    max_connections: Option<usize>,
    /// How long running jobs get to settle on shutdown (e.g. 6s).
    #[arg(long = "shutdown-grace", value_name = "DURATION", value_parser = parse_duration)]
    shutdown_grace: Option<Duration>,
    /// Serve GET /managed-processes (ETag / If-None-Match → 304) and keel_services
    /// metrics from this services state directory (as `keel services up --state-dir`).
    #[arg(
        long = "services-state-dir",
        value_name = "DIR",
        env = "KEEL_SERVICES_STATE_DIR"
    )]
    services_state_dir: Option<PathBuf>,
    /// Allow a non-loopback bind without a shared secret.
    #[arg(long = "allow-unauthenticated")]
    allow_unauthenticated: bool,
}

fn coded(e: &keel_server::ServerError) -> Failure {
    Failure::from(format!("{e} [{}]", e.code()))
}

fn options(args: &Args) -> Result<ServerOptions, Failure> {
    let mut o = ServerOptions::from_lookup(|k| std::env::var(k).ok())
        .map_err(|e| Failure::from(format!("{e} [{}]", e.code())))?;
    if let Some(p) = args.port {
        o.port = p;
    }
    if let Some(b) = &args.bind {
        o.bind_host = b.clone();
    }
    if let Some(f) = &args.shared_secret_file {
        let bytes = keel_core::fsx::read_private(f, 64 * 1024)
            .map_err(|e| Failure::from(format!("--shared-secret-file: {e} [{}]", e.code())))?
            .ok_or_else(|| {
                Failure::from(format!(
                    "--shared-secret-file: {} does not exist [{}]",
                    f.display(),
                    keel_core::codes::IO
                ))
            })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Failure(format!(
                "--shared-secret-file: not UTF-8 text [{}]",
                keel_core::codes::INVALID_UTF8
            ))
        })?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            return Err(Failure(format!(
                "--shared-secret-file: the file is empty [{}]",
                keel_core::codes::INVALID_OPTION
            )));
        }
        keel_core::redact::register_known_secrets([text]);
        o.shared_secret = Some(text.to_owned());
    }
    if let Some(n) = args.max_body_bytes {
        o.max_body_bytes = n;
    }
    if let Some(d) = args.request_timeout {
        o.request_timeout_ms = d.as_millis() as u64;
    }
    if let Some(n) = args.max_connections {
        o.max_connections = n;
    }
    if let Some(d) = args.shutdown_grace {
        o.shutdown_grace_ms = d.as_millis() as u64;
    }
    o.allow_unauthenticated |= args.allow_unauthenticated;
    if let Some(s) = &o.shared_secret {
        keel_core::redact::register_known_secrets([s.as_str()]);
    }
    o.validate()
        .map_err(|e| Failure::from(format!("{e} [{}]", e.code())))?;
    Ok(o)
}

/// The registry limits of the reference's environment (`loadRunnerLimits()`).
fn registry_limits() -> RegistryOptions {
    let l = RunnerLimits::from_env();
    let mut o = RegistryOptions::default();
    o.inactivity_ms = Some(l.inactivity_ms);
    o.max_duration_ms = Some(l.max_duration_ms);
    o.tool_silence_ms = Some(l.tool_silence_ms);
    o
}

/// Run `keel serve`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let options = options(&args)?;
    // One worker per CPU the process may run on (std reads the affinity mask and the
    // cgroup quota): pinned to one CPU (`taskset -c 1`), a multi-thread runtime's
    // workers only hand requests to each other across context switches, so a
    // current-thread runtime serves them without any cross-thread wakeup.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = if cpus <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("keel-serve")
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus)
            .enable_all()
            .thread_name("keel-serve")
            .build()?
    };
    rt.block_on(async move {
        let mut builder = Server::builder(options)
            .default_kinds(&registry_limits())
            .map_err(|e| coded(&e))?;
        if let Some(dir) = &args.services_state_dir {
            builder = builder.managed_processes(StateDirServices::new(dir));
        }
        let server = builder.bind().await.map_err(|e| coded(&e))?;
        println!("listening on {}", server.local_addr());
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        if let Some(n) = Notifier::from_env() {
            let _ = n.notify(&format!(
                "READY=1\nSTATUS=listening on {}",
                server.local_addr()
            ));
        }
        server.run().await.map_err(|e| coded(&e))?;
        if let Some(n) = Notifier::from_env() {
            let _ = n.notify("STOPPING=1");
        }
        Ok(ExitCode::SUCCESS)
    })
}
