//! The agent handle: owns a conversation and its Python session, and starts runs that report
//! through a stream of [`AgentEvent`]s.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use codeact_exec::SessionManager;
use codeact_llm::LlmBackend;
use codeact_protocol::{AgentEvent, EndReason, ExecStatus};
use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{AgentConfig, Mode};
use crate::conversation::Conversation;
use crate::run::{Runner, State};
use crate::tools::ToolInfo;

/// What a run needs besides its conversation.
pub(crate) struct Inner {
    pub llm: Arc<dyn LlmBackend>,
    pub exec: Arc<SessionManager>,
    pub config: AgentConfig,
}

/// A CodeAct agent: one conversation, one Python session, one run at a time.
///
/// Cloning gives another handle to the same agent. Runs started while another is in progress
/// wait for it to end.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
    id: String,
    session_id: String,
    state: Arc<tokio::sync::Mutex<State>>,
}

impl Agent {
    /// A new, empty conversation. Nothing starts until the first run: the session is created
    /// then, and the preloaded modules and tools are loaded into it.
    pub fn new(llm: Arc<dyn LlmBackend>, exec: Arc<SessionManager>, config: AgentConfig) -> Self {
        let conv = Conversation::new(llm.name(), config.mode, config.session_id.clone());
        Self::with_conversation(llm, exec, config, conv, false)
    }

    /// Continues a saved conversation. Its messages are kept; the Python state is not (unless
    /// its session is still alive in `exec`), and the model is told so on the next run.
    pub fn resume(
        llm: Arc<dyn LlmBackend>,
        exec: Arc<SessionManager>,
        config: AgentConfig,
        conversation: Conversation,
    ) -> Self {
        Self::with_conversation(llm, exec, config, conversation, true)
    }

    fn with_conversation(
        llm: Arc<dyn LlmBackend>,
        exec: Arc<SessionManager>,
        config: AgentConfig,
        conv: Conversation,
        resumed: bool,
    ) -> Self {
        let id = conv.id.clone();
        let session_id = conv.session_id.clone();
        let state = State::new(conv, resumed);
        Self {
            inner: Arc::new(Inner { llm, exec, config }),
            id,
            session_id,
            state: Arc::new(tokio::sync::Mutex::new(state)),
        }
    }

    /// The conversation id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The Python session this agent runs code in.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// Chat mode: sends a user message; the run ends when the model replies without code
    /// ([`EndReason::Reply`]) or a limit is reached.
    pub fn send(&self, message: impl Into<String>) -> Run {
        self.start(Mode::Chat, message.into())
    }

    /// Task mode: runs until the model gives a `<solution>` ([`EndReason::Solution`], after a
    /// [`AgentEvent::FinalAnswer`]), the turn limit, or a reply with neither code nor solution
    /// after one reminder. With [`AgentConfig::self_consistency`] set, several attempts vote.
    pub fn run_task(&self, task: impl Into<String>) -> Run {
        self.start(Mode::Task, task.into())
    }

    fn start(&self, mode: Mode, text: String) -> Run {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let inner = self.inner.clone();
        let state = self.state.clone();
        let token = cancel.clone();
        tokio::spawn(async move {
            // The lock is released before `End` goes out, so that a caller reacting to `End`
            // with a new run does not wait on this one.
            let end = {
                let mut state = state.lock().await;
                let mut runner = Runner::new(&inner, &mut state, &tx, &token);
                let voting = inner
                    .config
                    .self_consistency
                    .clone()
                    .filter(|sc| mode == Mode::Task && sc.samples > 1);
                let end = match voting {
                    Some(sc) => crate::consistency::run_voting(&mut runner, text, &sc).await,
                    None => runner.run(mode, text).await,
                };
                runner.save();
                end
            };
            let _ = tx.send(AgentEvent::End { reason: end });
        });
        Run { rx, cancel }
    }

    /// A copy of the conversation as it stands (waits for a run in progress to end).
    pub async fn conversation(&self) -> Conversation {
        self.state.lock().await.conv.clone()
    }

    /// The tools loaded into the session (known after the first run has started).
    pub async fn tools(&self) -> Vec<ToolInfo> {
        self.state.lock().await.tools.clone()
    }

    /// Rebuilds the Python state in a fresh session: the old session ends, the new one is made
    /// ready as for a run (preloaded modules, tools), then `cells` run in order, as the code a
    /// conversation's branch ran. A failing cell does not stop the replay (it failed the first
    /// time too, or the state differs); the model is not told that state was lost, unless a
    /// replayed cell lost the session again. Returns how many cells raised.
    pub async fn rebuild_session(&self, cells: &[String]) -> Result<u32, crate::AgentError> {
        let mut state = self.state.lock().await;
        let exec = self.inner.exec.clone();
        let sid = state.conv.session_id.clone();
        let _ = exec.delete(&sid).await;
        state.ready = false;
        let mode = state.conv.mode;
        let (tx, _rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        Runner::new(&self.inner, &mut state, &tx, &cancel)
            .ensure_ready(mode)
            .await?;
        let mut failed = 0;
        let mut restarted = false;
        for cell in cells {
            let r = exec.execute(&sid, cell).await?;
            if crate::observe::failed(&r) {
                failed += 1;
            }
            restarted |= r.status == ExecStatus::Restarted;
        }
        // Getting ready found no session and noted for the model that the state is gone; the
        // replay brought it back, so the note would tell the model something false, unless
        // a replayed cell lost the session again (killed, out of memory, stuck).
        let reset = Some(crate::prompt::SESSION_RESET.to_string());
        if restarted {
            state.pending_note = reset;
        } else if state.pending_note == reset {
            state.pending_note = None;
        }
        Ok(failed)
    }

    /// Ends the Python session. The conversation stays usable: a later run starts a new session.
    pub async fn close(&self) {
        let mut state = self.state.lock().await;
        let _ = self.inner.exec.delete(&state.conv.session_id).await;
        state.ready = false;
    }
}

/// One run of the loop: a stream of events that always ends with [`AgentEvent::End`].
/// Dropping it cancels the run.
pub struct Run {
    rx: mpsc::UnboundedReceiver<AgentEvent>,
    cancel: CancellationToken,
}

/// Everything a run produced, for callers that do not stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub events: Vec<AgentEvent>,
    pub end: EndReason,
    pub final_answer: Option<String>,
}

impl Outcome {
    /// The number of model turns the run took.
    pub fn turns(&self) -> u32 {
        self.events
            .iter()
            .filter(|e| matches!(e, AgentEvent::TurnStarted { .. }))
            .count() as u32
    }
}

impl Run {
    /// Stops the run: generation is dropped, a running cell is interrupted, and the run ends
    /// with [`EndReason::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels this run, for a signal handler or another task.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The next event; `None` after `End`.
    pub async fn next_event(&mut self) -> Option<AgentEvent> {
        self.rx.recv().await
    }

    /// Waits for the end of the run and returns all its events.
    pub async fn finish(mut self) -> Outcome {
        let mut events = Vec::new();
        let mut end = EndReason::Error;
        let mut final_answer = None;
        while let Some(e) = self.rx.recv().await {
            match &e {
                AgentEvent::End { reason } => end = *reason,
                AgentEvent::FinalAnswer { text } => final_answer = Some(text.clone()),
                _ => {}
            }
            events.push(e);
        }
        Outcome {
            events,
            end,
            final_answer,
        }
    }
}

impl Stream for Run {
    type Item = AgentEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AgentEvent>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
