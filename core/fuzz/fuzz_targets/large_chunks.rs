//! Large inputs written in big chunks (the stream's in-place path, 64 KiB blocks
//! and their seams) against one-shot redaction: outputs must be identical.
//!
//! The fuzz input is a header (secret length, repeat count, chunk size) and a body
//! that is repeated into an input of up to ~1 MiB, so secrets, prefixes and shapes
//! land on every block boundary.
#![no_main]

use keel_core::redact::Redactor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let secret_len = data[0] as usize % 48;
    let repeat = 1 + (data[1] as usize) * 16;
    let chunk = 4096 + (u16::from_le_bytes([data[2], data[3]]) as usize) * 4;
    let body = &data[4..];
    if body.is_empty() {
        return;
    }
    let mut input = Vec::with_capacity(body.len() * repeat);
    while input.len() < 1 << 20 && input.len() < body.len() * repeat {
        input.extend_from_slice(body);
    }
    let r = Redactor::new();
    if secret_len >= 6 && secret_len <= body.len() {
        r.add_secret(&body[..secret_len]);
    }
    let one_shot = r.redact_bytes(&input).into_owned();
    let mut s = r.stream();
    let mut out = Vec::new();
    for (i, c) in input.chunks(chunk).enumerate() {
        s.write(c, &mut out);
        if i % 5 == 4 {
            s.flush(&mut out);
        }
    }
    s.finish(&mut out);
    assert!(out == one_shot, "stream differs from one-shot");
});
