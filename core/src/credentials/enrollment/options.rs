//! The options of an [`EnrollmentStore`]: one serde type every surface parses.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::credentials::keyring_store::DEFAULT_KEYRING_TIMEOUT;
use crate::credentials::CredentialError;

use super::*;

/// Which secret store an [`EnrollmentStore`] built from options uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
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

    pub(super) fn validate(&self) -> Result<(), CredentialError> {
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
