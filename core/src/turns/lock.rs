//! Per-agent turn serialisation: an in-process async mutex plus `flock(2)` on
//! `<stateDir>/agents/<name>/turn.lock`. The kernel lock is the liveness signal: a
//! holder that dies (even by `SIGKILL`) releases it, so it never blocks a later turn.
//! The file's content, `{pid, startTime, host, acquiredAt}`, is only for diagnostics.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::TurnError;
use crate::fsx::{FileLock, FsxError, LockMode};

/// Who holds (or last held) an agent's turn lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    /// The holder's pid.
    pub pid: u32,
    /// Its start time (clock ticks since boot, as in a pid record).
    pub start_time: u64,
    /// The host it runs on.
    pub host: String,
    /// Epoch ms when it took the lock.
    pub acquired_at: i64,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {} (since epoch ms {})",
            self.pid, self.host, self.acquired_at
        )
    }
}

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `unknown`).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
        .chars()
        .take(255)
        .collect()
}

/// The lock file of `agent` under `state_dir`.
pub fn turn_lock_path(state_dir: &Path, agent: &str) -> PathBuf {
    state_dir.join("agents").join(agent).join("turn.lock")
}

/// Read the holder recorded in an agent's lock file (the last holder when nobody holds
/// it now).
pub fn read_lock_holder(state_dir: &Path, agent: &str) -> Option<LockHolder> {
    let text = std::fs::read(turn_lock_path(state_dir, agent)).ok()?;
    serde_json::from_slice(&text).ok()
}

static IN_PROCESS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A held turn lock; released on drop (the kernel releases it if the process dies).
#[derive(Debug)]
pub struct TurnLock {
    file: Option<FileLock>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
    waited: Duration,
}

impl TurnLock {
    /// How long acquiring took.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Release now (same as dropping it).
    pub fn release(mut self) {
        self.file.take();
    }
}

/// Take `agent`'s turn lock, waiting up to `timeout`. The agent directory is created
/// (0700) if missing.
pub async fn acquire_turn_lock(
    state_dir: &Path,
    agent: &str,
    timeout: Duration,
) -> Result<TurnLock, TurnError> {
    let start = Instant::now();
    let path = turn_lock_path(state_dir, agent);
    let dir = path.parent().expect("lock path has a parent").to_path_buf();
    crate::fsx::ensure_private_dir(dir.parent().expect("agents dir"))?;
    crate::fsx::ensure_private_dir(&dir)?;
    let key = std::fs::canonicalize(&dir).unwrap_or(dir).join("turn.lock");
    let mutex = IN_PROCESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .clone();
    let timed_out = |waited: Duration| TurnError::LockTimeout {
        agent: agent.to_owned(),
        holder: read_lock_holder(state_dir, agent)
            .map(|h| h.to_string())
            .unwrap_or_else(|| "a turn of this process".into()),
        waited_ms: waited.as_millis() as u64,
    };
    let guard = match tokio::time::timeout(timeout, mutex.lock_owned()).await {
        Ok(g) => g,
        Err(_) => return Err(timed_out(start.elapsed())),
    };
    let left = timeout.saturating_sub(start.elapsed());
    let p = path.clone();
    let file =
        tokio::task::spawn_blocking(move || FileLock::acquire(&p, LockMode::Exclusive, left))
            .await
            .map_err(|_| TurnError::NoRuntime {
                detail: "the lock task was cancelled",
            })?;
    let file = match file {
        Ok(f) => f,
        Err(FsxError::LockTimeout { .. }) => {
            let mut e = timed_out(start.elapsed());
            if let TurnError::LockTimeout { holder, .. } = &mut e {
                if holder == "a turn of this process" {
                    *holder = "another process".into();
                }
            }
            return Err(e);
        }
        Err(e) => return Err(e.into()),
    };
    let me = LockHolder {
        pid: std::process::id(),
        start_time: crate::process::PidRecord::capture(std::process::id())
            .map(|r| r.start_time)
            .unwrap_or(0),
        host: host_name(),
        acquired_at: super::store::now_ms(),
    };
    let mut f = file.file();
    let _ = f.set_len(0);
    let _ = std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0));
    let _ = f.write_all(&serde_json::to_vec(&me).unwrap_or_default());
    Ok(TurnLock {
        file: Some(file),
        _guard: guard,
        waited: start.elapsed(),
    })
}
