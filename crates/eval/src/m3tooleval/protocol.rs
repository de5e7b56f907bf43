//! The parts of M³ToolEval's protocol that are text handling: the prompt of each action mode,
//! the post-processing of a reply, `Action:`/`Answer:` parsing and the feedback strings. Every
//! string the model sees is reproduced byte for byte from the benchmark's protocol (the pack's
//! `PROTOCOL.md` §1, §3, §4, §6; the prompts are snapshot-tested against its
//! `prompts_rendered.json`).

use serde::{Deserialize, Serialize};

use super::data::{M3Task, ToolSpec};

/// How the model invokes tools: the three action formats the paper compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ActionMode {
    /// A block of Python that calls the tools (CodeAct).
    #[serde(rename = "code_as_action")]
    Code,
    /// A JSON object `{"tool": ..., "args": [...]}`.
    #[serde(rename = "json_as_action")]
    Json,
    /// The tool name and its arguments, separated by commas.
    #[serde(rename = "text_as_action")]
    Text,
}

impl ActionMode {
    pub const ALL: [ActionMode; 3] = [ActionMode::Code, ActionMode::Json, ActionMode::Text];

    /// The benchmark's name for the mode, as in its result files (`code_as_action`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionMode::Code => "code_as_action",
            ActionMode::Json => "json_as_action",
            ActionMode::Text => "text_as_action",
        }
    }

    /// The short name used on the command line (`code`, `json`, `text`).
    pub fn short(self) -> &'static str {
        match self {
            ActionMode::Code => "code",
            ActionMode::Json => "json",
            ActionMode::Text => "text",
        }
    }

    fn instructions(self) -> &'static str {
        match self {
            ActionMode::Text => concat!(
                "You can use the tools by outputing the tool name followed by its arguments, delimited by commas.\n",
                "You should begin your tool invocation with 'Action:' and end it with 'End Action'.\n",
                "Example: 'Action: tool_name, argument_1 End Action'\n",
                "You can only invoke one tool at a time.\n",
            ),
            ActionMode::Json => concat!(
                "You can use the tools by outputing a JSON object with the following fields:\n",
                "  - 'tool': the name of the tool\n",
                "  - 'args': a list of arguments to the tool\n",
                "You should begin your tool invocation with 'Action:' and end it with 'End Action'.\n",
                "Example: 'Action: {\"tool\": \"tool_name\", \"args\": [\"argument_1\"]} End Action'\n",
                "You can only invoke one tool at a time.\n",
            ),
            ActionMode::Code => concat!(
                "You can use the tools by outputing a block of Python code that invoke the tools.\n",
                "You may use for-loops, if-statements, and other Python constructs when necessary.\n",
                "Be sure to print the final answer at the end of your code.\n",
                "You should begin your tool invocation with 'Action:' and end it with 'End Action'.\n",
                "Example: 'Action:\ntool_name(argument_1)\nEnd Action'\n",
            ),
        }
    }
}

impl std::fmt::Display for ActionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one user message that starts a task (there is no system message).
pub fn prompt(task: &M3Task, tools: &[&ToolSpec], mode: ActionMode) -> String {
    let mut p = String::from("You have access to the following tools:\n");
    for (i, tool) in tools.iter().enumerate() {
        p.push_str(&format!(
            "[{}] {}: {}\n    Signature: {}\n",
            i + 1,
            tool.name,
            tool.description,
            tool.signature
        ));
    }
    p.push('\n');
    p.push_str(mode.instructions());
    p.push_str("\nNow, let's get started!\n\nInstruction: ");
    p.push_str(&task.instruction);
    p.push_str(concat!(
        "\nYou can optionally express your thoughts using natural language before your action. ",
        "For example, 'Thought: I want to use tool_name to do something. ",
        "Action: <your action to call tool_name> End Action'.",
        "\nNote that your output should always contain either 'Action:' or 'Answer:', but not both.",
        "\nWhen you are done, output the result using 'Answer: your answer'",
        "\nPlease ONLY output the answer (e.g., single number), without any other text.",
    ));
    p
}

/// The user message after a wrong answer.
pub const INCORRECT_ANSWER: &str = "Your answer is incorrect. Please try again. Note that you should ONLY output the answer (e.g., single number), without any other text.";
/// The feedback to a reply with both markers.
pub const BOTH_MARKERS: &str =
    "Invalid generation. Your output should contain either 'Action:' or 'Answer:', but not both.";
/// The feedback to a reply with neither marker.
pub const NO_MARKER: &str =
    "Invalid generation. Your output should contain either 'Action:' or 'Answer:'";
const SEVERAL_ANSWERS: &str =
    "You have output more than one answer. Only the first answer will be used.";
const SEVERAL_ACTIONS: &str =
    "You have output more than one action. Only the first action will be used.";

/// What a post-processed reply asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An answer to check; `extra` is a reminder for the next user message.
    Answer {
        text: String,
        extra: Option<&'static str>,
    },
    /// An action to execute in the reply's mode.
    Action {
        text: String,
        extra: Option<&'static str>,
    },
    /// Neither, or both: the feedback is the next user message.
    Invalid { feedback: &'static str },
}

/// Appends the extra reminder of a parse to the next user message.
pub fn with_reminder(message: &str, extra: Option<&str>) -> String {
    match extra {
        Some(e) => format!("{message}\n*Extra reminder: {e}"),
        None => message.to_string(),
    }
}

/// Python's `str.isspace`, which is Unicode White_Space plus the four ASCII separators.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

fn lstrip(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}

/// The reply as the benchmark stores it (§3): leading whitespace gone, and everything from the
/// second `Action:`/`Answer:` on cut, then the first action cut after its `End Action` and
/// before a following `Thought:`.
pub fn post_process(reply: &str) -> String {
    let reply = lstrip(reply);
    let markers = marker_positions(reply);
    if markers.len() <= 1 {
        return reply.to_string();
    }
    let mut out = strip(&reply[..markers[1]]).to_string();
    if let Some(start) = out.find("Action:").map(|i| i + "Action:".len()) {
        if let Some(end) = out[start..].find("End Action") {
            out.truncate(start + end + "End Action".len());
        }
        if let Some(thought) = out[start..].find("Thought:") {
            out = strip(&out[..start + thought]).to_string();
        }
    }
    out
}

/// Byte offsets of every `Answer:` or `Action:`, left to right.
fn marker_positions(s: &str) -> Vec<usize> {
    let mut found: Vec<usize> = s
        .match_indices("Answer:")
        .chain(s.match_indices("Action:"))
        .map(|(i, _)| i)
        .collect();
    found.sort_unstable();
    found
}

/// Reads a post-processed reply (§4).
pub fn parse(reply: &str) -> Parsed {
    let has_answer = reply.contains("Answer:");
    let has_action = reply.contains("Action:");
    match (has_answer, has_action) {
        (true, true) => Parsed::Invalid {
            feedback: BOTH_MARKERS,
        },
        (true, false) => {
            let (text, several) = first_section(reply, "Answer:");
            Parsed::Answer {
                text: strip(text).to_string(),
                extra: several.then_some(SEVERAL_ANSWERS),
            }
        }
        (false, true) => {
            let (text, several) = first_section(reply, "Action:");
            let text = lstrip(text);
            let text = text.find("End Action").map_or(text, |i| &text[..i]);
            Parsed::Action {
                text: text.to_string(),
                extra: several.then_some(SEVERAL_ACTIONS),
            }
        }
        (false, false) => Parsed::Invalid {
            feedback: NO_MARKER,
        },
    }
}

/// The text after the first `marker`, up to a second one if any, and whether there was one.
fn first_section<'a>(reply: &'a str, marker: &str) -> (&'a str, bool) {
    let mut parts = reply.split(marker).skip(1);
    let first = parts.next().unwrap_or("");
    (first, parts.next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_marker_is_kept_as_is() {
        assert_eq!(post_process("  Answer: 42 \n"), "Answer: 42 \n");
        assert_eq!(post_process("no marker"), "no marker");
    }

    #[test]
    fn a_second_marker_and_what_follows_are_cut() {
        let r = "Thought: go\nAction: f(1) End Action\nObservation: 2\nAnswer: 2";
        assert_eq!(post_process(r), "Thought: go\nAction: f(1) End Action");
        let r = "Action: f(1)\nThought: next\nAction: g()";
        assert_eq!(post_process(r), "Action: f(1)");
        let r = "Answer: 1\nAnswer: 2";
        assert_eq!(post_process(r), "Answer: 1");
    }

    #[test]
    fn answers_and_actions_are_read() {
        assert_eq!(
            parse("Thought: done\nAnswer:  7 \n"),
            Parsed::Answer {
                text: "7".into(),
                extra: None
            }
        );
        assert_eq!(
            parse("Answer: 7 Answer: 8"),
            Parsed::Answer {
                text: "7".into(),
                extra: Some(SEVERAL_ANSWERS)
            }
        );
        assert_eq!(
            parse("Action:\n  f(1)\nEnd Action trailing"),
            Parsed::Action {
                text: "f(1)\n".into(),
                extra: None
            }
        );
        assert_eq!(
            parse("Action: a End Action Action: b"),
            Parsed::Action {
                text: "a ".into(),
                extra: Some(SEVERAL_ACTIONS)
            }
        );
        assert_eq!(
            parse("Action: x Answer: y"),
            Parsed::Invalid {
                feedback: BOTH_MARKERS
            }
        );
        assert_eq!(
            parse("hello"),
            Parsed::Invalid {
                feedback: NO_MARKER
            }
        );
    }

    #[test]
    fn reminders_follow_the_message() {
        assert_eq!(
            with_reminder("5", Some(SEVERAL_ACTIONS)),
            format!("5\n*Extra reminder: {SEVERAL_ACTIONS}")
        );
        assert_eq!(with_reminder("5", None), "5");
    }

    #[test]
    fn python_whitespace_includes_the_separators() {
        assert_eq!(strip("\u{1f} a \u{1c}"), "a");
    }
}
