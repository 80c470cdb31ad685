//! Process control against real child processes (`sh -c`).

mod common;
use common::live_group_members;

use std::path::Path;
use std::time::Duration;

use keel_core::process::{
    Command, EnvPolicy, ExitClass, OutputMode, PidRecord, ProcessError, StdinMode,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Read stdout lines until one equals `want`.
async fn wait_for_line(child: &mut keel_core::process::Child, want: &str) {
    let out = child.take_stdout().expect("stdout piped");
    let mut lines = BufReader::new(out).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line == want {
            // Keep the pipe open (dropping it would SIGPIPE the child on its next write).
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return;
        }
    }
    panic!("child closed stdout before printing {want:?}");
}

#[tokio::test]
async fn sigterm_ignoring_child_is_sigkilled_after_grace() {
    let mut child = Command::new([
        "sh",
        "-c",
        "trap '' TERM; echo ready; while :; do sleep 0.05; done",
    ])
    .spawn()
    .unwrap();
    wait_for_line(&mut child, "ready").await;
    let pgid = child.pgid();

    let t = child.terminate(Duration::from_millis(150)).await.unwrap();

    assert!(
        t.escalated,
        "SIGTERM was ignored, so SIGKILL must have been needed"
    );
    assert!(t.group_cleared);
    assert_eq!(
        t.exit,
        Some(ExitClass::Signalled {
            signal: libc::SIGKILL
        })
    );
    assert_eq!(live_group_members(pgid), Vec::<u32>::new());
}

#[tokio::test]
async fn sigterm_honouring_child_is_not_escalated() {
    let mut child = Command::new(["sleep", "30"]).spawn().unwrap();
    let t = child.terminate(Duration::from_secs(10)).await.unwrap();
    assert!(!t.escalated);
    assert!(t.group_cleared);
    assert_eq!(
        t.exit,
        Some(ExitClass::Signalled {
            signal: libc::SIGTERM
        })
    );
    // Terminating again is a no-op.
    let again = child.terminate(Duration::from_secs(10)).await.unwrap();
    assert!(!again.escalated && again.group_cleared);
}

#[tokio::test]
async fn terminate_kills_every_grandchild_in_the_group() {
    let script = r#"
        sleep 1000 &
        (while :; do sleep 0.05; done) &
        sh -c 'trap "" TERM; echo ready; while :; do sleep 0.05; done' &
        wait
    "#;
    let mut child = Command::new(["sh", "-c", script]).spawn().unwrap();
    wait_for_line(&mut child, "ready").await;
    let pgid = child.pgid();
    assert!(live_group_members(pgid).len() >= 4);

    let t = child.terminate(Duration::from_millis(150)).await.unwrap();

    assert!(t.escalated, "one grandchild ignores SIGTERM");
    assert!(t.group_cleared);
    assert_eq!(live_group_members(pgid), Vec::<u32>::new());
}

#[tokio::test]
async fn exit_classification() {
    let exited = Command::new(["sh", "-c", "exit 3"])
        .spawn()
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(exited, ExitClass::Exited { code: 3 });

    let signalled = Command::new(["sh", "-c", "kill -USR1 $$"])
        .spawn()
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(
        signalled,
        ExitClass::Signalled {
            signal: libc::SIGUSR1
        }
    );
    assert_eq!(
        serde_json::to_value(signalled).unwrap(),
        serde_json::json!({"kind": "signalled", "signal": libc::SIGUSR1})
    );
}

#[tokio::test]
async fn output_drain_is_bounded_when_a_grandchild_holds_the_pipe() {
    // The leader exits at once; its background `sleep` keeps stdout open for 30 s.
    let child = Command::new(["sh", "-c", "sleep 30 & echo hi"])
        .spawn()
        .unwrap();
    let pgid = child.pgid();
    let out = child.output(Duration::from_millis(200)).await.unwrap();
    assert_eq!(out.exit, ExitClass::Exited { code: 0 });
    assert_eq!(out.stdout, b"hi\n");
    assert!(out.drain_timed_out);
    // Dropping the child (inside `output`) killed the leftover group.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !live_group_members(pgid).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(live_group_members(pgid), Vec::<u32>::new());
}

#[tokio::test]
async fn env_policies() {
    async fn env_of(cmd: Command) -> String {
        let out = cmd
            .spawn()
            .unwrap()
            .output(Duration::from_secs(1))
            .await
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }
    let explicit = env_of(
        Command::new(["/usr/bin/env"])
            .env_policy(EnvPolicy::Explicit)
            .env("ONLY", "this"),
    )
    .await;
    assert_eq!(explicit, "ONLY=this\n");

    let allow = env_of(
        Command::new(["/usr/bin/env"])
            .env_policy(EnvPolicy::Allowlist(vec!["PATH".into()]))
            .env("EXTRA", "1"),
    )
    .await;
    let mut keys: Vec<&str> = allow
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["EXTRA", "PATH"]);

    let inherit = env_of(Command::new(["/usr/bin/env"])).await;
    assert!(inherit.lines().any(|l| l.starts_with("PATH=")));
    assert!(inherit.lines().count() >= allow.lines().count());
}

#[tokio::test]
async fn stdin_piped_and_stdout_to_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.log");
    let mut child = Command::new(["cat"])
        .stdin(StdinMode::Piped)
        .stdout(OutputMode::File {
            path: file.clone(),
            append: false,
        })
        .spawn()
        .unwrap();
    let mut stdin = child.take_stdin().unwrap();
    stdin.write_all(b"through the pipe\n").await.unwrap();
    drop(stdin);
    assert_eq!(child.wait().await.unwrap(), ExitClass::Exited { code: 0 });
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "through the pipe\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn bad_input_gives_clear_errors() {
    let e = Command::new(Vec::<String>::new()).spawn().unwrap_err();
    assert!(matches!(e, ProcessError::EmptyArgv), "{e:?}");
    assert!(e.to_string().contains("argv is empty"));

    let e = Command::new([""]).spawn().unwrap_err();
    assert!(matches!(e, ProcessError::EmptyArgv), "{e:?}");

    let e = Command::new(["keel-no-such-program-xyz", "--secret-arg"])
        .spawn()
        .unwrap_err();
    assert!(matches!(e, ProcessError::ProgramNotFound { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("keel-no-such-program-xyz") && msg.contains("not found"));
    assert!(
        !msg.contains("--secret-arg"),
        "argv must never reach a message"
    );

    let e = Command::new(["true"])
        .cwd("/definitely/not/here")
        .spawn()
        .unwrap_err();
    assert!(matches!(e, ProcessError::BadCwd { .. }), "{e:?}");
    assert!(e.to_string().contains("/definitely/not/here"));
    assert!(e.to_string().contains("does not exist"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let e = Command::new(["true"]).cwd(&file).spawn().unwrap_err();
    assert!(e.to_string().contains("is not a directory"), "{e}");

    let e = Command::new([file.to_str().unwrap()]).spawn().unwrap_err();
    assert!(
        matches!(e, ProcessError::ProgramNotExecutable { .. }),
        "{e:?}"
    );

    let e = Command::new(["true"])
        .stdout(OutputMode::File {
            path: dir.path().join("no/such/dir/out.log"),
            append: false,
        })
        .spawn()
        .unwrap_err();
    assert!(matches!(e, ProcessError::OutputFile { .. }), "{e:?}");
}

#[tokio::test]
async fn pid_record_round_trips_and_signals_the_live_process() {
    let mut child = Command::new(["sleep", "30"]).spawn().unwrap();
    let rec = child.pid_record();
    assert_eq!(rec.pid, child.pid());
    assert_eq!(rec.pgid, Some(child.pid()));
    assert!(rec.is_alive());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("child.pid");
    rec.write(&path).unwrap();
    let back = PidRecord::read(&path).unwrap();
    assert_eq!(back, rec);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"startTime\""), "camelCase on disk: {text}");

    assert!(back.signal(libc::SIGTERM).unwrap());
    assert_eq!(
        child.wait().await.unwrap(),
        ExitClass::Signalled {
            signal: libc::SIGTERM
        }
    );
    // Reaped: the record is dead now and signalling it sends nothing.
    assert!(!back.is_alive());
    assert!(!back.signal(libc::SIGTERM).unwrap());
}

#[tokio::test]
async fn pid_record_with_a_reused_pid_is_dead_and_never_signalled() {
    let mut child = Command::new(["sleep", "30"]).spawn().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("child.pid");
    child.pid_record().write(&path).unwrap();

    // Simulate reuse: the pid is live, but the recorded start time belongs to some
    // earlier process.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let start = json["startTime"].as_u64().unwrap();
    json["startTime"] = serde_json::json!(start + 1);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let stale = PidRecord::read(&path).unwrap();
    assert_ne!(stale.start_time, start);

    assert!(!stale.is_alive());
    assert!(!stale.signal(libc::SIGKILL).unwrap());
    assert!(!stale.signal_group(libc::SIGKILL).unwrap());
    // The process that owns the pid now was not touched.
    assert!(child.try_wait().unwrap().is_none());
    assert!(child.pid_record().is_alive());
    child.terminate(Duration::from_secs(5)).await.unwrap();
}

#[test]
fn pid_record_validation_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let err = |p: &Path| PidRecord::read(p).unwrap_err().to_string();

    assert!(err(&write("a", "not json")).contains("`json`"));
    assert!(err(&write("b", r#"{"version":1,"pid":0,"startTime":5}"#)).contains("`pid`"));
    assert!(err(&write("c", r#"{"version":1,"pid":99,"startTime":0}"#)).contains("`startTime`"));
    assert!(err(&write("d", r#"{"version":7,"pid":99,"startTime":5}"#)).contains("`version`"));
    assert!(err(&write(
        "e",
        r#"{"version":1,"pid":99,"startTime":5,"pgid":1}"#
    ))
    .contains("`pgid`"));
    let missing = PidRecord::read(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(missing, ProcessError::PidFile { .. }));
    // No temp files are left behind by atomic writes.
    let rec = PidRecord::capture(std::process::id()).unwrap();
    rec.write(&dir.path().join("me.pid")).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn parent_death_signal_fires_when_the_spawning_thread_exits_without_the_shim() {
    // Documents PR_SET_PDEATHSIG's thread semantics (the only parent-death mechanism
    // with the shim off): the child dies with the THREAD that spawned it.
    let pid = std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let child = Command::new(["sleep", "30"])
                .subreaper(false)
                .stdout(OutputMode::Null)
                .stderr(OutputMode::Null)
                .kill_on_drop(false)
                .spawn()
                .unwrap();
            let pid = child.pid();
            std::mem::forget(child);
            pid
        })
    })
    .join()
    .unwrap();
    let rec = PidRecord::capture(pid);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let alive = rec.as_ref().map(|r| r.is_alive()).unwrap_or(false);
        if !alive {
            // Reap the zombie so it does not linger.
            unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG) };
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("child {pid} survived the death of the thread that spawned it");
}

#[test]
fn with_the_shim_a_tree_outlives_its_spawning_thread_but_not_its_handle() {
    // The shim watches a socket held by the process, not the thread: a job spawned from
    // a short-lived thread keeps running until its handle is dropped.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let mark = common::new_mark();
    let m = mark.clone();
    let child = std::thread::spawn(move || {
        let _g = handle.enter();
        Command::new(["sh", "-c", "setsid sleep 30 & exec sleep 30"])
            .env("KEEL_TREE_MARK", m)
            .stdout(OutputMode::Null)
            .stderr(OutputMode::Null)
            .spawn()
            .unwrap()
    })
    .join()
    .unwrap();
    let leader = child.pid();
    std::thread::sleep(Duration::from_millis(300));
    let tree = common::marked(&mark);
    assert!(tree.contains(&leader), "{tree:?}");
    assert_eq!(tree.len(), 2, "the leader and the setsid sleep: {tree:?}");
    drop(child);
    common::assert_mark_gone(&mark, Duration::from_secs(5), "after drop");
    drop(rt);
}

#[tokio::test]
async fn debug_output_hides_arguments_and_env_values() {
    let cmd = Command::new(["curl", "--token=hunter2secret"]).env("API_KEY", "sk-verysecret");
    let dbg = format!("{cmd:?}");
    assert!(
        !dbg.contains("hunter2secret") && !dbg.contains("sk-verysecret"),
        "{dbg}"
    );
    assert!(dbg.contains("curl") && dbg.contains("API_KEY=***"));
}

#[test]
fn escalation_is_logged_at_warn() {
    use std::io::Write;
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let mut child = Command::new(["sh", "-c", "trap '' TERM; echo ready; sleep 30"])
                .spawn()
                .unwrap();
            wait_for_line(&mut child, "ready").await;
            let t = child.terminate(Duration::from_millis(100)).await.unwrap();
            assert!(t.escalated);
        })
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("escalating to SIGKILL"), "{log}");
    assert!(log.contains("grace_ms=100"), "{log}");
}

#[test]
fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
    let e = Command::new(["true"]).spawn().unwrap_err();
    assert!(matches!(e, ProcessError::NoRuntime), "{e:?}");
}

/// `kill_process_tree` on a bare pid that leads a group (spawned detached by someone
/// else, as Node does): the leader and its grandchildren go, a TERM-ignoring member gets
/// SIGKILL after the grace.
#[tokio::test]
async fn kill_process_tree_reaches_the_whole_group_of_a_foreign_pid() {
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            // `ready` only once the trap is installed.
            "(trap '' TERM; echo ready; sleep 60) & sleep 60 & wait",
        ])
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    // `ready` comes before the subshell's sleep and the second `sleep &` are forked:
    // wait (bounded) until the group has its members.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while live_group_members(pid).len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(live_group_members(pid).len() >= 3);
    let t = keel_core::process::kill_process_tree(pid, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(t.escalated, "the TERM-ignoring member needs SIGKILL");
    assert!(t.group_cleared);
    assert!(live_group_members(pid).is_empty());
    assert!(!child.wait().unwrap().success());

    // Gone pids and impossible pids.
    let t = keel_core::process::kill_process_tree(pid, Duration::from_millis(10))
        .await
        .unwrap();
    assert!(t.group_cleared && !t.escalated);
    assert!(matches!(
        keel_core::process::kill_process_tree(1, Duration::ZERO).await,
        Err(ProcessError::InvalidPid { pid: 1 })
    ));
}

/// A child starts with an empty signal mask even when the spawning thread blocks the
/// termination signals (as `keel run` does to receive them synchronously): otherwise a
/// graceful SIGTERM would stay pending until the SIGKILL.
#[test]
fn children_get_an_empty_signal_mask() {
    std::thread::spawn(|| {
        let _signals = keel_core::process::TerminationSignals::block().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // `exec` so that the shell's own blocking around its waits is not measured.
            let out = Command::new(["sh", "-c", "exec grep SigBlk /proc/self/status"])
                .spawn()
                .unwrap()
                .output(Duration::from_millis(200))
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert_eq!(text.trim(), "SigBlk:\t0000000000000000", "{text}");
        });
    })
    .join()
    .unwrap();
}

/// Spawn one escape form with a fresh mark; wait until it printed `ready`.
async fn spawn_escape(script: &str, subreaper: bool) -> (keel_core::process::Child, String) {
    let mark = common::new_mark();
    let mut child = Command::new(["sh", "-c", script])
        .env("KEEL_TREE_MARK", &mark)
        .subreaper(subreaper)
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "ready").await;
    (child, mark)
}

#[tokio::test]
async fn terminate_reaches_every_escape_form() {
    for (name, script) in common::ESCAPES {
        let (mut child, mark) = spawn_escape(script, true).await;
        assert!(child.has_subreaper());
        let before = common::marked(&mark);
        assert!(!before.is_empty(), "{name}: nothing marked is running");
        let t = child.terminate(Duration::from_millis(300)).await.unwrap();
        assert!(t.tree_cleared, "{name}: {t:?}");
        assert!(t.group_cleared, "{name}: {t:?}");
        assert!(t.survivors.is_empty(), "{name}: {t:?}");
        assert_eq!(t.escalated, *name == "ignores SIGTERM", "{name}: {t:?}");
        // tree_cleared means the shim is gone, so nothing marked may be left at all.
        assert_eq!(common::marked(&mark), Vec::<u32>::new(), "{name}");
        assert!(!child.tree_alive());
    }
}

#[tokio::test]
async fn the_group_kill_alone_leaves_escapees_behind() {
    // The old mechanism, kept behind `subreaper(false)` (and the only one off Linux):
    // documents why the shim exists.
    let (mut child, mark) = spawn_escape(common::ESCAPES[0].1, false).await;
    assert!(!child.has_subreaper());
    let t = child.terminate(Duration::from_millis(300)).await.unwrap();
    assert!(t.group_cleared);
    let left = common::marked(&mark);
    assert_eq!(left.len(), 1, "the setsid'd sleep survives the group kill");
    for p in left {
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    common::assert_mark_gone(&mark, Duration::from_secs(5), "cleanup");
}

#[tokio::test]
async fn dropping_the_handle_kills_every_escape_form() {
    for (name, script) in common::ESCAPES {
        let (child, mark) = spawn_escape(script, true).await;
        drop(child);
        common::assert_mark_gone(&mark, Duration::from_secs(5), name);
    }
}

#[tokio::test]
async fn a_leader_that_exits_leaves_a_live_tree_that_terminate_clears() {
    // `setsid sleep` as the program: setsid forks (a group leader cannot call setsid)
    // and exits 0 at once; the sleep lives on under the shim.
    let mark = common::new_mark();
    let mut child = Command::new(["setsid", "sleep", "3000"])
        .env("KEEL_TREE_MARK", &mark)
        .spawn()
        .unwrap();
    assert_eq!(child.wait().await.unwrap(), ExitClass::Exited { code: 0 });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while common::marked(&mark).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(common::marked(&mark).len(), 1);
    assert!(child.tree_alive());
    assert_eq!(child.live_processes().len(), 1);
    let t = child.terminate(Duration::from_secs(5)).await.unwrap();
    assert!(t.tree_cleared && !t.escalated, "{t:?}");
    assert_eq!(t.exit, Some(ExitClass::Exited { code: 0 }));
    assert_eq!(common::marked(&mark), Vec::<u32>::new());
}

#[tokio::test]
async fn an_unkillable_survivor_is_reported_by_pid_and_command() {
    // A stopped process still dies of SIGKILL; what SIGKILL cannot end at once is a
    // process in uninterruptible sleep, which a test cannot make. So check the report
    // with a kill_wait of zero: the tree has not been reaped yet when terminate gives up.
    let mark = common::new_mark();
    let mut child = Command::new([
        "sh",
        "-c",
        "trap '' TERM; setsid sh -c \"trap '' TERM; echo ready; exec sleep 3000\"; sleep 3000",
    ])
    .env("KEEL_TREE_MARK", &mark)
    .spawn()
    .unwrap();
    wait_for_line(&mut child, "ready").await;
    let t = child
        .terminate_with(Duration::from_millis(100), Duration::ZERO)
        .await
        .unwrap();
    assert!(t.escalated);
    if !t.tree_cleared {
        assert!(!t.survivors.is_empty(), "{t:?}");
        // A process caught mid-exit may have neither a command line nor a name left.
        assert!(t.survivors.iter().all(|s| s.pid > 1), "{t:?}");
    } else {
        assert!(t.survivors.is_empty());
    }
    common::assert_mark_gone(&mark, Duration::from_secs(5), "after SIGKILL");
}

#[tokio::test]
async fn kill_process_tree_reaches_descendants_outside_the_group() {
    // A pid keel did not spawn: its descendants still attached to it are found by a
    // /proc walk even when they left its process group.
    let mark = common::new_mark();
    let mut child = std::process::Command::new("sh")
        .args(["-c", "setsid sleep 3000 & echo ready; sleep 3000"])
        .env("KEEL_TREE_MARK", &mark)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // sh (which may exec its last command) and the setsid'd sleep.
    while common::marked(&mark).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(common::marked(&mark).len() >= 2);
    let t = keel_core::process::kill_process_tree(child.id(), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(t.tree_cleared, "{t:?}");
    let _ = child.wait();
    common::assert_mark_gone(&mark, Duration::from_secs(5), "kill_process_tree");
}
