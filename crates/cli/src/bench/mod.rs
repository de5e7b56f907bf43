//! `codeact bench`: benchmarks (not tests) that print comparison tables.

mod exec;
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
}

pub async fn run(args: BenchArgs) -> Result<i32> {
    match args.command {
        BenchCommand::Exec(a) => exec::run(a).await,
    }
}
