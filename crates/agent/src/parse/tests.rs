//! The parser on replies as models write them.

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
fn a_closing_tag_inside_a_string_or_comment_is_code() {
    let p = lenient("<execute>\ntag = \"</execute>\"\nprint(tag)\n</execute>\nafter");
    assert_eq!(codes(&p), ["tag = \"</execute>\"\nprint(tag)"]);
    assert!(!p.unclosed_execute);
    let p = lenient("<execute>\ns = '''\n<execute>x</execute>\n'''\n</execute>");
    assert_eq!(codes(&p), ["s = '''\n<execute>x</execute>\n'''"]);
    let p = lenient("<execute>\nx = 1  # ends with </execute>\nprint(x)\n</execute>");
    assert_eq!(codes(&p), ["x = 1  # ends with </execute>\nprint(x)"]);
    // Two blocks, each with a tag in a string.
    let p =
        lenient("<execute>a = '</execute>'</execute> <execute>b = f\"{a}</execute>\"</execute>");
    assert_eq!(codes(&p), ["a = '</execute>'", "b = f\"{a}</execute>\""]);
    // Strict parsing too, case-sensitively.
    let strict = ParseOptions {
        fence_fallback: false,
        strict: true,
    };
    let p = parse_reply("<execute>t = \"</execute>\"\n</execute>", strict);
    assert_eq!(codes(&p), ["t = \"</execute>\""]);
}

#[test]
fn a_reply_stopped_inside_a_literal_is_told_apart() {
    for text in [
        "<execute>\ntag = \"",
        "Let me.\n<execute>\ns = '",
        "<execute>\ns = \"\"\"\nfirst line\n",
        "<execute>\ns = f'{x}",
        "<execute>\ns = rb\"",
        "<execute>\ns = \"a\\\"",
        "<execute>\nx = 1  # close with ",
        "<execute>\ntag = \"</execute>\"\nend = '",
    ] {
        assert!(stopped_inside_literal(text, false), "{text:?}");
    }
    for text in [
        "<execute>\nprint(6 * 7)\n",
        "<execute>\nx = \"done\"\n",
        "<execute>\n# it's a comment\nprint(1)\n",
        "<execute>\nx = 1\n</execute>\ns = \"",
        "I'd say \"",
        "<solution>\"",
    ] {
        assert!(!stopped_inside_literal(text, false), "{text:?}");
    }
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
