//! One model reply, read whole, and what the replies of a run cost: the part of every
//! evaluation that talks to the model.

use std::time::Instant;

use codeact_llm::{Chunk, CompletionRequest, LlmBackend, LlmError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// What the model calls of one run cost, as recorded with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelCost {
    /// Time spent waiting for the model, in seconds.
    pub llm_seconds: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the backend's KV cache.
    pub cached_tokens: u64,
    /// Milliseconds from the first request to its first text, when the model streamed any.
    pub first_token_ms: Option<f64>,
}

impl ModelCost {
    /// Adds what one more reply cost; the time to first token stays the first request's.
    pub fn add(&mut self, one: &ModelCost) {
        self.llm_seconds += one.llm_seconds;
        self.prompt_tokens += one.prompt_tokens;
        self.completion_tokens += one.completion_tokens;
        self.cached_tokens += one.cached_tokens;
        if self.first_token_ms.is_none() {
            self.first_token_ms = one.first_token_ms;
        }
    }
}

/// Streams the reply to `request` and returns its whole text, adding what it cost to `cost`.
pub async fn complete(
    llm: &dyn LlmBackend,
    request: CompletionRequest,
    cost: &mut ModelCost,
) -> Result<String, LlmError> {
    let start = Instant::now();
    let result = read(llm, request, start, cost).await;
    cost.llm_seconds += start.elapsed().as_secs_f64();
    result
}

async fn read(
    llm: &dyn LlmBackend,
    request: CompletionRequest,
    start: Instant,
    cost: &mut ModelCost,
) -> Result<String, LlmError> {
    let mut stream = llm.stream(request).await?;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        match chunk? {
            Chunk::Delta(d) => {
                if cost.first_token_ms.is_none() && !d.is_empty() {
                    cost.first_token_ms = Some(start.elapsed().as_secs_f64() * 1e3);
                }
                text.push_str(&d);
            }
            Chunk::Done { usage, .. } => {
                cost.prompt_tokens += u64::from(usage.prompt_tokens);
                cost.completion_tokens += u64::from(usage.completion_tokens);
                cost.cached_tokens += u64::from(usage.cached_tokens);
            }
        }
    }
    Ok(text)
}
