//! Process control: process trees, kill escalation, bounded pipe draining, pid records.
//!
//! The primitive every supervised capability in keel uses. A [`Command`] spawns its child
//! as the **leader of a new process group**, and on Linux under a **per-job subreaper
//! shim** (see [`Command::subreaper`]): every descendant that is orphaned — a
//! double-forked daemon, a `setsid`'d background shell, anything whose parent died — is
//! reparented to the shim rather than to init, so the job's tree cannot be escaped by
//! changing session or process group. [`Child::terminate`] sends `SIGTERM` to every
//! process of the tree, waits up to a grace period, escalates to `SIGKILL`, and then waits
//! (bounded) until nothing of the tree is left; [`Termination::tree_cleared`] says so
//! honestly and [`Termination::survivors`] names whatever lived on. Escalation is logged
//! at `warn` through `tracing`.
//!
//! **Nothing outlives keel.** The shim holds one end of a socket whose other end only the
//! keel process holds; when keel dies — even by `SIGKILL` — or drops the [`Child`], the
//! shim sees end-of-file and kills the whole tree. This works per process, not per
//! thread, and inside embedding hosts (Node, a C app) without touching their own child
//! handling: the shim, not the host, is the subreaper. How the shim works, why it is a
//! fork that never execs, and its limits: `shim.rs` (module docs) and BENCHMARKS.md.
//!
//! **Elsewhere (macOS) and with the shim off** the child is a plain group leader with
//! `PR_SET_PDEATHSIG(SIGKILL)` (Linux only): kills reach the process group; a descendant
//! that left the group is not reached, and `tree_cleared` then covers the group only.
//! `PR_SET_PDEATHSIG` fires when the **thread** that spawned the child exits, reaches only
//! the direct child, and is cleared by a set-uid exec. macOS has no subreaper; a
//! `kqueue`/`proc_listchildpids` tracker would be its equivalent (not built).
//! So on macOS a SIGKILLed host leaves its jobs' trees running (no parent-death signal
//! exists there); a clean exit or a dropped [`Child`] still kills the group.
//!
//! [`PidRecord`] pins a process by `(pid, start time)` so a stale pid file can never make
//! keel signal an unrelated process that reused the pid.
//!
//! ```
//! use std::time::Duration;
//! use keel_core::process::{Command, ExitClass};
//! use tokio::io::AsyncBufReadExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let mut child = Command::new(["sh", "-c", "trap '' TERM; echo ready; sleep 30"]).spawn()?;
//! // Wait until the trap is installed.
//! let mut lines = tokio::io::BufReader::new(child.take_stdout().unwrap()).lines();
//! assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));
//!
//! let t = child.terminate(Duration::from_millis(100)).await?;
//! assert!(t.escalated); // it ignored SIGTERM, so it was SIGKILLed
//! assert_eq!(t.exit, Some(ExitClass::Signalled { signal: libc::SIGKILL }));
//! # Ok::<(), keel_core::process::ProcessError>(())
//! # }).unwrap();
//! ```

mod pidrecord;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod shim;
#[allow(unsafe_code)]
mod signals;
#[allow(unsafe_code)]
mod sys;
mod tree;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::time::{SharedClock, SystemClock};

pub use pidrecord::{PidRecord, PID_RECORD_VERSION};
pub use signals::TerminationSignals;
#[cfg(target_os = "linux")]
pub use sys::group_members;
pub use tree::{kill_process_tree, kill_process_tree_with, kill_recorded_tree, parent_of};

/// How often a waiting loop re-checks whether a process group is empty.
const GROUP_POLL: Duration = Duration::from_millis(10);

/// Default wait after `SIGKILL` for the group to disappear.
pub const DEFAULT_KILL_WAIT: Duration = Duration::from_secs(2);

/// Default grace between `SIGTERM` and `SIGKILL` (the reference's `KILL_GRACE_MS`).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// Errors from process control. Messages name what was wrong (the program, the
/// directory, the field) but never an argument or an environment value, which may be
/// secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The argv array was empty, or its first element (the program) was empty.
    #[error("argv is empty: the first element must name the program to run")]
    EmptyArgv,
    /// The working directory does not exist or is not a directory.
    #[error("working directory {path:?} {reason}")]
    BadCwd {
        /// The directory as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The program was not found (not on `PATH`, or the path does not exist).
    #[error("program {program:?} not found")]
    ProgramNotFound {
        /// argv\[0\] as given.
        program: String,
    },
    /// The program exists but cannot be executed.
    #[error("program {program:?} is not executable (permission denied)")]
    ProgramNotExecutable {
        /// argv\[0\] as given.
        program: String,
    },
    /// Any other spawn failure.
    #[error("failed to spawn {program:?}: {source}")]
    Spawn {
        /// argv\[0\] as given.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An output file could not be opened.
    #[error("cannot open output file {path:?}: {source}")]
    OutputFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Waiting for the child failed.
    #[error("failed to wait for pid {pid}: {source}")]
    Wait {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending a signal failed for a reason other than "no such process".
    #[error("failed to send signal {signal} to {target}: {source}")]
    Signal {
        /// `pid N` or `process group N`.
        target: String,
        /// The signal number.
        signal: i32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A pid that can never be a target (0, 1, or beyond the platform's range).
    #[error("pid {pid} cannot be signalled")]
    InvalidPid {
        /// The pid.
        pid: u32,
    },
    /// There is no (live) process with this pid.
    #[error("no live process with pid {pid}")]
    NoSuchProcess {
        /// The pid.
        pid: u32,
    },
    /// Reading or writing a pid file failed.
    #[error("pid file {path:?}: {source}")]
    PidFile {
        /// The pid file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A pid file's content is invalid.
    #[error("pid file {path:?}: invalid field `{field}`: {reason}")]
    InvalidPidRecord {
        /// The pid file.
        path: PathBuf,
        /// The offending field (`pid`, `startTime`, …, or `json` for unparsable text).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `spawn` was called outside a tokio runtime (the child is reaped by tokio).
    #[error("spawn needs a tokio runtime: call it from within one")]
    NoRuntime,
    /// The platform lacks a facility this call needs.
    #[error("unsupported on this platform: {what}")]
    Unsupported {
        /// The missing facility.
        what: &'static str,
    },
}

/// Which environment the child gets. Variables set with [`Command::env`] are applied on
/// top of any policy.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EnvPolicy {
    /// The parent's whole environment.
    #[default]
    Inherit,
    /// Nothing but the variables set explicitly with [`Command::env`].
    Explicit,
    /// Only the parent's variables whose names are listed (plus explicit ones).
    Allowlist(Vec<String>),
}

impl fmt::Debug for EnvPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvPolicy::Inherit => f.write_str("Inherit"),
            EnvPolicy::Explicit => f.write_str("Explicit"),
            EnvPolicy::Allowlist(names) => f.debug_tuple("Allowlist").field(names).finish(),
        }
    }
}

/// What the child's stdin is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StdinMode {
    /// `/dev/null`.
    #[default]
    Null,
    /// A pipe; take its write end with [`Child::take_stdin`].
    Piped,
}

/// Where the child's stdout or stderr goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OutputMode {
    /// A pipe; take its read end with [`Child::take_stdout`] / [`Child::take_stderr`].
    #[default]
    Piped,
    /// `/dev/null`.
    Null,
    /// The parent's own stream.
    Inherit,
    /// A file, created with mode 0600 if missing.
    File {
        /// The file.
        path: PathBuf,
        /// Append instead of truncating.
        append: bool,
    },
}

/// Why a supervisor killed a process. Serialized in the failure-cause vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KillReason {
    /// No activity for the inactivity window.
    InactivityTimeout,
    /// The overall wall-clock cap was reached.
    MaxDuration,
    /// Activity went on but no tool call completed for the tool-silence window.
    NoToolProgress,
    /// A caller aborted it.
    Aborted,
}

impl KillReason {
    /// The stable kebab-case label (`inactivity-timeout`, `max-duration`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            KillReason::InactivityTimeout => "inactivity-timeout",
            KillReason::MaxDuration => "max-duration",
            KillReason::NoToolProgress => "no-tool-progress",
            KillReason::Aborted => "aborted",
        }
    }
}

impl fmt::Display for KillReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a process ended.
///
/// JSON: `{"kind":"exited","code":0}`, `{"kind":"signalled","signal":9}`,
/// `{"kind":"killed","reason":"inactivity-timeout","signal":15}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum ExitClass {
    /// It exited by itself with this code.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// A signal ended it that keel's supervisor did not send.
    Signalled {
        /// The signal number.
        signal: i32,
    },
    /// A watchdog or an abort killed it.
    Killed {
        /// Which watchdog fired (or `aborted`).
        reason: KillReason,
        /// The signal that ended it, when it died of one.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        #[cfg_attr(feature = "ts", ts(optional))]
        signal: Option<i32>,
        /// The exit code, when it exited (e.g. a shell trapping `SIGTERM`).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        #[cfg_attr(feature = "ts", ts(optional))]
        code: Option<i32>,
    },
}

impl ExitClass {
    /// Classify a raw exit status.
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitClass::Exited { code },
            (None, Some(signal)) => ExitClass::Signalled { signal },
            // Stopped/continued statuses are never final; treat as a generic failure.
            (None, None) => ExitClass::Exited { code: -1 },
        }
    }

    /// The same end, attributed to a supervisor's kill.
    pub fn killed_by(self, reason: KillReason) -> Self {
        match self {
            ExitClass::Exited { code } => ExitClass::Killed {
                reason,
                signal: None,
                code: Some(code),
            },
            ExitClass::Signalled { signal } => ExitClass::Killed {
                reason,
                signal: Some(signal),
                code: None,
            },
            killed @ ExitClass::Killed { .. } => killed,
        }
    }

    /// True for `Exited { code: 0 }`.
    pub fn success(&self) -> bool {
        matches!(self, ExitClass::Exited { code: 0 })
    }
}

impl fmt::Display for ExitClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitClass::Exited { code } => write!(f, "exited with code {code}"),
            ExitClass::Signalled { signal } => write!(f, "killed by signal {signal}"),
            ExitClass::Killed { reason, .. } => write!(f, "killed by watchdog ({reason})"),
        }
    }
}

/// What [`Child::terminate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Termination {
    /// How the leader ended; `None` only if it could not be reaped within the bounded
    /// wait after `SIGKILL` (e.g. stuck in uninterruptible sleep).
    pub exit: Option<ExitClass>,
    /// `SIGTERM` was not enough within the grace and `SIGKILL` was sent to the group.
    pub escalated: bool,
    /// No live member of the leader's process group was left when `terminate`
    /// returned (kept for compatibility; [`tree_cleared`](Termination::tree_cleared) is
    /// the stronger promise).
    pub group_cleared: bool,
    /// No live descendant at all was left — whatever session or process group it moved
    /// to (Linux, with the subreaper shim). Where only the group can be tracked (macOS,
    /// [`Command::subreaper`] off, a pid keel did not spawn) it covers the group and the
    /// descendants still attached to the leader.
    pub tree_cleared: bool,
    /// The processes still alive when `terminate` gave up (empty when `tree_cleared`).
    pub survivors: Vec<Survivor>,
}

impl Termination {
    pub(crate) fn cleared(exit: Option<ExitClass>, escalated: bool) -> Termination {
        Termination {
            exit,
            escalated,
            group_cleared: true,
            tree_cleared: true,
            survivors: Vec::new(),
        }
    }
}

/// A process that outlived a kill: its pid and its (redacted, bounded) command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Survivor {
    /// The pid.
    pub pid: u32,
    /// `/proc/<pid>/cmdline` with NULs as spaces, redacted, at most 256 characters.
    pub command: String,
}

impl Survivor {
    /// Describe `pid` as found now.
    pub fn of(pid: u32) -> Survivor {
        Survivor {
            pid,
            command: command_line(pid),
        }
    }
}

/// `/proc/<pid>/cmdline` with NULs as spaces (`[comm]` when a dying process has none left),
/// redacted through the process-wide redactor, at most 256 characters; empty when
/// unreadable (or off Linux).
pub fn command_line(pid: u32) -> String {
    #[cfg(target_os = "linux")]
    {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mut text = String::from_utf8_lossy(&raw).replace('\0', " ");
        if text.trim().is_empty() {
            // An exiting process has no command line left; its name is still there.
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if !comm.trim().is_empty() {
                text = format!("[{}]", comm.trim());
            }
        }
        let text = crate::redact::global().redact_str(text.trim()).into_owned();
        text.chars().take(256).collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        String::new()
    }
}

/// A child-process builder. argv is an array — never a shell string.
///
/// ```
/// use keel_core::process::{Command, EnvPolicy, OutputMode, ExitClass};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let out = Command::new(["sh", "-c", "printf %s \"$GREETING\""])
///     .env_policy(EnvPolicy::Allowlist(vec!["PATH".into()]))
///     .env("GREETING", "hello")
///     .spawn()?
///     .output(std::time::Duration::from_millis(200))
///     .await?;
/// assert_eq!(out.exit, ExitClass::Exited { code: 0 });
/// assert_eq!(out.stdout, b"hello");
/// # Ok::<(), keel_core::process::ProcessError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Command {
    argv: Vec<OsString>,
    cwd: Option<PathBuf>,
    env_policy: EnvPolicy,
    env: Vec<(OsString, OsString)>,
    stdin: StdinMode,
    stdout: OutputMode,
    stderr: OutputMode,
    parent_death_signal: bool,
    kill_on_drop: bool,
    subreaper: bool,
    clock: Option<SharedClock>,
}

impl fmt::Debug for Command {
    // argv and env values may carry secrets: show only the program, counts and names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("program", &self.argv.first())
            .field(
                "args",
                &format_args!("[{} args: ***]", self.argv.len().saturating_sub(1)),
            )
            .field("cwd", &self.cwd)
            .field("env_policy", &self.env_policy)
            .field(
                "env",
                &self
                    .env
                    .iter()
                    .map(|(k, _)| format!("{}=***", k.to_string_lossy()))
                    .collect::<Vec<_>>(),
            )
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("parent_death_signal", &self.parent_death_signal)
            .field("kill_on_drop", &self.kill_on_drop)
            .field("subreaper", &self.subreaper)
            .finish()
    }
}

impl Command {
    /// A command from an argv array (`argv[0]` is the program, looked up on `PATH` when it
    /// has no `/`). Defaults: inherited cwd and environment, stdin `/dev/null`, stdout and
    /// stderr piped, parent-death signal on (Linux), group killed when the [`Child`] drops.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self {
            argv: argv.into_iter().map(|s| s.as_ref().to_owned()).collect(),
            cwd: None,
            env_policy: EnvPolicy::Inherit,
            env: Vec::new(),
            stdin: StdinMode::Null,
            stdout: OutputMode::Piped,
            stderr: OutputMode::Piped,
            parent_death_signal: true,
            kill_on_drop: true,
            subreaper: true,
            clock: None,
        }
    }

    /// The argv array.
    pub fn argv(&self) -> &[OsString] {
        &self.argv
    }

    /// The program (`argv[0]`) as a lossy string, for messages and logs.
    pub fn program(&self) -> String {
        self.argv
            .first()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Run in this working directory (validated at spawn).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Which parent variables the child inherits.
    pub fn env_policy(mut self, policy: EnvPolicy) -> Self {
        self.env_policy = policy;
        self
    }

    /// Set one variable (applied after the policy; later calls win).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// stdin: `/dev/null` (default) or a pipe.
    pub fn stdin(mut self, mode: StdinMode) -> Self {
        self.stdin = mode;
        self
    }

    /// Where stdout goes (default: piped).
    pub fn stdout(mut self, mode: OutputMode) -> Self {
        self.stdout = mode;
        self
    }

    /// Where stderr goes (default: piped).
    pub fn stderr(mut self, mode: OutputMode) -> Self {
        self.stderr = mode;
        self
    }

    /// Linux: deliver `SIGKILL` to the child when the spawning thread dies (default on;
    /// see the [module docs](self) for its limits). Ignored elsewhere.
    pub fn parent_death_signal(mut self, on: bool) -> Self {
        self.parent_death_signal = on;
        self
    }

    /// `SIGKILL` the whole group when the [`Child`] handle is dropped while any member may
    /// still be alive (default on).
    pub fn kill_on_drop(mut self, on: bool) -> Self {
        self.kill_on_drop = on;
        self
    }

    /// Linux: run the child under a per-job subreaper shim (default on), so that a kill
    /// reaches every descendant — also those that left the process group (`setsid`,
    /// `setpgid`, double-forked daemons) — and the whole tree dies when keel dies, even
    /// by `SIGKILL`. Off: the child is a plain process-group leader and kills reach the
    /// group only (the behaviour before the shim, and the only one off Linux). See the
    /// [module docs](self).
    pub fn subreaper(mut self, on: bool) -> Self {
        self.subreaper = on;
        self
    }

    /// The clock used by [`Child::terminate`]'s waits (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub(crate) fn set_stdout(&mut self, mode: OutputMode) {
        self.stdout = mode;
    }

    pub(crate) fn set_stderr(&mut self, mode: OutputMode) {
        self.stderr = mode;
    }

    pub(crate) fn set_stdin(&mut self, mode: StdinMode) {
        self.stdin = mode;
    }

    /// Validate and spawn the child as a new process-group leader.
    ///
    /// Must be called within a tokio runtime (the child is reaped by tokio's process
    /// driver).
    pub fn spawn(&self) -> Result<Child, ProcessError> {
        let program = match self.argv.first() {
            Some(p) if !p.is_empty() => p.clone(),
            _ => return Err(ProcessError::EmptyArgv),
        };
        let program_str = program.to_string_lossy().into_owned();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ProcessError::NoRuntime);
        }
        if let Some(dir) = &self.cwd {
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ProcessError::BadCwd {
                        path: dir.clone(),
                        reason: "is not a directory",
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(ProcessError::BadCwd {
                        path: dir.clone(),
                        reason: "does not exist",
                    })
                }
                Err(_) => {
                    return Err(ProcessError::BadCwd {
                        path: dir.clone(),
                        reason: "is not accessible",
                    })
                }
            }
        }

        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&self.argv[1..]);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        match &self.env_policy {
            EnvPolicy::Inherit => {}
            EnvPolicy::Explicit => {
                cmd.env_clear();
            }
            EnvPolicy::Allowlist(names) => {
                cmd.env_clear();
                for name in names {
                    if let Some(v) = std::env::var_os(name) {
                        cmd.env(name, v);
                    }
                }
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(match self.stdin {
            StdinMode::Null => Stdio::null(),
            StdinMode::Piped => Stdio::piped(),
        });
        cmd.stdout(output_stdio(&self.stdout)?);
        cmd.stderr(output_stdio(&self.stderr)?);
        cmd.process_group(0);
        cmd.kill_on_drop(false);

        // A child starts with an empty signal mask whatever the spawning thread blocked
        // (a supervisor that takes SIGINT/SIGTERM synchronously, a host app, Node):
        // otherwise the SIGTERM of a graceful kill would wait, blocked, for the SIGKILL.
        #[allow(unsafe_code)]
        // SAFETY: the closure runs between fork and exec and only calls the
        // async-signal-safe sigemptyset/pthread_sigmask on a stack value.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                if rc != 0 {
                    return Err(io::Error::from_raw_os_error(rc));
                }
                Ok(())
            });
        }

        #[cfg(target_os = "linux")]
        let channels = if self.subreaper {
            Some(shim::Channels::new().map_err(|source| ProcessError::Spawn {
                program: program_str.clone(),
                source,
            })?)
        } else {
            None
        };
        #[cfg(target_os = "linux")]
        #[allow(unsafe_code)]
        if let Some(ch) = &channels {
            use std::os::fd::AsRawFd;
            let (ctl, status) = (ch.ctl_shim.as_raw_fd(), ch.status_shim.as_raw_fd());
            let kill_on_parent_death = self.parent_death_signal;
            // SAFETY: the closure runs between fork and exec; `shim::enter` makes only
            // async-signal-safe calls on the two descriptors captured here.
            unsafe {
                cmd.pre_exec(move || shim::enter(ctl, status, kill_on_parent_death));
            }
        }

        #[cfg(target_os = "linux")]
        #[allow(unsafe_code)]
        if self.parent_death_signal && !self.subreaper {
            // SAFETY: getpid is async-signal-safe; captured before fork.
            let parent = unsafe { libc::getpid() };
            // SAFETY: the closure runs between fork and exec and only calls the
            // async-signal-safe prctl/getppid/raise.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // The parent may have died before prctl took effect.
                    if libc::getppid() != parent {
                        libc::raise(libc::SIGKILL);
                    }
                    Ok(())
                });
            }
        }

        let child = cmd.spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ProcessError::ProgramNotFound {
                program: program_str.clone(),
            },
            io::ErrorKind::PermissionDenied => ProcessError::ProgramNotExecutable {
                program: program_str.clone(),
            },
            _ => ProcessError::Spawn {
                program: program_str.clone(),
                source: e,
            },
        })?;
        let first = child.id().ok_or_else(|| ProcessError::Spawn {
            program: program_str.clone(),
            source: io::Error::other("child exited before its pid could be read"),
        })?;
        #[cfg(target_os = "linux")]
        let (pid, shim) = match channels {
            Some(ch) => {
                let link = ShimLink::connect(ch, first).map_err(|source| ProcessError::Spawn {
                    program: program_str.clone(),
                    source,
                })?;
                (link.leader, Some(link))
            }
            None => (first, None),
        };
        #[cfg(not(target_os = "linux"))]
        let pid = first;
        let start_time = sys::start_time(pid);
        tracing::debug!(pid, program = %program_str, "spawned process group leader");
        Ok(Child {
            child,
            pid,
            start_time,
            status: None,
            program: program_str,
            kill_on_drop: self.kill_on_drop,
            clock: self.clock.clone().unwrap_or_else(SystemClock::shared),
            #[cfg(target_os = "linux")]
            shim,
        })
    }
}

fn output_stdio(mode: &OutputMode) -> Result<Stdio, ProcessError> {
    Ok(match mode {
        OutputMode::Piped => Stdio::piped(),
        OutputMode::Null => Stdio::null(),
        OutputMode::Inherit => Stdio::inherit(),
        OutputMode::File { path, append } => Stdio::from(open_output_file(path, *append)?),
    })
}

pub(crate) fn open_output_file(path: &Path, append: bool) -> Result<std::fs::File, ProcessError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).mode(0o600);
    if append {
        o.append(true);
    } else {
        o.truncate(true);
    }
    o.open(path).map_err(|source| ProcessError::OutputFile {
        path: path.to_owned(),
        source,
    })
}

/// Captured output of [`Child::output`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Output {
    /// How the leader ended.
    pub exit: ExitClass,
    /// Everything read from stdout (empty unless it was piped).
    pub stdout: Vec<u8>,
    /// Everything read from stderr (empty unless it was piped).
    pub stderr: Vec<u8>,
    /// A pipe was still held open (by a grandchild) after the drain timeout and reading
    /// stopped early.
    pub drain_timed_out: bool,
}

/// keel's side of a job's subreaper shim (Linux).
#[cfg(target_os = "linux")]
struct ShimLink {
    /// The control socket: signal bytes; closing it kills the tree.
    ctl: Option<std::os::fd::OwnedFd>,
    /// The status pipe (`X` + the leader's wait status).
    status: tokio::process::ChildStdout,
    /// Bytes of a status message read so far.
    partial: Vec<u8>,
    /// The status pipe reached end-of-file.
    status_eof: bool,
    /// The shim's pid (the tokio child).
    shim_pid: u32,
    /// The leader's pid.
    leader: u32,
}

#[cfg(target_os = "linux")]
impl ShimLink {
    /// Read the leader's pid (the shim writes it right after forking) and hand the status
    /// pipe to tokio.
    fn connect(ch: shim::Channels, shim_pid: u32) -> io::Result<ShimLink> {
        use std::io::Read;
        let shim::Channels {
            ctl_parent,
            status_parent,
            ..
        } = ch;
        let mut file = std::fs::File::from(status_parent);
        let mut msg = [0u8; 5];
        file.read_exact(&mut msg)?;
        if msg[0] != shim::TAG_PID {
            return Err(io::Error::other(
                "job shim sent an unexpected first message",
            ));
        }
        let leader = i32::from_le_bytes([msg[1], msg[2], msg[3], msg[4]]);
        if leader <= 1 {
            return Err(io::Error::other("job shim reported an invalid leader pid"));
        }
        let fd: std::os::fd::OwnedFd = file.into();
        let status = tokio::process::ChildStdout::from_std(std::process::ChildStdout::from(fd))?;
        Ok(ShimLink {
            ctl: Some(ctl_parent),
            status,
            partial: Vec::with_capacity(5),
            status_eof: false,
            shim_pid,
            leader: leader as u32,
        })
    }

    /// Send one signal byte to the shim. `false` when the shim is gone.
    fn send(&self, signal: i32) -> bool {
        use std::os::fd::AsRawFd;
        let Some(ctl) = &self.ctl else { return false };
        let b = [signal as u8];
        #[allow(unsafe_code)]
        // SAFETY: send on an owned socket; MSG_NOSIGNAL so a dead shim is EPIPE, not
        // SIGPIPE in the host.
        let n = unsafe { libc::send(ctl.as_raw_fd(), b.as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
        n == 1
    }

    /// Feed bytes read from the status pipe; returns the leader's exit once complete.
    fn feed(&mut self, bytes: &[u8]) -> Option<ExitClass> {
        use std::os::unix::process::ExitStatusExt;
        self.partial.extend_from_slice(bytes);
        if self.partial.len() >= 5 && self.partial[0] == shim::TAG_EXIT {
            let raw = i32::from_le_bytes([
                self.partial[1],
                self.partial[2],
                self.partial[3],
                self.partial[4],
            ]);
            self.partial.drain(..5);
            return Some(ExitClass::from_status(std::process::ExitStatus::from_raw(
                raw,
            )));
        }
        None
    }

    /// Read the status pipe without blocking (a plain non-blocking `read` on the
    /// descriptor tokio also watches: its readiness may lag behind the kernel's).
    fn poll_now(&mut self) -> Option<ExitClass> {
        use std::os::fd::AsRawFd;
        while !self.status_eof {
            let mut buf = [0u8; 16];
            #[allow(unsafe_code)]
            // SAFETY: read into a stack buffer from a descriptor we own (non-blocking).
            let n =
                unsafe { libc::read(self.status.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                if let Some(e) = self.feed(&buf[..n as usize]) {
                    return Some(e);
                }
                continue;
            }
            if n == 0 {
                self.status_eof = true;
                break;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return None,
                _ => self.status_eof = true,
            }
        }
        None
    }
}

/// A spawned child: the leader of its own process group (pgid == pid).
///
/// On Linux it runs under a per-job subreaper shim (see the [module docs](self) and
/// [`Command::subreaper`]): signals and kills reach every descendant, and
/// [`Child::tree_alive`] is exact.
///
/// Dropping it while anything of the tree may be alive sends `SIGKILL` to the whole tree
/// (unless [`Command::kill_on_drop`] turned that off).
pub struct Child {
    child: tokio::process::Child,
    pid: u32,
    start_time: Option<u64>,
    status: Option<ExitClass>,
    program: String,
    kill_on_drop: bool,
    clock: SharedClock,
    #[cfg(target_os = "linux")]
    shim: Option<ShimLink>,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("program", &self.program)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Child {
    /// The leader's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process group id (equal to [`pid`](Child::pid)).
    pub fn pgid(&self) -> u32 {
        self.pid
    }

    /// The leader's start time as read right after spawn (see [`PidRecord`]).
    pub fn start_time(&self) -> Option<u64> {
        self.start_time
    }

    /// A [`PidRecord`] for the leader, to write to a pid file.
    pub fn pid_record(&self) -> PidRecord {
        PidRecord::from_parts(
            self.pid,
            self.start_time.unwrap_or(0),
            Some(self.pid),
            Some(self.program.clone()),
        )
    }

    /// Take the write end of stdin (when [`StdinMode::Piped`]).
    pub fn take_stdin(&mut self) -> Option<tokio::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Take the read end of stdout (when [`OutputMode::Piped`]).
    pub fn take_stdout(&mut self) -> Option<tokio::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Take the read end of stderr (when [`OutputMode::Piped`]).
    pub fn take_stderr(&mut self) -> Option<tokio::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The leader's exit, if it has already been reaped.
    pub fn exit(&self) -> Option<ExitClass> {
        self.status
    }

    /// Wait for the leader to exit. Cancel-safe.
    pub async fn wait(&mut self) -> Result<ExitClass, ProcessError> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        #[cfg(target_os = "linux")]
        if let Some(link) = &mut self.shim {
            use tokio::io::AsyncReadExt;
            while !link.status_eof {
                let mut buf = [0u8; 16];
                match link.status.read(&mut buf).await {
                    Ok(0) | Err(_) => link.status_eof = true,
                    Ok(n) => {
                        if let Some(e) = link.feed(&buf[..n]) {
                            self.status = Some(e);
                            return Ok(e);
                        }
                    }
                }
            }
            // The shim died without reporting (someone SIGKILLed it): the leader died
            // with it (PR_SET_PDEATHSIG).
            let _ = self.child.wait().await;
            let class = ExitClass::Signalled {
                signal: libc::SIGKILL,
            };
            self.status = Some(class);
            return Ok(class);
        }
        let st = self
            .child
            .wait()
            .await
            .map_err(|source| ProcessError::Wait {
                pid: self.pid,
                source,
            })?;
        let class = ExitClass::from_status(st);
        self.status = Some(class);
        Ok(class)
    }

    /// Reap the leader if it has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitClass>, ProcessError> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        #[cfg(target_os = "linux")]
        if let Some(link) = &mut self.shim {
            if let Some(e) = link.poll_now() {
                self.status = Some(e);
                return Ok(Some(e));
            }
            if link.status_eof && matches!(self.child.try_wait(), Ok(Some(_))) {
                let class = ExitClass::Signalled {
                    signal: libc::SIGKILL,
                };
                self.status = Some(class);
                return Ok(Some(class));
            }
            return Ok(None);
        }
        match self.child.try_wait() {
            Ok(Some(st)) => {
                let class = ExitClass::from_status(st);
                self.status = Some(class);
                Ok(Some(class))
            }
            Ok(None) => Ok(None),
            Err(source) => Err(ProcessError::Wait {
                pid: self.pid,
                source,
            }),
        }
    }

    /// Whether the job runs under the subreaper shim (Linux, [`Command::subreaper`]).
    pub fn has_subreaper(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.shim.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Whether anything of the job's tree is alive: under the shim, whether the shim
    /// (which exits only once the leader and every descendant are gone) still runs;
    /// otherwise whether the leader is unreaped or a live member of its group is left.
    pub fn tree_alive(&mut self) -> bool {
        let _ = self.try_wait();
        #[cfg(target_os = "linux")]
        if self.shim.is_some() {
            return !matches!(self.child.try_wait(), Ok(Some(_)));
        }
        self.status.is_none() || sys::group_alive(self.pid)
    }

    /// Whether any live (non-zombie) member of the group is left, the unreaped leader
    /// included. Under the shim this is [`tree_alive`](Child::tree_alive): members that
    /// left the group count too.
    pub fn group_alive(&mut self) -> bool {
        self.tree_alive()
    }

    /// The live processes of the tree now: under the shim every descendant of the shim;
    /// otherwise the members of the leader's process group.
    pub fn live_processes(&mut self) -> Vec<u32> {
        #[cfg(target_os = "linux")]
        if let Some(link) = &self.shim {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Vec::new();
            }
            return shim::descendants(link.shim_pid);
        }
        #[cfg(target_os = "linux")]
        {
            sys::group_members(self.pid)
        }
        #[cfg(not(target_os = "linux"))]
        {
            if self.tree_alive() {
                vec![self.pid]
            } else {
                Vec::new()
            }
        }
    }

    /// Send `signal` to the whole tree (under the shim: every descendant, whatever group
    /// it is in; otherwise the process group). `Ok(false)` when nobody was left to signal.
    ///
    /// Without the shim the group is signalled only while its number is provably still
    /// ours: the leader is unreaped (so the pid, and with it the pgid, cannot be reused)
    /// or live members of the group remain (which also keeps the number allocated).
    pub fn signal_group(&mut self, signal: i32) -> Result<bool, ProcessError> {
        if !(1..=64).contains(&signal) {
            return Err(ProcessError::Signal {
                target: format!("process tree {}", self.pid),
                signal,
                source: io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        #[cfg(target_os = "linux")]
        if self.shim.is_some() {
            if !self.tree_alive() {
                return Ok(false);
            }
            return Ok(self.shim.as_ref().is_some_and(|l| l.send(signal)));
        }
        let _ = self.try_wait();
        if self.status.is_some() && !sys::group_alive(self.pid) {
            return Ok(false);
        }
        sys::kill_group(self.pid, signal).map_err(|source| ProcessError::Signal {
            target: format!("process group {}", self.pid),
            signal,
            source,
        })
    }

    /// [`signal_group`](Child::signal_group) under its tree name.
    pub fn signal_tree(&mut self, signal: i32) -> Result<bool, ProcessError> {
        self.signal_group(signal)
    }

    /// [`terminate_with`](Child::terminate_with) with the default post-`SIGKILL` wait.
    pub async fn terminate(&mut self, grace: Duration) -> Result<Termination, ProcessError> {
        self.terminate_with(grace, DEFAULT_KILL_WAIT).await
    }

    /// Terminate the whole tree: `SIGTERM` to every process, wait up to `grace` for all
    /// of them to go, then `SIGKILL` what is left and wait up to `kill_wait` until
    /// nothing is left. The result lists any survivor.
    ///
    /// Escalation is logged at `warn`. Safe to call more than once and after the leader
    /// has exited (descendants still alive are terminated the same way).
    pub async fn terminate_with(
        &mut self,
        grace: Duration,
        kill_wait: Duration,
    ) -> Result<Termination, ProcessError> {
        if !self.tree_alive() {
            return Ok(Termination::cleared(self.status, false));
        }
        self.signal_group(libc::SIGTERM)?;
        let deadline = self.clock.now() + grace;
        let mut cleared = self.wait_tree_gone(deadline).await;
        let mut escalated = false;
        if !cleared {
            escalated = true;
            tracing::warn!(
                pid = self.pid,
                program = %self.program,
                grace_ms = grace.as_millis() as u64,
                "process tree ignored SIGTERM, escalating to SIGKILL"
            );
            self.signal_group(libc::SIGKILL)?;
            let deadline = self.clock.now() + kill_wait;
            cleared = self.wait_tree_gone(deadline).await;
        }
        if cleared {
            return Ok(Termination::cleared(self.status, escalated));
        }
        let survivors: Vec<Survivor> = self
            .live_processes()
            .into_iter()
            .map(Survivor::of)
            .collect();
        if survivors.is_empty() && self.has_subreaper() {
            // Every descendant of the shim is gone (the scan is exact under the shim);
            // only keel's own shim has not exited yet.
            let _ = self.try_wait();
            return Ok(Termination::cleared(self.status, escalated));
        }
        let group_cleared = {
            #[cfg(target_os = "linux")]
            {
                sys::group_members(self.pid).is_empty()
            }
            #[cfg(not(target_os = "linux"))]
            {
                false
            }
        };
        tracing::warn!(
            pid = self.pid,
            program = %self.program,
            kill_wait_ms = kill_wait.as_millis() as u64,
            survivors = survivors.len(),
            "process tree still has live processes after SIGKILL"
        );
        Ok(Termination {
            exit: self.status,
            escalated,
            group_cleared,
            tree_cleared: false,
            survivors,
        })
    }

    /// Poll until the tree is gone (the leader reaped and, under the shim, the shim
    /// exited; otherwise no live group member left), or `deadline` passes.
    async fn wait_tree_gone(&mut self, deadline: Duration) -> bool {
        loop {
            let _ = self.try_wait();
            #[cfg(target_os = "linux")]
            let shim_running = self.shim.is_some();
            #[cfg(not(target_os = "linux"))]
            let shim_running = false;
            if shim_running || self.status.is_none() {
                if !self.tree_alive() {
                    let _ = self.try_wait();
                    return true;
                }
                let now = self.clock.now();
                if now >= deadline {
                    return false;
                }
                let tick = self.clock.sleep((deadline - now).min(GROUP_POLL));
                if shim_running {
                    tokio::select! {
                        _ = self.child.wait() => {}
                        _ = tick => {}
                    }
                } else {
                    tokio::select! {
                        r = self.child.wait() => {
                            if let Ok(st) = r {
                                self.status = Some(ExitClass::from_status(st));
                            }
                        }
                        _ = tick => {}
                    }
                }
                continue;
            }
            if !sys::group_alive(self.pid) {
                return true;
            }
            let now = self.clock.now();
            if now >= deadline {
                return false;
            }
            self.clock.sleep((deadline - now).min(GROUP_POLL)).await;
        }
    }

    /// Read all piped output and wait for the leader. Once the leader has exited, pipes
    /// that a grandchild still holds open are read for at most `drain` more, then
    /// abandoned (`drain_timed_out`), instead of hanging until the grandchild exits.
    ///
    /// The handle is consumed: if members of the group are still alive afterwards (the
    /// grandchild holding the pipe), dropping it kills them unless
    /// [`Command::kill_on_drop`] was turned off.
    pub async fn output(mut self, drain: Duration) -> Result<Output, ProcessError> {
        let out_buf = Arc::new(Mutex::new(Vec::new()));
        let err_buf = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            self.take_stdout()
                .map(|r| tokio::spawn(read_into(r, out_buf.clone()))),
            self.take_stderr()
                .map(|r| tokio::spawn(read_into(r, err_buf.clone()))),
        ];
        let exit = self.wait().await?;
        let deadline = self.clock.now() + drain;
        let mut drain_timed_out = false;
        for mut h in readers.into_iter().flatten() {
            let left = deadline.saturating_sub(self.clock.now());
            tokio::select! {
                _ = &mut h => {}
                _ = self.clock.sleep(left) => {
                    h.abort();
                    drain_timed_out = true;
                }
            }
        }
        let take = |b: &Arc<Mutex<Vec<u8>>>| {
            std::mem::take(&mut *b.lock().unwrap_or_else(|e| e.into_inner()))
        };
        Ok(Output {
            exit,
            stdout: take(&out_buf),
            stderr: take(&err_buf),
            drain_timed_out,
        })
    }
}

async fn read_into<R: tokio::io::AsyncRead + Unpin>(mut r: R, into: Arc<Mutex<Vec<u8>>>) {
    let mut chunk = vec![0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => into
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&chunk[..n]),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(link) = &mut self.shim {
            let ctl = link.ctl.take();
            if !self.kill_on_drop {
                // Keep the control socket open for the life of this process: the tree
                // is left running, and still dies with keel (when the parent-death
                // signal is on).
                if let Some(fd) = ctl {
                    let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
                }
                return;
            }
            if !matches!(self.child.try_wait(), Ok(Some(_))) {
                tracing::debug!(
                    pid = self.pid,
                    "child handle dropped: killing its process tree"
                );
                link.ctl = ctl;
                link.send(libc::SIGKILL);
                // Closing the socket is the kill order too, should the byte be lost.
                link.ctl = None;
            }
            return;
        }
        if !self.kill_on_drop {
            return;
        }
        let _ = self.try_wait();
        if self.status.is_none() || sys::group_alive(self.pid) {
            tracing::debug!(
                pid = self.pid,
                "child handle dropped: killing its process group"
            );
            let _ = sys::kill_group(self.pid, libc::SIGKILL);
        }
    }
}
