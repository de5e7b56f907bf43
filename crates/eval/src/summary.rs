//! The summary of an evaluation: success per group (a domain, an API) × action mode, with
//! pass@k when tasks were sampled several times; printed as a table and written as Markdown,
//! JSON and an SVG bar chart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codeact_bench::table::table;
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// One finished run, as the summary counts it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub group: String,
    pub mode: String,
    /// The task or sample, so that several samples of it count as one item for pass@k.
    pub item: String,
    pub correct: bool,
}

/// Success of one group in one mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Distinct tasks or samples.
    pub items: usize,
    pub runs: usize,
    pub correct_runs: usize,
    /// Expected success of one run: correct runs / runs, as a fraction.
    pub pass_at_1: f64,
    /// With `k` samples per item, the unbiased pass@k estimate (Chen et al., 2021).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_at_k: Option<f64>,
}

/// One row: a group and its cell per mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub group: String,
    pub cells: BTreeMap<String, Cell>,
}

/// Success by group and mode, and over all groups (the last row, `all`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub benchmark: String,
    pub model: String,
    pub modes: Vec<String>,
    /// Samples per item; pass@k is given for k = this when it is above 1.
    pub k: u32,
    pub rows: Vec<Row>,
    /// Lines shown under the table (what was excluded, corrections applied, …).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Summary {
    /// Counts `outcomes`; groups keep their first-seen order, modes the order given.
    pub fn new(
        benchmark: &str,
        model: &str,
        modes: &[String],
        k: u32,
        outcomes: &[Outcome],
    ) -> Self {
        let mut groups: Vec<String> = Vec::new();
        for o in outcomes {
            if !groups.contains(&o.group) {
                groups.push(o.group.clone());
            }
        }
        let mut rows: Vec<Row> = groups
            .iter()
            .map(|g| Row {
                group: g.clone(),
                cells: cells(modes, k, outcomes.iter().filter(|o| &o.group == g)),
            })
            .collect();
        if groups.len() != 1 {
            rows.push(Row {
                group: "all".into(),
                cells: cells(modes, k, outcomes.iter()),
            });
        }
        Self {
            benchmark: benchmark.into(),
            model: model.into(),
            modes: modes.to_vec(),
            k,
            rows,
            notes: Vec::new(),
        }
    }

    /// The table as Markdown: each cell `correct/runs (percent)`, and pass@k when sampled.
    pub fn markdown(&self) -> String {
        let mut header = vec!["group".to_string()];
        header.extend(self.modes.iter().cloned());
        let mut t = table(header);
        for row in &self.rows {
            let mut line = vec![row.group.clone()];
            for m in &self.modes {
                line.push(
                    row.cells
                        .get(m)
                        .map(|c| self.cell_text(c))
                        .unwrap_or_default(),
                );
            }
            t.add_row(line);
        }
        let mut s = format!("{} — {}\n\n{t}\n", self.benchmark, self.model);
        for n in &self.notes {
            s.push_str(&format!("\n{n}"));
        }
        if !self.notes.is_empty() {
            s.push('\n');
        }
        s
    }

    fn cell_text(&self, c: &Cell) -> String {
        if c.runs == 0 {
            return "–".into();
        }
        let mut s = format!(
            "{}/{} ({:.1}%)",
            c.correct_runs,
            c.runs,
            100.0 * c.pass_at_1
        );
        if let Some(p) = c.pass_at_k {
            s.push_str(&format!(" pass@{} {:.1}%", self.k, 100.0 * p));
        }
        s
    }

    /// Writes `<stem>.md`, `<stem>.json` and `<stem>.svg` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(), EvalError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |cause| EvalError::Write { path, cause }
        };
        let md = dir.join(format!("{stem}.md"));
        std::fs::write(&md, self.markdown()).map_err(io(&md))?;
        let json = dir.join(format!("{stem}.json"));
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(&json, text).map_err(io(&json))?;
        let svg = dir.join(format!("{stem}.svg"));
        std::fs::write(&svg, crate::chart::bars(self)).map_err(io(&svg))?;
        Ok(())
    }

    /// Reads a summary written by [`Summary::write`].
    pub fn read(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|cause| EvalError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        serde_json::from_str(&text).map_err(|cause| EvalError::Parse { line: 1, cause })
    }
}

/// The summaries of several results directories (`*-summary.json` files, written by
/// `codeact eval … --out DIR`) side by side, one column each, headed by the model and the
/// directory: [`compare`]'s table.
pub fn compare_dirs(dirs: &[PathBuf]) -> Result<String, EvalError> {
    let mut columns = Vec::new();
    for d in dirs {
        let entries = std::fs::read_dir(d).map_err(EvalError::file("reading", d))?;
        let mut summaries = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| EvalError::Task(e.to_string()))?.path();
            let is_summary = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-summary.json"));
            if is_summary {
                summaries.push(Summary::read(&path)?);
            }
        }
        summaries.sort_by(|a, b| a.benchmark.cmp(&b.benchmark));
        let Some(model) = summaries.first().map(|s| s.model.clone()) else {
            return Err(EvalError::Task(format!(
                "{} holds no *-summary.json",
                d.display()
            )));
        };
        columns.push((format!("{model} ({})", d.display()), summaries));
    }
    Ok(compare(&columns))
}

/// Several results directories side by side: one row per benchmark (a scoring of its own, such
/// as API-Bank's corrected one, counts as one), group and mode, each benchmark's "all" rows
/// last; one column per directory, headed by its label, as a Markdown table. Under it, a line
/// for each benchmark whose columns summarise different selections (`--filter`).
pub fn compare(columns: &[(String, Vec<Summary>)]) -> String {
    let mut header = vec!["benchmark".to_string(), "group".into(), "mode".into()];
    header.extend(columns.iter().map(|(label, _)| label.clone()));
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for s in columns.iter().flat_map(|(_, summaries)| summaries) {
        for row in &s.rows {
            for m in &s.modes {
                let key = (s.benchmark.clone(), row.group.clone(), m.clone());
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    let benches: Vec<String> = keys.iter().fold(Vec::new(), |mut seen, (b, _, _)| {
        if !seen.contains(b) {
            seen.push(b.clone());
        }
        seen
    });
    // Stable: groups and modes keep their order, "all" moves below every group.
    keys.sort_by_key(|(b, g, _)| (benches.iter().position(|x| x == b), g == "all"));
    let mut t = table(header);
    for (bench, group, mode) in &keys {
        let mut line = vec![bench.clone(), group.clone(), mode.clone()];
        for (_, summaries) in columns {
            let text = summaries
                .iter()
                .filter(|s| &s.benchmark == bench)
                .find_map(|s| {
                    let row = s.rows.iter().find(|r| &r.group == group)?;
                    row.cells.get(mode).map(|c| s.cell_text(c))
                });
            line.push(text.unwrap_or_else(|| "–".into()));
        }
        t.add_row(line);
    }
    let mut out = format!("{t}\n");
    for bench in &benches {
        let selections: Vec<(&str, &str)> = columns
            .iter()
            .filter_map(|(label, summaries)| {
                let s = summaries.iter().find(|s| &s.benchmark == bench)?;
                // "Selection: 8 tasks matching "^m"; the results file may hold more."
                let selection = s.notes.iter().find_map(|n| {
                    let rest = n.strip_prefix("Selection: ")?;
                    rest.split(';').next().map(|x| x.trim_end_matches('.'))
                });
                Some((label.as_str(), selection.unwrap_or("everything")))
            })
            .collect();
        if selections.windows(2).any(|w| w[0].1 != w[1].1) {
            let each: Vec<String> = selections
                .iter()
                .map(|(label, selection)| format!("{label}: {selection}"))
                .collect();
            out.push_str(&format!(
                "\n{bench}: the columns summarise different selections ({}).\n",
                each.join("; ")
            ));
        }
    }
    out
}

fn cells<'a>(
    modes: &[String],
    k: u32,
    outcomes: impl Iterator<Item = &'a Outcome> + Clone,
) -> BTreeMap<String, Cell> {
    modes
        .iter()
        .map(|m| {
            let mut per_item: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            for o in outcomes.clone().filter(|o| &o.mode == m) {
                let e = per_item.entry(&o.item).or_default();
                e.0 += 1;
                e.1 += usize::from(o.correct);
            }
            let runs: usize = per_item.values().map(|v| v.0).sum();
            let correct_runs: usize = per_item.values().map(|v| v.1).sum();
            let pass_at_k = (k > 1 && !per_item.is_empty()).then(|| {
                per_item
                    .values()
                    .map(|&(n, c)| pass_at_k(n, c, k as usize))
                    .sum::<f64>()
                    / per_item.len() as f64
            });
            let cell = Cell {
                items: per_item.len(),
                runs,
                correct_runs,
                pass_at_1: if runs == 0 {
                    0.0
                } else {
                    correct_runs as f64 / runs as f64
                },
                pass_at_k,
            };
            (m.clone(), cell)
        })
        .collect()
}

/// 1 - C(n-c, k) / C(n, k): the chance that at least one of k runs drawn from n is correct.
/// With fewer than k runs, whether any run was correct.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if n < k {
        return f64::from(u8::from(c > 0));
    }
    if n - c < k {
        return 1.0;
    }
    let mut fail = 1.0;
    for i in (n - c + 1)..=n {
        fail *= 1.0 - k as f64 / i as f64;
    }
    1.0 - fail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(group: &str, mode: &str, item: &str, correct: bool) -> Outcome {
        Outcome {
            group: group.into(),
            mode: mode.into(),
            item: item.into(),
            correct,
        }
    }

    #[test]
    fn compare_puts_all_last_and_flags_different_selections() {
        let modes = vec!["code".to_string()];
        let narrow = Summary {
            notes: vec!["Selection: 1 task matching \"^d1/\".".into()],
            ..Summary::new("b", "m1", &modes, 1, &[o("d1", "code", "t1", true)])
        };
        let wide = Summary::new(
            "b",
            "m2",
            &modes,
            1,
            &[o("d1", "code", "t1", true), o("d2", "code", "t2", false)],
        );
        let table = compare(&[
            ("m1".into(), vec![narrow]),
            ("m2".into(), vec![wide.clone()]),
        ]);
        let rows: Vec<&str> = table.lines().filter(|l| l.contains("| b ")).collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert!(rows[2].contains("all"), "{table}");
        assert!(
            table.contains(
                "b: the columns summarise different selections (m1: 1 task matching \"^d1/\"; m2: everything)"
            ),
            "{table}"
        );
        let same = compare(&[("x".into(), vec![wide.clone()]), ("y".into(), vec![wide])]);
        assert!(!same.contains("different selections"), "{same}");
    }

    #[test]
    fn pass_at_k_matches_the_estimator() {
        assert_eq!(pass_at_k(5, 0, 1), 0.0);
        assert_eq!(pass_at_k(5, 5, 3), 1.0);
        assert!((pass_at_k(5, 1, 1) - 0.2).abs() < 1e-12);
        // 1 - C(3,2)/C(5,2) = 1 - 3/10
        assert!((pass_at_k(5, 2, 2) - 0.7).abs() < 1e-12);
    }

    #[test]
    fn groups_modes_and_the_total() {
        let modes = vec!["code".to_string(), "json".to_string()];
        let s = Summary::new(
            "b",
            "m",
            &modes,
            1,
            &[
                o("d1", "code", "t1", true),
                o("d1", "json", "t1", false),
                o("d2", "code", "t2", true),
                o("d2", "code", "t3", false),
            ],
        );
        assert_eq!(s.rows.len(), 3);
        assert_eq!(s.rows[2].group, "all");
        let all = &s.rows[2].cells["code"];
        assert_eq!((all.runs, all.correct_runs), (3, 2));
        assert_eq!(s.rows[1].cells["json"].runs, 0);
        let md = s.markdown();
        assert!(md.contains("2/3 (66.7%)"), "{md}");
        assert!(md.contains("–"), "{md}");
    }
}
