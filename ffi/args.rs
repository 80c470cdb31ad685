//! Argument conversion shared by every capability: NULL checks, `(ptr, len)`
//! strings and byte slices, and out-parameters written only on success.

use std::ffi::c_char;
use std::ptr::NonNull;

use crate::error::{keel_result, Error, Result};

/// A NULL-checked out-parameter. Check every out-parameter before doing any work,
/// and [`write`](Out::write) only once the call has succeeded.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// `KEEL_NULL_PARAMETER` naming `name` when `ptr` is NULL.
    pub(crate) fn new(ptr: *mut T, name: &str) -> Result<Out<T>> {
        NonNull::new(ptr).map(Out).ok_or_else(|| Error::null(name))
    }

    /// An optional out-parameter: `None` when the caller passed NULL.
    pub(crate) fn optional(ptr: *mut T) -> Option<Out<T>> {
        NonNull::new(ptr).map(Out)
    }

    /// Store the output.
    ///
    /// # Safety
    /// The pointer the caller passed must be valid for a write of `T`.
    pub(crate) unsafe fn write(self, value: T) {
        self.0.as_ptr().write(value)
    }
}

/// Borrow `(ptr, len)` as bytes. `ptr` may be NULL only when `len` is 0.
///
/// # Safety
/// When non-NULL, `ptr` must point to `len` readable bytes that stay unchanged for
/// the duration of the call.
pub(crate) unsafe fn bytes_in<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::new(
                keel_result::KEEL_NULL_PARAMETER,
                format!("{name} is NULL but its length is {len}"),
            ))
        };
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid_argument(format!(
            "{name} length {len} is too large"
        )));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// Borrow `(ptr, len)` as UTF-8 text. `ptr` may be NULL only when `len` is 0. The
/// error names the offset of the first invalid byte, never the text.
///
/// # Safety
/// As for [`bytes_in`].
pub(crate) unsafe fn str_in<'a>(ptr: *const c_char, len: usize, name: &str) -> Result<&'a str> {
    let bytes = bytes_in(ptr.cast(), len, name)?;
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(
            keel_result::KEEL_INVALID_UTF8,
            format!(
                "{name} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}
