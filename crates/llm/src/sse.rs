//! An incremental parser for server-sent events, as streamed chat completions use them.
//!
//! Bytes arrive in arbitrary pieces, so lines are assembled across pieces; only `data`
//! (and `event`, for error events) matter here.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    /// A `\r` ended the previous piece; a `\n` starting the next belongs to it.
    skip_lf: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events they completed.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut bytes = bytes;
        if self.skip_lf {
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
            self.skip_lf = false;
        }
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b == b'\n' || b == b'\r' {
                let line = String::from_utf8_lossy(&self.buf[start..i]).into_owned();
                let mut next = i + 1;
                if b == b'\r' {
                    if next < self.buf.len() {
                        if self.buf[next] == b'\n' {
                            next += 1;
                        }
                    } else {
                        self.skip_lf = true;
                    }
                }
                if let Some(ev) = self.line(&line) {
                    events.push(ev);
                }
                start = next;
                i = next;
            } else {
                i += 1;
            }
        }
        self.buf.drain(..start);
        events
    }

    /// Ends the stream: an event without its closing blank line is still delivered.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let line = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            if let Some(ev) = self.line(&line) {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        self.data.take().map(|data| SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn parses_events_split_anywhere() {
        let input = b"data: {\"a\":1}\n\n: keep-alive\n\ndata: [DONE]\n\n";
        for split in 0..input.len() {
            let mut p = SseParser::default();
            let mut events = p.push(&input[..split]);
            events.extend(p.push(&input[split..]));
            events.extend(p.finish());
            assert_eq!(
                data(&events),
                vec!["{\"a\":1}", "[DONE]"],
                "split at {split}"
            );
        }
    }

    #[test]
    fn handles_crlf_and_cr_line_ends() {
        let input = b"data: x\r\n\r\ndata: y\r\rdata:z\n\n";
        for split in 0..input.len() {
            let mut p = SseParser::default();
            let mut events = p.push(&input[..split]);
            events.extend(p.push(&input[split..]));
            assert_eq!(data(&events), vec!["x", "y", "z"], "split at {split}");
        }
    }

    #[test]
    fn joins_multiline_data_and_keeps_event_name() {
        let mut p = SseParser::default();
        let events = p.push(b"event: error\ndata: one\ndata: two\n\n");
        assert_eq!(
            events,
            vec![SseEvent {
                event: Some("error".into()),
                data: "one\ntwo".into()
            }]
        );
    }

    #[test]
    fn delivers_unterminated_last_event() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: tail").is_empty());
        assert_eq!(p.finish().map(|e| e.data), Some("tail".into()));
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn multibyte_text_split_across_pieces() {
        let input = "data: {\"c\":\"日本\"}\n\n".as_bytes();
        let mut p = SseParser::default();
        let mut events = p.push(&input[..16]);
        events.extend(p.push(&input[16..]));
        assert_eq!(data(&events), vec!["{\"c\":\"日本\"}"]);
    }
}
