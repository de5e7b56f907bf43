//! The MINT interaction protocol CodeActInstruct was generated with (the pack's `FORMAT.md`
//! §5): the first message, reading a reply as an action, the executor's output as the
//! original captured it, and the observation with its count-down.

use std::sync::LazyLock;

use codeact_protocol::{Output, StreamName};
use regex::Regex;

use super::strings::{self, EMPTY_OUTPUT, TRUNCATE_AT_CHARS, TRUNCATION_SUFFIX};

/// The task families of the original, each with its in-context example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// HotpotQA, MATH, StrategyQA (and our math and QA tasks).
    Reasoning,
    /// WikiTableQuestions, SQL and pandas (and our table tasks).
    Tabular,
    /// APPS (and our code tasks).
    Apps,
    /// ALFWorld, by the game's name (its prefix picks the example).
    Alfworld,
}

impl Family {
    /// The in-context example; for ALFWorld the one of the game named `game` (the task id), or
    /// `None` when no prefix matches.
    pub fn example(self, game: &str) -> Option<&'static str> {
        match self {
            Family::Reasoning => Some(strings::EXAMPLE_REASONING),
            Family::Tabular => Some(strings::EXAMPLE_TABULAR),
            Family::Apps => Some(strings::EXAMPLE_APPS),
            Family::Alfworld => strings::EXAMPLES_ALFWORLD
                .iter()
                .find(|(prefix, _)| game.starts_with(prefix))
                .map(|(_, text)| *text),
        }
    }
}

/// The family and the rendered `{tool_desc}` block of one of the original's task names
/// (§1.3, §5.2): HotpotQA, StrategyQA and MATH had `wikipedia_search`, ALFWorld its action
/// functions, APPS and WikiTableQuestions no tools. `None` for a name the original did not have.
pub fn original_setup(task_name: &str) -> Option<(Family, &'static str)> {
    const MATH: &[&str] = &[
        "algebra",
        "counting_and_probability",
        "geometry",
        "intermediate_algebra",
        "number_theory",
        "prealgebra",
        "precalculus",
    ];
    Some(match task_name {
        "hotpotqa" | "strategyqa" => (Family::Reasoning, strings::TOOL_DESC_WIKIPEDIA),
        n if MATH.contains(&n) => (Family::Reasoning, strings::TOOL_DESC_WIKIPEDIA),
        "alfworld" => (Family::Alfworld, strings::TOOL_DESC_ALFWORLD),
        "APPS" => (Family::Apps, ""),
        "wiki_table_questions" => (Family::Tabular, ""),
        _ => return None,
    })
}

/// The `{tool_desc}` block of `entries` (each `[i] signature\ndescription\n` already
/// numbered), or `""` without tools (§5.2).
pub fn tool_desc(entries: &[String]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut s = strings::TOOL_DESC_HEADER.to_string();
    for e in entries {
        s.push_str(e);
    }
    s
}

/// One tool's entry: `[i] {signature}\n{description}\n`, `i` from 1.
pub fn tool_entry(i: usize, signature: &str, description: &str) -> String {
    format!("[{i}] {signature}\n{description}\n")
}

/// The generation-time first (user) message: the template filled in (§5.2). It ends with
/// `\n`, as the template does.
pub fn first_message(task_text: &str, tool_desc: &str, in_context_example: &str) -> String {
    let task_prompt = format!("{}{}", strings::TASK_PREFIX, task_text);
    let steps = strings::MAX_STEPS.to_string();
    let proposals = strings::MAX_PROPOSALS.to_string();
    let fields = [
        ("max_total_steps", steps.as_str()),
        ("max_propose_solution", proposals.as_str()),
        ("tool_desc", tool_desc),
        ("in_context_example", in_context_example),
        ("task_prompt", task_prompt.as_str()),
    ];
    // One pass over the template, as str.format does: braces inside the values stay.
    let mut out = String::new();
    let mut rest = strings::TEMPLATE;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            fields
                .iter()
                .find(|(k, _)| *k == &after[..close])
                .map(|f| (close, f.1))
        }) {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a reply asks for (§5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The reply contains `<solution>`: the joined contents of its `<solution>` blocks, which
    /// may be empty (then the observation is the help text, and it still counts as a proposal).
    Propose(String),
    /// The joined code of its `<execute>` blocks.
    Execute(String),
    /// Neither: the help text is the observation.
    Invalid,
}

static EXECUTE: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"(?s)<execute>(.*?)</execute>"));
static SOLUTION: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"(?s)<solution>(.*?)</solution>"));

/// The contents of every block matched by `re`, each stripped, joined with `\n`.
fn blocks(re: &Regex, reply: &str) -> String {
    let wrapped = format!("\n{reply}\n");
    let parts: Vec<&str> = re
        .captures_iter(&wrapped)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str().trim())
        .collect();
    parts.join("\n").trim().to_string()
}

/// Reads a reply as the original did: any `<solution>` makes it a proposal (its code is
/// never run), else its `<execute>` blocks, else it is invalid.
pub fn parse_action(reply: &str) -> Action {
    if reply.contains("<solution>") {
        return Action::Propose(blocks(&SOLUTION, reply));
    }
    let code = blocks(&EXECUTE, reply);
    if code.is_empty() {
        Action::Invalid
    } else {
        Action::Execute(code)
    }
}

/// The code a replay runs for one assistant turn (§8): `None` for proposals and turns without
/// code.
pub fn replay_code(turn: &str) -> Option<String> {
    match parse_action(turn) {
        Action::Execute(code) => Some(code),
        _ => None,
    }
}

/// What the original's executor captured for one cell: its stdout as IPython writes it, with
/// trailing-expression echoes (`Out[N]: …`, a newline after the prompt when the value spans
/// lines), tracebacks and `display()`ed text. Stderr was not captured, nor figures (Agg).
pub fn captured_stdout(outputs: &[Output]) -> String {
    let mut s = String::new();
    for o in outputs {
        match o {
            Output::Stream {
                name: StreamName::Stdout,
                text,
            } => s.push_str(text),
            Output::Stream { .. } => {}
            Output::Result {
                execution_count,
                data,
                ..
            } => {
                if let Some(text) = data.text_plain() {
                    s.push_str(&format!("Out[{}]: ", execution_count.unwrap_or(0)));
                    if text.contains('\n') {
                        s.push('\n');
                    }
                    s.push_str(text);
                    s.push('\n');
                }
            }
            Output::Display { data, .. } => {
                let image = data.mime_types().any(|k| k.starts_with("image/"));
                if let (false, Some(text)) = (image, data.text_plain()) {
                    s.push_str(text);
                    s.push('\n');
                }
            }
            Output::Error { traceback, .. } => {
                s.push_str(&traceback.join("\n"));
                s.push('\n');
            }
        }
    }
    s
}

static OWN_FRAME: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"File [^\n]*codeact_instruct/limits\.py:\d+"));

/// The executor's post-processing (§5.5): exactly empty output becomes the empty-output
/// string; the executor's own frame in a timeout's traceback loses its path (as the
/// original meant to do, without its bug that kept the path's prefix); more than 2,000
/// characters are cut and marked; the result is stripped.
pub fn executor_body(captured: &str) -> String {
    if captured.is_empty() {
        return EMPTY_OUTPUT.to_string();
    }
    let captured = OWN_FRAME.replace_all(captured, "File <hidden_filepath>");
    let body = match captured.char_indices().nth(TRUNCATE_AT_CHARS) {
        Some((cut, _)) => format!("{}{TRUNCATION_SUFFIX}", &captured[..cut]),
        None => captured.into_owned(),
    };
    body.trim().to_string()
}

/// What an observation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback<'a> {
    /// A code action's executor body ([`executor_body`]).
    Output(&'a str),
    /// A proposal that was wrong.
    WrongAnswer,
    /// An invalid action or an empty proposal.
    Invalid,
}

/// The observation message after an action (§5.6): `steps_left` = 5 − actions so far,
/// `chances_left` = 2 − proposals so far.
pub fn observation(feedback: Feedback<'_>, steps_left: u32, chances_left: u32) -> String {
    let mut s = strings::OBSERVATION_PREFIX.to_string();
    match feedback {
        Feedback::Output(body) => {
            s.push_str(body);
            s.push('\n');
        }
        Feedback::WrongAnswer => s.push_str(strings::WRONG_ANSWER),
        Feedback::Invalid => {
            s.push_str(strings::INVALID_ACTION);
            s.push('\n');
        }
    }
    s.push_str(&strings::countdown(steps_left, chances_left));
    s
}

/// The history message of a reply (§5.3): `Assistant:\n` + reply + `\n`, without a second
/// prefix when the reply already starts with one.
pub fn assistant_message(reply: &str) -> String {
    if reply.trim_start().starts_with("Assistant:") {
        format!("{reply}\n")
    } else {
        format!("{}{reply}\n", strings::ASSISTANT_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_as_the_original() {
        assert_eq!(
            parse_action("x <execute> a=1 </execute> y <execute>\nb\n</execute>"),
            Action::Execute("a=1\nb".into())
        );
        assert_eq!(
            parse_action("<execute>print(1)</execute> The answer is <solution> 3 </solution>"),
            Action::Propose("3".into())
        );
        assert_eq!(
            parse_action("<solution></solution>"),
            Action::Propose("".into())
        );
        assert_eq!(parse_action("I think it is 4."), Action::Invalid);
        assert_eq!(parse_action("<execute>  </execute>"), Action::Invalid);
        assert_eq!(parse_action("<execute>unclosed"), Action::Invalid);
    }

    #[test]
    fn observations_count_down() {
        assert_eq!(
            observation(Feedback::Output("Out[1]: 190.0"), 4, 2),
            "Observation:\nOut[1]: 190.0\nYou have 4 steps left and 2 chances to propose solution left.\n"
        );
        assert_eq!(
            observation(Feedback::WrongAnswer, 1, 1),
            "Observation:\nYour answer is wrong.\nYou have 1 steps left and 1 chances to propose solution left.\nYou should take the last step to propose a solution.\n"
        );
        let invalid = observation(Feedback::Invalid, 3, 2);
        assert!(invalid.contains("<solution> 42 </solution>. \n\nYou have 3 steps"));
    }

    #[test]
    fn executor_body_is_cut_and_stripped() {
        assert_eq!(executor_body(""), EMPTY_OUTPUT);
        assert_eq!(executor_body("\n"), "");
        assert_eq!(executor_body(" 7\n"), "7");
        let long = "é".repeat(2500);
        let body = executor_body(&long);
        assert_eq!(
            body.chars().count(),
            2000 + TRUNCATION_SUFFIX.chars().count()
        );
        assert!(body.ends_with("...\n[Output Truncated]"));
    }

    #[test]
    fn the_limits_frame_is_hidden() {
        let tb = "TimeoutError   Traceback\nFile /root/.cache/codeact/python/codeact_instruct-1f/codeact_instruct/limits.py:92, in install_cell_limit.<locals>.signal_handler(signum, frame)\n";
        assert!(executor_body(tb).contains("File <hidden_filepath>, in install_cell_limit"));
        assert!(!executor_body(tb).contains("/root"));
    }

    #[test]
    fn first_message_keeps_braces_in_values() {
        let m = first_message("Compute {x}.", "", "Task:\nex {task_prompt}");
        assert!(m.ends_with("Task:\nCompute {x}.\n"));
        assert!(m.contains("ex {task_prompt}"));
        assert!(m.contains("You have 5 chances"));
    }

    #[test]
    fn assistant_messages_get_one_prefix() {
        assert_eq!(assistant_message("hi"), "Assistant:\nhi\n");
        assert_eq!(assistant_message(" Assistant: hi"), " Assistant: hi\n");
    }
}
