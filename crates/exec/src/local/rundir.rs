//! Each local backend's data directory in the cache, `run-<pid>-<n>` (the working
//! directories of unsandboxed sessions), and the removal of those a killed server left.

use std::path::{Path, PathBuf};

/// Holds the pid namespace of the server that made a data directory: a pid means nothing in
/// another pid namespace, where servers sharing this cache may run.
const PIDNS_FILE: &str = ".pidns";

fn own_pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Makes the data directory of this process's `n`th backend.
pub(super) fn create(cache: &Path, n: u64) -> std::io::Result<PathBuf> {
    let dir = cache.join(format!("run-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if let Some(ns) = own_pid_namespace() {
        std::fs::write(dir.join(PIDNS_FILE), ns)?;
    }
    Ok(dir)
}

/// Removes the data directories of servers that are gone: those made in this pid namespace
/// by a pid that is no longer alive. Of a directory from elsewhere (or from before the pid
/// namespace was noted), only an empty one goes.
pub(super) fn remove_stale(cache: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    let ours = own_pid_namespace();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("run-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() as i32
            || !matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
        if alive {
            continue;
        }
        let dir = entry.path();
        let same_ns = ours.is_some() && std::fs::read_to_string(dir.join(PIDNS_FILE)).ok() == ours;
        let removed = if same_ns {
            std::fs::remove_dir_all(&dir)
        } else {
            std::fs::remove_dir(&dir)
        };
        match removed {
            Ok(()) => tracing::debug!(dir = %dir.display(), "removed a stale data directory"),
            Err(e) => tracing::debug!(dir = %dir.display(), "left a stale data directory: {e}"),
        }
    }
}
