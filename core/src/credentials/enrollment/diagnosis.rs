//! [`EnrollmentStore::diagnose`]: a structured health report for a doctor command.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credentials::jwt::{self, unix_millis, unix_seconds};
use crate::credentials::mirror::{CredentialFileStore, MirrorRead};
use crate::credentials::store::SecretStore;
use crate::credentials::{CredentialError, Secret};
use crate::fsx::{self, FileKind, FsxError, LockMode};

use super::*;

/// Severity of a [`Problem`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Something is broken.
    Error,
    /// Something will break, or works only by fallback.
    Warning,
    /// Worth knowing.
    Info,
}

/// A problem found by [`EnrollmentStore::diagnose`], or a warning of
/// [`EnrollmentStore::write`] / [`EnrollmentStore::clear`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// How bad.
    pub severity: Severity,
    /// A stable camelCase code, for example `"mirrorTooOpen"`, or a `KEEL_*` error
    /// code for errors reported as warnings.
    pub code: String,
    /// What is wrong (no secret values).
    pub message: String,
    /// A one-line fix, when there is one.
    pub fix: Option<String>,
}

impl Problem {
    pub(super) fn new(
        severity: Severity,
        code: &str,
        message: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Problem {
            severity,
            code: code.to_owned(),
            message: message.into(),
            fix,
        }
    }
}

pub(super) fn fix_for(e: &CredentialError) -> Option<String> {
    match e {
        CredentialError::InsecureFile { fix, .. } => Some(fix.clone()),
        CredentialError::LockTimeout { .. } => {
            Some("wait for the other writer to finish, then retry".into())
        }
        CredentialError::KeyringTimeout { .. } => Some(
            "unlock the keyring or check that its service is running; reads fall back to the \
             file mirror meanwhile"
                .into(),
        ),
        CredentialError::KeyringUnavailable { .. } => {
            Some("keep the file mirror on, or choose a keyring backend that exists here".into())
        }
        _ => None,
    }
}

/// Whether a store holds a field (never its value). `present` is `None` when the
/// store could not be asked.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldPresence {
    /// The record field (`jwt`, `jwtExpiresAtUnix`, `agentId`, `tenantId`,
    /// `platformUrl`).
    pub field: String,
    /// The keyring key, for keyring fields.
    pub key: Option<String>,
    /// Whether the store holds a non-empty value.
    pub present: Option<bool>,
}

/// The keyring part of a [`Diagnosis`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyringDiagnosis {
    /// The backend name.
    pub backend: String,
    /// The keyring service name.
    pub service: String,
    /// Whether every call answered (with a value or "absent").
    pub answered: bool,
    /// The error code when it did not.
    pub error_code: Option<String>,
    /// The error message when it did not.
    pub error: Option<String>,
    /// Which fields it holds.
    pub fields: Vec<FieldPresence>,
}

/// The mirror part of a [`Diagnosis`].
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorDiagnosis {
    /// Whether the mirror is on.
    pub enabled: bool,
    /// Its path.
    pub path: Option<PathBuf>,
    /// Whether something exists at the path.
    pub exists: bool,
    /// What is at the path (`file`, `directory`, `symlink`, `special file`).
    pub kind: Option<String>,
    /// Its permission bits in octal, for example `"0600"`.
    pub mode: Option<String>,
    /// Its owner uid.
    pub owner_uid: Option<u32>,
    /// Whether the current user owns it.
    pub owned_by_current_user: Option<bool>,
    /// Its directory.
    pub dir_path: Option<PathBuf>,
    /// The directory's permission bits in octal.
    pub dir_mode: Option<String>,
    /// Whether the file holds a usable record.
    pub valid: bool,
    /// Why not.
    pub invalid_reason: Option<String>,
    /// Tolerated oddities of a usable record.
    pub notes: Vec<String>,
    /// Which fields the file holds.
    pub fields: Vec<FieldPresence>,
    /// Leftover temp files of the mirror.
    pub temp_files: Vec<PathBuf>,
}

/// The JWT part of a [`Diagnosis`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtDiagnosis {
    /// Where the record came from.
    pub source: CredentialSource,
    /// The stored expiry, seconds since the epoch (0 = unknown).
    pub expires_at_unix: i64,
    /// The same in milliseconds.
    pub expires_at_ms: i64,
    /// Milliseconds until expiry (negative once expired).
    pub time_left_ms: i64,
    /// Whether it has expired (an unknown expiry counts as expired, as in the
    /// reference).
    pub expired: bool,
    /// The token's own `exp` claim, when it decodes.
    pub exp_claim_unix: Option<i64>,
    /// Why the token's payload did not decode.
    pub decode_error: Option<String>,
}

/// The structured report of [`EnrollmentStore::diagnose`], for a doctor command.
/// It never contains a secret value.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// When the check ran, milliseconds since the epoch.
    pub checked_at_ms: i64,
    /// The keyring.
    pub keyring: KeyringDiagnosis,
    /// The file mirror.
    pub mirror: MirrorDiagnosis,
    /// Where a read would resolve from now (`None` when it would fail).
    pub resolved_from: Option<CredentialSource>,
    /// Whether keyring and mirror hold the same record (`None` unless both hold a
    /// complete one).
    pub in_sync: Option<bool>,
    /// The JWT's expiry.
    pub jwt: Option<JwtDiagnosis>,
    /// Every problem found, each with a one-line fix where there is one.
    pub problems: Vec<Problem>,
}

impl Diagnosis {
    /// Whether any problem has [`Severity::Error`].
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

impl EnrollmentStore {
    /// A structured health report for a doctor command; see [`Diagnosis`]. Never
    /// fails: what cannot be checked is reported as a problem.
    pub fn diagnose(&self) -> Diagnosis {
        self.diagnose_at(SystemTime::now())
    }

    /// [`diagnose`](Self::diagnose) at a given time (for tests and injected clocks).
    pub fn diagnose_at(&self, now: SystemTime) -> Diagnosis {
        let mut problems = Vec::new();
        let _lock = match self.lock(LockMode::Shared) {
            Ok(l) => l,
            Err(e) => {
                problems.push(Problem::new(
                    Severity::Warning,
                    e.code(),
                    format!("checked without the lock: {e}"),
                    fix_for(&e),
                ));
                None
            }
        };

        // Keyring: presence of every field.
        let mut keyring = KeyringDiagnosis {
            backend: self.store.backend_name().to_owned(),
            service: self.service.clone(),
            answered: true,
            error_code: None,
            error: None,
            fields: Vec::new(),
        };
        let mut keyring_values: Vec<Option<Secret>> = Vec::new();
        for (field, key) in self.keys.all() {
            let present = if keyring.answered {
                match self.store.get(key) {
                    Ok(v) => {
                        let v = v.filter(|s| !s.is_empty());
                        let p = v.is_some();
                        keyring_values.push(v);
                        Some(p)
                    }
                    Err(e) => {
                        keyring.answered = false;
                        keyring.error_code = Some(e.code().to_owned());
                        keyring.error = Some(e.to_string());
                        let code = match &e {
                            CredentialError::KeyringTimeout { .. } => "keyringTimeout",
                            CredentialError::KeyringUnavailable { .. } => "keyringUnavailable",
                            _ => "keyringError",
                        };
                        problems.push(Problem::new(
                            Severity::Error,
                            code,
                            format!("the keyring did not answer: {e}"),
                            fix_for(&e),
                        ));
                        None
                    }
                }
            } else {
                None
            };
            keyring.fields.push(FieldPresence {
                field: field.to_owned(),
                key: Some(key.to_owned()),
                present,
            });
        }
        let keyring_record = if keyring.answered && keyring_values.iter().all(Option::is_some) {
            let mut it = keyring_values.into_iter().map(Option::unwrap_or_default);
            let mut next = || it.next().unwrap_or_default();
            let jwt = next();
            let (exp, _) = parse_exp(&self.keys.jwt_exp, next().expose());
            Some(EnrollmentRecord {
                jwt,
                jwt_expires_at_unix: exp,
                agent_id: next().expose().to_owned(),
                tenant_id: next().expose().to_owned(),
                platform_url: next().expose().to_owned(),
            })
        } else {
            None
        };
        let keyring_count = keyring
            .fields
            .iter()
            .filter(|f| f.present == Some(true))
            .count();

        // Mirror.
        let (mirror, mirror_record) = self.diagnose_mirror(&mut problems);

        // Resolution and consistency.
        let resolved = match (&keyring_record, &mirror_record) {
            (Some(r), _) => Some((CredentialSource::Keyring, r.clone())),
            (None, Some(r)) => Some((CredentialSource::FileMirror, r.clone())),
            _ => None,
        };
        if keyring.answered && keyring_record.is_none() {
            if keyring_count > 0 {
                problems.push(Problem::new(
                    if mirror_record.is_some() {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    "keyringIncomplete",
                    format!(
                        "the keyring holds {keyring_count} of the 5 enrollment entries; reads \
                         use the file mirror"
                    ),
                    Some("enroll again to rewrite every entry".into()),
                ));
            } else if mirror_record.is_some() {
                problems.push(Problem::new(
                    Severity::Info,
                    "keyringEmpty",
                    "the keyring holds no enrollment here; reads use the file mirror (expected \
                     for a daemon in another session, or after a reboot with the Linux kernel \
                     keyring)",
                    None,
                ));
            }
        }
        if resolved.is_none() {
            problems.push(Problem::new(
                Severity::Error,
                "notEnrolled",
                "neither the keyring nor the file mirror holds a complete enrollment",
                Some("enroll the agent".into()),
            ));
        }
        if self.mirror.is_some() && keyring_record.is_some() && !mirror.exists {
            problems.push(Problem::new(
                Severity::Warning,
                "mirrorMissing",
                "the keyring holds the enrollment but the file mirror does not exist; a \
                 background daemon that cannot read this keyring will find no credentials",
                Some("enroll again (writing the enrollment rewrites the mirror)".into()),
            ));
        }
        let in_sync = match (&keyring_record, &mirror_record) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        if in_sync == Some(false) {
            problems.push(Problem::new(
                Severity::Warning,
                "outOfSync",
                "the keyring and the file mirror hold different enrollments; processes that \
                 read different stores will use different credentials",
                Some("enroll again so both hold the same record".into()),
            ));
        }

        // JWT expiry.
        let jwt = resolved.as_ref().map(|(source, record)| {
            let now_s = unix_seconds(now);
            let exp = record.jwt_expires_at_unix;
            let expires_at_ms = exp.saturating_mul(1000);
            let time_left_ms = expires_at_ms.saturating_sub(unix_millis(now));
            let expired = exp <= now_s;
            let (exp_claim_unix, decode_error) = match jwt::exp(record.jwt.expose()) {
                Ok(c) => (c, None),
                Err(e) => (None, Some(e.to_string())),
            };
            if exp == 0 {
                problems.push(Problem::new(
                    Severity::Warning,
                    "expiryUnknown",
                    "the stored JWT expiry is 0 (unknown); it is treated as expired",
                    Some("enroll again to store the expiry".into()),
                ));
            } else if expired {
                problems.push(Problem::new(
                    Severity::Error,
                    "jwtExpired",
                    format!("the JWT expired {} s ago", now_s.saturating_sub(exp)),
                    Some("refresh the token or enroll again".into()),
                ));
            } else if jwt::exp_within(exp, Duration::from_secs(24 * 3600), now) {
                problems.push(Problem::new(
                    Severity::Warning,
                    "jwtExpiringSoon",
                    format!("the JWT expires in {} s", exp.saturating_sub(now_s)),
                    Some("refresh the token before it expires".into()),
                ));
            }
            if let Some(claim) = exp_claim_unix {
                if exp != 0 && claim != exp {
                    problems.push(Problem::new(
                        Severity::Info,
                        "expiryDiffersFromClaim",
                        format!(
                            "the stored expiry ({exp}) differs from the token's exp claim ({claim})"
                        ),
                        None,
                    ));
                }
            }
            JwtDiagnosis {
                source: *source,
                expires_at_unix: exp,
                expires_at_ms,
                time_left_ms,
                expired,
                exp_claim_unix,
                decode_error,
            }
        });

        Diagnosis {
            checked_at_ms: unix_millis(now),
            keyring,
            mirror,
            resolved_from: resolved.map(|(s, _)| s),
            in_sync,
            jwt,
            problems,
        }
    }

    fn diagnose_mirror(
        &self,
        problems: &mut Vec<Problem>,
    ) -> (MirrorDiagnosis, Option<EnrollmentRecord>) {
        let Some(m) = &self.mirror else {
            problems.push(Problem::new(
                Severity::Info,
                "mirrorDisabled",
                "the file mirror is turned off: only processes that can read this keyring will \
                 find the credentials",
                None,
            ));
            return (MirrorDiagnosis::default(), None);
        };
        let path = m.path();
        let quoted = crate::fsx::shell_quote(path);
        let mut d = MirrorDiagnosis {
            enabled: true,
            path: Some(path.to_path_buf()),
            dir_path: path.parent().map(|p| p.to_path_buf()),
            ..MirrorDiagnosis::default()
        };
        if let Some(dir) = path.parent() {
            if let Ok(Some(facts)) = fsx::inspect(dir) {
                d.dir_mode = Some(format!("{:04o}", facts.mode));
                if cfg!(unix) && facts.kind == FileKind::Directory && facts.mode & 0o077 != 0 {
                    let (severity, code) = if facts.mode & 0o022 != 0 && facts.mode & 0o1000 == 0 {
                        (Severity::Error, "mirrorDirWritableByOthers")
                    } else {
                        (Severity::Warning, "mirrorDirTooOpen")
                    };
                    problems.push(Problem::new(
                        severity,
                        code,
                        format!(
                            "the mirror's directory {} has mode {:04o}; it should be 0700",
                            dir.display(),
                            facts.mode
                        ),
                        Some(format!("chmod 700 {}", crate::fsx::shell_quote(dir))),
                    ));
                }
            }
        }
        d.temp_files = fsx::temp_files_of(path)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        if !d.temp_files.is_empty() {
            problems.push(Problem::new(
                Severity::Warning,
                "staleTempFiles",
                format!(
                    "{} leftover temp file(s) of the mirror (from an interrupted write) may hold \
                     credentials",
                    d.temp_files.len()
                ),
                Some(
                    "they are removed by the next read or write of the mirror, or by clearing \
                     the enrollment"
                        .into(),
                ),
            ));
        }
        match fsx::inspect(path) {
            Ok(None) => {}
            Ok(Some(facts)) => {
                d.exists = true;
                d.kind = Some(facts.kind.as_str().to_owned());
                d.mode = Some(format!("{:04o}", facts.mode));
                d.owner_uid = Some(facts.uid);
                d.owned_by_current_user = Some(facts.owned_by_current_user);
            }
            Err(e) => {
                d.invalid_reason = Some(e.to_string());
            }
        }
        if !d.exists {
            return (d, None);
        }
        match fsx::read_private(path, fsx::DEFAULT_MAX_SECRET_FILE_LEN) {
            Ok(None) => (d, None),
            Ok(Some(bytes)) => {
                d.fields = mirror_fields(&bytes);
                match CredentialFileStore::parse(&bytes) {
                    MirrorRead::Valid { record, notes } => {
                        d.valid = true;
                        for n in &notes {
                            problems.push(Problem::new(
                                Severity::Info,
                                "mirrorNote",
                                n.clone(),
                                None,
                            ));
                        }
                        d.notes = notes;
                        (d, Some(record))
                    }
                    MirrorRead::Invalid { reason } => {
                        problems.push(Problem::new(
                            Severity::Error,
                            "mirrorInvalid",
                            format!("the mirror file is unusable: {reason}"),
                            Some(format!("rm {quoted}, then enroll again")),
                        ));
                        d.invalid_reason = Some(reason);
                        (d, None)
                    }
                    MirrorRead::Absent => (d, None),
                }
            }
            Err(e) => {
                let e = CredentialError::from(e);
                let code = match &e {
                    CredentialError::InsecureFile { kind, .. } => match kind {
                        fsx::InsecureKind::TooOpen { .. } => "mirrorTooOpen",
                        fsx::InsecureKind::WrongOwner { .. } => "mirrorWrongOwner",
                        fsx::InsecureKind::Symlink => "mirrorIsSymlink",
                        fsx::InsecureKind::NotRegularFile { .. } => "mirrorNotAFile",
                        _ => "mirrorInsecure",
                    },
                    CredentialError::File(FsxError::TooLarge { .. }) => "mirrorInvalid",
                    _ => "mirrorUnreadable",
                };
                problems.push(Problem::new(
                    Severity::Error,
                    code,
                    e.to_string(),
                    fix_for(&e).or_else(|| Some(format!("rm {quoted}, then enroll again"))),
                ));
                d.invalid_reason = Some(e.to_string());
                (d, None)
            }
        }
    }
}

/// Which record fields a mirror file holds (non-empty strings; a number for the
/// expiry).
fn mirror_fields(bytes: &[u8]) -> Vec<FieldPresence> {
    let map = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    [
        "jwt",
        "jwtExpiresAtUnix",
        "agentId",
        "tenantId",
        "platformUrl",
    ]
    .into_iter()
    .map(|field| {
        let present = map.as_ref().map(|m| match m.get(field) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Number(_)) => field == "jwtExpiresAtUnix",
            _ => false,
        });
        FieldPresence {
            field: field.to_owned(),
            key: None,
            present,
        }
    })
    .collect()
}
