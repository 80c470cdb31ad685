//! Service install and health: a launchd plist and a systemd unit that keep the
//! supervisor alive, and one [`ServiceHealth`] read from `launchctl print` or
//! `systemctl show`, with the `doctor` verdict on it.
//!
//! The field failures behind it: launchd does not inherit the login shell's `PATH`, so a
//! plist without `/opt/homebrew/bin` left the runner unable to find `git`; a doctor that
//! read `state = spawn scheduled` as "spawn" (one word) and called it a warning hid a
//! crash-looping daemon (`last exit code = 1`); `join` reported success while the daemon
//! it installed was crashing. So: the plist always carries
//! [`LAUNCHD_PATH`], every value XML-escaped; the parsers take the whole multi-word
//! state from the top-level block; a non-zero last exit code **fails** the check; and
//! [`verify_started`] reads the health after a delay and fails loudly.
//!
//! ```
//! use keel_core::supervisor::service::{parse_launchctl_print, doctor_check, CheckStatus, ServiceState};
//! let h = parse_launchctl_print("gui/501/dev.keel = {\n\tstate = spawn scheduled\n\tlast exit code = 1\n}\n");
//! assert_eq!(h.state, ServiceState::SpawnScheduled);
//! assert_eq!(h.last_exit_code, Some(1));
//! assert_eq!(doctor_check(&h).status, CheckStatus::Fail);
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SupervisorError;
use crate::time::SharedClock;

/// The `PATH` every generated service gets (Apple-Silicon Homebrew first, then Intel
/// Homebrew, then the system).
pub const LAUNCHD_PATH: &str = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/// User agent or system daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceMode {
    /// A per-user LaunchAgent / `systemctl --user` unit.
    #[default]
    User,
    /// A system LaunchDaemon / system unit.
    System,
}

/// Options of [`generate_launchd_plist`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LaunchdPlistOptions {
    /// The job label (default `dev.keel.supervisor`).
    #[serde(default = "default_label")]
    pub label: String,
    /// User agent or system daemon (default user).
    #[serde(default)]
    pub mode: ServiceMode,
    /// The program and its arguments (the first an absolute path).
    pub program_arguments: Vec<String>,
    /// Working directory.
    #[serde(default)]
    pub working_directory: Option<String>,
    /// stdout log file (default `<logDir>/<label>.out.log`).
    #[serde(default)]
    pub stdout_path: Option<String>,
    /// stderr log file (default `<logDir>/<label>.err.log`).
    #[serde(default)]
    pub stderr_path: Option<String>,
    /// Log directory for the defaults (user: `$HOME/Library/Logs`, system:
    /// `/Library/Logs`).
    #[serde(default)]
    pub log_dir: Option<String>,
    /// System mode: the user the daemon runs as (default `_keel`).
    #[serde(default)]
    pub user_name: Option<String>,
    /// System mode: its `HOME` (default `/var/<userName>`).
    #[serde(default)]
    pub home_dir: Option<String>,
    /// Minimum time between respawns, ms (ThrottleInterval, whole seconds; default 10000).
    #[serde(default = "default_throttle")]
    pub throttle_interval_ms: u64,
    /// Time launchd waits after SIGTERM before SIGKILL, ms (ExitTimeOut; default 20000).
    #[serde(default = "default_stop_timeout")]
    pub exit_timeout_ms: u64,
    /// Extra environment.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

fn default_label() -> String {
    "dev.keel.supervisor".into()
}
fn default_throttle() -> u64 {
    10_000
}
fn default_stop_timeout() -> u64 {
    20_000
}

impl LaunchdPlistOptions {
    /// Defaults around this command line.
    pub fn new(program_arguments: Vec<String>) -> Self {
        serde_json::from_value(serde_json::json!({ "programArguments": program_arguments }))
            .expect("defaults deserialize")
    }
}

fn bad(field: &str, reason: &str) -> SupervisorError {
    SupervisorError::field(field, reason)
}

fn check_text(field: &str, s: &str) -> Result<(), SupervisorError> {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad(
            field,
            "must not contain control characters or newlines",
        ));
    }
    Ok(())
}

fn check_program(field: &str, args: &[String]) -> Result<(), SupervisorError> {
    match args.first() {
        Some(p) if p.starts_with('/') => {}
        _ => return Err(bad(field, "must start with an absolute program path")),
    }
    for a in args {
        check_text(field, a)?;
    }
    Ok(())
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The launchd property list (KeepAlive, RunAtLoad, ThrottleInterval, PATH with
/// Homebrew, HOME and UserName in system mode, log paths; every value XML-escaped).
pub fn generate_launchd_plist(o: &LaunchdPlistOptions) -> Result<String, SupervisorError> {
    check_text("label", &o.label)?;
    if o.label.is_empty() || o.label.contains('/') {
        return Err(bad(
            "label",
            "must be a non-empty reverse-DNS name without '/'",
        ));
    }
    check_program("programArguments", &o.program_arguments)?;
    for (f, v) in [
        ("workingDirectory", &o.working_directory),
        ("stdoutPath", &o.stdout_path),
        ("stderrPath", &o.stderr_path),
        ("logDir", &o.log_dir),
        ("userName", &o.user_name),
        ("homeDir", &o.home_dir),
    ] {
        if let Some(v) = v {
            check_text(f, v)?;
        }
    }
    for (k, v) in &o.environment {
        check_text("environment", k)?;
        check_text("environment", v)?;
        if k.is_empty() || k.contains('=') {
            return Err(bad("environment", "names must be non-empty without '='"));
        }
    }
    if o.throttle_interval_ms > 86_400_000 || o.exit_timeout_ms > 86_400_000 {
        return Err(bad("throttleIntervalMs", "must be at most one day"));
    }
    let user = o.user_name.clone().unwrap_or_else(|| "_keel".into());
    let log_dir = o.log_dir.clone().unwrap_or_else(|| match o.mode {
        ServiceMode::User => format!(
            "{}/Library/Logs",
            std::env::var("HOME").unwrap_or_else(|_| "/tmp".into())
        ),
        ServiceMode::System => "/Library/Logs".into(),
    });
    let stdout = o
        .stdout_path
        .clone()
        .unwrap_or_else(|| format!("{log_dir}/{}.out.log", o.label));
    let stderr = o
        .stderr_path
        .clone()
        .unwrap_or_else(|| format!("{log_dir}/{}.err.log", o.label));
    let mut env: Vec<(String, String)> = vec![("PATH".into(), LAUNCHD_PATH.into())];
    if o.mode == ServiceMode::System {
        let home = o.home_dir.clone().unwrap_or_else(|| format!("/var/{user}"));
        env.push(("HOME".into(), home));
    }
    for (k, v) in &o.environment {
        if k == "PATH" || (k == "HOME" && o.mode == ServiceMode::System) {
            env.retain(|(ek, _)| ek != k);
        }
        env.push((k.clone(), v.clone()));
    }
    let secs = |ms: u64| ms.div_ceil(1000);
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    s.push_str("<plist version=\"1.0\">\n<dict>\n");
    let key = |s: &mut String, k: &str| {
        let _ = writeln!(s, "  <key>{}</key>", xml_escape(k));
    };
    let string = |s: &mut String, k: &str, v: &str| {
        key(s, k);
        let _ = writeln!(s, "  <string>{}</string>", xml_escape(v));
    };
    string(&mut s, "Label", &o.label);
    key(&mut s, "ProgramArguments");
    s.push_str("  <array>\n");
    for a in &o.program_arguments {
        let _ = writeln!(s, "    <string>{}</string>", xml_escape(a));
    }
    s.push_str("  </array>\n");
    key(&mut s, "EnvironmentVariables");
    s.push_str("  <dict>\n");
    for (k, v) in &env {
        let _ = writeln!(
            s,
            "    <key>{}</key>\n    <string>{}</string>",
            xml_escape(k),
            xml_escape(v)
        );
    }
    s.push_str("  </dict>\n");
    if let Some(d) = &o.working_directory {
        string(&mut s, "WorkingDirectory", d);
    }
    if o.mode == ServiceMode::System {
        string(&mut s, "UserName", &user);
    }
    key(&mut s, "KeepAlive");
    s.push_str("  <true/>\n");
    key(&mut s, "RunAtLoad");
    s.push_str("  <true/>\n");
    key(&mut s, "ThrottleInterval");
    let _ = writeln!(s, "  <integer>{}</integer>", secs(o.throttle_interval_ms));
    key(&mut s, "ExitTimeOut");
    let _ = writeln!(s, "  <integer>{}</integer>", secs(o.exit_timeout_ms));
    key(&mut s, "ProcessType");
    s.push_str("  <string>Background</string>\n");
    string(&mut s, "StandardOutPath", &stdout);
    string(&mut s, "StandardErrorPath", &stderr);
    s.push_str("</dict>\n</plist>\n");
    Ok(s)
}

/// Options of [`generate_systemd_unit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SystemdUnitOptions {
    /// `Description=` (default `keel supervisor`).
    #[serde(default = "default_description")]
    pub description: String,
    /// User unit or system unit (decides `WantedBy=`; default user).
    #[serde(default)]
    pub mode: ServiceMode,
    /// `ExecStart=`: the program (absolute) and its arguments, quoted for systemd.
    pub exec_start: Vec<String>,
    /// `User=` (system units).
    #[serde(default)]
    pub user: Option<String>,
    /// `WorkingDirectory=`.
    #[serde(default)]
    pub working_directory: Option<String>,
    /// `Environment=` entries.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `RestartSec=`, ms (default 2000).
    #[serde(default = "default_restart_sec")]
    pub restart_sec_ms: u64,
    /// `RestartSteps=` (systemd ≥ 254; default 5).
    #[serde(default = "default_restart_steps")]
    pub restart_steps: u32,
    /// `RestartMaxDelaySec=`, ms (systemd ≥ 254; default 30000).
    #[serde(default = "default_restart_max")]
    pub restart_max_delay_ms: u64,
    /// `TimeoutStopSec=`, ms (default 20000; keep it above the supervisor's stop grace).
    #[serde(default = "default_stop_timeout")]
    pub timeout_stop_ms: u64,
    /// `WatchdogSec=`, ms (default 60000; `null` for none). The supervisor pings at half.
    #[serde(default = "default_watchdog")]
    pub watchdog_ms: Option<u64>,
}

fn default_description() -> String {
    "keel supervisor".into()
}
fn default_restart_sec() -> u64 {
    2_000
}
fn default_restart_steps() -> u32 {
    5
}
fn default_restart_max() -> u64 {
    30_000
}
fn default_watchdog() -> Option<u64> {
    Some(60_000)
}

impl SystemdUnitOptions {
    /// Defaults around this command line.
    pub fn new(exec_start: Vec<String>) -> Self {
        serde_json::from_value(serde_json::json!({ "execStart": exec_start }))
            .expect("defaults deserialize")
    }
}

fn span(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Quote one word for a unit file: plain when safe, else double-quoted with `\` and
/// `"` escaped; `$` and `%` are doubled so systemd never expands them.
fn unit_word(w: &str) -> String {
    let safe = !w.is_empty()
        && w.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | ':' | '=' | ',' | '@' | '+')
        });
    let body = w.replace('%', "%%").replace('$', "$$");
    if safe {
        return body;
    }
    let mut out = String::from("\"");
    for c in body.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The systemd unit: `Type=notify` + `WatchdogSec=`, `Restart=always`, `RestartSec=`,
/// `RestartSteps=`/`RestartMaxDelaySec=`, `KillMode=control-group`, `TimeoutStopSec=`,
/// `TimeoutStartSec=infinity` (READY=1 comes after the first successful registration,
/// which an outage may delay) and `StartLimitIntervalSec=0` (never give up).
pub fn generate_systemd_unit(o: &SystemdUnitOptions) -> Result<String, SupervisorError> {
    check_text("description", &o.description)?;
    check_program("execStart", &o.exec_start)?;
    for (f, v) in [
        ("user", &o.user),
        ("workingDirectory", &o.working_directory),
    ] {
        if let Some(v) = v {
            check_text(f, v)?;
        }
    }
    if let Some(d) = &o.working_directory {
        if !d.starts_with('/') && d != "~" {
            return Err(bad("workingDirectory", "must be an absolute path"));
        }
    }
    for (k, v) in &o.environment {
        check_text("environment", k)?;
        check_text("environment", v)?;
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("environment", "names must be [A-Za-z0-9_]+"));
        }
    }
    for (f, v) in [
        ("restartSecMs", o.restart_sec_ms),
        ("restartMaxDelayMs", o.restart_max_delay_ms),
        ("timeoutStopMs", o.timeout_stop_ms),
        ("watchdogMs", o.watchdog_ms.unwrap_or(1)),
    ] {
        if v == 0 || v > 86_400_000 {
            return Err(bad(f, "must be between 1 ms and one day"));
        }
    }
    let mut s = String::new();
    s.push_str("[Unit]\n");
    let _ = writeln!(s, "Description={}", o.description.replace('%', "%%"));
    s.push_str("After=network-online.target\nWants=network-online.target\n");
    s.push_str("StartLimitIntervalSec=0\n\n[Service]\n");
    s.push_str("Type=notify\nNotifyAccess=main\n");
    let exec: Vec<String> = o.exec_start.iter().map(|w| unit_word(w)).collect();
    let _ = writeln!(s, "ExecStart={}", exec.join(" "));
    if let Some(u) = &o.user {
        let _ = writeln!(s, "User={}", unit_word(u));
    }
    if let Some(d) = &o.working_directory {
        let _ = writeln!(s, "WorkingDirectory={}", unit_word(d));
    }
    let _ = writeln!(
        s,
        "Environment={}",
        unit_word(&format!("PATH={LAUNCHD_PATH}"))
    );
    for (k, v) in &o.environment {
        let _ = writeln!(s, "Environment={}", unit_word(&format!("{k}={v}")));
    }
    s.push_str("Restart=always\n");
    let _ = writeln!(s, "RestartSec={}", span(o.restart_sec_ms));
    let _ = writeln!(s, "RestartSteps={}", o.restart_steps);
    let _ = writeln!(s, "RestartMaxDelaySec={}", span(o.restart_max_delay_ms));
    s.push_str("KillMode=control-group\n");
    let _ = writeln!(s, "TimeoutStopSec={}", span(o.timeout_stop_ms));
    s.push_str("TimeoutStartSec=infinity\n");
    if let Some(w) = o.watchdog_ms {
        let _ = writeln!(s, "WatchdogSec={}", span(w));
    }
    s.push_str("\n[Install]\n");
    let _ = writeln!(
        s,
        "WantedBy={}",
        match o.mode {
            ServiceMode::User => "default.target",
            ServiceMode::System => "multi-user.target",
        }
    );
    Ok(s)
}

/// A service's state, normalised across launchd and systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ServiceState {
    /// Running (launchd `running`; systemd `active`/`running`).
    Running,
    /// Loaded, waiting to be started (launchd `waiting`).
    Waiting,
    /// A respawn is pending (launchd `spawn scheduled`; systemd
    /// `activating`/`auto-restart`): usually a crash loop being throttled.
    SpawnScheduled,
    /// Starting (systemd `activating`).
    Starting,
    /// Not running (launchd `not running`; systemd `inactive`, `deactivating`).
    Stopped,
    /// systemd `failed`.
    Failed,
    /// Anything else (see `rawState`).
    Unknown,
}

/// One service's health, from `launchctl print` or `systemctl show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceHealth {
    /// The service manager knows the service.
    pub loaded: bool,
    /// The normalised state.
    pub state: ServiceState,
    /// The state as the manager printed it (`spawn scheduled`, `activating/auto-restart`).
    pub raw_state: Option<String>,
    /// The last exit code, when the output has one.
    pub last_exit_code: Option<i32>,
    /// The signal that ended the last run, when one did (systemd `ExecMainCode=2/3`,
    /// launchd `last terminating signal = Segmentation fault: 11`).
    pub last_signal: Option<i32>,
    /// The main pid, when running.
    pub pid: Option<u32>,
    /// `launchd` or `systemd`.
    pub manager: String,
}

/// Parse `launchctl print <domain>/<label>`: the **top-level** `state = …` (whole
/// value, `spawn scheduled` included; nested blocks like `endpoints = { … }` are
/// skipped), `last exit code = N` (`(never exited)` → none), `last terminating signal =
/// NAME: N` (which launchd prints *instead of* the exit code after a signal death),
/// `pid = N`. Empty output,
/// or `Could not find service`, means not loaded.
pub fn parse_launchctl_print(text: &str) -> ServiceHealth {
    let mut h = ServiceHealth {
        loaded: false,
        state: ServiceState::Unknown,
        raw_state: None,
        last_exit_code: None,
        last_signal: None,
        pid: None,
        manager: "launchd".into(),
    };
    if text.contains("Could not find service") || text.trim().is_empty() {
        return h;
    }
    let mut depth = 0i32;
    for line in text.lines() {
        let t = line.trim();
        if t.ends_with('{') {
            // the service's own block is depth 1; anything deeper is nested
            if depth == 0 {
                h.loaded = true;
            }
            depth += 1;
            continue;
        }
        if t.starts_with('}') {
            depth -= 1;
            continue;
        }
        if depth > 1 {
            continue;
        }
        let Some((k, v)) = t.split_once(" = ") else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "state" if h.raw_state.is_none() => {
                h.loaded = true;
                h.raw_state = Some(v.to_string());
                let l = v.to_ascii_lowercase();
                h.state = if l.contains("not running") {
                    ServiceState::Stopped
                } else if l.contains("spawn") {
                    ServiceState::SpawnScheduled
                } else if l.contains("run") {
                    ServiceState::Running
                } else if l.contains("wait") {
                    ServiceState::Waiting
                } else {
                    ServiceState::Unknown
                };
            }
            "last exit code" if h.last_exit_code.is_none() => {
                let num: String = v
                    .chars()
                    .enumerate()
                    .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
                    .map(|(_, c)| c)
                    .collect();
                h.last_exit_code = num.parse().ok();
            }
            "last terminating signal" if h.last_signal.is_none() => {
                // "Segmentation fault: 11", "Killed: 9"; a bare number too
                h.last_signal = v.rsplit(':').next().and_then(|n| n.trim().parse().ok());
            }
            "pid" if h.pid.is_none() => h.pid = v.parse().ok(),
            _ => {}
        }
    }
    h
}

/// The `--property` list [`parse_systemctl_show`] reads.
pub const SYSTEMCTL_PROPERTIES: &str =
    "LoadState,ActiveState,SubState,ExecMainStatus,ExecMainCode,MainPID,Result,NRestarts";

/// Parse `systemctl show UNIT` (`Key=value` lines; missing keys are none).
/// `LoadState=not-found` means not loaded; `ExecMainCode=1` (exited) gives
/// `lastExitCode=ExecMainStatus`, 2/3 (killed/dumped) give `lastSignal`.
pub fn parse_systemctl_show(text: &str) -> ServiceHealth {
    let mut kv: BTreeMap<&str, &str> = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            kv.entry(k.trim()).or_insert(v.trim());
        }
    }
    let load = kv.get("LoadState").copied();
    let loaded = matches!(load, Some("loaded"));
    let active = kv.get("ActiveState").copied().unwrap_or("");
    let sub = kv.get("SubState").copied().unwrap_or("");
    let state = match (active, sub) {
        _ if !loaded => ServiceState::Stopped,
        ("active", "running") | ("reloading", _) => ServiceState::Running,
        ("active", _) => ServiceState::Running,
        ("activating", "auto-restart") | ("activating", "auto-restart-queued") => {
            ServiceState::SpawnScheduled
        }
        ("activating", _) => ServiceState::Starting,
        ("failed", _) => ServiceState::Failed,
        ("inactive", _) | ("deactivating", _) => ServiceState::Stopped,
        _ => ServiceState::Unknown,
    };
    let raw_state = if active.is_empty() {
        None
    } else if sub.is_empty() {
        Some(active.to_string())
    } else {
        Some(format!("{active}/{sub}"))
    };
    let status: Option<i32> = kv.get("ExecMainStatus").and_then(|v| v.parse().ok());
    let code = kv.get("ExecMainCode").copied().unwrap_or("");
    let (last_exit_code, last_signal) = match code {
        "1" | "exited" => (status, None),
        "2" | "3" | "killed" | "dumped" => (None, status),
        // No code (never ran): a 0 status carries no information.
        _ => (status.filter(|s| *s != 0), None),
    };
    ServiceHealth {
        loaded,
        state,
        raw_state,
        last_exit_code,
        last_signal,
        pid: kv
            .get("MainPID")
            .and_then(|v| v.parse().ok())
            .filter(|p| *p != 0),
        manager: "systemd".into(),
    }
}

/// A doctor verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    /// Healthy.
    Pass,
    /// Worth a look.
    Warn,
    /// Broken.
    Fail,
}

/// One doctor check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorCheck {
    /// The check's name.
    pub name: String,
    /// The verdict.
    pub status: CheckStatus,
    /// What was found.
    pub message: String,
    /// What to do, when not passing.
    pub fix: Option<String>,
}

/// SIGTERM: how a service manager asks a service to stop (not a crash).
const SIGTERM: i32 = 15;

/// What to do about a crashed service.
pub const SERVICE_CRASH_FIX: &str = "The background supervisor crashed. Read its log (launchd: the plist's StandardErrorPath; systemd: `journalctl --user -u UNIT` or `journalctl -u UNIT`), fix the cause, then restart it (`launchctl kickstart -k gui/$UID/LABEL` or `systemctl restart UNIT`). Meanwhile run `keel supervise …` in the foreground.";

/// The doctor verdict: not loaded or a non-zero last exit code or `failed` → fail (with
/// [`SERVICE_CRASH_FIX`]); a last run killed by a signal other than SIGTERM (a stop
/// request) → fail unless it is running again, then warn; `spawn scheduled` → warn;
/// `waiting` → warn; `running` → pass; anything else → warn, verbatim.
pub fn doctor_check(h: &ServiceHealth) -> DoctorCheck {
    let name = "supervisor service running".to_string();
    let raw = h.raw_state.clone().unwrap_or_else(|| "unknown".into());
    let mk = |status, message: String, fix: Option<&str>| DoctorCheck {
        name: name.clone(),
        status,
        message,
        fix: fix.map(str::to_string),
    };
    if !h.loaded {
        return mk(
            CheckStatus::Fail,
            "service not loaded".into(),
            Some("Install it with `keel service plist` (launchd) or `keel service unit` (systemd), then load it."),
        );
    }
    if let Some(c) = h.last_exit_code.filter(|c| *c != 0) {
        return mk(
            CheckStatus::Fail,
            format!(
                "service is not healthy: last exit code = {c} (crashing on start); state = {raw}"
            ),
            Some(SERVICE_CRASH_FIX),
        );
    }
    if let Some(sig) = h.last_signal.filter(|s| *s != SIGTERM) {
        return if h.state == ServiceState::Running {
            mk(
                CheckStatus::Warn,
                format!("state = {raw}, but its last run was killed by signal {sig}"),
                Some(SERVICE_CRASH_FIX),
            )
        } else {
            mk(
                CheckStatus::Fail,
                format!(
                    "service is not healthy: last run killed by signal {sig} (crashing); state = {raw}"
                ),
                Some(SERVICE_CRASH_FIX),
            )
        };
    }
    match h.state {
        ServiceState::Failed => mk(
            CheckStatus::Fail,
            format!("service failed (state = {raw})"),
            Some(SERVICE_CRASH_FIX),
        ),
        ServiceState::Running => mk(CheckStatus::Pass, format!("state = {raw}"), None),
        ServiceState::SpawnScheduled => mk(
            CheckStatus::Warn,
            format!("service is being (re)spawned (state = {raw}); re-run in a few seconds"),
            Some(SERVICE_CRASH_FIX),
        ),
        ServiceState::Waiting => mk(
            CheckStatus::Warn,
            format!("service is loaded but waiting (state = {raw}); KeepAlive should start it"),
            None,
        ),
        _ => mk(CheckStatus::Warn, format!("state = {raw}"), None),
    }
}

/// Which service manager and which service to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceTarget {
    /// `launchctl print <domain>/<label>` (`gui/<uid>` for user mode, `system`).
    Launchd {
        /// The job label.
        label: String,
        /// User agent or system daemon.
        mode: ServiceMode,
    },
    /// `systemctl [--user] show <unit>`.
    Systemd {
        /// The unit name.
        unit: String,
        /// `--user` or the system manager.
        mode: ServiceMode,
    },
}

/// Ask the service manager and parse its answer. A manager that cannot be run is
/// [`SupervisorError::ServiceManager`]; a service it does not know is `loaded: false`.
pub async fn read_service_health(target: &ServiceTarget) -> Result<ServiceHealth, SupervisorError> {
    use crate::process::Command;
    let (argv, launchd): (Vec<String>, bool) = match target {
        ServiceTarget::Launchd { label, mode } => {
            let domain = match mode {
                ServiceMode::User => format!("gui/{}", current_uid()),
                ServiceMode::System => "system".into(),
            };
            (
                vec![
                    "launchctl".into(),
                    "print".into(),
                    format!("{domain}/{label}"),
                ],
                true,
            )
        }
        ServiceTarget::Systemd { unit, mode } => {
            let mut v = vec!["systemctl".to_string()];
            if *mode == ServiceMode::User {
                v.push("--user".into());
            }
            v.extend([
                "show".into(),
                unit.clone(),
                format!("--property={SYSTEMCTL_PROPERTIES}"),
            ]);
            (v, false)
        }
    };
    let out = Command::new(&argv)
        .spawn()
        .map_err(|e| SupervisorError::ServiceManager(e.to_string()))?
        .output(Duration::from_secs(1));
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .map_err(|_| SupervisorError::ServiceManager(format!("{} timed out", argv[0])))?
        .map_err(|e| SupervisorError::ServiceManager(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if launchd {
        // launchctl exits non-zero (113) for an unknown service: not loaded.
        Ok(parse_launchctl_print(&text))
    } else {
        if !out.exit.success() && text.trim().is_empty() {
            return Err(SupervisorError::ServiceManager(format!(
                "systemctl {}",
                out.exit
            )));
        }
        Ok(parse_systemctl_show(&text))
    }
}

/// The blocking twin of [`read_service_health`] (its own current-thread runtime).
pub fn read_service_health_blocking(
    target: &ServiceTarget,
) -> Result<ServiceHealth, SupervisorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SupervisorError::Runtime(e.to_string()))?
        .block_on(read_service_health(target))
}

fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|u| u.parse().ok()))
        })
        .or_else(|| {
            // no /proc (macOS): ask id(1)
            std::process::Command::new("id")
                .arg("-u")
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        })
        .unwrap_or(501)
}

/// After installing a service: wait `delay` on `clock`, read its health with `read`, and
/// fail loudly ([`SupervisorError::ServiceNotStarted`]) when it is not loaded, crashed
/// (non-zero last exit code) or failed — instead of reporting an install that is
/// crash-looping as a success.
pub async fn verify_started<F, Fut>(
    clock: &SharedClock,
    delay: Duration,
    read: F,
) -> Result<ServiceHealth, SupervisorError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ServiceHealth, SupervisorError>>,
{
    clock.sleep(delay).await;
    started_or_loud(read().await?)
}

/// The health when [`doctor_check`] does not fail it, else the loud error.
fn started_or_loud(h: ServiceHealth) -> Result<ServiceHealth, SupervisorError> {
    let check = doctor_check(&h);
    if check.status == CheckStatus::Fail {
        return Err(SupervisorError::ServiceNotStarted(check.message));
    }
    Ok(h)
}

/// The blocking twin of [`verify_started`], for the CLI and other synchronous
/// installers: sleep `delay` (this thread), call `read` once (it may block, e.g.
/// [`read_service_health_blocking`]; no runtime is entered around it), and fail loudly
/// with [`SupervisorError::ServiceNotStarted`] unless the service is up.
///
/// ```
/// use std::time::Duration;
/// use keel_core::supervisor::service::{parse_systemctl_show, verify_started_blocking};
/// let crash = "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\n\
///              ExecMainCode=1\nExecMainStatus=1\n";
/// let e = verify_started_blocking(Duration::ZERO, || Ok(parse_systemctl_show(crash)))
///     .unwrap_err();
/// assert_eq!(e.code(), "KEEL_SERVICE_NOT_STARTED");
/// assert!(e.to_string().contains("last exit code = 1"));
/// ```
pub fn verify_started_blocking(
    delay: Duration,
    read: impl FnOnce() -> Result<ServiceHealth, SupervisorError>,
) -> Result<ServiceHealth, SupervisorError> {
    std::thread::sleep(delay);
    started_or_loud(read()?)
}
