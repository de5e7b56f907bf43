//! Getting a session ready for a conversation: the preloaded modules, the user's tools, and
//! the system prompt that describes them.

use codeact_exec::{NetworkMode, SandboxMode};
use codeact_protocol::{BackendKind, Message, Role};

use crate::config::Mode;
use crate::observe;
use crate::prompt::{self, PromptContext};
use crate::run::Runner;
use crate::tools::{import_cell, parse_tool_listing, ToolModule};

impl Runner<'_> {
    /// Prepares the session (preloaded modules, tools) and the system prompt, once.
    pub(crate) async fn ensure_ready(&mut self, mode: Mode) -> Result<(), crate::AgentError> {
        let exec = &self.ctx.exec;
        let sid = self.state.conv.session_id.clone();
        let alive = exec.info(&sid).is_ok();
        if self.state.ready && alive {
            return Ok(());
        }
        let had_history = self.state.conv.messages.len() > 1;
        if !alive && had_history && (self.state.resumed || self.state.ready) {
            self.state.pending_note = Some(prompt::SESSION_RESET.to_string());
        }
        let cfg = &self.ctx.config;
        if let Some(cell) = import_cell(&cfg.preload_modules, cfg.preload_code.as_deref()) {
            let r = exec.execute(&sid, &cell).await?;
            if observe::failed(&r) {
                tracing::warn!(session = %sid, "preloading modules failed: {}", r.text());
            }
        }
        if let Some(path) = &cfg.tools_file {
            let module = ToolModule::from_file(path)?;
            let r = exec.execute(&sid, &module.load_cell()).await?;
            self.state.tools = parse_tool_listing(&r.text())?;
        }
        // A conversation rebuilt from fragments (a reply cut off by a crash keeps no
        // transcript) may lack its system prompt: it goes first, as in any conversation.
        let has_system = self
            .state
            .conv
            .messages
            .first()
            .is_some_and(|m| m.role == Role::System);
        if !has_system {
            let ctx = PromptContext {
                mode,
                style: cfg.prompt_style,
                network: self.network(),
                preloaded: &cfg.preload_modules,
                tools: &self.state.tools,
            };
            self.state
                .conv
                .messages
                .insert(0, Message::system(prompt::system_prompt(&ctx)));
        }
        self.state.ready = true;
        self.state.resumed = false;
        Ok(())
    }

    fn network(&self) -> bool {
        if let Some(n) = self.ctx.config.network {
            return n;
        }
        let exec = &self.ctx.exec;
        let policy = &exec.config().sandbox;
        exec.report().backend == BackendKind::Jupyter
            || policy.mode == SandboxMode::None
            || policy.network == NetworkMode::Egress
    }
}
