//! Test helpers: a scripted LLM that replays canned replies the way a real backend streams them
//! (stop sequences eaten, text in small chunks), and real Python sessions from the local backend.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SandboxMode, SessionManager};
use codeact_llm::{
    BoxChunkStream, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError, Usage,
};
use futures::StreamExt;

/// One scripted step.
#[derive(Debug, Clone)]
pub enum Step {
    /// A reply, cut at the request's stop sequences as a backend would.
    Reply(String),
    /// A reply streamed whole, stop sequences included (a backend that ignores them).
    Raw(String),
    /// The request does not fit the context.
    ContextLength,
}

pub struct ScriptedLlm {
    steps: Mutex<VecDeque<Step>>,
    pub requests: Mutex<Vec<CompletionRequest>>,
    /// Chunks handed out over all streams: shows whether a stream was dropped early.
    pub chunks_pulled: Arc<AtomicUsize>,
    pub chunks_total: AtomicUsize,
    pub chunk_chars: usize,
    pub grammar: bool,
    pub images: bool,
}

impl ScriptedLlm {
    pub fn new(steps: Vec<Step>) -> Arc<Self> {
        Arc::new(Self::build(steps))
    }

    pub fn build(steps: Vec<Step>) -> Self {
        Self {
            steps: Mutex::new(steps.into()),
            requests: Mutex::new(Vec::new()),
            chunks_pulled: Arc::new(AtomicUsize::new(0)),
            chunks_total: AtomicUsize::new(0),
            chunk_chars: 4,
            grammar: false,
            images: false,
        }
    }

    pub fn replies(replies: &[&str]) -> Arc<Self> {
        Self::new(replies.iter().map(|r| Step::Reply(r.to_string())).collect())
    }

    pub fn requests(&self) -> Vec<CompletionRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The last message of request `i`.
    pub fn last_message(&self, i: usize) -> String {
        self.requests()[i]
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default()
    }

    pub fn remaining(&self) -> usize {
        self.steps.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[async_trait]
impl LlmBackend for ScriptedLlm {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn accepts_images(&self) -> bool {
        self.images
    }
    fn supports_grammar(&self) -> bool {
        self.grammar
    }
    async fn stream(&self, request: CompletionRequest) -> Result<BoxChunkStream, LlmError> {
        let step = self.steps.lock().ok().and_then(|mut s| s.pop_front());
        let stop = request.stop.clone();
        if let Ok(mut r) = self.requests.lock() {
            r.push(request);
        }
        let (mut text, honour_stop) = match step {
            Some(Step::Reply(t)) => (t, true),
            Some(Step::Raw(t)) => (t, false),
            Some(Step::ContextLength) => return Err(LlmError::ContextLength("too long".into())),
            None => {
                return Err(LlmError::Unavailable(
                    "the script has no more replies".into(),
                ))
            }
        };
        let mut sequence = None;
        if honour_stop {
            if let Some((at, s)) = stop
                .iter()
                .filter_map(|s| text.find(s.as_str()).map(|i| (i, s.clone())))
                .min()
            {
                text.truncate(at);
                sequence = Some(s);
            }
        }
        let chars: Vec<char> = text.chars().collect();
        let pieces: Vec<String> = chars
            .chunks(self.chunk_chars.max(1))
            .map(|c| c.iter().collect())
            .collect();
        self.chunks_total.fetch_add(pieces.len(), Ordering::SeqCst);
        let pulled = self.chunks_pulled.clone();
        let items: Vec<Result<Chunk, LlmError>> = pieces
            .into_iter()
            .map(|p| Ok(Chunk::Delta(p)))
            .chain(std::iter::once(Ok(Chunk::Done {
                finish: FinishReason::Stop { sequence },
                usage: Usage::default(),
            })))
            .collect();
        Ok(futures::stream::iter(items)
            .inspect(move |c| {
                if matches!(c, Ok(Chunk::Delta(_))) {
                    pulled.fetch_add(1, Ordering::SeqCst);
                }
            })
            .boxed())
    }
}

/// A session manager over real Python sessions, without a sandbox (tests must not depend on
/// namespaces being available).
pub async fn manager() -> anyhow::Result<Arc<SessionManager>> {
    let mut config = ExecConfig::default();
    config.sandbox.mode = SandboxMode::None;
    config.cell_timeout = std::time::Duration::from_secs(20);
    let backend = LocalBackend::new(&config).await?;
    Ok(SessionManager::new(Arc::new(backend), config))
}
