//! What the benchmark reads from /proc and /sys: process trees, per-process memory from
//! `smaps_rollup`, CPU time, system memory counters and the session cgroups' memory charge.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

/// Clock ticks per second of `utime`/`stime` in /proc (USER_HZ, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// Memory of a set of processes, summed. USS = Private_Clean + Private_Dirty; PSS = Pss.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MemSum {
    pub processes: usize,
    pub uss_bytes: u64,
    pub pss_bytes: u64,
    pub rss_bytes: u64,
}

impl MemSum {
    pub fn add(&mut self, o: &MemSum) {
        self.processes += o.processes;
        self.uss_bytes += o.uss_bytes;
        self.pss_bytes += o.pss_bytes;
        self.rss_bytes += o.rss_bytes;
    }
}

/// `smaps_rollup` of one process; `None` when it is gone or unreadable.
pub fn smaps(pid: i32) -> Option<MemSum> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let mut m = MemSum {
        processes: 1,
        ..MemSum::default()
    };
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(kb)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(kb) = kb.parse::<u64>() else { continue };
        let b = kb * 1024;
        match key {
            "Rss:" => m.rss_bytes += b,
            "Pss:" => m.pss_bytes += b,
            "Private_Clean:" | "Private_Dirty:" => m.uss_bytes += b,
            _ => {}
        }
    }
    Some(m)
}

/// The summed memory of `pids` (processes that vanished are skipped).
pub fn mem_of(pids: &[i32]) -> MemSum {
    let mut total = MemSum::default();
    for &p in pids {
        if let Some(m) = smaps(p) {
            total.add(&m);
        }
    }
    total
}

/// The parent-child links of every process, from one walk over /proc.
pub struct ProcTable {
    children: HashMap<i32, Vec<i32>>,
}

/// The fields of /proc/PID/stat after the command name, which may itself hold spaces and ')'.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

impl ProcTable {
    pub fn read() -> Self {
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                // fields[0] is the state, fields[1] the parent pid.
                if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1)?.parse::<i32>().ok()) {
                    children.entry(ppid).or_default().push(pid);
                }
            }
        }
        Self { children }
    }

    pub fn children(&self, pid: i32) -> &[i32] {
        self.children.get(&pid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every process below `root` (not `root` itself) with its depth under it (children = 1).
    pub fn descendants(&self, root: i32) -> Vec<(i32, usize)> {
        let mut out = Vec::new();
        let mut stack: Vec<(i32, usize)> = self.children(root).iter().map(|&c| (c, 1)).collect();
        while let Some((p, d)) = stack.pop() {
            out.push((p, d));
            stack.extend(self.children(p).iter().map(|&c| (c, d + 1)));
        }
        out
    }
}

/// The NUL-separated argument vector of `pid`.
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// utime + stime of `pid` in clock ticks (all its threads).
fn cpu_ticks(pid: i32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // After the name: state is field 3 of stat, utime field 14, stime field 15.
    let u: u64 = f.get(11)?.parse().ok()?;
    let s: u64 = f.get(12)?.parse().ok()?;
    Some(u + s)
}

/// The CPU `pids` use over `window`, in percent of one core.
pub async fn cpu_pct(pids: &[i32], window: std::time::Duration) -> f64 {
    let before: Vec<(i32, Option<u64>)> = pids.iter().map(|&p| (p, cpu_ticks(p))).collect();
    let t0 = std::time::Instant::now();
    tokio::time::sleep(window).await;
    let dt = t0.elapsed().as_secs_f64();
    let ticks: u64 = before
        .iter()
        .filter_map(|&(p, b)| Some(cpu_ticks(p)?.saturating_sub(b?)))
        .sum();
    100.0 * ticks as f64 / USER_HZ / dt.max(1e-9)
}

/// Selected /proc/meminfo counters, in bytes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MemInfo {
    pub mem_total: u64,
    pub mem_available: u64,
    pub page_tables: u64,
    pub slab_unreclaimable: u64,
    pub kernel_stack: u64,
}

pub fn meminfo() -> MemInfo {
    let mut m = MemInfo::default();
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return m;
    };
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(v) = v.parse::<u64>() else { continue };
        let v = v * 1024;
        match k {
            "MemTotal:" => m.mem_total = v,
            "MemAvailable:" => m.mem_available = v,
            "PageTables:" => m.page_tables = v,
            "SUnreclaim:" => m.slab_unreclaimable = v,
            "KernelStack:" => m.kernel_stack = v,
            _ => {}
        }
    }
    m
}

/// Descriptors open in this process, from /proc/self/fd.
pub fn open_fds() -> Option<usize> {
    // Less the one that reads the directory.
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count().saturating_sub(1))
}

/// Memory charged to this server's session cgroups (`codeact-<pid>-*`), and how many there are.
pub fn cgroup_charge() -> Option<(u64, usize)> {
    let prefix = format!("codeact-{}-", std::process::id());
    // cgroup v1 keeps memory in its own hierarchy; v2 has one tree.
    let (base, file) = if Path::new("/sys/fs/cgroup/memory").is_dir() {
        ("/sys/fs/cgroup/memory", "memory.usage_in_bytes")
    } else {
        ("/sys/fs/cgroup", "memory.current")
    };
    let mut total = 0;
    let mut groups = 0;
    for parent in std::fs::read_dir(base).ok()?.flatten() {
        if !parent.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        for g in std::fs::read_dir(parent.path()).ok()?.flatten() {
            let p = g.path();
            if !p.is_dir() {
                continue;
            }
            if let Some(v) = std::fs::read_to_string(p.join(file))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
            {
                total += v;
                groups += 1;
            }
        }
    }
    (groups > 0).then_some((total, groups))
}
