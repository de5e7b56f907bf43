//! CodeActInstruct's formats against the pack's 23 real released rows: re-rendering each row's
//! generation prompt and converting it gives back its system and task messages byte for byte;
//! the rows pass the original's filters; statistics count what the pack says they hold; every
//! export reads back; the protocol strings equal the pack's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use codeact_eval::instruct::convert::to_row;
use codeact_eval::instruct::export::{export, sharegpt, ExportOptions, Format};
use codeact_eval::instruct::filter::{apply, Filter};
use codeact_eval::instruct::mint::{first_message, original_setup, parse_action, Action};
use codeact_eval::instruct::row::{read_rows, shape_problems, Role, Row, RowId};
use codeact_eval::instruct::{stats, strings};
use codeact_protocol::Message;
use serde_json::Value;

fn pack() -> PathBuf {
    std::env::var_os("CODEACT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("codeactinstruct")
}

fn samples() -> Vec<Row> {
    let rows = read_rows(&pack().join("samples.jsonl")).unwrap();
    assert_eq!(rows.len(), 23);
    rows
}

#[test]
fn every_sample_is_well_formed() {
    for row in samples() {
        assert_eq!(shape_problems(&row), Vec::<String>::new(), "{}", row.id);
    }
}

#[test]
fn conversion_reproduces_the_system_and_task_messages() {
    for row in samples() {
        let id = RowId::parse(&row.id).unwrap();
        let (family, tools) = original_setup(&id.task_name).unwrap();
        let example = family.example(&id.task_id).unwrap();
        let prompt = first_message(row.task_text().unwrap(), tools, example);
        let converted = to_row(row.id.clone(), &[Message::user(prompt)]).unwrap();
        assert_eq!(
            converted.conversations,
            row.conversations[..2],
            "{}",
            row.id
        );
    }
}

#[test]
fn the_generation_prompt_example_renders_exactly() {
    let want =
        std::fs::read_to_string(pack().join("prompts/generation_prompt_example.txt")).unwrap();
    let row = samples()
        .into_iter()
        .find(|r| r.id.contains("/prealgebra/1251/"))
        .unwrap();
    let (family, tools) = original_setup("prealgebra").unwrap();
    let task = want.rsplit_once("\n---\n\nTask:\n").unwrap().1.trim_end();
    assert_eq!(task, row.task_text().unwrap());
    assert_eq!(
        first_message(task, tools, family.example("").unwrap()),
        want
    );
}

#[test]
fn the_strings_equal_the_pack() {
    let s: Value = serde_json::from_str(
        &std::fs::read_to_string(pack().join("prompts/strings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["invalid_action"], strings::INVALID_ACTION);
    assert_eq!(s["tool_desc_header"], strings::TOOL_DESC_HEADER);
    assert_eq!(s["executor_empty_output"], strings::EMPTY_OUTPUT);
    assert_eq!(s["executor_truncation_suffix"], strings::TRUNCATION_SUFFIX);
    assert_eq!(s["executor_truncate_at_chars"], strings::TRUNCATE_AT_CHARS);
    assert_eq!(s["wrong_answer"], strings::WRONG_ANSWER);
    assert_eq!(s["countdown_last_step"], strings::LAST_STEP);
    assert_eq!(s["observation_prefix"], strings::OBSERVATION_PREFIX);
    assert_eq!(s["assistant_history_prefix"], strings::ASSISTANT_PREFIX);
    assert_eq!(
        s["generation_settings"]["exp_setting"],
        strings::EXP_SETTING
    );
    assert_eq!(
        s["conversion"]["first_message_split"],
        strings::FIRST_MESSAGE_SPLIT
    );
    assert_eq!(
        s["conversion"]["system_replace_old"],
        strings::THOUGHT_SENTENCE
    );
    assert_eq!(
        s["conversion"]["system_replace_new"],
        strings::THOUGHT_SENTENCE_RELEASED
    );
    let stops: Vec<&str> = s["stop_words"]["openai_chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(stops, strings::STOP_WORDS);
    assert_eq!(
        strings::countdown(4, 2),
        s["countdown"]
            .as_str()
            .unwrap()
            .replace("{steps_left}", "4")
            .replace("{chances_left}", "2")
    );
}

#[test]
fn the_samples_count_down_as_the_protocol_says() {
    // Every observation's count-down follows from the actions before it (§1.2).
    for row in samples() {
        let (mut actions, mut proposals) = (0, 0);
        let c = &row.conversations;
        for (i, t) in c.iter().enumerate().skip(2) {
            if t.role == Role::Assistant {
                actions += 1;
                if matches!(parse_action(&t.content), Action::Propose(_)) {
                    proposals += 1;
                }
                if let Some(obs) = c.get(i + 1) {
                    let want = strings::countdown(5 - actions, 2 - proposals);
                    assert!(
                        obs.content.ends_with(want.trim_end()),
                        "{} message {}",
                        row.id,
                        i + 1
                    );
                }
            }
        }
    }
}

#[test]
fn the_samples_pass_the_original_filters() {
    let (kept, reports) = apply(samples(), &Filter::original());
    assert_eq!(kept.len(), 23);
    assert!(reports.iter().all(|r| r.removed == 0));
}

#[test]
fn statistics_of_the_samples() {
    let rows = samples();
    let s = stats::compute(
        &rows,
        Some(&|t: &str| t.split_whitespace().count()),
        Some(4096),
    );
    assert_eq!(s.total.rows, 23);
    // 61 non-final observations follow 84 actions (23 rows end with one more each).
    let observations: usize = rows
        .iter()
        .map(|r| r.conversations.len() - 3)
        .sum::<usize>()
        / 2;
    assert_eq!(observations, 61);
    assert_eq!(s.total.turns, 61 + 23);
    // The pack's census: 4 tracebacks, 4 truncated, 2 invalid actions.
    assert_eq!(s.total.error_observations, 4);
    assert_eq!(s.total.truncated_observations, 4);
    assert_eq!(s.total.invalid_actions, 2);
    let by_source: Vec<(String, usize)> = s
        .groups
        .iter()
        .map(|g| (g.source.clone(), g.rows))
        .collect();
    assert!(by_source.contains(&("wiki_table_questions".into(), 6)));
    assert!(by_source.contains(&("hotpotqa".into(), 4)));
    assert!(s.markdown().contains("| **total** |  | **23** |"));
    assert!(codeact_eval::instruct::histograms(&s).starts_with("<svg"));
}

#[test]
fn exports_read_back() {
    let rows = samples();
    let opts = ExportOptions::default();
    let parquet = export(&rows, Format::Parquet, "codeact.parquet", &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codeact.parquet");
    std::fs::write(&path, &parquet[0].bytes).unwrap();
    assert_eq!(read_rows(&path).unwrap(), rows);
    for format in [
        Format::Openai,
        Format::Sharegpt,
        Format::Axolotl,
        Format::Chatml,
    ] {
        let files = export(&rows, format, "out.jsonl", &opts).unwrap();
        let text = String::from_utf8(files[0].bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 23, "{format:?}");
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }
    // The rows themselves, as Axolotl reads them, round-trip.
    let axolotl = export(&rows, Format::Axolotl, "rows.jsonl", &opts).unwrap();
    let path = dir.path().join("rows.jsonl");
    std::fs::write(&path, &axolotl[0].bytes).unwrap();
    assert_eq!(read_rows(&path).unwrap(), rows);
    // ShareGPT keeps every non-system turn, alternating as LLaMA-Factory requires.
    for row in &rows {
        let v = sharegpt(row, true);
        assert_eq!(
            v["conversations"].as_array().unwrap().len(),
            row.conversations.len() - 1
        );
    }
}
