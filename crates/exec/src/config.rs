//! Settings of the engine: time and size limits, and the sandbox policy as data.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which isolation the local backend applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Namespaces, a read-only root, limits and seccomp. Refuses to run if it cannot be set up.
    #[default]
    Local,
    /// No isolation at all: code runs as the server's user on the host. Warns loudly.
    None,
}

/// What network a session sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Loopback only: a private network namespace with no other interface.
    #[default]
    None,
    /// Outbound access through a user-mode network stack (slirp4netns) that cannot reach
    /// the host's loopback.
    Egress,
}

/// The sandbox policy of the local backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxPolicy {
    pub mode: SandboxMode,
    pub network: NetworkMode,
    /// Memory limit of one session, all its processes together.
    pub memory_bytes: u64,
    /// Most processes and threads one session may have at once.
    pub max_processes: u64,
    /// CPU share of one session, in cores (cgroup cpu quota).
    pub cpu_cores: f64,
    /// Largest file a session may write.
    pub file_size_bytes: u64,
    /// Size of the session's private /tmp and of its working directory (each a tmpfs).
    pub disk_bytes: u64,
    /// Extra host directories to show read-only inside sessions.
    pub extra_ro_paths: Vec<PathBuf>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        Self {
            mode: SandboxMode::Local,
            network: NetworkMode::None,
            memory_bytes: 2 << 30,
            max_processes: 256,
            cpu_cores: 1.0,
            file_size_bytes: 1 << 30,
            disk_bytes: 1 << 30,
            extra_ro_paths: Vec::new(),
        }
    }
}

/// Settings of the session manager and the local backend.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// Time a cell may run before it is interrupted.
    pub cell_timeout: Duration,
    /// Time an interrupted cell gets to stop before the session is killed and restarted.
    pub interrupt_grace: Duration,
    /// Bytes of stream output kept per cell (head and tail around a marker).
    pub output_limit: usize,
    /// Sessions unused this long are ended.
    pub idle_timeout: Duration,
    /// Most sessions alive at once.
    pub max_sessions: usize,
    /// Largest file accepted by upload.
    pub max_file_bytes: u64,
    /// The Python interpreter of the session environment (a venv's `bin/python`).
    pub python: PathBuf,
    /// Python code run once in the zygote, before sessions fork (tool definitions).
    pub preload: Option<String>,
    /// Sandboxes kept started and unused, so that a new session starts without waiting.
    /// Each is handed to exactly one session and never reused; the pool refills while the
    /// backend is idle (local backend).
    pub pool_size: usize,
    /// Zygotes sessions are forked from (at least 1). Each makes one session at a time, so
    /// more of them make sessions at once on more cores, at the cost of each one's memory
    /// (about 100 MB with the default imports) and start.
    pub zygotes: usize,
    pub sandbox: SandboxPolicy,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            cell_timeout: Duration::from_secs(60),
            interrupt_grace: Duration::from_secs(5),
            output_limit: 64 * 1024,
            idle_timeout: Duration::from_secs(600),
            max_sessions: 256,
            max_file_bytes: 64 << 20,
            python: default_python(),
            preload: None,
            pool_size: 4,
            zygotes: 1,
            sandbox: SandboxPolicy::default(),
        }
    }
}

/// `$CODEACT_PYTHON`, else the session venv in the codeact cache if it exists
/// ([`codeact_protocol::paths::session_venv_python`]), else `/usr/bin/python3`.
pub fn default_python() -> PathBuf {
    if let Some(p) = std::env::var_os("CODEACT_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = codeact_protocol::paths::session_venv_python();
    if venv.exists() {
        venv
    } else {
        PathBuf::from("/usr/bin/python3")
    }
}
