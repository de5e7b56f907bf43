//! The backend trait and its request, chunk and error types.

use async_trait::async_trait;
use codeact_protocol::Message;
use futures::stream::BoxStream;

/// One request for a chat completion.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: f32,
    pub top_p: f32,
    /// Generation stops before any of these; the stop string itself is not returned, nor
    /// the beginning of one left at the end of a stopped reply (some servers stream part of a
    /// stop string before they recognise it).
    pub stop: Vec<String>,
    /// A GBNF grammar the reply must follow, where the backend supports one.
    pub grammar: Option<String>,
    pub seed: Option<u64>,
    /// The last message is the assistant's unfinished reply, to be continued: no new turn is
    /// opened, and the stream yields only the text that follows it (vLLM's
    /// `continue_final_message`). Needs [`LlmBackend::supports_continuation`]; a backend
    /// without it, or a request whose last message is not the assistant's, gets
    /// [`LlmError::Rejected`].
    pub continue_final_message: bool,
}

impl Default for CompletionRequest {
    fn default() -> Self {
        Self {
            messages: Vec::new(),
            max_tokens: 1024,
            temperature: 0.0,
            top_p: 1.0,
            stop: Vec::new(),
            grammar: None,
            seed: None,
            continue_final_message: false,
        }
    }
}

impl CompletionRequest {
    /// Greedy decoding (temperature 0) of at most `max_tokens` tokens, the rest as default:
    /// the deterministic request of tests and benchmarks.
    pub fn greedy(messages: Vec<Message>, max_tokens: u32) -> Self {
        Self {
            messages,
            max_tokens,
            temperature: 0.0,
            ..Self::default()
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop sequence (named when known) or the end-of-turn token.
    Stop { sequence: Option<String> },
    /// `max_tokens` was reached.
    Length,
}

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Prompt tokens served from a cache (KV reuse), where the backend knows.
    pub cached_tokens: u32,
}

/// A piece of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// Generated text.
    Delta(String),
    /// The last item of a stream.
    Done { finish: FinishReason, usage: Usage },
}

pub type BoxChunkStream = BoxStream<'static, Result<Chunk, LlmError>>;

/// Checks the shape of a continuation request: its last message must be the assistant's.
pub(crate) fn check_continuation(request: &CompletionRequest) -> Result<(), LlmError> {
    if !request.continue_final_message {
        return Ok(());
    }
    match request.messages.last() {
        Some(m) if m.role == codeact_protocol::Role::Assistant => Ok(()),
        _ => Err(LlmError::Rejected(
            "continue_final_message needs the assistant's unfinished reply as the last message"
                .into(),
        )),
    }
}

/// What went wrong, by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The prompt does not fit the model's context: trim the conversation or end the run.
    #[error("the conversation does not fit the model's context: {0}")]
    ContextLength(String),
    /// A transient failure that survived the backend's own retries.
    #[error("the LLM backend is unavailable: {0}")]
    Unavailable(String),
    /// The request was refused (bad model name, bad key, bad parameters): do not retry.
    #[error("the LLM backend refused the request: {0}")]
    Rejected(String),
    /// The model file could not be found, downloaded, verified or loaded.
    #[error("model error: {0}")]
    Model(String),
    /// The backend answered something that is not a valid reply.
    #[error("invalid reply from the LLM backend: {0}")]
    Protocol(String),
}

/// A chat model.
#[async_trait]
pub trait LlmBackend: Send + Sync {
    /// A short description for logs and benchmark tables, e.g. `embedded:qwen2.5-coder-0.5b`.
    fn name(&self) -> String;
    /// Whether messages may carry images.
    fn accepts_images(&self) -> bool {
        false
    }
    /// Whether `CompletionRequest::grammar` is honoured.
    fn supports_grammar(&self) -> bool {
        false
    }
    /// Whether `CompletionRequest::continue_final_message` is honoured.
    fn supports_continuation(&self) -> bool {
        false
    }
    /// Starts generating a reply.
    async fn stream(&self, request: CompletionRequest) -> Result<BoxChunkStream, LlmError>;
}
