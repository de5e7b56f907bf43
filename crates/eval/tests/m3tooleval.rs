//! M³ToolEval end to end over real sandboxed sessions: the prompts against the pack's
//! snapshot, the tools against the pack's vectors, every task solved in code mode by a script
//! that replays a gold action and answers with its observation, every invalid-reply path of
//! every mode with its exact feedback, and resuming.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use codeact_eval::m3tooleval::{
    self, builtin_tasks, prompt, run_task, ActionMode, M3Context, M3EndReason, M3Options, M3Record,
    M3Settings, ToolCatalog,
};
use codeact_eval::{read_jsonl, Progress};
use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SessionManager};
use codeact_llm::testing::{ScriptedLlm, Step};
use codeact_llm::{LlmBackend, ScriptBackend};
use codeact_protocol::Role;
use serde_json::Value;

fn shared() -> PathBuf {
    std::env::var_os("CODEACT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

async fn sessions() -> Arc<SessionManager> {
    let config = ExecConfig::default();
    let backend = LocalBackend::new(&config).await.expect("local backend");
    SessionManager::new(Arc::new(backend), config)
}

fn options(out: PathBuf, modes: Vec<ActionMode>, filter: Option<&str>) -> M3Options {
    M3Options {
        modes,
        tasks: None,
        filter: filter.map(str::to_string),
        samples: 1,
        concurrency: 4,
        out,
        settings: M3Settings::default(),
    }
}

fn no_progress(_: Progress) {}

#[test]
fn prompts_equal_the_pack_snapshot() {
    let snapshot: Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("m3tooleval/prompts_rendered.json")).unwrap(),
    )
    .unwrap();
    let tasks = builtin_tasks();
    let task = tasks
        .iter()
        .find(|t| t.name == snapshot["task"].as_str().unwrap())
        .unwrap();
    let catalog = ToolCatalog::builtin();
    let tools = catalog.for_task(task).unwrap();
    for mode in ActionMode::ALL {
        assert_eq!(
            prompt(task, &tools, mode),
            snapshot[mode.as_str()].as_str().unwrap(),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn every_pack_vector_passes_inside_a_session() {
    let text = std::fs::read_to_string(shared().join("m3tooleval/vectors.jsonl")).unwrap();
    let sessions = sessions().await;
    let report = m3tooleval::check_tools(&sessions, &text).await.unwrap();
    sessions.shutdown().await;
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.passed, report.total);
    assert_eq!(
        report.total,
        text.lines().filter(|l| !l.trim().is_empty()).count()
    );
}

/// A script that replays, for every task, correct actions in each mode and then answers (written
/// by `m3tooleval_gold_calls.py`): the file the README's speed command uses.
fn gold_script() -> ScriptBackend {
    ScriptBackend::from_file(&data("m3tooleval_gold_script.jsonl")).unwrap()
}

#[test]
fn the_gold_script_replays_the_gold_actions() {
    #[derive(serde::Deserialize)]
    struct Gold {
        task: String,
        code: String,
    }
    let gold: Vec<Gold> = read_jsonl(&data("m3tooleval_gold.jsonl")).unwrap();
    let tasks = builtin_tasks();
    assert_eq!(gold.len(), tasks.len(), "one gold action per task");
    let expected: Vec<Value> = gold
        .iter()
        .map(|g| {
            let task = tasks.iter().find(|t| t.name == g.task).unwrap();
            serde_json::json!({
                "first": format!("Instruction: {}\n", task.instruction),
                "replies": [
                    format!("Thought: run it.\nAction:\n{}\nEnd Action", g.code),
                    format!("Answer: {}", codeact_llm::LAST_MESSAGE),
                ],
            })
        })
        .collect();
    let script: Vec<Value> = read_jsonl(&data("m3tooleval_gold_script.jsonl")).unwrap();
    // The JSON and text rules come first (two per task), the code rules last.
    assert_eq!(script.len(), 3 * expected.len());
    assert!(
        script[2 * expected.len()..] == expected[..],
        "regenerate the script with m3tooleval_gold_calls.py"
    );
}

/// In JSON and text mode the gold code's tool calls, one per turn, solve every task they fit
/// in the turn limit; the others end at the limit. The rules come from the tool calls the gold
/// code makes, so this runs both formats' parsing and execution over every task.
#[tokio::test]
async fn gold_tool_calls_solve_every_task_that_fits_in_json_and_text_mode() {
    let script: Vec<Value> = read_jsonl(&data("m3tooleval_gold_script.jsonl")).unwrap();
    let tasks = builtin_tasks();
    let out = tempfile::tempdir().unwrap();
    let sessions = sessions().await;
    let llm: Arc<dyn LlmBackend> = Arc::new(gold_script());
    let opts = options(
        out.path().into(),
        vec![ActionMode::Json, ActionMode::Text],
        None,
    );
    m3tooleval::evaluate(llm, sessions.clone(), &opts, &no_progress)
        .await
        .unwrap();
    sessions.shutdown().await;
    let records: Vec<M3Record> = read_jsonl(&out.path().join(m3tooleval::RECORDS_FILE)).unwrap();
    assert_eq!(records.len(), 2 * tasks.len());
    let mut fitting = 0;
    for r in &records {
        let task = tasks.iter().find(|t| t.name == r.task_name).unwrap();
        let first = format!("Instruction: {}\n", task.instruction);
        let mode_key = match r.action_mode {
            ActionMode::Json => r#"["argument_1"]} End Action'"#,
            _ => "tool_name, argument_1 End Action'",
        };
        let rule = script[..2 * tasks.len()]
            .iter()
            .find(|rule| {
                let f = rule["first"].as_str().unwrap();
                f.ends_with(&first) && f.contains(mode_key)
            })
            .unwrap();
        let calls = rule["replies"].as_array().unwrap().len() - 1;
        if calls < 10 {
            fitting += 1;
            assert!(
                r.is_correct && r.n_turns as usize == calls + 1,
                "{} ({:?}): {:?}",
                r.task_name,
                r.action_mode,
                r.messages.last().map(|m| &m.content)
            );
        } else {
            assert_eq!(r.end_reason, M3EndReason::Limit, "{}", r.task_name);
        }
    }
    assert!(
        fitting >= 2 * 30,
        "only {fitting} runs fit in the turn limit"
    );
}

#[tokio::test]
async fn gold_actions_solve_every_task_in_code_mode() {
    let out = tempfile::tempdir().unwrap();
    let sessions = sessions().await;
    let llm: Arc<dyn LlmBackend> = Arc::new(gold_script());
    let opts = options(out.path().into(), vec![ActionMode::Code], None);
    let summary = m3tooleval::evaluate(llm, sessions.clone(), &opts, &no_progress)
        .await
        .unwrap();
    sessions.shutdown().await;
    let records: Vec<M3Record> = read_jsonl(&out.path().join(m3tooleval::RECORDS_FILE)).unwrap();
    assert_eq!(records.len(), 82);
    let wrong: Vec<String> = records
        .iter()
        .filter(|r| !r.is_correct)
        .map(|r| {
            format!(
                "{}: {:?}",
                r.task_name,
                r.messages.last().map(|m| &m.content)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(records
        .iter()
        .all(|r| r.n_turns == 2 && r.end_reason == M3EndReason::Correct));
    let all = summary.rows.last().unwrap();
    assert_eq!(all.group, "all");
    assert_eq!(all.cells["code"].correct_runs, 82);
}

/// Runs one task with scripted replies and returns the conversation's user messages after
/// the prompt.
async fn feedback(
    mode: ActionMode,
    task: &str,
    replies: &[&str],
    turns: u32,
) -> (M3Record, Vec<String>) {
    let sessions = sessions().await;
    let llm = ScriptedLlm::replies(replies);
    let settings = M3Settings {
        turns,
        ..M3Settings::default()
    };
    let ctx = M3Context::start(llm, sessions.clone(), settings)
        .await
        .unwrap();
    let tasks = builtin_tasks();
    let task = tasks.iter().find(|t| t.name == task).unwrap();
    let catalog = ToolCatalog::builtin();
    let tools = catalog.for_task(task).unwrap();
    let rec = run_task(&ctx, task, &tools, mode, 0).await.unwrap();
    ctx.close().await;
    sessions.shutdown().await;
    let users = rec.messages[1..]
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.clone())
        .collect();
    (rec, users)
}

const DECODER: &str = "message_decoder/full_alien_message_decoding";

#[tokio::test]
async fn invalid_replies_get_the_exact_feedback_in_every_mode() {
    for mode in ActionMode::ALL {
        let (rec, users) = feedback(
            mode,
            DECODER,
            &[
                "I think the answer is 5.",
                "Action: x End Action\nAnswer: 5",
                "Answer: nope",
                "Answer: a\nAnswer: b",
            ],
            4,
        )
        .await;
        assert_eq!(rec.end_reason, M3EndReason::Limit, "{mode}");
        assert_eq!(rec.n_turns, 4);
        assert_eq!(
            users[0],
            "Invalid generation. Your output should contain either 'Action:' or 'Answer:'"
        );
        // Post-processing cut the reply before its second marker.
        assert_eq!(rec.messages[3].content, "Action: x End Action");
        assert_eq!(
            users[2],
            "Your answer is incorrect. Please try again. Note that you should ONLY output the answer (e.g., single number), without any other text."
        );
        assert_eq!(rec.messages[7].content, "Answer: a");
        assert!(!rec.is_correct);
    }
}

#[tokio::test]
async fn text_and_json_actions_call_the_tools_in_the_session() {
    let (rec, users) = feedback(
        ActionMode::Text,
        DECODER,
        &[
            "Action: reverse_string, abc End Action",
            "Action: no_such_tool, 1 End Action",
            "Action: caesar_decode, abc End Action",
            "Answer: fchahcufcu",
        ],
        10,
    )
    .await;
    assert_eq!(users[0], "cba");
    assert_eq!(users[1], "Cound not find tool with name no_such_tool");
    assert_eq!(
        users[2],
        "Failed to execute tool caesar_decode with args ['abc']. Did you try to invoke more than one tool at a time?"
    );
    assert!(rec.is_correct && rec.end_reason == M3EndReason::Correct && rec.n_turns == 4);

    let (_, users) = feedback(
        ActionMode::Json,
        DECODER,
        &[
            r#"Action: {"tool": "string_length", "args": "hello"} End Action"#,
            "Action: {'tool': 1} End Action",
            r#"Action: {"tool": "convert_hex_to_ascii", "args": ["6869"]} End Action"#,
        ],
        3,
    )
    .await;
    assert_eq!(users[0], "5", "a non-list args is wrapped in a list");
    assert!(
        users[1].starts_with("Invalid action. You should output a JSON object with the following fields: 'tool' (the name of the tool), 'args' (a list of arguments to the tool). Error: Expecting property name enclosed in double quotes"),
        "{}",
        users[1]
    );
    assert_eq!(users[2], "hi");
}

#[tokio::test]
async fn code_actions_keep_state_and_read_outputs_as_literals() {
    let (_, users) = feedback(
        ActionMode::Code,
        DECODER,
        &[
            "Action:\nx = reverse_string('abc')\nEnd Action",
            "Action:\nprint(repr(x))\nEnd Action",
            "Action:\nx\nEnd Action",
            "Action:\n1/0\nEnd Action",
            "Action:\nprint('a' * 3000)\nEnd Action",
        ],
        5,
    )
    .await;
    assert_eq!(
        users[0],
        "[Executed Successfully with No Output, Did you forget to print?]"
    );
    assert_eq!(users[1], "cba", "the printed repr is read as a literal");
    assert_eq!(users[2], "cba", "Out[N]: is removed");
    assert!(users[3].contains("ZeroDivisionError"), "{}", users[3]);
    assert_eq!(
        users[4],
        format!("{}...\n[Output Truncated]", "a".repeat(2000))
    );
}

#[tokio::test]
async fn a_context_overflow_ends_the_run() {
    let sessions = sessions().await;
    let llm = ScriptedLlm::new(vec![
        Step::Reply("Action: reverse_string, ab End Action".into()),
        Step::ContextLength,
    ]);
    let ctx = M3Context::start(llm, sessions.clone(), M3Settings::default())
        .await
        .unwrap();
    let tasks = builtin_tasks();
    let task = tasks.iter().find(|t| t.name == DECODER).unwrap();
    let catalog = ToolCatalog::builtin();
    let rec = run_task(
        &ctx,
        task,
        &catalog.for_task(task).unwrap(),
        ActionMode::Text,
        0,
    )
    .await
    .unwrap();
    ctx.close().await;
    sessions.shutdown().await;
    assert_eq!(rec.end_reason, M3EndReason::ContextLimit);
    assert_eq!(rec.n_turns, 1);
}

#[tokio::test]
async fn a_rerun_skips_finished_runs() {
    let out = tempfile::tempdir().unwrap();
    let sessions = sessions().await;
    let llm: Arc<dyn LlmBackend> = Arc::new(gold_script());
    let opts = options(
        out.path().into(),
        vec![ActionMode::Code, ActionMode::Text],
        Some("^message_decoder/"),
    );
    let first = m3tooleval::evaluate(llm.clone(), sessions.clone(), &opts, &no_progress)
        .await
        .unwrap();
    let seen = Mutex::new(Vec::new());
    let record = |p: Progress| seen.lock().unwrap().push(format!("{p:?}"));
    let second = m3tooleval::evaluate(llm, sessions.clone(), &opts, &record)
        .await
        .unwrap();
    sessions.shutdown().await;
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen, vec!["Started { total: 16, done: 16 }".to_string()]);
    assert_eq!(first.rows, second.rows);
    let records: Vec<M3Record> = read_jsonl(&out.path().join(m3tooleval::RECORDS_FILE)).unwrap();
    assert_eq!(records.len(), 16);
}

#[tokio::test]
async fn a_single_tool_task_ends_as_soon_as_an_action_gives_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut task = builtin_tasks()
        .into_iter()
        .find(|t| t.name == DECODER)
        .unwrap();
    task.name = "message_decoder/single".into();
    task.is_single_tool_task = true;
    task.expected_output = Value::String("cba".into());
    task.expected_output_repr = "'cba'".into();
    let tasks = dir.path().join("tasks.jsonl");
    std::fs::write(
        &tasks,
        format!("{}\n", serde_json::to_string(&task).unwrap()),
    )
    .unwrap();
    let llm: Arc<dyn LlmBackend> = Arc::new(
        ScriptBackend::parse(
            r#"{"replies": ["Action: reverse_string, xyz End Action", "Action: reverse_string, abc End Action"]}"#,
            "single",
        )
        .unwrap(),
    );
    let sessions = sessions().await;
    let mut opts = options(dir.path().join("out"), vec![ActionMode::Text], None);
    opts.tasks = Some(tasks);
    m3tooleval::evaluate(llm, sessions.clone(), &opts, &no_progress)
        .await
        .unwrap();
    sessions.shutdown().await;
    let records: Vec<M3Record> =
        read_jsonl(&dir.path().join("out").join(m3tooleval::RECORDS_FILE)).unwrap();
    assert_eq!(records.len(), 1);
    assert!(records[0].is_correct);
    assert_eq!(records[0].n_turns, 2);
    assert_eq!(records[0].end_reason, M3EndReason::Correct);
}

#[tokio::test]
async fn samples_give_pass_at_k() {
    let out = tempfile::tempdir().unwrap();
    let sessions = sessions().await;
    let llm: Arc<dyn LlmBackend> = Arc::new(gold_script());
    let mut opts = options(
        out.path().into(),
        vec![ActionMode::Code, ActionMode::Json],
        Some("^message_decoder/full_alien"),
    );
    opts.samples = 3;
    opts.settings.temperature = 0.8;
    let summary = m3tooleval::evaluate(llm, sessions.clone(), &opts, &no_progress)
        .await
        .unwrap();
    sessions.shutdown().await;
    let records: Vec<M3Record> = read_jsonl(&out.path().join(m3tooleval::RECORDS_FILE)).unwrap();
    let mut samples: Vec<u32> = records.iter().map(|r| r.sample).collect();
    samples.sort_unstable();
    assert_eq!(samples, vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(summary.k, 3);
    let row = &summary.rows[0];
    let code = &row.cells["code"];
    assert_eq!((code.items, code.runs, code.correct_runs), (1, 3, 3));
    assert_eq!(code.pass_at_k, Some(1.0));
    assert_eq!(row.cells["json"].pass_at_k, Some(1.0));
    assert!(
        summary.markdown().contains("pass@3"),
        "{}",
        summary.markdown()
    );
}
