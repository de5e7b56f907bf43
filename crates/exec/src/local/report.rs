//! The local backend's sandbox report: the mechanisms in force on this machine, as typed
//! fields, what could not be had, and what the session Python lacks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use codeact_protocol::{
    BackendKind, CgroupLimits, FilesystemView, Namespace, NetworkAccess, PythonEnv, Rlimits,
    SandboxReport,
};

use super::{seccomp, Inner};
use crate::NetworkMode;

pub(super) fn report(this: &Inner) -> SandboxReport {
    let p = &this.config.sandbox;
    if !this.sandboxed() {
        return SandboxReport {
            network: Some(NetworkAccess::Host),
            environment_scrubbed: true,
            python: Some(python(this)),
            missing: vec!["sandbox disabled by --sandbox none: code runs on the host with the server's rights".into()],
            ..SandboxReport::unconfined(BackendKind::None)
        };
    }
    // As the zygote will apply them, which its own hard limits may have lowered.
    let limits = &this.zygotes[0].info.rlimits;
    let mut missing = Vec::new();
    let cgroup = match &this.cgroups {
        Some(c) => Some(CgroupLimits {
            version: c.version(),
            memory_bytes: p.memory_bytes,
            max_processes: p.max_processes,
            cpu_cores: p.cpu_cores,
        }),
        None => {
            missing.push(format!(
                "cgroups ({}): no per-session memory total, process count or CPU share",
                this.cgroup_error.as_deref().unwrap_or("unavailable")
            ));
            None
        }
    };
    SandboxReport {
        backend: BackendKind::Local,
        isolated: true,
        namespaces: vec![
            Namespace::User,
            Namespace::Pid,
            Namespace::Mount,
            Namespace::Net,
            Namespace::Ipc,
            Namespace::Uts,
        ],
        filesystem: Some(FilesystemView {
            read_only_paths: this.zygotes[0].info.ro_paths.clone(),
            writable: vec!["/workspace".into(), "/tmp".into()],
            writable_bytes: p.disk_bytes,
        }),
        network: Some(match p.network {
            NetworkMode::Egress => NetworkAccess::Egress,
            NetworkMode::None => NetworkAccess::LoopbackOnly,
        }),
        rlimits: Some(Rlimits {
            file_size_bytes: limits.file_size_bytes,
            data_bytes: limits.memory_bytes,
            core_bytes: limits.core_bytes,
            open_files: limits.open_files,
            cpu_seconds: limits.cpu_seconds,
            processes: limits.nproc,
        }),
        capabilities_dropped: true,
        no_new_privs: true,
        seccomp: Some(seccomp::info()),
        cgroup,
        environment_scrubbed: true,
        python: Some(python(this)),
        missing,
    }
}

fn python(this: &Inner) -> PythonEnv {
    let info = &this.zygotes[0].info;
    PythonEnv {
        path: this.config.python.clone(),
        version: info.python.clone(),
        ipython: info.ipython,
        missing_modules: info.missing_modules.clone(),
    }
}

/// Says, once per interpreter and process, that the session Python lacks modules sessions
/// are expected to have, and how to get them.
pub(super) fn warn_if_incomplete(python: &Path, missing: &[String]) {
    static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    if missing.is_empty() {
        return;
    }
    let first = WARNED
        .lock()
        .map(|mut w| w.insert(python.to_path_buf()))
        .unwrap_or(true);
    if !first {
        return;
    }
    let venv = codeact_protocol::paths::cache_dir().join("venv");
    let plain = if missing.iter().any(|m| m == "IPython") {
        " (cells run as plain Python: no magics, no !commands, no display())"
    } else {
        ""
    };
    tracing::warn!(
        "the session Python {} cannot import {}{plain}: run scripts/setup.sh, which makes a venv \
         with them at {} (the default session Python), or point --python / CODEACT_PYTHON at \
         a Python that has them",
        python.display(),
        missing.join(", "),
        venv.display(),
    );
}
