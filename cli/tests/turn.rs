//! `keel turn` against the fake agent CLI of core's turn tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SECRET: &str = "ghp_TESTSECRETabcdefghijklmnopqrstuvwxyz0123";

fn fake_bin(dir: &Path) -> PathBuf {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/turns/fake_agent.py");
    let py = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let p = dir.join("fake-agent");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nexec {py} {} \"$@\"\n", fixture.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn turn(dir: &Path, mode: &str, extra: &[&str], input: &str) -> Output {
    let bin = fake_bin(dir);
    let mut c = Command::new(env!("CARGO_BIN_EXE_keel"));
    c.args([
        "turn",
        "--agent",
        "bob",
        "--runtime",
        "claude",
        "--state-dir",
    ])
    .arg(dir.join("state"))
    .arg("--bin")
    .arg(&bin)
    .args(["--parent", "lead", "--kill-grace", "300ms"])
    .args(extra)
    .env("FAKE_MODE", mode)
    .env("FAKE_SECRET", SECRET)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn last_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("no output")).unwrap()
}

#[test]
fn json_mode_streams_redacted_events_and_the_result_last() {
    let tmp = tempfile::tempdir().unwrap();
    let out = turn(tmp.path(), "ok", &["--json"], "do it");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // clean end without a terminal message: completed, exit 0
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("TESTSECRET"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines[..lines.len() - 1]
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "session_start",
            "progress",
            "tool_start",
            "tool_end",
            "result"
        ]
    );
    let r = last_json(&out);
    assert_eq!(r["finalState"], "completed");
    assert_eq!(r["cleanResult"], true);
    assert_eq!(r["terminalMailMissing"], true);
    assert_eq!(r["newSessionId"], "sess-1");
}

#[test]
fn human_mode_prints_one_line_per_event_and_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = turn(tmp.path(), "ok", &[], "do it");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().next().unwrap().starts_with("session_start"),
        "{text}"
    );
    assert!(text.contains("tool_start    Bash"), "{text}");
    assert!(text.contains("Bearer ***"), "{text}");
    assert!(text.contains("tool_end      Bash ok"), "{text}");
    assert!(!text.contains("TESTSECRET"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("booting -> completed"), "{err}");
}

#[test]
fn a_failed_turn_exits_1_and_a_stall_kill_exits_124() {
    let tmp = tempfile::tempdir().unwrap();
    let out = turn(tmp.path(), "is_error", &["--json"], "do it");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(last_json(&out)["cleanResult"], false);
    let tmp = tempfile::tempdir().unwrap();
    let out = turn(
        tmp.path(),
        "stall",
        &["--json", "--stall", "500ms"],
        "do it",
    );
    assert_eq!(out.status.code(), Some(124));
    let r = last_json(&out);
    assert_eq!(r["stallAborted"], true);
    assert_eq!(r["finalState"], "zombie");
    assert_eq!(r["parentNotified"], true);
}

#[test]
fn empty_input_is_a_no_op_and_bad_usage_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = turn(tmp.path(), "ok", &["--json"], "");
    let r = last_json(&out);
    assert_eq!(r["noOp"], true);
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "turn",
            "--agent",
            "../x",
            "--runtime",
            "claude",
            "--state-dir",
            "/tmp/x",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agentName") && err.contains("[KEEL_INVALID_OPTION]"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "turn",
            "--agent",
            "a",
            "--runtime",
            "gemini",
            "--state-dir",
            "/tmp/x",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_cli_is_keels_own_failure_with_its_code() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "turn",
            "--agent",
            "bob",
            "--runtime",
            "codex",
            "--bin",
            "/nonexistent/codex",
            "--state-dir",
        ])
        .arg(tmp.path().join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"hi")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[KEEL_SPAWN_FAILED]"));
}

#[test]
fn help_documents_the_input_output_and_exit_statuses() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["turn", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for s in ["stdin", "turns.db", "124", "125", "--resume", "Example"] {
        assert!(text.contains(s), "--help lacks {s}");
    }
}
