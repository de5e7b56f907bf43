//! The `codeact` command.

mod agent_cmd;
mod bench;
mod config;
mod engine;
mod exec;
mod llm;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// CodeAct: LLM agents whose actions are Python code, run in sandboxed persistent sessions.
#[derive(Debug, Parser)]
#[command(name = "codeact", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat with the agent; it runs Python to answer. `exit` saves the conversation.
    Chat(agent_cmd::ChatArgs),
    /// Solve one task; progress on stderr, the final answer alone as the last line of stdout.
    Run(agent_cmd::RunArgs),
    /// Serve the execution engine's HTTP API.
    Serve(serve::ServeArgs),
    /// Run one cell of Python in a session.
    Exec(exec::ExecArgs),
    /// Show what the sandbox enforces on this machine.
    Sandbox(config::EngineArgs),
    /// Run benchmarks and print comparison tables.
    Bench(bench::BenchArgs),
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CODEACT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,llama-cpp-2=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Each live session holds a few descriptors in the server: lift the soft limit to the hard one
/// so that thousands of sessions fit.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() {
    init_tracing();
    raise_open_files_limit();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async move { dispatch(cli).await });
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Chat(a) => agent_cmd::chat(a).await,
        Command::Run(a) => agent_cmd::run(a).await,
        Command::Serve(a) => serve::run(a).await.map(|_| 0),
        Command::Exec(a) => exec::run(a).await,
        Command::Bench(a) => bench::run(a).await,
        Command::Sandbox(a) => {
            let file = config::FileConfig::load(a.config.as_deref())?;
            let engine = a.resolve(&file)?;
            let sessions = engine::session_manager(&engine).await?;
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
