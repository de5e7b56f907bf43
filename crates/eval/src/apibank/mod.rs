//! API-Bank level 1 (Li et al., EMNLP 2023) as the CodeAct release runs it: 399 scored API
//! calls from 214 dialogues, each asked of the model once per action mode (code, JSON, text),
//! parsed and run against simulated APIs on a fresh database, and checked against the
//! recording. The protocol, with its 20 quirks, is the pack's `PROTOCOL.md`.
//!
//! Everything defined by Python semantics (rendering values with `str()`, the `re`-based
//! parsers, coercion, the 49 APIs, the checks) is the `codeact_apibank` package, run inside a
//! sandboxed scoring session; here are the model calls, the records and the summary. Each reply
//! is scored twice: as the original does (quirks included, so results compare with the paper)
//! and with each distorting quirk fixed (each fix named), so the modes compare fairly. With
//! `execute_code`, a code reply is also run as Python against recorders of the APIs, in a
//! fresh session of its own, and the call it really makes is scored.

mod execute;
mod report;
mod run;

pub use run::{
    evaluate, ApiBankOptions, ApiBankRecord, Executed, Scored, CORRECTED_SUMMARY_STEM,
    RECORDS_FILE, SUMMARY_STEM,
};

use codeact_exec::SessionManager;

use crate::pypkg::{self, VectorReport, APIBANK};
use crate::EvalError;

/// The package's import name.
pub(crate) const MODULE: &str = "codeact_apibank";

/// Replays a vectors file (the pack's five kinds) against the package inside a sandboxed
/// session.
pub async fn check_apis(
    sessions: &SessionManager,
    vectors: &str,
) -> Result<VectorReport, EvalError> {
    pypkg::check_vectors(sessions, APIBANK, MODULE, vectors).await
}
