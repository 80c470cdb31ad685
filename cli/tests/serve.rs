//! `keel serve`: the binary binds, prints its address, tells systemd READY=1, gates on
//! the secret file, and on SIGTERM aborts running jobs (no process left) and exits 0.
#![cfg(feature = "server")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "serve-secret-7c1e9b2a44";

fn spawn(args: &[&str], env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keel"));
    c.arg("serve")
        .args(args)
        .env_remove("HARNESS_SHARED_SECRET")
        .env_remove("HARNESS_BIND_HOST")
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            st != "Z" && st != "X"
        })
        .unwrap_or(false)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "keel serve did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_pid(path: &Path) -> u32 {
    for _ in 0..400 {
        if let Ok(Ok(p)) = std::fs::read_to_string(path).map(|s| s.trim().parse()) {
            return p;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("no pid in {}", path.display());
}

#[test]
fn serves_notifies_systemd_and_exits_0_on_sigterm_killing_running_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (mut child, addr) = spawn(
        &[
            "--shared-secret-file",
            secret_file.to_str().unwrap(),
            "--shutdown-grace",
            "10s",
        ],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.starts_with("READY=1\n"), "{msg}");
    assert!(msg.contains(&addr.to_string()), "{msg}");

    let (st, body) = http(addr, "GET", "/health", "", "");
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""));
    // The secret from the file (without its newline) gates the job routes.
    let (st, _) = http(addr, "GET", "/metrics", "", "");
    assert_eq!(st, 401);
    let auth = format!("x-harness-secret: {SECRET}\r\n");
    let pidf = dir.path().join("pid");
    let job = format!(
        r#"{{"kind":"command","jobId":"j1","cmd":"sh","args":["-c","sleep 300 & echo $! > '{}'; wait"]}}"#,
        pidf.display()
    );
    let (st, body) = http(addr, "POST", "/jobs", &auth, &job);
    assert_eq!(st, 202, "{body}");
    let grandchild = read_pid(&pidf);
    assert!(alive(grandchild));

    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        !alive(grandchild),
        "the job's process {grandchild} outlived keel serve"
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains(SECRET), "{err}");
    // STOPPING=1 follows.
    let n = sock.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("STOPPING=1"));
}

#[test]
fn env_names_are_honoured_and_flags_override_them() {
    let (mut child, addr) = spawn(
        &["--port", "0"],
        &[("PORT", "1"), ("HARNESS_SHARED_SECRET", SECRET)],
    );
    let (st, _) = http(addr, "GET", "/openapi.json", "", "");
    assert_eq!(st, 401);
    let (st, body) = http(
        addr,
        "GET",
        "/openapi.json",
        &format!("x-harness-secret: {SECRET}\r\n"),
        "",
    );
    assert_eq!(st, 200);
    assert!(body.contains("\"openapi\""));
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(0)
    );
}

#[test]
fn refuses_a_readable_secret_file_an_open_bind_and_a_busy_port() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secret");
    std::fs::write(&f, SECRET).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("serve")
            .args(args)
            .env_remove("HARNESS_SHARED_SECRET")
            .env("PORT", "0")
            .output()
            .unwrap()
    };
    let out = run(&["--shared-secret-file", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[KEEL_INSECURE_FILE]"), "{err}");
    assert!(!err.contains(SECRET));
    let out = run(&["--bind", "0.0.0.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[KEEL_INVALID_OPTION]"));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = run(&["--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[KEEL_SERVER_BIND]"));
    let out = run(&["--port", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}
