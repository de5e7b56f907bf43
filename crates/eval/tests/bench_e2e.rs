//! The benchmark end to end over real Python sessions, with a toy model that writes the code
//! for each task from a table and answers with whatever the code printed.

use std::collections::HashMap;
use std::sync::Arc;

use codeact_eval::{bench_agent, BenchOptions, Task, Variant};
use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SandboxMode, SessionManager};
use codeact_llm::testing::{ScriptedLlm, Step};

/// The toy model: for a task it knows, the code from `code`; for an output, a solution that
/// repeats it. Replies come whole, in one chunk, and run past any stop sequence.
fn toy_model(code: HashMap<String, String>) -> ScriptedLlm {
    let mut llm = ScriptedLlm::responding(move |request| {
        let last = request
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        Step::Raw(match last.strip_prefix("Execution Output:\n") {
            // The output stops at the loop's reminder, after a blank line.
            Some(output) => format!(
                "<solution>{}</solution>",
                output.split("\n\n").next().unwrap_or_default().trim()
            ),
            None => match code.get(&last) {
                // A fenced block without the tag: counts only with the fence fallback.
                Some(code) if code.starts_with("fenced:") => {
                    format!(
                        "```python\n{}\n```\nwhich prints the answer",
                        &code["fenced:".len()..]
                    )
                }
                Some(code) => format!("<execute>\n{code}\n"),
                None => "I do not know.".into(),
            },
        })
    });
    llm.name = "toy".into();
    llm.chunk_chars = usize::MAX;
    llm
}

#[tokio::test]
async fn bench_counts_solved_tasks_format_errors_and_turns() -> anyhow::Result<()> {
    let tasks = vec![
        Task {
            id: "mul".into(),
            prompt: "6 times 7?".into(),
            answer: "42".into(),
        },
        Task {
            id: "rev".into(),
            prompt: "reverse abc".into(),
            answer: "cba".into(),
        },
        Task {
            id: "fence".into(),
            prompt: "2 to the 10?".into(),
            answer: "1024".into(),
        },
        Task {
            id: "none".into(),
            prompt: "unknown".into(),
            answer: "1".into(),
        },
    ];
    let code = HashMap::from([
        ("6 times 7?".to_string(), "print(6 * 7)".to_string()),
        ("reverse abc".to_string(), "print('abc'[::-1])".to_string()),
        (
            "2 to the 10?".to_string(),
            "fenced:print(2 ** 10)".to_string(),
        ),
    ]);
    let llm = Arc::new(toy_model(code));
    let mut config = ExecConfig::default();
    config.sandbox.mode = SandboxMode::None;
    let exec = SessionManager::new(Arc::new(LocalBackend::new(&config).await?), config);
    let dir = tempfile::tempdir()?;
    let opts = BenchOptions {
        variants: vec![
            Variant {
                fence_fallback: false,
                ..Variant::ours()
            },
            Variant::ours(),
            Variant {
                grammar: true,
                ..Variant::ours()
            },
        ],
        output_dir: dir.path().to_path_buf(),
        ..BenchOptions::default()
    };
    let report = bench_agent(llm, exec.clone(), &tasks, &opts).await;
    // The toy model has no grammar support: that variant is skipped.
    assert_eq!(report.summaries.len(), 2);
    let off = &report.summaries[0];
    let on = &report.summaries[1];
    assert_eq!((off.solved, off.total), (2, 4));
    assert_eq!((on.solved, on.total), (3, 4));
    assert_eq!(on.fenced_actions, 1);
    // "I do not know." twice (once more after the reminder), and the fenced reply without the
    // fallback, twice.
    assert_eq!(off.format_errors, 4);
    assert_eq!(on.format_errors, 2);
    assert!(report
        .results
        .iter()
        .filter(|r| r.solved)
        .all(|r| r.turns == 2));
    assert!(exec.list().is_empty(), "every task's session is closed");
    let table = report.to_string();
    assert!(table.contains("ours fence=on grammar=off"), "{table}");
    Ok(())
}
