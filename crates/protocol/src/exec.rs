//! What running one cell in a session produces, and how sessions are described.

use serde::{Deserialize, Serialize};

/// Which standard stream a piece of text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
}

/// The representations of one rich value, keyed by MIME type as in Jupyter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MimeBundle {
    #[serde(
        rename = "text/plain",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub text_plain: Option<String>,
    /// Base64-encoded PNG bytes.
    #[serde(rename = "image/png", default, skip_serializing_if = "Option::is_none")]
    pub image_png: Option<String>,
}

/// One piece of output of a cell, in the order it was produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    Stream {
        name: StreamName,
        text: String,
    },
    /// The value of the cell's trailing expression (`Out[N]`).
    Result {
        execution_count: Option<u32>,
        data: MimeBundle,
    },
    /// A value shown with `display()` or a figure.
    Display {
        data: MimeBundle,
    },
    /// The exception that ended the cell; the traceback is plain text, one frame per entry.
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
}

impl Output {
    /// The text a person (or a model) reads for this output.
    pub fn text(&self) -> String {
        match self {
            Output::Stream { text, .. } => text.clone(),
            Output::Result { data, .. } | Output::Display { data } => {
                match (&data.text_plain, &data.image_png) {
                    (_, Some(_)) => "<image/png>\n".to_string(),
                    (Some(t), None) => format!("{t}\n"),
                    (None, None) => String::new(),
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
        self.outputs.iter().filter_map(|o| match o {
            Output::Result { data, .. } | Output::Display { data } => data.image_png.as_deref(),
            _ => None,
        })
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
    pub backend: String,
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
    NotFound,
    MethodNotAllowed,
    TooManySessions,
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
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TooManySessions => "too_many_sessions",
            ErrorCode::SessionBusy => "session_busy",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::SandboxUnavailable => "sandbox_unavailable",
            ErrorCode::BackendUnavailable => "backend_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// What isolation an execution backend really enforces on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxReport {
    /// `local`, `jupyter`, or `none`.
    pub backend: String,
    /// Whether code runs isolated from the host at all.
    pub isolated: bool,
    /// One line per mechanism in force, e.g. `namespaces: user pid mount net ipc uts`.
    pub enforced: Vec<String>,
    /// Mechanisms asked for that this kernel or setup could not provide.
    pub missing: Vec<String>,
}
