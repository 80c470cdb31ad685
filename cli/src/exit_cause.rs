//! `keel exit-cause`: ensure a detached watcher that records a service's dirty death
//! (`ev=server-exit` + a forensics snapshot), disarm it before a deliberate stop, read
//! its status and the exit log. All behaviour is `keel_core::exit_cause`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use keel_core::exit_cause::{self, ExitCauseError, ExitCauseOptions};

use crate::run::parse_duration;
use crate::Failure;

/// Options of `keel exit-cause`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
A watcher is a small detached `keel` process outside the service (not its parent: if
the watcher dies the service runs on). When the watched process dies without a disarm
first, it appends one logfmt line to the exit log and writes a snapshot file:
  ts=2026-12-02T06:00:00.123Z ev=server-exit name=web pid=4242 status=signaled signal=SIGKILL
    uptime_ms=81234 status_source=proc-stat oom_kill=1 watcher_pid=4250 forensics=/…/web-4242-….txt
status is exited (with code=N), signaled (signal=SIGNAME) or unknown (signal=unknown: the
status could not be read, e.g. the parent reaped the process first; see status_source).
An exit with status 0 is recorded only with --record-clean-exit.

Files under --state-dir: <name>.watcher.json (the watcher's record, 0600), exits.log and
server-deaths/ unless --log-file / --forensics-dir say otherwise.

--options-json takes the whole ExitCauseOptions object instead of flags, e.g.
  {\"name\":\"web\",\"pid\":4242,\"stateDir\":\"/var/lib/host/exit-cause\",\"topProcesses\":10}

Examples:
  keel exit-cause ensure --name web --pid 4242 --state-dir ~/.local/state/host/exit-cause
  keel exit-cause disarm --name web --state-dir ~/.local/state/host/exit-cause && kill 4242
  keel exit-cause tail --state-dir ~/.local/state/host/exit-cause -n 5 --json

Exit status: 0 ok, 1 failure (the message names its code, e.g.
KEEL_EXIT_CAUSE_NOT_RUNNING), 2 bad usage.")]
pub struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Subcommand, Debug)]
enum Verb {
    /// Start a watcher for a running process unless one already watches it (idempotent).
    Ensure(EnsureArgs),
    /// Mark the coming stop as deliberate and stop the watcher, so nothing is recorded.
    Disarm(NameArgs),
    /// Show the watcher's record (watched pid, watcher pid, armed/disarmed/fired).
    Status(NameArgs),
    /// Print the last lines of the exit log.
    Tail(TailArgs),
    /// The watcher process itself (started by `ensure`; not for direct use).
    #[command(name = "__watcher", hide = true)]
    Watcher {
        /// The watcher spec (JSON).
        spec: String,
    },
}

#[derive(clap::Args, Debug)]
struct EnsureArgs {
    /// The watched service's name (a-z, 0-9, '.', '_', '-').
    #[arg(long, required_unless_present = "options_json")]
    name: Option<String>,
    /// The watched process id.
    #[arg(long, required_unless_present = "options_json")]
    pid: Option<u32>,
    /// Directory for the watcher's record (and the default log and snapshot places).
    #[arg(
        long = "state-dir",
        value_name = "DIR",
        required_unless_present = "options_json"
    )]
    state_dir: Option<PathBuf>,
    /// The process's start time (a pid record's startTime), to pin its identity.
    #[arg(long = "start-time", value_name = "T")]
    start_time: Option<u64>,
    /// The exit log (default <state-dir>/exits.log).
    #[arg(long = "log-file", value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// The snapshot directory (default <state-dir>/server-deaths).
    #[arg(long = "forensics-dir", value_name = "DIR")]
    forensics_dir: Option<PathBuf>,
    /// A crash-file directory listed in snapshots (repeatable; default the platform's).
    #[arg(long = "crash-dir", value_name = "DIR")]
    crash_dir: Vec<PathBuf>,
    /// Processes listed in the snapshot's top-RSS section.
    #[arg(long, value_name = "N")]
    top: Option<u32>,
    /// Record an exit with status 0 too.
    #[arg(long = "record-clean-exit")]
    record_clean_exit: bool,
    /// All options as one ExitCauseOptions JSON object (instead of the flags above).
    #[arg(long = "options-json", value_name = "JSON", conflicts_with_all = ["name", "pid", "state_dir"])]
    options_json: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct NameArgs {
    /// The watched service's name.
    #[arg(long)]
    name: String,
    /// The watcher's state directory.
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: PathBuf,
    /// (disarm) How long to wait for the watcher to be gone.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct TailArgs {
    /// The exit log.
    #[arg(
        long = "log-file",
        value_name = "FILE",
        required_unless_present = "state_dir"
    )]
    log_file: Option<PathBuf>,
    /// The state directory whose exits.log to read.
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// How many lines.
    #[arg(short = 'n', long = "lines", default_value_t = 20)]
    lines: usize,
    /// Print one JSON array of {line, fields}.
    #[arg(long)]
    json: bool,
}

fn fail(e: ExitCauseError) -> Failure {
    Failure::from(format!("{e} [{}]", e.code()))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

/// Run `keel exit-cause`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match args.verb {
        Verb::Watcher { spec } => {
            let code = exit_cause::watcher_main(&spec);
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Verb::Ensure(a) => {
            let mut o: ExitCauseOptions = match &a.options_json {
                Some(text) => keel_core::options::from_json(text, "--options-json", "options")
                    .map_err(|e| fail(e.into()))?,
                None => ExitCauseOptions::new(
                    a.name.clone().unwrap_or_default(),
                    a.pid.unwrap_or_default(),
                    a.state_dir.clone().unwrap_or_default(),
                ),
            };
            if a.start_time.is_some() {
                o.start_time = a.start_time;
            }
            if a.log_file.is_some() {
                o.log_file = a.log_file.clone();
            }
            if a.forensics_dir.is_some() {
                o.forensics_dir = a.forensics_dir.clone();
            }
            if !a.crash_dir.is_empty() {
                o.crash_dirs = Some(a.crash_dir.clone());
            }
            if let Some(n) = a.top {
                o.top_processes = n;
            }
            o.record_clean_exit |= a.record_clean_exit;
            if o.watcher_command.is_none() {
                o.watcher_command = Some(exit_cause::cli_watcher_command().map_err(fail)?);
            }
            let out = exit_cause::ensure(&o).map_err(fail)?;
            if a.json {
                print_json(&out)?;
            } else {
                let verb = match out.state {
                    exit_cause::EnsureState::Spawned => "started",
                    exit_cause::EnsureState::Already => "already running:",
                };
                println!(
                    "watcher {verb} pid {} watches {} (pid {}); exit log {}",
                    out.watcher_pid,
                    out.name,
                    out.pid,
                    out.log_file.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Disarm(a) => {
            let out = exit_cause::disarm(&a.state_dir, &a.name, Some(a.timeout)).map_err(fail)?;
            if a.json {
                print_json(&out)?;
            } else {
                match out.state {
                    exit_cause::DisarmState::Absent => println!("no watcher for {}", out.name),
                    exit_cause::DisarmState::Disarmed => println!(
                        "disarmed {}; watcher {}",
                        out.name,
                        if out.watcher_stopped {
                            "stopped"
                        } else {
                            "still exiting"
                        }
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Status(a) => {
            let st = exit_cause::status(&a.state_dir, &a.name).map_err(fail)?;
            if a.json {
                print_json(&st)?;
            } else {
                match &st {
                    None => println!("no watcher for {}", a.name),
                    Some(s) => println!(
                        "{}: pid {} {}; watcher pid {} {}{}{}",
                        s.name,
                        s.pid,
                        if s.alive { "alive" } else { "gone" },
                        s.watcher_pid,
                        if s.watcher_alive { "alive" } else { "gone" },
                        if s.disarmed_at.is_some() {
                            "; disarmed"
                        } else {
                            ""
                        },
                        if s.fired_at.is_some() {
                            "; death recorded"
                        } else {
                            ""
                        },
                    ),
                }
            }
            Ok(if st.is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Verb::Tail(a) => {
            let log = match (&a.log_file, &a.state_dir) {
                (Some(f), _) => f.clone(),
                (None, Some(d)) => d.join(exit_cause::DEFAULT_LOG_FILE_NAME),
                (None, None) => unreachable!("clap requires one"),
            };
            let lines = exit_cause::tail(&log, a.lines).map_err(fail)?;
            if a.json {
                print_json(&lines)?;
            } else {
                for l in lines {
                    println!("{}", l.line);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
