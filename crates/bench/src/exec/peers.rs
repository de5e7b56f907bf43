//! The peers of the execution engine: their venv (installed by scripts/bench-peers.sh), the
//! ipykernel driver (python/bench_peers.py) and a Jupyter Kernel Gateway process. Both scripts
//! are compiled in, so that the benchmark works from any directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use codeact_exec::jupyter::{JupyterBackend, JupyterConfig};
use serde::Deserialize;

use super::results::{Fit, Memory, Overhead, Row};
use super::ExecBenchOptions;
use crate::procfs::MemSum;
use crate::stats::Summary;
use crate::{BenchError, Context};

const INSTALL: &str = include_str!("../../../../scripts/bench-peers.sh");
const DRIVER: &str = include_str!("../../python/bench_peers.py");

/// The peers' Python, installing the venv first unless `no_install`.
pub(super) async fn ensure_venv(venv: &Path, no_install: bool) -> Result<PathBuf, BenchError> {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c").arg(INSTALL).arg("bench-peers.sh");
    if no_install {
        cmd.arg("--check");
    }
    cmd.env("BENCH_VENV", venv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // `output()` would capture stderr too; the script's progress belongs on the terminal.
    let out = cmd
        .spawn()
        .context("running bash for scripts/bench-peers.sh")?
        .wait_with_output()
        .await?;
    if !out.status.success() {
        return Err(BenchError::msg(if no_install {
            format!(
                "the peers' venv {} is incomplete (--no-install)",
                venv.display()
            )
        } else {
            format!("scripts/bench-peers.sh failed ({})", out.status)
        }));
    }
    Ok(venv.join("bin/python"))
}

/// A private directory for Jupyter's connection files, removed on drop.
struct RuntimeDir(PathBuf);

impl RuntimeDir {
    fn new(tag: &str) -> Result<Self, BenchError> {
        let d = std::env::temp_dir().join(format!("codeact-bench-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(Self(d))
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Deserialize)]
struct DriverMem {
    #[serde(default)]
    sessions: usize,
    processes: usize,
    uss_bytes: u64,
    pss_bytes: u64,
    rss_bytes: u64,
    #[serde(default)]
    idle_cpu_pct: Option<f64>,
    #[serde(default)]
    target: Option<usize>,
    #[serde(default)]
    stopped: Option<String>,
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    creation_ms: Vec<f64>,
}

impl DriverMem {
    fn sum(&self) -> MemSum {
        MemSum {
            processes: self.processes,
            uss_bytes: self.uss_bytes,
            pss_bytes: self.pss_bytes,
            rss_bytes: self.rss_bytes,
        }
    }

    fn memory(&self) -> Memory {
        Memory {
            sessions: self.sessions,
            sandboxes: None,
            total: self.sum(),
            idle_cpu_pct: self.idle_cpu_pct,
            roles: Vec::new(),
            cgroup_bytes: None,
            fds_per_session: None,
            system_delta: None,
        }
    }
}

#[derive(Deserialize)]
struct DriverOut {
    #[serde(default)]
    versions: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    cold_start_ms: Vec<f64>,
    #[serde(default)]
    round_trip_ms: Vec<f64>,
    idle: Option<DriverMem>,
    fit: Option<DriverMem>,
    #[serde(default)]
    overhead: std::collections::BTreeMap<String, DriverMem>,
}

/// ipykernel driven by jupyter_client, measured by the Python driver.
pub(super) async fn ipykernel_row(args: &ExecBenchOptions, python: &Path) -> Row {
    let (key, label) = ("ipykernel", "ipykernel");
    match ipykernel(args, python).await {
        Ok(r) => r,
        Err(e) => Row::failed(key, label, &e),
    }
}

async fn ipykernel(args: &ExecBenchOptions, python: &Path) -> Result<Row, BenchError> {
    let runtime = RuntimeDir::new("ipykernel")?;
    let out = tokio::process::Command::new(python)
        .arg("-c")
        .arg(DRIVER)
        .arg("ipykernel")
        .args(["--sessions", &args.sessions.to_string()])
        .args(["--gap-ms", &args.cold_gap_ms.to_string()])
        .args(["--round-trips", &args.round_trips.to_string()])
        .args(["--idle", &args.idle.to_string()])
        .args([
            "--max-alive",
            &args.peer_max_alive.max(args.idle).to_string(),
        ])
        .args(["--time-cap", &args.time_cap.to_string()])
        .args(["--min-available-mib", &args.min_available_mib.to_string()])
        .args(["--cpu-window", &args.cpu_window.to_string()])
        .env("JUPYTER_RUNTIME_DIR", &runtime.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("running {}", python.display()))?
        .wait_with_output()
        .await?;
    if !out.status.success() {
        return Err(BenchError::msg(format!(
            "the ipykernel driver failed ({})",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("the ipykernel driver printed no result")?;
    let d: DriverOut =
        serde_json::from_str(line).context("parsing the ipykernel driver's result")?;
    let mut row = Row::new("ipykernel", "ipykernel");
    row.versions = d.versions.into_iter().collect();
    row.cold_start_ms = Summary::of(&d.cold_start_ms);
    row.round_trip_ms = Summary::of(&d.round_trip_ms);
    row.idle = d.idle.as_ref().map(DriverMem::memory);
    row.fit = d.fit.as_ref().map(|f| Fit {
        target: f.target.unwrap_or(f.sessions),
        sessions: f.sessions,
        stopped: f.stopped.clone().unwrap_or_default(),
        seconds: f.seconds.unwrap_or_default(),
        memory: f.memory(),
        start_first_ms: Summary::of(&f.creation_ms[..f.creation_ms.len().min(100)]),
        start_last_ms: Summary::of(&f.creation_ms[f.creation_ms.len().saturating_sub(100)..]),
    });
    row.overhead = d
        .overhead
        .iter()
        .map(|(k, m)| Overhead {
            what: format!("{k} (jupyter_client)"),
            mem: m.sum(),
        })
        .collect();
    Ok(row)
}

/// A Jupyter Kernel Gateway on a loopback port, with a token.
pub(super) struct Gateway {
    child: tokio::process::Child,
    pub pid: i32,
    pub url: String,
    pub token: String,
    pub versions: Vec<(String, String)>,
    _runtime: RuntimeDir,
}

impl Gateway {
    pub(super) async fn start(python: &Path) -> Result<Self, BenchError> {
        let runtime = RuntimeDir::new("jkg")?;
        let port = crate::llama_server::free_port()?;
        let token = format!(
            "{:x}{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let bin = python.with_file_name("jupyter-kernelgateway");
        let log = std::fs::File::create(runtime.0.join("gateway.log"))?;
        let mut child = tokio::process::Command::new(&bin)
            .arg("--KernelGatewayApp.ip=127.0.0.1")
            .arg(format!("--KernelGatewayApp.port={port}"))
            .arg("--KernelGatewayApp.port_retries=0")
            .arg(format!("--KernelGatewayApp.auth_token={token}"))
            .env("JUPYTER_RUNTIME_DIR", &runtime.0)
            // The gateway's root, where each session makes its working directory: the
            // throwaway runtime directory, not the caller's.
            .current_dir(&runtime.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("the gateway exited at once")? as i32;
        let url = format!("http://127.0.0.1:{port}");
        let probe = JupyterBackend::new(JupyterConfig {
            url: url.clone(),
            token: Some(token.clone()),
            kernel_name: "python3".into(),
        });
        let t0 = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let log =
                    std::fs::read_to_string(runtime.0.join("gateway.log")).unwrap_or_default();
                return Err(BenchError::msg(format!(
                    "the gateway exited ({status}): {}",
                    log.trim()
                )));
            }
            if probe.ping().await.is_ok() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(BenchError::msg("the gateway did not answer within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let versions = versions(python).await;
        Ok(Self {
            child,
            pid,
            url,
            token,
            versions,
            _runtime: runtime,
        })
    }

    /// Asks the gateway to stop (it shuts its kernels down), then kills it if it lingers.
    pub(super) async fn stop(mut self) {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

async fn versions(python: &Path) -> Vec<(String, String)> {
    let code = "import sys, kernel_gateway, ipykernel, jupyter_client\n\
                print(sys.version.split()[0], kernel_gateway.__version__, ipykernel.__version__, jupyter_client.__version__)";
    let out = tokio::process::Command::new(python)
        .arg("-c")
        .arg(code)
        .output()
        .await;
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    [
        "python",
        "jupyter_kernel_gateway",
        "ipykernel",
        "jupyter_client",
    ]
    .iter()
    .zip(text.split_whitespace())
    .map(|(k, v)| ((*k).to_string(), v.to_string()))
    .collect()
}
