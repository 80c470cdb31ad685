//! The turn runner against fake agent CLIs (core/tests/fixtures/turns/fake_agent.py):
//! every final state, redaction, resume mismatch, the lock across processes, turn.pid,
//! CAS races, huge lines, lingering CLIs and crash recovery.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use keel_core::process::PidRecord;
use keel_core::turns::store::Message;
use keel_core::turns::*;

const SECRET: &str = "sk-ant-api03-TESTSECRETvalue0123456789abcdefABCDEF";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/turns/fake_agent.py")
}

/// A wrapper script that runs the fake with a real python (no shim start-up cost).
fn fake_bin(dir: &Path) -> PathBuf {
    let py = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".to_string()
    } else {
        "python3".to_string()
    };
    let p = dir.join("fake-agent");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nexec {py} {} \"$@\"\n", fixture().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

struct Env {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    bin: PathBuf,
    record: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let bin = fake_bin(tmp.path());
    let record = tmp.path().join("record.json");
    Env {
        state,
        bin,
        record,
        _tmp: tmp,
    }
}

fn opts(e: &Env, mode: &str, runtime: Runtime) -> TurnOptions {
    let mut o = TurnOptions::new("bob", runtime, &e.state);
    o.bin = Some(e.bin.clone());
    o.input = "do the work".into();
    o.parent_agent = Some("lead".into());
    o.run_id = Some("run-1".into());
    o.env.insert("FAKE_MODE".into(), mode.into());
    o.env.insert("FAKE_SECRET".into(), SECRET.into());
    o.env
        .insert("FAKE_RECORD".into(), e.record.display().to_string());
    o.secrets = vec![SECRET.into()];
    o.stall_ms = 20_000;
    o.kill_grace_ms = 500;
    o.result_grace_ms = 1_500;
    o.drain_ms = 500;
    o
}

type Seen = Arc<Mutex<Vec<TurnEvent>>>;

async fn run(o: TurnOptions) -> (TurnResult, Vec<TurnEvent>) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let res = TurnRunner::new(o)
        .unwrap()
        .on_event(move |e| s.lock().unwrap().push(e.clone()))
        .run()
        .await
        .unwrap();
    let v = seen.lock().unwrap().clone();
    (res, v)
}

fn store(e: &Env) -> Store {
    Store::open(&e.state.join("turns.db")).unwrap()
}

fn lock_is_free(e: &Env) -> bool {
    keel_core::fsx::FileLock::acquire(
        &turn_lock_path(&e.state, "bob"),
        keel_core::fsx::LockMode::Exclusive,
        Duration::from_millis(10),
    )
    .is_ok()
}

fn assert_cleaned(e: &Env) {
    assert!(
        !e.state.join("agents/bob/turn.pid").exists(),
        "turn.pid survived"
    );
    assert!(lock_is_free(e), "lock still held");
}

fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let st = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            !matches!(st, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

fn recorded(e: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(&e.record).unwrap()).unwrap()
}

fn worker_died(e: &Env) -> Vec<Message> {
    store(e)
        .messages_to("lead")
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == "worker_died")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_turn_with_terminal_message_completes_and_everything_is_redacted() {
    let e = env();
    let mut o = opts(&e, "ok", Runtime::Claude);
    o.env.insert("FAKE_DONE".into(), "1".into());
    let (r, events) = run(o).await;
    assert_eq!(r.initial_state, AgentState::Booting);
    assert_eq!(r.final_state, AgentState::Completed);
    assert!(r.clean_result && r.terminal_mail_observed && !r.terminal_mail_missing);
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(r.exit_status(), 0);
    assert_eq!(r.new_session_id.as_deref(), Some("sess-1"));
    assert!(!r.parent_notified);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "session_start",
            "progress",
            "tool_start",
            "tool_end",
            "result"
        ]
    );
    let tool = &events[2];
    assert_eq!(tool.tool_name.as_deref(), Some("Bash"));
    assert_eq!(events[3].tool_name.as_deref(), Some("Bash"));
    // stdin: one stream-json user message, then EOF (the fake read to EOF)
    let rec = recorded(&e);
    let argv: Vec<String> = serde_json::from_value(rec["argv"].clone()).unwrap();
    assert_eq!(
        argv,
        [
            "-p",
            "--output-format",
            "stream-json",
            "--input-format",
            "stream-json",
            "--verbose"
        ]
    );
    let line: serde_json::Value =
        serde_json::from_str(rec["stdin"].as_str().unwrap().trim_end()).unwrap();
    assert_eq!(line["type"], "user");
    assert_eq!(line["message"]["content"][0]["text"], "do the work");
    // the store: session, events with the type mapping, nothing unredacted anywhere
    let st = store(&e);
    let s = st.get_session("bob").unwrap().unwrap();
    assert_eq!(s.state, AgentState::Completed);
    assert_eq!(s.session_id.as_deref(), Some("sess-1"));
    assert!(s.last_activity >= s.created_at);
    let rows = st.events("bob").unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(types, kinds);
    assert!(rows.iter().all(|r| r.run_id.as_deref() == Some("run-1")));
    assert_eq!(rows[4].tool_duration_ms, Some(1234));
    for r in &rows {
        let all = format!("{:?}", r);
        assert!(!all.contains("TESTSECRET"), "secret in stored event: {all}");
    }
    assert!(rows[2].tool_args.as_deref().unwrap().contains("***"));
    for ev in &events {
        assert!(!serde_json::to_string(ev).unwrap().contains("TESTSECRET"));
    }
    let log_dir = r.log_dir.clone().unwrap();
    assert!(log_dir.starts_with(e.state.join("logs/bob")));
    let stderr = std::fs::read_to_string(log_dir.join("stderr.log")).unwrap();
    assert!(stderr.contains("fake stderr"), "{stderr}");
    assert!(!stderr.contains("TESTSECRET"), "{stderr}");
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_end_without_terminal_message_is_completed_with_a_contract_violation() {
    let e = env();
    let (r, _) = run(opts(&e, "ok", Runtime::Claude)).await;
    assert_eq!(r.final_state, AgentState::Completed);
    assert!(r.terminal_mail_missing && !r.terminal_mail_observed);
    assert!(r.parent_notified);
    let died = worker_died(&e);
    assert_eq!(died.len(), 1);
    assert_eq!(died[0].from_agent, "bob");
    assert!(
        died[0].body.contains("without terminal message") || died[0].body.contains("Clean exit")
    );
    let runner_log = std::fs::read_to_string(r.log_dir.unwrap().join("runner.log")).unwrap();
    assert!(
        runner_log.contains("without its terminal message"),
        "{runner_log}"
    );
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_error_with_subtype_success_is_a_failed_turn() {
    let e = env();
    let (r, events) = run(opts(&e, "is_error", Runtime::Claude)).await;
    assert!(!r.clean_result);
    assert_eq!(r.exit_code, Some(1));
    assert_eq!(r.final_state, AgentState::Working);
    assert_eq!(r.exit_status(), 1);
    let res = events.iter().find(|e| e.kind == EventKind::Result).unwrap();
    assert_eq!(res.is_error, Some(true));
    assert_eq!(res.level, "error");
    assert!(!r.parent_notified);
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_watchdog_kills_the_tree_and_zombifies() {
    let e = env();
    let mut o = opts(&e, "stall", Runtime::Claude);
    o.stall_ms = 700;
    let t0 = Instant::now();
    let (r, _) = run(o).await;
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert!(r.stall_aborted);
    assert_eq!(r.kill_reason.as_deref(), Some("stall"));
    assert_eq!(r.final_state, AgentState::Zombie);
    assert_eq!(r.exit_code, None);
    assert_eq!(r.exit_status(), 124);
    assert!(r.parent_notified);
    let pid = recorded(&e)["pid"].as_u64().unwrap() as u32;
    assert!(!pid_alive(pid), "fake CLI survived the stall kill");
    assert!(live_group_members(pid).is_empty());
    assert_eq!(worker_died(&e).len(), 1);
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_ignoring_sigterm_is_killed_after_the_grace() {
    let e = env();
    let mut o = opts(&e, "ignore_term", Runtime::Claude);
    o.stall_ms = 700;
    o.kill_grace_ms = 300;
    let (r, _) = run(o).await;
    assert!(r.stall_aborted);
    assert_eq!(r.final_state, AgentState::Zombie);
    let pid = recorded(&e)["pid"].as_u64().unwrap() as u32;
    assert!(!pid_alive(pid));
    assert!(
        matches!(
            r.exit,
            Some(keel_core::process::ExitClass::Killed {
                signal: Some(9),
                ..
            })
        ),
        "{:?}",
        r.exit
    );
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_terminates_and_zombifies() {
    let e = env();
    let o = opts(&e, "stall", Runtime::Claude);
    let abort = TurnAbort::new();
    let a2 = abort.clone();
    let res = TurnRunner::new(o)
        .unwrap()
        .abort_signal(abort)
        .on_event(move |ev| {
            if ev.kind == EventKind::SessionStart {
                a2.abort();
            }
        })
        .run()
        .await
        .unwrap();
    assert!(res.aborted && !res.stall_aborted);
    assert_eq!(res.final_state, AgentState::Zombie);
    assert_eq!(res.exit_status(), 1);
    assert!(res.parent_notified);
    assert!(worker_died(&e)[0].body.contains("Aborted"));
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_lingering_after_its_result_is_terminated_after_the_grace() {
    let e = env();
    let mut o = opts(&e, "linger", Runtime::Claude);
    o.env.insert("FAKE_DONE".into(), "1".into());
    o.result_grace_ms = 400;
    let t0 = Instant::now();
    let (r, _) = run(o).await;
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert!(r.linger_killed && r.clean_result);
    assert_eq!(r.final_state, AgentState::Completed);
    let pid = recorded(&e)["pid"].as_u64().unwrap() as u32;
    assert!(!pid_alive(pid));
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_holding_stdout_does_not_hang_the_turn_and_is_killed() {
    let e = env();
    let mut o = opts(&e, "hold_stdout", Runtime::Claude);
    let gc = e.state.parent().unwrap().join("grandchild.pid");
    o.env
        .insert("FAKE_GRANDCHILD".into(), gc.display().to_string());
    o.env.insert("FAKE_DONE".into(), "1".into());
    let t0 = Instant::now();
    let (r, _) = run(o).await;
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(r.final_state, AgentState::Completed);
    let g: u32 = std::fs::read_to_string(&gc)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!pid_alive(g), "grandchild {g} survived the turn");
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_that_escaped_the_group_is_killed_too() {
    let e = env();
    let mut o = opts(&e, "escape", Runtime::Claude);
    let gc = e.state.parent().unwrap().join("grandchild.pid");
    o.env
        .insert("FAKE_GRANDCHILD".into(), gc.display().to_string());
    let (r, _) = run(o).await;
    assert!(r.clean_result);
    let g: u32 = std::fs::read_to_string(&gc)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = pid_alive(g);
    if alive {
        // SAFETY: killing the test's own leftover grandchild.
        unsafe { libc::kill(g as i32, libc::SIGKILL) };
    }
    assert!(!alive, "escaped grandchild {g} survived the turn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2mib_line_over_the_cap_is_reported_and_skipped() {
    let e = env();
    let mut o = opts(&e, "huge", Runtime::Claude);
    o.max_line_bytes = 1 << 20;
    o.env.insert("FAKE_DONE".into(), "1".into());
    let (r, events) = run(o).await;
    assert_eq!(r.skipped_lines, 1);
    assert!(r.clean_result);
    assert_eq!(r.final_state, AgentState::Completed);
    let w = events
        .iter()
        .find(|e| e.raw_type == "keel.line_too_long")
        .unwrap();
    assert!(w.data["len"].as_u64().unwrap() > 2 << 20);
    // with the default cap (64 MiB) the same line is an ordinary event
    let e2 = env();
    let mut o = opts(&e2, "huge", Runtime::Claude);
    o.env.insert("FAKE_DONE".into(), "1".into());
    let (r, events) = run(o).await;
    assert_eq!(r.skipped_lines, 0);
    assert!(events
        .iter()
        .any(|e| e.text.as_ref().is_some_and(|t| t.len() == 2 << 20)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_stream_events_and_non_json_lines_are_tolerated() {
    let e = env();
    let mut o = opts(&e, "garbage", Runtime::Claude);
    o.env.insert("FAKE_DONE".into(), "1".into());
    let (r, events) = run(o).await;
    assert_eq!(r.final_state, AgentState::Completed);
    let raws: Vec<&str> = events.iter().map(|e| e.raw_type.as_str()).collect();
    for t in [
        "keel.non_json",
        "stream_event",
        "rate_limit_event",
        "system",
        "brand_new_type",
    ] {
        assert!(raws.contains(&t), "{t} missing from {raws:?}");
    }
    assert!(events
        .iter()
        .filter(|e| e.raw_type != "system" || e.kind != EventKind::SessionStart)
        .filter(|e| ["stream_event", "rate_limit_event", "brand_new_type"]
            .contains(&e.raw_type.as_str()))
        .all(|e| e.kind == EventKind::Custom));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_passes_the_stored_session_and_warns_on_a_mismatch() {
    let e = env();
    let (r1, _) = run(opts(&e, "ok", Runtime::Claude)).await;
    assert_eq!(r1.new_session_id.as_deref(), Some("sess-1"));
    // the same session answered: no mismatch
    let mut o = opts(&e, "ok", Runtime::Claude);
    o.resume = true;
    o.env.insert("FAKE_SESSION".into(), "other".into());
    let (r2, _) = run(o).await;
    let argv: Vec<String> = serde_json::from_value(recorded(&e)["argv"].clone()).unwrap();
    assert!(
        argv.windows(2).any(|w| w == ["--resume", "sess-1"]),
        "{argv:?}"
    );
    assert!(!r2.resume_mismatch);
    // a different session answered
    let mut o = opts(&e, "mismatch", Runtime::Claude);
    o.resume = true;
    o.env.insert("FAKE_SESSION".into(), "sess-2".into());
    let (r3, events) = run(o).await;
    assert!(r3.resume_mismatch);
    assert_eq!(r3.new_session_id.as_deref(), Some("sess-2"));
    let w = events
        .iter()
        .find(|e| e.raw_type == "keel.resume_mismatch")
        .unwrap();
    assert_eq!(w.level, "warn");
    assert_eq!(w.data["requestedSessionId"], "sess-1");
    assert_eq!(w.data["observedSessionId"], "sess-2");
    assert!(store(&e).events("bob").unwrap().iter().any(|r| r
        .data
        .as_deref()
        .unwrap_or("")
        .contains("resume_mismatch")));
    assert_eq!(
        store(&e)
            .get_session("bob")
            .unwrap()
            .unwrap()
            .session_id
            .as_deref(),
        Some("sess-2")
    );
    let log = std::fs::read_to_string(r3.log_dir.unwrap().join("runner.log")).unwrap();
    assert!(log.contains("resume mismatch"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_turns_complete_fail_and_resume_by_thread_id() {
    let e = env();
    let mut o = opts(&e, "ok", Runtime::Codex);
    o.env.insert("FAKE_DONE".into(), "1".into());
    o.env.insert("FAKE_SESSION".into(), "thread-9".into());
    let (r, events) = run(o).await;
    assert_eq!(r.final_state, AgentState::Completed);
    assert_eq!(r.new_session_id.as_deref(), Some("thread-9"));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "session_start",
            "custom",
            "tool_start",
            "tool_end",
            "progress",
            "result"
        ]
    );
    assert!(!serde_json::to_string(&events)
        .unwrap()
        .contains("TESTSECRET"));
    let rec = recorded(&e);
    assert_eq!(rec["stdin"], "do the work");
    assert_eq!(rec["argv"], serde_json::json!(["exec", "--json"]));

    // a failed turn, resumed by thread id
    let e = env();
    store(&e)
        .put_session("bob", AgentState::Working, Some("lead"))
        .unwrap();
    let mut o = opts(&e, "codex_fail", Runtime::Codex);
    o.resume_session_id = Some("thread-9".into());
    let (r, _) = run(o).await;
    assert_eq!(r.initial_state, AgentState::Working);
    assert!(!r.clean_result);
    assert_eq!(r.final_state, AgentState::Working);
    assert_eq!(r.exit_code, Some(1));
    assert_eq!(
        recorded(&e)["argv"],
        serde_json::json!(["exec", "--json", "resume", "thread-9"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_input_is_a_no_op() {
    let e = env();
    let mut o = opts(&e, "ok", Runtime::Claude);
    o.input.clear();
    let (r, events) = run(o).await;
    assert!(r.no_op && events.is_empty());
    assert_eq!(r.final_state, AgentState::Booting);
    assert!(!e.record.exists());
    assert!(!e.state.join("agents/bob").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_pid_is_published_during_the_turn_and_removed_after() {
    let e = env();
    // "slow" pauses 1 s after its init event, so the CLI is certainly alive when the
    // SessionStart callback reads turn.pid (with "ok" it may already have exited).
    let mut o = opts(&e, "slow", Runtime::Claude);
    let intervals = e.state.parent().unwrap().join("intervals.log");
    o.env
        .insert("FAKE_INTERVALS".into(), intervals.display().to_string());
    o.env.insert("FAKE_SLEEP".into(), "1.0".into());
    let pid_path = e.state.join("agents/bob/turn.pid");
    let seen: Arc<Mutex<Option<(PidRecord, bool)>>> = Arc::default();
    let s = seen.clone();
    let p = pid_path.clone();
    let r = TurnRunner::new(o)
        .unwrap()
        .on_event(move |ev| {
            if ev.kind == EventKind::SessionStart {
                let rec = PidRecord::read(&p).unwrap();
                let alive = rec.is_alive();
                *s.lock().unwrap() = Some((rec, alive));
            }
        })
        .run()
        .await
        .unwrap();
    let (rec, alive) = seen.lock().unwrap().clone().unwrap();
    assert!(
        alive,
        "turn.pid did not name a live process during the turn"
    );
    assert_eq!(rec.pgid, Some(rec.pid));
    assert_eq!(rec.pid, recorded(&e)["pid"].as_u64().unwrap() as u32);
    assert!(!rec.is_alive());
    assert!(r.clean_result);
    assert!(!pid_path.exists());
    // a spawn failure cleans up too
    let mut o = opts(&e, "ok", Runtime::Claude);
    o.bin = Some("/nonexistent/agent-cli".into());
    let err = TurnRunner::new(o).unwrap().run().await.unwrap_err();
    assert_eq!(err.code(), "KEEL_SPAWN_FAILED");
    assert_cleaned(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_writer_wins_the_final_cas() {
    let e = env();
    let mut o = opts(&e, "slow", Runtime::Claude);
    let intervals = e.state.parent().unwrap().join("intervals");
    o.env
        .insert("FAKE_INTERVALS".into(), intervals.display().to_string());
    o.env.insert("FAKE_SLEEP".into(), "1.0".into());
    let db = e.state.join("turns.db");
    let r = TurnRunner::new(o).unwrap().on_event(move |ev| {
        if ev.kind == EventKind::SessionStart {
            // an operator's stop lands mid-turn
            let mut s = Store::open(&db).unwrap();
            assert!(matches!(
                s.try_transition_state("bob", AgentState::Zombie).unwrap(),
                TransitionOutcome::Ok { .. }
            ));
        }
    });
    let r = r.run().await.unwrap();
    assert!(r.clean_result);
    assert_eq!(r.transition_rejected, Some(AgentState::Zombie));
    assert_eq!(r.final_state, AgentState::Zombie);
    assert_eq!(
        store(&e).get_session("bob").unwrap().unwrap().state,
        AgentState::Zombie
    );
}

#[test]
fn cas_races_between_two_writers_have_exactly_one_winner() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("turns.db");
    let n = 200;
    {
        let s = Store::open(&db).unwrap();
        for i in 0..n {
            s.put_session(&format!("a{i}"), AgentState::Working, None)
                .unwrap();
        }
    }
    let run = |to: AgentState| {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut s = Store::open(&db).unwrap();
            (0..n)
                .map(|i| s.try_transition_state(&format!("a{i}"), to).unwrap())
                .collect::<Vec<_>>()
        })
    };
    let a = run(AgentState::Completed);
    let b = run(AgentState::Zombie);
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let s = Store::open(&db).unwrap();
    for i in 0..n {
        let st = s.get_session(&format!("a{i}")).unwrap().unwrap().state;
        match (a[i], b[i]) {
            (
                TransitionOutcome::Ok {
                    prev: AgentState::Working,
                },
                TransitionOutcome::IllegalTransition {
                    prev,
                    attempted: AgentState::Zombie,
                },
            ) => {
                assert_eq!(prev, AgentState::Completed);
                assert_eq!(st, AgentState::Completed);
            }
            (
                TransitionOutcome::IllegalTransition {
                    prev,
                    attempted: AgentState::Completed,
                },
                TransitionOutcome::Ok {
                    prev: AgentState::Working,
                },
            ) => {
                assert_eq!(prev, AgentState::Zombie);
                assert_eq!(st, AgentState::Zombie);
            }
            other => panic!("session a{i}: not exactly one winner: {other:?}"),
        }
    }
}

#[test]
fn store_migrates_once_and_refuses_a_newer_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("sub/turns.db");
    let s = Store::open(&db).unwrap();
    assert_eq!(s.schema_version().unwrap(), 1);
    assert_eq!(mode_of(&db) & 0o077, 0);
    drop(s);
    let s = Store::open(&db).unwrap();
    assert_eq!(s.schema_version().unwrap(), 1);
    let journal = rusqlite_journal(&db);
    assert_eq!(journal, "wal");
    drop(s);
    {
        let c = std::process::Command::new("python3")
            .args(["-c", &format!("import sqlite3;c=sqlite3.connect('{}');c.execute('PRAGMA user_version=99');c.commit()", db.display())])
            .status()
            .unwrap();
        assert!(c.success());
    }
    let err = Store::open(&db).unwrap_err();
    assert_eq!(err.code(), "KEEL_TURN_STORE");
    assert!(err.to_string().contains("99"));
}

fn rusqlite_journal(db: &Path) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", &format!("import sqlite3;print(sqlite3.connect('{}').execute('PRAGMA journal_mode').fetchone()[0])", db.display())])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn options_json_errors_name_the_field_and_never_echo_values() {
    let base = r#"{"agentName":"bob","runtime":"claude","stateDir":"/tmp/x""#;
    let ok = TurnOptions::from_json(&format!("{base}}}")).unwrap();
    assert_eq!(ok.stall_ms, DEFAULT_STALL_MS);
    assert_eq!(ok.max_line_bytes, 64 << 20);
    let e = TurnOptions::from_json(&format!(r#"{base},"sekritKey":"hunter2"}}"#)).unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_JSON");
    assert!(!e.to_string().contains("sekrit") && !e.to_string().contains("hunter2"));
    assert!(
        e.to_string().starts_with(
            "options has an unknown field (9 characters; expected one of: agentName, runtime,"
        ),
        "{e}"
    );
    let e = TurnOptions::from_json(&format!(r#"{base},"stalMs":1}}"#)).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"options has an unknown field (6 characters; did you mean "stallMs"?)"#
    );
    let e = TurnOptions::from_json(&format!(r#"{base},"stallMs":"hunter2"}}"#)).unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_JSON");
    assert_eq!(
        e.to_string(),
        "options.stallMs is not a non-negative integer (got a string)"
    );
    let e = TurnOptions::from_json(&format!(r#"{base},"stallMs":-1}}"#)).unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_OPTION");
    let e = TurnOptions::from_json(&format!(r#"{base},"stallMs":999999999999}}"#)).unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_OPTION");
    assert_eq!(e.to_string(), "options.stallMs must be at most 604800000");
    let e = TurnOptions::from_json(r#"{"runtime":"claude","stateDir":"/x"}"#).unwrap_err();
    assert!(e.to_string().contains("agentName"), "{e}");
    let e = TurnOptions::from_json(r#"{"agentName":"../etc","runtime":"claude","stateDir":"/x"}"#)
        .unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_OPTION");
    assert!(e.to_string().contains("agentName"));
    let e = TurnOptions::from_json(&format!(r#"{base},"maxLineBytes":10}}"#)).unwrap_err();
    assert!(e.to_string().contains("maxLineBytes"));
    let e = TurnOptions::from_json(r#"{"agentName":"b","runtime":"gemini","stateDir":"/x"}"#)
        .unwrap_err();
    assert_eq!(e.code(), "KEEL_INVALID_JSON");
    let dbg = format!(
        "{:?}",
        TurnOptions::from_json(&format!(
            r#"{base},"input":"pw=hunter2","secrets":["hunter2"]}}"#
        ))
        .unwrap()
    );
    assert!(!dbg.contains("hunter2"), "{dbg}");
}

#[test]
fn purge_is_dot_delimited_and_never_follows_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("lifecycle");
    std::fs::create_dir(&d).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "x").unwrap();
    for f in [
        "claude-bob.stopped",
        "claude-bob.idle-reaped",
        "claude-bob.topic",
        "claude-bob2.stopped",
        "claude-bob",
        "xclaude-bob.stopped",
    ] {
        std::fs::write(d.join(f), "x").unwrap();
    }
    std::fs::create_dir(d.join("claude-bob.queue")).unwrap();
    std::fs::write(d.join("claude-bob.queue/m1"), "x").unwrap();
    std::os::unix::fs::symlink(&outside, d.join("claude-bob.link")).unwrap();
    let removed = purge_identity_state(&d, "claude-bob").unwrap();
    assert_eq!(
        removed,
        [
            "claude-bob.idle-reaped",
            "claude-bob.link",
            "claude-bob.queue",
            "claude-bob.stopped",
            "claude-bob.topic"
        ]
    );
    for f in ["claude-bob2.stopped", "claude-bob", "xclaude-bob.stopped"] {
        assert!(d.join(f).exists(), "{f} was purged");
    }
    assert!(outside.join("keep").exists());
    assert!(purge_identity_state(&tmp.path().join("missing"), "bob")
        .unwrap()
        .is_empty());
    assert_eq!(
        purge_identity_state(&d, "").unwrap_err().code(),
        "KEEL_INVALID_OPTION"
    );
    assert_eq!(
        purge_identity_state(&d, "../x").unwrap_err().code(),
        "KEEL_INVALID_OPTION"
    );
}

// ---- across processes ----

/// No-op in a normal run; runs a role when started by a test as a child process.
#[test]
fn child_process_entry() {
    let Some(role) = role() else { return };
    let state = PathBuf::from(std::env::var("KEEL_TEST_STATE").unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let code = rt.block_on(async {
        match role.as_str() {
            "hold_lock" => {
                let l = acquire_turn_lock(&state, "bob", Duration::from_secs(10))
                    .await
                    .unwrap();
                emit(&[("locked", "1")]);
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(l);
                0
            }
            "turn" => {
                let o = TurnOptions::from_json(&std::env::var("KEEL_TEST_OPTS").unwrap()).unwrap();
                let r = TurnRunner::new(o).unwrap().run().await.unwrap();
                emit(&[("state", r.final_state.as_str())]);
                0
            }
            _ => 2,
        }
    });
    std::process::exit(code);
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_timeout_names_the_holder_and_a_sigkilled_holder_never_blocks() {
    let e = env();
    std::fs::create_dir_all(&e.state).unwrap();
    let st = e.state.display().to_string();
    let mut holder = spawn_child("hold_lock", &[("KEEL_TEST_STATE", &st)]);
    let hp = holder.id();
    wait_for("the holder's lock", || {
        read_lock_holder(&e.state, "bob").is_some_and(|h| h.pid == hp)
    });
    let mut o = opts(&e, "ok", Runtime::Claude);
    o.lock_timeout_ms = 300;
    let err = TurnRunner::new(o).unwrap().run().await.unwrap_err();
    assert_eq!(err.code(), "KEEL_TURN_LOCK_TIMEOUT");
    assert!(err.to_string().contains(&format!("pid {hp}")), "{err}");
    kill_and_reap(&mut holder);
    let mut o = opts(&e, "ok", Runtime::Claude);
    o.lock_timeout_ms = 5_000;
    let (r, _) = run(o).await;
    assert!(r.clean_result);
    assert_eq!(
        read_lock_holder(&e.state, "bob").unwrap().pid,
        std::process::id()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_of_one_agent_in_two_processes_never_overlap() {
    let e = env();
    let intervals = e.state.parent().unwrap().join("intervals");
    let mut o = opts(&e, "slow", Runtime::Claude);
    o.env
        .insert("FAKE_INTERVALS".into(), intervals.display().to_string());
    o.env.insert("FAKE_SLEEP".into(), "0.8".into());
    let json = serde_json::to_string(&o).unwrap();
    let st = e.state.display().to_string();
    let child = spawn_child(
        "turn",
        &[("KEEL_TEST_STATE", &st), ("KEEL_TEST_OPTS", &json)],
    );
    let (r, _) = run(o.clone()).await;
    assert!(r.clean_result);
    let out = child.wait_with_output().unwrap();
    assert_success(&out, "the other process's turn");
    let text = std::fs::read_to_string(&intervals).unwrap();
    let mut iv: Vec<(f64, f64)> = Vec::new();
    let mut start = None;
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap();
        let v: f64 = v.parse().unwrap();
        match k {
            "start" => {
                assert!(start.is_none(), "two turns overlapped:\n{text}");
                start = Some(v);
            }
            _ => iv.push((start.take().unwrap(), v)),
        }
    }
    assert_eq!(iv.len(), 2, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_sigkilled_mid_turn_is_recovered_by_the_next_turn() {
    let e = env();
    let o = opts(&e, "stall", Runtime::Claude);
    let json = serde_json::to_string(&o).unwrap();
    let st = e.state.display().to_string();
    let mut child = spawn_child(
        "turn",
        &[("KEEL_TEST_STATE", &st), ("KEEL_TEST_OPTS", &json)],
    );
    let pid_path = e.state.join("agents/bob/turn.pid");
    wait_for("turn.pid", || pid_path.exists());
    wait_for("the session to be working", || {
        store(&e)
            .get_session("bob")
            .ok()
            .flatten()
            .is_some_and(|s| s.state == AgentState::Working)
    });
    let cli = PidRecord::read(&pid_path).unwrap();
    kill_and_reap(&mut child);
    // the kernel released the lock; turn.pid is left behind
    assert!(pid_path.exists());
    wait_for("the orphaned CLI to die (parent-death signal)", || {
        !cli.is_alive()
    });
    let mut o = opts(&e, "ok", Runtime::Claude);
    o.env.insert("FAKE_DONE".into(), "1".into());
    o.lock_timeout_ms = 5_000;
    let (r, _) = run(o).await;
    let rec = r.recovered.clone().expect("the crash was not detected");
    assert_eq!(rec.pid, Some(cli.pid));
    assert!(!rec.was_alive);
    assert_eq!(rec.previous_state, Some(AgentState::Working));
    assert!(rec.parent_notified);
    let died = worker_died(&e);
    assert_eq!(died.len(), 1, "{died:?}");
    assert!(died[0].body.contains("mid-turn"));
    // zombie is final: this turn ran, and the session stays zombie
    assert_eq!(r.initial_state, AgentState::Zombie);
    assert_eq!(r.final_state, AgentState::Zombie);
    assert_cleaned(&e);
}

/// Every byte the turn stores (the SQLite file and its WAL, runner.log, stderr.log,
/// turn.lock) is free of the secret, whatever path it came through: a non-JSON line, an
/// unknown event type, an error event, a hook event, an is_error result and the linger
/// kill's runner.log lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stored_byte_carries_a_secret_on_any_path() {
    let e = env();
    let mut o = opts(&e, "leaky", Runtime::Claude);
    o.result_grace_ms = 500;
    let (r, events) = run(o).await;
    // the is_error result ends the stall watch; the CLI then lingers and is killed
    assert!(r.linger_killed && !r.clean_result, "{r:?}");
    assert!(events.iter().any(|e| e.raw_type == "keel.non_json"));
    assert!(events.iter().any(|e| e.kind == EventKind::Error));
    for ev in &events {
        let s = serde_json::to_string(ev).unwrap();
        assert!(!s.contains("TESTSECRET"), "{s}");
    }
    let mut files = vec![e.state.clone()];
    let mut scanned = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            for entry in std::fs::read_dir(&p).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        scanned += 1;
        assert!(
            memchr::memmem::find(&bytes, b"TESTSECRET").is_none(),
            "the secret is stored in {}",
            p.display()
        );
    }
    assert!(scanned >= 4, "only {scanned} files");
    assert_cleaned(&e);
}
