//! The `0600` JSON file mirror of an enrollment record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::enrollment::EnrollmentRecord;
use super::{CredentialError, Secret};
use crate::fsx::{self, FileLock, FsxError, LockMode};

/// The mirror's file name, as in the reference implementation.
pub const MIRROR_FILE_NAME: &str = "agent-enrollment.cred";

/// What [`CredentialFileStore::read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MirrorRead {
    /// No file at the path.
    Absent,
    /// A usable record. `notes` lists tolerated oddities (for example a missing or
    /// non-numeric `jwtExpiresAtUnix`, read as 0 like the reference does).
    Valid {
        /// The record.
        record: EnrollmentRecord,
        /// Tolerated oddities, for diagnostics.
        notes: Vec<String>,
    },
    /// A file that is not a usable record: it reads as absent, and `reason` says why
    /// (never quoting the content).
    Invalid {
        /// Why the file was not usable.
        reason: String,
    },
}

/// The credential mirror: one JSON file, mode `0600`, in a `0700` directory, in the
/// reference's `agent-enrollment.cred` format:
///
/// ```json
/// {"jwt":"…","jwtExpiresAtUnix":1767225600,"agentId":"…","tenantId":"…","platformUrl":"https://…"}
/// ```
///
/// Writes are [`fsx::write_atomic`] under the exclusive lock `<path>.lock`; reads are
/// [`fsx::read_private`] under the shared lock, so a group- or world-readable file, a
/// symlink or a directory at the path is refused with an explained error. Reads and
/// writes apply the same directory check ([`fsx::check_secret_dir`]): a directory that
/// group or others can write into (and that is not sticky), or that another user (not
/// root) owns, is refused both ways. A file that
/// does not parse, or lacks a required field, reads as [`MirrorRead::Invalid`].
///
/// Reading accepts exactly what the reference's reader accepts: `jwt`, `agentId`,
/// `tenantId` and `platformUrl` must be non-empty strings; `jwtExpiresAtUnix` is read
/// as 0 when missing or not a finite number. Other fields are ignored.
///
/// ```
/// use keel_core::credentials::{CredentialFileStore, EnrollmentRecord, MirrorRead, Secret};
/// # let tmp = tempfile::tempdir().unwrap();
/// let file = CredentialFileStore::new(tmp.path().join(".myapp/agent-enrollment.cred"));
/// let record = EnrollmentRecord {
///     jwt: Secret::new("eyJ..."),
///     jwt_expires_at_unix: 1_767_225_600,
///     agent_id: "agent-1".into(),
///     tenant_id: "tenant-1".into(),
///     platform_url: "https://platform.example.com".into(),
/// };
/// file.write(&record).unwrap();
/// assert!(matches!(file.read().unwrap(), MirrorRead::Valid { record: r, .. } if r == record));
/// ```
#[derive(Debug, Clone)]
pub struct CredentialFileStore {
    path: PathBuf,
    lock_timeout: Duration,
}

impl CredentialFileStore {
    /// A mirror at `path`, lock timeout 10 s.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CredentialFileStore {
            path: path.into(),
            lock_timeout: Duration::from_secs(10),
        }
    }

    /// How long to wait for the lock.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The mirror's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file's path (`<path>.lock`).
    pub fn lock_path(&self) -> PathBuf {
        fsx::lock_path_for(&self.path)
    }

    /// Take the lock. For a shared lock a missing directory means there is nothing to
    /// read, and an unusable lock file is tolerated (`None`): reading does not depend on
    /// it, because the file itself is replaced atomically. Only a timeout is an error.
    pub(crate) fn lock(&self, mode: LockMode) -> Result<Option<FileLock>, CredentialError> {
        let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(None);
        };
        if mode == LockMode::Exclusive {
            fsx::ensure_private_dir(dir)?;
        } else if !dir.is_dir() {
            return Ok(None);
        }
        match FileLock::acquire(&self.lock_path(), mode, self.lock_timeout) {
            Ok(lock) => Ok(Some(lock)),
            Err(e @ FsxError::LockTimeout { .. }) => Err(e.into()),
            Err(e) if mode == LockMode::Exclusive => Err(e.into()),
            Err(e) => {
                tracing::debug!(
                    target: "keel::credentials",
                    code = e.code(),
                    path = %self.lock_path().display(),
                    "reading the mirror without the shared lock"
                );
                Ok(None)
            }
        }
    }

    /// Read the mirror under the shared lock.
    pub fn read(&self) -> Result<MirrorRead, CredentialError> {
        let _lock = self.lock(LockMode::Shared)?;
        self.read_unlocked()
    }

    pub(crate) fn read_unlocked(&self) -> Result<MirrorRead, CredentialError> {
        // The same directory check as a write (`fsx::ensure_private_dir`): a mirror in a
        // directory another user can write into or owns could have been planted or
        // swapped, so it is refused on read too. A missing directory is simply absent.
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            match fsx::check_secret_dir(dir) {
                Ok(()) => {}
                Err(FsxError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Ok(MirrorRead::Absent)
                }
                Err(e) => return Err(e.into()),
            }
        }
        match fsx::read_private(&self.path, fsx::DEFAULT_MAX_SECRET_FILE_LEN) {
            Ok(None) => Ok(MirrorRead::Absent),
            Ok(Some(bytes)) => Ok(Self::parse(&bytes)),
            Err(FsxError::TooLarge { len, limit, .. }) => Ok(MirrorRead::Invalid {
                reason: format!("the file is {len} bytes, over the {limit}-byte limit"),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Write `record` atomically under the exclusive lock.
    pub fn write(&self, record: &EnrollmentRecord) -> Result<(), CredentialError> {
        let _lock = self.lock(LockMode::Exclusive)?;
        self.write_unlocked(record)
    }

    pub(crate) fn write_unlocked(&self, record: &EnrollmentRecord) -> Result<(), CredentialError> {
        let bytes = Self::encode(record);
        fsx::write_atomic(&self.path, &bytes)?;
        Ok(())
    }

    /// Remove the mirror, its temp files and its lock file. Idempotent; returns what
    /// was removed.
    pub fn delete(&self) -> Result<fsx::RemoveReport, CredentialError> {
        let lock = self.lock(LockMode::Exclusive).ok().flatten();
        let report = self.delete_unlocked()?;
        if let Some(lock) = lock {
            lock.remove()?;
        }
        Ok(report)
    }

    pub(crate) fn delete_unlocked(&self) -> Result<fsx::RemoveReport, CredentialError> {
        Ok(fsx::remove_file_and_temps(&self.path)?)
    }

    /// The file's bytes for `record`: exactly what the reference's
    /// `JSON.stringify({jwt, jwtExpiresAtUnix, agentId, tenantId, platformUrl})`
    /// produces. Zeroed when dropped.
    pub fn encode(record: &EnrollmentRecord) -> Zeroizing<Vec<u8>> {
        // Field order and compact form match JSON.stringify of the reference's object
        // literal; serde_json escapes strings the way JSON.stringify does.
        Zeroizing::new(serde_json::to_vec(record).unwrap_or_default())
    }

    /// Parse mirror bytes (no I/O). Never panics; never quotes the content.
    pub fn parse(bytes: &[u8]) -> MirrorRead {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return MirrorRead::Invalid {
                reason: "the file is empty".into(),
            };
        }
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                let what = match e.classify() {
                    serde_json::error::Category::Eof => "truncated JSON",
                    _ => "not valid JSON",
                };
                return MirrorRead::Invalid {
                    reason: format!("{what} (line {}, column {})", e.line(), e.column()),
                };
            }
        };
        let Value::Object(mut map) = value else {
            return MirrorRead::Invalid {
                reason: "the JSON is not an object".into(),
            };
        };
        let mut take = |field: &str| -> Result<String, String> {
            match map.remove(field) {
                None | Some(Value::Null) => Err(format!("field {field} is missing")),
                Some(Value::String(s)) if s.is_empty() => Err(format!("field {field} is empty")),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(format!("field {field} is not a string")),
            }
        };
        let fields = (|| {
            Ok::<_, String>((
                take("jwt")?,
                take("agentId")?,
                take("tenantId")?,
                take("platformUrl")?,
            ))
        })();
        let (jwt, agent_id, tenant_id, platform_url) = match fields {
            Ok(f) => f,
            Err(reason) => return MirrorRead::Invalid { reason },
        };
        let jwt = Secret::new(jwt);
        let mut notes = Vec::new();
        let jwt_expires_at_unix = match map.get("jwtExpiresAtUnix") {
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => i,
                None => match n.as_f64() {
                    Some(f) if f.is_finite() && f.abs() < 9.0e18 => f.trunc() as i64,
                    _ => {
                        notes.push("jwtExpiresAtUnix is out of range; read as 0".into());
                        0
                    }
                },
            },
            None => {
                notes.push("jwtExpiresAtUnix is missing; read as 0".into());
                0
            }
            Some(_) => {
                notes.push("jwtExpiresAtUnix is not a number; read as 0".into());
                0
            }
        };
        MirrorRead::Valid {
            record: EnrollmentRecord {
                jwt,
                jwt_expires_at_unix,
                agent_id,
                tenant_id,
                platform_url,
            },
            notes,
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::fsx::InsecureKind;

    fn record() -> EnrollmentRecord {
        EnrollmentRecord {
            jwt: Secret::new("eyJhbGciOiJIUzI1NiJ9.e30.mirror-dir-test-signature"),
            jwt_expires_at_unix: 1_767_225_600,
            agent_id: "agent-1".into(),
            tenant_id: "tenant-1".into(),
            platform_url: "https://platform.example.com".into(),
        }
    }

    fn insecure_kind(e: CredentialError) -> InsecureKind {
        let text = e.to_string();
        match e {
            CredentialError::InsecureFile { kind, .. } => kind,
            other => panic!("expected an insecure-directory refusal, got {other:?} ({text})"),
        }
    }

    /// A mirror written into a safe directory, then the directory is made unsafe.
    fn written(mode: u32) -> (tempfile::TempDir, CredentialFileStore) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("app");
        let store = CredentialFileStore::new(dir.join(MIRROR_FILE_NAME));
        store.write(&record()).unwrap();
        assert!(matches!(store.read().unwrap(), MirrorRead::Valid { .. }));
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        (tmp, store)
    }

    #[test]
    fn a_world_writable_directory_is_refused_on_read_and_on_write() {
        for mode in [0o777, 0o770, 0o722] {
            let (_tmp, store) = written(mode);
            let read = insecure_kind(store.read().unwrap_err());
            assert_eq!(read, InsecureKind::DirectoryWritableByOthers { mode });
            let write = insecure_kind(store.write(&record()).unwrap_err());
            assert_eq!(read, write, "read and write apply the same check");
            let msg = store.read().unwrap_err().to_string();
            assert!(msg.contains("chmod go-w"), "{msg}");
            assert!(!msg.contains("mirror-dir-test-signature"), "{msg}");
        }
    }

    #[test]
    fn a_sticky_world_writable_directory_is_accepted_both_ways() {
        let (_tmp, store) = written(0o1777);
        assert!(matches!(store.read().unwrap(), MirrorRead::Valid { .. }));
        store.write(&record()).unwrap();
        let (_tmp, store) = written(0o755);
        assert!(matches!(store.read().unwrap(), MirrorRead::Valid { .. }));
        store.write(&record()).unwrap();
    }

    #[test]
    fn a_missing_directory_reads_as_absent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CredentialFileStore::new(tmp.path().join("nope/x/").join(MIRROR_FILE_NAME));
        assert_eq!(store.read().unwrap(), MirrorRead::Absent);
    }

    #[test]
    fn a_directory_owned_by_another_user_is_refused_on_read_and_on_write() {
        if crate::fsx::current_euid() != 0 {
            // Only root can hand a directory to another user; CI runs as root.
            eprintln!("skipped: needs root to chown a directory to another user");
            return;
        }
        let (tmp, store) = written(0o700);
        let dir = tmp.path().join("app");
        // The mirror file stays ours; only the directory changes hands.
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let expected = InsecureKind::WrongOwner {
            owner: 65534,
            expected: 0,
        };
        assert_eq!(insecure_kind(store.read().unwrap_err()), expected);
        assert_eq!(insecure_kind(store.write(&record()).unwrap_err()), expected);
        let msg = store.read().unwrap_err().to_string();
        assert!(msg.contains("owned by uid 65534"), "{msg}");
        // Owned by root (this process's user here): accepted again.
        std::os::unix::fs::chown(&dir, Some(0), Some(0)).unwrap();
        assert!(matches!(store.read().unwrap(), MirrorRead::Valid { .. }));
        store.write(&record()).unwrap();
    }
}
