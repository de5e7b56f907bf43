//! What is running: the per-user cap on runs at once (cells through the API, agent requests),
//! and the server's stop, which running agent requests hear so that they end cleanly after
//! the grace period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use codeact_protocol::ErrorCode;
use tokio_util::sync::CancellationToken;

use crate::ApiError;

/// Runs in flight, by user.
#[derive(Debug, Default)]
pub struct Runs {
    by_user: Mutex<HashMap<String, usize>>,
    /// Cancelled when the grace period after the server's stop is over.
    pub stopping: CancellationToken,
}

/// One run: counted against its user until dropped.
#[derive(Debug)]
pub struct RunSlot {
    runs: Arc<Runs>,
    user: String,
}

impl Runs {
    /// A slot for a run of `user`; `too_many_runs` when the user already has `max` (0: no
    /// cap). The one user of a server without keys (`""`) is its operator: not capped.
    pub fn start(self: &Arc<Self>, user: &str, max: usize) -> Result<RunSlot, ApiError> {
        let mut by_user = self
            .by_user
            .lock()
            .map_err(|_| ApiError::new(ErrorCode::Internal, "run table poisoned"))?;
        let n = by_user.entry(user.to_string()).or_insert(0);
        if max > 0 && !user.is_empty() && *n >= max {
            return Err(ApiError::new(
                ErrorCode::TooManyRuns,
                format!("{max} runs of this user are in progress already; retry when one ends"),
            ));
        }
        *n += 1;
        Ok(RunSlot {
            runs: self.clone(),
            user: user.to_string(),
        })
    }

    /// Cancels `token` once the server's stop has given running requests their grace.
    pub fn cancel_on_stop(&self, token: CancellationToken) {
        cancel_when(self.stopping.clone(), token);
    }
}

/// Cancels `token` when `trigger` is cancelled; the watch ends with the token (a run's end
/// cancels its own).
pub fn cancel_when(trigger: CancellationToken, token: CancellationToken) {
    tokio::spawn(async move {
        tokio::select! {
            _ = trigger.cancelled() => token.cancel(),
            _ = token.cancelled() => {}
        }
    });
}

/// Replies being made in stored conversations: one at a time in each, stoppable by id.
#[derive(Debug, Default)]
pub struct Replies {
    running: Mutex<HashMap<String, CancellationToken>>,
}

/// A reply in progress; its conversation is free again when this is dropped.
#[derive(Debug)]
pub struct ReplyGuard {
    replies: Arc<Replies>,
    conversation: String,
    /// Cancelled by `POST …/stop`.
    pub stop: CancellationToken,
}

impl Replies {
    /// Claims `conversation` for a reply; `session_busy` while another is being made.
    pub fn begin(self: &Arc<Self>, conversation: &str) -> Result<ReplyGuard, ApiError> {
        let mut running = self
            .running
            .lock()
            .map_err(|_| ApiError::new(ErrorCode::Internal, "reply table poisoned"))?;
        if running.contains_key(conversation) {
            return Err(ApiError::new(
                ErrorCode::SessionBusy,
                "a reply is being made in this conversation; stop it or wait for it to end",
            ));
        }
        let stop = CancellationToken::new();
        running.insert(conversation.to_string(), stop.clone());
        Ok(ReplyGuard {
            replies: self.clone(),
            conversation: conversation.to_string(),
            stop,
        })
    }

    /// Stops the reply being made in `conversation`; false when there is none.
    pub fn stop(&self, conversation: &str) -> bool {
        let token = self
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(conversation).cloned());
        token.map(|t| t.cancel()).is_some()
    }

    pub fn is_running(&self, conversation: &str) -> bool {
        self.running
            .lock()
            .is_ok_and(|r| r.contains_key(conversation))
    }
}

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        if let Ok(mut running) = self.replies.running.lock() {
            running.remove(&self.conversation);
        }
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        if let Ok(mut by_user) = self.runs.by_user.lock() {
            if let Some(n) = by_user.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    by_user.remove(&self.user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_max_slots_and_gets_them_back() {
        let runs = Arc::new(Runs::default());
        let a = runs.start("alice", 2).unwrap();
        let _b = runs.start("alice", 2).unwrap();
        let refused = runs.start("alice", 2).unwrap_err();
        assert_eq!(refused.code, ErrorCode::TooManyRuns);
        assert!(runs.start("bob", 2).is_ok());
        drop(a);
        assert!(runs.start("alice", 2).is_ok());
        assert!(runs.start("carol", 0).is_ok());
        let operator: Vec<_> = (0..5).map(|_| runs.start("", 1)).collect();
        assert!(operator.iter().all(Result::is_ok));
    }
}
