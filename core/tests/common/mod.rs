//! Helpers shared by the integration tests: run a role of this very test binary in
//! a child process.
//!
//! Each test binary has a test named `child_process_entry` that does nothing in a
//! normal run. Started with `KEEL_TEST_ROLE=<role>`, it runs that role and exits the
//! process with the role's status, printing `RESULT:<line>` lines on stdout.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Child, Command, Output, Stdio};

/// The role requested of this process, if it is a child.
pub fn role() -> Option<String> {
    std::env::var("KEEL_TEST_ROLE").ok()
}

/// A command that runs `role` of this test binary in a child process.
pub fn child_command(role: &str, env: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env("KEEL_TEST_ROLE", role)
    .env("RUST_BACKTRACE", "0")
    .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run `role` to completion and return its output.
pub fn run_child(role: &str, env: &[(&str, &str)]) -> Output {
    child_command(role, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn child")
}

/// Start `role` without waiting.
pub fn spawn_child(role: &str, env: &[(&str, &str)]) -> Child {
    child_command(role, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// The `RESULT:` lines of a child's stdout, as `key=value` maps (one per line).
pub fn results(out: &Output) -> Vec<HashMap<String, String>> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT:"))
        .map(|l| {
            l.split('\t')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Print a `RESULT:` line from a child.
pub fn emit(pairs: &[(&str, &str)]) {
    let line: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT:{}", line.join("\t"));
}

/// Assert a child succeeded, showing its output otherwise.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// File mode bits of `path`.
pub fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// A small deterministic PRNG (xorshift) for kill timings.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// SIGKILL a child and reap it (so its pid is really gone).
pub fn kill_and_reap(child: &mut Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// Every live (non-zombie) process whose process group is `pgid`, by an independent
/// scan of /proc (field 5 of /proc/<pid>/stat): tests check keel's kills with it
/// rather than with keel's own group listing.
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (state, pgrp) = (fields[0], fields[2]);
        if pgrp == pgid.to_string() && state != "Z" && state != "X" {
            out.push(pid);
        }
    }
    out
}

/// Live (non-zombie) descendants of `root`, by an independent scan of every
/// `/proc/<pid>/stat` (field 4, the parent pid) — not keel's own walk.
#[allow(dead_code)]
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent = HashMap::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields[0] == "Z" || fields[0] == "X" {
            continue;
        }
        parent.insert(pid, fields[1].parse::<u32>().unwrap_or(0));
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for (&c, &pp) in &parent {
            if pp == p && !out.contains(&c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out.sort_unstable();
    out
}

/// A fresh marker for [`marked`]: put `KEEL_TREE_MARK=<it>` in a job's environment.
#[allow(dead_code)]
pub fn new_mark() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "m{}x{}x{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Every live (non-zombie) process on the machine whose environment carries
/// `KEEL_TREE_MARK=<mark>` — wherever it was reparented to, whatever its session or
/// group: the check that nothing of a job escaped.
#[allow(dead_code)]
pub fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("KEEL_TREE_MARK={mark}");
    let mut out = Vec::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            continue;
        }
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rfind(')')
                    .and_then(|c| s[c + 1..].split_whitespace().next().map(str::to_owned))
            });
        if !matches!(state.as_deref(), Some("Z") | Some("X") | None) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Wait (bounded) until no process carries `mark`; panic naming the survivors (and
/// SIGKILL them so a failing test leaves nothing behind).
#[allow(dead_code)]
pub fn assert_mark_gone(mark: &str, within: std::time::Duration, what: &str) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = marked(mark);
        if left.is_empty() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let desc: Vec<String> = left
                .iter()
                .map(|p| {
                    let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                    format!("{p} {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
                })
                .collect();
            for p in &left {
                // SAFETY: killing leftovers of this test.
                unsafe { libc::kill(*p as i32, libc::SIGKILL) };
            }
            panic!("{what}: processes survived: {desc:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Wait (bounded) until every pid in `pids` is gone or a zombie; panic naming the rest.
#[allow(dead_code)]
pub fn wait_until_gone(pids: &[u32], within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rfind(')')
                            .and_then(|c| s[c + 1..].split_whitespace().next().map(|st| st != "Z"))
                    })
                    .unwrap_or(false)
            })
            .collect();
        if left.is_empty() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            panic!("still alive: {left:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The escape forms a job's tree kill must reach, as `(name, sh script)`: each leaves a
/// marked `sleep` (or a TERM-ignoring one) outside the leader's process group, or
/// orphaned. Scripts print `ready` once everything is started.
#[allow(dead_code)]
pub const ESCAPES: &[(&str, &str)] = &[
    (
        "setsid",
        "setsid sleep 3000 & sleep 0.2; echo ready; sleep 3000",
    ),
    (
        "setpgid",
        "perl -e 'setpgrp(0,0); exec \"sleep\", \"3000\"' & sleep 0.2; echo ready; sleep 3000",
    ),
    (
        "double-fork daemon",
        "(setsid sh -c 'sleep 3000 & exit 0' &); sleep 0.2; echo ready; sleep 3000",
    ),
    (
        "leader calls setsid",
        "exec setsid sh -c 'setsid sleep 3000 & sleep 0.2; echo ready; sleep 3000'",
    ),
    (
        "ignores SIGTERM",
        "trap '' TERM; setsid sleep 3000 & sleep 0.2; echo ready; sleep 3000",
    ),
];
