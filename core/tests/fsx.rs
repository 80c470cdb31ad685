//! fsx against real files, permissions, processes and signals.
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use keel_core::fsx::{self, FileLock, FsxError, InsecureKind, JsonStateFile, LockMode};

// ---------------------------------------------------------------------------------
// Child roles.

/// No-op in a normal run; runs a role when started by a test as a child process.
#[test]
fn child_process_entry() {
    let Some(role) = role() else { return };
    let path = PathBuf::from(std::env::var("KEEL_TEST_PATH").unwrap_or_default());
    let code = match role.as_str() {
        "write_with_umask" => {
            let mask: u32 = std::env::var("KEEL_TEST_UMASK").unwrap().parse().unwrap();
            // SAFETY: umask only changes this (child) process's file creation mask.
            unsafe { libc::umask(mask as libc::mode_t) };
            fsx::write_atomic(&path, b"secret").map(|_| 0).unwrap_or(1)
        }
        "write_over_fsize_limit" => {
            // SAFETY: ignoring SIGXFSZ and lowering RLIMIT_FSIZE in this child only, so
            // that writes past 16 bytes fail with EFBIG instead of killing it.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let lim = libc::rlimit {
                    rlim_cur: 16,
                    rlim_max: 16,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            }
            match fsx::write_atomic(&path, &[b'x'; 4096]) {
                Ok(()) => 2,
                Err(e) => {
                    emit(&[("error", &e.to_string())]);
                    0
                }
            }
        }
        "hold_lock" => {
            let mode = if std::env::var("KEEL_TEST_SHARED").is_ok() {
                LockMode::Shared
            } else {
                LockMode::Exclusive
            };
            let _l = FileLock::acquire(&path, mode, Duration::from_secs(5)).unwrap();
            emit(&[("locked", "1")]);
            use std::io::Write;
            std::io::stdout().flush().unwrap();
            let ms: u64 = std::env::var("KEEL_TEST_HOLD_MS").unwrap().parse().unwrap();
            std::thread::sleep(Duration::from_millis(ms));
            0
        }
        "increment" => {
            let n: u32 = std::env::var("KEEL_TEST_N").unwrap().parse().unwrap();
            let state: JsonStateFile<u64> =
                JsonStateFile::new(&path).lock_timeout(Duration::from_secs(30));
            for _ in 0..n {
                state.update(|v| *v = Some(v.unwrap_or(0) + 1)).unwrap();
            }
            0
        }
        "write_loop" => {
            // Alternate two distinct payloads forever; the parent SIGKILLs us.
            let a = payload(b'a');
            let b = payload(b'b');
            let mut i = 0u64;
            loop {
                let p = [&a, &b][(i & 1) as usize];
                fsx::write_atomic(&path, p).unwrap();
                i += 1;
            }
        }
        other => panic!("unknown role {other}"),
    };
    std::process::exit(code);
}

fn payload(fill: u8) -> Vec<u8> {
    // Larger than one page so a torn write would be visible.
    let mut v = vec![fill; 9000];
    v[0] = b'<';
    v[8999] = b'>';
    v
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn temps(path: &Path) -> Vec<PathBuf> {
    fsx::temp_files_of(path)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

// ---------------------------------------------------------------------------------
// Atomic writes and permissions.

#[test]
fn write_atomic_creates_0600_file_in_0700_dirs_and_replaces() {
    let tmp = tmpdir();
    let path = tmp.path().join("a/b/secret.json");
    fsx::write_atomic(&path, b"one").unwrap();
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(mode_of(&tmp.path().join("a/b")), 0o700);
    fsx::write_atomic(&path, b"two").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two");
    assert!(temps(&path).is_empty());
}

#[test]
fn write_atomic_is_0600_and_dir_0700_under_any_umask() {
    for mask in [
        "0", "63",  /* 077 */
        "191", /* 0277 */
        "18",  /* 022 */
    ] {
        let tmp = tmpdir();
        let path = tmp.path().join("new-dir/secret");
        let out = run_child(
            "write_with_umask",
            &[
                ("KEEL_TEST_PATH", path.to_str().unwrap()),
                ("KEEL_TEST_UMASK", mask),
            ],
        );
        assert_success(&out, "write under umask");
        assert_eq!(mode_of(&path), 0o600, "file under umask {mask}");
        assert_eq!(
            mode_of(path.parent().unwrap()),
            0o700,
            "dir under umask {mask}"
        );
    }
}

#[test]
fn failed_write_leaves_no_temp_file() {
    // Rename fails: a directory sits at the target path.
    let tmp = tmpdir();
    let path = tmp.path().join("target");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), b"x").unwrap();
    let err = fsx::write_atomic(&path, b"secret").unwrap_err();
    assert_eq!(err.code(), "KEEL_IO");
    assert!(temps(&path).is_empty(), "{:?}", temps(&path));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

    // The write itself fails (EFBIG past RLIMIT_FSIZE).
    let path = tmp.path().join("big");
    let out = run_child(
        "write_over_fsize_limit",
        &[("KEEL_TEST_PATH", path.to_str().unwrap())],
    );
    assert_success(&out, "write over fsize limit");
    let r = results(&out);
    assert!(r[0]["error"].contains("write temp file"), "{r:?}");
    assert!(!path.exists());
    assert!(temps(&path).is_empty(), "{:?}", temps(&path));
}

#[test]
fn existing_dir_writable_by_others_is_refused() {
    let tmp = tmpdir();
    let dir = tmp.path().join("shared");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let err = fsx::write_atomic(&dir.join("f"), b"x").unwrap_err();
    match &err {
        FsxError::Insecure { kind, fix, .. } => {
            assert!(matches!(
                kind,
                InsecureKind::DirectoryWritableByOthers { mode: 0o777 }
            ));
            assert!(fix.contains("chmod go-w"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    // Sticky world-writable directories (like /tmp) are fine.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    fsx::write_atomic(&dir.join("f"), b"x").unwrap();
    // A file where a directory should be.
    let file = tmp.path().join("plain");
    fs::write(&file, b"").unwrap();
    let err = fsx::write_atomic(&file.join("f"), b"x").unwrap_err();
    assert_eq!(err.code(), "KEEL_INSECURE_FILE", "{err}");
}

// ---------------------------------------------------------------------------------
// Checked reads.

fn expect_insecure(path: &Path) -> (InsecureKind, String, String) {
    match fsx::read_private(path, 1 << 20) {
        Err(e @ FsxError::Insecure { .. }) => {
            let msg = e.to_string();
            let FsxError::Insecure { kind, fix, .. } = e else {
                unreachable!()
            };
            (kind, fix, msg)
        }
        other => panic!("expected Insecure for {}: {other:?}", path.display()),
    }
}

#[test]
fn read_private_refuses_like_openssh() {
    let tmp = tmpdir();
    let path = tmp.path().join("secret");
    fs::write(&path, b"s3cr3t-value").unwrap();
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let (kind, fix, msg) = expect_insecure(&path);
        assert_eq!(kind, InsecureKind::TooOpen { mode });
        assert_eq!(fix, format!("chmod 600 {}", path.display()));
        assert!(
            msg.contains("too open") && msg.contains(&format!("{mode:04o}")),
            "{msg}"
        );
        assert!(!msg.contains("s3cr3t"));
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        &fsx::read_private(&path, 100).unwrap().unwrap()[..],
        b"s3cr3t-value"
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(fsx::read_private(&path, 100).unwrap().is_some());

    // Symlink to a perfectly private file is still refused.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let (kind, fix, _) = expect_insecure(&link);
    assert_eq!(kind, InsecureKind::Symlink);
    assert!(fix.contains("rm"), "{fix}");

    // Dangling symlink too.
    let dangling = tmp.path().join("dangling");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
    assert_eq!(expect_insecure(&dangling).0, InsecureKind::Symlink);

    // Directory and FIFO.
    let dir = tmp.path().join("dir");
    fs::create_dir(&dir).unwrap();
    assert_eq!(
        expect_insecure(&dir).0,
        InsecureKind::NotRegularFile { found: "directory" }
    );
    let fifo = tmp.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let started = Instant::now();
    assert_eq!(
        expect_insecure(&fifo).0,
        InsecureKind::NotRegularFile {
            found: "special file"
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "opening a FIFO must not block"
    );

    // Missing → None; too large → TooLarge.
    assert!(fsx::read_private(&tmp.path().join("missing"), 10)
        .unwrap()
        .is_none());
    let err = fsx::read_private(&path, 4).unwrap_err();
    assert_eq!(err.code(), "KEEL_FILE_TOO_LARGE");
}

#[test]
fn read_private_refuses_a_file_owned_by_someone_else() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to chown a file to another user");
        return;
    }
    let tmp = tmpdir();
    let path = tmp.path().join("foreign");
    fs::write(&path, b"x").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let (kind, fix, msg) = expect_insecure(&path);
    assert_eq!(
        kind,
        InsecureKind::WrongOwner {
            owner: 65534,
            expected: 0
        }
    );
    assert!(fix.contains("chown"), "{fix}");
    assert!(msg.contains("not by the current user"), "{msg}");
}

// ---------------------------------------------------------------------------------
// Stale temp files.

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn stale_temp_files_are_removed_by_the_next_read_and_write() {
    let tmp = tmpdir();
    let path = tmp.path().join("state.json");
    fsx::write_atomic(&path, b"{}").unwrap();
    let name = "state.json";
    let dead = tmp.path().join(format!("{name}.tmp.{}.0", dead_pid()));
    let reference_style = tmp.path().join(format!("{name}.tmp.{}", dead_pid()));
    let live_own = tmp
        .path()
        .join(format!("{name}.tmp.{}.99", std::process::id()));
    let live_old = tmp.path().join(format!("{name}.tmp.1.7")); // pid 1 is alive
    let unrelated = tmp.path().join("other.json.tmp.1.1");
    for p in [&dead, &reference_style, &live_own, &live_old, &unrelated] {
        fs::write(p, b"secret").unwrap();
    }
    let old = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&live_old)
        .unwrap()
        .set_modified(old)
        .unwrap();

    assert!(fsx::read_private(&path, 100).unwrap().is_some());
    assert!(!dead.exists() && !reference_style.exists() && !live_old.exists());
    assert!(live_own.exists(), "a live writer's fresh temp file is kept");
    assert!(
        unrelated.exists(),
        "temp files of other targets are not touched"
    );

    fs::write(&dead, b"secret").unwrap();
    fsx::write_atomic(&path, b"{}").unwrap();
    assert!(!dead.exists());

    let report = fsx::remove_file_and_temps(&path).unwrap();
    assert!(report.removed);
    assert_eq!(report.temp_files, vec![live_own.clone()]);
    let again = fsx::remove_file_and_temps(&path).unwrap();
    assert!(!again.removed && again.temp_files.is_empty());
}

// ---------------------------------------------------------------------------------
// Locks.

#[test]
fn exclusive_lock_excludes_other_processes_and_is_released_on_exit() {
    let tmp = tmpdir();
    let lock = tmp.path().join("x.lock");
    let mut child = spawn_child(
        "hold_lock",
        &[
            ("KEEL_TEST_PATH", lock.to_str().unwrap()),
            ("KEEL_TEST_HOLD_MS", "400"),
        ],
    );
    wait_for_line(&mut child, "RESULT:locked=1");
    let err = FileLock::acquire(&lock, LockMode::Exclusive, Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.code(), "KEEL_LOCK_TIMEOUT");
    let err = FileLock::acquire(&lock, LockMode::Shared, Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.code(), "KEEL_LOCK_TIMEOUT");
    let started = Instant::now();
    let _l = FileLock::acquire(&lock, LockMode::Exclusive, Duration::from_secs(10)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    child.wait().unwrap();

    // A killed holder releases the lock at once.
    drop(_l);
    let mut child = spawn_child(
        "hold_lock",
        &[
            ("KEEL_TEST_PATH", lock.to_str().unwrap()),
            ("KEEL_TEST_HOLD_MS", "60000"),
        ],
    );
    wait_for_line(&mut child, "RESULT:locked=1");
    kill_and_reap(&mut child);
    FileLock::acquire(&lock, LockMode::Exclusive, Duration::from_secs(2)).unwrap();
}

#[test]
fn shared_locks_coexist() {
    let tmp = tmpdir();
    let lock = tmp.path().join("s.lock");
    let mut child = spawn_child(
        "hold_lock",
        &[
            ("KEEL_TEST_PATH", lock.to_str().unwrap()),
            ("KEEL_TEST_HOLD_MS", "300"),
            ("KEEL_TEST_SHARED", "1"),
        ],
    );
    wait_for_line(&mut child, "RESULT:locked=1");
    FileLock::acquire(&lock, LockMode::Shared, Duration::from_millis(100)).unwrap();
    child.wait().unwrap();
}

#[test]
fn removing_a_held_lock_file_keeps_mutual_exclusion() {
    let tmp = tmpdir();
    let lock = tmp.path().join("r.lock");
    let held = FileLock::acquire(&lock, LockMode::Exclusive, Duration::from_secs(1)).unwrap();
    let lock2 = lock.clone();
    let waiter = std::thread::spawn(move || {
        let l = FileLock::acquire(&lock2, LockMode::Exclusive, Duration::from_secs(5)).unwrap();
        // The waiter must hold the lock of the file now at the path.
        assert!(lock2.exists());
        l
    });
    std::thread::sleep(Duration::from_millis(50));
    held.remove().unwrap();
    let l = waiter.join().unwrap();
    // And a third party is excluded by the waiter's lock.
    let err = FileLock::acquire(&lock, LockMode::Exclusive, Duration::from_millis(30)).unwrap_err();
    assert_eq!(err.code(), "KEEL_LOCK_TIMEOUT");
    drop(l);
}

fn wait_for_line(child: &mut std::process::Child, line: &str) {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut buf = String::new();
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).unwrap();
        assert!(n > 0, "child ended before printing {line}");
        if buf.trim_end() == line {
            break;
        }
    }
    // Keep draining in the background so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
}

// ---------------------------------------------------------------------------------
// JSON state files.

#[test]
fn json_state_update_is_serialised_across_processes() {
    let tmp = tmpdir();
    let path = tmp.path().join("counter.json");
    let p = path.to_str().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| spawn_child("increment", &[("KEEL_TEST_PATH", p), ("KEEL_TEST_N", "50")]))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_success(&out, "increment");
    }
    let state: JsonStateFile<u64> = JsonStateFile::new(&path);
    assert_eq!(state.read().unwrap(), Some(200));
    assert_eq!(mode_of(&path), 0o600);
    assert!(state.remove().unwrap());
    assert!(!path.exists() && !fsx::lock_path_for(&path).exists());
    assert!(!state.remove().unwrap());
    assert_eq!(state.read().unwrap(), None);
}

#[test]
fn json_state_malformed_file_is_an_error_and_is_kept() {
    let tmp = tmpdir();
    let path = tmp.path().join("state.json");
    let secretish = r#"{"token": "hunter2-very-secret", "n": "#;
    fs::write(&path, secretish).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let state: JsonStateFile<serde_json::Value> = JsonStateFile::new(&path);
    let err = state.read().unwrap_err();
    assert_eq!(err.code(), "KEEL_MALFORMED_STATE");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let mut called = false;
    assert!(state.update(|_| called = true).is_err());
    assert!(!called);
    assert_eq!(fs::read_to_string(&path).unwrap(), secretish);

    // Wrong shape (a data error quoting the value in serde's message) is not quoted.
    let typed: JsonStateFile<u64> = JsonStateFile::new(&path);
    fs::write(&path, r#""hunter2-very-secret""#).unwrap();
    let err = typed.read().unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");

    // update leaves an unchanged file alone and removes it when set to None.
    let counter: JsonStateFile<u64> = JsonStateFile::new(tmp.path().join("c.json"));
    counter.update(|v| *v = Some(1)).unwrap();
    let before = fs::metadata(counter.path()).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    counter.update(|_| ()).unwrap();
    assert_eq!(
        fs::metadata(counter.path()).unwrap().modified().unwrap(),
        before
    );
    counter.update(|v| *v = None).unwrap();
    assert!(!counter.path().exists());
}

// ---------------------------------------------------------------------------------
// Crash safety.

/// SIGKILL a writer at many points during `write_atomic`: the target is always one
/// complete payload, never torn or empty; temp files left by the killed writer are
/// private and are removed by the next read.
#[test]
fn sigkill_during_writes_never_tears_the_file() {
    let tmp = tmpdir();
    let path = tmp.path().join("d/state.bin");
    let a = payload(b'a');
    let b = payload(b'b');
    let iterations = 250;
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut leftovers = 0;
    let started = Instant::now();
    for i in 0..iterations {
        let mut child = spawn_child("write_loop", &[("KEEL_TEST_PATH", path.to_str().unwrap())]);
        // Wait for at least one complete write, then kill at a random moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            assert!(Instant::now() < deadline, "writer never wrote");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        kill_and_reap(&mut child);

        let content = fs::read(&path).unwrap();
        assert!(
            content == a || content == b,
            "iteration {i}: torn or empty file ({} bytes)",
            content.len()
        );
        assert_eq!(mode_of(&path), 0o600);
        let left = temps(&path);
        for t in &left {
            assert_eq!(mode_of(t), 0o600, "leftover temp file must be private");
        }
        leftovers += left.len();
        // The next read removes temp files of the dead writer.
        assert!(fsx::read_private(&path, 1 << 20).unwrap().is_some());
        assert!(temps(&path).is_empty(), "iteration {i}: {:?}", temps(&path));
    }
    eprintln!(
        "{iterations} SIGKILLs in {:?}; {leftovers} left a temp file, all removed by the next read",
        started.elapsed()
    );
}
