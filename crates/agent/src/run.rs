//! The loop itself: ask the model, run its code in the session, show it the output, until it
//! answers. Failure handling is tuned for small models, which forget tags, repeat failing code
//! and answer without having computed anything.

use std::collections::HashSet;

use codeact_llm::LlmError;
use codeact_protocol::{AgentErrorCode, AgentEvent, DiscardReason, EndReason, Message};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::act::{normalize_code, CellOutcome, FailureLog};
use crate::agent::Inner;
use crate::config::{Mode, PromptStyle};
use crate::conversation::Conversation;
use crate::error::llm_error_code;
use crate::parse::{parse_reply, ParseOptions, ParsedReply};
use crate::prompt;
use crate::tools::ToolInfo;

/// What an agent keeps between runs.
pub(crate) struct State {
    pub conv: Conversation,
    /// The session has the preloaded modules and tools.
    pub ready: bool,
    pub tools: Vec<ToolInfo>,
    /// The messages came from a saved conversation and the session has not been set up yet.
    pub resumed: bool,
    /// Told to the model with the next user message.
    pub pending_note: Option<String>,
    /// Model turns over the agent's life, to name saved images uniquely.
    pub turns_total: u32,
}

impl State {
    pub fn new(conv: Conversation, resumed: bool) -> Self {
        Self {
            conv,
            ready: false,
            tools: Vec::new(),
            resumed,
            pending_note: None,
            turns_total: 0,
        }
    }
}

/// Bookkeeping of one run.
#[derive(Default)]
pub(crate) struct Progress {
    /// Cells run so far.
    pub executions: u32,
    /// How the last cell of the last act step went; `None` before any code ran.
    pub last_cell: Option<CellOutcome>,
    /// An answer was questioned since the last act step.
    pub questioned: bool,
    /// A task reply with neither code nor solution got the reminder of the protocol.
    pub nudged: bool,
    /// The failures so far, to tell a repeated one.
    pub failures: FailureLog,
    /// Every cell run so far, normalized: running one again tells a small model nothing new.
    pub ran_codes: HashSet<String>,
    /// The model just repeated failing code or its last reply: sample the next reply less
    /// greedily.
    pub stuck: bool,
    /// The model's last reply, to tell one written again.
    pub last_reply: String,
    /// The user's message or task that started the run.
    pub request: String,
}

/// A finished model reply.
pub(crate) struct Reply {
    pub text: String,
}

/// One run over an agent's state.
pub(crate) struct Runner<'a> {
    pub ctx: &'a Inner,
    pub state: &'a mut State,
    tx: &'a UnboundedSender<AgentEvent>,
    pub cancel: &'a CancellationToken,
    pub temperature: f32,
    pub seed: Option<u64>,
    /// Save the conversation after each turn (off for throwaway attempts).
    pub persist: bool,
}

impl<'a> Runner<'a> {
    pub fn new(
        ctx: &'a Inner,
        state: &'a mut State,
        tx: &'a UnboundedSender<AgentEvent>,
        cancel: &'a CancellationToken,
    ) -> Self {
        Self {
            temperature: ctx.config.temperature,
            seed: ctx.config.seed,
            persist: true,
            ctx,
            state,
            tx,
            cancel,
        }
    }

    pub fn emit(&self, e: AgentEvent) {
        let _ = self.tx.send(e);
    }

    pub fn save(&self) {
        let Some(dir) = &self.ctx.config.conversation_dir else {
            return;
        };
        if !self.persist {
            return;
        }
        if let Err(e) = self.state.conv.save(dir) {
            tracing::warn!("saving the conversation failed: {e}");
            self.emit(AgentEvent::Error {
                code: AgentErrorCode::Conversation,
                message: format!("saving the conversation failed: {e}"),
            });
        }
    }

    pub(crate) fn push(&mut self, m: Message) {
        self.state.conv.messages.push(m);
        self.state.conv.touch();
    }

    fn feedback(&mut self, text: &str) {
        self.emit(AgentEvent::Feedback {
            text: text.to_string(),
        });
        self.push(Message::user(text));
    }

    pub(crate) fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            fence_fallback: self.ctx.config.fence_fallback,
            strict: self.ctx.config.prompt_style == PromptStyle::Seed,
        }
    }

    /// Runs the loop for one user message or task. Emits every event except `End`, whose
    /// reason it returns.
    pub async fn run(&mut self, mode: Mode, user_text: String) -> EndReason {
        if let Err(e) = self.ensure_ready(mode).await {
            self.emit(AgentEvent::Error {
                code: e.code(),
                message: format!("setting up the Python session failed: {e}"),
            });
            return EndReason::Error;
        }
        let content = match self.state.pending_note.take() {
            Some(note) => {
                self.emit(AgentEvent::Feedback { text: note.clone() });
                format!("{note}\n\n{user_text}")
            }
            None => user_text,
        };
        let mut p = Progress {
            request: content.clone(),
            ..Progress::default()
        };
        self.push(Message::user(content));
        let limits = self.ctx.config.limits.clone();
        let mut turn = 0u32;
        loop {
            if mode == Mode::Task && turn >= limits.max_turns {
                return EndReason::MaxTurns;
            }
            turn += 1;
            self.state.turns_total += 1;
            self.emit(AgentEvent::TurnStarted { turn });
            let (reply, parsed) = match self.next_reply(mode, turn, &p).await {
                Ok(r) => r,
                Err(end) => return end,
            };
            p.stuck = false;
            self.emit(AgentEvent::AssistantMessage {
                text: reply.text.clone(),
            });
            self.push(Message::assistant(reply.text.clone()));
            // Greedy decoding gives the same reply to a conversation that barely changed.
            if reply.text.trim() == p.last_reply.trim() {
                p.stuck = true;
            }
            p.last_reply = reply.text.clone();

            if !parsed.actions.is_empty() {
                if mode == Mode::Chat && p.executions >= limits.max_executions {
                    self.save();
                    return EndReason::MaxExecutions;
                }
                if let Err(end) = self.act(mode, &parsed, &mut p).await {
                    self.save();
                    return end;
                }
                self.save();
                continue;
            }

            let question = self.ctx.config.question_answer_after_error
                && p.last_cell.as_ref().is_some_and(CellOutcome::failed)
                && !p.questioned;
            match (mode, &parsed.solution) {
                (Mode::Task, Some(solution)) => {
                    if let Some(doubt) = self.doubt(&p) {
                        p.questioned = true;
                        self.feedback(doubt);
                        continue;
                    }
                    self.emit(AgentEvent::FinalAnswer {
                        text: solution.clone(),
                    });
                    return EndReason::Solution;
                }
                (Mode::Task, None) => {
                    if p.nudged {
                        return EndReason::Reply;
                    }
                    p.nudged = true;
                    self.feedback(prompt::NUDGE_PROTOCOL);
                }
                (Mode::Chat, _) => {
                    if question {
                        p.questioned = true;
                        self.feedback(prompt::QUESTION_REPLY);
                        continue;
                    }
                    return EndReason::Reply;
                }
            }
        }
    }

    /// Why a task's answer cannot have come from the code, if it cannot: asked once, since a
    /// small model otherwise answers from memory, or from code that failed or printed nothing.
    fn doubt(&self, p: &Progress) -> Option<&'static str> {
        if !self.ctx.config.question_answer_after_error || p.questioned {
            return None;
        }
        match p.last_cell {
            None => Some(prompt::QUESTION_NO_CODE),
            Some(CellOutcome::Failed(_)) => Some(prompt::QUESTION_SOLUTION),
            Some(CellOutcome::Silent) => Some(prompt::QUESTION_NOTHING_PRINTED),
            Some(CellOutcome::Printed) => None,
        }
    }

    /// The model's reply for this turn. A reply that would run code which already ran in this
    /// run is dropped and sampled again, a few times: a small model that saw its code fail tends
    /// to write it again word for word, even at temperature 1 and after a hint, and one that got
    /// its result sometimes keeps re-running the cell instead of answering.
    async fn next_reply(
        &mut self,
        mode: Mode,
        turn: u32,
        p: &Progress,
    ) -> Result<(Reply, ParsedReply), EndReason> {
        let ctx = self.ctx;
        let mut attempt = 0u32;
        loop {
            // Sampling to get out of a loop keeps to the likelier tokens, so that a small model
            // does not drift into nonsense; each new attempt is a little hotter.
            let sampling = &ctx.config.sampling;
            let (temperature, top_p) = if p.stuck || attempt > 0 {
                let base = self.temperature.max(sampling.unstick_temperature);
                let hotter = attempt.saturating_sub(1) as f32;
                (
                    base * (1.0 + sampling.resample_heat_step * hotter),
                    sampling.unstick_top_p,
                )
            } else {
                (self.temperature, sampling.top_p)
            };
            let reply = self
                .generate(mode, temperature, top_p, turn, attempt)
                .await?;
            let parsed = parse_reply(&reply.text, self.parse_options());
            let repeats = parsed
                .actions
                .iter()
                .any(|a| p.ran_codes.contains(&normalize_code(&a.code)));
            if !repeats || attempt >= sampling.resample_repeats {
                return Ok((reply, parsed));
            }
            attempt += 1;
            tracing::info!(conversation = %self.state.conv.id, attempt, "the reply would re-run a cell: sampling it again");
            self.emit(AgentEvent::ReplyDiscarded {
                text: reply.text,
                reason: DiscardReason::RepeatsExecutedCode,
            });
        }
    }

    pub(crate) fn llm_failed(&self, e: LlmError) -> EndReason {
        let reason = match e {
            LlmError::ContextLength(_) => EndReason::ContextLength,
            _ => EndReason::Error,
        };
        self.emit(AgentEvent::Error {
            code: llm_error_code(&e),
            message: e.to_string(),
        });
        reason
    }
}

/// The seed of one turn's request. The engine restarts its random generator from the request's
/// seed, so one seed for every turn would draw the same numbers each turn, and a conversation
/// that barely changed would get a byte-identical reply even when sampling.
pub(crate) fn turn_seed(seed: u64, turn: u32, attempt: u32) -> u64 {
    splitmix64(seed ^ splitmix64(u64::from(turn) | u64::from(attempt) << 32))
}

/// One step of the SplitMix64 generator: a cheap, well-mixed hash of a 64-bit value.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_turn_gets_its_own_seed() {
        let seeds: HashSet<u64> = (0..3u64)
            .flat_map(|s| (1..=10).flat_map(move |t| (0..2).map(move |a| turn_seed(s, t, a))))
            .collect();
        assert_eq!(seeds.len(), 60);
        assert_eq!(turn_seed(7, 3, 1), turn_seed(7, 3, 1));
    }
}
