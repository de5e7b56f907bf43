//! `codeact eval`: the seed's benchmarks (M³ToolEval, API-Bank) against any model, with a
//! progress bar, resumable results under `--out`, and a summary table.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use codeact_eval::apibank::{self, ApiBankOptions};
use codeact_eval::m3tooleval::{self, ActionMode, M3Options, M3Settings};
use codeact_eval::Summary;

use crate::backends;
use crate::config::{Config, EngineArgs, LlmArgs};
use crate::progress::interruptible;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// M³ToolEval: 82 tool-use tasks in five domains, with code, JSON or text actions.
    #[command(name = "m3tooleval")]
    M3ToolEval(Box<M3Args>),
    /// API-Bank level 1: 399 scored API calls from 214 dialogues, with code, JSON or text actions.
    #[command(name = "apibank")]
    ApiBank(Box<ApiBankArgs>),
    /// Put several results directories (models) side by side.
    Compare {
        /// Directories written by `codeact eval … --out DIR`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Code,
    Json,
    Text,
    All,
}

impl ModeArg {
    fn modes(self) -> Vec<ActionMode> {
        match self {
            ModeArg::Code => vec![ActionMode::Code],
            ModeArg::Json => vec![ActionMode::Json],
            ModeArg::Text => vec![ActionMode::Text],
            ModeArg::All => ActionMode::ALL.to_vec(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct M3Args {
    /// Action format(s) to run.
    #[arg(long, value_enum, default_value = "all")]
    pub mode: ModeArg,
    /// Tasks in the benchmark's JSONL format (default: the 82 shipped tasks).
    #[arg(long)]
    pub tasks: Option<PathBuf>,
    /// Only tasks whose name matches this regular expression.
    #[arg(long)]
    pub filter: Option<String>,
    /// Replies per task.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub turns: u32,
    /// Most new tokens per reply.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// Runs in flight at once, each in its own sandboxed session.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub concurrency: usize,
    /// Runs of each task and mode; above 1 the summary gives pass@k, and the temperature
    /// defaults to 0.8.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub samples: u32,
    /// Results directory (default: eval-results/m3tooleval/<model>); a rerun skips what it holds.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Instead of evaluating, replay this vectors file against the tools and report.
    #[arg(long, value_name = "VECTORS.jsonl")]
    pub check_tools: Option<PathBuf>,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, clap::Args)]
pub struct ApiBankArgs {
    /// Action format(s) to run.
    #[arg(long, value_enum, default_value = "all")]
    pub mode: ModeArg,
    /// Only samples (`FILE#id`) whose name matches this regular expression.
    #[arg(long)]
    pub filter: Option<String>,
    /// Model calls in flight at once.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub concurrency: usize,
    /// Most new tokens per reply.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// Results directory (default: eval-results/apibank/<model>); a rerun skips what it holds.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also print the scoring with the original's distorting quirks fixed (always recorded).
    #[arg(long)]
    pub corrected: bool,
    /// Also run code replies as Python against the simulated APIs and score the call made.
    #[arg(long)]
    pub execute_code: bool,
    /// Instead of evaluating, replay this vectors file against the APIs and report.
    #[arg(long, value_name = "VECTORS.jsonl")]
    pub check_apis: Option<PathBuf>,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

pub async fn run(config: Option<&Path>, command: EvalCommand) -> Result<i32> {
    match command {
        EvalCommand::M3ToolEval(a) => m3(Config::load(config, &[&a.llm, &a.engine])?, &a).await,
        EvalCommand::ApiBank(a) => apibank(Config::load(config, &[&a.llm, &a.engine])?, &a).await,
        EvalCommand::Compare { dirs } => compare(&dirs),
    }
}

async fn m3(config: Config, args: &M3Args) -> Result<i32> {
    if let Some(vectors) = &args.check_tools {
        return check_vectors(&config, vectors, "tool", Bench::M3).await;
    }
    let (llm, sessions) = tokio::try_join!(
        backends::llm(&config.llm),
        backends::session_manager(&config)
    )?;
    let temperature = config
        .llm
        .temperature
        .unwrap_or(if args.samples > 1 { 0.8 } else { 0.0 });
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out("m3tooleval", &llm.name()));
    let options = M3Options {
        modes: args.mode.modes(),
        tasks: args.tasks.clone(),
        filter: args.filter.clone(),
        samples: args.samples,
        concurrency: args.concurrency,
        out: out.clone(),
        settings: M3Settings {
            turns: args.turns,
            max_tokens: args.max_tokens,
            temperature,
            ..M3Settings::default()
        },
    };
    let (opts, engine) = (&options, sessions.clone());
    let result = interruptible(&sessions, &out, |progress| async move {
        m3tooleval::evaluate(llm, engine, opts, &*progress).await
    })
    .await;
    let Some(summary) = result? else {
        return Ok(130);
    };
    summary.write(&out, m3tooleval::SUMMARY_STEM)?;
    print!("{}", summary.markdown());
    eprintln!(
        "results: {} (runs), {}.md/.json/.svg (summary)",
        out.join(m3tooleval::RECORDS_FILE).display(),
        out.join(m3tooleval::SUMMARY_STEM).display()
    );
    Ok(0)
}

#[derive(Clone, Copy)]
enum Bench {
    M3,
    ApiBank,
}

/// Replays a vectors file inside a sandboxed session; prints each failure, then `N/M … pass`.
async fn check_vectors(config: &Config, vectors: &Path, what: &str, bench: Bench) -> Result<i32> {
    let text = std::fs::read_to_string(vectors)
        .with_context(|| format!("reading {}", vectors.display()))?;
    let sessions = backends::session_manager(config).await?;
    let report = match bench {
        Bench::M3 => m3tooleval::check_tools(&sessions, &text).await,
        Bench::ApiBank => apibank::check_apis(&sessions, &text).await,
    };
    sessions.shutdown().await;
    let report = report?;
    for f in &report.failures {
        println!("{f}");
    }
    println!("{}/{} {what} vectors pass", report.passed, report.total);
    Ok(i32::from(report.passed != report.total))
}

async fn apibank(config: Config, args: &ApiBankArgs) -> Result<i32> {
    if let Some(vectors) = &args.check_apis {
        return check_vectors(&config, vectors, "API", Bench::ApiBank).await;
    }
    let (llm, sessions) = tokio::try_join!(
        backends::llm(&config.llm),
        backends::session_manager(&config)
    )?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out("apibank", &llm.name()));
    let options = ApiBankOptions {
        modes: args.mode.modes(),
        filter: args.filter.clone(),
        concurrency: args.concurrency,
        out: out.clone(),
        max_tokens: args.max_tokens,
        temperature: config.llm.temperature.unwrap_or(0.0),
        execute_code: args.execute_code,
    };
    let (opts, engine) = (&options, sessions.clone());
    let result = interruptible(&sessions, &out, |progress| async move {
        apibank::evaluate(llm, engine, opts, &*progress).await
    })
    .await;
    let Some((original, corrected)) = result? else {
        return Ok(130);
    };
    original.write(&out, apibank::SUMMARY_STEM)?;
    let corrected_stem = apibank::CORRECTED_SUMMARY_STEM;
    corrected.write(&out, corrected_stem)?;
    print!("{}", original.markdown());
    if args.corrected {
        println!();
        print!("{}", corrected.markdown());
    }
    eprintln!(
        "results: {} (samples), {}.md/.json/.svg and {}.md/… (summaries)",
        out.join(apibank::RECORDS_FILE).display(),
        out.join(apibank::SUMMARY_STEM).display(),
        out.join(corrected_stem).display()
    );
    Ok(0)
}

/// `eval-results/<benchmark>/<model>`, the model's name made safe for a path.
pub(crate) fn default_out(benchmark: &str, model: &str) -> PathBuf {
    let slug: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    PathBuf::from("eval-results").join(benchmark).join(slug)
}

/// Prints the summaries of several results directories side by side, one column each.
fn compare(dirs: &[PathBuf]) -> Result<i32> {
    let mut columns = Vec::new();
    for d in dirs {
        let mut summaries = Vec::new();
        for entry in std::fs::read_dir(d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            let is_summary = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-summary.json"));
            if is_summary {
                summaries.push(Summary::read(&path)?);
            }
        }
        summaries.sort_by(|a, b| a.benchmark.cmp(&b.benchmark));
        let model = summaries.first().map(|s| s.model.clone());
        let Some(model) = model else {
            anyhow::bail!("{} holds no *-summary.json", d.display());
        };
        columns.push((format!("{model} ({})", d.display()), summaries));
    }
    print!("{}", codeact_eval::summary::compare(&columns));
    Ok(0)
}
