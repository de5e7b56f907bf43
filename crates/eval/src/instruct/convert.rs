//! From a generation history to a released row, as the original's notebook did it (the pack's
//! `FORMAT.md` §6.3).

use std::sync::LazyLock;

use regex::Regex;

use super::row::{Role, Row, Turn};
use super::strings;

/// A message of a generation history: the first is the generation prompt (user), then
/// assistant replies as kept (`Assistant:\n…`) and observations (user).
pub type HistoryMessage = codeact_protocol::Message;

/// Why a history cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("the history is empty")]
    Empty,
    #[error("the first message splits into {0} parts on the task separator, not 3")]
    FirstMessage(usize),
}

static THOUGHT: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"(?s)<thought>(.*?)</thought>"));

/// The notebook's clean-up of every message: strip, left-strip the *characters* of
/// `Assistant:` (as Python's `lstrip("Assistant:")`; a newline always follows the prefix, so
/// in practice it removes the prefix), strip again.
fn clean(text: &str) -> &str {
    text.trim()
        .trim_start_matches(|c| "Assistant:".contains(c))
        .trim()
}

/// An assistant message's content in a released row: thoughts unwrapped, and every
/// `Assistant:` (also with a full-width colon) deleted.
pub fn assistant_content(text: &str) -> String {
    let unwrapped = THOUGHT.replace_all(clean(text), |c: &regex::Captures<'_>| {
        c.get(1).map_or("", |m| m.as_str().trim()).to_string()
    });
    unwrapped
        .replace("Assistant:", "")
        .replace("Assistant：", "")
}

/// The system and task messages of a generation prompt: the in-context example is dropped
/// and the `<thought>` instruction removed.
pub fn first_turns(prompt: &str) -> Result<[Turn; 2], ConvertError> {
    let parts: Vec<&str> = clean(prompt).split(strings::FIRST_MESSAGE_SPLIT).collect();
    if parts.len() != 3 {
        return Err(ConvertError::FirstMessage(parts.len()));
    }
    let system = parts[0]
        .replace(
            strings::THOUGHT_SENTENCE,
            strings::THOUGHT_SENTENCE_RELEASED,
        )
        .trim()
        .to_string();
    let task = format!("{}{}", strings::TASK_PREFIX, parts[2].trim());
    Ok([Turn::new(Role::System, system), Turn::new(Role::User, task)])
}

/// The released row of a history, with id `id`.
pub fn to_row(id: String, history: &[HistoryMessage]) -> Result<Row, ConvertError> {
    let (first, rest) = history.split_first().ok_or(ConvertError::Empty)?;
    let mut conversations = first_turns(&first.content)?.to_vec();
    for m in rest {
        let content = match m.role {
            Role::Assistant => assistant_content(&m.content),
            _ => clean(&m.content).to_string(),
        };
        conversations.push(Turn::new(m.role, content));
    }
    Ok(Row { id, conversations })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thoughts_unwrap_and_prefixes_go() {
        assert_eq!(
            assistant_content(
                "Assistant:\n<thought> Let me think.\n </thought>\n<execute> x </execute>\n"
            ),
            "Let me think.\n<execute> x </execute>"
        );
        assert_eq!(
            assistant_content("Assistant:\nAnswer. Assistant： done"),
            "Answer.  done"
        );
    }

    #[test]
    fn first_message_needs_three_parts() {
        assert_eq!(
            first_turns("no separator").unwrap_err(),
            ConvertError::FirstMessage(1)
        );
    }
}
