//! A conversation's messages form a tree; what is shown, and what the model sees, is one
//! branch of it: the path from the first message down to the head.

use std::collections::HashMap;

use super::MessageRow;

/// The messages from the root to `head`, oldest first, each with its `siblings` filled in
/// (the messages sharing its parent, oldest first) when it has any. An unknown head gives the
/// newest branch.
pub fn branch(all: &[MessageRow], head: Option<&str>) -> Vec<MessageRow> {
    let by_id: HashMap<&str, &MessageRow> =
        all.iter().map(|m| (m.message.id.as_str(), m)).collect();
    let head = head
        .filter(|h| by_id.contains_key(h))
        .map(str::to_string)
        .or_else(|| descend(all, None));
    let mut path = Vec::new();
    let mut at = head.as_deref();
    // A cycle cannot be stored through the API, but a bounded walk costs nothing.
    while let Some(id) = at {
        let Some(m) = by_id.get(id) else { break };
        if path.len() > all.len() {
            break;
        }
        path.push((*m).clone());
        at = m.message.parent_id.as_deref();
    }
    path.reverse();
    for m in &mut path {
        let siblings: Vec<String> = all
            .iter()
            .filter(|o| o.message.parent_id == m.message.parent_id)
            .map(|o| o.message.id.clone())
            .collect();
        if siblings.len() > 1 {
            m.message.siblings = siblings;
        }
    }
    path
}

/// The last message reached from `from` (or from the newest root) by always taking the newest
/// child: where a branch picked at `from` continues.
pub fn descend(all: &[MessageRow], from: Option<&str>) -> Option<String> {
    let newest_child = |parent: Option<&str>| {
        all.iter()
            .filter(|m| m.message.parent_id.as_deref() == parent)
            .max_by_key(|m| m.message.created_ms)
            .map(|m| m.message.id.clone())
    };
    let mut at = match from {
        Some(id) => all.iter().find(|m| m.message.id == id)?.message.id.clone(),
        None => newest_child(None)?,
    };
    for _ in 0..all.len() {
        match newest_child(Some(&at)) {
            Some(next) => at = next,
            None => break,
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use codeact_protocol::history::{Author, MessageStatus, StoredMessage};

    use super::*;

    fn row(id: &str, parent: Option<&str>, at: i64) -> MessageRow {
        MessageRow {
            message: StoredMessage {
                id: id.into(),
                parent_id: parent.map(Into::into),
                author: Author::User,
                content: id.into(),
                status: MessageStatus::Done,
                created_ms: at,
                steps: Vec::new(),
                siblings: Vec::new(),
            },
            transcript: Vec::new(),
        }
    }

    fn ids(rows: &[MessageRow]) -> Vec<&str> {
        rows.iter().map(|m| m.message.id.as_str()).collect()
    }

    #[test]
    fn a_branch_is_the_path_to_its_head_with_siblings_named() {
        // u1 ─ a1 ─ u2 ─ a2
        //          └ u2' ─ a2'   (an edit of u2)
        let all = vec![
            row("u1", None, 1),
            row("a1", Some("u1"), 2),
            row("u2", Some("a1"), 3),
            row("a2", Some("u2"), 4),
            row("u2'", Some("a1"), 5),
            row("a2'", Some("u2'"), 6),
        ];
        let old = branch(&all, Some("a2"));
        assert_eq!(ids(&old), ["u1", "a1", "u2", "a2"]);
        assert_eq!(old[2].message.siblings, ["u2", "u2'"]);
        assert!(old[3].message.siblings.is_empty());
        assert_eq!(ids(&branch(&all, None)), ["u1", "a1", "u2'", "a2'"]);
        assert_eq!(ids(&branch(&all, Some("gone"))), ["u1", "a1", "u2'", "a2'"]);
        assert_eq!(descend(&all, Some("u2")).as_deref(), Some("a2"));
        assert_eq!(descend(&all, Some("a1")).as_deref(), Some("a2'"));
        assert_eq!(descend(&all, Some("nope")), None);
        assert!(branch(&[], None).is_empty());
    }
}
