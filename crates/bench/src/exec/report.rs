//! The human-readable report of `codeact bench exec`: one table, the ratios of codeact to each
//! peer, the targets, and where codeact's time and memory go.

use std::fmt::{self, Display, Formatter};

use super::results::{ExecReport, Memory, Row};
use crate::procfs::MemSum;
use crate::stats::Summary;
use crate::table::table;

/// 1 MB = 10^6 bytes (the targets are stated in MB).
const MB: f64 = 1e6;

pub fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3} ms")
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

pub fn summary_ms(s: Option<&Summary>) -> String {
    match s {
        Some(s) => format!("p50 {} p95 {} (n={})", ms(s.p50), ms(s.p95), s.n),
        None => "n/a".into(),
    }
}

fn mb(bytes: f64) -> String {
    let v = bytes / MB;
    if v.abs() >= 10_000.0 {
        format!("{:.2} GB", v / 1000.0)
    } else if v.abs() >= 100.0 {
        format!("{v:.0} MB")
    } else {
        format!("{v:.2} MB")
    }
}

/// A change in memory with its sign: "+1.20 MB", "−0.33 MB".
fn signed_mb(bytes: f64) -> String {
    if bytes < 0.0 {
        format!("−{}", mb(-bytes))
    } else {
        format!("+{}", mb(bytes))
    }
}

fn per_session(m: &Memory, f: impl Fn(&MemSum) -> u64) -> Option<f64> {
    (m.sessions > 0).then(|| f(&m.total) as f64 / m.sessions as f64)
}

fn ratio(peer: f64, ours: f64) -> String {
    if ours <= 0.0 {
        return "n/a".into();
    }
    let r = peer / ours;
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}

struct Metric {
    name: String,
    /// Value used for ratios (lower is better), and its text.
    cells: Vec<Option<(f64, String)>>,
    /// Comparative word for the ratio line ("faster", "less memory").
    better: &'static str,
}

fn metrics(b: &ExecReport) -> Vec<Metric> {
    let s = &b.settings;
    let rows = &b.rows;
    let time = |name: String, f: &dyn Fn(&Row) -> Option<f64>| Metric {
        name,
        cells: rows.iter().map(|r| f(r).map(|v| (v, ms(v)))).collect(),
        better: "faster",
    };
    let mem = |name: String, f: &dyn Fn(&Row) -> Option<f64>| Metric {
        name,
        cells: rows.iter().map(|r| f(r).map(|v| (v, mb(v)))).collect(),
        better: "less",
    };
    vec![
        time(
            format!("cold start p50 ({} new sessions)", s.cold_starts),
            &|r| r.cold_start_ms.map(|x| x.p50),
        ),
        time("cold start p95".into(), &|r| r.cold_start_ms.map(|x| x.p95)),
        time(format!("round trip p50 ({} cells)", s.round_trips), &|r| {
            r.round_trip_ms.map(|x| x.p50)
        }),
        time("round trip p95".into(), &|r| r.round_trip_ms.map(|x| x.p95)),
        mem(
            format!("idle USS / session ({} sessions)", s.idle_sessions),
            &|r| {
                r.idle
                    .as_ref()
                    .and_then(|m| per_session(m, |t| t.uss_bytes))
            },
        ),
        mem("idle PSS / session".into(), &|r| {
            r.idle
                .as_ref()
                .and_then(|m| per_session(m, |t| t.pss_bytes))
        }),
    ]
}

fn pad(s: &str, w: usize) -> String {
    format!("{s:<w$}")
}

impl Display for ExecReport {
    fn fmt(&self, o: &mut Formatter<'_>) -> fmt::Result {
        let b = self;
        writeln!(
        o,
        "codeact bench exec: `{}`; {} CPUs, {:.1} GiB RAM, Linux {}; load average {} at the start, {} at the end",
        b.settings.cell,
        b.host.cpus,
        b.host.mem_total_bytes as f64 / (1u64 << 30) as f64,
        b.host.kernel,
        b.host.load_start,
        b.host.load_end
    )?;
        for r in &b.rows {
            if !r.versions.is_empty() {
                let v: Vec<String> = r.versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
                writeln!(o, "  {}: {}", r.label, v.join(", "))?;
            }
        }
        writeln!(o, "  memory: USS = Private_Clean + Private_Dirty, PSS = Pss, from /proc/PID/smaps_rollup, summed over all processes of the sessions; 1 MB = 10^6 bytes")?;
        writeln!(o)?;

        let ms_rows = metrics(b);
        let mut t = table(std::iter::once("").chain(b.rows.iter().map(|r| r.label.as_str())));
        for m in &ms_rows {
            let cells = m
                .cells
                .iter()
                .zip(&b.rows)
                .map(|(c, r)| match (c, &r.error) {
                    (Some((_, t)), _) => t.clone(),
                    (None, Some(_)) => "error".into(),
                    (None, None) => "n/a".into(),
                });
            t.add_row(std::iter::once(m.name.clone()).chain(cells));
        }
        let mut line = |name: &str, f: &dyn Fn(&Row) -> Option<String>| {
            let cells = b.rows.iter().map(|r| f(r).unwrap_or_else(|| "n/a".into()));
            t.add_row(std::iter::once(name.to_string()).chain(cells));
        };
        let cpu = |c: f64| format!("{c:.1}% of a core");
        line("descriptors / idle session (server side)", &|r| {
            r.idle
                .as_ref()
                .and_then(|m| m.fds_per_session)
                .map(|f| format!("{f:.2}"))
        });
        line("idle CPU, all idle sessions together", &|r| {
            r.idle.as_ref().and_then(|m| m.idle_cpu_pct).map(cpu)
        });
        line("sessions alive at once (target)", &|r| {
            r.fit
                .as_ref()
                .map(|f| format!("{} ({})", f.sessions, f.target))
        });
        line("  first 100 created back to back, p50/p95", &|r| {
            r.fit.as_ref().and_then(|f| {
                f.start_first_ms
                    .map(|s| format!("{} / {}", ms(s.p50), ms(s.p95)))
            })
        });
        let uss: fn(&MemSum) -> u64 = |t| t.uss_bytes;
        let pss: fn(&MemSum) -> u64 = |t| t.pss_bytes;
        for (label, pick) in [
            ("  USS total / per session", uss),
            ("  PSS total / per session", pss),
        ] {
            line(label, &|r| {
                r.fit.as_ref().map(|f| {
                    let per = per_session(&f.memory, pick).map(mb).unwrap_or_default();
                    format!("{} / {per}", mb(pick(&f.memory.total) as f64))
                })
            });
        }
        line("  idle CPU at that count", &|r| {
            r.fit.as_ref().and_then(|f| f.memory.idle_cpu_pct).map(cpu)
        });
        writeln!(o, "{t}")?;
        writeln!(o)?;

        // Ratios of codeact (the first row) to every peer.
        if let Some(ours) = b.rows.iter().position(|r| r.key == "codeact") {
            let peers: Vec<usize> = (0..b.rows.len())
                .filter(|&i| !b.rows[i].key.starts_with("codeact"))
                .collect();
            if !peers.is_empty() {
                writeln!(o, "codeact (sandbox on) vs peers:")?;
                for m in &ms_rows {
                    let Some((v, t)) = &m.cells[ours] else {
                        continue;
                    };
                    let mut parts = vec![format!("codeact {t}")];
                    let mut ratios = Vec::new();
                    for &p in &peers {
                        if let Some((pv, pt)) = &m.cells[p] {
                            parts.push(format!("{} {pt}", b.rows[p].label));
                            ratios.push(format!(
                                "{} {} vs {}",
                                ratio(*pv, *v),
                                m.better,
                                b.rows[p].label
                            ));
                        }
                    }
                    if !ratios.is_empty() {
                        writeln!(
                            o,
                            "  {}: {} → {}",
                            m.name,
                            parts.join(", "),
                            ratios.join(", ")
                        )?;
                    }
                }
                writeln!(o)?;
            }
            targets(o, b, ours)?;
            breakdown(o, &b.rows[ours])?;
        }
        for r in &b.rows {
            if let Some(e) = &r.error {
                writeln!(o, "{}: ERROR: {e}", r.label)?;
            }
            for n in &r.notes {
                writeln!(o, "{}: {n}", r.label)?;
            }
            if let Some(f) = &r.fit {
                if f.sessions < f.target {
                    writeln!(
                        o,
                        "{}: capacity test stopped at {}: {}",
                        r.label, f.sessions, f.stopped
                    )?;
                }
            }
        }
        Ok(())
    }
}

fn targets(o: &mut Formatter<'_>, b: &ExecReport, ours: usize) -> fmt::Result {
    let r = &b.rows[ours];
    let peer = |key: &str| b.rows.iter().find(|x| x.key == key);
    let ipk = peer("ipykernel");
    let mut lines: Vec<(String, String, Option<bool>)> = Vec::new();
    let cold = r.cold_start_ms.map(|s| s.p50);
    lines.push((
        "cold start p50 ≤ 5 ms".into(),
        cold.map(ms).unwrap_or("n/a".into()),
        cold.map(|c| c <= 5.0),
    ));
    let cold_ratio = cold
        .zip(ipk.and_then(|p| p.cold_start_ms).map(|s| s.p50))
        .map(|(c, p)| p / c);
    lines.push((
        "cold start ≥ 100× faster than ipykernel".into(),
        cold_ratio
            .map(|x| format!("{x:.0}×"))
            .unwrap_or("n/a".into()),
        cold_ratio.map(|x| x >= 100.0),
    ));
    let rt = r.round_trip_ms.map(|s| s.p50);
    lines.push((
        "round trip p50 ≤ 0.5 ms".into(),
        rt.map(ms).unwrap_or("n/a".into()),
        rt.map(|c| c <= 0.5),
    ));
    let rt_ratio = rt
        .zip(ipk.and_then(|p| p.round_trip_ms).map(|s| s.p50))
        .map(|(c, p)| p / c);
    lines.push((
        "round trip ≥ 9× faster than jupyter_client".into(),
        rt_ratio.map(|x| format!("{x:.1}×")).unwrap_or("n/a".into()),
        rt_ratio.map(|x| x >= 9.0),
    ));
    let uss = r
        .idle
        .as_ref()
        .and_then(|m| per_session(m, |t| t.uss_bytes));
    lines.push((
        "idle USS ≤ 5 MB per session".into(),
        uss.map(mb).unwrap_or("n/a".into()),
        uss.map(|u| u <= 5.0 * MB),
    ));
    let alive = r.fit.as_ref().map(|f| f.sessions);
    lines.push((
        "2,000 idle sessions alive".into(),
        alive.map(|a| a.to_string()).unwrap_or("n/a".into()),
        alive.map(|a| a >= 2000),
    ));
    let mut t = table(["target (codeact, sandbox on)", "measured", "verdict"]);
    for (name, v, ok) in lines {
        let verdict = match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        t.add_row([name, v, verdict.into()]);
    }
    writeln!(o, "{t}")?;
    writeln!(o)
}

fn breakdown(o: &mut Formatter<'_>, r: &Row) -> fmt::Result {
    writeln!(o, "where codeact's time and memory go (sandbox on):")?;
    if let Some(p) = &r.phases {
        writeln!(
            o,
            "  cold start through the Backend/Kernel interface (no session manager):"
        )?;
        writeln!(o, "    Backend::start (a pre-started sandbox if the backend keeps some, else cgroup → holder cloned by the zygote's builder: namespaces + root → codeact-init → first process in the session → worker hello): {}", summary_ms(p.backend_start_ms.as_ref()))?;
        writeln!(
            o,
            "    first print(1) in the new session:  {}",
            summary_ms(p.first_cell_ms.as_ref())
        )?;
        writeln!(
            o,
            "    second print(1):                    {}",
            summary_ms(p.second_cell_ms.as_ref())
        )?;
        writeln!(
            o,
            "    Kernel::shutdown:                   {}",
            summary_ms(p.shutdown_ms.as_ref())
        )?;
    }
    for (what, m) in [
        ("idle", r.idle.as_ref()),
        ("at capacity", r.fit.as_ref().map(|f| &f.memory)),
    ] {
        let Some(m) = m else { continue };
        if m.sessions == 0 {
            continue;
        }
        let n = m.sessions as f64;
        let pool = match m.sandboxes {
            Some(s) if s > m.sessions => format!(
                ", counting {} sandboxes started ahead of demand",
                s - m.sessions
            ),
            _ => String::new(),
        };
        writeln!(
            o,
            "  memory per session, {what} ({} sessions, {} processes{pool}; totals divided by the sessions):",
            m.sessions, m.total.processes
        )?;
        for role in &m.roles {
            let per = role.mem.processes.max(1) as f64;
            writeln!(
                o,
                "    {}: {} processes; per process USS {} PSS {} RSS {}",
                pad(&role.role, 7),
                role.mem.processes,
                mb(role.mem.uss_bytes as f64 / per),
                mb(role.mem.pss_bytes as f64 / per),
                mb(role.mem.rss_bytes as f64 / per)
            )?;
        }
        if let Some(s) = m.sandboxes.filter(|&s| s > 0) {
            writeln!(
                o,
                "    per sandbox (total / {s} sandboxes): USS {} PSS {}",
                mb(m.total.uss_bytes as f64 / s as f64),
                mb(m.total.pss_bytes as f64 / s as f64)
            )?;
        }
        if let Some(c) = m.cgroup_bytes {
            writeln!(
                o,
                "    cgroup memory charge: {} per session",
                mb(c as f64 / n)
            )?;
        }
        if let Some(d) = &m.system_delta {
            writeln!(
                o,
                "    system-wide change per session: MemAvailable {}, page tables {}, unreclaimable slab {}, kernel stacks {}",
                signed_mb(-(d.mem_available_drop_bytes as f64) / n),
                signed_mb(d.page_tables_bytes as f64 / n),
                signed_mb(d.slab_unreclaimable_bytes as f64 / n),
                signed_mb(d.kernel_stack_bytes as f64 / n)
            )?;
        }
    }
    if let Some(f) = &r.fit {
        writeln!(
            o,
            "  capacity test: {} sessions in {:.1} s; creation of the first 100: {}; of the last 100: {}",
            f.sessions,
            f.seconds,
            summary_ms(f.start_first_ms.as_ref()),
            summary_ms(f.start_last_ms.as_ref())
        )?;
    }
    for ov in &r.overhead {
        writeln!(
            o,
            "  shared, not per session: {}: USS {} PSS {} RSS {}",
            ov.what,
            mb(ov.mem.uss_bytes as f64),
            mb(ov.mem.pss_bytes as f64),
            mb(ov.mem.rss_bytes as f64)
        )?;
    }
    writeln!(o)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::signed_mb;

    #[test]
    fn changes_carry_one_sign() {
        assert_eq!(signed_mb(-33e6), "−33.00 MB");
        assert_eq!(signed_mb(1.5e6), "+1.50 MB");
        assert_eq!(signed_mb(0.0), "+0.00 MB");
    }
}
