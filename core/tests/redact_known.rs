//! Known values: secrets files, short-secret reporting, and hostile secret sets
//! and inputs that must not make redaction crawl or balloon.

use keel_core::redact::{secrets_file_entries, Redactor, SecretReport, SecretStatus};

#[test]
fn secrets_file_entries_trim_whitespace_and_bom() {
    let text =
        "\u{feff}\tone-secret-value \r\n  \r\ntwo-secret-value\r\n\n three \t\nlast-one-here";
    assert_eq!(
        secrets_file_entries(text),
        vec![
            (1, "one-secret-value"),
            (3, "two-secret-value"),
            (5, "three"),
            (6, "last-one-here"),
        ]
    );
    // A BOM only counts at the very start; inner spaces are part of the secret.
    assert_eq!(
        secrets_file_entries("a b c d e f"),
        vec![(1, "a b c d e f")]
    );
    assert!(secrets_file_entries("\u{feff}").is_empty());
    assert!(secrets_file_entries("").is_empty());
    // Every trimmed entry is masked where it appears.
    let r = Redactor::new();
    for (_, s) in secrets_file_entries(text) {
        r.add_secret(s);
    }
    assert_eq!(
        r.redact_str("x one-secret-value y two-secret-value z last-one-here"),
        "x *** y *** z ***"
    );
}

#[test]
fn short_secrets_are_reported_not_dropped_silently() {
    let r = Redactor::builder().min_secret_len(8).build().unwrap();
    assert_eq!(r.add_secret_status("1234567"), SecretStatus::TooShort);
    assert_eq!(r.add_secret_status(""), SecretStatus::TooShort);
    assert_eq!(r.add_secret_status("12345678"), SecretStatus::Added);
    assert_eq!(r.add_secret_status("12345678"), SecretStatus::Duplicate);
    assert!(!r.add_secret("short"));
    assert_eq!(r.short_secrets_ignored(), 3);
    // a multi-line value is added when one of its lines is long enough
    assert_eq!(
        r.add_secret_status("ab\nlong-enough-line"),
        SecretStatus::Added
    );
    assert_eq!(r.add_secret_status("ab\ncd"), SecretStatus::TooShort);
    let report = r.add_secrets_report(["new-secret-1", "tiny", "new-secret-1", "x", "12345678"]);
    assert_eq!(
        report,
        SecretReport {
            added: 1,
            duplicates: 2,
            too_short: 2,
            too_short_indices: vec![1, 3],
        }
    );
    assert_eq!(r.short_secrets_ignored(), 6);
    // the builder path is counted too
    let r = Redactor::builder()
        .secret("abc")
        .secret("long-builder-secret")
        .build()
        .unwrap();
    assert_eq!(r.short_secrets_ignored(), 1);
    assert_eq!(r.secret_count(), 1);
    // the report serialises without values
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(
        json,
        r#"{"added":1,"duplicates":2,"tooShort":2,"tooShortIndices":[1,3]}"#
    );
}

/// A JWT-like secret: a header every one of them shares, then a unique tail.
fn jwt(i: usize) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLXtpfSJ9.sig{i:08}x{}",
        i * 7919
    )
}

#[test]
fn secrets_sharing_a_header_are_each_masked_and_the_header_alone_is_kept() {
    let r = Redactor::builder().disable_rule("jwt").build().unwrap();
    r.add_secrets((0..2000).map(jwt));
    let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.";
    let input = format!("{}|{}|{}|{}", header.repeat(50), jwt(0), jwt(1999), header);
    let out = r.redact_str(&input);
    assert_eq!(out, format!("{}|***|***|{}", header.repeat(50), header));
    // one that shares everything but the last byte is not a registered secret
    let near = format!("{}y", &jwt(5)[..jwt(5).len() - 1]);
    assert_eq!(r.redact_str(&near), near);
}

#[test]
fn interleaving_add_secret_and_redact_masks_every_secret() {
    let r = Redactor::new();
    let mut all = String::new();
    for i in 0..600 {
        let s = format!("leased-token-{i:05}-{}", i * 31);
        r.add_secret(&s);
        all.push_str(&s);
        all.push(' ');
        // every earlier secret is still masked after each incremental add
        if i % 100 == 99 {
            let out = r.redact_str(&all);
            assert_eq!(out, "*** ".repeat(i + 1), "after {i}");
        } else {
            assert_eq!(r.redact_str(&s), "***");
        }
    }
    // short secrets (a low minimum) are added incrementally too
    let r = Redactor::builder().min_secret_len(3).build().unwrap();
    for i in 0..200 {
        r.add_secret(format!("s{i:02}"));
        assert_eq!(r.redact_str(&format!("<s{i:02}> <s00>")), "<***> <***>");
    }
}

#[test]
fn alternating_per_call_sets_are_cached_and_correct() {
    let r = Redactor::new();
    r.add_secrets((0..500).map(|i| format!("registered-{i:06}")));
    let a = ["job-a-token-123456".to_string()];
    let b = ["job-b-token-654321".to_string()];
    for k in 0..40 {
        let (mine, other) = if k % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let input = format!("{} {} registered-000042", mine[0], other[0]);
        let out = r.redact_with(&input, &mine[..]);
        assert_eq!(out, format!("*** {} ***", other[0]));
    }
    // more distinct sets than the cache holds still redact correctly
    for k in 0..30 {
        let t = [format!("rotating-token-{k:04}")];
        assert_eq!(r.redact_with(&t[0], &t[..]), "***");
    }
}

#[test]
fn json_harvest_of_a_big_blob_keeps_order_and_dedups() {
    let leaves: Vec<String> = (0..20_000).map(|i| format!("leaf-value-{i:08}")).collect();
    let mut blob = String::from("{\"a\":[");
    for (i, l) in leaves.iter().enumerate() {
        if i > 0 {
            blob.push(',');
        }
        blob.push_str(&format!("{{\"t\":\"{l}\",\"dup\":\"{}\"}}", leaves[0]));
    }
    blob.push_str("]}");
    let got = keel_core::redact::secrets_to_redact(&blob);
    assert_eq!(got.len(), 1 + leaves.len());
    assert_eq!(got[0], blob);
    assert_eq!(&got[1..], &leaves[..]);
    // deep nesting does not overflow the stack
    let deep = format!("{}\"deep-leaf-secret\"{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(keel_core::redact::secrets_to_redact(&deep).len(), 2);
}

#[test]
fn self_overlapping_secret_over_a_large_input_is_one_mask() {
    let r = Redactor::new();
    r.add_secret("abababababab");
    let input = "ab".repeat(4 << 20);
    let out = r.redact_str(&input);
    assert_eq!(out, "***");
    let mut s = r.stream();
    let mut o = Vec::new();
    for c in input.as_bytes().chunks(100_000) {
        s.write(c, &mut o);
    }
    s.finish(&mut o);
    assert_eq!(o, b"***");
}
