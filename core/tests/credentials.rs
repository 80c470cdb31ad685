//! Credentials against the real Linux kernel keyring, real files and real processes.
//!
//! Run: `cargo test -p keel-core --test credentials`. Needs a Linux kernel with
//! keyutils (any modern kernel; no D-Bus, no `keyctl` binary, no session keyring) and
//! optionally `node` for the format tests against the reference's rules.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::*;
use keel_core::credentials::{
    jwt, BoundedStore, CredentialError, CredentialFileStore, CredentialSource, EnrollmentRecord,
    EnrollmentStore, EnrollmentStoreOptions, KeyringBackend, KeyringChoice, KeyringStore,
    MemoryStore, MirrorRead, Secret, SecretStore, Severity,
};

// ---------------------------------------------------------------------------------
// Fixtures.

/// A distinctive fragment of every test JWT's signature: it must never appear in any
/// output.
const SIG: &str = "sig-7f3a9c-DO-NOT-LEAK";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn make_jwt(tag: &str, round: u64, exp: i64) -> String {
    format!(
        "{}.{}.{SIG}-{tag}-{round}",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&format!(
            r#"{{"exp":{exp},"tenant_id":"tenant-{tag}-{round}"}}"#
        ))
    )
}

fn make_record(tag: &str, round: u64) -> EnrollmentRecord {
    let exp = 2_000_000_000 + round as i64;
    EnrollmentRecord {
        jwt: Secret::new(make_jwt(tag, round, exp)),
        jwt_expires_at_unix: exp,
        agent_id: format!("agent-{tag}-{round}"),
        tenant_id: format!("tenant-{tag}-{round}"),
        platform_url: format!("https://{tag}.example.com/r{round}"),
    }
}

/// Whether a record is exactly one of the records `make_record` builds (never a mix
/// of two writes).
fn is_consistent(r: &EnrollmentRecord) -> bool {
    let Some(rest) = r.agent_id.strip_prefix("agent-") else {
        return false;
    };
    let Some((tag, round)) = rest.rsplit_once('-') else {
        return false;
    };
    let Ok(round) = round.parse() else {
        return false;
    };
    *r == make_record(tag, round)
}

fn service(name: &str) -> String {
    format!("keel-test.{}.{name}", std::process::id())
}

fn keyutils_store(service: &str, mirror: Option<&Path>) -> EnrollmentStore {
    let b = EnrollmentStore::builder()
        .service_name(service)
        .keyring(KeyringChoice::Keyutils);
    match mirror {
        Some(p) => b.mirror_path(p),
        None => b.mirror(false),
    }
    .build()
    .unwrap()
}

fn memory_store(mirror: &Path) -> EnrollmentStore {
    EnrollmentStore::builder()
        .keyring(KeyringChoice::Memory)
        .mirror_path(mirror)
        .build()
        .unwrap()
}

/// Clears the keyutils entries of a test service even when the test fails.
struct KeyringCleanup(String);

impl Drop for KeyringCleanup {
    fn drop(&mut self) {
        let _ = keyutils_store(&self.0, None).clear();
    }
}

/// Capture `tracing` output (all levels) of `f` on this thread.
fn with_tracing<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (r, text)
}

/// Start `role` in a fresh, private session keyring, like a systemd service.
fn private_session(cmd: &mut std::process::Command) {
    // SAFETY: the closure only makes one system call (keyctl JOIN_SESSION_KEYRING
    // with a NULL name: a new anonymous session keyring) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::syscall(libc::SYS_keyctl, 1, 0usize) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn session_ids() -> (i64, i64) {
    // KEYCTL_GET_KEYRING_ID (0) of the session (-3) and user-session (-5) keyrings.
    // SAFETY: plain keyctl queries without pointers.
    unsafe {
        (
            libc::syscall(libc::SYS_keyctl, 0, -3i64, 0),
            libc::syscall(libc::SYS_keyctl, 0, -5i64, 0),
        )
    }
}

/// Whether the kernel keyring works here. It must in CI; a container whose seccomp
/// profile blocks `keyctl`/`add_key` fails loudly unless KEEL_SKIP_KEYRING_TESTS is set.
fn keyutils_usable() -> bool {
    let probe = KeyringStore::with_backend(service("probe"), KeyringBackend::Keyutils).unwrap();
    match probe
        .set("probe", &Secret::new("x"))
        .and_then(|_| probe.delete("probe"))
    {
        Ok(_) => true,
        Err(e) if std::env::var_os("KEEL_SKIP_KEYRING_TESTS").is_some() => {
            eprintln!("skipped: the kernel keyring is not usable here: {e}");
            false
        }
        Err(e) => panic!(
            "the Linux kernel keyring is not usable here ({e}); these tests need it (a \
             container's seccomp profile may block keyctl/add_key). Set \
             KEEL_SKIP_KEYRING_TESTS=1 to skip them."
        ),
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

// ---------------------------------------------------------------------------------
// Child roles.

/// No-op in a normal run; runs a role when started by a test as a child process.
#[test]
fn child_process_entry() {
    let Some(role) = role() else { return };
    let mirror = env("KEEL_TEST_MIRROR");
    let mirror = (!mirror.is_empty()).then(|| PathBuf::from(mirror));
    let svc = env("KEEL_TEST_SERVICE");
    let store = || match env("KEEL_TEST_BACKEND").as_str() {
        "memory" => memory_store(mirror.as_deref().unwrap()),
        _ => keyutils_store(&svc, mirror.as_deref()),
    };
    let code = match role.as_str() {
        "read_all" => {
            let (s, p) = session_ids();
            let private = if s != p { "1" } else { "0" };
            let (r, logs) = with_tracing(|| store().read_all());
            let has = store().has_enrollment();
            match r {
                Ok(res) => {
                    let expect = env("KEEL_TEST_EXPECT_JWT");
                    let source = match res.source {
                        CredentialSource::Keyring => "keyring",
                        CredentialSource::FileMirror => "fileMirror",
                    };
                    let logged = logs.contains("resolved the enrollment from the file mirror");
                    emit(&[
                        ("source", source),
                        ("agentId", &res.value.agent_id),
                        (
                            "jwtMatches",
                            &(res.value.jwt.expose() == expect).to_string(),
                        ),
                        ("consistent", &is_consistent(&res.value).to_string()),
                        ("note", res.notes.first().map(String::as_str).unwrap_or("")),
                        ("loggedFallback", &logged.to_string()),
                        ("hasEnrollment", &format!("{:?}", has.map_err(|e| e.code()))),
                        ("privateSession", private),
                        ("leak", &logs.contains(SIG).to_string()),
                    ]);
                }
                Err(e) => emit(&[
                    ("error", e.code()),
                    ("message", &e.to_string()),
                    ("hasEnrollment", &format!("{:?}", has.map_err(|e| e.code()))),
                    ("privateSession", private),
                ]),
            }
            0
        }
        "write" => {
            let tag = env("KEEL_TEST_TAG");
            let report = store().write(&make_record(&tag, 1)).unwrap();
            emit(&[("mirrorWritten", &report.mirror_written.to_string())]);
            0
        }
        "umask_write" => {
            // SAFETY: umask only affects this child process.
            unsafe { libc::umask(0) };
            let report = store().write(&make_record("umask", 1)).unwrap();
            assert!(report.mirror_written, "{report:?}");
            0
        }
        "write_loop" => {
            let s = store();
            let (a, b) = (make_record("a", 1), make_record("b", 2));
            let mut i = 0u64;
            loop {
                s.write([&a, &b][(i & 1) as usize]).unwrap();
                i += 1;
            }
        }
        "writer_rounds" => {
            let s = store();
            let tag = env("KEEL_TEST_TAG");
            let rounds: u64 = env("KEEL_TEST_ROUNDS").parse().unwrap();
            for round in 0..rounds {
                let report = s.write(&make_record(&tag, round)).unwrap();
                assert!(report.warnings.is_empty(), "{report:?}");
                // Two writers taking turns, like a CLI and a daemon: leave readers a gap.
                std::thread::sleep(Duration::from_micros(500));
            }
            0
        }
        other => panic!("unknown role {other}"),
    };
    std::process::exit(code);
}

// ---------------------------------------------------------------------------------
// The real kernel keyring across processes.

#[test]
fn keyutils_write_in_one_process_read_in_another() {
    if !keyutils_usable() {
        return;
    }
    let svc = service("cross-process");
    let _cleanup = KeyringCleanup(svc.clone());
    let store = keyutils_store(&svc, None);
    let record = make_record("xp", 1);
    let report = store.write(&record).unwrap();
    assert_eq!(report.keyring_backend, "keyutils");
    assert_eq!(report.keyring_keys_written.len(), 5);
    assert!(!report.mirror_written);
    assert_eq!(store.read_all().unwrap().source, CredentialSource::Keyring);
    store.check_keyring().unwrap();

    let jwt = record.jwt.expose().to_owned();
    let envs = [
        ("KEEL_TEST_SERVICE", svc.as_str()),
        ("KEEL_TEST_EXPECT_JWT", jwt.as_str()),
    ];
    // A second process of the same user.
    let out = run_child("read_all", &envs);
    assert_success(&out, "reader");
    let r = &results(&out)[0];
    assert_eq!(r["source"], "keyring", "{r:?}");
    assert_eq!(r["agentId"], "agent-xp-1");
    assert_eq!(r["jwtMatches"], "true");
    assert_eq!(r["hasEnrollment"], "Ok(true)");

    // A process in its own private session keyring (a systemd service, `keyctl
    // session`) sees the user keyring too.
    let mut cmd = child_command("read_all", &envs);
    private_session(&mut cmd);
    let out = cmd.output().unwrap();
    assert_success(&out, "private-session reader");
    let r = &results(&out)[0];
    assert_eq!(
        r["privateSession"], "1",
        "the child must really have its own session"
    );
    assert_eq!(r["source"], "keyring", "{r:?}");
    assert_eq!(r["jwtMatches"], "true");

    // And the other direction: a private-session child creates the keys (none exist
    // after the clear), this process reads them.
    assert_eq!(store.clear().unwrap().keyring_keys_removed.len(), 5);
    let mut cmd = child_command(
        "write",
        &[
            ("KEEL_TEST_SERVICE", svc.as_str()),
            ("KEEL_TEST_TAG", "child"),
        ],
    );
    private_session(&mut cmd);
    assert_success(&cmd.output().unwrap(), "private-session writer");
    let got = store.read_all().unwrap();
    assert_eq!(got.source, CredentialSource::Keyring);
    assert_eq!(got.value, make_record("child", 1));
}

#[test]
fn keyutils_clear_removes_every_key_and_the_mirror_and_is_idempotent() {
    if !keyutils_usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join(".app/agent-enrollment.cred");
    let svc = service("clear");
    let _cleanup = KeyringCleanup(svc.clone());
    let store = keyutils_store(&svc, Some(&mirror));
    store.write(&make_record("c", 1)).unwrap();
    assert!(mirror.exists());

    let report = store.clear().unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(
        report.keyring_keys_removed,
        vec![
            "agent-enrollment.jwt",
            "agent-enrollment.jwt_exp",
            "agent-enrollment.agent_id",
            "agent-enrollment.tenant_id",
            "agent-enrollment.platform_url"
        ]
    );
    assert!(report.mirror_removed);
    assert!(!mirror.exists());
    assert!(!CredentialFileStore::new(&mirror).lock_path().exists());
    assert!(!store.has_enrollment().unwrap());
    assert_eq!(store.read_all().unwrap_err().code(), "KEEL_NOT_ENROLLED");

    let again = store.clear().unwrap();
    assert!(
        again.is_complete() && !again.removed_anything(),
        "{again:?}"
    );

    // Another process agrees.
    let out = run_child(
        "read_all",
        &[
            ("KEEL_TEST_SERVICE", svc.as_str()),
            ("KEEL_TEST_MIRROR", mirror.to_str().unwrap()),
        ],
    );
    assert_success(&out, "reader after clear");
    let r = &results(&out)[0];
    assert_eq!(r["error"], "KEEL_NOT_ENROLLED", "{r:?}");
    assert_eq!(r["hasEnrollment"], "Ok(false)");
}

/// The field failure: the daemon's keyring lacks the entries (macOS: another
/// security session; Linux: after a reboot, the kernel keyring is empty but the
/// mirror is on disk). It must resolve from the mirror and say so.
#[test]
fn daemon_whose_keyring_lacks_the_entries_falls_back_to_the_mirror() {
    if !keyutils_usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join(".app/agent-enrollment.cred");
    let svc = service("daemon");
    let _cleanup = KeyringCleanup(svc.clone());
    let store = keyutils_store(&svc, Some(&mirror));
    let record = make_record("d", 7);
    store.write(&record).unwrap();

    // Simulate the reboot: the kernel keyring loses every entry, the file stays.
    let raw = KeyringStore::with_backend(&svc, KeyringBackend::Keyutils).unwrap();
    for (_, key) in store.keys().all() {
        assert!(raw.delete(key).unwrap(), "{key} was stored");
    }

    let jwt = record.jwt.expose().to_owned();
    let envs = [
        ("KEEL_TEST_SERVICE", svc.as_str()),
        ("KEEL_TEST_MIRROR", mirror.to_str().unwrap()),
        ("KEEL_TEST_EXPECT_JWT", jwt.as_str()),
    ];
    let mut cmd = child_command("read_all", &envs);
    private_session(&mut cmd);
    let out = cmd.output().unwrap();
    assert_success(&out, "daemon reader");
    let r = &results(&out)[0];
    assert_eq!(r["source"], "fileMirror", "{r:?}");
    assert_eq!(r["jwtMatches"], "true");
    assert_eq!(r["consistent"], "true");
    assert_eq!(r["hasEnrollment"], "Ok(true)");
    assert_eq!(r["loggedFallback"], "true", "the fallback must be logged");
    assert!(
        r["note"].contains("has no agent-enrollment.jwt") && r["note"].contains("file mirror"),
        "{r:?}"
    );
    assert_eq!(r["leak"], "false");

    // A daemon whose keyring answers nothing at all (macOS session denial) too.
    let out = run_child(
        "read_all",
        &[
            ("KEEL_TEST_BACKEND", "memory"),
            ("KEEL_TEST_MIRROR", mirror.to_str().unwrap()),
            ("KEEL_TEST_EXPECT_JWT", jwt.as_str()),
        ],
    );
    assert_success(&out, "memory-keyring reader");
    assert_eq!(results(&out)[0]["source"], "fileMirror");

    // Its diagnosis says where the answer comes from and why.
    let d = store.diagnose();
    assert_eq!(d.resolved_from, Some(CredentialSource::FileMirror));
    assert!(
        d.problems.iter().any(|p| p.code == "keyringEmpty"),
        "{:?}",
        d.problems
    );
    assert!(!d.has_errors(), "{:?}", d.problems);
}

// ---------------------------------------------------------------------------------
// Keyring failures and timeouts.

/// A store that fails in configurable ways, backed by memory.
#[derive(Clone, Default)]
struct Flaky {
    mem: MemoryStore,
    fail_get: bool,
    fail_set_at: Option<usize>,
    sets: Arc<AtomicUsize>,
    hang: Option<Duration>,
}

impl SecretStore for Flaky {
    fn backend_name(&self) -> &'static str {
        "flaky"
    }
    fn get(&self, key: &str) -> Result<Option<Secret>, CredentialError> {
        if let Some(d) = self.hang {
            std::thread::sleep(d);
        }
        if self.fail_get {
            return Err(CredentialError::KeyringUnavailable {
                backend: "flaky",
                detail: "locked".into(),
            });
        }
        self.mem.get(key)
    }
    fn set(&self, key: &str, value: &Secret) -> Result<(), CredentialError> {
        let n = self.sets.fetch_add(1, Ordering::SeqCst);
        if Some(n) == self.fail_set_at {
            return Err(CredentialError::Keyring {
                backend: "flaky",
                op: "set",
                key: key.into(),
                detail: "quota exceeded".into(),
            });
        }
        self.mem.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<bool, CredentialError> {
        self.mem.delete(key)
    }
}

fn flaky_store(flaky: Flaky, mirror: &Path) -> EnrollmentStore {
    EnrollmentStore::builder()
        .secret_store(flaky)
        .mirror_path(mirror)
        .build()
        .unwrap()
}

#[test]
fn failed_keyring_write_removes_the_keys_it_wrote_and_leaves_the_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("m/agent-enrollment.cred");
    let old = make_record("old", 1);
    CredentialFileStore::new(&mirror).write(&old).unwrap();

    let flaky = Flaky {
        fail_set_at: Some(2),
        ..Flaky::default()
    };
    let mem = flaky.mem.clone();
    let store = flaky_store(flaky, &mirror);
    let err = store.write(&make_record("new", 2)).unwrap_err();
    assert_eq!(err.code(), "KEEL_KEYRING_ERROR");
    assert!(mem.keys().is_empty(), "rolled back: {:?}", mem.keys());
    // The mirror still holds the old, complete record, and reads resolve to it.
    let got = store.read_all().unwrap();
    assert_eq!(got.source, CredentialSource::FileMirror);
    assert_eq!(got.value, old);
}

#[test]
fn mirror_write_failure_is_a_warning_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("not-a-dir");
    fs::write(&blocker, b"").unwrap();
    let mirror = blocker.join("agent-enrollment.cred");
    let (report, logs) = with_tracing(|| {
        EnrollmentStore::builder()
            .keyring(KeyringChoice::Memory)
            .mirror_path(&mirror)
            .build()
            .unwrap()
            .write(&make_record("w", 1))
    });
    let report = report.unwrap();
    assert!(!report.mirror_written);
    assert_eq!(report.keyring_keys_written.len(), 5);
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(report.warnings[0].message.contains("daemon"), "{report:?}");
    assert!(report.warnings[0].fix.is_some());
    assert!(
        logs.contains("could not write the credential mirror"),
        "{logs}"
    );
    assert!(!logs.contains(SIG));
}

#[test]
fn keyring_failure_falls_back_and_is_not_called_not_enrolled() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("m/agent-enrollment.cred");
    let broken = Flaky {
        fail_get: true,
        ..Flaky::default()
    };
    let store = flaky_store(broken.clone(), &mirror);
    // No mirror: the keyring's own error, not "not enrolled".
    assert_eq!(
        store.read_all().unwrap_err().code(),
        "KEEL_KEYRING_UNAVAILABLE"
    );
    assert_eq!(
        store.read_jwt().unwrap_err().code(),
        "KEEL_KEYRING_UNAVAILABLE"
    );
    assert_eq!(
        store.has_enrollment().unwrap_err().code(),
        "KEEL_KEYRING_UNAVAILABLE"
    );
    // With a mirror: answered from it, with the reason.
    let record = make_record("kf", 1);
    CredentialFileStore::new(&mirror).write(&record).unwrap();
    let got = store.read_all().unwrap();
    assert_eq!(got.source, CredentialSource::FileMirror);
    assert!(got.notes[0].contains("keyring failed"), "{:?}", got.notes);
    let jwt = store.read_jwt().unwrap();
    assert_eq!(jwt.value.jwt, record.jwt);
    assert_eq!(jwt.value.expires_at_unix, record.jwt_expires_at_unix);
    assert!(store.has_enrollment().unwrap());
    assert_eq!(
        store
            .assert_platform_url_matches("https://kf.example.com/r1/")
            .unwrap(),
        CredentialSource::FileMirror
    );
    assert_eq!(
        store.check_keyring().unwrap_err().code(),
        "KEEL_KEYRING_UNAVAILABLE"
    );
    let d = store.diagnose();
    assert!(!d.keyring.answered);
    assert!(d
        .problems
        .iter()
        .any(|p| p.code == "keyringUnavailable" && p.fix.is_some()));
}

#[test]
fn hung_keyring_calls_time_out_and_are_reported_as_timeouts() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("m/agent-enrollment.cred");
    let hanging = Flaky {
        hang: Some(Duration::from_millis(800)),
        ..Flaky::default()
    };
    let bounded = Arc::new(BoundedStore::new(hanging, Duration::from_millis(100)));
    let store = EnrollmentStore::builder()
        .secret_store(Arc::clone(&bounded))
        .mirror_path(&mirror)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = store.read_all().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), "KEEL_KEYRING_TIMEOUT");
    assert!(err.to_string().contains("within 100 ms"), "{err}");
    assert_eq!(bounded.stuck_calls(), 1);
    // While the first call is stuck, further calls fail at once.
    let started = Instant::now();
    assert_eq!(store.read_jwt().unwrap_err().code(), "KEEL_KEYRING_TIMEOUT");
    assert!(started.elapsed() < Duration::from_millis(50));
    // The mirror answers despite the hung keyring.
    CredentialFileStore::new(&mirror)
        .write(&make_record("t", 1))
        .unwrap();
    let got = store.read_all().unwrap();
    assert_eq!(got.source, CredentialSource::FileMirror);
    assert!(got.notes[0].contains("did not answer"), "{:?}", got.notes);
    // Once the hung call returns, the keyring is used again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while bounded.stuck_calls() > 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let fast = BoundedStore::new(MemoryStore::new(), Duration::from_millis(100));
    fast.set("k", &Secret::new("v")).unwrap();
    assert!(fast.get("k").unwrap().is_some());
}

#[test]
fn backends_that_are_not_built_in_are_clear_errors_never_a_mock() {
    let err = KeyringStore::with_backend("svc", KeyringBackend::MacosKeychain).unwrap_err();
    assert_eq!(err.code(), "KEEL_KEYRING_UNAVAILABLE");
    assert!(err.to_string().contains("does not exist on linux"), "{err}");
    if !KeyringBackend::SecretService.is_compiled_in() {
        let err = EnrollmentStore::builder()
            .keyring(KeyringChoice::SecretService)
            .mirror(false)
            .build()
            .unwrap_err();
        assert_eq!(err.code(), "KEEL_KEYRING_UNAVAILABLE");
        assert!(err.to_string().contains("secret-service"), "{err}");
    }
    assert_eq!(
        KeyringBackend::platform_default().unwrap(),
        KeyringBackend::Keyutils
    );
}

// ---------------------------------------------------------------------------------
// Permissions.

#[test]
fn mirror_is_0600_in_a_0700_dir_even_under_umask_000() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("fresh/.app/agent-enrollment.cred");
    let out = run_child(
        "umask_write",
        &[
            ("KEEL_TEST_BACKEND", "memory"),
            ("KEEL_TEST_MIRROR", mirror.to_str().unwrap()),
        ],
    );
    assert_success(&out, "umask 000 writer");
    assert_eq!(mode_of(&mirror), 0o600);
    assert_eq!(mode_of(mirror.parent().unwrap()), 0o700);
    let lock = CredentialFileStore::new(&mirror).lock_path();
    assert_eq!(mode_of(&lock), 0o600);
}

#[test]
fn group_or_world_readable_mirror_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join(".app/agent-enrollment.cred");
    let store = memory_store(&mirror);
    CredentialFileStore::new(&mirror)
        .write(&make_record("p", 1))
        .unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660, 0o606] {
        fs::set_permissions(&mirror, fs::Permissions::from_mode(mode)).unwrap();
        let err = store.read_all().unwrap_err();
        assert_eq!(err.code(), "KEEL_INSECURE_FILE");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("chmod 600 {}", mirror.display())),
            "{msg}"
        );
        assert!(msg.contains("too open"), "{msg}");
        assert_eq!(
            store.has_enrollment().unwrap_err().code(),
            "KEEL_INSECURE_FILE"
        );
        let d = store.diagnose();
        let p = d
            .problems
            .iter()
            .find(|p| p.code == "mirrorTooOpen")
            .unwrap();
        assert_eq!(p.severity, Severity::Error);
        assert_eq!(
            p.fix.as_deref(),
            Some(&*format!("chmod 600 {}", mirror.display()))
        );
        assert_eq!(d.mirror.mode.as_deref(), Some(&*format!("{mode:04o}")));
    }
    fs::set_permissions(&mirror, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        store.read_all().unwrap().source,
        CredentialSource::FileMirror
    );
}

// ---------------------------------------------------------------------------------
// Bad input.

#[test]
fn bad_mirror_contents_read_as_absent_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".app");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let mirror = dir.join("agent-enrollment.cred");
    let store = memory_store(&mirror);
    let jwt = make_jwt("bad", 1, 2_000_000_000);
    let full = |exp: &str| {
        format!(
            r#"{{"jwt":"{jwt}","jwtExpiresAtUnix":{exp},"agentId":"a","tenantId":"t","platformUrl":"https://p"}}"#
        )
    };
    let invalid: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        ("whitespace", b"  \n".to_vec(), "empty"),
        (
            "truncated",
            full("1").as_bytes()[..40].to_vec(),
            "truncated",
        ),
        ("garbage", b"not json {".to_vec(), "not valid JSON"),
        ("array", b"[1,2]".to_vec(), "not an object"),
        ("null", b"null".to_vec(), "not an object"),
        ("non-utf8", vec![0xff, 0xfe, b'{'], "not valid JSON"),
        (
            "missing agentId",
            format!(r#"{{"jwt":"{jwt}","tenantId":"t","platformUrl":"https://p"}}"#).into_bytes(),
            "agentId is missing",
        ),
        (
            "numeric jwt",
            br#"{"jwt":5,"agentId":"a","tenantId":"t","platformUrl":"p"}"#.to_vec(),
            "jwt is not a string",
        ),
        (
            "empty tenant",
            format!(r#"{{"jwt":"{jwt}","agentId":"a","tenantId":"","platformUrl":"p"}}"#)
                .into_bytes(),
            "tenantId is empty",
        ),
        ("huge", vec![b' '; 2 << 20], "limit"),
    ];
    for (name, bytes, reason) in invalid {
        fs::write(&mirror, &bytes).unwrap();
        fs::set_permissions(&mirror, fs::Permissions::from_mode(0o600)).unwrap();
        match CredentialFileStore::new(&mirror).read().unwrap() {
            MirrorRead::Invalid { reason: r } => assert!(r.contains(reason), "{name}: {r}"),
            other => panic!("{name}: {other:?}"),
        }
        let err = store.read_all().unwrap_err();
        assert_eq!(err.code(), "KEEL_NOT_ENROLLED", "{name}");
        let msg = err.to_string();
        assert!(
            msg.contains(reason) && msg.contains("unusable"),
            "{name}: {msg}"
        );
        assert!(!msg.contains(SIG), "{name}: {msg}");
        assert!(!store.has_enrollment().unwrap(), "{name}");
        let d = store.diagnose();
        assert!(
            d.problems.iter().any(|p| p.code == "mirrorInvalid"),
            "{name}"
        );
        assert!(!serde_json::to_string(&d).unwrap().contains(SIG));
    }

    // Tolerated like the reference: a missing or non-numeric expiry reads as 0.
    for (exp, expect, note) in [
        (r#""abc""#, 0, Some("not a number")),
        ("null", 0, Some("not a number")),
        ("1.5e9", 1_500_000_000, None),
        ("1767225600", 1_767_225_600, None),
        ("1e400", 0, None), // serde_json refuses: invalid JSON
    ] {
        fs::write(&mirror, full(exp)).unwrap();
        let read = CredentialFileStore::new(&mirror).read().unwrap();
        if exp == "1e400" {
            assert!(matches!(read, MirrorRead::Invalid { .. }), "{read:?}");
            continue;
        }
        let MirrorRead::Valid { record, notes } = read else {
            panic!("{exp}: {read:?}")
        };
        assert_eq!(record.jwt_expires_at_unix, expect, "{exp}");
        match note {
            Some(n) => assert!(notes.iter().any(|x| x.contains(n)), "{exp}: {notes:?}"),
            None => assert!(notes.is_empty(), "{exp}: {notes:?}"),
        }
    }
    fs::write(
        &mirror,
        format!(r#"{{"jwt":"{jwt}","agentId":"a","tenantId":"t","platformUrl":"https://p"}}"#),
    )
    .unwrap();
    let got = store.read_all().unwrap();
    assert_eq!(got.value.jwt_expires_at_unix, 0);
    assert!(
        got.notes.iter().any(|n| n.contains("missing")),
        "{:?}",
        got.notes
    );

    // A directory or a symlink at the mirror path: refused, explained, no panic.
    fs::remove_file(&mirror).unwrap();
    fs::create_dir(&mirror).unwrap();
    let err = store.read_all().unwrap_err();
    assert_eq!(err.code(), "KEEL_INSECURE_FILE");
    assert!(err.to_string().contains("directory"), "{err}");
    let report = store.write(&make_record("dir", 1)).unwrap();
    assert!(
        !report.mirror_written && report.warnings.len() == 1,
        "{report:?}"
    );
    assert!(store
        .clear()
        .unwrap()
        .problems
        .iter()
        .any(|p| p.message.contains("rm -r")));
    fs::remove_dir(&mirror).unwrap();

    let real = tmp.path().join("real.cred");
    CredentialFileStore::new(&real)
        .write(&make_record("link", 1))
        .unwrap();
    std::os::unix::fs::symlink(&real, &mirror).unwrap();
    let err = store.read_all().unwrap_err();
    assert_eq!(err.code(), "KEEL_INSECURE_FILE");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(store
        .diagnose()
        .problems
        .iter()
        .any(|p| p.code == "mirrorIsSymlink"));
    // Writing replaces the link itself, never the file it points to.
    store.write(&make_record("over-link", 1)).unwrap();
    assert!(!fs::symlink_metadata(&mirror)
        .unwrap()
        .file_type()
        .is_symlink());
    match CredentialFileStore::new(&real).read().unwrap() {
        MirrorRead::Valid { record, .. } => assert_eq!(record.agent_id, "agent-link-1"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_records_and_options_are_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let store = memory_store(&tmp.path().join("m.cred"));
    let mut r = make_record("v", 1);
    r.agent_id = String::new();
    let err = store.write(&r).unwrap_err();
    assert_eq!(err.code(), "KEEL_INVALID_ARGUMENT");
    assert!(err.to_string().contains("agentId"), "{err}");
    let mut r = make_record("v", 1);
    r.jwt = Secret::new("  ");
    assert!(store.write(&r).unwrap_err().to_string().contains("jwt"));

    let o = EnrollmentStoreOptions::from_json("").unwrap();
    assert_eq!(o, EnrollmentStoreOptions::default());
    let o = EnrollmentStoreOptions::from_json(
        r#"{"appName":"buildhive","keyring":"memory","mirrorPath":"/x/y.cred","keyringTimeoutMs":250}"#,
    )
    .unwrap();
    assert_eq!(o.keyring, KeyringChoice::Memory);
    assert_eq!(o.keyring_timeout_ms, 250);
    assert_eq!(o.key_prefix, "agent-enrollment.");
    // An unknown field is described (never echoed: a secret may be pasted there).
    let err = EnrollmentStoreOptions::from_json(r#"{"mirorPath":"/x"}"#).unwrap_err();
    assert!(
        err.to_string().contains("did you mean \"mirrorPath\""),
        "{err}"
    );
    assert!(!err.to_string().contains("mirorPath"), "{err}");
    let err = EnrollmentStoreOptions::from_json(r#"{"keyring":"gnome"}"#).unwrap_err();
    assert_eq!(err.code(), "KEEL_INVALID_ARGUMENT");
    for bad in [
        r#"{"appName":"../x"}"#,
        r#"{"appName":""}"#,
        r#"{"keyringTimeoutMs":0}"#,
    ] {
        let o = EnrollmentStoreOptions::from_json(bad).unwrap();
        let err = EnrollmentStore::from_options(o).unwrap_err();
        assert_eq!(err.code(), "KEEL_INVALID_ARGUMENT", "{bad}");
    }
    // Default mirror path: ~/.<appName>/agent-enrollment.cred
    let o =
        EnrollmentStoreOptions::from_json(r#"{"appName":"buildhive","keyring":"memory"}"#).unwrap();
    let s = EnrollmentStore::from_options(o).unwrap();
    let home = PathBuf::from(std::env::var("HOME").unwrap());
    assert_eq!(
        s.mirror_path().unwrap(),
        home.join(".buildhive/agent-enrollment.cred")
    );
    // Options serialise with the camelCase names the surfaces use.
    let json = serde_json::to_value(EnrollmentStoreOptions::default()).unwrap();
    for k in [
        "appName",
        "serviceName",
        "keyPrefix",
        "mirror",
        "mirrorPath",
        "keyring",
    ] {
        assert!(json.get(k).is_some(), "{k} in {json}");
    }
}

// ---------------------------------------------------------------------------------
// Platform URL.

#[test]
fn platform_url_check_normalises_and_reports_both_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("m.cred");
    let store = memory_store(&mirror);
    assert_eq!(
        store
            .assert_platform_url_matches("https://x.example.com")
            .unwrap_err()
            .code(),
        "KEEL_NOT_ENROLLED"
    );
    let mut r = make_record("u", 1);
    r.platform_url = "https://Platform.Example.com:443/".into();
    store.write(&r).unwrap();
    for same in [
        "https://platform.example.com",
        "HTTPS://PLATFORM.EXAMPLE.COM/",
        "https://platform.example.com:443",
        "https://platform.example.com//",
    ] {
        assert_eq!(
            store.assert_platform_url_matches(same).unwrap(),
            CredentialSource::Keyring,
            "{same}"
        );
    }
    let err = store
        .assert_platform_url_matches("https://user:hunter2@other.example.com:8443/")
        .unwrap_err();
    assert_eq!(err.code(), "KEEL_PLATFORM_URL_MISMATCH");
    let msg = err.to_string();
    assert!(msg.contains("https://Platform.Example.com:443/"), "{msg}");
    assert!(msg.contains("https://***@other.example.com:8443/"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    match err {
        CredentialError::PlatformUrlMismatch { stored, current } => {
            assert_eq!(stored, "https://Platform.Example.com:443/");
            assert_eq!(current, "https://***@other.example.com:8443/");
        }
        other => panic!("{other:?}"),
    }
    assert!(store
        .assert_platform_url_matches("http://platform.example.com")
        .is_err());
    assert_eq!(
        store.assert_platform_url_matches(" ").unwrap_err().code(),
        "KEEL_INVALID_ARGUMENT"
    );
}

// ---------------------------------------------------------------------------------
// Diagnose.

#[test]
fn diagnose_reports_stores_modes_expiry_and_fixes_without_values() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join(".app/agent-enrollment.cred");
    let store = memory_store(&mirror);
    let now = UNIX_EPOCH + Duration::from_secs(1_999_990_000);

    let d = store.diagnose_at(now);
    assert!(d.has_errors());
    assert!(d.problems.iter().any(|p| p.code == "notEnrolled"));
    assert_eq!(d.resolved_from, None);

    let record = make_record("diag", 1); // exp 2_000_000_001
    store.write(&record).unwrap();
    let d = store.diagnose_at(now);
    assert_eq!(d.keyring.backend, "memory");
    assert!(d.keyring.answered);
    assert!(d.keyring.fields.iter().all(|f| f.present == Some(true)));
    assert_eq!(
        d.keyring.fields[0].key.as_deref(),
        Some("agent-enrollment.jwt")
    );
    assert!(d.mirror.valid && d.mirror.exists);
    assert_eq!(d.mirror.mode.as_deref(), Some("0600"));
    assert_eq!(d.mirror.dir_mode.as_deref(), Some("0700"));
    assert_eq!(d.mirror.owned_by_current_user, Some(true));
    assert!(d.mirror.fields.iter().all(|f| f.present == Some(true)));
    assert_eq!(d.in_sync, Some(true));
    assert_eq!(d.resolved_from, Some(CredentialSource::Keyring));
    let j = d.jwt.as_ref().unwrap();
    assert_eq!(j.expires_at_unix, 2_000_000_001);
    assert_eq!(j.time_left_ms, 10_001_000);
    assert!(!j.expired);
    assert_eq!(j.exp_claim_unix, Some(2_000_000_001));
    assert!(
        d.problems.iter().any(|p| p.code == "jwtExpiringSoon"),
        "{:?}",
        d.problems
    );
    assert!(!d.has_errors(), "{:?}", d.problems);
    let json = serde_json::to_string(&d).unwrap();
    assert!(!json.contains(SIG), "diagnosis leaks the JWT");
    assert!(json.contains("\"resolvedFrom\":\"keyring\""), "{json}");

    // Expired; dir too open; a stale temp file; mirror out of sync.
    let later = UNIX_EPOCH + Duration::from_secs(2_000_100_000);
    fs::set_permissions(mirror.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        mirror
            .parent()
            .unwrap()
            .join("agent-enrollment.cred.tmp.1.1"),
        b"x",
    )
    .unwrap();
    // 0755 is not writable by others, so writing is still allowed.
    CredentialFileStore::new(&mirror)
        .write(&make_record("other", 2))
        .unwrap();
    let d = store.diagnose_at(later);
    let codes: Vec<&str> = d.problems.iter().map(|p| p.code.as_str()).collect();
    assert!(codes.contains(&"jwtExpired"), "{codes:?}");
    assert!(codes.contains(&"mirrorDirTooOpen"), "{codes:?}");
    assert!(codes.contains(&"staleTempFiles"), "{codes:?}");
    assert!(codes.contains(&"outOfSync"), "{codes:?}");
    assert_eq!(d.in_sync, Some(false));
    for p in &d.problems {
        if p.severity != Severity::Info {
            assert!(p.fix.is_some(), "{p:?} has no fix");
        }
    }
}

// ---------------------------------------------------------------------------------
// Concurrency and crash safety.

#[test]
fn concurrent_writer_processes_and_readers_always_see_complete_records() {
    if !keyutils_usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join(".app/agent-enrollment.cred");
    let svc = service("concurrent");
    let _cleanup = KeyringCleanup(svc.clone());
    let rounds = "150";
    let spawn = |tag: &str| {
        spawn_child(
            "writer_rounds",
            &[
                ("KEEL_TEST_SERVICE", svc.as_str()),
                ("KEEL_TEST_MIRROR", mirror.to_str().unwrap()),
                ("KEEL_TEST_TAG", tag),
                ("KEEL_TEST_ROUNDS", rounds),
            ],
        )
    };
    // Declared after the keyring cleanup so it drops first: a failing test kills its
    // writers before clearing, so they cannot write keys back afterwards.
    struct KillOnDrop(Vec<std::process::Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            for c in &mut self.0 {
                kill_and_reap(c);
            }
        }
    }
    let mut writers = KillOnDrop(vec![spawn("one"), spawn("two")]);
    let store = keyutils_store(&svc, Some(&mirror));
    let file = CredentialFileStore::new(&mirror);
    let (mut reads, mut keyring_reads, mut seen) = (0, 0, std::collections::HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = 0;
    while done < 2 {
        assert!(Instant::now() < deadline, "writers took too long");
        match store.read_all() {
            Ok(r) => {
                assert!(is_consistent(&r.value), "mixed record: {:?}", r.value);
                if r.source == CredentialSource::Keyring {
                    keyring_reads += 1;
                }
                seen.insert(r.value.agent_id.clone());
                reads += 1;
            }
            Err(e) => assert_eq!(e.code(), "KEEL_NOT_ENROLLED", "{e}"),
        }
        if let MirrorRead::Valid { record, .. } = file.read().unwrap() {
            assert!(is_consistent(&record), "mixed mirror: {record:?}");
        }
        done = 0;
        for w in writers.0.iter_mut() {
            if w.try_wait().unwrap().is_some() {
                done += 1;
            }
        }
    }
    for w in std::mem::take(&mut writers.0) {
        assert_success(&w.wait_with_output().unwrap(), "writer");
    }
    let last = store.read_all().unwrap();
    assert!(
        last.value.agent_id.ends_with("-149"),
        "the last write of one writer wins: {}",
        last.value.agent_id
    );
    assert_eq!(store.diagnose().in_sync, Some(true));
    eprintln!(
        "{reads} consistent reads ({keyring_reads} from the keyring), {} distinct records seen",
        seen.len()
    );
    assert!(reads >= 20, "too few reads to mean anything: {reads}");
}

/// SIGKILL the writer at many points: the mirror is always the complete old or new
/// record, and no temp file survives the next read.
#[test]
fn sigkill_during_enrollment_writes_never_leaves_a_torn_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join(".app/agent-enrollment.cred");
    let (a, b) = (make_record("a", 1), make_record("b", 2));
    let file = CredentialFileStore::new(&mirror);
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let iterations = 250;
    let mut leftovers = 0;
    let started = Instant::now();
    for i in 0..iterations {
        let mut child = spawn_child(
            "write_loop",
            &[
                ("KEEL_TEST_BACKEND", "memory"),
                ("KEEL_TEST_MIRROR", mirror.to_str().unwrap()),
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !mirror.exists() {
            assert!(Instant::now() < deadline, "writer never wrote");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.below(4000)));
        kill_and_reap(&mut child);
        let raw = fs::read(&mirror).unwrap();
        assert!(
            raw == *CredentialFileStore::encode(&a) || raw == *CredentialFileStore::encode(&b),
            "iteration {i}: torn mirror ({} bytes)",
            raw.len()
        );
        leftovers += keel_core::fsx::temp_files_of(&mirror).len();
        match file.read().unwrap() {
            MirrorRead::Valid { record, .. } => assert!(record == a || record == b),
            other => panic!("iteration {i}: {other:?}"),
        }
        assert!(
            keel_core::fsx::temp_files_of(&mirror).is_empty(),
            "iteration {i}: temp file survived the next read"
        );
    }
    eprintln!(
        "{iterations} SIGKILLs in {:?}; {leftovers} killed mid-write left a temp file, each \
         removed by the next read",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------
// No secret in any output.

#[test]
fn no_secret_reaches_any_error_debug_string_or_tracing_event() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join(".app/agent-enrollment.cred");
    let record = make_record("leak", 1);
    let secret = record.jwt.expose().to_owned();
    let mut texts: Vec<String> = Vec::new();
    let mut note = |t: String| texts.push(t);

    let ((), logs) = with_tracing(|| {
        let store = memory_store(&mirror);
        note(format!("{store:?} {record:?}"));
        let report = store.write(&record).unwrap();
        note(format!(
            "{report:?} {}",
            serde_json::to_string(&report).unwrap()
        ));
        let all = store.read_all().unwrap();
        note(format!("{all:?}"));
        let jwt = store.read_jwt().unwrap();
        note(format!("{jwt:?}"));
        let d = store.diagnose();
        note(format!("{d:?} {}", serde_json::to_string(&d).unwrap()));

        // The daemon path, with fallback logging.
        let daemon = memory_store(&mirror);
        note(format!("{:?}", daemon.read_all().unwrap()));

        // Failing and hanging keyrings.
        for flaky in [
            Flaky {
                fail_get: true,
                ..Flaky::default()
            },
            Flaky {
                fail_set_at: Some(1),
                ..Flaky::default()
            },
        ] {
            let s = flaky_store(flaky, &mirror);
            note(format!("{:?}", s.write(&record)));
            note(format!("{:?}", s.read_all()));
            note(format!("{:?}", s.has_enrollment()));
        }
        let hang = BoundedStore::new(
            Flaky {
                hang: Some(Duration::from_millis(300)),
                ..Flaky::default()
            },
            Duration::from_millis(20),
        );
        let s = EnrollmentStore::builder()
            .secret_store(hang)
            .mirror_path(&mirror)
            .build()
            .unwrap();
        note(format!("{:?}", s.read_jwt()));
        note(format!("{:?}", s.write(&record)));

        // Mirror write failure.
        let blocked = tmp.path().join("file");
        fs::write(&blocked, b"").unwrap();
        let s = memory_store(&blocked.join("x.cred"));
        note(format!("{:?}", s.write(&record)));

        // Malformed mirrors that contain the JWT.
        let bad = tmp.path().join(".bad/agent-enrollment.cred");
        let s = memory_store(&bad);
        for content in [
            format!(r#"{{"jwt":"{secret}","#),
            format!(r#"{{"jwt":{{"x":"{secret}"}},"agentId":"a"}}"#),
            format!(r#"{{"jwt":"{secret}","agentId":5,"tenantId":"t","platformUrl":"p"}}"#),
            format!(r#"["{secret}"]"#),
            secret.clone(),
        ] {
            keel_core::fsx::write_atomic(&bad, content.as_bytes()).unwrap();
            note(format!("{:?}", s.read_all()));
            note(format!("{:?}", CredentialFileStore::new(&bad).read()));
            let d = s.diagnose();
            note(format!("{d:?} {}", serde_json::to_string(&d).unwrap()));
        }
        // Insecure mirror holding the JWT.
        keel_core::fsx::write_atomic(&bad, &CredentialFileStore::encode(&record)).unwrap();
        fs::set_permissions(&bad, fs::Permissions::from_mode(0o644)).unwrap();
        note(format!("{:?}", s.read_all()));
        let d = s.diagnose();
        note(format!("{d:?} {}", serde_json::to_string(&d).unwrap()));

        // JWT helper errors; URL mismatch with a token in the URL.
        note(format!("{:?}", jwt::exp(&format!("x.{secret}.y"))));
        note(format!("{:?}", jwt::payload(&secret)));
        note(format!(
            "{:?}",
            store.assert_platform_url_matches(&format!("https://{secret}@evil.example.com"))
        ));
        note(format!(
            "{:?}",
            store.assert_platform_url_matches(&format!("https://evil.example.com/?t={secret}"))
        ));
        note(format!("{:?}", store.clear()));
        note(format!("{:?}", store.read_all()));
    });
    texts.push(logs.clone());
    assert!(
        logs.contains("resolved the enrollment from the file mirror"),
        "{logs}"
    );
    assert!(logs.contains("keyring call timed out"), "{logs}");
    for t in &texts {
        assert!(!t.contains(SIG), "secret leaked in: {t}");
        assert!(!t.contains(&secret));
    }
}

// ---------------------------------------------------------------------------------
// Format compatibility with the reference implementation.

/// What the reference's `CredentialFileStore.write` puts in the file, spelled out.
fn reference_bytes(r: &EnrollmentRecord) -> String {
    format!(
        r#"{{"jwt":{},"jwtExpiresAtUnix":{},"agentId":{},"tenantId":{},"platformUrl":{}}}"#,
        serde_json::to_string(r.jwt.expose()).unwrap(),
        r.jwt_expires_at_unix,
        serde_json::to_string(&r.agent_id).unwrap(),
        serde_json::to_string(&r.tenant_id).unwrap(),
        serde_json::to_string(&r.platform_url).unwrap(),
    )
}

/// Write a file by the reference's rules: `<path>.tmp.<pid>` mode 0600, chmod 0600,
/// rename.
fn write_like_reference(path: &Path, bytes: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::set_permissions(path.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    let tmp = PathBuf::from(format!("{}.tmp.{}", path.display(), std::process::id()));
    fs::write(&tmp, bytes).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).unwrap();
    fs::rename(&tmp, path).unwrap();
}

fn tricky_record() -> EnrollmentRecord {
    EnrollmentRecord {
        jwt: Secret::new(make_jwt("fmt", 1, 1_767_225_600)),
        jwt_expires_at_unix: 1_767_225_600,
        agent_id: "agent \"quoted\" \\ back/slash\ttab\u{1}ctl".into(),
        tenant_id: "tënänt-ü-😀-\u{2028}-\u{7f}".into(),
        platform_url: "https://platform.example.com/api?x=1&y=<2>".into(),
    }
}

#[test]
fn mirror_format_matches_the_reference_byte_for_byte() {
    let r = make_record("fmt", 3);
    assert_eq!(
        std::str::from_utf8(&CredentialFileStore::encode(&r)).unwrap(),
        format!(
            r#"{{"jwt":"{}","jwtExpiresAtUnix":2000000003,"agentId":"agent-fmt-3","tenantId":"tenant-fmt-3","platformUrl":"https://fmt.example.com/r3"}}"#,
            r.jwt.expose()
        )
    );
    let t = tricky_record();
    assert_eq!(
        std::str::from_utf8(&CredentialFileStore::encode(&t)).unwrap(),
        reference_bytes(&t)
    );
    // A file written by the reference's rules is read by keel.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(".buildhive/agent-enrollment.cred");
    write_like_reference(&path, &reference_bytes(&t));
    match CredentialFileStore::new(&path).read().unwrap() {
        MirrorRead::Valid { record, notes } => {
            assert_eq!(record, t);
            assert!(notes.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // Extra fields written by a newer reference are ignored.
    write_like_reference(
        &path,
        &reference_bytes(&t).replacen('{', r#"{"version":2,"#, 1),
    );
    assert!(matches!(
        CredentialFileStore::new(&path).read().unwrap(),
        MirrorRead::Valid { .. }
    ));
}

const NODE_REFERENCE: &str = r#"
// The reference CredentialFileStore's rules, re-stated for this test.
const fs = require('fs');
const path = require('path');
const [mode, file] = process.argv.slice(2);
if (mode === 'write') {
  const creds = JSON.parse(fs.readFileSync(0, 'utf8'));
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp.${process.pid}`;
  const payload = JSON.stringify({
    jwt: creds.jwt, jwtExpiresAtUnix: creds.jwtExpiresAtUnix, agentId: creds.agentId,
    tenantId: creds.tenantId, platformUrl: creds.platformUrl,
  });
  fs.writeFileSync(tmp, payload, { encoding: 'utf8', mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
} else {
  let raw;
  try { raw = fs.readFileSync(file, 'utf8'); } catch { console.log('null'); process.exit(0); }
  let o;
  try { o = JSON.parse(raw); } catch { console.log('null'); process.exit(0); }
  const ok = o && typeof o === 'object' && [o.jwt, o.agentId, o.tenantId, o.platformUrl]
    .every((v) => typeof v === 'string' && v.length > 0);
  if (!ok) { console.log('null'); process.exit(0); }
  const exp = typeof o.jwtExpiresAtUnix === 'number' ? o.jwtExpiresAtUnix : 0;
  console.log(JSON.stringify({
    jwt: o.jwt, jwtExpiresAtUnix: Number.isFinite(exp) ? exp : 0, agentId: o.agentId,
    tenantId: o.tenantId, platformUrl: o.platformUrl,
  }));
}
"#;

#[test]
fn node_running_the_reference_rules_and_keel_read_each_others_files() {
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !node_ok {
        eprintln!("skipped: node is not installed (the Rust-side format test still ran)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("reference.js");
    fs::write(&script, NODE_REFERENCE).unwrap();
    let record = tricky_record();
    let json = serde_json::to_string(&record).unwrap();

    // node (reference rules) writes → keel reads.
    let from_node = tmp.path().join(".buildhive/agent-enrollment.cred");
    let mut child = std::process::Command::new("node")
        .arg(&script)
        .arg("write")
        .arg(&from_node)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(mode_of(&from_node), 0o600);
    assert_eq!(
        fs::read(&from_node).unwrap(),
        *CredentialFileStore::encode(&record),
        "keel writes the same bytes as JSON.stringify"
    );
    let store = memory_store(&from_node);
    let got = store.read_all().unwrap();
    assert_eq!(got.source, CredentialSource::FileMirror);
    assert_eq!(got.value, record);

    // keel writes → node (reference rules) reads the same record.
    let from_keel = tmp.path().join(".keel/agent-enrollment.cred");
    memory_store(&from_keel).write(&record).unwrap();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg("read")
        .arg(&from_keel)
        .output()
        .unwrap();
    assert!(out.status.success());
    let back: EnrollmentRecord = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back, record);
}

/// Keep the wall-clock helpers honest.
#[test]
fn jwt_helpers_read_claims_without_verifying() {
    let now = SystemTime::now();
    let soon = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 + 120;
    let token = format!(
        "{}.{}.{SIG}",
        b64("{}"),
        b64(&format!(r#"{{"exp":{soon},"role":"agent"}}"#))
    );
    assert_eq!(jwt::exp(&token).unwrap(), Some(soon));
    assert_eq!(jwt::claim(&token, "role").unwrap().unwrap(), "agent");
    assert_eq!(jwt::claim(&token, "nope").unwrap(), None);
    assert!(jwt::expires_within(&token, Duration::from_secs(300)).unwrap());
    assert!(!jwt::expires_within(&token, Duration::from_secs(10)).unwrap());
}

#[test]
fn records_from_surface_json_name_the_field_and_never_quote_values() {
    let r = make_record("json", 4);
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(EnrollmentRecord::from_json(&json).unwrap(), r);
    let secret = r.jwt.expose().to_owned();
    let cases = [
        (
            format!(r#"{{"jwt":"{secret}","agentId":"a","tenantId":"t","platformUrl":"p"}}"#),
            "jwtExpiresAtUnix",
        ),
        (
            format!(
                r#"{{"jwt":"{secret}","jwtExpiresAtUnix":"{secret}","agentId":"a","tenantId":"t","platformUrl":"p"}}"#
            ),
            "jwtExpiresAtUnix",
        ),
        (
            format!(
                r#"{{"jwt":"{secret}","jwtExpiresAtUnix":1,"tenantId":"t","platformUrl":"p"}}"#
            ),
            "agentId",
        ),
        (
            format!(
                r#"{{"jwt":["{secret}"],"jwtExpiresAtUnix":1,"agentId":"a","tenantId":"t","platformUrl":"p"}}"#
            ),
            "jwt",
        ),
        (
            r#"{"jwt":"","jwtExpiresAtUnix":1,"agentId":"a","tenantId":"t","platformUrl":"p"}"#
                .to_string(),
            "jwt",
        ),
        (format!(r#"{{"jwt":"{secret}""#), "record"),
        (format!(r#"["{secret}"]"#), "record"),
    ];
    for (json, field) in cases {
        let err = EnrollmentRecord::from_json(&json).unwrap_err();
        assert_eq!(err.code(), "KEEL_INVALID_ARGUMENT");
        match &err {
            CredentialError::InvalidInput { field: f, .. } => assert_eq!(f, field, "{json}"),
            other => panic!("{other:?}"),
        }
        assert!(!format!("{err} {err:?}").contains(SIG), "{err}");
    }
    let float = r#"{"jwt":"j","jwtExpiresAtUnix":1767225600.9,"agentId":"a","tenantId":"t","platformUrl":"p"}"#;
    let f = EnrollmentRecord::from_json(float).unwrap();
    assert_eq!(f.jwt_expires_at_unix, 1_767_225_600);
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_000);
    assert!(f.expires_within_at(Duration::from_secs(601), now));
    assert!(!f.expires_within_at(Duration::from_secs(599), now));
}

/// With the `secret-service` feature but no D-Bus session (CI, headless servers), the
/// Secret Service backend reports an error, bounded by the timeout, and never
/// falls back to another store.
#[cfg(feature = "secret-service")]
#[test]
fn secret_service_without_dbus_is_a_clear_error() {
    let store = KeyringStore::with_backend(service("ss"), KeyringBackend::SecretService)
        .unwrap()
        .with_timeout(Duration::from_secs(3));
    let started = Instant::now();
    let err = store.get("agent-enrollment.jwt").unwrap_err();
    assert!(err.is_keyring_failure(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    eprintln!("secret service here: {} ({err})", err.code());
}
