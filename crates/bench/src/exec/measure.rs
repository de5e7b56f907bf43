//! The measurements of one backend behind the session manager: cold starts, round trips, the
//! memory and CPU of idle sessions, the capacity test, and the phases of a codeact cold start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeact_exec::local::BUILDER_TITLE;
use codeact_exec::{Backend, ExecConfig, OutputSink, SessionManager};
use codeact_protocol::ExecStatus;
use futures::StreamExt;

use super::results::{Fit, Memory, Phases, Role, Row, SystemDelta};
use super::{ExecBenchOptions, CELL};
use crate::procfs::{self, MemInfo, MemSum, ProcTable};
use crate::stats::Summary;
use crate::{BenchError, Context, Progress};

const EXPECTED: &str = "1\n";
/// Untimed sessions before the timed cold starts, and untimed cells before the round trips.
const WARMUP_SESSIONS: usize = 3;
const WARMUP_CELLS: usize = 20;

/// A backend under test, behind the session manager.
pub(super) struct Target {
    pub(super) mgr: Arc<SessionManager>,
    /// The process under which every session process lives (zygote, gateway).
    pub(super) root: i32,
    /// Names of the session processes by depth under `root`.
    pub(super) roles: &'static [&'static str],
    pub(super) cgroups: bool,
    /// Sessions for the capacity test; `None` skips it.
    pub(super) fit_target: Option<usize>,
}

/// Runs one cell in a session (created on first use) and checks what it printed.
async fn cell(mgr: &SessionManager, id: &str) -> Result<f64, BenchError> {
    let t0 = Instant::now();
    let r = mgr
        .execute(id, CELL)
        .await
        .with_context(|| format!("session {id}"))?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if r.status != ExecStatus::Ok || r.text() != EXPECTED {
        return Err(BenchError::msg(format!(
            "session {id}: {CELL} gave {:?} {:?}",
            r.status,
            r.text()
        )));
    }
    Ok(ms)
}

pub(super) async fn measure(
    args: &ExecBenchOptions,
    t: &Target,
    row: &mut Row,
    progress: Progress<'_>,
) -> Result<(), BenchError> {
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
            super::report::summary_ms(row.cold_start_ms.as_ref())
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
            super::report::summary_ms(row.round_trip_ms.as_ref())
        ));
    }
    // (3) Idle memory, then (4) the capacity test, continuing from the idle sessions.
    if args.idle == 0 && t.fit_target.is_none() {
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = Base {
        mem: procfs::meminfo(),
        fds: procfs::open_fds(),
    };
    let mut alive: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut creation = Vec::new();
    let idle_target = match t.fit_target {
        Some(f) => args.idle.min(f),
        None => args.idle,
    };
    let outcome = async {
        let stop = grow(
            args,
            mgr,
            &mut alive,
            &mut creation,
            idle_target,
            started,
            progress,
        )
        .await;
        if let Some(why) = &stop {
            row.notes.push(format!("idle phase stopped early: {why}"));
        }
        settle().await;
        row.idle = Some(snapshot(args, t, alive.len(), &base).await);
        progress(&format!("  idle: {} sessions measured", alive.len()));
        if let (Some(target), None) = (t.fit_target, &stop) {
            let stop = grow(
                args,
                mgr,
                &mut alive,
                &mut creation,
                target,
                started,
                progress,
            )
            .await;
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
        Ok::<(), BenchError>(())
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
    args: &ExecBenchOptions,
    mgr: &SessionManager,
    alive: &mut Vec<String>,
    creation: &mut Vec<f64>,
    n: usize,
    started: Instant,
    progress: Progress<'_>,
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
                return Some(format!("session {} failed: {e}", alive.len() + 1));
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

/// What the machine and this process had before the idle sessions started.
struct Base {
    mem: MemInfo,
    /// Descriptors open in this process.
    fds: Option<usize>,
}

/// Memory (and idle CPU) of every session process of `t`, and the descriptors this process
/// holds for them.
async fn snapshot(args: &ExecBenchOptions, t: &Target, sessions: usize, base: &Base) -> Memory {
    let table = ProcTable::read();
    // The zygote's builder is the engine's, not a session's.
    let procs: Vec<(i32, usize)> = table
        .descendants(t.root)
        .into_iter()
        .filter(|&(p, _)| procfs::cmdline(p).first().map(String::as_str) != Some(BUILDER_TITLE))
        .collect();
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
    let system_delta = Some(SystemDelta::between(&base.mem, &procfs::meminfo()));
    let fds_per_session = base
        .fds
        .zip(procfs::open_fds())
        .filter(|_| sessions > 0)
        .map(|(before, now)| (now as f64 - before as f64) / sessions as f64);
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
        fds_per_session,
        system_delta,
    }
}

/// Splits a cold start into the backend's start and the first cells, through the public
/// `Backend`/`Kernel` interface (no session manager).
pub(super) async fn phases(
    backend: &dyn Backend,
    exec: &ExecConfig,
    n: usize,
    gap_ms: u64,
) -> Result<Phases, BenchError> {
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
