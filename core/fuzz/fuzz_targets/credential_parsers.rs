//! Parsers of untrusted credential input: the mirror file, enrollment records and
//! JWT payloads must never panic on any bytes.
#![no_main]

use keel_core::credentials::{jwt, CredentialFileStore, EnrollmentRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = CredentialFileStore::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = EnrollmentRecord::from_json(text);
        let _ = jwt::payload(text);
    }
});
