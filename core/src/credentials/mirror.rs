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
/// symlink or a directory at the path is refused with an explained error. A file that
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
