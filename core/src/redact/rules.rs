//! Credential *shapes*: rules for secrets whose value is not known in advance.
//!
//! Matching every shape with one regex automaton is far too slow (a leading
//! `[A-Za-z0-9_]*(?:password|…)` class runs at about 1 MB/s), so the built-in rules
//! are anchored on cheap byte-level scans and verified by hand around each hit:
//!
//! * a small, case-sensitive literal set of token prefixes (`ghp_`, `AKIA`, `eyJ`,
//!   `-----BEGIN`, …) found with one Aho-Corasick pass (SIMD prefilter);
//! * the bytes `=` and `:` found with `memchr2`, for assignments, headers and URL
//!   userinfo, verified by looking back at the key and forward at the value.
//!
//! Every rule has a bounded reach (documented in [`MAX_VALUE`], [`MAX_TOKEN`],
//! [`MAX_JWT`], [`MAX_PEM`]) so a stream needs to hold back only a bounded tail.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::Regex;

use super::engine::Span;
use super::simd;

/// Longest assignment / header value masked (bytes). A longer value is masked up to here.
pub const MAX_VALUE: usize = 1024;
/// Longest token body after a known prefix (bytes).
pub const MAX_TOKEN: usize = 512;
/// Longest JWT (bytes).
pub const MAX_JWT: usize = 16 * 1024;
/// Longest PEM private-key body (bytes). A block whose `-----END` does not come
/// within this distance is masked up to here.
pub const MAX_PEM: usize = 64 * 1024;
/// How far a rule looks back before its anchor (key names, word boundaries).
pub const LOOKBEHIND: usize = 96;
/// Longest key name examined before `=` / `:`.
const MAX_KEY: usize = 64;

/// A built-in rule. Names are stable: they appear in `--list-rules`, in options
/// (`disable_rule("jwt")`) and in the C / Node surfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BuiltinRule {
    /// `scheme://user:pass@host` → `scheme://***@host`.
    UrlUserinfo,
    /// `x-access-token:<token>` (git credential helpers, GitHub App tokens).
    XAccessToken,
    /// GitHub tokens: `ghp_ gho_ ghu_ ghs_ ghr_ github_pat_`.
    GithubToken,
    /// GitLab tokens: `glpat-`, `glrt-`, `glptt-`, `glft-`, `glcbt-`, `gldt-`, `glimt-`,
    /// `glagent-`, `gloas-`, `glsoat-`, `glffct-`.
    GitlabToken,
    /// AWS access key ids: `AKIA ASIA ABIA ACCA` + 16.
    AwsAccessKeyId,
    /// AWS secret access keys in assignments (`aws_secret_access_key = …`).
    AwsSecretKey,
    /// Slack tokens: `xoxa- xoxb- xoxp- xoxo- xoxs- xoxr- xoxe-`, `xapp-`.
    SlackToken,
    /// Stripe keys: `sk_live_ sk_test_ sk_prod_ rk_live_ rk_test_ rk_prod_`.
    StripeKey,
    /// OpenAI keys: `sk-`, `sk-proj-`.
    OpenaiKey,
    /// Anthropic keys: `sk-ant-`.
    AnthropicKey,
    /// Google API keys: `AIza` + 35.
    GoogleApiKey,
    /// npm tokens: `npm_`.
    NpmToken,
    /// PyPI tokens: `pypi-`.
    PypiToken,
    /// JSON Web Tokens: `eyJ….eyJ….…`, and base64-encoded ones (`ZXlKaGJHY2lPaU…`).
    Jwt,
    /// `Authorization: Bearer|Basic|Token …` (and `Proxy-Authorization`).
    AuthorizationHeader,
    /// PEM private-key blocks (`-----BEGIN … PRIVATE KEY-----` … `-----END`), also
    /// JSON-escaped in a GCP service-account file, and that file's `private_key_id`.
    PrivateKey,
    /// Sourcegraph access tokens: `sgp_`.
    SourcegraphToken,
    /// Notion integration tokens: `ntn_`.
    NotionToken,
    /// Doppler tokens: `dp.pt.`, `dp.st.`, `dp.ct.`, `dp.sa.`, `dp.scim.`, `dp.audit.`.
    DopplerToken,
    /// Dynatrace API tokens: `dt0c01.`.
    DynatraceToken,
    /// Facebook (Meta) page and user access tokens: `EAA` + 100 or more.
    FacebookToken,
    /// Adobe client secrets: `p8e-`.
    AdobeClientSecret,
    /// Alibaba Cloud access key ids: `LTAI`.
    AlibabaAccessKeyId,
    /// JFrog Artifactory API keys (`AKCp`) and reference tokens (`cmVmd`).
    ArtifactoryToken,
    /// 1Password secret keys (`A3-XXXXXX-…`) and service-account tokens (`ops_eyJ…`).
    OnePasswordKey,
    /// Hugging Face tokens: `hf_`, `api_org_`.
    HuggingfaceToken,
    /// Chat webhook URLs: Slack `hooks.slack.com/…`, Microsoft Teams `….webhook.office.com/…`, Discord `discord.com/api/webhooks/…`.
    WebhookUrl,
    /// `KEY=value`, `KEY: value`, `"key": "value"` where the key names a password,
    /// secret, token, key or credential and the value looks like one.
    CredentialAssignment,
    /// Passwords on command lines: `curl -u user:pass` / `--user`, `mysql -pPASS`
    /// (also `mysqldump`, `mysqladmin`, `mariadb`), `sshpass -p PASS`,
    /// `redis-cli -a PASS`, `--password PASS`. Only the secret is masked.
    CliPassword,
    /// EasyPost API keys: `EZAK`, `EZTK`.
    EasypostToken,
    /// HashiCorp Vault service and batch tokens: `hvs.`, `hvb.`.
    VaultToken,
    /// Fly.io tokens: `fo1_`, `fm1a_`, `fm1r_`, `fm2_`.
    FlyioToken,
    /// Sentry organisation tokens (`sntrys_eyJ…`) and user tokens (`sntryu_`).
    SentryToken,
    /// Grafana service-account (`glsa_`) and cloud (`glc_`) tokens.
    GrafanaToken,
    /// 42 Intra client secrets: `s-s4t2ud-`, `s-s4t2af-`.
    Intra42Secret,
    /// OpenShift OAuth access tokens: `sha256~`.
    OpenshiftToken,
    /// Azure AD (Entra ID) client secrets: `xxx8Q~…` (34–40 characters, `Q~` at 4).
    AzureAdClientSecret,
}

impl BuiltinRule {
    /// Every built-in rule, in documentation order.
    pub const ALL: [BuiltinRule; 37] = [
        BuiltinRule::UrlUserinfo,
        BuiltinRule::XAccessToken,
        BuiltinRule::GithubToken,
        BuiltinRule::GitlabToken,
        BuiltinRule::AwsAccessKeyId,
        BuiltinRule::AwsSecretKey,
        BuiltinRule::SlackToken,
        BuiltinRule::StripeKey,
        BuiltinRule::OpenaiKey,
        BuiltinRule::AnthropicKey,
        BuiltinRule::GoogleApiKey,
        BuiltinRule::NpmToken,
        BuiltinRule::PypiToken,
        BuiltinRule::Jwt,
        BuiltinRule::AuthorizationHeader,
        BuiltinRule::PrivateKey,
        BuiltinRule::SourcegraphToken,
        BuiltinRule::NotionToken,
        BuiltinRule::DopplerToken,
        BuiltinRule::DynatraceToken,
        BuiltinRule::FacebookToken,
        BuiltinRule::AdobeClientSecret,
        BuiltinRule::AlibabaAccessKeyId,
        BuiltinRule::ArtifactoryToken,
        BuiltinRule::OnePasswordKey,
        BuiltinRule::HuggingfaceToken,
        BuiltinRule::WebhookUrl,
        BuiltinRule::CredentialAssignment,
        BuiltinRule::CliPassword,
        BuiltinRule::EasypostToken,
        BuiltinRule::VaultToken,
        BuiltinRule::FlyioToken,
        BuiltinRule::SentryToken,
        BuiltinRule::GrafanaToken,
        BuiltinRule::Intra42Secret,
        BuiltinRule::OpenshiftToken,
        BuiltinRule::AzureAdClientSecret,
    ];

    /// The stable name of the rule.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRule::UrlUserinfo => "url-userinfo",
            BuiltinRule::XAccessToken => "x-access-token",
            BuiltinRule::GithubToken => "github-token",
            BuiltinRule::GitlabToken => "gitlab-token",
            BuiltinRule::AwsAccessKeyId => "aws-access-key-id",
            BuiltinRule::AwsSecretKey => "aws-secret-key",
            BuiltinRule::SlackToken => "slack-token",
            BuiltinRule::StripeKey => "stripe-key",
            BuiltinRule::OpenaiKey => "openai-key",
            BuiltinRule::AnthropicKey => "anthropic-key",
            BuiltinRule::GoogleApiKey => "google-api-key",
            BuiltinRule::NpmToken => "npm-token",
            BuiltinRule::PypiToken => "pypi-token",
            BuiltinRule::Jwt => "jwt",
            BuiltinRule::AuthorizationHeader => "authorization-header",
            BuiltinRule::PrivateKey => "private-key",
            BuiltinRule::SourcegraphToken => "sourcegraph-token",
            BuiltinRule::NotionToken => "notion-token",
            BuiltinRule::DopplerToken => "doppler-token",
            BuiltinRule::DynatraceToken => "dynatrace-token",
            BuiltinRule::FacebookToken => "facebook-token",
            BuiltinRule::AdobeClientSecret => "adobe-client-secret",
            BuiltinRule::AlibabaAccessKeyId => "alibaba-access-key-id",
            BuiltinRule::ArtifactoryToken => "artifactory-token",
            BuiltinRule::OnePasswordKey => "1password-key",
            BuiltinRule::HuggingfaceToken => "huggingface-token",
            BuiltinRule::WebhookUrl => "webhook-url",
            BuiltinRule::CredentialAssignment => "credential-assignment",
            BuiltinRule::CliPassword => "cli-password",
            BuiltinRule::EasypostToken => "easypost-token",
            BuiltinRule::VaultToken => "vault-token",
            BuiltinRule::FlyioToken => "flyio-token",
            BuiltinRule::SentryToken => "sentry-token",
            BuiltinRule::GrafanaToken => "grafana-token",
            BuiltinRule::Intra42Secret => "intra42-secret",
            BuiltinRule::OpenshiftToken => "openshift-token",
            BuiltinRule::AzureAdClientSecret => "azure-ad-client-secret",
        }
    }

    /// One line on what the rule masks.
    pub fn description(self) -> &'static str {
        match self {
            BuiltinRule::UrlUserinfo => "userinfo in URLs: scheme://user:pass@host -> scheme://***@host",
            BuiltinRule::XAccessToken => "x-access-token:<token>",
            BuiltinRule::GithubToken => "GitHub tokens (ghp_ gho_ ghu_ ghs_ ghr_ github_pat_), prefix kept",
            BuiltinRule::GitlabToken => "GitLab tokens (glpat- glrt- glptt- glft- glcbt- gldt- glimt- glagent- gloas- glsoat- glffct-), prefix kept",
            BuiltinRule::AwsAccessKeyId => "AWS access key ids (AKIA ASIA ABIA ACCA + 16), prefix kept",
            BuiltinRule::AwsSecretKey => "AWS secret access keys assigned to aws_secret_access_key and alike",
            BuiltinRule::SlackToken => "Slack tokens (xox[abposre]-, xapp-), prefix kept",
            BuiltinRule::StripeKey => "Stripe keys (sk_/rk_ live/test/prod), prefix kept",
            BuiltinRule::OpenaiKey => "OpenAI keys (sk-, sk-proj-), prefix kept",
            BuiltinRule::AnthropicKey => "Anthropic keys (sk-ant-), prefix kept",
            BuiltinRule::GoogleApiKey => "Google API keys (AIza...), prefix kept",
            BuiltinRule::NpmToken => "npm tokens (npm_), prefix kept",
            BuiltinRule::PypiToken => "PyPI tokens (pypi-), prefix kept",
            BuiltinRule::Jwt => "JSON Web Tokens (eyJ...eyJ...sig) and base64-encoded ones (ZXlK...)",
            BuiltinRule::AuthorizationHeader => "Authorization: Bearer|Basic|Token <credential>, scheme kept",
            BuiltinRule::PrivateKey => "PEM private-key blocks (BEGIN/END lines kept) and GCP private_key_id values",
            BuiltinRule::SourcegraphToken => "Sourcegraph access tokens (sgp_...), prefix kept",
            BuiltinRule::NotionToken => "Notion tokens (ntn_...), prefix kept",
            BuiltinRule::DopplerToken => "Doppler tokens (dp.pt. dp.st. dp.ct. dp.sa. dp.scim. dp.audit.), prefix kept",
            BuiltinRule::DynatraceToken => "Dynatrace API tokens (dt0c01....), prefix kept",
            BuiltinRule::FacebookToken => "Facebook page and user access tokens (EAAM..., EAAC...), prefix kept",
            BuiltinRule::AdobeClientSecret => "Adobe client secrets (p8e-...), prefix kept",
            BuiltinRule::AlibabaAccessKeyId => "Alibaba Cloud access key ids (LTAI...), prefix kept",
            BuiltinRule::ArtifactoryToken => "JFrog Artifactory API keys (AKCp...) and reference tokens (cmVmd...), prefix kept",
            BuiltinRule::OnePasswordKey => "1Password secret keys (A3-...) and service-account tokens (ops_eyJ...), prefix kept",
            BuiltinRule::HuggingfaceToken => "Hugging Face tokens (hf_, api_org_), prefix kept",
            BuiltinRule::WebhookUrl => "Slack, Microsoft Teams and Discord webhook URLs: the path after the host is masked",
            BuiltinRule::CredentialAssignment => {
                "KEY=value / KEY: value / \"key\": \"value\" where KEY names a password, secret, token, key or credential"
            }
            BuiltinRule::CliPassword => {
                "command-line passwords: curl -u user:pass, mysql -pPASS, sshpass -p, redis-cli -a, --password PASS; the rest of the line kept"
            }
            BuiltinRule::EasypostToken => "EasyPost API keys (EZAK, EZTK), prefix kept",
            BuiltinRule::VaultToken => "HashiCorp Vault tokens (hvs., hvb.), prefix kept",
            BuiltinRule::FlyioToken => "Fly.io tokens (fo1_, fm1a_, fm1r_, fm2_), prefix kept",
            BuiltinRule::SentryToken => "Sentry org and user tokens (sntrys_, sntryu_), prefix kept",
            BuiltinRule::GrafanaToken => "Grafana service-account and cloud tokens (glsa_, glc_), prefix kept",
            BuiltinRule::Intra42Secret => "42 Intra client secrets (s-s4t2ud-, s-s4t2af-), prefix kept",
            BuiltinRule::OpenshiftToken => "OpenShift OAuth tokens (sha256~), prefix kept",
            BuiltinRule::AzureAdClientSecret => "Azure AD client secrets (xxxNQ~...)",
        }
    }

    /// Look a rule up by its stable name.
    pub fn from_name(name: &str) -> Option<BuiltinRule> {
        BuiltinRule::ALL.into_iter().find(|r| r.name() == name)
    }

    fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

/// A caller-supplied rule: every match of `regex` is masked.
#[derive(Clone, Debug)]
pub struct CustomRule {
    pub(crate) name: String,
    pub(crate) regex: Regex,
    /// The same pattern for bounded searches (see `custom.rs`).
    pub(crate) bounded: regex_automata::meta::Regex,
    pub(crate) max_len: usize,
}

impl CustomRule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The pattern.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }
}

#[derive(Clone, Copy)]
enum Body {
    /// `[A-Za-z0-9_]` run of at least `min`.
    Word(usize),
    /// `[A-Za-z0-9_-]` run of at least `min`.
    Dashed(usize),
    /// `[A-Za-z0-9]` run of at least `min`.
    Alnum(usize),
    /// `[A-Z0-9]` run of exactly `n`, then a non-alphanumeric byte.
    UpperExact(usize),
    Jwt,
    Pem,
    /// `[A-Za-z0-9+/=_-]` run of at least `min` (base64 of either alphabet).
    Base64(usize),
    /// `[A-Z0-9-]` run of at least `min` with at least three dashes (1Password).
    UpperDashed(usize),
    /// `[A-Za-z0-9.]` run of at least `min` (Dynatrace: `dt0c01.<24>.<64>`).
    DottedAlnum(usize),
    /// `<kind>.` then an alphanumeric run of at least `min`.
    #[allow(dead_code)] // Doppler's kinds are literals now; kept for kinds to come
    KindDot(usize),
    /// A URL path of at least `min` bytes (`[A-Za-z0-9_/+@.-]`): webhooks.
    UrlPath(usize),
    /// `("KEY", "value")` after a setter (`System.setProperty(`, `os.Setenv(`):
    /// masked when `KEY` names a credential and the value looks like one.
    CallPair,
    /// `-u user:pass` / `--user user:pass` (curl): the password is masked.
    CurlUser,
    /// `--password <value>` (space-separated; `--password=` is an assignment).
    FlagValue,
    /// A command (`mysql`, `sshpass`, …) whose `-<flag>` later on the same line
    /// carries a password: glued (`-pSECRET`) and, when `true`, also spaced.
    CliCommand(u8, bool),
    /// Azure AD client secret: 3 characters, a digit, `Q~`, 31–34 characters.
    AzureSecret,
    /// `private_key_id": "<hex>"` (GCP service-account JSON): the hex id.
    KeyId,
}

struct Prefix {
    lit: &'static str,
    /// Leading bytes of `lit` left out of the SIMD search and checked afterwards:
    /// the searched part starts with a trigram that is rare in logs (`hp_`, not the
    /// `ghp`/`git`/`npm`/`---` that real logs are full of), which keeps the
    /// prefilter's false candidates down.
    skip: usize,
    rule: BuiltinRule,
    /// Bytes of the literal that stay visible.
    keep: usize,
    body: Body,
}

const PREFIXES: &[Prefix] = &[
    Prefix {
        lit: "ghp_",
        skip: 0,
        rule: BuiltinRule::GithubToken,
        keep: 4,
        body: Body::Word(1),
    },
    Prefix {
        lit: "gho_",
        skip: 0,
        rule: BuiltinRule::GithubToken,
        keep: 4,
        body: Body::Word(1),
    },
    Prefix {
        lit: "ghu_",
        skip: 0,
        rule: BuiltinRule::GithubToken,
        keep: 4,
        body: Body::Word(1),
    },
    Prefix {
        lit: "ghs_",
        skip: 0,
        rule: BuiltinRule::GithubToken,
        keep: 4,
        body: Body::Word(1),
    },
    Prefix {
        lit: "ghr_",
        skip: 0,
        rule: BuiltinRule::GithubToken,
        keep: 4,
        body: Body::Word(1),
    },
    Prefix {
        lit: "github_pat_",
        skip: 5,
        rule: BuiltinRule::GithubToken,
        keep: 11,
        body: Body::Word(1),
    },
    Prefix {
        lit: "glpat-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 6,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "AKIA",
        skip: 0,
        rule: BuiltinRule::AwsAccessKeyId,
        keep: 4,
        body: Body::UpperExact(16),
    },
    Prefix {
        lit: "ASIA",
        skip: 0,
        rule: BuiltinRule::AwsAccessKeyId,
        keep: 4,
        body: Body::UpperExact(16),
    },
    Prefix {
        lit: "ABIA",
        skip: 0,
        rule: BuiltinRule::AwsAccessKeyId,
        keep: 4,
        body: Body::UpperExact(16),
    },
    Prefix {
        lit: "ACCA",
        skip: 0,
        rule: BuiltinRule::AwsAccessKeyId,
        keep: 4,
        body: Body::UpperExact(16),
    },
    Prefix {
        lit: "xoxa-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "xoxb-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "xoxp-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "xoxo-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "xoxs-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "xoxr-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "xapp-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "sk_live_",
        skip: 1,
        rule: BuiltinRule::StripeKey,
        keep: 8,
        body: Body::Alnum(8),
    },
    Prefix {
        lit: "sk_test_",
        skip: 1,
        rule: BuiltinRule::StripeKey,
        keep: 8,
        body: Body::Alnum(8),
    },
    Prefix {
        lit: "rk_live_",
        skip: 1,
        rule: BuiltinRule::StripeKey,
        keep: 8,
        body: Body::Alnum(8),
    },
    Prefix {
        lit: "rk_test_",
        skip: 1,
        rule: BuiltinRule::StripeKey,
        keep: 8,
        body: Body::Alnum(8),
    },
    Prefix {
        lit: "sk-ant-",
        skip: 0,
        rule: BuiltinRule::AnthropicKey,
        keep: 7,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "sk-proj-",
        skip: 0,
        rule: BuiltinRule::OpenaiKey,
        keep: 8,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "sk-",
        skip: 0,
        rule: BuiltinRule::OpenaiKey,
        keep: 3,
        body: Body::Dashed(20),
    },
    Prefix {
        lit: "AIza",
        skip: 0,
        rule: BuiltinRule::GoogleApiKey,
        keep: 4,
        body: Body::Dashed(30),
    },
    Prefix {
        lit: "npm_",
        skip: 0,
        rule: BuiltinRule::NpmToken,
        keep: 4,
        body: Body::Alnum(20),
    },
    Prefix {
        lit: "pypi-",
        skip: 1,
        rule: BuiltinRule::PypiToken,
        keep: 5,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glrt-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 5,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glptt-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 6,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glft-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 5,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glcbt-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 6,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "gldt-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 5,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glimt-",
        skip: 1,
        rule: BuiltinRule::GitlabToken,
        keep: 6,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glagent-",
        skip: 1,
        rule: BuiltinRule::GitlabToken,
        keep: 8,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "gloas-",
        skip: 2,
        rule: BuiltinRule::GitlabToken,
        keep: 6,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glsoat-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 7,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "glffct-",
        skip: 0,
        rule: BuiltinRule::GitlabToken,
        keep: 7,
        body: Body::Dashed(16),
    },
    Prefix {
        lit: "xoxe-",
        skip: 0,
        rule: BuiltinRule::SlackToken,
        keep: 5,
        body: Body::Dashed(8),
    },
    Prefix {
        lit: "sk_prod_",
        skip: 1,
        rule: BuiltinRule::StripeKey,
        keep: 8,
        body: Body::Alnum(8),
    },
    Prefix {
        lit: "rk_prod_",
        skip: 1,
        rule: BuiltinRule::StripeKey,
        keep: 8,
        body: Body::Alnum(8),
    },
    Prefix {
        lit: "sgp_",
        skip: 0,
        rule: BuiltinRule::SourcegraphToken,
        keep: 4,
        body: Body::Word(40),
    },
    Prefix {
        lit: "ntn_",
        skip: 0,
        rule: BuiltinRule::NotionToken,
        keep: 4,
        body: Body::Alnum(40),
    },
    Prefix {
        lit: "dt0c01.",
        skip: 1,
        rule: BuiltinRule::DynatraceToken,
        keep: 7,
        body: Body::DottedAlnum(80),
    },
    Prefix {
        lit: "p8e-",
        skip: 0,
        rule: BuiltinRule::AdobeClientSecret,
        keep: 4,
        body: Body::Alnum(32),
    },
    Prefix {
        lit: "LTAI",
        skip: 0,
        rule: BuiltinRule::AlibabaAccessKeyId,
        keep: 4,
        body: Body::Alnum(20),
    },
    Prefix {
        lit: "AKCp",
        skip: 0,
        rule: BuiltinRule::ArtifactoryToken,
        keep: 4,
        body: Body::Alnum(60),
    },
    Prefix {
        lit: "ops_eyJ",
        skip: 3,
        rule: BuiltinRule::OnePasswordKey,
        keep: 4,
        body: Body::Base64(100),
    },
    Prefix {
        lit: "hooks.slack.com/",
        skip: 5,
        rule: BuiltinRule::WebhookUrl,
        keep: 16,
        body: Body::UrlPath(20),
    },
    Prefix {
        lit: "webhook.office.com/",
        skip: 7,
        rule: BuiltinRule::WebhookUrl,
        keep: 19,
        body: Body::UrlPath(20),
    },
    Prefix {
        lit: "discord.com/api/webhooks/",
        skip: 15,
        rule: BuiltinRule::WebhookUrl,
        keep: 25,
        body: Body::UrlPath(20),
    },
    Prefix {
        lit: "setProperty(",
        skip: 1,
        rule: BuiltinRule::CredentialAssignment,
        keep: 12,
        body: Body::CallPair,
    },
    Prefix {
        lit: "Setenv(",
        skip: 1,
        rule: BuiltinRule::CredentialAssignment,
        keep: 7,
        body: Body::CallPair,
    },
    Prefix {
        lit: "setenv(",
        skip: 1,
        rule: BuiltinRule::CredentialAssignment,
        keep: 7,
        body: Body::CallPair,
    },
    Prefix {
        lit: "private_key_id",
        skip: 5,
        rule: BuiltinRule::PrivateKey,
        keep: 0,
        body: Body::KeyId,
    },
    Prefix {
        lit: "A3-",
        skip: 0,
        rule: BuiltinRule::OnePasswordKey,
        keep: 3,
        body: Body::UpperDashed(30),
    },
    Prefix {
        lit: "hf_",
        skip: 0,
        rule: BuiltinRule::HuggingfaceToken,
        keep: 3,
        body: Body::Alnum(30),
    },
    Prefix {
        lit: "api_org_",
        skip: 2,
        rule: BuiltinRule::HuggingfaceToken,
        keep: 8,
        body: Body::Alnum(30),
    },
    Prefix {
        lit: "EAAM",
        skip: 0,
        rule: BuiltinRule::FacebookToken,
        keep: 4,
        body: Body::Alnum(90),
    },
    Prefix {
        lit: "EAAC",
        skip: 0,
        rule: BuiltinRule::FacebookToken,
        keep: 4,
        body: Body::Alnum(90),
    },
    Prefix {
        lit: "dp.pt.",
        skip: 0,
        rule: BuiltinRule::DopplerToken,
        keep: 6,
        body: Body::Alnum(40),
    },
    Prefix {
        lit: "dp.st.",
        skip: 0,
        rule: BuiltinRule::DopplerToken,
        keep: 6,
        body: Body::Alnum(40),
    },
    Prefix {
        lit: "dp.ct.",
        skip: 0,
        rule: BuiltinRule::DopplerToken,
        keep: 6,
        body: Body::Alnum(40),
    },
    Prefix {
        lit: "dp.sa.",
        skip: 0,
        rule: BuiltinRule::DopplerToken,
        keep: 6,
        body: Body::Alnum(40),
    },
    Prefix {
        lit: "dp.scim.",
        skip: 0,
        rule: BuiltinRule::DopplerToken,
        keep: 8,
        body: Body::Alnum(40),
    },
    Prefix {
        lit: "dp.audit.",
        skip: 0,
        rule: BuiltinRule::DopplerToken,
        keep: 9,
        body: Body::Alnum(40),
    },
    Prefix {
        lit: "ZXlK",
        skip: 0,
        rule: BuiltinRule::Jwt,
        keep: 0,
        body: Body::Base64(60),
    },
    Prefix {
        lit: "cmVmd",
        skip: 1,
        rule: BuiltinRule::ArtifactoryToken,
        keep: 0,
        body: Body::Alnum(55),
    },
    Prefix {
        lit: "EZAK",
        skip: 0,
        rule: BuiltinRule::EasypostToken,
        keep: 4,
        body: Body::Alnum(50),
    },
    Prefix {
        lit: "EZTK",
        skip: 0,
        rule: BuiltinRule::EasypostToken,
        keep: 4,
        body: Body::Alnum(50),
    },
    Prefix {
        lit: "hvs.",
        skip: 0,
        rule: BuiltinRule::VaultToken,
        keep: 4,
        body: Body::Dashed(90),
    },
    Prefix {
        lit: "hvb.",
        skip: 0,
        rule: BuiltinRule::VaultToken,
        keep: 4,
        body: Body::Dashed(130),
    },
    Prefix {
        lit: "fo1_",
        skip: 0,
        rule: BuiltinRule::FlyioToken,
        keep: 4,
        body: Body::Dashed(40),
    },
    Prefix {
        lit: "fm1a_",
        skip: 0,
        rule: BuiltinRule::FlyioToken,
        keep: 5,
        body: Body::Base64(90),
    },
    Prefix {
        lit: "fm1r_",
        skip: 0,
        rule: BuiltinRule::FlyioToken,
        keep: 5,
        body: Body::Base64(90),
    },
    Prefix {
        lit: "fm2_",
        skip: 0,
        rule: BuiltinRule::FlyioToken,
        keep: 4,
        body: Body::Base64(90),
    },
    Prefix {
        lit: "sntrys_eyJ",
        skip: 6,
        rule: BuiltinRule::SentryToken,
        keep: 7,
        body: Body::Base64(100),
    },
    Prefix {
        lit: "sntryu_",
        skip: 0,
        rule: BuiltinRule::SentryToken,
        keep: 7,
        body: Body::Alnum(60),
    },
    Prefix {
        lit: "glsa_",
        skip: 0,
        rule: BuiltinRule::GrafanaToken,
        keep: 5,
        body: Body::Word(40),
    },
    Prefix {
        lit: "glc_",
        skip: 0,
        rule: BuiltinRule::GrafanaToken,
        keep: 4,
        body: Body::Base64(32),
    },
    Prefix {
        lit: "s-s4t2ud-",
        skip: 2,
        rule: BuiltinRule::Intra42Secret,
        keep: 9,
        body: Body::Alnum(60),
    },
    Prefix {
        lit: "s-s4t2af-",
        skip: 2,
        rule: BuiltinRule::Intra42Secret,
        keep: 9,
        body: Body::Alnum(60),
    },
    Prefix {
        lit: "sha256~",
        skip: 3,
        rule: BuiltinRule::OpenshiftToken,
        keep: 7,
        body: Body::Dashed(40),
    },
    Prefix {
        lit: " -u",
        skip: 0,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::CurlUser,
    },
    Prefix {
        lit: "\t-u",
        skip: 0,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::CurlUser,
    },
    Prefix {
        lit: "--user",
        skip: 1,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::CurlUser,
    },
    Prefix {
        lit: "--password",
        skip: 4,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::FlagValue,
    },
    Prefix {
        lit: "--passwd",
        skip: 4,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::FlagValue,
    },
    Prefix {
        lit: "mysql",
        skip: 1,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::CliCommand(b'p', false),
    },
    Prefix {
        lit: "mariadb",
        skip: 3,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::CliCommand(b'p', false),
    },
    Prefix {
        lit: "sshpass",
        skip: 2,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::CliCommand(b'p', true),
    },
    Prefix {
        lit: "redis-cli",
        skip: 4,
        rule: BuiltinRule::CliPassword,
        keep: 0,
        body: Body::CliCommand(b'a', true),
    },
    Prefix {
        lit: "0Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "1Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "2Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "3Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "4Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "5Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "6Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "7Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "8Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "9Q~",
        skip: 0,
        rule: BuiltinRule::AzureAdClientSecret,
        keep: 0,
        body: Body::AzureSecret,
    },
    Prefix {
        lit: "eyJ",
        skip: 0,
        rule: BuiltinRule::Jwt,
        keep: 0,
        body: Body::Jwt,
    },
    Prefix {
        lit: "-----BEGIN",
        skip: 5,
        rule: BuiltinRule::PrivateKey,
        keep: 0,
        body: Body::Pem,
    },
];

const MAX_PREFIX: usize = 25;

/// The compiled shape rules of one redactor.
pub(crate) struct RuleSet {
    enabled: u64,
    /// Searcher of the 4-byte needles and, for each needle, the `PREFIXES` it may
    /// start (longest literal first).
    long: NeedleSet,
    /// The same for the 3-byte needles (`sk-`, `eyJ`, `xox`, …), searched apart so the
    /// long searcher keeps 4-byte fingerprints.
    short: NeedleSet,
    /// The enabled literals by their first byte, for the check of a literal cut by
    /// the end of a stream window (run once per window on its last bytes).
    lits_by_first: Vec<Vec<&'static [u8]>>,
    pub(crate) custom: Vec<CustomRule>,
    /// Mask text, used to recognise values that were already redacted.
    mask: Vec<u8>,
}

/// Mutable per-stream state of the rule scanners.
#[derive(Default, Clone, Debug)]
pub(crate) struct RuleState {
    /// For each custom rule, where its leftmost-first iteration resumes.
    pub(crate) custom_resume: Vec<usize>,
    /// Where the token-prefix scan resumes: its first undecided literal, or the end
    /// of the window it last saw when it decided everything. Every literal before it
    /// was decided (and its span reported) in an earlier round.
    prefix_resume: usize,
    /// The same for the `=` / `:` / `>` anchor scan.
    anchored_resume: usize,
}

impl RuleState {
    pub(crate) fn shift(&mut self, by: usize) {
        for r in &mut self.custom_resume {
            *r = r.saturating_sub(by);
        }
        self.prefix_resume = self.prefix_resume.saturating_sub(by);
        self.anchored_resume = self.anchored_resume.saturating_sub(by);
    }
}

/// Finds the token prefixes: SIMD Teddy where the CPU has it, Aho-Corasick otherwise.
enum PrefixFinder {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl PrefixFinder {
    fn new<'a>(lits: impl Iterator<Item = &'a [u8]> + Clone) -> PrefixFinder {
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(lits.clone())
            .build();
        match packed {
            Some(s) => PrefixFinder::Packed(s),
            None => PrefixFinder::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(lits)
                    .expect("prefix automaton builds"),
            ),
        }
    }

    /// The leftmost-longest prefix starting at or after `at`: (start, pattern index).
    #[inline]
    fn find(&self, buf: &[u8], at: usize) -> Option<(usize, usize)> {
        match self {
            PrefixFinder::Packed(s) => s
                .find_in(buf, aho_corasick::Span::from(at..buf.len()))
                .map(|m| (m.start(), m.pattern().as_usize())),
            PrefixFinder::Automaton(ac) => ac
                .find(aho_corasick::Input::new(buf).span(at..buf.len()))
                .map(|m| (m.start(), m.pattern().as_usize())),
        }
    }
}

/// Needles searched with 3 bytes (and dispatched to their families afterwards):
/// literals too short for a 4-byte needle, and families that share 3 bytes
/// (`xoxa-` … `xoxe-`, `dp.pt.` … `dp.audit.`), so they cost one needle, not several.
const SHORT_NEEDLES: [&str; 10] = [
    "xox", "sk-", "dp.", "fm1", "EAA", "eyJ", "hf_", "A3-", " -u", "\t-u",
];

/// The needle the searchers look for to find prefix `p`: the literal after its
/// skipped bytes, 4 bytes long (Teddy then compares 4-byte fingerprints, which
/// fire far less often on logs than 3-byte ones), or 3 for [`SHORT_NEEDLES`].
fn needle(p: &Prefix) -> &'static [u8] {
    let rest = &p.lit.as_bytes()[p.skip..];
    if rest.len() < 4 || SHORT_NEEDLES.iter().any(|s| rest.starts_with(s.as_bytes())) {
        &rest[..3.min(rest.len())]
    } else {
        &rest[..4]
    }
}

/// One needle searcher, the second-level table from each needle to its prefixes
/// (longest literal first), and the scalar search of the same needles used right
/// after a hit.
type NeedleSet = Option<(PrefixFinder, Vec<Vec<usize>>, Near)>;

/// How far past a hit [`Near`] looks before handing back to the vector searcher.
const NEAR: usize = 16;

/// The needles of one searcher, found by a scalar scan over a few bytes.
///
/// Restarting the vector searcher costs tens of nanoseconds, which is nothing on a
/// log (a hit every few kilobytes) but dominates input where the needles are dense
/// (`password=` repeated: `sswo` every 9 bytes, `AKIA` every 4). So after a hit the
/// next [`NEAR`] start positions are checked here, from a table of the needles'
/// first two bytes; only when none starts there does the vector searcher resume.
/// Its answer is the vector searcher's: the leftmost needle, the longest at a tie.
struct Near {
    /// Bit `(b0 << 8) | b1` is set when some needle starts with `b0 b1`.
    pairs: Box<[u64; 1024]>,
    /// `(first two bytes, needle index)`, sorted.
    by_pair: Vec<(u16, usize)>,
    /// Each needle's bytes as a little-endian word (needles are 2 to 4 bytes), and
    /// the mask of its length.
    words: Vec<(u32, u32)>,
}

impl Near {
    fn new(needles: &[&'static [u8]]) -> Near {
        let mut pairs = Box::new([0u64; 1024]);
        let mut by_pair = Vec::new();
        let mut words = Vec::new();
        for (k, nd) in needles.iter().enumerate() {
            assert!(
                (2..=4).contains(&nd.len()),
                "prefix needles have two to four bytes"
            );
            let mut w = [0u8; 4];
            w[..nd.len()].copy_from_slice(nd);
            let mask = u32::MAX >> (8 * (4 - nd.len()));
            words.push((u32::from_le_bytes(w), mask));
            let idx = (usize::from(nd[0]) << 8) | usize::from(nd[1]);
            pairs[idx / 64] |= 1 << (idx % 64);
            by_pair.push((idx as u16, k));
        }
        by_pair.sort_unstable();
        Near {
            pairs,
            by_pair,
            words,
        }
    }

    /// The leftmost (then longest) needle starting in `[at, end)`: (start, needle).
    #[inline]
    fn find(&self, buf: &[u8], at: usize, end: usize) -> Option<(usize, usize)> {
        let n = buf.len();
        let stop = end.min(n.saturating_sub(1));
        for i in at..stop {
            let idx = (usize::from(buf[i]) << 8) | usize::from(buf[i + 1]);
            if self.pairs[idx / 64] & (1 << (idx % 64)) == 0 {
                continue;
            }
            // The (up to) four bytes at `i`, zero past the end of `buf`.
            let mut w = [0u8; 4];
            let avail = (n - i).min(4);
            w[..avail].copy_from_slice(&buf[i..i + avail]);
            let word = u32::from_le_bytes(w);
            let fits = u32::MAX >> (8 * (4 - avail));
            let from = self.by_pair.partition_point(|&(p, _)| usize::from(p) < idx);
            let best = self.by_pair[from..]
                .iter()
                .take_while(|&&(p, _)| usize::from(p) == idx)
                .map(|&(_, k)| k)
                .filter(|&k| {
                    let (nw, mask) = self.words[k];
                    mask & fits == mask && (word ^ nw) & mask == 0
                })
                .max_by_key(|&k| self.words[k].1);
            if let Some(k) = best {
                return Some((i, k));
            }
        }
        None
    }
}

/// The order the needles are given to Teddy. Teddy deals patterns round-robin
/// into 16 (8) buckets and a bucket fires when a window matches the union of its
/// patterns' nibbles, so the order decides how often a bucket fires falsely: on the
/// corpus of `benches/` and on real system logs this order (found by a local search,
/// `needle_order` test) runs the long searcher at ~4 GB/s against ~2 GB/s for the
/// table order. Needles not listed (none today) go last.
const NEEDLE_ORDER: [&str; 83] = [
    "-use", "glsa", "gho_", "sswo", "BEGI", "ghp_", "ghs_", "iadb", "glcb", "k_li", "limt", "hpas",
    "ASIA", "eten", "oas-", "b_pa", ".off", "glpa", "glc_", "xapp", "ntn_", "fm2_", "LTAI", "ghr_",
    "gldt", "ZXlK", "EZAK", "glff", "k_te", "s-cl", "ghu_", "ysql", "AIza", "lage", "AKCp", "npm_",
    "_eyJ", "AKIA", "mVmd", "k_pr", "s4t2", "glpt", "i_or", "fo1_", "ABIA", "hvs.", "EZTK", "etPr",
    ".sla", "sswd", "glft", "t0c0", "ypi-", "sgp_", "p8e-", "glso", "256~", "glrt", "hvb.", "ACCA",
    "sntr", "/web", "te_k", "xox", "1Q~", "6Q~", "sk-", "A3-", "EAA", "eyJ", "7Q~", "hf_", "4Q~",
    "fm1", "3Q~", "\t-u", "0Q~", "9Q~", " -u", "8Q~", "2Q~", "dp.", "5Q~",
];

/// The long and short needle searchers over the enabled prefixes, with the
/// second-level table from each needle to its prefixes (longest literal first).
fn needle_sets(prefix_ids: &[usize]) -> (NeedleSet, NeedleSet) {
    let build = |want_long: bool| -> NeedleSet {
        let mut needles: Vec<&'static [u8]> = Vec::new();
        let mut table: Vec<Vec<usize>> = Vec::new();
        for &i in prefix_ids {
            let nd = needle(&PREFIXES[i]);
            if (nd.len() >= 4) != want_long {
                continue;
            }
            match needles.iter().position(|&x| x == nd) {
                Some(k) => table[k].push(i),
                None => {
                    needles.push(nd);
                    table.push(vec![i]);
                }
            }
        }
        if needles.is_empty() {
            return None;
        }
        let rank = |nd: &[u8]| {
            NEEDLE_ORDER
                .iter()
                .position(|o| o.as_bytes() == nd)
                .unwrap_or(usize::MAX)
        };
        let mut order: Vec<usize> = (0..needles.len()).collect();
        order.sort_by_key(|&k| rank(needles[k]));
        let needles: Vec<&'static [u8]> = order.iter().map(|&k| needles[k]).collect();
        let mut table: Vec<Vec<usize>> = order
            .iter()
            .map(|&k| std::mem::take(&mut table[k]))
            .collect();
        for t in &mut table {
            t.sort_by_key(|&i| std::cmp::Reverse(PREFIXES[i].lit.len()));
        }
        let near = Near::new(&needles);
        Some((PrefixFinder::new(needles.into_iter()), table, near))
    };
    (build(true), build(false))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn is_dashed(b: u8) -> bool {
    is_word(b) || b == b'-'
}
fn is_b64url(b: u8) -> bool {
    is_dashed(b)
}
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Length of the run of `pred` bytes at `buf[at..]`, stopping at `cap`; and whether
/// the run reached the end of `buf` (so more bytes might extend it).
fn run(buf: &[u8], at: usize, cap: usize, pred: impl Fn(u8) -> bool) -> (usize, bool) {
    let limit = buf.len().min(at.saturating_add(cap));
    let mut i = at;
    while i < limit && pred(buf[i]) {
        i += 1;
    }
    (i - at, i == buf.len() && i - at < cap)
}

/// Everything [`RuleSet::keyed`] concludes from a key's name alone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct KeyVerdict {
    /// Names an AWS secret access key.
    aws: bool,
    class: KeyClass,
    /// Names a provider whose secrets are long numbers ([`provider_key`]).
    provider: bool,
}

fn key_verdict(ident: &[u8]) -> KeyVerdict {
    let segs = Segments::new(ident);
    KeyVerdict {
        aws: segs.compact_ends_with("secretaccesskey") || segs.compact_eq("awssecretkey"),
        class: classify_key(&segs),
        provider: provider_key(&segs),
    }
}

/// [`key_verdict`]s of the keys one pass has seen, in 8 slots chosen by the key's
/// length and end bytes: a run of anchors that repeat a key (`token:token:…`,
/// `password=password=…`, a log of `key=` lines) splits and classifies it once,
/// not once per anchor. Every answer is exactly `key_verdict(ident)`.
#[derive(Default)]
struct KeyMemo {
    slots: [Option<(u8, [u8; MAX_KEY], KeyVerdict)>; 8],
}

impl KeyMemo {
    fn verdict(&mut self, ident: &[u8]) -> KeyVerdict {
        if ident.is_empty() || ident.len() > MAX_KEY {
            return key_verdict(ident);
        }
        let n = ident.len();
        let h = (n ^ usize::from(ident[0]) ^ (usize::from(ident[n - 1]) << 1)) & 7;
        if let Some((len, bytes, v)) = &self.slots[h] {
            if usize::from(*len) == n && &bytes[..n] == ident {
                return *v;
            }
        }
        let v = key_verdict(ident);
        let mut bytes = [0u8; MAX_KEY];
        bytes[..n].copy_from_slice(ident);
        self.slots[h] = Some((n as u8, bytes, v));
        v
    }
}

/// Scans shared by the anchors of one [`RuleSet::find_anchored`] pass over one buffer.
#[derive(Default)]
struct AnchorMemo {
    keys: KeyMemo,
    run: RunMemo,
    stretch: StretchMemo,
    /// `.` (dotted code references), `://` (URLs) and the mask (already redacted):
    /// the values of one pass overlap (`password=password=…`), so each is found
    /// once per pass instead of once per value.
    dot: Occurs,
    scheme: Occurs,
    mask: Occurs,
}

/// Whether `buf[s..e]` contains a needle, for the overlapping ranges of one pass.
///
/// Holds: the first occurrence starting at or after `from` is `found`; with `None`,
/// no occurrence starts in `[from, to - len]`. A query starting at or after `from`
/// is answered from that, or by searching only the bytes past `to`. Every answer is
/// exactly `memmem::find(&buf[s..e], needle).is_some()`.
#[derive(Default)]
struct Occurs {
    valid: bool,
    from: usize,
    to: usize,
    found: Option<usize>,
}

impl Occurs {
    fn within(&mut self, buf: &[u8], needle: &[u8], s: usize, e: usize) -> bool {
        let len = needle.len();
        if len == 0 {
            return true;
        }
        if e < s + len {
            return false;
        }
        if self.valid && self.from <= s {
            match self.found {
                Some(p) if p >= s => return p + len <= e,
                Some(_) => {}
                None if e <= self.to => return false,
                None => {
                    // Starts in `[s, to - len]` are known to be absent.
                    let lo = (self.to + 1).saturating_sub(len).max(s);
                    let hit = find_short(&buf[lo..e], needle).map(|i| lo + i);
                    *self = Occurs {
                        valid: true,
                        from: s,
                        to: e,
                        found: hit,
                    };
                    return hit.is_some();
                }
            }
        }
        let hit = find_short(&buf[s..e], needle).map(|i| s + i);
        *self = Occurs {
            valid: true,
            from: s,
            to: e,
            found: hit,
        };
        hit.is_some()
    }
}

/// `memmem::find`, without its searcher set-up for the short haystacks that
/// [`Occurs`] extensions mostly search (a few bytes past the last value's end).
#[inline]
fn find_short(hay: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [b] => memchr::memchr(*b, hay),
        [first, ..] if hay.len() < 64 => {
            let last = hay.len().checked_sub(needle.len())?;
            (0..=last).find(|&i| hay[i] == *first && hay[i..].starts_with(needle))
        }
        _ => memchr::memmem::find(hay, needle),
    }
}

/// The unquoted value run of [`value_at`], remembered: every byte of
/// `buf[from..hi]` continues a value (for `query`), and with `stop` the byte at
/// `hi` ends it. A later run starting inside `[from, hi]` ends at the same place
/// (or at its own cap), so it is answered without rescanning.
#[derive(Default)]
struct RunMemo {
    valid: bool,
    query: bool,
    stop: bool,
    from: usize,
    hi: usize,
}

impl RunMemo {
    /// Exactly `run(buf, at, cap, <value byte>)`.
    fn run(&mut self, buf: &[u8], at: usize, cap: usize, query: bool) -> (usize, bool) {
        let n = buf.len();
        let limit = n.min(at.saturating_add(cap));
        if !(self.valid && self.query == query && self.from <= at && at <= self.hi) {
            *self = RunMemo {
                valid: true,
                query,
                stop: false,
                from: at,
                hi: at,
            };
        }
        if !self.stop {
            let value_byte = |b: u8| {
                !is_space(b) && b != b'"' && b != b'\'' && b != b'`' && !(query && b == b'&')
            };
            let mut i = self.hi;
            while i < limit && value_byte(buf[i]) {
                i += 1;
            }
            if i > self.hi {
                self.hi = i;
            }
            self.stop = i < limit;
        }
        let i = self.hi.min(limit);
        (i - at, i == n && i - at < cap)
    }
}

/// Where the first 8 ASCII alphanumerics in a row end: `found` is the smallest
/// `e` with `buf[e-7..=e]` alphanumeric and `e - 7 >= from`; without it,
/// `buf[from..hi]` holds no such run and `cur` alphanumerics end at `hi`.
#[derive(Default)]
struct StretchMemo {
    valid: bool,
    from: usize,
    hi: usize,
    cur: usize,
    found: Option<usize>,
}

impl StretchMemo {
    /// Whether `buf[vs..we]` holds 8 ASCII alphanumerics in a row.
    fn has(&mut self, buf: &[u8], vs: usize, we: usize) -> bool {
        let reuse = self.valid
            && self.from <= vs
            && match self.found {
                Some(e) => e >= vs + 7,
                None => vs <= self.hi,
            };
        if !reuse {
            *self = StretchMemo {
                valid: true,
                from: vs,
                hi: vs,
                cur: 0,
                found: None,
            };
        }
        if let Some(e) = self.found {
            return e < we;
        }
        self.cur = self.cur.min(self.hi - vs);
        self.from = vs;
        let mut i = self.hi;
        while i < we {
            if buf[i].is_ascii_alphanumeric() {
                self.cur += 1;
                if self.cur >= 8 {
                    self.found = Some(i);
                    self.hi = i + 1;
                    return true;
                }
            } else {
                self.cur = 0;
            }
            i += 1;
        }
        self.hi = i;
        false
    }
}

/// Outcome of checking one candidate.
enum Check {
    /// Decided: nothing here.
    None,
    /// Decided: mask this span.
    Span(Span),
    /// Decided: mask these spans (one command line with several password flags).
    Spans(Vec<Span>),
    /// More bytes are needed to decide.
    Undecided,
}

impl RuleSet {
    pub(crate) fn new(disabled: &[BuiltinRule], custom: Vec<CustomRule>, mask: &[u8]) -> RuleSet {
        let mut enabled = 0u64;
        for r in BuiltinRule::ALL {
            if !disabled.contains(&r) {
                enabled |= r.bit();
            }
        }
        let prefix_ids: Vec<usize> = PREFIXES
            .iter()
            .enumerate()
            .filter(|(_, p)| enabled & p.rule.bit() != 0)
            .map(|(i, _)| i)
            .collect();
        let (long, short) = needle_sets(&prefix_ids);
        let mut lits_by_first = vec![Vec::new(); 256];
        for &i in &prefix_ids {
            let lit = PREFIXES[i].lit.as_bytes();
            lits_by_first[usize::from(lit[0])].push(lit);
        }
        RuleSet {
            enabled,
            long,
            short,
            lits_by_first,
            custom,
            mask: mask.to_vec(),
        }
    }

    pub(crate) fn is_enabled(&self, rule: BuiltinRule) -> bool {
        self.enabled & rule.bit() != 0
    }

    /// Find every decided span whose anchor is at or after `from`. Returns the first
    /// anchor that could not be decided without more input (`buf.len()` at eof).
    pub(crate) fn find(
        &self,
        buf: &[u8],
        from: usize,
        eof: bool,
        state: &mut RuleState,
        spans: &mut Vec<Span>,
    ) -> usize {
        let n = buf.len();
        let mut undecided = n;
        // Each group resumes where it stopped deciding, not at the common commit
        // point: another group holding the commit back (an unterminated
        // `-----BEGIN` block) must not make this one rescan its decided anchors on
        // every write (`token:` runs written byte by byte were quadratic).
        // Decisions are final (a check answers `Undecided` whenever more input
        // could change it), and spans decided earlier were kept by the stream.
        let u = self
            .find_prefixes(buf, from.max(state.prefix_resume), eof, spans)
            .unwrap_or(n);
        state.prefix_resume = u;
        undecided = undecided.min(u);
        let u = self
            .find_anchored(buf, from.max(state.anchored_resume), eof, spans)
            .unwrap_or(n);
        state.anchored_resume = u;
        undecided = undecided.min(u);
        if !self.custom.is_empty() {
            undecided = undecided.min(self.find_custom(buf, from, eof, state, spans));
        }
        undecided.max(from)
    }

    fn find_prefixes(
        &self,
        buf: &[u8],
        from: usize,
        eof: bool,
        spans: &mut Vec<Span>,
    ) -> Option<usize> {
        if self.long.is_none() && self.short.is_none() {
            return None;
        }
        let n = buf.len();
        // Two searchers walked in step: the next hit of each, the lower one first.
        // Right after a hit (`near`), the next few positions are scanned without
        // restarting the vector searcher ([`Near`]).
        let next = |set: &NeedleSet, at: usize, near: bool| {
            let (f, _, local) = set.as_ref()?;
            if at >= n {
                return None;
            }
            if !near {
                return f.find(buf, at);
            }
            let end = (at + NEAR).min(n);
            match local.find(buf, at, end) {
                Some(hit) => Some(hit),
                None if end < n => f.find(buf, end),
                None => None,
            }
        };
        let mut hl = next(&self.long, from, false);
        let mut hs = next(&self.short, from, false);
        // Start of the last literal the long searcher matched: a short needle at the
        // same place (`sk-` inside `sk-ant-`) is the same token.
        let mut long_start = usize::MAX;
        loop {
            let (found, nid, is_long) = match (hl, hs) {
                (None, None) => break,
                (Some((f, id)), None) => (f, id, true),
                (None, Some((f, id))) => (f, id, false),
                (Some((fl, il)), Some((fs, is))) => {
                    if fl <= fs {
                        (fl, il, true)
                    } else {
                        (fs, is, false)
                    }
                }
            };
            let (set, _) = if is_long {
                hl = next(&self.long, found + 1, true);
                (&self.long, ())
            } else {
                hs = next(&self.short, found + 1, true);
                (&self.short, ())
            };
            let Some((_, table, _)) = set else { continue };
            // Second level: the families this needle can start, longest literal first.
            for &i in &table[nid] {
                let p = &PREFIXES[i];
                if found < p.skip || !buf[found - p.skip..].starts_with(p.lit.as_bytes()) {
                    continue;
                }
                let start = found - p.skip;
                if is_long {
                    long_start = start;
                } else if start == long_start {
                    break;
                }
                match check_prefix(buf, start, p, eof, &self.mask) {
                    // (An Azure secret starts three bytes before its needle.)
                    Check::Undecided if matches!(p.body, Body::AzureSecret) => {
                        return Some(start.saturating_sub(3))
                    }
                    Check::Undecided => return Some(start),
                    Check::Span(s) => self.push(buf, s, spans),
                    Check::Spans(found) => {
                        for s in found {
                            self.push(buf, s, spans);
                        }
                    }
                    Check::None => {}
                }
                break;
            }
        }
        if !eof {
            // An Azure AD secret's first bytes (`abc`, `abc8`, `abc8Q`) come before
            // its needle (`8Q~`): hold them back too.
            let mut azure = None;
            if self.is_enabled(BuiltinRule::AzureAdClientSecret) {
                for i in n.saturating_sub(5).max(from)..n {
                    let tail = &buf[i..];
                    let shape = tail.iter().enumerate().all(|(k, &b)| match k {
                        0..=2 => is_azure(b),
                        3 => b.is_ascii_digit(),
                        _ => b == b'Q',
                    });
                    if shape && (i == 0 || !is_azure(buf[i - 1])) {
                        azure = Some(i);
                        break;
                    }
                }
            }
            // A literal prefix cut by the end of the buffer.
            let tail_start = n.saturating_sub(MAX_PREFIX - 1).max(from);
            for i in tail_start..n {
                let tail = &buf[i..];
                if self.lits_by_first[usize::from(tail[0])]
                    .iter()
                    .any(|lit| lit.starts_with(tail))
                {
                    return Some(azure.map_or(i, |a| a.min(i)));
                }
            }
            if azure.is_some() {
                return azure;
            }
        }
        None
    }

    fn find_anchored(
        &self,
        buf: &[u8],
        from: usize,
        eof: bool,
        spans: &mut Vec<Span>,
    ) -> Option<usize> {
        let want_url = self.is_enabled(BuiltinRule::UrlUserinfo);
        let want_keyed = self.is_enabled(BuiltinRule::CredentialAssignment)
            || self.is_enabled(BuiltinRule::XAccessToken)
            || self.is_enabled(BuiltinRule::AuthorizationHeader)
            || self.is_enabled(BuiltinRule::AwsSecretKey);
        if !want_url && !want_keyed {
            return None;
        }
        let mut result = None;
        let mut memo = AnchorMemo::default();
        for_each_candidate(buf, from, |a| {
            if !quick_candidate(buf, a) {
                return true;
            }
            match self.check_anchor(buf, a, eof, want_url, want_keyed, &mut memo) {
                Check::Undecided => {
                    result = Some(a);
                    return false;
                }
                Check::Span(s) => {
                    if !memo.mask.within(buf, &self.mask, s.start, s.end) {
                        spans.push(s);
                    }
                }
                Check::Spans(found) => {
                    for s in found {
                        if !memo.mask.within(buf, &self.mask, s.start, s.end) {
                            spans.push(s);
                        }
                    }
                }
                Check::None => {}
            }
            true
        });
        result
    }

    /// The full check of one anchor (a few percent of them get here).
    #[inline(never)]
    fn check_anchor(
        &self,
        buf: &[u8],
        a: usize,
        eof: bool,
        want_url: bool,
        want_keyed: bool,
        memo: &mut AnchorMemo,
    ) -> Check {
        let n = buf.len();
        if buf[a] == b'>' {
            return if want_keyed && self.is_enabled(BuiltinRule::CredentialAssignment) {
                self.xml_element(buf, a, eof)
            } else {
                Check::None
            };
        }
        if buf[a] == b':' && want_url && (a + 1 >= n || buf[a + 1] == b'/') {
            match url_userinfo(buf, a, eof, &self.mask) {
                Check::None if want_keyed => self.keyed(buf, a, eof, memo),
                c => c,
            }
        } else if want_keyed && credential_ending(buf, assign_key_end(buf, a)) {
            self.keyed(buf, a, eof, memo)
        } else {
            Check::None
        }
    }

    /// Record a shape match, unless it already holds a mask: a value or token that
    /// contains the mask is output of an earlier redaction (or a placeholder such as
    /// `Bearer ***`), and masking it again would make redaction not idempotent.
    fn push(&self, buf: &[u8], s: Span, spans: &mut Vec<Span>) {
        if memchr::memmem::find(&buf[s.start..s.end], &self.mask).is_none() {
            spans.push(s);
        }
    }

    /// `key = value`, `key: value`, headers and `x-access-token:`.
    ///
    /// `memo` carries value scans from one anchor to the next of the same pass, so
    /// a run of anchors inside one long value (`token:token:…`, `password=password=…`)
    /// costs linear time instead of a rescan of up to [`MAX_VALUE`] bytes per anchor;
    /// every verdict is exactly the one a fresh scan would give.
    fn keyed(&self, buf: &[u8], a: usize, eof: bool, memo: &mut AnchorMemo) -> Check {
        if !eof && a + 1 >= buf.len() {
            return Check::Undecided;
        }
        let n = buf.len();
        let is_colon = buf[a] == b':';
        // `==`, `!=`, `<=`, `>=`, `::` are operators, not assignments; `:=`, `::=`,
        // `?=`, `.=`, `+=` are assignments decided at their `=`; `=>` (PHP, Ruby,
        // logstash) assigns.
        if a + 1 < n && buf[a + 1] == b'=' && !is_colon {
            return Check::None;
        }
        if is_colon && a + 1 < n && matches!(buf[a + 1], b':' | b'=') {
            return Check::None;
        }
        if a > 0 && matches!(buf[a - 1], b'=' | b'!' | b'<' | b'>') {
            return Check::None;
        }
        if is_colon && a > 0 && buf[a - 1] == b':' {
            return Check::None;
        }
        let arrow = !is_colon && a + 1 < n && buf[a + 1] == b'>';
        let vstart = if arrow { a + 2 } else { a + 1 };
        let e = assign_key_end(buf, a);
        if !credential_ending(buf, e) {
            return Check::None;
        }
        let Some(key) = key_from_end(buf, e) else {
            return Check::None;
        };
        // `<add key="Password" value="…">`: the value's key is the quoted name before it.
        if buf[key.start..key.end].eq_ignore_ascii_case(b"value") {
            return self.key_value_pair(buf, key.start, vstart, eof);
        }
        // A key glued to a mask was longer before redaction; judging the shorter
        // remainder could mask what the first pass kept (not idempotent).
        if buf[..key.start].ends_with(&self.mask) {
            return Check::None;
        }
        let ident = &buf[key.start..key.end];
        if !quick_keyword(ident) {
            return Check::None;
        }
        if !eof && vstart >= n {
            return Check::Undecided;
        }
        if is_colon
            && ident.eq_ignore_ascii_case(b"x-access-token")
            && self.is_enabled(BuiltinRule::XAccessToken)
        {
            let (len, open) = run(buf, a + 1, MAX_VALUE, |b| !is_space(b) && b != b'@');
            if open && !eof {
                return Check::Undecided;
            }
            if is_placeholder(&buf[a + 1..a + 1 + len]) {
                return Check::None;
            }
            return span_if(a + 1, len);
        }
        if is_colon
            && (ident.eq_ignore_ascii_case(b"authorization")
                || ident.eq_ignore_ascii_case(b"proxy-authorization"))
            && self.is_enabled(BuiltinRule::AuthorizationHeader)
        {
            return authorization(buf, a + 1, eof);
        }
        let verdict = memo.keys.verdict(ident);
        if verdict.aws && self.is_enabled(BuiltinRule::AwsSecretKey) {
            match value_at_memo(buf, vstart, eof, key.query, &mut memo.run) {
                Value::Undecided => return Check::Undecided,
                Value::None => return Check::None,
                Value::At(s) => {
                    let v = &buf[s.start..s.end];
                    if v.len() == 40
                        && v.iter()
                            .all(|&b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
                    {
                        return Check::Span(s);
                    }
                    if !self.is_enabled(BuiltinRule::CredentialAssignment) {
                        return Check::None;
                    }
                }
            }
        }
        if !self.is_enabled(BuiltinRule::CredentialAssignment) {
            return Check::None;
        }
        let class = verdict.class;
        if class == KeyClass::None {
            return Check::None;
        }
        match value_at_memo(buf, vstart, eof, key.query, &mut memo.run) {
            Value::Undecided => Check::Undecided,
            Value::None => Check::None,
            Value::At(s) => {
                // A token value without 8 alphanumerics in a row fails `token_like`
                // (so `plausible_secret`) and `provider_number` (16+ digits): decided
                // from the shared scan instead of a pass over the value.
                if class == KeyClass::Token && !memo.stretch.has(buf, s.start, s.end) {
                    return Check::None;
                }
                let v = &buf[s.start..s.end];
                let AnchorMemo { dot, scheme, .. } = memo;
                let mut contains = |needle: &[u8]| {
                    let m = if needle == b"." {
                        &mut *dot
                    } else {
                        &mut *scheme
                    };
                    m.within(buf, needle, s.start, s.end)
                };
                if plausible_secret_by(v, class, &self.mask, &mut contains)
                    || (verdict.provider && provider_digits(v))
                {
                    Check::Span(s)
                } else {
                    Check::None
                }
            }
        }
    }

    /// `<dbPassword>value</dbPassword>`, also with the value on its own line.
    fn xml_element(&self, buf: &[u8], a: usize, eof: bool) -> Check {
        let n = buf.len();
        if !credential_ending(buf, a) {
            return Check::None;
        }
        let mut s = a;
        while s > 0
            && a - s < MAX_KEY
            && (is_dashed(buf[s - 1]) || matches!(buf[s - 1], b'.' | b':'))
        {
            s -= 1;
        }
        if s == 0 || buf[s - 1] != b'<' || a - s < 3 || buf[..s - 1].ends_with(&self.mask) {
            return Check::None;
        }
        let tag = &buf[s..a];
        let tag_segs = Segments::new(tag);
        let class = classify_key(&tag_segs);
        if class == KeyClass::None {
            return Check::None;
        }
        // The value: after spaces and at most one line break, up to `<`.
        let (ws, open) = run(buf, a + 1, 64, is_space);
        if open && !eof {
            return Check::Undecided;
        }
        let v = a + 1 + ws;
        let (len, open) = run(buf, v, MAX_VALUE, |b| b != b'<' && b != b'\n' && b != b'\r');
        if open && !eof {
            return Check::Undecided;
        }
        let mut end = v + len;
        while end > v && is_space(buf[end - 1]) {
            end -= 1;
        }
        // Then the closing tag, after spaces.
        let (ws2, open) = run(buf, v + len, 64, is_space);
        if open && !eof {
            return Check::Undecided;
        }
        let close = v + len + ws2;
        if close + 2 + tag.len() > n {
            return if eof { Check::None } else { Check::Undecided };
        }
        if &buf[close..close + 2] != b"</" || &buf[close + 2..close + 2 + tag.len()] != tag {
            return Check::None;
        }
        if end > v
            && (plausible_secret(&buf[v..end], class, &self.mask)
                || provider_number(&tag_segs, &buf[v..end]))
        {
            Check::Span(Span::new(v, end))
        } else {
            Check::None
        }
    }

    /// `key="Password" value="…"` / `name="db_password" value="…"` (XML config
    /// attributes): classify the quoted name before `value`, mask the value.
    fn key_value_pair(&self, buf: &[u8], value_key: usize, vstart: usize, eof: bool) -> Check {
        if !self.is_enabled(BuiltinRule::CredentialAssignment) {
            return Check::None;
        }
        // Back over spaces to a closing quote, then the quoted name.
        let mut e = value_key;
        while e > 0 && value_key - e < 8 && matches!(buf[e - 1], b' ' | b'\t') {
            e -= 1;
        }
        if e == 0 || !matches!(buf[e - 1], b'"' | b'\'') {
            return Check::None;
        }
        let q = buf[e - 1];
        let name_end = e - 1;
        let mut s = name_end;
        while s > 0
            && name_end - s < MAX_KEY
            && buf[s - 1] != q
            && is_dashed(buf[s - 1]) | (buf[s - 1] == b'.')
        {
            s -= 1;
        }
        if s == 0 || buf[s - 1] != q || s + 3 > name_end {
            return Check::None;
        }
        let attr = &buf[s.saturating_sub(8)..s - 1];
        let attr = trim_end_eq(attr);
        if !(attr.ends_with(b"key")
            || attr.ends_with(b"name")
            || attr.ends_with(b"Key")
            || attr.ends_with(b"Name"))
        {
            return Check::None;
        }
        let class = classify_key(&Segments::new(&buf[s..name_end]));
        if class == KeyClass::None {
            return Check::None;
        }
        match value_at(buf, vstart, eof, false) {
            Value::Undecided => Check::Undecided,
            Value::None => Check::None,
            Value::At(sp) if plausible_secret(&buf[sp.start..sp.end], class, &self.mask) => {
                Check::Span(sp)
            }
            Value::At(_) => Check::None,
        }
    }

    fn find_custom(
        &self,
        buf: &[u8],
        from: usize,
        eof: bool,
        state: &mut RuleState,
        spans: &mut Vec<Span>,
    ) -> usize {
        let n = buf.len();
        state.custom_resume.resize(self.custom.len(), 0);
        let mut undecided = n;
        for (rule, resume) in self.custom.iter().zip(state.custom_resume.iter_mut()) {
            let at = (*resume).max(from);
            *resume = super::custom::find(&rule.bounded, rule.max_len, buf, at, eof, spans);
            undecided = undecided.min(*resume);
        }
        undecided
    }
}

/// Call `f` with the position of every `=`, `:` and `>` at or after `from`, in order,
/// until it returns `false`. Anchors are dense in logs (JSON, timestamps: one in
/// ~30 bytes), so instead of restarting a search per hit, each 64-byte block is
/// turned into a bitmask (the compiler vectorises the comparison) and its set bits
/// are walked.
#[inline]
fn for_each_anchor(buf: &[u8], from: usize, mut f: impl FnMut(usize) -> bool) {
    let n = buf.len();
    let mut i = from;
    while i + 64 <= n {
        let block: &[u8; 64] = buf[i..i + 64].try_into().expect("64-byte block");
        let mut mask = simd::anchor_mask(block);
        while mask != 0 {
            let at = i + mask.trailing_zeros() as usize;
            if !f(at) {
                return;
            }
            mask &= mask - 1;
        }
        i += 64;
    }
    for (j, &b) in buf[i..].iter().enumerate() {
        if (b == b'=' || b == b':' || b == b'>') && !f(i + j) {
            return;
        }
    }
}

/// The nibble form of [`ENDING_PAIRS`] for [`simd::candidate_masks`].
static ENDING_NIBBLES: simd::EndingNibbles = simd::ending_nibbles(&ENDING_PAIRS);

/// Like [`for_each_anchor`], but skips most anchors that [`quick_candidate`]
/// rejects, 16 bytes at a time: `f` sees a superset of the accepted anchors (and
/// still runs the exact look), in order. Anchors are one in ~30 bytes of a log and
/// ~97% of them are rejected, so this keeps the per-anchor scalar work off the
/// common path.
#[inline]
fn for_each_candidate(buf: &[u8], from: usize, mut f: impl FnMut(usize) -> bool) {
    if !simd::has_candidate_mask() {
        return for_each_anchor(buf, from, f);
    }
    let n = buf.len();
    let mut i = from;
    while i < n.min(3) {
        if matches!(buf[i], b'=' | b':' | b'>') && !f(i) {
            return;
        }
        i += 1;
    }
    // Masks are computed 64 blocks (4 KiB) at a time, then walked.
    let mut masks = [0u64; 64];
    while i + 65 <= n {
        let blocks = ((n - i - 1) / 64).min(masks.len());
        simd::candidate_masks(buf, i, &ENDING_NIBBLES, &mut masks[..blocks]);
        for (k, &m) in masks[..blocks].iter().enumerate() {
            let mut mask = m;
            while mask != 0 {
                let at = i + 64 * k + mask.trailing_zeros() as usize;
                if !f(at) {
                    return;
                }
                mask &= mask - 1;
            }
        }
        i += 64 * blocks;
    }
    for_each_anchor(buf, i, f);
}

fn span_if(start: usize, len: usize) -> Check {
    if len == 0 {
        Check::None
    } else {
        Check::Span(Span::new(start, start + len))
    }
}

fn check_prefix(buf: &[u8], m: usize, p: &Prefix, eof: bool, mask: &[u8]) -> Check {
    let n = buf.len();
    let lit = p.lit.len();
    match p.body {
        Body::AzureSecret => return azure_secret(buf, m, eof),
        Body::CurlUser => return curl_user(buf, m, lit, eof, mask),
        _ => {}
    }
    if !matches!(p.body, Body::Pem) && m > 0 {
        let prev = buf[m - 1];
        let glued = match p.body {
            Body::Jwt => is_b64url(prev) || prev == b'.',
            _ => is_word(prev),
        };
        // A token glued to a word (or to `word-`: `2018-250-xoxo-indieweb-1.jpg`) is
        // not a token; nor is one glued to a mask, which is where a word stood
        // before redaction (this keeps redaction idempotent).
        let dash_glued = prev == b'-' && !matches!(p.body, Body::Jwt);
        // Inside a base64 blob (`…fQ+EZAKGqQR…/3Vm…`) a prefix is chance, not a token.
        let b64_glued = matches!(prev, b'+' | b'/')
            && matches!(p.body, Body::Alnum(_) | Body::Base64(_) | Body::Word(_));
        if glued || dash_glued || b64_glued || buf[..m].ends_with(mask) {
            return Check::None;
        }
    }
    let body = m + lit;
    match p.body {
        Body::Word(min) | Body::Dashed(min) | Body::Alnum(min) => {
            let pred: fn(u8) -> bool = match p.body {
                Body::Word(_) => is_word,
                Body::Dashed(_) => is_dashed,
                _ => |b: u8| b.is_ascii_alphanumeric(),
            };
            let (len, open) = run(buf, body, MAX_TOKEN, pred);
            if open && !eof {
                return Check::Undecided;
            }
            if len < min || placeholder_body(&buf[body..body + len]) {
                return Check::None;
            }
            let v = &buf[body..body + len];
            // Legacy workspace tokens (`xoxa-`, `xoxr-`) can be short: `xoxa-3aan7h7apviy`.
            let slack_min = if matches!(p.lit, "xoxa-" | "xoxr-") {
                10
            } else {
                20
            };
            if p.rule == BuiltinRule::SlackToken && (len < slack_min || !slack_body(p.lit, v)) {
                return Check::None;
            }
            if !family_body(p.rule, v, buf.get(body + len).copied()) {
                return Check::None;
            }
            Check::Span(Span::new(m + p.keep, body + len))
        }
        Body::UpperExact(want) => {
            let (len, open) = run(buf, body, want + 1, |b| {
                b.is_ascii_uppercase() || b.is_ascii_digit()
            });
            if open && !eof {
                return Check::Undecided;
            }
            if len != want {
                return Check::None;
            }
            let after = body + want;
            if after < n && buf[after].is_ascii_alphanumeric() {
                return Check::None;
            }
            if placeholder_body(&buf[body..after]) {
                return Check::None;
            }
            Check::Span(Span::new(m + p.keep, after))
        }
        Body::Jwt => jwt(buf, m, eof),
        Body::Pem => pem(buf, m, eof, mask),
        Body::CallPair => call_pair(buf, body, eof, mask),
        Body::FlagValue => flag_value(buf, body, eof, mask),
        Body::CliCommand(flag, spaced) => {
            cli_command(buf, body, p.lit.as_bytes(), flag, spaced, eof, mask)
        }
        Body::KeyId => key_id(buf, body, eof),
        Body::AzureSecret | Body::CurlUser => Check::None,
        Body::Base64(min)
        | Body::UpperDashed(min)
        | Body::DottedAlnum(min)
        | Body::UrlPath(min) => {
            let pred: fn(u8) -> bool = match p.body {
                Body::Base64(_) => |b: u8| is_dashed(b) || matches!(b, b'+' | b'/' | b'='),
                Body::UpperDashed(_) => {
                    |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'
                }
                Body::DottedAlnum(_) => |b: u8| b.is_ascii_alphanumeric() || b == b'.',
                _ => |b: u8| is_dashed(b) || matches!(b, b'/' | b'+' | b'@' | b'.'),
            };
            let (len, open) = run(buf, body, MAX_TOKEN, pred);
            if open && !eof {
                return Check::Undecided;
            }
            let v = &buf[body..body + len];
            if len < min || placeholder_body(v) {
                return Check::None;
            }
            if matches!(p.body, Body::UpperDashed(_))
                && v.iter().filter(|&&b| b == b'-').count() < 3
            {
                return Check::None;
            }
            if !family_body(p.rule, v, buf.get(body + len).copied()) {
                return Check::None;
            }
            Check::Span(Span::new(m + p.keep, body + len))
        }
        Body::KindDot(min) => {
            let (kl, open) = run(buf, body, 6, |b| b.is_ascii_lowercase());
            if open && !eof {
                return Check::Undecided;
            }
            let dot = body + kl;
            if !(2..=5).contains(&kl) || dot >= n {
                return if dot >= n && !eof {
                    Check::Undecided
                } else {
                    Check::None
                };
            }
            if buf[dot] != b'.' {
                return Check::None;
            }
            let (len, open) = run(buf, dot + 1, MAX_TOKEN, |b| b.is_ascii_alphanumeric());
            if open && !eof {
                return Check::Undecided;
            }
            if len < min || placeholder_body(&buf[dot + 1..dot + 1 + len]) {
                return Check::None;
            }
            Check::Span(Span::new(dot + 1, dot + 1 + len))
        }
    }
}

/// A token body that is a placeholder or a documented example: `ghp_xxxx…`,
/// `AKIAXXXXXXXXXXXXXXXX`, `glpat-XXXX…`, `AKIAIOSFODNN7EXAMPLE`, `ghp_<your token>`
/// (cut at `<`), `sk-your-key-here`.
fn placeholder_body(body: &[u8]) -> bool {
    let alnum = body.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    let xs = body.iter().filter(|&&b| b == b'x' || b == b'X').count();
    // (`ghs_x` stays masked, as the reference does: four `x` make a placeholder.)
    if alnum == 0 || (xs >= 4 && xs * 2 >= alnum) {
        return true;
    }
    let has = |w: &[u8]| memchr::memmem::find(body, w).is_some();
    has(b"EXAMPLE")
        || has(b"example")
        || body.starts_with(b"your")
        || body.starts_with(b"YOUR")
        || body.ends_with(b"Here")
        || body.ends_with(b"HERE")
        || body.ends_with(b"here")
        || has(b"-here")
        || has(b"_here")
        || has(b"xxxx")
        || has(b"XXXX")
}

/// Per-family shape checks beyond the character class and length.
fn family_body(rule: BuiltinRule, v: &[u8], next: Option<u8>) -> bool {
    match rule {
        // `hf_` + 34 letters; not an identifier such as `hf_requiredCharacteristicTypes…`
        // or `hf_field_name`.
        BuiltinRule::HuggingfaceToken => {
            v.len() <= 40 && next != Some(b'_') && v.iter().all(u8::is_ascii_alphabetic)
        }
        // `sntryu_` + 64 hex; `sntrys_eyJ…_` + 43 base64 characters.
        BuiltinRule::SentryToken => {
            if v.len() == 64 && v.iter().all(u8::is_ascii_hexdigit) {
                return true;
            }
            v.iter()
                .rposition(|&b| b == b'_')
                .is_some_and(|u| v.len() - u - 1 == 43)
        }
        // `ntn_` + 11 digits + 35 alphanumerics.
        BuiltinRule::NotionToken => v.iter().any(u8::is_ascii_alphabetic),
        // `sgp_[local_]<hex>`
        BuiltinRule::SourcegraphToken => {
            let v = v.strip_prefix(b"local_").unwrap_or(v);
            v.iter().all(|&b| b.is_ascii_hexdigit() || b == b'_')
        }
        _ => true,
    }
}

/// Slack tokens number their parts: `xoxb-1234…`, `xoxe-1-…`, `xapp-1-…`; legacy
/// `xoxa-` / `xoxr-` tokens at least hold a digit.
fn slack_body(lit: &str, body: &[u8]) -> bool {
    match lit {
        "xoxa-" | "xoxr-" => body.iter().any(u8::is_ascii_digit),
        _ => body.first().is_some_and(u8::is_ascii_digit),
    }
}

/// Bytes of an Azure AD client secret.
fn is_azure(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'.')
}

/// `xxxNQ~…` with `m` at the digit: gitleaks' shape, bounded on both sides by
/// quotes, spaces or punctuation.
fn azure_secret(buf: &[u8], m: usize, eof: bool) -> Check {
    let n = buf.len();
    if m < 3 || !buf[m - 3..m].iter().all(|&b| is_azure(b)) {
        return Check::None;
    }
    let s = m - 3;
    if s > 0 && !(is_space(buf[s - 1]) || b"\\'\"`>=:(,)".contains(&buf[s - 1])) {
        return Check::None;
    }
    let (len, open) = run(buf, m + 3, 35, |b| is_azure(b) || b == b'-');
    if open && !eof {
        return Check::Undecided;
    }
    let end = m + 3 + len;
    if !(31..=34).contains(&len) {
        return Check::None;
    }
    if end < n && !(is_space(buf[end]) || b"\\'\"`<),".contains(&buf[end])) {
        return Check::None;
    }
    Check::Span(Span::new(s, end))
}

/// `-u user:pass` / `--user user:pass` / `--user=…`, quoted or not, `m` at the
/// literal (` -u`, `\t-u`, `--user`). The password is masked (the user name when
/// the password is empty: `-u sk_live_…:`). After `curl` (within the look-behind)
/// any such pair is a credential; elsewhere (`docker run -u 1000:1000`,
/// `-u www-data:www-data`) only a password that looks like one.
fn curl_user(buf: &[u8], m: usize, lit: usize, eof: bool, mask: &[u8]) -> Check {
    let n = buf.len();
    if buf[m] == b'-' && m > 0 && !is_space(buf[m - 1]) {
        return Check::None;
    }
    let after = m + lit;
    if after >= n {
        return if eof { Check::None } else { Check::Undecided };
    }
    let mut v = after;
    if buf[v] == b'=' && lit == 6 {
        v += 1;
    } else if !matches!(buf[v], b' ' | b'\t') {
        return Check::None;
    }
    let (ws, open) = run(buf, v, 6, |b| b == b' ' || b == b'\t');
    if open && !eof {
        return Check::Undecided;
    }
    v += ws;
    if v >= n {
        return if eof { Check::None } else { Check::Undecided };
    }
    let (start, len) = if matches!(buf[v], b'"' | b'\'') {
        let q = buf[v];
        let (len, open) = run(buf, v + 1, MAX_VALUE, |b| b != q && b != b'\n');
        if open && !eof {
            return Check::Undecided;
        }
        if v + 1 + len >= n || buf[v + 1 + len] != q {
            return Check::None;
        }
        (v + 1, len)
    } else {
        let (len, open) = run(buf, v, MAX_VALUE, |b| {
            !is_space(b) && b != b'"' && b != b'\''
        });
        if open && !eof {
            return Check::Undecided;
        }
        (v, len)
    };
    let value = &buf[start..start + len];
    if is_placeholder(value) {
        return Check::None;
    }
    let Some(colon) = value.iter().position(|&b| b == b':') else {
        return Check::None;
    };
    let (user, pass) = (&value[..colon], &value[colon + 1..]);
    let (secret, at) = if pass.is_empty() {
        (user, start)
    } else {
        (pass, start + colon + 1)
    };
    if secret.len() < 3 || is_placeholder(secret) || memchr::memmem::find(value, mask).is_some() {
        return Check::None;
    }
    if placeholder_body(secret) {
        return Check::None;
    }
    // `curl` counts only in the same command: after the last newline (a `\`-continued
    // one does not end it), `;` or `|` before `-u`. A fixed byte window alone made
    // the verdict depend on how long the masked text before it was, so redacting twice
    // could mask `docker run -u 1000:1000` on a later line (found by the stream fuzzer).
    let lo = m.saturating_sub(LOOKBEHIND);
    let mut seg = lo;
    for i in (lo..m).rev() {
        let b = buf[i];
        let continued = b == b'\n' && i > lo && buf[i - 1] == b'\\';
        if matches!(b, b'\n' | b';' | b'|') && !continued {
            seg = i + 1;
            break;
        }
    }
    // A mask between that `curl` and this `-u` means an earlier flag of the same
    // command was already masked: the look-behind could then reach `curl` only
    // because the masked text is shorter than the secret was, so it does not count
    // (else redacting twice masks `docker run -u 1000:1000` after `curl -u a:…`;
    // found by the stream fuzzer).
    let curl = memchr::memmem::rfind(&buf[seg..m], b"curl")
        .is_some_and(|c| memchr::memmem::find(&buf[seg + c..m], mask).is_none());
    if !curl {
        let symbol = secret
            .iter()
            .any(|&b| !b.is_ascii_alphanumeric() && !matches!(b, b'-' | b'_' | b'.'));
        let digits = secret.iter().all(u8::is_ascii_digit);
        if user == pass || digits || secret.len() < 6 || !(token_like(secret) || symbol) {
            return Check::None;
        }
    }
    Check::Span(Span::new(at, at + secret.len()))
}

/// `": "<32–64 hex>"` after `private_key_id` (JSON, or `=` in an env file).
fn key_id(buf: &[u8], at: usize, eof: bool) -> Check {
    let n = buf.len();
    let (sep, open) = run(buf, at, 8, |b| {
        matches!(b, b'"' | b'\'' | b' ' | b':' | b'=')
    });
    if open && !eof {
        return Check::Undecided;
    }
    let seps = &buf[at..at + sep];
    if !seps.iter().any(|&b| b == b':' || b == b'=') {
        return Check::None;
    }
    let v = at + sep;
    let (len, open) = run(buf, v, 65, |b| b.is_ascii_hexdigit());
    if open && !eof {
        return Check::Undecided;
    }
    if !(32..=64).contains(&len) || (v + len < n && buf[v + len].is_ascii_alphanumeric()) {
        return Check::None;
    }
    Check::Span(Span::new(v, v + len))
}

/// `--password <value>` at `at` (just after the literal).
fn flag_value(buf: &[u8], at: usize, eof: bool, mask: &[u8]) -> Check {
    let n = buf.len();
    if at >= n {
        return if eof { Check::None } else { Check::Undecided };
    }
    if !matches!(buf[at], b' ' | b'\t') {
        return Check::None;
    }
    match value_at(buf, at, eof, false) {
        Value::Undecided => Check::Undecided,
        Value::None => Check::None,
        Value::At(s) => {
            let v = &buf[s.start..s.end];
            if v[0] == b'-' || !plausible_secret(v, KeyClass::Password, mask) {
                Check::None
            } else {
                Check::Span(s)
            }
        }
    }
}

/// A command word (`mysql`, `mysqldump`, `sshpass`, `redis-cli`) ending at `at`:
/// its password flag later on the same command line (up to `;`, `|`, `&` or the
/// line's end, within [`MAX_VALUE`]) is masked — `-pSECRET` glued, and with
/// `spaced` also `-p SECRET`. `mysql -p` alone (a prompt) and `-P 3306` are kept.
/// The scan also stops where the command word `lit` appears again (that
/// occurrence scans on by itself), so `mysql mysql mysql …` costs linear time.
fn cli_command(
    buf: &[u8],
    at: usize,
    lit: &[u8],
    flag: u8,
    spaced: bool,
    eof: bool,
    mask: &[u8],
) -> Check {
    let n = buf.len();
    // `mysql` + `dump` / `admin` / `sh` …, then a space.
    let (tail, open) = run(buf, at, 16, |b| b.is_ascii_lowercase());
    if open && !eof {
        return Check::Undecided;
    }
    let mut i = at + tail;
    if i >= n || !matches!(buf[i], b' ' | b'\t') {
        return Check::None;
    }
    // Every password flag of the command (`mysql -u a -pX … -pY`), up to the end of
    // the command (a line end, `;`, `|`, `&`, the next command word) or MAX_VALUE.
    let mut found = Vec::new();
    let done = |found: Vec<Span>| match found.len() {
        0 => Check::None,
        1 => Check::Span(found[0]),
        _ => Check::Spans(found),
    };
    let limit = n.min(at + MAX_VALUE);
    while i < limit {
        let b = buf[i];
        if matches!(b, b'\n' | b'\r' | b';' | b'|' | b'&') {
            return done(found);
        }
        if b == lit[0] && buf[i..].starts_with(lit) {
            return done(found);
        }
        if matches!(b, b' ' | b'\t') && i + 2 < n && buf[i + 1] == b'-' && buf[i + 2] == flag {
            let v = i + 3;
            if v >= n {
                return if eof { done(found) } else { Check::Undecided };
            }
            let glued = !is_space(buf[v]);
            if glued || (spaced && matches!(buf[v], b' ' | b'\t')) {
                match value_at(buf, v, eof, false) {
                    Value::Undecided => return Check::Undecided,
                    Value::None => {}
                    Value::At(s) => {
                        let val = &buf[s.start..s.end];
                        // An already-masked flag ends the scan: a second pass must
                        // not reach a flag the first pass left (one beyond
                        // MAX_VALUE, brought closer by the masks before it; found
                        // by the stream fuzzer). Flags before it were skipped by
                        // both passes alike.
                        if val.starts_with(mask) {
                            return done(found);
                        }
                        if val[0] != b'-' && !is_placeholder(val) && !placeholder_body(val) {
                            found.push(s);
                            i = s.end;
                            continue;
                        }
                    }
                }
            }
        }
        i += 1;
    }
    if limit == n && !eof {
        Check::Undecided
    } else {
        done(found)
    }
}

/// `("KEY", "value")` at `at` (just after the setter's `(`).
fn call_pair(buf: &[u8], at: usize, eof: bool, mask: &[u8]) -> Check {
    let n = buf.len();
    let need = |i: usize| i >= n;
    let (ws, _) = run(buf, at, 8, |b| b == b' ');
    let q = at + ws;
    if need(q) {
        return if eof { Check::None } else { Check::Undecided };
    }
    if !matches!(buf[q], b'"' | b'\'') {
        return Check::None;
    }
    let quote = buf[q];
    let (kl, open) = run(buf, q + 1, MAX_KEY, |b| is_dashed(b) || b == b'.');
    let ke = q + 1 + kl;
    if open || need(ke) {
        return if eof { Check::None } else { Check::Undecided };
    }
    if buf[ke] != quote || kl < 3 {
        return Check::None;
    }
    let key_segs = Segments::new(&buf[q + 1..ke]);
    let class = classify_key(&key_segs);
    if class == KeyClass::None {
        return Check::None;
    }
    let (ws, _) = run(buf, ke + 1, 8, |b| b == b' ');
    let c = ke + 1 + ws;
    if need(c) {
        return if eof { Check::None } else { Check::Undecided };
    }
    if buf[c] != b',' {
        return Check::None;
    }
    match value_at(buf, c + 1, eof, false) {
        Value::Undecided => Check::Undecided,
        Value::None => Check::None,
        Value::At(s)
            if plausible_secret(&buf[s.start..s.end], class, mask)
                || provider_number(&key_segs, &buf[s.start..s.end]) =>
        {
            Check::Span(s)
        }
        Value::At(_) => Check::None,
    }
}

fn jwt(buf: &[u8], m: usize, eof: bool) -> Check {
    let n = buf.len();
    let (h, open) = run(buf, m, MAX_JWT, is_b64url);
    if open && !eof {
        return Check::Undecided;
    }
    let dot1 = m + h;
    if h < 10 || dot1 >= n || buf[dot1] != b'.' {
        return Check::None;
    }
    let pay = dot1 + 1;
    let (pl, open) = run(buf, pay, MAX_JWT, is_b64url);
    if open && !eof {
        return Check::Undecided;
    }
    if pl < 10 || !buf[pay..].starts_with(b"eyJ") {
        return Check::None;
    }
    let dot2 = pay + pl;
    if dot2 >= n {
        return if eof {
            Check::Span(Span::new(m, dot2))
        } else {
            Check::Undecided
        };
    }
    if buf[dot2] != b'.' {
        return Check::Span(Span::new(m, dot2));
    }
    let (sl, open) = run(buf, dot2 + 1, MAX_JWT, is_b64url);
    if open && !eof {
        return Check::Undecided;
    }
    Check::Span(Span::new(m, dot2 + 1 + sl))
}

fn pem(buf: &[u8], m: usize, eof: bool, mask: &[u8]) -> Check {
    let n = buf.len();
    // `-----BEGIN <LABEL>-----` where the label names a private key.
    let label_start = m + 10;
    let (label_len, open) = run(buf, label_start, 64, |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' '
    });
    if open && !eof {
        return Check::Undecided;
    }
    let label = &buf[label_start..label_start + label_len];
    let close = label_start + label_len;
    if n < close + 5 {
        return if eof { Check::None } else { Check::Undecided };
    }
    if &buf[close..close + 5] != b"-----" || memchr::memmem::find(label, b"PRIVATE KEY").is_none() {
        return Check::None;
    }
    let body = close + 5;
    // Already redacted: the body starts with the mask. (Without this, a block
    // whose `-----END` line was merged into a neighbouring mask would swallow the
    // rest of the input on a second pass, and redaction would not be idempotent.)
    if n < body + mask.len() && !eof && mask.starts_with(&buf[body..]) {
        return Check::Undecided;
    }
    if buf[body..].starts_with(mask) {
        return Check::None;
    }
    let limit = n.min(body + MAX_PEM);
    match memchr::memmem::find(&buf[body..limit], b"-----END") {
        Some(rel) => {
            // Keep the line breaks around the body, so the block keeps its shape.
            let inner = &buf[body..body + rel];
            let lead = inner.iter().take_while(|&&b| is_space(b)).count();
            let trail = inner[lead..]
                .iter()
                .rev()
                .take_while(|&&b| is_space(b))
                .count();
            span_if(body + lead, rel - lead - trail)
        }
        None if eof || limit == body + MAX_PEM => span_if(body, limit - body),
        None => Check::Undecided,
    }
}

/// Bytes that can stand in URL userinfo (a table: this runs over every URL authority).
static USERINFO: [bool; 256] = {
    let mut t = [true; 256];
    let stop = b" \t\n\r\x0b\x0c@/?#\"'<>`";
    let mut i = 0;
    while i < stop.len() {
        t[stop[i] as usize] = false;
        i += 1;
    }
    t
};

fn url_userinfo(buf: &[u8], a: usize, eof: bool, mask: &[u8]) -> Check {
    let n = buf.len();
    if a + 3 > n {
        // Could be the start of `://`.
        return if eof || a + 1 < n && buf[a + 1] != b'/' {
            Check::None
        } else {
            Check::Undecided
        };
    }
    if &buf[a + 1..a + 3] != b"//" {
        return Check::None;
    }
    // The scheme: `[A-Za-z][A-Za-z0-9+.-]*` right before the colon.
    let mut s = a;
    while s > 0
        && a - s < 32
        && (buf[s - 1].is_ascii_alphanumeric() || matches!(buf[s - 1], b'+' | b'.' | b'-'))
    {
        s -= 1;
    }
    if s == a || !buf[s].is_ascii_alphabetic() || buf[..s].ends_with(mask) {
        return Check::None;
    }
    let start = a + 3;
    let (len, open) = run(buf, start, 512, |b| USERINFO[usize::from(b)]);
    if open && !eof {
        return Check::Undecided;
    }
    let end = start + len;
    if len > 0 && end < n && buf[end] == b'@' {
        Check::Span(Span::new(start, end))
    } else {
        Check::None
    }
}

/// `Authorization: <scheme> <credentials>` (RFC 9110): the scheme (`Bearer`,
/// `Basic`, `Api-Token`, `SSWS`, …) stays, the credentials are masked. A single
/// word is masked unless it is a scheme name alone. Placeholders (`$API_KEY`,
/// `$(gcloud auth …)`, `<your token>`, `${TOKEN}`) are kept.
fn authorization(buf: &[u8], at: usize, eof: bool) -> Check {
    let n = buf.len();
    let (ws, open) = run(buf, at, 8, |b| b == b' ' || b == b'\t');
    if open && !eof {
        return Check::Undecided;
    }
    let word_at = at + ws;
    let (wl, open) = run(buf, word_at, 32, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    });
    if open && !eof {
        return Check::Undecided;
    }
    let schemes: [&[u8]; 8] = [
        b"bearer",
        b"basic",
        b"token",
        b"digest",
        b"negotiate",
        b"apikey",
        b"api-token",
        b"ssws",
    ];
    let word = &buf[word_at..word_at + wl];
    let is_scheme = schemes.iter().any(|s| s.eq_ignore_ascii_case(word));
    let mut value_at = word_at;
    if wl > 0
        && wl < 32
        && word_at + wl < n
        && buf[word_at + wl] == b' '
        && word[0].is_ascii_alphabetic()
    {
        let (ws2, open) = run(buf, word_at + wl, 8, |b| b == b' ');
        if open && !eof {
            return Check::Undecided;
        }
        let v = word_at + wl + ws2;
        if v < n && !is_space(buf[v]) && !matches!(buf[v], b'"' | b'\'') {
            value_at = v;
        } else if is_scheme {
            return Check::None;
        }
    } else if is_scheme
        && (word_at + wl >= n
            || is_space(buf[word_at + wl])
            || matches!(buf[word_at + wl], b'"' | b'\''))
    {
        return Check::None;
    }
    let (len, open) = run(buf, value_at, MAX_VALUE, |b| {
        !is_space(b) && b != b'"' && b != b'\''
    });
    if open && !eof {
        return Check::Undecided;
    }
    if is_placeholder(&buf[value_at..value_at + len]) {
        return Check::None;
    }
    span_if(value_at, len)
}

struct Key {
    start: usize,
    end: usize,
    /// The key follows `?` or `&`: the value stops at `&`.
    query: bool,
}

/// Where the key before an anchor ends: spaces and a closing quote skipped.
#[inline(always)]
fn key_end(buf: &[u8], a: usize) -> usize {
    let mut e = a;
    let mut spaces = 0;
    while e > 0 && (buf[e - 1] == b' ' || buf[e - 1] == b'\t') && spaces < 4 {
        e -= 1;
        spaces += 1;
    }
    if e > 0 && (buf[e - 1] == b'"' || buf[e - 1] == b'\'') {
        e -= 1;
        if e > 0 && buf[e - 1] == b'\\' {
            e -= 1;
        }
    }
    e
}

/// `attr=` with spaces around `=` trimmed: the bytes before the `=`.
fn trim_end_eq(b: &[u8]) -> &[u8] {
    let mut e = b.len();
    while e > 0 && matches!(b[e - 1], b' ' | b'\t') {
        e -= 1;
    }
    if e > 0 && b[e - 1] == b'=' {
        e -= 1;
    }
    while e > 0 && matches!(b[e - 1], b' ' | b'\t') {
        e -= 1;
    }
    &b[..e]
}

/// Where the key of the assignment whose operator ends at anchor `a` ends: the
/// operator (`:=`, `::=`, `:::=`, `?=`, `??=`, `.=`, `+=`, `||=`) and spaces, a
/// closing quote and a type between key and operator (`var tok string = …`,
/// `val tok: String = …`) skipped.
#[inline(always)]
fn assign_key_end(buf: &[u8], a: usize) -> usize {
    let mut op = a;
    if buf[a] == b'=' && a > 0 {
        match buf[a - 1] {
            b':' => {
                while op > 0 && a - op < 3 && buf[op - 1] == b':' {
                    op -= 1;
                }
            }
            b'?' | b'.' | b'+' | b'|' => {
                op -= 1;
                if op > 0 && buf[op - 1] == buf[a - 1] && buf[op - 1] != b'.' {
                    op -= 1;
                }
            }
            _ => {}
        }
    }
    let e = key_end(buf, op);
    skip_type(buf, e)
}

/// `tok string` / `tok: String` / `tok: str` before an `=`: the end of `tok`.
#[cold]
fn skip_type_slow(buf: &[u8], e: usize) -> usize {
    const TYPES: [&[u8]; 6] = [b"string", b"String", b"str", b"&str", b"[]byte", b"text"];
    for ty in TYPES {
        if e > ty.len() && buf[..e].ends_with(ty) {
            let mut k = e - ty.len();
            let mut sp = 0;
            while k > 0 && matches!(buf[k - 1], b' ' | b'\t') && sp < 4 {
                k -= 1;
                sp += 1;
            }
            if k > 0 && buf[k - 1] == b':' {
                k -= 1;
                while k > 0 && matches!(buf[k - 1], b' ' | b'\t') && sp < 8 {
                    k -= 1;
                    sp += 1;
                }
            } else if sp == 0 {
                return e;
            }
            if k > 0 && is_word(buf[k - 1]) {
                return k;
            }
            return e;
        }
    }
    e
}

#[inline(always)]
fn skip_type(buf: &[u8], e: usize) -> usize {
    if e > 3
        && matches!(buf[e - 1], b'g' | b'r' | b'e' | b't')
        && matches!(buf[e - 2], b'n' | b't' | b'y' | b'x')
    {
        skip_type_slow(buf, e)
    } else {
        e
    }
}

/// Last two letters (either case) of the credential words a key can end with:
/// pass`wd`, passw`rd`, p`wd`, pa`ss`, passphra`se`, passco`de`, secr`et`, secre`ts`,
/// credenti`al`, credentia`ls`, cre`ds`, tok`en`, k`ey`, val`ue`, s`tr`, r`aw`,
/// authorizati`on`, `pw`.
const ENDING_PAIRS: [&[u8; 2]; 17] = [
    b"rd", b"wd", b"ss", b"se", b"de", b"et", b"ts", b"al", b"ls", b"ds", b"en", b"ey", b"ue",
    b"tr", b"aw", b"on", b"pw",
];

/// 65,536-bit table: is the byte pair `(b[e-2], b[e-1])` a credential-word ending?
static ENDING_TABLE: [u64; 1024] = {
    let mut t = [0u64; 1024];
    let mut i = 0;
    while i < ENDING_PAIRS.len() {
        let p = ENDING_PAIRS[i];
        let mut case = 0;
        while case < 4 {
            let a = if case & 1 != 0 { p[0] - 32 } else { p[0] };
            let b = if case & 2 != 0 { p[1] - 32 } else { p[1] };
            let idx = ((a as usize) << 8) | b as usize;
            t[idx / 64] |= 1 << (idx % 64);
            case += 1;
        }
        i += 1;
    }
    t
};

#[inline(always)]
fn ending_bit(b2: u8, b1: u8) -> bool {
    let idx = (usize::from(b2) << 8) | usize::from(b1);
    ENDING_TABLE[idx / 64] & (1 << (idx % 64)) != 0
}

/// Branch-free first look at an anchor, from the three bytes before it and the
/// one after: `false` only when neither the URL rule nor a credential key can
/// start here (the full checks would reject it). Anchors are one in ~30 bytes of
/// a log and their neighbourhoods are random, so a branchy test mispredicts a lot.
#[inline(always)]
fn quick_candidate(buf: &[u8], a: usize) -> bool {
    if a < 3 || a + 1 >= buf.len() {
        return true;
    }
    let (p1, p2, p3) = (buf[a - 1], buf[a - 2], buf[a - 3]);

    let url = (buf[a] == b':') & (buf[a + 1] == b'/');
    let space = (p1 == b' ') | (p1 == b'\t');
    let quote = (p1 == b'"') | (p1 == b'\'');
    let escaped = quote & (p2 == b'\\');
    // `:=`, `?=`, `.=`, `+=`, `||=`: the key is before the operator.
    let op = (buf[a] == b'=')
        & ((p1 == b':') | (p1 == b'?') | (p1 == b'.') | (p1 == b'+') | (p1 == b'|'));
    // `<…password>` / `<…Token>`: an XML start tag naming a credential (only the
    // ending counts there).
    let gt = buf[a] == b'>';
    (!gt & (url | space | escaped | op | (quote & ending_bit(p3, p2)))) | ending_bit(p2, p1)
}

/// O(1) prefilter on the last letters of a key: only keys ending like a
/// credential word (`…password`, `…token`, `…key`, `…secret`, `…authorization`, …)
/// go on to the full check. Most `=` / `:` in logs (timestamps, JSON keys, prose,
/// URLs) stop at one table lookup.
#[inline(always)]
fn credential_ending(buf: &[u8], e: usize) -> bool {
    if e < 2 {
        return false;
    }
    ending_bit(buf[e - 2], buf[e - 1]) && credential_word_ending(buf, e)
}

/// The exact check behind [`credential_ending`]'s table (about 2% of anchors).
#[cold]
#[inline(never)]
fn credential_word_ending(buf: &[u8], e: usize) -> bool {
    let l = |i: usize| buf[i].to_ascii_lowercase();
    let c3 = if e >= 3 { l(e - 3) } else { b' ' };
    match [c3, l(e - 2), l(e - 1)] {
        [b'o', b'r', b'd']
        | [b's', b'w', b'd']
        | [b'p', b'w', b'd']
        | [b'a', b's', b's']
        | [b'a', b's', b'e']
        | [b'o', b'd', b'e']
        | [b'r', b'e', b't']
        | [b'e', b't', b's']
        | [b'i', b'a', b'l']
        | [b'a', b'l', b's']
        | [b'e', b'd', b's']
        | [b'k', b'e', b'n']
        | [b'k', b'e', b'y']
        | [b'l', b'u', b'e']
        | [b's', b't', b'r']
        | [b'r', b'a', b'w'] => true,
        [b'i', b'o', b'n'] => e >= 13 && buf[e - 13..e].eq_ignore_ascii_case(b"authorization"),
        [x, b'p', b'w'] => !x.is_ascii_alphanumeric(),
        _ => false,
    }
}

fn key_from_end(buf: &[u8], e: usize) -> Option<Key> {
    let mut s = e;
    while s > 0
        && e - s < MAX_KEY
        && (is_word(buf[s - 1]) || buf[s - 1] == b'-' || buf[s - 1] == b'.')
    {
        s -= 1;
    }
    // Leading dashes belong to a CLI flag (`--password=`), not to the key.
    while s < e && buf[s] == b'-' {
        s += 1;
    }
    if e - s < 3 {
        return None;
    }
    let query = s > 0 && matches!(buf[s - 1], b'?' | b'&');
    Some(Key {
        start: s,
        end: e,
        query,
    })
}

/// Cheap test that an identifier might name a credential.
fn quick_keyword(ident: &[u8]) -> bool {
    let n = ident.len();
    let at = |i: usize, w: &[u8]| i + w.len() <= n && ident[i..i + w.len()].eq_ignore_ascii_case(w);
    (0..n).any(|i| match ident[i] | 0x20 {
        b'p' => at(i, b"pass") || at(i, b"pwd"),
        b's' => at(i, b"secret"),
        b't' => at(i, b"token"),
        b'k' => at(i, b"key"),
        b'c' => at(i, b"cred"),
        b'a' => at(i, b"authorization"),
        b'x' => at(i, b"x-access-token"),
        _ => false,
    })
}

/// An identifier split into lowercase words (on `_ - .` and at camelCase humps),
/// held on the stack: keys are at most [`MAX_KEY`] bytes.
struct Segments {
    lower: [u8; MAX_KEY],
    ranges: [(u8, u8); MAX_KEY / 2],
    len: usize,
}

impl Segments {
    fn new(ident: &[u8]) -> Segments {
        let mut s = Segments {
            lower: [0; MAX_KEY],
            ranges: [(0, 0); MAX_KEY / 2],
            len: 0,
        };
        let ident = &ident[..ident.len().min(MAX_KEY)];
        let mut start: Option<usize> = None;
        let mut prev_lower = false;
        for (i, &b) in ident.iter().enumerate() {
            s.lower[i] = b.to_ascii_lowercase();
            let alnum = b.is_ascii_alphanumeric();
            let hump = b.is_ascii_uppercase() && prev_lower;
            if let Some(st) = start {
                if !alnum || hump {
                    s.push(st, i);
                    start = None;
                }
            }
            if alnum && start.is_none() {
                start = Some(i);
            }
            prev_lower = b.is_ascii_lowercase() || b.is_ascii_digit();
        }
        if let Some(st) = start {
            s.push(st, ident.len());
        }
        s
    }

    fn push(&mut self, start: usize, end: usize) {
        if self.len < self.ranges.len() {
            self.ranges[self.len] = (start as u8, end as u8);
            self.len += 1;
        }
    }

    fn get(&self, i: usize) -> &str {
        let (a, b) = self.ranges[i];
        // Only ASCII alphanumerics are in a segment.
        std::str::from_utf8(&self.lower[a as usize..b as usize]).unwrap_or("")
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    fn last(&self) -> Option<&str> {
        self.len.checked_sub(1).map(|i| self.get(i))
    }

    /// All words run together (`aws_secret_access_key` → `awssecretaccesskey`).
    fn compact_ends_with(&self, suffix: &str) -> bool {
        let mut buf = [0u8; MAX_KEY];
        let mut n = 0;
        for w in self.iter() {
            buf[n..n + w.len()].copy_from_slice(w.as_bytes());
            n += w.len();
        }
        buf[..n].ends_with(suffix.as_bytes())
    }

    fn compact_eq(&self, word: &str) -> bool {
        self.compact_ends_with(word) && self.iter().map(str::len).sum::<usize>() == word.len()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyClass {
    None,
    /// Any non-placeholder value is a secret (password, secret, credential).
    Password,
    /// Only random-looking values are secrets (token, key).
    Token,
}

fn is_password_word(w: &str) -> bool {
    matches!(
        w,
        "password"
            | "passwd"
            | "pwd"
            | "pass"
            | "passphrase"
            | "passcode"
            | "secret"
            | "secrets"
            | "credential"
            | "credentials"
            | "creds"
            | "pw"
    )
}
fn is_token_word(w: &str) -> bool {
    matches!(
        w,
        "token"
            | "key"
            | "apikey"
            | "accesskey"
            | "secretkey"
            | "privatekey"
            | "authtoken"
            | "accesstoken"
            | "refreshtoken"
            | "sessiontoken"
            | "bearertoken"
            | "idtoken"
            | "signingkey"
            | "masterkey"
            | "encryptionkey"
    )
}
/// A last word that makes the key describe something other than the secret itself.
fn is_not_secret_tail(w: &str) -> bool {
    matches!(
        w,
        "type"
            | "types"
            | "min"
            | "max"
            | "length"
            | "len"
            | "count"
            | "size"
            | "limit"
            | "limits"
            | "file"
            | "files"
            | "path"
            | "dir"
            | "name"
            | "names"
            | "id"
            | "ids"
            | "url"
            | "uri"
            | "endpoint"
            | "prefix"
            | "suffix"
            | "format"
            | "kind"
            | "mode"
            | "hint"
            | "expires"
            | "expiry"
            | "exp"
            | "expiration"
            | "ttl"
            | "timeout"
            | "usage"
            | "field"
            | "fields"
            | "policy"
            | "version"
            | "provider"
            | "source"
            | "label"
            | "description"
            | "index"
            | "pattern"
            | "regex"
            | "required"
            | "enabled"
            | "enable"
            | "disabled"
            | "env"
            | "var"
            | "hash"
            | "digest"
            | "fingerprint"
            | "location"
            | "store"
            | "manager"
            | "helper"
            | "header"
            | "param"
            | "arg"
            | "prompt"
            | "strength"
            | "number"
            | "num"
            | "total"
            | "budget"
            | "remaining"
            | "used"
            | "rate"
            | "window"
            | "lifetime"
            | "duration"
            | "at"
            | "ms"
            | "algorithm"
            | "alg"
            | "scope"
            | "scopes"
            | "audience"
            | "issuer"
            | "user"
            | "username"
            | "login"
            | "email"
            | "set"
            | "present"
            | "exists"
            | "valid"
            | "ok"
            | "status"
            | "error"
            | "errors"
            | "tokens"
            | "keys"
            | "layout"
            | "binding"
            | "bindings"
            | "event"
            | "events"
            | "check"
            | "reset"
            | "changed"
            | "rotation"
            | "created"
            | "updated"
            | "schema"
            | "class"
            | "ref"
            | "refs"
            | "mask"
            | "masked"
    )
}
/// A qualifier that makes `…_key` a database or cache key rather than a credential.
fn is_not_secret_key_qualifier(w: &str) -> bool {
    matches!(
        w,
        "primary"
            | "foreign"
            | "sort"
            | "partition"
            | "cache"
            | "public"
            | "pub"
            | "lookup"
            | "idempotency"
            | "dedup"
            | "unique"
            | "composite"
            | "map"
            | "object"
            | "group"
            | "row"
            | "hash"
            | "range"
            | "routing"
            | "shard"
            | "i18n"
            | "translation"
            | "react"
            | "query"
            | "storage"
            | "bucket"
            | "registry"
            | "gpg"
            | "host"
            | "known"
            | "ssh"
    )
}

/// Providers whose client ids and tokens are plain numbers (Discord: 18 digits,
/// Asana: 16; Discord secrets also 32): under a key naming the provider and a
/// token (`discordToken`, `ASANA_CLIENT_ID`), such a number is masked although
/// numbers are settings everywhere else.
fn provider_number(segs: &Segments, v: &[u8]) -> bool {
    provider_digits(v) && provider_key(segs)
}

/// The value half of [`provider_number`]: 16 to 32 digits.
fn provider_digits(v: &[u8]) -> bool {
    (16..=32).contains(&v.len()) && v.iter().all(u8::is_ascii_digit)
}

/// The key half of [`provider_number`]: a provider named, and what it names.
fn provider_key(segs: &Segments) -> bool {
    let named = segs
        .iter()
        .any(|w| w.starts_with("discord") || w.starts_with("asana"));
    let what = segs
        .iter()
        .any(|w| matches!(w, "token" | "id" | "secret" | "key" | "client") || w.ends_with("token"));
    named && what
}

fn classify_key(segs: &Segments) -> KeyClass {
    let Some(last) = segs.last() else {
        return KeyClass::None;
    };
    if is_not_secret_tail(last) {
        return KeyClass::None;
    }
    let is_password = |w: &str| {
        is_password_word(w)
            || w.ends_with("password")
            || w.ends_with("passwd")
            || w.ends_with("secret")
    };
    let is_token = |w: &str| {
        is_token_word(w)
            || w.ends_with("token")
            || w.ends_with("apikey")
            || w.ends_with("secretkey")
            || w.ends_with("accesskey")
            || w.ends_with("privatekey")
    };
    if is_password(last) {
        return KeyClass::Password;
    }
    if is_token(last) {
        if last == "key" && segs.len >= 2 && is_not_secret_key_qualifier(segs.get(segs.len - 2)) {
            return KeyClass::None;
        }
        return KeyClass::Token;
    }
    if segs.iter().any(is_password) {
        return KeyClass::Password;
    }
    if segs.iter().any(|s| is_token(s) && s != "key") {
        return KeyClass::Token;
    }
    KeyClass::None
}

enum Value {
    None,
    Undecided,
    At(Span),
}

/// The value after an anchor: quoted (`"…"`, `'…'`, `\"…\"`) or the first
/// whitespace-delimited run.
fn value_at(buf: &[u8], at: usize, eof: bool, query: bool) -> Value {
    value_at_memo(buf, at, eof, query, &mut RunMemo::default())
}

/// [`value_at`] with the unquoted run taken from (and left in) `memo`.
fn value_at_memo(buf: &[u8], at: usize, eof: bool, query: bool, memo: &mut RunMemo) -> Value {
    let n = buf.len();
    let (ws, open) = run(buf, at, 8, |b| b == b' ' || b == b'\t');
    if open && !eof {
        return Value::Undecided;
    }
    let v = at + ws;
    if v >= n {
        return Value::None;
    }
    let (quote, qlen): (&[u8], usize) = match buf[v] {
        b'"' => (b"\"", 1),
        b'\'' => (b"'", 1),
        b'`' => (b"`", 1),
        b'\\' if v + 1 < n && buf[v + 1] == b'"' => (b"\\\"", 2),
        b'\\' if v + 1 >= n && !eof => return Value::Undecided,
        _ => (b"", 0),
    };
    if qlen > 0 {
        let start = v + qlen;
        let limit = n.min(start + MAX_VALUE);
        let mut i = start;
        while i < limit {
            let b = buf[i];
            if b == b'\n' {
                break;
            }
            if buf[i..].starts_with(quote) {
                return if i > start {
                    Value::At(Span::new(start, i))
                } else {
                    Value::None
                };
            }
            if b == b'\\' && qlen == 1 {
                i += 2;
                continue;
            }
            i += 1;
        }
        if i >= n && !eof && i - start < MAX_VALUE {
            return Value::Undecided;
        }
        // Unterminated quote: the value runs to the end of the line (bounded).
        let (len, _) = run(buf, start, MAX_VALUE, |b| b != b'\n' && b != b'\r');
        let mut end = start + len;
        while end > start && is_space(buf[end - 1]) {
            end -= 1;
        }
        return if end > start {
            Value::At(Span::new(start, end))
        } else {
            Value::None
        };
    }
    let (len, open) = memo.run(buf, v, MAX_VALUE, query);
    if open && !eof {
        return Value::Undecided;
    }
    let mut end = v + len;
    while end > v && matches!(buf[end - 1], b',' | b';' | b')' | b'}' | b']' | b'>') {
        end -= 1;
    }
    if end > v {
        Value::At(Span::new(v, end))
    } else {
        Value::None
    }
}

fn is_placeholder_word_lower(w: &str) -> bool {
    matches!(
        w,
        "await"
            | "new"
            | "readonly"
            | "const"
            | "let"
            | "var"
            | "function"
            | "return"
            | "typeof"
            | "async"
            | "yield"
            | "secrets: the per-job tokens …"
            | "the"
            | "a"
            | "an"
            | "is"
            | "are"
            | "was"
            | "from"
            | "of"
            | "in"
            | "for"
            | "with"
            | "true"
            | "false"
            | "null"
            | "none"
            | "nil"
            | "undefined"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "bearer"
            | "basic"
            | "token"
            | "tokens"
            | "required"
            | "optional"
            | "string"
            | "str"
            | "redacted"
            | "hidden"
            | "masked"
            | "secret"
            | "password"
            | "empty"
            | "unset"
            | "default"
            | "auto"
            | "inherit"
            | "env"
            | "file"
            | "prompt"
            | "value"
            | "id"
            | "null,"
            | "omitted"
            | "provided"
            | "set"
            | "notset"
            | "n/a"
            | "na"
            | "tbd"
            | "todo"
            | "self"
            | "this"
            | "int"
            | "bool"
            | "text"
            | "stdin"
    )
}

/// `$VAR`, `${{ secrets.X }}`, `<token>`, `%s`, `{{x}}`, `[REDACTED]`, `(none)`, `@file`.
fn is_placeholder(v: &[u8]) -> bool {
    matches!(
        v.first(),
        Some(b'$' | b'<' | b'%' | b'{' | b'[' | b'(' | b'@')
    )
}

/// First parts of dotted references that are code, not a dotted password:
/// `process.env.X`, `self.password`, `config.db.password`, `secrets.X`, …
fn is_code_root(w: &[u8]) -> bool {
    const ROOTS: [&[u8]; 40] = [
        b"process",
        b"this",
        b"self",
        b"config",
        b"cfg",
        b"conf",
        b"settings",
        b"env",
        b"os",
        b"sys",
        b"options",
        b"opts",
        b"args",
        b"argv",
        b"params",
        b"req",
        b"request",
        b"res",
        b"resp",
        b"response",
        b"ctx",
        b"context",
        b"props",
        b"state",
        b"secrets",
        b"vars",
        b"inputs",
        b"steps",
        b"needs",
        b"github",
        b"matrix",
        b"values",
        b"window",
        b"global",
        b"module",
        b"app",
        b"data",
        b"credentials",
        b"import",
        b"auth",
    ];
    let w: &[u8] = w.strip_prefix(b"$").unwrap_or(w);
    ROOTS.iter().any(|r| r.eq_ignore_ascii_case(w)) || w == b"Values"
}

/// Source code rather than a value: a dotted reference (`process.env.X`,
/// `runnerToken.token`, `this.secret`), a call or index (`getpass()`,
/// `params[:password]`) or a type name with several humps
/// (`AgentEnrollmentCredentials)`), optionally followed by `,`, `;`, `:` or `)`.
/// Dotted values that are not code (`Summer.Breeze2024`,
/// `correct.horse.battery.staple`, `ya29.a0AfH6…`) are values.
///
/// "Does the value hold a `.`" is answered by `has_dot` (trailing `,;):` are never
/// dots, so the untrimmed value gives the same answer).
fn is_code_reference_by(v: &[u8], has_dot: &mut dyn FnMut() -> bool) -> bool {
    let mut v = v;
    while let Some(b',' | b';' | b')' | b':') = v.last() {
        v = &v[..v.len() - 1];
    }
    if v.is_empty() {
        return false;
    }
    let ident_part = |p: &[u8]| {
        !p.is_empty()
            && (p[0].is_ascii_alphabetic() || p[0] == b'_' || p[0] == b'$')
            && p.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
    };
    // `name(` / `name[`: a call or an index.
    let head = v
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.')))
        .unwrap_or(v.len());
    // (`value_at` trims the closing `)` / `]`, so only the opening one is looked at.)
    if head >= 2 && head < v.len() && matches!(v[head], b'(' | b'[') && ident_part(&v[..1]) {
        return true;
    }
    // (`memchr` first: a value without a dot is not scanned byte by byte here.)
    if has_dot() && v.split(|&b| b == b'.').all(ident_part) {
        let parts = v.split(|&b| b == b'.').count();
        let first = v.split(|&b| b == b'.').next().unwrap_or(b"");
        let last = v.rsplit(|&b| b == b'.').next().unwrap_or(b"");
        if is_code_root(first) || first.starts_with(b"$") {
            return true;
        }
        // `runnerToken.token`, `db.password`, `foo.apiKey`: the last part names a credential.
        let segs = Segments::new(last);
        if !last.iter().any(u8::is_ascii_digit) && classify_key(&segs) != KeyClass::None {
            return true;
        }
        // `obj.method`, `user.name`: short lowercase or camelCase identifiers with
        // no digit, two parts.
        let codeish = |p: &[u8]| {
            p[0].is_ascii_lowercase() && p.iter().all(|&b| b.is_ascii_alphabetic() || b == b'_')
        };
        if parts == 2
            && v.split(|&b| b == b'.').all(codeish)
            && v.iter().any(u8::is_ascii_uppercase)
        {
            return true;
        }
        return false;
    }
    is_type_name(v)
}

/// `AgentEnrollmentCredentials`, `HTTPServerConfig`: words of an uppercase letter (or
/// an acronym) and two or more lowercase letters. A letters-only password with
/// several capitals (`QISDarSQgMdXPe`) has one-letter lowercase runs and more
/// capitals than lowercase letters.
fn is_type_name(v: &[u8]) -> bool {
    if !v[0].is_ascii_uppercase() || !v.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    let upper = v.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = v.len() - upper;
    if upper < 3 || upper > lower {
        return false;
    }
    // every lowercase run except the last is at least two letters long
    let mut run = 0;
    for (k, &b) in v.iter().enumerate() {
        if b.is_ascii_lowercase() {
            run += 1;
        } else {
            if run == 1 && k > 1 {
                return false;
            }
            run = 0;
        }
    }
    true
}

/// Value heuristics: is this plausibly a secret rather than a setting?
fn plausible_secret(v: &[u8], class: KeyClass, mask: &[u8]) -> bool {
    plausible_secret_by(v, class, mask, &mut |needle| {
        memchr::memmem::find(v, needle).is_some()
    })
}

/// [`plausible_secret`] with the substring searches over `v` (`.` and `://`)
/// answered by `contains`, so a pass can share them between overlapping values.
fn plausible_secret_by(
    v: &[u8],
    class: KeyClass,
    mask: &[u8],
    contains: &mut dyn FnMut(&[u8]) -> bool,
) -> bool {
    if v.is_empty() || (!mask.is_empty() && v.starts_with(mask)) {
        return false;
    }
    if v.iter()
        .all(|&b| matches!(b, b'*' | b'x' | b'X' | b'#' | b'.' | b'-'))
    {
        return false;
    }
    if is_placeholder(v) || is_code_reference_by(v, &mut || contains(b".")) {
        return false;
    }
    // SOPS-encrypted values (`ENC[AES256_GCM,data:…,type:str]`) are ciphertext.
    if v.starts_with(b"ENC[") {
        return false;
    }
    if v.len() <= 12 {
        let mut lower = [0u8; 12];
        lower[..v.len()].copy_from_slice(v);
        lower[..v.len()].make_ascii_lowercase();
        if std::str::from_utf8(&lower[..v.len()]).is_ok_and(is_placeholder_word_lower) {
            return false;
        }
    }
    // Numbers and numeric settings: 4096, 1.5, -1, 1_000, 30s, 10m, 512mb.
    let digits_end = v
        .iter()
        .position(|&b| !(b.is_ascii_digit() || matches!(b, b'.' | b',' | b'_' | b'+' | b'-')))
        .unwrap_or(v.len());
    if digits_end > 0 && v[..digits_end].iter().any(u8::is_ascii_digit) {
        let unit = &v[digits_end..];
        let units: [&[u8]; 12] = [
            b"", b"ms", b"s", b"m", b"h", b"d", b"k", b"kb", b"mb", b"gb", b"%", b"x",
        ];
        if units.iter().any(|u| u.eq_ignore_ascii_case(unit)) {
            return false;
        }
    }
    // Paths and URLs are locations, not secrets (userinfo in URLs has its own rule).
    if v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"../") || v.starts_with(b"~/")
    {
        return false;
    }
    if contains(b"://") {
        return false;
    }
    match class {
        KeyClass::None => false,
        KeyClass::Password => true,
        KeyClass::Token => token_like(v),
    }
}

/// Random-looking: long enough, with a long alphanumeric run mixing character classes.
fn token_like(v: &[u8]) -> bool {
    if v.len() < 8 {
        return false;
    }
    let mut longest = 0;
    let mut cur = 0;
    for &b in v {
        if b.is_ascii_alphanumeric() {
            cur += 1;
            longest = longest.max(cur);
        } else {
            cur = 0;
        }
    }
    if longest < 8 {
        return false;
    }
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    (digit && (lower || upper)) || (lower && upper) || v.len() >= 32
}

#[cfg(test)]
pub(crate) fn count_anchors(buf: &[u8]) -> usize {
    let mut k = 0;
    for_each_anchor(buf, 0, |_| {
        k += 1;
        true
    });
    k
}

#[cfg(test)]
pub(crate) fn count_candidates(buf: &[u8]) -> (usize, usize) {
    let (mut k, mut q) = (0, 0);
    for_each_candidate(buf, 0, |a| {
        k += 1;
        q += usize::from(quick_candidate(buf, a));
        true
    });
    (k, q)
}

#[cfg(test)]
pub(crate) fn count_endings(buf: &[u8]) -> usize {
    let mut k = 0;
    for_each_anchor(buf, 0, |a| {
        k += usize::from(credential_ending(buf, key_end(buf, a)));
        true
    });
    k
}

#[cfg(test)]
impl RuleSet {
    pub(crate) fn find_prefixes_pub(&self, buf: &[u8], spans: &mut Vec<Span>) {
        self.find_prefixes(buf, 0, true, spans);
    }
    pub(crate) fn find_anchored_pub(&self, buf: &[u8], spans: &mut Vec<Span>) {
        self.find_anchored(buf, 0, true, spans);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64: the deterministic random source of these tests.
    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// A buffer shorter than `max_len` of bytes drawn from `alphabet`.
    fn random_buf(next: &mut impl FnMut() -> u64, alphabet: &[u8], max_len: u64) -> Vec<u8> {
        let len = (next() % max_len) as usize;
        (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect()
    }

    /// The anchors the vector prefilter passes on, after the exact first look, are
    /// exactly the anchors the plain scan accepts: over random buffers of the bytes
    /// the look tests, and for every byte pair that ends a credential word.
    #[test]
    fn candidate_prefilter_keeps_every_accepted_anchor() {
        let accepted =
            |buf: &[u8], from: usize, each: fn(&[u8], usize, &mut dyn FnMut(usize) -> bool)| {
                let mut v = Vec::new();
                each(buf, from, &mut |a| {
                    if quick_candidate(buf, a) {
                        v.push(a);
                    }
                    true
                });
                v
            };
        let plain: fn(&[u8], usize, &mut dyn FnMut(usize) -> bool) =
            |b, f, g| for_each_anchor(b, f, g);
        let vector: fn(&[u8], usize, &mut dyn FnMut(usize) -> bool) =
            |b, f, g| for_each_candidate(b, f, g);
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"rdwsSeEtTalnyYoOuUpPkKvVDRW \t\"'\\:?.+|=>/ab9@`[{\xe9\x85";
        for round in 0..2000 {
            let buf = random_buf(&mut next, alphabet, 400);
            let len = buf.len();
            let from = if len == 0 {
                0
            } else {
                (next() as usize) % len.min(70)
            };
            assert_eq!(
                accepted(&buf, from, vector),
                accepted(&buf, from, plain),
                "round {round}: {:?} from {from}",
                String::from_utf8_lossy(&buf)
            );
        }
        // Every pair in every case, with each anchor byte, inside a 64-byte block.
        let mut buf = Vec::new();
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                if ending_bit(x, y) {
                    for anchor in [b'=', b':', b'>'] {
                        buf.extend_from_slice(&[b'(', b'(', x, y, anchor, b'(', b'(', b'(']);
                    }
                }
            }
        }
        buf.extend_from_slice(&[b'('; 80]);
        let want = accepted(&buf, 0, plain);
        assert!(want.len() >= ENDING_PAIRS.len() * 4 * 3, "{}", want.len());
        assert_eq!(accepted(&buf, 0, vector), want);
    }

    /// A CPU without AVX-512BW (the scalar first look on every anchor) redacts
    /// exactly what the vector prefilter path redacts, on the benchmark corpus and
    /// on anchor-dense input.
    #[test]
    fn the_scalar_path_redacts_like_the_vector_path() {
        #[allow(dead_code)]
        mod corpus {
            include!(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus.rs"));
        }
        use std::sync::atomic::Ordering;
        let secrets = corpus::secrets(10);
        let mut inputs = vec![corpus::log(1 << 20, &secrets)];
        for unit in [
            "token:",
            "password=",
            "\"apiToken\" => ",
            "<password>",
            "x := ",
            "https://u:",
        ] {
            inputs.push(unit.repeat(4000).into_bytes());
        }
        let r = crate::redact::Redactor::builder()
            .threads(1)
            .build()
            .unwrap();
        r.add_secrets(&secrets);
        let mut masked = 0;
        for input in &inputs {
            simd::FORCE_SCALAR.store(false, Ordering::Relaxed);
            let vector = r.redact_bytes(input).into_owned();
            simd::FORCE_SCALAR.store(true, Ordering::Relaxed);
            assert!(!simd::has_candidate_mask());
            let scalar = r.redact_bytes(input).into_owned();
            simd::FORCE_SCALAR.store(false, Ordering::Relaxed);
            masked += usize::from(vector != *input);
            assert!(vector == scalar, "the scalar path differs");
        }
        assert!(masked >= 3, "the inputs have something to mask ({masked})");
    }

    /// The key memo answers exactly what a fresh classification answers, also for
    /// keys that share a slot (same length and end bytes) and for the longest keys.
    #[test]
    fn key_memo_matches_fresh_verdicts() {
        let keys: Vec<Vec<u8>> = [
            "token",
            "tiken",
            "taken",
            "password",
            "passwrd",
            "db_password",
            "dbXpassword",
            "aws_secret_access_key",
            "AWS_SECRET_KEY",
            "discord_bot_token",
            "discord_bot_tokem",
            "api_key",
            "primary_key",
            "sort_key",
            "secret",
            "sEcret",
            "x",
            "",
        ]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .chain([b"k"
            .repeat(MAX_KEY - 5)
            .into_iter()
            .chain(*b"token")
            .collect()])
        .chain([b"a".repeat(MAX_KEY + 1)])
        .collect();
        let mut memo = KeyMemo::default();
        for round in 0..3 {
            for (i, k) in keys.iter().enumerate() {
                let k = &keys[(i * 7 + round) % keys.len()].clone().max(k.clone());
                assert_eq!(
                    memo.verdict(k),
                    key_verdict(k),
                    "{:?}",
                    String::from_utf8_lossy(k)
                );
            }
            for k in keys.iter().rev() {
                assert_eq!(
                    memo.verdict(k),
                    key_verdict(k),
                    "{:?}",
                    String::from_utf8_lossy(k)
                );
            }
        }
        assert_eq!(memo.verdict(b"token").class, KeyClass::Token);
        assert_eq!(memo.verdict(b"db_password").class, KeyClass::Password);
        assert!(memo.verdict(b"aws_secret_access_key").aws);
        assert!(memo.verdict(b"discord_bot_token").provider);
    }

    /// The anchor memos answer exactly what a fresh scan answers, for queries in
    /// increasing (and occasionally decreasing) order over random buffers.
    #[test]
    fn anchor_memos_match_fresh_scans() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        let alphabet = b"ab9Zab9Zab9Zab9Zab9Z =&\"'`.:";
        for _ in 0..300 {
            let buf = random_buf(&mut next, alphabet, 300);
            let len = buf.len();
            let mut rm = RunMemo::default();
            let mut sm = StretchMemo::default();
            let mut at = 0usize;
            for _ in 0..60 {
                if next().is_multiple_of(8) {
                    at = at.saturating_sub((next() % 20) as usize);
                } else {
                    at += (next() % 7) as usize;
                }
                if at > len {
                    break;
                }
                let query = next().is_multiple_of(4);
                let cap = 1 + (next() % 64) as usize;
                let fresh = run(&buf, at, cap, |b| {
                    !is_space(b) && b != b'"' && b != b'\'' && b != b'`' && !(query && b == b'&')
                });
                assert_eq!(
                    rm.run(&buf, at, cap, query),
                    fresh,
                    "{buf:?} at {at} cap {cap}"
                );
                let we = (at + (next() % 40) as usize).min(len);
                let naive = buf[at..we]
                    .split(|b| !b.is_ascii_alphanumeric())
                    .any(|r| r.len() >= 8);
                assert_eq!(sm.has(&buf, at, we), naive, "{buf:?} {at}..{we}");
            }
        }
    }

    #[test]
    fn segments_split_snake_kebab_and_camel() {
        let words = |k: &str| {
            Segments::new(k.as_bytes())
                .iter()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(words("DB_ACCESS_KEY"), ["db", "access", "key"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("APIKey"), ["apikey"]);
        assert_eq!(words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(words("maxTokens"), ["max", "tokens"]);
        assert!(Segments::new(b"aws_secret_access_key").compact_ends_with("secretaccesskey"));
        assert!(Segments::new(b"AWS_SECRET_KEY").compact_eq("awssecretkey"));
    }

    #[test]
    fn key_classes() {
        let c = |k: &str| classify_key(&Segments::new(k.as_bytes()));
        assert_eq!(c("POSTGRES_PASSWORD"), KeyClass::Password);
        assert_eq!(c("client_secret"), KeyClass::Password);
        assert_eq!(c("api_key"), KeyClass::Token);
        assert_eq!(c("GITHUB_TOKEN"), KeyClass::Token);
        assert_eq!(c("max_tokens"), KeyClass::None);
        assert_eq!(c("token_type"), KeyClass::None);
        assert_eq!(c("cache_key"), KeyClass::None);
        assert_eq!(c("primary_key"), KeyClass::None);
        assert_eq!(c("keyboard_layout"), KeyClass::None);
        assert_eq!(c("password_min_length"), KeyClass::None);
    }

    #[test]
    fn needles_are_ordered_and_fit_teddy() {
        let ids: Vec<usize> = (0..PREFIXES.len()).collect();
        for p in PREFIXES {
            let nd = needle(p);
            assert!(
                NEEDLE_ORDER.iter().any(|o| o.as_bytes() == nd),
                "needle {:?} of {} is not in NEEDLE_ORDER",
                String::from_utf8_lossy(nd),
                p.lit
            );
            assert!(
                p.lit.len() < MAX_PREFIX + 1,
                "{} longer than MAX_PREFIX",
                p.lit
            );
        }
        let (long, short) = needle_sets(&ids);
        let (lf, lt, _) = long.unwrap();
        let (sf, st, _) = short.unwrap();
        // Teddy takes at most 64 patterns; beyond that the slow automaton is used.
        assert!(
            lt.len() <= 64 && st.len() <= 64,
            "{} / {}",
            lt.len(),
            st.len()
        );
        assert!(matches!(lf, PrefixFinder::Packed(_)) == matches!(sf, PrefixFinder::Packed(_)));
    }

    /// The scalar scan used right after a hit finds exactly what the vector
    /// searcher finds, for both needle sets, over buffers dense in needle pieces.
    #[test]
    fn near_scan_matches_the_vector_searcher() {
        let ids: Vec<usize> = (0..PREFIXES.len()).collect();
        let (long, short) = needle_sets(&ids);
        let mut next = rng(0x51_7cc1_b727_220a);
        for (finder, _, near) in [long.unwrap(), short.unwrap()] {
            let pieces: Vec<&[u8]> = NEEDLE_ORDER
                .iter()
                .map(|s| s.as_bytes())
                .chain([&b"a"[..], b"Q", b"~", b"-", b"_", b" "])
                .collect();
            let mut hits = 0;
            for _ in 0..3000 {
                let mut buf = Vec::new();
                while buf.len() < 48 {
                    let p = pieces[(next() % pieces.len() as u64) as usize];
                    // Whole needles, and needles cut short or shifted by a byte.
                    let cut = (next() % (p.len() as u64 + 1)) as usize;
                    buf.extend_from_slice(if next().is_multiple_of(3) {
                        &p[..cut]
                    } else {
                        p
                    });
                }
                let at = (next() % 20) as usize;
                let end = at + (next() % (NEAR as u64 + 8)) as usize;
                let want = finder.find(&buf, at).filter(|&(start, _)| start < end);
                assert_eq!(
                    near.find(&buf, at, end),
                    want,
                    "{:?} at {at} end {end}",
                    String::from_utf8_lossy(&buf)
                );
                hits += usize::from(want.is_some());
            }
            assert!(hits > 500, "{hits}");
        }
    }

    #[test]
    fn value_heuristics() {
        let m = b"***";
        assert!(!plausible_secret(b"4096", KeyClass::Token, m));
        assert!(!plausible_secret(b"bearer", KeyClass::Token, m));
        assert!(!plausible_secret(
            b"linux-x64-node20-deps",
            KeyClass::Token,
            m
        ));
        assert!(!plausible_secret(
            b"${{ secrets.X }}",
            KeyClass::Password,
            m
        ));
        assert!(!plausible_secret(b"/home/user", KeyClass::Password, m));
        assert!(!plausible_secret(b"***", KeyClass::Password, m));
        assert!(plausible_secret(b"hunter2", KeyClass::Password, m));
        assert!(plausible_secret(
            b"a8f5f167f44f4964e6c998dee827110c",
            KeyClass::Token,
            m
        ));
        assert!(!plausible_secret(b"12", KeyClass::Password, m));
    }
}
