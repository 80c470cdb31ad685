//! Termination signals for a supervising program (`keel run`): block `SIGINT`, `SIGTERM`
//! and `SIGHUP` and receive them synchronously on a thread, so that a Ctrl-C terminates
//! the supervised process group gracefully instead of killing the supervisor and
//! orphaning its grandchildren (a child in its own process group never sees the
//! terminal's SIGINT).

use std::io;

/// The signals [`TerminationSignals`] takes over.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Blocked termination signals, received with [`wait`](TerminationSignals::wait).
///
/// Create it on the main thread **before** starting any other thread: threads inherit the
/// mask, and a signal is delivered only to a thread that does not block it. Children keep
/// a clean mask (the standard library resets it when spawning).
#[derive(Debug)]
pub struct TerminationSignals {
    set: libc::sigset_t,
}

// SAFETY: a sigset_t is plain data.
unsafe impl Send for TerminationSignals {}
// SAFETY: `wait` only reads the set.
unsafe impl Sync for TerminationSignals {}

impl TerminationSignals {
    /// Block `SIGINT`, `SIGTERM` and `SIGHUP` in the calling thread.
    pub fn block() -> io::Result<TerminationSignals> {
        // SAFETY: sigset_t is initialised by sigemptyset before use; pthread_sigmask only
        // changes the calling thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(TerminationSignals { set })
        }
    }

    /// Block until one of the signals arrives; returns its number.
    pub fn wait(&self) -> io::Result<i32> {
        let mut sig: libc::c_int = 0;
        // SAFETY: the set was initialised in `block`.
        let rc = unsafe { libc::sigwait(&self.set, &mut sig) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(sig)
    }
}
