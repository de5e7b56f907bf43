//! Statistics of a set of rows, laid out like the dataset card's table (the pack's
//! `FORMAT.md` §3): per task type and source, instances, turns, code actions, observations with
//! errors and tokens (counted on the ChatML rendering, each row clipped, as the paper did).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::export::chatml;
use super::mint::{parse_action, Action};
use super::row::{Role, Row, RowId};

/// Numbers of one group of rows (or of all of them).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    pub task_type: String,
    pub source: String,
    pub rows: usize,
    /// Assistant turns.
    pub turns: usize,
    pub code_actions: usize,
    pub proposals: usize,
    pub invalid_actions: usize,
    /// Observations of code actions that show an exception ([`is_error_observation`]).
    pub error_observations: usize,
    pub truncated_observations: usize,
    /// Tokens of the rows' ChatML text, each clipped; `None` without a tokenizer.
    pub tokens: Option<usize>,
}

impl Group {
    pub fn avg_turns(&self) -> f64 {
        ratio(self.turns, self.rows)
    }

    pub fn avg_tokens(&self) -> Option<f64> {
        self.tokens.map(|t| ratio(t, self.rows))
    }

    fn add(&mut self, other: &Group) {
        self.rows += other.rows;
        self.turns += other.turns;
        self.code_actions += other.code_actions;
        self.proposals += other.proposals;
        self.invalid_actions += other.invalid_actions;
        self.error_observations += other.error_observations;
        self.truncated_observations += other.truncated_observations;
        self.tokens = match (self.tokens, other.tokens) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The statistics of a set of rows.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub groups: Vec<Group>,
    pub total: Group,
    /// Tokens are clipped per row at this many, as the card's figures are (4,096).
    pub clip: Option<usize>,
    /// Assistant turns per row, and tokens per row: the histograms' data.
    pub turns_per_row: Vec<usize>,
    pub tokens_per_row: Vec<usize>,
}

static EXCEPTION_LINE: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"(?m)^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b"));

/// Whether an observation shows an exception: a traceback, or a line that starts with an
/// exception's name (`NameError: …`, `OperationalError                Traceback …`).
pub fn is_error_observation(text: &str) -> bool {
    text.contains("Traceback (most recent call last)") || EXCEPTION_LINE.is_match(text)
}

/// Computes the statistics; `count_tokens` counts the tokens of a text (a GGUF tokenizer),
/// `clip` caps each row's count.
pub fn compute(
    rows: &[Row],
    count_tokens: Option<&(dyn Fn(&str) -> usize + Sync)>,
    clip: Option<usize>,
) -> Stats {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut turns_per_row = Vec::new();
    let mut tokens_per_row = Vec::new();
    for row in rows {
        let (task_type, source) = match RowId::parse(&row.id) {
            Some(id) => (id.task_type, id.task_name),
            None => ("unknown".into(), "unknown".into()),
        };
        let mut g = Group {
            rows: 1,
            tokens: count_tokens.map(|count| {
                let n = count(&chatml(row));
                let n = clip.map_or(n, |c| n.min(c));
                tokens_per_row.push(n);
                n
            }),
            ..Group::default()
        };
        let c = &row.conversations;
        for (i, t) in c.iter().enumerate() {
            if t.role != Role::Assistant {
                continue;
            }
            g.turns += 1;
            let next = c.get(i + 1).filter(|n| n.role == Role::User);
            match parse_action(&t.content) {
                Action::Propose(_) => g.proposals += 1,
                Action::Invalid => g.invalid_actions += 1,
                Action::Execute(_) => {
                    g.code_actions += 1;
                    if let Some(obs) = next {
                        g.error_observations += usize::from(is_error_observation(&obs.content));
                        g.truncated_observations +=
                            usize::from(obs.content.contains("[Output Truncated]"));
                    }
                }
            }
        }
        turns_per_row.push(g.turns);
        groups
            .entry((task_type.clone(), source.clone()))
            .or_insert_with(|| Group {
                task_type,
                source,
                tokens: count_tokens.map(|_| 0),
                ..Group::default()
            })
            .add(&g);
    }
    let mut total = Group {
        task_type: "total".into(),
        source: String::new(),
        tokens: count_tokens.map(|_| 0),
        ..Group::default()
    };
    for g in groups.values() {
        total.add(g);
    }
    Stats {
        groups: groups.into_values().collect(),
        total,
        clip,
        turns_per_row,
        tokens_per_row,
    }
}

impl Stats {
    /// The card's table as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| task type | source | instances | avg turns | code actions | proposals | invalid actions | error observations | truncated | total tokens | avg tokens |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let fmt_tokens = |g: &Group| match (g.tokens, g.avg_tokens()) {
            (Some(t), Some(a)) => (t.to_string(), format!("{a:.2}")),
            _ => ("–".into(), "–".into()),
        };
        for g in self.groups.iter().chain(std::iter::once(&self.total)) {
            let (t, a) = fmt_tokens(g);
            let name = |s: &str| {
                if g.task_type == "total" {
                    format!("**{s}**")
                } else {
                    s.to_string()
                }
            };
            s += &format!(
                "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} |\n",
                name(&g.task_type),
                g.source,
                name(&g.rows.to_string()),
                g.avg_turns(),
                g.code_actions,
                g.proposals,
                g.invalid_actions,
                g.error_observations,
                g.truncated_observations,
                t,
                a
            );
        }
        if let Some(c) = self.clip {
            s += &format!("\nTokens: the ChatML rendering of each row, clipped at {c}.\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_observations() {
        assert!(is_error_observation("Observation:\n---\nOperationalError                          Traceback (most recent call last)"));
        assert!(is_error_observation(
            "Observation:\nNameError: name 'x' is not defined"
        ));
        assert!(!is_error_observation(
            "Observation:\nOut[1]: 'Errors are fine in text'"
        ));
    }
}
