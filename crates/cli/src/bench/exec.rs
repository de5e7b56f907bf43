//! `codeact bench exec`: the execution engine against ipykernel (jupyter_client) and Jupyter
//! Kernel Gateway, side by side in one run: cold start, warm round trip, memory per idle
//! session, and how many sessions fit.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use codeact_exec::jupyter::{JupyterBackend, JupyterConfig};
use codeact_exec::local::LocalBackend;
use codeact_exec::{Backend, ExecConfig, OutputSink, SessionManager};
use codeact_protocol::ExecStatus;
use futures::StreamExt;
use serde::Serialize;

use super::peers;
use super::procfs::{self, MemInfo, MemSum, ProcTable};
use super::report;
use super::stats::Summary;
use crate::config::{EngineArgs, FileConfig};

const CELL: &str = "print(1)";
const EXPECTED: &str = "1\n";
/// Untimed sessions before the timed cold starts, and untimed cells before the round trips.
const WARMUP_SESSIONS: usize = 3;
const WARMUP_CELLS: usize = 20;
/// Descriptors this process holds per live local session (five namespaces, init's pidfd, the
/// worker stream), and a margin for everything else.
const FDS_PER_SESSION: u64 = 7;
const FD_MARGIN: u64 = 512;

#[derive(Debug, Clone, clap::Args)]
pub struct ExecBenchArgs {
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
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Configuration file of the codeact engine (sandbox policy, Python).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Python interpreter of the codeact sessions.
    #[arg(long, env = "CODEACT_PYTHON")]
    pub python: Option<PathBuf>,
    /// Venv of the peers (default: ~/.cache/codeact/bench-venv, made by scripts/bench-peers.sh).
    #[arg(long, env = "BENCH_VENV")]
    pub venv: Option<PathBuf>,
}

/// Memory of the live sessions of one backend at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub sessions: usize,
    /// Sandboxes alive (codeact: init processes), including any started ahead of demand.
    pub sandboxes: Option<usize>,
    #[serde(flatten)]
    pub total: MemSum,
    /// Share of one core all these idle sessions use together, in percent.
    pub idle_cpu_pct: Option<f64>,
    /// Memory by process role (codeact: init, worker).
    pub roles: Vec<Role>,
    /// Memory charged to the sessions' cgroups (includes kernel memory the kernel accounts).
    pub cgroup_bytes: Option<u64>,
    /// Change of system-wide counters since before these sessions started (whole machine:
    /// other activity shows up here too).
    pub system_delta: Option<SystemDelta>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Role {
    pub role: String,
    #[serde(flatten)]
    pub mem: MemSum,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SystemDelta {
    pub mem_available_drop_bytes: i64,
    pub page_tables_bytes: i64,
    pub slab_unreclaimable_bytes: i64,
    pub kernel_stack_bytes: i64,
}

impl SystemDelta {
    fn between(a: &MemInfo, b: &MemInfo) -> Self {
        let d = |x: u64, y: u64| y as i64 - x as i64;
        Self {
            mem_available_drop_bytes: d(b.mem_available, a.mem_available),
            page_tables_bytes: d(a.page_tables, b.page_tables),
            slab_unreclaimable_bytes: d(a.slab_unreclaimable, b.slab_unreclaimable),
            kernel_stack_bytes: d(a.kernel_stack, b.kernel_stack),
        }
    }
}

/// The capacity test: sessions brought up until the target, a failure or a cap.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub target: usize,
    pub sessions: usize,
    pub stopped: String,
    pub seconds: f64,
    pub memory: Memory,
    /// Creation (first print(1)) of the first and the last 100 sessions of the test.
    pub start_first_ms: Option<Summary>,
    pub start_last_ms: Option<Summary>,
}

/// Where the time of a codeact cold start goes, from the public backend interface.
#[derive(Debug, Clone, Serialize)]
pub struct Phases {
    /// `Backend::start`: zygote fork, namespaces and root, cgroup, init, worker hello.
    pub backend_start_ms: Option<Summary>,
    /// The first cell of a fresh session.
    pub first_cell_ms: Option<Summary>,
    /// The second cell of the same session.
    pub second_cell_ms: Option<Summary>,
    /// `Kernel::shutdown`.
    pub shutdown_ms: Option<Summary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    pub what: String,
    #[serde(flatten)]
    pub mem: MemSum,
}

/// Everything measured for one backend.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub versions: Vec<(String, String)>,
    pub cold_start_ms: Option<Summary>,
    pub round_trip_ms: Option<Summary>,
    pub idle: Option<Memory>,
    pub fit: Option<Fit>,
    pub phases: Option<Phases>,
    /// Processes shared by all sessions (zygote, gateway, client), not counted per session.
    pub overhead: Vec<Overhead>,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

impl Row {
    pub fn new(key: &str, label: &str) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            versions: Vec::new(),
            cold_start_ms: None,
            round_trip_ms: None,
            idle: None,
            fit: None,
            phases: None,
            overhead: Vec::new(),
            notes: Vec::new(),
            error: None,
        }
    }

    pub fn failed(key: &str, label: &str, e: &anyhow::Error) -> Self {
        let mut r = Self::new(key, label);
        r.error = Some(format!("{e:#}"));
        r
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Bench {
    pub host: Host,
    pub settings: Settings,
    pub rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Host {
    pub cpus: usize,
    pub mem_total_bytes: u64,
    pub kernel: String,
    /// 1-minute load average when the run started and ended (the machine may be shared).
    pub load_start: String,
    pub load_end: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub cold_starts: usize,
    pub cold_gap_ms: u64,
    pub round_trips: usize,
    pub idle_sessions: usize,
    pub max_alive: usize,
    pub peer_max_alive: usize,
    pub time_cap_s: f64,
    pub min_available_mib: u64,
    pub cell: &'static str,
}

fn progress(what: &str) {
    eprintln!("[bench] {what}");
}

pub async fn run(args: ExecBenchArgs) -> Result<i32> {
    if args.round_trips == 0 && args.sessions == 0 && args.idle == 0 {
        bail!("nothing to measure: --sessions, --round-trips and --idle are all 0");
    }
    let mut host = Host {
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        mem_total_bytes: procfs::meminfo().mem_total,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        load_start: loadavg(),
        load_end: String::new(),
    };
    let settings = Settings {
        cold_starts: args.sessions,
        cold_gap_ms: args.cold_gap_ms,
        round_trips: args.round_trips,
        idle_sessions: args.idle,
        max_alive: args.max_alive,
        peer_max_alive: args.peer_max_alive,
        time_cap_s: args.time_cap,
        min_available_mib: args.min_available_mib,
        cell: CELL,
    };
    let mut rows = Vec::new();

    progress("codeact, sandbox on");
    rows.push(codeact_row(&args, true).await);
    if !args.skip_unsandboxed {
        progress("codeact, --sandbox none");
        rows.push(codeact_row(&args, false).await);
    }
    if !args.skip_peers {
        match peers::ensure_venv(args.venv.clone(), args.no_install).await {
            Ok(python) => {
                progress("ipykernel via jupyter_client (Python driver)");
                rows.push(peers::ipykernel_row(&args, &python).await);
                if !args.skip_jkg {
                    progress("Jupyter Kernel Gateway over HTTP + WebSocket");
                    rows.push(jkg_row(&args, &python).await);
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
    host.load_end = loadavg();
    let bench = Bench {
        host,
        settings,
        rows,
    };
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&bench)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&bench)?);
    } else {
        print!("{}", report::table(&bench));
    }
    Ok(if bench.rows.iter().any(|r| r.error.is_some()) {
        1
    } else {
        0
    })
}

/// One codeact row; failures become the row's error.
async fn codeact_row(args: &ExecBenchArgs, sandbox: bool) -> Row {
    let (key, label) = if sandbox {
        ("codeact", "codeact")
    } else {
        ("codeact-none", "codeact --sandbox none")
    };
    match codeact_measure(args, sandbox, key, label).await {
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
        .filter(|&p| procfs::cmdline(p).iter().any(|a| a == "zygote"))
        .collect()
}

async fn codeact_measure(
    args: &ExecBenchArgs,
    sandbox: bool,
    key: &str,
    label: &str,
) -> Result<Row> {
    let file = FileConfig::load(args.config.as_deref())?;
    let engine_args = EngineArgs {
        config: args.config.clone(),
        sandbox: Some(if sandbox { "local" } else { "none" }.into()),
        python: args.python.clone(),
        ..EngineArgs::default()
    };
    let mut exec = engine_args.resolve(&file)?.exec;
    let mut row = Row::new(key, label);
    let mut fit_target = if sandbox {
        args.max_alive.max(args.idle)
    } else {
        args.idle
    };
    if let Some(limit) = procfs::open_files_limit() {
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
        procfs::cmdline(zygote).first().cloned().unwrap_or_default(),
    ));

    let target = Target {
        mgr: mgr.clone(),
        root: zygote,
        roles: &["init", "worker"],
        cgroups: sandbox,
        fit_target: sandbox.then_some(fit_target),
    };
    let result = measure(args, &target, &mut row).await;
    if result.is_ok() && args.sessions > 0 {
        progress("  phases of a cold start");
        match phases(&*backend, &exec, args.sessions, args.cold_gap_ms).await {
            Ok(p) => row.phases = Some(p),
            Err(e) => row.notes.push(format!("phases not measured: {e:#}")),
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

/// A backend under test, behind the session manager.
struct Target {
    mgr: Arc<SessionManager>,
    /// The process under which every session process lives (zygote, gateway).
    root: i32,
    /// Names of the session processes by depth under `root`.
    roles: &'static [&'static str],
    cgroups: bool,
    /// Sessions for the capacity test; `None` skips it.
    fit_target: Option<usize>,
}

/// Runs one cell in a session (created on first use) and checks what it printed.
async fn cell(mgr: &SessionManager, id: &str) -> Result<f64> {
    let t0 = Instant::now();
    let r = mgr
        .execute(id, CELL)
        .await
        .with_context(|| format!("session {id}"))?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if r.status != ExecStatus::Ok || r.text() != EXPECTED {
        bail!("session {id}: {CELL} gave {:?} {:?}", r.status, r.text());
    }
    Ok(ms)
}

async fn measure(args: &ExecBenchArgs, t: &Target, row: &mut Row) -> Result<()> {
    let mgr = &t.mgr;
    // (1) Cold start: a new session to the output of its first print(1).
    if args.sessions > 0 {
        let mut samples = Vec::with_capacity(args.sessions);
        for i in 0..WARMUP_SESSIONS + args.sessions {
            let id = format!("cold-{i}");
            tokio::time::sleep(Duration::from_millis(args.cold_gap_ms)).await;
            let ms = cell(mgr, &id).await?;
            if i >= WARMUP_SESSIONS {
                samples.push(ms);
            }
            mgr.delete(&id).await?;
        }
        row.cold_start_ms = Summary::of(&samples);
        progress(&format!(
            "  cold start: {}",
            report::summary_ms(row.cold_start_ms.as_ref())
        ));
    }
    // (2) Round trips in one warm session.
    if args.round_trips > 0 {
        for _ in 0..WARMUP_CELLS {
            cell(mgr, "warm").await?;
        }
        let mut samples = Vec::with_capacity(args.round_trips);
        for _ in 0..args.round_trips {
            samples.push(cell(mgr, "warm").await?);
        }
        mgr.delete("warm").await?;
        row.round_trip_ms = Summary::of(&samples);
        progress(&format!(
            "  round trip: {}",
            report::summary_ms(row.round_trip_ms.as_ref())
        ));
    }
    // (3) Idle memory, then (4) the capacity test, continuing from the idle sessions.
    if args.idle == 0 && t.fit_target.is_none() {
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = procfs::meminfo();
    let mut alive: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut creation = Vec::new();
    let idle_target = match t.fit_target {
        Some(f) => args.idle.min(f),
        None => args.idle,
    };
    let outcome = async {
        let stop = grow(args, mgr, &mut alive, &mut creation, idle_target, started).await;
        if let Some(why) = &stop {
            row.notes.push(format!("idle phase stopped early: {why}"));
        }
        settle().await;
        row.idle = Some(snapshot(args, t, alive.len(), &base).await);
        progress(&format!("  idle: {} sessions measured", alive.len()));
        if let (Some(target), None) = (t.fit_target, &stop) {
            let stop = grow(args, mgr, &mut alive, &mut creation, target, started).await;
            let seconds = started.elapsed().as_secs_f64();
            settle().await;
            let memory = snapshot(args, t, alive.len(), &base).await;
            let n = creation.len();
            row.fit = Some(Fit {
                target,
                sessions: alive.len(),
                stopped: stop.unwrap_or_else(|| "reached the target".into()),
                seconds,
                memory,
                start_first_ms: Summary::of(&creation[..n.min(100)]),
                start_last_ms: Summary::of(&creation[n.saturating_sub(100)..]),
            });
            progress(&format!("  capacity: {} sessions alive", alive.len()));
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    progress(&format!("  ending {} sessions", alive.len()));
    futures::stream::iter(alive.iter())
        .map(|id| mgr.delete(id))
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    outcome
}

/// Gives freshly started sessions a moment to finish whatever they do after answering.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Starts sessions (each running print(1)) until `n` are alive; says why it stopped early.
async fn grow(
    args: &ExecBenchArgs,
    mgr: &SessionManager,
    alive: &mut Vec<String>,
    creation: &mut Vec<f64>,
    n: usize,
    started: Instant,
) -> Option<String> {
    let min_available = args.min_available_mib << 20;
    // Memory is checked every 10 sessions and progress shown every 250.
    let (mut next_check, mut next_report) = (alive.len(), alive.len() + 250);
    while alive.len() < n {
        if started.elapsed().as_secs_f64() > args.time_cap {
            return Some(format!("time cap of {:.0} s", args.time_cap));
        }
        if alive.len() >= next_check {
            next_check += 10;
            if procfs::meminfo().mem_available < min_available {
                return Some(format!("MemAvailable below {} MiB", args.min_available_mib));
            }
        }
        let id = format!("idle-{}", alive.len());
        match cell(mgr, &id).await {
            Ok(ms) => creation.push(ms),
            Err(e) => {
                let _ = mgr.delete(&id).await;
                return Some(format!("session {} failed: {e:#}", alive.len() + 1));
            }
        }
        alive.push(id);
        if alive.len() >= next_report {
            next_report += 250;
            progress(&format!("  {} sessions alive", alive.len()));
        }
    }
    None
}

/// Memory (and idle CPU) of every session process of `t`.
async fn snapshot(args: &ExecBenchArgs, t: &Target, sessions: usize, base: &MemInfo) -> Memory {
    let table = ProcTable::read();
    let procs = table.descendants(t.root);
    let pids: Vec<i32> = procs.iter().map(|&(p, _)| p).collect();
    let mut total = MemSum::default();
    let mut by_depth: Vec<MemSum> = vec![MemSum::default(); t.roles.len() + 1];
    for &(p, depth) in &procs {
        let Some(m) = procfs::smaps(p) else { continue };
        total.add(&m);
        let slot = depth.saturating_sub(1).min(t.roles.len());
        by_depth[slot].add(&m);
    }
    let mut roles: Vec<Role> = t
        .roles
        .iter()
        .zip(&by_depth)
        .map(|(name, m)| Role {
            role: (*name).to_string(),
            mem: *m,
        })
        .collect();
    if let Some(rest) = by_depth
        .last()
        .filter(|m| m.processes > 0 && !t.roles.is_empty())
    {
        roles.push(Role {
            role: "other".into(),
            mem: *rest,
        });
    }
    let cgroup_bytes = if t.cgroups {
        procfs::cgroup_charge().map(|(b, _)| b)
    } else {
        None
    };
    let system_delta = Some(SystemDelta::between(base, &procfs::meminfo()));
    let idle_cpu_pct = if args.cpu_window > 0.0 {
        Some(procfs::cpu_pct(&pids, Duration::from_secs_f64(args.cpu_window)).await)
    } else {
        None
    };
    let inits = procs.iter().filter(|&&(_, d)| d == 1).count();
    Memory {
        sessions,
        sandboxes: (t.roles.len() > 1).then_some(inits),
        total,
        idle_cpu_pct,
        roles,
        cgroup_bytes,
        system_delta,
    }
}

/// Splits a cold start into the backend's start and the first cells, through the public
/// `Backend`/`Kernel` interface (no session manager).
async fn phases(backend: &dyn Backend, exec: &ExecConfig, n: usize, gap_ms: u64) -> Result<Phases> {
    let (mut start, mut first, mut second, mut shut) = (vec![], vec![], vec![], vec![]);
    for i in 0..WARMUP_SESSIONS + n {
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        let t0 = Instant::now();
        let k = backend.start(&format!("phase-{i}")).await?;
        let t1 = Instant::now();
        let mut sink = OutputSink::new(exec.output_limit);
        let a = k.execute(CELL, &mut sink).await;
        let t2 = Instant::now();
        let mut sink = OutputSink::new(exec.output_limit);
        let b = k.execute(CELL, &mut sink).await;
        let t3 = Instant::now();
        k.shutdown().await;
        let t4 = Instant::now();
        a?;
        b?;
        if i >= WARMUP_SESSIONS {
            let ms = |x: Instant, y: Instant| (y - x).as_secs_f64() * 1000.0;
            start.push(ms(t0, t1));
            first.push(ms(t1, t2));
            second.push(ms(t2, t3));
            shut.push(ms(t3, t4));
        }
    }
    Ok(Phases {
        backend_start_ms: Summary::of(&start),
        first_cell_ms: Summary::of(&first),
        second_cell_ms: Summary::of(&second),
        shutdown_ms: Summary::of(&shut),
    })
}

/// The Kernel Gateway row: the gateway started from the peers' venv, driven by codeact's own
/// Jupyter backend (REST to create kernels, the channels WebSocket for cells).
async fn jkg_row(args: &ExecBenchArgs, python: &std::path::Path) -> Row {
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
        max_sessions: args.peer_max_alive.max(args.idle) + 16,
        idle_timeout: Duration::from_secs(7 * 24 * 3600),
        ..ExecConfig::default()
    };
    let mgr = SessionManager::new(Arc::new(backend), exec);
    let target = Target {
        mgr: mgr.clone(),
        root: gw.pid,
        roles: &["kernel"],
        cgroups: false,
        fit_target: Some(args.peer_max_alive.max(args.idle)),
    };
    let result = measure(args, &target, &mut row).await;
    row.overhead.push(Overhead {
        what: "gateway".into(),
        mem: procfs::mem_of(&[gw.pid]),
    });
    mgr.shutdown().await;
    gw.stop().await;
    if let Err(e) = result {
        row.error = Some(format!("{e:#}"));
    }
    row
}
