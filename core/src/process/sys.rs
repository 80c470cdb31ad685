//! Platform probes: process start times, process-group membership, pidfds.
//!
//! Linux reads `/proc`; macOS asks `proc_pidinfo`. Nothing here allocates on a hot path;
//! these run when a process is spawned, signalled or terminated.

use std::io;

/// What `/proc/<pid>/stat` tells about one process (Linux).
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z`, `T`, …
    pub state: u8,
    /// Field 5: process group id.
    pub pgrp: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

/// Parse the contents of `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are counted
/// from the LAST `)`.
#[cfg(target_os = "linux")]
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let close = text.rfind(')')?;
    let mut rest = text.get(close + 1..)?.split_ascii_whitespace();
    // rest[0] is field 3 (state), rest[2] field 5 (pgrp), rest[19] field 22 (starttime).
    let state = rest.next()?.bytes().next()?;
    let _ppid = rest.next()?;
    let pgrp = rest.next()?.parse().ok()?;
    let start_time = rest.nth(16)?.parse().ok()?;
    Some(ProcStat {
        state,
        pgrp,
        start_time,
    })
}

#[cfg(target_os = "linux")]
pub(crate) fn stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The start time of `pid` in the platform's unit (Linux: clock ticks since boot, field 22
/// of `/proc/<pid>/stat`; macOS: microseconds since the epoch), or `None` when there is no
/// such process or it is already a zombie.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let st = stat(pid)?;
        if st.state == b'Z' || st.state == b'X' {
            return None;
        }
        Some(st.start_time)
    }
    #[cfg(target_os = "macos")]
    {
        macos::start_time(pid)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        None
    }
}

/// The live (non-zombie) members of process group `pgid`.
///
/// Linux only: scans `/proc`. Zombies are left out: they have exited and use no CPU, and in
/// a container whose PID 1 does not reap orphans they may never disappear.
#[cfg(target_os = "linux")]
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ent in dir.flatten() {
        let name = ent.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(st) = stat(pid) {
            if st.pgrp == pgid as i32 && st.state != b'Z' && st.state != b'X' {
                out.push(pid);
            }
        }
    }
    out
}

/// Whether any live member of process group `pgid` is left.
///
/// First asks the kernel (`kill(-pgid, 0)`, which is cheap and says "nobody" for certain);
/// on Linux a positive answer is then confirmed by a `/proc` scan that ignores zombies.
pub(crate) fn group_alive(pgid: u32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks permission/existence.
    let rc = unsafe { libc::kill(-(pgid as libc::pid_t), 0) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        // EPERM means members exist that we may not signal; treat as alive.
        return err.raw_os_error() == Some(libc::EPERM);
    }
    #[cfg(target_os = "linux")]
    {
        !group_members(pgid).is_empty()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// `killpg(pgid, sig)`. `Ok(false)` when the group no longer exists.
pub(crate) fn kill_group(pgid: u32, sig: i32) -> io::Result<bool> {
    if pgid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal process group 0 or 1",
        ));
    }
    kill_raw(-(pgid as libc::pid_t), sig)
}

/// `kill(pid, sig)`. `Ok(false)` when there is no such process.
pub(crate) fn kill_pid(pid: u32, sig: i32) -> io::Result<bool> {
    if pid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal pid 0 or 1",
        ));
    }
    kill_raw(pid as libc::pid_t, sig)
}

/// `kill(target, sig)` with `ESRCH` as `Ok(false)`; callers refuse 0, 1 and -1.
fn kill_raw(target: libc::pid_t, sig: i32) -> io::Result<bool> {
    // SAFETY: plain syscall on an integer id.
    let rc = unsafe { libc::kill(target, sig) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// The boot id (`/proc/sys/kernel/random/boot_id`), which makes a start time unambiguous
/// across reboots. `None` off Linux.
pub(crate) fn boot_id() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// An owned pidfd (Linux ≥ 5.3). Once open, it refers to exactly one process for its
/// whole life, so a signal sent through it can never reach a process that reused the pid.
#[cfg(target_os = "linux")]
pub(crate) struct PidFd(libc::c_int);

#[cfg(target_os = "linux")]
impl PidFd {
    /// Open a pidfd for `pid`. `Ok(None)` when the kernel does not support pidfds;
    /// `Err(ESRCH)` when there is no such process.
    pub(crate) fn open(pid: u32) -> io::Result<Option<PidFd>> {
        // SAFETY: pidfd_open(pid, flags) takes two integers and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            return Ok(Some(PidFd(fd as libc::c_int)));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) => Ok(None),
            _ => Err(err),
        }
    }

    /// Send `sig` through the pidfd. `Ok(false)` if the process has already exited.
    pub(crate) fn send_signal(&self, sig: i32) -> io::Result<bool> {
        // SAFETY: pidfd_send_signal(fd, sig, info = NULL, flags = 0).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0,
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(false)
        } else {
            Err(err)
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for PidFd {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe {
            libc::close(self.0);
        }
    }
}

#[cfg(target_os = "macos")]
mod macos {
    /// Start time in microseconds since the epoch via `proc_pidinfo(PROC_PIDTBSDINFO)`.
    pub(super) fn start_time(pid: u32) -> Option<u64> {
        let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
        // SAFETY: the buffer is a properly sized, writable proc_bsdinfo.
        let n = unsafe {
            libc::proc_pidinfo(
                pid as libc::c_int,
                libc::PROC_PIDTBSDINFO,
                0,
                &mut info as *mut _ as *mut libc::c_void,
                size,
            )
        };
        if n != size {
            return None;
        }
        // SZOMB == 5 in <sys/proc.h>.
        if info.pbi_status == 5 {
            return None;
        }
        Some(info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_parentheses_in_comm() {
        let line = "4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.state, b'S');
        assert_eq!(st.pgrp, 4242);
        assert_eq!(st.start_time, 987654);
    }

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id();
        let a = start_time(me).unwrap();
        let b = start_time(me).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn garbage_stat_is_rejected() {
        assert!(parse_stat("").is_none());
        assert!(parse_stat("12 (x) S 1").is_none());
    }
}

/// The process group of `pid` (`getpgid`), or `None` when there is no such process.
pub(crate) fn pgid_of(pid: u32) -> Option<u32> {
    if pid == 0 {
        return None;
    }
    // SAFETY: plain syscall on an integer id.
    let rc = unsafe { libc::getpgid(pid as libc::pid_t) };
    (rc > 0).then_some(rc as u32)
}
