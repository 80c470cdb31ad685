//! `keel cred` end to end: the real binary, real temp mirror files, and the real
//! Linux kernel keyring (keyutils) under a keyring service name of its own per
//! test, cleared again at the end (also when a test fails).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const KEEL: &str = env!("CARGO_BIN_EXE_keel");
/// Not JWT-shaped: no redaction rule masks it, so any appearance is a leak.
const JWT: &str = "opaque-token-Q7x9Lp2Vw4Zr8Kd1Mn5Bv";

fn record(jwt: &str, url: &str) -> String {
    format!(
        r#"{{"jwt":"{jwt}","jwtExpiresAtUnix":1900000000,"agentId":"agent-7","tenantId":"tenant-3","platformUrl":"{url}"}}"#
    )
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn keel(args: &[&str], stdin: &str) -> Out {
    let mut child = Command::new(KEEL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keel");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One test's world: a temp dir with the mirror, and a keyring service name.
struct World {
    _dir: tempfile::TempDir,
    mirror: PathBuf,
    service: String,
}

impl World {
    fn new(tag: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("agent").join("agent-enrollment.cred");
        World {
            _dir: dir,
            mirror,
            service: format!("keel-clitest-{tag}-{}", std::process::id()),
        }
    }

    /// `--keyring keyutils --service S --mirror-path M` + `args`.
    fn keyutils(&self, verb: &str, args: &[&str], stdin: &str) -> Out {
        let mirror = self.mirror.to_str().unwrap();
        let mut all = vec![
            "cred",
            verb,
            "--keyring",
            "keyutils",
            "--service",
            &self.service,
        ];
        all.extend(["--mirror-path", mirror]);
        all.extend(args);
        keel(&all, stdin)
    }

    /// A process without the keyring entries: the in-memory store, same mirror.
    fn daemon(&self, verb: &str, args: &[&str]) -> Out {
        let mirror = self.mirror.to_str().unwrap();
        let mut all = vec!["cred", verb, "--keyring", "memory", "--mirror-path", mirror];
        all.extend(args);
        keel(&all, "")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.keyutils("clear", &[], "");
    }
}

fn keyutils_usable() -> bool {
    let w = World::new("probe");
    let ok = w
        .keyutils("write", &[], &record(JWT, "https://p.example"))
        .code
        == 0;
    if !ok {
        eprintln!("note: the kernel keyring is not usable here; keyutils checks skipped");
    }
    ok
}

#[test]
fn write_status_read_clear_round_trip_through_keyutils() {
    if !keyutils_usable() {
        return;
    }
    let w = World::new("roundtrip");
    let url = "https://platform.example.com";

    let out = w.keyutils("write", &[], &record(JWT, url));
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("stored in keyutils (5 keys)"),
        "{}",
        out.stdout
    );
    assert!(!out.all().contains(JWT));
    let meta = std::fs::metadata(&w.mirror).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let out = w.keyutils(
        "status",
        &[
            "--json",
            "--expect-url",
            "HTTPS://platform.example.com:443/",
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let v = out.json();
    assert_eq!(v["enrolled"], true);
    assert_eq!(v["source"], "keyring");
    assert_eq!(v["jwtExpiresAtUnix"], 1_900_000_000);
    assert_eq!(v["platformUrlMatches"], true);
    assert!(!out.all().contains(JWT));

    let out = w.keyutils("status", &["--expect-url", "https://other.example.com"], "");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("KEEL_PLATFORM_URL_MISMATCH"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("other.example.com"), "{}", out.stderr);

    // read without --show-secret: fields, source and expiry, never the JWT
    let out = w.keyutils("read", &[], "");
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("from the keyring"), "{}", out.stdout);
    assert!(out.stdout.contains("agent-7"), "{}", out.stdout);
    assert!(
        out.stdout.contains("expires       1900000000"),
        "{}",
        out.stdout
    );
    assert!(!out.all().contains(JWT));
    let out = w.keyutils("read", &["--json"], "");
    assert_eq!(out.json()["jwtPresent"], true);
    assert!(!out.all().contains(JWT));

    // read --show-secret: the record, with its source
    let out = w.keyutils("read", &["--show-secret", "--json"], "");
    assert_eq!(out.code, 0, "{}", out.all());
    let v = out.json();
    assert_eq!(v["jwt"], JWT);
    assert_eq!(v["agentId"], "agent-7");
    assert_eq!(v["source"], "keyring");
    let out = w.keyutils("read", &["--show-secret", "--jwt-only"], "");
    assert_eq!(out.stdout, format!("{JWT}\n"));

    // doctor: healthy
    let out = w.keyutils("doctor", &["--json"], "");
    assert_eq!(out.code, 0, "{}", out.all());
    let v = out.json();
    assert_eq!(v["resolvedFrom"], "keyring");
    assert_eq!(v["inSync"], true);
    assert!(!out.all().contains(JWT));
    let out = w.keyutils("doctor", &[], "");
    assert!(out.stdout.contains("5 of 5 entries"), "{}", out.stdout);

    // clear, then nothing is enrolled; clear again is a no-op
    let out = w.keyutils("clear", &["--json"], "");
    assert_eq!(out.code, 0, "{}", out.all());
    let v = out.json();
    assert_eq!(v["keyringKeysRemoved"].as_array().unwrap().len(), 5);
    assert_eq!(v["mirrorRemoved"], true);
    assert!(!w.mirror.exists());
    let out = w.keyutils("clear", &[], "");
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("nothing to remove"), "{}", out.stdout);
    let out = w.keyutils("status", &[], "");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("enrolled      no"), "{}", out.stdout);
    let out = w.keyutils("read", &["--json"], "");
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["error"]["code"], "KEEL_NOT_ENROLLED");
}

#[test]
fn a_process_without_the_keyring_entries_reads_the_mirror_and_says_so() {
    if !keyutils_usable() {
        return;
    }
    let w = World::new("fallback");
    assert_eq!(
        w.keyutils("write", &[], &record(JWT, "https://p.example"))
            .code,
        0
    );
    let out = w.daemon("status", &["--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v = out.json();
    assert_eq!(v["source"], "fileMirror");
    assert!(
        v["notes"][0].as_str().unwrap().contains("file mirror"),
        "{v}"
    );
    let out = w.daemon("read", &[]);
    assert!(
        out.stdout.contains("from the file mirror"),
        "{}",
        out.stdout
    );
    let out = w.daemon("read", &["--show-secret", "--json"]);
    assert_eq!(out.json()["jwt"], JWT);
    let out = w.daemon("doctor", &["--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v = out.json();
    assert_eq!(v["resolvedFrom"], "fileMirror");
    let codes: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"keyringEmpty"), "{codes:?}");
}

#[test]
fn write_a_bare_jwt_from_a_file_with_flags_and_the_exp_claim() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("m").join("agent-enrollment.cred");
    let m = mirror.to_str().unwrap();
    // header {"alg":"none"}, payload {"exp":2000000000}
    let token = "eyJhbGciOiJub25lIn0.eyJleHAiOjIwMDAwMDAwMDB9.c2ln";
    let file = dir.path().join("jwt.txt");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let f = file.to_str().unwrap();
    let base = [
        "cred",
        "write",
        "--keyring",
        "memory",
        "--mirror-path",
        m,
        "--from-file",
        f,
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend(extra);
        keel(&a, "")
    };
    let out = with(&["--agent-id", "a-1"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("--tenant-id"), "{}", out.stderr);
    let out = with(&[
        "--agent-id",
        "a-1",
        "--tenant-id",
        "t-1",
        "--platform-url",
        "https://p.example",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = keel(
        &[
            "cred",
            "read",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--json",
            "--show-secret",
        ],
        "",
    );
    let v = out.json();
    assert_eq!(v["jwt"], token);
    assert_eq!(v["jwtExpiresAtUnix"], 2_000_000_000);
    assert_eq!(v["source"], "fileMirror");
    // the mirror is the reference's format, field for field
    let text = std::fs::read_to_string(&mirror).unwrap();
    let on_disk: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = on_disk.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{text}");
    // an explicit expiry wins
    let out = with(&[
        "--agent-id",
        "a-1",
        "--tenant-id",
        "t-1",
        "--platform-url",
        "https://p.example",
        "--expires-at-unix",
        "1234",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = keel(
        &[
            "cred",
            "read",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--json",
        ],
        "",
    );
    assert_eq!(out.json()["jwtExpiresAtUnix"], 1234);
    assert_eq!(out.json()["expired"], true);
    // flags do not go with a JSON record
    let rec = dir.path().join("rec.json");
    std::fs::write(&rec, record(JWT, "https://p.example")).unwrap();
    let out = keel(
        &[
            "cred",
            "write",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--from-file",
            rec.to_str().unwrap(),
            "--agent-id",
            "x",
        ],
        "",
    );
    assert_eq!(out.code, 2, "{}", out.all());
}

#[test]
fn secrets_are_never_accepted_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("agent-enrollment.cred");
    let m = m.to_str().unwrap();
    // a record (or a JWT) as a positional argument or a --jwt flag is a usage error
    let rec = record(JWT, "u");
    for args in [
        vec![
            "cred",
            "write",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            rec.as_str(),
        ],
        vec![
            "cred",
            "write",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--jwt",
            JWT,
        ],
        vec![
            "cred",
            "write",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            JWT,
        ],
    ] {
        let out = keel(&args, "");
        assert_eq!(out.code, 2, "{args:?}: {}", out.all());
    }
    assert!(!Path::new(m).exists());
    // --jwt-only needs --show-secret; an unknown keyring backend is a usage error
    let out = keel(
        &[
            "cred",
            "read",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--jwt-only",
        ],
        "",
    );
    assert_eq!(out.code, 2);
    let out = keel(
        &["cred", "status", "--keyring", "vault", "--mirror-path", m],
        "",
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("vault"), "{}", out.stderr);
    // no verb
    assert_eq!(keel(&["cred"], "").code, 2);
}

#[test]
fn bad_input_names_the_field_and_never_echoes_the_jwt() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("agent-enrollment.cred");
    let m = m.to_str().unwrap();
    let write = |stdin: &str| {
        keel(
            &["cred", "write", "--keyring", "memory", "--mirror-path", m],
            stdin,
        )
    };
    let cases = [
        (
            format!(r#"{{"jwt":"{JWT}","jwtExpiresAtUnix":1,"tenantId":"t","platformUrl":"u"}}"#),
            "agentId",
        ),
        (
            format!(
                r#"{{"jwt":"{JWT}","jwtExpiresAtUnix":"soon","agentId":"a","tenantId":"t","platformUrl":"u"}}"#
            ),
            "jwtExpiresAtUnix",
        ),
        (
            format!(
                r#"{{"jwt":"{JWT}","jwtExpiresAtUnix":1,"agentId":"","tenantId":"t","platformUrl":"u"}}"#
            ),
            "agentId",
        ),
        (format!(r#"{{"jwt":"{JWT}", "#), "not valid JSON"),
    ];
    for (stdin, field) in &cases {
        let out = write(stdin);
        assert_eq!(out.code, 1, "{stdin}: {}", out.all());
        assert!(out.stderr.contains(field), "{field}: {}", out.stderr);
        assert!(
            out.stderr.contains("KEEL_INVALID_ARGUMENT"),
            "{}",
            out.stderr
        );
        assert!(!out.all().contains(JWT), "{}", out.all());
    }
    let out = write("  \n");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("stdin is empty"), "{}", out.stderr);
    let out = keel(
        &[
            "cred",
            "write",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--from-file",
            "/nonexistent/x",
        ],
        "",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot read /nonexistent/x"),
        "{}",
        out.stderr
    );
    assert!(!Path::new(m).exists(), "nothing was written");
}

#[test]
fn an_insecure_mirror_is_refused_with_the_fix_and_doctor_reports_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("a").join("agent-enrollment.cred");
    let m = mirror.to_str().unwrap();
    let out = keel(
        &["cred", "write", "--keyring", "memory", "--mirror-path", m],
        &record(JWT, "https://p.example"),
    );
    assert_eq!(out.code, 0, "{}", out.all());
    std::fs::set_permissions(&mirror, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = keel(
        &[
            "cred",
            "read",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--show-secret",
        ],
        "",
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("KEEL_INSECURE_FILE"), "{}", out.stderr);
    assert!(out.stderr.contains("0644"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("chmod 600 {m}")),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(JWT));

    let out = keel(
        &[
            "cred",
            "doctor",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--json",
        ],
        "",
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let v = out.json();
    let p = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "mirrorTooOpen")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(p["fix"], format!("chmod 600 {m}"));
    assert!(!out.all().contains(JWT));
    let out = keel(
        &["cred", "doctor", "--keyring", "memory", "--mirror-path", m],
        "",
    );
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("[mirrorTooOpen]"), "{}", out.stdout);
    assert!(out.stdout.contains("fix: chmod 600"), "{}", out.stdout);
}

#[test]
fn a_mirror_written_like_the_reference_is_read() {
    // JSON.stringify of the reference's object, tmp file → chmod 600 → rename.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("home").join(".buildhive");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mirror = sub.join("agent-enrollment.cred");
    let tmp = sub.join(format!("agent-enrollment.cred.tmp.{}", std::process::id()));
    std::fs::write(&tmp, record(JWT, "https://p.example")).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, &mirror).unwrap();
    let m = mirror.to_str().unwrap();
    let out = keel(
        &[
            "cred",
            "status",
            "--keyring",
            "memory",
            "--mirror-path",
            m,
            "--json",
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let v = out.json();
    assert_eq!(v["source"], "fileMirror");
    assert_eq!(v["tenantId"], "tenant-3");
}

#[test]
fn write_help_documents_the_input_with_an_example_that_works() {
    let help = keel(&["cred", "write", "--help"], "");
    assert_eq!(help.code, 0, "{}", help.all());
    for needle in [
        "\"jwt\"",
        "\"jwtExpiresAtUnix\"",
        "\"agentId\"",
        "\"tenantId\"",
        "\"platformUrl\"",
        "bare JWT",
        "--agent-id",
        "Examples:",
        "keel cred write",
    ] {
        assert!(
            help.stdout.contains(needle),
            "help lacks {needle}:\n{}",
            help.stdout
        );
    }
    // The record shown in the help is accepted as it is.
    let start = help.stdout.find("    {\n").expect("an example record");
    let end = start + help.stdout[start..].find("\n    }").expect("its end") + 6;
    let example = &help.stdout[start..end];
    let w = World::new("help");
    let m = w.mirror.to_str().unwrap();
    let out = keel(
        &["cred", "write", "--keyring", "memory", "--mirror-path", m],
        example,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let out = w.daemon("status", &["--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.json()["agentId"], "agent-1", "{}", out.stdout);
}

#[test]
fn doctor_advice_names_the_command_that_fixes_each_problem() {
    let w = World::new("advice");
    let m = w.mirror.to_str().unwrap();
    let expected = format!("keel cred write --mirror-path {m} --keyring memory < enrollment.json");
    // Not enrolled.
    let out = w.daemon("doctor", &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("[notEnrolled]"), "{}", out.stdout);
    assert!(out.stdout.contains(&expected), "{}", out.stdout);
    // Every problem with a fix names a command, in --json too.
    let out = w.daemon("doctor", &["--json"]);
    let problems = out.json()["problems"].as_array().cloned().unwrap();
    assert!(!problems.is_empty());
    for p in &problems {
        if let Some(fix) = p["fix"].as_str() {
            assert!(fix.contains("keel cred "), "{p}");
        }
    }
    // An unusable mirror: remove it, then write again — both commands named.
    std::fs::create_dir_all(w.mirror.parent().unwrap()).unwrap();
    std::fs::write(&w.mirror, "not json").unwrap();
    std::fs::set_permissions(
        &w.mirror,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = w.daemon("doctor", &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("fix: rm "))
        .unwrap_or_else(|| panic!("no rm fix:\n{}", out.stdout));
    assert!(line.contains(&expected), "{line}");
}
