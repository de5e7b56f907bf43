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

/// What kind of failure an [`AgentEvent::Error`] reports, for clients that react to it rather
/// than show it. A Python exception in the model's code is not one: it is an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentErrorCode {
    /// The model backend failed: unavailable, refused the request, answered something invalid,
    /// or its model could not be loaded.
    Llm,
    /// The conversation no longer fits the model's context.
    ContextLength,
    /// The execution engine could not run a cell or set up the session.
    Exec,
    /// The execution engine cannot set up its sandbox on this machine.
    SandboxUnavailable,
    /// The tools file could not be read or loaded into the session.
    Tools,
    /// The conversation could not be saved.
    Conversation,
}

/// Why a reply was dropped and sampled again ([`AgentEvent::ReplyDiscarded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscardReason {
    /// The reply would run code that already ran in this run.
    RepeatsExecutedCode,
}

impl std::fmt::Display for DiscardReason {
    /// The reason in words, for people watching the run (the model never reads it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiscardReason::RepeatsExecutedCode => {
                "the reply would run code that already ran; sampling another"
            }
        })
    }
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
    ReplyDiscarded { text: String, reason: DiscardReason },
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
    /// What one request to the model used, in tokens, as its backend counted them (the
    /// embedded engine and OpenAI-compatible servers that report usage; 0 where unknown).
    Usage {
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    /// Something went wrong; the run may continue or end. `message` is for people.
    Error {
        code: AgentErrorCode,
        message: String,
    },
    /// The run is over.
    End { reason: EndReason },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons_are_snake_case_strings() -> serde_json::Result<()> {
        let error = AgentEvent::Error {
            code: AgentErrorCode::ContextLength,
            message: "too long".into(),
        };
        assert_eq!(
            serde_json::to_string(&error)?,
            r#"{"type":"error","code":"context_length","message":"too long"}"#
        );
        let discarded = AgentEvent::ReplyDiscarded {
            text: "x".into(),
            reason: DiscardReason::RepeatsExecutedCode,
        };
        let json = serde_json::to_string(&discarded)?;
        assert_eq!(
            json,
            r#"{"type":"reply_discarded","text":"x","reason":"repeats_executed_code"}"#
        );
        assert_eq!(serde_json::from_str::<AgentEvent>(&json)?, discarded);
        Ok(())
    }
}
