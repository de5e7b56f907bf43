//! Plain data types that cross crate boundaries: what a code cell produced, what a session is,
//! what the agent says and does. No runtime, no I/O: the CLI, the server, the web UI and the
//! benchmarks all speak these types.

mod agent;
mod exec;
pub mod history;
mod html;
pub mod http;
mod message;
pub mod mime;
pub mod openai;
pub mod paths;

pub use agent::{ActionOrigin, AgentErrorCode, AgentEvent, DiscardReason, EndReason};
pub use exec::{
    BackendKind, CgroupLimits, CgroupVersion, ErrorCode, ExecResult, ExecStatus, FilesystemView,
    Namespace, NetworkAccess, Output, PythonEnv, Rlimits, SandboxReport, SeccompInfo, SessionInfo,
    SessionState, StreamName,
};
pub use message::{ImagePart, Message, Role};
pub use mime::{Metadata, MimeBundle, TextForm};
