//! Task mode end to end: a scripted model, real Python sessions.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use codeact_agent::prompt::{
    AFTER_ERROR, ANSWER_REMINDER, EMPTY_OUTPUT, NUDGE_PROTOCOL, QUESTION_NOTHING_PRINTED,
    QUESTION_NO_CODE, QUESTION_SOLUTION, SAME_CODE_AGAIN, SAME_ERROR_AGAIN, SOLUTION_TOO_EARLY,
};
use codeact_agent::{Agent, AgentConfig, Outcome, SelfConsistency};
use codeact_protocol::{ActionOrigin, AgentErrorCode, AgentEvent, EndReason, ExecStatus, Role};
use common::{feedback, manager, ScriptedLlm, Step};

fn config(dir: &tempfile::TempDir) -> AgentConfig {
    AgentConfig {
        output_dir: dir.path().join("images"),
        ..AgentConfig::task()
    }
}

/// The replies the loop dropped and sampled again.
fn discarded(o: &Outcome) -> Vec<String> {
    o.events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ReplyDiscarded { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The message after a task's successful cell.
fn with_reminder(output: &str) -> String {
    format!("Execution Output:\n{output}\n\n{ANSWER_REMINDER}")
}

fn observations(o: &Outcome) -> Vec<(String, ExecStatus)> {
    o.events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Observation { text, result, .. } => Some((text.clone(), result.status)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn computes_then_answers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<thought>use math</thought>\n<execute>\nprint(math.factorial(5) + 1)\n</execute>\nExecution Output: 999",
        "<solution>121</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("What is 5! + 1?").finish().await;
    assert_eq!(out.end, EndReason::Solution);
    assert_eq!(out.final_answer.as_deref(), Some("121"));
    assert_eq!(out.turns(), 2);
    // The stop sequence ate the rest of the first reply; the closing tag is restored.
    let conv = agent.conversation().await;
    assert_eq!(conv.messages[0].role, Role::System);
    assert_eq!(
        conv.messages[2].content,
        "<thought>use math</thought>\n<execute>\nprint(math.factorial(5) + 1)\n</execute>"
    );
    // The model sees exactly the output, after a fixed header.
    assert_eq!(llm.last_message(1), with_reminder("121"));
    let reqs = llm.requests();
    assert_eq!(reqs[0].stop, vec!["</execute>".to_string()]);
    assert!(reqs[0].grammar.is_none());
    // Events come in protocol order.
    let kinds: Vec<&str> = out
        .events
        .iter()
        .filter(|e| {
            !matches!(
                e,
                AgentEvent::AssistantDelta { .. } | AgentEvent::Usage { .. }
            )
        })
        .map(|e| match e {
            AgentEvent::TurnStarted { .. } => "turn",
            AgentEvent::AssistantMessage { .. } => "message",
            AgentEvent::CodeAction { .. } => "code",
            AgentEvent::Observation { .. } => "observation",
            AgentEvent::FinalAnswer { .. } => "answer",
            AgentEvent::End { .. } => "end",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "turn",
            "message",
            "code",
            "observation",
            "turn",
            "message",
            "answer",
            "end"
        ]
    );
    let deltas: String = out
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::AssistantDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        deltas.starts_with("<thought>use math</thought>")
            && deltas.ends_with("<solution>121</solution>")
    );
    Ok(())
}

#[tokio::test]
async fn fenced_block_is_run_and_generation_stops_when_it_closes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "Let me compute it.\n```python\nprint(2 ** 10)\n```\nThe output will be 1000, so <solution>1000</solution>",
        "<solution>1024</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("2 to the 10th?").finish().await;
    assert_eq!(out.final_answer.as_deref(), Some("1024"));
    assert!(out.events.contains(&AgentEvent::CodeAction {
        code: "print(2 ** 10)".into(),
        origin: ActionOrigin::FencedBlock
    }));
    // The invented output after the fence was never generated.
    assert!(llm.chunks_pulled.load(Ordering::SeqCst) < llm.chunks_total.load(Ordering::SeqCst));
    let conv = agent.conversation().await;
    assert_eq!(
        conv.messages[2].content,
        "Let me compute it.\n```python\nprint(2 ** 10)\n```\n"
    );
    assert_eq!(llm.last_message(1), with_reminder("1024"));
    Ok(())
}

#[tokio::test]
async fn without_fence_fallback_a_fenced_block_is_just_text() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&["```python\nprint(1)\n```", "still no tags"]);
    let cfg = AgentConfig {
        fence_fallback: false,
        ..config(&dir)
    };
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    let out = agent.run_task("t").finish().await;
    // One reminder of the protocol, then the run ends.
    assert_eq!(feedback(&out), [NUDGE_PROTOCOL]);
    assert_eq!(out.end, EndReason::Reply);
    assert!(observations(&out).is_empty());
    Ok(())
}

#[tokio::test]
async fn code_and_solution_in_one_reply_runs_the_code_and_asks_again() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::new(vec![
        Step::Raw("<execute>x = 3 * 14\nprint(x)</execute>\n<solution>41</solution>".into()),
        Step::Reply("<solution>42</solution>".into()),
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.final_answer.as_deref(), Some("42"));
    assert_eq!(feedback(&out), [SOLUTION_TOO_EARLY]);
    assert_eq!(
        llm.last_message(1),
        format!("Execution Output:\n42\n\n{SOLUTION_TOO_EARLY}")
    );
    Ok(())
}

#[tokio::test]
async fn all_blocks_run_in_order_in_one_session() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::new(vec![
        Step::Raw("<execute>a = 2</execute> and <execute>print(a + 1)</execute>".into()),
        Step::Reply("<execute>print(a * 10)".into()),
        Step::Reply("<solution>20</solution>".into()),
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.end, EndReason::Solution);
    let obs = observations(&out);
    // A silent cell that ends by assigning shows the value it assigned.
    let silent = codeact_agent::prompt::empty_output_with_value("a", "2");
    assert_eq!(obs[0].0, silent);
    assert_eq!(obs[1].0, "3");
    assert_eq!(obs[2].0, "20");
    assert_eq!(llm.last_message(1), with_reminder(&format!("{silent}\n3")));
    Ok(())
}

#[tokio::test]
async fn failure_handling_for_small_models() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>\nvalues = [1, 2]\nprint(values[5])\n</execute>",
        "<execute>\nvalues = [1, 2]\nprint(values[5])\n\n</execute>",
        "<solution>3</solution>",
        "<execute>print(sum(values))</execute>",
        "<solution>3</solution>",
    ]);
    // With resampling off, the repeated code runs and gets the hint.
    let mut cfg = config(&dir);
    cfg.sampling.resample_repeats = 0;
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.end, EndReason::Solution);
    assert_eq!(out.final_answer.as_deref(), Some("3"));
    // The same failing code twice gets a hint; an answer right after a failure is questioned.
    assert_eq!(feedback(&out), [SAME_CODE_AGAIN, QUESTION_SOLUTION]);
    let first = llm.last_message(1);
    assert!(first.starts_with("Execution Output:\n"), "{first}");
    assert!(
        first.contains("print(values[5])"),
        "the failing line is shown: {first}"
    );
    assert!(
        first.contains("IndexError: list index out of range"),
        "{first}"
    );
    assert!(first.ends_with(AFTER_ERROR), "{first}");
    assert!(
        first.lines().count() <= 6,
        "the traceback is short: {first}"
    );
    assert!(!first.contains('\u{1b}'), "no ANSI codes: {first}");
    assert!(llm.last_message(2).ends_with(SAME_CODE_AGAIN));
    // After the repeat, one reply is sampled less greedily to break the loop.
    let temps: Vec<f32> = llm.requests().iter().map(|r| r.temperature).collect();
    assert_eq!(temps, [0.0, 0.0, 1.0, 0.0, 0.0]);
    // Fixed code, then the answer is accepted at once.
    assert_eq!(observations(&out).last().map(|o| o.1), Some(ExecStatus::Ok));
    Ok(())
}

#[tokio::test]
async fn a_reply_repeating_failed_code_is_sampled_again() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let failing = "<execute>\nvalues = [1, 2]\nprint(values[5])\n</execute>";
    let llm = ScriptedLlm::replies(&[
        failing,
        failing,
        "<execute>\nvalues = [1, 2]\nprint(values[1] + 1)\n</execute>",
        "<solution>3</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.end, EndReason::Solution);
    assert_eq!(discarded(&out), [failing]);
    // The dropped reply is not in the conversation and was not run; the new one is hotter.
    let temps: Vec<f32> = llm.requests().iter().map(|r| r.temperature).collect();
    assert_eq!(temps, [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(observations(&out).len(), 2);
    let conv = agent.conversation().await;
    let assistant: Vec<&str> = conv
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(assistant.len(), 3);
    assert!(feedback(&out).is_empty(), "{:?}", feedback(&out));
    Ok(())
}

#[tokio::test]
async fn a_cell_that_worked_is_not_run_again() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(6 * 7)</execute>",
        "<execute>\nprint(6 * 7)\n</execute>",
        "<solution>42</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.final_answer.as_deref(), Some("42"));
    assert_eq!(observations(&out).len(), 1);
    assert!(!discarded(&out).is_empty());
    Ok(())
}

#[tokio::test]
async fn repeats_are_run_once_resampling_is_spent() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let failing = "<execute>print(1/0)</execute>";
    let llm = ScriptedLlm::replies(&[
        failing,
        failing,
        failing,
        failing,
        "<execute>print(2/0)</execute>",
        "<execute>print(1/1)</execute>",
        "<solution>1.0</solution>",
    ]);
    let mut cfg = config(&dir);
    cfg.sampling.resample_repeats = 2;
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.end, EndReason::Solution);
    // Two attempts, each hotter, then the third copy is run and gets the hint. Changed code
    // that fails with the same error gets its own hint; after each hint one reply is sampled.
    let temps: Vec<f32> = llm.requests().iter().map(|r| r.temperature).collect();
    assert_eq!(temps, [0.0, 0.0, 1.0, 1.25, 1.0, 1.0, 0.0]);
    assert_eq!(feedback(&out), [SAME_CODE_AGAIN, SAME_ERROR_AGAIN]);
    assert_eq!(observations(&out).len(), 4);
    Ok(())
}

#[tokio::test]
async fn an_answer_after_a_failure_is_accepted_when_repeated() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>1/0</execute>",
        "<solution>inf</solution>",
        "<solution>inf</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.final_answer.as_deref(), Some("inf"));
    assert_eq!(feedback(&out), [QUESTION_SOLUTION]);
    Ok(())
}

#[tokio::test]
async fn a_word_from_the_question_used_as_a_name_gets_a_quote_hint() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(stressed[::-1])",
        "<execute>print('stressed'[::-1])",
        "<solution>desserts</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent
        .run_task("What is the string 'stressed' written backwards?")
        .finish()
        .await;
    assert_eq!(out.final_answer.as_deref(), Some("desserts"));
    let hint = codeact_agent::prompt::quote_hint("stressed");
    assert_eq!(feedback(&out), std::slice::from_ref(&hint));
    assert!(llm.last_message(1).ends_with(&hint));
    Ok(())
}

#[tokio::test]
async fn common_names_are_preloaded() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(sqrt(16), factorial(4), Counter('aab')['a'], date(2024, 1, 2).day, statistics.mean([1, 3]))\n\
         print((datetime(2024, 3, 1) - datetime(2024, 1, 15)).days, datetime.datetime(2024, 1, 1).year, \
         datetime.date(2024, 1, 1).month, datetime.strptime('2024-02-03', '%Y-%m-%d').day, type(datetime.now()).__name__)",
        "<solution>ok</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    agent.run_task("t").finish().await;
    assert_eq!(
        llm.last_message(1),
        with_reminder("4.0 24 2 2 2\n46 2024 1 3 datetime")
    );
    Ok(())
}

#[tokio::test]
async fn turn_limit_ends_the_task() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(1)",
        "<execute>print(2)",
        "<execute>print(3)",
    ]);
    let mut cfg = config(&dir);
    cfg.limits.max_turns = 2;
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.end, EndReason::MaxTurns);
    assert_eq!(out.turns(), 2);
    assert_eq!(llm.remaining(), 1);
    Ok(())
}

#[tokio::test]
async fn context_length_error_ends_the_run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::new(vec![
        Step::Reply("<execute>print(1)".into()),
        Step::ContextLength,
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.end, EndReason::ContextLength);
    assert!(out.events.iter().any(|e| matches!(
        e,
        AgentEvent::Error {
            code: AgentErrorCode::ContextLength,
            ..
        }
    )));
    Ok(())
}

#[tokio::test]
async fn old_outputs_are_trimmed_to_fit_the_budget() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print('a' * 1500)",
        "<execute>print('b' * 1500)",
        "<execute>print('c' * 1500)",
        "<solution>done</solution>",
    ]);
    let mut cfg = config(&dir);
    cfg.limits.context_chars = 4500;
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    let out = agent.run_task("t").finish().await;
    assert_eq!(out.end, EndReason::Solution);
    let last = &llm.requests()[3];
    let texts: Vec<&str> = last.messages.iter().map(|m| m.content.as_str()).collect();
    assert!(
        texts.contains(&"Execution Output:\n[earlier output trimmed]"),
        "{texts:?}"
    );
    assert!(texts.last().is_some_and(|t| t.contains(&"c".repeat(1500))));
    // The stored conversation keeps everything.
    let conv = agent.conversation().await;
    assert!(conv
        .messages
        .iter()
        .any(|m| m.content.contains(&"a".repeat(1500))));
    Ok(())
}

#[tokio::test]
async fn grammar_is_sent_only_when_enabled_and_supported() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut llm = ScriptedLlm::build(vec![Step::Reply("<execute>print(1)".into())]);
    llm.grammar = true;
    let llm = Arc::new(llm);
    let cfg = AgentConfig {
        grammar: true,
        ..config(&dir)
    };
    let agent = Agent::new(llm.clone(), manager().await?, cfg.clone());
    agent.run_task("t").finish().await;
    let g = llm.requests()[0].grammar.clone().unwrap_or_default();
    assert!(g.contains("<execute>") && g.contains("<solution>"));

    let plain = ScriptedLlm::replies(&["<execute>print(1)"]);
    let agent = Agent::new(plain.clone(), manager().await?, cfg);
    agent.run_task("t").finish().await;
    assert!(plain.requests()[0].grammar.is_none());
    Ok(())
}

#[tokio::test]
async fn self_consistency_takes_the_majority_answer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(3 + 4)",
        "<solution>7</solution>",
        "<solution>8</solution>",
        "<solution>8</solution>",
        "<execute>print(7.0)",
        "<solution>7.0</solution>",
        "<solution>never asked</solution>",
    ]);
    let mgr = manager().await?;
    let cfg = AgentConfig {
        self_consistency: Some(SelfConsistency {
            samples: 3,
            temperature: 0.8,
        }),
        ..config(&dir)
    };
    let agent = Agent::new(llm.clone(), mgr.clone(), cfg);
    let out = agent.run_task("3 + 4?").finish().await;
    assert_eq!(out.end, EndReason::Solution);
    assert_eq!(out.final_answer.as_deref(), Some("7"));
    // Attempts 0 and 2 agree (7 and 7.0), a strict majority of 3: sampling stops there, and
    // the first attempt that gave the winning answer stands.
    assert_eq!(llm.remaining(), 1);
    assert!(llm.requests().iter().all(|r| r.temperature > 0.0));
    // Attempts ran in throwaway sessions that are gone.
    assert!(mgr.list().iter().all(|s| !s.id.contains("-sc")));
    Ok(())
}

#[tokio::test]
async fn cancelling_interrupts_a_running_cell() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&["<execute>import time\ntime.sleep(15)\nprint('slept')"]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let mut run = agent.run_task("t");
    let started = std::time::Instant::now();
    while let Some(e) = run.next_event().await {
        if matches!(e, AgentEvent::CodeAction { .. }) {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            run.cancel();
        }
        if let AgentEvent::End { reason } = e {
            assert_eq!(reason, EndReason::Cancelled);
            break;
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    Ok(())
}

#[tokio::test]
async fn every_turn_samples_with_its_own_seed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(1)",
        "<execute>print(2)",
        "<solution>2</solution>",
    ]);
    let cfg = AgentConfig {
        seed: Some(5),
        ..config(&dir)
    };
    let agent = Agent::new(llm.clone(), manager().await?, cfg);
    agent.run_task("t").finish().await;
    // One seed for every turn would replay the same random draws each turn: a sampled reply
    // to a conversation that barely changed came back byte for byte.
    let seeds: Vec<Option<u64>> = llm.requests().iter().map(|r| r.seed).collect();
    assert_eq!(seeds.len(), 3);
    assert!(seeds.iter().all(Option::is_some));
    assert!(seeds[0] != seeds[1] && seeds[1] != seeds[2] && seeds[0] != seeds[2]);
    Ok(())
}

#[tokio::test]
async fn the_same_reply_twice_is_followed_by_a_sampled_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(1)",
        "<execute>print(1)",
        "<solution>1</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    agent.run_task("t").finish().await;
    let temps: Vec<f32> = llm.requests().iter().map(|r| r.temperature).collect();
    assert_eq!(temps, [0.0, 0.0, 1.0]);
    Ok(())
}

#[tokio::test]
async fn a_reply_caught_in_a_loop_is_cut_after_one_copy() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let looping = format!(
        "<thought>{}",
        "I will compute the value with Python.\n".repeat(12)
    );
    let llm = ScriptedLlm::new(vec![
        Step::Reply(looping),
        Step::Reply("<solution>1</solution>".into()),
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    agent.run_task("t").finish().await;
    let conv = agent.conversation().await;
    // The first line differs (it opens the thought); the repeated block is kept once.
    assert_eq!(
        conv.messages[2].content,
        "<thought>I will compute the value with Python.\nI will compute the value with Python.\n"
    );
    // The stream was dropped early instead of being read to its end.
    let total = llm.chunks_total.load(Ordering::SeqCst);
    assert!(llm.chunks_pulled.load(Ordering::SeqCst) < total);
    Ok(())
}

#[tokio::test]
async fn an_answer_that_no_output_shows_is_questioned_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Answered from memory, then after code that printed nothing.
    let llm = ScriptedLlm::replies(&[
        "<solution>900000</solution>",
        "<execute>for _ in range(1):\n    x = 123456 * 789",
        "<solution>0</solution>",
        "<execute>print(x)",
        "<solution>97406784</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent
        .run_task("What is 123456 multiplied by 789?")
        .finish()
        .await;
    assert_eq!(out.final_answer.as_deref(), Some("97406784"));
    assert_eq!(feedback(&out), [QUESTION_NO_CODE, QUESTION_NOTHING_PRINTED]);
    assert_eq!(
        llm.last_message(2),
        format!("Execution Output:\n{EMPTY_OUTPUT}")
    );

    // A model that is sure repeats its answer, and it stands.
    let llm = ScriptedLlm::replies(&["<solution>Paris</solution>", "<solution>Paris</solution>"]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("Capital of France?").finish().await;
    assert_eq!(out.final_answer.as_deref(), Some("Paris"));
    assert_eq!(out.turns(), 2);
    Ok(())
}

#[tokio::test]
async fn calling_a_function_that_was_never_defined_gets_a_hint() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>print(is_prime(7))",
        "<execute>def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\nprint(is_prime(7))",
        "<solution>yes</solution>",
    ]);
    let agent = Agent::new(llm.clone(), manager().await?, config(&dir));
    let out = agent.run_task("Is 7 a prime number?").finish().await;
    assert_eq!(out.final_answer.as_deref(), Some("yes"));
    let hint = codeact_agent::prompt::define_hint("is_prime");
    assert_eq!(feedback(&out), std::slice::from_ref(&hint));
    Ok(())
}
