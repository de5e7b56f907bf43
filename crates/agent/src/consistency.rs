//! Opt-in self-consistency for tasks: several independent attempts, each in its own throwaway
//! session, and a majority vote over their computed answers.
//!
//! The rule, exactly:
//! 1. Attempt `i` (0-based) runs the whole task loop at the configured sampling temperature with
//!    seed `seed + i` (when a seed is set), in session `{session}-sc{i}`, deleted afterwards.
//! 2. An attempt votes for its `<solution>`, compared after [`normalize_answer`]. Attempts that
//!    end without a solution do not vote.
//! 3. Sampling stops early once one answer holds a strict majority of `samples` votes.
//! 4. The answer with the most votes wins; a tie goes to the answer whose first vote came first.
//!    With no votes at all, attempt 0 stands.
//! 5. The winner's events are replayed to the caller (attempts are not streamed live) and its
//!    messages become the conversation. The agent's own session holds none of the attempts'
//!    variables; the model is told so on the next run.

use std::collections::HashMap;

use codeact_protocol::{AgentEvent, EndReason};
use tokio::sync::mpsc;

use crate::config::{Mode, SelfConsistency};
use crate::run::{Runner, State};

/// An answer in a canonical form: trimmed, spaces collapsed, lower case, a trailing period
/// dropped, surrounding quotes dropped, and numbers written one way (`1,234.50` → `1234.5`,
/// `7.0` → `7`).
pub fn normalize_answer(answer: &str) -> String {
    let mut s: String = answer
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if s.ends_with('.') && !s.ends_with("..") {
        s.pop();
    }
    for q in ['"', '\'', '`'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            s = s[1..s.len() - 1].trim().to_string();
        }
    }
    normalize_number(&s).unwrap_or(s)
}

fn normalize_number(s: &str) -> Option<String> {
    let grouped = s.contains(',')
        && s.split('.').next().is_some_and(|int| {
            let parts: Vec<&str> = int.trim_start_matches('-').split(',').collect();
            parts.len() > 1
                && (1..=3).contains(&parts[0].len())
                && parts[1..].iter().all(|p| p.len() == 3)
                && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        });
    let plain = if grouped {
        s.replace(',', "")
    } else {
        s.to_string()
    };
    let v: f64 = plain.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return Some(format!("{}", v as i64));
    }
    // Nine significant digits absorb float noise such as 0.30000000000000004.
    let rounded: f64 = format!("{v:.9e}").parse().ok()?;
    Some(format!("{rounded}"))
}

/// The index of the winning answer among `answers` (one per attempt, `None` for no answer),
/// by the rule in the module documentation.
pub fn vote(answers: &[Option<String>]) -> Option<usize> {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, a) in answers.iter().enumerate() {
        if let Some(a) = a {
            let e = counts.entry(normalize_answer(a)).or_insert((0, i));
            e.0 += 1;
        }
    }
    counts
        .into_values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, first)| first)
}

fn has_majority(answers: &[Option<String>], samples: u32) -> bool {
    vote(answers).is_some_and(|w| {
        let win = answers[w].as_deref().map(normalize_answer);
        let n = answers
            .iter()
            .filter(|a| a.as_deref().map(normalize_answer) == win)
            .count();
        n * 2 > samples as usize
    })
}

/// Room in the turn count for each attempt, so that the images attempts save are named apart.
const TURNS_PER_ATTEMPT: u32 = 1000;

struct Attempt {
    events: Vec<AgentEvent>,
    end: EndReason,
    state: State,
}

/// Runs a task by majority vote over independent attempts.
pub(crate) async fn run_voting(
    main: &mut Runner<'_>,
    task: String,
    sc: &SelfConsistency,
) -> EndReason {
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut answers: Vec<Option<String>> = Vec::new();
    for i in 0..sc.samples {
        if main.cancel.is_cancelled() {
            return EndReason::Cancelled;
        }
        let mut conv = main.state.conv.clone();
        conv.session_id = format!("{}-sc{i}", main.state.conv.session_id);
        let mut state = State::new(conv, false);
        state.turns_total = main.state.turns_total + TURNS_PER_ATTEMPT * i;
        state.tools.clone_from(&main.state.tools);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let end = {
            let mut runner = Runner::new(main.ctx, &mut state, &tx, main.cancel);
            runner.temperature = sc.temperature;
            runner.seed = main.seed.map(|s| s.wrapping_add(u64::from(i)));
            runner.persist = false;
            runner.run(Mode::Task, task.clone()).await
        };
        drop(tx);
        let _ = main.ctx.exec.delete(&state.conv.session_id).await;
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        let answer = events.iter().find_map(|e| match e {
            AgentEvent::FinalAnswer { text } => Some(text.clone()),
            _ => None,
        });
        tracing::info!(attempt = i, answer = ?answer, end = ?end, "self-consistency attempt done");
        answers.push(answer);
        attempts.push(Attempt { events, end, state });
        if end == EndReason::Cancelled {
            break;
        }
        if has_majority(&answers, sc.samples) {
            break;
        }
    }
    let winner = vote(&answers).unwrap_or(0);
    tracing::info!(winner, votes = ?answers, "self-consistency vote");
    let Some(chosen) = attempts.into_iter().nth(winner) else {
        return EndReason::Error;
    };
    for e in chosen.events {
        main.emit(e);
    }
    main.state.conv.messages = chosen.state.conv.messages;
    main.state.conv.updated = chosen.state.conv.updated;
    main.state.turns_total = chosen.state.turns_total;
    main.state.tools = chosen.state.tools;
    main.state.pending_note = Some(crate::prompt::SELF_CONSISTENCY_NOTE.to_string());
    chosen.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_answer("  The   Answer. "), "the answer");
        assert_eq!(normalize_answer("1,234.50"), "1234.5");
        assert_eq!(normalize_answer("7.0"), "7");
        assert_eq!(normalize_answer("0.30000000000000004"), "0.3");
        assert_eq!(normalize_answer("'abc'"), "abc");
        assert_eq!(normalize_answer("1,2,3"), "1,2,3");
        assert_eq!(normalize_answer("-12"), "-12");
    }

    #[test]
    fn voting_rule() {
        let a = |s: &str| Some(s.to_string());
        assert_eq!(vote(&[a("1"), a("2"), a("2.0")]), Some(1));
        // A tie goes to the answer voted for first.
        assert_eq!(vote(&[None, a("x"), a("y"), a("y"), a("x")]), Some(1));
        assert_eq!(vote(&[None, None]), None);
        assert!(has_majority(&[a("5"), a("5"), a("5")], 5));
        assert!(!has_majority(&[a("5"), a("5"), a("4")], 5));
    }
}
