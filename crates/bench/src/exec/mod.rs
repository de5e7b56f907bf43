//! `codeact bench exec`: the execution engine against ipykernel (jupyter_client) and Jupyter
//! Kernel Gateway, side by side in one run: cold start, warm round trip, memory per idle
//! session, and how many sessions fit.

mod measure;
mod peers;
mod report;
mod results;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use codeact_exec::jupyter::{JupyterBackend, JupyterConfig};
use codeact_exec::local::{LocalBackend, ZYGOTE_TITLE};
use codeact_exec::{Backend, ExecConfig, SandboxMode, SessionManager};

pub use crate::procfs::MemSum;
use crate::procfs::{self, ProcTable};
use crate::{BenchError, Context, Progress};
use measure::Target;
pub use results::{
    ExecReport, Fit, Host, Memory, Overhead, Phases, Role, Row, Settings, SystemDelta,
};

const CELL: &str = "print(1)";
/// Descriptors this process holds per live local session (the worker's socket), and a margin
/// for everything else.
const FDS_PER_SESSION: u64 = 1;
const FD_MARGIN: u64 = 512;

/// What to measure. The codeact engine's own settings (sandbox policy, Python) come from
/// codeact's configuration; the sandbox mode is set per row.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecBenchOptions {
    /// Cold starts timed per backend, each in a new session.
    #[arg(long, default_value_t = 30)]
    pub sessions: usize,
    /// Pause before each timed cold start, in milliseconds (sessions arriving at a moderate
    /// rate; the capacity test shows back-to-back creation).
    #[arg(long, default_value_t = 100)]
    pub cold_gap_ms: u64,
    /// print(1) round trips timed in one warm session.
    #[arg(long, default_value_t = 1000)]
    pub round_trips: usize,
    /// Idle sessions (each ran one cell) whose memory is measured.
    #[arg(long, default_value_t = 100)]
    pub idle: usize,
    /// codeact sessions to bring up and keep alive at once in the capacity test.
    #[arg(long, default_value_t = 2000)]
    pub max_alive: usize,
    /// Peer kernels (ipykernel, Kernel Gateway) to keep alive at once in the capacity test.
    #[arg(long, default_value_t = 100)]
    pub peer_max_alive: usize,
    /// Seconds one backend's capacity test may take.
    #[arg(long, default_value_t = 600.0)]
    pub time_cap: f64,
    /// Stop adding sessions when the host's MemAvailable falls below this many MiB.
    #[arg(long, default_value_t = 4096)]
    pub min_available_mib: u64,
    /// Seconds over which the CPU use of idle sessions is sampled (0 to skip).
    #[arg(long, default_value_t = 3.0)]
    pub cpu_window: f64,
    /// Measure codeact only.
    #[arg(long)]
    pub skip_peers: bool,
    /// Leave out Jupyter Kernel Gateway (keep ipykernel).
    #[arg(long)]
    pub skip_jkg: bool,
    /// Leave out the unsandboxed codeact row (--sandbox none).
    #[arg(long)]
    pub skip_unsandboxed: bool,
    /// Never install the peers' venv; leave the peers out when it is incomplete.
    #[arg(long)]
    pub no_install: bool,
    /// Venv of the peers (default: bench-venv in the codeact cache, made by scripts/bench-peers.sh).
    #[arg(long, env = "BENCH_VENV")]
    pub venv: Option<PathBuf>,
}

/// Measures codeact (sandbox on, then off) and each peer in turn. `engine` is codeact's
/// resolved engine configuration. A backend that fails becomes a row with its error.
pub async fn run(
    opts: &ExecBenchOptions,
    engine: &ExecConfig,
    progress: Progress<'_>,
) -> Result<ExecReport, BenchError> {
    if opts.round_trips == 0 && opts.sessions == 0 && opts.idle == 0 {
        return Err(BenchError::msg(
            "nothing to measure: --sessions, --round-trips and --idle are all 0",
        ));
    }
    let mut host = Host {
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        mem_total_bytes: procfs::meminfo().mem_total,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        load_start: results::loadavg(),
        load_end: String::new(),
    };
    let settings = Settings {
        cold_starts: opts.sessions,
        cold_gap_ms: opts.cold_gap_ms,
        round_trips: opts.round_trips,
        idle_sessions: opts.idle,
        max_alive: opts.max_alive,
        peer_max_alive: opts.peer_max_alive,
        time_cap_s: opts.time_cap,
        min_available_mib: opts.min_available_mib,
        cell: CELL,
    };
    let mut rows = Vec::new();

    progress("codeact, sandbox on");
    rows.push(codeact_row(opts, engine, true, progress).await);
    if !opts.skip_unsandboxed {
        progress("codeact, --sandbox none");
        rows.push(codeact_row(opts, engine, false, progress).await);
    }
    if !opts.skip_peers {
        let venv = opts
            .venv
            .clone()
            .unwrap_or_else(|| codeact_protocol::paths::cache_dir().join("bench-venv"));
        match peers::ensure_venv(&venv, opts.no_install).await {
            Ok(python) => {
                progress("ipykernel via jupyter_client (Python driver)");
                rows.push(peers::ipykernel_row(opts, &python).await);
                if !opts.skip_jkg {
                    progress("Jupyter Kernel Gateway over HTTP + WebSocket");
                    rows.push(jkg_row(opts, &python, progress).await);
                }
            }
            Err(e) => {
                let mut r = Row::failed("ipykernel", "ipykernel", &e);
                r.notes
                    .push("run scripts/bench-peers.sh to install the peers".into());
                rows.push(r);
            }
        }
    }
    host.load_end = results::loadavg();
    Ok(ExecReport {
        host,
        settings,
        rows,
    })
}

/// One codeact row; failures become the row's error.
async fn codeact_row(
    opts: &ExecBenchOptions,
    engine: &ExecConfig,
    sandbox: bool,
    progress: Progress<'_>,
) -> Row {
    let (key, label) = if sandbox {
        ("codeact", "codeact")
    } else {
        ("codeact-none", "codeact --sandbox none")
    };
    match codeact_measure(opts, engine, sandbox, key, label, progress).await {
        Ok(r) => r,
        Err(e) => Row::failed(key, label, &e),
    }
}

/// This process's children that run the zygote.
fn zygotes() -> HashSet<i32> {
    let me = std::process::id() as i32;
    ProcTable::read()
        .children(me)
        .iter()
        .copied()
        .filter(|&p| procfs::cmdline(p).first().map(String::as_str) == Some(ZYGOTE_TITLE))
        .collect()
}

async fn codeact_measure(
    opts: &ExecBenchOptions,
    engine: &ExecConfig,
    sandbox: bool,
    key: &str,
    label: &str,
    progress: Progress<'_>,
) -> Result<Row, BenchError> {
    let mut exec = engine.clone();
    exec.sandbox.mode = if sandbox {
        SandboxMode::Local
    } else {
        SandboxMode::None
    };
    let mut row = Row::new(key, label);
    let mut fit_target = if sandbox {
        opts.max_alive.max(opts.idle)
    } else {
        opts.idle
    };
    codeact_exec::raise_open_files_limit();
    if let Some(limit) = codeact_exec::open_files_limit() {
        let fits = limit.saturating_sub(FD_MARGIN) / FDS_PER_SESSION;
        if (fit_target as u64) > fits {
            row.notes.push(format!(
                "open-files limit {limit} allows about {fits} sessions in this process; raise `ulimit -n` for more"
            ));
            fit_target = fits as usize;
        }
    }
    exec.max_sessions = fit_target + 16;
    exec.idle_timeout = Duration::from_secs(7 * 24 * 3600);
    let before = zygotes();
    let backend: Arc<dyn Backend> = Arc::new(
        LocalBackend::new(&exec)
            .await
            .context("starting the local backend")?,
    );
    let report = backend.report();
    row.notes
        .extend(report.missing.iter().map(|m| format!("sandbox: {m}")));
    let zygote = zygotes()
        .difference(&before)
        .copied()
        .next()
        .context("cannot find the zygote process")?;
    let mgr = SessionManager::new(backend.clone(), exec.clone());
    row.versions.push((
        "python".into(),
        python_version(&mgr).await.unwrap_or_default(),
    ));
    row.versions.push((
        "interpreter".into(),
        report
            .python
            .as_ref()
            .map(|p| p.path.display().to_string())
            .unwrap_or_default(),
    ));

    let target = Target {
        mgr: mgr.clone(),
        root: zygote,
        // By depth under the zygote: with the sandbox on, each session's holder (pid 1 of its
        // namespaces, running codeact-init) and its worker; off, the worker alone.
        roles: if sandbox {
            &["init", "worker"]
        } else {
            &["worker"]
        },
        cgroups: sandbox,
        fit_target: sandbox.then_some(fit_target),
    };
    let result = measure::measure(opts, &target, &mut row, progress).await;
    if result.is_ok() && opts.sessions > 0 {
        progress("  phases of a cold start");
        match measure::phases(&*backend, &exec, opts.sessions, opts.cold_gap_ms).await {
            Ok(p) => row.phases = Some(p),
            Err(e) => row.notes.push(format!("phases not measured: {e}")),
        }
    }
    row.overhead.push(Overhead {
        what: "zygote".into(),
        mem: procfs::mem_of(&[zygote]),
    });
    row.overhead.push(Overhead {
        what: "bench process (the server side)".into(),
        mem: procfs::mem_of(&[std::process::id() as i32]),
    });
    mgr.shutdown().await;
    drop(target);
    drop(mgr);
    drop(backend);
    result?;
    Ok(row)
}

async fn python_version(mgr: &SessionManager) -> Option<String> {
    let r = mgr
        .execute("bench-version", "import sys; print(sys.version.split()[0])")
        .await
        .ok()?;
    let _ = mgr.delete("bench-version").await;
    Some(r.text().trim().to_string())
}

/// The Kernel Gateway row: the gateway started from the peers' venv, driven by codeact's own
/// Jupyter backend (REST to create kernels, the channels WebSocket for cells).
async fn jkg_row(opts: &ExecBenchOptions, python: &Path, progress: Progress<'_>) -> Row {
    let (key, label) = ("jkg", "Kernel Gateway");
    let gw = match peers::Gateway::start(python).await {
        Ok(g) => g,
        Err(e) => return Row::failed(key, label, &e),
    };
    let mut row = Row::new(key, label);
    row.versions = gw.versions.clone();
    let backend = JupyterBackend::new(JupyterConfig {
        url: gw.url.clone(),
        token: Some(gw.token.clone()),
        kernel_name: "python3".into(),
    });
    let exec = ExecConfig {
        max_sessions: opts.peer_max_alive.max(opts.idle) + 16,
        idle_timeout: Duration::from_secs(7 * 24 * 3600),
        ..ExecConfig::default()
    };
    let mgr = SessionManager::new(Arc::new(backend), exec);
    let target = Target {
        mgr: mgr.clone(),
        root: gw.pid,
        roles: &["kernel"],
        cgroups: false,
        fit_target: Some(opts.peer_max_alive.max(opts.idle)),
    };
    let result = measure::measure(opts, &target, &mut row, progress).await;
    row.overhead.push(Overhead {
        what: "gateway".into(),
        mem: procfs::mem_of(&[gw.pid]),
    });
    mgr.shutdown().await;
    gw.stop().await;
    if let Err(e) = result {
        row.error = Some(e.to_string());
    }
    row
}
