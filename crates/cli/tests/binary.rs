//! The real `codeact` binary: serve, exec, sandbox, and the agent end to end with the
//! embedded default model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

fn codeact() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codeact"))
}

#[test]
fn exec_runs_one_cell_in_a_local_engine() {
    let out = codeact()
        .args(["exec", "--session", "t", "x = 6 * 7\nprint(x)"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    let out = codeact().args(["exec", "1/0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ZeroDivisionError"));
}

#[test]
fn sandbox_reports_what_it_enforces() {
    let out = codeact().arg("sandbox").output().unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["backend"], "local");
    assert_eq!(report["isolated"], true);
    assert_eq!(
        report["namespaces"],
        serde_json::json!(["user", "pid", "mount", "net", "ipc", "uts"])
    );
    assert!(
        report["seccomp"]["denied_syscalls"].as_u64() > Some(0),
        "{report}"
    );
}

#[test]
fn bad_flags_are_refused_clearly() {
    let out = codeact()
        .args(["exec", "--sandbox", "maybe", "1"])
        .output()
        .unwrap();
    // A usage error: clap's exit status 2, naming the flag and its choices.
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'maybe' for '--sandbox")
            && stderr.contains("[possible values: local, none]"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_embedded_model_is_refused_with_the_known_names() {
    let out = codeact()
        .args([
            "run",
            "--llm",
            "embedded",
            "--model",
            "gpt-4o",
            "What is 2+2?",
        ])
        .env_remove("CODEACT_MODEL_PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"gpt-4o\"")
            && stderr.contains("qwen2.5-coder-0.5b, qwen2.5-coder-1.5b")
            && stderr.contains("--model-path"),
        "{stderr}"
    );
}

/// The server load run, small: every turn answered, none an error (the exit status says so).
#[test]
fn bench_serve_runs_conversations_against_the_real_server() {
    let out = codeact()
        .args([
            "bench",
            "serve",
            "--conversations",
            "3",
            "--turns",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let row = &report["rows"][0];
    assert_eq!(
        (row["conversations"].as_u64(), row["turns"].as_u64()),
        (Some(3), Some(6)),
        "{report}"
    );
    assert_eq!(row["errors"], 0, "{report}");
    assert!(
        row["server_memory"]["processes"].as_u64().unwrap() >= 7,
        "{report}"
    );
}

/// Listening beyond loopback without API keys would let anyone who reaches the port run
/// code: the server refuses to start, and says what to set.
#[test]
fn serve_refuses_other_addresses_without_keys() {
    let out = codeact()
        .args(["serve", "--host", "0.0.0.0", "--port", "0"])
        .env_remove("CODEACT_API_KEYS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs API keys") && stderr.contains("CODEACT_API_KEYS"),
        "{stderr}"
    );
    let out = codeact()
        .args(["serve", "--port", "0"])
        .env("CODEACT_API_KEYS", "alice:short")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shorter than 16"), "{stderr}");
}

#[test]
fn serve_answers_seed_execute_and_exec_talks_to_it() {
    let mut child = codeact()
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = common::serving_address(&mut child);
    let client = reqwest::blocking::Client::new();
    let r: serde_json::Value = client
        .post(format!("{url}/execute"))
        .json(&serde_json::json!({"convid": "c1", "code": "y = 5\nprint(y)"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        r,
        serde_json::json!({"result": "5\n", "new_kernel_created": true})
    );
    // `codeact exec --server` reaches the same session by the same name.
    let out = codeact()
        .args(["exec", "--server", &url, "--session", "c1", "print(y + 1)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6\n");
    stop(&mut child);
}

fn stop(child: &mut std::process::Child) {
    // SIGTERM lets the server end its sessions before exiting.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "server exited with {status}");
}

#[test]
fn run_prints_the_answer_alone_on_the_last_line() {
    let out = codeact()
        .args(["run", "What is 2**100? Compute it with Python."])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().last(),
        Some("1267650600228229401496703205376"),
        "{stdout}"
    );
}

#[test]
fn run_json_streams_events() {
    let out = codeact()
        .args([
            "run",
            "--json",
            "--max-turns",
            "3",
            "Compute 12345 * 6789 with Python and give the result.",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(events.first().unwrap()["type"], "turn_started");
    assert_eq!(events.last().unwrap()["type"], "end");
    assert!(
        events.iter().any(|e| e["type"] == "code_action"),
        "{stdout}"
    );
}
