//! The OS keyring as a `SecretStore`, through the `keyring` crate with an explicit
//! backend.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{BoundedStore, SecretStore};
use super::{CredentialError, Secret};

/// Keyring calls that take longer than this fail with
/// [`CredentialError::KeyringTimeout`] unless configured otherwise.
pub const DEFAULT_KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// Which OS credential store a [`KeyringStore`] uses. Chosen explicitly: keel never
/// falls back to another store, and never to a mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum KeyringBackend {
    /// Linux kernel keyring (keyutils), in the user keyring. Works headless, without
    /// D-Bus. Contents do not survive a reboot.
    Keyutils,
    /// freedesktop Secret Service over D-Bus (GNOME Keyring, KWallet). Linux only,
    /// and only when keel-core is built with the `secret-service` feature.
    SecretService,
    /// macOS Keychain (the login keychain).
    MacosKeychain,
    /// Windows Credential Manager.
    WindowsCredentialManager,
}

impl KeyringBackend {
    /// The backend for this platform: keyutils on Linux, the Keychain on macOS,
    /// Credential Manager on Windows; [`CredentialError::KeyringUnavailable`]
    /// elsewhere.
    pub fn platform_default() -> Result<Self, CredentialError> {
        if cfg!(target_os = "linux") {
            Ok(KeyringBackend::Keyutils)
        } else if cfg!(target_os = "macos") {
            Ok(KeyringBackend::MacosKeychain)
        } else if cfg!(target_os = "windows") {
            Ok(KeyringBackend::WindowsCredentialManager)
        } else {
            Err(CredentialError::KeyringUnavailable {
                backend: "platform",
                detail: format!(
                    "keel has no OS keyring backend for {}; use the in-memory store and the \
                     file mirror",
                    std::env::consts::OS
                ),
            })
        }
    }

    /// The stable name used in errors, diagnostics and options (`"keyutils"`,
    /// `"secretService"`, `"macosKeychain"`, `"windowsCredentialManager"`).
    pub fn name(self) -> &'static str {
        match self {
            KeyringBackend::Keyutils => "keyutils",
            KeyringBackend::SecretService => "secretService",
            KeyringBackend::MacosKeychain => "macosKeychain",
            KeyringBackend::WindowsCredentialManager => "windowsCredentialManager",
        }
    }

    /// Whether this build of keel-core can use the backend on this platform.
    pub fn is_compiled_in(self) -> bool {
        match self {
            KeyringBackend::Keyutils => cfg!(target_os = "linux"),
            KeyringBackend::SecretService => {
                cfg!(all(target_os = "linux", feature = "secret-service"))
            }
            KeyringBackend::MacosKeychain => cfg!(target_os = "macos"),
            KeyringBackend::WindowsCredentialManager => cfg!(target_os = "windows"),
        }
    }

    fn check_compiled_in(self) -> Result<(), CredentialError> {
        if self.is_compiled_in() {
            return Ok(());
        }
        let detail = match self {
            KeyringBackend::SecretService if cfg!(target_os = "linux") => {
                "this build of keel-core does not include it; rebuild with the cargo feature \
                 `secret-service`, or use `keyutils`"
                    .to_owned()
            }
            _ => format!("it does not exist on {}", std::env::consts::OS),
        };
        Err(CredentialError::KeyringUnavailable {
            backend: self.name(),
            detail,
        })
    }
}

/// The raw, unbounded keyring access; always used through [`BoundedStore`].
#[derive(Debug)]
struct RawKeyring {
    service: String,
    backend: KeyringBackend,
}

impl RawKeyring {
    fn entry(&self, key: &str) -> keyring::Result<keyring::Entry> {
        let service = self.service.as_str();
        match self.backend {
            #[cfg(target_os = "linux")]
            KeyringBackend::Keyutils => Ok(keyring::Entry::new_with_credential(Box::new(
                super::keyutils::UserKeyringCredential::new(service, key),
            ))),
            #[cfg(all(target_os = "linux", feature = "secret-service"))]
            KeyringBackend::SecretService => Ok(keyring::Entry::new_with_credential(Box::new(
                keyring::secret_service::SsCredential::new_with_target(None, service, key)?,
            ))),
            #[cfg(target_os = "macos")]
            KeyringBackend::MacosKeychain => Ok(keyring::Entry::new_with_credential(Box::new(
                keyring::macos::MacCredential::new_with_target(None, service, key)?,
            ))),
            #[cfg(target_os = "windows")]
            KeyringBackend::WindowsCredentialManager => {
                Ok(keyring::Entry::new_with_credential(Box::new(
                    keyring::windows::WinCredential::new_with_target(None, service, key)?,
                )))
            }
            #[allow(unreachable_patterns)]
            _ => {
                let _ = (service, key);
                Err(keyring::Error::NoStorageAccess(
                    "backend not compiled in".into(),
                ))
            }
        }
    }

    fn map_err(&self, op: &'static str, key: &str, e: keyring::Error) -> CredentialError {
        let backend = self.backend.name();
        let key = key.to_owned();
        // Map variant by variant: a `keyring::Error` payload may hold raw bytes of the
        // secret (`BadEncoding`), which must never be formatted.
        match e {
            keyring::Error::NoStorageAccess(inner) => CredentialError::KeyringUnavailable {
                backend,
                detail: format!("access to the store was refused ({op} {key}): {inner}"),
            },
            keyring::Error::PlatformFailure(inner) => CredentialError::Keyring {
                backend,
                op,
                key,
                detail: inner.to_string(),
            },
            keyring::Error::BadEncoding(_) => CredentialError::Keyring {
                backend,
                op,
                key,
                detail: "the stored value is not UTF-8".into(),
            },
            keyring::Error::TooLong(attr, limit) => CredentialError::Keyring {
                backend,
                op,
                key,
                detail: format!("{attr} is longer than the platform limit of {limit}"),
            },
            keyring::Error::Invalid(attr, reason) => CredentialError::Keyring {
                backend,
                op,
                key,
                detail: format!("{attr} is invalid: {reason}"),
            },
            keyring::Error::Ambiguous(found) => CredentialError::Keyring {
                backend,
                op,
                key,
                detail: format!("{} credentials match this entry", found.len()),
            },
            keyring::Error::NoEntry => CredentialError::Keyring {
                backend,
                op,
                key,
                detail: "no such entry".into(),
            },
            _ => CredentialError::Keyring {
                backend,
                op,
                key,
                detail: "unrecognised keyring error".into(),
            },
        }
    }
}

impl SecretStore for RawKeyring {
    fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, CredentialError> {
        let entry = self.entry(key).map_err(|e| self.map_err("get", key, e))?;
        match entry.get_password() {
            Ok(v) => Ok(Some(Secret::new(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.map_err("get", key, e)),
        }
    }

    fn set(&self, key: &str, value: &Secret) -> Result<(), CredentialError> {
        let entry = self.entry(key).map_err(|e| self.map_err("set", key, e))?;
        entry
            .set_password(value.expose())
            .map_err(|e| self.map_err("set", key, e))
    }

    fn delete(&self, key: &str) -> Result<bool, CredentialError> {
        let entry = self
            .entry(key)
            .map_err(|e| self.map_err("delete", key, e))?;
        match entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.map_err("delete", key, e)),
        }
    }
}

/// The OS keyring as a [`SecretStore`]: each secret is the entry (service, key) of
/// the chosen [`KeyringBackend`]. Every call runs on a helper thread bounded by a
/// timeout ([`BoundedStore`]).
///
/// ```no_run
/// use keel_core::credentials::{KeyringStore, SecretStore, Secret};
/// let store = KeyringStore::new("my-agent").unwrap(); // platform default backend
/// store.set("token", &Secret::new("s3cr3t")).unwrap();
/// ```
#[derive(Debug)]
pub struct KeyringStore {
    backend: KeyringBackend,
    service: String,
    bounded: BoundedStore<RawKeyring>,
}

impl KeyringStore {
    /// The platform's default backend ([`KeyringBackend::platform_default`]) for
    /// `service`, with the default timeout.
    pub fn new(service: impl Into<String>) -> Result<Self, CredentialError> {
        Self::with_backend(service, KeyringBackend::platform_default()?)
    }

    /// A specific backend. Fails with [`CredentialError::KeyringUnavailable`] when the
    /// backend is not part of this build or platform.
    pub fn with_backend(
        service: impl Into<String>,
        backend: KeyringBackend,
    ) -> Result<Self, CredentialError> {
        backend.check_compiled_in()?;
        let service = service.into();
        if service.is_empty() {
            return Err(CredentialError::invalid("serviceName", "must not be empty"));
        }
        Ok(KeyringStore {
            backend,
            bounded: BoundedStore::new(
                RawKeyring {
                    service: service.clone(),
                    backend,
                },
                DEFAULT_KEYRING_TIMEOUT,
            ),
            service,
        })
    }

    /// Set the per-call timeout.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let KeyringStore {
            backend, service, ..
        } = self;
        KeyringStore {
            bounded: BoundedStore::new(
                RawKeyring {
                    service: service.clone(),
                    backend,
                },
                timeout,
            ),
            backend,
            service,
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> KeyringBackend {
        self.backend
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.bounded.timeout()
    }
}

impl SecretStore for KeyringStore {
    fn backend_name(&self) -> &'static str {
        self.backend.name()
    }
    fn get(&self, key: &str) -> Result<Option<Secret>, CredentialError> {
        self.bounded.get(key)
    }
    fn set(&self, key: &str, value: &Secret) -> Result<(), CredentialError> {
        self.bounded.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<bool, CredentialError> {
        self.bounded.delete(key)
    }
}
