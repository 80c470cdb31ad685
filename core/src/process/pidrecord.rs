//! Pid records: a pid pinned to its process's start time, so it is never mistaken for a
//! later process that reused the number.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{sys, ProcessError};

/// Current on-disk format version of a [`PidRecord`].
pub const PID_RECORD_VERSION: u32 = 1;

/// A process identity that survives pid reuse: `(pid, start time)` plus, on Linux, the boot
/// id (start times count from boot).
///
/// [`is_alive`](PidRecord::is_alive) and [`signal`](PidRecord::signal) compare the live
/// process's start time (field 22 of `/proc/<pid>/stat` on Linux, `pbi_start` from
/// `proc_pidinfo` on macOS) with the recorded one, so a record whose process has gone and
/// whose pid now belongs to something else reports dead and is never signalled. On Linux
/// the signal goes through a pidfd opened *before* the identity check, which closes the
/// race between the check and the signal.
///
/// JSON (keel's own versioned format), written atomically with mode 0600:
/// `{"version":1,"pid":4242,"startTime":987654,"pgid":4242,"bootId":"…","program":"sh","recordedAt":1700000000000}`
///
/// ```
/// use keel_core::process::PidRecord;
///
/// let me = PidRecord::capture(std::process::id()).unwrap();
/// assert!(me.is_alive());
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("me.pid");
/// me.write(&path).unwrap();
/// assert_eq!(PidRecord::read(&path).unwrap(), me);
///
/// // A record whose start time does not match the live process is dead.
/// let mut stale = me.clone();
/// stale.start_time += 1;
/// assert!(!stale.is_alive());
/// assert_eq!(stale.signal(0).unwrap(), false); // never signalled
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PidRecord {
    /// Format version ([`PID_RECORD_VERSION`]).
    pub version: u32,
    /// The process id.
    pub pid: u32,
    /// Start time: Linux clock ticks since boot; macOS microseconds since the epoch.
    pub start_time: u64,
    /// The process group it leads, if it was spawned as a group leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<u32>,
    /// Linux boot id at record time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The program (argv\[0\]), informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Epoch ms when the record was made.
    #[serde(default)]
    pub recorded_at: u64,
}

impl PidRecord {
    pub(crate) fn from_parts(
        pid: u32,
        start_time: u64,
        pgid: Option<u32>,
        program: Option<String>,
    ) -> Self {
        Self {
            version: PID_RECORD_VERSION,
            pid,
            start_time,
            pgid,
            boot_id: sys::boot_id(),
            program,
            recorded_at: epoch_ms(),
        }
    }

    /// Record the live process `pid` as it is now.
    pub fn capture(pid: u32) -> Result<Self, ProcessError> {
        let start = sys::start_time(pid).ok_or(ProcessError::NoSuchProcess { pid })?;
        Ok(Self::from_parts(pid, start, None, None))
    }

    /// Whether the recorded process is still running (and is not a zombie): a live process
    /// with this pid exists, its start time matches, and (Linux) the boot id matches.
    pub fn is_alive(&self) -> bool {
        if self.pid <= 1 {
            return false;
        }
        if let (Some(rec), Some(now)) = (&self.boot_id, sys::boot_id()) {
            if *rec != now {
                return false;
            }
        }
        sys::start_time(self.pid) == Some(self.start_time)
    }

    /// Send `signal` to the recorded process, only if it is still the same process.
    ///
    /// `Ok(false)` when it is gone or the pid now belongs to another process (nothing is
    /// sent). Signal `0` just probes.
    pub fn signal(&self, signal: i32) -> Result<bool, ProcessError> {
        #[cfg(target_os = "linux")]
        {
            if self.pid <= 1 {
                return Ok(false);
            }
            match sys::PidFd::open(self.pid) {
                Ok(Some(fd)) => {
                    // The fd now pins one process; check it is ours, then signal through it.
                    if !self.is_alive() {
                        return Ok(false);
                    }
                    return fd
                        .send_signal(signal)
                        .map_err(|source| self.sig_err(signal, source));
                }
                Ok(None) => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
                Err(source) => return Err(self.sig_err(signal, source)),
            }
        }
        if !self.is_alive() {
            return Ok(false);
        }
        sys::kill_pid(self.pid, signal).map_err(|source| self.sig_err(signal, source))
    }

    /// Send `signal` to the process group the record leads, only if the leader is still
    /// the recorded process (a live leader keeps its pgid from being reused).
    ///
    /// `Ok(false)` when the record has no `pgid`, the leader is gone, or it is not the same
    /// process.
    pub fn signal_group(&self, signal: i32) -> Result<bool, ProcessError> {
        let Some(pgid) = self.pgid else {
            return Ok(false);
        };
        if pgid != self.pid || !self.is_alive() {
            return Ok(false);
        }
        sys::kill_group(pgid, signal).map_err(|source| ProcessError::Signal {
            target: format!("process group {pgid}"),
            signal,
            source,
        })
    }

    fn sig_err(&self, signal: i32, source: std::io::Error) -> ProcessError {
        ProcessError::Signal {
            target: format!("pid {}", self.pid),
            signal,
            source,
        }
    }

    /// Write the record to `path` atomically through [`crate::fsx::write_atomic`]: a
    /// new 0600 temp file beside it (`O_EXCL`), fsync, rename over `path`, fsync the
    /// directory (created 0700 if missing).
    pub fn write(&self, path: &Path) -> Result<(), ProcessError> {
        let json = serde_json::to_vec_pretty(self).expect("PidRecord serializes");
        crate::fsx::write_atomic(path, &json).map_err(|e| ProcessError::PidFile {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })
    }

    /// Read and validate a record from `path`.
    pub fn read(path: &Path) -> Result<Self, ProcessError> {
        let text = std::fs::read(path).map_err(|source| ProcessError::PidFile {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |field: &'static str, reason: String| ProcessError::InvalidPidRecord {
            path: path.to_owned(),
            field,
            reason,
        };
        let rec: PidRecord =
            serde_json::from_slice(&text).map_err(|e| invalid("json", e.to_string()))?;
        if rec.version != PID_RECORD_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "unsupported version {} (expected {PID_RECORD_VERSION})",
                    rec.version
                ),
            ));
        }
        if rec.pid <= 1 {
            return Err(invalid(
                "pid",
                format!("{} is not a valid child pid", rec.pid),
            ));
        }
        if rec.start_time == 0 {
            return Err(invalid("startTime", "must be non-zero".into()));
        }
        if matches!(rec.pgid, Some(g) if g <= 1) {
            return Err(invalid("pgid", "must be greater than 1".into()));
        }
        Ok(rec)
    }
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
