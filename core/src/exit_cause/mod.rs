//! The exit-cause recorder: a small detached watcher process **outside** a service that
//! records the service's dirty death — one `ev=server-exit` logfmt line appended to an
//! exit log plus a forensics snapshot (memory, pressure, cgroup OOM counters, kernel OOM
//! lines, top processes by RSS, newest crash files) taken within moments of the death —
//! and stays silent when the teardown was deliberate ([`disarm`] first, then stop the
//! service).
//!
//! It closes the gap the reference (iapeer's server-death canary) closes for tmux
//! servers: a supervised server killed by `SIGKILL` or the OOM killer runs no handler of
//! its own, and a supervisor that polls finds only that it is gone. The watcher is
//! observability only: it never restarts, signals or otherwise manages the service, it
//! fires at most once, and it is never load-bearing — it is not the service's parent, so
//! when the watcher dies (even by `SIGKILL`) the service keeps running untouched; the
//! next [`ensure`] starts a new one.
//!
//! ```no_run
//! use keel_core::exit_cause::{self, ExitCauseOptions, EnsureState};
//!
//! let service = std::process::Command::new("my-server").spawn()?;
//! let mut opts = ExitCauseOptions::new("web", service.id(), "/var/lib/host/exit-cause");
//! // The program that runs the watcher loop (here the keel CLI); see "Hosts" below.
//! opts.watcher_command = Some(vec!["keel".into(), "exit-cause".into(), "__watcher".into()]);
//! let first = exit_cause::ensure(&opts)?;
//! assert_eq!(first.state, EnsureState::Spawned);
//! assert_eq!(exit_cause::ensure(&opts)?.state, EnsureState::Already); // idempotent
//!
//! // A deliberate stop: disarm first, then stop the service — nothing is recorded.
//! exit_cause::disarm(&opts.state_dir, "web", None)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is dirty
//!
//! Any death of the watched process not preceded by [`disarm`]: a signal (any, including
//! a `SIGTERM` from someone else), a non-zero exit code, or an unknown status. An exit
//! with status 0 is the process ending itself cleanly and is recorded only with
//! `recordCleanExit`. A signal to the **watcher** (`SIGTERM`, `SIGINT`, `SIGHUP`,
//! `SIGKILL`) ends it silently, like the reference's `trap 'exit 0'`.
//!
//! # How a non-parent learns the exit status (Linux), and its limits
//!
//! Only a parent (or a subreaper the process was orphaned to) can `waitid` a process; a
//! pidfd tells anyone **that** the process ended, not how. The watcher therefore:
//!
//! 1. opens a pidfd (`pidfd_open`) and keeps `/proc/<pid>/stat` open, checking the start
//!    time so a reused pid is never watched;
//! 2. sleeps in `poll` on the pidfd, which becomes readable when the process has become
//!    a zombie — after it exited, **before** its parent reaps it;
//! 3. at once re-reads the open `/proc/<pid>/stat`, whose field 52 (`exit_code`, Linux
//!    3.5+) is the status in `waitpid` form while the zombie exists.
//!
//! The read races the parent's reap. A parent that reaps lazily (most hosts: a tokio or
//! libuv loop is woken by `SIGCHLD` first) usually loses the race; init or a subreaper
//! that reaps at once may win it. When the zombie is already gone the line says
//! `status=unknown signal=unknown status_source=reaped`. When the kernel hides the
//! field from this user (another uid, a non-dumpable process: it then reads 0) the
//! watcher knows it at arm time and says `status_source=not-permitted`, never a false
//! `code=0`. Without pidfds (kernels before 5.3, seccomp) and on macOS the watcher polls
//! the process's start time every 200 ms (`status_source` `reaped` unless the zombie is
//! still there on Linux); macOS's kqueue `NOTE_EXITSTATUS` is for children only, so
//! macOS records `signal=unknown` always. A watcher that **is** the parent
//! (`keel exit-cause` does not do that: the service must never depend on its watcher)
//! would be the only way to get the status every time.
//!
//! # Files
//!
//! * `<stateDir>/<name>.watcher.json` (0600, `fsx` locked state file): the watcher's
//!   record — watched and watcher [`PidRecord`]s, the log and snapshot paths, `armedAt`,
//!   `disarmedAt`, `firedAt`. [`ensure`] holds its lock while it checks and starts a
//!   watcher, so two concurrent ensures start one watcher.
//! * the exit log (`<stateDir>/exits.log` by default, 0600, append-only): one line per
//!   death, e.g.
//!   `ts=2026-12-02T06:00:00.123Z ev=server-exit name=web pid=4242 status=signaled signal=SIGKILL uptime_ms=81234 status_source=proc-stat oom_kill=1 watcher_pid=4250 forensics=/…/server-deaths/web-4242-1764655200123.txt`;
//!   every value escaped and redacted.
//! * the snapshot (`<forensicsDir>/<name>-<pid>-<ms>.txt`, 0600), its first line
//!   `server-death name=… pid=… …`, then `--- meminfo`, `--- pressure-memory`,
//!   `--- cgroup` (with `memory.events` and the `oom_kill` count at arm time),
//!   `--- kernel-log` (OOM lines from `/dev/kmsg` when readable, else why not),
//!   `--- top-rss`, `--- crash-files`.
//!
//! # Hosts: how a watcher process is started
//!
//! [`ensure`] runs `watcherCommand ++ [spec JSON]` through a double fork (the watcher is
//! nobody's child to reap, in its own session, with inherited descriptors closed) and
//! waits (bounded by `readyTimeoutMs`) for the line [`READY_PREFIX`] on its stdout,
//! printed once the pidfd is open. The program must call [`watcher_main`] with the last
//! argument:
//!
//! * **CLI**: `keel exit-cause __watcher <json>`; `keel exit-cause ensure` uses its own
//!   executable by default.
//! * **Node**: the addon under `process.execPath` (`node <package>/exit-cause-watcher.js
//!   <json>`, which calls `runExitCauseWatcher`); the default of `ensureExitCauseWatcher`.
//! * **C**: the host's own executable dispatching to `keel_exit_cause_watcher_main` when
//!   its first argument is `--keel-exit-cause-watcher` (see `keel.h`), or any
//!   `watcherCommand`, e.g. the keel CLI.
//!
//! A program that does not dispatch never prints the readiness line: [`ensure`] fails
//! with `KEEL_EXIT_CAUSE_WATCHER_FAILED` instead of pretending.

mod error;
mod forensics;
pub mod logfmt;
mod options;
#[allow(unsafe_code)]
mod sys;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::fsx::{self, JsonStateFile};
use crate::process::PidRecord;

pub use error::{sample_codes, ExitCauseError};
pub use options::*;
pub use sys::signal_name;

/// The first words of the watcher's readiness line on its stdout.
pub const READY_PREFIX: &str = "keel-exit-cause-watcher ready";
/// The first words of the line a watcher prints when it cannot start.
pub const ERROR_PREFIX: &str = "keel-exit-cause-watcher error";
/// The argument a C host's executable dispatches on (see `keel_exit_cause_watcher_main`).
pub const C_WATCHER_ARG: &str = "--keel-exit-cause-watcher";
/// Format version of the watcher record and the watcher spec.
pub const RECORD_VERSION: u32 = 1;
/// Poll interval of the fallback watcher (no pidfds, macOS).
const FALLBACK_POLL: Duration = Duration::from_millis(200);
/// Most bytes of watcher output read while waiting for the readiness line.
const MAX_READY_OUTPUT: usize = 64 * 1024;
/// Most bytes of the exit log read by [`tail`].
const MAX_TAIL_BYTES: u64 = 1024 * 1024;

/// The watcher record `<stateDir>/<name>.watcher.json` (keel's own versioned format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WatcherRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The watched service's name.
    pub name: String,
    /// The watched process.
    pub watched: PidRecord,
    /// The watcher process.
    pub watcher: PidRecord,
    /// The exit log.
    pub log_file: PathBuf,
    /// The snapshot directory.
    pub forensics_dir: PathBuf,
    /// Epoch ms the watcher armed.
    pub armed_at: u64,
    /// Epoch ms of [`disarm`], if it was called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disarmed_at: Option<u64>,
    /// Epoch ms the watcher recorded a death, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<u64>,
}

/// What the watcher process is started with (the JSON argument of [`watcher_main`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WatcherSpec {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The options, with `startTime` filled in.
    pub options: ExitCauseOptions,
}

/// Whether [`ensure`] started a watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum EnsureState {
    /// A new watcher was started (the reference's `'spawned'`).
    Spawned,
    /// A live watcher already watches this process (`'already'`).
    Already,
}

/// What [`ensure`] did. JSON: `{"state":"spawned","name":"web","pid":4242,"watcherPid":4250,"logFile":"…","forensicsDir":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnsureOutcome {
    /// Spawned or already.
    pub state: EnsureState,
    /// The watched service.
    pub name: String,
    /// The watched pid.
    pub pid: u32,
    /// The watcher's pid.
    pub watcher_pid: u32,
    /// The exit log.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub log_file: PathBuf,
    /// The snapshot directory.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub forensics_dir: PathBuf,
}

/// What [`disarm`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DisarmState {
    /// The watcher was told the next death is deliberate (and signalled to stop).
    Disarmed,
    /// No watcher record for this name: nothing to do.
    Absent,
}

/// What [`disarm`] did. JSON: `{"state":"disarmed","name":"web","watcherStopped":true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DisarmOutcome {
    /// Disarmed or absent.
    pub state: DisarmState,
    /// The watched service.
    pub name: String,
    /// Whether no watcher process is left (it was gone already or stopped in time).
    pub watcher_stopped: bool,
}

/// A watcher's record as [`status`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WatcherStatus {
    /// The watched service.
    pub name: String,
    /// The watched pid.
    pub pid: u32,
    /// Whether the watched process is alive.
    pub alive: bool,
    /// The watcher's pid.
    pub watcher_pid: u32,
    /// Whether the watcher is alive.
    pub watcher_alive: bool,
    /// Epoch ms the watcher armed.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub armed_at: u64,
    /// Epoch ms of the disarm, if any.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub disarmed_at: Option<u64>,
    /// Epoch ms the death was recorded, if it was.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub fired_at: Option<u64>,
    /// The exit log.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub log_file: PathBuf,
    /// The snapshot directory.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub forensics_dir: PathBuf,
}

/// How the watched process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// The status could not be read (see the module docs).
    Unknown,
}

impl ExitStatus {
    /// Decode a `waitpid`-form status.
    pub fn from_wait_status(raw: i32) -> ExitStatus {
        if raw & 0x7f == 0 {
            ExitStatus::Exited((raw >> 8) & 0xff)
        } else {
            ExitStatus::Signaled {
                signal: raw & 0x7f,
                core_dumped: raw & 0x80 != 0,
            }
        }
    }

    /// Whether this is a dirty death (anything but exit code 0).
    pub fn is_dirty(&self) -> bool {
        !matches!(self, ExitStatus::Exited(0))
    }
}

/// One line of the exit log, parsed by [`tail`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExitLogLine {
    /// The line as written (without its newline).
    pub line: String,
    /// Its `key=value` pairs.
    pub fields: std::collections::BTreeMap<String, String>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn record_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(format!("{name}.watcher.json"))
}

fn state_file(state_dir: &Path, name: &str) -> JsonStateFile<WatcherRecord> {
    JsonStateFile::new(record_path(state_dir, name))
}

fn same_process(a: &PidRecord, b: &PidRecord) -> bool {
    a.pid == b.pid && a.start_time == b.start_time
}

fn check_record(rec: &WatcherRecord, path: &Path) -> Result<(), ExitCauseError> {
    let bad = |what: &str| {
        ExitCauseError::Fsx(fsx::FsxError::InvalidPath {
            path: path.to_owned(),
            reason: match what {
                "version" => "unsupported watcher record version",
                "pid" => "watcher record has an invalid pid",
                _ => "watcher record is for another name",
            },
        })
    };
    if rec.version != RECORD_VERSION {
        return Err(bad("version"));
    }
    if rec.watched.pid <= 1 || rec.watcher.pid <= 1 {
        return Err(bad("pid"));
    }
    Ok(())
}

/// The identity of the process to watch: `(pid, startTime)` checked against the live one.
fn watched_identity(opts: &ExitCauseOptions) -> Result<PidRecord, ExitCauseError> {
    let live =
        PidRecord::capture(opts.pid).map_err(|_| ExitCauseError::NotRunning { pid: opts.pid })?;
    if let Some(t) = opts.start_time {
        if t != live.start_time {
            return Err(ExitCauseError::NotRunning { pid: opts.pid });
        }
    }
    Ok(live)
}

/// The default `watcherCommand` of the calling program when it dispatches like the CLI
/// (`<exe> exit-cause __watcher`).
pub fn cli_watcher_command() -> Result<Vec<String>, ExitCauseError> {
    let exe = std::env::current_exe().map_err(|source| ExitCauseError::Io {
        op: "find the current executable",
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    Ok(vec![
        exe.to_string_lossy().into_owned(),
        "exit-cause".into(),
        "__watcher".into(),
    ])
}

/// Ensure one watcher watches `opts.pid` under `opts.name`: start one when there is no
/// live watcher for this `(pid, start time)`, else report the one there is.
///
/// Idempotent and safe against concurrent callers (the record's lock is held while
/// checking and starting). A live watcher of the same name watching another process (a
/// restarted service), or a disarmed one, is stopped silently and replaced.
/// `opts.watcherCommand` must be set (each surface fills in its default).
pub fn ensure(opts: &ExitCauseOptions) -> Result<EnsureOutcome, ExitCauseError> {
    opts.validate()?;
    let command = opts.watcher_command.clone().ok_or_else(|| {
        ExitCauseError::Options(crate::options::OptionsError::range(
            "options.watcherCommand",
            "is required here (the program that runs the watcher loop)",
        ))
    })?;
    let watched = watched_identity(opts)?;
    fsx::ensure_private_dir(&opts.state_dir)?;
    let log_file = opts.resolved_log_file();
    let forensics_dir = opts.resolved_forensics_dir();
    let path = record_path(&opts.state_dir, &opts.name);
    let state = state_file(&opts.state_dir, &opts.name);
    let outcome = state.update(|cur| -> Result<EnsureOutcome, ExitCauseError> {
        if let Some(rec) = cur.as_ref() {
            check_record(rec, &path)?;
            if rec.watcher.is_alive() {
                let current = same_process(&rec.watched, &watched)
                    && rec.disarmed_at.is_none()
                    && rec.fired_at.is_none();
                if current {
                    return Ok(EnsureOutcome {
                        state: EnsureState::Already,
                        name: opts.name.clone(),
                        pid: opts.pid,
                        watcher_pid: rec.watcher.pid,
                        log_file: rec.log_file.clone(),
                        forensics_dir: rec.forensics_dir.clone(),
                    });
                }
                // Superseded or disarmed: a signal ends a watcher silently.
                let _ = rec.watcher.signal(libc::SIGTERM);
            }
        }
        let mut spec_opts = opts.clone();
        spec_opts.start_time = Some(watched.start_time);
        spec_opts.log_file = Some(log_file.clone());
        spec_opts.forensics_dir = Some(forensics_dir.clone());
        spec_opts.watcher_command = None;
        let spec = WatcherSpec {
            version: RECORD_VERSION,
            options: spec_opts,
        };
        let watcher = spawn_watcher(&command, &spec, opts.ready_timeout_ms)?;
        *cur = Some(WatcherRecord {
            version: RECORD_VERSION,
            name: opts.name.clone(),
            watched: watched.clone(),
            watcher: watcher.clone(),
            log_file: log_file.clone(),
            forensics_dir: forensics_dir.clone(),
            armed_at: now_ms(),
            disarmed_at: None,
            fired_at: None,
        });
        Ok(EnsureOutcome {
            state: EnsureState::Spawned,
            name: opts.name.clone(),
            pid: opts.pid,
            watcher_pid: watcher.pid,
            log_file,
            forensics_dir,
        })
    })??;
    Ok(outcome)
}

/// Start `command ++ [spec]` detached and wait for its readiness line.
fn spawn_watcher(
    command: &[String],
    spec: &WatcherSpec,
    ready_timeout_ms: u64,
) -> Result<PidRecord, ExitCauseError> {
    let json = serde_json::to_string(spec).map_err(|_| ExitCauseError::failed("spec encoding"))?;
    let program = &command[0];
    let mut cmd = std::process::Command::new(program);
    cmd.args(&command[1..])
        .arg(&json)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    sys::detach(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| ExitCauseError::failed(format!("cannot start {program:?}: {e}")))?;
    // The intermediate child exits at once; the watcher is its orphaned child.
    let _ = child.wait();
    let mut out = child.stdout.take().expect("stdout is piped");
    let deadline = Instant::now() + Duration::from_millis(ready_timeout_ms);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // A complete line may already be there.
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(&buf[..nl]).into_owned();
            buf.drain(..=nl);
            // A host may print before the watcher does (without a newline, even).
            if let Some(at) = line.find(READY_PREFIX) {
                return parse_ready(line[at + READY_PREFIX.len()..].trim())
                    .ok_or_else(|| ExitCauseError::failed("malformed readiness line"));
            }
            if let Some(at) = line.find(ERROR_PREFIX) {
                return Err(ExitCauseError::failed(
                    line[at + ERROR_PREFIX.len()..].trim(),
                ));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ExitCauseError::failed(format!(
                "{program:?} did not report readiness within {ready_timeout_ms} ms"
            )));
        }
        let ready = sys::wait_readable(
            out.as_raw_fd(),
            left.as_millis().min(i32::MAX as u128) as i32,
        )
        .map_err(|e| ExitCauseError::failed(format!("waiting for the watcher: {e}")))?;
        if !ready {
            continue;
        }
        match out.read(&mut chunk) {
            Ok(0) => {
                return Err(ExitCauseError::failed(format!(
                    "{program:?} exited without reporting readiness (does it dispatch to the \
                     exit-cause watcher entry point? see watcherCommand)"
                )))
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_READY_OUTPUT {
                    return Err(ExitCauseError::failed(format!(
                        "{program:?} printed more than {MAX_READY_OUTPUT} bytes without a readiness line"
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ExitCauseError::failed(format!("reading the watcher: {e}"))),
        }
    }
}

fn parse_ready(rest: &str) -> Option<PidRecord> {
    let f = logfmt::parse(rest);
    let pid: u32 = f.get("pid")?.parse().ok()?;
    let start: u64 = f.get("start")?.parse().ok()?;
    if pid <= 1 || start == 0 {
        return None;
    }
    let mut rec = PidRecord::capture(pid)
        .ok()
        .filter(|r| r.start_time == start);
    if rec.is_none() {
        // Already gone (it recorded a death at once): keep its identity anyway.
        let mut r = PidRecord::capture(std::process::id()).ok()?;
        r.pid = pid;
        r.start_time = start;
        rec = Some(r);
    }
    rec
}

/// Tell the watcher of `name` that the coming stop is deliberate: mark the record
/// disarmed (the watcher checks it before recording), then `SIGTERM` the watcher (pid-reuse
/// safe) and wait up to `timeout` (default [`DEFAULT_STOP_TIMEOUT_MS`]) for it to be gone.
/// Idempotent; `Absent` when there is no record.
pub fn disarm(
    state_dir: &Path,
    name: &str,
    timeout: Option<Duration>,
) -> Result<DisarmOutcome, ExitCauseError> {
    validate_name(name, "name")?;
    let path = record_path(state_dir, name);
    if !state_dir.is_dir() {
        return Ok(DisarmOutcome {
            state: DisarmState::Absent,
            name: name.to_owned(),
            watcher_stopped: true,
        });
    }
    let state = state_file(state_dir, name);
    let rec = state.update(|cur| -> Result<Option<WatcherRecord>, ExitCauseError> {
        let Some(rec) = cur.as_mut() else {
            return Ok(None);
        };
        check_record(rec, &path)?;
        if rec.disarmed_at.is_none() {
            rec.disarmed_at = Some(now_ms());
        }
        Ok(Some(rec.clone()))
    })??;
    let Some(rec) = rec else {
        return Ok(DisarmOutcome {
            state: DisarmState::Absent,
            name: name.to_owned(),
            watcher_stopped: true,
        });
    };
    let _ = rec.watcher.signal(libc::SIGTERM);
    let deadline =
        Instant::now() + timeout.unwrap_or(Duration::from_millis(DEFAULT_STOP_TIMEOUT_MS));
    let mut stopped = !rec.watcher.is_alive();
    while !stopped && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        stopped = !rec.watcher.is_alive();
    }
    Ok(DisarmOutcome {
        state: DisarmState::Disarmed,
        name: name.to_owned(),
        watcher_stopped: stopped,
    })
}

/// The record of the watcher of `name`, `None` when there is none.
pub fn status(state_dir: &Path, name: &str) -> Result<Option<WatcherStatus>, ExitCauseError> {
    validate_name(name, "name")?;
    let path = record_path(state_dir, name);
    let Some(rec) = state_file(state_dir, name).read()? else {
        return Ok(None);
    };
    check_record(&rec, &path)?;
    Ok(Some(WatcherStatus {
        name: rec.name.clone(),
        pid: rec.watched.pid,
        alive: rec.watched.is_alive(),
        watcher_pid: rec.watcher.pid,
        watcher_alive: rec.watcher.is_alive(),
        armed_at: rec.armed_at,
        disarmed_at: rec.disarmed_at,
        fired_at: rec.fired_at,
        log_file: rec.log_file,
        forensics_dir: rec.forensics_dir,
    }))
}

/// The last `n` lines of an exit log (at most the last 1 MiB is read), oldest first.
/// A missing log is empty.
pub fn tail(log_file: &Path, n: usize) -> Result<Vec<ExitLogLine>, ExitCauseError> {
    use std::io::{Seek, SeekFrom};
    let io = |op, source| ExitCauseError::Io {
        op,
        path: log_file.to_owned(),
        source,
    };
    let mut f = match std::fs::File::open(log_file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("open", e)),
    };
    let len = f.metadata().map_err(|e| io("stat", e))?.len();
    let from = len.saturating_sub(MAX_TAIL_BYTES);
    f.seek(SeekFrom::Start(from)).map_err(|e| io("seek", e))?;
    let mut bytes = Vec::new();
    f.take(MAX_TAIL_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| io("read", e))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if from > 0 && !lines.is_empty() {
        lines.remove(0); // a partial first line
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines
        .into_iter()
        .skip(skip)
        .map(|l| ExitLogLine {
            line: l.to_owned(),
            fields: logfmt::parse(l),
        })
        .collect())
}

/// How many snapshot files `forensics_dir` holds (0 when it does not exist).
pub fn snapshot_count(forensics_dir: &Path) -> usize {
    std::fs::read_dir(forensics_dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".txt"))
                .count()
        })
        .unwrap_or(0)
}

/// The watcher process's entry point: parse `spec_json` (a [`WatcherSpec`]), arm, print
/// the readiness line, point stdout/stderr at `/dev/null`, wait for the watched
/// process's end and record it unless disarmed. Returns the process exit status (0
/// after recording or staying silent, 2 for a spec that does not parse, 1 when arming
/// failed); a line starting with [`ERROR_PREFIX`] says why.
pub fn watcher_main(spec_json: &str) -> i32 {
    sys::default_termination_signals();
    let spec: WatcherSpec = match crate::options::from_json(spec_json, "spec", "spec") {
        Ok(s) => s,
        Err(e) => {
            println!("{ERROR_PREFIX} {e}");
            return 2;
        }
    };
    if spec.version != RECORD_VERSION {
        println!("{ERROR_PREFIX} spec.version is not {RECORD_VERSION}");
        return 2;
    }
    if let Err(e) = spec.options.validate() {
        println!("{ERROR_PREFIX} {e}");
        return 2;
    }
    let armed = Armed::arm(&spec.options);
    let me = match PidRecord::capture(std::process::id()) {
        Ok(me) => me,
        Err(e) => {
            println!("{ERROR_PREFIX} cannot record the watcher itself: {e}");
            return 1;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let ok = writeln!(
        stdout,
        "{READY_PREFIX} pid={} start={}",
        me.pid, me.start_time
    )
    .and_then(|_| stdout.flush());
    drop(stdout);
    if ok.is_err() {
        // Nobody waits for us: the ensurer gave up.
        return 0;
    }
    sys::silence_stdio();
    let death = armed.wait();
    let _ = record_death(&spec.options, &me, &armed, death);
    0
}

/// The result of a watch: the status and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Death {
    status: ExitStatus,
    source: &'static str,
    at_ms: u64,
}

struct Armed {
    pid: u32,
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
    #[cfg(target_os = "linux")]
    stat: Option<std::fs::File>,
    /// The kernel shows this user the exit-code field.
    status_readable: bool,
    /// The process was gone (or the pid reused) before the watcher armed.
    gone: bool,
    start_time: u64,
    started_at_ms: Option<u64>,
    baseline: forensics::Baseline,
}

/// Fields after the last `)` of `/proc/<pid>/stat` (index 0 is field 3).
#[cfg(target_os = "linux")]
fn stat_fields(text: &str) -> Option<Vec<&str>> {
    let close = text.rfind(')')?;
    Some(text.get(close + 1..)?.split_ascii_whitespace().collect())
}

#[cfg(target_os = "linux")]
fn read_stat(f: &std::fs::File) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 4096];
    let n = f.read_at(&mut buf, 0).ok()?;
    buf.truncate(n);
    String::from_utf8(buf).ok()
}

impl Armed {
    fn arm(opts: &ExitCauseOptions) -> Armed {
        let pid = opts.pid;
        let start_time = opts.start_time.unwrap_or(0);
        let mut a = Armed {
            pid,
            #[cfg(target_os = "linux")]
            pidfd: None,
            #[cfg(target_os = "linux")]
            stat: None,
            status_readable: false,
            gone: false,
            start_time,
            started_at_ms: None,
            baseline: forensics::Baseline::default(),
        };
        #[cfg(target_os = "linux")]
        {
            match sys::pidfd_open(pid) {
                Ok(fd) => a.pidfd = fd,
                Err(_) => a.gone = true,
            }
            a.stat = std::fs::File::open(format!("/proc/{pid}/stat")).ok();
            let text = a.stat.as_ref().and_then(read_stat);
            match text.as_deref().and_then(stat_fields) {
                Some(f) => {
                    let st: u64 = f.get(19).and_then(|s| s.parse().ok()).unwrap_or(0);
                    let state = f.first().copied().unwrap_or("X");
                    if st != start_time || state == "Z" || state == "X" {
                        a.gone = true;
                    }
                    // start_code (field 26) reads 1 when the kernel hides this process's
                    // restricted fields (exit_code among them) from us.
                    let start_code: u64 = f.get(23).and_then(|s| s.parse().ok()).unwrap_or(1);
                    a.status_readable = start_code > 1;
                    if let Ok(up) = std::fs::read_to_string("/proc/uptime") {
                        if let Some(up_s) = up
                            .split_whitespace()
                            .next()
                            .and_then(|s| s.parse::<f64>().ok())
                        {
                            let start_s = st as f64 / sys::clk_tck() as f64;
                            let age_ms = ((up_s - start_s) * 1000.0).max(0.0) as u64;
                            a.started_at_ms = Some(now_ms().saturating_sub(age_ms));
                        }
                    }
                }
                None => a.gone = true,
            }
            a.baseline = forensics::Baseline::capture(pid);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let rec = PidRecord::capture(pid).ok();
            match rec {
                Some(r) if r.start_time == start_time => {
                    // macOS start times are microseconds since the epoch.
                    a.started_at_ms = Some(start_time / 1000);
                }
                _ => a.gone = true,
            }
        }
        a
    }

    fn alive(&self) -> bool {
        if !sys::pid_exists(self.pid) {
            return false;
        }
        PidRecord::capture(self.pid)
            .map(|r| r.start_time == self.start_time)
            .unwrap_or(false)
    }

    /// Block until the watched process has ended; read its status if still possible.
    fn wait(&self) -> Death {
        if self.gone {
            return Death {
                status: ExitStatus::Unknown,
                source: "gone-before-watch",
                at_ms: now_ms(),
            };
        }
        #[cfg(target_os = "linux")]
        let death = {
            if let Some(fd) = &self.pidfd {
                loop {
                    match sys::wait_readable(fd.as_raw_fd(), -1) {
                        Ok(true) => break,
                        Ok(false) => continue,
                        Err(_) => {
                            self.poll_until_gone();
                            break;
                        }
                    }
                }
            } else {
                self.poll_until_gone();
            }
            self.read_status(now_ms())
        };
        #[cfg(not(target_os = "linux"))]
        let death = {
            self.poll_until_gone();
            Death {
                status: ExitStatus::Unknown,
                source: "unsupported",
                at_ms: now_ms(),
            }
        };
        death
    }

    fn poll_until_gone(&self) {
        while self.alive() {
            std::thread::sleep(FALLBACK_POLL);
        }
    }

    #[cfg(target_os = "linux")]
    fn read_status(&self, at_ms: u64) -> Death {
        let unknown = |source| Death {
            status: ExitStatus::Unknown,
            source,
            at_ms,
        };
        let Some(text) = self.stat.as_ref().and_then(read_stat) else {
            return unknown("reaped");
        };
        let Some(f) = stat_fields(&text) else {
            return unknown("reaped");
        };
        if f.first() != Some(&"Z") {
            return unknown("reaped");
        }
        if !self.status_readable {
            return unknown("not-permitted");
        }
        match f.get(49).and_then(|s| s.parse::<i32>().ok()) {
            Some(raw) => Death {
                status: ExitStatus::from_wait_status(raw),
                source: "proc-stat",
                at_ms,
            },
            None => unknown("unavailable"),
        }
    }
}

/// Decide and record: silent when disarmed or superseded, or a clean exit (unless
/// `recordCleanExit`); otherwise the snapshot, the log line and `firedAt`.
fn record_death(
    opts: &ExitCauseOptions,
    me: &PidRecord,
    armed: &Armed,
    death: Death,
) -> Result<bool, ExitCauseError> {
    let state = state_file(&opts.state_dir, &opts.name);
    // An unreadable or missing record never silences a death.
    if let Ok(Some(rec)) = state.read() {
        if same_process(&rec.watcher, me) {
            if rec.disarmed_at.is_some() {
                return Ok(false);
            }
        } else {
            return Ok(false); // superseded by a newer watcher
        }
    }
    if !death.status.is_dirty() && !opts.record_clean_exit {
        return Ok(false);
    }
    let log_file = opts.resolved_log_file();
    let forensics_dir = opts.resolved_forensics_dir();
    let mut pairs: Vec<(&str, String)> = vec![
        ("ts", logfmt::iso_ms(death.at_ms)),
        ("ev", "server-exit".into()),
        ("name", opts.name.clone()),
        ("pid", opts.pid.to_string()),
    ];
    match death.status {
        ExitStatus::Exited(code) => {
            pairs.push(("status", "exited".into()));
            pairs.push(("code", code.to_string()));
        }
        ExitStatus::Signaled {
            signal,
            core_dumped,
        } => {
            pairs.push(("status", "signaled".into()));
            pairs.push(("signal", signal_name(signal)));
            if core_dumped {
                pairs.push(("core_dumped", "true".into()));
            }
        }
        ExitStatus::Unknown => {
            pairs.push(("status", "unknown".into()));
            pairs.push(("signal", "unknown".into()));
        }
    }
    if let Some(s) = armed.started_at_ms {
        pairs.push(("uptime_ms", death.at_ms.saturating_sub(s).to_string()));
    }
    pairs.push(("status_source", death.source.into()));
    let oom = armed.baseline.oom_kill_delta();
    if let Some(n) = oom {
        pairs.push(("oom_kill", n.to_string()));
    }
    pairs.push(("watcher_pid", me.pid.to_string()));
    let header_pairs = pairs.clone();
    // The snapshot first (its path goes into the line).
    let snap_path = forensics_dir.join(format!("{}-{}-{}.txt", opts.name, opts.pid, death.at_ms));
    let header = std::iter::once("server-death".to_owned())
        .chain(
            header_pairs
                .iter()
                .filter(|(k, _)| *k != "ev")
                .map(|(k, v)| format!("{k}={}", logfmt::value(v))),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let snap = forensics::snapshot(
        &header,
        opts.pid,
        &armed.baseline,
        opts.top_processes as usize,
        &opts.resolved_crash_dirs(),
    );
    let snap_ok = fsx::write_atomic(&snap_path, snap.as_bytes()).is_ok();
    if snap_ok {
        pairs.push(("forensics", snap_path.display().to_string()));
    } else {
        pairs.push(("forensics", "unwritable".into()));
    }
    let mut line = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", logfmt::value(v)))
        .collect::<Vec<_>>()
        .join(" ");
    line.push('\n');
    append_line(&log_file, &line)?;
    let _ = state.update(|cur| {
        if let Some(rec) = cur.as_mut() {
            if same_process(&rec.watcher, me) {
                rec.fired_at = Some(now_ms());
            }
        }
    });
    Ok(true)
}

/// Append one line with a single `write` (`O_APPEND`, 0600, directory 0700).
fn append_line(path: &Path, line: &str) -> Result<(), ExitCauseError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fsx::ensure_private_dir(dir)?;
    }
    let io = |op, source| ExitCauseError::Io {
        op,
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io("open", e))?;
    f.write_all(line.as_bytes())
        .map_err(|e| io("append to", e))?;
    Ok(())
}
