//! The checked open for secret files, and file facts for diagnostics.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use zeroize::Zeroizing;

use super::atomic::clean_stale_temps;
use super::{shell_quote, FsxError, InsecureKind};

/// The default size limit of [`read_private`] callers in keel (1 MiB): secret files are
/// small, and a huge file at the path is refused rather than read into memory.
pub const DEFAULT_MAX_SECRET_FILE_LEN: u64 = 1 << 20;

/// What kind of file system object a path names (without following a final symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// Anything else: FIFO, socket, device.
    Other,
}

impl FileKind {
    /// A lower-case word for messages: `"file"`, `"directory"`, `"symlink"`, `"special file"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Other => "special file",
        }
    }
}

/// Facts about a path for diagnostics: never its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// What the path is (a final symlink is not followed).
    pub kind: FileKind,
    /// Permission bits (`mode & 0o7777`); 0 where the platform has none.
    pub mode: u32,
    /// Owner uid; 0 where the platform has none.
    pub uid: u32,
    /// Whether the owner is the effective user of this process.
    pub owned_by_current_user: bool,
    /// Size in bytes.
    pub len: u64,
}

/// Facts about `path` without following a final symlink, or `None` when it does not
/// exist.
pub fn inspect(path: &Path) -> Result<Option<FileFacts>, FsxError> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(facts_of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FsxError::io("inspect", path, e)),
    }
}

fn facts_of(meta: &fs::Metadata) -> FileFacts {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Directory
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        FileFacts {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            owned_by_current_user: meta.uid() == super::current_euid(),
            len: meta.len(),
        }
    }
    #[cfg(not(unix))]
    {
        FileFacts {
            kind,
            mode: 0,
            uid: 0,
            owned_by_current_user: true,
            len: meta.len(),
        }
    }
}

/// Check facts of an opened secret file the way OpenSSH checks a private key.
pub(crate) fn check_private_facts(path: &Path, facts: &FileFacts) -> Result<(), FsxError> {
    let q = shell_quote(path);
    match facts.kind {
        FileKind::File => {}
        FileKind::Symlink => {
            return Err(FsxError::Insecure {
                path: path.to_path_buf(),
                kind: InsecureKind::Symlink,
                fix: format!("replace the link with the file itself: rm {q}, then re-create it"),
            })
        }
        other => {
            let found = other.as_str();
            let rm = if other == FileKind::Directory {
                "rm -r"
            } else {
                "rm"
            };
            return Err(FsxError::Insecure {
                path: path.to_path_buf(),
                kind: InsecureKind::NotRegularFile { found },
                fix: format!("remove it ({rm} {q}), then write the file again"),
            });
        }
    }
    #[cfg(unix)]
    {
        let euid = super::current_euid();
        if facts.uid != euid {
            return Err(FsxError::Insecure {
                path: path.to_path_buf(),
                kind: InsecureKind::WrongOwner {
                    owner: facts.uid,
                    expected: euid,
                },
                fix: format!(
                    "sudo chown {euid} {q} (or remove it and write it again as this user)"
                ),
            });
        }
        if facts.mode & 0o077 != 0 {
            return Err(FsxError::Insecure {
                path: path.to_path_buf(),
                kind: InsecureKind::TooOpen { mode: facts.mode },
                fix: format!("chmod 600 {q}"),
            });
        }
    }
    Ok(())
}

/// The directory check for a directory that holds (or will hold) a secret file — the
/// same for reading and for writing: refused when it is not a directory
/// ([`InsecureKind::NotADirectory`]), when group or others can write into it and it is not
/// sticky ([`InsecureKind::DirectoryWritableByOthers`]: they could replace the file), or
/// when it belongs to another user than this process's effective user or root
/// ([`InsecureKind::WrongOwner`]: its owner can replace the file and change the
/// directory's permissions at any time). A final symlink is followed (a link to a safe
/// directory is fine; the file inside is opened without following links).
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// # let tmp = tempfile::tempdir().unwrap();
/// let dir = tmp.path().join("shared");
/// std::fs::create_dir(&dir).unwrap();
/// std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
/// let err = keel_core::fsx::check_secret_dir(&dir).unwrap_err();
/// assert_eq!(err.code(), "KEEL_INSECURE_FILE");
/// std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap(); // like /tmp
/// keel_core::fsx::check_secret_dir(&dir).unwrap();
/// ```
pub fn check_secret_dir(dir: &Path) -> Result<(), FsxError> {
    let meta = fs::metadata(dir).map_err(|e| FsxError::io("inspect directory", dir, e))?;
    check_dir_meta(dir, &meta)
}

/// [`check_secret_dir`] on metadata already read (following links).
pub(crate) fn check_dir_meta(dir: &Path, meta: &fs::Metadata) -> Result<(), FsxError> {
    let q = shell_quote(dir);
    if !meta.is_dir() {
        return Err(FsxError::Insecure {
            path: dir.to_path_buf(),
            kind: InsecureKind::NotADirectory,
            fix: format!("move {q} away so keel can create a directory there"),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(FsxError::Insecure {
                path: dir.to_path_buf(),
                kind: InsecureKind::DirectoryWritableByOthers { mode },
                fix: format!("chmod go-w {q}"),
            });
        }
        let euid = super::current_euid();
        let owner = meta.uid();
        if owner != euid && owner != 0 {
            return Err(FsxError::Insecure {
                path: dir.to_path_buf(),
                kind: InsecureKind::WrongOwner {
                    owner,
                    expected: euid,
                },
                fix: format!(
                    "use a directory of your own, or sudo chown {euid} {q} if it should be yours"
                ),
            });
        }
    }
    Ok(())
}

fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a FIFO at the path must not block the open.
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    opts.open(path)
}

/// Read a secret file after checking the opened file: `Ok(None)` when it does not
/// exist; [`FsxError::Insecure`] (with the reason and a one-line fix) when it is a
/// symlink, not a regular file, owned by another user, or accessible by group or
/// others; [`FsxError::TooLarge`] past `max_len` bytes.
///
/// The checks are made on the opened descriptor (`fstat`), so the file cannot be
/// swapped between check and read. Stale temp files of this path are cleaned first
/// (see the [module docs](super)). The returned buffer is zeroed when dropped.
pub fn read_private(path: &Path, max_len: u64) -> Result<Option<Zeroizing<Vec<u8>>>, FsxError> {
    clean_stale_temps(path);
    #[cfg(not(unix))]
    if let Some(facts) = inspect(path)? {
        // No O_NOFOLLOW here: refuse a link before opening.
        if facts.kind == FileKind::Symlink {
            check_private_facts(path, &facts)?;
        }
    }
    let file = match open_no_follow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            // O_NOFOLLOW on a symlink fails with ELOOP; report it as what it is.
            if let Ok(Some(facts)) = inspect(path) {
                if facts.kind == FileKind::Symlink {
                    check_private_facts(path, &facts)?;
                }
            }
            return Err(FsxError::io("open", path, e));
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| FsxError::io("inspect", path, e))?;
    let facts = facts_of(&meta);
    check_private_facts(path, &facts)?;
    if facts.len > max_len {
        return Err(FsxError::TooLarge {
            path: path.to_path_buf(),
            len: facts.len,
            limit: max_len,
        });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(facts.len as usize));
    file.take(max_len + 1)
        .read_to_end(&mut buf)
        .map_err(|e| FsxError::io("read", path, e))?;
    if buf.len() as u64 > max_len {
        return Err(FsxError::TooLarge {
            path: path.to_path_buf(),
            len: buf.len() as u64,
            limit: max_len,
        });
    }
    Ok(Some(buf))
}
