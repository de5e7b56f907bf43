//! A small run of the whole benchmark, to show every stage works end to end.
//!
//! Uses llama-server and llama-bench when scripts/llama-server.sh has installed them; with
//! CODEACT_SKIP_LLAMA_SERVER=1 only the embedded engine and the machine are measured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use codeact_bench::llm::{run, LlmBenchOptions};
use codeact_llm::ensure_default_model;

#[tokio::test]
async fn small_benchmark_runs_every_stage() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let with_server = std::env::var("CODEACT_SKIP_LLAMA_SERVER").map_or(true, |v| v != "1");
    let opts = LlmBenchOptions {
        prompt_tokens: 64,
        gen_tokens: 16,
        conversation_tokens: 300,
        skip_peers: !with_server,
    };
    let model = tokio::task::spawn_blocking(ensure_default_model)
        .await
        .unwrap()
        .expect("default model");
    let report = run(&model, Some(2), &opts, &|_| {})
        .await
        .expect("benchmark runs");
    println!("{report}");
    let e = report.embedded.as_ref().expect("embedded numbers");
    assert!(e.prompt_tps > 0.0 && e.gen_tps > 0.0, "{report}");
    assert!(e.peak_rss_bytes.unwrap_or(0) > 100 << 20, "{report}");
    let turn = report.embedded_second_turn.as_ref().expect("second turn");
    assert!(turn.cached_tokens > 200, "{report}");
    assert!(report.gen_upper_bound_tps().unwrap_or(0.0) > 0.0);
    if with_server {
        let s = report
            .llama_server
            .as_ref()
            .unwrap_or_else(|| panic!("no llama-server numbers:\n{report}"));
        assert!(s.prompt_tps > 0.0 && s.gen_tps > 0.0, "{report}");
        let b = report
            .llama_bench
            .as_ref()
            .unwrap_or_else(|| panic!("no llama-bench numbers:\n{report}"));
        assert!(b.prompt_tps > 0.0 && b.gen_tps > 0.0, "{report}");
    }
}
