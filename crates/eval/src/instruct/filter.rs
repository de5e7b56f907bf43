//! The original's quality filters (the pack's `FORMAT.md` §6.1–§6.2) as named steps over
//! released rows, each reporting how many rows it removed.

use std::collections::HashSet;

use regex::Regex;
use serde::Serialize;

use super::mint::{parse_action, Action};
use super::row::{Role, Row, RowId};

/// One filter step.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Keeps the first row of each (task, model, setting): the id without its file stem.
    Dedupe,
    /// Keeps rows with more than `n` assistant actions (the original keeps `n_turns > 2`,
    /// the "medium" tier; easier successes are not used).
    MoreActionsThan(usize),
    /// Drops rows whose id's task name matches (the original dropped StrategyQA).
    DropTasks(Regex),
    /// Drops rows where every action but the last was invalid.
    NotAllInvalid,
    /// Drops rows whose turns between the task and the final answer do not pair up into
    /// (action, observation).
    Paired,
    /// Drops rows in which every (action, observation) pair is a proposal or a code action
    /// whose observation contains `Error` (case-sensitive; rows that recover are kept).
    NotAllFailing,
}

impl Filter {
    /// The original's chain, in its order.
    pub fn original() -> Vec<Filter> {
        vec![
            Filter::Dedupe,
            Filter::MoreActionsThan(2),
            Filter::DropTasks(super::literal_regex("^strategyqa$")),
            Filter::NotAllInvalid,
            Filter::Paired,
            Filter::NotAllFailing,
        ]
    }

    /// The step's name in reports and on the command line.
    pub fn name(&self) -> String {
        match self {
            Filter::Dedupe => "dedupe".into(),
            Filter::MoreActionsThan(n) => format!("more-actions-than-{n}"),
            Filter::DropTasks(re) => format!("drop-tasks({re})"),
            Filter::NotAllInvalid => "not-all-invalid".into(),
            Filter::Paired => "paired".into(),
            Filter::NotAllFailing => "not-all-failing".into(),
        }
    }

    fn keeps(&self, row: &Row, seen: &mut HashSet<String>) -> bool {
        let actions: Vec<&str> = row.assistant_turns().map(|t| t.content.as_str()).collect();
        match self {
            Filter::Dedupe => {
                let key = match RowId::parse(&row.id) {
                    Some(id) => format!(
                        "{}/{}/{}/{}/{}",
                        id.task_type, id.task_name, id.task_id, id.model, id.exp_setting
                    ),
                    None => row.id.clone(),
                };
                seen.insert(key)
            }
            Filter::MoreActionsThan(n) => actions.len() > *n,
            Filter::DropTasks(re) => {
                !RowId::parse(&row.id).is_some_and(|id| re.is_match(&id.task_name))
            }
            Filter::NotAllInvalid => {
                let invalid = actions
                    .iter()
                    .filter(|a| parse_action(a) == Action::Invalid)
                    .count();
                actions.len().saturating_sub(1) != invalid
            }
            Filter::Paired => middle(row).len().is_multiple_of(2),
            Filter::NotAllFailing => {
                let mid = middle(row);
                !mid.chunks(2).all(|pair| {
                    let (act, obs) = (pair[0], pair.get(1).copied().unwrap_or(""));
                    act.contains("<solution>")
                        || (act.contains("<execute>") && obs.contains("Error"))
                })
            }
        }
    }
}

/// The turns after the task message and before the final answer, when the row has that shape.
fn middle(row: &Row) -> Vec<&str> {
    let c = &row.conversations;
    if c.len() < 3 || c.last().map(|t| t.role) != Some(Role::Assistant) {
        return Vec::new();
    }
    c[2..c.len() - 1]
        .iter()
        .map(|t| t.content.as_str())
        .collect()
}

/// How many rows one step removed.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub filter: String,
    pub before: usize,
    pub removed: usize,
}

/// Applies `filters` in order; returns the kept rows and one report per step.
pub fn apply(rows: Vec<Row>, filters: &[Filter]) -> (Vec<Row>, Vec<StepReport>) {
    let mut rows = rows;
    let mut reports = Vec::new();
    for f in filters {
        let before = rows.len();
        let mut seen = HashSet::new();
        rows.retain(|r| f.keeps(r, &mut seen));
        reports.push(StepReport {
            filter: f.name(),
            before,
            removed: before - rows.len(),
        });
    }
    (rows, reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruct::row::Turn;

    fn row(id: &str, turns: &[&str]) -> Row {
        let mut c = vec![
            Turn::new(Role::System, "s"),
            Turn::new(Role::User, "Task:\nt"),
        ];
        for (i, t) in turns.iter().enumerate() {
            let role = if i % 2 == 0 {
                Role::Assistant
            } else {
                Role::User
            };
            c.push(Turn::new(role, *t));
        }
        Row {
            id: id.into(),
            conversations: c,
        }
    }

    const ID: &str = "f/reasoning/algebra/1/m/max5_p2+tool+cd";

    #[test]
    fn the_original_chain() {
        let rows = vec![
            // 3 actions, recovers from an error: kept.
            row(
                ID,
                &[
                    "<execute>1/0</execute>",
                    "Observation:\nZeroDivisionError",
                    "<execute>1</execute>",
                    "Observation:\nOut[2]: 1",
                    "<solution>1</solution>",
                ],
            ),
            // the same task and model again: a duplicate.
            row(
                "g/reasoning/algebra/1/m/max5_p2+tool+cd",
                &["a", "b", "c", "d", "<solution>1</solution>"],
            ),
            // 2 actions: too easy.
            row(
                "f/reasoning/algebra/2/m/s",
                &[
                    "<execute>1</execute>",
                    "Observation:\n1",
                    "<solution>1</solution>",
                ],
            ),
            // StrategyQA.
            row(
                "f/reasoning/strategyqa/3/m/s",
                &[
                    "<execute>1</execute>",
                    "o",
                    "<execute>2</execute>",
                    "o",
                    "<solution>1</solution>",
                ],
            ),
            // every action but the last invalid.
            row(
                "f/reasoning/algebra/4/m/s",
                &["hm", "o", "hm", "o", "<solution>1</solution>"],
            ),
            // every pair a proposal or an error.
            row(
                "f/reasoning/algebra/5/m/s",
                &[
                    "<solution>2</solution>",
                    "Observation:\nYour answer is wrong.",
                    "<execute>x</execute>",
                    "Observation:\nNameError",
                    "<solution>1</solution>",
                ],
            ),
        ];
        let (kept, reports) = apply(rows, &Filter::original());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id, ID);
        let removed: Vec<usize> = reports.iter().map(|r| r.removed).collect();
        assert_eq!(removed, vec![1, 1, 1, 1, 0, 1]);
    }
}
