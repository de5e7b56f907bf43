//! A scripted model for testing the code around a model (the agent loop, its protocols, the
//! benchmarks' plumbing, load): it replays canned replies the way a real backend streams them,
//! with stop sequences eaten and the text in small chunks. It never stands in for a model's
//! answer. Built with the `testing` feature, for dev-dependencies.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;

use crate::{BoxChunkStream, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError, Usage};

/// What the scripted model does for one request.
#[derive(Debug, Clone)]
pub enum Step {
    /// A reply, cut at the request's stop sequences as a backend would.
    Reply(String),
    /// A reply streamed whole, stop sequences included (a backend that ignores them).
    Raw(String),
    /// The request does not fit the context.
    ContextLength,
}

/// A step computed from the request, for a model that answers what it is asked.
type Responder = dyn Fn(&CompletionRequest) -> Step + Send + Sync;

enum Source {
    Script(Mutex<VecDeque<Step>>),
    Respond(Box<Responder>),
}

/// A fake [`LlmBackend`] that replays a script of steps in order, or computes each step from
/// the request. Once the script is spent, requests fail with [`LlmError::Unavailable`].
pub struct ScriptedLlm {
    source: Source,
    /// Every request received, in order.
    pub requests: Mutex<Vec<CompletionRequest>>,
    /// Chunks handed out over all streams: shows whether a stream was dropped early.
    pub chunks_pulled: Arc<AtomicUsize>,
    /// Chunks put into all streams.
    pub chunks_total: AtomicUsize,
    /// Characters per streamed chunk (`usize::MAX`: each reply in one chunk).
    pub chunk_chars: usize,
    /// What [`LlmBackend::name`] says.
    pub name: String,
    /// What [`LlmBackend::supports_grammar`] says (the grammar itself is not applied).
    pub grammar: bool,
    /// What [`LlmBackend::accepts_images`] says.
    pub images: bool,
    /// What [`LlmBackend::supports_continuation`] says; a continuation is scripted as the
    /// next step, whose text is what follows the unfinished reply.
    pub continuation: bool,
}

impl ScriptedLlm {
    /// A model that replays `steps`, shared.
    pub fn new(steps: Vec<Step>) -> Arc<Self> {
        Arc::new(Self::build(steps))
    }

    /// A model that replays `steps`, for changing its settings before sharing it.
    pub fn build(steps: Vec<Step>) -> Self {
        Self::with_source(Source::Script(Mutex::new(steps.into())))
    }

    /// A model that replays plain replies (each a [`Step::Reply`]), shared.
    pub fn replies(replies: &[&str]) -> Arc<Self> {
        Self::new(replies.iter().map(|r| Step::Reply(r.to_string())).collect())
    }

    /// A model whose every step is computed from the request by `respond`.
    pub fn responding(
        respond: impl Fn(&CompletionRequest) -> Step + Send + Sync + 'static,
    ) -> Self {
        Self::with_source(Source::Respond(Box::new(respond)))
    }

    fn with_source(source: Source) -> Self {
        Self {
            source,
            requests: Mutex::new(Vec::new()),
            chunks_pulled: Arc::new(AtomicUsize::new(0)),
            chunks_total: AtomicUsize::new(0),
            chunk_chars: 4,
            name: "scripted".into(),
            grammar: false,
            images: false,
            continuation: true,
        }
    }

    /// A copy of every request received so far.
    pub fn requests(&self) -> Vec<CompletionRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The content of the last message of request `i` (0-based).
    pub fn last_message(&self, i: usize) -> String {
        self.requests()[i]
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default()
    }

    /// Steps of the script not yet played (0 for a responding model).
    pub fn remaining(&self) -> usize {
        match &self.source {
            Source::Script(steps) => steps.lock().map(|s| s.len()).unwrap_or(0),
            Source::Respond(_) => 0,
        }
    }

    fn next_step(&self, request: &CompletionRequest) -> Option<Step> {
        match &self.source {
            Source::Script(steps) => steps.lock().ok().and_then(|mut s| s.pop_front()),
            Source::Respond(respond) => Some(respond(request)),
        }
    }
}

#[async_trait]
impl LlmBackend for ScriptedLlm {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn accepts_images(&self) -> bool {
        self.images
    }

    fn supports_grammar(&self) -> bool {
        self.grammar
    }

    fn supports_continuation(&self) -> bool {
        self.continuation
    }

    async fn stream(&self, request: CompletionRequest) -> Result<BoxChunkStream, LlmError> {
        crate::backend::check_continuation(&request)?;
        if request.continue_final_message && !self.continuation {
            return Err(LlmError::Rejected(
                "this model cannot continue a reply".into(),
            ));
        }
        let step = self.next_step(&request);
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(llm: &ScriptedLlm, request: CompletionRequest) -> Result<String, LlmError> {
        let mut stream = llm.stream(request).await?;
        let mut out = String::new();
        while let Some(c) = stream.next().await {
            if let Chunk::Delta(t) = c? {
                out.push_str(&t);
            }
        }
        Ok(out)
    }

    #[tokio::test]
    async fn replays_the_script_cutting_at_stop_sequences() -> Result<(), LlmError> {
        let llm = ScriptedLlm::new(vec![
            Step::Reply("<execute>1</execute> more".into()),
            Step::Raw("<execute>2</execute> more".into()),
            Step::ContextLength,
        ]);
        let request = CompletionRequest {
            stop: vec!["</execute>".into()],
            ..CompletionRequest::default()
        };
        assert_eq!(text(&llm, request.clone()).await?, "<execute>1");
        assert_eq!(
            text(&llm, request.clone()).await?,
            "<execute>2</execute> more"
        );
        assert!(matches!(
            text(&llm, request.clone()).await,
            Err(LlmError::ContextLength(_))
        ));
        assert!(matches!(
            text(&llm, request).await,
            Err(LlmError::Unavailable(_))
        ));
        assert_eq!(llm.requests().len(), 4);
        assert_eq!(llm.remaining(), 0);
        Ok(())
    }

    #[tokio::test]
    async fn a_responding_model_answers_from_the_request() -> Result<(), LlmError> {
        let mut llm = ScriptedLlm::responding(|r| Step::Raw(format!("{} tokens", r.max_tokens)));
        llm.chunk_chars = usize::MAX;
        assert_eq!(
            text(&llm, CompletionRequest::default()).await?,
            "1024 tokens"
        );
        assert_eq!(llm.chunks_total.load(Ordering::SeqCst), 1);
        Ok(())
    }
}
