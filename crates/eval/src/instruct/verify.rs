//! Replay-verify (`codeact data verify`): every code action of a row runs again, in order, in a
//! fresh sandboxed session set up as the original executor was (the MINT 30-second limit,
//! `Out[N]` numbering from 1), and what it prints, formatted as the original formatted it, is
//! compared with the recorded observation (the pack's `FORMAT.md` §8).

use std::sync::LazyLock;

use futures::StreamExt;
use regex::Regex;
use serde::Serialize;

use super::compare::{compare, diff, Comparison, Rule};
use super::mint::{captured_stdout, executor_body, observation, parse_action, Action, Feedback};
use super::row::{Role, Row};
use super::session::InstructSessions;
use super::strings::{MAX_PROPOSALS, MAX_STEPS};
use super::tasks::{InstructTask, TaskIndex};
use crate::EvalError;
use codeact_protocol::ExecStatus;

/// How one row's verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every replayed observation matched (exactly, or under the named rules).
    Ok,
    /// The observation after `turn` differs.
    Differs,
    /// The code at `turn` needs what is not here (live Wikipedia, the ALFWorld simulator, a
    /// table the row does not carry); the turns before it matched.
    Unverifiable,
    /// The row does not have a released row's shape (see `reason`): nothing to replay.
    Malformed,
}

/// The verdict on one row; `--json` prints one per line.
#[derive(Debug, Clone, Serialize)]
pub struct RowVerdict {
    pub id: String,
    pub ok: bool,
    /// The first assistant turn (0-based over the row's assistant messages) that did not
    /// verify; `None` when ok.
    pub turn: Option<usize>,
    /// Recorded (`-`) against replayed (`+`), for a differing turn.
    pub diff: Option<String>,
    pub status: Status,
    /// Why an unverifiable turn cannot be replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The tolerance rules any comparison needed.
    pub rules: Vec<Rule>,
    /// Code actions replayed.
    pub replayed: usize,
}

/// What the original's environments defined and a replay cannot have offline, with why: tools
/// (matched as calls, `name(`) and task objects (matched as names).
const UNAVAILABLE: &[(&str, bool, &str)] = &[
    (
        "wikipedia_search",
        true,
        "calls wikipedia_search (live Wikipedia)",
    ),
    ("goto", true, "drives the ALFWorld simulator"),
    ("take_from", true, "drives the ALFWorld simulator"),
    ("put", true, "drives the ALFWorld simulator"),
    ("open_receptacle", true, "drives the ALFWorld simulator"),
    ("close_receptacle", true, "drives the ALFWorld simulator"),
    ("toggle", true, "drives the ALFWorld simulator"),
    ("clean", true, "drives the ALFWorld simulator"),
    ("heat", true, "drives the ALFWorld simulator"),
    ("cool", true, "drives the ALFWorld simulator"),
    ("use", true, "drives the ALFWorld simulator"),
    ("look", true, "drives the ALFWorld simulator"),
    (
        "conn",
        false,
        "reads the task's table (`conn`), which the row does not carry",
    ),
    (
        "df",
        false,
        "reads the task's table (`df`), which the row does not carry",
    ),
];

static NAME: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"\b([A-Za-z_]\w*)\b(\s*\()?"));

static TOOL_ENTRY: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"(?m)^\[\d+\] ([A-Za-z_]\w*)\("));

/// What the row's environment provided, by its own messages: the tools its system message
/// lists (`[i] name(…`), and the table objects its task says are preloaded.
fn provided(row: &Row) -> Vec<String> {
    let mut names: Vec<String> = row
        .conversations
        .first()
        .filter(|t| t.role == Role::System)
        .map(|t| {
            TOOL_ENTRY
                .captures_iter(&t.content)
                .filter_map(|c| c.get(1))
                .map(|m| m.as_str().to_string())
                .collect()
        })
        .unwrap_or_default();
    let task = row.task_text().unwrap_or_default();
    for name in ["conn", "df"] {
        if task.contains(&format!("via the variable `{name}`")) {
            names.push(name.to_string());
        }
    }
    names
}

/// Why `code` cannot run here: the first thing it uses that the row's environment provided
/// (`provided`) and this session does not have (`available`). Code that uses a name its
/// environment never had is replayed: it failed then as it fails now.
fn missing_name(code: &str, provided: &[String], available: &[String]) -> Option<String> {
    let used: Vec<(&str, bool)> = NAME
        .captures_iter(code)
        .filter_map(|c| Some((c.get(1)?.as_str(), c.get(2).is_some())))
        .collect();
    provided
        .iter()
        .filter(|name| !available.contains(name))
        .find_map(|name| {
            // The table says how each is used (tables are read, tools called) and why it is
            // missing; any other listed tool is the user's.
            let known = UNAVAILABLE.iter().find(|(n, _, _)| n == name);
            let call = known.is_none_or(|(_, call, _)| *call);
            let uses = used.iter().any(|(u, called)| u == name && (*called || !call));
            (uses && !defines(code, name)).then(|| match known {
                Some((_, _, why)) => why.to_string(),
                None => format!(
                    "calls the tool {name}, which this session does not have (give its module with --tools)"
                ),
            })
        })
}

/// Whether the code itself binds `name` (`def put(`, `put = `, `for df in`), so that using it
/// needs nothing from the environment.
fn defines(code: &str, name: &str) -> bool {
    let re = format!(
        r"(\bdef\s+{name}\s*\()|(\b{name}\s*=[^=])|(\bfor\s+{name}\b)|(\bimport\s+.*\bas\s+{name}\b)"
    );
    Regex::new(&re).is_ok_and(|r| r.is_match(code))
}

/// Verifies one row in its own session.
pub async fn verify_row(
    env: &InstructSessions,
    row: &Row,
    task: Option<&InstructTask>,
) -> Result<RowVerdict, EvalError> {
    let session = env.open(task).await?;
    let result = replay(env, &session.id, &session.available, row).await;
    env.close(&session.id).await;
    result
}

async fn replay(
    env: &InstructSessions,
    session: &str,
    available: &[String],
    row: &Row,
) -> Result<RowVerdict, EvalError> {
    let mut verdict = RowVerdict {
        id: row.id.clone(),
        ok: true,
        turn: None,
        diff: None,
        status: Status::Ok,
        reason: None,
        rules: Vec::new(),
        replayed: 0,
    };
    let problems = super::row::shape_problems(row);
    if !problems.is_empty() {
        verdict.ok = false;
        verdict.status = Status::Malformed;
        verdict.reason = Some(problems.join("; "));
        return Ok(verdict);
    }
    let provided = provided(row);
    let c = &row.conversations;
    let (mut actions, mut proposals) = (0u32, 0u32);
    let mut assistant_index = 0;
    for (i, turn) in c.iter().enumerate() {
        if turn.role != Role::Assistant {
            continue;
        }
        let index = assistant_index;
        assistant_index += 1;
        actions += 1;
        let action = parse_action(&turn.content);
        if let Action::Propose(_) = action {
            proposals += 1;
        }
        // The last action of an episode has no recorded observation.
        let Some(recorded) = c.get(i + 1).filter(|t| t.role == Role::User) else {
            break;
        };
        let steps_left = MAX_STEPS.saturating_sub(actions);
        let chances_left = MAX_PROPOSALS.saturating_sub(proposals);
        // The replayed observation, and why it may honestly differ (a 30 s limit hit on one side).
        let (replayed, timeout) = match action {
            // A proposal followed by an observation was wrong (or empty); an invalid action
            // gets the help text: the protocol's own strings, compared like the rest.
            Action::Propose(answer) => {
                let feedback = if answer.is_empty() {
                    Feedback::Invalid
                } else {
                    Feedback::WrongAnswer
                };
                (observation(feedback, steps_left, chances_left), None)
            }
            Action::Invalid => (
                observation(Feedback::Invalid, steps_left, chances_left),
                None,
            ),
            Action::Execute(code) => {
                let why = missing_name(&code, &provided, available);
                if let Some(why) = why {
                    verdict.ok = false;
                    verdict.status = Status::Unverifiable;
                    verdict.turn = Some(index);
                    verdict.reason = Some(why);
                    return Ok(verdict);
                }
                let result = env.sessions.execute(session, &code).await?;
                verdict.replayed += 1;
                if result.status == ExecStatus::Restarted {
                    verdict.ok = false;
                    verdict.status = Status::Differs;
                    verdict.turn = Some(index);
                    verdict.reason = Some("the replayed code ended its own interpreter".into());
                    return Ok(verdict);
                }
                let body = executor_body(&captured_stdout(&result.outputs));
                let replayed = observation(Feedback::Output(&body), steps_left, chances_left);
                let timeout = timeout_reason(&recorded.content, &replayed, result.duration_ms);
                (replayed, timeout)
            }
        };
        if !settle(
            &mut verdict,
            index,
            &recorded.content,
            replayed.trim(),
            steps_left,
            chances_left,
        ) {
            verdict.reason = timeout;
            return Ok(verdict);
        }
    }
    Ok(verdict)
}

const TIMEOUT_LINE: &str = "TimeoutError: Timed out after 30 seconds.";

/// Why a differing observation may still be honest: the cell hit the protocol's 30-second
/// limit on one machine and not on the other (their speeds differ).
fn timeout_reason(recorded: &str, replayed: &str, replay_ms: f64) -> Option<String> {
    match (
        recorded.contains(TIMEOUT_LINE),
        replayed.contains(TIMEOUT_LINE),
    ) {
        (true, false) => Some(format!(
            "the generating machine hit the 30 s cell limit; here the cell finished in {:.1} s",
            replay_ms / 1e3
        )),
        (false, true) => {
            Some("here the cell hit the 30 s cell limit; the generating machine finished it".into())
        }
        _ => None,
    }
}

/// Compares one recorded observation with its replay and records the outcome; false when they
/// differ (the verdict then names the turn and carries the diff).
fn settle(
    verdict: &mut RowVerdict,
    index: usize,
    recorded: &str,
    replayed: &str,
    steps_left: u32,
    chances_left: u32,
) -> bool {
    let outcome = match split_countdown(recorded, steps_left, chances_left) {
        Some(recorded_body) => {
            let replayed_body =
                split_countdown(replayed, steps_left, chances_left).unwrap_or(replayed);
            compare(recorded_body, replayed_body)
        }
        // The count-down itself differs: the row is not what this protocol writes.
        None => Comparison::Differs,
    };
    match outcome {
        Comparison::Exact => true,
        Comparison::Tolerated(rules) => {
            for r in rules {
                if !verdict.rules.contains(&r) {
                    verdict.rules.push(r);
                }
            }
            true
        }
        Comparison::Differs => {
            verdict.ok = false;
            verdict.status = Status::Differs;
            verdict.turn = Some(index);
            verdict.diff = Some(diff(recorded, replayed));
            false
        }
    }
}

/// The observation without its count-down, when it ends with the one this position gets.
fn split_countdown(observation: &str, steps_left: u32, chances_left: u32) -> Option<&str> {
    let countdown = super::strings::countdown(steps_left, chances_left);
    observation
        .strip_suffix(countdown.trim_end())
        .map(|body| body.strip_suffix('\n').unwrap_or(body))
}

/// Verifies every row, `concurrency` at a time, calling `on_row` as each finishes; the
/// verdicts come back in the rows' order.
pub async fn verify_rows(
    env: &InstructSessions,
    rows: &[Row],
    tasks: &TaskIndex,
    concurrency: usize,
    on_row: &(dyn Fn(&RowVerdict) + Send + Sync),
) -> Result<Vec<RowVerdict>, EvalError> {
    let futures = rows.iter().map(|row| async move {
        verify_row(env, row, tasks.for_row(&row.id))
            .await
            .map_err(|e| EvalError::Run {
                run: row.id.clone(),
                error: Box::new(e),
            })
    });
    // `buffered` yields in the rows' order, so `on_row` sees them in that order too.
    let mut stream = futures::stream::iter(futures).buffered(concurrency.max(1));
    let mut verdicts = Vec::with_capacity(rows.len());
    while let Some(v) = stream.next().await {
        let v = v?;
        on_row(&v);
        verdicts.push(v);
    }
    Ok(verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_names() {
        let wiki = ["wikipedia_search".to_string()];
        let none: [String; 0] = [];
        assert!(missing_name("print(wikipedia_search('x'))", &wiki, &none).is_some());
        assert!(missing_name("print(wikipedia_search('x'))", &wiki, &wiki).is_none());
        // Never provided: it failed then as it fails now, so it is replayed.
        assert!(missing_name("print(wikipedia_search('x'))", &none, &none).is_none());
        let df = ["df".to_string()];
        assert!(missing_name("df = 3\nprint(df)", &df, &none).is_none());
        assert!(missing_name("print(df.head())", &df, &none).is_some());
        let alf = ["look".to_string()];
        assert!(missing_name("# we look at it\nx = 1", &alf, &none).is_none());
        assert!(missing_name("print(look())", &alf, &none)
            .unwrap()
            .contains("ALFWorld"));
        let mine = ["search_notes".to_string()];
        assert!(missing_name("search_notes('a')", &mine, &none)
            .unwrap()
            .contains("--tools"));
    }

    #[test]
    fn countdown_split() {
        assert_eq!(
            split_countdown(
                "Observation:\n7\nYou have 4 steps left and 2 chances to propose solution left.",
                4,
                2
            ),
            Some("Observation:\n7")
        );
        assert_eq!(
            split_countdown(
                "Observation:\n7\nYou have 3 steps left and 2 chances to propose solution left.",
                4,
                2
            ),
            None
        );
    }
}
