//! The handle registry: how an opaque `keel_<type> *` given to C maps back to a
//! Rust value, safely.
//!
//! A handle is `Arc::into_raw` of the value; the registry records which addresses
//! are live handles of its type. Because every incoming pointer is looked up before
//! it is dereferenced:
//!
//! * `_free` is NULL-safe and idempotent per pointer: a pointer that is not a live
//!   handle of this type (NULL, already freed, another type) is ignored;
//! * any other use of a dead or foreign pointer fails with `KEEL_INVALID_ARGUMENT`
//!   instead of touching freed memory;
//! * a call holds its own reference while it runs, so another thread freeing the
//!   handle at the same time (or a callback freeing it) cannot pull it away; the
//!   value is dropped when the last reference goes.
//!
//! Addresses are stored bit-inverted so that the registry itself does not look
//! like a pointer to the value: LeakSanitizer still reports a handle the caller
//! never freed.

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// The live handles of one type `T`.
pub(crate) struct Registry<T> {
    type_name: &'static str,
    live: Mutex<BTreeSet<usize>>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Send + Sync> Registry<T> {
    /// An empty registry; `type_name` (e.g. `"keel_redactor"`) is used in messages.
    pub(crate) const fn new(type_name: &'static str) -> Registry<T> {
        Registry {
            type_name,
            live: Mutex::new(BTreeSet::new()),
            _type: PhantomData,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<usize>> {
        // Only inserts and removes of plain integers happen under this lock; a
        // poisoned set is still consistent.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key(ptr: *const T) -> usize {
        !(ptr as usize)
    }

    /// Make `value` a handle.
    pub(crate) fn insert(&self, value: T) -> *mut T {
        let ptr = Arc::into_raw(Arc::new(value));
        self.lock().insert(Self::key(ptr));
        ptr.cast_mut()
    }

    /// A reference to the value behind a live handle. `name` is the argument's
    /// name for messages. NULL → `KEEL_NULL_PARAMETER`; not a live handle of this
    /// type → `KEEL_INVALID_ARGUMENT`.
    pub(crate) fn get(&self, ptr: *const T, name: &str) -> Result<Arc<T>> {
        if ptr.is_null() {
            return Err(Error::null(name));
        }
        let live = self.lock();
        if !live.contains(&Self::key(ptr)) {
            return Err(Error::invalid_argument(format!(
                "{name} is not a live {} (already freed, or another type)",
                self.type_name
            )));
        }
        // SAFETY: the registry holds a strong reference for every live key, made by
        // `Arc::into_raw` in `insert`, and it cannot be released while we hold the lock.
        unsafe {
            Arc::increment_strong_count(ptr);
            Ok(Arc::from_raw(ptr))
        }
    }

    /// Release a handle. NULL and pointers that are not live handles of this type
    /// are ignored. The value is dropped here unless a call in progress still uses
    /// it, in which case it is dropped when that call returns.
    pub(crate) fn remove(&self, ptr: *const T) {
        if ptr.is_null() {
            return;
        }
        let was_live = self.lock().remove(&Self::key(ptr));
        if was_live {
            // SAFETY: the key was live, so this is the reference `insert` leaked; the
            // lock is released before dropping, so a destructor may call into keel.
            drop(unsafe { Arc::from_raw(ptr) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static REG: Registry<String> = Registry::new("test_string");

    #[test]
    fn lifecycle() {
        let p = REG.insert("hello".to_string());
        assert_eq!(&*REG.get(p, "p").unwrap(), "hello");
        let held = REG.get(p, "p").unwrap();
        REG.remove(p);
        REG.remove(p); // idempotent
        assert_eq!(&*held, "hello"); // still alive for the call in progress
        let err = REG.get(p, "p").unwrap_err();
        assert!(
            err.message.contains("not a live test_string"),
            "{}",
            err.message
        );
        assert!(REG
            .get(std::ptr::null(), "p")
            .unwrap_err()
            .message
            .contains("p is NULL"));
        REG.remove(std::ptr::null_mut());
    }
}
