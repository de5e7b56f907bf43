//! Fetches the default model into the codeact cache (if missing) and prints its path; used by
//! `scripts/fetch-model.sh`. Progress goes to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

struct Stderr;

impl codeact_llm::FetchProgress for Stderr {
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }
}

fn main() -> anyhow::Result<()> {
    let path = codeact_llm::ensure_default_model_with(&Stderr)?;
    println!("{}", path.display());
    Ok(())
}
