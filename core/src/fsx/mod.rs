//! `fsx`: the file primitives every keel capability that keeps state on disk uses.
//!
//! * [`write_atomic`]: durable, atomic replacement of a file holding secrets. A temp
//!   file is created next to the target with `O_EXCL` and mode `0600`, written,
//!   `fsync`ed, renamed over the target, and the directory is `fsync`ed. A failed
//!   write removes its temp file before returning.
//! * [`ensure_private_dir`]: creates missing directories with mode `0700`, and checks an
//!   existing one with [`check_secret_dir`] (no group/other write without the sticky bit,
//!   owned by this user or root) — the same check a reader of a secret file applies.
//! * [`FileLock`]: an advisory `flock(2)` lock on a sibling `.lock` file, shared or
//!   exclusive, acquired with a timeout, so a CLI and a daemon never interleave writes.
//! * [`read_private`]: the checked open for secret files. Like OpenSSH with private keys,
//!   it refuses symlinks, non-regular files, files owned by another user, and files that
//!   group or others can read or write, and the error says why and how to fix it.
//! * [`JsonStateFile`]: a JSON state file with locked read, replace and
//!   read-modify-write.
//!
//! # Crash safety and leftover temp files
//!
//! The target path always names a complete file, either the old one or the new one,
//! because the rename is the only step that touches it and happens after the data is
//! on disk. A process that is killed (SIGKILL, power loss) between creating its temp
//! file and renaming it cannot remove that temp file, and the temp file may hold the
//! secret. No ordering of system calls avoids this. What keel guarantees instead:
//!
//! * temp files are created `0600` inside the (normally `0700`) directory, so a leftover
//!   is no more exposed than the target itself;
//! * temp files are named `<file name>.tmp.<pid>.<n>`, and the next [`write_atomic`]
//!   or [`read_private`] of the same target (and [`remove_file_and_temps`]) deletes
//!   every temp file of that target whose writer process is gone, or that is older
//!   than ten minutes ([`clean_stale_temps`]). Temp files of the reference TypeScript
//!   implementation (`<file name>.tmp.<pid>`) are recognised too.
//!
//! # Platforms
//!
//! Everything here is implemented for Unix. On other platforms the module compiles
//! with reduced checks: no owner or mode check (ACLs govern access) and no directory
//! `fsync`. Locking there uses `std::fs::File::lock`, which needs Rust 1.89 or later.
// libc calls (flock, kill(pid, 0), geteuid, getpwuid_r) are the only unsafe code here;
// each is a plain FFI call with valid arguments and checked results.
#![allow(unsafe_code)]
#![warn(missing_docs)]

mod atomic;
mod checked;
mod lock;
mod state;

use std::io;
use std::path::PathBuf;

pub use atomic::{
    clean_stale_temps, ensure_private_dir, remove_file_and_temps, temp_files_of, write_atomic,
    RemoveReport,
};
pub use checked::{
    check_secret_dir, inspect, read_private, FileFacts, FileKind, DEFAULT_MAX_SECRET_FILE_LEN,
};
pub use lock::{lock_path_for, FileLock, LockMode};
pub use state::JsonStateFile;

/// Why a file or directory was refused by the checked open or the directory check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsecureKind {
    /// The path is a symbolic link; secret files are never opened through a link.
    Symlink,
    /// The path is not a regular file (a directory, FIFO, socket or device).
    NotRegularFile {
        /// What the path is instead, for example `"directory"`.
        found: &'static str,
    },
    /// The file belongs to another user.
    WrongOwner {
        /// The file's owner uid.
        owner: u32,
        /// The effective uid of this process.
        expected: u32,
    },
    /// Group or others may read or write the file.
    TooOpen {
        /// The permission bits found (for example `0o644`).
        mode: u32,
    },
    /// Group or others may write into the directory (and it is not sticky), so they
    /// could replace the file.
    DirectoryWritableByOthers {
        /// The directory's permission bits.
        mode: u32,
    },
    /// A parent path component exists but is not a directory.
    NotADirectory,
}

impl std::fmt::Display for InsecureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InsecureKind::Symlink => write!(f, "it is a symbolic link"),
            InsecureKind::NotRegularFile { found } => {
                write!(f, "it is a {found}, not a regular file")
            }
            InsecureKind::WrongOwner { owner, expected } => write!(
                f,
                "it is owned by uid {owner}, not by the current user (uid {expected})"
            ),
            InsecureKind::TooOpen { mode } => {
                let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "its group",
                    _ => "others",
                };
                write!(
                    f,
                    "permissions {mode:04o} are too open: {who} can access it; a file holding \
                     secrets must be accessible only by its owner"
                )
            }
            InsecureKind::DirectoryWritableByOthers { mode } => write!(
                f,
                "the directory has permissions {mode:04o}: group or others can write into it"
            ),
            InsecureKind::NotADirectory => write!(f, "it is not a directory"),
        }
    }
}

/// Errors of the `fsx` primitives. Messages name paths and system errors, never file
/// contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsxError {
    /// A system call failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done, for example `"rename temp file onto"`.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The file or directory is unsafe to use; `fix` is a one-line remedy.
    #[error("refusing to use {}: {kind}. Fix: {fix}", path.display())]
    Insecure {
        /// The path refused.
        path: PathBuf,
        /// Why it was refused.
        kind: InsecureKind,
        /// A one-line fix, usually a shell command.
        fix: String,
    },
    /// Another process held the lock for longer than the timeout.
    #[error(
        "timed out after {waited_ms} ms waiting for the lock {} (another process is using it)",
        path.display()
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited_ms: u64,
    },
    /// The file is larger than the reader accepts.
    #[error("{} is {len} bytes, larger than the {limit}-byte limit", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A JSON state file does not parse as the expected shape. Only the position and
    /// the category are reported, never the offending text.
    #[error(
        "{} is not valid for this state file: JSON {category} error at line {line}, column {column}",
        path.display()
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// `"syntax"`, `"data"` (wrong shape) or `"eof"` (truncated).
        category: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The value could not be encoded as JSON.
    #[error("cannot encode the state for {} as JSON", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
    },
    /// The path cannot be used as a file path (no file name, no parent).
    #[error("invalid path {}: {reason}", path.display())]
    InvalidPath {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl FsxError {
    /// A stable code that the C, Node and CLI surfaces expose.
    pub fn code(&self) -> &'static str {
        match self {
            FsxError::Io { .. } => "KEEL_IO",
            FsxError::Insecure { .. } => "KEEL_INSECURE_FILE",
            FsxError::LockTimeout { .. } => "KEEL_LOCK_TIMEOUT",
            FsxError::TooLarge { .. } => "KEEL_FILE_TOO_LARGE",
            FsxError::Json { .. } => "KEEL_MALFORMED_STATE",
            FsxError::Encode { .. } => "KEEL_ENCODE",
            FsxError::InvalidPath { .. } => "KEEL_INVALID_PATH",
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FsxError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Quote a path (or any word) for a shell command in a "Fix:" line: as is when it is
/// made of safe characters only, otherwise in single quotes.
pub fn shell_quote(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+~,@:".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(unix)]
pub(crate) fn current_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
