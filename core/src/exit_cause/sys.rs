//! The OS boundary of the exit-cause watcher: pidfds, `poll`, the double fork that
//! detaches a watcher from its host, signal dispositions. Every `unsafe` block is a plain
//! libc call with valid arguments and a checked result.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `pidfd_open(pid, 0)`: `Ok(None)` when the kernel has no pidfds (before 5.3) or a
/// seccomp filter refuses them; `Err(ESRCH)` when there is no such process.
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_open(pid: u32) -> io::Result<Option<OwnedFd>> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd >= 0 {
        // SAFETY: the fd was just returned to us and is owned by nobody else.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EPERM) => Ok(None),
        _ => Err(err),
    }
}

/// Wait until `fd` is readable or `timeout_ms` passed (`-1`: forever). `EINTR` retries.
pub(crate) fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Make `cmd` start its program **detached**: the child std forks forks once more and
/// exits at once (the caller reaps it right away), so the program runs as a grandchild
/// that no host has to reap (it is reparented to init or the nearest subreaper), in a
/// new session (no terminal, no host process group: a Ctrl-C or a group kill of the host
/// does not reach it), with every inherited descriptor above stderr marked close-on-exec
/// (a C host's listening socket is never held by the watcher).
pub(crate) fn detach(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the forked child before exec and only makes
    // async-signal-safe calls (fork, _exit, setsid, close_range via syscall).
    unsafe {
        cmd.pre_exec(|| {
            match libc::fork() {
                -1 => return Err(io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            libc::setsid();
            #[cfg(target_os = "linux")]
            {
                // close_range(3, ~0, CLOSE_RANGE_CLOEXEC): best effort (Linux 5.11+).
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 4u32);
            }
            Ok(())
        });
    }
}

/// Put SIGTERM, SIGINT and SIGHUP back to their default action (terminate) and unblock
/// them: a signal to the watcher ends it silently, whatever the host had installed or
/// ignored (a dedicated watcher process never needs the host's handlers).
pub(crate) fn default_termination_signals() {
    // SAFETY: plain signal-disposition and mask calls on a zeroed, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::signal(s, libc::SIG_DFL);
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Point stdout and stderr at `/dev/null` (after the readiness line: nobody reads them).
pub(crate) fn silence_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 of a valid fd onto 1 and 2.
        unsafe {
            libc::dup2(null.as_raw_fd(), 1);
            libc::dup2(null.as_raw_fd(), 2);
        }
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 when unknown).
pub(crate) fn clk_tck() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

/// `kill(pid, 0)`: whether a process with this pid exists (EPERM counts as existing).
pub(crate) fn pid_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only probes.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The name of a signal number (`SIGKILL`), `SIG<n>` for one without a name here.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("SIG{sig}"),
    };
    name.to_owned()
}

/// The page size in bytes (`sysconf(_SC_PAGESIZE)`, 4096 when unknown).
#[allow(dead_code)]
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}
