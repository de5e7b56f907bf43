//! A model that replays replies from a file, for running an evaluation's or the agent's
//! protocol end to end without a model (conformance runs, harness speed, load). Its replies
//! are whatever the file says; it never stands in for a model's answer in a result.
//!
//! The file is JSON Lines, one rule per line:
//!
//! ```json
//! {"first": "Instruction: Decode ...", "replies": ["Action:\nprint(1)\nEnd Action", "Answer: {{last_message}}"]}
//! {"last": "Response: {'token'", "reply": "[GetToday()]"}
//! ```
//!
//! A request is answered by the first rule whose `system` occurs in its system message, whose
//! `first` occurs in its first non-system message and whose `last` occurs in its last message
//! (an absent field matches anything).
//! The reply is `replies[n]`, where n counts the assistant messages after that first message
//! (the last reply again once they run out); `reply` is one reply for every turn. In a reply,
//! `{{last_message}}` stands for the content of the request's last message, so a script can
//! answer with what the previous action printed. `delay_ms` makes a rule's replies wait that
//! long before they stream, as a model's latency would (load runs); it costs no CPU.

use std::path::Path;

use async_trait::async_trait;
use codeact_protocol::{Message, Role};
use serde::Deserialize;

use crate::{BoxChunkStream, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError, Usage};

/// Replaced by the content of the request's last message.
pub const LAST_MESSAGE: &str = "{{last_message}}";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    first: Option<String>,
    #[serde(default)]
    last: Option<String>,
    #[serde(default)]
    replies: Vec<String>,
    #[serde(default)]
    reply: Option<String>,
    /// Milliseconds each reply waits before it streams.
    #[serde(default)]
    delay_ms: u64,
}

/// The replaying model; see the module documentation for the file format.
#[derive(Debug, Clone)]
pub struct ScriptBackend {
    rules: Vec<Rule>,
    name: String,
}

impl ScriptBackend {
    pub fn from_file(path: &Path) -> Result<Self, LlmError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LlmError::Model(format!("cannot read the script {}: {e}", path.display()))
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&text, &name)
    }

    /// Reads the rules of a script; `name` and a hash of `text` make the backend's name
    /// (`script:NAME@HASH8`), so that results of one script never pass for another's.
    pub fn parse(text: &str, name: &str) -> Result<Self, LlmError> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let rule: Rule = serde_json::from_str(line)
                .map_err(|e| LlmError::Model(format!("script line {}: {e}", i + 1)))?;
            if rule.replies.is_empty() == rule.reply.is_none() {
                return Err(LlmError::Model(format!(
                    "script line {}: a rule needs either `reply` or a non-empty `replies`",
                    i + 1
                )));
            }
            rules.push(rule);
        }
        if rules.is_empty() {
            return Err(LlmError::Model("the script holds no rule".into()));
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            rules,
            name: format!("script:{name}@{hash}"),
        })
    }

    /// The reply to `messages`, or `None` when no rule matches.
    pub fn reply_to(&self, messages: &[Message]) -> Option<String> {
        self.answer(messages).map(|(text, _)| text)
    }

    /// The reply to `messages` and its rule's delay.
    fn answer(&self, messages: &[Message]) -> Option<(String, std::time::Duration)> {
        let system = messages
            .iter()
            .find(|m| m.role == Role::System)
            .map_or("", |m| m.content.as_str());
        let start = messages.iter().position(|m| m.role != Role::System)?;
        let first = &messages[start].content;
        let last = &messages.last()?.content;
        let turn = messages[start..]
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let rule = self.rules.iter().find(|r| {
            r.system
                .as_ref()
                .is_none_or(|s| system.contains(s.as_str()))
                && r.first.as_ref().is_none_or(|f| first.contains(f.as_str()))
                && r.last.as_ref().is_none_or(|l| last.contains(l.as_str()))
        })?;
        let text = match &rule.reply {
            Some(r) => r,
            None => rule.replies.get(turn).or(rule.replies.last())?,
        };
        let delay = std::time::Duration::from_millis(rule.delay_ms);
        Some((text.replace(LAST_MESSAGE, last), delay))
    }
}

#[async_trait]
impl LlmBackend for ScriptBackend {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn stream(&self, request: CompletionRequest) -> Result<BoxChunkStream, LlmError> {
        let (text, delay) = self.answer(&request.messages).ok_or_else(|| {
            LlmError::Rejected("the script has no rule for this conversation".into())
        })?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let usage = Usage {
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_tokens: 0,
        };
        let chunks = vec![
            Ok(Chunk::Delta(text)),
            Ok(Chunk::Done {
                finish: FinishReason::Stop { sequence: None },
                usage,
            }),
        ];
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> ScriptBackend {
        ScriptBackend::parse(text, "t").unwrap()
    }

    #[test]
    fn rules_match_the_first_and_last_messages_and_count_turns() {
        let s = script(concat!(
            r#"{"first": "task A", "replies": ["one", "two: {{last_message}}"]}"#,
            "\n",
            r#"{"last": "ping", "reply": "pong"}"#,
            "\n"
        ));
        let mut conv = vec![Message::system("sys"), Message::user("do task A")];
        assert_eq!(s.reply_to(&conv).as_deref(), Some("one"));
        conv.push(Message::assistant("one"));
        conv.push(Message::user("42"));
        assert_eq!(s.reply_to(&conv).as_deref(), Some("two: 42"));
        conv.push(Message::assistant("two"));
        conv.push(Message::user("43"));
        assert_eq!(s.reply_to(&conv).as_deref(), Some("two: 43"));
        let other = vec![
            Message::user("x"),
            Message::assistant("y"),
            Message::user("ping"),
        ];
        assert_eq!(s.reply_to(&other).as_deref(), Some("pong"));
        assert_eq!(s.reply_to(&[Message::user("nothing")]), None);
    }

    #[tokio::test]
    async fn a_rules_delay_holds_its_reply_back() {
        let s = script(r#"{"reply": "late", "delay_ms": 200}"#);
        let t = std::time::Instant::now();
        let request = CompletionRequest {
            messages: vec![Message::user("hi")],
            ..CompletionRequest::default()
        };
        let mut stream = s.stream(request).await.unwrap();
        // A lower bound only: a sleep never ends early, however busy the machine.
        assert!(t.elapsed() >= std::time::Duration::from_millis(200));
        match futures::StreamExt::next(&mut stream).await {
            Some(Ok(Chunk::Delta(text))) => assert_eq!(text, "late"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_scripts_name_the_line() {
        let err = ScriptBackend::parse("{\"first\": \"a\", \"reply\": \"b\"}\n{\"first\": 1}", "t")
            .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        for bad in [
            "{\"first\": \"a\"}",
            "{\"replies\": []}",
            "{\"reply\": \"a\", \"replies\": [\"b\"]}",
        ] {
            let err = ScriptBackend::parse(bad, "t").unwrap_err();
            assert!(err.to_string().contains("either"), "{err}");
        }
        let err = ScriptBackend::parse("\n", "t").unwrap_err();
        assert!(err.to_string().contains("no rule"), "{err}");
    }
}
