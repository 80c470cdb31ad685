//! Custom rules: the stream must mask exactly what one-shot redaction masks for
//! every chunking, including matches longer than `max_len` and anchored patterns.
#![no_main]

use keel_core::redact::Redactor;
use libfuzzer_sys::fuzz_target;

const PATTERNS: &[&str] = &[
    "a+b",
    "ab*$",
    "^b[ab]*",
    "(?m)^a[ab]*$",
    r"\bab+\b",
    "ba|a[ab]{0,9}",
    "(?m)b$",
    "[ab]{3,}",
    "TICKET-[0-9]+",
    r"(?i)key=\S+",
    r"x[^\n]*y",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let pattern = PATTERNS[data[0] as usize % PATTERNS.len()];
    let max_len = 1 + data[1] as usize % 40;
    let step = 1 + data[2] as usize % 23;
    let body = &data[3..];
    let r = Redactor::builder()
        .custom_rule_with_max_len("fuzz", pattern, max_len)
        .build()
        .expect("valid rule");
    let one_shot = r.redact_bytes(body).into_owned();
    let mut s = r.stream();
    let mut out = Vec::new();
    for (i, c) in body.chunks(step).enumerate() {
        s.write(c, &mut out);
        if i % 4 == 3 {
            s.flush(&mut out);
        }
    }
    s.finish(&mut out);
    assert!(out == one_shot, "stream differs from one-shot");
});
