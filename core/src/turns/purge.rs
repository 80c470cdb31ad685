//! Purging identity-keyed state when an agent is removed.

use std::path::Path;

use super::TurnError;

/// Remove every entry of `dir` named `<identity>.<anything>` (files, symlinks — never
/// followed — and whole directories) and return the removed names, sorted.
///
/// Dot-delimited: `bob` removes `bob.stopped` and `bob.queue/`, never `bob2.stopped`
/// nor `bob` itself. A missing `dir` purges nothing. An entry that cannot be removed is
/// skipped (and not listed), so one locked entry never stops the rest.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("bob.stopped"), "").unwrap();
/// std::fs::create_dir(dir.path().join("bob.queue")).unwrap();
/// std::fs::write(dir.path().join("bob2.stopped"), "").unwrap();
/// let removed = keel_core::turns::purge_identity_state(dir.path(), "bob").unwrap();
/// assert_eq!(removed, ["bob.queue", "bob.stopped"]);
/// assert!(dir.path().join("bob2.stopped").exists());
/// ```
pub fn purge_identity_state(dir: &Path, identity: &str) -> Result<Vec<String>, TurnError> {
    if identity.is_empty() || identity.contains('/') || identity.contains('\0') {
        return Err(TurnError::option(
            "identity",
            "must be non-empty and contain no '/' or NUL",
        ));
    }
    let prefix = format!("{identity}.");
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TurnError::io("read directory", dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let ok = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).is_ok(),
            Ok(_) => std::fs::remove_file(&path).is_ok(),
            Err(_) => false,
        };
        if ok {
            removed.push(name.to_owned());
        }
    }
    removed.sort();
    Ok(removed)
}
