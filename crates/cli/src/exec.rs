//! `codeact exec`: run one cell against a running server or an in-process engine.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use codeact_protocol::http::{ErrorEnvelope, ExecuteRequest};
use codeact_protocol::{ExecResult, ExecStatus, Output, StreamName};

use crate::config::{Config, EngineArgs};

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Session to run the cell in (created on first use).
    #[arg(long, default_value = "default")]
    pub session: String,
    /// URL of a running `codeact serve`; without it the cell runs in a fresh local engine.
    #[arg(long, env = "CODEACT_SERVER")]
    pub server: Option<String>,
    /// Print the typed result as JSON instead of plain output.
    #[arg(long)]
    pub json: bool,
    /// The code; `-` reads it from standard input.
    pub code: String,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `config` is read only when the cell runs here, not on a server.
pub async fn run(config: Option<&Path>, args: ExecArgs) -> Result<i32> {
    let code = if args.code == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading code from stdin")?
    } else {
        args.code.clone()
    };
    let result = match &args.server {
        Some(url) => remote(url, &args.session, &code).await?,
        None => {
            let config = Config::load(config, &[&args.engine])?;
            let sessions = crate::backends::session_manager(&config).await?;
            let r = sessions.execute(&args.session, &code).await;
            sessions.shutdown().await;
            r?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print_result(&result)?;
    }
    Ok(match result.status {
        ExecStatus::Ok => 0,
        _ => 1,
    })
}

async fn remote(url: &str, session: &str, code: &str) -> Result<ExecResult> {
    let url = format!(
        "{}/v1/sessions/{}/execute",
        url.trim_end_matches('/'),
        session
    );
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&ExecuteRequest::new(code))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        match serde_json::from_str::<ErrorEnvelope>(&body) {
            Ok(e) => bail!("the server refused the cell ({status}): {e}"),
            Err(_) => bail!("server answered {status}: {body}"),
        }
    }
    serde_json::from_str(&body).context("invalid reply from the server")
}

fn print_result(r: &ExecResult) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for o in &r.outputs {
        match o {
            Output::Stream {
                name: StreamName::Stderr,
                text,
            } => err.write_all(text.as_bytes())?,
            Output::Error { .. } => err.write_all(o.text().as_bytes())?,
            _ => out.write_all(o.text().as_bytes())?,
        }
    }
    if let Some(n) = &r.notice {
        writeln!(err, "{n}")?;
    }
    out.flush()?;
    Ok(())
}
