//! Stream text as a terminal would show it: carriage returns, backspaces and ANSI erase and
//! cursor codes applied to the line they edit; colours and other escape sequences dropped.
//!
//! A progress bar redraws one line thousands of times (`\rprogress 41/200000`); kept raw, the
//! redraws fill a cell's output cap and bury the last frame, the only one a reader wants.
//! Only the line still open (no newline yet) is editable: codes that move the cursor up
//! (nested progress bars) start that line again. The local worker renders the same way before
//! its own cap (`codeact_worker/terminal.py`); here it serves every backend, Jupyter's included.
//! Escape sequences are parsed by `vte`, so one split across two chunks still parses.

use vte::{Params, Parser, Perform};

/// One stream's open line and the escape-sequence state between chunks.
#[derive(Default)]
pub(crate) struct Terminal {
    parser: Parser,
    line: Line,
}

#[derive(Default)]
struct Line {
    chars: Vec<char>,
    cursor: usize,
    /// Lines finished by the current chunk, each with its newline.
    done: String,
}

impl Terminal {
    /// Applies `text`; returns the lines it finished, each ending in `\n`.
    pub fn feed(&mut self, text: &str) -> String {
        let mut rest = text;
        while let Some(at) = rest.find('\n') {
            self.parser.advance(&mut self.line, &rest.as_bytes()[..at]);
            // A newline always ends the line, and no escape sequence stays open past it: a
            // stray ESC in binary output (`cat` of random bytes) would otherwise start a
            // string sequence that swallows everything printed after it, as in a terminal.
            self.parser = Parser::new();
            self.line.execute(b'\n');
            rest = &rest[at + 1..];
        }
        self.parser.advance(&mut self.line, rest.as_bytes());
        std::mem::take(&mut self.line.done)
    }

    /// The open line as it looks now; the line starts afresh.
    pub fn take(&mut self) -> String {
        let text = self.line.chars.iter().collect();
        self.line.chars.clear();
        self.line.cursor = 0;
        text
    }

    /// Characters in the open line.
    pub fn open_len(&self) -> usize {
        self.line.chars.len()
    }
}

impl Line {
    fn put(&mut self, c: char) {
        if self.cursor < self.chars.len() {
            self.chars[self.cursor] = c;
        } else {
            self.chars.resize(self.cursor, ' ');
            self.chars.push(c);
        }
        self.cursor += 1;
    }
}

impl Perform for Line {
    fn print(&mut self, c: char) {
        self.put(c);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' => {
                self.done.extend(self.chars.drain(..));
                self.done.push('\n');
                self.cursor = 0;
            }
            b'\r' => {
                self.cursor = 0;
            }
            0x08 => {
                self.cursor = self.cursor.saturating_sub(1);
            }
            b'\t' => self.put('\t'),
            // Bell and other controls show nothing.
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], _: bool, action: char) {
        if !intermediates.is_empty() {
            return;
        }
        let first = params
            .iter()
            .next()
            .and_then(|p| p.first().copied())
            .unwrap_or(0) as usize;
        let n = first.max(1);
        match action {
            // Erase in line: 0 to the end, 1 to the start, 2 all.
            'K' => match first {
                0 => self.chars.truncate(self.cursor),
                1 => {
                    let end = self.cursor.min(self.chars.len());
                    self.chars[..end].fill(' ');
                }
                _ => self.chars.clear(),
            },
            'G' => {
                self.cursor = n - 1;
            }
            'D' => {
                self.cursor = self.cursor.saturating_sub(n);
            }
            'C' => {
                self.cursor += n;
            }
            'A' | 'B' | 'E' | 'F' => {
                self.cursor = 0;
            }
            // Colours (m) and everything else change nothing a reader of text sees.
            _ => {}
        }
    }
}

/// All of `text` as a terminal would show it once it is finished.
pub(crate) fn render(text: &str) -> String {
    let mut t = Terminal::default();
    let mut out = t.feed(text);
    out.push_str(&t.take());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases the worker's renderer is held to as well.
    #[test]
    fn renders_what_a_terminal_shows() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../terminal_cases.json")).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(cases.len() > 10);
        for case in cases {
            let (raw, shown) = (
                case["raw"].as_str().unwrap(),
                case["shown"].as_str().unwrap(),
            );
            assert_eq!(render(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn no_escape_sequence_outlives_its_line() {
        for open in ["\x1b]0;title", "\x1bPdcs", "\x1b[12", "\x1b_apc", "\x1b"] {
            let mut t = Terminal::default();
            let mut out = t.feed(&format!("junk {open}\n"));
            out += &t.feed("done\n");
            assert!(out.ends_with("\ndone\n"), "{open:?}: {out:?}");
        }
    }

    #[test]
    fn an_escape_split_across_chunks_still_parses() {
        let mut t = Terminal::default();
        let mut out = t.feed("red: \x1b[3");
        out += &t.feed("1mR\x1b[0m\n");
        assert_eq!(out, "red: R\n");
    }

    #[test]
    fn the_open_line_waits_for_its_newline() {
        let mut t = Terminal::default();
        assert_eq!(t.feed("waiting"), "");
        assert_eq!(t.open_len(), 7);
        t.feed("\r 10%");
        // A terminal overwrites in place: the end of "waiting" stays.
        assert_eq!(t.feed("\r100%\n"), "100%ing\n");
        assert_eq!(t.open_len(), 0);
    }

    #[test]
    fn two_hundred_thousand_redraws_leave_the_last_frame() {
        let mut t = Terminal::default();
        let mut out = String::new();
        for i in 1..=200_000 {
            out += &t.feed(&format!("\rprogress {i}/200000"));
        }
        out += &t.feed("\n");
        assert_eq!(out, "progress 200000/200000\n");
    }
}
