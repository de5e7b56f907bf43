//! The local backend's sandbox report: the mechanisms in force on this machine, as typed
//! fields, and what could not be had.

use codeact_protocol::{
    BackendKind, CgroupLimits, FilesystemView, Namespace, NetworkAccess, Rlimits, SandboxReport,
};

use super::{seccomp, Inner, CPU_SECONDS, OPEN_FILES};
use crate::NetworkMode;

pub(super) fn report(this: &Inner) -> SandboxReport {
    let p = &this.config.sandbox;
    if !this.sandboxed() {
        return SandboxReport {
            network: Some(NetworkAccess::Host),
            environment_scrubbed: true,
            missing: vec!["sandbox disabled by --sandbox none: code runs on the host with the server's rights".into()],
            ..SandboxReport::unconfined(BackendKind::None)
        };
    }
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
            read_only_paths: this.zygote.info.ro_paths.clone(),
            writable: vec!["/workspace".into(), "/tmp".into()],
            writable_bytes: p.disk_bytes,
        }),
        network: Some(match p.network {
            NetworkMode::Egress => NetworkAccess::Egress,
            NetworkMode::None => NetworkAccess::LoopbackOnly,
        }),
        rlimits: Some(Rlimits {
            file_size_bytes: p.file_size_bytes,
            data_bytes: p.memory_bytes,
            core_bytes: 0,
            open_files: OPEN_FILES,
            cpu_seconds: CPU_SECONDS,
            processes: this.unique_uids().then_some(p.max_processes),
        }),
        capabilities_dropped: true,
        no_new_privs: true,
        seccomp: Some(seccomp::info()),
        cgroup,
        environment_scrubbed: true,
        missing,
    }
}
