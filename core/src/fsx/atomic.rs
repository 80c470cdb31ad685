//! Atomic durable writes, private directories and temp-file hygiene.
// libc calls (flock, kill(pid, 0), geteuid, getpwuid_r) are the only unsafe code here;
// each is a plain FFI call with valid arguments and checked results.
#![allow(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::{shell_quote, FsxError, InsecureKind};

/// A temp file whose writer is alive is still considered stale after this long: no
/// write of a small state file takes ten minutes.
const STALE_AGE: Duration = Duration::from_secs(600);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Split a target path into its directory and file name.
pub(crate) fn split_target(path: &Path) -> Result<(PathBuf, String), FsxError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| FsxError::InvalidPath {
            path: path.to_path_buf(),
            reason: "the path has no UTF-8 file name",
        })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}

/// Create `dir` (and missing parents) with mode `0700` if it does not exist.
///
/// An existing directory is not modified, but it is refused ([`super::check_secret_dir`])
/// when group or others may write into it (unless it is sticky, like `/tmp`), because
/// they could then replace files in it, when it belongs to another user (not this
/// process's effective user, not root), and when the path exists but is not a directory.
///
/// ```
/// # let tmp = tempfile::tempdir().unwrap();
/// let dir = tmp.path().join("state/keel");
/// keel_core::fsx::ensure_private_dir(&dir).unwrap();
/// # #[cfg(unix)] {
/// use std::os::unix::fs::PermissionsExt;
/// assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
/// # }
/// ```
pub fn ensure_private_dir(dir: &Path) -> Result<(), FsxError> {
    match fs::metadata(dir) {
        Ok(meta) => check_existing_dir(dir, &meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_private_dir(dir),
        Err(e) if e.raw_os_error() == Some(not_a_directory_errno()) => Err(FsxError::Insecure {
            path: dir.to_path_buf(),
            kind: InsecureKind::NotADirectory,
            fix: format!(
                "a parent of {} is a file; move it away so the directory can be created",
                shell_quote(dir)
            ),
        }),
        Err(e) => Err(FsxError::io("inspect directory", dir, e)),
    }
}

#[cfg(unix)]
fn not_a_directory_errno() -> i32 {
    libc::ENOTDIR
}

#[cfg(not(unix))]
fn not_a_directory_errno() -> i32 {
    -1
}

fn check_existing_dir(dir: &Path, meta: &fs::Metadata) -> Result<(), FsxError> {
    // The one directory check, shared with reads of secret files (`check_secret_dir`).
    super::checked::check_dir_meta(dir, meta)
}

fn create_private_dir(dir: &Path) -> Result<(), FsxError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(not_a_directory_errno()) => {
            return Err(FsxError::Insecure {
                path: dir.to_path_buf(),
                kind: InsecureKind::NotADirectory,
                fix: format!(
                    "a parent of {} is a file; move it away so the directory can be created",
                    shell_quote(dir)
                ),
            })
        }
        Err(e) => return Err(FsxError::io("create directory", dir, e)),
    }
    // The umask may have removed bits from 0700; the leaf must be exactly 0700.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| FsxError::io("set mode 0700 on", dir, e))?;
    }
    Ok(())
}

/// Removes the temp file on drop unless disarmed: a failed or panicking write never
/// leaves its temp file behind.
struct TempGuard {
    path: Option<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn open_new_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    opts.open(path)
}

/// Atomically and durably replace `path` with `data`.
///
/// Steps: ensure the directory ([`ensure_private_dir`]); remove stale temp files of this
/// target ([`clean_stale_temps`]); create `<name>.tmp.<pid>.<n>` in the same directory
/// with `O_EXCL | O_NOFOLLOW` and mode `0600` (set again with `fchmod`, so the umask
/// cannot change it); write; `fsync`; rename over `path`; `fsync` the directory.
///
/// Readers see either the old file or the new one, never a mix or an empty file. On
/// any error the temp file is removed before returning. The final mode is `0600` even
/// when the process umask is `000`.
///
/// This does not lock; concurrent writers of the same path should hold a
/// [`FileLock`](super::FileLock) (the last rename wins, and no file is ever torn
/// either way).
///
/// ```
/// # let tmp = tempfile::tempdir().unwrap();
/// let path = tmp.path().join("secret.json");
/// keel_core::fsx::write_atomic(&path, b"{\"token\":\"...\"}").unwrap();
/// let bytes = keel_core::fsx::read_private(&path, 4096).unwrap().unwrap();
/// assert_eq!(&bytes[..], b"{\"token\":\"...\"}");
/// ```
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), FsxError> {
    let (dir, name) = split_target(path)?;
    ensure_private_dir(&dir)?;
    clean_stale_temps(path);

    let pid = std::process::id();
    let (tmp, file) = {
        let mut attempt = 0;
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!("{name}.tmp.{pid}.{n}"));
            match open_new_private(&tmp) {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(FsxError::io("create temp file", &tmp, e)),
            }
        }
    };
    let mut guard = TempGuard {
        path: Some(tmp.clone()),
    };
    let mut file = file;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| FsxError::io("set mode 0600 on", &tmp, e))?;
    }
    file.write_all(data)
        .map_err(|e| FsxError::io("write temp file", &tmp, e))?;
    file.sync_all()
        .map_err(|e| FsxError::io("fsync temp file", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| FsxError::io("rename temp file onto", path, e))?;
    guard.path = None;
    sync_dir(&dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), FsxError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FsxError::io("fsync directory", dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), FsxError> {
    Ok(())
}

/// Parse `<name>.tmp.<pid>[.<n>]` and return the pid.
fn temp_pid(file_name: &str, target_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix(target_name)?.strip_prefix(".tmp.")?;
    let (pid, suffix) = match rest.split_once('.') {
        Some((pid, suffix)) => (pid, Some(suffix)),
        None => (rest, None),
    };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(s) = suffix {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    pid.parse().ok()
}

/// Every temp file of `path` present now (keel's and the reference implementation's),
/// with the pid of the process that created it. Used by diagnostics.
pub fn temp_files_of(path: &Path) -> Vec<(PathBuf, u32)> {
    let Ok((dir, name)) = split_target(path) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let fname = entry.file_name();
        let Some(fname) = fname.to_str() else {
            continue;
        };
        if let Some(pid) = temp_pid(fname, &name) {
            out.push((entry.path(), pid));
        }
    }
    out.sort();
    out
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// Delete the temp files of `path` left by writers that no longer run (or that are
/// older than ten minutes), and return the paths removed. Best effort: errors are
/// ignored. Temp files of this process are never touched unless that old.
///
/// [`write_atomic`] and [`read_private`](super::read_private) call this, so a temp
/// file left by a killed writer lives only until the next read or write.
pub fn clean_stale_temps(path: &Path) -> Vec<PathBuf> {
    let own = std::process::id();
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for (tmp, pid) in temp_files_of(path) {
        let old = fs::symlink_metadata(&tmp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_AGE);
        let stale = old || (pid != own && !process_alive(pid));
        if stale && fs::remove_file(&tmp).is_ok() {
            removed.push(tmp);
        }
    }
    if !removed.is_empty() {
        tracing::debug!(
            target: "keel::fsx",
            count = removed.len(),
            path = %path.display(),
            "removed stale temp files left by killed writers"
        );
    }
    removed
}

/// What [`remove_file_and_temps`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveReport {
    /// Whether the file itself existed and was removed.
    pub removed: bool,
    /// Temp files of the file that were removed.
    pub temp_files: Vec<PathBuf>,
}

/// Remove `path` and every temp file of it (stale or not: call this under the
/// exclusive lock). Missing files are not an error, so this is idempotent.
pub fn remove_file_and_temps(path: &Path) -> Result<RemoveReport, FsxError> {
    let mut report = RemoveReport::default();
    for (tmp, _) in temp_files_of(path) {
        if fs::remove_file(&tmp).is_ok() {
            report.temp_files.push(tmp);
        }
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(FsxError::Insecure {
                path: path.to_path_buf(),
                kind: InsecureKind::NotRegularFile { found: "directory" },
                fix: format!("remove the directory: rm -r {}", shell_quote(path)),
            })
        }
        Ok(_) => match fs::remove_file(path) {
            Ok(()) => report.removed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsxError::io("remove", path, e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FsxError::io("inspect", path, e)),
    }
    if report.removed || !report.temp_files.is_empty() {
        if let Ok((dir, _)) = split_target(path) {
            let _ = sync_dir(&dir);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::temp_pid;

    #[test]
    fn temp_names() {
        assert_eq!(temp_pid("a.cred.tmp.123.4", "a.cred"), Some(123));
        assert_eq!(temp_pid("a.cred.tmp.123", "a.cred"), Some(123));
        assert_eq!(temp_pid("a.cred.tmp.", "a.cred"), None);
        assert_eq!(temp_pid("a.cred.tmp.12x", "a.cred"), None);
        assert_eq!(temp_pid("a.cred.tmp.12.", "a.cred"), None);
        assert_eq!(temp_pid("a.cred.lock", "a.cred"), None);
        assert_eq!(temp_pid("b.cred.tmp.1.1", "a.cred"), None);
        assert_eq!(temp_pid("a.cred", "a.cred"), None);
    }
}
