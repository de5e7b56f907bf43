//! `codeact run` (one task, the answer on stdout) and `codeact chat` (interactive): the agent's
//! event stream shown on a terminal.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};
use codeact_agent::{Agent, AgentConfig, CancellationToken, Conversation, Mode};
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
    let (llm, sessions) = tokio::try_join!(
        crate::backends::llm(&config.llm),
        crate::backends::session_manager(config)
    )?;
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

/// ANSI colours, only when writing to a terminal.
struct Style(bool);

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The events both front ends show the same way (`None`: not shown).
    fn common(&self, ev: &AgentEvent) -> Option<String> {
        Some(match ev {
            AgentEvent::Feedback { text } => self.paint("35", text.trim_end()),
            AgentEvent::ReplyDiscarded { reason, .. } => self.paint("35", &format!("[{reason}]")),
            AgentEvent::Error { message, .. } => self.paint("31", &format!("error: {message}")),
            _ => return None,
        })
    }

    fn figures(&self, images: &[String]) -> String {
        let lines = images
            .iter()
            .map(|p| self.paint("33", &format!("figure saved: {p}")));
        lines.map(|l| format!("\n{l}")).collect()
    }
}

fn end_reason(reason: &EndReason) -> Result<String> {
    Ok(serde_json::to_string(reason)?.trim_matches('"').to_string())
}

pub async fn run(config: Config, args: RunArgs) -> Result<i32> {
    let agent = build(&config, Mode::Task, None).await?;
    let mut run = agent.run_task(args.task.clone());
    let ctrl_c = cancel_on_ctrl_c(run.cancel_token());
    let style = Style(std::io::stderr().is_terminal());
    let (mut answer, mut end) = (None, EndReason::Error);
    while let Some(ev) = run.next_event().await {
        if args.json {
            println!("{}", serde_json::to_string(&ev)?);
        } else if let Some(line) = progress(&style, &ev) {
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
        None if !args.json => eprintln!("no answer ({})", end_reason(&end)?),
        _ => {}
    }
    Ok(if answer.is_some() { 0 } else { 1 })
}

/// A task's progress line for stderr.
fn progress(style: &Style, ev: &AgentEvent) -> Option<String> {
    match ev {
        AgentEvent::TurnStarted { turn } => Some(style.paint("2", &format!("── turn {turn}"))),
        AgentEvent::CodeAction { code, .. } => Some(style.paint("36", code.trim_end())),
        AgentEvent::Observation { text, images, .. } => {
            Some(style.paint("2", text.trim_end()) + &style.figures(images))
        }
        _ => style.common(ev),
    }
}

/// What the chat shows of an event on stdout; replies stream as they come.
fn chat_text(style: &Style, ev: &AgentEvent) -> Result<Option<String>> {
    Ok(match ev {
        AgentEvent::AssistantDelta { text } => Some(text.clone()),
        AgentEvent::AssistantMessage { .. } => Some("\n".into()),
        AgentEvent::Observation { text, images, .. } => {
            let out = style.paint("2", &format!("┌ output\n{}\n└", text.trim_end()));
            Some(out + &style.figures(images) + "\n")
        }
        AgentEvent::ReplyDiscarded { .. } => style.common(ev).map(|l| format!("\n{l}\n")),
        AgentEvent::End { reason } if *reason != EndReason::Reply => Some(format!(
            "{}\n",
            style.paint("2", &format!("[{}]", end_reason(reason)?))
        )),
        _ => style.common(ev).map(|l| l + "\n"),
    })
}

pub async fn chat(config: Config, args: ChatArgs) -> Result<i32> {
    let agent = build(&config, Mode::Chat, args.resume.as_deref()).await?;
    let style = Style(std::io::stdout().is_terminal());
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
            eprint!("{}", style.paint("1;32", "> "));
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
            if let Some(text) = chat_text(&style, &ev)? {
                write!(stdout, "{text}")?;
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
