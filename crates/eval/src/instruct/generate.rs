//! Trajectory generation (`codeact data generate`): each task runs the MINT protocol the
//! original generated CodeActInstruct with (the pack's `FORMAT.md` §5) in a fresh sandboxed
//! session, and its raw run is kept whole; successful runs convert to released rows (§6.3).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use codeact_llm::{CompletionRequest, LlmBackend, LlmError};
use codeact_protocol::{ExecStatus, Message};
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
    /// The model's name in row ids and records; default: see [`model_label`].
    pub model_name: Option<String>,
}

impl Default for GenerateSettings {
    fn default() -> Self {
        Self {
            max_tokens: 512,
            temperature: 0.0,
            model_name: None,
        }
    }
}

/// The model's name in row ids and records: the configured one, else the backend's name
/// without an endpoint (`openai:MODEL@http://host:8000/v1` becomes `openai:MODEL`), so that a
/// dataset does not carry private host names.
pub fn model_label(settings: &GenerateSettings, llm: &dyn LlmBackend) -> String {
    if let Some(name) = &settings.model_name {
        return name.clone();
    }
    let name = llm.name();
    match name.split_once('@') {
        Some((head, tail)) if tail.contains("://") => head.to_string(),
        _ => name,
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
    /// The model's code ended its own interpreter (the original's executor would have died
    /// with it); the session's state is gone, so the run stops there.
    SessionLost,
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
        let model = model_label(self.settings, self.llm);
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
            rec.cost.add(&cost);
            rec.history
                .push(Message::assistant(assistant_message(&reply)));
            rec.n_turns += 1;
            let exec_start = Instant::now();
            let mut check = None;
            // What the action was, what its observation reports, and whether it ends the run
            // by itself (a correct answer, or code that ended its own interpreter).
            let (kind, feedback_text, ends) = match parse_action(&reply) {
                Action::Propose(answer) => {
                    rec.proposals += 1;
                    if answer.is_empty() {
                        ("propose", Feedback::Invalid.into(), None)
                    } else {
                        let verdict = self.env.check(self.task, &answer).await?;
                        let ends = verdict.correct.then_some(EndReason::Success);
                        check = Some(verdict);
                        ("propose", FeedbackText::Wrong, ends)
                    }
                }
                Action::Execute(code) => {
                    rec.code_actions += 1;
                    let result = self.env.sessions.execute(self.session, &code).await?;
                    let lost =
                        (result.status == ExecStatus::Restarted).then_some(EndReason::SessionLost);
                    let body = executor_body(&captured_stdout(&result.outputs));
                    ("execute", FeedbackText::Output(body), lost)
                }
                Action::Invalid => {
                    rec.invalid_actions += 1;
                    ("invalid", Feedback::Invalid.into(), None)
                }
            };
            let exec_ms = exec_start.elapsed().as_secs_f64() * 1e3;
            let end = if ends.is_some() {
                ends
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
            match (obs, end) {
                (Some(o), _) => rec.history.push(Message::user(o)),
                (None, reason) => {
                    rec.end_reason = reason.unwrap_or(rec.end_reason);
                    break;
                }
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
    let model = model_label(settings, &*llm);
    crate::records::check_model(&log, runs.iter().map(|r| r.model.as_str()), &model)?;
    preflight(env, tasks, &model).await?;
    let done: HashSet<String> = runs.iter().map(|r| r.id.clone()).collect();
    let todo: Vec<&InstructTask> = tasks
        .iter()
        .filter(|t| !done.contains(&t.row_id(&model)))
        .collect();
    progress(Progress::Started {
        total: tasks.len(),
        done: tasks.len() - todo.len(),
    });
    let (llm, model) = (&*llm, &model);
    let mut stream = futures::stream::iter(todo.into_iter().map(|task| async move {
        run_task(env, llm, settings, task)
            .await
            .map_err(|e| EvalError::Run {
                run: task.row_id(model),
                error: Box::new(e),
            })
    }))
    .buffer_unordered(concurrency.max(1));
    let mut failure = None;
    while let Some(result) = stream.next().await {
        match result.and_then(|rec| log.append(&rec).map(|()| rec)) {
            Ok(rec) => {
                progress(Progress::Finished {
                    name: rec.id.clone(),
                    correct: rec.success,
                });
                runs.push(rec);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // The rows of what finished are written even when a run failed.
    write_rows(out, &runs)?;
    match failure {
        Some(e) => Err(e),
        None => Ok(runs),
    }
}

/// What would stop a generation later, found before it starts: two tasks with one row id
/// (the same file given twice, or two files with one name and a shared id), and tools that
/// tasks name but the tools module does not define.
pub async fn preflight(
    env: &InstructSessions,
    tasks: &[InstructTask],
    model: &str,
) -> Result<(), EvalError> {
    let mut seen = std::collections::HashMap::new();
    for t in tasks {
        if let Some(prev) = seen.insert(t.row_id(model), t) {
            return Err(EvalError::Task(format!(
                "tasks {}/{} of {}.jsonl and of {}.jsonl would make the same row id (task files need distinct names, and ids distinct within a task name)",
                t.task_name, t.id, prev.file_stem, t.file_stem
            )));
        }
    }
    let named: std::collections::BTreeSet<&str> = tasks
        .iter()
        .flat_map(|t| t.tools.iter().map(String::as_str))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    if env.tools.is_none() {
        return Err(EvalError::Task(format!(
            "tasks use tools ({}) but no tools module was given (--tools FILE.py)",
            named.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let defined = env.tool_names().await?;
    let missing: Vec<&str> = named
        .into_iter()
        .filter(|n| !defined.iter().any(|d| d == n))
        .collect();
    if !missing.is_empty() {
        return Err(EvalError::Task(format!(
            "the tools module does not define {} (it defines: {})",
            missing.join(", "),
            defined.join(", ")
        )));
    }
    Ok(())
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

/// The runs of a `runs.jsonl` file, every one of them (failed ones too) as a row, for
/// `verify`; `None` when the file does not hold runs (it holds rows, say).
pub fn read_runs_as_rows(path: &Path) -> Result<Option<Vec<Row>>, EvalError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let first = text.lines().find(|l| !l.trim().is_empty());
    let is_run = first.is_some_and(|l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v.get("history").is_some() && v.get("conversations").is_none())
    });
    if !is_run {
        return Ok(None);
    }
    let runs: Vec<RunRecord> = crate::parse_jsonl(&text)
        .map_err(|e| EvalError::Task(format!("{}: {e}", path.display())))?;
    runs.iter()
        .map(RunRecord::to_row)
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Runs per task type as a Markdown table: runs, successes, average actions, tokens per run
/// (prompt and completion), model seconds per run.
pub fn summary_markdown(runs: &[RunRecord]) -> String {
    let mut by: std::collections::BTreeMap<String, Vec<&RunRecord>> = Default::default();
    for r in runs {
        by.entry(format!("{}/{}", r.task_type.task_type(), r.task_name))
            .or_default()
            .push(r);
    }
    let mut s = String::from(
        "| task type / name | runs | success | avg actions | prompt tokens / run | completion tokens / run | model s / run |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let all: Vec<&RunRecord> = runs.iter().collect();
    for (name, rs) in by
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(std::iter::once(("**all**", &all)))
    {
        let n = rs.len().max(1) as f64;
        let ok = rs.iter().filter(|r| r.success).count();
        s += &format!(
            "| {name} | {} | {ok} ({:.0}%) | {:.2} | {:.0} | {:.0} | {:.1} |\n",
            rs.len(),
            100.0 * ok as f64 / n,
            rs.iter().map(|r| f64::from(r.n_turns)).sum::<f64>() / n,
            rs.iter().map(|r| r.cost.prompt_tokens as f64).sum::<f64>() / n,
            rs.iter()
                .map(|r| r.cost.completion_tokens as f64)
                .sum::<f64>()
                / n,
            rs.iter().map(|r| r.cost.llm_seconds).sum::<f64>() / n,
        );
    }
    s
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
