//! The `codeact` command: parses the command line, resolves the one configuration and hands
//! over to the crate that does the work. It is the one crate that writes to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod agent_cmd;
mod backends;
mod bench;
mod config;
mod data;
mod eval;
mod exec;
mod progress;
mod serve;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use config::{Config, EngineArgs};

/// CodeAct: LLM agents whose actions are Python code, run in sandboxed persistent sessions.
#[derive(Debug, Parser)]
#[command(name = "codeact", version, about)]
struct Cli {
    /// Configuration file (default: ~/.config/codeact/config.toml when it exists).
    #[arg(long, global = true, env = "CODEACT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat with the agent; it runs Python to answer. `exit` saves the conversation.
    Chat(agent_cmd::ChatArgs),
    /// Solve one task; progress on stderr, the final answer alone as the last line of stdout.
    Run(agent_cmd::RunArgs),
    /// Serve the execution engine's HTTP API (and, with --agent, the agent as an OpenAI model).
    Serve(serve::ServeArgs),
    /// Run one cell of Python in a session.
    Exec(exec::ExecArgs),
    /// Show what the sandbox enforces on this machine.
    Sandbox(EngineArgs),
    /// Evaluate a model on the seed's benchmarks (M³ToolEval, API-Bank): code vs JSON vs text actions.
    Eval {
        #[command(subcommand)]
        command: eval::EvalCommand,
    },
    /// CodeActInstruct trajectory data: generate, verify, filter, show statistics, export.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Run benchmarks and print comparison tables.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CODEACT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,llama-cpp-2=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() {
    init_tracing();
    // Each live session holds a descriptor of this process's.
    codeact_exec::raise_open_files_limit();
    let cli = Cli::parse();
    let code = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(dispatch(cli)));
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn dispatch(cli: Cli) -> Result<i32> {
    let path = cli.config.as_deref();
    match cli.command {
        Command::Chat(a) => agent_cmd::chat(Config::load(path, &[&a.agent])?, a).await,
        Command::Run(a) => agent_cmd::run(Config::load(path, &[&a.agent])?, a).await,
        Command::Serve(a) => serve::run(Config::load(path, &[&a])?, &a).await.map(|_| 0),
        Command::Exec(a) => exec::run(path, a).await,
        Command::Bench { command } => bench::run(path, command).await,
        Command::Eval { command } => eval::run(path, command).await,
        Command::Data { command } => data::run(path, command).await,
        Command::Sandbox(a) => {
            let sessions = backends::session_manager(&Config::load(path, &[&a])?).await?;
            println!("{}", serde_json::to_string_pretty(&sessions.report())?);
            sessions.shutdown().await;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
