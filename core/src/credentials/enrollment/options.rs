//! The options of an [`EnrollmentStore`]: one serde type every surface parses.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::credentials::keyring_store::DEFAULT_KEYRING_TIMEOUT;
use crate::credentials::CredentialError;

use super::*;

/// Which secret store an [`EnrollmentStore`] built from options uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum KeyringChoice {
    /// The platform's OS keyring ([`crate::credentials::KeyringBackend::platform_default`]).
    #[default]
    Platform,
    /// [`crate::credentials::KeyringBackend::Keyutils`].
    Keyutils,
    /// [`crate::credentials::KeyringBackend::SecretService`].
    SecretService,
    /// [`crate::credentials::KeyringBackend::MacosKeychain`].
    MacosKeychain,
    /// [`crate::credentials::KeyringBackend::WindowsCredentialManager`].
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

/// The default application name (keyring service, mirror directory `~/.keel/`).
pub const DEFAULT_APP_NAME: &str = "keel";
/// The default wait for the mirror's lock.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The reference's injected store, by name: the `store` option.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum StoreChoice {
    /// The keyring chosen by `keyring` (default).
    #[default]
    Keyring,
    /// An in-memory store, like the reference with an injected store: and unless a mirror
    /// path is given, no mirror either (nothing touches the real home directory).
    Memory,
}

/// Options of an [`EnrollmentStore`]: the one schema of `keel_enrollment_store_new`
/// (C, JSON text) and `new EnrollmentStore(options)` (Node). camelCase, every field
/// optional, unknown fields refused. The fields of the reference's
/// `AgentEnrollmentKeyringStore` options (`service`, `store`) plus keel's:
///
/// ```json
/// {"appName":"keel","serviceName":"keel","keyPrefix":"agent-enrollment.",
///  "mirror":true,"mirrorPath":"/home/me/.keel/agent-enrollment.cred",
///  "keyring":"platform","keyringTimeoutMs":5000,"lockTimeoutMs":10000}
/// ```
///
/// Node also takes `fileStore` (a `CredentialFileStore` names the mirror, `null`
/// disables it), which it resolves into `mirrorPath` / `mirror` before parsing.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EnrollmentStoreOptions {
    /// The reference's name of the keyring service (wins over `serviceName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The reference's store choice: `"keyring"` (default) or `"memory"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreChoice>,
    /// Application name: the default keyring service name and the default mirror
    /// directory `~/.<appName>/`. Default `"keel"`.
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub app_name: String,
    /// Keyring service name. Default: `appName`.
    pub service_name: Option<String>,
    /// Prefix of the five keyring keys. Default `"agent-enrollment."`.
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub key_prefix: String,
    /// Whether to keep the file mirror. Default `true`.
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>"))]
    pub mirror: bool,
    /// Mirror path. Default `~/.<appName>/agent-enrollment.cred`.
    pub mirror_path: Option<PathBuf>,
    /// The secret store. Default `"platform"`.
    #[cfg_attr(feature = "ts", ts(as = "Option<KeyringChoice>"))]
    pub keyring: KeyringChoice,
    /// Timeout of each keyring call, in milliseconds. Default 5000.
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub keyring_timeout_ms: u64,
    /// How long to wait for the mirror's lock, in milliseconds. Default 10000.
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub lock_timeout_ms: u64,
}

impl Default for EnrollmentStoreOptions {
    fn default() -> Self {
        EnrollmentStoreOptions {
            service: None,
            store: None,
            app_name: DEFAULT_APP_NAME.into(),
            service_name: None,
            key_prefix: DEFAULT_KEY_PREFIX.into(),
            mirror: true,
            mirror_path: None,
            keyring: KeyringChoice::Platform,
            keyring_timeout_ms: DEFAULT_KEYRING_TIMEOUT.as_millis() as u64,
            lock_timeout_ms: DEFAULT_LOCK_TIMEOUT.as_millis() as u64,
        }
    }
}

impl EnrollmentStoreOptions {
    /// Parse options JSON (an empty string or `null` means all defaults). Errors are
    /// `InvalidInput` naming the field (`keyring`, `customRules[0]`…), never a value.
    pub fn from_json(json: &str) -> Result<Self, CredentialError> {
        crate::options::from_json(json, "options_json", "options").map_err(|e| {
            let field = e.path().strip_prefix("options.").unwrap_or("options");
            CredentialError::invalid(field, e.problem())
        })
    }

    /// These options with the reference's fields resolved into keel's: `service`
    /// becomes `serviceName`; `store: "memory"` selects the in-memory keyring and, without
    /// a `mirrorPath`, turns the mirror off.
    pub fn resolved(mut self) -> Self {
        if let Some(s) = self.service.take() {
            self.service_name = Some(s);
        }
        if self.store.take() == Some(StoreChoice::Memory) {
            self.keyring = KeyringChoice::Memory;
            if self.mirror_path.is_none() {
                self.mirror = false;
            }
        }
        self
    }

    pub(super) fn validate(&self) -> Result<(), CredentialError> {
        if !plain_app_name(&self.app_name) {
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

/// Options of a standalone [`CredentialFileStore`](crate::credentials::CredentialFileStore)
/// (the reference's `CredentialFileStore` options): `path`, or `homeDir` (default: the
/// user's home) and `appName` (default `"keel"`) for `<homeDir>/.<appName>/agent-enrollment.cred`,
/// plus keel's `lockTimeoutMs`. Unknown fields are refused.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CredentialFileOptions {
    /// The file.
    pub path: Option<PathBuf>,
    /// The home directory holding `.<appName>/` (default: the user's home).
    pub home_dir: Option<PathBuf>,
    /// Application name (default `"keel"`).
    pub app_name: Option<String>,
    /// How long to wait for the file's lock, in milliseconds (default 10000).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub lock_timeout_ms: Option<u64>,
}

impl CredentialFileOptions {
    /// The store these options describe. Errors are `InvalidInput` naming the field.
    pub fn into_store(self) -> Result<crate::credentials::CredentialFileStore, CredentialError> {
        let path = match self.path {
            Some(p) if p.as_os_str().is_empty() => {
                return Err(CredentialError::invalid("path", "must not be empty"))
            }
            Some(p) => p,
            None => {
                let home = match self.home_dir {
                    Some(h) => h,
                    None => super::store::home_dir().ok_or_else(|| {
                        CredentialError::invalid(
                            "path",
                            "is needed: no home directory is known (HOME is unset)",
                        )
                    })?,
                };
                let app = self.app_name.unwrap_or_else(|| DEFAULT_APP_NAME.into());
                if !plain_app_name(&app) {
                    return Err(CredentialError::invalid(
                        "appName",
                        "must be a plain, non-empty name without path separators",
                    ));
                }
                home.join(format!(".{app}"))
                    .join(crate::credentials::MIRROR_FILE_NAME)
            }
        };
        let store = crate::credentials::CredentialFileStore::new(path).with_lock_timeout(
            std::time::Duration::from_millis(
                self.lock_timeout_ms
                    .unwrap_or(DEFAULT_LOCK_TIMEOUT.as_millis() as u64),
            ),
        );
        Ok(store)
    }
}

/// A name usable as a directory `.<name>` in the home directory.
fn plain_app_name(app: &str) -> bool {
    !(app.is_empty() || app == "." || app == ".." || app.contains(['/', '\\', '\0']))
}
