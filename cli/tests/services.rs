//! `keel services` against the real binary: spec validation with minions' reason
//! strings, and a real HTTP service brought up by one `keel` process, then listed,
//! restarted, swept and taken down by later ones (the service outlives each CLI run).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

fn keel(args: &[&str]) -> Output {
    Command::new(KEEL)
        .arg("services")
        .args(args)
        .env_remove("KEEL_SERVICES_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("keel runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json_ok(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "{} {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o.stdout)))
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

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn workdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/services/server.py");
    std::fs::copy(fixture, d.path().join("server.py")).unwrap();
    d
}

fn server_spec(name: &str, port: u16, cwd: &Path) -> Value {
    json!({"name": name, "cmd": "python3", "args": ["server.py", port.to_string()],
           "cwd": cwd.to_str().unwrap(), "ports": [port],
           "healthcheck": {"type": "http", "url": format!("http://127.0.0.1:{port}/health"),
                           "expect_status": 200, "interval_s": 0.1, "timeout_s": 20}})
}

fn write_file(dir: &Path, name: &str, doc: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, doc.to_string()).unwrap();
    p
}

const OPTIONS: &str = r#"{"requireGitWorkdir":false,"killGraceMs":1000}"#;

/// Kills whatever a test's state file still records, so a failing test leaks nothing.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for r in keel_core::services::records(&self.0, None).unwrap_or_default() {
            for id in [r.identity(), r.shim_identity()].into_iter().flatten() {
                let _ = id.signal(libc::SIGKILL);
            }
        }
    }
}

#[test]
fn validate_prints_the_reference_result_and_exits_1_on_a_bad_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let hc = json!({"type": "http", "url": "http://127.0.0.1:3000/", "expect_status": 200, "timeout_s": 10});
    let good = write_file(
        tmp.path(),
        "good.json",
        &json!({"specs": [{"name": "web", "cmd": "node", "args": ["server.js"], "ports": [3000], "healthcheck": hc}],
                "written_by": "agent-1"}),
    );
    let g = good.to_str().unwrap();
    let v = json_ok(&keel(&["validate", g, "--json", "--no-git-check"]));
    assert_eq!(v["ok"], true);
    assert!(v.get("reason").is_none());
    assert_eq!(v["value"]["specs"][0]["ttl_minutes"], 720);
    assert_eq!(v["value"]["written_by"], "agent-1");
    let o = keel(&["validate", g, "--no-git-check"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "ok: 1 spec(s): web\n");

    // Each hostile spec: exit 1, the reference's reason string (JSON and human).
    let cases = [
        (
            json!({"specs": [{"name": "Bad_Name", "cmd": "node", "healthcheck": hc}]}),
            "spec[0]: name-not-kebab-case (Bad_Name)",
        ),
        (
            json!({"specs": [{"name": "web", "cmd": "rm", "args": ["-rf", "/"], "healthcheck": hc}]}),
            "spec[0]: cmd-not-on-allowlist (rm)",
        ),
        (
            json!({"specs": [{"name": "web", "cmd": "node", "env": {"GITHUB_TOKEN": "x"}, "healthcheck": hc}]}),
            "spec[0]: env-key-denied (matched pattern ^GITHUB_TOKEN)",
        ),
        (
            json!({"specs": [{"name": "web", "cmd": "node", "ports": [80], "healthcheck": hc}]}),
            "spec[0]: port-invalid (80)",
        ),
        (json!({"specs": []}), "specs-empty"),
        (
            json!({"specs": [{"name": "web", "cmd": "node"}]}),
            "spec[0]: healthcheck-missing",
        ),
    ];
    for (i, (doc, reason)) in cases.iter().enumerate() {
        let f = write_file(tmp.path(), &format!("bad{i}.json"), doc);
        let f = f.to_str().unwrap();
        let o = keel(&["validate", f, "--json", "--no-git-check"]);
        assert_eq!(o.status.code(), Some(1), "{doc}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v, json!({"ok": false, "reason": reason}), "{doc}");
        let o = keel(&["validate", f, "--no-git-check"]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(text(&o.stdout), format!("invalid: {reason}\n"));
    }

    // Malformed JSON is a rejection with a position, never the file's text.
    let f = tmp.path().join("broken.json");
    std::fs::write(&f, "{\"specs\": [ghp_abcdefghijklmnopqrstuvwxyz0123456789").unwrap();
    let o = keel(&["validate", f.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.starts_with("json-parse: "), "{reason}");
    assert!(!text(&o.stdout).contains("ghp_"), "{reason}");

    // The git-worktree check is on by default (minions' requireGitWorkdir).
    let not_git = tempfile::tempdir().unwrap();
    let f = write_file(
        tmp.path(),
        "cwd.json",
        &json!({"specs": [{"name": "web", "cmd": "node", "cwd": not_git.path(), "healthcheck": hc}]}),
    );
    let o = keel(&["validate", f.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["reason"].as_str().unwrap().contains("invalid-workdir: "),
        "{v}"
    );

    // A missing file and bad options are errors with a code, not rejections.
    let o = keel(&["validate", "/nonexistent/managed-spawn.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("[KEEL_IO]"), "{}", text(&o.stderr));
    let o = keel(&[
        "validate",
        g,
        "--options-json",
        r#"{"maxSpecsPerFile":"x"}"#,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("[KEEL_INVALID_JSON]"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn up_ls_restart_sweep_down_with_a_real_service() {
    let state = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(state.path().to_owned());
    let sd = state.path().to_str().unwrap();
    let wd = workdir();
    let (p1, p2) = (free_port(), free_port());
    let file = write_file(
        wd.path(),
        "managed-spawn.json",
        &json!({"specs": [server_spec("web", p1, wd.path()), server_spec("api", p2, wd.path())]}),
    );
    let f = file.to_str().unwrap();
    let common = ["--state-dir", sd, "--options-json", OPTIONS];

    // up: both healthy; the services outlive this keel process.
    let mut args = vec!["up", f, "--project", "proj", "--agent", "agent-1", "--json"];
    args.extend(common);
    let out = json_ok(&keel(&args));
    let out = out.as_array().unwrap();
    assert_eq!(out.len(), 2, "{out:?}");
    for o in out {
        assert_eq!(o["healthy"], true, "{o}");
    }
    let pid_of = |name: &str| -> u64 {
        let mut a = vec!["ls", "--json"];
        a.extend(common);
        json_ok(&keel(&a))
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .map(|v| v["pid"].as_u64().unwrap())
            .unwrap_or(0)
    };
    let web = pid_of("web");
    assert!(alive(web) && alive(pid_of("api")));

    // ls / status: the dashboard view with health.
    let mut a = vec!["status", "--json", "--project", "proj"];
    a.extend(common);
    let views = json_ok(&keel(&a));
    assert_eq!(views.as_array().unwrap().len(), 2);
    for v in views.as_array().unwrap() {
        assert_eq!(v["health"], "healthy", "{v}");
        assert_eq!(v["owner_project"], "proj");
        assert_eq!(v["owner_agent"], "agent-1");
        assert!(v["ttl_expires_at"].as_f64().is_some());
    }
    let mut a = vec!["ls"];
    a.extend(common);
    let o = keel(&a);
    assert!(o.status.success());
    let table = text(&o.stdout);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("web") && table.contains("healthy"),
        "{table}"
    );
    let mut a = vec!["ls", "--json", "--project", "other"];
    a.extend(common);
    assert_eq!(json_ok(&keel(&a)), json!([]));

    // restart: the old process is gone, a new one answers healthy.
    let mut a = vec!["restart", "web", "--json"];
    a.extend(common);
    let r = json_ok(&keel(&a));
    assert_eq!(r["healthy"], true, "{r}");
    // the same camelCase shape as `up` and keel_services_restart (core's UpOutcome)
    assert!(
        r["logPath"].is_string() && r.get("log_path").is_none(),
        "{r}"
    );
    let new_web = r["pid"].as_u64().unwrap();
    assert_ne!(new_web, web);
    wait_until("the old web gone", || !alive(web));
    assert!(alive(new_web));
    assert_eq!(pid_of("web"), new_web);
    let mut a = vec!["restart", "nope"];
    a.extend(common);
    let o = keel(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("[KEEL_SERVICE_NOT_FOUND]"));

    // sweep: nothing expired; then api's TTL passes (as time would) and it is killed.
    let mut a = vec!["sweep", "--json"];
    a.extend(common);
    let s = json_ok(&keel(&a));
    assert_eq!(
        (&s["scanned"], &s["ttlExpired"]),
        (&json!(2), &json!(0)),
        "{s}"
    );
    let api = pid_of("api");
    let path = state.path().join("managed-processes.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for r in doc["specs"].as_array_mut().unwrap() {
        if r["name"] == "api" {
            r["ttl_expires_at"] = json!(1000);
        }
    }
    keel_core::fsx::write_atomic(&path, doc.to_string().as_bytes()).unwrap();
    let s = json_ok(&keel(&a));
    assert_eq!(
        (&s["ttlExpired"], &s["killedPids"]),
        (&json!(1), &json!(1)),
        "{s}"
    );
    wait_until("api killed by its TTL", || !alive(api));
    assert_eq!(pid_of("api"), 0);

    // down NAME: killed and forgotten; unknown → KEEL_SERVICE_NOT_FOUND.
    let mut a = vec!["down", "web"];
    a.extend(common);
    let o = keel(&a);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "web: down (killed)\n");
    wait_until("web down", || !alive(new_web));
    let o = keel(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("[KEEL_SERVICE_NOT_FOUND]"));
    let mut a = vec!["ls"];
    a.extend(common);
    assert_eq!(text(&keel(&a).stdout), "no managed services\n");
}

#[test]
fn down_project_kills_its_services_and_unlinks_their_logs() {
    let state = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(state.path().to_owned());
    let sd = state.path().to_str().unwrap();
    let wd = workdir();
    let common = ["--state-dir", sd, "--options-json", OPTIONS];
    for (name, project) in [("one", "alpha"), ("two", "beta")] {
        let file = write_file(
            wd.path(),
            &format!("{name}.json"),
            &json!({"specs": [server_spec(name, free_port(), wd.path())]}),
        );
        let mut a = vec!["up", file.to_str().unwrap(), "--project", project];
        a.extend(common);
        let o = keel(&a);
        assert!(
            o.status.success(),
            "{} {}",
            text(&o.stdout),
            text(&o.stderr)
        );
        assert!(text(&o.stdout).starts_with(&format!("{name}: healthy (pid ")));
    }
    let recs = keel_core::services::records(state.path(), None).unwrap();
    let one = recs.iter().find(|r| r.name == "one").unwrap().clone();
    assert!(Path::new(&one.log_path).exists());

    let mut a = vec!["down", "--project", "alpha", "--json"];
    a.extend(common);
    let r = json_ok(&keel(&a));
    assert_eq!(r["killed"], 1, "{r}");
    wait_until("alpha's service gone", || !one.is_alive());
    assert!(!Path::new(&one.log_path).exists());
    let left = keel_core::services::records(state.path(), None).unwrap();
    assert_eq!(
        left.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["two"]
    );
    assert!(left[0].is_alive());

    // Usage errors: neither NAME nor --project → 2; both → 2 (clap).
    let mut a = vec!["down"];
    a.extend(common);
    assert_eq!(keel(&a).status.code(), Some(2));
    let mut a = vec!["down", "two", "--project", "beta"];
    a.extend(common);
    assert_eq!(keel(&a).status.code(), Some(2));
    // No state dir at all → 2 (required, from the flag or $KEEL_SERVICES_DIR).
    assert_eq!(keel(&["ls"]).status.code(), Some(2));
    // $KEEL_SERVICES_DIR stands in for --state-dir.
    let o = Command::new(KEEL)
        .args(["services", "down", "two", "--options-json", OPTIONS])
        .env("KEEL_SERVICES_DIR", sd)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(keel_core::services::records(state.path(), None)
        .unwrap()
        .is_empty());
}

#[test]
fn up_refuses_a_bad_spec_and_reports_an_unhealthy_service() {
    let state = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(state.path().to_owned());
    let sd = state.path().to_str().unwrap();
    let wd = workdir();
    let common = ["--state-dir", sd, "--options-json", OPTIONS];
    let bad = write_file(
        wd.path(),
        "bad.json",
        &json!({"specs": [{"name": "x", "cmd": "bash", "args": ["-c", "rm -rf ~"], "env": {"AWS_SECRET_ACCESS_KEY": "AKIA"}}]}),
    );
    let mut a = vec!["up", bad.to_str().unwrap()];
    a.extend(common);
    let o = keel(&a);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("spec[0]: env-key-denied (matched pattern ^AWS_)")
            && err.contains("[KEEL_SERVICE_SPEC_INVALID]"),
        "{err}"
    );
    assert!(keel_core::services::records(state.path(), None)
        .unwrap()
        .is_empty());

    // A service that never answers healthy: exit 1, killed and not recorded.
    let port = free_port();
    let mut spec = server_spec("sick", port, wd.path());
    spec["healthcheck"]["url"] = json!(format!("http://127.0.0.1:{port}/health"));
    spec["healthcheck"]["timeout_s"] = json!(2);
    std::fs::write(wd.path().join("unhealthy"), "").unwrap();
    let file = write_file(wd.path(), "sick.json", &json!({ "specs": [spec] }));
    let mut a = vec!["up", file.to_str().unwrap(), "--json"];
    a.extend(common);
    let o = keel(&a);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out[0]["healthy"], false);
    let pid = out[0]["pid"].as_u64().unwrap();
    assert!(out[0]["error"].as_str().unwrap().contains("503"), "{out}");
    wait_until("the sick service killed", || !alive(pid));
    assert!(keel_core::services::records(state.path(), None)
        .unwrap()
        .is_empty());
}
