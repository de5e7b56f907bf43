//! The web chat at `/` of `codeact serve --agent`, in headless Chromium (Debian's `chromium`,
//! driven by Playwright from the dev venv; `scripts/test.sh` installs both): the real binary
//! and sandbox with a scripted LLM. A plot request shows its code, output and figure; an
//! uploaded CSV is read by the code; a reload keeps the conversation; the page fits a phone.
//! The screenshot is kept as `docs/webchat.png` when `CODEACT_SCREENSHOT` names a path.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The dev venv's Python with Playwright, and Debian's Chromium.
fn browser_python() -> PathBuf {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "no /usr/bin/chromium: run scripts/test.sh (it installs Debian's chromium)"
    );
    common::dev_python("playwright.sync_api")
}

#[test]
fn the_web_chat_shows_code_outputs_and_figures_and_keeps_the_conversation() {
    let python = browser_python();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_codeact"))
        .current_dir(dir.path())
        .args([
            "serve", "--agent", "--port", "0", "--llm", "script", "--script",
        ])
        .arg(data("webchat_script.jsonl"))
        .arg("--history")
        .arg(dir.path().join("history.sqlite3"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = common::serving_address(&mut child);
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "value\n1\n2\n3\n").unwrap();
    let shot = std::env::var_os("CODEACT_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("webchat.png"));
    let out = Command::new(python)
        .arg(data("webchat_browser.py"))
        .arg(&base)
        .arg(&csv)
        .arg(&shot)
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("web chat: all checks passed"));
    assert!(shot.exists());
}
