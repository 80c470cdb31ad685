//! `keel turn`: run one headless agent-CLI turn (Claude Code or Codex) with durable
//! state, streaming its redacted events.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use keel_core::process::TerminationSignals;
use keel_core::turns::{EventKind, Runtime, TurnAbort, TurnEvent, TurnOptions, TurnRunner};

use crate::run::parse_duration;
use crate::Failure;

/// Exit status when keel itself failed (lock timeout, store, spawn).
const EXIT_KEEL_FAILED: u8 = 125;

/// Options of `keel turn`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Input: the user turn is read from stdin as plain text (for Claude Code keel wraps it in
one stream-json user message; Codex gets it as is). Empty input runs nothing.

State (under --state-dir): turns.db (SQLite: sessions, events, messages),
agents/<name>/turn.lock and turn.pid, logs/<name>/<timestamp>/{stderr,runner}.log.
The turn completes when the agent ends cleanly; its terminal signal is a message of
type worker_done or result from the agent in the messages table.

Output: one line per event (`<type> <detail>`), redacted; with --json one JSON event
per line and the TurnResult JSON as the last line, e.g.
  {\"type\":\"result\",\"rawType\":\"result\",\"level\":\"info\",\"isError\":false,...}
  {\"exitCode\":0,\"cleanResult\":true,\"finalState\":\"completed\",...}

Exit status: 0 when the turn completed, 1 when it failed (error result, killed, aborted),
124 when the stall watchdog killed it, 125 when keel itself failed (the error names its
code, e.g. KEEL_TURN_LOCK_TIMEOUT), 2 on bad usage. SIGINT/SIGTERM/SIGHUP abort the turn
(its whole process tree is terminated; the session ends zombie).

Example:
  echo 'Fix the failing test' | keel turn --agent builder-1 --runtime claude \\
      --state-dir ~/.local/state/host --resume --stall 10m --json")]
pub struct Args {
    /// The agent's name ([A-Za-z0-9._-]).
    #[arg(long, value_name = "NAME")]
    agent: String,
    /// The agent CLI: claude or codex.
    #[arg(long, value_name = "RUNTIME", value_parser = parse_runtime)]
    runtime: Runtime,
    /// Directory for the store, locks and logs.
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: PathBuf,
    /// The CLI to run (default: claude / codex on PATH).
    #[arg(long, value_name = "PATH")]
    bin: Option<PathBuf>,
    /// Resume the agent's stored session.
    #[arg(long)]
    resume: bool,
    /// Stall watchdog: terminate the turn after this long without an event (0 = off).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    stall: Duration,
    /// The agent to notify (worker_died) when this one dies.
    #[arg(long, value_name = "NAME")]
    parent: Option<String>,
    /// Run id teed with every event.
    #[arg(long = "run-id", value_name = "ID")]
    run_id: Option<String>,
    /// Working directory of the CLI.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Bounded wait for the agent's turn lock.
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    lock_timeout: Duration,
    /// How long the CLI may live on after its final event.
    #[arg(long = "result-grace", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    result_grace: Duration,
    /// SIGTERM -> SIGKILL grace.
    #[arg(long = "kill-grace", value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    kill_grace: Duration,
    /// NDJSON line cap in bytes (longer lines are reported and skipped).
    #[arg(long = "max-line-bytes", value_name = "N")]
    max_line_bytes: Option<u64>,
    /// Print events as NDJSON and the TurnResult JSON last.
    #[arg(long)]
    json: bool,
    /// Extra arguments for the agent CLI (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    extra: Vec<String>,
}

fn parse_runtime(s: &str) -> Result<Runtime, String> {
    match s {
        "claude" => Ok(Runtime::Claude),
        "codex" => Ok(Runtime::Codex),
        _ => Err("must be claude or codex".into()),
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn clip(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() > n {
        let mut t: String = one_line.chars().take(n).collect();
        t.push('…');
        t
    } else {
        one_line
    }
}

/// A one-line, human rendering of an (already redacted) event.
fn human(e: &TurnEvent) -> String {
    let detail = match e.kind {
        EventKind::SessionStart => format!("session={}", e.session_id.as_deref().unwrap_or("?")),
        EventKind::ToolStart => format!(
            "{} {}",
            e.tool_name.as_deref().unwrap_or("?"),
            clip(
                &e.tool_args
                    .as_ref()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                160
            )
        ),
        EventKind::ToolEnd => {
            let ok = if e.is_error == Some(true) {
                "error"
            } else {
                "ok"
            };
            format!("{} {ok}", e.tool_name.as_deref().unwrap_or(""))
                .trim()
                .to_string()
        }
        EventKind::Result => format!(
            "{}{}",
            if e.is_error == Some(true) {
                "error"
            } else {
                "ok"
            },
            e.text
                .as_deref()
                .map(|t| format!(": {}", clip(t, 160)))
                .unwrap_or_default()
        ),
        _ => match &e.text {
            Some(t) => clip(t, 200),
            None if e.raw_type.starts_with("keel.") => clip(&e.data.to_string(), 200),
            None => e.raw_type.clone(),
        },
    };
    format!("{:<13} {detail}", e.kind.as_str())
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    // Before any thread starts: termination signals become an abort of the turn.
    let signals = TerminationSignals::block().ok();
    let mut input = String::new();
    io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| Failure(format!("cannot read the turn from stdin: {e}")))?;

    let mut o = TurnOptions::new(args.agent, args.runtime, args.state_dir);
    o.input = input;
    o.bin = args.bin;
    o.resume = args.resume;
    o.stall_ms = ms(args.stall);
    o.parent_agent = args.parent;
    o.run_id = args.run_id;
    o.cwd = args.cwd;
    o.lock_timeout_ms = ms(args.lock_timeout);
    o.result_grace_ms = ms(args.result_grace);
    o.kill_grace_ms = ms(args.kill_grace);
    if let Some(n) = args.max_line_bytes {
        o.max_line_bytes = n;
    }
    o.args = args.extra;

    let json = args.json;
    let runner = match TurnRunner::new(o) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "keel: error: {} [{}]",
                keel_core::redact::redact_secrets(&e.to_string()),
                e.code()
            );
            return Ok(ExitCode::from(2));
        }
    };
    let abort = TurnAbort::new();
    if let Some(signals) = signals {
        let abort = abort.clone();
        let _ = std::thread::Builder::new()
            .name("keel-signals".into())
            .spawn(move || {
                if signals.wait().is_ok() {
                    abort.abort();
                }
            });
    }
    let runner = runner.abort_signal(abort).on_event(move |e| {
        let line = if json {
            serde_json::to_string(e).unwrap_or_default()
        } else {
            human(e)
        };
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    });
    let result = match runner.run_blocking() {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "keel: error: {} [{}]",
                keel_core::redact::redact_secrets(&e.to_string()),
                e.code()
            );
            return Ok(ExitCode::from(EXIT_KEEL_FAILED));
        }
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        let how = match (&result.kill_reason, result.exit_code) {
            (Some(k), _) => format!("killed ({k})"),
            (None, Some(c)) => format!("exit {c}"),
            (None, None) => "no exit code".into(),
        };
        let mut notes = Vec::new();
        if result.no_op {
            notes.push("empty input: nothing ran".to_string());
        }
        if result.terminal_mail_missing {
            notes.push("ended without its terminal message".into());
        }
        if result.resume_mismatch {
            notes.push("resume answered with a different session".into());
        }
        if result.parent_notified {
            notes.push("parent notified (worker_died)".into());
        }
        if let Some(prev) = result.transition_rejected {
            notes.push(format!("final transition refused: state is {prev}"));
        }
        if result.recovered.is_some() {
            notes.push("recovered a previous runner's crash".into());
        }
        eprintln!(
            "keel: turn {}: {} -> {} ({how}, {} events, {} ms){}",
            result.agent_name,
            result.initial_state,
            result.final_state,
            result.event_count,
            result.duration_ms,
            if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            }
        );
    }
    Ok(ExitCode::from(result.exit_status()))
}
