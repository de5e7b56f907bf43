//! `codeact serve`: the execution engine's HTTP API, and with `--agent` the CodeAct agent as
//! an OpenAI-compatible model.

use std::sync::Arc;

use anyhow::{Context, Result};
use codeact_server::history::History;
use codeact_server::AgentService;

use crate::config::{AgentArgs, Config, Layers, Overrides};

/// The model id under which `--agent` offers the agent.
const AGENT_MODEL: &str = "codeact";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (default 8000; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Also offer the agent at /v1/chat/completions and /v1/models (model `codeact`), with
    /// the LLM backend of the [llm] settings.
    #[arg(long)]
    pub agent: bool,
    /// Header naming a conversation whose agent and Python session are kept across requests
    /// (Open WebUI's X-OpenWebUI-Chat-Id is always read too).
    #[arg(long, default_value = "X-Conversation-Id")]
    pub conversation_header: String,
    /// Where conversations of the web chat and /v1/conversations are kept: a SQLite file or a
    /// postgres:// URL (default ~/.local/share/codeact/history.sqlite3; also $CODEACT_HISTORY).
    #[arg(long, value_name = "PATH|URL")]
    pub history: Option<String>,
    #[command(flatten)]
    pub agent_args: AgentArgs,
}

impl Overrides for ServeArgs {
    fn apply(&self, l: &mut Layers) {
        self.agent_args.apply(l);
        l.server.host = self.host.clone().or(l.server.host.take());
        l.server.port = self.port.or(l.server.port);
        l.server.history = self.history.clone().or(l.server.history.take());
    }
}

pub async fn run(config: Config, args: &ServeArgs) -> Result<()> {
    let (host, port) = (config.host.as_str(), config.port);
    // Bound first, so that an address the keys cannot protect is refused before anything loads.
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    codeact_server::check_exposure(listener.local_addr()?, &config.server)
        .map_err(anyhow::Error::msg)?;
    let sessions = crate::backends::session_manager(&config).await?;
    let agent = if args.agent {
        let llm = crate::backends::llm(&config.llm).await?;
        eprintln!("agent: model {AGENT_MODEL:?} runs on {}", llm.name());
        let history = History::open_setting(config.history.as_deref()).await?;
        Some(Arc::new(
            AgentService::new(
                llm,
                sessions.clone(),
                config.agent.clone(),
                AGENT_MODEL,
                &args.conversation_header,
            )
            .with_history(history),
        ))
    } else {
        None
    };
    // The one line on stdout: scripts wait for it to learn the address.
    println!("codeact serving on http://{}", listener.local_addr()?);
    let report = sessions.report();
    eprintln!(
        "sandbox: {} (isolated: {})",
        report.backend, report.isolated
    );
    for line in report.enforced_lines() {
        eprintln!("  enforced: {line}");
    }
    for line in &report.missing {
        eprintln!("  missing:  {line}");
    }
    let server = config.server.clone();
    codeact_server::serve(listener, sessions, server, agent, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
