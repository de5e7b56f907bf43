//! The report of `codeact bench llm` as a table with ratios, then the machine's ceiling and
//! the second-turn latencies.

use std::fmt::{self, Display, Formatter};

use super::{EngineNumbers, LlmReport, SecondTurn};
use crate::table::table;

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn opt_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".into(), |v| format!("{v:.0} ms"))
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

fn row(name: &str, n: &EngineNumbers) -> Vec<String> {
    let tps = |v: f64| {
        if v > 0.0 {
            format!("{v:.1}")
        } else {
            "-".into()
        }
    };
    vec![
        name.into(),
        tps(n.prompt_tps),
        tps(n.gen_tps),
        opt_ms(n.ttft_ms),
        n.peak_rss_bytes.map_or_else(|| "-".into(), mib),
        opt_ms(n.load_ms),
    ]
}

fn ratio_row(name: &str, a: &EngineNumbers, b: &EngineNumbers) -> Vec<String> {
    let inverse = |x: Option<f64>, y: Option<f64>| match (x, y) {
        // Shorter is better for time, so the ratio is turned round to read like the rates.
        (Some(x), Some(y)) => ratio(y, x),
        _ => "-".into(),
    };
    let rss = match (a.peak_rss_bytes, b.peak_rss_bytes) {
        (Some(x), Some(y)) => ratio(x as f64, y as f64),
        _ => "-".into(),
    };
    vec![
        name.into(),
        ratio(a.prompt_tps, b.prompt_tps),
        ratio(a.gen_tps, b.gen_tps),
        inverse(a.ttft_ms, b.ttft_ms),
        rss,
        String::new(),
    ]
}

fn second_turn(f: &mut Formatter<'_>, name: &str, s: &SecondTurn) -> fmt::Result {
    writeln!(
        f,
        "  {:<22} {:>6} tokens: {:>7.0} ms with KV reuse ({} cached), {:>7.0} ms without ({} faster)",
        name,
        s.prompt_tokens,
        s.with_reuse_ms,
        s.cached_tokens,
        s.without_reuse_ms,
        ratio(s.without_reuse_ms, s.with_reuse_ms),
    )
}

impl Display for LlmReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let name = self
            .model_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        writeln!(
            f,
            "LLM benchmark: {name} ({} of weights), {} threads",
            mib(self.model_bytes),
            self.threads
        )?;
        writeln!(f)?;
        let mut t = table([
            "engine".to_string(),
            format!("pp{} tok/s", self.prompt_tokens),
            format!("tg{} tok/s", self.gen_tokens),
            "TTFT".into(),
            "peak RSS".into(),
            "load".into(),
        ]);
        let engines = [
            ("embedded (llama-cpp-2)", &self.embedded),
            ("llama-server", &self.llama_server),
            ("llama-bench", &self.llama_bench),
        ];
        for (name, numbers) in engines {
            if let Some(n) = numbers {
                t.add_row(row(name, n));
            }
        }
        if let Some(e) = &self.embedded {
            if let Some(s) = &self.llama_server {
                t.add_row(ratio_row("embedded / server", e, s));
            }
            if let Some(b) = &self.llama_bench {
                t.add_row(ratio_row("embedded / llama-bench", e, b));
            }
        }
        writeln!(f, "{t}")?;
        writeln!(f)?;
        if let Some(bw) = &self.bandwidth {
            let gb = |v: f64| v / 1e9;
            write!(
                f,
                "  memory bandwidth: read {:.1} GB/s, copy {:.1} GB/s",
                gb(bw.read_bytes_per_s),
                gb(bw.copy_bytes_per_s)
            )?;
            if let Some(bound) = self.gen_upper_bound_tps() {
                write!(f, "; generation upper bound {bound:.1} tok/s")?;
                if let Some(e) = &self.embedded {
                    write!(f, " (embedded reaches {:.0}%)", 100.0 * e.gen_tps / bound)?;
                }
            }
            writeln!(f)?;
        }
        if let Some(s) = &self.embedded_second_turn {
            second_turn(f, "second turn, embedded", s)?;
        }
        if let Some(s) = &self.llama_server_second_turn {
            second_turn(f, "second turn, server", s)?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Bandwidth;
    use super::*;

    #[test]
    fn table_shows_rows_ratios_and_bound() {
        let e = EngineNumbers {
            prompt_tps: 200.0,
            gen_tps: 25.0,
            ttft_ms: Some(2500.0),
            peak_rss_bytes: Some(600 << 20),
            load_ms: Some(500.0),
        };
        let s = EngineNumbers {
            prompt_tps: 250.0,
            gen_tps: 25.0,
            ttft_ms: Some(2000.0),
            ..e.clone()
        };
        let report = LlmReport {
            model_path: "/m/model.gguf".into(),
            model_bytes: 500_000_000,
            threads: 2,
            prompt_tokens: 512,
            gen_tokens: 128,
            embedded: Some(e),
            llama_server: Some(s),
            bandwidth: Some(Bandwidth {
                read_bytes_per_s: 20e9,
                copy_bytes_per_s: 10e9,
            }),
            embedded_second_turn: Some(SecondTurn {
                prompt_tokens: 1500,
                with_reuse_ms: 100.0,
                cached_tokens: 1480,
                without_reuse_ms: 6000.0,
            }),
            notes: vec!["llama-bench not found".into()],
            ..Default::default()
        };
        let table = report.to_string();
        assert!(table.contains("model.gguf"), "{table}");
        assert!(table.contains("embedded / server"), "{table}");
        assert!(table.contains("0.80x"), "{table}");
        assert!(table.contains("upper bound 40.0 tok/s"), "{table}");
        assert!(table.contains("60.00x faster"), "{table}");
        assert!(table.contains("note: llama-bench not found"), "{table}");
    }
}
