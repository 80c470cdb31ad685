//! The exit-cause recorder against real processes: real services (`sleep`, `sh`), real
//! detached watcher processes (this test binary dispatching to `watcher_main`, the way
//! every host does), real signals, files and permissions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_core::exit_cause::{self, DisarmState, EnsureState, ExitCauseOptions};
use keel_core::process::PidRecord;

/// When this binary is started as a watcher (`--exact watcher_entry <spec JSON>`), run
/// the watcher loop and exit with its status; in a normal test run, do nothing.
#[test]
fn watcher_entry() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "watcher_entry") {
        if let Some(spec) = args.last().filter(|a| a.starts_with('{')) {
            std::process::exit(exit_cause::watcher_main(spec));
        }
    }
}

fn watcher_command() -> Vec<String> {
    vec![
        std::env::current_exe().unwrap().display().to_string(),
        "--exact".into(),
        "watcher_entry".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ]
}

fn opts(name: &str, pid: u32, dir: &Path) -> ExitCauseOptions {
    let mut o = ExitCauseOptions::new(name, pid, dir.join("state"));
    o.watcher_command = Some(watcher_command());
    o.crash_dirs = Some(vec![dir.join("crashes")]);
    o.top_processes = 5;
    o
}

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("120")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn kill(pid: u32, sig: i32) {
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0, "kill {pid}");
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn alive(pid: u32) -> bool {
    PidRecord::capture(pid).is_ok()
}

/// The watcher's pid as recorded, and wait for it to be gone.
fn wait_watcher_gone(pid: u32) {
    wait_until("the watcher to exit", 20, || !alive(pid));
}

#[test]
fn sigkilled_service_records_exactly_one_line_with_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("crashes")).unwrap();
    std::fs::write(tmp.path().join("crashes/core.web.1234"), b"x").unwrap();
    let mut service = sleeper();
    let o = opts("web", service.id(), tmp.path());

    let first = exit_cause::ensure(&o).unwrap();
    assert_eq!(first.state, EnsureState::Spawned);
    assert!(alive(first.watcher_pid));
    // Idempotent: the same watcher, not a second one.
    let again = exit_cause::ensure(&o).unwrap();
    assert_eq!(again.state, EnsureState::Already);
    assert_eq!(again.watcher_pid, first.watcher_pid);
    let st = exit_cause::status(&o.state_dir, "web").unwrap().unwrap();
    assert!(st.alive && st.watcher_alive && st.fired_at.is_none());

    kill(service.id(), libc::SIGKILL);
    // Not reaped yet: the zombie's status is readable, so the signal is known.
    wait_until("the server-exit line", 20, || {
        log_lines(&first.log_file)
            .iter()
            .any(|l| l.contains("ev=server-exit"))
    });
    wait_watcher_gone(first.watcher_pid);
    service.wait().unwrap();

    let lines = log_lines(&first.log_file);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let f = keel_core::exit_cause::logfmt::parse(&lines[0]);
    assert_eq!(f["ev"], "server-exit");
    assert_eq!(f["name"], "web");
    assert_eq!(f["pid"], service.id().to_string());
    assert_eq!(f["status"], "signaled");
    assert_eq!(f["signal"], "SIGKILL");
    assert_eq!(f["status_source"], "proc-stat");
    assert_eq!(f["watcher_pid"], first.watcher_pid.to_string());
    assert!(f["uptime_ms"].parse::<u64>().is_ok(), "{lines:?}");
    let snap = PathBuf::from(&f["forensics"]);
    assert!(snap.starts_with(&first.forensics_dir));
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(text.starts_with("server-death "), "{text}");
    assert!(text.contains("name=web"));
    for s in [
        "--- meminfo",
        "MemAvailable",
        "--- cgroup",
        "--- kernel-log",
        "--- top-rss",
        "--- crash-files",
    ] {
        assert!(text.contains(s), "snapshot lacks {s}:\n{text}");
    }
    assert!(text.contains("core.web.1234"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&first.log_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(exit_cause::snapshot_count(&first.forensics_dir), 1);
    let st = exit_cause::status(&o.state_dir, "web").unwrap().unwrap();
    assert!(st.fired_at.is_some() && !st.watcher_alive);

    // tail parses it back.
    let t = exit_cause::tail(&first.log_file, 10).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].fields["signal"], "SIGKILL");
}

#[test]
fn nonzero_exit_records_the_code_and_a_clean_exit_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for (name, code) in [("exits-three", 3), ("exits-zero", 0)] {
        let mut service = Command::new("sh")
            .args(["-c", &format!("read x; exit {code}")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let o = opts(name, service.id(), tmp.path());
        let out = exit_cause::ensure(&o).unwrap();
        assert_eq!(out.state, EnsureState::Spawned);
        service.stdin.take().unwrap().write_all(b"go\n").unwrap();
        runs.push((service, out));
    }
    let log = runs[0].1.log_file.clone();
    wait_until("the exits-three line", 20, || {
        log_lines(&log)
            .iter()
            .any(|l| l.contains("name=exits-three"))
    });
    for (_, out) in &runs {
        wait_watcher_gone(out.watcher_pid);
    }
    for (mut s, _) in runs {
        s.wait().unwrap();
    }
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 1, "only the dirty exit is recorded: {lines:?}");
    let f = keel_core::exit_cause::logfmt::parse(&lines[0]);
    assert_eq!(f["status"], "exited");
    assert_eq!(f["code"], "3");
    assert!(!f.contains_key("signal"));
}

#[test]
fn a_deliberate_stop_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut service = sleeper();
    let o = opts("quiet", service.id(), tmp.path());
    let out = exit_cause::ensure(&o).unwrap();
    let d = exit_cause::disarm(&o.state_dir, "quiet", None).unwrap();
    assert_eq!(d.state, DisarmState::Disarmed);
    assert!(d.watcher_stopped);
    assert!(!alive(out.watcher_pid));
    kill(service.id(), libc::SIGKILL);
    service.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(log_lines(&out.log_file).is_empty());
    assert_eq!(exit_cause::snapshot_count(&out.forensics_dir), 0);
    // Idempotent, and absent names are fine.
    assert_eq!(
        exit_cause::disarm(&o.state_dir, "quiet", None)
            .unwrap()
            .state,
        DisarmState::Disarmed
    );
    assert_eq!(
        exit_cause::disarm(&o.state_dir, "never-armed", None)
            .unwrap()
            .state,
        DisarmState::Absent
    );
}

#[test]
fn a_disarm_marker_alone_silences_the_watcher() {
    // The record says disarmed but the SIGTERM is lost (simulated: mark only): the
    // watcher still checks the record before recording.
    let tmp = tempfile::tempdir().unwrap();
    let mut service = sleeper();
    let o = opts("marked", service.id(), tmp.path());
    let out = exit_cause::ensure(&o).unwrap();
    let path = o.state_dir.join("marked.watcher.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    rec["disarmedAt"] = serde_json::json!(1);
    keel_core::fsx::write_atomic(&path, rec.to_string().as_bytes()).unwrap();
    kill(service.id(), libc::SIGKILL);
    wait_watcher_gone(out.watcher_pid);
    service.wait().unwrap();
    assert!(log_lines(&out.log_file).is_empty());
}

#[test]
fn the_watcher_dying_does_not_affect_the_service() {
    let tmp = tempfile::tempdir().unwrap();
    let mut service = sleeper();
    let o = opts("sturdy", service.id(), tmp.path());
    let first = exit_cause::ensure(&o).unwrap();
    kill(first.watcher_pid, libc::SIGKILL);
    wait_watcher_gone(first.watcher_pid);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        service.try_wait().unwrap().is_none(),
        "the service must run on"
    );
    assert!(
        log_lines(&first.log_file).is_empty(),
        "a killed watcher is silent"
    );
    // The next ensure replaces the dead watcher.
    let second = exit_cause::ensure(&o).unwrap();
    assert_eq!(second.state, EnsureState::Spawned);
    assert_ne!(second.watcher_pid, first.watcher_pid);
    // A SIGTERM to the watcher is silent too.
    kill(second.watcher_pid, libc::SIGTERM);
    wait_watcher_gone(second.watcher_pid);
    assert!(service.try_wait().unwrap().is_none());
    service.kill().unwrap();
    service.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(log_lines(&first.log_file).is_empty());
}

#[test]
fn concurrent_ensures_start_one_watcher_and_a_new_pid_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut service = sleeper();
    let o = opts("racy", service.id(), tmp.path());
    let outs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| exit_cause::ensure(&o).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let spawned = outs
        .iter()
        .filter(|o| o.state == EnsureState::Spawned)
        .count();
    assert_eq!(spawned, 1, "{outs:?}");
    assert!(outs.iter().all(|x| x.watcher_pid == outs[0].watcher_pid));

    // The service restarted under the same name: the old watcher is replaced silently.
    let mut service2 = sleeper();
    let o2 = opts("racy", service2.id(), tmp.path());
    let next = exit_cause::ensure(&o2).unwrap();
    assert_eq!(next.state, EnsureState::Spawned);
    wait_watcher_gone(outs[0].watcher_pid);
    kill(service.id(), libc::SIGKILL);
    service.wait().unwrap();
    kill(service2.id(), libc::SIGKILL);
    wait_until("the line for the new pid", 20, || {
        !log_lines(&next.log_file).is_empty()
    });
    wait_watcher_gone(next.watcher_pid);
    service2.wait().unwrap();
    let lines = log_lines(&next.log_file);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&format!("pid={}", service2.id())));
}

#[test]
fn an_orphaned_service_reaped_by_init_is_still_recorded() {
    // The real-world shape: the service's parent is init (or a subreaper), which reaps at
    // once; the status may be lost to that race, the death never is.
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .args(["-c", "sleep 120 >/dev/null 2>&1 & echo $!"])
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let o = opts("orphan", pid, tmp.path());
    let w = exit_cause::ensure(&o).unwrap();
    kill(pid, libc::SIGKILL);
    wait_until("the orphan's line", 20, || {
        !log_lines(&w.log_file).is_empty()
    });
    let lines = log_lines(&w.log_file);
    assert_eq!(lines.len(), 1);
    let f = keel_core::exit_cause::logfmt::parse(&lines[0]);
    assert!(
        f["signal"] == "SIGKILL" || (f["signal"] == "unknown" && f["status_source"] == "reaped"),
        "{lines:?}"
    );
}

#[test]
fn hostile_options_and_state_files_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut service = sleeper();
    let pid = service.id();
    let err = |o: &ExitCauseOptions| exit_cause::ensure(o).unwrap_err();

    let mut o = opts("Bad Name", pid, tmp.path());
    let e = err(&o);
    assert_eq!(e.code(), "KEEL_INVALID_OPTION");
    assert!(e.to_string().starts_with("options.name "), "{e}");
    o.name = "x".repeat(65);
    assert_eq!(err(&o).code(), "KEEL_INVALID_OPTION");
    o.name = "../escape".into();
    assert_eq!(err(&o).code(), "KEEL_INVALID_OPTION");
    let mut o = opts("ok", 1, tmp.path());
    assert!(err(&o).to_string().starts_with("options.pid"));
    o.pid = pid;
    o.ready_timeout_ms = 0;
    assert!(err(&o).to_string().starts_with("options.readyTimeoutMs"));
    let mut o = opts("ok", pid, tmp.path());
    o.watcher_command = Some(vec![]);
    assert!(err(&o).to_string().starts_with("options.watcherCommand"));
    o.watcher_command = None;
    assert!(err(&o).to_string().starts_with("options.watcherCommand"));
    o.watcher_command = Some(watcher_command());
    o.top_processes = 100_000;
    assert!(err(&o).to_string().starts_with("options.topProcesses"));

    // JSON: unknown fields and wrong types are named, never echoed.
    let e = keel_core::options::from_json::<ExitCauseOptions>(
        r#"{"name":"a","pid":2,"stateDir":"/x","sekret-token-123":1}"#,
        "options_json",
        "options",
    )
    .unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_JSON");
    assert!(!e.to_string().contains("sekret"), "{e}");
    let e = keel_core::options::from_json::<ExitCauseOptions>(
        r#"{"name":"a","pid":"2","stateDir":"/x"}"#,
        "options_json",
        "options",
    )
    .unwrap_err();
    assert_eq!(e.path(), "options.pid");

    // Not running / a pid reused under another start time.
    let mut o = opts("ok", pid, tmp.path());
    o.start_time = Some(PidRecord::capture(pid).unwrap().start_time + 1);
    assert_eq!(err(&o).code(), "KEEL_EXIT_CAUSE_NOT_RUNNING");
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    assert_eq!(
        err(&opts("ok", dead_pid, tmp.path())).code(),
        "KEEL_EXIT_CAUSE_NOT_RUNNING"
    );

    // A program that does not dispatch to the watcher never reports readiness.
    let mut o = opts("nodispatch", pid, tmp.path());
    o.watcher_command = Some(vec!["true".into()]);
    let e = err(&o);
    assert_eq!(e.code(), "KEEL_EXIT_CAUSE_WATCHER_FAILED");
    assert!(e.to_string().contains("readiness"), "{e}");
    o.watcher_command = Some(vec!["/nonexistent/keel".into()]);
    assert_eq!(err(&o).code(), "KEEL_EXIT_CAUSE_WATCHER_FAILED");
    o.watcher_command = Some(vec!["sh".into(), "-c".into(), "sleep 5".into()]);
    o.ready_timeout_ms = 300;
    let e = err(&o);
    assert!(e.to_string().contains("within 300 ms"), "{e}");
    // A watcher whose spec is garbage says so and exits 2.
    let st = Command::new(&watcher_command()[0])
        .args(&watcher_command()[1..])
        .arg("{\"version\":1,\"options\":{\"nope\":1}}")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stdout).contains(exit_cause::ERROR_PREFIX));

    // Malformed and unsafe state files.
    let o = opts("broken", pid, tmp.path());
    std::fs::create_dir_all(&o.state_dir).unwrap();
    let rec = o.state_dir.join("broken.watcher.json");
    keel_core::fsx::write_atomic(&rec, b"{not json").unwrap();
    assert_eq!(err(&o).code(), "KEEL_MALFORMED_STATE");
    assert_eq!(
        exit_cause::disarm(&o.state_dir, "broken", None)
            .unwrap_err()
            .code(),
        "KEEL_MALFORMED_STATE"
    );
    keel_core::fsx::write_atomic(&rec, br#"{"version":9}"#).unwrap();
    assert_eq!(err(&o).code(), "KEEL_MALFORMED_STATE");
    keel_core::fsx::write_atomic(&rec, b"{}").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(err(&o).code(), "KEEL_INSECURE_FILE");
    assert_eq!(
        exit_cause::status(&o.state_dir, "broken")
            .unwrap_err()
            .code(),
        "KEEL_INSECURE_FILE"
    );
    assert_eq!(
        exit_cause::disarm(&o.state_dir, "Bad Name", None)
            .unwrap_err()
            .code(),
        "KEEL_INVALID_OPTION"
    );
    service.kill().unwrap();
    service.wait().unwrap();
}
