//! The client against a scripted loopback HTTP server: streaming, retries, error mapping.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A canned HTTP answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn sse(events: &[&str]) -> Reply {
    let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    Reply {
        status: 200,
        headers: vec![("Content-Type", "text/event-stream".into())],
        body,
    }
}

fn status(code: u16, body: &str) -> Reply {
    Reply {
        status: code,
        headers: vec![("Content-Type", "application/json".into())],
        body: body.into(),
    }
}

/// Serves the replies in order, one per connection; returns the base URL and a hit counter.
async fn serve(replies: Vec<Reply>) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (h, b) = (Arc::clone(&hits), Arc::clone(&bodies));
    tokio::spawn(async move {
        for reply in replies {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            loop {
                let n = sock.read(&mut tmp).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&tmp[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + len {
                        b.lock().unwrap().push(text[head_end + 4..].to_string());
                        break;
                    }
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let mut head = format!(
                "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                reply.status,
                reply.body.len()
            );
            for (k, v) in &reply.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(reply.body.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}/v1"), hits, bodies)
}

fn backend(base_url: String) -> OpenAiBackend {
    OpenAiBackend::new(OpenAiConfig {
        base_url,
        model: "test".into(),
        api_key_env: "CODEACT_TEST_NO_SUCH_KEY".into(),
        request_timeout: Duration::from_secs(5),
        max_retries: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..OpenAiConfig::default()
    })
    .unwrap()
}

async fn collect(stream: BoxChunkStream) -> Vec<Result<Chunk, LlmError>> {
    stream.collect().await
}

fn text_of(items: &[Result<Chunk, LlmError>]) -> String {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(Chunk::Delta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn streams_deltas_then_done_with_usage() {
    let (url, _, bodies) = serve(vec![sse(&[
        r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"choices":[{"delta":{"content":"Hel"}}]}"#,
        r#"{"choices":[{"delta":{"content":"lo"},"finish_reason":null}]}"#,
        r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
        "[DONE]",
    ])])
    .await;
    let req = CompletionRequest {
        messages: vec![codeact_protocol::Message::user("hi")],
        ..Default::default()
    };
    let items = collect(backend(url).stream(req).await.unwrap()).await;
    assert_eq!(text_of(&items), "Hello");
    let last = items.last().unwrap().as_ref().unwrap();
    assert_eq!(
        last,
        &Chunk::Done {
            finish: FinishReason::Length,
            usage: Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
                cached_tokens: 0
            }
        }
    );
    let sent: serde_json::Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["messages"][0]["content"], "hi");
    assert_eq!(sent["stream"], true);
}

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let (url, hits, _) = serve(vec![
        status(503, r#"{"error":{"message":"loading"}}"#),
        Reply {
            status: 429,
            headers: vec![("Retry-After", "0".into())],
            body: "busy".into(),
        },
        sse(&[
            r#"{"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]),
    ])
    .await;
    let items = collect(
        backend(url)
            .stream(CompletionRequest::default())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text_of(&items), "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let (url, hits, _) = serve(vec![
        status(500, "a"),
        status(502, "b"),
        status(503, "c"),
        status(200, ""),
    ])
    .await;
    let err = backend(url)
        .stream(CompletionRequest::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, LlmError::Unavailable(ref m) if m.contains("503")),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn does_not_retry_4xx() {
    let (url, hits, _) = serve(vec![
        status(401, r#"{"error":{"message":"invalid key"}}"#),
        status(200, ""),
    ])
    .await;
    let err = backend(url)
        .stream(CompletionRequest::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, LlmError::Rejected(ref m) if m.contains("invalid key")),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn context_error_maps_to_context_length() {
    let body = r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#;
    let (url, _, _) = serve(vec![status(400, body)]).await;
    let err = backend(url)
        .stream(CompletionRequest::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LlmError::ContextLength(_)), "{err}");
}

#[tokio::test]
async fn connection_refused_is_unavailable_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = backend(format!("http://{addr}/v1"))
        .stream(CompletionRequest::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LlmError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn error_inside_stream_is_reported() {
    let (url, _, _) = serve(vec![sse(&[
        r#"{"choices":[{"delta":{"content":"a"}}]}"#,
        r#"{"error":{"message":"boom"}}"#,
    ])])
    .await;
    let items = collect(
        backend(url)
            .stream(CompletionRequest::default())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text_of(&items), "a");
    assert!(matches!(items.last().unwrap(), Err(LlmError::Unavailable(m)) if m.contains("boom")));
}

#[tokio::test]
async fn truncated_stream_is_an_error() {
    let (url, _, _) = serve(vec![sse(&[r#"{"choices":[{"delta":{"content":"a"}}]}"#])]).await;
    let items = collect(
        backend(url)
            .stream(CompletionRequest::default())
            .await
            .unwrap(),
    )
    .await;
    assert!(matches!(
        items.last().unwrap(),
        Err(LlmError::Unavailable(_))
    ));
}

#[tokio::test]
async fn stops_beyond_the_server_limit_are_matched_here() {
    let (url, _, bodies) = serve(vec![sse(&[
        r#"{"choices":[{"delta":{"content":"one EN"}}]}"#,
        r#"{"choices":[{"delta":{"content":"D two"}}]}"#,
        r#"{"choices":[{"delta":{"content":" three"},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ])])
    .await;
    let stops: Vec<String> = ["a1", "a2", "a3", "a4", "END"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let req = CompletionRequest {
        stop: stops,
        ..Default::default()
    };
    let items = collect(backend(url).stream(req).await.unwrap()).await;
    assert_eq!(text_of(&items), "one ");
    assert!(
        matches!(items.last().unwrap(), Ok(Chunk::Done { finish: FinishReason::Stop { sequence: Some(s) }, .. }) if s == "END")
    );
    let sent: serde_json::Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["stop"].as_array().map(Vec::len), Some(4));
}

#[test]
fn retry_after_parses_seconds_only() {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
    assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    h.insert(
        reqwest::header::RETRY_AFTER,
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(retry_after(&h), None);
}

/// A streamed reply in `pieces`, ended with `finish` (an OpenAI `finish_reason`).
fn reply_in_pieces(pieces: &[&str], finish: &str) -> Reply {
    let mut events: Vec<String> = pieces
        .iter()
        .map(|p| serde_json::json!({"choices": [{"delta": {"content": p}}]}).to_string())
        .collect();
    events
        .push(serde_json::json!({"choices": [{"delta": {}, "finish_reason": finish}]}).to_string());
    events.push("[DONE]".into());
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    sse(&events)
}

#[tokio::test]
async fn the_beginning_of_a_stop_is_dropped_only_when_the_server_stopped() {
    let stop = "</execute>";
    let mut replies = Vec::new();
    for n in 1..stop.len() {
        for finish in ["stop", "length"] {
            replies.push(reply_in_pieces(&["print(6 * 7)\n", &stop[..n]], finish));
        }
    }
    let (url, _, _) = serve(replies).await;
    let b = backend(url);
    for n in 1..stop.len() {
        for finish in ["stop", "length"] {
            let req = CompletionRequest {
                stop: vec![stop.into()],
                ..Default::default()
            };
            let items = collect(b.stream(req).await.unwrap()).await;
            let want = if finish == "stop" {
                "print(6 * 7)\n".to_string()
            } else {
                format!("print(6 * 7)\n{}", &stop[..n])
            };
            assert_eq!(text_of(&items), want, "{n} {finish}");
        }
    }
}

#[tokio::test]
async fn a_stop_the_server_streams_whole_ends_the_reply_there() {
    let (url, _, _) = serve(vec![reply_in_pieces(
        &["print(1)\n</exe", "cute>\nExecution output: 1"],
        "stop",
    )])
    .await;
    let req = CompletionRequest {
        stop: vec!["</execute>".into()],
        ..Default::default()
    };
    let items = collect(backend(url).stream(req).await.unwrap()).await;
    assert_eq!(text_of(&items), "print(1)\n");
    assert!(
        matches!(items.last().unwrap(), Ok(Chunk::Done { finish: FinishReason::Stop { sequence: Some(s) }, .. }) if s == "</execute>")
    );
}

#[tokio::test]
async fn continuation_requests_need_a_capable_server_and_an_assistant_message_last() {
    let (url, hits, _) = serve(vec![]).await;
    let mut b = backend(url);
    let req = CompletionRequest {
        messages: vec![codeact_protocol::Message::user("hi")],
        continue_final_message: true,
        ..Default::default()
    };
    assert!(matches!(
        b.stream(req.clone()).await,
        Err(LlmError::Rejected(_))
    ));
    b.config.continuation = Continuation::Unsupported;
    assert!(!b.supports_continuation());
    let mut req = req;
    req.messages
        .push(codeact_protocol::Message::assistant("<execute>"));
    assert!(matches!(b.stream(req).await, Err(LlmError::Rejected(m)) if m.contains("unable")));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_echoed_unfinished_reply_is_not_part_of_the_continuation() {
    let unfinished = "<execute>\ntag = \"</execute>";
    let (url, _, bodies) = serve(vec![
        // llama-server streams the unfinished reply again first; its stop text must not stop
        // the continuation.
        reply_in_pieces(
            &["<execute>\ntag = \"</exe", "cute>\"\nprint(tag)\n"],
            "stop",
        ),
        reply_in_pieces(&["\"\nprint(tag)\n"], "stop"),
    ])
    .await;
    let b = backend(url);
    for _ in 0..2 {
        let req = CompletionRequest {
            messages: vec![
                codeact_protocol::Message::user("hi"),
                codeact_protocol::Message::assistant(unfinished),
            ],
            stop: vec!["</execute>".into()],
            continue_final_message: true,
            ..Default::default()
        };
        let items = collect(b.stream(req).await.unwrap()).await;
        assert_eq!(text_of(&items), "\"\nprint(tag)\n");
    }
    let sent: serde_json::Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["messages"][1]["role"], "assistant");
    assert_eq!(sent["messages"][1]["content"], unfinished);
}
