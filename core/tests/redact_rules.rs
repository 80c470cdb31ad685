//! The credential catalogue and the assignment scanner (issue 12): positive and
//! negative cases per rule and syntax. Every case is also streamed split at every
//! byte and byte by byte: the stream must give the one-shot output.

use keel_core::redact::{BuiltinRule, Redactor};

fn one_shot(input: &str) -> String {
    Redactor::new().redact_str(input).into_owned()
}

fn streamed(input: &str, cuts: &[usize]) -> String {
    let r = Redactor::new();
    let mut s = r.stream();
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        s.write(&input.as_bytes()[prev..c], &mut out);
        prev = c;
    }
    s.write(&input.as_bytes()[prev..], &mut out);
    s.finish(&mut out);
    String::from_utf8(out).unwrap()
}

#[track_caller]
fn check_stream(input: &str, want: &str) {
    for cut in 0..=input.len() {
        assert_eq!(streamed(input, &[cut]), want, "{input:?} cut at {cut}");
    }
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(streamed(input, &every), want, "{input:?} byte by byte");
}

/// `input` becomes `want` (one-shot and streamed).
#[track_caller]
fn masks(input: &str, want: &str) {
    assert_eq!(one_shot(input), want, "input: {input:?}");
    check_stream(input, want);
}

/// The secret `secret` in `input` no longer appears in the output, which changed.
#[track_caller]
fn hides(input: &str, secret: &str) {
    let out = one_shot(input);
    assert!(!out.contains(secret), "{input:?} -> {out:?}");
    check_stream(input, &out);
}

#[track_caller]
fn keeps(input: &str) {
    assert_eq!(one_shot(input), input, "should be untouched");
    check_stream(input, input);
}

const SECRET: &str = "b3alourn5iwnhodp6kkjxf4udl4qbe";

// ------------------------------------------------------------ assignment syntax

#[test]
fn assignments_in_every_common_syntax() {
    let s = SECRET;
    for (input, want) in [
        (
            format!("  \"twitchToken\" => \"{s}\""),
            "  \"twitchToken\" => \"***\"",
        ),
        (
            format!("$twitchToken .= \"{s}\""),
            "$twitchToken .= \"***\"",
        ),
        (
            format!("var twitchToken string = \"{s}\""),
            "var twitchToken string = \"***\"",
        ),
        (
            format!("val apiToken: String = \"{s}\""),
            "val apiToken: String = \"***\"",
        ),
        (format!("twitchToken := \"{s}\""), "twitchToken := \"***\""),
        (format!("twitchToken := `{s}`"), "twitchToken := `***`"),
        (
            format!("TWITCH_TOKEN := \"{s}\""),
            "TWITCH_TOKEN := \"***\"",
        ),
        (
            format!("TWITCH_TOKEN ::= \"{s}\""),
            "TWITCH_TOKEN ::= \"***\"",
        ),
        (
            format!("TWITCH_TOKEN :::= \"{s}\""),
            "TWITCH_TOKEN :::= \"***\"",
        ),
        (
            format!("TWITCH_TOKEN ?= \"{s}\""),
            "TWITCH_TOKEN ?= \"***\"",
        ),
        (
            format!("TWITCH_TOKEN += \"{s}\""),
            "TWITCH_TOKEN += \"***\"",
        ),
        (
            format!("System.setProperty(\"TWITCH_TOKEN\", \"{s}\")"),
            "System.setProperty(\"TWITCH_TOKEN\", \"***\")",
        ),
        (
            format!("os.Setenv(\"API_TOKEN\", \"{s}\")"),
            "os.Setenv(\"API_TOKEN\", \"***\")",
        ),
        (
            "<add key=\"Password\" value=\"Hunter2Pass!\" />".to_string(),
            "<add key=\"Password\" value=\"***\" />",
        ),
        (
            format!("<twitchToken>{s}</twitchToken>"),
            "<twitchToken>***</twitchToken>",
        ),
        (
            format!("<twitchToken>\n    {s}\n</twitchToken>"),
            "<twitchToken>\n    ***\n</twitchToken>",
        ),
        (format!("twitch_token: '{s}'"), "twitch_token: '***'"),
        (
            format!("{{\"twitch_token\": \"{s}\"}}"),
            "{\"twitch_token\": \"***\"}",
        ),
        (
            format!("export TWITCH_TOKEN={s}"),
            "export TWITCH_TOKEN=***",
        ),
        (format!("twitch_token = \"{s}\""), "twitch_token = \"***\""),
        (format!("--api-token={s}"), "--api-token=***"),
    ] {
        masks(&input, want);
    }
}

#[test]
fn assignments_that_are_not_credentials_are_kept() {
    keeps("<add key=\"Logging\" value=\"verbose\" />");
    keeps("<add key=\"Password\" />");
    keeps("os.Setenv(\"HOME\", \"/root\")");
    keeps("System.setProperty(\"api.token\", tokenValue.get())");
    keeps("<password>${DB_PASS}</password>");
    keeps("<tokenizer>standard</tokenizer>");
    keeps("if token == \"abc123def456ghi789\" {");
    keeps("token => token.trim()");
    keeps("x -> y => z");
    keeps("var tokenCount string = \"abc123def456ghi789\"");
    keeps("count := 0; token := <-ch");
}

// ------------------------------------------------------------ value heuristics

#[test]
fn dotted_and_letters_only_passwords_are_masked() {
    masks("password=Summer.Breeze2024", "password=***");
    masks(
        "DB_PASSWORD=correct.horse.battery.staple",
        "DB_PASSWORD=***",
    );
    masks(
        "access_token=ya29.a0AfH6SMBx3kqLongTokenValue123",
        "access_token=***",
    );
    masks("POSTGRES_PASSWORD=QISDarSQgMdXPe", "POSTGRES_PASSWORD=***");
}

#[test]
fn code_is_kept() {
    keeps("password = process.env.DB_PASSWORD");
    keeps("password: config.db.password");
    keeps("self.password = self.password");
    keeps("const token = this.token;");
    keeps("x_token = runnerToken.token");
    keeps("password = getpass()");
    keeps("password: params[:password]");
    keeps("credentials: AgentEnrollmentCredentials)");
    keeps("secret: HTTPServerConfig");
    keeps("password: ENC[AES256_GCM,data:abc123def,iv:xyz,tag:q==,type:str]");
}

// ------------------------------------------------------------ headers

#[test]
fn authorization_schemes_and_placeholders() {
    masks(
        "Authorization: Api-Token dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.ABCDEFGH",
        "Authorization: Api-Token ***",
    );
    masks(
        "Authorization: SSWS 00abcdEFGHijkl",
        "Authorization: SSWS ***",
    );
    masks(
        "Authorization: Bearer abc.def.ghi",
        "Authorization: Bearer ***",
    );
    masks("Authorization: abcdef0123456789", "Authorization: ***");
    keeps("curl -H \"Authorization: Bearer $API_KEY\" https://x");
    keeps("curl -H \"Authorization: Bearer $(gcloud auth print-access-token)\" x");
    keeps("Authorization: Bearer <your token>");
    keeps("Authorization: Bearer ${TOKEN}");
    keeps("Authorization: Bearer");
}

// ------------------------------------------------------------ token placeholders

#[test]
fn placeholders_and_documented_examples_are_kept() {
    keeps("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    keeps("xoxb-xxxxxxxxxx-xxxxxxxxxxxx");
    keeps("AKIAXXXXXXXXXXXXXXXX");
    keeps("AKIAIOSFODNN7EXAMPLE");
    keeps("glpat-XXXXXXXXXXXXXXXXXXXX");
    keeps("2018-250-xoxo-indieweb-1.jpg");
    keeps("export GITHUB_TOKEN=ghp_your_token_here");
    masks("xoxb-1234567890-abcdefghijkl", "xoxb-***");
}

#[test]
fn every_rule_has_a_name_and_a_description() {
    let mut names = std::collections::HashSet::new();
    for r in BuiltinRule::ALL {
        assert!(!r.description().is_empty(), "{}", r.name());
        assert!(names.insert(r.name()), "duplicate {}", r.name());
    }
}

#[test]
fn hides_is_used() {
    hides(&format!("token: {SECRET}"), SECRET);
}

// ------------------------------------------------------------ the catalogue

#[test]
fn catalogue_prefix_families() {
    for (input, want) in [
        ("glrt-abcdefghij0123456789", "glrt-***"),
        ("glptt-abcdefghij0123456789ab", "glptt-***"),
        ("glft-abcdefghij0123456789", "glft-***"),
        ("gldt-abcdefghij0123456789", "gldt-***"),
        ("gloas-abcdefghij0123456789", "gloas-***"),
        ("xoxe-1-abcdefghijklmnopqrstuvwxyz", "xoxe-***"),
        ("sk_prod_abcdef0123456789", "sk_prod_***"),
        ("rk_prod_abcdef0123456789", "rk_prod_***"),
        ("sgp_0123456789abcdef0123456789abcdef01234567", "sgp_***"),
        (
            "ntn_123456789012abcdefghijklmnopqrstuvwxyzABCDEFGH",
            "ntn_***",
        ),
        ("p8e-abcdefghijklmnopqrstuvwxyz012345", "p8e-***"),
        ("id LTAI5tQk9hZbX7yWmN3pR2sd end", "id LTAI*** end"),
        (
            "https://hooks.slack.com/services/T00000000/B00000000/abcdefghijklmnopqrstuvwx",
            "https://hooks.slack.com/***",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz",
            "https://discord.com/api/webhooks/***",
        ),
    ] {
        masks(input, want);
    }
}

#[test]
fn catalogue_negatives() {
    keeps("the dp.x value and hf_ok");
    keeps("- (id)hf_requiredCharacteristicTypesForDisplayMetadata;");
    keeps("&hf_servingcellpriorityparametersdescription_h_prio");
    keeps("ntn_123456789012345678901234567890123456789012345678901234567890");
    keeps("sgp_local_d45b6G86aBb0F2Cee943902dbaDBCFCFDD1dA089");
    keeps("xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere");
    keeps("xoxb-12345-abcd234");
    keeps("see https://hooks.slack.com/ for details");
    keeps("A3-B4 is a paper size");
}
