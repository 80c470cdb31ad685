//! The handle registry: how an opaque `keel_<type> *` given to C maps back to a
//! Rust value, safely.
//!
//! An opaque handle is **not an address**: it is a token drawn from one
//! process-wide counter that only ever goes up, so no two handles of any type are
//! ever equal — not even after the allocator reuses the memory of a freed value.
//! The registry maps each live token to its value (an `Arc`). Because every
//! incoming pointer is looked up before anything is touched:
//!
//! * `_free` is NULL-safe and idempotent per pointer: a pointer that is not a live
//!   handle of this type (NULL, already freed, another type) is ignored — and a
//!   freed handle's token is never handed out again, so a late second `_free`
//!   cannot release a newer object;
//! * any other use of a dead or foreign pointer fails with `KEEL_INVALID_ARGUMENT`
//!   instead of touching freed memory — or, worse, a newer object that happens to
//!   live at the same address (a stale `keel_job_ctx` kept by a helper thread can
//!   never report into another job);
//! * a call holds its own reference while it runs, so another thread freeing the
//!   handle at the same time (or a callback freeing it) cannot pull it away; the
//!   value is dropped when the last reference goes.
//!
//! The one exception is `keel_string`, whose fields C reads: its handle must be the
//! real address of the struct ([`Registry::by_address`]). Its registry still refuses
//! freed pointers, but once the allocator has put a newer string at the same
//! address the old pointer names that newer string (see `keel_string_free`).
//!
//! Tokens: 64-bit counters never wrap in practice (2^60 handles). On a 32-bit
//! target the counter has 2^28 values; after that many handles `insert` refuses
//! to hand out a token that could repeat (it panics inside the caller's panic
//! boundary, `KEEL_PANIC`).
//!
//! Keys and values are stored bit-inverted so that the registry itself does not
//! look like a pointer to the value: LeakSanitizer still reports a handle the
//! caller never freed.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// The next token, shared by every registry so that tokens are unique across types.
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);

/// Low bits left clear, so a token looks like an aligned pointer to tools that
/// print handles (and `0` is never one).
const TOKEN_SHIFT: u32 = 4;

fn next_token() -> usize {
    let n = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    assert!(
        n < (usize::MAX >> TOKEN_SHIFT),
        "keel ran out of unique handle values"
    );
    n << TOKEN_SHIFT
}

/// The live handles of one type `T`.
pub(crate) struct Registry<T> {
    type_name: &'static str,
    by_address: bool,
    /// `!handle` → `!Arc::into_raw(value)`.
    live: Mutex<BTreeMap<usize, usize>>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Send + Sync> Registry<T> {
    /// An empty registry of opaque (token) handles; `type_name` (e.g.
    /// `"keel_redactor"`) is used in messages.
    pub(crate) const fn new(type_name: &'static str) -> Registry<T> {
        Registry {
            type_name,
            by_address: false,
            live: Mutex::new(BTreeMap::new()),
            _type: PhantomData,
        }
    }

    /// An empty registry whose handles are the values' real addresses, for structs
    /// whose fields C reads (`keel_string`). Freed pointers are still refused, but an
    /// address may be reused by a newer value.
    pub(crate) const fn by_address(type_name: &'static str) -> Registry<T> {
        Registry {
            type_name,
            by_address: true,
            live: Mutex::new(BTreeMap::new()),
            _type: PhantomData,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<usize, usize>> {
        // Only inserts and removes of plain integers happen under this lock; a
        // poisoned map is still consistent.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make `value` a handle.
    pub(crate) fn insert(&self, value: T) -> *mut T {
        // The token first: if the counter is exhausted this panics before anything
        // is allocated.
        let token = (!self.by_address).then(next_token);
        let ptr = Arc::into_raw(Arc::new(value));
        let handle = token.unwrap_or(ptr as usize);
        self.lock().insert(!handle, !(ptr as usize));
        handle as *mut T
    }

    /// A reference to the value behind a live handle. `name` is the argument's
    /// name for messages. NULL → `KEEL_NULL_PARAMETER`; not a live handle of this
    /// type → `KEEL_INVALID_ARGUMENT`.
    pub(crate) fn get(&self, handle: *const T, name: &str) -> Result<Arc<T>> {
        if handle.is_null() {
            return Err(Error::null(name));
        }
        let live = self.lock();
        let Some(&inverted) = live.get(&!(handle as usize)) else {
            return Err(Error::invalid_argument(format!(
                "{name} is not a live {} (already freed, never made by keel, or another type)",
                self.type_name
            )));
        };
        let ptr = (!inverted) as *const T;
        // SAFETY: the registry holds a strong reference for every live handle, made
        // by `Arc::into_raw` in `insert`, and it cannot be released while we hold the
        // lock.
        unsafe {
            Arc::increment_strong_count(ptr);
            Ok(Arc::from_raw(ptr))
        }
    }

    /// Release a handle. NULL and pointers that are not live handles of this type
    /// are ignored. The value is dropped here unless a call in progress still uses
    /// it, in which case it is dropped when that call returns.
    pub(crate) fn remove(&self, handle: *const T) {
        if handle.is_null() {
            return;
        }
        let removed = self.lock().remove(&!(handle as usize));
        if let Some(inverted) = removed {
            // SAFETY: the handle was live, so this is the reference `insert` leaked;
            // the lock is released before dropping, so a destructor may call into keel.
            drop(unsafe { Arc::from_raw((!inverted) as *const T) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static REG: Registry<String> = Registry::new("test_string");
    static OTHER: Registry<String> = Registry::new("other_string");

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

    #[test]
    fn handles_are_never_reused_even_when_memory_is() {
        let mut seen = std::collections::HashSet::new();
        let first = REG.insert("first".to_string());
        REG.remove(first);
        for _ in 0..1000 {
            let p = REG.insert("x".to_string());
            assert!(seen.insert(p as usize), "handle value repeated");
            assert_ne!(p, first);
            REG.remove(p);
        }
        // The first handle stays dead, whatever now lives at its old address.
        let now = REG.insert("now".to_string());
        assert!(REG.get(first, "p").is_err());
        REG.remove(first);
        assert_eq!(&*REG.get(now, "p").unwrap(), "now");
        // A handle of one registry is not a handle of another.
        assert!(OTHER.get(now, "p").is_err());
        OTHER.remove(now);
        assert_eq!(&*REG.get(now, "p").unwrap(), "now");
        REG.remove(now);
    }
}
