//! Jupyter messaging protocol v5 as JSON over the WebSocket: building requests and turning
//! iopub messages into [`Output`]s.

use std::time::{SystemTime, UNIX_EPOCH};

use codeact_protocol::mime::is_json_type;
use codeact_protocol::{Metadata, MimeBundle, Output, StreamName};
use serde::Deserialize;
use serde_json::{json, Value};

/// The protocol version this client speaks.
const PROTOCOL_VERSION: &str = "5.3";

/// One message as the server sends it over the WebSocket (the JSON form carries `channel`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct WireMessage {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub header: Header,
    /// `{}` for messages that answer no request (e.g. the server's own status messages).
    #[serde(default)]
    pub parent_header: Value,
    #[serde(default)]
    pub content: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Header {
    #[serde(default)]
    pub msg_type: String,
}

impl WireMessage {
    pub fn msg_type(&self) -> &str {
        &self.header.msg_type
    }

    /// The msg_id of the request this message answers, if any.
    pub fn parent_id(&self) -> Option<&str> {
        self.parent_header
            .get("msg_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The client session of the request this message answers, if any.
    pub fn parent_session(&self) -> Option<&str> {
        self.parent_header.get("session").and_then(Value::as_str)
    }

    /// `execution_state` of a `status` message.
    pub fn execution_state(&self) -> Option<&str> {
        if self.msg_type() != "status" {
            return None;
        }
        self.content.get("execution_state").and_then(Value::as_str)
    }

    /// `content.status` of a reply (`ok`, `error`, `aborted`).
    pub fn reply_status(&self) -> &str {
        self.content
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Serialises a request for `channel` (`shell`, `control`).
pub(crate) fn request(
    session: &str,
    channel: &str,
    msg_type: &str,
    msg_id: &str,
    content: Value,
) -> String {
    json!({
        "channel": channel,
        "header": {
            "msg_id": msg_id,
            "username": "codeact",
            "session": session,
            "msg_type": msg_type,
            "version": PROTOCOL_VERSION,
            "date": iso_now(),
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "buffers": [],
    })
    .to_string()
}

/// The content of an `execute_request` for a user's cell.
pub(crate) fn execute_cell(code: &str) -> Value {
    json!({
        "code": code,
        "silent": false,
        "store_history": true,
        "user_expressions": {},
        "allow_stdin": false,
        "stop_on_error": true,
    })
}

/// The content of an `execute_request` the user should not see: no history entry, no execution
/// count, no `Out[]`, and a failure does not abort anything queued behind it.
pub(crate) fn execute_hidden(code: &str, user_expressions: Value) -> Value {
    json!({
        "code": code,
        "silent": true,
        "store_history": false,
        "user_expressions": user_expressions,
        "allow_stdin": false,
        "stop_on_error": false,
    })
}

/// The output an iopub message carries, if it is one (`stream`, `execute_result`,
/// `display_data`, `update_display_data`, `error`).
pub(crate) fn output(msg: &WireMessage) -> Option<Output> {
    let c = &msg.content;
    let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match msg.msg_type() {
        "stream" => {
            let name = match c.get("name").and_then(Value::as_str) {
                Some("stderr") => StreamName::Stderr,
                _ => StreamName::Stdout,
            };
            Some(Output::Stream {
                name,
                text: text("text"),
            })
        }
        "execute_result" => Some(Output::Result {
            execution_count: c
                .get("execution_count")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
            data: bundle(c.get("data")),
            metadata: metadata(c.get("metadata")),
        }),
        // An update replaces an earlier display in a notebook; a transcript can only append it.
        "display_data" | "update_display_data" => Some(Output::Display {
            data: bundle(c.get("data")),
            metadata: metadata(c.get("metadata")),
        }),
        "error" => Some(Output::Error {
            ename: text("ename"),
            evalue: strip_ansi(&text("evalue")),
            traceback: c
                .get("traceback")
                .and_then(Value::as_array)
                .map(|lines| {
                    lines
                        .iter()
                        .filter_map(Value::as_str)
                        .map(strip_ansi)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        _ => None,
    }
}

/// Parses one message from the server. Kernels send strings Python can hold but UTF-8 cannot
/// (a lone surrogate such as `\udc80` in an exception), which JSON parsers rightly refuse; each
/// lone surrogate escape becomes U+FFFD, so the message (perhaps the cell's reply) is not lost.
pub(crate) fn parse(text: &str) -> Result<WireMessage, serde_json::Error> {
    match serde_json::from_str(text) {
        Err(e) if text.contains("\\ud") || text.contains("\\uD") => {
            serde_json::from_str(&replace_lone_surrogates(text)).map_err(|_| e)
        }
        parsed => parsed,
    }
}

/// JSON text with each `\uXXXX` escape of an unpaired UTF-16 surrogate replaced by `\ufffd`.
fn replace_lone_surrogates(text: &str) -> String {
    let b = text.as_bytes();
    let escape_at = |i: usize| -> Option<u16> {
        if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(b.get(i + 2..i + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut plain = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escape_at(i) else {
            // Another escape (`\\`, `\"`, …): its second byte is never the start of one.
            i += 2;
            continue;
        };
        let high = (0xD800..0xDC00).contains(&unit);
        let low = (0xDC00..0xE000).contains(&unit);
        if high && escape_at(i + 6).is_some_and(|u| (0xDC00..0xE000).contains(&u)) {
            i += 12;
        } else if high || low {
            out.push_str(&text[plain..i]);
            out.push_str("\\ufffd");
            i += 6;
            plain = i;
        } else {
            i += 6;
        }
    }
    out.push_str(&text[plain..]);
    out
}

/// A stderr stream message saying that `n` outputs printed between cells were not kept.
pub(crate) fn late_outputs_dropped(n: usize) -> WireMessage {
    WireMessage {
        channel: "iopub".into(),
        header: Header {
            msg_type: "stream".into(),
        },
        parent_header: Value::Null,
        content: json!({
            "name": "stderr",
            "text": format!("[{n} more outputs printed between cells were dropped]\n"),
        }),
    }
}

/// Whether `out` is the notice a Jupyter server writes to stderr when it starts dropping a
/// kernel's output for exceeding its IOPub rate limits: the cell's output is then incomplete.
pub(crate) fn is_rate_limit_notice(out: &Output) -> bool {
    matches!(out, Output::Stream { name: StreamName::Stderr, text }
        if text.starts_with("IOPub data rate exceeded") || text.starts_with("IOPub message rate exceeded"))
}

/// Every representation of a rich output, as the protocol type carries them: JSON types as
/// JSON values; text as one string (nbformat-style kernels may send a list of lines); binary
/// types' base64 without the line breaks some kernels wrap it in.
fn bundle(data: Option<&Value>) -> MimeBundle {
    let Some(Value::Object(data)) = data else {
        return MimeBundle::new();
    };
    data.iter()
        .map(|(mime, v)| {
            let v = match v {
                _ if is_json_type(mime) => v.clone(),
                Value::Array(parts) if parts.iter().all(Value::is_string) => {
                    Value::String(parts.iter().filter_map(Value::as_str).collect())
                }
                Value::String(s) if is_base64_type(mime) => {
                    Value::String(s.chars().filter(|c| !c.is_ascii_whitespace()).collect())
                }
                v => v.clone(),
            };
            (mime.clone(), v)
        })
        .collect()
}

/// Whether `mime` is binary, sent as base64: images (but SVG, which is XML), audio, video, PDF.
/// Other types (`application/javascript`, …) are text whose whitespace matters.
fn is_base64_type(mime: &str) -> bool {
    (mime.starts_with("image/") && mime != "image/svg+xml")
        || mime.starts_with("audio/")
        || mime.starts_with("video/")
        || mime == "application/pdf"
}

fn metadata(md: Option<&Value>) -> Metadata {
    match md {
        Some(Value::Object(m)) => m.clone(),
        _ => Metadata::new(),
    }
}

/// Text as a terminal shows it: IPython colours tracebacks with ANSI codes.
pub(crate) fn strip_ansi(s: &str) -> String {
    crate::terminal::render(s)
}

/// The current time as ISO 8601 UTC, as the protocol's `date` header field wants it.
fn iso_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_codes() {
        let s = "\u{1b}[0;31mZeroDivisionError\u{1b}[0m: division by zero \u{1b}]8;;x\u{7}link\u{1b}]8;;\u{1b}\\";
        assert_eq!(strip_ansi(s), "ZeroDivisionError: division by zero link");
        assert_eq!(strip_ansi("plain é"), "plain é");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert!(iso_now().ends_with('Z'));
    }

    #[test]
    fn maps_iopub_messages() {
        let m: WireMessage = serde_json::from_value(json!({
            "channel": "iopub",
            "header": {"msg_type": "error", "msg_id": "x"},
            "parent_header": {"msg_id": "p"},
            "content": {"ename": "E", "evalue": "v", "traceback": ["\u{1b}[31mline\u{1b}[0m"]},
        }))
        .unwrap_or_default();
        assert_eq!(m.parent_id(), Some("p"));
        assert_eq!(
            output(&m),
            Some(Output::Error {
                ename: "E".into(),
                evalue: "v".into(),
                traceback: vec!["line".into()]
            })
        );
        let r: WireMessage = serde_json::from_value(json!({
            "channel": "iopub",
            "header": {"msg_type": "execute_result"},
            "parent_header": {},
            "content": {"execution_count": 3, "data": {"text/plain": "4", "image/png": "iVBO\nRw=="}},
        }))
        .unwrap_or_default();
        assert_eq!(r.parent_id(), None);
        assert_eq!(
            output(&r),
            Some(Output::Result {
                execution_count: Some(3),
                data: MimeBundle::plain("4").with("image/png", "iVBORw=="),
                metadata: Metadata::new(),
            })
        );
        // Every type is kept: text as one string, JSON as JSON, SVG as it is; and metadata.
        let d: WireMessage = serde_json::from_value(json!({
            "channel": "iopub",
            "header": {"msg_type": "display_data"},
            "content": {
                "data": {
                    "text/plain": ["<HTML ", "object>"],
                    "text/html": "<b>x</b>\n",
                    "image/svg+xml": "<svg>\n</svg>",
                    "image/jpeg": "/9j/\n4A==",
                    "application/json": {"a": [1, null]},
                    "application/vnd.custom+json": ["x"],
                },
                "metadata": {"image/jpeg": {"width": 10}},
            },
        }))
        .unwrap_or_default();
        let expected = MimeBundle::plain("<HTML object>")
            .with("text/html", "<b>x</b>\n")
            .with("image/svg+xml", "<svg>\n</svg>")
            .with("image/jpeg", "/9j/4A==")
            .with("application/json", json!({"a": [1, null]}))
            .with("application/vnd.custom+json", json!(["x"]));
        match output(&d) {
            Some(Output::Display { data, metadata }) => {
                assert_eq!(data, expected);
                assert_eq!(metadata["image/jpeg"]["width"], 10);
            }
            o => panic!("not a display: {o:?}"),
        }
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let cases = [
            (r#"{"a":"x\udc80y"}"#, "x\u{fffd}y"),
            (r#"{"a":"\ud800"}"#, "\u{fffd}"),
            (r#"{"a":"\ud83d\ude00 ok"}"#, "\u{1f600} ok"),
            (r#"{"a":"\\udc80"}"#, "\\udc80"),
            (r#"{"a":"\ude00\ud83d"}"#, "\u{fffd}\u{fffd}"),
            (r#"{"a":"\uDFFF end"}"#, "\u{fffd} end"),
        ];
        for (raw, expected) in cases {
            let fixed = replace_lone_surrogates(raw);
            let v: Value = serde_json::from_str(&fixed).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(v["a"], expected, "{raw}");
        }
        let m = parse(r#"{"channel":"iopub","header":{"msg_type":"error"},"content":{"ename":"ValueError","evalue":"\udc80","traceback":[]}}"#)
            .unwrap();
        assert_eq!(m.content["evalue"], "\u{fffd}");
    }
}
