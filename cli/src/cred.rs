//! `keel cred`: the agent's enrollment credentials (OS keyring + `0600` file
//! mirror) from the shell: `status`, `write`, `read`, `clear`, `doctor`.
//!
//! Secrets never come from argv (other users can read the process list): `write`
//! reads the record (or a bare JWT) from stdin or `--from-file`. `read` prints the
//! JWT only with `--show-secret`.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use keel_core::credentials::{
    redact_url, CredentialError, EnrollmentRecord, EnrollmentStore, EnrollmentStoreOptions,
    KeyringChoice, Resolved, Secret, Severity,
};
use serde_json::{json, Value};

use crate::Failure;

/// The most input `write` accepts (a record is well under 16 KiB).
const MAX_INPUT: u64 = 1 << 20;

/// Options of `keel cred`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    keel cred write --from-file enrollment.json     # the record as JSON\n  \
    printf %s \"$JWT\" | keel cred write --agent-id a-1 --tenant-id t-1 --platform-url https://p.example\n  \
    keel cred status --expect-url https://p.example\n  \
    keel cred doctor --json")]
pub struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Subcommand, Debug)]
enum Verb {
    /// Is an agent enrolled? Where would its credentials come from, and when does the JWT expire? Exit 1 when not enrolled.
    Status(StatusArgs),
    /// Store an enrollment (keyring first, then the file mirror). The record JSON, or a bare JWT, comes from stdin or --from-file.
    Write(WriteArgs),
    /// Show the stored enrollment: fields, source and expiry; the JWT only with --show-secret.
    Read(ReadArgs),
    /// Remove the enrollment from the keyring and the mirror (idempotent).
    Clear(CommonArgs),
    /// Check keyring, mirror file, permissions, consistency and expiry; print each problem with a fix. Exit 1 on errors.
    Doctor(CommonArgs),
}

/// Which store, for every verb.
#[derive(clap::Args, Debug)]
struct CommonArgs {
    /// Application name: default keyring service and mirror directory ~/.<APP>/.
    #[arg(long = "app-name", value_name = "APP", default_value = keel_core::credentials::DEFAULT_APP_NAME)]
    app_name: String,
    /// Keyring service name (default: the app name).
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// Prefix of the five keyring keys.
    #[arg(long = "key-prefix", value_name = "P", default_value = keel_core::credentials::DEFAULT_KEY_PREFIX)]
    key_prefix: String,
    /// The mirror file (default ~/.<APP>/agent-enrollment.cred).
    #[arg(long = "mirror-path", value_name = "F")]
    mirror_path: Option<PathBuf>,
    /// Do not use the file mirror.
    #[arg(long = "no-mirror", conflicts_with = "mirror_path")]
    no_mirror: bool,
    /// The keyring backend (memory: nothing but the mirror outlives this command).
    #[arg(long, value_enum, default_value_t = Backend::Platform)]
    keyring: Backend,
    /// Timeout of each keyring call, in milliseconds.
    #[arg(long = "keyring-timeout-ms", value_name = "MS", default_value_t = keel_core::credentials::DEFAULT_KEYRING_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    keyring_timeout_ms: u64,
    /// How long to wait for the mirror's lock, in milliseconds.
    #[arg(long = "lock-timeout-ms", value_name = "MS", default_value_t = keel_core::credentials::DEFAULT_LOCK_TIMEOUT.as_millis() as u64)]
    lock_timeout_ms: u64,
    /// Print JSON (errors too, as {"error":{"code","message"}}).
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Backend {
    /// keyutils on Linux, the Keychain on macOS, Credential Manager on Windows.
    Platform,
    /// The Linux kernel keyring (user keyring; does not survive a reboot).
    Keyutils,
    /// freedesktop Secret Service (only in builds with that feature).
    SecretService,
    /// macOS Keychain.
    MacosKeychain,
    /// Windows Credential Manager.
    WindowsCredentialManager,
    /// In-process only.
    Memory,
}

#[derive(clap::Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Also check that the enrollment is for this platform URL (exit 1 on a mismatch).
    #[arg(long = "expect-url", value_name = "URL")]
    expect_url: Option<String>,
}

#[derive(clap::Args, Debug)]
struct WriteArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Read the input from this file instead of stdin.
    #[arg(long = "from-file", value_name = "F")]
    from_file: Option<PathBuf>,
    /// With a bare JWT as input: the agent id.
    #[arg(long = "agent-id", value_name = "ID")]
    agent_id: Option<String>,
    /// With a bare JWT as input: the tenant id.
    #[arg(long = "tenant-id", value_name = "ID")]
    tenant_id: Option<String>,
    /// With a bare JWT as input: the platform URL.
    #[arg(long = "platform-url", value_name = "URL")]
    platform_url: Option<String>,
    /// With a bare JWT as input: its expiry in seconds since the epoch (default: the JWT's exp claim).
    #[arg(long = "expires-at-unix", value_name = "S")]
    expires_at_unix: Option<i64>,
}

#[derive(clap::Args, Debug)]
struct ReadArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Print the whole record, JWT included.
    #[arg(long = "show-secret")]
    show_secret: bool,
    /// With --show-secret: print only the JWT (for a pipe).
    #[arg(long = "jwt-only", requires = "show_secret")]
    jwt_only: bool,
}

impl CommonArgs {
    fn store(&self) -> Result<EnrollmentStore, CredentialError> {
        let keyring = match self.keyring {
            Backend::Platform => KeyringChoice::Platform,
            Backend::Keyutils => KeyringChoice::Keyutils,
            Backend::SecretService => KeyringChoice::SecretService,
            Backend::MacosKeychain => KeyringChoice::MacosKeychain,
            Backend::WindowsCredentialManager => KeyringChoice::WindowsCredentialManager,
            Backend::Memory => KeyringChoice::Memory,
        };
        EnrollmentStore::from_options(EnrollmentStoreOptions {
            app_name: self.app_name.clone(),
            service_name: self.service.clone(),
            key_prefix: self.key_prefix.clone(),
            mirror: !self.no_mirror,
            mirror_path: self.mirror_path.clone(),
            keyring,
            keyring_timeout_ms: self.keyring_timeout_ms,
            lock_timeout_ms: self.lock_timeout_ms,
            ..EnrollmentStoreOptions::default()
        })
    }
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match args.verb {
        Verb::Status(a) => status(a),
        Verb::Write(a) => write(a),
        Verb::Read(a) => read(a),
        Verb::Clear(a) => clear(a),
        Verb::Doctor(a) => doctor(a),
    }
}

/// A credentials error: `{"error":{…}}` on stdout with `--json`, the message on
/// stderr always; exit 1.
fn failed(json: bool, e: &CredentialError) -> Result<ExitCode, Failure> {
    let message = keel_core::redact::redact_secrets(&e.to_string());
    if json {
        print_json(&json!({"error": {"code": e.code(), "message": message}}))?;
    }
    eprintln!("keel: error: {message} [{}]", e.code());
    Ok(ExitCode::from(1))
}

/// A usage error found after parsing: exit 2, like clap's own.
fn usage(message: &str) -> Result<ExitCode, Failure> {
    eprintln!("keel: usage error: {message}");
    Ok(ExitCode::from(2))
}

fn print_json(v: &Value) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

macro_rules! try_cred {
    ($json:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return failed($json, &e),
        }
    };
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "in 3d 4h" / "2h 5m ago" / "unknown".
fn relative(exp: i64) -> String {
    if exp == 0 {
        return "unknown (treated as expired)".into();
    }
    let delta = exp - now_unix();
    let abs = delta.unsigned_abs();
    let text = match abs {
        0..=59 => format!("{abs}s"),
        60..=3599 => format!("{}m {}s", abs / 60, abs % 60),
        3600..=86_399 => format!("{}h {}m", abs / 3600, abs % 3600 / 60),
        _ => format!("{}d {}h", abs / 86_400, abs % 86_400 / 3600),
    };
    if delta > 0 {
        format!("in {text}")
    } else {
        format!("expired {text} ago")
    }
}

/// The record without its secret: identifiers, source, expiry, notes.
fn summary(r: &Resolved<EnrollmentRecord>) -> Value {
    let rec = &r.value;
    let exp = rec.jwt_expires_at_unix;
    json!({
        "enrolled": true,
        "source": r.source.as_str(),
        "agentId": rec.agent_id,
        "tenantId": rec.tenant_id,
        "platformUrl": redact_url(&rec.platform_url),
        "jwtPresent": !rec.jwt.is_empty(),
        "jwtLength": rec.jwt.len(),
        "jwtExpiresAtUnix": exp,
        "expired": exp <= now_unix(),
        "notes": r.notes,
    })
}

fn print_summary(r: &Resolved<EnrollmentRecord>) -> Result<(), Failure> {
    let rec = &r.value;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "enrolled      yes (from the {})",
        match r.source.as_str() {
            "keyring" => "keyring",
            _ => "file mirror",
        }
    )?;
    writeln!(out, "agentId       {}", rec.agent_id)?;
    writeln!(out, "tenantId      {}", rec.tenant_id)?;
    writeln!(out, "platformUrl   {}", redact_url(&rec.platform_url))?;
    writeln!(
        out,
        "jwt           present ({} bytes; --show-secret prints it)",
        rec.jwt.len()
    )?;
    writeln!(
        out,
        "expires       {} ({})",
        rec.jwt_expires_at_unix,
        relative(rec.jwt_expires_at_unix)
    )?;
    for n in &r.notes {
        writeln!(out, "note          {n}")?;
    }
    Ok(())
}

fn status(a: StatusArgs) -> Result<ExitCode, Failure> {
    let json = a.common.json;
    let store = try_cred!(json, a.common.store());
    let resolved = match store.read_all() {
        Ok(r) => r,
        Err(e @ CredentialError::NotEnrolled { .. }) => {
            let message = keel_core::redact::redact_secrets(&e.to_string());
            if json {
                print_json(&json!({"enrolled": false, "code": e.code(), "message": message}))?;
            } else {
                println!("enrolled      no");
                println!("why           {message}");
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => return failed(json, &e),
    };
    register(&resolved.value.jwt);
    if let Some(url) = &a.expect_url {
        try_cred!(json, store.assert_platform_url_matches(url));
    }
    if json {
        let mut v = summary(&resolved);
        if a.expect_url.is_some() {
            v["platformUrlMatches"] = Value::Bool(true);
        }
        print_json(&v)?;
    } else {
        print_summary(&resolved)?;
        if a.expect_url.is_some() {
            println!("platform      matches");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Make sure the JWT is masked in anything this process prints by mistake.
fn register(jwt: &Secret) {
    keel_core::redact::register_known_secrets([jwt.expose()]);
}

fn read_input(from_file: &Option<PathBuf>) -> Result<Secret, Failure> {
    let mut buf = Vec::new();
    let what = match from_file {
        Some(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| Failure(format!("cannot read {}: {e}", p.display())))?;
            f.take(MAX_INPUT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Failure(format!("cannot read {}: {e}", p.display())))?;
            p.display().to_string()
        }
        None => {
            io::stdin()
                .lock()
                .take(MAX_INPUT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Failure(format!("cannot read stdin: {e}")))?;
            "stdin".to_owned()
        }
    };
    if buf.len() as u64 > MAX_INPUT {
        return Err(Failure(format!(
            "{what} holds more than {MAX_INPUT} bytes; expected one enrollment record"
        )));
    }
    let text = String::from_utf8(buf).map_err(|e| {
        Failure(format!(
            "{what} is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let secret = Secret::new(text.trim());
    if secret.is_empty() {
        return Err(Failure(format!(
            "{what} is empty: pipe the enrollment record JSON (or a bare JWT) into `keel cred write`, or use --from-file"
        )));
    }
    Ok(secret)
}

fn write(a: WriteArgs) -> Result<ExitCode, Failure> {
    let json = a.common.json;
    let input = read_input(&a.from_file)?;
    let flags = a.agent_id.is_some()
        || a.tenant_id.is_some()
        || a.platform_url.is_some()
        || a.expires_at_unix.is_some();
    let record = if input.expose().starts_with('{') {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(input.expose()) {
            if let Some(Value::String(j)) = m.get("jwt") {
                keel_core::redact::register_known_secrets([j.as_str()]);
            }
        }
        if flags {
            return usage(
                "--agent-id, --tenant-id, --platform-url and --expires-at-unix go with a bare JWT \
                 as input, not with a JSON record",
            );
        }
        try_cred!(json, EnrollmentRecord::from_json(input.expose()))
    } else {
        register(&input);
        let (Some(agent_id), Some(tenant_id), Some(platform_url)) =
            (a.agent_id, a.tenant_id, a.platform_url)
        else {
            return usage(
                "the input is not a JSON record, so it is taken as a bare JWT: give --agent-id, \
                 --tenant-id and --platform-url too",
            );
        };
        match EnrollmentRecord::from_jwt(
            input,
            agent_id,
            tenant_id,
            platform_url,
            a.expires_at_unix,
        ) {
            Ok(r) => r,
            Err(CredentialError::InvalidInput { field, .. }) if field == "jwtExpiresAtUnix" => {
                return usage("the JWT has no exp claim: give --expires-at-unix")
            }
            Err(e @ CredentialError::InvalidJwt { .. }) => {
                return usage(&format!(
                    "{e}; give --expires-at-unix to store it with an explicit expiry"
                ))
            }
            Err(e) => return failed(json, &e),
        }
    };
    let store = try_cred!(json, a.common.store());
    let report = try_cred!(json, store.write(&record));
    if json {
        print_json(&serde_json::to_value(&report)?)?;
    } else {
        println!(
            "stored in {} ({} keys){}",
            report.keyring_backend,
            report.keyring_keys_written.len(),
            match (&report.mirror_path, report.mirror_written) {
                (Some(p), true) => format!(" and mirrored to {}", p.display()),
                (Some(_), false) => " (the mirror was NOT written)".to_owned(),
                (None, _) => " (no mirror)".to_owned(),
            }
        );
    }
    for w in &report.warnings {
        eprintln!("keel: warning: {}", w.message);
        if let Some(fix) = &w.fix {
            eprintln!("keel:   fix: {fix}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read(a: ReadArgs) -> Result<ExitCode, Failure> {
    let json = a.common.json;
    let store = try_cred!(json, a.common.store());
    let resolved = try_cred!(json, store.read_all());
    if !a.show_secret {
        register(&resolved.value.jwt);
        if json {
            print_json(&summary(&resolved))?;
        } else {
            print_summary(&resolved)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = io::stdout().lock();
    if a.jwt_only {
        writeln!(out, "{}", resolved.value.jwt.expose())?;
    } else {
        let v = resolved.to_flat_json();
        if json {
            serde_json::to_writer_pretty(&mut out, &v)?;
        } else {
            serde_json::to_writer(&mut out, &v)?;
        }
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn clear(a: CommonArgs) -> Result<ExitCode, Failure> {
    let json = a.json;
    let store = try_cred!(json, a.store());
    let report = try_cred!(json, store.clear());
    if json {
        print_json(&serde_json::to_value(&report)?)?;
    } else if report.removed_anything() {
        println!(
            "removed {} keyring key(s){}{}",
            report.keyring_keys_removed.len(),
            if report.mirror_removed {
                " and the mirror file"
            } else {
                ""
            },
            if report.temp_files_removed.is_empty() {
                String::new()
            } else {
                format!(" and {} temp file(s)", report.temp_files_removed.len())
            }
        );
    } else {
        println!("nothing to remove: no enrollment was stored");
    }
    for p in &report.problems {
        eprintln!("keel: error: {}", p.message);
    }
    Ok(if report.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn doctor(a: CommonArgs) -> Result<ExitCode, Failure> {
    let json = a.json;
    let store = try_cred!(json, a.store());
    let d = store.diagnose();
    if json {
        print_json(&serde_json::to_value(&d)?)?;
    } else {
        let mut out = io::stdout().lock();
        let k = &d.keyring;
        let present = k.fields.iter().filter(|f| f.present == Some(true)).count();
        if k.answered {
            writeln!(
                out,
                "keyring   {} (service {}): {present} of 5 entries",
                k.backend, k.service
            )?;
        } else {
            writeln!(
                out,
                "keyring   {} (service {}): did not answer ({})",
                k.backend,
                k.service,
                k.error.as_deref().unwrap_or("unknown error")
            )?;
        }
        let m = &d.mirror;
        match (&m.path, m.enabled) {
            (Some(p), true) if m.exists => writeln!(
                out,
                "mirror    {} (mode {}, {})",
                p.display(),
                m.mode.as_deref().unwrap_or("?"),
                if m.valid { "valid" } else { "unusable" }
            )?,
            (Some(p), true) => writeln!(out, "mirror    {} (does not exist)", p.display())?,
            _ => writeln!(out, "mirror    off")?,
        }
        match d.resolved_from {
            Some(s) => writeln!(
                out,
                "reads     resolve from the {}",
                match s.as_str() {
                    "keyring" => "keyring",
                    _ => "file mirror",
                }
            )?,
            None => writeln!(out, "reads     fail: not enrolled")?,
        }
        if let Some(j) = &d.jwt {
            writeln!(
                out,
                "jwt       expires {} ({})",
                j.expires_at_unix,
                relative(j.expires_at_unix)
            )?;
        }
        if d.problems.is_empty() {
            writeln!(out, "no problems found")?;
        }
        for p in &d.problems {
            let sev = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            writeln!(out, "{sev:<9} [{}] {}", p.code, p.message)?;
            if let Some(fix) = &p.fix {
                writeln!(out, "          fix: {fix}")?;
            }
        }
    }
    Ok(if d.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
