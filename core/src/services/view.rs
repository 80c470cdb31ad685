//! What the list surfaces show: the minions dashboard's API shape of a record plus
//! keel's health state, the list ETag, health counts and the prompt block.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::js;
use super::state::{Health, ManagedRecord, StateFile};
use super::ServicesError;

/// One managed service as `GET /managed-processes` shows it: minions'
/// `_managedSpecToApiShape` fields (snake_case, as minions serves them; `env` is never
/// shown) plus keel's `health`, `last_error` and `last_check_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ServiceView {
    /// Name.
    pub name: String,
    /// Leader pid.
    pub pid: Option<u32>,
    /// Alive right now (checked PID-reuse-safely at list time).
    pub alive: bool,
    /// Passing its healthchecks.
    pub healthy: bool,
    /// Owning agent.
    pub owner_agent: String,
    /// Owning work item.
    pub owner_wi: String,
    /// Owning project.
    pub owner_project: String,
    /// Attributes.
    pub attrs: Map<String, Value>,
    /// Ports.
    pub ports: Vec<Value>,
    /// Epoch ms of the spawn.
    pub started_at: Option<f64>,
    /// Epoch ms of TTL expiry.
    pub ttl_expires_at: Option<f64>,
    /// Epoch ms of the last passing probe.
    pub last_health_at: Option<f64>,
    /// Log file.
    pub log_path: String,
    /// Executable.
    pub cmd: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Healthcheck.
    pub healthcheck: Option<Value>,
    /// keel: `starting`, `healthy`, `unhealthy` or `dead`.
    pub health: Health,
    /// keel: the last probe's error (redacted).
    pub last_error: Option<String>,
    /// keel: epoch ms of the last probe.
    pub last_check_at: Option<u64>,
}

impl ServiceView {
    /// The view of a record (liveness checked now).
    pub fn of(r: &ManagedRecord) -> Self {
        let alive = r.is_alive();
        let k = r.keel();
        let health = if !alive {
            Health::Dead
        } else if r.keel.is_none() {
            if r.healthy {
                Health::Healthy
            } else {
                Health::Starting
            }
        } else {
            k.health
        };
        ServiceView {
            name: r.name.clone(),
            pid: r.pid,
            alive,
            healthy: r.healthy && alive,
            owner_agent: r.owner_agent.clone(),
            owner_wi: r.owner_wi.clone(),
            owner_project: r.owner_project.clone(),
            attrs: r.attrs.clone(),
            ports: r.ports.clone(),
            started_at: r.started_at,
            ttl_expires_at: r.ttl_expires_at,
            last_health_at: r.last_health_at,
            log_path: r.log_path.clone(),
            cmd: r.cmd.clone(),
            args: r.args.clone(),
            cwd: r.cwd.clone(),
            healthcheck: r.healthcheck.clone(),
            health,
            last_error: k.last_error,
            last_check_at: k.last_check_at,
        }
    }
}

/// Services by health (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HealthCounts {
    /// Spawned, not yet healthy.
    pub starting: u32,
    /// Healthy.
    pub healthy: u32,
    /// Unhealthy.
    pub unhealthy: u32,
    /// Process gone (not yet swept).
    pub dead: u32,
}

impl HealthCounts {
    /// Every service.
    pub fn total(&self) -> u32 {
        self.starting + self.healthy + self.unhealthy + self.dead
    }

    /// `(health name, count)` pairs, for a metrics exporter.
    pub fn pairs(&self) -> [(&'static str, u32); 4] {
        [
            ("starting", self.starting),
            ("healthy", self.healthy),
            ("unhealthy", self.unhealthy),
            ("dead", self.dead),
        ]
    }
}

/// The managed services of `state_dir` (optionally one project's), in file order.
/// A missing state file is an empty list. Never spawns, probes or signals.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// assert!(keel_core::services::list(dir.path(), None).unwrap().is_empty());
/// assert_eq!(keel_core::services::etag(dir.path(), None).unwrap().len(), 16);
/// ```
pub fn list(state_dir: &Path, project: Option<&str>) -> Result<Vec<ServiceView>, ServicesError> {
    Ok(records(state_dir, project)?
        .iter()
        .map(ServiceView::of)
        .collect())
}

/// The raw records of `state_dir` (optionally one project's).
pub fn records(
    state_dir: &Path,
    project: Option<&str>,
) -> Result<Vec<ManagedRecord>, ServicesError> {
    let loaded = StateFile::new(state_dir).load()?;
    Ok(loaded
        .records
        .into_iter()
        .filter(|r| project.is_none_or(|p| p.is_empty() || r.owner_project == p))
        .collect())
}

/// minions' `computeManagedSpecsEtag({project})`: the first 16 hex digits of the SHA-1 of
/// `JSON.stringify` of the records sorted by name. Same state file → same ETag as
/// minions computes; any change of any field → a new one.
pub fn etag(state_dir: &Path, project: Option<&str>) -> Result<String, ServicesError> {
    use sha1::Digest;
    let all = StateFile::new(state_dir).load_raw()?;
    let mut raw: Vec<&Value> = all
        .iter()
        .filter(|v| match project.filter(|p| !p.is_empty()) {
            None => true,
            Some(p) => v.get("owner_project").and_then(Value::as_str) == Some(p),
        })
        .collect();
    raw.sort_by_cached_key(|v| name_key(v));
    let text = js::stringify_refs(&raw);
    let digest = sha1::Sha1::digest(text.as_bytes());
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn name_key(v: &Value) -> String {
    js::string(v.get("name"))
}

/// Services of `state_dir` by health.
pub fn health_counts(state_dir: &Path) -> Result<HealthCounts, ServicesError> {
    let mut c = HealthCounts::default();
    for v in list(state_dir, None)? {
        match v.health {
            Health::Starting => c.starting += 1,
            Health::Healthy => c.healthy += 1,
            Health::Unhealthy => c.unhealthy += 1,
            Health::Dead => c.dead += 1,
        }
    }
    Ok(c)
}

/// ISO-8601 UTC with milliseconds (`Date.prototype.toISOString`).
pub(crate) fn iso(ms: f64) -> String {
    let ms = ms as i64;
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `encodeURIComponent`.
fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// minions' `buildLiveManagedProcessesBlock({project, dashboardPort})`: the markdown
/// block of a project's healthy, alive services for a downstream agent's prompt; `""`
/// when there are none or no project is given. The full rendering is used when it fits
/// `cap` bytes, else a compact list (name, base_url, ports).
pub fn live_block(
    records: &[ManagedRecord],
    project: &str,
    dashboard_port: u16,
    cap: u32,
) -> String {
    if project.is_empty() {
        return String::new();
    }
    let specs: Vec<&ManagedRecord> = records
        .iter()
        .filter(|s| s.owner_project == project && s.healthy && s.alive)
        .collect();
    if specs.is_empty() {
        return String::new();
    }
    let cap = cap.max(256) as usize;
    let port = if dashboard_port > 0 {
        dashboard_port
    } else {
        7331
    };
    let url = format!(
        "http://localhost:{port}/api/managed-processes?project={}",
        encode_uri_component(project)
    );
    let header = vec![
        String::new(),
        String::new(),
        "---".into(),
        String::new(),
        format!("## Live managed processes for project {project}"),
        String::new(),
        "These services were spawned by earlier work items in this project and are currently healthy. Reuse them — do not re-spawn duplicates. Ports, URLs, and PIDs are owned by the engine; query `/api/managed-processes` if you need fresh state.".into(),
        String::new(),
    ];
    let ports_of = |s: &ManagedRecord, sep: &str| {
        s.ports
            .iter()
            .map(|p| js::string(Some(p)))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let mut full = header.clone();
    for s in &specs {
        full.push(format!("### {}", s.name));
        full.push(String::new());
        if let Some(pid) = s.pid.filter(|&p| p > 0) {
            full.push(format!("- pid: {pid}"));
        }
        if !s.ports.is_empty() {
            full.push(format!("- ports: {}", ports_of(s, ", ")));
        }
        let keys = js::keys(&s.attrs);
        if !keys.is_empty() {
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}: {}", js::stringify(&s.attrs[k.as_str()])))
                .collect();
            full.push(format!("- attrs: {}", parts.join("; ")));
        }
        if !s.log_path.is_empty() {
            full.push(format!("- log: {}", s.log_path));
        }
        if let Some(t) = s.ttl_expires_at.filter(|t| t.is_finite()) {
            full.push(format!("- ttl_expires_at: {}", iso(t)));
        }
        full.push(String::new());
    }
    full.push(format!("Full details / kill / restart: `curl -s {url}`"));
    full.push(String::new());
    let full = full.join("\n");
    if full.len() <= cap {
        return full;
    }
    let mut compact = header;
    for s in &specs {
        let base = s
            .attrs
            .get("base_url")
            .and_then(Value::as_str)
            .map(|b| format!(" — {b}"))
            .unwrap_or_default();
        let ports = if s.ports.is_empty() {
            String::new()
        } else {
            format!(" (ports {})", ports_of(s, ","))
        };
        compact.push(format!("- **{}**{base}{ports}", s.name));
    }
    compact.push(String::new());
    compact.push(format!(
        "_{} live service(s) — full details truncated above the {cap}-byte prompt cap. Query `{url}` for attrs, logs, and TTL._",
        specs.len()
    ));
    compact.push(String::new());
    compact.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_700_000_000_123.0), "2023-11-14T22:13:20.123Z");
        assert_eq!(encode_uri_component("a b/é"), "a%20b%2F%C3%A9");
    }
}
