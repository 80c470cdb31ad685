//! The options of one exit-cause watcher ([`ExitCauseOptions`]): one serde type for
//! Rust, C (JSON text) and Node (a JS object), checked by one [`validate`](ExitCauseOptions::validate).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::options::OptionsError;

/// Default number of processes listed in the snapshot's top-RSS section.
pub const DEFAULT_TOP_PROCESSES: u32 = 25;
/// Largest accepted `topProcesses`.
pub const MAX_TOP_PROCESSES: u32 = 500;
/// Default bounded wait for a freshly started watcher to report that it is watching.
pub const DEFAULT_READY_TIMEOUT_MS: u64 = 10_000;
/// Largest accepted `readyTimeoutMs`.
pub const MAX_READY_TIMEOUT_MS: u64 = 120_000;
/// Default bounded wait in `disarm` for the watcher to be gone.
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = 2_000;
/// Longest accepted watcher name.
pub const MAX_NAME_LEN: usize = 64;
/// Most accepted `crashDirs` / `watcherCommand` entries.
pub const MAX_LIST_LEN: usize = 32;
/// Longest accepted path or argument (bytes).
pub const MAX_PATH_LEN: usize = 4096;
/// The exit log's file name inside the state dir when `logFile` is not given (the
/// reference's `exits.log`).
pub const DEFAULT_LOG_FILE_NAME: &str = "exits.log";
/// The snapshot directory's name inside the state dir when `forensicsDir` is not given
/// (the reference's `server-deaths/`).
pub const DEFAULT_FORENSICS_DIR_NAME: &str = "server-deaths";

fn d_top() -> u32 {
    DEFAULT_TOP_PROCESSES
}
fn d_ready() -> u64 {
    DEFAULT_READY_TIMEOUT_MS
}

/// Which process to watch and where to record its death. JSON (camelCase):
///
/// ```json
/// {"name": "web", "pid": 4242, "stateDir": "/var/lib/host/exit-cause",
///  "logFile": "/var/log/host/exits.log", "topProcesses": 25}
/// ```
///
/// * `name` — the watched service: `[a-z0-9][a-z0-9._-]*`, at most 64 characters. One
///   watcher per name and state dir.
/// * `pid` — the watched process (> 1, alive when the watcher is ensured).
/// * `startTime` — the process's start time as a [`PidRecord`](crate::process::PidRecord)
///   has it; pins the identity so a reused pid is never watched (default: captured now).
/// * `stateDir` — holds `<name>.watcher.json` (the watcher's record, 0600) and its lock.
/// * `logFile` — the `ev=server-exit` log (default `<stateDir>/exits.log`).
/// * `forensicsDir` — one snapshot file per death (default `<stateDir>/server-deaths`).
/// * `crashDirs` — directories whose newest files are listed in the snapshot (default:
///   `/var/crash`, `/var/lib/systemd/coredump`, `~/Library/Logs/DiagnosticReports`,
///   `/Library/Logs/DiagnosticReports`; the missing ones are skipped).
/// * `topProcesses` — how many processes the top-RSS section lists (0–500, default 25).
/// * `recordCleanExit` — also record an exit with status 0 (default false: a process
///   that ends itself successfully is not a dirty death).
/// * `readyTimeoutMs` — bounded wait for the watcher to report it is watching (default
///   10000, 1–120000).
/// * `watcherCommand` — the argv prefix that starts a watcher process; keel appends one
///   argument (the watcher's spec as JSON). Each surface has its default (the `keel`
///   binary, the Node addon under `process.execPath`, the C host's own executable): see
///   the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct ExitCauseOptions {
    /// The watched service's name.
    pub name: String,
    /// The watched process id.
    pub pid: u32,
    /// The watched process's start time (PidRecord units); captured when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub start_time: Option<u64>,
    /// The watcher's state directory.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub state_dir: PathBuf,
    /// The exit log (default `<stateDir>/exits.log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub log_file: Option<PathBuf>,
    /// The snapshot directory (default `<stateDir>/server-deaths`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub forensics_dir: Option<PathBuf>,
    /// Crash-file directories listed in the snapshot (default: the platform's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>"))]
    pub crash_dirs: Option<Vec<PathBuf>>,
    /// Processes listed in the top-RSS section.
    #[serde(default = "d_top")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub top_processes: u32,
    /// Record an exit with status 0 as well.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>"))]
    pub record_clean_exit: bool,
    /// Bounded wait for the watcher's readiness, in milliseconds.
    #[serde(default = "d_ready")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub ready_timeout_ms: u64,
    /// The argv prefix that starts a watcher (keel appends the spec JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watcher_command: Option<Vec<String>>,
}

impl ExitCauseOptions {
    /// Options for `name` / `pid` with state in `state_dir`, every other field default.
    pub fn new(name: impl Into<String>, pid: u32, state_dir: impl Into<PathBuf>) -> Self {
        ExitCauseOptions {
            name: name.into(),
            pid,
            start_time: None,
            state_dir: state_dir.into(),
            log_file: None,
            forensics_dir: None,
            crash_dirs: None,
            top_processes: DEFAULT_TOP_PROCESSES,
            record_clean_exit: false,
            ready_timeout_ms: DEFAULT_READY_TIMEOUT_MS,
            watcher_command: None,
        }
    }

    /// Check every range rule; errors name the field (`options.name`), never a value.
    pub fn validate(&self) -> Result<(), OptionsError> {
        validate_name(&self.name, "options.name")?;
        if self.pid <= 1 {
            return Err(OptionsError::range(
                "options.pid",
                "must be a process id greater than 1",
            ));
        }
        if self.start_time == Some(0) {
            return Err(OptionsError::range("options.startTime", "must be non-zero"));
        }
        check_path(&self.state_dir, "options.stateDir")?;
        if let Some(p) = &self.log_file {
            check_path(p, "options.logFile")?;
        }
        if let Some(p) = &self.forensics_dir {
            check_path(p, "options.forensicsDir")?;
        }
        if let Some(dirs) = &self.crash_dirs {
            if dirs.len() > MAX_LIST_LEN {
                return Err(OptionsError::range(
                    "options.crashDirs",
                    format!("has more than {MAX_LIST_LEN} entries"),
                ));
            }
            for (i, d) in dirs.iter().enumerate() {
                check_path(d, &format!("options.crashDirs[{i}]"))?;
            }
        }
        if self.top_processes > MAX_TOP_PROCESSES {
            return Err(OptionsError::range(
                "options.topProcesses",
                format!("must be at most {MAX_TOP_PROCESSES}"),
            ));
        }
        if self.ready_timeout_ms == 0 || self.ready_timeout_ms > MAX_READY_TIMEOUT_MS {
            return Err(OptionsError::range(
                "options.readyTimeoutMs",
                format!("must be between 1 and {MAX_READY_TIMEOUT_MS}"),
            ));
        }
        if let Some(cmd) = &self.watcher_command {
            if cmd.is_empty() || cmd[0].is_empty() {
                return Err(OptionsError::range(
                    "options.watcherCommand",
                    "must start with the program to run",
                ));
            }
            if cmd.len() > MAX_LIST_LEN {
                return Err(OptionsError::range(
                    "options.watcherCommand",
                    format!("has more than {MAX_LIST_LEN} entries"),
                ));
            }
            for (i, a) in cmd.iter().enumerate() {
                if a.len() > MAX_PATH_LEN || a.contains('\0') {
                    return Err(OptionsError::range(
                        format!("options.watcherCommand[{i}]"),
                        format!("must be at most {MAX_PATH_LEN} bytes without NUL"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The exit log this watcher appends to.
    pub fn resolved_log_file(&self) -> PathBuf {
        self.log_file
            .clone()
            .unwrap_or_else(|| self.state_dir.join(DEFAULT_LOG_FILE_NAME))
    }

    /// The directory its snapshots go to.
    pub fn resolved_forensics_dir(&self) -> PathBuf {
        self.forensics_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join(DEFAULT_FORENSICS_DIR_NAME))
    }

    /// The crash directories listed in a snapshot.
    pub fn resolved_crash_dirs(&self) -> Vec<PathBuf> {
        if let Some(d) = &self.crash_dirs {
            return d.clone();
        }
        let mut v = vec![
            PathBuf::from("/var/crash"),
            PathBuf::from("/var/lib/systemd/coredump"),
        ];
        if let Some(home) = std::env::var_os("HOME") {
            v.push(Path::new(&home).join("Library/Logs/DiagnosticReports"));
        }
        v.push(PathBuf::from("/Library/Logs/DiagnosticReports"));
        v
    }
}

/// Check a watcher name (`[a-z0-9][a-z0-9._-]*`, at most 64 characters); `field`
/// names it in the error.
pub fn validate_name(name: &str, field: &str) -> Result<(), OptionsError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(OptionsError::range(
            field,
            format!(
                "must be 1-{MAX_NAME_LEN} characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            ),
        ))
    }
}

fn check_path(p: &Path, field: &str) -> Result<(), OptionsError> {
    let s = p.as_os_str();
    if s.is_empty() {
        return Err(OptionsError::range(field, "must not be empty"));
    }
    if s.len() > MAX_PATH_LEN || s.as_encoded_bytes().contains(&0) {
        return Err(OptionsError::range(
            field,
            format!("must be a path of at most {MAX_PATH_LEN} bytes without NUL"),
        ));
    }
    Ok(())
}
