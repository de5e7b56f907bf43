//! A small run of the engine benchmark (codeact's own rows, no peers), to show every stage
//! works end to end against the real sandboxed engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use codeact_bench::exec::{run, ExecBenchOptions};
use codeact_exec::ExecConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_benchmark_measures_every_stage() {
    let opts = ExecBenchOptions {
        sessions: 3,
        cold_gap_ms: 10,
        round_trips: 20,
        idle: 3,
        max_alive: 6,
        peer_max_alive: 0,
        time_cap: 120.0,
        min_available_mib: 1024,
        cpu_window: 0.5,
        skip_peers: true,
        skip_jkg: true,
        skip_unsandboxed: false,
        no_install: true,
        venv: None,
    };
    let report = run(&opts, &ExecConfig::default(), &|_| {})
        .await
        .expect("benchmark runs");
    println!("{report}");
    assert_eq!(report.rows.len(), 2, "{report}");
    for row in &report.rows {
        assert_eq!(row.error, None, "{}: {report}", row.key);
        assert!(row.cold_start_ms.is_some(), "{}: {report}", row.key);
        assert!(row.round_trip_ms.is_some(), "{}: {report}", row.key);
        assert!(row.idle.is_some(), "{}: {report}", row.key);
    }
    let fit = report.rows[0].fit.as_ref().expect("a fit test");
    assert_eq!(fit.sessions, 6, "{report}");
}
