//! CodeActInstruct over real sandboxed sessions: every task of the shipped set passes its own
//! success check with its known solution; a scripted model drives the generation protocol
//! through code, a table, a tool, an invalid action and a wrong proposal, and the rows it makes
//! verify; the pack's real rows verify where they can be replayed offline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use codeact_eval::instruct::generate::{self, EndReason, GenerateSettings, RunRecord};
use codeact_eval::instruct::row::{read_rows, Role};
use codeact_eval::instruct::session::{InstructSessions, ToolsModule};
use codeact_eval::instruct::tasks::{load_tasks, InstructTask, TaskIndex};
use codeact_eval::instruct::verify::{verify_rows, Status};
use codeact_eval::Progress;
use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SessionManager};
use codeact_llm::{LlmBackend, ScriptBackend};

fn tasks_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/codeactinstruct/tasks")
}

fn pack() -> PathBuf {
    std::env::var_os("CODEACT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("codeactinstruct")
}

async fn sessions() -> Arc<SessionManager> {
    let config = ExecConfig {
        // Above the protocol's own 30 s limit, which must be the one that fires.
        cell_timeout: std::time::Duration::from_secs(60),
        ..ExecConfig::default()
    };
    let backend = LocalBackend::new(&config).await.expect("local backend");
    SessionManager::new(Arc::new(backend), config)
}

fn tools() -> ToolsModule {
    ToolsModule {
        source: std::fs::read_to_string(tasks_dir().join("kb_tools.py")).unwrap(),
    }
}

fn all_tasks() -> Vec<InstructTask> {
    ["math", "qa", "code", "table"]
        .iter()
        .flat_map(|f| load_tasks(&tasks_dir().join(format!("{f}.jsonl"))).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_task_passes_its_check_with_its_solution() {
    let sessions = sessions().await;
    let env = InstructSessions::new(sessions.clone(), Some(tools()));
    let tasks = all_tasks();
    assert!(tasks.len() >= 64);
    let checks = generate::check_tasks(&env, &tasks, 4).await.unwrap();
    for c in &checks {
        let r = c
            .result
            .as_ref()
            .unwrap_or_else(|| panic!("{}/{} has no solution", c.task_name, c.id));
        assert!(r.correct, "{}/{}: {}", c.task_name, c.id, r.detail);
    }
    // And a wrong answer fails each type's check.
    for kind in ["math", "qa", "code", "table"] {
        let task = tasks.iter().find(|t| t.json["type"] == kind).unwrap();
        let r = env.check(task, "certainly not this 31337").await.unwrap();
        assert!(!r.correct, "{kind}: {}", r.detail);
    }
    sessions.shutdown().await;
}

fn task(tasks: &[InstructTask], name: &str, id: &str) -> InstructTask {
    tasks
        .iter()
        .find(|t| t.task_name == name && t.id == id)
        .unwrap()
        .clone()
}

/// A script that answers by the task's text.
fn script(rules: &[(&str, &[&str])]) -> Arc<dyn LlmBackend> {
    let text: String = rules
        .iter()
        .map(|(first, replies)| {
            serde_json::json!({"first": first, "replies": replies}).to_string() + "\n"
        })
        .collect();
    Arc::new(ScriptBackend::parse(&text, "instruct-test").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_model_through_the_protocol_and_back_through_verify() {
    let sessions = sessions().await;
    let env = InstructSessions::new(sessions.clone(), Some(tools()));
    let all = all_tasks();
    let tasks = vec![
        task(&all, "algebra", "alg-01"),
        task(&all, "table", "league-1"),
        task(&all, "qa", "vel-01"),
        task(&all, "code", "bal-ab"),
    ];
    let code_solution = all.iter().find(|t| t.id == "bal-ab").unwrap().json["solution"]
        .as_str()
        .unwrap()
        .to_string();
    let code_reply = format!("Here it is.\n<solution>\n{code_solution}\n</solution>");
    let llm = script(&[
        (
            "arithmetic sequence",
            &[
                "<thought> Terms from sums. </thought>\n<execute>\ns = lambda n: 3*n**2 + 5*n\nprint(s(20) - s(19))\ns(20)\n</execute>",
                "I am not sure yet.",
                "The answer is <solution> 121 </solution>.",
                "<execute>\nundefined_name\n</execute>",
                "The answer is <solution> 122 </solution>.",
            ],
        ),
        (
            "which club scored the most goals",
            &[
                "<execute>\nprint(conn.execute('SELECT Club FROM data_table ORDER BY GF DESC LIMIT 1').fetchone()[0])\n</execute>",
                "<execute>\nrows = conn.execute('SELECT COUNT(*) FROM data_table').fetchone()[0]\nrows\n</execute>",
                "<execute>\nx = 1\n</execute>",
                "The answer is <solution> Port Anselm Athletic </solution>.",
            ],
        ),
        (
            "Port Anselm was founded",
            &[
                "<execute> print(search_notes('Port Anselm')[:80]) </execute>",
                "<execute>\nfor q in ['Brindle']:\n    print(len(search_notes(q)) > 0)\n</execute>",
                "<execute> 1900 - 1824 </execute>",
                "The answer is <solution> 76 </solution>.",
            ],
        ),
        ("longest balanced substring", &["<execute>\nprint(sum(range(5)))\n</execute>", "<execute>\nprint('x')\n</execute>", "<execute>\nprint('y')\n</execute>", &code_reply]),
    ]);
    let out = tempfile::tempdir().unwrap();
    let settings = GenerateSettings::default();
    let progress = |_: Progress| {};
    let runs = generate::generate(
        &env,
        llm.clone(),
        &settings,
        &tasks,
        out.path(),
        2,
        &progress,
    )
    .await
    .unwrap();
    assert_eq!(runs.len(), 4);
    let by = |id: &str| -> &RunRecord { runs.iter().find(|r| r.task_id == id).unwrap() };

    let math = by("alg-01");
    assert_eq!(math.end_reason, EndReason::Success, "{math:#?}");
    assert_eq!(
        (
            math.n_turns,
            math.proposals,
            math.invalid_actions,
            math.code_actions
        ),
        (5, 2, 1, 2)
    );
    let obs: Vec<&str> = math
        .actions
        .iter()
        .filter_map(|a| a.observation.as_deref())
        .collect();
    assert_eq!(obs[0], "Observation:\n122\nOut[1]: 1300\nYou have 4 steps left and 2 chances to propose solution left.\n");
    assert!(obs[1].starts_with("Observation:\nI don't understand your input. \n"));
    assert!(obs[1].ends_with(
        "</solution>. \n\nYou have 3 steps left and 2 chances to propose solution left.\n"
    ));
    assert_eq!(obs[2], "Observation:\nYour answer is wrong.\nYou have 2 steps left and 1 chances to propose solution left.\n");
    // The second cell is In[2], and its NameError is IPython's Context traceback.
    assert!(obs[3].contains("NameError                                 Traceback (most recent call last)\nCell In[2], line 1\n----> 1 undefined_name\n"), "{}", obs[3]);
    assert!(obs[3].ends_with("You have 1 steps left and 1 chances to propose solution left.\nYou should take the last step to propose a solution.\n"));
    assert_eq!(math.actions.last().unwrap().observation, None);
    assert!(math.history[0]
        .content
        .contains("Task:\nThe sum of the first $n$ terms"));

    let table = by("league-1");
    assert!(table.success);
    assert!(table.history[0]
        .content
        .contains("The SQLite3 database is preloaded for you"));
    assert!(table.actions[0]
        .observation
        .as_deref()
        .unwrap()
        .starts_with("Observation:\nPort Anselm Athletic\n"));
    assert!(table.actions[2]
        .observation
        .as_deref()
        .unwrap()
        .starts_with("Observation:\n[Executed Successfully with No Output]\n"));

    let qa = by("vel-01");
    assert!(qa.success, "{qa:#?}");
    assert!(qa.history[0].content.contains("Tool function available (already imported in <execute> environment):\n[1] search_notes(query: str) -> str\n"));
    assert!(qa.actions[2]
        .observation
        .as_deref()
        .unwrap()
        .starts_with("Observation:\nOut[3]: 76\n"));

    let code = by("bal-ab");
    assert!(code.success, "{:?}", code.actions.last().unwrap().check);
    assert!(code.history[0].content.contains("You should complete the provided starter code by filling in the function body for longestBalanced."));

    let summary = generate::summary_markdown(&runs);
    assert!(
        summary.contains("| reasoning/algebra | 1 | 1 (100%) | 5.00 |"),
        "{summary}"
    );
    assert!(summary.contains("| **all** | 4 | 4 (100%) |"), "{summary}");

    // The released rows: one per successful run, converted.
    let rows = read_rows(&out.path().join(generate::ROWS_FILE)).unwrap();
    assert_eq!(rows.len(), 4);
    let row = rows.iter().find(|r| r.id.contains("/alg-01/")).unwrap();
    assert!(
        row.id.starts_with("math/reasoning/algebra/alg-01/script:"),
        "{}",
        row.id
    );
    assert!(row.id.ends_with("/max5_p2+tool+cd"));
    assert_eq!(row.conversations[0].role, Role::System);
    assert!(!row.conversations[0].content.contains("<thought>"));
    assert_eq!(row.conversations[2].content, "Terms from sums.\n<execute>\ns = lambda n: 3*n**2 + 5*n\nprint(s(20) - s(19))\ns(20)\n</execute>");
    assert_eq!(row.conversations.len(), 2 + 5 + 4);

    // Resuming runs nothing again.
    let again = generate::generate(&env, llm, &settings, &tasks, out.path(), 2, &progress)
        .await
        .unwrap();
    assert_eq!(again.len(), 4);
    let lines = std::fs::read_to_string(out.path().join(generate::RUNS_FILE)).unwrap();
    assert_eq!(lines.lines().count(), 4);

    // Every row verifies, with its task (the table) and the tools set up again.
    let index = TaskIndex::new(tasks.clone());
    let verdicts = verify_rows(&env, &rows, &index, 2, &|_| {}).await.unwrap();
    for v in &verdicts {
        assert_eq!(v.status, Status::Ok, "{v:#?}");
    }
    assert_eq!(
        verdicts.iter().map(|v| v.replayed).sum::<usize>(),
        2 + 3 + 3 + 3
    );

    // A tampered observation is caught at its turn, with a diff.
    let mut tampered = rows[0].clone();
    let obs = tampered
        .conversations
        .iter_mut()
        .find(|t| t.content.starts_with("Observation:\n") && !t.content.contains("[Executed"))
        .unwrap();
    obs.content = obs
        .content
        .replacen("Observation:\n", "Observation:\nforged\n", 1);
    let v = &verify_rows(&env, &[tampered], &index, 1, &|_| {})
        .await
        .unwrap()[0];
    assert_eq!(v.status, Status::Differs);
    assert!(v.diff.as_deref().unwrap().contains("-forged"), "{v:#?}");
    sessions.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_rows_verify_where_they_can_be_replayed() {
    let sessions = sessions().await;
    let env = InstructSessions::new(sessions.clone(), None);
    let rows = read_rows(&pack().join("samples.jsonl")).unwrap();
    let verdicts = verify_rows(&env, &rows, &TaskIndex::default(), 4, &|_| {})
        .await
        .unwrap();
    let mut ok = 0;
    for (row, v) in rows.iter().zip(&verdicts) {
        match v.status {
            Status::Ok => ok += 1,
            Status::Unverifiable => {
                let why = v.reason.as_deref().unwrap();
                let expected = if row.id.contains("/hotpotqa/") {
                    "wikipedia_search"
                } else if row.id.contains("/alfworld/") {
                    "ALFWorld"
                } else {
                    assert!(row.id.contains("/wiki_table_questions/"), "{v:#?}");
                    "table"
                };
                assert!(why.contains(expected), "{v:#?}");
            }
            // The one cell that hit the 30 s limit on the generating machine: a faster
            // machine finishes it (under heavy load this one may time out too, and match).
            Status::Malformed => panic!("{v:#?}"),
            Status::Differs => {
                assert!(row.id.contains("/number_theory/4404/"), "{v:#?}");
                assert!(
                    v.reason.as_deref().unwrap().contains("30 s cell limit"),
                    "{v:#?}"
                );
            }
        }
    }
    assert!(ok >= 10, "{verdicts:#?}");
    // The GPT-4 row's sympy traceback changed between versions: verified by the traceback rule.
    let gpt4 = verdicts
        .iter()
        .find(|v| v.id.contains("gpt-4-0613"))
        .unwrap();
    assert_eq!(gpt4.status, Status::Ok);
    assert_eq!(
        gpt4.rules.iter().map(|r| r.name()).collect::<Vec<_>>(),
        ["traceback"]
    );
    sessions.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_code_forged_text_and_bad_task_sets() {
    let sessions = sessions().await;
    let env = InstructSessions::new(sessions.clone(), Some(tools()));
    let all = all_tasks();

    // A program that kills its check's session is a wrong answer, not a failed run.
    let code = task(&all, "code", "bal-ab");
    let r = env
        .check(&code, "import os\nos.kill(os.getppid(), 9)\n")
        .await
        .unwrap();
    assert!(!r.correct, "{r:?}");

    // Model code that ends its own interpreter ends the run, recorded.
    let math = task(&all, "algebra", "alg-02");
    let llm = script(&[("", &["<execute>\nimport os\nos._exit(0)\n</execute>"])]);
    let out = tempfile::tempdir().unwrap();
    let runs = generate::generate(
        &env,
        llm,
        &GenerateSettings::default(),
        std::slice::from_ref(&math),
        out.path(),
        1,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(runs[0].end_reason, EndReason::SessionLost);
    assert!(!runs[0].success);

    // Protocol text is compared too: a forged wrong-answer observation or count-down differs;
    // a row without a released row's shape is malformed.
    let llm = script(&[(
        "",
        &[
            "The answer is <solution> 1 </solution>.",
            "<execute>\nprint(2)\n</execute>",
            "The answer is <solution> 4 </solution>.",
        ],
    )]);
    let out = tempfile::tempdir().unwrap();
    let mut four = math.clone();
    four.json["reference"] = serde_json::json!("4");
    let runs = generate::generate(
        &env,
        llm,
        &GenerateSettings::default(),
        &[four],
        out.path(),
        1,
        &|_| {},
    )
    .await
    .unwrap();
    assert!(runs[0].success, "{:#?}", runs[0]);
    let row = runs[0].to_row().unwrap();
    let index = TaskIndex::default();
    let ok = verify_rows(&env, std::slice::from_ref(&row), &index, 1, &|_| {})
        .await
        .unwrap();
    assert_eq!(ok[0].status, Status::Ok, "{:#?}", ok[0]);
    let mut forged = row.clone();
    forged.conversations[3].content = forged.conversations[3]
        .content
        .replace("Your answer is wrong.", "Correct!");
    let mut countdown = row.clone();
    countdown.conversations[3].content = countdown.conversations[3]
        .content
        .replace("4 steps left", "9 steps left");
    let mut malformed = row.clone();
    malformed.conversations.truncate(1);
    let v = verify_rows(&env, &[forged, countdown, malformed], &index, 2, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (v[0].status, v[0].turn),
        (Status::Differs, Some(0)),
        "{:#?}",
        v[0]
    );
    assert_eq!(
        (v[1].status, v[1].turn),
        (Status::Differs, Some(0)),
        "{:#?}",
        v[1]
    );
    assert_eq!(v[2].status, Status::Malformed, "{:#?}", v[2]);

    // A task naming a tool the module lacks, and two tasks with one row id, are refused before
    // anything runs.
    let out = tempfile::tempdir().unwrap();
    let mut unknown = task(&all, "qa", "vel-01");
    unknown.tools = vec!["no_such_tool".into()];
    let e = generate::generate(
        &env,
        script(&[("", &["x"])]),
        &GenerateSettings::default(),
        &[unknown],
        out.path(),
        1,
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no_such_tool"), "{e}");
    let twice = vec![math.clone(), math];
    let e = generate::generate(
        &env,
        script(&[("", &["x"])]),
        &GenerateSettings::default(),
        &twice,
        out.path(),
        1,
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("same row id"), "{e}");
    sessions.shutdown().await;
}
