//! `keel_server` over real sockets and real child processes: every route, the
//! 401 / 400 / 404 / 405 / 408 / 413 / 304 paths, redaction of bad-request messages,
//! idempotent re-attach, aborts, watchdog metrics, the connection cap and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use keel_core::jobs::{JobRegistry, RegistryOptions, WorkError};
use keel_server::kinds::{take_job_id, RegistryKind};
use keel_server::{ManagedList, ManagedProcesses, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "harness-shared-secret-4f9a1c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_status_version_capabilities_and_kinds() {
    let s = start(options()).await;
    let r = get(s.addr, "/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("jobs")));
    assert_eq!(v["kinds"], json!(["command", "turn"]));
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_secret_gates_every_route_but_health() {
    let mut o = options();
    o.shared_secret = Some(SECRET.into());
    let s = start(o).await;
    // /health stays open.
    assert_eq!(get(s.addr, "/health").await.status, 200);
    let body = serde_json::to_vec(&json!({"kind":"command","jobId":"a1","cmd":"true"})).unwrap();
    for (method, path, body) in [
        ("POST", "/jobs", Some(body.as_slice())),
        ("GET", "/jobs/a1", None),
        ("DELETE", "/jobs/a1", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/no-such-route", None),
    ] {
        for hdr in [
            vec![],
            vec![("x-harness-secret", "wrong")],
            vec![("x-harness-secret", &SECRET[..SECRET.len() - 1])],
            vec![("x-harness-secret", "harness-shared-secret-4f9a1d")],
        ] {
            let r = request(s.addr, method, path, &hdr, body).await;
            assert_eq!(r.status, 401, "{method} {path} {hdr:?}");
            assert_eq!(
                r.json(),
                json!({"error":"unauthorized","code":"KEEL_SERVER_UNAUTHORIZED"})
            );
            assert!(!r.text().contains(SECRET));
        }
    }
    let ok = [("x-harness-secret", SECRET)];
    let r = request(s.addr, "POST", "/jobs", &ok, Some(&body)).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json(), json!({"jobId":"a1","state":"running"}));
    let r = request(s.addr, "GET", "/metrics", &ok, None).await;
    assert_eq!(r.status, 200);
    let r = request(s.addr, "GET", "/no-such-route", &ok, None).await;
    assert_eq!(r.status, 404);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_job_runs_and_its_view_is_drained_json() {
    let s = start(options()).await;
    let r = post_json(
        s.addr,
        &json!({"kind":"command","jobId":"echo-1","cmd":"sh","args":["-c","echo hello; echo oops >&2"]}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["jobId"], "echo-1");
    let v = wait_done(s.addr, "echo-1").await;
    assert_eq!(v["state"], "done", "{v}");
    assert_eq!(v["id"], "echo-1");
    assert_eq!(v["phase"], "done");
    assert_eq!(v["result"]["exit"], json!({"kind":"exited","code":0}));
    let tail = v["result"]["tail"].as_str().unwrap();
    assert!(tail.contains("hello") && tail.contains("oops"), "{tail}");
    assert!(v["startedAt"].as_u64().unwrap() <= v["heartbeatAt"].as_u64().unwrap());
    // A failing command is `done` with the result's error (the reference's JobResultBase).
    post_json(
        s.addr,
        &json!({"kind":"command","jobId":"exit-3","cmd":"sh","args":["-c","exit 3"]}),
    )
    .await;
    let v = wait_done(s.addr, "exit-3").await;
    assert_eq!(v["result"]["exit"]["code"], 3, "{v}");
    assert!(v["result"]["error"].is_string(), "{v}");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posting_the_same_job_id_again_re_attaches_without_starting_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs");
    let s = start(options()).await;
    let job = json!({"kind":"command","jobId":"once","cmd":"sh",
        "args":["-c", format!("echo run >> '{}'; sleep 1", log.display())]});
    let first = post_json(s.addr, &job).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.json()["state"], "running");
    for _ in 0..5 {
        let again = post_json(s.addr, &job).await;
        assert_eq!(again.status, 202);
        assert_eq!(again.json(), json!({"jobId":"once","state":"running"}));
    }
    let v = wait_done(s.addr, "once").await;
    assert_eq!(v["state"], "done");
    // After it finished, a re-dispatch still re-attaches: the finished state, no new run.
    let again = post_json(s.addr, &job).await;
    assert_eq!(again.json(), json!({"jobId":"once","state":"done"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "run\n");
    s.shutdown().await.unwrap();
}

/// Every 400 names the problem and contains no value of the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_400_with_redacted_messages_that_never_echo_a_secret() {
    let s = start(options()).await;
    let secret = "sk-live-9f8e7d6c5b4a39281706";
    let gh = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (format!("{{\"kind\":\"command\",\"jobId\":\"{secret}").into_bytes(), "KEEL_INVALID_JSON"),
        (format!("[\"{secret}\"]").into_bytes(), "KEEL_INVALID_JSON"),
        (format!("\"{secret}\"").into_bytes(), "KEEL_INVALID_JSON"),
        (
            serde_json::to_vec(&json!({"kind":"command","jobId":"b1","cmd":"sh","args":secret})).unwrap(),
            "KEEL_INVALID_JSON",
        ),
        (
            serde_json::to_vec(&json!({"kind":"command","jobId":"b2","cmd":"sh","inactivityMs":secret})).unwrap(),
            "KEEL_INVALID_JSON",
        ),
        (
            serde_json::to_vec(&json!({"kind":"command","jobId":"b3","cmd":"sh",(gh):1})).unwrap(),
            "KEEL_INVALID_JSON",
        ),
        (
            serde_json::to_vec(&json!({"kind":"command","jobId":"b4","cmd":"sh","env":{"TOKEN":[secret]}})).unwrap(),
            "KEEL_INVALID_JSON",
        ),
        (
            serde_json::to_vec(&json!({"kind":"command","jobId":secret.len(),"cmd":secret})).unwrap(),
            "KEEL_INVALID_JSON",
        ),
        (
            serde_json::to_vec(&json!({"kind":"command","cmd":secret})).unwrap(),
            "KEEL_INVALID_JSON",
        ),
        (
            serde_json::to_vec(&json!({"kind":"command","jobId":format!("{secret}\n"),"cmd":"sh"})).unwrap(),
            "KEEL_INVALID_ARGUMENT",
        ),
        (
            serde_json::to_vec(&json!({"kind":"command","jobId":"b5","cmd":""})).unwrap(),
            "KEEL_INVALID_OPTION",
        ),
        (
            serde_json::to_vec(&json!({"kind":"turn","jobId":"b6","agentName":format!("../{secret}"),
                "runtime":"claude","stateDir":"/tmp/x"})).unwrap(),
            "KEEL_INVALID_OPTION",
        ),
        (
            serde_json::to_vec(&json!({"kind":"turn","jobId":"b7","agentName":"a","runtime":secret,"stateDir":"/tmp/x"})).unwrap(),
            "KEEL_INVALID_JSON",
        ),
    ];
    for (body, code) in cases {
        let r = request(s.addr, "POST", "/jobs", &[], Some(&body)).await;
        let text = r.text();
        assert_eq!(
            r.status,
            400,
            "{} -> {text}",
            String::from_utf8_lossy(&body)
        );
        let v = r.json();
        assert_eq!(v["code"], code, "{text}");
        let msg = v["error"].as_str().unwrap();
        assert!(!msg.is_empty() && msg.len() < 400, "{msg}");
        for needle in [secret, gh, &secret[..12], &gh[4..16]] {
            assert!(!text.contains(needle), "{needle} echoed: {text}");
        }
    }
    // The field is named.
    let r = post_json(
        s.addr,
        &json!({"kind":"command","jobId":"b8","cmd":"sh","args":[1]}),
    )
    .await;
    assert!(
        r.json()["error"].as_str().unwrap().contains("body.args[0]"),
        "{}",
        r.text()
    );
    // An unknown kind that looks like a secret is described, not echoed.
    let r = post_json(s.addr, &json!({"kind": gh, "jobId":"b9"})).await;
    assert_eq!(r.status, 404);
    assert!(!r.text().contains(&gh[4..16]), "{}", r.text());
    assert_eq!(r.json()["code"], "KEEL_SERVER_NOT_FOUND");
    // None of the refused jobs exists.
    for id in ["b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"] {
        assert_eq!(
            get(s.addr, &format!("/jobs/{id}")).await.status,
            404,
            "{id}"
        );
    }
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kinds_jobs_and_routes_are_404_and_wrong_methods_405() {
    let s = start(options()).await;
    let r = post_json(s.addr, &json!({"kind":"agent","jobId":"x"})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown job kind 'agent'");
    let r = post_json(s.addr, &json!({"jobId":"x"})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown job kind 'undefined'");
    let r = get(s.addr, "/jobs/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error":"job not found","code":"KEEL_SERVER_NOT_FOUND"})
    );
    let r = request(s.addr, "DELETE", "/jobs/nope", &[], None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "job not found");
    let r = get(s.addr, "/elsewhere").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not found");
    let r = get(s.addr, "/jobs").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(r.json()["error"], "method not allowed");
    let r = request(s.addr, "POST", "/health", &[], Some(b"{}")).await;
    assert_eq!(r.status, 405);
    // A percent-encoded id is decoded.
    post_json(
        s.addr,
        &json!({"kind":"command","jobId":"a b/c","cmd":"true"}),
    )
    .await;
    let r = get(s.addr, "/jobs/a%20b%2Fc").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], "a b/c");
    let r = get(s.addr, "/jobs/%FF").await;
    assert_eq!(r.status, 400, "{}", r.text());
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_declared_or_streamed() {
    let mut o = options();
    o.max_body_bytes = 1024;
    let s = start(o).await;
    let big = json!({"kind":"command","jobId":"big","cmd":"true","args":["x".repeat(2000)]});
    let r = post_json(s.addr, &big).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["code"], "KEEL_SERVER_BODY_TOO_LARGE");
    // Chunked, no Content-Length: the limit holds while streaming.
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let payload = serde_json::to_vec(&big).unwrap();
    let mut req = b"POST /jobs HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in payload.chunks(300) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let _ = c.write_all(&req).await;
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw).await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    // Just under the limit is fine.
    let small = json!({"kind":"command","jobId":"small","cmd":"true","args":["x".repeat(900)]});
    assert_eq!(post_json(s.addr, &small).await.status, 202);
    assert_eq!(get(s.addr, "/jobs/big").await.status, 404);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_stalls_gets_408() {
    let mut o = options();
    o.request_timeout_ms = 400;
    let s = start(o).await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // Headers promise a body that never comes.
    c.write_all(b"POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), c.read(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("KEEL_SERVER_TIMEOUT"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_aborts_a_running_job_kills_its_tree_and_answers_the_state_reached() {
    let dir = tempfile::tempdir().unwrap();
    let pidf = dir.path().join("pid");
    let s = start(options()).await;
    let r = post_json(
        s.addr,
        &json!({"kind":"command","jobId":"long","cmd":"sh",
            "args":["-c", format!("sleep 300 & echo $! > '{}'; wait", pidf.display())]}),
    )
    .await;
    assert_eq!(r.status, 202);
    let grandchild = read_pid(&pidf).await;
    assert!(alive(grandchild));
    let r = request(s.addr, "DELETE", "/jobs/long", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"jobId":"long","state":"failed"}));
    assert!(
        !alive(grandchild),
        "grandchild {grandchild} survived the abort"
    );
    let v = get(s.addr, "/jobs/long").await.json();
    assert_eq!(v["failureCause"], "aborted", "{v}");
    // Deleting a finished job reports its state again.
    let r = request(s.addr, "DELETE", "/jobs/long", &[], None).await;
    assert_eq!(r.json(), json!({"jobId":"long","state":"failed"}));
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_job_watchdog_windows_kill_and_are_counted_in_metrics() {
    let s = start(options()).await;
    let r = post_json(
        s.addr,
        &json!({"kind":"command","jobId":"quiet","cmd":"sleep","args":["300"],"inactivityMs":300,"killGraceMs":500}),
    )
    .await;
    assert_eq!(r.status, 202);
    let v = wait_done(s.addr, "quiet").await;
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["failureCause"], "inactivity-timeout", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("Aborted: no agent activity for 300ms"),
        "{v}"
    );
    // A chatty job is not killed by the same window.
    let r = post_json(
        s.addr,
        &json!({"kind":"command","jobId":"chatty","cmd":"sh",
            "args":["-c","for i in 1 2 3 4 5 6; do echo $i; sleep 0.1; done"],"inactivityMs":2000}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(wait_done(s.addr, "chatty").await["state"], "done");
    let m = get(s.addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = m.text();
    assert!(
        text.contains("keel_watchdog_kills_total{kind=\"command\",cause=\"inactivity-timeout\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("keel_jobs{kind=\"command\",state=\"failed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("keel_jobs{kind=\"command\",state=\"done\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("keel_http_request_duration_seconds_count{route=\"/jobs\"} 2"),
        "{text}"
    );
    assert!(text.contains("keel_http_requests_total{route=\"/jobs\",code=\"202\"} 2"));
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_watchdogs_from_the_limits_apply_to_every_job() {
    let mut limits = RegistryOptions::default();
    limits.inactivity_ms = Some(300);
    let s = start_with(Server::builder(options()).default_kinds(&limits).unwrap()).await;
    post_json(
        s.addr,
        &json!({"kind":"command","jobId":"r1","cmd":"sleep","args":["300"],"killGraceMs":500}),
    )
    .await;
    let v = wait_done(s.addr, "r1").await;
    assert_eq!(v["failureCause"], "inactivity-timeout", "{v}");
    let text = get(s.addr, "/metrics").await.text();
    assert!(
        text.contains("keel_watchdog_kills_total{kind=\"command\",cause=\"inactivity-timeout\"} 1"),
        "{text}"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_every_route_the_server_answers() {
    let s = start(options()).await;
    let r = get(s.addr, "/openapi.json").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["openapi"], "3.1.0");
    let paths = v["paths"].as_object().unwrap();
    for (p, m) in [
        ("/health", "get"),
        ("/jobs", "post"),
        ("/jobs/{id}", "get"),
        ("/jobs/{id}", "delete"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(paths[p][m].is_object(), "{p} {m}");
    }
    assert_eq!(paths.len(), 5);
    s.shutdown().await.unwrap();
}

/// A host registers its own kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_kind_is_dispatched_by_name() {
    let builder = JobRegistry::builder(|n: u64, ctx: keel_core::jobs::JobContext| async move {
        ctx.phase("square");
        if n > 1000 {
            return Err(WorkError::agent("too big"));
        }
        Ok(json!({ "square": n * n }))
    });
    let kind = RegistryKind::new(builder, |mut body| {
        let id = take_job_id(&mut body)?;
        let n = body.get("n").and_then(Value::as_u64).ok_or_else(|| {
            keel_server::kinds::KindError::new("KEEL_INVALID_JSON", "body.n must be a number")
        })?;
        Ok((id, n))
    })
    .unwrap();
    let s = start_with(Server::builder(options()).kind("square", kind).unwrap()).await;
    assert_eq!(
        get(s.addr, "/health").await.json()["kinds"],
        json!(["square"])
    );
    let r = post_json(s.addr, &json!({"kind":"square","jobId":"s1","n":12})).await;
    assert_eq!(r.status, 202);
    let v = wait_done(s.addr, "s1").await;
    assert_eq!(v["result"], json!({"square":144}));
    let r = post_json(s.addr, &json!({"kind":"square","jobId":"s2","n":"x"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "body.n must be a number");
    let r = post_json(s.addr, &json!({"kind":"command","jobId":"c","cmd":"true"})).await;
    assert_eq!(r.status, 404);
    // Duplicate and bad names are refused.
    let again = RegistryKind::new(
        JobRegistry::builder(|_: (), _| async { Ok(()) }),
        |mut b| Ok((take_job_id(&mut b)?, ())),
    )
    .unwrap();
    assert!(Server::builder(options()).kind("bad name", again).is_err());
    s.shutdown().await.unwrap();
}

struct FakeServices {
    body: std::sync::Mutex<Vec<u8>>,
}

impl ManagedProcesses for FakeServices {
    fn list(&self) -> Result<ManagedList, String> {
        let body = self.body.lock().unwrap().clone();
        Ok(ManagedList {
            etag: format!(
                "{:x}",
                body.len() * 31 + body.iter().map(|&b| b as usize).sum::<usize>()
            ),
            body,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_processes_answers_304_for_a_matching_etag() {
    let fake = std::sync::Arc::new(FakeServices {
        body: std::sync::Mutex::new(br#"{"processes":[]}"#.to_vec()),
    });
    struct Shared(std::sync::Arc<FakeServices>);
    impl ManagedProcesses for Shared {
        fn list(&self) -> Result<ManagedList, String> {
            self.0.list()
        }
    }
    let s = start_with(Server::builder(options()).managed_processes(Shared(fake.clone()))).await;
    let r = get(s.addr, "/managed-processes").await;
    assert_eq!(r.status, 200);
    let etag = r.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(r.json(), json!({"processes":[]}));
    let r = request(
        s.addr,
        "GET",
        "/managed-processes",
        &[("if-none-match", &etag)],
        None,
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let weak = format!("\"other\", W/{etag}");
    let r = request(
        s.addr,
        "GET",
        "/managed-processes",
        &[("if-none-match", &weak)],
        None,
    )
    .await;
    assert_eq!(r.status, 304);
    *fake.body.lock().unwrap() = br#"{"processes":[{"name":"web"}]}"#.to_vec();
    let r = request(
        s.addr,
        "GET",
        "/managed-processes",
        &[("if-none-match", &etag)],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    assert!(get(s.addr, "/health").await.json()["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("managed-processes")));
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let mut o = options();
    o.max_connections = 1;
    let s = start(o).await;
    let hog = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // Give the server time to accept the hog.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn(async move { get(s.addr, "/health").await.status });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a second connection was served");
    drop(hog);
    let status = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("served once the first closed")
        .unwrap();
    assert_eq!(status, 200);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_refuse_an_open_non_loopback_bind_and_hide_the_secret() {
    let mut o = options();
    o.bind_host = "0.0.0.0".into();
    let e = Server::builder(o.clone()).bind().await.unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_OPTION");
    assert!(e.to_string().contains("bindHost"), "{e}");
    o.shared_secret = Some(SECRET.into());
    assert!(!format!("{o:?}").contains(SECRET));
    o.bind_host = "not an ip".into();
    assert_eq!(
        Server::builder(o).bind().await.unwrap_err().code(),
        "KEEL_INVALID_OPTION"
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = options();
    o.port = busy.local_addr().unwrap().port();
    assert_eq!(
        Server::builder(o).bind().await.unwrap_err().code(),
        "KEEL_SERVER_BIND"
    );
    let e = keel_server::ServerOptions::from_lookup(|k| (k == "PORT").then(|| "http".into()))
        .unwrap_err();
    assert_eq!(e.path(), "PORT");
    for code in keel_server::sample_codes() {
        assert!(keel_core::codes::number(code).is_some(), "{code}");
    }
}

/// `/managed-processes` over a state file others may write (0666) or that is not JSON:
/// the 500 carries core's real code (`KEEL_INSECURE_FILE`, `KEEL_MALFORMED_STATE`), not
/// a blanket `KEEL_IO`, and a readable file again answers 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_processes_errors_carry_the_real_code() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(keel_core::services::MANAGED_PROCESSES_STATE_FILE);
    keel_core::fsx::write_atomic(&path, br#"{"specs":[]}"#).unwrap();
    let s = start_with(
        Server::builder(options())
            .managed_processes(keel_server::StateDirServices::new(dir.path())),
    )
    .await;
    assert_eq!(get(s.addr, "/managed-processes").await.status, 200);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = get(s.addr, "/managed-processes").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["code"],
        json!("KEEL_INSECURE_FILE"),
        "{:?}",
        r.json()
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(get(s.addr, "/managed-processes").await.status, 200);

    keel_core::fsx::write_atomic(&path, b"{not json").unwrap();
    let r = get(s.addr, "/managed-processes").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["code"],
        json!("KEEL_MALFORMED_STATE"),
        "{:?}",
        r.json()
    );
}

/// `/managed-processes` over a real services state directory: minions' records with
/// keel's health, the list's ETag (304 on a match, a new tag after a change), the
/// `?project=` filter, the `env` of a record never shown, `keel_services{health}` in
/// `/metrics`, and the route in `/openapi.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_processes_over_a_state_dir_serves_views_etags_and_health_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let me = std::process::id();
    let start_time = keel_core::process::PidRecord::capture(me)
        .unwrap()
        .start_time;
    let write = |specs: Value| {
        keel_core::fsx::write_atomic(
            &dir.path()
                .join(keel_core::services::MANAGED_PROCESSES_STATE_FILE),
            json!({ "specs": specs }).to_string().as_bytes(),
        )
        .unwrap();
    };
    write(json!([
        {"name": "web", "pid": me, "owner_project": "p1", "healthy": true, "alive": true,
         "env": {"API_TOKEN": "tok-managed-9f3c1e"}, "cmd": "node", "args": ["server.js"],
         "keel": {"pidStartTime": start_time, "health": "healthy"}},
        {"name": "db", "pid": 4_194_000u32, "owner_project": "p2", "healthy": false,
         "alive": false, "keel": {"pidStartTime": 1, "health": "unhealthy"}}
    ]));
    let s = start_with(
        Server::builder(options())
            .managed_processes(keel_server::StateDirServices::new(dir.path())),
    )
    .await;
    let r = get(s.addr, "/managed-processes").await;
    assert_eq!(r.status, 200);
    assert!(!String::from_utf8_lossy(&r.body).contains("tok-managed-9f3c1e"));
    let v = r.json();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "db"]);
    assert_eq!(v[0]["alive"], true);
    assert_eq!(v[0]["health"], "healthy");
    assert_eq!(v[1]["alive"], false);
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(
        etag,
        format!(
            "\"{}\"",
            keel_core::services::etag(dir.path(), None).unwrap()
        )
    );
    let r = request(
        s.addr,
        "GET",
        "/managed-processes",
        &[("if-none-match", &etag)],
        None,
    )
    .await;
    assert_eq!(r.status, 304);
    // One project's list has its own tag.
    let r = get(s.addr, "/managed-processes?project=p%31").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["name"], "web");
    assert_ne!(r.header("etag").unwrap(), etag);
    // Health gauges.
    let m = String::from_utf8(get(s.addr, "/metrics").await.body).unwrap();
    assert!(m.contains("keel_services{health=\"healthy\"} 1"), "{m}");
    assert!(m.contains("keel_services_up 1"), "{m}");
    // A change gives a new tag: the old one no longer matches.
    write(json!([]));
    let r = request(
        s.addr,
        "GET",
        "/managed-processes",
        &[("if-none-match", &etag)],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([]));
    let m = String::from_utf8(get(s.addr, "/metrics").await.body).unwrap();
    assert!(m.contains("keel_services{health=\"healthy\"} 0"), "{m}");
    // An unreadable state file is a redacted 500, not a crash.
    std::fs::write(
        dir.path()
            .join(keel_core::services::MANAGED_PROCESSES_STATE_FILE),
        b"{not json tok-managed-9f3c1e",
    )
    .unwrap();
    let r = get(s.addr, "/managed-processes").await;
    assert_eq!(r.status, 500);
    assert!(!String::from_utf8_lossy(&r.body).contains("tok-managed"));
    let m = String::from_utf8(get(s.addr, "/metrics").await.body).unwrap();
    assert!(m.contains("keel_services_up 0"), "{m}");
    // The route is documented only when it is served.
    let doc = get(s.addr, "/openapi.json").await.json();
    assert!(doc["paths"]["/managed-processes"]["get"].is_object());
    s.shutdown().await.unwrap();
}

/// A `turn` job runs keel's turn runner over HTTP against the core tests' fake agent CLI
/// (Claude stream-json): 202, then a finished view whose text never holds the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_job_runs_a_fake_agent_cli_to_its_result() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/turns/fake_agent.py");
    let bin = tmp.path().join("fake-agent");
    std::fs::write(
        &bin,
        format!("#!/bin/sh\nexec python3 {} \"$@\"\n", fixture.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = "sk-ant-api03-SERVERTURNsecret0123456789abcdefABCD";
    let s = start(options()).await;
    let r = post_json(
        s.addr,
        &json!({"kind": "turn", "jobId": "t1", "agentName": "bob", "runtime": "claude",
                "stateDir": tmp.path().join("state"), "input": "do the work",
                "bin": bin, "env": {"FAKE_MODE": "ok", "FAKE_SECRET": secret},
                "secrets": [secret]}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let view = wait_done(s.addr, "t1").await;
    assert_eq!(view["state"], "done", "{view}");
    assert!(!view.to_string().contains(secret), "{view}");
    s.shutdown().await.unwrap();
}
