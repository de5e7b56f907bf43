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
        self.parser.advance(&mut self.line, text.as_bytes());
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

    #[test]
    fn renders_what_a_terminal_shows() {
        let cases = [
            ("plain\ntext\n", "plain\ntext\n"),
            (
                "progress 1/3\rprogress 2/3\rprogress 3/3\n",
                "progress 3/3\n",
            ),
            ("progress 10/10\rstep 9\n", "step 9ss 10/10\n"),
            ("done 50%\r\x1b[Kdone\n", "done\n"),
            ("abc\x08\x08X\n", "aXc\n"),
            (
                "\x1b[31mred\x1b[0m and \x1b[1mbold\x1b[0m\n",
                "red and bold\n",
            ),
            ("windows\r\nline endings\r\n", "windows\nline endings\n"),
            ("abcdef\x1b[3Dxy\n", "abcxyf\n"),
            ("abcdef\x1b[2Gz\n", "azcdef\n"),
            ("abc\x1b[2K\rnew\n", "new\n"),
            ("title\x1b]0;window title\x07 kept\n", "title kept\n"),
            ("bar 1\x1b[Abar 2\n", "bar 2\n"),
            ("no newline\rat end", "at endline"),
            ("\x08\x08back at start\n", "back at start\n"),
            ("é\rè\n", "è\n"),
        ];
        for (raw, shown) in cases {
            assert_eq!(render(raw), shown, "{raw:?}");
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
