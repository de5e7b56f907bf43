//! `codeact bench agent`: every task, end to end, for each prompt and parsing variant.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use codeact_agent::{parse_reply, Agent, AgentConfig, Limits, Mode, ParseOptions, PromptStyle};
use codeact_exec::SessionManager;
use codeact_llm::LlmBackend;
use codeact_protocol::{ActionOrigin, AgentEvent};

use crate::check::check_answer;
use crate::report::{BenchReport, TaskResult, VariantSummary};
use crate::tasks::Task;
use crate::EvalError;

/// One configuration of the loop under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub style: PromptStyle,
    pub fence_fallback: bool,
    pub grammar: bool,
}

impl Variant {
    /// The defaults of the agent.
    pub fn ours() -> Self {
        Self {
            style: PromptStyle::Ours,
            fence_fallback: true,
            grammar: false,
        }
    }

    /// {seed-style prompt, ours} × {fence fallback off, on} × {grammar off, on}.
    pub fn matrix() -> Vec<Self> {
        let mut v = Vec::new();
        for style in [PromptStyle::Seed, PromptStyle::Ours] {
            for fence_fallback in [false, true] {
                for grammar in [false, true] {
                    v.push(Self {
                        style,
                        fence_fallback,
                        grammar,
                    });
                }
            }
        }
        v
    }

    pub fn label(&self) -> String {
        let style = match self.style {
            PromptStyle::Seed => "seed",
            PromptStyle::Ours => "ours",
        };
        format!(
            "{style} fence={} grammar={}",
            if self.fence_fallback { "on" } else { "off" },
            if self.grammar { "on" } else { "off" }
        )
    }
}

impl std::str::FromStr for Variant {
    type Err = crate::EvalError;

    /// `style:fence:grammar`, e.g. `ours:on:off` or `seed:off:on`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = || crate::EvalError::Variant(spec.to_string());
        let parts: Vec<&str> = spec.split(':').collect();
        let [style, fence, grammar] = parts.as_slice() else {
            return Err(bad());
        };
        let on = |s: &str| match s {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(bad()),
        };
        let style = match *style {
            "ours" => PromptStyle::Ours,
            "seed" => PromptStyle::Seed,
            _ => return Err(bad()),
        };
        Ok(Self {
            style,
            fence_fallback: on(fence)?,
            grammar: on(grammar)?,
        })
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub variants: Vec<Variant>,
    pub limits: Limits,
    /// Run only the first N tasks.
    pub task_limit: Option<usize>,
    /// Where images of the runs go.
    pub output_dir: PathBuf,
    /// Skip grammar variants when the backend ignores grammars (they would repeat the others).
    pub skip_unsupported_grammar: bool,
    /// Append each task's result to this JSONL file as soon as it is known, so that a long run
    /// can be read while it goes on.
    pub progress_file: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            variants: Variant::matrix(),
            limits: Limits {
                max_turns: 6,
                max_tokens: 512,
                ..Limits::default()
            },
            task_limit: None,
            output_dir: std::env::temp_dir().join("codeact-bench"),
            skip_unsupported_grammar: true,
            progress_file: None,
        }
    }
}

/// `codeact bench agent`'s options: which tasks, which variants, and where results go.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentBenchArgs {
    /// Tasks as JSONL (default: the built-in set).
    #[arg(long)]
    pub tasks: Option<PathBuf>,
    /// Run only the first N tasks.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only our default configuration instead of the whole variant matrix.
    #[arg(long)]
    pub defaults_only: bool,
    /// Only these variants, as style:fence:grammar (e.g. `ours:on:off,seed:off:off`).
    #[arg(long, value_delimiter = ',', conflicts_with = "defaults_only")]
    pub variants: Vec<Variant>,
    /// Only the tasks with these ids.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Append each task's result (with its conversation) to this JSONL file as it finishes.
    #[arg(long)]
    pub progress: Option<PathBuf>,
    /// Also write the whole report, conversations included, to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl AgentBenchArgs {
    /// The tasks of `--tasks` (else the built-in set) that `--only` keeps; none kept is an
    /// error.
    pub fn selected_tasks(&self) -> Result<Vec<Task>, EvalError> {
        let mut tasks = match &self.tasks {
            Some(p) => crate::tasks::load_tasks(p)
                .map_err(|e| EvalError::Task(format!("loading {}: {e}", p.display())))?,
            None => crate::tasks::builtin_tasks(),
        };
        if !self.only.is_empty() {
            tasks.retain(|t| self.only.contains(&t.id));
            if tasks.is_empty() {
                let none = "no task has one of the ids given to --only";
                return Err(EvalError::Task(none.into()));
            }
        }
        Ok(tasks)
    }

    /// The run: our defaults alone, the `--variants` given, or the whole matrix.
    pub fn bench_options(&self) -> BenchOptions {
        let variants = if self.defaults_only {
            vec![Variant::ours()]
        } else if !self.variants.is_empty() {
            self.variants.clone()
        } else {
            Variant::matrix()
        };
        BenchOptions {
            variants,
            task_limit: self.limit,
            progress_file: self.progress.clone(),
            ..BenchOptions::default()
        }
    }
}

/// Runs every task under every variant, one after another (timings stay comparable), each task
/// in its own fresh session at temperature 0.
pub async fn bench_agent(
    llm: Arc<dyn LlmBackend>,
    exec: Arc<SessionManager>,
    tasks: &[Task],
    opts: &BenchOptions,
) -> BenchReport {
    let tasks = &tasks[..opts.task_limit.unwrap_or(tasks.len()).min(tasks.len())];
    let mut report = BenchReport {
        model: llm.name(),
        summaries: Vec::new(),
        results: Vec::new(),
    };
    for variant in &opts.variants {
        if variant.grammar && !llm.supports_grammar() && opts.skip_unsupported_grammar {
            tracing::info!(variant = %variant.label(), "skipped: the backend does not support grammars");
            continue;
        }
        let mut results = Vec::new();
        for task in tasks {
            let r = run_one(llm.clone(), exec.clone(), task, variant, opts).await;
            tracing::info!(
                variant = %r.variant, task = %r.id, solved = r.solved, turns = r.turns,
                seconds = format!("{:.1}", r.seconds), answer = ?r.answer, "task done"
            );
            if let Some(path) = &opts.progress_file {
                append_line(path, &r);
            }
            results.push(r);
        }
        report
            .summaries
            .push(VariantSummary::of(variant.label(), &results));
        report.results.extend(results);
    }
    report
}

fn append_line(path: &std::path::Path, r: &TaskResult) {
    use std::io::Write;
    let written = serde_json::to_string(r)
        .map_err(std::io::Error::other)
        .and_then(|line| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(f, "{line}")
        });
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), "cannot write the progress file: {e}");
    }
}

async fn run_one(
    llm: Arc<dyn LlmBackend>,
    exec: Arc<SessionManager>,
    task: &Task,
    variant: &Variant,
    opts: &BenchOptions,
) -> TaskResult {
    let config = AgentConfig {
        mode: Mode::Task,
        prompt_style: variant.style,
        fence_fallback: variant.fence_fallback,
        grammar: variant.grammar,
        temperature: 0.0,
        seed: Some(0),
        limits: opts.limits.clone(),
        output_dir: opts.output_dir.clone(),
        ..AgentConfig::task()
    };
    let agent = Agent::new(llm, exec, config);
    let started = Instant::now();
    let outcome = agent.run_task(task.prompt.clone()).finish().await;
    let seconds = started.elapsed().as_secs_f64();
    let messages = agent.conversation().await.messages;
    agent.close().await;

    let parse = ParseOptions {
        fence_fallback: variant.fence_fallback,
        strict: variant.style == PromptStyle::Seed,
    };
    let mut format_errors = 0;
    let mut fenced_actions = 0;
    let mut errors = Vec::new();
    let mut discarded = Vec::new();
    for e in &outcome.events {
        match e {
            AgentEvent::AssistantMessage { text } => {
                let p = parse_reply(text, parse);
                if p.actions.is_empty() && p.solution.is_none() {
                    format_errors += 1;
                }
            }
            AgentEvent::CodeAction {
                origin: ActionOrigin::FencedBlock,
                ..
            } => fenced_actions += 1,
            AgentEvent::Error { message, .. } => errors.push(message.clone()),
            AgentEvent::ReplyDiscarded { text, .. } => discarded.push(text.clone()),
            _ => {}
        }
    }
    let solved = outcome
        .final_answer
        .as_deref()
        .is_some_and(|a| check_answer(&task.answer, a));
    TaskResult {
        id: task.id.clone(),
        variant: variant.label(),
        expected: task.answer.clone(),
        answer: outcome.final_answer.clone(),
        solved,
        end: outcome.end,
        turns: outcome.turns(),
        format_errors,
        fenced_actions,
        discarded,
        seconds,
        errors,
        messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_from_their_spec() {
        assert_eq!("ours:on:off".parse::<Variant>().ok(), Some(Variant::ours()));
        let v: Option<Variant> = "seed:off:on".parse().ok();
        assert_eq!(
            v,
            Some(Variant {
                style: PromptStyle::Seed,
                fence_fallback: false,
                grammar: true
            })
        );
        assert!("ours:on".parse::<Variant>().is_err());
        assert!("mine:on:off".parse::<Variant>().is_err());
        assert!("ours:yes:off".parse::<Variant>().is_err());
    }
}
