//! The lifecycle of managed services over one state directory: spawn (detached, in its
//! own subreaper tree, stdio to a rotated append-only log), first-health wait, liveness
//! loop, TTL sweep, boot reconcile, restart, removal.
//!
//! Every state write is one locked read-modify-write of `managed-processes.json`
//! ([`crate::fsx::JsonStateFile`]: advisory lock + atomic replace). No process is
//! spawned, probed or signalled while the lock is held: decisions are taken under the
//! lock, kills and probes happen after it is released, and every kill is pinned to the
//! recorded process identity so a reused pid is never signalled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::health::{now_ms, run_healthcheck, HealthTracker, ProbeResult, ESSENTIAL_ENV};
use super::options::ServicesOptions;
use super::spec::{self, Healthcheck, ManagedSpec, ValidateOptions, Validation};
use super::state::{log_path, Health, KeelFields, ManagedRecord, StateFile, MANAGED_LOGS_DIR};
use super::view::{self, ServiceView};
use super::ServicesError;
use crate::process::{self, Command, EnvPolicy, OutputMode, PidRecord};

/// Who asked for a service (minions' spawn `ctx`), copied into its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Owner {
    /// The agent.
    pub owner_agent: String,
    /// The work item.
    pub owner_wi: String,
    /// The project.
    pub owner_project: String,
    /// The work type (minions ≥ 0.1.2000).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub owner_work_type: String,
    /// The dispatch root.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dispatch_root: String,
    /// The checkout mode.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub checkout_mode: String,
}

/// What a sweep did: minions' `sweepManagedSpawn` stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SweepStats {
    /// Well-formed records looked at.
    pub scanned: u32,
    /// Records past their TTL (dropped; their trees killed).
    pub ttl_expired: u32,
    /// Records whose process was gone (dropped, nothing signalled).
    pub dead_dropped: u32,
    /// Trees killed.
    pub killed_pids: u32,
    /// Logs rotated to `.1`.
    pub rotated_logs: u32,
    /// Malformed entries dropped.
    pub malformed: u32,
}

/// One survivor's boot probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Probed {
    /// The service.
    pub name: String,
    /// Its probe passed.
    pub healthy: bool,
}

/// What a boot reconcile did: minions' `{stats, probed}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReconcileReport {
    /// The sweep.
    pub stats: SweepStats,
    /// The survivors probed (within `bootReconcileMaxMs`).
    pub probed: Vec<Probed>,
}

/// What removing a project's services did: minions' `{killed, unlinked, scanned, removed}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProjectRemoval {
    /// Trees killed.
    pub killed: u32,
    /// Log files unlinked (`.log` and `.log.1`).
    pub unlinked: u32,
    /// Records of the project.
    pub scanned: u32,
    /// Records dropped (all of them: keel never preserves one).
    pub removed: u32,
}

/// What removing one service did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Removal {
    /// The record was removed.
    pub removed: bool,
    /// Its tree was signalled (it was alive and provably this service).
    pub killed: bool,
}

/// The `error` of an [`UpOutcome`] whose spec has no healthcheck: it was not probed, so
/// it is not called healthy (it still runs after a restart).
pub const NO_HEALTHCHECK: &str = "spec.healthcheck missing";

/// One service of [`Services::up`] or [`Services::restart_and_wait`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpOutcome {
    /// The service.
    pub name: String,
    /// Its leader's pid (when it was spawned).
    pub pid: Option<u32>,
    /// It passed its first healthcheck (a failing one is killed and removed).
    pub healthy: bool,
    /// Why not (redacted).
    pub error: Option<String>,
    /// Its log.
    pub log_path: String,
}

/// Managed services over one state directory (`<dir>/managed-processes.json`,
/// `<dir>/managed-logs/`). Pointing `dir` at minions' `<MINIONS_DIR>/engine` gives the
/// same layout minions uses.
///
/// ```no_run
/// # async fn demo() -> Result<(), keel_core::services::ServicesError> {
/// use keel_core::services::{Owner, Services, ServicesOptions, ValidateOptions};
/// let svc = Services::new("/tmp/keel-state", ServicesOptions::default())?;
/// let text = std::fs::read_to_string("managed-spawn.json").unwrap();
/// let v = svc.validate_text(&text, &ValidateOptions::default());
/// let outcomes = svc.up(&v.value.unwrap(), &Owner::default()).await?;
/// println!("{outcomes:?} {:?}", svc.list(None)?);
/// svc.sweep().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Services {
    dir: PathBuf,
    options: ServicesOptions,
    state: StateFile,
}

impl Services {
    /// Services in `dir` with `options` (range-checked).
    pub fn new(dir: impl Into<PathBuf>, options: ServicesOptions) -> Result<Self, ServicesError> {
        options.validate()?;
        let dir = dir.into();
        Ok(Services {
            state: StateFile::new(&dir),
            dir,
            options,
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options.
    pub fn options(&self) -> &ServicesOptions {
        &self.options
    }

    /// `<dir>/managed-processes.json`.
    pub fn state_path(&self) -> &Path {
        self.state.path()
    }

    /// `<dir>/managed-logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join(MANAGED_LOGS_DIR)
    }

    /// [`spec::validate_record`] with these options' limits.
    pub fn validate(&self, parsed: &Value, opts: &ValidateOptions) -> Validation {
        spec::validate_record(parsed, &self.options, opts)
    }

    /// [`spec::validate_text`] with these options' limits.
    pub fn validate_text(&self, text: &str, opts: &ValidateOptions) -> Validation {
        spec::validate_text(text, &self.options, opts)
    }

    /// The records (optionally one project's).
    pub fn records(&self, project: Option<&str>) -> Result<Vec<ManagedRecord>, ServicesError> {
        view::records(&self.dir, project)
    }

    /// The list view (see [`view::list`]).
    pub fn list(&self, project: Option<&str>) -> Result<Vec<ServiceView>, ServicesError> {
        view::list(&self.dir, project)
    }

    /// The list ETag (see [`view::etag`]).
    pub fn etag(&self, project: Option<&str>) -> Result<String, ServicesError> {
        view::etag(&self.dir, project)
    }

    /// The record named `name`.
    pub fn get(&self, name: &str) -> Result<ManagedRecord, ServicesError> {
        self.records(None)?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| not_found(name))
    }

    /// The "live managed processes" prompt block of `project` (`""` when none, or when
    /// the state cannot be read).
    pub fn live_block(&self, project: &str, dashboard_port: u16) -> String {
        match self.records(Some(project)) {
            Ok(r) => view::live_block(
                &r,
                project,
                dashboard_port,
                self.options.prompt_context_max_bytes,
            ),
            Err(_) => String::new(),
        }
    }

    fn grace(&self) -> Duration {
        Duration::from_millis(self.options.kill_grace_ms)
    }

    /// Open `<logs>/<name>.log` for appending, first rotating it to `.1` when it is larger
    /// than `logRotateBytes`.
    pub fn open_log(&self, name: &str) -> Result<PathBuf, ServicesError> {
        if !spec::is_kebab(name) {
            return Err(ServicesError::InvalidSpec {
                reason: "name-not-kebab-case".into(),
            });
        }
        crate::fsx::ensure_private_dir(&self.logs_dir())?;
        let path = log_path(&self.dir, name);
        let cap = self.options.log_rotate_bytes;
        if let Ok(m) = std::fs::metadata(&path) {
            if cap > 0 && m.len() > cap {
                let rotated = rotated_path(&path);
                std::fs::rename(&path, &rotated)
                    .map_err(|e| ServicesError::io("rotate log", &path, e))?;
            }
        }
        Ok(path)
    }

    async fn spawn_process(&self, spec: &ManagedSpec) -> Result<ManagedRecord, ServicesError> {
        if !spec::on_allowlist(&spec.cmd, &self.options.executable_allowlist) {
            return Err(ServicesError::InvalidSpec {
                reason: crate::redact::redact_secrets(&format!(
                    "cmd-not-on-allowlist ({})",
                    spec.cmd
                )),
            });
        }
        let log = self.open_log(&spec.name)?;
        let mut argv = vec![spec.cmd.clone()];
        argv.extend(spec.args.iter().cloned());
        let mut cmd = Command::new(&argv)
            .env_policy(EnvPolicy::Allowlist(
                ESSENTIAL_ENV.iter().map(|s| (*s).to_owned()).collect(),
            ))
            .stdout(OutputMode::File {
                path: log.clone(),
                append: true,
            })
            .stderr(OutputMode::File {
                path: log.clone(),
                append: true,
            })
            // Detached: the service outlives this process; its subreaper shim keeps the
            // whole tree together so a later kill reaches every descendant.
            .subreaper(true)
            .parent_death_signal(false)
            .kill_on_drop(false);
        for (k, v) in &spec.env {
            if let Some(v) = v.as_str() {
                cmd = cmd.env(k, v);
            }
        }
        if !spec.cwd.is_empty() {
            cmd = cmd.cwd(&spec.cwd);
        }
        let child = cmd.spawn()?;
        let started_at = now_ms() as f64;
        let id = child.pid_record();
        let shim = process::parent_of(id.pid)
            .filter(|&p| p != std::process::id() && p > 1)
            .and_then(|p| PidRecord::capture(p).ok());
        drop(child);
        tracing::info!(name = %spec.name, pid = id.pid, "managed service born");
        let ttl_min = spec
            .ttl_minutes
            .unwrap_or(u64::from(self.options.default_ttl_minutes))
            .max(1);
        let rec = serde_json::json!({
            "name": spec.name,
            "pid": id.pid,
            "cmd": spec.cmd,
            "args": spec.args,
            "cwd": spec.cwd,
            "env": spec.env,
            "ports": spec.ports,
            "attrs": spec.attrs,
            "healthcheck": spec.healthcheck,
            "started_at": started_at,
            "ttl_expires_at": started_at + (ttl_min * 60_000) as f64,
            "last_health_at": null,
            "healthy": false,
            "alive": true,
            "log_path": log.to_string_lossy(),
        });
        let mut rec: ManagedRecord =
            serde_json::from_value(rec).map_err(|_| ServicesError::InvalidSpec {
                reason: "record-not-serializable".into(),
            })?;
        rec.keel = Some(KeelFields {
            pid_start_time: Some(id.start_time),
            boot_id: id.boot_id.clone(),
            shim_pid: shim.as_ref().map(|s| s.pid),
            shim_start_time: shim.as_ref().map(|s| s.start_time),
            health: Health::Starting,
            last_error: None,
            last_check_at: None,
        });
        Ok(rec)
    }

    /// Spawn one validated spec and record it (replacing a record of the same name,
    /// whose live tree is killed first). The service runs detached: it survives this
    /// process and is stopped only by [`sweep`](Self::sweep) (TTL), [`remove`](Self::remove),
    /// [`restart`](Self::restart) or [`remove_project`](Self::remove_project).
    pub async fn spawn(
        &self,
        spec: &ManagedSpec,
        owner: &Owner,
    ) -> Result<ManagedRecord, ServicesError> {
        if let Ok(old) = self.get(&spec.name) {
            kill_tree(&old, self.grace()).await;
        }
        let mut rec = self.spawn_process(spec).await?;
        apply_owner(&mut rec, owner);
        let stored = rec.clone();
        self.state.update(move |recs, _| {
            match recs.iter_mut().find(|r| r.name == stored.name) {
                Some(r) => *r = stored,
                None => recs.push(stored),
            }
            ((), false)
        })?;
        Ok(rec)
    }

    /// `waitForFirstHealth`: probe at once, then every `interval_s`, until a pass (the
    /// record becomes `healthy`) or `timeout_s` (the record becomes `unhealthy` with the
    /// reference's `timeout: spec … did not become healthy within Ns (last: …)`).
    pub async fn wait_for_first_health(&self, name: &str, hc: &Healthcheck) -> ProbeResult {
        let r = first_health(name, hc).await;
        let health = if r.healthy {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        if let Err(e) = self.mark(name, None, health, &r) {
            tracing::warn!(name, code = e.code(), "managed service state write failed");
        }
        r
    }

    /// Spawn every spec of a validated record (`value` of [`Validation`]) and wait for
    /// each one's first health. A spec that fails is killed and removed; the others stay.
    pub async fn up(&self, value: &Value, owner: &Owner) -> Result<Vec<UpOutcome>, ServicesError> {
        let specs = spec::specs_of(value);
        if specs.is_empty() {
            return Err(ServicesError::InvalidSpec {
                reason: "specs-missing".into(),
            });
        }
        let mut spawned = Vec::new();
        let mut out = Vec::new();
        for s in &specs {
            match self.spawn(s, owner).await {
                Ok(rec) => spawned.push((s.clone(), rec)),
                Err(e) => out.push(UpOutcome {
                    name: s.name.clone(),
                    pid: None,
                    healthy: false,
                    error: Some(crate::redact::redact_secrets(&e.to_string())),
                    log_path: String::new(),
                }),
            }
        }
        let waits = spawned.iter().map(|(s, rec)| async move {
            let r = match &s.healthcheck {
                Some(hc) => self.wait_for_first_health(&s.name, hc).await,
                None => ProbeResult {
                    healthy: false,
                    error: Some(NO_HEALTHCHECK.into()),
                    last_check_at: now_ms(),
                },
            };
            (s, rec, r)
        });
        for (s, rec, r) in join_all(waits).await {
            if !r.healthy {
                let _ = self.remove_generation(&s.name, rec).await;
            }
            out.push(UpOutcome {
                name: s.name.clone(),
                pid: rec.pid,
                healthy: r.healthy,
                error: r.error,
                log_path: rec.log_path.clone(),
            });
        }
        Ok(out)
    }

    /// Record a probe outcome on `name` (only if the record is still the generation
    /// `expect`, when given).
    fn mark(
        &self,
        name: &str,
        expect: Option<&ManagedRecord>,
        health: Health,
        r: &ProbeResult,
    ) -> Result<(), ServicesError> {
        let expect = expect.map(|e| (e.pid, e.started_at));
        self.state.update(|recs, _| {
            if let Some(rec) = recs.iter_mut().find(|x| x.name == name) {
                if expect.is_some_and(|e| e != (rec.pid, rec.started_at)) {
                    return ((), false);
                }
                set_health(rec, health, r);
            }
            ((), false)
        })
    }

    /// The liveness loop of one service: after `livenessInitialDelayMs`, probe every
    /// `livenessPeriodMs` (default `healthBackoffSec`) and record health changes by the
    /// failure / success thresholds ([`HealthTracker`]). Only changes are written, so a
    /// steady service does not change the ETag. Ends when `cancel` fires, the record is
    /// removed or replaced (restart), or the process dies (recorded as `dead`). Returns
    /// the last health.
    pub async fn watch(
        &self,
        name: &str,
        cancel: CancellationToken,
    ) -> Result<Health, ServicesError> {
        let rec = self.get(name)?;
        let Some(hc) = rec.healthcheck() else {
            return Ok(rec.keel().health);
        };
        let start = if rec.keel.is_some() {
            rec.keel().health
        } else if rec.healthy {
            Health::Healthy
        } else {
            Health::Starting
        };
        let mut tracker = HealthTracker::new(
            start,
            self.options.failure_threshold,
            self.options.success_threshold,
        );
        let period = Duration::from_millis(match self.options.liveness_period_ms {
            0 => u64::from(self.options.health_backoff_sec) * 1000,
            p => p,
        })
        .max(Duration::from_millis(50));
        let mut wait = Duration::from_millis(self.options.liveness_initial_delay_ms);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(tracker.state()),
                _ = tokio::time::sleep(wait) => {}
            }
            wait = period;
            let cur = match self.get(name) {
                Ok(c) if (c.pid, c.started_at) == (rec.pid, rec.started_at) => c,
                Ok(_) | Err(ServicesError::NotFound { .. }) => return Ok(tracker.state()),
                Err(e) => return Err(e),
            };
            if !cur.is_alive() {
                let r = ProbeResult {
                    healthy: false,
                    error: Some("process exited".into()),
                    last_check_at: now_ms(),
                };
                self.mark(name, Some(&rec), Health::Dead, &r)?;
                return Ok(Health::Dead);
            }
            let r = tokio::select! {
                _ = cancel.cancelled() => return Ok(tracker.state()),
                r = run_healthcheck(&hc) => r,
            };
            if let Some(h) = tracker.observe(r.healthy) {
                tracing::info!(name, health = h.as_str(), "managed service health changed");
                self.mark(name, Some(&rec), h, &r)?;
            }
        }
    }

    /// `sweepManagedSpawn`: drop records whose process is gone (nothing is signalled: a
    /// pid whose start time does not match is not ours), kill the trees of TTL-expired
    /// services (SIGTERM, `killGraceMs`, SIGKILL, then the shim) and drop them, drop
    /// malformed entries, rotate survivors' logs above `logRotateBytes` (copy to `.1`,
    /// truncate in place: the service's append-mode descriptor keeps writing to the live
    /// log and the disk space is really freed).
    pub async fn sweep(&self) -> Result<SweepStats, ServicesError> {
        Ok(self.reconcile().await?.0)
    }

    async fn reconcile(&self) -> Result<(SweepStats, Vec<ManagedRecord>), ServicesError> {
        let now = now_ms() as f64;
        let (mut stats, expired, survivors) = self.state.update(|recs, malformed| {
            let mut stats = SweepStats {
                malformed: malformed as u32,
                ..Default::default()
            };
            let mut expired = Vec::new();
            let mut survivors = Vec::new();
            recs.retain(|r| {
                stats.scanned += 1;
                let alive = r.is_alive();
                if r.ttl_expires_at.is_some_and(|t| t <= now) {
                    stats.ttl_expired += 1;
                    if alive {
                        expired.push(r.clone());
                    }
                    return false;
                }
                if !alive {
                    stats.dead_dropped += 1;
                    return false;
                }
                survivors.push(r.clone());
                true
            });
            ((stats, expired, survivors), true)
        })?;
        // Outside the lock: kills and log rotation.
        let grace = self.grace();
        let kills = expired.iter().map(|r| kill_tree(r, grace));
        stats.killed_pids = join_all(kills).await.into_iter().filter(|k| *k).count() as u32;
        let cap = self.options.log_rotate_bytes;
        for s in &survivors {
            if rotate_live_log(Path::new(&s.log_path), cap) {
                stats.rotated_logs += 1;
            }
        }
        Ok((stats, survivors))
    }

    /// `bootReconcileManagedSpawn`: a sweep, then one probe of each survivor not healthy
    /// within `healthBackoffSec`, the probes together bounded by `bootReconcileMaxMs`
    /// (a probe still running then is abandoned and not recorded).
    pub async fn boot_reconcile(&self) -> Result<ReconcileReport, ServicesError> {
        let (stats, survivors) = self.reconcile().await?;
        let now = now_ms() as f64;
        let backoff = f64::from(self.options.health_backoff_sec) * 1000.0;
        let mut set = tokio::task::JoinSet::new();
        for s in survivors {
            if s.healthy && now - s.last_health_at.unwrap_or(0.0) < backoff {
                continue;
            }
            let Some(hc) = s.healthcheck() else { continue };
            set.spawn(async move {
                let r = run_healthcheck(&hc).await;
                (s, r)
            });
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.options.boot_reconcile_max_ms);
        let mut results = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, set.join_next()).await {
                Ok(Some(Ok(x))) => results.push(x),
                Ok(Some(Err(_))) => {}
                Ok(None) => break,
                Err(_) => {
                    set.abort_all();
                    break;
                }
            }
        }
        let mut probed = Vec::new();
        for (s, r) in &results {
            let h = if r.healthy {
                Health::Healthy
            } else {
                Health::Unhealthy
            };
            self.mark(&s.name, Some(s), h, r)?;
            probed.push(Probed {
                name: s.name.clone(),
                healthy: r.healthy,
            });
        }
        Ok(ReconcileReport { stats, probed })
    }

    /// minions' whole `restartManagedSpec(name)`, as every surface answers it:
    /// [`restart`](Self::restart), then the first health of the new process when its
    /// spec has a healthcheck. The service keeps running either way; `healthy:false`
    /// carries the probe's error, or [`NO_HEALTHCHECK`] when there is nothing to probe.
    pub async fn restart_and_wait(&self, name: &str) -> Result<UpOutcome, ServicesError> {
        let rec = self.restart(name).await?;
        let probe = match rec.healthcheck() {
            Some(hc) => self.wait_for_first_health(name, &hc).await,
            None => ProbeResult {
                healthy: false,
                error: Some(NO_HEALTHCHECK.into()),
                last_check_at: now_ms(),
            },
        };
        Ok(UpOutcome {
            name: name.to_owned(),
            pid: rec.pid,
            healthy: probe.healthy,
            error: probe.error,
            log_path: rec.log_path,
        })
    }

    /// `restartManagedSpec(name)` without the health wait: kill the old tree (if it is
    /// still provably this service), spawn the saved spec again and replace the record
    /// (`healthy:false`, new pid and `started_at`, same TTL length).
    /// [`restart_and_wait`](Self::restart_and_wait) adds the first-health wait.
    pub async fn restart(&self, name: &str) -> Result<ManagedRecord, ServicesError> {
        let old = self.get(name)?;
        kill_tree(&old, self.grace()).await;
        let ttl = match (old.ttl_expires_at, old.started_at) {
            (Some(t), Some(s)) if t > s => Some((((t - s) / 60_000.0).round() as u64).max(1)),
            _ => None,
        };
        let spec = ManagedSpec {
            name: old.name.clone(),
            cmd: old.cmd.clone(),
            args: old.args.clone(),
            cwd: old.cwd.clone(),
            env: old.env.clone(),
            ports: old
                .ports
                .iter()
                .filter_map(|p| p.as_u64())
                .map(|p| p as u16)
                .collect(),
            ttl_minutes: ttl,
            attrs: old.attrs.clone(),
            healthcheck: old.healthcheck(),
        };
        let mut rec = self.spawn_process(&spec).await?;
        rec.owner_agent = old.owner_agent.clone();
        rec.owner_wi = old.owner_wi.clone();
        rec.owner_project = old.owner_project.clone();
        rec.extra = old.extra.clone();
        let stored = rec.clone();
        self.state.update(move |recs, _| {
            match recs.iter_mut().find(|r| r.name == stored.name) {
                Some(r) => *r = stored,
                None => recs.push(stored),
            }
            ((), false)
        })?;
        tracing::info!(name, old_pid = ?old.pid, new_pid = ?rec.pid, "managed service restarted");
        Ok(rec)
    }

    /// `removeManagedSpec(name)`: drop the record, then kill its tree (outside the lock,
    /// pinned to the recorded identity). A tree that survives the kill is put back with
    /// an expired TTL, so the next sweep tries again.
    pub async fn remove(&self, name: &str) -> Result<Removal, ServicesError> {
        let Some(rec) = self.state.update(|recs, _| {
            let i = recs.iter().position(|r| r.name == name);
            (i.map(|i| recs.remove(i)), false)
        })?
        else {
            return Err(not_found(name));
        };
        self.finish_removal(rec).await
    }

    async fn remove_generation(
        &self,
        name: &str,
        expect: &ManagedRecord,
    ) -> Result<Removal, ServicesError> {
        let key = (expect.pid, expect.started_at);
        let taken = self.state.update(|recs, _| {
            let i = recs
                .iter()
                .position(|r| r.name == name && (r.pid, r.started_at) == key);
            (i.map(|i| recs.remove(i)), false)
        })?;
        match taken {
            Some(rec) => self.finish_removal(rec).await,
            None => Ok(Removal {
                removed: false,
                killed: false,
            }),
        }
    }

    async fn finish_removal(&self, rec: ManagedRecord) -> Result<Removal, ServicesError> {
        let killed = kill_tree(&rec, self.grace()).await;
        if rec.is_alive() {
            let mut back = rec;
            back.ttl_expires_at = Some(now_ms() as f64);
            back.healthy = false;
            self.state.update(move |recs, _| {
                if !recs.iter().any(|r| r.name == back.name) {
                    recs.push(back);
                }
                ((), false)
            })?;
            return Ok(Removal {
                removed: false,
                killed,
            });
        }
        Ok(Removal {
            removed: true,
            killed,
        })
    }

    /// `removeManagedSpecsForProject(project)`: drop every record of the project, kill
    /// their trees, unlink their logs (`.log` and `.log.1`).
    pub async fn remove_project(&self, project: &str) -> Result<ProjectRemoval, ServicesError> {
        if project.is_empty() {
            return Ok(ProjectRemoval::default());
        }
        let taken = self.state.update(|recs, _| {
            let (gone, keep): (Vec<_>, Vec<_>) =
                recs.drain(..).partition(|r| r.owner_project == project);
            *recs = keep;
            (gone, false)
        })?;
        let mut out = ProjectRemoval {
            scanned: taken.len() as u32,
            removed: taken.len() as u32,
            ..Default::default()
        };
        let grace = self.grace();
        out.killed = join_all(taken.iter().map(|r| kill_tree(r, grace)))
            .await
            .into_iter()
            .filter(|k| *k)
            .count() as u32;
        for r in &taken {
            if r.log_path.is_empty() {
                continue;
            }
            let p = PathBuf::from(&r.log_path);
            for c in [p.clone(), rotated_path(&p)] {
                if std::fs::remove_file(&c).is_ok() {
                    out.unlinked += 1;
                }
            }
        }
        Ok(out)
    }
}

fn not_found(name: &str) -> ServicesError {
    ServicesError::NotFound {
        name: if spec::is_kebab(name) && name.len() <= 128 {
            name.to_owned()
        } else {
            "(invalid name)".into()
        },
    }
}

fn apply_owner(rec: &mut ManagedRecord, owner: &Owner) {
    rec.owner_agent = owner.owner_agent.clone();
    rec.owner_wi = owner.owner_wi.clone();
    rec.owner_project = owner.owner_project.clone();
    for (k, v) in [
        ("owner_work_type", &owner.owner_work_type),
        ("dispatch_root", &owner.dispatch_root),
        ("checkout_mode", &owner.checkout_mode),
    ] {
        rec.extra.insert(k.into(), Value::String(v.clone()));
    }
}

fn set_health(rec: &mut ManagedRecord, health: Health, r: &ProbeResult) {
    let mut k = rec.keel();
    k.health = health;
    k.last_check_at = Some(r.last_check_at);
    k.last_error = r.error.clone();
    match health {
        Health::Healthy => {
            rec.healthy = true;
            rec.last_health_at = Some(r.last_check_at as f64);
        }
        Health::Dead => {
            rec.healthy = false;
            rec.alive = false;
        }
        _ => rec.healthy = false,
    }
    rec.keel = Some(k);
}

async fn first_health(name: &str, hc: &Healthcheck) -> ProbeResult {
    let interval = Duration::from_millis(hc.interval_ms());
    let timeout = Duration::from_millis(hc.timeout_ms()).max(interval);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let r = run_healthcheck(hc).await;
        if r.healthy {
            return r;
        }
        if tokio::time::Instant::now() >= deadline {
            let secs = (timeout.as_millis() as f64 / 1000.0).round() as u64;
            let last = r.error.clone().unwrap_or_else(|| "no probes ran".into());
            return ProbeResult {
                healthy: false,
                error: Some(crate::redact::redact_secrets(&format!(
                    "timeout: spec {name} did not become healthy within {secs}s (last: {last})"
                ))),
                last_check_at: r.last_check_at,
            };
        }
        tokio::time::sleep(interval).await;
    }
}

/// Kill a service's tree if the record's process is provably still this service:
/// the leader's tree (SIGTERM, grace, SIGKILL) and then its subreaper shim, which kills
/// whatever of the tree is left (also descendants that left the process group) and
/// exits. Returns whether anything was signalled. Never signals a reused pid.
pub(crate) async fn kill_tree(rec: &ManagedRecord, grace: Duration) -> bool {
    let mut any = false;
    if let Some(id) = rec.identity() {
        if id.is_alive() {
            any = true;
            if let Err(e) = process::kill_recorded_tree(&id, grace).await {
                tracing::warn!(name = %rec.name, code = e.code(), "managed service kill failed");
            }
        }
        if let Some(shim) = rec.shim_identity() {
            if shim.is_alive() && shim.signal(libc::SIGTERM).unwrap_or(false) {
                any = true;
                let until = tokio::time::Instant::now() + process::DEFAULT_KILL_WAIT;
                while shim.is_alive() && tokio::time::Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    } else if rec.is_alive() {
        // A record without keel's identity (written by minions): `is_alive` checked that
        // the live process did not start after the record; pin it now and kill.
        if let Some(pid) = rec.pid {
            any = true;
            if let Err(e) = process::kill_process_tree(pid, grace).await {
                tracing::warn!(name = %rec.name, code = e.code(), "managed service kill failed");
            }
        }
    }
    any
}

fn rotated_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

/// Copy a live log to `.1` and truncate it in place when it is above `cap`.
fn rotate_live_log(path: &Path, cap: u64) -> bool {
    if cap == 0 || path.as_os_str().is_empty() {
        return false;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() > cap => {}
        _ => return false,
    }
    let rotated = rotated_path(path);
    let _ = std::fs::remove_file(&rotated);
    if std::fs::copy(path, &rotated).is_err() {
        return false;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(0))
        .is_ok()
}

async fn join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                out[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
