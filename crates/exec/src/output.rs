//! Collects a cell's outputs in order, merging adjacent stream text and capping their size
//! (head and tail are kept around a marker), and forwards each piece to a live listener.
//! Stream text is kept as a terminal shows it (see `terminal`) before it counts against the cap.

use codeact_protocol::{Output, StreamName};
use tokio::sync::mpsc;

use crate::terminal::Terminal;

/// Receives the outputs of one cell.
pub struct OutputSink {
    outputs: Vec<Output>,
    limit: usize,
    /// Bytes of stream text kept at the head so far.
    head_bytes: usize,
    /// Stream text past the head limit: only the last `limit / 2` bytes are kept.
    tail: Vec<(StreamName, String)>,
    tail_bytes: usize,
    dropped_bytes: u64,
    /// Whether any stream text was dropped by this sink.
    dropped_any: bool,
    cut_upstream: bool,
    live: Option<mpsc::UnboundedSender<Output>>,
    /// The open lines of stdout and stderr.
    terminals: [Terminal; 2],
}

impl OutputSink {
    /// A sink that keeps about `limit` bytes of stream text (half head, half tail).
    pub fn new(limit: usize) -> Self {
        Self {
            outputs: Vec::new(),
            limit: limit.max(64),
            head_bytes: 0,
            tail: Vec::new(),
            tail_bytes: 0,
            dropped_bytes: 0,
            dropped_any: false,
            cut_upstream: false,
            live: None,
            terminals: Default::default(),
        }
    }

    /// Also sends every output, as it arrives, to `tx` (for streaming clients).
    pub fn with_live(mut self, tx: mpsc::UnboundedSender<Output>) -> Self {
        self.live = Some(tx);
        self
    }

    /// Adds one output. Live listeners get it as it came (front ends render `\r` themselves);
    /// the collected outputs hold stream text as a terminal shows it.
    pub fn push(&mut self, out: Output) {
        if let Some(tx) = &self.live {
            let _ = tx.send(out.clone());
        }
        match out {
            Output::Stream { name, text } => {
                // What the other stream wrote before this comes before it.
                self.commit_open(other(name));
                let done = self.terminals[index(name)].feed(&text);
                self.push_stream(name, done);
                if self.terminals[index(name)].open_len() > self.limit / 2 {
                    // A line that never ends stops being editable rather than grow unbounded.
                    self.commit_open(name);
                }
            }
            other => {
                self.commit_open(StreamName::Stdout);
                self.commit_open(StreamName::Stderr);
                self.flush_tail();
                self.outputs.push(other);
            }
        }
    }

    fn commit_open(&mut self, name: StreamName) {
        let text = self.terminals[index(name)].take();
        self.push_stream(name, text);
    }

    fn push_stream(&mut self, name: StreamName, text: String) {
        if text.is_empty() {
            return;
        }
        let head_room = (self.limit / 2).saturating_sub(self.head_bytes);
        if self.tail.is_empty() && text.len() <= head_room {
            self.head_bytes += text.len();
            append_stream(&mut self.outputs, name, &text);
            return;
        }
        let (head, rest) = split_at_char(&text, if self.tail.is_empty() { head_room } else { 0 });
        if !head.is_empty() {
            self.head_bytes += head.len();
            append_stream(&mut self.outputs, name, head);
        }
        self.tail_bytes += rest.len();
        match self.tail.last_mut() {
            Some((n, t)) if *n == name => t.push_str(rest),
            _ => self.tail.push((name, rest.to_string())),
        }
        let keep = self.limit / 2;
        while self.tail_bytes > keep {
            self.dropped_any = true;
            let excess = self.tail_bytes - keep;
            let Some((_, first)) = self.tail.first_mut() else {
                break;
            };
            if first.len() <= excess {
                self.tail_bytes -= first.len();
                self.dropped_bytes += first.len() as u64;
                self.tail.remove(0);
            } else {
                let cut = ceil_char_boundary(first, excess);
                self.tail_bytes -= cut;
                self.dropped_bytes += cut as u64;
                first.drain(..cut);
            }
        }
    }

    /// Output that overflowed the head is placed, after a marker, before the next rich output.
    fn flush_tail(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        if self.dropped_bytes > 0 {
            let marker = format!(
                "\n[... {} bytes of output truncated ...]\n",
                self.dropped_bytes
            );
            let name = self.tail[0].0;
            self.outputs.push(Output::Stream { name, text: marker });
            self.dropped_bytes = 0;
        }
        for (name, text) in self.tail.drain(..) {
            append_stream(&mut self.outputs, name, &text);
        }
        self.tail_bytes = 0;
        // Later text starts a fresh head/tail budget of zero head room: keep tail semantics.
        self.head_bytes = self.limit;
    }

    /// Records that the producer already cut output before it reached the sink.
    pub fn mark_truncated(&mut self) {
        self.cut_upstream = true;
    }

    /// Whether any output was cut.
    pub fn truncated(&self) -> bool {
        self.cut_upstream || self.dropped_any
    }

    /// The collected outputs.
    pub fn finish(mut self) -> Vec<Output> {
        self.commit_open(StreamName::Stdout);
        self.commit_open(StreamName::Stderr);
        self.flush_tail();
        self.outputs
    }
}

fn index(name: StreamName) -> usize {
    match name {
        StreamName::Stdout => 0,
        StreamName::Stderr => 1,
    }
}

fn other(name: StreamName) -> StreamName {
    match name {
        StreamName::Stdout => StreamName::Stderr,
        StreamName::Stderr => StreamName::Stdout,
    }
}

fn append_stream(outputs: &mut Vec<Output>, name: StreamName, text: &str) {
    if let Some(Output::Stream { name: n, text: t }) = outputs.last_mut() {
        if *n == name {
            t.push_str(text);
            return;
        }
    }
    outputs.push(Output::Stream {
        name,
        text: text.to_string(),
    });
}

fn split_at_char(s: &str, at: usize) -> (&str, &str) {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.split_at(at)
}

fn ceil_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdout(s: &str) -> Output {
        Output::Stream {
            name: StreamName::Stdout,
            text: s.to_string(),
        }
    }

    #[test]
    fn merges_adjacent_stream_text() {
        let mut sink = OutputSink::new(1000);
        sink.push(stdout("a"));
        sink.push(stdout("b"));
        assert_eq!(sink.finish(), vec![stdout("ab")]);
    }

    #[test]
    fn keeps_head_and_tail_around_a_marker() {
        let mut sink = OutputSink::new(100);
        for i in 0..1000 {
            sink.push(stdout(&format!("line {i:04}\n")));
        }
        let out = sink.finish();
        let text: String = out.iter().map(Output::text).collect();
        assert!(text.starts_with("line 0000\n"));
        assert!(text.ends_with("line 0999\n"));
        assert!(text.contains("bytes of output truncated"));
        assert!(text.len() < 200, "{}", text.len());
    }

    #[test]
    fn never_splits_a_character() {
        let mut sink = OutputSink::new(64);
        for _ in 0..100 {
            sink.push(stdout("ééééé€€€"));
        }
        let text: String = sink.finish().iter().map(Output::text).collect();
        assert!(text.contains("truncated"));
    }

    #[test]
    fn keeps_stream_text_as_a_terminal_shows_it_in_order_with_rich_outputs() {
        let mut sink = OutputSink::new(1000);
        for i in 0..=100 {
            sink.push(stdout(&format!("\rprogress {i}%")));
        }
        sink.push(Output::Display {
            data: Default::default(),
            metadata: Default::default(),
        });
        sink.push(stdout("\x1b[32mgreen\x1b[0m\n"));
        assert!(!sink.truncated());
        let out = sink.finish();
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0], stdout("progress 100%"));
        assert_eq!(out[2], stdout("green\n"));
    }

    #[test]
    fn text_that_fits_is_not_called_truncated_even_after_a_long_head() {
        let mut sink = OutputSink::new(100);
        sink.push(stdout(&"x".repeat(80)));
        sink.push(Output::Display {
            data: Default::default(),
            metadata: Default::default(),
        });
        sink.push(stdout("after\n"));
        assert!(!sink.truncated());
        let text: String = sink.finish().iter().map(Output::text).collect();
        assert!(!text.contains("truncated"), "{text}");
    }
}
