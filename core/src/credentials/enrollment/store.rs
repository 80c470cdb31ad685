//! [`EnrollmentStore`]: the keyring-first, file-mirror-second resolver, and its builder.
#![allow(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::credentials::keyring_store::{KeyringBackend, KeyringStore};
use crate::credentials::mirror::{CredentialFileStore, MirrorRead, MIRROR_FILE_NAME};
use crate::credentials::store::{MemoryStore, SecretStore};
use crate::credentials::url::{normalize_platform_url, redact_url};
use crate::credentials::{CredentialError, Secret};
use crate::fsx::{FileLock, FsxError, LockMode};

use super::*;

/// What [`EnrollmentStore::write`] did.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteReport {
    /// The keyring backend written to.
    pub keyring_backend: String,
    /// The keyring keys written.
    pub keyring_keys_written: Vec<String>,
    /// The mirror path (`None` when the mirror is off).
    pub mirror_path: Option<PathBuf>,
    /// Whether the mirror was written.
    pub mirror_written: bool,
    /// Problems that did not fail the write (a mirror write failure is one).
    pub warnings: Vec<Problem>,
}

/// What [`EnrollmentStore::clear`] removed.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearReport {
    /// Keyring keys that existed and were removed.
    pub keyring_keys_removed: Vec<String>,
    /// Whether the mirror file existed and was removed.
    pub mirror_removed: bool,
    /// Temp files of the mirror that were removed.
    pub temp_files_removed: Vec<PathBuf>,
    /// What could not be removed (empty when clearing succeeded fully).
    pub problems: Vec<Problem>,
}

impl ClearReport {
    /// Whether everything was removed (no problems).
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether anything was removed.
    pub fn removed_anything(&self) -> bool {
        !self.keyring_keys_removed.is_empty()
            || self.mirror_removed
            || !self.temp_files_removed.is_empty()
    }
}

/// Builder of an [`EnrollmentStore`].
#[derive(Clone, Default)]
pub struct EnrollmentStoreBuilder {
    options: EnrollmentStoreOptions,
    store: Option<Arc<dyn SecretStore>>,
}

impl std::fmt::Debug for EnrollmentStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentStoreBuilder")
            .field("options", &self.options)
            .field(
                "custom_store",
                &self.store.as_ref().map(|s| s.backend_name()),
            )
            .finish()
    }
}

impl EnrollmentStoreBuilder {
    /// Start from `options` (replacing everything set so far except a custom store).
    pub fn options(mut self, options: EnrollmentStoreOptions) -> Self {
        self.options = options;
        self
    }
    /// See [`EnrollmentStoreOptions::app_name`].
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.options.app_name = name.into();
        self
    }
    /// See [`EnrollmentStoreOptions::service_name`].
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.options.service_name = Some(name.into());
        self
    }
    /// See [`EnrollmentStoreOptions::key_prefix`].
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.options.key_prefix = prefix.into();
        self
    }
    /// Turn the file mirror on or off.
    pub fn mirror(mut self, on: bool) -> Self {
        self.options.mirror = on;
        self
    }
    /// See [`EnrollmentStoreOptions::mirror_path`].
    pub fn mirror_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.mirror_path = Some(path.into());
        self
    }
    /// Choose the keyring (ignored when [`secret_store`](Self::secret_store) is set).
    pub fn keyring(mut self, choice: KeyringChoice) -> Self {
        self.options.keyring = choice;
        self
    }
    /// The timeout of each keyring call.
    pub fn keyring_timeout(mut self, timeout: Duration) -> Self {
        self.options.keyring_timeout_ms = timeout.as_millis().max(1) as u64;
        self
    }
    /// How long to wait for the mirror's lock.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.options.lock_timeout_ms = timeout.as_millis() as u64;
        self
    }
    /// Use this store instead of the keyring from the options. Wrap it in a
    /// [`BoundedStore`](super::BoundedStore) if its calls can hang.
    pub fn secret_store(mut self, store: impl SecretStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Build the store. Fails on invalid options, an unavailable keyring backend, or
    /// (for the default mirror path) no home directory.
    pub fn build(self) -> Result<EnrollmentStore, CredentialError> {
        let options = self.options.resolved();
        options.validate()?;
        let service = options
            .service_name
            .clone()
            .unwrap_or_else(|| options.app_name.clone());
        let store: Arc<dyn SecretStore> = match self.store {
            Some(s) => s,
            None => {
                let backend = match options.keyring {
                    KeyringChoice::Memory => None,
                    KeyringChoice::Platform => Some(KeyringBackend::platform_default()?),
                    KeyringChoice::Keyutils => Some(KeyringBackend::Keyutils),
                    KeyringChoice::SecretService => Some(KeyringBackend::SecretService),
                    KeyringChoice::MacosKeychain => Some(KeyringBackend::MacosKeychain),
                    KeyringChoice::WindowsCredentialManager => {
                        Some(KeyringBackend::WindowsCredentialManager)
                    }
                };
                match backend {
                    None => Arc::new(MemoryStore::new()),
                    Some(b) => Arc::new(
                        KeyringStore::with_backend(service.clone(), b)?
                            .with_timeout(Duration::from_millis(options.keyring_timeout_ms)),
                    ),
                }
            }
        };
        let mirror = if options.mirror {
            let path = match &options.mirror_path {
                Some(p) => p.clone(),
                None => home_dir()
                    .ok_or_else(|| {
                        CredentialError::invalid(
                            "mirrorPath",
                            "no home directory is known (HOME is unset); set mirrorPath",
                        )
                    })?
                    .join(format!(".{}", options.app_name))
                    .join(MIRROR_FILE_NAME),
            };
            Some(
                CredentialFileStore::new(path)
                    .with_lock_timeout(Duration::from_millis(options.lock_timeout_ms)),
            )
        } else {
            None
        };
        Ok(EnrollmentStore {
            keys: EnrollmentKeys::with_prefix(&options.key_prefix),
            store,
            mirror,
            service,
            options,
        })
    }
}

/// The current user's home directory.
pub(super) fn home_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            return Some(PathBuf::from(h));
        }
        passwd_home()
    }
    #[cfg(not(unix))]
    {
        std::env::var_os("USERPROFILE")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    }
}

#[cfg(unix)]
pub(super) fn passwd_home() -> Option<PathBuf> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: getpwuid_r writes into `pwd` and `buf` (whose length we pass) and sets
    // `result` to null or to `&pwd`; we read `pw_dir` only when it is `&pwd`.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let dir = CStr::from_ptr(pwd.pw_dir).to_bytes();
        if dir.is_empty() {
            return None;
        }
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir)))
    }
}

/// Parse a stored expiry like the reference's `Number(expStr)`: finite → truncated,
/// anything else → 0 with a note.
pub(super) fn parse_exp(key: &str, s: &str) -> (i64, Option<String>) {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return (i, None);
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() && f.abs() < 9.0e18 => (f.trunc() as i64, None),
        _ => (0, Some(format!("{key} is not a number; read as 0"))),
    }
}

/// Credentials of an enrolled agent: the OS keyring as the source of truth, a `0600`
/// file mirror for processes that cannot read the keyring, and one resolver.
///
/// The record is kept as five keyring entries (`<prefix>jwt`, `<prefix>jwt_exp`,
/// `<prefix>agent_id`, `<prefix>tenant_id`, `<prefix>platform_url`, prefix
/// `agent-enrollment.` by default) and mirrored to one JSON file
/// ([`CredentialFileStore`]). Reads try the keyring first; when it lacks a required
/// entry (the daemon in another session, or any process after a reboot on Linux) or
/// fails, the mirror answers; [`CredentialError::NotEnrolled`] when neither has the
/// record. Every answer says its [`CredentialSource`].
///
/// All operations on one mirror path are serialised across processes by the
/// mirror's advisory lock (writers exclusive, readers shared), so a reader never
/// sees keyring entries of two different writes. Calls block (bounded by the keyring
/// and lock timeouts); from async code call them inside `spawn_blocking`.
///
/// # Example
///
/// ```
/// use keel_core::credentials::{
///     CredentialSource, EnrollmentRecord, EnrollmentStore, KeyringChoice, MemoryStore, Secret,
/// };
/// # let tmp = tempfile::tempdir().unwrap();
/// # let mirror = tmp.path().join(".myagent/agent-enrollment.cred");
/// // The foreground process: keyring (here in memory) + mirror.
/// let foreground = EnrollmentStore::builder()
///     .app_name("myagent")
///     .keyring(KeyringChoice::Memory)
///     .mirror_path(&mirror)
///     .build()?;
/// let record = EnrollmentRecord {
///     jwt: Secret::new("eyJhbGciOiJub25lIn0.e30."),
///     jwt_expires_at_unix: 1_767_225_600,
///     agent_id: "agent-1".into(),
///     tenant_id: "tenant-1".into(),
///     platform_url: "https://platform.example.com".into(),
/// };
/// let report = foreground.write(&record)?;
/// assert!(report.mirror_written);
/// assert_eq!(foreground.read_all()?.source, CredentialSource::Keyring);
///
/// // The daemon: its keyring is empty, so the mirror answers, and says so.
/// let daemon = EnrollmentStore::builder()
///     .app_name("myagent")
///     .secret_store(MemoryStore::new())
///     .mirror_path(&mirror)
///     .build()?;
/// let resolved = daemon.read_all()?;
/// assert_eq!(resolved.source, CredentialSource::FileMirror);
/// assert_eq!(resolved.value, record);
/// daemon.assert_platform_url_matches("HTTPS://platform.example.com:443/")?;
///
/// let cleared = foreground.clear()?;
/// assert!(cleared.mirror_removed);
/// assert_eq!(daemon.read_jwt().unwrap_err().code(), "KEEL_NOT_ENROLLED");
/// # Ok::<(), keel_core::credentials::CredentialError>(())
/// ```
pub struct EnrollmentStore {
    pub(super) store: Arc<dyn SecretStore>,
    pub(super) keys: EnrollmentKeys,
    pub(super) mirror: Option<CredentialFileStore>,
    pub(super) service: String,
    pub(super) options: EnrollmentStoreOptions,
}

impl std::fmt::Debug for EnrollmentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentStore")
            .field("backend", &self.store.backend_name())
            .field("service", &self.service)
            .field("keys", &self.keys)
            .field("mirror", &self.mirror.as_ref().map(|m| m.path()))
            .finish()
    }
}

pub(super) enum KeyringRead {
    /// Every requested key, in order (`None` = absent or empty).
    Answered(Vec<Option<Secret>>),
    /// The keyring failed; the values read before the failure are dropped.
    Failed(CredentialError),
}

impl EnrollmentStore {
    /// A builder with default options.
    pub fn builder() -> EnrollmentStoreBuilder {
        EnrollmentStoreBuilder::default()
    }

    /// A store from options (the C and Node surfaces' constructor).
    pub fn from_options(options: EnrollmentStoreOptions) -> Result<Self, CredentialError> {
        Self::builder().options(options).build()
    }

    /// The options in effect.
    pub fn options(&self) -> &EnrollmentStoreOptions {
        &self.options
    }

    /// The keyring key names.
    pub fn keys(&self) -> &EnrollmentKeys {
        &self.keys
    }

    /// The secret store's backend name.
    pub fn keyring_backend(&self) -> &'static str {
        self.store.backend_name()
    }

    /// The mirror path, when the mirror is on.
    pub fn mirror_path(&self) -> Option<&std::path::Path> {
        self.mirror.as_ref().map(|m| m.path())
    }

    /// Whether the keyring answers at all (a value or "absent" both count), like the
    /// reference's `assertAvailable()`: [`CredentialError::KeyringUnavailable`],
    /// [`CredentialError::KeyringTimeout`] or [`CredentialError::Keyring`] otherwise.
    pub fn check_keyring(&self) -> Result<(), CredentialError> {
        self.store.get(&self.keys.jwt).map(|_| ())
    }

    pub(super) fn lock(&self, mode: LockMode) -> Result<Option<FileLock>, CredentialError> {
        match &self.mirror {
            Some(m) => m.lock(mode),
            None => Ok(None),
        }
    }

    /// Lock for removal: never creates the directory.
    pub(super) fn lock_existing(&self) -> Result<Option<FileLock>, CredentialError> {
        let Some(m) = &self.mirror else {
            return Ok(None);
        };
        if !m.path().parent().is_some_and(|d| d.is_dir()) {
            return Ok(None);
        }
        let timeout = Duration::from_millis(self.options.lock_timeout_ms);
        match FileLock::acquire(&m.lock_path(), LockMode::Exclusive, timeout) {
            Ok(l) => Ok(Some(l)),
            Err(e @ FsxError::LockTimeout { .. }) => Err(e.into()),
            Err(_) => Ok(None),
        }
    }

    pub(super) fn keyring_read(&self, keys: &[&str]) -> KeyringRead {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match self.store.get(key) {
                Ok(v) => out.push(v.filter(|s| !s.is_empty())),
                Err(e) => return KeyringRead::Failed(e),
            }
        }
        KeyringRead::Answered(out)
    }

    pub(super) fn missing_note(&self, keys: &[&str], values: &[Option<Secret>]) -> String {
        let missing: Vec<&str> = keys
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect();
        format!(
            "the keyring ({}) has no {}",
            self.store.backend_name(),
            missing.join(", ")
        )
    }

    /// Resolve from the mirror after the keyring did not answer with a full record.
    fn resolve_from_mirror<T>(
        &self,
        keyring_note: String,
        keyring_failure: Option<CredentialError>,
        map: impl FnOnce(EnrollmentRecord) -> T,
    ) -> Result<Resolved<T>, CredentialError> {
        let not_enrolled = |why: String| -> CredentialError {
            CredentialError::NotEnrolled {
                detail: format!("{keyring_note}, and {why}"),
            }
        };
        let Some(mirror) = &self.mirror else {
            return Err(keyring_failure
                .unwrap_or_else(|| not_enrolled("the file mirror is turned off".into())));
        };
        let path = mirror.path().display().to_string();
        match mirror.read_unlocked() {
            Ok(MirrorRead::Valid { record, notes }) => {
                tracing::info!(
                    target: "keel::credentials",
                    source = "fileMirror",
                    path = %path,
                    reason = %keyring_note,
                    "resolved the enrollment from the file mirror"
                );
                let mut all = vec![format!(
                    "{keyring_note}; answered from the file mirror {path}"
                )];
                all.extend(notes);
                Ok(Resolved {
                    value: map(record),
                    source: CredentialSource::FileMirror,
                    notes: all,
                })
            }
            Ok(MirrorRead::Absent) => Err(keyring_failure
                .unwrap_or_else(|| not_enrolled(format!("there is no mirror file {path}")))),
            Ok(MirrorRead::Invalid { reason }) => {
                tracing::warn!(
                    target: "keel::credentials",
                    path = %path,
                    reason = %reason,
                    "the credential mirror is unusable"
                );
                Err(keyring_failure.unwrap_or_else(|| {
                    not_enrolled(format!("the mirror file {path} is unusable: {reason}"))
                }))
            }
            Err(e) => {
                tracing::warn!(
                    target: "keel::credentials",
                    path = %path,
                    code = e.code(),
                    error = %e,
                    "cannot read the credential mirror"
                );
                Err(e)
            }
        }
    }

    pub(super) fn failure_note(&self, e: &CredentialError) -> String {
        tracing::warn!(
            target: "keel::credentials",
            backend = self.store.backend_name(),
            code = e.code(),
            error = %e,
            "keyring read failed; trying the file mirror"
        );
        format!("the keyring failed ({e})")
    }

    /// Store `record`: the keyring first (the source of truth), then the mirror.
    ///
    /// If any keyring write fails, the keys already written by this call are removed
    /// and the error is returned (the mirror is not touched). A mirror failure does
    /// not fail the write: it comes back in [`WriteReport::warnings`] (and as a
    /// `tracing` warning), because the foreground agent is enrolled; the daemon may
    /// not be.
    pub fn write(&self, record: &EnrollmentRecord) -> Result<WriteReport, CredentialError> {
        record.validate()?;
        let (lock, lock_problem) = match self.lock(LockMode::Exclusive) {
            Ok(l) => (l, None),
            Err(e @ CredentialError::LockTimeout { .. }) => return Err(e),
            Err(e) => (None, Some(e)),
        };
        let keys = &self.keys;
        let values = [
            (&keys.jwt, record.jwt.clone()),
            (
                &keys.jwt_exp,
                Secret::new(record.jwt_expires_at_unix.to_string()),
            ),
            (&keys.agent_id, Secret::new(record.agent_id.clone())),
            (&keys.tenant_id, Secret::new(record.tenant_id.clone())),
            (&keys.platform_url, Secret::new(record.platform_url.clone())),
        ];
        let mut written: Vec<String> = Vec::new();
        for (key, value) in &values {
            if let Err(e) = self.store.set(key, value) {
                tracing::warn!(
                    target: "keel::credentials",
                    backend = self.store.backend_name(),
                    key = %key,
                    code = e.code(),
                    error = %e,
                    "keyring write failed; removing the keys this write already stored"
                );
                for done in written.iter().rev() {
                    if let Err(e2) = self.store.delete(done) {
                        tracing::warn!(
                            target: "keel::credentials",
                            key = %done,
                            code = e2.code(),
                            "could not remove a partially written key"
                        );
                    }
                }
                return Err(e);
            }
            written.push((*key).clone());
        }
        let mut warnings = Vec::new();
        let mirror_written = match (&self.mirror, lock_problem) {
            (None, _) => false,
            (Some(m), problem) => {
                let result = match problem {
                    Some(e) => Err(e),
                    None => m.write_unlocked(record),
                };
                match result {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(
                            target: "keel::credentials",
                            path = %m.path().display(),
                            code = e.code(),
                            error = %e,
                            "could not write the credential mirror; the background daemon may \
                             not be able to read the credentials"
                        );
                        warnings.push(Problem::new(
                            Severity::Warning,
                            e.code(),
                            format!(
                                "could not write the credential mirror {}: {e}. The keyring \
                                 holds the enrollment, but a daemon that cannot read the \
                                 keyring will not find it",
                                m.path().display()
                            ),
                            fix_for(&e).or_else(|| {
                                Some(format!(
                                    "make {} writable by this user, then enroll again",
                                    m.path()
                                        .parent()
                                        .map(|p| p.display().to_string())
                                        .unwrap_or_default()
                                ))
                            }),
                        ));
                        false
                    }
                }
            }
        };
        drop(lock);
        tracing::info!(
            target: "keel::credentials",
            backend = self.store.backend_name(),
            mirror_written,
            "enrollment stored"
        );
        Ok(WriteReport {
            keyring_backend: self.store.backend_name().to_owned(),
            keyring_keys_written: written,
            mirror_path: self.mirror.as_ref().map(|m| m.path().to_path_buf()),
            mirror_written,
            warnings,
        })
    }

    /// The JWT and its expiry: from the keyring when it holds both `jwt` and
    /// `jwt_exp`, else from the mirror.
    pub fn read_jwt(&self) -> Result<Resolved<JwtInfo>, CredentialError> {
        let _lock = self.lock(LockMode::Shared)?;
        let keys = [self.keys.jwt.as_str(), self.keys.jwt_exp.as_str()];
        let (note, failure) = match self.keyring_read(&keys) {
            KeyringRead::Answered(mut v) => {
                if v.iter().all(Option::is_some) {
                    let exp_s = v.pop().flatten().unwrap_or_default();
                    let jwt = v.pop().flatten().unwrap_or_default();
                    let (expires_at_unix, note) = parse_exp(&self.keys.jwt_exp, exp_s.expose());
                    return Ok(Resolved {
                        value: JwtInfo {
                            jwt,
                            expires_at_unix,
                        },
                        source: CredentialSource::Keyring,
                        notes: note.into_iter().collect(),
                    });
                }
                (self.missing_note(&keys, &v), None)
            }
            KeyringRead::Failed(e) => (self.failure_note(&e), Some(e)),
        };
        self.resolve_from_mirror(note, failure, |r| JwtInfo {
            jwt: r.jwt,
            expires_at_unix: r.jwt_expires_at_unix,
        })
    }

    /// The whole record: from the keyring when it holds all five entries, else from
    /// the mirror.
    pub fn read_all(&self) -> Result<Resolved<EnrollmentRecord>, CredentialError> {
        let _lock = self.lock(LockMode::Shared)?;
        let (note, failure) = match self.read_keyring_record() {
            Ok(Ok(resolved)) => return Ok(resolved),
            Ok(Err(note)) => (note, None),
            Err(e) => (self.failure_note(&e), Some(e)),
        };
        self.resolve_from_mirror(note, failure, |r| r)
    }

    /// `Ok(Ok(record))` when the keyring holds all five entries, `Ok(Err(note))` when
    /// it answered but lacks some, `Err` when it failed.
    pub(super) fn read_keyring_record(
        &self,
    ) -> Result<Result<Resolved<EnrollmentRecord>, String>, CredentialError> {
        let k = &self.keys;
        let keys = [
            k.jwt.as_str(),
            k.jwt_exp.as_str(),
            k.agent_id.as_str(),
            k.tenant_id.as_str(),
            k.platform_url.as_str(),
        ];
        match self.keyring_read(&keys) {
            KeyringRead::Failed(e) => Err(e),
            KeyringRead::Answered(v) => {
                if !v.iter().all(Option::is_some) {
                    return Ok(Err(self.missing_note(&keys, &v)));
                }
                let mut it = v.into_iter().map(Option::unwrap_or_default);
                let mut next = || it.next().unwrap_or_default();
                let jwt = next();
                let exp_s = next();
                let agent_id = next().expose().to_owned();
                let tenant_id = next().expose().to_owned();
                let platform_url = next().expose().to_owned();
                let (jwt_expires_at_unix, note) = parse_exp(&k.jwt_exp, exp_s.expose());
                Ok(Ok(Resolved {
                    value: EnrollmentRecord {
                        jwt,
                        jwt_expires_at_unix,
                        agent_id,
                        tenant_id,
                        platform_url,
                    },
                    source: CredentialSource::Keyring,
                    notes: note.into_iter().collect(),
                }))
            }
        }
    }

    /// Whether an enrollment exists: a JWT in the keyring, or a usable mirror. A
    /// keyring failure with no usable mirror is an error rather than `false`, and so
    /// is a mirror that is refused as insecure.
    pub fn has_enrollment(&self) -> Result<bool, CredentialError> {
        let _lock = self.lock(LockMode::Shared)?;
        let failure = match self.store.get(&self.keys.jwt) {
            Ok(Some(s)) if !s.is_empty() => return Ok(true),
            Ok(_) => None,
            Err(e) => {
                let _ = self.failure_note(&e);
                Some(e)
            }
        };
        let Some(m) = &self.mirror else {
            return failure.map_or(Ok(false), Err);
        };
        match m.read_unlocked()? {
            MirrorRead::Valid { .. } => Ok(true),
            _ => failure.map_or(Ok(false), Err),
        }
    }

    /// Refuse credentials minted for another platform: compare the stored platform
    /// URL (keyring, else mirror) with `current` after [`normalize_platform_url`]
    /// (scheme and host case, default ports, trailing slash). Returns where the
    /// stored URL came from; [`CredentialError::PlatformUrlMismatch`] carries both
    /// URLs (with any userinfo or query redacted).
    pub fn assert_platform_url_matches(
        &self,
        current: &str,
    ) -> Result<CredentialSource, CredentialError> {
        if current.trim().is_empty() {
            return Err(CredentialError::invalid("platformUrl", "must not be empty"));
        }
        let _lock = self.lock(LockMode::Shared)?;
        let key = self.keys.platform_url.as_str();
        let stored = match self.keyring_read(&[key]) {
            KeyringRead::Answered(mut v) => match v.pop().flatten() {
                Some(url) => Resolved {
                    value: url.expose().to_owned(),
                    source: CredentialSource::Keyring,
                    notes: Vec::new(),
                },
                None => {
                    self.resolve_from_mirror(self.missing_note(&[key], &[None]), None, |r| {
                        r.platform_url
                    })?
                }
            },
            KeyringRead::Failed(e) => {
                self.resolve_from_mirror(self.failure_note(&e), Some(e), |r| r.platform_url)?
            }
        };
        if normalize_platform_url(&stored.value) != normalize_platform_url(current) {
            return Err(CredentialError::PlatformUrlMismatch {
                stored: redact_url(&stored.value),
                current: redact_url(current),
            });
        }
        Ok(stored.source)
    }

    /// Remove every keyring entry and the mirror (with its temp files and lock file).
    /// Idempotent. Reports what was removed; what could not be removed is listed in
    /// [`ClearReport::problems`] (the call still tries everything).
    pub fn clear(&self) -> Result<ClearReport, CredentialError> {
        let lock = self.lock_existing()?;
        let mut report = ClearReport::default();
        for (_, key) in self.keys.all() {
            match self.store.delete(key) {
                Ok(true) => report.keyring_keys_removed.push(key.to_owned()),
                Ok(false) => {}
                Err(e) => report.problems.push(Problem::new(
                    Severity::Error,
                    e.code(),
                    format!("could not remove keyring entry {key}: {e}"),
                    fix_for(&e),
                )),
            }
        }
        if let Some(m) = &self.mirror {
            match m.delete_unlocked() {
                Ok(r) => {
                    report.mirror_removed = r.removed;
                    report.temp_files_removed = r.temp_files;
                }
                Err(e) => report.problems.push(Problem::new(
                    Severity::Error,
                    e.code(),
                    format!("could not remove the mirror: {e}"),
                    fix_for(&e),
                )),
            }
        }
        if let Some(lock) = lock {
            if let Err(e) = lock.remove() {
                let e = CredentialError::from(e);
                report.problems.push(Problem::new(
                    Severity::Warning,
                    e.code(),
                    format!("could not remove the lock file: {e}"),
                    None,
                ));
            }
        }
        tracing::info!(
            target: "keel::credentials",
            keys_removed = report.keyring_keys_removed.len(),
            mirror_removed = report.mirror_removed,
            temp_files_removed = report.temp_files_removed.len(),
            problems = report.problems.len(),
            "enrollment cleared"
        );
        Ok(report)
    }
}
