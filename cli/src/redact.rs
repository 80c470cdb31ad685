//! `keel redact`: stream stdin to stdout with every secret masked.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use keel_core::redact::{secrets_file_entries, Redactor, SecretStatus};

use crate::Failure;

/// Options of `keel redact`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Secrets given with --secret are visible to other users in the process list; \
prefer --secrets-file.\n\nExample:\n  some-agent 2>&1 | keel redact --secrets-file ~/.agent/secrets.txt"
)]
pub struct Args {
    /// A known secret to mask (repeatable). Values shorter than --min-secret-len are ignored with a warning.
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// A file with one known secret per line. Spaces, tabs and carriage returns around each line and a
    /// UTF-8 byte order mark are dropped; empty lines are skipped; a line shorter than
    /// --min-secret-len is ignored with a warning naming its line number.
    #[arg(long = "secrets-file", value_name = "F")]
    secrets_files: Vec<PathBuf>,
    /// A JSON credential blob (e.g. Codex auth.json): the blob and every string leaf of 12+ characters are masked.
    #[arg(long = "json-secret", value_name = "F")]
    json_secrets: Vec<PathBuf>,
    /// Disable a built-in rule by name (repeatable; see --list-rules).
    #[arg(long = "no-rule", value_name = "NAME")]
    no_rules: Vec<String>,
    /// Add a rule: NAME=REGEX (repeatable).
    #[arg(long = "rule", value_name = "NAME=REGEX")]
    rules: Vec<String>,
    /// Text that replaces each secret.
    #[arg(long, default_value = keel_core::redact::DEFAULT_MASK)]
    mask: String,
    /// Minimum length of a known secret.
    #[arg(long = "min-secret-len", default_value_t = keel_core::redact::DEFAULT_MIN_SECRET_LEN)]
    min_secret_len: usize,
    /// Write held-back output after this many milliseconds without input (0: only at end of input).
    #[arg(long = "flush-ms", default_value_t = 200)]
    flush_ms: u64,
    /// List the rules and exit.
    #[arg(long = "list-rules")]
    list_rules: bool,
    /// With --list-rules: print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let mut builder = Redactor::builder()
        .mask(args.mask.clone())
        .min_secret_len(args.min_secret_len);
    for name in &args.no_rules {
        builder = builder.disable_rule(name.clone());
    }
    for rule in &args.rules {
        let (name, pattern) = rule
            .split_once('=')
            .ok_or_else(|| Failure(format!("--rule {rule:?}: expected NAME=REGEX")))?;
        builder = builder.custom_rule(name, pattern);
    }
    let redactor = builder.build()?;
    if args.list_rules {
        return list_rules(&redactor, args.json);
    }
    let min = args.min_secret_len;
    for (i, s) in args.secrets.iter().enumerate() {
        if redactor.add_secret_status(s) == SecretStatus::TooShort {
            warn(&format!(
                "--secret #{}: shorter than --min-secret-len ({min} bytes); not masked",
                i + 1
            ));
        }
    }
    for path in &args.secrets_files {
        let text = read_file(path)?;
        for (line_no, secret) in secrets_file_entries(&text) {
            if redactor.add_secret_status(secret) == SecretStatus::TooShort {
                warn(&format!(
                    "{} line {line_no}: secret shorter than --min-secret-len ({min} bytes); not masked",
                    path.display()
                ));
            }
        }
    }
    for path in &args.json_secrets {
        let text = read_file(path)?;
        redactor.add_json_secret(text.trim());
    }
    filter(&redactor, Duration::from_millis(args.flush_ms))?;
    Ok(ExitCode::SUCCESS)
}

/// A warning on stderr (never carries a secret value).
fn warn(msg: &str) {
    let _ = writeln!(io::stderr().lock(), "keel redact: warning: {msg}");
}

fn read_file(path: &PathBuf) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

fn list_rules(redactor: &Redactor, json: bool) -> Result<ExitCode, Failure> {
    let rules = redactor.rules();
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &rules)?;
        writeln!(out)?;
    } else {
        for r in rules {
            let state = if r.enabled { "" } else { " (disabled)" };
            writeln!(out, "{:<22} {}{state}", r.name, r.description)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Stream stdin → stdout in bounded memory. A reader thread feeds chunks over a
/// bounded channel; when no input arrives for `flush_after`, everything that
/// cannot be the start of a secret is written out (interactive output).
fn filter(redactor: &Redactor, flush_after: Duration) -> Result<(), Failure> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(buf)).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }
    });
    let mut stream = redactor.stream();
    let mut stdout = io::stdout().lock();
    let mut out = Vec::with_capacity(128 * 1024);
    loop {
        let next = if flush_after.is_zero() {
            rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(flush_after)
        };
        match next {
            Ok(Ok(chunk)) => stream.write(&chunk, &mut out),
            Ok(Err(e)) => return Err(Failure(format!("reading stdin: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                stream.flush(&mut out);
                if out.is_empty() {
                    continue;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                stream.finish(&mut out);
                write_out(&mut stdout, &out)?;
                return Ok(());
            }
        }
        write_out(&mut stdout, &out)?;
        out.clear();
    }
}

fn write_out(stdout: &mut impl Write, bytes: &[u8]) -> Result<(), Failure> {
    let res = stdout.write_all(bytes).and_then(|()| stdout.flush());
    match res {
        // The reader went away (`keel redact | head`): stop quietly, like other filters.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.map_err(|e| Failure(format!("writing stdout: {e}"))),
    }
}
