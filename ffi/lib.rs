//! keel's C ABI: `libkeel.a` / `libkeel.so` with `include/keel.h`.
//!
//! This crate is a thin surface over `keel-core`: argument conversion, error
//! mapping and handle lifetime, nothing else. The conventions below hold for every
//! function and are repeated in the generated header.
//!
//! * Every fallible function returns [`keel_result`] (`KEEL_OK` = 0). Outputs are
//!   out-parameters, last, written only on success. On failure
//!   [`keel_last_error_message`] describes what went wrong (redacted).
//! * Strings in are UTF-8 `(const char *ptr, size_t len)` pairs, validated; `ptr`
//!   may be NULL only when `len` is 0. Bytes in are `(const uint8_t *ptr, size_t len)`.
//! * Strings out are owned [`string::keel_string`]s released with
//!   [`string::keel_string_free`].
//! * Handles are opaque, made by `keel_<type>_new` and released by
//!   `keel_<type>_free`. A handle is a unique value, not an address: keel never
//!   hands out the same handle twice, so a freed (stale) handle is refused with
//!   `KEEL_INVALID_ARGUMENT` forever — even after the memory behind it was reused
//!   — and every `_free` accepts NULL and ignores a pointer that is not (or no
//!   longer) a live handle of its type, so freeing a handle twice is harmless.
//!   `keel_string` is the exception: it is a real struct address, so free each
//!   string exactly once (see [`string::keel_string_free`]).
//! * Callbacks may call back into keel. A call that would wait for the very call
//!   that is running the callback fails with `KEEL_INVALID_ARGUMENT` instead of
//!   deadlocking; each callback's documentation lists what it may do.
//! * A call that succeeds leaves the calling thread's last error message empty,
//!   even when a callback it ran made a keel call that failed.
//! * Every body runs inside a panic boundary (`KEEL_PANIC`), every pointer is
//!   NULL-checked (`KEEL_NULL_PARAMETER`).
//!
//! Shared helpers live in [`error`] (the error model and the panic boundary),
//! `args` (pointer and UTF-8 validation), `json` (JSON options with errors that
//! name the field), `handle` (the handle registry) and [`string`]; each capability
//! has one file (`redact.rs`).
#![deny(missing_docs)]
#![allow(non_camel_case_types)]

mod args;
pub mod credentials;
pub mod error;
pub mod exit_cause;
mod handle;
pub mod jobs;
mod json;
pub mod redact;
pub mod services;
pub mod string;
pub mod supervisor;
pub mod turns;

use std::ffi::c_char;

pub use error::{keel_last_error_message, keel_result, keel_result_name};
pub use string::{keel_string, keel_string_free};

/// The version of the keel library, e.g. `"0.1.0"`: a static NUL-terminated string
/// that must not be freed. Never fails and never touches the last error message.
#[no_mangle]
pub extern "C" fn keel_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
