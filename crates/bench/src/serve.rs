//! `codeact bench serve`: the agent server under load. The real `codeact serve --agent`
//! binary on loopback, with a scripted LLM (its replies cost microseconds, so what is measured
//! is the server, the agent loop and the sandbox) and the real sandbox: N conversations at
//! once, each sending `turns` messages in turn under its own conversation id, each message
//! answered by one code action, its execution and a reply. Reports turns per second, the
//! latency of a turn (request to whole answer) minus the LLM's time, errors, and the memory of
//! the server's whole process tree at its peak. With `--warm`, the server first starts a
//! sandbox ahead for each conversation (its pool), as one set up for a burst would.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;
use serde_json::{json, Value};

use crate::procfs::{self, MemSum, ProcTable};
use crate::stats::Summary;
use crate::table::table;
use crate::{BenchError, Context, Progress};

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeBenchOptions {
    /// Numbers of concurrent conversations, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10,100,500")]
    pub conversations: Vec<usize>,
    /// Messages (code turns) per conversation.
    #[arg(long, default_value_t = 5)]
    pub turns: usize,
    /// Zygotes of the server (its `exec.zygotes`; default: the cores).
    #[arg(long)]
    pub zygotes: Option<usize>,
    /// Start a sandbox ahead for every conversation (the server's `exec.pool_size` = N) and
    /// wait until they are all started before the conversations begin, as a server that
    /// expects a burst would be set up. Without it the server keeps its default pool, so the
    /// first turns also measure making sessions under the burst.
    #[arg(long)]
    pub warm: bool,
    /// The scripted model's time for each reply, milliseconds: a model's latency, during
    /// which the conversation waits and the server has no work. Subtracted from each turn's
    /// latency (as the server's metrics measure it). 0: the next message follows at once,
    /// which saturates the server.
    #[arg(long, default_value_t = 0)]
    pub llm_ms: u64,
    /// Spread the conversations' first messages evenly over this many milliseconds instead
    /// of sending all of them in the same instant (a burst). While the ramp is shorter than a
    /// conversation (its turns times a message's model time), all of them are in flight at
    /// once after it.
    #[arg(long, default_value_t = 0)]
    pub ramp_ms: u64,
}

/// One run: N conversations at once.
#[derive(Debug, Clone, Serialize)]
pub struct ServeRow {
    pub conversations: usize,
    /// Sandboxes started ahead (`exec.pool_size`); `None`: the server's default.
    pub pool: Option<usize>,
    /// The first messages were spread over this many milliseconds (0: a burst).
    pub ramp_ms: u64,
    /// How long the server took to start the pool before the conversations began, seconds.
    pub warm_up_s: Option<f64>,
    pub turns: usize,
    pub wall_s: f64,
    pub turns_per_s: f64,
    /// Request to whole answer minus the LLM's mean time per turn, milliseconds.
    pub overhead_ms: Option<Summary>,
    /// The first turn of each conversation, which also makes its session.
    pub first_turn_ms: Option<Summary>,
    /// The other turns, in a live session.
    pub later_turns_ms: Option<Summary>,
    /// The LLM's mean time per turn (from the server's metrics), milliseconds.
    pub llm_ms_per_turn: f64,
    pub errors: usize,
    /// A sample of what went wrong.
    pub error_samples: Vec<String>,
    /// The server's process tree (the server, its zygotes, every session) at the peak.
    pub server_memory: MemSum,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServeReport {
    pub rows: Vec<ServeRow>,
}

impl ServeReport {
    pub fn has_errors(&self) -> bool {
        self.rows.iter().any(|r| r.errors > 0)
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: the server ends its sessions before it exits.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The script: each message is answered by code that computes from the message's number,
/// then by a reply that quotes the output.
fn script(turns: usize, llm_ms: u64) -> String {
    let mut replies = Vec::new();
    for k in 1..=turns {
        replies.push(format!(
            "Computing.\n<execute>\nacc = globals().get('acc', 0) + {k}\nprint('turn {k}', acc * 7)\n</execute>"
        ));
        replies.push("Done: {{last_message}}".to_string());
    }
    json!({"first": "bench conversation", "replies": replies, "delay_ms": llm_ms}).to_string()
        + "\n"
}

fn start(
    binary: &Path,
    dir: &Path,
    n: usize,
    turns: usize,
    zygotes: usize,
    pool: Option<usize>,
    llm_ms: u64,
) -> Result<(Server, String), BenchError> {
    let script_path = dir.join("script.jsonl");
    std::fs::write(&script_path, script(turns, llm_ms))?;
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[exec]\nmax_sessions = {}\nzygotes = {zygotes}\nidle_timeout_s = 3600\n{}\
             [server]\nhistory = {:?}\n",
            n + 16,
            pool.map_or(String::new(), |p| format!("pool_size = {p}\n")),
            dir.join("history.sqlite3").display().to_string()
        ),
    )?;
    let mut child = Command::new(binary)
        .args([
            "serve", "--agent", "--port", "0", "--llm", "script", "--script",
        ])
        .arg(&script_path)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting codeact serve")?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("the server's stdout")?;
    let server = Server(child);
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("codeact serving on ")
        .with_context(|| format!("the server did not say its address: {line:?}"))?
        .to_string();
    Ok((server, base))
}

/// One conversation: `turns` messages, the first after `delay`; the latency of each, or what
/// went wrong.
async fn conversation(
    http: &reqwest::Client,
    base: &str,
    i: usize,
    turns: usize,
    delay: Duration,
) -> Vec<Result<f64, String>> {
    tokio::time::sleep(delay).await;
    let mut out = Vec::new();
    for k in 1..=turns {
        let text = if k == 1 {
            format!("bench conversation {i}")
        } else {
            format!("message {k}")
        };
        let body = json!({"model": "codeact", "messages": [{"role": "user", "content": text}]});
        let t = Instant::now();
        let r = http
            .post(format!("{base}/v1/chat/completions"))
            .header("X-Conversation-Id", format!("bench-{i}"))
            .json(&body)
            .send()
            .await;
        let result = match r {
            Err(e) => Err(format!("request failed: {e}")),
            Ok(r) if !r.status().is_success() => Err(format!(
                "HTTP {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )),
            Ok(r) => match r.json::<Value>().await {
                Err(e) => Err(format!("bad answer: {e}")),
                Ok(v) => {
                    let content = v["choices"][0]["message"]["content"].as_str().unwrap_or("");
                    let acc: usize = (1..=k).sum();
                    let want = format!("turn {k} {}", acc * 7);
                    if content.contains(&want) {
                        Ok(t.elapsed().as_secs_f64() * 1000.0)
                    } else {
                        Err(format!(
                            "turn {k} of conversation {i}: no {want:?} in {content:?}"
                        ))
                    }
                }
            },
        };
        let failed = result.is_err();
        out.push(result);
        if failed {
            break;
        }
    }
    out
}

/// The values of these metrics from the server's `/metrics` (0 for one it does not show).
async fn metrics<const N: usize>(http: &reqwest::Client, base: &str, names: [&str; N]) -> [f64; N] {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    names.map(|name| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    })
}

/// Waits until the server's pool holds `pool` sandboxes; how long that took, in seconds.
async fn warm_up(http: &reqwest::Client, base: &str, pool: usize) -> Result<f64, BenchError> {
    let t = Instant::now();
    let limit = Duration::from_secs(600);
    loop {
        // A server that stopped answering is no server that is still starting sandboxes.
        if let Err(e) = http.get(format!("{base}/healthz")).send().await {
            return Err(BenchError::msg(format!(
                "the server stopped answering: {e}"
            )));
        }
        let [pooled] = metrics(http, base, ["codeact_sessions_pooled"]).await;
        if pooled >= pool as f64 {
            return Ok(t.elapsed().as_secs_f64());
        }
        if t.elapsed() > limit {
            return Err(BenchError::msg(format!(
                "the server started {pooled} of {pool} sandboxes ahead in {limit:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run_one(
    binary: &Path,
    n: usize,
    opts: &ServeBenchOptions,
    progress: Progress<'_>,
) -> Result<ServeRow, BenchError> {
    let dir = tempfile::tempdir()?;
    let zygotes = opts
        .zygotes
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    let pool = opts.warm.then_some(n);
    let (server, base) = start(
        binary,
        dir.path(),
        n,
        opts.turns,
        zygotes,
        pool,
        opts.llm_ms,
    )?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(n + 8)
        .timeout(Duration::from_secs(600))
        .build()
        .context("an HTTP client")?;
    let warm_up_s = match pool {
        Some(p) => {
            progress(&format!("starting {p} sandboxes ahead"));
            Some(warm_up(&http, &base, p).await?)
        }
        None => None,
    };
    progress(&format!("{n} conversations × {} turns", opts.turns));
    let t = Instant::now();
    let results = join_all((0..n).map(|i| {
        let (http, base) = (&http, base.as_str());
        let delay = Duration::from_millis(opts.ramp_ms * i as u64 / n as u64);
        async move { conversation(http, base, i, opts.turns, delay).await }
    }))
    .await;
    let wall = t.elapsed().as_secs_f64();
    // Every session is alive until the server stops: its tree is at its peak now.
    let pid = i32::try_from(server.0.id()).unwrap_or(0);
    let mut pids: Vec<i32> = ProcTable::read()
        .descendants(pid)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    pids.push(pid);
    let server_memory = procfs::mem_of(&pids);
    let [llm_s, llm_n] = metrics(
        &http,
        &base,
        [
            "codeact_llm_turn_seconds_sum",
            "codeact_llm_turn_seconds_count",
        ],
    )
    .await;
    drop(server);
    // Each message is two model turns (the action, then the reply).
    let llm_ms_per_turn = if llm_n > 0.0 {
        2.0 * 1000.0 * llm_s / llm_n
    } else {
        0.0
    };
    let (mut all, mut first, mut later, mut errors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for conv in &results {
        for (k, r) in conv.iter().enumerate() {
            match r {
                Ok(ms) => {
                    all.push(ms - llm_ms_per_turn);
                    if k == 0 {
                        first.push(ms - llm_ms_per_turn);
                    } else {
                        later.push(ms - llm_ms_per_turn);
                    }
                }
                Err(e) => errors.push(e.clone()),
            }
        }
        // A conversation cut short by an error misses its other turns: each is an error too.
        let missing = opts.turns.saturating_sub(conv.len());
        errors.extend(std::iter::repeat_n(
            "not sent after an error".to_string(),
            missing,
        ));
    }
    Ok(ServeRow {
        conversations: n,
        pool,
        ramp_ms: opts.ramp_ms,
        warm_up_s,
        turns: all.len(),
        wall_s: wall,
        turns_per_s: all.len() as f64 / wall.max(1e-9),
        overhead_ms: Summary::of(&all),
        first_turn_ms: Summary::of(&first),
        later_turns_ms: Summary::of(&later),
        llm_ms_per_turn,
        errors: errors.len(),
        error_samples: errors.into_iter().take(3).collect(),
        server_memory,
    })
}

/// Runs every count of conversations against a fresh server started from `binary` (the
/// `codeact` executable).
pub async fn run(
    binary: &Path,
    opts: &ServeBenchOptions,
    progress: Progress<'_>,
) -> Result<ServeReport, BenchError> {
    let mut rows = Vec::new();
    for &n in &opts.conversations {
        rows.push(run_one(binary, n.max(1), opts, progress).await?);
    }
    Ok(ServeReport { rows })
}

impl fmt::Display for ServeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = table([
            "conversations",
            "started ahead",
            "first messages",
            "turns",
            "turns/s",
            "overhead p50 / p99 (ms)",
            "first turn p50 / p99 (ms)",
            "later turns p50 / p99 (ms)",
            "LLM per turn (ms)",
            "errors",
            "server memory PSS / USS",
        ]);
        let ms = |s: &Option<Summary>| {
            s.map_or("n/a".to_string(), |s| {
                format!("{:.1} / {:.1}", s.p50, s.p99)
            })
        };
        for r in &self.rows {
            t.add_row([
                r.conversations.to_string(),
                match (r.pool, r.warm_up_s) {
                    (Some(p), Some(s)) => format!("{p} (in {s:.1} s)"),
                    _ => "default pool".to_string(),
                },
                if r.ramp_ms == 0 {
                    "at once".to_string()
                } else {
                    format!("over {:.1} s", r.ramp_ms as f64 / 1000.0)
                },
                r.turns.to_string(),
                format!("{:.1}", r.turns_per_s),
                ms(&r.overhead_ms),
                ms(&r.first_turn_ms),
                ms(&r.later_turns_ms),
                format!("{:.3}", r.llm_ms_per_turn),
                r.errors.to_string(),
                format!(
                    "{:.0} / {:.0} MB ({} processes)",
                    r.server_memory.pss_bytes as f64 / 1e6,
                    r.server_memory.uss_bytes as f64 / 1e6,
                    r.server_memory.processes
                ),
            ]);
        }
        writeln!(f, "{t}")?;
        for r in self.rows.iter().filter(|r| r.errors > 0) {
            writeln!(f, "errors at {} conversations, e.g.:", r.conversations)?;
            for e in &r.error_samples {
                writeln!(f, "  {e}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_answers_each_message_with_one_action_and_a_reply() {
        let s: Value = serde_json::from_str(script(2, 0).trim()).unwrap_or(Value::Null);
        let replies = s["replies"].as_array().map_or(0, Vec::len);
        assert_eq!(replies, 4);
        assert!(s["replies"][2]
            .as_str()
            .unwrap_or("")
            .contains("print('turn 2', acc * 7)"));
    }
}
