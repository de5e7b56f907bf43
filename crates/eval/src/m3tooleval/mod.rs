//! M³ToolEval (Wang et al., 2024, "Executable Code Actions Elicit Better LLM Agents"): 82
//! tasks in five domains, each solvable only by calling the domain's tools, run with actions
//! written as code, as JSON or as text, to compare the three formats. The protocol is the
//! benchmark's own, string for string; see the pack's `PROTOCOL.md`.
//!
//! [`evaluate`] runs a selection of tasks × modes × samples, each in its own sandboxed session,
//! appends one [`M3Record`] per run to `<out>/m3tooleval.jsonl` as it finishes (a rerun skips
//! what is there), and summarises success by domain and mode.

mod answer;
mod data;
mod protocol;
mod run;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use codeact_exec::SessionManager;
use codeact_llm::LlmBackend;
use futures::StreamExt;

pub use answer::is_correct;
pub use data::{builtin_tasks, load_tasks, parse_tasks, M3Task, ToolCatalog, ToolSpec};
pub use protocol::{parse, post_process, prompt, ActionMode, Parsed};
pub use run::{run_task, M3Context, M3EndReason, M3Record, M3Settings};

use crate::pypkg::VectorReport;
use crate::records::{check_model, check_settings, RecordLog};
use crate::summary::{Outcome, Summary};
use crate::{EvalError, ProgressFn};

/// What to run.
#[derive(Debug, Clone)]
pub struct M3Options {
    pub modes: Vec<ActionMode>,
    /// The pack's file format; the shipped tasks when `None`.
    pub tasks: Option<PathBuf>,
    /// Only tasks whose name matches.
    pub filter: Option<String>,
    /// Runs of each task and mode.
    pub samples: u32,
    /// Runs in flight at once.
    pub concurrency: usize,
    /// Results directory.
    pub out: PathBuf,
    pub settings: M3Settings,
}

/// The name of the results file under `out`.
pub const RECORDS_FILE: &str = "m3tooleval.jsonl";
/// The stem of the summary files under `out`.
pub const SUMMARY_STEM: &str = "m3tooleval-summary";
/// The settings the results under `out` were made with.
pub const SETTINGS_FILE: &str = "m3tooleval-settings.json";

/// Runs what `options` selects that `out` does not hold yet; returns the summary of every
/// selected run in `out`, finished now or before. `progress` hears of each run as it ends.
pub async fn evaluate(
    llm: Arc<dyn LlmBackend>,
    sessions: Arc<SessionManager>,
    options: &M3Options,
    progress: &ProgressFn<'_>,
) -> Result<Summary, EvalError> {
    let tasks = select(options)?;
    let catalog = ToolCatalog::builtin();
    for t in &tasks {
        catalog.for_task(t)?;
    }
    let model = llm.name();
    let s = &options.settings;
    let settings = serde_json::json!({
        "model": model,
        "turns": s.turns,
        "max_tokens": s.max_tokens,
        "temperature": crate::records::f32_setting(s.temperature),
        "cell_timeout_s": s.cell_timeout.as_secs_f64(),
    });
    let (log, old) = RecordLog::open::<M3Record>(&options.out.join(RECORDS_FILE))?;
    check_settings(&options.out, SETTINGS_FILE, &settings, !old.is_empty())?;
    check_model(&log, old.iter().map(|r| r.model.as_str()), &model)?;
    let done: HashSet<(String, ActionMode, u32)> = old
        .iter()
        .map(|r| (r.task_name.clone(), r.action_mode, r.sample))
        .collect();
    let mut todo = Vec::new();
    for &mode in &options.modes {
        for task in &tasks {
            for sample in 0..options.samples {
                if !done.contains(&(task.name.clone(), mode, sample)) {
                    todo.push((task, mode, sample));
                }
            }
        }
    }
    let total = options.modes.len() * tasks.len() * options.samples as usize;
    progress(crate::Progress::Started {
        total,
        done: total - todo.len(),
    });
    let mut records = old;
    let first_new = records.len();
    let started = std::time::Instant::now();
    if !todo.is_empty() {
        let ctx = M3Context::start(llm, sessions, options.settings.clone()).await?;
        let ctx = &ctx;
        let catalog = &catalog;
        let log = &log;
        let mut runs = futures::stream::iter(todo)
            .map(|(task, mode, sample)| async move {
                let tools = catalog.for_task(task)?;
                let rec = run_task(ctx, task, &tools, mode, sample)
                    .await
                    .map_err(|e| EvalError::Run {
                        run: format!("{} ({} mode, sample {sample})", task.name, mode.short()),
                        error: Box::new(e),
                    })?;
                log.append(&rec)?;
                Ok::<_, EvalError>(rec)
            })
            .buffer_unordered(options.concurrency.max(1));
        let mut failure = None;
        while let Some(r) = runs.next().await {
            match r {
                Ok(rec) => {
                    progress(crate::Progress::Finished {
                        name: format!("{} {}", rec.task_name, rec.action_mode),
                        correct: rec.is_correct,
                    });
                    records.push(rec);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(runs);
        ctx.close().await;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    let mut summary = summarize(&model, options, &tasks, &records);
    if let Some(note) = timing_note(
        &records[first_new..],
        started.elapsed(),
        options.concurrency,
    ) {
        summary.notes.push(note);
    }
    Ok(summary)
}

/// How fast this invocation went: runs per second, the harness's own time per turn (all but
/// the model), and the model's time to first token.
fn timing_note(new: &[M3Record], wall: std::time::Duration, concurrency: usize) -> Option<String> {
    if new.is_empty() {
        return None;
    }
    let overhead: Vec<f64> = new
        .iter()
        .flat_map(|r| r.overhead_ms.iter().copied())
        .collect();
    let ttft: Vec<f64> = new.iter().filter_map(|r| r.cost.first_token_ms).collect();
    let mut note = format!(
        "This invocation: {} runs in {:.1} s at concurrency {concurrency}",
        new.len(),
        wall.as_secs_f64()
    );
    if let Some(o) = codeact_bench::stats::Summary::of(&overhead) {
        note += &format!(
            "; harness overhead per turn p50 {:.2} ms, p95 {:.2} ms ({} turns)",
            o.p50, o.p95, o.n
        );
    }
    if let Some(t) = codeact_bench::stats::Summary::of(&ttft) {
        note += &format!("; first token p50 {:.0} ms", t.p50);
    }
    Some(note + ".")
}

/// Replays a vectors file (the pack's `vectors.jsonl` format) against the tools, inside a
/// sandboxed session.
pub async fn check_tools(
    sessions: &SessionManager,
    vectors: &str,
) -> Result<VectorReport, EvalError> {
    crate::pypkg::check_vectors(
        sessions,
        crate::pypkg::M3TOOLEVAL,
        run::HARNESS_MODULE,
        vectors,
    )
    .await
}

fn select(options: &M3Options) -> Result<Vec<M3Task>, EvalError> {
    let mut tasks = match &options.tasks {
        Some(path) => load_tasks(path)?,
        None => builtin_tasks(),
    };
    if let Some(re) = crate::filter_regex(options.filter.as_deref())? {
        tasks.retain(|t| re.is_match(&t.name));
    }
    if tasks.is_empty() {
        return Err(EvalError::Task("no task selected".into()));
    }
    Ok(tasks)
}

fn summarize(model: &str, options: &M3Options, tasks: &[M3Task], records: &[M3Record]) -> Summary {
    let order: std::collections::HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut selected: Vec<&M3Record> = records
        .iter()
        .filter(|r| {
            order.contains_key(r.task_name.as_str())
                && options.modes.contains(&r.action_mode)
                && r.sample < options.samples
        })
        .collect();
    selected.sort_by_key(|r| (order[r.task_name.as_str()], r.action_mode, r.sample));
    let outcomes: Vec<Outcome> = selected
        .iter()
        .map(|r| Outcome {
            group: r.domain.clone(),
            mode: r.action_mode.short().to_string(),
            item: r.task_name.clone(),
            correct: r.is_correct,
        })
        .collect();
    let modes: Vec<String> = options
        .modes
        .iter()
        .map(|m| m.short().to_string())
        .collect();
    let mut summary = Summary::new("M³ToolEval", model, &modes, options.samples, &outcomes);
    if options.filter.is_some() || options.tasks.is_some() {
        summary.notes.push(format!(
            "Selection: {} tasks{}{}; the results file may hold more.",
            tasks.len(),
            options
                .tasks
                .as_ref()
                .map(|p| format!(" from {}", p.display()))
                .unwrap_or_default(),
            options
                .filter
                .as_ref()
                .map(|f| format!(" matching {f:?}"))
                .unwrap_or_default()
        ));
    }
    let ended = |reason| selected.iter().filter(|r| r.end_reason == reason).count();
    summary.notes.push(format!(
        "Ends: {} correct, {} turn limit, {} context limit. At most {} turns, temperature {}.",
        ended(M3EndReason::Correct),
        ended(M3EndReason::Limit),
        ended(M3EndReason::ContextLimit),
        options.settings.turns,
        options.settings.temperature
    ));
    summary
}
