//! Linux: the per-job subreaper shim that makes a kill reach every descendant.
//!
//! [`Command::spawn`](super::Command::spawn) forks a child (through the standard library,
//! which sets up stdio, cwd and the exec-error pipe). In that child, *before* exec, the
//! last `pre_exec` hook [`enter`]s the shim: it marks itself a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`), forks again, and
//!
//! * the inner child (the **leader**) makes itself a process-group leader, sets
//!   `PR_SET_PDEATHSIG(SIGKILL)` against the shim, and returns to the standard library,
//!   which execs the program;
//! * the shim never returns: it closes every descriptor but its two channels, points its
//!   stdio at `/dev/null` and runs [`run`], a loop of raw system calls.
//!
//! Every descendant that is orphaned (a double-forked daemon, anything whose parent
//! died) is reparented to the shim instead of to init, so the shim's subtree **is** the
//! job's tree, whatever sessions or process groups its members moved to. The shim
//!
//! * reaps every child; reports the leader's wait status to keel over the status pipe;
//! * on a signal byte from keel, sends that signal to every descendant (a walk of
//!   `/proc/<pid>/task/<tid>/children`, parents read before they are signalled);
//! * on `SIGKILL`, on end-of-file on the control socket (keel died, even by `SIGKILL`, or
//!   dropped the handle), or on `SIGTERM`/`SIGINT`/`SIGHUP`/`SIGQUIT` sent to the shim
//!   itself: kills the tree and keeps killing its direct children every few milliseconds
//!   until `waitpid` says none is left — each kill reparents the victim's children to
//!   the shim, so this converges even for `setsid`'d escapees;
//! * exits as soon as the leader has been reaped and no child is left. So *the shim has
//!   exited* means *the tree is empty*, which keel learns by reaping the shim.
//!
//! ## Why a fork-without-exec shim
//!
//! keel also runs inside embedding hosts (the Node addon, `libkeel.a` in a C or Swift
//! app) where there is no keel binary to exec, and making the host process itself a
//! subreaper would hand it orphans its own child handling (libuv's, the app's) never
//! waits for. The shim is a fork of the host that never execs, so between the fork and
//! `_exit` it only makes async-signal-safe calls on memory prepared before the fork:
//! `prctl`, `fork`, `close_range`, `open`, `dup2`, `signalfd`, `poll`, `read`, `write`,
//! `kill`, `waitpid`, `getdents64` — no allocation, no locks, no Rust std I/O. The cost:
//! the shim keeps a copy-on-write image of the host for the job's lifetime (pages the
//! host writes afterwards are copied once); its own private memory is a few pages (see
//! BENCHMARKS.md). A delegated cgroup v2 with `cgroup.kill` would avoid the process, but
//! needs a writable cgroup most hosts (containers, CI, desktop sessions without systemd
//! delegation) do not have; pidfds alone do not find escapees.
//!
//! ## Limits
//!
//! * A descendant that re-parents *itself* below another subreaper inside the tree stays
//!   in the tree (that subreaper is a descendant). Nothing inside the tree can leave it
//!   except by being `ptrace`-reparented by an outside tracer.
//! * Signalling a grandchild by pid from the walk has the usual tiny window (it exits and
//!   its parent reaps it and the pid is reused between the read and the kill); the
//!   `SIGKILL` loop only ever signals the shim's own unreaped children, whose pids
//!   cannot be reused.
//! * If the shim itself is `SIGKILL`ed by someone else, the leader dies with it
//!   (`PR_SET_PDEATHSIG`) but grandchildren reparent to the next subreaper or init.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Poll interval of the shim while it is killing (children reparented to it after a kill
/// do not raise `SIGCHLD`).
const KILL_POLL_MS: libc::c_int = 5;

/// Most pids a single walk holds; a bigger tree is finished by the next walk.
const WALK_MAX: usize = 4096;

/// Signals that, sent to the shim itself, kill the tree.
const SHIM_FATAL: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Message tags on the status pipe.
pub(crate) const TAG_PID: u8 = b'P';
/// The leader's raw wait status follows.
pub(crate) const TAG_EXIT: u8 = b'X';

/// The descriptors prepared before the fork.
pub(crate) struct Channels {
    /// keel's end of the control socket (signal bytes; closing it kills the tree).
    pub ctl_parent: OwnedFd,
    /// The shim's end of the control socket.
    pub ctl_shim: OwnedFd,
    /// keel's end of the status pipe (`P` + leader pid, then `X` + wait status).
    pub status_parent: OwnedFd,
    /// The shim's end of the status pipe.
    pub status_shim: OwnedFd,
}

/// Move `fd` to a number ≥ 3 (a host with closed stdio could otherwise get 0–2, which the
/// standard library overwrites with the child's stdio), close-on-exec.
fn high_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fd was just returned by the kernel and is owned here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if fd > 2 {
        return Ok(owned);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd or -1.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

impl Channels {
    /// A control socket pair and a status pipe, all close-on-exec.
    pub(crate) fn new() -> io::Result<Channels> {
        let mut sv = [0 as libc::c_int; 2];
        // SAFETY: socketpair writes two fds into the array on success.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let ctl_parent = high_fd(sv[0])?;
        let ctl_shim = high_fd(sv[1])?;
        let mut p = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two fds into the array on success.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let status_parent = high_fd(p[0])?;
        let status_shim = high_fd(p[1])?;
        Ok(Channels {
            ctl_parent,
            ctl_shim,
            status_parent,
            status_shim,
        })
    }
}

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise a stack sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Runs in the standard library's child between fork and exec (the last `pre_exec`
/// hook). Returns `Ok` only in the leader, which then execs; the shim never returns.
///
/// # Safety
///
/// Must only be called from a `pre_exec` hook; `ctl` and `status` are the shim's ends of
/// [`Channels`]. Only async-signal-safe calls are made.
pub(crate) unsafe fn enter(
    ctl: RawFd,
    status: RawFd,
    kill_on_parent_death: bool,
) -> io::Result<()> {
    // Block SIGCHLD (for the signalfd) and the shim-fatal signals before forking, so
    // that nothing is lost between the fork and the signalfd; the leader restores the
    // mask it came with.
    let mut block = sigset(&SHIM_FATAL);
    libc::sigaddset(&mut block, libc::SIGCHLD);
    let mut old: libc::sigset_t = std::mem::zeroed();
    let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) != 0 {
        return Err(io::Error::last_os_error());
    }
    let shim = libc::getpid();
    let leader = libc::fork();
    if leader < 0 {
        return Err(io::Error::last_os_error());
    }
    if leader == 0 {
        // The leader: an empty mask (as every child of keel gets, whatever the spawning
        // thread blocked), lead a new group, die with the shim.
        let _ = old;
        let empty = sigset(&[]);
        let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if libc::setpgid(0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::getppid() != shim {
            libc::raise(libc::SIGKILL);
        }
        return Ok(());
    }
    run(ctl, status, leader, kill_on_parent_death)
}

/// Close every descriptor except `keep` (sorted ascending, all ≥ 3) and 0–2.
unsafe fn close_others(keep: &[RawFd]) {
    let mut from: libc::c_uint = 3;
    for &k in keep {
        let k = k as libc::c_uint;
        if k > from {
            close_range(from, k - 1);
        }
        from = k + 1;
    }
    close_range(from, libc::c_uint::MAX);
}

unsafe fn close_range(first: libc::c_uint, last: libc::c_uint) {
    let rc = libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint);
    if rc == 0 {
        return;
    }
    // Kernels before 5.9: close one by one up to the descriptor limit.
    let mut lim: libc::rlimit = std::mem::zeroed();
    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
        lim.rlim_cur.min(1 << 20) as libc::c_uint
    } else {
        4096
    };
    let mut fd = first;
    while fd <= last && fd < max {
        libc::close(fd as libc::c_int);
        fd += 1;
    }
}

unsafe fn write_all(fd: RawFd, buf: &[u8]) {
    let mut off = 0;
    while off < buf.len() {
        let n = libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off);
        if n > 0 {
            off += n as usize;
        } else if n < 0 && *libc::__errno_location() == libc::EINTR {
            continue;
        } else {
            return;
        }
    }
}

/// The shim's loop. Never returns.
unsafe fn run(mut ctl: RawFd, status: RawFd, leader: libc::pid_t, kill_on_eof: bool) -> ! {
    let (a, b) = if ctl < status {
        (ctl, status)
    } else {
        (status, ctl)
    };
    close_others(&[a, b]);
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    for fd in 0..3 {
        if null >= 0 {
            libc::dup2(null, fd);
        } else {
            libc::close(fd);
        }
    }
    if null > 2 {
        libc::close(null);
    }
    // A write to keel's closed status pipe must not kill the shim.
    libc::signal(libc::SIGPIPE, libc::SIG_IGN);

    let mut pidmsg = [0u8; 5];
    pidmsg[0] = TAG_PID;
    pidmsg[1..].copy_from_slice(&leader.to_le_bytes());
    write_all(status, &pidmsg);

    let mut watched = sigset(&SHIM_FATAL);
    libc::sigaddset(&mut watched, libc::SIGCHLD);
    let sfd = libc::signalfd(-1, &watched, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);

    let me = libc::getpid();
    let mut leader_alive = true;
    let mut killing = false;
    loop {
        // Reap everything that has exited.
        loop {
            let mut st: libc::c_int = 0;
            let r = libc::waitpid(-1, &mut st, libc::WNOHANG | libc::__WALL);
            if r > 0 {
                if r == leader && leader_alive {
                    leader_alive = false;
                    let mut msg = [0u8; 5];
                    msg[0] = TAG_EXIT;
                    msg[1..].copy_from_slice(&st.to_le_bytes());
                    write_all(status, &msg);
                }
                continue;
            }
            if r == 0 {
                break;
            }
            if *libc::__errno_location() == libc::EINTR {
                continue;
            }
            // ECHILD: nobody is left.
            if !leader_alive {
                libc::_exit(0);
            }
            break;
        }
        if killing {
            signal_tree(me, libc::SIGKILL);
        }
        let mut fds = [
            libc::pollfd {
                fd: ctl,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = if killing {
            KILL_POLL_MS
        } else if sfd < 0 {
            50
        } else {
            -1
        };
        let n = libc::poll(fds.as_mut_ptr(), 2, timeout);
        if n <= 0 {
            continue;
        }
        if ctl >= 0 && fds[0].revents != 0 {
            let mut buf = [0u8; 64];
            let got = libc::read(ctl, buf.as_mut_ptr().cast(), buf.len());
            let eintr = got < 0 && *libc::__errno_location() == libc::EINTR;
            if got > 0 {
                for &sig in &buf[..got as usize] {
                    let sig = sig as libc::c_int;
                    if sig == libc::SIGKILL {
                        killing = true;
                    }
                    if sig > 0 {
                        signal_tree(me, sig);
                    }
                }
            } else if !eintr {
                // keel closed the control socket or died.
                libc::close(ctl);
                ctl = -1;
                if kill_on_eof {
                    killing = true;
                    signal_tree(me, libc::SIGKILL);
                }
            }
        }
        if sfd >= 0 && fds[1].revents != 0 {
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            while libc::read(sfd, (&mut info as *mut libc::signalfd_siginfo).cast(), size)
                == size as isize
            {
                if info.ssi_signo as libc::c_int != libc::SIGCHLD {
                    killing = true;
                    signal_tree(me, libc::SIGKILL);
                }
            }
        }
    }
}

/// Send `sig` to every descendant of `root` (not to `root`), each parent's children read
/// before the parent is signalled.
unsafe fn signal_tree(root: libc::pid_t, sig: libc::c_int) {
    let mut stack = [0 as libc::pid_t; WALK_MAX];
    let mut len = 0usize;
    children_of(root, &mut stack, &mut len);
    while len > 0 {
        len -= 1;
        let pid = stack[len];
        children_of(pid, &mut stack, &mut len);
        libc::kill(pid, sig);
    }
}

/// Append the children of every thread of `pid` to `stack`.
unsafe fn children_of(pid: libc::pid_t, stack: &mut [libc::pid_t; WALK_MAX], len: &mut usize) {
    let mut path = PathBuf::new();
    path.push(b"/proc/");
    path.push_num(pid as u64);
    path.push(b"/task\0");
    let dir = libc::open(
        path.as_ptr(),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    if dir < 0 {
        return;
    }
    let mut ents = [0u8; 2048];
    loop {
        let n = libc::syscall(libc::SYS_getdents64, dir, ents.as_mut_ptr(), ents.len());
        if n <= 0 {
            break;
        }
        let n = n as usize;
        let mut off = 0;
        while off + 19 < n {
            let reclen = u16::from_ne_bytes([ents[off + 16], ents[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &ents[off + 19..(off + reclen).min(n)];
            if let Some(tid) = parse_leading_num(name) {
                read_children(pid, tid, stack, len);
            }
            off += reclen;
        }
    }
    libc::close(dir);
}

unsafe fn read_children(
    pid: libc::pid_t,
    tid: u64,
    stack: &mut [libc::pid_t; WALK_MAX],
    len: &mut usize,
) {
    let mut path = PathBuf::new();
    path.push(b"/proc/");
    path.push_num(pid as u64);
    path.push(b"/task/");
    path.push_num(tid);
    path.push(b"/children\0");
    let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 1024];
    let mut acc: u64 = 0;
    let mut in_num = false;
    loop {
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        if n <= 0 {
            break;
        }
        for &c in &buf[..n as usize] {
            if c.is_ascii_digit() {
                acc = acc.saturating_mul(10).saturating_add((c - b'0') as u64);
                in_num = true;
            } else if in_num {
                push_pid(acc, stack, len);
                acc = 0;
                in_num = false;
            }
        }
    }
    if in_num {
        push_pid(acc, stack, len);
    }
    libc::close(fd);
}

fn push_pid(pid: u64, stack: &mut [libc::pid_t; WALK_MAX], len: &mut usize) {
    if pid > 1 && pid <= i32::MAX as u64 && *len < WALK_MAX {
        stack[*len] = pid as libc::pid_t;
        *len += 1;
    }
}

fn parse_leading_num(name: &[u8]) -> Option<u64> {
    let mut acc: u64 = 0;
    let mut any = false;
    for &c in name {
        if c == 0 {
            break;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        acc = acc.saturating_mul(10).saturating_add((c - b'0') as u64);
        any = true;
    }
    any.then_some(acc)
}

/// A fixed-size path buffer, built without allocating.
struct PathBuf {
    buf: [u8; 96],
    len: usize,
}

impl PathBuf {
    fn new() -> Self {
        PathBuf {
            buf: [0; 96],
            len: 0,
        }
    }

    fn push(&mut self, s: &[u8]) {
        for &c in s {
            if self.len < self.buf.len() - 1 {
                self.buf[self.len] = c;
                self.len += 1;
            }
        }
    }

    fn push_num(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let d = digits;
        self.push(&d[i..]);
    }

    fn as_ptr(&self) -> *const libc::c_char {
        self.buf.as_ptr().cast()
    }
}

/// Live (non-zombie) descendants of `root`, found by walking
/// `/proc/<pid>/task/<tid>/children` (keel's side: allocates freely).
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            for c in text
                .split_ascii_whitespace()
                .filter_map(|s| s.parse::<u32>().ok())
            {
                if out.len() + todo.len() > 100_000 {
                    break;
                }
                todo.push(c);
                if !matches!(
                    super::sys::stat(c).map(|s| s.state),
                    Some(b'Z' | b'X') | None
                ) {
                    out.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_buffer_formats_numbers() {
        let mut p = PathBuf::new();
        p.push(b"/proc/");
        p.push_num(0);
        p.push(b"/");
        p.push_num(4_194_304);
        assert_eq!(&p.buf[..p.len], b"/proc/0/4194304");
    }

    #[test]
    fn leading_numbers_only() {
        assert_eq!(parse_leading_num(b"123\0"), Some(123));
        assert_eq!(parse_leading_num(b".\0"), None);
        assert_eq!(parse_leading_num(b"\0"), None);
    }

    #[test]
    fn walk_finds_own_children() {
        let mut c = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let mut stack = [0; WALK_MAX];
        let mut len = 0;
        // SAFETY: reads /proc only.
        unsafe { children_of(std::process::id() as i32, &mut stack, &mut len) };
        assert!(stack[..len].contains(&(c.id() as i32)));
        assert!(descendants(std::process::id()).contains(&c.id()));
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
