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
Durations: 500ms, 30s, 10m, 1h (a bare number is seconds); 0 turns a watchdog off.

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

/// `500ms`, `30s`, `10m`, `1h`, `2d`; a bare number is seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 30s, 10m, 1h)"))?;
    let ms = match unit {
        "ms" => n,
        "" | "s" => n * 1e3,
        "m" => n * 60e3,
        "h" => n * 3600e3,
        "d" => n * 86_400e3,
        _ => return Err(format!("{s:?} has an unknown unit (use ms, s, m, h or d)")),
    };
    if !ms.is_finite() || !(0.0..=1e15).contains(&ms) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_millis(ms.round() as u64))
}

/// `10m`, `1h30m`, `1.5s` — for messages.
fn human(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if !ms.is_multiple_of(1000) {
        return format!("{}ms", ms);
    }
    let s = ms / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

fn window_ms(d: Duration) -> Option<u64> {
    // 0 disables the watchdog (CommandOptions: Some(0) = off).
    Some(d.as_millis() as u64)
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
    options.inactivity_ms = window_ms(args.inactivity);
    options.max_duration_ms = window_ms(args.max_duration);
    options.kill_grace_ms = Some(args.grace.as_millis() as u64);
    let mut secrets = args.secrets;
    for path in &args.secrets_files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
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
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_millis(300)), "300ms");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
    }
}
