//! API keys and users over the real server and sandbox: without a key nothing but `/health`
//! answers; with one, each user sees, runs in, interrupts, restarts, reads, writes and deletes
//! only their own sessions, on every endpoint, and the same session id used by two users
//! names two different sessions. And the operations endpoints: `/healthz`, `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use codeact_server::{ApiKeys, ServerConfig};
use common::{quick_config, TestServer};
use serde_json::{json, Value};

const ALICE: &str = "alice-key-0123456789";
const BOB: &str = "bob-key-9876543210xx";

struct As<'a> {
    srv: &'a TestServer,
    http: reqwest::Client,
    key: Option<&'a str>,
}

impl As<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.srv.url(path));
        if let Some(k) = self.key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    async fn put(&self, path: &str, body: &[u8]) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body.to_vec()))
            .await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    async fn run(&self, id: &str, code: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/sessions/{id}/execute"),
                json!({ "code": code }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                o["text"]
                    .as_str()
                    .or(o["evalue"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }
}

/// A server whose users are Alice and Bob, each with their key.
async fn server_of_alice_and_bob(config: ServerConfig) -> TestServer {
    let keys = ApiKeys::new([
        ("alice".to_string(), ALICE.to_string()),
        ("bob".to_string(), BOB.to_string()),
    ])
    .unwrap();
    TestServer::start_with(
        quick_config(),
        ServerConfig {
            api_keys: keys,
            ..config
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_reaches_only_their_own_sessions() {
    let srv = server_of_alice_and_bob(ServerConfig::default()).await;
    let http = reqwest::Client::new();
    let who = |key| As {
        srv: &srv,
        http: http.clone(),
        key,
    };
    let (alice, bob, nobody, forger) = (
        who(Some(ALICE)),
        who(Some(BOB)),
        who(None),
        who(Some("not-a-key-of-anyone")),
    );

    // No key, or a wrong one: nothing but /health.
    assert_eq!(nobody.get("/health").await.0, 200);
    for client in [&nobody, &forger] {
        for (status, body) in [
            client.get("/v1/sessions").await,
            client
                .post("/execute", json!({"convid": "s", "code": "1"}))
                .await,
            client
                .post("/v1/sessions/s/execute", json!({"code": "1"}))
                .await,
            client.get("/v1/sandbox").await,
        ] {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (401, Some("unauthorized")),
                "{body}"
            );
        }
    }

    // Alice's session, by the /v1 API and by the seed's /execute (the same id).
    let (status, body) = alice.post("/v1/sessions", json!({"id": "shared"})).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (201, Some("shared")),
        "{body}"
    );
    assert_eq!(
        alice.run("shared", "secret = 'alice'\nprint(secret)").await,
        "alice\n"
    );
    let (_, seed) = alice
        .post(
            "/execute",
            json!({"convid": "shared", "code": "print(secret)"}),
        )
        .await;
    assert_eq!(seed["result"], "alice\n");
    assert_eq!(
        alice
            .put("/v1/sessions/shared/files/a.txt", b"alice's file")
            .await
            .0,
        204
    );

    // Bob cannot see, read, interrupt, restart, download from or delete it.
    let (_, list) = bob.get("/v1/sessions").await;
    assert_eq!(list["sessions"], json!([]), "{list}");
    assert_eq!(bob.get("/v1/sessions/shared").await.0, 404);
    assert_eq!(bob.get("/v1/sessions/shared/files").await.0, 404);
    assert_eq!(bob.get("/v1/sessions/shared/files/a.txt").await.0, 404);
    assert_eq!(
        bob.post("/v1/sessions/shared/interrupt", json!({})).await.0,
        404
    );
    assert_eq!(
        bob.post("/v1/sessions/shared/restart", json!({})).await.0,
        404
    );
    assert_eq!(bob.delete("/v1/sessions/shared").await.0, 404);
    // Nor name it under another's prefix.
    assert_eq!(bob.get("/v1/sessions/alice.shared").await.0, 404);

    // The same id is Bob's own session: a new one, without Alice's state.
    let (_, seed) = bob
        .post(
            "/execute",
            json!({"convid": "shared", "code": "print('secret' in globals())"}),
        )
        .await;
    assert_eq!(seed["result"], "False\n");
    assert_eq!(seed["new_kernel_created"], true);
    assert_eq!(bob.get("/v1/sessions/shared/files/a.txt").await.0, 404);
    let (_, list) = bob.get("/v1/sessions").await;
    assert_eq!(list["sessions"][0]["id"], "shared", "{list}");
    assert_eq!(bob.delete("/v1/sessions/shared").await.0, 204);

    // Alice's is untouched by all of that.
    let (status, info) = alice.get("/v1/sessions/shared").await;
    assert_eq!(
        (status, info["id"].as_str()),
        (200, Some("shared")),
        "{info}"
    );
    assert_eq!(alice.run("shared", "print(secret)").await, "alice\n");
    let (_, list) = alice.get("/v1/sessions").await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{list}");
    let (status, _) = alice.get("/v1/sessions/shared/files/a.txt").await;
    assert_eq!(status, 200);
    let (status, info) = alice.post("/v1/sessions/shared/restart", json!({})).await;
    assert_eq!(
        (status, info["id"].as_str()),
        (200, Some("shared")),
        "{info}"
    );
    assert_eq!(alice.delete("/v1/sessions/shared").await.0, 204);

    // Operations: /healthz for anyone; /metrics for users, counting what happened above.
    assert_eq!(nobody.get("/healthz").await.0, 200);
    let (status, doc) = nobody.get("/openapi.json").await;
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
    assert_eq!(nobody.get("/metrics").await.0, 401);
    let r = http
        .get(srv.url("/metrics"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    for line in [
        "codeact_http_requests_total{method=\"POST\",route=\"/v1/sessions/{id}/execute\",status=\"200\"} 2",
        "codeact_http_requests_total{method=\"GET\",route=\"/v1/sessions\",status=\"401\"} 2",
        "codeact_executions_total{status=\"ok\"} 4",
        "codeact_sessions_active 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("codeact_sessions_pooled ")),
        "{text}"
    );
    srv.stop().await;
}

/// A user's runs at once are capped: past the cap the answer is `429 too_many_runs`, other
/// users are not held back, and the slot comes back when the run ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_at_once_are_capped_per_user() {
    let srv = server_of_alice_and_bob(ServerConfig {
        max_runs_per_user: 1,
        ..ServerConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let who = |key| As {
        srv: &srv,
        http: http.clone(),
        key,
    };
    let (alice, bob) = (who(Some(ALICE)), who(Some(BOB)));
    // Sessions made first, so that the long cell below starts at once.
    assert_eq!(alice.run("a", "print(1)").await, "1\n");
    assert_eq!(bob.run("b", "print(1)").await, "1\n");
    let long = alice.post(
        "/v1/sessions/a/execute",
        json!({"code": "import time; time.sleep(3); print('slept')"}),
    );
    let others = async {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let second = alice
            .post("/v1/sessions/a2/execute", json!({"code": "1"}))
            .await;
        let seed = alice
            .post("/execute", json!({"convid": "a", "code": "1"}))
            .await;
        let bobs = bob.run("b", "print('bob')").await;
        (second, seed, bobs)
    };
    let ((status, body), ((s2, b2), (s3, b3), bobs)) = tokio::join!(long, others);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (s2, b2["error"]["code"].as_str()),
        (429, Some("too_many_runs")),
        "{b2}"
    );
    assert_eq!(
        (s3, b3["error"]["code"].as_str()),
        (429, Some("too_many_runs")),
        "{b3}"
    );
    assert_eq!(bobs, "bob\n");
    // The long cell is over: Alice may run again.
    assert_eq!(alice.run("a", "print('again')").await, "again\n");
    srv.stop().await;
}
