//! The event stream of the CodeAct loop: the one interface its front ends consume.

use serde::{Deserialize, Serialize};

use crate::exec::ExecResult;

/// Where a code action came from in the model's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOrigin {
    /// An `<execute>…</execute>` block.
    ExecuteTag,
    /// A fenced ```python block in a reply that had no `<execute>` tag.
    FencedBlock,
}

/// Why a run of the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The model gave a `<solution>` (task mode).
    Solution,
    /// The model replied without an action (chat mode).
    Reply,
    /// The turn limit of a task was reached.
    MaxTurns,
    /// The limit on executions per user message was reached.
    MaxExecutions,
    /// The conversation no longer fits the model's context.
    ContextLength,
    /// The user or the client stopped the run.
    Cancelled,
    /// The backend or the engine failed.
    Error,
}

/// One event of an agent run, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A new model turn begins.
    TurnStarted { turn: u32 },
    /// A piece of the model's reply as it streams.
    AssistantDelta { text: String },
    /// The model's whole reply for this turn.
    AssistantMessage { text: String },
    /// The reply just streamed was dropped, not added to the conversation, and the turn is
    /// sampled again (e.g. it would have run code that already failed).
    ReplyDiscarded { text: String, reason: String },
    /// Code the loop is about to run.
    CodeAction { code: String, origin: ActionOrigin },
    /// What running the code produced, and the text the model will see.
    Observation {
        text: String,
        result: ExecResult,
        images: Vec<String>,
    },
    /// A message the loop itself sent to the model (a nudge or a hint), not an observation.
    Feedback { text: String },
    /// The final answer of a task.
    FinalAnswer { text: String },
    /// Something went wrong; the run may continue or end.
    Error { message: String },
    /// The run is over.
    End { reason: EndReason },
}
