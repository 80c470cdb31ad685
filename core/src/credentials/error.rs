//! The credentials error type.

use std::path::PathBuf;

use crate::fsx::{FsxError, InsecureKind};

/// Errors of the credentials capability.
///
/// Each variant has a stable [`code`](Self::code) for the C, Node and CLI surfaces.
/// Messages name keys, backends, paths and URLs (with any `user:password@` part
/// replaced by `***`), never a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Neither the keyring nor the file mirror holds an enrollment. `detail` says what
    /// each store answered (missing keys, absent or malformed mirror).
    #[error("not enrolled: {detail}")]
    NotEnrolled {
        /// What each store answered.
        detail: String,
    },
    /// The stored platform URL is not the one the caller is using.
    #[error(
        "platform URL mismatch: the stored enrollment is for {stored}, but the current platform \
         is {current}; re-enroll against {current} or point the agent back at {stored}"
    )]
    PlatformUrlMismatch {
        /// The URL stored at enrollment (userinfo redacted).
        stored: String,
        /// The URL the caller passed (userinfo redacted).
        current: String,
    },
    /// The keyring backend cannot be used here (not compiled in, not supported on this
    /// platform, or the platform store refused access).
    #[error("keyring backend {backend} is unavailable: {detail}")]
    KeyringUnavailable {
        /// The backend name, for example `"keyutils"`.
        backend: &'static str,
        /// Why.
        detail: String,
    },
    /// A keyring call did not return within the timeout.
    #[error("keyring backend {backend} did not answer ({op} {key}) within {timeout_ms} ms")]
    KeyringTimeout {
        /// The backend name.
        backend: &'static str,
        /// `"get"`, `"set"` or `"delete"`.
        op: &'static str,
        /// The key name (not secret).
        key: String,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// The keyring backend failed in another way.
    #[error("keyring backend {backend} failed to {op} {key}: {detail}")]
    Keyring {
        /// The backend name.
        backend: &'static str,
        /// `"get"`, `"set"` or `"delete"`.
        op: &'static str,
        /// The key name.
        key: String,
        /// The platform's reason (never the value).
        detail: String,
    },
    /// A credential file or its directory is unsafe to use (OpenSSH-style check).
    #[error("refusing to use {}: {kind}. Fix: {fix}", path.display())]
    InsecureFile {
        /// The file or directory.
        path: PathBuf,
        /// Why it was refused.
        kind: InsecureKind,
        /// A one-line fix, usually a shell command.
        fix: String,
    },
    /// Another process held the credential lock for longer than the lock timeout.
    #[error("timed out after {waited_ms} ms waiting for the lock {} (another process is writing the credentials)", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited_ms: u64,
    },
    /// Another file system failure.
    #[error(transparent)]
    File(FsxError),
    /// A caller-supplied value or option is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or option name, as the caller spells it (camelCase for JSON).
        field: String,
        /// What is wrong (never the value of a secret field).
        reason: String,
    },
    /// A JWT could not be decoded.
    #[error("invalid JWT: {reason}")]
    InvalidJwt {
        /// What is wrong (never the token).
        reason: String,
    },
}

impl CredentialError {
    /// The stable code: `KEEL_NOT_ENROLLED`, `KEEL_PLATFORM_URL_MISMATCH`,
    /// `KEEL_KEYRING_UNAVAILABLE`, `KEEL_KEYRING_TIMEOUT`, `KEEL_KEYRING_ERROR`,
    /// `KEEL_INSECURE_FILE`, `KEEL_LOCK_TIMEOUT`, `KEEL_INVALID_ARGUMENT`,
    /// `KEEL_INVALID_JWT`, or for [`File`](Self::File) the [`FsxError::code`]
    /// (`KEEL_IO`, `KEEL_FILE_TOO_LARGE`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            CredentialError::NotEnrolled { .. } => "KEEL_NOT_ENROLLED",
            CredentialError::PlatformUrlMismatch { .. } => "KEEL_PLATFORM_URL_MISMATCH",
            CredentialError::KeyringUnavailable { .. } => "KEEL_KEYRING_UNAVAILABLE",
            CredentialError::KeyringTimeout { .. } => "KEEL_KEYRING_TIMEOUT",
            CredentialError::Keyring { .. } => "KEEL_KEYRING_ERROR",
            CredentialError::InsecureFile { .. } => "KEEL_INSECURE_FILE",
            CredentialError::LockTimeout { .. } => "KEEL_LOCK_TIMEOUT",
            CredentialError::File(e) => e.code(),
            CredentialError::InvalidInput { .. } => crate::codes::INVALID_ARGUMENT,
            CredentialError::InvalidJwt { .. } => "KEEL_INVALID_JWT",
        }
    }

    /// Whether this is a failure of the keyring itself (unavailable, timeout, other
    /// platform error), as opposed to an answer.
    pub fn is_keyring_failure(&self) -> bool {
        matches!(
            self,
            CredentialError::KeyringUnavailable { .. }
                | CredentialError::KeyringTimeout { .. }
                | CredentialError::Keyring { .. }
        )
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CredentialError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<FsxError> for CredentialError {
    fn from(e: FsxError) -> Self {
        match e {
            FsxError::Insecure { path, kind, fix } => {
                CredentialError::InsecureFile { path, kind, fix }
            }
            FsxError::LockTimeout { path, waited_ms } => {
                CredentialError::LockTimeout { path, waited_ms }
            }
            other => CredentialError::File(other),
        }
    }
}
