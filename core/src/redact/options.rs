//! [`RedactorOptions`]: the options of a redactor, the one schema of
//! `keel_redactor_new` (C, JSON text), `new Redactor(options)` and
//! `createRedactStream(options)` (Node).

use serde::{Deserialize, Serialize};

use super::{RedactError, Redactor, RedactorBuilder, DEFAULT_CUSTOM_MAX_LEN};
use crate::options::{self, OptionsError};

/// Options of a [`Redactor`] (camelCase on the wire, every field optional, unknown
/// fields refused; `null` counts as absent):
///
/// ```json
/// {"mask": "***", "minSecretLength": 6, "disableRules": ["jwt"],
///  "customRules": [{"name": "ticket", "pattern": "TICKET-[0-9]{6}", "maxLen": 1024}],
///  "secrets": ["hunter2-long"], "jsonSecrets": ["{\"token\":\"…\"}"]}
/// ```
///
/// `Debug` shows how many secrets there are, never them.
///
/// ```
/// use keel_core::redact::RedactorOptions;
///
/// let o = RedactorOptions::from_json(r#"{"secrets":["s3cr3t-value"]}"#).unwrap();
/// let r = o.build().unwrap();
/// assert_eq!(r.redact_str("x s3cr3t-value y"), "x *** y");
/// assert!(RedactorOptions::from_json(r#"{"customRules":[{"name":"t","pattern":"T-[0-9]+","maxLen":3}],"maks":"x"}"#).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RedactorOptions {
    /// Text that replaces each masked span (default `***`, not empty).
    pub mask: Option<String>,
    /// Known secrets shorter than this many bytes are ignored (default 6, at least 1).
    pub min_secret_length: Option<usize>,
    /// Names of built-in rules to turn off (see the rule list).
    pub disable_rules: Option<Vec<String>>,
    /// Extra rules: every match of `pattern` is masked.
    pub custom_rules: Option<Vec<CustomRuleOptions>>,
    /// Known secret values (with their base64, percent, form and JSON encodings).
    /// Node also accepts `Uint8Array`s here; it takes them out before parsing.
    #[cfg_attr(feature = "ts", ts(type = "Array<string | Uint8Array>", optional))]
    pub secrets: Option<Vec<String>>,
    /// Credential blobs: each is a secret and, when it is JSON, so is every string leaf
    /// of at least 12 characters.
    pub json_secrets: Option<Vec<String>>,
    /// Threads one one-shot call of 4 MiB or more may use (default: the CPUs
    /// available, at most 4; 1 to 64; 1 = only the calling thread). The output
    /// does not depend on it; streams always run on the calling thread.
    pub threads: Option<usize>,
}

/// One custom rule of [`RedactorOptions`].
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CustomRuleOptions {
    /// Unique name, not one of the built-in rules' names.
    pub name: String,
    /// Regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// Cap on a match's length in bytes (default [`DEFAULT_CUSTOM_MAX_LEN`]).
    pub max_len: Option<usize>,
}

impl std::fmt::Debug for RedactorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |v: &Option<Vec<String>>| v.as_ref().map_or(0, Vec::len);
        f.debug_struct("RedactorOptions")
            .field("mask", &self.mask)
            .field("min_secret_length", &self.min_secret_length)
            .field("threads", &self.threads)
            .field("disable_rules", &self.disable_rules)
            .field("custom_rules", &self.custom_rules)
            .field(
                "secrets",
                &format_args!("<{} secrets: ***>", count(&self.secrets)),
            )
            .field(
                "json_secrets",
                &format_args!("<{} blobs: ***>", count(&self.json_secrets)),
            )
            .finish()
    }
}

impl RedactorOptions {
    /// Parse options JSON (empty text or `null`: every default). Field errors are named
    /// under `options` (`options.customRules[0].pattern`), syntax errors under
    /// `options_json`.
    pub fn from_json(text: &str) -> Result<Self, OptionsError> {
        options::from_json(text, "options_json", "options")
    }

    /// Every secret value these options carry (to mask in error messages about them).
    pub fn secret_values(&self) -> Vec<&str> {
        self.secrets
            .iter()
            .chain(self.json_secrets.iter())
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// A builder set up with these options (add more, e.g. byte secrets, then
    /// [`build`](RedactorBuilder::build)).
    pub fn into_builder(self) -> RedactorBuilder {
        let mut b = Redactor::builder();
        if let Some(mask) = self.mask {
            b = b.mask(mask);
        }
        if let Some(n) = self.min_secret_length {
            b = b.min_secret_len(n);
        }
        if let Some(n) = self.threads {
            b = b.threads(n);
        }
        for name in self.disable_rules.into_iter().flatten() {
            b = b.disable_rule(name);
        }
        for rule in self.custom_rules.into_iter().flatten() {
            b = b.custom_rule_with_max_len(
                rule.name,
                rule.pattern,
                rule.max_len.unwrap_or(DEFAULT_CUSTOM_MAX_LEN),
            );
        }
        for s in self.secrets.into_iter().flatten() {
            b = b.secret(s);
        }
        for blob in self.json_secrets.into_iter().flatten() {
            b = b.json_secret(blob);
        }
        b
    }

    /// Build the redactor.
    pub fn build(self) -> Result<Redactor, RedactError> {
        self.into_builder().build()
    }
}

/// How a rule name a caller gave is shown in a message: as given when it looks like a
/// rule name (short, lowercase letters, digits, `-` and `_`), else only by its length —
/// a secret pasted into a rule list must not come back in an error.
pub(crate) fn shown_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if plain {
        format!("\"{name}\"")
    } else {
        format!("({} characters, not shown)", name.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_len_is_honoured_and_typos_are_refused() {
        let o = RedactorOptions::from_json(
            r#"{"customRules":[{"name":"t","pattern":"T-[0-9]+","maxLen":3}]}"#,
        )
        .unwrap();
        assert_eq!(o.custom_rules.as_ref().unwrap()[0].max_len, Some(3));
        let e = RedactorOptions::from_json(
            r#"{"customRules":[{"name":"t","pattern":"T-[0-9]+","maxLen":3}],"maks":"x"}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), "options");
        assert!(e.problem().contains("did you mean \"mask\""), "{e}");
    }

    #[test]
    fn threads_are_checked() {
        let o = RedactorOptions::from_json(r#"{"threads":2}"#).unwrap();
        assert_eq!(o.threads, Some(2));
        assert!(o.build().is_ok());
        for bad in [0usize, 65] {
            let e = RedactorOptions::from_json(&format!(r#"{{"threads":{bad}}}"#))
                .unwrap()
                .build()
                .unwrap_err();
            assert_eq!(
                e,
                RedactError::InvalidOption {
                    option: "threads",
                    reason: "must be 1 to 64".into()
                }
            );
        }
        assert!(RedactorOptions::from_json(r#"{"threads":-1}"#).is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let o = RedactorOptions::from_json(r#"{"secrets":["s3cr3t-value"]}"#).unwrap();
        let d = format!("{o:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("<1 secrets: ***>"), "{d}");
    }

    #[test]
    fn rule_names_that_may_be_secrets_are_not_shown() {
        assert_eq!(shown_name("no-such-rule"), "\"no-such-rule\"");
        assert_eq!(shown_name("ghp_S3cretToken"), "(15 characters, not shown)");
        let e = Redactor::builder()
            .disable_rule("AKIAIOSFODNN7EXAMPLE")
            .build()
            .unwrap_err();
        assert!(!e.to_string().contains("AKIA"), "{e}");
    }
}
