//! `keel service`: print a launchd plist or a systemd unit for the supervisor, and read
//! the service's health from the platform's service manager.

use std::process::ExitCode;
use std::time::Duration;

use keel_core::supervisor::service::{
    doctor_check, generate_launchd_plist, generate_systemd_unit, parse_launchctl_print,
    parse_systemctl_show, read_service_health_blocking, verify_started_blocking, CheckStatus,
    LaunchdPlistOptions, ServiceHealth, ServiceMode, ServiceTarget, SystemdUnitOptions,
};
use keel_core::supervisor::SupervisorError;

use crate::run::parse_duration;
use crate::Failure;

/// `keel service <verb>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Subcommand, Debug)]
enum Verb {
    /// Print a launchd plist (KeepAlive, RunAtLoad, ThrottleInterval, PATH with Homebrew, log paths).
    #[command(
        after_help = "Example:\n  keel service plist --label dev.acme.runner -- /usr/local/bin/keel supervise actions-runner --runner-dir /opt/runner --url https://github.com/acme/app --token-command fetch-token"
    )]
    Plist {
        /// The job label.
        #[arg(long, default_value = "dev.keel.supervisor")]
        label: String,
        /// A system LaunchDaemon (HOME and UserName set) instead of a user LaunchAgent.
        #[arg(long)]
        system: bool,
        /// System mode: the user it runs as.
        #[arg(long, value_name = "USER")]
        user_name: Option<String>,
        /// Directory of the stdout/stderr logs.
        #[arg(long, value_name = "DIR")]
        log_dir: Option<String>,
        /// Minimum time between respawns.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
        throttle: Duration,
        /// The program (absolute path) and its arguments (after `--`).
        #[arg(required = true, num_args = 1.., last = true, value_name = "PROGRAM")]
        program: Vec<String>,
    },
    /// Print a systemd unit (Type=notify + WatchdogSec, Restart=always, KillMode=control-group).
    #[command(
        after_help = "Example:\n  keel service unit --watchdog 60s -- /usr/local/bin/keel supervise command -- /opt/worker/run"
    )]
    Unit {
        /// Description=.
        #[arg(long, default_value = "keel supervisor")]
        description: String,
        /// A system unit (WantedBy=multi-user.target) instead of a user unit.
        #[arg(long)]
        system: bool,
        /// User= (system units).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// WatchdogSec= (0: none).
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
        watchdog: Duration,
        /// RestartSec=.
        #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
        restart_sec: Duration,
        /// TimeoutStopSec=.
        #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
        timeout_stop: Duration,
        /// The program (absolute path) and its arguments (after `--`).
        #[arg(required = true, num_args = 1.., last = true, value_name = "PROGRAM")]
        program: Vec<String>,
    },
    /// Read the service's health (launchctl print / systemctl show) and judge it like doctor.
    #[command(
        after_help = "Exit status: 0 pass or warn, 1 fail.\n\nWith --after, keel first waits that long (what an installer runs right after loading the\nservice): a service that is not loaded, crashed (non-zero last exit code) or failed is\nthen reported loudly on stderr with KEEL_SERVICE_NOT_STARTED, instead of the install\nlooking like a success while the daemon crash-loops.\n\nExample:\n  keel service status --unit keel-supervisor.service --json\n  launchctl print gui/501/dev.keel.supervisor | keel service status --launchctl-output -\n  launchctl load ~/Library/LaunchAgents/dev.keel.supervisor.plist && keel service status --after 3s"
    )]
    Status {
        /// launchd label (macOS).
        #[arg(long, default_value = "dev.keel.supervisor")]
        label: String,
        /// systemd unit (Linux).
        #[arg(long, default_value = "keel-supervisor.service")]
        unit: String,
        /// The system service instead of the user's.
        #[arg(long)]
        system: bool,
        /// Parse this `launchctl print` capture instead of asking launchd (- for stdin).
        #[arg(long, value_name = "FILE", conflicts_with = "systemctl_output")]
        launchctl_output: Option<String>,
        /// Parse this `systemctl show` capture instead of asking systemd (- for stdin).
        #[arg(long, value_name = "FILE")]
        systemctl_output: Option<String>,
        /// Print JSON ({"health":…,"check":…}).
        #[arg(long)]
        json: bool,
        /// Wait this long first, then fail loudly if the service did not start (after an install).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        after: Option<Duration>,
    },
}

fn coded(e: keel_core::supervisor::SupervisorError) -> Failure {
    Failure::from(format!("{e} [{}]", e.code()))
}

/// A capture file's text; a read error names the file (a service-manager failure: the
/// capture stands in for the manager's answer).
fn read_capture(path: &str) -> Result<String, SupervisorError> {
    let r = if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(path)
    };
    r.map_err(|e| SupervisorError::ServiceManager(format!("reading capture {path}: {e}")))
}

fn mode(system: bool) -> ServiceMode {
    if system {
        ServiceMode::System
    } else {
        ServiceMode::User
    }
}

/// Run `keel service`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match args.verb {
        Verb::Plist {
            label,
            system,
            user_name,
            log_dir,
            throttle,
            program,
        } => {
            let mut o = LaunchdPlistOptions::new(program);
            o.label = label;
            o.mode = mode(system);
            o.user_name = user_name;
            o.log_dir = log_dir;
            o.throttle_interval_ms = throttle.as_millis() as u64;
            print!("{}", generate_launchd_plist(&o).map_err(coded)?);
            Ok(ExitCode::SUCCESS)
        }
        Verb::Unit {
            description,
            system,
            user,
            watchdog,
            restart_sec,
            timeout_stop,
            program,
        } => {
            let mut o = SystemdUnitOptions::new(program);
            o.description = description;
            o.mode = mode(system);
            o.user = user;
            o.watchdog_ms = Some(watchdog.as_millis() as u64).filter(|w| *w > 0);
            o.restart_sec_ms = restart_sec.as_millis() as u64;
            o.timeout_stop_ms = timeout_stop.as_millis() as u64;
            print!("{}", generate_systemd_unit(&o).map_err(coded)?);
            Ok(ExitCode::SUCCESS)
        }
        Verb::Status {
            label,
            unit,
            system,
            launchctl_output,
            systemctl_output,
            json,
            after,
        } => {
            let read = move || -> Result<ServiceHealth, SupervisorError> {
                Ok(if let Some(p) = launchctl_output {
                    parse_launchctl_print(&read_capture(&p)?)
                } else if let Some(p) = systemctl_output {
                    parse_systemctl_show(&read_capture(&p)?)
                } else {
                    let target = if cfg!(target_os = "macos") {
                        ServiceTarget::Launchd {
                            label,
                            mode: mode(system),
                        }
                    } else {
                        ServiceTarget::Systemd {
                            unit,
                            mode: mode(system),
                        }
                    };
                    read_service_health_blocking(&target)?
                })
            };
            let (health, not_started) = match after {
                None => (read().map_err(coded)?, None),
                Some(delay) => {
                    // verify_started reads once; keep what it read to print it too
                    let mut seen = None;
                    let r = verify_started_blocking(delay, || {
                        let h = read()?;
                        seen = Some(h.clone());
                        Ok(h)
                    });
                    match (r, seen) {
                        (Ok(h), _) => (h, None),
                        (Err(e @ SupervisorError::ServiceNotStarted(_)), Some(h)) => (h, Some(e)),
                        (Err(e), _) => return Err(coded(e)),
                    }
                }
            };
            let check = doctor_check(&health);
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "health": health, "check": check })
                );
            } else {
                let word = match check.status {
                    CheckStatus::Pass => "pass",
                    CheckStatus::Warn => "warn",
                    CheckStatus::Fail => "FAIL",
                };
                println!("{word}: {}: {}", check.name, check.message);
                if let Some(fix) = &check.fix {
                    println!("  fix: {fix}");
                }
            }
            if let Some(e) = not_started {
                // Loud: the installer's own output must not read as a success.
                return Err(coded(e));
            }
            Ok(if check.status == CheckStatus::Fail {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
