//! Behaviour of the redaction engine: every rule with positive and negative cases,
//! encoded forms, multi-line secrets, overlaps, idempotence, bytes, streaming.

use keel_core::redact::{
    capture_redacted_output, secrets_to_redact, BuiltinRule, RedactError, Redactor, MAX_PEM,
};
use proptest::prelude::*;

fn r() -> Redactor {
    Redactor::new()
}

fn red(input: &str) -> String {
    r().redact_str(input).into_owned()
}

#[track_caller]
fn masks(input: &str, expected: &str) {
    assert_eq!(red(input), expected, "input: {input:?}");
}

#[track_caller]
fn keeps(input: &str) {
    assert_eq!(red(input), input, "should be untouched");
}

// ---------------------------------------------------------------- shapes

#[test]
fn url_userinfo() {
    masks(
        "cloning https://x-access-token:ghs_abc123@github.com/o/r.git",
        "cloning https://***@github.com/o/r.git",
    );
    masks(
        "postgres://app:s3cret@db:5432/x",
        "postgres://***@db:5432/x",
    );
    masks("redis://:pw@cache:6379", "redis://***@cache:6379");
    masks("https://token@github.com", "https://***@github.com");
    keeps("see https://github.com/o/r/blob/main/a@b.md for details");
    keeps("http://host:8080/path?q=1");
    keeps("git@github.com:o/r.git");
}

#[test]
fn x_access_token() {
    masks(
        "x-access-token:abcdef123456 failed",
        "x-access-token:*** failed",
    );
    masks("X-Access-Token:abcdef123456", "X-Access-Token:***");
}

#[test]
fn github_tokens() {
    for p in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"] {
        masks(
            &format!("token {p}A1b2C3d4E5f6G7h8I9j0KLMNOPqrst done"),
            &format!("token {p}*** done"),
        );
    }
    keeps("the ghp_ prefix marks a classic token");
    keeps("aghp_abcdef"); // not at a word boundary
}

#[test]
fn gitlab_slack_stripe_npm_pypi() {
    masks("glpat-AbCdEfGhIjKlMnOpQrSt", "glpat-***");
    masks("xoxb-123456789012-abcdefghijkl", "xoxb-***");
    masks("xapp-1-A0123456789-abcdef", "xapp-***");
    masks("sk_live_51Habcdefghijklmnop", "sk_live_***");
    masks("rk_test_51Habcdefghijklmnop", "rk_test_***");
    masks("npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_***");
    masks("pypi-AgEIcHlwaS5vcmcCJGFiY2RlZg", "pypi-***");
    keeps("xoxb- is Slack's bot prefix");
    keeps("sk_live_ short");
}

#[test]
fn openai_anthropic_google_aws() {
    masks(
        "OPENAI sk-abcdefghijklmnopqrstuvwxyz012345",
        "OPENAI sk-***",
    );
    masks("sk-proj-abcdefghijklmnopqrstuv_wxyz-0123", "sk-proj-***");
    masks(
        "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "key sk-ant-***",
    );
    masks("AIzaSyA1234567890abcdefghijklmnopqrstu", "AIza***");
    masks("id AKIA2OGYBAH6TVWZ3XQ7 end", "id AKIA*** end");
    masks("ASIA2OGYBAH6TVWZ3XQ7", "ASIA***");
    keeps("AKIA2OGYBAH6TVWZ3XQ7X"); // 17 characters: not a key id
                                    // AWS's documented example key id is a placeholder and kept (issue 12).
    keeps("id AKIAIOSFODNN7EXAMPLE end");
    keeps("the task-runner-integration-tests-are-long");
    keeps("sk-short");
}

#[test]
fn aws_secret_key_assignment() {
    masks(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = ***",
    );
    masks(
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY=***",
    );
    let only = Redactor::builder()
        .disable_rule("credential-assignment")
        .build()
        .unwrap();
    assert_eq!(
        only.redact_str("\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\""),
        "\"SecretAccessKey\": \"***\""
    );
}

#[test]
fn jwt() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    masks(&format!("token={jwt}"), "token=***");
    masks(&format!("got {jwt}."), "got ***.");
    keeps("eyJhbGciOiJIUzI1NiJ9 is only a header");
}

#[test]
fn authorization_header() {
    masks(
        "Authorization: Bearer abc.def-123",
        "Authorization: Bearer ***",
    );
    masks(
        "authorization: Basic dXNlcjpwYXNz",
        "authorization: Basic ***",
    );
    masks(
        "-H 'Authorization: token ghx123456' -X",
        "-H 'Authorization: token ***' -X",
    );
    masks(
        "Proxy-Authorization: Bearer zzzzzzzz",
        "Proxy-Authorization: Bearer ***",
    );
}

#[test]
fn pem_private_key() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onL\n-----END RSA PRIVATE KEY-----\n";
    let out = red(&format!("key:\n{pem}after"));
    assert_eq!(
        out,
        "key:\n-----BEGIN RSA PRIVATE KEY-----\n***\n-----END RSA PRIVATE KEY-----\nafter"
    );
    keeps("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
    // JSON-escaped PEM (a service-account blob) is caught too
    let esc = "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n\"";
    let out = red(esc);
    assert!(!out.contains("MIIEvQIBADANBg"), "{out}");
    // no END: masked up to the end of input (bounded by MAX_PEM)
    let out = red("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA");
    assert_eq!(out, "-----BEGIN OPENSSH PRIVATE KEY-----***");
    let long = format!("-----BEGIN PRIVATE KEY-----{}", "A".repeat(MAX_PEM + 10));
    assert_eq!(
        red(&long),
        format!("-----BEGIN PRIVATE KEY-----***{}", "A".repeat(10))
    );
}

#[test]
fn credential_assignments() {
    masks("POSTGRES_PASSWORD=hunter2", "POSTGRES_PASSWORD=***");
    masks("DATABASE_PASSWORD: hunter2", "DATABASE_PASSWORD: ***");
    masks(
        "{\"password\": \"hunter2\", \"user\": \"bob\"}",
        "{\"password\": \"***\", \"user\": \"bob\"}",
    );
    masks(
        "{\"client_secret\":\"abc def\"}",
        "{\"client_secret\":\"***\"}",
    );
    masks("api_key: Zx81kq02LmN3pQ7r", "api_key: ***");
    masks(
        "export GITHUB_TOKEN=Zx81kq02LmN3pQ7rWs",
        "export GITHUB_TOKEN=***",
    );
    masks("--password=hunter2 --verbose", "--password=*** --verbose");
    masks(
        "https://x.io/cb?access_token=Zx81kq02LmN3pQ7r&state=1",
        "https://x.io/cb?access_token=***&state=1",
    );
    masks(
        "{\\\"password\\\":\\\"hunter2\\\"}",
        "{\\\"password\\\":\\\"***\\\"}",
    );
    masks("clientSecret = 'abc123def'", "clientSecret = '***'");
    masks("password: Summer.2024", "password: ***");
    masks("secret=Hunter2", "secret=***");
}

#[test]
fn assignment_precision() {
    for line in [
        "max_tokens=4096",
        "token_type: bearer",
        "cache_key: linux-x64-node20-deps",
        "primary_key = id",
        "keyboard_layout=us",
        "password_min_length = 12",
        "PWD=/home/runner/work/app",
        "secret: ${{ secrets.DEPLOY_KEY }}",
        "password: ********",
        "\"token_count\": 1523",
        "key: value",
        "KEY_FILE=/etc/ssl/key.pem",
        "inputTokens: 1200, outputTokens: 88",
        "monkey=banana",
        "timeout: 30s",
        "password_required: true",
        "public_key: ssh-ed25519AAAAC3NzaC1lZDI1NTE5AAAAIA",
        "auth_url=https://auth.example.com/oauth",
        "a == b && token != null",
        // source code and prose echoed into agent logs
        "const creds = await this.fileStore.read();",
        "registrationToken: runnerToken.token,",
        "write(creds: AgentEnrollmentCredentials): Promise<void>;",
        "const SHARED_SECRET = process.env.HARNESS_SHARED_SECRET",
        "redact(input: string, knownSecrets: readonly string[] = [])",
        "Nothing here holds long-lived secrets: the per-job tokens arrive",
        "x-access-token:<token>",
    ] {
        keeps(line);
    }
}

#[test]
fn rules_can_be_disabled_and_added() {
    let r = Redactor::builder()
        .disable_rule("github-token")
        .custom_rule("ticket", r"TICKET-[0-9]{6}")
        .build()
        .unwrap();
    assert_eq!(
        r.redact_str("ghp_abcdefghijklmnop TICKET-123456"),
        "ghp_abcdefghijklmnop ***"
    );
    let names: Vec<_> = r
        .rules()
        .into_iter()
        .filter(|x| !x.enabled)
        .map(|x| x.name)
        .collect();
    assert_eq!(names, ["github-token"]);
    assert!(matches!(
        Redactor::builder().disable_rule("nope").build(),
        Err(RedactError::UnknownRule { name }) if name == "nope"
    ));
    let err = Redactor::builder()
        .custom_rule("bad", "(")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("bad"), "{err}");
    assert!(Redactor::builder()
        .custom_rule("empty", "a*")
        .build()
        .is_err());
    assert!(Redactor::builder().custom_rule("jwt", "x").build().is_err());
    assert!(Redactor::builder().mask("").build().is_err());
    assert!(Redactor::builder().min_secret_len(0).build().is_err());
    for rule in BuiltinRule::ALL {
        assert_eq!(BuiltinRule::from_name(rule.name()), Some(rule));
    }
}

// ---------------------------------------------------------------- known values

#[test]
fn known_values_and_min_length() {
    let r = r();
    assert!(r.add_secret("tok-123456"));
    assert!(!r.add_secret("tok-123456"), "duplicate");
    assert!(!r.add_secret("short"), "below the minimum length");
    assert_eq!(r.redact_str("a tok-123456 b tok-123456c"), "a *** b ***c");
    assert_eq!(r.redact_str("short stays"), "short stays");
    assert_eq!(r.secret_count(), 1);
}

#[test]
fn encoded_forms() {
    use std::fmt::Write;
    let secret = "p@ss/w0rd+\"quoted\" and more";
    let r = r();
    r.add_secret(secret);
    let std_b64 = |b: &[u8]| {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..=c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
            for _ in c.len()..3 {
                s.push('=');
            }
        }
        s
    };
    for prefix in ["", "u:", "us:", "user:", "Basic-auth-prefix "] {
        let enc = std_b64(format!("{prefix}{secret}").as_bytes());
        for form in [
            enc.clone(),
            enc.trim_end_matches('=').into(),
            enc.replace('+', "-").replace('/', "_"),
        ] {
            let out = r.redact_str(&format!("auth {form} end")).into_owned();
            let probe = &std_b64(secret.as_bytes())[4..16];
            assert!(out.contains("***"), "{prefix:?} {form} -> {out}");
            assert!(!out.contains(probe) || !enc.contains(probe), "{out}");
            // only the prefix's own characters and at most 3 mixed/padding characters stay
            let (before, after) = out.split_once("***").unwrap();
            assert!(
                before.len() <= "auth ".len() + (prefix.len() * 4).div_ceil(3) + 1,
                "{prefix:?}: {out}"
            );
            assert!(after.len() <= " end".len() + 3, "{prefix:?}: {out}");
        }
    }
    let mut pct = String::new();
    for b in secret.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            pct.push(b as char);
        } else {
            write!(pct, "%{b:02X}").unwrap();
        }
    }
    assert_eq!(r.redact_str(&format!("url?x={pct}&y")), "url?x=***&y");
    assert_eq!(
        r.redact_str(&format!("url?x={}&y", pct.to_lowercase())),
        "url?x=***&y"
    );
    let json = serde_json::to_string(secret).unwrap();
    assert_eq!(
        r.redact_str(&format!("{{\"v\":{json}}}")),
        "{\"v\":\"***\"}"
    );
}

#[test]
fn multi_line_secret_masks_each_line() {
    let r = r();
    r.add_secret("line-one-of-the-key\nline-two-of-the-key\nab\n");
    assert_eq!(r.redact_str("x line-two-of-the-key y"), "x *** y");
    assert_eq!(r.redact_str("ab stays"), "ab stays");
    assert_eq!(
        r.redact_str("\"line-one-of-the-key\\nline-two-of-the-key\\nab\\n\""),
        "\"***\""
    );
}

#[test]
fn json_blob_harvesting() {
    let blob = r#"{"auth_mode":"chatgpt","tokens":{"access_token":"eyJaccess-0123456789","refresh_token":"rt_0123456789abcdef","account_id":"acct-1234567890ab"}}"#;
    let s = secrets_to_redact(blob);
    assert!(s.contains(&blob.to_string()));
    assert!(s.contains(&"rt_0123456789abcdef".to_string()));
    assert!(!s.contains(&"chatgpt".to_string()));
    let r = r();
    r.add_json_secret(blob);
    assert_eq!(
        r.redact_str("refresh with rt_0123456789abcdef failed (chatgpt)"),
        "refresh with *** failed (chatgpt)"
    );
    assert_eq!(
        secrets_to_redact("not json at all"),
        vec!["not json at all".to_string()]
    );
}

#[test]
fn overlapping_and_adjacent_hits_merge() {
    let r = r();
    r.add_secret("abcdefgh");
    r.add_secret("efghijkl");
    r.add_secret("mnopqrst");
    assert_eq!(r.redact_str("xxabcdefghijklmnopqrstxx"), "xx***xx");
    assert_eq!(r.redact_str("abcdefgh abcdefgh"), "*** ***");
}

#[test]
fn idempotent() {
    let r = r();
    r.add_secret("s3cr3t-value-9");
    let input = "PASSWORD=hunter2 https://u:p@h ghp_abcdefghijklmnopqrstu s3cr3t-value-9 Authorization: Bearer zzz";
    let once = r.redact_str(input).into_owned();
    assert_eq!(r.redact_str(&once), once);
    let masked = Redactor::builder().mask("[REDACTED]").build().unwrap();
    let once = masked.redact_str(input).into_owned();
    assert_eq!(masked.redact_str(&once), once);
    assert!(once.contains("PASSWORD=[REDACTED]"), "{once}");
}

/// Found by the fuzz target: a secret that starts with a mask character was
/// re-formed on a second pass from the mask and the text after it.
#[test]
fn secrets_with_mask_characters_stay_idempotent() {
    let r = r();
    r.add_secret("*xxxxxxxxx");
    let input = format!("*{}", "x".repeat(33));
    let once = r.redact_str(&input).into_owned();
    assert_eq!(r.redact_str(&once), once);
    assert!(!once.contains("*xxxxxxxxx"));
    r.add_secret("p4ss**");
    let once = r.redact_str("a p4ss** b p4ss***c").into_owned();
    assert_eq!(r.redact_str(&once), once);
}

#[test]
fn bytes_and_invalid_utf8() {
    let r = r();
    r.add_secret(b"\xff\xfebinary-secret");
    let mut input = b"\x80\x81 before ".to_vec();
    input.extend_from_slice(b"\xff\xfebinary-secret after \xc3");
    assert_eq!(&*r.redact_bytes(&input), b"\x80\x81 before *** after \xc3");
    let plain = b"\xf0\x28\x8c\xbc nothing here";
    assert!(matches!(
        r.redact_bytes(plain),
        std::borrow::Cow::Borrowed(_)
    ));
    // str masks never split a character
    let r2 = Redactor::new();
    r2.add_secret("é-secret-é");
    assert_eq!(r2.redact_str("xé-secret-éx"), "x***x");
}

#[test]
fn capture_semantics() {
    assert_eq!(capture_redacted_output("", "  "), None);
    assert_eq!(
        capture_redacted_output(" out \n", "").as_deref(),
        Some("out")
    );
    assert_eq!(capture_redacted_output("a", "b").as_deref(), Some("a\nb"));
    let long = format!("{}TOKEN=Zx81kq02LmN3pQ7r", "x".repeat(20_000));
    let out = capture_redacted_output(&long, "").unwrap();
    assert!(out.starts_with("…("), "{}", &out[..30]);
    assert!(out.ends_with("TOKEN=***"));
    assert!(out.contains("earlier chars trimmed)\n"));
}

#[test]
fn debug_never_prints_secrets() {
    let r = Redactor::builder()
        .secret("debug-secret-1")
        .build()
        .unwrap();
    let dbg = format!("{r:?} {:?}", r.stream());
    assert!(!dbg.contains("debug-secret-1"), "{dbg}");
    let b = Redactor::builder().secret("debug-secret-2");
    assert!(!format!("{b:?}").contains("debug-secret-2"));
}

#[test]
fn secrets_added_later_apply_to_running_streams() {
    let r = r();
    let mut s = r.stream();
    let mut out = Vec::new();
    s.write(b"first line\n", &mut out);
    r.add_secret("late-secret-value");
    s.write(b"then late-secret-value\n", &mut out);
    s.finish(&mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "first line\nthen ***\n");
}

#[test]
fn concurrent_registration_and_redaction() {
    let r = r();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let r = r.clone();
            scope.spawn(move || {
                for i in 0..200 {
                    let s = format!("thread-{t}-secret-{i:04}");
                    r.add_secret(&s);
                    assert_eq!(r.redact_str(&format!("<{s}>")), "<***>");
                }
            });
        }
    });
    assert_eq!(r.secret_count(), 800);
}

// ---------------------------------------------------------------- streaming

fn stream_chunks(r: &Redactor, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut s = r.stream();
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        let c = c.clamp(prev, input.len());
        s.write(&input[prev..c], &mut out);
        prev = c;
    }
    s.write(&input[prev..], &mut out);
    s.finish(&mut out);
    out
}

#[test]
fn stream_every_split_point_matches_one_shot() {
    let r = r();
    r.add_secret("known-secret-123");
    let input =
        b"a=1 PASSWORD=hunter2 url https://u:p@h/x ghp_abcdefghijklmnopqrstu known-secret-123 \
        Authorization: Bearer xyz123456 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig \
        -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBk\n-----END EC PRIVATE KEY----- tail";
    let expected = r.redact_bytes(input).into_owned();
    for cut in 0..=input.len() {
        assert_eq!(stream_chunks(&r, input, &[cut]), expected, "cut at {cut}");
    }
    let bytewise: Vec<usize> = (0..input.len()).collect();
    assert_eq!(stream_chunks(&r, input, &bytewise), expected);
}

#[test]
fn stream_holds_back_a_bounded_tail_and_flush_is_safe() {
    let r = r();
    r.add_secret("abcdefghijklmnopqrstuvwxyz-0123456789");
    let mut s = r.stream();
    let mut out = Vec::new();
    s.write(b"hello world, here comes abcdefghij", &mut out);
    s.flush(&mut out);
    // the flush writes everything that cannot be a secret's start, and nothing else
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "hello world, here comes "
    );
    assert_eq!(s.pending(), "abcdefghij".len());
    s.write(b"klmnopqrstuvwxyz-0123456789 done", &mut out);
    s.finish(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "hello world, here comes *** done"
    );
}

#[test]
fn stream_memory_is_bounded_on_large_input() {
    let r = r();
    let mut s = r.stream();
    let mut out = Vec::new();
    let line =
        b"2026-01-01T00:00:00Z INFO worker: step=42 status=ok message=\"all fine\"\n".repeat(2000);
    for _ in 0..50 {
        s.write(&line, &mut out);
        assert!(s.pending() < 4096, "pending {}", s.pending());
        out.clear();
    }
    s.finish(&mut out);
}

#[derive(Debug, Clone)]
struct Planted {
    input: Vec<u8>,
    secrets: Vec<String>,
    cuts: Vec<usize>,
}

fn planted() -> impl Strategy<Value = Planted> {
    let filler = prop::collection::vec(
        prop_oneof![
            Just(b"word ".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"key=".to_vec()),
            Just(b"PASSWORD=".to_vec()),
            Just(b"https://".to_vec()),
            Just(b"ghp_".to_vec()),
            Just(b"eyJ".to_vec()),
            Just(b"-----BEGIN PRIVATE KEY-----".to_vec()),
            Just(b"-----END".to_vec()),
            Just(b"@".to_vec()),
            Just(b":".to_vec()),
            Just(b"\"".to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
            "[a-zA-Z0-9_.-]{0,12}".prop_map(String::into_bytes),
        ],
        0..40,
    );
    let secrets = prop::collection::vec("[a-zA-Z0-9+/=_-]{6,24}", 1..4);
    (
        filler,
        secrets,
        prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    )
        .prop_map(|(parts, secrets, idx)| {
            let mut input = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                input.extend_from_slice(p);
                if i % 5 == 0 {
                    let s = &secrets[i % secrets.len()];
                    input.extend_from_slice(s.as_bytes());
                }
            }
            for s in &secrets {
                input.extend_from_slice(b" ");
                input.extend_from_slice(s.as_bytes());
            }
            let mut cuts: Vec<usize> = idx.iter().map(|i| i.index(input.len() + 1)).collect();
            cuts.sort_unstable();
            Planted {
                input,
                secrets,
                cuts,
            }
        })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_chunkings_match_one_shot_and_leak_nothing(p in planted()) {
        let r = Redactor::new();
        for s in &p.secrets {
            r.add_secret(s);
        }
        let one_shot = r.redact_bytes(&p.input).into_owned();
        let streamed = stream_chunks(&r, &p.input, &p.cuts);
        prop_assert_eq!(&streamed, &one_shot);
        for s in &p.secrets {
            prop_assert!(!contains(&one_shot, s.as_bytes()), "secret {} leaked", s);
        }
        // idempotent
        prop_assert_eq!(r.redact_bytes(&one_shot).into_owned(), one_shot);
    }

    #[test]
    fn flushes_never_break_equivalence(p in planted()) {
        let r = Redactor::new();
        for s in &p.secrets {
            r.add_secret(s);
        }
        let one_shot = r.redact_bytes(&p.input).into_owned();
        let mut s = r.stream();
        let mut out = Vec::new();
        let mut prev = 0;
        for &c in &p.cuts {
            s.write(&p.input[prev..c], &mut out);
            s.flush(&mut out);
            prev = c;
        }
        s.write(&p.input[prev..], &mut out);
        s.finish(&mut out);
        prop_assert_eq!(out, one_shot);
    }
}

/// A large write whose first bytes continue a block opened by the previous write:
/// the seam cannot commit, and the rest of the chunk goes through the window.
#[test]
fn large_write_continuing_an_open_block() {
    let r = r();
    r.add_secret("planted-secret-42");
    let head = b"log line\n-----BEGIN PRIVATE KEY-----\n".to_vec();
    let mut body = "QUJDRA".repeat(3000).into_bytes();
    body.extend_from_slice(b"\n-----END PRIVATE KEY-----\nthen planted-secret-42 and more\n");
    body.extend(std::iter::repeat_n(b'x', 20_000));
    let mut input = head.clone();
    input.extend_from_slice(&body);
    let expected = r.redact_bytes(&input).into_owned();
    for split in [head.len(), head.len() - 5, head.len() + 3] {
        assert_eq!(
            stream_chunks(&r, &input, &[split]),
            expected,
            "split at {split}"
        );
    }
    assert!(!contains(&expected, b"QUJDRA"));
    assert!(!contains(&expected, b"planted-secret-42"));
}

fn large_planted() -> impl Strategy<Value = Planted> {
    // Large inputs and large chunks, so writes take the in-place path (chunks of
    // 8 KiB and more) and secrets, PEM blocks and assignments straddle its seams.
    let part = prop_oneof![
        4 => "[a-z ]{20,200}\n".prop_map(String::into_bytes),
        1 => Just(b"PASSWORD=hunter2-xyz ".to_vec()),
        1 => Just(b"https://user:pw@host/x ".to_vec()),
        1 => Just(b"ghp_abcdefghijklmnopqrstuvwxyz0123456789 ".to_vec()),
        1 => "[a-z]{0,3}".prop_map(|p| format!("-----BEGIN PRIVATE KEY-----\n{}{}\n-----END PRIVATE KEY-----\n", p, "QUJD".repeat(300)).into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    let secrets = prop::collection::vec("[a-zA-Z0-9+/=_-]{6,40}", 1..4);
    (
        prop::collection::vec(part, 50..400),
        secrets,
        prop::collection::vec((0usize..4, 1usize..70_000), 1..8),
    )
        .prop_map(|(parts, secrets, cuts)| {
            let mut input = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                input.extend_from_slice(p);
                if i % 7 == 0 {
                    input.extend_from_slice(secrets[i % secrets.len()].as_bytes());
                }
            }
            let mut at = 0;
            let mut positions = Vec::new();
            for (kind, len) in cuts {
                // mostly big steps, sometimes a tiny one right before a big one
                at += if kind == 0 { len % 97 } else { len };
                positions.push(at.min(input.len()));
            }
            positions.sort_unstable();
            Planted {
                input,
                secrets,
                cuts: positions,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn large_chunks_match_one_shot(p in large_planted()) {
        let r = Redactor::new();
        for s in &p.secrets {
            r.add_secret(s);
        }
        let one_shot = r.redact_bytes(&p.input).into_owned();
        let streamed = stream_chunks(&r, &p.input, &p.cuts);
        prop_assert!(streamed == one_shot, "stream differs from one-shot ({} bytes, cuts {:?})", p.input.len(), p.cuts);
        for s in &p.secrets {
            prop_assert!(!contains(&one_shot, s.as_bytes()));
        }
    }
}

// ---------------------------------------------------------------- held-back groups

/// One group holding the commit point back (an unterminated PEM block) must not
/// change what the other groups find when the stream is written byte by byte with
/// flushes in between. (It also made them rescan their decided anchors on every
/// write: 2.4 KB took seconds — found by the coverage-guided stream fuzzer; the
/// input is kept as a seed of `core/fuzz/corpus/stream_redactor`. Speed is not
/// asserted here; the test prints the time.)
#[test]
fn byte_by_byte_stream_with_a_held_block_equals_one_shot() {
    let mut input = String::new();
    input.push_str("-----BEGIN RSA PRIVATE KEY-----\n");
    for i in 0..180 {
        input.push_str("token:token:");
        if i % 7 == 0 {
            input.push_str(" api_key=Zq8VmR2xT5wL9pC3 ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5 ");
        }
    }
    input.push_str("\npassword=Summer.Breeze2024 done\n");
    for terminated in [false, true] {
        let mut text = input.clone();
        if terminated {
            text.push_str("-----END RSA PRIVATE KEY-----\ntail token:abc\n");
        }
        let red = r();
        let one_shot = red.redact_bytes(text.as_bytes()).into_owned();
        assert_ne!(one_shot, text.as_bytes(), "the input holds secrets");
        let started = std::time::Instant::now();
        let mut stream = red.stream();
        let mut out = Vec::new();
        for (i, b) in text.as_bytes().iter().enumerate() {
            stream.write(std::slice::from_ref(b), &mut out);
            if i % 3 == 2 {
                stream.flush(&mut out);
            }
        }
        stream.finish(&mut out);
        eprintln!(
            "{} bytes byte by byte (terminated: {terminated}): {:?}",
            text.len(),
            started.elapsed()
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&one_shot),
            "terminated: {terminated}"
        );
    }
}
