//! Just enough of Python's lexical syntax to tell string literals and comments from code: a
//! `</execute>` inside `tag = "</execute>"` or `# ends with </execute>` is part of the code, not
//! the end of the action. Python's own tokenizer lives in the session, which is not there while
//! the model is still writing.
//!
//! Covers single- and triple-quoted strings with both quotes, the prefixes r, b, u, f and t in
//! any case and combination, backslash escapes (which also keep a raw string open), f-string
//! replacement fields with nested strings, brackets and format specs (PEP 701), and comments.
//! A single-quoted string that meets the end of its line ends there, as it does for Python
//! (with a syntax error).

/// Where the lexer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Plain code; the bottom of the stack.
    Code,
    /// A string literal.
    Str(StrKind),
    /// The expression of an f-string replacement field, with its open bracket count.
    Field { depth: u32 },
    /// The format spec of a replacement field, after its `:`.
    Spec,
    /// A comment, up to the end of its line.
    Comment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StrKind {
    quote: u8,
    triple: bool,
    /// An f-string (or t-string): braces open replacement fields.
    fmt: bool,
}

/// A byte-wise scanner over Python source. Every delimiter it knows is ASCII, so it never
/// stops inside a multi-byte character where it matters.
struct Lexer<'a> {
    src: &'a [u8],
    stack: Vec<Ctx>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src: src.as_bytes(),
            stack: vec![Ctx::Code],
        }
    }

    fn top(&self) -> Ctx {
        self.stack.last().copied().unwrap_or(Ctx::Code)
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    /// Whether `i` is in code (plain or in a replacement field), where a tag would count.
    fn in_code(&self) -> bool {
        self.stack.len() == 1
    }

    /// Consumes the lexical unit at `i`; returns where the next one starts (always past `i`).
    fn step(&mut self, i: usize) -> usize {
        let Some(c) = self.at(i) else {
            return i + 1;
        };
        match self.top() {
            Ctx::Comment => {
                if c == b'\n' {
                    self.stack.pop();
                }
                i + 1
            }
            Ctx::Str(kind) => self.in_string(kind, c, i),
            Ctx::Spec => {
                match c {
                    b'{' => self.stack.push(Ctx::Field { depth: 0 }),
                    b'}' => {
                        // The spec and its field end together.
                        self.stack.pop();
                        self.stack.pop();
                    }
                    _ => {}
                }
                i + 1
            }
            Ctx::Field { depth } => self.in_field(depth, c, i),
            Ctx::Code => self.in_code_at(c, i),
        }
    }

    fn in_string(&mut self, kind: StrKind, c: u8, i: usize) -> usize {
        let next = self.at(i + 1);
        match c {
            // In f-strings `\{` leaves the brace to open a field.
            b'\\' if kind.fmt && matches!(next, Some(b'{' | b'}')) => i + 1,
            // An escaped quote, backslash or newline does not end the string, raw or not.
            b'\\' => i + 2,
            q if q == kind.quote => {
                if !kind.triple {
                    self.stack.pop();
                    i + 1
                } else if self.src[i..].starts_with(&[q, q, q]) {
                    self.stack.pop();
                    i + 3
                } else {
                    i + 1
                }
            }
            b'\n' if !kind.triple => {
                self.stack.pop();
                i + 1
            }
            b'{' | b'}' if kind.fmt && next == Some(c) => i + 2,
            b'{' if kind.fmt => {
                self.stack.push(Ctx::Field { depth: 0 });
                i + 1
            }
            _ => i + 1,
        }
    }

    fn in_field(&mut self, depth: u32, c: u8, i: usize) -> usize {
        let set_depth = |lexer: &mut Self, d: u32| {
            if let Some(top) = lexer.stack.last_mut() {
                *top = Ctx::Field { depth: d };
            }
        };
        match c {
            b'(' | b'[' | b'{' => set_depth(self, depth + 1),
            b')' | b']' | b'}' if depth > 0 => set_depth(self, depth - 1),
            b'}' => {
                self.stack.pop();
            }
            // `!=` is an operator; a lone `!` (conversion) is harmless either way.
            b':' if depth == 0 => self.stack.push(Ctx::Spec),
            _ => return self.in_code_at(c, i),
        }
        i + 1
    }

    fn in_code_at(&mut self, c: u8, i: usize) -> usize {
        match c {
            b'#' => {
                self.stack.push(Ctx::Comment);
                i + 1
            }
            b'"' | b'\'' => self.open_string(i, false),
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let end = self.src[i..]
                    .iter()
                    .position(|&b| !(b == b'_' || b.is_ascii_alphanumeric() || b >= 0x80))
                    .map_or(self.src.len(), |n| i + n);
                let word = &self.src[i..end];
                match self.at(end) {
                    Some(b'"' | b'\'') if is_string_prefix(word) => {
                        let fmt = word.iter().any(|b| matches!(b, b'f' | b'F' | b't' | b'T'));
                        self.open_string(end, fmt)
                    }
                    _ => end,
                }
            }
            _ => i + 1,
        }
    }

    /// Opens the string whose first quote is at `i`; returns the index after its quotes.
    fn open_string(&mut self, i: usize, fmt: bool) -> usize {
        let quote = self.src[i];
        let triple = self.src[i..].starts_with(&[quote, quote, quote]);
        self.stack.push(Ctx::Str(StrKind { quote, triple, fmt }));
        if triple {
            i + 3
        } else {
            i + 1
        }
    }
}

/// Whether `word` is a string prefix: r, b, u, f, t and their two-letter combinations.
fn is_string_prefix(word: &[u8]) -> bool {
    let lower: Vec<u8> = word.iter().map(u8::to_ascii_lowercase).collect();
    matches!(
        lower.as_slice(),
        b"r" | b"b" | b"u" | b"f" | b"t" | b"br" | b"rb" | b"fr" | b"rf" | b"tr" | b"rt"
    )
}

/// The byte offset of the first `tag` in `code` that stands in code, not inside a string
/// literal or a comment; `ignore_case` compares ASCII letters without case.
pub(crate) fn find_in_code(code: &str, tag: &str, ignore_case: bool) -> Option<usize> {
    let tag = tag.as_bytes();
    let mut lexer = Lexer::new(code);
    let mut i = 0;
    while i < lexer.src.len() {
        if lexer.in_code() {
            let here = &lexer.src[i..];
            let found = here.len() >= tag.len()
                && if ignore_case {
                    here[..tag.len()].eq_ignore_ascii_case(tag)
                } else {
                    here.starts_with(tag)
                };
            if found {
                return Some(i);
            }
        }
        i = lexer.step(i);
    }
    None
}

/// Whether `code` ends inside a string literal (an f-string's field included) or a comment.
pub(crate) fn ends_inside_literal(code: &str) -> bool {
    let mut lexer = Lexer::new(code);
    let mut i = 0;
    while i < lexer.src.len() {
        i = lexer.step(i);
    }
    !lexer.in_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_strings_of_every_kind() {
        for code in [
            "tag = \"",
            "tag = '",
            "tag = \"abc",
            "s = \"\"\"",
            "s = '''\nline one\n",
            "s = \"\"\"a \" b \"\" c\n",
            "f\"{x}",
            "f'",
            "r\"\\d+",
            "b'\\x00",
            "rb\"",
            "BR'",
            "Rf\"{a}",
            "u'",
            "t\"{x}",
            "\"a \\\" b",
            "'it\\'s",
            "r\"a\\\"",
            "\"line \\\ncontinued",
            "x = \"closed\" + \"",
            "f\"{d['k']}",
            "f\"{d[\"k\"]}",
            "f\"{x:>{width}}",
            "f\"{'}'}",
            "f\"{ {'a': 1}['a'] }",
            "f\"{x!r:^10}",
            "f\"{x + \"",
            "f\"{x",
            "f'''\n{x}\n",
        ] {
            assert!(ends_inside_literal(code), "{code:?} ends inside a string");
        }
    }

    #[test]
    fn comments_are_literal_to_the_end_of_their_line() {
        assert!(ends_inside_literal("x = 1  # close with "));
        assert!(ends_inside_literal("# it's fine"));
        assert!(!ends_inside_literal("# it's fine\nprint(1)\n"));
        assert!(!ends_inside_literal("x = '#'\n"));
    }

    #[test]
    fn code_that_ends_in_code() {
        for code in [
            "",
            "print(6 * 7)\n",
            "tag = \"</execute>\"\n",
            "s = ''\n",
            "s = \"\"\n",
            "s = \"\"\"\n\"quoted\" ''\n\"\"\"\n",
            "s = '''a'''",
            "f\"{x}\"",
            "f\"{{not a field\"",
            "f\"{x:{'}'}}\"",
            "f\"{d[\"k\"]}\" + 'x'",
            "rb'\\''",
            "r'\\\\'",
            "x = \"unterminated\nprint(x)\n",
            "print(\"é\") # ü\n",
            "brr = 1\nfr = 2\n",
            "```python\nprint('a')\n```\n",
            "print(f'{x!r}')",
        ] {
            assert!(!ends_inside_literal(code), "{code:?} ends in code");
        }
    }

    #[test]
    fn a_tag_counts_only_in_code() {
        let find = |c: &str| find_in_code(c, "</execute>", true);
        assert_eq!(find("print(1)\n</execute>"), Some(9));
        assert_eq!(find("print(1)\n</EXECUTE>"), Some(9));
        assert_eq!(
            find_in_code("print(1)\n</EXECUTE>", "</execute>", false),
            None
        );
        assert_eq!(find("t = \"</execute>\"\nprint(t)\n</execute>"), Some(26));
        assert_eq!(find("t = '</execute>'"), None);
        assert_eq!(find("s = \"\"\"\n</execute>\n\"\"\"\n</execute>"), Some(23));
        assert_eq!(find("# end: </execute>\nx = 1\n</execute>"), Some(24));
        assert_eq!(find("f\"{'</execute>'}\"\n</execute>"), Some(18));
        assert_eq!(find("x = \"a\\\"</execute>\"\n</execute>"), Some(20));
        // A string left open at the end of its line does not hide the tag on the next one.
        assert_eq!(find("print(\"oops)\n</execute>"), Some(13));
        assert_eq!(find("é = 'ü' </execute>"), Some(10));
        assert_eq!(find("no tag"), None);
    }

    #[test]
    fn prefixes_need_a_whole_word() {
        assert!(is_string_prefix(b"Rb") && is_string_prefix(b"f") && is_string_prefix(b"tR"));
        assert!(!is_string_prefix(b"fb") && !is_string_prefix(b"rr") && !is_string_prefix(b"x"));
        // `bar"` is not a prefixed string, but the quote still opens one.
        assert!(ends_inside_literal("bar\""));
        assert!(!ends_inside_literal("bar\"\""));
    }
}
