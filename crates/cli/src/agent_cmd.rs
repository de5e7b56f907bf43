//! `codeact run` (one task, the answer on stdout) and `codeact chat` (interactive).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use codeact_agent::{Agent, AgentConfig, Conversation, Mode, SelfConsistency};
use codeact_protocol::{AgentEvent, EndReason};

use crate::config::{AgentSection, EngineArgs, FileConfig};
use crate::llm::LlmArgs;

/// Agent flags shared by `run` and `chat`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A Python file whose public functions become tools of the agent.
    #[arg(long)]
    pub tools: Option<PathBuf>,
    /// Most model turns for a task.
    #[arg(long)]
    pub max_turns: Option<u32>,
    /// Constrain replies with a grammar (embedded engine and llama-server only).
    #[arg(long)]
    pub grammar: bool,
    /// Do not run a fenced ```python block when a reply has no <execute> tag.
    #[arg(long)]
    pub no_fence_fallback: bool,
    /// Sample this many attempts and take the majority answer (task mode).
    #[arg(long)]
    pub samples: Option<u32>,
    /// Where conversations are saved (default ~/.local/share/codeact/conversations).
    #[arg(long)]
    pub conversations: Option<PathBuf>,
    /// Where figures are saved (default ./codeact-figures).
    #[arg(long)]
    pub figures: Option<PathBuf>,
}

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

fn conversations_dir(args: &AgentArgs, file: &AgentSection) -> PathBuf {
    args.conversations
        .clone()
        .or(file.conversations_dir.clone())
        .unwrap_or_else(|| {
            dirs::data_local_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("codeact/conversations")
        })
}

async fn build(args: &AgentArgs, mode: Mode, resume: Option<&str>) -> Result<(Agent, PathBuf)> {
    let file = FileConfig::load(args.engine.config.as_deref())?;
    let engine = args.engine.resolve(&file)?;
    let network = engine.exec.sandbox.network == codeact_exec::NetworkMode::Egress
        || engine.exec.sandbox.mode == codeact_exec::SandboxMode::None;
    let (llm, sessions) = tokio::try_join!(
        crate::llm::build(&args.llm, &file.llm),
        crate::engine::session_manager(&engine)
    )?;
    let a = &file.agent;
    let mut config = AgentConfig {
        mode,
        ..AgentConfig::default()
    };
    config.network = Some(network);
    config.fence_fallback = !args.no_fence_fallback && a.fence_fallback.unwrap_or(true);
    config.grammar = args.grammar || a.grammar.unwrap_or(false);
    if let Some(n) = a.resample_repeats {
        config.sampling.resample_repeats = n;
    }
    if let Some(on) = a.answer_reminder {
        config.answer_reminder = on;
    }
    config.temperature = args.llm.temperature.or(file.llm.temperature).unwrap_or(0.0);
    config.tools_file = args.tools.clone().or(a.tools.clone());
    config.output_dir = args
        .figures
        .clone()
        .or(a.figures_dir.clone())
        .unwrap_or_else(|| PathBuf::from("codeact-figures"));
    let conv_dir = conversations_dir(args, a);
    config.conversation_dir = Some(conv_dir.clone());
    if let Some(t) = args.max_turns.or(a.max_turns) {
        config.limits.max_turns = t;
    }
    if let Some(t) = a.max_executions_per_message {
        config.limits.max_executions = t;
    }
    if let Some(c) = a.context_chars {
        config.limits.context_chars = c;
    }
    if let Some(m) = file.llm.max_tokens {
        config.limits.max_tokens = m;
    }
    if let Some(n) = args.samples.or(a.samples).filter(|n| *n > 1) {
        config.self_consistency = Some(SelfConsistency {
            samples: n,
            ..SelfConsistency::default()
        });
    }
    let agent = match resume {
        Some(id) => {
            let conv = Conversation::load_id(&conv_dir, id)
                .with_context(|| format!("loading conversation {id}"))?;
            Agent::resume(llm, sessions, config, conv)
        }
        None => Agent::new(llm, sessions, config),
    };
    Ok((agent, conv_dir))
}

/// Terminal styling, only when writing to a terminal.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

pub async fn run(args: RunArgs) -> Result<i32> {
    let (agent, _) = build(&args.agent, Mode::Task, None).await?;
    let mut run = agent.run_task(args.task.clone());
    let cancel = run.cancel_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    let style = Style {
        on: std::io::stderr().is_terminal(),
    };
    let mut answer = None;
    let mut end = EndReason::Error;
    while let Some(ev) = run.next_event().await {
        if args.json {
            println!("{}", serde_json::to_string(&ev)?);
        } else {
            progress(&style, &ev);
        }
        match ev {
            AgentEvent::FinalAnswer { text } => answer = Some(text),
            AgentEvent::End { reason } => end = reason,
            _ => {}
        }
    }
    agent.close().await;
    if !args.json {
        match &answer {
            Some(a) => println!("{}", a.trim()),
            None => eprintln!(
                "no answer ({})",
                serde_json::to_string(&end)?.trim_matches('"')
            ),
        }
    }
    Ok(if answer.is_some() { 0 } else { 1 })
}

/// Progress of a task on stderr.
fn progress(style: &Style, ev: &AgentEvent) {
    match ev {
        AgentEvent::TurnStarted { turn } => {
            eprintln!("{}", style.paint("2", &format!("── turn {turn}")))
        }
        AgentEvent::CodeAction { code, .. } => eprintln!("{}", style.paint("36", code.trim_end())),
        AgentEvent::Observation { text, images, .. } => {
            eprintln!("{}", style.paint("2", text.trim_end()));
            for p in images {
                eprintln!("{}", style.paint("33", &format!("figure saved: {p}")));
            }
        }
        AgentEvent::Feedback { text } => eprintln!("{}", style.paint("35", text.trim_end())),
        AgentEvent::ReplyDiscarded { reason, .. } => {
            eprintln!("{}", style.paint("35", &format!("[{reason}]")))
        }
        AgentEvent::Error { message, .. } => {
            eprintln!("{}", style.paint("31", &format!("error: {message}")))
        }
        _ => {}
    }
}

pub async fn chat(args: ChatArgs) -> Result<i32> {
    let (agent, conv_dir) = build(&args.agent, Mode::Chat, args.resume.as_deref()).await?;
    let out_style = Style {
        on: std::io::stdout().is_terminal(),
    };
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "codeact chat: type a message; `exit` to save and quit. Conversation {}",
            agent.id()
        );
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("{}", out_style.paint("1;32", "> "));
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
        let cancel = run.cancel_token();
        let ctrlc = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        });
        let mut stdout = std::io::stdout();
        while let Some(ev) = run.next_event().await {
            match &ev {
                AgentEvent::AssistantDelta { text } => {
                    write!(stdout, "{text}")?;
                    stdout.flush()?;
                }
                AgentEvent::AssistantMessage { .. } => writeln!(stdout)?,
                AgentEvent::Observation { text, images, .. } => {
                    writeln!(
                        stdout,
                        "{}",
                        out_style.paint("2", &format!("┌ output\n{}\n└", text.trim_end()))
                    )?;
                    for p in images {
                        writeln!(
                            stdout,
                            "{}",
                            out_style.paint("33", &format!("figure saved: {p}"))
                        )?;
                    }
                }
                AgentEvent::Feedback { text } => {
                    writeln!(stdout, "{}", out_style.paint("35", text.trim_end()))?
                }
                AgentEvent::ReplyDiscarded { reason, .. } => writeln!(
                    stdout,
                    "\n{}",
                    out_style.paint("35", &format!("[{reason}]"))
                )?,
                AgentEvent::Error { message, .. } => writeln!(
                    stdout,
                    "{}",
                    out_style.paint("31", &format!("error: {message}"))
                )?,
                AgentEvent::End { reason } if *reason != EndReason::Reply => writeln!(
                    stdout,
                    "{}",
                    out_style.paint(
                        "2",
                        &format!("[{}]", serde_json::to_string(reason)?.trim_matches('"'))
                    )
                )?,
                _ => {}
            }
        }
        ctrlc.abort();
    }
    let conv = agent.conversation().await;
    let path = conv.save(&conv_dir).context("saving the conversation")?;
    agent.close().await;
    eprintln!(
        "conversation saved: {} (resume with --resume {})",
        path.display(),
        conv.id
    );
    Ok(0)
}
