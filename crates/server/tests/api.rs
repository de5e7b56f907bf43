//! The HTTP API over a real sandboxed backend, on a loopback port: seed `/execute`, the `/v1`
//! session API, streaming, interrupt, restart, files, error answers and limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use codeact_exec::ExecConfig;
use codeact_protocol::{ExecStatus, Output, StreamName};
use codeact_server::ServerConfig;
use common::{quick_config, unique, TestServer};
use futures::StreamExt;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_execute_creates_on_first_use_and_keeps_state() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("seed-");
    let (text, created) = srv.seed(&id, "x = 20\nprint('hello')").await;
    assert_eq!(text, "hello\n");
    assert!(created, "the first use creates the kernel");
    let (text, created) = srv.seed(&id, "x * 2 + 2").await;
    assert_eq!(text, "42\n");
    assert!(!created, "the second use reuses it");
    // Errors come back as text in `result`, not as an HTTP error.
    let (text, created) = srv.seed(&id, "1/0").await;
    assert!(text.contains("ZeroDivisionError"), "{text}");
    assert!(!created);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_created_listed_described_and_deleted() {
    let srv = TestServer::start(quick_config()).await;
    let r = srv.get("/health").await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"status": "ok"})));
    let r = srv.get("/v1/sandbox").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["backend"], "local");
    assert_eq!(r.body["isolated"], true);
    assert_eq!(
        r.body["namespaces"],
        json!(["user", "pid", "mount", "net", "ipc", "uts"])
    );
    assert_eq!(r.body["network"], "loopback_only");
    assert_eq!(r.body["no_new_privs"], true);

    // Without a body: a generated id.
    let r = srv
        .post_raw("/v1/sessions", "application/json", Vec::new())
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let generated = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a uuid: {generated}");
    // With an id.
    let named = unique("named-");
    let r = srv.post("/v1/sessions", &json!({ "id": named })).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["id"], named.as_str());
    assert_eq!(r.body["backend"], "local");
    assert_eq!(r.body["state"], "idle");
    assert_eq!(r.body["executions"], 0);
    // Creating again is idempotent.
    let r = srv.post("/v1/sessions", &json!({ "id": named })).await;
    assert_eq!(r.status, 201);
    // Unknown fields and bad ids are refused.
    srv.post("/v1/sessions", &json!({ "id": "x", "bogus": 1 }))
        .await
        .assert_error(400, "bad_request");
    srv.post("/v1/sessions", &json!({ "id": "../etc" }))
        .await
        .assert_error(400, "bad_request");
    srv.post("/v1/sessions", &json!({ "id": "a/b" }))
        .await
        .assert_error(400, "bad_request");

    let r = srv.get("/v1/sessions").await;
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&generated.as_str()) && ids.contains(&named.as_str()),
        "{ids:?}"
    );
    assert_eq!(ids.len(), 2, "{ids:?}");

    srv.exec(&named, "1").await;
    let r = srv.get(&format!("/v1/sessions/{named}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["executions"], 1);
    assert!(r.body["last_used_at"].as_u64().unwrap() >= r.body["created_at"].as_u64().unwrap());

    srv.delete_session(&named).await;
    srv.get(&format!("/v1/sessions/{named}"))
        .await
        .assert_error(404, "not_found");
    srv.delete(&format!("/v1/sessions/{named}"))
        .await
        .assert_error(404, "not_found");
    let r = srv.get("/v1/sessions").await;
    assert_eq!(r.body["sessions"].as_array().unwrap().len(), 1);
    srv.delete_session(&generated).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_returns_typed_outputs_in_order() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("typed-");
    let code = "import sys\nfrom IPython.display import display\nprint('out')\nprint('err', file=sys.stderr)\n\
                display('shown')\n40 + 2";
    let r = srv.exec(&id, code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert!(r.new_session);
    assert!(r.duration_ms > 0.0);
    assert!(r.notice.is_none(), "{r:?}");
    assert_eq!(r.outputs.len(), 4, "{r:?}");
    assert_eq!(
        r.outputs[0],
        Output::Stream {
            name: StreamName::Stdout,
            text: "out\n".into()
        }
    );
    assert_eq!(
        r.outputs[1],
        Output::Stream {
            name: StreamName::Stderr,
            text: "err\n".into()
        }
    );
    match &r.outputs[2] {
        Output::Display { data, .. } => assert_eq!(data.text_plain(), Some("'shown'")),
        o => panic!("expected a display, got {o:?}"),
    }
    match &r.outputs[3] {
        Output::Result {
            data,
            execution_count,
            ..
        } => {
            assert_eq!(data.text_plain(), Some("42"));
            assert!(execution_count.is_some());
        }
        o => panic!("expected a result, got {o:?}"),
    }

    let r = srv.exec(&id, "def f():\n    return 1 / 0\nf()").await;
    assert_eq!(r.status, ExecStatus::Error);
    assert!(!r.new_session);
    match r.outputs.last() {
        Some(Output::Error {
            ename,
            evalue,
            traceback,
        }) => {
            assert_eq!(ename, "ZeroDivisionError");
            assert_eq!(evalue, "division by zero");
            assert!(
                traceback.iter().any(|l| l.contains("return 1 / 0")),
                "{traceback:?}"
            );
            assert!(
                !traceback.concat().contains('\u{1b}'),
                "ANSI escapes in {traceback:?}"
            );
        }
        o => panic!("expected an error, got {o:?}"),
    }

    // Per-request timeout, and its validation.
    let started = Instant::now();
    let r = srv
        .exec_body(
            &id,
            &json!({"code": "import time; time.sleep(30)", "timeout_s": 1}),
        )
        .await;
    assert_eq!(r.status, ExecStatus::Interrupted, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    for bad in [json!(0), json!(-1), json!(1e9)] {
        srv.post(
            &format!("/v1/sessions/{id}/execute"),
            &json!({"code": "1", "timeout_s": bad}),
        )
        .await
        .assert_error(400, "bad_request");
    }
    srv.post(
        &format!("/v1/sessions/{id}/execute"),
        &json!({"code": "1", "nope": true}),
    )
    .await
    .assert_error(400, "bad_request");
    srv.stop().await;
}

/// Parses a server-sent event stream as it arrives: `(event, data, time since the request)`.
async fn read_events(resp: reqwest::Response, started: Instant) -> Vec<(String, Value, Duration)> {
    let mut events = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut event = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if !data.is_empty() {
                events.push((
                    event,
                    serde_json::from_str(&data).unwrap(),
                    started.elapsed(),
                ));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_sends_output_events_before_done() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("stream-");
    srv.exec(&id, "import time").await;
    let started = Instant::now();
    let resp = srv
        .http
        .post(srv.url(&format!("/v1/sessions/{id}/execute")))
        .json(&json!({"code": "print('first', flush=True)\ntime.sleep(0.5)\nprint('second')", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let events = read_events(resp, started).await;
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names.last(), Some(&"done"), "{events:?}");
    assert_eq!(
        names.iter().filter(|n| **n == "done").count(),
        1,
        "{events:?}"
    );
    assert!(
        names[..names.len() - 1].iter().all(|n| *n == "output"),
        "{events:?}"
    );
    // All the text arrives through output events, in order, and the done event repeats it.
    let streamed: String = events[..events.len() - 1]
        .iter()
        .map(|e| {
            serde_json::from_value::<Output>(e.1.clone())
                .unwrap()
                .text()
        })
        .collect();
    assert_eq!(streamed, "first\nsecond\n", "{events:?}");
    let done: codeact_protocol::ExecResult =
        serde_json::from_value(events.last().unwrap().1.clone()).unwrap();
    assert_eq!(done.status, ExecStatus::Ok);
    assert_eq!(done.text(), "first\nsecond\n");
    // Live: 'first' arrives while the cell still sleeps, well before it ends.
    let first_at = events[0].2;
    let done_at = events.last().unwrap().2;
    assert!(
        done_at >= first_at + Duration::from_millis(300),
        "the first output came at {first_at:?}, the end at {done_at:?}: output is not streamed live ({events:?})"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_the_running_cell_and_keeps_state() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("intr-");
    srv.exec(&id, "kept = 'yes'\nimport time").await;
    let base = srv.base.clone();
    let http = srv.http.clone();
    let url = format!("{base}/v1/sessions/{id}/execute");
    let started = Instant::now();
    let running = tokio::spawn(async move {
        http.post(url)
            .json(&json!({"code": "time.sleep(60)", "timeout_s": 60}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    // Wait until the session reports the cell as running.
    loop {
        let r = srv.get(&format!("/v1/sessions/{id}")).await;
        if r.body["state"] == "busy" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the cell never started: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = srv
        .post(&format!("/v1/sessions/{id}/interrupt"), &json!({}))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let body = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the cell ends after an interrupt")
        .unwrap();
    let r: codeact_protocol::ExecResult = serde_json::from_value(body).unwrap();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(r.status, ExecStatus::Error, "{r:?}");
    assert_eq!(
        common::ename(&r).as_deref(),
        Some("KeyboardInterrupt"),
        "{r:?}"
    );
    let r = srv.exec(&id, "kept").await;
    assert_eq!(r.text(), "'yes'\n");
    srv.post(
        &format!("/v1/sessions/{}/interrupt", unique("nope-")),
        &json!({}),
    )
    .await
    .assert_error(404, "not_found");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loses_variables_but_keeps_files() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("restart-");
    let r = srv
        .exec(
            &id,
            "v = 1\nopen('kept.txt', 'w').write('still here')\nimport os; os.getpid()",
        )
        .await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let r = srv
        .post(&format!("/v1/sessions/{id}/restart"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["restarts"], 1);
    let r = srv
        .exec(
            &id,
            "print('v' in globals())\nprint(open('kept.txt').read())",
        )
        .await;
    assert_eq!(r.text(), "False\nstill here\n");
    assert!(!r.new_session);
    srv.post(
        &format!("/v1/sessions/{}/restart", unique("nope-")),
        &json!({}),
    )
    .await
    .assert_error(404, "not_found");
    srv.stop().await;
}

/// A listing stops at the cap and says so, so that a client does not take a folder past the
/// cut for an empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_cut_at_the_cap_says_it_was_cut() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("many-files-");
    let code = "import os\nos.makedirs('a')\nos.makedirs('b/c')\n\
                for i in range(10_050): open(f'a/{i:05}', 'w').close()\nprint('made')";
    assert_eq!(common::stdout(&srv.exec(&id, code).await), "made\n");
    let r = srv.get(&format!("/v1/sessions/{id}/files")).await;
    assert_eq!(r.status, 200);
    let files = r.body["files"].as_array().expect("files");
    assert_eq!(files.len(), codeact_exec::MAX_LISTED_FILES);
    assert_eq!(r.body["truncated"], json!(true));
    // Exactly as many entries as the cap ('a/' and 9,997 files in it, 'b/', 'b/c/') is whole.
    let code = "import os\nfor i in range(9_997, 10_050): os.remove(f'a/{i:05}')\nprint('cut')";
    assert_eq!(common::stdout(&srv.exec(&id, code).await), "cut\n");
    let r = srv.get(&format!("/v1/sessions/{id}/files")).await;
    let files = r.body["files"].as_array().expect("files");
    assert_eq!(files.len(), codeact_exec::MAX_LISTED_FILES);
    assert_eq!(r.body["truncated"], json!(false));
    srv.exec(&id, "import shutil; shutil.rmtree('a')").await;
    let r = srv.get(&format!("/v1/sessions/{id}/files")).await;
    assert_eq!(r.body["files"], json!(["b/", "b/c/"]), "{r:?}");
    assert_eq!(r.body["truncated"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_and_traversal_is_refused() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("files-");
    let blob: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    // Upload creates the session.
    let r = srv
        .put(&format!("/v1/sessions/{id}/files/data.bin"), blob.clone())
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = srv
        .put(
            &format!("/v1/sessions/{id}/files/sub/dir/note.txt"),
            b"hi there".to_vec(),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = srv.get(&format!("/v1/sessions/{id}/files/data.bin")).await;
    assert_eq!(r.status, 200);
    assert!(r.raw == blob, "downloaded bytes differ");
    let r = srv.get(&format!("/v1/sessions/{id}/files")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["files"],
        json!(["data.bin", "sub/", "sub/dir/", "sub/dir/note.txt"]),
        "{r:?}"
    );
    assert_eq!(r.body["truncated"], json!(false));
    // Code sees uploads in its working directory, and downloads see what code writes.
    let r = srv
        .exec(&id, "import os\nprint(os.getcwd(), open('sub/dir/note.txt').read(), len(open('data.bin','rb').read()))\nopen('out.csv','w').write('a,b\\n1,2\\n')")
        .await;
    assert_eq!(common::stdout(&r), "/workspace hi there 300000\n", "{r:?}");
    let r = srv.get(&format!("/v1/sessions/{id}/files/out.csv")).await;
    assert_eq!(
        (r.status, r.raw.as_slice()),
        (200, b"a,b\n1,2\n".as_slice())
    );
    srv.get(&format!("/v1/sessions/{id}/files/missing.txt"))
        .await
        .assert_error(404, "not_found");
    srv.get(&format!("/v1/sessions/{}/files", unique("nope-")))
        .await
        .assert_error(404, "not_found");

    // `..` and absolute paths, plain and percent-encoded, sent verbatim.
    let hostile = [
        "../escape.txt",
        "%2E%2E/escape.txt",
        "..%2Fescape.txt",
        "sub/../../escape.txt",
        "sub/%2e%2e/%2e%2e/escape.txt",
        "sub/..%2F..%2Fescape.txt",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "%2Ftmp%2Fescape.txt",
        "./data.bin",
    ];
    for p in hostile {
        let url = format!("/v1/sessions/{id}/files/{p}");
        let r = srv.raw("PUT", &url, b"pwned").await;
        assert!(
            r.status == 400 && r.error_code() == "bad_request",
            "PUT {url}: {r:?}"
        );
        let r = srv.raw("GET", &url, b"").await;
        assert!(
            r.status == 400 && r.error_code() == "bad_request",
            "GET {url}: {r:?}"
        );
    }
    // Nothing landed outside the working directory, neither in the session nor on the host.
    let r = srv.exec(&id, "import os\nprint(sorted(os.listdir('/workspace')), os.path.exists('/escape.txt'), os.path.exists('/tmp/escape.txt'))").await;
    assert_eq!(
        common::stdout(&r),
        "['data.bin', 'out.csv', 'sub'] False False\n",
        "{r:?}"
    );
    assert!(!std::path::Path::new("/tmp/escape.txt").exists());
    // A symlink planted by code is not followed by a download.
    srv.exec(&id, "os.symlink('/etc/hostname', 'link')").await;
    srv.get(&format!("/v1/sessions/{id}/files/link"))
        .await
        .assert_error(400, "bad_request");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_errors() {
    let srv = TestServer::start(quick_config()).await;
    for path in ["/execute", "/v1/sessions/x/execute"] {
        srv.post_raw(path, "application/json", b"{not json".to_vec())
            .await
            .assert_error(400, "bad_request");
        srv.post_raw(path, "application/json", b"[1,2]".to_vec())
            .await
            .assert_error(400, "bad_request");
        srv.post_raw(path, "application/json", b"{}".to_vec())
            .await
            .assert_error(400, "bad_request");
        srv.post_raw(
            path,
            "text/plain",
            b"{\"code\":\"1\",\"convid\":\"a\"}".to_vec(),
        )
        .await
        .assert_error(400, "bad_request");
    }
    srv.post_raw("/v1/sessions", "application/json", b"{nope".to_vec())
        .await
        .assert_error(400, "bad_request");
    // A code that is not a string.
    srv.post("/execute", &json!({"convid": "a", "code": 5}))
        .await
        .assert_error(400, "bad_request");
    // A bad session id through the seed endpoint.
    srv.post("/execute", &json!({"convid": "../../x", "code": "1"}))
        .await
        .assert_error(400, "bad_request");
    // Unknown routes.
    srv.get("/nope").await.assert_error(404, "not_found");
    srv.post("/v1/nope", &json!({}))
        .await
        .assert_error(404, "not_found");
    srv.get("/v1/sessions/x/y/z")
        .await
        .assert_error(404, "not_found");
    // None of that created a session.
    assert_eq!(srv.get("/v1/sessions").await.body["sessions"], json!([]));
    srv.stop().await;
}

/// A known path with a method it does not serve: 405, in the API's error format like every
/// other error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_get_json_errors() {
    let srv = TestServer::start(quick_config()).await;
    for (method, path) in [
        ("GET", "/execute"),
        ("DELETE", "/v1/sessions"),
        ("PUT", "/v1/sessions/x/execute"),
    ] {
        let r = srv.raw(method, path, b"").await;
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
        assert!(
            !r.error_code().is_empty(),
            "{method} {path}: not a JSON error: {r:?}"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cap_is_enforced() {
    let cfg = ExecConfig {
        max_sessions: 2,
        ..quick_config()
    };
    let srv = TestServer::start(cfg).await;
    srv.post("/v1/sessions", &json!({"id": "cap-a"})).await;
    srv.seed("cap-b", "1").await;
    srv.post("/v1/sessions", &json!({"id": "cap-c"}))
        .await
        .assert_error(429, "too_many_sessions");
    srv.post("/execute", &json!({"convid": "cap-c", "code": "1"}))
        .await
        .assert_error(429, "too_many_sessions");
    srv.post("/v1/sessions/cap-c/execute", &json!({"code": "1"}))
        .await
        .assert_error(429, "too_many_sessions");
    srv.put("/v1/sessions/cap-c/files/f", b"x".to_vec())
        .await
        .assert_error(429, "too_many_sessions");
    // Existing sessions still work, and deleting one frees a place.
    assert_eq!(srv.exec("cap-a", "print(7)").await.text(), "7\n");
    srv.delete_session("cap-a").await;
    let r = srv.exec("cap-c", "print(8)").await;
    assert_eq!((r.text().as_str(), r.new_session), ("8\n", true));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused() {
    let srv = TestServer::start_with(
        quick_config(),
        ServerConfig {
            max_body_bytes: 256 * 1024,
            ..ServerConfig::default()
        },
    )
    .await;
    let big = format!("x = '{}'", "a".repeat(300 * 1024));
    srv.post("/v1/sessions/big/execute", &json!({"code": big}))
        .await
        .assert_error(413, "payload_too_large");
    srv.post("/execute", &json!({"convid": "big", "code": big}))
        .await
        .assert_error(413, "payload_too_large");
    srv.put("/v1/sessions/big/files/f.bin", vec![0u8; 300 * 1024])
        .await
        .assert_error(413, "payload_too_large");
    // Under the limit is fine.
    let r = srv
        .exec("big", &format!("x = '{}'\nlen(x)", "a".repeat(200 * 1024)))
        .await;
    assert_eq!(r.text(), format!("{}\n", 200 * 1024));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convid_and_session_id_name_the_same_session() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("same-");
    let (_, created) = srv.seed(&id, "shared = 'from seed'").await;
    assert!(created);
    let r = srv.get(&format!("/v1/sessions/{id}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = srv.exec(&id, "shared").await;
    assert!(!r.new_session);
    assert_eq!(r.text(), "'from seed'\n");
    srv.exec(&id, "shared = 'from v1'").await;
    let (text, created) = srv.seed(&id, "print(shared)").await;
    assert_eq!((text.as_str(), created), ("from v1\n", false));
    // Files uploaded through /v1 are seen by /execute.
    srv.put(&format!("/v1/sessions/{id}/files/in.txt"), b"up".to_vec())
        .await;
    assert_eq!(
        srv.seed(&id, "print(open('in.txt').read())").await.0,
        "up\n"
    );
    // Deleting through /v1 ends what /execute created: the next /execute starts afresh.
    srv.delete_session(&id).await;
    let (text, created) = srv.seed(&id, "print('shared' in globals())").await;
    assert_eq!((text.as_str(), created), ("False\n", true));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ends_every_process_of_the_session() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("del-");
    // A unique duration makes the sleep's command line unique on this host.
    let arg = format!(
        "1000.{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let code = format!(
        "import subprocess\np = subprocess.Popen(['sleep', '{arg}'], start_new_session=True)\n\
         q = subprocess.Popen(['sh', '-c', 'sleep {arg} & sleep {arg}'])\nprint(p.pid)"
    );
    let r = srv.exec(&id, &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    // The inner pid is namespaced (small); on the host the processes have their own pids.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = common::with_marker(&arg);
    while found.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        found = common::with_marker(&arg);
    }
    assert!(
        found.len() >= 3,
        "the three sleeps are visible on the host: {found:?}"
    );
    let server_uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    for p in &found {
        assert_ne!(
            p.uid,
            Some(0),
            "a session process runs as root on the host: {p:?}"
        );
        assert_ne!(
            p.uid,
            Some(server_uid),
            "a session process runs as the server's user: {p:?}"
        );
    }
    let started = Instant::now();
    srv.delete_session(&id).await;
    let left = common::wait_gone(&arg, Duration::from_secs(1)).await;
    assert!(left.is_empty(), "left after DELETE: {left:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_processes_report_their_exit_status() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("child-");
    let code = "import signal, subprocess\n\
                print(signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)\n\
                print([subprocess.run(['sh', '-c', f'exit {n}']).returncode for n in (0, 1, 3)])\n\
                p = subprocess.Popen(['sleep', '30'])\np.kill()\nprint(p.wait())";
    for _ in 0..3 {
        let r = srv.exec(&id, code).await;
        assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
        assert_eq!(common::stdout(&r), "True\n[0, 1, 3]\n-9\n", "{r:?}");
    }
    srv.stop().await;
}
