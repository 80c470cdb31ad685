//! `keel`: the command line over keel-core.
//!
//! `keel <capability> <verb> [options]`; human output by default, `--json` for
//! machines; exit 0 ok, 1 failure, 2 usage.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cred;
mod exit_cause;
mod redact;
mod run;
#[cfg(feature = "server")]
mod serve;
mod service;
mod services;
mod supervise;
mod turn;

/// keel: secrets redaction, credential mirroring, job watchdogs and agent turns
/// for agent hosts.
#[derive(Parser, Debug)]
#[command(name = "keel", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scrub secrets from stdin to stdout (known values, their encodings, credential shapes).
    Redact(redact::Args),
    /// Agent enrollment credentials: OS keyring + 0600 file mirror (status, write, read, clear, doctor).
    Cred(cred::Args),
    /// Run a command under watchdogs (inactivity, max duration), its output redacted live; exit 124 when killed.
    Run(run::Args),
    /// Keep a worker registered and running forever: a command, or an ephemeral GitHub Actions runner.
    Supervise(supervise::Args),
    /// Service files for the supervisor (launchd plist, systemd unit) and its health.
    Service(service::Args),
    /// Record a service's dirty death (ev=server-exit + forensics) from a detached watcher: ensure, disarm, status, tail.
    #[command(name = "exit-cause")]
    ExitCause(exit_cause::Args),
    /// Managed long-running services (minions' managed-spawn): validate, up, ls, restart, sweep, down.
    Services(services::Args),
    /// The job HTTP server: POST/GET/DELETE /jobs over keel's job registry, /metrics, /openapi.json.
    #[cfg(feature = "server")]
    Serve(serve::Args),
    /// Run one headless agent CLI turn (claude | codex) with durable state; exit 124 on a stall kill.
    Turn(turn::Args),
}

/// A failure that ends the command with exit status 1 and a message on stderr.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        // Every message that leaves keel passes the redactor.
        Failure(keel_core::redact::redact_secrets(&e.to_string()))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Redact(args) => redact::run(args),
        Command::Cred(args) => cred::run(args),
        Command::Run(args) => run::run(args),
        Command::Supervise(args) => supervise::run(args),
        Command::Service(args) => service::run(args),
        Command::Turn(args) => turn::run(args),
        Command::Services(args) => services::run(args),
        Command::ExitCause(args) => exit_cause::run(args),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(Failure(msg)) => {
            eprintln!("keel: error: {msg}");
            ExitCode::from(1)
        }
    }
}
