//! LLM backends behind one streaming trait.
//!
//! [`LlmBackend::stream`] returns the reply as a stream of [`Chunk`]s. Dropping the stream
//! stops generation: the agent does this when a fenced code block closes, so the model never
//! gets to invent the block's output.

mod backend;
pub mod bench;
pub mod embedded;
mod grammar;
pub mod llama_server;
pub mod model;
pub mod openai;
mod sse;
mod stop;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{
    BoxChunkStream, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError, Usage,
};
pub use bench::{bench_llm, BenchOptions, BenchReport};
pub use embedded::{EmbeddedBackend, EmbeddedConfig, EngineTimings, ModelInfo};
pub use model::{default_model_path, ensure_default_model};
pub use openai::{OpenAiBackend, OpenAiConfig, ServerTimings};
