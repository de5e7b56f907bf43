//! The act step of a turn: run the reply's code blocks, classify how each cell went, write the
//! notes the model gets with the output (hints after failures, the answer reminder), and send it
//! all back as one user message.

use std::collections::HashSet;

use codeact_exec::ExecError;
use codeact_protocol::{AgentEvent, EndReason, ExecResult, ExecStatus, ImagePart, Message, Output};

use crate::config::Mode;
use crate::error::exec_error_code;
use crate::observe::{self, CellView};
use crate::parse::{Action, ParsedReply};
use crate::prompt;
use crate::run::{Progress, Runner};

/// How one cell went, as far as what the loop does next depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CellOutcome {
    /// It ran to its end and the model sees a result: what it printed, or the value of the
    /// variable it ended by assigning.
    Printed,
    /// It ran to its end and printed nothing.
    Silent,
    /// It did not run to its end.
    Failed(Failure),
}

/// A cell that did not run to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// How it ended: `Error` (it raised), `Interrupted` (time limit) or `Restarted` (the session
    /// died and its state is lost); never `Ok`.
    pub status: ExecStatus,
    /// What it repeats of this run's earlier failures.
    pub repeat: Option<Repeat>,
    /// The name of the `NameError` that ended it.
    pub undefined_name: Option<String>,
}

/// A failure that this run has seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// The code is the code that failed before ([`normalize_code`] equal).
    SameCode,
    /// Other code failed with the error type and message seen before.
    SameError,
}

impl CellOutcome {
    pub fn failed(&self) -> bool {
        matches!(self, CellOutcome::Failed(_))
    }
}

/// What the failures of a run have been so far.
#[derive(Debug, Default)]
pub(crate) struct FailureLog {
    /// Failed cells, normalized.
    codes: HashSet<String>,
    /// Errors, as `observe::error_signature` gives them.
    errors: HashSet<String>,
}

/// Classifies a cell from its result, its code and whether the model sees a result
/// (`printed`), and logs it if it failed.
fn classify(result: &ExecResult, code: &str, printed: bool, log: &mut FailureLog) -> CellOutcome {
    if !observe::failed(result) {
        return if printed {
            CellOutcome::Printed
        } else {
            CellOutcome::Silent
        };
    }
    // Both are logged whichever is reported.
    let same_code = !log.codes.insert(normalize_code(code));
    let same_error = observe::error_signature(result).is_some_and(|sig| !log.errors.insert(sig));
    let repeat = if same_code {
        Some(Repeat::SameCode)
    } else if same_error {
        Some(Repeat::SameError)
    } else {
        None
    };
    CellOutcome::Failed(Failure {
        status: result.status,
        repeat,
        undefined_name: observe::undefined_name(result),
    })
}

/// Adds the notes a failure calls for to `notes`, each repeat note once per message. Returns
/// whether it added a repeat note, after which the next reply is sampled less greedily.
fn failure_notes(f: &Failure, code: &str, request: &str, notes: &mut Vec<String>) -> bool {
    let mut stuck = false;
    let repeat = f.repeat.map(|r| match r {
        Repeat::SameCode => prompt::SAME_CODE_AGAIN,
        Repeat::SameError => prompt::SAME_ERROR_AGAIN,
    });
    if let Some(note) = repeat.filter(|n| !notes.iter().any(|m| m == n)) {
        notes.push(note.to_string());
        stuck = true;
    }
    if let Some(name) = &f.undefined_name {
        // Small models call helpers that do not exist, and drop the quotes around a word they
        // were asked about.
        if code.contains(&format!("{name}(")) {
            notes.push(prompt::define_hint(name));
        } else if request.contains(name.as_str()) {
            notes.push(prompt::quote_hint(name));
        }
    }
    stuck
}

/// Failing code compared without regard to blank lines and trailing spaces.
pub(crate) fn normalize_code(code: &str) -> String {
    code.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What one act step sends back to the model, as it is gathered.
#[derive(Default)]
struct Draft {
    /// The text of each cell run, as the model sees it.
    cells: Vec<String>,
    images: Vec<ImagePart>,
    /// Hints and notes after the output, in order.
    notes: Vec<String>,
}

impl Runner<'_> {
    /// Runs the reply's code blocks in order and sends their output back as one message. Stops
    /// after a failed block (the later ones were written without knowing it would fail), at the
    /// chat mode's execution limit, or on cancellation.
    pub(crate) async fn act(
        &mut self,
        mode: Mode,
        parsed: &ParsedReply,
        p: &mut Progress,
    ) -> Result<(), EndReason> {
        let mut draft = Draft::default();
        let mut last = None;
        let mut cancelled = false;
        for (k, action) in parsed.actions.iter().enumerate() {
            if mode == Mode::Chat && p.executions >= self.ctx.config.limits.max_executions {
                break;
            }
            let (result, was_cancelled) = self.run_action(action, p).await?;
            let mut view = self.view(&result, &action.code, k).await;
            let printed = view.text != prompt::EMPTY_OUTPUT;
            let outcome = classify(&result, &action.code, printed, &mut p.failures);
            if let CellOutcome::Failed(f) = &outcome {
                view.text.push('\n');
                view.text.push_str(prompt::AFTER_ERROR);
                if failure_notes(f, &action.code, &p.request, &mut draft.notes) {
                    p.stuck = true;
                }
            }
            let skip_rest = outcome.failed() && k + 1 < parsed.actions.len();
            if skip_rest {
                view.text.push('\n');
                view.text
                    .push_str(&prompt::skipped_blocks(parsed.actions.len() - k - 1));
            }
            self.emit(AgentEvent::Observation {
                text: view.text.clone(),
                result: result.clone(),
                images: view.files.clone(),
            });
            draft.cells.push(view.text);
            draft.images.extend(view.images);
            if result.status == ExecStatus::Restarted {
                self.reload(mode).await;
            }
            last = Some(outcome);
            if was_cancelled {
                cancelled = true;
                break;
            }
            if skip_rest {
                break;
            }
        }
        if mode == Mode::Task && parsed.premature_solution() {
            draft.notes.push(prompt::SOLUTION_TOO_EARLY.to_string());
        }
        // A small model that got its result tends to keep writing code instead of answering.
        let remind = mode == Mode::Task
            && self.ctx.config.answer_reminder
            && last == Some(CellOutcome::Printed)
            && !cancelled
            && draft.notes.is_empty();
        self.send_observation(draft, remind);
        p.last_cell = last;
        p.questioned = false;
        if cancelled || self.cancel.is_cancelled() {
            return Err(EndReason::Cancelled);
        }
        Ok(())
    }

    /// Runs one action, counted against the run's limits. A failure of the engine (not of the
    /// code) ends the run.
    async fn run_action(
        &self,
        action: &Action,
        p: &mut Progress,
    ) -> Result<(ExecResult, bool), EndReason> {
        self.emit(AgentEvent::CodeAction {
            code: action.code.clone(),
            origin: action.origin,
        });
        p.executions += 1;
        p.ran_codes.insert(normalize_code(&action.code));
        self.execute(&action.code).await.map_err(|e| {
            self.emit(AgentEvent::Error {
                code: exec_error_code(&e),
                message: format!("running the code failed: {e}"),
            });
            EndReason::Error
        })
    }

    /// What the model sees of the `k`-th cell of this turn (0-based), before any note.
    async fn view(&self, result: &ExecResult, code: &str, k: usize) -> CellView {
        let image_dir = observe::image_dir(&self.ctx.config.output_dir, &self.state.conv.id);
        let limit = self.ctx.config.limits.observation_chars;
        let stem = format!("turn{}-cell{}", self.state.turns_total, k + 1);
        let mut view = CellView {
            text: String::new(),
            images: Vec::new(),
            files: Vec::new(),
        };
        let mut saved = Vec::new();
        for file in observe::image_files(result, &image_dir, &stem) {
            saved.push(self.save_image(&file).await);
            let Ok(bytes) = &file.bytes else { continue };
            // The user's copy (shown by the CLI, attached for models that take images); the
            // model itself is told the session's copy.
            match observe::save_host_copy(&file.host_path, bytes) {
                Ok(()) => {
                    let path = file.host_path.display().to_string();
                    view.files.push(path.clone());
                    if let Some(png_base64) = file.png_base64 {
                        view.images.push(ImagePart { path, png_base64 });
                    }
                }
                Err(e) => tracing::warn!("could not save {}: {e}", file.host_path.display()),
            }
        }
        view.text = observe::render(result, &saved, limit);
        if view.text == prompt::EMPTY_OUTPUT {
            if let Some(shown) = self.show_assigned(code, limit).await {
                view.text = shown;
            }
        }
        view
    }

    /// Saves an image a cell displayed into the session's working directory, where the model's
    /// code can open it: the path it was saved to, or why it was not.
    async fn save_image(&self, file: &observe::ImageFile) -> Result<String, String> {
        let bytes = file.bytes.as_ref().map_err(Clone::clone)?;
        self.ctx
            .exec
            .write_file(&self.state.conv.session_id, &file.session_path, bytes)
            .await
            .map(|()| file.session_path.clone())
            .map_err(|e| e.to_string())
    }

    /// The restart lost the preloaded modules and tools: loads them again. A failure is
    /// reported; the run goes on.
    async fn reload(&mut self, mode: Mode) {
        self.state.ready = false;
        if let Err(e) = self.ensure_ready(mode).await {
            self.emit(AgentEvent::Error {
                code: e.code(),
                message: format!("reloading the session failed: {e}"),
            });
        }
    }

    /// Sends the cells' output, the reminder to answer when `remind`, then the notes, as one
    /// user message.
    fn send_observation(&mut self, draft: Draft, remind: bool) {
        let mut content = prompt::observation_message(&draft.cells);
        if remind {
            content.push_str("\n\n");
            content.push_str(prompt::ANSWER_REMINDER);
        }
        for n in &draft.notes {
            self.emit(AgentEvent::Feedback { text: n.clone() });
            content.push_str("\n\n");
            content.push_str(n);
        }
        let mut msg = Message::user(content);
        if self.ctx.llm.accepts_images() {
            msg.images = draft.images;
        }
        self.push(msg);
    }

    /// For a cell that printed nothing and ended by assigning a variable: the observation with
    /// that variable's value, read back from the session.
    async fn show_assigned(&self, code: &str, limit: usize) -> Option<String> {
        let name = observe::assigned_name(code)?;
        let sid = &self.state.conv.session_id;
        let probe = self
            .ctx
            .exec
            .execute(sid, &format!("print(repr({name}))"))
            .await
            .ok()?;
        if observe::failed(&probe) {
            return None;
        }
        let value: String = probe
            .outputs
            .iter()
            .filter_map(|o| match o {
                Output::Stream { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let value = observe::cap(value.trim_end(), limit);
        (!value.is_empty()).then(|| prompt::empty_output_with_value(&name, &value))
    }

    /// Runs one cell; on cancellation the cell is interrupted and its partial result kept, and
    /// the flag says so.
    async fn execute(&self, code: &str) -> Result<(ExecResult, bool), ExecError> {
        let sid = self.state.conv.session_id.clone();
        let fut = self.ctx.exec.execute(&sid, code);
        tokio::pin!(fut);
        tokio::select! {
            r = &mut fut => Ok((r?, false)),
            _ = self.cancel.cancelled() => {
                let _ = self.ctx.exec.interrupt(&sid).await;
                Ok((fut.await?, true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: ExecStatus, error: Option<(&str, &str)>) -> ExecResult {
        ExecResult {
            status,
            outputs: error
                .map(|(ename, evalue)| Output::Error {
                    ename: ename.into(),
                    evalue: evalue.into(),
                    traceback: vec![],
                })
                .into_iter()
                .collect(),
            duration_ms: 1.0,
            new_session: false,
            notice: None,
        }
    }

    #[test]
    fn cells_are_classified_by_status_output_and_history() {
        let mut log = FailureLog::default();
        let ok = result(ExecStatus::Ok, None);
        assert_eq!(classify(&ok, "x = 1", true, &mut log), CellOutcome::Printed);
        assert_eq!(classify(&ok, "x = 1", false, &mut log), CellOutcome::Silent);
        let name_error = result(
            ExecStatus::Error,
            Some(("NameError", "name 'foo' is not defined")),
        );
        let first = classify(&name_error, "foo()", true, &mut log);
        assert_eq!(
            first,
            CellOutcome::Failed(Failure {
                status: ExecStatus::Error,
                repeat: None,
                undefined_name: Some("foo".into()),
            })
        );
        let again = |code, log: &mut FailureLog| match classify(&name_error, code, true, log) {
            CellOutcome::Failed(f) => f.repeat,
            _ => None,
        };
        assert_eq!(again("foo()\n\n", &mut log), Some(Repeat::SameCode));
        assert_eq!(again("y = foo()", &mut log), Some(Repeat::SameError));
        // A restart is a failure even though the engine drops its error output.
        let restarted = result(ExecStatus::Restarted, None);
        assert!(classify(&restarted, "boom()", true, &mut log).failed());
    }

    #[test]
    fn a_repeat_note_is_given_once_per_message_and_hints_follow_it() {
        let f = Failure {
            status: ExecStatus::Error,
            repeat: Some(Repeat::SameError),
            undefined_name: Some("word".into()),
        };
        let mut notes = Vec::new();
        assert!(failure_notes(
            &f,
            "print(word)",
            "count the letters of word",
            &mut notes
        ));
        assert!(!failure_notes(&f, "is_x(word)", "", &mut notes));
        assert_eq!(
            notes,
            [
                prompt::SAME_ERROR_AGAIN.to_string(),
                prompt::quote_hint("word"),
            ]
        );
        let mut notes = Vec::new();
        let g = Failure {
            repeat: None,
            undefined_name: Some("is_prime".into()),
            ..f
        };
        assert!(!failure_notes(&g, "print(is_prime(7))", "", &mut notes));
        assert_eq!(notes, [prompt::define_hint("is_prime")]);
    }
}
