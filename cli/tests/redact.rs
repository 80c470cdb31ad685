//! `keel redact` end to end: the real binary, real pipes.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

fn demo(name: &str) -> String {
    format!("{}/demo/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(KEEL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keel");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn masks_every_planted_secret_in_the_demo_log() {
    let log = std::fs::read(demo("agent-run.log")).unwrap();
    let (code, out, err) = run(&["redact", "--secrets-file", &demo("secrets.txt")], &log);
    assert_eq!(code, 0, "{err}");
    for planted in [
        "sk-ant-api03-Zk9xQ2mN7pL4vR8tY1wE6uI3oP0aS5dF",
        "ghp_R7mK2pX9vL4qT8nW1yZ6bC3dF5hJ0sA2uE4i",
        "Z7Q2M4N6P8R0T2V4",
        "q8Vn2Lm5Xz7Kp1Rt4Ws9Yb3Hc6Jd0Fg2Ae5Ui8Oy",
        "ghs_9Kq2Lm4Np6Rt8Vx0Zb1Cd3Fh5Jk7Mn9Pq",
        "npm_Xy7Zq2Wm4Kp9Lr1Ts6Vn3Bc8Hd5Jf0Ga2Qe",
        "hunter2-Tr0ub4dor",
        "pg-Sup3r-S3cret",
        "lease-7f3a9c2e-41d8-4b7a-9e11-c0ffee123456",
        "bGVhc2UtN2YzYTljMmUtNDFkOC00YjdhLTllMTEtYzBmZmVlMTIzNDU2",
        "YWRtaW46Y29ycmVjdC1ob3JzZQ",
        "eyJzdWIiOiJhZ2VudC04ODEyIiwiZXhwIjoxOTAwMDAwMDAwfQ",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    ] {
        assert!(!out.contains(planted), "{planted} leaked:\n{out}");
    }
    for kept in [
        "max_tokens=4096",
        "cache_key: linux-x64-node20-deps",
        "primary_key = id",
        "keyboard_layout=us",
        "password_min_length = 12",
        "\"token_type\":\"bearer\"",
        "https://***@github.com/acme/app.git",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n***\n-----END OPENSSH PRIVATE KEY-----",
    ] {
        assert!(out.contains(kept), "{kept} missing:\n{out}");
    }
    // every log line is still there (the two key-body lines became one mask)
    assert_eq!(
        out.lines().count() + 1,
        String::from_utf8(log).unwrap().lines().count()
    );
}

#[test]
fn secrets_from_flags_json_files_and_custom_rules() {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("auth.json");
    std::fs::write(
        &blob,
        r#"{"tokens":{"refresh_token":"rt-0123456789abcdef"},"mode":"chatgpt"}"#,
    )
    .unwrap();
    let (code, out, _) = run(
        &[
            "redact",
            "--secret",
            "flag-secret-1",
            "--json-secret",
            blob.to_str().unwrap(),
            "--rule",
            "ticket=TICKET-[0-9]{4}",
            "--mask",
            "[X]",
        ],
        b"a flag-secret-1 b rt-0123456789abcdef c TICKET-1234 mode chatgpt\n",
    );
    assert_eq!(code, 0);
    assert_eq!(out, "a [X] b [X] c [X] mode chatgpt\n");
}

#[test]
fn no_rule_disables_a_rule() {
    let input = b"ghp_abcdefghijklmnopqrstuvwxyz\n";
    let (_, out, _) = run(&["redact"], input);
    assert_eq!(out, "ghp_***\n");
    let (code, out, _) = run(&["redact", "--no-rule", "github-token"], input);
    assert_eq!(code, 0);
    assert_eq!(out.as_bytes(), input);
}

#[test]
fn list_rules_human_and_json() {
    let (code, out, _) = run(&["redact", "--list-rules"], b"");
    assert_eq!(code, 0);
    assert!(out.contains("github-token"));
    assert!(out.contains("credential-assignment"));
    let (code, out, _) = run(
        &["redact", "--list-rules", "--json", "--no-rule", "jwt"],
        b"",
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let jwt = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "jwt")
        .unwrap();
    assert_eq!(jwt["enabled"], false);
}

#[test]
fn errors_and_usage() {
    let (code, _, err) = run(&["redact", "--no-rule", "nope"], b"");
    assert_eq!(code, 1);
    assert!(err.contains("unknown redaction rule \"nope\""), "{err}");
    let (code, _, err) = run(&["redact", "--secrets-file", "/nonexistent/secrets"], b"");
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/secrets"), "{err}");
    let (code, _, err) = run(&["redact", "--rule", "bad"], b"");
    assert_eq!(code, 1);
    assert!(err.contains("NAME=REGEX"), "{err}");
    let (code, _, _) = run(&["redact", "--bogus"], b"");
    assert_eq!(code, 2);
    let (code, _, _) = run(&["nonsense"], b"");
    assert_eq!(code, 2);
}

#[test]
fn invalid_utf8_and_binary_pass_through() {
    let mut input = vec![0xff, 0xfe, 0x00, b'\n'];
    input.extend_from_slice(b"PASSWORD=hunter2 \xc3\x28\n");
    let (code, out, _) = run(&["redact"], &input);
    assert_eq!(code, 0);
    let _ = out;
    let out = Command::new(KEEL)
        .arg("redact")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&input)?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.stdout, b"\xff\xfe\x00\nPASSWORD=*** \xc3\x28\n");
}

#[test]
fn interactive_output_is_flushed_without_waiting_for_eof() {
    let mut child = Command::new(KEEL)
        .args([
            "redact",
            "--flush-ms",
            "50",
            "--secret",
            "interactive-secret",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin.write_all(b"prompt> interactive-secr").unwrap();
    stdin.flush().unwrap();
    // everything up to the possible secret start arrives while stdin is still open
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < b"prompt> ".len() {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "output closed early");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"prompt> ");
    stdin.write_all(b"et done\n").unwrap();
    drop(stdin);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"*** done\n");
    assert!(child.wait().unwrap().success());
}

/// A gigabyte through the filter with flat memory: the peak RSS of the child stays
/// far below the input size.
#[test]
fn a_gigabyte_streams_in_flat_memory() {
    let mut child = Command::new(KEEL)
        .args([
            "redact",
            "--secret",
            "needle-secret-value",
            "--flush-ms",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let (mut total, mut masks) = (0usize, 0usize);
        let mut carry = Vec::new();
        loop {
            let n = stdout.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            carry.extend_from_slice(&buf[..n]);
            masks += carry.windows(3).filter(|w| w == b"***").count();
            assert!(!carry.windows(19).any(|w| w == b"needle-secret-value"));
            let keep = carry.len().saturating_sub(2);
            carry.drain(..keep);
        }
        (total, masks)
    });
    let mut block = Vec::with_capacity(1 << 20);
    while block.len() < (1 << 20) - 200 {
        block.extend_from_slice(
            b"2026-11-22T09:14:02Z INFO worker: step=42 status=ok bytes=1024 msg=\"fine\"\n",
        );
    }
    block.extend_from_slice(b"leak? needle-secret-value\n");
    const MIB: usize = 1024;
    let mut peak_kib = 0u64;
    for i in 0..MIB {
        stdin.write_all(&block).unwrap();
        if i % 64 == 0 {
            peak_kib = peak_kib.max(vm_hwm_kib(pid));
        }
    }
    drop(stdin);
    let (total, masks) = reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(masks, MIB, "one mask per block");
    assert!(total > 1000 * (1 << 20));
    assert!(
        peak_kib > 0 && peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB"
    );
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn secrets_file_lines_are_trimmed_and_short_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.txt");
    // BOM, trailing spaces, a leading tab, CRLF, a blank line and a too-short line.
    std::fs::write(
        &file,
        "\u{feff}first-secret-1  \r\n\tsecond-secret-2\r\n\n  ~#~ \nthird-secret-3\t\n",
    )
    .unwrap();
    let (code, out, err) = run(
        &["redact", "--secrets-file", file.to_str().unwrap()],
        b"a first-secret-1 b second-secret-2 c third-secret-3 d ~#~\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "a *** b *** c *** d ~#~\n");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("warning"), "{err}");
    assert!(
        !err.contains("~#~"),
        "the warning must not carry the value: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let (code, out, err) = run(
        &["redact", "--secret", "long-flag-secret", "--secret", "~x~"],
        b"long-flag-secret ~x~\n",
    );
    assert_eq!(code, 0);
    assert_eq!(out, "*** ~x~\n");
    assert!(err.contains("--secret #2"), "{err}");
    assert!(!err.contains("~x~"), "{err}");

    let (_, help, _) = run(&["redact", "--help"], b"");
    assert!(help.contains("byte order mark"), "{help}");
}
