//! `codeact bench llm` (the embedded engine against llama-server and llama-bench) and
//! `codeact bench agent` (the agent's task set, end to end, across prompt variants).

use std::path::PathBuf;

use anyhow::{Context, Result};
use codeact_eval::{builtin_tasks, load_tasks, Variant};

use crate::config::{EngineArgs, FileConfig};
use crate::llm::LlmArgs;

#[derive(Debug, clap::Args)]
pub struct LlmBenchArgs {
    /// GGUF to measure (default: the bundled default model).
    #[arg(long)]
    pub model_path: Option<PathBuf>,
    /// Threads for every engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip llama-server and llama-bench.
    #[arg(long)]
    pub skip_peers: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn llm(args: LlmBenchArgs) -> Result<i32> {
    let opts = codeact_llm::BenchOptions {
        model: args.model_path,
        threads: args.threads,
        llama_server: !args.skip_peers,
        llama_bench: !args.skip_peers,
        progress: true,
        ..codeact_llm::BenchOptions::default()
    };
    let report = codeact_llm::bench_llm(opts).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
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
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub async fn agent(args: AgentBenchArgs) -> Result<i32> {
    let file = FileConfig::load(args.engine.config.as_deref())?;
    let engine = args.engine.resolve(&file)?;
    let mut tasks = match &args.tasks {
        Some(p) => load_tasks(p).with_context(|| format!("loading {}", p.display()))?,
        None => builtin_tasks(),
    };
    if !args.only.is_empty() {
        tasks.retain(|t| args.only.contains(&t.id));
        anyhow::ensure!(
            !tasks.is_empty(),
            "no task has one of the ids given to --only"
        );
    }
    let (llm, sessions) = tokio::try_join!(
        crate::llm::build(&args.llm, &file.llm),
        crate::engine::session_manager(&engine)
    )?;
    let opts = codeact_eval::BenchOptions {
        variants: if args.defaults_only {
            vec![Variant::ours()]
        } else if !args.variants.is_empty() {
            args.variants.clone()
        } else {
            Variant::matrix()
        },
        task_limit: args.limit,
        progress_file: args.progress.clone(),
        ..codeact_eval::BenchOptions::default()
    };
    let report = codeact_eval::bench_agent(llm, sessions.clone(), &tasks, &opts).await;
    sessions.shutdown().await;
    println!("{report}");
    print!("{}", report.failure_lines());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}
