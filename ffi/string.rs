//! Owned output strings: [`keel_string`].

use std::ffi::c_char;

use crate::error::quiet_boundary;
use crate::handle::Registry;

/// An owned string or byte buffer returned by keel. Read `data` and `len`; release
/// it with `keel_string_free`. Do not modify it.
///
/// `data[len]` is always a NUL byte, so `data` can be used as a C string when the
/// content has no NUL bytes of its own; `len` is authoritative (it does not count
/// the terminator). The content is UTF-8 unless the function that returned it
/// says otherwise (redaction output mirrors its input bytes).
#[repr(C)]
pub struct keel_string {
    /// The bytes, followed by a NUL terminator. Never NULL.
    pub data: *const c_char,
    /// Number of bytes, not counting the terminator.
    pub len: usize,
}

/// The allocation behind a `keel_string *`: the public view first (so the pointer
/// C holds is the address of this struct) and the buffer `data` points into, which
/// is what is freed — whatever the caller did to the public fields.
#[repr(C)]
pub(crate) struct OwnedString {
    view: keel_string,
    buf: Box<[u8]>,
}

impl Drop for OwnedString {
    /// A string may hold a secret (an enrollment JWT): wipe it before the memory
    /// goes back to the allocator.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.buf);
    }
}

// SAFETY: `view.data` points into `buf`, which is never mutated after construction
// (only wiped in `drop`, when no `keel_string` pointer to it is live any more).
unsafe impl Send for OwnedString {}
// SAFETY: as above; shared access is read-only.
unsafe impl Sync for OwnedString {}

/// By address: C reads the struct's fields, so the handle is the struct itself.
static STRINGS: Registry<OwnedString> = Registry::by_address("keel_string");

/// Make a `keel_string` holding `bytes` (a NUL terminator is added).
pub(crate) fn new_string(mut bytes: Vec<u8>) -> *mut keel_string {
    let len = bytes.len();
    bytes.push(0);
    let buf = bytes.into_boxed_slice();
    let owned = OwnedString {
        view: keel_string {
            data: buf.as_ptr().cast(),
            len,
        },
        buf,
    };
    STRINGS.insert(owned).cast()
}

/// Release a string returned by keel. Its bytes are zeroed first (a string may
/// hold a secret such as an enrollment JWT). NULL is fine. Never fails.
///
/// Free each string exactly once. A pointer that is not a live keel string is
/// ignored — so a second free right after the first is harmless — but unlike the
/// opaque handles, a `keel_string *` is a real address: once keel has returned
/// another string, the allocator may have placed it at the freed address, and a
/// late second free of the old pointer then releases that newer string. Set your
/// pointer to NULL after freeing it.
#[no_mangle]
pub extern "C" fn keel_string_free(s: *mut keel_string) {
    quiet_boundary(|| STRINGS.remove(s.cast::<OwnedString>()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_terminated_and_freed_once() {
        let s = new_string(b"a\0b".to_vec());
        // SAFETY: `s` is a live keel_string.
        unsafe {
            assert_eq!((*s).len, 3);
            assert_eq!(
                std::slice::from_raw_parts((*s).data.cast::<u8>(), 4),
                b"a\0b\0"
            );
        }
        keel_string_free(s);
        keel_string_free(s);
        keel_string_free(std::ptr::null_mut());
    }
}
