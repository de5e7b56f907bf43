//! One model reply, streamed: where it is cut, how stop sequences are cleaned up, and how a
//! stop that fell inside a string literal or comment of the code is continued past.

use codeact_llm::{trailing_partial_stop, Chunk, CompletionRequest, FinishReason};
use codeact_protocol::{AgentEvent, EndReason, Message};
use futures::StreamExt;

use crate::config::Mode;
use crate::parse::{close_open_execute, closed_fence_end, stopped_inside_literal, EXECUTE_STOP};
use crate::run::{turn_seed, Reply, Runner};
use crate::{context, grammar, repetition};

/// The most times one reply is continued after a stop inside a literal: a model that keeps
/// writing `</execute>` inside a string must not be asked forever.
pub const MAX_STOP_CONTINUATIONS: u32 = 4;

/// How one streamed request ended.
enum Streamed {
    /// The backend ended it.
    Finished {
        finish: FinishReason,
        completion_tokens: u32,
    },
    /// The loop cut it (a fenced block closed, the reply repeated itself) or the stream ended
    /// without saying why: not a stop sequence either way.
    Cut,
}

impl Runner<'_> {
    /// Streams one reply from the model. A reply stopped at `</execute>` while its code is
    /// inside a string literal or comment is continued, the stop text kept, up to
    /// [`MAX_STOP_CONTINUATIONS`] times, on backends that can continue a reply.
    pub(crate) async fn generate(
        &mut self,
        mode: Mode,
        temperature: f32,
        top_p: f32,
        turn: u32,
        attempt: u32,
    ) -> Result<Reply, EndReason> {
        let ctx = self.ctx;
        let cfg = &ctx.config;
        let strict = self.parse_options().strict;
        let use_grammar = cfg.grammar && mode == Mode::Task && ctx.llm.supports_grammar();
        let stop = vec![EXECUTE_STOP.to_string()];
        let mut text = String::new();
        let mut continuations = 0u32;
        let mut tokens_left = cfg.limits.max_tokens;
        loop {
            let continuing = continuations > 0;
            let mut messages = context::fit(
                &self.state.conv.messages,
                cfg.limits.context_chars,
                &cfg.context_fit,
            );
            if continuing {
                messages.push(Message::assistant(text.clone()));
            }
            let request = CompletionRequest {
                messages,
                max_tokens: tokens_left,
                temperature,
                top_p,
                stop: stop.clone(),
                // The grammar describes a whole reply, not the rest of one.
                grammar: (use_grammar && !continuing).then(|| grammar::TASK_GRAMMAR.to_string()),
                seed: self
                    .seed
                    .map(|s| turn_seed(s, turn, attempt) ^ u64::from(continuations)),
                continue_final_message: continuing,
            };
            let before = text.len();
            let Streamed::Finished {
                finish,
                completion_tokens,
            } = self.stream_into(request, &mut text).await?
            else {
                break;
            };
            if finish == FinishReason::Length {
                // Cut by max_tokens: whatever the reply ends with is the model's own text.
                break;
            }
            // Some servers stream the beginning of the stop string before they recognise it.
            if let Some(at) = trailing_partial_stop(&text[before..], &stop) {
                tracing::debug!(partial = %&text[before + at..], "removed the beginning of a stop string");
                text.truncate(before + at);
            }
            if !stopped_inside_literal(&text, strict) {
                break;
            }
            tokens_left = tokens_left.saturating_sub(completion_tokens);
            let gave_nothing = continuing && text.len() == before;
            if continuations >= MAX_STOP_CONTINUATIONS
                || !ctx.llm.supports_continuation()
                || gave_nothing
                || tokens_left == 0
            {
                tracing::warn!(conversation = %self.state.conv.id, continuations, "the reply stopped inside a string literal or comment and is not continued");
                break;
            }
            tracing::info!(conversation = %self.state.conv.id, "the stop fell inside a string literal or comment: continuing the reply");
            text.push_str(EXECUTE_STOP);
            self.emit(AgentEvent::AssistantDelta {
                text: EXECUTE_STOP.to_string(),
            });
            continuations += 1;
        }
        // The stop sequence `</execute>` is eaten by the backend: put it back so the stored
        // conversation shows well-formed turns.
        if let Some(fixed) = close_open_execute(&text, strict) {
            tracing::debug!("restored the closing </execute> tag");
            text = fixed;
        }
        Ok(Reply { text })
    }

    /// Streams one request's text onto `text`, emitting it as deltas.
    async fn stream_into(
        &mut self,
        request: CompletionRequest,
        text: &mut String,
    ) -> Result<Streamed, EndReason> {
        let ctx = self.ctx;
        let cfg = &ctx.config;
        let started = tokio::select! {
            r = ctx.llm.stream(request) => r,
            _ = self.cancel.cancelled() => return Err(EndReason::Cancelled),
        };
        let mut stream = match started {
            Ok(s) => s,
            Err(e) => return Err(self.llm_failed(e)),
        };
        let fence_stop = cfg.fence_fallback;
        loop {
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    if !text.is_empty() {
                        self.push(Message::assistant(std::mem::take(text)));
                    }
                    return Err(EndReason::Cancelled);
                }
                n = stream.next() => n,
            };
            match next {
                None => return Ok(Streamed::Cut),
                Some(Ok(Chunk::Done { finish, usage })) => {
                    self.emit(AgentEvent::Usage {
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    });
                    return Ok(Streamed::Finished {
                        finish,
                        completion_tokens: usage.completion_tokens,
                    });
                }
                Some(Ok(Chunk::Delta(piece))) => {
                    let before = text.len();
                    text.push_str(&piece);
                    // Stop as soon as a fenced block closes: a model without the tag would
                    // otherwise go on to invent the block's output.
                    let cut = if fence_stop {
                        closed_fence_end(text)
                    } else {
                        None
                    };
                    if let Some(end) = cut.filter(|&e| e >= before) {
                        text.truncate(end);
                        if end > before {
                            self.emit(AgentEvent::AssistantDelta {
                                text: text[before..].to_string(),
                            });
                        }
                        tracing::info!(conversation = %self.state.conv.id, "a fenced code block closed: generation stopped");
                        return Ok(Streamed::Cut);
                    }
                    self.emit(AgentEvent::AssistantDelta { text: piece });
                    // A model caught in a loop would repeat the same lines until max_tokens:
                    // keep one copy and stop.
                    if let Some(at) = repetition::loop_start(text, &cfg.loop_cut) {
                        text.truncate(at);
                        tracing::info!(conversation = %self.state.conv.id, "the reply repeated itself: generation stopped");
                        return Ok(Streamed::Cut);
                    }
                }
                Some(Err(e)) => return Err(self.llm_failed(e)),
            }
        }
    }
}
