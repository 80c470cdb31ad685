//! `keel run`: run a command under keel's watchdogs, streaming its redacted output
//! live, and exit with its status — or 124 after a watchdog kill, like `timeout(1)`.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use keel_core::jobs::{
    run_command, AbortSignal, CommandError, CommandOptions, CommandResult, OutputSink, OutputStream,
};
use keel_core::process::{ExitClass, KillReason, ProcessError, TerminationSignals};

use crate::Failure;

/// Exit status after a watchdog kill (as `timeout(1)`).
const EXIT_KILLED: u8 = 124;

/// Options of `keel run`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Durations: 500ms, 30s, 10m, 1h, 1h30m, 250us (a bare number is seconds); values are
rounded up to whole milliseconds, so only 0 turns a watchdog off.

Exit status: the command's own; 128+N when a signal N it did not get from keel ended
it; 124 when a watchdog killed it (the reason goes to stderr); 125 when keel itself
failed; 126/127 when the command cannot be run / is not found. SIGINT, SIGTERM and
SIGHUP to keel terminate the command's whole process tree gracefully.

Secrets given with --secret are visible to other users in the process list; prefer
--secrets-file.

Example:
  keel run --inactivity 10m --max-duration 1h -- npm test")]
pub struct Args {
    /// Kill the command after this long without any output.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    inactivity: Duration,
    /// Kill the command after this long in total.
    #[arg(long = "max-duration", value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    max_duration: Duration,
    /// Grace between SIGTERM and SIGKILL when killing the command's process tree.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
    /// After this long without output, write held-back text that cannot be the start of
    /// a secret (a quiet command's last line shows at once, still redacted; 0: only at
    /// the end).
    #[arg(long = "idle-flush", value_name = "DURATION", default_value = "200ms", value_parser = parse_duration)]
    idle_flush: Duration,
    /// A known secret to mask in the output (repeatable).
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// A file with one known secret per line (repeatable).
    #[arg(long = "secrets-file", value_name = "F")]
    secrets_files: Vec<std::path::PathBuf>,
    /// Characters of output tail kept for --json.
    #[arg(long, value_name = "N", default_value_t = keel_core::redact::MAX_CAPTURED_OUTPUT_CHARS)]
    tail: usize,
    /// Print the result as JSON on stdout; the command's output then streams to stderr.
    #[arg(long)]
    json: bool,
    /// The command and its arguments (after `--`).
    #[arg(required = true, num_args = 1.., last = true, value_name = "CMD")]
    command: Vec<String>,
}

use keel_core::time::millis_ceil;
/// keel's one duration syntax (`500ms`, `30s`, `10m`, `1h30m`, `250us`; a bare number is
/// seconds), shared by every subcommand's flags: whole milliseconds, rounded up, so only
/// an explicit `0` is zero.
pub(crate) use keel_core::time::parse_duration;

/// A window as kill messages print it (`600s`, `300ms`): the one core formatter.
fn human(d: Duration) -> String {
    keel_core::jobs::format_window(millis_ceil(d))
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    // Before any thread starts: SIGINT/SIGTERM/SIGHUP become an abort of the command.
    let signals = TerminationSignals::block().ok();
    let windows = Windows {
        inactivity: args.inactivity,
        max_duration: args.max_duration,
    };

    let mut argv = args.command.into_iter();
    let mut options = CommandOptions::new(argv.next().unwrap_or_default());
    options.args = argv.collect();
    // 0 disables a watchdog (CommandOptions: Some(0) = off); anything else is at least
    // 1 ms (parse_duration rounds up), so a tiny window never turns one off.
    options.inactivity_ms = Some(millis_ceil(args.inactivity));
    options.max_duration_ms = Some(millis_ceil(args.max_duration));
    options.kill_grace_ms = Some(millis_ceil(args.grace));
    options.idle_flush_ms = Some(millis_ceil(args.idle_flush));
    let mut secrets = args.secrets;
    for path in &args.secrets_files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                // keel's own failure, before the command ran: 125 like timeout(1).
                eprintln!(
                    "keel: error: {}",
                    keel_core::redact::redact_secrets(&format!(
                        "cannot read {}: {e}",
                        path.display()
                    ))
                );
                return Ok(ExitCode::from(125));
            }
        };
        secrets.extend(
            text.split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    options.known_secrets = secrets;
    options.tail_chars = Some(args.tail);

    let json = args.json;
    let sink = OutputSink::Callback(Arc::new(move |stream, text: &str| {
        // Redacted text, on the runtime thread; a closed stdout/stderr must not stop the
        // command (its output still counts as activity).
        let _ = match (stream, json) {
            (OutputStream::Stdout, false) => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|_| out.flush())
            }
            _ => {
                let mut err = io::stderr().lock();
                err.write_all(text.as_bytes()).and_then(|_| err.flush())
            }
        };
    }));
    let abort = AbortSignal::new();
    let spec = options
        .into_spec()
        .stdout(sink.clone())
        .stderr(sink)
        .abort_signal(abort.clone());

    let interrupted = Arc::new(std::sync::atomic::AtomicI32::new(0));
    if let Some(signals) = signals {
        let abort = abort.clone();
        let interrupted = interrupted.clone();
        let _ = std::thread::Builder::new()
            .name("keel-signals".into())
            .spawn(move || {
                if let Ok(sig) = signals.wait() {
                    interrupted.store(sig, std::sync::atomic::Ordering::SeqCst);
                    abort.abort();
                }
            });
    }

    let runtime = keel_core::jobs::JobRuntime::new("keel-run")
        .map_err(|e| Failure(format!("cannot start the job runtime: {e}")))?;
    let outcome = runtime.block_on(run_command(spec));
    drop(runtime);

    let result = match outcome {
        Ok(r) => r,
        Err(e) => return Ok(spawn_failure(&e, json)),
    };
    if json {
        let text = serde_json::to_string_pretty(&result)?;
        println!("{text}");
    }
    let sig = interrupted.load(std::sync::atomic::Ordering::SeqCst);
    Ok(ExitCode::from(exit_status(&result, &windows, sig)))
}

struct Windows {
    inactivity: Duration,
    max_duration: Duration,
}

/// The exit status, with the reason of a kill on stderr.
fn exit_status(r: &CommandResult, w: &Windows, interrupted_by: i32) -> u8 {
    match r.exit {
        ExitClass::Exited { code } => code.clamp(0, 255) as u8,
        ExitClass::Signalled { signal } => (128 + signal).clamp(0, 255) as u8,
        ExitClass::Killed { reason, .. } => {
            let why = match reason {
                KillReason::InactivityTimeout => {
                    format!("no output for {} (inactivity-timeout)", human(w.inactivity))
                }
                KillReason::MaxDuration => format!(
                    "exceeded the max duration of {} (max-duration)",
                    human(w.max_duration)
                ),
                KillReason::NoToolProgress => "no tool progress (no-tool-progress)".to_owned(),
                _ if interrupted_by != 0 => format!("interrupted by signal {interrupted_by}"),
                _ => "aborted".to_owned(),
            };
            let how = match (r.escalated, r.tree_cleared) {
                (false, true) => "process tree terminated".to_owned(),
                (true, true) => "process tree ignored SIGTERM and was SIGKILLed".to_owned(),
                (_, false) => format!(
                    "{} processes of the tree could not be killed: {}",
                    r.survivors.len(),
                    r.survivors
                        .iter()
                        .map(|s| format!("pid {} ({})", s.pid, s.command))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            eprintln!(
                "keel: killed {}: {why}; {how}",
                keel_core::redact::redact_secrets(&format!("pid {}", r.pid))
            );
            if interrupted_by != 0 && reason == KillReason::Aborted {
                (128 + interrupted_by).clamp(0, 255) as u8
            } else {
                EXIT_KILLED
            }
        }
        _ => 1,
    }
}

/// The command could not be started: 127 when it is not found, 126 when it cannot be
/// executed, 125 otherwise (keel's own failure), as `timeout(1)` and shells do.
fn spawn_failure(e: &CommandError, json: bool) -> ExitCode {
    let msg = keel_core::redact::redact_secrets(&e.to_string());
    let code: u8 = match e {
        CommandError::Spawn(ProcessError::ProgramNotFound { .. }) => 127,
        CommandError::Spawn(ProcessError::ProgramNotExecutable { .. }) => 126,
        CommandError::Spawn(ProcessError::BadCwd { .. }) => 126,
        _ => 125,
    };
    if json {
        let v = serde_json::json!({ "error": msg, "exitCode": code });
        println!("{v}");
    }
    eprintln!("keel: error: {msg}");
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_come_from_core() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0.2ms").unwrap(), Duration::from_millis(1));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(human(Duration::from_secs(600)), "600s");
        assert_eq!(human(Duration::from_millis(300)), "300ms");
        assert_eq!(human(Duration::from_micros(300)), "1ms");
    }
}
