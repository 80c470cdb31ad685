//! Locked JSON state files.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::atomic::{remove_file_and_temps, split_target, write_atomic};
use super::checked::{read_private, DEFAULT_MAX_SECRET_FILE_LEN};
use super::lock::{lock_path_for, FileLock, LockMode};
use super::FsxError;

/// A JSON file holding state of type `T`, shared between processes.
///
/// Every operation holds the advisory lock `<path>.lock` ([`FileLock`]): reads a
/// shared lock, writes an exclusive one. Writes are [`write_atomic`] (mode `0600`,
/// directory `0700`) and reads are [`read_private`] (refusing files others can read).
/// A file that does not parse is an error ([`FsxError::Json`], position only) and is
/// never overwritten by [`update`](Self::update), so what was stored is not lost.
///
/// ```
/// use keel_core::fsx::JsonStateFile;
/// use std::collections::BTreeMap;
/// # let tmp = tempfile::tempdir().unwrap();
/// let state: JsonStateFile<BTreeMap<String, u32>> = JsonStateFile::new(tmp.path().join("pids.json"));
/// state.update(|current| {
///     current.get_or_insert_with(BTreeMap::new).insert("worker".into(), 4242);
/// }).unwrap();
/// assert_eq!(state.read().unwrap().unwrap()["worker"], 4242);
/// ```
#[derive(Debug, Clone)]
pub struct JsonStateFile<T> {
    path: PathBuf,
    lock_path: PathBuf,
    lock_timeout: Duration,
    max_len: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> JsonStateFile<T> {
    /// A state file at `path`, lock timeout 10 s, size limit 1 MiB.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        JsonStateFile {
            lock_path: lock_path_for(&path),
            path,
            lock_timeout: Duration::from_secs(10),
            max_len: DEFAULT_MAX_SECRET_FILE_LEN,
            _type: PhantomData,
        }
    }

    /// How long to wait for the lock before failing with [`FsxError::LockTimeout`].
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The largest file accepted when reading.
    pub fn max_len(mut self, max_len: u64) -> Self {
        self.max_len = max_len;
        self
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self, mode: LockMode, create_dir: bool) -> Result<Option<FileLock>, FsxError> {
        let (dir, _) = split_target(&self.path)?;
        if create_dir {
            super::ensure_private_dir(&dir)?;
        } else if !dir.is_dir() {
            // Nothing to read and nothing to lock.
            return Ok(None);
        }
        FileLock::acquire(&self.lock_path, mode, self.lock_timeout).map(Some)
    }

    fn read_unlocked(&self) -> Result<Option<T>, FsxError> {
        let Some(bytes) = read_private(&self.path, self.max_len)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| json_error(&self.path, &e))
    }

    /// The current state, or `None` when the file does not exist.
    pub fn read(&self) -> Result<Option<T>, FsxError> {
        let _lock = self.lock(LockMode::Shared, false)?;
        self.read_unlocked()
    }

    /// Replace the state.
    pub fn write(&self, value: &T) -> Result<(), FsxError> {
        let _lock = self.lock(LockMode::Exclusive, true)?;
        self.write_unlocked(value)
    }

    fn write_unlocked(&self, value: &T) -> Result<(), FsxError> {
        let bytes =
            zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|_| FsxError::Encode {
                path: self.path.clone(),
            })?);
        write_atomic(&self.path, &bytes)
    }

    /// Read-modify-write under the exclusive lock. `f` receives the current state
    /// (`None` when absent) and may change it; setting it to `None` removes the file.
    /// The file is rewritten only when the encoded state changed. A malformed existing
    /// file is an error and `f` is not called.
    pub fn update<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> Result<R, FsxError> {
        let _lock = self.lock(LockMode::Exclusive, true)?;
        let mut state = self.read_unlocked()?;
        let before = match &state {
            Some(v) => Some(serde_json::to_vec(v).map_err(|_| FsxError::Encode {
                path: self.path.clone(),
            })?),
            None => None,
        };
        let out = f(&mut state);
        match &state {
            Some(v) => {
                let after = serde_json::to_vec(v).map_err(|_| FsxError::Encode {
                    path: self.path.clone(),
                })?;
                if before.as_deref() != Some(&after[..]) {
                    write_atomic(&self.path, &after)?;
                }
            }
            None => {
                if before.is_some() {
                    remove_file_and_temps(&self.path)?;
                }
            }
        }
        Ok(out)
    }

    /// Remove the state file, its temp files and its lock file. Returns whether the
    /// file existed. Idempotent.
    pub fn remove(&self) -> Result<bool, FsxError> {
        let Some(lock) = self.lock(LockMode::Exclusive, false)? else {
            return Ok(false);
        };
        let report = remove_file_and_temps(&self.path)?;
        lock.remove()?;
        Ok(report.removed)
    }
}

/// Convert a serde_json error to [`FsxError::Json`] without its message, which can
/// quote the offending input.
pub(crate) fn json_error(path: &Path, e: &serde_json::Error) -> FsxError {
    use serde_json::error::Category;
    let category = match e.classify() {
        Category::Io => "io",
        Category::Syntax => "syntax",
        Category::Data => "data",
        Category::Eof => "eof",
    };
    FsxError::Json {
        path: path.to_path_buf(),
        category,
        line: e.line(),
        column: e.column(),
    }
}
