//! One M³ToolEval run: a task, in one action mode, from its prompt to a correct answer or the
//! turn limit (the pack's `PROTOCOL.md` §2–§7). The loop, the model and the record are here;
//! tools run inside the task's own sandboxed session, and the Python-defined steps (calling a
//! tool from a text or JSON action, reading a code cell's output as a literal) run in the
//! benchmark's package there or in the evaluation's clean harness session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeact_exec::SessionManager;
use codeact_llm::{CompletionRequest, LlmBackend, LlmError};
use codeact_protocol::{ExecStatus, Message, Output, StreamName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::answer::is_correct;
use super::data::{M3Task, ToolSpec};
use super::protocol::{
    parse, post_process, prompt, with_reminder, ActionMode, Parsed, INCORRECT_ANSWER,
};
use crate::completion::{complete, ModelCost};
use crate::pypkg::{self, py_str, M3TOOLEVAL};
use crate::EvalError;

pub(super) const HARNESS_MODULE: &str = "codeact_m3tooleval.harness";

/// The protocol's settings (§2, §5).
#[derive(Debug, Clone)]
pub struct M3Settings {
    /// Replies per task.
    pub turns: u32,
    pub max_tokens: u32,
    pub temperature: f32,
    /// The limit of one code action.
    pub cell_timeout: Duration,
}

impl Default for M3Settings {
    fn default() -> Self {
        Self {
            turns: 10,
            max_tokens: 512,
            temperature: 0.0,
            cell_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a run ended (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum M3EndReason {
    Correct,
    Limit,
    ContextLimit,
}

/// The record of one run: the original's fields, then ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct M3Record {
    pub task_name: String,
    pub is_single_tool_task: bool,
    pub action_mode: ActionMode,
    pub prompt: String,
    /// The whole conversation, the prompt first.
    pub messages: Vec<Message>,
    pub expected_output: Value,
    pub is_correct: bool,
    /// Assistant replies.
    pub n_turns: u32,
    pub end_reason: M3EndReason,
    pub domain: String,
    /// Which of `--samples` runs of this task and mode (0-based).
    pub sample: u32,
    /// The model, as its backend names it.
    pub model: String,
    pub seconds: f64,
    /// Per turn, milliseconds of everything but the model call: parsing, tools, bookkeeping.
    pub overhead_ms: Vec<f64>,
    #[serde(flatten)]
    pub cost: ModelCost,
}

/// What the benchmark's package reports for an executed action.
#[derive(Debug, Clone, Deserialize)]
struct Observed {
    observation: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    literal: bool,
}

/// What every run of one evaluation shares.
pub struct M3Context {
    pub llm: Arc<dyn LlmBackend>,
    pub sessions: Arc<SessionManager>,
    pub settings: M3Settings,
    /// A session holding only the benchmark's package, for reading cell outputs.
    pub harness: String,
    /// Prefix of every session id of this evaluation.
    pub tag: String,
}

impl M3Context {
    /// Creates the harness session.
    pub async fn start(
        llm: Arc<dyn LlmBackend>,
        sessions: Arc<SessionManager>,
        settings: M3Settings,
    ) -> Result<Self, EvalError> {
        let tag = format!("m3-{}-{}", std::process::id(), pypkg::next_id());
        let harness = format!("{tag}-harness");
        sessions.create(&harness).await?;
        M3TOOLEVAL
            .install(&sessions, &harness, HARNESS_MODULE)
            .await?;
        Ok(Self {
            llm,
            sessions,
            settings,
            harness,
            tag,
        })
    }

    /// Ends the harness session.
    pub async fn close(&self) {
        let _ = self.sessions.delete(&self.harness).await;
    }
}

/// One run of `task` in `mode`.
pub async fn run_task(
    ctx: &M3Context,
    task: &M3Task,
    tools: &[&ToolSpec],
    mode: ActionMode,
    sample: u32,
) -> Result<M3Record, EvalError> {
    let session = format!("{}-{}", ctx.tag, pypkg::next_id());
    let result = Run::new(ctx, task, mode, session.clone())
        .go(tools, sample)
        .await;
    let _ = ctx.sessions.delete(&session).await;
    result
}

struct Run<'a> {
    ctx: &'a M3Context,
    task: &'a M3Task,
    mode: ActionMode,
    session: String,
    /// Whether the task's tools are loaded in its session (created on the first action).
    tools_ready: bool,
}

impl<'a> Run<'a> {
    fn new(ctx: &'a M3Context, task: &'a M3Task, mode: ActionMode, session: String) -> Self {
        Self {
            ctx,
            task,
            mode,
            session,
            tools_ready: false,
        }
    }

    async fn go(mut self, tools: &[&ToolSpec], sample: u32) -> Result<M3Record, EvalError> {
        let started = Instant::now();
        let text = prompt(self.task, tools, self.mode);
        let mut rec = M3Record {
            task_name: self.task.name.clone(),
            is_single_tool_task: self.task.is_single_tool_task,
            action_mode: self.mode,
            prompt: text.clone(),
            messages: vec![Message::user(text)],
            expected_output: self.task.expected_output.clone(),
            is_correct: false,
            n_turns: 0,
            end_reason: M3EndReason::Limit,
            domain: self.task.domain.clone(),
            sample,
            model: self.ctx.llm.name(),
            seconds: 0.0,
            overhead_ms: Vec::new(),
            cost: ModelCost::default(),
        };
        let expected_str = self.task.expected_str();
        for _ in 0..self.ctx.settings.turns {
            let turn_start = Instant::now();
            let reply = match self.generate(&mut rec).await {
                Ok(r) => r,
                Err(LlmError::ContextLength(_)) => {
                    rec.end_reason = M3EndReason::ContextLimit;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            let llm_time = turn_start.elapsed();
            let reply = post_process(&reply);
            rec.messages.push(Message::assistant(reply.clone()));
            rec.n_turns += 1;
            let (feedback, extra) = match parse(&reply) {
                Parsed::Answer { text, extra } => {
                    let answer = Value::String(text.clone());
                    if is_correct(&answer, &text, &self.task.expected_output, &expected_str) {
                        rec.is_correct = true;
                    }
                    (INCORRECT_ANSWER.to_string(), extra)
                }
                Parsed::Action { text, extra } => {
                    let observed = self.act(&text).await?;
                    if self.task.is_single_tool_task {
                        let value = observed
                            .value
                            .clone()
                            .filter(|_| observed.literal)
                            .unwrap_or_else(|| Value::String(observed.observation.clone()));
                        if is_correct(
                            &value,
                            &observed.observation,
                            &self.task.expected_output,
                            &expected_str,
                        ) {
                            rec.is_correct = true;
                        }
                    }
                    (observed.observation, extra)
                }
                Parsed::Invalid { feedback } => (feedback.to_string(), None),
            };
            if !rec.is_correct {
                rec.messages
                    .push(Message::user(with_reminder(&feedback, extra)));
            }
            rec.overhead_ms
                .push((turn_start.elapsed() - llm_time).as_secs_f64() * 1e3);
            if rec.is_correct {
                rec.end_reason = M3EndReason::Correct;
                break;
            }
        }
        rec.seconds = started.elapsed().as_secs_f64();
        Ok(rec)
    }

    /// Streams one reply of the model to the conversation so far.
    async fn generate(&self, rec: &mut M3Record) -> Result<String, LlmError> {
        let s = &self.ctx.settings;
        let mut request = CompletionRequest::greedy(rec.messages.clone(), s.max_tokens);
        request.temperature = s.temperature;
        if s.temperature > 0.0 {
            // Samples of one task differ; reruns of the same sample do not.
            request.seed = Some(u64::from(rec.sample) << 32 | u64::from(rec.n_turns));
        }
        complete(self.ctx.llm.as_ref(), request, &mut rec.cost).await
    }

    /// Executes an action in the task's session and reads its observation (§5).
    async fn act(&mut self, action: &str) -> Result<Observed, EvalError> {
        self.load_tools().await?;
        let sessions = &self.ctx.sessions;
        match self.mode {
            ActionMode::Code => {
                let result = sessions
                    .execute_with(
                        &self.session,
                        action,
                        Some(self.ctx.settings.cell_timeout),
                        None,
                    )
                    .await?;
                if result.status == ExecStatus::Restarted {
                    // The tools went with the old interpreter.
                    self.tools_ready = false;
                }
                let cell = pypkg::emit_cell(
                    HARNESS_MODULE,
                    "observe_code",
                    &[py_str(&captured_stdout(&result))],
                );
                pypkg::call(sessions, &self.ctx.harness, &cell).await
            }
            ActionMode::Text | ActionMode::Json => {
                let function = if self.mode == ActionMode::Text {
                    "call_text"
                } else {
                    "call_json"
                };
                let cell = pypkg::emit_cell(HARNESS_MODULE, function, &[py_str(action)]);
                pypkg::call(sessions, &self.session, &cell).await
            }
        }
    }

    /// Loads fresh tools into the task's session before its first action.
    async fn load_tools(&mut self) -> Result<(), EvalError> {
        if self.tools_ready {
            return Ok(());
        }
        let sessions = &self.ctx.sessions;
        M3TOOLEVAL
            .install(sessions, &self.session, HARNESS_MODULE)
            .await?;
        let names = serde_json::to_string(&self.task.tools).unwrap_or_else(|_| "[]".into());
        let mut args = vec![py_str(&self.task.domain), names];
        if self.mode == ActionMode::Code {
            args.push("globals()".into());
        }
        let cell = pypkg::emit_cell(HARNESS_MODULE, "start", &args);
        let _: Value = pypkg::call(sessions, &self.session, &cell).await?;
        self.tools_ready = true;
        Ok(())
    }
}

/// What an IPython shell would have printed to stdout for a cell: its stdout, the trailing
/// expression as `Out[N]: value`, displayed values, the traceback, and the engine's notice (a
/// timeout). Stderr is not captured (§5).
fn captured_stdout(result: &codeact_protocol::ExecResult) -> String {
    let mut out = String::new();
    for o in &result.outputs {
        match o {
            Output::Stream {
                name: StreamName::Stdout,
                text,
            } => out.push_str(text),
            Output::Stream { .. } => {}
            Output::Result {
                execution_count, ..
            } => {
                out.push_str(&format!("Out[{}]: ", execution_count.unwrap_or(0)));
                out.push_str(&o.text());
            }
            Output::Display { .. } | Output::Error { .. } => out.push_str(&o.text()),
        }
    }
    if let Some(n) = &result.notice {
        out.push_str(n);
        out.push('\n');
    }
    out
}
