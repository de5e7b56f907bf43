//! Reads a model reply: its `<execute>` blocks, `<solution>`, `<thought>`, and the fenced
//! code block that stands in for `<execute>` when a small model forgets the tag.

use std::sync::LazyLock;

use codeact_protocol::ActionOrigin;
use regex::Regex;

use crate::pylex;

/// The stop sequence of every generation: the model must not write the output of its own code.
pub const EXECUTE_STOP: &str = "</execute>";

/// One piece of code to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub code: String,
    pub origin: ActionOrigin,
}

/// How forgiving the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Treat a fenced ```python block as the action when there is no `<execute>` tag.
    pub fence_fallback: bool,
    /// Exact lower-case tags only, no clean-up inside them (the seed's behaviour).
    pub strict: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            fence_fallback: true,
            strict: false,
        }
    }
}

/// What a reply asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedReply {
    pub thought: Option<String>,
    /// Code to run, in order. Non-empty means the reply is an action, whatever else it holds.
    pub actions: Vec<Action>,
    pub solution: Option<String>,
    /// The last `<execute>` had no closing tag (the stop sequence ate it, or the reply was cut).
    pub unclosed_execute: bool,
}

impl ParsedReply {
    /// Code and a solution in one reply: the solution cannot rest on output not yet seen.
    pub fn premature_solution(&self) -> bool {
        !self.actions.is_empty() && self.solution.is_some()
    }
}

/// The tag that opens an action.
const EXECUTE_OPEN: &str = "<execute>";

// Tags are matched lazily up to their closing tag or, failing that, the end of the reply:
// an unclosed tag at the end is what a stopped or cut-off generation looks like.
static SOLUTION_LENIENT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?is)<solution>(.*?)(</solution>|\z)").ok());
static SOLUTION_STRICT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?s)<solution>(.*?)</solution>").ok());
static THOUGHT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?is)<thought>(.*?)(</thought>|\z)").ok());
/// A fenced block: an opening fence line with an optional language, the body, a closing fence.
static FENCE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?ms)^[ \t]*```[ \t]*([A-Za-z0-9_+.-]*)[ \t]*\r?\n(.*?)^[ \t]*```[ \t]*(?:\r?\n|\z)",
    )
    .ok()
});

/// The `<execute>` blocks of `text`, leaving out mentions: a small model thinking aloud inside
/// an unclosed `<thought>` writes things like "run it in the <execute> section", which is prose,
/// not an action. Inside an open thought only a tag at the start of a line counts.
fn execute_blocks(text: &str, strict: bool) -> Vec<(String, bool, usize, usize)> {
    let blocks = tagged_code(text, strict);
    if strict {
        return blocks;
    }
    let lower = text.to_ascii_lowercase();
    blocks
        .into_iter()
        .filter(|(_, _, start, _)| {
            let before = &lower[..*start];
            let open_thought = before
                .rfind("<thought>")
                .is_some_and(|o| !before[o..].contains("</thought>"));
            let line_start = before
                .rsplit('\n')
                .next()
                .is_none_or(|l| l.trim().is_empty());
            !open_thought || line_start
        })
        .collect()
}

/// Every `<execute>` block as (body, closed, start, end): a block closes at the first
/// `</execute>` that stands in its code, not inside a string literal or comment of it, and
/// runs to the end of the text when none does. Tags ignore case unless `strict`.
fn tagged_code(text: &str, strict: bool) -> Vec<(String, bool, usize, usize)> {
    // ASCII lower-casing keeps every byte offset.
    let haystack = if strict {
        text.to_string()
    } else {
        text.to_ascii_lowercase()
    };
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(found) = haystack[from..].find(EXECUTE_OPEN) {
        let start = from + found;
        let body_start = start + EXECUTE_OPEN.len();
        let rest = &text[body_start..];
        match pylex::find_in_code(rest, EXECUTE_STOP, !strict) {
            Some(close) => {
                let end = body_start + close + EXECUTE_STOP.len();
                blocks.push((rest[..close].to_string(), true, start, end));
                from = end;
            }
            None => {
                blocks.push((rest.to_string(), false, start, text.len()));
                break;
            }
        }
    }
    blocks
}

fn captures_all(re: &LazyLock<Option<Regex>>, text: &str) -> Vec<(String, bool, usize, usize)> {
    let Some(re) = re.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let body = c.get(1)?.as_str().to_string();
            let closed = c.get(2).is_some_and(|m| !m.as_str().is_empty());
            Some((body, closed, whole.start(), whole.end()))
        })
        .collect()
}

/// Parses one reply.
pub fn parse_reply(text: &str, opts: ParseOptions) -> ParsedReply {
    let mut out = ParsedReply::default();
    let blocks = execute_blocks(text, opts.strict);
    for (body, closed, _, _) in &blocks {
        let code = if opts.strict {
            trim_code(body)
        } else {
            strip_fences(body)
        };
        if !closed {
            out.unclosed_execute = true;
        }
        if !code.trim().is_empty() {
            out.actions.push(Action {
                code,
                origin: ActionOrigin::ExecuteTag,
            });
        }
    }

    let sol_re = if opts.strict {
        &SOLUTION_STRICT
    } else {
        &SOLUTION_LENIENT
    };
    let solutions = captures_all(sol_re, text);
    if let Some((body, _, _, _)) = solutions.first() {
        out.solution = Some(body.trim().to_string());
    }
    if let Some((body, _, _, _)) = captures_all(&THOUGHT, text).first() {
        out.thought = Some(body.trim().to_string());
    }

    if blocks.is_empty() && opts.fence_fallback {
        // Code shown inside the answer is part of the answer, not an action.
        let outside = match solutions.first() {
            Some((_, _, start, end)) => format!("{}{}", &text[..*start], &text[*end..]),
            None => text.to_string(),
        };
        out.actions = fenced_actions(&outside);
    }
    out
}

/// The fenced blocks of `text` that are Python code, in order.
fn fenced_actions(text: &str) -> Vec<Action> {
    let Some(re) = FENCE.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(text)
        .filter_map(|c| {
            let lang = c.get(1).map(|m| m.as_str()).unwrap_or("");
            let body = c.get(2).map(|m| m.as_str()).unwrap_or("");
            is_python_block(lang, body).then(|| Action {
                code: trim_code(body),
                origin: ActionOrigin::FencedBlock,
            })
        })
        .collect()
}

fn is_python_block(lang: &str, body: &str) -> bool {
    if body.trim().is_empty() {
        return false;
    }
    match lang.to_ascii_lowercase().as_str() {
        "python" | "py" | "python3" | "ipython" | "ipython3" => true,
        // A bare fence is as often the output the model expects as it is code.
        "" => looks_like_code(body),
        _ => false,
    }
}

fn looks_like_code(body: &str) -> bool {
    const STARTS: [&str; 12] = [
        "import ", "from ", "def ", "class ", "for ", "while ", "if ", "print(", "with ", "try:",
        "!pip", "return ",
    ];
    body.lines().map(str::trim_start).any(|l| {
        STARTS.iter().any(|s| l.starts_with(s))
            || l.contains(" = ")
            || (l.contains('(') && l.ends_with(')'))
    })
}

/// Where streaming may stop: the end of the first fenced Python block once it has closed, in a
/// reply that has no `<execute>` or `<solution>` tag so far.
pub fn closed_fence_end(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("<execute>") || lower.contains("<solution>") {
        return None;
    }
    let re = FENCE.as_ref()?;
    re.captures_iter(text).find_map(|c| {
        let lang = c.get(1).map(|m| m.as_str()).unwrap_or("");
        let body = c.get(2).map(|m| m.as_str()).unwrap_or("");
        let whole = c.get(0)?;
        is_python_block(lang, body).then(|| whole.end())
    })
}

/// The reply with its last `<execute>` closed, when generation stopped inside it; `None` when
/// nothing is open.
pub fn close_open_execute(text: &str, strict: bool) -> Option<String> {
    let last = execute_blocks(text, strict).pop()?;
    if last.1 {
        return None;
    }
    let mut fixed = text.to_string();
    if !fixed.ends_with('\n') {
        fixed.push('\n');
    }
    fixed.push_str(EXECUTE_STOP);
    Some(fixed)
}

/// Whether the reply ends inside its last `<execute>` block, with that block's code inside a
/// string literal or comment: a stop sequence that cut it there fell inside the literal (as
/// in `tag = "</execute>"`) and was not the end of the action.
pub fn stopped_inside_literal(text: &str, strict: bool) -> bool {
    execute_blocks(text, strict)
        .pop()
        .is_some_and(|(body, closed, _, _)| !closed && pylex::ends_inside_literal(&body))
}

/// Drops blank lines around code but keeps its indentation.
fn trim_code(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(start, |i| i + 1);
    let code = lines[start..end].join("\n");
    // Code written on the tag's line (`<execute> print(1) </execute>`) keeps a stray indent.
    if code.lines().count() == 1 {
        code.trim().to_string()
    } else {
        code
    }
}

/// Removes a markdown fence that a model wrapped around the code inside a tag.
fn strip_fences(body: &str) -> String {
    let code = trim_code(body);
    let mut lines: Vec<&str> = code.lines().collect();
    let opens = lines
        .first()
        .is_some_and(|l| l.trim_start().starts_with("```"));
    if !opens {
        return code;
    }
    lines.remove(0);
    if lines.last().is_some_and(|l| l.trim() == "```") {
        lines.pop();
    }
    trim_code(&lines.join("\n"))
}

#[cfg(test)]
mod tests;
