//! Keeps the prompt within the context budget: older execution outputs are shortened first,
//! then older turns are dropped, so a long session degrades instead of failing.

use codeact_protocol::{Message, Role};

use crate::config::ContextFit;
use crate::prompt::{EARLIER_OUTPUT_TRIMMED, EARLIER_TURNS_DROPPED, OUTPUT_HEADER};

/// The size of `messages` in characters, as counted against the budget.
fn total_size(messages: &[Message], tuning: &ContextFit) -> usize {
    messages
        .iter()
        .map(|m| m.content.chars().count() + tuning.message_overhead_chars)
        .sum()
}

/// A copy of `messages` that fits in `budget` characters where possible: execution outputs are
/// shortened, oldest first and except the last `tuning.keep_last_messages` messages; then whole
/// exchanges after the first user message are dropped. The system prompt and the first user
/// message are kept. The stored conversation is left whole.
pub fn fit(messages: &[Message], budget: usize, tuning: &ContextFit) -> Vec<Message> {
    let size = |m: &[Message]| total_size(m, tuning);
    let mut out = messages.to_vec();
    if size(&out) <= budget {
        return out;
    }
    let protected_tail = out.len().saturating_sub(tuning.keep_last_messages);
    // Oldest first: the model needs the latest output most.
    for i in 0..protected_tail {
        if size(&out) <= budget {
            return out;
        }
        let m = &mut out[i];
        if m.role == Role::User
            && m.content.starts_with(OUTPUT_HEADER)
            && m.content.len() > tuning.shorten_over_bytes
        {
            m.content = format!("{OUTPUT_HEADER}{EARLIER_OUTPUT_TRIMMED}");
            m.images.clear();
        }
    }
    let first_user = out.iter().position(|m| m.role == Role::User).unwrap_or(0);
    let mut dropped = false;
    while size(&out) > budget && out.len() > first_user + 3 {
        // Whole exchanges (two messages) go, so that roles keep alternating, as long as one
        // message after the first user message is left.
        out.drain(first_user + 1..first_user + 3);
        dropped = true;
    }
    if dropped {
        if let Some(m) = out.get_mut(first_user) {
            m.content = format!("{}\n\n{EARLIER_TURNS_DROPPED}", m.content);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(messages: &[Message], budget: usize) -> Vec<Message> {
        super::fit(messages, budget, &ContextFit::default())
    }

    fn size(messages: &[Message]) -> usize {
        total_size(messages, &ContextFit::default())
    }

    fn conv(n_obs: usize, obs_len: usize) -> Vec<Message> {
        let mut v = vec![Message::system("sys"), Message::user("task")];
        for i in 0..n_obs {
            v.push(Message::assistant(format!("<execute>print({i})</execute>")));
            v.push(Message::user(format!(
                "{OUTPUT_HEADER}{}",
                "x".repeat(obs_len)
            )));
        }
        v
    }

    #[test]
    fn small_conversations_are_untouched() {
        let c = conv(2, 10);
        assert_eq!(fit(&c, 10_000), c);
    }

    #[test]
    fn old_outputs_are_trimmed_first_and_the_last_is_kept() {
        let c = conv(4, 1000);
        let f = fit(&c, 2500);
        assert_eq!(f.len(), c.len());
        assert_eq!(
            f[3].content,
            format!("{OUTPUT_HEADER}{EARLIER_OUTPUT_TRIMMED}")
        );
        assert_eq!(f.last(), c.last());
        assert!(size(&f) <= 2500);
    }

    #[test]
    fn old_turns_are_dropped_when_trimming_is_not_enough() {
        let mut c = conv(0, 0);
        for i in 0..20 {
            c.push(Message::assistant(format!("{i} {}", "y".repeat(300))));
            c.push(Message::user(format!("{OUTPUT_HEADER}{i}")));
        }
        let f = fit(&c, 2000);
        assert!(size(&f) <= 2000);
        assert_eq!(f[0], c[0]);
        assert!(f[1].content.starts_with("task") && f[1].content.ends_with(EARLIER_TURNS_DROPPED));
        assert_eq!(f[2].role, Role::Assistant);
        assert_eq!(f.last(), c.last());
    }
}
