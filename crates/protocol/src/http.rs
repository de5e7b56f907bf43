//! The bodies of the execution server's HTTP API (`codeact serve`): what clients send, what the
//! server answers, and the one error envelope. The server, the CLI's client (`codeact exec
//! --server`) and the tests all use these types, so the wire format has one definition.
//!
//! Endpoints and their bodies (JSON unless said otherwise):
//!
//! | endpoint | request | answer |
//! |---|---|---|
//! | `GET /health` | | [`Health`] |
//! | `POST /execute` (seed-compatible) | [`SeedExecuteRequest`] | [`SeedExecuteResponse`] |
//! | `GET /v1/sandbox` | | [`SandboxReport`](crate::SandboxReport) |
//! | `GET /v1/sessions` | | [`SessionList`] |
//! | `POST /v1/sessions` | [`CreateSessionRequest`] or an empty body | `201` + [`SessionInfo`] |
//! | `GET /v1/sessions/{id}` | | [`SessionInfo`] |
//! | `DELETE /v1/sessions/{id}` | | `204` |
//! | `POST /v1/sessions/{id}/execute` | [`ExecuteRequest`] | [`ExecResult`], or server-sent [`ExecuteEvent`]s |
//! | `POST /v1/sessions/{id}/interrupt` | | `204` |
//! | `POST /v1/sessions/{id}/restart` | | [`SessionInfo`] |
//! | `GET /v1/sessions/{id}/files` | | [`FileList`] |
//! | `PUT`/`GET /v1/sessions/{id}/files/{path}` | raw bytes | `204` / raw bytes |
//!
//! Every failure is an [`ErrorEnvelope`] with a stable [`ErrorCode`].

use serde::{Deserialize, Serialize};

use crate::exec::{ErrorCode, ExecResult, Output, SessionInfo};

/// `GET /health`: `{"status": "ok"}` while the server answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// `POST /execute`, the research system's original endpoint: run `code` in the session named
/// `convid` (created on first use). Unknown fields are ignored, as the original server did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedExecuteRequest {
    pub convid: String,
    pub code: String,
}

/// The answer of `POST /execute`: every output of the cell as one text, and whether the session
/// was created (or restarted) for this cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedExecuteResponse {
    pub result: String,
    pub new_kernel_created: bool,
}

/// `POST /v1/sessions`: `id` names the new session; without it the server picks a UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `GET /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// `POST /v1/sessions/{id}/execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub code: String,
    /// Overrides the server's cell timeout for this cell, in seconds (0 < t ≤ 86,400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// Answer with server-sent events ([`ExecuteEvent`]) instead of one [`ExecResult`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

impl ExecuteRequest {
    /// Longest per-cell timeout a client may ask for, in seconds.
    pub const MAX_TIMEOUT_S: f64 = 86_400.0;

    /// A request for `code` with the server's timeout, answered as one result.
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            timeout_s: None,
            stream: false,
        }
    }
}

/// `GET /v1/sessions/{id}/files`: paths relative to the session's working directory, depth
/// first and sorted by name, folders ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileList {
    pub files: Vec<String>,
    /// The listing stopped at the cap (10,000 entries) and left entries out: a folder listed
    /// without entries may not be empty.
    #[serde(default)]
    pub truncated: bool,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// The inside of an [`ErrorEnvelope`]: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorEnvelope {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorBody {
                code,
                message: message.into(),
            },
        }
    }
}

impl std::fmt::Display for ErrorEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.error.message, self.error.code.as_str())
    }
}

/// One server-sent event of a streamed execution: any number of `output` events in order,
/// then exactly one `done` or `error`. The SSE event name is [`ExecuteEvent::name`]; its
/// `data` is the JSON of the payload.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecuteEvent {
    /// `event: output`: one piece of output as the cell produces it.
    Output(Output),
    /// `event: done`: the whole result, the same as the non-streamed answer.
    Done(ExecResult),
    /// `event: error`: the cell could not run (the same envelope as an error answer).
    Error(ErrorEnvelope),
}

impl ExecuteEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            ExecuteEvent::Output(_) => "output",
            ExecuteEvent::Done(_) => "done",
            ExecuteEvent::Error(_) => "error",
        }
    }

    /// The SSE `data` field: the payload as JSON.
    pub fn data(&self) -> Result<String, serde_json::Error> {
        match self {
            ExecuteEvent::Output(o) => serde_json::to_string(o),
            ExecuteEvent::Done(r) => serde_json::to_string(r),
            ExecuteEvent::Error(e) => serde_json::to_string(e),
        }
    }

    /// Reads an event back from its SSE name and data; `Ok(None)` for a name this version
    /// does not know (clients skip those).
    pub fn parse(name: &str, data: &str) -> Result<Option<Self>, serde_json::Error> {
        Ok(Some(match name {
            "output" => ExecuteEvent::Output(serde_json::from_str(data)?),
            "done" => ExecuteEvent::Done(serde_json::from_str(data)?),
            "error" => ExecuteEvent::Error(serde_json::from_str(data)?),
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_error_envelope_has_the_documented_shape() {
        let e = ErrorEnvelope::new(ErrorCode::TooManySessions, "cap reached");
        assert_eq!(
            serde_json::to_value(&e).unwrap_or_default(),
            json!({"error": {"code": "too_many_sessions", "message": "cap reached"}})
        );
    }

    #[test]
    fn an_execute_request_omits_what_is_unset_and_rejects_unknown_fields() {
        let r = ExecuteRequest::new("print(1)");
        assert_eq!(
            serde_json::to_value(&r).unwrap_or_default(),
            json!({"code": "print(1)"})
        );
        let bad = serde_json::from_value::<ExecuteRequest>(json!({"code": "1", "timeout": 3}));
        assert!(bad.is_err());
    }

    #[test]
    fn execute_events_round_trip_through_their_sse_form() {
        let events = [
            ExecuteEvent::Output(Output::Stream {
                name: crate::StreamName::Stdout,
                text: "hi\n".into(),
            }),
            ExecuteEvent::Error(ErrorEnvelope::new(ErrorCode::Internal, "lost")),
        ];
        for e in events {
            let data = e.data().unwrap_or_default();
            assert_eq!(ExecuteEvent::parse(e.name(), &data).ok().flatten(), Some(e));
        }
        assert_eq!(ExecuteEvent::parse("ping", "{}").ok().flatten(), None);
    }
}
