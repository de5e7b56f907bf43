//! The worker thread that owns the llama.cpp model and context and runs one job at a time.

use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use codeact_protocol::{Message, Role};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::LlamaStateSeqFlags;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};

use super::prompt_cache::{shared_prefix, PromptCache};
use super::{EmbeddedConfig, ModelInfo};
use crate::backend::{Chunk, CompletionRequest, FinishReason, LlmError, Usage};
use crate::stop::{StopMatcher, Utf8Assembler};

pub(super) enum Job {
    Generate(Box<GenerateJob>),
    Count {
        messages: Vec<Message>,
        reply: oneshot::Sender<Result<u32, LlmError>>,
    },
    ClearCache {
        reply: oneshot::Sender<()>,
    },
}

pub(super) struct GenerateJob {
    pub request: CompletionRequest,
    /// Answered once the prompt is accepted (or refused), before it is evaluated.
    pub started: oneshot::Sender<Result<(), LlmError>>,
    pub chunks: mpsc::Sender<Result<Chunk, LlmError>>,
}

/// Measurements of the last completed generation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineTimings {
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV state was reused from the previous request.
    pub cached_tokens: u32,
    /// Wall time evaluating the rest of the prompt.
    pub prompt_eval_ms: f64,
    pub generated_tokens: u32,
    /// Wall time from the end of prompt evaluation to the last token.
    pub generation_ms: f64,
}

pub(super) type SharedTimings = Arc<Mutex<Option<EngineTimings>>>;

/// The thread body: load, report readiness, then serve jobs until every sender is gone.
pub(super) fn run_worker(
    backend: &'static LlamaBackend,
    config: EmbeddedConfig,
    ready: std_mpsc::Sender<Result<ModelInfo, LlmError>>,
    jobs: std_mpsc::Receiver<Job>,
    timings: SharedTimings,
) {
    let model =
        match LlamaModel::load_from_file(backend, &config.model_path, &LlamaModelParams::default())
        {
            Ok(m) => m,
            Err(e) => {
                let msg = format!("cannot load {}: {e}", config.model_path.display());
                let _ = ready.send(Err(LlmError::Model(msg)));
                return;
            }
        };
    let n_ctx = config.n_ctx.min(model.n_ctx_train().max(1)).max(16);
    let threads = i32::try_from(config.threads()).unwrap_or(1);
    let n_batch = config.n_batch.clamp(1, n_ctx);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(LlmError::Model(format!(
                "cannot create a llama.cpp context: {e}"
            ))));
            return;
        }
    };
    let template = match model.chat_template(None) {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "the model has no chat template; using chatml");
            match LlamaChatTemplate::new("chatml") {
                Ok(t) => t,
                Err(e) => {
                    let _ = ready.send(Err(LlmError::Model(format!(
                        "no usable chat template: {e}"
                    ))));
                    return;
                }
            }
        }
    };
    let info = ModelInfo {
        path: config.model_path.clone(),
        size_bytes: model.size(),
        n_params: model.n_params(),
        n_ctx,
        n_ctx_train: model.n_ctx_train(),
        n_threads: config.threads(),
        description: model.meta_val_str("general.name").unwrap_or_default(),
    };
    let mut engine = Engine {
        model: &model,
        ctx,
        template,
        cached: Vec::new(),
        live_prompt_len: 0,
        saved: PromptCache::new(config.prompt_cache_bytes()),
        n_ctx,
        n_batch,
        kv_reuse: config.kv_reuse,
        timings,
    };
    if ready.send(Ok(info)).is_err() {
        return;
    }
    while let Ok(job) = jobs.recv() {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| engine.handle(job)));
        if outcome.is_err() {
            error!("the embedded engine panicked while serving a request; its KV cache is reset");
            engine.reset_cache();
            engine.saved.clear();
        }
    }
    debug!("embedded engine stopped");
}

struct Engine<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: LlamaChatTemplate,
    /// The tokens whose KV state is in the context (sequence 0), in order.
    cached: Vec<LlamaToken>,
    /// How many of `cached` were the last request's prompt (the rest is its reply).
    live_prompt_len: usize,
    /// KV states of conversations switched away from.
    saved: PromptCache<LlamaToken, llama_cpp_2::SeqState>,
    n_ctx: u32,
    n_batch: u32,
    kv_reuse: bool,
    timings: SharedTimings,
}

fn role(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn model_err(what: &str, e: impl std::fmt::Display) -> LlmError {
    LlmError::Model(format!("{what}: {e}"))
}

impl Engine<'_> {
    fn handle(&mut self, job: Job) {
        match job {
            Job::Generate(job) => self.generate(*job),
            Job::Count { messages, reply } => {
                let _ = reply.send(self.tokenize_chat(&messages, false).map(|t| t.len() as u32));
            }
            Job::ClearCache { reply } => {
                self.reset_cache();
                self.saved.clear();
                let _ = reply.send(());
            }
        }
    }

    fn reset_cache(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
        self.live_prompt_len = 0;
    }

    /// Before evaluating `tokens`: if they do not continue the live conversation's last prompt,
    /// the live KV state is saved (when enough of it would be lost); and a saved state that
    /// shares enough more of `tokens` than the live one is made live. A saved state that
    /// `tokens` continue leaves the cache (it goes on live); one they share only a prefix
    /// with stays, for its own conversation.
    fn switch_conversation(&mut self, tokens: &[LlamaToken]) {
        // Fewer tokens than this are not worth a copy of a state (a few MB for a small model,
        // milliseconds): evaluating them again costs about as much.
        const WORTH_COPYING: usize = 64;
        if !self.kv_reuse || !self.saved.is_enabled() {
            return;
        }
        let live_shared = shared_prefix(&self.cached, tokens);
        let continues = live_shared >= self.live_prompt_len;
        if !continues && self.cached.len() - live_shared >= WORTH_COPYING {
            self.save_live();
        }
        let Some((index, shared)) = self.saved.best(tokens) else {
            return;
        };
        if shared < live_shared + WORTH_COPYING {
            return;
        }
        let saved = self.saved.get(index);
        self.ctx.clear_kv_cache();
        match self.ctx.state_seq_set(&saved.state, 0) {
            Ok(()) => {
                debug!(
                    tokens = saved.tokens.len(),
                    shared, "restored a saved KV state"
                );
                self.live_prompt_len = saved.prompt_len;
                self.cached = if shared >= saved.prompt_len {
                    self.saved.take(index).tokens
                } else {
                    self.saved.touch(index);
                    self.saved.get(index).tokens.clone()
                };
            }
            Err(e) => {
                warn!(error = %e, "could not restore a saved KV state");
                self.reset_cache();
            }
        }
    }

    fn save_live(&mut self) {
        match self.ctx.state_seq_get(0, LlamaStateSeqFlags::empty()) {
            Ok(state) => {
                let bytes = state.byte_len();
                let kept =
                    self.saved
                        .insert(self.cached.clone(), self.live_prompt_len, state, bytes);
                debug!(
                    tokens = self.cached.len(),
                    bytes,
                    kept,
                    saved = self.saved.len(),
                    "saved the live KV state"
                );
            }
            Err(e) => warn!(error = %e, "could not save the live KV state"),
        }
    }

    /// The prompt's tokens. With `continue_final`, the last message is the assistant's
    /// unfinished reply: the template opens the assistant's turn after the messages before it
    /// and the reply's text follows as it is, so generation carries on inside that turn.
    fn tokenize_chat(
        &self,
        messages: &[Message],
        continue_final: bool,
    ) -> Result<Vec<LlamaToken>, LlmError> {
        if messages.is_empty() {
            return Err(LlmError::Rejected(
                "a request needs at least one message".into(),
            ));
        }
        let (history, unfinished) = match messages.split_last() {
            Some((last, rest)) if continue_final => (rest, last.content.as_str()),
            _ => (messages, ""),
        };
        let chat = history
            .iter()
            .map(|m| LlamaChatMessage::new(role(m.role).to_owned(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                LlmError::Rejected(format!("a message cannot be passed to the model: {e}"))
            })?;
        let mut text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| model_err("cannot apply the chat template", e))?;
        text.push_str(unfinished);
        let vocab = self.model.vocab();
        let mut tokens = vocab.tokenize(text.as_bytes(), false, true);
        // Templates that spell out BOS themselves must not get a second one.
        if vocab.should_add_bos() && tokens.first() != Some(&vocab.bos()) {
            tokens.insert(0, vocab.bos());
        }
        Ok(tokens)
    }

    fn sampler(&self, req: &CompletionRequest) -> Result<LlamaSampler, LlmError> {
        let mut chain = Vec::new();
        if let Some(grammar) = &req.grammar {
            let tokens = crate::grammar::check_gbnf(grammar)
                .map_err(|e| LlmError::Rejected(format!("invalid GBNF grammar: {e}")))?;
            let vocab = self.model.vocab();
            if let Some(bad) = tokens
                .iter()
                .find(|t| vocab.tokenize(t.as_bytes(), false, true).len() != 1)
            {
                return Err(LlmError::Rejected(format!(
                    "invalid GBNF grammar: {bad} is not one token of this model"
                )));
            }
            let g = LlamaSampler::grammar(self.model, grammar, "root")
                .map_err(|e| LlmError::Rejected(format!("invalid GBNF grammar: {e}")))?;
            chain.push(g);
        }
        if req.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if req.top_p > 0.0 && req.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(req.top_p, 1));
            }
            chain.push(LlamaSampler::temp(req.temperature));
            // llama.cpp picks a random seed for this value.
            let seed = req.seed.map_or(u32::MAX, |s| (s ^ (s >> 32)) as u32);
            chain.push(LlamaSampler::dist(seed));
        }
        Ok(LlamaSampler::chain_simple(chain))
    }

    /// Drops KV state past the longest prefix shared with `tokens`; returns its length.
    fn reuse_prefix(&mut self, tokens: &[LlamaToken]) -> usize {
        let shared = if self.kv_reuse {
            shared_prefix(&self.cached, tokens)
        } else {
            0
        };
        // The last prompt token is evaluated anyway: its logits pick the first reply token.
        let keep = shared.min(tokens.len().saturating_sub(1));
        if keep == 0 {
            self.reset_cache();
            return 0;
        }
        if keep < self.cached.len() {
            let removed = u32::try_from(keep)
                .ok()
                .and_then(|p| self.ctx.clear_kv_cache_seq(Some(0), Some(p), None).ok());
            if removed != Some(true) {
                self.reset_cache();
                return 0;
            }
            self.cached.truncate(keep);
        }
        keep
    }

    fn decode(&mut self, batch: &mut LlamaBatch) -> Result<(), LlmError> {
        self.ctx.decode(batch).map_err(|e| {
            self.reset_cache();
            model_err("llama.cpp could not evaluate a batch", e)
        })
    }

    fn generate(&mut self, job: GenerateJob) {
        let GenerateJob {
            request,
            started,
            chunks,
        } = job;
        if chunks.is_closed() {
            return;
        }
        let prepared = self
            .tokenize_chat(&request.messages, request.continue_final_message)
            .and_then(|tokens| {
                if tokens.len() as u64 >= u64::from(self.n_ctx) {
                    return Err(LlmError::ContextLength(format!(
                        "the prompt has {} tokens and the context holds {}",
                        tokens.len(),
                        self.n_ctx
                    )));
                }
                Ok((tokens, self.sampler(&request)?))
            });
        let (tokens, mut sampler) = match prepared {
            Ok(p) => p,
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        };
        if started.send(Ok(())).is_err() {
            return;
        }
        let t_prompt = Instant::now();
        self.switch_conversation(&tokens);
        let cached = self.reuse_prefix(&tokens);
        debug!(prompt_tokens = tokens.len(), cached, "evaluating prompt");
        let result = self.run(&request, &tokens, cached, &mut sampler, &chunks, t_prompt);
        if let Err(e) = result {
            let _ = chunks.blocking_send(Err(e));
        }
    }

    /// Evaluates the uncached prompt suffix, then samples until a stop. `Ok` also covers a
    /// caller that went away: there is no one to tell.
    fn run(
        &mut self,
        request: &CompletionRequest,
        tokens: &[LlamaToken],
        cached: usize,
        sampler: &mut LlamaSampler,
        chunks: &mpsc::Sender<Result<Chunk, LlmError>>,
        t_prompt: Instant,
    ) -> Result<(), LlmError> {
        let mut batch = LlamaBatch::new(self.n_batch as usize, 1);
        let mut last_logits = 0;
        for piece in tokens[cached..].chunks(self.n_batch as usize) {
            if chunks.is_closed() {
                return Ok(());
            }
            batch.clear();
            let is_final = self.cached.len() + piece.len() == tokens.len();
            for (i, &tok) in piece.iter().enumerate() {
                let pos = (self.cached.len() + i) as i32;
                let want_logits = is_final && i + 1 == piece.len();
                batch
                    .add(tok, pos, &[0], want_logits)
                    .map_err(|e| model_err("batch", e))?;
            }
            self.decode(&mut batch)?;
            self.cached.extend_from_slice(piece);
            last_logits = batch.n_tokens() - 1;
        }
        self.live_prompt_len = tokens.len();
        let prompt_eval_ms = t_prompt.elapsed().as_secs_f64() * 1e3;
        let t_gen = Instant::now();

        let vocab = self.model.vocab();
        let mut utf8 = Utf8Assembler::default();
        let mut matcher = StopMatcher::new(&request.stop);
        let mut generated: u32 = 0;
        let finish = loop {
            if generated >= request.max_tokens || self.cached.len() >= self.n_ctx as usize {
                break FinishReason::Length;
            }
            let token = sampler.sample(&self.ctx, last_logits);
            if vocab.is_eog(token) {
                break FinishReason::Stop { sequence: None };
            }
            generated += 1;
            let text = utf8.push(&vocab.token_to_piece(token, false, None));
            let released = matcher.push(&text);
            if !released.text.is_empty()
                && chunks
                    .blocking_send(Ok(Chunk::Delta(released.text)))
                    .is_err()
            {
                return Ok(());
            }
            if let Some(sequence) = released.stopped {
                break FinishReason::Stop {
                    sequence: Some(sequence),
                };
            }
            if chunks.is_closed() {
                return Ok(());
            }
            batch.clear();
            batch
                .add(token, self.cached.len() as i32, &[0], true)
                .map_err(|e| model_err("batch", e))?;
            self.decode(&mut batch)?;
            self.cached.push(token);
            last_logits = 0;
        };
        if !matches!(finish, FinishReason::Stop { sequence: Some(_) }) {
            let mut rest = matcher.push(&utf8.finish()).text;
            rest.push_str(&matcher.finish());
            if !rest.is_empty() && chunks.blocking_send(Ok(Chunk::Delta(rest))).is_err() {
                return Ok(());
            }
        }
        let timings = EngineTimings {
            prompt_tokens: tokens.len() as u32,
            cached_tokens: cached as u32,
            prompt_eval_ms,
            generated_tokens: generated,
            generation_ms: t_gen.elapsed().as_secs_f64() * 1e3,
        };
        if let Ok(mut slot) = self.timings.lock() {
            *slot = Some(timings);
        }
        let usage = Usage {
            prompt_tokens: tokens.len() as u32,
            completion_tokens: generated,
            cached_tokens: cached as u32,
        };
        let _ = chunks.blocking_send(Ok(Chunk::Done { finish, usage }));
        Ok(())
    }
}
