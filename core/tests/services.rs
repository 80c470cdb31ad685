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
