//! The enrollment record and the answers built from it: [`EnrollmentRecord`],
//! [`JwtInfo`], [`Resolved`] (an answer and where it came from) and the keyring key names.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credentials::jwt::{self};
use crate::credentials::{CredentialError, Secret};

/// The default key prefix, as in the reference: `agent-enrollment.jwt`, ….
pub const DEFAULT_KEY_PREFIX: &str = "agent-enrollment.";

/// An agent's enrollment: the reference's `AgentEnrollmentCredentials`. Serialised
/// with the reference's camelCase names (`jwt`, `jwtExpiresAtUnix`, `agentId`,
/// `tenantId`, `platformUrl`), which is also the mirror file's format. `Debug` prints
/// the JWT as `***`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRecord {
    /// The agent's JWT.
    pub jwt: Secret,
    /// The JWT's expiry, seconds since the epoch (0 = unknown).
    pub jwt_expires_at_unix: i64,
    /// The agent id.
    pub agent_id: String,
    /// The tenant id.
    pub tenant_id: String,
    /// The platform URL the agent enrolled against.
    pub platform_url: String,
}

impl EnrollmentRecord {
    /// Parse a record from the surfaces' JSON (`{"jwt", "jwtExpiresAtUnix", "agentId",
    /// "tenantId", "platformUrl"}`) and [`validate`](Self::validate) it. Errors name
    /// the field and never quote a value. `jwtExpiresAtUnix` must be a number (a
    /// fraction is truncated); unknown fields are ignored, as the reference does.
    pub fn from_json(json: &str) -> Result<Self, CredentialError> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            CredentialError::invalid(
                "record",
                format!("not valid JSON (line {}, column {})", e.line(), e.column()),
            )
        })?;
        let Value::Object(mut map) = value else {
            return Err(CredentialError::invalid("record", "must be a JSON object"));
        };
        let jwt_expires_at_unix = match map.get("jwtExpiresAtUnix") {
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i,
                (None, Some(f)) if f.is_finite() && f.abs() < 9.0e18 => f.trunc() as i64,
                _ => {
                    return Err(CredentialError::invalid(
                        "jwtExpiresAtUnix",
                        "is out of range",
                    ))
                }
            },
            None | Some(Value::Null) => {
                return Err(CredentialError::invalid("jwtExpiresAtUnix", "is missing"))
            }
            Some(_) => {
                return Err(CredentialError::invalid(
                    "jwtExpiresAtUnix",
                    "must be a number (seconds since the epoch)",
                ))
            }
        };
        let mut text = |field: &'static str| -> Result<String, CredentialError> {
            match map.remove(field) {
                Some(Value::String(s)) => Ok(s),
                None | Some(Value::Null) => Err(CredentialError::invalid(field, "is missing")),
                Some(_) => Err(CredentialError::invalid(field, "must be a string")),
            }
        };
        let record = EnrollmentRecord {
            jwt: Secret::new(text("jwt")?),
            jwt_expires_at_unix,
            agent_id: text("agentId")?,
            tenant_id: text("tenantId")?,
            platform_url: text("platformUrl")?,
        };
        record.validate()?;
        Ok(record)
    }

    /// Whether the stored expiry falls before now + `within` (an unknown expiry, 0,
    /// counts as expired).
    pub fn expires_within(&self, within: Duration) -> bool {
        self.expires_within_at(within, SystemTime::now())
    }

    /// [`expires_within`](Self::expires_within) at a given `now`.
    pub fn expires_within_at(&self, within: Duration, now: SystemTime) -> bool {
        jwt::exp_within(self.jwt_expires_at_unix, within, now)
    }

    /// Build a record from a bare JWT and the ids it belongs to (what `keel cred write`
    /// does with a token on stdin). The expiry is `expires_at_unix` when given, else the
    /// JWT's `exp` claim; the record is [`validate`](Self::validate)d.
    ///
    /// Errors: [`CredentialError::InvalidJwt`] when the expiry must come from a token
    /// that cannot be decoded; `InvalidInput` for `jwtExpiresAtUnix` when the token has
    /// no `exp` claim and none was given, or for an empty field.
    ///
    /// ```
    /// use keel_core::credentials::{EnrollmentRecord, Secret};
    ///
    /// // header {"alg":"none"}, payload {"exp":1767225600}
    /// let jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3NjcyMjU2MDB9.";
    /// let r = EnrollmentRecord::from_jwt(Secret::new(jwt), "agent-1", "tenant-1", "https://p.example", None).unwrap();
    /// assert_eq!(r.jwt_expires_at_unix, 1_767_225_600);
    /// ```
    pub fn from_jwt(
        jwt: Secret,
        agent_id: impl Into<String>,
        tenant_id: impl Into<String>,
        platform_url: impl Into<String>,
        expires_at_unix: Option<i64>,
    ) -> Result<Self, CredentialError> {
        let jwt_expires_at_unix = match expires_at_unix {
            Some(e) => e,
            None => jwt::exp(jwt.expose())?.ok_or_else(|| {
                CredentialError::invalid(
                    "jwtExpiresAtUnix",
                    "is not given and the JWT has no exp claim",
                )
            })?,
        };
        let record = EnrollmentRecord {
            jwt,
            jwt_expires_at_unix,
            agent_id: agent_id.into(),
            tenant_id: tenant_id.into(),
            platform_url: platform_url.into(),
        };
        record.validate()?;
        Ok(record)
    }

    /// Check the record can be stored: `jwt`, `agentId`, `tenantId` and `platformUrl`
    /// must be non-empty (the reference's reader treats an empty one as absent, and the
    /// kernel keyring cannot hold an empty value) and free of NUL characters.
    pub fn validate(&self) -> Result<(), CredentialError> {
        for (field, value) in [
            ("jwt", self.jwt.expose()),
            ("agentId", self.agent_id.as_str()),
            ("tenantId", self.tenant_id.as_str()),
            ("platformUrl", self.platform_url.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(CredentialError::invalid(field, "must not be empty"));
            }
            if value.contains('\0') {
                return Err(CredentialError::invalid(field, "must not contain NUL"));
            }
        }
        Ok(())
    }
}

/// The JWT and its expiry: the reference's `readJwt()` answer
/// (`{jwt, expiresAtUnix}`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtInfo {
    /// The JWT.
    pub jwt: Secret,
    /// Expiry, seconds since the epoch (0 = unknown).
    pub expires_at_unix: i64,
}

impl JwtInfo {
    /// Whether the expiry falls before now + `within` (0 = unknown counts as expired).
    pub fn expires_within(&self, within: Duration) -> bool {
        jwt::exp_within(self.expires_at_unix, within, SystemTime::now())
    }
}

/// Where an answer came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CredentialSource {
    /// The keyring (`"keyring"`).
    Keyring,
    /// The file mirror (`"fileMirror"`), because the keyring lacked the entries.
    FileMirror,
}

/// An answer and where it came from.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved<T> {
    /// The answer.
    pub value: T,
    /// Its source.
    pub source: CredentialSource,
    /// Why the file mirror answered, and any tolerated oddity (no secret values).
    pub notes: Vec<String>,
}

impl CredentialSource {
    /// The stable name used in JSON and by every surface: `"keyring"` or
    /// `"fileMirror"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialSource::Keyring => "keyring",
            CredentialSource::FileMirror => "fileMirror",
        }
    }
}

impl<T: Serialize> Resolved<T> {
    /// The answer's JSON object with `"source"` and `"notes"` added next to its own
    /// fields: the shape the C and CLI surfaces print, for example
    /// `{"jwt":"…","jwtExpiresAtUnix":…,"agentId":"…","tenantId":"…",
    /// "platformUrl":"…","source":"fileMirror","notes":["…"]}`. The result holds
    /// the secret values of the answer: never log it.
    ///
    /// ```
    /// use keel_core::credentials::{CredentialSource, JwtInfo, Resolved, Secret};
    /// let r = Resolved {
    ///     value: JwtInfo { jwt: Secret::new("eyJ.e30."), expires_at_unix: 7 },
    ///     source: CredentialSource::FileMirror,
    ///     notes: vec![],
    /// };
    /// let json = r.to_flat_json();
    /// assert_eq!(json["jwt"], "eyJ.e30.");
    /// assert_eq!(json["expiresAtUnix"], 7);
    /// assert_eq!(json["source"], "fileMirror");
    /// assert_eq!(json["notes"], serde_json::json!([]));
    /// ```
    pub fn to_flat_json(&self) -> Value {
        let mut map = match serde_json::to_value(&self.value) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other);
                m
            }
            Err(_) => serde_json::Map::new(),
        };
        map.insert("source".into(), Value::from(self.source.as_str()));
        map.insert(
            "notes".into(),
            Value::Array(self.notes.iter().cloned().map(Value::from).collect()),
        );
        Value::Object(map)
    }
}

/// The keyring key names used for a record, built from the key prefix.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentKeys {
    /// `<prefix>jwt`
    pub jwt: String,
    /// `<prefix>jwt_exp`
    pub jwt_exp: String,
    /// `<prefix>agent_id`
    pub agent_id: String,
    /// `<prefix>tenant_id`
    pub tenant_id: String,
    /// `<prefix>platform_url`
    pub platform_url: String,
}

impl EnrollmentKeys {
    /// The keys for `prefix`.
    pub fn with_prefix(prefix: &str) -> Self {
        EnrollmentKeys {
            jwt: format!("{prefix}jwt"),
            jwt_exp: format!("{prefix}jwt_exp"),
            agent_id: format!("{prefix}agent_id"),
            tenant_id: format!("{prefix}tenant_id"),
            platform_url: format!("{prefix}platform_url"),
        }
    }

    /// `(record field name, key)` for all five, in write order.
    pub fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("jwt", &self.jwt),
            ("jwtExpiresAtUnix", &self.jwt_exp),
            ("agentId", &self.agent_id),
            ("tenantId", &self.tenant_id),
            ("platformUrl", &self.platform_url),
        ]
    }
}
