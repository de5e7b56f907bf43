//! The real `codeact data` binary: stats, filter, export and verify on the pack's real rows,
//! and three generators sharing one task queue in a real PostgreSQL, one of them killed while
//! it holds a task.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;
use common::{codeact, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn samples() -> PathBuf {
    std::env::var_os("CODEACT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("codeactinstruct/samples.jsonl")
}

#[test]
fn stats_filter_export_and_verify_the_real_rows() {
    let rows = samples();
    let rows = rows.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

    let out = codeact(&["data", "stats", rows, "--out", &d("stats")]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("| tabular | wiki_table_questions | 6 |"),
        "{stdout}"
    );
    assert!(stdout.contains("| **total** |  | **23** |"), "{stdout}");
    for f in ["stats.md", "stats.json", "stats.svg"] {
        assert!(dir.path().join("stats").join(f).is_file(), "{f}");
    }

    let out = codeact(&["data", "filter", rows, "--out", &d("kept.jsonl")]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("kept 23 of 23 rows"), "{stdout}");
    let out = codeact(&[
        "data",
        "filter",
        rows,
        "--out",
        &d("kept4.jsonl"),
        "--only",
        "more-actions",
        "--more-actions-than",
        "4",
    ]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("more-actions-than-4"), "{stdout}");

    // Parquet out, and back in: the same rows exported as OpenAI messages.
    let out = codeact(&[
        "data",
        "export",
        rows,
        "--format",
        "parquet",
        "--out",
        &d("codeact.parquet"),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = codeact(&[
        "data",
        "export",
        &d("codeact.parquet"),
        "--format",
        "openai",
        "--out",
        &d("openai.jsonl"),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let lines = std::fs::read_to_string(d("openai.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 23);
    let out = codeact(&[
        "data",
        "export",
        rows,
        "--format",
        "sharegpt",
        "--out",
        &d("sg/codeact.jsonl"),
    ]);
    assert!(out.status.success());
    let info = std::fs::read_to_string(d("sg/dataset_info.json")).unwrap();
    assert!(info.contains("\"file_name\": \"codeact.jsonl\""), "{info}");

    // verify --json: one object per row, with the fields the issue names.
    let out = codeact(&["data", "verify", rows, "--json", "--concurrency", "4"]);
    let (stdout, stderr) = text(&out);
    let verdicts: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), 23, "{stderr}");
    for v in &verdicts {
        for key in ["id", "ok", "turn", "diff"] {
            assert!(v.get(key).is_some(), "{v}");
        }
        assert_eq!(v["ok"].as_bool().unwrap(), v["turn"].is_null(), "{v}");
    }
    assert!(
        verdicts.iter().filter(|v| v["ok"] == true).count() >= 10,
        "{stdout}"
    );
    assert!(stderr.contains("23 rows:"), "{stderr}");

    // Bad input: a clear error, nothing written.
    let out = codeact(&["data", "stats", &d("missing.jsonl")]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("missing.jsonl"));
}

/// Tasks that each take a second of sandboxed work, and a script that answers them.
fn queue_inputs(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let (mut tasks, mut script) = (String::new(), String::new());
    for i in 0..n {
        tasks += &serde_json::json!({"id": format!("q{i:02}"), "type": "qa", "task": format!("Question {i:02}: what is {i} + {i}?"), "reference": (2 * i).to_string()}).to_string();
        tasks.push('\n');
        script += &serde_json::json!({"first": format!("Question {i:02}:"), "replies": [
            format!("<execute>\nimport time\ntime.sleep(1)\nprint({i} + {i})\n</execute>"),
            format!("The answer is <solution> {} </solution>.", 2 * i),
        ]})
        .to_string();
        script.push('\n');
    }
    let (t, s) = (dir.join("sums.jsonl"), dir.join("script.jsonl"));
    std::fs::write(&t, tasks).unwrap();
    std::fs::write(&s, script).unwrap();
    (t, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_generators_share_a_queue_and_one_dies() {
    let Ok(url) = std::env::var("CODEACT_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: set CODEACT_TEST_POSTGRES_URL (scripts/test.sh starts a PostgreSQL and sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (tasks, script) = queue_inputs(dir.path(), 9);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let queue = format!("test-{}-{nanos}", std::process::id());
    let spawn = |i: usize| {
        let out = dir.path().join(format!("out{i}"));
        Command::new(env!("CARGO_BIN_EXE_codeact"))
            .args([
                "data",
                "generate",
                tasks.to_str().unwrap(),
                "--llm",
                "script",
                "--script",
                script.to_str().unwrap(),
            ])
            .args([
                "--queue",
                &url,
                "--queue-name",
                &queue,
                "--lease-seconds",
                "3",
                "--out",
                out.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut doomed = spawn(0);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // Wait until the first generator holds a task, then kill it.
    let owner = format!("%:{}:%", doomed.id());
    let deadline = Instant::now() + Duration::from_secs(120);
    let held: String = loop {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT key FROM codeact_data_tasks WHERE queue = $1 AND state = 'leased' AND lease_owner LIKE $2",
        )
        .bind(&queue)
        .bind(&owner)
        .fetch_optional(&pool)
        .await
        .unwrap_or(None);
        if let Some((key,)) = row {
            break key;
        }
        assert!(
            Instant::now() < deadline,
            "the first generator never leased a task"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let others = [spawn(1), spawn(2)];
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    for child in others {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every task done once, the killed generator's task taken over by another.
    let runs: Vec<(String, String)> =
        sqlx::query_as("SELECT key, worker FROM codeact_data_runs WHERE queue = $1")
            .bind(&queue)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(runs.len(), 9, "{runs:?}");
    let (_, worker) = runs.iter().find(|(k, _)| *k == held).unwrap();
    assert!(!worker.contains(&format!(":{}:", doomed.id())), "{worker}");
    let (attempts,): (i32,) =
        sqlx::query_as("SELECT attempts FROM codeact_data_tasks WHERE queue = $1 AND key = $2")
            .bind(&queue)
            .bind(&held)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(attempts >= 2, "{attempts}");
    // Each surviving generator wrote every run and every row.
    for i in [1, 2] {
        let out = dir.path().join(format!("out{i}"));
        let runs = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
        assert_eq!(runs.lines().count(), 9);
        let rows = std::fs::read_to_string(out.join("rows.jsonl")).unwrap();
        assert_eq!(rows.lines().count(), 9);
    }
}
