//! `keel supervise` and `keel service`: the binary against real processes — a failing
//! command replenished with backoff, SIGTERM draining (exit 0) during a backoff and
//! during a run with no process left behind, a fake actions/runner pair, service files
//! and health captures.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Child {
    let mut c = Command::new(KEEL);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.spawn().expect("spawn keel")
}

/// Read stderr lines until one contains `needle`; returns the lines read.
fn wait_for(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    needle: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        let hit = l.contains(needle);
        seen.push(l);
        if hit {
            return seen;
        }
    }
    panic!("{needle:?} never appeared: {seen:?}");
}

fn sigterm_and_wait(child: &mut Child) -> (Duration, i32) {
    signal_and_wait(child, 15)
}

fn signal_and_wait(child: &mut Child, signal: i32) -> (Duration, i32) {
    let t = Instant::now();
    // SAFETY: signalling our own child.
    unsafe {
        libc_kill(child.id() as i32, signal);
    }
    let status = child.wait().unwrap();
    (t.elapsed(), status.code().unwrap_or(-1))
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Live processes whose environment has `KEEL_SV_MARK=<mark>` (a /proc scan).
fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("KEEL_SV_MARK={mark}");
    let mut out = Vec::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let zombie = stat
            .rfind(')')
            .map(|i| stat[i + 1..].trim_start().starts_with('Z'))
            .unwrap_or(false);
        if zombie {
            continue;
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                out.push(pid);
            }
        }
    }
    out
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn supervise_command_backs_off_and_drains_on_sigterm_during_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    let cmd = format!("echo run >> '{}'; exit 3", log.display());
    let mut child = spawn(
        &[
            "supervise",
            "command",
            "--backoff-base",
            "100ms",
            "--backoff-max",
            "400ms",
            "--json",
            "--",
            "sh",
            "-c",
            &cmd,
        ],
        &[],
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = wait_for(&mut lines, "\"attempt\":4");
    let (took, code) = sigterm_and_wait(&mut child);
    seen.extend(lines.map(|l| l.unwrap()));
    assert_eq!(code, 0, "{seen:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let events: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let delays: Vec<u64> = events
        .iter()
        .filter(|e| e["state"] == "backing-off")
        .map(|e| e["delayMs"].as_u64().unwrap())
        .collect();
    // 100, 200, 400, 400 ms with up to 20% jitter below
    for (d, ceil) in delays.iter().zip([100u64, 200, 400, 400]) {
        assert!(*d <= ceil && *d >= ceil * 8 / 10 - 1, "{delays:?}");
    }
    assert!(events
        .iter()
        .any(|e| e["reason"] == "worker exited with code 3"));
    assert_eq!(events.last().unwrap()["state"], "offline");
    assert!(events
        .iter()
        .all(|e| e["at"].as_u64().unwrap() > 1_600_000_000_000));
    let runs = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(runs >= 4, "{runs}");
}

/// Ctrl-C (SIGINT) drains `keel supervise` like SIGTERM: exit 0 within the backoff, the
/// last event `offline`.
#[test]
fn supervise_command_drains_on_sigint_like_sigterm() {
    let mut child = spawn(
        &[
            "supervise",
            "command",
            "--backoff-base",
            "10s",
            "--json",
            "--",
            "sh",
            "-c",
            "exit 3",
        ],
        &[],
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = wait_for(&mut lines, "backing-off");
    let (took, code) = signal_and_wait(&mut child, 2);
    seen.extend(lines.map(|l| l.unwrap()));
    assert_eq!(code, 0, "{seen:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let last: serde_json::Value = serde_json::from_str(seen.last().unwrap()).unwrap();
    assert_eq!(last["state"], "offline", "{seen:?}");
}

#[test]
fn supervise_command_sigterm_during_a_run_stops_the_whole_tree() {
    let mark = format!("cli-run-{}", std::process::id());
    let mut child = spawn(
        &[
            "supervise",
            "command",
            "--grace",
            "500ms",
            "--",
            "sh",
            "-c",
            "trap '' TERM; sleep 300 & sleep 300; wait",
        ],
        &[("KEEL_SV_MARK", &mark)],
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    wait_for(&mut lines, "slot 0 running");
    let t0 = Instant::now();
    // keel itself carries the mark too: wait for keel + sh + two sleeps
    while marked(&mark).len() < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{:?}",
            marked(&mark)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (took, code) = sigterm_and_wait(&mut child);
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(code, 0, "{rest:?}");
    assert!(
        took < Duration::from_millis(500) + Duration::from_secs(1),
        "{took:?}"
    );
    assert!(rest.iter().any(|l| l.contains("offline")), "{rest:?}");
    assert_eq!(marked(&mark), Vec::<u32>::new());
}

#[test]
fn supervise_actions_runner_replenishes_with_fresh_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    script(
        &d.join("config.sh"),
        "#!/bin/sh\ndir=$(cd \"$(dirname \"$0\")\" && pwd)\necho \"$*\" >> \"$dir/config.log\"\n\
[ -f \"$dir/.runner\" ] && { echo 'already configured'; exit 1; }\n\
prev=''; for a in \"$@\"; do [ \"$prev\" = --token ] && echo \"using $a\"; prev=$a; done\n\
touch \"$dir/.runner\" \"$dir/.credentials\"\nexit 0\n",
    );
    script(
        &d.join("run.sh"),
        "#!/bin/sh\ndir=$(cd \"$(dirname \"$0\")\" && pwd)\necho job >> \"$dir/jobs\"\n\
[ -f \"$dir/leave-stale\" ] || rm -f \"$dir/.runner\" \"$dir/.credentials\"\nsleep 0.1\nexit 0\n",
    );
    // stale registration from an unclean stop: removed before the first config.sh
    std::fs::write(d.join(".runner"), "{}").unwrap();
    std::fs::write(d.join(".credentials_rsaparams"), "{}").unwrap();
    let counter = d.join("n");
    let token_cmd = format!(
        "n=$(cat '{c}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{c}'; echo RUNNERTOKEN-secret-$n",
        c = counter.display()
    );
    let url = "https://github.com/acme/app";
    let mut child = spawn(
        &[
            "supervise",
            "actions-runner",
            "--runner-dir",
            d.to_str().unwrap(),
            "--url",
            url,
            "--token-command",
            &token_cmd,
            "--name-prefix",
            "bh",
            "--labels",
            "self-hosted,linux",
        ],
        &[],
    );
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    });
    let t0 = Instant::now();
    loop {
        let jobs = std::fs::read_to_string(d.join("jobs")).unwrap_or_default();
        if jobs.lines().count() >= 5 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "only {} jobs",
            jobs.lines().count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, code) = sigterm_and_wait(&mut child);
    let err = reader.join().unwrap();
    assert_eq!(code, 0, "{err:?}");
    let log = std::fs::read_to_string(d.join("config.log")).unwrap();
    let tokens: Vec<&str> = log
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            w[w.iter().position(|x| *x == "--token").unwrap() + 1]
        })
        .collect();
    assert!(tokens.len() >= 5);
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(
            *t,
            format!("RUNNERTOKEN-secret-{}", i + 1),
            "a token was reused"
        );
    }
    assert!(log
        .lines()
        .all(|l| l.contains("--name bh-") && l.ends_with("--labels self-hosted,linux --replace")));
    assert!(!d.join(".credentials_rsaparams").exists());
    let all = err.join("\n");
    assert!(
        !all.contains("RUNNERTOKEN-secret"),
        "token leaked to stderr:\n{all}"
    );
    assert!(all.contains("slot 0 running"));
}

#[test]
fn service_files_and_status() {
    let out = Command::new(KEEL)
        .args([
            "service",
            "unit",
            "--",
            "/usr/local/bin/keel",
            "supervise",
            "command",
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let unit = String::from_utf8(out.stdout).unwrap();
    assert!(unit.contains("Type=notify\n") && unit.contains("WatchdogSec=60s\n"));
    assert!(unit.contains("ExecStart=/usr/local/bin/keel supervise command -- /bin/true\n"));
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keel-supervisor.service");
        // verify needs an existing program
        std::fs::write(&p, unit.replace("/usr/local/bin/keel", "/bin/sh")).unwrap();
        let v = Command::new("/usr/bin/systemd-analyze")
            .arg("verify")
            .arg(&p)
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    }

    let out = Command::new(KEEL)
        .args([
            "service",
            "plist",
            "--system",
            "--",
            "/usr/local/bin/keel",
            "supervise",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let plist = String::from_utf8(out.stdout).unwrap();
    assert!(plist.contains(
        "<string>/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin</string>"
    ));
    assert!(plist.contains("<key>HOME</key>\n    <string>/var/_keel</string>"));

    // a relative program is a usage-level failure with the field named
    let out = Command::new(KEEL)
        .args(["service", "unit", "--", "keel"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("execStart"));

    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("show.txt");
    std::fs::write(
        &cap,
        "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nExecMainCode=1\nExecMainStatus=1\n",
    )
    .unwrap();
    let out = Command::new(KEEL)
        .args([
            "service",
            "status",
            "--json",
            "--systemctl-output",
            cap.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["health"]["state"], "spawn-scheduled");
    assert_eq!(v["health"]["lastExitCode"], 1);
    assert_eq!(v["check"]["status"], "fail");

    std::fs::write(&cap, "gui/501/x = {\n\tstate = running\n\tpid = 7\n}\n").unwrap();
    let out = Command::new(KEEL)
        .args([
            "service",
            "status",
            "--launchctl-output",
            cap.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pass: "));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["supervise", "command"][..],
        &[
            "supervise",
            "command",
            "--backoff-base",
            "fast",
            "--",
            "true",
        ],
        &["supervise", "actions-runner", "--url", "https://x"],
    ] {
        let out = Command::new(KEEL).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    // a zero base is refused by core with the field named
    let out = Command::new(KEEL)
        .args(["supervise", "command", "--backoff-base", "0", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backoffBaseMs"));
}

/// `keel service status` asking the real service manager path: a fake `systemctl` on PATH
/// records its argv and answers with a capture. `--after` is the installer's check (the
/// reference's `join` reported success over a crash-looping daemon): it waits, then fails
/// loudly with KEEL_SERVICE_NOT_STARTED.
#[test]
fn service_status_asks_systemctl_and_after_reports_a_crash_loop_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let answer = dir.path().join("answer");
    let argv = dir.path().join("argv");
    script(
        &bin.join("systemctl"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\ncat '{}'\n",
            argv.display(),
            answer.display()
        ),
    );
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let status = |args: &[&str], path: &str| {
        let t = Instant::now();
        let out = Command::new(KEEL)
            .args(["service", "status"])
            .args(args)
            .env("PATH", path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            t.elapsed(),
        )
    };
    let argv_lines = || -> Vec<String> {
        std::fs::read_to_string(&argv)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };

    // running: pass, exit 0, both with and without --after
    std::fs::write(
        &answer,
        "MainPID=812\nLoadState=loaded\nActiveState=active\nSubState=running\nExecMainCode=0\nExecMainStatus=0\n",
    )
    .unwrap();
    let (code, out, err, _) = status(&["--unit", "hive.service"], &path);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("pass: "), "{out}");
    let (code, out, err, took) = status(&["--after", "300ms", "--system", "--json"], &path);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["health"]["pid"], 812);
    assert_eq!(v["check"]["status"], "pass");
    let calls = argv_lines();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("--user show hive.service --property=LoadState,"),
        "{calls:?}"
    );
    assert!(
        calls[1].starts_with("show keel-supervisor.service --property="),
        "{calls:?}"
    );

    // crash-looping (auto-restart, last exit 1): plain status fails with the fix text;
    // --after fails loudly on stderr with the code, after the wait
    std::fs::write(
        &answer,
        "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nExecMainCode=1\nExecMainStatus=1\nNRestarts=9\n",
    )
    .unwrap();
    let (code, out, err, _) = status(&[], &path);
    assert_eq!(code, Some(1));
    assert!(
        out.starts_with("FAIL: ") && out.contains("  fix: "),
        "{out}"
    );
    assert!(!err.contains("KEEL_SERVICE_NOT_STARTED"), "{err}");
    let (code, out, err, took) = status(&["--after", "300ms"], &path);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(out.contains("last exit code = 1"), "{out}");
    assert!(
        err.contains("the service did not start cleanly")
            && err.contains("last exit code = 1")
            && err.contains("[KEEL_SERVICE_NOT_STARTED]"),
        "{err}"
    );
    // not loaded at all: loud too
    std::fs::write(
        &answer,
        "LoadState=not-found\nActiveState=inactive\nSubState=dead\n",
    )
    .unwrap();
    let (code, _, err, _) = status(&["--after", "0s"], &path);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("service not loaded [KEEL_SERVICE_NOT_STARTED]"),
        "{err}"
    );

    // no service manager: a coded error naming it, not a panic
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err, _) = status(&["--after", "10ms"], empty.to_str().unwrap());
    assert_eq!(code, Some(1));
    assert!(
        err.contains("systemctl") && err.contains("[KEEL_SERVICE_MANAGER_FAILED]"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // an unreadable capture names the file
    let (code, _, err, _) = status(&["--systemctl-output", "/nonexistent/cap"], &path);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/cap"), "{err}");
    let (code, _, _, _) = status(&["--after", "soon"], &path);
    assert_eq!(code, Some(2));
}

/// Under systemd (`Type=notify` + `WatchdogSec=` in the generated unit) the binary talks
/// to `$NOTIFY_SOCKET`: READY=1 once the first registration succeeded, WATCHDOG=1 every
/// WATCHDOG_USEC/2 when WATCHDOG_PID is keel's own pid, STOPPING=1 on SIGTERM. The test
/// binds the datagram socket itself; `exec` gives WATCHDOG_PID the pid systemd would set.
#[test]
fn supervise_talks_sd_notify_to_a_real_socket() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let recv_all = |sock: &UnixDatagram, until: Duration, stop: &dyn Fn(&[String]) -> bool| {
        let mut got = Vec::new();
        let t0 = Instant::now();
        let mut buf = [0u8; 512];
        while t0.elapsed() < until && !stop(&got) {
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            if let Ok(n) = sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        got
    };
    let mark = format!("cli-notify-{}", std::process::id());
    let launch = |watchdog_pid: &str| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "WATCHDOG_PID={watchdog_pid} exec \"$0\" supervise command --grace 200ms -- sleep 300"
            ))
            .arg(KEEL)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "200000")
            .env("KEEL_SV_MARK", &mark)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };

    // WATCHDOG_PID is keel's pid ($$ before exec): READY, then pings every ~100 ms
    let mut child = launch("$$");
    let got = recv_all(&sock, Duration::from_secs(20), &|g| {
        g.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3
            && g.iter().any(|m| m.starts_with("READY=1"))
    });
    assert!(
        got.iter().any(|m| m == "READY=1\nSTATUS=registered"),
        "{got:?}"
    );
    assert!(
        got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3,
        "{got:?}"
    );
    let (_, code) = sigterm_and_wait(&mut child);
    assert_eq!(code, 0);
    let tail = recv_all(&sock, Duration::from_secs(2), &|g| {
        g.iter().any(|m| m.starts_with("STOPPING=1"))
    });
    assert!(tail.iter().any(|m| m.starts_with("STOPPING=1")), "{tail:?}");
    assert_eq!(marked(&mark), Vec::<u32>::new());

    // WATCHDOG_PID names another process: READY still, but no pings (they are not ours)
    let mut child = launch("1");
    let got = recv_all(&sock, Duration::from_secs(20), &|g| {
        g.iter().any(|m| m.starts_with("READY=1"))
    });
    assert!(got.iter().any(|m| m.starts_with("READY=1")), "{got:?}");
    let more = recv_all(&sock, Duration::from_millis(600), &|_| false);
    assert!(!more.iter().any(|m| m == "WATCHDOG=1"), "{more:?}");
    let (_, code) = sigterm_and_wait(&mut child);
    assert_eq!(code, 0);
    assert_eq!(marked(&mark), Vec::<u32>::new());
}

/// `--pool 3`: slot i runs in RUNNER_DIR/slot-i with its own runner; slot 1's config.sh
/// always fails, and slots 0 and 2 keep replenishing regardless. SIGTERM drains every
/// slot (exit 0) and leaves no process behind.
#[test]
fn supervise_actions_runner_pool_slots_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good_config = "#!/bin/sh\ndir=$(cd \"$(dirname \"$0\")\" && pwd)\necho \"$*\" >> \"$dir/config.log\"\n\
[ -f \"$dir/.runner\" ] && { echo 'already configured'; exit 1; }\ntouch \"$dir/.runner\"\nexit 0\n";
    let bad_config =
        "#!/bin/sh\ndir=$(cd \"$(dirname \"$0\")\" && pwd)\necho \"$*\" >> \"$dir/config.log\"\n\
echo 'Http response code: NotFound' >&2\nexit 1\n";
    let run =
        "#!/bin/sh\ndir=$(cd \"$(dirname \"$0\")\" && pwd)\necho \"job $(pwd)\" >> \"$dir/jobs\"\n\
rm -f \"$dir/.runner\"\nsleep 0.1\nexit 0\n";
    for i in 0..3 {
        let s = d.join(format!("slot-{i}"));
        std::fs::create_dir(&s).unwrap();
        script(
            &s.join("config.sh"),
            if i == 1 { bad_config } else { good_config },
        );
        script(&s.join("run.sh"), run);
    }
    let mark = format!("cli-pool-{}", std::process::id());
    let mut child = spawn(
        &[
            "supervise",
            "actions-runner",
            "--pool",
            "3",
            "--runner-dir",
            d.to_str().unwrap(),
            "--url",
            "https://github.com/acme/app",
            "--token-command",
            "echo POOLTOKEN-$$",
            "--name-prefix",
            "pool",
            "--backoff-base",
            "100ms",
            "--backoff-max",
            "200ms",
            "--json",
        ],
        &[("KEEL_SV_MARK", &mark)],
    );
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    });
    let jobs = |i: u32| {
        std::fs::read_to_string(d.join(format!("slot-{i}/jobs")))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let configs = |i: u32| {
        std::fs::read_to_string(d.join(format!("slot-{i}/config.log")))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let t0 = Instant::now();
    while jobs(0) < 3 || jobs(2) < 3 || configs(1).len() < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "jobs {} {} {}, slot-1 config runs {}",
            jobs(0),
            jobs(1),
            jobs(2),
            configs(1).len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (took, code) = sigterm_and_wait(&mut child);
    let err = reader.join().unwrap();
    assert_eq!(code, 0, "{err:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(jobs(1), 0);
    // each slot's run.sh ran in its own directory
    for i in [0, 2] {
        let j = std::fs::read_to_string(d.join(format!("slot-{i}/jobs"))).unwrap();
        let want = format!("job {}", d.join(format!("slot-{i}")).display());
        assert!(j.lines().all(|l| l == want), "{j}");
    }
    // every config.sh run got its own token and its own runner name
    let all: Vec<String> = (0..3).flat_map(configs).collect();
    let mut names: Vec<&str> = all
        .iter()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            w[w.iter().position(|x| *x == "--name").unwrap() + 1]
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "{all:?}");
    assert!(names.iter().all(|n| n.starts_with("pool-")));
    let events: Vec<serde_json::Value> = err
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let of = |slot: u64, state: &str| {
        events
            .iter()
            .filter(|e| e["slot"] == slot && e["state"] == state)
            .count()
    };
    assert!(of(1, "backing-off") >= 2, "{err:?}");
    assert_eq!(of(1, "running"), 0);
    assert!(of(0, "running") >= 3 && of(2, "running") >= 3, "{err:?}");
    for slot in 0..3 {
        assert_eq!(of(slot, "offline"), 1, "slot {slot}: {err:?}");
    }
    assert!(!err.join("\n").contains("POOLTOKEN"), "token leaked");
    assert_eq!(marked(&mark), Vec::<u32>::new());
}
