//! Stop sequences over streamed text, and UTF-8 reassembly of token bytes.
//!
//! A stop string may arrive split over several tokens, so text that could be the start of
//! one is withheld until the next piece shows whether it is.

/// Finds the first stop sequence in a stream of text pieces.
#[derive(Debug, Clone)]
pub(crate) struct StopMatcher {
    stops: Vec<String>,
    /// Text received but not yet released because it may begin a stop sequence.
    pending: String,
}

/// What a piece of text released, and whether it completed a stop sequence.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Released {
    pub text: String,
    pub stopped: Option<String>,
}

impl StopMatcher {
    pub(crate) fn new(stops: &[String]) -> Self {
        let stops = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        Self {
            stops,
            pending: String::new(),
        }
    }

    /// Feeds the next piece; returns the text that is now safe to show.
    pub(crate) fn push(&mut self, piece: &str) -> Released {
        self.pending.push_str(piece);
        if self.stops.is_empty() {
            return Released {
                text: std::mem::take(&mut self.pending),
                stopped: None,
            };
        }
        // The earliest match wins; among matches at the same place, the longest.
        let mut best: Option<(usize, &String)> = None;
        for stop in &self.stops {
            if let Some(at) = self.pending.find(stop.as_str()) {
                let better = match best {
                    None => true,
                    Some((b_at, b_stop)) => at < b_at || (at == b_at && stop.len() > b_stop.len()),
                };
                if better {
                    best = Some((at, stop));
                }
            }
        }
        if let Some((at, stop)) = best {
            let stop = stop.clone();
            let mut text = std::mem::take(&mut self.pending);
            text.truncate(at);
            return Released {
                text,
                stopped: Some(stop),
            };
        }
        let keep = self.partial_suffix_len();
        let split = self.pending.len() - keep;
        let rest = self.pending.split_off(split);
        let text = std::mem::replace(&mut self.pending, rest);
        Released {
            text,
            stopped: None,
        }
    }

    /// Releases whatever is still withheld, at the end of generation.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// The length of the longest suffix of `pending` that is a proper prefix of a stop string.
    fn partial_suffix_len(&self) -> usize {
        let mut longest = 0;
        for (start, _) in self.pending.char_indices() {
            let suffix = &self.pending[start..];
            if self
                .stops
                .iter()
                .any(|s| s.len() > suffix.len() && s.starts_with(suffix))
            {
                longest = suffix.len();
                break;
            }
        }
        longest
    }
}

/// Where the beginning of a stop string left at the end of `text` starts, if any, looking past
/// trailing whitespace: a server that stopped on `</execute>` may already have streamed
/// `</exe`, or `</exe` and a newline. A whole stop string does not count.
pub fn trailing_partial_stop(text: &str, stops: &[String]) -> Option<usize> {
    let partial_at = |t: &str| {
        t.char_indices().map(|(i, _)| i).find(|&i| {
            let suffix = &t[i..];
            stops
                .iter()
                .any(|s| s.len() > suffix.len() && s.starts_with(suffix))
        })
    };
    partial_at(text).or_else(|| partial_at(text.trim_end()))
}

/// Turns token byte pieces into text without splitting multi-byte characters.
#[derive(Debug, Default)]
pub(crate) struct Utf8Assembler {
    pending: Vec<u8>,
}

impl Utf8Assembler {
    /// Appends bytes; returns the longest complete UTF-8 text now available.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(text) => {
                let text = text.to_owned();
                self.pending.clear();
                text
            }
            Err(err) => {
                let valid = err.valid_up_to();
                // A sequence that can never become valid is replaced rather than held forever.
                if err.error_len().is_some() {
                    let text = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    return text;
                }
                let rest = self.pending.split_off(valid);
                let done = std::mem::replace(&mut self.pending, rest);
                String::from_utf8_lossy(&done).into_owned()
            }
        }
    }

    /// Whatever incomplete bytes remain, made printable.
    pub(crate) fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, Option<String>) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for p in pieces {
            let r = m.push(p);
            out.push_str(&r.text);
            if r.stopped.is_some() {
                return (out, r.stopped);
            }
        }
        out.push_str(&m.finish());
        (out, None)
    }

    #[test]
    fn no_stops_passes_through() {
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), None));
    }

    #[test]
    fn stop_inside_one_piece() {
        assert_eq!(
            run(&["```"], &["print(1)\n```\nmore"]),
            ("print(1)\n".into(), Some("```".into()))
        );
    }

    #[test]
    fn stop_split_over_pieces_is_withheld() {
        let stops = vec!["</execute>".to_string()];
        let mut m = StopMatcher::new(&stops);
        assert_eq!(m.push("x = 1 </ex").text, "x = 1 ");
        let r = m.push("ecute> tail");
        assert_eq!(
            r,
            Released {
                text: String::new(),
                stopped: Some("</execute>".into())
            }
        );
    }

    #[test]
    fn false_alarm_is_released() {
        assert_eq!(
            run(&["STOP"], &["ST", "OP"]),
            (String::new(), Some("STOP".into()))
        );
        assert_eq!(run(&["STOP"], &["ST", "ART"]), ("START".into(), None));
        assert_eq!(run(&["STOP"], &["abc S"]), ("abc S".into(), None));
    }

    #[test]
    fn a_partial_stop_at_the_end_is_found() {
        let stops = vec!["</execute>".to_string(), "```".to_string()];
        let stop = "</execute>";
        for n in 1..stop.len() {
            let text = format!("print(1)\n{}", &stop[..n]);
            assert_eq!(trailing_partial_stop(&text, &stops), Some(9), "{text:?}");
            for ws in [" ", "\n", " \n\t"] {
                let text = format!("{text}{ws}");
                assert_eq!(trailing_partial_stop(&text, &stops), Some(9), "{text:?}");
            }
        }
        assert_eq!(trailing_partial_stop("a ``", &stops), Some(2));
        assert_eq!(trailing_partial_stop("x = 1 <", &stops), Some(6));
        // A whole stop, text that merely contains one, and text without one.
        assert_eq!(trailing_partial_stop("print(1)\n</execute>", &stops), None);
        assert_eq!(trailing_partial_stop("</ex> done", &stops), None);
        assert_eq!(trailing_partial_stop("print(1)\n", &stops), None);
        assert_eq!(trailing_partial_stop("", &stops), None);
        assert_eq!(trailing_partial_stop("a <", &[]), None);
    }

    #[test]
    fn earliest_stop_wins() {
        assert_eq!(run(&["b", "a"], &["xab"]), ("x".into(), Some("a".into())));
    }

    #[test]
    fn multibyte_text_is_split_on_char_boundaries() {
        assert_eq!(
            run(&["é!"], &["café", "é", "!"]),
            ("café".into(), Some("é!".into()))
        );
        assert_eq!(run(&["ü"], &["日本", "語"]), ("日本語".into(), None));
    }

    #[test]
    fn utf8_assembler_waits_for_whole_characters() {
        let mut a = Utf8Assembler::default();
        let bytes = "é".as_bytes();
        assert_eq!(a.push(&bytes[..1]), "");
        assert_eq!(a.push(&bytes[1..]), "é");
        assert_eq!(a.push(b"ok"), "ok");
        assert_eq!(a.push(&[0xe6]), "");
        assert_eq!(a.finish(), "\u{fffd}");
        assert_eq!(a.push(&[0xff, b'a']), "\u{fffd}a");
    }
}
