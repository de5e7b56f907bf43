//! Where codeact keeps what it downloads, builds and runs: one cache directory for every crate,
//! every script and every command.

use std::path::PathBuf;

/// The codeact cache: `$CODEACT_CACHE` when set and not empty, else `$XDG_CACHE_HOME/codeact`,
/// else `~/.cache/codeact`, else `/tmp/codeact` (a user without a home).
///
/// `scripts/setup.sh`, `scripts/test.sh` and the peer scripts resolve the same path the same
/// way, so the session venv (`venv/`), the models (`models/`) and the peers' venvs are found
/// wherever the cache is.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CODEACT_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir()
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("codeact")
}

/// The session environment's Python that `scripts/setup.sh` creates: `<cache>/venv/bin/python`.
pub fn session_venv_python() -> PathBuf {
    cache_dir().join("venv").join("bin").join("python")
}
