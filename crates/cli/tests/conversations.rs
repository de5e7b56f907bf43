//! The stored conversations of `codeact serve --agent` (`/v1/conversations`), against the real
//! binary and sandbox with a scripted LLM: replies streamed over SSE and stored step by step,
//! state kept between messages, branches (edit, regenerate) rebuilt by replaying code, stop,
//! search, and history intact after the server is killed with SIGKILL, mid-reply included.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

struct Server {
    child: Child,
    base: String,
    key: Option<String>,
    http: reqwest::blocking::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> String {
    format!(
        "{}/tests/data/agent_chat_script.jsonl",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `codeact serve --agent` on a free port with the scripted LLM, keeping history in `dir`.
fn serve(dir: &Path, keys: Option<&str>) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_codeact"));
    cmd.current_dir(dir)
        .args([
            "serve", "--agent", "--port", "0", "--llm", "script", "--script",
        ])
        .arg(script())
        .arg("--history")
        .arg(dir.join("history.sqlite3"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(k) = keys {
        cmd.env("CODEACT_API_KEYS", k);
    }
    let mut child = cmd.spawn().unwrap();
    let base = common::serving_address(&mut child);
    Server {
        child,
        base,
        key: None,
        http: reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(180))
            .build()
            .unwrap(),
    }
}

impl Server {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.json(reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    fn create(&self) -> String {
        let (status, v) = self.json(reqwest::Method::POST, "/v1/conversations", Some(json!({})));
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Posts to a streaming endpoint and reads its SSE events; `until` may stop early.
    fn stream(&self, path: &str, body: Value, until: impl Fn(&Value) -> bool) -> Vec<Value> {
        let resp = self
            .req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "POST {path}");
        let mut events = Vec::new();
        for line in BufReader::new(resp).lines() {
            let line = line.unwrap();
            if let Some(data) = line.strip_prefix("data: ") {
                let v: Value = serde_json::from_str(data).unwrap();
                let stop = until(&v);
                events.push(v);
                if stop {
                    break;
                }
            }
        }
        events
    }

    fn send(&self, conv: &str, body: Value) -> Vec<Value> {
        self.stream(&format!("/v1/conversations/{conv}/messages"), body, |_| {
            false
        })
    }
}

/// The `done` event's message.
fn done(events: &[Value]) -> &Value {
    let last = events.last().unwrap();
    assert_eq!(last["type"], "done", "{events:#?}");
    &last["message"]
}

fn agent_events<'a>(events: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    events
        .iter()
        .filter(move |e| e["type"] == "agent" && e["event"]["type"] == kind)
        .map(|e| &e["event"])
}

fn messages(conv: &Value) -> &Vec<Value> {
    conv["messages"].as_array().unwrap()
}

#[test]
fn conversations_are_stored_streamed_branched_and_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), None);
    let conv = server.create();

    // A reply streams: the user's message, the reply started, the action, its output, done.
    let events = server.send(&conv, json!({"content": "Compute 6*7"}));
    assert_eq!(events[0]["type"], "user_message");
    assert_eq!(events[1]["type"], "reply_started");
    let code: Vec<_> = agent_events(&events, "code_action").collect();
    assert!(code[0]["code"].as_str().unwrap().contains("x = 6 * 7"));
    let out = agent_events(&events, "observation").next().unwrap();
    assert!(out["text"].as_str().unwrap().contains("42"), "{out}");
    let reply = done(&events);
    assert_eq!(reply["status"], "done");
    assert!(reply["content"].as_str().unwrap().contains("42"), "{reply}");

    // The state is kept for the next message; the title came from the first message.
    let events = server.send(&conv, json!({"content": "Double it"}));
    assert!(
        done(&events)["content"].as_str().unwrap().contains("84"),
        "{events:#?}"
    );
    let stored = server.get(&format!("/v1/conversations/{conv}"));
    assert_eq!(stored["title"], "Compute 6*7");
    assert_eq!(stored["live"], true);
    assert_eq!(messages(&stored).len(), 4);
    assert!(messages(&stored)[3]["steps"].as_array().unwrap().len() > 2);

    // Search, rename.
    let found = server.get("/v1/conversations?q=compute");
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert!(server.get("/v1/conversations?q=zebra")["data"]
        .as_array()
        .unwrap()
        .is_empty());
    let (status, renamed) = server.json(
        reqwest::Method::PATCH,
        &format!("/v1/conversations/{conv}"),
        Some(json!({"title": "Arithmetic"})),
    );
    assert_eq!(
        (status, renamed["title"].clone()),
        (200, json!("Arithmetic"))
    );

    // A file uploaded into the conversation's session is seen by its code's working
    // directory, and what the code wrote can be downloaded.
    let sid = stored["session_id"].as_str().unwrap();
    let put = server
        .req(
            reqwest::Method::PUT,
            &format!("/v1/sessions/{sid}/files/data.csv"),
        )
        .body("a,b\n1,2\n")
        .send()
        .unwrap();
    assert!(put.status().is_success());
    let files = server.get(&format!("/v1/sessions/{sid}/files"));
    assert!(files.to_string().contains("data.csv"), "{files}");

    // Killed with SIGKILL mid-reply: what was shown is kept, the reply is `interrupted`.
    let sleeper = server.create();
    let partial = server.stream(
        &format!("/v1/conversations/{sleeper}/messages"),
        json!({"content": "Sleep long"}),
        |e| e["type"] == "agent" && e["event"]["type"] == "code_action",
    );
    assert!(partial.len() >= 3);
    drop(server);

    let server = serve(dir.path(), None);
    let stored = server.get(&format!("/v1/conversations/{conv}"));
    assert_eq!(messages(&stored).len(), 4, "{stored:#}");
    assert_eq!(stored["title"], "Arithmetic");
    assert_eq!(
        stored["live"], false,
        "no session holds the state after a restart"
    );
    let cut = server.get(&format!("/v1/conversations/{sleeper}"));
    let reply = &messages(&cut)[1];
    assert_eq!(reply["status"], "interrupted", "{cut:#}");
    assert!(reply["steps"].to_string().contains("time.sleep(60)"));

    // Replaying the code brings the state back.
    let (status, report) = server.json(
        reqwest::Method::POST,
        &format!("/v1/conversations/{conv}/replay"),
        None,
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report, json!({"actions": 2, "failed": 0}));
    assert_eq!(
        server.get(&format!("/v1/conversations/{conv}"))["live"],
        true
    );

    // Regenerating the first reply is a new branch beside the old one.
    let stored = server.get(&format!("/v1/conversations/{conv}"));
    let first_user = messages(&stored)[0]["id"].as_str().unwrap().to_string();
    let events = server.stream(
        &format!("/v1/conversations/{conv}/regenerate"),
        json!({"message_id": first_user}),
        |_| false,
    );
    assert_eq!(events[0]["type"], "reply_started");
    assert!(done(&events)["content"].as_str().unwrap().contains("42"));
    let stored = server.get(&format!("/v1/conversations/{conv}"));
    assert_eq!(messages(&stored).len(), 2);
    assert_eq!(
        messages(&stored)[1]["siblings"].as_array().unwrap().len(),
        2
    );

    // Editing the first message is another branch.
    let events = server.send(&conv, json!({"content": "Compute 6*7", "edit": first_user}));
    assert_eq!(done(&events)["status"], "done");
    let stored = server.get(&format!("/v1/conversations/{conv}"));
    assert_eq!(
        messages(&stored)[0]["siblings"].as_array().unwrap().len(),
        2
    );
    // Going back to the old branch replays its code into a fresh session.
    let old_head = messages(&stored)[0]["siblings"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (status, back) = server.json(
        reqwest::Method::PATCH,
        &format!("/v1/conversations/{conv}"),
        Some(json!({"head": old_head})),
    );
    assert_eq!(status, 200, "{back}");
    assert_eq!(messages(&back).len(), 2);

    // Stop: a long cell is interrupted and the reply ends `stopped`. A second message while
    // a reply is being made is refused, not queued.
    let long = server.create();
    let http = server.http.clone();
    let url = format!("{}/v1/conversations/{long}", server.base);
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        let busy = http
            .post(format!("{url}/messages"))
            .json(&json!({"content": "Compute 6*7"}))
            .send()
            .unwrap()
            .status()
            .as_u16();
        let stopped = http.post(format!("{url}/stop")).send().unwrap();
        (busy, stopped.status().as_u16())
    });
    let events = server.send(&long, json!({"content": "Sleep long"}));
    assert_eq!(stopper.join().unwrap(), (409, 202));
    assert_eq!(done(&events)["status"], "stopped", "{events:#?}");

    // Deleting removes it.
    let (status, _) = server.json(
        reqwest::Method::DELETE,
        &format!("/v1/conversations/{long}"),
        None,
    );
    assert_eq!(status, 204);
    let (status, v) = server.json(
        reqwest::Method::GET,
        &format!("/v1/conversations/{long}"),
        None,
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (404, json!("not_found"))
    );

    // Bad input gets a clear error.
    let (status, v) = server.json(
        reqwest::Method::POST,
        &format!("/v1/conversations/{conv}/messages"),
        Some(json!({"content": "  "})),
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("bad_request"))
    );
}

#[test]
fn one_user_never_reaches_another_users_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_key, bob_key) = ("alice-key-0123456789", "bob-key-0123456789ab");
    let keys = format!("alice:{alice_key},bob:{bob_key}");
    let mut alice = serve(dir.path(), Some(&keys));
    alice.key = Some(alice_key.into());
    let conv = alice.create();
    alice.send(&conv, json!({"content": "Compute 6*7"}));

    let bob = Server {
        child: Command::new("true").spawn().unwrap(),
        base: alice.base.clone(),
        key: Some(bob_key.into()),
        http: alice.http.clone(),
    };
    assert!(bob.get("/v1/conversations")["data"]
        .as_array()
        .unwrap()
        .is_empty());
    let path = format!("/v1/conversations/{conv}");
    for (method, path, body) in [
        (reqwest::Method::GET, path.clone(), None),
        (
            reqwest::Method::PATCH,
            path.clone(),
            Some(json!({"title": "mine"})),
        ),
        (
            reqwest::Method::POST,
            format!("{path}/messages"),
            Some(json!({"content": "Compute 6*7"})),
        ),
        (reqwest::Method::POST, format!("{path}/stop"), None),
        (reqwest::Method::POST, format!("{path}/replay"), None),
        (reqwest::Method::DELETE, path.clone(), None),
    ] {
        let (status, v) = bob.json(method.clone(), &path, body);
        assert_eq!(status, 404, "{method} {path}: {v}");
    }
    // Alice's conversation is untouched, and without a key nothing is reachable.
    assert_eq!(messages(&alice.get(&path)).len(), 2);
    let anonymous = alice
        .http
        .get(format!("{}/v1/conversations", alice.base))
        .send()
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}
