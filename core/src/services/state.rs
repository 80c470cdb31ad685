//! The state file `managed-processes.json` (minions' shape `{"specs":[record…]}`, its
//! field names) and the PID-reuse-safe identity keel adds to each record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::spec::Healthcheck;
use super::ServicesError;
use crate::fsx::JsonStateFile;
use crate::process::PidRecord;

/// The state file's name in the state directory.
pub const MANAGED_PROCESSES_STATE_FILE: &str = "managed-processes.json";
/// The logs directory's name in the state directory.
pub const MANAGED_LOGS_DIR: &str = "managed-logs";
/// Largest state file read, bytes.
pub const MAX_STATE_FILE_BYTES: u64 = 16 << 20;

/// A service's health as keel tracks it (the `keel.health` field of a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Health {
    /// Spawned, first healthcheck not passed yet.
    #[default]
    Starting,
    /// Passing its healthchecks.
    Healthy,
    /// Failed its first-health wait, or `failureThreshold` liveness probes in a row.
    Unhealthy,
    /// Its process is gone.
    Dead,
}

impl Health {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Dead => "dead",
        }
    }
}

/// keel's additions to a minions record, under the key `keel` (minions ignores it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeelFields {
    /// The service leader's start time (`/proc/<pid>/stat` field 22, clock ticks since
    /// boot): `pid` is signalled only while this still matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_start_time: Option<u64>,
    /// Linux boot id when the record was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The subreaper shim holding the service's tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shim_pid: Option<u32>,
    /// The shim's start time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shim_start_time: Option<u64>,
    /// Health state.
    pub health: Health,
    /// The last probe's error (redacted), `None` after a passing probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Epoch ms of the last probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check_at: Option<u64>,
}

/// One record of `managed-processes.json`, field for field with minions'
/// `_toStateRecord`; fields keel does not know are kept as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ManagedRecord {
    /// Kebab-case name (unique).
    pub name: String,
    /// The service leader's pid (`null` while reserved).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The agent that asked for it.
    #[serde(default)]
    pub owner_agent: String,
    /// Its work item.
    #[serde(default)]
    pub owner_wi: String,
    /// Its project.
    #[serde(default)]
    pub owner_project: String,
    /// The executable.
    #[serde(default)]
    pub cmd: String,
    /// Arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory.
    #[serde(default)]
    pub cwd: String,
    /// Environment from the spec.
    #[serde(default)]
    pub env: Map<String, Value>,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<Value>,
    /// Opaque attributes.
    #[serde(default)]
    pub attrs: Map<String, Value>,
    /// The healthcheck.
    #[serde(default)]
    pub healthcheck: Option<Value>,
    /// Epoch ms of the spawn.
    #[serde(default)]
    pub started_at: Option<f64>,
    /// Epoch ms when the TTL expires.
    #[serde(default)]
    pub ttl_expires_at: Option<f64>,
    /// Epoch ms of the last passing probe.
    #[serde(default)]
    pub last_health_at: Option<f64>,
    /// Passing its healthchecks.
    #[serde(default)]
    pub healthy: bool,
    /// Believed running.
    #[serde(default)]
    pub alive: bool,
    /// The service's log.
    #[serde(default)]
    pub log_path: String,
    /// keel's additions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keel: Option<KeelFields>,
    /// Fields of other writers (minions' `owner_work_type`, `_spawn_token`, …).
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub extra: Map<String, Value>,
}

impl ManagedRecord {
    /// The validated healthcheck, if the record's is well-formed.
    pub fn healthcheck(&self) -> Option<Healthcheck> {
        self.healthcheck
            .clone()
            .and_then(|h| serde_json::from_value(h).ok())
    }

    /// keel's fields (default when absent).
    pub fn keel(&self) -> KeelFields {
        self.keel.clone().unwrap_or_default()
    }

    /// The PID-reuse-safe identity of the leader, when keel recorded one.
    pub fn identity(&self) -> Option<PidRecord> {
        let pid = self.pid.filter(|&p| p > 1)?;
        let k = self.keel.as_ref()?;
        let st = k.pid_start_time?;
        Some(pid_record(pid, st, Some(pid), k.boot_id.clone()))
    }

    /// The shim's identity, when keel recorded one.
    pub fn shim_identity(&self) -> Option<PidRecord> {
        let k = self.keel.as_ref()?;
        let pid = k.shim_pid.filter(|&p| p > 1)?;
        Some(pid_record(pid, k.shim_start_time?, None, k.boot_id.clone()))
    }

    /// Whether the recorded process is provably this service and alive.
    ///
    /// With keel's identity: pid + start time (+ boot id) must match. Without it (a
    /// record written by minions): the live process with that pid must not have started
    /// after the record's `started_at` (plus 2 s of clock slack) — a later start proves
    /// the pid was reused.
    pub fn is_alive(&self) -> bool {
        if let Some(id) = self.identity() {
            return id.is_alive();
        }
        let Some(pid) = self.pid.filter(|&p| p > 1) else {
            return false;
        };
        let Ok(live) = PidRecord::capture(pid) else {
            return false;
        };
        match (process_start_epoch_ms(live.start_time), self.started_at) {
            (Some(start), Some(recorded)) => start <= recorded + 2000.0,
            // No way to tell: not provably ours, so not alive for signalling purposes.
            _ => false,
        }
    }
}

fn pid_record(pid: u32, start_time: u64, pgid: Option<u32>, boot_id: Option<String>) -> PidRecord {
    let mut v = serde_json::json!({
        "version": crate::process::PID_RECORD_VERSION,
        "pid": pid,
        "startTime": start_time,
    });
    if let Some(g) = pgid {
        v["pgid"] = g.into();
    }
    if let Some(b) = boot_id {
        v["bootId"] = b.into();
    }
    serde_json::from_value(v).expect("a pid record from its parts")
}

/// Epoch ms at which a process with `start_ticks` (clock ticks since boot) started.
pub(crate) fn process_start_epoch_ms(start_ticks: u64) -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let btime: f64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(btime * 1000.0 + start_ticks as f64 * 1000.0 / clock_ticks())
    }
    #[cfg(not(target_os = "linux"))]
    {
        // macOS start times are microseconds since the epoch.
        Some(start_ticks as f64 / 1000.0)
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn clock_ticks() -> f64 {
    // SAFETY: sysconf takes a constant and returns a number.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The state file of one state directory.
#[derive(Debug, Clone)]
pub(crate) struct StateFile {
    file: JsonStateFile<Value>,
}

/// What a read found.
pub(crate) struct Loaded {
    /// Well-formed records.
    pub records: Vec<ManagedRecord>,
}

impl StateFile {
    pub(crate) fn new(state_dir: &Path) -> Self {
        StateFile {
            file: JsonStateFile::new(state_dir.join(MANAGED_PROCESSES_STATE_FILE))
                .max_len(MAX_STATE_FILE_BYTES),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    /// Read under the shared lock. A missing file is empty; a file that is not
    /// `{"specs":[…]}` lists nothing (as minions' `listManagedSpecs`).
    pub(crate) fn load(&self) -> Result<Loaded, ServicesError> {
        let raw = self.load_raw()?;
        let records = raw.iter().filter_map(record_of).collect();
        Ok(Loaded { records })
    }

    /// The raw entries only (the ETag needs no parsed record).
    pub(crate) fn load_raw(&self) -> Result<Vec<Value>, ServicesError> {
        Ok(match self.file.read()? {
            Some(Value::Object(mut o)) => match o.remove("specs") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        })
    }

    /// Read-modify-write under the exclusive lock. `f` gets the well-formed records and
    /// the count of malformed entries; malformed entries are dropped when it returns
    /// `true` in the second position, kept otherwise. Nothing is written when nothing
    /// changed.
    pub(crate) fn update<R>(
        &self,
        f: impl FnOnce(&mut Vec<ManagedRecord>, usize) -> (R, bool),
    ) -> Result<R, ServicesError> {
        self.file
            .update(|cur| {
                let (malformed_raw, mut records) = partition(cur.as_ref());
                let before = records.clone();
                let (out, drop_malformed) = f(&mut records, malformed_raw.len());
                if records == before && (malformed_raw.is_empty() || !drop_malformed) {
                    return Ok(out);
                }
                let mut specs: Vec<Value> = records
                    .iter()
                    .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                    .collect();
                if !drop_malformed {
                    specs.extend(malformed_raw);
                }
                let mut doc = match cur.take() {
                    Some(Value::Object(o)) => o,
                    _ => Map::new(),
                };
                doc.insert("specs".into(), Value::Array(specs));
                *cur = Some(Value::Object(doc));
                Ok(out)
            })
            .map_err(ServicesError::from)?
    }
}

fn partition(v: Option<&Value>) -> (Vec<Value>, Vec<ManagedRecord>) {
    let mut bad = Vec::new();
    let mut good = Vec::new();
    match v {
        Some(Value::Object(o)) => match o.get("specs") {
            Some(Value::Array(a)) => {
                for e in a {
                    match record_of(e) {
                        Some(r) => good.push(r),
                        None => bad.push(e.clone()),
                    }
                }
            }
            Some(other) => bad.push(other.clone()),
            None => {}
        },
        Some(other) => bad.push(other.clone()),
        None => {}
    }
    (bad, good)
}

fn record_of(e: &Value) -> Option<ManagedRecord> {
    if !e.get("name").is_some_and(Value::is_string) {
        return None;
    }
    ManagedRecord::deserialize(e).ok()
}

/// The log path of service `name` in `state_dir`.
pub(crate) fn log_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(MANAGED_LOGS_DIR).join(format!("{name}.log"))
}
