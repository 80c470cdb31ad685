//! `keel services`: managed long-running services (minions' managed-spawn) over a state
//! directory — validate a `managed-spawn.json`, bring its services up detached and wait
//! for their first health, list them, restart, sweep (TTL / dead), take them down. All
//! behaviour is `keel_core::services`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use keel_core::services::{
    Owner, ServiceView, Services, ServicesError, ServicesOptions, ValidateOptions,
};

use crate::Failure;

/// Options of `keel services`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
FILE is a minions managed-spawn.json sidecar, e.g.
  {\"specs\": [{\"name\": \"web\", \"cmd\": \"python3\", \"args\": [\"-m\", \"http.server\", \"8765\"],
              \"cwd\": \"/work/repo\", \"env\": {\"VITE_HOST\": \"127.0.0.1\"}, \"ports\": [8765],
              \"ttl_minutes\": 60, \"attrs\": {\"base_url\": \"http://127.0.0.1:8765\"},
              \"healthcheck\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:8765/\",
                              \"expect_status\": 200, \"interval_s\": 1, \"timeout_s\": 30}}],
   \"written_by\": \"agent-1\", \"wi_id\": \"W-1\"}
A `command` healthcheck is {\"type\": \"command\", \"cmd\": \"curl -sf http://…\", \"shell\": true,
\"expect_regex\": \"ok\", \"timeout_s\": 10}. Rejections carry minions' reason strings, e.g.
  spec[0]: name-not-kebab-case (Bad_Name)

State: <state-dir>/managed-processes.json (minions' record fields, 0600, locked) and
<state-dir>/managed-logs/<name>.log. --state-dir defaults to $KEEL_SERVICES_DIR.
--options-json takes the ServicesOptions object (minions' managedSpawn limits + keel's),
e.g. {\"requireGitWorkdir\": false, \"defaultTtlMinutes\": 60, \"killGraceMs\": 2000}.

Examples:
  keel services validate managed-spawn.json --json
  keel services up managed-spawn.json --state-dir ~/.local/state/host --project web
  keel services ls --state-dir ~/.local/state/host --json
  keel services restart web --state-dir ~/.local/state/host
  keel services sweep --state-dir ~/.local/state/host
  keel services down --project web --state-dir ~/.local/state/host

Exit status: 0 ok, 1 failure (an invalid spec, a service that did not become healthy, an
error naming its code, e.g. KEEL_SERVICE_NOT_FOUND), 2 bad usage.")]
pub struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Args, Debug)]
struct Common {
    /// The state directory (default: $KEEL_SERVICES_DIR).
    #[arg(long = "state-dir", value_name = "DIR", env = "KEEL_SERVICES_DIR")]
    state_dir: PathBuf,
    /// ServicesOptions as JSON.
    #[arg(long = "options-json", value_name = "JSON")]
    options_json: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
enum Verb {
    /// Validate a managed-spawn.json; `--json` prints the reference validator's {ok, reason|value}.
    Validate {
        /// The file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Do not require a `cwd` inside a git worktree.
        #[arg(long = "no-git-check")]
        no_git_check: bool,
        /// Every `cwd` must be inside this directory.
        #[arg(long = "allowed-cwd-root", value_name = "DIR")]
        allowed_cwd_root: Option<String>,
        /// ServicesOptions as JSON.
        #[arg(long = "options-json", value_name = "JSON")]
        options_json: Option<String>,
    },
    /// Validate FILE, spawn its services detached and wait for each one's first health.
    Up {
        /// The managed-spawn.json.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
        /// Owner project recorded on each service.
        #[arg(long)]
        project: Option<String>,
        /// Owner agent.
        #[arg(long)]
        agent: Option<String>,
        /// Owner work item.
        #[arg(long = "work-item")]
        work_item: Option<String>,
        /// Do not require a `cwd` inside a git worktree.
        #[arg(long = "no-git-check")]
        no_git_check: bool,
    },
    /// List the services (health, pid, TTL).
    #[command(alias = "status")]
    Ls {
        #[command(flatten)]
        common: Common,
        /// Only this project's.
        #[arg(long)]
        project: Option<String>,
    },
    /// Kill and respawn a service from its saved spec, then wait for its first health.
    Restart {
        /// The service.
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Drop dead services, kill TTL-expired ones (whole tree), rotate logs.
    Sweep {
        #[command(flatten)]
        common: Common,
    },
    /// Kill a service (whole tree) and forget it, or every service of a project.
    Down {
        /// The service.
        name: Option<String>,
        /// Every service of this project (logs unlinked too).
        #[arg(long, conflicts_with = "name")]
        project: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

fn fail(e: ServicesError) -> Failure {
    Failure::from(format!("{e} [{}]", e.code()))
}

fn options(text: Option<&str>) -> Result<ServicesOptions, Failure> {
    ServicesOptions::from_json(text.unwrap_or(""))
        .map_err(|e| Failure::from(format!("{e} [{}]", e.code())))
}

fn services(c: &Common) -> Result<Services, Failure> {
    Services::new(&c.state_dir, options(c.options_json.as_deref())?).map_err(fail)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::from)
}

fn read(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file)
        .map_err(|e| Failure::from(format!("cannot read {}: {e} [KEEL_IO]", file.display())))
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    println!("{}", serde_json::to_string(v).map_err(Failure::from)?);
    Ok(())
}

/// Run `keel services`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match args.verb {
        Verb::Validate {
            file,
            json,
            no_git_check,
            allowed_cwd_root,
            options_json,
        } => {
            let limits = options(options_json.as_deref())?;
            let text = read(&file)?;
            let opts = ValidateOptions {
                require_git_workdir: no_git_check.then_some(false),
                allowed_cwd_root,
                ..Default::default()
            };
            let v = keel_core::services::validate_text(&text, &limits, &opts);
            if json {
                print_json(&v)?;
            } else if v.ok {
                let names: Vec<String> = keel_core::services::specs_of(v.value.as_ref().unwrap())
                    .into_iter()
                    .map(|s| s.name)
                    .collect();
                println!("ok: {} spec(s): {}", names.len(), names.join(", "));
            } else {
                println!("invalid: {}", v.reason.as_deref().unwrap_or("unknown"));
            }
            Ok(ExitCode::from(if v.ok { 0 } else { 1 }))
        }
        Verb::Up {
            file,
            common,
            project,
            agent,
            work_item,
            no_git_check,
        } => {
            let svc = services(&common)?;
            let text = read(&file)?;
            let opts = ValidateOptions {
                require_git_workdir: no_git_check.then_some(false),
                ..Default::default()
            };
            let v = svc.validate_text(&text, &opts);
            let Some(value) = v.value.filter(|_| v.ok) else {
                return Err(Failure::from(format!(
                    "invalid managed-spawn spec: {} [KEEL_SERVICE_SPEC_INVALID]",
                    v.reason.unwrap_or_default()
                )));
            };
            let owner = Owner {
                owner_project: project.unwrap_or_default(),
                owner_agent: agent.unwrap_or_default(),
                owner_wi: work_item.unwrap_or_default(),
                ..Default::default()
            };
            let out = runtime()?.block_on(svc.up(&value, &owner)).map_err(fail)?;
            if common.json {
                print_json(&out)?;
            } else {
                for o in &out {
                    match (&o.error, o.pid) {
                        (None, Some(pid)) => {
                            println!("{}: healthy (pid {pid}, log {})", o.name, o.log_path)
                        }
                        (e, _) => println!(
                            "{}: FAILED: {}",
                            o.name,
                            e.as_deref().unwrap_or("not healthy")
                        ),
                    }
                }
            }
            Ok(ExitCode::from(if out.iter().all(|o| o.healthy) {
                0
            } else {
                1
            }))
        }
        Verb::Ls { common, project } => {
            let svc = services(&common)?;
            let views = svc.list(project.as_deref()).map_err(fail)?;
            if common.json {
                print_json(&views)?;
            } else {
                print_table(&views);
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Restart { name, common } => {
            let svc = services(&common)?;
            let rt = runtime()?;
            let r = rt.block_on(svc.restart_and_wait(&name)).map_err(fail)?;
            let healthy = r.healthy;
            if common.json {
                print_json(&r)?;
            } else if healthy {
                println!("{name}: restarted, healthy (pid {})", r.pid.unwrap_or(0));
            } else {
                println!(
                    "{name}: restarted (pid {}), NOT healthy: {}",
                    r.pid.unwrap_or(0),
                    r.error.as_deref().unwrap_or("")
                );
            }
            Ok(ExitCode::from(if healthy { 0 } else { 1 }))
        }
        Verb::Sweep { common } => {
            let svc = services(&common)?;
            let s = runtime()?.block_on(svc.sweep()).map_err(fail)?;
            if common.json {
                print_json(&s)?;
            } else {
                println!(
                    "scanned {}, ttl-expired {}, dead dropped {}, killed {}, logs rotated {}, malformed {}",
                    s.scanned, s.ttl_expired, s.dead_dropped, s.killed_pids, s.rotated_logs, s.malformed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Down {
            name,
            project,
            common,
        } => {
            let svc = services(&common)?;
            let rt = runtime()?;
            match (name, project) {
                (Some(name), None) => {
                    let r = rt.block_on(svc.remove(&name)).map_err(fail)?;
                    if common.json {
                        print_json(&r)?;
                    } else if r.removed {
                        println!("{name}: down{}", if r.killed { " (killed)" } else { "" });
                    } else {
                        println!("{name}: still alive after the kill; the next sweep retries");
                    }
                    Ok(ExitCode::from(if r.removed { 0 } else { 1 }))
                }
                (None, Some(p)) => {
                    let r = rt.block_on(svc.remove_project(&p)).map_err(fail)?;
                    if common.json {
                        print_json(&r)?;
                    } else {
                        println!(
                            "project {p}: {} killed, {} log files removed",
                            r.killed, r.unlinked
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                _ => {
                    eprintln!("keel: error: `down` needs a NAME or --project P");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

fn print_table(views: &[ServiceView]) {
    if views.is_empty() {
        println!("no managed services");
        return;
    }
    println!(
        "{:<24} {:>8} {:<10} {:<16} {:<24}",
        "NAME", "PID", "HEALTH", "PROJECT", "TTL EXPIRES (UTC)"
    );
    for v in views {
        let ttl = v
            .ttl_expires_at
            .map(|t| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as f64)
                    .unwrap_or(0.0);
                format!("in {}m", ((t - now) / 60_000.0).ceil().max(0.0))
            })
            .unwrap_or_default();
        println!(
            "{:<24} {:>8} {:<10} {:<16} {:<24}",
            v.name,
            v.pid.map(|p| p.to_string()).unwrap_or_default(),
            v.health.as_str(),
            v.owner_project,
            ttl
        );
        if let Some(e) = &v.last_error {
            println!("  last error: {e}");
        }
    }
}
