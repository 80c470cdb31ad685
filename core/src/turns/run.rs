//! The run of one turn.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::lock;
use super::ndjson::{Frame, Framer};
use super::store::{now_ms, AgentState, EventRow, Message, Store, TransitionOutcome};
use super::{EventKind, RecoveredTurn, TurnError, TurnEvent, TurnResult, TurnRunner};
use crate::process::{Command, ExitClass, PidRecord, StdinMode};
use crate::redact;

enum Owned {
    Line(Vec<u8>),
    TooLong(u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kill {
    Stall,
    Abort,
    Linger,
}

impl Kill {
    fn as_str(self) -> &'static str {
        match self {
            Kill::Stall => "stall",
            Kill::Abort => "abort",
            Kill::Linger => "linger",
        }
    }
}

/// Appends redacted diagnostics to `<logDir>/runner.log` and to `tracing`.
struct RunnerLog {
    path: Option<PathBuf>,
    agent: String,
}

impl RunnerLog {
    fn log(&self, level: &str, msg: &str) {
        let msg = redact::redact_secrets(msg);
        match level {
            "error" => tracing::error!(agent = %self.agent, "{msg}"),
            _ => tracing::warn!(agent = %self.agent, "{msg}"),
        }
        if let Some(p) = &self.path {
            if let Ok(mut f) = open_append(p) {
                let _ = writeln!(f, "{} [{level}] {msg}", iso_ms(now_ms()));
            }
        }
    }
}

fn open_append(p: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)
}

/// `2026-12-02T03:14:14.123Z` from epoch ms.
pub(crate) fn iso_ms(ms: i64) -> String {
    let ms = ms.max(0);
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

/// Redact every string leaf of `v` in place.
pub(crate) fn redact_value(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = redact::global().redact_str(s) {
                *s = r;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_value),
        Value::Object(o) => o.values_mut().for_each(redact_value),
        _ => {}
    }
}

fn noop_result(r: &TurnRunner, state: AgentState) -> TurnResult {
    TurnResult {
        exit_code: None,
        clean_result: false,
        new_session_id: None,
        resume_mismatch: false,
        terminal_mail_observed: false,
        duration_ms: 0,
        initial_state: state,
        final_state: state,
        stall_aborted: false,
        terminal_mail_missing: false,
        aborted: false,
        linger_killed: false,
        kill_reason: None,
        exit: None,
        event_count: 0,
        skipped_lines: 0,
        parent_notified: false,
        transition_rejected: None,
        no_op: true,
        recovered: None,
        log_dir: None,
        agent_name: r.options.agent_name.clone(),
        run_id: r.options.run_id.clone(),
    }
}

fn db_path(r: &TurnRunner) -> PathBuf {
    r.options
        .db_path
        .clone()
        .unwrap_or_else(|| r.options.state_dir.join("turns.db"))
}

pub(crate) fn turn_pid_path(state_dir: &Path, agent: &str) -> PathBuf {
    state_dir.join("agents").join(agent).join("turn.pid")
}

pub(crate) async fn run(r: TurnRunner) -> Result<TurnResult, TurnError> {
    let o = &r.options;
    if !o.secrets.is_empty() {
        redact::register_known_secrets(&o.secrets);
    }
    if !o.state_dir.exists() {
        crate::fsx::ensure_private_dir(&o.state_dir)?;
    }
    let db = db_path(&r);
    // Pre-lock peek: the empty-input path returns without the lock or a transition.
    let pre_state = Store::open(&db)?
        .get_session(&o.agent_name)?
        .map(|s| s.state)
        .unwrap_or(AgentState::Booting);
    if o.input.is_empty() {
        return Ok(noop_result(&r, pre_state));
    }
    let held = lock::acquire_turn_lock(
        &o.state_dir,
        &o.agent_name,
        Duration::from_millis(o.lock_timeout_ms),
    )
    .await?;
    let pid_path = turn_pid_path(&o.state_dir, &o.agent_name);
    let mut rlog = RunnerLog {
        path: None,
        agent: o.agent_name.clone(),
    };
    let res = run_locked(&r, &db, &pid_path, &mut rlog).await;
    // turn.pid never survives the runner, whatever happened above.
    match std::fs::remove_file(&pid_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => rlog.log("error", &format!("failed to remove turn.pid: {e}")),
    }
    if pid_path.exists() {
        rlog.log(
            "error",
            "turn.pid still exists after cleanup: a later kill would target a stale pid",
        );
    }
    held.release();
    res
}

struct Turn<'a> {
    r: &'a TurnRunner,
    store: Mutex<Store>,
    rlog: &'a RunnerLog,
    agent: String,
    run_id: Option<String>,
    prior_session: Option<String>,
    new_session: Option<String>,
    mismatch: bool,
    initial: AgentState,
    booted: bool,
    clean_result: bool,
    result_at: Option<Instant>,
    events: u64,
    skipped: u64,
}

impl Turn<'_> {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&mut self, e: TurnEvent) {
        self.events += 1;
        let row = EventRow {
            id: 0,
            run_id: self.run_id.clone(),
            agent_name: self.agent.clone(),
            session_id: self.new_session.clone().or_else(|| e.session_id.clone()),
            event_type: e.kind.as_str().into(),
            tool_name: e.tool_name.clone(),
            tool_args: e.tool_args.as_ref().map(|a| a.to_string()),
            tool_duration_ms: e.duration_ms,
            level: e.level.clone(),
            data: serde_json::to_string(&e).ok(),
            created_at: now_ms(),
        };
        if let Err(err) = self.store().insert_event(&row) {
            self.rlog
                .log("warn", &format!("failed to tee an event: {err}"));
        }
        if let Some(cb) = &self.r.on_event {
            let cb = cb.clone();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&e))).is_err() {
                self.rlog.log("error", "the event callback panicked");
            }
        }
    }

    fn runtime_event(&mut self, e: TurnEvent) {
        if !self.booted && self.initial == AgentState::Booting {
            self.booted = true;
            let out = self
                .store()
                .try_transition_state(&self.agent, AgentState::Working);
            match out {
                Ok(TransitionOutcome::Ok { .. }) => {}
                Ok(other) => self
                    .rlog
                    .log("warn", &format!("booting -> working refused: {other:?}")),
                Err(err) => self
                    .rlog
                    .log("warn", &format!("booting -> working failed: {err}")),
            }
        }
        if let Some(sid) = e.session_id.clone() {
            if self.new_session.as_deref() != Some(&sid) {
                self.new_session = Some(sid.clone());
                if let Err(err) = self.store().set_session_id(&self.agent, &sid) {
                    self.rlog
                        .log("warn", &format!("failed to store the session id: {err}"));
                }
                if let Some(prior) = self.prior_session.clone() {
                    if prior != sid && !self.mismatch {
                        self.mismatch = true;
                        self.rlog.log(
                            "warn",
                            &format!(
                                "resume mismatch: requested {prior} but the runtime returned {sid}"
                            ),
                        );
                        let mut w = TurnEvent::keel_warning(
                            "resume_mismatch",
                            json!({"requestedSessionId": prior, "observedSessionId": sid}),
                        );
                        w.session_id = Some(sid.clone());
                        self.emit(w);
                    }
                }
            }
        }
        if e.kind == EventKind::Result {
            self.clean_result = e.is_error != Some(true);
            if self.result_at.is_none() {
                self.result_at = Some(Instant::now());
            }
        }
        self.emit(e);
    }

    fn frame(&mut self, f: Owned) {
        match f {
            Owned::TooLong(len) => {
                self.skipped += 1;
                self.rlog.log(
                    "warn",
                    &format!("skipped an output line of {len} bytes (over the line cap)"),
                );
                self.emit(TurnEvent::keel_warning(
                    "line_too_long",
                    json!({"len": len, "maxLineBytes": self.r.options.max_line_bytes}),
                ));
            }
            Owned::Line(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(mut v) => {
                    redact_value(&mut v);
                    for e in self.r.options.runtime.parse(&v) {
                        self.runtime_event(e);
                    }
                }
                Err(_) => {
                    let text: String = String::from_utf8_lossy(&bytes).chars().take(2048).collect();
                    let text = redact::redact_secrets(&text);
                    let mut e = TurnEvent::new(
                        EventKind::Custom,
                        "keel.non_json",
                        json!({"len": bytes.len()}),
                    );
                    e.text = Some(text);
                    self.emit(e);
                }
            },
        }
    }
}

fn notify_parent(
    store: &Store,
    agent: &str,
    parent: &str,
    reason: &str,
    last_activity: i64,
    run_id: Option<&str>,
) -> Result<i64, TurnError> {
    let payload = json!({
        "agentName": agent,
        "reason": reason,
        "lastActivity": last_activity,
        "terminatedBy": "runner",
        "runId": run_id,
    });
    store.insert_message(&Message {
        from_agent: agent.into(),
        to_agent: parent.into(),
        subject: format!("[RUNNER] worker_died: {agent}"),
        body: redact::redact_secrets(&format!(
            "Worker \"{agent}\" ended without sending its terminal message. Reason: {reason}. \
             Last activity (epoch ms): {last_activity}. Decide whether to retry the work, \
             escalate, or report the failure upstream."
        )),
        kind: "worker_died".into(),
        priority: "high".into(),
        payload: Some(payload.to_string()),
        ..Default::default()
    })
}

/// A stale `turn.pid` under a free lock: its runner died mid-turn.
async fn recover(
    r: &TurnRunner,
    store: &mut Store,
    pid_path: &Path,
    rlog: &RunnerLog,
) -> Result<Option<RecoveredTurn>, TurnError> {
    if !pid_path.exists() {
        return Ok(None);
    }
    let agent = &r.options.agent_name;
    let record = PidRecord::read(pid_path).ok();
    let was_alive = record.as_ref().is_some_and(|rec| rec.is_alive());
    if let (true, Some(rec)) = (was_alive, &record) {
        rlog.log(
            "warn",
            &format!(
                "a previous runner died mid-turn; killing its leftover CLI (pid {})",
                rec.pid
            ),
        );
        let _ = crate::process::kill_process_tree(
            rec.pid,
            Duration::from_millis(r.options.kill_grace_ms),
        )
        .await;
    } else {
        rlog.log(
            "warn",
            "a previous runner died mid-turn (stale turn.pid, process gone)",
        );
    }
    let _ = std::fs::remove_file(pid_path);
    let session = store.get_session(agent)?;
    let previous_state = session.as_ref().map(|s| s.state);
    let mut parent_notified = false;
    if let Ok(TransitionOutcome::Ok { .. }) = store.try_transition_state(agent, AgentState::Zombie)
    {
        if let Some(parent) = session.as_ref().and_then(|s| s.parent_agent.clone()) {
            let last = session.as_ref().map(|s| s.last_activity).unwrap_or(0);
            match notify_parent(
                store,
                agent,
                &parent,
                "Runner died mid-turn (stale turn.pid)",
                last,
                None,
            ) {
                Ok(_) => parent_notified = true,
                Err(e) => rlog.log("warn", &format!("failed to notify the parent: {e}")),
            }
        }
    }
    Ok(Some(RecoveredTurn {
        pid: record.map(|r| r.pid),
        was_alive,
        previous_state,
        parent_notified,
    }))
}

async fn run_locked(
    r: &TurnRunner,
    db: &Path,
    pid_path: &Path,
    rlog: &mut RunnerLog,
) -> Result<TurnResult, TurnError> {
    let o = &r.options;
    let started = Instant::now();
    let agent = o.agent_name.clone();
    let mut store = Store::open(db)?;
    let recovered = recover(r, &mut store, pid_path, rlog).await?;
    // Re-read under the lock: the caller's view may be stale.
    let session =
        store.ensure_session(&agent, o.parent_agent.as_deref(), Some(o.runtime.as_str()))?;
    let initial = session.state;
    let prior_session = o.resume_session_id.clone().or(if o.resume {
        session.session_id.clone()
    } else {
        None
    });
    let parent = session.parent_agent.clone();

    let ts = iso_ms(now_ms()).replace([':', '.'], "-");
    let logs = o.state_dir.join("logs");
    crate::fsx::ensure_private_dir(&logs)?;
    crate::fsx::ensure_private_dir(&logs.join(&agent))?;
    let log_dir = logs.join(&agent).join(&ts);
    crate::fsx::ensure_private_dir(&log_dir)?;
    rlog.path = Some(log_dir.join("runner.log"));
    let rlog: &RunnerLog = rlog;

    let baseline = match r.check.baseline(&store, &agent) {
        Ok(b) => b,
        Err(e) => {
            rlog.log("warn", &format!("terminal-signal baseline failed: {e}"));
            0
        }
    };

    let bin: OsString = o
        .bin
        .clone()
        .map(OsString::from)
        .unwrap_or_else(|| o.runtime.default_bin().into());
    let argv = o.runtime.argv(&bin, prior_session.as_deref(), &o.args);
    let mut cmd = Command::new(argv).stdin(StdinMode::Piped);
    if let Some(cwd) = &o.cwd {
        cmd = cmd.cwd(cwd);
    }
    for (k, v) in &o.env {
        cmd = cmd.env(k, v);
    }
    cmd = cmd
        .env("KEEL_AGENT_NAME", &agent)
        .env("KEEL_STATE_DIR", &o.state_dir);
    if let Some(id) = &o.run_id {
        cmd = cmd.env("KEEL_RUN_ID", id);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            rlog.log("error", &format!("spawn failed: {e}"));
            return Err(e.into());
        }
    };
    // Publish turn.pid; without it nobody else can stop this turn: refuse to go on.
    if let Err(e) = child.pid_record().write(pid_path) {
        rlog.log(
            "error",
            &format!("failed to write turn.pid, aborting the turn: {e}"),
        );
        let _ = child.terminate(Duration::ZERO).await;
        return Err(e.into());
    }

    // stdin: the turn, then EOF (in its own task: a CLI that reads late never blocks us).
    let input = o.runtime.encode_input(&o.input);
    let stdin_task = child.take_stdin().map(|mut w| {
        tokio::spawn(async move {
            let r = w.write_all(&input).await;
            let _ = w.shutdown().await;
            drop(w);
            r
        })
    });

    // stderr → redacted → stderr.log
    let stderr_path = log_dir.join("stderr.log");
    let stderr_task = child.take_stderr().map(|mut rd| {
        let path = stderr_path.clone();
        tokio::spawn(async move {
            let mut file = open_append(&path).ok();
            let mut red = redact::global().stream();
            let mut buf = vec![0u8; 16 * 1024];
            let mut out = Vec::new();
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        out.clear();
                        red.write(&buf[..n], &mut out);
                        if let Some(f) = file.as_mut() {
                            let _ = f.write_all(&out);
                        }
                    }
                }
            }
            out.clear();
            red.finish(&mut out);
            if let Some(f) = file.as_mut() {
                let _ = f.write_all(&out);
            }
        })
    });

    // stdout → frames
    let (tx, mut rx) = mpsc::channel::<Owned>(256);
    let cap = o.max_line_bytes as usize;
    let reader = child.take_stdout().map(|mut rd| {
        tokio::spawn(async move {
            let mut framer = Framer::new(cap);
            let mut buf = vec![0u8; 64 * 1024];
            let mut batch: Vec<Owned> = Vec::new();
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                framer.push(&buf[..n], &mut |f| batch.push(own(f)));
                for f in batch.drain(..) {
                    if tx.send(f).await.is_err() {
                        return;
                    }
                }
            }
            framer.finish(&mut |f| batch.push(own(f)));
            for f in batch.drain(..) {
                let _ = tx.send(f).await;
            }
        })
    });

    let mut t = Turn {
        r,
        store: Mutex::new(store),
        rlog,
        agent: agent.clone(),
        run_id: o.run_id.clone(),
        prior_session,
        new_session: None,
        mismatch: false,
        initial,
        booted: false,
        clean_result: false,
        result_at: None,
        events: 0,
        skipped: 0,
    };

    let stall = (o.stall_ms > 0).then(|| Duration::from_millis(o.stall_ms));
    let grace = Duration::from_millis(o.result_grace_ms);
    let drain = Duration::from_millis(o.drain_ms);
    let far = Duration::from_secs(86_400 * 365);
    let mut last_event = Instant::now();
    let mut stdout_open = reader.is_some();
    let mut exited: Option<ExitClass> = None;
    let mut exited_at: Option<Instant> = None;
    let mut kill: Option<Kill> = None;

    loop {
        if exited.is_some() && !stdout_open {
            break;
        }
        let now = Instant::now();
        let stall_at = match (stall, t.result_at) {
            (Some(s), None) => last_event + s,
            _ => now + far,
        };
        let grace_at = t.result_at.map(|at| at + grace).unwrap_or(now + far);
        let drain_at = exited_at.map(|at| at + drain).unwrap_or(now + far);
        let deadline = stall_at.min(grace_at).min(drain_at);
        tokio::select! {
            biased;
            f = rx.recv(), if stdout_open => match f {
                Some(f) => { last_event = Instant::now(); t.frame(f); }
                None => stdout_open = false,
            },
            _ = r.abort.aborted(), if kill.is_none() => { kill = Some(Kill::Abort); break; }
            st = child.wait(), if exited.is_none() => match st {
                Ok(st) => { exited = Some(st); exited_at = Some(Instant::now()); }
                Err(e) => { rlog.log("warn", &format!("waiting for the CLI failed: {e}")); exited_at = Some(Instant::now()); exited = Some(ExitClass::Exited { code: -1 }); }
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                if now >= drain_at && exited.is_some() {
                    rlog.log("warn", "the CLI exited but its output stayed open (a descendant holds it); stopped reading");
                    break;
                }
                if now >= stall_at && exited.is_none() {
                    rlog.log("error", &format!("no event for {} ms: terminating the CLI's tree", o.stall_ms));
                    kill = Some(Kill::Stall);
                    break;
                }
                if stall.is_some() && now >= stall_at && exited.is_some() {
                    // exited, output still open and silent: the drain deadline decides
                    last_event = now;
                }
                if now >= grace_at && exited.is_none() {
                    rlog.log("warn", &format!("the CLI lingered {} ms after its final event: terminating its tree", o.result_grace_ms));
                    kill = Some(Kill::Linger);
                    break;
                }
            }
        }
    }

    // Terminate whatever is left of the tree (a no-op when it is all gone).
    let kill_grace = Duration::from_millis(o.kill_grace_ms);
    match child.terminate(kill_grace).await {
        Ok(term) => {
            if exited.is_none() {
                exited = term.exit;
            }
        }
        Err(e) => rlog.log("error", &format!("terminating the CLI's tree failed: {e}")),
    }
    if exited.is_none() {
        exited = child.try_wait().ok().flatten();
    }
    // Events already written before the end are still counted.
    let tail_deadline =
        Instant::now() + Duration::from_millis(200).max(drain.min(Duration::from_secs(1)));
    if stdout_open {
        while let Ok(Some(f)) = tokio::time::timeout_at(tail_deadline.into(), rx.recv()).await {
            t.frame(f);
        }
    }
    if let Some(h) = reader {
        h.abort();
    }
    if let Some(h) = stdin_task {
        match tokio::time::timeout(Duration::from_millis(100), h).await {
            Ok(Ok(Err(e))) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                rlog.log("warn", &format!("writing the turn to stdin failed: {e}"))
            }
            Ok(_) => {}
            Err(_) => rlog.log("warn", "the CLI never read its whole turn from stdin"),
        }
    }
    if let Some(mut h) = stderr_task {
        if tokio::time::timeout(drain.max(Duration::from_millis(100)), &mut h)
            .await
            .is_err()
        {
            h.abort();
        }
    }

    let aborted = kill == Some(Kill::Abort);
    let stalled = kill == Some(Kill::Stall);
    let exit_code = match (kill, exited) {
        (None, Some(ExitClass::Exited { code })) => Some(code),
        _ => None,
    };
    let exit = match (kill, exited) {
        (Some(Kill::Abort), Some(e)) => Some(e.killed_by(crate::process::KillReason::Aborted)),
        (Some(Kill::Stall), Some(e)) => {
            Some(e.killed_by(crate::process::KillReason::InactivityTimeout))
        }
        (_, e) => e,
    };

    let mut store = t.store.into_inner().unwrap_or_else(|e| e.into_inner());
    let terminal = match r.check.observed(&store, &agent, baseline) {
        Ok(b) => b,
        Err(e) => {
            rlog.log("warn", &format!("terminal-signal check failed: {e}"));
            false
        }
    };
    let clean = t.clean_result;
    let missing = clean && !terminal && !aborted && !stalled;
    if missing {
        rlog.log(
            "error",
            &format!(
                "the agent ended cleanly without its terminal message (expected {}); marking completed",
                o.terminal_message_types.join("|")
            ),
        );
    }
    let observed_any = t.events > 0 || t.booted;
    let target = if aborted || stalled {
        AgentState::Zombie
    } else if clean {
        AgentState::Completed
    } else if observed_any {
        AgentState::Working
    } else {
        initial
    };
    // The state after the first event may already be `working`.
    let current = store
        .get_session(&agent)?
        .map(|s| s.state)
        .unwrap_or(initial);
    let mut final_state = current;
    let mut rejected = None;
    if target != current {
        match store.try_transition_state(&agent, target) {
            Ok(TransitionOutcome::Ok { .. }) => final_state = target,
            Ok(TransitionOutcome::IllegalTransition { prev, attempted }) => {
                rlog.log(
                    "warn",
                    &format!("turn-end transition {initial} -> {attempted} refused: the state is now {prev}"),
                );
                rejected = Some(prev);
                final_state = prev;
            }
            Ok(TransitionOutcome::NotFound) => {
                rlog.log("warn", "the session vanished during the turn");
            }
            Err(e) => rlog.log("warn", &format!("turn-end transition failed: {e}")),
        }
    }

    let mut parent_notified = false;
    if let Some(parent) = parent.as_deref() {
        if final_state == AgentState::Zombie && (aborted || stalled) || missing {
            let reason = if aborted {
                "Aborted by the caller".to_string()
            } else if stalled {
                format!("Parser stalled (no event within {} ms)", o.stall_ms)
            } else {
                format!(
                    "Clean exit without terminal message (expected {})",
                    o.terminal_message_types.join("|")
                )
            };
            match notify_parent(
                &store,
                &agent,
                parent,
                &reason,
                session.last_activity,
                o.run_id.as_deref(),
            ) {
                Ok(_) => parent_notified = true,
                Err(e) => rlog.log("warn", &format!("failed to notify the parent: {e}")),
            }
        }
    }
    match store.touch_last_activity(&agent, now_ms()) {
        Ok(true) => {}
        Ok(false) => rlog.log("error", "lastActivity was not updated (no session row)"),
        Err(e) => rlog.log("error", &format!("lastActivity was not updated: {e}")),
    }

    Ok(TurnResult {
        exit_code,
        clean_result: clean,
        new_session_id: t.new_session,
        resume_mismatch: t.mismatch,
        terminal_mail_observed: terminal,
        duration_ms: started.elapsed().as_millis() as u64,
        initial_state: initial,
        final_state,
        stall_aborted: stalled,
        terminal_mail_missing: missing,
        aborted,
        linger_killed: kill == Some(Kill::Linger),
        kill_reason: kill.map(|k| k.as_str().to_owned()),
        exit,
        event_count: t.events,
        skipped_lines: t.skipped,
        parent_notified,
        transition_rejected: rejected,
        no_op: false,
        recovered,
        log_dir: Some(log_dir),
        agent_name: agent,
        run_id: o.run_id.clone(),
    })
}

fn own(f: Frame<'_>) -> Owned {
    match f {
        Frame::Line(l) => Owned::Line(l.to_vec()),
        Frame::TooLong { len } => Owned::TooLong(len),
    }
}
