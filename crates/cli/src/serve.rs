//! `codeact serve`: the execution engine's HTTP API.

use anyhow::{Context, Result};
use codeact_server::ServerConfig;

use crate::config::{Config, EngineArgs, Layers, Overrides};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (default 8000; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl Overrides for ServeArgs {
    fn apply(&self, l: &mut Layers) {
        self.engine.apply(l);
        l.server.host = self.host.clone().or(l.server.host.take());
        l.server.port = self.port.or(l.server.port);
    }
}

pub async fn run(config: Config) -> Result<()> {
    let sessions = crate::backends::session_manager(&config).await?;
    let (host, port) = (config.host.as_str(), config.port);
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
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
    let mut server = ServerConfig::default();
    server.max_body_bytes = config.max_body_bytes.unwrap_or(server.max_body_bytes);
    codeact_server::serve(listener, sessions, server, shutdown_signal()).await?;
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
