//! `keel run` against the real binary and real `sh` children.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

fn keel_run(args: &[&str]) -> Output {
    Command::new(KEEL)
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("keel runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether `pid` is a live (non-zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

fn wait_dead(pid: u32, within: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < within {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

#[test]
fn exit_code_and_output_pass_through() {
    let out = keel_run(&["--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = keel_run(&["--", "true"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_signal_the_child_died_of_is_128_plus_n() {
    let out = keel_run(&["--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + 15));
}

#[test]
fn inactivity_kill_exits_124_with_the_reason() {
    let t = Instant::now();
    let out = keel_run(&[
        "--inactivity",
        "500ms",
        "--grace",
        "1s",
        "--",
        "sh",
        "-c",
        "echo started; sleep 30",
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(text(&out.stdout), "started\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("no output for 500ms (inactivity-timeout)"),
        "{err}"
    );
}

#[test]
fn max_duration_kill_exits_124_with_the_reason() {
    let out = keel_run(&[
        "--max-duration",
        "1s",
        "--",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ]);
    assert_eq!(out.status.code(), Some(124));
    let err = text(&out.stderr);
    assert!(
        err.contains("exceeded the max duration of 1s (max-duration)"),
        "{err}"
    );
}

#[test]
fn secrets_in_the_output_are_redacted() {
    let out = keel_run(&[
        "--secret",
        "cli-run-secret-0123456789",
        "--",
        "sh",
        "-c",
        "echo token=cli-run-secret-0123456789; echo ghp_abcdefghijklmnopqrstuvwxyz0123456789 >&2",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(!o.contains("cli-run-secret-0123456789"), "{o}");
    assert!(o.contains("***"), "{o}");
    assert!(!e.contains("abcdefghijklmnopqrstuvwxyz0123456789"), "{e}");
}

#[test]
fn grandchildren_are_killed_with_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!(
        "sleep 60 & echo $! > {}; echo started; wait",
        pidfile.display()
    );
    let out = keel_run(&["--inactivity", "500ms", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(124));
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_dead(pid, Duration::from_secs(2)),
        "grandchild {pid} survived"
    );
}

#[test]
fn sigint_to_keel_terminates_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
    let mut child = Command::new(KEEL)
        .args(["run", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by signal 2"), "{err}");
    assert!(wait_dead(grandchild, Duration::from_secs(2)));
}

#[test]
fn json_result_shape() {
    let out = keel_run(&[
        "--json",
        "--tail",
        "100",
        "--",
        "sh",
        "-c",
        "echo hello; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["exit"], serde_json::json!({"kind": "exited", "code": 3}));
    assert_eq!(v["tail"], "hello");
    assert_eq!(v["killReason"], serde_json::Value::Null);
    assert_eq!(v["error"], "command sh: exited with code 3");
    for key in [
        "pid",
        "durationMs",
        "escalated",
        "groupCleared",
        "drainTimedOut",
        "stdoutBytes",
        "stderrBytes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    // the command's own output went to stderr, leaving stdout to the JSON
    assert_eq!(text(&out.stderr), "hello\n");

    let out = keel_run(&["--json", "--inactivity", "300ms", "--", "sleep", "30"]);
    assert_eq!(out.status.code(), Some(124));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["killReason"], "inactivity-timeout");
    assert_eq!(v["exit"]["kind"], "killed");
}

#[test]
fn unrunnable_commands() {
    let out = keel_run(&["--", "/nonexistent/keel-test-cmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["--inactivity", "10x", "--", "true"][..],
        &["--grace", "-1s", "--", "true"][..],
        &["--tail", "many", "--", "true"][..],
        &["--bogus", "--", "true"][..],
    ] {
        let out = keel_run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The README's main-job demo: the fake agent's log streams with every planted
/// secret masked, then the hung agent and its grandchild are killed for inactivity.
#[test]
fn readme_demo_masks_the_log_and_kills_the_hung_agent() {
    let demo = format!("{}/demo", env!("CARGO_MANIFEST_DIR"));
    let started = Instant::now();
    let out = keel_run(&[
        "--inactivity",
        "1s",
        "--secrets-file",
        &format!("{demo}/secrets.txt"),
        "--",
        "sh",
        &format!("{demo}/fake-agent.sh"),
    ]);
    assert_eq!(out.status.code(), Some(124));
    assert!(started.elapsed() < Duration::from_secs(30));
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    for planted in [
        "lease-7f3a9c2e-41d8-4b7a-9e11-c0ffee123456",
        "bGVhc2UtN2YzYTljMmUtNDFkOC00YjdhLTllMTEtYzBmZmVlMTIzNDU2",
        "ghp_R7mK2pX9vL4qT8nW1yZ6bC3dF5hJ0sA2uE4i",
        "hunter2-Tr0ub4dor",
    ] {
        assert!(!o.contains(planted), "{planted} leaked:\n{o}");
    }
    assert!(o.contains("agent: waiting for the model..."), "{o}");
    assert!(e.contains("inactivity"), "{e}");
    let missing = keel_run(&["--secrets-file", "/nonexistent/secrets", "--", "true"]);
    assert_eq!(missing.status.code(), Some(125), "keel's own failure");
    assert!(text(&missing.stderr).contains("/nonexistent/secrets"));
}

#[test]
fn sigkilling_keel_run_kills_every_escape_form() {
    // Nothing outlives keel: SIGKILL the `keel run` process itself (no cleanup code can
    // run) and every process of the job, whatever group or session it moved to, dies.
    let mark = format!("cli-{}-{:?}", std::process::id(), Instant::now());
    let script = "setsid sleep 3000 & \
        perl -e 'setpgrp(0,0); exec \"sleep\", \"3000\"' & \
        (setsid sh -c 'trap \"\" TERM; sleep 3000 & exit 0' &); \
        sleep 0.3; echo ready; sleep 3000";
    let mut child = std::process::Command::new(KEEL)
        .args(["run", "--", "sh", "-c", script])
        .env("KEEL_TREE_MARK", &mark)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    assert!(marked(&mark).len() >= 4, "{:?}", marked(&mark));
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !marked(&mark).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = marked(&mark);
    for p in &left {
        let _ = std::process::Command::new("kill")
            .args(["-9", &p.to_string()])
            .status();
    }
    assert_eq!(left, Vec::<u32>::new(), "processes outlived keel run");
}

/// Live processes whose environment carries `KEEL_TREE_MARK=<mark>`.
fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("KEEL_TREE_MARK={mark}");
    let mut out = Vec::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rfind(')')
            .map(|c| stat[c + 1..].trim_start().starts_with('Z'))
            .unwrap_or(true);
        if !zombie && env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_sub_millisecond_window_is_honoured_never_turned_off() {
    // `0.4ms` rounds UP to 1 ms (keel's windows are whole milliseconds): the watchdog
    // fires at once instead of being silently disabled by rounding to 0.
    let t = Instant::now();
    let out = keel_run(&[
        "--inactivity",
        "0.4ms",
        "--grace",
        "1s",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(20));
    let err = text(&out.stderr);
    assert!(
        err.contains("no output for 1ms (inactivity-timeout)"),
        "{err}"
    );
    // The same through every unit spelling of the core parser.
    let out = keel_run(&["--max-duration", "250us", "--", "sleep", "30"]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("exceeded the max duration of 1ms"));
    // An explicit 0 is off.
    let out = keel_run(&["--inactivity", "0", "--", "sh", "-c", "sleep 0.3; echo ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");
}

#[test]
fn a_bad_duration_names_the_flag_without_a_panic() {
    for (flag, bad) in [
        ("--inactivity", "10x"),
        ("--grace", "1h30"),
        ("--max-duration", "-5s"),
    ] {
        let out = keel_run(&[&format!("{flag}={bad}"), "--", "true"]);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
        let err = text(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
        assert!(err.contains("duration"), "{flag}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Start `keel run` with a 40-character known secret and read its stdout pipe on a
/// thread: (child, lines with their arrival time after spawn).
fn keel_run_reading(
    extra: &[&str],
    script: &str,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<(Duration, String)>,
) {
    let secret = "cli-idle-flush-secret-0123456789abcdefgh";
    assert_eq!(secret.len(), 40);
    let started = Instant::now();
    let mut child = Command::new(KEEL)
        .arg("run")
        .args(["--secret", secret])
        .args(extra)
        .args(["--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match std::io::BufRead::read_line(&mut r, &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send((started.elapsed(), line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (child, rx)
}

#[test]
fn a_quiet_commands_last_line_shows_within_the_idle_window() {
    // The measurement: with a 40-char secret registered, "step 1 done" used to
    // show only when the next output arrived. Now it shows after ~200 ms of quiet while
    // the command is still running.
    let (mut child, rx) = keel_run_reading(&[], "echo 'step 1 done'; sleep 20");
    let got = rx.recv_timeout(Duration::from_secs(8));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let (after, line) = got.expect("the quiet command's last line never showed");
    assert_eq!(line, "step 1 done\n");
    assert!(after < Duration::from_secs(8), "{after:?}");
    assert!(still_running, "the line must show while the command runs");
    assert_eq!(status.code(), Some(128 + 2));
}

#[test]
fn idle_flush_off_holds_the_line_until_the_end_and_a_split_secret_never_leaks() {
    // --idle-flush 0: the control — the line waits for the end of the stream.
    let (mut child, rx) = keel_run_reading(&["--idle-flush", "0"], "echo 'step 1 done'; sleep 3");
    assert!(
        rx.recv_timeout(Duration::from_millis(1500)).is_err(),
        "without idle flush the held-back line should not show yet"
    );
    let (_, line) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(line, "step 1 done\n");
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // Half the secret, quiet for several idle windows, then the rest: never leaked.
    let (mut child, rx) = keel_run_reading(
        &["--idle-flush", "50ms"],
        "printf 'key=cli-idle-flush-secr'; sleep 1; printf 'et-0123456789abcdefgh done\\n'",
    );
    let (_, line) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(line, "key=*** done\n");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
