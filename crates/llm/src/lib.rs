//! LLM backends behind one streaming trait.
//!
//! [`LlmBackend::stream`] returns the reply as a stream of [`Chunk`]s. Dropping the stream
//! stops generation: the agent does this when a fenced code block closes, so the model never
//! gets to invent the block's output. A request with
//! [`CompletionRequest::continue_final_message`] continues the assistant's unfinished reply
//! instead of opening a new one, on backends that [`LlmBackend::supports_continuation`] (both
//! of ours do).

mod backend;
pub mod embedded;
mod grammar;
pub mod model;
pub mod openai;
mod script;
pub mod settings;
mod sse;
mod stop;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{
    BoxChunkStream, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError, Usage,
};
pub use embedded::{EmbeddedBackend, EmbeddedConfig, EngineTimings, ModelInfo, Tokenizer};
pub use model::{
    default_model_path, ensure_default_model, ensure_default_model_with, ensure_model, known_model,
    FetchProgress, KnownModel, LogProgress, DEFAULT_MODEL, KNOWN_MODELS,
};
pub use openai::{Continuation, OpenAiBackend, OpenAiConfig, ServerTimings};
pub use script::{ScriptBackend, LAST_MESSAGE};
pub use settings::{LlmKind, LlmSettings};
pub use stop::trailing_partial_stop;
