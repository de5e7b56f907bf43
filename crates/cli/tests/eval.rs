//! The real `codeact eval` binary with the script backend: a run, its rerun, the summary
//! files, compare, a vectors check, and arguments it refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{codeact, text};

use std::path::{Path, PathBuf};

fn gold_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../eval/tests/data/m3tooleval_gold_script.jsonl")
}

/// `codeact eval m3tooleval` in code mode with a script, over the tasks `filter` selects.
fn m3_code_args<'a>(script: &'a str, filter: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "eval",
        "m3tooleval",
        "--llm",
        "script",
        "--script",
        script,
        "--mode",
        "code",
        "--filter",
        filter,
        "--out",
        out,
    ]
}

#[test]
fn an_evaluation_runs_resumes_summarises_and_compares() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("m3");
    let script = gold_script();
    let args = m3_code_args(
        script.to_str().unwrap(),
        "^message_decoder/",
        out_dir.to_str().unwrap(),
    );
    let first = codeact(&args);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stderr}");
    assert!(stdout.contains("8/8 (100.0%)"), "{stdout}");
    for f in [
        "m3tooleval.jsonl",
        "m3tooleval-summary.md",
        "m3tooleval-summary.json",
        "m3tooleval-summary.svg",
        "m3tooleval-settings.json",
    ] {
        assert!(out_dir.join(f).exists(), "{f}");
    }
    let again = codeact(&args);
    let (stdout2, stderr2) = text(&again);
    assert!(again.status.success(), "{stderr2}");
    assert!(stderr2.contains("resuming: 8 of 8"), "{stderr2}");
    assert!(stdout2.contains("8/8 (100.0%)"), "{stdout2}");

    let mut other = args.to_vec();
    other.extend(["--turns", "3"]);
    let refused = codeact(&other);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).1.contains("other settings"),
        "{}",
        text(&refused).1
    );

    let compared = codeact(&[
        "eval",
        "compare",
        out_dir.to_str().unwrap(),
        out_dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&compared);
    assert!(compared.status.success(), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("message_decoder") && l.matches("8/8").count() == 2),
        "{stdout}"
    );
}

#[test]
fn vectors_are_checked_and_bad_arguments_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("v.jsonl");
    std::fs::write(
        &vectors,
        concat!(
            r#"{"domain": "message_decoder", "tool": "reverse_string", "args": ["abc"], "result_repr": "'cba'"}"#,
            "\n",
            r#"{"domain": "message_decoder", "tool": "reverse_string", "args": ["abc"], "result_repr": "'abc'"}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = codeact(&[
        "eval",
        "m3tooleval",
        "--check-tools",
        vectors.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.ends_with("1/2 tool vectors pass\n"), "{stdout}");
    assert!(
        stdout.lines().next().unwrap().contains('2'),
        "the failure names line 2: {stdout}"
    );

    for bad in [["--turns", "0"], ["--concurrency", "0"], ["--samples", "0"]] {
        let out = codeact(&["eval", "m3tooleval", bad[0], bad[1]]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

/// A run of the tasks `filter` selects with a script whose code action sleeps, in `out`, with
/// `extra` flags.
fn sleepy_run(dir: &Path, out: &Path, filter: &str, extra: &[&str]) -> std::process::Output {
    let script = dir.join("sleep.jsonl");
    std::fs::write(
        &script,
        concat!(
            r#"{"replies": ["Action:\nimport time\ntime.sleep(30)\nprint('woke')\nEnd Action", "Answer: 1"]}"#,
            "\n"
        ),
    )
    .unwrap();
    let mut args = m3_code_args(script.to_str().unwrap(), filter, out.to_str().unwrap());
    args.extend(["--turns", "2"]);
    args.extend_from_slice(extra);
    codeact(&args)
}

const ONE: &str = "^message_decoder/full_alien_message_decoding$";

#[test]
fn the_timeout_flag_limits_code_actions_and_failed_starts_bind_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slow");

    // A run that fails before its first record (no task selected) leaves nothing that
    // refuses the next run with other settings.
    let none = sleepy_run(dir.path(), &out, "^nothing$", &["--timeout", "9"]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none).1);
    let unmatched = dir.path().join("unmatched.jsonl");
    std::fs::write(
        &unmatched,
        "{\"first\": \"NEVER SAID\", \"reply\": \"x\"}\n",
    )
    .unwrap();
    let mut args = m3_code_args(unmatched.to_str().unwrap(), ONE, out.to_str().unwrap());
    args.extend(["--turns", "2", "--timeout", "9"]);
    let failed = codeact(&args);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed).1);
    assert!(out.join("m3tooleval-settings.json").exists());

    let done = sleepy_run(dir.path(), &out, ONE, &["--timeout", "1"]);
    let (_, stderr) = text(&done);
    assert!(done.status.success(), "{stderr}");
    let settings = std::fs::read_to_string(out.join("m3tooleval-settings.json")).unwrap();
    assert!(settings.contains("\"cell_timeout_s\": 1.0"), "{settings}");
    let record: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(out.join("m3tooleval.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    // The observation of the sleeping action: the model's action, then what it got back.
    let observation = record["messages"][2]["content"].as_str().unwrap();
    assert!(
        !observation.contains("woke"),
        "ran past its limit: {observation}"
    );
    assert!(observation.contains("the 1 s limit"), "{observation}");

    // Now the directory holds a result: other settings are refused.
    let refused = sleepy_run(dir.path(), &out, ONE, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).1.contains("cell_timeout_s 30.0 (was 1.0)"),
        "{}",
        text(&refused).1
    );

    let file = dir.path().join("afile");
    std::fs::write(&file, "keep").unwrap();
    let on_file = sleepy_run(dir.path(), &file, ONE, &[]);
    assert_eq!(on_file.status.code(), Some(1));
    assert!(
        text(&on_file).1.contains("is not a directory"),
        "{}",
        text(&on_file).1
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
}
