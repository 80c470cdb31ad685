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
