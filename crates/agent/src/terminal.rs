//! The agent's events as text for a terminal: a task's progress lines (`codeact run`) and the
//! chat's stream (`codeact chat`). String in, string out; ANSI colours only when asked for,
//! so the front end decides by whether it writes to a terminal.

use codeact_protocol::{AgentEvent, EndReason};

/// Renders [`AgentEvent`]s as text, painted with ANSI colours when `colour` is set.
#[derive(Debug, Clone, Copy)]
pub struct TerminalText {
    pub colour: bool,
}

impl TerminalText {
    pub fn new(colour: bool) -> Self {
        Self { colour }
    }

    /// `text` in the SGR colour `code` (e.g. `"2"` dim, `"31"` red), when colours are on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A task's progress line for stderr (`None`: the event is not shown).
    pub fn progress(&self, ev: &AgentEvent) -> Option<String> {
        match ev {
            AgentEvent::TurnStarted { turn } => Some(self.paint("2", &format!("── turn {turn}"))),
            AgentEvent::CodeAction { code, .. } => Some(self.paint("36", code.trim_end())),
            AgentEvent::Observation { text, images, .. } => {
                Some(self.paint("2", text.trim_end()) + &self.figures(images))
            }
            _ => self.common(ev),
        }
    }

    /// What the chat shows of an event on stdout, newlines included; replies stream as they
    /// come (`None`: the event is not shown).
    pub fn chat(&self, ev: &AgentEvent) -> Option<String> {
        match ev {
            AgentEvent::AssistantDelta { text } => Some(text.clone()),
            AgentEvent::AssistantMessage { .. } => Some("\n".into()),
            AgentEvent::Observation { text, images, .. } => {
                let out = self.paint("2", &format!("┌ output\n{}\n└", text.trim_end()));
                Some(out + &self.figures(images) + "\n")
            }
            AgentEvent::ReplyDiscarded { .. } => self.common(ev).map(|l| format!("\n{l}\n")),
            AgentEvent::End { reason } if *reason != EndReason::Reply => Some(format!(
                "{}\n",
                self.paint("2", &format!("[{}]", end_reason(reason)))
            )),
            _ => self.common(ev).map(|l| l + "\n"),
        }
    }

    /// The events both front ends show the same way (`None`: not shown).
    fn common(&self, ev: &AgentEvent) -> Option<String> {
        Some(match ev {
            AgentEvent::Feedback { text } => self.paint("35", text.trim_end()),
            AgentEvent::ReplyDiscarded { reason, .. } => self.paint("35", &format!("[{reason}]")),
            AgentEvent::Error { message, .. } => self.paint("31", &format!("error: {message}")),
            _ => return None,
        })
    }

    fn figures(&self, images: &[String]) -> String {
        let lines = images
            .iter()
            .map(|p| self.paint("33", &format!("figure saved: {p}")));
        lines.map(|l| format!("\n{l}")).collect()
    }
}

/// The reason's wire name (`max_turns`, `cancelled`, …).
pub fn end_reason(reason: &EndReason) -> String {
    // A unit variant always serialises, as a JSON string.
    let json = serde_json::to_string(reason).unwrap_or_default();
    json.trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeact_protocol::AgentErrorCode;

    #[test]
    fn events_render_plain_or_painted() {
        let plain = TerminalText::new(false);
        let turn = AgentEvent::TurnStarted { turn: 2 };
        assert_eq!(plain.progress(&turn).as_deref(), Some("── turn 2"));
        let painted = TerminalText::new(true).progress(&turn);
        assert_eq!(painted.as_deref(), Some("\x1b[2m── turn 2\x1b[0m"));
        let error = AgentEvent::Error {
            code: AgentErrorCode::Llm,
            message: "down".into(),
        };
        assert_eq!(plain.progress(&error).as_deref(), Some("error: down"));
        assert_eq!(plain.chat(&error).as_deref(), Some("error: down\n"));
        let end = |reason| AgentEvent::End { reason };
        assert_eq!(plain.chat(&end(EndReason::Reply)), None);
        let max = plain.chat(&end(EndReason::MaxTurns));
        assert_eq!(max.as_deref(), Some("[max_turns]\n"));
        assert_eq!(end_reason(&EndReason::ContextLength), "context_length");
    }
}
