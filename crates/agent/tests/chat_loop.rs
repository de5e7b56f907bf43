//! Chat mode, tools, images and saved conversations: a scripted model, real Python sessions.

mod common;

use std::sync::Arc;

use codeact_agent::prompt::{QUESTION_REPLY, SESSION_RESET};
use codeact_agent::{Agent, AgentConfig, Conversation, Mode};
use codeact_protocol::{AgentErrorCode, AgentEvent, EndReason, Role};
use common::{manager, ScriptedLlm, Step};

fn config(dir: &tempfile::TempDir) -> AgentConfig {
    AgentConfig {
        output_dir: dir.path().join("images"),
        ..AgentConfig::chat()
    }
}

#[tokio::test]
async fn chat_keeps_the_session_between_messages() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>\nx = 6 * 7\nprint(x)\n</execute>",
        "x is 42.",
        "<execute>print(x + 1)",
        "Now it is 43.",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let first = agent.send("set x").finish().await;
    assert_eq!(first.end, EndReason::Reply);
    assert!(first.final_answer.is_none());
    let second = agent.send("add one").finish().await;
    assert_eq!(second.end, EndReason::Reply);
    assert_eq!(llm.last_message(3), "Execution Output:\n43");
    let conv = agent.conversation().await;
    let roles: Vec<Role> = conv.messages.iter().map(|m| m.role).collect();
    use Role::*;
    assert_eq!(
        roles,
        [System, User, Assistant, User, Assistant, User, Assistant, User, Assistant]
    );
    assert!(!conv.messages[0].content.contains("<solution>"));
    Ok(())
}

#[tokio::test]
async fn execution_limit_per_message() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(1)",
        "<execute>print(2)",
        "<execute>print(3)",
        "ok",
    ]);
    let mut cfg = config(&dir);
    cfg.limits.max_executions = 2;
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    let out = agent.send("loop").finish().await;
    assert_eq!(out.end, EndReason::MaxExecutions);
    let runs = out
        .events
        .iter()
        .filter(|e| matches!(e, AgentEvent::CodeAction { .. }))
        .count();
    assert_eq!(runs, 2);
    // The limit is per user message: the next message may run code again.
    let again = agent.send("go on").finish().await;
    assert_eq!(again.end, EndReason::Reply);
    Ok(())
}

#[tokio::test]
async fn a_reply_right_after_a_failure_is_questioned_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&["<execute>int('x')", "It is 5.", "It is 5, I am sure."]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.send("q").finish().await;
    assert_eq!(out.end, EndReason::Reply);
    assert!(out.events.contains(&AgentEvent::Feedback {
        text: QUESTION_REPLY.into()
    }));
    assert!(llm
        .last_message(1)
        .contains("ValueError: invalid literal for int() with base 10: 'x'"));
    Ok(())
}

#[tokio::test]
async fn tools_are_loaded_and_described() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tools = dir.path().join("my_tools.py");
    std::fs::write(
        &tools,
        "import math\nfrom math import sqrt\n\n\
         def hypot(a: float, b: float) -> float:\n    \"\"\"Length of the hypotenuse.\n\n    More text.\"\"\"\n    return sqrt(a * a + b * b)\n\n\
         def greet(name, punctuation='!'):\n    return 'hi ' + name + punctuation\n\n\
         def _private():\n    pass\n",
    )?;
    let llm = ScriptedLlm::replies(&["<execute>print(hypot(3, 4), greet('bo'))", "5"]);
    let cfg = AgentConfig {
        tools_file: Some(tools),
        ..config(&dir)
    };
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    agent.send("use the tools").finish().await;
    let system = &llm.requests()[0].messages[0].content;
    assert!(
        system.contains("- hypot(a: float, b: float) -> float: Length of the hypotenuse.\n"),
        "{system}"
    );
    assert!(
        system.contains("- greet(name, punctuation='!')\n"),
        "{system}"
    );
    assert!(
        !system.contains("_private") && !system.contains("sqrt("),
        "{system}"
    );
    assert_eq!(llm.last_message(1), "Execution Output:\n5.0 hi bo!");
    assert_eq!(agent.tools().await.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_broken_tools_file_is_reported() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tools = dir.path().join("bad.py");
    std::fs::write(&tools, "def f(:\n")?;
    let llm = ScriptedLlm::replies(&["never used"]);
    let cfg = AgentConfig {
        tools_file: Some(tools),
        ..config(&dir)
    };
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    let out = agent.send("hi").finish().await;
    assert_eq!(out.end, EndReason::Error);
    let err = out.events.iter().find_map(|e| match e {
        AgentEvent::Error { code, message } => Some((*code, message.clone())),
        _ => None,
    });
    assert!(err.is_some_and(|(code, m)| code == AgentErrorCode::Tools && m.contains("SyntaxError")));
    Ok(())
}

#[tokio::test]
async fn images_are_saved_and_attached_when_the_model_accepts_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let code =
        "<execute>\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n\
        plt.plot([1, 2, 3], [1, 4, 9])\nplt.show()\n</execute>";
    let mut llm = ScriptedLlm::build(vec![Step::Reply(code.into()), Step::Reply("a dot".into())]);
    llm.images = true;
    let llm = Arc::new(llm);
    let sessions = manager().await?;
    let agent = Agent::new(llm.clone(), sessions.clone(), config(&dir));
    let out = agent.send("draw").finish().await;
    let images = out.events.iter().find_map(|e| match e {
        AgentEvent::Observation { images, .. } => Some(images.clone()),
        _ => None,
    });
    let images = images.unwrap_or_default();
    assert_eq!(images.len(), 1, "{:?}", out.events);
    assert!(std::fs::read(&images[0])?.starts_with(b"\x89PNG"));
    let msg = llm.requests()[1].messages.last().cloned();
    let msg = msg.ok_or_else(|| anyhow::anyhow!("no message"))?;
    // The model is told the session's copy, which its code can open.
    let name = "outputs/turn1-cell1-1.png";
    assert_eq!(
        msg.content,
        format!("Execution Output:\n[image saved to {name}]")
    );
    let session = agent.conversation().await.session_id;
    assert!(sessions
        .read_file(&session, name)
        .await?
        .starts_with(b"\x89PNG"));
    assert_eq!(msg.images.len(), 1);
    Ok(())
}

#[tokio::test]
async fn conversations_are_saved_and_resumed_without_python_state() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let conv_dir = dir.path().join("conv_data");
    let cfg = AgentConfig {
        conversation_dir: Some(conv_dir.clone()),
        ..config(&dir)
    };
    let llm = ScriptedLlm::replies(&["<execute>secret = 7\nprint(secret)", "Stored."]);
    let agent = Agent::new(llm.clone(), manager().await?, cfg.clone());
    agent.send("remember 7").finish().await;
    let id = agent.id().to_string();
    let saved = Conversation::load_id(&conv_dir, &id)?;
    assert_eq!(saved.model, "scripted");
    assert_eq!(saved.mode, Mode::Chat);
    assert_eq!(saved.messages.len(), 5);
    drop(agent);

    // A new process: a new session manager, the same conversation file.
    let llm2 =
        ScriptedLlm::replies(&["<execute>print(secret)", "It is gone.", "It is gone, sure."]);
    let resumed = Agent::resume(llm2.clone(), manager().await?, cfg, saved);
    let out = resumed.send("what was it?").finish().await;
    assert_eq!(out.end, EndReason::Reply, "{:?}", out.events);
    assert!(out.events.contains(&AgentEvent::Feedback {
        text: SESSION_RESET.into()
    }));
    let first = &llm2.requests()[0];
    assert_eq!(first.messages.len(), 6);
    assert_eq!(
        first.messages[5].content,
        format!("{SESSION_RESET}\n\nwhat was it?")
    );
    assert!(llm2.last_message(1).contains("NameError"));
    // user, code, output, reply, the loop's question, reply
    assert_eq!(Conversation::load_id(&conv_dir, &id)?.messages.len(), 11);
    assert_eq!(Conversation::list(&conv_dir)?.len(), 1);
    Ok(())
}

/// A resumed conversation whose code is replayed into a fresh session has its state back: the
/// model is not told that it is gone, and the next action uses it.
#[tokio::test]
async fn a_rebuilt_session_has_its_state_and_no_reset_note() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&["<execute>print(secret * 6)", "It is 42."]);
    let mut conv = Conversation::new("scripted", Mode::Chat, None);
    conv.messages = vec![
        codeact_protocol::Message::user("remember 7"),
        codeact_protocol::Message::assistant("<execute>secret = 7</execute>"),
        codeact_protocol::Message::user("[Execution complete. No output.]"),
        codeact_protocol::Message::assistant("Stored."),
    ];
    let agent = Agent::resume(llm.clone(), manager().await?, config(&dir), conv);
    let failed = agent
        .rebuild_session(&["secret = 7".to_string(), "1 / 0".to_string()])
        .await?;
    assert_eq!(failed, 1);
    let out = agent.send("times six?").finish().await;
    assert_eq!(out.end, EndReason::Reply, "{:?}", out.events);
    assert!(
        !out.events.contains(&AgentEvent::Feedback {
            text: SESSION_RESET.into()
        }),
        "{:?}",
        out.events
    );
    assert_eq!(llm.last_message(0), "times six?");
    assert!(
        llm.last_message(1).contains("42"),
        "{}",
        llm.last_message(1)
    );
    Ok(())
}

/// A conversation rebuilt without its system prompt (the server's history, when a first reply
/// was cut off by a crash, keeps only its messages) gets it back in front on the next run.
#[tokio::test]
async fn a_resumed_conversation_without_a_system_prompt_gets_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&["Fine."]);
    let mut conv = Conversation::new("scripted", Mode::Chat, None);
    conv.messages = vec![
        codeact_protocol::Message::user("hello"),
        codeact_protocol::Message::assistant("Hi."),
    ];
    let agent = Agent::resume(llm.clone(), manager().await?, config(&dir), conv);
    let out = agent.send("and now?").finish().await;
    assert_eq!(out.end, EndReason::Reply, "{:?}", out.events);
    let first = &llm.requests()[0];
    assert_eq!(first.messages[0].role, codeact_protocol::Role::System);
    assert_eq!(first.messages[1].content, "hello");
    assert_eq!(
        first
            .messages
            .iter()
            .filter(|m| m.role == codeact_protocol::Role::System)
            .count(),
        1
    );
    Ok(())
}
