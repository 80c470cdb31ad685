//! The `SecretStore` trait, the in-memory store and the timeout wrapper.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::{CredentialError, Secret};

/// A store of named secrets (the OS keyring, memory, or your own).
///
/// Implementations must be safe to call from several threads. `get` returns
/// `Ok(None)` for a missing name; `delete` returns whether the name existed. Errors are
/// failures of the store itself, never "absent".
pub trait SecretStore: Send + Sync {
    /// A short name for diagnostics and errors, for example `"keyutils"` or `"memory"`.
    fn backend_name(&self) -> &'static str;

    /// The secret stored under `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<Secret>, CredentialError>;

    /// Store `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: &Secret) -> Result<(), CredentialError>;

    /// Remove `key`. Returns whether it existed.
    fn delete(&self, key: &str) -> Result<bool, CredentialError>;
}

impl<S: SecretStore + ?Sized> SecretStore for Arc<S> {
    fn backend_name(&self) -> &'static str {
        (**self).backend_name()
    }
    fn get(&self, key: &str) -> Result<Option<Secret>, CredentialError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &Secret) -> Result<(), CredentialError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<bool, CredentialError> {
        (**self).delete(key)
    }
}

/// An in-memory [`SecretStore`], for tests and for hosts that want no keyring. Its
/// contents live as long as the value (clones share them).
///
/// ```
/// use keel_core::credentials::{MemoryStore, SecretStore, Secret};
/// let store = MemoryStore::new();
/// store.set("token", &Secret::new("s3cr3t")).unwrap();
/// assert_eq!(store.get("token").unwrap().unwrap().expose(), "s3cr3t");
/// assert!(store.delete("token").unwrap());
/// assert!(store.get("token").unwrap().is_none());
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    map: Arc<Mutex<HashMap<String, Secret>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored names, sorted (for tests and diagnostics).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Secret>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.keys())
            .finish()
    }
}

impl SecretStore for MemoryStore {
    fn backend_name(&self) -> &'static str {
        "memory"
    }
    fn get(&self, key: &str) -> Result<Option<Secret>, CredentialError> {
        Ok(self.lock().get(key).cloned())
    }
    fn set(&self, key: &str, value: &Secret) -> Result<(), CredentialError> {
        self.lock().insert(key.to_owned(), value.clone());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool, CredentialError> {
        Ok(self.lock().remove(key).is_some())
    }
}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const ABANDONED: u8 = 2;

/// Wraps a [`SecretStore`] so that every call runs on a helper thread and returns
/// [`CredentialError::KeyringTimeout`] when it takes longer than the timeout.
///
/// Keyring calls are known to hang (a locked keychain waiting for a prompt nobody
/// sees, a D-Bus service that never answers). A call that times out keeps running
/// on its helper thread, which cannot be killed; while such a call is still stuck,
/// further calls fail at once with a timeout instead of piling up more stuck threads.
///
/// ```
/// use keel_core::credentials::{BoundedStore, MemoryStore, SecretStore, Secret};
/// use std::time::Duration;
/// let store = BoundedStore::new(MemoryStore::new(), Duration::from_secs(2));
/// store.set("k", &Secret::new("v")).unwrap();
/// assert!(store.get("k").unwrap().is_some());
/// ```
pub struct BoundedStore<S> {
    inner: Arc<S>,
    timeout: Duration,
    stuck: Arc<AtomicUsize>,
}

impl<S> std::fmt::Debug for BoundedStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedStore")
            .field("timeout", &self.timeout)
            .field("stuck_calls", &self.stuck.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<S: SecretStore + 'static> BoundedStore<S> {
    /// Bound every call of `inner` by `timeout`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        BoundedStore {
            inner: Arc::new(inner),
            timeout,
            stuck: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many earlier calls timed out and are still running.
    pub fn stuck_calls(&self) -> usize {
        self.stuck.load(Ordering::SeqCst)
    }

    fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        key: &str,
        f: impl FnOnce(&S) -> Result<T, CredentialError> + Send + 'static,
    ) -> Result<T, CredentialError> {
        let backend = self.inner.backend_name();
        let timeout_ms = self.timeout.as_millis() as u64;
        if self.stuck.load(Ordering::SeqCst) > 0 {
            tracing::warn!(
                target: "keel::credentials",
                backend, op, key,
                "an earlier keyring call is still hung; failing this call at once"
            );
            return Err(CredentialError::KeyringTimeout {
                backend,
                op,
                key: key.to_owned(),
                timeout_ms,
            });
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let state = Arc::new(AtomicU8::new(RUNNING));
        let inner = Arc::clone(&self.inner);
        let stuck = Arc::clone(&self.stuck);
        let thread_state = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("keel-keyring".into())
            .spawn(move || {
                let result = f(&inner);
                if thread_state
                    .compare_exchange(RUNNING, DONE, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    // The caller gave up on this call; it is no longer stuck.
                    stuck.fetch_sub(1, Ordering::SeqCst);
                }
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return Err(CredentialError::KeyringUnavailable {
                backend,
                detail: format!("cannot start a helper thread: {e}"),
            });
        }
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if state
                    .compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    self.stuck.fetch_add(1, Ordering::SeqCst);
                    tracing::warn!(
                        target: "keel::credentials",
                        backend, op, key, timeout_ms,
                        "keyring call timed out"
                    );
                    Err(CredentialError::KeyringTimeout {
                        backend,
                        op,
                        key: key.to_owned(),
                        timeout_ms,
                    })
                } else {
                    // Finished just at the deadline: take its answer.
                    rx.recv().unwrap_or_else(|_| {
                        Err(CredentialError::KeyringUnavailable {
                            backend,
                            detail: "helper thread ended without an answer".into(),
                        })
                    })
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(CredentialError::KeyringUnavailable {
                backend,
                detail: "the keyring call panicked".into(),
            }),
        }
    }
}

impl<S: SecretStore + 'static> SecretStore for BoundedStore<S> {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, CredentialError> {
        let k = key.to_owned();
        self.run("get", key, move |s| s.get(&k))
    }

    fn set(&self, key: &str, value: &Secret) -> Result<(), CredentialError> {
        let k = key.to_owned();
        let v = value.clone();
        self.run("set", key, move |s| s.set(&k, &v))
    }

    fn delete(&self, key: &str) -> Result<bool, CredentialError> {
        let k = key.to_owned();
        self.run("delete", key, move |s| s.delete(&k))
    }
}
