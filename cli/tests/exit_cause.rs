//! `keel exit-cause` against the real binary: a real service, a real detached watcher
//! (the keel binary itself), real signals.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

fn keel(args: &[&str]) -> Output {
    Command::new(KEEL)
        .arg("exit-cause")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("keel runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "{} {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o.stdout)))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s[s.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            st != "Z" && st != "X"
        })
        .unwrap_or(false)
}

#[test]
fn ensure_is_idempotent_and_a_sigkill_is_recorded_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ec");
    let d = dir.to_str().unwrap();
    let mut service = Command::new("sleep").arg("120").spawn().unwrap();
    let pid = service.id().to_string();
    let first = json(&keel(&[
        "ensure",
        "--name",
        "web",
        "--pid",
        &pid,
        "--state-dir",
        d,
        "--top",
        "3",
        "--json",
    ]));
    assert_eq!(first["state"], "spawned");
    let watcher = first["watcherPid"].as_u64().unwrap();
    assert!(alive(watcher));
    let again = json(&keel(&[
        "ensure",
        "--name",
        "web",
        "--pid",
        &pid,
        "--state-dir",
        d,
        "--json",
    ]));
    assert_eq!(again["state"], "already");
    assert_eq!(again["watcherPid"].as_u64(), Some(watcher));
    let human = keel(&["ensure", "--name", "web", "--pid", &pid, "--state-dir", d]);
    assert!(
        text(&human.stdout).contains("already running"),
        "{}",
        text(&human.stdout)
    );
    let st = json(&keel(&[
        "status",
        "--name",
        "web",
        "--state-dir",
        d,
        "--json",
    ]));
    assert_eq!(st["watcherAlive"], true);

    unsafe { libc::kill(service.id() as i32, libc::SIGKILL) };
    wait_until("the exit line", || {
        let t = json(&keel(&["tail", "--state-dir", d, "--json"]));
        !t.as_array().unwrap().is_empty()
    });
    wait_until("the watcher to exit", || !alive(watcher));
    service.wait().unwrap();
    let t = json(&keel(&["tail", "--state-dir", d, "--json"]));
    let lines = t.as_array().unwrap();
    assert_eq!(lines.len(), 1, "{t}");
    assert_eq!(lines[0]["fields"]["ev"], "server-exit");
    assert_eq!(lines[0]["fields"]["signal"], "SIGKILL");
    assert_eq!(lines[0]["fields"]["pid"], pid.as_str());
    let snap = lines[0]["fields"]["forensics"].as_str().unwrap();
    assert!(std::fs::read_to_string(snap)
        .unwrap()
        .contains("--- top-rss"));
    let plain = keel(&["tail", "--state-dir", d]);
    assert!(
        text(&plain.stdout).starts_with("ts="),
        "{}",
        text(&plain.stdout)
    );
}

#[test]
fn disarm_then_stop_is_silent_and_the_service_survives_its_watcher() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let mut service = Command::new("sleep").arg("120").spawn().unwrap();
    let pid = service.id().to_string();
    let opts = format!(r#"{{"name":"db","pid":{pid},"stateDir":"{d}"}}"#);
    let first = json(&keel(&["ensure", "--options-json", &opts, "--json"]));
    let watcher = first["watcherPid"].as_u64().unwrap();
    unsafe { libc::kill(watcher as i32, libc::SIGKILL) };
    wait_until("the watcher to die", || !alive(watcher));
    assert!(service.try_wait().unwrap().is_none(), "the service runs on");
    let second = json(&keel(&["ensure", "--options-json", &opts, "--json"]));
    assert_eq!(second["state"], "spawned");

    let out = json(&keel(&[
        "disarm",
        "--name",
        "db",
        "--state-dir",
        d,
        "--json",
    ]));
    assert_eq!(out["state"], "disarmed");
    assert_eq!(out["watcherStopped"], true);
    service.kill().unwrap();
    service.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = json(&keel(&["tail", "--state-dir", d, "--json"]));
    assert!(t.as_array().unwrap().is_empty(), "{t}");
    let absent = json(&keel(&[
        "disarm",
        "--name",
        "nope",
        "--state-dir",
        d,
        "--json",
    ]));
    assert_eq!(absent["state"], "absent");
}

#[test]
fn bad_input_is_a_coded_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let o = keel(&[
        "ensure",
        "--name",
        "Bad Name",
        "--pid",
        "4242",
        "--state-dir",
        d,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.starts_with("keel: error: options.name ") && e.contains("[KEEL_INVALID_OPTION]"),
        "{e}"
    );
    let o = keel(&[
        "ensure",
        "--options-json",
        r#"{"name":"a","pid":2,"stateDir":"/x","sekret":1}"#,
    ]);
    let e = text(&o.stderr);
    assert!(
        e.contains("[KEEL_INVALID_JSON]") && !e.contains("sekret"),
        "{e}"
    );
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id().to_string();
    dead.wait().unwrap();
    let o = keel(&["ensure", "--name", "a", "--pid", &pid, "--state-dir", d]);
    assert!(
        text(&o.stderr).contains("[KEEL_EXIT_CAUSE_NOT_RUNNING]"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(tmp.path().join("m.watcher.json"), "{oops").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tmp.path().join("m.watcher.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let o = keel(&["status", "--name", "m", "--state-dir", d]);
    assert!(
        text(&o.stderr).contains("[KEEL_MALFORMED_STATE]"),
        "{}",
        text(&o.stderr)
    );
    let o = keel(&["ensure", "--name", "a"]);
    assert_eq!(o.status.code(), Some(2), "usage error");
    let o = keel(&["__watcher", "{not json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stdout).contains("keel-exit-cause-watcher error"));
    let help = Command::new(KEEL)
        .args(["exit-cause", "--help"])
        .output()
        .unwrap();
    assert!(text(&help.stdout).contains("ev=server-exit"));
}
