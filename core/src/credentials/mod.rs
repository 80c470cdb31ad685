//! Credential mirroring: the OS keyring as the primary store, an atomic `0600` file
//! mirror that a background daemon can read, and one resolver that says where each
//! answer came from.
//!
//! # Why
//!
//! An agent enrolls in the foreground and stores its credentials in the OS keyring.
//! The daemon that launchd or systemd starts runs in another security session, may not
//! see that keyring, concludes "not enrolled" and crash-loops. keel keeps the keyring
//! as the primary store, mirrors the same record to a `0600` file, and resolves reads
//! keyring-first, then file ([`EnrollmentStore`]).
//!
//! # Pieces
//!
//! * [`SecretStore`]: get / set / delete a named secret. Implementations:
//!   [`KeyringStore`] (the OS keyring through the `keyring` crate, with an explicit
//!   [`KeyringBackend`], every call bounded by a timeout), [`MemoryStore`], and
//!   [`BoundedStore`] (adds the timeout to any store).
//! * [`CredentialFileStore`]: the JSON mirror file, field-for-field the reference
//!   `agent-enrollment.cred` (`jwt`, `jwtExpiresAtUnix`, `agentId`, `tenantId`,
//!   `platformUrl`), written with [`fsx::write_atomic`](crate::fsx::write_atomic) and
//!   read with [`fsx::read_private`](crate::fsx::read_private).
//! * [`EnrollmentStore`]: the resolver.
//! * [`jwt`]: read claims from a JWT payload without verifying it.
//!
//! # The Linux kernel keyring
//!
//! On Linux keel stores keys in the kernel *user* keyring (`@u`), not in the session
//! keyring that the `keyring` crate's own keyutils store uses. Every process of the
//! same user sees the user keyring whatever its session: a systemd service with a
//! private session keyring, a cron job, a CI run without any session keyring. (The
//! `keyring` crate's store adds keys to the session keyring and links them into the
//! persistent keyring; in a process without a session keyring of its own that link
//! fails and writes fail.) Keys get permissions possessor+user = all, group/other =
//! none. Kernel keyrings never survive a reboot: after one, reads resolve from the
//! file mirror, and say so.
//!
//! # Secrets
//!
//! Secret values are [`Secret`]s: `Debug` prints `***`, memory is zeroed on drop. No
//! error message, `Debug` string or `tracing` event contains a secret value.

#![warn(missing_docs)]

mod enrollment;
mod error;
pub mod jwt;
mod keyring_store;
#[cfg(target_os = "linux")]
mod keyutils;
mod mirror;
mod secret;
mod store;
mod url;

pub use enrollment::{
    ClearReport, CredentialFileOptions, CredentialSource, Diagnosis, EnrollmentKeys,
    EnrollmentRecord, EnrollmentStore, EnrollmentStoreBuilder, EnrollmentStoreOptions,
    FieldPresence, JwtDiagnosis, JwtInfo, KeyringChoice, KeyringDiagnosis, MirrorDiagnosis,
    Problem, Resolved, Severity, StoreChoice, WriteReport, DEFAULT_APP_NAME, DEFAULT_KEY_PREFIX,
    DEFAULT_LOCK_TIMEOUT,
};
pub use error::CredentialError;
pub use keyring_store::{KeyringBackend, KeyringStore, DEFAULT_KEYRING_TIMEOUT};
pub use mirror::{CredentialFileStore, MirrorRead, MIRROR_FILE_NAME};
pub use secret::Secret;
pub use store::{BoundedStore, MemoryStore, SecretStore};
pub use url::{normalize_platform_url, redact_url};
