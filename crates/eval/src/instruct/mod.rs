//! CodeActInstruct: trajectory data in the released format of the CodeAct paper, faithful to
//! the original's generation protocol, and the tooling to trust it (the pack
//! `shared/codeactinstruct/FORMAT.md` describes every format and rule used here).
//!
//! - [`generate`] runs tasks ([`tasks`]) through the MINT protocol ([`mint`]) in sandboxed
//!   sessions ([`session`]) and keeps raw runs; successful ones [`convert`] to released rows.
//! - [`verify`] replays a row's code and compares each observation ([`compare`]).
//! - [`filter`], [`stats`] and [`export`] are the original's filters, the dataset card's
//!   statistics and the formats fine-tuning tools read; rows are read from JSONL or Parquet
//!   ([`row`]).
//! - [`commands`] is the command line of `codeact data`: each command's options and the work
//!   between them and the lines the front end prints.

pub mod commands;
pub mod compare;
pub mod convert;
pub mod distributed;
pub mod export;
pub mod filter;
pub mod generate;
mod histogram;
pub mod mint;
mod parquet;
pub mod queue;
pub mod row;
pub mod session;
pub mod stats;
pub mod strings;
pub mod tasks;
pub mod verify;

pub use histogram::histograms;
pub use parquet::{read_rows as read_parquet, write_rows as write_parquet};

/// Compiles one of this module's literal patterns. They are constants that the tests exercise,
/// so a bad one fails the test suite, never a user's run.
#[allow(clippy::expect_used)]
pub(crate) fn literal_regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("a literal pattern compiles")
}
