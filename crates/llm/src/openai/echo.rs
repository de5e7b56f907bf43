//! The unfinished reply that a server streams back before its continuation: llama-server,
//! asked to continue a trailing assistant message, sends that message's text again first.
//! Other servers (vLLM) send only the continuation, so the text is removed only when the
//! stream really begins with it.

/// Filters the echoed unfinished reply out of the start of a stream.
#[derive(Debug, Default)]
pub(crate) struct EchoFilter {
    /// The unfinished reply; empty once the stream's start has been decided.
    expected: String,
    /// Streamed text withheld while it could still be the echo.
    seen: String,
}

impl EchoFilter {
    /// A filter for a continuation of `unfinished`; `None` passes everything through.
    pub(crate) fn new(unfinished: Option<&str>) -> Self {
        Self {
            expected: unfinished.unwrap_or_default().to_string(),
            seen: String::new(),
        }
    }

    /// Feeds the next piece; returns the text that is now known to be the continuation.
    pub(crate) fn push(&mut self, piece: &str) -> String {
        if self.expected.is_empty() {
            return piece.to_string();
        }
        self.seen.push_str(piece);
        if let Some(rest) = self.seen.strip_prefix(self.expected.as_str()) {
            let rest = rest.to_string();
            self.expected.clear();
            self.seen.clear();
            return rest;
        }
        if self.expected.starts_with(self.seen.as_str()) {
            return String::new();
        }
        // Not an echo: everything streamed is the continuation.
        self.expected.clear();
        std::mem::take(&mut self.seen)
    }

    /// At the end of the stream: whatever is still withheld, which was not an echo after all.
    pub(crate) fn finish(&mut self) -> String {
        self.expected.clear();
        std::mem::take(&mut self.seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(unfinished: Option<&str>, pieces: &[&str]) -> String {
        let mut f = EchoFilter::new(unfinished);
        let mut out: String = pieces.iter().map(|p| f.push(p)).collect();
        out.push_str(&f.finish());
        out
    }

    #[test]
    fn an_echo_is_removed_however_it_is_split() {
        let reply = "<execute>\ntag = \"</execute>";
        assert_eq!(
            run(Some(reply), &[reply, "\"\nprint(tag)\n"]),
            "\"\nprint(tag)\n"
        );
        assert_eq!(
            run(
                Some(reply),
                &["<exe", "cute>\ntag = \"</exe", "cute>\"", "\n"]
            ),
            "\"\n"
        );
        assert_eq!(run(Some(reply), &[reply]), "");
        // After the echo, text that looks like it again is the continuation's own.
        assert_eq!(run(Some("ab"), &["a", "bab", "ab"]), "abab");
    }

    #[test]
    fn a_stream_without_an_echo_passes_whole() {
        let reply = "<execute>\ntag = \"</execute>";
        assert_eq!(run(Some(reply), &["\"\n", "print(tag)"]), "\"\nprint(tag)");
        // It began like the reply, then went its own way.
        assert_eq!(run(Some(reply), &["<exe", "rcise"]), "<exercise");
        // It ended while it could still have been the echo.
        assert_eq!(run(Some(reply), &["<exe"]), "<exe");
        assert_eq!(run(None, &["a", "b"]), "ab");
        assert_eq!(run(Some(""), &["a"]), "a");
    }
}
