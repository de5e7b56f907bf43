//! What `codeact bench exec` measured, as serialisable data: one [`Row`] per backend.

use serde::Serialize;

use crate::procfs::{MemInfo, MemSum};
use crate::stats::Summary;
use crate::BenchError;

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
    /// Descriptors this process (the server side) holds per session: its open descriptors now
    /// less those before the sessions started, divided by the sessions.
    pub fds_per_session: Option<f64>,
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
    pub(super) fn between(a: &MemInfo, b: &MemInfo) -> Self {
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

    pub fn failed(key: &str, label: &str, e: &BenchError) -> Self {
        let mut r = Self::new(key, label);
        r.error = Some(e.to_string());
        r
    }
}

/// The whole report; it prints as tables (`Display`) or serialises to JSON.
#[derive(Debug, Serialize)]
pub struct ExecReport {
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

impl ExecReport {
    /// Whether a backend could not be measured.
    pub fn has_errors(&self) -> bool {
        self.rows.iter().any(|r| r.error.is_some())
    }
}

pub(super) fn loadavg() -> String {
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
