//! keel's Linux kernel keyring credential: the *user* keyring, readable by every
//! process of the user whatever its session keyring.
//!
//! It plugs into the `keyring` crate as a `CredentialApi`, so all backends go through
//! `keyring::Entry`. See the module docs of `credentials` for why the user keyring.

use keyring::credential::CredentialApi;
use keyring::Error as KrError;
use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};

/// A key named `description` in the calling user's keyring.
#[derive(Debug, Clone)]
pub(crate) struct UserKeyringCredential {
    description: String,
}

impl UserKeyringCredential {
    /// The description follows the `keyring` crate's convention
    /// (`keyring-rs:<user>@<service>`), so tools that know it find the keys.
    pub(crate) fn new(service: &str, key: &str) -> Self {
        UserKeyringCredential {
            description: format!("keyring-rs:{key}@{service}"),
        }
    }

    /// The user keyring, made "possessed" by this thread.
    ///
    /// Possession decides what the possessor permission bits allow. A process whose
    /// session keyring is private (systemd services, `keyctl session`) does not
    /// possess the user keyring; linking it into the calling thread's own thread
    /// keyring makes it possessed for this thread only. keel runs every keyring call
    /// on a short-lived helper thread, so the thread keyring dies with it.
    ///
    /// Without it, setting the permissions of a newly added key fails with EACCES in
    /// a private session (tested). Only writing needs this; reads and
    /// deletes rely on the user permissions keel grants, so they skip the extra
    /// thread keyring.
    fn user_keyring(possess: bool) -> Result<KeyRing, KeyError> {
        if possess {
            if let Ok(thread) = KeyRing::from_special_id(KeyRingIdentifier::Thread, true) {
                let _ = thread.link_keyring_id(KeyRingIdentifier::User);
            }
        }
        KeyRing::from_special_id(KeyRingIdentifier::User, true)
    }
}

fn decode(err: KeyError) -> KrError {
    match err {
        // An invalidated or expired key may be reported either way for a moment.
        KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired => KrError::NoEntry,
        KeyError::AccessDenied => KrError::NoStorageAccess(Box::new(err)),
        KeyError::QuotaExceeded => KrError::PlatformFailure(Box::new(err)),
        other => KrError::PlatformFailure(Box::new(other)),
    }
}

impl CredentialApi for UserKeyringCredential {
    fn set_secret(&self, secret: &[u8]) -> keyring::Result<()> {
        if secret.is_empty() {
            return Err(KrError::Invalid(
                "secret".into(),
                "the kernel keyring cannot hold an empty value".into(),
            ));
        }
        let ring = Self::user_keyring(true).map_err(decode)?;
        // add_key updates the payload of an existing key with this description.
        let key = ring.add_key(&self.description, secret).map_err(decode)?;
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::ALL)
            .build();
        if let Err(e) = key.set_perms(perms) {
            // A key only this thread could read is useless to a daemon: undo.
            let _ = key.invalidate();
            return Err(decode(e));
        }
        Ok(())
    }

    fn get_secret(&self) -> keyring::Result<Vec<u8>> {
        let ring = Self::user_keyring(false).map_err(decode)?;
        let key = ring.search(&self.description).map_err(decode)?;
        key.read_to_vec().map_err(decode)
    }

    fn delete_credential(&self) -> keyring::Result<()> {
        let ring = Self::user_keyring(false).map_err(decode)?;
        let key = ring.search(&self.description).map_err(decode)?;
        key.invalidate().map_err(decode)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
