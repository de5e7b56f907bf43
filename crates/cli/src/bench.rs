//! `codeact bench`: the one front end of every benchmark. The performance benchmarks live in
//! `codeact-bench`, the agent's evaluation in `codeact-eval`; here they get their configuration,
//! and their reports are printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use codeact_bench::exec::ExecBenchOptions;
use codeact_bench::llm::LlmBenchOptions;
use codeact_eval::AgentBenchArgs;

use crate::backends;
use crate::config::{Config, Layers, Overrides, WithBackends};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The execution engine against ipykernel (jupyter_client) and Jupyter Kernel Gateway:
    /// cold start, round trip, memory per idle session, sessions that fit.
    Exec(ExecBench),
    /// The embedded llama.cpp engine against llama-server and llama-bench on the same GGUF:
    /// prompt and generation speed, time to first token, memory, KV-cache reuse.
    Llm(LlmBench),
    /// The agent end to end on its task set, across prompt, fence-fallback and grammar variants.
    Agent(Box<WithBackends<AgentBenchArgs>>),
    /// The agent server under load: N concurrent conversations of code turns against
    /// `codeact serve --agent` with a scripted LLM and the real sandbox.
    Serve(ServeBench),
}

#[derive(Debug, clap::Args)]
pub struct ServeBench {
    #[command(flatten)]
    pub opts: codeact_bench::serve::ServeBenchOptions,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExecBench {
    #[command(flatten)]
    pub opts: ExecBenchOptions,
    /// Python interpreter of the codeact sessions.
    #[arg(long, env = "CODEACT_PYTHON")]
    pub python: Option<PathBuf>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct LlmBench {
    #[command(flatten)]
    pub opts: LlmBenchOptions,
    /// GGUF to measure (default: the configured model, else the default model).
    #[arg(long, env = "CODEACT_MODEL_PATH")]
    pub model_path: Option<PathBuf>,
    /// A known model to measure instead, fetched on first use: qwen2.5-coder-0.5b (default)
    /// or qwen2.5-coder-1.5b.
    #[arg(long, conflicts_with = "model_path")]
    pub model: Option<String>,
    /// Threads for every engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Overrides for ExecBench {
    fn apply(&self, l: &mut Layers) {
        l.exec.python = self.python.clone().or(l.exec.python.take());
    }
}

impl Overrides for LlmBench {
    fn apply(&self, l: &mut Layers) {
        if self.model.is_some() {
            l.llm.model_path = None;
            l.llm.model = self.model.clone();
        }
        l.llm.model_path = self.model_path.clone().or(l.llm.model_path.take());
        l.llm.threads = self.threads.or(l.llm.threads);
    }
}

fn progress(line: &str) {
    eprintln!("[bench] {line}");
}

/// Prints the report as pretty JSON, or as `text` (its tables).
fn show(report: &impl serde::Serialize, json: bool, text: std::fmt::Arguments) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{text}");
    }
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

pub async fn run(config: Option<&Path>, command: BenchCommand) -> Result<i32> {
    match command {
        BenchCommand::Exec(a) => {
            let c = Config::load(config, &[&a])?;
            let report = codeact_bench::exec::run(&a.opts, &c.exec, &progress).await?;
            if let Some(path) = &a.json_out {
                write_json(path, &report)?;
            }
            show(&report, a.json, format_args!("{report}"))?;
            Ok(if report.has_errors() { 1 } else { 0 })
        }
        BenchCommand::Llm(a) => {
            let c = Config::load(config, &[&a])?;
            let model = backends::model_path(&c.llm).await?;
            let report = codeact_bench::llm::run(&model, c.llm.threads, &a.opts, &progress).await?;
            show(&report, a.json, format_args!("{report}\n"))?;
            Ok(0)
        }
        BenchCommand::Agent(a) => agent(Config::load(config, &[&*a])?, &a.opts).await,
        BenchCommand::Serve(a) => {
            let binary = std::env::current_exe().context("finding the codeact binary")?;
            let report = codeact_bench::serve::run(&binary, &a.opts, &progress).await?;
            show(&report, a.json, format_args!("{report}"))?;
            Ok(if report.has_errors() { 1 } else { 0 })
        }
    }
}

async fn agent(config: Config, args: &AgentBenchArgs) -> Result<i32> {
    let tasks = args.selected_tasks()?;
    let (llm, sessions) = backends::llm_and_sessions(&config).await?;
    let opts = args.bench_options();
    let report = codeact_eval::bench_agent(llm, sessions.clone(), &tasks, &opts).await;
    sessions.shutdown().await;
    println!("{report}");
    print!("{}", report.failure_lines());
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(0)
}
