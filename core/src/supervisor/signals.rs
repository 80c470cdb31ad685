//! SIGTERM/SIGINT handlers for a supervisor that was asked to install them.
//!
//! A classic self-pipe: the handler writes the signal number to a pipe (the only thing
//! it does, async-signal-safe), a small thread reads it and calls every subscribed
//! supervisor's shutdown. The previous dispositions are saved on the first install and
//! restored when the last [`SignalGuard`] drops — on every exit path of `run`, panics
//! included — so after the supervisor returns the host's own handling is back.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The signals taken over.
const SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type Subscriber = Arc<dyn Fn(i32) + Send + Sync>;

struct Installed {
    read_fd: libc::c_int,
    write_fd: libc::c_int,
    old: Vec<(libc::c_int, libc::sigaction)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct State {
    installed: Option<Installed>,
    subscribers: Arc<Mutex<Vec<(u64, Subscriber)>>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(target_os = "linux")]
fn errno_ptr() -> *mut libc::c_int {
    // SAFETY: returns the calling thread's errno location; always valid.
    unsafe { libc::__errno_location() }
}
#[cfg(not(target_os = "linux"))]
fn errno_ptr() -> *mut libc::c_int {
    // SAFETY: as above (BSD / macOS name).
    unsafe { libc::__error() }
}

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let byte = sig as u8;
    // SAFETY: write(2) and errno access are async-signal-safe; the buffer is one byte on
    // the stack; errno is restored so the interrupted code does not see ours.
    unsafe {
        let e = errno_ptr();
        let saved = *e;
        libc::write(fd, &byte as *const u8 as *const libc::c_void, 1);
        *e = saved;
    }
}

/// While alive, SIGTERM and SIGINT call the subscriber instead of their previous
/// disposition. Dropping it unsubscribes; the last drop restores the dispositions.
pub(crate) struct SignalGuard {
    id: u64,
}

impl std::fmt::Debug for SignalGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalGuard").field("id", &self.id).finish()
    }
}

/// Subscribe `callback` (called on the reader thread with the signal number).
pub(crate) fn install(callback: Subscriber) -> io::Result<SignalGuard> {
    let mut state = lock(&STATE);
    let state = state.get_or_insert_with(|| State {
        installed: None,
        subscribers: Arc::new(Mutex::new(Vec::new())),
    });
    if state.installed.is_none() {
        state.installed = Some(install_handlers(state.subscribers.clone())?);
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock(&state.subscribers).push((id, callback));
    Ok(SignalGuard { id })
}

fn install_handlers(subscribers: Arc<Mutex<Vec<(u64, Subscriber)>>>) -> io::Result<Installed> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid two-element array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // SAFETY: fcntl on the fds just created.
    unsafe {
        for fd in fds {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        let fl = libc::fcntl(write_fd, libc::F_GETFL);
        libc::fcntl(write_fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let thread = std::thread::Builder::new()
        .name("keel-supervisor-signals".into())
        .spawn(move || loop {
            let mut byte = 0u8;
            // SAFETY: reads one byte into a stack buffer from our own pipe.
            let n = unsafe { libc::read(read_fd, &mut byte as *mut u8 as *mut libc::c_void, 1) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if n == 0 || byte == 0 {
                return;
            }
            let subs: Vec<Subscriber> = lock(&subscribers).iter().map(|(_, s)| s.clone()).collect();
            for s in subs {
                s(byte as i32);
            }
        });
    let thread = match thread {
        Ok(t) => t,
        Err(e) => {
            // SAFETY: closing our own fds.
            unsafe {
                libc::close(read_fd);
                libc::close(write_fd);
            }
            return Err(e);
        }
    };
    WRITE_FD.store(write_fd, Ordering::SeqCst);
    let mut old = Vec::new();
    for sig in SIGNALS {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
        // is an extern "C" fn(c_int) that lives for the whole program.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut prev: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &sa, &mut prev) != 0 {
                let e = io::Error::last_os_error();
                for (s, p) in &old {
                    libc::sigaction(*s, p, std::ptr::null_mut());
                }
                return Err(e);
            }
            old.push((sig, prev));
        }
    }
    Ok(Installed {
        read_fd,
        write_fd,
        old,
        thread: Some(thread),
    })
}

/// Whether keel's handler is currently installed for SIGTERM (tests).
pub(crate) fn installed() -> bool {
    // SAFETY: querying the current disposition only.
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut cur);
        cur.sa_sigaction == on_signal as extern "C" fn(libc::c_int) as usize
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        let mut guard = lock(&STATE);
        let Some(state) = guard.as_mut() else { return };
        let empty = {
            let mut subs = lock(&state.subscribers);
            subs.retain(|(id, _)| *id != self.id);
            subs.is_empty()
        };
        if !empty {
            return;
        }
        if let Some(mut inst) = state.installed.take() {
            // SAFETY: restoring the dispositions saved at install; then waking and joining
            // the reader thread and closing our own fds.
            unsafe {
                for (sig, prev) in &inst.old {
                    libc::sigaction(*sig, prev, std::ptr::null_mut());
                }
                WRITE_FD.store(-1, Ordering::SeqCst);
                let zero = 0u8;
                libc::write(inst.write_fd, &zero as *const u8 as *const libc::c_void, 1);
            }
            if let Some(t) = inst.thread.take() {
                let _ = t.join();
            }
            // SAFETY: the reader has exited; nobody uses the fds any more.
            unsafe {
                libc::close(inst.read_fd);
                libc::close(inst.write_fd);
            }
        }
    }
}
