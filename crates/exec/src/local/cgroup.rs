//! Per-session cgroups (v1 or v2) for memory, process-count and CPU limits, when the server
//! may create them (as root). Every process of a session is born inside its cgroup because
//! each start of a session moves its first process in before it forks the worker.

use std::fs;
use std::path::{Path, PathBuf};

use codeact_protocol::CgroupVersion;

use crate::SandboxPolicy;

const BASE: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone)]
enum Layout {
    V1,
    V2,
}

/// Where this server creates session cgroups.
#[derive(Debug)]
pub(crate) struct Cgroups {
    layout: Layout,
    /// Name of this server's parent group, unique per server process.
    group: String,
}

/// One session's cgroup directories.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dirs: Vec<PathBuf>,
    memory: Option<PathBuf>,
    layout: Layout,
}

impl Cgroups {
    /// The cgroup setup usable here, or why not.
    pub fn detect(instance: u64) -> Result<Self, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root".into());
        }
        // The pid alone is not unique: servers in other pid namespaces share this hierarchy.
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let group = format!("codeact-{}-{instance}-{nonce:08x}", std::process::id());
        let v1 = ["memory", "pids", "cpu"]
            .iter()
            .all(|c| Path::new(BASE).join(c).join("tasks").exists());
        if v1 {
            for c in ["memory", "pids", "cpu"] {
                fs::create_dir_all(Path::new(BASE).join(c).join(&group))
                    .map_err(|e| format!("{c}: {e}"))?;
            }
            return Ok(Self {
                layout: Layout::V1,
                group,
            });
        }
        let root = Path::new(BASE);
        if root.join("cgroup.controllers").exists() {
            let ctl =
                fs::read_to_string(root.join("cgroup.controllers")).map_err(|e| e.to_string())?;
            for c in ["memory", "pids", "cpu"] {
                if !ctl.split_whitespace().any(|x| x == c) {
                    return Err(format!("cgroup v2 controller {c} unavailable"));
                }
            }
            let _ = fs::write(root.join("cgroup.subtree_control"), "+memory +pids +cpu");
            let dir = root.join(&group);
            fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            fs::write(dir.join("cgroup.subtree_control"), "+memory +pids +cpu")
                .map_err(|e| e.to_string())?;
            return Ok(Self {
                layout: Layout::V2,
                group,
            });
        }
        Err("no cgroup memory/pids/cpu controllers mounted".into())
    }

    /// Which hierarchy, for the sandbox report.
    pub fn version(&self) -> CgroupVersion {
        match self.layout {
            Layout::V1 => CgroupVersion::V1,
            Layout::V2 => CgroupVersion::V2,
        }
    }

    /// Creates the cgroup of one session with the policy's limits.
    pub fn create(&self, name: &str, policy: &SandboxPolicy) -> std::io::Result<Cgroup> {
        let quota = (policy.cpu_cores * 100_000.0).round().max(1000.0) as u64;
        match self.layout {
            Layout::V1 => {
                let mut dirs = Vec::new();
                let mut memory = None;
                for c in ["memory", "pids", "cpu"] {
                    let d = Path::new(BASE).join(c).join(&self.group).join(name);
                    fs::create_dir_all(&d)?;
                    match c {
                        "memory" => {
                            fs::write(
                                d.join("memory.limit_in_bytes"),
                                policy.memory_bytes.to_string(),
                            )?;
                            let _ = fs::write(d.join("memory.swappiness"), "0");
                            memory = Some(d.clone());
                        }
                        "pids" => fs::write(d.join("pids.max"), policy.max_processes.to_string())?,
                        _ => {
                            fs::write(d.join("cpu.cfs_period_us"), "100000")?;
                            fs::write(d.join("cpu.cfs_quota_us"), quota.to_string())?;
                        }
                    }
                    dirs.push(d);
                }
                Ok(Cgroup {
                    dirs,
                    memory,
                    layout: Layout::V1,
                })
            }
            Layout::V2 => {
                let d = Path::new(BASE).join(&self.group).join(name);
                fs::create_dir_all(&d)?;
                fs::write(d.join("memory.max"), policy.memory_bytes.to_string())?;
                let _ = fs::write(d.join("memory.swap.max"), "0");
                fs::write(d.join("pids.max"), policy.max_processes.to_string())?;
                fs::write(d.join("cpu.max"), format!("{quota} 100000"))?;
                Ok(Cgroup {
                    dirs: vec![d.clone()],
                    memory: Some(d),
                    layout: Layout::V2,
                })
            }
        }
    }
}

impl Cgroup {
    /// The files a process writes its own pid into to join the cgroup (its future children
    /// then start inside it).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// How many times the kernel's OOM killer acted in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let Some(m) = &self.memory else { return 0 };
        let (file, key) = match self.layout {
            Layout::V1 => ("memory.oom_control", "oom_kill"),
            Layout::V2 => ("memory.events", "oom_kill"),
        };
        fs::read_to_string(m.join(file))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    let mut it = l.split_whitespace();
                    (it.next() == Some(key))
                        .then(|| it.next().and_then(|v| v.parse().ok()))
                        .flatten()
                })
            })
            .unwrap_or(0)
    }

    /// Kills every process in the cgroup, whatever it did to detach itself from the
    /// session's process tree; repeats while a fork races the kill (the pids limit bounds it).
    pub fn kill_all(&self) {
        let Some(d) = self.dirs.first() else { return };
        for _ in 0..100 {
            let pids: Vec<i32> = fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Removes the directories once the processes are gone (retrying briefly: the kernel
    /// frees an emptied cgroup asynchronously).
    pub fn remove(&self) {
        self.kill_all();
        for d in &self.dirs {
            for _ in 0..50 {
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let dirs: Vec<PathBuf> = match self.layout {
            Layout::V1 => ["memory", "pids", "cpu"]
                .iter()
                .map(|c| Path::new(BASE).join(c).join(&self.group))
                .collect(),
            Layout::V2 => vec![Path::new(BASE).join(&self.group)],
        };
        for d in dirs {
            let _ = fs::remove_dir(d);
        }
    }
}
