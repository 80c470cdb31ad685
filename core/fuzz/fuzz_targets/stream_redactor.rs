//! The stream redactor against the one-shot redactor on arbitrary bytes and
//! arbitrary chunkings: outputs must be identical, redaction idempotent, no panic.
//!
//! Run: `cargo fuzz run stream_redactor` (nightly + cargo-fuzz); CI only builds it.
#![no_main]

use keel_core::redact::Redactor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // First byte: how many bytes of the input form a known secret; second: chunk size seed.
    let secret_len = (data[0] as usize % 24).min(data.len() - 2);
    let step = 1 + data[1] as usize % 17;
    let body = &data[2..];
    let r = Redactor::new();
    if secret_len >= 6 {
        r.add_secret(&body[..secret_len]);
    }
    let one_shot = r.redact_bytes(body).into_owned();
    let mut s = r.stream();
    let mut out = Vec::new();
    for (i, chunk) in body.chunks(step).enumerate() {
        s.write(chunk, &mut out);
        if i % 3 == 2 {
            s.flush(&mut out);
        }
    }
    s.finish(&mut out);
    assert_eq!(out, one_shot, "stream differs from one-shot");
    // The documented exception: a secret holding the mask text itself, or one that
    // is mask characters around a core too short to register on its own.
    let secret = &body[..secret_len];
    let core_len = secret
        .iter()
        .rposition(|&b| b != b'*')
        .map_or(0, |e| e + 1)
        .saturating_sub(secret.iter().position(|&b| b != b'*').unwrap_or(secret.len()));
    let exception = secret_len >= 6
        && (secret.windows(3).any(|w| w == b"***") || (secret.contains(&b'*') && core_len < 4));
    if !exception {
        assert_eq!(r.redact_bytes(&one_shot).into_owned(), one_shot, "not idempotent");
    }
});
