//! `codeact serve`: the execution engine's HTTP API.

use anyhow::{Context, Result};
use codeact_server::ServerConfig;

use crate::config::{EngineArgs, FileConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let file = FileConfig::load(args.engine.config.as_deref())?;
    let engine = args.engine.resolve(&file)?;
    let host = args
        .host
        .or(file.server.host.clone())
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.or(file.server.port).unwrap_or(8000);
    let sessions = crate::engine::session_manager(&engine).await?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let addr = listener.local_addr()?;
    // The one line on stdout: scripts wait for it to learn the address.
    println!("codeact serving on http://{addr}");
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
    let config = ServerConfig {
        max_body_bytes: file
            .server
            .max_body_bytes
            .unwrap_or(ServerConfig::default().max_body_bytes),
    };
    codeact_server::serve(listener, sessions, config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
