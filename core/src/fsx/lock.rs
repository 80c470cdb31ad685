//! Advisory file locks with a timeout.
// libc calls (flock, kill(pid, 0), geteuid, getpwuid_r) are the only unsafe code here;
// each is a plain FFI call with valid arguments and checked results.
#![allow(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::FsxError;

/// Shared (many readers) or exclusive (one writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once, none while an exclusive holder exists.
    Shared,
    /// One holder.
    Exclusive,
}

/// The lock file keel uses for `path`: `<path>.lock` beside it. The data file itself
/// is not locked, because [`write_atomic`](super::write_atomic) replaces it.
pub fn lock_path_for(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// A held advisory lock (`flock(2)` on Unix) on a lock file. Released on drop.
///
/// Locks are per open file, so two threads of one process that each acquire a lock
/// exclude each other too. A lock is released by the kernel when its holder dies,
/// so a killed writer never leaves the lock stuck.
///
/// ```
/// use keel_core::fsx::{FileLock, LockMode};
/// use std::time::Duration;
/// # let tmp = tempfile::tempdir().unwrap();
/// let lock_path = tmp.path().join("state.json.lock");
/// let held = FileLock::acquire(&lock_path, LockMode::Exclusive, Duration::from_secs(5)).unwrap();
/// // A second exclusive lock times out while the first is held.
/// let err = FileLock::acquire(&lock_path, LockMode::Exclusive, Duration::from_millis(20)).unwrap_err();
/// assert_eq!(err.code(), "KEEL_LOCK_TIMEOUT");
/// drop(held);
/// ```
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
    mode: LockMode,
}

impl FileLock {
    /// Open (creating it `0600` if needed, never following a symlink) and lock
    /// `lock_path`, waiting up to `timeout`. The directory must exist.
    ///
    /// The lock file may be removed while locked ([`FileLock::remove`]): a waiter then
    /// notices that its file is no longer the one at the path and starts over, so
    /// mutual exclusion holds across removal.
    pub fn acquire(lock_path: &Path, mode: LockMode, timeout: Duration) -> Result<Self, FsxError> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            let file = open_lock_file(lock_path)
                .map_err(|e| FsxError::io("open lock file", lock_path, e))?;
            loop {
                match try_lock(&file, mode) {
                    Ok(true) => break,
                    Ok(false) => {
                        let now = Instant::now();
                        if now >= deadline {
                            return Err(FsxError::LockTimeout {
                                path: lock_path.to_path_buf(),
                                waited_ms: now.duration_since(start).as_millis() as u64,
                            });
                        }
                        std::thread::sleep(pause.min(deadline - now));
                        pause = (pause * 2).min(Duration::from_millis(5));
                    }
                    Err(e) => return Err(FsxError::io("lock", lock_path, e)),
                }
            }
            if same_file_at_path(&file, lock_path) {
                return Ok(FileLock {
                    file,
                    path: lock_path.to_path_buf(),
                    mode,
                });
            }
            // The file we locked was removed or replaced meanwhile: start over.
            drop(file);
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mode held.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The open lock file (to record who holds it, for diagnostics).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Remove the lock file while still holding it, then release it. Used when a
    /// state file is removed for good (so no empty `.lock` file is left behind).
    pub fn remove(self) -> Result<(), FsxError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(FsxError::io("remove lock file", &self.path, e)),
        }
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    opts.open(path)
}

#[cfg(unix)]
fn try_lock(file: &File, mode: LockMode) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let op = match mode {
        LockMode::Shared => libc::LOCK_SH,
        LockMode::Exclusive => libc::LOCK_EX,
    } | libc::LOCK_NB;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

#[cfg(not(unix))]
fn try_lock(file: &File, mode: LockMode) -> io::Result<bool> {
    let r = match mode {
        LockMode::Shared => file.try_lock_shared(),
        LockMode::Exclusive => file.try_lock(),
    };
    match r {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(unix)]
fn same_file_at_path(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file_at_path(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for FileLock {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: unlocking a descriptor we own. Closing it would release the lock
            // too; unlocking first makes the release explicit.
            unsafe {
                libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
            }
        }
    }
}
