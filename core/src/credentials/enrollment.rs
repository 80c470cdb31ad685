//! `EnrollmentStore`: the keyring-first, file-mirror-second resolver.
// libc calls (flock, kill(pid, 0), geteuid, getpwuid_r) are the only unsafe code here;
// each is a plain FFI call with valid arguments and checked results.
#![allow(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jwt::{self, unix_millis, unix_seconds};
use super::keyring_store::{KeyringBackend, KeyringStore, DEFAULT_KEYRING_TIMEOUT};
use super::mirror::{CredentialFileStore, MirrorRead, MIRROR_FILE_NAME};
use super::store::{MemoryStore, SecretStore};
use super::url::{normalize_platform_url, redact_url};
use super::{CredentialError, Secret};
use crate::fsx::{self, FileKind, FileLock, FsxError, LockMode};

/// The default key prefix, as in the reference: `agent-enrollment.jwt`, ….
pub const DEFAULT_KEY_PREFIX: &str = "agent-enrollment.";

/// An agent's enrollment: the reference's `AgentEnrollmentCredentials`. Serialised
/// with the reference's camelCase names (`jwt`, `jwtExpiresAtUnix`, `agentId`,
/// `tenantId`, `platformUrl`), which is also the mirror file's format. `Debug` prints
/// the JWT as `***`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRecord {
    /// The agent's JWT.
    pub jwt: Secret,
    /// The JWT's expiry, seconds since the epoch (0 = unknown).
    pub jwt_expires_at_unix: i64,
    /// The agent id.
    pub agent_id: String,
    /// The tenant id.
    pub tenant_id: String,
    /// The platform URL the agent enrolled against.
    pub platform_url: String,
}

impl EnrollmentRecord {
    /// Parse a record from the surfaces' JSON (`{"jwt", "jwtExpiresAtUnix", "agentId",
    /// "tenantId", "platformUrl"}`) and [`validate`](Self::validate) it. Errors name
    /// the field and never quote a value. `jwtExpiresAtUnix` must be a number (a
    /// fraction is truncated); unknown fields are ignored, as the reference does.
    pub fn from_json(json: &str) -> Result<Self, CredentialError> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            CredentialError::invalid(
                "record",
                format!("not valid JSON (line {}, column {})", e.line(), e.column()),
            )
        })?;
        let Value::Object(mut map) = value else {
            return Err(CredentialError::invalid("record", "must be a JSON object"));
        };
        let jwt_expires_at_unix = match map.get("jwtExpiresAtUnix") {
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i,
                (None, Some(f)) if f.is_finite() && f.abs() < 9.0e18 => f.trunc() as i64,
                _ => {
                    return Err(CredentialError::invalid(
                        "jwtExpiresAtUnix",
                        "is out of range",
                    ))
                }
            },
            None | Some(Value::Null) => {
                return Err(CredentialError::invalid("jwtExpiresAtUnix", "is missing"))
            }
            Some(_) => {
                return Err(CredentialError::invalid(
                    "jwtExpiresAtUnix",
                    "must be a number (seconds since the epoch)",
                ))
            }
        };
        let mut text = |field: &'static str| -> Result<String, CredentialError> {
            match map.remove(field) {
                Some(Value::String(s)) => Ok(s),
                None | Some(Value::Null) => Err(CredentialError::invalid(field, "is missing")),
                Some(_) => Err(CredentialError::invalid(field, "must be a string")),
            }
        };
        let record = EnrollmentRecord {
            jwt: Secret::new(text("jwt")?),
            jwt_expires_at_unix,
            agent_id: text("agentId")?,
            tenant_id: text("tenantId")?,
            platform_url: text("platformUrl")?,
        };
        record.validate()?;
        Ok(record)
    }

    /// Whether the stored expiry falls before now + `within` (an unknown expiry, 0,
    /// counts as expired).
    pub fn expires_within(&self, within: Duration) -> bool {
        self.expires_within_at(within, SystemTime::now())
    }

    /// [`expires_within`](Self::expires_within) at a given `now`.
    pub fn expires_within_at(&self, within: Duration, now: SystemTime) -> bool {
        jwt::exp_within(self.jwt_expires_at_unix, within, now)
    }

    /// Check the record can be stored: `jwt`, `agentId`, `tenantId` and `platformUrl`
    /// must be non-empty (the reference's reader treats an empty one as absent, and the
    /// kernel keyring cannot hold an empty value) and free of NUL characters.
    pub fn validate(&self) -> Result<(), CredentialError> {
        for (field, value) in [
            ("jwt", self.jwt.expose()),
            ("agentId", self.agent_id.as_str()),
            ("tenantId", self.tenant_id.as_str()),
            ("platformUrl", self.platform_url.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(CredentialError::invalid(field, "must not be empty"));
            }
            if value.contains('\0') {
                return Err(CredentialError::invalid(field, "must not contain NUL"));
            }
        }
        Ok(())
    }
}

/// The JWT and its expiry: the reference's `readJwt()` answer
/// (`{jwt, expiresAtUnix}`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtInfo {
    /// The JWT.
    pub jwt: Secret,
    /// Expiry, seconds since the epoch (0 = unknown).
    pub expires_at_unix: i64,
}

impl JwtInfo {
    /// Whether the expiry falls before now + `within` (0 = unknown counts as expired).
    pub fn expires_within(&self, within: Duration) -> bool {
        jwt::exp_within(self.expires_at_unix, within, SystemTime::now())
    }
}

/// Where an answer came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CredentialSource {
    /// The keyring (`"keyring"`).
    Keyring,
    /// The file mirror (`"fileMirror"`), because the keyring lacked the entries.
    FileMirror,
}

/// An answer and where it came from.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved<T> {
    /// The answer.
    pub value: T,
    /// Its source.
    pub source: CredentialSource,
    /// Why the file mirror answered, and any tolerated oddity (no secret values).
    pub notes: Vec<String>,
}

impl CredentialSource {
    /// The stable name used in JSON and by every surface: `"keyring"` or
    /// `"fileMirror"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialSource::Keyring => "keyring",
            CredentialSource::FileMirror => "fileMirror",
        }
    }
}

impl<T: Serialize> Resolved<T> {
    /// The answer's JSON object with `"source"` and `"notes"` added next to its own
    /// fields: the shape the C and CLI surfaces print, for example
    /// `{"jwt":"…","jwtExpiresAtUnix":…,"agentId":"…","tenantId":"…",
    /// "platformUrl":"…","source":"fileMirror","notes":["…"]}`. The result holds
    /// the secret values of the answer: never log it.
    ///
    /// ```
    /// use keel_core::credentials::{CredentialSource, JwtInfo, Resolved, Secret};
    /// let r = Resolved {
    ///     value: JwtInfo { jwt: Secret::new("eyJ.e30."), expires_at_unix: 7 },
    ///     source: CredentialSource::FileMirror,
    ///     notes: vec![],
    /// };
    /// let json = r.to_flat_json();
    /// assert_eq!(json["jwt"], "eyJ.e30.");
    /// assert_eq!(json["expiresAtUnix"], 7);
    /// assert_eq!(json["source"], "fileMirror");
    /// assert_eq!(json["notes"], serde_json::json!([]));
    /// ```
    pub fn to_flat_json(&self) -> Value {
        let mut map = match serde_json::to_value(&self.value) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other);
                m
            }
            Err(_) => serde_json::Map::new(),
        };
        map.insert("source".into(), Value::from(self.source.as_str()));
        map.insert(
            "notes".into(),
            Value::Array(self.notes.iter().cloned().map(Value::from).collect()),
        );
        Value::Object(map)
    }
}

/// The keyring key names used for a record, built from the key prefix.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentKeys {
    /// `<prefix>jwt`
    pub jwt: String,
    /// `<prefix>jwt_exp`
    pub jwt_exp: String,
    /// `<prefix>agent_id`
    pub agent_id: String,
    /// `<prefix>tenant_id`
    pub tenant_id: String,
    /// `<prefix>platform_url`
    pub platform_url: String,
}

impl EnrollmentKeys {
    /// The keys for `prefix`.
    pub fn with_prefix(prefix: &str) -> Self {
        EnrollmentKeys {
            jwt: format!("{prefix}jwt"),
            jwt_exp: format!("{prefix}jwt_exp"),
            agent_id: format!("{prefix}agent_id"),
            tenant_id: format!("{prefix}tenant_id"),
            platform_url: format!("{prefix}platform_url"),
        }
    }

    /// `(record field name, key)` for all five, in write order.
    pub fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("jwt", &self.jwt),
            ("jwtExpiresAtUnix", &self.jwt_exp),
            ("agentId", &self.agent_id),
            ("tenantId", &self.tenant_id),
            ("platformUrl", &self.platform_url),
        ]
    }
}

/// Which secret store an [`EnrollmentStore`] built from options uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum KeyringChoice {
    /// The platform's OS keyring ([`KeyringBackend::platform_default`]).
    #[default]
    Platform,
    /// [`KeyringBackend::Keyutils`].
    Keyutils,
    /// [`KeyringBackend::SecretService`].
    SecretService,
    /// [`KeyringBackend::MacosKeychain`].
    MacosKeychain,
    /// [`KeyringBackend::WindowsCredentialManager`].
    WindowsCredentialManager,
    /// An in-memory store: nothing outlives the process except the file mirror.
    Memory,
}

impl KeyringChoice {
    /// Every choice with its option name (the `keyring` field of
    /// [`EnrollmentStoreOptions`] in JSON), for the C, Node and CLI surfaces.
    pub const ALL: [(&'static str, KeyringChoice); 6] = [
        ("platform", KeyringChoice::Platform),
        ("keyutils", KeyringChoice::Keyutils),
        ("secretService", KeyringChoice::SecretService),
        ("macosKeychain", KeyringChoice::MacosKeychain),
        (
            "windowsCredentialManager",
            KeyringChoice::WindowsCredentialManager,
        ),
        ("memory", KeyringChoice::Memory),
    ];

    /// The choice for an option name (`"keyutils"`, …).
    pub fn from_name(name: &str) -> Option<KeyringChoice> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// The option names, comma-separated, for error messages.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Options of an [`EnrollmentStore`], as JSON for the C and Node surfaces (camelCase,
/// every field optional, unknown fields refused):
///
/// ```json
/// {"appName":"keel","serviceName":"keel","keyPrefix":"agent-enrollment.",
///  "mirror":true,"mirrorPath":"/home/me/.keel/agent-enrollment.cred",
///  "keyring":"platform","keyringTimeoutMs":5000,"lockTimeoutMs":10000}
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EnrollmentStoreOptions {
    /// Application name: the default keyring service name and the default mirror
    /// directory `~/.<appName>/`. Default `"keel"`.
    pub app_name: String,
    /// Keyring service name. Default: `appName`.
    pub service_name: Option<String>,
    /// Prefix of the five keyring keys. Default `"agent-enrollment."`.
    pub key_prefix: String,
    /// Whether to keep the file mirror. Default `true`.
    pub mirror: bool,
    /// Mirror path. Default `~/.<appName>/agent-enrollment.cred`.
    pub mirror_path: Option<PathBuf>,
    /// The secret store. Default `"platform"`.
    pub keyring: KeyringChoice,
    /// Timeout of each keyring call, in milliseconds. Default 5000.
    pub keyring_timeout_ms: u64,
    /// How long to wait for the mirror's lock, in milliseconds. Default 10000.
    pub lock_timeout_ms: u64,
}

impl Default for EnrollmentStoreOptions {
    fn default() -> Self {
        EnrollmentStoreOptions {
            app_name: "keel".into(),
            service_name: None,
            key_prefix: DEFAULT_KEY_PREFIX.into(),
            mirror: true,
            mirror_path: None,
            keyring: KeyringChoice::Platform,
            keyring_timeout_ms: DEFAULT_KEYRING_TIMEOUT.as_millis() as u64,
            lock_timeout_ms: 10_000,
        }
    }
}

impl EnrollmentStoreOptions {
    /// Parse options JSON (an empty string or `null` means all defaults).
    pub fn from_json(json: &str) -> Result<Self, CredentialError> {
        if json.trim().is_empty() || json.trim() == "null" {
            return Ok(Self::default());
        }
        serde_json::from_str(json).map_err(|e| CredentialError::invalid("options", e.to_string()))
    }

    fn validate(&self) -> Result<(), CredentialError> {
        let app = self.app_name.as_str();
        if app.is_empty() || app == "." || app == ".." || app.contains(['/', '\\', '\0']) {
            return Err(CredentialError::invalid(
                "appName",
                "must be a plain, non-empty name without path separators",
            ));
        }
        if let Some(s) = &self.service_name {
            if s.is_empty() {
                return Err(CredentialError::invalid("serviceName", "must not be empty"));
            }
        }
        if self.keyring_timeout_ms == 0 {
            return Err(CredentialError::invalid(
                "keyringTimeoutMs",
                "must be greater than 0",
            ));
        }
        if let Some(p) = &self.mirror_path {
            if p.file_name().is_none() {
                return Err(CredentialError::invalid("mirrorPath", "must name a file"));
            }
        }
        Ok(())
    }
}

/// Severity of a [`Problem`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Something is broken.
    Error,
    /// Something will break, or works only by fallback.
    Warning,
    /// Worth knowing.
    Info,
}

/// A problem found by [`EnrollmentStore::diagnose`], or a warning of
/// [`EnrollmentStore::write`] / [`EnrollmentStore::clear`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// How bad.
    pub severity: Severity,
    /// A stable camelCase code, for example `"mirrorTooOpen"`, or a `KEEL_*` error
    /// code for errors reported as warnings.
    pub code: String,
    /// What is wrong (no secret values).
    pub message: String,
    /// A one-line fix, when there is one.
    pub fix: Option<String>,
}

impl Problem {
    fn new(
        severity: Severity,
        code: &str,
        message: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Problem {
            severity,
            code: code.to_owned(),
            message: message.into(),
            fix,
        }
    }
}

fn fix_for(e: &CredentialError) -> Option<String> {
    match e {
        CredentialError::InsecureFile { fix, .. } => Some(fix.clone()),
        CredentialError::LockTimeout { .. } => {
            Some("wait for the other writer to finish, then retry".into())
        }
        CredentialError::KeyringTimeout { .. } => Some(
            "unlock the keyring or check that its service is running; reads fall back to the \
             file mirror meanwhile"
                .into(),
        ),
        CredentialError::KeyringUnavailable { .. } => {
            Some("keep the file mirror on, or choose a keyring backend that exists here".into())
        }
        _ => None,
    }
}

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

/// Whether a store holds a field (never its value). `present` is `None` when the
/// store could not be asked.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldPresence {
    /// The record field (`jwt`, `jwtExpiresAtUnix`, `agentId`, `tenantId`,
    /// `platformUrl`).
    pub field: String,
    /// The keyring key, for keyring fields.
    pub key: Option<String>,
    /// Whether the store holds a non-empty value.
    pub present: Option<bool>,
}

/// The keyring part of a [`Diagnosis`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyringDiagnosis {
    /// The backend name.
    pub backend: String,
    /// The keyring service name.
    pub service: String,
    /// Whether every call answered (with a value or "absent").
    pub answered: bool,
    /// The error code when it did not.
    pub error_code: Option<String>,
    /// The error message when it did not.
    pub error: Option<String>,
    /// Which fields it holds.
    pub fields: Vec<FieldPresence>,
}

/// The mirror part of a [`Diagnosis`].
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorDiagnosis {
    /// Whether the mirror is on.
    pub enabled: bool,
    /// Its path.
    pub path: Option<PathBuf>,
    /// Whether something exists at the path.
    pub exists: bool,
    /// What is at the path (`file`, `directory`, `symlink`, `special file`).
    pub kind: Option<String>,
    /// Its permission bits in octal, for example `"0600"`.
    pub mode: Option<String>,
    /// Its owner uid.
    pub owner_uid: Option<u32>,
    /// Whether the current user owns it.
    pub owned_by_current_user: Option<bool>,
    /// Its directory.
    pub dir_path: Option<PathBuf>,
    /// The directory's permission bits in octal.
    pub dir_mode: Option<String>,
    /// Whether the file holds a usable record.
    pub valid: bool,
    /// Why not.
    pub invalid_reason: Option<String>,
    /// Tolerated oddities of a usable record.
    pub notes: Vec<String>,
    /// Which fields the file holds.
    pub fields: Vec<FieldPresence>,
    /// Leftover temp files of the mirror.
    pub temp_files: Vec<PathBuf>,
}

/// The JWT part of a [`Diagnosis`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtDiagnosis {
    /// Where the record came from.
    pub source: CredentialSource,
    /// The stored expiry, seconds since the epoch (0 = unknown).
    pub expires_at_unix: i64,
    /// The same in milliseconds.
    pub expires_at_ms: i64,
    /// Milliseconds until expiry (negative once expired).
    pub time_left_ms: i64,
    /// Whether it has expired (an unknown expiry counts as expired, as in the
    /// reference).
    pub expired: bool,
    /// The token's own `exp` claim, when it decodes.
    pub exp_claim_unix: Option<i64>,
    /// Why the token's payload did not decode.
    pub decode_error: Option<String>,
}

/// The structured report of [`EnrollmentStore::diagnose`], for a doctor command.
/// It never contains a secret value.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// When the check ran, milliseconds since the epoch.
    pub checked_at_ms: i64,
    /// The keyring.
    pub keyring: KeyringDiagnosis,
    /// The file mirror.
    pub mirror: MirrorDiagnosis,
    /// Where a read would resolve from now (`None` when it would fail).
    pub resolved_from: Option<CredentialSource>,
    /// Whether keyring and mirror hold the same record (`None` unless both hold a
    /// complete one).
    pub in_sync: Option<bool>,
    /// The JWT's expiry.
    pub jwt: Option<JwtDiagnosis>,
    /// Every problem found, each with a one-line fix where there is one.
    pub problems: Vec<Problem>,
}

impl Diagnosis {
    /// Whether any problem has [`Severity::Error`].
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
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
        let options = self.options;
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
fn home_dir() -> Option<PathBuf> {
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
fn passwd_home() -> Option<PathBuf> {
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
fn parse_exp(key: &str, s: &str) -> (i64, Option<String>) {
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
    store: Arc<dyn SecretStore>,
    keys: EnrollmentKeys,
    mirror: Option<CredentialFileStore>,
    service: String,
    options: EnrollmentStoreOptions,
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

enum KeyringRead {
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

    fn lock(&self, mode: LockMode) -> Result<Option<FileLock>, CredentialError> {
        match &self.mirror {
            Some(m) => m.lock(mode),
            None => Ok(None),
        }
    }

    /// Lock for removal: never creates the directory.
    fn lock_existing(&self) -> Result<Option<FileLock>, CredentialError> {
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

    fn keyring_read(&self, keys: &[&str]) -> KeyringRead {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match self.store.get(key) {
                Ok(v) => out.push(v.filter(|s| !s.is_empty())),
                Err(e) => return KeyringRead::Failed(e),
            }
        }
        KeyringRead::Answered(out)
    }

    fn missing_note(&self, keys: &[&str], values: &[Option<Secret>]) -> String {
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

    fn failure_note(&self, e: &CredentialError) -> String {
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
    fn read_keyring_record(
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

    /// A structured health report for a doctor command; see [`Diagnosis`]. Never
    /// fails: what cannot be checked is reported as a problem.
    pub fn diagnose(&self) -> Diagnosis {
        self.diagnose_at(SystemTime::now())
    }

    /// [`diagnose`](Self::diagnose) at a given time (for tests and injected clocks).
    pub fn diagnose_at(&self, now: SystemTime) -> Diagnosis {
        let mut problems = Vec::new();
        let _lock = match self.lock(LockMode::Shared) {
            Ok(l) => l,
            Err(e) => {
                problems.push(Problem::new(
                    Severity::Warning,
                    e.code(),
                    format!("checked without the lock: {e}"),
                    fix_for(&e),
                ));
                None
            }
        };

        // Keyring: presence of every field.
        let mut keyring = KeyringDiagnosis {
            backend: self.store.backend_name().to_owned(),
            service: self.service.clone(),
            answered: true,
            error_code: None,
            error: None,
            fields: Vec::new(),
        };
        let mut keyring_values: Vec<Option<Secret>> = Vec::new();
        for (field, key) in self.keys.all() {
            let present = if keyring.answered {
                match self.store.get(key) {
                    Ok(v) => {
                        let v = v.filter(|s| !s.is_empty());
                        let p = v.is_some();
                        keyring_values.push(v);
                        Some(p)
                    }
                    Err(e) => {
                        keyring.answered = false;
                        keyring.error_code = Some(e.code().to_owned());
                        keyring.error = Some(e.to_string());
                        let code = match &e {
                            CredentialError::KeyringTimeout { .. } => "keyringTimeout",
                            CredentialError::KeyringUnavailable { .. } => "keyringUnavailable",
                            _ => "keyringError",
                        };
                        problems.push(Problem::new(
                            Severity::Error,
                            code,
                            format!("the keyring did not answer: {e}"),
                            fix_for(&e),
                        ));
                        None
                    }
                }
            } else {
                None
            };
            keyring.fields.push(FieldPresence {
                field: field.to_owned(),
                key: Some(key.to_owned()),
                present,
            });
        }
        let keyring_record = if keyring.answered && keyring_values.iter().all(Option::is_some) {
            let mut it = keyring_values.into_iter().map(Option::unwrap_or_default);
            let mut next = || it.next().unwrap_or_default();
            let jwt = next();
            let (exp, _) = parse_exp(&self.keys.jwt_exp, next().expose());
            Some(EnrollmentRecord {
                jwt,
                jwt_expires_at_unix: exp,
                agent_id: next().expose().to_owned(),
                tenant_id: next().expose().to_owned(),
                platform_url: next().expose().to_owned(),
            })
        } else {
            None
        };
        let keyring_count = keyring
            .fields
            .iter()
            .filter(|f| f.present == Some(true))
            .count();

        // Mirror.
        let (mirror, mirror_record) = self.diagnose_mirror(&mut problems);

        // Resolution and consistency.
        let resolved = match (&keyring_record, &mirror_record) {
            (Some(r), _) => Some((CredentialSource::Keyring, r.clone())),
            (None, Some(r)) => Some((CredentialSource::FileMirror, r.clone())),
            _ => None,
        };
        if keyring.answered && keyring_record.is_none() {
            if keyring_count > 0 {
                problems.push(Problem::new(
                    if mirror_record.is_some() {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    "keyringIncomplete",
                    format!(
                        "the keyring holds {keyring_count} of the 5 enrollment entries; reads \
                         use the file mirror"
                    ),
                    Some("enroll again to rewrite every entry".into()),
                ));
            } else if mirror_record.is_some() {
                problems.push(Problem::new(
                    Severity::Info,
                    "keyringEmpty",
                    "the keyring holds no enrollment here; reads use the file mirror (expected \
                     for a daemon in another session, or after a reboot with the Linux kernel \
                     keyring)",
                    None,
                ));
            }
        }
        if resolved.is_none() {
            problems.push(Problem::new(
                Severity::Error,
                "notEnrolled",
                "neither the keyring nor the file mirror holds a complete enrollment",
                Some("enroll the agent".into()),
            ));
        }
        if self.mirror.is_some() && keyring_record.is_some() && !mirror.exists {
            problems.push(Problem::new(
                Severity::Warning,
                "mirrorMissing",
                "the keyring holds the enrollment but the file mirror does not exist; a \
                 background daemon that cannot read this keyring will find no credentials",
                Some("enroll again (writing the enrollment rewrites the mirror)".into()),
            ));
        }
        let in_sync = match (&keyring_record, &mirror_record) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        if in_sync == Some(false) {
            problems.push(Problem::new(
                Severity::Warning,
                "outOfSync",
                "the keyring and the file mirror hold different enrollments; processes that \
                 read different stores will use different credentials",
                Some("enroll again so both hold the same record".into()),
            ));
        }

        // JWT expiry.
        let jwt = resolved.as_ref().map(|(source, record)| {
            let now_s = unix_seconds(now);
            let exp = record.jwt_expires_at_unix;
            let expires_at_ms = exp.saturating_mul(1000);
            let time_left_ms = expires_at_ms.saturating_sub(unix_millis(now));
            let expired = exp <= now_s;
            let (exp_claim_unix, decode_error) = match jwt::exp(record.jwt.expose()) {
                Ok(c) => (c, None),
                Err(e) => (None, Some(e.to_string())),
            };
            if exp == 0 {
                problems.push(Problem::new(
                    Severity::Warning,
                    "expiryUnknown",
                    "the stored JWT expiry is 0 (unknown); it is treated as expired",
                    Some("enroll again to store the expiry".into()),
                ));
            } else if expired {
                problems.push(Problem::new(
                    Severity::Error,
                    "jwtExpired",
                    format!("the JWT expired {} s ago", now_s.saturating_sub(exp)),
                    Some("refresh the token or enroll again".into()),
                ));
            } else if jwt::exp_within(exp, Duration::from_secs(24 * 3600), now) {
                problems.push(Problem::new(
                    Severity::Warning,
                    "jwtExpiringSoon",
                    format!("the JWT expires in {} s", exp.saturating_sub(now_s)),
                    Some("refresh the token before it expires".into()),
                ));
            }
            if let Some(claim) = exp_claim_unix {
                if exp != 0 && claim != exp {
                    problems.push(Problem::new(
                        Severity::Info,
                        "expiryDiffersFromClaim",
                        format!(
                            "the stored expiry ({exp}) differs from the token's exp claim ({claim})"
                        ),
                        None,
                    ));
                }
            }
            JwtDiagnosis {
                source: *source,
                expires_at_unix: exp,
                expires_at_ms,
                time_left_ms,
                expired,
                exp_claim_unix,
                decode_error,
            }
        });

        Diagnosis {
            checked_at_ms: unix_millis(now),
            keyring,
            mirror,
            resolved_from: resolved.map(|(s, _)| s),
            in_sync,
            jwt,
            problems,
        }
    }

    fn diagnose_mirror(
        &self,
        problems: &mut Vec<Problem>,
    ) -> (MirrorDiagnosis, Option<EnrollmentRecord>) {
        let Some(m) = &self.mirror else {
            problems.push(Problem::new(
                Severity::Info,
                "mirrorDisabled",
                "the file mirror is turned off: only processes that can read this keyring will \
                 find the credentials",
                None,
            ));
            return (MirrorDiagnosis::default(), None);
        };
        let path = m.path();
        let quoted = crate::fsx::shell_quote(path);
        let mut d = MirrorDiagnosis {
            enabled: true,
            path: Some(path.to_path_buf()),
            dir_path: path.parent().map(|p| p.to_path_buf()),
            ..MirrorDiagnosis::default()
        };
        if let Some(dir) = path.parent() {
            if let Ok(Some(facts)) = fsx::inspect(dir) {
                d.dir_mode = Some(format!("{:04o}", facts.mode));
                if cfg!(unix) && facts.kind == FileKind::Directory && facts.mode & 0o077 != 0 {
                    let (severity, code) = if facts.mode & 0o022 != 0 && facts.mode & 0o1000 == 0 {
                        (Severity::Error, "mirrorDirWritableByOthers")
                    } else {
                        (Severity::Warning, "mirrorDirTooOpen")
                    };
                    problems.push(Problem::new(
                        severity,
                        code,
                        format!(
                            "the mirror's directory {} has mode {:04o}; it should be 0700",
                            dir.display(),
                            facts.mode
                        ),
                        Some(format!("chmod 700 {}", crate::fsx::shell_quote(dir))),
                    ));
                }
            }
        }
        d.temp_files = fsx::temp_files_of(path)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        if !d.temp_files.is_empty() {
            problems.push(Problem::new(
                Severity::Warning,
                "staleTempFiles",
                format!(
                    "{} leftover temp file(s) of the mirror (from an interrupted write) may hold \
                     credentials",
                    d.temp_files.len()
                ),
                Some(
                    "they are removed by the next read or write of the mirror, or by clearing \
                     the enrollment"
                        .into(),
                ),
            ));
        }
        match fsx::inspect(path) {
            Ok(None) => {}
            Ok(Some(facts)) => {
                d.exists = true;
                d.kind = Some(facts.kind.as_str().to_owned());
                d.mode = Some(format!("{:04o}", facts.mode));
                d.owner_uid = Some(facts.uid);
                d.owned_by_current_user = Some(facts.owned_by_current_user);
            }
            Err(e) => {
                d.invalid_reason = Some(e.to_string());
            }
        }
        if !d.exists {
            return (d, None);
        }
        match fsx::read_private(path, fsx::DEFAULT_MAX_SECRET_FILE_LEN) {
            Ok(None) => (d, None),
            Ok(Some(bytes)) => {
                d.fields = mirror_fields(&bytes);
                match CredentialFileStore::parse(&bytes) {
                    MirrorRead::Valid { record, notes } => {
                        d.valid = true;
                        for n in &notes {
                            problems.push(Problem::new(
                                Severity::Info,
                                "mirrorNote",
                                n.clone(),
                                None,
                            ));
                        }
                        d.notes = notes;
                        (d, Some(record))
                    }
                    MirrorRead::Invalid { reason } => {
                        problems.push(Problem::new(
                            Severity::Error,
                            "mirrorInvalid",
                            format!("the mirror file is unusable: {reason}"),
                            Some(format!("rm {quoted}, then enroll again")),
                        ));
                        d.invalid_reason = Some(reason);
                        (d, None)
                    }
                    MirrorRead::Absent => (d, None),
                }
            }
            Err(e) => {
                let e = CredentialError::from(e);
                let code = match &e {
                    CredentialError::InsecureFile { kind, .. } => match kind {
                        fsx::InsecureKind::TooOpen { .. } => "mirrorTooOpen",
                        fsx::InsecureKind::WrongOwner { .. } => "mirrorWrongOwner",
                        fsx::InsecureKind::Symlink => "mirrorIsSymlink",
                        fsx::InsecureKind::NotRegularFile { .. } => "mirrorNotAFile",
                        _ => "mirrorInsecure",
                    },
                    CredentialError::File(FsxError::TooLarge { .. }) => "mirrorInvalid",
                    _ => "mirrorUnreadable",
                };
                problems.push(Problem::new(
                    Severity::Error,
                    code,
                    e.to_string(),
                    fix_for(&e).or_else(|| Some(format!("rm {quoted}, then enroll again"))),
                ));
                d.invalid_reason = Some(e.to_string());
                (d, None)
            }
        }
    }
}

/// Which record fields a mirror file holds (non-empty strings; a number for the
/// expiry).
fn mirror_fields(bytes: &[u8]) -> Vec<FieldPresence> {
    let map = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    [
        "jwt",
        "jwtExpiresAtUnix",
        "agentId",
        "tenantId",
        "platformUrl",
    ]
    .into_iter()
    .map(|field| {
        let present = map.as_ref().map(|m| match m.get(field) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Number(_)) => field == "jwtExpiresAtUnix",
            _ => false,
        });
        FieldPresence {
            field: field.to_owned(),
            key: None,
            present,
        }
    })
    .collect()
}
