//! What running one cell in a session produces, and how sessions are described.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::mime::{Metadata, MimeBundle, TextForm, TEXT_FORM_CHARS};

/// Which standard stream a piece of text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
}

/// One piece of output of a cell, in the order it was produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    Stream {
        name: StreamName,
        text: String,
    },
    /// The value of the cell's trailing expression (`Out[N]`), every representation it has.
    Result {
        execution_count: Option<u32>,
        data: MimeBundle,
        /// Jupyter's per-type metadata (an image's `width`, …); absent when empty.
        #[serde(default, skip_serializing_if = "Metadata::is_empty")]
        metadata: Metadata,
    },
    /// A value shown with `display()` or a figure.
    Display {
        data: MimeBundle,
        #[serde(default, skip_serializing_if = "Metadata::is_empty")]
        metadata: Metadata,
    },
    /// The exception that ended the cell; the traceback is plain text, one frame per entry.
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
}

impl Output {
    /// A `display_data` output of `data`, without metadata.
    pub fn display(data: MimeBundle) -> Self {
        Output::Display {
            data,
            metadata: Metadata::new(),
        }
    }

    /// The rich value of a result or display output.
    pub fn data(&self) -> Option<&MimeBundle> {
        match self {
            Output::Result { data, .. } | Output::Display { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The text a person (or a model) reads for this output: a rich value's
    /// [`MimeBundle::text_form`] (an image as `<image/png>`), at most [`TEXT_FORM_CHARS`].
    pub fn text(&self) -> String {
        match self {
            Output::Stream { text, .. } => text.clone(),
            Output::Result { data, .. } | Output::Display { data, .. } => {
                match data.text_form(TEXT_FORM_CHARS) {
                    TextForm::Image(img) => format!("<{}>\n", img.mime),
                    TextForm::Text(t) if t.is_empty() => String::new(),
                    TextForm::Text(t) => format!("{t}\n"),
                }
            }
            Output::Error { traceback, .. } => {
                let mut s = traceback.join("\n");
                if !s.ends_with('\n') {
                    s.push('\n');
                }
                s
            }
        }
    }
}

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    /// The cell ran to its end.
    Ok,
    /// The cell raised an exception; the session lives on.
    Error,
    /// The cell overran its time limit and was interrupted; the session's state is kept.
    Interrupted,
    /// The session died or had to be killed during the cell; it was restarted and its state lost.
    Restarted,
}

/// The whole result of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecResult {
    pub status: ExecStatus,
    pub outputs: Vec<Output>,
    /// Wall time of the cell in milliseconds, as seen by the engine.
    pub duration_ms: f64,
    /// Whether this call created the session (its first use).
    pub new_session: bool,
    /// A message from the engine itself (a timeout, a restart, truncated output), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl ExecResult {
    /// All output as one text, in order, followed by the engine's notice: the form the seed
    /// system's `/execute` returned and the form a model reads.
    pub fn text(&self) -> String {
        let mut s: String = self.outputs.iter().map(Output::text).collect();
        if let Some(n) = &self.notice {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(n);
            s.push('\n');
        }
        s
    }

    /// The PNG images the cell displayed, base64-encoded.
    pub fn images(&self) -> impl Iterator<Item = &str> {
        self.outputs
            .iter()
            .filter_map(|o| o.data().and_then(MimeBundle::image_png))
    }
}

/// Whether a session is running a cell right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Idle,
    Busy,
}

/// A live session as listed by the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    pub backend: BackendKind,
    pub state: SessionState,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// Seconds since the Unix epoch.
    pub last_used_at: u64,
    pub executions: u64,
    pub restarts: u64,
}

/// Stable machine-readable error codes of the engine and its HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    /// No API key, or one the server does not know (`Authorization: Bearer KEY`).
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    TooManySessions,
    /// The caller's cap on runs at once (cells, agent requests) is reached.
    TooManyRuns,
    SessionBusy,
    PayloadTooLarge,
    SandboxUnavailable,
    BackendUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TooManySessions => "too_many_sessions",
            ErrorCode::TooManyRuns => "too_many_runs",
            ErrorCode::SessionBusy => "session_busy",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::SandboxUnavailable => "sandbox_unavailable",
            ErrorCode::BackendUnavailable => "backend_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// Which execution backend runs sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Sandboxed sessions forked from a local Python zygote.
    Local,
    /// Kernels of a Jupyter Server or Kernel Gateway.
    Jupyter,
    /// Local sessions with the sandbox off (`--sandbox none`): code runs on the host.
    None,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Jupyter => "jupyter",
            BackendKind::None => "none",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Linux namespace a session gets of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    User,
    Pid,
    Mount,
    Net,
    Ipc,
    Uts,
}

impl Namespace {
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Pid => "pid",
            Namespace::Mount => "mount",
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
        }
    }
}

/// What a session sees of the filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemView {
    /// Host paths shown read-only; nothing else of the host's filesystem is visible.
    pub read_only_paths: Vec<String>,
    /// The session's private, writable tmpfs mounts.
    pub writable: Vec<String>,
    /// Size of each writable mount.
    pub writable_bytes: u64,
}

/// What network a session can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkAccess {
    /// A private network namespace with only a loopback interface.
    LoopbackOnly,
    /// Outbound access through a user-mode NAT (slirp4netns); the host's loopback is
    /// unreachable.
    Egress,
    /// The host's network, unconfined.
    Host,
}

/// Resource limits (setrlimit) of every process of a session, as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimits {
    pub file_size_bytes: u64,
    /// Data segment per process.
    pub data_bytes: u64,
    pub core_bytes: u64,
    pub open_files: u64,
    pub cpu_seconds: u64,
    /// Processes of the session's user; only when each session has a host uid of its own.
    pub processes: Option<u64>,
}

/// The seccomp filter every session runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompInfo {
    /// System calls that fail with EPERM.
    pub denied_syscalls: u32,
    /// Whether `clone` with namespace flags is denied (and `clone3` made to fall back to it).
    pub namespace_creation_denied: bool,
}

/// Which cgroup hierarchy holds sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Limits of one session's cgroup, all its processes together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupLimits {
    pub version: CgroupVersion,
    pub memory_bytes: u64,
    pub max_processes: u64,
    pub cpu_cores: f64,
}

/// The Python that sessions run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonEnv {
    pub path: PathBuf,
    pub version: String,
    /// Whether cells run in IPython (magics, `!cmd`, rich display); plain Python otherwise.
    pub ipython: bool,
    /// Modules sessions are expected to have (IPython, numpy, pandas, matplotlib) that this
    /// Python could not import.
    pub missing_modules: Vec<String>,
}

/// What isolation an execution backend really enforces on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxReport {
    pub backend: BackendKind,
    /// Whether code runs isolated from the host at all.
    pub isolated: bool,
    /// Namespaces each session gets of its own.
    pub namespaces: Vec<Namespace>,
    /// `None` when sessions see the host's filesystem.
    pub filesystem: Option<FilesystemView>,
    /// `None` when the backend does not control it (Jupyter).
    pub network: Option<NetworkAccess>,
    pub rlimits: Option<Rlimits>,
    /// Every capability dropped, bounding set included.
    pub capabilities_dropped: bool,
    pub no_new_privs: bool,
    pub seccomp: Option<SeccompInfo>,
    pub cgroup: Option<CgroupLimits>,
    /// Sessions see none of the server's environment variables.
    pub environment_scrubbed: bool,
    /// The Python sessions run, for the local backend.
    pub python: Option<PythonEnv>,
    /// Mechanisms asked for that this kernel or setup could not provide, one line each.
    pub missing: Vec<String>,
}

impl SandboxReport {
    /// A report of a backend that enforces nothing: every mechanism off.
    pub fn unconfined(backend: BackendKind) -> Self {
        Self {
            backend,
            isolated: false,
            namespaces: Vec::new(),
            filesystem: None,
            network: None,
            rlimits: None,
            capabilities_dropped: false,
            no_new_privs: false,
            seccomp: None,
            cgroup: None,
            environment_scrubbed: false,
            python: None,
            missing: Vec::new(),
        }
    }

    /// One line per mechanism in force, for people, e.g. `namespaces: user pid mount net ipc uts`.
    pub fn enforced_lines(&self) -> Vec<String> {
        let mib = |b: u64| b >> 20;
        let mut lines = Vec::new();
        if !self.namespaces.is_empty() {
            let names: Vec<&str> = self.namespaces.iter().map(|n| n.as_str()).collect();
            lines.push(format!("namespaces: {}", names.join(" ")));
        }
        if let Some(fs) = &self.filesystem {
            lines.push(format!(
                "filesystem: read-only root of {} host paths ({})",
                fs.read_only_paths.len(),
                fs.read_only_paths.join(" ")
            ));
            lines.push(format!(
                "writable: private tmpfs {}, {} MiB each",
                fs.writable.join(" and "),
                mib(fs.writable_bytes)
            ));
        }
        match self.network {
            Some(NetworkAccess::Egress) => lines.push(
                "network: egress through slirp4netns (user-mode NAT; the host's loopback is unreachable)".into(),
            ),
            Some(NetworkAccess::LoopbackOnly) => lines.push("network: none (loopback only)".into()),
            Some(NetworkAccess::Host) | None => {}
        }
        if let Some(r) = &self.rlimits {
            let mut line = format!(
                "rlimits: file size {} MiB, data {} MiB per process, core {}, open files {}",
                mib(r.file_size_bytes),
                mib(r.data_bytes),
                r.core_bytes,
                r.open_files
            );
            if let Some(p) = r.processes {
                line.push_str(&format!(", processes {p}"));
            }
            lines.push(line);
        }
        match (self.capabilities_dropped, self.no_new_privs) {
            (true, true) => lines.push("privileges: all capabilities dropped, no_new_privs".into()),
            (true, false) => lines.push("privileges: all capabilities dropped".into()),
            (false, true) => lines.push("privileges: no_new_privs".into()),
            (false, false) => {}
        }
        if let Some(s) = &self.seccomp {
            let mut line = format!(
                "seccomp: {} dangerous system calls denied",
                s.denied_syscalls
            );
            if s.namespace_creation_denied {
                line.push_str(", namespace-creating clone denied");
            }
            lines.push(line);
        }
        if self.environment_scrubbed {
            lines.push("environment: scrubbed".into());
        }
        if let Some(c) = &self.cgroup {
            lines.push(format!(
                "cgroup {}: memory {} MiB, pids {}, cpu {} cores per session",
                match c.version {
                    CgroupVersion::V1 => "v1",
                    CgroupVersion::V2 => "v2",
                },
                mib(c.memory_bytes),
                c.max_processes,
                c.cpu_cores
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_keeps_its_json_names_and_reads_as_lines() {
        let mut r = SandboxReport::unconfined(BackendKind::Local);
        r.namespaces = vec![Namespace::User, Namespace::Mount];
        r.network = Some(NetworkAccess::LoopbackOnly);
        r.no_new_privs = true;
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["backend"], "local");
        assert_eq!(json["namespaces"], serde_json::json!(["user", "mount"]));
        assert_eq!(json["network"], "loopback_only");
        assert_eq!(serde_json::from_value::<SandboxReport>(json).unwrap(), r);
        assert_eq!(
            r.enforced_lines(),
            [
                "namespaces: user mount",
                "network: none (loopback only)",
                "privileges: no_new_privs"
            ]
        );
        assert_eq!(BackendKind::None.to_string(), "none");
    }
}
