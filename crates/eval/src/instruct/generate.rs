//! Trajectory generation (`codeact data generate`): each task runs the MINT protocol the
//! original generated CodeActInstruct with (the pack's `FORMAT.md` §5) in a fresh sandboxed
//! session, and its raw run is kept whole; successful runs convert to released rows (§6.3).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use codeact_llm::{CompletionRequest, LlmBackend, LlmError};
use codeact_protocol::Message;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::convert::to_row;
use super::mint::{
    assistant_message, captured_stdout, executor_body, first_message, observation, parse_action,
    tool_desc, Action, Feedback,
};
use super::row::Row;
use super::session::{CheckResult, InstructSessions};
use super::strings::{MAX_PROPOSALS, MAX_STEPS, STOP_WORDS};
use super::tasks::{InstructTask, TaskKind};
use crate::completion::{complete, ModelCost};
use crate::records::RecordLog;
use crate::{EvalError, Progress, ProgressFn};

/// The raw runs' file in an output directory.
pub const RUNS_FILE: &str = "runs.jsonl";
/// The released rows of its successful runs.
pub const ROWS_FILE: &str = "rows.jsonl";

/// Settings of generation (§5.1).
#[derive(Debug, Clone, Serialize)]
pub struct GenerateSettings {
    pub max_tokens: u32,
    pub temperature: f32,
}

impl Default for GenerateSettings {
    fn default() -> Self {
        Self {
            max_tokens: 512,
            temperature: 0.0,
        }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A proposal passed the task's check.
    Success,
    /// Two wrong proposals.
    ProposalsExhausted,
    /// Five actions without success.
    StepsExhausted,
    /// The conversation outgrew the model's context.
    ContextLimit,
}

/// One action of a run, as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The model's reply, as it came.
    pub reply: String,
    /// `execute`, `propose` or `invalid`.
    pub action: String,
    /// The observation that followed (absent after the last action).
    pub observation: Option<String>,
    /// For a proposal, the check's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckResult>,
    pub llm_seconds: f64,
    /// Time in the sandbox (the cell, or the check), in milliseconds.
    pub exec_ms: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The raw record of one run: everything needed to audit it and to convert it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The released row's id.
    pub id: String,
    pub task_id: String,
    pub task_type: TaskKind,
    pub task_name: String,
    pub model: String,
    pub success: bool,
    pub end_reason: EndReason,
    /// Actions (assistant replies), the original's `n_turns`.
    pub n_turns: u32,
    pub proposals: u32,
    pub invalid_actions: u32,
    pub code_actions: u32,
    /// The history as the generator keeps it: the generation prompt, `Assistant:\n…` replies
    /// and observations.
    pub history: Vec<Message>,
    pub actions: Vec<ActionRecord>,
    pub seconds: f64,
    #[serde(flatten)]
    pub cost: ModelCost,
}

impl RunRecord {
    /// The released row of a successful run.
    pub fn to_row(&self) -> Result<Row, EvalError> {
        to_row(self.id.clone(), &self.history)
            .map_err(|e| EvalError::Task(format!("{}: {e}", self.id)))
    }
}

/// Runs `task` once with `llm`.
pub async fn run_task(
    env: &InstructSessions,
    llm: &dyn LlmBackend,
    settings: &GenerateSettings,
    task: &InstructTask,
) -> Result<RunRecord, EvalError> {
    let session = env.open(Some(task)).await?;
    let result = Run {
        env,
        llm,
        settings,
        task,
        session: &session.id,
    }
    .go(&session.tool_entries)
    .await;
    env.close(&session.id).await;
    result
}

struct Run<'a> {
    env: &'a InstructSessions,
    llm: &'a dyn LlmBackend,
    settings: &'a GenerateSettings,
    task: &'a InstructTask,
    session: &'a str,
}

impl Run<'_> {
    async fn go(self, tool_entries: &[String]) -> Result<RunRecord, EvalError> {
        let started = Instant::now();
        let text = self.env.task_text(self.session, self.task).await?;
        let example = self.task.kind.family().example("").unwrap_or_default();
        let prompt = first_message(&text, &tool_desc(tool_entries), example);
        let model = self.llm.name();
        let mut rec = RunRecord {
            id: self.task.row_id(&model),
            task_id: self.task.id.clone(),
            task_type: self.task.kind,
            task_name: self.task.task_name.clone(),
            model,
            success: false,
            end_reason: EndReason::StepsExhausted,
            n_turns: 0,
            proposals: 0,
            invalid_actions: 0,
            code_actions: 0,
            history: vec![Message::user(prompt)],
            actions: Vec::new(),
            seconds: 0.0,
            cost: ModelCost::default(),
        };
        loop {
            let mut cost = ModelCost::default();
            let request = CompletionRequest {
                messages: rec.history.clone(),
                max_tokens: self.settings.max_tokens,
                temperature: self.settings.temperature,
                stop: STOP_WORDS.iter().map(|s| s.to_string()).collect(),
                ..CompletionRequest::default()
            };
            let reply = match complete(self.llm, request, &mut cost).await {
                Ok(r) => r,
                Err(LlmError::ContextLength(_)) => {
                    rec.end_reason = EndReason::ContextLimit;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            add_cost(&mut rec.cost, &cost);
            rec.history
                .push(Message::assistant(assistant_message(&reply)));
            rec.n_turns += 1;
            let exec_start = Instant::now();
            let mut check = None;
            let (kind, feedback_text, success) = match parse_action(&reply) {
                Action::Propose(answer) => {
                    rec.proposals += 1;
                    if answer.is_empty() {
                        ("propose", Feedback::Invalid.into(), false)
                    } else {
                        let verdict = self.env.check(self.task, &answer).await?;
                        let ok = verdict.correct;
                        check = Some(verdict);
                        ("propose", FeedbackText::Wrong, ok)
                    }
                }
                Action::Execute(code) => {
                    rec.code_actions += 1;
                    let result = self.env.sessions.execute(self.session, &code).await?;
                    let body = executor_body(&captured_stdout(&result.outputs));
                    ("execute", FeedbackText::Output(body), false)
                }
                Action::Invalid => {
                    rec.invalid_actions += 1;
                    ("invalid", Feedback::Invalid.into(), false)
                }
            };
            let exec_ms = exec_start.elapsed().as_secs_f64() * 1e3;
            let end = if success {
                Some(EndReason::Success)
            } else if rec.proposals >= MAX_PROPOSALS {
                Some(EndReason::ProposalsExhausted)
            } else if rec.n_turns >= MAX_STEPS {
                Some(EndReason::StepsExhausted)
            } else {
                None
            };
            let obs = end.is_none().then(|| {
                observation(
                    feedback_text.as_feedback(),
                    MAX_STEPS - rec.n_turns,
                    MAX_PROPOSALS - rec.proposals,
                )
            });
            rec.actions.push(ActionRecord {
                reply,
                action: kind.into(),
                observation: obs.clone(),
                check,
                llm_seconds: cost.llm_seconds,
                exec_ms,
                prompt_tokens: cost.prompt_tokens,
                completion_tokens: cost.completion_tokens,
            });
            match (end, obs) {
                (Some(reason), _) => {
                    rec.end_reason = reason;
                    break;
                }
                (None, Some(o)) => rec.history.push(Message::user(o)),
                (None, None) => break,
            }
        }
        rec.success = rec.end_reason == EndReason::Success;
        rec.seconds = started.elapsed().as_secs_f64();
        Ok(rec)
    }
}

/// An observation's feedback, owning a code action's body.
enum FeedbackText {
    Output(String),
    Wrong,
    Invalid,
}

impl From<Feedback<'_>> for FeedbackText {
    fn from(f: Feedback<'_>) -> Self {
        match f {
            Feedback::Output(s) => FeedbackText::Output(s.to_string()),
            Feedback::WrongAnswer => FeedbackText::Wrong,
            Feedback::Invalid => FeedbackText::Invalid,
        }
    }
}

impl FeedbackText {
    fn as_feedback(&self) -> Feedback<'_> {
        match self {
            FeedbackText::Output(s) => Feedback::Output(s),
            FeedbackText::Wrong => Feedback::WrongAnswer,
            FeedbackText::Invalid => Feedback::Invalid,
        }
    }
}

fn add_cost(total: &mut ModelCost, one: &ModelCost) {
    total.llm_seconds += one.llm_seconds;
    total.prompt_tokens += one.prompt_tokens;
    total.completion_tokens += one.completion_tokens;
    total.cached_tokens += one.cached_tokens;
    if total.first_token_ms.is_none() {
        total.first_token_ms = one.first_token_ms;
    }
}

/// Generates a run for every task not yet in `out/runs.jsonl`, `concurrency` at a time,
/// appending each as it ends, then writes `out/rows.jsonl` from every successful run there.
/// Returns all runs in the file.
pub async fn generate(
    env: &InstructSessions,
    llm: Arc<dyn LlmBackend>,
    settings: &GenerateSettings,
    tasks: &[InstructTask],
    out: &Path,
    concurrency: usize,
    progress: &ProgressFn<'_>,
) -> Result<Vec<RunRecord>, EvalError> {
    let (log, mut runs): (RecordLog, Vec<RunRecord>) = RecordLog::open(&out.join(RUNS_FILE))?;
    let model = llm.name();
    crate::records::check_model(&log, runs.iter().map(|r| r.model.as_str()), &model)?;
    let done: HashSet<String> = runs.iter().map(|r| r.id.clone()).collect();
    let todo: Vec<&InstructTask> = tasks
        .iter()
        .filter(|t| !done.contains(&t.row_id(&model)))
        .collect();
    progress(Progress::Started {
        total: tasks.len(),
        done: tasks.len() - todo.len(),
    });
    let llm = &*llm;
    let mut stream = futures::stream::iter(todo.into_iter().map(|task| async move {
        run_task(env, llm, settings, task)
            .await
            .map_err(|e| EvalError::Run {
                run: task.row_id(&llm.name()),
                error: Box::new(e),
            })
    }))
    .buffer_unordered(concurrency.max(1));
    while let Some(result) = stream.next().await {
        let rec = result?;
        log.append(&rec)?;
        progress(Progress::Finished {
            name: rec.id.clone(),
            correct: rec.success,
        });
        runs.push(rec);
    }
    write_rows(out, &runs)?;
    Ok(runs)
}

/// Writes the released rows of the successful runs to `out/rows.jsonl`.
pub fn write_rows(out: &Path, runs: &[RunRecord]) -> Result<usize, EvalError> {
    let rows = runs
        .iter()
        .filter(|r| r.success)
        .map(RunRecord::to_row)
        .collect::<Result<Vec<_>, _>>()?;
    write(&out.join(ROWS_FILE), &super::row::to_jsonl(&rows))?;
    Ok(rows.len())
}

/// Writes `out/runs.jsonl` (every run) and `out/rows.jsonl`: a queue's snapshot.
pub fn write_outputs(out: &Path, runs: &[RunRecord]) -> Result<usize, EvalError> {
    write(&out.join(RUNS_FILE), &super::row::to_jsonl(runs))?;
    write_rows(out, runs)
}

fn write(path: &Path, text: &str) -> Result<(), EvalError> {
    let err = |cause| EvalError::Write {
        path: path.display().to_string(),
        cause,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)
}

/// One task's self-check: its `solution` run through its success check.
#[derive(Debug, Clone, Serialize)]
pub struct TaskCheck {
    pub task_name: String,
    pub id: String,
    /// `None` when the task has no `solution`.
    pub result: Option<CheckResult>,
}

/// Checks every task's known solution with the task's own success check (`--check-tasks`):
/// a task set whose solutions fail has a wrong reference or test, or a check that is wrong.
pub async fn check_tasks(
    env: &InstructSessions,
    tasks: &[InstructTask],
    concurrency: usize,
) -> Result<Vec<TaskCheck>, EvalError> {
    futures::stream::iter(tasks.iter().map(|task| async move {
        let solution = task
            .json
            .get("solution")
            .and_then(serde_json::Value::as_str);
        let result = match solution {
            Some(s) => Some(env.check(task, s).await.map_err(|e| EvalError::Run {
                run: format!("{}/{}", task.task_name, task.id),
                error: Box::new(e),
            })?),
            None => None,
        };
        Ok(TaskCheck {
            task_name: task.task_name.clone(),
            id: task.id.clone(),
            result,
        })
    }))
    .buffered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}
