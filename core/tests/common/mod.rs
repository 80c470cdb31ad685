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
