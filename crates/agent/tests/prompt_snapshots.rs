//! The exact system prompts the model sees, compared with checked-in files. Run with
//! `UPDATE_SNAPSHOTS=1` to rewrite the files after a deliberate change, then review the diff.

use std::path::PathBuf;

use codeact_agent::prompt::{system_prompt, PromptContext};
use codeact_agent::{Mode, PromptStyle, ToolInfo, DEFAULT_PRELOAD};

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        if let Err(e) = std::fs::write(&path, actual) {
            panic!("cannot write {}: {e}", path.display());
        }
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert!(expected == actual, "{name} changed; run with UPDATE_SNAPSHOTS=1 and review the diff.\n--- actual ---\n{actual}");
}

fn preload() -> Vec<String> {
    DEFAULT_PRELOAD.iter().map(|s| s.to_string()).collect()
}

fn tools() -> Vec<ToolInfo> {
    vec![
        ToolInfo {
            name: "get_weather".into(),
            signature: "(city: str, unit: str = 'C') -> float".into(),
            doc: "Current temperature in a city.".into(),
        },
        ToolInfo {
            name: "shout".into(),
            signature: "(text)".into(),
            doc: String::new(),
        },
    ]
}

#[test]
fn ours_task() {
    let pre = preload();
    let ctx = PromptContext {
        mode: Mode::Task,
        style: PromptStyle::Ours,
        network: false,
        preloaded: &pre,
        tools: &[],
    };
    check("ours_task", &system_prompt(&ctx));
}

#[test]
fn ours_chat_with_tools_and_network() {
    let pre = preload();
    let tools = tools();
    let ctx = PromptContext {
        mode: Mode::Chat,
        style: PromptStyle::Ours,
        network: true,
        preloaded: &pre,
        tools: &tools,
    };
    check("ours_chat_tools_network", &system_prompt(&ctx));
}

#[test]
fn seed_task() {
    let pre = preload();
    let ctx = PromptContext {
        mode: Mode::Task,
        style: PromptStyle::Seed,
        network: false,
        preloaded: &pre,
        tools: &[],
    };
    check("seed_task", &system_prompt(&ctx));
}

#[test]
fn seed_chat_with_network() {
    let pre = preload();
    let ctx = PromptContext {
        mode: Mode::Chat,
        style: PromptStyle::Seed,
        network: true,
        preloaded: &pre,
        tools: &[],
    };
    check("seed_chat_network", &system_prompt(&ctx));
}
