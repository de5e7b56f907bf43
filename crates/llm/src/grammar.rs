//! A syntax check for GBNF grammars, run before a grammar reaches llama.cpp.
//!
//! llama.cpp prints grammar syntax errors straight to stderr rather than through its log
//! callback, so a bad grammar from a caller would scribble on the terminal. Checking the
//! syntax here first turns it into an ordinary error. The rules follow llama.cpp's GBNF:
//! `name ::= alternatives` per rule, string literals, character classes, rule references,
//! groups, `.`, tokens (`<[id]>`, `<text>`, `!<...>`) and the repetitions `* + ? {m} {m,} {m,n}`.

use std::collections::HashSet;

/// llama.cpp refuses repetition counts above this.
const MAX_REPETITIONS: u64 = 2000;

/// Checks that `src` is a GBNF grammar llama.cpp will parse, with a `root` rule.
///
/// Returns the textual tokens (`<text>`, brackets included) it names: each must be exactly
/// one token of the model's vocabulary, which only the caller can check.
pub(crate) fn check_gbnf(src: &str) -> Result<Vec<String>, String> {
    let mut p = Parser {
        s: src.chars().collect(),
        i: 0,
        defined: HashSet::new(),
        referenced: Vec::new(),
        tokens: Vec::new(),
    };
    p.space(true);
    while !p.at_end() {
        p.rule()?;
    }
    for name in &p.referenced {
        if !p.defined.contains(name) {
            return Err(format!("undefined rule '{name}'"));
        }
    }
    if !p.defined.contains("root") {
        return Err("the grammar has no 'root' rule".into());
    }
    Ok(p.tokens)
}

struct Parser {
    s: Vec<char>,
    i: usize,
    defined: HashSet<String>,
    referenced: Vec<String>,
    tokens: Vec<String>,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

impl Parser {
    /// The character `k` ahead; NUL past the end, as llama.cpp reads a C string.
    fn peek(&self, k: usize) -> char {
        self.s.get(self.i + k).copied().unwrap_or('\0')
    }

    fn at_end(&self) -> bool {
        self.peek(0) == '\0'
    }

    fn context(&self) -> String {
        let rest: String = self.s[self.i.min(self.s.len())..].iter().take(20).collect();
        if rest.is_empty() {
            "end of input".into()
        } else {
            format!("'{rest}'")
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at {}", self.context()))
    }

    fn space(&mut self, newline_ok: bool) {
        loop {
            match self.peek(0) {
                ' ' | '\t' => self.i += 1,
                '\r' | '\n' if newline_ok => self.i += 1,
                '#' => {
                    while !matches!(self.peek(0), '\0' | '\r' | '\n') {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while is_word(self.peek(0)) {
            self.i += 1;
        }
        if self.i == start {
            return self.err("expecting a name");
        }
        Ok(self.s[start..self.i].iter().collect())
    }

    fn int(&mut self) -> Result<u64, String> {
        let start = self.i;
        while self.peek(0).is_ascii_digit() {
            self.i += 1;
        }
        let digits: String = self.s[start..self.i].iter().collect();
        match digits.parse() {
            Ok(n) => Ok(n),
            Err(_) if digits.is_empty() => self.err("expecting an integer"),
            // Longer than u64: certainly over every limit.
            Err(_) => Ok(u64::MAX),
        }
    }

    /// One character of a literal or class, with its escapes.
    fn char(&mut self) -> Result<(), String> {
        match self.peek(0) {
            '\0' => Err("unexpected end of input".into()),
            '\\' => {
                let hex = match self.peek(1) {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    't' | 'r' | 'n' | '\\' | '"' | '[' | ']' | '-' => 0,
                    _ => return self.err("unknown escape"),
                };
                self.i += 2;
                for _ in 0..hex {
                    if !self.peek(0).is_ascii_hexdigit() {
                        return self.err(&format!("expecting {hex} hex digits"));
                    }
                    self.i += 1;
                }
                Ok(())
            }
            _ => {
                self.i += 1;
                Ok(())
            }
        }
    }

    fn token(&mut self) -> Result<(), String> {
        if self.peek(0) != '<' {
            return self.err("expecting '<'");
        }
        let start = self.i;
        self.i += 1;
        if self.peek(0) == '[' {
            self.i += 1;
            if self.int()? > u64::from(u32::MAX) {
                return self.err("token id too big");
            }
            if self.peek(0) != ']' || self.peek(1) != '>' {
                return self.err("expecting ']>'");
            }
            self.i += 2;
            return Ok(());
        }
        while !matches!(self.peek(0), '\0' | '>') {
            self.i += 1;
        }
        if self.peek(0) != '>' {
            return self.err("expecting '>'");
        }
        self.i += 1;
        self.tokens.push(self.s[start..self.i].iter().collect());
        Ok(())
    }

    fn sequence(&mut self, nested: bool) -> Result<(), String> {
        let mut has_item = false;
        loop {
            let c = self.peek(0);
            match c {
                '"' => {
                    self.i += 1;
                    while self.peek(0) != '"' {
                        self.char()?;
                    }
                    self.i += 1;
                }
                '[' => {
                    self.i += 1;
                    if self.peek(0) == '^' {
                        self.i += 1;
                    }
                    while self.peek(0) != ']' {
                        self.char()?;
                        if self.peek(0) == '-' && self.peek(1) != ']' {
                            self.i += 1;
                            self.char()?;
                        }
                    }
                    self.i += 1;
                }
                '<' | '!' => {
                    if c == '!' {
                        self.i += 1;
                    }
                    self.token()?;
                }
                '(' => {
                    self.i += 1;
                    self.space(true);
                    self.alternates(true)?;
                    if self.peek(0) != ')' {
                        return self.err("expecting ')'");
                    }
                    self.i += 1;
                }
                '.' => self.i += 1,
                '*' | '+' | '?' | '{' => {
                    if !has_item {
                        return self.err("expecting an item before the repetition");
                    }
                    self.i += 1;
                    if c == '{' {
                        self.space(nested);
                        self.counts(nested)?;
                    }
                }
                c if is_word(c) => {
                    let name = self.name()?;
                    self.referenced.push(name);
                }
                _ => return Ok(()),
            }
            has_item = true;
            self.space(nested);
        }
    }

    /// The inside of `{m}`, `{m,}` or `{m,n}`, after the brace.
    fn counts(&mut self, nested: bool) -> Result<(), String> {
        if !self.peek(0).is_ascii_digit() {
            return self.err("expecting an integer");
        }
        let min = self.int()?;
        self.space(nested);
        match self.peek(0) {
            '}' => self.i += 1,
            ',' => {
                self.i += 1;
                self.space(nested);
                if self.peek(0).is_ascii_digit() {
                    self.int()?;
                    self.space(nested);
                }
                if self.peek(0) != '}' {
                    return self.err("expecting '}'");
                }
                self.i += 1;
            }
            _ => return self.err("expecting ','"),
        }
        if min > MAX_REPETITIONS {
            return Err(format!("more than {MAX_REPETITIONS} repetitions"));
        }
        Ok(())
    }

    fn alternates(&mut self, nested: bool) -> Result<(), String> {
        self.sequence(nested)?;
        while self.peek(0) == '|' {
            self.i += 1;
            self.space(true);
            self.sequence(nested)?;
        }
        Ok(())
    }

    fn rule(&mut self) -> Result<(), String> {
        let name = self.name()?;
        self.space(false);
        if !(self.peek(0) == ':' && self.peek(1) == ':' && self.peek(2) == '=') {
            return self.err("expecting '::='");
        }
        self.i += 3;
        self.space(true);
        self.alternates(false)?;
        match self.peek(0) {
            '\r' => self.i += if self.peek(1) == '\n' { 2 } else { 1 },
            '\n' => self.i += 1,
            '\0' => {}
            _ => return self.err("expecting the end of the line"),
        }
        self.space(true);
        self.defined.insert(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_grammars() {
        let good = [
            r#"root ::= "yes" | "no""#,
            "root ::= item+\nitem ::= [a-z0-9_\\-]{1,8} \" \"?\n",
            "# a comment\nroot ::= ( \"a\" |\n  \"b\" )* # trailing\n\n",
            r#"root ::= "[" [0-9]+ ("," [0-9]+)* "]""#,
            "root ::= [^\"\\\\\\x7F\\u00e9] . <[151643]> !<[1]>\r\n",
            "root ::= x{2} x{2,} x{0,3}\nx ::= \"é日\"",
            "root ::= obj\nobj ::= \"{\" ws ( pair ( \",\" ws pair )* )? \"}\"\npair ::= [a-z]+ \":\" ws [0-9]+\nws ::= [ \\t\\n]*",
        ];
        for g in good {
            assert!(check_gbnf(g).is_ok(), "{g}: {:?}", check_gbnf(g));
        }
        assert_eq!(
            check_gbnf("root ::= <|im_end|> <[5]> !<think>"),
            Ok(vec!["<|im_end|>".to_string(), "<think>".to_string()])
        );
    }

    #[test]
    fn rejects_invalid_grammars() {
        let bad = [
            ("root ::= (", "expecting ')'"),
            ("root = \"a\"", "'::='"),
            ("root ::= \"abc", "end of input"),
            ("root ::= [abc", "end of input"),
            ("root ::= * \"a\"", "item before"),
            ("root ::= \"a\"{x}", "integer"),
            ("root ::= \"a\"{1;2}", "','"),
            ("root ::= \"a\"{1,2", "'}'"),
            ("root ::= \"\\q\"", "unknown escape"),
            ("root ::= \"\\x4\"", "hex digits"),
            ("root ::= other", "undefined rule 'other'"),
            ("item ::= \"a\"", "no 'root'"),
            ("root ::= \"a\" ) \"b\"", "end of the line"),
            ("root ::= \"a\"{2001}", "repetitions"),
            ("", "no 'root'"),
        ];
        for (g, why) in bad {
            match check_gbnf(g) {
                Err(e) => assert!(e.contains(why), "{g:?}: {e}"),
                Ok(_) => panic!("accepted {g:?}"),
            }
        }
    }
}
