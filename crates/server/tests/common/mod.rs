//! Shared by the HTTP integration tests: a real server on a loopback port, in-process, over a
//! real sandboxed local backend, and a small client for its API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SessionManager};
use codeact_protocol::http::{
    ErrorEnvelope, ExecuteRequest, SeedExecuteRequest, SeedExecuteResponse,
};
use codeact_protocol::{ExecResult, ExecStatus, Output, StreamName};
use codeact_server::ServerConfig;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Short limits so that timeouts and restarts are quick in tests.
pub fn quick_config() -> ExecConfig {
    ExecConfig {
        cell_timeout: Duration::from_secs(4),
        interrupt_grace: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// A unique string (for markers, secrets and ids).
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}{}x{nanos:x}x{n}", std::process::id())
}

/// The server, serving on 127.0.0.1 until [`TestServer::stop`].
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub sessions: Arc<SessionManager>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// An HTTP answer: status and body (parsed as JSON when it is JSON, else `Value::Null`).
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.body.is_null() {
            let text = String::from_utf8_lossy(&self.raw);
            let cut: String = text.chars().take(500).collect();
            write!(f, "HTTP {} ({} bytes) {cut:?}", self.status, self.raw.len())
        } else {
            write!(f, "HTTP {} {}", self.status, self.body)
        }
    }
}

impl Reply {
    /// The body as the API's error envelope, if it is one.
    pub fn error(&self) -> Option<ErrorEnvelope> {
        serde_json::from_value(self.body.clone()).ok()
    }

    /// The `error.code` of an error answer (`""` when the body is no error envelope).
    pub fn error_code(&self) -> &'static str {
        self.error().map(|e| e.error.code.as_str()).unwrap_or("")
    }

    /// Asserts an error answer with this HTTP status and code, and a non-empty message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "wrong status: {self:?}");
        let e = self
            .error()
            .unwrap_or_else(|| panic!("not an error envelope: {self:?}"));
        assert_eq!(e.error.code.as_str(), code, "wrong error code: {self:?}");
        assert!(
            !e.error.message.is_empty(),
            "error without a message: {self:?}"
        );
    }
}

impl TestServer {
    pub async fn start(cfg: ExecConfig) -> Self {
        Self::start_with(cfg, ServerConfig::default()).await
    }

    pub async fn start_with(cfg: ExecConfig, server: ServerConfig) -> Self {
        let backend = LocalBackend::new(&cfg)
            .await
            .expect("the sandboxed local backend starts");
        let sessions = SessionManager::new(Arc::new(backend), cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(codeact_server::serve(
            listener,
            sessions.clone(),
            server,
            None,
            async move {
                let _ = rx.await;
            },
        ));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(180))
            .pool_max_idle_per_host(128)
            .build()
            .unwrap();
        Self {
            base: format!("http://{addr}"),
            http,
            sessions,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let raw = resp.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply { status, body, raw }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Self::reply(self.http.delete(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        Self::reply(
            self.http
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        Self::reply(req.send().await.unwrap()).await
    }

    pub async fn put(&self, path: &str, body: Vec<u8>) -> Reply {
        Self::reply(
            self.http
                .put(self.url(path))
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Sends `method path` exactly as written (an HTTP client would normalise `..` and
    /// `%2E%2E` segments away before they reach the server).
    pub async fn raw(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.base.trim_start_matches("http://");
        let mut sock = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(body).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), sock.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let raw = match text.find("\r\n\r\n") {
            Some(i) => buf[i + 4..].to_vec(),
            None => Vec::new(),
        };
        // Small JSON answers: the body is either plain or one chunk.
        let body = serde_json::from_slice(&raw).unwrap_or_else(|_| {
            let s = String::from_utf8_lossy(&raw);
            s.find('{')
                .and_then(|a| s.rfind('}').map(|b| &s[a..=b]))
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or(Value::Null)
        });
        Reply { status, body, raw }
    }

    /// `POST /v1/sessions/{id}/execute`; asserts 200 and parses the result.
    pub async fn exec(&self, id: &str, code: &str) -> ExecResult {
        let body = serde_json::to_value(ExecuteRequest::new(code)).unwrap();
        self.exec_body(id, &body).await
    }

    /// Runs a cell that must succeed and print exactly `expected`.
    pub async fn exec_ok(&self, id: &str, code: &str, expected: &str) -> ExecResult {
        let r = self.exec(id, code).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (ExecStatus::Ok, expected),
            "{r:?}"
        );
        r
    }

    pub async fn exec_body(&self, id: &str, body: &Value) -> ExecResult {
        let r = self.post(&format!("/v1/sessions/{id}/execute"), body).await;
        assert_eq!(r.status, 200, "execute failed: {r:?}");
        serde_json::from_value(r.body.clone())
            .unwrap_or_else(|e| panic!("not an ExecResult ({e}): {r:?}"))
    }

    /// The seed endpoint: `(result, new_kernel_created)`.
    pub async fn seed(&self, convid: &str, code: &str) -> (String, bool) {
        let req = SeedExecuteRequest {
            convid: convid.into(),
            code: code.into(),
        };
        let r = self
            .post("/execute", &serde_json::to_value(req).unwrap())
            .await;
        assert_eq!(r.status, 200, "/execute failed: {r:?}");
        let reply: SeedExecuteResponse = serde_json::from_value(r.body.clone())
            .unwrap_or_else(|e| panic!("not a seed reply ({e}): {r:?}"));
        (reply.result, reply.new_kernel_created)
    }

    /// Deletes a session, asserting 204.
    pub async fn delete_session(&self, id: &str) {
        let r = self.delete(&format!("/v1/sessions/{id}")).await;
        assert_eq!(r.status, 204, "delete {id}: {r:?}");
    }

    /// The server still answers: `print(1)` in a fresh session returns "1\n".
    pub async fn assert_alive(&self) {
        let id = unique("alive-");
        let started = Instant::now();
        let r = self.exec(&id, "print(1)").await;
        assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
        assert!(r.new_session);
        assert_eq!(r.text(), "1\n", "{r:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a fresh session took {:?}",
            started.elapsed()
        );
        self.delete_session(&id).await;
    }

    /// Stops serving, ends every session and frees the backend.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("the server stops within a minute")
                .unwrap()
                .unwrap();
        }
    }
}

/// The text of the outputs only (no engine notice).
pub fn outputs_text(r: &ExecResult) -> String {
    r.outputs.iter().map(Output::text).collect()
}

/// The text of one stream of a result.
pub fn stream_text(r: &ExecResult, which: StreamName) -> String {
    r.outputs
        .iter()
        .filter_map(|o| match o {
            Output::Stream { name, text } if *name == which => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The stdout text of a result.
pub fn stdout(r: &ExecResult) -> String {
    stream_text(r, StreamName::Stdout)
}

/// The stderr text of a result.
pub fn stderr(r: &ExecResult) -> String {
    stream_text(r, StreamName::Stderr)
}

/// The exception name of a result's error output, if any.
pub fn ename(r: &ExecResult) -> Option<String> {
    r.outputs.iter().find_map(|o| match o {
        Output::Error { ename, .. } => Some(ename.clone()),
        _ => None,
    })
}

/// A process of this (host or test) pid namespace.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub args: Vec<String>,
    pub uid: Option<u32>,
    pub state: String,
    /// The command name, and the pid in each nested pid namespace (outermost first).
    pub name: String,
    pub nspid: String,
}

/// Every process visible in this machine's (or this pid namespace's) /proc.
pub fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args = cmd
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            status.lines().find_map(|l| {
                l.strip_prefix(k)
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            })
        };
        out.push(Proc {
            pid,
            ppid: field("PPid:").and_then(|u| u.parse().ok()).unwrap_or(0),
            args,
            uid: field("Uid:").and_then(|u| u.parse().ok()),
            state: field("State:").unwrap_or_default(),
            name: field("Name:").unwrap_or_default(),
            nspid: status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .unwrap_or("")
                .trim()
                .to_string(),
        });
    }
    out
}

/// Live (not zombie) processes with `marker` as one of their arguments.
pub fn with_marker(marker: &str) -> Vec<Proc> {
    processes()
        .into_iter()
        .filter(|p| p.state != "Z" && p.args.iter().any(|a| a.contains(marker)))
        .collect()
}

/// Waits up to `limit` for no live process to carry `marker`; returns those left.
pub async fn wait_gone(marker: &str, limit: Duration) -> Vec<Proc> {
    let deadline = Instant::now() + limit;
    loop {
        let left = with_marker(marker);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `limit` for a live process carrying `marker` to appear.
pub async fn wait_present(marker: &str, limit: Duration) -> Vec<Proc> {
    let deadline = Instant::now() + limit;
    loop {
        let found = with_marker(marker);
        if !found.is_empty() || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resident memory of this process (the server runs in it), in bytes.
pub fn own_rss() -> u64 {
    status_kib("VmRSS:")
}

/// The most memory this process has had resident so far, in bytes.
pub fn own_peak_rss() -> u64 {
    status_kib("VmHWM:")
}

fn status_kib(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
