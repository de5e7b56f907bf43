//! Stop sequences through the loop: the real OpenAI client against a scripted
//! OpenAI-compatible server, real Python sessions.
//!
//! A server may stream the beginning of the stop string before it stops, or the whole of it;
//! a stop may fall inside a string literal or comment of the code, where it is not the end of
//! the action and the reply is continued.

mod common;

use std::sync::Arc;

use codeact_agent::prompt::ANSWER_REMINDER;
use codeact_agent::{Agent, AgentConfig, Outcome};
use codeact_exec::SessionManager;
use codeact_llm::Continuation;
use codeact_protocol::{ActionOrigin, AgentEvent, EndReason};
use common::openai_server::{ScriptedServer, Served};
use common::{feedback, manager};
use serde_json::Value;

const STOP: &str = "</execute>";

fn config(dir: &tempfile::TempDir) -> AgentConfig {
    AgentConfig {
        output_dir: dir.path().join("images"),
        ..AgentConfig::task()
    }
}

fn model(text: &str) -> Served {
    Served::Model(text.to_string())
}

fn codes(o: &Outcome) -> Vec<String> {
    o.events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::CodeAction { code, origin } => {
                assert_eq!(*origin, ActionOrigin::ExecuteTag);
                Some(code.clone())
            }
            _ => None,
        })
        .collect()
}

/// The content of the last message of a request body.
fn last_content(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn last_role(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["role"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// What the model is shown after a task's successful cell.
fn shown(output: &str) -> String {
    format!("Execution Output:\n{output}\n\n{ANSWER_REMINDER}")
}

/// Runs one task against a server playing `replies`.
async fn run(
    exec: &Arc<SessionManager>,
    replies: Vec<Served>,
    continuation: Continuation,
) -> anyhow::Result<(Outcome, ScriptedServer, Agent)> {
    let dir = tempfile::tempdir()?;
    let server = ScriptedServer::start(replies).await?;
    let agent = Agent::new(
        server.backend(continuation)?,
        Arc::clone(exec),
        config(&dir),
    );
    let out = agent.run_task("What is 6 * 7?").finish().await;
    Ok((out, server, agent))
}

#[tokio::test]
async fn the_beginning_of_the_stop_is_removed_whatever_its_length() -> anyhow::Result<()> {
    let exec = manager().await?;
    // 1..=9: the beginning, `<` to `</execute`; 10: a server that streams the whole stop;
    // 0: one that strips it.
    for leak in 0..=STOP.len() {
        let reply = "Let me compute.\n<execute>\nprint(6 * 7)\n</execute>\nExecution output: 42";
        let replies = vec![
            Served::Leaky(reply.into(), leak),
            model("<solution>42</solution>"),
        ];
        let (out, server, agent) = run(&exec, replies, Continuation::Prefill).await?;
        assert_eq!(out.end, EndReason::Solution, "leak {leak}");
        assert_eq!(codes(&out), ["print(6 * 7)"], "leak {leak}");
        // A right answer after a cell that printed it is not questioned.
        assert!(
            feedback(&out).is_empty(),
            "leak {leak}: {:?}",
            feedback(&out)
        );
        assert_eq!(out.final_answer.as_deref(), Some("42"));
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0]["stop"], serde_json::json!([STOP]));
        assert_eq!(last_content(&requests[1]), shown("42"));
        let conv = agent.conversation().await;
        assert_eq!(
            conv.messages[2].content,
            "Let me compute.\n<execute>\nprint(6 * 7)\n</execute>"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_beginning_of_the_stop_with_whitespace_around_it_is_removed() -> anyhow::Result<()> {
    let exec = manager().await?;
    for pieces in [
        vec!["<execute>\nprint(6 * 7)\n", "</exe", "\n"],
        vec!["<execute>\nprint(6 * 7)\n", "</", " \n "],
        vec!["<execute>\nprint(6 * 7)\n  </execute"],
        vec!["<execute>\nprint(6 * 7)", "\n\n<"],
        vec!["<execute>print(6 * 7) </ex"],
    ] {
        let pieces: Vec<String> = pieces.into_iter().map(String::from).collect();
        let replies = vec![
            Served::Exact(pieces.clone(), "stop".into()),
            model("<solution>42</solution>"),
        ];
        let (out, server, _) = run(&exec, replies, Continuation::Prefill).await?;
        assert_eq!(codes(&out), ["print(6 * 7)"], "{pieces:?}");
        assert_eq!(last_content(&server.requests()[1]), shown("42"));
        assert_eq!(out.final_answer.as_deref(), Some("42"), "{pieces:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_reply_cut_at_max_tokens_is_not_a_stop() -> anyhow::Result<()> {
    let exec = manager().await?;
    // The model's own text ends like the stop, but the server ran out of tokens: the code is
    // what the model wrote, and it is neither trimmed nor continued.
    for (pieces, code) in [
        (
            vec!["<execute>\nprint(6 * 7)\n</exe"],
            "print(6 * 7)\n</exe",
        ),
        (vec!["<execute>\ntag = \"</exe"], "tag = \"</exe"),
        (vec!["<execute>\ntag = \""], "tag = \""),
    ] {
        let pieces: Vec<String> = pieces.into_iter().map(String::from).collect();
        let replies = vec![
            Served::Exact(pieces, "length".into()),
            model("<solution>42</solution>"),
            model("<solution>42</solution>"),
        ];
        let (out, server, _) = run(&exec, replies, Continuation::Prefill).await?;
        assert_eq!(codes(&out), [code]);
        let requests = server.requests();
        assert!(requests.iter().all(|r| last_role(r) != "assistant"));
        assert!(last_content(&requests[1]).contains("SyntaxError"));
    }
    Ok(())
}

/// A reply whose code holds `</execute>` in a string or comment, the code, and what it prints.
const LITERALS: &[(&str, &str)] = &[
    ("tag = \"</execute>\"\nprint(tag)", "</execute>"),
    ("tag = '</execute>'\nprint(tag)", "</execute>"),
    (
        "s = \"\"\"\n<execute>\nprint(1)\n</execute>\n\"\"\"\nprint(s.count('</execute>'))",
        "1",
    ),
    ("s = '''a</execute>b'''\nprint(len(s))", "12"),
    ("x = 5\nprint(f\"{x}</execute>\")", "5</execute>"),
    (
        "x = 5\nprint(f'{x!r:>3}</execute>{\"}\"}')",
        "  5</execute>}",
    ),
    ("# the block ends with </execute>\nprint(6 * 7)", "42"),
    ("print(r\"\\d</execute>\")", "\\d</execute>"),
    ("print(b'</execute>')", "b'</execute>'"),
    ("print(Rb\"</execute>\")", "b'</execute>'"),
    ("print(\"say \\\"</execute>\\\"\")", "say \"</execute>\""),
    (
        "print('</execute> and </execute>')",
        "</execute> and </execute>",
    ),
];

#[tokio::test]
async fn a_stop_inside_a_string_or_comment_is_continued_to_the_real_end() -> anyhow::Result<()> {
    let exec = manager().await?;
    // A server that strips the stop, one that streams its beginning, one that streams the
    // unfinished reply again before continuing it.
    for server_kind in 0..3 {
        for (code, printed) in LITERALS {
            let reply =
                format!("Let me check.\n<execute>\n{code}\n</execute>\nExecution output: ?");
            let served = match server_kind {
                0 => Served::Model(reply.clone()),
                1 => Served::Leaky(reply.clone(), 5),
                _ => Served::Echoing(reply.clone()),
            };
            let replies = vec![served, model("<solution>done</solution>")];
            let (out, server, agent) = run(&exec, replies, Continuation::Prefill).await?;
            assert_eq!(codes(&out), [*code], "{code:?} server {server_kind}");
            assert_eq!(out.end, EndReason::Solution, "{code:?}");
            assert!(feedback(&out).is_empty(), "{code:?}: {:?}", feedback(&out));
            let requests = server.requests();
            let stops_inside = code.matches(STOP).count();
            assert_eq!(
                requests.len(),
                stops_inside + 2,
                "{code:?} server {server_kind}"
            );
            // Each continuation sends the reply so far, the stop text kept, as the
            // assistant's unfinished message.
            for (i, r) in requests[1..=stops_inside].iter().enumerate() {
                assert_eq!(last_role(r), "assistant", "{code:?}");
                let sent = last_content(r);
                assert!(sent.ends_with(STOP) && reply.starts_with(&sent), "{sent:?}");
                assert_eq!(sent.matches(STOP).count(), i + 1);
            }
            assert_eq!(last_content(&requests[stops_inside + 1]), shown(printed));
            let conv = agent.conversation().await;
            assert_eq!(
                conv.messages[2].content,
                format!("Let me check.\n<execute>\n{code}\n</execute>")
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_stop_in_code_is_not_continued() -> anyhow::Result<()> {
    let exec = manager().await?;
    for code in [
        "print(\"done\")",
        "# it's the answer\nprint(42)",
        "s = '''\n'''\nprint(42)",
        "x = \"unterminated\nprint(42)",
        "print(f\"{'{'}\")",
    ] {
        let replies = vec![
            model(&format!(
                "<execute>\n{code}\n</execute>\n<execute>\nprint(1)\n</execute>"
            )),
            model("<solution>42</solution>"),
            model("<solution>42</solution>"),
        ];
        let (out, server, _) = run(&exec, replies, Continuation::Prefill).await?;
        assert_eq!(codes(&out), [code]);
        let requests = server.requests();
        assert!(
            requests.iter().all(|r| last_role(r) != "assistant"),
            "{code:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn continuations_are_bounded() -> anyhow::Result<()> {
    let exec = manager().await?;
    // A model that never closes its string: a few continuations, then the code runs as it is.
    let endless = format!("<execute>\nx = \"{}", "a</execute>".repeat(50));
    let replies = vec![
        model(&endless),
        model("<solution>42</solution>"),
        model("<solution>42</solution>"),
    ];
    let (out, server, _) = run(&exec, replies, Continuation::Prefill).await?;
    let requests = server.requests();
    let continued = requests
        .iter()
        .filter(|r| last_role(r) == "assistant")
        .count();
    assert_eq!(continued, 4);
    assert_eq!(codes(&out), [format!("x = \"{}a", "a</execute>".repeat(4))]);
    assert!(last_content(&requests[5]).contains("SyntaxError"));

    // A continuation that adds nothing ends it at once.
    let replies = vec![
        model("<execute>\nx = \"</execute></execute>\nprint(x)\n</execute>"),
        model("<solution>42</solution>"),
        model("<solution>42</solution>"),
    ];
    let (out, server, _) = run(&exec, replies, Continuation::Prefill).await?;
    let continued = server
        .requests()
        .iter()
        .filter(|r| last_role(r) == "assistant")
        .count();
    assert_eq!(continued, 1);
    assert_eq!(codes(&out), ["x = \"</execute>"]);
    Ok(())
}

#[tokio::test]
async fn how_the_server_is_asked_to_continue() -> anyhow::Result<()> {
    let exec = manager().await?;
    let reply = "<execute>\ntag = \"</execute>\"\nprint(tag)\n</execute>";
    let answer = model("<solution>done</solution>");
    // vLLM wants two extra fields.
    let (out, server, _) = run(
        &exec,
        vec![model(reply), answer.clone()],
        Continuation::ContinueFinalMessage,
    )
    .await?;
    assert_eq!(codes(&out), ["tag = \"</execute>\"\nprint(tag)"]);
    let requests = server.requests();
    assert_eq!(requests[1]["continue_final_message"], true);
    assert_eq!(requests[1]["add_generation_prompt"], false);
    assert!(requests[0].get("continue_final_message").is_none());
    // llama-server continues a trailing assistant message by itself.
    let (_, server, _) = run(
        &exec,
        vec![model(reply), answer.clone()],
        Continuation::Prefill,
    )
    .await?;
    assert!(server.requests()[1].get("continue_final_message").is_none());
    // A server that cannot continue a reply gets none: the code runs as it was cut.
    let replies = vec![model(reply), answer.clone(), answer];
    let (out, server, _) = run(&exec, replies, Continuation::Unsupported).await?;
    assert_eq!(codes(&out), ["tag = \""]);
    assert!(server
        .requests()
        .iter()
        .all(|r| last_role(r) != "assistant"));
    Ok(())
}
