//! Managed services: the validator against hostile specs, the state file and the read
//! API (list / ETag / health counts / prompt block), real services brought up, probed,
//! expired, killed with their whole tree and reconciled.

use std::path::Path;

use keel_core::services::{
    self, validate_record, validate_text, Health, ServicesOptions, ValidateOptions,
};
use serde_json::{json, Value};

fn limits() -> ServicesOptions {
    ServicesOptions::default()
}

fn opts() -> ValidateOptions {
    ValidateOptions {
        require_git_workdir: Some(false),
        ..Default::default()
    }
}

fn good_spec() -> Value {
    json!({
        "name": "web",
        "cmd": "python3",
        "args": ["-m", "http.server"],
        "env": {"VITE_HOST": "127.0.0.1"},
        "ports": [8080],
        "attrs": {"base_url": "http://localhost:8080"},
        "healthcheck": {"type": "http", "url": "http://127.0.0.1:8080/", "expect_status": 200, "timeout_s": 5}
    })
}

fn reason_of(specs: Value) -> String {
    let v = validate_record(&json!({ "specs": specs }), &limits(), &opts());
    assert!(!v.ok, "expected a rejection");
    v.reason.unwrap()
}

fn with(field: &str, value: Value) -> Value {
    let mut s = good_spec();
    s[field] = value;
    json!([s])
}

fn with_hc(field: &str, value: Value) -> Value {
    let mut s = good_spec();
    s["healthcheck"][field] = value;
    json!([s])
}

#[test]
fn valid_spec_is_normalized_like_the_reference() {
    let v = validate_record(
        &json!({"specs": [good_spec()], "written_by": "agent-1"}),
        &limits(),
        &opts(),
    );
    assert!(v.ok, "{:?}", v.reason);
    let value = v.value.unwrap();
    assert_eq!(value["written_by"], "agent-1");
    assert_eq!(value["wi_id"], "");
    let s = &value["specs"][0];
    assert_eq!(s["ttl_minutes"], 720);
    assert_eq!(s["cwd"], "");
    assert_eq!(s["healthcheck"]["interval_s"], 1);
    assert_eq!(s["healthcheck"]["timeout_s"], 5);
    // JavaScript coercions: "5" → 5, 1.0 → 1, floor(ttl).
    let mut s = good_spec();
    s["healthcheck"]["timeout_s"] = json!("5");
    s["ttl_minutes"] = json!(10.9);
    s["ports"] = json!(["3000", 3001.0]);
    let v = validate_record(&json!({ "specs": [s] }), &limits(), &opts());
    let value = v.value.unwrap();
    assert_eq!(value["specs"][0]["healthcheck"]["timeout_s"], 5);
    assert_eq!(value["specs"][0]["ttl_minutes"], 10);
    assert_eq!(value["specs"][0]["ports"], json!([3000, 3001]));
}

#[test]
fn hostile_specs_get_the_reference_reason_strings() {
    let cases: Vec<(Value, &str)> = vec![
        (
            with("name", json!("Bad_Name")),
            "spec[0]: name-not-kebab-case (Bad_Name)",
        ),
        (with("name", json!("")), "spec[0]: name-missing"),
        (with("name", json!(7)), "spec[0]: name-missing"),
        (
            with("name", json!("a".repeat(65))),
            "spec[0]: name-too-long (>64)",
        ),
        (
            with("cmd", json!("rm")),
            "spec[0]: cmd-not-on-allowlist (rm)",
        ),
        (with("cmd", json!("/tmp/evil/node")), ""),
        (with("cmd", json!("x".repeat(201))), "spec[0]: cmd-too-long"),
        (with("args", json!("-c x")), "spec[0]: args-not-array"),
        (with("args", json!([1])), "spec[0]: arg-not-string"),
        (
            with("args", json!(vec!["a"; 65])),
            "spec[0]: args-too-many (>64)",
        ),
        (
            with("args", json!(["x".repeat(501)])),
            "spec[0]: arg-too-long",
        ),
        (with("cwd", json!(5)), "spec[0]: cwd-not-string"),
        (with("env", json!([])), "spec[0]: env-not-object"),
        (
            with("env", json!({"FOO;rm": "x"})),
            "spec[0]: env-key-invalid-shape (FOO;rm)",
        ),
        (
            with("env", json!({"GITHUB_TOKEN": "x"})),
            "spec[0]: env-key-denied (matched pattern ^GITHUB_TOKEN)",
        ),
        (
            with("env", json!({"aws_secret_access_key": "x"})),
            "spec[0]: env-key-denied (matched pattern ^AWS_)",
        ),
        (
            with("env", json!({"DB_PASSWORD": "x"})),
            "spec[0]: env-key-denied (matched pattern _PASSWORD)",
        ),
        (
            with("env", json!({"PORT": 1})),
            "spec[0]: env-value-not-string (PORT)",
        ),
        (with("ports", json!([80])), "spec[0]: port-invalid (80)"),
        (with("ports", json!(["abc"])), "spec[0]: port-invalid (abc)"),
        (
            with("ports", json!([{}])),
            "spec[0]: port-invalid ([object Object])",
        ),
        (
            with("ports", json!(vec![3000; 21])),
            "spec[0]: ports-too-many (>20)",
        ),
        (with("ttl_minutes", json!(0)), "spec[0]: ttl-invalid"),
        (
            with("ttl_minutes", json!(1441)),
            "spec[0]: ttl-too-long (>1440min)",
        ),
        (with("attrs", json!([])), "spec[0]: attrs-not-object"),
        (
            with("attrs", json!({"x": "y".repeat(2100)})),
            "spec[0]: attrs-too-large (>2048B)",
        ),
        (
            with("healthcheck", json!(null)),
            "spec[0]: healthcheck-missing",
        ),
        (
            with_hc("type", json!("tcp")),
            "spec[0]: healthcheck-type-invalid (tcp)",
        ),
        (
            with_hc("timeout_s", json!(0)),
            "spec[0]: healthcheck-timeout-invalid",
        ),
        (
            with_hc("interval_s", json!(601)),
            "spec[0]: healthcheck-interval-invalid",
        ),
        (
            with_hc("url", json!("localhost:80")),
            "spec[0]: healthcheck-url-not-absolute",
        ),
        (
            with_hc("expect_status", json!(null)),
            "spec[0]: healthcheck-expect-status-missing",
        ),
        (
            with_hc("expect_status", json!(99)),
            "spec[0]: healthcheck-expect-status-invalid",
        ),
        (json!("nope"), "specs-missing"),
        (json!([]), "specs-empty"),
        (Value::Array(vec![good_spec(); 6]), "specs-too-many (>5)"),
        (
            json!([good_spec(), good_spec()]),
            "spec[1]: duplicate-name (web)",
        ),
        (json!([1]), "spec[0]: not-an-object"),
    ];
    for (specs, want) in cases {
        let v = validate_record(&json!({ "specs": specs }), &limits(), &opts());
        if want.is_empty() {
            assert!(v.ok, "expected acceptance, got {:?}", v.reason);
        } else {
            assert_eq!(v.reason.as_deref(), Some(want));
        }
    }
    let cmd_hc = json!({"type": "command", "cmd": "rm -rf /", "shell": true, "expect_regex": "ok", "timeout_s": 5});
    assert_eq!(
        reason_of(with("healthcheck", cmd_hc)),
        "spec[0]: healthcheck-cmd-not-on-allowlist (rm)"
    );
    let cmd_hc = json!({"type": "command", "cmd": "curl -s x", "shell": "yes", "expect_regex": "ok", "timeout_s": 5});
    assert_eq!(
        reason_of(with("healthcheck", cmd_hc)),
        "spec[0]: healthcheck-shell-not-boolean"
    );
    let cmd_hc = json!({"type": "command", "cmd": "curl -s x", "shell": true, "expect_regex": "(", "timeout_s": 5});
    assert!(reason_of(with("healthcheck", cmd_hc))
        .starts_with("spec[0]: healthcheck-expect-regex-invalid ("));
    assert_eq!(
        validate_record(&json!([]), &limits(), &opts())
            .reason
            .as_deref(),
        Some("not-an-object")
    );
    assert_eq!(
        validate_record(
            &json!({"specs": [good_spec()], "wi_id": 3}),
            &limits(),
            &opts()
        )
        .reason
        .as_deref(),
        Some("wi_id-not-string")
    );
    assert!(validate_text("{", &limits(), &opts())
        .reason
        .unwrap()
        .starts_with("json-parse: "));
}

#[test]
fn reasons_are_redacted() {
    // A name that is a credential shape is never echoed back.
    let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let r = reason_of(with("cmd", json!(token)));
    assert!(r.starts_with("spec[0]: cmd-not-on-allowlist ("), "{r}");
    assert!(!r.contains(token), "{r}");
}

#[test]
fn workdir_checks_keep_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let strict = ValidateOptions::default();
    let v = validate_record(
        &json!({"specs": [{"name": "a", "cmd": "node", "cwd": plain.to_str().unwrap(),
            "healthcheck": {"type": "http", "url": "http://x/", "expect_status": 200, "timeout_s": 1}}]}),
        &limits(),
        &strict,
    );
    let r = v.reason.unwrap();
    assert!(
        r.starts_with("invalid-workdir: spec[0]: no .git directory or worktree pointer at "),
        "{r}"
    );
    assert!(
        r.ends_with("| cwd-exists:true | nearest-ancestor:null | worktree-root:null"),
        "{r}"
    );
    // A worktree pointer file one level up is found by the walk.
    std::fs::write(
        dir.path().join(".git"),
        "gitdir: /somewhere/.git/worktrees/x\n",
    )
    .unwrap();
    let v = validate_record(
        &json!({"specs": [{"name": "a", "cmd": "node", "cwd": plain.to_str().unwrap(),
            "healthcheck": {"type": "http", "url": "http://x/", "expect_status": 200, "timeout_s": 1}}]}),
        &limits(),
        &strict,
    );
    assert!(v.ok, "{:?}", v.reason);
    let v = validate_record(
        &json!({"specs": [{"name": "a", "cmd": "node", "cwd": "/no/such/dir",
            "healthcheck": {"type": "http", "url": "http://x/", "expect_status": 200, "timeout_s": 1}}]}),
        &limits(),
        &strict,
    );
    assert_eq!(
        v.reason.as_deref(),
        Some("invalid-workdir: spec[0]: directory does not exist: /no/such/dir | cwd-exists:false | nearest-ancestor:null | worktree-root:null")
    );
    let confined = ValidateOptions {
        require_git_workdir: Some(false),
        allowed_cwd_root: Some(plain.to_str().unwrap().into()),
        ..Default::default()
    };
    let v = validate_record(
        &json!({"specs": [{"name": "a", "cmd": "node", "cwd": "/tmp",
            "healthcheck": {"type": "http", "url": "http://x/", "expect_status": 200, "timeout_s": 1}}]}),
        &limits(),
        &confined,
    );
    assert_eq!(
        v.reason.as_deref(),
        Some("invalid-workdir: spec[0]: cwd-outside-dispatch-worktree")
    );
}

fn write_state(dir: &Path, specs: Value) {
    let path = dir.join(services::MANAGED_PROCESSES_STATE_FILE);
    keel_core::fsx::write_atomic(&path, json!({ "specs": specs }).to_string().as_bytes()).unwrap();
}

fn my_start_time() -> u64 {
    keel_core::process::PidRecord::capture(std::process::id())
        .unwrap()
        .start_time
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64
}

#[test]
fn read_api_lists_counts_and_etags() {
    let dir = tempfile::tempdir().unwrap();
    assert!(services::list(dir.path(), None).unwrap().is_empty());
    let empty_etag = services::etag(dir.path(), None).unwrap();
    let me = std::process::id();
    write_state(
        dir.path(),
        json!([
            {"name": "web", "pid": me, "owner_project": "p1", "healthy": true, "alive": true,
             "env": {"SECRETISH": "v"}, "started_at": now_ms(),
             "keel": {"pidStartTime": my_start_time(), "health": "healthy"}},
            {"name": "reused", "pid": me, "owner_project": "p1", "healthy": true, "alive": true,
             "keel": {"pidStartTime": my_start_time() + 1, "health": "healthy"}},
            {"name": "from-minions", "pid": me, "owner_project": "p2", "healthy": false, "alive": true,
             "started_at": now_ms(), "owner_work_type": "implement"},
            {"name": "ancient", "pid": me, "owner_project": "p2", "healthy": true, "alive": true,
             "started_at": 1000.0},
            {"no-name": true}
        ]),
    );
    let views = services::list(dir.path(), None).unwrap();
    let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["web", "reused", "from-minions", "ancient"]);
    assert_eq!(views[0].health, Health::Healthy);
    assert!(views[0].alive);
    // A pid whose start time does not match is not ours: dead, never healthy.
    assert_eq!(views[1].health, Health::Dead);
    assert!(!views[1].alive && !views[1].healthy);
    assert_eq!(views[2].health, Health::Starting);
    // A minions record whose process started after the record's started_at is a reuse.
    assert_eq!(views[3].health, Health::Dead);
    let json = serde_json::to_string(&views).unwrap();
    assert!(!json.contains("SECRETISH"), "env is never shown");
    assert_eq!(services::list(dir.path(), Some("p2")).unwrap().len(), 2);
    let c = services::health_counts(dir.path()).unwrap();
    assert_eq!((c.healthy, c.starting, c.dead, c.unhealthy), (1, 1, 2, 0));
    let e1 = services::etag(dir.path(), None).unwrap();
    assert_eq!(e1.len(), 16);
    assert_ne!(e1, empty_etag);
    assert_eq!(e1, services::etag(dir.path(), None).unwrap());
    assert_ne!(e1, services::etag(dir.path(), Some("p1")).unwrap());
}

#[test]
fn etag_is_minions_sha1_of_sorted_records() {
    let dir = tempfile::tempdir().unwrap();
    write_state(
        dir.path(),
        json!([{"name": "b", "pid": 5}, {"name": "a", "pid": 7}]),
    );
    // sha1('[{"name":"a","pid":7},{"name":"b","pid":5}]')[0..16], as node's crypto computes it.
    use sha1_check::*;
    assert_eq!(
        services::etag(dir.path(), None).unwrap(),
        sha1_hex16(r#"[{"name":"a","pid":7},{"name":"b","pid":5}]"#)
    );
}

mod sha1_check {
    /// SHA-1 by the `sha1sum` tool, first 16 hex digits.
    pub fn sha1_hex16(s: &str) -> String {
        use std::io::Write;
        let mut c = std::process::Command::new("sha1sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha1sum");
        c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()[..16].to_owned()
    }
}

#[test]
fn live_block_full_and_compact() {
    let dir = tempfile::tempdir().unwrap();
    write_state(
        dir.path(),
        json!([
            {"name": "web", "pid": 4242, "owner_project": "p1", "healthy": true, "alive": true,
             "ports": [3001], "attrs": {"base_url": "http://localhost:3001"}, "log_path": "/l/web.log",
             "ttl_expires_at": 0},
            {"name": "db", "pid": 4243, "owner_project": "p1", "healthy": false, "alive": true}
        ]),
    );
    let recs = services::records(dir.path(), None).unwrap();
    assert_eq!(services::live_block(&recs, "", 0, 2048), "");
    assert_eq!(services::live_block(&recs, "p2", 0, 2048), "");
    let full = services::live_block(&recs, "p1", 0, 2048);
    assert!(full.contains("## Live managed processes for project p1"));
    assert!(full.contains("### web\n\n- pid: 4242\n- ports: 3001\n- attrs: base_url: \"http://localhost:3001\"\n- log: /l/web.log\n- ttl_expires_at: 1970-01-01T00:00:00.000Z\n"));
    assert!(!full.contains("### db"));
    assert!(full.contains("`curl -s http://localhost:7331/api/managed-processes?project=p1`"));
    let many: Vec<Value> = (0..40)
        .map(|i| {
            json!({"name": format!("svc-{i}"), "pid": 1000 + i, "owner_project": "p1",
            "healthy": true, "alive": true, "ports": [3000 + i], "attrs": {"base_url": "http://x"}})
        })
        .collect();
    write_state(dir.path(), Value::Array(many));
    let recs = services::records(dir.path(), None).unwrap();
    let compact = services::live_block(&recs, "p1", 9000, 2048);
    assert!(
        compact.contains("- **svc-0** — http://x (ports 3000)"),
        "{compact}"
    );
    assert!(compact
        .contains("_40 live service(s) — full details truncated above the 2048-byte prompt cap."));
}

#[test]
fn state_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write_state(dir.path(), json!([]));
    let p = dir.path().join(services::MANAGED_PROCESSES_STATE_FILE);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = services::list(dir.path(), None).unwrap_err();
    assert_eq!(e.code(), "KEEL_INSECURE_FILE");
}

// ---------------------------------------------------------------------------------
// Real services.

mod common;

use keel_core::process::PidRecord;
use keel_core::services::{Owner, Services};
use std::time::{Duration, Instant};

fn fixture_server() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/services/server.py")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A working directory holding the server script.
fn workdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_server(), d.path().join("server.py")).unwrap();
    d
}

fn http_hc(port: u16) -> Value {
    json!({"type": "http", "url": format!("http://127.0.0.1:{port}/health"),
           "expect_status": 200, "interval_s": 0.1, "timeout_s": 30})
}

fn server_spec(name: &str, port: u16, cwd: &Path) -> Value {
    json!({"name": name, "cmd": "python3", "args": ["server.py", port.to_string()],
           "cwd": cwd.to_str().unwrap(), "ports": [port], "env": {"VITE_HOST": "127.0.0.1"},
           "attrs": {"base_url": format!("http://127.0.0.1:{port}")},
           "healthcheck": http_hc(port)})
}

/// A service whose tree has a background child and a `setsid` escapee besides the server.
fn tree_spec(name: &str, port: u16, cwd: &Path) -> Value {
    json!({"name": name, "cmd": "sh",
           "args": ["-c", format!("env > envdump; sleep 300 & setsid sleep 300 & exec python3 server.py {port}")],
           "cwd": cwd.to_str().unwrap(), "ports": [port],
           "healthcheck": http_hc(port)})
}

fn validated(specs: Value) -> Value {
    let v = validate_record(&json!({ "specs": specs }), &limits(), &opts());
    assert!(v.ok, "{:?}", v.reason);
    v.value.unwrap()
}

fn test_options() -> ServicesOptions {
    ServicesOptions {
        kill_grace_ms: 1000,
        liveness_period_ms: 100,
        failure_threshold: 3,
        success_threshold: 2,
        ..ServicesOptions::default()
    }
}

/// Kills whatever a test's state file still records, so a failing test leaks nothing.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for r in services::records(&self.0, None).unwrap_or_default() {
            for id in [r.identity(), r.shim_identity()].into_iter().flatten() {
                let _ = id.signal(libc::SIGKILL);
            }
        }
    }
}

/// Every process of the machine with its parent, from `/proc/<pid>/stat`.
fn ppid_table() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = text.rfind(')') else {
            continue;
        };
        let mut f = text[close + 1..].split_ascii_whitespace();
        let state = f.next().unwrap_or("");
        let ppid = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" && state != "X" {
            out.push((pid, ppid));
        }
    }
    out
}

/// The live descendants of `root` (a /proc scan), pinned by start time.
fn descendants(root: u32) -> Vec<PidRecord> {
    let table = ppid_table();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        for (c, pp) in &table {
            if *pp == p && !found.contains(c) {
                found.push(*c);
            }
        }
        i += 1;
    }
    found[1..]
        .iter()
        .filter_map(|p| PidRecord::capture(*p).ok())
        .collect()
}

async fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn health_of(dir: &Path, name: &str) -> Health {
    services::list(dir, None)
        .unwrap()
        .into_iter()
        .find(|v| v.name == name)
        .map(|v| v.health)
        .unwrap_or(Health::Dead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_comes_up_healthy_and_thresholds_decide_unhealthy() {
    let state = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(state.path().to_owned());
    let wd = workdir();
    let port = free_port();
    let svc = Services::new(state.path(), test_options()).unwrap();
    let owner = Owner {
        owner_project: "proj".into(),
        owner_agent: "agent-1".into(),
        ..Default::default()
    };
    let out = svc
        .up(
            &validated(json!([server_spec("web", port, wd.path())])),
            &owner,
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].healthy, "{:?}", out[0].error);
    let views = svc.list(None).unwrap();
    assert_eq!(views[0].health, Health::Healthy);
    assert!(views[0].healthy && views[0].alive);
    assert_eq!(views[0].owner_project, "proj");
    assert!(views[0].last_health_at.is_some());
    // The prompt block sees it.
    assert!(svc.live_block("proj", 0).contains("### web"));

    let cancel = tokio_util::sync::CancellationToken::new();
    let watcher = {
        let svc = svc.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { svc.watch("web", cancel).await })
    };
    // Flapping (every other probe fails): never three failures in a row, stays healthy.
    std::fs::write(wd.path().join("flap"), "").unwrap();
    let etag = svc.etag(None).unwrap();
    let log = wd.path().join("requests.log");
    let count_503 = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(" 503"))
            .count()
    };
    wait_until(
        "five failing probes while flapping",
        Duration::from_secs(30),
        || count_503() >= 5,
    )
    .await;
    assert_eq!(health_of(state.path(), "web"), Health::Healthy);
    assert_eq!(
        svc.etag(None).unwrap(),
        etag,
        "a steady service writes nothing"
    );
    std::fs::remove_file(wd.path().join("flap")).unwrap();
    // Wait for a passing probe after the flapping, so the failure run starts at zero.
    let passes = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(" 200"))
            .count()
    };
    let p0 = passes();
    wait_until("a passing probe", Duration::from_secs(30), || {
        passes() > p0 + 1
    })
    .await;

    // Down for good: unhealthy after three failures in a row, with the last error.
    let before = count_503();
    std::fs::write(wd.path().join("unhealthy"), "").unwrap();
    wait_until("unhealthy", Duration::from_secs(30), || {
        health_of(state.path(), "web") == Health::Unhealthy
    })
    .await;
    assert!(
        count_503() - before >= 3,
        "fewer than failureThreshold probes failed"
    );
    let v = &svc.list(None).unwrap()[0];
    assert!(!v.healthy);
    assert_eq!(
        v.last_error.as_deref(),
        Some("http status 503 (expected 200)")
    );
    // Back: healthy after two passes in a row.
    std::fs::remove_file(wd.path().join("unhealthy")).unwrap();
    wait_until("healthy again", Duration::from_secs(30), || {
        health_of(state.path(), "web") == Health::Healthy
    })
    .await;
    assert_eq!(svc.list(None).unwrap()[0].last_error, None);
    cancel.cancel();
    assert_eq!(watcher.await.unwrap().unwrap(), Health::Healthy);

    let r = svc.remove("web").await.unwrap();
    assert!(r.removed && r.killed);
    assert!(svc.list(None).unwrap().is_empty());
    assert_eq!(
        svc.remove("web").await.unwrap_err().code(),
        "KEEL_SERVICE_NOT_FOUND"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_kills_the_whole_tree_and_env_is_minimal() {
    let state = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(state.path().to_owned());
    let wd = workdir();
    let port = free_port();
    let svc = Services::new(state.path(), test_options()).unwrap();
    let out = svc
        .up(
            &validated(json!([tree_spec("tree", port, wd.path())])),
            &Owner::default(),
        )
        .await
        .unwrap();
    assert!(out[0].healthy, "{:?}", out[0].error);
    let rec = svc.get("tree").unwrap();
    let shim = rec.shim_identity().expect("the shim is recorded");
    let leader = rec.identity().unwrap();
    // The tree: leader (python), a background sleep, a setsid'd sleep (another session).
    let mut tree = Vec::new();
    wait_until(
        "three processes in the tree",
        Duration::from_secs(10),
        || {
            tree = descendants(shim.pid);
            tree.len() >= 3
        },
    )
    .await;
    assert!(tree.iter().any(|p| p.pid == leader.pid));

    // Environment: the spec's plus PATH and essentials, nothing else of the host.
    let env = std::fs::read_to_string(wd.path().join("envdump")).unwrap();
    assert!(env.lines().any(|l| l.starts_with("PATH=")));
    assert!(
        !env.contains("CARGO_MANIFEST_DIR="),
        "host env leaked: {env}"
    );

    // Not expired yet: the sweep keeps it.
    let s = svc.sweep().await.unwrap();
    assert_eq!((s.scanned, s.ttl_expired, s.dead_dropped), (1, 0, 0));

    // Expire it (as time passing would) and sweep.
    let path = state.path().join(services::MANAGED_PROCESSES_STATE_FILE);
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["specs"][0]["ttl_expires_at"] = json!(1000);
    keel_core::fsx::write_atomic(&path, doc.to_string().as_bytes()).unwrap();
    let s = svc.sweep().await.unwrap();
    assert_eq!((s.ttl_expired, s.killed_pids), (1, 1));
    wait_until(
        "every process of the tree gone",
        Duration::from_secs(10),
        || tree.iter().all(|p| !p.is_alive()) && !shim.is_alive(),
    )
    .await;
    assert!(svc.list(None).unwrap().is_empty());
}

#[test]
fn child_process_entry() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "spawn-host");
    let dir = std::env::var("KEEL_SVC_DIR").unwrap();
    let spec: Value = serde_json::from_str(&std::env::var("KEEL_SVC_SPEC").unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let svc = Services::new(&dir, test_options()).unwrap();
        svc.up(&spec, &Owner::default()).await.unwrap()
    });
    common::emit(&[
        ("healthy", &out[0].healthy.to_string()),
        ("pid", &out[0].pid.unwrap_or(0).to_string()),
    ]);
    std::process::exit(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_outlive_their_host_and_are_reconciled_after_restart() {
    let state = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(state.path().to_owned());
    let wd = workdir();
    let (p1, p2) = (free_port(), free_port());
    let spec = validated(json!([
        server_spec("api", p1, wd.path()),
        server_spec("db", p2, wd.path())
    ]));
    // A host process spawns both services and exits.
    let out = common::run_child(
        "spawn-host",
        &[
            ("KEEL_SVC_DIR", state.path().to_str().unwrap()),
            ("KEEL_SVC_SPEC", &spec.to_string()),
        ],
    );
    common::assert_success(&out, "spawn host");
    let res = common::results(&out);
    assert_eq!(res[0]["healthy"], "true");
    // "Host restart": a new Services instance reads the state file.
    let svc = Services::new(state.path(), test_options()).unwrap();
    let views = svc.list(None).unwrap();
    assert_eq!(views.len(), 2);
    assert!(
        views.iter().all(|v| v.alive),
        "services died with their host"
    );
    // One of them dies while the host is away.
    let db = svc.get("db").unwrap();
    db.identity().unwrap().signal(libc::SIGKILL).unwrap();
    wait_until("db gone", Duration::from_secs(10), || !db.is_alive()).await;
    // Mark api stale so boot reconcile probes it.
    let r = svc.boot_reconcile().await.unwrap();
    assert_eq!((r.stats.scanned, r.stats.dead_dropped), (2, 1));
    // api was healthy just now (within healthBackoffSec): not re-probed.
    assert!(r.probed.is_empty(), "{:?}", r.probed);
    let svc2 = Services::new(
        state.path(),
        ServicesOptions {
            health_backoff_sec: 0,
            ..test_options()
        },
    )
    .unwrap();
    let r = svc2.boot_reconcile().await.unwrap();
    assert_eq!(
        r.probed,
        vec![services::Probed {
            name: "api".into(),
            healthy: true
        }]
    );
    // restart: new pid, old tree gone, healthy again after the first-health wait.
    let old = svc2.get("api").unwrap();
    let new = svc2.restart("api").await.unwrap();
    assert_ne!(new.pid, old.pid);
    assert!(!old.is_alive());
    assert!(!new.healthy);
    let hc = new.healthcheck().unwrap();
    assert!(svc2.wait_for_first_health("api", &hc).await.healthy);
    assert!(svc2.get("api").unwrap().healthy);
    assert_eq!(
        svc2.restart("nope").await.unwrap_err().code(),
        "KEEL_SERVICE_NOT_FOUND"
    );
    // restart_and_wait: the whole restartManagedSpec every surface answers (C, CLI).
    let before = svc2.get("api").unwrap();
    let up = svc2.restart_and_wait("api").await.unwrap();
    assert!(up.healthy, "{up:?}");
    assert_eq!((up.name.as_str(), up.error.as_deref()), ("api", None));
    assert_ne!(up.pid, before.pid);
    assert!(!before.is_alive());
    assert_eq!(svc2.get("api").unwrap().pid, up.pid);
    let j = serde_json::to_value(&up).unwrap();
    assert!(
        j["logPath"].is_string() && j.get("log_path").is_none(),
        "{j}"
    );
    assert_eq!(
        svc2.restart_and_wait("nope").await.unwrap_err().code(),
        "KEEL_SERVICE_NOT_FOUND"
    );
    let new = svc2.get("api").unwrap();
    let r = svc2.remove_project("").await.unwrap();
    assert_eq!(r.killed, 0);
    let r = svc2.remove("api").await.unwrap();
    assert!(r.killed);
    assert!(!new.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_pid_is_never_signalled() {
    let state = tempfile::tempdir().unwrap();
    // A live process that is not the service: the recorded pid now belongs to it.
    let mut stranger = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let pid = stranger.id();
    let st = PidRecord::capture(pid).unwrap().start_time;
    let then = now_ms() - 3_600_000.0;
    write_state(
        state.path(),
        json!([
            // keel's identity with another start time.
            {"name": "keel-rec", "pid": pid, "started_at": then, "ttl_expires_at": then + 60_000.0,
             "owner_project": "p", "log_path": "",
             "keel": {"pidStartTime": st + 7, "shimPid": pid, "shimStartTime": st + 9, "health": "healthy"}},
            // minions' record (no identity) from an hour before the process started.
            {"name": "minions-rec", "pid": pid, "started_at": then, "ttl_expires_at": then + 60_000.0,
             "owner_project": "p"},
            {"name": "fresh", "pid": pid, "started_at": then, "ttl_expires_at": now_ms() + 3_600_000.0,
             "keel": {"pidStartTime": st + 1}}
        ]),
    );
    let svc = Services::new(state.path(), test_options()).unwrap();
    let views = svc.list(None).unwrap();
    assert!(views.iter().all(|v| !v.alive));
    let s = svc.sweep().await.unwrap();
    assert_eq!(
        (s.scanned, s.ttl_expired, s.dead_dropped, s.killed_pids),
        (3, 2, 1, 0)
    );
    write_state(
        state.path(),
        json!([{"name": "x", "pid": pid, "owner_project": "p", "keel": {"pidStartTime": st + 1}}]),
    );
    let r = svc.remove("x").await.unwrap();
    assert!(r.removed && !r.killed);
    write_state(
        state.path(),
        json!([{"name": "y", "pid": pid, "owner_project": "p", "started_at": then}]),
    );
    assert_eq!(svc.remove_project("p").await.unwrap().killed, 0);
    write_state(
        state.path(),
        json!([{"name": "z", "pid": pid, "started_at": then, "keel": {"pidStartTime": st + 1}}]),
    );
    let _ = svc.boot_reconcile().await.unwrap();
    // The stranger lived through all of it.
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "a reused pid was signalled"
    );
    common::kill_and_reap(&mut stranger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_probes_match_regex_and_time_out() {
    let ok = serde_json::from_value::<services::Healthcheck>(json!({"type": "command",
        "cmd": "sh -c 'echo ready'", "shell": true, "expect_regex": "^ready", "interval_s": 1, "timeout_s": 1})).unwrap();
    let r = services::run_healthcheck(&ok).await;
    assert!(r.healthy, "{:?}", r.error);
    assert_eq!(r.error, None);
    let nomatch = serde_json::from_value::<services::Healthcheck>(json!({"type": "command",
        "cmd": "sh -c 'echo starting'", "shell": true, "expect_regex": "^ready", "interval_s": 1, "timeout_s": 1})).unwrap();
    assert_eq!(
        services::run_healthcheck(&nomatch).await.error.as_deref(),
        Some("healthcheck stdout did not match regex /^ready/")
    );
    let fails = serde_json::from_value::<services::Healthcheck>(json!({"type": "command",
        "cmd": "sh -c 'echo oops >&2; exit 3'", "shell": true, "expect_regex": ".", "interval_s": 1, "timeout_s": 1})).unwrap();
    assert_eq!(
        services::run_healthcheck(&fails).await.error.as_deref(),
        Some("healthcheck command exit 3: oops")
    );
    let slow = serde_json::from_value::<services::Healthcheck>(json!({"type": "command",
        "cmd": "sleep 30", "shell": false, "expect_regex": ".", "interval_s": 1, "timeout_s": 1}))
    .unwrap();
    let t = Instant::now();
    assert_eq!(
        services::run_healthcheck(&slow).await.error.as_deref(),
        Some("healthcheck command timeout after 1000ms")
    );
    assert!(t.elapsed() < Duration::from_secs(20));
    // An http probe of a closed port fails fast with a reason.
    let port = free_port();
    let closed = serde_json::from_value::<services::Healthcheck>(http_hc(port)).unwrap();
    let r = services::run_healthcheck(&closed).await;
    assert!(!r.healthy);
    assert!(r.error.unwrap().starts_with("http request error: "));
    // First-health wait gives up with the reference's wording.
    let mut hc = http_hc(port);
    hc["timeout_s"] = json!(1);
    let hc = serde_json::from_value::<services::Healthcheck>(hc).unwrap();
    let state = tempfile::tempdir().unwrap();
    let svc = Services::new(state.path(), test_options()).unwrap();
    let r = svc.wait_for_first_health("nobody", &hc).await;
    let e = r.error.unwrap();
    assert!(
        e.starts_with(
            "timeout: spec nobody did not become healthy within 1s (last: http request error: "
        ),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_at_first_is_killed_and_logs_rotate() {
    let state = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(state.path().to_owned());
    let wd = workdir();
    std::fs::write(wd.path().join("unhealthy"), "").unwrap();
    let port = free_port();
    let mut spec = server_spec("never", port, wd.path());
    spec["healthcheck"]["timeout_s"] = json!(2);
    let good_port = free_port();
    let mut good = server_spec("good", good_port, wd.path());
    good["cwd"] = json!(wd.path().to_str().unwrap());
    let opts = ServicesOptions {
        log_rotate_bytes: 64,
        ..test_options()
    };
    let svc = Services::new(state.path(), opts).unwrap();
    let out = svc
        .up(&validated(json!([spec])), &Owner::default())
        .await
        .unwrap();
    assert!(!out[0].healthy);
    assert!(out[0]
        .error
        .as_deref()
        .unwrap()
        .starts_with("timeout: spec never did not become healthy within 2s"));
    let pid = out[0].pid.unwrap();
    assert!(
        svc.list(None).unwrap().is_empty(),
        "a failed service is removed"
    );
    wait_until("the failed service killed", Duration::from_secs(10), || {
        PidRecord::capture(pid).is_err()
    })
    .await;
    // Its log has output; the next open rotates it to .1 (it is above 64 bytes).
    let log = state.path().join("managed-logs/never.log");
    assert!(std::fs::metadata(&log).unwrap().len() > 64);
    let _ = svc.open_log("never").unwrap();
    assert!(state.path().join("managed-logs/never.log.1").exists());
    assert!(!log.exists());
    assert_eq!(common::mode_of(&state.path().join("managed-logs")), 0o700);

    // A live service's log is rotated by the sweep in place (copy + truncate).
    std::fs::remove_file(wd.path().join("unhealthy")).unwrap();
    let out = svc
        .up(
            &validated(json!([good])),
            &Owner {
                owner_project: "gone".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(out[0].healthy, "{:?}", out[0].error);
    let glog = state.path().join("managed-logs/good.log");
    let hc = svc.get("good").unwrap().healthcheck().unwrap();
    for _ in 0..20 {
        if std::fs::metadata(&glog)
            .map(|m| m.len() > 64)
            .unwrap_or(false)
        {
            break;
        }
        // Each request makes the server write a line to its log.
        let _ = services::run_healthcheck(&hc).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(std::fs::metadata(&glog).unwrap().len() > 64);
    let s = svc.sweep().await.unwrap();
    assert_eq!(s.rotated_logs, 1);
    assert!(std::fs::metadata(&glog).unwrap().len() < 64);
    assert!(state.path().join("managed-logs/good.log.1").exists());
    // Project removal: killed, logs unlinked.
    let r = svc.remove_project("gone").await.unwrap();
    assert_eq!((r.killed, r.unlinked, r.scanned, r.removed), (1, 2, 1, 1));
    assert!(!glog.exists());
    assert!(svc.list(None).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_spawns_are_refused() {
    let state = tempfile::tempdir().unwrap();
    let svc = Services::new(state.path(), test_options()).unwrap();
    // A value that bypassed validation: cmd off the allowlist is refused at spawn too.
    let spec: services::ManagedSpec = serde_json::from_value(json!({"name": "evil", "cmd": "rm",
        "args": ["-rf", "/"], "healthcheck": null}))
    .unwrap();
    let e = svc.spawn(&spec, &Owner::default()).await.unwrap_err();
    assert_eq!(e.code(), "KEEL_SERVICE_SPEC_INVALID");
    let spec: services::ManagedSpec =
        serde_json::from_value(json!({"name": "../etc", "cmd": "sh"})).unwrap();
    assert_eq!(
        svc.spawn(&spec, &Owner::default())
            .await
            .unwrap_err()
            .code(),
        "KEEL_SERVICE_SPEC_INVALID"
    );
    // A program that does not exist.
    let spec: services::ManagedSpec =
        serde_json::from_value(json!({"name": "ghost", "cmd": "/nonexistent/node"})).unwrap();
    assert_eq!(
        svc.spawn(&spec, &Owner::default())
            .await
            .unwrap_err()
            .code(),
        "KEEL_SPAWN_FAILED"
    );
    assert!(svc.list(None).unwrap().is_empty());
    // Malformed state: not listed, dropped by the sweep, valid entries survive.
    write_state(
        state.path(),
        json!([{"name": 5}, "junk", {"name": "ok", "pid": null, "ttl_expires_at": now_ms() + 1e6}]),
    );
    assert_eq!(svc.list(None).unwrap().len(), 1);
    let s = svc.sweep().await.unwrap();
    assert_eq!((s.malformed, s.dead_dropped), (2, 1));
    let path = state.path().join(services::MANAGED_PROCESSES_STATE_FILE);
    keel_core::fsx::write_atomic(&path, b"{not json").unwrap();
    assert_eq!(
        svc.sweep().await.unwrap_err().code(),
        "KEEL_MALFORMED_STATE"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"{not json",
        "a broken file is never overwritten"
    );
    assert!(Services::new(
        state.path(),
        ServicesOptions {
            failure_threshold: 0,
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn project_extra_deny_patterns_apply_by_cwd_longest_match_wins() {
    let outer = tempfile::tempdir().unwrap();
    let inner = outer.path().join("sub");
    std::fs::create_dir(&inner).unwrap();
    let other = tempfile::tempdir().unwrap();
    let o: ValidateOptions = serde_json::from_value(json!({
        "requireGitWorkdir": false,
        "projects": [
            // a minions project object: fields keel does not read are ignored
            {"name": "outer", "localPath": outer.path(), "managedSpawnExtraDenyPatterns": ["^DB_"],
             "mainBranch": "main"},
            {"name": "inner", "localPath": inner, "managedSpawnExtraDenyPatterns": ["^CACHE_"]},
            {"name": "no-path"}
        ]
    }))
    .unwrap();
    let rec = |cwd: &std::path::Path, key: &str| {
        json!({"specs": [{"name": "a", "cmd": "node", "cwd": cwd, "env": {key: "x"},
            "healthcheck": {"type": "http", "url": "http://127.0.0.1:9/", "expect_status": 200, "timeout_s": 5}}]})
    };
    let limits = ServicesOptions::default();
    let check = |cwd: &std::path::Path, key: &str| validate_record(&rec(cwd, key), &limits, &o);
    // in the outer project: its pattern applies
    assert_eq!(
        check(outer.path(), "DB_HOST").reason.as_deref(),
        Some("spec[0]: env-key-denied (matched pattern ^DB_)")
    );
    // in the inner project: only the inner (longest) project's patterns, as minions
    let r = check(&inner, "DB_HOST");
    assert!(r.ok, "{:?}", r.reason);
    assert_eq!(
        check(&inner, "CACHE_URL").reason.as_deref(),
        Some("spec[0]: env-key-denied (matched pattern ^CACHE_)")
    );
    // outside every project: no extra patterns
    assert!(check(other.path(), "DB_HOST").ok);
    assert!(check(other.path(), "CACHE_URL").ok);
    // projects only tighten: the global patterns still apply everywhere
    assert!(!check(other.path(), "GITHUB_TOKEN").ok);
}
