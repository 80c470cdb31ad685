//! Killing a process tree that keel did not spawn: the reference's `killChildProcess`
//! (SIGTERM, grace, SIGKILL) over a bare pid, reaching the whole process group when the
//! pid leads one.

use std::time::Duration;

use super::{sys, PidRecord, ProcessError, Termination, DEFAULT_KILL_WAIT, GROUP_POLL};
use crate::time::{SharedClock, SystemClock};

/// Terminate `pid` and — when it leads a process group (a child spawned `detached` by
/// Node, or by keel) — every process of that group: `SIGTERM`, wait up to `grace` for them
/// to go, then `SIGKILL` and wait (bounded, 2 s) until none is left.
///
/// The process is pinned by its start time before it is signalled, so a pid that is
/// reused meanwhile is never hit. Zombies count as gone (a caller that spawned the
/// process still has to reap it). A pid with no live process is not an error: the
/// result says nothing was left (`group_cleared`). `exit` is always `None`: only the
/// parent can learn how a process ended.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use keel_core::process::kill_process_tree;
///
/// let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
/// let t = kill_process_tree(child.id(), Duration::from_millis(500)).await?;
/// assert!(!t.escalated);
/// assert!(!child.wait().unwrap().success());
/// # Ok::<(), keel_core::process::ProcessError>(())
/// # }).unwrap();
/// ```
pub async fn kill_process_tree(pid: u32, grace: Duration) -> Result<Termination, ProcessError> {
    kill_process_tree_with(pid, grace, DEFAULT_KILL_WAIT, SystemClock::shared()).await
}

/// [`kill_process_tree`] with an explicit post-`SIGKILL` wait and clock.
pub async fn kill_process_tree_with(
    pid: u32,
    grace: Duration,
    kill_wait: Duration,
    clock: SharedClock,
) -> Result<Termination, ProcessError> {
    if pid <= 1 || pid > i32::MAX as u32 {
        return Err(ProcessError::InvalidPid { pid });
    }
    let gone = Termination {
        exit: None,
        escalated: false,
        group_cleared: true,
    };
    let record = match PidRecord::capture(pid) {
        Ok(r) => r,
        Err(ProcessError::NoSuchProcess { .. }) => return Ok(gone),
        Err(e) => return Err(e),
    };
    let leader = sys::pgid_of(pid) == Some(pid);
    let record = PidRecord::from_parts(pid, record.start_time, leader.then_some(pid), None);
    let alive = |record: &PidRecord| {
        if leader {
            record.is_alive() || sys::group_alive(pid)
        } else {
            record.is_alive()
        }
    };
    // Signal the group while the number is provably still ours: the pinned leader is
    // alive, or live members keep the group id allocated.
    let signal = |record: &PidRecord, sig: i32| -> Result<bool, ProcessError> {
        if leader {
            if record.signal_group(sig)? {
                return Ok(true);
            }
            if sys::group_alive(pid) {
                return sys::kill_group(pid, sig).map_err(|source| ProcessError::Signal {
                    target: format!("process group {pid}"),
                    signal: sig,
                    source,
                });
            }
            Ok(false)
        } else {
            record.signal(sig)
        }
    };
    if !signal(&record, libc::SIGTERM)? {
        return Ok(gone);
    }
    if wait_gone(&clock, grace, || alive(&record)).await {
        return Ok(gone);
    }
    tracing::warn!(
        pid,
        grace_ms = grace.as_millis() as u64,
        "process tree ignored SIGTERM, escalating to SIGKILL"
    );
    signal(&record, libc::SIGKILL)?;
    let cleared = wait_gone(&clock, kill_wait, || alive(&record)).await;
    Ok(Termination {
        exit: None,
        escalated: true,
        group_cleared: cleared,
    })
}

async fn wait_gone(clock: &SharedClock, within: Duration, alive: impl Fn() -> bool) -> bool {
    let deadline = clock.now() + within;
    loop {
        if !alive() {
            return true;
        }
        let now = clock.now();
        if now >= deadline {
            return false;
        }
        clock.sleep((deadline - now).min(GROUP_POLL)).await;
    }
}
