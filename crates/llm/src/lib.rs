//! LLM backends behind one streaming trait.
//!
//! [`LlmBackend::stream`] returns the reply as a stream of [`Chunk`]s. Dropping the stream
//! stops generation: the agent does this when a fenced code block closes, so the model never
//! gets to invent the block's output.

mod backend;
pub mod embedded;
mod grammar;
pub mod model;
pub mod openai;
mod sse;
mod stop;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{
    BoxChunkStream, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError, Usage,
};
pub use embedded::{EmbeddedBackend, EmbeddedConfig, EngineTimings, ModelInfo};
pub use model::{
    default_model_path, ensure_default_model, ensure_default_model_with, FetchProgress,
};
pub use openai::{OpenAiBackend, OpenAiConfig, ServerTimings};
