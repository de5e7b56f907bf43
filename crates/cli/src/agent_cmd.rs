//! `codeact run` (one task, the answer on stdout) and `codeact chat` (interactive): the agent's
//! event stream shown on a terminal, as `codeact_agent::terminal` renders it.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};
use codeact_agent::terminal::end_reason;
use codeact_agent::{Agent, AgentConfig, CancellationToken, Conversation, Mode, TerminalText};
use codeact_protocol::{AgentEvent, EndReason};

use crate::config::{AgentArgs, Config};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The task.
    pub task: String,
    /// Write the event stream as JSON lines on stdout instead of progress and the answer.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub agent: AgentArgs,
}

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// Continue a saved conversation (its id).
    #[arg(long)]
    pub resume: Option<String>,
    #[command(flatten)]
    pub agent: AgentArgs,
}

async fn build(config: &Config, mode: Mode, resume: Option<&str>) -> Result<Agent> {
    let (llm, sessions) = crate::backends::llm_and_sessions(config).await?;
    let agent_config = AgentConfig {
        mode,
        ..config.agent.clone()
    };
    Ok(match resume {
        Some(id) => {
            let conv = Conversation::load_id(&config.conversations_dir, id)
                .with_context(|| format!("loading conversation {id}"))?;
            Agent::resume(llm, sessions, agent_config, conv)
        }
        None => Agent::new(llm, sessions, agent_config),
    })
}

/// Ctrl-C stops the run (not the program) while the returned task lives.
fn cancel_on_ctrl_c(cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    })
}

pub async fn run(config: Config, args: RunArgs) -> Result<i32> {
    let agent = build(&config, Mode::Task, None).await?;
    let mut run = agent.run_task(args.task.clone());
    let ctrl_c = cancel_on_ctrl_c(run.cancel_token());
    let render = TerminalText::new(std::io::stderr().is_terminal());
    let (mut answer, mut end) = (None, EndReason::Error);
    while let Some(ev) = run.next_event().await {
        if args.json {
            println!("{}", serde_json::to_string(&ev)?);
        } else if let Some(line) = render.progress(&ev) {
            eprintln!("{line}");
        }
        match ev {
            AgentEvent::FinalAnswer { text } => answer = Some(text),
            AgentEvent::End { reason } => end = reason,
            _ => {}
        }
    }
    ctrl_c.abort();
    agent.close().await;
    match &answer {
        Some(a) if !args.json => println!("{}", a.trim()),
        None if !args.json => eprintln!("no answer ({})", end_reason(&end)),
        _ => {}
    }
    Ok(if answer.is_some() { 0 } else { 1 })
}

pub async fn chat(config: Config, args: ChatArgs) -> Result<i32> {
    let agent = build(&config, Mode::Chat, args.resume.as_deref()).await?;
    let render = TerminalText::new(std::io::stdout().is_terminal());
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "codeact chat: type a message; `exit` to save and quit. Conversation {}",
            agent.id()
        );
    }
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            eprint!("{}", render.paint("1;32", "> "));
            std::io::stderr().flush().ok();
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading stdin")?;
        let msg = line.trim();
        if msg.is_empty() {
            continue;
        }
        if matches!(msg, "exit" | "quit" | "/exit" | "/quit") {
            break;
        }
        let mut run = agent.send(msg.to_string());
        let ctrl_c = cancel_on_ctrl_c(run.cancel_token());
        let mut stdout = std::io::stdout();
        while let Some(ev) = run.next_event().await {
            if let Some(shown) = render.chat(&ev) {
                write!(stdout, "{shown}")?;
                stdout.flush()?;
            }
        }
        ctrl_c.abort();
    }
    let conv = agent.conversation().await;
    let path = conv
        .save(&config.conversations_dir)
        .context("saving the conversation")?;
    agent.close().await;
    eprintln!(
        "conversation saved: {} (resume with --resume {})",
        path.display(),
        conv.id
    );
    Ok(0)
}
