//! `keel supervise`: keep a worker registered and running forever (the replenishing
//! supervisor of `keel_core::supervisor`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use keel_core::supervisor::{
    ActionsRunnerCycle, ActionsRunnerOptions, CommandCycle, CommandCycleOptions,
    CommandTokenProvider, Cycle, RunFailurePolicy, StatusEvent, Supervisor, SupervisorOptions,
};

use crate::run::parse_duration;
use crate::Failure;

/// `keel supervise <form>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    form: Form,
}

#[derive(clap::Subcommand, Debug)]
enum Form {
    /// Replenish a command forever: each exit is one cycle; a non-zero exit backs off.
    #[command(after_help = "\
Durations: 500ms, 2s, 1m (a bare number is seconds).

Backoff after a failed cycle: capped exponential with 20% jitter (2s, 4s, 8s, 16s, 30s,
30s, …); a run that lasted --stable-after resets it; a successful run shorter than 1s
waits out the second (no hot loop). SIGTERM/SIGINT stop the command's whole process
tree (SIGTERM, --grace, SIGKILL) and keel exits 0. Status lines go to stderr
(JSON lines with --json: {\"slot\":0,\"at\":<epoch ms>,\"state\":\"backing-off\",\"attempt\":1,\"delayMs\":2000}).

Example:
  keel supervise command --backoff-base 1s -- ./worker --queue builds")]
    Command {
        #[command(flatten)]
        common: Common,
        /// The command and its arguments (after `--`).
        #[arg(required = true, num_args = 1.., last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Keep an ephemeral GitHub Actions runner registered: a fresh token, config.sh, run.sh, again.
    #[command(after_help = "\
Every cycle runs --token-command (with sh -c) for a fresh registration token (it must
print exactly one token on stdout), removes stale .runner/.credentials files, runs
config.sh --unattended --ephemeral --url URL --token T --name PREFIX-XXXXXXXX --labels L
--replace (the token is visible in `ps` while config.sh runs; keel keeps it out of its
own output), then run.sh. With --pool N, slot i uses RUNNER_DIR/slot-i, which must hold
its own extracted runner.

Example:
  keel supervise actions-runner --runner-dir ~/actions-runner \\
    --url https://github.com/acme/app --token-command 'gh-token-helper acme/app'")]
    ActionsRunner {
        #[command(flatten)]
        common: Common,
        /// The extracted actions/runner directory (config.sh, run.sh).
        #[arg(long, value_name = "DIR")]
        runner_dir: std::path::PathBuf,
        /// Repository or organisation URL.
        #[arg(long, value_name = "URL")]
        url: String,
        /// Shell command printing a fresh registration token on stdout.
        #[arg(long, value_name = "CMD")]
        token_command: String,
        /// Runner name prefix (names are PREFIX-<8 hex>).
        #[arg(long, value_name = "P", default_value = "keel")]
        name_prefix: String,
        /// Comma-separated labels.
        #[arg(long, value_name = "L", default_value = "self-hosted")]
        labels: String,
        /// Number of runner slots.
        #[arg(long, value_name = "N", default_value_t = 1)]
        pool: u32,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// First backoff after a failure.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    backoff_base: Duration,
    /// Backoff cap.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    backoff_max: Duration,
    /// A run this long resets the backoff.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    stable_after: Duration,
    /// Grace between SIGTERM and SIGKILL when stopping the worker.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
    /// Status as JSON lines on stderr.
    #[arg(long)]
    json: bool,
}

impl Common {
    fn options(&self) -> SupervisorOptions {
        SupervisorOptions {
            backoff_base_ms: self.backoff_base.as_millis() as u64,
            backoff_max_ms: self.backoff_max.as_millis() as u64,
            stable_after_ms: self.stable_after.as_millis() as u64,
            stop_grace_ms: self.grace.as_millis() as u64,
            install_signal_handlers: true,
            ..Default::default()
        }
    }
}

fn print_status(json: bool, e: &StatusEvent) {
    let line = if json {
        serde_json::to_string(e).unwrap_or_default()
    } else {
        let mut l = format!("keel: supervise: slot {} {}", e.slot, e.status);
        if let Some(r) = &e.reason {
            l.push_str(": ");
            l.push_str(r);
        }
        l
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

fn supervise<C: Cycle>(
    cycle: C,
    options: SupervisorOptions,
    json: bool,
) -> Result<ExitCode, Failure> {
    let sup = Supervisor::builder(cycle)
        .options(options)
        .on_status(move |e| print_status(json, e))
        .build()
        .map_err(coded)?;
    let report = sup.run_blocking().map_err(coded)?;
    Ok(ExitCode::from(report.exit_code() as u8))
}

fn coded(e: keel_core::supervisor::SupervisorError) -> Failure {
    Failure::from(format!("{e} [{}]", e.code()))
}

/// Run `keel supervise`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match args.form {
        Form::Command { common, command } => {
            let mut options = common.options();
            options.run_failure = RunFailurePolicy::Exponential;
            let cycle = CommandCycle::new(CommandCycleOptions {
                argv: command,
                ..Default::default()
            })
            .map_err(coded)?;
            supervise(cycle, options, common.json)
        }
        Form::ActionsRunner {
            common,
            runner_dir,
            url,
            token_command,
            name_prefix,
            labels,
            pool,
        } => {
            let mut options = common.options();
            options.pool = pool;
            if pool > 1 {
                options.work_dir = Some(runner_dir.to_string_lossy().into_owned());
            }
            let mut ro = ActionsRunnerOptions::new(runner_dir.to_string_lossy(), url);
            ro.name_prefix = name_prefix;
            ro.labels = labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            let tokens = CommandTokenProvider::new(vec!["sh".into(), "-c".into(), token_command])
                .map_err(coded)?;
            let cycle = ActionsRunnerCycle::new(ro, tokens).map_err(coded)?;
            supervise(cycle, options, common.json)
        }
    }
}
