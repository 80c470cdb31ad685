//! JobRegistry and supervised commands.
//!
//! Watchdog logic is tested on a `ManualClock` (deterministic: time moves only when the
//! test says so); supervised commands run real `sh -c` children on the system clock with
//! millisecond windows.

mod common;
use common::live_group_members;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::jobs::{
    run_command, CallMetric, CommandError, CommandSpec, FailureCause, JobContext, JobRegistry,
    JobState, JobView, OutputSink, OutputStream, Progress, ToolSpan, WatchdogLimits, WorkError,
};
use keel_core::process::{Command, ExitClass, KillReason, ProcessError};
use keel_core::time::{Clock, ManualClock};
use serde_json::json;

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// Let spawned tasks run until `cond` holds (bounded; current-thread runtime).
async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never became true");
}

/// Let spawned tasks run for a while (to show something does NOT happen).
async fn churn() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// Poll on the real clock until `cond` holds (bounded at 20 s).
async fn eventually(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + S(20);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(MS(5)).await;
    }
}

/// Commands a test sends to a scripted job.
#[derive(Debug)]
enum Step {
    Activity,
    Phase(&'static str),
    Span(&'static str),
    Finish,
    Fail(WorkError),
}

type Script = tokio::sync::mpsc::UnboundedReceiver<Step>;

/// A job that obeys a script from the test, and fails (as the reference's work throws)
/// when cancelled.
async fn scripted(
    script: Arc<Mutex<Option<Script>>>,
    ctx: JobContext,
) -> Result<String, WorkError> {
    let mut rx = script.lock().unwrap().take().expect("one script per job");
    loop {
        tokio::select! {
            step = rx.recv() => match step {
                Some(Step::Activity) => ctx.activity(),
                Some(Step::Phase(p)) => ctx.phase(p),
                Some(Step::Span(t)) => ctx.span(ToolSpan::new(t)),
                Some(Step::Finish) | None => return Ok("finished".into()),
                Some(Step::Fail(e)) => return Err(e),
            },
            _ = ctx.cancelled() => return Err(WorkError::agent("cancelled")),
        }
    }
}

struct Harness {
    clock: ManualClock,
    registry: JobRegistry<Arc<Mutex<Option<Script>>>, String>,
}

impl Harness {
    fn new(limits: WatchdogLimits) -> Self {
        let clock = ManualClock::new();
        let registry = JobRegistry::builder(scripted)
            .limits(limits)
            .clock(clock.shared())
            .retention(S(60))
            .build()
            .unwrap();
        Self { clock, registry }
    }

    fn start(&self, id: &str) -> tokio::sync::mpsc::UnboundedSender<Step> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.registry
            .start(id, Arc::new(Mutex::new(Some(rx))))
            .unwrap();
        tx
    }

    fn state(&self, id: &str) -> JobState {
        self.registry.peek(id).unwrap().state
    }

    /// Step the clock, then let the watchdog waiters react.
    async fn advance(&self, by: Duration) {
        churn().await;
        self.clock.advance(by);
        churn().await;
    }
}

#[tokio::test]
async fn inactivity_fires_with_the_reference_message_and_breadcrumb() {
    let h = Harness::new(WatchdogLimits::default().inactivity(Some(S(600))));
    let tx = h.start("j");
    tx.send(Step::Phase("clone")).unwrap();
    h.advance(S(558)).await;
    tx.send(Step::Span("Bash")).unwrap(); // a completed tool is not activity by itself
    h.advance(S(41)).await;
    assert_eq!(h.state("j"), JobState::Running);
    h.advance(S(1)).await;
    until(|| h.state("j") != JobState::Running).await;

    let view = h.registry.get("j").unwrap();
    assert_eq!(view.state, JobState::Failed);
    assert_eq!(view.failure_cause, Some(FailureCause::InactivityTimeout));
    assert_eq!(
        view.error.as_deref(),
        Some("Aborted: no agent activity for 600s (likely hung in clone phase; last completed tool Bash 42s ago)")
    );
    assert_eq!(
        view.detail.as_deref(),
        Some("Phase timings: starting=0s, clone=600s. last completed tool Bash 42s ago.")
    );
    assert_eq!(view.phase.as_deref(), Some("failed"));
    assert!(view.result.is_none());
}

#[tokio::test]
async fn inactivity_never_fires_while_activity_flows() {
    let h = Harness::new(WatchdogLimits::default().inactivity(Some(S(10))));
    let tx = h.start("j");
    for _ in 0..100 {
        h.advance(S(9)).await;
        tx.send(Step::Activity).unwrap();
    }
    churn().await;
    assert_eq!(h.state("j"), JobState::Running);
    // 900 s of runtime, far past the window, but never 10 s without activity.
    assert_eq!(h.clock.now(), S(900));
    tx.send(Step::Finish).unwrap();
    until(|| h.state("j") == JobState::Done).await;
    assert_eq!(
        h.registry.get("j").unwrap().result.as_deref(),
        Some("finished")
    );
}

#[tokio::test]
async fn max_duration_fires_on_a_steadily_active_job() {
    let h = Harness::new(
        WatchdogLimits::default()
            .inactivity(Some(S(600)))
            .max_duration(Some(S(3600))),
    );
    let tx = h.start("j");
    for _ in 0..35 {
        h.advance(S(100)).await;
        tx.send(Step::Activity).unwrap();
    }
    assert_eq!(h.state("j"), JobState::Running);
    h.advance(S(100)).await;
    until(|| h.state("j") != JobState::Running).await;
    let view = h.registry.get("j").unwrap();
    assert_eq!(view.failure_cause, Some(FailureCause::MaxDuration));
    assert_eq!(
        view.error.as_deref(),
        Some("Aborted: exceeded max duration of 3600s")
    );
    assert!(view
        .detail
        .unwrap()
        .starts_with("Phase timings: starting=3600s. no tool had completed yet"));
}

#[tokio::test]
async fn tool_silence_fires_when_activity_continues_without_spans() {
    let h = Harness::new(
        WatchdogLimits::default()
            .inactivity(Some(S(600)))
            .tool_silence(Some(S(300))),
    );
    let tx = h.start("j");
    tx.send(Step::Span("Read")).unwrap();
    for _ in 0..4 {
        h.advance(S(60)).await;
        tx.send(Step::Activity).unwrap();
    }
    h.advance(S(59)).await;
    assert_eq!(h.state("j"), JobState::Running);
    h.advance(S(1)).await;
    // 300 s since the span, with output all along.
    until(|| h.state("j") != JobState::Running).await;
    let view = h.registry.get("j").unwrap();
    assert_eq!(view.failure_cause, Some(FailureCause::NoToolProgress));
    assert_eq!(
        view.error.as_deref(),
        Some("Aborted: the agent produced output but completed no tool call for 300s (last completed tool Read 300s ago, silent for 60s)")
    );
}

#[tokio::test]
async fn tool_silence_is_reset_by_spans_and_defers_to_inactivity_in_silence() {
    let h = Harness::new(
        WatchdogLimits::default()
            .inactivity(Some(S(600)))
            .tool_silence(Some(S(300))),
    );
    // Spans every 200 s with output in between: never fires.
    let busy = h.start("busy");
    // Silence: no activity at all. Tool silence must not claim it; inactivity does.
    let _quiet = h.start("quiet");
    for _ in 0..2 {
        h.advance(S(100)).await;
        busy.send(Step::Activity).unwrap();
        h.advance(S(100)).await;
        busy.send(Step::Activity).unwrap();
        busy.send(Step::Span("Edit")).unwrap();
    }
    h.advance(S(200)).await;
    busy.send(Step::Activity).unwrap();
    until(|| h.state("quiet") != JobState::Running).await;
    assert_eq!(h.state("busy"), JobState::Running);
    let quiet = h.registry.get("quiet").unwrap();
    assert_eq!(quiet.failure_cause, Some(FailureCause::InactivityTimeout));
    busy.send(Step::Finish).unwrap();
    until(|| h.state("busy") == JobState::Done).await;
}

#[tokio::test]
async fn start_is_idempotent() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let registry = JobRegistry::builder(move |n: u32, _ctx| {
        r.fetch_add(1, Ordering::SeqCst);
        let g = g.clone();
        async move {
            g.notified().await;
            Ok::<_, WorkError>(n.to_string())
        }
    })
    .build()
    .unwrap();

    let first = registry.start("same", 1).unwrap();
    assert_eq!(first.state, JobState::Running);
    assert_eq!(first.phase.as_deref(), Some("starting"));
    let again = registry.start("same", 2).unwrap();
    assert_eq!(again.id, "same");
    assert_eq!(again.started_at, first.started_at);
    assert_eq!(registry.running_count(), 1);

    gate.notify_one();
    until(|| registry.running_count() == 0).await;
    // A finished id re-attaches too: it is not re-run.
    let done = registry.start("same", 3).unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.result.as_deref(), Some("1"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn spans_follow_ups_and_metrics_drain_on_read() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let registry = JobRegistry::builder(move |(): (), ctx: JobContext| {
        let g = g.clone();
        async move {
            ctx.phase("agent");
            ctx.progress(Progress::new(1, 3));
            ctx.span(ToolSpan::new("Bash"));
            ctx.span(ToolSpan::new("Edit"));
            ctx.follow_up(json!({"kind": "question", "text": "why?"}));
            let mut m = serde_json::Map::new();
            m.insert("model".into(), json!("m1"));
            assert_eq!(ctx.metric(CallMetric::new(m.clone())), 0);
            assert_eq!(ctx.metric(CallMetric::new(m)), 1);
            g.notified().await;
            ctx.span(ToolSpan::new("Write"));
            g.notified().await;
            Ok::<_, WorkError>(())
        }
    })
    .build()
    .unwrap();
    registry.start("j", ()).unwrap();
    until(|| registry.peek("j").unwrap().phase.as_deref() == Some("agent")).await;
    churn().await;

    let first = registry.get("j").unwrap();
    let tools: Vec<_> = first
        .spans
        .as_ref()
        .unwrap()
        .iter()
        .map(|s| s.tool.as_str())
        .collect();
    assert_eq!(tools, ["Bash", "Edit"]);
    assert_eq!(first.follow_ups.as_ref().unwrap().len(), 1);
    let metrics = first.call_metrics.as_ref().unwrap();
    assert_eq!((metrics[0].seq, metrics[1].seq), (0, 1));
    assert_eq!(metrics[0].phase, "agent");
    assert_eq!(first.progress, Some(Progress::new(1, 3)));
    assert!(first.dropped.is_none());

    let second = registry.get("j").unwrap();
    assert!(second.spans.is_none() && second.follow_ups.is_none() && second.call_metrics.is_none());

    gate.notify_one();
    until(|| registry.peek("j").unwrap().spans.is_none()).await; // peek never drains
    churn().await;
    let third = registry.get("j").unwrap();
    assert_eq!(third.spans.unwrap()[0].tool, "Write");
    gate.notify_one();
}

#[tokio::test]
async fn buffers_are_bounded_and_count_drops() {
    let registry = JobRegistry::builder(|(): (), ctx: JobContext| async move {
        for i in 0..5 {
            let mut s = ToolSpan::new(format!("t{i}"));
            s.seq = i;
            ctx.span(s);
            ctx.follow_up(json!(i));
            ctx.metric(CallMetric::default());
        }
        Ok::<_, WorkError>(())
    })
    .buffer_caps(2, 3, 1)
    .build()
    .unwrap();
    registry.start("j", ()).unwrap();
    until(|| registry.running_count() == 0).await;
    let view = registry.get("j").unwrap();
    let seqs: Vec<u64> = view.spans.unwrap().iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [3, 4], "oldest dropped first");
    assert_eq!(view.follow_ups.unwrap(), vec![json!(2), json!(3), json!(4)]);
    assert_eq!(view.call_metrics.unwrap()[0].seq, 4);
    let dropped = view.dropped.unwrap();
    assert_eq!(
        (dropped.spans, dropped.follow_ups, dropped.call_metrics),
        (3, 2, 4)
    );
    // Drop counters drain with the buffers.
    assert!(registry.get("j").unwrap().dropped.is_none());
}

#[tokio::test]
async fn abort_returns_the_settled_state() {
    let h = Harness::new(WatchdogLimits::default());
    let tx = h.start("j");
    tx.send(Step::Phase("push")).unwrap();
    churn().await;
    assert_eq!(
        h.registry.abort("j", "operator stop").await,
        Some(JobState::Failed)
    );
    let view = h.registry.get("j").unwrap();
    assert_eq!(view.failure_cause, Some(FailureCause::Aborted));
    assert_eq!(view.error.as_deref(), Some("Aborted: operator stop"));
    assert!(view.detail.unwrap().contains("Aborted in push phase"));
    // Idempotent for a retrying caller, and None (not "stopped") for an unknown id.
    assert_eq!(h.registry.abort("j", "again").await, Some(JobState::Failed));
    assert_eq!(h.registry.abort("nope", "x").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_reports_running_when_the_job_does_not_settle_in_time() {
    let registry = JobRegistry::builder(|(): (), _ctx: JobContext| async move {
        // Ignores cancellation.
        tokio::time::sleep(S(3)).await;
        Ok::<_, WorkError>(())
    })
    .abort_settle(MS(50))
    .cancel_grace(MS(300))
    .build()
    .unwrap();
    registry.start("stubborn", ()).unwrap();
    assert_eq!(
        registry.abort("stubborn", "stop").await,
        Some(JobState::Running)
    );
    // After the cancel grace the registry drops the work and the job settles as aborted.
    eventually(|| registry.running_count() == 0).await;
    assert_eq!(
        registry.get("stubborn").unwrap().failure_cause,
        Some(FailureCause::Aborted)
    );
}

#[tokio::test]
async fn abort_all_aborts_every_running_job() {
    let h = Harness::new(WatchdogLimits::default());
    let senders: Vec<_> = (0..5).map(|i| h.start(&format!("j{i}"))).collect();
    senders[0].send(Step::Finish).unwrap();
    until(|| h.registry.running_count() == 4).await;
    assert_eq!(h.registry.abort_all("shutting down"), 4);
    until(|| h.registry.running_count() == 0).await;
    assert_eq!(h.state("j0"), JobState::Done);
    for i in 1..5 {
        let v = h.registry.get(&format!("j{i}")).unwrap();
        assert_eq!(v.error.as_deref(), Some("Aborted: shutting down"));
    }
    assert_eq!(h.registry.abort_all("again"), 0);
}

#[tokio::test]
async fn finished_jobs_are_evicted_after_retention() {
    let h = Harness::new(WatchdogLimits::default());
    let done = h.start("done");
    let _running = h.start("running");
    done.send(Step::Finish).unwrap();
    until(|| h.state("done") == JobState::Done).await;
    h.advance(S(59)).await;
    assert!(h.registry.get("done").is_some());
    h.advance(S(1)).await;
    until(|| h.registry.get("done").is_none()).await;
    // Running jobs are never evicted.
    assert!(h.registry.get("running").is_some());
    assert_eq!(h.registry.len(), 1);
    // An evicted id can be started afresh.
    let again = h.start("done");
    assert_eq!(h.state("done"), JobState::Running);
    again.send(Step::Finish).unwrap();
}

#[tokio::test]
async fn failures_keep_their_cause_and_are_described() {
    let h = Harness::new(WatchdogLimits::default());
    let tx = h.start("git");
    tx.send(Step::Phase("push")).unwrap();
    tx.send(Step::Fail(WorkError::new(
        FailureCause::Git,
        "push rejected",
    )))
    .unwrap();
    until(|| h.state("git") != JobState::Running).await;
    let v = h.registry.get("git").unwrap();
    assert_eq!(v.failure_cause, Some(FailureCause::Git));
    assert_eq!(v.error.as_deref(), Some("push rejected"));
    assert_eq!(
        v.detail.as_deref(),
        Some(
            "Phase timings: starting=0s, push=0s. Failed in push phase; no tool had completed yet."
        )
    );

    let tx = h.start("plain");
    tx.send(Step::Fail(WorkError::agent("boom"))).unwrap();
    until(|| h.state("plain") != JobState::Running).await;
    assert_eq!(
        h.registry.get("plain").unwrap().failure_cause,
        Some(FailureCause::Agent)
    );
}

#[tokio::test]
async fn a_panicking_job_fails_instead_of_running_forever() {
    let registry = JobRegistry::builder(|(): (), _ctx: JobContext| async move {
        if true {
            panic!("worker exploded");
        }
        Ok::<(), WorkError>(())
    })
    .build()
    .unwrap();
    registry.start("p", ()).unwrap();
    until(|| registry.running_count() == 0).await;
    let v = registry.get("p").unwrap();
    assert_eq!(v.state, JobState::Failed);
    assert_eq!(v.error.as_deref(), Some("job panicked: worker exploded"));
}

#[tokio::test]
async fn a_clean_result_carrying_an_error_keeps_its_cause() {
    let registry = JobRegistry::builder(|(): (), _ctx: JobContext| async move {
        Ok::<_, WorkError>(json!({"error": "no report", "failureCause": "no-usable-output"}))
    })
    .build()
    .unwrap();
    registry.start("r", ()).unwrap();
    until(|| registry.running_count() == 0).await;
    let v = registry.get("r").unwrap();
    assert_eq!(v.state, JobState::Done);
    assert_eq!(v.failure_cause, Some(FailureCause::NoUsableOutput));
}

#[tokio::test]
async fn job_view_json_has_the_reference_shape() {
    let h = Harness::new(WatchdogLimits::default());
    let tx = h.start("shape");
    h.advance(S(5)).await;
    tx.send(Step::Activity).unwrap();
    churn().await;
    let v: JobView<String> = h.registry.get("shape").unwrap();
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(j["id"], "shape");
    assert_eq!(j["state"], "running");
    assert_eq!(j["phase"], "starting");
    assert_eq!(
        j["heartbeatAt"].as_u64().unwrap(),
        j["startedAt"].as_u64().unwrap() + 5000
    );
    for absent in [
        "result",
        "error",
        "failureCause",
        "detail",
        "spans",
        "followUps",
        "callMetrics",
        "progress",
    ] {
        assert!(j.get(absent).is_none(), "{absent} should be omitted: {j}");
    }
    tx.send(Step::Finish).unwrap();
    until(|| h.state("shape") == JobState::Done).await;
    let j = serde_json::to_value(h.registry.get("shape").unwrap()).unwrap();
    assert_eq!(j["state"], "done");
    assert_eq!(j["result"], "finished");
    assert_eq!(j["phase"], "done");
}

#[tokio::test]
async fn bad_ids_and_config_are_rejected_clearly() {
    let h = Harness::new(WatchdogLimits::default());
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let e = h
        .registry
        .start("", Arc::new(Mutex::new(Some(rx))))
        .unwrap_err();
    assert!(
        e.to_string().contains("job id") && e.to_string().contains("empty"),
        "{e}"
    );
    let e = JobRegistry::builder(scripted)
        .limits(WatchdogLimits::default().inactivity(Some(Duration::ZERO)))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("inactivity"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_jobs() {
    let registry = JobRegistry::builder(|(): (), ctx: JobContext| async move {
        ctx.activity();
        ctx.cancelled().await;
        Err::<(), _>(WorkError::agent("cancelled"))
    })
    .build()
    .unwrap();
    for i in 0..10_000 {
        registry.start(&format!("job-{i}"), ()).unwrap();
    }
    assert_eq!(registry.running_count(), 10_000);
    assert_eq!(registry.len(), 10_000);
    assert_eq!(registry.abort_all("drain"), 10_000);
    eventually(|| registry.running_count() == 0).await;
    let v = registry.get("job-9999").unwrap();
    assert_eq!(v.failure_cause, Some(FailureCause::Aborted));
}

// ---- supervised commands: real processes ------------------------------------------

fn sh(script: &str) -> Command {
    Command::new(["sh", "-c", script])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_inactivity_fires_when_output_stops() {
    let r = run_command(
        CommandSpec::new(sh("echo started; sleep 30"))
            .limits(WatchdogLimits::default().inactivity(Some(MS(300)))),
    )
    .await
    .unwrap();
    assert_eq!(r.kill_reason, Some(KillReason::InactivityTimeout));
    assert!(matches!(
        r.exit,
        ExitClass::Killed {
            reason: KillReason::InactivityTimeout,
            ..
        }
    ));
    assert_eq!(r.tail.as_deref(), Some("started"));
    assert!(r.error.is_some());
    assert_eq!(live_group_members(r.pid), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_inactivity_never_fires_while_output_flows() {
    // ~0.6 s of output every 20 ms against a 2 s window.
    let r = run_command(
        CommandSpec::new(sh(
            "i=0; while [ $i -lt 30 ]; do echo $i; sleep 0.02; i=$((i+1)); done",
        ))
        .limits(WatchdogLimits::default().inactivity(Some(S(2)))),
    )
    .await
    .unwrap();
    assert_eq!(r.kill_reason, None);
    assert_eq!(r.exit, ExitClass::Exited { code: 0 });
    assert!(r.tail.unwrap().ends_with("28\n29"));
    assert!(r.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_max_duration_fires_on_a_steadily_chatty_child() {
    let r = run_command(
        CommandSpec::new(sh("while :; do echo tick; sleep 0.01; done")).limits(
            WatchdogLimits::default()
                .inactivity(Some(S(10)))
                .max_duration(Some(MS(400))),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.kill_reason, Some(KillReason::MaxDuration));
    assert!(r.stdout_bytes > 0);
    assert_eq!(live_group_members(r.pid), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_kill_leaves_no_survivor_in_the_process_tree() {
    // One grandchild holds the pipes, one loops in a subshell, one ignores SIGTERM.
    let script = r#"
        sleep 1000 &
        (while :; do sleep 0.05; done) &
        sh -c 'trap "" TERM; echo ready; while :; do sleep 0.05; done' &
        wait
    "#;
    let r = run_command(
        CommandSpec::new(sh(script))
            .limits(WatchdogLimits::default().inactivity(Some(MS(400))))
            .kill_grace(MS(200)),
    )
    .await
    .unwrap();
    assert_eq!(r.kill_reason, Some(KillReason::InactivityTimeout));
    assert!(r.escalated, "the TERM-ignoring grandchild forces SIGKILL");
    assert!(r.group_cleared);
    assert_eq!(r.tail.as_deref(), Some("ready"));
    assert_eq!(live_group_members(r.pid), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_exit_with_a_grandchild_holding_the_pipes_is_drained_and_reaped() {
    let r = run_command(
        CommandSpec::new(sh("sleep 30 & echo done"))
            .drain_timeout(MS(200))
            .kill_grace(S(2)),
    )
    .await
    .unwrap();
    assert_eq!(r.exit, ExitClass::Exited { code: 0 });
    assert_eq!(r.tail.as_deref(), Some("done"));
    assert!(r.drain_timed_out);
    assert!(r.group_cleared);
    assert_eq!(live_group_members(r.pid), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_output_streams_to_callbacks_and_files_and_stdin_is_fed() {
    let dir = tempfile::tempdir().unwrap();
    let err_file = dir.path().join("stderr.log");
    let seen = Arc::new(Mutex::new(String::new()));
    let s = seen.clone();
    let r = run_command(
        CommandSpec::new(sh("cat; echo oops >&2; exit 4"))
            .stdin_data("line one\nline two\n")
            .stdout(OutputSink::Callback(Arc::new(move |stream, text| {
                assert_eq!(stream, OutputStream::Stdout);
                s.lock().unwrap().push_str(text);
            })))
            .stderr(OutputSink::File {
                path: err_file.clone(),
                append: false,
            }),
    )
    .await
    .unwrap();
    assert_eq!(r.exit, ExitClass::Exited { code: 4 });
    assert_eq!(*seen.lock().unwrap(), "line one\nline two\n");
    assert_eq!(std::fs::read_to_string(&err_file).unwrap(), "oops\n");
    assert_eq!(r.tail.as_deref(), Some("line one\nline two\noops"));
    assert_eq!(r.error.as_deref(), Some("command sh: exited with code 4"));
    assert_eq!((r.stdout_bytes, r.stderr_bytes), (18, 5));
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["exit"], json!({"kind": "exited", "code": 4}));
    assert!(j.get("durationMs").is_some() && j.get("killReason").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_tail_is_bounded() {
    let r = run_command(
        CommandSpec::new(sh(
            "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done",
        ))
        .tail_chars(100),
    )
    .await
    .unwrap();
    let tail = r.tail.clone().unwrap();
    // 2000 lines × 11 chars, trimmed: 21,999 chars, the last 100 kept.
    assert!(
        tail.starts_with("…(21899 earlier chars trimmed)\n"),
        "{tail:?} {r:?}"
    );
    assert_eq!(tail.lines().last(), Some("0123456789"));
    assert_eq!(r.stdout_bytes, 22_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_bad_input_gives_clear_errors() {
    let e = run_command(CommandSpec::new(Command::new(Vec::<String>::new())))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CommandError::Spawn(ProcessError::EmptyArgv)),
        "{e:?}"
    );
    let e = run_command(CommandSpec::new(Command::new(["keel-missing-binary"])))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("keel-missing-binary"), "{e}");
    let e = run_command(CommandSpec::new(Command::new(["true"]).cwd("/no/such/dir")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/no/such/dir"), "{e}");
    let e = run_command(
        CommandSpec::new(sh("true"))
            .limits(WatchdogLimits::default().max_duration(Some(Duration::ZERO))),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("maxDuration"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_job_running_a_command_is_killed_by_tool_silence() {
    let registry = JobRegistry::builder(|script: &'static str, ctx: JobContext| async move {
        ctx.phase("agent");
        Ok(ctx
            .run_command(CommandSpec::new(sh(script)).kill_grace(S(2)))
            .await?)
    })
    .limits(
        WatchdogLimits::default()
            .inactivity(Some(S(10)))
            .tool_silence(Some(MS(300))),
    )
    .build()
    .unwrap();
    registry
        .start("chatty", "while :; do echo thinking; sleep 0.01; done")
        .unwrap();
    eventually(|| registry.running_count() == 0).await;
    let v = registry.get("chatty").unwrap();
    assert_eq!(v.failure_cause, Some(FailureCause::NoToolProgress));
    assert!(v
        .error
        .unwrap()
        .starts_with("Aborted: the agent produced output but completed no tool call for 300ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_abort_terminates_the_command_tree_and_reports_failed() {
    let pid = Arc::new(AtomicUsize::new(0));
    let p = pid.clone();
    let registry = JobRegistry::builder(move |(): (), ctx: JobContext| {
        let p = p.clone();
        async move {
            ctx.phase("build");
            let r = ctx
                .run_command(
                    CommandSpec::new(sh("trap '' TERM; echo ready; sleep 1000 & wait"))
                        .stdout(OutputSink::Callback(Arc::new(|_, _| {})))
                        .kill_grace(MS(200)),
                )
                .await?;
            p.store(r.pid as usize, Ordering::SeqCst);
            Ok::<_, WorkError>(r)
        }
    })
    .build()
    .unwrap();
    registry.start("build", ()).unwrap();
    eventually(|| registry.peek("build").unwrap().phase.as_deref() == Some("build")).await;
    tokio::time::sleep(MS(100)).await;
    assert_eq!(
        registry.abort("build", "user cancelled").await,
        Some(JobState::Failed)
    );
    let v = registry.get("build").unwrap();
    assert_eq!(v.error.as_deref(), Some("Aborted: user cancelled"));
    let pgid = pid.load(Ordering::SeqCst) as u32;
    assert!(pgid > 1);
    assert_eq!(live_group_members(pgid), Vec::<u32>::new());
}

// ---- redaction ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_output_is_redacted_in_callbacks_files_and_tail() {
    let redactor = keel_core::redact::Redactor::new();
    redactor.add_secret("leased-token-0123456789");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.log");
    let seen = Arc::new(Mutex::new(String::new()));
    let s = seen.clone();
    // The secret is printed in two writes, so it straddles pipe reads.
    let r = run_command(
        CommandSpec::new(sh(
            "printf 'auth leased-token-'; sleep 0.05; printf '0123456789 ok\\n'; \
             echo 'clone https://bot:hunter2pass@example.com/x.git' >&2",
        ))
        .redactor(redactor)
        .stdout(OutputSink::Callback(Arc::new(move |_, text| {
            s.lock().unwrap().push_str(text)
        })))
        .stderr(OutputSink::File {
            path: file.clone(),
            append: false,
        }),
    )
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), "auth *** ok\n");
    let err = std::fs::read_to_string(&file).unwrap();
    assert!(!err.contains("hunter2pass"), "{err}");
    let tail = r.tail.unwrap();
    assert!(
        !tail.contains("0123456789") && !tail.contains("hunter2pass"),
        "{tail}"
    );
}

#[tokio::test]
async fn job_errors_reasons_and_spans_are_redacted() {
    let redactor = keel_core::redact::Redactor::new();
    redactor.add_secret("sk-live-abcdef123456");
    let registry = JobRegistry::builder(|fail: bool, ctx: JobContext| async move {
        let mut span = ToolSpan::new("Bash");
        span.extra
            .insert("args".into(), json!("curl -H 'x: sk-live-abcdef123456'"));
        ctx.span(span);
        if fail {
            return Err(WorkError::new(
                FailureCause::Git,
                "push to https://bot:hunter2pass@example.com failed",
            ));
        }
        ctx.cancelled().await;
        Ok(())
    })
    .redactor(redactor)
    .build()
    .unwrap();
    registry.start("fails", true).unwrap();
    registry.start("aborted", false).unwrap();
    until(|| registry.running_count() == 1).await;
    let v = registry.get("fails").unwrap();
    let json = serde_json::to_string(&v).unwrap();
    assert!(
        !json.contains("hunter2pass") && !json.contains("sk-live-abcdef123456"),
        "{json}"
    );
    assert!(v.error.unwrap().starts_with("push to https://"));

    let state = registry
        .abort("aborted", "stop: key sk-live-abcdef123456 leaked")
        .await;
    assert_eq!(state, Some(JobState::Failed));
    let v = registry.get("aborted").unwrap();
    assert_eq!(v.error.as_deref(), Some("Aborted: stop: key *** leaked"));
}

/// The surfaces' pieces: `CommandOptions` (0 disables a watchdog), `AbortSignal` for a
/// standalone command, `external_work` + `wait_cancelled_blocking` for work on a host
/// thread, all on a `JobRuntime` of keel's own.
#[test]
fn surface_building_blocks_on_a_keel_runtime() {
    use keel_core::jobs::{
        external_work, AbortSignal, CommandOptions, FailureCause, JobRegistry, JobRuntime,
        JobState, WatchdogLimits, WorkError,
    };

    let rt = JobRuntime::new("keel-test-surface").unwrap();

    // CommandOptions → spec; an AbortSignal kills the command's group.
    let mut o = CommandOptions::new("sh");
    o.args = vec!["-c".into(), "echo up; sleep 30".into()];
    o.inactivity_ms = Some(0); // off
    o.max_duration_ms = Some(0); // off
    o.kill_grace_ms = Some(1000);
    assert_eq!(o.limits(), WatchdogLimits::none());
    let abort = AbortSignal::new();
    let spec = o.into_spec().abort_signal(abort.clone());
    let handle = rt.spawn(keel_core::jobs::run_command(spec));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!handle.is_finished());
    abort.abort();
    let result = rt.block_on(handle).unwrap().unwrap();
    assert_eq!(result.kill_reason, Some(KillReason::Aborted));
    assert!(result.group_cleared);

    // Work on a host thread that only watches for cancellation.
    let registry = JobRegistry::builder(|_: (), ctx| {
        let (done, work) = external_work::<String>();
        std::thread::spawn(move || {
            ctx.phase("host");
            let cancelled = ctx.wait_cancelled_blocking(Duration::from_secs(10));
            done.complete(if cancelled {
                Err(WorkError::agent("stopped"))
            } else {
                Ok("finished".into())
            });
        });
        work
    })
    .limits(WatchdogLimits::none().inactivity(Some(Duration::from_millis(150))))
    .runtime(rt.handle().clone())
    .build()
    .unwrap();
    registry.start("host", ()).unwrap();
    let t = std::time::Instant::now();
    while registry.running_count() > 0 {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(5));
    }
    let view = registry.get("host").unwrap();
    assert_eq!(view.state, JobState::Failed);
    assert_eq!(view.failure_cause, Some(FailureCause::InactivityTimeout));
    assert!(view.error.unwrap().contains("likely hung in host phase"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_kills_every_escape_form_whole() {
    // Each form leaves a process outside the leader's group (or orphaned); the
    // inactivity watchdog fires after `ready`, and nothing carrying the job's mark may
    // be left anywhere on the machine afterwards.
    for (name, script) in common::ESCAPES {
        let mark = common::new_mark();
        let r = run_command(
            CommandSpec::new(sh(script).env("KEEL_TREE_MARK", &mark))
                .limits(WatchdogLimits::default().inactivity(Some(MS(400))))
                .kill_grace(MS(300)),
        )
        .await
        .unwrap();
        if *name == "leader calls setsid" {
            // The leader (setsid) forked and exited at once; the job ended with it and
            // its leftovers were killed as a tree.
            assert_eq!(r.exit, ExitClass::Exited { code: 0 }, "{name}: {r:?}");
        } else {
            assert_eq!(r.kill_reason, Some(KillReason::InactivityTimeout), "{name}");
        }
        assert!(r.tree_cleared, "{name}: {r:?}");
        assert!(r.group_cleared, "{name}: {r:?}");
        assert!(r.survivors.is_empty(), "{name}: {r:?}");
        assert_eq!(common::marked(&mark), Vec::<u32>::new(), "{name}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["treeCleared"], true, "{name}");
        assert_eq!(json["groupCleared"], true, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_leader_exits_at_once_does_not_leave_its_daemon_behind() {
    // `keel run -- setsid sleep 3000` used to exit 0 at once and leave the sleep.
    let mark = common::new_mark();
    let r = run_command(
        CommandSpec::new(Command::new(["setsid", "sleep", "3000"]).env("KEEL_TREE_MARK", &mark))
            .drain_timeout(MS(100))
            .kill_grace(S(2)),
    )
    .await
    .unwrap();
    assert_eq!(r.exit, ExitClass::Exited { code: 0 });
    assert!(r.tree_cleared, "{r:?}");
    assert_eq!(common::marked(&mark), Vec::<u32>::new());
}

// ---- external jobs, cold start, explicit tool windows, RunnerLimits (N1) ------------

use keel_core::jobs::{JobEvent, RunnerLimits, Started};

/// A registry for external jobs only (its run function is never called).
fn external_registry(limits: WatchdogLimits, clock: &ManualClock) -> JobRegistry<(), String> {
    JobRegistry::builder(|(): (), _ctx| async { Ok::<String, WorkError>("unused".into()) })
        .limits(limits)
        .clock(clock.shared())
        .explicit_tool_windows(true)
        .build()
        .unwrap()
}

fn new_job(r: &JobRegistry<(), String>, id: &str) -> keel_core::jobs::ExternalJob<String> {
    match r.start_external(id).unwrap() {
        Started::New(job) => job,
        Started::Existing(_) => panic!("{id} exists"),
    }
}

#[tokio::test]
async fn external_complete_settles_before_it_returns() {
    let clock = ManualClock::new();
    let r = external_registry(WatchdogLimits::default(), &clock);
    let job = new_job(&r, "j");
    job.context().phase("agent");
    assert!(matches!(
        r.start_external("j").unwrap(),
        Started::Existing(_)
    ));
    assert_eq!(r.running_count(), 1);
    assert!(job.complete(Ok("42".into())));
    // No task has run in between: the view is already final.
    let v = r.peek("j").unwrap();
    assert_eq!(v.state, JobState::Done);
    assert_eq!(v.result.as_deref(), Some("42"));
    assert_eq!(r.running_count(), 0);

    let failing = new_job(&r, "f");
    assert!(failing.complete(Err(WorkError::new(FailureCause::Git, "push rejected"))));
    let v = r.peek("f").unwrap();
    assert_eq!(
        (v.state, v.failure_cause),
        (JobState::Failed, Some(FailureCause::Git))
    );

    // Dropped without an outcome: failed, not running forever.
    drop(new_job(&r, "d"));
    let v = r.peek("d").unwrap();
    assert_eq!(v.state, JobState::Failed);
    assert!(v.error.unwrap().contains("dropped without an outcome"));
    assert_eq!(r.running_count(), 0);
}

#[tokio::test]
async fn external_jobs_hear_of_cancellation_and_abandonment() {
    let clock = ManualClock::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let r = JobRegistry::builder(|(): (), _ctx| async { Ok::<String, WorkError>(String::new()) })
        .limits(WatchdogLimits::default().inactivity(Some(S(10))))
        .clock(clock.shared())
        .cancel_grace(S(5))
        .on_event(move |ctx, e| ev.lock().unwrap().push((ctx.id().to_owned(), e)))
        .build()
        .unwrap();
    let ignores = new_job(&r, "ignores");
    churn().await;
    clock.advance(S(10));
    until(|| events.lock().unwrap().len() == 1).await;
    assert_eq!(
        events.lock().unwrap()[0],
        ("ignores".to_owned(), JobEvent::Cancelled)
    );
    assert_eq!(r.peek("ignores").unwrap().state, JobState::Running);
    churn().await;
    clock.advance(S(5));
    until(|| events.lock().unwrap().len() == 2).await;
    assert_eq!(events.lock().unwrap()[1].1, JobEvent::Abandoned);
    let v = r.peek("ignores").unwrap();
    assert_eq!(v.failure_cause, Some(FailureCause::InactivityTimeout));
    // The late outcome is refused.
    assert!(!ignores.complete(Ok("late".into())));
    assert_eq!(r.peek("ignores").unwrap().state, JobState::Failed);
}

#[tokio::test]
async fn cold_start_is_recorded_once_and_never_kills() {
    let clock = ManualClock::new();
    let r = external_registry(WatchdogLimits::default().cold_start(Some(S(120))), &clock);
    let quiet = new_job(&r, "quiet");
    quiet.context().phase("clone");
    let talks = new_job(&r, "talks");
    churn().await;
    clock.advance(S(60));
    talks.context().activity();
    churn().await;
    clock.advance(S(60));
    until(|| r.peek("quiet").unwrap().cold_start.is_some()).await;
    let cs = r.peek("quiet").unwrap().cold_start.unwrap();
    assert_eq!(
        cs.message,
        "agent produced no output 120s after start; possible onboarding/auth wedge (phase: clone)"
    );
    assert_eq!(r.peek("quiet").unwrap().state, JobState::Running);
    churn().await;
    assert!(r.peek("talks").unwrap().cold_start.is_none());
    assert!(quiet.complete(Err(WorkError::agent("claude exited with code 1"))));
    let v = r.peek("quiet").unwrap();
    assert!(
        v.detail.as_deref().unwrap().ends_with(
            " Cold start: agent produced no output 120s after start; possible onboarding/auth wedge (phase: clone)."
        ),
        "{:?}",
        v.detail
    );
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["coldStart"]["message"], cs.message);
    assert!(json["coldStart"]["atMs"].is_u64());
}

#[tokio::test]
async fn explicit_tool_windows_time_only_open_windows() {
    let clock = ManualClock::new();
    let r = external_registry(
        WatchdogLimits::default()
            .inactivity(Some(S(600)))
            .tool_silence(Some(S(60))),
        &clock,
    );
    let never_opens = new_job(&r, "never-opens");
    let beats = new_job(&r, "beats");
    let bw = beats.context().begin_tool_window();
    let chatty = new_job(&r, "chatty");
    let cw = chatty.context().begin_tool_window();
    let closed = new_job(&r, "closed");
    closed.context().begin_tool_window().close();
    let superseded = new_job(&r, "superseded");
    let stale = superseded.context().begin_tool_window();
    let _live = superseded.context().begin_tool_window();
    stale.close();
    let spans_only = new_job(&r, "spans-only");
    spans_only.context().begin_tool_window();
    for _ in 0..6 {
        churn().await;
        clock.advance(S(20));
        for j in [
            &never_opens,
            &beats,
            &chatty,
            &closed,
            &superseded,
            &spans_only,
        ] {
            j.context().activity();
        }
        bw.tool_completed();
        stale.tool_completed(); // ignored: superseded
        spans_only.context().span(ToolSpan::new("Bash")); // spans do not beat a window
    }
    until(|| r.peek("chatty").unwrap().state == JobState::Failed).await;
    until(|| r.peek("superseded").unwrap().state == JobState::Failed).await;
    until(|| r.peek("spans-only").unwrap().state == JobState::Failed).await;
    for id in ["chatty", "superseded", "spans-only"] {
        assert_eq!(
            r.peek(id).unwrap().failure_cause,
            Some(FailureCause::NoToolProgress),
            "{id}"
        );
    }
    for id in ["never-opens", "beats", "closed"] {
        assert_eq!(r.peek(id).unwrap().state, JobState::Running, "{id}");
    }
    assert!(cw.id() > 0);
    // Tool silence off: an inert window.
    let off = external_registry(WatchdogLimits::default(), &clock);
    assert_eq!(new_job(&off, "x").context().begin_tool_window().id(), 0);
}

#[test]
fn runner_limits_follow_the_reference_env_rules() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        RunnerLimits::from_lookup(move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    };
    let d = env(&[]);
    assert_eq!(
        (
            d.max_duration_ms,
            d.inactivity_ms,
            d.cold_start_ms,
            d.tool_silence_ms
        ),
        (3_600_000, 600_000, 120_000, 1_800_000)
    );
    let l = env(&[
        ("JOB_MAX_DURATION_MS", "1000"),
        ("JOB_INACTIVITY_MS", "nope"),
    ]);
    assert_eq!(
        (l.max_duration_ms, l.inactivity_ms, l.tool_silence_ms),
        (1000, 600_000, 600_000)
    );
    let l = env(&[("JOB_MAX_DURATION_MS", "1200000")]);
    assert_eq!(l.tool_silence_ms, 600_000);
    let l = env(&[("JOB_COLD_START_MS", "0"), ("JOB_TOOL_SILENCE_MS", "0")]);
    assert_eq!((l.cold_start_ms, l.tool_silence_ms), (0, 0));
    let w = l.watchdog_limits();
    assert_eq!(
        (w.cold_start_window(), w.tool_silence_window()),
        (None, None)
    );
    let l = env(&[
        ("JOB_INACTIVITY_MS", "0"),
        ("JOB_MAX_DURATION_MS", "-1"),
        ("JOB_COLD_START_MS", " 1e3 "),
        ("JOB_TOOL_SILENCE_MS", "0x10"),
    ]);
    assert_eq!(
        (
            l.inactivity_ms,
            l.max_duration_ms,
            l.cold_start_ms,
            l.tool_silence_ms
        ),
        (600_000, 3_600_000, 1000, 16)
    );
    let l = env(&[("JOB_COLD_START_MS", ""), ("JOB_MAX_DURATION_MS", "")]);
    assert_eq!((l.cold_start_ms, l.max_duration_ms), (0, 3_600_000));
    assert_eq!(
        serde_json::to_value(d).unwrap(),
        json!({"maxDurationMs": 3_600_000, "inactivityMs": 600_000, "coldStartMs": 120_000, "toolSilenceMs": 1_800_000})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_result_is_redacted_recursively_in_every_view() {
    let redactor = keel_core::redact::Redactor::new();
    redactor.add_secret("result-secret-0123456789");
    let registry = JobRegistry::builder(|(): (), _ctx: JobContext| async move {
        Ok::<_, WorkError>(json!({
            "summary": "used result-secret-0123456789",
            "nested": [{"deep": "token=result-secret-0123456789"}, 7, null],
            "result-secret-0123456789": "as a key",
        }))
    })
    .redactor(redactor)
    .build()
    .unwrap();
    registry.start("r", ()).unwrap();
    eventually(|| registry.running_count() == 0).await;
    let view = registry.get("r").unwrap();
    assert_eq!(view.state, JobState::Done);
    let text = serde_json::to_string(&view).unwrap();
    assert!(!text.contains("result-secret-0123456789"), "{text}");
    let result = view.result.unwrap();
    assert_eq!(result["summary"], "used ***");
    assert_eq!(result["nested"][1], 7);
    assert!(result["nested"][0]["deep"]
        .as_str()
        .unwrap()
        .contains("***"));
}
