//! `codeact bench`: benchmarks (not tests) that print comparison tables.

mod exec;
mod models;
mod peers;
mod procfs;
mod report;
mod stats;

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The execution engine against ipykernel (jupyter_client) and Jupyter Kernel Gateway:
    /// cold start, round trip, memory per idle session, sessions that fit.
    Exec(exec::ExecBenchArgs),
    /// The embedded llama.cpp engine against llama-server and llama-bench on the same GGUF:
    /// prompt and generation speed, time to first token, memory, KV-cache reuse.
    Llm(models::LlmBenchArgs),
    /// The agent end to end on its task set, across prompt, fence-fallback and grammar variants.
    Agent(Box<models::AgentBenchArgs>),
}

pub async fn run(args: BenchArgs) -> Result<i32> {
    match args.command {
        BenchCommand::Exec(a) => exec::run(a).await,
        BenchCommand::Llm(a) => models::llm(a).await,
        BenchCommand::Agent(a) => models::agent(*a).await,
    }
}
