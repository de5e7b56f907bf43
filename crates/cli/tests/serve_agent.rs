//! `codeact serve --agent` driven by the official `openai` Python package, as chat UIs drive
//! an OpenAI-compatible server: the real binary and the real sandbox, with the embedded default
//! model, and with a scripted LLM for the protocol's details (the replies are the script's;
//! what is tested is the protocol around them).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The server, and the directory it runs in (where the agent saves figures), removed with it.
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The Python with the `openai` package.
fn client_python() -> PathBuf {
    common::dev_python("openai")
}

/// Starts `codeact serve --agent --port 0` with `args`; the server and its base URL.
fn serve(args: &[&str]) -> (Server, String) {
    serve_with_env(args, &[])
}

fn serve_with_env(args: &[&str], env: &[(&str, &str)]) -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_codeact"))
        .current_dir(dir.path())
        .args(["serve", "--agent", "--port", "0"])
        .arg("--history")
        .arg(dir.path().join("history.sqlite3"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = common::serving_address(&mut child);
    (Server { child, _dir: dir }, base)
}

/// The embedded default model, through the server, computes with the real sandbox.
#[test]
fn the_embedded_model_answers_through_the_server() {
    let python = client_python();
    let (_server, base) = serve(&[]);
    let client = "import sys\nfrom openai import OpenAI\n\
        c = OpenAI(base_url=sys.argv[1] + '/v1', api_key='unused')\n\
        r = c.chat.completions.create(model='codeact', messages=[{'role': 'user', 'content': 'What is 2**100? Compute it with Python.'}])\n\
        print(r.choices[0].message.content)";
    let out = Command::new(python)
        .args(["-c", client, &base])
        .output()
        .unwrap();
    let content = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        content.contains("<details type=\"code_interpreter\" done=\"true\""),
        "{content}"
    );
    assert!(
        content.contains("1267650600228229401496703205376"),
        "{content}"
    );
    // The tokens the model read and wrote are counted in the metrics.
    let metrics = reqwest::blocking::get(format!("{base}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let tokens = |kind: &str| -> u64 {
        let prefix = format!("codeact_llm_tokens_total{{kind=\"{kind}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {kind} tokens in the metrics:\n{metrics}"))
    };
    assert!(tokens("prompt") > 100, "{metrics}");
    assert!(tokens("completion") > 5, "{metrics}");

    // The same question as a stored conversation: streamed, run, and kept.
    let http = reqwest::blocking::Client::new();
    let conv: Value = http
        .post(format!("{base}/v1/conversations"))
        .json(&serde_json::json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = conv["id"].as_str().unwrap();
    let sse = http
        .post(format!("{base}/v1/conversations/{id}/messages"))
        .json(&serde_json::json!({"content": "What is 2**100? Compute it with Python."}))
        .timeout(std::time::Duration::from_secs(600))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let events: Vec<Value> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let done = events.last().unwrap();
    assert_eq!(done["type"], "done", "{sse}");
    assert_eq!(done["message"]["status"], "done", "{sse}");
    let steps = done["message"]["steps"].as_array().unwrap();
    let ran = steps.iter().any(|e| {
        e["type"] == "observation"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains("1267650600228229401496703205376"))
    });
    assert!(ran, "the code ran and printed 2**100: {sse}");
    let stored: Value = http
        .get(format!("{base}/v1/conversations/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stored["messages"].as_array().unwrap().len(), 2, "{stored}");
    assert_eq!(stored["messages"][1], done["message"], "stored as streamed");
}

#[test]
fn the_openai_client_chats_with_the_agent() {
    let python = client_python();
    let script = data("agent_chat_script.jsonl");
    let (_server, base) = serve(&["--llm", "script", "--script", &script]);
    let out = Command::new(python)
        .arg(data("openai_client.py"))
        .arg(&base)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client failed: {stderr}");
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("{seen:#}");
    assert_eq!(seen["models"], serde_json::json!(["codeact"]));

    // The thought is reasoning; the action a code-interpreter block with its output; the
    // reply, built from what the action printed, the content.
    let first = &seen["first"];
    assert_eq!(first["reasoning"], "I will compute it.");
    let content = first["content"].as_str().unwrap();
    assert!(
        content.starts_with("<details type=\"code_interpreter\" done=\"true\" output=\"{&quot;stdout&quot;:&quot;42\\n&quot;}\">\n<summary>Analyzed</summary>"),
        "{content}"
    );
    assert!(
        content.contains("```python\nx = 6 * 7\nprint(x)\n```\n</details>"),
        "{content}"
    );
    assert!(
        content.contains("The product is") && content.ends_with("42"),
        "{content}"
    );
    assert_eq!(first["finish"], "stop");

    // Streamed, in the same conversation: the session kept `x`.
    let second = &seen["second"];
    assert_eq!(second["reasoning"], "Doubling the kept value.\n");
    let content = second["content"].as_str().unwrap();
    assert!(
        content.contains("&quot;stdout&quot;:&quot;84\\n&quot;"),
        "{content}"
    );
    assert!(
        content.contains("Doubled:") && content.trim_end().ends_with("84"),
        "{content}"
    );
    assert_eq!(second["finish"], "stop");
    assert!(second["chunks"].as_u64().unwrap() >= 4, "{second}");

    // Figures follow their block as inline images.
    let plot = seen["plot"].as_str().unwrap();
    assert!(
        plot.contains("![figure](data:image/png;base64,iVBOR"),
        "{plot}"
    );
    assert!(plot.ends_with("Plotted."), "{plot}");

    assert_eq!(seen["unknown_model"], 404);
}

/// With API keys, a conversation id names a conversation of the caller's own: two users who
/// send the same id reach two agents and two sessions; a wrong key is refused.
#[test]
fn conversations_belong_to_their_user() {
    let python = client_python();
    let script = data("agent_chat_script.jsonl");
    let (alice, bob) = ("alice-key-0123456789", "bob-key-9876543210xx");
    let keys = format!("alice:{alice},bob:{bob}");
    let (_server, base) = serve_with_env(
        &["--llm", "script", "--script", &script],
        &[("CODEACT_API_KEYS", &keys)],
    );
    let out = Command::new(python)
        .arg(data("openai_users.py"))
        .args([&base, alice, bob])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = |k: &str| seen[k].as_str().unwrap_or_default().to_string();
    assert!(text("alice_1").ends_with("42"), "{seen:#}");
    assert_eq!(text("bob_1"), "Hello from the script.", "{seen:#}");
    assert!(text("alice_2").ends_with("84"), "{seen:#}");
    assert_eq!(seen["wrong_key"], 401);
}

/// SIGTERM: the server stops taking requests, lets a running one go on for the grace period,
/// then cancels its agent run: the client still gets a whole answer, which says the run was
/// stopped, and the server exits cleanly.
#[test]
fn a_stop_lets_running_answers_end_cleanly() {
    let python = client_python();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[server]\nshutdown_grace_s = 1\n").unwrap();
    let script = data("agent_chat_script.jsonl");
    let config = config.to_string_lossy().into_owned();
    let (mut server, base) = serve(&["--llm", "script", "--script", &script, "--config", &config]);
    let client = "import sys\nfrom openai import OpenAI\n\
        c = OpenAI(base_url=sys.argv[1] + '/v1', api_key='unused', timeout=60)\n\
        r = c.chat.completions.create(model='codeact', messages=[{'role': 'user', 'content': 'Sleep long'}])\n\
        print(r.choices[0].message.content)";
    let pending = Command::new(python)
        .args(["-c", client, &base])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The cell is asleep by then.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let stopped_at = std::time::Instant::now();
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    let out = pending.wait_with_output().unwrap();
    let content = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(content.contains("the run was stopped"), "{content}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        stopped_at.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        stopped_at.elapsed()
    );
}
