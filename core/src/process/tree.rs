//! Killing a process tree that keel did not spawn: the reference's `killChildProcess`
//! (SIGTERM, grace, SIGKILL) over a bare pid, reaching the whole process group when the
//! pid leads one and every descendant still attached to it (a `/proc` walk).

use std::time::Duration;

use super::{sys, PidRecord, ProcessError, Survivor, Termination, DEFAULT_KILL_WAIT, GROUP_POLL};
use crate::time::{SharedClock, SystemClock};

/// Terminate `pid`, its descendants and — when it leads a process group (a child spawned
/// `detached` by Node, or by keel) — every process of that group: `SIGTERM`, wait up to `grace` for them
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
    let record = match PidRecord::capture(pid) {
        Ok(r) => r,
        Err(ProcessError::NoSuchProcess { .. }) => return Ok(Termination::cleared(None, false)),
        Err(e) => return Err(e),
    };
    kill_pinned(pid, record.start_time, grace, kill_wait, clock).await
}

/// [`kill_process_tree`] of a process identified by a [`PidRecord`] made earlier (a pid
/// file, a state file): nothing is signalled unless the live process with that pid still
/// has the recorded start time (and boot id), so a reused pid is never hit. A record
/// whose process is gone gives a cleared [`Termination`].
pub async fn kill_recorded_tree(
    record: &PidRecord,
    grace: Duration,
) -> Result<Termination, ProcessError> {
    if record.pid <= 1 || record.pid > i32::MAX as u32 {
        return Err(ProcessError::InvalidPid { pid: record.pid });
    }
    if !record.is_alive() {
        return Ok(Termination::cleared(None, false));
    }
    kill_pinned(
        record.pid,
        record.start_time,
        grace,
        DEFAULT_KILL_WAIT,
        SystemClock::shared(),
    )
    .await
}

/// The parent pid of `pid` (field 4 of `/proc/<pid>/stat`; Linux), `None` when there is
/// no such process.
pub fn parent_of(pid: u32) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let close = text.rfind(')')?;
        let mut rest = text.get(close + 1..)?.split_ascii_whitespace();
        rest.next()?;
        rest.next()?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

async fn kill_pinned(
    pid: u32,
    start_time: u64,
    grace: Duration,
    kill_wait: Duration,
    clock: SharedClock,
) -> Result<Termination, ProcessError> {
    let leader = sys::pgid_of(pid) == Some(pid);
    let mut tree = Tracked::new(PidRecord::from_parts(
        pid,
        start_time,
        leader.then_some(pid),
        None,
    ));
    tree.discover();
    if !tree.signal(libc::SIGTERM)? {
        return Ok(Termination::cleared(None, false));
    }
    if wait_gone(&clock, grace, &mut tree).await {
        return Ok(Termination::cleared(None, false));
    }
    tracing::warn!(
        pid,
        grace_ms = grace.as_millis() as u64,
        "process tree ignored SIGTERM, escalating to SIGKILL"
    );
    tree.discover();
    tree.signal(libc::SIGKILL)?;
    if wait_gone(&clock, kill_wait, &mut tree).await {
        return Ok(Termination::cleared(None, true));
    }
    let survivors: Vec<Survivor> = tree.live().into_iter().map(Survivor::of).collect();
    Ok(Termination {
        exit: None,
        escalated: true,
        group_cleared: !(leader && sys::group_alive(pid)),
        tree_cleared: false,
        survivors,
    })
}

/// The processes of a tree keel did not spawn: the root, pinned by start time, its
/// process group when it leads one, and every descendant seen by a walk of `/proc`
/// (Linux), each pinned by its own start time when first seen. A descendant that was
/// orphaned (reparented to init) before the first walk cannot be found; for trees keel
/// spawns, the subreaper shim covers those.
struct Tracked {
    root: PidRecord,
    leader: bool,
    seen: Vec<PidRecord>,
}

impl Tracked {
    fn new(root: PidRecord) -> Self {
        let leader = root.pgid.is_some();
        Tracked {
            root,
            leader,
            seen: Vec::new(),
        }
    }

    /// Add descendants of every live tracked process not yet seen.
    fn discover(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let mut roots = vec![self.root.pid];
            roots.extend(self.seen.iter().filter(|r| r.is_alive()).map(|r| r.pid));
            if !self.root.is_alive() {
                roots.remove(0);
            }
            for r in roots {
                for d in super::shim::descendants(r) {
                    if d != self.root.pid && !self.seen.iter().any(|s| s.pid == d) {
                        if let Ok(rec) = PidRecord::capture(d) {
                            self.seen.push(rec);
                        }
                    }
                }
            }
        }
    }

    /// Signal everything; `Ok(false)` when nothing was left to signal.
    fn signal(&self, sig: i32) -> Result<bool, ProcessError> {
        let mut any = false;
        // The group while its number is provably still ours: the pinned leader is
        // alive, or live members keep the group id allocated.
        if self.leader {
            let pid = self.root.pid;
            if self.root.signal_group(sig)? {
                any = true;
            } else if sys::group_alive(pid) {
                any |= sys::kill_group(pid, sig).map_err(|source| ProcessError::Signal {
                    target: format!("process group {pid}"),
                    signal: sig,
                    source,
                })?;
            }
        } else {
            any |= self.root.signal(sig)?;
        }
        for r in &self.seen {
            any |= r.signal(sig).unwrap_or(false);
        }
        Ok(any)
    }

    fn live(&self) -> Vec<u32> {
        let mut out = Vec::new();
        if self.root.is_alive() {
            out.push(self.root.pid);
        }
        #[cfg(target_os = "linux")]
        if self.leader {
            out.extend(sys::group_members(self.root.pid));
        }
        out.extend(self.seen.iter().filter(|r| r.is_alive()).map(|r| r.pid));
        out.sort_unstable();
        out.dedup();
        out
    }
}

async fn wait_gone(clock: &SharedClock, within: Duration, tree: &mut Tracked) -> bool {
    let deadline = clock.now() + within;
    loop {
        if tree.live().is_empty() {
            return true;
        }
        let now = clock.now();
        if now >= deadline {
            return false;
        }
        clock.sleep((deadline - now).min(GROUP_POLL)).await;
    }
}
