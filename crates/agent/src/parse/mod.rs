//! Reads a model reply: its `<execute>` blocks, `<solution>`, `<thought>`, and the fenced
//! code block that stands in for `<execute>` when a small model forgets the tag.

use std::sync::LazyLock;

use codeact_protocol::ActionOrigin;
use regex::Regex;

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

// Tags are matched lazily up to their closing tag or, failing that, the end of the reply:
// an unclosed tag at the end is what a stopped or cut-off generation looks like.
static EXECUTE_LENIENT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?is)<execute>(.*?)(</execute>|\z)").ok());
static EXECUTE_STRICT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?s)<execute>(.*?)(</execute>|\z)").ok());
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
    let exec_re = if strict {
        &EXECUTE_STRICT
    } else {
        &EXECUTE_LENIENT
    };
    let blocks = captures_all(exec_re, text);
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
mod tests {
    use super::*;

    fn lenient(text: &str) -> ParsedReply {
        parse_reply(text, ParseOptions::default())
    }

    fn codes(p: &ParsedReply) -> Vec<&str> {
        p.actions.iter().map(|a| a.code.as_str()).collect()
    }

    #[test]
    fn all_execute_blocks_in_order() {
        let p = lenient("First <execute>\nx = 1\n</execute> then <execute>print(x)</execute>");
        assert_eq!(codes(&p), ["x = 1", "print(x)"]);
        assert!(p
            .actions
            .iter()
            .all(|a| a.origin == ActionOrigin::ExecuteTag));
        assert!(!p.unclosed_execute);
        assert_eq!(p.solution, None);
    }

    #[test]
    fn indentation_is_kept() {
        let p = lenient("<execute>\nfor i in range(2):\n    print(i)\n</execute>");
        assert_eq!(codes(&p), ["for i in range(2):\n    print(i)"]);
    }

    #[test]
    fn solution_and_thought() {
        let p = lenient("<thought>easy</thought>\n<solution> 42 </solution>");
        assert_eq!(p.thought.as_deref(), Some("easy"));
        assert_eq!(p.solution.as_deref(), Some("42"));
        assert!(p.actions.is_empty());
    }

    #[test]
    fn no_tag_is_a_plain_reply() {
        let p = lenient("The answer is 42.");
        assert_eq!(p, ParsedReply::default());
    }

    #[test]
    fn unclosed_execute_is_an_action_and_can_be_closed() {
        let text = "Let me compute.\n<execute>\nprint(6 * 7)\n";
        let p = lenient(text);
        assert!(p.unclosed_execute);
        assert_eq!(codes(&p), ["print(6 * 7)"]);
        let fixed = close_open_execute(text, false);
        assert_eq!(
            fixed.as_deref(),
            Some("Let me compute.\n<execute>\nprint(6 * 7)\n</execute>")
        );
        let again = lenient(fixed.as_deref().unwrap_or_default());
        assert!(!again.unclosed_execute);
        assert_eq!(close_open_execute("<execute>x</execute>", false), None);
        assert_eq!(close_open_execute("no tags", false), None);
    }

    #[test]
    fn a_tag_mentioned_inside_an_open_thought_is_not_an_action() {
        let text = "<thought>You can install it with `!pip install x` in the <execute> section. Then `import x`.\n";
        let p = lenient(text);
        assert!(p.actions.is_empty() && !p.unclosed_execute);
        assert_eq!(close_open_execute(text, false), None);
        // A forgotten </thought> does not hide a real tag on its own line.
        let p = lenient("<thought>compute it\n<execute>\nprint(1)\n");
        assert_eq!(codes(&p), ["print(1)"]);
        // Outside a thought, a tag mid-line is an action.
        assert_eq!(
            codes(&lenient("Let me run: <execute>print(2)</execute>")),
            ["print(2)"]
        );
    }

    #[test]
    fn code_and_solution_in_one_reply() {
        let p = lenient("<execute>print(1)</execute>\n<solution>1</solution>");
        assert_eq!(codes(&p), ["print(1)"]);
        assert!(p.premature_solution());
    }

    #[test]
    fn markdown_fence_inside_the_tag_is_stripped() {
        let p = lenient("<execute>\n```python\nprint('hi')\n```\n</execute>");
        assert_eq!(codes(&p), ["print('hi')"]);
        let p = lenient("<execute>```\nx = 2\n```</execute>");
        assert_eq!(codes(&p), ["x = 2"]);
    }

    #[test]
    fn tags_are_case_insensitive_unless_strict() {
        let p = lenient("<Execute>print(1)</EXECUTE>");
        assert_eq!(codes(&p), ["print(1)"]);
        let strict = ParseOptions {
            fence_fallback: false,
            strict: true,
        };
        let p = parse_reply("<Execute>print(1)</EXECUTE>", strict);
        assert!(p.actions.is_empty());
        // Strict parsing leaves fences inside the tag alone, as the seed did.
        let p = parse_reply("<execute>\n```python\nx = 1\n```\n</execute>", strict);
        assert_eq!(codes(&p), ["```python\nx = 1\n```"]);
        // and wants the closing tag of a solution.
        assert_eq!(parse_reply("<solution>3", strict).solution, None);
        assert_eq!(lenient("<solution>3").solution.as_deref(), Some("3"));
    }

    #[test]
    fn fenced_python_block_is_the_fallback_action() {
        let text = "I will compute it.\n```python\nprint(2 ** 10)\n```\n";
        let p = lenient(text);
        assert_eq!(codes(&p), ["print(2 ** 10)"]);
        assert_eq!(p.actions[0].origin, ActionOrigin::FencedBlock);
        let off = parse_reply(
            text,
            ParseOptions {
                fence_fallback: false,
                strict: false,
            },
        );
        assert!(off.actions.is_empty());
    }

    #[test]
    fn fence_variants() {
        assert_eq!(codes(&lenient("```py\nx = 1\n```")), ["x = 1"]);
        assert_eq!(
            codes(&lenient("```\nprint(len('abc'))\n```")),
            ["print(len('abc'))"]
        );
        // A bare fence holding output, or another language, is not code to run.
        assert!(lenient("The result:\n```\n385\n```").actions.is_empty());
        assert!(lenient("```bash\nls -l\n```").actions.is_empty());
        assert!(lenient("```python\n\n```").actions.is_empty());
    }

    #[test]
    fn execute_tag_wins_over_fences() {
        let p = lenient("```python\nx = 1\n```\n<execute>print(2)</execute>");
        assert_eq!(codes(&p), ["print(2)"]);
        assert_eq!(p.actions[0].origin, ActionOrigin::ExecuteTag);
    }

    #[test]
    fn fence_inside_a_solution_is_not_an_action() {
        let p = lenient("<solution>\n```python\ndef f(): return 1\n```\n</solution>");
        assert!(p.actions.is_empty());
        assert!(p.solution.is_some());
    }

    #[test]
    fn streaming_stops_when_a_fenced_block_closes() {
        assert_eq!(closed_fence_end("Sure.\n```python\nprint(1)\n"), None);
        let text = "Sure.\n```python\nprint(1)\n```\nOutput: 1";
        let end = closed_fence_end(text);
        assert_eq!(
            end.map(|e| &text[..e]),
            Some("Sure.\n```python\nprint(1)\n```\n")
        );
        assert_eq!(
            closed_fence_end("```python\nprint(1)\n```").map(|_| ()),
            Some(())
        );
        assert_eq!(
            closed_fence_end("<execute>\n```python\nprint(1)\n```\n"),
            None
        );
        assert_eq!(closed_fence_end("```text\nhello\n```\n"), None);
    }
}
