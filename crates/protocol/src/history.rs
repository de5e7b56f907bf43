//! The conversation API's bodies (`/v1/conversations`): conversations kept by the server, their
//! messages, and what the agent did for each reply, as stored and as streamed.
//!
//! Times are milliseconds since the Unix epoch. Ids are UUIDs chosen by the server. A
//! conversation's messages form a tree (each has a `parent_id`): editing a message or
//! regenerating a reply starts a new branch beside the old one, and `head` names the last
//! message of the branch shown.

use serde::{Deserialize, Serialize};

use crate::agent::AgentEvent;

/// One conversation in a list: no messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub title: String,
    /// The LLM backend that answered, e.g. `embedded:qwen2.5-coder-0.5b-instruct-q8_0`.
    pub model: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// `GET /v1/conversations`, most recently updated first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationList {
    pub data: Vec<ConversationSummary>,
}

/// `GET /v1/conversations/{id}`: the conversation with the messages of its current branch,
/// oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    /// The session the agent's code runs in, as the caller names it under `/v1/sessions`
    /// (its files are the conversation's files).
    pub session_id: String,
    /// Whether that session holds this conversation's Python state. False after a restart
    /// of the server or once the session idled out: the messages are kept, the variables are
    /// not, until `POST …/replay` runs the branch's code again.
    pub live: bool,
    /// Whether a reply is being made now.
    pub running: bool,
    /// The last message of the branch shown.
    pub head: Option<String>,
    pub messages: Vec<StoredMessage>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    User,
    Assistant,
}

/// Where a reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// The agent is working on it.
    Running,
    /// The run ended (a reply, a limit, or an error reported in its steps).
    Done,
    /// Stopped by the user.
    Stopped,
    /// The server stopped while the reply was being made; the steps before that are kept.
    Interrupted,
}

/// One message: a user's text, or the agent's reply with every step it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub id: String,
    pub parent_id: Option<String>,
    pub author: Author,
    /// The user's text, or the reply's final text (empty while running).
    pub content: String,
    pub status: MessageStatus,
    pub created_ms: i64,
    /// The agent's steps for a reply, in order: its messages, code actions, observations
    /// (outputs and figures), feedback, errors and its end. Empty for a user message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<AgentEvent>,
    /// Other messages with the same parent (earlier edits or regenerations), oldest first,
    /// this one included; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<String>,
}

/// `POST /v1/conversations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    /// Default: taken from the first message.
    #[serde(default)]
    pub title: Option<String>,
}

/// `PATCH /v1/conversations/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    #[serde(default)]
    pub title: Option<String>,
    /// Show the branch that ends at (or continues down the newest children from) this message.
    #[serde(default)]
    pub head: Option<String>,
}

/// `POST /v1/conversations/{id}/messages`: a user message; the reply streams back as
/// [`ConversationEvent`]s over SSE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub content: String,
    /// The id of a user message this one replaces: the new message goes beside it (same
    /// parent), on a new branch. Default: the message follows the branch shown.
    #[serde(default)]
    pub edit: Option<String>,
}

/// `POST /v1/conversations/{id}/regenerate`: a new reply to the user message `message_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regenerate {
    pub message_id: String,
}

/// One SSE event of a reply (`data:` is this, as JSON). The stream ends after `done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConversationEvent {
    /// The user's message as stored (absent when regenerating).
    UserMessage { message: StoredMessage },
    /// The reply's message, created empty and running.
    ReplyStarted { message: StoredMessage },
    /// Before the reply: the session was rebuilt by replaying the branch's code (a new branch,
    /// or Python state lost to a restart).
    Replayed { actions: u32, failed: u32 },
    /// One agent event. Those other than `turn_started` and `assistant_delta` are stored
    /// before they are sent.
    Agent { event: AgentEvent },
    /// The reply as stored at its end.
    Done { message: StoredMessage },
}

/// `POST /v1/conversations/{id}/replay`: the branch's code actions run again in a fresh
/// session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    pub actions: u32,
    /// Actions that raised this time.
    pub failed: u32,
}
